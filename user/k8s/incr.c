// SPDX-License-Identifier: Apache-2.0
/*
 * Incremental rendering (issue 16: one endpoint change applied in under
 * 10 ms at 10,000 Services). The watch notes the key of every object that
 * changed (k8s_incr_note, under its lock); the next rendering makes again
 * only the documents those objects feed and lends every document to the
 * caller, the unchanged ones as they were (no copy, no sort, no walk over
 * the other Services). What feeds what:
 *
 *   Service ns/x            -> its own document;
 *   EndpointSlice           -> the Service it is labelled for now, and the
 *                              one it was labelled for before (kept here);
 *   Pod, Node               -> the Services whose endpoints looked it up
 *                              (labels, locality: the deps of render.c);
 *   ServiceEntry, WorkloadEntry, DestinationRule, VirtualService
 *                           -> its own document, the object as it is.
 *
 * A relist notes what differs from what was held (watch.c); the first
 * rendering, and any after an allocation failure, make everything.
 *
 * Early renderings (k8s_incr_render_early) run while the first lists are
 * still paging in (watch.c holds each page of a first list at once): they
 * make the Services that have a slice held and put the others aside
 * (deferred) until a slice of theirs comes or the last rendering before
 * the first apply, which makes every one of them. What an early rendering
 * made from objects that change or arrive later (more slices, the pods and
 * nodes its endpoints looked up, found or not) is noted and made again
 * like any change, so that rendering gives the same documents as one
 * full rendering after every list (test_k8s_incr.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "k8s/k8s.h"
#include "k8s/render_int.h"

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"

/* One document, kept between renderings. */
struct doc_row {
	char *key;                /* "ns/name" */
	char *name;               /* "k8s:Service/ns/name" */
	struct json_object *text; /* a JSON string: the document */
	/* For the compile's hint (k8s_docs.prev, .same): the row's index in
	 * the last lending + 1 (0: not lent yet), and whether its text was
	 * made again since. */
	size_t lent;
	bool remade;
};

/* The documents of one kind, in key order. */
struct doc_rows {
	struct doc_row *v;
	size_t n, cap;
};

struct k8s_incr {
	struct json_object *noted[K8S_N_KINDS]; /* keys changed since the last rendering */
	bool all;                    /* make everything again */
	struct json_object *cache;   /* Service key -> render.c's entry */
	struct json_object *owner;   /* EndpointSlice key -> "ns/service" it feeds */
	struct json_object *slices;  /* "ns/service" -> { slice key: null } */
	struct json_object *users;   /* "KIND\tkey" of a Pod or Node -> { Service key: null } */
	struct json_object *on_node; /* { key of a pod on o->node_name: null } */
	struct json_object *deferred; /* early: { Service key without a slice yet: null } */
	bool early;                   /* this rendering defers slice-less Services */
	size_t budget;                /* early: Services it makes at most (0: no bound) */
	struct doc_rows rows[K8S_N_KINDS]; /* Services and Istio's kinds */
	uint64_t lendings; /* k8s_docs.seq of the last lending */
	struct k8s_render_stats stats;
};

/* The kinds that give documents, in the order they are handed over. */
static const enum k8s_kind doc_kinds[] = {
	K8S_SERVICES, K8S_SERVICEENTRIES, K8S_WORKLOADENTRIES, K8S_DESTINATIONRULES,
	K8S_VIRTUALSERVICES,
};
#define N_DOC_KINDS (sizeof(doc_kinds) / sizeof(doc_kinds[0]))

struct k8s_incr *k8s_incr_new(void)
{
	struct k8s_incr *inc = calloc(1, sizeof(*inc));

	if (inc)
		inc->all = true;
	return inc;
}

static void row_free(struct doc_row *r)
{
	free(r->key);
	free(r->name);
	json_object_put(r->text);
}

static void rows_clear(struct doc_rows *rows)
{
	size_t i;

	for (i = 0; i < rows->n; i++)
		row_free(&rows->v[i]);
	rows->n = 0;
}

/* Forget everything rendered: the next rendering makes it all. */
static void forget(struct k8s_incr *inc)
{
	int k;

	for (k = 0; k < K8S_N_KINDS; k++) {
		rows_clear(&inc->rows[k]);
		json_object_put(inc->noted[k]);
		inc->noted[k] = NULL;
	}
	json_object_put(inc->cache);
	json_object_put(inc->owner);
	json_object_put(inc->slices);
	json_object_put(inc->users);
	json_object_put(inc->on_node);
	json_object_put(inc->deferred);
	inc->cache = inc->owner = inc->slices = inc->users = inc->on_node = NULL;
	inc->deferred = NULL;
	inc->all = true;
}

void k8s_incr_free(struct k8s_incr *inc)
{
	int k;

	if (!inc)
		return;
	forget(inc);
	for (k = 0; k < K8S_N_KINDS; k++)
		free(inc->rows[k].v);
	free(inc);
}

void k8s_incr_note(struct k8s_incr *inc, enum k8s_kind kind, const char *key)
{
	if (inc->all)
		return;
	if (!inc->noted[kind])
		inc->noted[kind] = json_object_new_object();
	if (!inc->noted[kind] || json_object_object_add(inc->noted[kind], key, NULL))
		inc->all = true; /* out of memory: everything, next time */
}

void k8s_incr_note_all(struct k8s_incr *inc)
{
	inc->all = true;
}

/* ---- the rows ----------------------------------------------------------- */

/* Where key is, or would go, in rows (binary search); *found says which. */
static size_t rows_find(const struct doc_rows *rows, const char *key, bool *found)
{
	size_t lo = 0, hi = rows->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rows->v[mid].key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int rows_reserve(struct doc_rows *rows)
{
	struct doc_row *v;
	size_t cap;

	if (rows->n < rows->cap)
		return 0;
	cap = rows->cap ? rows->cap * 2 : 64;
	v = realloc(rows->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rows->v = v;
	rows->cap = cap;
	return 0;
}

/* key's document becomes text (a reference is taken), or goes (NULL). */
static int rows_set(struct doc_rows *rows, enum k8s_kind kind, const char *key,
		    struct json_object *text)
{
	struct doc_row r = { 0 };
	bool found;
	size_t at = rows_find(rows, key, &found);

	if (found && text) {
		json_object_put(rows->v[at].text);
		rows->v[at].text = json_object_get(text);
		rows->v[at].remade = true;
		return 0;
	}
	if (found) {
		row_free(&rows->v[at]);
		memmove(&rows->v[at], &rows->v[at + 1], (rows->n - at - 1) * sizeof(r));
		rows->n--;
		return 0;
	}
	if (!text)
		return 0;
	if (rows_reserve(rows))
		return -ENOMEM;
	r.key = strdup(key);
	if (!r.key || asprintf(&r.name, "k8s:%s/%s", k8s_kinds[kind].kind, key) < 0) {
		free(r.key);
		return -ENOMEM;
	}
	r.text = json_object_get(text);
	memmove(&rows->v[at + 1], &rows->v[at], (rows->n - at) * sizeof(r));
	rows->v[at] = r;
	rows->n++;
	return 0;
}

/* ---- indexes: which Service a slice feeds, who looked up a Pod or Node -- */

static struct json_object *set_of(struct json_object **index, const char *key)
{
	struct json_object *set;

	if (!*index)
		*index = json_object_new_object();
	if (!*index)
		return NULL;
	set = k8s_jget(*index, key);
	if (!set) {
		set = json_object_new_object();
		if (set && json_object_object_add(*index, key, set))
			return NULL;
	}
	return set;
}

static void set_drop(struct json_object *index, const char *key, const char *member)
{
	struct json_object *set = k8s_jget(index, key);

	if (!set)
		return;
	json_object_object_del(set, member);
	if (!json_object_object_length(set))
		json_object_object_del(index, key);
}

static void dep_key(char *out, size_t len, struct json_object *deps, size_t i)
{
	snprintf(out, len, "%d\t%s", json_object_get_int(json_object_array_get_idx(deps, i)),
		 json_object_get_string(json_object_array_get_idx(deps, i + 1)));
}

/* Record (add) or forget what the entry of Service svc_key looked up. */
static int users_update(struct k8s_incr *inc, struct json_object *entry, const char *svc_key,
			bool add)
{
	struct json_object *deps = entry ? k8s_entry_deps(entry) : NULL, *set;
	size_t i, n = deps ? json_object_array_length(deps) : 0;
	char key[600];

	for (i = 0; i + 3 <= n; i += 3) {
		dep_key(key, sizeof(key), deps, i);
		if (!add) {
			set_drop(inc->users, key, svc_key);
			continue;
		}
		set = set_of(&inc->users, key);
		if (!set || json_object_object_add(set, svc_key, NULL))
			return -ENOMEM;
	}
	return 0;
}

/* The Service a slice is labelled for ("ns/service"), into out; false: none. */
static bool slice_service(struct json_object *slice, char *out, size_t len)
{
	struct json_object *meta = k8s_jget(slice, "metadata");
	const char *svc = k8s_jstr(k8s_jget(meta, "labels"), SERVICE_NAME_LABEL);
	const char *ns = k8s_jstr(meta, "namespace");

	if (!svc)
		return false;
	snprintf(out, len, "%s/%s", ns ? ns : "", svc);
	return true;
}

/* The slice at key now feeds the Service its label names (or none); the
 * Services it fed before and feeds now are added to dirty. */
static int slice_moved(struct k8s_incr *inc, const struct k8s_objects *o, const char *key,
		       struct json_object *dirty)
{
	struct json_object *slice = k8s_jget(o->by_kind[K8S_ENDPOINTSLICES], key), *set;
	const char *before = k8s_jstr(inc->owner, key);
	char now[600];

	if (before) {
		if (json_object_object_add(dirty, before, NULL))
			return -ENOMEM;
		set_drop(inc->slices, before, key);
		json_object_object_del(inc->owner, key);
	}
	if (!slice || !slice_service(slice, now, sizeof(now)))
		return 0;
	set = set_of(&inc->slices, now);
	if (!set || json_object_object_add(set, key, NULL) ||
	    json_object_object_add(inc->owner, key, json_object_new_string(now)) ||
	    json_object_object_add(dirty, now, NULL))
		return -ENOMEM;
	return 0;
}

/* ---- this node's pods ---------------------------------------------------- */

/* The pod at key is on this node now, or not (or gone): on_node follows,
 * so the node's view looks at its own pods, not at the cluster's. */
static int pod_moved(struct k8s_incr *inc, const struct k8s_objects *o, const char *key)
{
	struct json_object *pod = k8s_jget(o->by_kind[K8S_PODS], key);
	const char *node = k8s_jstr(k8s_jget(pod, "spec"), "nodeName");

	if (!inc->on_node && !(inc->on_node = json_object_new_object()))
		return -ENOMEM;
	if (o->node_name && node && strcmp(node, o->node_name) == 0)
		return json_object_object_add(inc->on_node, key, NULL) ? -ENOMEM : 0;
	json_object_object_del(inc->on_node, key);
	return 0;
}

struct json_object *k8s_incr_pods_on_node(const struct k8s_incr *inc)
{
	return inc->on_node;
}

/* ---- making documents again --------------------------------------------- */

/* The slices feeding Service key, in slice key order (as render.c does). */
static struct json_object *service_slices(struct k8s_incr *inc, const struct k8s_objects *o,
					  const char *key)
{
	struct json_object *set = k8s_jget(inc->slices, key), *out;
	const char **keys;
	size_t n, i;

	if (!set)
		return NULL;
	keys = k8s_sorted_keys(set, &n);
	out = keys ? json_object_new_array() : NULL;
	for (i = 0; out && i < n; i++) {
		struct json_object *s = k8s_jget(o->by_kind[K8S_ENDPOINTSLICES], keys[i]);

		if (s)
			json_object_array_add(out, json_object_get(s));
	}
	free(keys);
	return out;
}

/* Service key's document, made again from what is held now. append: the
 * rows are being filled in key order (a full rendering). */
static int service_again(struct k8s_incr *inc, const struct k8s_objects *o, const char *key,
			 bool append)
{
	struct json_object *svc = k8s_jget(o->by_kind[K8S_SERVICES], key), *slices, *entry;
	struct doc_rows *rows = &inc->rows[K8S_SERVICES];
	int err;

	if (inc->early && svc &&
	    (!k8s_jget(inc->slices, key) || (inc->budget && inc->stats.services >= inc->budget))) {
		/* Its slices may be on a page still to come, or this rendering
		 * made its share: made later. */
		if (!inc->deferred && !(inc->deferred = json_object_new_object()))
			return -ENOMEM;
		if (k8s_jget(inc->slices, key))
			inc->stats.more = true;
		else
			inc->stats.deferred++;
		return json_object_object_add(inc->deferred, key, NULL) ? -ENOMEM : 0;
	}
	users_update(inc, k8s_jget(inc->cache, key), key, false);
	if (!svc) {
		json_object_object_del(inc->cache, key);
		return rows_set(rows, K8S_SERVICES, key, NULL);
	}
	slices = service_slices(inc, o, key);
	entry = k8s_service_render(o, svc, slices);
	json_object_put(slices);
	if (!entry || json_object_object_add(inc->cache, key, entry))
		return -ENOMEM;
	err = users_update(inc, entry, key, true);
	inc->stats.services++;
	if (err || !k8s_entry_text(entry))
		return err ? err : rows_set(rows, K8S_SERVICES, key, NULL);
	if (!append)
		return rows_set(rows, K8S_SERVICES, key, k8s_entry_text(entry));
	if (rows_reserve(rows))
		return -ENOMEM;
	rows->v[rows->n] = (struct doc_row){ .key = strdup(key),
					      .text = json_object_get(k8s_entry_text(entry)) };
	if (!rows->v[rows->n].key ||
	    asprintf(&rows->v[rows->n].name, "k8s:Service/%s", key) < 0) {
		row_free(&rows->v[rows->n]);
		return -ENOMEM;
	}
	rows->n++;
	return 0;
}

/* An Istio object's document: the object as it came, pretty-printed. */
static int object_again(struct k8s_incr *inc, const struct k8s_objects *o, enum k8s_kind kind,
			const char *key)
{
	struct json_object *obj = k8s_jget(o->by_kind[kind], key), *text = NULL;
	const char *t;
	int err;

	if (obj) {
		t = k8s_doc_text(obj, true);
		text = t ? json_object_new_string(t) : NULL;
		if (!text)
			return -ENOMEM;
	}
	err = rows_set(&inc->rows[kind], kind, key, text);
	json_object_put(text);
	inc->stats.objects++;
	return err;
}

static int render_all(struct k8s_incr *inc, const struct k8s_objects *o)
{
	struct json_object *dirty = json_object_new_object();
	const char **keys = NULL;
	size_t n = 0, i, k;
	int err = dirty ? 0 : -ENOMEM;

	forget(inc);
	inc->stats.full = true;
	inc->cache = json_object_new_object();
	inc->owner = json_object_new_object();
	if (!inc->cache || !inc->owner)
		err = -ENOMEM;
	/* The slice index first: every Service then finds its slices. */
	if (o->by_kind[K8S_ENDPOINTSLICES]) {
		json_object_object_foreach(o->by_kind[K8S_ENDPOINTSLICES], skey, slice) {
			(void)slice;
			if (!err)
				err = slice_moved(inc, o, skey, dirty);
		}
	}
	json_object_put(dirty);
	if (!err && !(inc->on_node = json_object_new_object()))
		err = -ENOMEM;
	if (!err && o->by_kind[K8S_PODS]) {
		json_object_object_foreach(o->by_kind[K8S_PODS], pkey, pod) {
			(void)pod;
			if (!err)
				err = pod_moved(inc, o, pkey);
		}
	}
	if (!err)
		keys = k8s_sorted_keys(o->by_kind[K8S_SERVICES], &n);
	if (!err && !keys)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++)
		err = service_again(inc, o, keys[i], true);
	free(keys);
	for (k = 1; !err && k < N_DOC_KINDS; k++) {
		keys = k8s_sorted_keys(o->by_kind[doc_kinds[k]], &n);
		if (!keys)
			err = -ENOMEM;
		for (i = 0; !err && i < n; i++)
			err = object_again(inc, o, doc_kinds[k], keys[i]);
		free(keys);
	}
	return err;
}

/* The Services a changed Pod or Node fed go into dirty. */
static int users_dirty(struct k8s_incr *inc, enum k8s_kind kind, struct json_object *noted,
		       struct json_object *dirty)
{
	char key[600];

	struct json_object *users;

	if (!noted)
		return 0;
	json_object_object_foreach(noted, k, unused) {
		(void)unused;
		snprintf(key, sizeof(key), "%d\t%s", (int)kind, k);
		if (!(users = k8s_jget(inc->users, key)))
			continue;
		json_object_object_foreach(users, svc, unused2) {
			(void)unused2;
			if (json_object_object_add(dirty, svc, NULL))
				return -ENOMEM;
		}
	}
	return 0;
}

static int render_noted(struct k8s_incr *inc, const struct k8s_objects *o)
{
	struct json_object *dirty = json_object_new_object();
	size_t k;
	int err = dirty ? 0 : -ENOMEM;

	inc->stats.full = false;
	if (!err && inc->deferred) {
		json_object_object_foreach(inc->deferred, fkey, u0) {
			(void)u0;
			if (!err && json_object_object_add(dirty, fkey, NULL))
				err = -ENOMEM;
		}
		json_object_put(inc->deferred); /* service_again defers again what must wait */
		inc->deferred = NULL;
	}
	if (!err && inc->noted[K8S_SERVICES]) {
		json_object_object_foreach(inc->noted[K8S_SERVICES], skey, u1) {
			(void)u1;
			if (!err && json_object_object_add(dirty, skey, NULL))
				err = -ENOMEM;
		}
	}
	if (!err && inc->noted[K8S_ENDPOINTSLICES]) {
		json_object_object_foreach(inc->noted[K8S_ENDPOINTSLICES], lkey, u2) {
			(void)u2;
			if (!err)
				err = slice_moved(inc, o, lkey, dirty);
		}
	}
	if (!err && inc->noted[K8S_PODS]) {
		json_object_object_foreach(inc->noted[K8S_PODS], pkey, u5) {
			(void)u5;
			if (!err)
				err = pod_moved(inc, o, pkey);
		}
	}
	if (!err)
		err = users_dirty(inc, K8S_PODS, inc->noted[K8S_PODS], dirty);
	if (!err)
		err = users_dirty(inc, K8S_NODES, inc->noted[K8S_NODES], dirty);
	if (dirty) {
		json_object_object_foreach(dirty, dkey, u3) {
			(void)u3;
			if (!err)
				err = service_again(inc, o, dkey, false);
		}
	}
	json_object_put(dirty);
	for (k = 1; !err && k < N_DOC_KINDS; k++) {
		if (!inc->noted[doc_kinds[k]])
			continue;
		json_object_object_foreach(inc->noted[doc_kinds[k]], okey, u4) {
			(void)u4;
			if (!err)
				err = object_again(inc, o, doc_kinds[k], okey);
		}
	}
	return err;
}

/* Lend every row to docs, in kind then key order, with where each was in
 * the last lending and whether it changed since (the store then reads only
 * what changed: isolate.h, policy_docs_hint). */
static int lend(struct k8s_incr *inc, struct k8s_docs *docs)
{
	size_t n = 0, k, i, at = 0;

	for (k = 0; k < N_DOC_KINDS; k++)
		n += inc->rows[doc_kinds[k]].n;
	docs->names = calloc(n ? n : 1, sizeof(*docs->names));
	docs->texts = calloc(n ? n : 1, sizeof(*docs->texts));
	docs->lens = calloc(n ? n : 1, sizeof(*docs->lens));
	docs->prev = calloc(n ? n : 1, sizeof(*docs->prev));
	docs->same = calloc(n ? n : 1, sizeof(*docs->same));
	if (!docs->names || !docs->texts || !docs->lens || !docs->prev || !docs->same)
		return -ENOMEM;
	docs->cap = n ? n : 1;
	for (k = 0; k < N_DOC_KINDS; k++) {
		struct doc_rows *rows = &inc->rows[doc_kinds[k]];

		for (i = 0; i < rows->n; i++, at++) {
			struct doc_row *r = &rows->v[i];

			docs->names[at] = r->name;
			/* The string's own buffer: lent, never written. */
			docs->texts[at] = (char *)json_object_get_string(r->text);
			docs->lens[at] = (size_t)json_object_get_string_len(r->text);
			docs->prev[at] = r->lent ? (long)r->lent - 1 : -1;
			docs->same[at] = r->lent && !r->remade;
			r->lent = at + 1;
			r->remade = false;
		}
	}
	docs->n = docs->borrowed = n;
	docs->prev_seq = inc->lendings;
	docs->seq = ++inc->lendings;
	inc->stats.docs = n;
	return 0;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The first early rendering starts from nothing rendered, with every key
 * held noted as if it had just come, so that it (and the next ones) make
 * what they make a budget at a time, the way later changes are made. Being
 * the incremental path from an empty rendering, it ends where a full one
 * would (test_k8s_incr.c).
 */
static int start_empty(struct k8s_incr *inc, const struct k8s_objects *o)
{
	int k;

	forget(inc);
	inc->all = false;
	inc->cache = json_object_new_object();
	inc->owner = json_object_new_object();
	inc->on_node = json_object_new_object();
	if (!inc->cache || !inc->owner || !inc->on_node)
		return -ENOMEM;
	for (k = 0; k < K8S_N_KINDS; k++) {
		if (!o->by_kind[k])
			continue;
		json_object_object_foreach(o->by_kind[k], key, obj) {
			(void)obj;
			k8s_incr_note(inc, (enum k8s_kind)k, key);
		}
	}
	return inc->all ? -ENOMEM : 0; /* a note that failed set it again */
}

static int incr_render(struct k8s_incr *inc, const struct k8s_objects *o, struct k8s_docs *docs,
		       bool early, size_t budget)
{
	double t0 = mono_ms();
	int k, err = 0;

	inc->stats = (struct k8s_render_stats){ 0 };
	inc->early = early;
	inc->budget = budget;
	if (early && inc->all)
		err = start_empty(inc, o);
	if (!err)
		err = inc->all ? render_all(inc, o) : render_noted(inc, o);
	inc->early = false;
	for (k = 0; k < K8S_N_KINDS; k++) {
		json_object_put(inc->noted[k]);
		inc->noted[k] = NULL;
	}
	inc->all = false;
	if (!err)
		err = lend(inc, docs);
	if (err)
		forget(inc); /* the next rendering makes everything */
	inc->stats.ms = mono_ms() - t0;
	return err;
}

int k8s_incr_render(struct k8s_incr *inc, const struct k8s_objects *o, struct k8s_docs *docs)
{
	return incr_render(inc, o, docs, false, 0);
}

int k8s_incr_render_early(struct k8s_incr *inc, const struct k8s_objects *o, size_t budget,
			  struct k8s_docs *docs)
{
	return incr_render(inc, o, docs, true, budget);
}

void k8s_incr_stats(const struct k8s_incr *inc, struct k8s_render_stats *st)
{
	*st = inc->stats;
}
