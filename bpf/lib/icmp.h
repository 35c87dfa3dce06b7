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
 * helper failed half way. */
static __always_inline int icmp4_translate(struct __sk_buff *skb, const struct pkt *p)
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

#endif /* BPFMESH_ICMP_H */
