// SPDX-License-Identifier: Apache-2.0
/* Stable workload identity ids (user/agent/identity_ids.c): a workload keeps
 * its id when another is added before it in (namespace, name) order, a new
 * one takes the lowest id no record holds, a removed one's id is not given
 * to another until BPFMESH_ID_RETIRE_S passed, and a full table gives up the
 * oldest retired ids first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/identity_ids.h"

#define NOW 1700000000LL

/* An image of identities "ns/name" (compile order: sorted, ids 1..n) and
 * one service key per identity. */
static void image_of(struct bpfmesh_image *img, const char *const *names, size_t n)
{
	size_t i;

	memset(img, 0, sizeof(*img));
	img->identities = calloc(n + 1, sizeof(*img->identities));
	img->services = calloc(n + 1, sizeof(*img->services));
	assert_non_null(img->identities);
	assert_non_null(img->services);
	for (i = 0; i < n; i++) {
		const char *slash = strchr(names[i], '/');

		img->identities[i].id = (__u32)i + 1;
		img->identities[i].ns = strndup(names[i], (size_t)(slash - names[i]));
		img->identities[i].name = strdup(slash + 1);
		img->services[i].key.identity = (__u32)i + 1;
		img->services[i].key.port = 80;
	}
	img->n_identities = img->n_services = n;
}

static void records(struct id_plan *p, const __u32 *ids, const char *const *names,
		    const __u64 *retired, size_t n)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->recs = calloc(n + 1, sizeof(*p->recs));
	assert_non_null(p->recs);
	for (i = 0; i < n; i++) {
		p->recs[i].id = ids[i];
		snprintf(p->recs[i].rec.workload, sizeof(p->recs[i].rec.workload), "%s", names[i]);
		p->recs[i].rec.retired_at = retired ? retired[i] : 0;
	}
	p->n = n;
}

/* The stable id the plan gave "ns/name". */
static __u32 id_of(const struct bpfmesh_image *img, const struct id_plan *p, const char *ns,
		   const char *name)
{
	size_t i;

	for (i = 0; i < img->n_identities; i++)
		if (!strcmp(img->identities[i].ns, ns) && !strcmp(img->identities[i].name, name))
			return p->new_id[i];
	return 0;
}

static void test_fresh_ids_in_order(void **state)
{
	static const char *const names[] = { "shop/web", "tools/qa" };
	struct bpfmesh_image img;
	struct id_plan p;

	(void)state;
	image_of(&img, names, 2);
	records(&p, NULL, NULL, NULL, 0);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(id_of(&img, &p, "shop", "web"), 1);
	assert_int_equal(id_of(&img, &p, "tools", "qa"), 2);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);
}

/* first/first sorts before both (compile ids 1, 2, 3): the two keep theirs,
 * the new one takes 3, and the services keyed by identity follow. */
static void test_added_first_keeps_ids(void **state)
{
	static const char *const names[] = { "first/first", "shop/web", "tools/qa" };
	static const char *const had[] = { "shop/web", "tools/qa" };
	static const __u32 had_ids[] = { 1, 2 };
	struct bpfmesh_image img;
	struct id_plan p;
	size_t i;

	(void)state;
	image_of(&img, names, 3);
	records(&p, had_ids, had, NULL, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(id_of(&img, &p, "shop", "web"), 1);
	assert_int_equal(id_of(&img, &p, "tools", "qa"), 2);
	assert_int_equal(id_of(&img, &p, "first", "first"), 3);
	assert_int_equal(p.n_freed, 0);
	identity_ids_remap(&img, p.new_id);
	for (i = 0; i < 3; i++) /* sorted by id, and each service's key with it */
		assert_int_equal(img.identities[i].id, i + 1);
	assert_string_equal(img.identities[0].name, "web");
	assert_string_equal(img.identities[2].name, "first");
	for (i = 0; i < 3; i++)
		assert_int_equal(img.services[i].key.identity, i + 1);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);
}

/* shop/web leaves: its record is retired, its id kept from a newcomer until
 * BPFMESH_ID_RETIRE_S passed; then it is freed and reused. */
static void test_removed_id_held_then_freed(void **state)
{
	static const char *const now_names[] = { "new/one", "tools/qa" };
	static const char *const had[] = { "shop/web", "tools/qa" };
	static const __u32 had_ids[] = { 1, 2 };
	const __u64 retired[] = { (__u64)NOW - 10, 0 };
	const __u64 long_ago[] = { (__u64)NOW - BPFMESH_ID_RETIRE_S, 0 };
	struct bpfmesh_image img;
	struct id_plan p;

	(void)state;
	image_of(&img, now_names, 2);
	records(&p, had_ids, had, NULL, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(id_of(&img, &p, "new", "one"), 3); /* 1 is shop/web's, retired now */
	assert_int_equal(p.n_freed, 0);
	assert_true(p.recs[0].dirty);
	assert_int_equal(p.recs[0].rec.retired_at, NOW);
	identity_ids_plan_free(&p);

	records(&p, had_ids, had, retired, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(id_of(&img, &p, "new", "one"), 3);
	assert_int_equal(p.n_freed, 0);
	identity_ids_plan_free(&p);

	records(&p, had_ids, had, long_ago, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(p.n_freed, 1);
	assert_int_equal(p.freed[0], 1);
	assert_int_equal(id_of(&img, &p, "new", "one"), 1);
	assert_int_equal(id_of(&img, &p, "tools", "qa"), 2);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);
}

/* A retired workload that comes back gets its id back. */
static void test_returning_workload(void **state)
{
	static const char *const names[] = { "shop/web" };
	static const char *const had[] = { "shop/web" };
	static const __u32 had_ids[] = { 7 };
	const __u64 retired[] = { (__u64)NOW - 100 };
	struct bpfmesh_image img;
	struct id_plan p;

	(void)state;
	image_of(&img, names, 1);
	records(&p, had_ids, had, retired, 1);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 16), 0);
	assert_int_equal(id_of(&img, &p, "shop", "web"), 7);
	assert_int_equal(p.n_freed, 0);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);
}

/* max records: the oldest retired goes early; with only live ones the
 * image is refused. */
static void test_full_table(void **state)
{
	static const char *const names[] = { "a/a", "c/c" };
	static const char *const had[] = { "a/a", "b/b" };
	static const __u32 had_ids[] = { 1, 2 };
	const __u64 retired[] = { 0, (__u64)NOW - 5 };
	static const char *const three[] = { "a/a", "b/b", "c/c" };
	struct bpfmesh_image img;
	struct id_plan p;

	(void)state;
	image_of(&img, names, 2);
	records(&p, had_ids, had, retired, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 2), 0);
	assert_int_equal(p.n_freed, 1);
	assert_int_equal(p.freed[0], 2);
	assert_int_equal(id_of(&img, &p, "c", "c"), 2);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);

	image_of(&img, three, 3);
	records(&p, had_ids, had, NULL, 2);
	assert_int_equal(identity_ids_plan(&p, &img, NOW, 2), -ENOSPC);
	identity_ids_plan_free(&p);
	bpfmesh_image_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_ids_in_order),
		cmocka_unit_test(test_added_first_keeps_ids),
		cmocka_unit_test(test_removed_id_held_then_freed),
		cmocka_unit_test(test_returning_workload),
		cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
