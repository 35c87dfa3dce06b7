// SPDX-License-Identifier: Apache-2.0
/* A destination with no endpoint is refused at once, and counted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "fixtures.h"
#include "ktest.h"

static const char *const eps[] = { "127.1.5.1", "127.1.5.2", "127.1.5.3" };

KTEST(empty_subset_refused)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192], out[16384];

	fixture_empty_subset(yaml, sizeof(yaml), "127.100.5.1", "127.1.5");
	if (!env_start_service(&env, &be, "empty.yaml", yaml, eps, 3))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.5.1", 80, 50, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, 0, "no connection gets through");
	ASSERT_EQ(r.refused, 50, "every connection refused");
	ASSERT_EQ(r.last_errno, ECONNREFUSED, "errno is ECONNREFUSED");
	ASSERT_TRUE(r.max_fail_ms < 100.0, "refused at once, no hang");
	printf("  empty_subset_refused: 50/50 ECONNREFUSED, slowest %.2f ms\n", r.max_fail_ms);

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	ASSERT_TRUE(json_has_value(out, "refused", "50"), "refusals counted per service");
	ASSERT_TRUE(json_has_value(out, "no_healthy_upstream", "50"), "node verdict counted");
out:
	backends_stop(&be);
	env_teardown(&env);
}
