/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LB_ABI_H
#define BPFMESH_LB_ABI_H
/*
 * Layouts of the load-balancing maps, shared by the BPF programs, the agent,
 * the CLI and the tests. Byte order lives in the type: __be* fields are in
 * network order, everything else is host order.
 *
 * How a connect() is resolved (all lookups O(1)):
 *
 *   svc_key (VIP:port) --svc_ids--> service index   (hash, insert/delete only)
 *   service index --svc_heads--> svc_head.route_id   (array, one word per service)
 *   route_id --routes--> svc_val: weighted destinations (hash, insert/delete only)
 *        pick a destination by cumulative weight       (select.h)
 *   backend_key (set, slot) --backends--> backend_val: one endpoint
 *        pick a slot uniformly, keep it or take its alias (select.h)
 *
 * Atomic switch (docs/atomic-switch.md has the kernel facts it rests on and
 * the test, tests/kern/prog_tests/switch_stress.c).
 * Since Linux 6.1 an element freed from a BPF_F_NO_PREALLOC hash goes to a
 * per-CPU cache (kernel/bpf/memalloc.c) and the next insert into that map
 * may reuse it at once, before an RCU grace period: a program that looked
 * up an element keeps a pointer into memory another update may be
 * rewriting. (A preallocated hash recycles its free list the same way.) So
 * no map element a program may be reading is ever replaced or reused:
 *
 * - Every hash here (svc_ids, routes, backends) is written by inserting
 *   fresh keys and deleting dead ones, never by updating a live key; a
 *   key is deleted only when no version in force names it, and the agent
 *   lets an RCU grace period pass (it waits in the kernel) after deleting
 *   before it inserts again, so a reused element had no reader left.
 * - A version of a route is written whole under a fresh route_id (and its
 *   changed backend sets under fresh set ids) before anything names it.
 * - The switch is the one aligned 32-bit store of the new route_id into
 *   the service's svc_head, which user space makes through an mmap of the
 *   array (a single store instruction: no kernel memcpy that may copy
 *   bytes one by one), and the program reads with one 32-bit load. A
 *   connection reads either the old route_id or the new, never a mix.
 * - The old route, an index of a removed service and sets no longer named
 *   are deleted (or reused) only after a grace period that the agent
 *   waits for in the kernel (synchronize_rcu, user/kern/rcu_wait.c);
 *   programs run inside rcu_read_lock, so none still reads them then.
 *
 * A connection therefore reads one route version whole and only sets
 * that version names.
 */

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

/* Map sizes compiled into the objects; raise them at build time with -D if
 * a node needs more. The agent sizes the backends and names maps (and the
 * health arrays) from --max-endpoints and --max-clusters instead
 * (user/kern/loader.c). */
#ifndef BPFMESH_MAX_SERVICES
#define BPFMESH_MAX_SERVICES 65536
#endif
/* The agent's services map without --max-services (VIP:port entries; up
 * to BPFMESH_MAX_SERVICES with it). 16,384: four VIP:ports for each of the
 * default 4,096 cluster slots, which bound a policy before the services
 * do; at 65,536 the services, heads and routes maps cost 3.5 MiB of
 * buckets and array at any policy size, 0.9 MiB at 16,384. */
#ifndef BPFMESH_DEFAULT_SERVICES
#define BPFMESH_DEFAULT_SERVICES 16384
#endif
#ifndef BPFMESH_MAX_BACKENDS
#define BPFMESH_MAX_BACKENDS 524288
#endif
/* Route versions: one per service in force, plus the previous versions of
 * services switched since the last grace period. */
#ifndef BPFMESH_MAX_ROUTES
#define BPFMESH_MAX_ROUTES (2 * BPFMESH_MAX_SERVICES)
#endif
#ifndef BPFMESH_MAX_NAMES
#define BPFMESH_MAX_NAMES 131072
#endif

#define BPFMESH_MAX_DESTS 8          /* weighted destinations of one route */
#define BPFMESH_MAX_SET_SLOTS 65535  /* endpoints in one backend set (u16 alias) */
#define BPFMESH_NAME_LEN 120

#define BPFMESH_AF_INET 2    /* AF_INET */
#define BPFMESH_AF_INET6 10  /* AF_INET6 */
#define BPFMESH_PROTO_TCP 6  /* IPPROTO_TCP */
#define BPFMESH_PROTO_UDP 17 /* IPPROTO_UDP */

/* A service's virtual address: what a client connects to; with identity
 * set, the route for callers of that workload identity (issue 15). */
struct svc_key {
	__be32 addr[4]; /* IPv4 in addr[0], the rest zero */
	__be16 port;
	__u8 proto;  /* BPFMESH_PROTO_* */
	__u8 family; /* BPFMESH_AF_* */
	__u32 identity; /* 0: any caller; else a caller identity (identity_abi.h)
			 * whose route differs from the one for any caller */
};

/* Which route version a service uses now: the word the switch writes.
 * Element i of the svc_heads array is service index i (0 is never given). */
struct svc_head {
	__u32 route_id; /* key in the routes map; 0: no route (never published) */
	__u32 pad;      /* an mmap-able array spaces elements 8 bytes apart */
};

/* One weighted destination (host + subset + port) of the route in force. */
struct svc_dest {
	__u32 set_id;     /* backend set holding the destination's endpoints */
	__u32 n_slots;    /* endpoints in that set; 0 means no healthy upstream */
	__u32 set_weight; /* sum of endpoint weights in the set (alias draw range) */
	__u32 cum_weight; /* sum of route weights up to and including this one */
	__u32 subset_id;  /* name id of "host/subset:port", for the CLI */
	__u32 cluster_slot; /* the destination's cluster slot (health_abi.h), 0 = none */
	__u32 route_weight; /* the weight as the policy wrote it (cum_weight holds
			     * the reduced ones), for the CLI; 0 from older agents */
	__u32 pad;
};

/* Routing decision for a svc_key, as compiled from the policy. */
struct svc_val {
	__u32 service_id;   /* name id of the service host */
	__u32 generation;   /* policy version that wrote this value */
	__u32 total_weight; /* cum_weight of the last destination */
	__u16 n_dests;      /* 1..BPFMESH_MAX_DESTS */
	__u16 flags;        /* BPFMESH_SVC_F_* */
	struct svc_dest dests[BPFMESH_MAX_DESTS];
};

enum bpfmesh_svc_flags {
	/* ServiceEntry annotation bpfmesh.io/sockmap: "off": connect4 marks the
	 * connections BPFMESH_CONN_F_NO_SOCKMAP (sockmap_abi.h). */
	BPFMESH_SVC_F_NO_SOCKMAP = 1 << 0,
	/* Some caller identities have routes of their own (keys with identity
	 * set): the hook resolves the caller's identity only then. */
	BPFMESH_SVC_F_BY_SOURCE = 1 << 1,
};

/* Address of one slot of a backend set. */
struct backend_key {
	__u32 set_id;
	__u32 slot; /* 0..n_slots-1 */
};

/* One endpoint, with its alias-method column (see select.h). */
struct backend_val {
	__be32 addr[4]; /* IPv4 in addr[0] */
	__be16 port;
	__u16 alias;     /* slot taken when the draw is not below threshold */
	__u32 threshold; /* keep this slot when draw < threshold (0..set_weight) */
	__u32 weight;    /* the endpoint's own weight, for the CLI */
	__u32 slot;      /* endpoint slot (health_abi.h): counters, ejection; 0 = none */
};

/* Node-wide outcome counters: index of the per-CPU array bpfmesh_lb4_verdicts. */
enum bpfmesh_verdict {
	BPFMESH_V_PASSTHROUGH = 0, /* not a service address: untouched */
	BPFMESH_V_REDIRECTED,      /* destination rewritten to an endpoint */
	BPFMESH_V_NO_UPSTREAM,     /* subset with no endpoint: refused */
	BPFMESH_V_MISSING_SET,     /* svc_val names a set that is absent: refused */
	BPFMESH_V_ALL_EJECTED,     /* every endpoint drawn or scanned was ejected: refused */
	BPFMESH_V_NO_SOCK_STORAGE, /* original VIP could not be remembered */
	__BPFMESH_V_MAX,
};

/* Kinds of entries in the names map. */
enum bpfmesh_name_kind {
	BPFMESH_NAME_SERVICE = 1, /* a service host */
	BPFMESH_NAME_SUBSET = 2,  /* "host/subset:port" */
};

/* Human-readable name of an id, so the CLI can print what the kernel holds. */
struct name_val {
	__u32 kind; /* enum bpfmesh_name_kind */
	__u32 pad;
	char name[BPFMESH_NAME_LEN];
};

_Static_assert(sizeof(struct svc_key) == 24, "svc_key layout");
_Static_assert(sizeof(struct svc_head) == 8, "svc_head layout");
_Static_assert(sizeof(struct svc_dest) == 32, "svc_dest layout");
_Static_assert(sizeof(struct svc_val) == 16 + 32 * BPFMESH_MAX_DESTS, "svc_val layout");
_Static_assert(sizeof(struct backend_key) == 8, "backend_key layout");
_Static_assert(sizeof(struct backend_val) == 32, "backend_val layout");
_Static_assert(sizeof(struct name_val) == 128, "name_val layout");

/* Pinned map names (pinned by name under the agent's bpffs directory). */
#define BPFMESH_MAP_SVC_IDS "bpfmesh_lb4_svc_ids"     /* svc_key -> __u32 index */
#define BPFMESH_MAP_SVC_HEADS "bpfmesh_lb4_svc_heads" /* index -> struct svc_head */
#define BPFMESH_MAP_ROUTES "bpfmesh_lb4_routes"       /* __u32 route_id -> svc_val */
#define BPFMESH_MAP_BACKENDS "bpfmesh_lb4_backends"
#define BPFMESH_MAP_VERDICTS "bpfmesh_lb4_verdicts"
#define BPFMESH_MAP_NAMES "bpfmesh_names"

#endif /* BPFMESH_LB_ABI_H */
