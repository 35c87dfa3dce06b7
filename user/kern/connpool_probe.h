/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CONNPOOL_PROBE_H
#define BPFMESH_CONNPOOL_PROBE_H
/*
 * Whether this kernel could close connections for connectionPool.tcp
 * maxConnectionDuration and idleTimeout: that takes bpf_sock_destroy()
 * (a kfunc from socket iterators, Linux 6.5+), found in the kernel's BTF.
 * bpfmesh does not close connections yet on any kernel; the agent says so
 * once at start, naming what this kernel lacks.
 */
#include <stdbool.h>

/* True when the running kernel's BTF has the bpf_sock_destroy kfunc. */
bool connpool_kernel_has_sock_destroy(void);

/* The agent's start-up line about the two fields. */
const char *connpool_close_note(bool has_sock_destroy);

#endif /* BPFMESH_CONNPOOL_PROBE_H */
