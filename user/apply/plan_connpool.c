// SPDX-License-Identifier: Apache-2.0
/* The connection pool step of a plan (plan.h plan_connpool): pure. */
#include <errno.h>
#include <string.h>
#include "plan.h"

/* Only a config that changed is written. A slot given to a new cluster had
 * its owner zeroed (plan_health), so its config is compared with zeroes
 * and written whatever the previous cluster left in the map (a config is
 * never all zeroes: connectTimeout always has a value). Rollback writes
 * back what the slot held by the applier's state. */
void plan_step_pool(struct map_step *st, __u32 slot, struct cl_owner *o,
		    const struct connpool_cfg *pool)
{
	if (!memcmp(&o->pool, pool, sizeof(*pool)))
		return;
	((__u32 *)st->keys)[st->n] = slot;
	((struct connpool_cfg *)st->prev_vals)[st->n] = o->pool;
	((struct connpool_cfg *)st->vals)[st->n++] = *pool;
	o->pool = *pool;
}

int plan_connpool(const struct bpfmesh_image *img, const __u32 *cluster_slots,
		  struct apply_plan *p)
{
	struct apply_slots *s = &p->next.slots;
	struct map_step *st;
	size_t i;

	if (s->max_clusters < 2 || !img->n_sets)
		return 0; /* health off: no cluster slots to hang a pool on */
	st = array_step(p, APPLY_MAP_CONNPOOL_CFG, sizeof(struct connpool_cfg), img->n_sets);
	if (!st)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++)
		if (cluster_slots[i] && cluster_slots[i] < s->max_clusters)
			plan_step_pool(st, cluster_slots[i], &s->cls[cluster_slots[i]],
				       &img->sets[i].pool);
	plan_drop_empty_step(p, st);
	return 0;
}
