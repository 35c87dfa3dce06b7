/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_ALGO_MAPS_H
#define BPFMESH_LB_ALGO_MAPS_H
/* Maps of the loadBalancer algorithms. Layouts and memory:
 * include/bpfmesh/lbpolicy_abi.h. Pinned by name, so connect4, sockops and
 * the TC programs share them and an agent restart keeps rotation counters,
 * open-connection counts and tables. The agent sizes the arrays from
 * --max-clusters / --max-endpoints (user/kern/loader.c). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/lbpolicy_abi.h>
#include <bpfmesh/health_abi.h>

/* Cluster slot -> effective loadBalancer, agent-written, read-only here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct lb_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_policy_v1 SEC(".maps");

/* Cluster slot -> ROUND_ROBIN counter, shared by all CPUs (atomic adds):
 * one rotation per destination across the node. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_rr_v1 SEC(".maps");

/* Endpoint slot -> open connections (sockops, atomic adds). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_EP_SLOTS);
	__type(key, __u32);
	__type(value, struct lb_active);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_active_v1 SEC(".maps");

/* (set, index) -> set slot: weighted round-robin sequences and Maglev
 * tables. Not preallocated: memory follows the tables the policy asks for;
 * elements are allocated by the agent's updates, never on the connect path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_LB_TABLE_ENTRIES);
	__type(key, struct lbtab_key);
	__type(value, struct lbtab_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_tables_v1 SEC(".maps");

#endif /* BPFMESH_LB_ALGO_MAPS_H */
