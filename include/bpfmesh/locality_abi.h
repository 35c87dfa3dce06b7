/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LOCALITY_ABI_H
#define BPFMESH_LOCALITY_ABI_H
/*
 * Locality-aware routing (issue 11): what the agent computed for each
 * endpoint on this node, for the CLI (`bpfmesh maps endpoints`, `bpfmesh
 * stats`). The kernel's pick does not read it: the priorities and locality
 * weights are already in the backend sets' alias columns (the agent writes
 * each endpoint's effective weight, user/apply/plan_locality.c), so the
 * connect path stays O(1) and unchanged.
 *
 * bpfmesh_loc4_endpoints_v1: endpoint slot (health_abi.h) -> ep_locality.
 * A hash map without preallocation: only endpoints with a locality or a
 * priority have an entry, so memory follows the policy. Agent-written after
 * each apply; an absent entry means no locality, priority 0.
 */
#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#define BPFMESH_LOCALITY_LEN 56

/* One endpoint's locality and priority on this node. */
struct ep_locality {
	char locality[BPFMESH_LOCALITY_LEN]; /* "region/zone/subzone" (cut to fit), "" none */
	__u32 priority;                      /* compacted level, 0 first */
	__u32 pad;
};

_Static_assert(sizeof(struct ep_locality) == 64, "ep_locality layout");

#define BPFMESH_MAP_EP_LOCALITY "bpfmesh_loc4_endpoints_v1"

#endif /* BPFMESH_LOCALITY_ABI_H */
