// SPDX-License-Identifier: Apache-2.0
/*
 * Proof the redirect path is used, and only where it should be (issue 13):
 * the redirect counter grows by exactly the bytes sent and the sender's TCP
 * acknowledged none of them; a service annotated bpfmesh.io/sockmap: "off"
 * is plain TCP; 1,000 concurrent accelerated connections opened and closed
 * leave the SOCKHASH (and the pending map) empty; without --sockmap nothing
 * is attached. The agent's --no-sockmap run is in sockmap_integrity.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpfmesh/sockmap_abi.h>
#include "ktest.h"
#include "sockmap_pair.h"

#define SM_MANY 1000
#define SM_MSG 100
#define SM_PROOF_BYTES (1 << 20)

/* Read exactly len bytes, polling first (the sockets are blocking). */
static int read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) != 1)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Every pair sends SM_MSG bytes each way, all open at once, then closes. */
static int many_child(void *arg)
{
	static struct sm_pair p[SM_MANY];
	struct rlimit rl = { 4 * SM_MANY, 4 * SM_MANY };
	uint8_t msg[SM_MSG], got[SM_MSG];
	int lfd, i, ok = 0;

	(void)arg;
	setrlimit(RLIMIT_NOFILE, &rl);
	lfd = sm_listen(SM_EP);
	if (!SM_CHECK(lfd >= 0, "listen: %d", lfd))
		return 1;
	sm_fill(msg, sizeof(msg), 42);
	for (i = 0; i < SM_MANY; i++)
		if (!SM_CHECK(sm_pair_open(lfd, SM_VIP, &p[i]) == 0, "connection %d: %s", i,
			      strerror(errno)))
			return 1;
	for (i = 0; i < SM_MANY; i++)
		if (write(p[i].cli, msg, sizeof(msg)) != sizeof(msg) ||
		    write(p[i].srv, msg, sizeof(msg)) != sizeof(msg))
			break;
	for (i = 0; i < SM_MANY; i++)
		ok += read_exact(p[i].srv, got, sizeof(got)) == 0 && !memcmp(got, msg, sizeof(msg)) &&
		      read_exact(p[i].cli, got, sizeof(got)) == 0 && !memcmp(got, msg, sizeof(msg)) &&
		      sm_tcp_bytes_acked(p[i].cli) == 0;
	SM_CHECK(ok == SM_MANY, "%d of %d connections exact both ways, through no TCP", ok,
		 SM_MANY);
	for (i = 0; i < SM_MANY; i++)
		sm_pair_close(&p[i]);
	close(lfd);
	return 0;
}

static const char *const agent_args[] = { "--sockmap", "--metrics", "127.0.0.1:0", NULL };

static bool start_agent(struct ktest_env *e, bool opt_out)
{
	char yaml[4096] = "";

	sm_policy(yaml, sizeof(yaml), "local", SM_VIP, SM_EP, opt_out);
	return ASSERT_OK(env_setup(e), "env_setup") &&
	       ASSERT_OK(env_write_policy(e, "local.yaml", yaml), "write policy") &&
	       ASSERT_OK(env_start_agent_args(e, NULL, agent_args), "agent applies");
}

/* `bpfmesh stats` and /metrics report the kernel's redirect counter, and
 * the placed connects. */
static void check_reported(struct ktest_env *e, uint64_t redirected, int placed)
{
	static char text[65536];
	char want[128];
	int port = env_metrics_port(e);

	ASSERT_EQ(env_run_cli(e, text, sizeof(text), "stats -j --interval 0 --bpffs %s", e->bpffs), 0, "stats -j");
	snprintf(want, sizeof(want), "\"redirect_bytes\":%llu", (unsigned long long)redirected);
	ASSERT_TRUE(strstr(text, want) != NULL, "stats -j shows redirect_bytes");
	ASSERT_EQ(env_run_cli(e, text, sizeof(text), "stats --interval 0 --bpffs %s", e->bpffs), 0, "stats");
	snprintf(want, sizeof(want), "%llu bytes redirected", (unsigned long long)redirected);
	ASSERT_TRUE(strstr(text, want) != NULL, "stats shows the bytes redirected");
	if (!ASSERT_OK(env_get_metrics(port, text, sizeof(text)), "scrape /metrics"))
		return;
	snprintf(want, sizeof(want), "bpfmesh_sockmap_bytes_total{path=\"redirect\"} %llu\n",
		 (unsigned long long)redirected);
	ASSERT_TRUE(strstr(text, want) != NULL, "/metrics has the sockmap redirect bytes");
	snprintf(want, sizeof(want), "bpfmesh_connect_decisions_total{decision=\"redirected\"} %d\n",
		 placed);
	ASSERT_TRUE(strstr(text, want) != NULL, "/metrics counts the placed connects");
}

/* The SOCKHASH empties as the kernel unhashes closed sockets. */
static int wait_sockhash_empty(struct ktest_env *e)
{
	int i, n = -1;

	for (i = 0; i < 200 && n != 0; i++) {
		n = sm_sockhash_entries(e);
		if (n)
			usleep(10000);
	}
	return n;
}

KTEST(sockmap_thousand_connections_leave_map_empty)
{
	struct ktest_env env;

	if (!start_agent(&env, false))
		goto out;
	ASSERT_EQ(sm_run_child(&env, many_child, NULL), 0, "1,000 concurrent connections");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED), 2 * SM_MANY, "both ends inserted");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES), 2 * SM_MANY * SM_MSG,
		  "redirect counter = bytes sent");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_TCP_BYTES), 0, "nothing left to TCP");
	ASSERT_EQ(wait_sockhash_empty(&env), 0, "sockhash empty after close");
out:
	env_teardown(&env);
}

struct proof {
	bool accel;
	const char *vip, *ep; /* NULL: SM_VIP, SM_EP */
};

/* One 1 MiB request and answer; the client's TCP carried all or none. */
static int proof_child(void *arg)
{
	const struct proof *pr = arg;
	uint8_t *buf = malloc(SM_PROOF_BYTES), *got = malloc(SM_PROOF_BYTES);
	struct sm_pair p;
	uint64_t acked;
	int lfd = sm_listen(pr->ep ? pr->ep : SM_EP);

	if (!SM_CHECK(lfd >= 0 && buf && got, "listen: %d", lfd))
		return 1;
	if (!SM_CHECK(sm_pair_open(lfd, pr->vip ? pr->vip : SM_VIP, &p) == 0, "connect %s",
		      pr->vip ? pr->vip : SM_VIP))
		return 1;
	sm_fill(buf, SM_PROOF_BYTES, 9);
	/* One direction at a time: 1 MiB fits the peer's queue either way. */
	SM_CHECK(send(p.cli, buf, SM_PROOF_BYTES, 0) == SM_PROOF_BYTES, "client write");
	SM_CHECK(read_exact(p.srv, got, SM_PROOF_BYTES) == 0 &&
		 !memcmp(buf, got, SM_PROOF_BYTES), "server got the request");
	acked = sm_tcp_bytes_acked(p.cli);
	SM_CHECK(pr->accel ? acked == 0 : acked == SM_PROOF_BYTES,
		 "client's TCP acked %llu of %d bytes (accelerated %d)", (unsigned long long)acked,
		 SM_PROOF_BYTES, pr->accel);
	sm_pair_close(&p);
	close(lfd);
	free(buf);
	free(got);
	return 0;
}

static void proof(bool opt_out)
{
	struct proof pr = { .accel = !opt_out };
	struct ktest_env env;
	uint64_t before;

	if (!start_agent(&env, opt_out))
		goto out;
	before = sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES);
	ASSERT_EQ(sm_run_child(&env, proof_child, &pr), 0, "1 MiB request");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES) - before,
		  opt_out ? 0 : SM_PROOF_BYTES, "redirect counter grew by the bytes sent");
	check_reported(&env, sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES), 1);
	if (opt_out) {
		ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED), 0, "opt-out: nothing inserted");
		ASSERT_EQ(sm_stat(&env, BPFMESH_SM_SKIP_OPTOUT), 1, "opt-out counted");
	}
	ASSERT_EQ(wait_sockhash_empty(&env), 0, "sockhash empty after close");
out:
	env_teardown(&env);
}

KTEST(sockmap_redirect_proof)
{
	proof(false);
}

KTEST(sockmap_annotation_off_is_plain_tcp)
{
	proof(true);
}

/* IPv6 and dual-stack sockets (issue 15): an IPv6 service, and the IPv4
 * one with an IPv4-mapped end on either side or both. Each 1 MiB request
 * is redirected whole (the client's TCP acked none of it), both ends were
 * inserted, the endpoint's bytes_sent and the redirect counter hold every
 * byte, and both SOCKHASHes are empty afterwards. */
KTEST(sockmap_redirect_ipv6)
{
	static const struct proof runs[] = {
		{ true, SM_VIP6, SM_EP6 },            /* IPv6 both ends */
		{ true, SM_VIP_MAPPED, SM_EP },       /* dual-stack client, AF_INET server */
		{ true, SM_VIP, SM_EP_MAPPED },       /* AF_INET client, dual-stack server */
		{ true, SM_VIP_MAPPED, SM_EP_MAPPED } /* dual-stack both ends */
	};
	const int n = sizeof(runs) / sizeof(runs[0]);
	uint64_t sent, received;
	struct ktest_env env;
	char yaml[4096] = "";
	int i;

	sm_policy(yaml, sizeof(yaml), "local", SM_VIP, SM_EP, false);
	sm_policy(yaml, sizeof(yaml), "local6", SM_VIP6, SM_EP6, false);
	if (!ASSERT_OK(env_setup(&env), "env_setup") || !sm_add_ipv6() ||
	    !ASSERT_OK(env_write_policy(&env, "local.yaml", yaml), "write policy") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, agent_args), "agent applies"))
		goto out;
	for (i = 0; i < n; i++) {
		uint64_t before = sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES);
		uint64_t inserted = sm_stat(&env, BPFMESH_SM_INSERTED);

		ASSERT_EQ(sm_run_child(&env, proof_child, (void *)&runs[i]), 0, runs[i].vip);
		ASSERT_EQ(sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES) - before, SM_PROOF_BYTES,
			  "redirect counter grew by the bytes sent");
		ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED) - inserted, 2, "both ends inserted");
		printf("  %s -> %s: %llu B redirected\n", runs[i].vip, runs[i].ep,
		       (unsigned long long)(sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES) - before));
	}
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_FELL_BACK), 0, "no end fell back to TCP");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_TCP_BYTES), 0, "nothing left to TCP");
	ASSERT_OK(sm_ep_bytes(&env, &sent, &received), "endpoint counters");
	ASSERT_EQ(sent, (uint64_t)n * SM_PROOF_BYTES, "endpoints' bytes_sent = what clients sent");
	check_reported(&env, sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES), n);
	ASSERT_EQ(wait_sockhash_empty(&env), 0, "both sockhashes empty after close");
out:
	env_teardown(&env);
}

/* Is the sockmap sockops link pinned (the object attached)? */
static bool sockmap_link_pinned(const struct ktest_env *e)
{
	char path[sizeof(e->bpffs) + 32];

	snprintf(path, sizeof(path), "%s/link_sockmap_ops", e->bpffs);
	return access(path, F_OK) == 0;
}

/* Acceleration is opt-in (docs/sockmap.md): an agent without --sockmap
 * attaches nothing for it and 1 MiB goes over TCP; an agent that finds the
 * pins of an earlier --sockmap agent re-adopts them switched off. */
KTEST(sockmap_off_by_default)
{
	struct proof pr = { .accel = false };
	struct ktest_env env;
	char yaml[4096] = "";

	sm_policy(yaml, sizeof(yaml), "local", SM_VIP, SM_EP, false);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "local.yaml", yaml), "write policy") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	ASSERT_TRUE(!sockmap_link_pinned(&env), "no sockmap program attached by default");
	ASSERT_EQ(sm_run_child(&env, proof_child, &pr), 0, "1 MiB over TCP");
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stops");

	if (!ASSERT_OK(env_start_agent_arg(&env, NULL, "--sockmap"), "agent with --sockmap"))
		goto out;
	ASSERT_TRUE(sockmap_link_pinned(&env), "--sockmap attaches it");
	/* Killed, so its pins stay; the next agent has no --sockmap. */
	env_signal_agent(&env, SIGKILL);
	waitpid(env.agent, NULL, 0);
	env.agent = 0;
	if (!ASSERT_OK(env_start_agent(&env, NULL), "agent without --sockmap again"))
		goto out;
	ASSERT_TRUE(sockmap_link_pinned(&env), "the earlier agent's attachment re-adopted");
	ASSERT_EQ(sm_run_child(&env, proof_child, &pr), 0, "switched off: 1 MiB over TCP");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_REDIRECT_BYTES), 0, "nothing redirected");
out:
	env_teardown(&env);
}
