/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONNPOOL_MAPS_H
#define BPFMESH_CONNPOOL_MAPS_H
/* Maps of the connection pool (include/bpfmesh/connpool_abi.h), pinned by
 * name so that connect4 and sockops, two objects, share them, and so that
 * open counts and counted sockets outlive an agent restart. The agent sizes
 * the arrays to its cluster slots (--max-clusters) before creating them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>

/* Cluster slot -> effective connectionPool.tcp, agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct connpool_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_connpool4_cfg_v1 SEC(".maps");

/* Cluster slot -> connections open now against its limit, kernel-written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFMESH_MAX_CLUSTERS);
	__type(key, __u32);
	__type(value, struct connpool_open);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_connpool4_open_v1 SEC(".maps");

/* Which cluster a socket is counted in: sock_conn.pool_slot (one record a
 * connection); bpfmesh_connpool4_socks_v1, where releases before held it,
 * is in bpf/lib/sock_conn.h. */
/* When a socket on a cluster with maxConnectionDuration was established:
 * sock_conn.established_ns; bpfmesh_connpool4_life_v1, where releases
 * before held it, is in bpf/lib/sock_conn.h. */

#endif /* BPFMESH_CONNPOOL_MAPS_H */
