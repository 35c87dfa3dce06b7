// SPDX-License-Identifier: Apache-2.0
/* IPv6 services on connect6 and getpeername6 (issue 15), inside the test's
 * own network namespace with fd00::/8 addresses on its loopback: the split,
 * the VIP as peer, IPv4-mapped destinations on a dual-stack socket, and the
 * endpoint counters of an IPv6 endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ktest.h"

#define N_CONNS 4000

static const char *const eps6[] = { "fd00::6:1", "fd00::6:2", "fd00::6:3" };
static const char *const eps4[] = { "127.1.60.1", "127.1.60.2", "127.1.60.3" };

/* A dual-stack "web": VIPs fd00::6:100 and 127.100.60.1, endpoints of both
 * families (v1: .1 and .2, v2: .3), split 90/10. */
static void dual_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: web, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [web.default.svc.cluster.local]\n"
		 "  addresses: ['fd00::6:100', 127.100.60.1]\n"
		 "  ports: [{number: 80, name: tcp-web, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: '%s', labels: {version: v1}}\n"
		 "  - {address: '%s', labels: {version: v1}}\n"
		 "  - {address: '%s', labels: {version: v2}}\n"
		 "  - {address: %s, labels: {version: v1}}\n"
		 "  - {address: %s, labels: {version: v1}}\n"
		 "  - {address: %s, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: web, namespace: default}\n"
		 "spec:\n"
		 "  host: web\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: web, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [web]\n"
		 "  tcp:\n"
		 "  - route:\n"
		 "    - {destination: {host: web, subset: v1}, weight: 90}\n"
		 "    - {destination: {host: web, subset: v2}, weight: 10}\n",
		 eps6[0], eps6[1], eps6[2], eps4[0], eps4[1], eps4[2]);
}

static const char *const metrics_args[] = { "--metrics", "127.0.0.1:0", NULL };

/* Stop backends only if they were started (a zeroed struct has fds 0). */
static void backends_stop_started(struct backends *b)
{
	if (b->thread)
		backends_stop(b);
}

/* env, policy, IPv6 and IPv4 backends, agent; false (and reported) on failure. */
static bool start_dual(struct ktest_env *env, struct backends *b6, struct backends *b4)
{
	char yaml[8192];

	if (!ASSERT_OK(env_setup(env), "env_setup"))
		return false;
	if (!netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		return false;
	}
	dual_policy(yaml, sizeof(yaml));
	return ASSERT_OK(lo_add_ipv6(eps6, 3), "fd00:: addresses on lo") &&
	       ASSERT_OK(env_write_policy(env, "web.yaml", yaml), "write policy") &&
	       ASSERT_OK(backends_start(b6, eps6, 3, 8080), "IPv6 backends") &&
	       ASSERT_OK(backends_start(b4, eps4, 3, 8080), "IPv4 backends") &&
	       ASSERT_OK(env_start_agent_args(env, NULL, metrics_args), "agent applies");
}

/* Istio's metric of the web service's version ver (both families), once
 * it reaches want (sockops counts a close when the socket reaches
 * TCP_CLOSE, which may come just after the client is done), or after 2 s. */
static long long web_metric(struct ktest_env *env, const char *metric, const char *ver,
			    long long want)
{
	static char text[1 << 17];
	long long v = -1;
	char label[64];
	int i;

	snprintf(label, sizeof(label), "destination_version=\"%s\"", ver);
	for (i = 0; i < 100 && v != want; i++) {
		if (i)
			usleep(20000);
		if (env_get_metrics(env_metrics_port(env), text, sizeof(text)) ||
		    !strstr(text, "destination_service=\"web.default.svc.cluster.local\""))
			continue;
		v = metrics_sum(text, metric, label);
	}
	return v;
}

static void check_split(const struct client_result *r, const char *what)
{
	ASSERT_EQ(r->ok, N_CONNS, what);
	ASSERT_NEAR(r->per_backend[2], 0.10 * N_CONNS, binomial_bound(N_CONNS, 0.10), "v2 share");
	ASSERT_NEAR(r->per_backend[0], 0.45 * N_CONNS, binomial_bound(N_CONNS, 0.45), "v1 ep1");
	ASSERT_NEAR(r->per_backend[1], 0.45 * N_CONNS, binomial_bound(N_CONNS, 0.45), "v1 ep2");
}

/* An IPv6 VIP: split 90/10 over the IPv6 endpoints, peer is the VIP, and
 * the IPv6 endpoints' slots count the connections. */
KTEST(ipv6_split_and_peer)
{
	static char out[65536];
	struct backends b6 = {}, b4 = {};
	struct ktest_env env;
	struct client_result r;

	if (!start_dual(&env, &b6, &b4))
		goto out;
	if (!ASSERT_OK(client_run(&env, "fd00::6:100", 80, N_CONNS, &r), "client"))
		goto out;
	check_split(&r, "every IPv6 connection reached an IPv6 backend");
	ASSERT_TRUE(strcmp(r.peer, "[fd00::6:100]:80") == 0, "getpeername6 returns the VIP");
	printf("  ipv6_split_and_peer: %d connections: v1 %d + %d, v2 %d; peer %s\n", N_CONNS,
	       r.per_backend[0], r.per_backend[1], r.per_backend[2], r.peer);

	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "stats web -j --interval 0 --bpffs %s",
			      env.bpffs), 0, "stats -j");
	ASSERT_EQ(json_num_after(out, "\"address\":\"[fd00::6:3]:8080\"", "opened"),
		  r.per_backend[2], "IPv6 endpoint slot counts its connections");
	ASSERT_EQ(json_num_after(out, "\"address\":\"[fd00::6:1]:8080\"", "established"),
		  r.per_backend[0], "IPv6 endpoint slot: established");
	ASSERT_EQ(json_num_after(out, "\"address\":\"127.1.60.1:8080\"", "opened"), 0,
		  "no IPv4 endpoint was used");
	/* Istio's metrics count IPv6 connections as IPv4 ones (each backend
	 * writes one byte and closes: sent bytes = connections). */
	ASSERT_EQ(web_metric(&env, "istio_tcp_connections_opened_total", "v2", r.per_backend[2]),
		  r.per_backend[2], "istio opened, v2");
	ASSERT_EQ(web_metric(&env, "istio_tcp_connections_closed_total", "v1",
			     r.per_backend[0] + r.per_backend[1]),
		  r.per_backend[0] + r.per_backend[1], "istio closed, v1");
	ASSERT_EQ(web_metric(&env, "istio_tcp_sent_bytes_total", "v2", r.per_backend[2]),
		  r.per_backend[2], "istio sent bytes, v2");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services --bpffs %s", env.bpffs), 0,
		  "maps services");
	ASSERT_TRUE(strstr(out, "[fd00::6:100]:80/TCP") != NULL, "maps shows the IPv6 VIP");
	ASSERT_TRUE(strstr(out, "(1 IPv4, 1 IPv6)") != NULL, "maps counts services per family");
	printf("%s", out);
out:
	backends_stop_started(&b4);
	backends_stop_started(&b6);
	env_teardown(&env);
}

/* ::ffff:127.100.60.1 from a dual-stack IPv6 socket is the IPv4 service:
 * IPv4 endpoints, written back mapped; getpeername6 shows the mapped VIP.
 * The IPv4 VIP from an IPv4 socket still works beside it. */
KTEST(ipv6_mapped_v4)
{
	struct backends b6 = {}, b4 = {};
	struct ktest_env env;
	struct client_result r;

	if (!start_dual(&env, &b6, &b4))
		goto out;
	if (!ASSERT_OK(client_run(&env, "::ffff:127.100.60.1", 80, N_CONNS, &r), "client"))
		goto out;
	check_split(&r, "every mapped connection reached an IPv4 backend");
	ASSERT_TRUE(strcmp(r.peer, "[::ffff:127.100.60.1]:80") == 0,
		    "getpeername6 returns the mapped VIP");
	printf("  ipv6_mapped_v4: %d connections: v1 %d + %d, v2 %d; peer %s\n", N_CONNS,
	       r.per_backend[0], r.per_backend[1], r.per_backend[2], r.peer);
	if (!ASSERT_OK(client_run(&env, "127.100.60.1", 80, 200, &r), "IPv4 client"))
		goto out;
	ASSERT_EQ(r.ok, 200, "IPv4 VIP from an IPv4 socket");
	ASSERT_TRUE(strcmp(r.peer, "127.100.60.1:80") == 0, "getpeername4 unchanged");
out:
	backends_stop_started(&b4);
	backends_stop_started(&b6);
	env_teardown(&env);
}

/* ---- outlier ejection over IPv6 and IPv4-mapped connections ---- */

static const char *const od_eps6[] = { "fd00::9:1", "fd00::9:2", "fd00::9:3" };
static const char *const od_eps4[] = { "127.1.69.1", "127.1.69.2", "127.1.69.3" };

#define OD_CLUSTER "reviews.default.svc.cluster.local:80"

/* "reviews" at fd00::9:100 and 127.100.69.1, endpoints of both families,
 * one cluster with consecutive5xxErrors 3 (the default's Envoy rule: at
 * TCP a failed connect counts). */
static void od_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: reviews, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [reviews.default.svc.cluster.local]\n"
		 "  addresses: ['fd00::9:100', 127.100.69.1]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: '%s'}\n  - {address: '%s'}\n  - {address: '%s'}\n"
		 "  - {address: %s}\n  - {address: %s}\n  - {address: %s}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: reviews, namespace: default}\n"
		 "spec:\n"
		 "  host: reviews\n"
		 "  trafficPolicy:\n"
		 "    outlierDetection: {consecutive5xxErrors: 3, interval: 30s, "
		 "baseEjectionTime: 60s, maxEjectionPercent: 100}\n",
		 od_eps6[0], od_eps6[1], od_eps6[2], od_eps4[0], od_eps4[1], od_eps4[2]);
}

/* 300 connects to vip: exactly 3 refused (the dead endpoint's 3rd failure
 * ejects it at once), then every one succeeds; the ejection is logged by
 * the endpoint's address, and the slot's counters say so. An IPv6
 * endpoint's cluster is the service's "|ipv6" one (a set per family). */
static void od_check(struct ktest_env *env, const char *vip, const char *dead,
		     const char *cluster)
{
	char needle[160], anchor[80];
	static char out[65536];
	struct client_result r;

	if (!ASSERT_OK(client_run(env, vip, 80, 300, &r), "client"))
		return;
	ASSERT_EQ(r.refused, 3, "exactly 3 refused connects, then ejected");
	ASSERT_EQ(r.ok, 297, "every connect after the ejection succeeds");
	snprintf(needle, sizeof(needle), "ejected %s of %s for 60 s (1st time)", dead, cluster);
	ASSERT_OK(env_wait_log(env, needle, 1, 5000), "ejection logged by address");
	printf("  %s: %d refused, %d ok; %s ejected\n", vip, r.refused, r.ok, dead);
	if (!ASSERT_EQ(env_run_cli(env, out, sizeof(out), "maps stats -j --bpffs %s", env->bpffs),
		       0, "maps stats"))
		return;
	snprintf(anchor, sizeof(anchor), "\"endpoint\":\"%s\"", dead);
	ASSERT_EQ(json_num_after(out, anchor, "failed_refused"), 3, "3 refused connects counted");
	ASSERT_EQ(json_num_after(out, anchor, "ejections"), 1, "1 ejection counted");
	snprintf(anchor, sizeof(anchor), "\"endpoint\":\"%s\",", dead);
	ASSERT_TRUE(strstr(strstr(out, anchor) ? strstr(out, anchor) : "", "\"state\":\"ejected\"")
		    != NULL, "state ejected");
}

/* An IPv6 endpoint that refuses connections is ejected like an IPv4 one
 * (sockops sees the IPv6 socket's RST in sk_err), and so is an IPv4 one
 * reached from a dual-stack socket (::ffff:VIP). */
KTEST(ipv6_outlier_ejects_refusing_endpoint)
{
	struct backends b6 = {}, b4 = {};
	static char out[65536];
	struct ktest_env env;
	char yaml[8192];

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	if (!netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		goto out;
	}
	od_policy(yaml, sizeof(yaml));
	/* The third endpoint of each family has no listener: RST. */
	if (!ASSERT_OK(lo_add_ipv6(od_eps6, 3), "fd00:: addresses on lo") ||
	    !ASSERT_OK(env_write_policy(&env, "reviews.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&b6, od_eps6, 2, 8080), "IPv6 backends") ||
	    !ASSERT_OK(backends_start(&b4, od_eps4, 2, 8080), "IPv4 backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	od_check(&env, "fd00::9:100", "[fd00::9:3]:8080", OD_CLUSTER "|ipv6");
	od_check(&env, "::ffff:127.100.69.1", "127.1.69.3:8080", OD_CLUSTER);
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints --bpffs %s", env.bpffs), 0,
		  "maps endpoints");
	ASSERT_TRUE(strstr(out, "[fd00::9:3]") == NULL && strstr(out, "127.1.69.3") == NULL,
		    "both ejected endpoints left out of the backend sets");
	printf("%s", out);
out:
	backends_stop_started(&b4);
	backends_stop_started(&b6);
	env_teardown(&env);
}
