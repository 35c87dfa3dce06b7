/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CT_MAPS_H
#define BPFMESH_CT_MAPS_H
/* Maps of the TC packet path: flow tracking and its event counters.
 * Layouts: include/bpfmesh/tc_abi.h. Pinned by name, so flows keep their
 * endpoint across an agent restart. */
#include "lib/common.h"
#include <bpfmesh/tc_abi.h>

/* 5-tuple -> translation, two entries a flow. LRU: when full, the least
 * recently used entry goes, so the size is bounded without a sweeper; the
 * packet that finds its entry gone counts BPFMESH_TC_EVICTED. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMESH_MAX_CT);
	__type(key, struct ct4_key);
	__type(value, struct ct4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_ct4_flows SEC(".maps");

/* The same for IPv6 flows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMESH_MAX_CT);
	__type(key, struct ct6_key);
	__type(value, struct ct6_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_ct6_flows SEC(".maps");

/* Per-CPU event counts, indexed by enum bpfmesh_tc_event (< __BPFMESH_TC_MAX). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __BPFMESH_TC_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_tc4_events SEC(".maps");

#endif /* BPFMESH_CT_MAPS_H */
