/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_YAML_DOC_H
#define BPFMESH_POLICY_YAML_DOC_H
/*
 * Typed access to one libyaml document with diagnostics: every getter checks
 * the node's type and reports "file:line:col: error: field.path: ..." at the
 * node's own mark when it is wrong. Mapping walks go through field tables, so
 * that no key is ever silently ignored.
 */
#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "arena.h"
#include "diag.h"
#include "model.h"

struct hmap;

#define YPATH_MAX 256
/* Nesting deeper than this (block and flow together, counted on the events
 * as they come, yaml_load.c) stops the file at that point: libyaml's
 * scanner spends time quadratic in the depth (100,000 levels of "[[[["
 * took 15-30 s). Istio resources nest about 12 deep; Kubernetes objects
 * rarely pass 30. */
#define YDOC_MAX_DEPTH 100
/* Nodes in one document, counted as they are loaded: a node takes about
 * 100 bytes in the loader's buffers (yaml_load.c), so this caps them at
 * about 50 MB. Kubernetes stores no object over 1.5 MiB, about 150,000
 * nodes; files may hold any number of documents, each loaded in turn. */
#define YDOC_MAX_NODES 500000
#define YSTR_(x) #x
#define YSTR(x) YSTR_(x)

struct ydoc {
	yaml_document_t *doc;
	const char *file;
	struct diag_list *dl;
	struct arena *a;
	struct visit_budget *visits; /* the compile's, shared by its files */
	/* Lowest visits->left seen by a visit (NULL: not kept): a part of a
	 * file parsed on its own learns from it whether the budget it would
	 * have had, parsed after the rest, is enough (parse.c). */
	unsigned long *visits_low;
	yaml_node_t *key; /* key of the field whose parser is running */
	/* Field paths already in the arena (ysrc): documents of one file
	 * repeat them ("spec.endpoints[3].labels.version"). NULL: none kept. */
	struct hmap *paths;
};

/* A field of a mapping and its parser (called only for non-null values). */
struct yfield {
	const char *name;
	void (*fn)(struct ydoc *d, yaml_node_t *n, const char *path, void *obj);
};

/* Reasons shared by field tables. */
#define Y_REQUEST_ONLY "needs to see HTTP requests; not enforced at connection level"
#define Y_NOT_YET "not yet implemented; ignored"
#define Y_UNKNOWN "unknown or not yet implemented field; ignored"

/* Where to report a whole field: its key while its parser runs, else n. */
yaml_node_t *ykey(struct ydoc *d, yaml_node_t *n);
unsigned int ynode_line(const yaml_node_t *n);
unsigned int ynode_col(const yaml_node_t *n);
void ydiag(struct ydoc *d, const yaml_node_t *n, enum diag_level level,
	   const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void ypath_key(char *buf, const char *parent, const char *key);
void ypath_idx(char *buf, const char *parent, size_t i);

bool ynode_is_null(const yaml_node_t *n);
const char *ynode_kind(const yaml_node_t *n);
yaml_node_t *ynode(struct ydoc *d, yaml_node_item_t i);
/* Value of key in a mapping, NULL if absent (no diagnostic). */
yaml_node_t *ymap_get(struct ydoc *d, yaml_node_t *map, const char *key);

/* Count one node against the compile's visit budget; false (reported once)
 * when it is spent: the caller stops walking. */
bool yvisit(struct ydoc *d, const yaml_node_t *n);
/* Report an allocation failure at n and stop the compile (arena->oom). */
void yfail_alloc(struct ydoc *d, const yaml_node_t *n, const char *path);
/* A flag per pair of map (s->v), set for each later copy of a duplicate
 * key (reported); false on allocation failure (reported). Mappings of up
 * to YSKIP_SMALL keys use s->small, not the heap. yskips_free() after. */
#define YSKIP_SMALL 16
struct yskips {
	bool *v;
	bool small[YSKIP_SMALL];
};
bool ymap_dup_skips(struct ydoc *d, yaml_node_t *map, const char *path, struct yskips *s);
void yskips_free(struct yskips *s);
/* Walk a mapping through a field table; obj is passed to the handlers. */
void ywalk_map(struct ydoc *d, yaml_node_t *map, const char *path,
	       const struct yfield *fields, void *obj);
/* Call fn on every item of a sequence (null items reported). Returns the
 * item count, or -1 when n is not a sequence (reported). */
typedef void (*yitem_fn)(struct ydoc *d, yaml_node_t *item, const char *path,
			 size_t idx, void *obj);
long yseq_each(struct ydoc *d, yaml_node_t *n, const char *path, yitem_fn fn, void *obj);
size_t yseq_len(const yaml_node_t *n);

/* Scalars. Each returns false (after reporting) when the node has the wrong type. */
bool yget_str(struct ydoc *d, yaml_node_t *n, const char *path, const char **out);
bool yget_int(struct ydoc *d, yaml_node_t *n, const char *path, int64_t *out);
bool yget_uint_range(struct ydoc *d, yaml_node_t *n, const char *path, int64_t min,
		     int64_t max, uint32_t *out);
bool yget_bool(struct ydoc *d, yaml_node_t *n, const char *path, bool *out);
bool yget_double(struct ydoc *d, yaml_node_t *n, const char *path, double *out);
/* Go duration; min_ns -1 means any non-negative value. */
bool yget_duration(struct ydoc *d, yaml_node_t *n, const char *path, int64_t min_ns,
		   int64_t *out);
/* One of values[] (NULL-terminated), case-sensitive like protobuf enums. */
bool yget_enum(struct ydoc *d, yaml_node_t *n, const char *path,
	       const char *const *values, int *out);
/* Expect a mapping (reports otherwise). */
bool yexpect_map(struct ydoc *d, yaml_node_t *n, const char *path);

/* Reports every key of a mapping with the given level and message. */
void yreport_fields(struct ydoc *d, yaml_node_t *map, const char *path,
		    enum diag_level level, const char *msg);

#endif /* BPFMESH_POLICY_YAML_DOC_H */
