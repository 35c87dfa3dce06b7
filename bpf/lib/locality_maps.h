/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LOCALITY_MAPS_H
#define BPFMESH_LOCALITY_MAPS_H
/* Each endpoint's locality and priority on this node, agent-written for the
 * CLI; no program reads it (include/bpfmesh/locality_abi.h). Declared here
 * so that the loader creates and pins it with the other maps. */
#include "lib/common.h"
#include <bpfmesh/health_abi.h>
#include <bpfmesh/locality_abi.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_EP_SLOTS);
	__type(key, __u32);
	__type(value, struct ep_locality);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_loc4_endpoints_v1 SEC(".maps");

#endif /* BPFMESH_LOCALITY_MAPS_H */
