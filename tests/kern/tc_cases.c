// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ktest.h"
#include "tc_cases.h"

/* Cases name the fields they need, positionally; the rest are 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

bool tc_run_case(int prog_fd, const struct tc_case *c)
{
	__u8 in[PKT_MAX], want[PKT_MAX], got[PKT_MAX];
	size_t in_len = pkt_build(&c->in, in, sizeof(in));
	size_t want_len = pkt_build(&c->out, want, sizeof(want));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)in_len,
		    .data_out = got, .data_size_out = sizeof(got), .repeat = 1);
	char diff[128];
	int err;

	if (!ASSERT_TRUE(in_len && want_len, c->desc))
		return false;
	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (!ASSERT_OK(err, c->desc) || !ASSERT_EQ(o.retval, c->verdict, c->desc))
		return false;
	pkt_diff(got, o.data_size_out, want, want_len, diff, sizeof(diff));
	return ktest_check(!diff[0], __func__, __LINE__, c->desc, "packet differs: %s", diff);
}

int tc_run_cases(int prog_fd, const struct tc_case *cases, int n)
{
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += tc_run_case(prog_fd, &cases[i]);
	return ok;
}

void tc_tcp_flow_cases(const char *c, const char *vip, const char *ep,
		       struct tc_case out[TC_TCP_FLOW_CASES])
{
	const struct tc_case cases[TC_TCP_FLOW_CASES] = {
		{ "SYN to the VIP goes to the endpoint",
		  { 6, c, vip, 40000, 80, F_SYN, 1000, 0 },
		  { 6, c, ep, 40000, 8080, F_SYN, 1000, 0 }, TC_ACT_OK },
		{ "retransmitted SYN goes to the same endpoint",
		  { 6, c, vip, 40000, 80, F_SYN, 1000, 0 },
		  { 6, c, ep, 40000, 8080, F_SYN, 1000, 0 }, TC_ACT_OK },
		{ "SYN-ACK from the endpoint comes from the VIP",
		  { 6, ep, c, 8080, 40000, F_SYN | F_ACK, 5000, 1001 },
		  { 6, vip, c, 80, 40000, F_SYN | F_ACK, 5000, 1001 }, TC_ACT_OK },
		{ "data from the client, odd length",
		  { 6, c, vip, 40000, 80, F_ACK, 1001, 5001, 101 },
		  { 6, c, ep, 40000, 8080, F_ACK, 1001, 5001, 101 }, TC_ACT_OK },
		{ "data from the endpoint",
		  { 6, ep, c, 8080, 40000, F_ACK, 5001, 1102, 300 },
		  { 6, vip, c, 80, 40000, F_ACK, 5001, 1102, 300 }, TC_ACT_OK },
		{ "client FIN",
		  { 6, c, vip, 40000, 80, F_FIN | F_ACK, 1102, 5301 },
		  { 6, c, ep, 40000, 8080, F_FIN | F_ACK, 1102, 5301 }, TC_ACT_OK },
		{ "endpoint FIN",
		  { 6, ep, c, 8080, 40000, F_FIN | F_ACK, 5301, 1103 },
		  { 6, vip, c, 80, 40000, F_FIN | F_ACK, 5301, 1103 }, TC_ACT_OK },
		{ "last ACK of the close is still translated",
		  { 6, c, vip, 40000, 80, F_ACK, 1103, 5302 },
		  { 6, c, ep, 40000, 8080, F_ACK, 1103, 5302 }, TC_ACT_OK },
	};

	memcpy(out, cases, sizeof(cases));
}
