// SPDX-License-Identifier: Apache-2.0
/*
 * The services part of a plan: routes, heads and keys, written in the order
 * include/bpfmesh/lb_abi.h "Atomic switch" requires.
 *
 *   1. routes: each new version under a fresh route id (nothing names it)
 *   2. heads of new services, at indexes nothing names (free: every index
 *      retired by an earlier apply waited a grace period first)
 *   3. keys of new services (inserts only)
 *   4. publish: the head of each switched service, one 32-bit store each
 *   5. keys of removed services deleted
 *
 * What step 4 and 5 stop naming (old routes, removed services' routes and
 * indexes) is retired: deleted or reused only after the next grace period
 * (applier_sweep), before which no key is inserted either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"

/* The steps this file adds, in execution order. */
struct route_steps {
	struct map_step *routes, *heads, *keys, *publish, *removed;
};

/* Route ids live or waiting, sorted: a fresh id never takes one of them,
 * even once the counter has wrapped. */
static __u32 *used_route_ids(const struct apply_state *cur, size_t *n)
{
	__u32 *u = calloc(cur->n_svcs + cur->n_retired_routes + 1, sizeof(*u));
	size_t i;

	*n = 0;
	if (!u)
		return NULL;
	for (i = 0; i < cur->n_svcs; i++)
		if (cur->svcs[i].route_id)
			u[(*n)++] = cur->svcs[i].route_id;
	for (i = 0; i < cur->n_retired_routes; i++)
		u[(*n)++] = cur->retired_routes[i];
	qsort(u, *n, sizeof(*u), cmp_u32);
	return u;
}

__u32 fresh_route_id(const __u32 *used, size_t n_used, __u32 *next)
{
	__u32 id;

	do {
		id = (*next)++;
	} while (!id || has_u32(used, n_used, id));
	return id;
}

/* Indexes taken (live or retired) in a table of n_index entries; index 0
 * is never given. NULL on ENOMEM. */
static unsigned char *taken_indexes(const struct apply_state *cur, size_t n_index)
{
	unsigned char *t = calloc(n_index + 1, 1);
	size_t i;

	if (!t)
		return NULL;
	t[0] = 1;
	for (i = 0; i < cur->n_svcs; i++)
		if (cur->svcs[i].index < n_index)
			t[cur->svcs[i].index] = 1;
	for (i = 0; i < cur->n_retired_indexes; i++)
		if (cur->retired_indexes[i] < n_index)
			t[cur->retired_indexes[i]] = 1;
	return t;
}

/* Size of the index table: the map's, or (sizes unknown) room enough. */
static size_t index_table_size(const struct apply_state *cur, const struct apply_state *next)
{
	size_t i, top = cur->n_retired_indexes + next->n_svcs + 2;

	if (cur->max_services)
		return cur->max_services;
	for (i = 0; i < cur->n_svcs; i++)
		if (cur->svcs[i].index >= top)
			top = (size_t)cur->svcs[i].index + 1;
	for (i = 0; i < cur->n_retired_indexes; i++)
		if (cur->retired_indexes[i] >= top)
			top = (size_t)cur->retired_indexes[i] + 1;
	return top + next->n_svcs;
}

/* The policy must fit before anything is written. */
int check_route_room(const struct apply_state *cur, struct apply_plan *p, size_t n_svcs,
		     size_t n_new_routes)
{
	size_t peak = cur->n_svcs + cur->n_retired_routes + n_new_routes;

	if (cur->max_services && n_svcs >= cur->max_services) {
		snprintf(p->error, sizeof(p->error),
			 "%zu services, the services maps hold %u (BPFMESH_MAX_SERVICES)",
			 n_svcs, cur->max_services - 1);
		return -ENOSPC;
	}
	if (cur->max_routes && peak > cur->max_routes) {
		snprintf(p->error, sizeof(p->error),
			 "%zu route versions at once, the routes map holds %u (BPFMESH_MAX_ROUTES)",
			 peak, cur->max_routes);
		return -ENOSPC;
	}
	return 0;
}

static int add_steps(struct apply_plan *p, size_t n_new, size_t n_cur, struct route_steps *st)
{
	st->routes = plan_add_step(p, STEP_WRITE, APPLY_MAP_ROUTES, sizeof(__u32),
				   sizeof(struct svc_val), n_new);
	st->heads = plan_add_step(p, STEP_WRITE, APPLY_MAP_SVC_HEADS, sizeof(__u32),
				  sizeof(struct svc_head), n_new);
	st->keys = plan_add_step(p, STEP_WRITE, APPLY_MAP_SERVICES, sizeof(struct svc_key),
				 sizeof(__u32), n_new);
	st->publish = plan_add_step(p, STEP_PUBLISH, APPLY_MAP_SVC_HEADS, sizeof(__u32),
				    sizeof(struct svc_head), n_new);
	st->removed = plan_add_step(p, STEP_DELETE, APPLY_MAP_SERVICES, sizeof(struct svc_key),
				    sizeof(__u32), n_cur);
	if (!st->routes || !st->heads || !st->keys || !st->publish || !st->removed)
		return -ENOMEM;
	/* A head is an array element: undo writes back the zero it held. */
	st->heads->prev_vals = calloc(n_new + 1, sizeof(struct svc_head));
	st->heads->prev_existed = malloc(n_new + 1);
	st->publish->prev_vals = calloc(n_new + 1, sizeof(struct svc_head));
	if (!st->heads->prev_vals || !st->heads->prev_existed || !st->publish->prev_vals)
		return -ENOMEM;
	memset(st->heads->prev_existed, 1, n_new + 1);
	return 0;
}

static int alloc_retired(const struct apply_state *cur, struct apply_state *next)
{
	next->retired_routes = calloc(cur->n_retired_routes + 2 * cur->n_svcs + 1, sizeof(__u32));
	next->retired_indexes = calloc(cur->n_retired_indexes + cur->n_svcs + 1, sizeof(__u32));
	if (!next->retired_routes || !next->retired_indexes)
		return -ENOMEM;
	if (cur->n_retired_routes)
		memcpy(next->retired_routes, cur->retired_routes,
		       cur->n_retired_routes * sizeof(__u32));
	if (cur->n_retired_indexes)
		memcpy(next->retired_indexes, cur->retired_indexes,
		       cur->n_retired_indexes * sizeof(__u32));
	next->n_retired_routes = cur->n_retired_routes;
	next->n_retired_indexes = cur->n_retired_indexes;
	return 0;
}

/* A switched service: its head moves to the new route, the old retires. */
static void publish(struct route_steps *st, struct apply_state *next,
		    const struct live_service *old, const struct live_service *nv)
{
	size_t k = st->publish->n++;

	((__u32 *)st->publish->keys)[k] = nv->index;
	((struct svc_head *)st->publish->vals)[k].route_id = nv->route_id;
	((struct svc_head *)st->publish->prev_vals)[k].route_id = old->route_id;
	if (old->route_id)
		next->retired_routes[next->n_retired_routes++] = old->route_id;
}

/* A new service: its head first, then its key. */
static void insert(struct route_steps *st, const struct live_service *nv)
{
	size_t k = st->heads->n++;

	((__u32 *)st->heads->keys)[k] = nv->index;
	((struct svc_head *)st->heads->vals)[k].route_id = nv->route_id;
	k = st->keys->n++;
	((struct svc_key *)st->keys->keys)[k] = nv->key;
	((__u32 *)st->keys->vals)[k] = nv->index;
}

static int give_routes(const struct apply_state *cur, struct apply_plan *p,
		       struct route_steps *st, unsigned char *taken, size_t n_index)
{
	struct apply_state *next = &p->next;
	size_t i, n_used, free_index = 1;
	__u32 *used = used_route_ids(cur, &n_used);

	if (!used)
		return -ENOMEM;
	next->next_route_id = cur->next_route_id ? cur->next_route_id : 1;
	for (i = 0; i < next->n_svcs; i++) {
		struct live_service *nv = &next->svcs[i];
		const struct live_service *old;
		size_t k;

		if (nv->route_id)
			continue;
		nv->route_id = fresh_route_id(used, n_used, &next->next_route_id);
		k = st->routes->n++;
		((__u32 *)st->routes->keys)[k] = nv->route_id;
		((struct svc_val *)st->routes->vals)[k] = nv->val;
		old = find_svc(cur->svcs, cur->n_svcs, &nv->key);
		if (old) {
			nv->index = old->index;
			publish(st, next, old, nv);
			continue;
		}
		while (free_index < n_index && taken[free_index])
			free_index++;
		if (free_index >= n_index) {
			free(used);
			snprintf(p->error, sizeof(p->error),
				 "no free service index: the services maps hold %zu", n_index - 1);
			return -ENOSPC;
		}
		taken[free_index] = 1;
		nv->index = (__u32)free_index;
		insert(st, nv);
	}
	free(used);
	return 0;
}

/* Is every route id below next_route_id (never wrapped)? Then the next
 * plan may take fresh ids without looking (plan_incr.c). */
static bool routes_below_next(const struct apply_state *next)
{
	size_t i;

	if (next->next_route_id == 0)
		return false;
	for (i = 0; i < next->n_svcs; i++)
		if (next->svcs[i].route_id >= next->next_route_id)
			return false;
	for (i = 0; i < next->n_retired_routes; i++)
		if (next->retired_routes[i] >= next->next_route_id)
			return false;
	return true;
}

int plan_routes(const struct apply_state *cur, struct apply_plan *p)
{
	struct apply_state *next = &p->next;
	struct route_steps st;
	size_t i, n_new = 0, n_index = index_table_size(cur, next);
	unsigned char *taken;
	int err;

	next->max_services = cur->max_services;
	next->max_routes = cur->max_routes;
	for (i = 0; i < next->n_svcs; i++)
		n_new += next->svcs[i].route_id == 0;
	err = check_route_room(cur, p, next->n_svcs, n_new);
	if (!err)
		err = alloc_retired(cur, next);
	if (!err)
		err = add_steps(p, n_new, cur->n_svcs, &st);
	if (err)
		return err;
	taken = taken_indexes(cur, n_index);
	if (!taken)
		return -ENOMEM;
	err = give_routes(cur, p, &st, taken, n_index);
	free(taken);
	if (err)
		return err;
	for (i = 0; i < cur->n_svcs; i++) {
		const struct live_service *old = &cur->svcs[i];

		if (find_svc(next->svcs, next->n_svcs, &old->key))
			continue;
		((struct svc_key *)st.removed->keys)[st.removed->n++] = old->key;
		next->retired_indexes[next->n_retired_indexes++] = old->index;
		if (old->route_id)
			next->retired_routes[next->n_retired_routes++] = old->route_id;
	}
	p->counts.svc_writes = st.routes->n + st.removed->n;
	next->route_ids_below_next = routes_below_next(next);
	/* Last first: dropping a step moves the later ones. */
	plan_drop_empty_step(p, st.removed);
	plan_drop_empty_step(p, st.publish);
	plan_drop_empty_step(p, st.keys);
	plan_drop_empty_step(p, st.heads);
	plan_drop_empty_step(p, st.routes);
	return 0;
}
