/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_HMAP_H
#define BPFMESH_POLICY_HMAP_H
/*
 * A small open-addressing hash map for the compiler's lookups, so that a
 * compile stays linear in the size of the policy (10,000 services compile
 * in well under a second). Keys are either strings or pointer pairs (one
 * kind per map); the map does not own them. Values are size_t.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 32 bytes: a used entry's hash has its top bit set (HMAP_USED), so a free
 * one is all zero and needs no flag of its own (a compile at 10,000
 * services holds tens of MB of entries). */
struct hmap_ent {
	uint64_t hash;
	const void *k1, *k2; /* string: k1 only; pair: both */
	size_t val;
};

struct hmap {
	struct hmap_ent *v;
	size_t cap, n;
};

/* Insert if absent. Returns false on allocation failure; *added tells. */
bool hmap_put_str(struct hmap *m, const char *key, size_t val, bool *added);
bool hmap_get_str(const struct hmap *m, const char *key, size_t *val);
/* Where key's value is kept, to change it in place; NULL: absent. */
size_t *hmap_val_str(const struct hmap *m, const char *key);
bool hmap_put_ptr(struct hmap *m, const void *a, const void *b, size_t val);
bool hmap_get_ptr(const struct hmap *m, const void *a, const void *b, size_t *val);
/* Room for n entries without growing (growing rehashes every entry). */
bool hmap_reserve(struct hmap *m, size_t n);
void hmap_free(struct hmap *m);

#endif /* BPFMESH_POLICY_HMAP_H */
