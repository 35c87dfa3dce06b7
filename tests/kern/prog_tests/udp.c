// SPDX-License-Identifier: Apache-2.0
/* UDP services (issue 15): a UDP echo service behind a VIP with two
 * subsets, 90/10, over IPv4 and IPv6 (fd00:: on the test namespace's
 * loopback). Unconnected sockets (sendmsg/recvmsg) and connected ones
 * (connect): the split across sockets, replies that come from the VIP,
 * every datagram of one socket to one endpoint, and a socket whose
 * endpoint leaves the policy moving to one that is in it; IPv4-mapped VIPs
 * from dual-stack IPv6 sockets. Each socket's flow to its endpoint is a
 * connection in the counters (bpf/lib/udp_flow.h): opened when placed,
 * closed when the socket moves or is released, in `bpfmesh maps stats` and
 * in Istio's metrics. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ktest.h"

#define N_SOCKS 1000
#define PER_SOCK 3
#define EP_PORT 5353

struct udp_family {
	const char *vip, *vip_shown; /* as sent to; as getpeername/recvfrom show it */
	const char *eps[3];          /* v1, v1, v2 */
};

static const struct udp_family fam4 = {
	"127.100.70.1", "127.100.70.1:53", { "127.1.70.1", "127.1.70.2", "127.1.70.3" } };
static const struct udp_family fam6 = {
	"fd00::7:100", "[fd00::7:100]:53", { "fd00::7:1", "fd00::7:2", "fd00::7:3" } };

/* An IPv6 socket to the IPv4 VIP, mapped: sendmsg4 places it (the kernel
 * hands a mapped destination to udp_sendmsg), recvmsg6 shows the reply from
 * the mapped VIP. The policy names the VIP mapped too: it is IPv4. */
static const struct udp_family fam4_mapped = {
	"::ffff:127.100.71.1", "[::ffff:127.100.71.1]:53",
	{ "127.1.71.1", "127.1.71.2", "127.1.71.3" } };

/* ---- the echo service: each endpoint answers its index, then the payload ---- */

static void *echo_serve(void *arg)
{
	struct echo_loop *e = arg;
	struct pollfd pfd[4];
	unsigned char buf[512];
	int i;

	for (i = 0; i < 3; i++)
		pfd[i] = (struct pollfd){ .fd = e->fds[i], .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = e->stop[0], .events = POLLIN };
	for (;;) {
		if (poll(pfd, 4, -1) < 0 && errno != EINTR)
			return NULL;
		if (pfd[3].revents)
			return NULL;
		for (i = 0; i < 3; i++) {
			struct sockaddr_storage from;
			socklen_t len = sizeof(from);
			ssize_t n;

			if (!(pfd[i].revents & POLLIN))
				continue;
			n = recvfrom(e->fds[i], buf + 1, sizeof(buf) - 1, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &len);
			if (n < 0)
				continue;
			buf[0] = (unsigned char)i;
			sendto(e->fds[i], buf, (size_t)n + 1, 0, (struct sockaddr *)&from, len);
		}
	}
}

static int echo_start(struct echo_loop *e, const struct udp_family *f)
{
	int i;

	*e = (struct echo_loop){ .fds = { -1, -1, -1 }, .stop = { -1, -1 } };
	if (pipe(e->stop))
		return -errno;
	for (i = 0; i < 3; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sockaddr_parse(f->eps[i], EP_PORT, &sa);

		e->fds[i] = len ? socket(sa.ss_family, SOCK_DGRAM, 0) : -1;
		if (e->fds[i] < 0 || bind(e->fds[i], (struct sockaddr *)&sa, len))
			return -errno;
	}
	return -pthread_create(&e->thread, NULL, echo_serve, e);
}

/* ---- the client, in the test cgroup ---- */

struct udp_result {
	int socks_per_ep[3];  /* sockets whose replies came from endpoint i */
	int replies;
	int lost;             /* no reply within a second */
	int not_from_vip;     /* a reply whose source was not the VIP */
	int moved;            /* a socket answered by two endpoints */
	int bad_peer;         /* connected: getpeername was not the VIP */
};

/* One datagram to the VIP (sendto, or send when connected) and its reply:
 * the endpoint's index, or -1. */
static int udp_ask(int fd, const struct sockaddr_storage *vip, socklen_t vip_len, bool connected,
		   const char *vip_shown, struct udp_result *r)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	unsigned char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char shown[80];
	ssize_t n;

	n = connected ? send(fd, "ping", 4, 0)
		      : sendto(fd, "ping", 4, 0, (const struct sockaddr *)vip, vip_len);
	if (n != 4 || poll(&p, 1, 1000) != 1)
		goto lost;
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n != 5 || buf[0] > 2)
		goto lost;
	sockaddr_format(&from, shown, sizeof(shown));
	r->not_from_vip += strcmp(shown, vip_shown) != 0;
	r->replies++;
	return buf[0];
lost:
	r->lost++;
	return -1;
}

static void udp_one_socket(const struct udp_family *f, bool connected, struct udp_result *r)
{
	struct sockaddr_storage vip, peer;
	socklen_t vip_len = sockaddr_parse(f->vip, 53, &vip), plen = sizeof(peer);
	int fd = socket(vip.ss_family, SOCK_DGRAM, 0), first = -1, k, ep;
	char shown[80];

	if (fd < 0 || (connected && connect(fd, (struct sockaddr *)&vip, vip_len))) {
		r->lost += PER_SOCK;
		if (fd >= 0)
			close(fd);
		return;
	}
	if (connected) {
		shown[0] = '\0';
		if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
			sockaddr_format(&peer, shown, sizeof(shown));
		r->bad_peer += strcmp(shown, f->vip_shown) != 0;
	}
	for (k = 0; k < PER_SOCK; k++) {
		ep = udp_ask(fd, &vip, vip_len, connected, f->vip_shown, r);
		if (ep < 0)
			continue;
		if (first < 0)
			r->socks_per_ep[first = ep]++;
		else
			r->moved += ep != first;
	}
	close(fd);
}

static int udp_client(struct ktest_env *env, const struct udp_family *f, bool connected,
		      struct udp_result *res)
{
	int pfd[2], status, i;
	pid_t pid;

	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct udp_result r = {};

		close(pfd[0]);
		if (join_cgroup(env->cgroup))
			_exit(2);
		for (i = 0; i < N_SOCKS; i++)
			udp_one_socket(f, connected, &r);
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 3);
	}
	close(pfd[1]);
	memset(res, 0, sizeof(*res));
	i = read(pfd[0], res, sizeof(*res)) == sizeof(*res) ? 0 : -EIO;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return i;
}

/* ---- policy and set-up ---- */

static const char *const agent_args[] = { "--metrics", "127.0.0.1:0", NULL };

static void udp_policy(char *buf, size_t len, const struct udp_family *f, int w1, int w2)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: dns, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [dns.default.svc.cluster.local]\n"
		 "  addresses: ['%s']\n"
		 "  ports: [{number: 53, name: udp-dns, protocol: UDP, targetPort: %d}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: '%s', labels: {version: v1}}\n"
		 "  - {address: '%s', labels: {version: v1}}\n"
		 "  - {address: '%s', labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: dns, namespace: default}\n"
		 "spec:\n"
		 "  host: dns\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: dns, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [dns]\n"
		 "  tcp:\n"
		 "  - route:\n"
		 "    - {destination: {host: dns, subset: v1}, weight: %d}\n"
		 "    - {destination: {host: dns, subset: v2}, weight: %d}\n",
		 f->vip, EP_PORT, f->eps[0], f->eps[1], f->eps[2], w1, w2);
}

static bool udp_start(struct ktest_env *env, struct echo_loop *echo, const struct udp_family *f)
{
	char yaml[8192];

	/* echo_loop_stop closes nothing */
	*echo = (struct echo_loop){ .fds = { -1, -1, -1 }, .stop = { -1, -1 } };
	if (!ASSERT_OK(env_setup(env), "env_setup"))
		return false;
	if (f == &fam6) {
		if (!netns_only_loopback()) {
			ktest_skip("no private network namespace for fd00:: addresses");
			return false;
		}
		if (!ASSERT_OK(lo_add_ipv6(f->eps, 3), "fd00:: addresses on lo"))
			return false;
	}
	udp_policy(yaml, sizeof(yaml), f, 90, 10);
	return ASSERT_OK(env_write_policy(env, "dns.yaml", yaml), "write policy") &&
	       ASSERT_OK(echo_start(echo, f), "UDP echo endpoints") &&
	       ASSERT_OK(env_start_agent_args(env, NULL, agent_args), "agent applies");
}

/* The sum of "key": over every endpoint of `maps stats -j`, or -1. */
static long long udp_ep_sum(struct ktest_env *env, const char *key)
{
	static char out[65536];
	const char *p;
	long long sum = 0;
	char k[64];

	if (env_run_cli(env, out, sizeof(out), "maps stats -j --bpffs %s", env->bpffs) != 0)
		return -1;
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(out, "\"endpoints\":");
	while (p && (p = strstr(p, k))) {
		p += strlen(k);
		sum += strtoll(p, NULL, 10);
	}
	return sum;
}

/* The sum of an Istio metric over the series of the dns service, or -1. */
static long long udp_metric(struct ktest_env *env, const char *metric)
{
	static char text[1 << 17];

	if (env_get_metrics(env_metrics_port(env), text, sizeof(text)))
		return -1;
	return metrics_sum(text, metric, "destination_service=\"dns.default.svc.cluster.local\"");
}

/* Every socket of the clients so far was one flow, and is closed now. */
static void udp_check_flows(struct ktest_env *env, int flows)
{
	ASSERT_EQ(udp_ep_sum(env, "opened"), flows, "a flow opened per socket");
	ASSERT_EQ(udp_ep_sum(env, "established"), flows, "established with it (no handshake)");
	ASSERT_EQ(udp_ep_sum(env, "closed"), flows, "closed when the socket was");
	ASSERT_EQ(udp_metric(env, "istio_tcp_connections_opened_total"), flows,
		  "Istio metrics: opened");
	ASSERT_EQ(udp_metric(env, "istio_tcp_connections_closed_total"), flows,
		  "Istio metrics: closed");
}

static void udp_check(const struct udp_result *r, bool connected, const char *name)
{
	int socks = r->socks_per_ep[0] + r->socks_per_ep[1] + r->socks_per_ep[2];

	ASSERT_EQ(r->lost, 0, "every datagram answered");
	ASSERT_EQ(r->replies, N_SOCKS * PER_SOCK, "replies");
	ASSERT_EQ(r->not_from_vip, 0, "every reply comes from the VIP");
	ASSERT_EQ(r->moved, 0, "each socket keeps its endpoint");
	ASSERT_EQ(socks, N_SOCKS, "sockets answered");
	ASSERT_NEAR(r->socks_per_ep[2], 0.10 * N_SOCKS, binomial_bound(N_SOCKS, 0.10),
		    "v2 share of sockets");
	ASSERT_NEAR(r->socks_per_ep[0], 0.45 * N_SOCKS, binomial_bound(N_SOCKS, 0.45), "v1 ep1");
	if (connected)
		ASSERT_EQ(r->bad_peer, 0, "getpeername of a connected socket is the VIP");
	printf("  %s %s: %d sockets x %d datagrams: v1 %d + %d, v2 %d sockets\n", name,
	       connected ? "connected" : "unconnected", N_SOCKS, PER_SOCK, r->socks_per_ep[0],
	       r->socks_per_ep[1], r->socks_per_ep[2]);
}

static void udp_split(const struct udp_family *f, const char *name)
{
	struct ktest_env env;
	struct echo_loop echo;
	struct udp_result r;

	if (!udp_start(&env, &echo, f))
		goto out;
	if (ASSERT_OK(udp_client(&env, f, false, &r), "unconnected client"))
		udp_check(&r, false, name);
	udp_check_flows(&env, N_SOCKS);
	if (ASSERT_OK(udp_client(&env, f, true, &r), "connected client"))
		udp_check(&r, true, name);
	udp_check_flows(&env, 2 * N_SOCKS);
out:
	echo_loop_stop(&echo);
	env_teardown(&env);
}

KTEST(udp4_split_sticky_reply_from_vip)
{
	udp_split(&fam4, "udp4");
}

KTEST(udp6_split_sticky_reply_from_vip)
{
	udp_split(&fam6, "udp6");
}

KTEST(udp_mapped_split_sticky_reply_from_vip)
{
	udp_split(&fam4_mapped, "udp mapped");
}

/* One unconnected socket keeps its endpoint across datagrams, and moves
 * when the policy takes its endpoint away (here: all traffic to v2). */
KTEST(udp_endpoint_leaves_policy)
{
	const struct udp_family *f = &fam4;
	int to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 }, status;
	struct ktest_env env;
	struct echo_loop echo;
	char yaml[8192];
	signed char got[2] = { -1, -1 };
	pid_t pid = -1;
	int k;

	if (!udp_start(&env, &echo, f) || !ASSERT_OK(pipe(to_child), "pipe") ||
	    !ASSERT_OK(pipe(from_child), "pipe"))
		goto out;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_storage vip;
		socklen_t vip_len = sockaddr_parse(f->vip, 53, &vip);
		struct udp_result r = {};
		signed char ep = -1, go;
		int fd, k;

		if (join_cgroup(env.cgroup))
			_exit(2);
		/* Until it lands on v1 (90%): a fresh socket each time. */
		for (fd = -1, k = 0; k < 50 && ep != 0 && ep != 1; k++) {
			if (fd >= 0)
				close(fd);
			fd = socket(AF_INET, SOCK_DGRAM, 0);
			ep = (signed char)udp_ask(fd, &vip, vip_len, false, f->vip_shown, &r);
		}
		for (k = 0; k < 20; k++) /* sticky meanwhile */
			if (udp_ask(fd, &vip, vip_len, false, f->vip_shown, &r) != ep)
				ep = -2;
		if (write(from_child[1], &ep, 1) != 1 || read(to_child[0], &go, 1) != 1)
			_exit(3);
		ep = (signed char)udp_ask(fd, &vip, vip_len, false, f->vip_shown, &r);
		_exit(write(from_child[1], &ep, 1) == 1 && r.not_from_vip == 0 ? 0 : 4);
	}
	if (!ASSERT_TRUE(pid > 0, "fork") ||
	    !ASSERT_TRUE(read(from_child[0], &got[0], 1) == 1, "first answer"))
		goto out;
	ASSERT_TRUE(got[0] == 0 || got[0] == 1, "socket placed on v1, and kept it for 20 datagrams");
	udp_policy(yaml, sizeof(yaml), f, 0, 100);
	ASSERT_OK(env_write_policy(&env, "dns.yaml", yaml), "rewrite: all to v2");
	ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2");
	if (write(to_child[1], "g", 1) != 1 ||
	    !ASSERT_TRUE(read(from_child[0], &got[1], 1) == 1, "second answer"))
		goto out;
	ASSERT_EQ(got[1], 2, "the same socket now reaches v2: its endpoint left the route");
	printf("  udp_endpoint_leaves_policy: endpoint %d, then %d after the change\n", got[0],
	       got[1]);
out:
	for (k = 0; k < 2; k++) { /* closed first: a waiting child reads EOF and ends */
		if (to_child[k] >= 0)
			close(to_child[k]);
		if (from_child[k] >= 0)
			close(from_child[k]);
	}
	if (pid > 0) {
		waitpid(pid, &status, 0);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client child");
		/* The move closed the socket's first flow and opened a second. */
		ASSERT_TRUE(udp_ep_sum(&env, "opened") >= 2, "a flow per placement");
		ASSERT_EQ(udp_ep_sum(&env, "closed"), udp_ep_sum(&env, "opened"),
			  "every flow closed: moved, or released");
	}
	echo_loop_stop(&echo);
	env_teardown(&env);
}
