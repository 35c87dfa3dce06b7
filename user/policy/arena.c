// SPDX-License-Identifier: Apache-2.0
/* Bump allocator for the policy model (see arena.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"

/* Chunks are mapped, not calloc'ed: the kernel hands out zeroed pages as they
 * are touched, where calloc would memset every chunk up front (a tenth of a
 * 10,000-service compile went to that memset). */
#define ARENA_CHUNK (1u << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

/* Count size against a->limit; false (oom, over_limit) past it. */
static bool arena_charge(struct arena *a, size_t size)
{
	if (a->limit && (size > a->limit || a->allocated > a->limit - size)) {
		a->oom = a->over_limit = true;
		return false;
	}
	a->allocated += size;
	return true;
}

#ifdef BPFMESH_ARENA_MALLOC
static char *arena_str_alloc(struct arena *a, size_t size);
/*
 * Sanitizer builds (unit tests, fuzzing): one malloc per allocation, of
 * exactly the size asked for, so that ASan sees every overflow that a shared
 * chunk would hide. Same zeroing, same free-all-at-once semantics.
 */
void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_chunk *c;

	if (size > SIZE_MAX - sizeof(*c)) {
		a->oom = true;
		return NULL;
	}
	if (!arena_charge(a, size))
		return NULL;
	c = calloc(1, sizeof(*c) + size);
	if (!c) {
		a->oom = true;
		return NULL;
	}
	c->cap = c->used = size;
	c->next = a->head;
	a->head = c;
	return c->data;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->allocated = 0;
	a->oom = a->over_limit = false;
}

static char *arena_str_alloc(struct arena *a, size_t size)
{
	return arena_alloc(a, size);
}
#else
static struct arena_chunk *arena_new_chunk(struct arena *a, size_t need)
{
	size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
	struct arena_chunk *c;

	if (cap > SIZE_MAX - sizeof(*c)) {
		a->oom = true;
		return NULL;
	}
	c = mmap(NULL, sizeof(*c) + cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (c == MAP_FAILED) {
		a->oom = true;
		return NULL;
	}
	c->cap = cap;
	c->next = a->head;
	a->head = c;
	return c;
}

/* size bytes at a multiple of align (a power of two, at most 16). */
static void *arena_carve(struct arena *a, size_t size, size_t align)
{
	struct arena_chunk *c = a->head;
	size_t need = size ? size : 1, at;
	void *p;

	if (!arena_charge(a, need))
		return NULL;
	at = c ? (c->used + align - 1) & ~(align - 1) : 0;
	if (!c || at > c->cap || c->cap - at < need) {
		c = arena_new_chunk(a, need);
		if (!c)
			return NULL;
		at = 0;
	}
	p = c->data + at;
	c->used = at + need;
	return p; /* chunks come zeroed from mmap and are never reused */
}

void *arena_alloc(struct arena *a, size_t size)
{
	return arena_carve(a, size, 16);
}

/* Strings take their length, not a multiple of 16: a model is mostly short
 * strings (a tenth of it went to the rounding at 10,000 services). */
static char *arena_str_alloc(struct arena *a, size_t size)
{
	return arena_carve(a, size, 1);
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		munmap(c, sizeof(*c) + c->cap);
	}
	a->head = NULL;
	a->allocated = 0;
	a->oom = a->over_limit = false;
}
#endif

void arena_adopt(struct arena *to, struct arena *from)
{
	struct arena_chunk *last;

	if (!from->head)
		return;
	/* After to's head: the chunk to carves from stays its head. */
	for (last = from->head; last->next; last = last->next)
		;
	if (to->head) {
		last->next = to->head->next;
		to->head->next = from->head;
	} else {
		to->head = from->head;
	}
	to->allocated += from->allocated;
	to->oom = to->oom || from->oom;
	to->over_limit = to->over_limit || from->over_limit;
	from->head = NULL;
	from->allocated = 0;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		a->oom = true;
		return NULL;
	}
	return arena_alloc(a, n * size);
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = len < SIZE_MAX ? arena_str_alloc(a, len + 1) : NULL;

	if (p && len)
		memcpy(p, s, len);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_str_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
