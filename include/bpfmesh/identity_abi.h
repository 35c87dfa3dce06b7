/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_IDENTITY_ABI_H
#define BPFMESH_IDENTITY_ABI_H
/*
 * Workload identity (issue 15): which workload a connecting process is,
 * from its cgroup. A WorkloadEntry annotated bpfmesh.io/cgroup: <path under
 * the cgroup2 mount> gives every process in that cgroup or below it its
 * name, namespace, labels and service account. The agent gives each such
 * WorkloadEntry an identity id (1..n, in (namespace, name) order) and writes
 * cgroup id -> identity id (the cgroup id is the directory's inode number
 * on cgroup2). The connect and sendmsg hooks walk the caller's cgroup and
 * its ancestors (bpf_get_current_ancestor_cgroup_id, at most
 * BPFMESH_ID_MAX_DEPTH levels; the deepest cgroup named wins) only for a
 * service with BPFMESH_SVC_F_BY_SOURCE, then look up the route keyed by
 * (VIP, identity) before the one for any caller (svc_key.identity 0).
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

#endif /* BPFMESH_IDENTITY_ABI_H */
