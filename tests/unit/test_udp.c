// SPDX-License-Identifier: Apache-2.0
/* UDP ports in the compiled image (issue 15): keyed as UDP, routed by the
 * VirtualService's tcp routes (Istio has no udp routes), beside a TCP port
 * of the same service. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

static const char dns_yaml[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: dns}\n"
	"spec:\n"
	"  hosts: [dns.example.com]\n"
	"  addresses: [198.18.0.53]\n"
	"  ports:\n"
	"  - {number: 53, name: udp-dns, protocol: UDP, targetPort: 5353}\n"
	"  - {number: 54, name: tcp-dns, protocol: TCP}\n"
	"  resolution: STATIC\n"
	"  endpoints:\n"
	"  - {address: 198.18.0.1, labels: {version: v1}}\n"
	"  - {address: 198.18.0.2, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: dns}\n"
	"spec:\n"
	"  host: dns.example.com\n"
	"  subsets:\n"
	"  - {name: v1, labels: {version: v1}}\n"
	"  - {name: v2, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: dns}\n"
	"spec:\n"
	"  hosts: [dns.example.com]\n"
	"  tcp:\n"
	"  - match: [{port: 53}]\n"
	"    route:\n"
	"    - {destination: {host: dns.example.com, subset: v1}, weight: 80}\n"
	"    - {destination: {host: dns.example.com, subset: v2}, weight: 20}\n"
	"  - route:\n"
	"    - {destination: {host: dns.example.com, subset: v2}}\n";

static const struct image_service *find_proto(const struct bpfmesh_image *img, unsigned int port,
					      __u8 proto)
{
	size_t i;

	for (i = 0; i < img->n_services; i++)
		if (img->services[i].key.port == htons((uint16_t)port) &&
		    img->services[i].key.proto == proto)
			return &img->services[i];
	return NULL;
}

static void test_udp_port_keyed_and_routed(void **state)
{
	const struct image_service *udp, *tcp;
	const struct image_set *set;
	struct ptest t;

	(void)state;
	ptest_compile(&t, dns_yaml, false);
	if (t.ret)
		diag_print(&t.dl, stderr);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.img.n_services, 2);
	udp = find_proto(&t.img, 53, BPFMESH_PROTO_UDP);
	tcp = find_proto(&t.img, 54, BPFMESH_PROTO_TCP);
	assert_non_null(udp);
	assert_non_null(tcp);
	assert_int_equal(udp->key.family, BPFMESH_AF_INET);
	assert_int_equal(udp->key.addr[0], ptest_ip("198.18.0.53"));
	/* The tcp route matching port 53 applies to the UDP port. */
	assert_int_equal(udp->val.n_dests, 2);
	assert_int_equal(udp->val.dests[0].route_weight, 80);
	set = &t.img.sets[udp->val.dests[0].set_id];
	assert_int_equal(set->n_slots, 1);
	assert_int_equal(set->slots[0].port, htons(5353));
	assert_string_equal(set->cluster, "dns.example.com/v1:53");
	assert_int_equal(tcp->val.n_dests, 1);
	/* UDP is intercepted now: no note says otherwise. */
	assert_null(ptest_find(&t, DIAG_NOTE, NULL, "UDP"));
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_port_keyed_and_routed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
