/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
#ifndef BPFMESH_COUNTERS_CARRY_ABI_H
#define BPFMESH_COUNTERS_CARRY_ABI_H
/* The context of bpf/counters_carry.bpf.c, one run per slot
 * (BPF_PROG_TEST_RUN; the kernel copies it back after the run). */
#include <bpfmesh/health_abi.h>

struct counters_carry_args {
	__u32 slot;                 /* in: the endpoint slot to carry */
	__u32 pad;
	struct ep_counters carried; /* out: what moved from _v1 to _v2 */
};

_Static_assert(sizeof(struct counters_carry_args) == 8 + sizeof(struct ep_counters),
	       "counters_carry_args layout");

#endif /* BPFMESH_COUNTERS_CARRY_ABI_H */
