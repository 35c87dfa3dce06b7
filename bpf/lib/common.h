/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_BPF_COMMON_H
#define BPFMESH_BPF_COMMON_H
/* What every bpfmesh program includes: kernel types, libbpf helpers, the
 * shared ABI, and the few errno and verdict constants vmlinux.h lacks. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpfmesh/lb_abi.h>

#define ECONNREFUSED 111
#define E2BIG 7

/* Return codes of cgroup sock_addr programs. */
#define SOCK_ALLOW 1
#define SOCK_DENY 0

#endif /* BPFMESH_BPF_COMMON_H */
