// SPDX-License-Identifier: Apache-2.0
/* Prometheus text exposition of a snapshot (see prom.h).
 *
 * Istio's TCP metrics carry no subset or port label, so two endpoint slots
 * (the same endpoint in two subsets, or on two ports of a service) can have
 * the same label set; their values are summed into one series, as a sidecar
 * reports them. bpfmesh's own metrics keep subset and port. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/prom.h"

#define UNKNOWN "unknown"

/* ---- buffer ------------------------------------------------------------ */

static bool mx_buf_reserve(struct mx_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom)
		return false;
	if (b->len + extra < b->cap)
		return true;
	while (cap <= b->len + extra)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void mx_buf_printf(struct mx_buf *b, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!b->p || (size_t)n >= room) {
		if (!mx_buf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void mx_buf_free(struct mx_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void mx_buf_put(struct mx_buf *b, const char *s, size_t len)
{
	if (!mx_buf_reserve(b, len))
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* Label values escape backslash, double quote and newline (exposition
 * format 0.0.4). Runs without them are copied whole: a scrape writes
 * millions of labels. */
static void mx_label(struct mx_buf *b, bool first, const char *name, const char *v)
{
	size_t run;

	if (!first)
		mx_buf_put(b, ",", 1);
	mx_buf_put(b, name, strlen(name));
	mx_buf_put(b, "=\"", 2);
	for (;;) {
		run = strcspn(v, "\\\"\n");
		mx_buf_put(b, v, run);
		v += run;
		if (!*v)
			break;
		mx_buf_put(b, *v == '\n' ? "\\n" : *v == '"' ? "\\\"" : "\\\\", 2);
		v++;
	}
	mx_buf_put(b, "\"", 1);
}

static void mx_family(struct mx_buf *b, const char *name, const char *type, const char *help)
{
	mx_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Microseconds as exact decimal seconds: 1500 -> "0.0015", 2000000 -> "2". */
static void mx_seconds(struct mx_buf *b, uint64_t us)
{
	char frac[8];
	int i;

	snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(us % 1000000));
	for (i = 5; i >= 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	mx_buf_printf(b, "%llu%s%s", (unsigned long long)(us / 1000000), frac[0] ? "." : "",
		      frac);
}

static const char *mx_or_unknown(const char *s)
{
	return s && s[0] ? s : UNKNOWN;
}

/* ---- Istio's TCP metrics ------------------------------------------------ */

/* Istio's standard label set, in Istio's order; Kiali drops a series that
 * lacks any of them. */
enum istio_label {
	IL_REPORTER,
	IL_SRC, /* 8 labels in struct mx_workload order */
	IL_DST_WORKLOAD = IL_SRC + 8,
	IL_DST_WORKLOAD_NS,
	IL_DST_PRINCIPAL,
	IL_DST_APP,
	IL_DST_VERSION,
	IL_DST_SERVICE,
	IL_DST_SERVICE_NAME,
	IL_DST_SERVICE_NS,
	IL_DST_CANONICAL_SERVICE,
	IL_DST_CANONICAL_REVISION,
	IL_DST_CLUSTER,
	IL_REQUEST_PROTOCOL,
	IL_RESPONSE_FLAGS,
	IL_CONNECTION_SECURITY_POLICY,
	IL_N,
};

static const char *const istio_label_names[IL_N] = {
	"reporter",
	"source_workload", "source_workload_namespace", "source_principal", "source_app",
	"source_version", "source_canonical_service", "source_canonical_revision",
	"source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal",
	"destination_app", "destination_version", "destination_service",
	"destination_service_name", "destination_service_namespace",
	"destination_canonical_service", "destination_canonical_revision",
	"destination_cluster",
	"request_protocol", "response_flags", "connection_security_policy",
};

/* Envoy's response flags for the outcomes the kernel sees. */
enum istio_flags {
	FLAGS_NONE, /* "-": established (and maybe closed) normally */
	FLAGS_UF,   /* upstream connection failure: opened and closed at once */
	FLAGS_UO,   /* upstream overflow (connection limit) */
	FLAGS_UH,   /* no healthy upstream */
	FLAGS_N,
};

static const char *const istio_flags_str[FLAGS_N] = { "-", "UF", "UO", "UH" };

/* A series before merging: an endpoint slot's ("-", UF) for one source
 * (its counters c), or a cluster's (UO, UH: decided before any endpoint is
 * picked, so e is NULL; counted per cluster only, so the source is the
 * unknown one). */
struct istio_row {
	const struct mx_endpoint *e;
	const struct mx_cluster *cl;
	enum istio_flags flags;
	const struct mx_workload *src;
	const struct mx_counters *c;
};

struct istio_vals {
	uint64_t opened, closed, request_bytes, response_bytes;
};

static void istio_workload(const struct mx_workload *w, const char **v)
{
	v[0] = mx_or_unknown(w->workload);
	v[1] = mx_or_unknown(w->ns);
	v[2] = mx_or_unknown(w->principal);
	v[3] = mx_or_unknown(w->app);
	v[4] = mx_or_unknown(w->version);
	v[5] = mx_or_unknown(w->canonical_service);
	v[6] = mx_or_unknown(w->canonical_revision);
	v[7] = mx_or_unknown(w->cluster);
}

static void istio_labels(const struct istio_row *r, const char *v[IL_N])
{
	static const struct mx_workload none;
	/* UO and UH have no upstream host (as in Envoy), so the destination
	 * workload labels are unknown. */
	const struct mx_workload *dst = r->e ? &r->e->dst : &none;
	const char *w[8];

	v[IL_REPORTER] = "source";
	istio_workload(r->src, &v[IL_SRC]);
	istio_workload(dst, w);
	v[IL_DST_WORKLOAD] = w[0];
	v[IL_DST_WORKLOAD_NS] = w[1];
	v[IL_DST_PRINCIPAL] = w[2];
	v[IL_DST_APP] = w[3];
	v[IL_DST_VERSION] = w[4];
	v[IL_DST_CANONICAL_SERVICE] = w[5];
	v[IL_DST_CANONICAL_REVISION] = w[6];
	v[IL_DST_CLUSTER] = w[7];
	v[IL_DST_SERVICE] = mx_or_unknown(r->cl->host);
	v[IL_DST_SERVICE_NAME] = mx_or_unknown(r->cl->name);
	v[IL_DST_SERVICE_NS] = mx_or_unknown(r->cl->ns);
	v[IL_REQUEST_PROTOCOL] = "tcp";
	v[IL_RESPONSE_FLAGS] = istio_flags_str[r->flags];
	/* Istio: a source reporter cannot know the server's policy. */
	v[IL_CONNECTION_SECURITY_POLICY] = UNKNOWN;
}

static uint64_t mx_sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * Istio semantics from the kernel's counters. A connection is counted as
 * opened once its connect has an outcome, so no series ever goes down while
 * a connect is in flight:
 *  "-":  opened when established, or aborted by the application before;
 *        closed for every end that was not a failed connect;
 *  "UF": a failed connect counts as opened and closed at once;
 *  "UO", "UH": a refused connect likewise (per cluster).
 * closed - failed saturates: per-CPU reads race the kernel's increments.
 */
static struct istio_vals istio_row_vals(const struct istio_row *r)
{
	struct istio_vals v = { 0 };
	uint64_t failed = 0;
	int i;

	if (!r->e) {
		v.opened = v.closed = r->flags == FLAGS_UO ? r->cl->overflow : r->cl->no_healthy;
		return v;
	}
	for (i = 0; i < MX_FAIL_REASONS; i++)
		failed += r->c->failed[i];
	if (r->flags == FLAGS_UF) {
		v.opened = v.closed = failed;
		return v;
	}
	v.opened = r->c->established + r->c->aborted;
	v.closed = mx_sub_sat(r->c->closed, failed);
	v.request_bytes = r->c->request_bytes;
	v.response_bytes = r->c->response_bytes;
	return v;
}

static int istio_row_cmp(const void *pa, const void *pb)
{
	const char *a[IL_N], *b[IL_N];
	int i, d;

	istio_labels(pa, a);
	istio_labels(pb, b);
	for (i = IL_SRC; i < IL_N; i++) {
		if (a[i] != b[i] && (d = strcmp(a[i], b[i])))
			return d;
	}
	return 0;
}

struct istio_series {
	struct istio_row row; /* the first row of the label set */
	struct istio_vals v;  /* summed over its rows */
};

static bool istio_row_keep(const struct istio_row *r)
{
	struct istio_vals v = istio_row_vals(r);

	return r->flags == FLAGS_NONE || v.opened || v.closed;
}

/* What the unknown callers did on e: its total minus every known source's
 * share (each field saturates: the kernel counts the total first, and a
 * scrape reads the sources first, so it is never really below). */
static void istio_unknown_share(const struct mx_endpoint *e, struct mx_counters *out)
{
	const uint64_t *known;
	uint64_t *rest = (uint64_t *)out;
	size_t s, f, n_fields = sizeof(*out) / sizeof(uint64_t);

	*out = e->c;
	for (s = 0; s < e->n_sources; s++) {
		known = (const uint64_t *)&e->sources[s].c;
		for (f = 0; f < n_fields; f++)
			rest[f] = mx_sub_sat(rest[f], known[f]);
	}
}

/* An endpoint's "-" row for one source (always, so that a new version
 * shows at 0 at once), and its UF row once non-zero. */
static size_t istio_source_rows(struct istio_row *rows, struct istio_row r)
{
	size_t n = 0;

	rows[n++] = r;
	r.flags = FLAGS_UF;
	if (istio_row_keep(&r))
		rows[n++] = r;
	return n;
}

/* Rows: per endpoint and source (known callers, then the unknown rest), and
 * the UO/UH rows once they are non-zero; sorted and merged by label set. */
static struct istio_series *istio_series(const struct mx_snapshot *s, size_t *n_out)
{
	struct istio_series *ser = NULL;
	struct mx_counters *unknown;
	struct istio_row *rows, r;
	size_t i, k, n = 0, m = 0, n_rows = s->n_clusters * 2 + 1;

	for (i = 0; i < s->n_endpoints; i++)
		n_rows += (s->endpoints[i].n_sources + 1) * 2;
	rows = calloc(n_rows, sizeof(*rows));
	unknown = calloc(s->n_endpoints + 1, sizeof(*unknown));
	if (!rows || !unknown)
		goto out;
	for (i = 0; i < s->n_endpoints; i++) {
		const struct mx_endpoint *e = &s->endpoints[i];

		r = (struct istio_row){ e, &s->clusters[e->cluster], FLAGS_NONE, NULL, NULL };
		for (k = 0; k < e->n_sources; k++) {
			r.src = &e->sources[k].w;
			r.c = &e->sources[k].c;
			n += istio_source_rows(&rows[n], r);
		}
		istio_unknown_share(e, &unknown[i]);
		r.src = &s->src;
		r.c = &unknown[i];
		n += istio_source_rows(&rows[n], r);
	}
	for (i = 0; i < s->n_clusters; i++) {
		r = (struct istio_row){ NULL, &s->clusters[i], FLAGS_UO, &s->src, NULL };
		if (istio_row_keep(&r))
			rows[n++] = r;
		r.flags = FLAGS_UH;
		if (istio_row_keep(&r))
			rows[n++] = r;
	}
	qsort(rows, n, sizeof(*rows), istio_row_cmp);
	ser = calloc(n + 1, sizeof(*ser));
	for (i = 0; ser && i < n; i++) {
		struct istio_vals v = istio_row_vals(&rows[i]);

		if (!m || istio_row_cmp(&ser[m - 1].row, &rows[i]))
			ser[m++].row = rows[i];
		ser[m - 1].v.opened += v.opened;
		ser[m - 1].v.closed += v.closed;
		ser[m - 1].v.request_bytes += v.request_bytes;
		ser[m - 1].v.response_bytes += v.response_bytes;
	}
out:
	free(rows);
	free(unknown);
	*n_out = m;
	return ser;
}

static const struct {
	const char *name, *help;
	size_t off; /* of the value in struct istio_vals */
} istio_metrics[] = {
	{ "istio_tcp_connections_opened_total",
	  "Total TCP connections opened to the destination (established or failed).",
	  offsetof(struct istio_vals, opened) },
	{ "istio_tcp_connections_closed_total",
	  "Total TCP connections closed (a failed connect counts as opened and closed).",
	  offsetof(struct istio_vals, closed) },
	{ "istio_tcp_received_bytes_total",
	  "Total request bytes, client to server, on TCP connections.",
	  offsetof(struct istio_vals, request_bytes) },
	{ "istio_tcp_sent_bytes_total",
	  "Total response bytes, server to client, on TCP connections.",
	  offsetof(struct istio_vals, response_bytes) },
};

static void istio_render(const struct istio_series *ser, size_t n,
			 struct mx_buf *b)
{
	const char *v[IL_N];
	size_t m, i;
	int l;

	for (m = 0; m < sizeof(istio_metrics) / sizeof(istio_metrics[0]); m++) {
		mx_family(b, istio_metrics[m].name, "counter", istio_metrics[m].help);
		for (i = 0; i < n; i++) {
			istio_labels(&ser[i].row, v);
			mx_buf_printf(b, "%s{", istio_metrics[m].name);
			for (l = 0; l < IL_N; l++)
				mx_label(b, l == 0, istio_label_names[l], v[l]);
			mx_buf_printf(b, "} %llu\n", (unsigned long long)*(const uint64_t *)
				      ((const char *)&ser[i].v + istio_metrics[m].off));
		}
	}
}

/* ---- bpfmesh's own metrics ---------------------------------------------- */

static void mx_cluster_labels(struct mx_buf *b, const struct mx_cluster *cl)
{
	mx_label(b, true, "destination_service", mx_or_unknown(cl->host));
	mx_label(b, false, "destination_service_namespace", mx_or_unknown(cl->ns));
	mx_label(b, false, "subset", cl->subset ? cl->subset : "");
	mx_buf_printf(b, ",port=\"%u\"", cl->port);
}

static void mx_cluster_sample(struct mx_buf *b, const char *name, const struct mx_cluster *cl,
			      uint64_t v)
{
	mx_buf_printf(b, "%s{", name);
	mx_cluster_labels(b, cl);
	mx_buf_printf(b, "} %llu\n", (unsigned long long)v);
}

static void outlier_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	size_t i;

	mx_family(b, "bpfmesh_outlier_ejections_total", "counter",
		  "Endpoints ejected by outlier detection, per cluster (host, subset, port).");
	for (i = 0; i < s->n_clusters; i++)
		mx_cluster_sample(b, "bpfmesh_outlier_ejections_total", &s->clusters[i],
				  s->clusters[i].ejections_total);
	mx_family(b, "bpfmesh_outlier_ejected_endpoints", "gauge",
		  "Endpoints ejected now, per cluster (host, subset, port).");
	for (i = 0; i < s->n_clusters; i++)
		mx_cluster_sample(b, "bpfmesh_outlier_ejected_endpoints", &s->clusters[i],
				  s->clusters[i].ejected);
	mx_family(b, "bpfmesh_no_healthy_upstream_total", "counter",
		  "Connects refused because every endpoint was ejected and panic did not apply.");
	for (i = 0; i < s->n_clusters; i++)
		mx_cluster_sample(b, "bpfmesh_no_healthy_upstream_total", &s->clusters[i],
				  s->clusters[i].no_healthy);
}

/* connectionPool.tcp maxConnectionDuration and idleTimeout: connections
 * the kernel closed, per cluster, under Envoy's cluster counter names. */
static void conn_closes_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	size_t i;

	if (!s->have_conn_closes)
		return;
	mx_family(b, "bpfmesh_upstream_cx_max_duration_reached_total", "counter",
		  "Connections closed at connectionPool.tcp.maxConnectionDuration.");
	for (i = 0; i < s->n_clusters; i++)
		mx_cluster_sample(b, "bpfmesh_upstream_cx_max_duration_reached_total",
				  &s->clusters[i], s->clusters[i].cx_max_duration_reached);
	mx_family(b, "bpfmesh_upstream_cx_idle_timeout_total", "counter",
		  "Connections closed at connectionPool.tcp.idleTimeout (no bytes either way).");
	for (i = 0; i < s->n_clusters; i++)
		mx_cluster_sample(b, "bpfmesh_upstream_cx_idle_timeout_total", &s->clusters[i],
				  s->clusters[i].idle_timeout);
}

static const char *const fail_reason_str[MX_FAIL_REASONS] = {
	"refused", "timeout", "reset", "other",
};

/* Per endpoint, only reasons seen: a series appears at its first failure. */
static void failures_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	size_t i;
	int r;

	mx_family(b, "bpfmesh_connect_failures_total", "counter",
		  "Connects that failed before established, per endpoint and reason.");
	for (i = 0; i < s->n_endpoints; i++) {
		const struct mx_endpoint *e = &s->endpoints[i];

		for (r = 0; r < MX_FAIL_REASONS; r++) {
			if (!e->c.failed[r])
				continue;
			mx_buf_printf(b, "bpfmesh_connect_failures_total{");
			mx_cluster_labels(b, &s->clusters[e->cluster]);
			mx_label(b, false, "endpoint", mx_or_unknown(e->address));
			mx_label(b, false, "reason", fail_reason_str[r]);
			mx_buf_printf(b, "} %llu\n", (unsigned long long)e->c.failed[r]);
		}
	}
}

static const struct {
	const char *name, *help;
} hist_metrics[MX_HIST_KINDS] = {
	[MX_HIST_CONNECT] = { "bpfmesh_connect_latency_seconds",
			      "Time from connect() to established, per cluster." },
	[MX_HIST_RTT] = { "bpfmesh_tcp_rtt_seconds",
			  "Smoothed RTT of a connection at close, per cluster." },
	[MX_HIST_DURATION] = { "bpfmesh_connection_duration_seconds",
			       "Time from connect() to close, per cluster." },
};

/* Every cluster's histogram of one kind, summed over its endpoints in one
 * pass: counts is n_clusters rows of n + 1 buckets. */
static void hist_sum_clusters(const struct mx_snapshot *s, int kind, uint64_t *counts,
			      uint64_t *sum)
{
	size_t n = s->layout[kind].n, i, j;

	for (i = 0; i < s->n_endpoints; i++) {
		const struct mx_endpoint *e = &s->endpoints[i];
		uint64_t *row = counts + (size_t)e->cluster * (n + 1);

		if (!e->hist[kind].counts)
			continue;
		for (j = 0; j <= n; j++)
			row[j] += e->hist[kind].counts[j];
		sum[e->cluster] += e->hist[kind].sum;
	}
}

/* v units of unit_us microseconds, as decimal seconds. */
static void mx_units_seconds(struct mx_buf *b, uint64_t v, uint32_t unit_us)
{
	uint64_t us = v * (unit_us ? unit_us : 1);

	if (unit_us > 1 && us / unit_us != v) /* beyond 584,000 years: overflow */
		us = UINT64_MAX;
	mx_seconds(b, us);
}

static void hist_render_one(struct mx_buf *b, const char *name, const struct mx_cluster *cl,
			    const struct mx_hist_layout *lay, const uint64_t *counts,
			    uint64_t sum)
{
	uint64_t cum = 0;
	size_t j;

	/* Prometheus buckets are cumulative: le is "observations <= bound".
	 * A bound left out still adds its count to the next one emitted. */
	for (j = 0; j <= lay->n; j++) {
		cum += counts[j];
		if (j < lay->n && lay->emit && !lay->emit[j])
			continue;
		mx_buf_printf(b, "%s_bucket{", name);
		mx_cluster_labels(b, cl);
		mx_buf_printf(b, ",le=\"");
		if (j < lay->n)
			mx_units_seconds(b, lay->le[j], lay->unit_us);
		else
			mx_buf_printf(b, "+Inf");
		mx_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	mx_buf_printf(b, "%s_sum{", name);
	mx_cluster_labels(b, cl);
	mx_buf_printf(b, "} ");
	mx_units_seconds(b, sum, lay->unit_us);
	mx_buf_printf(b, "\n%s_count{", name);
	mx_cluster_labels(b, cl);
	mx_buf_printf(b, "} %llu\n", (unsigned long long)cum);
}

/* Has any cluster histograms (or there are no clusters: empty families)? */
static bool any_cluster_hists(const struct mx_snapshot *s)
{
	size_t i;

	for (i = 0; i < s->n_clusters; i++)
		if (!s->clusters[i].no_hists)
			return true;
	return !s->n_clusters;
}

/* Per cluster rather than per endpoint: a canary compares subsets, and
 * per-endpoint buckets would multiply the series by the endpoint count. */
static int hist_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	uint64_t *counts, *sum;
	size_t i, n;
	int k;

	if (!any_cluster_hists(s))
		return 0; /* no family either */
	for (k = 0; k < MX_HIST_KINDS; k++) {
		n = s->layout[k].n;
		counts = calloc(s->n_clusters * (n + 1) + 1, sizeof(*counts));
		sum = calloc(s->n_clusters + 1, sizeof(*sum));
		if (!counts || !sum) {
			free(counts);
			free(sum);
			return -ENOMEM;
		}
		hist_sum_clusters(s, k, counts, sum);
		mx_family(b, hist_metrics[k].name, "histogram", hist_metrics[k].help);
		for (i = 0; i < s->n_clusters; i++)
			if (!s->clusters[i].no_hists)
				hist_render_one(b, hist_metrics[k].name, &s->clusters[i],
						&s->layout[k], counts + i * (n + 1), sum[i]);
		free(counts);
		free(sum);
	}
	return 0;
}

/* Node-wide families: every value is a series, zeros included, so that a
 * rate() over them starts at the first scrape. A family without a label is
 * one series. */
static void node_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	size_t i, j;

	for (i = 0; i < s->n_node; i++) {
		const struct mx_node_family *f = &s->node[i];

		mx_family(b, f->name, f->type, f->help);
		for (j = 0; j < f->n; j++) {
			mx_buf_printf(b, "%s", f->name);
			if (f->label) {
				mx_buf_put(b, "{", 1);
				mx_label(b, true, f->label, f->values[j]);
				mx_buf_put(b, "}", 1);
			}
			mx_buf_printf(b, " %llu\n", (unsigned long long)f->counts[j]);
		}
	}
}

/* ---- entry ------------------------------------------------------------- */

static int mx_check(const struct mx_snapshot *s)
{
	size_t i;
	int k;

	for (i = 0; i < s->n_endpoints; i++) {
		if (s->endpoints[i].cluster >= s->n_clusters)
			return -EINVAL;
	}
	for (k = 0; k < MX_HIST_KINDS; k++) {
		if (s->layout[k].n && !s->layout[k].le)
			return -EINVAL;
		for (i = 1; i < s->layout[k].n; i++) {
			if (s->layout[k].le[i] <= s->layout[k].le[i - 1])
				return -EINVAL;
		}
	}
	return 0;
}

/* Per-resource failure isolation (issue 12): what is in force, what not. */
static void policy_render(const struct mx_snapshot *s, struct mx_buf *b)
{
	size_t i;

	if (!s->have_policy)
		return;
	mx_family(b, "bpfmesh_policy_resources", "gauge",
		  "Policy resources after the last compile, by state (applied: in force; "
		  "rejected: invalid or losing a conflict).");
	mx_buf_printf(b, "bpfmesh_policy_resources{state=\"applied\"} %zu\n", s->policy_applied);
	mx_buf_printf(b, "bpfmesh_policy_resources{state=\"rejected\"} %zu\n", s->n_rejected);
	mx_family(b, "bpfmesh_policy_rejected", "gauge",
		  "1 for each policy resource the last compile rejected (bpfmesh status says why).");
	for (i = 0; i < s->n_rejected; i++) {
		mx_buf_put(b, "bpfmesh_policy_rejected{", 24);
		mx_label(b, true, "kind", s->rejected[i].kind);
		mx_label(b, false, "namespace", s->rejected[i].ns);
		mx_label(b, false, "name", s->rejected[i].name);
		mx_buf_put(b, "} 1\n", 4);
	}
}

int mx_render(const struct mx_snapshot *s, struct mx_buf *out)
{
	struct istio_series *ser;
	size_t n = 0;
	int err;

	err = mx_check(s);
	if (err)
		return err;
	ser = istio_series(s, &n);
	if (!ser)
		return -ENOMEM;
	istio_render(ser, n, out);
	free(ser);
	outlier_render(s, out);
	conn_closes_render(s, out);
	failures_render(s, out);
	node_render(s, out);
	policy_render(s, out);
	err = hist_render(s, out);
	if (!err && out->oom)
		err = -ENOMEM;
	return err;
}
