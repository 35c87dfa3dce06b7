/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_HEALTH_H
#define BPFMESH_HEALTH_H
/*
 * Connection health and outlier ejection in the kernel: the helpers
 * connect4 and sockops share. The arithmetic is include/bpfmesh/outlier.h
 * and hist.h (unit-tested); this file holds the map accesses and the
 * atomics that make each decision happen once when several CPUs fail or
 * succeed at the same time.
 *
 * connect4 uses them through lb4_pick_usable() (bpf/lib/lb.h): an ejected
 * endpoint that is drawn is rejected and another drawn, which keeps the
 * weights of the others exactly renormalised (rejection sampling); the
 * agent makes that rare by rewriting the backend set without the ejected
 * endpoints on each ejection event. Such an endpoint is never drawn, so no
 * pick returns it: the agent runs the sweep program (bpfmesh_health_sweep
 * in bpf/sockops.bpf.c) each second, which returns it in the kernel with
 * the same cmpxchg (decided, counted and announced once), and puts it back
 * into the set on the RETURN event. The cluster slot comes from
 * svc_dest.cluster_slot (connect4) and ep_health.cluster_slot (sockops).
 *
 * Fails open: an endpoint with no slot (0), or a slot beyond the maps, is
 * always usable and never counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "health_maps.h"
#include <bpfmesh/outlier.h>
#include <bpfmesh/hist.h>

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#endif

/* Keep the compiler from folding a bounds check the verifier needs. */
#define health4_opaque(x) asm volatile("" : "+r"(x))

static __always_inline struct ep_health *health4_ep(__u32 ep_slot)
{
	if (ep_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_health4_endpoints_v2, &ep_slot);
}

/* The counters of an endpoint slot, shared by all CPUs: count with
 * health4_count() or __sync_fetch_and_add (health_maps.h). */
static __always_inline struct ep_counters *health4_counters(__u32 ep_slot)
{
	struct ep_counters_elem *e;

	if (ep_slot == 0)
		return NULL;
	e = bpf_map_lookup_elem(&bpfmesh_health4_counters_v2, &ep_slot);
	return e ? &e->c : NULL;
}

static __always_inline struct cluster_hists *health4_hists(__u32 cluster_slot)
{
	if (cluster_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_health4_hists_v1, &cluster_slot);
}

static __always_inline const struct cluster_cfg *health4_cluster_cfg(__u32 cluster_slot)
{
	if (cluster_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_health4_cluster_cfg_v1, &cluster_slot);
}

static __always_inline struct cluster_state *health4_cluster_state(__u32 cluster_slot)
{
	if (cluster_slot == 0)
		return NULL;
	return bpf_map_lookup_elem(&bpfmesh_health4_clusters_v1, &cluster_slot);
}

static __always_inline void health4_count(__u64 *counter)
{
	__sync_fetch_and_add(counter, 1);
}

/* Add v to a log-linear histogram (shared by all CPUs: atomic adds). */
static __always_inline void health4_hist_add(struct hist *h, __u64 v)
{
	__u32 b = bpfmesh_hist_bucket(v);

	health4_opaque(b);
	if (b >= BPFMESH_HIST_BUCKETS)
		return;
	__sync_fetch_and_add(&h->buckets[b], 1);
	__sync_fetch_and_add(&h->sum, v);
}

static __always_inline void health4_emit(struct cluster_state *st, __u32 ep_slot,
					 __u32 cluster_slot, __u32 kind, __u32 times_ejected,
					 __u64 until_ns, __u64 now)
{
	struct health_event ev = {
		.ep_slot = ep_slot,
		.cluster_slot = cluster_slot,
		.kind = kind,
		.times_ejected = times_ejected,
		.until_ns = until_ns,
		.at_ns = now,
	};

	if (bpf_ringbuf_output(&bpfmesh_health4_events_v1, &ev, sizeof(ev), 0))
		health4_count(&st->events_lost);
}

/*
 * Return an endpoint whose ejection ended at until_ns. The cmpxchg from
 * until_ns to 0 succeeds on one CPU only, so the return is counted and
 * announced once. Envoy rule: on return the consecutive counters start
 * fresh; the time is kept so the next ejection can decay the backoff.
 */
static __always_inline int health4_try_return(struct ep_health *h, __u32 ep_slot, __u64 until,
					      __u64 now)
{
	struct cluster_state *st;
	__u32 cluster_slot;

	if (!bpfmesh_outlier_is_due_back(until, now))
		return 0;
	if (__sync_val_compare_and_swap(&h->ejected_until_ns, until, 0) != until)
		return 0;
	WRITE_ONCE(h->cons_5xx, 0);
	WRITE_ONCE(h->cons_gateway, 0);
	WRITE_ONCE(h->cons_local_origin, 0);
	WRITE_ONCE(h->returned_at_ns, now);
	cluster_slot = h->cluster_slot;
	st = health4_cluster_state(cluster_slot);
	if (!st)
		return 1;
	__sync_fetch_and_add(&st->ejected, -1);
	health4_count(&st->returns);
	health4_emit(st, ep_slot, cluster_slot, BPFMESH_EV_RETURN, h->times_ejected, 0, now);
	return 1;
}

enum health4_service {
	HEALTH4_IN_SERVICE = 0, /* not ejected */
	HEALTH4_EJECTED,        /* ejected, its time not over */
	HEALTH4_RETURNED,       /* its ejection was over: this call returned it */
};

/* Where an endpoint stands at `now`, returning it if its ejection is over
 * (lazily: so the data plane keeps working without the agent). */
static __always_inline int health4_service_state(__u32 ep_slot, __u64 now)
{
	struct ep_health *h = health4_ep(ep_slot);
	__u64 until;

	if (!h)
		return HEALTH4_IN_SERVICE;
	until = READ_ONCE(h->ejected_until_ns);
	if (until == 0)
		return HEALTH4_IN_SERVICE;
	if (!bpfmesh_outlier_is_due_back(until, now))
		return HEALTH4_EJECTED;
	/* Lost the race: another CPU returned it, which is in service too. */
	return health4_try_return(h, ep_slot, until, now) ? HEALTH4_RETURNED
							  : HEALTH4_IN_SERVICE;
}

/* May a new connection use this endpoint now? Not while it is ejected. */
static __always_inline int health4_slot_is_usable(__u32 ep_slot, __u64 now)
{
	return health4_service_state(ep_slot, now) != HEALTH4_EJECTED;
}

/* Envoy's panic threshold (minHealthPercent): below it, every endpoint of
 * the cluster is used, ejected or not. Endpoints due back but not yet
 * returned still count as ejected until a pick or the agent returns them. */
static __always_inline int health4_cluster_is_in_panic(__u32 cluster_slot)
{
	const struct cluster_cfg *cfg = health4_cluster_cfg(cluster_slot);
	struct cluster_state *st = health4_cluster_state(cluster_slot);

	if (!cfg || !st)
		return 0;
	return bpfmesh_outlier_in_panic(cfg->total_endpoints, READ_ONCE(st->ejected),
					cfg->min_health_percent);
}

/* A connect refused because nothing in the cluster was usable (Istio UH). */
static __always_inline void health4_count_no_healthy(__u32 cluster_slot)
{
	struct cluster_state *st = health4_cluster_state(cluster_slot);

	if (st)
		health4_count(&st->no_healthy_upstream);
}

/* A connect refused by a connection limit (Istio UO), once limits exist. */
static __always_inline void health4_count_overflow(__u32 cluster_slot)
{
	struct cluster_state *st = health4_cluster_state(cluster_slot);

	if (st)
		health4_count(&st->overflow);
}

/*
 * Eject an endpoint whose failure tripped the detector. Exactly once: the
 * cmpxchg 0 -> BPFMESH_EJECTING claims it (a concurrent claimant gives up).
 * Envoy rule (maxEjectionPercent): the cluster's ejected count is raised
 * first and the ejection kept only if 100 * ejected <= percent * total with
 * that count; otherwise the raise is undone. Every kept raise saw a count
 * within the bound, and a count only overstates the kept ejections, so
 * ejected never exceeds the bound (a race can refuse an ejection that a
 * moment later would have fitted, never the reverse).
 */
static __always_inline void health4_eject(struct ep_health *h, __u32 ep_slot, __u32 cluster_slot,
					  const struct cluster_cfg *cfg, __u64 now)
{
	struct cluster_state *st = health4_cluster_state(cluster_slot);
	struct bpfmesh_ejection e;
	__u64 ejected;

	if (!st)
		return;
	if (__sync_val_compare_and_swap(&h->ejected_until_ns, 0, BPFMESH_EJECTING) != 0)
		return;
	ejected = __sync_fetch_and_add(&st->ejected, 1) + 1;
	if (!bpfmesh_outlier_may_eject(ejected, cfg->total_endpoints, cfg->max_ejection_percent)) {
		__sync_fetch_and_add(&st->ejected, -1);
		WRITE_ONCE(h->ejected_until_ns, 0);
		health4_count(&st->ejections_overflow);
		health4_emit(st, ep_slot, cluster_slot, BPFMESH_EV_EJECT_OVERFLOW,
			     h->times_ejected, 0, now);
		return;
	}
	e = bpfmesh_outlier_eject(cfg, h->times_ejected, READ_ONCE(h->returned_at_ns), now);
	h->times_ejected = e.times_ejected;
	health4_count(&h->ejections);
	health4_count(&st->ejections);
	WRITE_ONCE(h->ejected_until_ns, e.until_ns);
	health4_emit(st, ep_slot, cluster_slot, BPFMESH_EV_EJECT, e.times_ejected, e.until_ns, now);
}

/* Envoy rule: a connect that completes resets the consecutive counters
 * (written only when set, so a healthy endpoint's line is not bounced
 * between CPUs). */
static __always_inline void health4_on_success(__u32 ep_slot)
{
	struct ep_health *h = health4_ep(ep_slot);

	if (!h)
		return;
	if (READ_ONCE(h->cons_5xx))
		WRITE_ONCE(h->cons_5xx, 0);
	if (READ_ONCE(h->cons_gateway))
		WRITE_ONCE(h->cons_gateway, 0);
	if (READ_ONCE(h->cons_local_origin))
		WRITE_ONCE(h->cons_local_origin, 0);
}

/*
 * A connect to this endpoint failed (refused, timed out, reset or otherwise
 * failed before established). Counts it toward the thresholds the cluster
 * enforces (outlier.h: which counters, when they trip) and ejects at once
 * on the failure that trips one. While ejected nothing is counted: Envoy
 * ignores trips of an ejected host and resets the counters on its return,
 * so counting then would change nothing.
 */
static __always_inline void health4_on_failure(__u32 ep_slot, __u64 now)
{
	struct ep_health *h = health4_ep(ep_slot);
	const struct cluster_cfg *cfg;
	__u32 which, cluster_slot;
	__u64 until;
	int trip = 0;

	if (!h)
		return;
	cluster_slot = h->cluster_slot;
	cfg = health4_cluster_cfg(cluster_slot);
	if (!cfg || !(cfg->flags & BPFMESH_CLUSTER_F_OUTLIER))
		return;
	until = READ_ONCE(h->ejected_until_ns);
	if (until != 0) {
		health4_try_return(h, ep_slot, until, now);
		return;
	}
	which = bpfmesh_outlier_failure_counters(cfg->flags);
	if (which & BPFMESH_OD_5XX)
		trip |= bpfmesh_outlier_trips(__sync_fetch_and_add(&h->cons_5xx, 1) + 1,
					      cfg->consecutive_5xx);
	if (which & BPFMESH_OD_GATEWAY)
		trip |= bpfmesh_outlier_trips(__sync_fetch_and_add(&h->cons_gateway, 1) + 1,
					      cfg->consecutive_gateway);
	if (which & BPFMESH_OD_LOCAL_ORIGIN)
		trip |= bpfmesh_outlier_trips(__sync_fetch_and_add(&h->cons_local_origin, 1) + 1,
					      cfg->consecutive_local_origin);
	if (trip)
		health4_eject(h, ep_slot, cluster_slot, cfg, now);
}

/*
 * connect4: write a placement into the socket's record (bpf/lib/sock_conn.h
 * sock_conn_new). ep_slot 0 keeps the VIP (for getpeername) without
 * counting. The pool mark is the socket's, whatever it is placed on
 * (connpool.h), and is left as it is.
 */
static __always_inline void health4_place_conn(struct sock_conn *c, __be32 vip_addr,
					       __be16 vip_port, __u32 ep_slot, __u32 cluster_slot)
{
	c->vip_addr = vip_addr;
	c->vip_port = vip_port;
	c->ep_slot = ep_slot;
	c->cluster_slot = cluster_slot;
	c->flags = ep_slot ? BPFMESH_CONN_F_PLACED : 0;
	c->start_ns = bpf_ktime_get_ns();
}

#endif /* BPFMESH_HEALTH_H */
