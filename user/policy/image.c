// SPDX-License-Identifier: Apache-2.0
/* The compiled image: release (see image.h). */
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
