// SPDX-License-Identifier: Apache-2.0
/* The agent's life: a bad policy never replaces a good one; the kernel keeps
 * deciding while no agent runs; a new agent re-adopts without changing a
 * decision; SIGTERM leaves nothing attached. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 4000

static const char *const eps[] = { "127.1.8.1", "127.1.8.2", "127.1.8.3" };

static const char bad_vs[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata:\n  name: reviews\n  namespace: default\n"
	"spec:\n  hosts: [reviews]\n  tcp:\n  - route:\n"
	"    - destination: {host: reviews, subset: v1}\n      weight: -5\n"
	"    - destination: {host: reviews, subset: v2}\n      weight: 100\n";

KTEST(bad_policy_keeps_previous)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192], out[16384];

	fixture_canary(yaml, sizeof(yaml), "127.100.8.1", "127.1.8", 100, 0);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	/* A second file whose VirtualService Istio would reject. */
	ASSERT_OK(env_write_policy(&env, "zz-bad.yaml", bad_vs), "write bad policy");
	if (!ASSERT_OK(env_wait_log(&env, "policy rejected", 1, 5000), "rejection logged"))
		goto out;
	ASSERT_TRUE(env_count_log(&env, "zz-bad.yaml:") > 0, "diagnostic names the file");
	ASSERT_EQ(env_count_log(&env, "applied generation 2"), 0, "nothing applied");
	if (!ASSERT_OK(client_run(&env, "127.100.8.1", 80, N_CONNS, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, N_CONNS, "service still works");
	ASSERT_EQ(r.per_backend[2], 0, "previous policy (v1 only) still in force");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs),
		  0, "maps services");
	ASSERT_TRUE(strstr(out, "\"generation\":1") != NULL, "generation 1 in the kernel");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* Programs attached to the test cgroup, by the kernel's own count. */
static int attached_programs(const char *cgroup)
{
	__u32 count = 0;
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY), total = 0;
	enum bpf_attach_type types[] = { BPF_CGROUP_INET4_CONNECT,
					 BPF_CGROUP_INET4_GETPEERNAME };
	unsigned int i;

	if (fd < 0)
		return -errno;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		count = 0;
		if (bpf_prog_query(fd, types[i], 0, NULL, NULL, &count) == 0)
			total += count;
	}
	close(fd);
	return total;
}

KTEST(agent_restart_readopts)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192], path[PATH_MAX + 64];
	int status;

	fixture_canary(yaml, sizeof(yaml), "127.100.9.1", "127.1.8", 0, 100);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	ASSERT_EQ(attached_programs(env.cgroup), 2, "connect4 and getpeername4 attached");

	/* The agent dies without cleaning up: the kernel keeps deciding. */
	kill(env.agent, SIGKILL);
	waitpid(env.agent, &status, 0);
	env.agent = 0;
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 500, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 500, "decisions go on without an agent");

	/* A new agent re-adopts: same decisions, nothing rewritten. */
	if (!ASSERT_OK(env_start_agent(&env, NULL), "second agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "re-adopted"), 1, "pins re-adopted");
	ASSERT_EQ(env_count_log(&env, "0 service writes, 0 sets written"), 1,
		  "same policy, no write");
	ASSERT_EQ(attached_programs(env.cgroup), 2, "still exactly two programs");
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 500, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 500, "same decisions after re-adoption");

	/* SIGTERM: detached, pins gone. */
	ASSERT_EQ(env_stop_agent(&env), 0, "agent exits 0 on SIGTERM");
	ASSERT_EQ(attached_programs(env.cgroup), 0, "nothing attached after SIGTERM");
	snprintf(path, sizeof(path), "%s/bpfmesh_lb4_services_v2", env.bpffs);
	ASSERT_TRUE(access(path, F_OK) != 0, "pins removed");
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 5, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 5, "VIP no longer intercepted");
out:
	backends_stop(&be);
	env_teardown(&env);
}
