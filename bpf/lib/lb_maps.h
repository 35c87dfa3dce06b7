/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_MAPS_H
#define BPFMESH_LB_MAPS_H
/* Maps of the connect-time load balancer. Layouts: include/bpfmesh/lb_abi.h.
 * All but the socket storage are pinned by name, so an agent restart
 * re-adopts them and the kernel keeps deciding while no agent runs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/lb_abi.h>

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
} bpfmesh_lb4_services SEC(".maps");

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

/* (service, destination, endpoint) -> decisions, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_STATS);
	__type(key, struct stats_key);
	__type(value, struct stats_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_stats SEC(".maps");

/* Node-wide outcomes, indexed by enum bpfmesh_verdict (< __BPFMESH_V_MAX). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __BPFMESH_V_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_lb4_verdicts SEC(".maps");

/* id -> name, written by the agent for the CLI; never read by programs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_NAMES);
	__type(key, __u32);
	__type(value, struct name_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_names SEC(".maps");

/* The VIP:port a socket was connected to, so getpeername() can report it.
 * Lives and dies with the socket. */
struct sock_origdst {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_origdst);
} bpfmesh_sock4_origdst SEC(".maps");

#endif /* BPFMESH_LB_MAPS_H */
