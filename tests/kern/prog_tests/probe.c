// SPDX-License-Identifier: Apache-2.0
/* On a kernel without a feature the agent needs, it says which, in plain
 * words, and attaches nothing. The feature is hidden with BPFMESH_PROBE_HIDE. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fixtures.h"
#include "ktest.h"

KTEST(probe_names_missing_feature)
{
	struct ktest_env env;
	char yaml[8192], out[8192];
	int rc;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fixture_canary(yaml, sizeof(yaml), "127.100.11.1", "127.1.11", 90, 10);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy");
	setenv("BPFMESH_PROBE_HIDE", "sk_storage_get", 1);
	rc = env_run_cli(&env, out, sizeof(out), "agent --policies %s --cgroup %s --bpffs %s",
			 env.policies, env.cgroup, env.bpffs);
	unsetenv("BPFMESH_PROBE_HIDE");
	ASSERT_EQ(rc, 1, "agent refuses to start");
	ASSERT_TRUE(strstr(out, "bpf_sk_storage_get()") != NULL, "names the missing helper");
	ASSERT_TRUE(strstr(out, "getpeername") != NULL, "says what is lost");
	ASSERT_TRUE(access(env.bpffs, F_OK) != 0, "nothing pinned");
out:
	env_teardown(&env);
}
