/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_COUNT_H
#define BPFMESH_TC_COUNT_H
/* Counting on the TC path: one inline function per event, so that per
 * endpoint counters (health, outlier detection) can be fed from here
 * without touching the packet code. Placement and refusal also go to the
 * socket path's counters (lib/stats.h), so `bpfmesh maps stats` shows both
 * paths' decisions in one table. */
#include "lib/common.h"
#include "lib/ct_maps.h"
#include "lib/stats.h"

static __always_inline void tc4_count(__u32 event)
{
	__u64 *cnt = bpf_map_lookup_elem(&bpfmesh_tc4_events, &event);

	if (cnt)
		*cnt += 1; /* per-CPU slot: no other writer */
}

/* A new flow was given endpoint be of destination subset_id. */
static __always_inline void tc4_on_flow_placed(const struct svc_key *svc, __u32 subset_id,
					       const struct backend_val *be)
{
	tc4_count(BPFMESH_TC_FLOW_NEW);
	lb4_count_verdict(BPFMESH_V_REDIRECTED);
	lb4_count_decision(svc, subset_id, be);
}

/* A new flow found no endpoint (verdict: BPFMESH_V_NO_UPSTREAM or _MISSING_SET). */
static __always_inline void tc4_on_no_upstream(const struct svc_key *svc, __u32 subset_id,
					       __u32 verdict)
{
	tc4_count(BPFMESH_TC_NO_UPSTREAM);
	lb4_count_verdict(verdict);
	lb4_count_decision(svc, subset_id, NULL);
}

/* A mid-flow packet found its tracking entry evicted by the LRU. */
static __always_inline void tc4_on_eviction(const struct svc_key *svc)
{
	tc4_count(BPFMESH_TC_EVICTED);
}

#endif /* BPFMESH_TC_COUNT_H */
