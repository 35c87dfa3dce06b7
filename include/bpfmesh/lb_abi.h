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
 *   svc_key (VIP:port) --services--> svc_val: weighted destinations
 *        pick a destination by cumulative weight       (select.h)
 *   backend_key (set, slot) --backends--> backend_val: one endpoint
 *        pick a slot uniformly, keep it or take its alias (select.h)
 *
 * Atomic apply: a backend set is immutable once written. A policy change that
 * alters a set writes the new set under a fresh set id, then replaces the one
 * svc_val that points to it in a single map update. A connection therefore
 * reads one svc_val and only sets that value names: it sees one policy version
 * whole. Sets no longer named are deleted only after a grace period.
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
#ifndef BPFMESH_MAX_BACKENDS
#define BPFMESH_MAX_BACKENDS 524288
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
_Static_assert(sizeof(struct svc_dest) == 32, "svc_dest layout");
_Static_assert(sizeof(struct svc_val) == 16 + 32 * BPFMESH_MAX_DESTS, "svc_val layout");
_Static_assert(sizeof(struct backend_key) == 8, "backend_key layout");
_Static_assert(sizeof(struct backend_val) == 32, "backend_val layout");
_Static_assert(sizeof(struct name_val) == 128, "name_val layout");

/* Pinned map names (pinned by name under the agent's bpffs directory). */
#define BPFMESH_MAP_SERVICES "bpfmesh_lb4_services_v2"
#define BPFMESH_MAP_BACKENDS "bpfmesh_lb4_backends"
#define BPFMESH_MAP_VERDICTS "bpfmesh_lb4_verdicts"
#define BPFMESH_MAP_NAMES "bpfmesh_names"

#endif /* BPFMESH_LB_ABI_H */
