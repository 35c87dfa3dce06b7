// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The connection sweep: connectionPool.tcp maxConnectionDuration and
 * idleTimeout (include/bpfmesh/connpool_abi.h; the rules and the clocks:
 * include/bpfmesh/conn_timeouts.h).
 *
 * An iter/tcp program: each run walks the TCP sockets of the network
 * namespace the iterator was created in, and for the sockets connect4
 * placed on a cluster (socket storage struct sock_conn) that are
 * established and still held by the application (ESTABLISHED, CLOSE_WAIT)
 * asks conn_timeouts.h whether the cluster's limits have run out; if so it
 * destroys the socket with the bpf_sock_destroy kfunc (Linux 6.5+; the
 * TCP iterator holds the socket's lock, which the kfunc needs) and counts
 * the reason in the cluster's struct connpool_closed. Every other socket
 * costs one storage lookup. The kernel's tcp_abort sends the peer a RST,
 * and the application's next call fails with ECONNABORTED; sockops sees
 * the change to TCP_CLOSE as for any other end (counters, the open count
 * of maxConnections).
 *
 * Its own object, so that the other programs keep loading on kernels
 * without the kfunc (6.1): the loader loads it only where the kernel's BTF
 * has bpf_sock_destroy (user/kern/connpool_probe.c). The agent creates an
 * iterator from its link and reads it through every second, or every tick
 * of its loop when a timeout is short (user/agent/conn_sweep.c). It never
 * changes a connection that is not past a limit: fails open.
 *
 * Sockets moved by sockmap (same-node acceleration) carry their bytes past
 * TCP, which then never updates the data timestamps: they are not closed
 * for idleness (their duration still applies).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/health_maps.h"
#include "lib/connpool_maps.h"
#include "lib/conn_sweep_maps.h"
#include "lib/sock_conn.h"
#include <bpfmesh/conn_timeouts.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;
/* The kernel's tick rate, for the jiffies stamps: libbpf reads it from the
 * kernel's config (/proc/config.gz or /boot); 0 when it cannot, and then
 * idleTimeout is not checked (the agent says so). */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* sk_user_data tag of a socket in a sockmap (include/net/sock.h). */
#define BPFMESH_SK_USER_DATA_PSOCK 4UL

/* The placed, established connection behind a TCP socket, or NULL. */
static __always_inline struct sock_conn *sweep4_conn(struct tcp_sock *tp)
{
	struct sock_conn *c = sock_conn_get(tp);
	__u16 want = BPFMESH_CONN_F_PLACED | BPFMESH_CONN_F_ESTABLISHED;

	return c && (c->flags & want) == want ? c : NULL;
}

/* Established time: sockops' stamp, else the connect's (start_ns). */
static __always_inline __u64 sweep4_established_ns(const struct sock_conn *c)
{
	return c->established_ns ? c->established_ns : c->start_ns;
}

static __always_inline int sweep4_in_sockmap(struct tcp_sock *tp)
{
	unsigned long ud = (unsigned long)tp->inet_conn.icsk_inet.sk.sk_user_data;

	return !!(ud & BPFMESH_SK_USER_DATA_PSOCK);
}

/* What the socket's clocks say now. */
static __always_inline void sweep4_clock(struct tcp_sock *tp, const struct sock_conn *c,
					 const struct connpool_cfg *cfg,
					 struct bpfmesh_conn_clock *clk)
{
	clk->now_ns = bpf_ktime_get_ns();
	clk->established_ns = cfg->flags & BPFMESH_CONNPOOL_F_DURATION ?
		sweep4_established_ns(c) : 0;
	clk->now_jiffies = (__u32)bpf_jiffies64();
	clk->last_sent = tp->lsndtime;
	clk->last_received = tp->inet_conn.icsk_ack.lrcvtime;
	clk->hz = sweep4_in_sockmap(tp) ? 0 : CONFIG_HZ;
}

static __always_inline void sweep4_count(__u32 cluster_slot, enum bpfmesh_conn_expiry why)
{
	struct connpool_closed *n = bpf_map_lookup_elem(&bpfmesh_connpool4_closed_v1,
							&cluster_slot);

	if (!n)
		return;
	if (why == BPFMESH_EXPIRY_DURATION)
		__sync_fetch_and_add(&n->max_duration, 1);
	else
		__sync_fetch_and_add(&n->idle, 1);
}

static __always_inline int sweep4_is_held(const struct sock_common *skc)
{
	return skc->skc_state == TCP_ESTABLISHED || skc->skc_state == TCP_CLOSE_WAIT;
}

static __always_inline void sweep4_one(struct sock_common *skc)
{
	const struct connpool_cfg *cfg;
	struct bpfmesh_conn_clock clk;
	enum bpfmesh_conn_expiry why;
	struct sock_conn *c;
	struct tcp_sock *tp;
	__u32 slot;

	if (!sweep4_is_held(skc))
		return;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return;
	c = sweep4_conn(tp);
	if (!c)
		return;
	slot = c->cluster_slot;
	cfg = bpf_map_lookup_elem(&bpfmesh_connpool4_cfg_v1, &slot);
	if (!cfg || !(cfg->flags & (BPFMESH_CONNPOOL_F_DURATION | BPFMESH_CONNPOOL_F_IDLE)))
		return;
	sweep4_clock(tp, c, cfg, &clk);
	why = bpfmesh_conn_expiry(&clk,
				  cfg->flags & BPFMESH_CONNPOOL_F_DURATION ? cfg->max_duration_ns : 0,
				  cfg->flags & BPFMESH_CONNPOOL_F_IDLE ? cfg->idle_timeout_ns : 0);
	if (why == BPFMESH_EXPIRY_NONE)
		return;
	if (bpf_sock_destroy(skc) == 0)
		sweep4_count(slot, why);
}

SEC("iter/tcp")
int bpfmesh_conn_sweep(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (skc)
		sweep4_one(skc);
	return 0;
}
