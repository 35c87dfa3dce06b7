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
	memset(img, 0, sizeof(*img));
}
