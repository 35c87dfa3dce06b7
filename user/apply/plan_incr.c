// SPDX-License-Identifier: Apache-2.0
/*
 * The plan of an incremental image (issue 12): only the services that came
 * from the recompiled hosts are looked at, in O(changed) map lookups and
 * one pass over the sets' placements; nothing else of the state is copied,
 * sorted or compared.
 *
 * It applies when all of these hold, else the full plan runs (plan.c) and
 * says why in p->full_why:
 *   - the image was spliced over the image this state was planned from
 *     (image_delta.base_token), so every service and set not recompiled is
 *     in the kernel as the image has it;
 *   - no ejection or return, and no change of this node's locality, since
 *     that plan (sets would be written again);
 *   - every set is one of that image's, with the same content, and no name
 *     appeared or went (image_delta.sets_same): then sets, names, slots,
 *     cluster configs, pools, loadBalancer policies and tables are what
 *     the full plan would leave as they are, and the sets keep their
 *     kernel ids, so only routes can differ;
 *   - the same service keys, each recompiled service under its old name.
 * What it writes is then exactly what the full plan writes: a fresh route
 * for each service whose value changed, published by one word, the old
 * route retired (test_plan_incr.c compares the two after random edits).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"

/* The kernel id the state gives name, or 0. */
static __u32 name_kernel_id(const struct apply_state *cur, const struct bpfmesh_image *img,
			    __u32 local)
{
	struct live_name key = {}, *n;

	if (!local || local > img->n_names || !cur->n_names)
		return 0;
	memcpy(key.name, img->names[local - 1].val.name, BPFMESH_NAME_LEN);
	n = bsearch(&key, cur->names, cur->n_names, sizeof(key), cmp_live_name);
	return n ? n->id : 0;
}

static const char *incr_refusal(const struct apply_state *cur, const struct bpfmesh_image *img,
				const struct plan_ejected *ej)
{
	const struct image_delta *d = img->delta;

	if (!d)
		return "compiled in full";
	if (!cur->img_token || d->base_token != cur->img_token || !cur->placement ||
	    cur->n_placement != d->base_n_sets || cur->n_svcs != d->base_n_services)
		return "not spliced over the image in force";
	if (ej && ej->changed)
		return "ejections or the node's locality changed";
	if (!d->clusters_same || img->n_sets != cur->n_placement)
		return "clusters or names changed";
	if (img->n_services != cur->n_svcs)
		return "services added or removed";
	if (!cur->route_ids_below_next || cur->next_route_id > UINT32_MAX - d->n_changed - 1)
		return "route ids wrapped";
	return NULL;
}

/* The sets' kernel placement, renumbered for img (its set i is the base's
 * set base_cluster[i]; plan_incr_sets places those whose content changed). */
static int incr_placement(const struct apply_state *cur, const struct bpfmesh_image *img,
			  struct plan_incr_commit *ic)
{
	const long *from = img->delta->base_cluster;
	size_t i;

	ic->placement = malloc((img->n_sets + 1) * sizeof(*ic->placement));
	if (!ic->placement)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++)
		ic->placement[i] = cur->placement[from[i]];
	ic->n_placement = img->n_sets;
	return 0;
}

/* The new value of recompiled service s, with kernel ids; NULL reason on
 * success, else why it cannot be planned alone. */
static const char *incr_value(const struct apply_state *cur, const struct bpfmesh_image *img,
			      const struct set_place *pl, const struct image_service *s,
			      const struct live_service *old, struct live_service *nv)
{
	__u16 d;

	nv->key = s->key;
	nv->val = s->val;
	nv->val.service_id = name_kernel_id(cur, img, s->val.service_id);
	if (!nv->val.service_id || nv->val.service_id != old->val.service_id)
		return "a service changed its name";
	for (d = 0; d < nv->val.n_dests && d < BPFMESH_MAX_DESTS; d++) {
		struct svc_dest *sd = &nv->val.dests[d];
		const struct set_place *p = &pl[sd->set_id];

		sd->n_slots = p->n_slots;
		sd->set_weight = p->set_weight;
		sd->cluster_slot = p->cluster_slot;
		sd->subset_id = p->name_id;
		sd->set_id = p->set_id;
	}
	return NULL;
}

/* The route steps: each changed value under a fresh route id, then its
 * head switched to it (plan_routes.c's steps 1 and 4). */
static int incr_routes(const struct apply_state *cur, struct apply_plan *p, size_t n_new)
{
	struct plan_incr_commit *ic = &p->ic;
	struct map_step *routes, *publish;
	size_t k;

	routes = plan_add_step(p, STEP_WRITE, APPLY_MAP_ROUTES, sizeof(__u32),
			       sizeof(struct svc_val), n_new);
	publish = routes ? plan_add_step(p, STEP_PUBLISH, APPLY_MAP_SVC_HEADS, sizeof(__u32),
					 sizeof(struct svc_head), n_new) : NULL;
	if (publish)
		publish->prev_vals = calloc(n_new + 1, sizeof(struct svc_head));
	ic->retired_routes = calloc(cur->n_retired_routes + n_new + 1, sizeof(__u32));
	if (!publish || !publish->prev_vals || !ic->retired_routes)
		return -ENOMEM;
	if (cur->n_retired_routes)
		memcpy(ic->retired_routes, cur->retired_routes,
		       cur->n_retired_routes * sizeof(__u32));
	ic->n_retired_routes = cur->n_retired_routes;
	for (k = 0; k < ic->n; k++) {
		struct live_service *nv = &ic->svcs[k];
		const struct live_service *old = &cur->svcs[ic->pos[k]];
		size_t r;

		if (nv->route_id)
			continue; /* unchanged: keeps its route */
		nv->route_id = fresh_route_id(NULL, 0, &p->next.next_route_id);
		r = routes->n++;
		((__u32 *)routes->keys)[r] = nv->route_id;
		((struct svc_val *)routes->vals)[r] = nv->val;
		r = publish->n++;
		((__u32 *)publish->keys)[r] = nv->index;
		((struct svc_head *)publish->vals)[r].route_id = nv->route_id;
		((struct svc_head *)publish->prev_vals)[r].route_id = old->route_id;
		if (old->route_id)
			ic->retired_routes[ic->n_retired_routes++] = old->route_id;
	}
	p->counts.svc_writes = routes->n;
	plan_drop_empty_step(p, publish);
	plan_drop_empty_step(p, routes);
	return 0;
}

/* The recompiled services' new values; *n_new: how many need a route. */
static int incr_services(const struct apply_state *cur, const struct bpfmesh_image *img,
			 struct apply_plan *p, size_t *n_new)
{
	const struct image_delta *d = img->delta;
	struct plan_incr_commit *ic = &p->ic;
	__u32 gen = cur->generation + 1;
	size_t k;

	ic->pos = calloc(d->n_changed + 1, sizeof(*ic->pos));
	ic->svcs = calloc(d->n_changed + 1, sizeof(*ic->svcs));
	if (!ic->pos || !ic->svcs)
		return -ENOMEM;
	*n_new = 0;
	for (k = 0; k < d->n_changed; k++) {
		const struct image_service *s = &img->services[d->changed[k]];
		const struct live_service *old = find_svc(cur->svcs, cur->n_svcs, &s->key);
		struct live_service *nv = &ic->svcs[ic->n];

		if (!old || !old->route_id) {
			p->full_why = "a service key is new";
			return 1;
		}
		p->full_why = incr_value(cur, img, ic->placement, s, old, nv);
		if (p->full_why)
			return 1;
		nv->index = old->index;
		if (svc_val_same(&old->val, &nv->val)) {
			nv->val.generation = old->val.generation;
			nv->route_id = old->route_id;
		} else {
			nv->val.generation = gen;
			(*n_new)++;
		}
		ic->pos[ic->n++] = (size_t)(old - cur->svcs);
	}
	return 0;
}

int plan_incr_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		    __u64 now_ms, const struct plan_ejected *ejected, struct apply_plan *p)
{
	size_t n_new = 0;
	int err;

	p->full_why = incr_refusal(cur, img, ejected);
	if (p->full_why)
		return 1;
	p->next.next_route_id = cur->next_route_id;
	err = incr_placement(cur, img, &p->ic);
	if (!err)
		err = plan_incr_sets(cur, img, ejected, now_ms, p);
	if (!err)
		err = incr_services(cur, img, p, &n_new);
	if (!err)
		err = check_route_room(cur, p, img->n_services, n_new);
	if (!err)
		err = incr_routes(cur, p, n_new);
	if (err) {
		const char *why = p->full_why;
		char error[sizeof(p->error)];

		memcpy(error, p->error, sizeof(error));
		apply_plan_free(p);
		memcpy(p->error, error, sizeof(error));
		p->full_why = err > 0 ? why : NULL;
		return err;
	}
	p->incremental = true;
	p->next.generation = p->counts.svc_writes ? cur->generation + 1 : cur->generation;
	p->next.img_token = img->services;
	p->counts.services = img->n_services;
	p->counts.endpoints = p->next.n_endpoints;
	p->counts.sets_reused = cur->n_sets - p->ic.n_removed;
	return 0;
}

/* The live sets, the removed ones left out (their slots freed) and the
 * added ones merged in, by hash as plan_live_sets sorts them. */
static void commit_sets(struct apply_state *s, struct plan_incr_commit *ic)
{
	size_t i, a = 0, r = 0, n = 0;

	for (i = 0; i < s->n_sets; i++) {
		if (r < ic->n_removed && ic->removed[r] == i) {
			free(s->sets[i].slots);
			r++;
			continue;
		}
		while (a < ic->n_added && ic->added[a].hash < s->sets[i].hash)
			ic->sets_buf[n++] = ic->added[a++];
		ic->sets_buf[n++] = s->sets[i];
	}
	while (a < ic->n_added)
		ic->sets_buf[n++] = ic->added[a++];
	free(s->sets);
	s->sets = ic->sets_buf;
	s->n_sets = n;
	ic->sets_buf = NULL;
	ic->n_added = 0; /* their slots belong to the state now */
	free(s->retired);
	s->retired = ic->retired;
	s->n_retired = ic->n_retired;
	ic->retired = NULL;
}

void plan_incr_commit(struct apply_state *s, struct apply_plan *p)
{
	struct plan_incr_commit *ic = &p->ic;
	size_t k;

	for (k = 0; k < ic->n; k++)
		s->svcs[ic->pos[k]] = ic->svcs[k];
	for (k = 0; k < ic->n_eps; k++)
		s->slots.eps[ic->ep_slot[k]] = ic->ep_val[k];
	for (k = 0; k < ic->n_cls; k++)
		s->slots.cls[ic->cl_slot[k]] = ic->cl_val[k];
	if (ic->sets_buf)
		commit_sets(s, ic);
	if (p->next.lb_policies) {
		free(s->lb_policies);
		s->lb_policies = p->next.lb_policies;
		p->next.lb_policies = NULL;
	}
	s->next_set_id = p->next.next_set_id;
	s->n_endpoints = p->next.n_endpoints;
	free(s->retired_routes);
	s->retired_routes = ic->retired_routes;
	s->n_retired_routes = ic->n_retired_routes;
	ic->retired_routes = NULL;
	free(s->placement);
	s->placement = ic->placement;
	s->n_placement = ic->n_placement;
	ic->placement = NULL;
	s->generation = p->next.generation;
	s->next_route_id = p->next.next_route_id;
	s->img_token = p->next.img_token;
}
