// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes discovery (issue 16), against recordings in tests/k8s/fixtures
 * written from the API reference's shapes (no cluster runs here):
 *  - conversion: Services + EndpointSlices -> ServiceEntries (STATIC) as
 *    Istio builds them, compiled into the image; endpoint conditions;
 *    ports and protocols; locality from nodes, zones and istio-locality;
 *    Istio objects as the API returns them (managedFields, status, ...);
 *    this node's pods -> workload identities with their cgroups;
 *  - the watch: list pages, resumption, bookmarks, 410 Gone both ways,
 *    a broken stream, a slow stream, an API outage that keeps the state;
 *  - kubeconfig and in-cluster credentials.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "policy_test.h"
#include "k8s/json_text.h"
#include "k8s/k8s.h"
#include "../k8s/fakeapi.h"

#define FIX "tests/k8s/fixtures"

/* ---- helpers ------------------------------------------------------------ */

/* A list fixture's items keyed by namespace/name, as the watch holds them. */
static struct json_object *load_items(const char *file)
{
	struct json_object *list = json_object_from_file(file), *items, *out;
	size_t i;

	assert_non_null(list);
	assert_true(json_object_object_get_ex(list, "items", &items));
	out = json_object_new_object();
	for (i = 0; i < json_object_array_length(items); i++) {
		struct json_object *it = json_object_array_get_idx(items, i), *meta, *n, *ns;
		char key[256];

		json_object_object_get_ex(it, "metadata", &meta);
		json_object_object_get_ex(meta, "name", &n);
		if (json_object_object_get_ex(meta, "namespace", &ns))
			snprintf(key, sizeof(key), "%s/%s", json_object_get_string(ns),
				 json_object_get_string(n));
		else
			snprintf(key, sizeof(key), "%s", json_object_get_string(n));
		json_object_object_add(out, key, json_object_get(it));
	}
	json_object_put(list);
	return out;
}

static void cluster_load(struct k8s_objects *o)
{
	memset(o, 0, sizeof(*o));
	o->by_kind[K8S_NODES] = load_items(FIX "/cluster/nodes.list.json");
	o->by_kind[K8S_PODS] = load_items(FIX "/cluster/pods.list.json");
	o->by_kind[K8S_SERVICES] = load_items(FIX "/cluster/services.list.json");
	o->by_kind[K8S_ENDPOINTSLICES] = load_items(FIX "/cluster/endpointslices.list.json");
	o->by_kind[K8S_VIRTUALSERVICES] = load_items(FIX "/cluster/virtualservices.v1beta1.list.json");
	o->by_kind[K8S_DESTINATIONRULES] = load_items(FIX "/cluster/destinationrules.v1.list.json");
	o->node_name = "node-a";
}

static void cluster_free(struct k8s_objects *o)
{
	int k;

	for (k = 0; k < K8S_N_KINDS; k++)
		json_object_put(o->by_kind[k]);
}

/* The rendered document named name, parsed (caller puts it). */
static struct json_object *doc_named(const struct k8s_docs *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->names[i], name) == 0)
			return json_tokener_parse(d->texts[i]);
	return NULL;
}

static struct json_object *at(struct json_object *o, const char *path)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
		if (tok[0] >= '0' && tok[0] <= '9')
			o = json_object_array_get_idx(o, (size_t)atoi(tok));
		else if (!json_object_object_get_ex(o, tok, &o))
			o = NULL;
	}
	return o;
}

static const char *at_str(struct json_object *o, const char *path)
{
	struct json_object *v = at(o, path);

	return v ? json_object_get_string(v) : NULL;
}

static int compile_docs(struct ptest *t, const struct k8s_docs *d)
{
	memset(t, 0, sizeof(*t));
	t->ret = policy_compile_buffers((const char *const *)d->names,
				       (const char *const *)d->texts, d->lens, d->n, &t->dl,
				       &t->img);
	return t->ret;
}

/* The endpoint addresses of destination i of a compiled service, "a:p,b:p". */
static void dest_endpoints(const struct bpfmesh_image *img, const struct image_service *s,
			   unsigned int i, char *out, size_t len)
{
	const struct image_set *set = &img->sets[s->val.dests[i].set_id];
	size_t used = 0;
	__u32 j;

	out[0] = '\0';
	for (j = 0; j < set->n_slots; j++) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &set->slots[j].addr[0], ip, sizeof(ip));
		used += (size_t)snprintf(out + used, len - used, "%s%s:%u", j ? "," : "", ip,
					 ntohs(set->slots[j].port));
	}
}

/* ---- conversion ---------------------------------------------------------- */

/* reviews: a STATIC ServiceEntry, ready endpoints only, deduplicated. */
static void test_service_to_service_entry(void **state)
{
	struct k8s_objects o;
	struct k8s_docs d = { 0 };
	struct json_object *se;

	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	se = doc_named(&d, "k8s:Service/default/reviews");
	assert_non_null(se);
	assert_string_equal(at_str(se, "apiVersion"), "networking.istio.io/v1");
	assert_string_equal(at_str(se, "kind"), "ServiceEntry");
	assert_string_equal(at_str(se, "spec.hosts.0"), "reviews.default.svc.cluster.local");
	assert_string_equal(at_str(se, "spec.resolution"), "STATIC");
	assert_string_equal(at_str(se, "spec.location"), "MESH_INTERNAL");
	/* dual stack: the cluster IPs of both families */
	assert_int_equal(json_object_array_length(at(se, "spec.addresses")), 2);
	assert_string_equal(at_str(se, "spec.addresses.0"), "10.96.0.10");
	assert_string_equal(at_str(se, "spec.addresses.1"), "fd00:10:96::a");
	assert_string_equal(at_str(se, "spec.ports.0.name"), "http");
	assert_string_equal(at_str(se, "spec.ports.0.protocol"), "HTTP");
	/* ready:true (x2), ready unset: in; ready:false serving+terminating
	 * (draining) and ready:false: out; 10.244.2.7 twice: once; the IPv6
	 * slice's endpoint: in, after the IPv4 ones (slice key order) */
	assert_int_equal(json_object_array_length(at(se, "spec.endpoints")), 4);
	assert_string_equal(at_str(se, "spec.endpoints.3.address"), "fd00:10:244::5");
	assert_string_equal(at_str(se, "spec.endpoints.0.address"), "10.244.1.5");
	assert_string_equal(at_str(se, "spec.endpoints.1.address"), "10.244.2.7");
	assert_string_equal(at_str(se, "spec.endpoints.2.address"), "10.244.1.6");
	assert_int_equal(json_object_get_int(at(se, "spec.endpoints.0.ports.http")), 9080);
	/* pod labels, for subsets */
	assert_string_equal(at_str(se, "spec.endpoints.0.labels.version"), "v1");
	assert_string_equal(at_str(se, "spec.endpoints.1.labels.version"), "v2");
	assert_null(at(se, "spec.endpoints.2.labels"));
	json_object_put(se);
	/* headless: Istio's Passthrough, a ServiceEntry with resolution NONE,
	 * no address and no endpoints; ExternalName: nothing */
	se = doc_named(&d, "k8s:Service/default/db");
	assert_non_null(se);
	assert_string_equal(at_str(se, "spec.hosts.0"), "db.default.svc.cluster.local");
	assert_string_equal(at_str(se, "spec.resolution"), "NONE");
	assert_null(at(se, "spec.addresses"));
	assert_null(at(se, "spec.endpoints"));
	assert_string_equal(at_str(se, "spec.ports.0.name"), "tcp-pg");
	json_object_put(se);
	assert_null(doc_named(&d, "k8s:Service/default/ext"));
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* endpointHealthStatus, one condition set at a time. */
static void test_endpoint_conditions(void **state)
{
	static const struct { const char *cond; bool in; } rows[] = {
		{ "{}", true },
		{ "{\"ready\": true}", true },
		{ "{\"ready\": true, \"serving\": true, \"terminating\": false}", true },
		{ "{\"ready\": false, \"serving\": true, \"terminating\": true}", false },
		{ "{\"ready\": false, \"serving\": false, \"terminating\": true}", false },
		{ "{\"ready\": false, \"serving\": false}", false },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct k8s_objects o = { 0 };
		struct k8s_docs d = { 0 };
		struct json_object *se;
		char slice[1024];

		o.by_kind[K8S_SERVICES] = json_tokener_parse(
			"{\"ns/s\": {\"metadata\": {\"name\": \"s\", \"namespace\": \"ns\"},"
			" \"spec\": {\"clusterIP\": \"10.96.0.1\", \"ports\": [{\"name\": \"tcp\", \"port\": 80}]}}}");
		snprintf(slice, sizeof(slice),
			 "{\"ns/s-1\": {\"metadata\": {\"name\": \"s-1\", \"namespace\": \"ns\","
			 " \"labels\": {\"kubernetes.io/service-name\": \"s\"}}, \"addressType\": \"IPv4\","
			 " \"ports\": [{\"name\": \"tcp\", \"port\": 8080}],"
			 " \"endpoints\": [{\"addresses\": [\"10.0.0.1\"], \"conditions\": %s}]}}",
			 rows[i].cond);
		o.by_kind[K8S_ENDPOINTSLICES] = json_tokener_parse(slice);
		assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
		se = doc_named(&d, "k8s:Service/ns/s");
		assert_non_null(se);
		if (json_object_array_length(at(se, "spec.endpoints")) != (rows[i].in ? 1u : 0u))
			fail_msg("conditions %s: expected %s", rows[i].cond, rows[i].in ? "in" : "out");
		json_object_put(se);
		k8s_docs_free(&d);
		cluster_free(&o);
	}
}

/* Istio's protocol rules for Service ports, and unnamed ports. */
static void test_port_protocols(void **state)
{
	struct k8s_objects o = { 0 };
	struct k8s_docs d = { 0 };
	struct json_object *se;

	o.by_kind[K8S_SERVICES] = json_tokener_parse(
		"{\"ns/p\": {\"metadata\": {\"name\": \"p\", \"namespace\": \"ns\"},"
		" \"spec\": {\"clusterIP\": \"10.96.0.2\", \"ports\": ["
		"  {\"name\": \"http-web\", \"port\": 80},"
		"  {\"name\": \"web\", \"port\": 81, \"appProtocol\": \"kubernetes.io/h2c\"},"
		"  {\"name\": \"grpc-web\", \"port\": 82},"
		"  {\"name\": \"metrics\", \"port\": 83},"
		"  {\"name\": \"dns\", \"port\": 53, \"protocol\": \"UDP\"},"
		"  {\"name\": \"assoc\", \"port\": 84, \"protocol\": \"SCTP\"},"
		"  {\"name\": \"redis\", \"port\": 6379, \"appProtocol\": \"REDIS\"}]}}}");
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	se = doc_named(&d, "k8s:Service/ns/p");
	assert_non_null(se);
	assert_string_equal(at_str(se, "spec.ports.0.protocol"), "HTTP");
	assert_string_equal(at_str(se, "spec.ports.1.protocol"), "HTTP2");
	assert_string_equal(at_str(se, "spec.ports.2.protocol"), "GRPC-Web");
	assert_null(at(se, "spec.ports.3.protocol")); /* sniffed by Istio; TCP here */
	assert_string_equal(at_str(se, "spec.ports.4.protocol"), "UDP");
	/* SCTP dropped */
	assert_string_equal(at_str(se, "spec.ports.5.name"), "redis");
	assert_string_equal(at_str(se, "spec.ports.5.protocol"), "REDIS");
	assert_int_equal(json_object_array_length(at(se, "spec.ports")), 6);
	json_object_put(se);
	k8s_docs_free(&d);

	/* an unnamed port (ratings) is named port-80, and its endpoints map it */
	cluster_free(&o);
	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	se = doc_named(&d, "k8s:Service/default/ratings");
	assert_non_null(se);
	assert_string_equal(at_str(se, "spec.ports.0.name"), "port-80");
	assert_int_equal(json_object_get_int(at(se, "spec.endpoints.0.ports.port-80")), 8080);
	json_object_put(se);
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* A new version of the object held under key in store, with label k=v. */
static void relabel(struct json_object *store, const char *key, const char *k, const char *v)
{
	struct json_object *copy = NULL;

	assert_int_equal(json_object_deep_copy(at(store, key), &copy, NULL), 0);
	json_object_object_add(at(copy, "metadata.labels"), k, json_object_new_string(v));
	json_object_object_add(store, key, copy);
}

/* The render cache (k8s_objects.cache): the documents are those of a
 * rendering without it, and a Service is made again when an object it was
 * made from is replaced: here a pod and a node its endpoints name. */
static void test_render_cache(void **state)
{
	struct json_object *cache = NULL, *se;
	struct k8s_docs plain = { 0 }, d = { 0 };
	struct k8s_objects o;
	int round;
	size_t i;

	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, NULL, &plain, NULL), 0);
	o.cache = &cache;
	for (round = 0; round < 2; round++) { /* the cache made, then used */
		assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
		assert_non_null(cache);
		assert_int_equal(d.n, plain.n);
		for (i = 0; i < d.n; i++) {
			assert_string_equal(d.names[i], plain.names[i]);
			assert_string_equal(d.texts[i], plain.texts[i]);
		}
		k8s_docs_free(&d);
	}
	relabel(o.by_kind[K8S_PODS], "default/reviews-v1-7d9f", "version", "v9");
	relabel(o.by_kind[K8S_NODES], "node-a", "topology.istio.io/subzone", "rack2");
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	se = doc_named(&d, "k8s:Service/default/reviews");
	assert_string_equal(at_str(se, "spec.endpoints.0.labels.version"), "v9");
	assert_string_equal(at_str(se, "spec.endpoints.0.locality"), "us-east1/us-east1-b/rack2");
	json_object_put(se);
	k8s_docs_free(&d);
	k8s_docs_free(&plain);
	json_object_put(cache);
	cluster_free(&o);
}

/* Locality: node region + endpoint zone + node subzone; istio-locality wins. */
static void test_locality(void **state)
{
	struct k8s_objects o;
	struct k8s_docs d = { 0 };
	struct k8s_node_view v;
	struct json_object *se;

	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, NULL, &d, &v), 0);
	assert_string_equal(v.locality, "us-east1/us-east1-b/rack1");
	/* the node's labels, for failoverPriority (agent node.c) */
	assert_string_equal(v.labels, "kubernetes.io/hostname=node-a,topology.istio.io/subzone=rack1,"
				      "topology.kubernetes.io/region=us-east1,"
				      "topology.kubernetes.io/zone=us-east1-b");
	se = doc_named(&d, "k8s:Service/default/reviews");
	assert_string_equal(at_str(se, "spec.endpoints.0.locality"), "us-east1/us-east1-b/rack1");
	assert_string_equal(at_str(se, "spec.endpoints.1.locality"), "us-east1/us-east1-c");
	assert_null(at(se, "spec.endpoints.2.locality")); /* no node: no region */
	json_object_put(se);
	se = doc_named(&d, "k8s:Service/default/ratings");
	assert_string_equal(at_str(se, "spec.endpoints.0.locality"), "eu-west1/eu-west1-a");
	json_object_put(se);
	k8s_node_view_free(&v);
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* A headless Service (tests/k8s/fixtures/headless): Istio's Passthrough,
 * its ready pods' hostnames as Istio's DNS names, and a DestinationRule on
 * its host compiles without a word about an unknown host. */
static void test_headless_service(void **state)
{
	struct k8s_objects o = { 0 };
	struct k8s_docs d = { 0 };
	struct json_object *se, *names;
	struct ptest t;
	int k;

	(void)state;
	o.by_kind[K8S_SERVICES] = load_items(FIX "/headless/services.list.json");
	o.by_kind[K8S_ENDPOINTSLICES] = load_items(FIX "/headless/endpointslices.list.json");
	o.by_kind[K8S_DESTINATIONRULES] = load_items(FIX "/headless/destinationrules.list.json");
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	se = doc_named(&d, "k8s:Service/data/pg");
	assert_non_null(se);
	assert_string_equal(at_str(se, "spec.resolution"), "NONE");
	assert_null(at(se, "spec.addresses"));
	assert_null(at(se, "spec.endpoints"));
	/* HOSTNAME.SERVICE.NS.svc.cluster.local, ready endpoints only (pg-2 is not) */
	assert_true(json_object_object_get_ex(at(se, "metadata.annotations"),
					      "bpfmesh.io/pod-hostnames", &names));
	assert_string_equal(json_object_get_string(names),
			    "pg-0.pg.data.svc.cluster.local=10.244.1.30,"
			    "pg-1.pg.data.svc.cluster.local=10.244.2.31");
	json_object_put(se);
	assert_int_equal(compile_docs(&t, &d), 0);
	assert_no_diag(&t, DIAG_WARNING);
	/* nothing intercepted: no key for any pod address or port */
	assert_int_equal(t.img.n_services, 0);
	ptest_free(&t);
	k8s_docs_free(&d);
	for (k = 0; k < K8S_N_KINDS; k++)
		json_object_put(o.by_kind[k]);
}

/* The whole cluster compiles, Istio objects with the API's metadata and
 * status included, with no diagnostic at all; the image routes 90/10. */
static void test_cluster_compiles(void **state)
{
	struct k8s_objects o;
	struct k8s_docs d = { 0 };
	const struct image_service *s;
	struct ptest t;
	char eps[256];

	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	assert_int_equal(d.n, 5); /* 3 Services, 1 DestinationRule, 1 VirtualService */
	assert_int_equal(compile_docs(&t, &d), 0);
	/* One note, the headless Service's: nothing of it is intercepted. */
	assert_no_diag(&t, DIAG_WARNING);
	assert_int_equal(ptest_count(&t, DIAG_NOTE), 1);
	assert_non_null(ptest_find(&t, DIAG_NOTE, "spec.addresses", "db.default.svc.cluster.local"));
	s = ptest_service(&t.img, "10.96.0.10", 9080);
	assert_non_null(s);
	assert_int_equal(s->val.n_dests, 2);
	/* 90/10, as the compiler reduces it */
	assert_int_equal(s->val.dests[0].cum_weight * 10, s->val.total_weight * 9);
	dest_endpoints(&t.img, s, 0, eps, sizeof(eps));
	assert_string_equal(eps, "10.244.1.5:9080");
	dest_endpoints(&t.img, s, 1, eps, sizeof(eps));
	assert_string_equal(eps, "10.244.2.7:9080");
	assert_string_equal(s->src_file, "k8s:Service/default/reviews");
	s = ptest_service(&t.img, "10.96.0.11", 80);
	assert_non_null(s);
	dest_endpoints(&t.img, s, 0, eps, sizeof(eps));
	assert_string_equal(eps, "10.244.1.20:8080");
	/* dual stack: the IPv6 cluster IP is a service key of its own family,
	 * routed 90/10 like the IPv4 one (its endpoint has no pod, so no
	 * labels: neither subset holds it, as in Istio) */
	{
		struct svc_key k6 = ptest_key("0.0.0.0", 9080);
		size_t i;

		s = NULL;
		assert_int_equal(inet_pton(AF_INET6, "fd00:10:96::a", k6.addr), 1);
		k6.family = BPFMESH_AF_INET6;
		for (i = 0; i < t.img.n_services; i++)
			if (!memcmp(&t.img.services[i].key, &k6, sizeof(k6)))
				s = &t.img.services[i];
		assert_non_null(s);
		assert_int_equal(s->val.n_dests, 2);
		assert_int_equal(s->val.dests[0].cum_weight * 10, s->val.total_weight * 9);
	}
	ptest_free(&t);
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* A bad object from the API is reported as k8s:KIND/ns/name:line:col with
 * its field, like a file. */
static void test_bad_object_diagnostic(void **state)
{
	struct k8s_objects o;
	struct k8s_docs d = { 0 };
	struct ptest t;
	const struct diag *dg;
	struct json_object *vs, *w;

	cluster_load(&o);
	vs = json_object_object_get(o.by_kind[K8S_VIRTUALSERVICES], "default/reviews");
	w = at(vs, "spec.http.0.route.1");
	json_object_object_add(w, "weight", json_object_new_int(-5));
	assert_int_equal(k8s_render_objects(&o, NULL, &d, NULL), 0);
	assert_int_equal(compile_docs(&t, &d), 1);
	dg = ptest_find(&t, DIAG_ERROR, "spec.http[0].route[1].weight", NULL);
	if (!dg) {
		diag_print(&t.dl, stderr);
		fail_msg("no weight error");
	}
	assert_string_equal(dg->file, "k8s:VirtualService/default/reviews");
	assert_true(dg->line > 1);
	assert_true(dg->col > 1);
	ptest_free(&t);
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* Pods on this node -> identities; the kubelet's cgroup names. */
static void test_node_workloads(void **state)
{
	char root[] = "/tmp/bpfmesh-k8s-cg-XXXXXX", path[512];
	struct k8s_objects o;
	struct k8s_node_view v;
	struct k8s_docs d = { 0 };

	assert_non_null(mkdtemp(root));
	/* systemd driver, Burstable: reviews-v1 */
	snprintf(path, sizeof(path), "%s/kubepods.slice", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/kubepods.slice/kubepods-burstable.slice", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/kubepods.slice/kubepods-burstable.slice/"
		 "kubepods-burstable-pod1b9e3c44_5a1f_4f0e_9d7b_1a2b3c4d5e01.slice", root);
	assert_int_equal(mkdir(path, 0755), 0);
	cluster_load(&o);
	assert_int_equal(k8s_render_objects(&o, root, &d, &v), 0);
	assert_int_equal(v.n_workloads, 2); /* reviews-v2 runs on node-b */
	assert_string_equal(v.workloads[0].name, "ratings-v1-x");
	assert_string_equal(v.workloads[0].service_account, "default");
	assert_string_equal(v.workloads[0].cgroup, "");
	assert_string_equal(v.workloads[1].name, "reviews-v1-7d9f");
	assert_string_equal(v.workloads[1].ns, "default");
	assert_string_equal(v.workloads[1].service_account, "bookinfo-reviews");
	assert_string_equal(v.workloads[1].labels, "app=reviews,version=v1");
	assert_string_equal(v.workloads[1].cgroup,
			    "kubepods.slice/kubepods-burstable.slice/"
			    "kubepods-burstable-pod1b9e3c44_5a1f_4f0e_9d7b_1a2b3c4d5e01.slice");
	rmdir(path);
	snprintf(path, sizeof(path), "%s/kubepods.slice/kubepods-burstable.slice", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/kubepods.slice", root);
	rmdir(path);
	rmdir(root);
	k8s_node_view_free(&v);
	k8s_docs_free(&d);
	cluster_free(&o);
}

/* Istio's workload name of a pod (GetDeployMetaFromPod). */
static void test_pod_workload_name(void **state)
{
	static const struct {
		const char *pod, *want;
	} cases[] = {
		/* a Deployment's pod: the ReplicaSet's name without -<pod-template-hash> */
		{ "{\"metadata\": {\"name\": \"web-6d8f5c7b9-x2x4k\", \"labels\": {\"pod-template-hash\": "
		  "\"6d8f5c7b9\"}, \"ownerReferences\": [{\"kind\": \"ReplicaSet\", \"name\": "
		  "\"web-6d8f5c7b9\", \"controller\": true}]}}", "web" },
		/* a ReplicaSet of its own (no hash label): its name */
		{ "{\"metadata\": {\"name\": \"rs-1-abcde\", \"ownerReferences\": [{\"kind\": "
		  "\"ReplicaSet\", \"name\": \"rs-1\", \"controller\": true}]}}", "rs-1" },
		/* a hash label the name does not end with: kept */
		{ "{\"metadata\": {\"name\": \"x\", \"labels\": {\"pod-template-hash\": \"zzz\"}, "
		  "\"ownerReferences\": [{\"kind\": \"ReplicaSet\", \"name\": \"web-abc\", "
		  "\"controller\": true}]}}", "web-abc" },
		/* a CronJob's run: Job name -<8 to 10 digits> */
		{ "{\"metadata\": {\"name\": \"qa-28391234-p9z7q\", \"ownerReferences\": [{\"kind\": "
		  "\"Job\", \"name\": \"qa-28391234\", \"controller\": true}]}}", "qa" },
		/* a Job of its own (5 digits is no schedule time): its name */
		{ "{\"metadata\": {\"name\": \"migrate-12345-q\", \"ownerReferences\": [{\"kind\": "
		  "\"Job\", \"name\": \"migrate-12345\", \"controller\": true}]}}", "migrate-12345" },
		/* a StatefulSet: its name */
		{ "{\"metadata\": {\"name\": \"db-0\", \"ownerReferences\": [{\"kind\": "
		  "\"StatefulSet\", \"name\": \"db\", \"controller\": true}]}}", "db" },
		/* an owner that is not the controller does not count: the pod's name */
		{ "{\"metadata\": {\"name\": \"solo\", \"ownerReferences\": [{\"kind\": "
		  "\"ConfigMap\", \"name\": \"cm\"}]}}", "solo" },
	};
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *pod = json_tokener_parse(cases[i].pod);

		assert_non_null(pod);
		k8s_pod_workload_name(pod, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
		json_object_put(pod);
	}
}

/* Which pods of this node are workloads: Running, or Pending with a
 * container (or init container) started; not Pending before any started,
 * not Succeeded or Failed, not another node's. */
static void test_node_pods_running(void **state)
{
	struct json_object *pods = json_tokener_parse(
		"{\"a/run\": {\"metadata\": {\"name\": \"run\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"n\"}, \"status\": {\"phase\": \"Running\"}},"
		" \"a/init\": {\"metadata\": {\"name\": \"init\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"n\"}, \"status\": {\"phase\": \"Pending\","
		"  \"initContainerStatuses\": [{\"state\": {\"running\": {}}}]}},"
		" \"a/waiting\": {\"metadata\": {\"name\": \"waiting\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"n\"}, \"status\": {\"phase\": \"Pending\","
		"  \"containerStatuses\": [{\"state\": {\"waiting\": {}}}]}},"
		" \"a/failed\": {\"metadata\": {\"name\": \"failed\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"n\"}, \"status\": {\"phase\": \"Failed\"}},"
		" \"a/done\": {\"metadata\": {\"name\": \"done\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"n\"}, \"status\": {\"phase\": \"Succeeded\"}},"
		" \"a/elsewhere\": {\"metadata\": {\"name\": \"elsewhere\", \"namespace\": \"a\"},"
		"  \"spec\": {\"nodeName\": \"m\"}, \"status\": {\"phase\": \"Running\"}}}");
	struct k8s_objects o = { .node_name = "n" };
	struct k8s_node_view v;
	struct k8s_docs d = { 0 };

	assert_non_null(pods);
	o.by_kind[K8S_PODS] = pods;
	assert_int_equal(k8s_render_objects(&o, NULL, &d, &v), 0);
	assert_int_equal(v.n_workloads, 2);
	assert_string_equal(v.workloads[0].name, "init");
	assert_string_equal(v.workloads[1].name, "run");
	assert_string_equal(v.workloads[1].workload, "run"); /* no controller: itself */
	k8s_node_view_free(&v);
	k8s_docs_free(&d);
	json_object_put(pods);
}

#define SE_SELECTING_REVIEWS                                                       \
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                \
	"metadata: {name: reviews, namespace: default}\n"                         \
	"spec: {hosts: [reviews.example], addresses: [10.96.0.9],\n"              \
	"  ports: [{number: 80, name: tcp, protocol: TCP}], resolution: STATIC,\n" \
	"  workloadSelector: {labels: {app: reviews}}}\n---\n"
#define IDENTITY_ONLY "\"bpfmesh.io/identity-only\":\""

/* A ServiceEntry selecting app: reviews, then the identity document of a
 * Pod labelled so; identity_only false: the control, the same entry with
 * bpfmesh.io/identity-only "false". */
static void compile_with_pod_identity(struct ptest *t, bool identity_only, char **yaml)
{
	struct k8s_workload w = {
		.ns = "default", .name = "reviews-v1-7d9f", .service_account = "reviews",
		.uid = "u1", .cgroup = "kubepods/besteffort/podu1", .labels = "app=reviews",
		.workload = "reviews-v1", .ip = "10.244.1.5",
	};
	struct k8s_node_view v = { .workloads = &w, .n_workloads = 1 };
	struct k8s_docs d = { 0 };
	char *at;

	w.label_obj = json_tokener_parse("{\"app\": \"reviews\"}");
	assert_int_equal(k8s_pod_identity_docs(&v, "/test/root", &d), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.names[0], "k8s:Pod/default/reviews-v1-7d9f");
	assert_non_null(strstr(d.texts[0],
			       "\"bpfmesh.io/cgroup\":\"test/root/kubepods/besteffort/podu1\""));
	assert_non_null(strstr(d.texts[0], "\"service.istio.io/workload-name\":\"reviews-v1\""));
	at = strstr(d.texts[0], IDENTITY_ONLY "true\"");
	assert_non_null(at);
	at += strlen(IDENTITY_ONLY);
	*at = '\0'; /* d.texts[0] up to the value; at + 4 the rest after "true" */
	assert_true(asprintf(yaml, SE_SELECTING_REVIEWS "%s%s%s\n", d.texts[0],
			     identity_only ? "true" : "false", at + 4) > 0);
	ptest_compile(t, *yaml, false);
	k8s_docs_free(&d);
	json_object_put(w.label_obj);
}

/* A pod's identity is an identity and an endpoint of nothing, though a
 * ServiceEntry's workloadSelector matches its labels (the control shows
 * the same entry without the annotation would be one). */
static void test_pod_identity_not_endpoint(void **state)
{
	const struct image_service *svc;
	struct ptest t;
	char *yaml;
	int only;

	for (only = 1; only >= 0; only--) {
		compile_with_pod_identity(&t, only, &yaml);
		assert_int_equal(t.ret, 0);
		assert_int_equal(t.img.n_identities, 1);
		assert_string_equal(t.img.identities[0].workload, "reviews-v1");
		assert_string_equal(t.img.identities[0].cgroup, "test/root/kubepods/besteffort/podu1");
		svc = ptest_service(&t.img, "10.96.0.9", 80);
		assert_non_null(svc);
		/* the service's one set: the pod's address in it or not */
		assert_int_equal(t.img.n_sets, 1);
		assert_int_equal(t.img.sets[0].total_weight, only ? 0 : 1);
		ptest_free(&t);
		free(yaml);
	}
}

/* ---- credentials ---------------------------------------------------------- */

static void test_kubeconfig(void **state)
{
	char dir[] = "/tmp/bpfmesh-kc-XXXXXX", path[256], why[256] = "", key[256], want[512];
	struct k8s_config c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* base64 of "-----PEM-----\n" */
	fputs("apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
	      "clusters:\n- name: other\n  cluster: {server: https://192.0.2.1}\n"
	      "- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n"
	      "    certificate-authority-data: LS0tLS1QRU0tLS0tLQo=\n"
	      "users:\n- name: u1\n  user: {token: abc.def, client-key: keys/k.pem}\n"
	      "contexts:\n- name: prod\n  context: {cluster: other, user: u1}\n"
	      "- name: dev\n  context: {cluster: c1, user: u1, namespace: x}\n", f);
	fclose(f);
	/* the key file is read at load (config.c kc_file): there must be one */
	snprintf(key, sizeof(key), "%s/keys", dir);
	assert_int_equal(mkdir(key, 0700), 0);
	snprintf(key, sizeof(key), "%s/keys/k.pem", dir);
	f = fopen(key, "w");
	assert_non_null(f);
	fputs("-----PEM-----\n", f);
	fclose(f);
	assert_int_equal(k8s_config_kubeconfig(&c, path, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://127.0.0.1:6443");
	assert_string_equal(c.token, "abc.def");
	assert_int_equal(c.ca_len, 14);
	assert_memory_equal(c.ca_data, "-----PEM-----\n", 14);
	snprintf(why, sizeof(why), "%s/keys/k.pem", dir); /* relative to the file */
	assert_string_equal(c.key_file, why);
	k8s_config_free(&c);
	/* A file it names that cannot be read: the line, field and path. */
	unlink(key);
	assert_int_equal(k8s_config_kubeconfig(&c, path, why, sizeof(why)), -ENOENT);
	snprintf(want, sizeof(want), "line 13: users[].user.client-key: cannot read %s: No such "
		 "file or directory", key);
	assert_string_equal(why, want);
	snprintf(key, sizeof(key), "%s/keys", dir);
	rmdir(key);

	f = fopen(path, "w");
	fputs("current-context: d\ncontexts:\n- name: d\n  context: {cluster: c, user: u}\n"
	      "clusters:\n- name: c\n  cluster: {server: https://x}\n"
	      "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n", f);
	fclose(f);
	/* auth-provider is gone from kubectl (1.26); exec plugins: test_k8s_exec.c */
	assert_int_equal(k8s_config_kubeconfig(&c, path, why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "auth-provider"));
	unlink(path);
	rmdir(dir);
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/bpfmesh-sa-XXXXXX", path[256], why[256];
	struct k8s_config c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8s_config_in_cluster(&c, dir, why, sizeof(why)), -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_true(k8s_config_in_cluster(&c, dir, why, sizeof(why)) < 0); /* no token */
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	fputs("tok\n", f);
	fclose(f);
	assert_int_equal(k8s_config_in_cluster(&c, dir, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token_file, path);
	k8s_config_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unlink(path);
	rmdir(dir);
}

/* ---- the watch against the recorded server ----------------------------------- */

static struct k8s_watch *watch_against(struct fakeapi *fa, uint16_t port, unsigned int timeout_s)
{
	struct k8s_config c = { 0 };
	struct k8s_watch_opts o = { .node_name = "node-a", .timeout_s = timeout_s,
				    .page_limit = 1, .backoff_ms = 50 };
	struct k8s_watch *w = NULL;

	(void)fa;
	assert_true(asprintf(&c.server, "http://127.0.0.1:%u", port) > 0);
	c.token = strdup("t0ken");
	assert_int_equal(k8s_watch_start(&c, &o, &w), 0);
	assert_null(c.server); /* taken over */
	return w;
}

/* The rendered endpoints of k8s:Service/default/NAME, "a,b", or "-". */
static void service_eps(struct k8s_watch *w, const char *name, char *out, size_t len)
{
	struct k8s_docs d = { 0 };
	struct json_object *se, *eps;
	char doc[128];
	size_t i, used = 0;

	snprintf(doc, sizeof(doc), "k8s:Service/default/%s", name);
	assert_int_equal(k8s_render(w, NULL, &d, NULL), 0);
	se = doc_named(&d, doc);
	snprintf(out, len, "-");
	eps = at(se, "spec.endpoints");
	for (i = 0; eps && i < json_object_array_length(eps); i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "",
					 at_str(json_object_array_get_idx(eps, i), "address"));
	json_object_put(se);
	k8s_docs_free(&d);
}

static bool wait_for(struct k8s_watch *w, struct fakeapi *fa, const char *service,
		     const char *eps, const char *request, int timeout_ms)
{
	char got[256];
	int t;

	for (t = 0; t < timeout_ms; t += 10) {
		service_eps(w, service, got, sizeof(got));
		if (strcmp(got, eps) == 0 && (!request || fakeapi_count(fa, request) > 0))
			return true;
		usleep(10000);
	}
	fprintf(stderr, "%s: endpoints %s, expected %s; waiting for request %s\n", service, got,
		eps, request ? request : "-");
	return false;
}

static void test_watch_scenario(void **state)
{
	struct fakeapi *fa;
	struct k8s_watch *w;
	struct k8s_health h;
	uint16_t port;
	char reqs[16384];
	const char *p;

	assert_int_equal(fakeapi_start(FIX "/watch", NULL, &fa, &port), 0);
	w = watch_against(fa, port, 30);
	/* relisted after the ERROR 410 event; the slow stream then adds .7 */
	if (!wait_for(w, fa, "web", "10.244.1.6,10.244.1.7", "resourceVersion=200", 10000)) {
		fakeapi_requests(fa, reqs, sizeof(reqs));
		fail_msg("requests:\n%s", reqs);
	}
	/* services: pages, DELETED "old", close -> resume, 410 -> relist adds "api" */
	assert_true(wait_for(w, fa, "api", "-", "/api/v1/services?limit=1&continue=", 5000));
	k8s_health(w, &h);
	assert_true(h.synced);
	assert_true(h.relists >= 2);
	assert_true(h.resumes >= 2);
	fakeapi_requests(fa, reqs, sizeof(reqs));
	/* the second page asked with the continue token, escaped */
	assert_non_null(strstr(reqs, "/api/v1/services?limit=1&continue=page-2/token=x"));
	/* the first watch starts at the list's version, with bookmarks */
	assert_non_null(strstr(reqs, "/apis/discovery.k8s.io/v1/endpointslices?watch=1&"
				     "allowWatchBookmarks=true&resourceVersion=100"));
	/* the broken watch resumed from the bookmark's version, not the last event's */
	assert_non_null(strstr(reqs, "endpointslices?watch=1&allowWatchBookmarks=true&resourceVersion=150"));
	/* services resumed from the DELETED event's version after the close */
	assert_non_null(strstr(reqs, "services?watch=1&allowWatchBookmarks=true&resourceVersion=120"));
	/* and watched from the relist's version after the 410 */
	assert_true(wait_for(w, fa, "api", "-", "services?watch=1&allowWatchBookmarks=true&resourceVersion=300", 5000));
	/* every request carried the bearer token */
	assert_int_equal(fakeapi_count(fa, "?"), fakeapi_count(fa, " auth=Bearer t0ken\n"));
	/* Istio kinds: v1, v1beta1, v1alpha3 tried, then absent */
	p = strstr(reqs, "/apis/networking.istio.io/v1alpha3/virtualservices?limit=1");
	assert_non_null(p);
	assert_non_null(strstr(reqs, "/apis/networking.istio.io/v1beta1/virtualservices?limit=1"));
	/* "old" was deleted by the watch */
	{
		struct k8s_docs d = { 0 };

		assert_int_equal(k8s_render(w, NULL, &d, NULL), 0);
		assert_null(doc_named(&d, "k8s:Service/default/old"));
		assert_int_equal(d.n, 2); /* web, api */
		k8s_docs_free(&d);
	}
	k8s_watch_stop(w);
	fakeapi_stop(fa);
}

/* Health once every kind was listed, or after 5 s. */
static void wait_synced(struct k8s_watch *w, struct k8s_health *h)
{
	int t;

	for (t = 0; t < 5000; t += 10) {
		k8s_health(w, h);
		if (h->synced)
			return;
		usleep(10000);
	}
}

/* Writes that change nothing the agent uses (a Node's status, an object
 * written again as it was) are no change: k8s_generation stays, so the
 * agent does not reload; a Node's new label is one. */
static void test_unchanged_writes(void **state)
{
	struct k8s_docs d = { 0 };
	struct k8s_node_view v;
	struct fakeapi *fa;
	struct k8s_watch *w;
	struct k8s_health h;
	uint16_t port;
	int t;

	assert_int_equal(fakeapi_start(FIX "/unchanged", NULL, &fa, &port), 0);
	w = watch_against(fa, port, 30);
	for (t = 0; t < 5000; t += 10) {
		k8s_health(w, &h);
		if (h.synced && h.events >= 3)
			break;
		usleep(10000);
	}
	assert_true(h.synced);
	assert_int_equal(h.events, 3);
	/* each kind's first list is a change; of the three events, the label */
	assert_int_equal(k8s_generation(w), K8S_N_KINDS + 1);
	assert_int_equal(k8s_render(w, NULL, &d, &v), 0);
	assert_int_equal(d.generation, K8S_N_KINDS + 1);
	assert_string_equal(v.locality, "r1/z2");
	k8s_node_view_free(&v);
	k8s_docs_free(&d);
	k8s_watch_stop(w);
	fakeapi_stop(fa);
}

/* The API server goes away: the objects stay, health says so since when. */
static void test_api_outage_keeps_state(void **state)
{
	struct fakeapi *fa;
	struct k8s_watch *w;
	struct k8s_health h;
	uint16_t port;
	int t;

	assert_int_equal(fakeapi_start(FIX "/cluster", NULL, &fa, &port), 0);
	w = watch_against(fa, port, 1); /* watches end every second */
	wait_synced(w, &h);
	assert_true(h.synced);
	assert_false(h.outage);
	assert_true(wait_for(w, fa, "reviews", "10.244.1.5,10.244.2.7,10.244.1.6,fd00:10:244::5", NULL, 1000));
	fakeapi_stop(fa);
	for (t = 0; t < 5000; t += 10) {
		k8s_health(w, &h);
		if (h.outage && strstr(h.last_error, "Couldn't connect"))
			break;
		usleep(10000);
	}
	assert_true(h.outage);
	assert_true(h.outage_since > 0);
	assert_true(h.failures >= 1);
	assert_non_null(strstr(h.last_error, "Couldn't connect"));
	/* the last good objects are still what is rendered */
	assert_true(wait_for(w, NULL, "reviews", "10.244.1.5,10.244.2.7,10.244.1.6,fd00:10:244::5", NULL, 10));
	k8s_watch_stop(w);
}

/* RBAC without the Istio rules: the Istio kinds the API server forbids are
 * held as empty and reported, and the rest syncs and renders at once
 * instead of waiting for them. */
static void test_forbidden_istio_kinds_do_not_stall(void **state)
{
	struct fakeapi *fa;
	struct k8s_watch *w;
	struct k8s_health h;
	uint16_t port;

	assert_int_equal(fakeapi_start(FIX "/forbidden", NULL, &fa, &port), 0);
	w = watch_against(fa, port, 1);
	wait_synced(w, &h);
	assert_true(h.synced);
	assert_false(h.outage);
	assert_int_equal(h.forbidden, (1u << K8S_SERVICEENTRIES) | (1u << K8S_VIRTUALSERVICES));
	assert_true(wait_for(w, NULL, "reviews", "10.244.1.5,10.244.2.7,10.244.1.6,fd00:10:244::5", NULL, 10));
	/* forbidden is final for this round: no fallback to older versions */
	assert_true(fakeapi_count(fa, "v1/virtualservices") > 0);
	assert_int_equal(fakeapi_count(fa, "v1beta1/virtualservices"), 0);
	k8s_watch_stop(w);
	fakeapi_stop(fa);
}

/* A service account token is re-read for every request: kubelet rotates
 * bound tokens in place. */
static void test_token_file_rotation(void **state)
{
	char dir[] = "/tmp/bpfmesh-tok-XXXXXX", path[256];
	struct k8s_config c = { 0 };
	struct k8s_watch_opts o = { .timeout_s = 1, .page_limit = 500, .backoff_ms = 50 };
	struct k8s_watch *w = NULL;
	struct fakeapi *fa;
	uint16_t port;
	int t;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_int_equal(fakeapi_start(FIX "/cluster", NULL, &fa, &port), 0);
	assert_true(asprintf(&c.server, "http://127.0.0.1:%u", port) > 0);
	c.token_file = strdup(path);
	FILE *f = fopen(path, "w");
	fputs("first\n", f);
	fclose(f);
	assert_int_equal(k8s_watch_start(&c, &o, &w), 0);
	for (t = 0; t < 5000 && fakeapi_count(fa, "auth=Bearer first\n") < 8; t += 10)
		usleep(10000);
	f = fopen(path, "w");
	fputs("second\n", f);
	fclose(f);
	/* the watches end every second and are resumed with the new token */
	for (t = 0; t < 5000 && fakeapi_count(fa, "auth=Bearer second\n") == 0; t += 10)
		usleep(10000);
	assert_true(fakeapi_count(fa, "auth=Bearer first\n") >= 8);
	assert_true(fakeapi_count(fa, "auth=Bearer second\n") > 0);
	k8s_watch_stop(w);
	fakeapi_stop(fa);
	unlink(path);
	rmdir(dir);
}

/* ---- the ServiceEntries' text (user/k8s/json_text.h) --------------------- */

/*
 * The ServiceEntries rendered from Services are written as text directly,
 * not printed by json-c from objects. The policy store compares documents
 * by their bytes and incr.c lends them between renderings, so the bytes
 * must be exactly json-c's (SPACED, NOSLASHESCAPE).
 */
#define JSON_C_FLAGS (JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* What t holds (emptied) is json-c's printing of v. */
static void assert_json_c_text(struct jtext *t, struct json_object *v)
{
	char *mine = jtext_take(t, NULL);

	assert_non_null(mine);
	assert_string_equal(mine, json_object_to_json_string_ext(v, JSON_C_FLAGS));
	free(mine);
}

/* Every byte 1..255 in a string, each alone and all together, escaped as
 * json-c does; collections, empty and nested, with every value type. */
static void test_text_is_json_c_printing(void **state)
{
	char all[256], one[2] = { 0, 0 };
	struct json_object *o, *v;
	struct jtext t = { 0 };
	int c;

	(void)state;
	for (c = 1; c < 256; c++) {
		one[0] = (char)c;
		all[c - 1] = (char)c;
		v = json_object_new_string(one);
		jtext_str(&t, one);
		assert_json_c_text(&t, v);
		json_object_put(v);
	}
	all[255] = '\0';
	o = json_tokener_parse("{\"a\": [], \"b\": {}, \"c\": [1, -2, true, false, null, 2.5, "
			       "\"x/y\"], \"d\": {\"e\": {\"f\": [[]]}}, \"\": \"\"}");
	assert_non_null(o);
	json_object_object_add(o, all, json_object_new_string(all));
	jtext_json(&t, o);
	assert_json_c_text(&t, o);
	json_object_put(o);
}

/* A fixture's kind, or an empty set when the fixture has none. */
static struct json_object *fixture_kind(const char *dir, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), FIX "/%s/%s", dir, file);
	return access(path, R_OK) ? json_object_new_object() : load_items(path);
}

/* Each fixture's Services rendered, read back and printed by json-c: the
 * same bytes (labels, locality, dual stack, headless with hostnames,
 * unnamed and SCTP ports, endpoints in two slices). */
static void test_rendered_services_are_json_c_bytes(void **state)
{
	static const char *const dirs[] = { "cluster", "headless", "ipv6", "locality",
					     "podid", "forbidden", "exec", "unchanged" };
	size_t d, i, services = 0;

	(void)state;
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		struct k8s_objects o = { .node_name = "node-a" };
		struct k8s_docs docs = { 0 };

		o.by_kind[K8S_NODES] = fixture_kind(dirs[d], "nodes.list.json");
		o.by_kind[K8S_PODS] = fixture_kind(dirs[d], "pods.list.json");
		o.by_kind[K8S_SERVICES] = fixture_kind(dirs[d], "services.list.json");
		o.by_kind[K8S_ENDPOINTSLICES] = fixture_kind(dirs[d], "endpointslices.list.json");
		assert_int_equal(k8s_render_objects(&o, NULL, &docs, NULL), 0);
		for (i = 0; i < docs.n; i++) {
			struct json_object *back;

			if (strncmp(docs.names[i], "k8s:Service/", 12))
				continue;
			back = json_tokener_parse(docs.texts[i]);
			assert_non_null(back);
			assert_string_equal(docs.texts[i],
					    json_object_to_json_string_ext(back, JSON_C_FLAGS));
			assert_int_equal(docs.lens[i], strlen(docs.texts[i]));
			json_object_put(back);
			services++;
		}
		k8s_docs_free(&docs);
		cluster_free(&o);
	}
	assert_true(services >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_to_service_entry),
		cmocka_unit_test(test_endpoint_conditions),
		cmocka_unit_test(test_port_protocols),
		cmocka_unit_test(test_locality),
		cmocka_unit_test(test_render_cache),
		cmocka_unit_test(test_text_is_json_c_printing),
		cmocka_unit_test(test_rendered_services_are_json_c_bytes),
		cmocka_unit_test(test_cluster_compiles),
		cmocka_unit_test(test_headless_service),
		cmocka_unit_test(test_bad_object_diagnostic),
		cmocka_unit_test(test_node_workloads),
		cmocka_unit_test(test_kubeconfig),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_pod_workload_name),
		cmocka_unit_test(test_node_pods_running),
		cmocka_unit_test(test_pod_identity_not_endpoint),
		cmocka_unit_test(test_watch_scenario),
		cmocka_unit_test(test_unchanged_writes),
		cmocka_unit_test(test_api_outage_keeps_state),
		cmocka_unit_test(test_token_file_rotation),
		cmocka_unit_test(test_forbidden_istio_kinds_do_not_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
