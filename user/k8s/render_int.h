/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_K8S_RENDER_INT_H
#define BPFMESH_K8S_RENDER_INT_H
/*
 * Between render.c (what one Service or object becomes) and incr.c (which
 * of them to make again after a change) and watch.c (which objects
 * changed). Not for use outside user/k8s/.
 */
#include <stdbool.h>
#include "k8s/k8s.h"

struct json_object;

/* o's member key (NULL: o is NULL or has none); the same, if a string. */
struct json_object *k8s_jget(struct json_object *o, const char *key);
const char *k8s_jstr(struct json_object *o, const char *key);

/* obj as a document's text (owned by obj): Istio objects pretty, the
 * ServiceEntries made from Services on one line. */
const char *k8s_doc_text(struct json_object *obj, bool pretty);
/* The keys of a JSON object in byte order; free() the array only. */
const char **k8s_sorted_keys(struct json_object *o, size_t *n);

/* What one Service becomes, from its slices (an array, in slice key order;
 * NULL: none): a cache entry holding the Service, the slices, what else it
 * looked up (k8s_entry_deps: kind, key, object, repeated) and its document
 * (k8s_entry_text: a string, or NULL when the Service gives none, e.g.
 * ExternalName). NULL: out of memory. */
struct json_object *k8s_service_render(const struct k8s_objects *o, struct json_object *svc,
				      struct json_object *slices);
struct json_object *k8s_entry_deps(struct json_object *entry);
struct json_object *k8s_entry_text(struct json_object *entry);

/* This node's view; on_node (NULL: every pod is looked at) holds the keys
 * of the pods whose spec.nodeName is this node. */
int k8s_render_node(const struct k8s_objects *o, const char *cgroup_root,
		    struct json_object *on_node, struct k8s_node_view *v);

/* ---- incremental rendering (incr.c) ------------------------------------ */

struct k8s_incr;
struct k8s_incr *k8s_incr_new(void);
void k8s_incr_free(struct k8s_incr *inc); /* accepts NULL */
/* The watch, under its lock: the object kind/key changed (added, modified
 * or deleted); or, k8s_incr_note_all, anything may have. */
void k8s_incr_note(struct k8s_incr *inc, enum k8s_kind kind, const char *key);
void k8s_incr_note_all(struct k8s_incr *inc);
/* Every document of o (as k8s_render_objects gives them, in the same
 * order), only those the noted changes feed made again; the documents are
 * lent to docs (k8s_docs.borrowed). 0 or -ENOMEM (then the next rendering
 * makes everything again). */
int k8s_incr_render(struct k8s_incr *inc, const struct k8s_objects *o, struct k8s_docs *docs);
/* The same, while the first lists page in: a Service with no slice held
 * is put aside (not made, not lent) until a slice of its comes or the next
 * k8s_incr_render, which makes it (incr.c, "Early renderings"); so are the
 * Services past the first budget made (0: no bound; k8s_render_stats.more
 * says some were). */
int k8s_incr_render_early(struct k8s_incr *inc, const struct k8s_objects *o, size_t budget,
			  struct k8s_docs *docs);

void k8s_incr_stats(const struct k8s_incr *inc, struct k8s_render_stats *st);
/* The keys of the pods on o->node_name as of the last rendering (a set;
 * NULL before the first), for k8s_render_node. */
struct json_object *k8s_incr_pods_on_node(const struct k8s_incr *inc);

#endif /* BPFMESH_K8S_RENDER_INT_H */
