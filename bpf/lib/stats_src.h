/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_SRC_H
#define BPFMESH_STATS_SRC_H
/*
 * Counters by source (issue 15): a placed connection whose caller has an
 * identity (bpf/lib/svc.h svc_caller_identity, resolved once at connect or
 * at a UDP socket's placement) keeps it in its record (sock_conn.identity,
 * bpf/lib/sock_conn.h), and every
 * count made on its endpoint slot (struct ep_counters) is made again on the
 * (slot, identity) entry. The endpoint's own counters stay the totals; the
 * exporter shows source "unknown" as the total minus every known source.
 * So that this difference never goes negative, a hook counts the slot first
 * and the source after.
 *
 * Bounded: the entry is made when the connection is placed; when the map is
 * full (BPFMESH_MAX_SRC_COUNTERS pairs) the connection keeps identity 0,
 * counts as source unknown for its whole life, and is counted in
 * the overflow counter (bpfmesh_source_overflow_total).
 */
#include "lib/common.h"
#include "lib/stats_src_maps.h"
#include "lib/sock_conn.h"

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

/* The placed connection on ep_slot was made by identity: make its entry.
 * The identity to keep in the connection's record: 0 for an unknown caller,
 * or when the map is full (counted as overflow). */
static __always_inline __u32 src_enter(__u32 ep_slot, __u32 identity)
{
	struct src_key key = { .ep_slot = ep_slot, .identity = identity };
	struct ep_counters zero = {};
	long err;

	if (!identity || !ep_slot)
		return 0;
	/* Most connections find their pair's entry made; only a new pair
	 * inserts, and loses no race to another CPU making it meanwhile. */
	if (bpf_map_lookup_elem(&bpfmesh_src_counters_v1, &key))
		return identity;
	err = bpf_map_update_elem(&bpfmesh_src_counters_v1, &key, &zero, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		src_count_overflow();
		return 0;
	}
	return identity;
}

/* The (slot, identity) counters of a placed connection, NULL when its
 * caller is unknown (or its entry went: an id retired meanwhile). */
static __always_inline struct ep_counters *src_counters(const struct sock_conn *c)
{
	struct src_key key;

	if (!c || !c->ep_slot || !c->identity)
		return NULL;
	key.ep_slot = c->ep_slot;
	key.identity = c->identity;
	return bpf_map_lookup_elem(&bpfmesh_src_counters_v1, &key);
}

#endif /* BPFMESH_STATS_SRC_H */
