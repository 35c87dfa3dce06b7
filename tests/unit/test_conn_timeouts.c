// SPDX-License-Identifier: Apache-2.0
/* conn_timeouts.h: when the connection sweep closes a connection for
 * maxConnectionDuration or idleTimeout, the arithmetic the kernel runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpfmesh/conn_timeouts.h>

#define MS 1000000ull
#define S (1000 * MS)

/* A connection established at 10 s, now 10 s + age; last data both ways
 * idle_j jiffies ago at HZ=250 (4 ms a jiffy). */
static struct bpfmesh_conn_clock clock_at(__u64 age_ns, __u32 idle_j, __u32 now_j)
{
	return (struct bpfmesh_conn_clock){
		.now_ns = 10 * S + age_ns,
		.established_ns = 10 * S,
		.now_jiffies = now_j,
		.last_sent = now_j - idle_j,
		.last_received = now_j - idle_j,
		.hz = 250,
	};
}

/* Envoy: closed once the time since established reaches the limit. */
static void test_duration_boundary(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(2 * S - 1, 0, 1000);

	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 0), BPFMESH_EXPIRY_NONE);
	c = clock_at(2 * S, 0, 1000);
	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 0), BPFMESH_EXPIRY_DURATION);
	/* Not set: never. */
	c = clock_at(100 * S, 0, 1000);
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 0), BPFMESH_EXPIRY_NONE);
	/* Establishment unknown: no duration check. */
	c.established_ns = 0;
	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 0), BPFMESH_EXPIRY_NONE);
}

/* Idle: one jiffy is taken off, so never closed early. 2 s = 500 jiffies
 * at HZ=250: 500 jiffies since the last byte may be 499.x real ones. */
static void test_idle_never_early(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(0, 500, 1000);

	assert_int_equal(bpfmesh_conn_idle_ns(&c), 499 * 4 * MS);
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_NONE);
	c = clock_at(0, 501, 1000);
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_IDLE);
	c = clock_at(0, 0, 1000);
	assert_int_equal(bpfmesh_conn_idle_ns(&c), 0);
}

/* Activity either way keeps it: the more recent stamp counts. */
static void test_idle_either_direction(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(0, 1000, 5000);

	c.last_received = 5000 - 10; /* data arrived 40 ms ago */
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_NONE);
	c.last_received = 5000 - 1000;
	c.last_sent = 5000 - 10; /* data sent 40 ms ago */
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_NONE);
	c.last_sent = 5000 - 1000;
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_IDLE);
}

/* The 32-bit jiffies stamps wrap: the difference is still exact. */
static void test_idle_jiffies_wrap(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(0, 600, 100); /* stamps before the wrap */

	assert_true(c.last_sent > c.now_jiffies);
	assert_int_equal(bpfmesh_conn_idle_ns(&c), 599 * 4 * MS);
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_IDLE);
}

/* HZ unknown (no kernel config): idleTimeout is not checked at all. */
static void test_idle_unknown_hz(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(0, 100000, 200000);

	c.hz = 0;
	assert_int_equal(bpfmesh_conn_idle_ns(&c), 0);
	assert_int_equal(bpfmesh_conn_expiry(&c, 0, 2 * S), BPFMESH_EXPIRY_NONE);
	c = clock_at(3 * S, 0, 1000);
	c.hz = 0;
	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 2 * S), BPFMESH_EXPIRY_DURATION);
}

/* Both ran out: the reason is the one that ran out first. */
static void test_both_first_wins(void **state)
{
	/* Age 5 s, limit 2 s: over by 3 s. Idle 2.4 s, limit 2 s: over by
	 * ~0.4 s. The duration ran out first. */
	struct bpfmesh_conn_clock c = clock_at(5 * S, 601, 1000);

	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 2 * S), BPFMESH_EXPIRY_DURATION);
	/* Idle for 4.8 s with a 1 s limit: over by 3.8 s, before the duration. */
	c = clock_at(5 * S, 1201, 2000);
	assert_int_equal(bpfmesh_conn_expiry(&c, 2 * S, 1 * S), BPFMESH_EXPIRY_IDLE);
}

/* A clock reading before the stamp (another CPU's, a moment earlier) is
 * no age at all, not a huge one. */
static void test_clock_behind(void **state)
{
	struct bpfmesh_conn_clock c = clock_at(0, 0, 1000);

	c.now_ns = c.established_ns - 1;
	assert_int_equal(bpfmesh_conn_expiry(&c, 1 * MS, 0), BPFMESH_EXPIRY_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_boundary),
		cmocka_unit_test(test_idle_never_early),
		cmocka_unit_test(test_idle_either_direction),
		cmocka_unit_test(test_idle_jiffies_wrap),
		cmocka_unit_test(test_idle_unknown_hz),
		cmocka_unit_test(test_both_first_wins),
		cmocka_unit_test(test_clock_behind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
