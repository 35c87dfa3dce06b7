// SPDX-License-Identifier: Apache-2.0
/*
 * connectionPool.tcp in the kernel (include/bpfmesh/connpool_abi.h):
 * maxConnections is a hard limit whose overflow is refused at once with
 * ECONNREFUSED and whose count comes down however a connection ends, agent
 * or no agent; connectTimeout abandons a connect whose SYNs go unanswered;
 * tcpKeepalive is on the application's socket, with Istio's block
 * replacement (subset over top level, port level over both).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpfmesh/connpool_abi.h>
#include "ktest.h"

#define POOL_VIP "127.100.12.1"
#define POOL_EP "127.1.12.1"     /* listens */
#define POOL_CLOSED "127.1.12.2" /* nothing listens: connects are refused by RST */
#define POOL_NOROUTE "198.18.200.1" /* no route in the test's netns: no SYN is sent */
#define POOL_MAX 3
#define BURST 50

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Service "pool" at POOL_VIP:80 (one endpoint, POOL_MAX connections),
 * service "closed" at POOL_VIP:81 whose endpoint refuses (limit 1), and
 * service "noroute" at POOL_VIP:82 whose endpoint has no route (limit 1). */
static void pool_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: pool, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [pool.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " POOL_EP "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: pool, namespace: default}\n"
		 "spec:\n"
		 "  host: pool\n"
		 "  trafficPolicy:\n"
		 "    connectionPool: {tcp: {maxConnections: %d}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: closed, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [closed.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports: [{number: 81, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " POOL_CLOSED "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: closed, namespace: default}\n"
		 "spec:\n"
		 "  host: closed\n"
		 "  trafficPolicy:\n"
		 "    connectionPool: {tcp: {maxConnections: 1}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: noroute, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [noroute.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports: [{number: 82, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " POOL_NOROUTE "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: noroute, namespace: default}\n"
		 "spec:\n"
		 "  host: noroute\n"
		 "  trafficPolicy:\n"
		 "    connectionPool: {tcp: {maxConnections: 1}}\n",
		 POOL_MAX);
}

static int tcp_listen(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 256)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Accept and close what the listener holds: the connections established
 * to it (the handshake completes in the kernel, accept or not). */
static int drain_accepted(int lfd)
{
	int fd, n = 0;

	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		close(fd);
		n++;
	}
	return n;
}

/* A connect to vip:port; the socket, or -errno (*ms: how long it took). */
static int pool_connect(int port, double *ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;
	double t0 = mono_ms();

	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, POOL_VIP, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
	}
	if (ms)
		*ms = mono_ms() - t0;
	return err ? err : fd;
}

/* Close with a reset (SO_LINGER 0): the abortive close. */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Sum of the open counts of every cluster slot, from the pinned map. */
static long long pool_open_total(const struct ktest_env *e)
{
	char path[PATH_MAX * 2];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), k;
	struct connpool_open v;
	long long sum = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, BPFMESH_MAP_CONNPOOL_OPEN);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	for (k = 0; k < info.max_entries; k++)
		if (!bpf_map_lookup_elem(fd, &k, &v))
			sum += (long long)v.open;
	close(fd);
	return sum;
}

/* Wait until the open counts sum to want (closes finish in softirq). */
static long long pool_wait_open(const struct ktest_env *e, long long want)
{
	long long n = -1;
	int i;

	for (i = 0; i < 200 && (n = pool_open_total(e)) != want; i++)
		usleep(10000);
	return n;
}

/* What the client child saw, shared with the parent (MAP_SHARED). */
struct pool_seen {
	int first_ok;         /* of POOL_MAX connects */
	int over_err;         /* errno of the one over the limit */
	double over_ms;
	int after_reset_ok;   /* a connect after one was reset: 1 */
	int closed_errs[2];   /* two connects to the refusing endpoint */
	int noroute_errs[4];  /* see child_noroute */
	int burst_ok, burst_refused, burst_other;
	int burst_go;         /* threads wait for it */
};

struct burst_arg {
	struct pool_seen *seen;
	int fd;
	pthread_barrier_t *bar;
};

static void *burst_one(void *p)
{
	struct burst_arg *a = p;

	pthread_barrier_wait(a->bar);
	a->fd = pool_connect(80, NULL);
	if (a->fd >= 0)
		__sync_fetch_and_add(&a->seen->burst_ok, 1);
	else if (a->fd == -ECONNREFUSED)
		__sync_fetch_and_add(&a->seen->burst_refused, 1);
	else
		__sync_fetch_and_add(&a->seen->burst_other, 1);
	return NULL;
}

/* BURST connects at once from BURST threads; the sockets stay open until
 * the parent, having counted them on the server side, writes to hold_fd. */
static void child_burst(struct pool_seen *seen, int hold_fd, int done_fd)
{
	struct burst_arg args[BURST];
	pthread_t th[BURST];
	pthread_barrier_t bar;
	char c = 0;
	int i;

	pthread_barrier_init(&bar, NULL, BURST);
	for (i = 0; i < BURST; i++) {
		args[i] = (struct burst_arg){ .seen = seen, .fd = -1, .bar = &bar };
		pthread_create(&th[i], NULL, burst_one, &args[i]);
	}
	for (i = 0; i < BURST; i++)
		pthread_join(th[i], NULL);
	if (write(done_fd, &c, 1) != 1 || read(hold_fd, &c, 1) != 1)
		_exit(3);
	for (i = 0; i < BURST; i++) {
		if (args[i].fd < 0)
			continue;
		if (i % 2)
			close_reset(args[i].fd);
		else
			close(args[i].fd);
	}
}

/* N open, the next refused at once, one reset, then a new one gets in;
 * every socket closed at the end (gracefully but the reset one). */
static void child_limit(struct pool_seen *seen)
{
	int fds[POOL_MAX], i, fd;

	for (i = 0; i < POOL_MAX; i++) {
		fds[i] = pool_connect(80, NULL);
		seen->first_ok += fds[i] >= 0;
	}
	fd = pool_connect(80, &seen->over_ms);
	seen->over_err = fd < 0 ? -fd : 0;
	if (fd >= 0)
		close(fd);
	close_reset(fds[0]);
	fds[0] = pool_connect(80, NULL);
	seen->after_reset_ok = fds[0] >= 0;
	for (i = 0; i < 2; i++) {
		fd = pool_connect(81, NULL);
		seen->closed_errs[i] = fd < 0 ? -fd : 0;
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < POOL_MAX; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Connects that fail before any SYN (no route: ENETUNREACH) leave the
 * socket counted until it is closed (cgroup/sock_release releases it):
 * [0] the first connect, [1] the same socket again (still one count),
 * [2] another socket meanwhile (over the limit of 1), [3] another once
 * the first is closed. */
static void child_noroute(struct pool_seen *seen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(82) };
	int s1 = socket(AF_INET, SOCK_STREAM, 0), fd, i;

	inet_pton(AF_INET, POOL_VIP, &sa.sin_addr);
	for (i = 0; i < 2; i++)
		seen->noroute_errs[i] = connect(s1, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	fd = pool_connect(82, NULL);
	seen->noroute_errs[2] = fd < 0 ? -fd : 0;
	if (fd >= 0)
		close(fd);
	close(s1);
	fd = pool_connect(82, NULL);
	seen->noroute_errs[3] = fd < 0 ? -fd : 0;
	if (fd >= 0)
		close(fd);
}

enum pool_scenario { SCENARIO_LIMIT, SCENARIO_BURST };

/* Run a scenario in a child inside the test cgroup (the managed one). */
static pid_t pool_child(struct ktest_env *e, enum pool_scenario s, struct pool_seen *seen,
			int hold_fd, int done_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (join_cgroup(e->cgroup))
		_exit(2);
	if (s == SCENARIO_LIMIT) {
		child_limit(seen);
		child_noroute(seen);
	}
	else
		child_burst(seen, hold_fd, done_fd);
	_exit(0);
}

static bool pool_wait_child(pid_t pid, const char *what)
{
	int status = 0;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return ASSERT_TRUE(false, what);
	return ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, what);
}

static void check_limit(struct ktest_env *e, int lfd, struct pool_seen *seen, const char *when)
{
	memset(seen, 0, sizeof(*seen));
	if (!pool_wait_child(pool_child(e, SCENARIO_LIMIT, seen, -1, -1), "limit client"))
		return;
	printf("  %s: %d/%d open, next: %s in %.2f ms, after a reset: %s\n", when,
	       seen->first_ok, POOL_MAX, strerror(seen->over_err), seen->over_ms,
	       seen->after_reset_ok ? "connected" : "refused");
	ASSERT_EQ(seen->first_ok, POOL_MAX, "maxConnections connections open");
	ASSERT_EQ(seen->over_err, ECONNREFUSED, "the one over the limit: ECONNREFUSED");
	ASSERT_TRUE(seen->over_ms < 100.0, "refused at once");
	ASSERT_EQ(seen->after_reset_ok, 1, "after one is reset a new one gets in");
	ASSERT_EQ(seen->closed_errs[0], ECONNREFUSED, "refusing endpoint: refused");
	ASSERT_EQ(seen->closed_errs[1], ECONNREFUSED, "refusing endpoint: refused again");
	ASSERT_EQ(seen->noroute_errs[0], ENETUNREACH, "no route: fails before the SYN");
	ASSERT_EQ(seen->noroute_errs[1], ENETUNREACH, "same socket again: counted once");
	ASSERT_EQ(seen->noroute_errs[2], ECONNREFUSED, "that socket holds the only place");
	ASSERT_EQ(seen->noroute_errs[3], ENETUNREACH, "closed, it gave the place back");
	ASSERT_EQ(pool_wait_open(e, 0), 0, "every count back to 0 once all closed");
	drain_accepted(lfd);
}

static void check_burst(struct ktest_env *e, int lfd)
{
	struct pool_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int hold[2] = { -1, -1 }, done[2] = { -1, -1 }, server = 0, i;
	pid_t pid;
	char c = 0;

	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap") || !ASSERT_OK(pipe(hold) || pipe(done), "pipes"))
		goto out;
	memset(seen, 0, sizeof(*seen));
	pid = pool_child(e, SCENARIO_BURST, seen, hold[0], done[1]);
	if (!ASSERT_TRUE(read(done[0], &c, 1) == 1, "burst done"))
		goto out;
	/* Counted on the server side, while the client holds them open. */
	for (i = 0; i < 50 && server < seen->burst_ok; i++) {
		server += drain_accepted(lfd);
		usleep(2000);
	}
	server += drain_accepted(lfd);
	printf("  burst: %d concurrent connects: %d connected (server accepted %d), %d refused, "
	       "%d other\n", BURST, seen->burst_ok, server, seen->burst_refused, seen->burst_other);
	ASSERT_EQ(seen->burst_ok, POOL_MAX, "exactly maxConnections get in");
	ASSERT_EQ(server, POOL_MAX, "server side: never more than maxConnections");
	ASSERT_EQ(seen->burst_refused, BURST - POOL_MAX, "the others refused");
	ASSERT_EQ(pool_open_total(e), POOL_MAX, "open count while held");
	ASSERT_TRUE(write(hold[1], &c, 1) == 1, "release the burst");
	pool_wait_child(pid, "burst client");
	ASSERT_EQ(pool_wait_open(e, 0), 0, "counts back to 0 (half reset, half closed)");
out:
	for (i = 0; i < 2; i++) {
		if (hold[i] >= 0)
			close(hold[i]);
		if (done[i] >= 0)
			close(done[i]);
	}
	if (seen != MAP_FAILED)
		munmap(seen, sizeof(*seen));
}

KTEST(conn_pool_max_connections)
{
	struct pool_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ktest_env env;
	char yaml[4096], out[16384];
	int lfd = -1;

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap"))
		return;
	pool_policy(yaml, sizeof(yaml));
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "pool.yaml", yaml), "write policy"))
		goto out;
	lfd = tcp_listen(POOL_EP, 8080);
	if (!ASSERT_TRUE(lfd >= 0, "listen") || !ASSERT_OK(env_start_agent(&env, NULL), "agent"))
		goto out;

	check_limit(&env, lfd, seen, "agent running");
	check_burst(&env, lfd);
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps pool -j --bpffs %s", env.bpffs), 0,
		  "maps pool");
	ASSERT_TRUE(json_num_after(out, "\"cluster\":\"pool.default.svc.cluster.local:80\"",
				   "max_connections") == POOL_MAX, "pool policy shown");
	ASSERT_TRUE(json_num_after(out, "\"cluster\":\"pool.default.svc.cluster.local:80\"",
				   "overflow") == 1 + BURST - POOL_MAX, "overflow counted (UO)");
	ASSERT_TRUE(json_num_after(out, "\"cluster\":\"closed.default.svc.cluster.local:81\"",
				   "overflow") == 0, "refused connects released their count");

	/* With the agent killed, its pinned links keep the programs attached:
	 * the limit and its counts keep working with no agent. */
	kill(env.agent, SIGKILL);
	waitpid(env.agent, NULL, 0);
	env.agent = 0;
	check_limit(&env, lfd, seen, "no agent");
out:
	if (lfd >= 0)
		close(lfd);
	munmap(seen, sizeof(*seen));
	env_teardown(&env);
}

/* ---- connectTimeout ---------------------------------------------------- */

#define DROP_EP "198.18.9.1" /* on a veth whose peer drops every frame */

/* Inside the test's own network namespace: a veth pair, 198.18.9.254/24
 * on one end and a permanent neighbour entry for DROP_EP, so SYNs to it
 * leave and are dropped by the peer (the frame is not addressed to it):
 * an endpoint that never answers. */
static int drop_topology(void)
{
	return system("ip link add bpfm-cp0 type veth peer name bpfm-cp1 && "
		      "ip link set bpfm-cp0 up && ip link set bpfm-cp1 up && "
		      "ip addr add 198.18.9.254/24 dev bpfm-cp0 && "
		      "ip neigh replace " DROP_EP " lladdr 02:00:00:00:00:01 dev bpfm-cp0 "
		      "nud permanent");
}

static void timeout_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: slow, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [slow.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " DROP_EP "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: fast, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [fast.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports: [{number: 81, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " POOL_EP "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: slow, namespace: default}\n"
		 "spec:\n"
		 "  host: slow\n"
		 "  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 1s}}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: fast, namespace: default}\n"
		 "spec:\n"
		 "  host: fast\n"
		 "  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 1s}}}\n");
}

struct timeout_seen {
	int err;
	double ms;
	int ok_fast;
	int user_timeout_after; /* TCP_USER_TIMEOUT once established */
};

KTEST(conn_pool_connect_timeout)
{
	struct timeout_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ktest_env env;
	char yaml[4096];
	int lfd = -1;
	pid_t pid;

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap"))
		return;
	memset(seen, 0, sizeof(*seen));
	timeout_policy(yaml, sizeof(yaml));
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(drop_topology(), "veth with a peer that drops") ||
	    !ASSERT_OK(env_write_policy(&env, "timeout.yaml", yaml), "write policy"))
		goto out;
	lfd = tcp_listen(POOL_EP, 8080);
	if (!ASSERT_TRUE(lfd >= 0, "listen") || !ASSERT_OK(env_start_agent(&env, NULL), "agent"))
		goto out;
	pid = fork();
	if (pid == 0) {
		socklen_t len = sizeof(int);
		int fd;

		if (join_cgroup(env.cgroup))
			_exit(2);
		fd = pool_connect(80, &seen->ms);
		seen->err = fd < 0 ? -fd : 0;
		if (fd >= 0)
			close(fd);
		fd = pool_connect(81, NULL);
		seen->ok_fast = fd >= 0;
		seen->user_timeout_after = -1;
		if (fd >= 0)
			getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &seen->user_timeout_after,
				   &len);
		if (fd >= 0)
			close(fd);
		_exit(0);
	}
	if (!pool_wait_child(pid, "client"))
		goto out;
	printf("  connect to an endpoint that drops SYNs, connectTimeout 1s: %s after %.0f ms\n",
	       strerror(seen->err), seen->ms);
	ASSERT_EQ(seen->err, ETIMEDOUT, "the connect times out");
	ASSERT_TRUE(seen->ms >= 900.0 && seen->ms <= 3000.0, "within 1-3 s");
	ASSERT_EQ(seen->ok_fast, 1, "an answering endpoint connects");
	ASSERT_EQ(seen->user_timeout_after, 0, "the connect timeout is off once established");
out:
	if (lfd >= 0)
		close(lfd);
	munmap(seen, sizeof(*seen));
	env_teardown(&env);
	system("ip link del bpfm-cp0 2>/dev/null");
}

/* ---- tcpKeepalive ------------------------------------------------------ */

/* Port 80 -> subset v1 (the top-level block), 81 -> v2 (its own block),
 * 82 -> v2 whose portLevelSettings entry for 82 replaces both. */
static void keepalive_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: ka, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [ka.default.svc.cluster.local]\n"
		 "  addresses: [" POOL_VIP "]\n"
		 "  ports:\n"
		 "  - {number: 80, name: tcp-a, protocol: TCP, targetPort: 8080}\n"
		 "  - {number: 81, name: tcp-b, protocol: TCP, targetPort: 8080}\n"
		 "  - {number: 82, name: tcp-c, protocol: TCP, targetPort: 8080}\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: " POOL_EP ", labels: {version: v1}}\n"
		 "  - {address: " POOL_CLOSED ", labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: ka, namespace: default}\n"
		 "spec:\n"
		 "  host: ka\n"
		 "  trafficPolicy:\n"
		 "    connectionPool:\n"
		 "      tcp: {tcpKeepalive: {time: 11s, interval: 12s, probes: 3}}\n"
		 "  subsets:\n"
		 "  - name: v1\n"
		 "    labels: {version: v1}\n"
		 "  - name: v2\n"
		 "    labels: {version: v2}\n"
		 "    trafficPolicy:\n"
		 "      connectionPool:\n"
		 "        tcp: {tcpKeepalive: {time: 21s, interval: 22s, probes: 4}}\n"
		 "      portLevelSettings:\n"
		 "      - port: {number: 82}\n"
		 "        connectionPool:\n"
		 "          tcp: {tcpKeepalive: {time: 31s, interval: 32s, probes: 5}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: ka, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [ka]\n"
		 "  tcp:\n"
		 "  - match: [{port: 80}]\n"
		 "    route: [{destination: {host: ka, subset: v1}}]\n"
		 "  - route: [{destination: {host: ka, subset: v2}}]\n");
}

struct ka_seen {
	int ok[3];
	int on[3], idle[3], intvl[3], cnt[3];
};

static void ka_read(int port, struct ka_seen *s, int i)
{
	socklen_t len = sizeof(int);
	int fd = pool_connect(port, NULL);

	s->ok[i] = fd >= 0;
	if (fd < 0)
		return;
	getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &s->on[i], &len);
	getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &s->idle[i], &len);
	getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &s->intvl[i], &len);
	getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &s->cnt[i], &len);
	close(fd);
}

KTEST(conn_pool_keepalive)
{
	static const int want[3][3] = { { 11, 12, 3 }, { 21, 22, 4 }, { 31, 32, 5 } };
	static const char *const which[3] = { "top level", "subset", "port level" };
	struct ka_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ktest_env env;
	char yaml[4096];
	int lfd[2] = { -1, -1 }, i;
	pid_t pid;

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap"))
		return;
	memset(seen, 0, sizeof(*seen));
	keepalive_policy(yaml, sizeof(yaml));
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "ka.yaml", yaml), "write policy"))
		goto out;
	lfd[0] = tcp_listen(POOL_EP, 8080);
	lfd[1] = tcp_listen(POOL_CLOSED, 8080);
	if (!ASSERT_TRUE(lfd[0] >= 0 && lfd[1] >= 0, "listen") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent"))
		goto out;
	pid = fork();
	if (pid == 0) {
		if (join_cgroup(env.cgroup))
			_exit(2);
		for (i = 0; i < 3; i++)
			ka_read(80 + i, seen, i);
		_exit(0);
	}
	if (!pool_wait_child(pid, "client"))
		goto out;
	for (i = 0; i < 3; i++) {
		printf("  port %d (%s): SO_KEEPALIVE %d, idle %d s, interval %d s, probes %d\n",
		       80 + i, which[i], seen->on[i], seen->idle[i], seen->intvl[i], seen->cnt[i]);
		ASSERT_EQ(seen->ok[i], 1, "connected");
		ASSERT_EQ(seen->on[i], 1, "SO_KEEPALIVE on");
		ASSERT_EQ(seen->idle[i], want[i][0], which[i]);
		ASSERT_EQ(seen->intvl[i], want[i][1], which[i]);
		ASSERT_EQ(seen->cnt[i], want[i][2], which[i]);
	}
out:
	for (i = 0; i < 2; i++)
		if (lfd[i] >= 0)
			close(lfd[i]);
	munmap(seen, sizeof(*seen));
	env_teardown(&env);
}
