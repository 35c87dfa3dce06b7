/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONN_TIMEOUTS_H
#define BPFMESH_CONN_TIMEOUTS_H
/*
 * When the connection sweep (bpf/conn_sweep.bpf.c) closes a connection for
 * connectionPool.tcp maxConnectionDuration or idleTimeout: the arithmetic
 * alone, compiled into the BPF program and the unit tests
 * (tests/unit/test_conn_timeouts.c). Maps and the kernel side:
 * include/bpfmesh/connpool_abi.h.
 *
 * Envoy's rules, which Istio's fields map to:
 *  - max_connection_duration: the connection is closed once the time since
 *    it was established reaches the limit.
 *  - tcp_proxy idle_timeout: closed once no bytes were sent or received for
 *    that long (keepalive probes and bare ACKs carry no bytes and do not
 *    count as activity).
 * When both have run out by the time the sweep looks, the one that ran out
 * first is the reason (Envoy's timers fire in that order).
 *
 * Idle time comes from the kernel's own per-socket data timestamps, which
 * are in jiffies: tcp_sock.lsndtime (last segment carrying data sent) and
 * inet_connection_sock.icsk_ack.lrcvtime (last data received). Both are
 * the low 32 bits of jiffies, as is "now" here, so the difference is exact
 * modulo 2^32 jiffies (49 days at HZ=1000, longer than any idle gap a
 * connection keeps without a keepalive). A jiffies stamp is the floor of
 * the moment, so the true gap is within one jiffy of the difference: one
 * jiffy is taken off, so that a connection is never closed before its
 * idleTimeout (at most one jiffy late instead: 4 ms at HZ=250).
 */

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

enum bpfmesh_conn_expiry {
	BPFMESH_EXPIRY_NONE = 0,
	BPFMESH_EXPIRY_DURATION, /* maxConnectionDuration reached */
	BPFMESH_EXPIRY_IDLE,     /* idleTimeout reached */
};

/* What one connection's clocks say, all in ns but the jiffies stamps. */
struct bpfmesh_conn_clock {
	__u64 now_ns;          /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 established_ns;  /* same clock; 0 = unknown (no duration check) */
	__u32 now_jiffies;     /* low 32 bits of jiffies */
	__u32 last_sent;       /* tcp_sock.lsndtime */
	__u32 last_received;   /* icsk_ack.lrcvtime */
	__u32 hz;              /* CONFIG_HZ; 0 = unknown (no idle check) */
};

/* Nanoseconds for which the connection has carried no byte either way, at
 * least (one jiffy taken off: see above). */
static inline __u64 bpfmesh_conn_idle_ns(const struct bpfmesh_conn_clock *c)
{
	__u32 since_sent = c->now_jiffies - c->last_sent;
	__u32 since_received = c->now_jiffies - c->last_received;
	__u32 idle = since_sent < since_received ? since_sent : since_received;

	if (!c->hz || idle == 0)
		return 0;
	return (__u64)(idle - 1) * (1000000000ull / c->hz);
}

/* Which limit, if any, the connection has reached: max_duration_ns and
 * idle_timeout_ns are 0 when not set. */
static inline enum bpfmesh_conn_expiry
bpfmesh_conn_expiry(const struct bpfmesh_conn_clock *c, __u64 max_duration_ns,
		    __u64 idle_timeout_ns)
{
	__u64 age = 0, idle, over_duration = 0, over_idle = 0;
	int duration_due = 0, idle_due = 0;

	if (max_duration_ns && c->established_ns && c->now_ns >= c->established_ns) {
		age = c->now_ns - c->established_ns;
		duration_due = age >= max_duration_ns;
		over_duration = age - max_duration_ns;
	}
	if (idle_timeout_ns && c->hz) {
		idle = bpfmesh_conn_idle_ns(c);
		idle_due = idle >= idle_timeout_ns;
		over_idle = idle - idle_timeout_ns;
	}
	if (duration_due && idle_due)
		/* The larger overshoot ran out first. */
		return over_duration >= over_idle ? BPFMESH_EXPIRY_DURATION : BPFMESH_EXPIRY_IDLE;
	if (duration_due)
		return BPFMESH_EXPIRY_DURATION;
	return idle_due ? BPFMESH_EXPIRY_IDLE : BPFMESH_EXPIRY_NONE;
}

#endif /* BPFMESH_CONN_TIMEOUTS_H */
