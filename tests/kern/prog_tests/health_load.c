// SPDX-License-Identifier: Apache-2.0
/*
 * The health sockops program (bpf/sockops.bpf.c) passes the verifier,
 * attaches to a cgroup this test creates beside connect4, and counts real
 * connections: outcomes, bytes, latency histograms, and outlier ejection
 * with its events.
 *
 * To test sockops alone, the test marks its own client sockets as placed
 * the way connect4 does: it writes their
 * struct sock_conn into the pinned socket storage map, from user space,
 * keyed by the socket's fd (a BPF map update, no test hook in the
 * programs). It also writes what the agent will write: each endpoint's
 * cluster slot and the cluster's outlier config. The behaviour through the
 * agent, with real VIP connects, is in outlier.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <bpfmesh/health_abi.h>
#include "ktest.h"
#include "sockops.skel.h"
#include "sock_addr.skel.h"

#define EP_OK 1      /* endpoint slot of the backend that answers */
#define EP_DEAD 2    /* endpoint slot of the address nothing listens on */
#define EP_SILENT 3  /* endpoint slot of an address that drops SYNs */
#define CL_OK 1
#define CL_DEAD 2
#define CL_SILENT 3
#define BASE_EJECTION_MS 300
#define REQ_BYTES 100
#define RESP_BYTES 7

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct health_fixture {
	struct ktest_env env;
	struct sockops_bpf *ops;
	struct sock_addr_bpf *lb;
	struct bpf_link *ops_link, *lb_link;
	int cgroup_fd;
};

static void fixture_destroy(struct health_fixture *f)
{
	bpf_link__destroy(f->ops_link);
	bpf_link__destroy(f->lb_link);
	sockops_bpf__destroy(f->ops);
	sock_addr_bpf__destroy(f->lb);
	if (f->cgroup_fd >= 0)
		close(f->cgroup_fd);
	env_teardown(&f->env);
}

/* Size the health arrays the way the agent does (--max-endpoints 1024,
 * --max-clusters 64) in one object; both objects hold them (connect4
 * places connections on them), and a pin is reused only at its own size. */
static int fixture_size_maps(struct bpf_object *obj)
{
	static const struct { const char *name; __u32 n; } sizes[] = {
		{ BPFMESH_MAP_EP_COUNTERS, 1024 }, { BPFMESH_MAP_EP_HEALTH, 1024 },
		{ BPFMESH_MAP_EP_HISTS, 64 }, { BPFMESH_MAP_CLUSTER_CFG, 64 },
		{ BPFMESH_MAP_CLUSTER_STATE, 64 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, sizes[i].name);

		if (!m || bpf_map__set_max_entries(m, sizes[i].n))
			return -1;
	}
	return 0;
}

/* Load both objects with their maps pinned under the test's own bpffs dir
 * (the arrays at their compile-time size, or sized like the agent will)
 * and attach both programs to the test's cgroup. */
static bool fixture_setup(struct health_fixture *f, bool sized)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);

	memset(f, 0, sizeof(*f));
	f->cgroup_fd = -1;
	if (!ASSERT_OK(env_setup(&f->env), "env_setup"))
		return false;
	if (!ASSERT_OK(mkdir(f->env.bpffs, 0700) ? -errno : 0, "mkdir bpffs dir"))
		return false;
	opts.pin_root_path = f->env.bpffs;
	f->ops = sockops_bpf__open_opts(&opts);
	if (!ASSERT_TRUE(f->ops != NULL, "open sockops"))
		return false;
	if (sized && !ASSERT_OK(fixture_size_maps(f->ops->obj), "size the health maps"))
		return false;
	if (!ASSERT_OK(sockops_bpf__load(f->ops), "load sockops (verifier)"))
		return false;
	f->lb = sock_addr_bpf__open_opts(&opts);
	if (!ASSERT_TRUE(f->lb != NULL, "open sock_addr"))
		return false;
	if (sized && !ASSERT_OK(fixture_size_maps(f->lb->obj), "size connect4's health maps"))
		return false;
	if (!ASSERT_OK(sock_addr_bpf__load(f->lb), "load sock_addr"))
		return false;
	f->cgroup_fd = open(f->env.cgroup, O_RDONLY | O_DIRECTORY);
	if (!ASSERT_TRUE(f->cgroup_fd >= 0, "open cgroup"))
		return false;
	f->ops_link = bpf_program__attach_cgroup(f->ops->progs.bpfmesh_sockops, f->cgroup_fd);
	if (!ASSERT_TRUE(f->ops_link != NULL, "attach sockops to the test cgroup"))
		return false;
	f->lb_link = bpf_program__attach_cgroup(f->lb->progs.bpfmesh_connect4, f->cgroup_fd);
	return ASSERT_TRUE(f->lb_link != NULL, "attach connect4 beside it");
}

KTEST(health_sockops_loads_and_pins)
{
	static const char *const pins[] = {
		BPFMESH_MAP_SOCK_CONN,   BPFMESH_MAP_EP_COUNTERS,   BPFMESH_MAP_EP_HISTS,
		BPFMESH_MAP_EP_HEALTH,   BPFMESH_MAP_CLUSTER_CFG,   BPFMESH_MAP_CLUSTER_STATE,
		BPFMESH_MAP_HEALTH_EVENTS,
	};
	struct health_fixture f;
	char path[PATH_MAX * 2];
	size_t i;

	if (!fixture_setup(&f, false))
		goto out;
	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f.env.bpffs, pins[i]);
		ASSERT_OK(access(path, F_OK) ? -errno : 0, pins[i]);
	}
out:
	fixture_destroy(&f);
}

/* ---- real connections, from a child process inside the test cgroup ---- */

static int map_fd(struct bpf_map *m)
{
	return bpf_map__fd(m);
}

/* What connect4 will do for a placed connection. */
static int mark_placed(int conn_map, int sock, __u32 ep_slot, __u32 cluster_slot)
{
	struct sock_conn c = {
		.vip_addr = htonl(0x7f640001), /* 127.100.0.1:80, the VIP it stands for */
		.vip_port = htons(80),
		.flags = BPFMESH_CONN_F_PLACED,
		.ep_slot = ep_slot,
		.cluster_slot = cluster_slot,
	};

	return bpf_map_update_elem(conn_map, &sock, &c, BPF_NOEXIST);
}

static int connect_placed(int conn_map, const struct sockaddr_in *sa, __u32 ep, __u32 cl)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return -errno;
	if (mark_placed(conn_map, s, ep, cl)) {
		close(s);
		return -1000;
	}
	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa))) {
		int err = -errno;

		close(s);
		return err;
	}
	return s;
}

static int refused_connect(int conn_map, const struct sockaddr_in *dead)
{
	int s = connect_placed(conn_map, dead, EP_DEAD, CL_DEAD);

	if (s >= 0) {
		close(s);
		return 1;
	}
	return s == -ECONNREFUSED ? 0 : 2;
}

/* How an exchange with the live backend ends. */
enum exchange_end {
	SERVER_CLOSES, /* the client is the passive closer (LAST_ACK -> CLOSE) */
	CLIENT_CLOSES, /* the client is the active closer (via TIME_WAIT) */
	SERVER_RESETS, /* the server aborts with an RST after the response */
};

static void close_with_reset(int s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
}

/* One request/response connection to the live backend; 0 when it went as
 * planned. */
static int exchange(int conn_map, int lsock, const struct sockaddr_in *live, enum exchange_end how)
{
	char buf[REQ_BYTES] = { 0 };
	int c, s, rc = 0;

	c = connect_placed(conn_map, live, EP_OK, CL_OK);
	if (c < 0)
		return 10;
	s = accept(lsock, NULL, NULL);
	if (s < 0) {
		close(c);
		return 11;
	}
	if (write(c, buf, REQ_BYTES) != REQ_BYTES || recv(s, buf, REQ_BYTES, MSG_WAITALL) != REQ_BYTES)
		rc = 12;
	if (!rc && (write(s, buf, RESP_BYTES) != RESP_BYTES ||
		    recv(c, buf, RESP_BYTES, MSG_WAITALL) != RESP_BYTES))
		rc = 13;
	switch (how) {
	case SERVER_CLOSES:
	case CLIENT_CLOSES: {
		int first = how == SERVER_CLOSES ? s : c, second = first == s ? c : s;

		/* One side closes, the other sees EOF, then closes too. */
		close(first);
		if (!rc && read(second, buf, 1) != 0)
			rc = 14;
		close(second);
		break;
	}
	case SERVER_RESETS:
		close_with_reset(s);
		if (!rc && (read(c, buf, 1) != -1 || errno != ECONNRESET))
			rc = 16;
		close(c);
		break;
	}
	return rc;
}

/* The child: 3 exchanges with the live backend, ending each way; 4 refused
 * connects (the 3rd ejects, the 4th is not counted toward the next
 * ejection); after the ejection time 4 more (the 1st returns the endpoint,
 * the 4th ejects it again, twice as long). Exit status: 0, or which step
 * went wrong. */
static int child_run(const char *cgroup, int conn_map, const struct sockaddr_in *live,
		     const struct sockaddr_in *dead, int lsock)
{
	char procs[PATH_MAX + 16];
	int i, rc;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if (write_text_file(procs, "0"))
		return 3;
	if ((rc = exchange(conn_map, lsock, live, SERVER_CLOSES)) ||
	    (rc = exchange(conn_map, lsock, live, CLIENT_CLOSES)) ||
	    (rc = exchange(conn_map, lsock, live, SERVER_RESETS)))
		return rc;
	for (i = 0; i < 4; i++)
		if ((rc = refused_connect(conn_map, dead)))
			return 20 + rc;
	sleep_ms(BASE_EJECTION_MS + 100);
	for (i = 0; i < 4; i++)
		if ((rc = refused_connect(conn_map, dead)))
			return 30 + rc;
	return 0;
}

/* One slot's counters (one value shared by all CPUs: health_abi.h). */
static bool read_slot_counters(int fd, __u32 slot, struct ep_counters *out)
{
	struct ep_counters_elem e;
	bool ok = bpf_map_lookup_elem(fd, &slot, &e) == 0;

	*out = ok ? e.c : (struct ep_counters){ 0 };
	return ok;
}

static __u64 hist_count(const struct hist *h)
{
	__u64 n = 0;
	__u32 i;

	for (i = 0; i < BPFMESH_HIST_BUCKETS; i++)
		n += h->buckets[i];
	return n;
}

#define MAX_EVENTS 512
struct events {
	int n;
	struct health_event ev[MAX_EVENTS];
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct events *e = ctx;

	if (len == sizeof(struct health_event) && e->n < MAX_EVENTS)
		memcpy(&e->ev[e->n++], data, len);
	return 0;
}

/* Write what the agent will write: the endpoint slot's cluster and that
 * cluster's outlier config. */
static int write_agent_slot(struct health_fixture *f, __u32 ep_slot, __u32 cluster_slot,
			    const struct cluster_cfg *cfg)
{
	struct ep_health h = { .cluster_slot = cluster_slot };

	return bpf_map_update_elem(map_fd(f->ops->maps.bpfmesh_health4_endpoints_v2), &ep_slot,
				   &h, 0) ||
	       bpf_map_update_elem(map_fd(f->ops->maps.bpfmesh_health4_cluster_cfg_v1),
				   &cluster_slot, cfg, 0);
}

/* An outlier config as the agent writes it: interval 10 s, no panic. */
static struct cluster_cfg outlier_cfg(__u32 consecutive_5xx, __u32 base_ms, __u32 max_pct,
				      __u32 total)
{
	struct cluster_cfg cfg = {
		.consecutive_5xx = consecutive_5xx,
		.flags = BPFMESH_CLUSTER_F_OUTLIER,
		.interval_ns = 10 * 1000000000ULL,
		.base_ejection_ns = base_ms * 1000000ULL,
		.max_ejection_percent = max_pct,
		.total_endpoints = total,
	};

	return cfg;
}

/* Consecutive 5xx (connect failures, split off) of 3; one endpoint, 100%. */
static bool write_agent_state(struct health_fixture *f)
{
	struct cluster_cfg cfg = outlier_cfg(3, BASE_EJECTION_MS, 100, 1);

	return ASSERT_OK(write_agent_slot(f, EP_OK, CL_OK, &cfg) ||
			 write_agent_slot(f, EP_DEAD, CL_DEAD, &cfg),
			 "write cluster slots and outlier config");
}

static int bind_loopback(const char *ip, struct sockaddr_in *sa, bool listening)
{
	socklen_t len = sizeof(*sa);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sa->sin_addr);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)sa, sizeof(*sa)) || getsockname(s, (struct sockaddr *)sa, &len) ||
	    (listening && listen(s, 16))) {
		close(s);
		return -1;
	}
	return s;
}

static void check_live_endpoint(struct health_fixture *f)
{
	struct ep_counters c;
	struct cluster_hists hs;
	__u32 cl = CL_OK; /* histograms are per cluster slot */

	if (!ASSERT_TRUE(read_slot_counters(map_fd(f->ops->maps.bpfmesh_health4_counters_v2),
					    EP_OK, &c), "read counters"))
		return;
	ASSERT_EQ(c.opened, 3, "live: opened");
	ASSERT_EQ(c.established, 3, "live: established");
	ASSERT_EQ(c.closed, 3, "live: closed");
	ASSERT_EQ(c.fail_refused + c.fail_timeout + c.fail_reset + c.fail_other, 0, "live: failed");
	ASSERT_EQ(c.reset, 1, "live: reset after established");
	ASSERT_EQ(c.aborted, 0, "live: aborted");
	/* Exact payload whichever side closed first and with an RST. */
	ASSERT_EQ(c.bytes_sent, 3 * REQ_BYTES, "live: request bytes");
	ASSERT_EQ(c.bytes_received, 3 * RESP_BYTES, "live: response bytes");
	if (!ASSERT_OK(bpf_map_lookup_elem(map_fd(f->ops->maps.bpfmesh_health4_hists_v1), &cl, &hs),
		       "read histograms"))
		return;
	ASSERT_EQ(hist_count(&hs.connect_us), 3, "live: connect latency samples");
	ASSERT_EQ(hist_count(&hs.rtt_us), 3, "live: rtt samples");
	ASSERT_EQ(hist_count(&hs.duration_ms), 3, "live: duration samples");
	ASSERT_TRUE(hs.connect_us.sum < 3000000, "live: loopback connects under 1 s each");
	ASSERT_TRUE(hs.rtt_us.sum > 0, "live: a smoothed RTT was measured");
}

static void check_dead_endpoint(struct health_fixture *f, __u64 t_start, __u64 t_end)
{
	const __u64 base = BASE_EJECTION_MS * 1000000ULL;
	struct ring_buffer *rb = NULL;
	struct events evs = { 0 };
	struct cluster_state st;
	struct ep_counters c;
	struct ep_health h;
	__u32 slot = EP_DEAD, cl = CL_DEAD;

	if (!ASSERT_TRUE(read_slot_counters(map_fd(f->ops->maps.bpfmesh_health4_counters_v2),
					    EP_DEAD, &c), "read counters"))
		return;
	ASSERT_EQ(c.opened, 8, "dead: opened");
	ASSERT_EQ(c.closed, 8, "dead: closed (failed connects count as closed)");
	ASSERT_EQ(c.fail_refused, 8, "dead: refused");
	ASSERT_EQ(c.established, 0, "dead: established");
	if (!ASSERT_OK(bpf_map_lookup_elem(map_fd(f->ops->maps.bpfmesh_health4_endpoints_v2), &slot, &h),
		       "read endpoint health") ||
	    !ASSERT_OK(bpf_map_lookup_elem(map_fd(f->ops->maps.bpfmesh_health4_clusters_v1), &cl, &st),
		       "read cluster state"))
		return;
	ASSERT_EQ(h.ejections, 2, "dead: ejected twice");
	ASSERT_EQ(h.times_ejected, 2, "dead: backoff multiplier");
	ASSERT_EQ(st.ejected, 1, "cluster: one ejected now");
	ASSERT_EQ(st.ejections, 2, "cluster: ejections");
	ASSERT_EQ(st.returns, 1, "cluster: returns");
	ASSERT_EQ(st.events_lost, 0, "cluster: no event lost");

	rb = ring_buffer__new(map_fd(f->ops->maps.bpfmesh_health4_events_v1), on_event, &evs, NULL);
	if (!ASSERT_TRUE(rb != NULL, "open events ring buffer"))
		return;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	if (!ASSERT_EQ(evs.n, 3, "events: eject, return, eject"))
		return;
	ASSERT_EQ(evs.ev[0].kind, BPFMESH_EV_EJECT, "1st event kind");
	ASSERT_EQ(evs.ev[0].ep_slot, EP_DEAD, "1st event slot");
	ASSERT_EQ(evs.ev[0].cluster_slot, CL_DEAD, "1st event cluster");
	ASSERT_EQ(evs.ev[0].times_ejected, 1, "1st ejection: multiplier 1");
	ASSERT_EQ(evs.ev[0].until_ns - evs.ev[0].at_ns, base, "1st ejection lasts base");
	ASSERT_TRUE(evs.ev[0].at_ns >= t_start && evs.ev[0].at_ns <= t_end, "1st event time");
	ASSERT_EQ(evs.ev[1].kind, BPFMESH_EV_RETURN, "2nd event: return");
	ASSERT_TRUE(evs.ev[1].at_ns >= evs.ev[0].until_ns, "returned after its time");
	ASSERT_EQ(evs.ev[2].kind, BPFMESH_EV_EJECT, "3rd event kind");
	ASSERT_EQ(evs.ev[2].times_ejected, 2, "2nd ejection: multiplier 2");
	ASSERT_EQ(evs.ev[2].until_ns - evs.ev[2].at_ns, 2 * base, "2nd ejection lasts twice");
	ASSERT_EQ(h.ejected_until_ns, evs.ev[2].until_ns, "endpoint ejected until the event says");
}

KTEST(health_sockops_counts_and_ejects)
{
	struct sockaddr_in live, dead;
	struct health_fixture f;
	int lsock = -1, dsock = -1, status = -1;
	__u64 t_start, t_end;
	pid_t pid;

	if (!fixture_setup(&f, true) || !write_agent_state(&f))
		goto out;
	lsock = bind_loopback("127.0.1.41", &live, true);
	/* A port bound but not listening: connects to it are refused. */
	dsock = bind_loopback("127.0.1.42", &dead, false);
	if (!ASSERT_TRUE(lsock >= 0 && dsock >= 0, "loopback sockets"))
		goto out;
	t_start = mono_ns();
	pid = fork();
	if (pid == 0)
		_exit(child_run(f.env.cgroup, map_fd(f.ops->maps.bpfmesh_sock4_conn_v3), &live, &dead,
				lsock));
	if (!ASSERT_TRUE(pid > 0, "fork") || !ASSERT_TRUE(waitpid(pid, &status, 0) == pid, "wait"))
		goto out;
	sleep_ms(100); /* let the last FIN/ACKs and state changes land */
	t_end = mono_ns();
	if (!ASSERT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "child's connections"))
		goto out;
	check_live_endpoint(&f);
	check_dead_endpoint(&f, t_start, t_end);
out:
	if (lsock >= 0)
		close(lsock);
	if (dsock >= 0)
		close(dsock);
	fixture_destroy(&f);
}

/* ---- a connect that times out, in a network namespace of its own ---- */

/* The child: in a new netns whose only route for 198.18.0.0/24 loops back
 * into itself with forwarding off, a SYN to 198.18.0.2 is dropped without
 * an answer; with TCP_SYNCNT 1 the connect gives up with ETIMEDOUT after
 * about 3 s. Exit status: 0, or which step went wrong. */
static int child_timeout(const char *cgroup, int conn_map)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	char procs[PATH_MAX + 16];
	int syncnt = 1, s, err;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if (write_text_file(procs, "0"))
		return 3;
	if (unshare(CLONE_NEWNET))
		return 4;
	if (write_text_file("/proc/sys/net/ipv4/ip_forward", "0"))
		return 5;
	if (system("ip link set lo up && ip addr add 198.18.0.1/32 dev lo && "
		   "ip route add 198.18.0.0/24 dev lo"))
		return 6;
	inet_pton(AF_INET, "198.18.0.2", &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || setsockopt(s, IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof(syncnt)))
		return 7;
	if (mark_placed(conn_map, s, EP_SILENT, CL_SILENT))
		return 8;
	err = connect(s, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	close(s);
	return err == ETIMEDOUT ? 0 : 9;
}

/* A timed-out connect is a failure with reason timeout. With
 * splitExternalLocalOriginErrors it counts toward
 * consecutiveLocalOriginFailures only, not toward the 5xx/gateway counters. */
KTEST(health_sockops_timeout_is_local_origin_failure)
{
	struct cluster_cfg cfg = outlier_cfg(1, BASE_EJECTION_MS, 100, 1);
	struct health_fixture f;
	struct ep_counters c;
	struct ep_health h;
	__u32 slot = EP_SILENT;
	int status = -1;
	pid_t pid;

	cfg.consecutive_gateway = 1;
	cfg.consecutive_local_origin = 2;
	cfg.flags |= BPFMESH_CLUSTER_F_SPLIT_LOCAL;
	if (!fixture_setup(&f, true) ||
	    !ASSERT_OK(write_agent_slot(&f, EP_SILENT, CL_SILENT, &cfg), "write agent state"))
		goto out;
	pid = fork();
	if (pid == 0)
		_exit(child_timeout(f.env.cgroup, map_fd(f.ops->maps.bpfmesh_sock4_conn_v3)));
	if (!ASSERT_TRUE(pid > 0, "fork") || !ASSERT_TRUE(waitpid(pid, &status, 0) == pid, "wait"))
		goto out;
	if (!ASSERT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "connect timed out"))
		goto out;
	if (!ASSERT_TRUE(read_slot_counters(map_fd(f.ops->maps.bpfmesh_health4_counters_v2),
					    EP_SILENT, &c), "read counters") ||
	    !ASSERT_OK(bpf_map_lookup_elem(map_fd(f.ops->maps.bpfmesh_health4_endpoints_v2), &slot,
					   &h), "read endpoint health"))
		goto out;
	ASSERT_EQ(c.opened, 1, "opened");
	ASSERT_EQ(c.closed, 1, "closed");
	ASSERT_EQ(c.fail_timeout, 1, "failed: timeout");
	ASSERT_EQ(c.fail_refused + c.fail_reset + c.fail_other, 0, "no other failure");
	ASSERT_EQ(h.cons_local_origin, 1, "counted as a local-origin failure");
	ASSERT_EQ(h.cons_5xx + h.cons_gateway, 0, "not as 5xx or gateway errors");
	ASSERT_EQ(h.ejected_until_ns, 0, "below the threshold of 2: not ejected");
out:
	fixture_destroy(&f);
}

/* ---- maxEjectionPercent under concurrent failures, and the sweep ---- */

#define POOL_FIRST 10 /* endpoint slots 10..13 */
#define POOL_N 4
#define CL_POOL 10
#define POOL_ROUNDS 25
#define POOL_BASE_MS 2000

/* One client hammering every endpoint of the pool; 0 if all were refused. */
static int child_pool(const char *cgroup, int conn_map, const struct sockaddr_in *dead)
{
	char procs[PATH_MAX + 16];
	int r, i, s;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if (write_text_file(procs, "0"))
		return 3;
	for (r = 0; r < POOL_ROUNDS; r++)
		for (i = 0; i < POOL_N; i++) {
			s = connect_placed(conn_map, &dead[i], POOL_FIRST + i, CL_POOL);
			if (s >= 0)
				close(s);
			if (s != -ECONNREFUSED)
				return 4;
		}
	return 0;
}

static bool run_sweep(struct health_fixture *f, struct health_sweep_args *args)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(*args));

	args->first_slot = POOL_FIRST;
	args->n_slots = POOL_N;
	args->cluster_slot = CL_POOL;
	return ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(f->ops->progs.bpfmesh_health_sweep),
						&opts), "run the sweep program");
}

static int count_events(struct health_fixture *f, struct events *evs, __u32 kind)
{
	struct ring_buffer *rb;
	int i, n = 0;

	rb = ring_buffer__new(map_fd(f->ops->maps.bpfmesh_health4_events_v1), on_event, evs, NULL);
	if (!rb)
		return -1;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	for (i = 0; i < evs->n; i++)
		n += evs->ev[i].kind == kind;
	return n;
}

/*
 * Four endpoints that refuse everything, a threshold of one failure, and
 * maxEjectionPercent 50: two clients on two CPUs fail on all of them at
 * once. Envoy's rule allows 100 * 2 / 4 = 50%, not 75%, so exactly two are
 * ejected, whatever the interleaving; every later trip is refused and
 * counted. minHealthPercent 75: two of four healthy is panic. After the
 * ejection time the sweep returns both, once each.
 */
KTEST(health_max_ejection_percent_concurrent)
{
	struct cluster_cfg cfg = outlier_cfg(1, POOL_BASE_MS, 50, POOL_N);
	struct sockaddr_in dead[POOL_N];
	struct health_sweep_args args;
	int socks[POOL_N], i, status, ejected = 0, err = 0;
	struct events evs = { 0 };
	struct health_fixture f;
	struct cluster_state st;
	__u32 cl = CL_POOL;
	__u64 until = 0;
	pid_t pids[2];
	char ip[32];

	for (i = 0; i < POOL_N; i++)
		socks[i] = -1;
	cfg.min_health_percent = 75;
	if (!fixture_setup(&f, true))
		goto out;
	for (i = 0; i < POOL_N; i++) {
		snprintf(ip, sizeof(ip), "127.0.1.%d", 50 + i);
		socks[i] = bind_loopback(ip, &dead[i], false);
		err |= socks[i] < 0 || write_agent_slot(&f, POOL_FIRST + i, CL_POOL, &cfg);
	}
	if (!ASSERT_OK(err, "dead endpoints and agent state"))
		goto out;
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(child_pool(f.env.cgroup, map_fd(f.ops->maps.bpfmesh_sock4_conn_v3), dead));
	}
	for (i = 0; i < 2; i++) {
		status = -1;
		if (pids[i] > 0)
			waitpid(pids[i], &status, 0);
		err |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	if (!ASSERT_OK(err, "clients refused everywhere"))
		goto out;
	for (i = 0; i < POOL_N; i++) {
		struct ep_health h;
		__u32 slot = POOL_FIRST + i;

		if (bpf_map_lookup_elem(map_fd(f.ops->maps.bpfmesh_health4_endpoints_v2), &slot, &h))
			continue;
		ejected += h.ejected_until_ns != 0;
		if (h.ejected_until_ns > until)
			until = h.ejected_until_ns;
	}
	if (!ASSERT_OK(bpf_map_lookup_elem(map_fd(f.ops->maps.bpfmesh_health4_clusters_v1), &cl, &st),
		       "read cluster state"))
		goto out;
	ASSERT_EQ(ejected, 2, "endpoints ejected: 50% of 4");
	ASSERT_EQ(st.ejected, 2, "cluster's ejected count");
	ASSERT_EQ(st.ejections, 2, "ejections");
	ASSERT_TRUE(st.ejections_overflow >= 1, "later trips refused by maxEjectionPercent");
	ASSERT_EQ(count_events(&f, &evs, BPFMESH_EV_EJECT), 2, "eject events");
	ASSERT_EQ(count_events(&f, &evs, BPFMESH_EV_EJECT_OVERFLOW), (long long)(evs.n - 2),
		  "the other events are overflows");
	if (!run_sweep(&f, &args))
		goto out;
	ASSERT_EQ(args.returned, 0, "sweep before the end: nothing returns");
	ASSERT_EQ(args.ejected, 2, "sweep sees two ejected");
	ASSERT_EQ(args.in_panic, 1, "2 of 4 healthy is below minHealthPercent 75");

	if (until > mono_ns())
		sleep_ms((int)((until - mono_ns()) / 1000000) + 50);
	if (!run_sweep(&f, &args))
		goto out;
	ASSERT_EQ(args.returned, 2, "sweep after the end returns both");
	ASSERT_EQ(args.ejected, 0, "none left ejected");
	ASSERT_EQ(args.in_panic, 0, "all healthy: no panic");
	if (!run_sweep(&f, &args))
		goto out;
	ASSERT_EQ(args.returned, 0, "a second sweep returns nothing again");
	bpf_map_lookup_elem(map_fd(f.ops->maps.bpfmesh_health4_clusters_v1), &cl, &st);
	ASSERT_EQ(st.ejected, 0, "cluster's ejected count back to 0");
	ASSERT_EQ(st.returns, 2, "returns counted once each");
	evs.n = 0;
	ASSERT_EQ(count_events(&f, &evs, BPFMESH_EV_RETURN), 2, "return events");
out:
	for (i = 0; i < POOL_N; i++)
		if (socks[i] >= 0)
			close(socks[i]);
	fixture_destroy(&f);
}
