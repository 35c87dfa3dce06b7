/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_SRC_MAPS_H
#define BPFMESH_STATS_SRC_MAPS_H
/* Maps of the caller's identity and the counters by source (issue 15;
 * layouts in include/bpfmesh/identity_abi.h). Pinned by name: connect
 * (sock_addr) resolves and remembers, sockops counts, the agent reads. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>

/* Agent-written: how many cgroups are named, and the cache generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct identity_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_identity_state_v1 SEC(".maps");

/* The caller's own cgroup -> its identity as last resolved (an LRU: a
 * cgroup that stops connecting is forgotten first). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMESH_ID_CACHE_SIZE);
	__type(key, __u64);
	__type(value, struct identity_cache_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_identity_cache_v1 SEC(".maps");

/* Ids given to workloads, live and retired: user space only, pinned so that
 * an agent restart keeps them (user/agent/identity_ids.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_IDENTITY_IDS);
	__type(key, __u32);
	__type(value, struct identity_rec);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_identity_ids_v1 SEC(".maps");

/* A placed connection's caller identity: sock_conn.identity (one record a
 * connection); bpfmesh_sock_src_v1, where releases before held it, is in
 * bpf/lib/sock_conn.h. */

/* (endpoint slot, caller identity) -> connection outcomes, per CPU.
 * Entries are made as connections open; memory follows the pairs seen. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_SRC_COUNTERS);
	__type(key, struct src_key);
	__type(value, struct ep_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_src_counters_v1 SEC(".maps");

/* Connections counted as source unknown because the map above was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_src_overflow_v1 SEC(".maps");

#endif /* BPFMESH_STATS_SRC_MAPS_H */
