/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_COUNTERS_MIGRATE_H
#define BPFMESH_COUNTERS_MIGRATE_H
/*
 * Upgrade of the endpoint counters from the per-CPU map of the previous
 * layout (bpfmesh_health4_counters_v1) to the shared one
 * (bpfmesh_health4_counters_v2, bpf/lib/health_maps.h), so that the counts
 * continue: an agent upgrade over a running data plane resets no counter
 * (issue 12, lifecycle).
 *
 * An agent that finds the _v1 pin is migrating (loader.c, find_stale_pins):
 * the earlier programs keep running, counting into _v1, until the links are
 * switched after the first apply; from then on this agent's programs count
 * into _v2. So the counts are moved, not copied, and only once _v1 is
 * still:
 *  1. counters_migrate_begin(), once the maps are open: checks the pin's
 *     layout and counts what it holds (for the log); reads only.
 *  2. the first apply; the links switch (lb_loader_switch_links).
 *  3. counters_migrate_finish(): after a grace period (no program still
 *     counts into _v1), each slot with counts is moved by one run of
 *     bpf/counters_carry.bpf.c: its _v1 counts, summed over CPUs, zeroed
 *     there and added to _v2 with atomic adds, in one BPF program run.
 *  4. the _v1 pin goes with the other stale pins (lb_loader_remove_stale);
 *     the map goes with the last program and fd that hold it.
 * Crash-safe at every step, because each slot's move is one program run
 * (the agent cannot die inside it) and moving a moved slot adds zero: an
 * agent that dies anywhere leaves every count either in _v1 (the pin is
 * still there: the next agent switches the links if need be, waits, and
 * moves it) or in _v2, never in both. An agent that died before step 4
 * left the pin, so the next one migrates too; after step 4 nothing is
 * left to carry. The kernel test counters_upgrade_crash kills the agent
 * after each step (BPFMESH_TEST_MIGRATE_STOP, agent/counters_upgrade.h).
 *
 * An endpoint slot that the first apply gives to a new owner receives
 * what _v1 holds for its earlier owner (slots are reused only after a
 * grace period, health_abi.h, so only a slot freed long before the
 * upgrade).
 */
#include <stddef.h>
#include <bpfmesh/health_abi.h>

struct counters_migration {
	int v1_fd;             /* -1: no _v1 pin, nothing to carry */
	int v2_fd;             /* this agent's _v2 (not ours to close) */
	__u32 n_slots;         /* step 1: _v1 slots with counts */
	__u64 opened;          /* step 1: their connections opened */
	__u32 n_carried;       /* step 3: slots moved into _v2 */
	__u32 n_dropped;       /* step 3: slots with counts beyond _v2's size */
	__u64 carried_opened;  /* step 3: connections opened moved */
};

/* Step 1. 0 with m->v1_fd == -1 when there is no _v1 pin; 0 when it is
 * one of the _v1 layout; negative errno when the pin is not of the _v1
 * layout or cannot be read (nothing to carry, m holds nothing). v2_fd:
 * this agent's _v2 map. */
int counters_migrate_begin(struct counters_migration *m, const char *bpffs_dir, int v2_fd);

/* Step 3, after the links switched. 0 or negative errno. */
int counters_migrate_finish(struct counters_migration *m);

void counters_migrate_free(struct counters_migration *m);

#endif /* BPFMESH_COUNTERS_MIGRATE_H */
