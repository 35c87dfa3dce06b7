// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Same-node acceleration (issue 13; layouts and the rules of insertion:
 * include/bpfmesh/sockmap_abi.h). Two programs:
 *
 *   bpfmesh_sockmap_ops  cgroup sockops on the managed cgroup, beside the
 *                        health program (a cgroup runs every program
 *                        attached): keeps the registry of managed
 *                        listeners, and puts both ends of a placed
 *                        connection whose endpoint is one of them in the
 *                        SOCKHASH of its family (IPv4, also from a
 *                        dual-stack socket, or IPv6).
 *   bpfmesh_sockmap_msg  sk_msg, attached to both SOCKHASHes: moves each
 *                        sendmsg of an inserted end to its peer's receive
 *                        queue, and counts the bytes.
 *
 * Never breaks a connection: whenever the peer cannot be found the message
 * goes through TCP (SK_PASS; bpf_msg_redirect_hash's own SK_DROP is never
 * returned), and the end keeps using TCP from then on (F_TCP). The kernel
 * removes a socket from the SOCKHASH when it closes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/sockmap.h"
#include "lib/sock_conn.h"

#define SOCKOPS_OK 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline struct sockmap_sock *sockmap4_new_sock(struct bpf_sock *sk,
							      __u32 ep_slot, __u32 flags)
{
	struct sockmap_sock *s;

	s = bpf_sk_storage_get(&bpfmesh_sockmap4_sock_v1, sk, NULL,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (s) {
		s->ep_slot = ep_slot;
		s->flags = flags;
	}
	return s;
}

static __always_inline int sockmap_insert(struct bpf_sock_ops *skops, struct sockmap_end *e)
{
	if (sockmap_hash_update(skops, e)) {
		sockmap4_stat(BPFMESH_SM_INSERT_FAILED, 1);
		return -1;
	}
	sockmap4_stat(BPFMESH_SM_INSERTED, 1);
	return 0;
}

/* Connections of both families, and IPv4 ones from dual-stack sockets
 * (sockmap_abi.h: families). */
static __always_inline int sockmap_is_inet(struct bpf_sock_ops *skops)
{
	return skops->family == BPFMESH_AF_INET_SK || skops->family == BPFMESH_AF_INET6_SK;
}

/* The connecting end, handshake done: a placed connection, unless its
 * service or the node opted out, and only when its endpoint is a managed
 * listener of this node (lib/sockmap.h sockmap_endpoint_listens): a remote
 * endpoint's client would never be taken, and its insertion, storage and
 * pending entry cost more than all of its counting. */
static __always_inline void sockmap4_on_active(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sock_conn *c;
	struct sockmap_end e;
	__u32 slot;

	/* bpfmesh_sockops (bpf/sockops.bpf.c, always attached with this
	 * program) asked for state callbacks at the connect of a placed
	 * socket, and only then: a direct connection stops here, without a
	 * helper call. */
	if (!(skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_STATE_CB_FLAG))
		return;
	if (!sk || !sockmap_is_inet(skops))
		return;
	c = sock_conn_get(sk);
	if (!c || !(c->flags & BPFMESH_CONN_F_PLACED))
		return;
	if ((c->flags & BPFMESH_CONN_F_NO_SOCKMAP) || sockmap4_disabled()) {
		sockmap4_stat(BPFMESH_SM_SKIP_OPTOUT, 1);
		return;
	}
	slot = c->ep_slot;
	sockmap_ctx_end(&e, skops);
	if (!sockmap_endpoint_listens(&e))
		return;
	if (!sockmap4_new_sock(sk, slot, BPFMESH_SOCKMAP_F_CLIENT))
		return;
	if (sockmap_pending_put(&e, slot))
		return;
	if (sockmap_insert(skops, &e)) {
		sockmap_pending_del(&e);
		return;
	}
	/* To drop the pending entry if no accepting end ever takes it. */
	bpf_sock_ops_cb_flags_set(skops,
				  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* A socket of the managed cgroup listens: its address:port goes in the
 * registry, and the listener asks for its state change to TCP_CLOSE to
 * leave it again. */
static __always_inline void sockmap4_on_listen(struct bpf_sock_ops *skops)
{
	struct sockmap_end e;

	if (!skops->sk || !sockmap_is_inet(skops))
		return;
	sockmap_ctx_end(&e, skops);
	if (sockmap_listen_add(&e))
		return;
	bpf_sock_ops_cb_flags_set(skops,
				  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* The accepting end: inserted only when its client is pending, i.e. local,
 * managed and inserted itself. */
static __always_inline void sockmap4_on_passive(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sockmap_end e, peer;
	__u32 ep_slot;

	/* An accepted socket is a copy of its listener, state callback flag
	 * included (tcp_create_openreq_child keeps bpf_sock_ops_cb_flags):
	 * it needs none, so its further state changes cost nothing. */
	if (skops->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_STATE_CB_FLAG)
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
						 ~BPF_SOCK_OPS_STATE_CB_FLAG);
	if (!sk || !sockmap_is_inet(skops))
		return;
	sockmap_ctx_end(&e, skops);
	sockmap_listen_learn(&e);
	sockmap_end_peer(&peer, &e);
	if (sockmap_pending_take(&peer, &ep_slot))
		return;
	/* Data that came through TCP before this point (TCP Fast Open) would
	 * be read after redirected data: such a connection is not
	 * accelerated, and its client falls back at its first send. */
	if (skops->bytes_received)
		return;
	if (!sockmap4_new_sock(sk, ep_slot, 0))
		return;
	sockmap_insert(skops, &e);
}

/* A listener leaves the registry; a client end still pending was never
 * taken by a managed accepting end: the learned address it was inserted
 * for is forgotten. */
static __always_inline void sockmap4_on_close(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sockmap_end e;

	if (skops->args[0] == BPF_TCP_LISTEN) {
		sockmap_ctx_end(&e, skops);
		sockmap_listen_del(&e);
		return;
	}
	/* Most sockets here are placed clients that were never inserted
	 * (their endpoint is remote): without this end's storage there is no
	 * pending entry, and a storage lookup is cheaper than a hash delete,
	 * which takes the bucket lock even for a key that is not there. */
	if (!sk || !bpf_sk_storage_get(&bpfmesh_sockmap4_sock_v1, sk, NULL, 0))
		return;
	sockmap_ctx_end(&e, skops);
	if (!sockmap_pending_del(&e))
		sockmap_listen_forget(&e);
}

SEC("sockops")
int bpfmesh_sockmap_ops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		sockmap4_on_active(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sockmap4_on_passive(skops);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		sockmap4_on_listen(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			sockmap4_on_close(skops);
		break;
	}
	return SOCKOPS_OK;
}

static __always_inline int sockmap4_pass(__u64 bytes)
{
	sockmap4_stat(BPFMESH_SM_TCP_MSGS, 1);
	sockmap4_stat(BPFMESH_SM_TCP_BYTES, bytes);
	return SK_PASS;
}

SEC("sk_msg")
int bpfmesh_sockmap_msg(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	struct sockmap_end own, peer;
	struct sockmap_sock *s;
	__u64 bytes = msg->size;

	if (!sk)
		return sockmap4_pass(bytes);
	s = bpf_sk_storage_get(&bpfmesh_sockmap4_sock_v1, sk, NULL, 0);
	if (!s || (s->flags & BPFMESH_SOCKMAP_F_TCP))
		return sockmap4_pass(bytes);
	sockmap_ctx_end(&own, msg);
	sockmap_end_peer(&peer, &own);
	if (sockmap_redirect(msg, &peer) != SK_PASS) {
		s->flags |= BPFMESH_SOCKMAP_F_TCP;
		sockmap4_stat(BPFMESH_SM_FELL_BACK, 1);
		return sockmap4_pass(bytes);
	}
	sockmap4_stat(BPFMESH_SM_REDIRECT_MSGS, 1);
	sockmap4_stat(BPFMESH_SM_REDIRECT_BYTES, bytes);
	sockmap4_count_bytes(s, bytes);
	return SK_PASS;
}
