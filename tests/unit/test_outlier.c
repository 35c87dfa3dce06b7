// SPDX-License-Identifier: Apache-2.0
/* outlier.h: the outlier-detection arithmetic the kernel runs, compared with
 * Envoy's rules written out plainly (floating point and counters that reset,
 * as Envoy's detector does) over every case in a range, and over every
 * sequence of connect outcomes up to a length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <bpfmesh/outlier.h>

#define SEC_NS BPFMESH_NSEC_PER_SEC
#define MS_NS 1000000ULL

static void test_which_ends_are_failures(void **state)
{
	assert_true(bpfmesh_outlier_is_failure(BPFMESH_END_FAIL_REFUSED));
	assert_true(bpfmesh_outlier_is_failure(BPFMESH_END_FAIL_TIMEOUT));
	assert_true(bpfmesh_outlier_is_failure(BPFMESH_END_FAIL_RESET));
	assert_true(bpfmesh_outlier_is_failure(BPFMESH_END_FAIL_OTHER));
	assert_false(bpfmesh_outlier_is_failure(BPFMESH_END_RESET));
	assert_false(bpfmesh_outlier_is_failure(BPFMESH_END_ABORTED));
	assert_false(bpfmesh_outlier_is_failure(BPFMESH_END_NORMAL));
}

static void test_conn_end_from_errno(void **state)
{
	assert_int_equal(bpfmesh_conn_end(0, 111), BPFMESH_END_FAIL_REFUSED);
	assert_int_equal(bpfmesh_conn_end(0, 110), BPFMESH_END_FAIL_TIMEOUT);
	assert_int_equal(bpfmesh_conn_end(0, 104), BPFMESH_END_FAIL_RESET);
	assert_int_equal(bpfmesh_conn_end(0, 113), BPFMESH_END_FAIL_OTHER); /* EHOSTUNREACH */
	assert_int_equal(bpfmesh_conn_end(0, 101), BPFMESH_END_FAIL_OTHER); /* ENETUNREACH */
	assert_int_equal(bpfmesh_conn_end(0, 0), BPFMESH_END_ABORTED);
	assert_int_equal(bpfmesh_conn_end(1, 0), BPFMESH_END_NORMAL);
	assert_int_equal(bpfmesh_conn_end(1, 104), BPFMESH_END_RESET);
	assert_int_equal(bpfmesh_conn_end(1, 110), BPFMESH_END_RESET);
	assert_int_equal(bpfmesh_conn_end(1, 32), BPFMESH_END_RESET); /* EPIPE */
}

static void test_failure_counters_split(void **state)
{
	assert_int_equal(bpfmesh_outlier_failure_counters(0), BPFMESH_OD_5XX | BPFMESH_OD_GATEWAY);
	assert_int_equal(bpfmesh_outlier_failure_counters(BPFMESH_CLUSTER_F_OUTLIER),
			 BPFMESH_OD_5XX | BPFMESH_OD_GATEWAY);
	assert_int_equal(bpfmesh_outlier_failure_counters(BPFMESH_CLUSTER_F_SPLIT_LOCAL),
			 BPFMESH_OD_LOCAL_ORIGIN);
	assert_int_equal(bpfmesh_outlier_failure_counters(BPFMESH_CLUSTER_F_OUTLIER |
							  BPFMESH_CLUSTER_F_SPLIT_LOCAL),
			 BPFMESH_OD_LOCAL_ORIGIN);
}

static void test_trips_at_multiples(void **state)
{
	__u64 c;
	__u32 t;

	for (c = 0; c < 100; c++)
		assert_false(bpfmesh_outlier_trips(c, 0));
	assert_false(bpfmesh_outlier_trips(0, 5));
	for (t = 1; t <= 10; t++)
		for (c = 1; c <= 100; c++)
			assert_int_equal(bpfmesh_outlier_trips(c, t), c % t == 0);
}

/* Envoy's rule as its detector writes it: max percent from a double. */
static int envoy_may_eject(__u64 ejected_now, __u32 total, __u32 pct)
{
	double ejected_percent;

	if (total == 0)
		return 0;
	if (pct > 100)
		pct = 100;
	ejected_percent = 100.0 * (double)(ejected_now + 1) / (double)total;
	return ejected_percent <= (double)pct;
}

static void test_max_ejection_percent_exhaustive(void **state)
{
	__u32 total, pct;
	__u64 e;

	for (total = 0; total <= 300; total++)
		for (pct = 0; pct <= 110; pct++)
			for (e = 0; e <= (__u64)total + 1; e++)
				assert_int_equal(bpfmesh_outlier_may_eject(e + 1, total, pct),
						 envoy_may_eject(e, total, pct));
}

static void test_max_ejection_percent_examples(void **state)
{
	/* Default 10%: fewer than 10 endpoints never eject. */
	assert_false(bpfmesh_outlier_may_eject(1, 9, 10));
	assert_true(bpfmesh_outlier_may_eject(1, 10, 10));
	assert_false(bpfmesh_outlier_may_eject(2, 10, 10));
	assert_true(bpfmesh_outlier_may_eject(2, 20, 10));
	/* 100%: every endpoint may go. */
	assert_true(bpfmesh_outlier_may_eject(3, 3, 100));
	assert_false(bpfmesh_outlier_may_eject(4, 3, 100));
	/* 50% of 3: one (33%), not two (66%). */
	assert_true(bpfmesh_outlier_may_eject(1, 3, 50));
	assert_false(bpfmesh_outlier_may_eject(2, 3, 50));
	assert_false(bpfmesh_outlier_may_eject(1, 0, 100));
}

/* Envoy's rule: healthy percent (double) below the panic threshold. */
static int envoy_in_panic(__u32 total, __u64 ejected, __u32 thr)
{
	double healthy_percent;
	__u64 healthy = ejected >= total ? 0 : total - ejected;

	if (thr > 100)
		thr = 100;
	healthy_percent = total == 0 ? 0.0 : 100.0 * (double)healthy / (double)total;
	return healthy_percent < (double)thr;
}

static void test_panic_exhaustive(void **state)
{
	__u32 total, thr;
	__u64 e;

	for (total = 0; total <= 300; total++)
		for (thr = 0; thr <= 110; thr++)
			for (e = 0; e <= (__u64)total + 1; e++)
				assert_int_equal(bpfmesh_outlier_in_panic(total, e, thr),
						 envoy_in_panic(total, e, thr));
}

static void test_panic_examples(void **state)
{
	assert_false(bpfmesh_outlier_in_panic(10, 10, 0)); /* 0 never panics */
	assert_false(bpfmesh_outlier_in_panic(10, 5, 50)); /* 50% is not below 50% */
	assert_true(bpfmesh_outlier_in_panic(10, 6, 50));
	assert_true(bpfmesh_outlier_in_panic(4, 1, 100));
	assert_false(bpfmesh_outlier_in_panic(4, 0, 100));
	assert_true(bpfmesh_outlier_in_panic(0, 0, 1));
	assert_false(bpfmesh_outlier_in_panic(0, 0, 0));
}

static void test_max_ejection_time_default(void **state)
{
	assert_int_equal(bpfmesh_outlier_max_ejection_ns(0, 30 * SEC_NS), 300 * SEC_NS);
	assert_int_equal(bpfmesh_outlier_max_ejection_ns(0, 400 * SEC_NS), 400 * SEC_NS);
	assert_int_equal(bpfmesh_outlier_max_ejection_ns(60 * SEC_NS, 30 * SEC_NS), 60 * SEC_NS);
	assert_int_equal(bpfmesh_outlier_max_ejection_ns(10 * SEC_NS, 30 * SEC_NS), 30 * SEC_NS);
}

/* Envoy's backoff increment and ejection time, in 128-bit arithmetic. */
static __u32 envoy_backoff_next(__u32 times, __u64 base, __u64 max)
{
	if ((unsigned __int128)times * base < (unsigned __int128)max + base)
		return times + 1;
	return times;
}

static __u64 envoy_ejection(__u32 times, __u64 base, __u64 max)
{
	unsigned __int128 d = (unsigned __int128)times * base;

	return d < max ? (__u64)d : max;
}

static void test_backoff_and_duration_exhaustive(void **state)
{
	const __u64 bases[] = { 1, 2, 3, 7, 1 * MS_NS, 30 * SEC_NS, 299 * SEC_NS, 300 * SEC_NS,
				301 * SEC_NS, 1ULL << 62, ~0ULL / 3, ~0ULL };
	const __u64 maxes[] = { 0, 1, 10, 300 * SEC_NS, 1ULL << 63, ~0ULL };
	size_t b, m;
	__u32 t;

	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
			__u64 max = bpfmesh_outlier_max_ejection_ns(maxes[m], bases[b]);

			for (t = 0; t < 400; t++) {
				assert_int_equal(bpfmesh_outlier_backoff_next(t, bases[b], max),
						 envoy_backoff_next(t, bases[b], max));
				assert_int_equal(bpfmesh_outlier_ejection_ns(t, bases[b], max),
						 envoy_ejection(t, bases[b], max));
			}
			assert_int_equal(bpfmesh_outlier_ejection_ns(0xffffffffu, bases[b], max),
					 envoy_ejection(0xffffffffu, bases[b], max));
		}
}

static void test_decay(void **state)
{
	const __u64 iv = 10 * SEC_NS, back = 1000 * SEC_NS;

	assert_int_equal(bpfmesh_outlier_decay(3, back, back, iv), 3);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + iv - 1, iv), 3);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + iv, iv), 2);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + 2 * iv + 5, iv), 1);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + 3 * iv, iv), 0);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + 300 * iv, iv), 0);
	assert_int_equal(bpfmesh_outlier_decay(3, back, back - 1, iv), 3); /* clock before */
	assert_int_equal(bpfmesh_outlier_decay(3, 0, back, iv), 3);        /* never returned */
	assert_int_equal(bpfmesh_outlier_decay(3, back, back + iv, 0), 3);
	assert_int_equal(bpfmesh_outlier_decay(0, back, back + iv, iv), 0);
}

static struct cluster_cfg cfg_default(void)
{
	struct cluster_cfg c = {
		.consecutive_5xx = 5,
		.interval_ns = 10 * SEC_NS,
		.base_ejection_ns = 30 * SEC_NS,
		.max_ejection_percent = 10,
		.flags = BPFMESH_CLUSTER_F_OUTLIER,
	};
	return c;
}

/* Ejected, back, failing again at once: 30 s, 60 s, 90 s, ... capped at
 * 300 s, where the multiplier stops at 11 (11 x 30 s >= 300 s + 30 s). */
static void test_eject_grows_then_caps(void **state)
{
	struct cluster_cfg c = cfg_default();
	struct bpfmesh_ejection e;
	__u64 now = 5 * SEC_NS, returned = 0;
	__u32 times = 0, i;

	for (i = 1; i <= 15; i++) {
		__u64 want = (i * 30 > 300 ? 300 : i * 30) * SEC_NS;

		e = bpfmesh_outlier_eject(&c, times, returned, now);
		assert_int_equal(e.until_ns - now, want);
		assert_int_equal(e.times_ejected, i <= 11 ? i : 11);
		times = e.times_ejected;
		returned = e.until_ns; /* back at the end, fails at once */
		now = returned;
	}
	/* One healthy interval later the multiplier is 10 again and grows back
	 * to 11: still the cap, as Envoy intends. */
	e = bpfmesh_outlier_eject(&c, times, returned, returned + 10 * SEC_NS);
	assert_int_equal(e.times_ejected, 11);
	assert_int_equal(e.until_ns - (returned + 10 * SEC_NS), 300 * SEC_NS);
}

/* Healthy for long enough, the next ejection is short again. */
static void test_eject_after_healthy_intervals(void **state)
{
	struct cluster_cfg c = cfg_default();
	struct bpfmesh_ejection e;

	e = bpfmesh_outlier_eject(&c, 3, 100 * SEC_NS, 125 * SEC_NS); /* 2 intervals: 3 -> 1 */
	assert_int_equal(e.times_ejected, 2);
	assert_int_equal(e.until_ns, 125 * SEC_NS + 60 * SEC_NS);
	e = bpfmesh_outlier_eject(&c, 3, 100 * SEC_NS, 1000 * SEC_NS);
	assert_int_equal(e.times_ejected, 1);
	assert_int_equal(e.until_ns, 1030 * SEC_NS);
}

/* A base above 300 s is its own cap. */
static void test_eject_long_base(void **state)
{
	struct cluster_cfg c = cfg_default();
	struct bpfmesh_ejection e;

	c.base_ejection_ns = 400 * SEC_NS;
	e = bpfmesh_outlier_eject(&c, 0, 0, SEC_NS);
	assert_int_equal(e.until_ns, 401 * SEC_NS);
	e = bpfmesh_outlier_eject(&c, e.times_ejected, e.until_ns, e.until_ns);
	assert_int_equal(e.times_ejected, 2);
	assert_int_equal(e.until_ns, 801 * SEC_NS);
	e = bpfmesh_outlier_eject(&c, e.times_ejected, e.until_ns, e.until_ns);
	assert_int_equal(e.times_ejected, 2); /* 2 x 400 s = max + base: stops */
	assert_int_equal(e.until_ns, 1201 * SEC_NS);
}

/* The end is never one of the two values that mean "not ejected" and
 * "being ejected", even at the edge of the clock. */
static void test_eject_until_reserved_values(void **state)
{
	struct cluster_cfg c = cfg_default();
	struct bpfmesh_ejection e;

	e = bpfmesh_outlier_eject(&c, 0, 0, ~0ULL - 5);
	assert_true(e.until_ns != BPFMESH_EJECTING && e.until_ns != 0);
	assert_true(e.until_ns >= ~0ULL - 5);
	c.base_ejection_ns = 0;
	e = bpfmesh_outlier_eject(&c, 0, 0, 0);
	assert_int_equal(e.until_ns, 1);
	assert_false(bpfmesh_outlier_is_due_back(0, 100));
	assert_false(bpfmesh_outlier_is_due_back(BPFMESH_EJECTING, ~0ULL));
	assert_false(bpfmesh_outlier_is_due_back(101, 100));
	assert_true(bpfmesh_outlier_is_due_back(100, 100));
	assert_true(bpfmesh_outlier_is_due_back(100, 101));
}

/*
 * Consecutive counting, kernel against Envoy, over every sequence of
 * outcomes up to SEQ_LEN: F (connect failed), S (established), R (the
 * ejection ended). Envoy counts 5xx and gateway errors separately, trips a
 * counter when ++count == threshold, resets that counter after the attempt,
 * ignores trips while ejected, and resets both on success and on return.
 * The kernel (as health.h does it) does not count while ejected, adds with
 * fetch_add and trips at multiples. Whether an attempt may eject follows a
 * fixed pattern (maxEjectionPercent decides it in the kernel). The two must
 * attempt ejections at exactly the same steps and end ejected alike.
 */
#define SEQ_LEN 9

struct envoy_model {
	__u64 c5, cg;
	int ejected;
};

struct kern_model {
	__u64 c5, cg;
	int ejected;
};

/* One step; returns 1 when an ejection was attempted. */
static int envoy_step(struct envoy_model *m, char ev, __u32 t5, __u32 tg, int allowed)
{
	int attempted = 0, trip5, tripg;

	switch (ev) {
	case 'S':
		m->c5 = m->cg = 0;
		return 0;
	case 'R':
		if (m->ejected)
			m->c5 = m->cg = 0;
		m->ejected = 0;
		return 0;
	}
	trip5 = t5 && ++m->c5 == t5;
	tripg = tg && ++m->cg == tg;
	if (m->ejected)
		return 0;
	/* Each tripped counter posts an attempt; the first that ejects wins,
	 * the other then finds the host ejected and returns without reset. */
	if (trip5) {
		attempted = 1;
		if (allowed)
			m->ejected = 1;
		m->c5 = 0;
	}
	if (tripg) {
		attempted = 1;
		if (!m->ejected || !trip5) {
			if (allowed)
				m->ejected = 1;
			m->cg = 0;
		}
	}
	return attempted;
}

static int kern_step(struct kern_model *m, char ev, __u32 t5, __u32 tg, int allowed)
{
	__u32 which = bpfmesh_outlier_failure_counters(0);
	int trip = 0;

	switch (ev) {
	case 'S':
		m->c5 = m->cg = 0;
		return 0;
	case 'R':
		if (m->ejected)
			m->c5 = m->cg = 0;
		m->ejected = 0;
		return 0;
	}
	if (m->ejected)
		return 0;
	if (which & BPFMESH_OD_5XX)
		trip |= bpfmesh_outlier_trips(++m->c5, t5);
	if (which & BPFMESH_OD_GATEWAY)
		trip |= bpfmesh_outlier_trips(++m->cg, tg);
	if (trip && allowed)
		m->ejected = 1;
	return trip;
}

static void test_consecutive_sequences_match_envoy(void **state)
{
	const char evs[] = "FSR";
	char seq[SEQ_LEN];
	__u32 t5, tg, pattern, code, ncodes = 1, i;

	for (i = 0; i < SEQ_LEN; i++)
		ncodes *= 3;
	for (t5 = 0; t5 <= 4; t5++)
		for (tg = 0; tg <= 4; tg++)
			for (pattern = 0; pattern < 8; pattern++)
				for (code = 0; code < ncodes; code++) {
					struct envoy_model em = { 0 };
					struct kern_model km = { 0 };
					__u32 c = code, attempts = 0;

					for (i = 0; i < SEQ_LEN; i++, c /= 3)
						seq[i] = evs[c % 3];
					for (i = 0; i < SEQ_LEN; i++) {
						/* attempt n is allowed per bit n of pattern, then always */
						int allowed = attempts >= 3 || (pattern >> attempts & 1);
						int a = envoy_step(&em, seq[i], t5, tg, allowed);
						int b = kern_step(&km, seq[i], t5, tg, allowed);

						if (a != b || em.ejected != km.ejected)
							fail_msg("t5=%u tg=%u pattern=%u seq=%.*s step %u: "
								 "envoy %d/%d kernel %d/%d", t5, tg,
								 pattern, SEQ_LEN, seq, i, a, em.ejected,
								 b, km.ejected);
						attempts += a;
					}
				}
}

/* Split mode: only the local-origin counter moves, with its own threshold. */
static void test_split_counts_local_origin_only(void **state)
{
	__u32 which = bpfmesh_outlier_failure_counters(BPFMESH_CLUSTER_F_SPLIT_LOCAL);
	__u64 local = 0;
	int i, trips = 0;

	assert_false(which & (BPFMESH_OD_5XX | BPFMESH_OD_GATEWAY));
	for (i = 0; i < 12; i++)
		trips += bpfmesh_outlier_trips(++local, 3);
	assert_int_equal(trips, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_ends_are_failures),
		cmocka_unit_test(test_conn_end_from_errno),
		cmocka_unit_test(test_failure_counters_split),
		cmocka_unit_test(test_trips_at_multiples),
		cmocka_unit_test(test_max_ejection_percent_exhaustive),
		cmocka_unit_test(test_max_ejection_percent_examples),
		cmocka_unit_test(test_panic_exhaustive),
		cmocka_unit_test(test_panic_examples),
		cmocka_unit_test(test_max_ejection_time_default),
		cmocka_unit_test(test_backoff_and_duration_exhaustive),
		cmocka_unit_test(test_decay),
		cmocka_unit_test(test_eject_grows_then_caps),
		cmocka_unit_test(test_eject_after_healthy_intervals),
		cmocka_unit_test(test_eject_long_base),
		cmocka_unit_test(test_eject_until_reserved_values),
		cmocka_unit_test(test_consecutive_sequences_match_envoy),
		cmocka_unit_test(test_split_counts_local_origin_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
