// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Connect-time load balancing on the cgroup sock_addr hooks.
 *
 * cgroup/connect4: a TCP connect() to a service VIP:port is rewritten to one
 * endpoint, chosen by the compiled route (weighted destinations) and the
 * destination's backend set (weighted endpoints). Anything else passes
 * untouched. Fails closed for services: a destination with no endpoint, or a
 * set the value names but the map lacks, refuses the connect with
 * ECONNREFUSED at once rather than letting it hang on the VIP.
 *
 * cgroup/getpeername4: reports the VIP, not the endpoint, to the application.
 */
#include "lib/common.h"
#include "lib/lb.h"
#include "lib/names_maps.h"
#include "lib/origdst.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Refuse the connect now: ECONNREFUSED, as a closed port would. */
static __always_inline int lb4_refuse(const struct svc_key *svc, __u32 subset_id, __u32 verdict)
{
	lb4_count_verdict(verdict);
	lb4_count_decision(svc, subset_id, NULL);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

static __always_inline int lb4_connect(struct bpf_sock_addr *ctx)
{
	const struct backend_val *be;
	const struct svc_dest *dest;
	const struct svc_val *svc;
	struct svc_key key = {};
	__u32 verdict;

	if (ctx->protocol != BPFMESH_PROTO_TCP)
		return SOCK_ALLOW;
	key.addr[0] = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = BPFMESH_PROTO_TCP;
	key.family = BPFMESH_AF_INET;

	svc = bpf_map_lookup_elem(&bpfmesh_lb4_services, &key);
	if (!svc) {
		lb4_count_verdict(BPFMESH_V_PASSTHROUGH);
		return SOCK_ALLOW;
	}
	verdict = lb4_select(svc, &dest, &be);
	if (verdict != BPFMESH_V_REDIRECTED)
		return lb4_refuse(&key, dest ? dest->subset_id : 0, verdict);

	lb4_remember_vip(ctx, &key);
	ctx->user_ip4 = be->addr[0];
	ctx->user_port = be->port;
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	lb4_count_decision(&key, dest->subset_id, be);
	return SOCK_ALLOW;
}

SEC("cgroup/connect4")
int bpfmesh_connect4(struct bpf_sock_addr *ctx)
{
	return lb4_connect(ctx);
}

SEC("cgroup/getpeername4")
int bpfmesh_getpeername4(struct bpf_sock_addr *ctx)
{
	lb4_restore_vip(ctx);
	return SOCK_ALLOW;
}
