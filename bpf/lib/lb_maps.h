/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_MAPS_H
#define BPFMESH_LB_MAPS_H
/* Maps of the connect-time load balancer: services and their backend sets.
 * Layouts: include/bpfmesh/lb_abi.h. Pinned by name, so an agent restart
 * re-adopts them and the kernel keeps deciding while no agent runs. */
#include "lib/common.h"

/* The services: VIP:port -> service index -> route version -> routing
 * decision. Why three maps and how the agent writes them so that a
 * connection reads one version whole: include/bpfmesh/lb_abi.h, "Atomic
 * switch". Read them through lb4_lookup_svc (route.h), never one by one. */

/* VIP:port -> service index. A key keeps its index while the service
 * exists: inserted once, deleted once, never updated. Not preallocated:
 * memory follows the policy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_SERVICES);
	__type(key, struct svc_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_svc_ids SEC(".maps");

/* Service index -> route in force. An array, so an element is never freed
 * and the agent switches a service by storing one word through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, BPFMESH_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct svc_head);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_svc_heads SEC(".maps");

/* Route id -> routing decision. Each version of a route is inserted under
 * a fresh id and deleted after a grace period once no head names it; a
 * value is never changed in place. Not preallocated: memory follows the
 * policy (a preallocated array of BPFMESH_MAX_ROUTES would cost 35 MB). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_ROUTES);
	__type(key, __u32);
	__type(value, struct svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_routes SEC(".maps");

/* (set, slot) -> endpoint. Sets are written once and never changed.
 * Not preallocated either: a preallocated map charges all max_entries
 * (54 MB) on every node; this way memory follows the policy. Elements are
 * allocated by the agent's updates, never on the connect path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_BACKENDS);
	__type(key, struct backend_key);
	__type(value, struct backend_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_backends SEC(".maps");

#endif /* BPFMESH_LB_MAPS_H */
