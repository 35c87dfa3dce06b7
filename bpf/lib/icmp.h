/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_ICMP_H
#define BPFMESH_ICMP_H
/*
 * ICMP errors about translated flows. An error quotes the IP header and the
 * first 8 bytes of the packet that caused it (RFC 792), as that packet was
 * on the wire, i.e. translated. To reach the client the quote must read as
 * what the client sent (or, for an error from the client, what the endpoint
 * sent): the quoted endpoint becomes the VIP again, or the other way round.
 *
 * The quoted tuple, swapped, is the key of the entry of the flow's other
 * direction: an endpoint's error quotes client -> endpoint, and the reply
 * entry is endpoint -> client; a client's error quotes VIP -> client, and
 * the forward entry is client -> VIP.
 *
 * ICMPv6 (RFC 4443) the same way, for Destination Unreachable, Packet Too
 * Big and Time Exceeded; its errors quote as much of the packet as fits in
 * 1280 bytes, and its checksum covers a pseudo-header (the outer addresses)
 * and the whole quote, IPv6 header included (which has no checksum of its
 * own to absorb an address change, as IPv4's has).
 */
#include "lib/common.h"
#include "lib/ct.h"
#include "lib/pkt.h"

/* The IP header (without options) and first 8 bytes an ICMP error quotes. */
struct icmp4_quote {
	struct iphdr ip;
	__be16 sport;
	__be16 dport;
	__be16 word2; /* UDP length; TCP sequence number, high half */
	__be16 word3; /* UDP checksum; TCP sequence number, low half */
};

#define ICMP_HLEN 8

/* Replace one quoted address and port (the source's or the destination's),
 * keeping the quoted IP and UDP checksums right, and fold the change into
 * the ICMP checksum *icmp_check. The quoted IP header's own sum is the same
 * after an address change and its checksum update, so only the port and the
 * UDP checksum reach the ICMP checksum (which has no pseudo-header). */
static __always_inline void icmp4_quote_rewrite(struct icmp4_quote *q, bool src, __be32 addr,
						__be16 port, __u16 *icmp_check)
{
	__be32 *qaddr = src ? &q->ip.saddr : &q->ip.daddr;
	__be16 *qport = src ? &q->sport : &q->dport;
	__u16 old_l4;

	q->ip.check = csum_update32(q->ip.check, *qaddr, addr);
	if (q->ip.protocol == BPFMESH_PROTO_UDP && q->word3) {
		old_l4 = q->word3;
		q->word3 = csum_update16(csum_update32(q->word3, *qaddr, addr), *qport, port);
		if (!q->word3)
			q->word3 = 0xffff; /* RFC 768: a computed zero is sent as all ones */
		*icmp_check = csum_update16(*icmp_check, old_l4, q->word3);
	}
	*icmp_check = csum_update16(*icmp_check, *qport, port);
	*qaddr = addr;
	*qport = port;
}

/* Translate an ICMP error about a tracked flow. Returns 1 when it was one
 * (now translated), 0 to let the packet pass as it is, negative when a
 * helper failed half way. Out of line, as icmp6_translate: its quote and
 * key take a frame of their own, not one on the chain to lb4_pick (tc.bpf.c,
 * bpfmesh_tc_pkt_scratch). */
static __noinline int icmp4_translate(struct __sk_buff *skb, const struct pkt *p)
{
	struct icmp4_quote q;
	struct ct4_val *ct;
	struct ct4_key k = {};
	__u8 icmp[ICMP_HLEN];
	__u16 check;
	__be32 outer_from, outer_to;
	__u32 outer_off;
	bool reply;

	if (bpf_skb_load_bytes(skb, p->l4_off, icmp, sizeof(icmp)))
		return false;
	if (icmp[0] != ICMP_DEST_UNREACH && icmp[0] != ICMP_TIME_EXCEEDED)
		return false;
	if (bpf_skb_load_bytes(skb, p->l4_off + ICMP_HLEN, &q, sizeof(q)))
		return false;
	if (q.ip.ihl != 5 ||
	    (q.ip.protocol != BPFMESH_PROTO_TCP && q.ip.protocol != BPFMESH_PROTO_UDP))
		return false;
	k.saddr = q.ip.daddr;
	k.daddr = q.ip.saddr;
	k.sport = q.dport;
	k.dport = q.sport;
	k.proto = q.ip.protocol;
	ct = bpf_map_lookup_elem(&bpfmesh_ct4_flows, &k);
	if (!ct)
		return false;

	check = *(__u16 *)&icmp[ICMP_CSUM_OFF];
	reply = ct->dir == CT_DIR_REPLY;
	/* Reply entry: the quote's destination is the endpoint, make it the VIP.
	 * Forward entry: the quote's source is the VIP, make it the endpoint. */
	icmp4_quote_rewrite(&q, !reply, ct->nat_addr, ct->nat_port, &check);
	if (bpf_skb_store_bytes(skb, p->l4_off + ICMP_HLEN, &q, sizeof(q), 0) ||
	    bpf_skb_store_bytes(skb, p->l4_off + ICMP_CSUM_OFF, &check, sizeof(check), 0))
		return -1;

	/* The outer header: an error from the endpoint itself leaves from the
	 * VIP; one from the client to the VIP goes to the endpoint. A router
	 * on the way keeps its own address. */
	outer_off = reply ? IP_SADDR_OFF : IP_DADDR_OFF;
	outer_from = reply ? p->tuple.saddr[0] : p->tuple.daddr[0];
	outer_to = ct->nat_addr;
	if (outer_from != (reply ? k.saddr : k.daddr))
		return true;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + IP_CSUM_OFF, outer_from, outer_to, 4) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + outer_off, &outer_to, 4, 0))
		return -1;
	return true;
}

/* ICMPv6 error types (RFC 4443 3.1-3.3); informational ones (echo, neighbour
 * discovery: 128 and up) pass as they are. */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3

/* Offsets in the IPv6 header an ICMPv6 error quotes (RFC 8200). */
#define IP6_NEXTHDR_OFF 6
#define IP6_HLEN 40

/* The checksum check after the covered 128-bit address changes from -> to. */
static __always_inline __u16 csum_update128(__u16 check, const __be32 *from, const __be32 *to)
{
	int i;

	for (i = 0; i < 4; i++)
		check = csum_update32(check, from[i], to[i]);
	return check;
}

/* The quoted TCP or UDP checksum, at off, after the quoted address and
 * port change (its pseudo-header has the address), folded into *icmp_check.
 * Only when the quote reaches it (a TCP segment's is 16 bytes in) and, for
 * UDP, it is set (zero: none). 0, or negative when the store failed. */
static __always_inline int icmp6_quote_l4_csum(struct __sk_buff *skb, __u32 off, bool udp,
					       const __be32 *from, const __be32 *to,
					       __be16 from_port, __be16 to_port,
					       __u16 *icmp_check)
{
	__u16 old, new;

	if (bpf_skb_load_bytes(skb, off, &old, sizeof(old)) || (udp && !old))
		return 0;
	new = csum_update16(csum_update128(old, from, to), from_port, to_port);
	if (udp && !new)
		new = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	*icmp_check = csum_update16(*icmp_check, old, new);
	return bpf_skb_store_bytes(skb, off, &new, sizeof(new), 0);
}

/* icmp4_translate for ICMPv6, p parsed by pkt6_parse (PKT_ICMP). The quote
 * is read straight into the flow key and written field by field, and the
 * flow's address is read from its entry, to keep the stack small: not
 * inlined, this frame is stacked on the ingress path's, and Linux 6.1
 * rejects more than 512 bytes over a chain of calls ("combined stack size
 * of 3 calls is 544. Too large" with the quote copied whole, inlined). */
static __noinline int icmp6_translate(struct __sk_buff *skb, const struct pkt *p)
{
	__u32 q_off = p->l4_off + ICMP_HLEN, l4_off = q_off + IP6_HLEN;
	const __be32 *to, *from, *outer_from;
	struct ct6_key k = {};
	struct ct4_val *ct;
	__be16 from_port, to_port;
	__u16 check;
	__u8 type;
	bool reply;

	if (bpf_skb_load_bytes(skb, p->l4_off, &type, sizeof(type)))
		return 0;
	if (type != ICMPV6_DEST_UNREACH && type != ICMPV6_PKT_TOOBIG &&
	    type != ICMPV6_TIME_EXCEED)
		return 0;
	/* The quoted tuple, swapped: the key of the flow's other direction. */
	if (bpf_skb_load_bytes(skb, p->l4_off + ICMP_CSUM_OFF, &check, sizeof(check)) ||
	    bpf_skb_load_bytes(skb, q_off + IP6_NEXTHDR_OFF, &k.proto, sizeof(k.proto)) ||
	    bpf_skb_load_bytes(skb, q_off + IP6_SADDR_OFF, k.daddr, 16) ||
	    bpf_skb_load_bytes(skb, q_off + IP6_DADDR_OFF, k.saddr, 16) ||
	    bpf_skb_load_bytes(skb, l4_off + L4_SPORT_OFF, &k.dport, sizeof(k.dport)) ||
	    bpf_skb_load_bytes(skb, l4_off + L4_DPORT_OFF, &k.sport, sizeof(k.sport)))
		return 0;
	if (k.proto != BPFMESH_PROTO_TCP && k.proto != BPFMESH_PROTO_UDP)
		return 0;
	ct = ct_lookup(BPFMESH_AF_INET6, &k);
	if (!ct)
		return 0;

	/* Reply entry: the quote's destination is the endpoint, make it the VIP.
	 * Forward entry: the quote's source is the VIP, make it the endpoint. */
	reply = ct->dir == CT_DIR_REPLY;
	to = ct_nat_ptr(BPFMESH_AF_INET6, ct);
	to_port = ct->nat_port;
	from = reply ? k.saddr : k.daddr;
	from_port = reply ? k.sport : k.dport;
	if (icmp6_quote_l4_csum(skb, l4_off + (k.proto == BPFMESH_PROTO_UDP ? UDP_CSUM_OFF :
								     TCP_CSUM_OFF),
				k.proto == BPFMESH_PROTO_UDP, from, to, from_port, to_port, &check))
		return -1;
	check = csum_update16(csum_update128(check, from, to), from_port, to_port);
	if (bpf_skb_store_bytes(skb, q_off + (reply ? IP6_DADDR_OFF : IP6_SADDR_OFF), to, 16,
				0) ||
	    bpf_skb_store_bytes(skb, l4_off + (reply ? L4_DPORT_OFF : L4_SPORT_OFF), &to_port,
				sizeof(to_port), 0))
		return -1;

	/* The outer header, as for IPv4; the address is in the ICMPv6
	 * checksum's pseudo-header. A router on the way keeps its own. */
	outer_from = reply ? p->tuple.saddr : p->tuple.daddr;
	if (pkt_addr_eq(BPFMESH_AF_INET6, outer_from, from)) {
		check = csum_update128(check, outer_from, to);
		if (bpf_skb_store_bytes(skb, pkt_addr_off(BPFMESH_AF_INET6, !reply), to, 16, 0))
			return -1;
	}
	if (bpf_skb_store_bytes(skb, p->l4_off + ICMP_CSUM_OFF, &check, sizeof(check), 0))
		return -1;
	return 1;
}

#endif /* BPFMESH_ICMP_H */
