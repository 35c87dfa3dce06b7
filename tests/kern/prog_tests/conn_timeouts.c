// SPDX-License-Identifier: Apache-2.0
/*
 * connectionPool.tcp maxConnectionDuration and idleTimeout
 * (include/bpfmesh/connpool_abi.h, bpf/conn_sweep.bpf.c).
 *
 * Four connections from the managed cgroup to one echo endpoint, opened
 * together and watched for CONN_WATCH_MS:
 *   DUR    through a VIP with maxConnectionDuration 2s, sending all along;
 *   DIRECT straight to the endpoint (no service: never ours to close),
 *          sending all along;
 *   IDLE   through a VIP with idleTimeout 2s, silent;
 *   BUSY   through the same VIP, sending a byte every CONN_ROUND_MS.
 * Where the kernel can close connections from BPF (bpf_sock_destroy, Linux
 * 6.5+): DUR and IDLE are aborted (ECONNABORTED) between 2 s and 2 s plus
 * the sweep interval (250 ms while a limit is under 4 s) plus a round of
 * this loop, counted per destination in `bpfmesh maps pool` and /metrics;
 * DIRECT and BUSY live on. Elsewhere (6.1): the agent says once that the
 * fields are not enforced on this kernel, all four live on, and the
 * counters are shown as absent.
 *
 * conn_timeouts_netns: the same silent connection from a process of the
 * managed cgroup in a network namespace of its own (a pod's), with its
 * endpoint there too: the agent sweeps that namespace as well.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "kern/connpool_probe.h"
#include "ktest.h"

#define CT_VIP "127.100.13.1"
#define CT_EP "127.1.13.1"
#define CONN_LIMIT_MS 2000.0
#define CONN_ROUND_MS 100
#define CONN_WATCH_MS 4500
/* The sweep runs at every agent tick (250 ms) while a limit is under 4 s;
 * a death is seen at the next round of the loop below. */
#define CONN_LATE_MS (250.0 + CONN_ROUND_MS + 250.0)

enum ct_conn { CT_DUR, CT_DIRECT, CT_IDLE, CT_BUSY, CT_N };

static const char *const ct_name[CT_N] = { "maxConnectionDuration 2s, sending",
					   "direct, sending", "idleTimeout 2s, silent",
					   "idleTimeout 2s, sending" };

/* What the client saw, shared with the parent (MAP_SHARED). */
struct ct_seen {
	int connected[CT_N];
	int err[CT_N];        /* errno that ended it; 0: alive at the end */
	double died_ms[CT_N]; /* since it was established */
};

static void ct_policy(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: dur, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [dur.default.svc.cluster.local]\n"
		 "  addresses: [" CT_VIP "]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " CT_EP "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: dur, namespace: default}\n"
		 "spec:\n"
		 "  host: dur\n"
		 "  trafficPolicy:\n"
		 "    connectionPool: {tcp: {maxConnectionDuration: 2s, idleTimeout: 0s}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: idle, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [idle.default.svc.cluster.local]\n"
		 "  addresses: [" CT_VIP "]\n"
		 "  ports: [{number: 81, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: " CT_EP "}]\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: idle, namespace: default}\n"
		 "spec:\n"
		 "  host: idle\n"
		 "  trafficPolicy:\n"
		 "    connectionPool: {tcp: {idleTimeout: 2s}}\n");
}

static double ct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A connection whose first byte (the backend's index) has arrived. */
static int ct_connect(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char c;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || recv(fd, &c, 1, 0) != 1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One round on a live connection: a byte out and its echo back, or for a
 * silent one a look whether it ended. 0 alive, else the errno that ended
 * it (EPIPE for a plain end of stream). */
static int ct_round(int fd, bool sending)
{
	char c = 'x';
	ssize_t n;

	if (!sending) {
		n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return n < 0 ? errno : EPIPE;
	}
	if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
		return errno;
	n = recv(fd, &c, 1, 0);
	return n == 1 ? 0 : n < 0 ? errno : EPIPE;
}

static void ct_client(void *arg)
{
	struct ct_seen *s = arg;
	int fd[CT_N], i;
	double t0, t;

	fd[CT_DUR] = ct_connect(CT_VIP, 80);
	fd[CT_DIRECT] = ct_connect(CT_EP, 8080);
	fd[CT_IDLE] = ct_connect(CT_VIP, 81);
	fd[CT_BUSY] = ct_connect(CT_VIP, 81);
	t0 = ct_now_ms();
	for (i = 0; i < CT_N; i++)
		s->connected[i] = fd[i] >= 0;
	while ((t = ct_now_ms() - t0) < CONN_WATCH_MS) {
		for (i = 0; i < CT_N; i++) {
			if (fd[i] < 0 || s->err[i])
				continue;
			s->err[i] = ct_round(fd[i], i != CT_IDLE);
			if (s->err[i])
				s->died_ms[i] = t;
		}
		usleep(CONN_ROUND_MS * 1000);
	}
	for (i = 0; i < CT_N; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

/* Run fn(arg) in a child inside the managed cgroup; true when it ran to
 * the end. */
static bool ct_in_cgroup(struct ktest_env *e, void (*fn)(void *), void *arg)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (join_cgroup(e->cgroup))
			_exit(2);
		fn(arg);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return ASSERT_TRUE(false, "client");
	return ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client");
}

/* The test's policy applied by a fresh agent (extra arguments or NULL). */
static bool ct_start(struct ktest_env *e, const char *const *args)
{
	char yaml[4096];

	memset(e, 0, sizeof(*e));
	ct_policy(yaml, sizeof(yaml));
	return ASSERT_OK(env_setup(e), "env_setup") &&
	       ASSERT_OK(env_write_policy(e, "timeouts.yaml", yaml), "write policy") &&
	       ASSERT_OK(env_start_agent_args(e, NULL, args), "agent");
}

/* Shared with the client child. */
static void *ct_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, len);
	return p;
}

static void ct_print(const struct ct_seen *s)
{
	int i;

	for (i = 0; i < CT_N; i++) {
		if (s->err[i])
			printf("  %-36s %s after %.0f ms\n", ct_name[i], strerror(s->err[i]),
			       s->died_ms[i]);
		else
			printf("  %-36s open after %d ms\n", ct_name[i], CONN_WATCH_MS);
	}
}

/* The pool of one destination as `maps pool -j` shows it. */
static double ct_pool_num(const char *json, const char *cluster, const char *key)
{
	char anchor[128];

	snprintf(anchor, sizeof(anchor), "\"cluster\":\"%s\"", cluster);
	return json_num_after(json, anchor, key);
}

static void ct_check_enforced(struct ktest_env *e, const struct ct_seen *s)
{
	char out[16384], metrics[65536];
	int i, port;

	for (i = 0; i < CT_N; i++)
		ASSERT_EQ(s->connected[i], 1, ct_name[i]);
	ASSERT_EQ(s->err[CT_DUR], ECONNABORTED, "maxConnectionDuration: aborted");
	ASSERT_TRUE(s->died_ms[CT_DUR] >= CONN_LIMIT_MS &&
		    s->died_ms[CT_DUR] <= CONN_LIMIT_MS + CONN_LATE_MS,
		    "maxConnectionDuration: closed at 2 s + sweep");
	ASSERT_EQ(s->err[CT_IDLE], ECONNABORTED, "idleTimeout: the silent one aborted");
	ASSERT_TRUE(s->died_ms[CT_IDLE] >= CONN_LIMIT_MS &&
		    s->died_ms[CT_IDLE] <= CONN_LIMIT_MS + CONN_LATE_MS,
		    "idleTimeout: closed at 2 s + sweep");
	ASSERT_EQ(s->err[CT_DIRECT], 0, "the direct connection untouched");
	ASSERT_EQ(s->err[CT_BUSY], 0, "idleTimeout: the sending one untouched");
	ASSERT_EQ(env_count_log(e, "idleTimeout enforced: connection sweep"), 1,
		  "the agent says the sweep runs");

	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps pool -j --bpffs %s", e->bpffs), 0,
		  "maps pool");
	ASSERT_TRUE(ct_pool_num(out, "dur.default.svc.cluster.local:80",
				"cx_max_duration_reached") == 1, "duration close counted");
	ASSERT_TRUE(ct_pool_num(out, "dur.default.svc.cluster.local:80", "idle_timeout") == 0,
		    "no idle close on dur");
	ASSERT_TRUE(ct_pool_num(out, "idle.default.svc.cluster.local:81", "idle_timeout") == 1,
		    "idle close counted");
	ASSERT_TRUE(ct_pool_num(out, "idle.default.svc.cluster.local:81",
				"cx_max_duration_reached") == 0, "no duration close on idle");

	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps pool --bpffs %s", e->bpffs), 0,
		  "maps pool, table");
	printf("%s", out);

	port = env_metrics_port(e);
	if (!ASSERT_TRUE(port > 0, "metrics port") ||
	    !ASSERT_OK(env_get_metrics(port, metrics, sizeof(metrics)), "GET /metrics"))
		return;
	ASSERT_TRUE(strstr(metrics, "bpfmesh_upstream_cx_max_duration_reached_total{"
				    "destination_service=\"dur.default.svc.cluster.local\"") != NULL,
		    "duration closes exported");
	ASSERT_TRUE(strstr(metrics, "bpfmesh_upstream_cx_idle_timeout_total{"
				    "destination_service=\"idle.default.svc.cluster.local\"") != NULL,
		    "idle closes exported");
}

/* 6.1: the documented behaviour is that nothing is closed, and the agent
 * said so once. */
static void ct_check_not_enforced(struct ktest_env *e, const struct ct_seen *s)
{
	char out[16384];
	int i;

	for (i = 0; i < CT_N; i++) {
		ASSERT_EQ(s->connected[i], 1, ct_name[i]);
		ASSERT_EQ(s->err[i], 0, ct_name[i]);
	}
	ASSERT_EQ(env_count_log(e, "maxConnectionDuration and idleTimeout are not enforced on "
				   "this kernel"), 1, "the agent says so once");
	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps pool -j --bpffs %s", e->bpffs), 0,
		  "maps pool");
	ASSERT_TRUE(strstr(out, "\"cx_max_duration_reached\":null") != NULL,
		    "no close counters on this kernel");
	ASSERT_EQ(env_run_cli(e, out, sizeof(out), "maps pool --bpffs %s", e->bpffs), 0,
		  "maps pool, table");
	printf("%s", out);
	ASSERT_TRUE(strstr(out, "DURATION and IDLE are not enforced on this kernel") != NULL,
		    "the table says so");
}

KTEST(conn_timeouts)
{
	static const char *const eps[] = { CT_EP };
	static const char *const args[] = { "--metrics", "127.0.0.1:0", NULL };
	struct ct_seen *seen = ct_shared(sizeof(*seen));
	bool enforced = connpool_kernel_has_sock_destroy();
	struct backends be = { 0 };
	struct ktest_env env;

	if (!ASSERT_TRUE(seen != NULL, "mmap"))
		return;
	printf("  kernel %s bpf_sock_destroy\n", enforced ? "has" : "lacks");
	if (!ct_start(&env, args) ||
	    !ASSERT_OK(backends_start_in(&be, NULL, eps, 1, 8080, true), "echo backend") ||
	    !ct_in_cgroup(&env, ct_client, seen))
		goto out;
	ct_print(seen);
	if (enforced)
		ct_check_enforced(&env, seen);
	else
		ct_check_not_enforced(&env, seen);
out:
	backends_stop(&be);
	munmap(seen, sizeof(*seen));
	env_teardown(&env);
}

/* ---- a client in its own network namespace ------------------------------ */

struct ct_ns_seen {
	int setup_err;   /* 0, or the step that failed */
	int connected;
	int err;         /* errno that ended it; 0: alive at the end */
	double died_ms;
};

/* In a new network namespace (a pod's): loopback up, the endpoint
 * listening (the handshake completes in its backlog), one silent
 * connection through the idleTimeout VIP, watched. */
static void ct_ns_client(void *arg)
{
	struct ct_ns_seen *s = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8080) };
	int one = 1, lfd, fd = -1;
	double t0, t;

	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		s->setup_err = 1;
		return;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, CT_EP, &sa.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 8)) {
		s->setup_err = 2;
		return;
	}
	sa.sin_port = htons(81);
	inet_pton(AF_INET, CT_VIP, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	s->connected = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	t0 = ct_now_ms();
	while (s->connected && !s->err && (t = ct_now_ms() - t0) < CONN_WATCH_MS) {
		s->err = ct_round(fd, false);
		s->died_ms = t;
		usleep(CONN_ROUND_MS * 1000);
	}
	close(fd);
	close(lfd);
}

KTEST(conn_timeouts_netns)
{
	struct ct_ns_seen *seen = ct_shared(sizeof(*seen));
	bool enforced = connpool_kernel_has_sock_destroy();
	struct ktest_env env;

	if (!ASSERT_TRUE(seen != NULL, "mmap"))
		return;
	if (!ct_start(&env, NULL) || !ct_in_cgroup(&env, ct_ns_client, seen))
		goto out;
	ASSERT_EQ(seen->setup_err, 0, "namespace, loopback and endpoint");
	ASSERT_EQ(seen->connected, 1, "connected in its own namespace");
	if (seen->err)
		printf("  own namespace, idleTimeout 2s, silent: %s after %.0f ms\n",
		       strerror(seen->err), seen->died_ms);
	else
		printf("  own namespace, idleTimeout 2s, silent: open after %d ms\n",
		       CONN_WATCH_MS);
	if (enforced) {
		ASSERT_EQ(seen->err, ECONNABORTED, "aborted in its namespace");
		ASSERT_TRUE(seen->died_ms >= CONN_LIMIT_MS &&
			    seen->died_ms <= CONN_LIMIT_MS + CONN_LATE_MS,
			    "idleTimeout: closed at 2 s + sweep");
	} else {
		ASSERT_EQ(seen->err, 0, "not enforced on this kernel: untouched");
	}
out:
	munmap(seen, sizeof(*seen));
	env_teardown(&env);
}
