// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include "counters_upgrade.h"

void agent_counters_upgrade_begin(struct agent *ag, struct counters_migration *cm)
{
	int err;

	err = counters_migrate_begin(cm, ag->bpffs,
				     lb_loader_map_fd(&ag->loader, BPFMESH_MAP_EP_COUNTERS));
	if (err) {
		agent_log("Failed to carry the endpoint counters of %s: %d (%s); they start "
			  "from zero", BPFMESH_MAP_EP_COUNTERS_V1, err, strerror(-err));
		return;
	}
	if (cm->v1_fd < 0)
		return;
	agent_log("endpoint counters: %u slots with counts carried from %s into %s "
		  "(%llu connections opened)", cm->n_carried, BPFMESH_MAP_EP_COUNTERS_V1,
		  BPFMESH_MAP_EP_COUNTERS, (unsigned long long)cm->carried_opened);
	if (cm->n_dropped)
		agent_log("endpoint counters: %u slots with counts are beyond --max-endpoints "
			  "(%u): not carried", cm->n_dropped, cm->n_slots);
}

void agent_counters_upgrade_finish(struct counters_migration *cm)
{
	int err = counters_migrate_finish(cm);

	if (err)
		agent_log("Failed to carry the last endpoint counts of %s: %d (%s)",
			  BPFMESH_MAP_EP_COUNTERS_V1, err, strerror(-err));
	else if (cm->v1_fd >= 0)
		agent_log("endpoint counters: %s done, %llu connections opened meanwhile added",
			  BPFMESH_MAP_EP_COUNTERS_V1, (unsigned long long)cm->delta_opened);
	counters_migrate_free(cm);
}
