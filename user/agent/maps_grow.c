// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>
#include "maps_grow.h"

int agent_maps_grow_begin(struct agent *ag, struct map_grow *g)
{
	char names[512] = "";
	size_t used = 0;
	int err = map_grow_begin(g, &ag->loader), i, undo;

	for (i = 0; i < ag->loader.n_grown && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
					 ag->loader.grown[i]);
	if (err) {
		undo = map_grow_undo(&ag->loader);
		agent_log("Failed to copy the maps to grow (%s): %d (%s); %s", names, err,
			  strerror(-err), undo ? "the earlier pins could not all be put back"
					       : "the earlier maps stay in force, unchanged");
		map_grow_free(g);
		return err;
	}
	agent_log("maps grown to the size options: %s; %zu entries copied, the links "
		  "switch once the policy is applied", names, g->copied);
	return 0;
}

void agent_maps_grow_finish(struct map_grow *g)
{
	int err = map_grow_finish(g);

	if (err)
		agent_log("Failed to carry the last counts of the grown maps: %d (%s)", err,
			  strerror(-err));
	else if (g->n)
		agent_log("maps grown: %zu entries the earlier programs changed meanwhile "
			  "carried over", g->carried);
	map_grow_free(g);
}
