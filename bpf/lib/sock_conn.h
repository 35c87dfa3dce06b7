/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SOCK_CONN_H
#define BPFMESH_SOCK_CONN_H
/*
 * The one record of a placed connection (struct sock_conn, health_abi.h):
 * connect4/6 and sendmsg4/6 create it once (sock_conn_new), every other
 * program reads it through sock_conn_get(): getpeername, recvmsg, UDP
 * stickiness and flow end, sockops counting, the connection pool's release,
 * sockmap and the connection sweep.
 *
 * Why one socket storage, not three: each storage of a socket is one
 * kmalloc with its memcg charge, and the first also allocates the socket's
 * bpf_local_storage; that was most of connect4's time (docs/benchmarks.md
 * "decide", "sockstore"). The connection pool's mark (pool_slot) and the
 * caller's identity (identity) and, for clusters with
 * maxConnectionDuration, the time of establishment (established_ns) had
 * storages of their own; they are fields now. Why a socket storage and not a hash keyed by the socket cookie: see
 * docs/benchmarks.md "sockstore (session 7)".
 *
 * Upgrades: an agent upgrade adopts the pinned maps while connections are
 * open. Connections placed by the programs before _v3 have their record in
 * bpfmesh_sock4_conn_v2 (the first 64 bytes of today's layout), their pool
 * mark in bpfmesh_connpool4_socks_v1, their identity in
 * bpfmesh_sock_src_v1 and their time of establishment in
 * bpfmesh_connpool4_life_v1. The first program that looks for such a socket's
 * record makes a _v3 one from them (sock_conn_adopt): the placement is
 * copied with its flags (what the old sockops counted stays counted once),
 * the pool mark is moved with a cmpxchg (so it is released exactly once,
 * by whichever program releases the _v3 record), the identity and the
 * time of establishment copied.
 * The rule: a connection placed before the upgrade is counted (opened,
 * established, closed, bytes, by source), released from maxConnections,
 * shown as its VIP and swept exactly as one placed after it.
 *
 * Only where it can matter: the loader sets sock_conn_old_records when the
 * node's bpffs holds a _v2 record map (user/kern/old_records.c); elsewhere
 * the verifier drops the adoption, so a socket no program placed costs one
 * lookup, as before, and the old maps are not even created. Where it is
 * set it stays set (the old pins stay with the maps the programs use): a
 * socket without a record costs three lookups there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/health_maps.h"
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/identity_abi.h>

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#endif

/* Set by the loader before load (see above); 0: no adoption. */
const volatile __u32 sock_conn_old_records = 0;

/* The _v2 record: the first BPFMESH_SOCK_CONN_V2_SIZE bytes of struct
 * sock_conn, copied whole (a map pinned by an older release is adopted by
 * its sizes, not its BTF). */
struct sock_conn_v2 {
	__u64 words[BPFMESH_SOCK_CONN_V2_SIZE / 8];
};

/* Read only, for connections placed before _v3. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_conn_v2);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sock4_conn_v2 SEC(".maps");

/* Read (and its mark moved) only, for connections counted before _v3. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct connpool_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_connpool4_socks_v1 SEC(".maps");

/* Read only, for connections placed before _v3. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_sock_src_v1 SEC(".maps");

/* Read only, for connections established before _v3. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct connpool_life);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_connpool4_life_v1 SEC(".maps");

/* Move a pool mark of an earlier release into the record: exactly once
 * (the cmpxchg to 0 succeeds on one CPU, and the old programs release only
 * a non-zero mark). */
static __always_inline void sock_conn_adopt_pool(void *sk, struct sock_conn *c)
{
	struct connpool_sock *p = bpf_sk_storage_get(&bpfmesh_connpool4_socks_v1, sk, NULL, 0);
	__u64 slot;

	if (!p)
		return;
	slot = READ_ONCE(p->counted_slot);
	if (slot && __sync_val_compare_and_swap(&p->counted_slot, slot, 0) == slot)
		WRITE_ONCE(c->pool_slot, slot);
}

/*
 * A _v3 record for a socket an earlier release placed, or NULL when it has
 * none (a socket no program placed: three lookups, each a test of an empty
 * pointer on a socket without storages). Two CPUs adopting the same socket
 * at once: one creates, the other's create fails (NULL), so the mark moves
 * once.
 */
static __always_inline struct sock_conn *sock_conn_adopt(void *sk)
{
	struct sock_conn_v2 *old = bpf_sk_storage_get(&bpfmesh_sock4_conn_v2, sk, NULL, 0);
	struct connpool_life *life;
	struct sock_src *src;
	struct sock_conn *c;

	if (!old && !bpf_sk_storage_get(&bpfmesh_connpool4_socks_v1, sk, NULL, 0))
		return NULL;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v3, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c)
		return NULL;
	if (old) {
		__builtin_memcpy(c, old, sizeof(*old));
		src = bpf_sk_storage_get(&bpfmesh_sock_src_v1, sk, NULL, 0);
		if (src)
			c->identity = src->identity;
		life = bpf_sk_storage_get(&bpfmesh_connpool4_life_v1, sk, NULL, 0);
		if (life)
			c->established_ns = life->established_ns;
	}
	sock_conn_adopt_pool(sk, c);
	return c;
}

/* The record of the connection behind a socket (any program: sk is a
 * struct bpf_sock, or a BTF socket in the sweep), or NULL when none was
 * placed. */
static __always_inline struct sock_conn *sock_conn_get(void *sk)
{
	struct sock_conn *c;

	if (!sk)
		return NULL;
	c = bpf_sk_storage_get(&bpfmesh_sock4_conn_v3, sk, NULL, 0);
	if (c || !sock_conn_old_records)
		return c;
	return sock_conn_adopt(sk);
}

/* connect4/6, sendmsg4/6: the socket's record, made if it has none (one
 * allocation; all zeros until the placement is written), adopted if an
 * earlier release placed it (so a connect retried on that socket keeps
 * the pool mark it holds); NULL when the kernel cannot allocate. */
static __always_inline struct sock_conn *sock_conn_new(struct bpf_sock *sk)
{
	struct sock_conn *c = sock_conn_get(sk);

	if (c || !sk)
		return c;
	return bpf_sk_storage_get(&bpfmesh_sock4_conn_v3, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
}

/* A connect refused after its record was made (over maxConnections): the
 * record shows no VIP and counts nothing (its pool mark, if any, stays). */
static __always_inline void sock_conn_unplace(struct sock_conn *c)
{
	if (!c)
		return;
	c->vip_port = 0;
	c->flags = 0;
}

/* Whether the record holds a VIP to show (getpeername): a placement wrote
 * one; a record made for a refused connect, or by an adoption of a pool
 * mark alone, did not (service ports are never 0). */
static __always_inline int sock_conn_has_vip(const struct sock_conn *c)
{
	return c && c->vip_port;
}

#endif /* BPFMESH_SOCK_CONN_H */
