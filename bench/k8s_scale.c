// SPDX-License-Identifier: Apache-2.0
/*
 * Cost of the Kubernetes path at scale (issue 16), no kernel: N Services
 * with E ready endpoints each, held as the watch holds them, rendered to
 * ServiceEntries and compiled to the image, the way every reload does.
 * Then the same objects as one list response each, served by the recorded
 * API server (tests/k8s/fakeapi.c) on 127.0.0.1: list (pages of 500) and
 * parse by the watch, until every kind is synced.
 * `make k8s-bench [K8S_SERVICES=10000] [K8S_ENDPOINTS=10]`. Prints times;
 * asserts nothing (tests do that).
 *
 * `k8s_scale --agent` (root; `make k8s-latency`, under the kernel lock):
 * the real agent against the same recorded API server, attached to a
 * cgroup of its own with pins in a bpffs dir of its own, no traffic. It
 * times the cold start (agent started -> every Service listed and applied)
 * and, K8S_CHANGES times, one EndpointSlice MODIFIED event that adds an
 * endpoint to one Service: from the moment the fake server may send it
 * (its trigger file appears) until the pinned maps, read as connect4 reads
 * them (VIP -> route -> backend set), hold the new endpoint. K8S_KEEP=1
 * keeps the files and the agent's -v log, and prints each trigger's time
 * to find it there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <json-c/json.h>
#include <bpfmesh/lb_abi.h>

#include "k8s/k8s.h"
#include "k8s/render_int.h"
#include "kern/loader.h"
#include "kern/sysfs.h"
#include "policy/policy.h"
#include "../tests/k8s/fakeapi.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* This process's CPU time (user + system, every thread), in ms. */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* What another process used so far: CPU time (user + system, ms) and
 * minor page faults, the CPU of its main thread and of its busiest other
 * live thread (the agent's: the watch), and its peak resident size in MiB
 * (VmHWM). -1: not read. At this scale much of the agent's start is the
 * kernel handing it fresh zeroed pages, so faults and the peak are printed
 * beside the CPU; the thread split says which thread the start waited on. */
struct pid_usage {
	double cpu_ms, main_ms, other_ms, hwm_mib;
	unsigned long long minflt;
};

/* A /proc stat file's fields 10, 14 and 15 (counted after the command
 * name's closing ')'). */
static bool stat_read(const char *path, double *cpu_ms, unsigned long long *minflt)
{
	char buf[1024], *p;
	unsigned long long utime, stime;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %*u %*u %llu %llu", minflt,
			 &utime, &stime) != 3)
		return false;
	*cpu_ms = (double)(utime + stime) * 1e3 / (double)sysconf(_SC_CLK_TCK);
	return true;
}

static void pid_usage(pid_t pid, struct pid_usage *u)
{
	char path[PATH_MAX], buf[256];
	unsigned long long flt;
	unsigned long kib;
	struct dirent *de;
	double ms;
	DIR *d;
	FILE *f;

	*u = (struct pid_usage){ .cpu_ms = -1, .main_ms = -1, .other_ms = -1, .hwm_mib = -1 };
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!stat_read(path, &u->cpu_ms, &u->minflt))
		u->cpu_ms = -1;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.32s/stat", (int)pid, de->d_name);
		if (!stat_read(path, &ms, &flt))
			continue;
		if (atoi(de->d_name) == pid)
			u->main_ms = ms;
		else if (ms > u->other_ms)
			u->other_ms = ms;
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "VmHWM: %lu kB", &kib) == 1)
			u->hwm_mib = (double)kib / 1024;
	if (f)
		fclose(f);
}

static struct json_object *service(int i)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"metadata\": {\"name\": \"svc-%d\", \"namespace\": \"bench\"},"
		 " \"spec\": {\"clusterIP\": \"10.%d.%d.%d\", \"ports\": [{\"name\": \"tcp\", \"port\": 80}]}}",
		 i, 96 + i / 65536, (i / 256) % 256, i % 256);
	return json_tokener_parse(text);
}

static struct json_object *slice(int i, int n_eps, int skip)
{
	struct json_object *s = json_object_new_object(), *m = json_object_new_object();
	struct json_object *labels = json_object_new_object(), *eps = json_object_new_array();
	char name[64], addr[32];
	int e;

	snprintf(addr, sizeof(addr), "svc-%d", i);
	json_object_object_add(labels, "kubernetes.io/service-name", json_object_new_string(addr));
	snprintf(name, sizeof(name), "svc-%d-abc", i);
	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "namespace", json_object_new_string("bench"));
	json_object_object_add(m, "labels", labels);
	json_object_object_add(s, "metadata", m);
	json_object_object_add(s, "addressType", json_object_new_string("IPv4"));
	json_object_object_add(s, "ports", json_tokener_parse("[{\"name\": \"tcp\", \"port\": 8080}]"));
	for (e = 0; e < n_eps; e++) {
		struct json_object *ep = json_object_new_object(), *a = json_object_new_array();

		if (e == skip)
			continue;
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", 128 + (i * n_eps + e) / 65536,
			 ((i * n_eps + e) / 256) % 256, (i * n_eps + e) % 256);
		json_object_array_add(a, json_object_new_string(addr));
		json_object_object_add(ep, "addresses", a);
		json_object_object_add(ep, "conditions", json_tokener_parse("{\"ready\": true}"));
		json_object_array_add(eps, ep);
	}
	json_object_object_add(s, "endpoints", eps);
	return s;
}

static double reload(struct k8s_objects *o, size_t *n_svcs)
{
	struct k8s_docs d = { 0 };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;
	double t0 = now_ms(), t1, t2, c0 = cpu_ms(), c1, c2;
	int rc;

	if (k8s_render_objects(o, NULL, &d, NULL))
		exit(1);
	t1 = now_ms();
	c1 = cpu_ms();
	rc = policy_compile_buffers((const char *const *)d.names, (const char *const *)d.texts,
				    d.lens, d.n, &dl, &img);
	t2 = now_ms();
	c2 = cpu_ms();
	if (rc) {
		diag_print(&dl, stderr);
		exit(1);
	}
	*n_svcs = img.n_services;
	printf("  render %.0f ms (CPU %.0f ms), compile %.0f ms (CPU %.0f ms)\n", t1 - t0, c1 - c0,
	       t2 - t1, c2 - c1);
	bpfmesh_image_free(&img);
	diag_free(&dl);
	k8s_docs_free(&d);
	return t2 - t0;
}

/* One list response, NAME.list.PAGE.json in dir (the fake server answers
 * the n-th list request of NAME with page n): keys[from, to) of objs, and
 * a continue token unless it is the last page. */
static void write_page(const char *dir, const char *name, struct json_object *objs,
		       const char **keys, size_t from, size_t to, size_t n, int page)
{
	struct json_object *list = json_object_new_object(), *items = json_object_new_array();
	char path[512], meta[128];
	size_t i;

	for (i = from; i < to; i++)
		json_object_array_add(items, json_object_get(json_object_object_get(objs, keys[i])));
	snprintf(meta, sizeof(meta), "{\"resourceVersion\": \"1\"%s%.0d%s}",
		 to < n ? ", \"continue\": \"page-" : "", to < n ? page + 1 : 0, to < n ? "\"" : "");
	json_object_object_add(list, "metadata", json_tokener_parse(meta));
	json_object_object_add(list, "items", items);
	snprintf(path, sizeof(path), "%s/%s.list.%d.json", dir, name, page);
	json_object_to_file_ext(path, list, JSON_C_TO_STRING_PLAIN);
	json_object_put(list);
}

/*
 * The objects of a kind as the API server lists them to the agent, which
 * asks for pages of 500 (limit=500, then continue): in key order, 500 a
 * response (K8S_PAGE=N: N a response; K8S_PAGE=0: the whole list in one,
 * as an API server that ignores limit). Returns the number of pages.
 */
static int write_list(const char *dir, const char *name, struct json_object *objs)
{
	long per = getenv("K8S_PAGE") ? atol(getenv("K8S_PAGE")) : 500;
	size_t n = 0, from = 0, to;
	const char **keys = k8s_sorted_keys(objs, &n);
	int page = 0;

	if (!keys)
		exit(1);
	do {
		to = per > 0 && n - from > (size_t)per ? from + (size_t)per : n;
		write_page(dir, name, objs, keys, from, to, n, ++page);
		from = to;
	} while (from < n);
	free(keys);
	return page;
}

/* The bench's own temporary directory and the files in it. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void list_from_server(struct k8s_objects *o)
{
	char dir[] = "/tmp/bpfmesh-k8s-bench-XXXXXX";
	struct k8s_watch_opts opts = { .page_limit = 500 };
	struct k8s_config c = { 0 };
	struct json_object *empty = json_object_new_object();
	struct k8s_watch *w;
	struct k8s_health h = { 0 };
	struct fakeapi *fa;
	uint16_t port;
	double t0, c0;

	if (!mkdtemp(dir))
		return;
	write_list(dir, "services", o->by_kind[K8S_SERVICES]);
	write_list(dir, "endpointslices", o->by_kind[K8S_ENDPOINTSLICES]);
	write_list(dir, "pods", empty);
	write_list(dir, "nodes", empty);
	json_object_put(empty);
	if (fakeapi_start(dir, NULL, &fa, &port))
		return;
	if (asprintf(&c.server, "http://127.0.0.1:%u", port) < 0)
		return;
	t0 = now_ms();
	c0 = cpu_ms();
	if (k8s_watch_start(&c, &opts, &w))
		return;
	while (!h.synced && now_ms() - t0 < 60000) {
		usleep(1000);
		k8s_health(w, &h);
	}
	printf("k8s: listed from the API server (pages of K8S_PAGE, default 500, as asked): "
	       "%.0f ms (CPU %.0f ms, the server's included; the watch thread renders "
	       "everything once as it syncs)%s\n", now_ms() - t0, cpu_ms() - c0,
	       h.synced ? "" : " (not synced after 60 s)");
	k8s_watch_stop(w);
	fakeapi_stop(fa);
	remove_dir(dir);
}

/* ---- end to end through the agent (--agent, root) ----------------------- */

struct agent_run {
	char dir[64]; /* list and watch files, kubeconfig, triggers, the agent's log */
	char cgroup[PATH_MAX], bpffs[PATH_MAX], log[PATH_MAX + 16], bin[PATH_MAX];
	pid_t pid;
	struct fakeapi *fa;
	int fds[4]; /* svc_ids, svc_heads, routes, backends */
};

/* The endpoint event c adds to svc-0: 10.250.0.c (no Service uses 10.250/16). */
static void new_endpoint(int c, char *addr, size_t len)
{
	snprintf(addr, len, "10.250.0.%d", c);
}

/* svc-0's slice with the endpoints of events 1..c added, as a MODIFIED event. */
static void write_event(FILE *f, int e, int c)
{
	struct json_object *ev = json_object_new_object(), *s = slice(0, e, -1);
	struct json_object *eps = json_object_object_get(s, "endpoints");
	char addr[32], rv[32];
	int i;

	for (i = 1; i <= c; i++) {
		struct json_object *ep = json_object_new_object(), *a = json_object_new_array();

		new_endpoint(i, addr, sizeof(addr));
		json_object_array_add(a, json_object_new_string(addr));
		json_object_object_add(ep, "addresses", a);
		json_object_object_add(ep, "conditions", json_tokener_parse("{\"ready\": true}"));
		json_object_array_add(eps, ep);
	}
	snprintf(rv, sizeof(rv), "%d", 1000 + c);
	json_object_object_add(json_object_object_get(s, "metadata"), "resourceVersion",
			       json_object_new_string(rv));
	json_object_object_add(ev, "type", json_object_new_string("MODIFIED"));
	json_object_object_add(ev, "object", s);
	fprintf(f, "#wait change-%d\n%s\n", c, json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	json_object_put(ev);
}

static int write_watch(const char *dir, int e, int changes)
{
	char path[600];
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "%s/endpointslices.watch.1.jsonl", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (c = 1; c <= changes; c++)
		write_event(f, e, c);
	return fclose(f) ? -errno : 0;
}

static int run_wait(struct agent_run *r, char *const argv[], bool wait)
{
	pid_t pid = fork();
	int st, fd;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(r->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(r->bin, argv);
		_exit(127);
	}
	if (!wait) {
		r->pid = pid;
		return 0;
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -ECHILD;
}

/* Lines of the agent's log holding needle; the last one into line. */
static int log_count(const struct agent_run *r, const char *needle, char *line, size_t len)
{
	char buf[4096];
	int n = 0;
	FILE *f = fopen(r->log, "r");

	while (f && fgets(buf, sizeof(buf), f))
		if (strstr(buf, needle) && ++n && line)
			snprintf(line, len, "%s", buf);
	if (f)
		fclose(f);
	return n;
}

static bool wait_log(const struct agent_run *r, const char *needle, int count, double ms,
		     char *line, size_t len)
{
	double t0 = now_ms();

	while (log_count(r, needle, line, len) < count) {
		if (now_ms() - t0 > ms || (r->pid > 0 && waitpid(r->pid, NULL, WNOHANG) == r->pid))
			return false;
		usleep(2000);
	}
	return true;
}

static int agent_start(struct agent_run *r, int n, int e)
{
	char kc[600], text[512], ms[16], mc[16], me[16], root[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", r->bin, sizeof(r->bin) - 16);
	char *const argv[] = { r->bin, "agent", "-v", "--kubeconfig", kc, "--node", "node-a",
			       "--cgroup", r->cgroup, "--bpffs", r->bpffs, "--max-services", ms,
			       "--max-clusters", mc, "--max-endpoints", me, NULL };
	uint16_t port;

	if (len < 0 || cgroup2_root(root, sizeof(root)))
		return -ENOENT;
	r->bin[len] = '\0';
	strcpy(strrchr(r->bin, '/') + 1, "bpfmesh");
	snprintf(r->cgroup, sizeof(r->cgroup), "%.3000s/bpfmesh-k8s-bench-%d", root, getpid());
	snprintf(r->bpffs, sizeof(r->bpffs), "/sys/fs/bpf/bpfmesh-k8s-bench-%d", getpid());
	snprintf(r->log, sizeof(r->log), "%s/agent.log", r->dir);
	if (mkdir(r->cgroup, 0755))
		return -errno;
	if (fakeapi_start(r->dir, r->dir, &r->fa, &port))
		return -EIO;
	snprintf(kc, sizeof(kc), "%s/kubeconfig", r->dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
		 "clusters:\n- name: fake\n  cluster: {server: 'http://127.0.0.1:%u'}\n"
		 "contexts:\n- name: b\n  context: {cluster: fake}\n", port);
	FILE *f = fopen(kc, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		return -EIO;
	snprintf(ms, sizeof(ms), "%d", 2 * n + 1024);
	snprintf(mc, sizeof(mc), "%d", 2 * n + 1024);
	snprintf(me, sizeof(me), "%d", 2 * n * (e + 1) + 1024);
	return run_wait(r, argv, false);
}

static void agent_stop(struct agent_run *r)
{
	char *const argv[] = { r->bin, "uninstall", "--bpffs", r->bpffs, "--cgroup", r->cgroup,
			       NULL };
	int i;

	for (i = 0; i < 4; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	if (r->bin[0] && run_wait(r, argv, true))
		fprintf(stderr, "k8s: uninstall failed: see %s\n", r->log);
	if (r->cgroup[0])
		rmdir(r->cgroup);
	fakeapi_stop(r->fa);
}

/* Does the route in force for svc-0's VIP hold addr in a backend set? */
static bool route_has(const struct agent_run *r, const struct svc_key *key, __be32 addr)
{
	struct svc_head head;
	struct svc_val v;
	__u32 index, d, j;

	if (bpf_map_lookup_elem(r->fds[0], key, &index) ||
	    bpf_map_lookup_elem(r->fds[1], &index, &head) || !head.route_id ||
	    bpf_map_lookup_elem(r->fds[2], &head.route_id, &v))
		return false;
	for (d = 0; d < v.n_dests && d < BPFMESH_MAX_DESTS; d++)
		for (j = 0; j < v.dests[d].n_slots; j++) {
			struct backend_key k = { .set_id = v.dests[d].set_id, .slot = j };
			struct backend_val b;

			if (!bpf_map_lookup_elem(r->fds[3], &k, &b) && b.addr[0] == addr)
				return true;
		}
	return false;
}

static int open_maps(struct agent_run *r)
{
	static const char *const names[4] = { BPFMESH_MAP_SVC_IDS, BPFMESH_MAP_SVC_HEADS,
					       BPFMESH_MAP_ROUTES, BPFMESH_MAP_BACKENDS };
	int i;

	for (i = 0; i < 4; i++)
		if ((r->fds[i] = lb_pin_open(r->bpffs, names[i])) < 0)
			return r->fds[i];
	return 0;
}

/* Between two reads of the maps while a change is on its way. A busy loop
 * kept one of the machine's 2 cores busy and left the agent (and the fake
 * server's thread) the other; a read takes ~10 us, so the change is seen
 * at most POLL_SLEEP_US + a read + the wake-up after it reaches the maps
 * (timer slack set to 1 us in agent_bench: ~60-80 us in all). */
#define POLL_SLEEP_US 50

/* One change: trigger c, then read the maps until they hold endpoint c.
 * Timed from just before the trigger file is made (the fake server sends
 * the watch event when it sees it) to the read that finds the endpoint. */
static double time_change(struct agent_run *r, int c)
{
	const struct timespec pause = { .tv_nsec = POLL_SLEEP_US * 1000 };
	struct svc_key key = { .port = htons(80), .proto = BPFMESH_PROTO_TCP,
			       .family = BPFMESH_AF_INET };
	char path[600], addr[32];
	struct in_addr a;
	double t0;
	FILE *f;

	inet_pton(AF_INET, "10.96.0.0", &key.addr[0]); /* svc-0 (service()) */
	new_endpoint(c, addr, sizeof(addr));
	inet_pton(AF_INET, addr, &a);
	snprintf(path, sizeof(path), "%s/change-%d", r->dir, c);
	t0 = now_ms();
	if (getenv("K8S_KEEP")) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf("  trigger at %02ld.%06ld\n", ts.tv_sec % 60, ts.tv_nsec / 1000);
	}
	f = fopen(path, "w");
	if (!f || fclose(f))
		return -1;
	while (!route_has(r, &key, a.s_addr)) {
		if (now_ms() - t0 > 30000)
			return -1;
		nanosleep(&pause, NULL);
	}
	return now_ms() - t0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void agent_bench(struct k8s_objects *o, int n, int e)
{
	int changes = getenv("K8S_CHANGES") ? atoi(getenv("K8S_CHANGES")) : 9, c, done = 0;
	struct agent_run r = { .dir = "/tmp/bpfmesh-k8s-bench-XXXXXX", .fds = { -1, -1, -1, -1 } };
	struct json_object *empty = json_object_new_object();
	double t0, lat[64];
	struct pid_usage use;
	char line[4096] = "", want[64];

	if (changes > 64)
		changes = 64;
	prctl(PR_SET_TIMERSLACK, 1000UL); /* the poll's sleeps: 1 us late at most, not 50 */
	if (!mkdtemp(r.dir))
		return;
	write_list(r.dir, "services", o->by_kind[K8S_SERVICES]);
	write_list(r.dir, "endpointslices", o->by_kind[K8S_ENDPOINTSLICES]);
	write_list(r.dir, "pods", empty);
	write_list(r.dir, "nodes", empty);
	json_object_put(empty);
	t0 = now_ms();
	if (write_watch(r.dir, e, changes) || agent_start(&r, n, e)) {
		fprintf(stderr, "k8s: cannot start the agent (root?): see %s\n", r.log);
		goto out;
	}
	if (!wait_log(&r, "applied generation 1", 1, 120000, line, sizeof(line)) || open_maps(&r)) {
		fprintf(stderr, "k8s: the agent did not apply: see %s\n", r.log);
		goto out;
	}
	t0 = now_ms() - t0;
	pid_usage(r.pid, &use);
	printf("k8s: agent started -> %d Services listed and applied: %.0f ms, agent CPU %.0f ms "
	       "(user + system; main thread %.0f, busiest other %.0f), %llu minor faults, peak "
	       "RSS %.0f MiB\n  %s", n, t0, use.cpu_ms, use.main_ms, use.other_ms, use.minflt,
	       use.hwm_mib, line);
	for (c = 1; c <= changes; c++) {
		lat[done] = time_change(&r, c);
		snprintf(want, sizeof(want), "applied generation %d", c + 1);
		if (lat[done] < 0 || !wait_log(&r, want, 1, 30000, line, sizeof(line))) {
			fprintf(stderr, "k8s: change %d not applied: see %s\n", c, r.log);
			goto out;
		}
		printf("k8s: endpoint change %d: in the pinned maps %.1f ms after its event "
		       "could be sent\n  %s", c, lat[done++], line);
	}
	qsort(lat, (size_t)done, sizeof(*lat), dbl_cmp);
	if (done)
		printf("k8s: one endpoint change, event -> pinned maps: min %.1f ms, median %.1f ms, "
		       "p90 %.1f ms, max %.1f ms (%d changes, %d Services x %d endpoints)\n",
		       lat[0], lat[done / 2], lat[done * 9 / 10], lat[done - 1], done, n, e);
out:
	agent_stop(&r);
	if (done == changes && !getenv("K8S_KEEP"))
		remove_dir(r.dir);
	else
		fprintf(stderr, "k8s: files and the agent's log kept in %s\n", r.dir);
}

/* The agent's rendering (incr.c): everything once, then one slice change,
 * which makes one Service's document again and lends the rest. */
static void incremental_render(struct k8s_objects *o, int e)
{
	struct k8s_incr *inc = k8s_incr_new();
	struct k8s_render_stats st;
	struct k8s_docs d = { 0 };
	int c;

	if (!inc || k8s_incr_render(inc, o, &d))
		exit(1);
	k8s_incr_stats(inc, &st);
	printf("k8s: incremental rendering: first %.1f ms (%zu documents)\n", st.ms, st.docs);
	for (c = 0; c < 3; c++) {
		k8s_docs_free(&d);
		json_object_object_add(o->by_kind[K8S_ENDPOINTSLICES], "bench/svc-0-abc",
				       slice(0, e, c));
		k8s_incr_note(inc, K8S_ENDPOINTSLICES, "bench/svc-0-abc");
		if (k8s_incr_render(inc, o, &d))
			exit(1);
		k8s_incr_stats(inc, &st);
		printf("k8s: incremental rendering, one endpoint changed: %.3f ms (%zu Service "
		       "made again, %zu documents handed over)\n", st.ms, st.services, st.docs);
	}
	k8s_docs_free(&d);
	k8s_incr_free(inc);
}

int main(int argc, char **argv)
{
	bool agent = argc > 1 && !strcmp(argv[1], "--agent");
	int n = getenv("K8S_SERVICES") ? atoi(getenv("K8S_SERVICES")) : 10000;
	int e = getenv("K8S_ENDPOINTS") ? atoi(getenv("K8S_ENDPOINTS")) : 10;
	struct json_object *cache = NULL; /* as the watch keeps it between renderings */
	struct k8s_objects o = { .cache = &cache };
	char key[64];
	size_t n_svcs;
	double t;
	int i;

	o.by_kind[K8S_SERVICES] = json_object_new_object();
	o.by_kind[K8S_ENDPOINTSLICES] = json_object_new_object();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "bench/svc-%d", i);
		json_object_object_add(o.by_kind[K8S_SERVICES], key, service(i));
		snprintf(key, sizeof(key), "bench/svc-%d-abc", i);
		json_object_object_add(o.by_kind[K8S_ENDPOINTSLICES], key, slice(i, e, -1));
	}
	if (agent) {
		agent_bench(&o, n, e);
		goto out;
	}
	printf("k8s: %d Services x %d endpoints, full reload (render + compile):\n", n, e);
	t = reload(&o, &n_svcs);
	printf("k8s: cold: %.0f ms for %zu service keys\n", t, n_svcs);
	/* one endpoint of one Service changes: the same full reload */
	json_object_object_add(o.by_kind[K8S_ENDPOINTSLICES], "bench/svc-0-abc", slice(0, e, 3));
	t = reload(&o, &n_svcs);
	printf("k8s: one endpoint changed: %.0f ms (one Service rendered again, the others "
	       "from the cache; the apply then writes one set)\n", t);
	incremental_render(&o, e);
	list_from_server(&o);
out:
	for (i = 0; i < K8S_N_KINDS; i++)
		json_object_put(o.by_kind[i]);
	json_object_put(cache);
	return 0;
}
