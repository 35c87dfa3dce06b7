// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel feature probe: the decision logic (probe_hide, probe_explain) on
 * made-up results, and probe_check() end to end with a hidden feature, which
 * fails whatever the kernel and the privileges (no root needed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "kern/probe.h"

struct fixture {
	struct probe_result r;
	char buf[4096];
};

/* A kernel with everything. */
static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int f;

	if (!fx)
		return -1;
	for (f = 0; f < PROBE__NR; f++)
		fx->r.have[f] = true;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	unsetenv(PROBE_HIDE_ENV);
	return 0;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_all_present(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 0);
	assert_string_equal(fx->buf, "");
}

static void test_names_round_trip(void **state)
{
	int f;

	(void)state;
	for (f = 0; f < PROBE__NR; f++) {
		const char *name = probe_feature_name(f);

		assert_non_null(name);
		assert_int_equal(probe_feature_by_name(name), f);
	}
	assert_null(probe_feature_name(PROBE__NR));
	assert_int_equal(probe_feature_by_name("set-retval"), -ENOENT);
	assert_int_equal(probe_feature_by_name(""), -ENOENT);
}

/* The example: the helper that refuses connections to empty subsets. */
static void test_hide_set_retval(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(probe_hide(&fx->r, "set_retval", NULL), 0);
	assert_false(fx->r.have[PROBE_HELPER_SET_RETVAL]);
	assert_true(fx->r.hidden[PROBE_HELPER_SET_RETVAL]);
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_string_equal(fx->buf,
			    "kernel lacks bpf_set_retval() for cgroup sock_addr programs (needs "
			    "Linux 5.18+): connections to an empty subset cannot be refused with "
			    "ECONNREFUSED [hidden by BPFMESH_PROBE_HIDE]\n");
}

/* Each feature alone gives exactly one line, and a different one. */
static void test_each_feature_alone(void **state)
{
	struct fixture *fx = *state;
	char seen[PROBE__NR][512];
	int f, g;

	for (f = 0; f < PROBE__NR; f++) {
		struct probe_result r = fx->r;

		r.have[f] = false;
		assert_int_equal(probe_explain(&r, fx->buf, sizeof(fx->buf)), 1);
		assert_int_equal(count_lines(fx->buf), 1);
		assert_null(strstr(fx->buf, "hidden"));
		assert_true(strlen(fx->buf) > 20);
		assert_true(strlen(fx->buf) < sizeof(seen[f]));
		strcpy(seen[f], fx->buf);
		for (g = 0; g < f; g++)
			assert_string_not_equal(seen[f], seen[g]);
	}
}

/* Without bpf() nothing else BPF can be probed: one line, not eleven. */
static void test_no_bpf_covers_dependents(void **state)
{
	struct fixture *fx = *state;
	int f;

	for (f = 0; f < PROBE__NR; f++)
		fx->r.have[f] = false;
	fx->r.have[PROBE_BPFFS] = true;
	fx->r.have[PROBE_BTF_VMLINUX] = true;
	fx->r.have[PROBE_CGROUP2] = true;
	fx->r.bpf_errno = EPERM;
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_non_null(strstr(fx->buf, "not permitted"));
	assert_non_null(strstr(fx->buf, "root"));

	fx->r.bpf_errno = ENOSYS;
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_non_null(strstr(fx->buf, "CONFIG_BPF_SYSCALL"));

	fx->r.bpf_errno = ENOMEM;
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_non_null(strstr(fx->buf, strerror(ENOMEM)));
}

/* No sock_addr programs: attach types, helpers and links follow it. */
static void test_no_sock_addr_covers_hooks(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(probe_hide(&fx->r, "sock_addr,connect4,getpeername4,cgroup_link,"
					    "get_prandom_u32,sk_storage_get,set_retval", NULL), 0);
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_non_null(strstr(fx->buf, "BPF_PROG_TYPE_CGROUP_SOCK_ADDR"));

	/* connect4 alone missing also covers the link and set_retval probes. */
	fx->r.have[PROBE_PROG_SOCK_ADDR] = true;
	fx->r.have[PROBE_ATTACH_GETPEERNAME4] = true;
	fx->r.have[PROBE_HELPER_PRANDOM] = true;
	fx->r.have[PROBE_HELPER_SK_STORAGE_GET] = true;
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 1);
	assert_non_null(strstr(fx->buf, "BPF_CGROUP_INET4_CONNECT"));
}

/* A 5.4-era kernel: sock_addr programs but no getpeername, link, set_retval. */
static void test_old_kernel_lists_each(void **state)
{
	struct fixture *fx = *state;

	fx->r.have[PROBE_ATTACH_GETPEERNAME4] = false;
	fx->r.have[PROBE_LINK_CGROUP] = false;
	fx->r.have[PROBE_HELPER_SET_RETVAL] = false;
	fx->r.have[PROBE_HELPER_SK_STORAGE_GET] = false;
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 4);
	assert_int_equal(count_lines(fx->buf), 4);
	assert_non_null(strstr(fx->buf, "5.8+"));
	assert_non_null(strstr(fx->buf, "5.7+"));
	assert_non_null(strstr(fx->buf, "5.18+"));
	assert_non_null(strstr(fx->buf, "bpf_sk_storage_get()"));
}

static void test_hide_list_syntax(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(probe_hide(&fx->r, " btf, cgroup2 ,,bogus,", NULL), 1);
	assert_false(fx->r.have[PROBE_BTF_VMLINUX]);
	assert_false(fx->r.have[PROBE_CGROUP2]);
	assert_int_equal(probe_explain(&fx->r, fx->buf, sizeof(fx->buf)), 2);
	assert_non_null(strstr(fx->buf, "/sys/kernel/btf/vmlinux"));
	assert_non_null(strstr(fx->buf, "mount -t cgroup2"));

	/* Names that are too long for any feature are unknown, not truncated. */
	assert_int_equal(probe_hide(&fx->r, "set_retval_and_a_very_long_suffix_indeed", NULL), 1);
	assert_true(fx->r.have[PROBE_HELPER_SET_RETVAL]);
	assert_int_equal(probe_hide(&fx->r, NULL, NULL), 0);
	assert_int_equal(probe_hide(&fx->r, "", NULL), 0);
}

static void test_hide_reports_unknown(void **state)
{
	struct fixture *fx = *state;
	char *out = NULL;
	size_t len = 0;
	FILE *log = open_memstream(&out, &len);

	assert_non_null(log);
	assert_int_equal(probe_hide(&fx->r, "setretval", log), 1);
	fclose(log);
	assert_non_null(strstr(out, "unknown feature 'setretval'"));
	free(out);
}

/* A small buffer: count unchanged, text NUL-terminated and marked cut. */
static void test_truncated_buffer(void **state)
{
	struct fixture *fx = *state;
	char small[40];

	memset(small, 'x', sizeof(small));
	fx->r.have[PROBE_BTF_VMLINUX] = false;
	fx->r.have[PROBE_HELPER_SET_RETVAL] = false;
	assert_int_equal(probe_explain(&fx->r, small, sizeof(small)), 2);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small + sizeof(small) - 5, "...\n");
	assert_int_equal(probe_explain(&fx->r, NULL, 0), 2);
}

/* End to end on the real kernel: hiding a feature makes the check fail and
 * name it, with or without privileges. */
static void test_check_with_hidden_feature(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *log;

	(void)state;
	setenv(PROBE_HIDE_ENV, "set_retval,cgroup2", 1);
	log = open_memstream(&out, &len);
	assert_non_null(log);
	assert_int_equal(probe_check(log), -ENOTSUP);
	fclose(log);
	assert_non_null(strstr(out, "cgroup v2"));
	assert_non_null(strstr(out, "lacks"));
	assert_non_null(strstr(out, "not starting"));
	free(out);

	/* probe_kernel applies the same variable. */
	{
		struct probe_result r;

		assert_int_equal(probe_kernel(&r), 0);
		assert_false(r.have[PROBE_CGROUP2]);
		assert_true(r.hidden[PROBE_CGROUP2]);
		assert_false(r.have[PROBE_HELPER_SET_RETVAL]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hide_set_retval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_feature_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_bpf_covers_dependents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_sock_addr_covers_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_kernel_lists_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hide_list_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hide_reports_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_with_hidden_feature, setup, teardown),
	};

	return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}
