// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "apply.h"
#include "exec.h"
#include "src_slots.h"

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static double elapsed_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* 0 when every slot is gone (or was never there). */
static int delete_set_slots(struct applier *a, __u32 id, __u32 n_slots)
{
	struct backend_key key = { .set_id = id };
	int err, first = 0;

	for (key.slot = 0; key.slot < n_slots; key.slot++) {
		err = a->ops->delete(a->fds[APPLY_MAP_BACKENDS], &key);
		if (err && err != -ENOENT && !first)
			first = err;
	}
	return first;
}

/* Route ids deleted after the grace period; one the kernel keeps stays. */
static void delete_retired_routes(struct applier *a)
{
	struct apply_state *s = &a->state;
	size_t i, kept = 0;
	int err;

	for (i = 0; i < s->n_retired_routes; i++) {
		err = a->ops->delete(a->fds[APPLY_MAP_ROUTES], &s->retired_routes[i]);
		if (err && err != -ENOENT)
			s->retired_routes[kept++] = s->retired_routes[i];
	}
	s->n_retired_routes = kept;
}

static bool set_due(const struct retired_set *r, __u64 now, bool force)
{
	/* since_ms > now: retired after a sweep ticket's time (never due then) */
	return force || (r->since_ms <= now && now - r->since_ms >= APPLY_GRACE_MS);
}

/* Delete the lookup table of set id, if it has one (its header says how
 * long): 0 when it is gone. Read from the kernel, so the tables of sets an
 * earlier agent left are found too. */
static int delete_set_table(struct applier *a, __u32 id)
{
	struct lbtab_key key = { .set_id = id, .idx = BPFMESH_LB_TABLE_HDR };
	int fd = a->fds[APPLY_MAP_LB_TABLES], err, first = 0;
	struct lbtab_val hdr;
	__u32 len;

	if (!a->state.lb_on || a->ops->lookup(fd, &key, &hdr))
		return 0;
	for (len = hdr.slot, key.idx = 0; key.idx < len; key.idx++) {
		err = a->ops->delete(fd, &key);
		if (err && err != -ENOENT && !first)
			first = err;
	}
	key.idx = BPFMESH_LB_TABLE_HDR; /* last: while it stays, a retry finds the rest */
	err = first ? first : a->ops->delete(fd, &key);
	return err == -ENOENT ? 0 : err;
}

/* Only a deleted hash element can be reused by an insert while a program
 * still reads it: the keys of removed services (their indexes wait in
 * retired_indexes) and what a rollback or an earlier agent deleted
 * (wait_pending). Retired routes and sets are still in their maps, and
 * fresh route and set ids never take theirs, so an apply need not wait for
 * them: the agent sweeps them when it is idle (agent.c), off the path from
 * an event to the map. The names map is read by no program. */
bool applier_must_wait(const struct applier *a)
{
	return a->wait_pending || a->state.n_retired_indexes;
}

static bool any_set_due(const struct apply_state *s, __u64 now, bool force)
{
	size_t i;

	for (i = 0; i < s->n_retired; i++)
		if (set_due(&s->retired[i], now, force))
			return true;
	return false;
}

/* Delete the sets due at now; the others (and those the kernel keeps)
 * stay retired. */
static void delete_due_sets(struct applier *a, __u64 now, bool force)
{
	struct apply_state *s = &a->state;
	size_t i, kept = 0;

	for (i = 0; i < s->n_retired; i++) {
		struct retired_set *r = &s->retired[i];

		if (set_due(r, now, force) && delete_set_table(a, r->id) == 0 &&
		    delete_set_slots(a, r->id, r->n_slots) == 0)
			continue;
		s->retired[kept++] = *r;
	}
	s->n_retired = kept;
}

int applier_sweep(struct applier *a, bool force)
{
	struct apply_state *s = &a->state;
	__u64 now = now_ms();
	int err;

	if (!any_set_due(s, now, force) && !s->n_retired_routes && !s->n_retired_indexes &&
	    !a->wait_pending)
		return 0;
	/* Everything retired so far was unpublished before this wait began. */
	err = a->ops->wait_readers();
	if (err)
		return err;
	a->sweeps++;
	a->wait_pending = false;
	delete_retired_routes(a);
	s->n_retired_indexes = 0; /* their keys are gone: free now */
	delete_due_sets(a, now, force);
	return 0;
}

bool applier_sweep_begin(struct applier *a, struct sweep_ticket *t)
{
	const struct apply_state *s = &a->state;

	*t = (struct sweep_ticket){ .now_ms = now_ms(), .sweeps = a->sweeps,
				    .n_routes = s->n_retired_routes,
				    .n_indexes = s->n_retired_indexes };
	if (a->wait_pending)
		return false;
	return t->n_routes || t->n_indexes || any_set_due(s, t->now_ms, false);
}

/* Retired sets carry their own time: a set retired after the ticket was
 * taken has since_ms >= t->now_ms, never due at t->now_ms (APPLY_GRACE_MS
 * > 0), so delete_due_sets(t->now_ms) takes only sets retired before. */
void applier_sweep_finish(struct applier *a, const struct sweep_ticket *t)
{
	struct apply_state *s = &a->state;
	size_t i, kept;

	if (t->sweeps != a->sweeps)
		return;
	a->sweeps++;
	/* The routes the ticket covers are the first n_routes: the plans copy
	 * the list and append. One the kernel keeps stays, in order. */
	for (i = 0, kept = 0; i < s->n_retired_routes; i++) {
		bool covered = i < t->n_routes;
		int err = covered ? a->ops->delete(a->fds[APPLY_MAP_ROUTES],
						   &s->retired_routes[i]) : 0;

		if (!covered || (err && err != -ENOENT))
			s->retired_routes[kept++] = s->retired_routes[i];
	}
	s->n_retired_routes = kept;
	if (t->n_indexes) { /* their keys are gone: free now */
		memmove(s->retired_indexes, s->retired_indexes + t->n_indexes,
			(s->n_retired_indexes - t->n_indexes) * sizeof(*s->retired_indexes));
		s->n_retired_indexes -= t->n_indexes;
	}
	delete_due_sets(a, t->now_ms, false);
}

void applier_free(struct applier *a)
{
	apply_state_free(&a->state);
	free(a->ejected);
	a->ejected = NULL;
	a->n_ejected = 0;
}

int applier_set_ejected(struct applier *a, __u32 slot, bool ejected)
{
	size_t i = 0;
	__u32 *e;

	while (i < a->n_ejected && a->ejected[i] < slot)
		i++;
	if (ejected == (i < a->n_ejected && a->ejected[i] == slot))
		return 0;
	a->ejected_changed = true;
	if (!ejected) {
		memmove(&a->ejected[i], &a->ejected[i + 1],
			(a->n_ejected - i - 1) * sizeof(*a->ejected));
		a->n_ejected--;
		return 0;
	}
	e = realloc(a->ejected, (a->n_ejected + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	a->ejected = e;
	memmove(&e[i + 1], &e[i], (a->n_ejected - i) * sizeof(*e));
	e[i] = slot;
	a->n_ejected++;
	return 0;
}

static __u64 fp_str(__u64 h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* the end of one string */
}

/* This node's locality and labels, as one number: when it changes every
 * set's effective weights may change (plan_locality.c), so the next apply
 * plans every set. Never 0. */
static __u64 caller_fingerprint(const struct loc_caller *c)
{
	__u64 h = fp_str(0xcbf29ce484222325ULL, c->locality);
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		h = fp_str(fp_str(h, c->labels[i].key), c->labels[i].val);
	return h ? h : 1;
}

int applier_apply(struct applier *a, const struct bpfmesh_image *img, struct apply_stats *st)
{
	__u64 caller_fp = caller_fingerprint(&a->caller);
	struct apply_plan plan;
	struct timespec t0;
	size_t undo_failures;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(st, 0, sizeof(*st));
	/* No key is inserted before elements freed earlier have no reader. */
	err = applier_must_wait(a) ? applier_sweep(a, false) : 0;
	if (err) {
		fprintf(stderr, "Failed to wait for BPF readers: %d\n", err);
		return err;
	}

	struct plan_ejected ej = { .slots = a->ejected, .n = a->n_ejected,
				   .caller = &a->caller,
				   .changed = a->ejected_changed || caller_fp != a->caller_fp };
	char why[256];

	err = apply_check_capacity(&a->limits, img, why, sizeof(why));
	if (err) {
		fprintf(stderr, "Failed to plan the policy: %s\n", why);
		return err;
	}

	err = apply_plan_build(&a->state, img, now_ms(), &ej, &plan);
	if (err) {
		if (plan.error[0])
			fprintf(stderr, "Failed to plan the policy: %s\n", plan.error);
		return err;
	}
	st->plan_ms = elapsed_ms_since(&t0);
	src_slots_forget_new(a->ops, a->fds, &plan); /* best effort: stale series at worst */
	err = apply_exec(a->ops, a->fds, &plan, &undo_failures);
	if (undo_failures)
		fprintf(stderr, "Failed to roll back %zu map elements after error %d\n",
			undo_failures, err);
	/* A rolled-back apply deleted what it had inserted. */
	a->wait_pending |= err != 0;
	if (!err) {
		/* Every write is done: the plan's state is the truth now. */
		if (plan.incremental) {
			plan_incr_commit(&a->state, &plan);
		} else {
			apply_state_free(&a->state);
			a->state = plan.next;
			memset(&plan.next, 0, sizeof(plan.next));
		}
		a->ejected_changed = false;
		a->caller_fp = caller_fp;
		st->counts = plan.counts;
		st->incremental = plan.incremental;
		st->full_why = plan.full_why;
		st->elapsed_ms = elapsed_ms_since(&t0);
	}
	/* Written to (or rolled back): the zeroes are no longer a given. */
	a->state.slots.known_zero = false;
	apply_plan_free(&plan);
	return err;
}

/* ---- adopting the maps an earlier agent left ---- */

/* Append one element to a growing array; NULL on ENOMEM. */
static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, (*cap ? *cap * 2 : 64) * size);
	if (p)
		*cap = *cap ? *cap * 2 : 64;
	return p;
}

struct adopt_ctx {
	struct apply_state *s;
	size_t cap;
	__u32 *named; /* set ids the adopted services name, sorted */
	size_t n_named;
	__u32 *routes; /* route ids the adopted heads name, sorted */
	size_t n_routes;
};

static int adopt_name(const void *key, const void *val, void *ctx)
{
	struct adopt_ctx *c = ctx;
	struct apply_state *s = c->s;
	struct live_name *names = grow(s->names, s->n_names, &c->cap, sizeof(*names));
	const struct name_val *nv = val;

	if (!names)
		return -ENOMEM;
	s->names = names;
	names[s->n_names].kind = nv->kind;
	memcpy(&names[s->n_names].id, key, sizeof(__u32));
	memcpy(names[s->n_names].name, nv->name, BPFMESH_NAME_LEN);
	names[s->n_names++].name[BPFMESH_NAME_LEN - 1] = '\0';
	return 0;
}

/* Read the content of set id (n_slots slots) from the kernel. */
static int adopt_set(struct applier *a, __u32 id, __u32 n_slots, __u32 total,
		     struct live_set *out)
{
	struct backend_key key = { .set_id = id };
	int err;

	out->slots = calloc(n_slots, sizeof(*out->slots));
	if (!out->slots)
		return -ENOMEM;
	for (key.slot = 0; key.slot < n_slots; key.slot++) {
		err = a->ops->lookup(a->fds[APPLY_MAP_BACKENDS], &key, &out->slots[key.slot]);
		if (err)
			return err;
	}
	out->id = id;
	out->n_slots = n_slots;
	out->total_weight = total;
	out->hash = set_hash(out->slots, n_slots, total);
	return 0;
}

/* Note a slot of an orphaned set id, so the whole set is deleted later. */
static int retire_slot(struct adopt_ctx *c, __u32 id, __u32 slot)
{
	struct apply_state *s = c->s;
	struct retired_set *r;
	size_t i;

	for (i = 0; i < s->n_retired; i++) {
		if (s->retired[i].id == id) {
			if (slot >= s->retired[i].n_slots)
				s->retired[i].n_slots = slot + 1;
			return 0;
		}
	}
	r = grow(s->retired, s->n_retired, &c->cap, sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->retired = r;
	r[s->n_retired++] = (struct retired_set){ .id = id, .n_slots = slot + 1,
						  .since_ms = now_ms() };
	return 0;
}

/* Every set id found in the backends map that no service names is left
 * over from an interrupted apply: retire it. */
static int adopt_backend_key(const void *key, const void *val, void *ctx)
{
	struct adopt_ctx *c = ctx;
	const struct backend_key *k = key;

	if (k->set_id >= c->s->next_set_id)
		c->s->next_set_id = k->set_id + 1;
	if (has_u32(c->named, c->n_named, k->set_id))
		return 0;
	return retire_slot(c, k->set_id, k->slot);
}

/* Sets named by the adopted services become live. */
static int adopt_sets(struct applier *a, struct adopt_ctx *c)
{
	struct apply_state *s = &a->state;
	size_t i, d;
	int err;

	c->named = calloc(s->n_svcs * BPFMESH_MAX_DESTS + 1, sizeof(*c->named));
	s->sets = calloc(s->n_svcs * BPFMESH_MAX_DESTS + 1, sizeof(*s->sets));
	if (!c->named || !s->sets)
		return -ENOMEM;
	for (i = 0; i < s->n_svcs; i++) {
		const struct svc_val *v = &s->svcs[i].val;

		for (d = 0; d < v->n_dests && d < BPFMESH_MAX_DESTS; d++) {
			const struct svc_dest *sd = &v->dests[d];

			if (sd->n_slots == 0 || has_u32(c->named, c->n_named, sd->set_id))
				continue;
			err = adopt_set(a, sd->set_id, sd->n_slots, sd->set_weight,
					&s->sets[s->n_sets]);
			s->n_sets++; /* counted even on failure, so it is freed */
			if (err)
				return err;
			c->named[c->n_named++] = sd->set_id;
			qsort(c->named, c->n_named, sizeof(*c->named), cmp_u32);
		}
	}
	qsort(s->sets, s->n_sets, sizeof(*s->sets), cmp_set_hash);
	c->cap = 0;
	return map_for_each(a->ops, a->fds[APPLY_MAP_BACKENDS], sizeof(struct backend_key), 0,
			    adopt_backend_key, c);
}

/* The services, read through the indirection as the CLI reads them. */
static int adopt_services(struct applier *a, const struct svc_maps *m)
{
	struct apply_state *s = &a->state;
	struct svc_entry *e;
	size_t i, n;
	int err = lb_read_services(a->ops, m, &e, &n);

	if (err)
		return err;
	s->svcs = calloc(n + 1, sizeof(*s->svcs));
	for (i = 0; s->svcs && i < n; i++) {
		s->svcs[i] = (struct live_service){ .key = e[i].key, .val = e[i].val,
						    .index = e[i].index,
						    .route_id = e[i].route_id };
		if (e[i].val.generation > s->generation)
			s->generation = e[i].val.generation;
	}
	s->n_svcs = s->svcs ? n : 0;
	free(e);
	return s->svcs ? 0 : -ENOMEM;
}

static int named_routes(const struct apply_state *s, struct adopt_ctx *c)
{
	size_t i;

	c->routes = calloc(s->n_svcs + 1, sizeof(*c->routes));
	if (!c->routes)
		return -ENOMEM;
	for (i = 0; i < s->n_svcs; i++)
		c->routes[c->n_routes++] = s->svcs[i].route_id;
	qsort(c->routes, c->n_routes, sizeof(*c->routes), cmp_u32);
	return 0;
}

/* Every route id that no head names is left over from an interrupted
 * apply: retire it. The next id is past all of them. */
static int adopt_route_id(const void *key, const void *val, void *ctx)
{
	struct adopt_ctx *c = ctx;
	struct apply_state *s = c->s;
	__u32 id, *r;

	memcpy(&id, key, sizeof(id));
	if (id >= s->next_route_id)
		s->next_route_id = id + 1;
	if (has_u32(c->routes, c->n_routes, id))
		return 0;
	r = grow(s->retired_routes, s->n_retired_routes, &c->cap, sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->retired_routes = r;
	r[s->n_retired_routes++] = id;
	return 0;
}

int applier_adopt(struct applier *a, const struct map_ops *ops, const struct svc_maps *svc,
		  int be_fd, int names_fd)
{
	struct adopt_ctx c = { .s = &a->state };
	struct apply_state *s = &a->state;
	int err;

	memset(a, 0, sizeof(*a));
	a->ops = ops;
	a->fds[APPLY_MAP_SERVICES] = svc->ids_fd;
	a->fds[APPLY_MAP_SVC_HEADS] = svc->heads_fd;
	a->fds[APPLY_MAP_ROUTES] = svc->routes_fd;
	a->fds[APPLY_MAP_BACKENDS] = be_fd;
	a->fds[APPLY_MAP_NAMES] = names_fd;
	s->next_set_id = 1;
	s->next_route_id = 1;
	s->max_services = svc->max_services;
	s->max_routes = svc->max_routes;
	/* The earlier agent may have just deleted keys or routes. */
	a->wait_pending = true;
	err = adopt_services(a, svc);
	if (!err)
		err = named_routes(s, &c);
	if (!err)
		err = map_for_each(ops, svc->routes_fd, sizeof(__u32), 0, adopt_route_id, &c);
	c.cap = 0;
	if (!err)
		err = adopt_sets(a, &c);
	c.cap = 0;
	if (!err)
		err = map_for_each(ops, names_fd, sizeof(__u32), sizeof(struct name_val),
				   adopt_name, &c);
	if (s->n_names)
		qsort(s->names, s->n_names, sizeof(*s->names), cmp_live_name);
	free(c.named);
	free(c.routes);
	if (err)
		applier_free(a);
	return err;
}

/* ---- recovering slot owners ---- */

/* True when a live set of the adopted state names endpoint slot. */
static bool slot_in_live_sets(const struct apply_state *s, __u32 slot)
{
	size_t i, j;

	for (i = 0; i < s->n_sets; i++)
		for (j = 0; j < s->sets[i].n_slots; j++)
			if (s->sets[i].slots[j].slot == slot)
				return true;
	return false;
}

static bool cluster_named(const struct apply_state *s, __u32 slot)
{
	size_t i, d;

	for (i = 0; i < s->n_svcs; i++)
		for (d = 0; d < s->svcs[i].val.n_dests && d < BPFMESH_MAX_DESTS; d++)
			if (s->svcs[i].val.dests[d].cluster_slot == slot)
				return true;
	return false;
}

static void adopt_cluster(struct applier *a, __u32 slot, __u64 now)
{
	struct cl_owner *o = &a->state.slots.cls[slot];
	struct name_val nv;

	if (a->ops->lookup(a->fds[APPLY_MAP_CLUSTER_CFG], &slot, &o->cfg) || !o->cfg.name_id) {
		memset(o, 0, sizeof(*o));
		return;
	}
	o->live = cluster_named(&a->state, slot);
	o->retired_ms = now;
	/* The pool config as the last agent wrote it (none from an agent
	 * older than the pool map: zeroes, rewritten on the first apply). */
	if (a->ops->lookup(a->fds[APPLY_MAP_CONNPOOL_CFG], &slot, &o->pool))
		memset(&o->pool, 0, sizeof(o->pool));
	if (!a->ops->lookup(a->fds[APPLY_MAP_NAMES], &o->cfg.name_id, &nv)) {
		nv.name[BPFMESH_NAME_LEN - 1] = '\0';
		snprintf(o->name, sizeof(o->name), "%s", nv.name);
	}
}

/* A retired cluster's name stays in the map under its id while the slot is
 * retired (plan.c), so the cluster claims its slot back by name when it
 * returns. An older agent deleted such names at once and may have given
 * the id to another name since: a retired slot whose id another slot also
 * holds, or that names no cluster, is not claimed by name, only reused. */
static void unname_doubtful_retired(struct apply_slots *s, const struct apply_state *st)
{
	__u32 i, j;

	for (i = 1; i < s->max_clusters; i++) {
		struct cl_owner *o = &s->cls[i];
		struct live_name key = {}, *n;
		bool shared = false;

		if (o->live || !o->name[0])
			continue;
		for (j = 1; j < s->max_clusters && !shared; j++)
			shared = j != i && s->cls[j].cfg.name_id == o->cfg.name_id;
		memcpy(key.name, o->name, BPFMESH_NAME_LEN);
		n = st->n_names ? bsearch(&key, st->names, st->n_names, sizeof(key),
					  cmp_live_name) : NULL;
		if (shared || !n || n->kind != BPFMESH_NAME_SUBSET)
			o->name[0] = '\0';
	}
}

static int adopt_endpoint(struct applier *a, __u32 slot, __u64 now)
{
	struct ep_owner *o = &a->state.slots.eps[slot];
	struct ep_health h;

	if (a->ops->lookup(a->fds[APPLY_MAP_EP_HEALTH], &slot, &h) || !h.cluster_slot)
		return 0;
	/* Live: named by a set, or ejected (left out of its set for now). */
	*o = (struct ep_owner){ .cluster_slot = h.cluster_slot, .port = h.port,
				.live = h.ejected_until_ns || slot_in_live_sets(&a->state, slot),
				.retired_ms = now };
	o->family = ep_health_get_addr(&h, o->addr);
	/* Ejected, or due back but not yet returned: the sweep returns it and
	 * its RETURN event puts it back in its set. */
	return h.ejected_until_ns ? applier_set_ejected(a, slot, true) : 0;
}

/* The loadBalancer state an earlier agent left: each cluster slot's policy
 * and each live set's table, so the next apply writes only differences.
 * The maps are optional (an applier given no fds for them plans none). */
static int adopt_lb(struct applier *a)
{
	struct apply_state *s = &a->state;
	__u32 i, max = s->slots.max_clusters;
	size_t j;

	s->lb_on = a->fds[APPLY_MAP_LB_POLICY] > 0 && a->fds[APPLY_MAP_LB_TABLES] > 0;
	if (!s->lb_on || max < 2)
		return 0;
	free(s->lb_policies);
	s->lb_policies = calloc((size_t)max + 1, sizeof(*s->lb_policies));
	if (!s->lb_policies)
		return -ENOMEM;
	for (i = 1; i < max && !a->maps_fresh; i++)
		if (a->ops->lookup(a->fds[APPLY_MAP_LB_POLICY], &i, &s->lb_policies[i]))
			memset(&s->lb_policies[i], 0, sizeof(s->lb_policies[i]));
	for (j = 0; j < s->n_sets; j++) {
		struct lbtab_key key = { .set_id = s->sets[j].id, .idx = BPFMESH_LB_TABLE_HDR };
		struct lbtab_val hdr;

		if (a->ops->lookup(a->fds[APPLY_MAP_LB_TABLES], &key, &hdr))
			continue;
		s->sets[j].table_len = hdr.slot;
		s->sets[j].table_kind = hdr.kind;
	}
	return 0;
}

int applier_adopt_slots(struct applier *a, const int fds[__APPLY_MAP_MAX], __u32 max_endpoints,
			__u32 max_clusters, int ncpu)
{
	__u64 now = now_ms();
	__u32 i;
	int m, err;

	for (m = APPLY_MAP_EP_COUNTERS; m < __APPLY_MAP_MAX; m++)
		a->fds[m] = fds[m];
	slots_free(&a->state.slots);
	if (max_endpoints < 2 || max_clusters < 2)
		return 0;
	err = slots_init(&a->state.slots, max_endpoints, max_clusters, ncpu);
	a->state.slots.known_zero = !err && a->maps_fresh;
	a->state.slots.hist_clusters = a->hist_clusters;
	if (a->maps_fresh)
		max_clusters = max_endpoints = 0; /* zero slots: nothing to adopt */
	for (i = 1; !err && i < max_clusters; i++)
		adopt_cluster(a, i, now);
	if (!err)
		unname_doubtful_retired(&a->state.slots, &a->state);
	for (i = 1; !err && i < max_endpoints; i++)
		err = adopt_endpoint(a, i, now);
	return err ? err : adopt_lb(a);
}
