// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "pkt_build.h"

static const __u8 mac_client[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const __u8 mac_node[6] = { 0x02, 0, 0, 0, 0, 0x02 };

/* RFC 1071 sum of len bytes, added to sum. */
static __u32 sum16(const __u8 *p, size_t len, __u32 sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (__u32)(p[len - 1] << 8);
	return sum;
}

static __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* IP header at ip, L4 of l4_len bytes after it; fills both checksums. */
static size_t build_ip(const struct pkt_spec *s, __u8 *ip, size_t room);
static size_t build_ip6(const struct pkt_spec *s, __u8 *ip, size_t room);

static size_t build_l4(const struct pkt_spec *s, __u8 *l4, size_t room)
{
	size_t hl = s->proto == 6 ? 20 : 8, n, q;
	int i;

	if (room < hl + (size_t)s->payload)
		return 0;
	memset(l4, 0, hl);
	if (s->proto == 1) {
		l4[0] = s->icmp_type;
		l4[1] = s->icmp_code;
		/* RFC 792: the quoted IP header and the first 8 bytes after it. */
		q = s->quote ? build_ip(s->quote, l4 + hl, room - hl) : 0;
		n = q ? 20 + 8 : 0;
		if (q && n > q)
			return 0;
		put16(l4 + 2, fold(sum16(l4, hl + n, 0)));
		return hl + n;
	}
	if (s->proto == 58) {
		l4[0] = s->icmp_type;
		l4[1] = s->icmp_code;
		put32(l4 + 4, s->icmp_info);
		/* RFC 4443 2.4: as much of the packet as fits (all of ours);
		 * the checksum needs the pseudo-header (build_ip6). */
		q = s->quote ? build_ip6(s->quote, l4 + hl, room - hl) : 0;
		return s->quote && !q ? 0 : hl + q;
	}
	put16(l4, s->sport);
	put16(l4 + 2, s->dport);
	for (i = 0; i < s->payload; i++)
		l4[hl + i] = (__u8)(0x41 + i % 26);
	if (s->proto == 6) {
		put32(l4 + 4, s->seq);
		put32(l4 + 8, s->ack);
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 64240);
	} else {
		put16(l4 + 4, (__u16)(hl + s->payload));
	}
	return hl + s->payload;
}

/* An IPv6 spec: its addresses are IPv6 ones. */
static bool is_v6(const struct pkt_spec *s)
{
	return strchr(s->src, ':') != NULL;
}

/* The L4 checksum over the pseudo-header (addresses at addrs, addr_len
 * bytes of them: RFC 793, 768, 8200 8.1) and the l4_len bytes at l4. */
static void put_l4_csum(const struct pkt_spec *s, const __u8 *addrs, size_t addr_len, __u8 *l4,
			size_t l4_len)
{
	__u32 ph = sum16(addrs, addr_len, 0) + s->proto + (__u32)l4_len;
	__u16 c = fold(sum16(l4, l4_len, ph));

	if (s->proto == 17 && s->udp_no_csum)
		c = 0;
	else if (s->proto == 17 && c == 0)
		c = 0xffff;
	put16(l4 + (s->proto == 6 ? 16 : s->proto == 58 ? 2 : 6), c);
}

/* A zeroed IP header of hlen bytes at ip, the L4 built after it; the L4
 * length, 0 when it does not fit in room. */
static size_t build_after_header(const struct pkt_spec *s, __u8 *ip, size_t room, size_t hlen)
{
	if (room < hlen)
		return 0;
	memset(ip, 0, hlen);
	return build_l4(s, ip + hlen, room - hlen);
}

/* IPv6 header at ip (no extension headers), L4 after it. */
static size_t build_ip6(const struct pkt_spec *s, __u8 *ip, size_t room)
{
	size_t l4_len = s->proto == 1 ? 0 : build_after_header(s, ip, room, 40);

	if (!l4_len)
		return 0;
	ip[0] = 0x60;
	put16(ip + 4, (__u16)l4_len);
	ip[6] = s->proto;
	ip[7] = 64;
	inet_pton(AF_INET6, s->src, ip + 8);
	inet_pton(AF_INET6, s->dst, ip + 24);
	put_l4_csum(s, ip + 8, 32, ip + 40, l4_len);
	return 40 + l4_len;
}

static size_t build_ip(const struct pkt_spec *s, __u8 *ip, size_t room)
{
	size_t l4_len = build_after_header(s, ip, room, 20);

	if (!l4_len)
		return 0;
	ip[0] = 0x45;
	put16(ip + 2, (__u16)(20 + l4_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, s->frag ? s->frag : 0x4000); /* DF unless a fragment */
	ip[8] = 64;
	ip[9] = s->proto;
	inet_pton(AF_INET, s->src, ip + 12);
	inet_pton(AF_INET, s->dst, ip + 16);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	if (s->proto == 6 || s->proto == 17)
		put_l4_csum(s, ip + 12, 8, ip + 20, l4_len);
	return 20 + l4_len;
}

size_t pkt_build(const struct pkt_spec *s, __u8 *buf, size_t len)
{
	size_t n;

	if (len < 14)
		return 0;
	memcpy(buf, s->swap_macs ? mac_client : mac_node, 6);
	memcpy(buf + 6, s->swap_macs ? mac_node : mac_client, 6);
	put16(buf + 12, is_v6(s) ? 0x86dd : 0x0800);
	n = is_v6(s) ? build_ip6(s, buf + 14, len - 14) : build_ip(s, buf + 14, len - 14);
	return n ? 14 + n : 0;
}

void pkt_diff(const __u8 *got, size_t got_len, const __u8 *want, size_t want_len, char *msg,
	      size_t msg_len)
{
	size_t i;

	msg[0] = '\0';
	for (i = 0; i < got_len && i < want_len; i++) {
		if (got[i] != want[i]) {
			snprintf(msg, msg_len, "offset %zu: got 0x%02x, want 0x%02x", i, got[i],
				 want[i]);
			return;
		}
	}
	if (got_len != want_len)
		snprintf(msg, msg_len, "length %zu, want %zu", got_len, want_len);
}
