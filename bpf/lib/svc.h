/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SVC_H
#define BPFMESH_SVC_H
/* How a hook finds the route of a service address: the one lookup every
 * hook (connect4/6, sendmsg4/6, tc) goes through, so that the layout of the
 * services map can change in one place; and the caller's identity for the
 * routes that depend on it (include/bpfmesh/identity_abi.h). */
#include "lib/common.h"
#include "lib/lb_maps.h"
#include "lib/route.h"
#include <bpfmesh/identity_abi.h>
#include "lib/stats_src_maps.h"

/* cgroup id -> the workload identity of processes in it (or below). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the policy */
	__uint(max_entries, BPFMESH_MAX_IDENTITY_CGROUPS);
	__type(key, __u64);
	__type(value, struct identity_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_identity_cgroups_v1 SEC(".maps");

/* The routing decision for key (VIP, port, protocol, family, identity), or
 * NULL: through the atomic switch's indirection (route.h). */
static __always_inline const struct svc_val *svc_find(const struct svc_key *key)
{
	return lb4_lookup_svc(key);
}

/* The deepest of the caller's cgroup and its ancestors that the agent
 * named, 0 when none is. */
static __always_inline __u32 svc_walk_identity(void)
{
	const struct identity_val *v;
	__u32 found = 0;
	__u64 cg;
	int level;

	for (level = 0; level < BPFMESH_ID_MAX_DEPTH; level++) {
		cg = bpf_get_current_ancestor_cgroup_id(level);
		if (!cg)
			break; /* below the caller's own cgroup */
		v = bpf_map_lookup_elem(&bpfmesh_identity_cgroups_v1, &cg);
		if (v)
			found = v->identity;
	}
	return found;
}

/* The calling process's identity, 0 when it has none. For hooks that run in
 * the caller's context (sock_addr), not tc. Runs for every service connect,
 * so it is kept cheap: nothing while no cgroup is named; else the caller's
 * own cgroup in the cache (one lookup), and the ancestor walk only on a miss
 * or after the agent changed the identities (state.gen). A global
 * function: the verifier checks it once, on its own. */
__noinline __u32 svc_caller_identity(void)
{
	struct identity_cache_val *hit, fresh;
	const struct identity_state *st;
	__u32 zero = 0;
	__u64 cg;

	st = bpf_map_lookup_elem(&bpfmesh_identity_state_v1, &zero);
	if (!st || !st->n_cgroups)
		return 0;
	cg = bpf_get_current_cgroup_id();
	hit = bpf_map_lookup_elem(&bpfmesh_identity_cache_v1, &cg);
	if (hit && hit->gen == st->gen)
		return hit->identity;
	fresh.gen = st->gen;
	fresh.identity = svc_walk_identity();
	bpf_map_update_elem(&bpfmesh_identity_cache_v1, &cg, &fresh, BPF_ANY);
	return fresh.identity;
}

/* svc_find() for the caller: its identity's own route when the service has
 * routes by source and one for it, else the route for any caller. Only
 * such services ask who calls, by the walk itself and not through the cache:
 * with the cache here (global or inline) and the identity kept live across
 * the endpoint pick, the verifier's paths multiplied (connect6 verified
 * 912k instructions, near the 1M limit, against 211k; the sock_addr object
 * took 3.4 s to load on 6.18). Counting by source asks the cache later, in
 * a global function of its own (lb_remember_source, sock_addr.bpf.c). */
static __always_inline const struct svc_val *svc_find_for_caller(const struct svc_key *key)
{
	const struct svc_val *svc = svc_find(key), *own;
	struct svc_key k;
	__u32 identity;

	if (!svc || !(svc->flags & BPFMESH_SVC_F_BY_SOURCE))
		return svc;
	identity = svc_walk_identity();
	if (!identity)
		return svc;
	k = *key;
	k.identity = identity;
	own = svc_find(&k);
	return own ? own : svc;
}

#endif /* BPFMESH_SVC_H */
