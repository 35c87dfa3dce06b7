// SPDX-License-Identifier: Apache-2.0
/* The compiled image: release (see image.h). */
#include <stdlib.h>
#include <string.h>

#include "compile_locality.h"
#include "image.h"

static void image_set_free(struct image_set *set)
{
	size_t j;
	__u32 i;

	for (i = 0; set->meta && i < set->n_slots; i++) {
		free(set->meta[i].workload);
		free(set->meta[i].workload_ns);
		free(set->meta[i].app);
		free(set->meta[i].version);
		free(set->meta[i].canonical_service);
		free(set->meta[i].canonical_revision);
		free(set->meta[i].locality);
		for (j = 0; set->meta[i].fp_values && j < set->loc.s.n_fp; j++)
			free(set->meta[i].fp_values[j]);
		free(set->meta[i].fp_values);
	}
	image_locality_free(&set->loc);
	free(set->meta);
	free(set->slots);
	free(set->host);
	free(set->ns);
	free(set->subset);
}

void bpfmesh_image_free(struct bpfmesh_image *img)
{
	size_t i;

	if (!img)
		return;
	for (i = 0; img->sets && i < img->n_sets; i++)
		if (!img->sets[i].borrowed)
			image_set_free(&img->sets[i]);
	free(img->sets);
	free(img->services);
	free(img->names);
	free(img->strtab);
	for (i = 0; img->identities && i < img->n_identities; i++) {
		free(img->identities[i].cgroup);
		free(img->identities[i].name);
		free(img->identities[i].ns);
		free(img->identities[i].workload);
		free(img->identities[i].app);
		free(img->identities[i].version);
		free(img->identities[i].canonical_service);
		free(img->identities[i].canonical_revision);
	}
	free(img->identities);
	image_delta_free(img->delta);
	memset(img, 0, sizeof(*img));
}

void image_delta_free(struct image_delta *d)
{
	if (!d)
		return;
	free(d->changed);
	free(d->base_set);
	free(d->base_cluster);
	free(d);
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool loc_same(const struct image_locality *a, const struct image_locality *b)
{
	const struct loc_setting *x = &a->s, *y = &b->s;
	size_t i, j;

	if (x->mode != y->mode || x->n_failover != y->n_failover || x->n_fp != y->n_fp ||
	    x->n_distribute != y->n_distribute || x->min_health_percent != y->min_health_percent)
		return false;
	for (i = 0; i < x->n_failover; i++)
		if (!str_same(a->failover[i].from, b->failover[i].from) ||
		    !str_same(a->failover[i].to, b->failover[i].to))
			return false;
	for (i = 0; i < x->n_fp; i++)
		if (!str_same(a->fp_keys[i], b->fp_keys[i]) ||
		    !str_same(a->fp_override ? a->fp_override[i] : NULL,
			      b->fp_override ? b->fp_override[i] : NULL))
			return false;
	for (i = 0; i < x->n_distribute; i++) {
		const struct loc_distribute *p = &a->distribute[i], *q = &b->distribute[i];

		if (!str_same(p->from, q->from) || p->n_to != q->n_to)
			return false;
		for (j = 0; j < p->n_to; j++)
			if (!str_same(p->to[j].locality, q->to[j].locality) ||
			    p->to[j].weight != q->to[j].weight)
				return false;
	}
	return true;
}

static bool meta_same(const struct image_ep_meta *a, const struct image_ep_meta *b, size_t n_fp)
{
	size_t j;

	if (!str_same(a->workload, b->workload) || !str_same(a->workload_ns, b->workload_ns) ||
	    !str_same(a->app, b->app) || !str_same(a->version, b->version) ||
	    !str_same(a->canonical_service, b->canonical_service) ||
	    !str_same(a->canonical_revision, b->canonical_revision) ||
	    !str_same(a->locality, b->locality) || !a->fp_values != !b->fp_values)
		return false;
	for (j = 0; a->fp_values && j < n_fp; j++)
		if (!str_same(a->fp_values[j], b->fp_values[j]))
			return false;
	return true;
}

bool image_set_same(const struct image_set *a, const struct image_set *b)
{
	struct cluster_cfg x = a->cfg, y = b->cfg;
	__u32 j;

	x.name_id = y.name_id = 0;
	if (a->n_slots != b->n_slots || a->total_weight != b->total_weight ||
	    a->family != b->family || a->table_kind != b->table_kind ||
	    a->table_len != b->table_len || a->port != b->port ||
	    strncmp(a->cluster, b->cluster, sizeof(a->cluster)) ||
	    memcmp(&x, &y, sizeof(x)) || memcmp(&a->lb, &b->lb, sizeof(a->lb)) ||
	    memcmp(&a->pool, &b->pool, sizeof(a->pool)) ||
	    !str_same(a->host, b->host) || !str_same(a->ns, b->ns) ||
	    !str_same(a->subset, b->subset) || !loc_same(&a->loc, &b->loc) ||
	    !a->meta != !b->meta)
		return false;
	if (a->n_slots && memcmp(a->slots, b->slots, (size_t)a->n_slots * sizeof(*a->slots)))
		return false;
	for (j = 0; a->meta && j < a->n_slots; j++)
		if (!meta_same(&a->meta[j], &b->meta[j], a->loc.s.n_fp))
			return false;
	return true;
}
