/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_TRAFFIC_POLICY_H
#define BPFMESH_POLICY_TRAFFIC_POLICY_H
/*
 * The trafficPolicy Istio gives one cluster (a DestinationRule host + subset
 * + service port), with Istio's block replacement (pilot's
 * MergeTrafficPolicy and GetPortLevelTrafficPolicy):
 *  - a portLevelSettings entry whose number is the service port replaces
 *    all of its policy's blocks (loadBalancer, connectionPool,
 *    outlierDetection, tls), even those it leaves unset: they fall back to
 *    the defaults, not to the enclosing policy;
 *  - a subset's block replaces the top level's block of the same name
 *    entirely (fields are never merged); a matching subset port entry
 *    replaces all blocks.
 * traffic_policy_blocks() picks the blocks in force; the *_effective()
 * functions add the defaults in the terms the kernel will enforce
 * (outlier detection: outlier_policy.h). Nothing here touches the kernel.
 */
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* The blocks in force for a cluster; NULL: no block, the defaults apply. */
struct tp_blocks {
	const struct lb_spec *lb;
	const struct cp_spec *cp;
	const struct od_spec *od;
};

/* dr NULL (no DestinationRule) gives no blocks. subset NULL means the
 * cluster of the whole host; a subset dr does not define falls back to the
 * top level (the compiler reports it). port 0: the port is not known, no
 * portLevelSettings entry matches. */
void traffic_policy_blocks(const struct dest_rule *dr, const char *subset, uint32_t port,
			   struct tp_blocks *out);

/* Defaults Istio and Envoy apply to what the policy leaves unset. */
#define TP_DEFAULT_MAGLEV_TABLE     65537u   /* Envoy's maglev table_size */
#define TP_DEFAULT_RING_MIN_SIZE    1024u    /* Envoy's ring_hash minimum_ring_size */
#define TP_DEFAULT_CONNECT_TIMEOUT  10000000000ull    /* mesh connectTimeout, 10 s */
#define TP_DEFAULT_TCP_IDLE_TIMEOUT 3600000000000ull  /* Envoy tcp_proxy, 1 h */

/* How a cluster picks an endpoint. */
enum lb_algo {
	LB_ALGO_LEAST_REQUEST, /* Istio's default; LEAST_CONN is its alias */
	LB_ALGO_ROUND_ROBIN,
	LB_ALGO_RANDOM,
	LB_ALGO_PASSTHROUGH,
	LB_ALGO_RING_HASH,     /* consistentHash without maglev */
	LB_ALGO_MAGLEV,
};

struct lb_config {
	enum lb_algo algo;
	enum lb_hash_key hash_key;  /* for the hash algorithms */
	const char *hash_name;      /* header, cookie or query parameter */
	uint32_t maglev_table_size; /* LB_ALGO_MAGLEV */
	uint64_t ring_min_size;     /* LB_ALGO_RING_HASH */
	const struct locality_lb *locality; /* NULL: none */
	const struct src *src;      /* the block in force; NULL: defaults */
};

struct conn_config {
	uint32_t max_connections;    /* UINT32_MAX: no limit (Istio's default) */
	uint64_t connect_timeout_ns;
	uint64_t max_duration_ns;    /* 0: no limit */
	uint64_t idle_timeout_ns;    /* 0: off */
	bool keepalive;              /* tcpKeepalive given: SO_KEEPALIVE on */
	uint32_t keepalive_probes;   /* 0: the kernel's default */
	uint64_t keepalive_time_ns, keepalive_interval_ns; /* 0: the kernel's */
	const struct src *src;       /* the block in force; NULL: defaults */
};

/* Istio's translation of one block with Envoy's defaults (NULL: defaults). */
void lb_from_spec(const struct lb_spec *lb, struct lb_config *out);
void conn_from_spec(const struct cp_spec *cp, struct conn_config *out);

/* The two together for a cluster (see traffic_policy_blocks). */
void lb_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		  struct lb_config *out);
void conn_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		    struct conn_config *out);

#endif /* BPFMESH_POLICY_TRAFFIC_POLICY_H */
