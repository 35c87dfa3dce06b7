/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_ROUTE_VERSION_H
#define BPFMESH_ROUTE_VERSION_H
/*
 * Route versions of the switch stress test (prog_tests/switch_stress.c),
 * one piece of arithmetic for the writers (user space) and the checker
 * (progs/route_probe.bpf.c). Version g is a svc_val whose generation word
 * is g and whose every other word k is route_word(g, k). The multiplier is
 * odd, so two versions differ in every word: a read that takes any word
 * from another version than the rest fails route_is_whole.
 */

#define ROUTE_WORDS (sizeof(struct svc_val) / sizeof(__u32))
#define ROUTE_GEN_WORD 1 /* offsetof(struct svc_val, generation) / 4 */

static inline __u32 route_word(__u32 g, __u32 k)
{
	return (g * 2654435761u) ^ ((k + 1) * 40503u);
}

#endif /* BPFMESH_ROUTE_VERSION_H */
