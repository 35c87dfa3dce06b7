/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_PKT_H
#define BPFMESH_PKT_H
/*
 * IPv4 and IPv6 packets on the TC path: reading the headers a translation
 * needs and rewriting addresses and ports with the kernel's checksum helpers.
 *
 * Headers are read with bpf_skb_load_bytes(), which also works when they are
 * not in the linear part of the skb, and written with bpf_skb_store_bytes().
 * Checksums are updated incrementally (RFC 1624) by bpf_l3_csum_replace() and
 * bpf_l4_csum_replace(): these know the skb's checksum state (a
 * CHECKSUM_PARTIAL packet from a local socket carries only the pseudo-header
 * sum, which BPF_F_PSEUDO_HDR updates correctly).
 */
#include "lib/common.h"
#include <bpfmesh/tc_abi.h>

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_FRAGMENT_HDR 44
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

/* Offsets inside the headers (RFC 791, 793, 768, 792). */
#define IP_CSUM_OFF 10
#define IP_SADDR_OFF 12
#define IP_DADDR_OFF 16
#define IP6_SADDR_OFF 8 /* RFC 8200 */
#define IP6_DADDR_OFF 24
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

#define BPFMESH_PROTO_ICMPV6 58 /* IPPROTO_ICMPV6: a macro, not in vmlinux.h */
#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11

/* Whether two addresses of family fam are the same (IPv4: word 0). */
static __always_inline bool pkt_addr_eq(__u8 fam, const __be32 *a, const __be32 *b)
{
	if (fam == BPFMESH_AF_INET6)
		return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
	return a[0] == b[0];
}

/* What the TC path needs to know about one packet, of either family. */
struct pkt {
	struct ct6_key tuple; /* IPv4: addresses in word 0, the rest zero (lib/ct.h) */
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
	PKT_OTHER = 0, /* not IP, or a protocol we do not translate */
	PKT_L4,        /* TCP or UDP, tuple filled in */
	PKT_ICMP,      /* ICMP or ICMPv6: addresses and l4_off filled in */
	PKT_FRAGMENT,  /* fragment: no ports to translate */
};

/* The TCP header at p->l4_off, l4_len bytes of L4 in the packet. */
static __always_inline int pkt_parse_tcp(struct __sk_buff *skb, struct pkt *p, __u32 l4_len)
{
	struct tcphdr th;
	__u32 doff;

	if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)))
		return PKT_OTHER;
	doff = th.doff * 4;
	if (doff < sizeof(th) || l4_len < doff)
		return PKT_OTHER;
	p->tuple.sport = th.source;
	p->tuple.dport = th.dest;
	p->csum_off = p->l4_off + TCP_CSUM_OFF;
	p->tcp_seq = th.seq;
	p->tcp_ack = th.ack_seq;
	p->tcp_flags_word = *(__be16 *)((__u8 *)&th + TCP_FLAGS_WORD_OFF);
	p->tcp_flags = ((__u8 *)&th)[TCP_FLAGS_WORD_OFF + 1];
	p->seg_len = l4_len - doff;
	return PKT_L4;
}

static __always_inline int pkt_parse_udp(struct __sk_buff *skb, struct pkt *p)
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

static __always_inline int pkt_parse_l4(struct __sk_buff *skb, struct pkt *p, __u32 l4_len)
{
	switch (p->tuple.proto) {
	case BPFMESH_PROTO_TCP:
		return pkt_parse_tcp(skb, p, l4_len);
	case BPFMESH_PROTO_UDP:
		return pkt_parse_udp(skb, p);
	}
	return PKT_OTHER;
}

/* Read the IPv4 and L4 headers of an Ethernet frame into p. */
static __always_inline int pkt4_parse(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;
	__u32 ihl, ip_len;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return PKT_OTHER;
	ihl = ip.ihl * 4;
	ip_len = bpf_ntohs(ip.tot_len);
	if (ip.version != 4 || ihl < sizeof(ip) || ip_len < ihl)
		return PKT_OTHER;
	if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PKT_FRAGMENT;
	p->tuple.saddr[0] = ip.saddr;
	p->tuple.daddr[0] = ip.daddr;
	p->tuple.proto = ip.protocol;
	p->l4_off = ETH_HLEN + ihl;
	if (ip.protocol == IPPROTO_ICMP)
		return PKT_ICMP;
	return pkt_parse_l4(skb, p, ip_len - ihl);
}

/* Read the IPv6 and L4 headers of an Ethernet frame into p. Only TCP or
 * UDP right after the fixed header is translated: a packet with extension
 * headers passes untouched (a fragment header is counted as a fragment);
 * ICMPv6 is handed to lib/icmp.h. */
static __always_inline int pkt6_parse(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv6hdr ip;
	__u32 l4_len;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return PKT_OTHER;
	if (ip.version != 6)
		return PKT_OTHER;
	if (ip.nexthdr == IPPROTO_FRAGMENT_HDR)
		return PKT_FRAGMENT;
	l4_len = bpf_ntohs(ip.payload_len);
	__builtin_memcpy(p->tuple.saddr, &ip.saddr, 16);
	__builtin_memcpy(p->tuple.daddr, &ip.daddr, 16);
	p->tuple.proto = ip.nexthdr;
	p->l4_off = ETH_HLEN + sizeof(ip);
	if (ip.nexthdr == BPFMESH_PROTO_ICMPV6)
		return PKT_ICMP;
	return pkt_parse_l4(skb, p, l4_len);
}

/* Offset in the frame of the source (or destination) address. */
static __always_inline __u32 pkt_addr_off(__u8 fam, bool dst)
{
	if (fam == BPFMESH_AF_INET6)
		return ETH_HLEN + (dst ? IP6_DADDR_OFF : IP6_SADDR_OFF);
	return ETH_HLEN + (dst ? IP_DADDR_OFF : IP_SADDR_OFF);
}

/* Replace the source (or destination) address: the L4 checksum covers it
 * through its pseudo-header, an IPv4 header's checksum too (IPv6 has none).
 * 0 or a negative error. */
static __always_inline int pkt_set_addr(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
					bool dst, const __be32 *from, const __be32 *to)
{
	__u32 off = pkt_addr_off(fam, dst);
	__s64 diff;
	int err;

	if (fam == BPFMESH_AF_INET6) {
		/* 16 bytes: fold their sum difference in, as one 0 -> diff change. */
		diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
		if (diff < 0)
			return (int)diff;
		err = bpf_l4_csum_replace(skb, p->csum_off, 0, (__u64)diff,
					  BPF_F_PSEUDO_HDR | p->csum_flags);
		return err ? err : bpf_skb_store_bytes(skb, off, to, 16, 0);
	}
	err = bpf_l4_csum_replace(skb, p->csum_off, from[0], to[0],
				  BPF_F_PSEUDO_HDR | p->csum_flags | sizeof(to[0]));
	if (!err)
		err = bpf_l3_csum_replace(skb, ETH_HLEN + IP_CSUM_OFF, from[0], to[0],
					  sizeof(to[0]));
	if (!err)
		err = bpf_skb_store_bytes(skb, off, to, sizeof(to[0]), 0);
	return err;
}

/* Replace the port at L4 offset off (L4_SPORT_OFF or L4_DPORT_OFF). */
static __always_inline int pkt_set_port(struct __sk_buff *skb, const struct pkt *p, __u32 off,
					__be16 from, __be16 to)
{
	int err;

	err = bpf_l4_csum_replace(skb, p->csum_off, from, to, p->csum_flags | sizeof(to));
	if (!err)
		err = bpf_skb_store_bytes(skb, p->l4_off + off, &to, sizeof(to), 0);
	return err;
}

/* DNAT: the destination becomes addr:port. */
static __always_inline int pkt_rewrite_dst(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
					   const __be32 *addr, __be16 port)
{
	int err = 0;

	if (!pkt_addr_eq(fam, p->tuple.daddr, addr))
		err = pkt_set_addr(skb, p, fam, true, p->tuple.daddr, addr);
	if (!err && p->tuple.dport != port)
		err = pkt_set_port(skb, p, L4_DPORT_OFF, p->tuple.dport, port);
	return err;
}

/* SNAT: the source becomes addr:port. */
static __always_inline int pkt_rewrite_src(struct __sk_buff *skb, const struct pkt *p, __u8 fam,
					   const __be32 *addr, __be16 port)
{
	int err = 0;

	if (!pkt_addr_eq(fam, p->tuple.saddr, addr))
		err = pkt_set_addr(skb, p, fam, false, p->tuple.saddr, addr);
	if (!err && p->tuple.sport != port)
		err = pkt_set_port(skb, p, L4_SPORT_OFF, p->tuple.sport, port);
	return err;
}

/* Store a 32-bit TCP field and fold the change into the TCP checksum. */
static __always_inline int pkt_set_tcp32(struct __sk_buff *skb, const struct pkt *p, __u32 off,
					 __be32 from, __be32 to)
{
	int err = bpf_l4_csum_replace(skb, p->csum_off, from, to, sizeof(to));

	return err ? err : bpf_skb_store_bytes(skb, p->l4_off + off, &to, sizeof(to), 0);
}

/* The two addresses swapped: each written over the other straight from p,
 * which keeps the packet's originals (no copy on the stack). */
static __always_inline int pkt_swap_addrs(struct __sk_buff *skb, const struct pkt *p, __u8 fam)
{
	__u32 len = fam == BPFMESH_AF_INET6 ? 16 : 4;

	if (bpf_skb_store_bytes(skb, pkt_addr_off(fam, false), p->tuple.daddr, len, 0))
		return -1;
	return bpf_skb_store_bytes(skb, pkt_addr_off(fam, true), p->tuple.saddr, len, 0);
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
 * Out of line: four call sites share one copy, and its locals are not in
 * the frame on the chain to lb4_pick (tc.bpf.c, bpfmesh_tc_pkt_scratch).
 */
static __noinline int pkt_reply_reset(struct __sk_buff *skb, const struct pkt *p, __u8 fam)
{
	__u8 macs[2 * ETH_ALEN], t;
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
		t = macs[i];
		macs[i] = macs[ETH_ALEN + i];
		macs[ETH_ALEN + i] = t;
	}
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) ||
	    pkt_swap_addrs(skb, p, fam) ||
	    bpf_skb_store_bytes(skb, p->l4_off + L4_SPORT_OFF, ports, sizeof(ports), 0) ||
	    pkt_set_tcp32(skb, p, TCP_SEQ_OFF, p->tcp_seq, seq) ||
	    pkt_set_tcp32(skb, p, TCP_ACK_OFF, p->tcp_ack, ack))
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
