/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TEST_FUZZ_POLICY_H
#define BPFMESH_TEST_FUZZ_POLICY_H
/*
 * One fuzz input through the whole policy front end: parse -> validate ->
 * compile -> print the diagnostics. Shared by the libFuzzer target
 * (tests/fuzz/fuzz_policy.c) and by the unit test that replays the
 * regression corpus under ASan/UBSan on every `make test`.
 *
 * Input format: the first byte holds flags (bit 0: --strict), the rest is
 * one policy file. The crash found at 8f281d9 is in this format.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy/policy.h"

static inline void fuzz_policy_one(const uint8_t *data, size_t size)
{
	static FILE *sink;
	const char *names[] = { "fuzz.yaml" };
	const char *bufs[1];
	size_t lens[1];
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;

	if (size < 1)
		return;
	if (!sink)
		sink = fopen("/dev/null", "w");
	dl.strict = data[0] & 1;
	bufs[0] = (const char *)data + 1;
	lens[0] = size - 1;
	policy_compile_buffers(names, bufs, lens, 1, &dl, &img);
	if (sink)
		diag_print(&dl, sink);
	bpfmesh_image_free(&img);
	diag_free(&dl);
}

#endif /* BPFMESH_TEST_FUZZ_POLICY_H */
