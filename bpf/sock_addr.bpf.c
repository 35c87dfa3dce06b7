// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Connect-time load balancing on the cgroup sock_addr hooks.
 *
 * cgroup/connect4: a TCP connect() to a service VIP:port is rewritten to one
 * endpoint, chosen by the compiled route (weighted destinations) and the
 * destination's backend set (weighted endpoints), skipping ejected
 * endpoints (bpf/lib/lb.h). Anything else passes untouched. Fails closed
 * for services: a destination with no usable endpoint, or a set the value
 * names but the map lacks, refuses the connect with ECONNREFUSED at once
 * rather than letting it hang on the VIP; the refusal is counted on the
 * destination's cluster slot as no healthy upstream (Istio UH).
 *
 * The placed connection is remembered in its record (struct sock_conn, one
 * socket storage: bpf/lib/sock_conn.h): the VIP for getpeername4, the
 * endpoint and cluster slots for the sockops program (bpf/sockops.bpf.c)
 * that counts its outcome, the connection pool's mark and the caller's
 * identity.
 *
 * cgroup/getpeername4: reports the VIP, not the endpoint, to the application.
 * A connected UDP socket is placed by connect4/6 the same way.
 *
 * cgroup/connect6 and getpeername6: the same for IPv6 services (an IPv6 VIP
 * reaches the service's IPv6 endpoints). An IPv4-mapped destination
 * (::ffff:a.b.c.d, RFC 4291 2.5.5.2) on a dual-stack socket is IPv4 to the
 * kernel (tcp_v6_connect hands it to tcp_v4_connect, and connect4 never
 * runs for it): it is looked up as the IPv4 service and the endpoint is
 * written back mapped.
 */
#include "lib/common.h"
/* These hooks run in the caller's context: its cgroup is the hash key of
 * an unbound socket (lb4_hash_key, lib/lb_algo.h). */
#define LB4_CALLER_CGROUP_ID() bpf_get_current_cgroup_id()
#include "lib/lb.h"
#include "lib/connpool.h"
#include "lib/locality_maps.h"
#include "lib/svc.h"
#include "lib/names_maps.h"
#include "lib/stats.h"
#include "lib/udp_flow.h"
#include "lib/stats_src.h"
#include "lib/sock_conn.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Refuse the connect now: ECONNREFUSED, as a closed port would. */
static __always_inline int lb4_refuse(__u32 verdict, const struct svc_dest *dest)
{
	lb4_count_verdict(verdict);
	if (dest)
		health4_count_no_healthy(dest->cluster_slot);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

/* Refuse the connect now: over the cluster's maxConnections (Istio UO).
 * Counted on the cluster only: a node verdict would grow the pinned
 * verdicts array, which an agent upgrade re-adopts at its old size. */
static __always_inline int lb4_refuse_overflow(const struct svc_dest *dest)
{
	health4_count_overflow(dest->cluster_slot);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

/* consistentHash useSourceIp key: the socket's bound source address (an
 * IPv6 one folded to 32 bits; a mapped one is its IPv4 address), else the
 * caller's cgroup (lbpolicy.h bpfmesh_lb_hash_key), which lb4_pick reads
 * only for a policy that hashes (LB4_HASH_KEY_CALLER, lib/lb.h). */
static __always_inline __u64 lb_hash_key(const struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 src = 0;

	if (sk && ctx->family == BPFMESH_AF_INET)
		src = sk->src_ip4;
	else if (sk && sk->src_ip6[0] == 0 && sk->src_ip6[1] == 0 &&
		 sk->src_ip6[2] == bpf_htonl(0xffff))
		src = sk->src_ip6[3];
	else if (sk)
		src = sk->src_ip6[0] ^ sk->src_ip6[1] ^ sk->src_ip6[2] ^ sk->src_ip6[3];
	return src ? bpfmesh_lb_hash_key(src, 0) : LB4_HASH_KEY_CALLER;
}

/* A UDP flow has no handshake: placed is opened and established at once,
 * so the Istio metrics (opened = established + aborted) count it;
 * lib/udp_flow.h counts it closed. */
static __always_inline void udp_count_flow(const struct sock_conn *c)
{
	struct ep_counters *cnt = health4_counters(c->ep_slot), *src;

	if (!cnt)
		return;
	health4_count(&cnt->opened);
	health4_count(&cnt->established);
	src = src_counters(c); /* after the slot: stats_src.h */
	if (src) {
		health4_count(&src->opened);
		health4_count(&src->established);
	}
}

/* Who placed this connection (its caller's identity, from the cache of
 * svc_caller_identity, the same identity the walk gives), for counting by
 * source: the identity to keep in the record (0: unknown). A global
 * function: verified once on its own, rather than its branches multiplying
 * the paths of every connect/sendmsg program (the verifier takes ctx, not
 * the record, as a global's argument: the caller writes it). */
__noinline int lb_remember_source(struct bpf_sock_addr *ctx, __u32 ep_slot)
{
	if (!ctx)
		return 0;
	return (int)src_enter(ep_slot, svc_caller_identity());
}

/* Where a placement sends the connection: the endpoint to write into the
 * context, by value (global functions answer through memory, not pointers
 * to map entries). */
struct lb_target {
	__be32 addr[4]; /* IPv4 in addr[0] */
	__be16 port;
	__u16 placed;   /* 0: leave the context as it is */
	__u32 pad;
};

/* The placement of a connection of this socket into its record: the
 * endpoint, the set, the source (for counting by source), and the IPv6 VIP
 * for getpeername6 and recvmsg6 (an IPv4 one, mapped or not, is in
 * vip_addr). */
static __always_inline void lb_remember(struct bpf_sock_addr *ctx, const struct svc_key *key,
					const struct svc_val *svc, const struct svc_dest *dest,
					const struct backend_val *be, struct sock_conn *conn)
{
	if (svc->flags & BPFMESH_SVC_F_NO_SOCKMAP)
		conn->flags |= BPFMESH_CONN_F_NO_SOCKMAP;
	__builtin_memcpy(conn->ep_addr, be->addr, sizeof(conn->ep_addr));
	conn->ep_port = be->port;
	conn->proto = key->proto;
	conn->set_id = dest->set_id;
	conn->identity = (__u32)lb_remember_source(ctx, be->slot);
	/* sockops sees TCP only: a UDP placement (a socket's flow to its
	 * endpoint) is counted as opened here. */
	if (key->proto == BPFMESH_PROTO_UDP)
		udp_count_flow(conn);
	if (key->family == BPFMESH_AF_INET6) {
		conn->flags |= BPFMESH_CONN_F_VIP6;
		__builtin_memcpy(conn->vip6, key->addr, sizeof(conn->vip6));
	}
}

/* Place the connection on an endpoint of svc's route (*out, placed when
 * the context is to be rewritten); returns the hook's verdict. The
 * placement (VIP, endpoint, set, slots) goes into the socket's record. A
 * PASSTHROUGH loadBalancer leaves the address asked for (SOCK_ALLOW, not
 * placed); a TCP connect over its cluster's maxConnections is refused at
 * once. A global function, shared by connect4/6 and sendmsg4/6: the
 * verifier checks it once per program, not along each path of the service
 * lookup and the UDP socket's own placement that lead to it; its caller
 * turns the scalar it returns back into a verdict (lb_verdict). */
__noinline int lb_place(struct bpf_sock_addr *ctx, const struct svc_key *key,
			const struct svc_val *svc, struct lb_target *out)
{
	const struct svc_dest *dest;
	struct sock_conn *conn;
	struct lb4_pick pick;

	if (!ctx || !key || !svc || !out)
		return SOCK_ALLOW; /* never: every caller passes all */
	out->placed = 0;
	if (lb4_pick(svc, lb_hash_key(ctx), 1, &pick))
		return SOCK_ALLOW;
	if (pick.verdict == BPFMESH_V_PASSTHROUGH) { /* loadBalancer PASSTHROUGH */
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH);
		return SOCK_ALLOW;
	}
	dest = lb4_pick_dest(svc, &pick);
	if (pick.verdict != BPFMESH_V_REDIRECTED || !dest)
		return lb4_refuse(pick.verdict, dest);
	/* The one allocation of the connection, which the pool's mark needs. */
	conn = sock_conn_new(ctx->sk);
	/* connectionPool.tcp: TCP only (sockops releases what it counts). */
	if (key->proto == BPFMESH_PROTO_TCP &&
	    connpool4_admit(conn, dest->cluster_slot) == CONNPOOL4_OVERFLOW) {
		sock_conn_unplace(conn); /* refused: nothing to show or count */
		return lb4_refuse_overflow(dest);
	}
	if (!conn) {
		lb4_count_verdict(BPFMESH_V_NO_SOCK_STORAGE);
	} else {
		health4_place_conn(conn, key->addr[0], key->port, pick.be.slot,
				   dest->cluster_slot);
		lb_remember(ctx, key, svc, dest, &pick.be, conn);
	}
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	__builtin_memcpy(out->addr, pick.be.addr, sizeof(out->addr));
	out->port = pick.be.port;
	out->placed = 1;
	return SOCK_ALLOW;
}

/* The hook's verdict from a global function's answer: a scalar the
 * verifier knows nothing of, while a sock_addr program must return 0 or 1.
 * The compiler knows lb_place answers only those and would drop the test:
 * the empty asm hides the value from it. */
static __always_inline int lb_verdict(int ret)
{
	asm volatile("" : "+r"(ret));
	return ret == SOCK_DENY ? SOCK_DENY : SOCK_ALLOW;
}

/* The route of key, then lb_place(); a destination that is no service
 * passes untouched (not placed). */
static __always_inline int lb_route(struct bpf_sock_addr *ctx, const struct svc_key *key,
				    struct lb_target *out)
{
	const struct svc_val *svc = svc_find_for_caller(key);

	out->placed = 0;
	if (!svc) {
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH);
		return SOCK_ALLOW;
	}
	return lb_verdict(lb_place(ctx, key, svc, out));
}

/* TCP, and UDP (connected UDP sockets: connect4/6), are balanced. */
static __always_inline int lb_is_balanced_proto(__u32 proto)
{
	return proto == BPFMESH_PROTO_TCP || proto == BPFMESH_PROTO_UDP;
}

static __always_inline int lb4_connect(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct lb_target t;
	int ret;

	if (!lb_is_balanced_proto(ctx->protocol))
		return SOCK_ALLOW;
	key.addr[0] = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = (__u8)ctx->protocol;
	key.family = BPFMESH_AF_INET;

	ret = lb_route(ctx, &key, &t);
	if (t.placed) {
		ctx->user_ip4 = t.addr[0];
		ctx->user_port = t.port;
	}
	return ret;
}

SEC("cgroup/connect4")
int bpfmesh_connect4(struct bpf_sock_addr *ctx)
{
	return lb4_connect(ctx);
}

/* The VIP the application connected to, from the socket's storage. */
SEC("cgroup/getpeername4")
int bpfmesh_getpeername4(struct bpf_sock_addr *ctx)
{
	struct sock_conn *c = sock_conn_get(ctx->sk);

	if (sock_conn_has_vip(c)) {
		ctx->user_ip4 = c->vip_addr;
		ctx->user_port = c->vip_port;
	}
	return SOCK_ALLOW;
}

/* ::ffff:0:0/96 */
static __always_inline int lb6_is_v4_mapped(const struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 &&
	       ctx->user_ip6[2] == bpf_htonl(0xffff);
}

/* The service key of an IPv6 destination: IPv4 when it is mapped. */
static __always_inline void lb6_key(const struct bpf_sock_addr *ctx, struct svc_key *key, int mapped)
{
	key->port = (__be16)ctx->user_port;
	key->proto = (__u8)ctx->protocol;
	if (mapped) {
		key->family = BPFMESH_AF_INET;
		key->addr[0] = ctx->user_ip6[3];
		return;
	}
	key->family = BPFMESH_AF_INET6;
	key->addr[0] = ctx->user_ip6[0];
	key->addr[1] = ctx->user_ip6[1];
	key->addr[2] = ctx->user_ip6[2];
	key->addr[3] = ctx->user_ip6[3];
}

/* Write the endpoint into the context (mapped when the VIP was). */
static __always_inline void lb6_rewrite(struct bpf_sock_addr *ctx, const struct lb_target *t,
					int mapped)
{
	ctx->user_port = t->port;
	if (mapped) {
		ctx->user_ip6[3] = t->addr[0];
		return;
	}
	ctx->user_ip6[0] = t->addr[0];
	ctx->user_ip6[1] = t->addr[1];
	ctx->user_ip6[2] = t->addr[2];
	ctx->user_ip6[3] = t->addr[3];
}

static __always_inline int lb6_connect(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct lb_target t;
	int ret, mapped;

	if (!lb_is_balanced_proto(ctx->protocol))
		return SOCK_ALLOW;
	mapped = lb6_is_v4_mapped(ctx);
	lb6_key(ctx, &key, mapped);
	ret = lb_route(ctx, &key, &t);
	if (t.placed)
		lb6_rewrite(ctx, &t, mapped);
	return ret;
}

SEC("cgroup/connect6")
int bpfmesh_connect6(struct bpf_sock_addr *ctx)
{
	return lb6_connect(ctx);
}

/* The VIP the application connected to: IPv6, or IPv4 shown mapped. */
SEC("cgroup/getpeername6")
int bpfmesh_getpeername6(struct bpf_sock_addr *ctx)
{
	struct sock_conn *c = sock_conn_get(ctx->sk);

	if (!sock_conn_has_vip(c))
		return SOCK_ALLOW;
	if (c->flags & BPFMESH_CONN_F_VIP6) {
		ctx->user_ip6[0] = c->vip6[0];
		ctx->user_ip6[1] = c->vip6[1];
		ctx->user_ip6[2] = c->vip6[2];
		ctx->user_ip6[3] = c->vip6[3];
	} else {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = c->vip_addr;
	}
	ctx->user_port = c->vip_port;
	return SOCK_ALLOW;
}

/*
 * Unconnected UDP: cgroup/sendmsg4/6 translate a datagram sent to a UDP
 * service VIP:port like a connect, and cgroup/recvmsg4/6 show the replies
 * as coming from the VIP. The socket's storage holds the placement, so one
 * socket keeps its endpoint for as long as it lives: later datagrams to the
 * same VIP go to the same endpoint while the route still names the backend
 * set it came from (sets are immutable: the endpoint is still in the
 * policy) and the endpoint is not ejected; otherwise a new one is drawn.
 * The storage holds one placement: a socket that alternates between two
 * VIPs draws again on each change. A datagram to a mapped address on an
 * IPv6 socket reaches sendmsg4 (udpv6_sendmsg hands it to udp_sendmsg),
 * its reply recvmsg6 (mapped).
 */

/* The placement in conn is for this VIP (key) and may still be used. */
static __always_inline int udp_sticks(const struct sock_conn *conn, const struct svc_key *key,
				      const struct svc_val *svc)
{
	int d, routed = 0;

	if (!conn || conn->proto != BPFMESH_PROTO_UDP || conn->vip_port != key->port)
		return 0;
	if (key->family == BPFMESH_AF_INET6) {
		if (!(conn->flags & BPFMESH_CONN_F_VIP6) || conn->vip6[0] != key->addr[0] ||
		    conn->vip6[1] != key->addr[1] || conn->vip6[2] != key->addr[2] ||
		    conn->vip6[3] != key->addr[3])
			return 0;
	} else if ((conn->flags & BPFMESH_CONN_F_VIP6) || conn->vip_addr != key->addr[0]) {
		return 0;
	}
	for (d = 0; d < BPFMESH_MAX_DESTS; d++)
		if (d < svc->n_dests && svc->dests[d].set_id == conn->set_id)
			routed = 1;
	return routed && lb4_slot_usable(conn->ep_slot, bpf_ktime_get_ns());
}

/* The UDP service behind key, and the endpoint this socket keeps or gets
 * (*out), or SOCK_ALLOW not placed (not a service), or the refusal. */
static __always_inline int udp_route(struct bpf_sock_addr *ctx, const struct svc_key *key,
				     struct lb_target *out)
{
	const struct svc_val *svc = svc_find_for_caller(key);
	/* ctx->sk read once: the verifier refuses a load through a ctx
	 * pointer the compiler offset to share between two reads. */
	struct bpf_sock *sk = ctx->sk;
	struct sock_conn *conn;

	out->placed = 0;
	if (!svc || !sk)
		return SOCK_ALLOW; /* every datagram passes here: not counted */
	conn = sock_conn_get(sk);
	if (udp_sticks(conn, key, svc)) {
		__builtin_memcpy(out->addr, conn->ep_addr, sizeof(out->addr));
		out->port = conn->ep_port;
		out->placed = 1;
		return SOCK_ALLOW;
	}
	udp_flow_end(conn); /* moving on: the old flow is closed (udp_flow.h) */
	return lb_verdict(lb_place(ctx, key, svc, out));
}

static __always_inline int udp4_sendmsg(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct lb_target t;
	int ret;

	if (ctx->protocol != BPFMESH_PROTO_UDP)
		return SOCK_ALLOW;
	key.addr[0] = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = BPFMESH_PROTO_UDP;
	key.family = BPFMESH_AF_INET;
	ret = udp_route(ctx, &key, &t);
	if (t.placed) {
		ctx->user_ip4 = t.addr[0];
		ctx->user_port = t.port;
	}
	return ret;
}

static __always_inline int udp6_sendmsg(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct lb_target t;
	int ret;

	/* A mapped destination went to sendmsg4 (see above). */
	if (ctx->protocol != BPFMESH_PROTO_UDP || lb6_is_v4_mapped(ctx))
		return SOCK_ALLOW;
	lb6_key(ctx, &key, 0);
	ret = udp_route(ctx, &key, &t);
	if (t.placed)
		lb6_rewrite(ctx, &t, 0);
	return ret;
}

/* The UDP placement of the receiving socket, or NULL. */
static __always_inline const struct sock_conn *udp_conn(const struct bpf_sock_addr *ctx)
{
	const struct sock_conn *conn = sock_conn_get(ctx->sk);

	return conn && conn->proto == BPFMESH_PROTO_UDP ? conn : NULL;
}

SEC("cgroup/sendmsg4")
int bpfmesh_sendmsg4(struct bpf_sock_addr *ctx)
{
	return udp4_sendmsg(ctx);
}

SEC("cgroup/sendmsg6")
int bpfmesh_sendmsg6(struct bpf_sock_addr *ctx)
{
	return udp6_sendmsg(ctx);
}

/* A datagram from the socket's endpoint: show it as from the VIP. */
SEC("cgroup/recvmsg4")
int bpfmesh_recvmsg4(struct bpf_sock_addr *ctx)
{
	const struct sock_conn *conn = udp_conn(ctx);

	if (conn && !(conn->flags & BPFMESH_CONN_F_VIP6) && ctx->user_ip4 == conn->ep_addr[0] &&
	    (__be16)ctx->user_port == conn->ep_port) {
		ctx->user_ip4 = conn->vip_addr;
		ctx->user_port = conn->vip_port;
	}
	return SOCK_ALLOW;
}

SEC("cgroup/recvmsg6")
int bpfmesh_recvmsg6(struct bpf_sock_addr *ctx)
{
	const struct sock_conn *conn = udp_conn(ctx);

	if (!conn || (__be16)ctx->user_port != conn->ep_port)
		return SOCK_ALLOW;
	if (conn->flags & BPFMESH_CONN_F_VIP6) {
		if (ctx->user_ip6[0] != conn->ep_addr[0] || ctx->user_ip6[1] != conn->ep_addr[1] ||
		    ctx->user_ip6[2] != conn->ep_addr[2] || ctx->user_ip6[3] != conn->ep_addr[3])
			return SOCK_ALLOW;
		ctx->user_ip6[0] = conn->vip6[0];
		ctx->user_ip6[1] = conn->vip6[1];
		ctx->user_ip6[2] = conn->vip6[2];
		ctx->user_ip6[3] = conn->vip6[3];
	} else {
		if (!lb6_is_v4_mapped(ctx) || ctx->user_ip6[3] != conn->ep_addr[0])
			return SOCK_ALLOW;
		ctx->user_ip6[3] = conn->vip_addr;
	}
	ctx->user_port = conn->vip_port;
	return SOCK_ALLOW;
}
