// SPDX-License-Identifier: Apache-2.0
/*
 * The loadBalancer part of a plan (pure, like plan_health.c): each set's
 * lookup table and each cluster slot's policy (include/bpfmesh/
 * lbpolicy_abi.h). Only when the applier has the maps (state.lb_on) and
 * slots are assigned (health on): without a cluster slot there is no
 * policy, and the kernel draws at random.
 *
 *   plan_lb_tables_spec  after plan_health (ejected endpoints are out of
 *                        the sets): completes each set's policy (equal
 *                        weights?) and decides its table, which is part of
 *                        the set's identity (state.c find_set), so a set
 *                        whose table changes is written fresh.
 *   plan_lbpolicy        after plan_sets: one step writing the tables of
 *                        the fresh sets (rollback: delete, the ids are
 *                        fresh), one writing the policies that changed
 *                        (rollback: the old values), both before the switch.
 * Tables are deleted with their set (apply.c applier_sweep).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpfmesh/lbpolicy.h>
#include "maglev.h"
#include "plan.h"

static bool lb_planned(const struct apply_state *cur)
{
	return cur->lb_on && cur->slots.max_endpoints >= 2 && cur->slots.max_clusters >= 2;
}

static bool set_weights_equal(const struct image_set *s)
{
	__u32 j;

	for (j = 1; j < s->n_slots; j++)
		if (s->slots[j].weight != s->slots[0].weight)
			return false;
	return true;
}

static __u32 *set_weights(const struct image_set *s)
{
	__u32 *w = calloc(s->n_slots + 1, sizeof(*w)), j;

	for (j = 0; w && j < s->n_slots; j++)
		w[j] = s->slots[j].weight;
	return w;
}

/* Length of the weighted round-robin sequence of s; 0 on ENOMEM. */
static __u32 rr_length(const struct image_set *s, __u32 *scratch)
{
	__u32 *w = set_weights(s), len;
	int scaled;

	if (!w)
		return 0;
	len = bpfmesh_lb_rr_build(w, s->n_slots, scratch, &scaled);
	free(w);
	return len;
}

int plan_lb_tables_spec(const struct apply_state *cur, struct bpfmesh_image *img)
{
	__u32 *scratch = NULL;
	size_t i;
	int err = 0;

	if (!lb_planned(cur))
		return 0;
	for (i = 0; !err && i < img->n_sets; i++) {
		struct image_set *s = &img->sets[i];
		bool equal = set_weights_equal(s);

		s->lb.flags &= ~BPFMESH_LB_F_EQUAL_WEIGHTS;
		s->lb.flags |= equal ? BPFMESH_LB_F_EQUAL_WEIGHTS : 0;
		s->table_kind = s->table_len = 0;
		if (s->n_slots == 0)
			continue;
		if (s->lb.algo == BPFMESH_LB_ROUND_ROBIN && !equal) {
			if (!scratch)
				scratch = calloc(BPFMESH_LB_RR_MAX_SEQ, sizeof(*scratch));
			s->table_len = scratch ? rr_length(s, scratch) : 0;
			s->table_kind = BPFMESH_LB_ROUND_ROBIN;
			err = s->table_len ? 0 : -ENOMEM;
		} else if (s->lb.algo == BPFMESH_LB_MAGLEV && s->lb.table_size >= s->n_slots &&
			   s->lb.table_size >= 2) {
			/* A table smaller than the set (Istio accepts tableSize 1)
			 * cannot hold every endpoint: no table, the weighted draw. */
			s->table_kind = BPFMESH_LB_MAGLEV;
			s->table_len = s->lb.table_size;
		}
	}
	free(scratch);
	return err;
}

/* Write table entries 0..len-1 of set_id, then its header. */
static void table_put(struct map_step *st, __u32 set_id, const __u32 *entries, __u32 len,
		      __u32 kind)
{
	struct lbtab_key *keys = st->keys;
	struct lbtab_val *vals = st->vals;
	__u32 k;

	for (k = 0; k < len; k++, st->n++) {
		keys[st->n] = (struct lbtab_key){ .set_id = set_id, .idx = k };
		vals[st->n] = (struct lbtab_val){ .slot = entries[k] };
	}
	keys[st->n] = (struct lbtab_key){ .set_id = set_id, .idx = BPFMESH_LB_TABLE_HDR };
	vals[st->n++] = (struct lbtab_val){ .slot = len, .kind = kind };
}

static int maglev_entries(const struct image_set *s, __u32 *entries)
{
	struct maglev_endpoint *eps = calloc(s->n_slots + 1, sizeof(*eps));
	__u32 j;
	int err;

	if (!eps)
		return -ENOMEM;
	for (j = 0; j < s->n_slots; j++)
		eps[j] = (struct maglev_endpoint){ .addr = s->slots[j].addr[0],
						   .port = s->slots[j].port,
						   .weight = s->slots[j].weight };
	err = maglev_build(eps, s->n_slots, s->table_len, entries);
	free(eps);
	return err;
}

static int rr_entries(const struct image_set *s, __u32 *entries)
{
	__u32 *w = set_weights(s), len;
	int scaled;

	if (!w)
		return -ENOMEM;
	len = bpfmesh_lb_rr_build(w, s->n_slots, entries, &scaled);
	free(w);
	return len == s->table_len ? 0 : -EINVAL;
}

/* Entries the live sets' tables hold now. */
static size_t live_table_entries(const struct apply_state *cur)
{
	size_t i, n = 0;

	for (i = 0; i < cur->n_sets; i++)
		if (cur->sets[i].table_kind)
			n += (size_t)cur->sets[i].table_len + 1;
	return n;
}

static int plan_tables(const struct apply_state *cur, const struct bpfmesh_image *img,
		       const __u32 *set_ids, const unsigned char *fresh, struct apply_plan *p)
{
	size_t i, total = 0, live = live_table_entries(cur);
	struct map_step *st;
	int err = 0;

	for (i = 0; i < img->n_sets; i++)
		if (fresh[i] && img->sets[i].table_kind)
			total += (size_t)img->sets[i].table_len + 1;
	/* The old tables stay until the switch is done and their grace ends. */
	if (live + total > BPFMESH_MAX_LB_TABLE_ENTRIES) {
		snprintf(p->error, sizeof(p->error),
			 "the policy's load-balancing tables need %zu entries beside the %zu in "
			 "force, the map holds %u: lower maglev tableSize or rebuild with a larger "
			 "BPFMESH_MAX_LB_TABLE_ENTRIES", total, live, BPFMESH_MAX_LB_TABLE_ENTRIES);
		return -ENOSPC;
	}
	st = plan_add_step(p, STEP_WRITE, APPLY_MAP_LB_TABLES, sizeof(struct lbtab_key),
			   sizeof(struct lbtab_val), total);
	if (!st)
		return -ENOMEM;
	for (i = 0; !err && i < img->n_sets; i++) {
		const struct image_set *s = &img->sets[i];
		__u32 *entries;

		if (!fresh[i] || !s->table_kind)
			continue;
		entries = calloc((size_t)s->table_len + 1, sizeof(*entries));
		if (!entries)
			return -ENOMEM;
		err = s->table_kind == BPFMESH_LB_MAGLEV ? maglev_entries(s, entries)
							 : rr_entries(s, entries);
		if (!err)
			table_put(st, set_ids[i], entries, s->table_len, s->table_kind);
		free(entries);
	}
	if (err)
		snprintf(p->error, sizeof(p->error), "cannot build a load-balancing table: %d", err);
	plan_drop_empty_step(p, st);
	return err;
}

/* Policies of the clusters the image names, where they changed. */
static int plan_policies(const struct apply_state *cur, const struct bpfmesh_image *img,
			 const __u32 *cluster_slots, struct apply_plan *p)
{
	__u32 max = cur->slots.max_clusters;
	struct lb_policy *next = calloc((size_t)max + 1, sizeof(*next));
	struct map_step *st;
	size_t i;

	p->next.lb_policies = next;
	st = next ? plan_add_step(p, STEP_WRITE, APPLY_MAP_LB_POLICY, sizeof(__u32),
				  sizeof(struct lb_policy), img->n_sets) : NULL;
	if (!st)
		return -ENOMEM;
	st->prev_vals = calloc(img->n_sets + 1, sizeof(struct lb_policy));
	st->prev_existed = malloc(img->n_sets + 1);
	if (!st->prev_vals || !st->prev_existed)
		return -ENOMEM;
	memset(st->prev_existed, 1, img->n_sets + 1); /* an array: every key exists */
	if (cur->lb_policies)
		memcpy(next, cur->lb_policies, (size_t)max * sizeof(*next));
	for (i = 0; i < img->n_sets; i++) {
		__u32 cl = cluster_slots[i];
		const struct lb_policy *pol = &img->sets[i].lb;

		if (cl == 0 || cl >= max)
			continue;
		if (cur->lb_policies && !memcmp(&next[cl], pol, sizeof(*pol)))
			continue;
		((struct lb_policy *)st->prev_vals)[st->n] = next[cl];
		((__u32 *)st->keys)[st->n] = cl;
		((struct lb_policy *)st->vals)[st->n++] = *pol;
		next[cl] = *pol;
	}
	plan_drop_empty_step(p, st);
	return 0;
}

int plan_lbpolicy(const struct apply_state *cur, const struct bpfmesh_image *img,
		  const __u32 *set_ids, const unsigned char *fresh, const __u32 *cluster_slots,
		  struct apply_plan *p)
{
	int err;

	p->next.lb_on = cur->lb_on;
	if (!lb_planned(cur))
		return 0;
	err = plan_tables(cur, img, set_ids, fresh, p);
	return err ? err : plan_policies(cur, img, cluster_slots, p);
}
