/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CT_H
#define BPFMESH_CT_H
/* Connection tracking for the TC path: the two entries of a flow (see
 * include/bpfmesh/tc_abi.h), their creation, TCP close and UDP idle expiry.
 *
 * A TCP flow counts as one open connection of its endpoint (the
 * LEAST_REQUEST counts of lib/lb_active.h, shared with sockops, so both
 * paths see all of the node's connections to an endpoint) from the moment
 * its forward entry is created to the moment one CPU deletes that entry:
 * the create that inserts it (BPF_NOEXIST) adds one, the delete that
 * removes it takes it off, so each add has exactly one take-off whichever
 * side closes and however many CPUs race. UDP flows are not counted, as on
 * the socket path (sockops sees TCP only). Not taken off: a flow whose
 * forward entry the LRU evicts, and a handshake that never completes and
 * whose tuple is never used again (the entry waits for the LRU); see
 * docs/lb.md. */
#include "lib/common.h"
#include "lib/ct_maps.h"
#include "lib/lb.h" /* with lib/lb_active.h: the open counts */
#include "lib/pkt.h"

#ifndef EEXIST
#define EEXIST 17
#endif

/* UDP flows idle this long are over. Envoy's UDP proxy has the same rule
 * and default: a session with no datagram in either direction for
 * idle_timeout (default 60 s) is closed. Set by the loader before load. */
const volatile __u64 ct_udp_idle_ns = 60ULL * 1000000000ULL;

/* last_seen is refreshed at most this often, so an established flow does
 * not write its entry on every packet. */
#define CT_REFRESH_NS 1000000000ULL

/* The key of the other entry of the flow that k/v is one half of. */
static __always_inline void ct4_partner_key(const struct ct4_key *k, const struct ct4_val *v,
					    struct ct4_key *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	out->proto = k->proto;
	if (v->dir == CT_DIR_FORWARD) {
		/* client -> VIP becomes endpoint -> client */
		out->saddr = v->nat_addr;
		out->sport = v->nat_port;
		out->daddr = k->saddr;
		out->dport = k->sport;
	} else {
		/* endpoint -> client becomes client -> VIP */
		out->saddr = k->daddr;
		out->sport = k->dport;
		out->daddr = v->nat_addr;
		out->dport = v->nat_port;
	}
}

/* Whether rk is the reply key of a live flow to another VIP. The TC path
 * keeps the client's source port, so a client that reaches one endpoint
 * through two VIPs from the same port makes two flows with one 4-tuple at
 * the endpoint, which the endpoint cannot tell apart either. */
static __always_inline bool ct4_reply_taken(const struct ct4_key *rk, const struct ct4_key *k)
{
	const struct ct4_val *other = bpf_map_lookup_elem(&bpfmesh_ct4_flows, rk);

	return other && other->dir == CT_DIR_REPLY &&
	       (other->nat_addr != k->daddr || other->nat_port != k->dport);
}

/* Track a new flow k (client -> VIP) to endpoint be of destination dest.
 * *clash: the reply tuple was another live flow's (see ct4_reply_taken).
 * -EEXIST: another CPU tracked k first (two copies of its first packet). */
static __always_inline int ct4_create(const struct ct4_key *k, const struct svc_dest *dest,
				      const struct backend_val *be, __u64 now, bool *clash)
{
	struct ct4_val fwd = {
		.nat_addr = be->addr[0],
		.nat_port = be->port,
		.dir = CT_DIR_FORWARD,
		.set_id = dest->set_id,
		.subset_id = dest->subset_id,
		.last_seen_ns = now,
		.ep_slot = be->slot,
	};
	struct ct4_val rev = {
		.nat_addr = k->daddr,
		.nat_port = k->dport,
		.dir = CT_DIR_REPLY,
		.set_id = dest->set_id,
		.subset_id = dest->subset_id,
		.last_seen_ns = now,
		.ep_slot = be->slot,
	};
	struct ct4_key rk;
	int err;

	ct4_partner_key(k, &fwd, &rk);
	*clash = ct4_reply_taken(&rk, k);
	/* Reply entry first: a reply can never find a forward entry without one. */
	err = bpf_map_update_elem(&bpfmesh_ct4_flows, &rk, &rev, BPF_ANY);
	if (!err)
		err = bpf_map_update_elem(&bpfmesh_ct4_flows, k, &fwd, BPF_NOEXIST);
	if (!err && k->proto == BPFMESH_PROTO_TCP)
		lb4_conn_opened(be->slot);
	return err;
}

/* Forget both entries of the flow; the CPU that removes the forward entry
 * takes the flow off its endpoint's open count. */
static __always_inline void ct4_delete(const struct ct4_key *k, const struct ct4_val *v)
{
	bool forward = v->dir == CT_DIR_FORWARD;
	__u32 ep_slot = v->ep_slot; /* read before v's entry goes */
	struct ct4_key pk;
	int partner_gone, mine_gone;

	ct4_partner_key(k, v, &pk);
	partner_gone = bpf_map_delete_elem(&bpfmesh_ct4_flows, &pk) == 0;
	mine_gone = bpf_map_delete_elem(&bpfmesh_ct4_flows, k) == 0;
	if (k->proto == BPFMESH_PROTO_TCP && (forward ? mine_gone : partner_gone))
		lb4_conn_closed(ep_slot);
}

/* Record a FIN in both entries. */
static __always_inline void ct4_mark_fin(const struct ct4_key *k, struct ct4_val *v, __u8 bit)
{
	struct ct4_val *partner;
	struct ct4_key pk;

	v->fin |= bit;
	ct4_partner_key(k, v, &pk);
	partner = bpf_map_lookup_elem(&bpfmesh_ct4_flows, &pk);
	if (partner)
		partner->fin |= bit;
}

/* Advance TCP close tracking for a segment with flags travelling in the
 * direction of v; true when the flow is over and its entries are to go:
 * on RST, or on the ACK that follows a FIN from each side (the last
 * segment of an orderly close, RFC 793 3.5). A retransmitted FIN after
 * that finds no entry and passes untranslated; the peer discards it. */
static __always_inline bool ct4_tcp_closes(const struct ct4_key *k, struct ct4_val *v, __u8 flags)
{
	__u8 mine = v->dir == CT_DIR_FORWARD ? CT_FIN_CLIENT : CT_FIN_ENDPOINT;

	if (flags & TCP_RST)
		return true;
	if (flags & TCP_FIN) {
		if (!(v->fin & mine))
			ct4_mark_fin(k, v, mine);
		return false;
	}
	return (flags & TCP_ACK) && v->fin == (CT_FIN_CLIENT | CT_FIN_ENDPOINT);
}

/* Keep last_seen within CT_REFRESH_NS of now. */
static __always_inline void ct4_touch(struct ct4_val *v, __u64 now)
{
	if ((__s64)(now - v->last_seen_ns) > (__s64)CT_REFRESH_NS)
		v->last_seen_ns = now;
}

/* A UDP flow is idle when neither direction has been seen for the timeout. */
static __always_inline bool ct4_udp_idle(const struct ct4_key *k, const struct ct4_val *v,
					 __u64 now)
{
	const struct ct4_val *partner;
	struct ct4_key pk;

	/* Signed: another CPU may have stamped a time a little after now. */
	if ((__s64)(now - v->last_seen_ns) <= (__s64)ct_udp_idle_ns)
		return false;
	ct4_partner_key(k, v, &pk);
	partner = bpf_map_lookup_elem(&bpfmesh_ct4_flows, &pk);
	return !partner || (__s64)(now - partner->last_seen_ns) > (__s64)ct_udp_idle_ns;
}

#endif /* BPFMESH_CT_H */
