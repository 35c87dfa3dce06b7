/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_LB_POLICY_H
#define BPFMESH_POLICY_LB_POLICY_H
/* The effective loadBalancer of a cluster (traffic_policy.h lb_effective) in
 * the kernel's terms (include/bpfmesh/lbpolicy_abi.h struct lb_policy). */
#include <bpfmesh/lbpolicy_abi.h>

#include "traffic_policy.h"

void lb_policy_from_config(const struct lb_config *lc, struct lb_policy *out);

/* The smallest prime >= n (n <= BPFMESH_LB_MAGLEV_MAX), the table size a
 * ringHash's minimumRingSize becomes. */
__u32 lb_policy_prime_at_least(__u64 n);

#endif /* BPFMESH_POLICY_LB_POLICY_H */
