// SPDX-License-Identifier: Apache-2.0
/*
 * The sets part of an incremental plan (plan_incr.c): a cluster that
 * stays but whose endpoints or policy changed (an endpoint added or
 * removed, a weight, an outlierDetection or loadBalancer field). Each such
 * set goes through what the full plan does to every set (plan.c
 * apply_plan_build), in the same order and with the same rules, on that
 * set alone:
 *   slots     its endpoints keep the slots their (cluster, address, port)
 *             owned (the lowest, live or retired); new ones take the lowest
 *             free slot; those it drops retire now (plan_health.c);
 *   locality  ejected endpoints left out, weights for this node;
 *   table     its loadBalancer table decided (plan_lb_tables_spec);
 *   config    cluster config and pool written where they changed;
 *   set       reused if the kernel holds that content, else written fresh;
 *   lb        its table and policy (plan_lbpolicy).
 * The old set of the cluster retires. Only the slots of the changed
 * clusters are looked at, by one pass over the endpoint owners each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <bpfmesh/select.h>
#include "capacity.h"
#include "plan.h"

struct incr_sets {
	const struct apply_state *cur;
	const struct plan_ejected *ej;
	__u64 now;
	struct apply_plan *p;
	struct bpfmesh_image w;  /* the changed sets, the plan's copies */
	size_t *idx;             /* image set of each */
	__u32 *cl, *ids;         /* cluster slot, kernel set id of each */
	__u64 *hashes;
	unsigned char *fresh;
	struct map_step *counters, *owners, *cl_state, *cl_hists, *cl_cfg;
	__u32 free_ep;
};

static bool ejected_now(const struct plan_ejected *ej, __u32 slot)
{
	return ej && has_u32(ej->slots, ej->n, slot);
}

/* A slot this plan gives or takes back already. */
static bool ep_changed(const struct plan_incr_commit *ic, __u32 slot)
{
	size_t k;

	for (k = 0; k < ic->n_eps; k++)
		if (ic->ep_slot[k] == slot)
			return true;
	return false;
}

static void ep_change(struct plan_incr_commit *ic, __u32 slot, const struct ep_owner *o)
{
	ic->ep_slot[ic->n_eps] = slot;
	ic->ep_val[ic->n_eps++] = *o;
}

static bool same_endpoint(const struct ep_owner *o, const struct backend_val *be, __u8 family)
{
	return o->port == be->port && o->family == family &&
	       !memcmp(o->addr, be->addr, sizeof(o->addr));
}

static __u8 family_of(const struct image_set *set)
{
	return set->family == AF_INET6 ? AF_INET6 : AF_INET;
}

/* The lowest free endpoint slot (plan_health.c take_ep_slot), 0: full. */
static __u32 take_slot(struct incr_sets *x)
{
	const struct apply_slots *s = &x->cur->slots;

	for (; x->free_ep < s->max_endpoints; x->free_ep++)
		if (slots_ep_reusable(&s->eps[x->free_ep], x->now, ejected_now(x->ej, x->free_ep)) &&
		    !ep_changed(&x->p->ic, x->free_ep))
			return x->free_ep++;
	return 0;
}

/* A new owner: counters zeroed, owner written (plan_health.c). */
static void give_slot(struct incr_sets *x, __u32 slot, __u32 cl, __u8 family,
		      const struct backend_val *be)
{
	struct ep_owner o = { .cluster_slot = cl, .port = be->port, .live = 1, .family = family };
	struct ep_health owner = { .cluster_slot = cl, .port = be->port };

	memcpy(o.addr, be->addr, sizeof(o.addr));
	ep_change(&x->p->ic, slot, &o);
	ep_health_set_addr(&owner, family, be->addr);
	((__u32 *)x->counters->keys)[x->counters->n++] = slot;
	((__u32 *)x->owners->keys)[x->owners->n] = slot;
	((struct ep_health *)x->owners->vals)[x->owners->n++] = owner;
	x->p->counts.new_ep_slots++;
}

/* Claim, in cluster cl's owners (one pass over the table), the slot of
 * each endpoint of set; the live ones not claimed retire now. */
static int claim_slots(struct incr_sets *x, struct image_set *set, __u32 cl)
{
	const struct apply_slots *s = &x->cur->slots;
	__u8 family = family_of(set);
	__u32 *mine = calloc(set->n_slots + 1, sizeof(*mine)), i, j, n = 0, cap = 16;
	__u32 *own = malloc(cap * sizeof(*own));

	if (!mine || !own) {
		free(mine);
		free(own);
		return -ENOMEM;
	}
	for (i = 1; i < s->max_endpoints; i++) {
		if (s->eps[i].cluster_slot != cl)
			continue;
		if (n == cap) {
			__u32 *o = realloc(own, (cap *= 2) * sizeof(*own));

			if (!o) {
				free(mine);
				free(own);
				return -ENOMEM;
			}
			own = o;
		}
		own[n++] = i;
	}
	/* The lowest owner of the endpoint's key, unless claimed already. */
	for (j = 0; j < set->n_slots; j++) {
		for (i = 0; i < n && !same_endpoint(&s->eps[own[i]], &set->slots[j], family); i++)
			;
		if (i == n)
			continue;
		for (mine[j] = own[i], i = 0; i < j && mine[j]; i++)
			if (mine[i] == mine[j])
				mine[j] = 0;
	}
	for (i = 0; i < n; i++) {
		struct ep_owner o = s->eps[own[i]];
		bool claimed = false;

		for (j = 0; j < set->n_slots && !claimed; j++)
			claimed = mine[j] == own[i];
		if (claimed == !!o.live)
			continue;
		if (!claimed)
			o.retired_ms = x->now;
		o.live = claimed;
		ep_change(&x->p->ic, own[i], &o);
	}
	for (j = 0; j < set->n_slots; j++)
		set->slots[j].slot = mine[j];
	free(mine);
	free(own);
	return 0;
}

static int assign_new_slots(struct incr_sets *x, struct image_set *set, __u32 cl)
{
	__u32 j, slot;

	for (j = 0; j < set->n_slots; j++) {
		if (set->slots[j].slot)
			continue;
		slot = take_slot(x);
		if (!slot) {
			snprintf(x->p->error, sizeof(x->p->error),
				 "the policy needs more endpoint slots than the health maps hold "
				 "(%u, slot 0 reserved): raise the agent's --max-endpoints"
				 APPLY_GROW_HINT,
				 x->cur->slots.max_endpoints - 1);
			return -ENOSPC;
		}
		give_slot(x, slot, cl, family_of(set), &set->slots[j]);
		set->slots[j].slot = slot;
	}
	return 0;
}

/* The cluster's config where it changed (plan_health.c step_cluster_cfg),
 * into o, the cluster's owner as the commit will leave it (its pool too:
 * plan_step_pool). */
static void cluster_cfg(struct map_step *st, __u32 cl, struct cl_owner *o,
			const struct cluster_cfg *cfg)
{
	if (!memcmp(&o->cfg, cfg, sizeof(*cfg)))
		return;
	((__u32 *)st->keys)[st->n] = cl;
	((struct cluster_cfg *)st->prev_vals)[st->n] = o->cfg;
	((struct cluster_cfg *)st->vals)[st->n++] = *cfg;
	o->cfg = *cfg;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int alloc_work(struct incr_sets *x, size_t n, size_t n_eps)
{
	struct plan_incr_commit *ic = &x->p->ic;
	size_t max_eps = x->cur->slots.max_endpoints;

	x->w.sets = calloc(n + 1, sizeof(*x->w.sets));
	x->idx = calloc(n + 1, sizeof(*x->idx));
	x->cl = calloc(n + 1, sizeof(*x->cl));
	x->ids = calloc(n + 1, sizeof(*x->ids));
	x->hashes = calloc(n + 1, sizeof(*x->hashes));
	x->fresh = calloc(n + 1, 1);
	/* Owners that change: at most the set's endpoints and the cluster's.
	 * Filled in order up to n_eps (ep_change), so not cleared: bounded by
	 * every slot (~6 MiB at 221,024), clearing faulted in ~1,600 pages when
	 * the heap had none free (the second change after a start: plan 3.9 ms
	 * instead of 0.8); what one change writes is a few entries. */
	ic->ep_slot = malloc((n_eps + max_eps + 1) * sizeof(*ic->ep_slot));
	ic->ep_val = malloc((n_eps + max_eps + 1) * sizeof(*ic->ep_val));
	ic->cl_slot = calloc(n + 1, sizeof(*ic->cl_slot));
	ic->cl_val = calloc(n + 1, sizeof(*ic->cl_val));
	ic->added = calloc(n + 1, sizeof(*ic->added));
	ic->removed = calloc(n + 1, sizeof(*ic->removed));
	if (!x->w.sets || !x->idx || !x->cl || !x->ids || !x->hashes || !x->fresh ||
	    !ic->ep_slot || !ic->ep_val || !ic->cl_slot || !ic->cl_val || !ic->added ||
	    !ic->removed)
		return -ENOMEM;
	/* The slot steps plan_health adds, in its order. */
	x->counters = array_step(x->p, APPLY_MAP_EP_COUNTERS,
				 sizeof(struct ep_counters_elem), n_eps);
	x->owners = x->counters ? array_step(x->p, APPLY_MAP_EP_HEALTH,
					     sizeof(struct ep_health), n_eps) : NULL;
	x->cl_state = x->owners ? array_step(x->p, APPLY_MAP_CLUSTER_STATE,
					     sizeof(struct cluster_state), 0) : NULL;
	x->cl_hists = x->cl_state ? array_step(x->p, APPLY_MAP_CLUSTER_HISTS,
					       sizeof(struct cluster_hists), 0) : NULL;
	x->cl_cfg = x->cl_hists ? array_step(x->p, APPLY_MAP_CLUSTER_CFG,
					     sizeof(struct cluster_cfg), n) : NULL;
	return x->cl_cfg ? 0 : -ENOMEM;
}

/* The changed sets, copied as copy_sets copies (kernel name ids). */
static int collect(struct incr_sets *x, const struct bpfmesh_image *img, size_t *n_eps)
{
	const struct image_delta *d = img->delta;
	size_t i, n = 0, bytes;

	*n_eps = 0;
	for (i = 0; i < img->n_sets; i++)
		if (d->base_set[i] < 0) {
			n++;
			*n_eps += img->sets[i].n_slots;
		}
	if (alloc_work(x, n, *n_eps))
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		struct image_set *set = &x->w.sets[x->w.n_sets];
		const struct set_place *old = &x->p->ic.placement[i];

		if (d->base_set[i] >= 0)
			continue;
		*set = img->sets[i];
		set->cfg.name_id = old->name_id;
		bytes = (size_t)set->n_slots * sizeof(*set->slots);
		set->slots = malloc(bytes + 1);
		if (!set->slots)
			return -ENOMEM;
		if (bytes)
			memcpy(set->slots, img->sets[i].slots, bytes);
		x->idx[x->w.n_sets] = i;
		x->cl[x->w.n_sets++] = old->cluster_slot;
		if (!old->cluster_slot)
			return 1;
	}
	return 0;
}

/* Where the changed set k lives now: a live set of the same content (the
 * plan would then have two services' sets in one: not planned alone), or
 * a fresh id whose slots the backends step writes. */
static int place(struct incr_sets *x, size_t k, __u32 *next_set_id)
{
	const struct image_set *set = &x->w.sets[k];

	if (!set->n_slots)
		return 0;
	x->hashes[k] = set_hash(set->slots, set->n_slots, set->total_weight);
	if (find_set(x->cur->sets, x->cur->n_sets, set, x->hashes[k])) {
		x->p->full_why = "a changed set matches another";
		return 1;
	}
	x->ids[k] = (*next_set_id)++;
	if (*next_set_id == 0)
		*next_set_id = 1;
	x->fresh[k] = 1;
	return 0;
}

/* The old live set of each changed cluster retires (plan.c plan_retire),
 * in the state's order; the new ones join the live sets. */
static int retire_and_add(struct incr_sets *x)
{
	const struct apply_state *cur = x->cur;
	struct plan_incr_commit *ic = &x->p->ic;
	size_t k, i;

	for (k = 0; k < x->w.n_sets; k++) {
		const struct set_place *old = &ic->placement[x->idx[k]];
		const struct image_set *set = &x->w.sets[k];
		struct live_set *ls;

		for (i = 0; old->set_id && i < cur->n_sets && cur->sets[i].id != old->set_id; i++)
			;
		if (old->set_id && i < cur->n_sets)
			ic->removed[ic->n_removed++] = i;
		if (!x->fresh[k])
			continue;
		ls = &ic->added[ic->n_added];
		*ls = (struct live_set){ .hash = x->hashes[k], .id = x->ids[k],
					 .n_slots = set->n_slots, .total_weight = set->total_weight,
					 .table_kind = set->table_kind, .table_len = set->table_len };
		ls->slots = malloc((size_t)set->n_slots * sizeof(*ls->slots));
		if (!ls->slots)
			return -ENOMEM;
		memcpy(ls->slots, set->slots, (size_t)set->n_slots * sizeof(*ls->slots));
		ic->n_added++;
	}
	qsort(ic->removed, ic->n_removed, sizeof(*ic->removed), cmp_size);
	qsort(ic->added, ic->n_added, sizeof(*ic->added), cmp_set_hash);
	ic->retired = calloc(cur->n_retired + ic->n_removed + 1, sizeof(*ic->retired));
	ic->sets_buf = calloc(cur->n_sets + ic->n_added + 1, sizeof(*ic->sets_buf));
	if (!ic->retired || !ic->sets_buf)
		return -ENOMEM;
	if (cur->n_retired)
		memcpy(ic->retired, cur->retired, cur->n_retired * sizeof(*ic->retired));
	ic->n_retired = cur->n_retired;
	for (k = 0; k < ic->n_removed; k++) {
		const struct live_set *old = &cur->sets[ic->removed[k]];

		ic->retired[ic->n_retired++] = (struct retired_set){
			.id = old->id, .n_slots = old->n_slots, .since_ms = x->now };
	}
	return 0;
}

static int write_sets(struct incr_sets *x)
{
	struct plan_incr_commit *ic = &x->p->ic;
	size_t k, total = 0;
	struct map_step *s;
	__u32 j;

	for (k = 0; k < x->w.n_sets; k++) {
		const struct image_set *set = &x->w.sets[k];
		struct set_place *pl = &ic->placement[x->idx[k]];

		x->p->counts.set_writes += x->fresh[k];
		total += x->fresh[k] ? set->n_slots : 0;
		x->p->next.n_endpoints += set->n_slots;
		x->p->next.n_endpoints -= pl->n_slots;
		pl->set_id = x->ids[k];
		pl->n_slots = set->n_slots;
		pl->set_weight = set->total_weight;
	}
	s = plan_add_step(x->p, STEP_WRITE, APPLY_MAP_BACKENDS, sizeof(struct backend_key),
			  sizeof(struct backend_val), total);
	if (!s)
		return -ENOMEM;
	for (k = 0; k < x->w.n_sets; k++)
		for (j = 0; x->fresh[k] && j < x->w.sets[k].n_slots; j++, s->n++) {
			((struct backend_key *)s->keys)[s->n] =
				(struct backend_key){ .set_id = x->ids[k], .slot = j };
			((struct backend_val *)s->vals)[s->n] = x->w.sets[k].slots[j];
		}
	plan_drop_empty_step(x->p, s);
	return 0;
}

static void work_free(struct incr_sets *x)
{
	size_t k;

	for (k = 0; x->w.sets && k < x->w.n_sets; k++)
		free(x->w.sets[k].slots);
	free(x->w.sets);
	free(x->idx);
	free(x->cl);
	free(x->ids);
	free(x->hashes);
	free(x->fresh);
}

static int plan_slots_and_config(struct incr_sets *x)
{
	struct map_step *pool = NULL;
	size_t k;
	int err = 0;

	for (k = 0; !err && k < x->w.n_sets; k++)
		err = claim_slots(x, &x->w.sets[k], x->cl[k]);
	for (k = 0; !err && k < x->w.n_sets; k++)
		err = assign_new_slots(x, &x->w.sets[k], x->cl[k]);
	for (k = 0; !err && k < x->w.n_sets; k++) {
		x->p->ic.cl_slot[k] = x->cl[k];
		x->p->ic.cl_val[k] = x->cur->slots.cls[x->cl[k]];
		cluster_cfg(x->cl_cfg, x->cl[k], &x->p->ic.cl_val[k], &x->w.sets[k].cfg);
	}
	if (err)
		return err;
	x->p->ic.n_cls = x->w.n_sets;
	/* Newest first: plan_drop_empty_step pops from the end. */
	plan_drop_empty_step(x->p, x->cl_cfg);
	plan_drop_empty_step(x->p, x->cl_hists);
	plan_drop_empty_step(x->p, x->cl_state);
	plan_drop_empty_step(x->p, x->owners);
	plan_drop_empty_step(x->p, x->counters);
	for (k = 0; !err && k < x->w.n_sets; k++)
		err = plan_locality_set(&x->w.sets[k], x->ej, &x->p->counts.ejected_out);
	if (!err)
		err = plan_lb_tables_spec(x->cur, &x->w);
	if (!err && x->w.n_sets) {
		pool = array_step(x->p, APPLY_MAP_CONNPOOL_CFG, sizeof(struct connpool_cfg),
				  x->w.n_sets);
		if (!pool)
			return -ENOMEM;
		for (k = 0; k < x->w.n_sets; k++)
			plan_step_pool(pool, x->cl[k], &x->p->ic.cl_val[k], &x->w.sets[k].pool);
		plan_drop_empty_step(x->p, pool);
	}
	return err;
}

int plan_incr_sets(const struct apply_state *cur, const struct bpfmesh_image *img,
		   const struct plan_ejected *ej, __u64 now_ms, struct apply_plan *p)
{
	struct incr_sets x = { .cur = cur, .ej = ej, .now = now_ms, .p = p, .free_ep = 1 };
	size_t n_eps, k;
	int err;

	p->next.next_set_id = cur->next_set_id;
	p->next.n_endpoints = cur->n_endpoints;
	if (img->delta->sets_same)
		return 0;
	if (cur->slots.max_endpoints < 2 || cur->slots.max_clusters < 2) {
		p->full_why = "sets changed with health off";
		return 1;
	}
	if (cur->lb_on && !cur->lb_policies) {
		p->full_why = "loadBalancer policies not known";
		return 1;
	}
	err = collect(&x, img, &n_eps);
	if (err > 0)
		p->full_why = "a changed set has no cluster slot";
	if (!err)
		err = plan_slots_and_config(&x);
	for (k = 0; !err && k < x.w.n_sets; k++)
		err = place(&x, k, &p->next.next_set_id);
	if (!err)
		err = retire_and_add(&x);
	if (!err)
		err = write_sets(&x);
	if (!err)
		err = plan_lbpolicy(cur, &x.w, x.ids, x.fresh, x.cl, p);
	work_free(&x);
	return err;
}
