/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_SLOTS_H
#define BPFMESH_APPLY_SLOTS_H
/*
 * Slots (include/bpfmesh/health_abi.h, "Slot rules"): pure bookkeeping of
 * which cluster owns each cluster slot and which (cluster slot, addr:port)
 * owns each endpoint slot, so counters keep their meaning across policy
 * versions and agent restarts. plan.c assigns them for a new image and
 * turns the assignments into map steps; apply.c recovers them from the
 * kernel on adopt. No kernel, no clock.
 *
 * A slot is free (never used, or its owner left the policy more than
 * APPLY_GRACE_MS ago and it is not ejected), live (named by the version in
 * force) or retired (owner left less than the grace period ago, or still
 * ejected: the kernel returns it on time and its cluster's ejected count
 * comes down then). The lowest free slot is taken.
 */
#include <stdbool.h>
#include <stddef.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/lb_abi.h>

struct ep_owner {
	__u32 cluster_slot; /* 0: the slot was never assigned */
	__be32 addr[4];     /* IPv4 in addr[0], the rest zero; or IPv6 */
	__be16 port;
	__u8 live;          /* named by the version in force */
	__u8 family;        /* AF_INET or AF_INET6 */
	__u64 retired_ms;   /* when it stopped being live */
};

struct cl_owner {
	struct cluster_cfg cfg;      /* as written; cfg.name_id 0: never assigned */
	struct connpool_cfg pool;    /* as written (plan_connpool.c) */
	char name[BPFMESH_NAME_LEN]; /* "" when recovered without its name */
	__u8 live;
	__u64 retired_ms;
};

struct apply_slots {
	__u32 max_endpoints; /* 0: no health maps, nothing is assigned */
	__u32 max_clusters;
	int ncpu;            /* per-CPU values of ep_counters */
	struct ep_owner *eps; /* max_endpoints entries; [0] unused */
	struct cl_owner *cls; /* max_clusters entries; [0] unused */
	/* Every element of every slot holds zeroes: the health maps were
	 * created by this agent and nothing was written to them yet (so no
	 * slot has an owner either). A full plan then writes no zeroes to the
	 * slots it gives out (at a cold start of 100,000 endpoints they cost
	 * ~70 ms of syscalls). Not copied by slots_copy; the applier clears
	 * it once a plan ran. */
	bool known_zero;
	/* Cluster slots below this have latency histograms (entries of the
	 * histograms map: 1 when the agent runs without --cluster-histograms,
	 * health_abi.h); 0: every slot. A plan zeroes only those. */
	__u32 hist_clusters;
};

/* Empty tables of the given sizes (0, 0: health off). 0 or -ENOMEM. */
int slots_init(struct apply_slots *s, __u32 max_endpoints, __u32 max_clusters, int ncpu);
/* A deep copy. 0 or -ENOMEM. */
int slots_copy(struct apply_slots *dst, const struct apply_slots *src);
void slots_free(struct apply_slots *s);

/* May a slot not live now be given to a new owner at now_ms? */
bool slots_ep_reusable(const struct ep_owner *o, __u64 now_ms, bool ejected);
bool slots_cl_reusable(const struct cl_owner *o, __u64 now_ms);

/* Lookups by owner (linear index built once per plan: see plan.c). */
struct slot_index {
	struct slot_key *keys; /* clusters: sorted by name; endpoints: by cluster slot */
	size_t n;
	/* Endpoints: keys[first[c]] to keys[first[c + 1] - 1] are the owners
	 * of cluster slot c, lowest slot first (n_first - 1 cluster slots). */
	__u32 *first;
	__u32 n_first;
};
struct slot_key {
	__u32 cluster_slot; /* 0 for a cluster: then name is the key */
	__be32 addr[4];
	__be16 port;
	__u8 family;
	const char *name;
	__u32 slot;
};
/* Every owner in s, live or retired: one slot per key (a cluster slot given
 * to a new cluster first drops the retired owners of its old one). */
int slot_index_endpoints(const struct apply_slots *s, struct slot_index *ix);
int slot_index_clusters(const struct apply_slots *s, struct slot_index *ix);
/* The slot owned by key, or 0 (an endpoint owned twice: the lowest slot). */
__u32 slot_index_find(const struct slot_index *ix, const struct slot_key *key);
void slot_index_free(struct slot_index *ix);

#endif /* BPFMESH_APPLY_SLOTS_H */
