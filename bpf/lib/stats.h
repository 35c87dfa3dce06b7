/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_H
#define BPFMESH_STATS_H
/* Counting connect decisions: node-wide verdicts and per (service, subset,
 * endpoint) decisions. */
#include "lib/common.h"
#include "lib/stats_maps.h"

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

#endif /* BPFMESH_STATS_H */
