// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The endpoint counters' upgrade from the per-CPU _v1 map to the shared _v2
 * one (user/kern/counters_migrate.h): one run moves one slot. It sums the
 * slot's _v1 counts over the CPUs, zeroes them, and adds the sums to the
 * slot's _v2 counts with atomic adds (the programs that count there run
 * meanwhile). A run is one BPF_PROG_TEST_RUN: the agent cannot die half way
 * through it (a BPF program runs to its end; a signal is seen only when the
 * syscall returns), so a slot is either still in _v1 or already in _v2,
 * never both and never neither: whichever agent runs next carries what _v1
 * still holds, and a slot carried twice adds zero the second time.
 *
 * Run only once no program counts into _v1 any more (the links switched,
 * and a grace period later): _v1's programs increment their CPU's value
 * without atomics, which a zeroing from here could race with.
 *
 * The two maps are the pinned ones (bpf_map__reuse_fd); the sizes here are
 * placeholders. A syscall program (Linux 5.14+), reading other CPUs' values
 * with bpf_map_lookup_percpu_elem (5.19+).
 */
#include "lib/common.h"
#include <bpfmesh/counters_carry_abi.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define N_FIELDS (sizeof(struct ep_counters) / sizeof(__u64))
#define MAX_CPUS 8192 /* the loop's bound for the verifier; n_cpus is the count */

/* Possible CPUs (libbpf_num_possible_cpus), set before load. */
const volatile __u32 n_cpus = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ep_counters);
} counters_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ep_counters_elem);
} counters_v2 SEC(".maps");

SEC("syscall")
int bpfmesh_counters_carry(struct counters_carry_args *a)
{
	struct ep_counters total = {};
	struct ep_counters_elem *dst;
	__u64 *sum = (__u64 *)&total, *v;
	__u32 slot = a->slot, cpu, f;

	dst = bpf_map_lookup_elem(&counters_v2, &slot);
	if (!dst)
		return 1; /* beyond _v2: left in _v1 (the caller counts it) */
	for (cpu = 0; cpu < MAX_CPUS && cpu < n_cpus; cpu++) {
		v = bpf_map_lookup_percpu_elem(&counters_v1, &slot, cpu);
		if (!v)
			break; /* past _v1's end: what was zeroed is added below */
#pragma unroll
		for (f = 0; f < N_FIELDS; f++) {
			sum[f] += v[f];
			v[f] = 0;
		}
	}
#pragma unroll
	for (f = 0; f < N_FIELDS; f++)
		if (sum[f])
			__sync_fetch_and_add(&((__u64 *)&dst->c)[f], sum[f]);
	a->carried = total; /* field by field at fixed offsets: ctx rules */
	return 0;
}
