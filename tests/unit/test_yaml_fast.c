// SPDX-License-Identifier: Apache-2.0
/* The documents yaml_fast.c makes without libyaml are libyaml's own: every
 * YAML file of the repository, hand-written edge cases and thousands of
 * mutants of them (bytes and lines deleted, inserted, re-indented) load to
 * the same nodes (type, style, text, line and column, children), the same
 * document ends and the same diagnostics with and without it. */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../fuzz/yaml_diff.h"
#include "policy/files.h"

static unsigned long n_compared;

static void assert_same(const char *buf, size_t len)
{
	if (!ydiff_same(buf, len))
		fail_msg("yaml_fast differs from libyaml");
	n_compared++;
}

static const char *const edge_cases[] = {
	"a: 1\n",
	"a: 1",
	"a:\n",
	"a:",
	"a:\n- x\n- y\nb: 2\n",
	"a:\n  - x\n  -\n  - - y\n",
	"a:\n  b:\n    c: d\n  e: f\n",
	"a:\n    b: 1\n  c: 2\n",
	"a: 1\n  b: 2\n",
	"a: one\n  two\n",
	"- a\n- b\n",
	"a:\n- b: 1\n  c: 2\n- d:\n  - e\n-\n- f: # c\n",
	"a: \"x y\" # c\nb: 'z'\nc: \"q\\\"\"\nd: 'it''s'\n",
	"a: x # c\nb: x#y\nc: x  #\nd: x: y\ne: x:\nf: x:y\n",
	"a: -1\nb: -\nc: - x\nd: ~\ne: .inf\nf: +1\ng: /p\n",
	"a: &x 1\nb: *x\nc: !t 1\nd: [1]\ne: {f: 1}\nf: |\n  x\ng: >\n  y\n",
	"---\na: 1\n---\nb: 2\n...\n---\nc: 3\n",
	"# only a comment\n---\na: 1\n",
	"---\n# nothing\n---\na: 1\n",
	"%YAML 1.1\n---\na: 1\n",
	"a: 1\n---\n",
	"a: 1\n--- b\n",
	"a: \"unclosed\n---\nb: 1\n",
	"a: [1,\n---\nb: 1\n",
	"a: 1\nb\n",
	"a: 1\n- b\n",
	"a:\n  - b\n  c: d\n",
	"a:\n- b\nc:\n  d: e\n",
	"  a: 1\n  b: 2\n",
	"a:   spaced   \nb:    \n",
	"a: x\n\n\n   \n# c\n  # d\nb: y\n",
	"a: 'x' y\n",
	"a: \"x\"y\n",
	"a: 'x'#c\n",
	"-x: 1\n",
	".a: 1\n_b: 2\n/c: 3\nd-e.f/g_h: 4\n",
	"a b: 1\n",
	"a: b c d\n",
	"a:\n -  b: 1\n    c: 2\n",
	"a:\n  -   b: 1\n      c: 2\n",
	"a:\n -  b: 1\n   c: 2\n",
	"a: 1\na: 2\n",
	"apiVersion: v1\nkind: X\nmetadata:\n  name: n\n  labels:\n    app: a\n",
	"a:\n  b: 1\n---\n  c: 2\n",
	"a: ?\nb: ?x\nc: :x\nd: ,x\ne: %x\nf: @x\ng: `x\n",
	"a: '\n",
	"a: \"\"\nb: ''\n",
	"a:\n\n  b: 1\n",
	"a:\n#c\n  b: 1\n",
	"a:\n  b: 1\n#c\n  c: 2\n",
	"---\n---\n",
	"",
	"\n",
	"---",
	"---\na: 1",
};

static void test_edge_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
		assert_same(edge_cases[i], strlen(edge_cases[i]));
}

/* libyaml takes a simple key of at most 1024 characters; values have no
 * such limit. */
static void test_long_keys_and_values(void **state)
{
	size_t n[] = { 999, 1000, 1001, 1023, 1024, 1025, 5000 }, i, k;
	struct ydiff_out o = { 0 };

	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		o.len = 0;
		ydiff_add(&o, "a:\n  ");
		for (k = 0; k < n[i]; k++)
			ydiff_add(&o, "k");
		ydiff_add(&o, ": 1\n  b: ");
		for (k = 0; k < n[i]; k++)
			ydiff_add(&o, "v");
		ydiff_add(&o, "\n");
		assert_same(o.s, o.len);
	}
	free(o.s);
}

/* ---- files and their mutants --------------------------------------------- */

/* The file at path, whole (NULL: not a readable regular file). */
static char *slurp(const char *path, size_t *len)
{
	struct diag_list dl = { 0 };
	char *buf = NULL;

	if (policy_read_file(path, &buf, len, &dl))
		buf = NULL;
	diag_free(&dl);
	return buf;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A line-start offset in buf near at. */
static size_t line_start(const char *buf, size_t at)
{
	while (at > 0 && buf[at - 1] != '\n')
		at--;
	return at;
}

/* One mutant of buf into m (room for len + 64). */
static size_t mutate(const char *buf, size_t len, char *m)
{
	static const char *const bits[] = { " ", "  ", "-", "- ", ":", ": ", "#", " #", "\n",
					    "\"", "'", "a", "|", "&a ", "*a", "[", "{", "---\n",
					    "\t", "\r", "...\n", "~", "\\", "\xc3\xa9", "? " };
	size_t at = len ? next_rand() % len : 0, n, ls, le;
	const char *bit;

	switch (next_rand() % 6) {
	case 0: /* delete a byte */
		if (!len)
			return 0;
		memcpy(m, buf, at);
		memcpy(m + at, buf + at + 1, len - at - 1);
		return len - 1;
	case 1: /* insert something */
		bit = bits[next_rand() % (sizeof(bits) / sizeof(bits[0]))];
		n = strlen(bit);
		memcpy(m, buf, at);
		memcpy(m + at, bit, n);
		memcpy(m + at + n, buf + at, len - at);
		return len + n;
	case 2: /* insert at a line's start */
		at = line_start(buf, at);
		bit = bits[next_rand() % 4];
		n = strlen(bit);
		memcpy(m, buf, at);
		memcpy(m + at, bit, n);
		memcpy(m + at + n, buf + at, len - at);
		return len + n;
	case 3: /* delete a line */
		ls = line_start(buf, at);
		le = ls;
		while (le < len && buf[le] != '\n')
			le++;
		le += le < len;
		memcpy(m, buf, ls);
		memcpy(m + ls, buf + le, len - le);
		return len - (le - ls);
	case 4: /* un-indent a line by one */
		ls = line_start(buf, at);
		if (ls < len && buf[ls] == ' ') {
			memcpy(m, buf, ls);
			memcpy(m + ls, buf + ls + 1, len - ls - 1);
			return len - 1;
		}
		memcpy(m, buf, len);
		return len;
	default: /* cut the file short */
		memcpy(m, buf, at);
		return at;
	}
}

static void check_file(const char *path, int mutants)
{
	size_t len = 0, mlen;
	char *buf = slurp(path, &len), *m;
	int i;

	if (!buf)
		return;
	assert_same(buf, len);
	m = malloc(len + 64);
	assert_non_null(m);
	for (i = 0; i < mutants && len < 200000; i++) {
		mlen = mutate(buf, len, m);
		assert_same(m, mlen);
	}
	free(m);
	free(buf);
}

static bool is_yaml_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static void check_dir(const char *dir, bool all_files, int mutants)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *path;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			fail();
		if (de->d_type == DT_DIR)
			check_dir(path, all_files, mutants);
		else if (all_files || is_yaml_name(de->d_name))
			check_file(path, mutants);
		free(path);
	}
	closedir(d);
}

static void test_repository_files_and_mutants(void **state)
{
	unsigned long before = n_compared;

	check_dir("policies", false, 300);
	check_dir("tests", false, 300);
	check_dir("demo", false, 300);
	check_dir("deploy", false, 300);
	check_dir("tests/fuzz/regress", true, 300);
	print_message("%lu inputs compared\n", n_compared - before);
	assert_true(n_compared - before > 10000);
}

/* The files bench/connbench writes: the subset, made without libyaml. */
static void test_generated_policy_is_fast(void **state)
{
	struct ydiff_out o = { 0 };
	struct yload l;
	struct diag_list dl = { 0 };
	int i;

	for (i = 0; i < 50; i++)
		ydiff_add(&o, "%sapiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
			    "metadata:\n  name: svc-%d\n  namespace: bench\nspec:\n  hosts:\n"
			    "  - svc-%d.bench.svc.cluster.local\n  addresses:\n  - 127.100.0.%d\n"
			    "  ports:\n  - number: 80\n    name: tcp\n    protocol: TCP\n"
			    "  resolution: STATIC\n  endpoints:\n  - address: 127.1.0.%d\n"
			    "    ports:\n      tcp: 8080\n    labels:\n      version: v1\n",
			i ? "---\n" : "# generated\n", i, i, i + 1, i + 1);
	assert_same(o.s, o.len);
	assert_true(yload_init(&l, o.s, o.len));
	while (yload_next(&l, "f.yaml", &dl) == YLOAD_DOC)
		assert_false(l.in_libyaml); /* no document needed libyaml */
	yload_free(&l);
	diag_free(&dl);
	free(o.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_long_keys_and_values),
		cmocka_unit_test(test_repository_files_and_mutants),
		cmocka_unit_test(test_generated_policy_is_fast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
