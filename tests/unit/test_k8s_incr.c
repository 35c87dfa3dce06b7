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
#include "policy/isolate.h"
#include "image_bytes.h"

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

/* Owned copies of lent documents: they outlive the next rendering. */
static void docs_copy(struct k8s_docs *to, const struct k8s_docs *from)
{
	size_t i;

	memset(to, 0, sizeof(*to));
	to->n = to->cap = from->n;
	to->names = calloc(from->n + 1, sizeof(*to->names));
	to->texts = calloc(from->n + 1, sizeof(*to->texts));
	to->lens = calloc(from->n + 1, sizeof(*to->lens));
	assert_true(to->names && to->texts && to->lens);
	for (i = 0; i < from->n; i++) {
		to->names[i] = strdup(from->names[i]);
		to->texts[i] = strndup(from->texts[i], from->lens[i]);
		to->lens[i] = from->lens[i];
	}
}

/* Does o hold a slice labelled for Service "ns/name"? */
static bool slice_held_for(const struct k8s_objects *o, const char *svc)
{
	json_object_object_foreach(o->by_kind[K8S_ENDPOINTSLICES], key, slice) {
		struct json_object *meta = k8s_jget(slice, "metadata");
		char for_svc[128];

		(void)key;
		snprintf(for_svc, sizeof(for_svc), "%s/%s", k8s_jstr(meta, "namespace"),
			 k8s_jstr(k8s_jget(meta, "labels"), "kubernetes.io/service-name"));
		if (!strcmp(for_svc, svc))
			return true;
	}
	return false;
}

static void objects_put(struct k8s_objects *o)
{
	int k;

	for (k = 0; k < K8S_N_KINDS; k++)
		json_object_put(o->by_kind[k]);
}

/* Every object of every kind of o, as (kind, key), in a random order. */
struct arrival {
	enum k8s_kind kind;
	const char *key;
};

static size_t arrivals_shuffled(const struct k8s_objects *o, struct arrival *a, size_t cap)
{
	size_t n = 0, i, j;
	int k;

	for (k = 0; k < K8S_N_KINDS; k++) {
		json_object_object_foreach(o->by_kind[k], key, obj) {
			(void)obj;
			assert_true(n < cap);
			a[n++] = (struct arrival){ (enum k8s_kind)k, key };
		}
	}
	for (i = n; i > 1; i--) {
		struct arrival t;

		j = rnd((unsigned int)i);
		t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
	return n;
}

/*
 * A cold start (watch.c holds each page of the first lists at once, the
 * agent renders early between pages, a budget at a time): pages in random
 * orders, so that a slice comes before its Service, a Service's two slices
 * in two pages, pods and nodes after the Services that look them up, and a
 * slice that a list which started again no longer has. The rendering after
 * the last page gives, byte for byte, the documents of one full rendering
 * of every list; every early one's hint says "same" only of unchanged
 * bytes; and no early rendering lends a Service without a slice held.
 */
static void test_early_pages_equal_full(void **state)
{
	struct arrival a[256];
	int trial;

	(void)state;
	for (trial = 0; trial < 60; trial++) {
		struct k8s_objects full, o = { .node_name = "node-1" };
		struct k8s_incr *inc = k8s_incr_new();
		struct k8s_docs want = { 0 }, got = { 0 }, last = { 0 };
		struct k8s_render_stats st;
		size_t n, i = 0, j, early = 0;
		int k;

		cluster_make(&full);
		put_slice(&full, 50, 1, 120, 2); /* svc-1 and svc-2: two slices each */
		put_slice(&full, 51, 2, 130, 3);
		for (k = 0; k < K8S_N_KINDS; k++)
			o.by_kind[k] = json_object_new_object();
		n = arrivals_shuffled(&full, a, 256);
		while (i < n) {
			size_t page = 1 + rnd(6);
			struct k8s_docs d = { 0 };

			for (j = 0; j < page && i < n; j++, i++) {
				json_object_object_add(o.by_kind[a[i].kind], a[i].key,
					json_object_get(k8s_jget(full.by_kind[a[i].kind], a[i].key)));
				k8s_incr_note(inc, a[i].kind, a[i].key);
			}
			if (i == n / 2) { /* held from a list that started again */
				put_slice(&o, 77, (int)rnd(N_SVCS), 160, 2);
				k8s_incr_note(inc, K8S_ENDPOINTSLICES, "ns0/slice-77");
				k8s_incr_note(inc, K8S_ENDPOINTSLICES, "ns1/slice-77");
			}
			if (rnd(3) == 0)
				continue;
			assert_int_equal(k8s_incr_render_early(inc, &o, 1 + rnd(4), &d), 0);
			k8s_incr_stats(inc, &st);
			for (j = 0; j < d.n; j++)
				if (!strncmp(d.names[j], "k8s:Service/", 12))
					assert_true(slice_held_for(&o, d.names[j] + 12));
			if (early)
				assert_hint(&d, &last, &st);
			k8s_docs_free(&last);
			docs_copy(&last, &d);
			k8s_docs_free(&d);
			early++;
		}
		json_object_object_del(o.by_kind[K8S_ENDPOINTSLICES], "ns0/slice-77");
		json_object_object_del(o.by_kind[K8S_ENDPOINTSLICES], "ns1/slice-77");
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, "ns0/slice-77");
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, "ns1/slice-77");
		assert_int_equal(k8s_incr_render(inc, &o, &got), 0);
		assert_int_equal(k8s_render_objects(&full, NULL, &want, NULL), 0);
		assert_same_docs(&got, &want);
		assert_same_view(inc, &o);
		k8s_incr_stats(inc, &st);
		if (early)
			assert_hint(&got, &last, &st);
		k8s_docs_free(&got);
		k8s_docs_free(&want);
		k8s_docs_free(&last);
		k8s_incr_free(inc);
		objects_put(&o);
		objects_put(&full);
	}
}

/* d's hint for st (the agent's docs_hint, user/agent/k8s.c). */
static void give_hint(struct policy_store *st, const struct k8s_docs *d)
{
	policy_store_docs_hint(st, &(struct policy_docs_hint){ .seq = d->seq,
		.prev_seq = d->prev_seq, .prev = d->prev, .same = d->same, .n = d->borrowed });
}

static char *compile_bytes(struct policy_store *st, const struct k8s_docs *d, size_t *len)
{
	struct diag_list dl = { 0 };
	struct policy_report rep;
	struct bpfmesh_image img;
	char *bytes;

	assert_int_equal(policy_store_compile(st, NULL, 0, (const char *const *)d->names,
					      (const char *const *)d->texts, d->lens, d->n, &dl,
					      &img, &rep), 0);
	bytes = image_bytes(&img, len);
	bpfmesh_image_free(&img);
	policy_report_free(&rep);
	diag_free(&dl);
	return bytes;
}

/*
 * The agent's cold start: early renderings, each parsed into the store
 * (policy_store_preread_docs, with the rendering's hint), then the first
 * compile of the rendering after the last page. It parses only what
 * changed since the last early one, and its image is byte for byte the
 * one a new store compiles from a full rendering.
 */
static void test_early_parse_then_compile(void **state)
{
	struct k8s_objects full, o = { .node_name = "node-1" };
	struct policy_store st = { 0 }, fresh = { 0 };
	struct k8s_incr *inc = k8s_incr_new();
	struct k8s_docs want = { 0 }, got = { 0 };
	struct arrival a[256];
	size_t n, i, la, lb, hinted, remade;
	char *ba, *bb;
	int k, reads = 0;

	(void)state;
	cluster_make(&full);
	for (k = 0; k < K8S_N_KINDS; k++)
		o.by_kind[k] = json_object_new_object();
	n = arrivals_shuffled(&full, a, 256);
	for (i = 0; i < n; i++) {
		struct k8s_docs d = { 0 };

		json_object_object_add(o.by_kind[a[i].kind], a[i].key,
				       json_object_get(k8s_jget(full.by_kind[a[i].kind], a[i].key)));
		k8s_incr_note(inc, a[i].kind, a[i].key);
		if (i % 7 != 6 || i + 10 > n)
			continue; /* a page; the last ten arrive after the last early rendering */
		assert_int_equal(k8s_incr_render_early(inc, &o, 3, &d), 0);
		give_hint(&st, &d);
		assert_int_equal(policy_store_preread_docs(&st, NULL, 0,
							   (const char *const *)d.names,
							   (const char *const *)d.texts, d.lens, d.n), 0);
		assert_int_equal(st.docs_seq, d.seq);
		k8s_docs_free(&d);
		reads++;
	}
	assert_true(reads > 3);
	assert_int_equal(k8s_incr_render(inc, &o, &got), 0);
	give_hint(&st, &got);
	ba = compile_bytes(&st, &got, &la);
	/* The hint took every document the early ones lent; only those made
	 * since were parsed again. */
	for (i = 0, hinted = 0, remade = 0; i < got.n; i++) {
		hinted += got.prev[i] >= 0;
		remade += !got.same[i];
	}
	assert_true(hinted > 0);
	assert_int_equal(st.timing.docs_hinted, hinted);
	assert_true(st.timing.files_parsed <= remade); /* same bytes made again: kept */
	assert_true(remade < got.n);
	assert_int_equal(k8s_render_objects(&full, NULL, &want, NULL), 0);
	bb = compile_bytes(&fresh, &want, &lb);
	assert_int_equal(fresh.timing.files_parsed, want.n);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
	k8s_docs_free(&got);
	k8s_docs_free(&want);
	policy_store_free(&st);
	policy_store_free(&fresh);
	k8s_incr_free(inc);
	objects_put(&o);
	objects_put(&full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incremental_equals_full),
		cmocka_unit_test(test_lent_documents_outlive_changes),
		cmocka_unit_test(test_early_pages_equal_full),
		cmocka_unit_test(test_early_parse_then_compile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
