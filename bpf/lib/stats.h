/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_STATS_H
#define BPFMESH_STATS_H
/* Node-wide connect verdicts. Per endpoint and per cluster counting is by
 * slot, in the health maps (lib/health.h): nothing hashes or allocates. */
#include "lib/common.h"
#include "lib/stats_maps.h"

static __always_inline void lb4_count_verdict(__u32 verdict)
{
	__u64 *cnt = bpf_map_lookup_elem(&bpfmesh_lb4_verdicts, &verdict);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

#endif /* BPFMESH_STATS_H */
