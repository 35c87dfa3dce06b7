/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_YAML_LOAD_H
#define BPFMESH_POLICY_YAML_LOAD_H
/*
 * YAML documents from libyaml's events, one at a time, in the shape of
 * libyaml's yaml_document_t (so yaml_doc.h reads them as it reads libyaml's),
 * but built in a few buffers that are reused from one document to the next:
 *
 * - yaml_parser_load() mallocs every node's value, tag and child list, and
 *   frees each again with the document: at 10,000 services that malloc/free
 *   traffic was a third of the parse.
 * - The limits (nesting depth, nodes per document) are checked on the
 *   events as they come, so the text is scanned once; the token pre-scan
 *   they used to need was another fifth.
 *
 * Anchors and aliases behave as in libyaml: an anchor is known from its
 * node's start (a collection may hold an alias of itself; the compile's
 * visit budget bounds the walk), an undefined alias and a second anchor of
 * one name are YAML errors. Tags are not kept (nothing reads them).
 */
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "diag.h"
#include "hmap.h"

struct yload_open; /* a collection whose end event has not come yet */

/* Where a node's text (scalar) or children (collection) are in l's buffers. */
struct yload_span {
	size_t off, len;
};

struct yload {
	yaml_parser_t parser;
	yaml_document_t doc; /* the document yload_next() returned */
	/* Storage of doc, reused: nodes, and per node where its children or
	 * its text are (offsets: the buffers move when they grow). */
	yaml_node_t *nodes;
	struct yload_span *spans; /* one per node, as many as nodes has room for */
	size_t n_nodes, cap_nodes;
	yaml_node_item_t *items; /* sequences' children */
	size_t n_items, cap_items;
	yaml_node_pair_t *pairs; /* mappings' */
	size_t n_pairs, cap_pairs;
	char *text; /* scalars, each NUL-terminated */
	size_t n_text, cap_text;
	yaml_node_item_t *kids; /* children of the open collections, in order */
	size_t n_kids, cap_kids;
	struct yload_open *open;
	size_t n_open, cap_open;
	struct hmap anchors; /* name -> node index */
	char **anchor_names;
	size_t n_anchors, cap_anchor_names;
	bool reported; /* the error that stopped it is reported (not memory) */
	/* Lines before buf in its file (a part of a file parsed on its own,
	 * parse.c): added to every mark, so diagnostics name the file's line. */
	size_t line_base;
};

enum yload_result {
	YLOAD_DOC,   /* l->doc holds the next document */
	YLOAD_END,   /* no more documents */
	YLOAD_ERROR, /* invalid YAML or over a limit: reported at file:line:col */
	YLOAD_NOMEM, /* out of memory: reported */
};

/* false: out of memory. buf must outlive l. */
bool yload_init(struct yload *l, const char *buf, size_t len);
enum yload_result yload_next(struct yload *l, const char *file, struct diag_list *dl);
void yload_free(struct yload *l);

#endif /* BPFMESH_POLICY_YAML_LOAD_H */
