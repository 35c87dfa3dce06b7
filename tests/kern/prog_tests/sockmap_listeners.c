// SPDX-License-Identifier: Apache-2.0
/*
 * Which clients go in the SOCKHASH (session 7): only those whose endpoint
 * is a managed listener of this node (sockmap_abi.h: managed listeners).
 * A placed connection to an endpoint that no managed socket listens on
 * inserts nothing (no SOCKHASH entry, no pending entry) and is plain TCP; a
 * managed listener is in the registry while it listens and leaves it at its
 * close; one bound to the any address serves a loopback endpoint at once;
 * one the registry does not know (it listened before the agent) is learned
 * from its first accepted connection, and the next one is accelerated; a
 * learned address whose client is never taken is forgotten.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpfmesh/sockmap_abi.h>
#include "ktest.h"
#include "sockmap_pair.h"

#define SL_BYTES (64 << 10)

/* One SL_BYTES request over a pair from lfd through SM_VIP: 1 when the
 * client's TCP carried none of it (redirected), 0 when it carried all of
 * it, -1 on a failure. */
static int sl_request(int lfd)
{
	static uint8_t buf[SL_BYTES], got[SL_BYTES];
	struct sm_pair p;
	size_t n = 0;
	uint64_t acked;

	if (!SM_CHECK(sm_pair_open(lfd, SM_VIP, &p) == 0, "connect %s: %s", SM_VIP,
		      strerror(errno)))
		return -1;
	sm_fill(buf, sizeof(buf), 5);
	if (!SM_CHECK(send(p.cli, buf, sizeof(buf), 0) == sizeof(buf), "client write"))
		goto fail;
	while (n < sizeof(got)) {
		struct pollfd pf = { .fd = p.srv, .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, 10000) != 1)
			break;
		r = read(p.srv, got + n, sizeof(got) - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (!SM_CHECK(n == sizeof(got) && !memcmp(buf, got, sizeof(got)), "server got %zu B",
		      n))
		goto fail;
	acked = sm_tcp_bytes_acked(p.cli);
	sm_pair_close(&p);
	if (acked == 0)
		return 1;
	return acked == SL_BYTES ? 0 : -1;
fail:
	sm_pair_close(&p);
	return -1;
}

static const char *const agent_args[] = { "--sockmap", NULL };

static bool sl_start(struct ktest_env *e)
{
	char yaml[4096] = "";

	sm_policy(yaml, sizeof(yaml), "local", SM_VIP, SM_EP, false);
	return ASSERT_OK(env_setup(e), "env_setup") &&
	       ASSERT_OK(env_write_policy(e, "local.yaml", yaml), "write policy") &&
	       ASSERT_OK(env_start_agent_args(e, NULL, agent_args), "agent applies");
}

struct sl_arg {
	struct ktest_env *env;
	int lfd; /* a listener made outside the managed cgroup, or -1 */
};

/* The endpoint listens outside the managed cgroup (the test's own
 * process): the client is placed, never inserted, and plain TCP. */
static int unmanaged_child(void *arg)
{
	const struct sl_arg *a = arg;

	SM_CHECK(sl_request(a->lfd) == 0, "plain TCP to an unmanaged listener");
	return 0;
}

/* The agent, and the endpoint's listener in the test's own process,
 * outside the managed cgroup. */
static bool sl_start_unmanaged(struct sl_arg *a)
{
	if (!sl_start(a->env))
		return false;
	a->lfd = sm_listen(SM_EP);
	return ASSERT_TRUE(a->lfd >= 0, "listen outside the managed cgroup");
}

KTEST(sockmap_unmanaged_endpoint_not_inserted)
{
	struct ktest_env env;
	struct sl_arg a = { &env, -1 };

	if (!sl_start_unmanaged(&a))
		goto out;
	ASSERT_EQ(sm_listen_count(&env, SM_EP, SM_EP_PORT), -1, "not registered");
	ASSERT_EQ(sm_run_child(&env, unmanaged_child, &a), 0, "request over TCP");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED), 0, "nothing inserted");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_FELL_BACK), 0, "no end to fall back");
	ASSERT_EQ(sm_pending_entries(&env), 0, "no pending entry");
	ASSERT_EQ(sm_sockhash_entries(&env), 0, "sockhash empty");
	ASSERT_EQ(sm_listen_entries(&env), 0, "registry empty");
out:
	if (a.lfd >= 0)
		close(a.lfd);
	env_teardown(&env);
}

/* Managed listeners: a bound one registered while it listens; one on the
 * any address accelerates a loopback endpoint; a forgotten one is learned
 * from its first accepted connection. */
static int managed_child(void *arg)
{
	const struct sl_arg *a = arg;
	int lfd = sm_listen(SM_EP);

	if (!SM_CHECK(lfd >= 0, "listen %s", SM_EP))
		return 1;
	SM_CHECK(sm_listen_count(a->env, SM_EP, SM_EP_PORT) == 1, "bound listener registered");
	SM_CHECK(sl_request(lfd) == 1, "bound listener: redirected");
	/* As if it listened before the agent: the registry does not know it. */
	SM_CHECK(sm_listen_set(a->env, SM_EP, SM_EP_PORT, -1) == 0, "registry entry removed");
	SM_CHECK(sl_request(lfd) == 0, "unknown listener: first connection plain TCP");
	SM_CHECK(sm_listen_count(a->env, SM_EP, SM_EP_PORT) == 0, "learned from the accepted end");
	SM_CHECK(sl_request(lfd) == 1, "learned listener: redirected");
	close(lfd);
	SM_CHECK(sm_listen_count(a->env, SM_EP, SM_EP_PORT) == -1, "learned entry left unbound");

	lfd = sm_listen("0.0.0.0");
	if (!SM_CHECK(lfd >= 0, "listen 0.0.0.0"))
		return 1;
	SM_CHECK(sm_listen_count(a->env, "0.0.0.0", SM_EP_PORT) == 1, "any address registered");
	SM_CHECK(sl_request(lfd) == 1, "any-address listener, loopback endpoint: redirected");
	close(lfd);
	SM_CHECK(sm_listen_count(a->env, "0.0.0.0", SM_EP_PORT) == -1, "left at its close");
	/* Learned entries of the accepted ends stay until proved wrong. */
	SM_CHECK(sm_listen_set(a->env, SM_EP, SM_EP_PORT, -1) == 0, "learned entry removed");
	return 0;
}

KTEST(sockmap_listener_registry)
{
	struct ktest_env env;
	struct sl_arg a = { &env, -1 };

	if (!sl_start(&env))
		goto out;
	ASSERT_EQ(sm_run_child(&env, managed_child, &a), 0, "managed listeners");
	ASSERT_EQ(sm_listen_entries(&env), 0, "registry empty after the listeners closed");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED), 6, "both ends of three connections");
	ASSERT_EQ(sm_pending_entries(&env), 0, "no pending entry left");
out:
	env_teardown(&env);
}

/* A learned address whose listener is no longer managed: the client is
 * inserted, never taken, falls back at its first send, and the address is
 * forgotten at its close. */
KTEST(sockmap_learned_listener_forgotten)
{
	struct ktest_env env;
	struct sl_arg a = { &env, -1 };

	if (!sl_start_unmanaged(&a) ||
	    !ASSERT_OK(sm_listen_set(&env, SM_EP, SM_EP_PORT, 0), "stale learned entry"))
		goto out;
	ASSERT_EQ(sm_run_child(&env, unmanaged_child, &a), 0, "request over TCP");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_INSERTED), 1, "the client inserted for the stale entry");
	ASSERT_EQ(sm_stat(&env, BPFMESH_SM_FELL_BACK), 1, "and fell back to TCP");
	ASSERT_EQ(sm_listen_count(&env, SM_EP, SM_EP_PORT), -1, "stale entry forgotten");
	ASSERT_EQ(sm_pending_entries(&env), 0, "no pending entry left");
out:
	if (a.lfd >= 0)
		close(a.lfd);
	env_teardown(&env);
}
