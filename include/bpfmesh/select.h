/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SELECT_H
#define BPFMESH_SELECT_H
/*
 * The selection arithmetic, compiled into the BPF programs and into the unit
 * tests, so that what the tests prove is what the kernel runs.
 *
 * Every pick takes its random numbers as arguments: the kernel passes
 * bpf_get_prandom_u32(), the tests pass every value they need.
 *
 * Endpoint choice inside a set uses the alias method (Walker/Vose) with
 * integer columns, which is O(1) per connection and exact: with n slots and
 * endpoint weights w_i summing to W, slot i keeps threshold_i/W of its 1/n
 * share and hands the rest to alias_i; the columns are built so that every
 * endpoint ends with exactly w_i/W.
 */
#include "lb_abi.h"

#include "inline.h"
#ifndef __BPF__
#include <stdlib.h>
#endif

/* Map a 32-bit random number onto [0, range) without division
 * (Lemire's multiply-shift; bias at most range/2^32). range must be > 0. */
BPFMESH_INLINE __u32 bpfmesh_reduce(__u32 rnd, __u32 range)
{
	return (__u32)(((__u64)rnd * range) >> 32);
}

/* Index of the destination that draw r in [0, total_weight) falls into, or -1
 * when the value has no destination with weight. A bounded scan over at most
 * BPFMESH_MAX_DESTS cumulative weights. */
BPFMESH_INLINE int bpfmesh_pick_dest(const struct svc_val *v, __u32 rnd)
{
	__u32 n = v->n_dests, r;
	int i;

	if (v->total_weight == 0 || n == 0)
		return -1;
	r = bpfmesh_reduce(rnd, v->total_weight);
	for (i = 0; i < BPFMESH_MAX_DESTS; i++) {
		if ((__u32)i >= n)
			break;
		if (r < v->dests[i].cum_weight)
			return i;
	}
	return -1;
}

/* First half of the alias draw: which column. n_slots must be > 0. */
BPFMESH_INLINE __u32 bpfmesh_pick_slot(__u32 n_slots, __u32 rnd)
{
	return bpfmesh_reduce(rnd, n_slots);
}

/* Second half: keep the column's own slot or take its alias. */
BPFMESH_INLINE __u32 bpfmesh_alias_resolve(__u32 slot, const struct backend_val *b,
					   __u32 set_weight, __u32 rnd)
{
	if (set_weight == 0 || bpfmesh_reduce(rnd, set_weight) < b->threshold)
		return slot;
	return b->alias;
}

#ifndef __BPF__
/*
 * Build the alias columns for n endpoints with the given weights (each > 0,
 * total below 2^32). Writes slots[i].threshold and slots[i].alias; the other
 * fields are the caller's. Returns the total weight, or 0 on bad input or
 * allocation failure. Deterministic: same weights, same columns.
 */
static inline __u32 bpfmesh_alias_build(struct backend_val *slots, const __u32 *weights,
					__u32 n)
{
	__u64 total = 0, *scaled;
	__u32 *small, *large, ns = 0, nl = 0, i;

	if (n == 0 || n > BPFMESH_MAX_SET_SLOTS)
		return 0;
	for (i = 0; i < n; i++) {
		if (weights[i] == 0)
			return 0;
		total += weights[i];
	}
	if (total > 0xffffffffULL)
		return 0;

	scaled = calloc(n, sizeof(*scaled));
	small = calloc(n, sizeof(*small));
	large = calloc(n, sizeof(*large));
	if (!scaled || !small || !large) {
		total = 0;
		goto out;
	}
	/* Column capacity is total; endpoint i brings weight_i * n into play. */
	for (i = 0; i < n; i++) {
		scaled[i] = (__u64)weights[i] * n;
		slots[i].alias = (__u16)i;
		slots[i].threshold = (__u32)total;
		if (scaled[i] < total)
			small[ns++] = i;
		else if (scaled[i] > total)
			large[nl++] = i;
	}
	/* Pair each short column with a tall one; the tall one lends the gap. */
	while (ns > 0 && nl > 0) {
		__u32 s = small[--ns], l = large[nl - 1];

		slots[s].threshold = (__u32)scaled[s];
		slots[s].alias = (__u16)l;
		scaled[l] -= total - scaled[s];
		if (scaled[l] < total) {
			nl--;
			small[ns++] = l;
		} else if (scaled[l] == total) {
			nl--;
		}
	}
	/* Integer arithmetic leaves no remainder: anything left is exactly full. */
out:
	free(scaled);
	free(small);
	free(large);
	return (__u32)total;
}
#endif /* !__BPF__ */

#endif /* BPFMESH_SELECT_H */
