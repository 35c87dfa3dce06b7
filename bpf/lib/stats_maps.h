/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_MAPS_H
#define BPFMESH_STATS_MAPS_H
/* Node-wide counters of connect decisions, read by the CLI. Pinned by name. */
#include "lib/common.h"

/* Node-wide outcomes, indexed by enum bpfmesh_verdict (< __BPFMESH_V_MAX). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __BPFMESH_V_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_verdicts SEC(".maps");

#endif /* BPFMESH_STATS_MAPS_H */
