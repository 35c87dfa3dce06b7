/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_CASES_H
#define BPFMESH_TC_CASES_H
/*
 * Packet cases for the TC program's kernel tests: a description, an input
 * frame, the expected output frame and verdict (pkt_build.h), run through
 * BPF_PROG_TEST_RUN and checked byte for byte.
 */
#include <stdbool.h>
#include "pkt_build.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

struct tc_case {
	const char *desc;
	struct pkt_spec in;
	struct pkt_spec out;
	int verdict;
};

/* Run one case through prog_fd; true when verdict and frame are as expected
 * (a failure is reported as a ktest check). */
bool tc_run_case(int prog_fd, const struct tc_case *c);

/* Run n cases in order; how many passed. */
int tc_run_cases(int prog_fd, const struct tc_case *cases, int n);

/* A TCP flow from client c:40000 to vip:80, endpoint ep:8080, from SYN to
 * an orderly close, with its replies: TC_TCP_FLOW_CASES cases into out.
 * Addresses of either family (pkt_build.h); the strings must outlive out. */
#define TC_TCP_FLOW_CASES 8
void tc_tcp_flow_cases(const char *c, const char *vip, const char *ep,
		       struct tc_case out[TC_TCP_FLOW_CASES]);

#endif /* BPFMESH_TC_CASES_H */
