// SPDX-License-Identifier: Apache-2.0
/* Workload identity from cgroups (issue 15): two workload cgroups under the
 * managed one (app: qa-tools in namespace tools, app: web in namespace
 * shop), one that no WorkloadEntry names, and a child of the qa cgroup.
 * sourceLabels {app: qa-tools} -> v2, else v1: every qa connection, the
 * child's too, reaches v2, none of the others; then sourceNamespace: shop
 * -> v2 likewise. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "kern/sysfs.h"
#include "ktest.h"

#define N_CONNS 300

static const char *const eps[] = { "127.1.80.1", "127.1.80.2" }; /* v1, v2 */

enum { CG_QA, CG_WEB, CG_UNKNOWN, CG_QA_CHILD, N_CG };
static const char *const cg_names[N_CG] = { "qa", "web", "unknown", "qa/child" };

/* The policy: the callers (cgroup paths under the cgroup2 mount), the
 * service and a VirtualService whose first tcp route matches match. */
static void identity_policy(char *buf, size_t len, const char *managed_rel, const char *match)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: WorkloadEntry\n"
		 "metadata:\n  name: qa\n  namespace: tools\n"
		 "  annotations: {bpfmesh.io/cgroup: '%s/qa'}\n"
		 "spec: {address: 198.18.8.1, labels: {app: qa-tools}, serviceAccount: qa}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: WorkloadEntry\n"
		 "metadata:\n  name: web\n  namespace: shop\n"
		 "  annotations: {bpfmesh.io/cgroup: '%s/web'}\n"
		 "spec: {address: 198.18.8.2, labels: {app: web}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: api, namespace: shop}\n"
		 "spec:\n"
		 "  hosts: [api.shop.svc.cluster.local]\n"
		 "  addresses: [127.100.80.1]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: %s, labels: {version: v1}}\n"
		 "  - {address: %s, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: api, namespace: shop}\n"
		 "spec:\n"
		 "  host: api\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: api, namespace: shop}\n"
		 "spec:\n"
		 "  hosts: [api]\n"
		 "  tcp:\n"
		 "  - match: [{%s}]\n"
		 "    route: [{destination: {host: api, subset: v2}}]\n"
		 "  - route: [{destination: {host: api, subset: v1}}]\n",
		 managed_rel, managed_rel, eps[0], eps[1], match);
}

/* n connections from a process in cgroup name (under the managed cgroup):
 * how many reached v1 and v2. */
static bool run_from(const struct ktest_env *env, const char *name, int n, int *v1, int *v2)
{
	struct ktest_env sub = *env;
	struct client_result r;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", env->cgroup, name);
	if (!ASSERT_TRUE(strlen(path) < sizeof(sub.cgroup), "cgroup path length"))
		return false;
	memcpy(sub.cgroup, path, strlen(path) + 1);
	if (!ASSERT_OK(client_run(&sub, "127.100.80.1", 80, n, &r), name))
		return false;
	ASSERT_EQ(r.ok, n, "every connection answered");
	*v1 = r.per_backend[0];
	*v2 = r.per_backend[1];
	return true;
}

/* Every connection of each cgroup goes where expect_v2 says. */
static void check_routes(const struct ktest_env *env, const bool expect_v2[N_CG], const char *how)
{
	int i, v1, v2;

	for (i = 0; i < N_CG; i++) {
		if (!run_from(env, cg_names[i], N_CONNS, &v1, &v2))
			continue;
		printf("  %s: from %-8s v1 %3d, v2 %3d\n", how, cg_names[i], v1, v2);
		ASSERT_EQ(expect_v2[i] ? v2 : v1, N_CONNS, cg_names[i]);
	}
}

static void remove_cgroups(const struct ktest_env *env)
{
	char path[PATH_MAX + 32];
	int i;

	for (i = N_CG - 1; i >= 0; i--) {
		snprintf(path, sizeof(path), "%s/%s", env->cgroup, cg_names[i]);
		rmdir(path);
	}
}

KTEST(identity_source_labels_and_namespace)
{
	static const bool by_labels[N_CG] = { true, false, false, true };
	static const bool by_ns[N_CG] = { false, true, false, false };
	char yaml[8192], root[PATH_MAX], path[PATH_MAX + 32], out[16384];
	struct backends be = {};
	struct ktest_env env;
	const char *rel;
	int i;

	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(cgroup2_root(root, sizeof(root)), "cgroup2 mount"))
		goto out;
	for (i = 0; i < N_CG; i++) {
		snprintf(path, sizeof(path), "%s/%s", env.cgroup, cg_names[i]);
		if (!ASSERT_OK(mkdir(path, 0755), "workload cgroup"))
			goto out;
	}
	rel = env.cgroup + strlen(root);
	identity_policy(yaml, sizeof(yaml), rel, "sourceLabels: {app: qa-tools}");
	if (!ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 2, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	check_routes(&env, by_labels, "sourceLabels");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services --bpffs %s", env.bpffs), 0,
		  "maps services");
	ASSERT_TRUE(strstr(out, "127.100.80.1:80/TCP<-id2") != NULL,
		    "maps shows the route of identity 2 (tools/qa)");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps identities --bpffs %s", env.bpffs), 0,
		  "maps identities");
	ASSERT_TRUE(strstr(out, "tools/qa") != NULL && strstr(out, "shop/web") != NULL,
		    "maps identities names both workloads");
	printf("%s", out);

	identity_policy(yaml, sizeof(yaml), rel, "sourceNamespace: shop");
	ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "rewrite: sourceNamespace");
	if (ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		check_routes(&env, by_ns, "sourceNamespace");
out:
	if (be.thread)
		backends_stop(&be);
	env_stop_agent(&env);
	remove_cgroups(&env);
	env_teardown(&env);
}

/* ---- source_* labels and stable ids ---------------------------------- */

#define N_QA 50
#define N_WEB 30
#define N_UNKNOWN 20
#define N_QA_LATER 10

/* A WorkloadEntry named first/first with a cgroup of its own: it sorts
 * before every other workload, so without stable ids it would take id 1. */
static void identity_policy_plus_first(char *buf, size_t len, const char *managed_rel)
{
	int n = snprintf(buf, len,
			 "apiVersion: networking.istio.io/v1\n"
			 "kind: WorkloadEntry\n"
			 "metadata:\n  name: first\n  namespace: first\n"
			 "  annotations: {bpfmesh.io/cgroup: '%s/first'}\n"
			 "spec: {address: 198.18.8.3, labels: {app: first}}\n"
			 "---\n", managed_rel);

	identity_policy(buf + n, len - (size_t)n, managed_rel, "sourceLabels: {app: qa-tools}");
}

/* n connections from cgroup name; every one answered. */
static void connect_from(const struct ktest_env *env, const char *name, int n)
{
	int v1, v2;

	run_from(env, name, n, &v1, &v2);
}

/* The identity id `bpfmesh maps identities` shows for workload "ns/name",
 * or -1. */
static long identity_id_of(struct ktest_env *env, const char *workload)
{
	static char out[16384];
	const char *line;
	long id = -1;

	if (env_run_cli(env, out, sizeof(out), "maps identities --bpffs %s", env->bpffs))
		return -1;
	for (line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *end = strchr(line, '\n');
		const char *hit = strstr(line, workload);

		if (hit && (!end || hit < end) && hit[strlen(workload)] == ' ')
			id = strtol(line, NULL, 10);
	}
	return id;
}

/* istio_tcp_connections_opened_total summed over the series whose source_*
 * labels are want's (NULL-terminated k="v"); -1 when none. */
static long long opened_from(struct ktest_env *env, const char *const *want)
{
	static char text[1 << 20];
	int port = env_metrics_port(env);

	if (port <= 0 || env_get_metrics(port, text, sizeof(text)))
		return -1;
	return prom_series_sum(text, "istio_tcp_connections_opened_total", want);
}

static const char *const from_qa[] = {
	"source_workload=\"qa\"", "source_workload_namespace=\"tools\"",
	"source_app=\"qa-tools\"", "source_version=\"unknown\"",
	"source_canonical_service=\"qa-tools\"", "source_canonical_revision=\"latest\"",
	"source_principal=\"unknown\"", "destination_service=\"api.shop.svc.cluster.local\"", NULL
};
static const char *const from_web[] = {
	"source_workload=\"web\"", "source_workload_namespace=\"shop\"", "source_app=\"web\"",
	"source_canonical_service=\"web\"", "source_principal=\"unknown\"", NULL
};
static const char *const from_unknown[] = {
	"source_workload=\"unknown\"", "source_workload_namespace=\"unknown\"",
	"source_app=\"unknown\"", "source_canonical_service=\"unknown\"", NULL
};

/* A metric without labels, or -1. */
static long long metric_total(struct ktest_env *env, const char *name)
{
	static char text[1 << 20];
	int port = env_metrics_port(env);
	const char *at;

	if (port <= 0 || env_get_metrics(port, text, sizeof(text)))
		return -1;
	for (at = text; (at = strstr(at, name)); at++)
		if ((at == text || at[-1] == '\n') && at[strlen(name)] == ' ')
			return strtoll(at + strlen(name) + 1, NULL, 10);
	return -1;
}

static void check_opened(struct ktest_env *env, long long qa, const char *when)
{
	long long got_qa = opened_from(env, from_qa), got_web = opened_from(env, from_web),
		  got_unknown = opened_from(env, from_unknown),
		  overflow = metric_total(env, "bpfmesh_source_overflow_total");

	printf("  %s: opened from qa %lld, web %lld, unknown %lld (overflow %lld)\n", when,
	       got_qa, got_web, got_unknown, overflow);
	ASSERT_EQ(overflow, 0, "no connection lost its source");
	ASSERT_EQ(got_qa, qa, "opened from tools/qa (app qa-tools)");
	ASSERT_EQ(got_web, N_WEB, "opened from shop/web (app web)");
	ASSERT_EQ(got_unknown, N_UNKNOWN, "opened from no known workload");
}

static const char *const metrics_args[] = { "--metrics", "127.0.0.1:0", NULL };

KTEST(identity_source_metrics_stable_ids)
{
	static const char *const names[] = { "qa", "web", "unknown", "first" };
	char yaml[8192], root[PATH_MAX], path[PATH_MAX + 32];
	struct backends be = {};
	struct ktest_env env;
	long qa_id, web_id;
	const char *rel;
	int i;

	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(cgroup2_root(root, sizeof(root)), "cgroup2 mount"))
		goto out;
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", env.cgroup, names[i]);
		if (!ASSERT_OK(mkdir(path, 0755), "workload cgroup"))
			goto out;
	}
	rel = env.cgroup + strlen(root);
	identity_policy(yaml, sizeof(yaml), rel, "sourceLabels: {app: qa-tools}");
	if (!ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 2, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "agent with --metrics"))
		goto out;
	connect_from(&env, "qa", N_QA);
	connect_from(&env, "web", N_WEB);
	connect_from(&env, "unknown", N_UNKNOWN);
	check_opened(&env, N_QA, "generation 1");
	qa_id = identity_id_of(&env, "tools/qa");
	web_id = identity_id_of(&env, "shop/web");
	printf("  ids: tools/qa %ld, shop/web %ld\n", qa_id, web_id);
	ASSERT_TRUE(qa_id > 0 && web_id > 0 && qa_id != web_id, "both workloads have ids");

	/* first/first sorts before both: they keep their ids all the same, so
	 * the services map does not change (the generation stays 1). */
	identity_policy_plus_first(yaml, sizeof(yaml), rel);
	ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "rewrite: a workload added first");
	if (ASSERT_OK(env_wait_log(&env, "policy directory changed", 1, 5000), "reload")) {
		ASSERT_EQ(identity_id_of(&env, "tools/qa"), qa_id, "tools/qa keeps its id");
		ASSERT_EQ(identity_id_of(&env, "shop/web"), web_id, "shop/web keeps its id");
		ASSERT_TRUE(identity_id_of(&env, "first/first") > 0, "first/first has an id");
		ASSERT_TRUE(identity_id_of(&env, "first/first") != qa_id &&
			    identity_id_of(&env, "first/first") != web_id, "a new id");
		connect_from(&env, "qa", N_QA_LATER);
		check_opened(&env, N_QA + N_QA_LATER, "first/first added");
	}

	/* An agent restart reads the ids back. */
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stops");
	if (ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "agent restarts")) {
		ASSERT_EQ(identity_id_of(&env, "tools/qa"), qa_id, "tools/qa keeps its id");
		ASSERT_EQ(identity_id_of(&env, "shop/web"), web_id, "shop/web keeps its id");
		check_opened(&env, N_QA + N_QA_LATER, "after a restart");
	}
out:
	if (be.thread)
		backends_stop(&be);
	env_stop_agent(&env);
	for (i = 3; i >= 0; i--) {
		snprintf(path, sizeof(path), "%s/%s", env.cgroup, names[i]);
		rmdir(path);
	}
	remove_cgroups(&env);
	env_teardown(&env);
}

/* ---- what resolving the caller costs connect4 --------------------------- */

#define N_COST 400

/* run_time_ns and run_cnt of the connect4 program attached to cgroup. */
static bool connect4_stats(const char *cgroup, __u64 *ns, __u64 *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[4], n = 4;
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY), fd = -1;
	bool ok = false;

	if (cg >= 0 && !bpf_prog_query(cg, BPF_CGROUP_INET4_CONNECT, 0, NULL, ids, &n) && n)
		fd = bpf_prog_get_fd_by_id(ids[0]);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*ns = info.run_time_ns;
		*cnt = info.run_cnt;
		ok = true;
	}
	if (fd >= 0)
		close(fd);
	if (cg >= 0)
		close(cg);
	return ok;
}

/* connect4's mean ns over N_COST connects from cgroup name. */
static double connect_cost(const struct ktest_env *env, const char *name)
{
	__u64 ns0, n0, ns1, n1;

	/* connect4 is attached to the managed cgroup, above the callers'. */
	if (!ASSERT_TRUE(connect4_stats(env->cgroup, &ns0, &n0), "connect4 stats"))
		return -1;
	connect_from(env, name, N_COST);
	if (!ASSERT_TRUE(connect4_stats(env->cgroup, &ns1, &n1), "connect4 stats"))
		return -1;
	ASSERT_EQ((long long)(n1 - n0), N_COST, "one connect4 run a connect");
	return n1 > n0 ? (double)(ns1 - ns0) / (double)(n1 - n0) : -1;
}

/* The same service and caller cgroups with no identity configured, then
 * with two: the mean BPF time of connect4 (run-time stats, enabled by this
 * test for its duration only). Printed, for docs/metrics.md. */
KTEST(identity_connect_cost)
{
	static const char *const names[] = { "qa", "web", "unknown" };
	char yaml[8192], root[PATH_MAX], path[PATH_MAX + 32], *sep;
	struct backends be = {};
	struct ktest_env env;
	double none, qa, unknown;
	int i, stats_fd = -1;
	const char *rel;

	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(cgroup2_root(root, sizeof(root)), "cgroup2 mount"))
		goto out;
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", env.cgroup, names[i]);
		if (!ASSERT_OK(mkdir(path, 0755), "workload cgroup"))
			goto out;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!ASSERT_TRUE(stats_fd >= 0, "BPF run-time stats"))
		goto out;
	rel = env.cgroup + strlen(root);
	/* No cgroup named: the WorkloadEntries cut off before the service. */
	identity_policy(yaml, sizeof(yaml), rel, "sourceLabels: {app: qa-tools}");
	sep = strstr(yaml, "kind: ServiceEntry");
	if (!ASSERT_TRUE(sep != NULL, "policy"))
		goto out;
	sep -= strlen("apiVersion: networking.istio.io/v1\n");
	memmove(yaml, sep, strlen(sep) + 1);
	if (!ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 2, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	none = connect_cost(&env, "qa");
	identity_policy(yaml, sizeof(yaml), rel, "sourceLabels: {app: qa-tools}");
	ASSERT_OK(env_write_policy(&env, "api.yaml", yaml), "rewrite: with identities");
	if (ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2")) {
		qa = connect_cost(&env, "qa");
		unknown = connect_cost(&env, "unknown");
		printf("  connect4 mean ns over %d connects: no identity configured %.0f; "
		       "configured: from qa (own route) %.0f, from an unknown cgroup %.0f\n",
		       N_COST, none, qa, unknown);
	}
out:
	if (stats_fd >= 0)
		close(stats_fd);
	if (be.thread)
		backends_stop(&be);
	env_stop_agent(&env);
	for (i = 2; i >= 0; i--) {
		snprintf(path, sizeof(path), "%s/%s", env.cgroup, names[i]);
		rmdir(path);
	}
	env_teardown(&env);
}
