// SPDX-License-Identifier: Apache-2.0
/*
 * Incremental rendering of Kubernetes objects (user/k8s/incr.c): after
 * every batch of random edits (endpoints added and removed, slices moved
 * between Services or deleted, Services deleted and made again, pod labels,
 * node zones, Istio objects), the documents made again from the noted
 * changes must be byte for byte those a full rendering of the same objects
 * gives, names and order included; and only the Services the edits feed
 * may be made again.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "k8s/k8s.h"
#include "k8s/render_int.h"

#define N_SVCS 12
#define N_NODES 3

/* Tiny deterministic generator: the same edits on every run and machine. */
static unsigned int rnd_state = 12345;

static unsigned int rnd(unsigned int n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static void put(struct k8s_objects *o, enum k8s_kind k, const char *key, const char *fmt, ...)
{
	struct json_object *obj;
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	obj = json_tokener_parse(text);
	assert_non_null(obj);
	json_object_object_add(o->by_kind[k], key, obj);
}

static void put_service(struct k8s_objects *o, int s)
{
	char key[64];

	snprintf(key, sizeof(key), "ns%d/svc-%d", s % 2, s);
	put(o, K8S_SERVICES, key,
	    "{\"metadata\": {\"name\": \"svc-%d\", \"namespace\": \"ns%d\"}, \"spec\": "
	    "{\"clusterIP\": \"10.96.0.%d\", \"ports\": [{\"name\": \"http\", \"port\": 80}]}}",
	    s, s % 2, s + 1);
}

/* Slice `slice` labelled for Service s, with endpoints on addresses base.. */
static void put_slice(struct k8s_objects *o, int slice, int s, int base, int n)
{
	char key[64], eps[1500] = "";
	size_t used = 0;
	int e;

	for (e = 0; e < n; e++)
		used += (size_t)snprintf(eps + used, sizeof(eps) - used,
					 "%s{\"addresses\": [\"10.1.%d.%d\"], \"nodeName\": \"node-%d\", "
					 "\"targetRef\": {\"kind\": \"Pod\", \"namespace\": \"ns%d\", "
					 "\"name\": \"pod-%d\"}}",
					 e ? ", " : "", base / 200, (base + e) % 200 + 1,
					 (base + e) % N_NODES, s % 2, (base + e) % 40);
	snprintf(key, sizeof(key), "ns%d/slice-%d", s % 2, slice);
	put(o, K8S_ENDPOINTSLICES, key,
	    "{\"metadata\": {\"name\": \"slice-%d\", \"namespace\": \"ns%d\", \"labels\": "
	    "{\"kubernetes.io/service-name\": \"svc-%d\"}}, \"addressType\": \"IPv4\", "
	    "\"ports\": [{\"name\": \"http\", \"port\": 8080}], \"endpoints\": [%s]}",
	    slice, s % 2, s, eps);
}

static void put_pod(struct k8s_objects *o, int ns, int p, const char *version, int node)
{
	char key[64];

	snprintf(key, sizeof(key), "ns%d/pod-%d", ns, p);
	put(o, K8S_PODS, key,
	    "{\"metadata\": {\"name\": \"pod-%d\", \"namespace\": \"ns%d\", \"labels\": "
	    "{\"version\": \"%s\"}}, \"spec\": {\"nodeName\": \"node-%d\"}, \"status\": "
	    "{\"phase\": \"Running\", \"podIP\": \"10.2.0.%d\"}}",
	    p, ns, version, node, p + 1);
}

static void put_node(struct k8s_objects *o, int n, const char *zone)
{
	char key[64];

	snprintf(key, sizeof(key), "node-%d", n);
	put(o, K8S_NODES, key,
	    "{\"metadata\": {\"name\": \"node-%d\", \"labels\": {\"topology.kubernetes.io/"
	    "region\": \"r1\", \"topology.kubernetes.io/zone\": \"%s\"}}}", n, zone);
}

static void put_vs(struct k8s_objects *o, int s, int weight)
{
	char key[64];

	snprintf(key, sizeof(key), "ns%d/vs-%d", s % 2, s);
	put(o, K8S_VIRTUALSERVICES, key,
	    "{\"apiVersion\": \"networking.istio.io/v1\", \"kind\": \"VirtualService\", "
	    "\"metadata\": {\"name\": \"vs-%d\", \"namespace\": \"ns%d\"}, \"spec\": {\"hosts\": "
	    "[\"svc-%d\"], \"tcp\": [{\"route\": [{\"destination\": {\"host\": \"svc-%d\"}, "
	    "\"weight\": %d}]}]}}", s, s % 2, s, s, weight);
}

static void cluster_make(struct k8s_objects *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < K8S_N_KINDS; i++)
		o->by_kind[i] = json_object_new_object();
	o->node_name = "node-1";
	for (i = 0; i < N_NODES; i++)
		put_node(o, i, "z1");
	for (i = 0; i < 40; i++) {
		put_pod(o, 0, i, "v1", i % N_NODES);
		put_pod(o, 1, i, "v1", i % N_NODES);
	}
	for (i = 0; i < N_SVCS; i++) {
		put_service(o, i);
		put_slice(o, i, i, i * 5, 3);
	}
	put_vs(o, 0, 100);
}

/* The documents are the same, name for name and byte for byte. */
static void assert_same_docs(const struct k8s_docs *a, const struct k8s_docs *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->names[i], b->names[i]);
		assert_int_equal(a->lens[i], b->lens[i]);
		assert_memory_equal(a->texts[i], b->texts[i], a->lens[i]);
	}
}

/* The hint for the compile (k8s.h, k8s_docs.prev and .same): each document's
 * index in the last rendering (last: a full one of the objects then), and
 * "same" only for bytes unchanged; documents made again are at most those
 * the rendering counts as made again. */
static void assert_hint(const struct k8s_docs *d, const struct k8s_docs *last,
			const struct k8s_render_stats *st)
{
	size_t i, j, remade = 0;

	assert_int_equal(d->seq, d->prev_seq + 1);
	for (i = 0; i < d->n; i++) {
		for (j = 0; last && j < last->n; j++)
			if (!strcmp(last->names[j], d->names[i]))
				break;
		if (!last || j == last->n) {
			assert_int_equal(d->prev[i], -1);
			assert_false(d->same[i]);
			remade++;
			continue;
		}
		assert_int_equal(d->prev[i], (long)j);
		if (d->same[i]) {
			assert_int_equal(d->lens[i], last->lens[j]);
			assert_memory_equal(d->texts[i], last->texts[j], d->lens[i]);
		} else {
			remade++;
		}
	}
	assert_true(remade <= st->services + st->objects);
}

/* This node's view from the pods kept on it is the one from every pod. */
static void assert_same_view(struct k8s_incr *inc, const struct k8s_objects *o)
{
	struct k8s_node_view a, b;
	size_t i;

	assert_int_equal(k8s_render_node(o, NULL, k8s_incr_pods_on_node(inc), &a), 0);
	assert_int_equal(k8s_render_node(o, NULL, NULL, &b), 0);
	assert_int_equal(a.n_workloads, b.n_workloads);
	for (i = 0; i < a.n_workloads; i++) {
		assert_string_equal(a.workloads[i].name, b.workloads[i].name);
		assert_string_equal(a.workloads[i].labels, b.workloads[i].labels);
	}
	k8s_node_view_free(&a);
	k8s_node_view_free(&b);
}

/* One random edit; the keys it touched are noted. Returns how many
 * Services at most it feeds (for the proportion check). */
static int edit(struct k8s_objects *o, struct k8s_incr *inc, int *next_slice)
{
	char key[64];
	int s = (int)rnd(N_SVCS), what = (int)rnd(9);

	switch (what) {
	case 0: /* endpoints of a Service's slice change (it may move back) */
	case 1:
		put_slice(o, s, s, (int)rnd(150), 1 + (int)rnd(4));
		snprintf(key, sizeof(key), "ns%d/slice-%d", s % 2, s);
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, key);
		return 2;
	case 2: { /* a new slice for another Service of the same namespace */
		int to = (s + 2) % N_SVCS;

		put_slice(o, *next_slice, to, (int)rnd(150), 2);
		snprintf(key, sizeof(key), "ns%d/slice-%d", to % 2, (*next_slice)++);
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, key);
		return 1;
	}
	case 3: /* slice i moves from Service s to Service s+2 (relabelled) */
		put_slice(o, s, (s + 2) % N_SVCS, s * 5, 3);
		snprintf(key, sizeof(key), "ns%d/slice-%d", s % 2, s);
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, key);
		return 2;
	case 4: /* a slice goes */
		snprintf(key, sizeof(key), "ns%d/slice-%d", s % 2, s);
		json_object_object_del(o->by_kind[K8S_ENDPOINTSLICES], key);
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, key);
		return 1;
	case 5: /* a Service goes, or comes back */
		snprintf(key, sizeof(key), "ns%d/svc-%d", s % 2, s);
		if (json_object_object_get_ex(o->by_kind[K8S_SERVICES], key, NULL))
			json_object_object_del(o->by_kind[K8S_SERVICES], key);
		else
			put_service(o, s);
		k8s_incr_note(inc, K8S_SERVICES, key);
		return 1;
	case 6: { /* a pod is relabelled, or moves node, or goes */
		int ns = (int)rnd(2), p = (int)rnd(40);

		snprintf(key, sizeof(key), "ns%d/pod-%d", ns, p);
		if (rnd(5) == 0)
			json_object_object_del(o->by_kind[K8S_PODS], key);
		else
			put_pod(o, ns, p, rnd(2) ? "v2" : "v1", (int)rnd(N_NODES));
		k8s_incr_note(inc, K8S_PODS, key);
		return N_SVCS;
	}
	case 7: { /* a node moves zone */
		int n = (int)rnd(N_NODES);

		put_node(o, n, rnd(2) ? "z2" : "z1");
		snprintf(key, sizeof(key), "node-%d", n);
		k8s_incr_note(inc, K8S_NODES, key);
		return N_SVCS;
	}
	default: /* a VirtualService comes, changes or goes */
		snprintf(key, sizeof(key), "ns%d/vs-%d", s % 2, s);
		if (rnd(3) == 0)
			json_object_object_del(o->by_kind[K8S_VIRTUALSERVICES], key);
		else
			put_vs(o, s, 1 + (int)rnd(99));
		k8s_incr_note(inc, K8S_VIRTUALSERVICES, key);
		return 0;
	}
}

static void test_incremental_equals_full(void **state)
{
	struct k8s_objects o;
	struct k8s_incr *inc = k8s_incr_new();
	struct k8s_render_stats st;
	struct k8s_docs last = { 0 };
	int round, next_slice = 100, incremental = 0;

	(void)state;
	assert_non_null(inc);
	cluster_make(&o);
	for (round = 0; round < 400; round++) {
		struct k8s_docs full = { 0 }, part = { 0 };
		int n_edits = 1 + (int)rnd(3), i, bound = 0;

		for (i = 0; round && i < n_edits; i++)
			bound += edit(&o, inc, &next_slice);
		assert_int_equal(k8s_incr_render(inc, &o, &part), 0);
		assert_int_equal(k8s_render_objects(&o, NULL, &full, NULL), 0);
		assert_same_docs(&part, &full);
		assert_same_view(inc, &o);
		k8s_incr_stats(inc, &st);
		assert_int_equal(st.full, round == 0);
		assert_int_equal(st.docs, part.n);
		assert_hint(&part, round ? &last : NULL, &st);
		if (round) {
			/* In proportion to the change: a slice feeds at most two
			 * Services, a Service itself; a pod or node, its users. */
			assert_true(st.services <= (size_t)(bound < N_SVCS ? bound : N_SVCS));
			incremental++;
		}
		assert_int_equal(part.borrowed, part.n);
		k8s_docs_free(&part);
		k8s_docs_free(&last);
		last = full; /* owned copies: the next round's last rendering */
	}
	k8s_docs_free(&last);
	assert_int_equal(incremental, 399);
	k8s_incr_free(inc);
	for (round = 0; round < K8S_N_KINDS; round++)
		json_object_put(o.by_kind[round]);
}

/* A note after everything was lent: the next rendering replaces only that
 * document, and what it lends stays valid until then. */
static void test_lent_documents_outlive_changes(void **state)
{
	struct k8s_objects o;
	struct k8s_incr *inc = k8s_incr_new();
	struct k8s_docs a = { 0 }, b = { 0 };
	struct k8s_render_stats st;
	char *first;

	(void)state;
	cluster_make(&o);
	assert_int_equal(k8s_incr_render(inc, &o, &a), 0);
	first = strndup(a.texts[0], a.lens[0]);
	put_slice(&o, 0, 0, 170, 4);
	k8s_incr_note(inc, K8S_ENDPOINTSLICES, "ns0/slice-0");
	k8s_incr_note(inc, K8S_PODS, "ns1/pod-39"); /* an endpoint of nothing */
	/* The pod identity documents the agent appends are owned by docs. */
	assert_int_equal(k8s_incr_render(inc, &o, &b), 0);
	k8s_incr_stats(inc, &st);
	assert_false(st.full);
	assert_int_equal(st.services, 1);
	assert_string_equal(b.names[0], "k8s:Service/ns0/svc-0");
	assert_true(strcmp(b.texts[0], first) != 0);
	assert_non_null(strstr(b.texts[0], "10.1.0.171"));
	/* The other Services' documents are the very same buffers. */
	assert_ptr_equal(a.texts[1], b.texts[1]);
	free(first);
	k8s_docs_free(&a);
	k8s_docs_free(&b);
	k8s_incr_free(inc);
	for (int k = 0; k < K8S_N_KINDS; k++)
		json_object_put(o.by_kind[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental_equals_full),
		cmocka_unit_test(test_lent_documents_outlive_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
