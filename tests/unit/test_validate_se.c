// SPDX-License-Identifier: Apache-2.0
/* ServiceEntry and WorkloadEntry: Istio's per-resolution endpoint rules and
 * its WorkloadEntry address rules, one test each, with Istio's wording. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

/* A one-document ServiceEntry whose spec is given (body from line 5). */
#define SE_SPEC(body)                                                              \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: x}\n"                                                    \
	"spec:\n"                                                                  \
	"  hosts: [a.example.com]\n"                                               \
	"  addresses: [127.100.0.1]\n" body

#define WE_SPEC(body)                                                              \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: WorkloadEntry\n"                                                    \
	"metadata: {name: vm}\n"                                                   \
	"spec:\n" body

static void lint(struct ptest *t, const char *yaml)
{
	ptest_compile(t, yaml, false);
}

/* resolution defaults to NONE, which takes no endpoints. */
static void test_none_takes_no_endpoints(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"
			 "  endpoints: [{address: 127.0.0.9}]\n"));
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 8, 15, "spec.endpoints[0]",
		    "no endpoints should be provided for resolution type none");
	ptest_free(&t);
}

static void test_none_with_selector_warns(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"
			 "  resolution: NONE\n"
			 "  workloadSelector: {labels: {app: db}}\n"));
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_WARNING, 8, 15, "spec.resolution",
		    "workloadSelector should not be set when resolution mode is NONE");
	ptest_free(&t);
}

static void test_selector_without_labels_warns(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"
			 "  resolution: STATIC\n"
			 "  workloadSelector: {}\n"));
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_WARNING, 5, 3, "spec", "workload selector specified without labels");
	ptest_free(&t);
}

static void test_endpoint_port_named_by_service(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: http}]\n"
			 "  resolution: STATIC\n"
			 "  endpoints:\n"
			 "  - {address: 127.0.0.9, ports: {http: 8080}}\n"
			 "  - {address: 127.0.0.8, ports: {grpc: 9090}}\n"));
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 11, 5, "spec.endpoints[1]",
		    "endpoint port grpc: 9090 is not defined by the service entry");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 1);
	ptest_free(&t);
}

static void test_static_unix_endpoints(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: a}, {number: 81, name: b}]\n"
			 "  resolution: STATIC\n"
			 "  endpoints:\n"
			 "  - {address: 'unix://run/x.sock'}\n"
			 "  - {address: 'unix:///run/dir/', ports: {a: 80}}\n"
			 "  - {address: 'unix://@abstract'}\n"));
	assert_diag(&t, DIAG_ERROR, 10, 5, "spec.endpoints[0]",
		    "unix://run/x.sock is not an absolute path to a file");
	assert_diag(&t, DIAG_ERROR, 11, 5, "spec.endpoints[1]",
		    "unix endpoint unix:///run/dir/ must not include ports");
	assert_diag(&t, DIAG_ERROR, 10, 5, "spec.endpoints[0]",
		    "exactly 1 service port required for unix endpoints");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 4); /* + dir/'s path */
	ptest_free(&t);
}

static void test_static_unix_endpoint_one_port(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: a}]\n"
			 "  resolution: STATIC\n"
			 "  endpoints: [{address: 'unix:///run/x.sock'}]\n"));
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_UNENFORCED, 9, 15, "spec.endpoints[0]", "unix domain socket");
	ptest_free(&t);
}

/* With no endpoints the hosts are resolved by DNS: no wildcards. */
static void test_dns_hosts_without_endpoints(void **state)
{
	struct ptest t;

	lint(&t, "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  hosts: [a.example.com, '*.example.org']\n"
		 "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
		 "  resolution: DNS\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: y}\n"
		 "spec:\n"
		 "  hosts: ['*.example.org']\n"
		 "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
		 "  resolution: DNS\n"
		 "  endpoints: [{address: lb.example.org}]\n");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 5, 26, "spec.hosts[1]",
		    "hosts must be FQDN or contain only prefix wildcards if no endpoints are "
		    "provided for resolution mode DNS");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 1);
	ptest_free(&t);
}

static void test_dns_round_robin_one_endpoint(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"
			 "  resolution: DNS_ROUND_ROBIN\n"
			 "  endpoints: [{address: a.example.net}, {address: b.example.net}]\n"));
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 9, 41, "spec.endpoints[1]",
		    "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
	ptest_free(&t);
}

static void test_dns_unix_endpoint(void **state)
{
	struct ptest t;

	lint(&t, SE_SPEC("  ports: [{number: 80, name: tcp}]\n"
			 "  resolution: DNS\n"
			 "  endpoints: [{address: 'unix:///run/x.sock'}]\n"));
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 9, 15, "spec.endpoints[0]",
		    "endpoint address \"unix:///run/x.sock\" is not a valid FQDN or an IP address");
	ptest_free(&t);
}

static void test_dns_hosts_with_address_and_tcp_port(void **state)
{
	struct ptest t;

	lint(&t, "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  hosts: [a.example.com, b.example.com]\n"
		 "  addresses: [127.100.0.1]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
		 "  resolution: DNS\n");
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_WARNING, 5, 3, "spec",
		    "service entry can not have more than one host specified simultaneously with "
		    "address and tcp port");
	ptest_free(&t);
}

/* validateWorkloadEntry: a unix address must be a path and take no ports. */
static void test_workload_entry_unix(void **state)
{
	struct ptest t;

	lint(&t, WE_SPEC("  address: 'unix://'\n"
			 "  ports: {http: 80}\n"
			 "---\n"
			 "apiVersion: networking.istio.io/v1\n"
			 "kind: WorkloadEntry\n"
			 "metadata: {name: vm2}\n"
			 "spec: {address: 'unix://@sock'}\n"));
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec", "unix:// unix address must not be empty");
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec", "unix endpoint unix:// must not include ports");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 2);
	ptest_free(&t);
}

/* validateWorkloadEntry: port names are DNS-1123 labels, numbers 1..65535. */
static void test_workload_entry_ports(void **state)
{
	struct ptest t;

	lint(&t, WE_SPEC("  address: 127.0.0.9\n"
			 "  ports: {Http_1: 80, tcp: 0, ok: 81}\n"));
	assert_diag(&t, DIAG_ERROR, 6, 11, "spec.ports.Http_1", "invalid port name \"Http_1\"");
	assert_diag(&t, DIAG_ERROR, 6, 28, "spec.ports.tcp", "1..65535");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 2);
	ptest_free(&t);
}

/* No address: an error, unless a network is given (reached through its
 * gateway; Istio only warns). */
static void test_workload_entry_address_required(void **state)
{
	struct ptest t;

	lint(&t, WE_SPEC("  labels: {app: db}\n"
			 "---\n"
			 "apiVersion: networking.istio.io/v1\n"
			 "kind: WorkloadEntry\n"
			 "metadata: {name: vm2}\n"
			 "spec: {network: remote}\n"));
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec.address", "address must be set");
	assert_int_equal(ptest_count(&t, DIAG_ERROR), 1);
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_takes_no_endpoints),
		cmocka_unit_test(test_none_with_selector_warns),
		cmocka_unit_test(test_selector_without_labels_warns),
		cmocka_unit_test(test_endpoint_port_named_by_service),
		cmocka_unit_test(test_static_unix_endpoints),
		cmocka_unit_test(test_static_unix_endpoint_one_port),
		cmocka_unit_test(test_dns_hosts_without_endpoints),
		cmocka_unit_test(test_dns_round_robin_one_endpoint),
		cmocka_unit_test(test_dns_unix_endpoint),
		cmocka_unit_test(test_dns_hosts_with_address_and_tcp_port),
		cmocka_unit_test(test_workload_entry_unix),
		cmocka_unit_test(test_workload_entry_ports),
		cmocka_unit_test(test_workload_entry_address_required),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
