/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LBPOLICY_H
#define BPFMESH_LBPOLICY_H
/*
 * The arithmetic of the loadBalancer algorithms (lbpolicy_abi.h), compiled
 * into the BPF programs (bpf/lib/lb_algo.h) and the unit tests
 * (tests/unit/test_lbpolicy.c). Random numbers, counters and open counts
 * are arguments: the kernel passes its own, the tests every value they need.
 * The weighted round-robin sequence builder is here too (user space only);
 * the Maglev table builder is user/apply/maglev.c.
 */
#include "lbpolicy_abi.h"
#include "select.h"

#include "inline.h"

/* Hash of a consistent-hash key (the bound source address, or the cgroup
 * id), 64 bits to 32: the splitmix64 finaliser, so nearby keys (127.0.0.1,
 * 127.0.0.2) land far apart in the table. */
BPFMESH_INLINE __u32 bpfmesh_lb_hash(__u64 key)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (__u32)(key >> 32);
}

/* The consistent-hash key of a connection. Istio's useSourceIp: the source
 * address, which a socket has at connect time only if it was bound; an
 * unbound one is keyed by its workload (the cgroup of the caller), which a
 * pod cannot choose. The two key spaces are kept apart by bit 32. */
BPFMESH_INLINE __u64 bpfmesh_lb_hash_key(__u32 bound_addr, __u64 cgroup_id)
{
	if (bound_addr)
		return (1ULL << 32) | bound_addr;
	return cgroup_id & ~(1ULL << 32);
}

/* Entry of a table of len entries (len > 0) that hash falls on. */
BPFMESH_INLINE __u32 bpfmesh_lb_table_index(__u32 hash, __u32 len)
{
	return bpfmesh_reduce(hash, len);
}

/* ROUND_ROBIN: the turn a node-wide counter value stands for, over a
 * rotation of len turns (len > 0). Consecutive counter values visit every
 * turn once per len values, whatever the start. */
BPFMESH_INLINE __u32 bpfmesh_lb_rr_turn(__u64 counter, __u32 len)
{
	return (__u32)(counter % len);
}

/*
 * LEAST_REQUEST: is candidate b better than a? Envoy's least_request:
 *  - all weights equal: power of two choices, the one with fewer active
 *    requests wins (a tie keeps the first);
 *  - unequal weights: each host weighs weight / (active + 1)^bias, bias
 *    being active_request_bias (default 1.0, which Istio does not change),
 *    compared here without division: w_b (a_a + 1) > w_a (a_b + 1).
 * Open counts below 0 (a close racing its open) count as 0.
 */
BPFMESH_INLINE int bpfmesh_lb_lr_prefers(__u32 w_a, __s64 open_a, __u32 w_b, __s64 open_b,
					 int equal_weights)
{
	__u64 a = open_a > 0 ? (__u64)open_a : 0, b = open_b > 0 ? (__u64)open_b : 0;

	if (equal_weights)
		return b < a;
	return (__u64)w_b * (a + 1) > (__u64)w_a * (b + 1);
}

/*
 * LEAST_REQUEST with unequal weights: Envoy schedules hosts by earliest
 * deadline with weight w / (active + 1), so host i is chosen in proportion
 * to w_i / (a_i + 1). The kernel draws a candidate by weight (the alias
 * draw) and keeps it with probability 1 / (a + 1): the kept ones follow
 * exactly that proportion (rejection sampling). After BPFMESH_LB_LR_TRIES
 * draws without a keep, the best drawn by bpfmesh_lb_lr_prefers is taken.
 */
BPFMESH_INLINE int bpfmesh_lb_lr_keeps(__u32 rnd, __s64 open)
{
	__u64 a = open > 0 ? (__u64)open : 0;

	if (a >= 0xffffffffULL)
		return 0;
	return bpfmesh_reduce(rnd, (__u32)a + 1) == 0;
}

#ifndef __BPF__
static inline __u32 bpfmesh_lb_gcd(__u32 a, __u32 b)
{
	while (b) {
		__u32 t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Sequences longer than this (turns x endpoints) are built in blocks, not
 * interleaved: the interleaving costs O(turns x endpoints). */
#define BPFMESH_LB_RR_INTERLEAVE_WORK (16u << 20)

/*
 * The weighted round-robin sequence of n endpoints (weights each > 0): each
 * endpoint i appears w_i / g times in it, g the gcd of the weights, so a
 * weight-2 endpoint takes two turns for each turn of a weight-1 one. Turns
 * are interleaved by smooth weighted round robin (each step every endpoint
 * gains its weight, the richest takes the turn and pays the total), which
 * spreads an endpoint's turns over the rotation as Envoy's weighted round
 * robin does, unless that would cost too much (then in blocks: the same
 * counts). Sums above BPFMESH_LB_RR_MAX_SEQ are scaled down to fit (each
 * weight at least 1); *scaled says so. Writes the set slot of each turn
 * into seq (room for BPFMESH_LB_RR_MAX_SEQ) and returns the length, 0 on bad
 * input or allocation failure. Deterministic.
 */
static inline __u32 bpfmesh_lb_rr_build(const __u32 *weights, __u32 n, __u32 *seq, int *scaled)
{
	__u64 total = 0, sum = 0;
	__s64 *credit;
	__u32 *w, g = 0, i, t;

	*scaled = 0;
	if (n == 0)
		return 0;
	w = calloc(n, sizeof(*w));
	credit = calloc(n, sizeof(*credit));
	if (!w || !credit) {
		free(w);
		free(credit);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (weights[i] == 0)
			goto bad;
		g = bpfmesh_lb_gcd(weights[i], g);
		total += weights[i];
	}
	for (i = 0; i < n; i++) {
		w[i] = weights[i] / g;
		sum += w[i];
	}
	if (sum > BPFMESH_LB_RR_MAX_SEQ) {
		*scaled = 1;
		for (sum = 0, i = 0; i < n; i++) {
			w[i] = (__u32)((__u64)weights[i] * (BPFMESH_LB_RR_MAX_SEQ - n) / total);
			w[i] = w[i] ? w[i] : 1;
			sum += w[i];
		}
	}
	if (sum * n > BPFMESH_LB_RR_INTERLEAVE_WORK) {
		for (t = 0, i = 0; i < n; i++)
			for (__u32 k = 0; k < w[i]; k++)
				seq[t++] = i;
	} else {
		for (t = 0; t < sum; t++) {
			__u32 best = 0;

			for (i = 0; i < n; i++) {
				credit[i] += w[i];
				if (credit[i] > credit[best])
					best = i;
			}
			credit[best] -= (__s64)sum;
			seq[t] = best;
		}
	}
	free(w);
	free(credit);
	return (__u32)sum;
bad:
	free(w);
	free(credit);
	return 0;
}
#endif /* !__BPF__ */

#endif /* BPFMESH_LBPOLICY_H */
