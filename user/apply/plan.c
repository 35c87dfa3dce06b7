// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"

/* Where each image set lives in the kernel once the plan is done. */
struct set_placement {
	__u32 *ids;           /* kernel id of each image set (0: empty set) */
	__u64 *hashes;        /* content hash of each image set */
	unsigned char *fresh; /* written by this plan under a new id */
};

static void placement_free(struct set_placement *sp)
{
	free(sp->ids);
	free(sp->hashes);
	free(sp->fresh);
}

/* Append a step with room for n elements; NULL on ENOMEM. */
struct map_step *plan_add_step(struct apply_plan *p, enum map_step_kind kind, enum apply_map map,
			       size_t key_size, size_t val_size, size_t n)
{
	struct map_step *s = &p->steps[p->n_steps++];

	*s = (struct map_step){ .kind = kind, .map = map, .key_size = key_size,
				.val_size = val_size };
	s->keys = calloc(n + 1, key_size);
	if (kind != STEP_DELETE)
		s->vals = calloc(n + 1, val_size);
	if (!s->keys || (kind != STEP_DELETE && !s->vals))
		return NULL;
	return s;
}

/* Drop a step that turned out to have nothing to do; the later steps move
 * up one place. */
void plan_drop_empty_step(struct apply_plan *p, struct map_step *s)
{
	size_t i = (size_t)(s - p->steps);

	if (s->n)
		return;
	free(s->keys);
	free(s->vals);
	free(s->prev_vals);
	free(s->prev_existed);
	memmove(s, s + 1, (p->n_steps - i - 1) * sizeof(*s));
	p->n_steps--;
}

/* Give each image set a kernel id: an identical live set's, or a fresh one
 * whose slots the first step writes. Fresh ids never name anything in the
 * kernel yet, so undoing that step is deleting them. */
static int plan_sets(const struct apply_state *cur, const struct bpfmesh_image *img,
		     struct set_placement *sp, struct apply_plan *p)
{
	struct apply_counts *c = &p->counts;
	size_t i, total = 0;
	struct map_step *s;
	__u32 j;

	sp->ids = calloc(img->n_sets + 1, sizeof(*sp->ids));
	sp->hashes = calloc(img->n_sets + 1, sizeof(*sp->hashes));
	sp->fresh = calloc(img->n_sets + 1, 1);
	if (!sp->ids || !sp->hashes || !sp->fresh)
		return -ENOMEM;
	p->next.next_set_id = cur->next_set_id;
	for (i = 0; i < img->n_sets; i++) {
		const struct image_set *is = &img->sets[i];
		struct live_set *old;

		c->endpoints += is->n_slots;
		if (is->n_slots == 0)
			continue; /* nothing to write: the kernel refuses at once */
		sp->hashes[i] = set_hash(is->slots, is->n_slots, is->total_weight);
		old = find_set(cur->sets, cur->n_sets, is, sp->hashes[i]);
		if (old) {
			sp->ids[i] = old->id;
			c->sets_reused++;
			continue;
		}
		sp->ids[i] = p->next.next_set_id++;
		if (p->next.next_set_id == 0)
			p->next.next_set_id = 1;
		sp->fresh[i] = 1;
		c->set_writes++;
		total += is->n_slots;
	}
	s = plan_add_step(p, STEP_WRITE, APPLY_MAP_BACKENDS, sizeof(struct backend_key),
		     sizeof(struct backend_val), total);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		struct backend_key *keys = s->keys;
		struct backend_val *vals = s->vals;

		for (j = 0; sp->fresh[i] && j < img->sets[i].n_slots; j++, s->n++) {
			keys[s->n] = (struct backend_key){ .set_id = sp->ids[i], .slot = j };
			vals[s->n] = img->sets[i].slots[j];
		}
	}
	plan_drop_empty_step(p, s);
	return 0;
}

/* Kernel name ids of the image's names (kid[local id - 1]): the id the
 * name already has in the map, else the lowest id no name in the map holds
 * (kept until the stale ones are deleted, so none is given twice). Ids are
 * the applier's, not hashes: no two names can share one. */
struct name_ids {
	__u32 *kid;           /* per image name */
	unsigned char *fresh; /* per image name: not in the map yet */
};

static void name_ids_free(struct name_ids *ni)
{
	free(ni->kid);
	free(ni->fresh);
}

static __u32 kernel_name_id(const struct name_ids *ni, const struct bpfmesh_image *img,
			    __u32 local)
{
	return local && local <= img->n_names ? ni->kid[local - 1] : 0;
}

static int plan_name_ids(const struct apply_state *cur, const struct bpfmesh_image *img,
			 struct name_ids *ni, struct apply_plan *p)
{
	__u32 *used = calloc(cur->n_names + 1, sizeof(*used)), next_id = 1;
	size_t i;

	ni->kid = calloc(img->n_names + 1, sizeof(*ni->kid));
	ni->fresh = calloc(img->n_names + 1, 1);
	/* Room for the names of retired clusters too (plan_retired_names). */
	p->next.names = calloc(img->n_names + cur->n_names + 1, sizeof(*p->next.names));
	if (!used || !ni->kid || !ni->fresh || !p->next.names) {
		free(used);
		return -ENOMEM;
	}
	for (i = 0; i < cur->n_names; i++)
		used[i] = cur->names[i].id;
	qsort(used, cur->n_names, sizeof(*used), cmp_u32);
	for (i = 0; i < img->n_names; i++) {
		struct live_name *ln = &p->next.names[i], *old;

		*ln = (struct live_name){ .kind = img->names[i].val.kind };
		memcpy(ln->name, img->names[i].val.name, BPFMESH_NAME_LEN);
		old = cur->n_names ? bsearch(ln, cur->names, cur->n_names, sizeof(*ln),
					     cmp_live_name) : NULL;
		if (!old) {
			while (has_u32(used, cur->n_names, next_id))
				next_id++;
			ni->fresh[i] = 1;
		}
		ln->id = ni->kid[i] = old ? old->id : next_id++;
	}
	free(used);
	p->next.n_names = img->n_names;
	qsort(p->next.names, p->next.n_names, sizeof(*p->next.names), cmp_live_name);
	return 0;
}

/* Names the map lacks are written before the switch, so the CLI can label
 * what the new version names. */
static int plan_new_names(const struct bpfmesh_image *img, const struct name_ids *ni,
			  struct apply_plan *p)
{
	struct map_step *s = plan_add_step(p, STEP_WRITE, APPLY_MAP_NAMES, sizeof(__u32),
					   sizeof(struct name_val), img->n_names);
	size_t i;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < img->n_names; i++) {
		if (!ni->fresh[i])
			continue;
		((__u32 *)s->keys)[s->n] = ni->kid[i];
		((struct name_val *)s->vals)[s->n++] = img->names[i].val;
	}
	plan_drop_empty_step(p, s);
	return 0;
}

/* A cluster slot that is retired, not reused, keeps its counters and its
 * config, whose name_id names it: its name stays in the map, under the same
 * id, until the slot passes to another cluster (plan_health) or the health
 * maps are gone, so that stats and /metrics still label its series. Runs
 * after plan_health, which decides which slots stay retired. */
static int plan_retired_names(const struct apply_state *cur, struct apply_plan *p)
{
	const struct apply_slots *sl = &p->next.slots;
	struct apply_state *next = &p->next;
	size_t i, n_img = next->n_names, n = 0;
	__u32 *ids = calloc((size_t)sl->max_clusters + 1, sizeof(*ids)), slot;

	if (!ids)
		return -ENOMEM;
	for (slot = 1; slot < sl->max_clusters; slot++)
		if (!sl->cls[slot].live && sl->cls[slot].cfg.name_id)
			ids[n++] = sl->cls[slot].cfg.name_id;
	qsort(ids, n, sizeof(*ids), cmp_u32);
	for (i = 0; i < cur->n_names; i++) {
		const struct live_name *old = &cur->names[i];

		/* A name the image still has keeps its id already. */
		if (has_u32(ids, n, old->id) &&
		    !(n_img && bsearch(old, next->names, n_img, sizeof(*old), cmp_live_name)))
			next->names[next->n_names++] = *old;
	}
	free(ids);
	qsort(next->names, next->n_names, sizeof(*next->names), cmp_live_name);
	return 0;
}

/* Names the next state no longer holds go last, after the switch: until
 * then the version in force may still name them. */
static int plan_stale_names(const struct apply_state *cur, struct apply_plan *p)
{
	struct map_step *s = plan_add_step(p, STEP_DELETE, APPLY_MAP_NAMES, sizeof(__u32),
					   sizeof(struct name_val), cur->n_names);
	size_t i, n_kept = p->next.n_names;
	__u32 *kept = calloc(n_kept + 1, sizeof(*kept));

	if (!s || !kept) {
		free(kept);
		return -ENOMEM;
	}
	for (i = 0; i < n_kept; i++)
		kept[i] = p->next.names[i].id;
	qsort(kept, n_kept, sizeof(*kept), cmp_u32);
	for (i = 0; i < cur->n_names; i++)
		if (!has_u32(kept, n_kept, cur->names[i].id))
			((__u32 *)s->keys)[s->n++] = cur->names[i].id;
	free(kept);
	plan_drop_empty_step(p, s);
	return 0;
}

/* Two values route identically when all but the generation match. */
int svc_val_same(const struct svc_val *a, const struct svc_val *b)
{
	struct svc_val x = *a, y = *b;

	x.generation = y.generation = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/* Where each set of img went, for an incremental plan over it next. */
static int plan_placement(const struct bpfmesh_image *img, const struct set_placement *sp,
			  const __u32 *cluster_slots, struct apply_plan *p)
{
	size_t i;

	p->next.placement = calloc(img->n_sets + 1, sizeof(*p->next.placement));
	if (!p->next.placement)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++)
		p->next.placement[i] = (struct set_place){
			.set_id = sp->ids[i], .n_slots = img->sets[i].n_slots,
			.set_weight = img->sets[i].total_weight,
			.cluster_slot = cluster_slots[i],
			.name_id = img->sets[i].cfg.name_id }; /* kernel id (copy_sets) */
	p->next.n_placement = img->n_sets;
	p->next.n_endpoints = p->counts.endpoints;
	return 0;
}

/* The next version's services: each value with kernel ids. A service
 * whose decision did not change keeps its route (and generation); the
 * others get a fresh route in plan_routes, which writes and publishes it. */
static int plan_services(const struct apply_state *cur, const struct bpfmesh_image *img,
			 const struct set_placement *sp, const __u32 *cluster_slots,
			 const struct name_ids *ni, struct apply_plan *p)
{
	__u32 gen = cur->generation + 1;
	size_t i, d;
	int err;

	p->next.svcs = calloc(img->n_services + 1, sizeof(*p->next.svcs));
	if (!p->next.svcs)
		return -ENOMEM;
	for (i = 0; i < img->n_services; i++) {
		struct live_service *nv = &p->next.svcs[i];
		const struct live_service *old;

		nv->key = img->services[i].key;
		nv->val = img->services[i].val;
		nv->val.service_id = kernel_name_id(ni, img, nv->val.service_id);
		for (d = 0; d < nv->val.n_dests && d < BPFMESH_MAX_DESTS; d++) {
			struct svc_dest *sd = &nv->val.dests[d];
			const struct image_set *set = &img->sets[sd->set_id];

			/* Sizes of the set as written (ejected endpoints left out). */
			sd->n_slots = set->n_slots;
			sd->set_weight = set->total_weight;
			sd->cluster_slot = cluster_slots[sd->set_id];
			sd->subset_id = kernel_name_id(ni, img, sd->subset_id);
			sd->set_id = sp->ids[sd->set_id];
		}
		old = find_svc(cur->svcs, cur->n_svcs, &nv->key);
		if (old && old->route_id && svc_val_same(&old->val, &nv->val)) {
			nv->val.generation = old->val.generation;
			nv->index = old->index;
			nv->route_id = old->route_id;
			continue;
		}
		nv->val.generation = gen; /* route_id 0: plan_routes gives one */
	}
	p->next.n_svcs = img->n_services;
	p->counts.services = img->n_services;
	err = plan_placement(img, sp, cluster_slots, p);
	if (!err)
		err = plan_routes(cur, p);
	/* A no-op apply is not a new version. */
	p->next.generation = p->counts.svc_writes ? gen : cur->generation;
	return err;
}

/* The sets the new version names, with their content for the next plan. */
static int plan_live_sets(const struct bpfmesh_image *img, const struct set_placement *sp,
			  struct apply_state *next)
{
	size_t i;

	next->sets = calloc(img->n_sets + 1, sizeof(*next->sets));
	if (!next->sets)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		const struct image_set *s = &img->sets[i];
		size_t bytes = (size_t)s->n_slots * sizeof(*s->slots);
		struct live_set *ls = &next->sets[next->n_sets];

		if (s->n_slots == 0)
			continue;
		*ls = (struct live_set){ .hash = sp->hashes[i], .id = sp->ids[i],
					 .n_slots = s->n_slots, .total_weight = s->total_weight,
					 .table_kind = s->table_kind, .table_len = s->table_len };
		ls->slots = malloc(bytes);
		if (!ls->slots)
			return -ENOMEM;
		memcpy(ls->slots, s->slots, bytes);
		next->n_sets++;
	}
	qsort(next->sets, next->n_sets, sizeof(*next->sets), cmp_set_hash);
	return 0;
}

/* Sets the new version no longer names join the retired ones; they are
 * deleted after the grace period (applier_sweep). Planned here, with its
 * memory, so that committing a plan cannot fail. */
static int plan_retire(const struct apply_state *cur, __u64 now_ms, struct apply_state *next)
{
	size_t i;

	next->retired = calloc(cur->n_retired + cur->n_sets + 1, sizeof(*next->retired));
	if (!next->retired)
		return -ENOMEM;
	for (i = 0; i < cur->n_retired; i++)
		next->retired[next->n_retired++] = cur->retired[i];
	for (i = 0; i < cur->n_sets; i++) {
		const struct live_set *old = &cur->sets[i];
		struct image_set probe = { .n_slots = old->n_slots,
					   .total_weight = old->total_weight,
					   .table_kind = old->table_kind,
					   .table_len = old->table_len,
					   .slots = old->slots };
		const struct live_set *kept = find_set(next->sets, next->n_sets, &probe, old->hash);

		if (!kept || kept->id != old->id)
			next->retired[next->n_retired++] = (struct retired_set){
				.id = old->id, .n_slots = old->n_slots, .since_ms = now_ms };
	}
	return 0;
}

/* The steps before the first that makes anything reachable (a key of the
 * services map, a publish, a delete): slots, configs, sets, tables, names,
 * fresh routes and the heads of new services' fresh indexes, which nothing
 * published names yet (or, for configs, only their own slot does). */
static size_t unordered_prefix(const struct apply_plan *p)
{
	size_t n = 0;

	while (n < p->n_steps && p->steps[n].kind == STEP_WRITE &&
	       p->steps[n].map != APPLY_MAP_SERVICES)
		n++;
	return n;
}

static int check_sorted(const struct bpfmesh_image *img)
{
	size_t i;

	for (i = 1; i < img->n_services; i++)
		if (cmp_svc_key(&img->services[i - 1].key, &img->services[i].key) >= 0)
			return -EINVAL; /* the compiler guarantees sorted, unique keys */
	return 0;
}

/* The image's sets, copied so that the plan can fill in slots and kernel
 * name ids and leave ejected endpoints out. */
static int copy_sets(const struct bpfmesh_image *img, const struct name_ids *ni,
		     struct image_set **out)
{
	struct image_set *sets = calloc(img->n_sets + 1, sizeof(*sets));
	size_t i, bytes;

	*out = sets;
	if (!sets)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		sets[i] = img->sets[i];
		sets[i].cfg.name_id = kernel_name_id(ni, img, img->sets[i].cfg.name_id);
		bytes = (size_t)img->sets[i].n_slots * sizeof(struct backend_val);
		sets[i].slots = malloc(bytes + 1);
		if (!sets[i].slots)
			return -ENOMEM;
		if (bytes) /* an empty set may have no array */
			memcpy(sets[i].slots, img->sets[i].slots, bytes);
	}
	return 0;
}

static void sets_free(struct image_set *sets, size_t n)
{
	size_t i;

	for (i = 0; sets && i < n; i++)
		free(sets[i].slots);
	free(sets);
}

int apply_plan_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		     __u64 now_ms, const struct plan_ejected *ejected, struct apply_plan *p)
{
	struct set_placement sp = {};
	struct bpfmesh_image w = *img; /* img with the sets as they are written */
	struct name_ids ni = {};
	struct image_set *sets = NULL;
	__u32 *cluster_slots = NULL;
	char error[sizeof(p->error)];
	size_t i;
	int err;

	memset(p, 0, sizeof(*p));
	err = plan_incr_build(cur, img, now_ms, ejected, p);
	if (err <= 0)
		return err;
	err = check_sorted(img);
	if (!err)
		err = plan_name_ids(cur, img, &ni, p);
	if (!err)
		err = copy_sets(img, &ni, &sets);
	w.sets = sets;
	if (!err)
		err = plan_health(cur, &w, now_ms, ejected, p, &cluster_slots);
	for (i = 0; !err && i < w.n_sets; i++)
		err = plan_locality_set(&w.sets[i], ejected, &p->counts.ejected_out);
	if (!err)
		err = plan_lb_tables_spec(cur, &w);
	if (!err)
		err = plan_connpool(&w, cluster_slots, p);
	if (!err)
		err = plan_retired_names(cur, p);
	if (!err)
		err = plan_sets(cur, &w, &sp, p);
	if (!err)
		err = plan_lbpolicy(cur, &w, sp.ids, sp.fresh, cluster_slots, p);
	if (!err)
		err = plan_new_names(&w, &ni, p);
	if (!err)
		err = plan_services(cur, &w, &sp, cluster_slots, &ni, p);
	if (!err)
		err = plan_stale_names(cur, p);
	if (!err)
		err = plan_live_sets(&w, &sp, &p->next);
	if (!err)
		err = plan_retire(cur, now_ms, &p->next);
	p->n_unordered = unordered_prefix(p);
	p->next.img_token = img->services;
	placement_free(&sp);
	name_ids_free(&ni);
	sets_free(sets, img->n_sets);
	free(cluster_slots);
	if (err) {
		memcpy(error, p->error, sizeof(error));
		apply_plan_free(p);
		memcpy(p->error, error, sizeof(error));
	}
	return err;
}

void apply_plan_free(struct apply_plan *p)
{
	size_t i;

	for (i = 0; i < p->n_steps; i++) {
		free(p->steps[i].keys);
		free(p->steps[i].vals);
		free(p->steps[i].prev_vals);
		free(p->steps[i].prev_existed);
	}
	free(p->ic.pos);
	free(p->ic.svcs);
	free(p->ic.retired_routes);
	free(p->ic.placement);
	free(p->ic.ep_slot);
	free(p->ic.ep_val);
	free(p->ic.cl_slot);
	free(p->ic.cl_val);
	for (i = 0; i < p->ic.n_added; i++)
		free(p->ic.added[i].slots);
	free(p->ic.added);
	free(p->ic.removed);
	free(p->ic.sets_buf);
	free(p->ic.retired);
	apply_state_free(&p->next);
	memset(p, 0, sizeof(*p));
}
