/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_COUNT_H
#define BPFMESH_TC_COUNT_H
/* Counting on the TC path: one inline function per event, so that per
 * endpoint counters can be fed from here without touching the packet code.
 * Verdicts go to the socket path's node-wide array and a refusal to the
 * cluster's no-healthy-upstream count (lib/health.h). Per endpoint slot
 * outcomes (opened/closed/bytes) are counted by sockops for local sockets
 * only; a TC flow has no socket here, so it is not yet counted per slot. */
#include "lib/common.h"
#include "lib/ct_maps.h"
#include "lib/lb.h"
#include "lib/stats.h"

static __always_inline void tc4_count(__u32 event)
{
	__u64 *cnt = bpf_map_lookup_elem(&bpfmesh_tc4_events, &event);

	if (cnt)
		*cnt += 1; /* per-CPU slot: no other writer */
}

/* A new flow was given an endpoint. */
static __always_inline void tc4_on_flow_placed(void)
{
	tc4_count(BPFMESH_TC_FLOW_NEW);
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
}

/* A new flow found no usable endpoint (verdict says why) in dest (NULL
 * when no destination could be drawn). */
static __always_inline void tc4_on_no_upstream(__u32 verdict, const struct svc_dest *dest)
{
	tc4_count(BPFMESH_TC_NO_UPSTREAM);
	lb4_count_verdict(verdict);
	if (dest)
		health4_count_no_healthy(dest->cluster_slot);
}

/* A mid-flow packet found its tracking entry evicted by the LRU. */
static __always_inline void tc4_on_eviction(const struct svc_key *svc)
{
	tc4_count(BPFMESH_TC_EVICTED);
}

#endif /* BPFMESH_TC_COUNT_H */
