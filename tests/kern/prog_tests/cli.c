// SPDX-License-Identifier: Apache-2.0
/* The CLI against a live agent: what `bpfmesh maps` shows is what the
 * kernel holds. */
#include <stdio.h>
#include <string.h>
#include "fixtures.h"
#include "ktest.h"

static const char *const eps[] = { "127.1.10.1", "127.1.10.2", "127.1.10.3" };

KTEST(cli_maps_show_kernel_state)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], out[32768];

	fixture_canary(yaml, sizeof(yaml), "127.100.10.1", "127.1.10", 90, 10);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs),
		  0, "maps services -j");
	ASSERT_TRUE(strstr(out, "\"vip\":\"127.100.10.1\"") != NULL, "VIP listed");
	ASSERT_TRUE(strstr(out, "\"service\":\"reviews.default.svc.cluster.local\"") != NULL,
		    "service named");
	ASSERT_TRUE(json_has_value(out, "weight", "9") && json_has_value(out, "share", "0.9"),
		    "v1 weight 90% (gcd-reduced)");
	ASSERT_TRUE(json_has_value(out, "weight", "1") && json_has_value(out, "share", "0.1"),
		    "v2 weight 10%");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints --bpffs %s", env.bpffs), 0,
		  "maps endpoints");
	ASSERT_TRUE(strstr(out, "127.1.10.1:8080") && strstr(out, "127.1.10.2:8080") &&
		    strstr(out, "127.1.10.3:8080"), "three endpoints listed");
	ASSERT_TRUE(strstr(out, "Found 3 entries") != NULL, "plain output counts rows");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services --bpffs /nonexistent"), 2,
		  "missing bpffs dir is an error");
out:
	backends_stop(&be);
	env_teardown(&env);
}
