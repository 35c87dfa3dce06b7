/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SOCKMAP_H
#define BPFMESH_SOCKMAP_H
/* Helpers of same-node acceleration (bpf/sockmap.bpf.c). */
#include "lib/health.h"
#include "lib/sockmap_maps.h"
#include <bpf/bpf_endian.h>

#define BPFMESH_AF_INET_SK 2   /* AF_INET */
#define BPFMESH_AF_INET6_SK 10 /* AF_INET6 */

static __always_inline void sockmap4_stat(__u32 idx, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&bpfmesh_sockmap4_stats_v1, &idx);

	if (c)
		__sync_fetch_and_add(c, v);
}

static __always_inline int sockmap4_disabled(void)
{
	__u32 zero = 0;
	struct sockmap_cfg *cfg = bpf_map_lookup_elem(&bpfmesh_sockmap4_cfg_v1, &zero);

	return cfg && cfg->disabled;
}

/* Ports come as the context gives them: local in host order, remote in
 * network order in a 32-bit field (both sockops and sk_msg). */
static __always_inline void sockmap4_key(struct sockmap_key *k, __be32 local_ip4,
					 __be32 remote_ip4, __u32 local_port,
					 __u32 remote_port_ctx)
{
	k->local_ip4 = local_ip4;
	k->remote_ip4 = remote_ip4;
	k->local_port = local_port;
	k->remote_port = bpf_ntohl(remote_port_ctx);
}

/* The peer's key: the same connection seen from the other end. */
static __always_inline void sockmap4_peer_key(struct sockmap_key *peer,
					      const struct sockmap_key *own)
{
	peer->local_ip4 = own->remote_ip4;
	peer->remote_ip4 = own->local_ip4;
	peer->local_port = own->remote_port;
	peer->remote_port = own->local_port;
}

/* One end's key, in the SOCKHASH of its connection's family
 * (sockmap_abi.h: families). */
struct sockmap_end {
	struct sockmap_key k4;
	struct sockmap6_key k6;
	__u32 v6; /* 1: an IPv6 connection, keyed by k6; 0: IPv4, k4 */
};

/* ::ffff:0:0/96 (RFC 4291 2.5.5.2): a dual-stack socket's IPv4 connection. */
static __always_inline int sockmap_is_v4_mapped(const __be32 *ip6)
{
	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0xffff);
}

/* The end's key from its addresses and ports. An IPv4-mapped end of an
 * AF_INET6 socket is keyed as IPv4, from the low word of its addresses, so
 * it matches a peer on an AF_INET socket. */
static __always_inline void sockmap_end_key(struct sockmap_end *e, __u32 family,
					    const __be32 *l, const __be32 *r, __be32 local4,
					    __be32 remote4, __u32 local_port,
					    __u32 remote_port_ctx)
{
	int i;

	e->v6 = 0;
	if (family != BPFMESH_AF_INET6_SK) {
		sockmap4_key(&e->k4, local4, remote4, local_port, remote_port_ctx);
		return;
	}
	if (sockmap_is_v4_mapped(l)) {
		sockmap4_key(&e->k4, l[3], r[3], local_port, remote_port_ctx);
		return;
	}
	e->v6 = 1;
	for (i = 0; i < 4; i++) {
		e->k6.local_ip6[i] = l[i];
		e->k6.remote_ip6[i] = r[i];
	}
	e->k6.local_port = local_port;
	e->k6.remote_port = bpf_ntohl(remote_port_ctx);
}

/* The same from a context (sockops or sk_msg: the same field names). Each
 * word is read on its own, at a constant offset: the verifier refuses a
 * load through a ctx pointer moved by arithmetic, and reads of
 * local_ip6[]/remote_ip6[] other than 4 bytes wide. */
#define sockmap_ctx_end(e, ctx)                                                         \
	({                                                                              \
		__be32 _l[4] = { (ctx)->local_ip6[0], (ctx)->local_ip6[1],             \
				 (ctx)->local_ip6[2], (ctx)->local_ip6[3] };           \
		__be32 _r[4] = { (ctx)->remote_ip6[0], (ctx)->remote_ip6[1],           \
				 (ctx)->remote_ip6[2], (ctx)->remote_ip6[3] };         \
		sockmap_end_key(e, (ctx)->family, _l, _r, (ctx)->local_ip4,            \
				(ctx)->remote_ip4, (ctx)->local_port, (ctx)->remote_port); \
	})

/* The peer's key: the same connection seen from the other end. */
static __always_inline void sockmap_end_peer(struct sockmap_end *peer, const struct sockmap_end *own)
{
	int i;

	peer->v6 = own->v6;
	if (!own->v6) {
		sockmap4_peer_key(&peer->k4, &own->k4);
		return;
	}
	for (i = 0; i < 4; i++) {
		peer->k6.local_ip6[i] = own->k6.remote_ip6[i];
		peer->k6.remote_ip6[i] = own->k6.local_ip6[i];
	}
	peer->k6.local_port = own->k6.remote_port;
	peer->k6.remote_port = own->k6.local_port;
}

/* A client end waits for its accepting end: key -> endpoint slot. */
static __always_inline int sockmap_pending_put(const struct sockmap_end *e, __u32 slot)
{
	if (e->v6)
		return bpf_map_update_elem(&bpfmesh_sockmap6_pending_v1, &e->k6, &slot, BPF_ANY);
	return bpf_map_update_elem(&bpfmesh_sockmap4_pending_v1, &e->k4, &slot, BPF_ANY);
}

/* 0 when e was pending, or the helper's error (-ENOENT: it was not). */
static __always_inline long sockmap_pending_del(const struct sockmap_end *e)
{
	if (e->v6)
		return bpf_map_delete_elem(&bpfmesh_sockmap6_pending_v1, &e->k6);
	return bpf_map_delete_elem(&bpfmesh_sockmap4_pending_v1, &e->k4);
}

/* The waiting client end e, taken out of the pending map: 0 and its slot,
 * or -1 when none waits (its client is not local, managed and inserted). */
static __always_inline int sockmap_pending_take(const struct sockmap_end *e, __u32 *slot)
{
	__u32 *v;

	if (e->v6)
		v = bpf_map_lookup_elem(&bpfmesh_sockmap6_pending_v1, &e->k6);
	else
		v = bpf_map_lookup_elem(&bpfmesh_sockmap4_pending_v1, &e->k4);
	if (!v)
		return -1;
	*slot = *v;
	sockmap_pending_del(e);
	return 0;
}

/* Put the end in its family's SOCKHASH: 0, or the helper's error. */
static __always_inline long sockmap_hash_update(struct bpf_sock_ops *skops,
						struct sockmap_end *e)
{
	if (e->v6)
		return bpf_sock_hash_update(skops, &bpfmesh_sockmap6_socks_v1, &e->k6, BPF_ANY);
	return bpf_sock_hash_update(skops, &bpfmesh_sockmap4_socks_v1, &e->k4, BPF_ANY);
}

/* Move the message to the peer's receive queue: SK_PASS when the peer is
 * in its family's SOCKHASH. */
static __always_inline long sockmap_redirect(struct sk_msg_md *msg, struct sockmap_end *peer)
{
	if (peer->v6)
		return bpf_msg_redirect_hash(msg, &bpfmesh_sockmap6_socks_v1, &peer->k6,
					     BPF_F_INGRESS);
	return bpf_msg_redirect_hash(msg, &bpfmesh_sockmap4_socks_v1, &peer->k4, BPF_F_INGRESS);
}

/* Redirected bytes to the endpoint slot's counters, in the direction the
 * end sends: client to server is bytes_sent, server to client
 * bytes_received (the fields sockops fills from TCP at close; TCP never
 * acknowledges these bytes, so nothing is counted twice). */
static __always_inline void sockmap4_count_bytes(const struct sockmap_sock *s, __u64 bytes)
{
	struct ep_counters *cnt = health4_counters(s->ep_slot);

	if (!cnt)
		return;
	if (s->flags & BPFMESH_SOCKMAP_F_CLIENT)
		__sync_fetch_and_add(&cnt->bytes_sent, bytes);
	else
		__sync_fetch_and_add(&cnt->bytes_received, bytes);
}

/* The registry key of an end's own address:port (local) or its peer's
 * (remote): IPv4 kept IPv4-mapped (sockmap_abi.h: sockmap_listen_key). */
static __always_inline void sockmap_listen_key(struct sockmap_listen_key *k,
					       const struct sockmap_end *e, int remote)
{
	int i;

	if (e->v6) {
		for (i = 0; i < 4; i++)
			k->ip6[i] = remote ? e->k6.remote_ip6[i] : e->k6.local_ip6[i];
		k->port = remote ? e->k6.remote_port : e->k6.local_port;
		return;
	}
	k->ip6[0] = 0;
	k->ip6[1] = 0;
	k->ip6[2] = bpf_htonl(0xffff);
	k->ip6[3] = remote ? e->k4.remote_ip4 : e->k4.local_ip4;
	k->port = remote ? e->k4.remote_port : e->k4.local_port;
}

static __always_inline int sockmap_listen_known(const struct sockmap_listen_key *k)
{
	return bpf_map_lookup_elem(&bpfmesh_sockmap_listen_v1, k) != NULL;
}

/* 127.0.0.0/8 (mapped) or ::1: an endpoint a listener bound to the any
 * address of this node's namespace serves. */
static __always_inline int sockmap_is_loopback(const struct sockmap_listen_key *k)
{
	if (k->ip6[0] || k->ip6[1])
		return 0;
	if (k->ip6[2] == bpf_htonl(0xffff))
		return (bpf_ntohl(k->ip6[3]) >> 24) == 127;
	return !k->ip6[2] && k->ip6[3] == bpf_htonl(1);
}

/* Is the client end e's endpoint (its remote address:port) a managed
 * listener of this node? Its exact address, learned or bound; for a
 * loopback endpoint also a listener on the any address: ::ffff:0.0.0.0
 * (IPv4), and :: (AF_INET6 sockets, which accept IPv4 too unless
 * IPV6_V6ONLY: a V6ONLY one only costs a client inserted for nothing). */
static __always_inline int sockmap_endpoint_listens(const struct sockmap_end *e)
{
	struct sockmap_listen_key k;

	sockmap_listen_key(&k, e, 1);
	if (sockmap_listen_known(&k))
		return 1;
	if (!sockmap_is_loopback(&k))
		return 0;
	k.ip6[3] = 0;
	if (!e->v6 && sockmap_listen_known(&k))
		return 1;
	k.ip6[2] = 0;
	return sockmap_listen_known(&k);
}

/* A managed socket listens on its bound address:port: one more listener
 * there. 0, or -1 when the registry is full (nothing to take back at its
 * close). */
static __always_inline int sockmap_listen_add(const struct sockmap_end *e)
{
	struct sockmap_listen_key k;
	__u64 one = 1, *n;

	sockmap_listen_key(&k, e, 0);
	n = bpf_map_lookup_elem(&bpfmesh_sockmap_listen_v1, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	if (!bpf_map_update_elem(&bpfmesh_sockmap_listen_v1, &k, &one, BPF_NOEXIST))
		return 0;
	n = bpf_map_lookup_elem(&bpfmesh_sockmap_listen_v1, &k); /* another CPU added it */
	if (!n)
		return -1;
	__sync_fetch_and_add(n, 1);
	return 0;
}

/* A registered listener closes: one fewer there, and the address leaves the
 * registry with its last listener (a learned entry, 0, leaves with it). A
 * listener added on another CPU between the count's fall to 0 and the delete
 * loses its entry: it is learned again from its first accepted end. */
static __always_inline void sockmap_listen_del(const struct sockmap_end *e)
{
	struct sockmap_listen_key k;
	__u64 *n;

	sockmap_listen_key(&k, e, 0);
	n = bpf_map_lookup_elem(&bpfmesh_sockmap_listen_v1, &k);
	if (!n)
		return;
	if (!READ_ONCE(*n) || __sync_fetch_and_add(n, -1) == 1)
		bpf_map_delete_elem(&bpfmesh_sockmap_listen_v1, &k);
}

/* An end accepted in a managed cgroup: the address:port it was reached at
 * serves managed listeners (one bound to the any address, or one that
 * listened before the agent). Learned as 0 listeners; kept until a client
 * inserted for it is never taken (sockmap_listen_forget). */
static __always_inline void sockmap_listen_learn(const struct sockmap_end *e)
{
	struct sockmap_listen_key k;
	__u64 zero = 0;

	sockmap_listen_key(&k, e, 0);
	if (!sockmap_listen_known(&k))
		bpf_map_update_elem(&bpfmesh_sockmap_listen_v1, &k, &zero, BPF_NOEXIST);
}

/* The client end e closed still pending: its endpoint took no managed
 * accepting end, so a learned entry for it was wrong (the listener left):
 * forgotten. Bound listeners (count > 0) stay until they close. */
static __always_inline void sockmap_listen_forget(const struct sockmap_end *e)
{
	struct sockmap_listen_key k;
	__u64 *n;

	sockmap_listen_key(&k, e, 1);
	n = bpf_map_lookup_elem(&bpfmesh_sockmap_listen_v1, &k);
	if (n && !READ_ONCE(*n))
		bpf_map_delete_elem(&bpfmesh_sockmap_listen_v1, &k);
}

#endif /* BPFMESH_SOCKMAP_H */
