// SPDX-License-Identifier: Apache-2.0
/* Per-resource failure isolation (issue 12): a bad edit of one service's
 * file rejects that resource alone, its last good version stays in the
 * maps while another service's change applies; `bpfmesh status` names the
 * rejected resource with file:line; a ServiceEntry claiming a VIP:port an
 * older one holds is rejected and the older keeps deciding. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ktest.h"
#include "two_subsets.h"

#define N_CONNS 2000

static char metrics[1 << 20]; /* a /metrics body: large, not on the stack */

/* alpha: v1 127.1.21.1, v2 127.1.21.2; beta: v1 127.1.21.3, v2 127.1.21.4 */
static const char *const eps[] = { "127.1.21.1", "127.1.21.2", "127.1.21.3", "127.1.21.4" };

static const char *const metrics_args[] = { "--metrics", "127.0.0.1:0", NULL };

static const char gamma_yaml[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: gamma, namespace: default}\n"
	"spec:\n"
	"  hosts: [gamma.example.com]\n"
	"  addresses: [127.100.21.1]\n"
	"  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
	"  resolution: STATIC\n"
	"  endpoints: [{address: 127.1.21.3}]\n";

/* The agent's /metrics body (the port from its log) into out. */
static int scrape_metrics(struct ktest_env *env, char *out, size_t len)
{
	int port = env_metrics_port(env);

	return port > 0 ? env_get_metrics(port, out, len) : -1;
}

/* Every connection to vip lands on backend index want. */
static void expect_backend(struct ktest_env *env, const char *vip, int want, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, vip, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, "every connection reached a backend");
	ASSERT_EQ(r.per_backend[want], N_CONNS, what);
}

KTEST(isolation_bad_resource_alone)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[4096], out[16384];

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fixture_two_subsets(yaml, sizeof(yaml), "alpha", "127.100.21.1", eps[0], eps[1], 100, 0);
	ASSERT_OK(env_write_policy(&env, "a.yaml", yaml), "write a");
	fixture_two_subsets(yaml, sizeof(yaml), "beta", "127.100.21.2", eps[2], eps[3], 100, 0);
	ASSERT_OK(env_write_policy(&env, "b.yaml", yaml), "write b");
	if (!ASSERT_OK(backends_start(&be, eps, 4, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "agent applies"))
		goto out;
	expect_backend(&env, "127.100.21.1", 0, "alpha: v1");
	expect_backend(&env, "127.100.21.2", 2, "beta: v1");

	/* beta broken (a negative weight), then alpha moved to v2. */
	fixture_two_subsets(yaml, sizeof(yaml), "beta", "127.100.21.2", eps[2], eps[3], 0, -5);
	ASSERT_OK(env_write_policy(&env, "b.yaml", yaml), "break b");
	fixture_two_subsets(yaml, sizeof(yaml), "alpha", "127.100.21.1", eps[0], eps[1], 0, 100);
	ASSERT_OK(env_write_policy(&env, "a.yaml", yaml), "move a");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "alpha applies"))
		goto out;
	ASSERT_OK(env_wait_log(&env, "policy rejected in part", 1, 5000), "rejection logged");
	ASSERT_EQ(env_count_log(&env, "rejected VirtualService default/beta"), 1,
		  "beta's rejection logged once");
	expect_backend(&env, "127.100.21.1", 1, "alpha's change applied: v2");
	expect_backend(&env, "127.100.21.2", 2, "beta's last good version in the maps: v1");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "status -j --bpffs %s --state-dir %s",
			      env.bpffs, env.state), 0, "bpfmesh status");
	ASSERT_TRUE(strstr(out, "\"rejected\":1") != NULL, "one resource rejected");
	ASSERT_TRUE(strstr(out, "\"name\":\"beta\"") != NULL, "beta named");
	ASSERT_TRUE(strstr(out, "b.yaml:32:15: spec.tcp[0].route[1].weight") != NULL,
		    "diagnostic with file:line:col and field");
	ASSERT_TRUE(json_has_value(out, "last_good_in_force", "true"), "last good in force");
	ASSERT_TRUE(json_has_value(out, "generation", "2"), "generation 2");
	ASSERT_TRUE(json_has_value(out, "connect4", "true"), "kernel features");
	if (ASSERT_OK(scrape_metrics(&env, metrics, sizeof(metrics)), "scrape /metrics")) {
		ASSERT_TRUE(strstr(metrics, "bpfmesh_policy_resources{state=\"rejected\"} 1\n") != NULL,
			    "rejected gauge");
		ASSERT_TRUE(strstr(metrics, "bpfmesh_policy_resources{state=\"applied\"} 5\n") != NULL,
			    "applied gauge");
		ASSERT_TRUE(strstr(metrics, "bpfmesh_policy_rejected{kind=\"VirtualService\","
				   "namespace=\"default\",name=\"beta\"} 1") != NULL,
			    "beta's rejected series");
	}

	/* A SIGHUP re-reads: the rejection is not logged again. */
	ASSERT_OK(env_signal_agent(&env, SIGHUP), "SIGHUP");
	ASSERT_OK(env_wait_log(&env, "applied generation 2", 2, 5000), "re-applied");
	ASSERT_EQ(env_count_log(&env, "rejected VirtualService default/beta"), 1,
		  "not logged again for an unchanged file");

	/* gamma claims alpha's VIP:port: alpha is older and keeps it. */
	ASSERT_OK(env_write_policy(&env, "0-gamma.yaml", gamma_yaml), "write gamma");
	if (!ASSERT_OK(env_wait_log(&env, "127.100.21.1:80 is claimed by ServiceEntry "
				    "default/alpha", 1, 5000), "conflict logged"))
		goto out;
	expect_backend(&env, "127.100.21.1", 1, "alpha keeps its VIP");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "status --bpffs %s --state-dir %s",
			      env.bpffs, env.state), 0, "bpfmesh status");
	ASSERT_TRUE(strstr(out, "ServiceEntry default/gamma") != NULL, "gamma listed");
	ASSERT_TRUE(strstr(out, "2 rejected") != NULL, "beta and gamma rejected");

	/* beta fixed: it applies, and nothing is rejected but gamma. */
	fixture_two_subsets(yaml, sizeof(yaml), "beta", "127.100.21.2", eps[2], eps[3], 0, 100);
	ASSERT_OK(env_write_policy(&env, "b.yaml", yaml), "fix b");
	ASSERT_OK(env_wait_log(&env, "applied generation 3", 1, 5000), "beta applies");
	expect_backend(&env, "127.100.21.2", 3, "beta's new version: v2");
out:
	backends_stop(&be);
	env_teardown(&env);
}
