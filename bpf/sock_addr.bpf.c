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
 * destination's cluster slot as no healthy upstream (Istio UH). A connect
 * over its cluster's maxConnections is refused the same way, counted as
 * overflow (Istio UO; bpf/lib/connpool.h).
 *
 * The placed connection is remembered in its socket storage (struct
 * sock_conn): the VIP for getpeername4, the endpoint and cluster slots for
 * the sockops program (bpf/sockops.bpf.c) that counts its outcome.
 *
 * cgroup/getpeername4: reports the VIP, not the endpoint, to the application.
 */
#include "lib/common.h"
#include "lib/lb.h"
#include "lib/connpool.h"
#include "lib/locality_maps.h"
#include "lib/names_maps.h"
#include "lib/route.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Refuse the connect now: ECONNREFUSED, as a closed port would. */
static __always_inline int lb4_refuse(const struct lb4_choice *c)
{
	lb4_count_verdict(c->verdict);
	if (c->dest)
		health4_count_no_healthy(c->dest->cluster_slot);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

/* consistentHash useSourceIp key: the bound source address, else the
 * caller's cgroup (lbpolicy.h bpfmesh_lb_hash_key). */
static __always_inline __u64 lb4_connect_hash_key(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	return bpfmesh_lb_hash_key(sk ? sk->src_ip4 : 0, bpf_get_current_cgroup_id());
}

/* Refuse the connect now: over the cluster's maxConnections (Istio UO).
 * Counted on the cluster only: a node verdict would grow the pinned
 * verdicts array, which an agent upgrade re-adopts at its old size. */
static __always_inline int lb4_refuse_overflow(__u32 cluster_slot)
{
	health4_count_overflow(cluster_slot);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

static __always_inline int lb4_connect(struct bpf_sock_addr *ctx)
{
	const struct svc_val *svc;
	struct svc_key key = {};
	struct lb4_choice c = { .may_passthrough = 1 };
	struct sock_conn *conn;

	if (ctx->protocol != BPFMESH_PROTO_TCP)
		return SOCK_ALLOW;
	key.addr[0] = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = BPFMESH_PROTO_TCP;
	key.family = BPFMESH_AF_INET;

	svc = lb4_lookup_svc(&key);
	if (!svc) {
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH);
		return SOCK_ALLOW;
	}
	c.hash_key = lb4_connect_hash_key(ctx);
	lb4_select(svc, &c);
	if (c.verdict == BPFMESH_V_PASSTHROUGH) {
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH); /* loadBalancer PASSTHROUGH */
		return SOCK_ALLOW;
	}
	if (!c.be || !c.dest)
		return lb4_refuse(&c);
	if (connpool4_admit(ctx->sk, c.dest->cluster_slot) == CONNPOOL4_OVERFLOW)
		return lb4_refuse_overflow(c.dest->cluster_slot);

	conn = health4_place_conn(ctx->sk, key.addr[0], key.port, c.be->slot,
				  c.dest->cluster_slot);
	if (!conn)
		lb4_count_verdict(BPFMESH_V_NO_SOCK_STORAGE);
	else if (svc->flags & BPFMESH_SVC_F_NO_SOCKMAP)
		conn->flags |= BPFMESH_CONN_F_NO_SOCKMAP;
	ctx->user_ip4 = c.be->addr[0];
	ctx->user_port = c.be->port;
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	return SOCK_ALLOW;
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
	struct bpf_sock *sk = ctx->sk;
	struct sock_conn *c;

	if (!sk)
		return SOCK_ALLOW;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v1, sk, NULL, 0);
	if (c) {
		ctx->user_ip4 = c->vip_addr;
		ctx->user_port = c->vip_port;
	}
	return SOCK_ALLOW;
}
