/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_HIST_H
#define BPFMESH_HIST_H
/*
 * Log-linear histogram buckets, compiled into the sockops program and into
 * the unit tests (tests/unit/test_hist.c), so that what the tests prove is
 * what the kernel counts.
 *
 * Layout: values 0..3 get a bucket each; above that every power of two
 * [2^k, 2^(k+1)) is split into 4 equal sub-buckets, up to 2^24; everything
 * from 2^24 up lands in one overflow bucket. 93 buckets in all.
 *
 *   bucket   0..3 : value 0..3 exactly
 *   bucket 4(k-1)+s, k = 2..23, s = 0..3 : [(4+s) << (k-2), (5+s) << (k-2))
 *   bucket 92     : [2^24, inf)
 *
 * A bucket's width is at most 1/4 of its lower bound, so the midpoint of the
 * bucket is within 12.5% of any value in it: p50/p99 derived from these
 * counts (bpfmesh_hist_quantile) are within 12.5% of the true quantile below
 * the overflow bucket. Units are chosen per histogram so the useful range
 * fits below 2^24: connect latency and RTT in microseconds (up to 16.7 s,
 * which covers SYN retransmits at 1, 3, 7 and 15 s), duration in
 * milliseconds (up to 4.6 hours).
 *
 * Phase 2: user/metrics renders bucket i as Prometheus `le` =
 * bpfmesh_hist_le(i) (scaled to seconds), cumulative; `bpfmesh stats` uses
 * bpfmesh_hist_quantile for p50/p99.
 */
#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#include "inline.h"

#define BPFMESH_HIST_SUB_BITS 2                          /* 4 sub-buckets a power of two */
#define BPFMESH_HIST_SUB (1u << BPFMESH_HIST_SUB_BITS)
#define BPFMESH_HIST_RANGE_BITS 24                       /* regular buckets end at 2^24 */
#define BPFMESH_HIST_OVERFLOW (BPFMESH_HIST_SUB * (BPFMESH_HIST_RANGE_BITS - 1))
#define BPFMESH_HIST_BUCKETS (BPFMESH_HIST_OVERFLOW + 1) /* 93 */

/* Index of the highest set bit of v (v > 0), without a loop: the BPF
 * instruction set has no count-leading-zeros. */
BPFMESH_INLINE __u32 bpfmesh_hist_msb(__u64 v)
{
	__u32 k = 0;

	if (v >> 32) { v >>= 32; k += 32; }
	if (v >> 16) { v >>= 16; k += 16; }
	if (v >> 8) { v >>= 8; k += 8; }
	if (v >> 4) { v >>= 4; k += 4; }
	if (v >> 2) { v >>= 2; k += 2; }
	if (v >> 1) k += 1;
	return k;
}

/* Bucket of value v: 0..BPFMESH_HIST_BUCKETS-1. */
BPFMESH_INLINE __u32 bpfmesh_hist_bucket(__u64 v)
{
	__u32 k, sub;

	if (v < BPFMESH_HIST_SUB)
		return (__u32)v;
	k = bpfmesh_hist_msb(v);
	if (k >= BPFMESH_HIST_RANGE_BITS)
		return BPFMESH_HIST_OVERFLOW;
	sub = (__u32)(v >> (k - BPFMESH_HIST_SUB_BITS)) & (BPFMESH_HIST_SUB - 1);
	return BPFMESH_HIST_SUB * (k - 1) + sub;
}

/* Smallest value of bucket i (i < BPFMESH_HIST_BUCKETS). */
BPFMESH_INLINE __u64 bpfmesh_hist_lower(__u32 i)
{
	__u32 k, sub;

	if (i < BPFMESH_HIST_SUB)
		return i;
	if (i >= BPFMESH_HIST_OVERFLOW)
		return 1ULL << BPFMESH_HIST_RANGE_BITS;
	k = i / BPFMESH_HIST_SUB + 1;
	sub = i % BPFMESH_HIST_SUB;
	return (__u64)(BPFMESH_HIST_SUB + sub) << (k - BPFMESH_HIST_SUB_BITS);
}

/* Largest value of bucket i: the Prometheus `le` bound of the cumulative
 * count up to and including bucket i. ~0 (+Inf) for the overflow bucket. */
BPFMESH_INLINE __u64 bpfmesh_hist_le(__u32 i)
{
	if (i >= BPFMESH_HIST_OVERFLOW)
		return ~0ULL;
	return bpfmesh_hist_lower(i + 1) - 1;
}

#ifndef __BPF__
/*
 * Estimate of quantile q (0 < q <= 1) of the values counted in buckets[]:
 * the midpoint of the bucket holding the ceil(q * total)-th smallest value
 * (the lower bound for the overflow bucket). 0 when nothing was counted.
 * Within 12.5% of the exact quantile below the overflow bucket.
 */
static inline double bpfmesh_hist_quantile(const __u64 *buckets, double q)
{
	__u64 total = 0, rank, seen = 0;
	__u32 i;

	for (i = 0; i < BPFMESH_HIST_BUCKETS; i++)
		total += buckets[i];
	if (total == 0 || q <= 0)
		return 0;
	rank = (__u64)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > total)
		rank = total;
	for (i = 0; i < BPFMESH_HIST_BUCKETS; i++) {
		seen += buckets[i];
		if (seen >= rank)
			break;
	}
	if (i >= BPFMESH_HIST_OVERFLOW)
		return (double)bpfmesh_hist_lower(BPFMESH_HIST_OVERFLOW);
	return ((double)bpfmesh_hist_lower(i) + (double)bpfmesh_hist_le(i)) / 2.0;
}
#endif /* !__BPF__ */

#endif /* BPFMESH_HIST_H */
