// SPDX-License-Identifier: Apache-2.0
/* The CLI against a live agent: what `bpfmesh maps` shows is what the
 * kernel holds, in tables that read well and JSON that says the same. */
#include <stdio.h>
#include <string.h>
#include "fixtures.h"
#include "ktest.h"

static const char *const eps[] = { "127.1.10.1", "127.1.10.2", "127.1.10.3" };

static const char stats_head[] = "DESTINATION                              SLOT  ENDPOINTS";
static const char stats_json_head[] =
	"{\"destinations\":[{\"destination\":\"reviews.default.svc.cluster.local/v1:80\","
	"\"slot\":";

static void expect_text(const char *what, const char *actual, const char *expected)
{
	if (!ASSERT_TRUE(strcmp(actual, expected) == 0, what))
		fprintf(stderr, "--- expected\n%s--- actual\n%s---\n", expected, actual);
}

KTEST(cli_maps_show_kernel_state)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192], out[32768], expected[sizeof(env.bpffs) + 1024];
	const char *v1, *v2, *v1_row;

	fixture_canary(yaml, sizeof(yaml), "127.100.10.1", "127.1.10", 90, 10);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs),
		  0, "maps services -j");
	ASSERT_TRUE(strstr(out, "{\"vip\":\"127.100.10.1\",\"port\":80,\"protocol\":\"TCP\","
			   "\"family\":\"IPv4\","
			   "\"service\":\"reviews.default.svc.cluster.local\"") != NULL,
		    "service address as vip, port, protocol; service named");
	ASSERT_TRUE(json_has_value(out, "weight", "90") && json_has_value(out, "share", "0.9"),
		    "v1: the policy's weight 90 (not the reduced 9), share 0.9");
	ASSERT_TRUE(json_has_value(out, "weight", "10") && json_has_value(out, "share", "0.1"),
		    "v2: weight 10, share 0.1");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services --bpffs %s", env.bpffs), 0,
		  "maps services");
	snprintf(expected, sizeof(expected),
		 "VIP                  SERVICE                            DESTINATION  WEIGHT  SHARE  ENDPOINTS  GEN\n"
		 "127.100.10.1:80/TCP  reviews.default.svc.cluster.local  v1:80            90  90.0%%          2    1\n"
		 "                                                        v2:80            10  10.0%%          1\n"
		 "1 service, 2 destinations, 3 endpoints in %s\n", env.bpffs);
	expect_text("maps services table", out, expected);

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints --bpffs %s", env.bpffs), 0,
		  "maps endpoints");
	snprintf(expected, sizeof(expected),
		 "VIP                  DESTINATION  ENDPOINT         WEIGHT   SHARE  OPEN  LB\n"
		 "127.100.10.1:80/TCP  v1:80        127.1.10.1:8080       1   50.0%%     0  LEAST_REQUEST\n"
		 "                                  127.1.10.2:8080       1   50.0%%     0\n"
		 "                     v2:80        127.1.10.3:8080       1  100.0%%     0  LEAST_REQUEST\n"
		 "1 service, 2 destinations, 3 endpoints in %s\n", env.bpffs);
	expect_text("maps endpoints table", out, expected);
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints -j --bpffs %s", env.bpffs),
		  0, "maps endpoints -j");
	ASSERT_TRUE(strstr(out, "{\"vip\":\"127.100.10.1\",\"port\":80,\"protocol\":\"TCP\","
			   "\"family\":\"IPv4\","
			   "\"service\":\"reviews.default.svc.cluster.local\",\"destination\":"
			   "\"reviews.default.svc.cluster.local/v1:80\",\"set\":") != NULL,
		    "endpoints name the service address as services do");

	/* Stats rows come grouped: clusters first, then endpoint slots, v1's
	 * endpoints in address order before v2's (slots follow the policy). */
	if (!ASSERT_OK(client_run(&env, "127.100.10.1", 80, 200, &r), "client"))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats --bpffs %s", env.bpffs), 0,
		  "maps stats");
	v1 = strstr(out, "reviews.default.svc.cluster.local/v1:80  127.1.10.1:8080");
	v2 = strstr(out, "reviews.default.svc.cluster.local/v2:80  127.1.10.3:8080");
	ASSERT_TRUE(strncmp(out, stats_head, strlen(stats_head)) == 0,
		    "stats table starts with the destinations");
	ASSERT_TRUE(v1 && v2 && v1 < v2 && strstr(v1, "127.1.10.2:8080") < v2,
		    "stats rows grouped by destination, endpoints in order");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats -j");
	v1_row = strstr(out, "\"destination\":\"reviews.default.svc.cluster.local/v1:80\","
			 "\"endpoint\":\"127.1.10.1:8080\"");
	ASSERT_TRUE(strncmp(out, stats_json_head, strlen(stats_json_head)) == 0 && v1_row,
		    "stats JSON uses the same field names");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services --bpffs /nonexistent"), 2,
		  "missing bpffs dir is an error");
out:
	backends_stop(&be);
	env_teardown(&env);
}
