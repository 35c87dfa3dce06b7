// SPDX-License-Identifier: Apache-2.0
/* The compiled image: release and name ids (see image.h). */
#include <stdlib.h>
#include <string.h>

#include "image.h"

void bpfmesh_image_free(struct bpfmesh_image *img)
{
	size_t i;

	if (!img)
		return;
	for (i = 0; i < img->n_sets; i++)
		free(img->sets ? img->sets[i].slots : NULL);
	free(img->sets);
	free(img->services);
	free(img->names);
	free(img->strtab);
	memset(img, 0, sizeof(*img));
}

/* FNV-1a, 32 bits. 0 is reserved for "no name", so it maps to 1. */
__u32 bpfmesh_name_id(const char *name)
{
	__u32 h = 2166136261u;
	const unsigned char *p = (const unsigned char *)name;

	for (; p && *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h ? h : 1;
}
