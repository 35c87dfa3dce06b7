/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_H
#define BPFMESH_LB_H
/* Endpoint choice inside a backend set, skipping ejected endpoints; the
 * arithmetic is in include/bpfmesh/select.h, shared with the unit tests.
 * Used by connect4 (bpf/sock_addr.bpf.c); any hook that places connections
 * calls lb4_select() the same way. */
#include "lib/common.h"
#include "lib/lb_maps.h"
#include "lib/health.h"
#include <bpfmesh/select.h>

/* One alias draw from dest's set: the endpoint, or NULL when the set is absent. */
static __always_inline const struct backend_val *lb4_pick_backend(const struct svc_dest *dest)
{
	struct backend_key key = { .set_id = dest->set_id };
	const struct backend_val *be;
	__u32 chosen;

	key.slot = bpfmesh_pick_slot(dest->n_slots, bpf_get_prandom_u32());
	be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
	if (!be)
		return NULL;
	chosen = bpfmesh_alias_resolve(key.slot, be, dest->set_weight, bpf_get_prandom_u32());
	if (chosen == key.slot)
		return be;
	key.slot = chosen;
	return bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
}

/* The loadBalancer algorithms, built on lb4_pick_backend. */
#include "lib/lb_algo.h"

/* After BPFMESH_PICK_TRIES draws met only ejected endpoints: the first
 * usable one of up to BPFMESH_PICK_SCAN set slots from a random start.
 * Rare (the agent rewrites sets without ejected endpoints), so its slight
 * bias toward the slot after an ejected run does not matter. */
static __always_inline const struct backend_val *lb4_scan_usable(const struct svc_dest *dest,
								 __u64 now)
{
	struct backend_key key = { .set_id = dest->set_id };
	__u32 n = dest->n_slots, start, i;
	const struct backend_val *be;

	if (n == 0)
		return NULL;
	start = bpf_get_prandom_u32() % n;
	for (i = 0; i < BPFMESH_PICK_SCAN && i < n; i++) {
		key.slot = start + i < n ? start + i : start + i - n;
		be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
		if (be && health4_slot_is_usable(be->slot, now))
			return be;
	}
	return NULL;
}

/* Outcome of a selection: the endpoint, or why there is none. The caller
 * sets the inputs before lb4_select(). */
struct lb4_choice {
	const struct svc_dest *dest;   /* NULL when no destination could be drawn */
	const struct backend_val *be;  /* NULL: refuse (or pass through, below) */
	__u32 dest_idx;                /* index of dest in svc->dests */
	__u32 verdict;                 /* BPFMESH_V_REDIRECTED, the refusal's, or
					* BPFMESH_V_PASSTHROUGH: a PASSTHROUGH
					* policy keeps the address asked for */
	__u32 may_passthrough;         /* in: the hook can leave the address */
	__u64 hash_key;                /* in: consistent-hash key (lbpolicy.h) */
};

/* An endpoint of dest chosen by its cluster's loadBalancer (lb_algo.h),
 * else by the weighted draw: one that is not ejected (any, when its cluster is in
 * panic: Envoy ignores ejections below minHealthPercent). Drawing again
 * after an ejected endpoint keeps the weights of the others exactly
 * renormalised (rejection sampling). */
static __always_inline void lb4_pick_usable(const struct svc_dest *dest, struct lb4_choice *c)
{
	const struct backend_val *be = NULL;
	__u64 now = bpf_ktime_get_ns();
	int i, panic;

	panic = health4_cluster_is_in_panic(dest->cluster_slot);
	switch (lb4_algo_pick(dest, c->hash_key, c->may_passthrough, now, panic, &be)) {
	case LB4_ALGO_PICKED:
		c->be = be;
		c->verdict = BPFMESH_V_REDIRECTED;
		return;
	case LB4_ALGO_PASSTHROUGH:
		c->verdict = BPFMESH_V_PASSTHROUGH;
		return;
	}
	for (i = 0; i < BPFMESH_PICK_TRIES; i++) {
		be = lb4_pick_backend(dest);
		if (!be) {
			c->verdict = BPFMESH_V_MISSING_SET;
			return;
		}
		if (panic || health4_slot_is_usable(be->slot, now)) {
			c->be = be;
			c->verdict = BPFMESH_V_REDIRECTED;
			return;
		}
	}
	c->be = lb4_scan_usable(dest, now);
	c->verdict = c->be ? BPFMESH_V_REDIRECTED : BPFMESH_V_ALL_EJECTED;
}

/* The route's destination, then a usable endpoint of it. */
static __always_inline void lb4_select(const struct svc_val *svc, struct lb4_choice *c)
{
	int d = bpfmesh_pick_dest(svc, bpf_get_prandom_u32());

	c->dest = NULL;
	c->be = NULL;
	c->verdict = BPFMESH_V_NO_UPSTREAM;
	if (d < 0 || d >= BPFMESH_MAX_DESTS)
		return;
	c->dest = &svc->dests[d];
	c->dest_idx = d;
	if (c->dest->n_slots == 0)
		return;
	lb4_pick_usable(c->dest, c);
}

#endif /* BPFMESH_LB_H */
