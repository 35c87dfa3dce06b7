/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_COUNTERS_UPGRADE_H
#define BPFMESH_AGENT_COUNTERS_UPGRADE_H
/* The agent's side of the endpoint counters upgrade (_v1 per-CPU -> _v2
 * shared; kern/counters_migrate.h): when to carry, what to log. A failure
 * is logged and does not stop the agent: the data plane comes first, and
 * the counters start again from zero, as they would have without this. */
#include "agent.h"
#include "kern/counters_migrate.h"

/* After the loader opened the maps, before the first apply. */
void agent_counters_upgrade_begin(struct agent *ag, struct counters_migration *cm);
/* After the links switched to this agent's programs; frees cm. */
void agent_counters_upgrade_finish(struct counters_migration *cm);

#endif /* BPFMESH_AGENT_COUNTERS_UPGRADE_H */
