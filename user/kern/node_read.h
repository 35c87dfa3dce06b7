/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_NODE_READ_H
#define BPFMESH_NODE_READ_H
/*
 * Node-wide counters the kernel keeps outside any service: the connect
 * verdicts (lb_abi.h) and same-node acceleration (sockmap_abi.h), summed
 * over CPUs. Read by `bpfmesh stats`, `bpfmesh maps stats` and the
 * agent's /metrics. Functions return 0 or a negative errno.
 */
#include <stdbool.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/sockmap_abi.h>

struct node_maps {
	int verdicts_fd;
	int sockmap_fd; /* -1: no sockmap object was ever loaded here */
	int ncpu;
};

struct node_counters {
	__u64 verdicts[__BPFMESH_V_MAX];
	bool have_sockmap;
	__u64 sockmap[__BPFMESH_SM_MAX];
};

/* Open the pinned maps under bpffs_dir; -ENOENT when no agent ever ran there.
 * The sockmap counters are optional: they exist once an agent ran with
 * --sockmap (or switched it off again). */
int node_open(struct node_maps *nm, const char *bpffs_dir);
void node_close(struct node_maps *nm);
int node_read(const struct node_maps *nm, struct node_counters *out);

/* "inserted", "redirect_bytes", ... */
const char *sockmap_stat_name(enum bpfmesh_sockmap_stat s);

#endif /* BPFMESH_NODE_READ_H */
