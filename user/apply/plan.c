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
	if (kind == STEP_WRITE)
		s->vals = calloc(n + 1, val_size);
	if (!s->keys || (kind == STEP_WRITE && !s->vals))
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

/* Names the map lacks are written before the switch, so the CLI can label
 * what the new version names; the image's ids become the state's. */
static int plan_new_names(const struct apply_state *cur, const struct bpfmesh_image *img,
			  struct apply_plan *p)
{
	struct map_step *s = plan_add_step(p, STEP_WRITE, APPLY_MAP_NAMES, sizeof(__u32),
				      sizeof(struct name_val), img->n_names);
	size_t i;

	p->next.names = calloc(img->n_names + 1, sizeof(*p->next.names));
	if (!s || !p->next.names)
		return -ENOMEM;
	/* An id is a hash of its name, and the compiler rejects collisions: a
	 * name already in the map is already right. */
	for (i = 0; i < img->n_names; i++) {
		__u32 id = img->names[i].id;

		p->next.names[i] = id;
		if (has_u32(cur->names, cur->n_names, id))
			continue;
		((__u32 *)s->keys)[s->n] = id;
		((struct name_val *)s->vals)[s->n++] = img->names[i].val;
	}
	p->next.n_names = img->n_names;
	qsort(p->next.names, p->next.n_names, sizeof(*p->next.names), cmp_u32);
	plan_drop_empty_step(p, s);
	return 0;
}

/* Names no longer used go last, after the switch: until then the version
 * in force may still name them. */
static int plan_stale_names(const struct apply_state *cur, struct apply_plan *p)
{
	struct map_step *s = plan_add_step(p, STEP_DELETE, APPLY_MAP_NAMES, sizeof(__u32),
				      sizeof(struct name_val), cur->n_names);
	size_t i;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < cur->n_names; i++)
		if (!has_u32(p->next.names, p->next.n_names, cur->names[i]))
			((__u32 *)s->keys)[s->n++] = cur->names[i];
	plan_drop_empty_step(p, s);
	return 0;
}

/* Two values route identically when all but the generation match. */
static int svc_val_same(const struct svc_val *a, const struct svc_val *b)
{
	struct svc_val x = *a, y = *b;

	x.generation = y.generation = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

/* The switch: every service whose decision changed gets its new value, one
 * map update each (the kernel replaces an element atomically); then the
 * services that are gone are deleted. */
static int plan_services(const struct apply_state *cur, const struct bpfmesh_image *img,
			 const struct set_placement *sp, const __u32 *cluster_slots,
			 struct apply_plan *p)
{
	__u32 gen = cur->generation + 1;
	struct map_step *w, *del;
	size_t i, d;

	p->next.svcs = calloc(img->n_services + 1, sizeof(*p->next.svcs));
	w = plan_add_step(p, STEP_WRITE, APPLY_MAP_SERVICES, sizeof(struct svc_key),
		     sizeof(struct svc_val), img->n_services);
	if (!p->next.svcs || !w)
		return -ENOMEM;
	w->prev_vals = calloc(img->n_services + 1, sizeof(struct svc_val));
	w->prev_existed = calloc(img->n_services + 1, 1);
	if (!w->prev_vals || !w->prev_existed)
		return -ENOMEM;
	for (i = 0; i < img->n_services; i++) {
		struct live_service *nv = &p->next.svcs[i];
		const struct live_service *old;

		nv->key = img->services[i].key;
		nv->val = img->services[i].val;
		for (d = 0; d < nv->val.n_dests && d < BPFMESH_MAX_DESTS; d++) {
			struct svc_dest *sd = &nv->val.dests[d];
			const struct image_set *set = &img->sets[sd->set_id];

			/* Sizes of the set as written (ejected endpoints left out). */
			sd->n_slots = set->n_slots;
			sd->set_weight = set->total_weight;
			sd->cluster_slot = cluster_slots[sd->set_id];
			sd->set_id = sp->ids[sd->set_id];
		}
		old = find_svc(cur->svcs, cur->n_svcs, &nv->key);
		if (old && svc_val_same(&old->val, &nv->val)) {
			nv->val.generation = old->val.generation;
			continue;
		}
		nv->val.generation = gen;
		if (old)
			((struct svc_val *)w->prev_vals)[w->n] = old->val;
		w->prev_existed[w->n] = old != NULL;
		((struct svc_key *)w->keys)[w->n] = nv->key;
		((struct svc_val *)w->vals)[w->n++] = nv->val;
	}
	p->next.n_svcs = img->n_services;
	p->counts.services = img->n_services;
	p->counts.svc_writes = w->n;
	plan_drop_empty_step(p, w);

	del = plan_add_step(p, STEP_DELETE, APPLY_MAP_SERVICES, sizeof(struct svc_key),
		       sizeof(struct svc_val), cur->n_svcs);
	if (!del)
		return -ENOMEM;
	for (i = 0; i < cur->n_svcs; i++)
		if (!find_svc(p->next.svcs, p->next.n_svcs, &cur->svcs[i].key))
			((struct svc_key *)del->keys)[del->n++] = cur->svcs[i].key;
	p->counts.svc_writes += del->n;
	plan_drop_empty_step(p, del);
	/* A no-op apply is not a new version. */
	p->next.generation = p->counts.svc_writes ? gen : cur->generation;
	return 0;
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
					 .n_slots = s->n_slots, .total_weight = s->total_weight };
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
					   .slots = old->slots };
		const struct live_set *kept = find_set(next->sets, next->n_sets, &probe, old->hash);

		if (!kept || kept->id != old->id)
			next->retired[next->n_retired++] = (struct retired_set){
				.id = old->id, .n_slots = old->n_slots, .since_ms = now_ms };
	}
	return 0;
}

static int check_sorted(const struct bpfmesh_image *img)
{
	size_t i;

	for (i = 1; i < img->n_services; i++)
		if (cmp_svc_key(&img->services[i - 1].key, &img->services[i].key) >= 0)
			return -EINVAL; /* the compiler guarantees sorted, unique keys */
	return 0;
}

int apply_plan_build(const struct apply_state *cur, const struct bpfmesh_image *img,
		     __u64 now_ms, const struct plan_ejected *ejected, struct apply_plan *p)
{
	struct set_placement sp = {};
	struct bpfmesh_image w = *img; /* img with the sets as they are written */
	struct image_set *sets = NULL;
	__u32 *cluster_slots = NULL;
	char error[sizeof(p->error)];
	int err;

	memset(p, 0, sizeof(*p));
	err = check_sorted(img);
	if (!err)
		err = plan_health(cur, img, now_ms, ejected, p, &sets, &cluster_slots);
	w.sets = sets;
	if (!err)
		err = plan_sets(cur, &w, &sp, p);
	if (!err)
		err = plan_new_names(cur, &w, p);
	if (!err)
		err = plan_services(cur, &w, &sp, cluster_slots, p);
	if (!err)
		err = plan_stale_names(cur, p);
	if (!err)
		err = plan_live_sets(&w, &sp, &p->next);
	if (!err)
		err = plan_retire(cur, now_ms, &p->next);
	placement_free(&sp);
	plan_sets_free(sets, img->n_sets);
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
	apply_state_free(&p->next);
	memset(p, 0, sizeof(*p));
}
