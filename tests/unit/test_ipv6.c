// SPDX-License-Identifier: Apache-2.0
/* IPv6 and dual stack in the compiled image (issue 15): IPv6 VIPs and
 * endpoints, one set per family, IPv4-mapped addresses taken as IPv4. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

/* Dual stack: one VIP of each family, and a mapped one that is IPv4 too;
 * endpoints of both families in subsets v1 and v2. */
static const char dual_yaml[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: web}\n"
	"spec:\n"
	"  hosts: [web.example.com]\n"
	"  addresses: ['fd00::100', 198.18.0.100, '::ffff:198.18.0.101', 'fd00::101/128']\n"
	"  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
	"  resolution: STATIC\n"
	"  endpoints:\n"
	"  - {address: 'fd00::2', labels: {version: v2}}\n"
	"  - {address: 'fd00::1', labels: {version: v1}}\n"
	"  - {address: 198.18.0.1, labels: {version: v1}}\n"
	"  - {address: '::ffff:198.18.0.2', labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: web}\n"
	"spec:\n"
	"  host: web.example.com\n"
	"  subsets:\n"
	"  - {name: v1, labels: {version: v1}}\n"
	"  - {name: v2, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: web}\n"
	"spec:\n"
	"  hosts: [web.example.com]\n"
	"  tcp:\n"
	"  - route:\n"
	"    - {destination: {host: web.example.com, subset: v1}, weight: 75}\n"
	"    - {destination: {host: web.example.com, subset: v2}, weight: 25}\n";

static struct svc_key key6(const char *vip, unsigned int port)
{
	struct svc_key k;

	memset(&k, 0, sizeof(k));
	assert_int_equal(inet_pton(AF_INET6, vip, k.addr), 1);
	k.port = htons((uint16_t)port);
	k.proto = BPFMESH_PROTO_TCP;
	k.family = BPFMESH_AF_INET6;
	return k;
}

static const struct image_service *find_key(const struct bpfmesh_image *img,
					    const struct svc_key *k)
{
	size_t i;

	for (i = 0; i < img->n_services; i++)
		if (memcmp(&img->services[i].key, k, sizeof(*k)) == 0)
			return &img->services[i];
	return NULL;
}

static const struct image_set *dest_set(const struct ptest *t, const struct image_service *s,
					int d)
{
	assert_true(s->val.dests[d].set_id < t->img.n_sets);
	return &t->img.sets[s->val.dests[d].set_id];
}

/* Each address family keys its own VIPs; a mapped VIP is the IPv4 key. */
static void test_vips_per_family(void **state)
{
	struct svc_key k6 = key6("fd00::100", 80), k6b = key6("fd00::101", 80);
	struct ptest t;

	(void)state;
	ptest_compile(&t, dual_yaml, false);
	if (t.ret)
		diag_print(&t.dl, stderr);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.img.n_services, 4);
	assert_non_null(find_key(&t.img, &k6));
	assert_non_null(find_key(&t.img, &k6b)); /* a /128 is one address */
	assert_non_null(ptest_service(&t.img, "198.18.0.100", 80));
	assert_non_null(ptest_service(&t.img, "198.18.0.101", 80));
	ptest_free(&t);
}

/* An IPv6 VIP reaches the IPv6 endpoints of the subset, an IPv4 VIP the
 * IPv4 ones (a mapped endpoint is IPv4); the split is the same. */
static void test_sets_per_family(void **state)
{
	struct svc_key k6 = key6("fd00::100", 80);
	const struct image_service *s4, *s6;
	const struct image_set *set;
	struct in6_addr a;
	struct ptest t;

	(void)state;
	ptest_compile(&t, dual_yaml, false);
	assert_int_equal(t.ret, 0);
	s4 = ptest_service(&t.img, "198.18.0.100", 80);
	s6 = find_key(&t.img, &k6);
	assert_non_null(s4);
	assert_non_null(s6);
	assert_int_equal(s6->val.n_dests, 2);
	assert_int_equal(s6->val.dests[0].cum_weight, 3);
	assert_int_equal(s6->val.total_weight, 4);
	assert_int_not_equal(s4->val.dests[0].set_id, s6->val.dests[0].set_id);

	set = dest_set(&t, s6, 0);
	assert_int_equal(set->family, AF_INET6);
	assert_int_equal(set->n_slots, 1);
	inet_pton(AF_INET6, "fd00::1", &a);
	assert_memory_equal(set->slots[0].addr, &a, 16);
	assert_int_equal(set->slots[0].port, htons(8080));
	assert_string_equal(set->cluster, "web.example.com/v1:80|ipv6");

	set = dest_set(&t, s4, 1);
	assert_int_equal(set->family, AF_INET);
	assert_int_equal(set->n_slots, 1);
	assert_int_equal(set->slots[0].addr[0], ptest_ip("198.18.0.2"));
	assert_int_equal(set->slots[0].addr[1], 0);
	assert_string_equal(set->cluster, "web.example.com/v2:80");
	/* Every VIP of one family shares its sets. */
	assert_int_equal(ptest_service(&t.img, "198.18.0.101", 80)->val.dests[1].set_id,
			 s4->val.dests[1].set_id);
	ptest_free(&t);
}

/* An IPv6-only service keeps the plain cluster names. */
static void test_ipv6_only_names(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: v6}\n"
		"spec:\n"
		"  hosts: [v6.example.com]\n"
		"  addresses: ['fd00::200']\n"
		"  ports: [{number: 443, name: tls, protocol: TLS}]\n"
		"  resolution: STATIC\n"
		"  endpoints: [{address: 'fd00::20'}, {address: 'fd00::10'}]\n";
	struct svc_key k = key6("fd00::200", 443);
	const struct image_service *s;
	const struct image_set *set;
	struct ptest t;

	(void)state;
	ptest_compile(&t, yaml, false);
	assert_int_equal(t.ret, 0);
	s = find_key(&t.img, &k);
	assert_non_null(s);
	set = dest_set(&t, s, 0);
	assert_string_equal(set->cluster, "v6.example.com:443");
	assert_int_equal(set->n_slots, 2);
	/* Sorted by address: fd00::10 before fd00::20. */
	assert_int_equal(((const uint8_t *)set->slots[0].addr)[15], 0x10);
	assert_int_equal(((const uint8_t *)set->slots[1].addr)[15], 0x20);
	ptest_free(&t);
}

/* Two services cannot share an IPv6 VIP:port either; the error names it. */
static void test_ipv6_vip_collision(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: a}\n"
		"spec:\n"
		"  hosts: [a.example.com]\n"
		"  addresses: ['fd00::300']\n"
		"  ports: [{number: 80, name: tcp}]\n"
		"  resolution: STATIC\n"
		"  endpoints: [{address: 'fd00::30'}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\n"
		"metadata: {name: b}\n"
		"spec:\n"
		"  hosts: [b.example.com]\n"
		"  addresses: ['fd00:0::300']\n"
		"  ports: [{number: 80, name: tcp}]\n"
		"  resolution: STATIC\n"
		"  endpoints: [{address: 'fd00::31'}]\n";
	struct ptest t;

	(void)state;
	ptest_compile(&t, yaml, false);
	assert_int_not_equal(t.ret, 0);
	assert_non_null(ptest_find(&t, DIAG_ERROR, NULL, "fd00::300:80 is claimed by both"));
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vips_per_family),
		cmocka_unit_test(test_sets_per_family),
		cmocka_unit_test(test_ipv6_only_names),
		cmocka_unit_test(test_ipv6_vip_collision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
