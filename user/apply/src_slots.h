/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_SRC_SLOTS_H
#define BPFMESH_APPLY_SRC_SLOTS_H
/*
 * The counters by source (include/bpfmesh/identity_abi.h struct src_key)
 * of endpoint slots given to a new owner. A plan zeroes such a slot's own
 * counters (plan_health.c); the (slot, identity) entries are a hash whose
 * keys the plan does not know, so they are found by a walk and deleted
 * here, before the plan runs: the new endpoint starts with no source_*
 * series of the old one.
 */
#include "kern/map_ops.h"
#include "plan.h"

/* Delete the entries of every slot p's counters step zeroes, from the map
 * fds[APPLY_MAP_SRC_COUNTERS] (nothing when that is not set, or no slot
 * is new). 0 or a negative errno. */
int src_slots_forget_new(const struct map_ops *ops, const int fds[__APPLY_MAP_MAX],
			 const struct apply_plan *p);

#endif /* BPFMESH_APPLY_SRC_SLOTS_H */
