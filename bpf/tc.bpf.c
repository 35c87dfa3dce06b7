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
 * IPv4 and IPv6 take the same code (lib/pkt.h, lib/ct.h: a family argument,
 * constant on each family's path); IPv6 flows are tracked in a map of their
 * own. An IPv6 packet with extension headers passes untouched; ICMP errors
 * are translated for both families (ICMPv6 too).
 *
 * The endpoint is chosen once per flow, by the destination's loadBalancer
 * as connect4 chooses it (lib/lb_algo.h), in lb4_pick (lib/lb.h): a global function,
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
static __always_inline int tc_drop_error(void)
{
	tc4_count(BPFMESH_TC_ERROR);
	return TC_ACT_SHOT;
}

/* Pass the packet on (counting event), or drop it if err. */
static __always_inline int tc_done(int err, __u32 event)
{
	if (err)
		return tc_drop_error();
	tc4_count(event);
	return TC_ACT_OK;
}

static __always_inline void tc_svc_key(__u8 fam, const struct ct6_key *t, struct svc_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	if (fam == BPFMESH_AF_INET6)
		__builtin_memcpy(key->addr, t->daddr, sizeof(key->addr));
	else
		key->addr[0] = t->daddr[0];
	key->port = t->dport;
	key->proto = t->proto;
	key->family = fam;
}

/* Whether the set dest names holds the flow's endpoint (in its first
 * TC_RECHECK_SLOTS slots; a larger set counts as holding it). */
static __always_inline bool tc_set_has_endpoint(__u8 fam, const struct svc_dest *dest,
						const struct ct4_val *ct)
{
	struct backend_key key = { .set_id = dest->set_id };
	const __be32 *ep = ct_nat_ptr(fam, ct);
	const struct backend_val *be;
	__u32 slot;

	for (slot = 0; slot < TC_RECHECK_SLOTS; slot++) {
		if (slot >= dest->n_slots)
			return false;
		key.slot = slot;
		be = bpf_map_lookup_elem(&bpfmesh_lb4_backends, &key);
		if (be && pkt_addr_eq(fam, be->addr, ep) && be->port == ct->nat_port)
			return true;
	}
	return true;
}

/* Is the flow's endpoint still one of the service's endpoints? Usually its
 * set is still named (route weights changed, or nothing did): one scan of
 * at most BPFMESH_MAX_DESTS ids. Otherwise look for it in the current sets,
 * and remember where it was found. */
static __always_inline bool tc_endpoint_in_policy(__u8 fam, const struct svc_val *svc,
						  struct ct4_val *ct)
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
		if (tc_set_has_endpoint(fam, &svc->dests[i], ct)) {
			ct->set_id = svc->dests[i].set_id;
			return true;
		}
	}
	return false;
}

/* lb4_pick's answer for the packet at hand, per CPU: off the stack, which
 * the two paths, lb4_pick and the program's own frame share (512 bytes). A
 * TC program runs to its end on one CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb4_pick);
} bpfmesh_tc_pick_scratch SEC(".maps");

/* The packet's parse and its service key, per CPU and program: off the
 * stack, as the pick is, because tc4_ingress's frame is on the deepest
 * chain (tc4_ingress -> lb4_pick -> ...; Linux 6.1 adds up the frames each
 * rounded up to 32 bytes, and refused a version 6.18 accepted): 264 bytes
 * of frame before, 144 with this, tc_track and the out-of-line ICMP and
 * reset code; tests/kern/prog_tests/tc_stack.c holds the chain to 384 of
 * the 512 bytes. A TC program runs to its end on one CPU; the egress
 * program has a slot of its own, though no egress program runs inside an
 * ingress one (pkt_reply_reset's redirect takes effect after it returns). */
struct tc_scratch {
	struct pkt p;
	struct svc_key svc; /* of p's destination (tc_l4) */
};

enum tc_pkt_slot {
	TC_PKT_INGRESS = 0,
	TC_PKT_EGRESS = 1,
	__TC_PKT_SLOTS,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __TC_PKT_SLOTS);
	__type(key, __u32);
	__type(value, struct tc_scratch);
} bpfmesh_tc_pkt_scratch SEC(".maps");

/* The slot's scratch, its parse zeroed as a fresh one needs; NULL never
 * happens (an array's index in range), and the callers then pass the
 * packet. */
static __always_inline struct tc_scratch *tc_scratch_get(__u32 slot)
{
	struct tc_scratch *sc = bpf_map_lookup_elem(&bpfmesh_tc_pkt_scratch, &slot);

	if (sc)
		__builtin_memset(&sc->p, 0, sizeof(sc->p));
	return sc;
}

/* Istio's consistentHash useSourceIp keys on the client's address: a packet
 * always has one, and it is keyed as a socket's bound address is on the
 * socket path (sock_addr.bpf.c lb_hash_key, lbpolicy.h bpfmesh_lb_hash_key:
 * an IPv6 address folded to 32 bits by XOR), so one client address lands
 * on the same Maglev entry on both paths. */
static __always_inline __u64 tc_hash_key(__u8 fam, const struct ct6_key *t)
{
	__u32 src = t->saddr[0];

	if (fam == BPFMESH_AF_INET6)
		src ^= t->saddr[1] ^ t->saddr[2] ^ t->saddr[3];
	return bpfmesh_lb_hash_key(src, 0);
}

/* Translate a client's packet to the flow's endpoint, entry ct. */
static __always_inline int tc_to_endpoint(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
					  const struct ct4_val *ct)
{
	return pkt_rewrite_dst(skb, p, fam, ct_nat_ptr(fam, ct), ct->nat_port);
}

/* Track the new flow to the chosen endpoint (ct_create), in a frame of its
 * own: its two keys and entry are not on the stack while lb4_pick runs
 * (the program and the functions it calls share 512 bytes; lb4_pick's
 * chain is the deepest, tests/kern/prog_tests/tc_stack.c). fam is a
 * constant at each call, which the verifier follows into a static
 * function, so each family still checks only its own branch. */
static __noinline int tc_track(__u8 fam, const struct ct6_key *t, const struct svc_dest *dest,
			       const struct backend_val *be, bool *clash)
{
	return ct_create(fam, t, dest, be, bpf_ktime_get_ns(), clash);
}

/* First packet of a flow to service svc: choose, track, translate. A TCP
 * segment other than a SYN has no flow to join (its entry is gone): reset. */
static __always_inline int tc_new_flow(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
				       const struct svc_key *key, const struct svc_val *svc)
{
	const struct svc_dest *dest;
	struct lb4_pick *pick;
	struct ct4_val *ct;
	__u32 zero = 0;
	bool clash;
	int err;

	if (p->tuple.proto == BPFMESH_PROTO_TCP) {
		if (p->tcp_flags & TCP_RST)
			return TC_ACT_SHOT; /* resetting a flow we do not know: nothing to do */
		if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
			tc4_on_eviction(key);
			return pkt_reply_reset(skb, p, fam);
		}
	}
	pick = bpf_map_lookup_elem(&bpfmesh_tc_pick_scratch, &zero);
	/* PASSTHROUGH cannot keep a VIP nobody serves here: the weighted draw. */
	if (!pick || lb4_pick(svc, tc_hash_key(fam, &p->tuple), 0, pick))
		return tc_drop_error();
	dest = lb4_pick_dest(svc, pick);
	if (pick->verdict != BPFMESH_V_REDIRECTED || !dest) {
		/* Like connect() on the socket path: refused at once. */
		tc4_on_no_upstream(pick->verdict, dest);
		if (p->tuple.proto == BPFMESH_PROTO_TCP)
			return pkt_reply_reset(skb, p, fam);
		return TC_ACT_SHOT;
	}
	err = tc_track(fam, &p->tuple, dest, &pick->be, &clash);
	if (err == -EEXIST) {
		/* Another CPU placed this flow a moment ago: join it. */
		ct = ct_lookup(fam, &p->tuple);
		if (!ct)
			return tc_drop_error();
		return tc_done(tc_to_endpoint(skb, p, fam, ct), BPFMESH_TC_FORWARD);
	}
	if (err) {
		tc4_count(BPFMESH_TC_CT_FULL);
		return TC_ACT_SHOT;
	}
	if (clash)
		tc4_count(BPFMESH_TC_TUPLE_CLASH);
	if (pkt_rewrite_dst(skb, p, fam, pick->be.addr, pick->be.port))
		return tc_drop_error();
	tc4_on_flow_placed();
	return TC_ACT_OK;
}

/* A packet of a tracked flow from the client. */
static __always_inline int tc_forward(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
				      const struct svc_key *key, const struct svc_val *svc,
				      struct ct4_val *ct)
{
	__be32 addr[4];
	__be16 port = ct->nat_port;
	__u64 now = bpf_ktime_get_ns();
	bool tcp = p->tuple.proto == BPFMESH_PROTO_TCP;

	if (!tcp && ct_udp_idle(fam, &p->tuple, ct, now)) {
		tc4_count(BPFMESH_TC_UDP_EXPIRED);
		ct_delete(fam, &p->tuple, ct);
		return tc_new_flow(skb, p, fam, key, svc);
	}
	if (tcp && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && ct->fin) {
		/* A new connection on the 5-tuple of one that was closing. */
		ct_delete(fam, &p->tuple, ct);
		return tc_new_flow(skb, p, fam, key, svc);
	}
	if (!tc_endpoint_in_policy(fam, svc, ct)) {
		tc4_count(BPFMESH_TC_ENDPOINT_GONE);
		ct_delete(fam, &p->tuple, ct);
		if (tcp)
			return pkt_reply_reset(skb, p, fam);
		return tc_new_flow(skb, p, fam, key, svc); /* UDP has no reset: choose again */
	}
	ct_nat_addr(fam, ct, addr); /* before the entry may go */
	if (tcp && ct_tcp_closes(fam, &p->tuple, ct, p->tcp_flags)) {
		ct_delete(fam, &p->tuple, ct);
		tc4_count(BPFMESH_TC_CLOSED);
	} else {
		ct_touch(ct, now);
	}
	return tc_done(pkt_rewrite_dst(skb, p, fam, addr, port), BPFMESH_TC_FORWARD);
}

/* A packet from an endpoint to a client of a tracked flow. */
static __always_inline int tc_reply(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
				    struct ct4_val *ct)
{
	__be32 addr[4];
	__be16 port = ct->nat_port;

	ct_nat_addr(fam, ct, addr); /* before the entry may go */
	if (p->tuple.proto == BPFMESH_PROTO_TCP &&
	    ct_tcp_closes(fam, &p->tuple, ct, p->tcp_flags)) {
		ct_delete(fam, &p->tuple, ct);
		tc4_count(BPFMESH_TC_CLOSED);
	} else {
		ct_touch(ct, bpf_ktime_get_ns());
	}
	return tc_done(pkt_rewrite_src(skb, p, fam, addr, port), BPFMESH_TC_REPLY);
}

static __always_inline int tc_l4(struct __sk_buff *skb, const struct pkt *p,
				 struct svc_key *key, __u8 fam)
{
	const struct svc_val *svc;
	struct ct4_val *ct;

	ct = ct_lookup(fam, &p->tuple);
	if (ct && ct->dir == CT_DIR_REPLY)
		return tc_reply(skb, p, fam, ct);
	tc_svc_key(fam, &p->tuple, key);
	svc = svc_find(key);
	if (!svc) {
		if (!ct)
			return tc_done(0, BPFMESH_TC_PASS);
		/* The service itself is gone, and with it the flow's endpoint.
		 * A UDP flow has no reset: its packets pass as to any address. */
		tc4_count(BPFMESH_TC_ENDPOINT_GONE);
		ct_delete(fam, &p->tuple, ct);
		if (p->tuple.proto == BPFMESH_PROTO_TCP)
			return pkt_reply_reset(skb, p, fam);
		return TC_ACT_OK;
	}
	if (ct)
		return tc_forward(skb, p, fam, key, svc, ct);
	return tc_new_flow(skb, p, fam, key, svc);
}

static __always_inline int tc_icmp(struct __sk_buff *skb, const struct pkt *p, __u8 fam)
{
	int ret = fam == BPFMESH_AF_INET6 ? icmp6_translate(skb, p) : icmp4_translate(skb, p);

	if (ret < 0)
		return tc_drop_error();
	return tc_done(0, ret ? BPFMESH_TC_ICMP : BPFMESH_TC_PASS);
}

/* The packet kind parse found, acted on. */
static __always_inline int tc_ingress_kind(struct __sk_buff *skb, struct tc_scratch *sc,
					   __u8 fam, int kind)
{
	switch (kind) {
	case PKT_L4:
		return tc_l4(skb, &sc->p, &sc->svc, fam);
	case PKT_ICMP:
		return tc_icmp(skb, &sc->p, fam);
	case PKT_FRAGMENT:
		return tc_done(0, BPFMESH_TC_FRAGMENT);
	}
	return tc_done(0, BPFMESH_TC_PASS);
}

/* One path per family, each verified with its family constant (and its
 * own stack frame): neither carries the other's branches. */
static __noinline int tc4_ingress(struct __sk_buff *skb)
{
	struct tc_scratch *sc = tc_scratch_get(TC_PKT_INGRESS);

	if (!sc)
		return tc_done(0, BPFMESH_TC_PASS);
	return tc_ingress_kind(skb, sc, BPFMESH_AF_INET, pkt4_parse(skb, &sc->p));
}

static __noinline int tc6_ingress(struct __sk_buff *skb)
{
	struct tc_scratch *sc = tc_scratch_get(TC_PKT_INGRESS);

	if (!sc)
		return tc_done(0, BPFMESH_TC_PASS);
	return tc_ingress_kind(skb, sc, BPFMESH_AF_INET6, pkt6_parse(skb, &sc->p));
}

/* Egress sees what the node itself sends: of that, only ICMP errors the
 * node raises about a translated packet (TTL exceeded while forwarding it,
 * no route to the endpoint...) concern us; they quote the packet after its
 * DNAT and never crossed an ingress program (an ICMPv6 Packet Too Big
 * about a packet too large for the link to the endpoint, above all).
 * Everything else passes after one header read. */
static __always_inline int tc_egress_family(struct __sk_buff *skb)
{
	struct tc_scratch *sc = tc_scratch_get(TC_PKT_EGRESS);
	struct pkt *p = sc ? &sc->p : NULL;

	if (!p)
		return TC_ACT_OK;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (pkt4_parse(skb, p) != PKT_ICMP)
			return TC_ACT_OK;
		return tc_icmp(skb, p, BPFMESH_AF_INET);
	}
	if (skb->protocol != bpf_htons(ETH_P_IPV6) || pkt6_parse(skb, p) != PKT_ICMP)
		return TC_ACT_OK;
	return tc_icmp(skb, p, BPFMESH_AF_INET6);
}

SEC("tc")
int bpfmesh_tc_ingress(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return tc4_ingress(skb);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return tc6_ingress(skb);
	return tc_done(0, BPFMESH_TC_PASS);
}

SEC("tc")
int bpfmesh_tc_egress(struct __sk_buff *skb)
{
	return tc_egress_family(skb);
}
