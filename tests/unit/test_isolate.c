// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's per-resource compile (policy/isolate.h): a rejected resource
 * keeps its last good version and blocks nothing else; conflicts go to the
 * older resource; and an incremental compile (unchanged files not read
 * again) gives the very image a compile from scratch of the same
 * directory gives, after edits, deletes and renames.
 *
 * Each test works in its own temporary directory. "Expected" images come
 * from policy_compile_paths() over a second directory holding exactly the
 * resources that must be in force.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "policy/isolate.h"
#include "policy/policy.h"
#include "../kern/two_subsets.h"

struct dirs {
	char cur[64];  /* what the agent reads */
	char want[64]; /* what must be in force, compiled from scratch */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	strcpy(d->cur, "/tmp/bpfmesh-iso-cur.XXXXXX");
	strcpy(d->want, "/tmp/bpfmesh-iso-want.XXXXXX");
	assert_non_null(mkdtemp(d->cur));
	assert_non_null(mkdtemp(d->want));
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;

	nftw(d->cur, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	nftw(d->want, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(d);
	return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/* Service n: ServiceEntry at 127.100.n.1:80 with v1 and v2 endpoints, its
 * DestinationRule, and a VirtualService splitting w1/w2 (w1 < 0: invalid). */
static const char *svc_yaml(int n, int w1, int w2)
{
	static char buf[2048];
	char name[16], vip[32], e1[32], e2[32];

	snprintf(name, sizeof(name), "svc%d", n);
	snprintf(vip, sizeof(vip), "127.100.%d.1", n);
	snprintf(e1, sizeof(e1), "127.1.%d.1", n);
	snprintf(e2, sizeof(e2), "127.1.%d.2", n);
	fixture_two_subsets(buf, sizeof(buf), name, vip, e1, e2, w1, w2);
	return buf;
}

/* A ServiceEntry alone, named name, at vip:80 (created: "" for none). */
static const char *se_yaml(const char *name, const char *vip, const char *created, int ep)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata:\n"
		 "  name: %s\n"
		 "  namespace: default\n"
		 "%s%s%s"
		 "spec:\n"
		 "  hosts: [%s.example.com]\n"
		 "  addresses: [%s]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints: [{address: 127.1.0.%d}]\n",
		 name, created[0] ? "  creationTimestamp: \"" : "", created,
		 created[0] ? "\"\n" : "", name, vip, ep);
	return buf;
}

static bool sets_equal(const struct image_set *a, const struct image_set *b)
{
	return a->n_slots == b->n_slots && a->total_weight == b->total_weight &&
	       !memcmp(a->slots, b->slots, a->n_slots * sizeof(*a->slots)) &&
	       !strcmp(a->cluster, b->cluster) && !memcmp(&a->cfg, &b->cfg, sizeof(a->cfg));
}

/* Same keys and values, sets and names: what the maps would hold. */
static void assert_images_equal(const struct bpfmesh_image *a, const struct bpfmesh_image *b)
{
	size_t i;

	assert_int_equal(a->n_services, b->n_services);
	assert_int_equal(a->n_sets, b->n_sets);
	for (i = 0; i < a->n_sets; i++)
		if (!sets_equal(&a->sets[i], &b->sets[i]))
			print_message("set %zu: %s/%u vs %s/%u\n", i, a->sets[i].cluster,
				      a->sets[i].n_slots, b->sets[i].cluster, b->sets[i].n_slots);
	assert_int_equal(a->n_names, b->n_names);
	for (i = 0; i < a->n_services; i++) {
		assert_memory_equal(&a->services[i].key, &b->services[i].key,
				    sizeof(a->services[i].key));
		assert_memory_equal(&a->services[i].val, &b->services[i].val,
				    sizeof(a->services[i].val));
	}
	for (i = 0; i < a->n_sets; i++)
		assert_true(sets_equal(&a->sets[i], &b->sets[i]));
	for (i = 0; i < a->n_names; i++)
		assert_memory_equal(&a->names[i], &b->names[i], sizeof(a->names[i]));
}

/* The same file in both directories. */
static void copy_set(const struct dirs *d, const char *name, const char *text)
{
	write_file(d->cur, name, text);
	write_file(d->want, name, text);
}

static void remove_both(const struct dirs *d, const char *name)
{
	remove_file(d->cur, name);
	remove_file(d->want, name);
}

/* A step whose report is not looked at. */
static void compile_step(struct policy_store *st, const struct dirs *d);

/* Compile cur with the store and commit; compare with want from scratch. */
static void compile_expect(struct policy_store *st, const struct dirs *d,
			   struct policy_report *rep)
{
	const char *cur[] = { d->cur }, *want[] = { d->want };
	struct bpfmesh_image got = { 0 }, exp = { 0 };
	struct diag_list dl = { 0 }, edl = { 0 };

	assert_int_equal(policy_store_compile(st, cur, 1, NULL, NULL, NULL, 0, &dl, &got, rep), 0);
	policy_store_commit(st);
	assert_int_equal(policy_compile_paths(want, 1, &edl, &exp), 0);
	assert_images_equal(&got, &exp);
	bpfmesh_image_free(&got);
	bpfmesh_image_free(&exp);
	diag_free(&dl);
	diag_free(&edl);
}

/* The rejection report of kind/name, which must say whether its last
 * good version stays in force. */
static const struct res_report *expect_rejected(const struct policy_report *rep,
						const char *kind, const char *name,
						bool last_good);

static void compile_step(struct policy_store *st, const struct dirs *d)
{
	struct policy_report rep;

	compile_expect(st, d, &rep);
	policy_report_free(&rep);
}

static const struct res_report *find_rep(const struct policy_report *rep, const char *kind,
					 const char *name, bool rejected)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		if (!strcmp(rep->v[i].kind, kind) &&
		    (!strcmp(rep->v[i].name, name) || !strcmp(kind, "File")) &&
		    rep->v[i].rejected == rejected)
			return &rep->v[i];
	}
	return NULL;
}

static const struct res_report *expect_rejected(const struct policy_report *rep,
						const char *kind, const char *name,
						bool last_good)
{
	const struct res_report *r = find_rep(rep, kind, name, true);

	assert_non_null(r);
	assert_int_equal(r->last_good, last_good);
	return r;
}

/* Files written less than 100 ms ago are read again (racily clean): let
 * the ones that must come from the cache settle. */
static void settle(void)
{
	struct timespec ts = { 0, 150 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* A: good; B: good, then edited to be invalid while A changes: A's change
 * applies, B's old version stays, B is reported with file:line. */
static void test_invalid_edit_keeps_last_good(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	const struct res_report *r;

	write_file(d->cur, "a.yaml", svc_yaml(1, 90, 10));
	write_file(d->cur, "b.yaml", svc_yaml(2, 90, 10));
	write_file(d->want, "a.yaml", svc_yaml(1, 90, 10));
	write_file(d->want, "b.yaml", svc_yaml(2, 90, 10));
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_rejected, 0);
	assert_int_equal(rep.n_applied, 6);
	policy_report_free(&rep);

	write_file(d->cur, "a.yaml", svc_yaml(1, 50, 50));
	write_file(d->cur, "b.yaml", svc_yaml(2, -5, 10));
	write_file(d->want, "a.yaml", svc_yaml(1, 50, 50));
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_rejected, 1);
	r = expect_rejected(&rep, "VirtualService", "svc2", true);
	assert_non_null(strstr(r->diag, "b.yaml:"));
	assert_non_null(strstr(r->diag, ":30:15: "));
	assert_non_null(strstr(r->diag, "spec.tcp[0].route[0].weight"));
	policy_report_free(&rep);

	/* Fixed: the new version applies. */
	copy_set(d, "b.yaml", svc_yaml(2, 0, 100));
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_rejected, 0);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A new resource that is invalid is simply not in force. */
static void test_new_invalid_not_in_force(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	char text[2048];

	copy_set(d, "a.yaml", svc_yaml(1, 90, 10));
	compile_step(&st, d);
	/* b: SE and DR valid, its VS not: the SE and DR apply alone (the VIP
	 * then takes the service's default route). */
	write_file(d->cur, "b.yaml", svc_yaml(2, -1, 10));
	snprintf(text, sizeof(text), "%s", svc_yaml(2, 90, 10));
	*strstr(text, "---\napiVersion: networking.istio.io/v1\nkind: VirtualService") = '\0';
	write_file(d->want, "b.yaml", text);
	compile_expect(&st, d, &rep);
	expect_rejected(&rep, "VirtualService", "svc2", false);
	assert_non_null(find_rep(&rep, "ServiceEntry", "svc2", false));
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A file that is not YAML any more: what it held stays in force. */
static void test_unreadable_file_keeps_resources(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	const struct res_report *r;

	write_file(d->cur, "a.yaml", svc_yaml(1, 90, 10));
	write_file(d->cur, "b.yaml", svc_yaml(2, 90, 10));
	write_file(d->want, "a.yaml", svc_yaml(1, 90, 10));
	write_file(d->want, "b.yaml", svc_yaml(2, 90, 10));
	compile_step(&st, d);
	write_file(d->cur, "b.yaml", "kind: [unclosed\n");
	copy_set(d, "a.yaml", svc_yaml(1, 10, 90));
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_rejected, 1);
	r = find_rep(&rep, "File", "", true);
	assert_non_null(r);
	assert_non_null(strstr(r->diag, "invalid YAML"));
	assert_int_equal(rep.n_applied, 6);
	policy_report_free(&rep);
	/* Removed: its resources go. */
	remove_both(d, "b.yaml");
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_applied, 3);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* Two ServiceEntries on one VIP:port: the older keeps it. */
static void test_vip_conflict_older_wins(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	const struct res_report *r;

	copy_set(d, "b.yaml", se_yaml("bee", "127.100.9.1", "", 1));
	compile_step(&st, d);
	/* a.yaml comes first in name order but was seen later: it loses. */
	write_file(d->cur, "a.yaml", se_yaml("ant", "127.100.9.1", "", 2));
	compile_expect(&st, d, &rep);
	r = expect_rejected(&rep, "ServiceEntry", "ant", false);
	assert_non_null(strstr(r->diag, "127.100.9.1:80 is claimed by ServiceEntry default/bee"));
	assert_non_null(strstr(r->diag, "a.yaml:"));
	policy_report_free(&rep);
	/* An older creationTimestamp beats the first sighting. */
	write_file(d->cur, "a.yaml", se_yaml("ant", "127.100.9.1", "2020-01-01T00:00:00Z", 2));
	write_file(d->cur, "b.yaml", se_yaml("bee", "127.100.9.1", "2024-01-01T00:00:00Z", 1));
	remove_file(d->want, "b.yaml");
	write_file(d->want, "a.yaml", se_yaml("ant", "127.100.9.1", "2020-01-01T00:00:00Z", 2));
	compile_expect(&st, d, &rep);
	r = find_rep(&rep, "ServiceEntry", "bee", true);
	assert_non_null(r);
	/* bee's last good version claims the same VIP: nothing of bee stays. */
	assert_false(r->last_good);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A renamed file keeps its resources' age: the older still wins. */
static void test_rename_keeps_age(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	char from[256], to[256];

	copy_set(d, "m.yaml", se_yaml("ant", "127.100.9.1", "", 1));
	compile_step(&st, d);
	write_file(d->cur, "n.yaml", se_yaml("bee", "127.100.9.1", "", 2));
	compile_step(&st, d);
	snprintf(from, sizeof(from), "%s/m.yaml", d->cur);
	snprintf(to, sizeof(to), "%s/z.yaml", d->cur);
	assert_int_equal(rename(from, to), 0);
	snprintf(from, sizeof(from), "%s/m.yaml", d->want);
	snprintf(to, sizeof(to), "%s/z.yaml", d->want);
	assert_int_equal(rename(from, to), 0);
	compile_expect(&st, d, &rep);
	expect_rejected(&rep, "ServiceEntry", "bee", false);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A loser whose last good version claimed another VIP keeps that one. */
static void test_vip_conflict_falls_back(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;

	copy_set(d, "a.yaml", se_yaml("ant", "127.100.9.1", "", 1));
	copy_set(d, "b.yaml", se_yaml("bee", "127.100.9.2", "", 2));
	compile_step(&st, d);
	write_file(d->cur, "b.yaml", se_yaml("bee", "127.100.9.1", "", 3));
	compile_expect(&st, d, &rep);
	expect_rejected(&rep, "ServiceEntry", "bee", true);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* One name defined twice: the definition seen first applies. */
static void test_duplicate_name_older_wins(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	const struct res_report *r;

	copy_set(d, "b.yaml", svc_yaml(1, 90, 10));
	compile_step(&st, d);
	write_file(d->cur, "a.yaml", strstr(svc_yaml(1, 0, 100), "apiVersion: networking.istio."
							      "io/v1\nkind: VirtualService"));
	compile_expect(&st, d, &rep);
	r = find_rep(&rep, "VirtualService", "svc1", true);
	assert_non_null(r);
	assert_non_null(strstr(r->diag, "is also defined at"));
	assert_non_null(strstr(r->diag, "b.yaml:22"));
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A destination subset nobody defines, even under --strict: a warning. */
static void test_missing_reference_never_blocks(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { .strict = true };
	const char *cur[] = { d->cur };
	struct bpfmesh_image img = { 0 };
	struct diag_list dl = { .strict = true };
	struct policy_report rep;
	char text[2048];

	snprintf(text, sizeof(text), "%s", svc_yaml(1, 90, 10));
	*strstr(text, "subset: v2") = '\0';
	strcat(text, "subset: v3}\n      weight: 10\n");
	write_file(d->cur, "a.yaml", text);
	assert_int_equal(policy_store_compile(&st, cur, 1, NULL, NULL, NULL, 0, &dl, &img, &rep),
			 0);
	assert_int_equal(rep.n_rejected, 0);
	assert_int_equal(img.n_services, 1);
	bpfmesh_image_free(&img);
	diag_free(&dl);
	policy_report_free(&rep);
	policy_store_free(&st);
}

/* A file read within RACY_NS of its last change is read again at the next
 * compile. When its bytes are the same, its parse is kept even when it is
 * too large to keep for good (PFILE_KEEP_BYTES): a cold start right after
 * the policy was written parses it once. The same size with other bytes is
 * parsed again. */
static void test_racy_large_file_not_parsed_twice(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	size_t cap = 600u << 10, len = 0;
	char *text = malloc(cap), *w;
	int i;

	assert_non_null(text);
	for (i = 1; i <= 200; i++) {
		len += (size_t)snprintf(text + len, cap - len, "---\n%s", svc_yaml(i, 90, 10));
		len += (size_t)snprintf(text + len, cap - len, "# %01400d\n", 0);
	}
	assert_true(len > (300u << 10));
	copy_set(d, "big.yaml", text);
	compile_expect(&st, d, &rep); /* racy: read at once after the write */
	assert_int_equal(st.timing.files_parsed, 1);
	policy_report_free(&rep);
	compile_expect(&st, d, &rep); /* read again, same bytes: same parse */
	assert_int_equal(st.timing.files_parsed, 0);
	policy_report_free(&rep);

	w = strstr(text, "weight: 90"); /* same size, other bytes */
	assert_non_null(w);
	memcpy(w, "weight: 80", 10);
	w = strstr(text, "weight: 10");
	assert_non_null(w);
	memcpy(w, "weight: 20", 10);
	copy_set(d, "big.yaml", text);
	compile_expect(&st, d, &rep);
	assert_int_equal(st.timing.files_parsed, 1);
	policy_report_free(&rep);
	settle();
	compile_expect(&st, d, &rep); /* same bytes again, now settled */
	assert_int_equal(st.timing.files_parsed, 0);
	policy_report_free(&rep);
	settle();
	compile_expect(&st, d, &rep); /* settled: the id alone decides */
	assert_int_equal(st.timing.files_parsed, 0);
	policy_report_free(&rep);
	policy_store_free(&st);
	free(text);
}

/* Many in-memory documents (a Kubernetes cold start) are parsed on two
 * threads (isolate.c, store_read_bufs): the image, the rejections and their
 * order are those of the same documents read as files, one by one. */
static void test_many_documents_parsed_in_parallel(void **state)
{
	struct dirs *d = *state;
	enum { N_DOCS = 300 };
	struct policy_store st = { 0 };
	struct policy_report rep, frep;
	struct bpfmesh_image got = { 0 }, exp = { 0 };
	struct diag_list dl = { 0 }, fdl = { 0 };
	const char *names[N_DOCS], *bufs[N_DOCS], *cur[] = { d->cur }, *want[] = { d->want };
	char *owned[N_DOCS], name[64];
	size_t lens[N_DOCS], i;

	for (i = 0; i < N_DOCS; i++) {
		char bad[320];

		snprintf(bad, sizeof(bad),
			 "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			 "metadata: {name: bad%zu}\nspec: {hosts: [bad%zu.example], "
			 "ports: [{number: 99999, name: http, protocol: HTTP}]}\n", i, i);
		if (i < 250)
			owned[i] = strdup(svc_yaml((int)i + 1, 90, 10));
		else if (i % 2) /* invalid: a port over 65535 */
			owned[i] = strdup(bad);
		else /* not YAML */
			owned[i] = strdup("kind: [unclosed\n");
		assert_non_null(owned[i]);
		snprintf(name, sizeof(name), "doc%03zu.yaml", i);
		write_file(d->cur, name, owned[i]);
		if (i < 250)
			write_file(d->want, name, owned[i]);
		names[i] = strdup(name);
		bufs[i] = owned[i];
		lens[i] = strlen(owned[i]);
	}
	assert_int_equal(policy_store_compile(&st, NULL, 0, names, bufs, lens, N_DOCS, &dl, &got,
					      &rep), 0);
	assert_int_equal(st.timing.files_parsed, N_DOCS);
	assert_int_equal(policy_compile_paths(want, 1, &fdl, &exp), 0);
	assert_images_equal(&got, &exp);
	{
		struct policy_store fst = { 0 };
		struct bpfmesh_image fimg = { 0 };
		struct diag_list fdl2 = { 0 };

		assert_int_equal(policy_store_compile(&fst, cur, 1, NULL, NULL, NULL, 0, &fdl2,
						      &fimg, &frep), 0);
		assert_int_equal(rep.n_rejected, frep.n_rejected);
		assert_true(rep.n_rejected >= 25);
		assert_int_equal(rep.n, frep.n);
		for (i = 0; i < rep.n; i++) {
			assert_string_equal(rep.v[i].kind, frep.v[i].kind);
			assert_int_equal(rep.v[i].rejected, frep.v[i].rejected);
		}
		assert_int_equal(dl.n, fdl2.n);
		bpfmesh_image_free(&fimg);
		diag_free(&fdl2);
		policy_report_free(&frep);
		policy_store_free(&fst);
	}
	bpfmesh_image_free(&got);
	bpfmesh_image_free(&exp);
	diag_free(&dl);
	diag_free(&fdl);
	policy_report_free(&rep);
	policy_store_free(&st);
	for (i = 0; i < N_DOCS; i++) {
		free(owned[i]);
		free((char *)names[i]);
	}
}

/* Edits, deletes and renames: each incremental compile is the compile
 * from scratch; unchanged files are not read again. */
static void test_incremental_equals_full(void **state)
{
	struct dirs *d = *state;
	struct policy_store st = { 0 };
	struct policy_report rep;
	char from[256], to[256];
	int i;

	for (i = 1; i <= 8; i++) {
		snprintf(from, sizeof(from), "s%d.yaml", i);
		copy_set(d, from, svc_yaml(i, 90, 10));
	}
	settle();
	compile_expect(&st, d, &rep);
	assert_int_equal(st.timing.files_parsed, 8);
	policy_report_free(&rep);
	settle();
	compile_expect(&st, d, &rep); /* nothing changed */
	assert_int_equal(st.timing.files_parsed, 0);
	policy_report_free(&rep);

	copy_set(d, "s3.yaml", svc_yaml(3, 50, 50)); /* edit */
	settle();
	compile_expect(&st, d, &rep);
	assert_int_equal(st.timing.files_parsed, 1);
	policy_report_free(&rep);

	remove_both(d, "s5.yaml"); /* delete */
	compile_expect(&st, d, &rep);
	assert_int_equal(st.timing.files_parsed, 0);
	assert_int_equal(rep.n_applied, 7 * 3);
	policy_report_free(&rep);

	/* rename: the file moves in name order (precedence may change) */
	snprintf(from, sizeof(from), "%s/s1.yaml", d->cur);
	snprintf(to, sizeof(to), "%s/z1.yaml", d->cur);
	assert_int_equal(rename(from, to), 0);
	snprintf(from, sizeof(from), "%s/s1.yaml", d->want);
	snprintf(to, sizeof(to), "%s/z1.yaml", d->want);
	assert_int_equal(rename(from, to), 0);
	compile_expect(&st, d, &rep);
	assert_int_equal(rep.n_rejected, 0);
	policy_report_free(&rep);

	/* a new file renamed into place over an old one, as editors do */
	write_file(d->cur, ".tmp", svc_yaml(7, 1, 99));
	snprintf(from, sizeof(from), "%s/.tmp", d->cur);
	snprintf(to, sizeof(to), "%s/s7.yaml", d->cur);
	assert_int_equal(rename(from, to), 0);
	write_file(d->want, "s7.yaml", svc_yaml(7, 1, 99));
	compile_step(&st, d);
	policy_store_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_invalid_edit_keeps_last_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_invalid_not_in_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_file_keeps_resources, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vip_conflict_older_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vip_conflict_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_keeps_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_name_older_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_reference_never_blocks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incremental_equals_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_documents_parsed_in_parallel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_racy_large_file_not_parsed_twice, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
