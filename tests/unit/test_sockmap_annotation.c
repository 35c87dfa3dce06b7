// SPDX-License-Identifier: Apache-2.0
/* ServiceEntry annotation bpfmesh.io/sockmap (issue 13): "off" sets
 * BPFMESH_SVC_F_NO_SOCKMAP on every key of the entry, "on" or no annotation
 * leaves it clear, anything else is an error naming file, line and field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"

#define SE(annotations, vip)                                                       \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata:\n"                                                              \
	"  name: svc-" vip "\n"                                                    \
	annotations                                                                \
	"spec:\n"                                                                  \
	"  hosts: [svc-" vip ".default.svc.cluster.local]\n"                       \
	"  addresses: [127.100.0." vip "]\n"                                       \
	"  ports: [{number: 80, name: tcp, protocol: TCP}, {number: 81, name: t2}]\n" \
	"  resolution: STATIC\n"                                                   \
	"  endpoints: [{address: 127.0.1." vip "}]\n"

static __u16 flags_of(const struct ptest *t, const char *vip, unsigned int port)
{
	const struct image_service *s = ptest_service(&t->img, vip, port);

	assert_non_null(s);
	return s->val.flags;
}

static void off_marks_every_port_of_the_entry_only(void **state)
{
	struct ptest t;

	(void)state;
	assert_int_equal(ptest_compile(&t,
		SE("  annotations: {bpfmesh.io/sockmap: \"off\", other: x}\n", "1") "---\n"
		SE("  annotations: {bpfmesh.io/sockmap: \"on\"}\n", "2") "---\n"
		SE("", "3"), false), 0);
	assert_int_equal(flags_of(&t, "127.100.0.1", 80), BPFMESH_SVC_F_NO_SOCKMAP);
	assert_int_equal(flags_of(&t, "127.100.0.1", 81), BPFMESH_SVC_F_NO_SOCKMAP);
	assert_int_equal(flags_of(&t, "127.100.0.2", 80), 0);
	assert_int_equal(flags_of(&t, "127.100.0.3", 80), 0);
	ptest_free(&t);
}

static void other_value_is_an_error_with_its_place(void **state)
{
	const struct diag *d;
	struct ptest t;

	(void)state;
	assert_int_not_equal(ptest_compile(&t,
		SE("  annotations:\n    bpfmesh.io/sockmap: maybe\n", "1"), false), 0);
	d = ptest_find(&t, DIAG_ERROR, "metadata.annotations.bpfmesh.io/sockmap", "maybe");
	assert_non_null(d);
	assert_string_equal(d->file, "t.yaml");
	assert_int_equal(d->line, 6); /* the value's line */
	ptest_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(off_marks_every_port_of_the_entry_only),
		cmocka_unit_test(other_value_is_an_error_with_its_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
