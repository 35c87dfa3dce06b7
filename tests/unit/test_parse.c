// SPDX-License-Identifier: Apache-2.0
/* YAML -> model: what the parser keeps, where it says things went wrong,
 * and that no input (malformed, truncated, huge, hostile) crashes or leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy/parse.h"
#include "policy_test.h"

struct pstate {
	struct model m;
	struct diag_list dl;
};

static int setup(void **state)
{
	struct pstate *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	model_init(&s->m);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct pstate *s = *state;

	model_free(&s->m);
	diag_free(&s->dl);
	free(s);
	return 0;
}

static void parse(struct pstate *s, const char *yaml)
{
	assert_true(parse_buffer(&s->m, "t.yaml", yaml, strlen(yaml), &s->dl));
}

/* Find a diagnostic; fail with the whole list printed if absent. */
static const struct diag *find(struct pstate *s, enum diag_level level, const char *field,
			       const char *msg)
{
	size_t i;

	for (i = 0; i < s->dl.n; i++) {
		const struct diag *d = &s->dl.items[i];

		if (d->level == level && strcmp(d->field, field) == 0 &&
		    (!msg || strstr(d->msg, msg)))
			return d;
	}
	diag_print(&s->dl, stderr);
	fail_msg("no diagnostic on %s", field);
	return NULL;
}

static void assert_at(struct pstate *s, enum diag_level level, const char *field,
		      unsigned int line, unsigned int col, const char *msg)
{
	const struct diag *d = find(s, level, field, msg);

	assert_string_equal(d->file, "t.yaml");
	assert_int_equal(d->line, line);
	assert_int_equal(d->col, col);
}

static const char canary[] =
	"apiVersion: networking.istio.io/v1\n"                   /* 1 */
	"kind: ServiceEntry\n"                                   /* 2 */
	"metadata:\n"                                            /* 3 */
	"  name: reviews\n"                                      /* 4 */
	"spec:\n"                                                /* 5 */
	"  hosts:\n"                                             /* 6 */
	"  - reviews.default.svc.cluster.local\n"                /* 7 */
	"  addresses:\n"                                         /* 8 */
	"  - 127.100.0.1\n"                                      /* 9 */
	"  ports:\n"                                             /* 10 */
	"  - number: 80\n"                                       /* 11 */
	"    name: tcp\n"                                        /* 12 */
	"    protocol: TCP\n"                                    /* 13 */
	"    targetPort: 8080\n"                                 /* 14 */
	"  resolution: STATIC\n"                                 /* 15 */
	"  endpoints:\n"                                         /* 16 */
	"  - address: 127.0.1.1\n"                               /* 17 */
	"    labels: {version: v1}\n"                            /* 18 */
	"  - address: 127.0.1.3\n"                               /* 19 */
	"    labels: {version: v2}\n"                            /* 20 */
	"    weight: 3\n"                                        /* 21 */
	"---\n"                                                  /* 22 */
	"apiVersion: networking.istio.io/v1beta1\n"              /* 23 */
	"kind: DestinationRule\n"                                /* 24 */
	"metadata: {name: reviews, namespace: prod}\n"           /* 25 */
	"spec:\n"                                                /* 26 */
	"  host: reviews\n"                                      /* 27 */
	"  subsets:\n"                                           /* 28 */
	"  - name: v1\n"                                         /* 29 */
	"    labels: {version: v1}\n"                            /* 30 */
	"---\n"                                                  /* 31 */
	"apiVersion: networking.istio.io/v1alpha3\n"             /* 32 */
	"kind: VirtualService\n"                                 /* 33 */
	"metadata: {name: reviews}\n"                            /* 34 */
	"spec:\n"                                                /* 35 */
	"  hosts: [reviews, ratings.prod]\n"                     /* 36 */
	"  tcp:\n"                                               /* 37 */
	"  - match: [{port: 80}]\n"                              /* 38 */
	"    route:\n"                                           /* 39 */
	"    - destination: {host: reviews, subset: v1}\n"       /* 40 */
	"      weight: 90\n"                                     /* 41 */
	"    - destination: {host: reviews, subset: v2, port: {number: 80}}\n"
	"      weight: 10\n";

static void test_service_entry_model(void **state)
{
	struct pstate *s = *state;
	const struct service_entry *se;

	parse(s, canary);
	se = s->m.ses;
	assert_non_null(se);
	assert_null(se->next);
	assert_string_equal(se->r.name, "reviews");
	assert_string_equal(se->r.ns, "default");
	assert_int_equal(se->n_hosts, 1);
	assert_string_equal(se->hosts[0], "reviews.default.svc.cluster.local");
	assert_int_equal(se->n_addrs, 1);
	assert_int_equal(se->addrs[0].ip.a[0], ptest_ip("127.100.0.1"));
	assert_int_equal(se->addrs[0].src.line, 9);
	assert_int_equal(se->addrs[0].src.col, 5);
	assert_int_equal(se->n_ports, 1);
	assert_int_equal(se->ports[0].number, 80);
	assert_int_equal(se->ports[0].target_port, 8080);
	assert_int_equal(se->ports[0].cls, PORT_TCP);
	assert_string_equal(se->ports[0].name, "tcp");
	assert_int_equal(se->resolution, RES_STATIC);
	assert_int_equal(se->n_eps, 2);
	assert_string_equal(se->eps[1].address, "127.0.1.3");
	assert_int_equal(se->eps[1].weight, 3);
	assert_int_equal(se->eps[0].weight, 0);
	assert_int_equal(se->eps[1].labels.n, 1);
	assert_string_equal(se->eps[1].labels.v[0].key, "version");
	assert_string_equal(se->eps[1].labels.v[0].val, "v2");
	assert_int_equal(se->eps[1].src.line, 19);
	assert_int_equal(s->dl.n, 0);
}

/* Short names resolve in the resource's namespace; dotted names are literal. */
static void test_short_names_resolved(void **state)
{
	struct pstate *s = *state;
	const struct virtual_service *vs;
	const struct dest_rule *dr;

	parse(s, canary);
	dr = s->m.drs;
	vs = s->m.vss;
	assert_string_equal(dr->r.ns, "prod");
	assert_string_equal(dr->host, "reviews.prod.svc.cluster.local");
	assert_string_equal(vs->hosts[0], "reviews.default.svc.cluster.local");
	assert_string_equal(vs->hosts[1], "ratings.prod");
	assert_int_equal(vs->host_src[1].line, 36);
	assert_int_equal(vs->host_src[1].col, 20);
}

static void test_virtual_service_model(void **state)
{
	struct pstate *s = *state;
	const struct vs_route *r;

	parse(s, canary);
	assert_int_equal(s->m.vss->n_tcp, 1);
	assert_int_equal(s->m.vss->n_http, 0);
	r = &s->m.vss->tcp[0];
	assert_int_equal(r->n_matches, 1);
	assert_true(r->matches[0].has_port);
	assert_int_equal(r->matches[0].port, 80);
	assert_int_equal(r->n_dests, 2);
	assert_string_equal(r->dests[0].host, "reviews");
	assert_string_equal(r->dests[0].subset, "v1");
	assert_int_equal(r->dests[0].weight, 90);
	assert_false(r->dests[0].has_port);
	assert_true(r->dests[1].has_port);
	assert_int_equal(r->dests[1].port, 80);
	assert_int_equal(r->dests[1].weight_src.line, 43);
	assert_int_equal(r->dests[1].weight_src.col, 15);
	assert_string_equal(r->dests[1].src.path, "spec.tcp[0].route[1].destination");
}

static void test_multi_document_order(void **state)
{
	struct pstate *s = *state;

	parse(s, canary);
	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: second}\nspec: {hosts: [b.example.com]}\n");
	assert_string_equal(s->m.ses->r.name, "reviews");
	assert_string_equal(s->m.ses->next->r.name, "second");
	assert_non_null(s->m.drs);
	assert_non_null(s->m.vss);
}

static void test_weight_not_an_integer(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  hosts: [a]\n"
		 "  tcp:\n"
		 "  - route:\n"
		 "    - destination: {host: a}\n"
		 "      weight: \"abc\"\n"
		 "    - destination: {host: b}\n"
		 "      weight: 1.5\n");
	assert_at(s, DIAG_ERROR, "spec.tcp[0].route[0].weight", 9, 15,
		  "expected an integer, got a string");
	assert_at(s, DIAG_ERROR, "spec.tcp[0].route[1].weight", 11, 15,
		  "expected an integer, got a number");
}

static void test_hosts_scalar_not_list(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x}\nspec:\n  hosts: a.example.com\n");
	assert_at(s, DIAG_ERROR, "spec.hosts", 5, 10, "expected a list, got a string");
}

static void test_wrong_types(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  hosts: [a.example.com]\n"
		 "  ports: {number: 80}\n"
		 "  endpoints:\n"
		 "  - address: [1, 2]\n"
		 "    labels: {version: 2, on: yes}\n"
		 "  resolution: true\n");
	assert_at(s, DIAG_ERROR, "spec.ports", 6, 10, "expected a list, got a mapping");
	assert_at(s, DIAG_ERROR, "spec.endpoints[0].address", 8, 14, "expected a string, got a list");
	assert_at(s, DIAG_ERROR, "spec.endpoints[0].labels.version", 9, 23, "got an integer");
	assert_at(s, DIAG_ERROR, "spec.endpoints[0].labels.on", 9, 26, "got a boolean");
	assert_at(s, DIAG_ERROR, "spec.resolution", 10, 15, "got a boolean");
}

static void test_unknown_field_reported_at_key(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  host: a.example.com\n"
		 "  subsets:\n"
		 "  - name: v1\n"
		 "    lables: {version: v1}\n");
	assert_at(s, DIAG_UNENFORCED, "spec.subsets[0].lables", 8, 5, "unknown");
}

static void test_unknown_enum_value(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec: {hosts: [a.b], resolution: DYNAMIC, location: MESH_EXTERNAL}\n");
	assert_at(s, DIAG_ERROR, "spec.resolution", 4, 34, "unknown value \"DYNAMIC\"");
}

static void test_null_is_unset(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		 "metadata: {name: x, namespace: ~}\n"
		 "spec:\n"
		 "  hosts: [a]\n"
		 "  tcp:\n"
		 "  - route:\n"
		 "    - destination: {host: a, subset: null}\n"
		 "      weight:\n");
	assert_int_equal(s->dl.n, 0);
	assert_string_equal(s->m.vss->r.ns, "default");
	assert_null(s->m.vss->tcp[0].dests[0].subset);
	assert_false(s->m.vss->tcp[0].dests[0].has_weight);
}

static void test_duplicate_key(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  hosts: [a.b]\n"
		 "  hosts: [c.d]\n");
	assert_at(s, DIAG_ERROR, "spec.hosts", 6, 3, "duplicate key (first at line 5)");
}

static void test_bad_yaml_position(void **state)
{
	struct pstate *s = *state;
	const struct diag *d;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x\n"
		 "spec: {}\n");
	d = find(s, DIAG_ERROR, "", "invalid YAML");
	assert_int_equal(d->line, 4);
	assert_int_equal(d->col, 5);
}

static void test_tab_indentation(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec:\n\thosts: []\n");
	find(s, DIAG_ERROR, "", "invalid YAML");
}

static void test_empty_documents(void **state)
{
	struct pstate *s = *state;

	parse(s, "");
	find(s, DIAG_NOTE, "", "no YAML documents");
	parse(s, "---\n---\n# just a comment\n");
	find(s, DIAG_NOTE, "", "empty document");
	assert_null(s->m.ses);
	assert_int_equal(diag_count_errors(&s->dl), 0);
}

static void test_other_kinds_skipped(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v2\nkind: ServiceEntry\nmetadata: {name: x}\n"
		 "spec: {}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: x}\nspec: {}\n");
	assert_at(s, DIAG_NOTE, "kind", 1, 1, "v1 Service is not a traffic policy kind");
	assert_at(s, DIAG_NOTE, "apiVersion", 6, 13, "unsupported version");
	assert_at(s, DIAG_NOTE, "kind", 11, 1, "Gateway");
	assert_null(s->m.ses);
	assert_int_equal(diag_count_errors(&s->dl), 0);
}

static void test_required_top_level(void **state)
{
	struct pstate *s = *state;

	parse(s, "kind: ServiceEntry\nmetadata: {name: x}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec: {hosts: [a.b]}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {namespace: a}\n"
		 "---\n"
		 "- just\n- a list\n");
	assert_at(s, DIAG_ERROR, "apiVersion", 1, 1, "required");
	assert_at(s, DIAG_ERROR, "metadata", 4, 1, "required");
	assert_at(s, DIAG_ERROR, "metadata.name", 10, 11, "required");
	assert_at(s, DIAG_ERROR, "spec", 8, 1, "required");
	assert_at(s, DIAG_ERROR, "", 12, 1, "expected a mapping, got a list");
}

/* Every prefix of a valid file: a diagnostic or a model, never a crash. */
static void test_truncated_every_length(void **state)
{
	size_t len, full = strlen(canary);
	char *buf = malloc(full + 1);

	assert_non_null(buf);
	for (len = 0; len <= full; len++) {
		struct model m;
		struct diag_list dl = { 0 };

		memcpy(buf, canary, len);
		buf[len] = '\0';
		model_init(&m);
		assert_true(parse_buffer(&m, "t.yaml", buf, len, &dl));
		model_free(&m);
		diag_free(&dl);
	}
	free(buf);
}

/* Same through the whole compile. */
static void test_truncated_compile(void **state)
{
	size_t len, full = strlen(canary);
	char *buf = malloc(full + 1);
	int ret;

	assert_non_null(buf);
	for (len = 0; len <= full; len += 7) {
		struct ptest t;

		memcpy(buf, canary, len);
		buf[len] = '\0';
		ret = ptest_compile(&t, buf, false);
		assert_true(ret == 0 || ret == 1);
		if (ret == 1)
			assert_int_equal(t.img.n_services, 0);
		ptest_free(&t);
	}
	free(buf);
}

static void test_huge_file_refused(void **state)
{
	char path[] = "/tmp/bpfmesh-huge-XXXXXX";
	const char *paths[] = { path };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)POLICY_MAX_FILE_BYTES + 1), 0);
	close(fd);
	assert_int_equal(policy_compile_paths(paths, 1, &dl, &img), 1);
	assert_int_equal(dl.n, 1);
	assert_non_null(strstr(dl.items[0].msg, "more than"));
	assert_int_equal(img.n_services, 0);
	unlink(path);
	diag_free(&dl);
}

static void test_huge_buffer_refused(void **state)
{
	const char *names[] = { "big.yaml" }, *bufs[] = { "" };
	size_t lens[] = { (size_t)POLICY_MAX_FILE_BYTES + 1 };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;

	/* The length alone is checked: the buffer is never read. */
	assert_int_equal(policy_compile_buffers(names, bufs, lens, 1, &dl, &img), 1);
	assert_non_null(strstr(dl.items[0].msg, "more than"));
	diag_free(&dl);
}

static void test_alias_bomb_bounded(void **state)
{
	struct pstate *s = *state;

	parse(s, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: x}\n"
		 "spec:\n"
		 "  exportTo: &a [x, x, x, x, x, x, x, x, x, x]\n"
		 "  subjectAltNames: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		 "  addresses: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		 "  hosts: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
	find(s, DIAG_ERROR, "spec.hosts[0]", "expected a string, got a list");
}

static void test_nul_and_control_characters(void **state)
{
	static const char nul[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				  "metadata: {name: \"a\\0b\"}\nspec: {hosts: [a.b]}\n";
	static const char raw[] = "kind: x\0y\n";
	struct pstate *s = *state;

	parse(s, nul);
	assert_at(s, DIAG_ERROR, "metadata.name", 3, 18, "NUL");
	assert_true(parse_buffer(&s->m, "t.yaml", raw, sizeof(raw) - 1, &s->dl));
	find(s, DIAG_ERROR, "", "control characters");
}

static void test_deep_nesting(void **state)
{
	static const char head[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: x}\nspec:\n  hosts: [a.b]\n  foo: ";
	size_t depth = 100000, i, at = sizeof(head) - 1;
	char *buf = malloc(at + 2 * depth + 2);
	struct pstate *s = *state;

	assert_non_null(buf);
	memcpy(buf, head, at);
	for (i = 0; i < depth; i++)
		buf[at++] = '[';
	for (i = 0; i < depth; i++)
		buf[at++] = ']';
	buf[at++] = '\n';
	buf[at] = '\0';
	parse(s, buf);
	/* Refused before libyaml loads it (its scanner is quadratic in depth):
	 * at the first bracket past 100 levels (2 block mappings + 99). */
	assert_at(s, DIAG_ERROR, "", 6, 106, "nesting deeper than 100 levels");
	free(buf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_service_entry_model),
		T(test_short_names_resolved),
		T(test_virtual_service_model),
		T(test_multi_document_order),
		T(test_weight_not_an_integer),
		T(test_hosts_scalar_not_list),
		T(test_wrong_types),
		T(test_unknown_field_reported_at_key),
		T(test_unknown_enum_value),
		T(test_null_is_unset),
		T(test_duplicate_key),
		T(test_bad_yaml_position),
		T(test_tab_indentation),
		T(test_empty_documents),
		T(test_other_kinds_skipped),
		T(test_required_top_level),
		T(test_truncated_every_length),
		T(test_truncated_compile),
		T(test_huge_file_refused),
		T(test_huge_buffer_refused),
		T(test_alias_bomb_bounded),
		T(test_nul_and_control_characters),
		T(test_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
