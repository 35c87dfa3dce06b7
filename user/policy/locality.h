/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_LOCALITY_H
#define BPFMESH_POLICY_LOCALITY_H
/*
 * Locality-aware load balancing (issue 11), pure: from this node's locality
 * and labels, a cluster's localityLbSetting and which of its endpoints are
 * healthy, each endpoint's priority and its effective weight, i.e. its share
 * of the cluster's new connections. The agent writes those weights into the
 * backend set (user/apply/plan_locality.c), so the kernel's O(1) alias draw
 * gives Envoy's distribution, and recomputes them at every ejection and
 * return (user/agent/health.c).
 *
 * Istio's pilot (loadbalancer.go: applyLocalityFailover, applyLocalityWeights,
 * applyFailoverPriorities) decides priorities and locality weights; Envoy
 * (priority levels with overprovisioning 1.4, panic threshold, locality
 * weighted load balancing) turns them into shares. Each rule is written
 * where it is applied, in locality.c. No kernel, no clock, no allocation
 * visible to the caller.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* Envoy's default overprovisioning factor, in percent. */
#define LOC_OVERPROVISIONING 140

/* Sum of the effective weights of a set whose shares are not simply its
 * endpoint weights: 10^8 units, so each share is exact to 5e-9 (integer
 * weights; the kernel's alias columns are exact for integers). */
#define LOC_WEIGHT_TOTAL 100000000u

/* Istio's topology labels, which a caller and an endpoint carry from their
 * locality (pilot augments both label sets with them). */
#define LOC_LABEL_REGION "topology.kubernetes.io/region"
#define LOC_LABEL_ZONE "topology.kubernetes.io/zone"
#define LOC_LABEL_SUBZONE "topology.istio.io/subzone"

enum loc_mode {
	LOC_MODE_NONE,       /* every endpoint one pool, weighted by its weight */
	LOC_MODE_FAILOVER,   /* priorities (failover, failoverPriority), needs outlierDetection */
	LOC_MODE_DISTRIBUTE, /* locality weights of the first distribute rule matching */
};

struct loc_label {
	const char *key, *val;
};

struct loc_failover {
	const char *from, *to; /* regions */
};

struct loc_weight {
	const char *locality; /* region[/zone[/subzone]], '*' as the last part */
	__u32 weight;         /* 1..100 */
};

struct loc_distribute {
	const char *from;
	const struct loc_weight *to;
	size_t n_to;
};

/* A cluster's effective localityLbSetting, with Istio's mesh default
 * (enabled) already applied by the compiler. */
struct loc_setting {
	enum loc_mode mode;
	const struct loc_failover *failover;
	size_t n_failover;
	/* failoverPriority: label keys; fp_override[i] the value of "key=value"
	 * (NULL: the caller's own value of the key). */
	const char *const *fp_keys;
	const char *const *fp_override;
	size_t n_fp;
	const struct loc_distribute *distribute;
	size_t n_distribute;
	__u32 min_health_percent; /* Envoy's healthy_panic_threshold; 0: never */
};

/* The caller: this node (--locality, --node-labels). */
struct loc_caller {
	const char *locality; /* "region/zone/subzone"; NULL or "": none */
	const struct loc_label *labels;
	size_t n_labels;
};

/* One endpoint of the cluster. */
struct loc_ep {
	const char *locality;         /* NULL or "": none */
	const char *const *fp_values; /* its value of each fp_keys[i] (NULL: absent) */
	__u32 weight;                 /* > 0 */
	bool healthy;                 /* not ejected */
};

/* Per endpoint. */
struct loc_out {
	__u32 priority; /* compacted, 0 first */
	__u32 weight;   /* effective weight; 0: receives no connection */
};

struct loc_result {
	__u32 n_priorities;
	__u32 load[8];        /* Envoy's priority load, percent, first 8 levels */
	bool as_weights;      /* weight[] are the endpoint weights (one pool) */
	bool total_panic;     /* every level below the panic threshold */
};

/* Fill out[n]. 0, or -ENOMEM. */
int locality_compute(const struct loc_setting *s, const struct loc_caller *c,
		     const struct loc_ep *eps, size_t n, struct loc_out *out,
		     struct loc_result *res);

/* Istio's LocalityMatch: does locality match rule (region[/zone[/subzone]],
 * '*' matching any part, a missing part matching any)? */
bool locality_match(const char *locality, const char *rule);

/* The value of a topology label (LOC_LABEL_*) from a locality, written into
 * buf; NULL when key is not one or the part is empty. */
const char *locality_label(const char *locality, const char *key, char *buf, size_t len);

#endif /* BPFMESH_POLICY_LOCALITY_H */
