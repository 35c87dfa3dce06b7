// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "check.h"
#include "lb_policy.h"

__u32 lb_policy_prime_at_least(__u64 n)
{
	if (n > BPFMESH_LB_MAGLEV_MAX)
		n = BPFMESH_LB_MAGLEV_MAX;
	while (n < 2 || !check_is_prime(n))
		n++;
	return (__u32)n;
}

/*
 * Istio's translation (applyLoadBalancer / ApplyRingHashLoadBalancer), done
 * by lb_from_spec: simple, or consistentHash as maglev or ringHash. Here:
 *  - LEAST_CONN is LEAST_REQUEST (Istio maps both to Envoy's
 *    LEAST_REQUEST), the default when unset;
 *  - consistentHash keyed by useSourceIp is a Maglev table; ringHash is
 *    served by one too (the smallest prime >= minimumRingSize; lint notes
 *    it). Keyed by an HTTP field, or by nothing, the connection carries no
 *    key: Envoy then picks at random, and so does the kernel (RANDOM).
 */
void lb_policy_from_config(const struct lb_config *lc, struct lb_policy *out)
{
	memset(out, 0, sizeof(*out));
	switch (lc->algo) {
	case LB_ALGO_LEAST_REQUEST:
		out->algo = BPFMESH_LB_LEAST_REQUEST;
		break;
	case LB_ALGO_ROUND_ROBIN:
		out->algo = BPFMESH_LB_ROUND_ROBIN;
		break;
	case LB_ALGO_RANDOM:
		out->algo = BPFMESH_LB_RANDOM;
		break;
	case LB_ALGO_PASSTHROUGH:
		out->algo = BPFMESH_LB_PASSTHROUGH;
		break;
	case LB_ALGO_MAGLEV:
	case LB_ALGO_RING_HASH:
		if (lc->hash_key != HASH_KEY_SOURCE_IP) {
			out->algo = BPFMESH_LB_RANDOM;
			break;
		}
		out->algo = BPFMESH_LB_MAGLEV;
		if (lc->algo == LB_ALGO_MAGLEV) {
			out->table_size = lc->maglev_table_size;
		} else {
			out->flags |= BPFMESH_LB_F_RING_HASH;
			out->table_size = lb_policy_prime_at_least(lc->ring_min_size);
		}
		break;
	}
}
