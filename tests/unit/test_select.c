// SPDX-License-Identifier: Apache-2.0
/* select.h: the arithmetic the kernel runs, proved exact in user space. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <bpfmesh/select.h>

/* Deterministic xorshift, so a failure is reproducible. */
static __u32 rng_next(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (__u32)(*s >> 11);
}

/* Smallest rnd with bpfmesh_reduce(rnd, range) == r. */
static __u32 rnd_for(__u32 r, __u32 range)
{
	__u64 x = ((__u64)r << 32) + range - 1;

	return (__u32)(x / range);
}

/* Every (slot, draw) outcome, counted per endpoint, is exactly n * w_j. */
static void assert_alias_exact(const __u32 *w, __u32 n)
{
	struct backend_val *slots = calloc(n, sizeof(*slots));
	__u64 *got = calloc(n, sizeof(*got)), total = 0;
	__u32 i, W;

	assert_non_null(slots);
	assert_non_null(got);
	for (i = 0; i < n; i++)
		total += w[i];
	W = bpfmesh_alias_build(slots, w, n);
	assert_int_equal(W, total);
	for (i = 0; i < n; i++) {
		assert_true(slots[i].threshold <= W);
		assert_true(slots[i].alias < n);
		got[i] += slots[i].threshold;
		got[slots[i].alias] += W - slots[i].threshold;
	}
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], (__u64)w[i] * n);
	free(slots);
	free(got);
}

static void test_alias_random_weights(void **state)
{
	__u64 seed = 0x9e3779b97f4a7c15ULL;
	__u32 w[64], n, i, round;

	for (round = 0; round < 500; round++) {
		n = 1 + rng_next(&seed) % 64;
		for (i = 0; i < n; i++)
			w[i] = 1 + rng_next(&seed) % (round % 2 ? 1000 : 7);
		assert_alias_exact(w, n);
	}
}

static void test_alias_equal_and_skewed(void **state)
{
	__u32 eq[5] = { 3, 3, 3, 3, 3 };
	__u32 skew[4] = { 1000000, 1, 1, 1 };
	__u32 one[1] = { 42 };

	assert_alias_exact(eq, 5);
	assert_alias_exact(skew, 4);
	assert_alias_exact(one, 1);
}

/* The same exactness through the kernel's own two-step pick. */
static void test_alias_resolve_all_draws(void **state)
{
	__u32 w[3] = { 5, 2, 3 }, got[3] = { 0 }, W, slot, r;
	struct backend_val slots[3] = { 0 };

	W = bpfmesh_alias_build(slots, w, 3);
	assert_int_equal(W, 10);
	for (slot = 0; slot < 3; slot++) {
		assert_int_equal(bpfmesh_pick_slot(3, rnd_for(slot, 3)), slot);
		for (r = 0; r < W; r++)
			got[bpfmesh_alias_resolve(slot, &slots[slot], W, rnd_for(r, W))]++;
	}
	assert_int_equal(got[0], 15);
	assert_int_equal(got[1], 6);
	assert_int_equal(got[2], 9);
}

static void test_alias_bad_input(void **state)
{
	struct backend_val slots[3] = { 0 };
	__u32 zero[3] = { 1, 0, 1 }, big[2] = { 0xffffffffu, 1 };

	assert_int_equal(bpfmesh_alias_build(slots, zero, 3), 0);
	assert_int_equal(bpfmesh_alias_build(slots, big, 2), 0);
	assert_int_equal(bpfmesh_alias_build(slots, zero, 0), 0);
}

static void test_alias_deterministic(void **state)
{
	__u32 w[6] = { 7, 1, 9, 2, 2, 4 };
	struct backend_val a[6] = { 0 }, b[6] = { 0 };

	bpfmesh_alias_build(a, w, 6);
	bpfmesh_alias_build(b, w, 6);
	assert_memory_equal(a, b, sizeof(a));
}

static struct svc_val val_with(const __u32 *cum, __u16 n)
{
	struct svc_val v = { 0 };
	__u16 i;

	for (i = 0; i < n; i++)
		v.dests[i].cum_weight = cum[i];
	v.n_dests = n;
	v.total_weight = n ? cum[n - 1] : 0;
	return v;
}

static void test_pick_dest_boundaries(void **state)
{
	__u32 cum[2] = { 9, 10 };
	struct svc_val v = val_with(cum, 2);
	__u32 r;

	assert_int_equal(bpfmesh_pick_dest(&v, 0), 0);
	assert_int_equal(bpfmesh_pick_dest(&v, 0xffffffffu), 1);
	for (r = 0; r < 9; r++)
		assert_int_equal(bpfmesh_pick_dest(&v, rnd_for(r, 10)), 0);
	assert_int_equal(bpfmesh_pick_dest(&v, rnd_for(9, 10)), 1);
	assert_int_equal(bpfmesh_pick_dest(&v, rnd_for(9, 10) - 1), 0);
}

static void test_pick_dest_zero_weight_never_picked(void **state)
{
	__u32 cum[4] = { 0, 5, 5, 10 }, counts[4] = { 0 }, r;
	struct svc_val v = val_with(cum, 4);

	for (r = 0; r < 10; r++)
		counts[bpfmesh_pick_dest(&v, rnd_for(r, 10))]++;
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 5);
	assert_int_equal(counts[2], 0);
	assert_int_equal(counts[3], 5);
}

static void test_pick_dest_empty(void **state)
{
	__u32 cum[1] = { 0 };
	struct svc_val none = val_with(cum, 0), zero = val_with(cum, 1);

	assert_int_equal(bpfmesh_pick_dest(&none, 123), -1);
	assert_int_equal(bpfmesh_pick_dest(&zero, 123), -1);
}

static void test_pick_dest_all_eight(void **state)
{
	__u32 cum[BPFMESH_MAX_DESTS], i;
	struct svc_val v;

	for (i = 0; i < BPFMESH_MAX_DESTS; i++)
		cum[i] = i + 1;
	v = val_with(cum, BPFMESH_MAX_DESTS);
	for (i = 0; i < BPFMESH_MAX_DESTS; i++)
		assert_int_equal(bpfmesh_pick_dest(&v, rnd_for(i, BPFMESH_MAX_DESTS)), (int)i);
}

static void test_reduce_range(void **state)
{
	__u32 counts[7] = { 0 }, i;
	__u64 rnd;

	assert_int_equal(bpfmesh_reduce(0, 7), 0);
	assert_int_equal(bpfmesh_reduce(0xffffffffu, 7), 6);
	assert_int_equal(bpfmesh_reduce(0xffffffffu, 1), 0);
	assert_int_equal(bpfmesh_reduce(0x80000000u, 2), 1);
	/* Evenly spaced inputs land evenly: bias at most one per bucket. */
	for (rnd = 0; rnd < (1ULL << 32); rnd += 1ULL << 16)
		counts[bpfmesh_reduce((__u32)rnd, 7)]++;
	for (i = 0; i < 7; i++)
		assert_true(counts[i] >= 65536 / 7 && counts[i] <= 65536 / 7 + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alias_random_weights),
		cmocka_unit_test(test_alias_equal_and_skewed),
		cmocka_unit_test(test_alias_resolve_all_draws),
		cmocka_unit_test(test_alias_bad_input),
		cmocka_unit_test(test_alias_deterministic),
		cmocka_unit_test(test_pick_dest_boundaries),
		cmocka_unit_test(test_pick_dest_zero_weight_never_picked),
		cmocka_unit_test(test_pick_dest_empty),
		cmocka_unit_test(test_pick_dest_all_eight),
		cmocka_unit_test(test_reduce_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
