// SPDX-License-Identifier: Apache-2.0
/* Walks that collect and delete keys (kern/map_ops.c map_collect_keys,
 * map_delete_where), and the counters by source of endpoint slots given to
 * a new owner (apply/src_slots.c), on the in-memory maps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <bpfmesh/identity_abi.h>
/* fake_maps.h carries helpers for the applier's tests that these do not use. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "fake_maps.h"
#include "apply/src_slots.h"

static bool is_even(const void *key, void *ctx)
{
	__u32 k;

	(void)ctx;
	memcpy(&k, key, sizeof(k));
	return k % 2 == 0;
}

static void test_collect_and_delete_where(void **state)
{
	struct fake_kernel k = { .fail_at = -1 };
	int fd = fake_map_create(&k, sizeof(__u32), sizeof(__u64));
	__u64 v = 7;
	__u32 i, *keys;
	size_t n, done;
	void *got;

	(void)state;
	fk = &k;
	for (i = 1; i <= 10; i++)
		assert_int_equal(fake_update_many(fd, &i, sizeof(i), &v, sizeof(v), 1, &done), 0);
	assert_int_equal(map_collect_keys(&fake_map_ops, fd, sizeof(__u32), NULL, NULL, &got, &n),
			 0);
	assert_int_equal(n, 10);
	free(got);
	assert_int_equal(map_delete_where(&fake_map_ops, fd, sizeof(__u32), is_even, NULL), 0);
	assert_int_equal(map_collect_keys(&fake_map_ops, fd, sizeof(__u32), NULL, NULL, &got, &n),
			 0);
	keys = got;
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(keys[i] % 2, 1);
	free(got);
	fake_kernel_free(&k);
}

/* The source map of a fake kernel holding (slot, identity) pairs. */
static int src_map(struct fake_kernel *k, const struct src_key *pairs, size_t n)
{
	int fd = fake_map_create(k, sizeof(struct src_key), 2 * sizeof(struct ep_counters));
	struct ep_counters v[2] = { { 0 } };
	size_t i, done;

	fk = k;
	for (i = 0; i < n; i++)
		assert_int_equal(fake_update_many(fd, &pairs[i], sizeof(pairs[i]), v, sizeof(v), 1,
						  &done), 0);
	return fd;
}

/* A plan whose counters step zeroes slots[0..n). */
static void plan_with_new_slots(struct apply_plan *p, const __u32 *slots, size_t n)
{
	struct map_step *st;

	memset(p, 0, sizeof(*p));
	assert_non_null(plan_add_step(p, STEP_WRITE, APPLY_MAP_SERVICES, sizeof(__u32),
				      sizeof(__u32), 1));
	st = plan_add_step(p, STEP_WRITE, APPLY_MAP_EP_COUNTERS, sizeof(__u32),
			   sizeof(struct ep_counters_elem), n);
	assert_non_null(st);
	if (n)
		memcpy(st->keys, slots, n * sizeof(*slots));
	st->n = n;
}

static void test_new_slots_lose_their_sources(void **state)
{
	static const struct src_key pairs[] = { { 1, 2 }, { 1, 3 }, { 2, 2 }, { 5, 2 }, { 7, 9 } };
	static const __u32 new_slots[] = { 5, 1 };
	struct fake_kernel k = { .fail_at = -1 };
	int fds[__APPLY_MAP_MAX] = { 0 };
	struct apply_plan p;
	struct src_key *left;
	void *got;
	size_t n;

	(void)state;
	fds[APPLY_MAP_SRC_COUNTERS] = src_map(&k, pairs, 5);
	plan_with_new_slots(&p, new_slots, 2);
	assert_int_equal(src_slots_forget_new(&fake_map_ops, fds, &p), 0);
	assert_int_equal(map_collect_keys(&fake_map_ops, fds[APPLY_MAP_SRC_COUNTERS],
					  sizeof(struct src_key), NULL, NULL, &got, &n), 0);
	left = got;
	assert_int_equal(n, 2); /* slots 2 and 7 keep theirs */
	assert_int_equal(left[0].ep_slot, 2);
	assert_int_equal(left[0].identity, 2);
	assert_int_equal(left[1].ep_slot, 7);
	assert_int_equal(left[1].identity, 9);
	free(got);
	apply_plan_free(&p);
	fake_kernel_free(&k);
}

/* No source map (an older kernel object, or unit tests of the applier),
 * or no slot given out: nothing is touched. */
static void test_nothing_to_forget(void **state)
{
	static const struct src_key pairs[] = { { 1, 2 } };
	struct fake_kernel k = { .fail_at = -1 };
	int fds[__APPLY_MAP_MAX] = { 0 };
	struct apply_plan p;

	(void)state;
	plan_with_new_slots(&p, (const __u32[]){ 1 }, 1);
	assert_int_equal(src_slots_forget_new(&fake_map_ops, fds, &p), 0);
	apply_plan_free(&p);

	fds[APPLY_MAP_SRC_COUNTERS] = src_map(&k, pairs, 1);
	plan_with_new_slots(&p, NULL, 0);
	assert_int_equal(src_slots_forget_new(&fake_map_ops, fds, &p), 0);
	assert_int_equal(k.mutations, 1); /* the one insert above */
	apply_plan_free(&p);
	fake_kernel_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect_and_delete_where),
		cmocka_unit_test(test_new_slots_lose_their_sources),
		cmocka_unit_test(test_nothing_to_forget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
