// SPDX-License-Identifier: Apache-2.0
/* Open-addressing hash map with linear probing (see hmap.h). */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define HMAP_USED (1ULL << 63)

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h | HMAP_USED;
}

static uint64_t hash_ptr(const void *a, const void *b)
{
	uint64_t h = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL;

	h ^= (uint64_t)(uintptr_t)b + 0x7f4a7c159e3779b9ULL + (h << 6) + (h >> 2);
	return (h ^ (h >> 29)) | HMAP_USED;
}

static bool ent_used(const struct hmap_ent *e)
{
	return e->hash != 0;
}

static bool ent_eq(const struct hmap_ent *e, uint64_t h, const void *a, const void *b,
		   bool str)
{
	if (e->hash != h) /* a free entry's is 0, never h */
		return false;
	return str ? strcmp(e->k1, a) == 0 : (e->k1 == a && e->k2 == b);
}

static struct hmap_ent *hmap_slot(const struct hmap *m, uint64_t h, const void *a,
				  const void *b, bool str)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (ent_used(&m->v[i]) && !ent_eq(&m->v[i], h, a, b, str))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

/* Move every entry to a table of cap slots (a power of two). */
static bool hmap_rehash(struct hmap *m, size_t cap)
{
	struct hmap old = *m;
	size_t i;

	m->cap = cap;
	m->v = calloc(m->cap, sizeof(*m->v));
	if (!m->v) {
		*m = old;
		return false;
	}
	for (i = 0; i < old.cap; i++) {
		if (ent_used(&old.v[i])) {
			struct hmap_ent *e = &m->v[old.v[i].hash & (m->cap - 1)];

			while (ent_used(e))
				e = e + 1 < m->v + m->cap ? e + 1 : m->v;
			*e = old.v[i];
		}
	}
	free(old.v);
	return true;
}

static bool hmap_grow(struct hmap *m)
{
	if (m->cap && (m->n + 1) * 4 < m->cap * 3)
		return true;
	return hmap_rehash(m, m->cap ? m->cap * 2 : 64);
}

bool hmap_reserve(struct hmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 64;

	while ((n + 1) * 4 >= cap * 3)
		cap *= 2;
	return cap == m->cap || hmap_rehash(m, cap);
}

static bool hmap_put(struct hmap *m, uint64_t h, const void *a, const void *b, bool str,
		     size_t val, bool *added)
{
	struct hmap_ent *e;

	if (!hmap_grow(m))
		return false;
	e = hmap_slot(m, h, a, b, str);
	*added = !ent_used(e);
	if (!*added)
		return true;
	*e = (struct hmap_ent){ .hash = h, .k1 = a, .k2 = b, .val = val };
	m->n++;
	return true;
}

static bool hmap_get(const struct hmap *m, uint64_t h, const void *a, const void *b,
		     bool str, size_t *val)
{
	const struct hmap_ent *e;

	if (!m->cap)
		return false;
	e = hmap_slot(m, h, a, b, str);
	if (!ent_used(e))
		return false;
	*val = e->val;
	return true;
}

bool hmap_put_str(struct hmap *m, const char *key, size_t val, bool *added)
{
	return hmap_put(m, hash_str(key), key, NULL, true, val, added);
}

bool hmap_get_str(const struct hmap *m, const char *key, size_t *val)
{
	return hmap_get(m, hash_str(key), key, NULL, true, val);
}

size_t *hmap_val_str(const struct hmap *m, const char *key)
{
	struct hmap_ent *e;

	if (!m->cap)
		return NULL;
	e = hmap_slot(m, hash_str(key), key, NULL, true);
	return ent_used(e) ? &e->val : NULL;
}

bool hmap_put_ptr(struct hmap *m, const void *a, const void *b, size_t val)
{
	bool added;

	return hmap_put(m, hash_ptr(a, b), a, b, false, val, &added);
}

bool hmap_get_ptr(const struct hmap *m, const void *a, const void *b, size_t *val)
{
	return hmap_get(m, hash_ptr(a, b), a, b, false, val);
}

void hmap_free(struct hmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
