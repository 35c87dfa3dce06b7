// SPDX-License-Identifier: Apache-2.0
#include <signal.h>
#include <stdlib.h>
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
	agent_log("endpoint counters: %u slots with counts in %s (%llu connections opened), "
		  "moved into %s once the links switch", cm->n_slots, BPFMESH_MAP_EP_COUNTERS_V1,
		  (unsigned long long)cm->opened, BPFMESH_MAP_EP_COUNTERS);
}

void agent_counters_upgrade_finish(struct counters_migration *cm)
{
	int err = counters_migrate_finish(cm);

	if (err)
		agent_log("Failed to carry the endpoint counts of %s: %d (%s)",
			  BPFMESH_MAP_EP_COUNTERS_V1, err, strerror(-err));
	else if (cm->v1_fd >= 0)
		agent_log("endpoint counters: %u slots moved from %s into %s (%llu connections "
			  "opened)", cm->n_carried, BPFMESH_MAP_EP_COUNTERS_V1,
			  BPFMESH_MAP_EP_COUNTERS, (unsigned long long)cm->carried_opened);
	if (!err && cm->n_dropped)
		agent_log("endpoint counters: %u slots with counts are beyond --max-endpoints: "
			  "not carried", cm->n_dropped);
	counters_migrate_free(cm);
}

void agent_migrate_test_stop(const char *step)
{
	const char *stop = getenv("BPFMESH_TEST_MIGRATE_STOP");

	if (!stop || strcmp(stop, step))
		return;
	agent_log("test hook: killed after the migration step \"%s\"", step);
	raise(SIGKILL);
}
