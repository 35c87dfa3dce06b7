/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SOCKMAP_ABI_H
#define BPFMESH_SOCKMAP_ABI_H
/*
 * Same-node acceleration (issue 13): layouts of the sockmap maps, shared by
 * bpf/sockmap.bpf.c, the loader, the agent and the tests.
 *
 * A connection is accelerated when connect4 placed it (struct sock_conn,
 * health_abi.h) without BPFMESH_CONN_F_NO_SOCKMAP, node-wide acceleration is
 * on (sockmap_cfg), and the accepting end is a local socket in a managed
 * cgroup. Both ends then sit in the SOCKHASH keyed by their own 4-tuple, and
 * the sk_msg program moves each sendmsg to the peer's receive queue
 * (bpf_msg_redirect_hash with BPF_F_INGRESS) instead of through TCP.
 *
 * Managed listeners (session 7): a client end is inserted only when its
 * endpoint address:port is a managed listener of this node, as the
 * listener registry (struct sockmap_listen_key) knows it: every socket that
 * listens in a managed cgroup registers its bound address:port at
 * TCP_LISTEN_CB (and leaves at its close), and every end accepted in a
 * managed cgroup registers the address:port it was reached at (a listener
 * bound to the any address, or one that listened before the agent, is known
 * from its first accepted connection on). A listener bound to the any
 * address matches a loopback endpoint at once. A client whose endpoint is
 * not registered (a remote endpoint, nearly every connection of a mesh)
 * costs one lookup: no SOCKHASH insertion, no socket storage, no pending
 * entry, no state callbacks for it.
 *
 * The client end is inserted at ACTIVE_ESTABLISHED, with a pending entry
 * (its tuple -> endpoint slot); the accepting end is inserted at
 * PASSIVE_ESTABLISHED only when that pending entry exists, which proves the
 * client is local, managed and accelerated. Both ends then carry a
 * struct sockmap_sock, so each direction's redirected bytes go to the
 * endpoint slot's ep_counters: bytes_sent (client to server) and
 * bytes_received (server to client). TCP never acknowledges redirected
 * bytes, so sockops' byte counts (from tcp bytes_acked/bytes_received)
 * never see them: the sum is exact, without double counting.
 *
 * Families (issue 15). An IPv6 connection's ends sit in a second SOCKHASH,
 * keyed by struct sockmap6_key, with its own pending map; the sk_msg program
 * is attached to both. An IPv4 connection made from a dual-stack IPv6
 * socket (to ::ffff:a.b.c.d, RFC 4291 2.5.5.2) is IPv4 on the wire, and its
 * other end may be an AF_INET socket: such an end is keyed by its IPv4
 * addresses in the IPv4 SOCKHASH, so that either end finds the other
 * whatever family its socket has. Socket storage, the switch and the
 * counters are shared by both families.
 */
#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#define BPFMESH_SOCKMAP_MAX_SOCKS 65536 /* both ends: 32,768 accelerated connections */
/* Client ends waiting for their accepting end (the pending LRU maps). An LRU
 * hash is preallocated whatever it holds (88 B an IPv4 entry, 112 B IPv6:
 * 12.5 MiB for both at 65,536), and a same-node client end waits there
 * only for its handshake, microseconds on loopback: it is matched long
 * before 8,192 later connects could push it out (only ends whose endpoint
 * is a managed listener here wait at all: sockmap.bpf.c). What is pushed
 * out first are the oldest, ends whose accepting side never came; one
 * pushed out is only not accelerated. 1.5 MiB for both. */
#define BPFMESH_SOCKMAP_MAX_PENDING 8192
/* Listener registry: bound or accepted-at addresses of managed listeners. */
#define BPFMESH_SOCKMAP_MAX_LISTENERS 4096

/* A socket in the SOCKHASH, by its own view of the connection. Addresses in
 * network order, ports in host order. The peer's key is the same four
 * fields swapped. */
struct sockmap_key {
	__be32 local_ip4;
	__be32 remote_ip4;
	__u32 local_port;
	__u32 remote_port;
};

/* An IPv6 end in the IPv6 SOCKHASH, by its own view of the connection:
 * addresses in network order (never IPv4-mapped: those are sockmap_key),
 * ports in host order. */
struct sockmap6_key {
	__be32 local_ip6[4];
	__be32 remote_ip6[4];
	__u32 local_port;
	__u32 remote_port;
};

/* A managed listener's address:port in the registry. An IPv4 address is
 * kept IPv4-mapped (::ffff:a.b.c.d), so an IPv4 endpoint and a dual-stack
 * socket's IPv4 address are one key; the any address is ::ffff:0.0.0.0
 * (AF_INET) or :: (AF_INET6, which also accepts IPv4). Port in host order.
 * Value: __u64, the listening sockets bound to it (SO_REUSEPORT: several);
 * 0 for an address learned from an accepted end. */
struct sockmap_listen_key {
	__be32 ip6[4];
	__u32 port;
};

/* Socket storage of each accelerated end. */
struct sockmap_sock {
	__u32 ep_slot; /* the placed connection's endpoint slot (0: not counted) */
	__u32 flags;   /* BPFMESH_SOCKMAP_F_* */
};

enum bpfmesh_sockmap_flags {
	BPFMESH_SOCKMAP_F_CLIENT = 1 << 0, /* the connecting end (counts bytes_sent) */
	/* Sticky: this end sent through TCP once (the peer was not in the map
	 * yet, or left it). From then on it always does, because the peer's
	 * tcp_bpf_recvmsg reads redirected data before its TCP receive queue:
	 * redirecting after TCP data could reorder the stream. */
	BPFMESH_SOCKMAP_F_TCP = 1 << 1,
};

/* Node-wide switch, written by the agent (--no-sockmap), index 0. */
struct sockmap_cfg {
	__u32 disabled; /* 1: insert nothing (already accelerated ones stay) */
	__u32 pad;
};

/* Node-wide counters, both families: index of the per-CPU array
 * bpfmesh_sockmap4_stats_v1. */
enum bpfmesh_sockmap_stat {
	BPFMESH_SM_INSERTED = 0,    /* ends put in the SOCKHASH */
	BPFMESH_SM_INSERT_FAILED,   /* sock_hash_update refused (full, state) */
	BPFMESH_SM_REDIRECT_MSGS,   /* sendmsg calls redirected */
	BPFMESH_SM_REDIRECT_BYTES,  /* bytes redirected */
	BPFMESH_SM_TCP_MSGS,        /* sendmsg calls left to TCP by an inserted end */
	BPFMESH_SM_TCP_BYTES,       /* their bytes */
	BPFMESH_SM_FELL_BACK,       /* ends that switched to TCP for good (F_TCP) */
	BPFMESH_SM_SKIP_OPTOUT,     /* placed, not inserted: service or node opt-out */
	__BPFMESH_SM_MAX,
};

_Static_assert(sizeof(struct sockmap_key) == 16, "sockmap_key layout");
_Static_assert(sizeof(struct sockmap6_key) == 40, "sockmap6_key layout");
_Static_assert(sizeof(struct sockmap_listen_key) == 20, "sockmap_listen_key layout");
_Static_assert(sizeof(struct sockmap_sock) == 8, "sockmap_sock layout");
_Static_assert(sizeof(struct sockmap_cfg) == 8, "sockmap_cfg layout");

/* Pinned names. */
#define BPFMESH_MAP_SOCKHASH "bpfmesh_sockmap4_socks_v1"
#define BPFMESH_MAP_SOCKMAP_PENDING "bpfmesh_sockmap4_pending_v1"
#define BPFMESH_MAP_SOCKMAP_SOCK "bpfmesh_sockmap4_sock_v1"
#define BPFMESH_MAP_SOCKMAP_CFG "bpfmesh_sockmap4_cfg_v1"
#define BPFMESH_MAP_SOCKMAP_STATS "bpfmesh_sockmap4_stats_v1"
#define BPFMESH_MAP_SOCKHASH6 "bpfmesh_sockmap6_socks_v1"
#define BPFMESH_MAP_SOCKMAP6_PENDING "bpfmesh_sockmap6_pending_v1"
#define BPFMESH_MAP_SOCKMAP_LISTEN "bpfmesh_sockmap_listen_v1"

#endif /* BPFMESH_SOCKMAP_ABI_H */
