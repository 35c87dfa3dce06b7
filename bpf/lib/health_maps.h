/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_HEALTH_MAPS_H
#define BPFMESH_HEALTH_MAPS_H
/* Maps of connection health and outlier ejection. Layouts and memory:
 * include/bpfmesh/health_abi.h. All are pinned by name, the socket storage
 * too, so connect4 (bpf/sock_addr.bpf.c) and sockops (bpf/sockops.bpf.c),
 * loaded as two objects, share them, and an agent restart keeps counters,
 * ejections and the state of open connections.
 * The agent sets max_entries of the arrays before it creates the pins
 * (--max-endpoints, --max-clusters; "Memory" in health_abi.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/health_abi.h>

/* Per socket placed by connect4: VIP, endpoint and cluster slot, start. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sock4_conn_v2 SEC(".maps");

/* Endpoint slot -> connection outcomes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BPFMESH_MAX_EP_SLOTS);
	__type(key, __u32);
	__type(value, struct ep_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_counters_v1 SEC(".maps");

/* Cluster slot -> latency histograms, shared (atomic adds). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct cluster_hists);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_hists_v1 SEC(".maps");

/* Endpoint slot -> outlier state. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_EP_SLOTS);
	__type(key, __u32);
	__type(value, struct ep_health);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_endpoints_v2 SEC(".maps");

/* Cluster slot -> outlier config, agent-written, read-only here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct cluster_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_cluster_cfg_v1 SEC(".maps");

/* Cluster slot -> live ejection state and refusals, kernel-written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct cluster_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_clusters_v1 SEC(".maps");

/* Ejections and returns, for the agent (struct health_event). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BPFMESH_HEALTH_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_events_v1 SEC(".maps");

#endif /* BPFMESH_HEALTH_MAPS_H */
