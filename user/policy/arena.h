/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_ARENA_H
#define BPFMESH_POLICY_ARENA_H
/*
 * Bump allocator for the policy model: everything parsed from one compile is
 * allocated here and released at once, so error paths cannot leak.
 * Allocation failure aborts the compile through arena->oom (checked by the
 * callers that matter); returned memory is zeroed.
 */
#include <stdbool.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t limit;     /* bytes the arena may hand out; 0: no limit */
	size_t allocated; /* bytes handed out so far */
	bool oom;         /* an allocation failed; the compile must give up */
	bool over_limit;  /* ... because limit was reached, not malloc */
};

void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);
/* Move everything from holds into to (to frees it); from is left empty.
 * A part of a policy parsed in its own arena on another thread joins the
 * model this way (parse.c). */
void arena_adopt(struct arena *to, struct arena *from);

#endif /* BPFMESH_POLICY_ARENA_H */
