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

/* Every service in the map, sorted by key; the caller frees both arrays. */
int lb_read_services(const struct map_ops *ops, int fd, struct svc_key **keys,
		     struct svc_val **vals, size_t *n);

/* Each verdict's count summed over CPUs; a verdict that cannot be read is 0. */
int lb_read_verdicts(const struct map_ops *ops, int fd, int ncpu,
		     __u64 counts[__BPFMESH_V_MAX]);

/* "no_healthy_upstream" for BPFMESH_V_NO_UPSTREAM, ... */
const char *lb_verdict_name(enum bpfmesh_verdict v);

#endif /* BPFMESH_LB_READ_H */
