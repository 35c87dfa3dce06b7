/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONNPOOL_ABI_H
#define BPFMESH_CONNPOOL_ABI_H
/*
 * Layouts of the connection-pool maps (DestinationRule
 * trafficPolicy.connectionPool.tcp), shared by the BPF programs, the agent,
 * the CLI and the tests. Indexed by cluster slot (health_abi.h "Slots"):
 * the pool is per cluster, as Envoy's circuit breakers are per cluster.
 * Maps: bpf/lib/connpool_maps.h; kernel logic: bpf/lib/connpool.h, called
 * from connect4 (bpf/sock_addr.bpf.c) and sockops (bpf/sockops.bpf.c);
 * written by user/apply/plan_connpool.c.
 *
 * What the kernel does with each field (Istio field -> Linux):
 *  - maxConnections: connect4 raises the cluster's open count first
 *    (atomic add) and, when that passes the limit, takes the raise back and
 *    refuses the connect at once with ECONNREFUSED (bpf_set_retval, Linux
 *    5.18+: the same refusal as "no healthy upstream"), counted as
 *    cluster_state.overflow (Istio response flag UO). Every kept raise saw
 *    a count within the limit, so a burst never holds more than the limit
 *    open. The count comes down exactly once per counted socket (its socket
 *    storage, struct connpool_sock, cleared with a cmpxchg): at the change
 *    to TCP_CLOSE (sockops STATE_CB: normal close, reset, connect refused
 *    or timed out, aborted), or when a socket that never reached the SYN is
 *    released (cgroup/sock_release). All of it is kernel-only, so it holds
 *    with no agent running. The limit is per node (Envoy's is per proxy).
 *  - connectTimeout (Istio's mesh default 10 s when unset): sockops sets
 *    TCP_USER_TIMEOUT when the SYN goes out (TCP_CONNECT_CB), which the
 *    kernel honours in SYN_SENT (tcp_write_timeout) and clamps the SYN
 *    retransmission timer to, so the connect fails with ETIMEDOUT at the
 *    first retransmission timer at or after the timeout (1 s initial RTO:
 *    a timeout below 1 s takes 1 s). Taken back to 0 once established, so
 *    it does not become a data timeout. An application that set its own
 *    TCP_USER_TIMEOUT keeps it.
 *  - tcpKeepalive: SO_KEEPALIVE, and TCP_KEEPIDLE / TCP_KEEPINTVL /
 *    TCP_KEEPCNT where given, set at TCP_CONNECT_CB, so the application's
 *    getsockopt sees them. Istio passes whole seconds (time.Seconds), and
 *    Envoy leaves a 0 to the kernel, as does this.
 *  - maxConnectionDuration, idleTimeout: enforced on Linux 6.5+ by the
 *    connection sweep (bpf/conn_sweep.bpf.c, its own object, loaded only
 *    where the kernel has the bpf_sock_destroy kfunc), an iter/tcp program
 *    the agent runs every second (user/agent/conn_sweep.c). It looks only
 *    at sockets connect4 placed (struct sock_conn) on a cluster whose
 *    config sets either field, and destroys a connection whose time is up
 *    (tcp_abort: a RST to the peer, ECONNABORTED to the application),
 *    counted per cluster in struct connpool_closed. Envoy's rules:
 *      maxConnectionDuration (HttpProtocolOptions.max_connection_duration,
 *      where Istio puts tcp.maxConnectionDuration): the connection is
 *      closed once that long has passed since it was established; the
 *      time of establishment is sock_conn.established_ns (health_abi.h),
 *      written by sockops at ACTIVE_ESTABLISHED_CB for clusters that set
 *      the field (before sock_conn _v3: struct connpool_life, a socket
 *      storage of its own).
 *      idleTimeout (tcp_proxy idle_timeout): closed after that long with
 *      no bytes sent or received; Istio's default 1 h applies when unset,
 *      "0s" turns it off (connpool_cfg has F_IDLE clear then).
 *    Older kernels: not enforced; the agent says so once at start and
 *    `lint` says so for a policy that sets either field.
 */

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

enum bpfmesh_connpool_flags {
	BPFMESH_CONNPOOL_F_LIMIT = 1 << 0,     /* max_connections is enforced */
	BPFMESH_CONNPOOL_F_KEEPALIVE = 1 << 1, /* tcpKeepalive: SO_KEEPALIVE on */
	BPFMESH_CONNPOOL_F_DURATION = 1 << 2,  /* maxConnectionDuration set */
	BPFMESH_CONNPOOL_F_IDLE = 1 << 3,      /* idleTimeout set (not "0s") */
};

/* Per cluster slot: the effective connectionPool.tcp, agent-written, with
 * Istio's block replacement and defaults applied (traffic_policy.c
 * conn_effective). All zero: nothing applied (a slot not written yet). */
struct connpool_cfg {
	__u32 max_connections;      /* with BPFMESH_CONNPOOL_F_LIMIT */
	__u32 connect_timeout_ms;   /* TCP_USER_TIMEOUT until established; 0 = kernel's */
	__u32 keepalive_time_s;     /* TCP_KEEPIDLE; 0 = kernel's */
	__u32 keepalive_interval_s; /* TCP_KEEPINTVL; 0 = kernel's */
	__u32 keepalive_probes;     /* TCP_KEEPCNT; 0 = kernel's */
	__u32 flags;                /* BPFMESH_CONNPOOL_F_* */
	__u64 max_duration_ns;      /* maxConnectionDuration (F_DURATION) */
	__u64 idle_timeout_ns;      /* idleTimeout (F_IDLE) */
};

/* Per cluster slot: the connections open now to the cluster from this node
 * that count against its limit (only clusters with a limit are counted).
 * Written by the kernel only, never by the agent: a count belongs to live
 * sockets, which bring it down as they close, whatever the policy does
 * meanwhile. */
struct connpool_open {
	__u64 open;
	__u64 pad;
};

/* Socket storage of a socket counted in a cluster's open count. */
struct connpool_sock {
	__u64 counted_slot; /* cluster slot counted in; 0 = not counted (any more) */
};

/* Socket storage, per socket connect4 placed on a cluster with
 * maxConnectionDuration: when its handshake completed (bpf_ktime_get_ns),
 * the start of Envoy's max_connection_duration. */
struct connpool_life {
	__u64 established_ns;
};

/* Per cluster slot: connections the sweep closed, kernel-written (atomic
 * adds), monotonic while the pin lives. Envoy's cluster counters
 * upstream_cx_max_duration_reached and upstream_cx_idle_timeout. */
struct connpool_closed {
	__u64 max_duration; /* open for maxConnectionDuration */
	__u64 idle;         /* no bytes either way for idleTimeout */
};

/* Highest TCP_USER_TIMEOUT written (the kernel takes an int of ms). */
#define BPFMESH_CONNPOOL_MAX_TIMEOUT_MS 0x7fffffffu

_Static_assert(sizeof(struct connpool_cfg) == 40, "connpool_cfg layout");
_Static_assert(sizeof(struct connpool_open) == 16, "connpool_open layout");
_Static_assert(sizeof(struct connpool_sock) == 8, "connpool_sock layout");
_Static_assert(sizeof(struct connpool_life) == 8, "connpool_life layout");
_Static_assert(sizeof(struct connpool_closed) == 16, "connpool_closed layout");

/* Pinned map names (pinned by name under the agent's bpffs directory). */
#define BPFMESH_MAP_CONNPOOL_CFG "bpfmesh_connpool4_cfg_v1"
#define BPFMESH_MAP_CONNPOOL_OPEN "bpfmesh_connpool4_open_v1"
#define BPFMESH_MAP_CONNPOOL_SOCKS "bpfmesh_connpool4_socks_v1"
#define BPFMESH_MAP_CONNPOOL_LIFE "bpfmesh_connpool4_life_v1"
/* Created by the sweep's object only: absent where the kernel cannot close
 * connections from BPF. */
#define BPFMESH_MAP_CONNPOOL_CLOSED "bpfmesh_connpool4_closed_v1"

#endif /* BPFMESH_CONNPOOL_ABI_H */
