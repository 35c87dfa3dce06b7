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
/* After the links switched to this agent's programs, before the stale pins
 * go; frees cm. */
void agent_counters_upgrade_finish(struct counters_migration *cm);

/* Test hook: with BPFMESH_TEST_MIGRATE_STOP=STEP in the environment, the
 * agent kills itself (SIGKILL: no cleanup, as a crash) right after the
 * migration step STEP: "opened" (maps open, _v1 counted), "applied" (the
 * first apply), "switched" (the links), "carried" (the counters moved),
 * "unlinked" (the stale pins removed). Tests only (counters_upgrade.c in
 * tests/kern/prog_tests). */
void agent_migrate_test_stop(const char *step);

#endif /* BPFMESH_AGENT_COUNTERS_UPGRADE_H */
