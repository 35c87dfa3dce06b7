// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * The switch stress test's reader (prog_tests/switch_stress.c): run by
 * BPF_PROG_TEST_RUN on every CPU while writers switch two services, it
 * looks each service up exactly as connect4 does (lb4_lookup_svc) and
 * checks that the route it reads is one version whole (route_version.h).
 * In legacy mode it reads a svc_val hash replaced in place instead, the
 * layout bpfmesh used before the atomic switch, to show the checker sees
 * what that layout lets through.
 */
#include "lib/common.h"
#include "lib/route.h"
#include "route_version.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct svc_key probe_keys[2] = {};

__u32 legacy_mode; /* set by the test between runs */
__u64 reads, torn, absent;

/* The old layout: VIP:port -> svc_val, each update replacing the element. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
} legacy_services SEC(".maps");

static __always_inline bool route_is_whole(const struct svc_val *v)
{
	const __u32 *w = (const __u32 *)v;
	__u32 g = w[ROUTE_GEN_WORD], k;

	for (k = 0; k < ROUTE_WORDS; k++)
		if (k != ROUTE_GEN_WORD && w[k] != route_word(g, k))
			return false;
	return true;
}

static __always_inline void probe_one(const struct svc_key *key)
{
	const struct svc_val *v;

	if (legacy_mode)
		v = bpf_map_lookup_elem(&legacy_services, key);
	else
		v = lb4_lookup_svc(key);
	__sync_fetch_and_add(&reads, 1);
	if (!v)
		__sync_fetch_and_add(&absent, 1);
	else if (!route_is_whole(v))
		__sync_fetch_and_add(&torn, 1);
}

SEC("tc")
int route_probe(struct __sk_buff *skb)
{
	struct svc_key k0 = probe_keys[0], k1 = probe_keys[1];

	probe_one(&k0);
	probe_one(&k1);
	return 0;
}
