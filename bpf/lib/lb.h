/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_H
#define BPFMESH_LB_H
/* Endpoint choice inside a backend set, skipping ejected endpoints; the
 * arithmetic is in include/bpfmesh/select.h, shared with the unit tests.
 * Every hook that places connections or flows (connect4/6 and sendmsg4/6 in
 * bpf/sock_addr.bpf.c, new flows in bpf/tc.bpf.c) calls lb4_pick().
 *
 * Built for the verifier: lb4_pick() and lb4_slot_usable() are global
 * functions, which it checks once each, on their own with their arguments
 * as unknowns, instead of once for every path that reaches each call (the
 * verified instructions of a program multiply with the branches inlined
 * into it). A global function returns only a scalar and takes only
 * scalars, the context and pointers to memory of a known size (Linux 6.1),
 * so lb4_pick() answers with a copy of the endpoint (struct lb4_pick). */
#include "lib/common.h"
#include "lib/lb_maps.h"
#include "lib/health.h"
#include <bpfmesh/select.h>

/* `now` for lb4_slot_usable when the caller has not read the clock: it
 * reads it itself, and only for an endpoint with an ejection on record (a
 * clock read is as dear as a map lookup, and the pick rarely needs it). */
#define LB4_NOW_LAZY 0

/* A consistent-hash key left to the one algorithm that hashes (MAGLEV):
 * the caller's cgroup, which costs a helper call that no other algorithm
 * needs (lb4_hash_key, lb_algo.h; a program defines LB4_CALLER_CGROUP_ID
 * where its hook runs in the caller's context). Bits 32-63 all set: no
 * key bpfmesh_lb_hash_key gives (lbpolicy.h) is this value. */
#define LB4_HASH_KEY_CALLER (~0ULL)

/* May a new connection use this endpoint now (health4_slot_is_usable)? It
 * is asked at every draw of every algorithm and slot of the scan, and each
 * inlined copy carried the ejection's return (a cmpxchg, counters, an
 * event): global, it is checked once. */
__noinline int lb4_slot_usable(__u32 ep_slot, __u64 now)
{
	const struct ep_health *h = health4_ep(ep_slot);

	/* Nearly every endpoint has no ejection on record: it is usable
	 * without the clock, which is read here (now == LB4_NOW_LAZY) only
	 * for one that has. */
	if (!h || READ_ONCE(h->ejected_until_ns) == 0)
		return 1;
	return health4_slot_is_usable(ep_slot, now != LB4_NOW_LAZY ? now : bpf_ktime_get_ns());
}

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
	/* A full column (threshold reaches set_weight, as every column of an
	 * equal-weight set) keeps its slot whatever the second draw: the
	 * same answer as bpfmesh_alias_resolve, without the random number. */
	if (be->threshold >= dest->set_weight)
		return be;
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
		if (be && lb4_slot_usable(be->slot, now))
			return be;
	}
	return NULL;
}

/* The weighted draw of an endpoint of dest that is not ejected (any, when
 * its cluster is in panic: Envoy ignores ejections below
 * minHealthPercent), copied into *out. Drawing again after an ejected
 * endpoint keeps the weights of the others exactly renormalised (rejection
 * sampling). Returns BPFMESH_V_REDIRECTED, BPFMESH_V_MISSING_SET (the set
 * is absent) or BPFMESH_V_ALL_EJECTED. A global function: every
 * loadBalancer algorithm that finds nothing falls back to it, and inlined
 * its draws and scan were verified again after each of them. */
__noinline int lb4_pick_usable(const struct svc_dest *dest, __u64 now, int panic,
			       struct backend_val *out)
{
	const struct backend_val *be;
	int i;

	if (!dest || !out)
		return BPFMESH_V_NO_UPSTREAM; /* never: lb4_pick passes both */
	for (i = 0; i < BPFMESH_PICK_TRIES; i++) {
		be = lb4_pick_backend(dest);
		if (!be)
			return BPFMESH_V_MISSING_SET;
		if (panic || lb4_slot_usable(be->slot, now)) {
			*out = *be;
			return BPFMESH_V_REDIRECTED;
		}
	}
	be = lb4_scan_usable(dest, now);
	if (!be)
		return BPFMESH_V_ALL_EJECTED;
	*out = *be;
	return BPFMESH_V_REDIRECTED;
}

/* What lb4_pick chose, by value: the endpoint is copied out of its map
 * entry, and the destination is named by its index in the route. */
struct lb4_pick {
	struct backend_val be; /* the endpoint, when verdict is BPFMESH_V_REDIRECTED */
	__u32 verdict;         /* BPFMESH_V_REDIRECTED, BPFMESH_V_PASSTHROUGH, or
				* why there is no endpoint */
	__u32 dest_idx;        /* the destination drawn (svc->dests), when has_dest */
	__u32 has_dest;
	__u32 pad;
};

/* The endpoint of a new connection or flow to service svc of either
 * family: the route's destination, then its cluster's loadBalancer
 * (lb_algo.h), else the weighted draw (lb4_pick_usable). hash_key is the
 * consistent-hash key (lbpolicy.h), or LB4_HASH_KEY_CALLER; may_passthrough: the caller can leave
 * the address asked for (a PASSTHROUGH policy then answers
 * BPFMESH_V_PASSTHROUGH), else such a policy takes the weighted draw. A
 * destination with no endpoint answers BPFMESH_V_NO_UPSTREAM. Returns 0,
 * or -1 when an argument is NULL (never, from its callers). */
__noinline int lb4_pick(const struct svc_val *svc, __u64 hash_key, __u32 may_passthrough,
			struct lb4_pick *out)
{
	const struct svc_dest *dest;
	int d, panic;
	__u64 now;

	if (!svc || !out)
		return -1;
	out->verdict = BPFMESH_V_NO_UPSTREAM;
	out->has_dest = 0;
	out->dest_idx = 0;
	/* One destination takes every draw: no random number for it. */
	d = bpfmesh_pick_dest(svc, svc->n_dests > 1 ? bpf_get_prandom_u32() : 0);
	if (d < 0 || d >= BPFMESH_MAX_DESTS)
		return 0;
	dest = &svc->dests[d];
	out->has_dest = 1;
	out->dest_idx = d;
	if (dest->n_slots == 0)
		return 0;
	now = LB4_NOW_LAZY;
	panic = health4_cluster_is_in_panic(dest->cluster_slot);
	switch (lb4_algo_pick(dest, hash_key, may_passthrough, now, panic, &out->be)) {
	case LB4_ALGO_PICKED:
		out->verdict = BPFMESH_V_REDIRECTED;
		return 0;
	case LB4_ALGO_PASSTHROUGH:
		out->verdict = BPFMESH_V_PASSTHROUGH;
		return 0;
	}
	out->verdict = lb4_pick_usable(dest, now, panic, &out->be);
	return 0;
}

/* The destination lb4_pick drew, NULL when none. */
static __always_inline const struct svc_dest *lb4_pick_dest(const struct svc_val *svc,
							    const struct lb4_pick *pick)
{
	__u32 i = pick->dest_idx;

	if (!pick->has_dest || i >= BPFMESH_MAX_DESTS)
		return NULL;
	return &svc->dests[i];
}

#endif /* BPFMESH_LB_H */
