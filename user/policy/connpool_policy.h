/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_CONNPOOL_POLICY_H
#define BPFMESH_POLICY_CONNPOOL_POLICY_H
/*
 * The effective connectionPool.tcp of a cluster (traffic_policy.h
 * conn_effective: Istio's block replacement and defaults) in the kernel's
 * terms, struct connpool_cfg (include/bpfmesh/connpool_abi.h, which says
 * what the kernel does with each field). Pure.
 */
#include <bpfmesh/connpool_abi.h>

#include "traffic_policy.h"

/* cc's fields as the kernel takes them. */
void connpool_cfg_from(const struct conn_config *cc, struct connpool_cfg *out);

/* The same for a cluster (dr NULL: Istio's defaults). */
void connpool_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
			struct connpool_cfg *out);

#endif /* BPFMESH_POLICY_CONNPOOL_POLICY_H */
