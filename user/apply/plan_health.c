// SPDX-License-Identifier: Apache-2.0
/* Slot assignment and the slot steps of a plan (slots.h, plan.h): pure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <bpfmesh/outlier.h>
#include <bpfmesh/select.h>
#include "capacity.h"
#include "plan.h"

struct hplan {
	struct apply_slots *s; /* p->next.slots */
	__u64 now;
	const struct plan_ejected *ej;
	struct apply_plan *p;
	struct map_step *counters, *owners, *cl_state, *cl_hists, *cl_cfg;
	__u32 free_ep, free_cl; /* lowest slot that may still be free */
	unsigned char *cl_new;  /* per image set: its cluster slot is new */
	bool known_zero;        /* cur->slots.known_zero */
};

static bool is_ejected(const struct plan_ejected *ej, __u32 slot)
{
	return ej && has_u32(ej->slots, ej->n, slot);
}

/* The lowest free endpoint slot, or 0 when the table is full. */
static __u32 take_ep_slot(struct hplan *h)
{
	for (; h->free_ep < h->s->max_endpoints; h->free_ep++)
		if (slots_ep_reusable(&h->s->eps[h->free_ep], h->now,
				      is_ejected(h->ej, h->free_ep)))
			return h->free_ep++;
	return 0;
}

static __u32 take_cl_slot(struct hplan *h)
{
	for (; h->free_cl < h->s->max_clusters; h->free_cl++)
		if (slots_cl_reusable(&h->s->cls[h->free_cl], h->now))
			return h->free_cl++;
	return 0;
}

/* Every live slot retires now unless the new version claims it again. */
static void retire_all(struct apply_slots *s, __u64 now)
{
	__u32 i;

	for (i = 1; i < s->max_endpoints; i++)
		if (s->eps[i].live) {
			s->eps[i].live = 0;
			s->eps[i].retired_ms = now;
		}
	for (i = 1; i < s->max_clusters; i++)
		if (s->cls[i].live) {
			s->cls[i].live = 0;
			s->cls[i].retired_ms = now;
		}
}

/* Write a cluster's config if it is new or changed; rollback restores it. */
static void step_cluster_cfg(struct hplan *h, __u32 slot, const struct cluster_cfg *old,
			     const struct cluster_cfg *cfg)
{
	struct map_step *st = h->cl_cfg;

	if (!memcmp(old, cfg, sizeof(*cfg)))
		return;
	((__u32 *)st->keys)[st->n] = slot;
	((struct cluster_cfg *)st->prev_vals)[st->n] = *old;
	((struct cluster_cfg *)st->vals)[st->n++] = *cfg;
}

/* A slot given to a new owner: every entry of it is written explicitly
 * (zeroes; keys only, the zeroed values come from the step's calloc),
 * unless the maps are known to hold zeroes everywhere. */
static void step_zero(const struct hplan *h, struct map_step *st, __u32 slot)
{
	if (!h->known_zero)
		((__u32 *)st->keys)[st->n++] = slot;
}

/* Has cluster slot cl latency histograms (a slot of the histograms map)? */
static bool has_hists(const struct apply_slots *s, __u32 cl)
{
	return !s->hist_clusters || cl < s->hist_clusters;
}

/* A cluster slot passes to a new cluster: the retired owners of endpoint
 * slots of its old cluster are dropped, in the state and in the kernel
 * (ep_health zeroed), so none is ever claimed by the new one. */
static void drop_old_endpoints(struct hplan *h, __u32 cl_slot)
{
	struct map_step *st = h->owners;
	__u32 i;

	for (i = 1; i < h->s->max_endpoints; i++) {
		if (h->s->eps[i].cluster_slot != cl_slot || h->s->eps[i].live)
			continue;
		memset(&h->s->eps[i], 0, sizeof(h->s->eps[i]));
		((__u32 *)st->keys)[st->n++] = i; /* value: zeroes (calloc) */
	}
}

static int assign_clusters(struct hplan *h, const struct bpfmesh_image *img, __u32 *cl_slots)
{
	struct slot_index ix;
	size_t i;
	int err = slot_index_clusters(h->s, &ix);

	for (i = 0; !err && i < img->n_sets; i++) {
		struct slot_key k = { .name = img->sets[i].cluster };

		cl_slots[i] = slot_index_find(&ix, &k);
		if (cl_slots[i] && h->s->cls[cl_slots[i]].live)
			cl_slots[i] = 0; /* two sets, one name (cut): the second is new */
		if (cl_slots[i])
			h->s->cls[cl_slots[i]].live = 1;
	}
	slot_index_free(&ix);
	for (i = 0; !err && i < img->n_sets; i++) {
		struct cl_owner old, *o;

		if (cl_slots[i] == 0) {
			cl_slots[i] = take_cl_slot(h);
			if (cl_slots[i] == 0) {
				snprintf(h->p->error, sizeof(h->p->error),
					 "the policy needs %zu cluster slots, the health maps hold "
					 "%u (slot 0 reserved): raise the agent's --max-clusters"
					 APPLY_GROW_HINT,
					 img->n_sets, h->s->max_clusters - 1);
				return -ENOSPC;
			}
			h->cl_new[i] = 1;
			o = &h->s->cls[cl_slots[i]];
			if (o->cfg.name_id)
				drop_old_endpoints(h, cl_slots[i]);
			memset(o, 0, sizeof(*o));
			step_zero(h, h->cl_state, cl_slots[i]);
			if (has_hists(h->s, cl_slots[i]))
				step_zero(h, h->cl_hists, cl_slots[i]);
			h->p->counts.new_cluster_slots++;
		}
		o = &h->s->cls[cl_slots[i]];
		old = *o;
		if (h->cl_new[i])
			memset(&old.cfg, 0, sizeof(old.cfg));
		o->cfg = img->sets[i].cfg;
		snprintf(o->name, sizeof(o->name), "%s", img->sets[i].cluster);
		o->live = 1;
		step_cluster_cfg(h, cl_slots[i], &old.cfg, &o->cfg);
	}
	return err;
}

static size_t image_endpoints(const struct bpfmesh_image *img)
{
	size_t i, n = 0;

	for (i = 0; i < img->n_sets; i++)
		n += img->sets[i].n_slots;
	return n;
}

/* Give endpoint j of set i its slot (claimed in the first pass, else new). */
static int assign_endpoint(struct hplan *h, const struct bpfmesh_image *img, __u32 cl_slot,
			   __u8 family, struct backend_val *be)
{
	struct ep_health owner = { .cluster_slot = cl_slot };
	struct ep_owner *o;
	__u32 slot;

	if (be->slot)
		return 0;
	slot = take_ep_slot(h);
	if (slot == 0) {
		snprintf(h->p->error, sizeof(h->p->error),
			 "the policy needs %zu endpoint slots, the health maps hold %u (slot 0 "
			 "reserved): raise the agent's --max-endpoints" APPLY_GROW_HINT,
			 image_endpoints(img), h->s->max_endpoints - 1);
		return -ENOSPC;
	}
	o = &h->s->eps[slot];
	*o = (struct ep_owner){ .cluster_slot = cl_slot, .port = be->port, .live = 1,
				.family = family };
	memcpy(o->addr, be->addr, sizeof(o->addr));
	ep_health_set_addr(&owner, family, be->addr);
	owner.port = be->port;
	step_zero(h, h->counters, slot);
	((__u32 *)h->owners->keys)[h->owners->n] = slot;
	((struct ep_health *)h->owners->vals)[h->owners->n++] = owner;
	h->p->counts.new_ep_slots++;
	be->slot = slot;
	return 0;
}

/* A set's endpoint family; images built without one are IPv4. */
static __u8 set_family(const struct image_set *set)
{
	return set->family == AF_INET6 ? AF_INET6 : AF_INET;
}

static int assign_endpoints(struct hplan *h, const struct bpfmesh_image *img,
			    const __u32 *cl_slots, struct image_set *sets)
{
	struct slot_index ix;
	size_t i, j;
	int err = slot_index_endpoints(h->s, &ix);

	/* First pass: owners that keep their slot, so new ones cannot take it. */
	for (i = 0; !err && i < img->n_sets; i++) {
		for (j = 0; !h->cl_new[i] && j < sets[i].n_slots; j++) {
			struct backend_val *be = &sets[i].slots[j];
			struct slot_key k = { .cluster_slot = cl_slots[i], .port = be->port,
					      .family = set_family(&sets[i]) };
			__u32 slot;

			memcpy(k.addr, be->addr, sizeof(k.addr));
			slot = slot_index_find(&ix, &k);
			if (slot && !h->s->eps[slot].live) {
				h->s->eps[slot].live = 1;
				be->slot = slot;
			}
		}
	}
	slot_index_free(&ix);
	for (i = 0; !err && i < img->n_sets; i++)
		for (j = 0; !err && j < sets[i].n_slots; j++)
			err = assign_endpoint(h, img, cl_slots[i], set_family(&sets[i]),
					      &sets[i].slots[j]);
	return err;
}

/* Array steps: rollback writes back prev_vals (zeroes unless set). */
struct map_step *array_step(struct apply_plan *p, enum apply_map map, size_t val_size, size_t n)
{
	struct map_step *s = plan_add_step(p, STEP_WRITE, map, sizeof(__u32), val_size, n);

	if (!s)
		return NULL;
	s->prev_vals = calloc(n + 1, val_size);
	s->prev_existed = malloc(n + 1);
	if (!s->prev_vals || !s->prev_existed)
		return NULL;
	memset(s->prev_existed, 1, n + 1);
	return s;
}

static int add_slot_steps(struct hplan *h, size_t n_eps, size_t n_sets)
{
	struct apply_plan *p = h->p;

	h->counters = array_step(p, APPLY_MAP_EP_COUNTERS,
				 sizeof(struct ep_counters_elem), n_eps);
	/* Owners: the new ones, and the old ones dropped (drop_old_endpoints). */
	h->owners = h->counters ? array_step(p, APPLY_MAP_EP_HEALTH, sizeof(struct ep_health),
					     n_eps + h->s->max_endpoints) : NULL;
	h->cl_state = h->owners ? array_step(p, APPLY_MAP_CLUSTER_STATE,
					     sizeof(struct cluster_state), n_sets) : NULL;
	h->cl_hists = h->cl_state ? array_step(p, APPLY_MAP_CLUSTER_HISTS,
					       sizeof(struct cluster_hists), n_sets) : NULL;
	h->cl_cfg = h->cl_hists ? array_step(p, APPLY_MAP_CLUSTER_CFG,
					     sizeof(struct cluster_cfg), n_sets) : NULL;
	return h->cl_cfg ? 0 : -ENOMEM;
}

static void drop_empty_slot_steps(struct hplan *h)
{
	/* Newest first: plan_drop_empty_step only pops the last step. */
	plan_drop_empty_step(h->p, h->cl_cfg);
	plan_drop_empty_step(h->p, h->cl_hists);
	plan_drop_empty_step(h->p, h->cl_state);
	plan_drop_empty_step(h->p, h->owners);
	plan_drop_empty_step(h->p, h->counters);
}

int plan_health(const struct apply_state *cur, struct bpfmesh_image *img, __u64 now_ms,
		const struct plan_ejected *ejected, struct apply_plan *p,
		__u32 **cluster_slots)
{
	struct hplan h = { .s = &p->next.slots, .now = now_ms, .ej = ejected, .p = p,
			   .free_ep = 1, .free_cl = 1, .known_zero = cur->slots.known_zero };
	int err;

	*cluster_slots = calloc(img->n_sets + 1, sizeof(**cluster_slots));
	if (!*cluster_slots)
		return -ENOMEM;
	if (cur->slots.max_endpoints < 2 || cur->slots.max_clusters < 2)
		return 0; /* health off: no slots, nothing ejected */
	h.cl_new = calloc(img->n_sets + 1, 1);
	err = h.cl_new ? slots_copy(h.s, &cur->slots) : -ENOMEM;
	if (!err)
		err = add_slot_steps(&h, image_endpoints(img), img->n_sets);
	if (!err) {
		retire_all(h.s, now_ms);
		err = assign_clusters(&h, img, *cluster_slots);
	}
	if (!err)
		err = assign_endpoints(&h, img, *cluster_slots, img->sets);
	if (!err)
		drop_empty_slot_steps(&h);
	free(h.cl_new);
	return err;
}
