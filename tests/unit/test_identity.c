// SPDX-License-Identifier: Apache-2.0
/* Workload identity (issue 15): WorkloadEntries with bpfmesh.io/cgroup are
 * identities 1..n in (namespace, name) order; VirtualService sourceLabels
 * and sourceNamespace give an identity a key (VIP, identity) of its own
 * when its route differs from the one for any caller. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

#define CALLERS                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: WorkloadEntry\n"                                                    \
	"metadata:\n  name: web\n  namespace: shop\n"                             \
	"  annotations: {bpfmesh.io/cgroup: /pods/web}\n"                          \
	"spec: {address: 198.18.9.1, labels: {app: web}, serviceAccount: web}\n"   \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: WorkloadEntry\n"                                                    \
	"metadata:\n  name: qa\n  namespace: tools\n"                             \
	"  annotations: {bpfmesh.io/cgroup: pods/qa}\n"                            \
	"spec: {address: 198.18.9.2, labels: {app: qa-tools}}\n"                   \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: api}\n"                                                  \
	"spec:\n"                                                                  \
	"  hosts: [api.example.com]\n"                                             \
	"  addresses: [198.18.0.80]\n"                                             \
	"  ports: [{number: 80, name: tcp}]\n"                                     \
	"  resolution: STATIC\n"                                                   \
	"  endpoints:\n"                                                           \
	"  - {address: 198.18.0.1, labels: {version: v1}}\n"                       \
	"  - {address: 198.18.0.2, labels: {version: v2}}\n"                       \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: api}\n"                                                  \
	"spec:\n"                                                                  \
	"  host: api.example.com\n"                                                \
	"  subsets:\n"                                                             \
	"  - {name: v1, labels: {version: v1}}\n"                                  \
	"  - {name: v2, labels: {version: v2}}\n"                                  \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: VirtualService\n"                                                   \
	"metadata: {name: api}\n"                                                  \
	"spec:\n"                                                                  \
	"  hosts: [api.example.com]\n"                                             \
	"  tcp:\n"

static const struct image_service *key_with(const struct bpfmesh_image *img, __u32 identity)
{
	size_t i;

	for (i = 0; i < img->n_services; i++)
		if (img->services[i].key.identity == identity)
			return &img->services[i];
	return NULL;
}

static const char *dest_name(const struct bpfmesh_image *img, const struct image_service *s)
{
	return img->sets[s->val.dests[0].set_id].cluster;
}

static void compile_ok(struct ptest *t, const char *yaml)
{
	ptest_compile(t, yaml, false);
	if (t->ret)
		diag_print(&t->dl, stderr);
	assert_int_equal(t->ret, 0);
}

/* Identities in (namespace, name) order: shop/web 1, tools/qa 2. */
static void test_identities_listed(void **state)
{
	struct ptest t;

	(void)state;
	compile_ok(&t, CALLERS "  - route: [{destination: {host: api.example.com, subset: v1}}]\n");
	assert_int_equal(t.img.n_identities, 2);
	assert_int_equal(t.img.identities[0].id, 1);
	assert_string_equal(t.img.identities[0].ns, "shop");
	assert_string_equal(t.img.identities[0].cgroup, "/pods/web");
	assert_string_equal(t.img.identities[1].name, "qa");
	/* No route by source: one key, no identity lookup in the kernel. */
	assert_int_equal(t.img.n_services, 1);
	assert_int_equal(t.img.services[0].val.flags & BPFMESH_SVC_F_BY_SOURCE, 0);
	ptest_free(&t);
}

/* sourceLabels {app: qa-tools} -> v2, else v1: qa gets a key of its own. */
static void test_source_labels_route(void **state)
{
	const struct image_service *any, *qa;
	struct ptest t;

	(void)state;
	compile_ok(&t, CALLERS
		   "  - match: [{sourceLabels: {app: qa-tools}}]\n"
		   "    route: [{destination: {host: api.example.com, subset: v2}}]\n"
		   "  - route: [{destination: {host: api.example.com, subset: v1}}]\n");
	assert_int_equal(t.img.n_services, 2);
	any = key_with(&t.img, 0);
	qa = key_with(&t.img, 2);
	assert_non_null(any);
	assert_non_null(qa);
	assert_true(any->val.flags & BPFMESH_SVC_F_BY_SOURCE);
	assert_string_equal(dest_name(&t.img, any), "api.example.com/v1:80");
	assert_string_equal(dest_name(&t.img, qa), "api.example.com/v2:80");
	assert_memory_equal(qa->key.addr, any->key.addr, sizeof(any->key.addr));
	assert_null(key_with(&t.img, 1)); /* web: same route as anyone */
	ptest_free(&t);
}

/* sourceNamespace: shop -> v2; a clause with both needs both. */
static void test_source_namespace_route(void **state)
{
	const struct image_service *web;
	struct ptest t;

	(void)state;
	compile_ok(&t, CALLERS
		   "  - match: [{sourceNamespace: tools, sourceLabels: {app: web}}]\n"
		   "    route: [{destination: {host: api.example.com, subset: v1}}]\n"
		   "  - match: [{sourceNamespace: shop}]\n"
		   "    route: [{destination: {host: api.example.com, subset: v2}}]\n"
		   "  - route: [{destination: {host: api.example.com, subset: v1}}]\n");
	web = key_with(&t.img, 1);
	assert_non_null(web);
	assert_string_equal(dest_name(&t.img, web), "api.example.com/v2:80");
	assert_null(key_with(&t.img, 2)); /* tools/qa is not app: web */
	ptest_free(&t);
}

/* The annotation must stay under the cgroup2 mount. */
static void test_cgroup_annotation_checked(void **state)
{
	struct ptest t;

	(void)state;
	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: WorkloadEntry\n"
		      "metadata:\n  name: bad\n  annotations: {bpfmesh.io/cgroup: ../../etc}\n"
		      "spec: {address: 198.18.9.3}\n", false);
	assert_int_not_equal(t.ret, 0);
	assert_non_null(ptest_find(&t, DIAG_ERROR, "metadata.annotations.bpfmesh.io/cgroup",
				   "without \"..\""));
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identities_listed),
		cmocka_unit_test(test_source_labels_route),
		cmocka_unit_test(test_source_namespace_route),
		cmocka_unit_test(test_cgroup_annotation_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
