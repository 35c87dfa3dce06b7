// SPDX-License-Identifier: Apache-2.0
/* YAML documents from libyaml's events into reused buffers (see yaml_load.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_doc.h"
#include "yaml_load.h"

struct yload_open {
	size_t node;      /* its index in l->nodes */
	size_t first_kid; /* its children start here in l->kids */
};

/* Room for need elements of size in *p (capacity *cap), doubling. */
static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			return false;
		n *= 2;
	}
	q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

#define GROW(l, arr, n, extra) \
	grow((void **)&(l)->arr, &(l)->cap_##arr, (l)->n + (extra), sizeof(*(l)->arr))

bool yload_init(struct yload *l, const char *buf, size_t len)
{
	memset(l, 0, sizeof(*l));
	if (!yaml_parser_initialize(&l->parser))
		return false;
	yaml_parser_set_input_string(&l->parser, (const unsigned char *)buf, len);
	return true;
}

static void anchors_clear(struct yload *l)
{
	size_t i;

	for (i = 0; i < l->n_anchors; i++)
		free(l->anchor_names[i]);
	l->n_anchors = 0;
	hmap_free(&l->anchors);
}

void yload_free(struct yload *l)
{
	anchors_clear(l);
	free(l->anchor_names);
	free(l->nodes);
	free(l->spans);
	free(l->items);
	free(l->pairs);
	free(l->text);
	free(l->kids);
	free(l->open);
	yaml_parser_delete(&l->parser);
	memset(l, 0, sizeof(*l));
}

static void doc_reset(struct yload *l)
{
	l->n_nodes = l->n_items = l->n_pairs = l->n_text = l->n_kids = l->n_open = 0;
	anchors_clear(l);
	memset(&l->doc, 0, sizeof(l->doc));
}

/* mk in the file's lines (the parser counts from the start of its buffer). */
static yaml_mark_t in_file(const struct yload *l, yaml_mark_t mk)
{
	mk.line += l->line_base;
	return mk;
}

static void report_at(struct diag_list *dl, const char *file, const yaml_mark_t *mk,
		      const char *msg, const char *detail)
{
	diag_add(dl, DIAG_ERROR, file, (unsigned int)mk->line + 1, (unsigned int)mk->column + 1,
		 "", "%s%s", msg, detail ? detail : "");
}

static void report_parser_error(struct diag_list *dl, const char *file, const struct yload *l)
{
	const yaml_parser_t *p = &l->parser;
	yaml_mark_t mk = in_file(l, p->problem ? p->problem_mark : p->mark);
	char msg[256];

	if (p->error == YAML_MEMORY_ERROR) {
		diag_add(dl, DIAG_ERROR, file, 0, 0, "", "out of memory while reading YAML");
		return;
	}
	snprintf(msg, sizeof(msg), "invalid YAML: %s%s%s", p->problem ? p->problem : "syntax error",
		 p->context ? " " : "", p->context ? p->context : "");
	report_at(dl, file, &mk, msg, NULL);
}

/* A new node of type at mk, a child of the innermost open collection (or
 * the root). Its index, or -1: out of memory or over YDOC_MAX_NODES (*why). */
static long node_new(struct yload *l, yaml_node_type_t type, const yaml_event_t *ev,
		     const char **why)
{
	size_t cap = l->cap_nodes;
	yaml_node_t *n;

	if (l->n_nodes >= YDOC_MAX_NODES) {
		*why = "a document with more than " YSTR(YDOC_MAX_NODES) " nodes; file not read";
		return -1;
	}
	if (!GROW(l, nodes, n_nodes, 1))
		return -1;
	if (l->cap_nodes != cap) {
		struct yload_span *s = realloc(l->spans, l->cap_nodes * sizeof(*s));

		if (!s) {
			l->cap_nodes = cap; /* nodes grew; spans did not: use what both hold */
			return -1;
		}
		l->spans = s;
	}
	if (l->n_open) {
		if (!GROW(l, kids, n_kids, 1))
			return -1;
		l->kids[l->n_kids++] = (yaml_node_item_t)(l->n_nodes + 1);
	}
	n = &l->nodes[l->n_nodes];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->start_mark = in_file(l, ev->start_mark);
	n->end_mark = in_file(l, ev->end_mark);
	l->spans[l->n_nodes] = (struct yload_span){ 0, 0 };
	return (long)l->n_nodes++;
}

/* Record anchor (taken over from the event) for node; false when the name
 * is taken (reported, as libyaml does) or on allocation failure. */
static bool anchor_add(struct yload *l, yaml_char_t **anchor, size_t node, const char *file,
		       struct diag_list *dl, const yaml_mark_t *mk)
{
	char *name = (char *)*anchor;
	bool added;
	size_t prev;

	if (!name)
		return true;
	*anchor = NULL;
	if (hmap_get_str(&l->anchors, name, &prev)) {
		char detail[64];
		yaml_mark_t at = in_file(l, *mk);

		snprintf(detail, sizeof(detail), " (first at line %zu)",
			 l->nodes[prev].start_mark.line + 1);
		report_at(dl, file, &at, "invalid YAML: found duplicate anchor", detail);
		l->reported = true;
		free(name);
		return false;
	}
	if (!GROW(l, anchor_names, n_anchors, 1)) {
		free(name);
		return false;
	}
	l->anchor_names[l->n_anchors++] = name;
	return hmap_put_str(&l->anchors, name, node, &added);
}

static bool on_scalar(struct yload *l, yaml_event_t *ev, const char **why)
{
	size_t len = ev->data.scalar.length;
	long i = node_new(l, YAML_SCALAR_NODE, ev, why);

	if (i < 0 || len >= SIZE_MAX - l->n_text || !GROW(l, text, n_text, len + 1))
		return false;
	memcpy(l->text + l->n_text, ev->data.scalar.value, len);
	l->text[l->n_text + len] = '\0';
	l->spans[i] = (struct yload_span){ l->n_text, len };
	l->n_text += len + 1;
	l->nodes[i].data.scalar.style = ev->data.scalar.style;
	return true;
}

static long on_collection_start(struct yload *l, yaml_node_type_t type, const yaml_event_t *ev,
				const char **why)
{
	long i;

	if (l->n_open >= YDOC_MAX_DEPTH) {
		/* libyaml's scanner is quadratic in the depth: stop at once. */
		*why = "nesting deeper than " YSTR(YDOC_MAX_DEPTH) " levels; file not read";
		return -1;
	}
	i = node_new(l, type, ev, why);
	if (i < 0 || !GROW(l, open, n_open, 1))
		return -1;
	l->open[l->n_open++] = (struct yload_open){ (size_t)i, l->n_kids };
	if (type == YAML_SEQUENCE_NODE)
		l->nodes[i].data.sequence.style = ev->data.sequence_start.style;
	else
		l->nodes[i].data.mapping.style = ev->data.mapping_start.style;
	return i;
}

/* The innermost collection ends: its children move to items or pairs. */
static bool on_collection_end(struct yload *l, const yaml_event_t *ev)
{
	struct yload_open o = l->open[--l->n_open];
	size_t n = l->n_kids - o.first_kid, k;
	const yaml_node_item_t *kid = l->kids + o.first_kid;
	yaml_node_t *node = &l->nodes[o.node];

	node->end_mark = in_file(l, ev->end_mark);
	if (node->type == YAML_SEQUENCE_NODE) {
		if (!GROW(l, items, n_items, n))
			return false;
		if (n) /* kids may not be allocated yet ("[]" as the document) */
			memcpy(l->items + l->n_items, kid, n * sizeof(*kid));
		l->spans[o.node] = (struct yload_span){ l->n_items, n };
		l->n_items += n;
	} else {
		if (!GROW(l, pairs, n_pairs, n / 2))
			return false;
		for (k = 0; k + 1 < n; k += 2)
			l->pairs[l->n_pairs + k / 2] = (yaml_node_pair_t){ kid[k], kid[k + 1] };
		l->spans[o.node] = (struct yload_span){ l->n_pairs, n / 2 };
		l->n_pairs += n / 2;
	}
	l->n_kids = o.first_kid;
	return true;
}

static bool on_alias(struct yload *l, const yaml_event_t *ev, const char *file,
		     struct diag_list *dl)
{
	size_t node;

	if (!hmap_get_str(&l->anchors, (const char *)ev->data.alias.anchor, &node)) {
		yaml_mark_t at = in_file(l, ev->start_mark);

		report_at(dl, file, &at, "invalid YAML: found undefined alias", NULL);
		l->reported = true;
		return false;
	}
	if (!l->n_open)
		return true; /* an alias as the whole document: the parser refuses it */
	if (!GROW(l, kids, n_kids, 1))
		return false;
	l->kids[l->n_kids++] = (yaml_node_item_t)(node + 1);
	return true;
}

/* The buffers are final: point the nodes into them. */
static void doc_finish(struct yload *l, const yaml_event_t *ev)
{
	size_t i;

	for (i = 0; i < l->n_nodes; i++) {
		yaml_node_t *n = &l->nodes[i];
		struct yload_span s = l->spans[i];

		switch (n->type) {
		case YAML_SCALAR_NODE:
			n->data.scalar.value = (yaml_char_t *)l->text + s.off;
			n->data.scalar.length = s.len;
			break;
		case YAML_SEQUENCE_NODE:
			n->data.sequence.items.start = l->items + s.off;
			n->data.sequence.items.top = n->data.sequence.items.end =
				l->items + s.off + s.len;
			break;
		case YAML_MAPPING_NODE:
			n->data.mapping.pairs.start = l->pairs + s.off;
			n->data.mapping.pairs.top = n->data.mapping.pairs.end =
				l->pairs + s.off + s.len;
			break;
		default:
			break;
		}
	}
	l->doc.nodes.start = l->nodes;
	l->doc.nodes.top = l->doc.nodes.end = l->nodes + l->n_nodes;
	l->doc.end_mark = in_file(l, ev->end_mark);
}

/* One event into the document. YLOAD_DOC when it ends one, YLOAD_END at the
 * end of the stream, -1 to go on. */
static int on_event(struct yload *l, yaml_event_t *ev, const char *file, struct diag_list *dl)
{
	const char *why = NULL;
	bool ok = true;
	long i;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
	case YAML_NO_EVENT:
		return YLOAD_END;
	case YAML_DOCUMENT_START_EVENT:
		doc_reset(l);
		l->doc.start_mark = in_file(l, ev->start_mark);
		l->doc.start_implicit = ev->data.document_start.implicit;
		return -1;
	case YAML_DOCUMENT_END_EVENT:
		doc_finish(l, ev);
		l->doc.end_implicit = ev->data.document_end.implicit;
		return YLOAD_DOC;
	case YAML_SCALAR_EVENT:
		ok = on_scalar(l, ev, &why) &&
		     anchor_add(l, &ev->data.scalar.anchor, l->n_nodes - 1, file, dl,
				&ev->start_mark);
		break;
	case YAML_SEQUENCE_START_EVENT:
		i = on_collection_start(l, YAML_SEQUENCE_NODE, ev, &why);
		ok = i >= 0 && anchor_add(l, &ev->data.sequence_start.anchor, (size_t)i, file, dl,
					  &ev->start_mark);
		break;
	case YAML_MAPPING_START_EVENT:
		i = on_collection_start(l, YAML_MAPPING_NODE, ev, &why);
		ok = i >= 0 && anchor_add(l, &ev->data.mapping_start.anchor, (size_t)i, file, dl,
					  &ev->start_mark);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		ok = l->n_open && on_collection_end(l, ev);
		break;
	case YAML_ALIAS_EVENT:
		ok = on_alias(l, ev, file, dl);
		break;
	default:
		break;
	}
	if (why) {
		yaml_mark_t at = in_file(l, ev->start_mark);

		report_at(dl, file, &at, why, NULL);
		return YLOAD_ERROR;
	}
	if (!ok && l->reported)
		return YLOAD_ERROR; /* an alias or anchor error, reported */
	if (!ok) {
		diag_add(dl, DIAG_ERROR, file, 0, 0, "", "out of memory while reading YAML");
		return YLOAD_NOMEM;
	}
	return -1;
}

enum yload_result yload_next(struct yload *l, const char *file, struct diag_list *dl)
{
	yaml_event_t ev;
	int r = -1;

	while (r < 0) {
		if (!yaml_parser_parse(&l->parser, &ev)) {
			report_parser_error(dl, file, l);
			return l->parser.error == YAML_MEMORY_ERROR ? YLOAD_NOMEM : YLOAD_ERROR;
		}
		r = on_event(l, &ev, file, dl);
		yaml_event_delete(&ev);
	}
	return (enum yload_result)r;
}
