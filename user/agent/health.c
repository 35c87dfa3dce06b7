// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's side of outlier ejection (include/bpfmesh/health_abi.h): the
 * kernel ejects and returns endpoints by itself; the agent
 *  - logs each ejection and return by name, from the events ring buffer;
 *  - rewrites the affected backend sets without the ejected endpoints (the
 *    same atomic set switch as a policy change: plan.c leaves them out
 *    unless the cluster is in panic), so picks rarely meet one;
 *  - runs the sweep program each HEALTH_SWEEP_MS, which returns endpoints
 *    whose ejection ended (no pick draws them once they are out of the
 *    sets, so nothing else would), each return announced by an event.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include "agent.h"
#include "kern/health_read.h"

#define HEALTH_SWEEP_MS 250
/* Slots swept between two looks at the agent's sources. The whole range is
 * max_endpoints (221,024 slots in `make k8s-latency`: 2.7-5 ms in one go,
 * and an endpoint change that came meanwhile waited for all of it); a
 * slice is about 0.5 ms. */
#define HEALTH_SWEEP_SLICE 32768

static __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* "1st", "2nd", "3rd", "4th", ... "11th", "21st" */
static const char *ordinal_suffix(__u32 n)
{
	if (n % 100 >= 11 && n % 100 <= 13)
		return "th";
	switch (n % 10) {
	case 1: return "st";
	case 2: return "nd";
	case 3: return "rd";
	}
	return "th";
}

/* The endpoint's and cluster's names, from the slot tables. */
static void slot_names(const struct agent *ag, const struct health_event *ev, char *ep,
		       size_t ep_len, const char **cluster)
{
	const struct apply_slots *s = &ag->applier.state.slots;
	struct ep_health h = {};

	*cluster = "?";
	snprintf(ep, ep_len, "slot %u", ev->ep_slot);
	if (ev->ep_slot < s->max_endpoints && s->eps[ev->ep_slot].cluster_slot) {
		ep_health_set_addr(&h, s->eps[ev->ep_slot].family, s->eps[ev->ep_slot].addr);
		h.port = s->eps[ev->ep_slot].port;
		health_endpoint_addr(&h, ep, ep_len);
	}
	if (ev->cluster_slot < s->max_clusters && s->cls[ev->cluster_slot].name[0])
		*cluster = s->cls[ev->cluster_slot].name;
}

/* A cluster held at maxEjectionPercent refuses an ejection on every
 * failure: logged once per cluster every OVERFLOW_LOG_MS, with the count
 * (the kernel counts each in cluster_state.ejections_overflow). */
#define OVERFLOW_LOG_MS 10000
static void log_overflow(struct agent *ag, const struct health_event *ev, const char *ep,
			 const char *cluster)
{
	__u64 now = mono_ms();

	ag->overflow_unlogged++;
	if (ag->overflow_logged_ms && now - ag->overflow_logged_ms < OVERFLOW_LOG_MS &&
	    ev->cluster_slot == ag->overflow_cluster)
		return;
	agent_log("kept %s of %s in service: maxEjectionPercent reached (%llu such "
		  "ejections refused since the last line)", ep, cluster,
		  (unsigned long long)ag->overflow_unlogged);
	ag->overflow_logged_ms = now;
	ag->overflow_cluster = ev->cluster_slot;
	ag->overflow_unlogged = 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct health_event *ev = data;
	struct agent *ag = ctx;
	const char *cluster;
	char ep[48];

	if (len < sizeof(*ev))
		return 0;
	slot_names(ag, ev, ep, sizeof(ep), &cluster);
	switch (ev->kind) {
	case BPFMESH_EV_EJECT:
		agent_log("ejected %s of %s for %g s (%u%s time)", ep, cluster,
			  (double)(ev->until_ns - ev->at_ns) / 1e9, ev->times_ejected,
			  ordinal_suffix(ev->times_ejected));
		if (applier_set_ejected(&ag->applier, ev->ep_slot, true))
			return -ENOMEM;
		ag->sets_stale = true;
		break;
	case BPFMESH_EV_RETURN:
		agent_log("returned %s of %s to service", ep, cluster);
		if (applier_set_ejected(&ag->applier, ev->ep_slot, false))
			return -ENOMEM;
		ag->sets_stale = true;
		break;
	case BPFMESH_EV_EJECT_OVERFLOW:
		log_overflow(ag, ev, ep, cluster);
		break;
	}
	return 0;
}

static int on_events_ready(struct agent *ag, int fd)
{
	int n = ring_buffer__consume(ag->events);

	if (n < 0)
		agent_log("Failed to read health events: %d", n);
	agent_health_tick(ag);
	return 0;
}

/* Return the endpoints whose ejection is over (their events follow). */
/* Slots [first, first + n): false if the program failed (logged once). */
static bool sweep_slots(struct agent *ag, __u32 first, __u32 n)
{
	struct health_sweep_args args = { .first_slot = first, .n_slots = n };
	/* A syscall program's ctx comes back through ctx_in; the kernel
	 * refuses ctx_out for this program type (EINVAL). */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));

	if (bpf_prog_test_run_opts(ag->sweep_fd, &opts)) {
		/* Once: the data plane still returns endpoints a pick meets. */
		agent_log("Failed to run the health sweep: %d; ejected endpoints return "
			  "only when drawn", -errno);
		ag->sweep_fd = -1;
		return false;
	}
	if (args.returned)
		ring_buffer__consume(ag->events);
	return true;
}

/* Every slot from ag->sweep_next_slot (1: a new round) in slices; an event
 * waiting stops it there, and the next tick resumes (the loop ticks after
 * each event it handles). */
static void run_sweep(struct agent *ag)
{
	__u32 end = ag->loader.sizes.max_endpoints, first = ag->sweep_next_slot;

	if (!first)
		first = 1; /* slot 0 is no endpoint */
	while (first < end) {
		__u32 n = end - first < HEALTH_SWEEP_SLICE ? end - first : HEALTH_SWEEP_SLICE;

		if (!sweep_slots(ag, first, n))
			break;
		first += n;
		if (first < end && agent_events_pending(ag)) {
			ag->sweep_next_slot = first;
			return;
		}
	}
	ag->sweep_next_slot = 0;
}

void agent_health_tick(struct agent *ag)
{
	struct apply_stats st;
	__u64 now = mono_ms();
	int err;

	if (ag->sweep_fd >= 0 && ag->sweep_next_slot) {
		run_sweep(ag); /* the rest of a round an event stopped */
	} else if (ag->sweep_fd >= 0 && now - ag->last_sweep_ms >= HEALTH_SWEEP_MS) {
		ag->last_sweep_ms = now;
		run_sweep(ag);
	}
	if (!ag->sets_stale || !ag->have_img)
		return;
	err = applier_apply(&ag->applier, &ag->img, &st);
	if (err) {
		agent_log("Failed to rewrite backend sets after ejections: %d", err);
		return; /* the kernel still skips ejected endpoints; try again next tick */
	}
	ag->sets_stale = false;
	agent_locality_publish(ag);
	agent_log("backend sets rewritten: %zu ejected endpoints left out (generation %u)",
		  st.counts.ejected_out, ag->applier.state.generation);
}

int agent_health_start(struct agent *ag)
{
	int fds[__APPLY_MAP_MAX] = {}, ev_fd, ncpu = libbpf_num_possible_cpus();
	struct bpf_program *sweep = lb_loader_program(&ag->loader, "bpfmesh_health_sweep");
	int err;

	fds[APPLY_MAP_EP_COUNTERS] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_EP_COUNTERS);
	fds[APPLY_MAP_EP_HEALTH] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_EP_HEALTH);
	fds[APPLY_MAP_CLUSTER_CFG] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_CLUSTER_CFG);
	fds[APPLY_MAP_CLUSTER_STATE] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_CLUSTER_STATE);
	fds[APPLY_MAP_CLUSTER_HISTS] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_EP_HISTS);
	fds[APPLY_MAP_LB_POLICY] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_LB_POLICY);
	fds[APPLY_MAP_LB_TABLES] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_LB_TABLES);
	fds[APPLY_MAP_CONNPOOL_CFG] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_CONNPOOL_CFG);
	fds[APPLY_MAP_SRC_COUNTERS] = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_SRC_COUNTERS);
	if (ncpu <= 0)
		return -EINVAL;
	ag->applier.maps_fresh = !ag->loader.adopted;
	ag->applier.hist_clusters = ag->loader.sizes.hist_clusters;
	err = applier_adopt_slots(&ag->applier, fds, ag->loader.sizes.max_endpoints,
				  ag->loader.sizes.max_clusters, ncpu);
	if (err)
		return err;
	ag->sweep_fd = sweep ? bpf_program__fd(sweep) : -1;
	ev_fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_HEALTH_EVENTS);
	ag->events = ring_buffer__new(ev_fd, on_event, ag, NULL);
	if (!ag->events)
		return -errno;
	return agent_add_source(ag, ring_buffer__epoll_fd(ag->events), "health events",
				on_events_ready);
}

void agent_health_stop(struct agent *ag)
{
	ring_buffer__free(ag->events);
	ag->events = NULL;
}
