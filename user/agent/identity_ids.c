// SPDX-License-Identifier: Apache-2.0
/*
 * Stable workload identity ids (include/bpfmesh/identity_abi.h, "Stable
 * ids"). The compiler numbers identities 1..n in (namespace, name) order, so
 * adding a workload would shift every id after it: routes by source would
 * be rewritten and the counters by source (kept per id) would pass to
 * another workload. Before an image is applied, the agent replaces those ids
 * with the ones its pinned ids map records:
 *  - a workload named by a record (live or retired) keeps that id;
 *  - a new one takes the lowest id no record holds;
 *  - a record no workload names any more is marked retired (now); after
 *    BPFMESH_ID_RETIRE_S it is deleted with the counters of its id, and only
 *    then can the id go to another workload. When every record is taken,
 *    the oldest retired ones go early; with none retired, the image is
 *    refused (-ENOSPC).
 * The map is pinned, so an agent restart reads the same assignments back.
 * This file decides (no kernel); identity.c reads and writes the maps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity_ids.h"

static int rec_by_name(const void *a, const void *b)
{
	return strcmp(((const struct id_record *)a)->rec.workload,
		      ((const struct id_record *)b)->rec.workload);
}

static int rec_by_id(const void *a, const void *b)
{
	const struct id_record *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Retired first, oldest first: the order in which ids are given up. */
static int rec_by_age(const void *a, const void *b)
{
	const struct id_record *x = a, *y = b;

	if (!x->rec.retired_at != !y->rec.retired_at)
		return x->rec.retired_at ? -1 : 1;
	return x->rec.retired_at < y->rec.retired_at ? -1 : x->rec.retired_at > y->rec.retired_at;
}

void identity_workload_name(char *buf, size_t len, const char *ns, const char *name)
{
	snprintf(buf, len, "%s/%s", ns, name);
}

/* Drop records retired for at least BPFMESH_ID_RETIRE_S, and more (oldest
 * retired first) until `need` new ones fit in max. */
static void plan_expire(struct id_plan *p, long long now, size_t need, size_t max)
{
	size_t i, keep = 0;

	qsort(p->recs, p->n, sizeof(*p->recs), rec_by_age);
	for (i = 0; i < p->n; i++) {
		const struct id_record *r = &p->recs[i];
		bool old = r->rec.retired_at &&
			   now - (long long)r->rec.retired_at >= BPFMESH_ID_RETIRE_S;
		bool room = r->rec.retired_at && p->n - p->n_freed + need > max;

		if (!r->named && (old || room))
			p->freed[p->n_freed++] = r->id;
		else
			p->recs[keep++] = *r;
	}
	p->n = keep;
}

/* The lowest id that neither a record nor an earlier call took; ids come out
 * in increasing order, so one cursor over the sorted ids does. */
static __u32 plan_next_free(const struct id_plan *p, __u32 *cand, size_t *j)
{
	for (;;) {
		while (*j < p->n && p->recs[*j].id < *cand)
			(*j)++;
		if (*j < p->n && p->recs[*j].id == *cand) {
			(*cand)++;
			continue;
		}
		return (*cand)++;
	}
}

int identity_ids_plan(struct id_plan *p, const struct bpfmesh_image *img, long long now,
		      size_t max)
{
	struct id_record key, *hit;
	size_t i, j = 0, n_new = 0;
	__u32 cand = 1;

	p->new_id = calloc(img->n_identities + 1, sizeof(*p->new_id));
	p->freed = calloc(p->n + 1, sizeof(*p->freed));
	if (!p->new_id || !p->freed)
		return -ENOMEM;
	qsort(p->recs, p->n, sizeof(*p->recs), rec_by_name);
	for (i = 0; i < img->n_identities; i++) {
		identity_workload_name(key.rec.workload, sizeof(key.rec.workload),
				       img->identities[i].ns, img->identities[i].name);
		hit = p->n ? bsearch(&key, p->recs, p->n, sizeof(key), rec_by_name) : NULL;
		if (hit) {
			hit->named = true;
			p->new_id[i] = hit->id;
		} else {
			n_new++;
		}
	}
	for (i = 0; i < p->n; i++) {
		if (!p->recs[i].named && !p->recs[i].rec.retired_at) {
			p->recs[i].rec.retired_at = (__u64)now; /* left the policy now */
			p->recs[i].dirty = true;
		}
	}
	plan_expire(p, now, n_new, max);
	if (p->n + n_new > max)
		return -ENOSPC;
	qsort(p->recs, p->n, sizeof(*p->recs), rec_by_id);
	for (i = 0; i < img->n_identities; i++) {
		if (p->new_id[i])
			continue;
		p->new_id[i] = plan_next_free(p, &cand, &j);
	}
	return 0;
}

void identity_ids_plan_free(struct id_plan *p)
{
	free(p->recs);
	free(p->new_id);
	free(p->freed);
	memset(p, 0, sizeof(*p));
}

static int svc_by_key(const void *a, const void *b)
{
	return memcmp(&((const struct image_service *)a)->key,
		      &((const struct image_service *)b)->key, sizeof(struct svc_key));
}

static int identity_by_id(const void *a, const void *b)
{
	const struct image_identity *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void identity_ids_remap(struct bpfmesh_image *img, const __u32 *new_id)
{
	size_t i;
	__u32 old;

	for (i = 0; i < img->n_services; i++) {
		old = img->services[i].key.identity;
		if (old && old <= img->n_identities)
			img->services[i].key.identity = new_id[old - 1];
	}
	for (i = 0; i < img->n_identities; i++)
		img->identities[i].id = new_id[i];
	/* The image keeps services sorted by key and identities by id. */
	qsort(img->services, img->n_services, sizeof(*img->services), svc_by_key);
	qsort(img->identities, img->n_identities, sizeof(*img->identities), identity_by_id);
}
