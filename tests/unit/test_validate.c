// SPDX-License-Identifier: Apache-2.0
/* Istio's admission rules, field by field: each test feeds one mistake and
 * asserts the diagnostic's file:line:col, field path and level. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

/* 12 lines: reviews on 127.100.0.1:80, v1 x2, v2 x1. */
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
	"  - {address: 127.0.1.1, labels: {version: v1}}\n"                        \
	"  - {address: 127.0.1.2, labels: {version: v1}}\n"                        \
	"  - {address: 127.0.1.3, labels: {version: v2}}\n"

/* Lines 13-18: a DestinationRule header; its spec starts on line 18. */
#define DR                                                                         \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  host: reviews\n"

/* Lines 13-18: a VirtualService header; the route list follows on line 19. */
#define VS                                                                         \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: VirtualService\n"                                                   \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  hosts: [reviews]\n"

/* A one-document ServiceEntry whose spec is given (spec: on line 4). */
#define SE_SPEC(body)                                                              \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: x}\n"                                                    \
	"spec:\n" body

#define DEFAULT_SUBSETS                                                            \
	"  subsets:\n"                                                             \
	"  - {name: v1, labels: {version: v1}}\n"                                  \
	"  - {name: v2, labels: {version: v2}}\n"

static void compile(struct ptest *t, const char *yaml)
{
	ptest_compile(t, yaml, false);
}

/* ---- ServiceEntry ------------------------------------------------------ */

static void test_se_hosts_required(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"));
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec.hosts", "at least one host");
	ptest_free(&t);
}

static void test_se_host_rules(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: ['*', bad_host.com, api.example.com., '*.example.com', local]\n"
			    "  ports: [{number: 80, name: tcp}]\n"));
	assert_diag(&t, DIAG_ERROR, 5, 11, "spec.hosts[0]", "invalid host *");
	assert_diag(&t, DIAG_ERROR, 5, 16, "spec.hosts[1]", "lower case alphanumeric");
	assert_diag(&t, DIAG_WARNING, 5, 65, "spec.hosts[4]", "taken literally");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 2);
	ptest_free(&t);
}

static void test_se_addresses(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  addresses: [300.1.1.1, 10.0.0.0/8, 10.1.1.1/32, 'fd00::1', 10.2.2.2/33]\n"
			    "  ports: [{number: 80, name: tcp}]\n"
			    "  resolution: STATIC\n"
			    "  endpoints: [{address: 127.0.0.9}]\n"));
	assert_diag(&t, DIAG_ERROR, 6, 15, "spec.addresses[0]", "not a valid IP address or CIDR");
	assert_diag(&t, DIAG_UNENFORCED, 6, 26, "spec.addresses[1]", "/32");
	assert_diag(&t, DIAG_ERROR, 6, 62, "spec.addresses[4]", "not a valid IP address or CIDR");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 2);
	/* 10.1.1.1/32 and fd00::1 are VIPs: only 10.0.0.0/8 is skipped. */
	assert_int_equal(ptest_count(&t, DIAG_UNENFORCED), 1);
	ptest_free(&t);
}

static void test_se_port_number_range(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  ports:\n"
			    "  - {number: 0, name: a}\n"
			    "  - {number: 70000, name: b}\n"
			    "  - {name: c}\n"
			    "  - {number: 81, name: d, targetPort: 0}\n"));
	assert_diag(&t, DIAG_ERROR, 7, 14, "spec.ports[0].number", "out of range 1..65535");
	assert_diag(&t, DIAG_ERROR, 8, 14, "spec.ports[1].number", "out of range 1..65535");
	assert_diag(&t, DIAG_ERROR, 9, 5, "spec.ports[2]", "port number is required");
	assert_diag(&t, DIAG_ERROR, 10, 39, "spec.ports[3].targetPort", "out of range");
	ptest_free(&t);
}

static void test_se_port_duplicates_and_names(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  ports:\n"
			    "  - {number: 80, name: http, protocol: HTTP}\n"
			    "  - {number: 80, name: web, protocol: HTTP}\n"
			    "  - {number: 81, name: http, protocol: http2}\n"
			    "  - {number: 82, name: Admin_Port, protocol: SCTP}\n"
			    "  - {number: 83}\n"
			    "  - {number: 53, name: dns, protocol: UDP}\n"));
	assert_diag(&t, DIAG_ERROR, 8, 5, "spec.ports[1]", "port number 80 is duplicated (line 7)");
	assert_diag(&t, DIAG_ERROR, 9, 5, "spec.ports[2]", "port name http is duplicated");
	assert_diag(&t, DIAG_ERROR, 10, 24, "spec.ports[3].name", "invalid port name");
	assert_diag(&t, DIAG_ERROR, 10, 46, "spec.ports[3].protocol", "unsupported protocol \"SCTP\"");
	assert_diag(&t, DIAG_ERROR, 11, 5, "spec.ports[4]", "port name is required");
	assert_null(ptest_find(&t, DIAG_NOTE, "spec.ports[5]", NULL)); /* UDP is intercepted */
	/* Protocol names are case-insensitive, as Istio's protocol.Parse. */
	assert_null(ptest_find(&t, DIAG_ERROR, "spec.ports[2].protocol", NULL));
	ptest_free(&t);
}

static void test_se_selector_xor_endpoints(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  ports: [{number: 80, name: tcp}]\n"
			    "  workloadSelector: {labels: {app: a, tier: '*'}}\n"
			    "  endpoints: [{address: 127.0.0.9}]\n"));
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec.workloadSelector", "only one of workloadSelector");
	assert_diag(&t, DIAG_ERROR, 7, 39, "spec.workloadSelector.labels.tier", "wildcard");
	ptest_free(&t);
}

static void test_se_resolution_rules(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  addresses: [10.0.0.0/24]\n"
			    "  ports: [{number: 80, name: tcp}]\n"
			    "  resolution: DNS\n"
			    "  endpoints: [{address: db.example.com}, {address: 'unix:///var/run/x.sock'}]\n"
			    "---\n"
			    "apiVersion: networking.istio.io/v1\n"
			    "kind: ServiceEntry\n"
			    "metadata: {name: y}\n"
			    "spec:\n"
			    "  hosts: [b.example.com]\n"
			    "  ports: [{number: 80, name: tcp}]\n"
			    "  resolution: STATIC\n"
			    "  endpoints: [{address: db.example.com}]\n"));
	assert_diag(&t, DIAG_ERROR, 6, 15, "spec.addresses[0]", "only for NONE/STATIC");
	assert_diag(&t, DIAG_UNENFORCED, 9, 15, "spec.endpoints[0]", "needs DNS resolution");
	assert_diag(&t, DIAG_UNENFORCED, 9, 42, "spec.endpoints[1]", "unix domain socket");
	assert_diag(&t, DIAG_ERROR, 18, 15, "spec.endpoints[0]", "must be an IP address");
	ptest_free(&t);
}

static void test_endpoint_fields(void **state)
{
	struct ptest t;

	compile(&t, SE_SPEC("  hosts: [a.example.com]\n"
			    "  ports: [{number: 80, name: tcp}]\n"
			    "  endpoints:\n"
			    "  - address: 127.0.0.9\n"
			    "    weight: -1\n"
			    "    ports: {tcp: 0}\n"
			    "    locality: us/east/1a/rack7\n"
			    "    labels: {'-bad': x, ok: 'not valid value'}\n"
			    "  - {weight: 2}\n"));
	assert_diag(&t, DIAG_ERROR, 9, 13, "spec.endpoints[0].weight", "out of range 0..4294967295");
	assert_diag(&t, DIAG_ERROR, 10, 18, "spec.endpoints[0].ports.tcp", "out of range 1..65535");
	assert_diag(&t, DIAG_ERROR, 11, 15, "spec.endpoints[0].locality", "region/zone/subzone");
	assert_diag(&t, DIAG_ERROR, 12, 14, "spec.endpoints[0].labels.-bad", "invalid label key");
	assert_diag(&t, DIAG_ERROR, 12, 29, "spec.endpoints[0].labels.ok", "invalid label value");
	assert_diag(&t, DIAG_ERROR, 13, 5, "spec.endpoints[1].address", "address must be set");
	ptest_free(&t);
}

static void test_workload_entry_fields(void **state)
{
	struct ptest t;

	compile(&t, "apiVersion: networking.istio.io/v1\n"
		    "kind: WorkloadEntry\n"
		    "metadata: {name: vm}\n"
		    "spec:\n"
		    "  address: '*.example.com'\n"
		    "  serviceAccount: Bad_SA\n"
		    "---\n"
		    "apiVersion: networking.istio.io/v1\n"
		    "kind: WorkloadEntry\n"
		    "metadata: {name: vm2}\n"
		    "spec: {address: '2001:db8::1', serviceAccount: sa}\n");
	assert_diag(&t, DIAG_ERROR, 5, 12, "spec.address", "wildcard");
	assert_diag(&t, DIAG_ERROR, 6, 19, "spec.serviceAccount", "is invalid");
	/* serviceAccount is kept: the identity's (issue 15). */
	assert_null(ptest_find(&t, DIAG_UNENFORCED, "spec.serviceAccount", NULL));
	ptest_free(&t);
}

static void test_metadata_rules(void **state)
{
	struct ptest t;

	compile(&t, "apiVersion: networking.istio.io/v1\n"
		    "kind: ServiceEntry\n"
		    "metadata: {name: My_SE, namespace: Prod.ns}\n"
		    "spec: {hosts: [a.b.c], ports: [{number: 1, name: a}]}\n");
	assert_diag(&t, DIAG_ERROR, 3, 18, "metadata.name", "invalid name");
	assert_diag(&t, DIAG_ERROR, 3, 36, "metadata.namespace", "invalid namespace");
	ptest_free(&t);
}

/* ---- VirtualService ---------------------------------------------------- */

static void test_vs_hosts_required(void **state)
{
	struct ptest t;

	compile(&t, SE VS "  tcp: [{route: [{destination: {host: reviews}}]}]\n"
		    "---\n"
		    "apiVersion: networking.istio.io/v1\n"
		    "kind: VirtualService\n"
		    "metadata: {name: nohosts}\n"
		    "spec:\n"
		    "  hosts: []\n"
		    "  tcp: [{route: [{destination: {host: reviews}}]}]\n");
	assert_diag(&t, DIAG_ERROR, 25, 3, "spec.hosts", "at least one host");
	ptest_free(&t);
}

static void test_vs_wildcard_host_for_mesh(void **state)
{
	struct ptest t;

	compile(&t, SE VS "  tcp: [{route: [{destination: {host: reviews}}]}]\n"
		    "---\n"
		    "apiVersion: networking.istio.io/v1\n"
		    "kind: VirtualService\n"
		    "metadata: {name: all}\n"
		    "spec:\n"
		    "  hosts: ['*', '*.example.com', 'bad..host']\n"
		    "  tcp: [{route: [{destination: {host: reviews}}]}]\n");
	assert_diag(&t, DIAG_ERROR, 25, 11, "spec.hosts[0]", "not allowed for virtual services");
	assert_diag(&t, DIAG_WARNING, 25, 16, "spec.hosts[1]", "matches no service");
	assert_diag(&t, DIAG_ERROR, 25, 33, "spec.hosts[2]", "invalid host");
	ptest_free(&t);
}

static void test_vs_needs_routes(void **state)
{
	struct ptest t;

	compile(&t, SE VS);
	assert_diag(&t, DIAG_ERROR, 18, 3, "spec", "http, tcp or tls must be provided");
	ptest_free(&t);
	compile(&t, SE VS "  http:\n  - name: nothing\n  tcp:\n  - match: [{port: 80}]\n");
	assert_diag(&t, DIAG_ERROR, 20, 5, "spec.http[0].route", "HTTP route or redirect is required");
	assert_diag(&t, DIAG_ERROR, 22, 5, "spec.tcp[0].route", "TCP route is required");
	ptest_free(&t);
}

static void test_vs_negative_weight(void **state)
{
	struct ptest t;

	compile(&t, SE DR DEFAULT_SUBSETS VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - destination: {host: reviews, subset: v1}\n"
		    "      weight: -10\n"
		    "    - destination: {host: reviews, subset: v2}\n"
		    "      weight: 110\n");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 31, 15, "spec.tcp[0].route[0].weight", "must be >= 0");
	ptest_free(&t);
}

static void test_vs_zero_weight_sum(void **state)
{
	struct ptest t;

	compile(&t, SE DR DEFAULT_SUBSETS VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - {destination: {host: reviews, subset: v1}, weight: 0}\n"
		    "    - {destination: {host: reviews, subset: v2}}\n");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 29, 5, "spec.tcp[0]", "total destination weight is 0");
	ptest_free(&t);
}

static void test_vs_weight_sum_not_100_is_a_note(void **state)
{
	struct ptest t;

	compile(&t, SE DR DEFAULT_SUBSETS VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - {destination: {host: reviews, subset: v1}, weight: 3}\n"
		    "    - {destination: {host: reviews, subset: v2}, weight: 1}\n");
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_NOTE, 29, 5, "spec.tcp[0]", "weights sum to 4, not 100");
	assert_no_diag(&t, DIAG_WARNING);
	ptest_free(&t);
}

static void test_vs_too_many_destinations(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n"
		    "    - {destination: {host: reviews}, weight: 1}\n");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 29, 21, "spec.tcp[0].route[8].destination", "at most 8 destinations");
	ptest_free(&t);
}

static void test_vs_destination_required(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - weight: 50\n"
		    "    - destination: {subset: v1}\n"
		    "      weight: 50\n"
		    "    - destination: {host: '*'}\n");
	assert_diag(&t, DIAG_ERROR, 21, 7, "spec.tcp[0].route[0].destination", "destination is required");
	assert_diag(&t, DIAG_ERROR, 22, 20, "spec.tcp[0].route[1].destination.host",
		    "destination host is required");
	assert_diag(&t, DIAG_ERROR, 24, 27, "spec.tcp[0].route[2].destination.host",
		    "must not be \"*\"");
	ptest_free(&t);
}

/* Cross-resource findings: Istio's API server accepts the resource (the
 * DestinationRule may be in another file, or arrive later); --strict
 * refuses. */
static void test_vs_undefined_subset_warns(void **state)
{
	static const char *yaml = SE DR DEFAULT_SUBSETS VS
		"  tcp:\n"
		"  - route:\n"
		"    - destination: {host: reviews, subset: v3}\n";
	struct ptest t;

	compile(&t, yaml);
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_WARNING, 30, 20, "spec.tcp[0].route[0].destination",
		    "subset v3 is not defined by any DestinationRule");
	ptest_free(&t);
	ptest_compile(&t, yaml, true);
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 30, 20, "spec.tcp[0].route[0].destination",
		    "subset v3 is not defined by any DestinationRule");
	ptest_free(&t);
}

/* A VirtualService alone (its service defined in another file, or not yet)
 * passes lint. */
static void test_vs_unknown_destination_host(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  tcp:\n"
		    "  - route:\n"
		    "    - {destination: {host: ratings, port: {number: 80}}, weight: 50}\n"
		    "    - {destination: {host: reviews, port: {number: 81}}, weight: 50}\n");
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_WARNING, 21, 21, "spec.tcp[0].route[0].destination",
		    "ratings.default.svc.cluster.local matches no service");
	assert_diag(&t, DIAG_WARNING, 22, 21, "spec.tcp[0].route[1].destination",
		    "has no port 81");
	ptest_free(&t);
}

static void test_vs_alone_passes(void **state)
{
	struct ptest t;

	compile(&t, "apiVersion: networking.istio.io/v1\n"
		    "kind: VirtualService\n"
		    "metadata: {name: reviews}\n"
		    "spec:\n"
		    "  hosts: [reviews]\n"
		    "  tcp: [{route: [{destination: {host: reviews, subset: v1}}]}]\n");
	assert_int_equal(t.ret, 0);
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 0);
	assert_diag(&t, DIAG_WARNING, 5, 11, "spec.hosts[0]", "matches no service");
	ptest_free(&t);
}

static void test_vs_match_port_range(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  tcp:\n"
		    "  - match: [{port: 0}]\n"
		    "    route: [{destination: {host: reviews}}]\n");
	assert_diag(&t, DIAG_ERROR, 20, 20, "spec.tcp[0].match[0].port", "out of range 1..65535");
	ptest_free(&t);
}

static void test_vs_request_level_route_fields(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  http:\n"
		    "  - route: [{destination: {host: reviews}, headers: {request: {set: {a: b}}}}]\n"
		    "    retries: {attempts: 3, perTryTimeout: 2s}\n"
		    "    timeout: 5s\n"
		    "    fault: {abort: {httpStatus: 503}}\n"
		    "    mirror: {host: reviews}\n"
		    "    mirrorPercentage: {value: 50.0}\n"
		    "    rewrite: {uri: /}\n"
		    "    headers: {request: {add: {x: y}}}\n"
		    "    corsPolicy: {allowOrigins: [{exact: x}]}\n");
	assert_diag(&t, DIAG_UNENFORCED, 20, 44, "spec.http[0].route[0].headers", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 21, 5, "spec.http[0].retries", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 22, 5, "spec.http[0].timeout", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 23, 5, "spec.http[0].fault", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 24, 5, "spec.http[0].mirror", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 25, 5, "spec.http[0].mirrorPercentage", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 26, 5, "spec.http[0].rewrite", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 27, 5, "spec.http[0].headers", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 28, 5, "spec.http[0].corsPolicy", "HTTP requests");
	assert_int_equal(t.ret, 0);
	ptest_free(&t);
}

static void test_vs_request_field_values_checked(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  http:\n"
		    "  - route: [{destination: {host: reviews}}]\n"
		    "    retries: {attempts: -1, perTryTimeout: 0.1ms}\n"
		    "    timeout: 1y\n"
		    "    mirrorPercentage: {value: 101}\n");
	assert_diag(&t, DIAG_ERROR, 21, 25, "spec.http[0].retries.attempts", "negative");
	assert_diag(&t, DIAG_ERROR, 21, 44, "spec.http[0].retries.perTryTimeout", "at least 1ms");
	assert_diag(&t, DIAG_ERROR, 22, 14, "spec.http[0].timeout", "invalid duration");
	assert_diag(&t, DIAG_ERROR, 23, 31, "spec.http[0].mirrorPercentage.value", "0..100");
	ptest_free(&t);
}

static void test_vs_match_fields_unenforced(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  tcp:\n"
		    "  - match:\n"
		    "    - sourceLabels: {app: web}\n"
		    "    - destinationSubnets: [10.0.0.0/8]\n"
		    "      sourceNamespace: prod\n"
		    "    route: [{destination: {host: reviews}}]\n"
		    "  http:\n"
		    "  - match:\n"
		    "    - headers: {x-canary: {exact: 'true'}}\n"
		    "      ignoreUriCase: true\n"
		    "    route: [{destination: {host: reviews}}]\n"
		    "  tls:\n"
		    "  - match: [{sniHosts: [reviews]}]\n"
		    "    route: [{destination: {host: reviews}}]\n");
	/* sourceLabels and sourceNamespace select by caller identity (issue 15). */
	assert_null(ptest_find(&t, DIAG_UNENFORCED, "spec.tcp[0].match[0].sourceLabels", NULL));
	assert_diag(&t, DIAG_UNENFORCED, 22, 7, "spec.tcp[0].match[1].destinationSubnets", "not yet");
	assert_null(ptest_find(&t, DIAG_UNENFORCED, "spec.tcp[0].match[1].sourceNamespace", NULL));
	assert_diag(&t, DIAG_UNENFORCED, 27, 7, "spec.http[0].match[0].headers", "HTTP requests");
	assert_diag(&t, DIAG_UNENFORCED, 28, 7, "spec.http[0].match[0].ignoreUriCase", "HTTP");
	assert_diag(&t, DIAG_UNENFORCED, 30, 3, "spec.tls", "SNI");
	ptest_free(&t);
}

static void test_vs_gateways(void **state)
{
	struct ptest t;

	compile(&t, SE VS
		    "  gateways: [istio-system/ingress]\n"
		    "  tcp: [{route: [{destination: {host: reviews}}]}]\n");
	assert_diag(&t, DIAG_NOTE, 19, 3, "spec.gateways", "does not apply to mesh traffic");
	assert_diag(&t, DIAG_UNENFORCED, 19, 3, "spec.gateways", "gateways are not handled");
	ptest_free(&t);
}

static void test_vs_second_claim_on_host(void **state)
{
	struct ptest t;

	compile(&t, SE VS "  tcp: [{route: [{destination: {host: reviews}}]}]\n"
		    "---\n"
		    "apiVersion: networking.istio.io/v1\n"
		    "kind: VirtualService\n"
		    "metadata: {name: again}\n"
		    "spec:\n"
		    "  hosts: [reviews.default.svc.cluster.local]\n"
		    "  tcp: [{route: [{destination: {host: reviews}}]}]\n");
	assert_diag(&t, DIAG_WARNING, 25, 11, "spec.hosts[0]", "first one wins");
	ptest_free(&t);
}

static void test_vs_host_matches_no_service(void **state)
{
	struct ptest t;

	compile(&t, SE VS "  tcp: [{route: [{destination: {host: reviews}}]}]\n"
		    "---\n"
		    "apiVersion: networking.istio.io/v1\n"
		    "kind: VirtualService\n"
		    "metadata: {name: ghost}\n"
		    "spec:\n"
		    "  hosts: [ghost]\n"
		    "  tcp: [{route: [{destination: {host: reviews}}]}]\n");
	assert_diag(&t, DIAG_WARNING, 25, 11, "spec.hosts[0]",
		    "ghost.default.svc.cluster.local matches no service");
	assert_int_equal(t.ret, 0);
	ptest_free(&t);
}

/* ---- DestinationRule --------------------------------------------------- */

static void test_dr_host_required(void **state)
{
	struct ptest t;

	compile(&t, SE "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		    "metadata: {name: x}\nspec:\n  subsets: [{name: v1}]\n");
	assert_diag(&t, DIAG_ERROR, 18, 3, "spec.host", "host is required");
	ptest_free(&t);
}

static void test_dr_subset_names(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  subsets:\n"
		    "  - {name: V1, labels: {version: v1}}\n"
		    "  - {labels: {version: v2}}\n"
		    "  - {name: v2}\n"
		    "  - {name: v2}\n"
		    "  - {name: ''}\n");
	assert_diag(&t, DIAG_ERROR, 20, 12, "spec.subsets[0].name", "invalid subset name \"V1\"");
	assert_diag(&t, DIAG_ERROR, 21, 5, "spec.subsets[1].name", "subset name is required");
	assert_diag(&t, DIAG_ERROR, 23, 5, "spec.subsets[3]", "duplicate subset name v2 (line 22)");
	assert_diag(&t, DIAG_ERROR, 24, 5, "spec.subsets[4].name", "subset name is required");
	ptest_free(&t);
}

static void test_dr_subset_matches_no_endpoint(void **state)
{
	struct ptest t;

	compile(&t, SE DR "  subsets:\n  - {name: v9, labels: {version: v9}}\n");
	assert_diag(&t, DIAG_WARNING, 20, 5, "spec.subsets[0]", "matches no endpoint");
	assert_int_equal(t.ret, 0);
	ptest_free(&t);
}

static void test_dr_host_matches_no_service(void **state)
{
	struct ptest t;

	compile(&t, SE "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		    "metadata: {name: x}\nspec:\n  host: nowhere.example.com\n");
	assert_diag(&t, DIAG_WARNING, 18, 9, "spec.host", "matches no service");
	ptest_free(&t);
}

static void test_dr_empty_traffic_policy(void **state)
{
	struct ptest t;

	compile(&t, SE DR "  trafficPolicy: {}\n  subsets: [{name: v1, trafficPolicy: {connectionPool: {}}}]\n");
	assert_diag(&t, DIAG_ERROR, 19, 18, "spec.trafficPolicy", "at least one field");
	assert_diag(&t, DIAG_ERROR, 20, 56, "spec.subsets[0].trafficPolicy.connectionPool",
		    "at least one field");
	ptest_free(&t);
}

static void test_dr_durations(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    connectionPool:\n"
		    "      tcp:\n"
		    "        connectTimeout: 500us\n"
		    "        idleTimeout: 0s\n"
		    "        maxConnectionDuration: 1h30m\n"
		    "        tcpKeepalive: {time: 2.5s, interval: 1x}\n"
		    "      http: {idleTimeout: -1s}\n");
	assert_diag(&t, DIAG_ERROR, 22, 25, "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
		    "at least 1ms");
	assert_diag(&t, DIAG_ERROR, 25, 46,
		    "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.interval", "unknown unit");
	assert_diag(&t, DIAG_ERROR, 26, 27, "spec.trafficPolicy.connectionPool.http.idleTimeout",
		    "negative");
	assert_null(ptest_find(&t, DIAG_ERROR, "spec.trafficPolicy.connectionPool.tcp.idleTimeout",
			       NULL));
	assert_null(ptest_find(&t, DIAG_ERROR,
			       "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration", NULL));
	/* connectionPool.tcp is enforced; closing connections only on 6.5+,
	 * which the compiler cannot know. */
	assert_null(ptest_find(&t, DIAG_UNENFORCED, "spec.trafficPolicy.connectionPool", NULL));
	assert_diag(&t, DIAG_UNENFORCED, 24, 9,
		    "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration",
		    "not enforced on older kernels");
	assert_null(ptest_find(&t, DIAG_UNENFORCED, "spec.trafficPolicy.connectionPool.tcp.idleTimeout",
			       NULL));
	ptest_free(&t);
}

static void test_dr_connection_pool_counts(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    connectionPool:\n"
		    "      tcp: {maxConnections: -1}\n"
		    "      http: {http1MaxPendingRequests: -2, h2UpgradePolicy: SOMETIMES}\n");
	assert_diag(&t, DIAG_ERROR, 21, 29, "spec.trafficPolicy.connectionPool.tcp.maxConnections",
		    "must be non-negative");
	assert_diag(&t, DIAG_ERROR, 22, 39,
		    "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests",
		    "must be non-negative");
	assert_diag(&t, DIAG_ERROR, 22, 60, "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy",
		    "unknown value");
	ptest_free(&t);
}

static void test_dr_outlier_detection(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    outlierDetection:\n"
		    "      maxEjectionPercent: 101\n"
		    "      minHealthPercent: -1\n"
		    "      interval: 0s\n"
		    "      baseEjectionTime: 30\n"
		    "      consecutiveLocalOriginFailures: 2\n"
		    "      consecutiveErrors: 5\n");
	assert_diag(&t, DIAG_ERROR, 21, 27, "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
		    "0..100");
	assert_diag(&t, DIAG_ERROR, 22, 25, "spec.trafficPolicy.outlierDetection.minHealthPercent",
		    "0..100");
	assert_diag(&t, DIAG_ERROR, 23, 17, "spec.trafficPolicy.outlierDetection.interval",
		    "at least 1ms");
	assert_diag(&t, DIAG_ERROR, 24, 25, "spec.trafficPolicy.outlierDetection.baseEjectionTime",
		    "expected a string");
	assert_diag(&t, DIAG_ERROR, 25, 39,
		    "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
		    "requires splitExternalLocalOriginErrors");
	assert_diag(&t, DIAG_WARNING, 26, 7, "spec.trafficPolicy.outlierDetection.consecutiveErrors",
		    "deprecated");
	ptest_free(&t);
}

/* Default maxEjectionPercent 10 with 3 endpoints: never ejects. */
static void test_dr_outlier_never_ejects(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    outlierDetection: {consecutive5xxErrors: 3}\n"
		    "  subsets:\n"
		    "  - name: v1\n"
		    "    labels: {version: v1}\n"
		    "    trafficPolicy: {outlierDetection: {maxEjectionPercent: 50}}\n"
		    "  - name: v2\n"
		    "    labels: {version: v2}\n"
		    "    trafficPolicy: {outlierDetection: {maxEjectionPercent: 99}}\n");
	assert_diag(&t, DIAG_WARNING, 20, 5, "spec.trafficPolicy.outlierDetection",
		    "has 3 endpoints and maxEjectionPercent is 10");
	/* v1: 2 endpoints at 50% can eject one; v2: 1 endpoint at 99% cannot. */
	assert_null(ptest_find(&t, DIAG_WARNING, "spec.subsets[0].trafficPolicy.outlierDetection",
			       NULL));
	assert_diag(&t, DIAG_WARNING, 27, 21, "spec.subsets[1].trafficPolicy.outlierDetection",
		    "needs maxEjectionPercent >= 100");
	ptest_free(&t);
}

static void test_dr_load_balancer(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    loadBalancer:\n"
		    "      simple: LEAST_LOADED\n"
		    "      consistentHash:\n"
		    "        useSourceIp: true\n"
		    "        httpHeaderName: x-user\n"
		    "        maglev: {tableSize: 65536}\n"
		    "  subsets:\n"
		    "  - name: v1\n"
		    "    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}\n");
	assert_diag(&t, DIAG_ERROR, 21, 15, "spec.trafficPolicy.loadBalancer.simple",
		    "unknown value \"LEAST_LOADED\"");
	assert_diag(&t, DIAG_ERROR, 20, 5, "spec.trafficPolicy.loadBalancer",
		    "only one of simple or consistentHash");
	assert_diag(&t, DIAG_ERROR, 22, 7, "spec.trafficPolicy.loadBalancer.consistentHash",
		    "only one of httpHeaderName, httpCookie, useSourceIp");
	assert_diag(&t, DIAG_ERROR, 25, 29,
		    "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize", "prime");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 4);
	ptest_free(&t);
}

static void test_dr_locality_lb(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    loadBalancer:\n"
		    "      localityLbSetting:\n"
		    "        distribute:\n"
		    "        - from: us-east/*\n"
		    "          to: {us-east/*: 80, us-west/*: 10}\n"
		    "        - from: '*/zone'\n"
		    "          to: {eu/*: 100}\n"
		    "        failover:\n"
		    "        - {from: us-east, to: us-east}\n"
		    "        - {from: us-east/a, to: eu}\n");
	assert_diag(&t, DIAG_ERROR, 24, 15, "spec.trafficPolicy.loadBalancer.localityLbSetting."
		    "distribute[0].to", "total locality weight 90 != 100");
	assert_diag(&t, DIAG_ERROR, 25, 17, "spec.trafficPolicy.loadBalancer.localityLbSetting."
		    "distribute[1].from", "must be in the end");
	assert_diag(&t, DIAG_ERROR, 28, 11, "spec.trafficPolicy.loadBalancer.localityLbSetting."
		    "failover[0]", "different regions");
	assert_diag(&t, DIAG_ERROR, 29, 18, "spec.trafficPolicy.loadBalancer.localityLbSetting."
		    "failover[1].from", "only specify region");
	assert_diag(&t, DIAG_ERROR, 21, 7, "spec.trafficPolicy.loadBalancer.localityLbSetting",
		    "simultaneously");
	ptest_free(&t);
}

static void test_dr_tls_and_port_level(void **state)
{
	struct ptest t;

	compile(&t, SE DR
		    "  trafficPolicy:\n"
		    "    tls: {mode: MUTUAL, caCertificates: /etc/ca.pem}\n"
		    "    portLevelSettings:\n"
		    "    - loadBalancer: {simple: RANDOM}\n"
		    "    - port: {number: 80}\n"
		    "    - port: {number: 80}\n"
		    "      tls: {mode: SIMPLE, credentialName: c, clientCertificate: /x}\n");
	assert_diag(&t, DIAG_ERROR, 20, 5, "spec.trafficPolicy.tls", "required for MUTUAL");
	assert_diag(&t, DIAG_ERROR, 22, 7, "spec.trafficPolicy.portLevelSettings[0]", "valid port");
	assert_diag(&t, DIAG_ERROR, 23, 7, "spec.trafficPolicy.portLevelSettings[1]",
		    "at least one field");
	assert_diag(&t, DIAG_ERROR, 25, 7, "spec.trafficPolicy.portLevelSettings[2].tls",
		    "credentialName");
	assert_diag(&t, DIAG_UNENFORCED, 20, 5, "spec.trafficPolicy.tls", "TLS");
	ptest_free(&t);
}

/* loadBalancer is enforced (bpf/lib/lb_algo.h): simple and useSourceIp
 * raise nothing; ringHash gets a note (served by Maglev); an HTTP hash key
 * is unenforced, field by field. */
static void test_lb_enforced_fields(void **state)
{
	struct ptest t;

	assert_int_equal(ptest_compile(&t, SE DR
		"  trafficPolicy:\n"
		"    loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}}}\n"
		"  subsets:\n"
		"  - name: v1\n"
		"    labels: {version: v1}\n"
		"    trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: c}}}}\n",
		false), 0);
	assert_diag(&t, DIAG_NOTE, 20, 56, "spec.trafficPolicy.loadBalancer.consistentHash.ringHash",
		    "Maglev");
	assert_diag(&t, DIAG_UNENFORCED, 24, 53,
		    "spec.subsets[0].trafficPolicy.loadBalancer.consistentHash.httpCookie",
		    "HTTP key");
	assert_int_equal(ptest_count(&t, DIAG_UNENFORCED), 1);
	ptest_free(&t);
	assert_int_equal(ptest_compile(&t, SE DR
		"  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n", true), 0);
	assert_int_equal(diag_count_errors(&t.dl), 0);
	ptest_free(&t);
}

/* ---- strictness -------------------------------------------------------- */

static void test_strict_counts_unenforced(void **state)
{
	static const char *yaml = SE DR
		"  trafficPolicy: {loadBalancer: {simple: RANDOM, warmupDurationSecs: 10s}}\n";
	struct ptest t;

	assert_int_equal(ptest_compile(&t, yaml, false), 0);
	assert_int_equal(diag_count_errors(&t.dl), 0);
	ptest_free(&t);
	assert_int_equal(ptest_compile(&t, yaml, true), 1);
	assert_int_equal(diag_count_errors(&t.dl), 1);
	assert_diag(&t, DIAG_UNENFORCED, 19, 50, "spec.trafficPolicy.loadBalancer.warmupDurationSecs",
		    "not yet");
	ptest_free(&t);
}

static void test_diag_print_format(void **state)
{
	struct diag_list dl = { 0 };
	char buf[512] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	diag_add(&dl, DIAG_ERROR, "p.yaml", 12, 7, "spec.http[0].route[1].weight", "must be >= %d", 0);
	diag_add(&dl, DIAG_NOTE, "p.yaml", 0, 0, "", "no YAML documents");
	dl.strict = true;
	diag_add(&dl, DIAG_UNENFORCED, "p.yaml", 3, 1, "spec.tls", "x");
	diag_print(&dl, f);
	fclose(f);
	/* Sorted like a compiler's output: file-level first, then by line. */
	assert_string_equal(buf, "p.yaml: note: no YAML documents\n"
				 "p.yaml:3:1: error (unenforced): spec.tls: x\n"
				 "p.yaml:12:7: error: spec.http[0].route[1].weight: must be >= 0\n");
	assert_int_equal(diag_count_errors(&dl), 2);
	diag_free(&dl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_se_hosts_required),
		cmocka_unit_test(test_se_host_rules),
		cmocka_unit_test(test_se_addresses),
		cmocka_unit_test(test_se_port_number_range),
		cmocka_unit_test(test_se_port_duplicates_and_names),
		cmocka_unit_test(test_se_selector_xor_endpoints),
		cmocka_unit_test(test_se_resolution_rules),
		cmocka_unit_test(test_endpoint_fields),
		cmocka_unit_test(test_workload_entry_fields),
		cmocka_unit_test(test_metadata_rules),
		cmocka_unit_test(test_vs_hosts_required),
		cmocka_unit_test(test_vs_wildcard_host_for_mesh),
		cmocka_unit_test(test_vs_needs_routes),
		cmocka_unit_test(test_vs_negative_weight),
		cmocka_unit_test(test_vs_zero_weight_sum),
		cmocka_unit_test(test_vs_weight_sum_not_100_is_a_note),
		cmocka_unit_test(test_vs_too_many_destinations),
		cmocka_unit_test(test_vs_destination_required),
		cmocka_unit_test(test_vs_undefined_subset_warns),
		cmocka_unit_test(test_vs_alone_passes),
		cmocka_unit_test(test_vs_unknown_destination_host),
		cmocka_unit_test(test_vs_match_port_range),
		cmocka_unit_test(test_vs_request_level_route_fields),
		cmocka_unit_test(test_vs_request_field_values_checked),
		cmocka_unit_test(test_vs_match_fields_unenforced),
		cmocka_unit_test(test_vs_gateways),
		cmocka_unit_test(test_vs_second_claim_on_host),
		cmocka_unit_test(test_vs_host_matches_no_service),
		cmocka_unit_test(test_dr_host_required),
		cmocka_unit_test(test_dr_subset_names),
		cmocka_unit_test(test_dr_subset_matches_no_endpoint),
		cmocka_unit_test(test_dr_host_matches_no_service),
		cmocka_unit_test(test_dr_empty_traffic_policy),
		cmocka_unit_test(test_dr_durations),
		cmocka_unit_test(test_dr_connection_pool_counts),
		cmocka_unit_test(test_dr_outlier_detection),
		cmocka_unit_test(test_dr_outlier_never_ejects),
		cmocka_unit_test(test_dr_load_balancer),
		cmocka_unit_test(test_dr_locality_lb),
		cmocka_unit_test(test_dr_tls_and_port_level),
		cmocka_unit_test(test_strict_counts_unenforced),
		cmocka_unit_test(test_lb_enforced_fields),
		cmocka_unit_test(test_diag_print_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
