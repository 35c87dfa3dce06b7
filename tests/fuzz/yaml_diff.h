/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TEST_YAML_DIFF_H
#define BPFMESH_TEST_YAML_DIFF_H
/*
 * Everything the YAML loader (user/policy/yaml_load.c) gives for a buffer
 * as text: the nodes of each document (type, style, text, line and column,
 * children), its end, the result and the diagnostics; with and without
 * yaml_fast.c. The fuzz target aborts when the two differ, the unit tests
 * (test_yaml_fast.c) compare them on files and mutants.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/yaml_load.h"

struct ydiff_out {
	char *s;
	size_t len, cap;
	bool oom;
};

static inline void __attribute__((format(printf, 2, 3)))
ydiff_add(struct ydiff_out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || o->oom)
		return;
	if (o->len + (size_t)n + 1 > o->cap) {
		o->cap = (o->len + (size_t)n + 1) * 2;
		s = realloc(o->s, o->cap);
		if (!s) {
			o->oom = true;
			return;
		}
		o->s = s;
	}
	va_start(ap, fmt);
	vsnprintf(o->s + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static inline void ydiff_node(struct ydiff_out *o, const yaml_node_t *n)
{
	const yaml_node_item_t *it;
	const yaml_node_pair_t *p;
	size_t i;

	ydiff_add(o, "%d@%zu:%zu", n->type, n->start_mark.line, n->start_mark.column);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		ydiff_add(o, " s%d %zu[", n->data.scalar.style, n->data.scalar.length);
		for (i = 0; i < n->data.scalar.length; i++)
			ydiff_add(o, "%02x", n->data.scalar.value[i]);
		ydiff_add(o, "]\n");
		break;
	case YAML_SEQUENCE_NODE:
		ydiff_add(o, " q%d", n->data.sequence.style);
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			ydiff_add(o, " %d", *it);
		ydiff_add(o, "\n");
		break;
	case YAML_MAPPING_NODE:
		ydiff_add(o, " m%d", n->data.mapping.style);
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
			ydiff_add(o, " %d:%d", p->key, p->value);
		ydiff_add(o, "\n");
		break;
	default:
		ydiff_add(o, "\n");
	}
}

/* The text for buf (malloc'd; NULL out of memory); fast: with yaml_fast.c. */
static inline char *ydiff_load(const char *buf, size_t len, bool fast)
{
	struct diag_list dl = { 0 };
	struct ydiff_out o = { 0 };
	enum yload_result r;
	const yaml_node_t *n;
	struct yload l;
	size_t i;

	if (!yload_init(&l, buf, len))
		return NULL;
	if (!fast) {
		l.fast = false;
		l.in_libyaml = true;
	}
	while ((r = yload_next(&l, "f.yaml", &dl)) == YLOAD_DOC) {
		ydiff_add(&o, "doc end %zu:%zu@%zu %d\n", l.doc.end_mark.line,
			  l.doc.end_mark.column, l.doc.end_mark.index, l.doc.end_implicit);
		for (n = l.doc.nodes.start; n < l.doc.nodes.top; n++)
			ydiff_node(&o, n);
	}
	ydiff_add(&o, "result %d\n", r);
	for (i = 0; i < dl.n; i++)
		ydiff_add(&o, "diag %d %u:%u %s\n", dl.items[i].level, dl.items[i].line,
			  dl.items[i].col, dl.items[i].msg);
	yload_free(&l);
	diag_free(&dl);
	ydiff_add(&o, "%s", "");
	if (o.oom) {
		free(o.s);
		return NULL;
	}
	return o.s;
}

/* Does buf load the same with and without yaml_fast.c? (Out of memory:
 * nothing to compare, true.) On a difference both texts are printed. */
static inline bool ydiff_same(const char *buf, size_t len)
{
	char *a = ydiff_load(buf, len, false), *b = ydiff_load(buf, len, true);
	bool same = !a || !b || strcmp(a, b) == 0;

	if (!same)
		fprintf(stderr, "input (%zu bytes):\n%.*s\n--- libyaml:\n%s\n--- fast:\n%s\n",
			len, (int)len, buf, a, b);
	free(a);
	free(b);
	return same;
}

#endif /* BPFMESH_TEST_YAML_DIFF_H */
