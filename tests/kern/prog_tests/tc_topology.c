// SPDX-License-Identifier: Apache-2.0
/*
 * The TC path end to end: an unmanaged client namespace reaches a service
 * through a node namespace running the agent with --interfaces, to backends
 * in a third namespace (tests/kern/topo.h). Real veths, real TCP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "fixtures.h"
#include "ktest.h"
#include "topo.h"
#include "kern/loader.h"
#include <bpfmesh/tc_abi.h>

#define N_CONNS 2000
#define VIP "198.19.0.1"

static const char *const eps[] = { "198.18.2.1", "198.18.2.2", "198.18.2.3" };

/* Topology, echoing backends, the policy yaml and the agent on the node's
 * two interfaces (agent_env: e.g. forcing the attach mode). */
static bool tc_start_policy(struct topo *t, struct ktest_env *env, struct backends *be,
			    const char *yaml, const char *agent_env)
{
	if (!ASSERT_OK(topo_setup(t, 3), "topology") ||
	    !ASSERT_OK(backends_start_in(be, t->backend_path, eps, 3, 8080, true), "backends") ||
	    !ASSERT_OK(env_setup(env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(env, "canary.yaml", yaml), "write policy"))
		return false;
	env->interfaces = TOPO_IFACES;
	return ASSERT_OK(env_start_agent(env, agent_env), "agent applies");
}

/* tc_start_policy with the canary policy at w1/w2. */
static bool tc_start(struct topo *t, struct ktest_env *env, struct backends *be, int w1, int w2,
		     const char *agent_env)
{
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), VIP, "198.18.2", w1, w2);
	return tc_start_policy(t, env, be, yaml, agent_env);
}

static void tc_stop(struct topo *t, struct ktest_env *env, struct backends *be)
{
	env_teardown(env);
	backends_stop(be);
	topo_teardown(t);
}

/* A connection from the client namespace to the VIP; *ep is the index the
 * endpoint wrote. The fd, or negative errno. */
static int open_flow(const struct topo *t, int *ep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int home = netns_switch(t->client_path), fd;
	unsigned char id;

	if (home < 0)
		return home;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_return(home);
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, VIP, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || read(fd, &id, 1) != 1) {
		int err = -errno;

		close(fd);
		return err ? err : -EIO;
	}
	*ep = id;
	return fd;
}

/* One round trip on fd; 0 or negative errno (-ECONNRESET after a reset). */
static int echo_once(int fd)
{
	char buf[5] = {};
	struct timeval tv = { .tv_sec = 3 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, "ping", 4) != 4)
		return -errno;
	if (read(fd, buf, 4) != 4)
		return errno ? -errno : -EPIPE;
	return strcmp(buf, "ping") ? -EBADMSG : 0;
}

static int ct_fd(const struct ktest_env *env)
{
	char path[PATH_MAX + 32];

	if (lb_pin_path(path, sizeof(path), env->bpffs, BPFMESH_MAP_CT4))
		return -ENAMETOOLONG;
	return bpf_obj_get(path);
}

/* Tracking entries in the node's table: all, or of the flow on fd. */
static int ct_count(const struct ktest_env *env)
{
	struct ct4_key k, next;
	int fd = ct_fd(env), n = 0;
	void *prev = NULL;

	if (fd < 0)
		return -1;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		n++;
		k = next;
		prev = &k;
	}
	close(fd);
	return n;
}

/* The endpoint the node tracks for the flow on fd (forward entry), or 0. */
static __be32 ct_endpoint(const struct ktest_env *env, int sock)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	struct ct4_key k = { .dport = htons(80), .proto = 6 };
	struct ct4_val v;
	int fd = ct_fd(env);
	__be32 ep = 0;

	if (fd < 0 || getsockname(sock, (struct sockaddr *)&me, &len))
		goto out;
	k.saddr = me.sin_addr.s_addr;
	k.sport = me.sin_port;
	inet_pton(AF_INET, VIP, &k.daddr);
	if (bpf_map_lookup_elem(fd, &k, &v) == 0)
		ep = v.nat_addr;
out:
	if (fd >= 0)
		close(fd);
	return ep;
}

/* The service with its endpoints but one (no route: all endpoints). */
static void service_without(char *buf, size_t len, int gone)
{
	int n = snprintf(buf, len,
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata:\n  name: reviews\n  namespace: default\n"
		"spec:\n  hosts: [reviews.default.svc.cluster.local]\n  addresses: [%s]\n"
		"  ports:\n  - number: 80\n    name: tcp-web\n    protocol: TCP\n"
		"    targetPort: 8080\n  resolution: STATIC\n  endpoints:\n", VIP);

	for (int i = 0; i < 3 && n > 0 && (size_t)n < len; i++)
		if (i != gone)
			n += snprintf(buf + n, len - n, "  - address: %s\n", eps[i]);
}

/* A SYN that runs out of TTL in the node: the node's time-exceeded error
 * quotes the SYN as it left, DNATed. Translated on its way out (the egress
 * program), it matches the client's socket, whose connect fails at once
 * with EHOSTUNREACH; untranslated it would match no socket and the
 * connect would wait. Returns the connect's errno, or -ETIMEDOUT. */
static int connect_ttl_1(const struct topo *t)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int home = netns_switch(t->client_path), fd, ttl = 1, err = 0;
	socklen_t len = sizeof(err);
	struct pollfd pfd;

	if (home < 0)
		return home;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	netns_return(home);
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, VIP, &sa.sin_addr);
	setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, 2000) != 1)
		err = -ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = -errno;
	close(fd);
	return err;
}

static bool split_ok(const struct client_result *r, const char *path)
{
	char what[64];

	snprintf(what, sizeof(what), "%s: every connection reached a backend", path);
	if (!ASSERT_EQ(r->ok, N_CONNS, what))
		return false;
	snprintf(what, sizeof(what), "%s: v2 share 10%%", path);
	return ASSERT_NEAR(r->per_backend[2], 0.10 * N_CONNS, binomial_bound(N_CONNS, 0.10), what);
}

KTEST(tc_topology)
{
	struct ktest_env env = {};
	struct backends be = {};
	struct topo t = {};
	struct client_result r;
	char yaml[8192];
	int fd = -1, ep, ep2;
	__be32 ep_addr;

	if (!tc_start(&t, &env, &be, 90, 10, NULL))
		goto out;
	ASSERT_EQ(env_count_log(&env, "by tcx") + env_count_log(&env, "by clsact"), 1,
		  "agent says how it attached");

	/* 90/10 through the node. A connected TCP socket accepts segments from
	 * the address it connected to only: every handshake that completes
	 * shows the replies came back from the VIP. */
	if (!ASSERT_OK(client_run_netns(t.client_path, VIP, 80, N_CONNS, &r), "client"))
		goto out;
	split_ok(&r, "tc");
	ASSERT_TRUE(!strcmp(r.peer, VIP ":80"), "client's peer is the VIP");
	printf("  tc_topology: %d connections: v1 %d + %d, v2 %d (expected 1800/200)\n", N_CONNS,
	       r.per_backend[0], r.per_backend[1], r.per_backend[2]);

	/* A long connection keeps its endpoint across a weight change. */
	fd = open_flow(&t, &ep);
	if (!ASSERT_TRUE(fd >= 0 && ep < 3, "long connection"))
		goto out;
	ASSERT_OK(echo_once(fd), "echo before the change");
	fixture_canary(yaml, sizeof(yaml), VIP, "198.18.2", 50, 50);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "rewrite 50/50");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	ASSERT_OK(echo_once(fd), "echo after the weight change");
	inet_pton(AF_INET, eps[ep], &ep_addr);
	ASSERT_EQ(ct_endpoint(&env, fd), ep_addr, "flow tracked to the same endpoint");

	/* Its endpoint leaves the service: the next segment draws a reset. */
	service_without(yaml, sizeof(yaml), ep);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "remove the endpoint");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 3", 1, 5000), "generation 3"))
		goto out;
	ASSERT_EQ(echo_once(fd), -ECONNRESET, "flow reset");
	close(fd);
	fd = -1;

	/* An orderly close removes the flow's entries: all the table had. */
	fd = open_flow(&t, &ep2);
	if (!ASSERT_TRUE(fd >= 0, "second connection"))
		goto out;
	ASSERT_TRUE(ep2 != ep, "new flows avoid the removed endpoint");
	ASSERT_OK(echo_once(fd), "echo");
	ASSERT_TRUE(ct_count(&env) >= 2, "open flow tracked");
	shutdown(fd, SHUT_WR);
	ASSERT_EQ(read(fd, yaml, 1), 0, "endpoint closes after our FIN");
	close(fd);
	fd = -1;
	for (int i = 0; i < 100 && ct_count(&env) != 0; i++)
		usleep(10000);
	ASSERT_EQ(ct_count(&env), 0, "no tracking entry left after the flows closed");

	/* Last: the aborted SYN's flow never closes, its entries wait for the LRU. */
	ASSERT_EQ(connect_ttl_1(&t), EHOSTUNREACH, "node's ICMP error reaches the socket");
out:
	if (fd >= 0)
		close(fd);
	tc_stop(&t, &env, &be);
}

/* One policy, both paths: the managed client (socket path, in the test's
 * cgroup on the node) and the unmanaged one (TC path, in the client
 * namespace) see the same split. The TC programs attach through clsact here
 * whatever the kernel, so the fallback runs on every kernel too. */
KTEST(tc_socket_same_split)
{
	struct ktest_env env = {};
	struct backends be = {};
	struct topo t = {};
	struct client_result tc, sock;
	double p = 0.10, bound;

	if (!tc_start(&t, &env, &be, 90, 10, "BPFMESH_TC_ATTACH=clsact"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "by clsact"), 1, "attached by clsact");
	if (!ASSERT_OK(client_run_netns(t.client_path, VIP, 80, N_CONNS, &tc), "tc client") ||
	    !ASSERT_OK(client_run(&env, VIP, 80, N_CONNS, &sock), "socket client"))
		goto out;
	split_ok(&tc, "tc");
	split_ok(&sock, "socket");
	/* Two independent binomial counts: their difference has variance 2np(1-p). */
	bound = 5.0 * sqrt(2.0 * N_CONNS * p * (1 - p)) + 1;
	ASSERT_NEAR(tc.per_backend[2] - sock.per_backend[2], 0, bound, "same v2 share");
	printf("  tc_socket_same_split: v2 %d (tc) vs %d (socket) of %d\n", tc.per_backend[2],
	       sock.per_backend[2], N_CONNS);
out:
	tc_stop(&t, &env, &be);
}

/* Programs on ifname's ingress and egress, by the kernel's count: tcx
 * links (a query that fails where the kernel has no tcx) plus cls_bpf
 * filters. */
static int tc_programs(const char *ifname)
{
	char cmd[160], line[512];
	__u32 count = 0;
	int total = 0, type;
	FILE *p;

	for (type = 46; type <= 47; type++) { /* BPF_TCX_INGRESS, BPF_TCX_EGRESS */
		count = 0;
		if (bpf_prog_query((int)if_nametoindex(ifname), type, 0, NULL, NULL, &count) == 0)
			total += (int)count;
	}
	snprintf(cmd, sizeof(cmd), "(tc filter show dev %s ingress; tc filter show dev %s egress) "
		 "2>/dev/null", ifname, ifname);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		total += strstr(line, "direct-action") != NULL;
	pclose(p);
	return total;
}

/* The agent dies and a new one takes over: tracked flows go on (the flow
 * table is pinned), the attachment is re-adopted, not doubled; SIGTERM
 * leaves it in force, `bpfmesh uninstall` leaves nothing on the interfaces.
 * Both attach modes. */
static void agent_restart(const char *agent_env)
{
	struct ktest_env env = {};
	struct backends be = {};
	struct topo t = {};
	int fd = -1, ep, status;
	__be32 ep_addr;

	if (!tc_start(&t, &env, &be, 90, 10, agent_env))
		goto out;
	ASSERT_EQ(tc_programs("bpfm-c"), 2, "ingress and egress on the client side");
	ASSERT_EQ(tc_programs("bpfm-b"), 2, "ingress and egress on the backend side");
	fd = open_flow(&t, &ep);
	if (!ASSERT_TRUE(fd >= 0 && ep < 3, "long connection"))
		goto out;
	inet_pton(AF_INET, eps[ep], &ep_addr);

	kill(env.agent, SIGKILL);
	waitpid(env.agent, &status, 0);
	env.agent = 0;
	ASSERT_OK(echo_once(fd), "flow goes on without an agent");
	if (!ASSERT_OK(env_start_agent(&env, agent_env), "second agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "re-adopted"), 1, "attachments re-adopted");
	ASSERT_EQ(tc_programs("bpfm-c"), 2, "still one program each way");
	ASSERT_OK(echo_once(fd), "flow goes on with the new agent");
	ASSERT_EQ(ct_endpoint(&env, fd), ep_addr, "same endpoint");

	ASSERT_EQ(env_stop_agent(&env), 0, "agent exits 0 on SIGTERM");
	ASSERT_EQ(tc_programs("bpfm-c"), 2, "SIGTERM leaves the client side in force");
	ASSERT_OK(echo_once(fd), "flow goes on after SIGTERM");
	ASSERT_EQ(env_uninstall(&env), 0, "uninstall exits 0");
	ASSERT_EQ(tc_programs("bpfm-c"), 0, "nothing left on the client side");
	ASSERT_EQ(tc_programs("bpfm-b"), 0, "nothing left on the backend side");
out:
	if (fd >= 0)
		close(fd);
	tc_stop(&t, &env, &be);
}

KTEST(tc_agent_restart)
{
	agent_restart(NULL);
}

KTEST(tc_agent_restart_clsact)
{
	agent_restart("BPFMESH_TC_ATTACH=clsact");
}

/* The DestinationRule's loadBalancer through the agent, on real flows from
 * the unmanaged client: the TC program reads the policy, rotation counter
 * and Maglev table the agent wrote for connect4 (the same pinned maps).
 * ROUND_ROBIN weights 1/2/3: exact counts over 10 rotations. Then
 * consistentHash useSourceIp: the client namespace has one address, so
 * every connection lands on one endpoint. */
KTEST(tc_topology_load_balancer)
{
	static const int w[3] = { 1, 2, 3 };
	struct ktest_env env = {};
	struct backends be = {};
	struct topo t = {};
	struct client_result r;
	char yaml[8192];
	int i, used = 0;

	fixture_one_cluster(yaml, sizeof(yaml), VIP, "198.18.2", 3, w, "loadBalancer",
			    "{simple: ROUND_ROBIN}");
	if (!tc_start_policy(&t, &env, &be, yaml, NULL))
		goto out;
	if (!ASSERT_OK(client_run_netns(t.client_path, VIP, 80, 60, &r), "client"))
		goto out;
	for (i = 0; i < 3; i++)
		ASSERT_EQ(r.per_backend[i], 10 * w[i], "round robin: 10 rotations, exact counts");
	printf("  tc_topology_load_balancer: ROUND_ROBIN 1/2/3 over 60 flows: %d %d %d\n",
	       r.per_backend[0], r.per_backend[1], r.per_backend[2]);

	fixture_one_cluster(yaml, sizeof(yaml), VIP, "198.18.2", 3, NULL, "loadBalancer",
			    "{consistentHash: {useSourceIp: true, maglev: {tableSize: 1009}}}");
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "Maglev policy");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2") ||
	    !ASSERT_OK(client_run_netns(t.client_path, VIP, 80, 60, &r), "client"))
		goto out;
	for (i = 0; i < 3; i++)
		used += r.per_backend[i] > 0;
	ASSERT_EQ(r.ok, 60, "every connection reached a backend");
	ASSERT_EQ(used, 1, "Maglev on the source address: one endpoint for the one client");
	printf("  tc_topology_load_balancer: Maglev, one client address, 60 flows: %d %d %d\n",
	       r.per_backend[0], r.per_backend[1], r.per_backend[2]);
out:
	tc_stop(&t, &env, &be);
}
