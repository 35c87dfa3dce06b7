/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONN_SWEEP_MAPS_H
#define BPFMESH_CONN_SWEEP_MAPS_H
/* Maps of the connection sweep alone (bpf/conn_sweep.bpf.c): created only
 * where that object loads (Linux 6.5+), pinned by name so the counts
 * outlive an agent restart; sized to the cluster slots by the loader. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>

/* Cluster slot -> connections the sweep closed, by reason. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct connpool_closed);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_connpool4_closed_v1 SEC(".maps");

#endif /* BPFMESH_CONN_SWEEP_MAPS_H */
