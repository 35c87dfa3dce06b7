/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_MAPS_GROW_H
#define BPFMESH_AGENT_MAPS_GROW_H
/* The agent's side of growing pinned maps at a restart (kern/map_grow.h):
 * the copy before the applier reads the maps back, the carry after the
 * links switch, each logged. */
#include "agent.h"
#include "kern/map_grow.h"

/* Step 1; 0 or negative errno, after which the maps are as they were (the
 * agent stops: the earlier programs keep deciding). */
int agent_maps_grow_begin(struct agent *ag, struct map_grow *g);
/* Step 3, then g is freed. */
void agent_maps_grow_finish(struct map_grow *g);

#endif
