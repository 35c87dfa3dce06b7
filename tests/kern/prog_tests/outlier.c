// SPDX-License-Identifier: Apache-2.0
/*
 * Outlier ejection end to end, through the agent and a policy file: real
 * VIP connects from the test cgroup, backends that stop listening (every
 * connect then fails with RST: a local-origin connect failure, which Envoy
 * counts as a 5xx and a gateway error when splitExternalLocalOriginErrors
 * is false), and the expectations Envoy's rules give exactly:
 *  - ejected on the Nth consecutive failure, at once: the next connect no
 *    longer picks it; back after baseEjectionTime x times ejected;
 *  - maxEjectionPercent: eject only while 100 x (ejected + 1) / total is
 *    within it;
 *  - minHealthPercent: below it (panic) every endpoint is used again;
 *  - nothing usable and no panic: refused at once, no healthy upstream.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fixtures.h"
#include "ktest.h"

#define N_EPS_MAX 4

/* Service "reviews" at vip:80, endpoints net.1..net.n:8080, one cluster
 * whose top-level outlierDetection holds od (YAML flow mapping). */
static void outlier_policy(char *buf, size_t len, const char *vip, const char *net, int n,
			   const char *od)
{
	fixture_one_cluster(buf, len, vip, net, n, NULL, "outlierDetection", od);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define CLUSTER "reviews.default.svc.cluster.local:80"

/* Wait for the agent to log the return of ep; the time it took from t0. */
static double wait_return(struct ktest_env *e, const char *ep, int count, double t0)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "returned %s of " CLUSTER " to service", ep);
	if (!ASSERT_OK(env_wait_log(e, needle, count, 10000), "return logged"))
		return -1;
	return mono_ms() - t0;
}

static const char *const eject_eps[] = { "127.1.9.1", "127.1.9.2", "127.1.9.3" };

/* consecutive5xxErrors 3, baseEjectionTime 1 s: a backend that stops
 * listening is ejected on its 3rd refused connect, the next connects all
 * succeed, it returns after 1 s and, failing again, is ejected for 2 s. */
KTEST(outlier_ejects_after_n_failures_and_returns)
{
	struct backends live = {}, dying = { .stop_pipe = { -1, -1 } };
	struct ktest_env env;
	struct client_result r;
	char yaml[8192], out[65536];
	double t0, back_ms;

	outlier_policy(yaml, sizeof(yaml), "127.100.9.1", "127.1.9", 3,
		       "{consecutive5xxErrors: 3, interval: 30s, baseEjectionTime: 1s, "
		       "maxEjectionPercent: 100}");
	if (!env_start_service(&env, &live, "outlier.yaml", yaml, eject_eps, 2) ||
	    !ASSERT_OK(backends_start(&dying, eject_eps + 2, 1, 8080), "third backend"))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 60, &r), "client") ||
	    !ASSERT_EQ(r.ok, 60, "all three listening: every connect succeeds"))
		goto out;

	backends_stop(&dying); /* 127.1.9.3 stops listening: RST from now on */
	dying.stop_pipe[0] = dying.stop_pipe[1] = -1; /* stopped: not closed again */
	t0 = mono_ms();
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 300, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 3, "exactly 3 refused connects, then ejected");
	ASSERT_EQ(r.ok, 297, "every connect after the ejection succeeds");
	ASSERT_OK(env_wait_log(&env, "ejected 127.1.9.3:8080 of " CLUSTER " for 1 s (1st time)",
			       1, 5000), "ejection logged by name");

	back_ms = wait_return(&env, "127.1.9.3:8080", 1, t0);
	ASSERT_TRUE(back_ms >= 1000.0, "not back before baseEjectionTime");
	ASSERT_TRUE(back_ms < 1000.0 + 1500.0, "back soon after baseEjectionTime");
	printf("  outlier: 3/300 refused, returned %.0f ms after the failures began\n", back_ms);

	/* Back with a fresh count; still dead: 3 more failures, ejected 2 s. */
	t0 = mono_ms();
	if (!ASSERT_OK(client_run(&env, "127.100.9.1", 80, 300, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 3, "back with a fresh count: 3 refused again");
	ASSERT_OK(env_wait_log(&env, "ejected 127.1.9.3:8080 of " CLUSTER " for 2 s (2nd time)",
			       1, 5000), "second ejection lasts twice as long");
	back_ms = wait_return(&env, "127.1.9.3:8080", 2, t0);
	ASSERT_TRUE(back_ms >= 2000.0, "not back before 2 x baseEjectionTime");
	ASSERT_TRUE(back_ms < 2000.0 + 1500.0, "back soon after 2 x baseEjectionTime");

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	ASSERT_TRUE(json_has_value(out, "failed_refused", "6"), "6 refused connects counted");
	ASSERT_TRUE(json_has_value(out, "ejections", "2"), "2 ejections counted");
	ASSERT_TRUE(json_has_value(out, "no_healthy_upstream", "0"), "nothing refused by us");
out:
	backends_stop(&dying);
	backends_stop(&live);
	env_teardown(&env);
}

/* Every endpoint of the cluster dead, maxEjectionPercent 100: each is
 * ejected on its first failure, then every connect is refused at once by
 * the kernel and counted as no healthy upstream. */
KTEST(outlier_all_ejected_refused_as_no_healthy_upstream)
{
	struct backends none = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192], out[65536];

	outlier_policy(yaml, sizeof(yaml), "127.100.10.1", "127.1.10", 2,
		       "{consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 100}");
	if (!env_start_service(&env, &none, "outlier.yaml", yaml, NULL, 0))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.10.1", 80, 50, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 50, "every connect refused");
	ASSERT_TRUE(r.max_fail_ms < 100.0, "refused at once, no hang");
	ASSERT_OK(env_wait_log(&env, "ejected 127.1.10.", 2, 5000), "both ejected, logged");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	/* 2 connects reached an endpoint (RST); the other 48 never left. */
	ASSERT_TRUE(json_has_value(out, "refused", "48"), "48 counted as no healthy upstream");
	ASSERT_TRUE(json_has_value(out, "ejected", "2"), "2 ejected now");
out:
	backends_stop(&none);
	env_teardown(&env);
}

/* Four dead endpoints, maxEjectionPercent 50: Envoy ejects while
 * 100 x (ejected + 1) / 4 <= 50, so exactly 2; the other two stay in
 * service however often they fail. */
KTEST(outlier_max_ejection_percent)
{
	struct backends none = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192], out[65536];

	outlier_policy(yaml, sizeof(yaml), "127.100.11.1", "127.1.11", 4,
		       "{consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 50}");
	if (!env_start_service(&env, &none, "outlier.yaml", yaml, NULL, 0))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.11.1", 80, 100, &r), "client"))
		goto out;
	ASSERT_EQ(r.refused, 100, "every connect refused (all dead)");
	ASSERT_OK(env_wait_log(&env, "ejected 127.1.11.", 2, 5000), "two ejections logged");
	/* Waited for: the agent may log it after rewriting the sets for the
	 * ejections, which under TCG takes a while. */
	ASSERT_OK(env_wait_log(&env, "maxEjectionPercent reached", 1, 5000),
		  "the third ejection refused and logged");
	ASSERT_EQ(env_count_log(&env, "ejected 127.1.11."), 2, "no third ejection");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	ASSERT_TRUE(json_has_value(out, "ejected", "2"), "2 ejected: 100 x 3 / 4 > 50");
	ASSERT_TRUE(json_has_value(out, "refused", "0"), "no connect refused by the kernel");
out:
	backends_stop(&none);
	env_teardown(&env);
}

static const char *const panic_eps[] = { "127.1.12.1" };

/* One live endpoint and three dead, maxEjectionPercent 100,
 * minHealthPercent 50: the third ejection leaves 25% healthy, below 50%:
 * panic, and every endpoint is used again, ejected or not (Envoy), so the
 * live one gets a quarter of the connects. */
KTEST(outlier_min_health_percent_panic)
{
	struct backends live = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192], out[65536];
	const int n = 4000;

	outlier_policy(yaml, sizeof(yaml), "127.100.12.1", "127.1.12", 4,
		       "{consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 100, "
		       "minHealthPercent: 50}");
	if (!env_start_service(&env, &live, "outlier.yaml", yaml, panic_eps, 1))
		goto out;
	/* Warm-up: the dead ones fail once each and are ejected. */
	if (!ASSERT_OK(client_run(&env, "127.100.12.1", 80, 200, &r), "warm-up client"))
		goto out;
	if (!ASSERT_OK(env_wait_log(&env, "ejected 127.1.12.", 3, 5000), "three ejected"))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps stats -j --bpffs %s", env.bpffs), 0,
		  "maps stats");
	ASSERT_TRUE(json_has_value(out, "ejected", "3"), "3 ejected (maxEjectionPercent 100)");
	usleep(300000); /* let the agent's set rewrite settle: panic keeps the full set */
	if (!ASSERT_OK(client_run(&env, "127.100.12.1", 80, n, &r), "client"))
		goto out;
	ASSERT_NEAR(r.ok, 0.25 * n, binomial_bound(n, 0.25), "panic: live endpoint gets 1/4");
	ASSERT_NEAR(r.refused, 0.75 * n, binomial_bound(n, 0.75),
		    "panic: ejected endpoints used again");
	printf("  panic: %d/%d reached the live endpoint (expected %d)\n", r.ok, n, n / 4);
out:
	backends_stop(&live);
	env_teardown(&env);
}
