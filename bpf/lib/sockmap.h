/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SOCKMAP_H
#define BPFMESH_SOCKMAP_H
/* Helpers of same-node acceleration (bpf/sockmap.bpf.c). */
#include "lib/health.h"
#include "lib/sockmap_maps.h"
#include <bpf/bpf_endian.h>

#define BPFMESH_AF_INET_SK 2 /* AF_INET */

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

#endif /* BPFMESH_SOCKMAP_H */
