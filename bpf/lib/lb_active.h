/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_ACTIVE_H
#define BPFMESH_LB_ACTIVE_H
/* Open connections per endpoint slot, for LEAST_REQUEST (bpf/lib/lb_algo.h).
 * sockops (bpf/sockops.bpf.c) adds one when a placed connection's SYN goes
 * out, under the same once-only flag (BPFMESH_CONN_F_OPENED) that counts it
 * opened, and takes it off at TCP_CLOSE under BPFMESH_CONN_F_CLOSED: every
 * add is matched by one take-off however the connection ends (refused,
 * timed out, reset, closed), since the state callback is asked for on the
 * socket in the same step as the add. */
#include "lib/lb_algo_maps.h"

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif

static __always_inline struct lb_active *lb4_active(__u32 ep_slot)
{
	if (ep_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_lb4_active_v1, &ep_slot);
}

/* Open connections of an endpoint now (0 without a slot). */
static __always_inline __s64 lb4_open_conns(__u32 ep_slot)
{
	struct lb_active *a = lb4_active(ep_slot);

	return a ? READ_ONCE(a->open) : 0;
}

static __always_inline void lb4_conn_opened(__u32 ep_slot)
{
	struct lb_active *a = lb4_active(ep_slot);

	if (a)
		__sync_fetch_and_add(&a->open, 1);
}

static __always_inline void lb4_conn_closed(__u32 ep_slot)
{
	struct lb_active *a = lb4_active(ep_slot);

	if (a)
		__sync_fetch_and_add(&a->open, -1);
}

#endif /* BPFMESH_LB_ACTIVE_H */
