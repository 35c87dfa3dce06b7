/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_METRICS_SNAPSHOT_H
#define BPFMESH_METRICS_SNAPSHOT_H
/*
 * One scrape's worth of counters, in plain C structs the Prometheus writer
 * (prom.h) renders. Nothing here reads the kernel. The fields mirror the
 * kernel's health maps (include/bpfmesh/health_abi.h, "kernel health"
 * helper) so that phase 2 copies rather than interprets:
 *
 *   mx_endpoint.c      <- struct ep_counters of the endpoint slot, summed over
 *                         CPUs (a per-CPU array lookup returns one value per
 *                         possible CPU); fail_* -> failed[MX_FAIL_*],
 *                         bytes_sent -> request_bytes, bytes_received ->
 *                         response_bytes
 *   mx_endpoint.hist[] <- struct ep_hists: counts = hist.buckets (93 of
 *                         them), sum = hist.sum
 *   mx_cluster         <- struct cluster_state of the cluster slot (ejected,
 *                         ejections, overflow, no_healthy_upstream)
 *   mx_hist_layout     <- include/bpfmesh/hist.h: n = BPFMESH_HIST_BUCKETS - 1
 *                         finite bounds, le[i] = bpfmesh_hist_lower(i + 1)
 *                         (the kernel truncates to whole units, so bucket i
 *                         holds true values below that), unit_us 1 for
 *                         connect and RTT (µs), 1000 for duration (ms);
 *                         emit[] picks the bounds worth exporting (e.g. the
 *                         power-of-two edges: every 4th), since 93 buckets x
 *                         3 histograms a cluster is too many series
 *   labels             <- the compiled policy: service host and namespace,
 *                         subset, port; mx_workload_from_labels() for the
 *                         endpoint (workload.h). NULL or "" renders as
 *                         "unknown". The strings must live until release().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a placed connect failed (before it was established). */
enum mx_fail_reason {
	MX_FAIL_REFUSED, /* RST in answer to the SYN (ECONNREFUSED) */
	MX_FAIL_TIMEOUT, /* no answer (ETIMEDOUT) */
	MX_FAIL_RESET,   /* reset before established (ECONNRESET) */
	MX_FAIL_OTHER,   /* any other error before established */
	MX_FAIL_REASONS,
};

enum mx_hist_kind {
	MX_HIST_CONNECT,  /* connect() to established */
	MX_HIST_RTT,      /* smoothed RTT at close */
	MX_HIST_DURATION, /* connect() to close */
	MX_HIST_KINDS,
};

/* Bucket bounds shared by every histogram of one kind. */
struct mx_hist_layout {
	const uint64_t *le;  /* finite upper bounds, strictly ascending, in units */
	size_t n;            /* bound count; each mx_hist has n + 1 counts */
	uint32_t unit_us;    /* one unit in microseconds (0 counts as 1) */
	const uint8_t *emit; /* n flags: export bound i as an `le`; NULL: all */
};

struct mx_hist {
	const uint64_t *counts; /* per bucket, not cumulative; counts[n] is above
				 * the last bound. NULL: no observations */
	uint64_t sum;           /* of the observations, in units */
};

/* Per endpoint slot, as the kernel counts (struct ep_counters). */
struct mx_counters {
	uint64_t opened;      /* SYN sent */
	uint64_t established; /* handshake completed */
	uint64_t closed;      /* ended for any reason, failed connects included */
	uint64_t failed[MX_FAIL_REASONS]; /* before established */
	uint64_t reset;       /* reset after established */
	uint64_t aborted;     /* closed by the application before established */
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
	uint64_t ejected;         /* endpoints ejected now */
	uint64_t overflow;        /* connects refused by a connection limit (UO) */
	uint64_t no_healthy;      /* connects refused: nothing usable (UH) */
	/* Closed by the connection sweep (struct connpool_closed): Envoy's
	 * upstream_cx_max_duration_reached and upstream_cx_idle_timeout. */
	uint64_t cx_max_duration_reached;
	uint64_t idle_timeout;
	/* The agent keeps no histograms for it (no --cluster-histograms,
	 * health_abi.h): no histogram series, rather than empty ones. */
	bool no_hists;
};

/* What the callers of one workload identity did on an endpoint (the
 * kernel's counters by source, include/bpfmesh/identity_abi.h). */
struct mx_source {
	struct mx_workload w; /* Istio's source_* labels */
	struct mx_counters c;
};

struct mx_endpoint {
	uint32_t cluster;    /* index into mx_snapshot.clusters */
	const char *address; /* "10.0.0.1:8080": bpfmesh's own endpoint label */
	struct mx_workload dst;
	struct mx_counters c; /* every caller's */
	/* The known callers' share of c; what remains is mx_snapshot.src's
	 * (unknown). Istio's metrics are per source, bpfmesh's use c. */
	const struct mx_source *sources;
	size_t n_sources;
	struct mx_hist hist[MX_HIST_KINDS];
};

/* A node-wide counter family (not per service): one series per label
 * value, e.g. bpfmesh_sockmap_bytes_total{path="redirect"}. */
struct mx_node_family {
	const char *name, *help;
	const char *type;        /* "counter" (name ends in _total) or "gauge" */
	const char *label;       /* the label's name */
	const char *const *values; /* n label values */
	const uint64_t *counts;  /* n counts */
	size_t n;
};

/* A policy resource the agent rejected (bpfmesh_policy_rejected). */
struct mx_policy_rejected {
	const char *kind, *ns, *name;
};

struct mx_snapshot {
	struct mx_workload src; /* callers of no known identity: "unknown" */
	const struct mx_cluster *clusters;
	size_t n_clusters;
	const struct mx_endpoint *endpoints;
	size_t n_endpoints;
	struct mx_hist_layout layout[MX_HIST_KINDS];
	const struct mx_node_family *node; /* n_node families, may be 0 */
	size_t n_node;
	/* The kernel closes connections for maxConnectionDuration and
	 * idleTimeout (Linux 6.5+): export those counts. */
	bool have_conn_closes;
	/* The agent's last policy compile (issue 12): resources in force and
	 * rejected; have_policy false before the first one. */
	bool have_policy;
	size_t policy_applied;
	const struct mx_policy_rejected *rejected;
	size_t n_rejected;
};

#endif /* BPFMESH_METRICS_SNAPSHOT_H */
