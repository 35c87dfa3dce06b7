/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_READ_H
#define BPFMESH_LB_READ_H
/*
 * Reading the load balancer's live maps: services and node verdicts
 * (per endpoint and cluster counters: health_read.h), summed over CPUs. Shared by `bpfmesh maps` and
 * whatever else reports what the kernel holds (metrics, stats); printing
 * is the caller's business. Functions return 0 or a negative errno.
 */
#include <stddef.h>
#include <bpfmesh/lb_abi.h>
#include "map_ops.h"

/* The three maps a connect() resolves a service through (lb_abi.h). */
struct svc_maps {
	int ids_fd;    /* svc_key -> service index */
	int heads_fd;  /* service index -> struct svc_head */
	int routes_fd; /* route id -> svc_val */
	__u32 max_services; /* entries of heads (index 0 is never given) */
	__u32 max_routes;   /* max_entries of routes */
};

/* Fill in the sizes of m's maps from the kernel. 0 or negative errno. */
int lb_svc_maps_sizes(struct svc_maps *m);

/* One service as the maps hold it. route_id 0 (and a zeroed val): its key
 * names no route, which only an interrupted agent can leave. */
struct svc_entry {
	struct svc_key key;
	__u32 index;
	__u32 route_id;
	struct svc_val val;
};

/* Every service, read through the indirection, sorted by key; the caller
 * frees *out. */
int lb_read_services(const struct map_ops *ops, const struct svc_maps *m, struct svc_entry **out,
		     size_t *n);

/* Each verdict's count summed over CPUs; a verdict that cannot be read is 0. */
int lb_read_verdicts(const struct map_ops *ops, int fd, int ncpu,
		     __u64 counts[__BPFMESH_V_MAX]);

/* "no_healthy_upstream" for BPFMESH_V_NO_UPSTREAM, ... */
const char *lb_verdict_name(enum bpfmesh_verdict v);

#endif /* BPFMESH_LB_READ_H */
