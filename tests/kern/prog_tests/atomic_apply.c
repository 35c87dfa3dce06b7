// SPDX-License-Identifier: Apache-2.0
/* Policy versions switched under load: a connection sees one version whole,
 * never a route of one and a backend set of the other, and never a set that
 * has been retired while it was being used. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 20000
#define N_SWITCHES 40

static const char *const eps[] = { "127.1.13.1", "127.1.13.2", "127.1.13.3",
				   "127.1.14.1", "127.1.14.2", "127.1.14.3" };

KTEST(apply_under_load_is_atomic)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	struct client c;
	char yaml_a[8192], yaml_b[8192], out[16384], needle[64];
	int i, applied = 1, n_a, n_b;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	/* Same VIP, two versions whose every endpoint differs. */
	fixture_canary(yaml_a, sizeof(yaml_a), "127.100.13.1", "127.1.13", 50, 50);
	fixture_canary(yaml_b, sizeof(yaml_b), "127.100.13.1", "127.1.14", 50, 50);
	if (!ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml_a), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 6, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies") ||
	    !ASSERT_OK(client_start(&env, "127.100.13.1", 80, N_CONNS, &c), "client"))
		goto out;
	for (i = 0; i < N_SWITCHES; i++) {
		env_write_policy(&env, "canary.yaml", i % 2 ? yaml_a : yaml_b);
		snprintf(needle, sizeof(needle), "applied generation %d:", i + 2);
		if (env_wait_log(&env, needle, 1, 5000) == 0)
			applied++;
		usleep(10 * 1000);
	}
	if (!ASSERT_OK(client_wait(&c, &r), "client"))
		goto out;
	ASSERT_EQ(applied, N_SWITCHES + 1, "every version applied");
	ASSERT_EQ(r.ok, N_CONNS, "no connection lost across versions");
	n_a = r.per_backend[0] + r.per_backend[1] + r.per_backend[2];
	n_b = r.per_backend[3] + r.per_backend[4] + r.per_backend[5];
	ASSERT_TRUE(n_a > 0, "version a served traffic");
	ASSERT_TRUE(n_b > 0, "version b served traffic");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	ASSERT_TRUE(json_has_value(out, "missing_backend_set", "0"), "no set vanished under a reader");
	ASSERT_TRUE(json_has_value(out, "no_healthy_upstream", "0"), "nothing refused");
	printf("  apply_under_load_is_atomic: %d versions applied during %d connections, %d ok, "
	       "version a %d, version b %d\n", applied, N_CONNS, r.ok, n_a, n_b);
out:
	backends_stop(&be);
	env_teardown(&env);
}
