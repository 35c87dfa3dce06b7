// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel test runner and fixtures. Run as root: `.output/test_kern [NAME...]`.
 * Prints "#N name:OK|FAIL|SKIP" per test and a final "N passed, N failed,
 * N skipped" line; exits 1 if any test failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "ktest.h"
#include "kern/sysfs.h"

static struct ktest *tests;
static bool cur_failed, cur_skipped;
static struct ktest_env *live_env; /* torn down if the runner is interrupted */

void ktest_register(struct ktest *t)
{
	struct ktest **p = &tests;

	while (*p && strcmp((*p)->name, t->name) < 0)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
}

bool ktest_check(bool ok, const char *func, int line, const char *what, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	cur_failed = true;
	fprintf(stderr, "%s:%d: FAIL %s: ", func, line, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

void ktest_skip(const char *why)
{
	cur_skipped = true;
	fprintf(stderr, "SKIP: %s\n", why);
}

double binomial_bound(int n, double p)
{
	return 5.0 * sqrt((double)n * p * (1.0 - p)) + 1.0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool json_has_value(const char *json, const char *key, const char *value)
{
	char needle[256];
	const char *p;
	size_t n;

	n = (size_t)snprintf(needle, sizeof(needle), "\"%s\":%s", key, value);
	if (n >= sizeof(needle))
		return false;
	for (p = json; (p = strstr(p, needle)); p++) {
		char next = p[n];

		if (next == ',' || next == '}' || next == ']' || next == '\0' ||
		    isspace((unsigned char)next))
			return true;
	}
	return false;
}

/* ---- environment: cgroup, bpffs dir, policy dir, agent ---- */

static char agent_bin[PATH_MAX];

double json_num_after(const char *json, const char *anchor, const char *key)
{
	const char *p = strstr(json, anchor);
	char k[64];

	if (!p)
		return -1;
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	return p ? strtod(p + strlen(k), NULL) : -1;
}

static int find_agent_bin(void)
{
	const char *env = getenv("BPFMESH_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env) {
		snprintf(agent_bin, sizeof(agent_bin), "%s", env);
		return access(agent_bin, X_OK) ? -errno : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	if ((size_t)snprintf(agent_bin, sizeof(agent_bin), "%s/bpfmesh", self) >= sizeof(agent_bin))
		return -ENAMETOOLONG;
	return access(agent_bin, X_OK) ? -errno : 0;
}

int env_setup(struct ktest_env *e)
{
	static int seq;
	char root[PATH_MAX];
	bool created;
	int err;

	memset(e, 0, sizeof(*e));
	err = cgroup2_root(root, sizeof(root));
	if (err)
		return err;
	seq++;
	snprintf(e->cgroup, sizeof(e->cgroup), "%.3000s/bpfmesh-test-%d-%d", root, getpid(), seq);
	snprintf(e->bpffs, sizeof(e->bpffs), "/sys/fs/bpf/bpfmesh-test-%d-%d", getpid(), seq);
	snprintf(e->policies, sizeof(e->policies), "/tmp/bpfmesh-test-%d-%d", getpid(), seq);
	snprintf(e->log, sizeof(e->log), "/tmp/bpfmesh-test-%d-%d.log", getpid(), seq);
	snprintf(e->state, sizeof(e->state), "/tmp/bpfmesh-test-%d-%d.state", getpid(), seq);
	live_env = e;
	if (mkdir(e->cgroup, 0755))
		return -errno;
	if (mkdir(e->policies, 0755))
		return -errno;
	/* The agent makes its own bpffs dir; we only make sure bpffs is there. */
	err = bpffs_prepare_dir(e->bpffs, &created);
	if (!err && created)
		rmdir(e->bpffs);
	return err;
}

static void remove_dir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX * 2];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void echo_loop_stop(struct echo_loop *e)
{
	int i;

	if (e->thread) {
		if (write(e->stop[1], "x", 1) != 1)
			perror("echo stop");
		pthread_join(e->thread, NULL);
		e->thread = 0;
	}
	for (i = 0; i < 3; i++) {
		if (e->fds[i] >= 0)
			close(e->fds[i]);
		e->fds[i] = -1;
	}
	for (i = 0; i < 2; i++) {
		if (e->stop[i] >= 0)
			close(e->stop[i]);
		e->stop[i] = -1;
	}
}

int env_uninstall(struct ktest_env *e)
{
	const char *argv[] = { agent_bin, "uninstall", "--bpffs", e->bpffs, "--cgroup", e->cgroup,
			       e->interfaces ? "--interfaces" : NULL, e->interfaces, NULL };
	int status, fd;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		execv(agent_bin, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

void env_teardown(struct ktest_env *e)
{
	if (e->agent > 0)
		env_stop_agent(e);
	/* The agent leaves the data plane in force when it stops: remove it
	 * the way an operator does. Then, in case uninstall itself is broken,
	 * whatever pins remain (a test of uninstall checks it left none). */
	if (e->cgroup[0])
		env_uninstall(e);
	remove_dir_files(e->bpffs);
	remove_dir_files(e->policies);
	remove_dir_files(e->state);
	if (e->cgroup[0])
		rmdir(e->cgroup);
	if (e->log[0] && !getenv("KTEST_KEEP_LOGS"))
		unlink(e->log);
	live_env = NULL;
}

int write_text_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

char *read_text_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET))
		buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int env_write_policy(struct ktest_env *e, const char *name, const char *yaml)
{
	char tmp[PATH_MAX * 2], path[PATH_MAX * 2];
	int err;

	/* Write beside, then rename: the agent never reads half a file. */
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", e->policies, name);
	snprintf(path, sizeof(path), "%s/%s", e->policies, name);
	err = write_text_file(tmp, yaml);
	if (err)
		return err;
	return rename(tmp, path) ? -errno : 0;
}

int env_count_log(struct ktest_env *e, const char *needle)
{
	char line[4096];
	int count = 0;
	FILE *f = fopen(e->log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		count += strstr(line, needle) != NULL;
	fclose(f);
	return count;
}

int env_wait_log(struct ktest_env *e, const char *needle, int count, int timeout_ms)
{
	double deadline = now_ms() + timeout_ms;

	while (now_ms() < deadline) {
		if (env_count_log(e, needle) >= count)
			return 0;
		if (e->agent > 0 && waitpid(e->agent, NULL, WNOHANG) == e->agent) {
			e->agent = 0;
			return -ECHILD;
		}
		usleep(5000);
	}
	return -ETIMEDOUT;
}

int env_start_agent(struct ktest_env *e, const char *extra_env)
{
	return env_start_agent_args(e, extra_env, NULL);
}

int env_start_agent_arg(struct ktest_env *e, const char *extra_env, const char *extra_arg)
{
	const char *args[] = { extra_arg, NULL };

	return env_start_agent_args(e, extra_env, args);
}

/* The agent's log, to stdout, when it did not start: the test's own output
 * then says why (the log file is removed at teardown). */
static void print_agent_log(const struct ktest_env *e)
{
	char line[1024];
	FILE *f = fopen(e->log, "r");

	if (!f)
		return;
	printf("  --- agent log %s ---\n", e->log);
	while (fgets(line, sizeof(line), f))
		printf("  | %s", line);
	fclose(f);
}

/* Where the first agent start of the run went (its start-up and first
 * apply lines): on 6.1 under QEMU/TCG it takes seconds. */
static void print_first_startup(const struct ktest_env *e)
{
	static bool printed;
	char line[1024];
	FILE *f;

	if (printed || !(f = fopen(e->log, "r")))
		return;
	printed = true;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "start-up:") || strstr(line, "applied generation") ||
		    strstr(line, "read and parsed"))
			printf("  | %s", line);
	fclose(f);
}

int env_start_agent_args(struct ktest_env *e, const char *extra_env, const char *const *args)
{
	int applied_before = env_count_log(e, "bpfmesh: applied generation");
	int err = env_spawn_agent(e, extra_env, args);

	if (err)
		return err;
	/* 30 s: loading and verifying every program under QEMU/TCG takes
	 * seconds; on a real machine the first apply comes in well under one. */
	err = env_wait_log(e, "bpfmesh: applied generation", applied_before + 1, 30000);
	if (err)
		print_agent_log(e);
	else
		print_first_startup(e);
	return err;
}

int env_spawn_agent(struct ktest_env *e, const char *extra_env, const char *const *args)
{
	int fd, n = 0;
	const char *argv[32] = { agent_bin, "agent", "--policies", e->policies, "--cgroup",
				 e->cgroup, "--bpffs", e->bpffs, "--state-dir", e->state };

	n = 10;
	if (e->interfaces) {
		argv[n++] = "--interfaces";
		argv[n++] = e->interfaces;
	}
	for (; args && *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	e->agent = fork();
	if (e->agent < 0)
		return -errno;
	if (e->agent == 0) {
		fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		if (extra_env)
			putenv((char *)extra_env);
		if (e->agent_child_setup && e->agent_child_setup(e->agent_child_arg))
			_exit(126);
		execv(agent_bin, (char *const *)argv);
		_exit(127);
	}
	return 0;
}

int env_signal_agent(struct ktest_env *e, int sig)
{
	return e->agent > 0 && kill(e->agent, sig) == 0 ? 0 : -ESRCH;
}

int env_stop_agent(struct ktest_env *e)
{
	double deadline = now_ms() + 5000;
	int status = 0;

	if (e->agent <= 0)
		return -ECHILD;
	kill(e->agent, SIGTERM);
	while (waitpid(e->agent, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(e->agent, SIGKILL);
			waitpid(e->agent, &status, 0);
			break;
		}
		usleep(2000);
	}
	e->agent = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

int env_run_cli(struct ktest_env *e, char *out, size_t out_len, const char *fmt, ...)
{
	char args[2048], cmd[PATH_MAX + 4096];
	size_t used = 0;
	va_list ap;
	FILE *p;
	int status;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", agent_bin, args);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (used + 1 < out_len) {
		size_t n = fread(out + used, 1, out_len - 1 - used, p);

		if (n == 0)
			break;
		used += n;
	}
	out[used] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool env_start_service(struct ktest_env *e, struct backends *be, const char *name,
		       const char *yaml, const char *const *eps, int n_eps)
{
	return ASSERT_OK(env_setup(e), "env_setup") &&
	       ASSERT_OK(env_write_policy(e, name, yaml), "write policy") &&
	       ASSERT_OK(backends_start(be, eps, n_eps, 8080), "backends") &&
	       ASSERT_OK(env_start_agent(e, NULL), "agent applies");
}

/* ---- addresses: IPv4 or IPv6 (issue 15) ---- */

/* ip ("a.b.c.d", or any IPv6 form, ::ffff:a.b.c.d too) and port into ss;
 * its length, or 0 when ip is neither. */
socklen_t sockaddr_parse(const char *ip, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port" */
void sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(in6->sin6_port));
		return;
	}
	inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%d", ip, ntohs(in->sin_port));
}

bool netns_only_loopback(void)
{
	struct if_nameindex *ifs = if_nameindex();
	bool only_lo;

	if (!ifs)
		return false;
	only_lo = ifs[0].if_name && strcmp(ifs[0].if_name, "lo") == 0 && !ifs[1].if_name;
	if_freenameindex(ifs);
	return only_lo;
}

int lo_add_ipv6(const char *const *addrs, int n)
{
	char cmd[256];
	int i;

	if (!netns_only_loopback())
		return -EPERM;
	for (i = 0; i < n; i++) {
		snprintf(cmd, sizeof(cmd), "ip -6 addr add %s/128 dev lo nodad", addrs[i]);
		if (system(cmd) != 0)
			return -EIO;
	}
	return 0;
}

/* ---- backends ---- */

/* Echo mode: keep the connection, echo what it sends, drop it at EOF. */
static void backends_hold(struct backends *b, int c)
{
	if (!b->echo || b->n_held == MAX_HELD) {
		close(c);
		return;
	}
	b->held[b->n_held++] = c;
}

static void backends_echo(struct backends *b, int i)
{
	char buf[4096];
	ssize_t n = read(b->held[i], buf, sizeof(buf));

	if (n > 0 && write(b->held[i], buf, (size_t)n) == n)
		return;
	if (n < 0 && errno == EAGAIN)
		return;
	close(b->held[i]);
	b->held[i] = b->held[--b->n_held];
}

static void *backends_serve(void *arg)
{
	struct backends *b = arg;
	struct pollfd pfd[MAX_BACKENDS + 1 + MAX_HELD];
	int i, n_held;

	for (i = 0; i < b->n; i++)
		pfd[i] = (struct pollfd){ .fd = b->fds[i], .events = POLLIN };
	pfd[b->n] = (struct pollfd){ .fd = b->stop_pipe[0], .events = POLLIN };
	for (;;) {
		n_held = b->n_held;
		for (i = 0; i < n_held; i++)
			pfd[b->n + 1 + i] = (struct pollfd){ .fd = b->held[i], .events = POLLIN };
		if (poll(pfd, b->n + 1 + n_held, -1) < 0 && errno != EINTR)
			return NULL;
		if (pfd[b->n].revents)
			return NULL;
		for (i = n_held - 1; i >= 0; i--)
			if (pfd[b->n + 1 + i].revents)
				backends_echo(b, i);
		for (i = 0; i < b->n; i++) {
			unsigned char id = (unsigned char)i;
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			while ((c = accept4(b->fds[i], NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				if (write(c, &id, 1) != 1)
					perror("backend write");
				backends_hold(b, c);
			}
		}
	}
}

int backends_start(struct backends *b, const char *const *addrs, int n, int port)
{
	return backends_start_in(b, NULL, addrs, n, port, false);
}

int backends_start_in(struct backends *b, const char *netns_path, const char *const *addrs, int n,
		      int port, bool echo)
{
	int i, one = 1, home = -1;

	memset(b, 0, sizeof(*b));
	b->echo = echo;
	if (n > MAX_BACKENDS || pipe(b->stop_pipe))
		return -EINVAL;
	if (netns_path && (home = netns_switch(netns_path)) < 0)
		return home;
	for (i = 0; i < n; i++) {
		struct sockaddr_storage sa;
		socklen_t sa_len = sockaddr_parse(addrs[i], port, &sa);
		int fd = socket(sa_len ? sa.ss_family : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || !sa_len || bind(fd, (struct sockaddr *)&sa, sa_len) ||
		    listen(fd, 4096)) {
			int err = -errno;

			fprintf(stderr, "backend %s:%d: %s\n", addrs[i], port, strerror(errno));
			if (fd >= 0)
				close(fd);
			b->n = i;
			netns_return(home);
			backends_stop(b);
			return err;
		}
		b->fds[i] = fd;
	}
	b->n = n;
	netns_return(home);
	return -pthread_create(&b->thread, NULL, backends_serve, b);
}

void backends_stop(struct backends *b)
{
	int i;

	if (b->thread) {
		if (write(b->stop_pipe[1], "x", 1) != 1)
			perror("backends stop");
		pthread_join(b->thread, NULL);
		b->thread = 0;
	}
	for (i = 0; i < b->n; i++)
		close(b->fds[i]);
	for (i = 0; i < b->n_held; i++)
		close(b->held[i]);
	b->n_held = 0;
	/* 0: never made (a zeroed struct after an earlier step failed), and
	 * not ours to close: stdin, or whatever fd took its number. */
	for (i = 0; i < 2; i++)
		if (b->stop_pipe[i] > 0)
			close(b->stop_pipe[i]);
	b->stop_pipe[0] = b->stop_pipe[1] = 0;
	b->n = 0;
}

/* ---- client, in a child process inside the test cgroup ---- */

int join_cgroup(const char *cgroup)
{
	char path[PATH_MAX + 32], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d", getpid());
	n = write(fd, pid, n) == n ? 0 : -errno;
	close(fd);
	return n;
}

static void connect_once(const struct sockaddr_storage *sa, socklen_t sa_len,
			 struct client_result *r, bool first)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(sa->ss_family, SOCK_STREAM, 0);
	unsigned char id;
	double t0 = now_ms();

	if (fd < 0) {
		r->other_errors++;
		r->last_errno = errno;
		return;
	}
	if (connect(fd, (const struct sockaddr *)sa, sa_len)) {
		double took = now_ms() - t0;

		if (errno == ECONNREFUSED)
			r->refused++;
		else
			r->other_errors++;
		r->last_errno = errno;
		if (took > r->max_fail_ms)
			r->max_fail_ms = took;
		close(fd);
		return;
	}
	if (first) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);

		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
			sockaddr_format(&peer, r->peer, sizeof(r->peer));
	}
	if (read(fd, &id, 1) == 1 && id < MAX_BACKENDS) {
		r->per_backend[id]++;
		r->ok++;
	} else {
		r->other_errors++;
		r->last_errno = errno;
	}
	/* Reset instead of TIME_WAIT: thousands of connections stay cheap. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* The client child: in cgroup (managed) or in netns_path (unmanaged). */
static int client_spawn(const char *cgroup, const char *netns_path, const char *vip, int port,
			int n, struct client *c)
{
	struct sockaddr_storage sa;
	socklen_t sa_len = sockaddr_parse(vip, port, &sa);
	int pfd[2], i;

	if (!sa_len || pipe(pfd))
		return -EINVAL;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		struct client_result r = {};

		close(pfd[0]);
		if (cgroup && join_cgroup(cgroup))
			_exit(2);
		if (netns_path && netns_switch(netns_path) < 0)
			_exit(2);
		for (i = 0; i < n; i++)
			connect_once(&sa, sa_len, &r, i == 0);
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 3);
	}
	close(pfd[1]);
	c->result_fd = pfd[0];
	return 0;
}

int client_start(struct ktest_env *e, const char *vip, int port, int n, struct client *c)
{
	return client_spawn(e->cgroup, NULL, vip, port, n, c);
}

int client_run_netns(const char *netns_path, const char *vip, int port, int n,
		     struct client_result *res)
{
	struct client c;
	int err = client_spawn(NULL, netns_path, vip, port, n, &c);

	return err ? err : client_wait(&c, res);
}

int client_wait(struct client *c, struct client_result *res)
{
	int status, err;

	memset(res, 0, sizeof(*res));
	err = read(c->result_fd, res, sizeof(*res)) == sizeof(*res) ? 0 : -EIO;
	close(c->result_fd);
	waitpid(c->pid, &status, 0);
	return err;
}

int client_run(struct ktest_env *e, const char *vip, int port, int n, struct client_result *res)
{
	struct client c;
	int err = client_start(e, vip, port, n, &c);

	return err ? err : client_wait(&c, res);
}

/* ---- runner ---- */

/* Each test runs in a network namespace of its own, with only loopback up,
 * so its fixed 127.x addresses cannot meet another run's (or the host's)
 * sockets; cgroup programs apply whatever the namespace, so the agent's
 * attachment is the same. Children and threads inherit the namespace.
 * Returns an fd of the namespace to come back to, or -1 when namespaces
 * are unavailable (the test then runs in the current one). */
static int netns_enter(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int home, sock;

	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return -1;
	if (unshare(CLONE_NEWNET)) {
		close(home);
		return -1;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)) {
		fprintf(stderr, "netns: cannot bring lo up: %s\n", strerror(errno));
		if (sock >= 0)
			close(sock);
		if (setns(home, CLONE_NEWNET) == 0) {
			close(home);
			return -1;
		}
		abort(); /* stuck in a namespace without loopback */
	}
	close(sock);
	return home;
}

int netns_switch(const char *path)
{
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd;

	if (home < 0)
		return -errno;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		close(home);
		return err;
	}
	close(fd);
	return home;
}

void netns_return(int home)
{
	if (home < 0)
		return;
	if (setns(home, CLONE_NEWNET)) {
		fprintf(stderr, "netns: cannot return: %s\n", strerror(errno));
		abort();
	}
	close(home);
}

static void on_signal(int sig)
{
	if (live_env)
		env_teardown(live_env);
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, idx = 0, netns_warned = 0;
	char failed_names[1024] = "";
	struct ktest *t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		fprintf(stderr, "kernel tests need root\n");
		return 1;
	}
	if (find_agent_bin()) {
		fprintf(stderr, "bpfmesh binary not found (set BPFMESH_BIN)\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (t = tests; t; t = t->next) {
		double t0;
		int home;

		if (!selected(t->name, argc, argv))
			continue;
		cur_failed = cur_skipped = false;
		t0 = now_ms();
		home = netns_enter();
		if (home < 0 && !netns_warned++)
			fprintf(stderr, "note: no network namespaces; tests share this one\n");
		t->fn();
		netns_return(home);
		idx++;
		printf("#%d %s:%s (%.0f ms)\n", idx, t->name,
		       cur_failed ? "FAIL" : cur_skipped ? "SKIP" : "OK", now_ms() - t0);
		if (cur_failed) {
			size_t n = strlen(failed_names);

			failed++;
			snprintf(failed_names + n, sizeof(failed_names) - n, "%s%s",
				 n ? ", " : "", t->name);
		} else if (cur_skipped)
			skipped++;
		else
			passed++;
	}
	/* The failed tests' names end the summary line, which is the line CI
	 * shows last (vmtest repeats it outside the guest). */
	printf("%d passed, %d failed, %d skipped%s%s\n", passed, failed, skipped,
	       failed ? "; failed: " : "", failed_names);
	return failed ? 1 : 0;
}

/* The port the agent logged last ("metrics at ... (port N)"). */
int env_metrics_port(struct ktest_env *e)
{
	char line[4096], *p;
	int port = -1;
	FILE *f = fopen(e->log, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "bpfmesh: metrics at") && (p = strstr(line, "(port ")))
			port = atoi(p + 6);
	fclose(f);
	return port;
}

/* GET path over HTTP/1.0: the body into text; the HTTP status or -errno. */
int env_http_get(int port, const char *path, char *text, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char req[256];
	size_t used = 0;
	ssize_t n;
	char *body;
	int fd = socket(AF_INET, SOCK_STREAM, 0), req_len, status;

	req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, req_len) != req_len) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	while (used + 1 < len && (n = read(fd, text + used, len - 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	text[used] = '\0';
	if (strncmp(text, "HTTP/1.", 7) || !(body = strstr(text, "\r\n\r\n")))
		return -EPROTO;
	status = atoi(text + 9);
	memmove(text, body + 4, strlen(body + 4) + 1);
	return status;
}

int env_get_metrics(int port, char *text, size_t len)
{
	int status = env_http_get(port, "/metrics", text, len);

	return status == 200 ? 0 : status < 0 ? status : -EPROTO;
}

long long metrics_sum(const char *text, const char *metric, const char *label)
{
	char head[128];
	const char *p;
	long long sum = 0;

	snprintf(head, sizeof(head), "\n%s{", metric);
	for (p = text; (p = strstr(p, head)); p++) {
		const char *end = strchr(p + 1, '}');

		if (end && memmem(p, (size_t)(end - p), label, strlen(label)))
			sum += strtoll(end + 1, NULL, 10);
	}
	return sum;
}
