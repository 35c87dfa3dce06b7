// SPDX-License-Identifier: Apache-2.0
/* Metrics: the Prometheus exposition of a snapshot against a golden file,
 * its rules one by one, and the libmicrohttpd server over real sockets,
 * scraped and parsed by Prometheus' own Python parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/prom.h"
#include "metrics/server.h"
#include "metrics/workload.h"

/* Files next to this one (the tests run from the repository root). */
#define HERE "tests/unit/"
#define GOLDEN HERE "fixtures/metrics/golden.prom"

/* ---- the fixture snapshot ---------------------------------------------- */

#define HOST "reviews.default.svc.cluster.local"

static const uint64_t fast_le_us[] = { 100, 1000, 10000 };
static const uint8_t rtt_emit[] = { 1, 0, 1 }; /* 1 ms left out: still cumulative */
static const uint64_t slow_le_ms[] = { 1000, 10000 };
static const uint64_t v1_connect[] = { 1, 4, 2, 0 };
static const uint64_t v1_rtt[] = { 0, 3, 0, 1 };
static const uint64_t v1_duration[] = { 5, 0, 1 };
static const uint64_t v1b_connect[] = { 0, 1, 0, 0 };

/* v1 ejected one endpoint (twice so far); v2 refused one connect at a
 * connection limit; the default cluster refused two: no healthy upstream. */
static const struct mx_cluster clusters[] = {
	{ .host = HOST, .name = "reviews", .ns = "default", .subset = "v1", .port = 80,
	  .ejections_total = 2, .ejected = 1 },
	{ .host = HOST, .name = "reviews", .ns = "default", .subset = "v2", .port = 80,
	  .overflow = 1 },
	{ .host = HOST, .name = "reviews", .ns = "default", .subset = NULL, .port = 80,
	  .no_healthy = 2 },
};

#define V1_DST                                                                     \
	{ .workload = "reviews-v1", .ns = "default", .app = "reviews", .version = "v1" }

static const struct mx_endpoint endpoints[] = {
	/* v1: 13 SYNs: 7 established (6 closed since), 3 refused, 1 timed out,
	 * 1 closed by the client before established, 1 still connecting. */
	{ .cluster = 0, .address = "127.0.1.1:8080", .dst = V1_DST,
	  .c = { .opened = 13, .established = 7, .closed = 11, .failed = { 3, 1, 0, 0 },
		 .aborted = 1, .request_bytes = 700, .response_bytes = 1400000 },
	  .hist = { { v1_connect, 9000 }, { v1_rtt, 25000 }, { v1_duration, 12000 } } },
	/* v2: nothing yet (its "-" series shows at 0). */
	{ .cluster = 1, .address = "127.0.1.3:8080",
	  .dst = { .workload = "reviews-v2", .ns = "default", .app = "reviews", .version = "v2" } },
	/* The v1 endpoint again in the host's default cluster: same Istio labels,
	 * so its counts add to the v1 series. One connection reset after
	 * established, one reset before. */
	{ .cluster = 2, .address = "127.0.1.1:8080", .dst = V1_DST,
	  .c = { .opened = 2, .established = 1, .closed = 2, .failed = { 0, 0, 1, 0 },
		 .reset = 1, .request_bytes = 10, .response_bytes = 20 },
	  .hist = { { v1b_connect, 500 } } },
};

/* Node-wide: two families, one with a label value that needs escaping. */
static const char *const decisions[] = { "passthrough", "redirected" };
static const uint64_t decision_counts[] = { 4, 17 };
static const char *const paths[] = { "redirect", "tcp\"x" };
static const uint64_t path_bytes[] = { 1048576, 0 };
static const struct mx_node_family node_families[] = {
	{ "bpfmesh_connect_decisions_total", "Connects by decision.", "counter", "decision",
	  decisions, decision_counts, 2 },
	{ "bpfmesh_sockmap_bytes_total", "Bytes by path.", "counter", "path", paths, path_bytes, 2 },
	{ "bpfmesh_k8s_api_up", "Up.", "gauge", NULL, NULL, path_bytes + 1, 1 },
};

static struct mx_snapshot fixture(void)
{
	struct mx_snapshot s = {
		.clusters = clusters,
		.n_clusters = 3,
		.endpoints = endpoints,
		.n_endpoints = 3,
		.layout = { { fast_le_us, 3, 1, NULL }, { fast_le_us, 3, 1, rtt_emit },
			    { slow_le_ms, 2, 1000, NULL } },
		.node = node_families,
		.n_node = 3,
	};
	return s;
}

static char *render(const struct mx_snapshot *s)
{
	struct mx_buf b = { 0 };

	assert_int_equal(mx_render(s, &b), 0);
	assert_non_null(b.p);
	return b.p;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), n);
	fclose(f);
	return buf;
}

/* ---- exposition ---------------------------------------------------------- */

/* The whole text, byte for byte. BPFMESH_GOLDEN_UPDATE=1 rewrites the file
 * (then review the diff). */
static void test_golden(void **state)
{
	struct mx_snapshot s = fixture();
	char *got = render(&s), *want;

	if (getenv("BPFMESH_GOLDEN_UPDATE")) {
		FILE *f = fopen(GOLDEN, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	want = read_file(GOLDEN);
	if (strcmp(got, want)) {
		fprintf(stderr, "--- got ---\n%s", got);
		fail_msg("exposition differs from %s", GOLDEN);
	}
	free(want);
	free(got);
}

/* Every Istio sample line carries all 23 standard labels, reporter first. */
static void test_istio_full_label_set(void **state)
{
	struct mx_snapshot s = fixture();
	char *text = render(&s), *line, *save = NULL;
	int istio_lines = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p;
		int commas = 0;

		if (strncmp(line, "istio_", 6))
			continue;
		istio_lines++;
		assert_non_null(strstr(line, "{reporter=\"source\","));
		for (p = line; *p; p++)
			commas += *p == ',';
		assert_int_equal(commas, 22);
		assert_non_null(strstr(line, ",request_protocol=\"tcp\","));
		assert_non_null(strstr(line, ",connection_security_policy=\"unknown\"}"));
	}
	/* 4 metrics x (v1 "-", v1 UF, v2 "-", UO, UH) */
	assert_int_equal(istio_lines, 4 * 5);
	free(text);
}

/* Opened: established or aborted (v1: 7 + 1, and 1 from the default-cluster
 * slot of the same endpoint), not the connect still in flight; a
 * failed connect is opened and closed with UF; UH and UO have no upstream
 * host, so their workload labels are unknown; the default-cluster slot of
 * the v1 endpoint sums into v1's series. */
static void test_istio_semantics(void **state)
{
	struct mx_snapshot s = fixture();
	char *text = render(&s);

	assert_non_null(strstr(text, "istio_tcp_connections_opened_total{reporter=\"source\","
				     "source_workload=\"unknown\",source_workload_namespace=\"unknown\","
				     "source_principal=\"unknown\",source_app=\"unknown\","
				     "source_version=\"unknown\",source_canonical_service=\"unknown\","
				     "source_canonical_revision=\"unknown\",source_cluster=\"unknown\","
				     "destination_workload=\"reviews-v1\","
				     "destination_workload_namespace=\"default\","
				     "destination_principal=\"unknown\",destination_app=\"reviews\","
				     "destination_version=\"v1\",destination_service=\"" HOST "\","
				     "destination_service_name=\"reviews\","
				     "destination_service_namespace=\"default\","
				     "destination_canonical_service=\"unknown\","
				     "destination_canonical_revision=\"unknown\","
				     "destination_cluster=\"unknown\",request_protocol=\"tcp\","
				     "response_flags=\"-\",connection_security_policy=\"unknown\"} 9\n"));
	assert_non_null(strstr(text, "destination_version=\"v1\",destination_service=\"" HOST "\","
				     "destination_service_name=\"reviews\","
				     "destination_service_namespace=\"default\","
				     "destination_canonical_service=\"unknown\","
				     "destination_canonical_revision=\"unknown\","
				     "destination_cluster=\"unknown\",request_protocol=\"tcp\","
				     "response_flags=\"UF\",connection_security_policy=\"unknown\"} 5\n"));
	assert_non_null(strstr(text, "destination_workload=\"unknown\","
				     "destination_workload_namespace=\"unknown\","
				     "destination_principal=\"unknown\",destination_app=\"unknown\","
				     "destination_version=\"unknown\""));
	assert_non_null(strstr(text, "response_flags=\"UH\",connection_security_policy=\"unknown\"} 2\n"));
	assert_non_null(strstr(text, "response_flags=\"UO\",connection_security_policy=\"unknown\"} 1\n"));
	/* Bytes: received is the request (client to server), sent the response. */
	assert_non_null(strstr(text, "istio_tcp_received_bytes_total{reporter=\"source\""));
	assert_non_null(strstr(text, "response_flags=\"-\",connection_security_policy=\"unknown\"} 710\n"));
	assert_non_null(strstr(text, "response_flags=\"-\",connection_security_policy=\"unknown\"} 1400020\n"));
	free(text);
}

/* Label values escape \, " and newline; NULL and "" are "unknown". */
static void test_label_escaping(void **state)
{
	struct mx_cluster cl = { .host = "a\\b", .name = "", .ns = NULL, .subset = "s\"1", .port = 1 };
	struct mx_endpoint ep = { .cluster = 0, .address = "x",
				  .dst = { .version = "line1\nline2" },
				  .c = { .opened = 1, .closed = 1, .failed = { 1 } } };
	struct mx_snapshot s = { .clusters = &cl, .n_clusters = 1, .endpoints = &ep,
				 .n_endpoints = 1 };
	char *text = render(&s);

	assert_non_null(strstr(text, "destination_version=\"line1\\nline2\""));
	assert_non_null(strstr(text, "destination_service=\"a\\\\b\",destination_service_name="
				     "\"unknown\",destination_service_namespace=\"unknown\""));
	assert_non_null(strstr(text, "subset=\"s\\\"1\",port=\"1\""));
	/* No layout: a histogram is its +Inf bucket, _sum and _count. */
	assert_non_null(strstr(text, "bpfmesh_tcp_rtt_seconds_bucket{destination_service=\"a\\\\b\","
				     "destination_service_namespace=\"unknown\",subset=\"s\\\"1\","
				     "port=\"1\",le=\"+Inf\"} 0\n"));
	free(text);
}

/* Clusters without histograms (the agent runs without --cluster-histograms)
 * have no histogram series; with none at all, no histogram family either. */
static void test_clusters_without_histograms(void **state)
{
	struct mx_cluster cls[2] = { { .host = "a", .port = 1 }, { .host = "b", .port = 2 } };
	struct mx_endpoint ep = { .cluster = 0, .address = "x", .c = { .opened = 1 } };
	struct mx_snapshot s = { .clusters = cls, .n_clusters = 2, .endpoints = &ep,
				 .n_endpoints = 1 };
	char *text;

	(void)state;
	cls[1].no_hists = true;
	text = render(&s);
	assert_non_null(strstr(text, "bpfmesh_tcp_rtt_seconds_bucket{destination_service=\"a\""));
	assert_null(strstr(text, "bpfmesh_tcp_rtt_seconds_bucket{destination_service=\"b\""));
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total"));
	free(text);
	cls[0].no_hists = true;
	text = render(&s);
	assert_null(strstr(text, "bpfmesh_connect_latency_seconds"));
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total"));
	free(text);
}

/* Istio's series per source: each known caller's share of the endpoint's
 * counters under its labels, the rest under source "unknown"; a known
 * caller with the same labels on two endpoints is one series. */
static void test_istio_by_source(void **state)
{
	static const struct mx_source qa[] = {
		{ .w = { .workload = "qa", .ns = "tools", .app = "qa-tools",
			 .canonical_service = "qa-tools", .canonical_revision = "latest" },
		  .c = { .opened = 4, .established = 4, .closed = 4, .request_bytes = 40 } },
	};
	struct mx_cluster cl = { .host = "api", .name = "api", .ns = "shop", .port = 80 };
	struct mx_endpoint eps[2] = {
		{ .cluster = 0, .address = "a", .c = { .opened = 10, .established = 10,
						       .closed = 10, .request_bytes = 100 },
		  .sources = qa, .n_sources = 1 },
		{ .cluster = 0, .address = "b", .c = { .opened = 6, .established = 6,
						       .closed = 6, .request_bytes = 60 },
		  .sources = qa, .n_sources = 1 },
	};
	struct mx_snapshot s = { .clusters = &cl, .n_clusters = 1, .endpoints = eps,
				 .n_endpoints = 2 };
	const char *known, *unknown;
	char *text;

	(void)state;
	text = render(&s);
	known = strstr(text, "istio_tcp_connections_opened_total{reporter=\"source\","
			     "source_workload=\"qa\",source_workload_namespace=\"tools\","
			     "source_principal=\"unknown\",source_app=\"qa-tools\","
			     "source_version=\"unknown\",source_canonical_service=\"qa-tools\","
			     "source_canonical_revision=\"latest\",source_cluster=\"unknown\",");
	unknown = strstr(text, "istio_tcp_connections_opened_total{reporter=\"source\","
			       "source_workload=\"unknown\",source_workload_namespace=\"unknown\",");
	assert_non_null(known);
	assert_non_null(unknown);
	/* 8 by qa over both endpoints, 8 of the 16 by unknown callers */
	assert_true(strstr(known, "\"} 8\n") == strchr(known, '\n') - 4);
	assert_true(strstr(unknown, "\"} 8\n") == strchr(unknown, '\n') - 4);
	/* bytes: 80 of the 160 by qa */
	known = strstr(text, "istio_tcp_received_bytes_total{reporter=\"source\","
			     "source_workload=\"qa\"");
	assert_non_null(known);
	assert_true(strstr(known, "\"} 80\n") == strchr(known, '\n') - 5);
	free(text);
}

/* Node-wide families: every value a series, zeros included, escaped. */
static void test_node_families(void **state)
{
	struct mx_snapshot s = fixture();
	char *text = render(&s);

	assert_non_null(strstr(text, "# TYPE bpfmesh_connect_decisions_total counter\n"
				     "bpfmesh_connect_decisions_total{decision=\"passthrough\"} 4\n"
				     "bpfmesh_connect_decisions_total{decision=\"redirected\"} 17\n"));
	assert_non_null(strstr(text, "bpfmesh_sockmap_bytes_total{path=\"redirect\"} 1048576\n"
				     "bpfmesh_sockmap_bytes_total{path=\"tcp\\\"x\"} 0\n"));
	assert_non_null(strstr(text, "# TYPE bpfmesh_k8s_api_up gauge\nbpfmesh_k8s_api_up 0\n"));
	free(text);
	s.n_node = 0;
	text = render(&s);
	assert_null(strstr(text, "bpfmesh_sockmap"));
	free(text);
}

static void test_render_rejects_bad_snapshot(void **state)
{
	static const uint64_t not_ascending[] = { 10, 10 };
	struct mx_endpoint ep = { .cluster = 1 };
	struct mx_snapshot s = { .clusters = clusters, .n_clusters = 1, .endpoints = &ep,
				 .n_endpoints = 1 };
	struct mx_buf b = { 0 };

	assert_int_equal(mx_render(&s, &b), -EINVAL);
	ep.cluster = 0;
	s.layout[MX_HIST_RTT] = (struct mx_hist_layout){ not_ascending, 2, 1, NULL };
	assert_int_equal(mx_render(&s, &b), -EINVAL);
	s.layout[MX_HIST_RTT] = (struct mx_hist_layout){ NULL, 2, 1, NULL };
	assert_int_equal(mx_render(&s, &b), -EINVAL);
	mx_buf_free(&b);
}

/* Istio's derivation order for each label (pkg/kube/labels). */
static void test_workload_from_labels(void **state)
{
	struct label all[] = {
		{ "app", "reviews" }, { "version", "v1" },
		{ "app.kubernetes.io/name", "reviews-k8s" }, { "app.kubernetes.io/version", "1.2" },
		{ "service.istio.io/canonical-name", "reviews-canon" },
		{ "service.istio.io/canonical-revision", "r7" },
		{ "service.istio.io/workload-name", "reviews-wl" },
	};
	struct labels l = { all, 7 };
	struct mx_workload w;

	mx_workload_from_labels(&w, &l, "we-1", "prod");
	assert_string_equal(w.workload, "reviews-wl");
	assert_string_equal(w.ns, "prod");
	assert_string_equal(w.app, "reviews");
	assert_string_equal(w.version, "v1");
	assert_string_equal(w.canonical_service, "reviews-canon");
	assert_string_equal(w.canonical_revision, "r7");
	assert_null(w.principal);
	assert_null(w.cluster);
	l.n = 4; /* app, version and the app.kubernetes.io pair */
	mx_workload_from_labels(&w, &l, "we-1", "prod");
	assert_string_equal(w.workload, "we-1");
	assert_string_equal(w.canonical_service, "reviews-k8s");
	assert_string_equal(w.canonical_revision, "1.2");
	l.n = 2;
	mx_workload_from_labels(&w, &l, NULL, NULL);
	assert_null(w.workload);
	assert_string_equal(w.canonical_service, "reviews");
	assert_string_equal(w.canonical_revision, "v1");
	mx_workload_from_labels(&w, NULL, "we-2", "prod");
	assert_null(w.app);
	assert_string_equal(w.canonical_service, "we-2");
	assert_string_equal(w.canonical_revision, "latest");
}

/* ---- listen address -------------------------------------------------------- */

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	static const char *const bad[] = {
		"", "9091", ":9091", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:80x", "localhost:9091", "::1:9091", "[::1]9091",
		"[::1]:", "[127.0.0.1]:80", "[]:80",
	};
	size_t i;

	assert_int_equal(mx_parse_listen("127.0.0.1:9091", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9091);
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(0x7f000001));
	assert_int_equal(mx_parse_listen("[::1]:0", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	assert_int_equal(mx_parse_listen("[fd00::1]:65535", &ss, &len), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mx_parse_listen(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/* ---- server over real sockets -------------------------------------------- */

struct provider_state {
	int fills, releases;
	int fail; /* fill() returns this */
	bool not_ready; /* /readyz answers 503 */
};

static int fixture_fill(void *ctx, struct mx_snapshot *snap)
{
	struct provider_state *ps = ctx;

	ps->fills++;
	if (ps->fail)
		return ps->fail;
	*snap = fixture();
	return 0;
}

static void fixture_release(void *ctx, struct mx_snapshot *snap)
{
	((struct provider_state *)ctx)->releases++;
}

static bool fixture_ready(void *ctx, char *why, size_t why_len)
{
	if (!((struct provider_state *)ctx)->not_ready)
		return true;
	snprintf(why, why_len, "no policy applied yet");
	return false;
}

static struct mx_server *start(const char *addr, unsigned int flags, struct provider_state *ps)
{
	struct mx_provider p = { fixture_fill, fixture_release, fixture_ready, ps };
	struct mx_server *s = NULL;
	const char *what = NULL;
	int err;

	err = mx_server_start(addr, &p, flags, &s, &what);
	if (err)
		fail_msg("Failed to %s for %s: %d", what, addr, err);
	assert_non_null(s);
	assert_int_not_equal(mx_server_port(s), 0);
	return s;
}

/* One HTTP/1.0 request over a real TCP socket; returns the whole answer. */
static char *http(int family, uint16_t port, const char *request)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	size_t n = 0, cap = 1 << 16;
	char *buf = calloc(1, cap);
	ssize_t r;
	int fd;

	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (buf && (r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	assert_non_null(buf);
	buf[n] = '\0';
	return buf;
}

/* Own thread: /metrics is 200 with the exposition's content type and the
 * golden body; /healthz 200; /readyz 200 or 503 with the reason; other
 * paths 404; POST 405; a failing fill() 500. */
static void test_server_thread(void **state)
{
	struct provider_state ps = { 0 };
	struct mx_server *s = start("127.0.0.1:0", MX_SERVER_THREAD, &ps);
	uint16_t port = mx_server_port(s);
	char *r, *want = read_file(GOLDEN);

	r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "\r\n\r\n"));
	assert_string_equal(strstr(r, "\r\n\r\n") + 4, want);
	free(r);
	assert_int_equal(ps.fills, 1);
	assert_int_equal(ps.releases, 1);

	r = http(AF_INET, port, "GET / HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 404 "));
	free(r);
	r = http(AF_INET, port, "GET /healthz HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 200 "));
	free(r);
	r = http(AF_INET, port, "GET /readyz HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 200 "));
	assert_non_null(strstr(r, "\r\n\r\nready\n"));
	free(r);
	ps.not_ready = true;
	r = http(AF_INET, port, "GET /readyz HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 503 "));
	assert_non_null(strstr(r, "not ready: no policy applied yet\n"));
	free(r);
	r = http(AF_INET, port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	assert_non_null(strstr(r, " 405 "));
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	assert_int_equal(ps.fills, 1);

	ps.fail = -EIO;
	r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 500 "));
	assert_non_null(strstr(r, "Failed to collect metrics: -5"));
	free(r);
	assert_int_equal(ps.releases, 1); /* nothing to release after a failed fill */

	mx_server_stop(s);
	free(want);
}

static void test_server_ipv6(void **state)
{
	struct provider_state ps = { 0 };
	struct mx_server *s = start("[::1]:0", MX_SERVER_THREAD, &ps);
	char *r = http(AF_INET6, mx_server_port(s), "GET /metrics HTTP/1.0\r\n\r\n");

	assert_non_null(strstr(r, " 200 "));
	assert_non_null(strstr(r, "istio_tcp_connections_opened_total{"));
	free(r);
	mx_server_stop(s);
}

/* A port that cannot be bound is an error at start, with bind's errno. */
static void test_server_bind_errors(void **state)
{
	struct provider_state ps = { 0 };
	struct mx_provider p = { fixture_fill, NULL, NULL, &ps };
	struct mx_server *s = start("127.0.0.1:0", MX_SERVER_THREAD, &ps), *s2 = NULL;
	const char *what = NULL;
	char addr[32];

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", mx_server_port(s));
	assert_int_equal(mx_server_start(addr, &p, 0, &s2, &what), -EADDRINUSE);
	assert_string_equal(what, "bind");
	assert_null(s2);
	/* 192.0.2.1 (TEST-NET-1) is on no interface here. */
	assert_int_equal(mx_server_start("192.0.2.1:0", &p, 0, &s2, &what), -EADDRNOTAVAIL);
	assert_int_equal(mx_server_start("127.0.0.1:http", &p, 0, &s2, &what), -EINVAL);
	assert_null(s2);
	mx_server_stop(s);
	mx_server_stop(NULL);
	/* Stopped: the port is free again. */
	assert_int_equal(mx_server_start(addr, &p, 0, &s2, &what), 0);
	mx_server_stop(s2);
}

/* Read a child's stdout while driving the server from this thread, as the
 * agent's poll loop will; returns the output, *status the exit status. */
static char *drive_until_exit(struct mx_server *s, pid_t pid, int out_fd, int *status)
{
	size_t n = 0, cap = 1 << 16;
	char *buf = calloc(1, cap);
	int done = 0;

	while (!done) {
		struct pollfd pfd[2] = { { .fd = mx_server_fd(s), .events = POLLIN },
					 { .fd = out_fd, .events = POLLIN } };
		int t = mx_server_timeout_ms(s);

		assert_true(poll(pfd, 2, t < 0 || t > 100 ? 100 : t) >= 0);
		assert_int_equal(mx_server_run(s), 0);
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(out_fd, buf + n, cap - n - 1);

			if (r > 0)
				n += (size_t)r;
			if (n + 1 == cap)
				buf = realloc(buf, cap *= 2);
			done = r <= 0;
		}
		assert_non_null(buf);
	}
	assert_int_equal(waitpid(pid, status, 0), pid);
	buf[n] = '\0';
	return buf;
}

/* Agent-loop mode, scraped and parsed by prometheus_client's parser, which
 * also checks the label set and histogram rules (prom_parse.py). */
static void test_server_parsed_by_prometheus_client(void **state)
{
	struct provider_state ps = { 0 };
	struct mx_server *s = start("127.0.0.1:0", 0, &ps);
	char url[64], *out;
	int pipefd[2], status;
	pid_t pid;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", mx_server_port(s));
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		/* Debian's python, which python3-prometheus-client installs into
		 * (a python3 earlier in PATH, e.g. pyenv's, lacks it). */
		execl("/usr/bin/python3", "python3", HERE "prom_parse.py", url, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	out = drive_until_exit(s, pid, pipefd[0], &status);
	close(pipefd[0]);
	mx_server_stop(s);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s", out);
		fail_msg("prom_parse.py exited with status %d", status);
	}
	assert_int_equal(ps.fills, 1);
	/* The parser's view: counter families drop _total, samples keep it. */
	assert_non_null(strstr(out, "istio_tcp_connections_opened_total{connection_security_policy="
				    "\"unknown\",destination_app=\"reviews\",destination_canonical_revision="
				    "\"unknown\",destination_canonical_service=\"unknown\","
				    "destination_cluster=\"unknown\",destination_principal=\"unknown\","
				    "destination_service=\"" HOST "\",destination_service_name=\"reviews\","
				    "destination_service_namespace=\"default\",destination_version=\"v1\","
				    "destination_workload=\"reviews-v1\",destination_workload_namespace="
				    "\"default\",reporter=\"source\",request_protocol=\"tcp\","
				    "response_flags=\"-\",source_app=\"unknown\",source_canonical_revision="
				    "\"unknown\",source_canonical_service=\"unknown\",source_cluster="
				    "\"unknown\",source_principal=\"unknown\",source_version=\"unknown\","
				    "source_workload=\"unknown\",source_workload_namespace=\"unknown\"} 9\n"));
	assert_non_null(strstr(out, "destination_version=\"v2\",destination_workload=\"reviews-v2\","
				    "destination_workload_namespace=\"default\",reporter=\"source\","
				    "request_protocol=\"tcp\",response_flags=\"-\""));
	assert_non_null(strstr(out, "bpfmesh_connect_latency_seconds_bucket{destination_service=\""
				    HOST "\",destination_service_namespace=\"default\",le=\"0.001\","
				    "port=\"80\",subset=\"v1\"} 5\n"));
	assert_non_null(strstr(out, "bpfmesh_connect_latency_seconds_sum{destination_service=\""
				    HOST "\",destination_service_namespace=\"default\",port=\"80\","
				    "subset=\"v1\"} 0.009\n"));
	assert_non_null(strstr(out, "bpfmesh_outlier_ejected_endpoints{destination_service=\""
				    HOST "\",destination_service_namespace=\"default\",port=\"80\","
				    "subset=\"v1\"} 1\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_istio_full_label_set),
		cmocka_unit_test(test_istio_semantics),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_clusters_without_histograms),
		cmocka_unit_test(test_istio_by_source),
		cmocka_unit_test(test_node_families),
		cmocka_unit_test(test_render_rejects_bad_snapshot),
		cmocka_unit_test(test_workload_from_labels),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_server_thread),
		cmocka_unit_test(test_server_ipv6),
		cmocka_unit_test(test_server_bind_errors),
		cmocka_unit_test(test_server_parsed_by_prometheus_client),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
