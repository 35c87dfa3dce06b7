// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Service translation on the packet path, for traffic no managed socket
 * sends: TC ingress of the interfaces the agent is given (--interfaces),
 * and their egress for the ICMP errors the node itself raises.
 *
 * The first packet of a TCP (SYN) or UDP flow to a service VIP:port gets
 * the socket path's decision (lib/lb.h: the same selection code and maps)
 * and is tracked (lib/ct.h); the flow's packets are DNATed to its endpoint,
 * and the endpoint's replies SNATed back to the VIP, so the client only ever
 * sees the VIP. ICMP errors about tracked flows are translated too
 * (lib/icmp.h).
 *
 * The endpoint is chosen once per flow, by the destination's loadBalancer
 * as connect4 chooses it (lib/lb_algo.h), in tc4_pick: a global function,
 * which the verifier checks once on its own instead of once per call site
 * inlined into every path of the packet code (on Linux 6.1 the inlined
 * algorithms took the program past the verifier's complexity limit).
 *
 * A flow keeps its endpoint while the endpoint is in the service's policy,
 * whatever the weights become; a TCP flow whose endpoint left, or whose
 * entry was evicted, is reset (RST to the client) rather than black-holed.
 *
 * Fails open for everything that is not a service packet or a tracked reply
 * (passed untouched); fails closed for service packets (dropped, counted)
 * when a helper or the tracking table fails.
 */
#include "lib/common.h"
#include "lib/ct.h"
#include "lib/icmp.h"
#include "lib/lb.h"
#include "lib/svc.h"
#include "lib/pkt.h"
#include "lib/route.h"
#include "lib/tc_count.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Endpoints looked at per destination when a flow's backend set has been
 * replaced (an endpoint weight changed, or endpoints came or went): a
 * bounded scan for the flow's endpoint in the new sets. A set larger than
 * this that does not show the endpoint in its first slots is given the
 * benefit of the doubt: the flow is kept. */
#define TC_RECHECK_SLOTS 32

/* A rewrite failed half way: drop rather than send a half-translated packet. */
static __always_inline int tc4_drop_error(void)
{
	tc4_count(BPFMESH_TC_ERROR);
	return TC_ACT_SHOT;
}

/* Pass the packet on (counting event), or drop it if err. */
static __always_inline int tc4_done(int err, __u32 event)
{
	if (err)
		return tc4_drop_error();
	tc4_count(event);
	return TC_ACT_OK;
}

static __always_inline void tc4_svc_key(const struct ct4_key *t, struct svc_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->addr[0] = t->daddr;
	key->port = t->dport;
	key->proto = t->proto;
	key->family = BPFMESH_AF_INET;
}

/* Whether the set dest names holds the flow's endpoint (in its first
 * TC_RECHECK_SLOTS slots; a larger set counts as holding it). */
static __always_inline bool tc4_set_has_endpoint(const struct svc_dest *dest,
						 const struct ct4_val *ct)
{
	struct backend_key key = { .set_id = dest->set_id };
	const struct backend_val *be;
	__u32 slot;

	for (slot = 0; slot < TC_RECHECK_SLOTS; slot++) {
		if (slot >= dest->n_slots)
			return false;
		key.slot = slot;
		be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
		if (be && be->addr[0] == ct->nat_addr && be->port == ct->nat_port)
			return true;
	}
	return true;
}

/* Is the flow's endpoint still one of the service's endpoints? Usually its
 * set is still named (route weights changed, or nothing did): one scan of
 * at most BPFMESH_MAX_DESTS ids. Otherwise look for it in the current sets,
 * and remember where it was found. */
static __always_inline bool tc4_endpoint_in_policy(const struct svc_val *svc, struct ct4_val *ct)
{
	int i;

	for (i = 0; i < BPFMESH_MAX_DESTS; i++) {
		if (i >= svc->n_dests)
			break;
		if (svc->dests[i].set_id == ct->set_id)
			return true;
	}
	for (i = 0; i < BPFMESH_MAX_DESTS; i++) {
		if (i >= svc->n_dests)
			break;
		if (tc4_set_has_endpoint(&svc->dests[i], ct)) {
			ct->set_id = svc->dests[i].set_id;
			return true;
		}
	}
	return false;
}

/* What tc4_pick chose, by value: a global function returns a scalar only,
 * and the endpoint is copied out of its map entry. */
struct tc4_pick {
	struct backend_val be; /* the endpoint, when verdict is BPFMESH_V_REDIRECTED */
	__u32 verdict;         /* BPFMESH_V_REDIRECTED, or why there is no endpoint */
	__u32 dest_idx;        /* the destination drawn (svc->dests), when has_dest */
	__u32 has_dest;
	__u32 pad;
};

/* The endpoint of a new flow from client address saddr to service svc: the
 * route's destination, then its cluster's loadBalancer (lib/lb.h, the
 * selection code connect4 runs). Istio's consistentHash useSourceIp keys on
 * the client's address: a packet always has one, and it is keyed as a
 * socket's bound address is on the socket path (lbpolicy.h
 * bpfmesh_lb_hash_key), so one client address lands on the same Maglev
 * entry on both paths. PASSTHROUGH cannot keep a VIP nobody serves here:
 * the weighted draw. Global (not inlined): verified once, on its own.
 * Returns 0, or -1 when an argument is NULL (never, from tc4_new_flow). */
__noinline int tc4_pick(const struct svc_val *svc, __u32 saddr, struct tc4_pick *out)
{
	struct lb4_choice c = {};

	if (!svc || !out)
		return -1;
	c.hash_key = bpfmesh_lb_hash_key(saddr, 0);
	lb4_select(svc, &c);
	out->verdict = c.verdict;
	out->has_dest = c.dest != NULL;
	out->dest_idx = c.dest_idx;
	if (c.be && c.dest)
		out->be = *c.be;
	else
		out->verdict = c.verdict == BPFMESH_V_REDIRECTED ? BPFMESH_V_NO_UPSTREAM : c.verdict;
	return 0;
}

/* The destination tc4_pick drew, NULL when none. */
static __always_inline const struct svc_dest *tc4_pick_dest(const struct svc_val *svc,
							    const struct tc4_pick *pick)
{
	__u32 i = pick->dest_idx;

	if (!pick->has_dest || i >= BPFMESH_MAX_DESTS)
		return NULL;
	return &svc->dests[i];
}

/* First packet of a flow to service svc: choose, track, translate. A TCP
 * segment other than a SYN has no flow to join (its entry is gone): reset. */
static __always_inline int tc4_new_flow(struct __sk_buff *skb, const struct pkt4 *p,
					const struct svc_key *key, const struct svc_val *svc)
{
	const struct svc_dest *dest;
	struct tc4_pick pick = {};
	struct ct4_val *ct;
	bool clash;
	int err;

	if (p->tuple.proto == BPFMESH_PROTO_TCP) {
		if (p->tcp_flags & TCP_RST)
			return TC_ACT_SHOT; /* resetting a flow we do not know: nothing to do */
		if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
			tc4_on_eviction(key);
			return pkt4_reply_reset(skb, p);
		}
	}
	if (tc4_pick(svc, p->tuple.saddr, &pick))
		return tc4_drop_error();
	dest = tc4_pick_dest(svc, &pick);
	if (pick.verdict != BPFMESH_V_REDIRECTED || !dest) {
		/* Like connect() on the socket path: refused at once. */
		tc4_on_no_upstream(pick.verdict, dest);
		if (p->tuple.proto == BPFMESH_PROTO_TCP)
			return pkt4_reply_reset(skb, p);
		return TC_ACT_SHOT;
	}
	err = ct4_create(&p->tuple, dest, &pick.be, bpf_ktime_get_ns(), &clash);
	if (err == -EEXIST) {
		/* Another CPU placed this flow a moment ago: join it. */
		ct = bpf_map_lookup_elem(&bpfmesh_ct4_flows, &p->tuple);
		if (!ct)
			return tc4_drop_error();
		return tc4_done(pkt4_rewrite_dst(skb, p, ct->nat_addr, ct->nat_port),
				BPFMESH_TC_FORWARD);
	}
	if (err) {
		tc4_count(BPFMESH_TC_CT_FULL);
		return TC_ACT_SHOT;
	}
	if (clash)
		tc4_count(BPFMESH_TC_TUPLE_CLASH);
	if (pkt4_rewrite_dst(skb, p, pick.be.addr[0], pick.be.port))
		return tc4_drop_error();
	tc4_on_flow_placed();
	return TC_ACT_OK;
}

/* A packet of a tracked flow from the client. */
static __always_inline int tc4_forward(struct __sk_buff *skb, const struct pkt4 *p,
				       const struct svc_key *key, const struct svc_val *svc,
				       struct ct4_val *ct)
{
	__be32 addr = ct->nat_addr;
	__be16 port = ct->nat_port;
	__u64 now = bpf_ktime_get_ns();
	bool tcp = p->tuple.proto == BPFMESH_PROTO_TCP;

	if (!tcp && ct4_udp_idle(&p->tuple, ct, now)) {
		tc4_count(BPFMESH_TC_UDP_EXPIRED);
		ct4_delete(&p->tuple, ct);
		return tc4_new_flow(skb, p, key, svc);
	}
	if (tcp && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && ct->fin) {
		/* A new connection on the 5-tuple of one that was closing. */
		ct4_delete(&p->tuple, ct);
		return tc4_new_flow(skb, p, key, svc);
	}
	if (!tc4_endpoint_in_policy(svc, ct)) {
		tc4_count(BPFMESH_TC_ENDPOINT_GONE);
		ct4_delete(&p->tuple, ct);
		if (tcp)
			return pkt4_reply_reset(skb, p);
		return tc4_new_flow(skb, p, key, svc); /* UDP has no reset: choose again */
	}
	if (tcp && ct4_tcp_closes(&p->tuple, ct, p->tcp_flags)) {
		ct4_delete(&p->tuple, ct);
		tc4_count(BPFMESH_TC_CLOSED);
	} else {
		ct4_touch(ct, now);
	}
	return tc4_done(pkt4_rewrite_dst(skb, p, addr, port), BPFMESH_TC_FORWARD);
}

/* A packet from an endpoint to a client of a tracked flow. */
static __always_inline int tc4_reply(struct __sk_buff *skb, const struct pkt4 *p,
				     struct ct4_val *ct)
{
	__be32 addr = ct->nat_addr;
	__be16 port = ct->nat_port;

	if (p->tuple.proto == BPFMESH_PROTO_TCP && ct4_tcp_closes(&p->tuple, ct, p->tcp_flags)) {
		ct4_delete(&p->tuple, ct);
		tc4_count(BPFMESH_TC_CLOSED);
	} else {
		ct4_touch(ct, bpf_ktime_get_ns());
	}
	return tc4_done(pkt4_rewrite_src(skb, p, addr, port), BPFMESH_TC_REPLY);
}

static __always_inline int tc4_l4(struct __sk_buff *skb, const struct pkt4 *p)
{
	const struct svc_val *svc;
	struct svc_key key;
	struct ct4_val *ct;

	ct = bpf_map_lookup_elem(&bpfmesh_ct4_flows, &p->tuple);
	if (ct && ct->dir == CT_DIR_REPLY)
		return tc4_reply(skb, p, ct);
	tc4_svc_key(&p->tuple, &key);
	svc = svc_find(&key);
	if (!svc) {
		if (!ct)
			return tc4_done(0, BPFMESH_TC_PASS);
		/* The service itself is gone, and with it the flow's endpoint.
		 * A UDP flow has no reset: its packets pass as to any address. */
		tc4_count(BPFMESH_TC_ENDPOINT_GONE);
		ct4_delete(&p->tuple, ct);
		if (p->tuple.proto == BPFMESH_PROTO_TCP)
			return pkt4_reply_reset(skb, p);
		return TC_ACT_OK;
	}
	if (ct)
		return tc4_forward(skb, p, &key, svc, ct);
	return tc4_new_flow(skb, p, &key, svc);
}

static __always_inline int tc4_icmp(struct __sk_buff *skb, const struct pkt4 *p)
{
	int ret = icmp4_translate(skb, p);

	if (ret < 0)
		return tc4_drop_error();
	return tc4_done(0, ret ? BPFMESH_TC_ICMP : BPFMESH_TC_PASS);
}

static __always_inline int tc4_ingress(struct __sk_buff *skb)
{
	struct pkt4 p = {};

	switch (pkt4_parse(skb, &p)) {
	case PKT_L4:
		return tc4_l4(skb, &p);
	case PKT_ICMP:
		return tc4_icmp(skb, &p);
	case PKT_FRAGMENT:
		return tc4_done(0, BPFMESH_TC_FRAGMENT);
	}
	return tc4_done(0, BPFMESH_TC_PASS);
}

/* Egress sees what the node itself sends: of that, only ICMP errors the
 * node raises about a translated packet (TTL exceeded while forwarding it,
 * no route to the endpoint...) concern us; they quote the packet after its
 * DNAT and never crossed an ingress program. Everything else passes after
 * one header read. */
static __always_inline int tc4_egress(struct __sk_buff *skb)
{
	struct pkt4 p = {};

	if (pkt4_parse(skb, &p) != PKT_ICMP)
		return TC_ACT_OK;
	return tc4_icmp(skb, &p);
}

SEC("tc")
int bpfmesh_tc_ingress(struct __sk_buff *skb)
{
	return tc4_ingress(skb);
}

SEC("tc")
int bpfmesh_tc_egress(struct __sk_buff *skb)
{
	return tc4_egress(skb);
}
