/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_SRC_H
#define BPFMESH_STATS_SRC_H
/*
 * Counters by source (issue 15): a placed connection whose caller has an
 * identity (bpf/lib/svc.h svc_caller_identity, resolved once at connect or
 * at a UDP socket's placement) keeps it in its socket storage, and every
 * count made on its endpoint slot (struct ep_counters) is made again on the
 * (slot, identity) entry. The endpoint's own counters stay the totals; the
 * exporter shows source "unknown" as the total minus every known source.
 * So that this difference never goes negative, a hook counts the slot first
 * and the source after.
 *
 * Bounded: the entry is made when the connection is placed; when the map is
 * full (BPFMESH_MAX_SRC_COUNTERS pairs) the connection gets no socket
 * storage, counts as source unknown for its whole life, and is counted in
 * the overflow counter (bpfmesh_source_overflow_total).
 */
#include "lib/common.h"
#include "lib/stats_src_maps.h"

#ifndef EEXIST
#define EEXIST 17
#endif

static __always_inline void src_count_overflow(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&bpfmesh_src_overflow_v1, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The placed connection on ep_slot was made by identity: make its entry and
 * remember the identity with the socket. Identity 0 keeps nothing. */
static __always_inline void src_remember(struct bpf_sock *sk, __u32 ep_slot, __u32 identity)
{
	struct src_key key = { .ep_slot = ep_slot, .identity = identity };
	struct ep_counters zero = {};
	struct sock_src *s;
	long err;

	if (!sk)
		return;
	if (!identity || !ep_slot) {
		/* A socket placed again (UDP) by an unknown caller. */
		s = bpf_sk_storage_get(&bpfmesh_sock_src_v1, sk, NULL, 0);
		if (s)
			s->identity = 0;
		return;
	}
	/* Most connections find their pair's entry made; only a new pair
	 * inserts, and loses no race to another CPU making it meanwhile. */
	if (!bpf_map_lookup_elem(&bpfmesh_src_counters_v1, &key)) {
		err = bpf_map_update_elem(&bpfmesh_src_counters_v1, &key, &zero, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			src_count_overflow();
			return;
		}
	}
	s = bpf_sk_storage_get(&bpfmesh_sock_src_v1, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		s->identity = identity;
}

/* The (slot, identity) counters of this socket's connection, NULL when its
 * caller is unknown (or its entry went: an id retired meanwhile). */
static __always_inline struct ep_counters *src_counters(struct bpf_sock *sk, __u32 ep_slot)
{
	struct src_key key = { .ep_slot = ep_slot };
	struct sock_src *s;

	if (!sk || !ep_slot)
		return NULL;
	s = bpf_sk_storage_get(&bpfmesh_sock_src_v1, sk, NULL, 0);
	if (!s || !s->identity)
		return NULL;
	key.identity = s->identity;
	return bpf_map_lookup_elem(&bpfmesh_src_counters_v1, &key);
}

#endif /* BPFMESH_STATS_SRC_H */
