/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONNPOOL_H
#define BPFMESH_CONNPOOL_H
/*
 * connectionPool.tcp in the kernel: the connection limit (connect4 admits,
 * sockops and sock_release release), the connect timeout and the keepalive
 * options (sockops). What each Istio field becomes, and the kernel
 * behaviour it relies on: include/bpfmesh/connpool_abi.h.
 */
#include "lib/health.h"
#include "lib/connpool_maps.h"
#include "lib/sock_conn.h"

/* Socket option numbers (uapi socket.h, tcp.h), which vmlinux.h lacks. */
#define BPFMESH_SOL_SOCKET 1
#define BPFMESH_SO_KEEPALIVE 9
#define BPFMESH_SOL_TCP 6
#define BPFMESH_TCP_KEEPIDLE 4
#define BPFMESH_TCP_KEEPINTVL 5
#define BPFMESH_TCP_KEEPCNT 6
#define BPFMESH_TCP_USER_TIMEOUT 18

enum connpool4_verdict {
	CONNPOOL4_ADMITTED = 0, /* within the limit, or no limit */
	CONNPOOL4_OVERFLOW,     /* over maxConnections: refuse (Istio UO) */
};

static __always_inline const struct connpool_cfg *connpool4_cfg(__u32 cluster_slot)
{
	return bpf_map_lookup_elem(&bpfmesh_connpool4_cfg_v1, &cluster_slot);
}

/*
 * connect4: may this socket (its record c) open one more connection to the
 * cluster? The open count is raised first and the raise taken back when it
 * passed the limit, so concurrent connects on several CPUs never hold more
 * than the limit open (each kept raise saw a count within it). A socket
 * already counted (c->pool_slot) is the same connection connecting again
 * (a non-blocking connect() polled with EALREADY, or a retry after a
 * failure before the SYN went out): admitted without a second count. A
 * socket without a record is admitted uncounted (it could never be
 * released).
 */
static __always_inline int connpool4_admit(struct sock_conn *c, __u32 cluster_slot)
{
	const struct connpool_cfg *cfg = connpool4_cfg(cluster_slot);
	struct connpool_open *o;
	__u64 open;

	if (!cfg || !(cfg->flags & BPFMESH_CONNPOOL_F_LIMIT) || !c)
		return CONNPOOL4_ADMITTED;
	o = bpf_map_lookup_elem(&bpfmesh_connpool4_open_v1, &cluster_slot);
	if (!o || READ_ONCE(c->pool_slot))
		return CONNPOOL4_ADMITTED;
	open = __sync_fetch_and_add(&o->open, 1) + 1;
	if (open > cfg->max_connections) {
		__sync_fetch_and_add(&o->open, -1);
		return CONNPOOL4_OVERFLOW;
	}
	WRITE_ONCE(c->pool_slot, cluster_slot);
	return CONNPOOL4_ADMITTED;
}

/* The socket stops counting against its cluster's limit: exactly once,
 * whichever of sockops (change to TCP_CLOSE) and sock_release comes first
 * (the cmpxchg on pool_slot decides). */
static __always_inline void connpool4_release_conn(struct sock_conn *c)
{
	struct connpool_open *o;
	__u64 slot;
	__u32 key;

	if (!c)
		return;
	slot = READ_ONCE(c->pool_slot);
	if (!slot || __sync_val_compare_and_swap(&c->pool_slot, slot, 0) != slot)
		return;
	key = (__u32)slot;
	o = bpf_map_lookup_elem(&bpfmesh_connpool4_open_v1, &key);
	if (o)
		__sync_fetch_and_add(&o->open, -1);
}

static __always_inline void connpool4_release(struct bpf_sock *sk)
{
	connpool4_release_conn(sock_conn_get(sk));
}

/* The application's own TCP_USER_TIMEOUT (0: none), read through BTF:
 * bpf_getsockopt(SOL_TCP) reads it only from Linux 6.1's rework on. */
static __always_inline __u32 connpool4_user_timeout(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk; /* read once: each read may be NULL */
	struct tcp_sock *tp;

	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	return tp ? tp->inet_conn.icsk_user_timeout : 0;
}

static __always_inline void connpool4_set_tcp(struct bpf_sock_ops *skops, int opt, __u32 val)
{
	int v = (int)val;

	if (val)
		bpf_setsockopt(skops, BPFMESH_SOL_TCP, opt, &v, sizeof(v));
}

/* Envoy's upstream socket options for tcpKeepalive: SO_KEEPALIVE, and each
 * of time, interval and probes that is given (0 leaves the kernel's). The
 * times go first: once SO_KEEPALIVE is on, each TCP_KEEPIDLE re-arms the
 * keepalive timer (tcp_sock_set_keepidle_locked), so set last it arms it
 * once, with the final idle time. */
static __always_inline void connpool4_set_keepalive(struct bpf_sock_ops *skops,
						    const struct connpool_cfg *cfg)
{
	int on = 1;

	if (!(cfg->flags & BPFMESH_CONNPOOL_F_KEEPALIVE))
		return;
	connpool4_set_tcp(skops, BPFMESH_TCP_KEEPIDLE, cfg->keepalive_time_s);
	connpool4_set_tcp(skops, BPFMESH_TCP_KEEPINTVL, cfg->keepalive_interval_s);
	connpool4_set_tcp(skops, BPFMESH_TCP_KEEPCNT, cfg->keepalive_probes);
	bpf_setsockopt(skops, BPFMESH_SOL_SOCKET, BPFMESH_SO_KEEPALIVE, &on, sizeof(on));
}

/*
 * sockops TCP_CONNECT_CB (the SYN is about to go out) of a socket connect4
 * placed on cluster_slot: connect timeout and keepalive. The state
 * callback a counted socket needs to be released at its close is asked
 * for every placed socket by bpfmesh_sockops (sockops4_want_close).
 */
static __always_inline void connpool4_on_connect(struct bpf_sock_ops *skops, __u32 cluster_slot)
{
	const struct connpool_cfg *cfg = connpool4_cfg(cluster_slot);

	if (!cfg)
		return;
	if (cfg->connect_timeout_ms && !connpool4_user_timeout(skops))
		connpool4_set_tcp(skops, BPFMESH_TCP_USER_TIMEOUT, cfg->connect_timeout_ms);
	connpool4_set_keepalive(skops, cfg);
}

/* Envoy's max_connection_duration runs from the moment the connection was
 * established: that moment goes into the connection's record for the sweep
 * (conn_sweep.bpf.c), only for clusters that set maxConnectionDuration (a
 * record without it is timed from its connect, sock_conn.start_ns). */
static __always_inline void connpool4_mark_established(struct bpf_sock_ops *skops)
{
	struct sock_conn *c = sock_conn_get(skops->sk);

	if (c)
		c->established_ns = bpf_ktime_get_ns();
}

/* sockops ACTIVE_ESTABLISHED_CB: the connect timeout is over. Envoy's
 * connect_timeout bounds the connect only, so the user timeout set for it
 * is taken back (one the application set itself was left alone). */
static __always_inline void connpool4_on_established(struct bpf_sock_ops *skops,
						     __u32 cluster_slot)
{
	const struct connpool_cfg *cfg = connpool4_cfg(cluster_slot);
	int zero = 0;

	if (!cfg)
		return;
	if (cfg->flags & BPFMESH_CONNPOOL_F_DURATION)
		connpool4_mark_established(skops);
	if (!cfg->connect_timeout_ms)
		return;
	if (connpool4_user_timeout(skops) == cfg->connect_timeout_ms)
		bpf_setsockopt(skops, BPFMESH_SOL_TCP, BPFMESH_TCP_USER_TIMEOUT, &zero,
			       sizeof(zero));
}

#endif /* BPFMESH_CONNPOOL_H */
