// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes discovery end to end (issue 16): the agent lists and watches
 * a recorded API server (tests/k8s/fakeapi.c, fixtures in
 * tests/k8s/fixtures/kern) through --kubeconfig; connections to the
 * Service's cluster IP (127.100.16.1:80) from the test's cgroup land on
 * its ready EndpointSlice endpoints; an endpoint change from the watch is
 * applied; when the API server goes away the data plane keeps its state
 * and the agent says so. k8s_locality: this node's locality comes from its
 * Node object (fixtures in tests/k8s/fixtures/locality), connections stay
 * in its zone, and a relabelled Node moves them; --locality overrides.
 * k8s_pod_identity: this node's pods (fixtures in tests/k8s/fixtures/podid)
 * are workload identities by their kubelet cgroups; sourceLabels routes
 * and source_* metric labels see them. k8s_ipv6: a dual-stack Service
 * (fixtures in tests/k8s/fixtures/ipv6), each cluster IP to the endpoints
 * of its own family, IPv6 inside the test's network namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ktest.h"
#include "../k8s/fakeapi.h"

#define FIXTURES "tests/k8s/fixtures/kern"
#define VIP "127.100.16.1"
#define N_CONNS 4000

static const char *const eps[] = { "127.1.16.1", "127.1.16.2", "127.1.16.3" };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Connections split evenly between the two endpoints a and b, none to c. */
static void expect_split(struct ktest_env *env, int a, int b, int c, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, VIP, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, what);
	ASSERT_EQ(r.per_backend[c], 0, "no connection to the endpoint that is not ready");
	ASSERT_EQ(r.per_backend[a] + r.per_backend[b], N_CONNS, what);
	ASSERT_NEAR(r.per_backend[a], N_CONNS / 2.0, binomial_bound(N_CONNS, 0.5), what);
}

/* /metrics holds the line want (the agent serves it while it watches). */
static void expect_metric(struct ktest_env *e, const char *want, const char *what)
{
	static char text[1 << 16];

	if (ASSERT_OK(env_get_metrics(env_metrics_port(e), text, sizeof(text)), "scrape"))
		ASSERT_TRUE(strstr(text, want) != NULL, what);
}

/* `bpfmesh status` of the env's agent holds want. */
static void expect_status(struct ktest_env *e, const char *want, const char *what)
{
	static char out[1 << 16];

	if (ASSERT_EQ(env_run_cli(e, out, sizeof(out), "status --bpffs %s --state-dir %s",
				  e->bpffs, e->state), 0, "bpfmesh status"))
		ASSERT_TRUE(strstr(out, want) != NULL, what);
}

/* A kubeconfig in dir for the fake API server on port: path into kc. */
static int write_kubeconfig(const char *dir, uint16_t port, char *kc, size_t len)
{
	char text[512];

	snprintf(kc, len, "%s/kubeconfig", dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
		 "clusters:\n- name: fake\n  cluster: {server: 'http://127.0.0.1:%u'}\n"
		 "contexts:\n- name: test\n  context: {cluster: fake}\n", port);
	return write_text_file(kc, text);
}

/* The fake API server on fixtures (a file probe names one of them), with
 * trig as its trigger dir and a kubeconfig for it in kc. false: skipped or
 * failed (reported); *fa is set when the server runs. */
static bool fake_cluster(const char *fixtures, const char *probe, const char *trig,
			 struct fakeapi **fa, char *kc, size_t len)
{
	char path[PATH_MAX];
	uint16_t port;

	snprintf(path, sizeof(path), "%s/%s", fixtures, probe);
	if (access(path, R_OK)) {
		ktest_skip("fixtures not found (run from the repository root)");
		return false;
	}
	return ASSERT_OK(fakeapi_start(fixtures, trig, fa, &port), "fake API server") &&
	       ASSERT_OK(write_kubeconfig(trig, port, kc, len), "kubeconfig");
}

KTEST(k8s_discovery)
{
	char trig[] = "/tmp/bpfmesh-k8s-XXXXXX", kc[PATH_MAX], path[PATH_MAX], text[512];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", "--metrics", "127.0.0.1:0",
			       NULL };
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct fakeapi *fa = NULL;
	double t0;

	if (!ASSERT_TRUE(mkdtemp(trig) != NULL, "trigger dir"))
		return;
	if (!fake_cluster(FIXTURES, "services.list.json", trig, &fa, kc, sizeof(kc)) ||
	    !ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies the cluster"))
		goto out;

	/* the Service's cluster IP: 127.1.16.1 and .2 ready, .3 not */
	expect_split(&env, 0, 1, 2, "cluster IP -> ready endpoints");
	expect_metric(&env, "bpfmesh_k8s_api_up 1\n", "API up in /metrics");
	ASSERT_EQ(env_http_get(env_metrics_port(&env), "/readyz", text, sizeof(text)), 200,
		  "ready: applied and synced");
	expect_metric(&env, "bpfmesh_k8s_synced 1\n", "synced in /metrics");
	expect_status(&env, "kubernetes API: reachable, every kind listed", "up in bpfmesh status");
	expect_metric(&env, "bpfmesh_k8s_kind_forbidden{kind=\"VirtualService\"} 0\n",
		      "Istio kinds absent (404), not forbidden");

	/* the watch: .1 terminating (drained), .3 ready */
	snprintf(path, sizeof(path), "%s/endpoints-change", trig);
	t0 = now_ms();
	if (!ASSERT_OK(write_text_file(path, ""), "trigger") ||
	    !ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "change applied"))
		goto out;
	fprintf(stderr, "  endpoint change applied %.1f ms after the trigger "
		"(fake server poll up to 0.2 ms + watch + compile + apply; a lone event is not debounced)\n", now_ms() - t0);
	expect_split(&env, 1, 2, 0, "after the watch event");
	ASSERT_TRUE(fakeapi_count(fa, "endpointslices?watch=1&allowWatchBookmarks=true&"
				      "resourceVersion=500") == 1, "watch from the list's version");

	/* the API server goes away: reported, the data plane keeps its state */
	fakeapi_stop(fa);
	fa = NULL;
	ASSERT_OK(env_wait_log(&env, "Kubernetes API unreachable", 1, 10000), "outage reported");
	expect_split(&env, 1, 2, 0, "during the outage");
	ASSERT_EQ(env_count_log(&env, "applied generation 3"), 0, "nothing applied in the outage");
	expect_metric(&env, "bpfmesh_k8s_api_up 0\n", "the outage in /metrics");
	expect_status(&env, "kubernetes API: UNREACHABLE since ", "the outage in bpfmesh status");
out:
	backends_stop(&be);
	env_teardown(&env);
	fakeapi_stop(fa);
	unlink(kc);
	snprintf(path, sizeof(path), "%s/endpoints-change", trig);
	unlink(path);
	rmdir(trig);
}

#define LOC_FIXTURES "tests/k8s/fixtures/locality"
#define LOC_VIP "127.100.17.1"

static const char *const loc_eps[] = { "127.1.17.1", "127.1.17.2", "127.1.17.3", "127.1.17.4" };

/* Every connection to the endpoints a and b (one zone), split evenly. */
static void expect_zone(struct ktest_env *env, int a, int b, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, LOC_VIP, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, what);
	ASSERT_EQ(r.per_backend[a] + r.per_backend[b], N_CONNS, what);
	ASSERT_NEAR(r.per_backend[a], N_CONNS / 2.0, binomial_bound(N_CONNS, 0.5), what);
}

/* One agent on node-a against the locality fixtures, with --locality when given. */
static void locality_run(const char *trig, const char *kc, const char *locality)
{
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a",
			       locality ? "--locality" : NULL, locality, NULL };
	struct ktest_env env = { 0 };
	struct backends be = {};
	char path[PATH_MAX];

	if (!ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, loc_eps, 4, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies the cluster"))
		goto out;
	if (locality) {
		/* the flag wins over the Node's labels, before and after a change */
		ASSERT_EQ(env_count_log(&env, "(from its topology labels)"), 0, "Node not used");
		expect_zone(&env, 2, 3, "--locality r1/z2: traffic stays in z2");
		goto out;
	}
	ASSERT_OK(env_wait_log(&env, "node node-a: locality r1/z1 (from its topology labels)", 1,
			       1000), "locality from the Node");
	expect_zone(&env, 0, 1, "node-a in r1/z1: traffic stays in z1");
	/* node-a relabelled to z2: the watch event re-applies */
	snprintf(path, sizeof(path), "%s/node-moved", trig);
	if (!ASSERT_OK(write_text_file(path, ""), "trigger") ||
	    !ASSERT_OK(env_wait_log(&env, "node node-a: locality r1/z2", 1, 5000), "relabel seen") ||
	    !ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "relabel applied"))
		goto out;
	expect_zone(&env, 2, 3, "node-a now in r1/z2: traffic stays in z2");
out:
	backends_stop(&be);
	env_teardown(&env);
}

KTEST(k8s_locality)
{
	char trig[] = "/tmp/bpfmesh-k8s-XXXXXX", kc[PATH_MAX], path[PATH_MAX];
	struct fakeapi *fa = NULL;

	if (!ASSERT_TRUE(mkdtemp(trig) != NULL, "trigger dir"))
		return;
	if (!fake_cluster(LOC_FIXTURES, "nodes.list.json", trig, &fa, kc, sizeof(kc)))
		goto out;
	locality_run(trig, kc, NULL);
	/* a fresh server (its watch counts start again): --locality overrides */
	fakeapi_stop(fa);
	fa = NULL;
	snprintf(path, sizeof(path), "%s/node-moved", trig);
	unlink(path);
	if (!fake_cluster(LOC_FIXTURES, "nodes.list.json", trig, &fa, kc, sizeof(kc)))
		goto out;
	locality_run(trig, kc, "r1/z2");
out:
	fakeapi_stop(fa);
	unlink(kc);
	snprintf(path, sizeof(path), "%s/node-moved", trig);
	unlink(path);
	rmdir(trig);
}

#define ID_FIXTURES "tests/k8s/fixtures/podid"
#define ID_VIP "127.100.18.1"
#define ID_CONNS 200

static const char *const id_eps[] = { "127.1.18.1", "127.1.18.2" }; /* v1, v2 */

/* The kubelet's pod cgroups (pods.list.json) under the test's cgroup, the
 * agent's cgroup root: web with the systemd driver, qa-tools with
 * cgroupfs; each with a container cgroup below it, where the processes
 * run, as under a kubelet. */
enum { POD_WEB, POD_QA, N_PODS };
static const char *const pod_cgroups[N_PODS][4] = {
	{ "kubepods.slice", "kubepods.slice/kubepods-burstable.slice",
	  "kubepods.slice/kubepods-burstable.slice/"
	  "kubepods-burstable-pod0a1b2c3d_1111_4e5f_8a9b_000000000001.slice",
	  "kubepods.slice/kubepods-burstable.slice/"
	  "kubepods-burstable-pod0a1b2c3d_1111_4e5f_8a9b_000000000001.slice/cri-containerd-web.scope" },
	{ "kubepods", "kubepods/besteffort",
	  "kubepods/besteffort/pod0a1b2c3d-2222-4e5f-8a9b-000000000002",
	  "kubepods/besteffort/pod0a1b2c3d-2222-4e5f-8a9b-000000000002/qa" },
};

static void pod_cgroups_remove(const char *base)
{
	char path[PATH_MAX * 2];
	int p, i;

	for (p = 0; p < N_PODS; p++)
		for (i = 3; i >= 0; i--) {
			snprintf(path, sizeof(path), "%s/%s", base, pod_cgroups[p][i]);
			rmdir(path);
		}
}

static bool pod_cgroups_make(const char *base)
{
	char path[PATH_MAX * 2];
	int p, i;

	for (p = 0; p < N_PODS; p++)
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", base, pod_cgroups[p][i]);
			if (mkdir(path, 0755) && errno != EEXIST)
				return ASSERT_OK(-errno, path);
		}
	return true;
}

/* n connections from the container cgroup of pod: how many to v1, v2. */
static bool connect_from_pod(const struct ktest_env *env, int pod, int *v1, int *v2)
{
	struct ktest_env sub = *env;
	struct client_result r;
	int len = snprintf(sub.cgroup, sizeof(sub.cgroup), "%s/%s", env->cgroup,
			   pod_cgroups[pod][3]);

	if (!ASSERT_TRUE(len > 0 && (size_t)len < sizeof(sub.cgroup), "cgroup path length") ||
	    !ASSERT_OK(client_run(&sub, ID_VIP, 80, ID_CONNS, &r), pod_cgroups[pod][3]))
		return false;
	ASSERT_EQ(r.ok, ID_CONNS, "every connection answered");
	*v1 = r.per_backend[0];
	*v2 = r.per_backend[1];
	return true;
}

/* Connections opened from the workload with these labels, by /metrics. */
static long long pod_opened(struct ktest_env *env, const char *const *want)
{
	static char text[1 << 20];

	if (env_get_metrics(env_metrics_port(env), text, sizeof(text)))
		return -1;
	return prom_series_sum(text, "istio_tcp_connections_opened_total", want);
}

static const char *const from_qa_pod[] = {
	"source_workload=\"qa-tools\"", "source_workload_namespace=\"tools\"",
	"source_app=\"qa-tools\"", "destination_service=\"api.shop.svc.cluster.local\"", NULL
};
static const char *const from_web_pod[] = {
	"source_workload=\"web\"", "source_workload_namespace=\"shop\"", "source_app=\"web\"",
	"destination_service=\"api.shop.svc.cluster.local\"", NULL
};

KTEST(k8s_pod_identity)
{
	char trig[] = "/tmp/bpfmesh-k8s-XXXXXX", kc[PATH_MAX];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", "--metrics", "127.0.0.1:0",
			       NULL };
	static char out[1 << 16];
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct fakeapi *fa = NULL;
	int v1, v2;

	if (!ASSERT_TRUE(mkdtemp(trig) != NULL, "trigger dir"))
		return;
	if (!fake_cluster(ID_FIXTURES, "pods.list.json", trig, &fa, kc, sizeof(kc)) ||
	    !ASSERT_OK(env_setup(&env), "setup") || !pod_cgroups_make(env.cgroup) ||
	    !ASSERT_OK(backends_start(&be, id_eps, 2, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies the cluster"))
		goto out;
	ASSERT_OK(env_wait_log(&env, "2 pods on this node (2 with their cgroup found)", 1, 1000),
		  "the two running pods of node-a, not the finished one nor node-b's");

	/* sourceLabels {app: qa-tools} -> v2; the web pod -> v1 */
	if (connect_from_pod(&env, POD_QA, &v1, &v2)) {
		printf("  from the qa-tools pod: v1 %d, v2 %d\n", v1, v2);
		ASSERT_EQ(v2, ID_CONNS, "qa-tools pod -> v2");
	}
	if (connect_from_pod(&env, POD_WEB, &v1, &v2)) {
		printf("  from the web pod: v1 %d, v2 %d\n", v1, v2);
		ASSERT_EQ(v1, ID_CONNS, "web pod -> v1");
	}
	ASSERT_EQ(pod_opened(&env, from_qa_pod), ID_CONNS, "source_workload qa-tools (the CronJob)");
	ASSERT_EQ(pod_opened(&env, from_web_pod), ID_CONNS, "source_workload web (the Deployment)");

	if (ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps identities --bpffs %s", env.bpffs),
		      0, "maps identities")) {
		printf("%s", out);
		ASSERT_TRUE(strstr(out, "tools/qa-tools-28391234-p9z7q") != NULL &&
			    strstr(out, "shop/web-6d8f5c7b9-x2x4k") != NULL,
			    "maps identities names both pods");
		ASSERT_TRUE(strstr(out, "done-1") == NULL && strstr(out, "-other") == NULL,
			    "no identity for the finished pod nor node-b's");
	}
out:
	backends_stop(&be);
	env_stop_agent(&env);
	if (env.cgroup[0])
		pod_cgroups_remove(env.cgroup);
	env_teardown(&env);
	fakeapi_stop(fa);
	unlink(kc);
	rmdir(trig);
}

#define V6_FIXTURES "tests/k8s/fixtures/ipv6"

static const char *const v6_eps[] = { "fd00::19:1", "fd00::19:2", "fd00::19:3" };
static const char *const v4_eps[] = { "127.1.19.1", "127.1.19.2" };

/* Connections to vip split evenly between endpoints a and b, none to c (-1: no c). */
static void expect_family_split(struct ktest_env *env, const char *vip, int a, int b, int c,
				const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, vip, 80, N_CONNS, &r), "client"))
		return;
	printf("  %s: %s -> %d / %d / %d\n", what, vip, r.per_backend[0], r.per_backend[1],
	       r.per_backend[2]);
	ASSERT_EQ(r.ok, N_CONNS, what);
	if (c >= 0)
		ASSERT_EQ(r.per_backend[c], 0, "no connection to the endpoint not ready");
	ASSERT_EQ(r.per_backend[a] + r.per_backend[b], N_CONNS, what);
	ASSERT_NEAR(r.per_backend[a], N_CONNS / 2.0, binomial_bound(N_CONNS, 0.5), what);
}

/*
 * A dual-stack Service from the API server (fixtures in
 * tests/k8s/fixtures/ipv6): its IPv6 cluster IP reaches the ready endpoints
 * of its IPv6 EndpointSlice, its IPv4 one those of its IPv4 slice, inside
 * the test's own network namespace (fd00::/8 on its loopback); a watch
 * event on the IPv6 slice moves the IPv6 traffic and leaves the IPv4 alone.
 */
KTEST(k8s_ipv6)
{
	char trig[] = "/tmp/bpfmesh-k8s6-XXXXXX", kc[PATH_MAX], path[PATH_MAX];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", NULL };
	struct ktest_env env = { 0 };
	struct backends b6 = {}, b4 = {};
	struct fakeapi *fa = NULL;

	if (!ASSERT_TRUE(mkdtemp(trig) != NULL, "trigger dir"))
		return;
	if (!fake_cluster(V6_FIXTURES, "services.list.json", trig, &fa, kc, sizeof(kc)) ||
	    !ASSERT_OK(env_setup(&env), "setup"))
		goto out;
	if (!netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		goto out;
	}
	if (!ASSERT_OK(lo_add_ipv6(v6_eps, 3), "fd00:: addresses on lo") ||
	    !ASSERT_OK(backends_start(&b6, v6_eps, 3, 8080), "IPv6 backends") ||
	    !ASSERT_OK(backends_start(&b4, v4_eps, 2, 8080), "IPv4 backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies the cluster"))
		goto out;

	expect_family_split(&env, "fd00::19:100", 0, 1, 2, "IPv6 cluster IP -> IPv6 slice");
	expect_family_split(&env, "127.100.19.1", 0, 1, -1, "IPv4 cluster IP -> IPv4 slice");

	snprintf(path, sizeof(path), "%s/v6-change", trig);
	if (!ASSERT_OK(write_text_file(path, ""), "trigger") ||
	    !ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "change applied"))
		goto out;
	expect_family_split(&env, "fd00::19:100", 1, 2, 0, "after the IPv6 slice's event");
	expect_family_split(&env, "127.100.19.1", 0, 1, -1, "IPv4 unchanged");
out:
	if (b6.thread)
		backends_stop(&b6);
	if (b4.thread)
		backends_stop(&b4);
	env_teardown(&env);
	fakeapi_stop(fa);
	unlink(kc);
	snprintf(path, sizeof(path), "%s/v6-change", trig);
	unlink(path);
	rmdir(trig);
}
