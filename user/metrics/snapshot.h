/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_METRICS_SNAPSHOT_H
#define BPFMESH_METRICS_SNAPSHOT_H
/*
 * One scrape's worth of counters, in plain C structs the Prometheus writer
 * (prom.h) renders. Nothing here reads the kernel.
 *
 * Phase 2 fills it per scrape: one mx_cluster per cluster slot (host + subset
 * + port) and one mx_endpoint per endpoint slot, with
 *  - counters: the per-CPU counter array summed over CPUs (bpf_map_lookup_elem
 *    on a per-CPU array returns one value per possible CPU);
 *  - histograms: the kernel's per-bucket counts (not cumulative) and sums,
 *    bucket upper bounds in microseconds from include/bpfmesh/hist.h;
 *  - labels: pointers into the compiled policy (service host and namespace,
 *    endpoint labels app/version, WorkloadEntry name and namespace); NULL or
 *    "" renders as "unknown". The strings must live until release().
 */
#include <stddef.h>
#include <stdint.h>

/* Why a placed connect failed (before it was established). */
enum mx_fail_reason {
	MX_FAIL_REFUSED, /* RST in answer to the SYN (ECONNREFUSED) */
	MX_FAIL_TIMEOUT, /* no answer (ETIMEDOUT) */
	MX_FAIL_RESET,   /* reset before established, other errors */
	MX_FAIL_OTHER,
	MX_FAIL_REASONS,
};

enum mx_hist_kind {
	MX_HIST_CONNECT,  /* connect() to established */
	MX_HIST_RTT,      /* smoothed RTT at close */
	MX_HIST_DURATION, /* established to close */
	MX_HIST_KINDS,
};

/* Bucket upper bounds shared by every histogram of one kind. */
struct mx_hist_layout {
	const uint64_t *le_us; /* finite upper bounds (inclusive), µs, strictly ascending */
	size_t n;              /* bound count; each mx_hist has n + 1 counts */
};

struct mx_hist {
	const uint64_t *counts; /* per bucket, not cumulative; counts[n] is above the
				 * last bound. NULL: no observations */
	uint64_t sum_us;
};

/* Raw per-endpoint-slot counters, as the kernel keeps them. */
struct mx_counters {
	uint64_t established;    /* connects that completed the handshake */
	uint64_t closed;         /* established connections since closed */
	uint64_t failed[MX_FAIL_REASONS];
	uint64_t overflow;       /* refused by a connection limit */
	uint64_t no_healthy;     /* refused: every endpoint ejected, no panic */
	uint64_t request_bytes;  /* client -> server (bytes_acked) */
	uint64_t response_bytes; /* server -> client (bytes_received) */
};

/* Istio's workload labels for one side of a connection; NULL: "unknown". */
struct mx_workload {
	const char *workload, *ns;     /* WorkloadEntry name and namespace */
	const char *principal;
	const char *app, *version;     /* the endpoint's labels */
	const char *canonical_service, *canonical_revision;
	const char *cluster;           /* multi-cluster id */
};

/* A cluster (Envoy's word): service host + subset + port. */
struct mx_cluster {
	const char *host;   /* destination_service (FQDN) */
	const char *name;   /* destination_service_name */
	const char *ns;     /* destination_service_namespace */
	const char *subset; /* NULL or "": the host's default cluster */
	uint32_t port;      /* service port */
	uint64_t ejections_total; /* ejections ever, monotonic */
	uint32_t ejected;         /* endpoints ejected now */
};

struct mx_endpoint {
	uint32_t cluster;    /* index into mx_snapshot.clusters */
	const char *address; /* "10.0.0.1:8080": bpfmesh's own endpoint label */
	struct mx_workload dst;
	struct mx_counters c;
	struct mx_hist hist[MX_HIST_KINDS];
};

struct mx_snapshot {
	struct mx_workload src; /* this node's clients: all "unknown" until the
				 * agent maps cgroups to workloads */
	const struct mx_cluster *clusters;
	size_t n_clusters;
	const struct mx_endpoint *endpoints;
	size_t n_endpoints;
	struct mx_hist_layout layout[MX_HIST_KINDS];
};

#endif /* BPFMESH_METRICS_SNAPSHOT_H */
