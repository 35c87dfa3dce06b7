// SPDX-License-Identifier: Apache-2.0
/*
 * Locality-aware routing end to end (issue 11): an agent started with
 * --locality region1/zone1/sub1 (and --node-labels), a ServiceEntry whose
 * endpoints sit in region1/zone1/sub1 (two), region1/zone2, region2/zone3
 * and region3/zone4, and a DestinationRule with outlierDetection and a
 * localityLbSetting. Endpoints are ejected as they would be in production:
 * their backend stops listening, the next connect to it is refused (RST),
 * the kernel ejects it (consecutive5xxErrors 1), the agent hears the event
 * and rewrites the backend set with the new effective weights. The shares
 * seen by real connects from the test cgroup are checked against Envoy's
 * arithmetic within five-sigma binomial bounds.
 */
#include <stdio.h>
#include <string.h>
#include "ktest.h"

#define N_EPS 5
#define NODE_LOCALITY "region1/zone1/sub1"

/* A, B local; C same region other zone; D region2; E region3. */
static const char *const ep_locality[N_EPS] = {
	"region1/zone1/sub1", "region1/zone1/sub1", "region1/zone2/sub1",
	"region2/zone3/sub1", "region3/zone4/sub1",
};
static const char *const ep_site[N_EPS] = { "green", "green", "blue", "green", "blue" };

/* One test's addresses: endpoints net.1..net.5 (IPv4) or net:1..net:5
 * (IPv6, a net with a colon), the VIP vip:80. */
struct loc_case {
	const char *net, *vip;
	char addrs[N_EPS][32];
	const char *addr_ptrs[N_EPS];
	struct backends be;
	int serving[N_EPS]; /* backend index of each endpoint, -1: not listening */
};

static void policy(char *buf, size_t len, struct loc_case *c, const char *loc_lb)
{
	int i, at;

	at = snprintf(buf, len,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: ServiceEntry\n"
		      "metadata:\n  name: reviews\n  namespace: default\n"
		      "spec:\n"
		      "  hosts: [reviews.default.svc.cluster.local]\n"
		      "  addresses: ['%s']\n"
		      "  ports:\n  - number: 80\n    name: tcp-web\n    protocol: TCP\n"
		      "    targetPort: 8080\n"
		      "  resolution: STATIC\n"
		      "  endpoints:\n", c->vip);
	for (i = 0; i < N_EPS && at > 0 && (size_t)at < len; i++)
		at += snprintf(buf + at, len - at,
			       "  - address: '%s'\n    locality: %s\n    labels: {site: %s}\n",
			       c->addrs[i], ep_locality[i], ep_site[i]);
	if (at > 0 && (size_t)at < len)
		snprintf(buf + at, len - at,
			 "---\n"
			 "apiVersion: networking.istio.io/v1\n"
			 "kind: DestinationRule\n"
			 "metadata:\n  name: reviews\n  namespace: default\n"
			 "spec:\n"
			 "  host: reviews\n"
			 "  trafficPolicy:\n"
			 "    outlierDetection: {consecutive5xxErrors: 1, interval: 30s, "
			 "baseEjectionTime: 300s, maxEjectionPercent: 100}\n"
			 "    loadBalancer:\n"
			 "      simple: RANDOM\n"
			 "%s", loc_lb);
}

/* Backends for the endpoints in mask (bit i: endpoint i listens). */
static bool serve(struct loc_case *c, unsigned int mask)
{
	const char *addrs[N_EPS];
	int i, n = 0;

	backends_stop(&c->be);
	for (i = 0; i < N_EPS; i++) {
		c->serving[i] = mask & (1u << i) ? n : -1;
		if (c->serving[i] >= 0)
			addrs[n++] = c->addrs[i];
	}
	return ASSERT_OK(backends_start(&c->be, addrs, n, 8080), "backends");
}

/* n connects; counts[i] how many reached endpoint i; refused returned. */
static int measure(struct ktest_env *e, struct loc_case *c, int n, int counts[N_EPS])
{
	struct client_result r;
	int i;

	memset(counts, 0, N_EPS * sizeof(*counts));
	if (!ASSERT_OK(client_run(e, c->vip, 80, n, &r), "client"))
		return -1;
	for (i = 0; i < N_EPS; i++)
		counts[i] = c->serving[i] >= 0 ? r.per_backend[c->serving[i]] : 0;
	printf("  locality: %d connects: A %d B %d C %d D %d E %d, refused %d\n", n,
	       counts[0], counts[1], counts[2], counts[3], counts[4], r.refused);
	return r.refused;
}

static bool all_ejected_logged(struct ktest_env *e, const struct loc_case *c,
			       unsigned int dead)
{
	char needle[64];
	int i;

	for (i = 0; i < N_EPS; i++) {
		snprintf(needle, sizeof(needle), strchr(c->addrs[i], ':') ? "ejected [%s]:8080" :
			 "ejected %s:8080", c->addrs[i]);
		if ((dead & (1u << i)) && env_count_log(e, needle) == 0)
			return false;
	}
	return true;
}

/* Only the endpoints of alive listen from now on; connect until each of
 * dead (which must still have a share) is ejected, then wait for the
 * agent's rewrite that leaves all n_ejected ejected endpoints out. */
static bool drain(struct ktest_env *e, struct loc_case *c, unsigned int alive,
		  unsigned int dead, int n_ejected)
{
	char needle[96];
	int counts[N_EPS], i;

	if (!serve(c, alive))
		return false;
	for (i = 0; i < 40 && !all_ejected_logged(e, c, dead); i++)
		if (measure(e, c, 20, counts) < 0)
			return false;
	if (!ASSERT_TRUE(all_ejected_logged(e, c, dead), "the dead endpoints are ejected"))
		return false;
	snprintf(needle, sizeof(needle), "backend sets rewritten: %d ejected endpoints left out",
		 n_ejected);
	return ASSERT_OK(env_wait_log(e, needle, 1, 5000), "sets rewritten without them");
}

/* The case's addresses and its policy, the agent with the node's locality. */
static bool start(struct ktest_env *e, struct loc_case *c, const char *loc_lb,
		  const char *node_labels)
{
	const char *args[] = { "--locality", NODE_LOCALITY, node_labels ? "--node-labels" : NULL,
			       node_labels, NULL };
	char yaml[8192];
	int i;

	bool ipv6 = strchr(c->net, ':') != NULL;

	for (i = 0; i < N_EPS; i++) {
		snprintf(c->addrs[i], sizeof(c->addrs[i]), ipv6 ? "%s:%d" : "%s.%d", c->net, i + 1);
		c->addr_ptrs[i] = c->addrs[i];
	}
	c->be.stop_pipe[0] = c->be.stop_pipe[1] = -1;
	policy(yaml, sizeof(yaml), c, loc_lb);
	if (!ASSERT_OK(env_setup(e), "env_setup"))
		return false;
	if (ipv6 && !netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		return false;
	}
	/* The agent first: a forked agent would inherit the listening
	 * sockets, and a backend could not be restarted on its address. */
	return (!ipv6 || ASSERT_OK(lo_add_ipv6(c->addr_ptrs, N_EPS), "fd00:: addresses on lo")) &&
	       ASSERT_OK(env_write_policy(e, "locality.yaml", yaml), "write policy") &&
	       ASSERT_OK(env_start_agent_args(e, NULL, args), "agent applies") &&
	       serve(c, 0x1f);
}

static void finish(struct ktest_env *e, struct loc_case *c)
{
	backends_stop(&c->be);
	env_teardown(e);
}

/* count out of n within five sigma of share p */
static bool near_share(int count, int n, double p, const char *what)
{
	return ASSERT_NEAR(count, n * p, binomial_bound(n, p), what);
}

/* What the CLI shows at the 70/30 step: each endpoint's locality,
 * priority and effective weight (shares of 10^8), traffic per locality. */
static void check_cli(struct ktest_env *e)
{
	static char out[65536];

	if (!ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps endpoints -j --bpffs %s", e->bpffs),
		       0, "maps endpoints"))
		return;
	ASSERT_TRUE(strstr(out, "\"locality\":\"region1/zone2/sub1\",\"priority\":1") != NULL,
		    "region1/zone2 is priority 1");
	ASSERT_TRUE(json_has_value(out, "effective_weight", "70000000"), "local: 70%");
	ASSERT_TRUE(json_has_value(out, "effective_weight", "30000000"), "next: 30%");
	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps endpoints --bpffs %s", e->bpffs), 0,
		  "maps endpoints table");
	ASSERT_TRUE(strstr(out, "LOCALITY") && strstr(out, "region1/zone1/sub1"),
		    "the table shows localities");
	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "stats -j --interval 0 --bpffs %s", e->bpffs),
		  0, "stats");
	ASSERT_TRUE(strstr(out, "\"localities\":[{\"locality\":\"region1/zone1/sub1\"") != NULL,
		    "stats: traffic per locality");
}

/* Default failover (no rules): everything local while healthy; half the
 * local endpoints ejected: P0 health 140 x 1/2 = 70, so 70/30 with the next
 * level (region1/zone2). False when a step could not be measured. */
static bool local_then_70_30(struct ktest_env *env, struct loc_case *c)
{
	int counts[N_EPS], n = 2000;

	if (!start(env, c, "      localityLbSetting: {enabled: true}\n", NULL))
		return false;
	if (!ASSERT_EQ(measure(env, c, n, counts), 0, "nothing refused"))
		return false;
	ASSERT_EQ(counts[0] + counts[1], n, "all traffic local while healthy");
	near_share(counts[0], n, 0.5, "the two local endpoints share it");

	/* B stops: once ejected, P0 is 50% healthy -> 70/30. */
	if (!drain(env, c, 0x1d, 0x02, 1))
		return false;
	if (!ASSERT_EQ(measure(env, c, n, counts), 0, "nothing refused"))
		return false;
	near_share(counts[0], n, 0.70, "local: 70% (Envoy: min(100, 1.4 x 50))");
	near_share(counts[2], n, 0.30, "next priority (region1/zone2): 30%");
	ASSERT_EQ(counts[3] + counts[4], 0, "other regions: nothing");
	check_cli(env);
	return true;
}

/* The default failover to the end: after the 70/30 step, all local
 * ejected: the next level takes it all; then region2 and region3 share
 * the last level. */
KTEST(locality_priorities_and_overprovisioning)
{
	struct loc_case c = { .net = "127.1.40", .vip = "127.100.40.1" };
	struct ktest_env env = {};
	int counts[N_EPS], n = 2000;

	if (!local_then_70_30(&env, &c))
		goto out;

	/* A stops too: everything to region1/zone2. */
	if (!drain(&env, &c, 0x1c, 0x01, 2))
		goto out;
	if (!ASSERT_EQ(measure(&env, &c, 500, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[2], 500, "all local ejected: the next priority takes all");

	/* C stops: region2 and region3 are one level (no failover rule). */
	if (!drain(&env, &c, 0x18, 0x04, 3))
		goto out;
	if (!ASSERT_EQ(measure(&env, &c, n, counts), 0, "nothing refused"))
		goto out;
	near_share(counts[3], n, 0.5, "region2 and region3 share the last level");
	ASSERT_EQ(counts[3] + counts[4], n, "only the last level");
out:
	finish(&env, &c);
}

/* The same priorities over IPv6 endpoints (issue 15; an IPv6 service has
 * its own backend set, rewritten on ejection like an IPv4 one): all local
 * while healthy, then 70/30 once one local endpoint is ejected. */
KTEST(locality_priorities_ipv6)
{
	struct loc_case c = { .net = "fd00::40", .vip = "fd00::40:100" };
	struct ktest_env env = {};

	local_then_70_30(&env, &c);
	finish(&env, &c);
}

/* istio.io "Locality failover" task: failover region1 -> region2, so after
 * region1 is drained region2 comes before region3, level by level. */
KTEST(locality_failover_task)
{
	struct loc_case c = { .net = "127.1.41", .vip = "127.100.41.1" };
	struct ktest_env env = {};
	int counts[N_EPS];

	if (!start(&env, &c, "      localityLbSetting:\n        enabled: true\n"
			     "        failover: [{from: region1, to: region2}]\n", NULL))
		goto out;
	if (!ASSERT_EQ(measure(&env, &c, 500, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[0] + counts[1], 500, "local first");
	if (!drain(&env, &c, 0x1c, 0x03, 2) ||
	    !ASSERT_EQ(measure(&env, &c, 500, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[2], 500, "then the same region's other zone");
	if (!drain(&env, &c, 0x18, 0x04, 3) ||
	    !ASSERT_EQ(measure(&env, &c, 500, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[3], 500, "then region2, the failover target, before region3");
	if (!drain(&env, &c, 0x10, 0x08, 4) ||
	    !ASSERT_EQ(measure(&env, &c, 500, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[4], 500, "region3 last");
out:
	finish(&env, &c);
}

/* istio.io "Locality weighted distribution" task: from region1/zone1 (any subzone)
 * 70% to region1/zone1, 20% to region1/zone2, 10% to region3/zone4;
 * region2 is not listed and gets nothing. No outlier ejection involved. */
KTEST(locality_distribute_task)
{
	struct loc_case c = { .net = "127.1.42", .vip = "127.100.42.1" };
	struct ktest_env env = {};
	int counts[N_EPS], n = 4000;

	if (!start(&env, &c, "      localityLbSetting:\n        distribute:\n"
			     "        - from: region1/zone1/*\n          to:\n"
			     "            region1/zone1/*: 70\n            region1/zone2/*: 20\n"
			     "            region3/zone4/*: 10\n", NULL))
		goto out;
	if (!ASSERT_EQ(measure(&env, &c, n, counts), 0, "nothing refused"))
		goto out;
	near_share(counts[0] + counts[1], n, 0.70, "region1/zone1: 70%");
	near_share(counts[2], n, 0.20, "region1/zone2: 20%");
	near_share(counts[4], n, 0.10, "region3/zone4: 10%");
	ASSERT_EQ(counts[3], 0, "region2, not listed: nothing");
out:
	finish(&env, &c);
}

/* failoverPriority [site] with --node-labels site=blue: the blue endpoints
 * (region1/zone2 and region3/zone4) first, whatever their locality; when
 * they are drained, the green ones. */
KTEST(locality_failover_priority_label)
{
	struct loc_case c = { .net = "127.1.43", .vip = "127.100.43.1" };
	struct ktest_env env = {};
	int counts[N_EPS], n = 2000;

	if (!start(&env, &c, "      localityLbSetting:\n        failoverPriority: [site]\n",
		   "site=blue,team=x"))
		goto out;
	if (!ASSERT_EQ(measure(&env, &c, n, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[2] + counts[4], n, "endpoints sharing the node's site first");
	near_share(counts[2], n, 0.5, "the two blue localities share it");
	if (!drain(&env, &c, 0x0b, 0x14, 2) ||
	    !ASSERT_EQ(measure(&env, &c, n, counts), 0, "nothing refused"))
		goto out;
	ASSERT_EQ(counts[0] + counts[1] + counts[3], n, "then the others");
out:
	finish(&env, &c);
}
