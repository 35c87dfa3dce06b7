// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>
#include "policy/image.h"
#include "state.h"

void apply_state_free(struct apply_state *s)
{
	size_t i;

	free(s->svcs);
	for (i = 0; i < s->n_sets; i++)
		free(s->sets[i].slots);
	free(s->sets);
	free(s->names);
	free(s->retired);
	free(s->retired_routes);
	free(s->retired_indexes);
	free(s->lb_policies);
	free(s->placement);
	slots_free(&s->slots);
	memset(s, 0, sizeof(*s));
}

/* backend_val is 32 bytes: hashing by words sees every byte. */
__u64 set_hash(const struct backend_val *slots, __u32 n, __u32 total)
{
	__u64 h = 0x9e3779b97f4a7c15ULL ^ n ^ ((__u64)total << 32), w;
	const unsigned char *p = (const unsigned char *)slots;
	size_t i, bytes = (size_t)n * sizeof(*slots);

	for (i = 0; i + sizeof(w) <= bytes; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

int cmp_svc_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct svc_key));
}

int cmp_set_hash(const void *a, const void *b)
{
	const struct live_set *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

int cmp_live_name(const void *a, const void *b)
{
	return strncmp(((const struct live_name *)a)->name, ((const struct live_name *)b)->name,
		       BPFMESH_NAME_LEN);
}

int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

struct live_set *find_set(const struct live_set *sets, size_t n, const struct image_set *s,
			  __u64 hash)
{
	size_t lo = 0, hi = n;

	while (lo < hi) { /* first index with sets[i].hash >= hash */
		size_t mid = (lo + hi) / 2;

		if (sets[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && sets[lo].hash == hash; lo++) {
		if (sets[lo].n_slots == s->n_slots && sets[lo].total_weight == s->total_weight &&
		    sets[lo].table_kind == s->table_kind && sets[lo].table_len == s->table_len &&
		    !memcmp(sets[lo].slots, s->slots, (size_t)s->n_slots * sizeof(*s->slots)))
			return (struct live_set *)&sets[lo];
	}
	return NULL;
}

struct live_service *find_svc(const struct live_service *svcs, size_t n,
			      const struct svc_key *key)
{
	return n ? bsearch(key, svcs, n, sizeof(*svcs), cmp_svc_key) : NULL;
}

bool has_u32(const __u32 *sorted, size_t n, __u32 v)
{
	return n && bsearch(&v, sorted, n, sizeof(v), cmp_u32);
}
