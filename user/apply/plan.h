/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_PLAN_H
#define BPFMESH_APPLY_PLAN_H
/*
 * plan: pure. From the applier's state and a new image, the map operations
 * that turn the one into the other, in the order that keeps every connect()
 * on one policy version (see apply.h), and the state once they are done.
 * No kernel, no clock: the same inputs give the same plan, which is what
 * the unit tests check. exec.c performs a plan.
 *
 * A new map kind (counter slots, health state) is one more enum apply_map
 * value and the steps that fill it.
 */
#include <stddef.h>
#include "policy/image.h"
#include "state.h"

enum apply_map {
	APPLY_MAP_SERVICES,   /* svc_ids: svc_key -> service index */
	APPLY_MAP_SVC_HEADS,  /* service index -> svc_head (mmap-able array) */
	APPLY_MAP_ROUTES,     /* route id -> svc_val */
	APPLY_MAP_BACKENDS,
	APPLY_MAP_NAMES,
	APPLY_MAP_EP_COUNTERS,  /* health arrays (health_abi.h), written only */
	APPLY_MAP_EP_HEALTH,    /* when state.slots.max_endpoints is set */
	APPLY_MAP_CLUSTER_CFG,
	APPLY_MAP_CLUSTER_STATE,
	APPLY_MAP_CLUSTER_HISTS,
	APPLY_MAP_LB_POLICY,    /* loadBalancer (lbpolicy_abi.h), written only */
	APPLY_MAP_LB_TABLES,    /* when state.lb_on is set */
	APPLY_MAP_CONNPOOL_CFG, /* connpool_abi.h, with the health arrays */
	APPLY_MAP_SRC_COUNTERS, /* counters by source: only deleted (src_slots.h) */
	__APPLY_MAP_MAX,
};

enum map_step_kind {
	STEP_WRITE,  /* update n keys to vals */
	STEP_DELETE, /* delete n keys; exec keeps what they held, to restore them */
	STEP_PUBLISH, /* array elements keys[i]: store the first 32 bits of vals[i]
		       * as one atomic word (map_ops.store_u32); undo stores
		       * prev_vals[i]'s. The switch. */
};

struct map_step {
	enum map_step_kind kind;
	enum apply_map map;
	size_t key_size, val_size;
	size_t n;
	void *keys;
	void *vals;      /* STEP_WRITE: the new values */
	/* STEP_WRITE: what each key held before, for rollback: prev_vals[i] if
	 * prev_existed[i], else absent. prev_existed NULL: every key is fresh. */
	void *prev_vals;
	unsigned char *prev_existed;
};

/* Zeroed and owned slots (counters, owners, cluster state, histograms,
 * cluster configs), connection pool configs, fresh backend sets, new names, fresh routes, heads of
 * new services, their keys, the switch of changed services (publish),
 * removed services' keys, stale names. Slot steps write arrays: their
 * rollback writes back what the plan knows each element held (zeroes for a
 * slot it assigns, the old config for a cluster config). */
#define APPLY_MAX_STEPS 18 /* + lookup tables, loadBalancer and pool policies */

struct apply_counts {
	size_t services;   /* in the new version */
	size_t endpoints;  /* backend slots in the new version */
	size_t svc_writes; /* services switched, added or deleted */
	size_t set_writes; /* sets written fresh */
	size_t sets_reused;
	size_t new_ep_slots;      /* endpoint slots given to a new owner */
	size_t new_cluster_slots; /* cluster slots given to a new owner */
	size_t ejected_out;       /* ejected endpoints left out of their sets */
};

/* An incremental plan's state change (plan_incr.c): the services at
 * positions pos[] of the state take svcs[], the rest is swapped in. Built
 * whole by the plan, so that committing it cannot fail. */
struct plan_incr_commit {
	size_t n;
	size_t *pos;
	struct live_service *svcs;
	__u32 *retired_routes; /* the state's, and the routes this plan retires */
	size_t n_retired_routes;
	struct set_place *placement;
	size_t n_placement;
	/* Sets whose content changed: slot owners that change, the live sets
	 * added (slots owned) and removed (positions in the state's sets,
	 * ascending), room for the merged list, and the retired list. */
	__u32 *ep_slot;
	struct ep_owner *ep_val;
	size_t n_eps;
	__u32 *cl_slot;
	struct cl_owner *cl_val;
	size_t n_cls;
	struct live_set *added;
	size_t n_added;
	size_t *removed;
	size_t n_removed;
	struct live_set *sets_buf;
	struct retired_set *retired;
	size_t n_retired;
};

struct apply_plan {
	struct map_step steps[APPLY_MAX_STEPS]; /* in execution order */
	size_t n_steps;
	/* The first n_unordered steps write what no published version names
	 * yet, or configs of their own slots (slots, sets, tables, names,
	 * policies, fresh routes, heads of new services): none depends on
	 * another, so exec may run them in any order, two at once. The rest
	 * (keys, the switch, deletes) run in order after them. Full plans. */
	size_t n_unordered;
	/* Full: the state once every step is done. Incremental: only its
	 * scalars (generation, next_route_id, img_token), the rest in ic. */
	struct apply_state next;
	bool incremental;
	struct plan_incr_commit ic;
	const char *full_why; /* an incremental image planned in full: why */
	struct apply_counts counts;
	char error[256]; /* why the plan was refused (-ENOSPC), for the log */
};

/* Endpoint slots ejected now (sorted), which the plan leaves out of their
 * backend sets unless their cluster is in panic; and this node, whose
 * locality decides each endpoint's priority (policy/locality.h; NULL or
 * empty: no locality, as Istio gives a proxy without one). */
struct plan_ejected {
	const __u32 *slots;
	size_t n;
	const struct loc_caller *caller;
	/* Ejections or this node's locality changed since the last apply:
	 * every set is planned again (no incremental plan). */
	bool changed;
};

/* Plan img over cur; sets and slots retired by it are stamped now_ms.
 * ejected may be NULL. 0, -EINVAL for an image whose service keys are not
 * sorted and unique, -ENOSPC (p->error says which limit) when the slot
 * tables cannot hold the policy, or -ENOMEM. */
int apply_plan_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		     __u64 now_ms, const struct plan_ejected *ejected, struct apply_plan *p);

/* For plan_health.c: steps. */
struct map_step *plan_add_step(struct apply_plan *p, enum map_step_kind kind, enum apply_map map,
			       size_t key_size, size_t val_size, size_t n);
void plan_drop_empty_step(struct apply_plan *p, struct map_step *s);
/* A write to an array of __u32 keys whose rollback writes back prev_vals
 * (zeroes unless the caller sets them). */
struct map_step *array_step(struct apply_plan *p, enum apply_map map, size_t val_size, size_t n);

/* plan_health.c: assign slots for img (whose sets are the plan's own copy)
 * into p->next.slots, add the slot steps, fill in the endpoint slots, and
 * give back each set's cluster slot (*cluster_slots, img->n_sets entries,
 * the caller frees). plan_locality_set then leaves ejected endpoints out
 * and weighs each set for this node's locality. */
int plan_health(const struct apply_state *cur, struct bpfmesh_image *img, __u64 now_ms,
		const struct plan_ejected *ejected, struct apply_plan *p,
		__u32 **cluster_slots);

/* plan_routes.c: p->next.svcs hold the next version's services, those
 * that need a new route with route_id 0. Give them route ids (and new
 * services an index), add the steps that write the routes, the heads and
 * keys of new services, publish the switched ones and delete removed keys,
 * and retire what no head names any more. 0, -ENOSPC (p->error says which
 * map is full) or -ENOMEM. */
int plan_routes(const struct apply_state *cur, struct apply_plan *p);

/* plan_lbpolicy.c: complete each set's loadBalancer policy and decide its
 * lookup table (img's sets are the plan's own copy, ejected endpoints
 * already left out), before sets are matched to live ones. */
int plan_lb_tables_spec(const struct apply_state *cur, struct bpfmesh_image *img);

/* plan_lbpolicy.c: the tables of the sets written fresh (set_ids[i],
 * fresh[i] per image set) and the policy of each cluster slot
 * (cluster_slots[i]), written before the switch; p->next.lb_policies. */
int plan_lbpolicy(const struct apply_state *cur, const struct bpfmesh_image *img,
		  const __u32 *set_ids, const unsigned char *fresh, const __u32 *cluster_slots,
		  struct apply_plan *p);

/* plan_connpool.c: write each set's connection pool config (img->sets[i].pool)
 * to its cluster slot where it changed, into p->next.slots, before any
 * service names the slot. Nothing when health is off (no slots). */
int plan_connpool(const struct bpfmesh_image *img, const __u32 *cluster_slots,
		  struct apply_plan *p);
/* One slot's pool into st where it changed, o updated (plan_incr_sets.c too). */
void plan_step_pool(struct map_step *st, __u32 slot, struct cl_owner *o,
		    const struct connpool_cfg *pool);
/* plan_locality.c: rewrite one set (the plan's copy, slots in the image's
 * order, meta[] beside them) with each endpoint's effective weight for this
 * node, ejected endpoints unhealthy; endpoints that get nothing are left
 * out. *left_out counts the ejected ones left out. 0 or -ENOMEM. */
int plan_locality_set(struct image_set *set, const struct plan_ejected *ej,
		      size_t *left_out);
/* The priorities and effective weights of set's endpoints (in the image's
 * order) on the node caller, healthy[j] per endpoint: what
 * plan_locality_set writes, for whoever shows it. 0 or -ENOMEM. */
int plan_locality_weigh(const struct image_set *set, const struct loc_caller *caller,
			const bool *healthy, struct loc_out *out, struct loc_result *res);

/* plan_incr.c: when img is an incremental image (img->delta) spliced over
 * the image cur was planned from, with only routes changed, plan the
 * changed services alone: 0 (p->incremental), 1 when it does not apply
 * (p->full_why), or -ENOSPC / -ENOMEM. O(changed services + sets). */
int plan_incr_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		    __u64 now_ms, const struct plan_ejected *ejected, struct apply_plan *p);
/* plan_incr_sets.c: the sets whose content changed (their clusters kept),
 * after p->ic.placement holds the base placement of each image set: slots,
 * configs, pools, sets, lookup tables and policies, as the full plan plans
 * them. 0, 1 (p->full_why), or negative errno. */
int plan_incr_sets(const struct apply_state *cur, const struct bpfmesh_image *img,
		   const struct plan_ejected *ej, __u64 now_ms, struct apply_plan *p);
/* Make s the state an incremental plan leaves (apply.c, once every step
 * is done): cannot fail. */
void plan_incr_commit(struct apply_state *s, struct apply_plan *p);

/* Shared by plan.c and plan_incr.c. */
int svc_val_same(const struct svc_val *a, const struct svc_val *b);
__u32 fresh_route_id(const __u32 *used, size_t n_used, __u32 *next);
int check_route_room(const struct apply_state *cur, struct apply_plan *p, size_t n_svcs,
		     size_t n_new_routes);

void apply_plan_free(struct apply_plan *p);

#endif /* BPFMESH_APPLY_PLAN_H */
