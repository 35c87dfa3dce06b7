// SPDX-License-Identifier: Apache-2.0
/*
 * The applier without a kernel: plan (pure) on hand-made images, and
 * plan + exec against in-memory maps (fake_maps.h), with a failure
 * injected at every map write and delete of an apply. After each failure
 * the maps and the applier's state must be exactly what they were before
 * the apply began, and the same apply must then succeed.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "fake_maps.h"
#include "apply/apply.h"
#include "apply/plan.h"

/* ---- hand-made images ---- */

/* Non-zero: worlds with health get the loadBalancer maps too, and every
 * set of build_image asks for a Maglev table of this size. */
static __u32 t_lb_table;
/* The map ops worlds are made with (concurrent: the unordered steps of a
 * plan run on two threads). */
static const struct map_ops *t_ops = &fake_map_ops;

#define MAX_EPS 4

/* One destination: its endpoints 127.1.0.<ep> (weight 1 each), route weight. */
struct dest_spec {
	int n_eps;
	int eps[MAX_EPS];
	int weight;
};

/* A service at 127.100.0.<vip>:80 named "svc<vip>", subsets "svc<vip>/v<d>". */
struct svc_spec {
	int vip;
	int n_dests;
	struct dest_spec dests[3];
};

/* Image-local ids, in first-use order, as the compiler numbers them. */
static __u32 add_name(struct bpfmesh_image *img, const char *name, __u32 kind)
{
	struct image_name *n = &img->names[img->n_names++];

	n->id = (__u32)img->n_names;
	n->val.kind = kind;
	snprintf(n->val.name, sizeof(n->val.name), "%s", name);
	return n->id;
}

/* An image as the compiler would make it: services sorted by key (specs are
 * given in VIP order), one set per destination, names numbered in order. */
static void build_image(struct bpfmesh_image *img, const struct svc_spec *specs, int n)
{
	char name[64];
	int i, d, e;

	memset(img, 0, sizeof(*img));
	img->services = calloc(n, sizeof(*img->services));
	img->sets = calloc(n * 3, sizeof(*img->sets));
	img->names = calloc(n * 4, sizeof(*img->names));
	assert_true(img->services && img->sets && img->names);
	for (i = 0; i < n; i++) {
		struct image_service *s = &img->services[img->n_services++];
		__u32 cum = 0;

		s->key.addr[0] = htonl(0x7f640000 | specs[i].vip);
		s->key.port = htons(80);
		s->key.proto = BPFMESH_PROTO_TCP;
		s->key.family = BPFMESH_AF_INET;
		snprintf(name, sizeof(name), "svc%d", specs[i].vip);
		s->val.service_id = add_name(img, name, BPFMESH_NAME_SERVICE);
		s->val.n_dests = specs[i].n_dests;
		for (d = 0; d < specs[i].n_dests; d++) {
			const struct dest_spec *ds = &specs[i].dests[d];
			struct image_set *set = &img->sets[img->n_sets];
			struct svc_dest *sd = &s->val.dests[d];

			set->n_slots = ds->n_eps;
			set->total_weight = ds->n_eps;
			set->slots = calloc(ds->n_eps + 1, sizeof(*set->slots));
			assert_non_null(set->slots);
			for (e = 0; e < ds->n_eps; e++) {
				set->slots[e].addr[0] = htonl(0x7f010000 | ds->eps[e]);
				set->slots[e].port = htons(8080);
				set->slots[e].alias = e;
				set->slots[e].threshold = 1;
				set->slots[e].weight = 1;
			}
			__u32 id;

			snprintf(name, sizeof(name), "svc%d/v%d", specs[i].vip, d + 1);
			id = add_name(img, name, BPFMESH_NAME_SUBSET);
			snprintf(set->cluster, sizeof(set->cluster), "%s", name);
			if (t_lb_table)
				set->lb = (struct lb_policy){ .algo = BPFMESH_LB_MAGLEV,
							      .table_size = t_lb_table };
			set->cfg = (struct cluster_cfg){ .flags = BPFMESH_CLUSTER_F_OUTLIER,
							 .consecutive_5xx = 5,
							 .max_ejection_percent = 100,
							 .total_endpoints = ds->n_eps,
							 .name_id = id };
			cum += ds->weight;
			*sd = (struct svc_dest){ .set_id = img->n_sets++, .n_slots = ds->n_eps,
						 .set_weight = ds->n_eps, .cum_weight = cum,
						 .subset_id = id };
		}
		s->val.total_weight = cum;
	}
}

static void free_image(struct bpfmesh_image *img)
{
	size_t i;

	for (i = 0; i < img->n_sets; i++)
		free(img->sets[i].slots);
	free(img->services);
	free(img->sets);
	free(img->names);
}

/* v1: svc1 90/10 over {1,2} and {3}; svc2 over {4}; svc3 over {5,6}. */
static const struct svc_spec v1[] = {
	{ 1, 2, { { 2, { 1, 2 }, 90 }, { 1, { 3 }, 10 } } },
	{ 2, 1, { { 1, { 4 }, 1 } } },
	{ 3, 1, { { 2, { 5, 6 }, 1 } } },
};

/* v2 touches every kind of step: svc1's second set changes ({3} -> {3,7})
 * and its weights move, svc2 is gone (its names go stale, its set retires),
 * svc3 is unchanged, svc4 is new with a new set and new names. */
static const struct svc_spec v2[] = {
	{ 1, 2, { { 2, { 1, 2 }, 50 }, { 2, { 3, 7 }, 50 } } },
	{ 3, 1, { { 2, { 5, 6 }, 1 } } },
	{ 4, 1, { { 1, { 8 }, 1 } } },
};

/* v1 with only svc1's weights changed. */
static const struct svc_spec v1_weights[] = {
	{ 1, 2, { { 2, { 1, 2 }, 50 }, { 1, { 3 }, 50 } } },
	{ 2, 1, { { 1, { 4 }, 1 } } },
	{ 3, 1, { { 2, { 5, 6 }, 1 } } },
};

#define N_SPECS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- a fake kernel with the applier's three maps ---- */

struct world {
	struct fake_kernel k;
	struct applier a;
	struct svc_maps svc;
	int be_fd, names_fd;
	int fds[__APPLY_MAP_MAX]; /* the health arrays, when on */
};

/* Health maps in tests: endpoint slots 1..15, cluster slots 1..7, 2 CPUs. */
#define T_MAX_EPS 16
#define T_MAX_CLUSTERS 8
#define T_NCPU 2
/* Service maps in tests: indexes 1..15, 24 route versions. */
#define T_MAX_SVCS 16
#define T_MAX_ROUTES 24
#define T_BE_MAP 3 /* fake map number of the backends: after ids, heads, routes */

/* An array map as the kernel has one: every key present, zeroed. */
static int fake_array_create(struct fake_kernel *k, size_t val_size, __u32 max)
{
	int fd = fake_map_create(k, sizeof(__u32), val_size);
	void *zero = calloc(1, val_size);
	size_t done;
	__u32 i;

	assert_non_null(zero);
	fk = k;
	fake_reset_counters(k, -1);
	for (i = 0; i < max; i++)
		assert_int_equal(fake_update_many(fd, &i, sizeof(i), zero, val_size, 1, &done), 0);
	free(zero);
	return fd;
}

static void world_init_sized(struct world *w, bool health, __u32 max_eps)
{
	memset(w, 0, sizeof(*w));
	w->svc = (struct svc_maps){
		.ids_fd = fake_map_create(&w->k, sizeof(struct svc_key), sizeof(__u32)),
		.heads_fd = fake_array_create(&w->k, sizeof(struct svc_head), T_MAX_SVCS),
		.routes_fd = fake_map_create(&w->k, sizeof(__u32), sizeof(struct svc_val)),
		.max_services = T_MAX_SVCS, .max_routes = T_MAX_ROUTES };
	w->be_fd = fake_map_create(&w->k, sizeof(struct backend_key), sizeof(struct backend_val));
	w->names_fd = fake_map_create(&w->k, sizeof(__u32), sizeof(struct name_val));
	if (health) {
		w->fds[APPLY_MAP_EP_COUNTERS] = fake_array_create(
			&w->k, sizeof(struct ep_counters_elem), max_eps);
		w->fds[APPLY_MAP_EP_HEALTH] = fake_array_create(&w->k, sizeof(struct ep_health),
								max_eps);
		w->fds[APPLY_MAP_CLUSTER_CFG] = fake_array_create(
			&w->k, sizeof(struct cluster_cfg), T_MAX_CLUSTERS);
		w->fds[APPLY_MAP_CLUSTER_STATE] = fake_array_create(
			&w->k, sizeof(struct cluster_state), T_MAX_CLUSTERS);
		w->fds[APPLY_MAP_CLUSTER_HISTS] = fake_array_create(
			&w->k, sizeof(struct cluster_hists), T_MAX_CLUSTERS);
		w->fds[APPLY_MAP_CONNPOOL_CFG] = fake_array_create(
			&w->k, sizeof(struct connpool_cfg), T_MAX_CLUSTERS);
	}
	if (health && t_lb_table) {
		w->fds[APPLY_MAP_LB_POLICY] = fake_array_create(&w->k, sizeof(struct lb_policy),
								T_MAX_CLUSTERS);
		w->fds[APPLY_MAP_LB_TABLES] = fake_map_create(&w->k, sizeof(struct lbtab_key),
							      sizeof(struct lbtab_val));
	}
	fk = &w->k;
	fake_reset_counters(&w->k, -1);
	assert_int_equal(applier_adopt(&w->a, t_ops, &w->svc, w->be_fd, w->names_fd),
			 0);
	if (health)
		assert_int_equal(applier_adopt_slots(&w->a, w->fds, max_eps, T_MAX_CLUSTERS,
						     T_NCPU), 0);
}

static void world_init(struct world *w)
{
	world_init_sized(w, false, 0);
}

static void world_init_health(struct world *w)
{
	world_init_sized(w, true, T_MAX_EPS);
}

static void world_free(struct world *w)
{
	applier_free(&w->a);
	fake_kernel_free(&w->k);
}

static int apply_specs(struct world *w, const struct svc_spec *specs, int n, long fail_at)
{
	struct bpfmesh_image img;
	struct apply_stats st;
	int err;

	build_image(&img, specs, n);
	fk = &w->k;
	fake_reset_counters(&w->k, fail_at);
	err = applier_apply(&w->a, &img, &st);
	free_image(&img);
	return err;
}

/* ---- comparing states ---- */

/* A copy of n elements of size bytes (src may be NULL when n is 0). */
static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p = calloc(n + 1, size);

	assert_non_null(p);
	if (n)
		memcpy(p, src, n * size);
	return p;
}

static struct apply_state state_copy(const struct apply_state *s)
{
	struct apply_state c = *s;
	size_t i;

	c.svcs = dup_array(s->svcs, s->n_svcs, sizeof(*c.svcs));
	c.sets = dup_array(s->sets, s->n_sets, sizeof(*c.sets));
	c.names = dup_array(s->names, s->n_names, sizeof(*c.names));
	c.retired = dup_array(s->retired, s->n_retired, sizeof(*c.retired));
	c.retired_routes = dup_array(s->retired_routes, s->n_retired_routes, sizeof(__u32));
	c.retired_indexes = dup_array(s->retired_indexes, s->n_retired_indexes, sizeof(__u32));
	c.placement = dup_array(s->placement, s->n_placement, sizeof(*c.placement));
	assert_int_equal(slots_copy(&c.slots, &s->slots), 0);
	if (s->lb_policies)
		c.lb_policies = dup_array(s->lb_policies, s->slots.max_clusters,
					  sizeof(*c.lb_policies));
	for (i = 0; i < s->n_sets; i++)
		c.sets[i].slots = dup_array(s->sets[i].slots, s->sets[i].n_slots,
					    sizeof(*c.sets[i].slots));
	return c;
}

static void assert_state_equal(const struct apply_state *x, const struct apply_state *y,
			       bool with_retired)
{
	size_t i;

	assert_int_equal(x->generation, y->generation);
	assert_int_equal(x->next_set_id, y->next_set_id);
	assert_int_equal(x->n_svcs, y->n_svcs);
	assert_memory_equal(x->svcs, y->svcs, x->n_svcs * sizeof(*x->svcs));
	assert_int_equal(x->next_route_id, y->next_route_id);
	assert_int_equal(x->n_retired_routes, y->n_retired_routes);
	assert_memory_equal(x->retired_routes, y->retired_routes,
			    x->n_retired_routes * sizeof(__u32));
	assert_int_equal(x->n_retired_indexes, y->n_retired_indexes);
	assert_memory_equal(x->retired_indexes, y->retired_indexes,
			    x->n_retired_indexes * sizeof(__u32));
	assert_int_equal(x->n_names, y->n_names);
	assert_memory_equal(x->names, y->names, x->n_names * sizeof(*x->names));
	/* Placements are the planner's own (an adopted state has none). */
	if (x->n_placement && y->n_placement) {
		assert_int_equal(x->n_placement, y->n_placement);
		assert_memory_equal(x->placement, y->placement,
				    x->n_placement * sizeof(*x->placement));
	}
	assert_int_equal(x->n_sets, y->n_sets);
	for (i = 0; i < x->n_sets; i++) {
		assert_int_equal(x->sets[i].hash, y->sets[i].hash);
		assert_int_equal(x->sets[i].id, y->sets[i].id);
		assert_int_equal(x->sets[i].n_slots, y->sets[i].n_slots);
		assert_int_equal(x->sets[i].total_weight, y->sets[i].total_weight);
		assert_int_equal(x->sets[i].table_kind, y->sets[i].table_kind);
		assert_int_equal(x->sets[i].table_len, y->sets[i].table_len);
		assert_memory_equal(x->sets[i].slots, y->sets[i].slots,
				    x->sets[i].n_slots * sizeof(*x->sets[i].slots));
	}
	assert_int_equal(x->slots.max_endpoints, y->slots.max_endpoints);
	for (i = 1; i < x->slots.max_endpoints; i++) {
		assert_int_equal(x->slots.eps[i].cluster_slot, y->slots.eps[i].cluster_slot);
		assert_memory_equal(x->slots.eps[i].addr, y->slots.eps[i].addr,
				    sizeof(x->slots.eps[i].addr));
		assert_int_equal(x->slots.eps[i].family, y->slots.eps[i].family);
		assert_int_equal(x->slots.eps[i].live, y->slots.eps[i].live);
	}
	for (i = 1; i < x->slots.max_clusters; i++) {
		assert_memory_equal(&x->slots.cls[i].cfg, &y->slots.cls[i].cfg,
				    sizeof(x->slots.cls[i].cfg));
		assert_string_equal(x->slots.cls[i].name, y->slots.cls[i].name);
		assert_int_equal(x->slots.cls[i].live, y->slots.cls[i].live);
	}
	assert_int_equal(x->lb_on, y->lb_on);
	assert_int_equal(!x->lb_policies, !y->lb_policies);
	if (x->lb_policies)
		assert_memory_equal(x->lb_policies, y->lb_policies,
				    x->slots.max_clusters * sizeof(*x->lb_policies));
	if (!with_retired)
		return;
	assert_int_equal(x->n_retired, y->n_retired);
	assert_memory_equal(x->retired, y->retired, x->n_retired * sizeof(*x->retired));
}

static void assert_maps_equal(const struct fake_kernel *x, const struct fake_kernel *y)
{
	int i;

	for (i = 0; i < x->n_maps; i++)
		if (!fake_map_equal(&x->maps[i], &y->maps[i]))
			fail_msg("map %d differs (%zu vs %zu elements)", i, x->maps[i].n,
				 y->maps[i].n);
}

/* ---- plan: pure ---- */

static void test_plan_first_apply_writes_everything(void **state)
{
	struct apply_state empty = { .next_set_id = 1 };
	struct bpfmesh_image img;
	struct apply_plan p;

	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&empty, &img, 7, NULL, &p), 0);
	assert_int_equal(p.n_steps, 5);
	assert_int_equal(p.steps[0].map, APPLY_MAP_BACKENDS);
	assert_int_equal(p.steps[0].n, 6); /* 2 + 1 + 1 + 2 slots */
	assert_null(p.steps[0].prev_existed); /* fresh ids: undo is delete */
	assert_int_equal(p.steps[1].map, APPLY_MAP_NAMES);
	assert_int_equal(p.steps[1].n, 7); /* 3 services, 4 subsets */
	/* Routes, then the heads naming them, then the keys naming the heads. */
	assert_int_equal(p.steps[2].map, APPLY_MAP_ROUTES);
	assert_int_equal(p.steps[2].n, 3);
	assert_null(p.steps[2].prev_existed); /* fresh route ids */
	assert_int_equal(p.steps[3].map, APPLY_MAP_SVC_HEADS);
	assert_int_equal(p.steps[3].kind, STEP_WRITE);
	assert_int_equal(p.steps[3].n, 3);
	assert_int_equal(p.steps[4].map, APPLY_MAP_SERVICES);
	assert_int_equal(p.steps[4].kind, STEP_WRITE);
	assert_int_equal(p.steps[4].n, 3);
	assert_null(p.steps[4].prev_existed); /* inserts only */
	assert_int_equal(p.next.svcs[0].index, 1);
	assert_int_equal(p.next.svcs[2].index, 3);
	assert_int_equal(p.next.svcs[2].route_id, 3);
	assert_int_equal(((struct svc_head *)p.steps[3].vals)[2].route_id, 3);
	assert_int_equal(p.next.generation, 1);
	assert_int_equal(p.next.next_set_id, 5);
	assert_int_equal(p.next.n_retired, 0);
	assert_int_equal(p.counts.set_writes, 4);
	assert_int_equal(p.counts.endpoints, 6);
	apply_plan_free(&p);
	free_image(&img);
}

/* The plan of v2 over v1's state, in the order that keeps connects whole. */
static void test_plan_orders_steps(void **state)
{
	struct world w;
	struct bpfmesh_image img;
	struct apply_plan p;
	const struct svc_key *del;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	build_image(&img, v2, N_SPECS(v2));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 42, NULL, &p), 0);
	assert_int_equal(p.n_steps, 8);
	assert_true(p.steps[0].map == APPLY_MAP_BACKENDS && p.steps[0].kind == STEP_WRITE);
	assert_int_equal(p.steps[0].n, 3); /* {3,7} and {8} */
	assert_true(p.steps[1].map == APPLY_MAP_NAMES && p.steps[1].kind == STEP_WRITE);
	assert_int_equal(p.steps[1].n, 2); /* svc4, svc4/v1 */
	/* svc1 changed, svc4 new: fresh route ids 4 and 5 (1..3 are v1's). */
	assert_true(p.steps[2].map == APPLY_MAP_ROUTES && p.steps[2].kind == STEP_WRITE);
	assert_int_equal(p.steps[2].n, 2);
	assert_int_equal(((__u32 *)p.steps[2].keys)[0], 4);
	assert_int_equal(((__u32 *)p.steps[2].keys)[1], 5);
	/* svc4 is new: the lowest index no service holds (svc2's 2 is in use
	 * until a grace period after its key is deleted), head before key. */
	assert_true(p.steps[3].map == APPLY_MAP_SVC_HEADS && p.steps[3].kind == STEP_WRITE);
	assert_int_equal(p.steps[3].n, 1);
	assert_int_equal(((__u32 *)p.steps[3].keys)[0], 4);
	assert_true(p.steps[4].map == APPLY_MAP_SERVICES && p.steps[4].kind == STEP_WRITE);
	assert_int_equal(p.steps[4].n, 1);
	/* The switch of svc1: its head (index 1) from route 1 to route 4. */
	assert_true(p.steps[5].map == APPLY_MAP_SVC_HEADS && p.steps[5].kind == STEP_PUBLISH);
	assert_int_equal(p.steps[5].n, 1);
	assert_int_equal(((__u32 *)p.steps[5].keys)[0], 1);
	assert_int_equal(((struct svc_head *)p.steps[5].vals)[0].route_id, 4);
	assert_int_equal(((struct svc_head *)p.steps[5].prev_vals)[0].route_id, 1);
	assert_true(p.steps[6].map == APPLY_MAP_SERVICES && p.steps[6].kind == STEP_DELETE);
	assert_int_equal(p.steps[6].n, 1);
	del = p.steps[6].keys;
	assert_int_equal(del->addr[0], htonl(0x7f640002));
	/* Stale names go after the switch, never before. */
	assert_true(p.steps[7].map == APPLY_MAP_NAMES && p.steps[7].kind == STEP_DELETE);
	/* Sets, names, fresh routes and the new head name nothing published:
	 * exec may run them at once; the key of svc4 publishes it. */
	assert_int_equal(p.n_unordered, 4);
	assert_int_equal(p.steps[7].n, 2); /* svc2, svc2/v1 */
	/* svc1's old route and svc2's route and index wait for a grace period. */
	assert_int_equal(p.next.n_retired_routes, 2);
	assert_int_equal(p.next.retired_routes[0], 1);
	assert_int_equal(p.next.retired_routes[1], 2);
	assert_int_equal(p.next.n_retired_indexes, 1);
	assert_int_equal(p.next.retired_indexes[0], 2);
	assert_int_equal(p.next.generation, 2);
	assert_int_equal(p.next.n_retired, 2); /* {3} and {4} */
	assert_int_equal(p.next.retired[0].since_ms, 42);
	assert_int_equal(p.counts.svc_writes, 3);
	assert_int_equal(p.counts.set_writes, 2);
	assert_int_equal(p.counts.sets_reused, 2); /* {1,2} and {5,6} */
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

static void test_plan_weight_change_is_one_write(void **state)
{
	struct world w;
	struct bpfmesh_image img;
	struct apply_plan p;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	build_image(&img, v1_weights, N_SPECS(v1_weights));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0, NULL, &p), 0);
	/* One route written, one word published: nothing else. */
	assert_int_equal(p.n_steps, 2);
	assert_int_equal(p.steps[0].map, APPLY_MAP_ROUTES);
	assert_int_equal(p.steps[0].n, 1);
	assert_int_equal(p.steps[1].map, APPLY_MAP_SVC_HEADS);
	assert_int_equal(p.steps[1].kind, STEP_PUBLISH);
	assert_int_equal(p.steps[1].n, 1);
	assert_int_equal(p.next.n_retired, 0);
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

static void test_plan_noop_keeps_generation(void **state)
{
	struct world w;
	struct bpfmesh_image img;
	struct apply_plan p;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0, NULL, &p), 0);
	assert_int_equal(p.n_steps, 0);
	assert_int_equal(p.next.generation, w.a.state.generation);
	assert_state_equal(&p.next, &w.a.state, true);
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

static void test_plan_rejects_unsorted_image(void **state)
{
	struct apply_state empty = { .next_set_id = 1 };
	const struct svc_spec backwards[] = { v1[1], v1[0] };
	struct bpfmesh_image img;
	struct apply_plan p;

	build_image(&img, backwards, 2);
	assert_int_equal(apply_plan_build(&empty, &img, 0, NULL, &p), -EINVAL);
	free_image(&img);
}

/* ---- exec: rollback at every step ---- */

/* Number of element writes and deletes applying `to` over `from` takes. */
static long count_mutations(const struct svc_spec *from, int n_from, const struct svc_spec *to,
			    int n_to, bool health)
{
	struct world w;
	long n;

	world_init_sized(&w, health, T_MAX_EPS);
	if (n_from)
		assert_int_equal(apply_specs(&w, from, n_from, -1), 0);
	assert_int_equal(apply_specs(&w, to, n_to, -1), 0);
	n = w.k.mutations;
	world_free(&w);
	return n;
}

static void check_rollback_everywhere(const struct svc_spec *from, int n_from,
				      const struct svc_spec *to, int n_to, long expected,
				      bool health)
{
	long total = count_mutations(from, n_from, to, n_to, health), i;
	struct world done;

	assert_int_equal(total, expected);
	/* What a clean apply leaves, to compare the retried one with. */
	world_init_sized(&done, health, T_MAX_EPS);
	if (n_from)
		assert_int_equal(apply_specs(&done, from, n_from, -1), 0);
	assert_int_equal(apply_specs(&done, to, n_to, -1), 0);

	for (i = 0; i < total; i++) {
		struct fake_kernel before;
		struct apply_state saved;
		struct world w;

		world_init_sized(&w, health, T_MAX_EPS);
		if (n_from)
			assert_int_equal(apply_specs(&w, from, n_from, -1), 0);
		fake_kernel_copy(&before, &w.k);
		saved = state_copy(&w.a.state);

		assert_int_equal(apply_specs(&w, to, n_to, i), -ENOSPC);
		assert_maps_equal(&w.k, &before);
		assert_state_equal(&w.a.state, &saved, true);

		/* The failure is gone: the same apply now succeeds, and leaves
		 * what a clean apply leaves (retirement times aside). */
		assert_int_equal(apply_specs(&w, to, n_to, -1), 0);
		assert_maps_equal(&w.k, &done.k);
		assert_state_equal(&w.a.state, &done.a.state, false);

		apply_state_free(&saved);
		fake_kernel_free(&before);
		world_free(&w);
	}
	world_free(&done);
}

/* Every write of a first apply, each failing in turn: the maps stay empty. */
static void test_rollback_first_apply(void **state)
{
	check_rollback_everywhere(NULL, 0, v1, N_SPECS(v1), 6 + 7 + 3 + 3 + 3, false);
}

/* v1 -> v2: fresh slots, new names, two routes, a new head and key, the
 * switch, a removed service, stale names; a failure at each of the 13
 * leaves v1 whole. */
static void test_rollback_every_step(void **state)
{
	check_rollback_everywhere(v1, N_SPECS(v1), v2, N_SPECS(v2),
				  3 + 2 + 2 + 1 + 1 + 1 + 1 + 2, false);
}

/* v2 -> v1: the reverse, which re-adds a service and deletes one. */
static void test_rollback_every_step_reverse(void **state)
{
	check_rollback_everywhere(v2, N_SPECS(v2), v1, N_SPECS(v1),
				  2 + 2 + 2 + 1 + 1 + 1 + 1 + 2, false);
}

/* With the health maps: each slot step of a first apply fails in turn too
 * (6 endpoints: counters and owners; 4 clusters: state, histograms and
 * config), and the arrays are left as they were. */
static void test_rollback_first_apply_health(void **state)
{
	check_rollback_everywhere(NULL, 0, v1, N_SPECS(v1),
				  6 + 6 + 4 + 4 + 4 + 6 + 7 + 3 + 3 + 3, true);
}

/* v1 -> v2 with health: endpoints 7 and 8 are new (counters, owners),
 * cluster svc4/v1 is new (state, histograms, config), svc1/v2's config
 * changes (2 endpoints now); of svc2's names only "svc2" goes stale, the
 * retired cluster svc2/v1 keeps its name. */
static void test_rollback_every_step_health(void **state)
{
	check_rollback_everywhere(v1, N_SPECS(v1), v2, N_SPECS(v2),
				  2 + 2 + 1 + 1 + 2 + 3 + 2 + 2 + 1 + 1 + 1 + 1 + 1, true);
}

/* With the loadBalancer maps, every set asking for a Maglev table of 7:
 * each fresh set's table (7 entries and a header) and each cluster's
 * policy fail in turn too. First apply: 4 sets, 4 clusters. */
static void test_rollback_first_apply_lb(void **state)
{
	t_lb_table = 7;
	check_rollback_everywhere(NULL, 0, v1, N_SPECS(v1),
				  6 + 6 + 4 + 4 + 4 + 6 + 4 * 8 + 4 + 7 + 3 + 3 + 3, true);
	t_lb_table = 0;
}

/* v1 -> v2: two fresh sets ({3,7} and {8}) get tables, the new cluster
 * svc4/v1 its policy; unchanged clusters write nothing. */
static void test_rollback_every_step_lb(void **state)
{
	t_lb_table = 7;
	check_rollback_everywhere(v1, N_SPECS(v1), v2, N_SPECS(v2),
				  2 + 2 + 1 + 1 + 2 + 3 + 2 * 8 + 1 + 2 + 2 + 1 + 1 + 1 + 1 + 1, true);
	t_lb_table = 0;
}

/* The same failures with the unordered steps on two threads (exec.c): a
 * failure on one lane stops the other, and both lanes' writes are undone. */
static void test_rollback_concurrent_lanes(void **state)
{
	struct map_ops concurrent = fake_map_ops;

	concurrent.concurrent = true;
	t_ops = &concurrent;
	test_rollback_first_apply_health(state);
	test_rollback_every_step_health(state);
	test_rollback_first_apply_lb(state);
	test_rollback_every_step_lb(state);
	t_ops = &fake_map_ops;
}

/* The live set of the state whose first slot is endpoint 127.1.0.ep. */
static const struct live_set *set_of(const struct apply_state *s, int ep)
{
	size_t i;

	for (i = 0; i < s->n_sets; i++)
		if (s->sets[i].slots[0].addr[0] == htonl(0x7f010000 | ep))
			return &s->sets[i];
	fail_msg("no set starts with endpoint %d", ep);
	return NULL;
}

/* Tables are keyed by set: written with it (header: length and kind,
 * entries: slots of the set), deleted with it after the grace period; the
 * policy of each cluster slot says MAGLEV, equal weights, its size. */
static void test_lb_tables_follow_their_sets(void **state)
{
	struct lbtab_key key = { .idx = BPFMESH_LB_TABLE_HDR };
	struct lbtab_val hdr, ent;
	struct lb_policy pol;
	const struct live_set *ls;
	__u32 cl = 1;
	struct world w;

	t_lb_table = 7;
	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.k.maps[w.fds[APPLY_MAP_LB_TABLES] - FAKE_FD_BASE].n, 4 * 8);
	ls = set_of(&w.a.state, 1);
	assert_int_equal(ls->table_kind, BPFMESH_LB_MAGLEV);
	assert_int_equal(ls->table_len, 7);
	key.set_id = ls->id;
	assert_int_equal(fake_lookup(w.fds[APPLY_MAP_LB_TABLES], &key, &hdr), 0);
	assert_int_equal(hdr.slot, 7);
	assert_int_equal(hdr.kind, BPFMESH_LB_MAGLEV);
	for (key.idx = 0; key.idx < 7; key.idx++) {
		assert_int_equal(fake_lookup(w.fds[APPLY_MAP_LB_TABLES], &key, &ent), 0);
		assert_true(ent.slot < ls->n_slots);
	}
	assert_int_equal(fake_lookup(w.fds[APPLY_MAP_LB_POLICY], &cl, &pol), 0);
	assert_int_equal(pol.algo, BPFMESH_LB_MAGLEV);
	assert_int_equal(pol.table_size, 7);
	assert_int_equal(pol.flags, BPFMESH_LB_F_EQUAL_WEIGHTS);

	/* The same policy again writes nothing. */
	fake_reset_counters(&w.k, -1);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.k.mutations, 0);

	/* v2: two fresh sets with tables; sweeping deletes the retired two's. */
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(w.k.maps[w.fds[APPLY_MAP_LB_TABLES] - FAKE_FD_BASE].n, 6 * 8);
	applier_sweep(&w.a, true);
	assert_int_equal(w.a.state.n_retired, 0);
	assert_int_equal(w.k.maps[w.fds[APPLY_MAP_LB_TABLES] - FAKE_FD_BASE].n, 4 * 8);

	/* A new agent reads the tables and policies back: nothing to write. */
	struct applier b;

	fk = &w.k;
	assert_int_equal(applier_adopt(&b, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(applier_adopt_slots(&b, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	assert_true(b.state.lb_on);
	fake_reset_counters(&w.k, -1);
	struct bpfmesh_image img;
	struct apply_stats st;

	build_image(&img, v2, N_SPECS(v2));
	assert_int_equal(applier_apply(&b, &img, &st), 0);
	free_image(&img);
	assert_int_equal(w.k.mutations, 0);
	applier_free(&b);
	world_free(&w);
	t_lb_table = 0;
}

/* Tables that do not fit the map are refused by the plan, nothing
 * written: four sets of 70001 entries need more than the 262144 it holds. */
static void test_lb_tables_too_big_refused(void **state)
{
	struct world w;

	t_lb_table = 70001;
	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), -ENOSPC);
	assert_int_equal(w.k.mutations, 0);
	assert_int_equal(w.a.state.n_svcs, 0);
	world_free(&w);
	t_lb_table = 0;
}

/* ---- name ids ---- */

static __u32 kernel_id_of(const struct apply_state *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n_names; i++)
		if (!strcmp(s->names[i].name, name))
			return s->names[i].id;
	return 0;
}

/* The applier gives names their kernel ids: distinct, the lowest free,
 * kept while the name is in use, whatever the image numbers it. */
static void test_name_ids_allocated_and_stable(void **state)
{
	struct name_val nv;
	struct world w;
	__u32 svc3, id;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.a.state.n_names, 7);
	svc3 = kernel_id_of(&w.a.state, "svc3");
	assert_int_equal(svc3, 6); /* first use: svc1, svc1/v1, svc1/v2, svc2, svc2/v1, svc3 */
	assert_int_equal(w.a.state.svcs[2].val.service_id, svc3);
	/* v2: svc3 is image-local 4 now, its kernel id stays; svc4's names take
	 * the lowest ids free while svc2's are still in the map (8, 9). */
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(kernel_id_of(&w.a.state, "svc3"), svc3);
	assert_int_equal(kernel_id_of(&w.a.state, "svc4"), 8);
	assert_int_equal(kernel_id_of(&w.a.state, "svc4/v1"), 9);
	id = 4; /* svc2's, deleted after the switch */
	assert_int_equal(fake_lookup(w.names_fd, &id, &nv), -ENOENT);
	id = 8;
	assert_int_equal(fake_lookup(w.names_fd, &id, &nv), 0);
	assert_string_equal(nv.name, "svc4");
	world_free(&w);
}

/* ---- slots ---- */

/* Endpoint slot of 127.1.0.<ep> in cluster "svc<vip>/v<d>", or 0. */
static __u32 ep_slot_of(const struct apply_state *s, const char *cluster, int ep)
{
	__u32 i, cl = 0;

	for (i = 1; i < s->slots.max_clusters; i++)
		if (s->slots.cls[i].live && !strcmp(s->slots.cls[i].name, cluster))
			cl = i;
	for (i = 1; cl && i < s->slots.max_endpoints; i++)
		if (s->slots.eps[i].live && s->slots.eps[i].cluster_slot == cl &&
		    s->slots.eps[i].addr[0] == htonl(0x7f010000 | ep))
			return i;
	return 0;
}

/* Lowest slots first, in image order; the kernel learns them. */
static void test_slots_first_apply(void **state)
{
	struct backend_val be;
	struct backend_key k = { .set_id = 1, .slot = 1 };
	struct ep_health h;
	struct cluster_cfg cfg;
	struct name_val nv;
	struct world w;
	__u32 slot = 2, cl = 1;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(ep_slot_of(&w.a.state, "svc1/v1", 1), 1);
	assert_int_equal(ep_slot_of(&w.a.state, "svc1/v1", 2), 2);
	assert_int_equal(ep_slot_of(&w.a.state, "svc1/v2", 3), 3);
	assert_int_equal(ep_slot_of(&w.a.state, "svc3/v1", 6), 6);
	assert_int_equal(fake_lookup(w.be_fd, &k, &be), 0);
	assert_int_equal(be.slot, 2); /* backend_val carries it to connect4 */
	assert_int_equal(w.a.state.svcs[0].val.dests[1].cluster_slot, 2);
	assert_int_equal(fake_lookup(w.fds[APPLY_MAP_EP_HEALTH], &slot, &h), 0);
	assert_int_equal(h.cluster_slot, 1);
	assert_int_equal(h.addr, htonl(0x7f010002));
	assert_int_equal(h.port, htons(8080));
	assert_int_equal(fake_lookup(w.fds[APPLY_MAP_CLUSTER_CFG], &cl, &cfg), 0);
	assert_int_equal(fake_lookup(w.names_fd, &cfg.name_id, &nv), 0);
	assert_string_equal(nv.name, "svc1/v1"); /* names the slot from the maps alone */
	assert_int_equal(cfg.total_endpoints, 2);
	world_free(&w);
}

/* Kept endpoints keep their slots across versions; a removed endpoint's
 * slot is not reused within the grace period, then it is, zeroed. */
static void test_slots_stable_and_reused_after_grace(void **state)
{
	static const struct svc_spec v3[] = {
		{ 1, 2, { { 2, { 1, 2 }, 50 }, { 2, { 3, 7 }, 50 } } },
		{ 3, 1, { { 2, { 5, 6 }, 1 } } },
		{ 4, 1, { { 2, { 8, 9 }, 1 } } },
	};
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;
	__u32 old4, slot9;
	size_t i, j;
	bool zeroed = false;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	old4 = ep_slot_of(&w.a.state, "svc2/v1", 4);
	assert_int_equal(old4, 4);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(ep_slot_of(&w.a.state, "svc1/v1", 1), 1);
	assert_int_equal(ep_slot_of(&w.a.state, "svc3/v1", 5), 5);
	assert_int_equal(ep_slot_of(&w.a.state, "svc1/v2", 7), 7);  /* not 4: in grace */
	assert_int_equal(ep_slot_of(&w.a.state, "svc4/v1", 8), 8);
	assert_int_equal(w.a.state.slots.eps[old4].live, 0);

	/* Past the grace period the lowest free slot, 4, goes to 127.1.0.9. */
	build_image(&img, v3, N_SPECS(v3));
	assert_int_equal(apply_plan_build(&w.a.state, &img,
					  w.a.state.slots.eps[old4].retired_ms + APPLY_GRACE_MS,
					  NULL, &p), 0);
	slot9 = ep_slot_of(&p.next, "svc4/v1", 9);
	assert_int_equal(slot9, old4);
	for (i = 0; i < p.n_steps; i++) {
		const struct map_step *st = &p.steps[i];

		for (j = 0; st->map == APPLY_MAP_EP_COUNTERS && j < st->n; j++) {
			static const struct ep_counters_elem zero;

			if (((__u32 *)st->keys)[j] != slot9)
				continue;
			assert_int_equal(st->val_size, sizeof(zero));
			assert_memory_equal((char *)st->vals + j * st->val_size, &zero,
					    sizeof(zero));
			zeroed = true;
		}
	}
	assert_true(zeroed); /* its counters are zeroed explicitly */
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

/* An endpoint that leaves and comes back before its slot is reused gets it
 * back, counters and all (monotonic series); so does its cluster, by name. */
static void test_slots_returning_endpoint_reclaims(void **state)
{
	struct world w;
	__u32 cl;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	cl = w.a.state.svcs[1].val.dests[0].cluster_slot;
	assert_int_equal(ep_slot_of(&w.a.state, "svc2/v1", 4), 4);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.a.state.svcs[1].val.dests[0].cluster_slot, cl);
	assert_int_equal(ep_slot_of(&w.a.state, "svc2/v1", 4), 4);
	world_free(&w);
}

/* True when the plan writes zeroed counters for slot: a new owner. */
static bool plan_zeroes_counters(const struct apply_plan *p, __u32 slot)
{
	size_t i, j;

	for (i = 0; i < p->n_steps; i++)
		for (j = 0; p->steps[i].map == APPLY_MAP_EP_COUNTERS && j < p->steps[i].n; j++)
			if (((__u32 *)p->steps[i].keys)[j] == slot)
				return true;
	return false;
}

/* A cluster slot passing to another cluster drops its old endpoint owners:
 * the same address in the new cluster is a new owner, zeroed. */
static void test_slots_new_cluster_does_not_inherit(void **state)
{
	static const struct svc_spec v5[] = {
		{ 1, 2, { { 2, { 1, 2 }, 50 }, { 2, { 3, 7 }, 50 } } },
		{ 3, 1, { { 2, { 5, 6 }, 1 } } },
		{ 4, 1, { { 1, { 8 }, 1 } } },
		{ 5, 1, { { 1, { 4 }, 1 } } },
	};
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;
	__u32 old_cl;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	old_cl = w.a.state.svcs[1].val.dests[0].cluster_slot; /* svc2/v1 */
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	build_image(&img, v5, N_SPECS(v5));
	assert_int_equal(apply_plan_build(&w.a.state, &img,
					  w.a.state.slots.cls[old_cl].retired_ms + APPLY_GRACE_MS,
					  NULL, &p), 0);
	assert_int_equal(p.next.svcs[3].val.dests[0].cluster_slot, old_cl); /* svc5/v1 */
	assert_int_equal(ep_slot_of(&p.next, "svc5/v1", 4), 4);
	assert_true(plan_zeroes_counters(&p, 4)); /* a new owner, not svc2's */
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

static bool plan_has_step(const struct apply_plan *p, enum apply_map map)
{
	size_t i;

	for (i = 0; i < p->n_steps; i++)
		if (p->steps[i].map == map)
			return true;
	return false;
}

/* Health maps this agent just created hold zeroes: the first plan writes
 * the owners and configs of its slots, not zeroes; once anything was
 * written, a new owner's slot is zeroed again. */
static void test_slots_fresh_maps_not_zeroed(void **state)
{
	static const struct svc_spec v6[] = {
		{ 1, 2, { { 2, { 1, 2 }, 90 }, { 2, { 3, 7 }, 10 } } },
		{ 2, 1, { { 1, { 4 }, 1 } } },
		{ 3, 1, { { 2, { 5, 6 }, 1 } } },
		{ 4, 1, { { 1, { 9 }, 1 } } },
	};
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;
	__u32 slot9;

	world_init_sized(&w, true, T_MAX_EPS);
	w.a.maps_fresh = true;
	assert_int_equal(applier_adopt_slots(&w.a, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	assert_true(w.a.state.slots.known_zero);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 1000, NULL, &p), 0);
	assert_false(plan_has_step(&p, APPLY_MAP_EP_COUNTERS));
	assert_false(plan_has_step(&p, APPLY_MAP_CLUSTER_STATE));
	assert_false(plan_has_step(&p, APPLY_MAP_CLUSTER_HISTS));
	assert_true(plan_has_step(&p, APPLY_MAP_EP_HEALTH));
	assert_true(plan_has_step(&p, APPLY_MAP_CLUSTER_CFG));
	apply_plan_free(&p);
	free_image(&img);

	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_false(w.a.state.slots.known_zero); /* written: no longer a given */
	assert_int_equal(ep_slot_of(&w.a.state, "svc2/v1", 4), 4);
	build_image(&img, v6, N_SPECS(v6));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 2000, NULL, &p), 0);
	slot9 = ep_slot_of(&p.next, "svc4/v1", 9);
	assert_true(slot9 != 0);
	assert_true(plan_zeroes_counters(&p, slot9));
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

/* A rolled-back first apply leaves the maps as they were, but the counters
 * of a slot it published may have counted meanwhile: zero them next time. */
static void test_slots_fresh_maps_rollback_forgets_zeroes(void **state)
{
	struct world w;
	struct bpfmesh_image img;
	struct apply_plan p;

	world_init_sized(&w, true, T_MAX_EPS);
	w.a.maps_fresh = true;
	assert_int_equal(applier_adopt_slots(&w.a, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	assert_int_not_equal(apply_specs(&w, v1, N_SPECS(v1), 3), 0);
	assert_false(w.a.state.slots.known_zero);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 1000, NULL, &p), 0);
	assert_true(plan_zeroes_counters(&p, 1));
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

/* A restarted agent reads the owners back: same slots, nothing to write. */
static void test_slots_recovered_on_adopt(void **state)
{
	struct bpfmesh_image img;
	struct apply_plan p;
	struct applier b;
	struct world w;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(applier_adopt(&b, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(applier_adopt_slots(&b, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	assert_state_equal(&b.state, &w.a.state, true);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&b.state, &img, 0, NULL, &p), 0);
	assert_int_equal(p.n_steps, 0);
	apply_plan_free(&p);
	free_image(&img);
	applier_free(&b);
	world_free(&w);
}

/* A canary: svc1 50/50 over subsets v1 {1} and v2 {2}; then v2 leaves. */
static const struct svc_spec canary[] = {
	{ 1, 2, { { 1, { 1 }, 50 }, { 1, { 2 }, 50 } } },
};
static const struct svc_spec canary_done[] = {
	{ 1, 1, { { 1, { 1 }, 1 } } },
};

/* True when the names map holds name under id. */
static bool names_map_has(const struct world *w, __u32 id, const char *name)
{
	struct name_val nv;

	return fake_lookup(w->names_fd, &id, &nv) == 0 && !strcmp(nv.name, name);
}

/* The cluster slot whose config names kernel name id, or 0. */
static __u32 cluster_slot_named(const struct apply_state *s, __u32 id)
{
	__u32 i;

	for (i = 1; i < s->slots.max_clusters; i++)
		if (s->slots.cls[i].cfg.name_id == id)
			return i;
	return 0;
}

/* A cluster that left the policy keeps its name, under the same id, for as
 * long as its slot (and counters) are retired: stats and /metrics still
 * label it. Once the slot passes to a new cluster, the name goes. */
static void test_retired_cluster_keeps_its_name(void **state)
{
	static const struct svc_spec next[] = {
		{ 1, 1, { { 1, { 1 }, 1 } } },
		{ 2, 1, { { 1, { 4 }, 1 } } },
	};
	struct world w;
	__u32 id, slot;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, canary, N_SPECS(canary), -1), 0);
	id = kernel_id_of(&w.a.state, "svc1/v2");
	assert_int_not_equal(id, 0);
	slot = cluster_slot_named(&w.a.state, id);
	assert_int_not_equal(slot, 0);
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	assert_int_equal(w.a.state.slots.cls[slot].live, 0);
	assert_int_equal(w.a.state.slots.cls[slot].cfg.name_id, id);
	assert_int_equal(kernel_id_of(&w.a.state, "svc1/v2"), id);
	assert_true(names_map_has(&w, id, "svc1/v2"));
	/* Applying again within the grace period changes nothing. */
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	assert_true(names_map_has(&w, id, "svc1/v2"));

	/* Past the grace period, svc2/v1 takes the slot: the old name goes. */
	w.a.state.slots.cls[slot].retired_ms -= APPLY_GRACE_MS;
	assert_int_equal(apply_specs(&w, next, N_SPECS(next), -1), 0);
	assert_int_equal(cluster_slot_named(&w.a.state, kernel_id_of(&w.a.state, "svc2/v1")),
			 slot);
	assert_int_equal(kernel_id_of(&w.a.state, "svc1/v2"), 0);
	assert_false(names_map_has(&w, id, "svc1/v2"));
	world_free(&w);
}

/* A restarted agent keeps a retired cluster's name: nothing is deleted or
 * renumbered, and the subset coming back gets its old id and slot. */
static void test_retired_cluster_name_survives_adopt(void **state)
{
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;
	__u32 id, slot;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, canary, N_SPECS(canary), -1), 0);
	id = kernel_id_of(&w.a.state, "svc1/v2");
	slot = cluster_slot_named(&w.a.state, id);
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	applier_free(&w.a);
	assert_int_equal(applier_adopt(&w.a, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(applier_adopt_slots(&w.a, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	build_image(&img, canary_done, N_SPECS(canary_done));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0, NULL, &p), 0);
	assert_int_equal(p.n_steps, 0);
	assert_int_equal(kernel_id_of(&p.next, "svc1/v2"), id);
	apply_plan_free(&p);
	free_image(&img);
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	assert_true(names_map_has(&w, id, "svc1/v2"));
	/* Back at 50/50: same id, and its retired slot (counters) back by name. */
	assert_int_equal(apply_specs(&w, canary, N_SPECS(canary), -1), 0);
	assert_int_equal(kernel_id_of(&w.a.state, "svc1/v2"), id);
	assert_int_equal(w.a.state.svcs[0].val.dests[1].cluster_slot, slot);
	assert_int_equal(w.a.state.slots.cls[slot].live, 1);
	world_free(&w);
}

/* An older agent deleted a retired cluster's name at once and may have
 * given its id to another cluster: such a slot is not claimed by name. */
static void test_adopt_doubtful_retired_name_not_claimed(void **state)
{
	struct cluster_cfg cfg;
	struct world w;
	__u32 v1_id, v2_slot;
	size_t done;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, canary, N_SPECS(canary), -1), 0);
	v1_id = kernel_id_of(&w.a.state, "svc1/v1");
	v2_slot = cluster_slot_named(&w.a.state, kernel_id_of(&w.a.state, "svc1/v2"));
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	assert_int_equal(fake_lookup(w.fds[APPLY_MAP_CLUSTER_CFG], &v2_slot, &cfg), 0);
	cfg.name_id = v1_id; /* the retired slot's id now names svc1/v1 too */
	assert_int_equal(fake_update_many(w.fds[APPLY_MAP_CLUSTER_CFG], &v2_slot,
					  sizeof(v2_slot), &cfg, sizeof(cfg), 1, &done), 0);
	applier_free(&w.a);
	assert_int_equal(applier_adopt(&w.a, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(applier_adopt_slots(&w.a, w.fds, T_MAX_EPS, T_MAX_CLUSTERS, T_NCPU), 0);
	assert_string_equal(w.a.state.slots.cls[v2_slot].name, "");
	assert_string_equal(w.a.state.slots.cls[cluster_slot_named(&w.a.state, v1_id)].name,
			    "svc1/v1");
	assert_int_equal(apply_specs(&w, canary_done, N_SPECS(canary_done), -1), 0);
	assert_int_equal(w.a.state.svcs[0].val.dests[0].cluster_slot,
			 cluster_slot_named(&w.a.state, v1_id));
	world_free(&w);
}

/* Dropping the canary's subset, a failure at each mutation in turn. */
static void test_rollback_retired_cluster(void **state)
{
	check_rollback_everywhere(canary, N_SPECS(canary), canary_done, N_SPECS(canary_done),
				  1 + 1, true);
}

/* More endpoints than slots: refused before anything is written, naming
 * the limit and the option. */
static void test_slots_limit_refused(void **state)
{
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;

	world_init_sized(&w, true, 4); /* 3 endpoint slots for 6 endpoints */
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), -ENOSPC);
	assert_int_equal(w.k.mutations, 0);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0, NULL, &p), -ENOSPC);
	assert_non_null(strstr(p.error, "needs 6 endpoint slots"));
	assert_non_null(strstr(p.error, "hold 3"));
	assert_non_null(strstr(p.error, "--max-endpoints"));
	free_image(&img);
	world_free(&w);
}

/* An ejected endpoint is left out of its set (weights renormalised over the
 * others), its cluster keeping its full size; not in panic only. */
static void test_ejected_left_out_unless_panic(void **state)
{
	struct bpfmesh_image img;
	struct apply_plan p;
	struct world w;
	const struct svc_dest *d;

	world_init_health(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(applier_set_ejected(&w.a, ep_slot_of(&w.a.state, "svc1/v1", 1), true), 0);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	d = &w.a.state.svcs[0].val.dests[0];
	assert_int_equal(d->n_slots, 1);
	assert_int_equal(d->set_weight, 1);
	assert_int_equal(w.a.state.slots.cls[d->cluster_slot].cfg.total_endpoints, 2);

	/* minHealthPercent 100: one of two ejected is panic, both are used. */
	build_image(&img, v1, N_SPECS(v1));
	img.sets[0].cfg.min_health_percent = 100;
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0,
					  &(struct plan_ejected){ .slots = w.a.ejected, .n = w.a.n_ejected },
					  &p), 0);
	assert_int_equal(p.next.svcs[0].val.dests[0].n_slots, 2);
	assert_int_equal(p.counts.ejected_out, 0);
	apply_plan_free(&p);
	free_image(&img);
	world_free(&w);
}

/* ---- adoption and the sweep ---- */

/* A new applier reading the maps believes what the writer believed. */
static void test_adopt_reads_back_state(void **state)
{
	struct world w;
	struct applier b;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(applier_adopt(&b, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_state_equal(&b.state, &w.a.state, true);
	applier_free(&b);
	world_free(&w);
}

/* Sets of an interrupted apply (slots no service names) are retired on
 * adoption, and the sweep deletes them. */
static void test_adopt_retires_orphans(void **state)
{
	struct backend_key k = { .set_id = 99, .slot = 2 };
	struct backend_val v = {};
	struct world w;
	struct applier b;
	size_t done;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(fake_update_many(w.be_fd, &k, sizeof(k), &v, sizeof(v), 1, &done), 0);
	assert_int_equal(applier_adopt(&b, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(b.state.n_retired, 1);
	assert_int_equal(b.state.retired[0].id, 99);
	assert_int_equal(b.state.retired[0].n_slots, 3);
	assert_int_equal(b.state.next_set_id, 100);
	applier_sweep(&b, true);
	assert_int_equal(b.state.n_retired, 0);
	assert_int_equal(fake_lookup(w.be_fd, &k, &v), -ENOENT);
	assert_int_equal(w.k.maps[T_BE_MAP].n, 6);
	applier_free(&b);
	world_free(&w);
}

/* A retired set the kernel fails to delete stays retired and is retried. */
static void test_sweep_keeps_what_it_could_not_delete(void **state)
{
	struct world w;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(w.a.state.n_retired, 2);
	assert_int_equal(w.k.maps[T_BE_MAP].n, 9); /* 6 of v1 + 3 fresh */
	fake_reset_counters(&w.k, 2); /* after the two retired routes' deletes */
	applier_sweep(&w.a, true);
	assert_int_equal(w.a.state.n_retired, 1);
	assert_int_equal(w.k.maps[T_BE_MAP].n, 8);
	fake_reset_counters(&w.k, -1);
	applier_sweep(&w.a, true);
	assert_int_equal(w.a.state.n_retired, 0);
	assert_int_equal(w.k.maps[T_BE_MAP].n, 7); /* {1,2} {3,7} {5,6} {8} */
	world_free(&w);
}

/* Without force, a set younger than the grace period stays. */
static void test_sweep_waits_for_grace(void **state)
{
	struct world w;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	applier_sweep(&w.a, false);
	assert_int_equal(w.a.state.n_retired, 2);
	assert_int_equal(w.k.maps[T_BE_MAP].n, 9);
	world_free(&w);
}

/* ---- routes and service indexes: reused only after a grace period ---- */

static __u32 head_of(struct world *w, __u32 index)
{
	struct svc_head h;

	assert_int_equal(fake_lookup(w->svc.heads_fd, &index, &h), 0);
	return h.route_id;
}

static bool route_exists(struct world *w, __u32 id)
{
	struct svc_val v;

	return fake_lookup(w->svc.routes_fd, &id, &v) == 0;
}

/* v1 -> v2 retires svc1's old route (1), svc2's route (2) and svc2's index
 * (2). They stay while a connect may read them; the next apply first
 * waits for readers, once, before any write: then the routes are deleted
 * and the index is free for a new service. */
static void test_routes_reused_only_after_grace(void **state)
{
	static const struct svc_spec v3[] = {
		{ 1, 2, { { 2, { 1, 2 }, 50 }, { 2, { 3, 7 }, 50 } } },
		{ 3, 1, { { 2, { 5, 6 }, 1 } } },
		{ 4, 1, { { 1, { 8 }, 1 } } },
		{ 5, 1, { { 1, { 9 }, 1 } } },
	};
	struct world w;
	long waits;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	waits = w.k.waits;
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(w.k.waits, waits); /* nothing was retired before */
	assert_int_equal(w.a.state.n_retired_routes, 2);
	assert_int_equal(w.a.state.n_retired_indexes, 1);
	assert_true(route_exists(&w, 1) && route_exists(&w, 2));
	assert_int_equal(head_of(&w, 1), 4); /* svc1 switched to its new route */
	assert_int_equal(w.a.state.svcs[2].index, 4); /* svc4: not svc2's index */

	assert_int_equal(apply_specs(&w, v3, N_SPECS(v3), -1), 0);
	assert_int_equal(w.k.waits, waits + 1);
	assert_int_equal(w.k.mutations_at_wait, 0); /* before anything was written */
	assert_false(route_exists(&w, 1) || route_exists(&w, 2));
	assert_int_equal(w.a.state.n_retired_routes, 0);
	assert_int_equal(w.a.state.n_retired_indexes, 0);
	assert_int_equal(w.a.state.svcs[3].index, 2); /* svc5 takes svc2's, free now */
	assert_int_equal(head_of(&w, 2), w.a.state.svcs[3].route_id);
	world_free(&w);
}

/* No grace period, no write: the apply is refused and nothing changes. */
static void test_apply_refused_when_wait_fails(void **state)
{
	struct world w;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	w.k.wait_err = -EINTR;
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), -EINTR);
	assert_int_equal(w.k.mutations, 0);
	assert_int_equal(w.a.state.n_retired_routes, 2);
	w.k.wait_err = 0;
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.a.state.n_retired_routes, 2); /* v2's svc1, svc4 routes */
	world_free(&w);
}

/* A weight change: one route inserted, one head word stored; the old
 * route stays readable until the grace period. */
static void test_weight_change_publishes_one_word(void **state)
{
	struct world w;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v1_weights, N_SPECS(v1_weights), -1), 0);
	assert_int_equal(w.k.mutations, 2);
	assert_int_equal(head_of(&w, w.a.state.svcs[0].index), 4);
	assert_int_equal(w.a.state.svcs[0].route_id, 4);
	assert_true(route_exists(&w, 1));
	assert_int_equal(w.a.state.n_retired_routes, 1);
	world_free(&w);
}

/* Weight changes back and forth only retire routes, which stay in their
 * map: no apply waits for readers (the agent sweeps when idle), and no
 * fresh route takes a retired id. The sweep then waits once and deletes
 * them. Removing a service deletes its key: the next apply waits first. */
static void test_weight_changes_do_not_wait(void **state)
{
	struct world w;
	__u32 before;
	int round;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	w.k.waits = 0;
	for (round = 0; round < 4; round++) {
		before = w.a.state.svcs[0].route_id;
		assert_int_equal(apply_specs(&w, round % 2 ? v1 : v1_weights,
					     round % 2 ? N_SPECS(v1) : N_SPECS(v1_weights), -1), 0);
		assert_false(applier_must_wait(&w.a));
		assert_int_not_equal(w.a.state.svcs[0].route_id, before);
		assert_true(route_exists(&w, before)); /* retired, still readable */
		assert_int_equal(head_of(&w, w.a.state.svcs[0].index),
				 w.a.state.svcs[0].route_id);
	}
	assert_int_equal(w.k.waits, 0);
	assert_int_equal(w.a.state.n_retired_routes, 4);
	assert_int_equal(applier_sweep(&w.a, false), 0);
	assert_int_equal(w.k.waits, 1);
	assert_int_equal(w.a.state.n_retired_routes, 0);
	assert_false(route_exists(&w, before));

	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0); /* removes svc2 */
	assert_true(applier_must_wait(&w.a));
	fake_reset_counters(&w.k, -1);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(w.k.waits, 2);
	assert_int_equal(w.k.mutations_at_wait, 0); /* before anything was written */
	world_free(&w);
}

/* A sweep whose wait runs on another thread (agent.c): the ticket covers
 * what was retired when it was taken; a route and sets retired by an
 * apply made during the wait are still readable by connects that started
 * after the wait began, so the finish keeps them for the next ticket. The
 * finish itself does not wait. */
static void test_sweep_ticket_deletes_only_what_it_covers(void **state)
{
	static const struct svc_spec v2_set3[] = { /* v2 with svc1's {3,7} back to {3} */
		{ 1, 2, { { 2, { 1, 2 }, 50 }, { 1, { 3 }, 50 } } },
		{ 3, 1, { { 2, { 5, 6 }, 1 } } },
		{ 4, 1, { { 1, { 8 }, 1 } } },
	};
	struct sweep_ticket t;
	struct world w;
	__u32 first, second;
	long waits;
	size_t i;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_false(applier_sweep_begin(&w.a, &t)); /* nothing retired */
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(applier_sweep(&w.a, false), 0); /* svc2's index freed */
	first = w.a.state.svcs[0].route_id;
	assert_int_equal(apply_specs(&w, v2_set3, N_SPECS(v2_set3), -1), 0);
	assert_false(applier_must_wait(&w.a));
	for (i = 0; i < w.a.state.n_retired; i++)
		w.a.state.retired[i].since_ms -= 2 * APPLY_GRACE_MS; /* due now */
	size_t old_sets = w.a.state.n_retired, old_routes = w.a.state.n_retired_routes;

	assert_true(applier_sweep_begin(&w.a, &t));
	/* during the wait: svc1 changes again, retiring a route and a set */
	second = w.a.state.svcs[0].route_id;
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_true(w.a.state.n_retired > old_sets);
	assert_int_equal(w.a.state.n_retired_routes, old_routes + 1);
	/* the wait took 2 s: sets retired during it are due by the clock now,
	 * but their readers may have started after the wait began */
	for (i = 0; i < w.a.state.n_retired; i++)
		w.a.state.retired[i].since_ms -= 2 * APPLY_GRACE_MS;
	t.now_ms -= 2 * APPLY_GRACE_MS;
	waits = w.k.waits;
	applier_sweep_finish(&w.a, &t);
	assert_int_equal(w.k.waits, waits);
	assert_false(route_exists(&w, first));
	assert_true(route_exists(&w, second));
	assert_int_equal(w.a.state.n_retired_routes, 1);
	for (i = 0; i < w.a.state.n_retired; i++) /* only the ones retired during it */
		assert_true(w.a.state.retired[i].since_ms >= t.now_ms);
	assert_true(w.a.state.n_retired > 0);
	world_free(&w);
}

/* An apply that must wait sweeps itself during the thread's wait: the
 * ticket is then stale and its finish deletes nothing. */
static void test_sweep_ticket_stale_after_sweep(void **state)
{
	struct sweep_ticket t;
	struct world w;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_true(applier_sweep_begin(&w.a, &t));
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0); /* waits, sweeps */
	assert_int_equal(w.a.state.n_retired_routes, 2); /* v2's svc1, svc4 routes */
	fake_reset_counters(&w.k, -1);
	applier_sweep_finish(&w.a, &t);
	assert_int_equal(w.k.mutations, 0);
	assert_int_equal(w.a.state.n_retired_routes, 2);
	world_free(&w);
}

static void own_endpoint(struct apply_slots *s, __u32 slot, __u32 cl, __u8 last, __u16 port)
{
	s->eps[slot] = (struct ep_owner){ .cluster_slot = cl, .port = htons(port),
					  .family = AF_INET };
	s->eps[slot].addr[0] = htonl(0x0a000000 | last);
}

static __u32 find_endpoint(const struct slot_index *ix, __u32 cl, __u8 last, __u16 port)
{
	struct slot_key k = { .cluster_slot = cl, .port = htons(port), .family = AF_INET };

	k.addr[0] = htonl(0x0a000000 | last);
	return slot_index_find(ix, &k);
}

/* The endpoint index groups owners by cluster slot: each is found in its
 * own cluster only, an owner held twice gives its lowest slot, and a
 * cluster slot past the table (adopted from a larger map) is found too. */
static void test_endpoint_index(void **state)
{
	struct apply_slots s;
	struct slot_index ix;

	assert_int_equal(slots_init(&s, 16, 4, 1), 0);
	own_endpoint(&s, 3, 2, 1, 80);
	own_endpoint(&s, 5, 1, 1, 80);
	own_endpoint(&s, 7, 2, 2, 80);
	own_endpoint(&s, 9, 2, 1, 81);
	own_endpoint(&s, 11, 1, 1, 80); /* the same owner as slot 5 */
	own_endpoint(&s, 14, 6, 4, 80); /* cluster slot 6 > max_clusters */
	assert_int_equal(slot_index_endpoints(&s, &ix), 0);
	assert_int_equal(ix.n, 6);
	assert_int_equal(find_endpoint(&ix, 2, 1, 80), 3);
	assert_int_equal(find_endpoint(&ix, 1, 1, 80), 5);
	assert_int_equal(find_endpoint(&ix, 2, 2, 80), 7);
	assert_int_equal(find_endpoint(&ix, 2, 1, 81), 9);
	assert_int_equal(find_endpoint(&ix, 6, 4, 80), 14);
	assert_int_equal(find_endpoint(&ix, 1, 2, 80), 0); /* in cluster 2, not 1 */
	assert_int_equal(find_endpoint(&ix, 3, 1, 80), 0);
	assert_int_equal(find_endpoint(&ix, 7, 4, 80), 0);
	assert_int_equal(find_endpoint(&ix, 0xffffffff, 4, 80), 0);
	slot_index_free(&ix);
	slots_free(&s);
}

/* A new agent reads services through the heads, retires the routes no
 * head names and waits for readers before its first write. */
static void test_adopt_recovers_routes(void **state)
{
	struct world w;
	struct applier b;
	size_t i;

	world_init(&w);
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), 0);
	assert_int_equal(apply_specs(&w, v2, N_SPECS(v2), -1), 0);
	assert_int_equal(applier_adopt(&b, &fake_map_ops, &w.svc, w.be_fd, w.names_fd), 0);
	assert_int_equal(b.state.n_svcs, w.a.state.n_svcs);
	for (i = 0; i < b.state.n_svcs; i++) {
		assert_int_equal(b.state.svcs[i].index, w.a.state.svcs[i].index);
		assert_int_equal(b.state.svcs[i].route_id, w.a.state.svcs[i].route_id);
		assert_memory_equal(&b.state.svcs[i].val, &w.a.state.svcs[i].val,
				    sizeof(struct svc_val));
	}
	assert_int_equal(b.state.n_retired_routes, 2);
	assert_int_equal(b.state.next_route_id, 6);
	assert_int_equal(b.state.max_services, T_MAX_SVCS);
	assert_true(b.wait_pending);
	w.k.waits = 0;
	assert_int_equal(applier_sweep(&b, false), 0);
	assert_int_equal(w.k.waits, 1);
	assert_false(route_exists(&w, 1) || route_exists(&w, 2));
	applier_free(&b);
	world_free(&w);
}

/* More services than indexes: refused before anything is written. */
static void test_services_limit_refused(void **state)
{
	struct world w;
	struct bpfmesh_image img;
	struct apply_plan p;

	world_init(&w);
	w.a.state.max_services = 3; /* indexes 1 and 2 for 3 services */
	assert_int_equal(apply_specs(&w, v1, N_SPECS(v1), -1), -ENOSPC);
	assert_int_equal(w.k.mutations, 0);
	build_image(&img, v1, N_SPECS(v1));
	assert_int_equal(apply_plan_build(&w.a.state, &img, 0, NULL, &p), -ENOSPC);
	assert_non_null(strstr(p.error, "3 services, the services maps hold 2"));
	free_image(&img);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_first_apply_writes_everything),
		cmocka_unit_test(test_routes_reused_only_after_grace),
		cmocka_unit_test(test_apply_refused_when_wait_fails),
		cmocka_unit_test(test_weight_change_publishes_one_word),
		cmocka_unit_test(test_weight_changes_do_not_wait),
		cmocka_unit_test(test_endpoint_index),
		cmocka_unit_test(test_adopt_recovers_routes),
		cmocka_unit_test(test_services_limit_refused),
		cmocka_unit_test(test_plan_orders_steps),
		cmocka_unit_test(test_plan_weight_change_is_one_write),
		cmocka_unit_test(test_plan_noop_keeps_generation),
		cmocka_unit_test(test_plan_rejects_unsorted_image),
		cmocka_unit_test(test_rollback_first_apply),
		cmocka_unit_test(test_rollback_every_step),
		cmocka_unit_test(test_rollback_every_step_reverse),
		cmocka_unit_test(test_rollback_first_apply_health),
		cmocka_unit_test(test_rollback_every_step_health),
		cmocka_unit_test(test_rollback_first_apply_lb),
		cmocka_unit_test(test_rollback_every_step_lb),
		cmocka_unit_test(test_rollback_concurrent_lanes),
		cmocka_unit_test(test_lb_tables_follow_their_sets),
		cmocka_unit_test(test_lb_tables_too_big_refused),
		cmocka_unit_test(test_name_ids_allocated_and_stable),
		cmocka_unit_test(test_slots_first_apply),
		cmocka_unit_test(test_slots_stable_and_reused_after_grace),
		cmocka_unit_test(test_slots_returning_endpoint_reclaims),
		cmocka_unit_test(test_slots_new_cluster_does_not_inherit),
		cmocka_unit_test(test_slots_recovered_on_adopt),
		cmocka_unit_test(test_slots_fresh_maps_not_zeroed),
		cmocka_unit_test(test_slots_fresh_maps_rollback_forgets_zeroes),
		cmocka_unit_test(test_slots_limit_refused),
		cmocka_unit_test(test_retired_cluster_keeps_its_name),
		cmocka_unit_test(test_retired_cluster_name_survives_adopt),
		cmocka_unit_test(test_rollback_retired_cluster),
		cmocka_unit_test(test_adopt_doubtful_retired_name_not_claimed),
		cmocka_unit_test(test_ejected_left_out_unless_panic),
		cmocka_unit_test(test_adopt_reads_back_state),
		cmocka_unit_test(test_adopt_retires_orphans),
		cmocka_unit_test(test_sweep_keeps_what_it_could_not_delete),
		cmocka_unit_test(test_sweep_waits_for_grace),
		cmocka_unit_test(test_sweep_ticket_deletes_only_what_it_covers),
		cmocka_unit_test(test_sweep_ticket_stale_after_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
