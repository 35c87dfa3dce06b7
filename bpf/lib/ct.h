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
 * docs/lb.md.
 *
 * IPv4 and IPv6 flows are tracked alike, each family in its own map. */
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

/*
 * Both families share this code. A tuple is a struct ct6_key; an IPv4 one
 * has its addresses in word 0 and zeros in the rest, and is keyed in the
 * IPv4 map by its short form. An entry is reached as a struct ct4_val,
 * which an IPv6 entry (struct ct6_val) begins with; its address is read
 * with ct_nat_addr(). fam is a constant at every call site (the program
 * has one path per family), so each path keeps only its own branch.
 */

static __always_inline void ct_key4(const struct ct6_key *k, struct ct4_key *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	out->saddr = k->saddr[0];
	out->daddr = k->daddr[0];
	out->sport = k->sport;
	out->dport = k->dport;
	out->proto = k->proto;
}

static __always_inline struct ct4_val *ct_lookup(__u8 fam, const struct ct6_key *k)
{
	struct ct4_key k4;

	if (fam == BPFMESH_AF_INET6)
		return bpf_map_lookup_elem(&bpfmesh_ct6_flows, k); /* a ct6_val starts with its ct4_val */
	ct_key4(k, &k4);
	return bpf_map_lookup_elem(&bpfmesh_ct4_flows, &k4);
}

/* Write entry v under k (IPv4: its first part, v->v); flags as
 * bpf_map_update_elem's. */
static __always_inline int ct_update(__u8 fam, const struct ct6_key *k, const struct ct6_val *v,
				     __u64 flags)
{
	struct ct4_key k4;

	if (fam == BPFMESH_AF_INET6)
		return bpf_map_update_elem(&bpfmesh_ct6_flows, k, v, flags);
	ct_key4(k, &k4);
	return bpf_map_update_elem(&bpfmesh_ct4_flows, &k4, &v->v, flags);
}

static __always_inline int ct_delete_key(__u8 fam, const struct ct6_key *k)
{
	struct ct4_key k4;

	if (fam == BPFMESH_AF_INET6)
		return bpf_map_delete_elem(&bpfmesh_ct6_flows, k);
	ct_key4(k, &k4);
	return bpf_map_delete_elem(&bpfmesh_ct4_flows, &k4);
}

/* The address entry v translates to (IPv4: word 0, the rest zero). */
static __always_inline void ct_nat_addr(__u8 fam, const struct ct4_val *v, __be32 *out)
{
	if (fam == BPFMESH_AF_INET6) {
		__builtin_memcpy(out, ((const struct ct6_val *)v)->nat_addr, 16);
		return;
	}
	out[0] = v->nat_addr;
	out[1] = 0;
	out[2] = 0;
	out[3] = 0;
}

/* Where entry v's address is, in the entry itself (no copy: the stack is
 * tight); IPv4: the one word, to be read with pkt_addr_eq(). */
static __always_inline const __be32 *ct_nat_ptr(__u8 fam, const struct ct4_val *v)
{
	if (fam == BPFMESH_AF_INET6)
		return ((const struct ct6_val *)v)->nat_addr;
	return &v->nat_addr;
}

/* The reply tuple of flow k (client -> VIP) translated to ep:eport. */
static __always_inline void ct_reply_key(const struct ct6_key *k, const __be32 *ep, __be16 eport,
					 struct ct6_key *out)
{
	__builtin_memset(out, 0, sizeof(*out));
	out->proto = k->proto;
	__builtin_memcpy(out->saddr, ep, sizeof(out->saddr));
	out->sport = eport;
	__builtin_memcpy(out->daddr, k->saddr, sizeof(out->daddr));
	out->dport = k->sport;
}

/* The key of the other entry of the flow that k/v is one half of. */
static __always_inline void ct_partner_key(__u8 fam, const struct ct6_key *k,
					   const struct ct4_val *v, struct ct6_key *out)
{
	__be32 nat[4];

	ct_nat_addr(fam, v, nat); /* whole words for the key, IPv4 zero-padded */
	if (v->dir == CT_DIR_FORWARD) {
		/* client -> VIP becomes endpoint -> client */
		ct_reply_key(k, nat, v->nat_port, out);
		return;
	}
	/* endpoint -> client becomes client -> VIP */
	__builtin_memset(out, 0, sizeof(*out));
	out->proto = k->proto;
	__builtin_memcpy(out->saddr, k->daddr, sizeof(out->saddr));
	out->sport = k->dport;
	__builtin_memcpy(out->daddr, nat, sizeof(out->daddr));
	out->dport = v->nat_port;
}

/* Whether rk is the reply key of a live flow to another VIP. The TC path
 * keeps the client's source port, so a client that reaches one endpoint
 * through two VIPs from the same port makes two flows with one 4-tuple at
 * the endpoint, which the endpoint cannot tell apart either. */
static __always_inline bool ct_reply_taken(__u8 fam, const struct ct6_key *rk,
					   const struct ct6_key *k)
{
	const struct ct4_val *other = ct_lookup(fam, rk);

	if (!other || other->dir != CT_DIR_REPLY)
		return false;
	return !pkt_addr_eq(fam, ct_nat_ptr(fam, other), k->daddr) ||
	       other->nat_port != k->dport;
}

/* Track a new flow k (client -> VIP) to endpoint be of destination dest.
 * *clash: the reply tuple was another live flow's (see ct_reply_taken).
 * -EEXIST: another CPU tracked k first (two copies of its first packet). */
static __always_inline int ct_create(__u8 fam, const struct ct6_key *k,
				     const struct svc_dest *dest, const struct backend_val *be,
				     __u64 now, bool *clash)
{
	struct ct6_val v = {
		.v = {
			.nat_addr = fam == BPFMESH_AF_INET6 ? 0 : k->daddr[0],
			.nat_port = k->dport,
			.dir = CT_DIR_REPLY,
			.set_id = dest->set_id,
			.subset_id = dest->subset_id,
			.last_seen_ns = now,
			.ep_slot = be->slot,
		},
	};
	struct ct6_key rk;
	int err;

	ct_reply_key(k, be->addr, be->port, &rk);
	*clash = ct_reply_taken(fam, &rk, k);
	/* Reply entry first: a reply can never find a forward entry without one. */
	if (fam == BPFMESH_AF_INET6)
		__builtin_memcpy(v.nat_addr, k->daddr, sizeof(v.nat_addr));
	err = ct_update(fam, &rk, &v, BPF_ANY);
	if (err)
		return err;
	/* The same entry, the other way: to the endpoint. */
	v.v.nat_addr = fam == BPFMESH_AF_INET6 ? 0 : be->addr[0];
	v.v.nat_port = be->port;
	v.v.dir = CT_DIR_FORWARD;
	if (fam == BPFMESH_AF_INET6)
		__builtin_memcpy(v.nat_addr, be->addr, sizeof(v.nat_addr));
	err = ct_update(fam, k, &v, BPF_NOEXIST);
	if (!err && k->proto == BPFMESH_PROTO_TCP)
		lb4_conn_opened(be->slot);
	return err;
}

/* Forget both entries of the flow; the CPU that removes the forward entry
 * takes the flow off its endpoint's open count. */
static __always_inline void ct_delete(__u8 fam, const struct ct6_key *k, const struct ct4_val *v)
{
	bool forward = v->dir == CT_DIR_FORWARD;
	__u32 ep_slot = v->ep_slot; /* read before v's entry goes */
	struct ct6_key pk;
	int partner_gone, mine_gone;

	ct_partner_key(fam, k, v, &pk);
	partner_gone = ct_delete_key(fam, &pk) == 0;
	mine_gone = ct_delete_key(fam, k) == 0;
	if (k->proto == BPFMESH_PROTO_TCP && (forward ? mine_gone : partner_gone))
		lb4_conn_closed(ep_slot);
}

/* Record a FIN in both entries. */
static __always_inline void ct_mark_fin(__u8 fam, const struct ct6_key *k, struct ct4_val *v,
					__u8 bit)
{
	struct ct4_val *partner;
	struct ct6_key pk;

	v->fin |= bit;
	ct_partner_key(fam, k, v, &pk);
	partner = ct_lookup(fam, &pk);
	if (partner)
		partner->fin |= bit;
}

/* Advance TCP close tracking for a segment with flags travelling in the
 * direction of v; true when the flow is over and its entries are to go:
 * on RST, or on the ACK that follows a FIN from each side (the last
 * segment of an orderly close, RFC 793 3.5). A retransmitted FIN after
 * that finds no entry and passes untranslated; the peer discards it. */
static __always_inline bool ct_tcp_closes(__u8 fam, const struct ct6_key *k, struct ct4_val *v,
					  __u8 flags)
{
	__u8 mine = v->dir == CT_DIR_FORWARD ? CT_FIN_CLIENT : CT_FIN_ENDPOINT;

	if (flags & TCP_RST)
		return true;
	if (flags & TCP_FIN) {
		if (!(v->fin & mine))
			ct_mark_fin(fam, k, v, mine);
		return false;
	}
	return (flags & TCP_ACK) && v->fin == (CT_FIN_CLIENT | CT_FIN_ENDPOINT);
}

/* Keep last_seen within CT_REFRESH_NS of now. */
static __always_inline void ct_touch(struct ct4_val *v, __u64 now)
{
	if ((__s64)(now - v->last_seen_ns) > (__s64)CT_REFRESH_NS)
		v->last_seen_ns = now;
}

/* A UDP flow is idle when neither direction has been seen for the timeout. */
static __always_inline bool ct_udp_idle(__u8 fam, const struct ct6_key *k,
					const struct ct4_val *v, __u64 now)
{
	const struct ct4_val *partner;
	struct ct6_key pk;

	/* Signed: another CPU may have stamped a time a little after now. */
	if ((__s64)(now - v->last_seen_ns) <= (__s64)ct_udp_idle_ns)
		return false;
	ct_partner_key(fam, k, v, &pk);
	partner = ct_lookup(fam, &pk);
	return !partner || (__s64)(now - partner->last_seen_ns) > (__s64)ct_udp_idle_ns;
}

#endif /* BPFMESH_CT_H */
