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
	APPLY_MAP_SERVICES,
	APPLY_MAP_BACKENDS,
	APPLY_MAP_NAMES,
	__APPLY_MAP_MAX,
};

enum map_step_kind {
	STEP_WRITE,  /* update n keys to vals */
	STEP_DELETE, /* delete n keys; exec keeps what they held, to restore them */
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

/* Fresh backend sets, new names, changed services (the switch), removed
 * services, stale names. */
#define APPLY_MAX_STEPS 5

struct apply_counts {
	size_t services;   /* in the new version */
	size_t endpoints;  /* backend slots in the new version */
	size_t svc_writes; /* service values written or deleted */
	size_t set_writes; /* sets written fresh */
	size_t sets_reused;
};

struct apply_plan {
	struct map_step steps[APPLY_MAX_STEPS]; /* in execution order */
	size_t n_steps;
	struct apply_state next; /* the state once every step is done */
	struct apply_counts counts;
};

/* Plan img over cur; sets retired by it are stamped now_ms. 0, -EINVAL for
 * an image whose service keys are not sorted and unique, or -ENOMEM. */
int apply_plan_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		     __u64 now_ms, struct apply_plan *p);

void apply_plan_free(struct apply_plan *p);

#endif /* BPFMESH_APPLY_PLAN_H */
