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
 */
#include <arpa/inet.h>
#include <errno.h>
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

static void ct_client(struct ct_seen *s)
{
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

static bool ct_run_client(struct ktest_env *e, struct ct_seen *s)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (join_cgroup(e->cgroup))
			_exit(2);
		ct_client(s);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return ASSERT_TRUE(false, "client");
	return ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client");
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
}

KTEST(conn_timeouts)
{
	struct ct_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static const char *const eps[] = { CT_EP };
	bool enforced = connpool_kernel_has_sock_destroy();
	static const char *const args[] = { "--metrics", "127.0.0.1:0", NULL };
	struct backends be = { 0 };
	struct ktest_env env;
	char yaml[4096];

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap"))
		return;
	memset(seen, 0, sizeof(*seen));
	ct_policy(yaml, sizeof(yaml));
	printf("  kernel %s bpf_sock_destroy\n", enforced ? "has" : "lacks");
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "timeouts.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start_in(&be, NULL, eps, 1, 8080, true), "echo backend") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent"))
		goto out;
	if (!ct_run_client(&env, seen))
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
