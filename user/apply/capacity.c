// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include "capacity.h"

static size_t backend_entries(const struct bpfmesh_image *img)
{
	size_t i, n = 0;

	for (i = 0; i < img->n_sets; i++)
		n += img->sets[i].n_slots;
	return n;
}

/* One check: need entries of what, in a map of max; 0 or -ENOSPC. */
static int fits(size_t need, __u32 max, const char *what, const char *option, char *why,
		size_t len)
{
	if (!max || need <= max)
		return 0;
	snprintf(why, len, "the policy needs %zu %s, the kernel map holds %u: raise the agent's %s"
		 APPLY_GROW_HINT, need, what, max, option);
	return -ENOSPC;
}

int apply_check_capacity(const struct apply_limits *lim, const struct bpfmesh_image *img,
			 char *why, size_t len)
{
	int err = fits(img->n_services, lim->services, "services (VIP:port)", "--max-services",
		       why, len);

	/* The backends map is sized 4 entries per endpoint slot and the names
	 * map 2 per cluster slot (kern/loader.c): their options are those. */
	if (!err)
		err = fits(backend_entries(img), lim->backends, "backend set entries",
			   "--max-endpoints", why, len);
	if (!err)
		err = fits(img->n_names, lim->names, "names (hosts and clusters)", "--max-clusters",
			   why, len);
	return err;
}
