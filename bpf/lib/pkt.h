/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_PKT_H
#define BPFMESH_PKT_H
/*
 * IPv4 packets on the TC path: reading the headers a translation needs and
 * rewriting addresses and ports with the kernel's checksum helpers.
 *
 * Headers are read with bpf_skb_load_bytes(), which also works when they are
 * not in the linear part of the skb, and written with bpf_skb_store_bytes().
 * Checksums are updated incrementally (RFC 1624) by bpf_l3_csum_replace() and
 * bpf_l4_csum_replace(): these know the skb's checksum state (a
 * CHECKSUM_PARTIAL packet from a local socket carries only the pseudo-header
 * sum, which BPF_F_PSEUDO_HDR updates correctly).
 */
#include "lib/common.h"

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_P_IP 0x0800
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

/* Offsets inside the headers (RFC 791, 793, 768, 792). */
#define IP_CSUM_OFF 10
#define IP_SADDR_OFF 12
#define IP_DADDR_OFF 16
#define L4_SPORT_OFF 0
#define L4_DPORT_OFF 2
#define TCP_SEQ_OFF 4
#define TCP_ACK_OFF 8
#define TCP_FLAGS_WORD_OFF 12 /* data offset, reserved bits and flags: one 16-bit word */
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define ICMP_CSUM_OFF 2

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11

/* What the TC path needs to know about one packet. */
struct pkt4 {
	struct ct4_key tuple;
	__u32 l4_off;      /* from the start of the frame */
	__u32 csum_off;    /* of the L4 checksum */
	__u64 csum_flags;  /* BPF_F_MARK_MANGLED_0 for UDP: zero means "none" (RFC 768) */
	__be32 tcp_seq;
	__be32 tcp_ack;
	__be16 tcp_flags_word;
	__u8 tcp_flags;
	__u8 pad;
	__u32 seg_len;     /* TCP payload bytes */
};

enum pkt_kind {
	PKT_OTHER = 0, /* not IPv4, or a protocol we do not translate */
	PKT_L4,        /* TCP or UDP, tuple filled in */
	PKT_ICMP,      /* ICMP: l4_off filled in */
	PKT_FRAGMENT,  /* IPv4 fragment: no ports to translate */
};

static __always_inline int pkt4_parse_tcp(struct __sk_buff *skb, struct pkt4 *p, __u32 ip_len,
					  __u32 ihl)
{
	struct tcphdr th;
	__u32 doff;

	if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)))
		return PKT_OTHER;
	doff = th.doff * 4;
	if (doff < sizeof(th) || ip_len < ihl + doff)
		return PKT_OTHER;
	p->tuple.sport = th.source;
	p->tuple.dport = th.dest;
	p->csum_off = p->l4_off + TCP_CSUM_OFF;
	p->tcp_seq = th.seq;
	p->tcp_ack = th.ack_seq;
	p->tcp_flags_word = *(__be16 *)((__u8 *)&th + TCP_FLAGS_WORD_OFF);
	p->tcp_flags = ((__u8 *)&th)[TCP_FLAGS_WORD_OFF + 1];
	p->seg_len = ip_len - ihl - doff;
	return PKT_L4;
}

static __always_inline int pkt4_parse_udp(struct __sk_buff *skb, struct pkt4 *p)
{
	struct udphdr uh;

	if (bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)))
		return PKT_OTHER;
	p->tuple.sport = uh.source;
	p->tuple.dport = uh.dest;
	p->csum_off = p->l4_off + UDP_CSUM_OFF;
	p->csum_flags = BPF_F_MARK_MANGLED_0;
	return PKT_L4;
}

/* Read the IPv4 and L4 headers of an Ethernet frame into p. */
static __always_inline int pkt4_parse(struct __sk_buff *skb, struct pkt4 *p)
{
	struct iphdr ip;
	__u32 ihl, ip_len;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return PKT_OTHER;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return PKT_OTHER;
	ihl = ip.ihl * 4;
	ip_len = bpf_ntohs(ip.tot_len);
	if (ip.version != 4 || ihl < sizeof(ip) || ip_len < ihl)
		return PKT_OTHER;
	if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PKT_FRAGMENT;
	p->tuple.saddr = ip.saddr;
	p->tuple.daddr = ip.daddr;
	p->tuple.proto = ip.protocol;
	p->l4_off = ETH_HLEN + ihl;
	switch (ip.protocol) {
	case BPFMESH_PROTO_TCP:
		return pkt4_parse_tcp(skb, p, ip_len, ihl);
	case BPFMESH_PROTO_UDP:
		return pkt4_parse_udp(skb, p);
	case IPPROTO_ICMP:
		return PKT_ICMP;
	}
	return PKT_OTHER;
}

/* Replace the address at IP header offset off (IP_SADDR_OFF or
 * IP_DADDR_OFF): the IP checksum covers it, the L4 one through its
 * pseudo-header. 0 or a negative error. */
static __always_inline int pkt4_set_addr(struct __sk_buff *skb, const struct pkt4 *p, __u32 off,
					 __be32 from, __be32 to)
{
	int err;

	err = bpf_l4_csum_replace(skb, p->csum_off, from, to,
				  BPF_F_PSEUDO_HDR | p->csum_flags | sizeof(to));
	if (!err)
		err = bpf_l3_csum_replace(skb, ETH_HLEN + IP_CSUM_OFF, from, to, sizeof(to));
	if (!err)
		err = bpf_skb_store_bytes(skb, ETH_HLEN + off, &to, sizeof(to), 0);
	return err;
}

/* Replace the port at L4 offset off (L4_SPORT_OFF or L4_DPORT_OFF). */
static __always_inline int pkt4_set_port(struct __sk_buff *skb, const struct pkt4 *p, __u32 off,
					 __be16 from, __be16 to)
{
	int err;

	err = bpf_l4_csum_replace(skb, p->csum_off, from, to, p->csum_flags | sizeof(to));
	if (!err)
		err = bpf_skb_store_bytes(skb, p->l4_off + off, &to, sizeof(to), 0);
	return err;
}

/* DNAT: the destination becomes addr:port. */
static __always_inline int pkt4_rewrite_dst(struct __sk_buff *skb, const struct pkt4 *p,
					    __be32 addr, __be16 port)
{
	int err = 0;

	if (p->tuple.daddr != addr)
		err = pkt4_set_addr(skb, p, IP_DADDR_OFF, p->tuple.daddr, addr);
	if (!err && p->tuple.dport != port)
		err = pkt4_set_port(skb, p, L4_DPORT_OFF, p->tuple.dport, port);
	return err;
}

/* SNAT: the source becomes addr:port. */
static __always_inline int pkt4_rewrite_src(struct __sk_buff *skb, const struct pkt4 *p,
					    __be32 addr, __be16 port)
{
	int err = 0;

	if (p->tuple.saddr != addr)
		err = pkt4_set_addr(skb, p, IP_SADDR_OFF, p->tuple.saddr, addr);
	if (!err && p->tuple.sport != port)
		err = pkt4_set_port(skb, p, L4_SPORT_OFF, p->tuple.sport, port);
	return err;
}

/* Store a 32-bit TCP field and fold the change into the TCP checksum. */
static __always_inline int pkt4_set_tcp32(struct __sk_buff *skb, const struct pkt4 *p, __u32 off,
					  __be32 from, __be32 to)
{
	int err = bpf_l4_csum_replace(skb, p->csum_off, from, to, sizeof(to));

	return err ? err : bpf_skb_store_bytes(skb, p->l4_off + off, &to, sizeof(to), 0);
}

/*
 * Turn a TCP segment from the client into a reset back to it, sent out of
 * the interface it came in on. RFC 793 (3.4, "Reset Generation"): if the
 * segment has an ACK, the reset is <SEQ=SEG.ACK><CTL=RST>; otherwise it is
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and FIN.
 * The segment's payload stays in place: RFC 1122 4.2.2.12 lets a reset carry
 * data, and keeping the length lets every checksum change be incremental.
 * Swapping the two addresses or the two ports leaves both checksums as they
 * are (the one's complement sum is the same).
 */
static __always_inline int pkt4_reply_reset(struct __sk_buff *skb, const struct pkt4 *p)
{
	__u8 macs[2 * ETH_ALEN], swapped[2 * ETH_ALEN];
	__be32 addrs[2] = { p->tuple.daddr, p->tuple.saddr };
	__be16 ports[2] = { p->tuple.dport, p->tuple.sport };
	__be32 seq = 0, ack = p->tcp_ack;
	__be16 flags_word;
	__u8 flags = TCP_RST;
	int i;

	if (p->tcp_flags & TCP_ACK) {
		seq = p->tcp_ack;
	} else {
		__u32 len = p->seg_len + !!(p->tcp_flags & TCP_SYN) + !!(p->tcp_flags & TCP_FIN);

		ack = bpf_htonl(bpf_ntohl(p->tcp_seq) + len);
		flags |= TCP_ACK;
	}
	flags_word = (p->tcp_flags_word & bpf_htons(0xff00)) | bpf_htons(flags);

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return TC_ACT_SHOT;
	for (i = 0; i < ETH_ALEN; i++) {
		swapped[i] = macs[ETH_ALEN + i];
		swapped[ETH_ALEN + i] = macs[i];
	}
	if (bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + IP_SADDR_OFF, addrs, sizeof(addrs), 0) ||
	    bpf_skb_store_bytes(skb, p->l4_off + L4_SPORT_OFF, ports, sizeof(ports), 0) ||
	    pkt4_set_tcp32(skb, p, TCP_SEQ_OFF, p->tcp_seq, seq) ||
	    pkt4_set_tcp32(skb, p, TCP_ACK_OFF, p->tcp_ack, ack))
		return TC_ACT_SHOT;
	if (bpf_l4_csum_replace(skb, p->csum_off, p->tcp_flags_word, flags_word, 2) ||
	    bpf_skb_store_bytes(skb, p->l4_off + TCP_FLAGS_WORD_OFF, &flags_word, 2, 0))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/* One's complement helpers for checksums computed here, outside the skb
 * helpers (the headers quoted inside an ICMP error). */
static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The checksum check after the covered 32-bit word changes from -> to. */
static __always_inline __u16 csum_update32(__u16 check, __be32 from, __be32 to)
{
	__u32 sum = (__u16)~check;

	sum += (~from & 0xffff) + (~from >> 16) + (to & 0xffff) + (to >> 16);
	return csum_fold32(sum);
}

static __always_inline __u16 csum_update16(__u16 check, __be16 from, __be16 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from + to;
	return csum_fold32(sum);
}

#endif /* BPFMESH_PKT_H */
