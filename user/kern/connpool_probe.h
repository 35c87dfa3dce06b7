/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONNPOOL_PROBE_H
#define BPFMESH_CONNPOOL_PROBE_H
/*
 * Whether this kernel could close connections for connectionPool.tcp
 * maxConnectionDuration and idleTimeout: that takes bpf_sock_destroy()
 * (a kfunc from socket iterators, Linux 6.5+), found in the kernel's BTF.
 * The loader loads the connection sweep (bpf/conn_sweep.bpf.c) only where
 * it is there; elsewhere the agent says once at start that the two fields
 * are not enforced, naming what this kernel lacks.
 */
#include <stdbool.h>

/* True when the running kernel's BTF has the bpf_sock_destroy kfunc. */
bool connpool_kernel_has_sock_destroy(void);

/* The agent's start-up line when the sweep is not running. */
const char *connpool_close_note(bool has_sock_destroy);

#endif /* BPFMESH_CONNPOOL_PROBE_H */
