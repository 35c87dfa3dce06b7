/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TEST_POLICY_TEST_H
#define BPFMESH_TEST_POLICY_TEST_H
/*
 * Helpers shared by the policy unit tests: compile YAML held in a string,
 * find a diagnostic by place, field and level, look up image entries.
 * Include after <cmocka.h>.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "policy/parse.h"
#include "policy/policy.h"

struct ptest {
	struct diag_list dl;
	struct bpfmesh_image img;
	int ret;
	const char *src; /* the YAML compiled, to show where a diagnostic points */
};

/* Compile one in-memory file named "t.yaml". */
static inline int ptest_compile(struct ptest *t, const char *yaml, bool strict)
{
	const char *names[] = { "t.yaml" };
	const char *bufs[] = { yaml };
	size_t lens[] = { strlen(yaml) };

	memset(t, 0, sizeof(*t));
	t->src = yaml;
	t->dl.strict = strict;
	t->ret = policy_compile_buffers(names, bufs, lens, 1, &t->dl, &t->img);
	return t->ret;
}

static inline void ptest_free(struct ptest *t)
{
	bpfmesh_image_free(&t->img);
	diag_free(&t->dl);
}

/* The first diagnostic with this level whose field equals field (NULL: any)
 * and whose message contains msg (NULL: any). */
static inline const struct diag *ptest_find(const struct ptest *t, enum diag_level level,
					    const char *field, const char *msg)
{
	size_t i;

	for (i = 0; i < t->dl.n; i++) {
		const struct diag *d = &t->dl.items[i];

		if (d->level == level && (!field || strcmp(d->field, field) == 0) &&
		    (!msg || strstr(d->msg, msg)))
			return d;
	}
	return NULL;
}

static inline size_t ptest_count(const struct ptest *t, enum diag_level level)
{
	size_t i, n = 0;

	for (i = 0; i < t->dl.n; i++)
		n += t->dl.items[i].level == level;
	return n;
}

/* The model of one parsed file (no checks across resources, no image), with
 * its first DestinationRule; t holds the diagnostics for assert_diag. */
struct mtest {
	struct ptest t;
	struct model m;
	const struct dest_rule *dr;
};

static inline void mtest_parse(struct mtest *o, const char *yaml)
{
	memset(o, 0, sizeof(*o));
	model_init(&o->m);
	o->t.src = yaml;
	assert_true(parse_buffer(&o->m, "t.yaml", yaml, strlen(yaml), &o->t.dl));
	o->dr = o->m.drs;
}

static inline void mtest_free(struct mtest *o)
{
	model_free(&o->m);
	diag_free(&o->t.dl);
}

/* Print line `line` of src with a caret under column col. */
static inline void ptest_show(const char *src, unsigned int line, unsigned int col)
{
	unsigned int l = 1;
	const char *end;

	for (; src && *src && l < line; src++)
		l += *src == '\n';
	if (!src || l != line)
		return;
	end = strchr(src, '\n');
	fprintf(stderr, "  %.*s\n  %*s^\n", (int)(end ? end - src : (long)strlen(src)), src,
		(int)(col ? col - 1 : 0), "");
}

/* Assert a diagnostic exists at file:line:col with this field and level. */
#define assert_diag(t, level, line_, col_, field_, msg_)                                  \
	do {                                                                           \
		const struct diag *d_ = ptest_find(t, level, field_, msg_);              \
		if (!d_) {                                                             \
			diag_print(&(t)->dl, stderr);                                  \
			fail_msg("no %s diagnostic on %s containing \"%s\"", #level,  \
				 field_ ? field_ : "(any)", msg_ ? msg_ : "");             \
		}                                                                      \
		assert_string_equal(d_->file, "t.yaml");                               \
		if (d_->line != (unsigned int)(line_) || d_->col != (unsigned int)(col_)) { \
			fprintf(stderr, "%s at %u:%u, expected %u:%u\n", d_->field,   \
				d_->line, d_->col, (unsigned int)(line_), (unsigned int)(col_)); \
			ptest_show((t)->src, d_->line, d_->col);                       \
		}                                                                      \
		assert_int_equal(d_->line, line_);                                     \
		assert_int_equal(d_->col, col_);                                       \
	} while (0)

/* No diagnostic at or above this level. */
#define assert_no_diag(t, level)                                                        \
	do {                                                                           \
		if (ptest_count(t, level)) {                                           \
			diag_print(&(t)->dl, stderr);                                  \
			fail_msg("unexpected %s diagnostics", #level);                 \
		}                                                                      \
	} while (0)

static inline struct svc_key ptest_key(const char *vip, unsigned int port)
{
	struct svc_key k;

	memset(&k, 0, sizeof(k));
	inet_pton(AF_INET, vip, &k.addr[0]);
	k.port = htons((__u16)port);
	k.proto = BPFMESH_PROTO_TCP;
	k.family = BPFMESH_AF_INET;
	return k;
}

static inline const struct image_service *ptest_service(const struct bpfmesh_image *img,
							const char *vip, unsigned int port)
{
	struct svc_key k = ptest_key(vip, port);
	size_t i;

	for (i = 0; i < img->n_services; i++) {
		if (memcmp(&img->services[i].key, &k, sizeof(k)) == 0)
			return &img->services[i];
	}
	return NULL;
}

static inline __be32 ptest_ip(const char *s)
{
	__be32 a = 0;

	inet_pton(AF_INET, s, &a);
	return a;
}

#endif /* BPFMESH_TEST_POLICY_TEST_H */
