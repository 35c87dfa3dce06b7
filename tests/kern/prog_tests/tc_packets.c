// SPDX-License-Identifier: Apache-2.0
/*
 * The TC program on crafted packets (BPF_PROG_TEST_RUN): each case is a
 * description, an input frame, the expected output frame and verdict, run in
 * order against one loaded program whose flow table carries over from case
 * to case, as a flow's packets would. Every expected frame is built with its
 * checksums computed from scratch, so the kernel's incremental updates are
 * checked exactly. No interface, no namespace beyond the runner's own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc.skel.h"
#include "ktest.h"
#include "pkt_build.h"
#include "tc_cases.h"
#include "tc_fixture.h"

/* Fixture rows name the fields a case needs, positionally; the rest are 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define C "198.18.1.2"
#define VIP "198.19.0.1"
#define VIP_EMPTY "198.19.0.2"
#define EP "198.18.2.10"
#define EP2 "198.18.2.11"
#define ROUTER "198.18.2.1"

/* The forward and reply entries of flow client:cport -> VIP:vport. */
static int flow_entries(struct tc_bpf *skel, __u8 proto, const char *client, __u16 cport,
			const char *vip, __u16 vport, const char *ep, __u16 eport)
{
	struct ct4_key k = { .proto = proto };
	struct ct4_val v;
	int fd = bpf_map__fd(skel->maps.bpfmesh_ct4_flows), n = 0;

	inet_pton(AF_INET, client, &k.saddr);
	inet_pton(AF_INET, vip, &k.daddr);
	k.sport = htons(cport);
	k.dport = htons(vport);
	n += bpf_map_lookup_elem(fd, &k, &v) == 0;
	inet_pton(AF_INET, ep, &k.saddr);
	inet_pton(AF_INET, client, &k.daddr);
	k.sport = htons(eport);
	k.dport = htons(cport);
	n += bpf_map_lookup_elem(fd, &k, &v) == 0;
	return n;
}

/* The program loaded for one test. */
struct tc_run {
	struct tc_fixture fx;
	struct tc_bpf *skel;
	int prog_fd; /* the ingress program */
};

static bool tc_run_open(struct tc_run *r, __u64 udp_idle_ns)
{
	r->skel = tc_fixture_open(&r->fx, udp_idle_ns);
	if (!ASSERT_TRUE(r->skel != NULL, "load tc program"))
		return false;
	r->prog_fd = bpf_program__fd(r->skel->progs.bpfmesh_tc_ingress);
	return true;
}

static __u64 event_count(struct tc_bpf *skel, __u32 event)
{
	return tc_fixture_event(bpf_map__fd(skel->maps.bpfmesh_tc4_events), event);
}

/* Packets that are not for a service, or that have no flow. */
static const struct tc_case untracked[] = {
	{ "TCP to an address that is no service passes untouched",
	  { 6, C, "198.18.3.3", 40001, 80, F_SYN, 1, 0 },
	  { 6, C, "198.18.3.3", 40001, 80, F_SYN, 1, 0 }, TC_ACT_OK },
	{ "VIP on a port that is no service passes untouched",
	  { 6, C, VIP, 40001, 81, F_SYN, 1, 0 },
	  { 6, C, VIP, 40001, 81, F_SYN, 1, 0 }, TC_ACT_OK },
	{ "reply-shaped packet of no flow passes untouched",
	  { 6, EP, C, 8080, 40001, F_ACK, 1, 1 },
	  { 6, EP, C, 8080, 40001, F_ACK, 1, 1 }, TC_ACT_OK },
	{ "mid-flow ACK with no entry: RST back to the client, SEQ=SEG.ACK",
	  { 6, C, VIP, 40002, 80, F_ACK, 7000, 9000, 10 },
	  { 6, VIP, C, 80, 40002, F_RST, 9000, 9000, 10, .swap_macs = true }, TC_ACT_REDIRECT },
	{ "SYN to a service with no endpoint: RST,ACK with ACK=SEG.SEQ+1",
	  { 6, C, VIP_EMPTY, 40003, 80, F_SYN, 7000, 0 },
	  { 6, VIP_EMPTY, C, 80, 40003, F_RST | F_ACK, 0, 7001, .swap_macs = true },
	  TC_ACT_REDIRECT },
	{ "UDP to a service with no endpoint is dropped",
	  { 17, C, VIP_EMPTY, 5353, 53, 0, 0, 0, 20 },
	  { 17, C, VIP_EMPTY, 5353, 53, 0, 0, 0, 20 }, TC_ACT_SHOT },
	{ "a fragment passes untouched",
	  { 17, C, VIP, 5353, 53, 0, 0, 0, 20, .frag = 0x2000 },
	  { 17, C, VIP, 5353, 53, 0, 0, 0, 20, .frag = 0x2000 }, TC_ACT_OK },
	{ "ICMP echo to the VIP passes untouched",
	  { 1, C, VIP, .icmp_type = 8 },
	  { 1, C, VIP, .icmp_type = 8 }, TC_ACT_OK },
};

static const struct pkt_spec udp_fwd_wire = { 17, C, EP, 5353, 5300, 0, 0, 0, 33 };
static const struct pkt_spec udp_fwd_client = { 17, C, VIP, 5353, 53, 0, 0, 0, 33 };
static const struct pkt_spec tcp_fwd_wire = { 6, C, EP, 40010, 8080, F_ACK, 1, 1, 0 };
static const struct pkt_spec tcp_fwd_client = { 6, C, VIP, 40010, 80, F_ACK, 1, 1, 0 };
static const struct pkt_spec udp_rep_client = { 17, VIP, C, 53, 5353, 0, 0, 0, 12 };
static const struct pkt_spec udp_rep_wire = { 17, EP, C, 5300, 5353, 0, 0, 0, 12 };

/* UDP both ways, and ICMP errors about translated flows. */
static const struct tc_case udp_icmp[] = {
	{ "UDP to the VIP goes to the endpoint",
	  { 17, C, VIP, 5353, 53, 0, 0, 0, 33 },
	  { 17, C, EP, 5353, 5300, 0, 0, 0, 33 }, TC_ACT_OK },
	{ "UDP reply comes from the VIP",
	  { 17, EP, C, 5300, 5353, 0, 0, 0, 12 },
	  { 17, VIP, C, 53, 5353, 0, 0, 0, 12 }, TC_ACT_OK },
	{ "UDP without checksum keeps none",
	  { 17, C, VIP, 5353, 53, 0, 0, 0, 33, .udp_no_csum = true },
	  { 17, C, EP, 5353, 5300, 0, 0, 0, 33, .udp_no_csum = true }, TC_ACT_OK },
	{ "port unreachable from the endpoint: quote and source become the VIP",
	  { 1, EP, C, .icmp_type = 3, .icmp_code = 3, .quote = &udp_fwd_wire },
	  { 1, VIP, C, .icmp_type = 3, .icmp_code = 3, .quote = &udp_fwd_client }, TC_ACT_OK },
	{ "frag needed from a router: quote translated, router's address kept",
	  { 1, ROUTER, C, .icmp_type = 3, .icmp_code = 4, .quote = &tcp_fwd_wire },
	  { 1, ROUTER, C, .icmp_type = 3, .icmp_code = 4, .quote = &tcp_fwd_client },
	  TC_ACT_OK },
	{ "port unreachable from the client about a reply: goes to the endpoint",
	  { 1, C, VIP, .icmp_type = 3, .icmp_code = 3, .quote = &udp_rep_client },
	  { 1, C, EP, .icmp_type = 3, .icmp_code = 3, .quote = &udp_rep_wire }, TC_ACT_OK },
};

static const struct pkt_spec syn_wire = { 6, C, EP, 40011, 8080, F_SYN, 7, 0 };
static const struct pkt_spec syn_client = { 6, C, VIP, 40011, 80, F_SYN, 7, 0 };

/* On egress: what the node itself sends. */
static const struct tc_case egress[] = {
	{ "SYN of a flow",
	  { 6, C, VIP, 40011, 80, F_SYN, 7, 0 },
	  { 6, C, EP, 40011, 8080, F_SYN, 7, 0 }, TC_ACT_OK }, /* ingress program */
	{ "time exceeded raised by the node: the quote becomes the client's SYN again",
	  { 1, "198.18.1.1", C, .icmp_type = 11, .quote = &syn_wire },
	  { 1, "198.18.1.1", C, .icmp_type = 11, .quote = &syn_client }, TC_ACT_OK },
	{ "a reply on its way out passes untouched",
	  { 6, VIP, C, 80, 40011, F_SYN | F_ACK, 1, 8 },
	  { 6, VIP, C, 80, 40011, F_SYN | F_ACK, 1, 8 }, TC_ACT_OK },
	{ "an ICMP error about no flow passes untouched",
	  { 1, "198.18.1.1", C, .icmp_type = 11, .quote = &tcp_fwd_wire },
	  { 1, "198.18.1.1", C, .icmp_type = 11, .quote = &tcp_fwd_wire }, TC_ACT_OK },
};

KTEST(tc_egress_icmp)
{
	struct tc_run r;
	int egress_fd;

	if (!tc_run_open(&r, 0))
		return;
	egress_fd = bpf_program__fd(r.skel->progs.bpfmesh_tc_egress);
	tc_run_case(r.prog_fd, &egress[0]);
	tc_run_cases(egress_fd, egress + 1, sizeof(egress) / sizeof(egress[0]) - 1);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_ICMP), 1, "one ICMP error translated");
	tc_fixture_close(&r.fx, r.skel);
}

/* Two VIPs, one endpoint, one client port: the second flow's reply tuple
 * is the first's. Counted (the endpoint cannot tell the two apart). */
KTEST(tc_tuple_clash)
{
	static const struct tc_case first = {
		"SYN to the first VIP",
		{ 6, C, VIP, 40050, 80, F_SYN, 1, 0 },
		{ 6, C, EP, 40050, 8080, F_SYN, 1, 0 }, TC_ACT_OK };
	static const struct tc_case second = {
		"SYN to a second VIP with the same endpoint, same client port",
		{ 6, C, "198.19.0.3", 40050, 80, F_SYN, 1, 0 },
		{ 6, C, EP, 40050, 8080, F_SYN, 1, 0 }, TC_ACT_OK };
	static const struct tc_case other_port = {
		"the same from another client port",
		{ 6, C, "198.19.0.3", 40051, 80, F_SYN, 1, 0 },
		{ 6, C, EP, 40051, 8080, F_SYN, 1, 0 }, TC_ACT_OK };
	struct tc_run r;

	if (!tc_run_open(&r, 0))
		return;
	ASSERT_OK(tc_fixture_replace_set(&r.fx, "198.19.0.3", 80, 6, EP), "second VIP");
	tc_run_case(r.prog_fd, &first);
	tc_run_case(r.prog_fd, &other_port);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_TUPLE_CLASH), 0, "no clash yet");
	tc_run_case(r.prog_fd, &second);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_TUPLE_CLASH), 1, "clash counted");
	tc_fixture_close(&r.fx, r.skel);
}

KTEST(tc_packets)
{
	struct tc_case tcp_flow[TC_TCP_FLOW_CASES];
	struct tc_run r;

	if (!tc_run_open(&r, 0))
		return;

	tc_tcp_flow_cases(C, VIP, EP, tcp_flow);
	tc_run_cases(r.prog_fd, tcp_flow, TC_TCP_FLOW_CASES);
	ASSERT_EQ(flow_entries(r.skel, 6, C, 40000, VIP, 80, EP, 8080), 0,
		  "both entries gone after FIN, FIN, ACK");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_FLOW_NEW), 1, "one flow placed");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_CLOSED), 1, "one flow closed");

	tc_run_cases(r.prog_fd, untracked, sizeof(untracked) / sizeof(untracked[0]));
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_EVICTED), 1, "mid-flow miss counted");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_NO_UPSTREAM), 2, "no-upstream counted");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_FRAGMENT), 1, "fragment counted");

	/* The TCP flow the router's error quotes. */
	{
		const struct tc_case open_tcp = {
			"SYN of the flow the ICMP error is about",
			{ 6, C, VIP, 40010, 80, F_SYN, 0, 0 },
			{ 6, C, EP, 40010, 8080, F_SYN, 0, 0 }, TC_ACT_OK };

		tc_run_case(r.prog_fd, &open_tcp);
	}
	tc_run_cases(r.prog_fd, udp_icmp, sizeof(udp_icmp) / sizeof(udp_icmp[0]));
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_ICMP), 3, "three ICMP errors translated");

	tc_fixture_close(&r.fx, r.skel);
}

/* Policy changes under a live flow: weights move, the endpoint stays;
 * the endpoint leaves, the flow is reset. */
KTEST(tc_policy_change)
{
	static const struct tc_case established = {
		"established flow keeps its endpoint",
		{ 6, C, VIP, 40020, 80, F_ACK, 100, 200, 5 },
		{ 6, C, EP, 40020, 8080, F_ACK, 100, 200, 5 }, TC_ACT_OK };
	static const struct tc_case syn = {
		"SYN to the VIP",
		{ 6, C, VIP, 40020, 80, F_SYN, 99, 0 },
		{ 6, C, EP, 40020, 8080, F_SYN, 99, 0 }, TC_ACT_OK };
	static const struct tc_case reset = {
		"endpoint gone: RST back to the client",
		{ 6, C, VIP, 40020, 80, F_ACK, 105, 200, 0 },
		{ 6, VIP, C, 80, 40020, F_RST, 200, 200, 0, .swap_macs = true }, TC_ACT_REDIRECT };
	struct tc_run r;

	if (!tc_run_open(&r, 0))
		return;
	tc_run_case(r.prog_fd, &syn);

	/* 1% to EP's set, 99% to a set of EP2 only: new flows go to EP2, this
	 * one stays. */
	ASSERT_OK(tc_fixture_route(&r.fx, VIP, 80, 6, 1, 99), "route 1/99");
	tc_run_case(r.prog_fd, &established);

	/* EP's set is replaced by a new set (new id) that still holds EP. */
	ASSERT_OK(tc_fixture_replace_set(&r.fx, VIP, 80, 6, EP), "new set with EP");
	tc_run_case(r.prog_fd, &established);

	ASSERT_OK(tc_fixture_replace_set(&r.fx, VIP, 80, 6, EP2), "new set without EP");
	tc_run_case(r.prog_fd, &reset);
	ASSERT_EQ(flow_entries(r.skel, 6, C, 40020, VIP, 80, EP, 8080), 0, "entries gone");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_ENDPOINT_GONE), 1, "counted");

	tc_fixture_close(&r.fx, r.skel);
}

/* UDP flows end after an idle timeout, made short here through rodata. */
KTEST(tc_udp_idle)
{
	static const struct tc_case udp = {
		"UDP to the VIP",
		{ 17, C, VIP, 6000, 53, 0, 0, 0, 8 },
		{ 17, C, EP, 6000, 5300, 0, 0, 0, 8 }, TC_ACT_OK };
	struct tc_run r;

	if (!tc_run_open(&r, 200ULL * 1000 * 1000))
		return;
	tc_run_case(r.prog_fd, &udp);
	tc_run_case(r.prog_fd, &udp);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_FLOW_NEW), 1, "one flow within the timeout");
	usleep(400 * 1000);
	tc_run_case(r.prog_fd, &udp);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_UDP_EXPIRED), 1, "idle flow expired");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_FLOW_NEW), 2, "and placed anew");
	tc_fixture_close(&r.fx, r.skel);
}

/* The flow table is bounded: more flows than it holds push the oldest out,
 * and a segment of an evicted flow draws a reset and counts an eviction. */
KTEST(tc_flow_table_bounded)
{
	const struct tc_case evicted = {
		"ACK of the first flow, evicted since",
		{ 6, C, VIP, 1024, 80, F_ACK, 1, 1 },
		{ 6, VIP, C, 80, 1024, F_RST, 1, 1, .swap_macs = true }, TC_ACT_REDIRECT };
	struct pkt_spec syn = { 6, C, VIP, 1024, 80, F_SYN, 0, 0 };
	int n_flows = BPFMESH_MAX_CT / 2 + BPFMESH_MAX_CT / 8, i, entries;
	__u8 in[PKT_MAX], out[PKT_MAX];
	struct ct4_key k, next;
	struct tc_run r;
	void *prev = NULL;
	int fd;

	if (!tc_run_open(&r, 0))
		return;
	/* Flows from source ports 1024 up, then further client addresses. */
	for (i = 0; i < n_flows; i++) {
		size_t len;
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);

		syn.sport = (__u16)(1024 + i % 60000);
		syn.src = i < 60000 ? C : "198.18.1.3";
		len = pkt_build(&syn, in, sizeof(in));
		o.data_size_in = (__u32)len;
		if (!ASSERT_OK(bpf_prog_test_run_opts(r.prog_fd, &o), "SYN") ||
		    !ASSERT_EQ(o.retval, TC_ACT_OK, "SYN placed"))
			goto out;
	}
	fd = bpf_map__fd(r.skel->maps.bpfmesh_ct4_flows);
	for (entries = 0; bpf_map_get_next_key(fd, prev, &next) == 0; entries++) {
		k = next;
		prev = &k;
	}
	ASSERT_TRUE(entries <= BPFMESH_MAX_CT, "table holds at most its size");
	ASSERT_TRUE(entries < 2 * n_flows, "older flows were evicted");
	tc_run_case(r.prog_fd, &evicted);
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_EVICTED), 1, "eviction counted");
	ASSERT_EQ(event_count(r.skel, BPFMESH_TC_FLOW_NEW), n_flows, "every flow placed");
	printf("  tc_flow_table_bounded: %d flows, %d entries kept of %d\n", n_flows, entries,
	       BPFMESH_MAX_CT);
out:
	tc_fixture_close(&r.fx, r.skel);
}
