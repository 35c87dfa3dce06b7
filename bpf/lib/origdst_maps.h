/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_ORIGDST_MAPS_H
#define BPFMESH_ORIGDST_MAPS_H
/* Per-socket storage of the original destination of a redirected connect. */
#include "lib/common.h"

/* The VIP:port a socket was connected to, so getpeername() can report it.
 * Lives and dies with the socket. */
struct sock_origdst {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_origdst);
} bpfmesh_sock4_origdst SEC(".maps");

#endif /* BPFMESH_ORIGDST_MAPS_H */
