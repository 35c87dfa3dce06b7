/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_PKT_BUILD_H
#define BPFMESH_PKT_BUILD_H
/*
 * Crafted Ethernet/IPv4 and IPv6 frames (TCP, UDP, ICMP or ICMPv6 errors) for
 * BPF_PROG_TEST_RUN: a packet is described field by field and built with
 * every checksum computed from scratch (RFC 1071), so an expected packet
 * checks the kernel's incremental updates against an independent
 * computation.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PKT_MAX 512

struct pkt_spec {
	__u8 proto; /* 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 */
	const char *src, *dst; /* IPv6 when they hold a ':' (no extension headers) */
	__u16 sport, dport; /* host order */
	__u8 tcp_flags;     /* TH_* bits: FIN 1, SYN 2, RST 4, PSH 8, ACK 16 */
	__u32 seq, ack;
	int payload;        /* payload bytes (a fixed pattern) */
	bool udp_no_csum;   /* UDP checksum 0: "none" (RFC 768) */
	bool swap_macs;     /* frame from the node back to the sender */
	__u16 frag;         /* IP flags+fragment offset, host order (0: none) */
	__u8 icmp_type, icmp_code;
	const struct pkt_spec *quote; /* ICMP error: the packet it is about */
	__u32 icmp_info;    /* ICMP error: the word after the checksum (Packet Too Big: MTU) */
};

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

/* Build s into buf; returns the frame length, or 0 if it does not fit. */
size_t pkt_build(const struct pkt_spec *s, __u8 *buf, size_t len);

/* "offset N: got 0xAA, want 0xBB" for the first difference, or "" if equal. */
void pkt_diff(const __u8 *got, size_t got_len, const __u8 *want, size_t want_len, char *msg,
	      size_t msg_len);

#endif /* BPFMESH_PKT_BUILD_H */
