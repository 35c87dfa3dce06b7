// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "apply.h"
#include "slots.h"

int slots_init(struct apply_slots *s, __u32 max_endpoints, __u32 max_clusters, int ncpu)
{
	memset(s, 0, sizeof(*s));
	s->max_endpoints = max_endpoints;
	s->max_clusters = max_clusters;
	s->ncpu = ncpu;
	s->eps = calloc(max_endpoints + 1, sizeof(*s->eps));
	s->cls = calloc(max_clusters + 1, sizeof(*s->cls));
	if (!s->eps || !s->cls) {
		slots_free(s);
		return -ENOMEM;
	}
	return 0;
}

int slots_copy(struct apply_slots *dst, const struct apply_slots *src)
{
	int err = slots_init(dst, src->max_endpoints, src->max_clusters, src->ncpu);

	dst->hist_clusters = src->hist_clusters;

	/* No owner yet (known_zero): the zeroed tables are a copy already,
	 * and the 10+ MB of them stay untouched until a slot is given out. */
	if (err || !src->eps || !src->cls || src->known_zero)
		return err;
	memcpy(dst->eps, src->eps, (src->max_endpoints + 1) * sizeof(*src->eps));
	memcpy(dst->cls, src->cls, (src->max_clusters + 1) * sizeof(*src->cls));
	return 0;
}

void slots_free(struct apply_slots *s)
{
	free(s->eps);
	free(s->cls);
	memset(s, 0, sizeof(*s));
}

bool slots_ep_reusable(const struct ep_owner *o, __u64 now_ms, bool ejected)
{
	if (ejected)
		return false; /* the sweep returns it first: the cluster's count */
	if (o->cluster_slot == 0)
		return true;
	return !o->live && now_ms - o->retired_ms >= APPLY_GRACE_MS;
}

bool slots_cl_reusable(const struct cl_owner *o, __u64 now_ms)
{
	if (o->cfg.name_id == 0)
		return true;
	return !o->live && now_ms - o->retired_ms >= APPLY_GRACE_MS;
}

static int cmp_slot_key(const void *a, const void *b)
{
	const struct slot_key *x = a, *y = b;
	int c;

	if (x->name || y->name)
		return strcmp(x->name ? x->name : "", y->name ? y->name : "");
	if (x->cluster_slot != y->cluster_slot)
		return x->cluster_slot < y->cluster_slot ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (c)
		return c;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Endpoint owners grouped by cluster slot (a counting sort, O(slots)):
 * a cluster's endpoints are few, so a lookup scans its group. Sorting
 * every owner of 100,000 endpoints cost each plan ~15 ms (issue 12). */
int slot_index_endpoints(const struct apply_slots *s, struct slot_index *ix)
{
	__u32 i, c, n_first = s->max_clusters + 1;

	for (i = 1; i < s->max_endpoints; i++)
		if (s->eps[i].cluster_slot >= n_first)
			n_first = s->eps[i].cluster_slot + 1; /* adopted from a larger map */
	memset(ix, 0, sizeof(*ix));
	ix->keys = calloc(s->max_endpoints + 1, sizeof(*ix->keys));
	ix->first = calloc((size_t)n_first + 1, sizeof(*ix->first));
	if (!ix->keys || !ix->first) {
		slot_index_free(ix);
		return -ENOMEM;
	}
	ix->n_first = n_first + 1;
	for (i = 1; i < s->max_endpoints; i++)
		if (s->eps[i].cluster_slot)
			ix->first[s->eps[i].cluster_slot + 1]++;
	for (c = 1; c <= n_first; c++)
		ix->first[c] += ix->first[c - 1];
	for (i = 1; i < s->max_endpoints; i++) {
		const struct ep_owner *o = &s->eps[i];
		struct slot_key *k;

		if (!o->cluster_slot)
			continue;
		/* first[c] is the next free place of group c until the fill is done. */
		k = &ix->keys[ix->first[o->cluster_slot]++];
		*k = (struct slot_key){ .cluster_slot = o->cluster_slot, .port = o->port,
					.family = o->family, .slot = i };
		memcpy(k->addr, o->addr, sizeof(o->addr));
		ix->n++;
	}
	/* Each group's end is the next one's start: shift back. */
	memmove(&ix->first[1], &ix->first[0], (size_t)n_first * sizeof(*ix->first));
	ix->first[0] = 0;
	return 0;
}

int slot_index_clusters(const struct apply_slots *s, struct slot_index *ix)
{
	__u32 i;

	memset(ix, 0, sizeof(*ix));
	ix->keys = calloc(s->max_clusters + 1, sizeof(*ix->keys));
	if (!ix->keys)
		return -ENOMEM;
	for (i = 1; i < s->max_clusters; i++)
		if (s->cls[i].cfg.name_id && s->cls[i].name[0])
			ix->keys[ix->n++] = (struct slot_key){ .name = s->cls[i].name, .slot = i };
	qsort(ix->keys, ix->n, sizeof(*ix->keys), cmp_slot_key);
	return 0;
}

__u32 slot_index_find(const struct slot_index *ix, const struct slot_key *key)
{
	const struct slot_key *k;
	__u32 i;

	if (!ix->n)
		return 0;
	if (ix->first && !key->name) {
		if (key->cluster_slot >= ix->n_first - 1)
			return 0;
		for (i = ix->first[key->cluster_slot]; i < ix->first[key->cluster_slot + 1]; i++)
			if (!cmp_slot_key(&ix->keys[i], key))
				return ix->keys[i].slot;
		return 0;
	}
	k = bsearch(key, ix->keys, ix->n, sizeof(*key), cmp_slot_key);
	return k ? k->slot : 0;
}

void slot_index_free(struct slot_index *ix)
{
	free(ix->keys);
	free(ix->first);
	memset(ix, 0, sizeof(*ix));
}
