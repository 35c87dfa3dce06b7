// SPDX-License-Identifier: Apache-2.0
/*
 * Pages for the next changes' copies of the image (issue 16).
 *
 * A change splices a copy of the image in force (compile_incr.c) and then
 * frees the old one. After a full compile both the first and the second
 * change copy into fresh pages: the image was mapped apart (made before
 * glibc raised its mmap threshold) and goes back to the system when freed.
 * ~5,500 faults a copy at 10,000 services: with files the first two changes
 * took 11.9 and 8.7 ms, the later ones ~5; after the Kubernetes start the
 * second change compiled in 3.0-3.5 ms and planned in 4.1 instead of 1.1 and
 * 0.8. Faulting in two copies' worth and giving it back to the heap, not
 * the system, lets those changes find their pages ready: what a series of
 * changes holds anyway.
 *
 * Done in one go, it delays whatever comes first: after the Kubernetes
 * start the first change (9.5, 12.1 ms); after the files' start, where it
 * ran before the loop (16 ms), the host index the first change needs, so
 * a weight change 30 ms after the start chose without it (9.7-13.0 ms
 * against 4.9-6.3). So after every full compile it runs at idle, after the
 * index, in slices that stop for an event (idle.c), each slice allocating
 * the same blocks again (glibc hands the same heap chunks back) and
 * touching the next PREWARM_SLICE bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"

#define PREWARM_COPIES 2
#define PREWARM_ARRAYS 3

/* Touched between two looks at the agent's sources: 256 pages, 0.1-0.3 ms. */
#define PREWARM_SLICE (1u << 20)

static void copy_sizes(const struct bpfmesh_image *img, size_t sizes[PREWARM_ARRAYS])
{
	sizes[0] = (img->n_services + 1) * sizeof(*img->services);
	sizes[1] = (img->n_sets + 1) * sizeof(*img->sets);
	sizes[2] = (img->n_names + 1) * sizeof(*img->names);
}

/* Touch bytes [*done, *done + budget) of the blocks two copies take, in
 * the order they are allocated; true while some are left. */
static bool prewarm_some(const struct bpfmesh_image *img, size_t *done, size_t budget)
{
	size_t sizes[PREWARM_ARRAYS], at = 0, end = *done + budget, i;
	void *p[PREWARM_COPIES * PREWARM_ARRAYS];

	if (end < *done)
		end = SIZE_MAX;
	copy_sizes(img, sizes);
	for (i = 0; i < PREWARM_COPIES * PREWARM_ARRAYS; i++) {
		size_t n = sizes[i % PREWARM_ARRAYS], from, to;

		p[i] = malloc(n);
		from = *done > at ? *done - at : 0;
		to = end - at < n ? end - at : n;
		if (p[i] && end > at && from < to)
			memset((char *)p[i] + from, 0, to - from);
		at += n;
	}
	for (i = 0; i < PREWARM_COPIES * PREWARM_ARRAYS; i++)
		free(p[i]);
	*done = end < at ? end : at;
	return *done < at;
}

void agent_prewarm_later(struct agent *ag)
{
	ag->prewarm_pending = true;
	ag->prewarm_done = 0;
}

bool agent_prewarm_slice(struct agent *ag)
{
	if (ag->prewarm_pending)
		ag->prewarm_pending = prewarm_some(&ag->store.base, &ag->prewarm_done,
						   PREWARM_SLICE);
	return ag->prewarm_pending;
}
