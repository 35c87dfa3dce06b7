/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_KTEST_H
#define BPFMESH_KTEST_H
/*
 * Kernel tests, in the manner of the kernel's test_progs: one test a
 * function, registered by KTEST(), ASSERT_* macros that print the check, the
 * actual and the expected value. Every test runs in its own network
 * namespace (loopback only) and gets its own cgroup, bpffs directory,
 * policy directory and agent (struct ktest_env), attaches only there and
 * removes everything on exit, on failure too.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ktest {
	const char *name;
	void (*fn)(void);
	struct ktest *next;
};

void ktest_register(struct ktest *t);

#define KTEST(name)                                                              \
	static void test_##name(void);                                           \
	static struct ktest ktest_##name = { #name, test_##name, NULL };         \
	__attribute__((constructor)) static void register_##name(void)           \
	{                                                                        \
		ktest_register(&ktest_##name);                                   \
	}                                                                        \
	static void test_##name(void)

/* Marks the running test failed; returns false so callers can bail out. */
bool ktest_check(bool ok, const char *func, int line, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void ktest_skip(const char *why);

#define ASSERT_TRUE(c, what) ktest_check((c), __func__, __LINE__, what, "%s", #c)
#define ASSERT_EQ(a, b, what)                                                     \
	({ long long _a = (a), _b = (b);                                          \
	   ktest_check(_a == _b, __func__, __LINE__, what, "actual %lld != expected %lld", \
		       _a, _b); })
#define ASSERT_OK(err, what)                                                      \
	({ long long _e = (err);                                                  \
	   ktest_check(_e == 0, __func__, __LINE__, what, "failed: %lld", _e); })
/* |actual - expected| <= bound */
#define ASSERT_NEAR(a, exp, bound, what)                                          \
	({ double _a = (a), _x = (exp), _b = (bound);                             \
	   ktest_check(_a >= _x - _b && _a <= _x + _b, __func__, __LINE__, what,  \
		       "actual %.1f, expected %.1f +- %.1f", _a, _x, _b); })

/* True when json (compact, as -j prints it) holds "key":value with value
 * whole: "refused":50 does not match "refused":500, nor weight 9 weight 90. */
bool json_has_value(const char *json, const char *key, const char *value);

/* The number of the first "key": after the first occurrence of anchor in
 * compact JSON (e.g. anchor "\"subset\":\"v1\"", key "opened"); -1 when
 * either is absent. */
double json_num_after(const char *json, const char *anchor, const char *key);

/* The five-sigma binomial bound on a count out of n with probability p. */
double binomial_bound(int n, double p);

#define MAX_BACKENDS 16

struct ktest_env {
	char cgroup[PATH_MAX];
	char bpffs[PATH_MAX];
	char policies[PATH_MAX];
	char log[PATH_MAX];
	char state[PATH_MAX]; /* the agent's --state-dir (its status file) */
	const char *interfaces; /* set before env_start_agent: --interfaces */
	/* set before env_start_agent: run in the agent's child before exec
	 * (e.g. a mount namespace of its own); nonzero: the child exits. */
	int (*agent_child_setup)(void *arg);
	void *agent_child_arg;
	pid_t agent;
};

int env_setup(struct ktest_env *e);
struct backends;
void env_teardown(struct ktest_env *e);
int env_write_policy(struct ktest_env *e, const char *name, const char *yaml);
/* Create or replace path with text. 0 or negative errno. */
int write_text_file(const char *path, const char *text);
/* The whole of path, NUL-terminated (malloc'd), or NULL. */
char *read_text_file(const char *path);
/* Start the agent (extra environment "K=V" or NULL); wait for its first apply. */
int env_start_agent(struct ktest_env *e, const char *extra_env);
/* The same with more agent arguments (NULL-terminated; NULL: none). */
int env_start_agent_args(struct ktest_env *e, const char *extra_env, const char *const *args);
/* Start the agent and return at once (no wait for an apply). */
int env_spawn_agent(struct ktest_env *e, const char *extra_env, const char *const *args);
/* The same with one more agent option (e.g. "--no-sockmap"), or NULL. */
int env_start_agent_arg(struct ktest_env *e, const char *extra_env, const char *extra_arg);
/* Wait until the agent's log holds needle at least count times. 0 or -ETIMEDOUT. */
int env_wait_log(struct ktest_env *e, const char *needle, int count, int timeout_ms);
int env_count_log(struct ktest_env *e, const char *needle);
int env_signal_agent(struct ktest_env *e, int sig);
/* `bpfmesh uninstall` of the env's bpffs dir, cgroup and interfaces (output
 * appended to the log); its exit status or negative errno. */
int env_uninstall(struct ktest_env *e);
/* SIGTERM the agent and reap it; returns its exit status or negative errno.
 * The data plane stays in force (env_uninstall removes it). */
int env_stop_agent(struct ktest_env *e);
/* Move the calling process into cgroup (a directory). 0 or negative errno. */
int join_cgroup(const char *cgroup);
/* Run `bpfmesh ARGS...` and capture stdout; returns the exit status. */
int env_run_cli(struct ktest_env *e, char *out, size_t out_len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The --metrics port the agent logged last ("metrics at ... (port N)"), or -1. */
int env_metrics_port(struct ktest_env *e);
/* GET http://127.0.0.1:PORT/PATH: the body into text; the HTTP status or -errno. */
int env_http_get(int port, const char *path, char *text, size_t len);
/* GET http://127.0.0.1:PORT/metrics: the body into text. 0 or negative errno. */
int env_get_metrics(int port, char *text, size_t len);
/* The sum of metric over its series whose labels hold label (e.g.
 * "destination_version=\"v2\""), in /metrics text. */
long long metrics_sum(const char *text, const char *metric, const char *label);
/* Sum of the samples of metric `name` in exposition text whose labels hold
 * every k="v" of want (NULL-terminated); -1 when none does (prom_text.c). */
long long prom_series_sum(const char *text, const char *name, const char *const *want);

/* Loopback backends: each accepts, writes its index byte and closes; in
 * echo mode it then echoes what it reads until the client closes. */
#define MAX_HELD 64
struct backends {
	int n;
	int fds[MAX_BACKENDS];
	bool echo;
	int n_held;
	int held[MAX_HELD];
	pthread_t thread;
	int stop_pipe[2];
};
int backends_start(struct backends *b, const char *const *addrs, int n, int port);
/* The same with the listening sockets made inside the network namespace
 * at netns_path (NULL: this one), optionally echoing. */
int backends_start_in(struct backends *b, const char *netns_path, const char *const *addrs, int n,
		      int port, bool echo);
void backends_stop(struct backends *b);

/* Three sockets served by a thread that polls them and the stop pipe (the
 * TCP backends of metrics.c, the UDP echo of udp.c). fds[i] < 0: none. */
struct echo_loop {
	int fds[3];
	int stop[2];
	pthread_t thread;
};
/* Stop the thread (when it runs) and close what the loop holds; fds[i] and
 * stop[] are -1 after. */
void echo_loop_stop(struct echo_loop *e);

/* The usual start of a test: env_setup, the policy file `name` holding yaml,
 * backends on eps[0..n_eps) port 8080, and the agent's first apply. False,
 * with the failing step reported, when any of them fails. */
bool env_start_service(struct ktest_env *e, struct backends *be, const char *name,
		       const char *yaml, const char *const *eps, int n_eps);

struct client_result {
	int ok;
	int refused;        /* ECONNREFUSED */
	int other_errors;
	int last_errno;
	int per_backend[MAX_BACKENDS];
	double max_fail_ms; /* longest time a failed connect took */
	char peer[64];      /* getpeername() of the first connection, "ip:port" */
};

/* Make n connections to vip:port from a child process in the test cgroup. */
int client_run(struct ktest_env *e, const char *vip, int port, int n,
	       struct client_result *res);

/* The same, in the background: start, do something else, then wait. */
struct client {
	pid_t pid;
	int result_fd;
};
int client_start(struct ktest_env *e, const char *vip, int port, int n, struct client *c);
/* An unmanaged client: a child inside the network namespace at netns_path. */
int client_run_netns(const char *netns_path, const char *vip, int port, int n,
		     struct client_result *res);

/* ip (IPv4, or IPv6 in any form) and port into ss: its length, or 0. */
struct sockaddr_storage;
socklen_t sockaddr_parse(const char *ip, int port, struct sockaddr_storage *ss);
/* "a.b.c.d:port" or "[v6]:port" */
void sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len);

/* Only lo here: the test's own namespace (the runner makes one per test),
 * where fd00:: addresses may go; never the host's. */
bool netns_only_loopback(void);
/* Add addrs (IPv6, /128, no DAD) to lo when netns_only_loopback(): 0,
 * -EPERM (not in a private namespace), or -EIO. */
int lo_add_ipv6(const char *const *addrs, int n);

/* Enter the network namespace at path (this thread only); returns an fd
 * to come back with netns_return(), or negative errno. */
int netns_switch(const char *path);
void netns_return(int home);
int client_wait(struct client *c, struct client_result *res);

#endif /* BPFMESH_KTEST_H */
