// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's side of connectionPool.tcp maxConnectionDuration and
 * idleTimeout (include/bpfmesh/connpool_abi.h): it runs the connection
 * sweep (bpf/conn_sweep.bpf.c, an iter/tcp program) by creating an
 * iterator from the program's link and reading it to the end, which walks
 * every TCP socket of one network namespace once; the program closes and
 * counts by itself. An iterator walks the namespace of the thread that
 * created it, and the managed processes may live in others (a pod has its
 * own): the agent creates one in its own namespace and one in each
 * namespace a process of the managed cgroup is in (netns_set.h, entered
 * with setns for the creation only), refreshed every CONN_NETNS_REFRESH_MS.
 * A process that moves into a new namespace is swept from the next
 * refresh on.
 *
 * How often: every CONN_SWEEP_MS, or every tick of the main loop (its poll
 * timeout, 250 ms) while the smallest limit in force is shorter than
 * CONN_SWEEP_SHORT_MS, so that a connection is closed between its limit
 * and its limit plus one interval (plus the walk itself and, for idleness,
 * one jiffy). Only the sweep depends on the agent: everything else the
 * kernel does without it, and with no agent running, limits simply wait
 * for the next agent's first sweep.
 *
 * Where the kernel cannot close sockets from BPF (no bpf_sock_destroy,
 * before Linux 6.5) the loader did not load the object: the agent says
 * once at start that the two fields are not enforced on this kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/connpool_abi.h>
#include "agent.h"
#include "kern/connpool_probe.h"
#include "netns_set.h"

#define CONN_SWEEP_MS 1000
/* Below this smallest limit, sweep at every tick instead (4 sweeps a
 * limit: a connection then lives at most a quarter longer). */
#define CONN_SWEEP_SHORT_MS 4000
#define CONN_SWEEP_PROG "bpfmesh_conn_sweep"
#define CONN_NETNS_REFRESH_MS 1000

static __u64 clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* The kernel's CONFIG_HZ as libbpf resolved it for the program (0: not
 * found, and idleTimeout cannot be measured). */
static unsigned int sweep_kernel_hz(const struct bpf_object *obj)
{
	struct bpf_map *m;
	const unsigned int *hz;
	size_t sz = 0;

	bpf_object__for_each_map(m, obj) {
		if (!strstr(bpf_map__name(m), ".kconfig"))
			continue;
		hz = bpf_map__initial_value(m, &sz);
		return hz && sz >= sizeof(*hz) ? *hz : 0;
	}
	return 0;
}

int agent_conn_sweep_start(struct agent *ag)
{
	struct bpf_program *prog = lb_loader_program(&ag->loader, CONN_SWEEP_PROG);
	struct agent_conn_sweep *sw = &ag->conn_sweep;

	memset(sw, 0, sizeof(*sw));
	sw->home_ns = -1;
	if (!prog) {
		agent_log("%s", connpool_close_note(connpool_kernel_has_sock_destroy()));
		return 0;
	}
	sw->home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	sw->netns = calloc(1, sizeof(*sw->netns));
	if (sw->home_ns >= 0 && sw->netns)
		sw->link = bpf_program__attach_iter(prog, NULL);
	if (!sw->link) {
		int err = -errno;

		agent_log("connectionPool.tcp maxConnectionDuration and idleTimeout are not "
			  "enforced: Failed to attach the connection sweep: %d", err);
		return 0;
	}
	sw->hz = sweep_kernel_hz(ag->loader.objs[LB_OBJ_CONN_SWEEP]);
	agent_log("connectionPool.tcp maxConnectionDuration and idleTimeout enforced: "
		  "connection sweep every %d ms (every %d ms while a limit is under %d ms)%s",
		  CONN_SWEEP_MS, AGENT_TICK_MS, CONN_SWEEP_SHORT_MS,
		  sw->hz ? "" : "; idleTimeout is not: the kernel's HZ is unknown "
			       "(no CONFIG_HZ in its config)");
	return 0;
}

void agent_conn_sweep_stop(struct agent *ag)
{
	struct agent_conn_sweep *sw = &ag->conn_sweep;

	bpf_link__destroy(sw->link);
	sw->link = NULL;
	if (sw->netns)
		netns_set_clear(sw->netns);
	free(sw->netns);
	sw->netns = NULL;
	if (sw->home_ns >= 0)
		close(sw->home_ns);
	sw->home_ns = -1;
}

/* The smallest maxConnectionDuration or idleTimeout in the version in
 * force, in ms; 0 when none is set. */
static __u64 smallest_limit_ms(const struct agent *ag)
{
	__u64 least = 0, v;
	size_t i;

	if (!ag->have_img)
		return 0;
	for (i = 0; i < ag->img.n_sets; i++) {
		const struct connpool_cfg *c = &ag->img.sets[i].pool;

		v = c->flags & BPFMESH_CONNPOOL_F_DURATION ? c->max_duration_ns / 1000000 : 0;
		if (v && (!least || v < least))
			least = v;
		v = c->flags & BPFMESH_CONNPOOL_F_IDLE ? c->idle_timeout_ns / 1000000 : 0;
		if (v && (!least || v < least))
			least = v;
	}
	return least;
}

__u64 agent_conn_sweep_interval_ms(const struct agent *ag)
{
	__u64 least = smallest_limit_ms(ag);

	return least && least < CONN_SWEEP_SHORT_MS ? AGENT_TICK_MS : CONN_SWEEP_MS;
}

/* One walk over the TCP sockets of the namespace ns_fd (-1: this
 * thread's). 0 or negative errno. */
static int sweep_namespace(struct agent_conn_sweep *sw, int ns_fd)
{
	char buf[64];
	ssize_t n;
	int fd, err = 0;

	if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET))
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(sw->link));
	if (fd < 0)
		err = -errno;
	/* Back home before anything else: the agent's sockets (metrics, the
	 * API server) belong there. */
	if (ns_fd >= 0 && setns(sw->home_ns, CLONE_NEWNET)) {
		agent_log("Failed to return to the agent's network namespace: %d", -errno);
		abort();
	}
	if (fd < 0)
		return err;
	do
		n = read(fd, buf, sizeof(buf)); /* the program prints nothing */
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

static void refresh_namespaces(struct agent *ag, __u64 now_ms)
{
	struct agent_conn_sweep *sw = &ag->conn_sweep;
	size_t dropped = sw->netns->dropped;
	int err;

	if (sw->netns_at_ms && now_ms - sw->netns_at_ms < CONN_NETNS_REFRESH_MS)
		return;
	sw->netns_at_ms = now_ms;
	err = netns_set_refresh(sw->netns, ag->cgroup);
	if (err)
		agent_log("Failed to list the network namespaces of %s: %d", ag->cgroup, err);
	if (sw->netns->dropped && !dropped)
		agent_log("connection sweep: more than %d network namespaces in %s, %zu left "
			  "out", NETNS_SET_MAX, ag->cgroup, sw->netns->dropped);
}

/* One walk over the TCP sockets of every namespace a managed process is
 * in. 0 or the first negative errno. */
int agent_conn_sweep_run(struct agent *ag)
{
	struct agent_conn_sweep *sw = &ag->conn_sweep;
	__u64 t0 = clock_ns();
	int err, first;
	size_t i;

	refresh_namespaces(ag, t0 / 1000000);
	first = sweep_namespace(sw, -1);
	for (i = 0; i < sw->netns->n; i++) {
		err = sweep_namespace(sw, sw->netns->fd[i]);
		if (err && !first)
			first = err;
	}
	sw->runs++;
	sw->last_run_ns = clock_ns() - t0;
	return first;
}

void agent_conn_sweep_tick(struct agent *ag)
{
	struct agent_conn_sweep *sw = &ag->conn_sweep;
	__u64 now = clock_ns() / 1000000;
	int err;

	if (!sw->link || now - sw->last_ms < agent_conn_sweep_interval_ms(ag))
		return;
	sw->last_ms = now;
	err = agent_conn_sweep_run(ag);
	if (err && err != sw->last_err)
		agent_log("Failed to run the connection sweep: %d (%s)", err, strerror(-err));
	sw->last_err = err;
}
