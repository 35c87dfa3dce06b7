// SPDX-License-Identifier: Apache-2.0
/* Weighted splits as the kernel makes them, over enough real connections to
 * hold them to a five-sigma binomial bound. */
#include <stdio.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 20000

static const char *const canary_eps[] = { "127.1.1.1", "127.1.1.2", "127.1.1.3" };

KTEST(split_90_10)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), "127.100.1.1", "127.1.1", 90, 10);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, canary_eps, 3))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.1.1", 80, N_CONNS, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, N_CONNS, "every connection reached a backend");
	ASSERT_NEAR(r.per_backend[2], 0.10 * N_CONNS, binomial_bound(N_CONNS, 0.10), "v2 share");
	/* Inside v1, the two endpoints share 90% evenly. */
	ASSERT_NEAR(r.per_backend[0], 0.45 * N_CONNS, binomial_bound(N_CONNS, 0.45), "v1 ep1");
	ASSERT_NEAR(r.per_backend[1], 0.45 * N_CONNS, binomial_bound(N_CONNS, 0.45), "v1 ep2");
	printf("  split_90_10: %d connections: v1 %d + %d, v2 %d (expected 18000/2000)\n", N_CONNS,
	       r.per_backend[0], r.per_backend[1], r.per_backend[2]);
out:
	backends_stop(&be);
	env_teardown(&env);
}

static const char *const weighted_eps[] = { "127.1.2.1", "127.1.2.2", "127.1.2.3" };

KTEST(endpoint_weights)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192];
	const double w[3] = { 1 / 8.0, 2 / 8.0, 5 / 8.0 };
	int i;

	fixture_weighted(yaml, sizeof(yaml), "127.100.2.1", "127.1.2");
	if (!env_start_service(&env, &be, "weighted.yaml", yaml, weighted_eps, 3))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.2.1", 80, N_CONNS, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, N_CONNS, "every connection reached a backend");
	for (i = 0; i < 3; i++)
		ASSERT_NEAR(r.per_backend[i], w[i] * N_CONNS, binomial_bound(N_CONNS, w[i]),
			    "endpoint weight 1:2:5");
	printf("  endpoint_weights: %d connections: %d / %d / %d (expected 2500/5000/12500)\n",
	       N_CONNS, r.per_backend[0], r.per_backend[1], r.per_backend[2]);
out:
	backends_stop(&be);
	env_teardown(&env);
}
