/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TEST_IMAGE_BYTES_H
#define BPFMESH_TEST_IMAGE_BYTES_H
/*
 * An image as one run of bytes: every key, value, set, name and string it
 * holds, pointers followed, in order. Two images with the same bytes fill
 * the maps alike and tell the agent (metrics, locality) the same things.
 * Only image_set.borrowed, who frees a set, is left out.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/image.h"

static inline void ib_raw(FILE *f, const void *p, size_t n)
{
	if (n)
		fwrite(p, 1, n, f);
}

static inline void ib_str(FILE *f, const char *s)
{
	if (s)
		fprintf(f, "S%zu:%s", strlen(s), s);
	else
		fputs("N", f);
}

static inline void ib_loc(FILE *f, const struct image_locality *l)
{
	size_t i, j;

	fprintf(f, "L%d/%zu/%zu/%zu/%u", (int)l->s.mode, l->s.n_failover, l->s.n_fp,
		l->s.n_distribute, l->s.min_health_percent);
	for (i = 0; i < l->s.n_failover; i++) {
		ib_str(f, l->failover[i].from);
		ib_str(f, l->failover[i].to);
	}
	for (i = 0; i < l->s.n_fp; i++) {
		ib_str(f, l->fp_keys[i]);
		ib_str(f, l->fp_override ? l->fp_override[i] : NULL);
	}
	for (i = 0; i < l->s.n_distribute; i++) {
		ib_str(f, l->distribute[i].from);
		for (j = 0; j < l->distribute[i].n_to; j++) {
			ib_str(f, l->distribute[i].to[j].locality);
			ib_raw(f, &l->distribute[i].to[j].weight, sizeof(__u32));
		}
	}
}

static inline void ib_set(FILE *f, const struct image_set *s, size_t n_fp)
{
	__u32 i;
	size_t j;

	ib_raw(f, &s->n_slots, sizeof(s->n_slots));
	ib_raw(f, &s->total_weight, sizeof(s->total_weight));
	ib_raw(f, &s->family, sizeof(s->family));
	ib_raw(f, s->slots, s->n_slots * sizeof(*s->slots));
	ib_raw(f, s->cluster, sizeof(s->cluster));
	ib_raw(f, &s->cfg, sizeof(s->cfg));
	ib_raw(f, &s->lb, sizeof(s->lb));
	ib_raw(f, &s->table_kind, sizeof(s->table_kind));
	ib_raw(f, &s->table_len, sizeof(s->table_len));
	ib_raw(f, &s->pool, sizeof(s->pool));
	ib_str(f, s->host);
	ib_str(f, s->ns);
	ib_str(f, s->subset);
	ib_raw(f, &s->port, sizeof(s->port));
	for (i = 0; s->meta && i < s->n_slots; i++) {
		const struct image_ep_meta *m = &s->meta[i];

		ib_str(f, m->workload);
		ib_str(f, m->workload_ns);
		ib_str(f, m->app);
		ib_str(f, m->version);
		ib_str(f, m->canonical_service);
		ib_str(f, m->canonical_revision);
		ib_str(f, m->locality);
		for (j = 0; m->fp_values && j < n_fp; j++)
			ib_str(f, m->fp_values[j]);
	}
	ib_loc(f, &s->loc);
}

/* The bytes of img (malloc'd, *len of them). */
static inline char *image_bytes(const struct bpfmesh_image *img, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	size_t i;

	if (!f)
		return NULL;
	fprintf(f, "%zu services\n", img->n_services);
	for (i = 0; i < img->n_services; i++) {
		ib_raw(f, &img->services[i].key, sizeof(img->services[i].key));
		ib_raw(f, &img->services[i].val, sizeof(img->services[i].val));
		ib_raw(f, &img->services[i].src_line, sizeof(img->services[i].src_line));
		ib_str(f, img->services[i].src_file);
	}
	fprintf(f, "%zu sets\n", img->n_sets);
	for (i = 0; i < img->n_sets; i++)
		ib_set(f, &img->sets[i], img->sets[i].loc.s.n_fp);
	fprintf(f, "%zu names\n", img->n_names);
	ib_raw(f, img->names, img->n_names * sizeof(*img->names));
	fprintf(f, "%zu identities\n", img->n_identities);
	for (i = 0; i < img->n_identities; i++) {
		ib_raw(f, &img->identities[i].id, sizeof(img->identities[i].id));
		ib_str(f, img->identities[i].cgroup);
		ib_str(f, img->identities[i].name);
		ib_str(f, img->identities[i].ns);
	}
	fclose(f);
	return buf;
}

#endif /* BPFMESH_TEST_IMAGE_BYTES_H */
