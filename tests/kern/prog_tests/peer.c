// SPDX-License-Identifier: Apache-2.0
/* What the application sees: the VIP as its peer; and traffic to anything
 * that is not a service is left alone. */
#include <stdio.h>
#include <string.h>
#include "fixtures.h"
#include "ktest.h"

static const char *const eps[] = { "127.1.6.1", "127.1.6.2", "127.1.6.3" };

KTEST(getpeername_is_vip)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), "127.100.6.1", "127.1.6", 90, 10);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.6.1", 80, 1, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, 1, "connected");
	ASSERT_TRUE(strcmp(r.peer, "127.100.6.1:80") == 0, "getpeername returns the VIP");
	printf("  getpeername_is_vip: peer %s\n", r.peer);
out:
	backends_stop(&be);
	env_teardown(&env);
}

static const char *const other[] = { "127.1.7.9" };

KTEST(non_service_untouched)
{
	struct ktest_env env;
	struct backends be = {}, plain = {};
	struct client_result r;
	char yaml[8192];

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	fixture_canary(yaml, sizeof(yaml), "127.100.7.1", "127.1.7", 90, 10);
	if (!ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(backends_start(&plain, other, 1, 9090), "plain server") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	/* A plain address: reaches exactly that server, peer unchanged. */
	if (!ASSERT_OK(client_run(&env, "127.1.7.9", 9090, 200, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, 200, "plain connections untouched");
	ASSERT_TRUE(strcmp(r.peer, "127.1.7.9:9090") == 0, "peer is the real address");
	/* The VIP on a port the service does not declare: not intercepted, so
	 * the kernel refuses it like any closed port. */
	if (!ASSERT_OK(client_run(&env, "127.100.7.1", 81, 5, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 5, "undeclared port is not redirected");
out:
	backends_stop(&plain);
	backends_stop(&be);
	env_teardown(&env);
}
