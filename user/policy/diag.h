/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_DIAG_H
#define BPFMESH_DIAG_H
/*
 * Compiler-style diagnostics: "policies/x.yaml:12:7: error: spec.http[0]
 * .route[1].weight: must be >= 0". Collected, not printed, so that the agent
 * can log them and the tests can assert on them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_level {
	DIAG_NOTE,    /* informational: a skipped kind, a default taken */
	DIAG_WARNING, /* accepted, but probably not what was meant */
	DIAG_UNENFORCED, /* a field the connection-level data plane cannot honour;
			  * a warning, an error under --strict */
	DIAG_ERROR,   /* Istio would reject it, or it would black-hole traffic */
};

struct diag {
	enum diag_level level;
	char *file;
	unsigned int line; /* 1-based; 0 when not tied to a place */
	unsigned int col;  /* 1-based */
	char *field;       /* dotted path, e.g. "spec.http[0].route[1].weight" */
	char *msg;
};

/* Diagnostics kept per list, errors and the rest each: a hostile file can
 * have one every few bytes. The rest are counted (errors still reject), not
 * stored; diagnostics about a whole file or compile (line 0) are always
 * kept, so that the reason a policy was refused is never lost. */
#define DIAG_MAX_KEPT 10000

struct diag_list {
	struct diag *items;
	size_t n, cap;
	size_t kept_errors;
	size_t dropped[DIAG_ERROR + 1]; /* per level: over the cap, or no memory */
	bool strict; /* DIAG_UNENFORCED counts as an error */
	size_t files, resources; /* what policy_compile_*() read, for reports */
};

void diag_add(struct diag_list *dl, enum diag_level level, const char *file,
	      unsigned int line, unsigned int col, const char *field,
	      const char *fmt, ...) __attribute__((format(printf, 7, 8)));
size_t diag_count_errors(const struct diag_list *dl); /* honours strict */
bool diag_is_error(const struct diag_list *dl, const struct diag *d); /* likewise */
/* Errors that could not be stored (over the cap), honouring strict. */
size_t diag_dropped_errors(const struct diag_list *dl);
/* Errors added since dl->n was from and diag_dropped_errors() was
 * dropped_before: one document's errors, without counting the whole list. */
size_t diag_errors_since(const struct diag_list *dl, size_t from, size_t dropped_before);
/* Copy every diagnostic of from (and its dropped counts) to the end of to. */
void diag_append(struct diag_list *to, const struct diag_list *from);
void diag_print(const struct diag_list *dl, FILE *out);
void diag_free(struct diag_list *dl);

#endif /* BPFMESH_DIAG_H */
