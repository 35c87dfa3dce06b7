/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_STATE_H
#define BPFMESH_APPLY_STATE_H
/*
 * The applier's bookkeeping: what it believes the kernel maps hold, so that
 * the next apply writes only differences. plan.c derives the next state
 * from this one and a new image; apply.c swaps it in only once every map
 * write has succeeded, so a failed apply leaves it untouched.
 */
#include <stdbool.h>
#include <stddef.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/lbpolicy_abi.h>
#include "slots.h"

struct image_set;

struct live_service {
	struct svc_key key;
	struct svc_val val; /* its route as in the kernel: kernel set ids, generation */
	__u32 index;        /* its key's value in svc_ids, its element of svc_heads */
	__u32 route_id;     /* the route its head names */
};

/* A backend set in the kernel, with its content so that an identical set in
 * the next version can reuse it instead of being written again. */
struct live_set {
	__u64 hash;
	__u32 id;
	__u32 n_slots;
	__u32 total_weight;
	__u32 table_kind, table_len; /* its lookup table (image.h), 0: none */
	struct backend_val *slots;
};

/* A name in the names map under the kernel id the applier gave it. */
struct live_name {
	__u32 id;
	__u32 kind;
	char name[BPFMESH_NAME_LEN];
};

/* A set no service names any more, deleted once no reader can hold it. */
struct retired_set {
	__u32 id;
	__u32 n_slots;
	__u64 since_ms;
};

/* Where one set of the image last written lives in the kernel: what a
 * service's destination naming it holds (plan_incr.c reads it). */
struct set_place {
	__u32 set_id;       /* 0: empty set */
	__u32 n_slots;      /* as written (ejected endpoints left out) */
	__u32 set_weight;
	__u32 cluster_slot; /* 0: health off */
	__u32 name_id;      /* kernel id of the cluster's name */
};

struct apply_state {
	__u32 generation;          /* of the last apply that changed a service */
	__u32 next_set_id;         /* 0 is never used: it means "no set" */
	struct live_service *svcs; /* what the services map holds, sorted by key */
	size_t n_svcs;
	struct live_set *sets;     /* sets named by svcs, sorted by content hash */
	size_t n_sets;
	struct live_name *names;   /* what the names map holds, sorted by name */
	size_t n_names;
	struct retired_set *retired;
	size_t n_retired;
	struct apply_slots slots;  /* slot owners (slots.h); empty: health off */
	/* The service maps (lb_abi.h "Atomic switch"): their sizes (0: not
	 * checked), the next route id to try, and what waits for a grace period
	 * (route ids no head names any more, deleted then; indexes of removed
	 * services, whose keys were deleted: reusable then). While either list
	 * is not empty no key may be inserted (an element freed by a delete may
	 * be reused by the insert while a program still reads it): the applier
	 * waits for readers first (applier_sweep). */
	__u32 max_services;
	__u32 max_routes;
	__u32 next_route_id;       /* 0 is never used: a head of 0 names no route */
	__u32 *retired_routes;
	size_t n_retired_routes;
	__u32 *retired_indexes;
	size_t n_retired_indexes;
	/* loadBalancer (plan_lbpolicy.c): on when the applier has the maps;
	 * what each cluster slot's policy holds (slots.max_clusters entries,
	 * NULL: not known, read back or written whole). */
	bool lb_on;
	struct lb_policy *lb_policies;
	/* The image last written (its services array, a token only, never
	 * read) and where each of its sets went: an incremental image spliced
	 * over that image is planned from these alone (plan_incr.c). */
	const void *img_token;
	struct set_place *placement;
	size_t n_placement;
	size_t n_endpoints;        /* backend slots written, for the counts */
	/* Every route id live or retired is below next_route_id, which has
	 * not wrapped: a fresh id is next_route_id itself. */
	bool route_ids_below_next;
};

void apply_state_free(struct apply_state *s);

/* Content hash of a set, a word at a time. */
__u64 set_hash(const struct backend_val *slots, __u32 n, __u32 total);

/* The live set with exactly s's content (hash is s's), or NULL. */
struct live_set *find_set(const struct live_set *sets, size_t n, const struct image_set *s,
			  __u64 hash);
struct live_service *find_svc(const struct live_service *svcs, size_t n,
			      const struct svc_key *key);

/* True when v is in the sorted array (which may be NULL when n is 0). */
bool has_u32(const __u32 *sorted, size_t n, __u32 v);

int cmp_svc_key(const void *a, const void *b);
int cmp_set_hash(const void *a, const void *b);
int cmp_u32(const void *a, const void *b);
int cmp_live_name(const void *a, const void *b);

#endif /* BPFMESH_APPLY_STATE_H */
