// SPDX-License-Identifier: Apache-2.0
/* The agent's policy gauges (issue 12): resources in force and rejected,
 * one series per rejected resource, label values escaped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/prom.h"

static void test_policy_gauges(void **state)
{
	const struct mx_policy_rejected rej[] = {
		{ "VirtualService", "default", "beta" },
		{ "File", "", "/etc/bpfmesh/x\"y.yaml" },
	};
	struct mx_snapshot s = { .have_policy = true, .policy_applied = 5, .rejected = rej,
				 .n_rejected = 2 };
	struct mx_buf b = { 0 };

	(void)state;
	assert_int_equal(mx_render(&s, &b), 0);
	assert_non_null(strstr(b.p, "# TYPE bpfmesh_policy_resources gauge\n"));
	assert_non_null(strstr(b.p, "bpfmesh_policy_resources{state=\"applied\"} 5\n"));
	assert_non_null(strstr(b.p, "bpfmesh_policy_resources{state=\"rejected\"} 2\n"));
	assert_non_null(strstr(b.p, "bpfmesh_policy_rejected{kind=\"VirtualService\","
				    "namespace=\"default\",name=\"beta\"} 1\n"));
	assert_non_null(strstr(b.p, "name=\"/etc/bpfmesh/x\\\"y.yaml\"} 1\n"));
	mx_buf_free(&b);
}

/* Before the agent's first compile: no policy series at all. */
static void test_no_policy_yet(void **state)
{
	struct mx_snapshot s = { 0 };
	struct mx_buf b = { 0 };

	(void)state;
	assert_int_equal(mx_render(&s, &b), 0);
	assert_null(b.p ? strstr(b.p, "bpfmesh_policy_") : NULL);
	mx_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_gauges),
		cmocka_unit_test(test_no_policy_yet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
