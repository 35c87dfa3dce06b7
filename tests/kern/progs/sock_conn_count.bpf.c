// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The records test's counter (prog_tests/sock_conn.c): an iterator over a
 * socket-storage map (the test attaches it to the pinned
 * bpfmesh_sock4_conn_v3) that counts the sockets holding a record, so the
 * test can see every record go when its sockets are gone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 records;

SEC("iter/bpf_sk_storage_map")
int count_records(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	if (ctx->sk && ctx->value)
		records++;
	return 0;
}
