// SPDX-License-Identifier: Apache-2.0
/* A large file parsed in two parts on two threads (parse.c, parse_buffer)
 * gives exactly what the whole file gives: the same model and the same
 * diagnostics at the same lines, also when the YAML is broken around the
 * cut, when aliases spend the visit budget, and when a quoted scalar runs
 * over the "---" line the cut is made at. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/parse.h"

#define N_DOCS 4000 /* about 1.3 MB: over the size a file is cut at */
#define PAD_LINE "# a comment that makes the document longer than the others\n"
#define PADDING PAD_LINE PAD_LINE PAD_LINE PAD_LINE PAD_LINE PAD_LINE PAD_LINE PAD_LINE \
	PAD_LINE PAD_LINE

struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* Document i: a ServiceEntry, a VirtualService or a DestinationRule, with
 * a problem in some so that there are diagnostics on both sides. */
static void add_doc(struct text *t, size_t i)
{
	if (i)
		text_add(t, "---\n");
	switch (i % 3) {
	case 0:
		text_add(t, "apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
			    "metadata:\n  name: svc-%zu\n  namespace: bench\nspec:\n"
			    "  hosts:\n  - svc-%zu.bench.svc.cluster.local\n"
			    "  addresses:\n  - 127.100.%zu.%zu\n"
			    "  ports:\n  - number: 80\n    name: tcp\n    protocol: TCP\n"
			    "  resolution: STATIC\n  endpoints:\n"
			    "  - address: 127.1.%zu.%zu\n    ports:\n      tcp: 8080\n"
			    "    labels:\n      version: v1\n"
			    "  - address: 127.2.%zu.%zu\n    ports:\n      tcp: %s\n",
			 i, i, i / 250, i % 250 + 1, i / 250, i % 250 + 1, i / 250, i % 250 + 1,
			 i % 97 == 0 ? "huge" : "8081");
		if (i % 101 == 0)
			text_add(t, "  bogusField: 1\n");
		break;
	case 1:
		text_add(t, "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
			    "metadata:\n  name: vs-%zu\n  namespace: bench\nspec:\n"
			    "  hosts:\n  - svc-%zu.bench.svc.cluster.local\n  tcp:\n  - route:\n"
			    "    - destination:\n        host: svc-%zu.bench.svc.cluster.local\n"
			    "        subset: v1\n      weight: %d\n",
			 i, i - 1, i - 1, i % 89 == 0 ? -5 : 100);
		break;
	default:
		text_add(t, "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
			    "metadata:\n  name: dr-%zu\n  namespace: bench\nspec:\n"
			    "  host: svc-%zu.bench.svc.cluster.local\n  subsets:\n"
			    "  - name: v1\n    labels:\n      version: v1\n%s",
			 i, i - 2, i % 83 == 0 ? "  subsets: []\n" : "");
		break;
	}
}

/* The cut parse_buffer takes: the first "---" line after the middle. */
static size_t cut_of(const struct text *t)
{
	const char *at = memmem(t->s + t->len / 2, t->len - t->len / 2, "\n---\n", 5);

	assert_non_null(at);
	return (size_t)(at + 1 - t->s);
}

/* N_DOCS documents; inject (when not NULL) replaces the document that the
 * file is cut before (after, when after_cut), found by trying each near
 * the middle. */
static void build(struct text *t, const char *inject, bool after_cut)
{
	size_t k, i;

	/* A large injected document moves the middle later. */
	for (k = N_DOCS / 2 - 10; k < N_DOCS; k++) {
		size_t start = 0;

		t->len = 0;
		for (i = 0; i < N_DOCS; i++) {
			if (inject && i == k) {
				start = t->len;
				/* Longer than any other document: some k has
				 * the middle of the file in it. */
				text_add(t, "---\n%s%s", after_cut ? "" : PADDING, inject);
			} else {
				add_doc(t, i);
			}
		}
		if (!inject)
			return;
		/* after_cut: the cut is the injected document's own "---";
		 * else the next one, right after it. */
		if (after_cut ? cut_of(t) == start :
				cut_of(t) == start + 4 + strlen(PADDING) + strlen(inject))
			return;
	}
	fail_msg("no place puts the injected document at the cut");
}

static void assert_same_diags(const struct diag_list *a, const struct diag_list *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	assert_int_equal(a->kept_errors, b->kept_errors);
	for (i = 0; i < a->n; i++) {
		const struct diag *x = &a->items[i], *y = &b->items[i];

		assert_int_equal(x->level, y->level);
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->col, y->col);
		assert_string_equal(x->file, y->file);
		assert_string_equal(x->field, y->field);
		assert_string_equal(x->msg, y->msg);
	}
	for (i = 0; i <= DIAG_ERROR; i++)
		assert_int_equal(a->dropped[i], b->dropped[i]);
}

static void assert_same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same_src(const struct src *a, const struct src *b)
{
	assert_int_equal(a->line, b->line);
	assert_int_equal(a->col, b->col);
	assert_same_str(a->path, b->path);
}

static void assert_same_ses(const struct service_entry *a, const struct service_entry *b)
{
	size_t i;

	for (; a && b; a = a->next, b = b->next) {
		assert_string_equal(a->r.name, b->r.name);
		assert_same_src(&a->r.src, &b->r.src);
		assert_int_equal(a->n_hosts, b->n_hosts);
		for (i = 0; i < a->n_hosts; i++)
			assert_string_equal(a->hosts[i], b->hosts[i]);
		assert_int_equal(a->n_eps, b->n_eps);
		for (i = 0; i < a->n_eps; i++) {
			assert_same_str(a->eps[i].address, b->eps[i].address);
			assert_int_equal(a->eps[i].n_ports, b->eps[i].n_ports);
			assert_same_src(&a->eps[i].src, &b->eps[i].src);
		}
	}
	assert_null(a);
	assert_null(b);
}

static size_t count_vss(const struct virtual_service *v)
{
	size_t n = 0;

	for (; v; v = v->next)
		n++;
	return n;
}

static size_t count_drs(const struct dest_rule *d)
{
	size_t n = 0;

	for (; d; d = d->next)
		n++;
	return n;
}

static void assert_same_models(const struct model *a, const struct model *b)
{
	const struct model_doc *x = a->docs, *y = b->docs;

	for (; x && y; x = x->next, y = y->next) {
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->ours, y->ours);
		assert_int_equal(x->errors, y->errors);
		assert_int_equal(x->first_diag, y->first_diag);
		assert_int_equal(!x->res, !y->res);
		assert_same_str(x->kind, y->kind);
		assert_same_str(x->name, y->name);
		assert_same_str(x->ns, y->ns);
	}
	assert_null(x);
	assert_null(y);
	assert_same_ses(a->ses, b->ses);
	assert_int_equal(count_vss(a->vss), count_vss(b->vss));
	assert_int_equal(count_drs(a->drs), count_drs(b->drs));
	assert_int_equal(a->visits.left, b->visits.left);
	assert_int_equal(a->visits.spent, b->visits.spent);
	assert_int_equal(a->unreadable, b->unreadable);
	assert_int_equal(a->arena.oom, b->arena.oom);
}

/* Parse t whole and in two parts; both the same. joined: whether the
 * second part's own parse is expected to be used. */
static void check_same(const struct text *t, bool joined)
{
	struct model whole, split;
	struct diag_list wdl = { 0 }, sdl = { 0 };
	unsigned long before;

	model_init(&whole);
	model_init(&split);
	parse_set_threads(1);
	assert_true(parse_buffer(&whole, "big.yaml", t->s, t->len, &wdl));
	before = parse_split_count();
	parse_set_threads(2);
	assert_true(parse_buffer(&split, "big.yaml", t->s, t->len, &sdl));
	parse_set_threads(1);
	assert_int_equal(parse_split_count() - before, joined ? 1 : 0);
	assert_true(wdl.n > 0);
	assert_same_diags(&wdl, &sdl);
	assert_same_models(&whole, &split);
	model_free(&whole);
	model_free(&split);
	diag_free(&wdl);
	diag_free(&sdl);
}

/* Does the line at s hold the last name of field ("spec.a[1].b": "b")? */
static bool line_has_field(const char *s, const char *field)
{
	const char *name = strrchr(field, '.') ? strrchr(field, '.') + 1 : field;
	size_t n = strcspn(name, "[");
	const char *eol = strchr(s, '\n');

	for (; s + n <= eol; s++) {
		if (memcmp(s, name, n) == 0)
			return true;
	}
	return false;
}

/* Diagnostics after the cut name the file's lines, not the part's. */
static void test_valid_file_same_model_and_lines(void **state)
{
	struct text t = { 0 };
	struct model m;
	struct diag_list dl = { 0 };
	size_t cut, cut_line = 0, i, late = 0;

	build(&t, NULL, false);
	check_same(&t, true);
	cut = cut_of(&t);
	for (i = 0; i < cut; i++)
		cut_line += t.s[i] == '\n';
	model_init(&m);
	parse_set_threads(2);
	assert_true(parse_buffer(&m, "big.yaml", t.s, t.len, &dl));
	parse_set_threads(1);
	for (i = 0; i < dl.n; i++) {
		const struct diag *d = &dl.items[i];
		size_t at = 0, line = 1;

		if (d->line <= cut_line)
			continue;
		late++;
		/* The reported line holds the field the diagnostic names. */
		for (at = 0; line < d->line; at++)
			line += t.s[at] == '\n';
		assert_true(line_has_field(t.s + at, d->field));
	}
	assert_true(late > 10);
	model_free(&m);
	diag_free(&dl);
	free(t.s);
}

/* Broken YAML just after the cut: the part's parse is not used, the
 * whole file's parser reports it as it would. */
static void test_yaml_error_after_cut(void **state)
{
	struct text t = { 0 };

	build(&t, "apiVersion: [unclosed\nkind: ServiceEntry\n", true);
	check_same(&t, false);
	free(t.s);
}

/* Broken YAML before the cut: nothing after it is read, as in one parse. */
static void test_yaml_error_before_cut(void **state)
{
	struct text t = { 0 };

	build(&t, "apiVersion: {a: b\nkind: x\n", false);
	check_same(&t, false);
	free(t.s);
}

/* A quoted scalar runs over the "---" line: libyaml refuses the document
 * marker inside it; the whole file's error, at the whole file's line. */
static void test_quoted_scalar_over_cut(void **state)
{
	struct text t = { 0 };

	build(&t, "apiVersion: networking.istio.io/v1beta1\nkind: \"Service\n", false);
	check_same(&t, false);
	free(t.s);
}

/* A block scalar at column 0 up to the cut: ended by the marker, so the
 * part is used. */
static void test_block_scalar_before_cut(void **state)
{
	struct text t = { 0 };

	build(&t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: |\n"
		  "    text\n", false);
	check_same(&t, true);
	free(t.s);
}

/* Aliases after the cut that expand past the visit budget (1,100 copies
 * of 1,000 labels): the budget is the whole file's, so the part is not
 * used and the parse stops where one parse would. */
static void test_alias_budget_after_cut(void **state)
{
	struct text t = { 0 }, bomb = { 0 };
	int i;

	text_add(&bomb, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata: {name: bomb}\nspec:\n  hosts: [a.example]\n"
			"  resolution: STATIC\n  endpoints:\n  - {address: 10.1.0.1, labels: &L {");
	for (i = 0; i < 1000; i++)
		text_add(&bomb, "%sk%d: v", i ? ", " : "", i);
	text_add(&bomb, "}}\n");
	for (i = 0; i < 1100; i++)
		text_add(&bomb, "  - {address: 10.2.%d.%d, labels: *L}\n", i / 250, i % 250 + 1);
	build(&t, bomb.s, true);
	check_same(&t, false);
	free(bomb.s);
	free(t.s);
}

/* A few aliases after the cut, well inside the budget: the part is used
 * and the budget left is the one a single parse leaves. */
static void test_small_alias_after_cut(void **state)
{
	struct text t = { 0 };

	build(&t, "apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
		  "metadata:\n  name: aliased\nspec:\n  hosts: &h\n  - a.example.com\n"
		  "  resolution: DNS\n  ports:\n  - number: 80\n    name: tcp\n"
		  "    protocol: TCP\n  exportTo: *h\n", true);
	check_same(&t, true);
	free(t.s);
}

/* Small files are parsed whole, whatever the threads. */
static void test_small_file_not_cut(void **state)
{
	const char *y = "apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
			"metadata:\n  name: a\nspec:\n  hosts: [a.example.com]\n---\n"
			"apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
			"metadata:\n  name: b\nspec:\n  hosts: [b.example.com]\n";
	struct diag_list dl = { 0 };
	unsigned long before = parse_split_count();
	struct model m;

	model_init(&m);
	parse_set_threads(2);
	assert_true(parse_buffer(&m, "small.yaml", y, strlen(y), &dl));
	parse_set_threads(1);
	assert_int_equal(parse_split_count(), before);
	assert_non_null(m.ses);
	assert_non_null(m.ses->next);
	model_free(&m);
	diag_free(&dl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_file_same_model_and_lines),
		cmocka_unit_test(test_yaml_error_after_cut),
		cmocka_unit_test(test_yaml_error_before_cut),
		cmocka_unit_test(test_quoted_scalar_over_cut),
		cmocka_unit_test(test_block_scalar_before_cut),
		cmocka_unit_test(test_alias_budget_after_cut),
		cmocka_unit_test(test_small_alias_after_cut),
		cmocka_unit_test(test_small_file_not_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
