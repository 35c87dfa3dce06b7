/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_H
#define BPFMESH_LB_H
/* Endpoint choice inside a backend set; the arithmetic is in
 * include/bpfmesh/select.h, shared with the unit tests. */
#include "lib/common.h"
#include "lib/lb_maps.h"
#include <bpfmesh/select.h>

/* The endpoint for one connection to dest, or NULL when the set is absent. */
static __always_inline const struct backend_val *lb4_pick_backend(const struct svc_dest *dest)
{
	struct backend_key key = { .set_id = dest->set_id };
	const struct backend_val *be;
	__u32 chosen;

	key.slot = bpfmesh_pick_slot(dest->n_slots, bpf_get_prandom_u32());
	be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
	if (!be)
		return NULL;
	chosen = bpfmesh_alias_resolve(key.slot, be, dest->set_weight, bpf_get_prandom_u32());
	if (chosen == key.slot)
		return be;
	key.slot = chosen;
	return bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
}

#endif /* BPFMESH_LB_H */
