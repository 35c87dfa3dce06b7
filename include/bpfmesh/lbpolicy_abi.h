/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LBPOLICY_ABI_H
#define BPFMESH_LBPOLICY_ABI_H
/*
 * Layouts of the load-balancing policy maps (DestinationRule loadBalancer),
 * shared by the BPF programs, the agent, the CLI and the tests. Kernel
 * logic: bpf/lib/lb_algo.h; pure arithmetic: lbpolicy.h; written by
 * user/apply/plan_lbpolicy.c; Maglev tables built by user/apply/maglev.c.
 *
 *   bpfmesh_lb4_policy_v1  cluster slot -> struct lb_policy (agent-written)
 *   bpfmesh_lb4_rr_v1      cluster slot -> rotation counter (kernel atomics)
 *   bpfmesh_lb4_active_v1  endpoint slot -> open connections (sockops)
 *   bpfmesh_lb4_tables_v1  (backend set id, index) -> set slot: the
 *                          weighted round-robin sequence or the Maglev table
 *                          of a set, with a header entry giving its length
 *
 * Tables belong to a backend set, which is immutable (lb_abi.h): a set whose
 * table differs (another algorithm, another tableSize, other endpoints, or
 * the same endpoints less the ejected ones) is a different set, written
 * whole with its table under a fresh id before the svc_val naming it is
 * switched, and deleted with it after the grace period. So a connect reads a
 * set and a table of one version. The policy array is per cluster slot and
 * not versioned: a connect racing an algorithm change may see the old set
 * with the new algorithm; every algorithm whose table that set lacks falls
 * back to the weighted random draw (never an endpoint outside the set).
 *
 * Open connections: sockops adds one when the SYN goes out (so in-flight
 * connects count, as Envoy counts a request from the moment it is sent) and
 * takes it off when the socket reaches TCP_CLOSE, whatever the reason
 * (failed handshake, reset, FIN, abort). The count belongs to the slot, not
 * its owner: it is never zeroed, so a connection of a slot's previous owner
 * that closes after reuse still takes off what it added.
 *
 * Memory: the table map is a hash without prealloc, one element per entry:
 * about 72 B an entry (measured: memlock of the map with one table, in
 * docs/lb.md), so a Maglev destination at the default tableSize 65537 costs
 * about 4.7 MB; the map holds at most BPFMESH_MAX_LB_TABLE_ENTRIES entries
 * (plan_lbpolicy.c refuses a policy whose tables do not fit).
 * A weighted round-robin sequence costs sum(weights)/gcd entries (none when
 * weights are equal). policy: 16 B, rr: 8 B a cluster slot; active: 8 B an
 * endpoint slot.
 */

#ifdef __BPF__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

/* Table entries the map holds (all sets, with their retired predecessors
 * during the grace period): four default-size Maglev tables, or e.g. 25 of
 * 10007 entries. A hash map's bucket array (16 B a bucket) is allocated at
 * creation whatever the policy: 4 MB here; raise it with -D for more. */
#ifndef BPFMESH_MAX_LB_TABLE_ENTRIES
#define BPFMESH_MAX_LB_TABLE_ENTRIES (1u << 18)
#endif
#define BPFMESH_LB_RR_MAX_SEQ 65536u    /* longest weighted round-robin sequence */
#define BPFMESH_LB_MAGLEV_MAX 5000011u  /* Envoy's largest Maglev table_size */
#define BPFMESH_LB_TABLE_HDR 0xffffffffu /* lbtab_key.idx of a table's header */
#define BPFMESH_LB_P2C_CHOICES 2        /* Envoy least_request choice_count default */
#define BPFMESH_LB_LR_TRIES 4           /* weighted least-request draws (lbpolicy.h) */
#define BPFMESH_LB_MAGLEV_PROBES 4      /* table entries tried past an ejected one */

/* How a cluster picks an endpoint. 0 is what a slot never written holds:
 * the weighted random draw, bpfmesh's behaviour before policies existed. */
enum bpfmesh_lb_algo {
	BPFMESH_LB_RANDOM = 0,      /* RANDOM: weighted alias draw */
	BPFMESH_LB_ROUND_ROBIN,     /* ROUND_ROBIN: weighted strict rotation */
	BPFMESH_LB_LEAST_REQUEST,   /* LEAST_REQUEST / LEAST_CONN (Istio default) */
	BPFMESH_LB_PASSTHROUGH,     /* PASSTHROUGH: the address the app asked for */
	BPFMESH_LB_MAGLEV,          /* consistentHash: maglev, or ringHash as maglev */
	__BPFMESH_LB_MAX,
};

enum bpfmesh_lb_flags {
	BPFMESH_LB_F_EQUAL_WEIGHTS = 1 << 0, /* every endpoint of the cluster has one weight */
	BPFMESH_LB_F_RING_HASH = 1 << 1,     /* asked as ringHash, served by Maglev */
};

/* Per cluster slot: the effective loadBalancer, agent-written. */
struct lb_policy {
	__u32 algo;       /* enum bpfmesh_lb_algo */
	__u32 flags;      /* BPFMESH_LB_F_* */
	__u32 table_size; /* MAGLEV: the table size in force (for the CLI) */
	__u32 pad;
};

/* Address of one table entry; idx BPFMESH_LB_TABLE_HDR is the header. */
struct lbtab_key {
	__u32 set_id;
	__u32 idx;
};

/* A table entry: the set slot it sends to. The header holds the table's
 * length in slot and its kind (enum bpfmesh_lb_algo) in kind. */
struct lbtab_val {
	__u32 slot;
	__u32 kind;
};

/* Per endpoint slot: connections open (SYN sent, not yet closed). Signed so
 * that a decrement never racing its increment cannot wrap. */
struct lb_active {
	__s64 open;
};

_Static_assert(sizeof(struct lb_policy) == 16, "lb_policy layout");
_Static_assert(sizeof(struct lbtab_key) == 8, "lbtab_key layout");
_Static_assert(sizeof(struct lbtab_val) == 8, "lbtab_val layout");
_Static_assert(sizeof(struct lb_active) == 8, "lb_active layout");

/* Pinned map names (pinned by name under the agent's bpffs directory). */
#define BPFMESH_MAP_LB_POLICY "bpfmesh_lb4_policy_v1"
#define BPFMESH_MAP_LB_RR "bpfmesh_lb4_rr_v1"
#define BPFMESH_MAP_LB_ACTIVE "bpfmesh_lb4_active_v1"
#define BPFMESH_MAP_LB_TABLES "bpfmesh_lb4_tables_v1"

#endif /* BPFMESH_LBPOLICY_ABI_H */
