/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CAPACITY_H
#define BPFMESH_CAPACITY_H
/*
 * Does a compiled image fit the kernel maps? Checked before anything is
 * planned or written, so that a policy too large for the node is refused
 * whole, naming the limit and the agent option that raises it, instead of
 * failing at the first map update that finds the map full. (Endpoint and
 * cluster slots are counted by the plan, also before any write:
 * plan_health.c.)
 */
#include <stddef.h>
#include <linux/types.h>
#include "policy/image.h"

/* What a capacity error adds after the option to raise: a restart with it
 * grows the pinned maps, state kept (kern/map_grow.h). */
#define APPLY_GROW_HINT " and restart the agent (the pinned maps grow, their state kept)"

/* max_entries of the maps an image fills; 0: not checked. */
struct apply_limits {
	__u32 services; /* services map: one entry per VIP:port */
	__u32 backends; /* backends map: one entry per endpoint of each set */
	__u32 names;    /* names map: one entry per host and per cluster */
};

/* 0, or -ENOSPC with why (len bytes) naming the limit and its option. */
int apply_check_capacity(const struct apply_limits *lim, const struct bpfmesh_image *img,
			 char *why, size_t len);

#endif /* BPFMESH_CAPACITY_H */
