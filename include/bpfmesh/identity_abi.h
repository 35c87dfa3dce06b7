/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_IDENTITY_ABI_H
#define BPFMESH_IDENTITY_ABI_H
/*
 * Workload identity (issue 15): which workload a connecting process is,
 * from its cgroup. A WorkloadEntry annotated bpfmesh.io/cgroup: <path under
 * the cgroup2 mount> gives every process in that cgroup or below it its
 * name, namespace, labels and service account. The agent gives each such
 * WorkloadEntry a stable identity id (below) and writes cgroup id ->
 * identity id (the cgroup id is the directory's inode number on cgroup2).
 * The connect and sendmsg hooks resolve the caller's identity for every
 * service connection once (bpf/lib/stats_src.h): the caller's own cgroup in
 * a cache first, on a miss a walk of its cgroup and ancestors
 * (bpf_get_current_ancestor_cgroup_id, at most BPFMESH_ID_MAX_DEPTH levels;
 * the deepest cgroup named wins), and nothing at all while no identity is
 * configured. A service with BPFMESH_SVC_F_BY_SOURCE then looks up the
 * route keyed by (VIP, identity) before the one for any caller
 * (svc_key.identity 0); every placed connection keeps the identity in its
 * socket storage (struct sock_src) for the counters by source.
 *
 * Stable ids (user/agent/identity_ids.c). The agent keeps every id it gave
 * in a pinned map (identity id -> struct identity_rec, "namespace/name"):
 * a workload keeps its id across policy reloads and agent restarts, a new
 * one takes the lowest id no record holds. A removed workload's record
 * stays, marked retired, with its counters by source, for
 * BPFMESH_ID_RETIRE_S seconds: it gets its id back if it returns, and no
 * other workload gets that id. After that the record and the counters of
 * that id are deleted; what they counted shows as source "unknown" from
 * then on (the unknown series is what the endpoint counted minus every
 * known source).
 *
 * A process cannot move itself out of its cgroup without write access to
 * the cgroup tree (a pod has none), so, unlike a request header, the
 * identity cannot be forged by the caller.
 */
#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#ifndef BPFMESH_MAX_IDENTITY_CGROUPS
#define BPFMESH_MAX_IDENTITY_CGROUPS 16384
#endif
#define BPFMESH_ID_MAX_DEPTH 16 /* cgroup levels walked from the root */

#define BPFMESH_IDENTITY_NAME_LEN 120

/* Value of the identities map, keyed by cgroup id (__u64). */
struct identity_val {
	__u32 identity; /* 1..n */
	__u32 pad;
	char workload[BPFMESH_IDENTITY_NAME_LEN]; /* "namespace/name", for the CLI */
};

_Static_assert(sizeof(struct identity_val) == 128, "identity_val layout");

#define BPFMESH_MAP_IDENTITIES "bpfmesh_identity_cgroups_v1"

/* Records of the ids given (user space only): at most this many, live and
 * retired; a retired id is kept this long (24 h: well past any scrape
 * interval, so every series of it was scraped before it goes). */
#define BPFMESH_MAX_IDENTITY_IDS 16384
#define BPFMESH_ID_RETIRE_S (24 * 3600)

/* Value of the ids map, keyed by identity id (__u32). */
struct identity_rec {
	char workload[BPFMESH_IDENTITY_NAME_LEN]; /* "namespace/name" */
	__u64 retired_at; /* CLOCK_REALTIME seconds it left the policy, 0: live */
};

_Static_assert(sizeof(struct identity_rec) == 128, "identity_rec layout");

/* The one entry of the state map: agent-written. No cgroup named means no
 * lookup at connect; gen invalidates the kernel's cache of resolutions. */
struct identity_state {
	__u32 n_cgroups; /* entries in the identities map */
	__u32 gen;       /* bumped by every change of the identities map */
};

/* Cache: the caller's own cgroup id -> its resolved identity (0 included),
 * valid while gen is the state's. */
struct identity_cache_val {
	__u32 identity;
	__u32 gen;
};

/* Socket storage of a placed connection whose caller has an identity. */
struct sock_src {
	__u32 identity;
	__u32 pad;
};

/* Key of the counters by source: per endpoint slot and caller identity
 * (never 0: the unknown source is the endpoint's count minus these). The
 * value is a struct ep_counters (health_abi.h), per CPU. */
struct src_key {
	__u32 ep_slot;
	__u32 identity;
};

/* (endpoint, source) pairs at most. The loader sizes the map to the
 * endpoint slots, up to this (user/kern/loader.c, sized_maps): its bucket
 * array, 16 B a bucket whatever the traffic, follows the node's size. */
#ifndef BPFMESH_MAX_SRC_COUNTERS
#define BPFMESH_MAX_SRC_COUNTERS 65536
#endif
/* Cgroups remembered (an LRU, so preallocated: about 80 B each whatever is
 * in use). A node's connecting cgroups are its pods and services, about a
 * hundred under the kubelet's default of 110 pods; one forgotten is resolved
 * again on its next connect. 4,096 costs 0.3 MiB where 16,384 cost 1.3 MiB
 * (bench/mapmem.sh). */
#define BPFMESH_ID_CACHE_SIZE 4096

#define BPFMESH_MAP_IDENTITY_IDS "bpfmesh_identity_ids_v1"
#define BPFMESH_MAP_IDENTITY_STATE "bpfmesh_identity_state_v1"
#define BPFMESH_MAP_IDENTITY_CACHE "bpfmesh_identity_cache_v1"
#define BPFMESH_MAP_SOCK_SRC "bpfmesh_sock_src_v1"
#define BPFMESH_MAP_SRC_COUNTERS "bpfmesh_src_counters_v1"
#define BPFMESH_MAP_SRC_OVERFLOW "bpfmesh_src_overflow_v1"

#endif /* BPFMESH_IDENTITY_ABI_H */
