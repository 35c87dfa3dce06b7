// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * For the records test (prog_tests/sock_conn.c): an iterator over a
 * socket-storage map (the test attaches it to the pinned
 * bpfmesh_sock4_conn_v3) that counts the sockets holding a record, so the
 * test can see every record go when its sockets are gone; and the record
 * maps of a release before _v3, with their layouts, which the test pins
 * before the agent starts, as that release would have left them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 records;

struct old_sock_conn {
	__u8 bytes[BPFMESH_SOCK_CONN_V2_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct old_sock_conn);
} old_conn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct connpool_sock);
} old_pool SEC(".maps");

SEC("iter/bpf_sk_storage_map")
int count_records(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	if (ctx->sk && ctx->value)
		records++;
	return 0;
}
