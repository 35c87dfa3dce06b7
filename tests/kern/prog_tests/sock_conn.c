// SPDX-License-Identifier: Apache-2.0
/*
 * The one record of a placed connection (struct sock_conn in the socket
 * storage bpfmesh_sock4_conn_v3, bpf/lib/sock_conn.h), through the agent
 * and real connections:
 *
 *  - records do not outlive their sockets, and the marks they hold are
 *    released: many connects and closes (some over maxConnections, some to
 *    an endpoint that refuses) leave no record (counted by an iterator over
 *    the storage map), every open count at 0 and every endpoint's opened
 *    equal to its closed; a socket refused over the limit and then
 *    connected directly shows its real peer, not a VIP;
 *    A fresh install pins no map of the old layouts.
 *  - an upgrade: the maps of a release before _v3 are pinned before the
 *    agent starts (bpfmesh_sock4_conn_v2, bpfmesh_connpool4_socks_v1, made
 *    here with their layouts), and a connection placed by that release
 *    (its record and pool mark written into them the way its programs did,
 *    keyed by the socket's fd) is shown as its VIP, counted and released
 *    from maxConnections by the programs of today exactly once, whether it
 *    closes after its handshake or before its SYN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include "fixtures.h"
#include "ktest.h"
#include "kern/loader.h"
#include "sock_conn_count.skel.h"

#define SC_VIP "127.100.61.1"
#define SC_EP "127.1.61.1"
#define SC_NOROUTE "198.18.201.1" /* no route in the test's netns: no SYN */
#define SC_LIMIT 2
#define SC_ROUNDS 200
#define SC_MAX_SLOTS 64

/* The endpoint slot of the only endpoint, and its cluster slot. */
static bool sc_slots(const struct ktest_env *e, __u32 *ep_slot, __u32 *cluster_slot)
{
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_EP_HEALTH);
	struct ep_health h;
	__u32 s;

	*ep_slot = *cluster_slot = 0;
	for (s = 1; fd >= 0 && s < SC_MAX_SLOTS && !*ep_slot; s++)
		if (!bpf_map_lookup_elem(fd, &s, &h) && h.cluster_slot) {
			*ep_slot = s;
			*cluster_slot = h.cluster_slot;
		}
	if (fd >= 0)
		close(fd);
	return *ep_slot != 0;
}

static int sc_counters(const struct ktest_env *e, __u32 ep_slot, struct ep_counters *c)
{
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_EP_COUNTERS), err;
	struct ep_counters_elem v;

	if (fd < 0)
		return fd;
	err = bpf_map_lookup_elem(fd, &ep_slot, &v) ? -errno : 0;
	*c = v.c;
	close(fd);
	return err;
}

/* The open count of a cluster slot; add (the old connect4's raise) first. */
static long long sc_pool_open(const struct ktest_env *e, __u32 cluster_slot, int add)
{
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_CONNPOOL_OPEN);
	struct connpool_open o = {};
	long long n = -1;

	if (fd >= 0 && !bpf_map_lookup_elem(fd, &cluster_slot, &o)) {
		o.open += add;
		n = add && bpf_map_update_elem(fd, &cluster_slot, &o, BPF_EXIST) ? -1 : (long long)o.open;
	}
	if (fd >= 0)
		close(fd);
	return n;
}

/* Sockets holding a record in the pinned storage map, or -1. */
static long long sc_records(const struct ktest_env *e, __u32 unused)
{
	struct sock_conn_count_bpf *skel = sock_conn_count_bpf__open_and_load();
	(void)unused;
	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info = {};
	struct bpf_link *link = NULL;
	long long n = -1;
	char buf[64];
	int map = lb_pin_open(e->bpffs, BPFMESH_MAP_SOCK_CONN), it = -1;

	if (!skel || map < 0)
		goto out;
	info.map.map_fd = map;
	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	link = bpf_program__attach_iter(skel->progs.count_records, &opts);
	if (!link)
		goto out;
	it = bpf_iter_create(bpf_link__fd(link));
	if (it < 0)
		goto out;
	while (read(it, buf, sizeof(buf)) > 0)
		;
	n = (long long)skel->bss->records;
out:
	if (it >= 0)
		close(it);
	bpf_link__destroy(link);
	if (map >= 0)
		close(map);
	sock_conn_count_bpf__destroy(skel);
	return n;
}

static long long sc_open(const struct ktest_env *e, __u32 cluster_slot)
{
	return sc_pool_open(e, cluster_slot, 0);
}

/* Wait up to 2 s for what() to read want (closes end in softirq, storages
 * are freed after an RCU grace period): what it read last. */
static long long sc_wait_for(long long (*what)(const struct ktest_env *, __u32),
			     const struct ktest_env *e, __u32 arg, long long want)
{
	long long n = what(e, arg);
	int tries = 200;

	while (n != want && tries-- > 0) {
		usleep(10000);
		n = what(e, arg);
	}
	return n;
}

static bool sc_has_pin(const struct ktest_env *e, const char *name)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, name);
	return access(path, F_OK) == 0;
}

static void sc_policy(char *buf, size_t len)
{
	char value[64];

	snprintf(value, sizeof(value), "{tcp: {maxConnections: %d}}", SC_LIMIT);
	fixture_one_cluster(buf, len, SC_VIP, "127.1.61", 1, NULL, "connectionPool", value);
}

static const char *const sc_eps[] = { SC_EP };

static bool sc_start(struct ktest_env *env, struct backends *be)
{
	char yaml[4096];

	sc_policy(yaml, sizeof(yaml));
	return env_start_service(env, be, "sc.yaml", yaml, sc_eps, 1);
}

/* The record maps a release before _v3 left pinned in the agent's dir. */
static int sc_pin_old_maps(const struct ktest_env *e)
{
	struct sock_conn_count_bpf *skel = sock_conn_count_bpf__open_and_load();
	char path[PATH_MAX * 2];
	int err = skel ? 0 : -errno;

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, BPFMESH_MAP_SOCK_CONN_V2);
	if (!err)
		err = bpf_map__pin(skel->maps.old_conn, path);
	snprintf(path, sizeof(path), "%s/%s", e->bpffs, BPFMESH_MAP_CONNPOOL_SOCKS);
	if (!err)
		err = bpf_map__pin(skel->maps.old_pool, path);
	sock_conn_count_bpf__destroy(skel);
	return err;
}

/* The service, started on a node that ran a release before _v3. */
static bool sc_start_upgrade(struct ktest_env *env, struct backends *be)
{
	char yaml[4096];

	sc_policy(yaml, sizeof(yaml));
	return ASSERT_OK(env_setup(env), "env_setup") &&
	       ASSERT_OK(env_write_policy(env, "sc.yaml", yaml), "write policy") &&
	       ASSERT_OK(backends_start(be, sc_eps, 1, 8080), "backends") &&
	       ASSERT_OK(sc_pin_old_maps(env), "the old release's record maps pinned") &&
	       ASSERT_OK(env_start_agent(env, NULL), "agent applies");
}

static int sc_socket_to(const char *addr, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	inet_pton(AF_INET, addr, &sa->sin_addr);
	return socket(AF_INET, SOCK_STREAM, 0);
}

static void sc_peer(int fd, char *buf, size_t len)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char ip[INET_ADDRSTRLEN] = "?";

	if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0)
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%d", ip, ntohs(sa.sin_port));
}

/* What a client child saw (shared with the parent). */
struct sc_seen {
	int held_ok;        /* of SC_LIMIT connects held open */
	int over_err;       /* the one over the limit */
	char direct_peer[32]; /* getpeername of that socket connected directly */
	int old_connected;
	char old_peer[32];  /* getpeername of the old-record connection */
	int old_byte;       /* the backend's byte, read through it */
	int noroute_err;    /* the old-record socket whose connect fails */
	int done;           /* the child has done all it holds open */
};

/* Hold SC_LIMIT connections, be refused once, connect that socket to the
 * endpoint directly; hold them all until killed. */
static void sc_child_over(struct sc_seen *seen)
{
	struct sockaddr_in vip, ep;
	int held[SC_LIMIT], fd, i;
	unsigned char b;

	for (i = 0; i < SC_LIMIT; i++) {
		held[i] = sc_socket_to(SC_VIP, 80, &vip);
		if (connect(held[i], (struct sockaddr *)&vip, sizeof(vip)) == 0)
			seen->held_ok++;
	}
	fd = sc_socket_to(SC_VIP, 80, &vip);
	seen->over_err = connect(fd, (struct sockaddr *)&vip, sizeof(vip)) ? errno : 0;
	sc_socket_to(SC_EP, 8080, &ep);
	if (connect(fd, (struct sockaddr *)&ep, sizeof(ep)) == 0) {
		sc_peer(fd, seen->direct_peer, sizeof(seen->direct_peer));
		if (read(fd, &b, 1) != 1)
			seen->direct_peer[0] = 0;
	}
	__atomic_store_n(&seen->done, 1, __ATOMIC_RELEASE);
	pause(); /* until the parent has counted the records held */
}

static pid_t sc_fork(struct ktest_env *e)
{
	pid_t pid = fork();

	if (pid == 0 && join_cgroup(e->cgroup))
		_exit(2);
	return pid;
}

static bool sc_wait(pid_t pid, const char *what)
{
	int status = 0;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return ASSERT_TRUE(false, what);
	return ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0, what);
}

KTEST(sock_conn_records_do_not_leak)
{
	struct sc_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ep_counters c = {};
	struct client_result r;
	struct ktest_env env;
	struct backends be = {};
	__u32 ep_slot, cl_slot;
	long long during;
	pid_t pid;
	int round;

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap") || !sc_start(&env, &be) ||
	    !ASSERT_TRUE(sc_slots(&env, &ep_slot, &cl_slot), "endpoint slot"))
		goto out;
	ASSERT_EQ(sc_records(&env, 0), 0, "no record before any connect");
	ASSERT_TRUE(!sc_has_pin(&env, BPFMESH_MAP_SOCK_CONN_V2) &&
		    !sc_has_pin(&env, BPFMESH_MAP_CONNPOOL_SOCKS),
		    "a fresh install pins no map of the old layouts");
	for (round = 0; round < SC_ROUNDS / 50; round++) {
		ASSERT_OK(client_run(&env, SC_VIP, 80, 50, &r), "50 connects and closes");
		ASSERT_EQ(r.ok, 50, "each connected through the VIP");
	}
	memset(seen, 0, sizeof(*seen));
	pid = sc_fork(&env);
	if (pid == 0) {
		sc_child_over(seen);
		_exit(0);
	}
	for (round = 0; round < 500 && !__atomic_load_n(&seen->done, __ATOMIC_ACQUIRE); round++)
		usleep(10000);
	during = sc_records(&env, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("  %d connects and closes, then %d held + 1 refused: %lld records while "
	       "held, refused then direct: peer %s\n", SC_ROUNDS, SC_LIMIT, during,
	       seen->direct_peer);
	ASSERT_EQ(seen->held_ok, SC_LIMIT, "maxConnections connected");
	ASSERT_EQ(seen->over_err, ECONNREFUSED, "the one over: refused");
	ASSERT_TRUE(strcmp(seen->direct_peer, SC_EP ":8080") == 0, 
		    "refused, then direct: the real peer");
	/* The held ones and the refused one (its record shows nothing). */
	ASSERT_EQ(during, SC_LIMIT + 1, "records of the sockets held");
	ASSERT_EQ(sc_wait_for(sc_records, &env, 0, 0), 0, "every record gone with its socket");
	ASSERT_EQ(sc_wait_for(sc_open, &env, cl_slot, 0), 0, "open count back to 0");
	ASSERT_OK(sc_counters(&env, ep_slot, &c), "endpoint counters");
	printf("  endpoint: opened %llu, closed %llu\n", (unsigned long long)c.opened,
	       (unsigned long long)c.closed);
	ASSERT_EQ(c.opened, SC_ROUNDS + SC_LIMIT, "every placed connection opened once");
	ASSERT_EQ(c.closed, c.opened, "and closed once");
out:
	if (seen != MAP_FAILED)
		munmap(seen, sizeof(*seen));
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- a connection placed before the upgrade ---------------------------- */

struct sc_old_maps {
	int conn_v2;
	int pool_v1;
	__u32 ep_slot, cluster_slot;
};

/* What connect4 before _v3 left on a socket it placed on the VIP. */
static int sc_mark_old(const struct sc_old_maps *m, int fd, __u16 flags)
{
	struct sock_conn c = {
		.vip_addr = inet_addr(SC_VIP),
		.vip_port = htons(80),
		.flags = BPFMESH_CONN_F_PLACED | flags,
		.ep_slot = m->ep_slot,
		.cluster_slot = m->cluster_slot,
		.proto = IPPROTO_TCP,
	};
	struct connpool_sock p = { .counted_slot = m->cluster_slot };

	/* The _v2 value is the first BPFMESH_SOCK_CONN_V2_SIZE bytes. */
	if (bpf_map_update_elem(m->conn_v2, &fd, &c, BPF_NOEXIST))
		return -errno;
	return bpf_map_update_elem(m->pool_v1, &fd, &p, BPF_NOEXIST) ? -errno : 0;
}

/* Two sockets placed "before the upgrade": one connects directly to the
 * endpoint (connect4 of today leaves it alone: no VIP), one fails before
 * its SYN; both closed. */
static void sc_child_old(const struct sc_old_maps *m, struct sc_seen *seen)
{
	struct sockaddr_in sa;
	unsigned char b;
	int fd;

	fd = sc_socket_to(SC_EP, 8080, &sa);
	if (!sc_mark_old(m, fd, 0) && !connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		seen->old_connected = 1;
		sc_peer(fd, seen->old_peer, sizeof(seen->old_peer));
		seen->old_byte = read(fd, &b, 1) == 1 ? b + 1 : 0;
	}
	close(fd);
	fd = sc_socket_to(SC_NOROUTE, 8080, &sa);
	if (!sc_mark_old(m, fd, 0))
		seen->noroute_err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	close(fd);
}

KTEST(sock_conn_old_record_across_upgrade)
{
	struct sc_seen *seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct sc_old_maps m = { .conn_v2 = -1, .pool_v1 = -1 };
	struct ep_counters before = {}, after = {};
	struct ktest_env env;
	struct backends be = {};
	pid_t pid;

	memset(&env, 0, sizeof(env));
	if (!ASSERT_TRUE(seen != MAP_FAILED, "mmap") || !sc_start_upgrade(&env, &be) ||
	    !ASSERT_TRUE(sc_slots(&env, &m.ep_slot, &m.cluster_slot), "endpoint slot"))
		goto out;
	/* The earlier release's maps, adopted by the agent by name, with
	 * whatever its connections left in them. */
	m.conn_v2 = lb_pin_open(env.bpffs, BPFMESH_MAP_SOCK_CONN_V2);
	m.pool_v1 = lb_pin_open(env.bpffs, BPFMESH_MAP_CONNPOOL_SOCKS);
	if (!ASSERT_TRUE(m.conn_v2 >= 0 && m.pool_v1 >= 0, "the _v2 and pool _v1 pins") ||
	    !ASSERT_OK(sc_counters(&env, m.ep_slot, &before), "counters before"))
		goto out;
	/* The old connect4 raised the open count of both. */
	ASSERT_EQ(sc_pool_open(&env, m.cluster_slot, 2), 2, "two counted by the old connect4");
	memset(seen, 0, sizeof(*seen));
	pid = sc_fork(&env);
	if (pid == 0) {
		sc_child_old(&m, seen);
		_exit(0);
	}
	if (!sc_wait(pid, "old-record client"))
		goto out;
	printf("  old record: connected %d, peer %s, byte %d; before its SYN: %s\n",
	       seen->old_connected, seen->old_peer, seen->old_byte - 1,
	       strerror(seen->noroute_err));
	ASSERT_EQ(seen->old_connected, 1, "connected");
	ASSERT_TRUE(strcmp(seen->old_peer, SC_VIP ":80") == 0, "shown as its VIP");
	ASSERT_EQ(seen->old_byte, 1, "served by the endpoint");
	ASSERT_EQ(seen->noroute_err, ENETUNREACH, "the other fails before its SYN");
	ASSERT_EQ(sc_wait_for(sc_open, &env, m.cluster_slot, 0), 0, "both released, once");
	ASSERT_OK(sc_counters(&env, m.ep_slot, &after), "counters after");
	ASSERT_EQ(after.opened - before.opened, 1, "the old-record connection opened");
	ASSERT_EQ(after.established - before.established, 1, "established");
	ASSERT_EQ(after.closed - before.closed, 1, "closed once");
	ASSERT_EQ(sc_wait_for(sc_records, &env, 0, 0), 0, "the records made for them gone too");
out:
	if (m.conn_v2 >= 0)
		close(m.conn_v2);
	if (m.pool_v1 >= 0)
		close(m.pool_v1);
	if (seen != MAP_FAILED)
		munmap(seen, sizeof(*seen));
	backends_stop(&be);
	env_teardown(&env);
}
