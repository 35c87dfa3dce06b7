// SPDX-License-Identifier: Apache-2.0
/* `bpfmesh stats`: the canary view agrees with what a client did, measures a
 * rate while connections run, fits 100 columns, and reads only the kernel
 * maps (it works with the agent gone). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 2000

static const char *const eps[] = { "127.1.21.1", "127.1.21.2", "127.1.21.3" };

static int longest_line(const char *text)
{
	int longest = 0, len = 0;

	for (; *text; text++) {
		len = *text == '\n' ? 0 : len + 1;
		if (len > longest)
			longest = len;
	}
	return longest;
}

KTEST(stats_canary_view)
{
	static char out[65536];
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	struct client c;
	char yaml[8192];
	double rate;
	int status;

	fixture_canary(yaml, sizeof(yaml), "127.100.21.1", "127.1.21", 50, 50);
	/* --cluster-histograms: p50/p99 come from the per-cluster histograms,
	 * which an agent keeps only when asked (health_abi.h). */
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_arg(&env, NULL, "--cluster-histograms"), "agent applies"))
		goto out;

	/* A rate, measured while a client runs. */
	if (!ASSERT_OK(client_start(&env, "127.100.21.1", 80, N_CONNS, &c), "client"))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats reviews -j --interval 0.5 --bpffs %s",
			      env.bpffs), 0, "stats --interval 0.5");
	rate = json_num_after(out, "\"subset\":\"v1\"", "conn_per_s") +
	       json_num_after(out, "\"subset\":\"v2\"", "conn_per_s");
	ASSERT_TRUE(rate > 0, "connections per second measured while the client runs");
	if (!ASSERT_OK(client_wait(&c, &r), "client done"))
		goto out;
	ASSERT_EQ(r.ok, N_CONNS, "every connection answered");
	printf("  stats_canary_view: %.0f connections/s during the client; v1 %d, v2 %d\n", rate,
	       r.per_backend[0] + r.per_backend[1], r.per_backend[2]);

	/* Cumulative counts agree with the client, per subset. */
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats reviews -j --interval 0 --bpffs %s",
			      env.bpffs), 0, "stats -j");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v1\"", "opened"),
		  r.per_backend[0] + r.per_backend[1], "v1 opened");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v2\"", "opened"), r.per_backend[2],
		  "v2 opened");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v1\"", "failed"), 0, "v1 failed");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v1\"", "endpoints_total"), 2, "v1 endpoints");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v2\"", "endpoints_total"), 1, "v2 endpoints");
	ASSERT_TRUE(json_num_after(out, "\"subset\":\"v1\"", "connect_p50_ms") > 0,
		    "p50 connect latency from the kernel's histogram");
	ASSERT_EQ(json_num_after(out, "\"address\":\"127.1.21.3:8080\"", "opened"),
		  r.per_backend[2], "endpoint row: v2's endpoint");

	/* The table: subsets and endpoints, within 100 columns. */
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats reviews --interval 0 --bpffs %s",
			      env.bpffs), 0, "stats table");
	ASSERT_TRUE(strstr(out, "reviews.default.svc.cluster.local:80") != NULL, "service line");
	ASSERT_TRUE(strstr(out, "127.1.21.2:8080") != NULL, "endpoint rows");
	ASSERT_TRUE(longest_line(out) <= 100, "fits 100 columns");
	printf("%s", out);

	/* Another service: nothing. A bad interval: usage error. */
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats ratings -j --interval 0 --bpffs %s",
			      env.bpffs), 0, "stats of an unknown service");
	ASSERT_TRUE(strstr(out, "\"services\":[]") != NULL, "no service shown");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats --interval -1 --bpffs %s", env.bpffs),
		  2, "negative interval is a usage error");

	/* The agent dies: the maps stay pinned, stats reads them alone. */
	kill(env.agent, SIGKILL);
	waitpid(env.agent, &status, 0);
	env.agent = 0;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats -j --interval 0 --bpffs %s",
			      env.bpffs), 0, "stats without an agent");
	ASSERT_EQ(json_num_after(out, "\"subset\":\"v2\"", "opened"), r.per_backend[2],
		  "same counts without an agent");
out:
	backends_stop(&be);
	env_teardown(&env);
}
