// SPDX-License-Identifier: Apache-2.0
/* outlierDetection: Istio's validation of each field, Istio's translation to
 * Envoy's defaults, and the block-replacement rules that pick the block of a
 * cluster (host, subset, port). Each rule has its own test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"
#include "policy/outlier_policy.h"

/* Lines 1-5; the body starts on line 6 at the spec's indentation. */
#define DR_HEAD                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: reviews, namespace: default}\n"                          \
	"spec:\n"                                                                  \
	"  host: reviews\n"

#define SEC 1000000000ull

/* Every test here reads a DestinationRule. */
static void oparse(struct mtest *o, const char *yaml)
{
	mtest_parse(o, yaml);
	assert_non_null(o->dr);
}

/* The effective consecutive5xxErrors of a cluster (-1: no outlier detection). */
#define assert_5xx(o, subset, port, n)                                                 \
	do {                                                                           \
		struct outlier_config c_ = oeff(o, subset, port);                      \
		assert_int_equal(c_.enabled ? (long)c_.consecutive_5xx : -1L, n);      \
	} while (0)

static struct outlier_config oeff(const struct mtest *o, const char *subset, uint32_t port)
{
	struct outlier_config c;

	outlier_effective(o->dr, subset, port, &c);
	return c;
}

/* ---- Istio's validation ------------------------------------------------- */

static void test_valid_block_has_no_errors(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection:\n"
		   "      consecutive5xxErrors: 0\n"
		   "      consecutiveGatewayErrors: 4294967295\n"
		   "      consecutiveLocalOriginFailures: 0\n"
		   "      consecutiveErrors: 0\n"
		   "      interval: 1ms\n"
		   "      baseEjectionTime: 2.5s\n"
		   "      maxEjectionPercent: 100\n"
		   "      minHealthPercent: 0\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_no_diag(&o.t, DIAG_WARNING); /* consecutiveErrors 0: Istio is silent */
	assert_no_diag(&o.t, DIAG_UNENFORCED); /* enforced in the kernel now */
	mtest_free(&o);
}

static void test_counts_are_uint32(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection:\n"
		   "      consecutive5xxErrors: -1\n"
		   "      consecutiveGatewayErrors: 4294967296\n"
		   "      consecutiveLocalOriginFailures: two\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 29, "spec.trafficPolicy.outlierDetection.consecutive5xxErrors",
		    NULL);
	assert_diag(&o.t, DIAG_ERROR, 9, 33,
		    "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors", NULL);
	assert_diag(&o.t, DIAG_ERROR, 10, 39,
		    "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", NULL);
	mtest_free(&o);
}

/* Istio: "consecutive local origin failures is specified, but split external
 * local origin errors is set to false" only for a value > 0. */
static void test_local_origin_needs_split(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {consecutiveLocalOriginFailures: 3}\n"
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy:\n"
		   "      outlierDetection:\n"
		   "        consecutiveLocalOriginFailures: 3\n"
		   "        splitExternalLocalOriginErrors: true\n");
	assert_diag(&o.t, DIAG_ERROR, 7, 56,
		    "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
		    "requires splitExternalLocalOriginErrors: true");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

/* Istio's ValidateDuration: >= 1ms and whole milliseconds. */
static void test_durations(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection:\n"
		   "      interval: 1500us\n"
		   "      baseEjectionTime: 999us\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 17, "spec.trafficPolicy.outlierDetection.interval",
		    "only durations to ms precision are supported");
	assert_diag(&o.t, DIAG_ERROR, 9, 25, "spec.trafficPolicy.outlierDetection.baseEjectionTime",
		    "at least 1ms");
	mtest_free(&o);
}

/* Istio's ValidatePercent on both int32 percentages. */
static void test_percentages(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection:\n"
		   "      maxEjectionPercent: 101\n"
		   "      minHealthPercent: 3000000000\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 27, "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
		    "percentage 101 is not in range 0..100");
	assert_diag(&o.t, DIAG_ERROR, 9, 25, "spec.trafficPolicy.outlierDetection.minHealthPercent",
		    "does not fit in int32");
	mtest_free(&o);
}

/* Deprecated consecutiveErrors: any non-zero int32 warns; Istio ignores it. */
static void test_consecutive_errors_deprecated(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {consecutiveErrors: -2}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_diag(&o.t, DIAG_WARNING, 7, 24, "spec.trafficPolicy.outlierDetection.consecutiveErrors",
		    "deprecated and ignored");
	c = oeff(&o, NULL, 0);
	assert_int_equal(c.consecutive_5xx, 5);
	assert_int_equal(c.consecutive_gateway, 0);
	mtest_free(&o);
}

static void test_port_level_outlier_validated(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 80}\n"
		   "      outlierDetection: {maxEjectionPercent: -1}\n");
	assert_diag(&o.t, DIAG_ERROR, 9, 46,
		    "spec.trafficPolicy.portLevelSettings[0].outlierDetection.maxEjectionPercent",
		    "0..100");
	mtest_free(&o);
}

/* ---- Istio's translation to Envoy, Envoy's defaults --------------------- */

static void test_no_block_disabled(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n");
	c = oeff(&o, NULL, 80);
	assert_false(c.enabled);
	assert_null(c.src);
	outlier_effective(NULL, NULL, 80, &c);
	assert_false(c.enabled);
	mtest_free(&o);
}

/* An empty block enables Envoy's defaults: 5 consecutive 5xx, gateway off,
 * 10 s, 30 s, 10 %, and Istio's panic threshold 0. */
static void test_empty_block_defaults(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD "  trafficPolicy: {outlierDetection: {}}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	c = oeff(&o, NULL, 80);
	assert_true(c.enabled);
	assert_false(c.split_local_origin);
	assert_int_equal(c.consecutive_5xx, 5);
	assert_int_equal(c.consecutive_gateway, 0);
	assert_int_equal(c.consecutive_local_origin, 0);
	assert_int_equal(c.interval_ns, 10 * SEC);
	assert_int_equal(c.base_ejection_ns, 30 * SEC);
	assert_int_equal(c.max_ejection_percent, 10);
	assert_int_equal(c.min_health_percent, 0);
	assert_non_null(c.src);
	assert_int_equal(c.src->line, 6);
	mtest_free(&o);
}

static void test_explicit_values(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection:\n"
		   "      consecutive5xxErrors: 0\n"   /* explicit 0: detector off */
		   "      consecutiveGatewayErrors: 3\n"
		   "      interval: 1.5s\n"
		   "      baseEjectionTime: 2m\n"
		   "      maxEjectionPercent: 0\n"     /* 0 is unset: Envoy's 10 */
		   "      minHealthPercent: 50\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	c = oeff(&o, NULL, 80);
	assert_true(c.enabled);
	assert_int_equal(c.consecutive_5xx, 0);
	assert_int_equal(c.consecutive_gateway, 3);
	assert_int_equal(c.consecutive_local_origin, 0);
	assert_int_equal(c.interval_ns, 1500000000ull);
	assert_int_equal(c.base_ejection_ns, 120 * SEC);
	assert_int_equal(c.max_ejection_percent, 10);
	assert_int_equal(c.min_health_percent, 50);
	mtest_free(&o);
}

/* With the split, local-origin failures count only toward
 * consecutiveLocalOriginFailures, default 5 (Envoy's, enforced at 100%). */
static void test_split_local_origin(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {splitExternalLocalOriginErrors: true}\n"
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy:\n"
		   "      outlierDetection:\n"
		   "        splitExternalLocalOriginErrors: true\n"
		   "        consecutiveLocalOriginFailures: 7\n"
		   "  - name: v2\n"
		   "    trafficPolicy:\n"
		   "      outlierDetection: {consecutiveLocalOriginFailures: 0}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	c = oeff(&o, NULL, 80);
	assert_true(c.split_local_origin);
	assert_int_equal(c.consecutive_local_origin, 5);
	c = oeff(&o, "v1", 80);
	assert_true(c.split_local_origin);
	assert_int_equal(c.consecutive_local_origin, 7);
	c = oeff(&o, "v2", 80);
	assert_false(c.split_local_origin);
	assert_int_equal(c.consecutive_local_origin, 0);
	mtest_free(&o);
}

/* ---- block replacement -------------------------------------------------- */

/* A subset's outlierDetection replaces the top level's whole: fields it
 * omits take defaults, not the top level's values. A subset without one (or
 * without a trafficPolicy) inherits the top level's. */
static void test_subset_replaces_block(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {consecutive5xxErrors: 3, interval: 1s}\n"
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy: {outlierDetection: {consecutiveGatewayErrors: 2}}\n"
		   "  - name: v2\n"
		   "    trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
		   "  - name: v3\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	c = oeff(&o, "v1", 80);
	assert_int_equal(c.consecutive_5xx, 5);
	assert_int_equal(c.consecutive_gateway, 2);
	assert_int_equal(c.interval_ns, 10 * SEC);
	assert_int_equal(c.src->line, 10);
	c = oeff(&o, "v2", 80);
	assert_int_equal(c.consecutive_5xx, 3);
	assert_int_equal(c.interval_ns, 1 * SEC);
	assert_5xx(&o, "v3", 80, 3);
	assert_5xx(&o, NULL, 80, 3);
	assert_5xx(&o, "nosuch", 80, 3);
	mtest_free(&o);
}

/* A matching top-level portLevelSettings entry replaces all four blocks: an
 * entry without outlierDetection turns it off on that port. The first entry
 * for a port wins; other ports keep the top level's block. */
static void test_top_port_level_replaces(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {consecutive5xxErrors: 3}\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 80}\n"
		   "      loadBalancer: {simple: RANDOM}\n"
		   "    - port: {number: 81}\n"
		   "      outlierDetection: {consecutiveGatewayErrors: 9}\n"
		   "    - port: {number: 81}\n"
		   "      outlierDetection: {consecutiveGatewayErrors: 1}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_5xx(&o, NULL, 80, -1);
	c = oeff(&o, NULL, 81);
	assert_true(c.enabled);
	assert_int_equal(c.consecutive_5xx, 5);
	assert_int_equal(c.consecutive_gateway, 9);
	assert_5xx(&o, NULL, 82, 3);
	assert_5xx(&o, NULL, 0, 3); /* port unknown: no entry matches */
	mtest_free(&o);
}

/* The subset's own policy goes through its port-level entries first; a
 * matching one replaces even when it sets no outlierDetection. Otherwise the
 * subset's block wins when set, else the (port-resolved) top level's. */
static void test_subset_port_level(void **state)
{
	struct mtest o;

	oparse(&o, DR_HEAD
		   "  trafficPolicy:\n"
		   "    outlierDetection: {consecutive5xxErrors: 3}\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 90}\n"
		   "      outlierDetection: {consecutive5xxErrors: 4}\n"
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy:\n"
		   "      portLevelSettings:\n"
		   "      - port: {number: 80}\n"
		   "        connectionPool: {tcp: {maxConnections: 1}}\n"
		   "      - port: {number: 81}\n"
		   "        outlierDetection: {consecutive5xxErrors: 6}\n"
		   "  - name: v2\n"
		   "    trafficPolicy:\n"
		   "      outlierDetection: {consecutive5xxErrors: 7}\n"
		   "  - name: v3\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_5xx(&o, "v1", 80, -1);
	assert_5xx(&o, "v1", 81, 6);
	assert_5xx(&o, "v1", 82, 3); /* no subset entry, no subset block: top level */
	assert_5xx(&o, "v1", 90, 4); /* top level resolved at its port entry */
	assert_5xx(&o, "v2", 90, 7); /* the subset's block replaces the top's port entry */
	assert_5xx(&o, "v3", 90, 4);
	mtest_free(&o);
}

/* A subset block applies even when the DestinationRule has no top-level
 * trafficPolicy. */
static void test_subset_only(void **state)
{
	struct mtest o;
	struct outlier_config c;

	oparse(&o, DR_HEAD
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy: {outlierDetection: {baseEjectionTime: 1s}}\n"
		   "  - name: v2\n");
	c = oeff(&o, "v1", 80);
	assert_true(c.enabled);
	assert_int_equal(c.base_ejection_ns, 1 * SEC);
	assert_5xx(&o, "v2", 80, -1);
	assert_5xx(&o, NULL, 80, -1);
	mtest_free(&o);
}

/* The lint follows Istio's translation: maxEjectionPercent 0 is Envoy's 10. */
static void test_lint_uses_effective_percent(void **state)
{
	struct ptest t;

	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: reviews}\n"
		      "spec:\n"
		      "  hosts: [reviews.default.svc.cluster.local]\n"
		      "  addresses: [127.100.0.1]\n"
		      "  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
		      "  resolution: STATIC\n"
		      "  endpoints: [{address: 127.0.1.1}, {address: 127.0.1.2}]\n"
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: DestinationRule\n"
		      "metadata: {name: reviews}\n"
		      "spec:\n"
		      "  host: reviews\n"
		      "  trafficPolicy:\n"
		      "    outlierDetection: {maxEjectionPercent: 0}\n",
		      false);
	assert_diag(&t, DIAG_WARNING, 17, 5, "spec.trafficPolicy.outlierDetection",
		    "has 2 endpoints and maxEjectionPercent is 10");
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_block_has_no_errors),
		cmocka_unit_test(test_counts_are_uint32),
		cmocka_unit_test(test_local_origin_needs_split),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_percentages),
		cmocka_unit_test(test_consecutive_errors_deprecated),
		cmocka_unit_test(test_port_level_outlier_validated),
		cmocka_unit_test(test_no_block_disabled),
		cmocka_unit_test(test_empty_block_defaults),
		cmocka_unit_test(test_explicit_values),
		cmocka_unit_test(test_split_local_origin),
		cmocka_unit_test(test_subset_replaces_block),
		cmocka_unit_test(test_top_port_level_replaces),
		cmocka_unit_test(test_subset_port_level),
		cmocka_unit_test(test_subset_only),
		cmocka_unit_test(test_lint_uses_effective_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
