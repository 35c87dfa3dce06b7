/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_ALGO_H
#define BPFMESH_LB_ALGO_H
/*
 * The DestinationRule loadBalancer algorithms inside a backend set, called
 * by lb4_pick() (bpf/lib/lb.h, which includes this file after
 * lb4_pick_backend, the weighted alias draw it builds on). Layouts and the
 * versioning argument: include/bpfmesh/lbpolicy_abi.h; arithmetic:
 * include/bpfmesh/lbpolicy.h.
 *
 * Each algorithm returns a usable endpoint (not ejected, or any in panic:
 * the same rule as the weighted draw), or NULL to fall back to the weighted
 * draw with its redraws and scan, which also refuses when nothing is
 * usable. So a missing policy, table or counter never refuses a connect.
 *
 *   RANDOM         the weighted draw itself (NULL here).
 *   ROUND_ROBIN    a node-wide counter per cluster slot, one atomic add a
 *                  connect, mapped onto the set's weighted sequence (table
 *                  of kind ROUND_ROBIN), or straight onto the slots when
 *                  the set has none (equal weights). An ejected endpoint's
 *                  turn passes to the next turns (up to
 *                  BPFMESH_LB_MAGLEV_PROBES).
 *   LEAST_REQUEST  Envoy's least_request: equal weights, two uniform draws
 *                  and the one with fewer open connections; unequal, draws
 *                  by weight kept with probability 1/(open + 1)
 *                  (lbpolicy.h). Open connections: lib/lb_active.h.
 *   MAGLEV         the set's Maglev table (user/apply/maglev.c), indexed by
 *                  the hash of the connection's key (lbpolicy.h). Envoy's
 *                  Maglev picks among healthy hosts only: the agent rebuilds
 *                  the table without ejected endpoints on each ejection
 *                  event (a new set, lbpolicy_abi.h), and until then an
 *                  ejected entry passes to the next entries, as the
 *                  rebuilt table would mostly do.
 *   PASSTHROUGH    the connection keeps the address it asked for, where the
 *                  caller can do that (connect4); elsewhere the weighted draw.
 */
#include "lib/lb_active.h"
#include <bpfmesh/lbpolicy.h>

/* What the policy decided. */
enum lb4_algo_outcome {
	LB4_ALGO_DRAW = 0,    /* no endpoint chosen: use the weighted draw */
	LB4_ALGO_PICKED,      /* *out holds a usable endpoint */
	LB4_ALGO_PASSTHROUGH, /* leave the connection's address alone */
};

static __always_inline const struct lb_policy *lb4_policy(__u32 cluster_slot)
{
	if (cluster_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_lb4_policy_v1, &cluster_slot);
}

static __always_inline const struct backend_val *lb4_usable(const struct backend_val *be,
							    __u64 now, int panic)
{
	if (be && (panic || lb4_slot_usable(be->slot, now)))
		return be;
	return NULL;
}

/* Length of the set's table of this kind, 0 when it has none. */
static __always_inline __u32 lb4_table_len(__u32 set_id, __u32 kind)
{
	struct lbtab_key k = { .set_id = set_id, .idx = BPFMESH_LB_TABLE_HDR };
	const struct lbtab_val *v = bpf_map_lookup_elem(&bpfmesh_lb4_tables_v1, &k);

	return v && v->kind == kind ? v->slot : 0;
}

/* The usable endpoint at entry idx of the set's table (has_table) or at
 * slot idx of the set itself, else NULL. */
static __always_inline const struct backend_val *lb4_entry(const struct svc_dest *dest, __u32 idx,
							   int has_table, __u64 now, int panic)
{
	struct backend_key key = { .set_id = dest->set_id, .slot = idx };
	struct lbtab_key tk = { .set_id = dest->set_id, .idx = idx };
	const struct lbtab_val *tv;

	if (has_table) {
		tv = bpf_map_lookup_elem(&bpfmesh_lb4_tables_v1, &tk);
		if (!tv)
			return NULL;
		key.slot = tv->slot;
	}
	if (key.slot >= dest->n_slots)
		return NULL;
	return lb4_usable(bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key), now, panic);
}

/* Copy the endpoint be, when there is one, into *out: algorithms answer
 * by value (a global function cannot hand back a pointer). 1 when copied. */
static __always_inline int lb4_copy(const struct backend_val *be, struct backend_val *out)
{
	if (!be)
		return 0;
	*out = *be;
	return 1;
}

/* lb4_walk's flags: how to read the entries (a BPF call passes five
 * arguments, and a struct of them would cost the caller's frame 24 bytes
 * of the 512 the TC program's chain of calls shares). */
#define LB4_WALK_TABLE 1 /* entries of the set's table, else slots of the set */
#define LB4_WALK_PANIC 2 /* the cluster is in panic: ejected endpoints count */

/* From entry first of len (span: first << 32 | len), the first usable
 * endpoint of up to BPFMESH_LB_MAGLEV_PROBES entries, into *out; 1 when
 * found. A global function, shared by ROUND_ROBIN and MAGLEV: each entry
 * has several ways to be unusable, and inlined the verifier followed every
 * combination of them over the probes, for each algorithm. */
__noinline int lb4_walk(const struct svc_dest *dest, __u64 span, __u64 now, __u32 flags,
			struct backend_val *out)
{
	__u32 i, first = span >> 32, len = (__u32)span;
	int has_table = !!(flags & LB4_WALK_TABLE), panic = !!(flags & LB4_WALK_PANIC);

	if (!dest || !out)
		return 0; /* never: its callers pass both */
	for (i = 0; i < BPFMESH_LB_MAGLEV_PROBES && i < len; i++)
		if (lb4_copy(lb4_entry(dest, (first + i) % len, has_table, now, panic), out))
			return 1;
	return 0;
}

/* lb4_walk over len entries from first. */
static __always_inline int lb4_walk_from(const struct svc_dest *dest, __u32 first, __u32 len,
					 int has_table, __u64 now, int panic,
					 struct backend_val *out)
{
	return lb4_walk(dest, (__u64)first << 32 | len, now,
			(has_table ? LB4_WALK_TABLE : 0) | (panic ? LB4_WALK_PANIC : 0), out);
}

static __always_inline int lb4_pick_rr(const struct svc_dest *dest, __u64 now, int panic,
				       struct backend_val *out)
{
	__u32 cluster_slot = dest->cluster_slot, len = lb4_table_len(dest->set_id,
								      BPFMESH_LB_ROUND_ROBIN);
	int has_table = len != 0;
	__u64 *counter = bpf_map_lookup_elem(&bpfmesh_lb4_rr_v1, &cluster_slot);
	__u32 turn;

	if (!counter)
		return 0;
	if (!has_table)
		len = dest->n_slots; /* equal weights: the rotation is the set */
	if (len == 0)
		return 0;
	turn = bpfmesh_lb_rr_turn(__sync_fetch_and_add(counter, 1), len);
	return lb4_walk_from(dest, turn, len, has_table, now, panic, out);
}

/* Equal weights: power of two choices on open connections. */
static __always_inline int lb4_pick_p2c(const struct svc_dest *dest, __u64 now, int panic,
					struct backend_val *out)
{
	const struct backend_val *a, *b;

	a = lb4_entry(dest, bpfmesh_pick_slot(dest->n_slots, bpf_get_prandom_u32()), 0, now, panic);
	b = lb4_entry(dest, bpfmesh_pick_slot(dest->n_slots, bpf_get_prandom_u32()), 0, now, panic);
	if (!a || !b)
		return lb4_copy(a ? a : b, out);
	return lb4_copy(bpfmesh_lb_lr_prefers(a->weight, lb4_open_conns(a->slot), b->weight,
					      lb4_open_conns(b->slot), 1) ? b : a, out);
}

/* Unequal weights: Envoy's weight / (open + 1), by rejection sampling,
 * into *out; 1 when found. A global function: which of its draws is the
 * best so far multiplies the paths of its loop, and it is checked once on
 * its own rather than with the paths that lead to it. */
__noinline int lb4_pick_weighted_lr(const struct svc_dest *dest, __u64 now, int panic,
				    struct backend_val *out)
{
	const struct backend_val *be, *best = NULL;
	__s64 open, best_open = 0;
	int i;

	if (!dest || !out)
		return 0; /* never: lb4_algo_pick passes both */
	for (i = 0; i < BPFMESH_LB_LR_TRIES; i++) {
		be = lb4_usable(lb4_pick_backend(dest), now, panic);
		if (!be)
			continue;
		open = lb4_open_conns(be->slot);
		if (bpfmesh_lb_lr_keeps(bpf_get_prandom_u32(), open))
			return lb4_copy(be, out);
		if (!best || bpfmesh_lb_lr_prefers(best->weight, best_open, be->weight, open, 0)) {
			best = be;
			best_open = open;
		}
	}
	return lb4_copy(best, out);
}

/* The consistent-hash key itself: LB4_HASH_KEY_CALLER becomes the caller's
 * cgroup (lbpolicy.h bpfmesh_lb_hash_key), read only now that a policy
 * hashes. */
static __always_inline __u64 lb4_hash_key(__u64 hash_key)
{
#ifdef LB4_CALLER_CGROUP_ID
	if (hash_key == LB4_HASH_KEY_CALLER)
		return bpfmesh_lb_hash_key(0, LB4_CALLER_CGROUP_ID());
#endif
	return hash_key;
}

static __always_inline int lb4_pick_maglev(const struct svc_dest *dest, __u64 hash_key,
					   __u64 now, int panic, struct backend_val *out)
{
	__u32 len = lb4_table_len(dest->set_id, BPFMESH_LB_MAGLEV);

	if (len == 0)
		return 0;
	return lb4_walk_from(dest, bpfmesh_lb_table_index(bpfmesh_lb_hash(lb4_hash_key(hash_key)), len), len, 1,
			     now, panic, out);
}

/* The cluster's algorithm (see the top of this file); the endpoint it
 * picked is copied into *out. */
static __always_inline int lb4_algo_pick(const struct svc_dest *dest, __u64 hash_key,
					 int may_passthrough, __u64 now, int panic,
					 struct backend_val *out)
{
	const struct lb_policy *pol = lb4_policy(dest->cluster_slot);
	int picked = 0;

	if (!pol)
		return LB4_ALGO_DRAW;
	switch (pol->algo) {
	case BPFMESH_LB_ROUND_ROBIN:
		picked = lb4_pick_rr(dest, now, panic, out);
		break;
	case BPFMESH_LB_LEAST_REQUEST:
		if (pol->flags & BPFMESH_LB_F_EQUAL_WEIGHTS)
			picked = lb4_pick_p2c(dest, now, panic, out);
		else
			picked = lb4_pick_weighted_lr(dest, now, panic, out);
		break;
	case BPFMESH_LB_MAGLEV:
		picked = lb4_pick_maglev(dest, hash_key, now, panic, out);
		break;
	case BPFMESH_LB_PASSTHROUGH:
		return may_passthrough ? LB4_ALGO_PASSTHROUGH : LB4_ALGO_DRAW;
	}
	return picked ? LB4_ALGO_PICKED : LB4_ALGO_DRAW;
}

#endif /* BPFMESH_LB_ALGO_H */
