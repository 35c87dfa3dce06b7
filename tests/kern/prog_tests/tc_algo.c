// SPDX-License-Identifier: Apache-2.0
/*
 * The DestinationRule loadBalancer on the TC path (bpf/tc.bpf.c), on
 * crafted packets (BPF_PROG_TEST_RUN) against the TC program loaded on its
 * own (tests/kern/tc_fixture.h), its policy maps written directly (that
 * both TC programs load, and what the verifier spent on them:
 * verifier_stats.c):
 *  - ROUND_ROBIN: exact rotation over new flows, IPv4 and IPv6;
 *  - consistentHash useSourceIp (Maglev): each source address keeps its
 *    endpoint over many flows, and the table's share shows;
 *  - LEAST_REQUEST: open flows are counted per endpoint (up when tracked,
 *    down when closed), and an endpoint holding many gets clearly fewer.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc.skel.h"
#include "ktest.h"
#include "pkt_build.h"
#include "tc_fixture.h"
#include "apply/maglev.h"
#include <bpfmesh/lbpolicy.h>

/* Packet specs name the fields a case needs, positionally; the rest are 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define VIP "198.19.0.9"
#define N_EPS 3
#define EP_BASE 0xc6120401u /* 198.18.4.1, the fixture's first cluster endpoint */
#define IP_DADDR_OFF (14 + 16)
#define IP6_DADDR_OFF (14 + 24)
#define TC_ACT_OK 0

/* Index (0..N) of the fixture cluster endpoint of vip at dst (IPv4 or
 * IPv6, as vip), -1 if none among the first 64. */
static int cluster_index(const char *vip, const __u8 *dst)
{
	__be32 want[4];
	__u32 i;

	for (i = 0; i < 64; i++) {
		tc_fixture_cluster_ep(vip, i, want);
		if (!memcmp(dst, want, strchr(vip, ':') ? 16 : 4))
			return (int)i;
	}
	return -1;
}

/* Run one packet through the ingress program: the index of the endpoint
 * it was sent to (0..n-1), or -1 when it was not translated to one. */
static int endpoint_of(int prog_fd, const struct pkt_spec *s)
{
	__u8 in[PKT_MAX], out[PKT_MAX];
	size_t len = pkt_build(s, in, sizeof(in));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	__u32 daddr_off = strchr(s->dst, ':') ? IP6_DADDR_OFF : IP_DADDR_OFF;

	if (!len || bpf_prog_test_run_opts(prog_fd, &o) || o.retval != TC_ACT_OK ||
	    o.data_size_out < daddr_off + 16)
		return -1;
	return cluster_index(s->dst, out + daddr_off);
}

/* The first packet of a new TCP flow from client:sport to vip:80. */
static int syn_to(int prog_fd, const char *client, const char *vip, __u16 sport)
{
	struct pkt_spec s = { 6, client, vip, sport, 80, F_SYN, 1, 0 };

	return endpoint_of(prog_fd, &s);
}

/* The same to the IPv4 VIP. */
static int syn_from(int prog_fd, const char *client, __u16 sport)
{
	return syn_to(prog_fd, client, VIP, sport);
}

/* Open flows of endpoint slot ep_slot (lb_active). */
static long long open_flows(struct tc_bpf *skel, __u32 ep_slot)
{
	struct lb_active a = {};

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.bpfmesh_lb4_active_v1), &ep_slot, &a))
		return -1;
	return a.open;
}

/* Weights 1, 2, 3: every 6 consecutive new flows from client to vip take
 * each endpoint its weight's number of turns; a retransmitted SYN of a
 * placed flow keeps its endpoint and takes no turn (the pick is once per
 * flow). Then equal weights, which need no table: the rotation is the set. */
static void round_robin(const char *vip, const char *client)
{
	static const __u32 w[N_EPS] = { 1, 2, 3 }, eq[N_EPS] = { 1, 1, 1 };
	int counts[N_EPS], win, i, ep, first, again;
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	__u16 sport = 20000;
	int fd;

	if (!ASSERT_TRUE(skel != NULL, "load") ||
	    !ASSERT_OK(tc_fixture_cluster(&fx, vip, 80, 6, w, N_EPS, BPFMESH_LB_ROUND_ROBIN, 0),
		       "ROUND_ROBIN cluster"))
		goto out;
	fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	for (win = 0; win < 20; win++) {
		memset(counts, 0, sizeof(counts));
		for (i = 0; i < 6; i++) {
			ep = syn_to(fd, client, vip, sport++);
			if (!ASSERT_TRUE(ep >= 0 && ep < N_EPS, "flow placed"))
				goto out;
			counts[ep]++;
			if (i == 2) { /* a retransmission mid-rotation */
				again = syn_to(fd, client, vip, (__u16)(sport - 1));
				ASSERT_EQ(again, ep, "retransmitted SYN, same endpoint");
			}
		}
		for (i = 0; i < N_EPS; i++)
			ASSERT_EQ(counts[i], w[i], "one rotation: each endpoint its weight");
	}
	ASSERT_OK(tc_fixture_cluster(&fx, vip, 80, 6, eq, N_EPS, BPFMESH_LB_ROUND_ROBIN, 0),
		  "equal weights");
	first = syn_to(fd, client, vip, sport++);
	for (i = 1; i < 30; i++)
		ASSERT_EQ(syn_to(fd, client, vip, sport++), (first + i) % N_EPS,
			  "equal weights: strict rotation");
	printf("  round robin to %s: 120 flows in 20 rotations of weights 1/2/3, 30 of 1/1/1\n",
	       vip);
out:
	tc_fixture_close(&fx, skel);
}

KTEST(tc_round_robin)
{
	round_robin(VIP, "198.18.1.2");
}

/* The same over IPv6 flows: one selection code for both families. */
KTEST(tc_ipv6_round_robin)
{
	round_robin("fd00:19::9", "fd00:18:1::2");
}

#define MAGLEV_EPS 5
#define MAGLEV_SIZE 1009 /* prime, about 200 entries an endpoint */
#define N_SOURCES 200

/* consistentHash useSourceIp + maglev: 200 client addresses, 3 flows each
 * from different ports, each always lands on the endpoint the table gives
 * its address (hashed as connect4 hashes a bound source address), and the
 * sources spread over the endpoints. */
KTEST(tc_maglev_source_ip)
{
	static const __u32 w[MAGLEV_EPS] = { 1, 1, 1, 1, 1 };
	struct maglev_endpoint eps[MAGLEV_EPS];
	int per_ep[MAGLEV_EPS] = {}, s, i, ep, want, used = 0;
	__u32 table[MAGLEV_SIZE];
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	char client[32];
	__be32 saddr;
	__u64 key;
	int fd;

	if (!ASSERT_TRUE(skel != NULL, "load") ||
	    !ASSERT_OK(tc_fixture_cluster(&fx, VIP, 80, 6, w, MAGLEV_EPS, BPFMESH_LB_MAGLEV,
					  MAGLEV_SIZE), "Maglev cluster"))
		goto out;
	/* The table the fixture wrote, rebuilt here to predict each source. */
	for (i = 0; i < MAGLEV_EPS; i++)
		eps[i] = (struct maglev_endpoint){ .addr = htonl(EP_BASE + i), .port = htons(8080),
						   .weight = 1 };
	if (!ASSERT_OK(maglev_build(eps, MAGLEV_EPS, MAGLEV_SIZE, table), "table"))
		goto out;
	fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	for (s = 0; s < N_SOURCES; s++) {
		snprintf(client, sizeof(client), "198.18.%d.%d", 8 + s / 100, 1 + s % 100);
		inet_pton(AF_INET, client, &saddr);
		key = bpfmesh_lb_hash_key(saddr, 0);
		want = (int)table[bpfmesh_lb_table_index(bpfmesh_lb_hash(key), MAGLEV_SIZE)];
		for (i = 0; i < 3; i++) {
			ep = syn_from(fd, client, (__u16)(30000 + 7 * s + i));
			if (!ASSERT_EQ(ep, want, "the source's table entry, every flow"))
				goto out;
		}
		per_ep[want]++;
	}
	for (i = 0; i < MAGLEV_EPS; i++)
		used += per_ep[i] > 0;
	ASSERT_EQ(used, MAGLEV_EPS, "sources spread over every endpoint");
	printf("  tc_maglev_source_ip: %d sources x 3 flows, sources per endpoint %d %d %d %d %d\n",
	       N_SOURCES, per_ep[0], per_ep[1], per_ep[2], per_ep[3], per_ep[4]);
out:
	tc_fixture_close(&fx, skel);
}

#define HELD 40
#define NEW_FLOWS 300

/* A flow's RST from the client: the flow is over. */
static int rst_from(int prog_fd, const char *client, __u16 sport)
{
	struct pkt_spec s = { 6, client, VIP, sport, 80, F_RST | F_ACK, 2, 1 };

	return endpoint_of(prog_fd, &s);
}

/* HELD flows held on endpoint 0 (slot 1), placed while it is its cluster's
 * only endpoint, then the cluster becomes n endpoints of weights w. */
static bool hold_then_widen(struct tc_fixture *fx, int fd, const __u32 *w, __u32 n)
{
	static const __u32 one[1] = { 1 };
	int i;

	if (!ASSERT_OK(tc_fixture_cluster(fx, VIP, 80, 6, one, 1, BPFMESH_LB_LEAST_REQUEST, 0),
		       "one endpoint"))
		return false;
	for (i = 0; i < HELD; i++)
		if (!ASSERT_EQ(syn_from(fd, "198.18.1.2", (__u16)(10000 + i)), 0, "held flow"))
			return false;
	ASSERT_EQ(open_flows(fx->skel, 1), HELD, "held flows counted open");
	return ASSERT_OK(tc_fixture_cluster(fx, VIP, 80, 6, w, n, BPFMESH_LB_LEAST_REQUEST, 0),
			 "the wider cluster");
}

/* NEW_FLOWS short flows, each reset by the client once placed: per_ep[i]
 * counts those placed on endpoint i. */
static bool short_flows(int fd, int *per_ep)
{
	int i, ep;

	for (i = 0; i < NEW_FLOWS; i++) {
		__u16 sport = (__u16)(20000 + i);

		ep = syn_from(fd, "198.18.1.2", sport);
		if (!ASSERT_TRUE(ep >= 0 && ep < N_EPS, "flow placed") ||
		    !ASSERT_EQ(rst_from(fd, "198.18.1.2", sport), ep, "RST to the flow's endpoint"))
			return false;
		per_ep[ep]++;
	}
	return true;
}

/* The program loaded (skel), HELD flows held on endpoint 0, then the short
 * flows over endpoints of weights w (per_ep); *fd the ingress program. */
static bool least_request_run(struct tc_fixture *fx, struct tc_bpf *skel, const __u32 *w,
			      int *per_ep, int *fd)
{
	if (!ASSERT_TRUE(skel != NULL, "load"))
		return false;
	*fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	return hold_then_widen(fx, *fd, w, N_EPS) && short_flows(*fd, per_ep);
}

/* Mean plus 5 standard deviations of a binomial count: a bound a correct
 * kernel stays under. */
static double binomial_upper(int n, double p)
{
	return n * p + 5 * sqrt(n * p * (1 - p));
}

/* LEAST_REQUEST (equal weights: power of two choices) on open flows. An
 * endpoint holding 40 open flows, the others none: of 300 short flows
 * (each reset once placed), it gets one only when both choices fall on it
 * (1/9, about 33), against 100 for a uniform draw. Open flows are counted
 * per endpoint: up at the SYN, down at the RST or at the close, back to 0. */
KTEST(tc_least_request)
{
	static const __u32 eq[N_EPS] = { 1, 1, 1 };
	int per_ep[N_EPS] = {}, i;
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	const char *c = "198.18.1.2";
	double bound;
	int fd;

	if (!least_request_run(&fx, skel, eq, per_ep, &fd))
		goto out;
	/* P(endpoint 0) = 1/9: the bound is still well below a uniform 1/3. */
	bound = binomial_upper(NEW_FLOWS, 1 / 9.0);
	ASSERT_TRUE(per_ep[0] <= bound, "the loaded endpoint gets clearly fewer");
	ASSERT_EQ(open_flows(skel, 2) + open_flows(skel, 3), 0, "reset flows no longer open");
	ASSERT_EQ(open_flows(skel, 1), HELD, "held flows still open");
	printf("  tc_least_request: endpoint holding %d flows got %d of %d new ones (bound %.0f, "
	       "uniform %d); others %d, %d\n", HELD, per_ep[0], NEW_FLOWS, bound, NEW_FLOWS / 3,
	       per_ep[1], per_ep[2]);

	/* The held flows close: half by RST from the client, half orderly
	 * (FIN each way, then the last ACK). */
	for (i = 0; i < HELD; i++) {
		__u16 sport = (__u16)(10000 + i);
		struct pkt_spec fin = { 6, c, VIP, sport, 80, F_FIN | F_ACK, 2, 1 };
		struct pkt_spec ep_fin = { 6, "198.18.4.1", c, 8080, sport, F_FIN | F_ACK, 1, 3 };
		struct pkt_spec ack = { 6, c, VIP, sport, 80, F_ACK, 3, 2 };
		__u8 in[PKT_MAX], out[PKT_MAX];
		size_t len = pkt_build(&ep_fin, in, sizeof(in));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		if (i % 2) {
			ASSERT_EQ(rst_from(fd, c, sport), 0, "RST");
			continue;
		}
		ASSERT_EQ(endpoint_of(fd, &fin), 0, "client FIN");
		ASSERT_OK(bpf_prog_test_run_opts(fd, &o), "endpoint FIN");
		ASSERT_EQ(endpoint_of(fd, &ack), 0, "last ACK");
	}
	ASSERT_EQ(open_flows(skel, 1), 0, "every flow closed: none open");
out:
	tc_fixture_close(&fx, skel);
}

/* LEAST_REQUEST with unequal weights (2, 1, 1): Envoy weighs each endpoint
 * weight / (open + 1), so endpoint 0 holding 40 flows weighs 2/41 against
 * 1 and 1. The kernel draws by weight and keeps a draw with probability
 * 1 / (open + 1), up to 4 draws, then takes the best drawn (lbpolicy.h):
 * endpoint 0 is taken with probability sum_k (q^k) x 0.5/41 for k < 4, q =
 * 0.5 x 40/41 (a kept draw after k unkept ones of it), plus (0.5 x 40/41)^4
 * (four unkept draws of it): about 7.9%, against 50% by weight alone. */
KTEST(tc_least_request_weighted)
{
	static const __u32 w[N_EPS] = { 2, 1, 1 };
	int per_ep[N_EPS] = {}, k;
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);
	double q = 0.5 * HELD / (HELD + 1.0), p = 0, bound;
	int fd;

	if (!least_request_run(&fx, skel, w, per_ep, &fd))
		goto out;
	for (k = 0; k < BPFMESH_LB_LR_TRIES; k++)
		p += pow(q, k) * 0.5 / (HELD + 1.0);
	p += pow(q, BPFMESH_LB_LR_TRIES);
	bound = binomial_upper(NEW_FLOWS, p);
	ASSERT_TRUE(per_ep[0] <= bound, "the loaded heavy endpoint gets clearly fewer");
	ASSERT_EQ(open_flows(skel, 2) + open_flows(skel, 3), 0, "reset flows no longer open");
	printf("  tc_least_request_weighted: weight-2 endpoint holding %d flows got %d of %d "
	       "(expected %.0f, bound %.0f, by weight %d); others %d, %d\n", HELD, per_ep[0],
	       NEW_FLOWS, NEW_FLOWS * p, bound, NEW_FLOWS / 2, per_ep[1], per_ep[2]);
out:
	tc_fixture_close(&fx, skel);
}
