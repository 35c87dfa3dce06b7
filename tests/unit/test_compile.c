// SPDX-License-Identifier: Apache-2.0
/* YAML -> image: exact keys, values, set slots and names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

#define CANARY_HOST "reviews.default.svc.cluster.local"

/* ServiceEntry prefix shared by several tests: reviews on 127.100.0.1:80,
 * three endpoints, v1 x2 and v2 x1, target port 8080. */
#define SE_REVIEWS                                                                 \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  hosts: [reviews.default.svc.cluster.local]\n"                           \
	"  addresses: [127.100.0.1]\n"                                             \
	"  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"    \
	"  resolution: STATIC\n"                                                   \
	"  endpoints:\n"                                                           \
	"  - {address: 127.0.1.3, labels: {version: v2}}\n"                        \
	"  - {address: 127.0.1.1, labels: {version: v1}}\n"                        \
	"  - {address: 127.0.1.2, labels: {version: v1}}\n"

#define DR_REVIEWS                                                                 \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  host: reviews\n"                                                        \
	"  subsets:\n"                                                             \
	"  - {name: v1, labels: {version: v1}}\n"                                  \
	"  - {name: v2, labels: {version: v2}}\n"                                  \
	"  - {name: v3, labels: {version: v3}}\n"

#define VS_HEAD                                                                    \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: VirtualService\n"                                                   \
	"metadata: {name: reviews}\n"                                              \
	"spec:\n"                                                                  \
	"  hosts: [reviews]\n"

static struct backend_val slot(const char *ip, __u16 port, __u32 w, __u32 thr, __u16 alias)
{
	struct backend_val b;

	memset(&b, 0, sizeof(b));
	b.addr[0] = ptest_ip(ip);
	b.port = htons(port);
	b.weight = w;
	b.threshold = thr;
	b.alias = alias;
	return b;
}

static struct svc_dest dest(__u32 set, __u32 n, __u32 sw, __u32 cum, const char *name)
{
	struct svc_dest d;

	memset(&d, 0, sizeof(d));
	d.set_id = set;
	d.n_slots = n;
	d.set_weight = sw;
	d.cum_weight = cum;
	d.subset_id = bpfmesh_name_id(name);
	return d;
}

/* The canary image, byte for byte. */
static void assert_canary_image(const struct bpfmesh_image *img)
{
	struct svc_key key = ptest_key("127.100.0.1", 80);
	struct backend_val v1[2] = { slot("127.0.1.1", 8080, 1, 2, 0),
				     slot("127.0.1.2", 8080, 1, 2, 1) };
	struct backend_val v2[1] = { slot("127.0.1.3", 8080, 1, 1, 0) };
	struct svc_val val;
	size_t i;

	memset(&val, 0, sizeof(val));
	val.service_id = bpfmesh_name_id(CANARY_HOST);
	val.total_weight = 10;
	val.n_dests = 2;
	val.dests[0] = dest(0, 2, 2, 9, CANARY_HOST "/v1:80");
	val.dests[1] = dest(1, 1, 1, 10, CANARY_HOST "/v2:80");
	val.dests[0].route_weight = 90; /* as written: the cumulative weights are 9/1 */
	val.dests[1].route_weight = 10;

	assert_int_equal(img->n_services, 1);
	assert_memory_equal(&img->services[0].key, &key, sizeof(key));
	assert_memory_equal(&img->services[0].val, &val, sizeof(val));
	assert_int_equal(img->n_sets, 2);
	assert_int_equal(img->sets[0].n_slots, 2);
	assert_int_equal(img->sets[0].total_weight, 2);
	assert_memory_equal(img->sets[0].slots, v1, sizeof(v1));
	assert_int_equal(img->sets[1].n_slots, 1);
	assert_int_equal(img->sets[1].total_weight, 1);
	assert_memory_equal(img->sets[1].slots, v2, sizeof(v2));
	assert_int_equal(img->n_names, 3);
	for (i = 1; i < img->n_names; i++)
		assert_true(img->names[i - 1].id < img->names[i].id);
	for (i = 0; i < img->n_names; i++)
		assert_int_equal(img->names[i].id, bpfmesh_name_id(img->names[i].val.name));
}

static void test_canary_example_file(void **state)
{
	const char *paths[] = { "policies/examples/canary.yaml" };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;

	assert_int_equal(policy_compile_paths(paths, 1, &dl, &img), 0);
	assert_canary_image(&img);
	assert_string_equal(img.services[0].src_file, "policies/examples/canary.yaml");
	assert_int_not_equal(img.services[0].src_line, 0);
	bpfmesh_image_free(&img);
	diag_free(&dl);
}

static void test_canary_golden(void **state)
{
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v1}, weight: 90}\n"
		      "    - {destination: {host: reviews, subset: v2}, weight: 10}\n", false);
	assert_int_equal(t.ret, 0);
	assert_canary_image(&t.img);
	assert_no_diag(&t, DIAG_ERROR);
	ptest_free(&t);
}

static void test_names_table(void **state)
{
	struct ptest t;
	size_t i;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v1}, weight: 1}\n"
		      "    - {destination: {host: reviews, subset: v2}, weight: 1}\n", false);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.img.n_names, 3);
	for (i = 0; i < t.img.n_names; i++) {
		const struct image_name *n = &t.img.names[i];

		if (n->val.kind == BPFMESH_NAME_SERVICE)
			assert_string_equal(n->val.name, CANARY_HOST);
		else
			assert_true(strcmp(n->val.name, CANARY_HOST "/v1:80") == 0 ||
				    strcmp(n->val.name, CANARY_HOST "/v2:80") == 0);
		assert_int_equal(n->val.pad, 0);
	}
	ptest_free(&t);
}

static void assert_images_equal(const struct bpfmesh_image *a, const struct bpfmesh_image *b)
{
	size_t i;

	assert_int_equal(a->n_services, b->n_services);
	assert_int_equal(a->n_sets, b->n_sets);
	assert_int_equal(a->n_names, b->n_names);
	for (i = 0; i < a->n_services; i++) {
		assert_memory_equal(&a->services[i].key, &b->services[i].key, sizeof(struct svc_key));
		assert_memory_equal(&a->services[i].val, &b->services[i].val, sizeof(struct svc_val));
	}
	for (i = 0; i < a->n_sets; i++) {
		assert_int_equal(a->sets[i].n_slots, b->sets[i].n_slots);
		assert_int_equal(a->sets[i].total_weight, b->sets[i].total_weight);
		if (a->sets[i].n_slots)
			assert_memory_equal(a->sets[i].slots, b->sets[i].slots,
					    a->sets[i].n_slots * sizeof(struct backend_val));
	}
	assert_memory_equal(a->names, b->names, a->n_names * sizeof(struct image_name));
}

static const char *multi_yaml =
	SE_REVIEWS
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: ratings, namespace: shop}\n"
	"spec:\n"
	"  hosts: [ratings.shop.svc.cluster.local]\n"
	"  addresses: [127.100.0.9, 127.100.0.2]\n"
	"  ports: [{number: 9080, name: http, protocol: HTTP}, {number: 22, name: ssh}]\n"
	"  endpoints:\n"
	"  - {address: 127.0.2.2, weight: 3}\n"
	"  - {address: 127.0.2.1, weight: 1}\n"
	DR_REVIEWS VS_HEAD
	"  tcp:\n"
	"  - route:\n"
	"    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
	"    - {destination: {host: reviews, subset: v2}, weight: 30}\n"
	"    - {destination: {host: ratings.shop.svc.cluster.local, port: {number: 22}}, weight: 20}\n";

static void test_deterministic_bytes(void **state)
{
	struct ptest a, b;

	ptest_compile(&a, multi_yaml, false);
	ptest_compile(&b, multi_yaml, false);
	assert_int_equal(a.ret, 0);
	assert_int_equal(b.ret, 0);
	assert_images_equal(&a.img, &b.img);
	ptest_free(&a);
	ptest_free(&b);
}

/* Keys sorted by bytes; sets numbered in first use over the sorted keys. */
static void test_services_sorted_sets_first_use(void **state)
{
	struct ptest t;
	size_t i;

	ptest_compile(&t, multi_yaml, false);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.img.n_services, 5);
	for (i = 1; i < t.img.n_services; i++)
		assert_true(memcmp(&t.img.services[i - 1].key, &t.img.services[i].key,
				   sizeof(struct svc_key)) < 0);
	/* 127.100.0.1:80 comes first: its three destinations are sets 0, 1, 2. */
	assert_int_equal(t.img.services[0].val.dests[0].set_id, 0);
	assert_int_equal(t.img.services[0].val.dests[1].set_id, 1);
	assert_int_equal(t.img.services[0].val.dests[2].set_id, 2);
	ptest_free(&t);
}

static void test_weights_reduced_by_gcd(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, multi_yaml, false);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_non_null(s);
	assert_int_equal(s->val.n_dests, 3);
	assert_int_equal(s->val.dests[0].cum_weight, 5);
	assert_int_equal(s->val.dests[1].cum_weight, 8);
	assert_int_equal(s->val.dests[2].cum_weight, 10);
	assert_int_equal(s->val.total_weight, 10);
	/* The policy's own numbers ride along, for the CLI to show. */
	assert_int_equal(s->val.dests[0].route_weight, 50);
	assert_int_equal(s->val.dests[1].route_weight, 30);
	assert_int_equal(s->val.dests[2].route_weight, 20);
	ptest_free(&t);
}

/* Endpoint weights carry into the set; slots sorted by address. */
static void test_weighted_endpoints_sorted(void **state)
{
	const struct image_service *s;
	const struct image_set *set;
	struct ptest t;

	ptest_compile(&t, multi_yaml, false);
	s = ptest_service(&t.img, "127.100.0.2", 22);
	assert_non_null(s);
	assert_int_equal(s->val.n_dests, 1);
	set = &t.img.sets[s->val.dests[0].set_id];
	assert_int_equal(set->n_slots, 2);
	assert_int_equal(set->total_weight, 4);
	assert_int_equal(s->val.dests[0].set_weight, 4);
	assert_int_equal(set->slots[0].addr[0], ptest_ip("127.0.2.1"));
	assert_int_equal(set->slots[0].weight, 1);
	assert_int_equal(set->slots[1].addr[0], ptest_ip("127.0.2.2"));
	assert_int_equal(set->slots[1].weight, 3);
	assert_int_equal(set->slots[1].port, htons(22));
	ptest_free(&t);
}

/* No VirtualService: one destination, the whole service, weight 1. */
static void test_default_route(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, multi_yaml, false);
	s = ptest_service(&t.img, "127.100.0.9", 9080);
	assert_non_null(s);
	assert_int_equal(s->val.n_dests, 1);
	assert_int_equal(s->val.total_weight, 1);
	assert_int_equal(s->val.dests[0].cum_weight, 1);
	assert_int_equal(s->val.dests[0].route_weight, 100); /* Istio: all of it */
	assert_int_equal(s->val.dests[0].n_slots, 2);
	assert_int_equal(s->val.dests[0].subset_id,
			 bpfmesh_name_id("ratings.shop.svc.cluster.local:9080"));
	assert_int_equal(s->val.service_id, bpfmesh_name_id("ratings.shop.svc.cluster.local"));
	ptest_free(&t);
}

static void test_single_destination_weight_ignored(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v2}, weight: 0}\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.n_dests, 1);
	assert_int_equal(s->val.total_weight, 1);
	assert_int_equal(s->val.dests[0].n_slots, 1);
	ptest_free(&t);
}

static void test_zero_weight_destination_omitted(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v1}, weight: 0}\n"
		      "    - {destination: {host: reviews, subset: v2}, weight: 100}\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.n_dests, 1);
	assert_int_equal(s->val.total_weight, 1);
	assert_int_equal(s->val.dests[0].subset_id, bpfmesh_name_id(CANARY_HOST "/v2:80"));
	assert_int_equal(t.img.n_sets, 1);
	ptest_free(&t);
}

/* A subset with no endpoint compiles to an empty set: refused at once. */
static void test_empty_subset_set(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
		      "    - {destination: {host: reviews, subset: v3}, weight: 50}\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.n_dests, 2);
	assert_int_equal(s->val.dests[1].n_slots, 0);
	assert_int_equal(s->val.dests[1].set_weight, 0);
	assert_int_equal(t.img.sets[s->val.dests[1].set_id].n_slots, 0);
	assert_null(t.img.sets[s->val.dests[1].set_id].slots);
	assert_non_null(ptest_find(&t, DIAG_WARNING, "spec.subsets[2]", "matches no endpoint"));
	ptest_free(&t);
}

/* match[].port selects the route; a clause with a request field never matches. */
static void test_route_by_port_and_unenforced_clause(void **state)
{
	const struct image_service *s80, *s81;
	struct ptest t;

	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: reviews}\n"
		      "spec:\n"
		      "  hosts: [reviews.default.svc.cluster.local]\n"
		      "  addresses: [127.100.0.1]\n"
		      "  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: web, protocol: HTTP}]\n"
		      "  endpoints:\n"
		      "  - {address: 127.0.1.1, labels: {version: v1}}\n"
		      "  - {address: 127.0.1.3, labels: {version: v2}}\n"
		      DR_REVIEWS VS_HEAD
		      "  http:\n"
		      "  - match: [{uri: {prefix: /admin}}]\n"
		      "    route: [{destination: {host: reviews, subset: v3}}]\n"
		      "  - match: [{port: 80}]\n"
		      "    route: [{destination: {host: reviews, subset: v1}}]\n"
		      "  - route: [{destination: {host: reviews, subset: v2}}]\n", false);
	assert_int_equal(t.ret, 0);
	s80 = ptest_service(&t.img, "127.100.0.1", 80);
	s81 = ptest_service(&t.img, "127.100.0.1", 81);
	assert_int_equal(s80->val.dests[0].subset_id, bpfmesh_name_id(CANARY_HOST "/v1:80"));
	assert_int_equal(s81->val.dests[0].subset_id, bpfmesh_name_id(CANARY_HOST "/v2:81"));
	assert_diag(&t, DIAG_UNENFORCED, 28, 14, "spec.http[0].match[0].uri", "not matching");
	ptest_free(&t);
}

/* http routes do not apply to a TCP port: whole service, and a warning. */
static void test_http_routes_on_tcp_port_warn(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  http:\n"
		      "  - route: [{destination: {host: reviews, subset: v2}}]\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.dests[0].n_slots, 3);
	assert_non_null(ptest_find(&t, DIAG_WARNING, "spec.http", "do not apply to TCP port 80"));
	ptest_free(&t);
}

/* endpoint.ports[port.name] beats targetPort, which beats the port number. */
static void test_target_port_resolution(void **state)
{
	const struct image_service *s;
	const struct image_set *set;
	struct ptest t;

	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: db}\n"
		      "spec:\n"
		      "  hosts: [db.example.com]\n"
		      "  addresses: [127.100.0.5]\n"
		      "  ports: [{number: 5432, name: pg, targetPort: 6432}, {number: 7000, name: admin}]\n"
		      "  endpoints:\n"
		      "  - {address: 127.0.5.1, ports: {pg: 15432}}\n"
		      "  - {address: 127.0.5.2}\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.5", 5432);
	set = &t.img.sets[s->val.dests[0].set_id];
	assert_int_equal(set->slots[0].port, htons(15432));
	assert_int_equal(set->slots[1].port, htons(6432));
	s = ptest_service(&t.img, "127.100.0.5", 7000);
	set = &t.img.sets[s->val.dests[0].set_id];
	assert_int_equal(set->slots[0].port, htons(7000));
	ptest_free(&t);
}

/* workloadSelector picks WorkloadEntries of the same namespace only. */
static void test_workload_entries_selected(void **state)
{
	const struct image_service *s;
	const struct image_set *set;
	struct ptest t;

	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: vm, namespace: legacy}\n"
		      "spec:\n"
		      "  hosts: [vm.legacy.svc.cluster.local]\n"
		      "  addresses: [127.100.0.6]\n"
		      "  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
		      "  workloadSelector: {labels: {app: vm}}\n"
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: WorkloadEntry\n"
		      "metadata: {name: vm-1, namespace: legacy}\n"
		      "spec: {address: 127.0.6.1, labels: {app: vm}, weight: 2, ports: {tcp: 8081}}\n"
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: WorkloadEntry\n"
		      "metadata: {name: vm-2, namespace: other}\n"
		      "spec: {address: 127.0.6.2, labels: {app: vm}}\n"
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: WorkloadEntry\n"
		      "metadata: {name: vm-3, namespace: legacy}\n"
		      "spec: {address: 127.0.6.3, labels: {app: other}}\n", false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.6", 80);
	set = &t.img.sets[s->val.dests[0].set_id];
	assert_int_equal(set->n_slots, 1);
	assert_int_equal(set->slots[0].addr[0], ptest_ip("127.0.6.1"));
	assert_int_equal(set->slots[0].port, htons(8081));
	assert_int_equal(set->slots[0].weight, 2);
	ptest_free(&t);
}

static void assert_image_empty(const struct bpfmesh_image *img)
{
	assert_int_equal(img->n_services, 0);
	assert_int_equal(img->n_sets, 0);
	assert_int_equal(img->n_names, 0);
	assert_null(img->services);
	assert_null(img->sets);
	assert_null(img->names);
}

static void test_vip_collision_is_error(void **state)
{
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: other}\n"
		      "spec:\n"
		      "  hosts: [other.example.com]\n"
		      "  addresses: [127.100.0.1]\n"
		      "  ports: [{number: 80, name: tcp}]\n"
		      "  endpoints: [{address: 127.0.9.9}]\n", false);
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 19, 15, "spec.addresses[0]", "claimed by both");
	assert_image_empty(&t.img);
	ptest_free(&t);
}

/* A bad policy never produces a partial image. */
static void test_error_leaves_image_empty(void **state)
{
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS DR_REVIEWS VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews, subset: v9}, weight: 1}\n"
		      "    - {destination: {host: reviews, subset: v1}, weight: 1}\n", false);
	assert_int_equal(t.ret, 1);
	assert_image_empty(&t.img);
	ptest_free(&t);
}

static void test_strict_makes_unenforced_fatal(void **state)
{
	static const char *yaml = SE_REVIEWS DR_REVIEWS VS_HEAD
		"  tcp:\n"
		"  - route: [{destination: {host: reviews, subset: v1}}]\n"
		"  tls:\n"
		"  - match: [{sniHosts: [reviews]}]\n"
		"    route: [{destination: {host: reviews}}]\n";
	struct ptest t;

	assert_int_equal(ptest_compile(&t, yaml, false), 0);
	assert_int_equal(t.img.n_services, 1);
	ptest_free(&t);
	assert_int_equal(ptest_compile(&t, yaml, true), 1);
	assert_image_empty(&t.img);
	assert_int_equal(diag_count_errors(&t.dl), 1);
	ptest_free(&t);
}

/* Destination in another service, port omitted: its only port is taken. */
static void test_destination_other_service_port(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: backup, namespace: dr}\n"
		      "spec:\n"
		      "  hosts: [backup.dr.svc.cluster.local]\n"
		      "  ports: [{number: 9000, name: tcp}]\n"
		      "  endpoints: [{address: 127.0.7.1}]\n"
		      VS_HEAD
		      "  tcp:\n"
		      "  - route:\n"
		      "    - {destination: {host: reviews}, weight: 1}\n"
		      "    - {destination: {host: backup.dr.svc.cluster.local}, weight: 3}\n", false);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.img.n_services, 1); /* backup has no VIP */
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.dests[1].subset_id,
			 bpfmesh_name_id("backup.dr.svc.cluster.local:9000"));
	assert_int_equal(t.img.sets[s->val.dests[1].set_id].slots[0].port, htons(9000));
	ptest_free(&t);
}

static void test_destination_port_ambiguous(void **state)
{
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata: {name: two}\n"
		      "spec:\n"
		      "  hosts: [two.example.com]\n"
		      "  ports: [{number: 1000, name: a}, {number: 2000, name: b}]\n"
		      "  endpoints: [{address: 127.0.8.1}]\n"
		      VS_HEAD
		      "  tcp:\n"
		      "  - route: [{destination: {host: two.example.com}}]\n", false);
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 28, 27, "spec.tcp[0].route[0].destination",
		    "set destination.port.number");
	ptest_free(&t);
}

/* Two DestinationRules for one host: subsets merge, the first name wins. */
static void test_destination_rules_merge(void **state)
{
	const struct image_service *s;
	struct ptest t;

	ptest_compile(&t, SE_REVIEWS
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: DestinationRule\n"
		      "metadata: {name: a}\n"
		      "spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}\n"
		      "---\n"
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: DestinationRule\n"
		      "metadata: {name: b}\n"
		      "spec: {host: reviews.default.svc.cluster.local, subsets: [{name: v2, labels: {version: v2}}, {name: v1, labels: {version: v2}}]}\n"
		      VS_HEAD
		      "  tcp:\n"
		      "  - route: [{destination: {host: reviews, subset: v1}, weight: 1}, {destination: {host: reviews, subset: v2}, weight: 1}]\n",
		      false);
	assert_int_equal(t.ret, 0);
	s = ptest_service(&t.img, "127.100.0.1", 80);
	assert_int_equal(s->val.dests[0].n_slots, 2); /* v1 from the first DR */
	assert_int_equal(s->val.dests[1].n_slots, 1);
	assert_non_null(ptest_find(&t, DIAG_WARNING, "spec.subsets[1]", "first definition wins"));
	ptest_free(&t);
}

static void test_directory_in_name_order(void **state)
{
	const char *paths[] = { "tests/unit/fixtures/split" };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;
	const struct image_service *s;

	assert_int_equal(policy_compile_paths(paths, 1, &dl, &img), 0);
	s = ptest_service(&img, "127.100.0.1", 80);
	assert_non_null(s);
	assert_int_equal(s->val.n_dests, 2);
	assert_string_equal(s->src_file, "tests/unit/fixtures/split/10-service.yaml");
	bpfmesh_image_free(&img);
	diag_free(&dl);
}

static void test_missing_path_is_io_error(void **state)
{
	const char *paths[] = { "tests/unit/fixtures/no-such-file.yaml" };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;

	assert_int_equal(policy_compile_paths(paths, 1, &dl, &img), 2);
	assert_int_equal(dl.n, 1);
	assert_int_equal(dl.items[0].level, DIAG_ERROR);
	assert_image_empty(&img);
	diag_free(&dl);
}

/* Many services: every key present once, sets shared only within a service. */
static void test_many_services(void **state)
{
	size_t i, n = 600, cap = n * 1500;
	char *yaml = malloc(cap), *p = yaml;
	struct ptest a, b;

	assert_non_null(yaml);
	for (i = 0; i < n; i++)
		p += snprintf(p, cap - (size_t)(p - yaml),
			      "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			      "metadata: {name: s%zu}\nspec:\n  hosts: [s%zu.example.com]\n"
			      "  addresses: [127.%zu.%zu.1]\n"
			      "  ports: [{number: 80, name: a}, {number: 81, name: b}]\n"
			      "  endpoints: [{address: 10.0.%zu.1, labels: {v: a}}, "
			      "{address: 10.0.%zu.2, labels: {v: b}}]\n"
			      "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
			      "metadata: {name: s%zu}\nspec: {host: s%zu.example.com, subsets: "
			      "[{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]}\n"
			      "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			      "metadata: {name: s%zu}\nspec: {hosts: [s%zu.example.com], tcp: [{route: "
			      "[{destination: {host: s%zu.example.com, subset: a}, weight: 3}, "
			      "{destination: {host: s%zu.example.com, subset: b}, weight: 1}]}]}\n",
			      i, i, 100 + i / 250, i % 250, i % 250, i % 250, i, i, i, i, i, i);
	assert_true((size_t)(p - yaml) < cap);
	ptest_compile(&a, yaml, false);
	ptest_compile(&b, yaml, false);
	free(yaml);
	assert_int_equal(a.ret, 0);
	assert_int_equal(a.img.n_services, 2 * n);
	assert_int_equal(a.img.n_sets, 4 * n);
	assert_int_equal(a.img.n_names, n + 4 * n);
	for (i = 0; i < a.img.n_services; i++) {
		assert_int_equal(a.img.services[i].val.total_weight, 4);
		assert_int_equal(a.img.services[i].val.dests[0].n_slots, 1);
	}
	assert_images_equal(&a.img, &b.img);
	ptest_free(&a);
	ptest_free(&b);
}

static void test_every_example_compiles(void **state)
{
	const char *paths[] = { "policies/examples" };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;

	if (policy_compile_paths(paths, 1, &dl, &img) != 0) {
		diag_print(&dl, stderr);
		fail();
	}
	assert_true(img.n_services >= 3);
	bpfmesh_image_free(&img);
	diag_free(&dl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canary_example_file),
		cmocka_unit_test(test_canary_golden),
		cmocka_unit_test(test_names_table),
		cmocka_unit_test(test_deterministic_bytes),
		cmocka_unit_test(test_services_sorted_sets_first_use),
		cmocka_unit_test(test_weights_reduced_by_gcd),
		cmocka_unit_test(test_weighted_endpoints_sorted),
		cmocka_unit_test(test_default_route),
		cmocka_unit_test(test_single_destination_weight_ignored),
		cmocka_unit_test(test_zero_weight_destination_omitted),
		cmocka_unit_test(test_empty_subset_set),
		cmocka_unit_test(test_route_by_port_and_unenforced_clause),
		cmocka_unit_test(test_http_routes_on_tcp_port_warn),
		cmocka_unit_test(test_target_port_resolution),
		cmocka_unit_test(test_workload_entries_selected),
		cmocka_unit_test(test_vip_collision_is_error),
		cmocka_unit_test(test_error_leaves_image_empty),
		cmocka_unit_test(test_strict_makes_unenforced_fatal),
		cmocka_unit_test(test_destination_other_service_port),
		cmocka_unit_test(test_destination_port_ambiguous),
		cmocka_unit_test(test_destination_rules_merge),
		cmocka_unit_test(test_directory_in_name_order),
		cmocka_unit_test(test_missing_path_is_io_error),
		cmocka_unit_test(test_many_services),
		cmocka_unit_test(test_every_example_compiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
