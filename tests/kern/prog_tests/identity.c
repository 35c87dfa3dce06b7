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
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include "kern/sysfs.h"
#include "ktest.h"

#define N_CONNS 300

static const char *const eps[] = { "127.1.80.1", "127.1.80.2" }; /* v1, v2 */

enum { CG_QA, CG_WEB, CG_UNKNOWN, CG_QA_CHILD, N_CG };
static const char *const cg_names[N_CG] = { "qa", "web", "unknown", "qa/child" };

/* The policy: the callers (cgroup paths under the cgroup2 mount), the
 * service with endpoints (YAML flow items, labelled version v1 or v2) and a
 * VirtualService whose first tcp route (to v2) matches match. */
static void identity_policy_eps(char *buf, size_t len, const char *managed_rel,
				const char *match, const char *endpoints)
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
		 "  endpoints: [%s]\n"
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
		 managed_rel, managed_rel, endpoints, match);
}

/* eps[0] as v1, eps[1] as v2. */
static void identity_policy(char *buf, size_t len, const char *managed_rel, const char *match)
{
	char endpoints[128];

	snprintf(endpoints, sizeof(endpoints),
		 "{address: %s, labels: {version: v1}}, {address: %s, labels: {version: v2}}",
		 eps[0], eps[1]);
	identity_policy_eps(buf, len, managed_rel, match, endpoints);
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

/* What every test here starts from: the environment, workload cgroups
 * (names under the managed cgroup, parents first), backends on eps, and
 * the agent's first apply of a policy. */
struct id_fixture {
	struct ktest_env env;
	struct backends be;
	char root[PATH_MAX];
	const char *rel; /* the managed cgroup, relative to the cgroup2 mount */
	const char *const *cgroups;
	int n_made;
};

/* env_setup and the cgroups; false (reported) when a step failed. */
static bool fixture_setup(struct id_fixture *f, const char *const *cgroups, int n)
{
	char path[PATH_MAX + 32];

	memset(f, 0, sizeof(*f));
	f->cgroups = cgroups;
	if (!ASSERT_OK(env_setup(&f->env), "env_setup") ||
	    !ASSERT_OK(cgroup2_root(f->root, sizeof(f->root)), "cgroup2 mount"))
		return false;
	for (f->n_made = 0; f->n_made < n; f->n_made++) {
		snprintf(path, sizeof(path), "%s/%s", f->env.cgroup, cgroups[f->n_made]);
		if (!ASSERT_OK(mkdir(path, 0755), "workload cgroup"))
			return false;
	}
	f->rel = f->env.cgroup + strlen(f->root);
	return true;
}

/* The policy yaml, backends on addrs[0..n) port 8080, and the agent (args:
 * more arguments, NULL-terminated, or NULL) applying it. */
static bool fixture_start(struct id_fixture *f, const char *yaml, const char *const *addrs,
			  int n, const char *const *args)
{
	return ASSERT_OK(env_write_policy(&f->env, "api.yaml", yaml), "write policy") &&
	       ASSERT_OK(backends_start(&f->be, addrs, n, 8080), "backends") &&
	       ASSERT_OK(env_start_agent_args(&f->env, NULL, args), "agent applies");
}

/* Everything fixture_setup and fixture_start made, in reverse, whatever
 * step failed. */
static void fixture_teardown(struct id_fixture *f)
{
	char path[PATH_MAX + 32];

	if (f->be.thread)
		backends_stop(&f->be);
	env_stop_agent(&f->env);
	while (f->n_made-- > 0) {
		snprintf(path, sizeof(path), "%s/%s", f->env.cgroup, f->cgroups[f->n_made]);
		rmdir(path);
	}
	env_teardown(&f->env);
}

KTEST(identity_source_labels_and_namespace)
{
	static const bool by_labels[N_CG] = { true, false, false, true };
	static const bool by_ns[N_CG] = { false, true, false, false };
	char yaml[8192], out[16384];
	struct id_fixture f;
	struct ktest_env *env = &f.env;

	if (!fixture_setup(&f, cg_names, N_CG))
		goto out;
	identity_policy(yaml, sizeof(yaml), f.rel, "sourceLabels: {app: qa-tools}");
	if (!fixture_start(&f, yaml, eps, 2, NULL))
		goto out;
	check_routes(env, by_labels, "sourceLabels");

	ASSERT_EQ(env_run_cli(env, out, sizeof(out), "maps services --bpffs %s", env->bpffs), 0,
		  "maps services");
	ASSERT_TRUE(strstr(out, "127.100.80.1:80/TCP<-id2") != NULL,
		    "maps shows the route of identity 2 (tools/qa)");
	ASSERT_EQ(env_run_cli(env, out, sizeof(out), "maps identities --bpffs %s", env->bpffs),
		  0, "maps identities");
	ASSERT_TRUE(strstr(out, "tools/qa") != NULL && strstr(out, "shop/web") != NULL,
		    "maps identities names both workloads");
	printf("%s", out);

	identity_policy(yaml, sizeof(yaml), f.rel, "sourceNamespace: shop");
	ASSERT_OK(env_write_policy(env, "api.yaml", yaml), "rewrite: sourceNamespace");
	if (ASSERT_OK(env_wait_log(env, "applied generation 2", 1, 5000), "generation 2"))
		check_routes(env, by_ns, "sourceNamespace");
out:
	fixture_teardown(&f);
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
	char yaml[8192];
	struct id_fixture f;
	struct ktest_env *env = &f.env;
	long qa_id, web_id;

	if (!fixture_setup(&f, names, 4))
		goto out;
	identity_policy(yaml, sizeof(yaml), f.rel, "sourceLabels: {app: qa-tools}");
	if (!fixture_start(&f, yaml, eps, 2, metrics_args))
		goto out;
	connect_from(env, "qa", N_QA);
	connect_from(env, "web", N_WEB);
	connect_from(env, "unknown", N_UNKNOWN);
	check_opened(env, N_QA, "generation 1");
	qa_id = identity_id_of(env, "tools/qa");
	web_id = identity_id_of(env, "shop/web");
	printf("  ids: tools/qa %ld, shop/web %ld\n", qa_id, web_id);
	ASSERT_TRUE(qa_id > 0 && web_id > 0 && qa_id != web_id, "both workloads have ids");

	/* first/first sorts before both: they keep their ids all the same, so
	 * the services map does not change (the generation stays 1). */
	identity_policy_plus_first(yaml, sizeof(yaml), f.rel);
	ASSERT_OK(env_write_policy(env, "api.yaml", yaml), "rewrite: a workload added first");
	if (ASSERT_OK(env_wait_log(env, "policy directory changed", 1, 5000), "reload")) {
		ASSERT_EQ(identity_id_of(env, "tools/qa"), qa_id, "tools/qa keeps its id");
		ASSERT_EQ(identity_id_of(env, "shop/web"), web_id, "shop/web keeps its id");
		ASSERT_TRUE(identity_id_of(env, "first/first") > 0, "first/first has an id");
		ASSERT_TRUE(identity_id_of(env, "first/first") != qa_id &&
			    identity_id_of(env, "first/first") != web_id, "a new id");
		connect_from(env, "qa", N_QA_LATER);
		check_opened(env, N_QA + N_QA_LATER, "first/first added");
	}

	/* An agent restart reads the ids back. */
	ASSERT_EQ(env_stop_agent(env), 0, "agent stops");
	if (ASSERT_OK(env_start_agent_args(env, NULL, metrics_args), "agent restarts")) {
		ASSERT_EQ(identity_id_of(env, "tools/qa"), qa_id, "tools/qa keeps its id");
		ASSERT_EQ(identity_id_of(env, "shop/web"), web_id, "shop/web keeps its id");
		check_opened(env, N_QA + N_QA_LATER, "after a restart");
	}
out:
	fixture_teardown(&f);
}

/* ---- counters by source on a reused endpoint slot ---------------------- */

#define N_BEFORE 40
#define N_AFTER 25

/* A, B, C: endpoints of api, one at a time or two. */
static const char *const slot_eps[] = { "127.1.80.1", "127.1.80.2", "127.1.80.3" };

/* Every caller to v1, whose endpoints are addrs (one or two). */
static void slot_policy(char *buf, size_t len, const char *managed_rel, const char *addr0,
			const char *addr1)
{
	char endpoints[128];
	int n = snprintf(endpoints, sizeof(endpoints), "{address: %s, labels: {version: v1}}",
			 addr0);

	if (addr1)
		snprintf(endpoints + n, sizeof(endpoints) - (size_t)n,
			 ", {address: %s, labels: {version: v1}}", addr1);
	identity_policy_eps(buf, len, managed_rel, "sourceNamespace: nowhere", endpoints);
}

/* The endpoint slot `bpfmesh maps stats` shows for addr:8080, or -1. */
static long slot_of(struct ktest_env *env, const char *addr)
{
	static char out[16384];
	char want[64], cluster[128], at[64];
	const char *line;
	unsigned int slot;

	snprintf(want, sizeof(want), "%s:8080", addr);
	if (env_run_cli(env, out, sizeof(out), "maps stats --bpffs %s", env->bpffs))
		return -1;
	for (line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (sscanf(line, "%127s %63s %u", cluster, at, &slot) == 3 && !strcmp(at, want))
			return slot;
	return -1;
}

/* Whether the pinned counters by source hold an entry for (slot, identity). */
static int src_entry_exists(const struct ktest_env *env, long slot, long identity)
{
	char path[PATH_MAX + 64];
	struct src_key key = { .ep_slot = (__u32)slot, .identity = (__u32)identity };
	int fd, ncpu = libbpf_num_possible_cpus(), found;
	struct ep_counters *v;

	snprintf(path, sizeof(path), "%s/%s", env->bpffs, BPFMESH_MAP_SRC_COUNTERS);
	fd = bpf_obj_get(path);
	v = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(*v));
	if (fd < 0 || !v) {
		free(v);
		return -1;
	}
	found = bpf_map_lookup_elem(fd, &key, v) == 0;
	free(v);
	close(fd);
	return found;
}

static const char *const from_qa_to_api[] = {
	"source_workload=\"qa\"", "source_workload_namespace=\"tools\"",
	"destination_service=\"api.shop.svc.cluster.local\"", NULL
};

/* Endpoint A counts connections from tools/qa; A leaves the policy; B
 * arrives after the slot grace period and is given A's slot. B's counters
 * by source start at zero: the series from qa counts only B's own. */
KTEST(identity_source_slot_reuse)
{
	static const char *const names[] = { "qa", "web" };
	char yaml[8192];
	struct id_fixture f;
	struct ktest_env *env = &f.env;
	long slot_a, slot_b, qa_id;

	if (!fixture_setup(&f, names, 2))
		goto out;
	slot_policy(yaml, sizeof(yaml), f.rel, slot_eps[0], NULL);
	if (!fixture_start(&f, yaml, slot_eps, 3, metrics_args))
		goto out;
	connect_from(env, "qa", N_BEFORE);
	slot_a = slot_of(env, slot_eps[0]);
	qa_id = identity_id_of(env, "tools/qa");
	ASSERT_EQ(opened_from(env, from_qa_to_api), N_BEFORE, "A: opened from tools/qa");
	ASSERT_EQ(src_entry_exists(env, slot_a, qa_id), 1, "A's slot has a qa entry");

	/* A leaves (C serves meanwhile); its slot is free after the grace. */
	slot_policy(yaml, sizeof(yaml), f.rel, slot_eps[2], NULL);
	ASSERT_OK(env_write_policy(env, "api.yaml", yaml), "rewrite: A leaves");
	if (!ASSERT_OK(env_wait_log(env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	usleep(1500 * 1000); /* > APPLY_GRACE_MS */
	slot_policy(yaml, sizeof(yaml), f.rel, slot_eps[1], slot_eps[2]);
	ASSERT_OK(env_write_policy(env, "api.yaml", yaml), "rewrite: B arrives");
	if (!ASSERT_OK(env_wait_log(env, "applied generation 3", 1, 5000), "generation 3"))
		goto out;
	slot_b = slot_of(env, slot_eps[1]);
	printf("  slots: A %ld, B %ld; qa id %ld\n", slot_a, slot_b, qa_id);
	if (!ASSERT_TRUE(slot_a > 0 && slot_b == slot_a, "B was given A's slot"))
		goto out;
	ASSERT_EQ(src_entry_exists(env, slot_b, qa_id), 0, "no qa entry of A's left on B");
	ASSERT_TRUE(opened_from(env, from_qa_to_api) <= 0, "no stale series from qa");

	connect_from(env, "qa", N_AFTER);
	ASSERT_EQ(opened_from(env, from_qa_to_api), N_AFTER, "B and C: opened from qa, own only");
out:
	fixture_teardown(&f);
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
	char yaml[8192], *sep;
	struct id_fixture f;
	struct ktest_env *env = &f.env;
	double none, qa, unknown;
	int stats_fd = -1;

	if (!fixture_setup(&f, names, 3))
		goto out;
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!ASSERT_TRUE(stats_fd >= 0, "BPF run-time stats"))
		goto out;
	/* No cgroup named: the WorkloadEntries cut off before the service. */
	identity_policy(yaml, sizeof(yaml), f.rel, "sourceLabels: {app: qa-tools}");
	sep = strstr(yaml, "kind: ServiceEntry");
	if (!ASSERT_TRUE(sep != NULL, "policy"))
		goto out;
	sep -= strlen("apiVersion: networking.istio.io/v1\n");
	memmove(yaml, sep, strlen(sep) + 1);
	if (!fixture_start(&f, yaml, eps, 2, NULL))
		goto out;
	none = connect_cost(env, "qa");
	identity_policy(yaml, sizeof(yaml), f.rel, "sourceLabels: {app: qa-tools}");
	ASSERT_OK(env_write_policy(env, "api.yaml", yaml), "rewrite: with identities");
	if (ASSERT_OK(env_wait_log(env, "applied generation 2", 1, 5000), "generation 2")) {
		qa = connect_cost(env, "qa");
		unknown = connect_cost(env, "unknown");
		printf("  connect4 mean ns over %d connects: no identity configured %.0f; "
		       "configured: from qa (own route) %.0f, from an unknown cgroup %.0f\n",
		       N_COST, none, qa, unknown);
	}
out:
	if (stats_fd >= 0)
		close(stats_fd);
	fixture_teardown(&f);
}
