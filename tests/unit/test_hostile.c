// SPDX-License-Identifier: Apache-2.0
/*
 * Hostile policy input (issue 8): every reproducer found by fuzzing at
 * 8f281d9 gets the error it deserves, and the fuzz regression corpus
 * (tests/fuzz/regress) replays through the libFuzzer target's own code
 * under ASan/UBSan. The sanitizer build puts every arena object in its own
 * malloc block (BPFMESH_ARENA_MALLOC), so an overflow is caught here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <dirent.h>
#include <cmocka.h>

#include "policy_test.h"
#include "../fuzz/fuzz_policy.h"

#define BAD_DIR "tests/bad-policies/"
#define REGRESS_DIR "tests/fuzz/regress/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s (run from the repository root)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Compile one file of tests/bad-policies through the buffer API. */
static void compile_bad(struct ptest *t, const char *name)
{
	char path[256];
	const char *names[] = { "t.yaml" };
	const char *bufs[1];
	size_t lens[1];
	char *buf;

	snprintf(path, sizeof(path), BAD_DIR "%s", name);
	buf = slurp(path, &lens[0]);
	bufs[0] = buf;
	memset(t, 0, sizeof(*t));
	t->ret = policy_compile_buffers(names, bufs, lens, 1, &t->dl, &t->img);
	free(buf);
}

/* Every diagnostic names the file and a field that is not "(null)". */
static void assert_diags_well_formed(const struct ptest *t)
{
	size_t i;

	for (i = 0; i < t->dl.n; i++) {
		const struct diag *d = &t->dl.items[i];

		if (!d->file || strcmp(d->file, "t.yaml") != 0 || strstr(d->field, "(null)")) {
			diag_print(&t->dl, stderr);
			fail_msg("diagnostic without its file or field: %s", d->msg);
		}
	}
}

/* A list key given twice: the second copy is reported and never walked
 * (it used to be walked into the first copy's array: heap overflow). */
static void dupkey(const char *file, const char *field)
{
	struct ptest t;

	compile_bad(&t, file);
	assert_int_equal(t.ret, 1);
	assert_non_null(ptest_find(&t, DIAG_ERROR, field, "duplicate key (first at line"));
	assert_diags_well_formed(&t);
	ptest_free(&t);
}

static void dupkey_ports(void **s) { dupkey("repro-bug1-dupkey-ports.yaml", "spec.ports"); }
static void dupkey_ports_read(void **s)
{
	dupkey("repro-bug1-dupkey-ports-read.yaml", "spec.ports");
}
static void dupkey_route(void **s) { dupkey("repro-bug1-dupkey-route.yaml", "spec.tcp[0].route"); }
static void dupkey_match(void **s) { dupkey("repro-bug1-dupkey-match.yaml", "spec.tcp[0].match"); }
static void dupkey_addresses(void **s)
{
	dupkey("repro-bug1-dupkey-addresses.yaml", "spec.addresses");
}
static void dupkey_endpoints(void **s)
{
	dupkey("repro-bug1-dupkey-endpoints.yaml", "spec.endpoints");
}
static void dupkey_subsets(void **s) { dupkey("repro-bug1-dupkey-subsets.yaml", "spec.subsets"); }
static void dupkey_we_ports(void **s) { dupkey("repro-bug1-dupkey-we-ports.yaml", "spec.ports"); }

/* Duplicate keys inside labels and endpoint ports maps are caught too. */
static void dupkey_labels(void **s)
{
	struct ptest t;

	ptest_compile(&t,
		      "apiVersion: networking.istio.io/v1\n"
		      "kind: WorkloadEntry\n"
		      "metadata: {name: w}\n"
		      "spec:\n"
		      "  address: 10.0.0.1\n"
		      "  ports: {http: 80, http: 81}\n"
		      "  labels: {app: a, app: b}\n",
		      false);
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 6, 21, "spec.ports.http", "duplicate key (first at line 6)");
	assert_diag(&t, DIAG_ERROR, 7, 20, "spec.labels.app", "duplicate key (first at line 7)");
	ptest_free(&t);
}

/* `tcp: [~]`: the null route is reported and not counted as a route (it
 * used to reach the checks with no source: "(null).route"). */
static void null_route(void **s)
{
	struct ptest t;

	compile_bad(&t, "repro-bug6-null-route-path.yaml");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 60, 9, "spec.tcp[0]", "must not be null");
	assert_diags_well_formed(&t);
	ptest_free(&t);
}

/* 2,000 addresses x 2,000 ports in 91 KB: refused by the service-key limit
 * before anything is allocated (it used to take 1.8 GB). */
static void amplify_addrs_ports(void **s)
{
	struct ptest t;

	compile_bad(&t, "repro-bug3-amplify-addrs-ports.yaml");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec.addresses",
		    "too many service keys: 2000 addresses x 2000 ports");
	ptest_free(&t);
}

/* 500 hosts x 500 ports x 500 endpoints in 33 KB (2.9 GB before). */
static void amplify_hosts_ports_eps(void **s)
{
	struct ptest t;

	compile_bad(&t, "repro-bug3-amplify-hosts-ports-eps.yaml");
	assert_int_equal(t.ret, 1);
	assert_diag(&t, DIAG_ERROR, 5, 3, "spec", "too many services: 500 hosts x 500 ports");
	ptest_free(&t);
}

/* The endpoint-slot product is capped too: 1,000 ports x 600 endpoints. */
static void amplify_ports_eps(void **s)
{
	size_t cap = 1 << 20, at = 0, i;
	char *y = malloc(cap);
	struct ptest t;

	assert_non_null(y);
	at += (size_t)snprintf(y + at, cap - at,
			       "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			       "metadata: {name: s}\nspec:\n  hosts: [a.x]\n"
			       "  addresses: [10.9.0.1]\n  resolution: STATIC\n  ports:\n");
	for (i = 0; i < 1000; i++)
		at += (size_t)snprintf(y + at, cap - at, "  - {number: %zu, name: p%zu}\n",
				       i + 1, i);
	at += (size_t)snprintf(y + at, cap - at, "  endpoints:\n");
	for (i = 0; i < 600; i++)
		at += (size_t)snprintf(y + at, cap - at, "  - address: 10.1.%zu.%zu\n",
				       i / 250, i % 250 + 1);
	ptest_compile(&t, y, false);
	assert_int_equal(t.ret, 1);
	assert_non_null(ptest_find(&t, DIAG_ERROR, "spec",
				   "too many endpoints: 1 hosts x 1000 ports x 600 endpoints"));
	ptest_free(&t);
	free(y);
}

/* Every file of the regression corpus, through the fuzz target's code. */
static void replay_regress_corpus(void **s)
{
	DIR *d = opendir(REGRESS_DIR);
	struct dirent *de;
	char path[512];
	size_t len, n = 0;
	char *buf;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), REGRESS_DIR "%s", de->d_name);
		buf = slurp(path, &len);
		fuzz_policy_one((const uint8_t *)buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	assert_true(n >= 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dupkey_ports),
		cmocka_unit_test(dupkey_ports_read),
		cmocka_unit_test(dupkey_route),
		cmocka_unit_test(dupkey_match),
		cmocka_unit_test(dupkey_addresses),
		cmocka_unit_test(dupkey_endpoints),
		cmocka_unit_test(dupkey_subsets),
		cmocka_unit_test(dupkey_we_ports),
		cmocka_unit_test(dupkey_labels),
		cmocka_unit_test(null_route),
		cmocka_unit_test(amplify_addrs_ports),
		cmocka_unit_test(amplify_hosts_ports_eps),
		cmocka_unit_test(amplify_ports_eps),
		cmocka_unit_test(replay_regress_corpus),
	};

	/* One test at a time (a crash ends the binary): TEST_FILTER=null_route */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
