// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Same-node acceleration (issue 13; layouts and the rules of insertion:
 * include/bpfmesh/sockmap_abi.h). Two programs:
 *
 *   bpfmesh_sockmap_ops  cgroup sockops on the managed cgroup, beside the
 *                        health program (a cgroup runs every program
 *                        attached): puts both ends of a local, placed
 *                        connection in the SOCKHASH.
 *   bpfmesh_sockmap_msg  sk_msg, attached to the SOCKHASH: moves each
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

#define SOCKOPS_OK 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void sockmap4_own_key(struct bpf_sock_ops *skops, struct sockmap_key *k)
{
	sockmap4_key(k, skops->local_ip4, skops->remote_ip4, skops->local_port,
		     skops->remote_port);
}

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

static __always_inline int sockmap4_insert(struct bpf_sock_ops *skops, struct sockmap_key *k)
{
	if (bpf_sock_hash_update(skops, &bpfmesh_sockmap4_socks_v1, k, BPF_ANY)) {
		sockmap4_stat(BPFMESH_SM_INSERT_FAILED, 1);
		return -1;
	}
	sockmap4_stat(BPFMESH_SM_INSERTED, 1);
	return 0;
}

/* The connecting end, handshake done: a placed connection, unless its
 * service or the node opted out. */
static __always_inline void sockmap4_on_active(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sock_conn *c;
	struct sockmap_key k;
	__u32 slot;

	if (!sk || skops->family != BPFMESH_AF_INET_SK)
		return;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v2, sk, NULL, 0);
	if (!c || !(c->flags & BPFMESH_CONN_F_PLACED))
		return;
	if ((c->flags & BPFMESH_CONN_F_NO_SOCKMAP) || sockmap4_disabled()) {
		sockmap4_stat(BPFMESH_SM_SKIP_OPTOUT, 1);
		return;
	}
	slot = c->ep_slot;
	sockmap4_own_key(skops, &k);
	if (!sockmap4_new_sock(sk, slot, BPFMESH_SOCKMAP_F_CLIENT))
		return;
	if (bpf_map_update_elem(&bpfmesh_sockmap4_pending_v1, &k, &slot, BPF_ANY))
		return;
	if (sockmap4_insert(skops, &k)) {
		bpf_map_delete_elem(&bpfmesh_sockmap4_pending_v1, &k);
		return;
	}
	/* To drop the pending entry if no accepting end ever takes it. */
	bpf_sock_ops_cb_flags_set(skops,
				  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* The accepting end: inserted only when its client is pending, i.e. local,
 * managed and inserted itself. */
static __always_inline void sockmap4_on_passive(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sockmap_key k, peer;
	__u32 *slot, ep_slot;

	if (!sk || skops->family != BPFMESH_AF_INET_SK)
		return;
	sockmap4_own_key(skops, &k);
	sockmap4_peer_key(&peer, &k);
	slot = bpf_map_lookup_elem(&bpfmesh_sockmap4_pending_v1, &peer);
	if (!slot)
		return;
	ep_slot = *slot;
	bpf_map_delete_elem(&bpfmesh_sockmap4_pending_v1, &peer);
	/* Data that came through TCP before this point (TCP Fast Open) would
	 * be read after redirected data: such a connection is not
	 * accelerated, and its client falls back at its first send. */
	if (skops->bytes_received)
		return;
	if (!sockmap4_new_sock(sk, ep_slot, 0))
		return;
	sockmap4_insert(skops, &k);
}

static __always_inline void sockmap4_on_close(struct bpf_sock_ops *skops)
{
	struct sockmap_key k;

	sockmap4_own_key(skops, &k);
	bpf_map_delete_elem(&bpfmesh_sockmap4_pending_v1, &k);
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
	struct sockmap_key own, peer;
	struct sockmap_sock *s;
	__u64 bytes = msg->size;

	if (!sk)
		return sockmap4_pass(bytes);
	s = bpf_sk_storage_get(&bpfmesh_sockmap4_sock_v1, sk, NULL, 0);
	if (!s || (s->flags & BPFMESH_SOCKMAP_F_TCP))
		return sockmap4_pass(bytes);
	sockmap4_key(&own, msg->local_ip4, msg->remote_ip4, msg->local_port, msg->remote_port);
	sockmap4_peer_key(&peer, &own);
	if (bpf_msg_redirect_hash(msg, &bpfmesh_sockmap4_socks_v1, &peer, BPF_F_INGRESS) !=
	    SK_PASS) {
		s->flags |= BPFMESH_SOCKMAP_F_TCP;
		sockmap4_stat(BPFMESH_SM_FELL_BACK, 1);
		return sockmap4_pass(bytes);
	}
	sockmap4_stat(BPFMESH_SM_REDIRECT_MSGS, 1);
	sockmap4_stat(BPFMESH_SM_REDIRECT_BYTES, bytes);
	sockmap4_count_bytes(s, bytes);
	return SK_PASS;
}
