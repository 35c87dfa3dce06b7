// SPDX-License-Identifier: Apache-2.0
/* A canary moved while the agent runs: by editing the watched directory,
 * and by SIGHUP after a change the directory watch cannot see. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 10000

static const char *const eps[] = { "127.1.3.1", "127.1.3.2", "127.1.3.3" };

static void expect_v2_share(struct ktest_env *env, const char *vip, double p, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, vip, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, "every connection reached a backend");
	if (p == 0.0 || p == 1.0)
		ASSERT_EQ(r.per_backend[2], (int)(p * N_CONNS), what);
	else
		ASSERT_NEAR(r.per_backend[2], p * N_CONNS, binomial_bound(N_CONNS, p), what);
}

KTEST(weight_change_file)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), "127.100.3.1", "127.1.3", 90, 10);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	expect_v2_share(&env, "127.100.3.1", 0.10, "v2 at 10%");

	fixture_canary(yaml, sizeof(yaml), "127.100.3.1", "127.1.3", 50, 50);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "rewrite 50/50");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	expect_v2_share(&env, "127.100.3.1", 0.50, "v2 at 50%");

	fixture_canary(yaml, sizeof(yaml), "127.100.3.1", "127.1.3", 0, 100);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "rewrite 0/100");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 3", 1, 5000), "generation 3"))
		goto out;
	expect_v2_share(&env, "127.100.3.1", 1.0, "v2 takes everything");
out:
	backends_stop(&be);
	env_teardown(&env);
}

KTEST(weight_change_sighup)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], real[64], link[PATH_MAX + 32];

	/* The policy directory holds a symlink to a file outside it: editing
	 * that file raises no event in the directory, only SIGHUP applies it. */
	snprintf(real, sizeof(real), "/tmp/bpfmesh-test-%d-real.yaml", getpid());
	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fixture_canary(yaml, sizeof(yaml), "127.100.4.1", "127.1.3", 90, 10);
	if (!ASSERT_OK(write_text_file(real, yaml), "write real policy"))
		goto out;
	snprintf(link, sizeof(link), "%s/canary.yaml", env.policies);
	if (!ASSERT_OK(symlink(real, link), "symlink") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	expect_v2_share(&env, "127.100.4.1", 0.10, "v2 at 10%");

	fixture_canary(yaml, sizeof(yaml), "127.100.4.1", "127.1.3", 0, 100);
	if (!ASSERT_OK(write_text_file(real, yaml), "rewrite real policy"))
		goto out;
	usleep(300 * 1000);
	ASSERT_EQ(env_count_log(&env, "applied generation 2"), 0, "no apply without SIGHUP");
	ASSERT_OK(env_signal_agent(&env, SIGHUP), "SIGHUP");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	expect_v2_share(&env, "127.100.4.1", 1.0, "v2 takes everything after SIGHUP");
out:
	backends_stop(&be);
	env_teardown(&env);
	unlink(real);
}

/* Write a ConfigMap-style version directory holding canary.yaml. */
static int write_version_dir(const char *dir, const char *yaml)
{
	char path[PATH_MAX * 2];

	if (mkdir(dir, 0755))
		return -errno;
	snprintf(path, sizeof(path), "%s/canary.yaml", dir);
	return write_text_file(path, yaml);
}

/* The kubelet updates a ConfigMap volume by writing a new ..<timestamp>
 * directory and renaming a ..data_tmp symlink over ..data; the visible file is
 * a symlink through ..data. Only dotfiles change: the agent must still see it. */
KTEST(weight_change_configmap)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], dir[PATH_MAX + 64], tmp[PATH_MAX + 64], data[PATH_MAX + 64],
		file[PATH_MAX + 64];

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fixture_canary(yaml, sizeof(yaml), "127.100.12.1", "127.1.3", 90, 10);
	snprintf(dir, sizeof(dir), "%s/..v1", env.policies);
	snprintf(data, sizeof(data), "%s/..data", env.policies);
	snprintf(file, sizeof(file), "%s/canary.yaml", env.policies);
	if (!ASSERT_OK(write_version_dir(dir, yaml), "version dir 1") ||
	    !ASSERT_OK(symlink("..v1", data), "..data") ||
	    !ASSERT_OK(symlink("..data/canary.yaml", file), "canary.yaml") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	expect_v2_share(&env, "127.100.12.1", 0.10, "v2 at 10%");

	fixture_canary(yaml, sizeof(yaml), "127.100.12.1", "127.1.3", 0, 100);
	snprintf(dir, sizeof(dir), "%s/..v2", env.policies);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", env.policies);
	if (!ASSERT_OK(write_version_dir(dir, yaml), "version dir 2") ||
	    !ASSERT_OK(symlink("..v2", tmp), "..data_tmp") ||
	    !ASSERT_OK(rename(tmp, data), "swap ..data"))
		goto out;
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	expect_v2_share(&env, "127.100.12.1", 1.0, "v2 takes everything");
out:
	backends_stop(&be);
	/* env_teardown removes plain files only: clear the version directories. */
	for (int v = 1; v <= 2; v++) {
		snprintf(dir, sizeof(dir), "%s/..v%d/canary.yaml", env.policies, v);
		unlink(dir);
		snprintf(dir, sizeof(dir), "%s/..v%d", env.policies, v);
		rmdir(dir);
	}
	env_teardown(&env);
}
