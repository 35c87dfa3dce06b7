/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_OUTLIER_POLICY_H
#define BPFMESH_POLICY_OUTLIER_POLICY_H
/*
 * The outlier detection Istio gives one cluster (Envoy's word: a DestinationRule
 * host + subset + service port), with Istio's block-replacement rules and its
 * translation to Envoy's defaults applied, in the terms the kernel enforces.
 *
 * Phase 2: the compiler calls outlier_effective() once per cluster slot and
 * converts struct outlier_config into the kernel's struct cluster_cfg
 * (include/bpfmesh/health_abi.h, written by the "kernel health" helper):
 *   consecutive_5xx, consecutive_gateway, consecutive_local_origin,
 *   interval_ns, base_ejection_ns, max_ejection_percent, min_health_percent:
 *     copied as they are;
 *   flags: BPFMESH_CLUSTER_F_OUTLIER if enabled, | BPFMESH_CLUSTER_F_SPLIT_LOCAL
 *     if split_local_origin;
 *   max_ejection_ns: 0 (Envoy's max_ejection_time default, max(300 s, base);
 *     Istio does not expose it);
 *   total_endpoints: from the compiled endpoint set of the cluster.
 * The lint can read the same struct. Nothing here touches the kernel.
 */
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* Envoy's defaults for what Istio leaves unset (cluster.v3.OutlierDetection). */
#define OUTLIER_DEFAULT_CONSECUTIVE           5u   /* consecutive_5xx, _local_origin_failure */
#define OUTLIER_DEFAULT_INTERVAL_NS           10000000000ull /* 10 s */
#define OUTLIER_DEFAULT_BASE_EJECTION_NS      30000000000ull /* 30 s */
#define OUTLIER_DEFAULT_MAX_EJECTION_PERCENT  10u

/*
 * Effective outlier detection of one cluster. A threshold of 0 means that
 * detector is not enforced (Istio sets Envoy's enforcing_* to 0).
 *
 * How an L4 connect failure (refused, timed out, reset before established)
 * counts, as Envoy does for a local-origin failure:
 *  - split_local_origin false: Envoy maps it to a 503, which is both a 5xx and
 *    a gateway error, so it counts toward consecutive_5xx and
 *    consecutive_gateway; whichever enforced threshold is reached first ejects.
 *  - split_local_origin true: it counts only toward consecutive_local_origin
 *    (5xx and gateway counters see only upstream responses, none at L4).
 * An established connection resets every count.
 */
struct outlier_config {
	bool enabled; /* an outlierDetection block applies to the cluster */
	bool split_local_origin;
	uint32_t consecutive_5xx;
	uint32_t consecutive_gateway;
	uint32_t consecutive_local_origin; /* non-zero only with split_local_origin */
	uint64_t interval_ns;
	uint64_t base_ejection_ns;
	uint32_t max_ejection_percent; /* 1..100 */
	uint32_t min_health_percent;   /* Envoy's healthy_panic_threshold, 0..100 */
	const struct src *src;         /* the block in force; NULL when !enabled */
};

/*
 * Fill *out for the cluster (dr->host, subset, port). dr NULL (no
 * DestinationRule) or a block-less policy gives enabled = false. subset NULL
 * means the cluster of the whole host; a subset name dr does not define falls
 * back to the top level (the compiler reports the unknown subset). port is the
 * service port, 0 when the port is not known.
 */
void outlier_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		       struct outlier_config *out);

/* Istio's translation of one block to Envoy (applyOutlierDetection) with
 * Envoy's defaults; od NULL or not present gives enabled = false. */
void outlier_from_spec(const struct od_spec *od, struct outlier_config *out);

#endif /* BPFMESH_POLICY_OUTLIER_POLICY_H */
