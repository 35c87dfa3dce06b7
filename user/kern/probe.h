/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_PROBE_H
#define BPFMESH_PROBE_H
/*
 * Kernel feature probe: which of the kernel features bpfmesh relies on are
 * present, and what is lost, in plain words, when one is not.
 *
 * Gathering (probe_kernel: syscalls, /proc, /sys) is kept apart from deciding
 * (probe_explain: pure, no I/O), so that the decision is unit-tested with any
 * mix of features present.
 *
 * BPFMESH_PROBE_HIDE=name[,name...] in the environment makes probe_kernel()
 * report the named features as missing, so that tests can check the agent's
 * message on a kernel that has everything. Names:
 *
 *   bpf             bpf() system call usable
 *   bpffs           BPF file system (bpffs) known to the kernel
 *   btf             kernel BTF at /sys/kernel/btf/vmlinux
 *   cgroup2         a cgroup v2 file system mounted (listed in /proc/mounts)
 *   sock_addr       program type BPF_PROG_TYPE_CGROUP_SOCK_ADDR
 *   connect4        attach type BPF_CGROUP_INET4_CONNECT
 *   getpeername4    attach type BPF_CGROUP_INET4_GETPEERNAME
 *   cgroup_link     BPF links for cgroups (bpf_link_create)
 *   sk_storage      map type BPF_MAP_TYPE_SK_STORAGE
 *   percpu_hash     map type BPF_MAP_TYPE_PERCPU_HASH
 *   percpu_array    map type BPF_MAP_TYPE_PERCPU_ARRAY
 *   get_prandom_u32 helper bpf_get_prandom_u32() in cgroup sock_addr programs
 *   sk_storage_get  helper bpf_sk_storage_get() in cgroup sock_addr programs
 *   set_retval      helper bpf_set_retval() in cgroup sock_addr programs
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum probe_feature {
	PROBE_BPF_SYSCALL,
	PROBE_BPFFS,
	PROBE_BTF_VMLINUX,
	PROBE_CGROUP2,
	PROBE_PROG_SOCK_ADDR,
	PROBE_ATTACH_CONNECT4,
	PROBE_ATTACH_GETPEERNAME4,
	PROBE_LINK_CGROUP,
	PROBE_MAP_SK_STORAGE,
	PROBE_MAP_PERCPU_HASH,
	PROBE_MAP_PERCPU_ARRAY,
	PROBE_HELPER_PRANDOM,
	PROBE_HELPER_SK_STORAGE_GET,
	PROBE_HELPER_SET_RETVAL,
	PROBE__NR,
};

/* What probe_kernel() found. */
struct probe_result {
	bool have[PROBE__NR];   /* indexed by enum probe_feature */
	bool hidden[PROBE__NR]; /* set missing by BPFMESH_PROBE_HIDE */
	int bpf_errno;          /* why bpf() failed (ENOSYS, EPERM...), else 0 */
};

/* Environment variable read by probe_kernel(). */
#define PROBE_HIDE_ENV "BPFMESH_PROBE_HIDE"

/* Name of a feature as BPFMESH_PROBE_HIDE spells it; NULL if out of range. */
const char *probe_feature_name(enum probe_feature f);

/* Feature for a name, or -ENOENT. */
int probe_feature_by_name(const char *name);

/* Mark the features in a comma- (or space-) separated list as missing and
 * hidden. Unknown names are reported on log (may be NULL) and skipped.
 * Returns the number of unknown names. */
int probe_hide(struct probe_result *r, const char *list, FILE *log);

/* Probe the running kernel, then apply BPFMESH_PROBE_HIDE. Needs the
 * privileges the agent runs with (without them, "bpf" is missing). Leaves no
 * program, map or link behind. Returns 0. */
int probe_kernel(struct probe_result *r);

/* Write one line per missing required feature to buf (always NUL-terminated
 * when len > 0; buf may be NULL when len is 0). A feature whose prerequisite
 * is missing (e.g. every program feature when bpf() is unusable) is neither
 * listed nor counted: the prerequisite's line covers it. Returns the number
 * of lines, i.e. of missing required features. */
int probe_explain(const struct probe_result *r, char *buf, size_t len);

/* probe_kernel() + probe_explain(), printing the lines to log (may be NULL).
 * Returns 0 when every required feature is present, else -ENOTSUP. */
int probe_check(FILE *log);

#endif /* BPFMESH_PROBE_H */
