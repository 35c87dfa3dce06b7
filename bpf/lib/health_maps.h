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

/* Per socket placed by connect4: VIP, endpoint and cluster slot, start,
 * the connection pool's mark and the caller's identity: the one record of
 * a connection (bpf/lib/sock_conn.h reads it, and the records of earlier
 * releases). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sock4_conn_v3 SEC(".maps");

/*
 * Endpoint slot -> connection outcomes, one value shared by all CPUs
 * (atomic adds), read through health4_counters().
 *
 * Why not per CPU (the _v1 layout): the kernel allocates per-CPU memory
 * element by element, so creating the per-CPU array of 201,024 slots took
 * 320-500 ms of the agent's cold start (120-150 ms of CPU), this array 2-4
 * ms (bench/counters_create.c, docs/benchmarks.md "counters"). Per-CPU
 * blocks of K slots (key slot / K) create in 11-34 ms at K = 64 but cannot
 * zero one slot for its new owner: bpf(2) rewrites the whole block of every
 * CPU, and increments of the block's other slots made between the read and
 * the write are lost (a counter that goes backwards); here the applier's
 * write of one element touches that slot only.
 * The connect/close path does what it did: the adds were atomic already
 * (health4_count), one lookup per event. What it may cost is cache-line
 * traffic when CPUs count the same endpoint at once; values are 128 bytes
 * in a mmapable (page-aligned) array, so two slots never share a line.
 * Memory: 128 B a slot instead of 88 B x nr_cpus.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_EP_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ep_counters_elem);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_health4_counters_v2 SEC(".maps");

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
