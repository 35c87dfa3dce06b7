// SPDX-License-Identifier: Apache-2.0
/*
 * connbench: the C half of bench/run.sh.
 *
 *   serve      echo backends on ADDR..ADDR+N-1:PORT (epoll, one thread a core)
 *   client     connect / send / read reply / close loop; conn/s, p50/p90/p99;
 *              --mix alternates variants connection by connection
 *   gen-policy Istio YAML: N services x E endpoints, 90/10 subsets
 *   gen-ipt    kube-proxy-shaped iptables-restore input for the same services
 *   mapwait    poll the pinned services map until a VIP holds a weight
 *   progstats  run_cnt / run_time_ns of the programs on a cgroup hook
 *   ejectprobe connect to a VIP until its dead endpoint refuses, then time
 *              how soon the connects avoid it (outlier ejection)
 *   statshold  keep BPF run-time stats on (BPF_ENABLE_STATS) until killed
 *   cpulathold keep the CPUs out of idle states (/dev/cpu_dma_latency 0)
 *              until killed
 *   mapmem     BPF maps of the agent (pinned + attached) and their memlock
 *
 * It asserts nothing: it prints numbers, one "key=value ..." line per result,
 * for run.sh to collect. Everything it talks to is on loopback inside the
 * network namespace given with --netns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "bpfmesh/lb_abi.h"

#define MAX_TARGETS 64
#define MAX_THREADS 16
#define MAX_REQ 4096

/* ---------------------------------------------------------------- helpers */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("connbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Enter the network namespace /run/netns/NAME (or a path). Done by hand
 * rather than with `ip netns exec`, which also remounts /sys and would hide
 * the cgroup2 mount the client must join. */
static void enter_netns(const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (!name || !*name)
		return;
	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("Failed to open netns %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET))
		die("Failed to enter netns %s: %s", path, strerror(errno));
	close(fd);
}

/* Move this process into a cgroup v2 directory, where the agent's
 * cgroup/connect4 program is attached. */
static void enter_cgroup(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("Failed to open %s: %s", path, strerror(errno));
	if (write(fd, "0\n", 2) != 2)
		die("Failed to join cgroup %s: %s", dir, strerror(errno));
	close(fd);
}

/* client --mix LABEL=TARGETS@CGROUP: sockets made in another cgroup. */
#include "sockfactory.h"

/* "A.B.C.D[-LAST]:PORT" -> consecutive addresses (last octet range). */
static int parse_targets(const char *spec, struct sockaddr_in *out, int max)
{
	char *dup = strdup(spec), *save = NULL, *tok;
	int n = 0;

	if (!dup)
		die("out of memory");
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':'), *dash;
		unsigned int last = 0, port;
		struct in_addr a;

		if (!colon)
			die("target %s: want ADDR[-LAST]:PORT", tok);
		*colon = '\0';
		port = (unsigned int)strtoul(colon + 1, NULL, 10);
		dash = strchr(tok, '-');
		if (dash) {
			*dash = '\0';
			last = (unsigned int)strtoul(dash + 1, NULL, 10);
		}
		if (inet_pton(AF_INET, tok, &a) != 1 || port == 0 || port > 65535)
			die("bad target %s", tok);
		uint32_t h = ntohl(a.s_addr);
		uint32_t first = h & 0xff;
		if (!dash)
			last = first;
		if (last < first || last > 255)
			die("bad range in %s", spec);
		for (uint32_t o = first; o <= last; o++) {
			if (n >= max)
				die("too many targets (max %d)", max);
			memset(&out[n], 0, sizeof(out[n]));
			out[n].sin_family = AF_INET;
			out[n].sin_port = htons((uint16_t)port);
			out[n].sin_addr.s_addr = htonl((h & ~0xffu) | o);
			n++;
		}
	}
	free(dup);
	return n;
}

/* ----------------------------------------------------------------- serve */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

struct serve_ctx {
	struct sockaddr_in addrs[MAX_TARGETS];
	int n_addrs;
};

static void *serve_thread(void *arg)
{
	struct serve_ctx *ctx = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int lfd[MAX_TARGETS];
	struct epoll_event evs[256];
	char buf[MAX_REQ];

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < ctx->n_addrs; i++) {
		int one = 1;

		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd[i] < 0)
			die("socket: %s", strerror(errno));
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (bind(lfd[i], (struct sockaddr *)&ctx->addrs[i], sizeof(ctx->addrs[i])))
			die("bind %s:%u: %s", inet_ntoa(ctx->addrs[i].sin_addr),
			    ntohs(ctx->addrs[i].sin_port), strerror(errno));
		if (listen(lfd[i], 4096))
			die("listen: %s", strerror(errno));
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i | (1ull << 63) };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev))
			die("epoll_ctl: %s", strerror(errno));
	}
	while (!g_stop) {
		int n = epoll_wait(ep, evs, 256, 200);

		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;

			if (d & (1ull << 63)) {
				int l = lfd[d & 0xffff], c;

				while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)c };

					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev))
						close(c);
				}
				continue;
			}
			int c = (int)d;
			ssize_t r = read(c, buf, sizeof(buf));

			if (r > 0) {
				/* echo; replies are small, one write suffices on loopback */
				if (write(c, buf, (size_t)r) == r)
					continue;
			} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
				continue;
			}
			close(c); /* EOF (client closed first), error or short write */
		}
	}
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, 0, 'n' },
		{ "addrs", required_argument, 0, 'a' },
		{ "threads", required_argument, 0, 't' },
		{ 0 },
	};
	const char *netns = NULL, *addrs = "127.0.1.1-10:8080";
	int threads = 2, c;
	struct serve_ctx ctx;
	pthread_t th[MAX_THREADS];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': netns = optarg; break;
		case 'a': addrs = optarg; break;
		case 't': threads = atoi(optarg); break;
		default: return 2;
		}
	}
	if (threads < 1 || threads > MAX_THREADS)
		die("--threads 1..%d", MAX_THREADS);
	enter_netns(netns);
	ctx.n_addrs = parse_targets(addrs, ctx.addrs, MAX_TARGETS);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, serve_thread, &ctx))
			die("pthread_create failed");
	/* Listening sockets are bound by the time a thread's loop runs; give
	 * them a moment, then say so for run.sh. */
	sleep_ns(100 * 1000000ull);
	printf("ready addrs=%s threads=%d\n", addrs, threads);
	fflush(stdout);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---------------------------------------------------------------- client */

#define MAX_GROUPS 8

/* A group is one variant: a label and the addresses it cycles through.
 * With several groups (--mix) every thread takes one connection from each
 * group per cycle, in a fresh random order each cycle, so the variants
 * share the same moments of a noisy machine (and no variant always follows
 * the same neighbour, whose cache footprint it would inherit). */
struct client_group {
	char label[32];
	struct sockaddr_in targets[MAX_TARGETS];
	int n_targets;
	char cgroup[PATH_MAX]; /* "@CGROUP": its sockets are made there */
	struct sock_factory factory;
};

struct client_ctx {
	struct client_group groups[MAX_GROUPS];
	int n_groups;
	size_t size;
	uint64_t start, warm_end, end;
};

struct lat_vec {
	uint32_t *lat; /* ns, measured window only */
	size_t n, cap;
	uint64_t errors;
	int last_errno;
};

struct client_thread {
	struct client_ctx *ctx;
	int idx;
	struct lat_vec g[MAX_GROUPS];
};

static void lat_push(struct lat_vec *v, uint64_t ns)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 65536;
		uint32_t *p = realloc(v->lat, cap * sizeof(*p));

		if (!p)
			die("out of memory");
		v->lat = p;
		v->cap = cap;
	}
	v->lat[v->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* One connection on a new socket fd: connect, write request, read the
 * echoed reply, close. Returns 0 or -errno. */
static int one_conn_fd(int fd, const struct sockaddr_in *dst, const char *req, size_t size)
{
	char buf[MAX_REQ];
	struct timeval tv = { .tv_sec = 2 };
	size_t got = 0;
	int err = 0;

	/* Bound every step, so that a broken path shows up as errors. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst))) {
		err = -errno;
		goto out;
	}
	if (write(fd, req, size) != (ssize_t)size) {
		err = -(errno ? errno : EIO);
		goto out;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);

		if (r <= 0) {
			err = r == 0 ? -ECONNRESET : -errno;
			goto out;
		}
		got += (size_t)r;
	}
	if (memcmp(buf, req, size))
		err = -EBADMSG;
out:
	close(fd);
	return err;
}

/* The same from socket() on. */
static int one_conn(const struct sockaddr_in *dst, const char *req, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : one_conn_fd(fd, dst, req, size);
}

static void *client_thread(void *arg)
{
	struct client_thread *t = arg;
	struct client_ctx *ctx = t->ctx;
	unsigned int ng = (unsigned int)ctx->n_groups, k = 0, perm[MAX_GROUPS];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t->idx + 1) ^ mono_ns();
	char req[MAX_REQ];

	for (size_t i = 0; i < ctx->size; i++)
		req[i] = (char)('a' + (i + (size_t)t->idx) % 26);
	for (unsigned int i = 0; i < ng; i++)
		perm[i] = i;
	for (;;) {
		unsigned int gi, ti = k / ng + (unsigned int)t->idx;
		struct client_group *g;
		uint64_t t0, t1;
		int err, fd;

		if (k % ng == 0) {
			/* Fisher-Yates with xorshift64 */
			for (unsigned int i = ng - 1; i > 0; i--) {
				unsigned int j, tmp;

				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				j = (unsigned int)(rng % (i + 1));
				tmp = perm[i];
				perm[i] = perm[j];
				perm[j] = tmp;
			}
		}
		gi = perm[k % ng];
		g = &ctx->groups[gi];
		/* A socket from another cgroup: timed from connect on (every
		 * group then has one, see cmd_client), not its hand-over. */
		fd = g->cgroup[0] ? factory_socket(&g->factory) : -1;
		t0 = mono_ns();
		if (t0 >= ctx->end) {
			if (fd >= 0)
				close(fd);
			break;
		}
		k++;
		if (!g->cgroup[0])
			err = one_conn(&g->targets[ti % (unsigned int)g->n_targets], req, ctx->size);
		else if (fd < 0)
			err = fd;
		else
			err = one_conn_fd(fd, &g->targets[ti % (unsigned int)g->n_targets], req,
					  ctx->size);
		t1 = mono_ns();
		if (t0 < ctx->warm_end)
			continue;
		if (err) {
			t->g[gi].errors++;
			t->g[gi].last_errno = -err;
			/* Do not spin on a dead path. */
			sleep_ns(1000000);
			continue;
		}
		lat_push(&t->g[gi], t1 - t0);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1] / 1000.0;
}

static void add_group(struct client_ctx *ctx, const char *label, char *targets)
{
	struct client_group *g;
	char *at = strchr(targets, '@');

	if (ctx->n_groups >= MAX_GROUPS)
		die("too many groups (max %d)", MAX_GROUPS);
	g = &ctx->groups[ctx->n_groups++];
	snprintf(g->label, sizeof(g->label), "%s", label);
	if (at) {
		snprintf(g->cgroup, sizeof(g->cgroup), "%s", at + 1);
		*at = '\0';
	}
	g->factory.fd = -1;
	g->n_targets = parse_targets(targets, g->targets, MAX_TARGETS);
}

/* "label=targets[@cgroup];label=targets[@cgroup]..." */
static void parse_mix(struct client_ctx *ctx, const char *spec)
{
	char *dup = strdup(spec), *save = NULL, *tok;

	if (!dup)
		die("out of memory");
	for (tok = strtok_r(dup, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			die("--mix wants LABEL=TARGETS;LABEL=TARGETS...");
		*eq = '\0';
		add_group(ctx, tok, eq + 1);
	}
	free(dup);
}

static int cmd_client(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, 0, 'n' },
		{ "cgroup", required_argument, 0, 'g' },
		{ "targets", required_argument, 0, 'T' },
		{ "mix", required_argument, 0, 'm' },
		{ "threads", required_argument, 0, 't' },
		{ "duration", required_argument, 0, 'd' },
		{ "warmup", required_argument, 0, 'w' },
		{ "size", required_argument, 0, 's' },
		{ "label", required_argument, 0, 'l' },
		{ 0 },
	};
	const char *netns = NULL, *cgroup = NULL, *mix = NULL, *label = "-";
	char *targets = NULL;
	double duration = 2.0, warmup = 0.2;
	int threads = 2, c;
	size_t size = 64;
	static struct client_ctx ctx;
	static struct client_thread th[MAX_THREADS];
	pthread_t tid[MAX_THREADS];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': netns = optarg; break;
		case 'g': cgroup = optarg; break;
		case 'T': targets = optarg; break;
		case 'm': mix = optarg; break;
		case 't': threads = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 'l': label = optarg; break;
		default: return 2;
		}
	}
	if (!targets == !mix)
		die("client: --targets or --mix required");
	if (threads < 1 || threads > MAX_THREADS || size < 1 || size > MAX_REQ || duration <= 0)
		die("client: bad --threads/--size/--duration");
	/* cgroup first: the mount is visible from here, whatever the netns. */
	enter_cgroup(cgroup);
	enter_netns(netns);
	signal(SIGPIPE, SIG_IGN);
	if (mix)
		parse_mix(&ctx, mix);
	else
		add_group(&ctx, label, targets);
	/* All groups' sockets from factories, or none: the same timed steps. */
	for (int gi = 0; gi < ctx.n_groups; gi++) {
		if (!ctx.groups[gi].cgroup[0] != !ctx.groups[0].cgroup[0])
			die("client: --mix: @CGROUP on every group or on none");
		if (ctx.groups[gi].cgroup[0])
			factory_start(&ctx.groups[gi].factory, ctx.groups[gi].cgroup);
	}
	ctx.size = size;
	ctx.start = mono_ns();
	ctx.warm_end = ctx.start + (uint64_t)(warmup * 1e9);
	ctx.end = ctx.warm_end + (uint64_t)(duration * 1e9);
	for (int i = 0; i < threads; i++) {
		th[i].ctx = &ctx;
		th[i].idx = i;
		if (pthread_create(&tid[i], NULL, client_thread, &th[i]))
			die("pthread_create failed");
	}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	for (int gi = 0; gi < ctx.n_groups; gi++)
		factory_stop(&ctx.groups[gi].factory);

	for (int gi = 0; gi < ctx.n_groups; gi++) {
		size_t total = 0, k = 0;
		uint64_t errors = 0;
		int last_errno = 0;
		double sum = 0;
		char errname[64];

		for (int i = 0; i < threads; i++) {
			total += th[i].g[gi].n;
			errors += th[i].g[gi].errors;
			if (th[i].g[gi].last_errno)
				last_errno = th[i].g[gi].last_errno;
		}
		uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
		if (!all)
			die("out of memory");
		for (int i = 0; i < threads; i++) {
			memcpy(all + k, th[i].g[gi].lat, th[i].g[gi].n * sizeof(*all));
			k += th[i].g[gi].n;
			free(th[i].g[gi].lat);
		}
		for (size_t i = 0; i < total; i++)
			sum += all[i];
		qsort(all, total, sizeof(*all), cmp_u32);
		/* one token, for "key=value" parsing */
		snprintf(errname, sizeof(errname), "%s", last_errno ? strerror(last_errno) : "none");
		for (char *p = errname; *p; p++)
			if (*p == ' ')
				*p = '_';
		/* secs: the measured window; threads stop at ctx.end */
		printf("label=%s mode=%s conns=%zu errors=%" PRIu64 " secs=%.3f cps=%.0f mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f last_error=%s\n",
		       ctx.groups[gi].label, ctx.n_groups > 1 ? "mixed" : "single", total, errors,
		       duration, (double)total / duration, total ? sum / (double)total / 1000.0 : 0.0,
		       pct(all, total, 50), pct(all, total, 90), pct(all, total, 99),
		       total ? all[total - 1] / 1000.0 : 0.0, errname);
		free(all);
	}
	return 0;
}

/* --------------------------------------------------------- address plans */
/*
 * Service i (0-based) of a run with N services:
 *   bpfmesh VIP   127.100.(i/250).(i%250+1):80   (service 0 = 127.100.0.1)
 *   iptables VIP  127.200.(i/250).(i%250+1):80
 *   endpoints     service 0: the real backends 127.0.1.1..10:8080;
 *                 others: 127.A.B.C:8080 from (i*E+j), never connected to.
 *   subsets       endpoints 0..E-2 are version v1, the last one v2 (90/10).
 */
static void vip_addr(char *out, size_t len, int second_octet, long i)
{
	snprintf(out, len, "127.%d.%ld.%ld", second_octet, i / 250, i % 250 + 1);
}

static void ep_addr(char *out, size_t len, long i, long j, long per)
{
	long k;

	if (i == 0) {
		snprintf(out, len, "127.0.1.%ld", j + 1);
		return;
	}
	k = i * per + j;
	snprintf(out, len, "127.%ld.%ld.%ld", 1 + k / 62500, (k / 250) % 250, k % 250 + 1);
}

static const char *ep_version(long j, long per)
{
	return j == per - 1 && per > 1 ? "v2" : "v1";
}

/* ------------------------------------------------------------ gen-policy */

/* The node locality run.sh gives the agent (--locality) with --all-features:
 * even endpoints are local, odd ones in another zone of the region. */
#define BENCH_LOCALITY "region1/zone1/sub1"

static void emit_service(FILE *f, long i, long per, int w1, int w2, int all_features)
{
	char vip[80], ep[80], host[96];

	vip_addr(vip, sizeof(vip), 100, i);
	snprintf(host, sizeof(host), "svc-%05ld.bench.svc.cluster.local", i);
	fprintf(f,
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: ServiceEntry\n"
		"metadata:\n"
		"  name: svc-%05ld\n"
		"  namespace: bench\n"
		"spec:\n"
		"  hosts:\n"
		"  - %s\n"
		"  addresses:\n"
		"  - %s\n"
		"  ports:\n"
		"  - number: 80\n"
		"    name: tcp\n"
		"    protocol: TCP\n"
		"  resolution: STATIC\n"
		"  endpoints:\n",
		i, host, vip);
	for (long j = 0; j < per; j++) {
		ep_addr(ep, sizeof(ep), i, j, per);
		fprintf(f,
			"  - address: %s\n"
			"    ports:\n"
			"      tcp: 8080\n"
			"    labels:\n"
			"      version: %s\n",
			ep, ep_version(j, per));
		if (all_features)
			fprintf(f, "    locality: %s\n",
				j % 2 ? "region1/zone2/sub1" : BENCH_LOCALITY);
	}
	fprintf(f,
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: DestinationRule\n"
		"metadata:\n"
		"  name: svc-%05ld\n"
		"  namespace: bench\n"
		"spec:\n"
		"  host: %s\n"
		"%s"
		"  subsets:\n"
		"  - name: v1\n"
		"    labels:\n"
		"      version: v1\n"
		"  - name: v2\n"
		"    labels:\n"
		"      version: v2\n"
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\n"
		"kind: VirtualService\n"
		"metadata:\n"
		"  name: svc-%05ld\n"
		"  namespace: bench\n"
		"spec:\n"
		"  hosts:\n"
		"  - %s\n"
		"  tcp:\n"
		"  - route:\n"
		"    - destination:\n"
		"        host: %s\n"
		"        subset: v1\n"
		"      weight: %d\n"
		"    - destination:\n"
		"        host: %s\n"
		"        subset: v2\n"
		"      weight: %d\n",
		i, host,
		/* Every per-connect feature on: Istio applies locality
		 * priorities only with outlierDetection set. */
		all_features ? "  trafficPolicy:\n"
			       "    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, "
			       "baseEjectionTime: 30s, maxEjectionPercent: 100}\n"
			       "    loadBalancer:\n"
			       "      localityLbSetting: {enabled: true}\n" : "",
		i, host, host, w1, host, w2);
}

static void parse_weights(const char *s, int *w1, int *w2)
{
	if (sscanf(s, "%d/%d", w1, w2) != 2 || *w1 < 0 || *w2 < 0 || *w1 + *w2 == 0)
		die("bad --weights %s (want A/B)", s);
}

/* Writes DIR/bench-measured.yaml (service 0, the one the client measures;
 * --weights applies to it) and, unless --measured-only, DIR/bench-bulk.yaml
 * with services 1..N-1 at 90/10. With --measured-only, --out may be a file. */
static int cmd_gen_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "services", required_argument, 0, 'n' },
		{ "endpoints", required_argument, 0, 'e' },
		{ "out", required_argument, 0, 'o' },
		{ "weights", required_argument, 0, 'w' },
		{ "measured-only", no_argument, 0, 'm' },
		{ "all-features", no_argument, 0, 'a' },
		{ 0 },
	};
	long n = 10, per = 10;
	const char *out = NULL;
	int w1 = 90, w2 = 10, measured_only = 0, all_features = 0, c;
	char path[PATH_MAX];
	FILE *f;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case 'e': per = atol(optarg); break;
		case 'o': out = optarg; break;
		case 'w': parse_weights(optarg, &w1, &w2); break;
		case 'm': measured_only = 1; break;
		case 'a': all_features = 1; break;
		default: return 2;
		}
	}
	if (!out || n < 1 || n > 62500 || per < 1 || per > 250)
		die("gen-policy: --out DIR, --services 1..62500, --endpoints 1..250");
	if (measured_only) {
		struct stat st;

		if (!stat(out, &st) && S_ISDIR(st.st_mode))
			snprintf(path, sizeof(path), "%s/bench-measured.yaml", out);
		else
			snprintf(path, sizeof(path), "%s", out);
	} else {
		snprintf(path, sizeof(path), "%s/bench-measured.yaml", out);
	}
	f = fopen(path, "w");
	if (!f)
		die("Failed to open %s: %s", path, strerror(errno));
	fprintf(f, "# generated by bench/connbench gen-policy: the measured service\n");
	emit_service(f, 0, per, w1, w2, all_features);
	if (fclose(f))
		die("Failed to write %s", path);
	if (measured_only)
		return 0;
	snprintf(path, sizeof(path), "%s/bench-bulk.yaml", out);
	f = fopen(path, "w");
	if (!f)
		die("Failed to open %s: %s", path, strerror(errno));
	fprintf(f, "# generated by bench/connbench gen-policy: %ld services x %ld endpoints\n",
		n - 1, per);
	for (long i = 1; i < n; i++) {
		if (i > 1)
			fputs("---\n", f);
		emit_service(f, i, per, 90, 10, 0);
	}
	if (n == 1)
		fputs("{}\n", f);
	if (fclose(f))
		die("Failed to write %s", path);
	return 0;
}

/* --------------------------------------------------------------- gen-ipt */

/* kube-proxy names chains KUBE-SVC-/KUBE-SEP- + 16 base32 characters of a
 * SHA-256 of the service port (and endpoint); any stable 16-character
 * hash has the same shape. */
static void chain_hash(char out[17], const char *s)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	for (int i = 0; i < 16; i++) {
		h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
		out[i] = b32[(h >> 59) & 31];
	}
	out[16] = '\0';
}

struct ipt_svc {
	char svc[17];
	char name[48];
	char vip[80];
};

static void ipt_names(struct ipt_svc *s, long i)
{
	char key[64];

	snprintf(s->name, sizeof(s->name), "bench/svc-%05ld:tcp", i);
	snprintf(key, sizeof(key), "%stcp", s->name);
	chain_hash(s->svc, key);
	vip_addr(s->vip, sizeof(s->vip), 200, i);
}

static void sep_name(char out[17], long i, long j, long per)
{
	char key[160], ep[80];

	ep_addr(ep, sizeof(ep), i, j, per);
	snprintf(key, sizeof(key), "bench/svc-%05ld:tcptcp:%s:8080", i, ep);
	chain_hash(out, key);
}

/* The rules of one service's KUBE-SVC chain. canary < 0: kube-proxy's own
 * equal split, probability 1/(n-j) for endpoint j. Otherwise the v1
 * endpoints share canary% and v2 the rest, in the same rule shape. */
static void emit_svc_rules(FILE *f, long i, long per, int canary, bool comments)
{
	struct ipt_svc s;
	char sep[17], ep[80];
	double w[256], rest = 0;

	ipt_names(&s, i);
	for (long j = 0; j < per; j++) {
		if (canary < 0 || per == 1)
			w[j] = 1.0;
		else if (j < per - 1)
			w[j] = canary / (double)(per - 1);
		else
			w[j] = 100.0 - canary;
		rest += w[j];
	}
	fprintf(f, "-A KUBE-SVC-%s ! -s 127.0.0.0/8 -d %s/32 -p tcp%s%s%s -m tcp --dport 80 -j KUBE-MARK-MASQ\n",
		s.svc, s.vip, comments ? " -m comment --comment \"" : "", comments ? s.name : "",
		comments ? " cluster IP\"" : "");
	for (long j = 0; j < per; j++) {
		sep_name(sep, i, j, per);
		ep_addr(ep, sizeof(ep), i, j, per);
		fprintf(f, "-A KUBE-SVC-%s", s.svc);
		if (comments)
			fprintf(f, " -m comment --comment \"%s -> %s:8080\"", s.name, ep);
		if (j < per - 1)
			fprintf(f, " -m statistic --mode random --probability %0.10f", w[j] / rest);
		fprintf(f, " -j KUBE-SEP-%s\n", sep);
		rest -= w[j];
	}
}

static void emit_sep_rules(FILE *f, long i, long per, bool comments)
{
	struct ipt_svc s;
	char sep[17], ep[80], cm[96] = "";

	ipt_names(&s, i);
	if (comments)
		snprintf(cm, sizeof(cm), " -m comment --comment \"%s\"", s.name);
	for (long j = 0; j < per; j++) {
		sep_name(sep, i, j, per);
		ep_addr(ep, sizeof(ep), i, j, per);
		fprintf(f, "-A KUBE-SEP-%s -s %s/32%s -j KUBE-MARK-MASQ\n", sep, ep, cm);
		fprintf(f, "-A KUBE-SEP-%s -p tcp%s -m tcp -j DNAT --to-destination %s:8080\n",
			sep, cm, ep);
	}
}

/* iptables-restore input in the shape kube-proxy's iptables mode writes
 * (pkg/proxy/iptables/proxier.go): KUBE-SERVICES with one rule per service
 * and the KUBE-NODEPORTS rule last, a KUBE-SVC chain per service with
 * `-m statistic --mode random --probability` per endpoint, a KUBE-SEP chain
 * per endpoint with the DNAT. Service 0, the measured one, is written last
 * in KUBE-SERVICES, as the worst case a real cluster has. Like kube-proxy,
 * comments are dropped above 1000 endpoints (its "large cluster" mode).
 *
 * --mode full    every chain (kube-proxy's full sync; also the first load)
 * --mode partial KUBE-SERVICES + the measured service's KUBE-SVC chain
 *                (kube-proxy >= 1.27 partial sync after one service changes)
 * --jump         also write the OUTPUT -> KUBE-SERVICES jump, for a load
 *                without --noflush. It is restricted to the benchmark's
 *                iptables VIPs (127.200.0.0/16): kube-proxy's own jump takes
 *                every new connection of the node through KUBE-SERVICES, and
 *                the other variants, which share this netns, must not pay
 *                for it. For the measured connections nothing changes. The
 *                POSTROUTING -> KUBE-POSTROUTING jump is left out: it only
 *                acts on masqueraded traffic, and the benchmark's never is
 *                (the cluster CIDR, 127.0.0.0/8, covers the client); leaving
 *                it out favours iptables by two rule checks a connection. */
static int cmd_gen_ipt(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "services", required_argument, 0, 'n' },
		{ "endpoints", required_argument, 0, 'e' },
		{ "mode", required_argument, 0, 'm' },
		{ "canary", required_argument, 0, 'c' },
		{ "jump", no_argument, 0, 'j' },
		{ 0 },
	};
	long n = 10, per = 10;
	const char *mode = "full";
	int canary = -1, jump = 0, c;
	FILE *f = stdout;
	bool comments, full, partial;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case 'e': per = atol(optarg); break;
		case 'm': mode = optarg; break;
		case 'c': canary = atoi(optarg); break;
		case 'j': jump = 1; break;
		default: return 2;
		}
	}
	if (n < 1 || n > 62500 || per < 1 || per > 250)
		die("gen-ipt: --services 1..62500, --endpoints 1..250");
	comments = n * per <= 1000;
	full = !strcmp(mode, "full");
	partial = !strcmp(mode, "partial");
	if (!full && !partial)
		die("gen-ipt: --mode full|partial");

	fprintf(f, "*nat\n");
	fprintf(f, ":KUBE-SERVICES - [0:0]\n");
	if (full)
		fprintf(f, ":KUBE-NODEPORTS - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n");
	for (long i = 0; i < n; i++) {
		struct ipt_svc s;
		char sep[17];

		if (partial && i != 0)
			continue;
		ipt_names(&s, i);
		fprintf(f, ":KUBE-SVC-%s - [0:0]\n", s.svc);
		if (partial)
			continue;
		for (long j = 0; j < per; j++) {
			sep_name(sep, i, j, per);
			fprintf(f, ":KUBE-SEP-%s - [0:0]\n", sep);
		}
	}
	if (full) {
		fprintf(f, "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n");
		fprintf(f, "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n");
		fprintf(f, "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n");
		fprintf(f, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
	}
	if (jump)
		fprintf(f, "-A OUTPUT -d 127.200.0.0/16 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
	/* KUBE-SERVICES: services 1..N-1, then the measured service 0 last. */
	for (long k = 1; k <= n; k++) {
		long i = k % n;
		struct ipt_svc s;

		ipt_names(&s, i);
		fprintf(f, "-A KUBE-SERVICES -d %s/32 -p tcp", s.vip);
		if (comments)
			fprintf(f, " -m comment --comment \"%s cluster IP\"", s.name);
		fprintf(f, " -m tcp --dport 80 -j KUBE-SVC-%s\n", s.svc);
	}
	fprintf(f, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
	for (long i = 0; i < n; i++) {
		if (partial && i != 0)
			continue;
		emit_svc_rules(f, i, per, i == 0 ? canary : -1, comments);
		if (full)
			emit_sep_rules(f, i, per, comments);
	}
	fprintf(f, "COMMIT\n");
	return 0;
}

/* ------------------------------------------------------------- bpf bits */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int obj_get(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

static int map_lookup(int fd, const void *key, void *val)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)val;
	return (int)sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
}

static int obj_info(int fd, void *info, uint32_t len)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = len;
	a.info.info = (uint64_t)(uintptr_t)info;
	return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

/* A map pin carries its layout version after its name (user/kern/loader.c:
 * "bpfmesh_lb4_svc_ids_v1"); a pin without one is matched too. */
static bool pin_name_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(entry, name, n))
		return false;
	if (!entry[n])
		return true;
	return entry[n] == '_' && entry[n + 1] == 'v' && entry[n + 2] &&
	       strspn(entry + n + 2, "0123456789") == strlen(entry + n + 2);
}

/* Find a file called NAME anywhere below DIR (the agent pins by name). */
static bool find_pin(const char *dir, const char *name, char *out, size_t len, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (pin_name_is(e->d_name, name)) {
			snprintf(out, len, "%s", p);
			found = true;
		} else if (depth < 4 && !stat(p, &st) && S_ISDIR(st.st_mode)) {
			found = find_pin(p, name, out, len, depth + 1);
		}
	}
	closedir(d);
	return found;
}

/* The service maps (lb_abi.h): svc_ids, svc_heads, routes. The routes fd,
 * or -1 until all three are pinned (pin: the routes map's path). */
static int open_service_maps(const char *bpffs, int fds[3], char *pin, size_t len)
{
	static const char *const names[3] = { BPFMESH_MAP_SVC_IDS, BPFMESH_MAP_SVC_HEADS,
					       BPFMESH_MAP_ROUTES };
	int i;

	for (i = 0; i < 3; i++) {
		if (fds[i] < 0 && find_pin(bpffs, names[i], pin, len, 0))
			fds[i] = obj_get(pin);
		if (fds[i] < 0)
			return -1;
	}
	return fds[2];
}

/* The route in force for key, read as connect4 reads it. */
static int route_lookup(const int fds[3], const struct svc_key *key, struct svc_val *val)
{
	struct svc_head head;
	__u32 index;

	if (map_lookup(fds[0], key, &index) || map_lookup(fds[1], &index, &head) ||
	    !head.route_id)
		return -1;
	return map_lookup(fds[2], &head.route_id, val);
}

static void svc_key_of(struct svc_key *k, const char *vip)
{
	char buf[64], *colon;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", vip);
	colon = strrchr(buf, ':');
	if (!colon)
		die("want ADDR:PORT, got %s", vip);
	*colon = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		die("bad address %s", buf);
	memset(k, 0, sizeof(*k));
	k->addr[0] = a.s_addr;
	k->port = htons((uint16_t)atoi(colon + 1));
	k->proto = BPFMESH_PROTO_TCP;
	k->family = BPFMESH_AF_INET;
}

/* Percent of the route the first destination gets, or -1. */
static double first_share(const struct svc_val *v)
{
	if (!v->total_weight || !v->n_dests)
		return -1;
	return 100.0 * v->dests[0].cum_weight / v->total_weight;
}

/* Poll until VIP is in the map with the first destination at --weight %
 * (and every --also VIP is present). With --rename SRC DST the clock starts
 * at the rename (atomic replace of a policy file); with --since-ns T it
 * starts at CLOCK_REALTIME T (e.g. `date +%s%N` taken before the agent was
 * started). --slots N waits, too, for the first destination's set to hold
 * N endpoints (an endpoint change). Prints ms=, polls=, and the cost of one
 * poll. */
static int cmd_mapwait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpffs", required_argument, 0, 'b' },
		{ "vip", required_argument, 0, 'v' },
		{ "also", required_argument, 0, 'a' },
		{ "weight", required_argument, 0, 'w' },
		{ "rename", required_argument, 0, 'r' },
		{ "since-ns", required_argument, 0, 's' },
		{ "timeout", required_argument, 0, 't' },
		{ "interval-us", required_argument, 0, 'i' },
		{ "slots", required_argument, 0, 'n' },
		{ 0 },
	};
	const char *bpffs = NULL, *vip = "127.100.0.1:80", *also = NULL, *rename_src = NULL;
	long slots = -1; /* --slots: the first destination's set has this many endpoints */
	const char *rename_dst = NULL;
	double weight = -1, timeout = 30;
	uint64_t since = 0, interval = 100000, t0, t0_real = 0, deadline, polls = 0, poll_ns = 0;
	struct svc_key key, key2;
	struct svc_val val;
	char pin[PATH_MAX];
	int fd = -1, fds[3] = { -1, -1, -1 }, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bpffs = optarg; break;
		case 'v': vip = optarg; break;
		case 'a': also = optarg; break;
		case 'w': weight = atof(optarg); break;
		case 'r':
			rename_src = optarg;
			if (optind >= argc)
				die("--rename SRC DST");
			rename_dst = argv[optind++];
			break;
		case 's': since = strtoull(optarg, NULL, 10); break;
		case 't': timeout = atof(optarg); break;
		case 'i': interval = strtoull(optarg, NULL, 10) * 1000; break;
		case 'n': slots = atol(optarg); break;
		default: return 2;
		}
	}
	if (!bpffs)
		die("mapwait: --bpffs DIR required");
	svc_key_of(&key, vip);
	if (also)
		svc_key_of(&key2, also);
	if (since) {
		uint64_t rt = now_ns(CLOCK_REALTIME), mn = mono_ns();

		t0 = rt > since ? mn - (rt - since) : mn;
	} else {
		t0 = mono_ns();
	}
	if (rename_src) {
		t0_real = now_ns(CLOCK_REALTIME);
		t0 = mono_ns();
		if (rename(rename_src, rename_dst))
			die("Failed to rename %s: %s", rename_src, strerror(errno));
	}
	deadline = mono_ns() + (uint64_t)(timeout * 1e9);
	for (;;) {
		uint64_t a = mono_ns();
		bool ok = false;

		if (fd < 0)
			fd = open_service_maps(bpffs, fds, pin, sizeof(pin));
		if (fd >= 0 && !route_lookup(fds, &key, &val)) {
			double sh = first_share(&val);

			ok = weight < 0 || (sh >= weight - 0.5 && sh <= weight + 0.5);
			ok = ok && (slots < 0 || (val.n_dests && val.dests[0].n_slots == slots));
			if (ok && also)
				ok = !route_lookup(fds, &key2, &val);
		}
		uint64_t b = mono_ns();
		polls++;
		poll_ns += b - a;
		if (ok) {
			printf("ms=%.3f polls=%" PRIu64 " poll_us=%.2f interval_us=%" PRIu64
			       " rename_ns=%" PRIu64 "\n", (b - t0) / 1e6, polls,
			       poll_ns / 1e3 / (double)polls, interval / 1000, t0_real);
			return 0;
		}
		if (b > deadline) {
			printf("ms=timeout polls=%" PRIu64 " map=%s\n", polls, fd >= 0 ? pin : "absent");
			return 1;
		}
		sleep_ns(interval);
	}
}

/* Cgroup hooks whose programs we report. */
static const struct {
	enum bpf_attach_type type;
	const char *name;
} hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT, "connect4" },
	{ BPF_CGROUP_INET6_CONNECT, "connect6" },
	{ BPF_CGROUP_INET4_GETPEERNAME, "getpeername4" },
	{ BPF_CGROUP_UDP4_SENDMSG, "sendmsg4" },
	{ BPF_CGROUP_UDP4_RECVMSG, "recvmsg4" },
	{ BPF_CGROUP_SOCK_OPS, "sock_ops" },
	{ BPF_CGROUP_INET_SOCK_CREATE, "sock_create" },
	{ BPF_CGROUP_INET_SOCK_RELEASE, "sock_release" },
	{ BPF_CGROUP_INET4_POST_BIND, "post_bind4" },
};

static int prog_query(int cg, enum bpf_attach_type type, uint32_t *ids, uint32_t max)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)cg;
	a.query.attach_type = type;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = max;
	if (sys_bpf(BPF_PROG_QUERY, &a))
		return -errno;
	return (int)a.query.prog_cnt;
}

static int fd_by_id(int cmd, uint32_t id)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	if (cmd == BPF_PROG_GET_FD_BY_ID)
		a.prog_id = id;
	else
		a.map_id = id;
	return (int)sys_bpf(cmd, &a);
}

/* run_cnt and run_time_ns of every program on the cgroup's hooks
 * (what `bpftool prog show` prints with bpf stats on). */
static int cmd_progstats(int argc, char **argv)
{
	const char *cg = argc > 1 ? argv[1] : NULL;
	int cgfd, found = 0;

	if (!cg)
		die("progstats CGROUP_DIR");
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		die("Failed to open %s: %s", cg, strerror(errno));
	for (size_t h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
		uint32_t ids[16];
		int n = prog_query(cgfd, hooks[h].type, ids, 16);

		for (int i = 0; i < n; i++) {
			struct bpf_prog_info info;
			int pfd = fd_by_id(BPF_PROG_GET_FD_BY_ID, ids[i]);

			if (pfd < 0)
				continue;
			memset(&info, 0, sizeof(info));
			if (!obj_info(pfd, &info, sizeof(info))) {
				printf("hook=%s id=%u name=%s run_cnt=%llu run_time_ns=%llu\n",
				       hooks[h].name, info.id, info.name,
				       (unsigned long long)info.run_cnt,
				       (unsigned long long)info.run_time_ns);
				found++;
			}
			close(pfd);
		}
	}
	close(cgfd);
	if (!found)
		printf("hook=none\n");
	return 0;
}

/* BPF_ENABLE_STATS holds run-time stats on while its fd is open: unlike
 * the kernel.bpf_stats_enabled sysctl it cannot be left on by a crash, and
 * does not clobber another user's setting. */
/* Print "NAME=on" for the script, then wait for SIGTERM or SIGINT. */
static void hold_until_stopped(const char *name)
{
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	printf("%s=on\n", name);
	fflush(stdout);
	while (!g_stop)
		pause();
}

static int cmd_statshold(int argc, char **argv)
{
	union bpf_attr a;
	int fd;

	(void)argc;
	(void)argv;
	memset(&a, 0, sizeof(a));
	a.enable_stats.type = BPF_STATS_RUN_TIME;
	fd = (int)sys_bpf(BPF_ENABLE_STATS, &a);
	if (fd < 0) {
		printf("statshold=failed error=%s\n", strerror(errno));
		return 1;
	}
	hold_until_stopped("statshold");
	close(fd);
	return 0;
}

/* PM QoS: while a process holds /dev/cpu_dma_latency open with 0 written,
 * cpuidle picks only zero-latency states (polling). The kernel drops the
 * request when the fd closes, however this process ends. */
static int cmd_cpulathold(int argc, char **argv)
{
	int32_t zero = 0;
	int fd;

	(void)argc;
	(void)argv;
	fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, &zero, sizeof(zero)) != (ssize_t)sizeof(zero)) {
		printf("cpulathold=failed error=%s\n", strerror(errno));
		return 1;
	}
	hold_until_stopped("cpulathold");
	close(fd);
	return 0;
}

static long long fd_memlock(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void collect_pinned_maps(const char *dir, uint32_t *ids, int *n, int max, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (stat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < 4)
				collect_pinned_maps(p, ids, n, max, depth + 1);
			continue;
		}
		int fd = obj_get(p);
		struct bpf_map_info mi;

		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (fd_memlock(fd) >= 0 && !obj_info(fd, &mi, sizeof(mi)) && *n < max)
			ids[(*n)++] = mi.id;
		close(fd);
	}
	closedir(d);
}

/* Every map the agent uses: pinned under DIR, or used by a program on the
 * cgroup's hooks. Prints one line each and the total memlock. */
static int cmd_mapmem(int argc, char **argv)
{
	const char *bpffs = argc > 1 ? argv[1] : NULL, *cg = argc > 2 ? argv[2] : NULL;
	uint32_t ids[256];
	int n = 0;
	long long total = 0;

	if (!bpffs)
		die("mapmem BPFFS_DIR [CGROUP_DIR]");
	collect_pinned_maps(bpffs, ids, &n, 256, 0);
	if (cg) {
		int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (size_t h = 0; cgfd >= 0 && h < sizeof(hooks) / sizeof(hooks[0]); h++) {
			uint32_t pids[16];
			int np = prog_query(cgfd, hooks[h].type, pids, 16);

			for (int i = 0; i < np; i++) {
				uint32_t mids[64];
				struct bpf_prog_info pi;
				int pfd = fd_by_id(BPF_PROG_GET_FD_BY_ID, pids[i]);

				if (pfd < 0)
					continue;
				memset(&pi, 0, sizeof(pi));
				pi.nr_map_ids = 64;
				pi.map_ids = (uint64_t)(uintptr_t)mids;
				if (!obj_info(pfd, &pi, sizeof(pi)))
					for (uint32_t m = 0; m < pi.nr_map_ids && m < 64 && n < 256; m++)
						ids[n++] = mids[m];
				close(pfd);
			}
		}
		if (cgfd >= 0)
			close(cgfd);
	}
	for (int i = 0; i < n; i++) {
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= ids[j] == ids[i];
		if (dup)
			continue;
		int fd = fd_by_id(BPF_MAP_GET_FD_BY_ID, ids[i]);
		struct bpf_map_info mi;
		long long ml;

		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		ml = fd_memlock(fd);
		if (!obj_info(fd, &mi, sizeof(mi))) {
			printf("map id=%u name=%s type=%u key=%u value=%u max_entries=%u memlock=%lld\n",
			       mi.id, mi.name, mi.type, mi.key_size, mi.value_size, mi.max_entries, ml);
			if (ml > 0)
				total += ml;
		}
		close(fd);
	}
	printf("total_memlock=%lld\n", total);
	return 0;
}

/* ------------------------------------------------------------------ main */

/* One connect from here: 0, or the errno. */
static int connect_errno(const struct sockaddr_in *dst)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)))
		err = errno;
	/* Reset, not TIME_WAIT: the probe makes few, but keep it tidy. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return err;
}

/*
 * The VIP has live endpoints and one with nothing listening, and ejects
 * after one failure. Connect until a connect is refused (the dead endpoint
 * was picked): that failure ejects it in the kernel. Then connect --after
 * times more: every one must succeed. Prints the wall clock of the refused
 * connect's return (to compare with the agent's log line), the time from it
 * to the end of the next (successful) connect, and how many later connects
 * were refused (0 when the ejection is effective at once).
 */
static int cmd_ejectprobe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, 0, 'n' },
		{ "cgroup", required_argument, 0, 'c' },
		{ "target", required_argument, 0, 't' },
		{ "after", required_argument, 0, 'a' },
		{ 0, 0, 0, 0 },
	};
	const char *netns = NULL, *cgroup = NULL, *target = NULL;
	struct sockaddr_in dst;
	int after = 50, tries = 0, err = 0, refused_after = 0, other = 0, o, i;
	uint64_t fail_mono = 0, fail_real = 0, next_mono;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': netns = optarg; break;
		case 'c': cgroup = optarg; break;
		case 't': target = optarg; break;
		case 'a': after = atoi(optarg); break;
		default: die("ejectprobe --target VIP:PORT [--netns NS] [--cgroup DIR] [--after N]");
		}
	}
	if (!target || parse_targets(target, &dst, 1) != 1)
		die("ejectprobe: --target VIP:PORT");
	if (cgroup)
		enter_cgroup(cgroup);
	enter_netns(netns);
	while (tries++ < 10000) {
		err = connect_errno(&dst);
		if (err == ECONNREFUSED) {
			fail_mono = mono_ns();
			fail_real = now_ns(CLOCK_REALTIME);
			break;
		}
	}
	if (!fail_mono) {
		printf("ejectprobe=nofailure tries=%d last_error=%s\n", tries, strerror(err));
		return 1;
	}
	err = connect_errno(&dst);
	next_mono = mono_ns();
	refused_after += err == ECONNREFUSED;
	other += err && err != ECONNREFUSED;
	for (i = 1; i < after; i++) {
		err = connect_errno(&dst);
		refused_after += err == ECONNREFUSED;
		other += err && err != ECONNREFUSED;
	}
	printf("ejectprobe=ok tries=%d fail_realtime_ms=%.3f next_connect_us=%.1f "
	       "refused_after=%d of=%d other_errors=%d\n", tries, (double)fail_real / 1e6,
	       (double)(next_mono - fail_mono) / 1e3, refused_after, after, other);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: connbench COMMAND [OPTIONS]\n"
		"  serve     [--netns NS] [--addrs 127.0.1.1-10:8080] [--threads 2]\n"
		"  client    { --targets A[-LAST]:PORT[,..] | --mix LABEL=TARGETS[;LABEL=TARGETS..] }\n"
		"            [--netns NS] [--cgroup DIR]   (TARGETS@CGROUP: sockets made in CGROUP)\n"
		"            [--threads 2] [--duration S] [--warmup S] [--size 64] [--label L]\n"
		"  gen-policy --out DIR [--services N] [--endpoints E] [--weights 90/10] [--measured-only]\n"
		"             [--all-features]  (the measured service: locality, outlierDetection)\n"
		"  gen-ipt   [--services N] [--endpoints E] [--mode full|partial] [--canary PCT] [--jump]\n"
		"  mapwait   --bpffs DIR [--vip A:P] [--also A:P] [--weight PCT]\n"
		"            [--slots N] [--rename SRC DST | --since-ns REALTIME_NS] [--timeout S]\n"
		"            [--interval-us U]\n"
		"  progstats CGROUP_DIR\n"
		"  ejectprobe --target VIP:PORT [--netns NS] [--cgroup DIR] [--after N]\n"
		"  statshold\n"
		"  cpulathold\n"
		"  mapmem    BPFFS_DIR [CGROUP_DIR]\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", cmd_serve },	      { "client", cmd_client },
		{ "gen-policy", cmd_gen_policy }, { "gen-ipt", cmd_gen_ipt },
		{ "mapwait", cmd_mapwait },	      { "progstats", cmd_progstats },
		{ "statshold", cmd_statshold },   { "mapmem", cmd_mapmem },
		{ "cpulathold", cmd_cpulathold },
		{ "ejectprobe", cmd_ejectprobe },
	};

	if (argc < 2) {
		usage();
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	usage();
	return 2;
}
