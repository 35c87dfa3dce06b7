// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * What happens to the connections connect4 placed: cgroup sockops on the
 * managed cgroup. Only sockets carrying a struct sock_conn with
 * BPFMESH_CONN_F_PLACED (written by connect4, bpf/lib/health.h
 * health4_place_conn) are counted; every other socket costs one storage
 * lookup and is left alone. Fails open: nothing here ever changes a
 * connection, it only counts and ejects.
 *
 *   TCP_CONNECT_CB         SYN about to go out: opened; ask for state
 *                          callbacks on this socket only (placed ones).
 *   ACTIVE_ESTABLISHED_CB  handshake done: established, connect latency,
 *                          an outlier success.
 *   STATE_CB -> TCP_CLOSE  closed: after established, bytes each way, RTT
 *                          and duration; before, the failure and its reason
 *                          from sk_err (an outlier failure, which may eject
 *                          the endpoint at once).
 *
 * sk_err, and whether each FIN was exchanged (to take them out of the byte
 * counts), are read through bpf_skc_to_tcp_sock() (BTF, CO-RE): sockops has
 * no context field for them. At the state change to TCP_CLOSE the kernel has
 * already set it (tcp_reset / tcp_write_err set sk_err before tcp_done), and
 * the application cannot have cleared it yet with SO_ERROR.
 *
 * connectionPool.tcp (bpf/lib/connpool.h): at TCP_CONNECT_CB the connect
 * timeout and keepalive options go on the socket; at ACTIVE_ESTABLISHED_CB
 * the connect timeout comes off; at the change to TCP_CLOSE, and in
 * bpfmesh_sock_release for a socket that never sent its SYN, the socket
 * stops counting against its cluster's maxConnections.
 *
 * bpfmesh_health_sweep (syscall program): the agent runs it with
 * BPF_PROG_TEST_RUN over its slots each interval, so endpoints it took out
 * of the backend sets return on time even though no pick draws them.
 *
 * The loader (user/kern/loader.c) attaches bpfmesh_sockops to the managed
 * cgroup (BPF_CGROUP_SOCK_OPS) beside connect4; the maps are shared by pin
 * name.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/health.h"
#include "lib/lb_active.h"
#include "lib/connpool.h"
#include "lib/udp_flow.h"
#include "lib/stats_src.h"
#include "lib/sock_conn.h"

#define SOCKOPS_OK 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The placed connection behind this socket, or NULL. */
/* The record, if connect4 placed the socket (NULL for any other). */
static __always_inline struct sock_conn *sockops4_placed(struct sock_conn *c)
{
	return c && (c->flags & BPFMESH_CONN_F_PLACED) ? c : NULL;
}

static __always_inline struct sock_conn *sockops4_conn(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;

	return sk ? sockops4_placed(sock_conn_get(sk)) : NULL;
}

/* What the socket says about its end, read once at the change to TCP_CLOSE. */
struct sockops4_end {
	int sk_err;        /* pending error: why it ended */
	int fin_acked;     /* our FIN was sent and acknowledged */
	int fin_received;  /* the peer's FIN arrived */
};

/* Our FIN is out in these states (the state before TCP_CLOSE). */
static __always_inline int sockops4_fin_sent(__u32 old_state)
{
	return old_state == BPF_TCP_FIN_WAIT1 || old_state == BPF_TCP_FIN_WAIT2 ||
	       old_state == BPF_TCP_CLOSING || old_state == BPF_TCP_LAST_ACK ||
	       old_state == BPF_TCP_TIME_WAIT;
}

static __always_inline void sockops4_read_end(struct bpf_sock_ops *skops, struct sockops4_end *e)
{
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp;

	e->sk_err = 0;
	e->fin_acked = 0;
	e->fin_received = 0;
	if (!sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	e->sk_err = tp->inet_conn.icsk_inet.sk.sk_err;
	/* The FIN is the last sequence number we send: acked when snd_una
	 * reached write_seq. tcp_fin() marks the socket SOCK_DONE. */
	e->fin_acked = sockops4_fin_sent(skops->args[0]) && tp->snd_una == tp->write_seq;
	e->fin_received = !!(tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags & (1UL << SOCK_DONE));
}

static __always_inline void sockops4_on_connect(struct bpf_sock_ops *skops, struct sock_conn *c)
{
	struct ep_counters *cnt;

	if ((c->flags & BPFMESH_CONN_F_OPENED))
		return;
	cnt = health4_counters(c->ep_slot);
	if (!cnt)
		return;
	c->flags |= BPFMESH_CONN_F_OPENED;
	lb4_conn_opened(c->ep_slot); /* LEAST_REQUEST: in flight counts as open */
	if (!c->start_ns)
		c->start_ns = bpf_ktime_get_ns();
	health4_count(&cnt->opened);
	cnt = src_counters(c); /* by source, after the slot */
	if (cnt)
		health4_count(&cnt->opened);
}

static __always_inline void sockops4_on_established(struct bpf_sock_ops *skops,
						   struct sock_conn *c)
{
	struct ep_counters *cnt;
	struct cluster_hists *hs;
	__u64 now;

	if (!(c->flags & BPFMESH_CONN_F_OPENED) || (c->flags & BPFMESH_CONN_F_ESTABLISHED))
		return;
	cnt = health4_counters(c->ep_slot);
	if (!cnt)
		return;
	now = bpf_ktime_get_ns();
	c->flags |= BPFMESH_CONN_F_ESTABLISHED;
	health4_count(&cnt->established);
	cnt = src_counters(c);
	if (cnt)
		health4_count(&cnt->established);
	hs = health4_hists(c->cluster_slot);
	if (hs)
		health4_hist_add(&hs->connect_us, (now - c->start_ns) / 1000);
	health4_on_success(c->ep_slot);
}

/* Payload bytes: the kernel's byte counters count sequence space, which
 * includes our SYN (acked once established) and each FIN. */
static __always_inline __u64 sockops4_payload(__u64 seq_bytes, __u64 control)
{
	return seq_bytes > control ? seq_bytes - control : 0;
}

static __always_inline void sockops4_count_end(struct ep_counters *cnt, __u32 end)
{
	switch (end) {
	case BPFMESH_END_FAIL_REFUSED:
		health4_count(&cnt->fail_refused);
		break;
	case BPFMESH_END_FAIL_TIMEOUT:
		health4_count(&cnt->fail_timeout);
		break;
	case BPFMESH_END_FAIL_RESET:
		health4_count(&cnt->fail_reset);
		break;
	case BPFMESH_END_FAIL_OTHER:
		health4_count(&cnt->fail_other);
		break;
	case BPFMESH_END_RESET:
		health4_count(&cnt->reset);
		break;
	case BPFMESH_END_ABORTED:
		health4_count(&cnt->aborted);
		break;
	}
}

/* One connection's end on a set of counters: the endpoint's, then the
 * source's (bpf/lib/stats_src.h). */
static __always_inline void sockops4_count_close(struct ep_counters *cnt, __u32 end,
						 int established, __u64 sent, __u64 received)
{
	health4_count(&cnt->closed);
	sockops4_count_end(cnt, end);
	if (!established)
		return;
	__sync_fetch_and_add(&cnt->bytes_sent, sent);
	__sync_fetch_and_add(&cnt->bytes_received, received);
}

static __always_inline void sockops4_on_close(struct bpf_sock_ops *skops, struct sock_conn *c)
{
	struct sockops4_end info;
	struct ep_counters *cnt;
	struct cluster_hists *hs;
	__u64 now, sent, received;
	int established;
	__u32 end;

	if (!(c->flags & BPFMESH_CONN_F_OPENED) || (c->flags & BPFMESH_CONN_F_CLOSED))
		return;
	cnt = health4_counters(c->ep_slot);
	if (!cnt)
		return;
	now = bpf_ktime_get_ns();
	c->flags |= BPFMESH_CONN_F_CLOSED;
	lb4_conn_closed(c->ep_slot);
	established = !!(c->flags & BPFMESH_CONN_F_ESTABLISHED);
	sockops4_read_end(skops, &info);
	end = bpfmesh_conn_end(established, info.sk_err);
	sent = sockops4_payload(skops->bytes_acked, 1 + info.fin_acked);
	received = sockops4_payload(skops->bytes_received, info.fin_received);
	sockops4_count_close(cnt, end, established, sent, received);
	cnt = src_counters(c);
	if (cnt)
		sockops4_count_close(cnt, end, established, sent, received);
	if (!established) {
		if (bpfmesh_outlier_is_failure(end))
			health4_on_failure(c->ep_slot, now);
		return;
	}
	hs = health4_hists(c->cluster_slot);
	if (!hs)
		return;
	/* srtt_us holds the smoothed RTT in 1/8 microseconds. */
	health4_hist_add(&hs->rtt_us, skops->srtt_us >> 3);
	health4_hist_add(&hs->duration_ms, (now - c->start_ns) / 1000000);
}

struct sweep_ctx {
	__u64 now;
	__u32 first_slot;
	__u32 returned;
	__u32 ejected;
};

static long sweep4_one(__u32 i, void *data)
{
	struct sweep_ctx *sw = data;

	switch (health4_service_state(sw->first_slot + i, sw->now)) {
	case HEALTH4_RETURNED:
		sw->returned++;
		break;
	case HEALTH4_EJECTED:
		sw->ejected++;
		break;
	}
	return 0;
}

/* Return the endpoints of a slot range whose ejection has ended (each
 * return still happens once: health4_try_return's cmpxchg), and report a
 * cluster's panic state. Run by the agent (BPF_PROG_TEST_RUN). */
static __always_inline int sweep4_run(struct health_sweep_args *args)
{
	struct sweep_ctx sw = { .now = bpf_ktime_get_ns(), .first_slot = args->first_slot };
	__u32 n = args->n_slots;

	if (n > BPFMESH_SWEEP_MAX_SLOTS)
		n = BPFMESH_SWEEP_MAX_SLOTS;
	bpf_loop(n, sweep4_one, &sw, 0);
	args->returned = sw.returned;
	args->ejected = sw.ejected;
	args->in_panic = health4_cluster_is_in_panic(args->cluster_slot);
	return 0;
}

SEC("syscall")
int bpfmesh_health_sweep(struct health_sweep_args *args)
{
	return sweep4_run(args);
}

/* A placed socket asks at its connect for its state change to TCP_CLOSE
 * (counting, the connection pool's release, sockmap's pending entry), and
 * nothing else does: the flag then marks, at ACTIVE_ESTABLISHED, the
 * sockets worth a storage lookup, read from the context for free
 * (bpf/sockmap.bpf.c reads it too). An active socket starts with no flags
 * (only an accepted one copies its listener's). */
static __always_inline void sockops4_want_close(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops,
				  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline int sockops4_placed_at_connect(struct bpf_sock_ops *skops)
{
	return skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_STATE_CB_FLAG;
}

/* Each callback looks the socket's placement up once, and a socket
 * connect4 did not place (a direct connection) costs that lookup only at
 * its connect, and a flag test at its established:
 * counting (above) and the connection pool (bpf/lib/connpool.h) share it.
 * A socket counted against a limit is a placed one. The other callbacks
 * (timeout, window and ECN init, and every state change but the one to
 * TCP_CLOSE) return at the switch. */
SEC("sockops")
int bpfmesh_sockops(struct bpf_sock_ops *skops)
{
	struct sock_conn *c, *r;
	struct bpf_sock *sk;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		c = sockops4_conn(skops);
		if (!c)
			break;
		sockops4_want_close(skops);
		sockops4_on_connect(skops, c);
		connpool4_on_connect(skops, c->cluster_slot);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		if (!sockops4_placed_at_connect(skops))
			break; /* a direct connection: no helper call */
		c = sockops4_conn(skops);
		if (!c)
			break;
		sockops4_on_established(skops, c);
		connpool4_on_established(skops, c->cluster_slot);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != BPF_TCP_CLOSE)
			break;
		/* One lookup for both: the pool's mark is released from any
		 * record that holds one, placed or not. */
		sk = skops->sk;
		r = sk ? sock_conn_get(sk) : NULL;
		c = sockops4_placed(r);
		if (c)
			sockops4_on_close(skops, c);
		connpool4_release_conn(r);
		break;
	}
	return SOCKOPS_OK;
}

/* A socket closed by the application: one counted against a limit whose
 * state never changed to TCP_CLOSE (its connect failed before the SYN)
 * stops counting now; a UDP socket's flow is closed (lib/udp_flow.h). Never refuses (the kernel ignores the verdict). */
SEC("cgroup/sock_release")
int bpfmesh_sock_release(struct bpf_sock *sk)
{
	connpool4_release(sk);
	udp_flow_release(sk);
	return 1;
}
