// SPDX-License-Identifier: Apache-2.0
/* Workload identity from cgroups (issue 15): two workload cgroups under the
 * managed one (app: qa-tools in namespace tools, app: web in namespace
 * shop), one that no WorkloadEntry names, and a child of the qa cgroup.
 * sourceLabels {app: qa-tools} -> v2, else v1: every qa connection, the
 * child's too, reaches v2, none of the others; then sourceNamespace: shop
 * -> v2 likewise. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

/* Connections from a process in cgroup name (under the managed cgroup):
 * how many reached v1 and v2. */
static bool run_from(const struct ktest_env *env, const char *name, int *v1, int *v2)
{
	struct ktest_env sub = *env;
	struct client_result r;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", env->cgroup, name);
	if (!ASSERT_TRUE(strlen(path) < sizeof(sub.cgroup), "cgroup path length"))
		return false;
	memcpy(sub.cgroup, path, strlen(path) + 1);
	if (!ASSERT_OK(client_run(&sub, "127.100.80.1", 80, N_CONNS, &r), name))
		return false;
	ASSERT_EQ(r.ok, N_CONNS, "every connection answered");
	*v1 = r.per_backend[0];
	*v2 = r.per_backend[1];
	return true;
}

/* Every connection of each cgroup goes where expect_v2 says. */
static void check_routes(const struct ktest_env *env, const bool expect_v2[N_CG], const char *how)
{
	int i, v1, v2;

	for (i = 0; i < N_CG; i++) {
		if (!run_from(env, cg_names[i], &v1, &v2))
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
