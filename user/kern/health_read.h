/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_HEALTH_READ_H
#define BPFMESH_HEALTH_READ_H
/*
 * Reading the health maps (include/bpfmesh/health_abi.h) back: per endpoint
 * slot its counters summed over CPUs and its outlier state, per cluster slot
 * its config, live state and histograms, and the name of every slot, from
 * the kernel maps alone (ep_health names an endpoint slot: cluster slot and
 * addr:port; cluster_cfg.name_id names a cluster slot in the names map).
 * Used by the applier to recover slots on restart, by `bpfmesh maps`, and
 * by metrics and `bpfmesh stats`. Printing is the caller's business.
 * Functions return 0 or a negative errno.
 */
#include <stdbool.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/lb_abi.h>
#include "map_ops.h"

struct health_maps {
	const struct map_ops *ops; /* &kern_map_ops outside tests */
	int counters_fd, health_fd, hists_fd, cfg_fd, state_fd, names_fd;
	unsigned int max_endpoints; /* max_entries of the endpoint arrays */
	unsigned int max_clusters;  /* max_entries of the cluster arrays */
};

/* An assigned endpoint slot. */
struct health_endpoint {
	__u32 slot;
	struct ep_health h;   /* h.cluster_slot, h.addr, h.port: its owner */
	struct ep_counters c; /* summed over CPUs */
};

/* An assigned cluster slot. */
struct health_cluster {
	__u32 slot;
	char name[BPFMESH_NAME_LEN]; /* "host/subset:port"; "#<id>" if unnamed */
	struct cluster_cfg cfg;
	struct cluster_state st;
};

/* Open the pinned health maps (and names map) under bpffs_dir, read only. */
int health_open(struct health_maps *hm, const char *bpffs_dir);
void health_close(struct health_maps *hm);

/* Slot `slot` if assigned: 0, -ENOENT when not assigned, or an error. */
int health_read_endpoint(const struct health_maps *hm, __u32 slot, struct health_endpoint *out);
int health_read_cluster(const struct health_maps *hm, __u32 slot, struct health_cluster *out);
/* The cluster slot's histograms (connect, RTT, duration). */
int health_read_hists(const struct health_maps *hm, __u32 slot, struct cluster_hists *out);

/* Call fn for every assigned slot, in slot order; a non-zero return stops
 * the walk and is returned. */
typedef int (*health_endpoint_fn)(const struct health_endpoint *ep, void *ctx);
typedef int (*health_cluster_fn)(const struct health_cluster *cl, void *ctx);
int health_for_each_endpoint(const struct health_maps *hm, health_endpoint_fn fn, void *ctx);
int health_for_each_cluster(const struct health_maps *hm, health_cluster_fn fn, void *ctx);

/* "127.0.1.3:8080" */
void health_endpoint_addr(const struct ep_health *h, char *buf, size_t len);

/* True while the endpoint is ejected at now_ns (CLOCK_MONOTONIC). */
bool health_is_ejected(const struct ep_health *h, __u64 now_ns);

#endif /* BPFMESH_HEALTH_READ_H */
