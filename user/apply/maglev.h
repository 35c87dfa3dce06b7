/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_MAGLEV_H
#define BPFMESH_APPLY_MAGLEV_H
/*
 * Weighted Maglev lookup tables (Eisenbud et al., NSDI 2016), built in user
 * space for consistentHash loadBalancer policies; the kernel indexes them
 * in O(1) (bpf/lib/lb_algo.h). Pure: no kernel, no clock, no randomness.
 *
 * Each endpoint has a preference order over the table entries, a
 * permutation derived from a hash of its address and port only (offset and
 * skip, the table size prime), so it does not depend on which other
 * endpoints are there: removing one of N endpoints moves little more than
 * its own 1/N of the entries. Endpoints take turns claiming their next
 * preferred free entry until the table is full; weights are honoured by
 * turns in proportion to weight (each round an endpoint earns its weight
 * and claims one entry per max-weight earned), so each endpoint's share of
 * the table is its weight share within about one entry per round.
 */
#include <stddef.h>
#include <linux/types.h>

struct maglev_endpoint {
	__be32 addr; /* what its permutation is derived from */
	__be16 port;
	__u32 weight; /* > 0 */
};

/* Fill table[0..size-1] with endpoint indexes (0..n-1). size must be prime
 * (policy/check.h check_is_prime) and at least max(n, 2). Returns 0, -EINVAL on bad input, -ENOMEM. Work is about
 * size x ln(size) probes plus one round per entry of the heaviest endpoint
 * over n endpoints. */
int maglev_build(const struct maglev_endpoint *eps, size_t n, __u32 size, __u32 *table);

#endif /* BPFMESH_APPLY_MAGLEV_H */
