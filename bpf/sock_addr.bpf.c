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
 * The placed connection is remembered in its socket storage (struct
 * sock_conn): the VIP for getpeername4, the endpoint and cluster slots for
 * the sockops program (bpf/sockops.bpf.c) that counts its outcome.
 *
 * cgroup/getpeername4: reports the VIP, not the endpoint, to the application.
 *
 * cgroup/connect6 and getpeername6: the same for IPv6 services (an IPv6 VIP
 * reaches the service's IPv6 endpoints). An IPv4-mapped destination
 * (::ffff:a.b.c.d, RFC 4291 2.5.5.2) on a dual-stack socket is IPv4 to the
 * kernel (tcp_v6_connect hands it to tcp_v4_connect, and connect4 never
 * runs for it): it is looked up as the IPv4 service and the endpoint is
 * written back mapped.
 */
#include "lib/common.h"
#include "lib/lb.h"
#include "lib/svc.h"
#include "lib/names_maps.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Refuse the connect now: ECONNREFUSED, as a closed port would. */
static __always_inline int lb4_refuse(struct lb4_choice *c)
{
	lb4_count_verdict(c->verdict);
	if (c->dest)
		health4_count_no_healthy(c->dest->cluster_slot);
	c->be = NULL;
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

/* The route of key, an endpoint from it, and the placed connection in the
 * socket's storage. Returns the hook's verdict; c->be is the endpoint to
 * write into the context, NULL when nothing is to be rewritten (not a
 * service, or refused). *conn: the storage, NULL when none could be made. */
static __always_inline int lb_route(struct bpf_sock_addr *ctx, const struct svc_key *key,
				    struct lb4_choice *c, struct sock_conn **conn)
{
	const struct svc_val *svc = svc_find(key);

	c->be = NULL;
	*conn = NULL;
	if (!svc) {
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH);
		return SOCK_ALLOW;
	}
	lb4_select(svc, c);
	if (!c->be || !c->dest)
		return lb4_refuse(c);

	*conn = health4_place_conn(ctx->sk, key->addr[0], key->port, c->be->slot,
				   c->dest->cluster_slot);
	if (!*conn)
		lb4_count_verdict(BPFMESH_V_NO_SOCK_STORAGE);
	else if (svc->flags & BPFMESH_SVC_F_NO_SOCKMAP)
		(*conn)->flags |= BPFMESH_CONN_F_NO_SOCKMAP;
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	return SOCK_ALLOW;
}

static __always_inline int lb4_connect(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct sock_conn *conn;
	struct lb4_choice c;
	int ret;

	if (ctx->protocol != BPFMESH_PROTO_TCP)
		return SOCK_ALLOW;
	key.addr[0] = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = BPFMESH_PROTO_TCP;
	key.family = BPFMESH_AF_INET;

	ret = lb_route(ctx, &key, &c, &conn);
	if (c.be) {
		ctx->user_ip4 = c.be->addr[0];
		ctx->user_port = c.be->port;
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
	struct bpf_sock *sk = ctx->sk;
	struct sock_conn *c;

	if (!sk)
		return SOCK_ALLOW;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v2, sk, NULL, 0);
	if (c) {
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
	key->proto = BPFMESH_PROTO_TCP;
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

/* Write the endpoint into the context (mapped when the VIP was) and the
 * IPv6 VIP into the socket's storage for getpeername6. */
static __always_inline void lb6_rewrite(struct bpf_sock_addr *ctx, const struct backend_val *be,
					const struct svc_key *key, struct sock_conn *conn,
					int mapped)
{
	ctx->user_port = be->port;
	if (mapped) {
		ctx->user_ip6[3] = be->addr[0];
		return;
	}
	ctx->user_ip6[0] = be->addr[0];
	ctx->user_ip6[1] = be->addr[1];
	ctx->user_ip6[2] = be->addr[2];
	ctx->user_ip6[3] = be->addr[3];
	if (!conn)
		return;
	conn->flags |= BPFMESH_CONN_F_VIP6;
	__builtin_memcpy(conn->vip6, key->addr, sizeof(conn->vip6));
}

static __always_inline int lb6_connect(struct bpf_sock_addr *ctx)
{
	struct svc_key key = {};
	struct sock_conn *conn;
	struct lb4_choice c;
	int ret, mapped;

	if (ctx->protocol != BPFMESH_PROTO_TCP)
		return SOCK_ALLOW;
	mapped = lb6_is_v4_mapped(ctx);
	lb6_key(ctx, &key, mapped);
	ret = lb_route(ctx, &key, &c, &conn);
	if (c.be)
		lb6_rewrite(ctx, c.be, &key, conn, mapped);
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
	struct bpf_sock *sk = ctx->sk;
	struct sock_conn *c;

	if (!sk)
		return SOCK_ALLOW;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v2, sk, NULL, 0);
	if (!c)
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
