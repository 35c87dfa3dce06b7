/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_ORIGDST_H
#define BPFMESH_ORIGDST_H
/* Remembering the VIP a socket was connected to, and reporting it back. */
#include "lib/common.h"
#include "lib/origdst_maps.h"
#include "lib/stats.h"

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

#endif /* BPFMESH_ORIGDST_H */
