// SPDX-License-Identifier: Apache-2.0
/* Weighted Maglev table builder: see maglev.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "maglev.h"
#include "policy/check.h"

#define MAGLEV_EMPTY 0xffffffffu

/* 64-bit mix of an endpoint's address and port under a seed (splitmix64's
 * finaliser): offset and skip come from two seeds. */
static __u64 maglev_hash(const struct maglev_endpoint *ep, __u64 seed)
{
	__u64 x = seed ^ ((__u64)ep->addr << 16) ^ ep->port;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

struct maglev_cursor {
	__u32 next; /* the entry this endpoint prefers next */
	__u32 skip; /* step through its permutation, 1..size-1 */
	__u64 credit; /* weight earned and not yet spent on claims */
};

/* Claim the endpoint's next preferred free entry (one exists: the table is
 * not full when this is called). */
static void maglev_claim(struct maglev_cursor *c, __u32 size, __u32 *table, __u32 who)
{
	while (table[c->next] != MAGLEV_EMPTY)
		c->next = (__u32)(((__u64)c->next + c->skip) % size);
	table[c->next] = who;
	c->next = (__u32)(((__u64)c->next + c->skip) % size);
}

int maglev_build(const struct maglev_endpoint *eps, size_t n, __u32 size, __u32 *table)
{
	struct maglev_cursor *cur;
	__u64 filled = 0, max_w = 0;
	size_t i;

	if (n == 0 || size < n || size < 2 || !check_is_prime(size))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (eps[i].weight == 0)
			return -EINVAL;
		if (eps[i].weight > max_w)
			max_w = eps[i].weight;
	}
	cur = calloc(n, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		cur[i].next = (__u32)(maglev_hash(&eps[i], 0x6d61676c65763031ULL) % size);
		cur[i].skip = (__u32)(maglev_hash(&eps[i], 0x736b697070696e67ULL) % (size - 1)) + 1;
	}
	memset(table, 0xff, (size_t)size * sizeof(*table));
	/* Rounds: every endpoint earns its weight, and claims one entry for
	 * each max_w earned, so the heaviest claims one entry a round. */
	while (filled < size) {
		for (i = 0; i < n && filled < size; i++) {
			cur[i].credit += eps[i].weight;
			if (cur[i].credit < max_w)
				continue;
			cur[i].credit -= max_w;
			maglev_claim(&cur[i], size, table, (__u32)i);
			filled++;
		}
	}
	free(cur);
	return 0;
}
