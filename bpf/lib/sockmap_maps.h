/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SOCKMAP_MAPS_H
#define BPFMESH_SOCKMAP_MAPS_H
/* Maps of same-node acceleration (layouts: include/bpfmesh/sockmap_abi.h),
 * pinned by name under the agent's bpffs directory. The sk_msg program is
 * attached to the SOCKHASH itself, so it lives as long as the pinned map. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/sockmap_abi.h>

/* Accelerated ends by their own 4-tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, BPFMESH_SOCKMAP_MAX_SOCKS);
	__type(key, struct sockmap_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap4_socks_v1 SEC(".maps");

/* Client ends waiting for their accepting end: tuple -> endpoint slot.
 * Taken by PASSIVE_ESTABLISHED, or removed when the client closes; LRU so
 * that nothing can fill it for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMESH_SOCKMAP_MAX_PENDING); /* sockmap_abi.h: why */
	__type(key, struct sockmap_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap4_pending_v1 SEC(".maps");

/* The same two for IPv6 connections (sockmap_abi.h: families). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, BPFMESH_SOCKMAP_MAX_SOCKS);
	__type(key, struct sockmap6_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap6_socks_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMESH_SOCKMAP_MAX_PENDING); /* sockmap_abi.h: why */
	__type(key, struct sockmap6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap6_pending_v1 SEC(".maps");

/* Managed listeners of this node (sockmap_abi.h: managed listeners):
 * address:port -> listening sockets bound to it. Not preallocated: a node
 * has few, and without --sockmap the map is never made. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMESH_SOCKMAP_MAX_LISTENERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sockmap_listen_key);
	__type(value, __u64); /* 64-bit: a fetch-and-add's result (no 32-bit one before -mcpu=v3) */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap_listen_v1 SEC(".maps");

/* Per accelerated end: slot and direction for counting, the sticky TCP bit. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sockmap_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap4_sock_v1 SEC(".maps");

/* Node-wide switch (agent --no-sockmap). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sockmap_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap4_cfg_v1 SEC(".maps");

/* Node-wide counters (enum bpfmesh_sockmap_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __BPFMESH_SM_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sockmap4_stats_v1 SEC(".maps");

#endif /* BPFMESH_SOCKMAP_MAPS_H */
