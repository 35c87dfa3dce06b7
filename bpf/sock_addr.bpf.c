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
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/lb_maps.h"
#include <bpfmesh/select.h>

#define ECONNREFUSED 111
#define E2BIG 7
#define SOCK_ALLOW 1
#define SOCK_DENY 0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void lb4_count_verdict(__u32 verdict)
{
	__u64 *cnt = bpf_map_lookup_elem(&bpfmesh_lb4_verdicts, &verdict);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

static __always_inline void lb4_count_decision(const struct svc_key *svc, __u32 subset_id,
					       const struct backend_val *be)
{
	struct stats_key key = {};
	struct stats_val init = {}, *val;

	key.svc = *svc;
	key.subset_id = subset_id;
	if (be) {
		key.backend_addr[0] = be->addr[0];
		key.backend_port = be->port;
	}
	val = bpf_map_lookup_elem(&bpfmesh_lb4_stats, &key);
	if (val) {
		__sync_fetch_and_add(be ? &val->connects : &val->refused, 1);
		return;
	}
	if (be)
		init.connects = 1;
	else
		init.refused = 1;
	/* EEXIST: another CPU created it first; its count is per-CPU anyway. */
	if (bpf_map_update_elem(&bpfmesh_lb4_stats, &key, &init, BPF_NOEXIST) == -E2BIG)
		lb4_count_verdict(BPFMESH_V_STATS_FULL);
}

/* Refuse the connect now: ECONNREFUSED, as a closed port would. */
static __always_inline int lb4_refuse(const struct svc_key *svc, __u32 subset_id, __u32 verdict)
{
	lb4_count_verdict(verdict);
	lb4_count_decision(svc, subset_id, NULL);
	bpf_set_retval(-ECONNREFUSED);
	return SOCK_DENY;
}

/* The endpoint for one connection to dest, or NULL when the set is absent. */
static __always_inline const struct backend_val *lb4_pick_backend(const struct svc_dest *dest)
{
	struct backend_key key = { .set_id = dest->set_id };
	const struct backend_val *be;
	__u32 chosen;

	key.slot = bpfmesh_pick_slot(dest->n_slots, bpf_get_prandom_u32());
	be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
	if (!be)
		return NULL;
	chosen = bpfmesh_alias_resolve(key.slot, be, dest->set_weight, bpf_get_prandom_u32());
	if (chosen == key.slot)
		return be;
	key.slot = chosen;
	return bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
}

static __always_inline void lb4_remember_vip(struct bpf_sock_addr *ctx, const struct svc_key *svc)
{
	struct sock_origdst *orig;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		goto fail;
	orig = bpf_sk_storage_get(&bpfmesh_sock4_origdst, sk, NULL,
				  BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		goto fail;
	orig->addr = svc->addr[0];
	orig->port = svc->port;
	return;
fail:
	lb4_count_verdict(BPFMESH_V_NO_SOCK_STORAGE);
}

static __always_inline int lb4_connect(struct bpf_sock_addr *ctx)
{
	const struct backend_val *be;
	const struct svc_dest *dest;
	const struct svc_val *svc;
	struct svc_key key = {};
	int d;

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
	d = bpfmesh_pick_dest(svc, bpf_get_prandom_u32());
	if (d < 0 || d >= BPFMESH_MAX_DESTS)
		return lb4_refuse(&key, 0, BPFMESH_V_NO_UPSTREAM);
	dest = &svc->dests[d];
	if (dest->n_slots == 0)
		return lb4_refuse(&key, dest->subset_id, BPFMESH_V_NO_UPSTREAM);
	be = lb4_pick_backend(dest);
	if (!be)
		return lb4_refuse(&key, dest->subset_id, BPFMESH_V_MISSING_SET);

	lb4_remember_vip(ctx, &key);
	ctx->user_ip4 = be->addr[0];
	ctx->user_port = be->port;
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	lb4_count_decision(&key, dest->subset_id, be);
	return SOCK_ALLOW;
}

static __always_inline void lb4_restore_vip(struct bpf_sock_addr *ctx)
{
	struct sock_origdst *orig;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	orig = bpf_sk_storage_get(&bpfmesh_sock4_origdst, sk, NULL, 0);
	if (!orig)
		return;
	ctx->user_ip4 = orig->addr;
	ctx->user_port = orig->port;
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
