/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_ROUTE_H
#define BPFMESH_ROUTE_H
/* The one way a program finds the route in force for a VIP:port: through
 * the service index and its head (lb_maps.h). Every path that resolves a
 * service (connect4, TC) calls lb4_lookup_svc, so the argument of
 * include/bpfmesh/lb_abi.h "Atomic switch" holds for all of them. */
#include "lib/common.h"
#include "lib/lb_maps.h"

/* The route version in force for key, or NULL when key is no service.
 * The head is read with one 32-bit load (volatile: the compiler may not
 * split or repeat it), so a concurrent switch gives the old route id or
 * the new one; both name a route written whole before it was published
 * and kept until a grace period after it was replaced. */
static __always_inline const struct svc_val *lb4_lookup_svc(const struct svc_key *key)
{
	const struct svc_head *head;
	const __u32 *index;
	__u32 route_id;

	index = bpf_map_lookup_elem(&bpfmesh_lb4_svc_ids, key);
	if (!index)
		return NULL;
	head = bpf_map_lookup_elem(&bpfmesh_lb4_svc_heads, index);
	if (!head)
		return NULL;
	route_id = *(volatile const __u32 *)&head->route_id;
	if (!route_id)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_lb4_routes, &route_id);
}

#endif /* BPFMESH_ROUTE_H */
