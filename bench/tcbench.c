// SPDX-License-Identifier: Apache-2.0
/*
 * tcbench: per-packet cost of the TC program (bpf/tc.bpf.c), measured by the
 * kernel with BPF_PROG_TEST_RUN on crafted packets, for bench/tc.sh.
 *
 * The program rewrites the packet it runs on, so a repeated run would see
 * the translated packet, not the one under test: each case is one test run
 * (repeat 1) per packet, many times, averaging the kernel's own duration.
 * A repeat-1 run also pays the test harness's per-call overhead; the pass
 * case leaves its packet unchanged, so it is also run with a large repeat,
 * and the difference between the two is that overhead, reported and
 * subtracted ("net").
 *
 * The egress program (ICMP errors the node raises) is measured on a packet
 * it passes, the cost every other packet leaving the node pays.
 *
 * The first packet is also measured per loadBalancer algorithm, on a
 * second service of 10 equal-weight endpoints (the pick is where they
 * differ; a flow's later packets do not pick).
 *
 * Prints one "case=... ns=... net_ns=... n=..." line per case; asserts
 * nothing beyond each run returning the expected verdict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc.skel.h"
#include "pkt_build.h"
#include "tc_fixture.h"
#include <bpfmesh/lbpolicy_abi.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Mean kernel-measured ns of one run of s, over n runs of `repeat`
 * iterations; sport_step != 0 gives every run its own source port (a new
 * flow each time). -1 on failure or an unexpected verdict. */
static double run_ns(int prog_fd, struct pkt_spec s, int n, int repeat, int sport_step,
		     __u32 verdict)
{
	__u8 in[PKT_MAX], out[PKT_MAX];
	double total = 0;
	int i;

	for (i = 0; i < n; i++) {
		size_t len = pkt_build(&s, in, sizeof(in));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

		if (!len || bpf_prog_test_run_opts(prog_fd, &o) || o.retval != verdict) {
			fprintf(stderr, "tcbench: run %d failed (verdict %u)\n", i, o.retval);
			return -1;
		}
		total += o.duration;
		if (sport_step) {
			s.sport = (__u16)(s.sport + sport_step);
			if (s.sport < 1024) /* wrapped: next source address */
				s.src = s.src[10] == '2' ? "198.18.1.3" : "198.18.1.4";
		}
	}
	return total / n;
}

#define ALGO_EPS 10
#define ALGO_MAGLEV_SIZE 65537 /* Istio's default tableSize */

/* Mean first-packet ns with the algorithm cluster, one line per algorithm;
 * -1 on failure. */
static int algo_cases(struct tc_fixture *fx, int fd, int n, double overhead)
{
	static const struct {
		const char *name;
		__u32 algo;
	} algos[] = {
		{ "random", BPFMESH_LB_RANDOM },
		{ "round_robin", BPFMESH_LB_ROUND_ROBIN },
		{ "least_request", BPFMESH_LB_LEAST_REQUEST },
		{ "maglev", BPFMESH_LB_MAGLEV },
	};
	static const char *const clients[] = { "198.18.1.5", "198.18.1.6", "198.18.1.7",
					       "198.18.1.8" };
	static const __u32 w[ALGO_EPS] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct pkt_spec syn = { 6, "198.18.1.2", "198.19.0.9", 1024, 80, 0x02, 1, 0 };
	double ns;
	size_t i;

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
		if (tc_fixture_cluster(fx, "198.19.0.9", 80, 6, w, ALGO_EPS, algos[i].algo,
				       ALGO_MAGLEV_SIZE)) {
			fprintf(stderr, "tcbench: %s cluster not written\n", algos[i].name);
			return -1;
		}
		/* A client address of its own: every SYN a new flow. */
		syn.src = clients[i];
		syn.sport = 1024;
		ns = run_ns(fd, syn, n, 1, 1, 0);
		if (ns < 0)
			return -1;
		printf("case=first_packet_%s ns=%.1f net_ns=%.1f n=%d\n", algos[i].name, ns,
		       ns - overhead, n);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;
	struct pkt_spec pass = { 6, "198.18.1.2", "198.18.3.3", 40000, 80, 0x10, 1, 1, 64 };
	struct pkt_spec syn = { 6, "198.18.1.2", "198.19.0.1", 1024, 80, 0x02, 1, 0 };
	struct pkt_spec fwd = { 6, "198.18.1.2", "198.19.0.1", 1024, 80, 0x10, 2, 1, 64 };
	struct pkt_spec rep = { 6, "198.18.2.10", "198.18.1.2", 8080, 1024, 0x10, 1, 2, 64 };
	struct tc_fixture fx;
	struct tc_bpf *skel;
	double overhead, pass1, passr, first, est, reply, egress;
	int fd, algo_err;

	if (n <= 0 || n > 60000) {
		fprintf(stderr, "Usage: tcbench [RUNS (1..60000, default 60000)]\n");
		return 2;
	}
	skel = tc_fixture_open(&fx, 0);
	if (!skel)
		return 1;
	fd = bpf_program__fd(skel->progs.bpfmesh_tc_ingress);
	/* Egress leaves a non-ICMP packet as it is: repeat works there too. */
	egress = run_ns(bpf_program__fd(skel->progs.bpfmesh_tc_egress), pass, 10, 100000, 0, 0);
	passr = run_ns(fd, pass, 10, 100000, 0, 0);
	pass1 = run_ns(fd, pass, n, 1, 0, 0);
	/* First packets: n distinct flows (source ports 1024 up), then the
	 * established cost on the first of them, both directions. */
	first = run_ns(fd, syn, n, 1, 1, 0);
	est = run_ns(fd, fwd, n, 1, 0, 0);
	reply = run_ns(fd, rep, n, 1, 0, 0);
	if (egress < 0 || passr < 0 || pass1 < 0 || first < 0 || est < 0 || reply < 0) {
		tc_fixture_close(&fx, skel);
		return 1;
	}
	overhead = pass1 - passr;
	printf("case=harness_overhead ns=%.1f n=%d\n", overhead, n);
	printf("case=pass ns=%.1f net_ns=%.1f n=%d\n", pass1, passr, n);
	printf("case=egress_pass net_ns=%.1f n=%d\n", egress, 10);
	printf("case=first_packet ns=%.1f net_ns=%.1f n=%d\n", first, first - overhead, n);
	printf("case=established ns=%.1f net_ns=%.1f n=%d\n", est, est - overhead, n);
	printf("case=reply ns=%.1f net_ns=%.1f n=%d\n", reply, reply - overhead, n);
	fflush(stdout);
	algo_err = algo_cases(&fx, fd, n, overhead);
	tc_fixture_close(&fx, skel);
	return algo_err ? 1 : 0;
}
