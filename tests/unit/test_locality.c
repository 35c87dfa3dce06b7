// SPDX-License-Identifier: Apache-2.0
/* policy/locality.c: Istio's priorities and Envoy's load arithmetic, checked
 * on the cases the Istio and Envoy documentation give numbers for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy/locality.h"

#define NODE "region1/zone1/sub1"
#define T LOC_WEIGHT_TOTAL

/* Percent of the total weight an endpoint gets, to 1e-6. */
static double pct(const struct loc_out *o, size_t n, size_t i)
{
	__u64 sum = 0;
	size_t j;

	for (j = 0; j < n; j++)
		sum += o[j].weight;
	return sum ? 100.0 * o[i].weight / sum : 0;
}

static void assert_pct(const struct loc_out *o, size_t n, size_t i, double want)
{
	double got = pct(o, n, i);

	if (got < want - 1e-4 || got > want + 1e-4)
		fail_msg("endpoint %zu: %.6f%%, expected %.6f%%", i, got, want);
}

static void run(const struct loc_setting *s, const char *node, struct loc_ep *eps, size_t n,
		struct loc_out *out, struct loc_result *res)
{
	struct loc_caller c = { .locality = node };

	assert_int_equal(locality_compute(s, &c, eps, n, out, res), 0);
}

/* The topology: priorities 0 (same subzone), 1 (same region, other
 * zone), 2 (other regions), compacted from Istio's 0, 2, 3, 3. */
static void test_default_priorities(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER };
	struct loc_ep e[] = {
		{ "region1/zone1/sub1", NULL, 1, true }, { "region1/zone2", NULL, 1, true },
		{ "region2/zone3", NULL, 1, true },      { "region3/zone4", NULL, 1, true },
		{ "region1/zone1/sub2", NULL, 1, true },
	};
	struct loc_out o[5];
	struct loc_result r;

	run(&s, NODE, e, 5, o, &r);
	assert_int_equal(r.n_priorities, 4);
	assert_int_equal(o[0].priority, 0);
	assert_int_equal(o[4].priority, 1);
	assert_int_equal(o[1].priority, 2);
	assert_int_equal(o[2].priority, 3);
	assert_int_equal(o[3].priority, 3);
	/* All healthy: everything local, plain weights. */
	assert_true(r.as_weights);
	assert_int_equal(r.load[0], 100);
	assert_int_equal(o[0].weight, 1);
	assert_int_equal(o[1].weight + o[2].weight + o[3].weight + o[4].weight, 0);
}

/* Envoy's table: P0 at 50% healthy takes 70, P1 30; at 71% 99/1. */
static void test_priority_load_overprovisioning(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER };
	struct loc_ep e[101];
	struct loc_out o[101];
	struct loc_result r;
	size_t i;

	e[0] = (struct loc_ep){ NODE, NULL, 1, true };
	e[1] = (struct loc_ep){ NODE, NULL, 1, false };
	e[2] = (struct loc_ep){ "region1/zone2", NULL, 1, true };
	e[3] = (struct loc_ep){ "region2/zone3", NULL, 1, true };
	run(&s, NODE, e, 4, o, &r);
	assert_int_equal(r.load[0], 70);
	assert_int_equal(r.load[1], 30);
	assert_int_equal(r.load[2], 0);
	assert_false(r.as_weights);
	assert_int_equal(o[0].weight, 70 * (T / 100));
	assert_int_equal(o[1].weight, 0);
	assert_int_equal(o[2].weight, 30 * (T / 100));
	assert_int_equal(o[3].weight, 0);

	/* 71 of 100 local healthy: 140 x 71 / 100 = 99 (integer), 99/1. */
	for (i = 0; i < 100; i++)
		e[i] = (struct loc_ep){ NODE, NULL, 1, i < 71 };
	e[100] = (struct loc_ep){ "region2/zone3", NULL, 1, true };
	run(&s, NODE, e, 101, o, &r);
	assert_int_equal(r.load[0], 99);
	assert_int_equal(r.load[1], 1);
	assert_pct(o, 101, 100, 1.0);
	assert_pct(o, 101, 0, 99.0 / 71);
	assert_int_equal(o[71].weight, 0);
}

/* All local ejected: the next level takes everything. */
static void test_all_local_ejected(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER };
	struct loc_ep e[] = {
		{ NODE, NULL, 1, false }, { NODE, NULL, 1, false },
		{ "region1/zone2", NULL, 2, true }, { "region1/zone2/x", NULL, 1, true },
		{ "region2/zone3", NULL, 1, true },
	};
	struct loc_out o[5];
	struct loc_result r;

	run(&s, NODE, e, 5, o, &r);
	assert_int_equal(r.load[0], 0);
	assert_int_equal(r.load[1], 100);
	/* Two localities in P1, both healthy: shares by locality weight x
	 * endpoint weight, 2:1. */
	assert_pct(o, 5, 2, 200.0 / 3);
	assert_pct(o, 5, 3, 100.0 / 3);
	assert_int_equal(o[0].weight + o[1].weight + o[4].weight, 0);
}

/* istio.io failover task: failover region1 -> region2; the region2
 * endpoint comes before region3's, then traffic moves level by level. */
static void test_failover_rule(void **state)
{
	struct loc_failover fo[] = { { "region1", "region2" } };
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER, .failover = fo, .n_failover = 1 };
	struct loc_ep e[] = {
		{ "region1/zone1/sub1", NULL, 1, true }, { "region1/zone2/sub1", NULL, 1, true },
		{ "region3/zone4/sub1", NULL, 1, true }, { "region2/zone3/sub1", NULL, 1, true },
	};
	struct loc_out o[4];
	struct loc_result r;
	size_t drained, i;

	run(&s, NODE, e, 4, o, &r);
	assert_int_equal(o[0].priority, 0);
	assert_int_equal(o[1].priority, 1);
	assert_int_equal(o[3].priority, 2);
	assert_int_equal(o[2].priority, 3);
	/* Drain in priority order: each time the next level has it all. */
	for (drained = 0; drained < 3; drained++) {
		static const size_t order[] = { 0, 1, 3, 2 };

		e[order[drained]].healthy = false;
		run(&s, NODE, e, 4, o, &r);
		for (i = 0; i < 4; i++)
			assert_int_equal(o[i].weight != 0, i == order[drained + 1]);
	}
	/* Without the rule region3 and region2 share a level. */
	s.n_failover = 0;
	e[0].healthy = e[1].healthy = true;
	run(&s, NODE, e, 4, o, &r);
	assert_int_equal(o[2].priority, o[3].priority);
}

/* Envoy's locality weighting table: X weight 1, Y weight 2, same level. */
static void test_locality_weighting(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER };
	struct loc_ep e[6];
	struct loc_out o[6];
	struct loc_result r;
	size_t i;

	/* X: 2 endpoints (weight 2), Y: 4 endpoints (weight 4); other region. */
	for (i = 0; i < 6; i++)
		e[i] = (struct loc_ep){ i < 2 ? "r9/x" : "r9/y", NULL, 1, true };
	run(&s, NODE, e, 6, o, &r);
	assert_pct(o, 6, 0, 100.0 / 6);
	/* X 50% healthy: 2 x 0.7 against 4: 1.4 / 5.4 = 25.9% (Envoy: 26%). */
	e[1].healthy = false;
	run(&s, NODE, e, 6, o, &r);
	assert_pct(o, 6, 0, 100.0 * 1.4 / 5.4);
	assert_pct(o, 6, 2, 100.0 * 4 / 5.4 / 4);
}

/* Panic: minHealthPercent; only when the levels together lack capacity. */
static void test_panic(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER, .min_health_percent = 50 };
	struct loc_ep e[] = {
		{ NODE, NULL, 1, false }, { NODE, NULL, 1, false },
		{ NODE, NULL, 1, false }, { NODE, NULL, 1, true },
		{ "region2/z", NULL, 1, true },
	};
	struct loc_out o[5];
	struct loc_result r;

	/* P1 healthy: availability 100, nobody in panic, P0 35 / P1 65. */
	run(&s, NODE, e, 5, o, &r);
	assert_false(r.total_panic);
	assert_int_equal(r.load[0], 35);
	assert_int_equal(r.load[1], 65);
	assert_int_equal(o[0].weight, 0);
	/* P1 gone too: one level, 25% healthy < 50: total panic, all hosts. */
	run(&s, NODE, e, 4, o, &r);
	assert_true(r.total_panic);
	assert_true(r.as_weights);
	assert_int_equal(o[0].weight, 1);
	assert_int_equal(o[3].weight, 1);
	/* Threshold 0 (the default): never panic; the healthy one only. */
	s.min_health_percent = 0;
	run(&s, NODE, e, 4, o, &r);
	assert_false(r.total_panic);
	assert_int_equal(o[0].weight, 0);
	assert_int_equal(o[3].weight, 1);
	/* Nothing healthy, threshold 0: nothing at all (no healthy upstream). */
	e[3].healthy = false;
	run(&s, NODE, e, 4, o, &r);
	assert_int_equal(o[0].weight + o[1].weight + o[2].weight + o[3].weight, 0);
}

/* istio.io distribute task: from region1/zone1/(any) to 70/20/10; unlisted
 * localities get nothing, no priorities. */
static void test_distribute(void **state)
{
	struct loc_weight to[] = {
		{ "region1/zone1/*", 70 }, { "region1/zone2/*", 20 }, { "region3/zone4/*", 10 },
	};
	struct loc_distribute d[] = { { "region9/*", NULL, 0 }, { "region1/zone1/*", to, 3 } };
	struct loc_setting s = { .mode = LOC_MODE_DISTRIBUTE, .distribute = d, .n_distribute = 2 };
	struct loc_ep e[] = {
		{ "region1/zone1/sub1", NULL, 1, true }, { "region1/zone2/sub1", NULL, 1, true },
		{ "region2/zone3/sub1", NULL, 1, true }, { "region3/zone4/sub1", NULL, 1, true },
	};
	struct loc_out o[4];
	struct loc_result r;

	run(&s, NODE, e, 4, o, &r);
	assert_int_equal(r.n_priorities, 1);
	assert_pct(o, 4, 0, 70);
	assert_pct(o, 4, 1, 20);
	assert_int_equal(o[2].weight, 0);
	assert_pct(o, 4, 3, 10);
	/* A node no rule's from matches: every locality by its own weight. */
	run(&s, "region5/zone1", e, 4, o, &r);
	assert_pct(o, 4, 2, 25);
}

/* A to entry matching several localities shares its weight by theirs,
 * rounded up (Istio: math.Ceil). */
static void test_distribute_wildcard_share(void **state)
{
	struct loc_weight to[] = { { "region1/*", 80 }, { "region2", 20 } };
	struct loc_distribute d[] = { { "*", to, 2 } };
	struct loc_setting s = { .mode = LOC_MODE_DISTRIBUTE, .distribute = d, .n_distribute = 1 };
	struct loc_ep e[] = {
		{ "region1/a", NULL, 1, true }, { "region1/b", NULL, 1, true },
		{ "region1/b", NULL, 1, true }, { "region2/c", NULL, 1, true },
	};
	struct loc_out o[4];
	struct loc_result r;

	/* region1/a: ceil(1 x 80 / 3) = 27, region1/b: ceil(2 x 80 / 3) = 54,
	 * region2/c: 20; total 101. */
	run(&s, NODE, e, 4, o, &r);
	assert_pct(o, 4, 0, 100.0 * 27 / 101);
	assert_pct(o, 4, 1, 100.0 * 27 / 101);
	assert_pct(o, 4, 3, 100.0 * 20 / 101);
}

/* failoverPriority: endpoints sharing the caller's label values first, in
 * key order; "key=value" sets the caller's value. */
static void test_failover_priority_labels(void **state)
{
	static const char *const keys[] = { "site", "rack" };
	static const char *const a1[] = { "a", "1" }, *const a2[] = { "a", "2" },
				 *const b1[] = { "b", "1" }, *const none[] = { NULL, NULL };
	struct loc_label labels[] = { { "site", "a" }, { "rack", "1" } };
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER, .fp_keys = keys, .n_fp = 2 };
	struct loc_caller c = { .locality = NODE, .labels = labels, .n_labels = 2 };
	struct loc_ep e[] = {
		{ "region3/z", b1, 1, true }, { "region3/z", a2, 1, true },
		{ "region3/z", a1, 1, true }, { NODE, none, 1, true },
	};
	const char *override[] = { "b", NULL };
	struct loc_out o[4];
	struct loc_result r;

	assert_int_equal(locality_compute(&s, &c, e, 4, o, &r), 0);
	assert_int_equal(o[2].priority, 0); /* a/1: both match */
	assert_int_equal(o[1].priority, 1); /* a/2: site only */
	assert_int_equal(o[0].priority, 2); /* b: none */
	assert_int_equal(o[3].priority, 2); /* no labels: none; locality ignored */
	assert_int_equal(o[2].weight, 1);
	assert_int_equal(o[0].weight + o[1].weight + o[3].weight, 0);
	/* site=b: the caller's value is b. */
	s.fp_override = override;
	assert_int_equal(locality_compute(&s, &c, e, 4, o, &r), 0);
	assert_int_equal(o[0].priority, 0);
	/* With a failover rule: failoverPriority x 5 + the locality priority. */
	{
		struct loc_failover fo[] = { { "region1", "region2" } };

		s.fp_override = NULL;
		s.n_fp = 1;
		s.failover = fo;
		s.n_failover = 1;
		assert_int_equal(locality_compute(&s, &c, e, 4, o, &r), 0);
		/* site a: (0,4) for both a endpoints; b and none: (1,4) and (1,0). */
		assert_int_equal(o[1].priority, 0);
		assert_int_equal(o[2].priority, 0);
		assert_int_equal(o[3].priority, 1);
		assert_int_equal(o[0].priority, 2);
	}
}

/* The caller's topology labels come from its locality. */
static void test_failover_priority_topology(void **state)
{
	static const char *const keys[] = { LOC_LABEL_REGION, LOC_LABEL_ZONE };
	static const char *const r1z1[] = { "region1", "zone1" }, *const r1z2[] = { "region1", "zone2" };
	struct loc_setting s = { .mode = LOC_MODE_FAILOVER, .fp_keys = keys, .n_fp = 2 };
	struct loc_ep e[] = { { NULL, r1z2, 1, true }, { NULL, r1z1, 1, true } };
	struct loc_out o[2];
	struct loc_result r;
	char buf[32];

	run(&s, NODE, e, 2, o, &r);
	assert_int_equal(o[1].priority, 0);
	assert_int_equal(o[0].priority, 1);
	assert_string_equal(locality_label(NODE, LOC_LABEL_SUBZONE, buf, sizeof(buf)), "sub1");
	assert_null(locality_label("r", LOC_LABEL_ZONE, buf, sizeof(buf)));
}

/* Without locality (enabled false, or no outlierDetection): one pool, the
 * ejected ones out, weights as written. */
static void test_none_mode(void **state)
{
	struct loc_setting s = { .mode = LOC_MODE_NONE };
	struct loc_ep e[] = {
		{ NODE, NULL, 3, true }, { "region2/z", NULL, 5, true }, { NULL, NULL, 7, false },
	};
	struct loc_out o[3];
	struct loc_result r;

	run(&s, NODE, e, 3, o, &r);
	assert_true(r.as_weights);
	assert_int_equal(o[0].weight, 3);
	assert_int_equal(o[1].weight, 5);
	assert_int_equal(o[2].weight, 0);
	assert_int_equal(locality_compute(&s, &(struct loc_caller){ 0 }, e, 0, o, &r), 0);
}

static void test_match(void **state)
{
	assert_true(locality_match("r1/z1/s1", "r1"));
	assert_true(locality_match("r1/z1/s1", "r1/*"));
	assert_true(locality_match("r1/z1/s1", "r1/z1/*"));
	assert_true(locality_match("r1/z1/s1", "*"));
	assert_false(locality_match("r1/z1/s1", "r1/z2"));
	assert_false(locality_match("r1/z1/s1", "r1/z1/s2"));
	assert_false(locality_match("r10/z1", "r1"));
	assert_false(locality_match(NULL, "r1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_priorities),
		cmocka_unit_test(test_priority_load_overprovisioning),
		cmocka_unit_test(test_all_local_ejected),
		cmocka_unit_test(test_failover_rule),
		cmocka_unit_test(test_locality_weighting),
		cmocka_unit_test(test_panic),
		cmocka_unit_test(test_distribute),
		cmocka_unit_test(test_distribute_wildcard_share),
		cmocka_unit_test(test_failover_priority_labels),
		cmocka_unit_test(test_failover_priority_topology),
		cmocka_unit_test(test_none_mode),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
