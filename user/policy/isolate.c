// SPDX-License-Identifier: Apache-2.0
/* Per-resource isolation and the per-file parse cache (see isolate.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "compile.h"
#include "compile_incr.h"
#include "files.h"
#include "hmap.h"
#include "isolate.h"
#include "par.h"
#include "parse.h"
#include "policy.h"
#include "validate.h"

#define NO_DIAG SIZE_MAX

/* What tells a file's content apart without reading it. A file renamed
 * into place is a new inode; one edited in place gets a new mtime and ctime. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* One document of a file, as the agent judges it. */
struct pdoc {
	struct model_doc *md;
	const char *key;    /* "Kind/namespace/name" (in the file's arena); NULL: unnamed */
	bool valid;         /* no error of its own, in a file read whole */
	size_t first_error; /* index into the file's dl.items, NO_DIAG: none kept */
	uint64_t seen;      /* first sighting of (key, this file's path) */
};

/* One file's parse, shared by every reload until the file changes, and by
 * the last good versions it holds after that (refs). */
struct pfile {
	char *path;
	struct file_id id;
	bool cacheable; /* a file whose id is known (not an in-memory document) */
	bool failed;    /* not read as YAML: its resources keep their last good */
	struct model m;
	struct diag_list dl; /* its own diagnostics, re-reported at every reload */
	struct pdoc *docs;
	size_t n_docs;
	unsigned int refs;
	char *bytes; /* what was parsed, kept for a small file (PFILE_KEEP_BYTES) */
	size_t n_bytes;
	size_t index;       /* its place in the input of the compile under way */
	unsigned char mark; /* choose_kept: FILE_WAS, FILE_KEPT or FILE_NEW */
};

/* A file read again with the very bytes of its last read keeps that parse
 * (and its resources stay "unchanged" for the incremental compile): a
 * file rewritten whole, or read again by the racy rule below, is not a
 * change. Kept for files up to this size; larger ones are parsed again. */
#define PFILE_KEEP_BYTES (256u << 10)

/* A resource version in force (or about to be): the last good ones. */
struct lg_entry {
	const char *key;
	struct pfile *pf; /* holds a reference */
	struct resource *res;
	uint64_t seen;
};

/* First sightings of (resource key, file path), by this agent. Grows with
 * every pair ever seen: one short string each. */
struct seen_map {
	struct hmap map;
	char **keys;
	size_t n, cap;
	uint64_t next;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- files ------------------------------------------------------------- */

static bool file_id_of(const char *path, struct file_id *id)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return false;
	*id = (struct file_id){ .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
				.mtime = st.st_mtim, .ctime = st.st_ctim };
	return true;
}

/*
 * File times come from the kernel's coarse clock (one tick, up to 10 ms):
 * two writes of the same size within a tick leave the same id. A file
 * changed less than this before it was read is read again next time
 * (git's "racily clean" rule), so a cached parse is never older than the
 * file.
 */
#define RACY_NS 100000000ll

static long long ts_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000ll + t->tv_nsec;
}

static bool file_id_settled(const struct file_id *id)
{
	struct timespec now;
	long long changed = ts_ns(&id->mtime);

	if (ts_ns(&id->ctime) > changed)
		changed = ts_ns(&id->ctime);
	clock_gettime(CLOCK_REALTIME, &now);
	return ts_ns(&now) - changed >= RACY_NS;
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void pfile_unref(struct pfile *pf)
{
	if (!pf || --pf->refs)
		return;
	model_free(&pf->m);
	diag_free(&pf->dl);
	free(pf->docs);
	free(pf->bytes);
	free(pf->path);
	free(pf);
}

static struct pfile *pfile_new(const char *path, bool strict)
{
	struct pfile *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->path = strdup(path);
	if (!pf->path) {
		free(pf);
		return NULL;
	}
	pf->refs = 1;
	pf->dl.strict = strict;
	model_init(&pf->m);
	return pf;
}

static size_t first_error_in(const struct diag_list *dl, size_t from, size_t to)
{
	for (; from < to && from < dl->n; from++) {
		if (diag_is_error(dl, &dl->items[from]))
			return from;
	}
	return NO_DIAG;
}

/* Judge each document: its parse errors, then validate_model's checks for
 * it alone. The parse left every document's diagnostics in one run. */
static bool pfile_judge_docs(struct pfile *pf)
{
	const struct model_doc *md;
	size_t i = 0, parsed = pf->dl.n, from, dropped;

	for (md = pf->m.docs; md; md = md->next)
		pf->n_docs++;
	pf->docs = calloc(pf->n_docs ? pf->n_docs : 1, sizeof(*pf->docs));
	if (!pf->docs)
		return false;
	for (md = pf->m.docs; md; md = md->next, i++) {
		struct pdoc *pd = &pf->docs[i];
		size_t errors = md->errors;

		pd->md = (struct model_doc *)md;
		pd->first_error = md->errors ? first_error_in(&pf->dl, md->first_diag,
				md->next ? md->next->first_diag : parsed) : NO_DIAG;
		if (md->res) {
			from = pf->dl.n;
			dropped = diag_dropped_errors(&pf->dl);
			validate_resource(md->res, &pf->dl);
			errors += diag_errors_since(&pf->dl, from, dropped);
			if (pd->first_error == NO_DIAG)
				pd->first_error = first_error_in(&pf->dl, from, pf->dl.n);
		}
		if (md->ours && md->kind && md->name && md->name[0])
			pd->key = arena_printf(&pf->m.arena, "%s/%s/%s", md->kind,
					       md->ns ? md->ns : "default", md->name);
		pd->valid = md->res && !errors && !pf->failed && pd->key;
	}
	return !pf->m.arena.oom;
}

static struct pfile *pfile_parse(struct pfile *pf, const char *buf, size_t len)
{
	parse_buffer(&pf->m, pf->path, buf, len, &pf->dl);
	pf->failed = pf->failed || pf->m.unreadable || pf->m.arena.oom;
	if (!pfile_judge_docs(pf))
		pf->failed = true;
	return pf;
}

/* prev's parse, when it was of these very bytes (PFILE_KEEP_BYTES). */
static struct pfile *pfile_same_bytes(struct pfile *prev, const char *buf, size_t len,
				      bool strict)
{
	if (!prev || !prev->bytes || prev->n_bytes != len || prev->dl.strict != strict ||
	    memcmp(prev->bytes, buf, len))
		return NULL;
	prev->refs++;
	return prev;
}

/* prev (may be NULL): the last read of the same path. */
static struct pfile *pfile_from_path(const char *path, bool strict, struct pfile *prev)
{
	struct pfile *pf = pfile_new(path, strict);
	size_t len = 0;
	char *buf;

	if (!pf)
		return NULL;
	/* The id before the read: a write after it changes the id again,
	 * so the next reload reads the file again. */
	pf->cacheable = file_id_of(path, &pf->id) && file_id_settled(&pf->id);
	if (policy_read_file(pf->path, &buf, &len, &pf->dl)) {
		pf->failed = true;
		return pfile_parse(pf, "", 0);
	}
	if (pfile_same_bytes(prev, buf, len, strict)) {
		prev->id = pf->id;
		prev->cacheable = pf->cacheable;
		if (prev->cacheable && prev->n_bytes > PFILE_KEEP_BYTES) {
			free(prev->bytes); /* settled now: its id decides from here */
			prev->bytes = NULL;
			prev->n_bytes = 0;
		}
		free(buf);
		pfile_unref(pf);
		return prev;
	}
	pfile_parse(pf, buf, len);
	/* A file read within RACY_NS of its last change is read again at the
	 * next reload, so its bytes are kept whatever their size: the common
	 * case, a cold start right after the policy was written, then compares
	 * them (~10 ms for 17.6 MB) instead of parsing again (~450 ms). */
	if (len <= PFILE_KEEP_BYTES || !pf->cacheable) {
		pf->bytes = buf;
		pf->n_bytes = len;
	} else {
		free(buf);
	}
	return pf;
}

/* An in-memory document parsed anew (no earlier version with its bytes).
 * Touches nothing but the new pfile: documents are parsed on two threads
 * (store_read_bufs). */
static struct pfile *pfile_parse_buffer(const char *name, const char *buf, size_t len,
					bool strict)
{
	struct pfile *pf = pfile_new(name, strict);

	if (!pf)
		return NULL;
	if (len > POLICY_MAX_FILE_BYTES) {
		diag_add(&pf->dl, DIAG_ERROR, name, 0, 0, "",
			 "document is %zu bytes, more than the %u bytes allowed; not read", len,
			 POLICY_MAX_FILE_BYTES);
		pf->failed = true;
		return pfile_parse(pf, "", 0);
	}
	pfile_parse(pf, buf, len);
	if (len <= PFILE_KEEP_BYTES && (pf->bytes = malloc(len + 1))) {
		memcpy(pf->bytes, buf, len);
		pf->n_bytes = len;
	}
	return pf;
}

/* An in-memory document (Kubernetes renders every object at each reload):
 * one with the bytes of its last version (prev, same name) keeps its parse. */
static struct pfile *pfile_from_buffer(const char *name, const char *buf, size_t len,
				       bool strict, struct pfile *prev)
{
	struct pfile *pf = pfile_same_bytes(prev, buf, len, strict);

	return pf ? pf : pfile_parse_buffer(name, buf, len, strict);
}

/* ---- first sightings ----------------------------------------------------- */

/* The first sighting of (key, path); a pair seen now for the first time
 * takes inherit - 1 when inherit is not 0, else the next number. */
static uint64_t seen_get(struct seen_map *s, const char *key, const char *path,
			 uint64_t inherit)
{
	size_t v;
	bool added;
	char *k;

	if (asprintf(&k, "%s\n%s", key, path) < 0)
		return UINT64_MAX;
	if (hmap_get_str(&s->map, k, &v)) {
		free(k);
		return v;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		char **keys = realloc(s->keys, cap * sizeof(*keys));

		if (!keys) {
			free(k);
			return UINT64_MAX; /* out of memory: seen last, the order stays defined */
		}
		s->keys = keys;
		s->cap = cap;
	}
	if (!hmap_put_str(&s->map, k, inherit ? inherit - 1 : s->next, &added)) {
		free(k);
		return UINT64_MAX;
	}
	s->keys[s->n++] = k;
	return inherit ? inherit - 1 : s->next++;
}

static void seen_free(struct seen_map *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
	hmap_free(&s->map);
	free(s);
}

/* ---- reports ------------------------------------------------------------- */

static char *diag_text(const struct diag *d)
{
	char *s = NULL;

	if (d->line && d->field && d->field[0])
		return asprintf(&s, "%s:%u:%u: %s: %s", d->file, d->line, d->col, d->field,
				d->msg) < 0 ? NULL : s;
	if (d->line)
		return asprintf(&s, "%s:%u:%u: %s", d->file, d->line, d->col, d->msg) < 0 ? NULL : s;
	return asprintf(&s, "%s: %s", d->file, d->msg) < 0 ? NULL : s;
}

/* Room for one more report; false when out of memory (the report is
 * incomplete, the compile is not). */
static bool rep_grow(struct policy_report *rep)
{
	struct res_report *v;

	/* Room doubles at 64, 128, 256...: every resource is reported at
	 * every compile. */
	if (rep->n && (rep->n < 64 || (rep->n & (rep->n - 1))))
		return true;
	v = realloc(rep->v, (rep->n ? rep->n * 2 : 64) * sizeof(*v));
	if (!v)
		return false;
	rep->v = v;
	return true;
}

/* Append a report; index + 1, or 0 when out of memory (the report is
 * incomplete, the compile is not). Takes diag (malloc'd, may be NULL). */
static size_t rep_add(struct policy_report *rep, const char *kind, const char *ns,
		      const char *name, const char *file, unsigned int line, char *diag,
		      bool rejected, bool last_good)
{
	struct res_report *r;

	if (!rep_grow(rep)) {
		free(diag);
		return 0;
	}
	r = &rep->v[rep->n];
	*r = (struct res_report){
		.kind = strdup(kind ? kind : "(no kind)"), .ns = strdup(ns ? ns : ""),
		.name = strdup(name ? name : "(no name)"), .file = strdup(file), .line = line,
		.rejected = rejected, .last_good = last_good, .diag = diag,
	};
	if (rejected)
		rep->n_rejected++;
	else
		rep->n_applied++;
	return ++rep->n;
}


static char *pdoc_reason(const struct pfile *pf, const struct pdoc *pd)
{
	char *s = NULL;

	if (pd->first_error != NO_DIAG)
		return diag_text(&pf->dl.items[pd->first_error]);
	return asprintf(&s, "%s:%u: rejected: errors beyond the diagnostics kept", pf->path,
			pd->md->line) < 0 ? NULL : s;
}

static size_t rep_reject_doc(struct policy_report *rep, const struct pfile *pf,
			     const struct pdoc *pd, char *reason, bool last_good)
{
	const struct model_doc *md = pd->md;

	return rep_add(rep, md->kind, md->ns, md->name, pf->path, md->line,
		       reason ? reason : pdoc_reason(pf, pd), true, last_good);
}

void policy_report_free(struct policy_report *rep)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		if (!rep->v[i].borrowed) {
			free(rep->v[i].kind);
			free(rep->v[i].ns);
			free(rep->v[i].name);
			free(rep->v[i].file);
		}
		free(rep->v[i].diag);
	}
	free(rep->v);
	*rep = (struct policy_report){ 0 };
}

/* ---- choosing what is in force ------------------------------------------- */

/* One definition of a key in the files read now. */
struct occ {
	struct pfile *pf;
	struct pdoc *pd;
	uint64_t pos;  /* file index << 32 | document index: input order */
	size_t next;   /* index + 1 of the key's next definition; 0: last */
};

/* A resource version this compile puts in force. */
struct pick {
	const char *key;
	struct pfile *pf;
	struct resource *res;
	uint64_t pos, seen;
	struct pfile *at; /* the file pos is in: pos moves with its index */
	const struct resource *cand; /* the definition chosen before VIP:ports */
	bool from_lg;  /* its last good version, not what the files hold now */
	size_t report; /* index + 1 of its rejection report; 0: none */
	bool dropped;  /* lost a conflict with nothing to fall back on */
	bool conflict; /* in a VIP:port conflict, won or lost */
	/* What its report shows, copied from res once (pick_show): reporting
	 * every resource in force then reads the picks, not 30,000 resources
	 * spread over the arenas. */
	struct {
		const char *kind, *ns, *name, *file;
		unsigned int line;
	} shown;
};

struct choose {
	struct policy_store *st;
	struct pfile **files;
	size_t n_files;
	struct occ *occs;
	size_t n_occs;
	struct hmap by_key; /* key -> index of its first occ */
	struct hmap lg_by_key; /* key -> index into st->lg */
	struct hmap paths;     /* path -> index into files */
	struct pick *picks;
	size_t n_picks, cap_picks;
	struct policy_report *rep;
	bool kept;            /* choose_kept chose: picks are in input order */
	struct pick *was;     /* choose_kept: the picks of the changed files before */
	size_t n_was;
	struct pick *now;     /* ... and after */
	size_t n_now;
	struct pfile **old;   /* the files of the last read (FILE_WAS) */
	size_t n_old;
};

/*
 * Which of two definitions is older (negative: a). Istio orders conflicting
 * configs by creationTimestamp, then name, then namespace (its
 * sortConfigByCreationTime); files have no creation time, so the agent's
 * first sighting stands in for it when either lacks one.
 */
static int age_cmp(const struct resource *a, uint64_t seen_a, uint64_t pos_a,
		   const struct resource *b, uint64_t seen_b, uint64_t pos_b)
{
	int c;

	if (a->has_created && b->has_created && a->created != b->created)
		return a->created < b->created ? -1 : 1;
	if (seen_a != seen_b)
		return seen_a < seen_b ? -1 : 1;
	if ((c = strcmp(a->name, b->name)) || (c = strcmp(a->ns, b->ns)))
		return c;
	return pos_a < pos_b ? -1 : pos_a > pos_b;
}

static void pick_show(struct pick *p)
{
	const struct resource *r = p->res;

	p->shown.kind = r->kind;
	p->shown.ns = r->ns ? r->ns : "";
	p->shown.name = r->name;
	p->shown.file = r->src.file;
	p->shown.line = r->src.line;
}

static bool choose_add_pick(struct choose *c, const struct pick *p)
{
	if (c->n_picks % 256 == 0) {
		struct pick *v = realloc(c->picks, (c->n_picks + 256) * sizeof(*v));

		if (!v)
			return false;
		c->picks = v;
		c->cap_picks = c->n_picks + 256;
	}
	c->picks[c->n_picks++] = *p;
	return true;
}

static const struct lg_entry *choose_lg(const struct choose *c, const char *key)
{
	size_t i;

	return hmap_get_str(&c->lg_by_key, key, &i) ? &c->st->lg[i] : NULL;
}

/* A resource whose file was renamed (its last good version's file is gone)
 * keeps its age: the first sighting of its last good version. 0: none. */
static uint64_t seen_moved(const struct choose *c, const char *key, const char *path)
{
	const struct lg_entry *lg = choose_lg(c, key);
	size_t unused;

	if (!lg || !strcmp(lg->pf->path, path) || hmap_get_str(&c->paths, lg->pf->path, &unused))
		return 0;
	return lg->seen;
}

/* Every named definition, and a report for each document that is
 * rejected without a name to keep anything under. */
static bool choose_collect(struct choose *c)
{
	size_t f, d, n = 0, i;
	bool added;

	for (f = 0; f < c->n_files; f++) {
		n += c->files[f]->n_docs;
		if (!hmap_put_str(&c->paths, c->files[f]->path, f, &added))
			return false;
	}
	for (i = 0; i < c->st->n_lg; i++) {
		if (!hmap_put_str(&c->lg_by_key, c->st->lg[i].key, i, &added))
			return false;
	}
	c->occs = calloc(n ? n : 1, sizeof(*c->occs));
	if (!c->occs)
		return false;
	for (f = 0; f < c->n_files; f++) {
		struct pfile *pf = c->files[f];

		if (pf->failed) {
			size_t e = first_error_in(&pf->dl, 0, pf->dl.n);

			rep_add(c->rep, "File", "", pf->path, pf->path, 0,
				e == NO_DIAG ? strdup("not read") : diag_text(&pf->dl.items[e]),
				true, true);
			continue;
		}
		for (d = 0; d < pf->n_docs; d++) {
			struct pdoc *pd = &pf->docs[d];

			if (!pd->key) {
				if (pd->md->errors)
					rep_reject_doc(c->rep, pf, pd, NULL, false);
				continue;
			}
			if (pd->seen == 0)
				pd->seen = seen_get(c->st->seen, pd->key, pf->path,
						    seen_moved(c, pd->key, pf->path)) + 1;
			c->occs[c->n_occs] = (struct occ){ .pf = pf, .pd = pd,
							   .pos = (uint64_t)f << 32 | d };
			if (!hmap_put_str(&c->by_key, pd->key, c->n_occs, &added))
				return false;
			if (!added) {
				hmap_get_str(&c->by_key, pd->key, &i);
				while (c->occs[i].next)
					i = c->occs[i].next - 1;
				c->occs[i].next = c->n_occs + 1;
			}
			c->n_occs++;
		}
	}
	return true;
}

static char *dup_reason(const struct occ *loser, const struct occ *winner)
{
	const struct model_doc *md = loser->pd->md;
	char *s = NULL;

	return asprintf(&s, "%s:%u: %s %s/%s is also defined at %s:%u, which is older and "
			"applies (the older resource wins, as in Istio)", loser->pf->path,
			md->line, md->kind, md->ns, md->name, winner->pf->path,
			winner->pd->md->line) < 0 ? NULL : s;
}

/* One key: the oldest valid definition, else the last good version. */
static bool choose_key(struct choose *c, size_t first)
{
	const struct occ *o, *win = NULL;
	const struct lg_entry *lg;
	struct pick p;
	size_t i, r, report = 0;

	for (i = first + 1; i; i = c->occs[i - 1].next) {
		o = &c->occs[i - 1];
		if (o->pd->valid && (!win || age_cmp(o->pd->md->res, o->pd->seen, o->pos,
						     win->pd->md->res, win->pd->seen,
						     win->pos) < 0))
			win = o;
	}
	lg = win ? NULL : choose_lg(c, c->occs[first].pd->key);
	for (i = first + 1; i; i = c->occs[i - 1].next) {
		o = &c->occs[i - 1];
		if (o == win)
			continue;
		if (o->pd->valid) {
			rep_reject_doc(c->rep, o->pf, o->pd, dup_reason(o, win), false);
			continue;
		}
		r = rep_reject_doc(c->rep, o->pf, o->pd, NULL, lg != NULL);
		report = report ? report : r;
	}
	if (win)
		p = (struct pick){ .key = win->pd->key, .pf = win->pf, .res = win->pd->md->res,
				   .pos = win->pos, .seen = win->pd->seen, .at = win->pf,
				   .cand = win->pd->md->res };
	else if (lg)
		p = (struct pick){ .key = lg->key, .pf = lg->pf, .res = lg->res,
				   .pos = c->occs[first].pos, .seen = lg->seen, .from_lg = true,
				   .report = report, .at = c->occs[first].pf };
	else
		return true;
	return choose_add_pick(c, &p);
}

/* The last good versions of a file that cannot be read now stay. */
static bool choose_unread_files(struct choose *c)
{
	struct hmap failed = { 0 };
	size_t i, f, unused;
	bool added, ok = true;

	for (f = 0; f < c->n_files && ok; f++) {
		if (c->files[f]->failed)
			ok = hmap_put_str(&failed, c->files[f]->path, f, &added);
	}
	for (i = 0; i < c->st->n_lg && ok; i++) {
		const struct lg_entry *lg = &c->st->lg[i];
		struct pick p;

		if (hmap_get_str(&c->by_key, lg->key, &unused) ||
		    !hmap_get_str(&failed, lg->pf->path, &f))
			continue;
		p = (struct pick){ .key = lg->key, .pf = lg->pf, .res = lg->res,
				   .pos = (uint64_t)f << 32 | lg->res->src.line,
				   .seen = lg->seen, .from_lg = true, .at = c->files[f] };
		ok = choose_add_pick(c, &p);
	}
	hmap_free(&failed);
	return ok;
}

/* ---- VIP:port conflicts -------------------------------------------------- */

struct claim {
	size_t owner;            /* pick index */
	const struct se_addr *addr;
	uint32_t port;
};

/* The VIP:ports claimed so far, keyed "family/address/port" (IPv4 and
 * IPv6 alike); the map does not own its keys, so they are kept here. */
struct claims {
	struct hmap m;
	char **keys;
	size_t n, cap;
};

#define CLAIM_KEY_LEN 64

/* Hex digits by hand: every compile keys every VIP:port (snprintf was a
 * tenth of the choice at 10,000 services). */
static char *hex_u32(char *p, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 7; i >= 0; i--)
		*p++ = digits[(v >> (i * 4)) & 0xf];
	return p;
}

static void claim_key(char *buf, const struct ip_addr *ip, uint32_t port)
{
	char *p = hex_u32(buf, ip->family);
	int i;

	for (i = 0; i < 4; i++)
		p = hex_u32(p, ip->a[i]);
	p = hex_u32(p, port);
	*p = '\0';
}

static void claims_free(struct claims *cl)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		free(cl->keys[i]);
	free(cl->keys);
	hmap_free(&cl->m);
}

/* The first VIP:port of pick i that another pick holds in claims. */
static bool claim_find(const struct choose *c, const struct claims *claims, size_t i,
		       struct claim *hit)
{
	const struct service_entry *se = (const struct service_entry *)c->picks[i].res;
	char key[CLAIM_KEY_LEN];
	size_t a, p, owner;

	for (p = 0; p < se->n_ports; p++) {
		if (!compile_port_intercepted(se, &se->ports[p]))
			continue;
		for (a = 0; a < se->n_addrs; a++) {
			claim_key(key, &se->addrs[a].ip, se->ports[p].number);
			if (hmap_get_str(&claims->m, key, &owner) && owner != i) {
				*hit = (struct claim){ owner, &se->addrs[a], se->ports[p].number };
				return true;
			}
		}
	}
	return false;
}

static bool claim_all(const struct choose *c, struct claims *claims, size_t i)
{
	const struct service_entry *se = (const struct service_entry *)c->picks[i].res;
	char key[CLAIM_KEY_LEN], **grown;
	size_t a, p;
	bool added;

	for (p = 0; p < se->n_ports; p++) {
		if (!compile_port_intercepted(se, &se->ports[p]))
			continue;
		for (a = 0; a < se->n_addrs; a++) {
			if (claims->n == claims->cap) {
				claims->cap = claims->cap ? claims->cap * 2 : 64;
				grown = realloc(claims->keys, claims->cap * sizeof(*grown));
				if (!grown)
					return false;
				claims->keys = grown;
			}
			claim_key(key, &se->addrs[a].ip, se->ports[p].number);
			claims->keys[claims->n] = strdup(key);
			if (!claims->keys[claims->n])
				return false;
			if (!hmap_put_str(&claims->m, claims->keys[claims->n++], i, &added))
				return false;
		}
	}
	return true;
}

static const struct choose *age_ctx;

static int pick_age_cmp(const void *x, const void *y)
{
	const struct pick *a = &age_ctx->picks[*(const size_t *)x];
	const struct pick *b = &age_ctx->picks[*(const size_t *)y];

	return age_cmp(a->res, a->seen, a->pos, b->res, b->seen, b->pos);
}

static char *vip_reason(const struct pick *owner, const struct claim *hit)
{
	char ip[INET6_ADDRSTRLEN], *s = NULL;
	const struct resource *o = owner->res;

	inet_ntop(hit->addr->ip.family, hit->addr->ip.a, ip, sizeof(ip));
	return asprintf(&s, "%s:%u:%u: %s: %s:%u is claimed by ServiceEntry %s/%s (%s:%u), "
			"which is older and keeps it (the older resource wins, as in Istio)",
			hit->addr->src.file, hit->addr->src.line, hit->addr->src.col,
			hit->addr->src.path, ip, hit->port, o->ns, o->name, o->src.file,
			o->src.line) < 0 ? NULL : s;
}

/* A loser falls back on its last good version once; a loser again, or one
 * without a different last good version, is left out. */
static void vip_lose(struct choose *c, size_t i, const struct claim *hit, bool first_round)
{
	struct pick *p = &c->picks[i];
	const struct lg_entry *lg = choose_lg(c, p->key);
	char *why = vip_reason(&c->picks[hit->owner], hit);

	p->conflict = true;
	c->picks[hit->owner].conflict = true;

	if (first_round && !p->from_lg && lg && lg->res != p->res) {
		p->report = rep_add(c->rep, p->res->kind, p->res->ns, p->res->name, p->pf->path,
				    p->res->src.line, why, true, true);
		/* The key too: the new version's lives in a file this pick no
		 * longer holds a reference to. */
		p->key = lg->key;
		p->pf = lg->pf;
		p->res = lg->res;
		p->seen = lg->seen;
		p->from_lg = true;
		return;
	}
	if (p->report) {
		c->rep->v[p->report - 1].last_good = false;
		free(why);
	} else {
		p->report = rep_add(c->rep, p->res->kind, p->res->ns, p->res->name, p->pf->path,
				    p->res->src.line, why, true, false);
	}
	p->dropped = true;
}

/* Claim in age order: each pick in order takes its VIP:ports unless an
 * older one holds one of them; a loser's last good version (a fallback)
 * is tried after, against the claims the winners made, and never evicts
 * one of them. */
static bool claim_in_order(struct choose *c, struct claims *claims, size_t *order, size_t n,
			   bool first_round, size_t *n_retry)
{
	struct claim hit;
	size_t k;

	age_ctx = c;
	qsort(order, n, sizeof(*order), pick_age_cmp);
	*n_retry = 0;
	for (k = 0; k < n; k++) {
		if (!claim_find(c, claims, order[k], &hit)) {
			if (!claim_all(c, claims, order[k]))
				return false;
			continue;
		}
		vip_lose(c, order[k], &hit, first_round);
		if (!c->picks[order[k]].dropped)
			order[(*n_retry)++] = order[k]; /* k >= *n_retry: not read again */
	}
	return true;
}

static bool choose_vips(struct choose *c)
{
	struct claims claims = { 0 };
	size_t *order, n = 0, i, retry;
	bool ok;

	order = calloc(c->n_picks ? c->n_picks : 1, sizeof(*order));
	if (!order)
		return false;
	for (i = 0; i < c->n_picks; i++) {
		if (!strcmp(c->picks[i].res->kind, "ServiceEntry"))
			order[n++] = i;
	}
	ok = claim_in_order(c, &claims, order, n, true, &retry) &&
	     claim_in_order(c, &claims, order, retry, false, &retry);
	claims_free(&claims);
	free(order);
	return ok;
}

static bool choose_all(struct choose *c)
{
	size_t i, first;

	if (!choose_collect(c))
		return false;
	for (i = 0; i < c->n_occs; i++) {
		hmap_get_str(&c->by_key, c->occs[i].pd->key, &first);
		if (first == i && !choose_key(c, i))
			return false;
	}
	return choose_unread_files(c) && choose_vips(c);
}

/* ---- the choice kept between reloads ------------------------------------- */

/*
 * The store keeps the last choice (its picks in input order, holding their
 * files, and its rejection reports) with three indexes over it:
 *   - keys: each resource key's number of definitions in the files read,
 *     and whether it is "troubled": defined twice, invalid, put in force
 *     from its last good version, left out, rejected, or in a VIP:port
 *     conflict (won or lost);
 *   - claims: per VIP:port, how many versions that may be in force claim
 *     it: every ServiceEntry pick's, and a troubled key's definition and
 *     last good version too (either may end up in force);
 *   - hosts: per host, the picks in force that define it (ServiceEntry,
 *     DestinationRule), apply to it (VirtualService hosts) or route to it
 *     (VirtualService destinations, resolved as compile resolves them).
 * A reload whose changed files hold only "clean" resources (choose_kept:
 * each valid, named, defined nowhere else, its key not troubled before,
 * its VIP:ports claimed by no other version) and whose last choice became
 * the last good versions (committed) takes the last choice with the
 * changed files' picks replaced. That is what the full choice gives: a
 * clean key's pick is its one valid definition, it conflicts with nothing,
 * and no other key's outcome depends on it (they share no VIP:port, and
 * their last good versions are the picks they already had). Anything else
 * is chosen in full, counted, and the indexes are built again.
 */

/* File marks while choose_kept compares the last read with this one. */
enum { FILE_WAS = 1, FILE_KEPT, FILE_NEW };

struct key_slot {
	uint32_t n_defs;
	bool troubled;
};

struct claim_slot {
	uint32_t count;
	uint64_t op; /* the last count operation: a version counts a VIP:port once */
};

enum host_role { ROLE_SE, ROLE_DR, ROLE_VS_HOST, ROLE_VS_DEST };

struct host_ent {
	struct pick p; /* p.pos is refreshed from p.at when used */
	enum host_role role;
};

struct host_list {
	struct host_ent *v;
	size_t n, cap;
};

struct choice_index {
	bool valid;     /* holds the last choice */
	bool committed; /* and its picks became the last good versions */
	struct hmap keys, claims, hosts; /* -> index into slots, cslots, lists */
	struct key_slot *slots;
	size_t n_slots, cap_slots;
	struct claim_slot *cslots;
	size_t n_cslots, cap_cslots;
	uint64_t op;
	struct host_list *lists;
	size_t n_lists, cap_lists;
	struct host_list wild_vs, wild_dr, wes; /* wildcard hosts; every WorkloadEntry */
	bool hosts_built; /* the host index holds the picks (ci_hosts_build) */
	size_t hosts_next; /* picks indexed so far, building in slices (at idle) */
	struct arena strs; /* the three maps' keys (ci_clear frees them at once) */
	struct pick *picks; /* the last choice, input order; each holds its file */
	size_t n_picks, cap_picks;
	/* The array before, kept for the next kept choice: an agent that
	 * gives freed memory back after each apply (malloc_trim) would make
	 * it fault in megabytes of fresh pages at every reload otherwise. */
	struct pick *spare;
	size_t cap_spare;
	struct res_report *rejects; /* its rejection reports, in order */
	size_t n_rejects;
};

static bool grow_to(void *vp, size_t *cap, size_t want, size_t size)
{
	void **v = vp, *nv;
	size_t n = *cap ? *cap : 16;

	if (want <= *cap)
		return true;
	while (n < want)
		n *= 2;
	nv = realloc(*v, n * size);
	if (!nv)
		return false;
	*v = nv;
	*cap = n;
	return true;
}

/* key's index in m, added as the next (*n) when absent; SIZE_MAX: out of
 * memory. The caller has room for index *n. */
static size_t ci_intern(struct choice_index *ci, struct hmap *m, const char *key, size_t *n,
			bool *added)
{
	size_t v;
	char *own;

	*added = false;
	if (hmap_get_str(m, key, &v))
		return v;
	if (!(own = arena_strdup(&ci->strs, key)) || !hmap_put_str(m, own, *n, added))
		return SIZE_MAX;
	return (*n)++;
}

static struct key_slot *ci_key(struct choice_index *ci, const char *key)
{
	size_t i;
	bool added;

	if (!grow_to(&ci->slots, &ci->cap_slots, ci->n_slots + 1, sizeof(*ci->slots)))
		return NULL;
	i = ci_intern(ci, &ci->keys, key, &ci->n_slots, &added);
	if (i == SIZE_MAX)
		return NULL;
	if (added)
		ci->slots[i] = (struct key_slot){ 0 };
	return &ci->slots[i];
}

/* Count (delta 1) or uncount (-1) each VIP:port version r claims, once.
 * *shared: one of them is claimed by another version too (after adding;
 * before removing). false: out of memory. */
static bool ci_claims(struct choice_index *ci, const struct resource *r, int delta,
		      bool *shared)
{
	const struct service_entry *se = (const struct service_entry *)r;
	char key[CLAIM_KEY_LEN];
	uint64_t op = ++ci->op;
	struct claim_slot *cs;
	size_t a, p, i;
	bool added;

	if (!r || strcmp(r->kind, "ServiceEntry"))
		return true;
	for (p = 0; p < se->n_ports; p++) {
		if (!compile_port_intercepted(se, &se->ports[p]))
			continue;
		for (a = 0; a < se->n_addrs; a++) {
			claim_key(key, &se->addrs[a].ip, se->ports[p].number);
			if (!grow_to(&ci->cslots, &ci->cap_cslots, ci->n_cslots + 1,
				     sizeof(*ci->cslots)))
				return false;
			i = ci_intern(ci, &ci->claims, key, &ci->n_cslots, &added);
			if (i == SIZE_MAX)
				return false;
			cs = &ci->cslots[i];
			if (added)
				*cs = (struct claim_slot){ 0 };
			if (cs->op == op)
				continue;
			cs->op = op;
			if (delta > 0) {
				*shared |= ++cs->count > 1;
			} else {
				*shared |= cs->count != 1;
				cs->count -= cs->count > 0;
			}
		}
	}
	return true;
}

static struct host_list *ci_host(struct choice_index *ci, const char *host)
{
	size_t i;
	bool added;

	if (!grow_to(&ci->lists, &ci->cap_lists, ci->n_lists + 1, sizeof(*ci->lists)))
		return NULL;
	i = ci_intern(ci, &ci->hosts, host, &ci->n_lists, &added);
	if (i == SIZE_MAX)
		return NULL;
	if (added)
		ci->lists[i] = (struct host_list){ 0 };
	return &ci->lists[i];
}

static const struct host_list *ci_host_get(const struct choice_index *ci, const char *host)
{
	size_t i;

	return hmap_get_str(&ci->hosts, host, &i) ? &ci->lists[i] : NULL;
}

/* A host's first room: a service usually has its ServiceEntry, its
 * DestinationRule, its VirtualService and one route to it (16, as other
 * arrays start, made 10,000 hosts' lists 23 MB of fresh pages). */
#define HOST_LIST_FIRST 4

static bool hl_add(struct host_list *l, const struct pick *p, enum host_role role)
{
	if (!l)
		return false;
	if (!l->cap && (l->v = malloc(HOST_LIST_FIRST * sizeof(*l->v))))
		l->cap = HOST_LIST_FIRST;
	if (!grow_to(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return false;
	l->v[l->n++] = (struct host_ent){ *p, role };
	return true;
}

/* Every entry of version r leaves l (entries are in no order). */
static void hl_del(struct host_list *l, const struct resource *r)
{
	size_t i;

	for (i = 0; l && i < l->n; i++)
		if (l->v[i].p.res == r)
			l->v[i--] = l->v[--l->n];
}

static bool host_is_wild(const char *h)
{
	return h[0] == '*';
}

/* A destination host resolved as compile resolves it (model_resolve_host),
 * into buf when it is a short name, without an allocation. NULL: too long
 * to be a host. */
static const char *dest_host(char *buf, size_t len, const char *host, const char *ns)
{
	static const char suffix[] = ".svc.cluster.local";
	size_t h, n;

	if (strchr(host, '.') || !strcmp(host, "*") || !host[0])
		return host;
	h = strlen(host);
	n = strlen(ns);
	if (h + 1 + n + sizeof(suffix) > len)
		return NULL;
	memcpy(buf, host, h);
	buf[h] = '.';
	memcpy(buf + h + 1, ns, n);
	memcpy(buf + h + 1 + n, suffix, sizeof(suffix));
	return buf;
}

/* Call fn for each destination host of vs, resolved (NULL: too long).
 * Stops at the first false. */
static bool vs_each_dest(const struct virtual_service *vs,
			 bool (*fn)(void *ctx, const struct virtual_service *, const char *),
			 void *ctx)
{
	const struct vs_route *sets[2] = { vs->http, vs->tcp };
	size_t n[2] = { vs->n_http, vs->n_tcp }, s, i, j;
	char buf[512];

	for (s = 0; s < 2; s++)
		for (i = 0; i < n[s]; i++)
			for (j = 0; j < sets[s][i].n_dests; j++) {
				if (!sets[s][i].dests[j].host)
					continue;
				if (!fn(ctx, vs, dest_host(buf, sizeof(buf),
							   sets[s][i].dests[j].host,
							   vs->r.ns ? vs->r.ns : "default")))
					return false;
			}
	return true;
}

struct ci_op {
	struct choice_index *ci;
	const struct pick *p;
	bool add;
};

static bool ci_route(void *ctx, const struct virtual_service *vs, const char *host)
{
	struct ci_op *op = ctx;
	struct host_list *l;

	(void)vs;
	if (!host)
		return false; /* too long: the reach refuses it (incr_reach) */
	if (!op->add) {
		hl_del((struct host_list *)ci_host_get(op->ci, host), op->p->res);
		return true;
	}
	l = ci_host(op->ci, host);
	return hl_add(l, op->p, ROLE_VS_DEST);
}

static bool ci_place(struct ci_op *op, struct host_list *wild, const char *host,
		     enum host_role role)
{
	struct host_list *l = wild;

	if (!op->add) {
		hl_del(l ? l : (struct host_list *)ci_host_get(op->ci, host), op->p->res);
		return true;
	}
	return hl_add(l ? l : ci_host(op->ci, host), op->p, role);
}

/* Put pick p in the host index, or take it out. false: out of memory, or
 * a destination host too long (the index cannot serve the reach). */
static bool ci_index_pick(struct choice_index *ci, const struct pick *p, bool add)
{
	struct ci_op op = { ci, p, add };
	const struct resource *r = p->res;
	bool vs_wild = false;
	size_t i;

	if (!strcmp(r->kind, "ServiceEntry")) {
		const struct service_entry *se = (const struct service_entry *)r;

		for (i = 0; i < se->n_hosts; i++)
			if (!ci_place(&op, NULL, se->hosts[i], ROLE_SE))
				return false;
		return true;
	}
	if (!strcmp(r->kind, "DestinationRule")) {
		const char *host = ((const struct dest_rule *)r)->host;

		return ci_place(&op, host_is_wild(host) ? &ci->wild_dr : NULL, host, ROLE_DR);
	}
	if (strcmp(r->kind, "VirtualService"))
		return ci_place(&op, &ci->wes, NULL, ROLE_SE);
	{
		const struct virtual_service *vs = (const struct virtual_service *)r;

		for (i = 0; i < vs->n_hosts; i++) {
			if (host_is_wild(vs->hosts[i])) {
				if (!vs_wild && !ci_place(&op, &ci->wild_vs, NULL, ROLE_VS_HOST))
					return false;
				vs_wild = true;
			} else if (!ci_place(&op, NULL, vs->hosts[i], ROLE_VS_HOST)) {
				return false;
			}
		}
		return vs_each_dest(vs, ci_route, &op);
	}
}

static void ci_picks_release(struct choice_index *ci)
{
	size_t i;

	for (i = 0; i < ci->n_picks; i++)
		pfile_unref(ci->picks[i].pf);
	free(ci->picks);
	ci->picks = NULL;
	ci->n_picks = 0;
	ci->cap_picks = 0;
}

static void ci_rejects_release(struct choice_index *ci)
{
	struct policy_report rep = { .v = ci->rejects, .n = ci->n_rejects };

	policy_report_free(&rep);
	ci->rejects = NULL;
	ci->n_rejects = 0;
}

/* Empty the three indexes, their keys too: what a full choice builds
 * again holds only what is defined now (keys, VIP:ports and hosts gone
 * since do not pile up). */
static void ci_clear(struct choice_index *ci)
{
	size_t i;

	for (i = 0; i < ci->n_lists; i++)
		free(ci->lists[i].v);
	arena_free(&ci->strs);
	hmap_free(&ci->keys);
	hmap_free(&ci->claims);
	hmap_free(&ci->hosts);
	ci->n_slots = ci->n_cslots = ci->n_lists = 0;
	ci->wild_vs.n = ci->wild_dr.n = ci->wes.n = 0;
	ci->hosts_built = false;
	ci->hosts_next = 0;
}

static void choice_index_free(struct choice_index *ci)
{
	if (!ci)
		return;
	ci_picks_release(ci);
	ci_rejects_release(ci);
	free(ci->spare);
	ci_clear(ci);
	free(ci->lists);
	free(ci->wild_vs.v);
	free(ci->wild_dr.v);
	free(ci->wes.v);
	free(ci->slots);
	free(ci->cslots);
	free(ci);
}

static bool ci_troubled(const struct pick *p)
{
	return p->from_lg || p->dropped || p->report || p->conflict;
}

/* The host index of picks, the choice in force: up to `budget` more picks
 * of it (SIZE_MAX: all), resumed where the last call stopped. Not after
 * the full choice, where a cold start would pay for it (a third of its
 * choice at 10,000 services) with no image to compile into yet: at idle
 * once the choice is in force (policy_store_prepare), or at its first use
 * (choose_kept, incr_reach) if no idle came first. Every path that
 * replaces the picks either finishes the index first (choose_kept) or
 * clears it (ci_clear), so a part built stays that of these picks.
 * false: out of memory, or a destination host too long (the index cannot
 * serve the reach). */
static bool ci_hosts_build_some(struct choice_index *ci, const struct pick *picks, size_t n,
				size_t budget)
{
	size_t end = n - ci->hosts_next > budget ? ci->hosts_next + budget : n;

	if (ci->hosts_built)
		return true;
	/* Sized once: growing rehashes every entry. */
	if (!ci->hosts_next && !hmap_reserve(&ci->hosts, n))
		return false;
	for (; ci->hosts_next < end; ci->hosts_next++) {
		const struct pick *p = &picks[ci->hosts_next];

		if (!p->dropped && !ci_index_pick(ci, p, true))
			return false;
	}
	ci->hosts_built = ci->hosts_next == n;
	return true;
}

static bool ci_hosts_build(struct choice_index *ci, const struct pick *picks, size_t n)
{
	return ci_hosts_build_some(ci, picks, n, SIZE_MAX);
}

/* After a full choice: the keys and claims from scratch; the host index
 * when first used (ci_hosts_build). */
static bool ci_rebuild(struct choose *c)
{
	struct choice_index *ci = c->st->ci;
	const struct lg_entry *lg;
	struct key_slot *ks;
	bool shared = false;
	size_t i;

	ci_clear(ci);
	/* Sized once: growing rehashes every entry, in fresh pages. */
	if (!hmap_reserve(&ci->keys, c->n_occs) || !hmap_reserve(&ci->claims, c->n_picks))
		return false;
	for (i = 0; i < c->n_occs; i++) {
		if (!(ks = ci_key(ci, c->occs[i].pd->key)))
			return false;
		ks->troubled |= ++ks->n_defs > 1 || !c->occs[i].pd->valid;
	}
	for (i = 0; i < c->n_picks; i++) {
		if (!ci_troubled(&c->picks[i]))
			continue;
		if (!(ks = ci_key(ci, c->picks[i].key)))
			return false;
		ks->troubled = true;
	}
	for (i = 0; i < c->n_picks; i++) {
		const struct pick *p = &c->picks[i];
		size_t k;

		if (!ci_claims(ci, p->res, 1, &shared))
			return false;
		if (!hmap_get_str(&ci->keys, p->key, &k) || !ci->slots[k].troubled)
			continue;
		lg = choose_lg(c, p->key);
		if ((p->cand && p->cand != p->res && !ci_claims(ci, p->cand, 1, &shared)) ||
		    (lg && lg->res != p->res && lg->res != p->cand &&
		     !ci_claims(ci, lg->res, 1, &shared)))
			return false;
	}
	return true;
}

/* The last choice's rejection reports, kept (c->rep holds only those now). */
static bool ci_keep_rejects(struct choice_index *ci, const struct policy_report *rep)
{
	struct policy_report copy = { 0 };
	size_t i;

	ci_rejects_release(ci);
	for (i = 0; i < rep->n; i++) {
		const struct res_report *r = &rep->v[i];
		char *diag = r->diag ? strdup(r->diag) : NULL;

		if ((r->diag && !diag) ||
		    !rep_add(&copy, r->kind, r->ns, r->name, r->file, r->line, diag,
			     r->rejected, r->last_good)) {
			policy_report_free(&copy);
			return false;
		}
	}
	ci->rejects = copy.v;
	ci->n_rejects = copy.n;
	return true;
}

/* The last choice's rejection reports, as they were. */
static bool ci_put_rejects(const struct choice_index *ci, struct policy_report *rep)
{
	size_t i;

	for (i = 0; i < ci->n_rejects; i++) {
		const struct res_report *r = &ci->rejects[i];
		char *diag = r->diag ? strdup(r->diag) : NULL;

		if ((r->diag && !diag) ||
		    !rep_add(rep, r->kind, r->ns, r->name, r->file, r->line, diag, r->rejected,
			     r->last_good))
			return false;
	}
	return true;
}

/* Keep this choice's picks (in input order) for the next reload: the
 * index takes c's array. */
static void ci_keep_picks(struct choice_index *ci, struct choose *c)
{
	struct pick *old = ci->picks;
	size_t i, cap = ci->cap_picks;

	for (i = 0; i < c->n_picks; i++)
		c->picks[i].pf->refs++;
	ci->picks = NULL; /* kept as the spare, not freed */
	for (i = 0; i < ci->n_picks; i++)
		pfile_unref(old[i].pf);
	if (old && cap > ci->cap_spare) {
		free(ci->spare);
		ci->spare = old;
		ci->cap_spare = cap;
	} else {
		free(old);
	}
	ci->picks = c->picks;
	ci->n_picks = c->n_picks;
	ci->cap_picks = c->cap_picks;
	c->picks = NULL;
}

/* More resources in the changed files than this share of the picks: the
 * full choice costs about as much. */
#define KEPT_MAX_SHARE 8

/* Why a changed file's resources cannot be chosen by choose_kept; NULL:
 * they can. */
static const char *kept_file_refused(const struct pfile *pf)
{
	size_t d;

	if (pf->failed)
		return "a file not read";
	for (d = 0; d < pf->n_docs; d++) {
		const struct pdoc *pd = &pf->docs[d];

		if (pd->key ? !pd->valid : pd->md->errors != 0)
			return "an invalid resource";
	}
	return NULL;
}

/* Count the changed files' definitions out (old) and in (new); why not,
 * when a key they define is troubled or defined twice. */
static const char *kept_keys(struct choice_index *ci, struct pfile **changed, size_t n,
			     bool check_twice)
{
	struct key_slot *ks;
	size_t f, d;

	for (f = 0; f < n; f++)
		for (d = 0; d < changed[f]->n_docs; d++) {
			const struct pdoc *pd = &changed[f]->docs[d];

			if (!pd->key)
				continue;
			if (!(ks = ci_key(ci, pd->key)))
				return "out of memory";
			if (ks->troubled)
				return "a rejected or conflicting resource changed";
			if (!check_twice)
				ks->n_defs += changed[f]->mark == FILE_NEW ? 1 : -1;
			else if (changed[f]->mark == FILE_NEW && ks->n_defs != 1)
				return "a resource defined twice";
		}
	return NULL;
}

/* The first sighting of a definition in a changed file, as seen_moved
 * gives it: its last good version is the pick it had (the last choice is
 * the last good), inherited when that one's file is gone. */
static uint64_t kept_seen(struct choose *c, const struct hmap *was_keys,
			  const struct hmap *new_paths, const char *key, const char *path)
{
	const struct pick *lg;
	size_t i;

	if (!hmap_get_str(was_keys, key, &i))
		return 0;
	lg = &c->was[i];
	if (!strcmp(lg->pf->path, path) || hmap_get_str(new_paths, lg->pf->path, &i))
		return 0;
	return lg->seen;
}

/* The changed files' picks, in input order, into c->now. */
static const char *kept_new_picks(struct choose *c, struct pfile **changed, size_t n)
{
	struct hmap was_keys = { 0 }, new_paths = { 0 };
	const char *why = NULL;
	size_t f, d, i, n_docs = 0;
	bool added;

	for (i = 0; i < c->n_was && !why; i++)
		if (!hmap_put_str(&was_keys, c->was[i].key, i, &added))
			why = "out of memory";
	for (f = 0; f < n && !why; f++) {
		n_docs += changed[f]->n_docs;
		if (changed[f]->mark == FILE_NEW &&
		    !hmap_put_str(&new_paths, changed[f]->path, f, &added))
			why = "out of memory";
	}
	c->now = calloc(n_docs + 1, sizeof(*c->now));
	if (!c->now)
		why = "out of memory";
	for (f = 0; f < n && !why; f++) {
		struct pfile *pf = changed[f];

		for (d = 0; pf->mark == FILE_NEW && d < pf->n_docs; d++) {
			struct pdoc *pd = &pf->docs[d];

			if (!pd->key)
				continue;
			if (pd->seen == 0)
				pd->seen = seen_get(c->st->seen, pd->key, pf->path,
						    kept_seen(c, &was_keys, &new_paths, pd->key,
							      pf->path)) + 1;
			c->now[c->n_now] = (struct pick){
				.key = pd->key, .pf = pf, .res = pd->md->res,
				.pos = (uint64_t)pf->index << 32 | d, .seen = pd->seen, .at = pf,
				.cand = pd->md->res,
			};
			pick_show(&c->now[c->n_now++]);
		}
	}
	hmap_free(&was_keys);
	hmap_free(&new_paths);
	return why;
}

/* The last choice's other picks, their places renumbered (files may have
 * come or gone), merged with c->now: input order. Why not: the unchanged
 * files changed their order (in-memory documents may), which can change
 * who is older in a conflict, and the order of the reports. */
static const char *kept_merge(struct choose *c)
{
	struct choice_index *ci = c->st->ci;
	size_t i, j = 0;
	bool sorted = true;

	if (ci->cap_spare >= ci->n_picks + c->n_now + 1) {
		c->picks = ci->spare; /* c owns it now */
		ci->spare = NULL;
		ci->cap_spare = 0;
	} else {
		c->picks = malloc((ci->n_picks + c->n_now + 1) * sizeof(*c->picks));
	}
	if (!c->picks)
		return "out of memory";
	c->cap_picks = ci->n_picks + c->n_now + 1;
	for (i = 0; i < ci->n_picks; i++) {
		struct pick p = ci->picks[i];

		if (p.pf->mark == FILE_WAS)
			continue;
		p.pos = (uint64_t)p.at->index << 32 | (uint32_t)p.pos;
		while (j < c->n_now && c->now[j].pos < p.pos)
			c->picks[c->n_picks++] = c->now[j++];
		sorted &= !c->n_picks || c->picks[c->n_picks - 1].pos < p.pos;
		c->picks[c->n_picks++] = p;
	}
	while (j < c->n_now)
		c->picks[c->n_picks++] = c->now[j++];
	return sorted ? NULL : "the files' order changed";
}

/*
 * Choose by the last choice (see above). NULL: chosen, c->picks in input
 * order, c->was and c->now what changed; else why not (c's picks and
 * report untouched; the indexes may be, and are rebuilt by the full
 * choice). The files read before this reload are marked FILE_WAS.
 */
static const char *choose_kept(struct choose *c)
{
	struct choice_index *ci = c->st->ci;
	struct pfile **changed;
	const char *why = NULL;
	size_t f, i, n = 0, n_docs = 0;
	bool shared = false;

	if (!ci->valid || !ci->committed)
		return ci->valid ? "the last choice was not applied" : "no choice kept";
	changed = calloc(c->n_files + c->n_old + 1, sizeof(*changed));
	if (!changed)
		return "out of memory";
	for (f = 0; f < c->n_files; f++) {
		struct pfile *pf = c->files[f];

		pf->mark = pf->mark == FILE_WAS ? FILE_KEPT : FILE_NEW;
		if (pf->mark == FILE_NEW)
			changed[n++] = pf;
	}
	for (f = 0; f < c->n_old; f++)
		if (c->old[f]->mark == FILE_WAS)
			changed[n++] = c->old[f];
	for (f = 0; f < n && !why; f++) {
		n_docs += changed[f]->n_docs;
		why = kept_file_refused(changed[f]);
	}
	if (!why && n_docs > ci->n_picks / KEPT_MAX_SHARE + 16)
		why = "many resources changed";
	if (!why && !(why = kept_keys(ci, changed, n, false)))
		why = kept_keys(ci, changed, n, true);
	if (!why && !ci_hosts_build(ci, ci->picks, ci->n_picks))
		why = "out of memory or a destination host too long";
	if (!why && !(c->was = calloc(n_docs + 1, sizeof(*c->was))))
		why = "out of memory";
	for (i = 0; !why && i < ci->n_picks; i++) {
		const struct pick *p = &ci->picks[i];

		if (p->pf->mark != FILE_WAS)
			continue;
		c->was[c->n_was++] = *p;
		if (!ci_claims(ci, p->res, -1, &shared))
			why = "out of memory";
	}
	if (!why)
		why = kept_new_picks(c, changed, n);
	for (i = 0; !why && i < c->n_now; i++)
		if (!ci_claims(ci, c->now[i].res, 1, &shared))
			why = "out of memory";
	if (!why && shared)
		why = "a VIP:port claimed twice";
	for (i = 0; !why && i < c->n_was; i++)
		if (!ci_index_pick(ci, &c->was[i], false))
			why = "a destination host too long";
	for (i = 0; !why && i < c->n_now; i++)
		if (!ci_index_pick(ci, &c->now[i], true))
			why = "out of memory or a destination host too long";
	if (!why)
		why = kept_merge(c);
	if (!why && !ci_put_rejects(ci, c->rep))
		why = "out of memory";
	free(changed);
	if (why) {
		ci->valid = false;
		free(c->picks);
		c->picks = NULL;
		c->n_picks = 0;
		policy_report_free(c->rep);
		free(c->was);
		free(c->now);
		c->was = c->now = NULL;
		c->n_was = c->n_now = 0;
	}
	c->kept = !why;
	return why;
}

/* Choose what is in force: by the last choice when it can, else in full,
 * then the indexes anew. */
static bool choose_run(struct choose *c)
{
	struct policy_store *st = c->st;
	const char *why = "no index";
	bool had = false;
	size_t i;

	if (!st->no_index) {
		if (!st->ci && !(st->ci = calloc(1, sizeof(*st->ci))))
			return false;
		had = st->ci->valid && st->ci->committed;
		why = choose_kept(c);
		st->timing.choose_kept = why == NULL;
		if (!why)
			return true;
		st->timing.choose_why = why;
		st->timing.choose_fallbacks += had;
	}
	if (!choose_all(c))
		return false;
	for (i = 0; i < c->n_picks; i++)
		pick_show(&c->picks[i]);
	if (!st->no_index)
		st->ci->valid = ci_rebuild(c) && ci_keep_rejects(st->ci, c->rep);
	return true;
}

/* ---- compiling what was chosen ------------------------------------------- */

static int pick_pos_cmp(const void *x, const void *y)
{
	const struct pick *a = x, *b = y;

	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* A destination's "already reported" mark is per compile; the model of an
 * unchanged file is compiled again. */
static void vs_reset_reported(struct virtual_service *vs)
{
	size_t r, d;

	for (r = 0; r < vs->n_http; r++)
		for (d = 0; d < vs->http[r].n_dests; d++)
			vs->http[r].dests[d].reported = false;
	for (r = 0; r < vs->n_tcp; r++)
		for (d = 0; d < vs->tcp[r].n_dests; d++)
			vs->tcp[r].dests[d].reported = false;
}

/* Thread the picks, in input order, into one model. Their structs live in
 * their files' arenas; only the list links are rewritten. */
static void model_link(struct model *m, struct pick *picks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct resource *r = picks[i].res;

		if (picks[i].dropped)
			continue;
		if (!strcmp(r->kind, "ServiceEntry")) {
			struct service_entry *se = (struct service_entry *)r;

			se->next = NULL;
			*m->ses_tail = se;
			m->ses_tail = &se->next;
		} else if (!strcmp(r->kind, "WorkloadEntry")) {
			struct workload_entry *we = (struct workload_entry *)r;

			we->next = NULL;
			*m->wes_tail = we;
			m->wes_tail = &we->next;
		} else if (!strcmp(r->kind, "VirtualService")) {
			struct virtual_service *vs = (struct virtual_service *)r;

			vs->next = NULL;
			vs_reset_reported(vs);
			*m->vss_tail = vs;
			m->vss_tail = &vs->next;
		} else {
			struct dest_rule *dr = (struct dest_rule *)r;

			dr->next = NULL;
			*m->drs_tail = dr;
			m->drs_tail = &dr->next;
		}
	}
}

/* Cross-resource findings are warnings here whatever --strict says: a
 * host or subset defined by another resource never blocks one (isolate.h). */
static int compile_picks(struct choose *c, struct diag_list *dl, struct bpfmesh_image *img)
{
	struct diag_list xdl = { 0 };
	struct model m;
	int ret;

	model_init(&m);
	qsort(c->picks, c->n_picks, sizeof(*c->picks), pick_pos_cmp);
	model_link(&m, c->picks, c->n_picks);
	ret = policy_compile_model(&m, &xdl, img);
	if (ret && !diag_count_errors(&xdl))
		diag_add(&xdl, DIAG_ERROR, "", 0, 0, "", "out of memory while compiling");
	diag_append(dl, &xdl);
	diag_append(&c->st->pending_cdl, &xdl);
	diag_free(&xdl);
	model_free(&m);
	return ret;
}

/* ---- incremental compile (isolate.h) ------------------------------------- */

/* More changed resources than this share of those in force: a full compile
 * costs about as much as finding the reach of each. */
#define INCR_MAX_CHANGED_SHARE 8

struct incr {
	struct choose *c;
	struct hmap changed_hosts; /* hosts of changed SE/DR: their sets change */
	struct hmap affected;      /* service hosts recompiled */
	struct hmap dests;         /* hosts the recompiled routes may send to */
	struct arena scratch;      /* resolved destination hosts */
	size_t n_changed;
	struct pick *gone;         /* the last good versions replaced or removed */
	size_t n_gone;
	const char *why;           /* set: compile in full */
	struct timespec t0;        /* the start, for timing.reach_ms */
};

static bool incr_host(struct incr *in, struct hmap *into, const char *host)
{
	bool added;

	if (host_is_wild(host)) {
		/* A pattern reaches hosts nothing here indexes. */
		in->why = "a wildcard host";
		return false;
	}
	return hmap_put_str(into, host, 0, &added) || (in->why = "out of memory", false);
}

/* The hosts one version of a changed resource touches. */
static bool incr_touch(struct incr *in, const struct resource *r)
{
	size_t i;

	if (!strcmp(r->kind, "ServiceEntry")) {
		const struct service_entry *se = (const struct service_entry *)r;

		for (i = 0; i < se->n_hosts; i++)
			if (!incr_host(in, &in->affected, se->hosts[i]) ||
			    !incr_host(in, &in->changed_hosts, se->hosts[i]))
				return false;
	} else if (!strcmp(r->kind, "VirtualService")) {
		const struct virtual_service *vs = (const struct virtual_service *)r;

		for (i = 0; i < vs->n_hosts; i++)
			if (!incr_host(in, &in->affected, vs->hosts[i]))
				return false;
	} else if (!strcmp(r->kind, "DestinationRule")) {
		const struct dest_rule *dr = (const struct dest_rule *)r;

		return incr_host(in, &in->affected, dr->host) &&
		       incr_host(in, &in->changed_hosts, dr->host);
	} else {
		/* A WorkloadEntry: its labels feed every selector, its cgroup
		 * the identities and routes by source. */
		in->why = "a WorkloadEntry changed";
		return false;
	}
	return true;
}

/* A last good version this compile replaces: what it said goes with it. */
static bool incr_gone(struct incr *in, const char *key, struct pfile *pf, struct resource *res)
{
	struct pick *v;

	if (in->n_gone % 16 == 0) {
		v = realloc(in->gone, (in->n_gone + 16) * sizeof(*v));
		if (!v) {
			in->why = "out of memory";
			return false;
		}
		in->gone = v;
	}
	in->gone[in->n_gone++] = (struct pick){ .key = key, .pf = pf, .res = res };
	return true;
}

/* Every resource whose version in force differs from the last good one. */
static bool incr_changes(struct incr *in)
{
	struct choose *c = in->c;
	unsigned char *kept = calloc(c->st->n_lg + 1, 1);
	size_t i, k;
	bool ok = kept != NULL;

	for (i = 0; ok && i < c->n_picks; i++) {
		const struct pick *p = &c->picks[i];

		if (p->dropped)
			continue;
		if (hmap_get_str(&c->lg_by_key, p->key, &k)) {
			kept[k] = 1;
			if (c->st->lg[k].res == p->res)
				continue;
			ok = incr_touch(in, c->st->lg[k].res) && incr_gone(in, c->st->lg[k].key, c->st->lg[k].pf, c->st->lg[k].res);
		}
		ok = ok && incr_touch(in, p->res);
		in->n_changed++;
	}
	for (k = 0; ok && k < c->st->n_lg; k++) {
		if (!kept[k]) {
			ok = incr_touch(in, c->st->lg[k].res) && incr_gone(in, c->st->lg[k].key, c->st->lg[k].pf, c->st->lg[k].res);
			in->n_changed++;
		}
	}
	free(kept);
	if (ok && in->n_changed > c->n_picks / INCR_MAX_CHANGED_SHARE + 16) {
		in->why = "many resources changed";
		ok = false;
	}
	return ok && !in->why;
}

/* The same from what choose_kept replaced: the last good versions are the
 * last choice's picks (it was committed), c->was those replaced. */
static bool incr_changes_kept(struct incr *in)
{
	struct choose *c = in->c;
	unsigned char *matched = calloc(c->n_was + 1, 1);
	struct hmap was_keys = { 0 };
	size_t i, k;
	bool added, ok = matched != NULL;

	for (i = 0; ok && i < c->n_was; i++)
		ok = hmap_put_str(&was_keys, c->was[i].key, i, &added);
	for (i = 0; ok && i < c->n_now; i++) {
		const struct pick *p = &c->now[i];

		if (hmap_get_str(&was_keys, p->key, &k)) {
			matched[k] = 1;
			ok = incr_touch(in, c->was[k].res) &&
			     incr_gone(in, c->was[k].key, c->was[k].pf, c->was[k].res);
		}
		ok = ok && incr_touch(in, p->res);
		in->n_changed++;
	}
	for (k = 0; ok && k < c->n_was; k++) {
		if (!matched[k]) {
			ok = incr_touch(in, c->was[k].res) &&
			     incr_gone(in, c->was[k].key, c->was[k].pf, c->was[k].res);
			in->n_changed++;
		}
	}
	free(matched);
	hmap_free(&was_keys);
	if (!ok && !in->why)
		in->why = "out of memory";
	if (ok && in->n_changed > c->n_picks / INCR_MAX_CHANGED_SHARE + 16) {
		in->why = "many resources changed";
		ok = false;
	}
	return ok && !in->why;
}

static bool incr_dest(void *ctx, const struct virtual_service *vs, const char *host)
{
	struct incr *in = ctx;
	size_t unused;
	char *own;
	bool added;

	(void)vs;
	if (!host) {
		in->why = "a destination host too long";
		return false;
	}
	if (hmap_get_str(&in->dests, host, &unused))
		return true;
	own = arena_strdup(&in->scratch, host); /* host may be vs_each_dest's buffer */
	if (!own || !hmap_put_str(&in->dests, own, 0, &added)) {
		in->why = "out of memory";
		return false;
	}
	return true;
}

/* Each key of a string map. */
#define HMAP_EACH_KEY(m, i, key)                                                          \
	for ((i) = 0; (i) < (m)->cap; (i)++)                                              \
		if ((m)->v[i].hash && ((key) = (m)->v[i].k1))

/* The affected hosts: those the changes touch, and every host whose routes
 * send to a host whose sets change; then where their routes may send (the
 * routes of an affected host, and every wildcard one). Found in the host
 * index, not by walking every VirtualService. */
static bool incr_reach(struct incr *in)
{
	struct choice_index *ci = in->c->st->ci;
	const struct host_list *l;
	const struct virtual_service *vs;
	const char *host;
	size_t i, j, h;

	/* A WorkloadEntry with a cgroup gives identities and routes by source,
	 * which reach every service. One changed is refused (incr_touch); the
	 * unchanged ones are gathered (incr_gather: every WorkloadEntry), so
	 * the recompiled hosts' routes by source are those of a full compile,
	 * and the splice keeps the others' (compile_incr.c identities_same). */
	if (!ci || !ci->valid)
		in->why = "no host index";
	else if (!ci_hosts_build(ci, in->c->picks, in->c->n_picks)) {
		ci->valid = false; /* built in part: the next choice is a full one */
		in->why = "no host index: out of memory or a destination host too long";
	}
	HMAP_EACH_KEY(&in->changed_hosts, i, host) {
		for (j = 0; !in->why && (l = ci_host_get(ci, host)) && j < l->n; j++) {
			if (l->v[j].role != ROLE_VS_DEST)
				continue;
			vs = (const struct virtual_service *)l->v[j].p.res;
			for (h = 0; h < vs->n_hosts; h++)
				if (!incr_host(in, &in->affected, vs->hosts[h]))
					break;
		}
	}
	HMAP_EACH_KEY(&in->affected, i, host) {
		for (j = 0; !in->why && (l = ci_host_get(ci, host)) && j < l->n; j++)
			if (l->v[j].role == ROLE_VS_HOST)
				vs_each_dest((const struct virtual_service *)l->v[j].p.res,
					     incr_dest, in);
	}
	for (j = 0; !in->why && j < ci->wild_vs.n; j++)
		vs_each_dest((const struct virtual_service *)ci->wild_vs.v[j].p.res, incr_dest, in);
	return !in->why;
}

struct gather {
	struct pick *v;
	size_t n, cap;
	struct hmap seen; /* resource -> 0 */
};

static bool gather_one(struct gather *g, const struct pick *p)
{
	size_t unused;

	if (hmap_get_ptr(&g->seen, p->res, NULL, &unused))
		return true;
	if (!hmap_put_ptr(&g->seen, p->res, NULL, 0) ||
	    !grow_to(&g->v, &g->cap, g->n + 1, sizeof(*g->v)))
		return false;
	g->v[g->n] = *p;
	g->v[g->n].pos = (uint64_t)p->at->index << 32 | (uint32_t)p->pos;
	g->n++;
	return true;
}

static bool gather_list(struct gather *g, const struct host_list *l, bool vs_too)
{
	size_t j;

	for (j = 0; l && j < l->n; j++) {
		enum host_role r = l->v[j].role;

		if ((r == ROLE_SE || r == ROLE_DR || (vs_too && r == ROLE_VS_HOST)) &&
		    !gather_one(g, &l->v[j].p))
			return false;
	}
	return true;
}

/* The picks the recompile needs, in input order: every resource a registry
 * lookup for an affected or destination host can find (its ServiceEntries
 * and DestinationRules, the VirtualServices naming an affected one), every
 * wildcard one, and every WorkloadEntry (selectors). */
static bool incr_gather(struct incr *in, struct gather *g)
{
	const struct choice_index *ci = in->c->st->ci;
	const struct host_list *all[] = { &ci->wild_vs, &ci->wild_dr, &ci->wes };
	const char *host;
	size_t i, j;

	HMAP_EACH_KEY(&in->affected, i, host)
		if (!gather_list(g, ci_host_get(ci, host), true))
			return false;
	HMAP_EACH_KEY(&in->dests, i, host)
		if (!gather_list(g, ci_host_get(ci, host), false))
			return false;
	for (i = 0; i < 3; i++)
		for (j = 0; j < all[i]->n; j++)
			if (!gather_one(g, &all[i]->v[j].p))
				return false;
	if (g->n)
		qsort(g->v, g->n, sizeof(*g->v), pick_pos_cmp);
	return true;
}

/* Is d about the resource p puts in force: in its file, at or after its
 * document's start and before the next document's? */
static bool diag_of_pick(const struct diag *d, const struct pick *p)
{
	const struct pfile *pf = p->pf;
	size_t lo = 0, hi = pf->n_docs;

	if (!d->line || !d->file || strcmp(d->file, pf->path))
		return false;
	while (lo < hi) { /* the first document starting after d */
		size_t mid = lo + (hi - lo) / 2;

		if (pf->docs[mid].md->line <= d->line)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && pf->docs[lo - 1].md->res == p->res;
}

static bool diag_of_picks(const struct diag *d, const struct pick *picks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (diag_of_pick(d, &picks[i]))
			return true;
	return false;
}

/* Does the recompile see every resource that what r says depends on? Not
 * for a wildcard one (its hosts are every service, the recompile holds a
 * few): its diagnostics stay those of the image in force. */
static bool diag_owner(const struct resource *r)
{
	size_t i;

	if (!strcmp(r->kind, "DestinationRule"))
		return !host_is_wild(((const struct dest_rule *)r)->host);
	if (!strcmp(r->kind, "VirtualService")) {
		const struct virtual_service *vs = (const struct virtual_service *)r;

		for (i = 0; i < vs->n_hosts; i++)
			if (host_is_wild(vs->hosts[i]))
				return false;
	}
	return true;
}

static void diag_copy(struct diag_list *to, const struct diag *d)
{
	diag_add(to, d->level, d->file, d->line, d->col, d->field, "%s", d->msg);
}

/* The pending compile diagnostics: the recompiled resources' from this
 * compile (xdl), none of the versions no longer in force, every other
 * resource's as the image in force had them (what they say depends on
 * hosts this change did not reach). */
static void incr_diagnostics(struct incr *in, struct pick *subp, size_t n,
			     const struct diag_list *xdl)
{
	struct policy_store *st = in->c->st;
	const struct diag *d;
	size_t i, k = 0;

	for (i = 0; i < n; i++) /* owners first: subp[0..k) */
		if (diag_owner(subp[i].res)) {
			struct pick t = subp[k];

			subp[k++] = subp[i];
			subp[i] = t;
		}
	for (i = 0; i < st->cdl.n; i++) {
		d = &st->cdl.items[i];
		if (!diag_of_picks(d, subp, k) && !diag_of_picks(d, in->gone, in->n_gone))
			diag_copy(&st->pending_cdl, d);
	}
	for (i = 0; i < xdl->n; i++) {
		d = &xdl->items[i];
		if (!d->line || diag_of_picks(d, subp, k))
			diag_copy(&st->pending_cdl, d);
	}
}

/* Compile the affected hosts alone and splice them into the base image. */
static int incr_compile(struct incr *in, struct diag_list *dl, struct bpfmesh_image *img)
{
	struct policy_store *st = in->c->st;
	struct bpfmesh_image sub = { 0 };
	struct diag_list xdl = { 0 };
	struct gather g = { 0 };
	struct pick *subp;
	struct timespec t0;
	struct model m;
	long *from_base;
	size_t n;
	int ret;

	ret = !incr_gather(in, &g);
	hmap_free(&g.seen);
	st->timing.reach_ms = ms_since(&in->t0);
	subp = g.v;
	n = g.n;
	if (ret) {
		in->why = "out of memory";
		free(subp);
		return 1;
	}
	model_init(&m);
	model_link(&m, subp, n);
	ret = policy_compile_model(&m, &xdl, &sub);
	model_free(&m);
	if (ret) {
		in->why = "the recompiled part has errors"; /* a full compile names them */
		diag_free(&xdl);
		free(subp);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = image_splice(&st->base, &sub, &in->affected, img, &from_base, &in->why);
	st->timing.splice_ms = ms_since(&t0);
	bpfmesh_image_free(&sub);
	if (ret == 0 && img->n_services > BPFMESH_MAX_SERVICES) {
		in->why = "more services than the map holds";
		bpfmesh_image_free(img);
		free(from_base);
		ret = 1;
	}
	if (ret) {
		in->why = in->why ? in->why : "out of memory";
		diag_free(&xdl);
		free(subp);
		return 1;
	}
	incr_diagnostics(in, subp, n, &xdl);
	diag_append(dl, &st->pending_cdl);
	diag_free(&xdl);
	free(subp);
	free(st->pending_from_base);
	st->pending_from_base = from_base;
	st->n_pending_sets = img->n_sets;
	st->timing.hosts = in->affected.n;
	return 0;
}

/*
 * 0: img is the incremental result. 1: compile in full (timing.full_why
 * says why). Refused where the reach of a change is not known cheaply:
 * no image in force, --strict (cross-resource findings become errors of
 * whole resources), a WorkloadEntry changed (identities too), a
 * wildcard host, many changes, errors in the recompiled part, or a splice
 * that cannot be faithful (compile_incr.c).
 */
static int incr_try(struct choose *c, struct diag_list *dl, struct bpfmesh_image *img)
{
	struct incr in = { .c = c };
	int ret = 1;

	clock_gettime(CLOCK_MONOTONIC, &in.t0);
	if (!c->st->have_base)
		return 1;
	if (dl->strict)
		in.why = "--strict";
	else if ((c->kept ? incr_changes_kept(&in) : incr_changes(&in)) && incr_reach(&in)) {
		if (!c->kept)
			qsort(c->picks, c->n_picks, sizeof(*c->picks), pick_pos_cmp);
		ret = incr_compile(&in, dl, img);
	}
	c->st->timing.changed = in.n_changed;
	c->st->timing.incremental = ret == 0;
	c->st->timing.full_why = ret ? in.why : NULL;
	c->st->timing.fallbacks += ret != 0;
	free(in.gone);
	hmap_free(&in.changed_hosts);
	hmap_free(&in.affected);
	hmap_free(&in.dests);
	arena_free(&in.scratch);
	return ret;
}

static void lg_unref(struct lg_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		pfile_unref(v[i].pf);
}

static void lg_release(struct lg_entry *v, size_t n)
{
	lg_unref(v, n);
	free(v);
}

/* The picks in force, kept as the next last good (policy_store_commit). */
static bool pending_set(struct policy_store *st, struct choose *c)
{
	size_t i, n = 0;

	/* The array is reused (policy_store_commit): fresh pages at every
	 * reload cost more than filling them. */
	lg_unref(st->pending, st->n_pending);
	st->n_pending = 0;
	if (st->cap_pending < c->n_picks + 1) {
		free(st->pending);
		st->pending = malloc((c->n_picks + 1) * sizeof(*st->pending));
		st->cap_pending = st->pending ? c->n_picks + 1 : 0;
	}
	st->have_pending = false;
	if (!st->pending)
		return false;
	for (i = 0; i < c->n_picks; i++) {
		const struct pick *p = &c->picks[i];

		if (p->dropped)
			continue;
		p->pf->refs++;
		st->pending[n++] = (struct lg_entry){ p->key, p->pf, p->res, p->seen };
	}
	st->n_pending = n;
	st->have_pending = true;
	return true;
}

/* Every resource in force: its strings are borrowed (res_report.borrowed). */
static void report_in_force(struct choose *c)
{
	struct policy_report *rep = c->rep;
	size_t i;

	for (i = 0; i < c->n_picks; i++) {
		const struct pick *p = &c->picks[i];

		if (p->dropped || p->report || !rep_grow(rep))
			continue;
		rep->v[rep->n++] = (struct res_report){
			.kind = (char *)p->shown.kind, .ns = (char *)p->shown.ns,
			.name = (char *)p->shown.name, .file = (char *)p->shown.file,
			.line = p->shown.line, .borrowed = true,
		};
		rep->n_applied++;
	}
}

/* ---- the store ----------------------------------------------------------- */

/* The last read's files in [from, to) by name, those not claimed by a
 * hinted document; built at the first look-up (a hinted read may need none). */
struct old_names {
	struct hmap m;
	bool built;
};

static struct pfile *old_by_name(struct policy_store *st, struct old_names *old, size_t from,
				 size_t to, const bool *claimed, const char *name, bool *ok)
{
	size_t i, o;
	bool added;

	for (i = from; !old->built && i < to && *ok; i++)
		if (!claimed || !claimed[i - from])
			*ok = hmap_put_str(&old->m, st->files[i]->path, i, &added);
	old->built = true;
	return *ok && hmap_get_str(&old->m, name, &o) ? st->files[o] : NULL;
}

static void read_one(struct policy_store *st, struct pfile **cur, struct pfile *prev,
		     struct pfile *got, bool *ok)
{
	*cur = got;
	*ok = got != NULL;
	st->timing.files_parsed += got && got != prev;
}

/* The hinted in-memory documents (policy_store_docs_hint) whose last
 * version the last read holds: an unchanged one is that version, a
 * changed one is parsed with it as prev. claimed[k]: old document k has
 * its successor. */
static void read_hinted(struct policy_store *st, const struct policy_docs_hint *h,
			const char *const *names, const char *const *bufs, const size_t *lens, struct pfile **cur,
			bool *claimed, bool *done, bool *ok)
{
	size_t i, n_old = st->n_files - st->n_path_files;
	struct pfile *prev;

	for (i = 0; i < h->n && *ok; i++) {
		if (h->prev[i] < 0 || (size_t)h->prev[i] >= n_old)
			continue;
		prev = st->files[st->n_path_files + h->prev[i]];
		claimed[h->prev[i]] = done[i] = true;
		st->timing.docs_hinted++;
		if (h->same[i] && prev->dl.strict == st->strict) {
			cur[i] = prev;
			prev->refs++;
			continue;
		}
		read_one(st, &cur[i], prev,
			 pfile_from_buffer(names[i], bufs[i], lens[i], st->strict, prev), ok);
	}
}

/* The in-memory documents no hint covered. The ones with new bytes are
 * parsed on two threads when there are many (a Kubernetes cold start hands
 * over 10,000 at once: 305 ms on one thread); finding each one's last
 * version and the store's counts stay on this thread, in order. */
struct buf_jobs {
	const char *const *names, *const *bufs;
	const size_t *lens;
	size_t *idx; /* document index of each job */
	struct pfile **got;
	bool strict;
};

static void buf_job_run(void *ctx, size_t j)
{
	struct buf_jobs *b = ctx;
	size_t i = b->idx[j];

	b->got[j] = pfile_parse_buffer(b->names[i], b->bufs[i], b->lens[i], b->strict);
}

#define PAR_PARSE_MIN_DOCS 256

static bool store_read_bufs(struct policy_store *st, struct old_names *old_bufs,
			    const char *const *names, const char *const *bufs, const size_t *lens,
			    size_t n_bufs, const bool *claimed, const bool *done, struct pfile **cur)
{
	struct buf_jobs b = { names, bufs, lens, NULL, NULL, st->strict };
	struct pfile **prevs = calloc(n_bufs + 1, sizeof(*prevs));
	size_t i, j, n_jobs = 0;
	bool ok = prevs != NULL;

	b.idx = calloc(n_bufs + 1, sizeof(*b.idx));
	b.got = calloc(n_bufs + 1, sizeof(*b.got));
	ok = ok && b.idx && b.got;
	for (i = 0; i < n_bufs && ok; i++) {
		if (done && done[i])
			continue;
		prevs[i] = old_by_name(st, old_bufs, st->n_path_files, st->n_files, claimed,
				       names[i], &ok);
		if (ok && !(cur[i] = pfile_same_bytes(prevs[i], bufs[i], lens[i], st->strict)))
			b.idx[n_jobs++] = i;
	}
	if (ok)
		par_for(n_jobs, par_threads(n_jobs, PAR_PARSE_MIN_DOCS), buf_job_run, &b);
	for (j = 0; j < n_jobs; j++) {
		if (ok)
			read_one(st, &cur[b.idx[j]], prevs[b.idx[j]], b.got[j], &ok);
		else
			pfile_unref(b.got[j]);
	}
	free(prevs);
	free(b.idx);
	free(b.got);
	return ok;
}

/* Read the files that changed, reuse the others. h (may be NULL): what the
 * caller knows of the in-memory documents. */
static bool store_read(struct policy_store *st, const struct file_list *fl,
		       const char *const *names, const char *const *bufs, const size_t *lens,
		       size_t n_bufs, const struct policy_docs_hint *h, struct pfile ***out,
		       size_t *n_out)
{
	struct pfile **cur = calloc(fl->n + n_bufs + 1, sizeof(*cur));
	size_t n_old_bufs = st->n_files - st->n_path_files;
	bool *claimed = NULL, *done = NULL;
	struct old_names old = { 0 }, old_bufs = { 0 };
	struct file_id id;
	struct pfile *prev;
	size_t i;
	bool ok = cur != NULL;

	if (h && (!h->prev_seq || h->prev_seq != st->docs_seq || h->n > n_bufs))
		h = NULL; /* not a successor of the last read */
	if (h && ok) {
		claimed = calloc(n_old_bufs + 1, sizeof(*claimed));
		done = calloc(n_bufs + 1, sizeof(*done));
		ok = claimed && done;
	}
	for (i = 0; i < fl->n && ok; i++) {
		prev = old_by_name(st, &old, 0, st->n_path_files, NULL, fl->names[i], &ok);
		if (prev && prev->cacheable && file_id_of(fl->names[i], &id) &&
		    file_id_eq(&prev->id, &id)) {
			cur[i] = prev;
			cur[i]->refs++;
			continue;
		}
		if (ok)
			read_one(st, &cur[i], prev, pfile_from_path(fl->names[i], st->strict, prev),
				 &ok);
	}
	if (h && ok)
		read_hinted(st, h, names, bufs, lens, cur + fl->n, claimed, done, &ok);
	if (ok)
		ok = store_read_bufs(st, &old_bufs, names, bufs, lens, n_bufs, claimed, done,
				     cur + fl->n);
	hmap_free(&old.m);
	hmap_free(&old_bufs.m);
	free(claimed);
	free(done);
	for (i = 0; i < st->n_files; i++)
		pfile_unref(st->files[i]);
	free(st->files);
	st->files = NULL;
	st->n_files = st->n_path_files = 0;
	st->docs_seq = 0;
	if (!ok) {
		for (i = 0; cur && i < fl->n + n_bufs; i++)
			pfile_unref(cur[i]);
		free(cur);
		return false;
	}
	st->n_path_files = fl->n;
	*out = cur;
	*n_out = fl->n + n_bufs;
	return true;
}

/* The files of the last read, marked FILE_WAS, when choose_kept may
 * compare this read with them (store_read drops them). */
static bool keep_old_files(struct policy_store *st, struct choose *c)
{
	size_t i;

	if (st->no_index || !st->ci || !st->ci->valid || !st->ci->committed)
		return true;
	c->old = malloc((st->n_files + 1) * sizeof(*c->old));
	if (!c->old)
		return false;
	for (i = 0; i < st->n_files; i++) {
		c->old[i] = st->files[i];
		c->old[i]->refs++;
		c->old[i]->mark = FILE_WAS;
	}
	c->n_old = st->n_files;
	return true;
}

static void old_files_release(struct choose *c)
{
	size_t i;

	for (i = 0; i < c->n_files; i++)
		c->files[i]->mark = 0;
	for (i = 0; i < c->n_old; i++) {
		c->old[i]->mark = 0;
		pfile_unref(c->old[i]);
	}
	free(c->old);
}

int policy_store_preread_docs(struct policy_store *st, const char *const *paths,
			      size_t n_paths, const char *const *names, const char *const *bufs,
			      const size_t *lens, size_t n_bufs)
{
	struct policy_docs_hint hint = st->hint;
	struct diag_list dl = { 0 }; /* policy_store_compile reports them */
	struct file_list fl = { 0 };
	struct pfile **files;
	size_t n;
	int ret = 2;

	memset(&st->hint, 0, sizeof(st->hint)); /* its arrays are this read's */
	if (st->ci) /* it no longer knows which files the last choice read */
		st->ci->valid = false;
	if (!policy_files_collect(&fl, paths, n_paths, &dl)) {
		ret = store_read(st, &fl, names, bufs, lens, n_bufs, hint.seq ? &hint : NULL,
				 &files, &n) ? 0 : 1;
		if (ret == 0) {
			st->files = files;
			st->n_files = n;
			st->docs_seq = hint.seq; /* the next hint may follow this set */
		}
	}
	policy_files_free(&fl);
	diag_free(&dl);
	return ret;
}

int policy_store_preread(struct policy_store *st, const char *const *paths, size_t n_paths)
{
	return policy_store_preread_docs(st, paths, n_paths, NULL, NULL, NULL, 0);
}

int policy_store_compile(struct policy_store *st, const char *const *paths, size_t n_paths,
			 const char *const *names, const char *const *bufs, const size_t *lens,
			 size_t n_bufs, struct diag_list *dl, struct bpfmesh_image *img,
			 struct policy_report *rep)
{
	struct choose c = { .st = st, .rep = rep };
	struct policy_docs_hint hint;
	struct file_list fl = { 0 };
	struct timespec t0;
	int ret = 1;
	size_t i;

	memset(img, 0, sizeof(*img));
	memset(rep, 0, sizeof(*rep));
	st->timing = (struct policy_timing){ .fallbacks = st->timing.fallbacks,
					     .choose_fallbacks = st->timing.choose_fallbacks };
	free(st->pending_from_base);
	st->pending_from_base = NULL;
	st->n_pending_sets = 0;
	diag_free(&st->pending_cdl);
	if (!st->seen && !(st->seen = calloc(1, sizeof(*st->seen))))
		goto oom;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (policy_files_collect(&fl, paths, n_paths, dl)) {
		policy_files_free(&fl);
		return 2;
	}
	if (!keep_old_files(st, &c))
		goto oom;
	hint = st->hint;
	memset(&st->hint, 0, sizeof(st->hint)); /* its arrays are this compile's */
	if (!store_read(st, &fl, names, bufs, lens, n_bufs, hint.seq ? &hint : NULL, &c.files,
			&c.n_files))
		goto oom;
	st->docs_seq = hint.seq;
	st->files = c.files;
	st->n_files = c.n_files;
	for (i = 0; i < c.n_files; i++)
		c.files[i]->index = i;
	st->timing.files = c.n_files;
	st->timing.parse_ms = ms_since(&t0);
	dl->files += c.n_files;
	for (i = 0; i < c.n_files; i++)
		diag_append(dl, &c.files[i]->dl);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!choose_run(&c))
		goto oom;
	st->timing.choose_ms = ms_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = incr_try(&c, dl, img);
	if (ret)
		ret = compile_picks(&c, dl, img);
	st->timing.compile_ms = ms_since(&t0);
	dl->resources += c.n_picks;
	if (ret == 0 && !pending_set(st, &c)) {
		bpfmesh_image_free(img);
		goto oom;
	}
	report_in_force(&c);
	if (st->ci && (st->ci->valid = st->ci->valid && ret == 0))
		ci_keep_picks(st->ci, &c);
	if (st->ci)
		st->ci->committed = false;
	goto out;
oom:
	diag_add(dl, DIAG_ERROR, "", 0, 0, "", "out of memory while reading the policy");
	ret = 1;
	if (st->ci)
		st->ci->valid = false;
out:
	old_files_release(&c);
	free(c.was);
	free(c.now);
	hmap_free(&c.by_key);
	hmap_free(&c.lg_by_key);
	hmap_free(&c.paths);
	free(c.occs);
	free(c.picks);
	policy_files_free(&fl);
	return ret;
}

bool policy_store_prepare(struct policy_store *st, size_t budget)
{
	struct choice_index *ci = st->ci;

	/* Only over the choice in force, with an image to compile into: what
	 * the next reload's kept choice and incremental compile would build. */
	if (st->no_index || !ci || !ci->valid || !ci->committed || ci->hosts_built ||
	    !st->have_base)
		return false;
	if (!ci_hosts_build_some(ci, ci->picks, ci->n_picks, budget)) {
		ci->valid = false; /* built in part: the next choice is a full one */
		return false;
	}
	return !ci->hosts_built;
}

void policy_store_docs_hint(struct policy_store *st, const struct policy_docs_hint *h)
{
	st->hint = *h;
}

void policy_store_commit(struct policy_store *st)
{
	struct lg_entry *spare;
	size_t cap;

	if (!st->have_pending)
		return;
	if (st->ci)
		st->ci->committed = st->ci->valid; /* its picks are the last good now */
	st->have_base = false; /* the caller keeps no image for us */
	spare = st->lg;
	cap = st->cap_lg;
	lg_unref(st->lg, st->n_lg);
	diag_free(&st->cdl);
	st->cdl = st->pending_cdl;
	memset(&st->pending_cdl, 0, sizeof(st->pending_cdl));
	st->lg = st->pending;
	st->n_lg = st->n_pending;
	st->cap_lg = st->cap_pending;
	st->pending = spare; /* the next pending_set fills it */
	st->cap_pending = cap;
	st->n_pending = 0;
	st->have_pending = false;
}

void policy_store_commit_image(struct policy_store *st, struct bpfmesh_image *img)
{
	size_t i;

	if (!st->have_pending)
		return;
	/* What the new image borrowed becomes its own; the old one must not
	 * free it any more. */
	for (i = 0; st->pending_from_base && i < st->n_pending_sets && i < img->n_sets; i++) {
		if (st->pending_from_base[i] < 0)
			continue;
		st->base.sets[st->pending_from_base[i]].borrowed = true;
		img->sets[i].borrowed = false;
	}
	free(st->pending_from_base);
	st->pending_from_base = NULL;
	st->n_pending_sets = 0;
	policy_store_commit(st);
	st->base = *img;
	st->have_base = true;
}

void policy_store_free(struct policy_store *st)
{
	size_t i;

	for (i = 0; i < st->n_files; i++)
		pfile_unref(st->files[i]);
	free(st->files);
	lg_release(st->lg, st->n_lg);
	lg_release(st->pending, st->n_pending);
	seen_free(st->seen);
	choice_index_free(st->ci);
	free(st->pending_from_base);
	diag_free(&st->cdl);
	diag_free(&st->pending_cdl);
	*st = (struct policy_store){ .strict = st->strict, .no_index = st->no_index };
}
