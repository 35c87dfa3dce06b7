/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_MAPS_H
#define BPFMESH_LB_MAPS_H
/* Maps of the connect-time load balancer: services and their backend sets.
 * Layouts: include/bpfmesh/lb_abi.h. Pinned by name, so an agent restart
 * re-adopts them and the kernel keeps deciding while no agent runs. */
#include "lib/common.h"

/* VIP:port -> routing decision. Not preallocated on purpose: the agent
 * replaces values in place, and a preallocated element can be recycled for
 * another update while a program still reads it; without prealloc the old
 * element is freed only after an RCU grace period. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_SERVICES);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_services_v2 SEC(".maps");

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
