// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
/* The data plane outlives its agent (issue 12, lifecycle): restarts under
 * load lose no connection and reset no counter, an established connection
 * keeps its VIP across a restart, pins of an older layout are migrated, and
 * `bpfmesh uninstall` leaves nothing behind. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/lb_abi.h>
#include "fixtures.h"
#include "ktest.h"
#include "kern/load_stamp.h"
#include "kern/loader.h"

static const char *const eps[] = { "127.1.30.1", "127.1.30.2", "127.1.30.3" };

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- a client that connects until told to stop ---- */

struct load_result {
	long ok, failed;
	int last_errno;
	long per_backend[MAX_BACKENDS];
};

struct load_client {
	pid_t pid;
	int stop_fd, result_fd;
};

/* One connection: connect, read the backend's index byte, reset. */
static void load_connect(const struct sockaddr_in *sa, struct load_result *r)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned char id;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    read(fd, &id, 1) != 1 || id >= MAX_BACKENDS) {
		r->failed++;
		r->last_errno = errno;
	} else {
		r->ok++;
		r->per_backend[id]++;
	}
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
}

/* A child in the test cgroup connecting to vip:port back to back. */
static int load_start(struct ktest_env *e, const char *vip, int port, struct load_client *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int stop[2], res[2];

	if (inet_pton(AF_INET, vip, &sa.sin_addr) != 1 || pipe2(stop, O_CLOEXEC))
		return -EINVAL;
	if (pipe2(res, O_CLOEXEC)) {
		close(stop[0]);
		close(stop[1]);
		return -errno;
	}
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		struct pollfd pfd = { .fd = stop[0], .events = POLLIN };
		struct load_result r = {};

		close(stop[1]);
		close(res[0]);
		if (join_cgroup(e->cgroup))
			_exit(2);
		while (poll(&pfd, 1, 0) == 0)
			load_connect(&sa, &r);
		_exit(write(res[1], &r, sizeof(r)) == sizeof(r) ? 0 : 3);
	}
	close(stop[0]);
	close(res[1]);
	c->stop_fd = stop[1];
	c->result_fd = res[0];
	return 0;
}

static int load_stop(struct load_client *c, struct load_result *r)
{
	int status, err;

	memset(r, 0, sizeof(*r));
	if (write(c->stop_fd, "x", 1) != 1)
		return -errno;
	err = read(c->result_fd, r, sizeof(*r)) == sizeof(*r) ? 0 : -EIO;
	close(c->stop_fd);
	close(c->result_fd);
	waitpid(c->pid, &status, 0);
	return err;
}

/* ---- the kernel's side ---- */

static int pinned_map(const struct ktest_env *e, const char *map)
{
	char path[PATH_MAX + 512];

	if (lb_pin_path(path, sizeof(path), e->bpffs, map))
		return -ENAMETOOLONG;
	return bpf_obj_get(path);
}

/* Connections redirected to an endpoint, all CPUs: the node's counter. */
static long long redirected(const struct ktest_env *e)
{
	int fd = pinned_map(e, BPFMESH_MAP_VERDICTS), ncpu = libbpf_num_possible_cpus(), i;
	__u32 key = BPFMESH_V_REDIRECTED;
	long long sum = 0;
	__u64 vals[1024];

	if (fd < 0 || ncpu <= 0 || ncpu > 1024)
		return -1;
	if (bpf_map_lookup_elem(fd, &key, vals))
		sum = -1;
	for (i = 0; sum >= 0 && i < ncpu; i++)
		sum += (long long)vals[i];
	close(fd);
	return sum;
}

/* The id of a pinned map, or 0. */
static __u32 map_id(const struct ktest_env *e, const char *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = pinned_map(e, map);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

/* Does the program a pinned link runs use map id? */
static bool link_prog_uses_map(const struct ktest_env *e, const char *link_pin, __u32 id)
{
	struct bpf_link_info li = {};
	struct bpf_prog_info pi = {};
	__u32 ids[64], len = sizeof(li), i;
	char path[PATH_MAX + 512];
	int fd, pfd;
	bool found = false;

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, link_pin);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &li, &len) && (pfd = bpf_prog_get_fd_by_id(li.prog_id)) >= 0) {
		pi.nr_map_ids = 64;
		pi.map_ids = (__u64)(unsigned long)ids;
		len = sizeof(pi);
		if (!bpf_obj_get_info_by_fd(pfd, &pi, &len))
			for (i = 0; i < pi.nr_map_ids && i < 64; i++)
				found |= ids[i] == id;
		close(pfd);
	}
	close(fd);
	return found;
}

/* ---- restarts under load ---- */

static int kill_agent(struct ktest_env *e, int sig)
{
	int status;

	if (kill(e->agent, sig))
		return -errno;
	if (waitpid(e->agent, &status, 0) < 0)
		return -errno;
	e->agent = 0;
	return 0;
}

#define RESTARTS 10

/* 10 restarts, SIGTERM and SIGKILL in turn, while a client connects back to
 * back: no connection fails, the node's counter only grows. The first two
 * (one of each signal) switch the links to the new agent's programs
 * (BPFMESH_REPLACE_PROGRAMS), so that the link update runs under load too;
 * the others find their own programs in the links and adopt them without
 * verifying (restart_adopts_without_verifying). */
KTEST(restart_under_load)
{
	struct ktest_env env;
	struct backends be = {};
	struct load_client lc;
	struct load_result r;
	char yaml[8192];
	double t0, took, sum_ms = 0, max_ms = 0, min_ms = 1e9, replaced_ms = 0;
	long long before, after, first;
	int i, monotonic = 1, restarted = 0, kept = 0;

	fixture_canary(yaml, sizeof(yaml), "127.100.30.1", "127.1.30", 50, 50);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	first = redirected(&env);
	if (!ASSERT_OK(load_start(&env, "127.100.30.1", 80, &lc), "load client"))
		goto out;
	usleep(100 * 1000);
	for (i = 0; i < RESTARTS; i++) {
		int sig = i % 2 ? SIGKILL : SIGTERM;
		bool replace = i < 2; /* both signals with and without */

		before = redirected(&env);
		t0 = mono_ms();
		if (!ASSERT_OK(kill_agent(&env, sig), "agent stopped"))
			break;
		usleep(20 * 1000); /* connections go on with no agent at all */
		if (!ASSERT_OK(env_start_agent(&env, replace ? "BPFMESH_REPLACE_PROGRAMS=1" : NULL),
			       "agent restarted"))
			break;
		kept += !replace;
		took = mono_ms() - t0 - 20;
		replaced_ms += replace ? took : 0;
		sum_ms += took;
		min_ms = took < min_ms ? took : min_ms;
		max_ms = took > max_ms ? took : max_ms;
		usleep(30 * 1000);
		after = redirected(&env);
		monotonic &= after > before;
		restarted++;
	}
	ASSERT_OK(load_stop(&lc, &r), "load client result");
	ASSERT_EQ(restarted, RESTARTS, "every restart done");
	printf("restart_under_load: %d restarts (SIGTERM/SIGKILL in turn), %ld connections, "
	       "%ld failed; restart to first apply: min %.1f, avg %.1f, max %.1f ms (%d programs "
	       "switched: avg %.1f ms; %d adopted unverified: avg %.1f ms); redirected counter "
	       "%lld -> %lld\n", restarted, r.ok + r.failed, r.failed, min_ms,
	       restarted ? sum_ms / restarted : 0, max_ms, restarted - kept,
	       restarted > kept ? replaced_ms / (restarted - kept) : 0, kept,
	       kept ? (sum_ms - replaced_ms) / kept : 0, first, redirected(&env));
	ASSERT_EQ(r.failed, 0, "no connection failed across the restarts");
	ASSERT_TRUE(r.ok > 1000, "the client kept connecting");
	ASSERT_TRUE(r.per_backend[0] + r.per_backend[1] > 0 && r.per_backend[2] > 0,
		    "both subsets served throughout");
	ASSERT_TRUE(monotonic, "the counter grew across every restart, never reset");
	ASSERT_TRUE(redirected(&env) - first >= r.ok, "every connection counted");
	ASSERT_EQ(env_count_log(&env, "0 service writes, 0 sets written"), RESTARTS,
		  "no restart rewrote the policy");
	/* "pinned links: N switched to this agent's programs, M already
	 * running them": none switched unless forced, all when forced. */
	ASSERT_EQ(env_count_log(&env, "pinned links: 0 switched"), kept,
		  "same programs left alone when not forced");
	ASSERT_EQ(env_count_log(&env, ", 0 already running them"), restarted - kept,
		  "programs switched by link update when forced");
	ASSERT_EQ(env_count_log(&env, "(adopted, not verified)"), kept,
		  "unforced restarts adopt without verifying");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- getpeername across a restart ---- */

/* A connection from the test cgroup that reports getpeername() when asked
 * (one byte on cmd), then again, then closes. */
struct held_conn {
	pid_t pid;
	int cmd, reply;
};

static int held_open(struct ktest_env *e, const char *vip, struct held_conn *h)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int cmd[2], reply[2];

	inet_pton(AF_INET, vip, &sa.sin_addr);
	if (pipe2(cmd, O_CLOEXEC) || pipe2(reply, O_CLOEXEC))
		return -errno;
	h->pid = fork();
	if (h->pid < 0)
		return -errno;
	if (h->pid == 0) {
		int fd = -1;
		char c, peer[64];

		close(cmd[1]);
		close(reply[0]);
		if (join_cgroup(e->cgroup) == 0) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
				fd = -1;
		}
		while (read(cmd[0], &c, 1) == 1) {
			struct sockaddr_in p;
			socklen_t len = sizeof(p);
			char ip[INET_ADDRSTRLEN] = "?";

			memset(peer, 0, sizeof(peer));
			if (fd >= 0 && getpeername(fd, (struct sockaddr *)&p, &len) == 0) {
				inet_ntop(AF_INET, &p.sin_addr, ip, sizeof(ip));
				snprintf(peer, sizeof(peer), "%s:%d", ip, ntohs(p.sin_port));
			}
			if (write(reply[1], peer, sizeof(peer)) != sizeof(peer))
				break;
		}
		_exit(0);
	}
	close(cmd[0]);
	close(reply[1]);
	h->cmd = cmd[1];
	h->reply = reply[0];
	return 0;
}

static int held_peer(struct held_conn *h, char *peer, size_t len)
{
	char buf[64];

	if (write(h->cmd, "p", 1) != 1 || read(h->reply, buf, sizeof(buf)) != sizeof(buf))
		return -EIO;
	snprintf(peer, len, "%s", buf);
	return 0;
}

static void held_close(struct held_conn *h)
{
	close(h->cmd);
	close(h->reply);
	waitpid(h->pid, NULL, 0);
}

/* The original VIP lives in socket storage (sock_conn), a pinned map: a
 * connection made before a restart still reports it. The new agent's
 * programs are switched in (BPFMESH_REPLACE_PROGRAMS), so the answer comes
 * from the new getpeername program reading the pinned storage. */
static void peer_across_restart(int sig)
{
	struct ktest_env env;
	struct backends be = {};
	struct held_conn h = { .pid = -1 };
	char yaml[8192], peer[64];
	__u32 storage;

	fixture_canary(yaml, sizeof(yaml), "127.100.31.1", "127.1.30", 100, 0);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start_in(&be, NULL, eps, 3, 8080, true), "echo backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies") ||
	    !ASSERT_OK(held_open(&env, "127.100.31.1", &h), "connection"))
		goto out;
	ASSERT_OK(held_peer(&h, peer, sizeof(peer)), "getpeername");
	ASSERT_TRUE(!strcmp(peer, "127.100.31.1:80"), "the VIP before the restart");
	storage = map_id(&env, BPFMESH_MAP_SOCK_CONN);
	ASSERT_TRUE(storage != 0, "socket storage pinned");

	ASSERT_OK(kill_agent(&env, sig), "agent stopped");
	if (!ASSERT_OK(env_start_agent(&env, "BPFMESH_REPLACE_PROGRAMS=1"), "new agent"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "switched to this agent's programs"), 1, "programs replaced");
	ASSERT_EQ(map_id(&env, BPFMESH_MAP_SOCK_CONN), storage, "same socket storage adopted");
	ASSERT_TRUE(link_prog_uses_map(&env, "link_getpeername4", storage),
		    "the new getpeername program reads the pinned storage");
	ASSERT_OK(held_peer(&h, peer, sizeof(peer)), "getpeername after the restart");
	ASSERT_TRUE(!strcmp(peer, "127.100.31.1:80"), "still the VIP after the restart");
out:
	if (h.pid > 0)
		held_close(&h);
	backends_stop(&be);
	env_teardown(&env);
}

KTEST(getpeername_vip_across_sigkill)
{
	peer_across_restart(SIGKILL);
}

KTEST(getpeername_vip_across_sigterm)
{
	peer_across_restart(SIGTERM);
}

/* ---- layout migration ---- */

/* The maps the previous release pinned without a layout version: its
 * services (here the three maps of the atomic switch, which replaced its
 * one services hash: all of them old, as an upgrade finds them), backends,
 * verdicts and names. */
static const char *const unversioned[] = { BPFMESH_MAP_SVC_IDS, BPFMESH_MAP_SVC_HEADS,
					   BPFMESH_MAP_ROUTES, BPFMESH_MAP_BACKENDS,
					   BPFMESH_MAP_VERDICTS, BPFMESH_MAP_NAMES };

/* Make the bpffs dir look like the previous release left it: the same maps
 * under their unversioned names, still used by the running programs. */
static int unversion_pins(const struct ktest_env *e)
{
	char from[PATH_MAX], to[PATH_MAX + 512];
	unsigned int i;

	for (i = 0; i < sizeof(unversioned) / sizeof(unversioned[0]); i++) {
		if (lb_pin_path(from, sizeof(from), e->bpffs, unversioned[i]))
			return -ENAMETOOLONG;
		snprintf(to, sizeof(to), "%s/%s", e->bpffs, unversioned[i]);
		if (rename(from, to))
			return -errno;
	}
	return 0;
}

static bool pin_exists(const struct ktest_env *e, const char *name)
{
	char path[PATH_MAX + 512];

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, name);
	return access(path, F_OK) == 0;
}

KTEST(layout_migration_from_unversioned_pins)
{
	struct ktest_env env;
	struct backends be = {};
	struct load_client lc;
	struct load_result r;
	char yaml[8192], old_services[PATH_MAX + 512];
	unsigned int i;
	__u32 old_id;
	int fd;

	fixture_canary(yaml, sizeof(yaml), "127.100.32.1", "127.1.30", 0, 100);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	ASSERT_OK(kill_agent(&env, SIGKILL), "agent killed");
	if (!ASSERT_OK(unversion_pins(&env), "pins renamed as the previous release had them"))
		goto out;
	snprintf(old_services, sizeof(old_services), "%s/%s", env.bpffs, BPFMESH_MAP_SVC_IDS);
	fd = bpf_obj_get(old_services);
	old_id = 0;
	if (fd >= 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			old_id = info.id;
		close(fd);
	}
	ASSERT_TRUE(link_prog_uses_map(&env, "link_connect4", old_id),
		    "connect4 runs on the unversioned map");

	if (!ASSERT_OK(load_start(&env, "127.100.32.1", 80, &lc), "load client"))
		goto out;
	usleep(50 * 1000);
	if (!ASSERT_OK(env_start_agent(&env, NULL), "new agent applies")) {
		load_stop(&lc, &r);
		goto out;
	}
	ASSERT_OK(env_wait_log(&env, "migrated:", 1, 30000), "migration done");
	usleep(50 * 1000);
	ASSERT_OK(load_stop(&lc, &r), "load client result");
	printf("layout_migration: %ld connections, %ld failed during the migration (last errno %d)\n",
	       r.ok + r.failed, r.failed, r.last_errno);
	ASSERT_EQ(r.failed, 0, "no connection failed during the migration");
	ASSERT_EQ(r.per_backend[0] + r.per_backend[1], 0, "decisions unchanged (all to v2)");
	ASSERT_EQ(env_count_log(&env, "6 pins of another map layout"), 1, "old layout detected");
	for (i = 0; i < sizeof(unversioned) / sizeof(unversioned[0]); i++)
		ASSERT_TRUE(!pin_exists(&env, unversioned[i]), "old pin removed");
	ASSERT_TRUE(pin_exists(&env, "bpfmesh_lb4_svc_ids_v1"), "versioned pin in place");
	ASSERT_TRUE(map_id(&env, BPFMESH_MAP_SVC_IDS) != old_id, "a fresh services map");
	ASSERT_TRUE(link_prog_uses_map(&env, "link_connect4", map_id(&env, BPFMESH_MAP_SVC_IDS)),
		    "connect4 switched to the new map");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- uninstall ---- */

/* Run a command, capture its stdout. */
static int run_capture(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int run_capture(char *out, size_t len, const char *fmt, ...)
{
	char cmd[PATH_MAX * 2];
	size_t used = 0, n;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (used + 1 < len && (n = fread(out + used, 1, len - 1 - used, p)) > 0)
		used += n;
	out[used] = '\0';
	return pclose(p);
}

/* Does bpftool's JSON list hold an object with this id? */
static bool listed(const char *json, __u32 id)
{
	char needle[32];

	snprintf(needle, sizeof(needle), "{\"id\":%u,", id);
	return strstr(json, needle) != NULL;
}

#define MAX_IDS 64

/* What one agent's data plane holds: ids of its pinned maps and links, and
 * of the programs those links run. */
struct owned {
	__u32 maps[MAX_IDS], links[MAX_IDS], progs[MAX_IDS];
	int n_maps, n_links, n_progs, n_pins;
};

/* Pin type from the kernel's fdinfo of fd: "link" or "map". */
static void pin_kind(int fd, char *kind, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	kind[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "link_type:", 10))
			snprintf(kind, len, "link");
		else if (!strncmp(line, "map_type:", 9))
			snprintf(kind, len, "map");
	}
	fclose(f);
}

static int collect_owned(const struct ktest_env *e, struct owned *o)
{
	DIR *d = opendir(e->bpffs);
	struct dirent *de;
	char path[PATH_MAX + 512], kind[8];

	memset(o, 0, sizeof(*o));
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		o->n_pins++;
		snprintf(path, sizeof(path), "%s/%s", e->bpffs, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		pin_kind(fd, kind, sizeof(kind));
		if (!strcmp(kind, "map") && o->n_maps < MAX_IDS) {
			struct bpf_map_info mi = {};
			__u32 len = sizeof(mi);

			if (!bpf_obj_get_info_by_fd(fd, &mi, &len))
				o->maps[o->n_maps++] = mi.id;
		} else if (!strcmp(kind, "link") && o->n_links < MAX_IDS) {
			struct bpf_link_info li = {};
			__u32 len = sizeof(li);

			if (!bpf_obj_get_info_by_fd(fd, &li, &len)) {
				o->links[o->n_links++] = li.id;
				o->progs[o->n_progs++] = li.prog_id;
			}
		}
		close(fd);
	}
	closedir(d);
	return 0;
}

/* How many of ids bpftool still lists ("prog", "map" or "link"). */
static int still_listed(const char *what, const __u32 *ids, int n)
{
	static char json[1 << 20];
	int i, found = 0;

	if (run_capture(json, sizeof(json), "bpftool -j %s show 2>/dev/null", what))
		return -1;
	for (i = 0; i < n; i++)
		found += listed(json, ids[i]);
	return found;
}

/* Wait until bpftool lists none of ids (maps are freed after an RCU grace
 * period, a little after their last reference goes). */
static int wait_unlisted(const char *what, const __u32 *ids, int n)
{
	double deadline = mono_ms() + 3000;
	int left;

	while ((left = still_listed(what, ids, n)) != 0 && mono_ms() < deadline)
		usleep(20 * 1000);
	return left;
}

KTEST(uninstall_leaves_nothing)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	struct owned o;
	char yaml[8192], cg[16384], out[4096];
	const char *args[] = { "--sockmap", NULL };

	fixture_canary(yaml, sizeof(yaml), "127.100.33.1", "127.1.30", 100, 0);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies"))
		goto out;
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stopped by SIGTERM");

	/* Before: the stopped agent's data plane is all there. */
	ASSERT_OK(collect_owned(&env, &o), "list bpffs");
	ASSERT_TRUE(o.n_pins >= 15 && o.n_maps >= 10 && o.n_links >= 4, "pins, maps, links");
	ASSERT_EQ(still_listed("map", o.maps, o.n_maps), o.n_maps, "bpftool lists our maps");
	ASSERT_EQ(still_listed("link", o.links, o.n_links), o.n_links, "bpftool lists our links");
	ASSERT_EQ(still_listed("prog", o.progs, o.n_progs), o.n_progs, "bpftool lists our progs");
	run_capture(cg, sizeof(cg), "bpftool -j cgroup show %s 2>&1", env.cgroup);
	ASSERT_TRUE(strstr(cg, "\"bpfmesh_connect") && strstr(cg, "\"bpfmesh_getpeern") &&
		    strstr(cg, "\"bpfmesh_sockops") && strstr(cg, "\"bpfmesh_sockmap_"),
		    "bpftool cgroup show: connect4, getpeername4, both sockops");
	ASSERT_OK(client_run(&env, "127.100.33.1", 80, 20, &cr), "client");
	ASSERT_EQ(cr.ok, 20, "the stopped agent's data plane decides");

	/* uninstall, then nothing. */
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "uninstall -j --bpffs %s --cgroup %s",
			      env.bpffs, env.cgroup), 0, "uninstall exits 0");
	ASSERT_TRUE(json_has_value(out, "dir_removed", "true"), "bpffs dir removed");
	ASSERT_TRUE(access(env.bpffs, F_OK) != 0, "no bpffs dir");
	run_capture(cg, sizeof(cg), "bpftool -j cgroup show %s 2>&1", env.cgroup);
	ASSERT_TRUE(strstr(cg, "\"id\":") == NULL, "bpftool cgroup show: nothing");
	ASSERT_EQ(wait_unlisted("link", o.links, o.n_links), 0, "no link of ours left");
	ASSERT_EQ(wait_unlisted("prog", o.progs, o.n_progs), 0, "no program of ours left");
	ASSERT_EQ(wait_unlisted("map", o.maps, o.n_maps), 0, "no map of ours left");
	ASSERT_OK(client_run(&env, "127.100.33.1", 80, 5, &cr), "client");
	ASSERT_EQ(cr.refused, 5, "VIP no longer intercepted");

	/* Again: nothing to do is not an error. */
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "uninstall --bpffs %s --cgroup %s",
			      env.bpffs, env.cgroup), 0, "second uninstall exits 0");
	ASSERT_TRUE(strstr(out, "removed 0 pins, detached 0 links") != NULL, "nothing left");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* An agent still running: its links are held by its fds, not only pins;
 * uninstall detaches them all the same. */
KTEST(uninstall_detaches_running_agent_links)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	char yaml[8192], cg[4096], out[4096];

	fixture_canary(yaml, sizeof(yaml), "127.100.34.1", "127.1.30", 100, 0);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "uninstall --bpffs %s --cgroup %s",
			      env.bpffs, env.cgroup), 0, "uninstall exits 0");
	run_capture(cg, sizeof(cg), "bpftool -j cgroup show %s 2>&1", env.cgroup);
	ASSERT_TRUE(strstr(cg, "\"id\":") == NULL, "bpftool cgroup show: nothing");
	ASSERT_OK(client_run(&env, "127.100.34.1", 80, 5, &cr), "client");
	ASSERT_EQ(cr.refused, 5, "VIP no longer intercepted");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- permissions ---- */

static bool mode_is(const char *path, mode_t mode)
{
	struct stat st;

	return stat(path, &st) == 0 && (st.st_mode & 07777) == mode;
}

KTEST(pins_root_only)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], path[PATH_MAX + 512];
	struct dirent *de;
	int n = 0, bad = 0;
	DIR *d;

	fixture_canary(yaml, sizeof(yaml), "127.100.35.1", "127.1.30", 100, 0);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(mkdir(env.bpffs, 0755), "a bpffs dir open to all, made beforehand") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	ASSERT_TRUE(mode_is(env.bpffs, 0700), "bpffs dir 0700");
	d = opendir(env.bpffs);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", env.bpffs, de->d_name);
		n++;
		if (!mode_is(path, 0600)) {
			bad++;
			fprintf(stderr, "pin %s is not 0600\n", path);
		}
	}
	if (d)
		closedir(d);
	ASSERT_TRUE(n > 10, "pins listed");
	ASSERT_EQ(bad, 0, "every pin 0600");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* Start an agent expected to refuse: its exit status, or -ETIMEDOUT. */
static int agent_exit_status(struct ktest_env *e, const char *const *args)
{
	double deadline = mono_ms() + 5000;
	int status;

	if (env_spawn_agent(e, NULL, args))
		return -ECHILD;
	while (waitpid(e->agent, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(e->agent, SIGKILL);
			waitpid(e->agent, &status, 0);
			e->agent = 0;
			return -ETIMEDOUT;
		}
		usleep(5000);
	}
	e->agent = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

KTEST(policy_dir_writable_by_others_refused)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], file[PATH_MAX + 512], needle[PATH_MAX + 640];
	const char *insecure[] = { "--allow-insecure-policy-dir", NULL };

	fixture_canary(yaml, sizeof(yaml), "127.100.36.1", "127.1.30", 100, 0);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends"))
		goto out;
	/* A directory every user may write. */
	chmod(env.policies, 0777);
	ASSERT_EQ(agent_exit_status(&env, NULL), 2, "refused (usage error)");
	snprintf(needle, sizeof(needle), "%s is mode 0777", env.policies);
	ASSERT_EQ(env_count_log(&env, needle), 1, "the message names the path and the mode");
	ASSERT_EQ(env_count_log(&env, "--allow-insecure-policy-dir"), 1, "and the override");
	ASSERT_TRUE(access(env.bpffs, F_OK) != 0, "nothing loaded");

	/* A safe directory, a file its group may write. */
	chmod(env.policies, 0755);
	snprintf(file, sizeof(file), "%s/canary.yaml", env.policies);
	chmod(file, 0664);
	ASSERT_EQ(agent_exit_status(&env, NULL), 2, "refused");
	snprintf(needle, sizeof(needle), "%s is mode 0664: writable by its group", file);
	ASSERT_EQ(env_count_log(&env, needle), 1, "the message names the file");

	/* The override. */
	ASSERT_OK(env_start_agent_args(&env, NULL, insecure), "applies with the override");
	chmod(file, 0644);
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- capacity ---- */

/* Three ports of one ServiceEntry: three services (VIP:port). */
static const char three_ports[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata:\n  name: multi\n  namespace: default\n"
	"spec:\n  hosts: [multi.default.svc.cluster.local]\n  addresses: [127.100.37.1]\n"
	"  ports:\n"
	"  - {number: 80, name: tcp-a, protocol: TCP, targetPort: 8080}\n"
	"  - {number: 81, name: tcp-b, protocol: TCP, targetPort: 8080}\n"
	"  - {number: 82, name: tcp-c, protocol: TCP, targetPort: 8080}\n"
	"  resolution: STATIC\n"
	"  endpoints:\n  - address: 127.1.30.1\n";

KTEST(policy_over_capacity_refused)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	char out[16384];
	const char *small[] = { "--max-services", "2", NULL };

	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "multi.yaml", three_ports), "write policy") ||
	    !ASSERT_OK(backends_start(&be, eps, 1, 8080), "backends") ||
	    !ASSERT_OK(env_spawn_agent(&env, NULL, small), "agent"))
		goto out;
	ASSERT_OK(env_wait_log(&env, "Failed to apply policy", 1, 30000), "refused");
	ASSERT_EQ(env_count_log(&env, "needs 3 services (VIP:port), the kernel map holds 2: "
			       "raise the agent's --max-services"), 1,
		  "the message names the limit and the option");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs),
		  0, "maps services");
	ASSERT_TRUE(strstr(out, "127.100.37.1") == NULL, "nothing written");
	ASSERT_OK(client_run(&env, "127.100.37.1", 80, 3, &cr), "client");
	ASSERT_EQ(cr.refused, 3, "no service in force");
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stopped");
	ASSERT_EQ(env_uninstall(&env), 0, "uninstall (the map size is fixed at creation)");

	/* Raised: applies. */
	small[1] = "3";
	if (!ASSERT_OK(env_start_agent_args(&env, NULL, small), "applies with --max-services 3"))
		goto out;
	ASSERT_OK(client_run(&env, "127.100.37.1", 82, 3, &cr), "client");
	ASSERT_EQ(cr.ok, 3, "the third port is served");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- a restart that does not verify ----
 *
 * An agent that finds its own programs running in the pinned links (same
 * object bytes, same pinned maps, by the stamp user/kern/load_stamp.h
 * records) adopts them without loading them, so the kernel verifies
 * nothing; another object, or BPFMESH_REPLACE_PROGRAMS=1, loads and verifies
 * as before. Decisions and counters go on throughout. */

static const char *const adopt_eps[] = { "127.1.38.1", "127.1.38.2", "127.1.38.3" };
#define ADOPT_VIP "127.100.38.1"

/* sock_addr programs (cgroup/connect4 and the like) of bpfmesh loaded into
 * the kernel with an id above `after`: what the verifier saw since. Kernel
 * tests run one at a time (the lock), so none is another test's. */
static int sock_addr_progs_since(__u32 after)
{
	__u32 id = after;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR &&
		    !strncmp(info.name, "bpfmesh_", 8))
			n++;
		close(fd);
	}
	return n;
}

/* The highest program id the kernel has handed out so far. */
static __u32 last_prog_id(void)
{
	__u32 id = 0, next;

	while (!bpf_prog_get_next_id(id, &next))
		id = next;
	return id;
}

/* The program id a pinned link runs, or 0. */
static __u32 link_prog(const struct ktest_env *e, const char *pin)
{
	char path[PATH_MAX + 64];
	__u64 cg;
	__u32 id;

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, pin);
	return lb_stamp_link_prog(path, &id, &cg) ? 0 : id;
}

/* Print the agent's last log line holding needle: the VM logs then show
 * where an adopted start went. */
static void print_last_line(const struct ktest_env *e, const char *needle)
{
	char line[1024], last[1024] = "";
	FILE *f = fopen(e->log, "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			snprintf(last, sizeof(last), "%s", line);
	if (f)
		fclose(f);
	printf("  | %s", last);
}

static int restart_agent(struct ktest_env *e, const char *extra_env)
{
	int err = env_stop_agent(e);

	return err ? err : env_start_agent(e, extra_env);
}

/* Make every stamp name other object bytes: what a new build's agent
 * finds. */
static int stamp_other_objects(const struct ktest_env *e)
{
	struct lb_stamp s;
	unsigned int slot;
	int err, n = 0;

	for (slot = 0; slot < LB_STAMP_SLOTS; slot++) {
		err = lb_stamp_read(e->bpffs, slot, &s);
		if (err == -ENOENT)
			continue;
		s.elf_hash ^= 1;
		if (!err)
			err = lb_stamp_write(e->bpffs, slot, &s);
		if (err)
			return err;
		n++;
	}
	return n ? 0 : -ENOENT;
}

KTEST(restart_adopts_without_verifying)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result r;
	char yaml[8192], path[PATH_MAX + 64];
	__u32 before, connect4, connect6;
	long long counted;
	struct stat st;

	fixture_canary(yaml, sizeof(yaml), ADOPT_VIP, "127.1.38", 0, 100);
	if (!env_start_service(&env, &be, "canary.yaml", yaml, adopt_eps, 3))
		goto out;
	ASSERT_EQ(env_count_log(&env, "verified on 2 threads)"), 1,
		  "first start: sock_addr verified on two threads");
	snprintf(path, sizeof(path), "%s/%s", env.bpffs, LB_STAMP_PIN);
	ASSERT_OK(stat(path, &st), "stamp pinned");
	ASSERT_EQ(st.st_mode & 0777, LB_PIN_MODE, "stamp root-only");
	connect4 = link_prog(&env, "link_connect4");
	connect6 = link_prog(&env, "link_connect6");
	ASSERT_TRUE(connect4 && connect6, "links pinned");
	if (!ASSERT_OK(client_run(&env, ADOPT_VIP, 80, 200, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 200, "v2 serves");
	counted = redirected(&env);

	/* Same binary: nothing loaded for the links, nothing verified. */
	before = last_prog_id();
	if (!ASSERT_OK(restart_agent(&env, NULL), "second agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "(adopted, not verified)"), 1,
		  "second start: adopted, not verified");
	print_last_line(&env, "start-up:");
	ASSERT_EQ(sock_addr_progs_since(before), 0, "no sock_addr program loaded");
	ASSERT_EQ(link_prog(&env, "link_connect4"), connect4, "connect4 link untouched");
	ASSERT_EQ(link_prog(&env, "link_connect6"), connect6, "connect6 link untouched");
	ASSERT_EQ(env_count_log(&env, "pinned links: 0 switched"), 1, "no link switched");
	ASSERT_EQ(env_count_log(&env, "0 service writes, 0 sets written"), 1,
		  "same policy, no write");
	if (!ASSERT_OK(client_run(&env, ADOPT_VIP, 80, 200, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 200, "same decisions after adoption");
	ASSERT_TRUE(redirected(&env) >= counted + 200, "counters continue");

	/* Another object (the stamp names other bytes): loaded and verified;
	 * the program turns out equal (same tag and maps), so the link stays. */
	if (!ASSERT_OK(stamp_other_objects(&env), "stamps of another build"))
		goto out;
	before = last_prog_id();
	if (!ASSERT_OK(restart_agent(&env, NULL), "third agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "(adopted, not verified)"), 1, "third start verified");
	ASSERT_EQ(env_count_log(&env, "verified on 2 threads)"), 2,
		  "third start: sock_addr verified again");
	ASSERT_TRUE(sock_addr_progs_since(before) >= 8, "every sock_addr program loaded");
	ASSERT_EQ(link_prog(&env, "link_connect4"), connect4, "equal program: link kept");

	/* BPFMESH_REPLACE_PROGRAMS=1: loaded, verified and switched. */
	before = last_prog_id();
	if (!ASSERT_OK(restart_agent(&env, "BPFMESH_REPLACE_PROGRAMS=1"), "fourth agent"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "verified on 2 threads)"), 3, "forced: verified");
	ASSERT_TRUE(sock_addr_progs_since(before) >= 8, "forced: sock_addr programs loaded");
	ASSERT_TRUE(link_prog(&env, "link_connect4") > before, "forced: connect4 switched");
	ASSERT_TRUE(link_prog(&env, "link_connect6") > before, "forced: connect6 switched");

	/* The switched links are stamped anew: the next start adopts them. */
	before = last_prog_id();
	if (!ASSERT_OK(restart_agent(&env, NULL), "fifth agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "(adopted, not verified)"), 2, "fifth start adopted");
	ASSERT_EQ(sock_addr_progs_since(before), 0, "fifth start: nothing verified");
	if (!ASSERT_OK(client_run(&env, ADOPT_VIP, 80, 200, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], 200, "same decisions throughout");

	/* uninstall takes the stamp too. */
	ASSERT_EQ(env_stop_agent(&env), 0, "agent exits 0 on SIGTERM");
	ASSERT_EQ(env_uninstall(&env), 0, "uninstall exits 0");
	ASSERT_TRUE(access(path, F_OK) != 0, "stamp removed");
out:
	backends_stop(&be);
	env_teardown(&env);
}
