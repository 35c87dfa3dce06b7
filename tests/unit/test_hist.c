// SPDX-License-Identifier: Apache-2.0
/* hist.h: the bucket arithmetic the sockops program runs, checked over every
 * value up to 2^22 and every bucket boundary, and the quantile estimate
 * `bpfmesh stats` derives from it checked against exact quantiles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <bpfmesh/hist.h>

/* Deterministic xorshift, so a failure is reproducible. */
static __u64 rng_next(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_layout_constants(void **state)
{
	assert_int_equal(BPFMESH_HIST_BUCKETS, 93);
	assert_int_equal(BPFMESH_HIST_OVERFLOW, 92);
	assert_int_equal(bpfmesh_hist_lower(BPFMESH_HIST_OVERFLOW), 1ULL << 24);
	assert_true(bpfmesh_hist_le(BPFMESH_HIST_OVERFLOW) == ~0ULL);
}

static void test_small_values_exact(void **state)
{
	__u64 v;

	for (v = 0; v < 8; v++) {
		assert_int_equal(bpfmesh_hist_bucket(v), v);
		assert_int_equal(bpfmesh_hist_lower((__u32)v), v);
		assert_int_equal(bpfmesh_hist_le((__u32)v), v);
	}
	assert_int_equal(bpfmesh_hist_bucket(8), 8);
	assert_int_equal(bpfmesh_hist_bucket(9), 8);
	assert_int_equal(bpfmesh_hist_bucket(10), 9);
}

static void test_msb_matches_clz(void **state)
{
	__u64 seed = 0x243f6a8885a308d3ULL, v;
	int i, shift;

	for (shift = 0; shift < 64; shift++) {
		v = 1ULL << shift;
		assert_int_equal(bpfmesh_hist_msb(v), shift);
		assert_int_equal(bpfmesh_hist_msb(v | (v - 1)), shift);
	}
	for (i = 0; i < 1000000; i++) {
		v = rng_next(&seed) >> (rng_next(&seed) % 64);
		if (!v)
			continue;
		assert_int_equal(bpfmesh_hist_msb(v), 63 - __builtin_clzll(v));
	}
}

/* Every value below 2^22 lies in [lower, le] of its bucket, buckets never
 * go down, and each bucket is entered exactly at its lower bound. */
static void test_every_value_in_its_bucket(void **state)
{
	__u32 prev = 0, b;
	__u64 v;

	for (v = 0; v < (1ULL << 22); v++) {
		b = bpfmesh_hist_bucket(v);
		assert_true(b < BPFMESH_HIST_BUCKETS);
		assert_true(v >= bpfmesh_hist_lower(b));
		assert_true(v <= bpfmesh_hist_le(b));
		assert_true(b == prev || b == prev + 1);
		if (b != prev)
			assert_int_equal(v, bpfmesh_hist_lower(b));
		prev = b;
	}
}

/* Buckets tile [0, inf) with no gap or overlap, up to and past 2^24. */
static void test_boundaries_tile(void **state)
{
	__u32 i;

	for (i = 0; i < BPFMESH_HIST_BUCKETS; i++) {
		__u64 lo = bpfmesh_hist_lower(i), le = bpfmesh_hist_le(i);

		assert_true(lo <= le);
		assert_int_equal(bpfmesh_hist_bucket(lo), i);
		assert_int_equal(bpfmesh_hist_bucket(le), i);
		if (lo > 0)
			assert_int_equal(bpfmesh_hist_bucket(lo - 1), i - 1);
		if (i + 1 < BPFMESH_HIST_BUCKETS)
			assert_int_equal(le + 1, bpfmesh_hist_lower(i + 1));
	}
	assert_int_equal(bpfmesh_hist_bucket((1ULL << 24) - 1), BPFMESH_HIST_OVERFLOW - 1);
	assert_int_equal(bpfmesh_hist_bucket(1ULL << 24), BPFMESH_HIST_OVERFLOW);
	assert_int_equal(bpfmesh_hist_bucket(~0ULL), BPFMESH_HIST_OVERFLOW);
}

/* A bucket is at most a quarter of its lower bound wide, so its midpoint is
 * within 12.5% of every value in it. */
static void test_relative_width(void **state)
{
	__u32 i;

	for (i = 0; i < BPFMESH_HIST_OVERFLOW; i++) {
		__u64 lo = bpfmesh_hist_lower(i), le = bpfmesh_hist_le(i);
		double mid = ((double)lo + (double)le) / 2;

		assert_true((le - lo + 1) * 4 <= (lo < 4 ? 4 : lo));
		if (lo > 0) {
			assert_true((mid - (double)lo) / (double)lo <= 0.125);
			assert_true(((double)le - mid) / (double)le <= 0.125);
		}
	}
}

static void add(__u64 *buckets, __u64 v)
{
	buckets[bpfmesh_hist_bucket(v)]++;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* The rank-ceil(q*n) value of the sorted samples. */
static __u64 exact_quantile(const __u64 *sorted, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n);

	if ((double)rank < q * (double)n)
		rank++;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static void assert_quantile_close(const __u64 *buckets, const __u64 *sorted, size_t n, double q)
{
	double est = bpfmesh_hist_quantile(buckets, q);
	__u64 exact = exact_quantile(sorted, n, q);

	if (exact == 0) {
		assert_true(est == 0);
		return;
	}
	if (!(est >= (double)exact * 0.875 && est <= (double)exact * 1.125))
		fail_msg("q=%.3f: estimate %.1f, exact %llu", q, est, (unsigned long long)exact);
}

static void test_quantile_empty_and_single(void **state)
{
	__u64 buckets[BPFMESH_HIST_BUCKETS] = { 0 };

	assert_true(bpfmesh_hist_quantile(buckets, 0.5) == 0);
	add(buckets, 20);
	assert_true(bpfmesh_hist_quantile(buckets, 0.5) >= 17.5);
	assert_true(bpfmesh_hist_quantile(buckets, 0.99) <= 22.5);
	add(buckets, 1ULL << 30);
	/* Overflow reports its lower bound: "at least 2^24". */
	assert_true(bpfmesh_hist_quantile(buckets, 1.0) == (double)(1ULL << 24));
}

/* Random samples of several shapes: p50, p90, p99, p99.9 within 12.5%. */
static void test_quantile_against_exact(void **state)
{
	const size_t n = 20000;
	__u64 *samples = calloc(n, sizeof(*samples)), seed = 0x9e3779b97f4a7c15ULL;
	const double qs[] = { 0.01, 0.5, 0.9, 0.99, 0.999, 1.0 };
	int shape, round;
	size_t i, j;

	assert_non_null(samples);
	for (shape = 0; shape < 4; shape++) {
		for (round = 0; round < 5; round++) {
			__u64 buckets[BPFMESH_HIST_BUCKETS] = { 0 };

			for (i = 0; i < n; i++) {
				__u64 r = rng_next(&seed);

				switch (shape) {
				case 0: /* uniform 1..100,000 us */
					samples[i] = 1 + r % 100000;
					break;
				case 1: /* log-uniform over 1 us .. 16 s */
					samples[i] = 1 + ((r >> 8) & ((1ULL << (r % 24)) - 1));
					break;
				case 2: /* bimodal: 30 us loopback, 1 s SYN retransmit */
					samples[i] = (r % 100 < 97) ? 25 + r % 10 : 1000000 + r % 50000;
					break;
				default: /* narrow around 20 ms */
					samples[i] = 20000 + r % 500;
					break;
				}
				add(buckets, samples[i]);
			}
			qsort(samples, n, sizeof(*samples), cmp_u64);
			for (j = 0; j < sizeof(qs) / sizeof(qs[0]); j++)
				assert_quantile_close(buckets, samples, n, qs[j]);
		}
	}
	free(samples);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_constants),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_msb_matches_clz),
		cmocka_unit_test(test_every_value_in_its_bucket),
		cmocka_unit_test(test_boundaries_tile),
		cmocka_unit_test(test_relative_width),
		cmocka_unit_test(test_quantile_empty_and_single),
		cmocka_unit_test(test_quantile_against_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
