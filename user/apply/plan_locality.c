// SPDX-License-Identifier: Apache-2.0
/*
 * The locality step of a plan (plan.h, plan_locality_set): each backend set
 * is rewritten with the effective weight policy/locality.c gives each
 * endpoint on this node, the ejected ones counted unhealthy. The kernel's
 * pick stays the same O(1) alias draw over an immutable set; a change of
 * health or of policy is a fresh set switched in through the svc value, as
 * any other change (apply.h). Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpfmesh/select.h>
#include "plan.h"

static bool slot_ejected(const struct plan_ejected *ej, __u32 slot)
{
	return ej && slot && has_u32(ej->slots, ej->n, slot);
}

/* No locality (Istio: a proxy without locality or labels gets none). */
static bool caller_is_empty(const struct loc_caller *c)
{
	return !c || ((!c->locality || !c->locality[0]) && c->n_labels == 0);
}

/* Keep the endpoints with weight, in order, with alias columns over their
 * effective weights (backend_val.weight stays the endpoint's own). */
static int rebuild(struct image_set *set, const struct loc_out *out)
{
	__u32 *weights = calloc(set->n_slots + 1, sizeof(*weights)), j, n = 0;

	if (!weights)
		return -ENOMEM;
	for (j = 0; j < set->n_slots; j++) {
		if (!out[j].weight)
			continue;
		set->slots[n] = set->slots[j];
		weights[n++] = out[j].weight;
	}
	set->n_slots = n;
	set->total_weight = n ? bpfmesh_alias_build(set->slots, weights, n) : 0;
	free(weights);
	return n && !set->total_weight ? -ENOMEM : 0;
}

/* Are the effective weights the compiled ones, every endpoint kept? */
static bool unchanged(const struct image_set *set, const struct loc_out *out,
		      const struct loc_result *res)
{
	__u32 j;

	if (!res->as_weights)
		return false;
	for (j = 0; j < set->n_slots; j++)
		if (!out[j].weight)
			return false;
	return true;
}

int plan_locality_weigh(const struct image_set *set, const struct loc_caller *caller,
			const bool *healthy, struct loc_out *out, struct loc_result *res)
{
	struct loc_setting s = set->loc.s;
	struct loc_caller none = { 0 };
	struct loc_ep *eps = calloc(set->n_slots + 1, sizeof(*eps));
	__u32 j;
	int err;

	if (!eps)
		return -ENOMEM;
	/* The panic threshold is the one the kernel reads too. */
	s.min_health_percent = set->cfg.min_health_percent;
	if (caller_is_empty(caller))
		s.mode = LOC_MODE_NONE;
	for (j = 0; j < set->n_slots; j++) {
		const struct image_ep_meta *m = set->meta ? &set->meta[j] : NULL;

		eps[j] = (struct loc_ep){
			.locality = m ? m->locality : NULL,
			.fp_values = m ? (const char *const *)m->fp_values : NULL,
			.weight = set->slots[j].weight ? set->slots[j].weight : 1,
			.healthy = healthy[j],
		};
	}
	err = locality_compute(&s, caller ? caller : &none, eps, set->n_slots, out, res);
	free(eps);
	return err;
}

int plan_locality_set(struct image_set *set, const struct plan_ejected *ej, size_t *left_out)
{
	bool outlier = set->cfg.flags & BPFMESH_CLUSTER_F_OUTLIER, *healthy;
	const struct loc_caller *caller = ej ? ej->caller : NULL;
	struct loc_result res;
	struct loc_out *out;
	__u32 j, ejected = 0;
	int err;

	for (j = 0; outlier && j < set->n_slots; j++)
		ejected += slot_ejected(ej, set->slots[j].slot);
	if (set->n_slots == 0 || ((caller_is_empty(caller) || set->loc.s.mode == LOC_MODE_NONE) &&
				  !ejected))
		return 0;
	healthy = calloc(set->n_slots, sizeof(*healthy));
	out = calloc(set->n_slots, sizeof(*out));
	err = healthy && out ? 0 : -ENOMEM;
	for (j = 0; !err && j < set->n_slots; j++)
		healthy[j] = !(outlier && slot_ejected(ej, set->slots[j].slot));
	if (!err)
		err = plan_locality_weigh(set, caller, healthy, out, &res);
	for (j = 0; !err && j < set->n_slots; j++)
		*left_out += !healthy[j] && !out[j].weight;
	if (!err && !unchanged(set, out, &res))
		err = rebuild(set, out);
	free(healthy);
	free(out);
	return err;
}
