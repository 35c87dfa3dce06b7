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
 * switched after the first apply. So:
 *  1. counters_migrate_begin(), once the maps are open and before the first
 *     apply: every slot's _v1 counts, summed over CPUs, are written into
 *     _v2. No attached program counts into _v2 yet, so plain stores are
 *     exact (and an interrupted earlier migration is simply redone). The
 *     first apply then zeroes the slots it gives to new owners, as always;
 *     metrics and `bpfmesh stats` read _v2 from here on.
 *  2. counters_migrate_finish(), once the links run this agent's programs:
 *     after a grace period (no program still counts into _v1) what _v1
 *     counted since step 1 is added to _v2 with atomic adds, the new
 *     programs counting there meanwhile.
 * The _v1 pin goes with the other stale pins (lb_loader_finish_migration);
 * the map goes with the last program and fd that hold it.
 */
#include <stddef.h>
#include <bpfmesh/health_abi.h>

struct counters_migration {
	int v1_fd;                   /* -1: no _v1 pin, nothing to carry */
	struct ep_counters_elem *v2; /* _v2, mapped */
	size_t v2_len;
	__u32 n_slots;               /* slots carried: those both maps have */
	__u32 n_dropped;             /* _v1 slots with counts beyond _v2's size */
	__u32 n_carried;             /* slots with counts at step 1 */
	__u32 *base_slot;            /* those slots, ascending, */
	struct ep_counters *base;    /* and their counts then */
	__u64 carried_opened;        /* step 1: connections opened, all slots */
	__u64 delta_opened;          /* step 2: connections opened meanwhile */
	int ncpu;
};

/* Step 1. 0 with m->v1_fd == -1 when there is no _v1 pin; 0 when carried;
 * negative errno when the pin is not of the _v1 layout or cannot be read
 * (nothing carried, m holds nothing). v2_fd: this agent's _v2 map. */
int counters_migrate_begin(struct counters_migration *m, const char *bpffs_dir, int v2_fd);

/* Step 2, after the links switched. 0 or negative errno. */
int counters_migrate_finish(struct counters_migration *m);

void counters_migrate_free(struct counters_migration *m);

#endif /* BPFMESH_COUNTERS_MIGRATE_H */
