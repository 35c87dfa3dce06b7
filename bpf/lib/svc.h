/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SVC_H
#define BPFMESH_SVC_H
/* How a hook finds the route of a service address: the one lookup every
 * sock_addr hook (connect4/6, sendmsg4/6) goes through, so that the layout
 * of the services map can change in one place. */
#include "lib/common.h"
#include "lib/lb_maps.h"

/* The routing decision for key (VIP, port, protocol, family), or NULL. */
static __always_inline const struct svc_val *svc_find(const struct svc_key *key)
{
	return bpf_map_lookup_elem(&bpfmesh_lb4_services, key);
}

#endif /* BPFMESH_SVC_H */
