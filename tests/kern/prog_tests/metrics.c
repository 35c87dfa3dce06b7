// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's /metrics, scraped while real connections run: a canary with
 * subsets v1 (two WorkloadEntries) and v2 (one, with outlierDetection), a
 * client in the test cgroup sending a known request and reading a known
 * response per connection. Istio's TCP counters must equal what the client
 * did, per destination_version; every series carries Istio's full label set;
 * failed connects show as UF, refusals after the ejection as UH, and the
 * ejection counter and gauge move. `bpfmesh stats -j` must agree, and the
 * counters must continue, not restart, across an agent restart.
 *
 * The text is parsed with Prometheus' own parser (Debian's
 * python3-prometheus-client, tests/unit/prom_parse.py) when it is there. The
 * VM (vmtests/) has no python: there the exposition lines are read by
 * series_value() below, the same queries on the raw text, and the label and
 * histogram rules prom_parse.py checks are checked by check_exposition().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "ktest.h"

#define REQ_BYTES 300    /* client to server, each connection */
#define RESP_BYTES 1000  /* server to client; the first byte names the backend */
#define N_CANARY 40      /* connections at 50/50 */
#define N_FAILING 40     /* connections at 50/50 once v2's endpoint is gone */
#define EJECT_AFTER 2    /* consecutive5xxErrors of subset v2 */

static const char *const eps[] = { "127.1.20.1", "127.1.20.2", "127.1.20.3" };
static const char *const versions[] = { "v1", "v1", "v2" };
#define VIP "127.100.20.1"
#define MAX_TEXT (1 << 20)

/* reviews: three WorkloadEntries picked by the ServiceEntry's selector;
 * subset v2 ejects after EJECT_AFTER failures, for a minute, up to 100%. */
static void canary_policy(char *buf, size_t len, int w1, int w2)
{
	int n, i;

	n = snprintf(buf, len,
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: reviews, namespace: default}\n"
		"spec:\n  hosts: [reviews.default.svc.cluster.local]\n  addresses: [" VIP "]\n"
		"  ports:\n  - {number: 80, name: tcp-web, protocol: TCP, targetPort: 8080}\n"
		"  resolution: STATIC\n  workloadSelector:\n    labels: {app: reviews}\n---\n");
	for (i = 0; i < 3; i++)
		n += snprintf(buf + n, len - n,
			"apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
			"metadata: {name: reviews-%s-%d, namespace: default}\n"
			"spec:\n  address: %s\n  labels: {app: reviews, version: %s}\n---\n",
			versions[i], i, eps[i], versions[i]);
	n += snprintf(buf + n, len - n,
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		"metadata: {name: reviews, namespace: default}\n"
		"spec:\n  host: reviews\n  subsets:\n"
		"  - name: v1\n    labels: {version: v1}\n"
		"  - name: v2\n    labels: {version: v2}\n    trafficPolicy:\n"
		"      outlierDetection: {consecutive5xxErrors: %d, interval: 10s,"
		" baseEjectionTime: 60s, maxEjectionPercent: 100}\n---\n", EJECT_AFTER);
	snprintf(buf + n, len - n,
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		"metadata: {name: reviews, namespace: default}\n"
		"spec:\n  hosts: [reviews]\n  tcp:\n  - route:\n"
		"    - destination: {host: reviews, subset: v1}\n      weight: %d\n"
		"    - destination: {host: reviews, subset: v2}\n      weight: %d\n", w1, w2);
}

/* ---- backends: read the whole request, answer RESP_BYTES, close ---- */

/* A stuck peer becomes a failed check, not a hung test. */
static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 5 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void serve_one(int lfd, unsigned char id)
{
	char req[REQ_BYTES], resp[RESP_BYTES];
	size_t got = 0;
	ssize_t n;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	set_timeouts(c);
	while (got < sizeof(req) && (n = read(c, req + got, sizeof(req) - got)) > 0)
		got += (size_t)n;
	memset(resp, 'r', sizeof(resp));
	resp[0] = (char)id;
	if (got == sizeof(req) && write(c, resp, sizeof(resp)) != (ssize_t)sizeof(resp))
		perror("backend write");
	close(c);
}

static void *echo_serve(void *arg)
{
	struct echo_loop *b = arg;
	struct pollfd pfd[4];
	int i;

	for (;;) {
		for (i = 0; i < 3; i++)
			pfd[i] = (struct pollfd){ .fd = b->fds[i], .events = POLLIN };
		pfd[3] = (struct pollfd){ .fd = b->stop[0], .events = POLLIN };
		if (poll(pfd, 4, -1) < 0 && errno != EINTR)
			return NULL;
		if (pfd[3].revents)
			return NULL;
		for (i = 0; i < 3; i++)
			if (b->fds[i] >= 0 && (pfd[i].revents & POLLIN))
				serve_one(b->fds[i], (unsigned char)i);
	}
}

static int echo_start(struct echo_loop *b)
{
	int i, one = 1;

	*b = (struct echo_loop){ .fds = { -1, -1, -1 }, .stop = { -1, -1 } };
	if (pipe(b->stop))
		return -errno;
	for (i = 0; i < 3; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8080) };

		b->fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		inet_pton(AF_INET, eps[i], &sa.sin_addr);
		setsockopt(b->fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (b->fds[i] < 0 || bind(b->fds[i], (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(b->fds[i], 128))
			return -errno;
	}
	return -pthread_create(&b->thread, NULL, echo_serve, b);
}

/* Stop listening on backend i: connects to it are refused from now on.
 * close() alone would not do it while the serving thread polls the socket
 * (poll holds a reference to the file); shutdown() closes the listener
 * itself and wakes the poll, and the next round leaves the fd out (-1). */
static void echo_close_one(struct echo_loop *b, int i)
{
	int fd = b->fds[i];

	b->fds[i] = -1;
	shutdown(fd, SHUT_RDWR);
	close(fd);
}

/* ---- client: a child in the test cgroup ---- */

struct echo_result {
	int per_backend[3];
	int refused, other;
	long long resp_bytes;
};

static void echo_connect(const struct sockaddr_in *sa, struct echo_result *r)
{
	char req[REQ_BYTES], buf[4096];
	long long got = 0;
	unsigned char id = 0xff;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0)
		set_timeouts(fd);
	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		if (errno == ECONNREFUSED)
			r->refused++;
		else
			r->other++;
		if (fd >= 0)
			close(fd);
		return;
	}
	memset(req, 'q', sizeof(req));
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
		r->other++;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (got == 0)
			id = (unsigned char)buf[0];
		got += n;
	}
	close(fd);
	if (got == RESP_BYTES && id < 3) {
		r->per_backend[id]++;
		r->resp_bytes += got;
	} else {
		r->other++;
	}
}

static int echo_client(struct ktest_env *e, int n, struct echo_result *res)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int pfd[2], status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	inet_pton(AF_INET, VIP, &sa.sin_addr);
	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char path[PATH_MAX + 32], me[32];
		struct echo_result r = {};
		int fd, i, len;

		close(pfd[0]);
		snprintf(path, sizeof(path), "%s/cgroup.procs", e->cgroup);
		len = snprintf(me, sizeof(me), "%d", getpid());
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, me, len) != len)
			_exit(2);
		close(fd);
		for (i = 0; i < n; i++)
			echo_connect(&sa, &r);
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 3);
	}
	close(pfd[1]);
	status = read(pfd[0], res, sizeof(*res)) == sizeof(*res) ? 0 : -EIO;
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return status;
}

/* ---- scraping ---- */

static bool have_prometheus_client(void)
{
	return system("/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1") == 0;
}

/* Prometheus' parser over the live endpoint: its normalised lines (one
 * sample a line, `name{labels} value`) into text. */
static int prom_parse(int port, char *text, size_t len)
{
	char cmd[512];
	size_t used = 0, n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/unit/prom_parse.py "
		 "http://127.0.0.1:%d/metrics", port);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (used + 1 < len && (n = fread(text + used, 1, len - 1 - used, p)) > 0)
		used += n;
	text[used] = '\0';
	return pclose(p) == 0 ? 0 : -EPROTO;
}

/* Scrape: parsed by Prometheus' client where it exists, raw otherwise. */
static int scrape(struct ktest_env *e, char *text, size_t len, bool python)
{
	int port = env_metrics_port(e);

	if (port <= 0)
		return -ENOENT;
	return python ? prom_parse(port, text, len) : env_get_metrics(port, text, len);
}

/* Sum of the samples of `name` whose labels include every k="v" of want;
 * -1 when none matches (tests/kern/prom_text.c). */
static long long series_value(const char *text, const char *name, const char *const *want)
{
	return prom_series_sum(text, name, want);
}

/* Istio's standard label set, read from the one list the tests keep
 * (ISTIO_LABELS in tests/unit/prom_parse.py). Returns the count, or -1. */
static int istio_label_set(char names[][48], int max)
{
	char line[512], *p, *q;
	bool in_set = false;
	int n = 0;
	FILE *f = fopen("tests/unit/prom_parse.py", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!in_set) {
			in_set = strncmp(line, "ISTIO_LABELS = {", 16) == 0;
			continue;
		}
		if (line[0] == '}')
			break;
		for (p = line; (p = strchr(p, '"')) && (q = strchr(p + 1, '"')) && n < max;
		     p = q + 1)
			snprintf(names[n++], 48, "%.*s", (int)(q - p - 1), p + 1);
	}
	fclose(f);
	return n;
}

/* Every istio_tcp_ sample carries every standard label: the number of
 * samples checked, or -1 at the first one missing a label. */
static int check_istio_labels(const char *text)
{
	char names[32][48];
	const char *line, *end;
	int n = 0, n_names = istio_label_set(names, 32), l;

	if (!ASSERT_EQ(n_names, 23, "Istio's standard labels read from prom_parse.py"))
		return -1;

	for (line = text; *line; line = *end ? end + 1 : end) {
		char want[64];

		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if (strncmp(line, "istio_tcp_", 10))
			continue;
		for (l = 0; l < n_names; l++) {
			const char *p = line;
			bool found = false;

			snprintf(want, sizeof(want), "%.47s=\"", names[l]);
			while ((p = strstr(p, want)) && p < end && !found) {
				found = p[-1] == '{' || p[-1] == ',';
				p++;
			}
			if (!found) {
				fprintf(stderr, "  missing %s in: %.*s\n", names[l],
					(int)(end - line), line);
				return -1;
			}
		}
		n++;
	}
	return n;
}

#define V(ver) "destination_version=\"" ver "\""
#define FLAGS(f) "response_flags=\"" f "\""
#define SUBSET(s) "subset=\"" s "\""

static long long istio(const char *text, const char *metric, const char *ver, const char *flags)
{
	const char *const want[] = { ver, flags, "reporter=\"source\"",
				     "destination_service=\"reviews.default.svc.cluster.local\"",
				     NULL };

	return series_value(text, metric, want);
}

/* The client's outcome per version: v1 is backends 0 and 1, v2 backend 2. */
struct expect {
	long long v1, v2, uf_v2, uh_v2;
};

static void check_istio(const char *text, const struct expect *x, const char *when)
{
	static const char *const m[] = { "istio_tcp_connections_opened_total",
					  "istio_tcp_connections_closed_total" };
	char what[128];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(what, sizeof(what), "%s v1 (%s)", m[i], when);
		ASSERT_EQ(istio(text, m[i], V("v1"), FLAGS("-")), x->v1, what);
		snprintf(what, sizeof(what), "%s v2 (%s)", m[i], when);
		ASSERT_EQ(istio(text, m[i], V("v2"), FLAGS("-")), x->v2, what);
	}
	ASSERT_EQ(istio(text, "istio_tcp_received_bytes_total", V("v1"), FLAGS("-")),
		  x->v1 * REQ_BYTES, "request bytes v1");
	ASSERT_EQ(istio(text, "istio_tcp_received_bytes_total", V("v2"), FLAGS("-")),
		  x->v2 * REQ_BYTES, "request bytes v2");
	ASSERT_EQ(istio(text, "istio_tcp_sent_bytes_total", V("v1"), FLAGS("-")),
		  x->v1 * RESP_BYTES, "response bytes v1");
	ASSERT_EQ(istio(text, "istio_tcp_sent_bytes_total", V("v2"), FLAGS("-")),
		  x->v2 * RESP_BYTES, "response bytes v2");
	if (x->uf_v2)
		ASSERT_EQ(istio(text, "istio_tcp_connections_opened_total", V("v2"), FLAGS("UF")),
			  x->uf_v2, "failed connects: UF, opened");
	if (x->uf_v2)
		/* UH is decided before an endpoint is picked: no version (Envoy);
		 * the series appears with its first count. */
		ASSERT_EQ(istio(text, "istio_tcp_connections_opened_total",
				"destination_version=\"unknown\"", FLAGS("UH")),
			  x->uh_v2 ? x->uh_v2 : -1, "no healthy upstream: UH, opened");
}

/* Scrape until closed connections have all been counted (sockops counts a
 * close when the socket reaches CLOSE, just after the client saw EOF). */
static int scrape_settled(struct ktest_env *e, char *text, bool python, long long closed_v1)
{
	int i, err = 0;

	for (i = 0; i < 100; i++) {
		err = scrape(e, text, MAX_TEXT, python);
		if (!err && istio(text, "istio_tcp_connections_closed_total", V("v1"), FLAGS("-")) >=
			    closed_v1)
			return 0;
		usleep(20000);
	}
	return err;
}

static void check_stats(struct ktest_env *e, const struct expect *x)
{
	static char out[65536];

	if (!ASSERT_EQ(env_run_cli(e, out, sizeof(out), "stats reviews -j --interval 0 --bpffs %s",
				   e->bpffs), 0, "bpfmesh stats -j"))
		return;
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v1\"", "opened"), x->v1, "stats: v1 opened");
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v2\"", "opened"), x->v2 + x->uf_v2,
		  "stats: v2 opened (established + failed)");
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v2\"", "failed"), x->uf_v2,
		  "stats: v2 failed");
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v2\"", "no_healthy_upstream"), x->uh_v2,
		  "stats: v2 no healthy upstream");
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v2\"", "ejected"), x->uf_v2 ? 1 : 0,
		  "stats: v2 ejected endpoints");
	ASSERT_EQ((long long)json_num_after(out, "\"subset\":\"v1\"", "bytes_sent"), x->v1 * REQ_BYTES,
		  "stats: v1 request bytes");
}

/* --cluster-histograms: the histogram families are in the exposition. */
static const char *const metrics_args[] = { "--metrics", "127.0.0.1:0", "--cluster-histograms",
					    NULL };

KTEST(metrics_scrape)
{
	static char text[MAX_TEXT], yaml[16384];
	struct echo_loop be = { .fds = { -1, -1, -1 }, .stop = { -1, -1 } };
	struct ktest_env env;
	struct echo_result r;
	struct expect x = {};
	bool python = have_prometheus_client();
	long long before;
	int status;

	printf("  metrics_scrape: parsed with %s\n",
	       python ? "Prometheus' python client (prom_parse.py)" : "the test's line reader");
	canary_policy(yaml, sizeof(yaml), 50, 50);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(echo_start(&be), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "agent with --metrics"))
		goto out;

	/* Phase 1: a 50/50 canary, every connection answered. */
	if (!ASSERT_OK(echo_client(&env, N_CANARY, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[0] + r.per_backend[1] + r.per_backend[2], N_CANARY,
		  "every connection answered");
	x.v1 = r.per_backend[0] + r.per_backend[1];
	x.v2 = r.per_backend[2];
	if (!ASSERT_OK(scrape_settled(&env, text, python, x.v1), "scrape"))
		goto out;
	ASSERT_TRUE(check_istio_labels(text) >= 4, "every Istio series has every standard label");
	check_istio(text, &x, "canary");
	{
		const char *const w[] = { V("v1"), FLAGS("-"),
					  "destination_workload=\"reviews-v1-0\"", NULL };
		const char *const w2[] = { V("v1"), FLAGS("-"),
					   "destination_workload=\"reviews-v1-1\"", NULL };

		ASSERT_EQ(series_value(text, "istio_tcp_connections_opened_total", w) +
			  series_value(text, "istio_tcp_connections_opened_total", w2), x.v1,
			  "destination_workload is the WorkloadEntry name");
	}

	/* Phase 2: the canary's only endpoint stops listening. The first
	 * EJECT_AFTER connects the route sends to v2 are refused by it (UF) and
	 * eject it; every later one the route sends to v2 is refused at once,
	 * no healthy upstream (UH); v1 answers the rest. */
	echo_close_one(&be, 2);
	if (!ASSERT_OK(echo_client(&env, N_FAILING, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 0, "v2 answers nothing");
	ASSERT_EQ(r.other, 0, "every connect answered or refused");
	if (!ASSERT_TRUE(r.refused >= EJECT_AFTER, "the route sent v2 enough connects"))
		goto out;
	x.v1 += r.per_backend[0] + r.per_backend[1];
	x.uf_v2 = EJECT_AFTER;
	x.uh_v2 = r.refused - EJECT_AFTER;
	printf("  metrics_scrape: v2 failing: %d answered by v1, %d refused (%d UF + %lld UH)\n",
	       r.per_backend[0] + r.per_backend[1], r.refused, EJECT_AFTER, x.uh_v2);
	if (!ASSERT_OK(scrape_settled(&env, text, python, x.v1), "scrape"))
		goto out;
	check_istio(text, &x, "v2 failing");
	{
		const char *const v2[] = { SUBSET("v2"), NULL };

		ASSERT_EQ(series_value(text, "bpfmesh_outlier_ejections_total", v2), 1,
			  "ejections counter of subset v2");
		ASSERT_EQ(series_value(text, "bpfmesh_outlier_ejected_endpoints", v2), 1,
			  "ejected gauge of subset v2");
		ASSERT_EQ(series_value(text, "bpfmesh_no_healthy_upstream_total", v2), x.uh_v2,
			  "no healthy upstream of subset v2");
	}
	check_stats(&env, &x);

	/* Phase 3: the agent dies and a new one starts: counters continue. */
	before = istio(text, "istio_tcp_connections_opened_total", V("v1"), FLAGS("-"));
	kill(env.agent, SIGKILL);
	waitpid(env.agent, &status, 0);
	env.agent = 0;
	if (!ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "second agent"))
		goto out;
	if (!ASSERT_OK(scrape_settled(&env, text, python, x.v1), "scrape after restart"))
		goto out;
	ASSERT_EQ(istio(text, "istio_tcp_connections_opened_total", V("v1"), FLAGS("-")), before,
		  "opened v1 continues across the restart");
	check_istio(text, &x, "after restart");
	check_stats(&env, &x);
out:
	env_teardown(&env);
	echo_loop_stop(&be);
}

/* A port that cannot be bound stops the agent at start, naming it. */
KTEST(metrics_port_in_use)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct ktest_env env;
	static char out[16384];
	int fd = -1, rc;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (!ASSERT_OK(fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
		       getsockname(fd, (struct sockaddr *)&sa, &len), "hold a port"))
		goto out;
	rc = env_run_cli(&env, out, sizeof(out),
			 "agent --policies %s --cgroup %s --bpffs %s --metrics 127.0.0.1:%d",
			 env.policies, env.cgroup, env.bpffs, ntohs(sa.sin_port));
	ASSERT_EQ(rc, 1, "agent exits 1");
	{
		char want[64];

		snprintf(want, sizeof(want), "metrics on 127.0.0.1:%d", ntohs(sa.sin_port));
		ASSERT_TRUE(strstr(out, want) != NULL, "the error names the address");
		ASSERT_TRUE(strstr(out, "Address already in use") != NULL, "and the reason");
	}
out:
	if (fd >= 0)
		close(fd);
	env_teardown(&env);
}
