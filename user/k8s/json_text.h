/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_K8S_JSON_TEXT_H
#define BPFMESH_K8S_JSON_TEXT_H
/*
 * JSON text written straight into a buffer, byte for byte what json-c
 * writes (json_object_to_json_string_ext, JSON_C_TO_STRING_SPACED |
 * JSON_C_TO_STRING_NOSLASHESCAPE) for an object built member by member in
 * the same order: `{ "k": v, "k2": v2 }`, `[ a, b ]`, `{ }`, `[ ]`.
 *
 * Why: a ServiceEntry rendered from a Service (render.c) used to be built
 * as json-c objects and then printed. Every json-c object allocates a hash
 * table of 16 slots; at 10,000 Services x 10 endpoints that building was
 * most of the rendering's quarter of a second. The text is what the
 * policy parser reads and what incr.c compares, so it must not change:
 * tests/unit/test_k8s.c checks it against json-c's own printing.
 */
#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define JTEXT_MAX_DEPTH 16

struct jtext {
	char *buf;
	size_t len, cap;
	bool oom;            /* a write failed: jtext_take gives NULL */
	unsigned int depth;  /* open objects and arrays */
	bool has[JTEXT_MAX_DEPTH]; /* the open collection has a member already */
};

/* '{' or '[' opens, '}' or ']' closes (the last one opened). */
void jtext_open(struct jtext *t, char c);
void jtext_close(struct jtext *t, char c);
/* The next member of the open object ("key": follows), or the next
 * element of the open array: the separator, then what is written next. */
void jtext_key(struct jtext *t, const char *key);
void jtext_item(struct jtext *t);
/* Values. */
void jtext_str(struct jtext *t, const char *s);
void jtext_int(struct jtext *t, long long v);
void jtext_raw(struct jtext *t, const char *s, size_t len); /* a whole value's text */
void jtext_json(struct jtext *t, struct json_object *v);   /* any json-c value */
/* The text (malloc'd, NUL-terminated, *len without the NUL), t emptied;
 * NULL when out of memory. */
char *jtext_take(struct jtext *t, size_t *len);
void jtext_free(struct jtext *t);

#endif /* BPFMESH_K8S_JSON_TEXT_H */
