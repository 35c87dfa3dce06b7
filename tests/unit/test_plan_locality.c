// SPDX-License-Identifier: Apache-2.0
/* localityLbSetting from YAML to the image (compile_locality.c) and from
 * the image to the backend set the agent writes (plan_locality.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"
#include "apply/plan.h"

/* reviews: A, B in region1/zone1/sub1, C in region1/zone2, D in region2. */
#define SE                                                                         \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  hosts: [reviews.default.svc.cluster.local]\n"                           \
	"  addresses: [127.100.0.1]\n"                                             \
	"  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"    \
	"  resolution: STATIC\n"                                                   \
	"  endpoints:\n"                                                           \
	"  - {address: 127.0.1.1, locality: region1/zone1/sub1, labels: {site: a}}\n" \
	"  - {address: 127.0.1.2, locality: region1/zone1/sub1, labels: {site: b}}\n" \
	"  - {address: 127.0.1.3, locality: region1/zone2}\n"                      \
	"  - {address: 127.0.1.4, locality: region2/zone3, labels: {site: a}}\n"   \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  host: reviews\n"                                                        \
	"  trafficPolicy:\n"

#define OD "    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100}\n"

static const struct image_set *compile_set(struct ptest *t, const char *yaml)
{
	assert_int_equal(ptest_compile(t, yaml, false), 0);
	assert_int_equal(t->img.n_sets, 1);
	return &t->img.sets[0];
}

/* Which branch applies: Istio's mesh default is enabled; failover needs
 * outlierDetection, distribute does not; enabled: false turns all off. */
static void test_compile_modes(void **state)
{
	struct ptest t;

	assert_int_equal(compile_set(&t, SE OD)->loc.s.mode, LOC_MODE_FAILOVER);
	ptest_free(&t);
	assert_int_equal(compile_set(&t, SE "    loadBalancer: {simple: RANDOM}\n")->loc.s.mode,
			 LOC_MODE_NONE);
	ptest_free(&t);
	assert_int_equal(compile_set(&t, SE OD "    loadBalancer:\n"
					    "      localityLbSetting: {enabled: false}\n")
				 ->loc.s.mode, LOC_MODE_NONE);
	ptest_free(&t);
	assert_int_equal(compile_set(&t, SE "    loadBalancer:\n      localityLbSetting:\n"
					    "        distribute:\n        - from: region1/*\n"
					    "          to: {region1/*: 60, region2/*: 40}\n")
				 ->loc.s.mode, LOC_MODE_DISTRIBUTE);
	assert_int_equal(t.img.sets[0].loc.s.n_distribute, 1);
	assert_int_equal(t.img.sets[0].loc.s.distribute[0].n_to, 2);
	assert_int_equal(t.img.sets[0].loc.s.distribute[0].to[1].weight, 40);
	ptest_free(&t);
}

/* failoverPriority "key=value" and the endpoints' values, topology labels
 * coming from their locality. */
static void test_compile_failover_priority(void **state)
{
	const struct image_set *s;
	struct ptest t;

	s = compile_set(&t, SE OD "    loadBalancer:\n      localityLbSetting:\n"
			    "        failoverPriority: [site=a, topology.kubernetes.io/zone]\n");
	assert_int_equal(s->loc.s.n_fp, 2);
	assert_string_equal(s->loc.s.fp_keys[0], "site");
	assert_string_equal(s->loc.s.fp_override[0], "a");
	assert_null(s->loc.s.fp_override[1]);
	assert_string_equal(s->meta[0].locality, "region1/zone1/sub1");
	assert_string_equal(s->meta[1].fp_values[0], "b");
	assert_null(s->meta[2].fp_values[0]);
	assert_string_equal(s->meta[2].fp_values[1], "zone2");
	ptest_free(&t);
	/* With failover (Istio then refuses topology labels in the list). */
	s = compile_set(&t, SE OD "    loadBalancer:\n      localityLbSetting:\n"
			    "        failoverPriority: [site]\n"
			    "        failover: [{from: region1, to: region2}]\n");
	assert_int_equal(s->loc.s.n_failover, 1);
	assert_string_equal(s->loc.s.failover[0].from, "region1");
	assert_string_equal(s->loc.s.failover[0].to, "region2");
	assert_string_equal(s->meta[3].fp_values[0], "a");
	ptest_free(&t);
}

/* A copy of the image's set, endpoint slots 1..n as the plan assigns. */
static struct image_set plan_copy(const struct image_set *s)
{
	struct image_set c = *s;
	__u32 j;

	c.slots = calloc(s->n_slots, sizeof(*c.slots));
	assert_non_null(c.slots);
	memcpy(c.slots, s->slots, s->n_slots * sizeof(*c.slots));
	for (j = 0; j < c.n_slots; j++)
		c.slots[j].slot = j + 1;
	return c;
}

/* Half the local endpoints ejected: 70 / 30 with region1/zone2, written
 * as effective weights of 10^8; region2 and the ejected one left out. */
static void test_plan_weights(void **state)
{
	struct loc_caller node = { .locality = "region1/zone1/sub1" };
	const __u32 ejected[] = { 2 };
	struct plan_ejected ej = { .slots = ejected, .n = 1, .caller = &node };
	struct image_set c;
	struct ptest t;
	size_t out = 0;

	c = plan_copy(compile_set(&t, SE OD));
	assert_int_equal(plan_locality_set(&c, &ej, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(c.n_slots, 2);
	assert_int_equal(c.slots[0].slot, 1);
	assert_int_equal(c.slots[1].slot, 3);
	assert_int_equal(c.total_weight, LOC_WEIGHT_TOTAL);
	assert_int_equal(c.slots[0].weight, 1); /* the endpoint's own, for the CLI */
	free(c.slots);

	/* All healthy: everything local, plain weights. */
	c = plan_copy(&t.img.sets[0]);
	ej.n = 0;
	assert_int_equal(plan_locality_set(&c, &ej, &out), 0);
	assert_int_equal(c.n_slots, 2);
	assert_int_equal(c.total_weight, 2);
	free(c.slots);

	/* No locality on the node: the set as compiled. */
	c = plan_copy(&t.img.sets[0]);
	ej.caller = NULL;
	assert_int_equal(plan_locality_set(&c, &ej, &out), 0);
	assert_int_equal(c.n_slots, 4);
	assert_int_equal(c.total_weight, 4);
	free(c.slots);
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_modes),
		cmocka_unit_test(test_compile_failover_priority),
		cmocka_unit_test(test_plan_weights),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
