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

/* Place one new connection or flow of svc: weighted destination, then an
 * endpoint of its set. The one decision both the socket path (connect4) and
 * the packet path (tc) make. Returns BPFMESH_V_REDIRECTED with *be and *dest
 * set, or the verdict of the refusal (*dest NULL when no destination had
 * weight, else the destination that had no endpoint). */
static __always_inline __u32 lb4_select(const struct svc_val *svc, const struct svc_dest **dest,
					const struct backend_val **be)
{
	int d = bpfmesh_pick_dest(svc, bpf_get_prandom_u32());

	*dest = NULL;
	*be = NULL;
	if (d < 0 || d >= BPFMESH_MAX_DESTS)
		return BPFMESH_V_NO_UPSTREAM;
	*dest = &svc->dests[d];
	if ((*dest)->n_slots == 0)
		return BPFMESH_V_NO_UPSTREAM;
	*be = lb4_pick_backend(*dest);
	if (!*be)
		return BPFMESH_V_MISSING_SET;
	return BPFMESH_V_REDIRECTED;
}

#endif /* BPFMESH_LB_H */
