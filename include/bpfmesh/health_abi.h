/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_HEALTH_ABI_H
#define BPFMESH_HEALTH_ABI_H
/*
 * Layouts of the health maps (connection outcomes, latency histograms,
 * outlier ejection), shared by the BPF programs, the agent, the CLI and the
 * tests. Byte order lives in the type: __be* fields are in network order,
 * everything else host order. Maps: bpf/lib/health_maps.h; kernel logic:
 * bpf/lib/health.h and bpf/sockops.bpf.c; pure arithmetic: outlier.h, hist.h.
 *
 * Slots. The agent gives every (service, subset, port, endpoint) a dense
 * endpoint slot and every cluster (Envoy's word: host + subset + port) a dense
 * cluster slot, both stable across policy versions (Katran's habit: counters
 * are arrays indexed by slot, so nothing on a connection hashes or allocates
 * to count). Slot 0 of each is reserved and means "none": a backend written
 * without a slot is neither counted nor ejected. A freed slot is reused only
 * after a grace period, and the agent then either carries its counters to the
 * new owner or zeroes every map entry of the slot explicitly.
 *
 * Slot rules (user/apply/plan.c assigns, user/apply/apply.c recovers):
 *  - a cluster slot per cluster, keyed by its name "host/subset:port" (or
 *    "host:port"); svc_dest.cluster_slot carries it to connect4, and
 *    cluster_cfg.name_id names it (names map), so a slot is named from the
 *    kernel alone. cluster_cfg.name_id != 0 marks the slot assigned.
 *  - an endpoint slot per (cluster slot, endpoint addr:port);
 *    backend_val.slot carries it to connect4, ep_health.{cluster_slot,
 *    addr, port} name it. ep_health.cluster_slot != 0 marks it assigned.
 *  - the lowest free slot is taken; a slot whose owner left the policy is
 *    retired and reused only APPLY_GRACE_MS later (no connect can still be
 *    placing on it), and an endpoint slot only once its ejection ended (the
 *    sweep returns it, which keeps the cluster's ejected count exact). When
 *    a slot is given to a new owner, the plan's steps write every entry of
 *    it explicitly (zeroed ep_counters_elem and the new owner in
 *    ep_health; for a cluster slot zeroed cluster_state and cluster_hists
 *    and its cluster_cfg) before any backend set names it: counters are
 *    never silently carried to a new owner.
 *  - an endpoint keeps its slot while it stays in the policy (ejected or
 *    not); one that leaves and comes back before its slot is reused gets it
 *    back (counters stay monotonic), and so does a cluster, by name. When a
 *    cluster slot passes to a new cluster, the retired endpoint owners of
 *    the old one are dropped (state and ep_health zeroed), so no key ever
 *    owns two slots.
 *  - on restart the agent reads ep_health and cluster_cfg back: same owner,
 *    same slot, counters intact (an endpoint named by a set or ejected is
 *    live; a cluster named by a service is live).
 *  A connection placed before a slot was retired and closing after its reuse
 *  (longer than the grace period) is counted to the new owner: the one known
 *  inexactness, as in Katran.
 *
 * How it is wired:
 *  - connect4 (bpf/sock_addr.bpf.c, bpf/lib/lb.h lb4_pick_usable): draw as
 *    before, accept an endpoint that health4_slot_is_usable() (any in
 *    panic), redraw up to BPFMESH_PICK_TRIES, then scan up to
 *    BPFMESH_PICK_SCAN slots from a random one, then refuse ECONNREFUSED
 *    counted as no healthy upstream. health4_place_conn() is the one
 *    sk_storage get with F_CREATE; getpeername4 reads vip_* from it.
 *  - the loader attaches bpf/sockops.bpf.c (cgroup sockops) beside connect4
 *    and loads the sweep program; the maps are shared by pin name, sized by
 *    the agent's --max-endpoints / --max-clusters (a pinned map is re-adopted
 *    at the size it was created with).
 *  - the agent writes cluster_cfg from the effective outlierDetection,
 *    polls the events ring buffer and logs ejections and returns by name,
 *    rewrites backend sets without ejected endpoints (outside panic), runs
 *    the sweep each second so that endpoints return on time.
 *
 * Memory (max_entries fixed at map creation; arrays are preallocated):
 *   per endpoint slot: ep_counters_elem 128 B (shared) + ep_health 80 B;
 *   per cluster slot: cluster_hists 2,256 B + cluster_cfg 56 B +
 *   cluster_state 64 B.
 *   Histograms are kept per cluster slot, not per endpoint slot: per
 *   endpoint they alone would be 22.6 MB at 10,000 endpoints; the metrics
 *   export histograms per cluster anyway. They are one shared array with
 *   atomic adds, not per-CPU (touched once or twice per connection).
 *   Agent defaults (--max-endpoints 16384, --max-clusters 4096):
 *       any number of CPUs: 16384 x (128 + 80) + 4096 x 2,376 = 3.4 + 9.7 = 13.1 MB
 *   (the per-CPU counters of _v1 were 88 B x nr_cpus a slot: 92 MB at 64 CPUs).
 *   Measured total of every bpfmesh map (backends and names sized from the
 *   same options) at 1,000 services x 10 endpoints, 2 CPUs, defaults:
 *   17.7 MB (bpftool map show, bytes_memlock; table in docs/health.md).
 */

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif
#include "hist.h"

/* Default sizes (agent --max-endpoints / --max-clusters); slot 0 reserved. */
#ifndef BPFMESH_MAX_EP_SLOTS
#define BPFMESH_MAX_EP_SLOTS 16384
#endif
#ifndef BPFMESH_MAX_CLUSTERS
#define BPFMESH_MAX_CLUSTERS 4096
#endif
#define BPFMESH_HEALTH_EVENTS_BYTES (64 * 1024) /* ring buffer: 2,048 events */
#define BPFMESH_PICK_TRIES 4 /* draws before a pick scans past ejected endpoints */
#define BPFMESH_PICK_SCAN 32 /* set slots scanned, from a random one, after the draws */

/* Socket storage of a connection connect4 or connect6 placed (replaces
 * sock_origdst). An IPv6 VIP is in vip6 (BPFMESH_CONN_F_VIP6); an IPv4 one,
 * also one reached as ::ffff:a.b.c.d from an IPv6 socket, in vip_addr. */
struct sock_conn {
	__be32 vip_addr;     /* what the application connected to (IPv4) */
	__be16 vip_port;
	__u16 flags;         /* BPFMESH_CONN_F_* */
	__u32 ep_slot;       /* endpoint chosen, 0 = none (not counted) */
	__u32 cluster_slot;  /* its cluster */
	__u64 start_ns;      /* bpf_ktime_get_ns() when connect4 placed it */
	__be32 vip6[4];      /* the IPv6 VIP, with BPFMESH_CONN_F_VIP6 */
	__be32 ep_addr[4];   /* the endpoint chosen, as backend_val holds it: */
	__be16 ep_port;      /* UDP replies from it are shown as from the VIP */
	__u8 proto;          /* BPFMESH_PROTO_* of the placement */
	__u8 pad;
	__u32 set_id;        /* the backend set it came from: a UDP socket keeps
			      * its endpoint while a route still names the set */
	/* _v3: what had a socket storage of its own (one record, one
	 * allocation a connection; bpf/lib/sock_conn.h). */
	__u64 pool_slot;     /* cluster slot counted in maxConnections; 0 = not
			      * (any more): cleared once by cmpxchg (connpool.h) */
	__u32 identity;      /* caller identity for the counters by source, 0 =
			      * unknown (stats_src.h) */
	__u32 pad2;
	__u64 established_ns; /* handshake done (bpf_ktime_get_ns), written by
			       * sockops for clusters with maxConnectionDuration
			       * (connpool.h); 0: not written */
};

/* The first 64 bytes: the layout of bpfmesh_sock4_conn_v2, which the
 * programs before _v3 wrote and the new ones still read for connections
 * placed before an upgrade (bpf/lib/sock_conn.h sock_conn_adopt). */
#define BPFMESH_SOCK_CONN_V2_SIZE 64

enum bpfmesh_conn_flags {
	BPFMESH_CONN_F_PLACED = 1 << 0,      /* connect4 chose an endpoint */
	BPFMESH_CONN_F_OPENED = 1 << 1,      /* sockops saw the SYN go out */
	BPFMESH_CONN_F_ESTABLISHED = 1 << 2, /* handshake completed */
	BPFMESH_CONN_F_CLOSED = 1 << 3,      /* outcome counted, once */
	BPFMESH_CONN_F_NO_SOCKMAP = 1 << 4,  /* not accelerated (sockmap_abi.h) */
	BPFMESH_CONN_F_VIP6 = 1 << 5,        /* the VIP is IPv6: vip6 */
};

/* Why a connection ended badly. FAIL_* happen before the handshake completed
 * and are outlier failures; RESET and ABORTED are counted but are not. */
enum bpfmesh_conn_end {
	BPFMESH_END_FAIL_REFUSED = 0, /* RST answered the SYN (ECONNREFUSED) */
	BPFMESH_END_FAIL_TIMEOUT,     /* SYN retries or user timeout ran out (ETIMEDOUT) */
	BPFMESH_END_FAIL_RESET,       /* reset before established (ECONNRESET) */
	BPFMESH_END_FAIL_OTHER,       /* any other error before established (unreachable, ...) */
	BPFMESH_END_RESET,            /* reset after established */
	BPFMESH_END_ABORTED,          /* closed by the application before established */
	BPFMESH_END_NORMAL,           /* closed after established without error */
};

/* Per endpoint slot: what happened to the connections placed there (in
 * ep_counters_elem; per CPU in the _v1 map, summed over CPUs to read).
 * Monotonic while the pinned map lives, and across the _v1 -> _v2 upgrade
 * (user/kern/counters_migrate.c). */
struct ep_counters {
	__u64 opened;       /* SYN sent (Istio: connections opened) */
	__u64 established;  /* handshake completed */
	__u64 closed;       /* ended, for any reason (Istio: connections closed) */
	__u64 fail_refused; /* BPFMESH_END_FAIL_REFUSED */
	__u64 fail_timeout; /* BPFMESH_END_FAIL_TIMEOUT */
	__u64 fail_reset;   /* BPFMESH_END_FAIL_RESET */
	__u64 fail_other;   /* BPFMESH_END_FAIL_OTHER */
	__u64 reset;        /* BPFMESH_END_RESET */
	__u64 aborted;      /* BPFMESH_END_ABORTED */
	/* Payload bytes: what TCP carried (sockops, at close) plus what the
	 * sk_msg program redirected past TCP (sockmap_abi.h, as it is sent). */
	__u64 bytes_sent;   /* client to server, acked (Istio: received bytes) */
	__u64 bytes_received; /* server to client (Istio: sent bytes) */
};

/* The value of bpfmesh_health4_counters_v2: one slot's counters, shared
 * by all CPUs (atomic adds), padded to two cache lines. The map is
 * mmapable, which page-aligns its values, so no two slots share a cache
 * line (why shared and not per-CPU: bpf/lib/health_maps.h). */
struct ep_counters_elem {
	struct ep_counters c;
	__u64 pad[5];
};

/* One log-linear histogram (hist.h) with the sum of what it counted. */
struct hist {
	__u64 sum;
	__u64 buckets[BPFMESH_HIST_BUCKETS];
};

/* Per cluster slot, shared by all CPUs (atomic adds): latency shapes.
 * 2,256 B a slot, the largest per-slot cost of the maps (9 MiB at the
 * default 4,096 slots, more than every other map at 1,000 services), so
 * kept only when asked (agent --cluster-histograms): Istio's TCP metrics
 * are counters only (istio_tcp_connections_opened_total and the like),
 * and Envoy's per-cluster timing stats are off in Istio unless its
 * proxyStatsMatcher asks for them. Without the option the map has one
 * entry, slot 0, which no cluster is given: sockops' lookup of a cluster's
 * histograms finds none and counts nothing more (bpf/sockops.bpf.c), the
 * metrics have no histogram and `bpfmesh stats` no p50/p99. Given later,
 * the maps grow at that start (user/kern/loader.c, map_grow.h). */
struct cluster_hists {
	struct hist connect_us;  /* connect() to established, established ones */
	struct hist rtt_us;      /* smoothed RTT at close, established ones */
	struct hist duration_ms; /* connect() to close, established ones */
};

/* Per endpoint slot: outlier state. Written by the kernel (atomics) except
 * cluster_slot, which the agent writes when it assigns the slot. */
struct ep_health {
	__u64 ejected_until_ns;  /* 0 = in service; BPFMESH_EJECTING = being ejected */
	__u64 returned_at_ns;    /* last return to service (ejection backoff decay) */
	__u64 cons_5xx;          /* consecutive failures counted as 5xx */
	__u64 cons_gateway;      /* consecutive failures counted as gateway errors */
	__u64 cons_local_origin; /* consecutive local-origin failures (split mode) */
	__u64 ejections;         /* times ejected since the slot was zeroed */
	__u32 times_ejected;     /* Envoy's ejection backoff multiplier */
	__u32 cluster_slot;      /* agent-written; 0 = slot not assigned */
	__be32 addr;             /* agent-written: the endpoint, so a slot is */
	__be16 port;             /* named from the kernel alone (IPv4; 0 for IPv6) */
	__u8 family;             /* BPFMESH_AF_INET6, or AF_INET (0: an older agent's) */
	__u8 pad;
	__be32 addr6[4];         /* agent-written: an IPv6 endpoint's address */
};

/* ejected_until_ns while one CPU is ejecting the endpoint: reads as ejected,
 * and can never pass, so no other CPU returns it meanwhile. */
#define BPFMESH_EJECTING (~0ULL)

enum bpfmesh_cluster_flags {
	BPFMESH_CLUSTER_F_OUTLIER = 1 << 0,     /* outlierDetection set: eject */
	BPFMESH_CLUSTER_F_SPLIT_LOCAL = 1 << 1, /* splitExternalLocalOriginErrors */
};

/* Per cluster slot: the effective outlier config, agent-written from the
 * DestinationRule (Istio's block replacement already applied). A threshold
 * of 0 is not enforced (Istio sets enforcing_* to 0 for a 0 or unset value;
 * the agent writes Istio's defaults). The kernel only reads it; an update
 * racing a read can mix old and new fields for one decision, which is
 * harmless since each field is valid on its own. */
struct cluster_cfg {
	__u32 consecutive_5xx;          /* consecutive5xxErrors */
	__u32 consecutive_gateway;      /* consecutiveGatewayErrors */
	__u32 consecutive_local_origin; /* consecutiveLocalOriginFailures */
	__u32 flags;                    /* BPFMESH_CLUSTER_F_* */
	__u64 interval_ns;              /* interval */
	__u64 base_ejection_ns;         /* baseEjectionTime */
	__u64 max_ejection_ns;          /* Envoy max_ejection_time; 0 = max(300 s, base) */
	__u32 max_ejection_percent;     /* maxEjectionPercent, 0..100 */
	__u32 min_health_percent;       /* minHealthPercent: Envoy's panic threshold */
	__u32 total_endpoints;          /* endpoints in the cluster */
	__u32 name_id;                  /* names map id of the cluster; 0 = not assigned */
};

/* Per cluster slot: live state, written by the kernel only (atomics). */
struct cluster_state {
	__u64 ejected;             /* endpoints ejected now (<= the max percent bound) */
	__u64 ejections;           /* ejections so far */
	__u64 ejections_overflow;  /* ejections refused by maxEjectionPercent */
	__u64 returns;             /* returns to service so far */
	__u64 no_healthy_upstream; /* connects refused: nothing usable (Istio UH) */
	__u64 overflow;            /* connects refused by a connection limit (Istio UO) */
	__u64 events_lost;         /* ring buffer full: event not delivered */
	__u64 pad;
};

enum bpfmesh_health_event_kind {
	BPFMESH_EV_EJECT = 1,         /* endpoint ejected until until_ns */
	BPFMESH_EV_RETURN = 2,        /* endpoint back in service */
	BPFMESH_EV_EJECT_OVERFLOW = 3, /* would have been ejected: maxEjectionPercent */
};

/* One record of the events ring buffer. */
struct health_event {
	__u32 ep_slot;
	__u32 cluster_slot;
	__u32 kind;          /* enum bpfmesh_health_event_kind */
	__u32 times_ejected; /* backoff multiplier after the event */
	__u64 until_ns;      /* EJECT: end of the ejection (CLOCK_MONOTONIC) */
	__u64 at_ns;         /* when it happened (CLOCK_MONOTONIC) */
};

/* Context of the sweep program (bpfmesh_health_sweep, run by the agent with
 * BPF_PROG_TEST_RUN): returns the endpoints of a slot range whose ejection
 * has ended, which no pick may draw once the agent has taken them out of
 * the backend sets, and reports a cluster's panic state. */
struct health_sweep_args {
	__u32 first_slot;   /* in: first endpoint slot */
	__u32 n_slots;      /* in: how many (at most BPFMESH_SWEEP_MAX_SLOTS) */
	__u32 cluster_slot; /* in: cluster whose panic state to report, 0 = none */
	__u32 returned;     /* out: endpoints whose ejection had ended, now back */
	__u32 ejected;      /* out: endpoints of the range still ejected */
	__u32 in_panic;     /* out: the cluster is below minHealthPercent */
};

#define BPFMESH_SWEEP_MAX_SLOTS (1u << 20)

_Static_assert(sizeof(struct health_sweep_args) == 24, "health_sweep_args layout");
_Static_assert(sizeof(struct sock_conn) == 88, "sock_conn layout");
_Static_assert(__builtin_offsetof(struct sock_conn, pool_slot) == BPFMESH_SOCK_CONN_V2_SIZE,
	       "sock_conn _v2 prefix");
_Static_assert(sizeof(struct ep_counters) == 88, "ep_counters layout");
_Static_assert(sizeof(struct ep_counters_elem) == 128, "ep_counters_elem layout");
_Static_assert(sizeof(struct hist) == 8 * (1 + BPFMESH_HIST_BUCKETS), "hist layout");
_Static_assert(sizeof(struct cluster_hists) == 2256, "cluster_hists layout");
_Static_assert(sizeof(struct ep_health) == 80, "ep_health layout");
_Static_assert(sizeof(struct cluster_cfg) == 56, "cluster_cfg layout");
_Static_assert(sizeof(struct cluster_state) == 64, "cluster_state layout");
_Static_assert(sizeof(struct health_event) == 32, "health_event layout");

#ifndef __BPF__
/* The owner address of an endpoint slot, as backend_val holds it (IPv4 in
 * addr[0], the rest zero; or IPv6), and its family (BPFMESH_AF_*: 2, 10). */
static inline void ep_health_set_addr(struct ep_health *h, __u8 family, const __be32 addr[4])
{
	int i;

	h->family = family;
	h->addr = family == 10 ? 0 : addr[0];
	for (i = 0; i < 4; i++)
		h->addr6[i] = family == 10 ? addr[i] : 0;
}

static inline __u8 ep_health_get_addr(const struct ep_health *h, __be32 addr[4])
{
	int i;

	for (i = 0; i < 4; i++)
		addr[i] = h->family == 10 ? h->addr6[i] : (i == 0 ? h->addr : 0);
	return h->family == 10 ? 10 : 2; /* 0: written by an agent without IPv6 */
}
#endif

/* Pinned map names (pinned by name under the agent's bpffs directory). */
#define BPFMESH_MAP_SOCK_CONN "bpfmesh_sock4_conn_v3"
/* The records of the releases before: read for connections they placed. */
#define BPFMESH_MAP_SOCK_CONN_V2 "bpfmesh_sock4_conn_v2"
#define BPFMESH_MAP_EP_COUNTERS "bpfmesh_health4_counters_v2"
/* The previous layout (per-CPU struct ep_counters), read once on upgrade. */
#define BPFMESH_MAP_EP_COUNTERS_V1 "bpfmesh_health4_counters_v1"
#define BPFMESH_MAP_EP_HISTS "bpfmesh_health4_hists_v1"
#define BPFMESH_MAP_EP_HEALTH "bpfmesh_health4_endpoints_v2"
#define BPFMESH_MAP_CLUSTER_CFG "bpfmesh_health4_cluster_cfg_v1"
#define BPFMESH_MAP_CLUSTER_STATE "bpfmesh_health4_clusters_v1"
#define BPFMESH_MAP_HEALTH_EVENTS "bpfmesh_health4_events_v1"

#endif /* BPFMESH_HEALTH_ABI_H */
