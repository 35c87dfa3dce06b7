// SPDX-License-Identifier: Apache-2.0
/* loadBalancer and connectionPool: Istio's validation rule by rule (one test
 * each, Istio's wording), the fields kept in the model, and the blocks in
 * force for a cluster with Istio's block replacement and defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"
#include "policy/traffic_policy.h"

/* Lines 1-6: the trafficPolicy's blocks start on line 7, 4 columns in. */
#define TP_HEAD                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: reviews, namespace: default}\n"                          \
	"spec:\n"                                                                  \
	"  host: reviews\n"                                                        \
	"  trafficPolicy:\n"

#define MS 1000000ull
#define SEC 1000000000ull

#define LB "spec.trafficPolicy.loadBalancer"
#define CH LB ".consistentHash"
#define LOC LB ".localityLbSetting"
#define TCP "spec.trafficPolicy.connectionPool.tcp"

static void tparse(struct mtest *o, const char *yaml)
{
	mtest_parse(o, yaml);
	assert_non_null(o->dr);
}

/* ---- durations (ValidateDuration: >= 1ms, ms precision) ---------------- */

static void test_tcp_durations(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    connectionPool:\n"
		   "      tcp:\n"
		   "        connectTimeout: 1500us\n"
		   "        maxConnectionDuration: 500us\n"
		   "        tcpKeepalive: {time: 0s, interval: 75s, probes: 9}\n");
	assert_diag(&o.t, DIAG_ERROR, 9, 25, TCP ".connectTimeout", "ms precision");
	assert_diag(&o.t, DIAG_ERROR, 10, 32, TCP ".maxConnectionDuration", "at least 1ms");
	assert_diag(&o.t, DIAG_ERROR, 11, 30, TCP ".tcpKeepalive.time", "at least 1ms");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 3);
	mtest_free(&o);
}

/* tcp.idleTimeout: Istio skips the check when it is 0 in whole ms ("0s"
 * turns it off); the http one has no such exception. */
static void test_idle_timeouts(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    connectionPool:\n"
		   "      tcp: {idleTimeout: 500us}\n"
		   "      http: {idleTimeout: 0s}\n");
	assert_null(ptest_find(&o.t, DIAG_ERROR, TCP ".idleTimeout", NULL));
	assert_diag(&o.t, DIAG_ERROR, 9, 27, "spec.trafficPolicy.connectionPool.http.idleTimeout",
		    "at least 1ms");
	mtest_free(&o);
}

static void test_h2_upgrade_with_client_protocol(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    connectionPool:\n"
		   "      http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 7, "spec.trafficPolicy.connectionPool.http",
		    "use client protocol must not be true when H2UpgradePolicy is UPGRADE");
	mtest_free(&o);
}

static void test_max_connections_int32(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    connectionPool:\n"
		   "      tcp: {maxConnections: 2147483648}\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 29, TCP ".maxConnections", "does not fit in int32");
	mtest_free(&o);
}

/* ---- consistentHash ---------------------------------------------------- */

/* Each subset's policy holds one tableSize. */
static void test_maglev_table_size(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 0}}}\n"
		   "  subsets:\n"
		   "  - name: a\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {}}}}\n"
		   "  - name: b\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 5000011}}}}\n"
		   "  - name: c\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65535}}}}\n"
		   "  - name: d\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1}}}}\n"
		   "  - name: e\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 4999999}}}}\n");
	assert_diag(&o.t, DIAG_ERROR, 7, 76, CH ".maglev.tableSize", "tableSize must be set for maglev");
	assert_diag(&o.t, DIAG_ERROR, 10, 72, "spec.subsets[0].trafficPolicy.loadBalancer."
		    "consistentHash.maglev", "tableSize must be set for maglev");
	assert_diag(&o.t, DIAG_ERROR, 12, 92, "spec.subsets[1].trafficPolicy.loadBalancer."
		    "consistentHash.maglev.tableSize", "must be less than 5000011");
	assert_diag(&o.t, DIAG_ERROR, 14, 92, "spec.subsets[2].trafficPolicy.loadBalancer."
		    "consistentHash.maglev.tableSize", "must be a prime number for maglev");
	/* 1 passes: Istio copies Envoy's isPrime, which calls 1 prime; 4999999
	 * is the largest prime below the limit. */
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 4);
	assert_int_equal(o.dr->subsets[3].tp.lb.maglev_table_size, 1);
	assert_int_equal(o.dr->subsets[4].tp.lb.maglev_table_size, 4999999);
	mtest_free(&o);
}

/* The hash key is a protobuf oneof; none at all is accepted. */
static void test_hash_key_oneof(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      consistentHash: {httpHeaderName: x-user, httpQueryParameterName: u}\n"
		   "  subsets:\n"
		   "  - name: a\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {ringHash: {minimumRingSize: 8}}}}\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 7, CH, "only one of httpHeaderName, httpCookie");
	assert_diag(&o.t, DIAG_WARNING, 11, 36, "spec.subsets[0].trafficPolicy.loadBalancer."
		    "consistentHash", "no hash key");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

static void test_ring_hash_and_maglev_oneof(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      consistentHash: {useSourceIp: true, ringHash: {}, maglev: {tableSize: 7}}\n");
	assert_diag(&o.t, DIAG_ERROR, 8, 7, CH, "only one of ringHash or maglev");
	mtest_free(&o);
}

static void test_deprecated_minimum_ring_size(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 64}}\n"
		   "  subsets:\n"
		   "  - name: a\n"
		   "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 64, maglev: {tableSize: 7}}}}\n");
	assert_diag(&o.t, DIAG_WARNING, 7, 56, CH ".minimumRingSize", "deprecated");
	assert_diag(&o.t, DIAG_ERROR, 10, 36, "spec.subsets[0].trafficPolicy.loadBalancer."
		    "consistentHash", "only one of MinimumRingSize or Maglev/Ringhash");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

static void test_http_cookie(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      consistentHash:\n"
		   "        httpCookie:\n"
		   "          ttl: 0s\n"
		   "          attributes: [{name: SameSite, value: Strict}, {value: x}, {name: SameSite}]\n");
	assert_diag(&o.t, DIAG_ERROR, 9, 9, CH ".httpCookie", "name required for HttpCookie");
	assert_diag(&o.t, DIAG_ERROR, 11, 57, CH ".httpCookie.attributes[1].name",
		    "cookie attribute name cannot be empty");
	assert_diag(&o.t, DIAG_ERROR, 11, 76, CH ".httpCookie.attributes[2].name",
		    "duplicate cookie attribute name: SameSite");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 3);
	mtest_free(&o);
}

/* ---- localityLbSetting --------------------------------------------------- */

static void test_locality_weights(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        distribute:\n"
		   "        - {from: us-east, to: {us-east: 0, us-west: 100}}\n"
		   "        - {from: eu, to: {eu/a: 60, eu/b: 30}}\n");
	assert_diag(&o.t, DIAG_ERROR, 10, 41, LOC ".distribute[0].to.us-east",
		    "locality weight must be in range [1, 100]");
	assert_diag(&o.t, DIAG_ERROR, 11, 26, LOC ".distribute[1].to", "total locality weight 90 != 100");
	mtest_free(&o);
}

/* validateLocalities: a later locality inside an earlier one is refused;
 * Istio's map makes this order-dependent: a zone wildcard after a zone of
 * the same region passes. */
static void test_locality_overlap(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        distribute:\n"
		   "        - {from: us, to: {us/*: 50, us/z1: 50}}\n"
		   "        - {from: us/z1/s1, to: {eu/z1: 50, eu/*: 50}}\n"
		   "        - {from: 'ap/*', to: {ap/z/s/t: 50, ap/z/s: 50}}\n");
	assert_diag(&o.t, DIAG_ERROR, 10, 37, LOC ".distribute[0].to.us/z1",
		    "locality us/z1 overlap with previous specified ones");
	assert_diag(&o.t, DIAG_ERROR, 11, 18, LOC ".distribute[1].from",
		    "locality us/z1/s1 overlap with previous specified ones");
	/* The eu wildcard after eu/z1, and ap/z/s after ap/z/s/t (subzone
	 * "s/t"), pass. */
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 2);
	mtest_free(&o);
}

static void test_locality_syntax(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        distribute:\n"
		   "        - {from: 'us*', to: {'*': 100}}\n"
		   "        - {from: us//z, to: {eu/*/a: 100}}\n"
		   "        - {from: '*', to: {eu: 100}}\n"
		   "        - {from: eu, to: {eu: 100}}\n"
		   "        - {to: {eu: 100}}\n");
	/* "us*" ends in its only '*': accepted, as in Istio. */
	assert_diag(&o.t, DIAG_ERROR, 11, 18, LOC ".distribute[1].from",
		    "locality us//z must not contain empty region/zone/subzone info");
	assert_diag(&o.t, DIAG_ERROR, 11, 30, LOC ".distribute[1].to.eu/*/a",
		    "wildcard '*' number can not exceed 1 and must be in the end");
	mtest_free(&o);
}

/* Istio reports the first bad locality of each list and stops: the froms
 * after "us//z" are not checked. */
static void test_locality_from_after_wildcard(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        distribute:\n"
		   "        - {from: '*', to: {eu: 100}}\n"
		   "        - {from: eu, to: {eu: 100}}\n"
		   "        - {to: {eu: 100}}\n");
	assert_diag(&o.t, DIAG_ERROR, 11, 18, LOC ".distribute[1].from",
		    "locality eu overlap with previous specified ones");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

/* Localities have no length limit: a 300-character region is a region. */
static void test_locality_long_region(void **state)
{
	char region[301], yaml[1024];
	struct mtest o;

	memset(region, 'r', 300);
	region[300] = '\0';
	snprintf(yaml, sizeof(yaml), TP_HEAD
		 "    loadBalancer:\n"
		 "      localityLbSetting:\n"
		 "        distribute:\n"
		 "        - {from: %s/z1, to: {eu: 100}}\n"
		 "        - {from: %s/z2, to: {eu: 100}}\n", region, region);
	tparse(&o, yaml);
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 0);
	mtest_free(&o);
	snprintf(yaml, sizeof(yaml), TP_HEAD
		 "    loadBalancer:\n"
		 "      localityLbSetting:\n"
		 "        distribute:\n"
		 "        - {from: %s, to: {eu: 100}}\n"
		 "        - {from: %s/z, to: {eu: 100}}\n", region, region);
	tparse(&o, yaml);
	assert_diag(&o.t, DIAG_ERROR, 11, 18, LOC ".distribute[1].from", "overlap with previous");
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

static void test_locality_from_unset(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        distribute:\n"
		   "        - {to: {eu: 100}}\n");
	assert_diag(&o.t, DIAG_ERROR, 10, 11, LOC ".distribute[0]",
		    "must not contain empty region/zone/subzone info");
	mtest_free(&o);
}

static void test_failover_priority_topology(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    outlierDetection: {consecutive5xxErrors: 5}\n"
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        failover: [{from: us, to: eu}]\n"
		   "        failoverPriority: [my-label, topology.kubernetes.io/zone]\n"
		   "  subsets:\n"
		   "  - name: a\n"
		   "    trafficPolicy:\n"
		   "      outlierDetection: {consecutive5xxErrors: 5}\n"
		   "      loadBalancer: {localityLbSetting: {failoverPriority: [topology.kubernetes.io/zone]}}\n");
	assert_diag(&o.t, DIAG_ERROR, 9, 7, LOC,
		    "can not simultaneously set 'failover' and topology label "
		    "'topology.kubernetes.io/zone' in 'failover_priority'");
	/* Without failover, topology labels are what failoverPriority is for. */
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 1);
	mtest_free(&o);
}

/* A warning at the top level; Istio drops warnings at port level. */
static void test_failover_needs_outlier_detection(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer: {localityLbSetting: {failoverPriority: [my-label]}}\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 80}\n"
		   "      loadBalancer: {localityLbSetting: {failover: [{from: us, to: eu}]}}\n");
	assert_diag(&o.t, DIAG_WARNING, 7, 20, LOC,
		    "outlier detection policy must be provided for failover");
	assert_int_equal(ptest_count(&o.t, DIAG_WARNING), 1);
	assert_no_diag(&o.t, DIAG_ERROR);
	mtest_free(&o);
}

static void test_locality_enabled_kept(void **state)
{
	struct mtest o;
	const struct locality_lb *l;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      localityLbSetting:\n"
		   "        enabled: false\n"
		   "        distribute: [{from: us/z1, to: {us/z1: 70, us/z2: 30}}]\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	l = &o.dr->tp.lb.locality;
	assert_true(l->present && l->has_enabled && !l->enabled);
	assert_int_equal(l->n_distribute, 1);
	assert_string_equal(l->distribute[0].from, "us/z1");
	assert_int_equal(l->distribute[0].n_to, 2);
	assert_string_equal(l->distribute[0].to[1].locality, "us/z2");
	assert_int_equal(l->distribute[0].to[1].weight, 30);
	mtest_free(&o);
}

/* ---- the rest of loadBalancer and trafficPolicy ------------------------ */

static void test_warmup(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    loadBalancer:\n"
		   "      simple: ROUND_ROBIN\n"
		   "      warmup: {minimumPercent: 101, aggression: 0}\n"
		   "  subsets:\n"
		   "  - name: a\n"
		   "    trafficPolicy: {loadBalancer: {warmupDurationSecs: 0s, warmup: {duration: 1500us}}}\n");
	assert_diag(&o.t, DIAG_ERROR, 9, 7, LB ".warmup", "duration is required");
	assert_diag(&o.t, DIAG_ERROR, 9, 32, LB ".warmup.minimumPercent",
		    "minimumPercent value should be less than or equal to 100");
	assert_diag(&o.t, DIAG_ERROR, 9, 49, LB ".warmup.aggression",
		    "aggression should be greater than 0");
	assert_diag(&o.t, DIAG_ERROR, 12, 79, "spec.subsets[0].trafficPolicy.loadBalancer.warmup."
		    "duration", "ms precision");
	/* warmupDurationSecs is not checked by Istio: 0s passes. */
	assert_int_equal(ptest_count(&o.t, DIAG_ERROR), 4);
	mtest_free(&o);
}

static void test_tunnel_and_proxy_protocol(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    tunnel: {protocol: GET, targetHost: bad_host, targetPort: 0}\n"
		   "    proxyProtocol: {version: V3}\n");
	assert_diag(&o.t, DIAG_ERROR, 7, 5, "spec.trafficPolicy",
		    "tunnel and proxyProtocol must not be set together");
	assert_diag(&o.t, DIAG_ERROR, 7, 24, "spec.trafficPolicy.tunnel.protocol",
		    "tunnel protocol must be \"CONNECT\" or \"POST\"");
	assert_diag(&o.t, DIAG_ERROR, 7, 41, "spec.trafficPolicy.tunnel.targetHost",
		    "tunnel target host must be valid FQDN or IP address");
	assert_diag(&o.t, DIAG_ERROR, 7, 63, "spec.trafficPolicy.tunnel.targetPort", "1..65535");
	assert_diag(&o.t, DIAG_ERROR, 8, 30, "spec.trafficPolicy.proxyProtocol.version",
		    "unknown value \"V3\"");
	mtest_free(&o);
}

static void test_port_level_port_zero(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    portLevelSettings:\n"
		   "    - port: {number: 0}\n"
		   "      loadBalancer: {simple: RANDOM}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_diag(&o.t, DIAG_WARNING, 8, 22, "spec.trafficPolicy.portLevelSettings[0].port.number",
		    "matches no service port");
	mtest_free(&o);
}

/* Everything above, written right: no error, no warning. */
static void test_valid_policy_is_clean(void **state)
{
	struct mtest o;

	tparse(&o, TP_HEAD
		   "    outlierDetection: {consecutive5xxErrors: 3}\n"
		   "    connectionPool:\n"
		   "      tcp:\n"
		   "        maxConnections: 100\n"
		   "        connectTimeout: 250ms\n"
		   "        tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}\n"
		   "        maxConnectionDuration: 1h\n"
		   "        idleTimeout: 0s\n"
		   "      http: {h2UpgradePolicy: UPGRADE, idleTimeout: 1s}\n"
		   "    loadBalancer:\n"
		   "      consistentHash:\n"
		   "        httpCookie: {name: user, ttl: 0s, attributes: [{name: SameSite}]}\n"
		   "        ringHash: {minimumRingSize: 1024}\n"
		   "      localityLbSetting:\n"
		   "        failover: [{from: us, to: eu}]\n"
		   "        failoverPriority: [my-label]\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 80}\n"
		   "      loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}\n");
	assert_no_diag(&o.t, DIAG_ERROR);
	assert_no_diag(&o.t, DIAG_WARNING);
	mtest_free(&o);
}

/* ---- effective config: defaults ---------------------------------------- */

static void test_defaults_without_policy(void **state)
{
	struct conn_config c;
	struct lb_config l;

	lb_effective(NULL, NULL, 80, &l);
	conn_effective(NULL, NULL, 80, &c);
	assert_int_equal(l.algo, LB_ALGO_LEAST_REQUEST);
	assert_null(l.src);
	assert_null(l.locality);
	assert_int_equal(c.max_connections, UINT32_MAX);
	assert_int_equal(c.connect_timeout_ns, 10 * SEC);
	assert_int_equal(c.idle_timeout_ns, 3600 * SEC);
	assert_int_equal(c.max_duration_ns, 0);
	assert_false(c.keepalive);
	assert_null(c.src);
}

static void test_lb_translation(void **state)
{
	struct mtest o;
	struct lb_config l;

	tparse(&o, TP_HEAD
		   "    loadBalancer: {simple: LEAST_CONN}\n"
		   "  subsets:\n"
		   "  - {name: pass, trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}}\n"
		   "  - {name: rr, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n"
		   "  - {name: ring, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-u}}}}\n"
		   "  - {name: old, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 64}}}}\n"
		   "  - {name: mag, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 7}}}}}\n");
	lb_effective(o.dr, NULL, 80, &l);
	assert_int_equal(l.algo, LB_ALGO_LEAST_REQUEST); /* LEAST_CONN is its alias */
	assert_int_equal(l.src->line, 7);
	lb_effective(o.dr, "pass", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_PASSTHROUGH);
	lb_effective(o.dr, "rr", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_ROUND_ROBIN);
	lb_effective(o.dr, "ring", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_RING_HASH);
	assert_int_equal(l.ring_min_size, 1024); /* Envoy's default */
	assert_int_equal(l.hash_key, HASH_KEY_HEADER);
	assert_string_equal(l.hash_name, "x-u");
	lb_effective(o.dr, "old", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_RING_HASH);
	assert_int_equal(l.ring_min_size, 64);
	assert_int_equal(l.hash_key, HASH_KEY_SOURCE_IP);
	lb_effective(o.dr, "mag", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_MAGLEV);
	assert_int_equal(l.maglev_table_size, 7);
	mtest_free(&o);
}

static void test_conn_translation(void **state)
{
	struct mtest o;
	struct conn_config c;

	tparse(&o, TP_HEAD
		   "    connectionPool:\n"
		   "      tcp:\n"
		   "        maxConnections: 3\n"
		   "        connectTimeout: 1s\n"
		   "        tcpKeepalive: {time: 30s, probes: 4}\n"
		   "        maxConnectionDuration: 90s\n"
		   "        idleTimeout: 0s\n"
		   "  subsets:\n"
		   "  - {name: zero, trafficPolicy: {connectionPool: {tcp: {maxConnections: 0}}}}\n");
	conn_effective(o.dr, NULL, 80, &c);
	assert_int_equal(c.max_connections, 3);
	assert_int_equal(c.connect_timeout_ns, SEC);
	assert_true(c.keepalive);
	assert_int_equal(c.keepalive_time_ns, 30 * SEC);
	assert_int_equal(c.keepalive_interval_ns, 0); /* the kernel's */
	assert_int_equal(c.keepalive_probes, 4);
	assert_int_equal(c.max_duration_ns, 90 * SEC);
	assert_int_equal(c.idle_timeout_ns, 0); /* "0s": off */
	/* Istio sets the threshold only when > 0: 0 is no limit. */
	conn_effective(o.dr, "zero", 80, &c);
	assert_int_equal(c.max_connections, UINT32_MAX);
	assert_int_equal(c.connect_timeout_ns, 10 * SEC);
	mtest_free(&o);
}

/* ---- effective config: block replacement ------------------------------- */

/* A subset's block replaces the top level's whole: fields are not merged. */
static void test_subset_block_replaces_top_level(void **state)
{
	struct mtest o;
	struct conn_config c;
	struct lb_config l;

	tparse(&o, TP_HEAD
		   "    connectionPool: {tcp: {maxConnections: 10, connectTimeout: 2s}}\n"
		   "    loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 7}}}\n"
		   "  subsets:\n"
		   "  - {name: v1, trafficPolicy: {connectionPool: {tcp: {connectTimeout: 1s}}}}\n"
		   "  - {name: v2, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n");
	conn_effective(o.dr, "v1", 80, &c);
	assert_int_equal(c.connect_timeout_ns, SEC);
	assert_int_equal(c.max_connections, UINT32_MAX); /* not the top level's 10 */
	assert_int_equal(c.src->line, 10);
	lb_effective(o.dr, "v1", 80, &l); /* v1 sets no loadBalancer: the top level's */
	assert_int_equal(l.algo, LB_ALGO_MAGLEV);
	lb_effective(o.dr, "v2", 80, &l);
	assert_int_equal(l.algo, LB_ALGO_ROUND_ROBIN);
	assert_int_equal(l.maglev_table_size, 0);
	conn_effective(o.dr, "v2", 80, &c);
	assert_int_equal(c.max_connections, 10);
	conn_effective(o.dr, "v9", 80, &c); /* unknown subset: the top level */
	assert_int_equal(c.max_connections, 10);
	mtest_free(&o);
}

/* A matching port entry replaces all blocks, those it leaves unset too. */
static void test_port_level_replaces_all_blocks(void **state)
{
	struct mtest o;
	struct conn_config c;
	struct lb_config l;

	tparse(&o, TP_HEAD
		   "    connectionPool: {tcp: {maxConnections: 10}}\n"
		   "    loadBalancer: {simple: RANDOM}\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 9080}\n"
		   "      loadBalancer: {simple: ROUND_ROBIN}\n");
	lb_effective(o.dr, NULL, 9080, &l);
	conn_effective(o.dr, NULL, 9080, &c);
	assert_int_equal(l.algo, LB_ALGO_ROUND_ROBIN);
	assert_int_equal(c.max_connections, UINT32_MAX); /* default, not 10 */
	assert_null(c.src);
	lb_effective(o.dr, NULL, 80, &l);
	conn_effective(o.dr, NULL, 80, &c);
	assert_int_equal(l.algo, LB_ALGO_RANDOM);
	assert_int_equal(c.max_connections, 10);
	lb_effective(o.dr, NULL, 0, &l); /* port unknown: no entry matches */
	assert_int_equal(l.algo, LB_ALGO_RANDOM);
	mtest_free(&o);
}

/* A subset's port entry beats the subset's blocks and the top level's
 * (its own and its port entry's). */
static void test_subset_port_level_wins(void **state)
{
	struct mtest o;
	struct tp_blocks b;
	struct conn_config c;
	struct lb_config l;

	tparse(&o, TP_HEAD
		   "    connectionPool: {tcp: {maxConnections: 10}}\n"
		   "    portLevelSettings:\n"
		   "    - port: {number: 9080}\n"
		   "      connectionPool: {tcp: {maxConnections: 20}}\n"
		   "  subsets:\n"
		   "  - name: v1\n"
		   "    trafficPolicy:\n"
		   "      loadBalancer: {simple: RANDOM}\n"
		   "      portLevelSettings:\n"
		   "      - port: {number: 9080}\n"
		   "        outlierDetection: {consecutive5xxErrors: 2}\n");
	conn_effective(o.dr, NULL, 9080, &c);
	assert_int_equal(c.max_connections, 20);
	conn_effective(o.dr, "v1", 9080, &c);
	assert_int_equal(c.max_connections, UINT32_MAX);
	lb_effective(o.dr, "v1", 9080, &l);
	assert_int_equal(l.algo, LB_ALGO_LEAST_REQUEST);
	traffic_policy_blocks(o.dr, "v1", 9080, &b);
	assert_non_null(b.od);
	assert_null(b.lb);
	assert_null(b.cp);
	/* Another port: the subset's loadBalancer over the top level's pool. */
	lb_effective(o.dr, "v1", 80, &l);
	conn_effective(o.dr, "v1", 80, &c);
	assert_int_equal(l.algo, LB_ALGO_RANDOM);
	assert_int_equal(c.max_connections, 10);
	mtest_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_durations),
		cmocka_unit_test(test_idle_timeouts),
		cmocka_unit_test(test_h2_upgrade_with_client_protocol),
		cmocka_unit_test(test_max_connections_int32),
		cmocka_unit_test(test_maglev_table_size),
		cmocka_unit_test(test_hash_key_oneof),
		cmocka_unit_test(test_ring_hash_and_maglev_oneof),
		cmocka_unit_test(test_deprecated_minimum_ring_size),
		cmocka_unit_test(test_http_cookie),
		cmocka_unit_test(test_locality_weights),
		cmocka_unit_test(test_locality_overlap),
		cmocka_unit_test(test_locality_syntax),
		cmocka_unit_test(test_locality_from_after_wildcard),
		cmocka_unit_test(test_locality_long_region),
		cmocka_unit_test(test_locality_from_unset),
		cmocka_unit_test(test_failover_priority_topology),
		cmocka_unit_test(test_failover_needs_outlier_detection),
		cmocka_unit_test(test_locality_enabled_kept),
		cmocka_unit_test(test_warmup),
		cmocka_unit_test(test_tunnel_and_proxy_protocol),
		cmocka_unit_test(test_port_level_port_zero),
		cmocka_unit_test(test_valid_policy_is_clean),
		cmocka_unit_test(test_defaults_without_policy),
		cmocka_unit_test(test_lb_translation),
		cmocka_unit_test(test_conn_translation),
		cmocka_unit_test(test_subset_block_replaces_top_level),
		cmocka_unit_test(test_port_level_replaces_all_blocks),
		cmocka_unit_test(test_subset_port_level_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
