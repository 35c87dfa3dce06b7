// SPDX-License-Identifier: Apache-2.0
/* apply/capacity.c: an image larger than the maps is refused before any
 * plan, naming the limit and the agent option that raises it; an image that
 * fits exactly is accepted; 0 limits are not checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "apply/capacity.h"

/* An image with n services, sets of the given sizes and n_names names
 * (only the counts matter here). */
struct sized_image {
	struct bpfmesh_image img;
	struct image_set sets[4];
};

static void sized_image(struct sized_image *s, size_t services, const __u32 *set_slots,
			size_t n_sets, size_t names)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->img.n_services = services;
	s->img.sets = s->sets;
	s->img.n_sets = n_sets;
	for (i = 0; i < n_sets; i++)
		s->sets[i].n_slots = set_slots[i];
	s->img.n_names = names;
}

static void test_fits_exactly(void **state)
{
	const __u32 slots[] = { 3, 5 };
	struct apply_limits lim = { .services = 2, .backends = 8, .names = 4 };
	struct sized_image s;
	char why[256] = "";

	(void)state;
	sized_image(&s, 2, slots, 2, 4);
	assert_int_equal(apply_check_capacity(&lim, &s.img, why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

static void test_too_many_services(void **state)
{
	struct apply_limits lim = { .services = 2, .backends = 8, .names = 4 };
	struct sized_image s;
	char why[256] = "";

	(void)state;
	sized_image(&s, 3, NULL, 0, 1);
	assert_int_equal(apply_check_capacity(&lim, &s.img, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "needs 3 services"));
	assert_non_null(strstr(why, "holds 2"));
	assert_non_null(strstr(why, "--max-services"));
}

static void test_too_many_backend_entries(void **state)
{
	const __u32 slots[] = { 3, 6 };
	struct apply_limits lim = { .services = 10, .backends = 8, .names = 10 };
	struct sized_image s;
	char why[256] = "";

	(void)state;
	sized_image(&s, 1, slots, 2, 1);
	assert_int_equal(apply_check_capacity(&lim, &s.img, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "needs 9 backend set entries"));
	assert_non_null(strstr(why, "--max-endpoints"));
}

static void test_too_many_names(void **state)
{
	struct apply_limits lim = { .services = 10, .backends = 10, .names = 4 };
	struct sized_image s;
	char why[256] = "";

	(void)state;
	sized_image(&s, 1, NULL, 0, 5);
	assert_int_equal(apply_check_capacity(&lim, &s.img, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "needs 5 names"));
	assert_non_null(strstr(why, "--max-clusters"));
}

static void test_zero_limits_unchecked(void **state)
{
	const __u32 slots[] = { 100000 };
	struct apply_limits lim = { 0 };
	struct sized_image s;
	char why[256] = "";

	(void)state;
	sized_image(&s, 1000000, slots, 1, 1000000);
	assert_int_equal(apply_check_capacity(&lim, &s.img, why, sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits_exactly),
		cmocka_unit_test(test_too_many_services),
		cmocka_unit_test(test_too_many_backend_entries),
		cmocka_unit_test(test_too_many_names),
		cmocka_unit_test(test_zero_limits_unchecked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
