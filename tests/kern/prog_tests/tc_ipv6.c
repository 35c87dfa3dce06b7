// SPDX-License-Identifier: Apache-2.0
/*
 * IPv6 on the TC path (bpf/tc.bpf.c), on crafted packets (BPF_PROG_TEST_RUN)
 * against the TC program loaded on its own (tests/kern/tc_fixture.h), with
 * addresses in fd00::/8 and the policy maps written directly:
 *  - a TCP flow from SYN to close and a UDP exchange: the destination
 *    rewritten to the endpoint, replies back from the VIP (reverse NAT),
 *    the L4 checksums (pseudo-header over 16-byte addresses) checked
 *    against ones computed from scratch, the flow's entries in the IPv6
 *    flow table and gone after the close;
 *  - a segment of no flow draws an IPv6 reset; a packet to no service
 *    passes untouched;
 *  - a route split 1:3 over two destinations, each flow staying on the
 *    endpoint its first packet got.
 *  - ICMPv6 errors about translated flows (Destination Unreachable, Packet
 *    Too Big, Time Exceeded), on ingress and on egress: the quoted packet
 *    reads as what its sender sent, the outer address is translated when
 *    the endpoint (or the client) raised the error, a router's is kept;
 *    the ICMPv6 checksum (pseudo-header included) and the quoted TCP/UDP
 *    checksums checked against ones computed from scratch.
 * ROUND_ROBIN over IPv6 flows is in tc_algo.c (tc_ipv6_round_robin).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc.skel.h"
#include "ktest.h"
#include "pkt_build.h"
#include "tc_cases.h"
#include "tc_fixture.h"

/* Cases name the fields they need, positionally; the rest are 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define C6 "fd00:18:1::2"
#define VIP6 "fd00:19::1"
#define EP6 "fd00:18:2::10"
#define EP6_B "fd00:18:2::11"
#define OTHER6 "fd00:18:3::3"
#define ROUTER6 "fd00:18:4::1"
#define IP6_DADDR_OFF (14 + 24)

static const struct tc_case udp6_and_untracked[] = {
	{ "IPv6 UDP to the VIP goes to the endpoint",
	  { 17, C6, VIP6, 5353, 53, 0, 0, 0, 33 },
	  { 17, C6, EP6, 5353, 8080, 0, 0, 0, 33 }, TC_ACT_OK },
	{ "UDP reply comes from the VIP",
	  { 17, EP6, C6, 8080, 5353, 0, 0, 0, 12 },
	  { 17, VIP6, C6, 53, 5353, 0, 0, 0, 12 }, TC_ACT_OK },
	{ "TCP to an address that is no service passes untouched",
	  { 6, C6, OTHER6, 40001, 80, F_SYN, 1, 0 },
	  { 6, C6, OTHER6, 40001, 80, F_SYN, 1, 0 }, TC_ACT_OK },
	{ "reply-shaped packet of no flow passes untouched",
	  { 6, EP6, C6, 8080, 40001, F_ACK, 1, 1 },
	  { 6, EP6, C6, 8080, 40001, F_ACK, 1, 1 }, TC_ACT_OK },
	{ "mid-flow ACK with no entry: IPv6 RST back to the client, SEQ=SEG.ACK",
	  { 6, C6, VIP6, 40002, 80, F_ACK, 7000, 9000, 10 },
	  { 6, VIP6, C6, 80, 40002, F_RST, 9000, 9000, 10, .swap_macs = true },
	  TC_ACT_REDIRECT },
};

/* The forward and reply entries of IPv6 flow client:cport -> VIP:vport
 * translated to ep:eport, in the IPv6 flow table. */
static int flow6_entries(struct tc_bpf *skel, __u8 proto, const char *client, __u16 cport,
			 const char *vip, __u16 vport, const char *ep, __u16 eport)
{
	int fd = bpf_map__fd(skel->maps.bpfmesh_ct6_flows), n = 0;
	struct ct6_key k = { .proto = proto };
	struct ct6_val v;

	inet_pton(AF_INET6, client, k.saddr);
	inet_pton(AF_INET6, vip, k.daddr);
	k.sport = htons(cport);
	k.dport = htons(vport);
	n += bpf_map_lookup_elem(fd, &k, &v) == 0 && v.v.dir == CT_DIR_FORWARD;
	inet_pton(AF_INET6, ep, k.saddr);
	inet_pton(AF_INET6, client, k.daddr);
	k.sport = htons(eport);
	k.dport = htons(cport);
	n += bpf_map_lookup_elem(fd, &k, &v) == 0 && v.v.dir == CT_DIR_REPLY;
	return n;
}

static __u64 event_count(struct tc_bpf *skel, __u32 event)
{
	return tc_fixture_event(bpf_map__fd(skel->maps.bpfmesh_tc4_events), event);
}

KTEST(tc_ipv6_packets)
{
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	struct tc_case tcp6_flow[TC_TCP_FLOW_CASES];
	int fd, n_tcp = TC_TCP_FLOW_CASES;

	if (!ASSERT_TRUE(skel != NULL, "load") ||
	    !ASSERT_OK(tc_fixture_replace_set(&fx, VIP6, 80, 6, EP6), "IPv6 TCP service") ||
	    !ASSERT_OK(tc_fixture_replace_set(&fx, VIP6, 53, 17, EP6), "IPv6 UDP service"))
		goto out;
	fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	tc_tcp_flow_cases(C6, VIP6, EP6, tcp6_flow);

	/* Up to the endpoint's FIN: both entries in the IPv6 table. */
	tc_run_cases(fd, tcp6_flow, n_tcp - 1);
	ASSERT_EQ(flow6_entries(skel, 6, C6, 40000, VIP6, 80, EP6, 8080), 2,
		  "forward and reply entries tracked");
	tc_run_case(fd, &tcp6_flow[n_tcp - 1]);
	ASSERT_EQ(flow6_entries(skel, 6, C6, 40000, VIP6, 80, EP6, 8080), 0,
		  "both entries gone after FIN, FIN, ACK");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_CLOSED), 1, "one flow closed");

	tc_run_cases(fd, udp6_and_untracked,
		     sizeof(udp6_and_untracked) / sizeof(udp6_and_untracked[0]));
	ASSERT_EQ(flow6_entries(skel, 17, C6, 5353, VIP6, 53, EP6, 8080), 2, "UDP flow tracked");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_FLOW_NEW), 2, "one TCP and one UDP flow placed");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_REPLY), 4, "replies translated");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_EVICTED), 1, "mid-flow miss counted");
out:
	tc_fixture_close(&fx, skel);
}

/* Where the ingress program sent IPv6 packet s: its destination address
 * (16 bytes into dst); false when it was not passed on. */
static bool sent_to(int prog_fd, const struct pkt_spec *s, __u8 dst[16])
{
	__u8 in[PKT_MAX], out[PKT_MAX];
	size_t len = pkt_build(s, in, sizeof(in));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (!len || bpf_prog_test_run_opts(prog_fd, &o) || o.retval != TC_ACT_OK ||
	    o.data_size_out < IP6_DADDR_OFF + 16)
		return false;
	memcpy(dst, out + IP6_DADDR_OFF, 16);
	return true;
}

#define SPLIT_FLOWS 1000

/* 1:3 over two destinations: the share of new flows follows the weights
 * (binomial, p = 3/4: 750 expected, sd 13.7; bounds at about 5 sd), and
 * each flow's later segments go where its SYN went. */
KTEST(tc_ipv6_split)
{
	struct pkt_spec syn = { 6, C6, VIP6, 0, 80, F_SYN, 1, 0 };
	struct pkt_spec ack = { 6, C6, VIP6, 0, 80, F_ACK, 2, 1, 10 };
	__u8 ep_a[16], ep_b[16], first[16], later[16];
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	int fd, i, to_b = 0, sticky = 0;

	inet_pton(AF_INET6, EP6, ep_a);
	inet_pton(AF_INET6, EP6_B, ep_b);
	if (!ASSERT_TRUE(skel != NULL, "load") ||
	    !ASSERT_OK(tc_fixture_split(&fx, VIP6, 80, 6, EP6, 1, EP6_B, 3), "split 1:3"))
		goto out;
	fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	for (i = 0; i < SPLIT_FLOWS; i++) {
		syn.sport = ack.sport = (__u16)(30000 + i);
		if (!ASSERT_TRUE(sent_to(fd, &syn, first), "SYN placed"))
			goto out;
		if (!ASSERT_TRUE(!memcmp(first, ep_a, 16) || !memcmp(first, ep_b, 16),
				 "SYN sent to one of the two endpoints"))
			goto out;
		to_b += !memcmp(first, ep_b, 16);
		sticky += sent_to(fd, &ack, later) && !memcmp(first, later, 16);
	}
	ASSERT_EQ(sticky, SPLIT_FLOWS, "every flow's data segment follows its SYN");
	ASSERT_TRUE(to_b >= 680 && to_b <= 820, "share of the weight-3 destination near 3/4");
	printf("  tc_ipv6_split: %d of %d flows to the weight-3 destination (expected 750)\n",
	       to_b, SPLIT_FLOWS);
out:
	tc_fixture_close(&fx, skel);
}

/* ---- ICMPv6 errors ------------------------------------------------------ */

/* The packets the errors quote, as on the wire (translated) and as their
 * sender sent them. A quoted TCP segment carries its checksum (ICMPv6
 * quotes up to 1280 bytes), which is translated too. */
static const struct pkt_spec tcp6_fwd_wire = { 6, C6, EP6, 40010, 8080, F_ACK, 1, 1, 200 };
static const struct pkt_spec tcp6_fwd_client = { 6, C6, VIP6, 40010, 80, F_ACK, 1, 1, 200 };
static const struct pkt_spec syn6_wire = { 6, C6, EP6, 40011, 8080, F_SYN, 7, 0 };
static const struct pkt_spec syn6_client = { 6, C6, VIP6, 40011, 80, F_SYN, 7, 0 };
static const struct pkt_spec udp6_fwd_wire = { 17, C6, EP6, 5353, 8080, 0, 0, 0, 33 };
static const struct pkt_spec udp6_fwd_client = { 17, C6, VIP6, 5353, 53, 0, 0, 0, 33 };
static const struct pkt_spec udp6_rep_client = { 17, VIP6, C6, 53, 5353, 0, 0, 0, 12 };
static const struct pkt_spec udp6_rep_wire = { 17, EP6, C6, 8080, 5353, 0, 0, 0, 12 };
static const struct pkt_spec udp6_no_flow = { 17, C6, OTHER6, 5353, 53, 0, 0, 0, 12 };

static const struct tc_case icmp6_ingress[] = {
	{ "SYN of the TCP flow the errors are about",
	  { 6, C6, VIP6, 40010, 80, F_SYN, 0, 0 },
	  { 6, C6, EP6, 40010, 8080, F_SYN, 0, 0 }, TC_ACT_OK },
	{ "UDP to the VIP goes to the endpoint",
	  { 17, C6, VIP6, 5353, 53, 0, 0, 0, 33 },
	  { 17, C6, EP6, 5353, 8080, 0, 0, 0, 33 }, TC_ACT_OK },
	{ "Packet Too Big from a router: quote back to the VIP, router's address kept",
	  { 58, ROUTER6, C6, .icmp_type = 2, .icmp_info = 1280, .quote = &tcp6_fwd_wire },
	  { 58, ROUTER6, C6, .icmp_type = 2, .icmp_info = 1280, .quote = &tcp6_fwd_client },
	  TC_ACT_OK },
	{ "port unreachable from the endpoint: quote and source become the VIP",
	  { 58, EP6, C6, .icmp_type = 1, .icmp_code = 4, .quote = &udp6_fwd_wire },
	  { 58, VIP6, C6, .icmp_type = 1, .icmp_code = 4, .quote = &udp6_fwd_client },
	  TC_ACT_OK },
	{ "port unreachable from the client about a reply: goes to the endpoint",
	  { 58, C6, VIP6, .icmp_type = 1, .icmp_code = 4, .quote = &udp6_rep_client },
	  { 58, C6, EP6, .icmp_type = 1, .icmp_code = 4, .quote = &udp6_rep_wire }, TC_ACT_OK },
	{ "time exceeded about no flow passes untouched",
	  { 58, ROUTER6, C6, .icmp_type = 3, .quote = &udp6_no_flow },
	  { 58, ROUTER6, C6, .icmp_type = 3, .quote = &udp6_no_flow }, TC_ACT_OK },
	{ "an echo request (informational) to the VIP passes untouched",
	  { 58, C6, VIP6, .icmp_type = 128 },
	  { 58, C6, VIP6, .icmp_type = 128 }, TC_ACT_OK },
};

/* On egress: errors the node itself raises about a packet after its DNAT. */
static const struct tc_case icmp6_egress[] = {
	{ "SYN of a flow",
	  { 6, C6, VIP6, 40011, 80, F_SYN, 7, 0 },
	  { 6, C6, EP6, 40011, 8080, F_SYN, 7, 0 }, TC_ACT_OK }, /* ingress program */
	{ "Packet Too Big raised by the node: the quote becomes the client's SYN again",
	  { 58, ROUTER6, C6, .icmp_type = 2, .icmp_info = 1400, .quote = &syn6_wire },
	  { 58, ROUTER6, C6, .icmp_type = 2, .icmp_info = 1400, .quote = &syn6_client },
	  TC_ACT_OK },
	{ "time exceeded raised by the node, likewise",
	  { 58, ROUTER6, C6, .icmp_type = 3, .quote = &syn6_wire },
	  { 58, ROUTER6, C6, .icmp_type = 3, .quote = &syn6_client }, TC_ACT_OK },
	{ "a reply on its way out passes untouched",
	  { 6, VIP6, C6, 80, 40011, F_SYN | F_ACK, 1, 8 },
	  { 6, VIP6, C6, 80, 40011, F_SYN | F_ACK, 1, 8 }, TC_ACT_OK },
};

#define N_CASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

KTEST(tc_ipv6_icmp)
{
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	int in_fd, out_fd;

	if (!ASSERT_TRUE(skel != NULL, "load") ||
	    !ASSERT_OK(tc_fixture_replace_set(&fx, VIP6, 80, 6, EP6), "IPv6 TCP service") ||
	    !ASSERT_OK(tc_fixture_replace_set(&fx, VIP6, 53, 17, EP6), "IPv6 UDP service"))
		goto out;
	in_fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	out_fd = bpf_program__fd(skel->progs.bpfmesh_tc_egress);
	ASSERT_EQ(tc_run_cases(in_fd, icmp6_ingress, N_CASES(icmp6_ingress)),
		  N_CASES(icmp6_ingress), "ingress cases");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_ICMP), 3, "three ICMPv6 errors translated");

	tc_run_case(in_fd, &icmp6_egress[0]);
	ASSERT_EQ(tc_run_cases(out_fd, icmp6_egress + 1, N_CASES(icmp6_egress) - 1),
		  N_CASES(icmp6_egress) - 1, "egress cases");
	ASSERT_EQ(event_count(skel, BPFMESH_TC_ICMP), 5, "two more translated on egress");
out:
	tc_fixture_close(&fx, skel);
}
