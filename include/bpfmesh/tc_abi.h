/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_ABI_H
#define BPFMESH_TC_ABI_H
/*
 * Layouts of the TC packet path's maps (bpf/tc.bpf.c), shared by the BPF
 * program, the agent and the tests. Byte order lives in the type.
 *
 * A translated flow has two tracking entries, both keyed by the 5-tuple a
 * packet carries when it reaches the node:
 *
 *   forward  client:cport -> VIP:vport        nat = endpoint:eport (DNAT)
 *   reply    endpoint:eport -> client:cport   nat = VIP:vport      (SNAT)
 *
 * Each entry can name the other (swap the tuple, put nat in place), so either
 * direction finds its partner without a third map.
 */
#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

/* Tracked flows (two entries each); the LRU map never holds more. */
#ifndef BPFMESH_MAX_CT
#define BPFMESH_MAX_CT 131072
#endif

/* The 5-tuple of a packet as it reaches the node. */
struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto; /* BPFMESH_PROTO_TCP or BPFMESH_PROTO_UDP */
	__u8 pad[3];
};

enum ct_dir {
	CT_DIR_FORWARD = 1, /* client -> VIP: rewrite the destination */
	CT_DIR_REPLY = 2,   /* endpoint -> client: rewrite the source */
};

/* TCP close progress, the same bits in both entries of a flow. */
#define CT_FIN_CLIENT 0x1 /* the client sent FIN */
#define CT_FIN_ENDPOINT 0x2 /* the endpoint sent FIN */

/* One direction of a translated flow. */
struct ct4_val {
	__be32 nat_addr;    /* forward: the endpoint; reply: the VIP */
	__be16 nat_port;
	__u8 dir;           /* enum ct_dir */
	__u8 fin;           /* CT_FIN_* seen so far */
	__u32 set_id;       /* forward: backend set the endpoint was found in */
	__u32 subset_id;    /* forward: destination, for the counters */
	__u64 last_seen_ns; /* bpf_ktime_get_ns() of a recent packet (1 s grain) */
	__u32 ep_slot;      /* the endpoint's slot (health_abi.h): its open-flow count
			     * (LEAST_REQUEST, lbpolicy_abi.h lb_active); 0 = none */
	__u32 pad;
};

/* What the TC program did, per CPU: index of bpfmesh_tc4_events. */
enum bpfmesh_tc_event {
	BPFMESH_TC_PASS = 0,       /* not a service packet nor a tracked reply */
	BPFMESH_TC_FLOW_NEW,       /* first packet: endpoint chosen, flow tracked */
	BPFMESH_TC_FORWARD,        /* packet of a tracked flow, to the endpoint */
	BPFMESH_TC_REPLY,          /* reply of a tracked flow, back from the VIP */
	BPFMESH_TC_NO_UPSTREAM,    /* first packet, no endpoint: TCP reset / dropped */
	BPFMESH_TC_EVICTED,        /* mid-flow TCP segment to a VIP, no entry (evicted by
				    * the LRU, or older than the programs): reset */
	BPFMESH_TC_ENDPOINT_GONE,  /* the flow's endpoint left the policy: reset */
	BPFMESH_TC_CLOSED,         /* flow ended by FIN/ACK or RST: entries deleted */
	BPFMESH_TC_UDP_EXPIRED,    /* UDP flow idle past the timeout: chosen anew */
	BPFMESH_TC_CT_FULL,        /* tracking entry could not be written: dropped */
	BPFMESH_TC_ICMP,           /* ICMP error about a tracked flow, translated */
	BPFMESH_TC_FRAGMENT,       /* IPv4 fragment, or IPv6 packet with a fragment
				    * header: passed untranslated */
	BPFMESH_TC_ERROR,          /* packet helper failed: dropped */
	BPFMESH_TC_TUPLE_CLASH,    /* new flow's reply tuple was another live flow's
				    * (same client port, same endpoint, other VIP):
				    * the newer flow takes it, the older one breaks */
	__BPFMESH_TC_MAX,
};

/* IPv6 flows: the same two entries, in a map of their own (bpfmesh_ct6_flows).
 * The BPF program also carries IPv4 tuples in this form (address in word 0,
 * the rest zero) and turns them into a ct4_key for the IPv4 map. */
struct ct6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto; /* BPFMESH_PROTO_TCP or BPFMESH_PROTO_UDP */
	__u8 pad[3];
};

/* One direction of an IPv6 flow: an IPv4 entry's fields (its nat_addr is 0)
 * followed by the IPv6 address, so one code reads both kinds of entry. */
struct ct6_val {
	struct ct4_val v;
	__be32 nat_addr[4]; /* forward: the endpoint; reply: the VIP */
};

_Static_assert(sizeof(struct ct4_key) == 16, "ct4_key layout");
_Static_assert(sizeof(struct ct4_val) == 32, "ct4_val layout");
_Static_assert(sizeof(struct ct6_key) == 40, "ct6_key layout");
_Static_assert(sizeof(struct ct6_val) == 48, "ct6_val layout");

#define BPFMESH_MAP_CT4 "bpfmesh_ct4_flows"
#define BPFMESH_MAP_CT6 "bpfmesh_ct6_flows"
#define BPFMESH_MAP_TC_EVENTS "bpfmesh_tc4_events"

#endif /* BPFMESH_TC_ABI_H */
