// SPDX-License-Identifier: Apache-2.0
/* YAML documents -> model: the document loop and the dispatch by kind. The
 * field parsers the kinds share are in parse_common.c. */
#define _GNU_SOURCE /* timegm, memmem */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "parse.h"
#include "parse_kinds.h"
#include "yaml_load.h"

/* ---- documents --------------------------------------------------------- */

static const char *const istio_versions[] = {
	"networking.istio.io/v1", "networking.istio.io/v1beta1",
	"networking.istio.io/v1alpha3", NULL,
};

static const char *const istio_kinds[] = {
	"ServiceEntry", "WorkloadEntry", "VirtualService", "DestinationRule", NULL,
};

static void meta_name(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct resource *r = obj;
	const char *err;

	if (!yget_str(d, n, path, &r->name))
		return;
	if ((err = check_dns1123_subdomain(r->name)))
		ydiag(d, n, DIAG_ERROR, path, "invalid name \"%s\": %s", r->name, err);
}

static void meta_namespace(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct resource *r = obj;
	const char *ns, *err;

	if (!yget_str(d, n, path, &ns))
		return;
	if ((err = check_dns1123_label(ns)))
		ydiag(d, n, DIAG_ERROR, path, "invalid namespace \"%s\": %s", ns, err);
	else
		r->ns = ns;
}

/* RFC 3339 in UTC, as the Kubernetes API server writes it
 * ("2024-05-01T10:00:00Z"); the agent's conflict rules use it. */
static void meta_created(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct resource *r = obj;
	const char *s, *end;
	struct tm tm = { 0 };

	if (!yget_str(d, n, path, &s))
		return;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end && *end == '.') /* fractional seconds: not used */
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (!end || strcmp(end, "Z")) {
		ydiag(d, n, DIAG_ERROR, path, "\"%s\": not a time in RFC 3339 UTC form "
		      "(2024-05-01T10:00:00Z)", s);
		return;
	}
	r->created = (int64_t)timegm(&tm);
	r->has_created = true;
}

static void meta_map(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yexpect_map(d, n, path); /* labels, annotations: no effect on routing */
}

/* Annotation key of the annotations map n, if it is a string: its node
 * (*s its text, vpath its field path), else NULL. */
static yaml_node_t *annotation(struct ydoc *d, yaml_node_t *n, const char *path,
			       const char *key, char vpath[YPATH_MAX], const char **s)
{
	yaml_node_t *v = ymap_get(d, n, key);

	ypath_key(vpath, path, key);
	return v && !ynode_is_null(v) && yget_str(d, v, vpath, s) ? v : NULL;
}

/* A two-valued annotation: *flag set by on, cleared by off, else an error. */
static void annotation_flag(struct ydoc *d, yaml_node_t *n, const char *path, const char *key,
			    const char *on, const char *off, bool *flag)
{
	char vpath[YPATH_MAX];
	const char *s;
	yaml_node_t *v = annotation(d, n, path, key, vpath, &s);

	if (!v)
		return;
	if (!strcmp(s, on))
		*flag = true;
	else if (strcmp(s, off))
		ydiag(d, v, DIAG_ERROR, vpath, "\"%s\": must be \"%s\" or \"%s\"", s, on, off);
}

/* bpfmesh.io/cgroup: a path under the cgroup2 mount ("/" first or not);
 * ".." would leave it, so it is refused. */
static void meta_cgroup(struct ydoc *d, yaml_node_t *n, const char *path, struct resource *r)
{
	char vpath[YPATH_MAX];
	const char *s;
	yaml_node_t *v = annotation(d, n, path, "bpfmesh.io/cgroup", vpath, &s);

	if (!v)
		return;
	if (!s[0] || strstr(s, "..") || strlen(s) > 1024) {
		ydiag(d, v, DIAG_ERROR, vpath,
		      "\"%s\": must be a path under the cgroup2 mount, without \"..\"", s);
		return;
	}
	r->cgroup = s;
	r->cgroup_src = ysrc(d, v, vpath);
}

/* Annotations have no effect on routing, except bpfmesh.io/sockmap: "off"
 * (same-node acceleration not used for the resource's services),
 * bpfmesh.io/cgroup (a WorkloadEntry's processes: its identity) and
 * bpfmesh.io/identity-only: "true" (a WorkloadEntry that is an identity and
 * no selector's endpoint: a Pod of this node, user/k8s/render.c). */
static void meta_annotations(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct resource *r = obj;

	if (!yexpect_map(d, n, path))
		return;
	meta_cgroup(d, n, path, r);
	annotation_flag(d, n, path, "bpfmesh.io/identity-only", "true", "false", &r->identity_only);
	annotation_flag(d, n, path, "bpfmesh.io/sockmap", "off", "on", &r->sockmap_off);
}

static const struct yfield metadata_fields[] = {
	{ "name", meta_name },
	{ "namespace", meta_namespace },
	{ "labels", meta_map },
	{ "annotations", meta_annotations },
	{ "generateName", parse_noop }, { "uid", parse_noop },
	{ "resourceVersion", parse_noop }, { "generation", parse_noop },
	{ "creationTimestamp", meta_created }, { "deletionTimestamp", parse_noop },
	{ "deletionGracePeriodSeconds", parse_noop }, { "managedFields", parse_noop },
	{ "ownerReferences", parse_noop }, { "finalizers", parse_noop },
	{ "selfLink", parse_noop },
	{ NULL, NULL },
};

static const struct yfield top_fields[] = {
	{ "apiVersion", parse_noop },
	{ "kind", parse_noop },
	{ "metadata", parse_noop },
	{ "spec", parse_noop },
	{ "status", parse_noop },
	{ NULL, NULL },
};

/* Allocate the kind's struct with its resource header filled in. */
static void *doc_new(struct model *m, size_t size, const struct resource *r)
{
	struct resource *res = arena_alloc(&m->arena, size);

	if (res)
		*res = *r; /* every kind struct starts with struct resource */
	return res;
}

static struct resource *doc_add_kind(struct ydoc *d, struct model *m, const struct resource *r,
				     yaml_node_t *spec)
{
	if (strcmp(r->kind, "ServiceEntry") == 0) {
		struct service_entry *se = doc_new(m, sizeof(*se), r);

		if (!se)
			return NULL;
		parse_service_entry(d, spec, "spec", se);
		*m->ses_tail = se;
		m->ses_tail = &se->next;
		return &se->r;
	} else if (strcmp(r->kind, "WorkloadEntry") == 0) {
		struct workload_entry *we = doc_new(m, sizeof(*we), r);

		if (!we)
			return NULL;
		parse_workload_entry(d, spec, "spec", we);
		*m->wes_tail = we;
		m->wes_tail = &we->next;
		return &we->r;
	} else if (strcmp(r->kind, "VirtualService") == 0) {
		struct virtual_service *vs = doc_new(m, sizeof(*vs), r);

		if (!vs)
			return NULL;
		parse_virtual_service(d, spec, "spec", vs);
		*m->vss_tail = vs;
		m->vss_tail = &vs->next;
		return &vs->r;
	} else {
		struct dest_rule *dr = doc_new(m, sizeof(*dr), r);

		if (!dr)
			return NULL;
		parse_destination_rule(d, spec, "spec", dr);
		*m->drs_tail = dr;
		m->drs_tail = &dr->next;
		return &dr->r;
	}
}

/* apiVersion and kind decide whether the document is ours. */
static bool doc_is_ours(struct ydoc *d, yaml_node_t *root, struct resource *r)
{
	yaml_node_t *av = ymap_get(d, root, "apiVersion"), *kind = ymap_get(d, root, "kind");
	const char *avs = NULL;
	int i;

	if (ynode_is_null(kind) || ynode_is_null(av)) {
		ydiag(d, root, DIAG_ERROR, ynode_is_null(kind) ? "kind" : "apiVersion",
		      "required field is missing");
		return false;
	}
	if (!yget_str(d, av, "apiVersion", &avs) || !yget_str(d, kind, "kind", &r->kind))
		return false;
	for (i = 0; istio_kinds[i] && strcmp(istio_kinds[i], r->kind) != 0; i++)
		;
	if (!istio_kinds[i] || strncmp(avs, "networking.istio.io/", 20) != 0) {
		ydiag(d, root, DIAG_NOTE, "kind", "%s %s is not a traffic policy kind; skipped",
		      avs, r->kind);
		return false;
	}
	for (i = 0; istio_versions[i] && strcmp(istio_versions[i], avs) != 0; i++)
		;
	if (!istio_versions[i]) {
		ydiag(d, av, DIAG_NOTE, "apiVersion",
		      "unsupported version %s (use v1, v1beta1 or v1alpha3); skipped", avs);
		return false;
	}
	return true;
}

/* One document into m; md is told what it is (kind, names, its resource). */
static void doc_parse(struct ydoc *d, struct model *m, yaml_node_t *root, struct model_doc *md)
{
	struct resource r = { .ns = "default" };
	yaml_node_t *meta, *spec;

	if (ynode_is_null(root)) {
		ydiag(d, root, DIAG_NOTE, "", "empty document; skipped");
		return;
	}
	if (!yexpect_map(d, root, ""))
		return;
	md->ours = doc_is_ours(d, root, &r);
	md->kind = r.kind;
	if (!md->ours)
		return;
	r.src = ysrc(d, root, "");
	ywalk_map(d, root, "", top_fields, NULL);
	meta = ymap_get(d, root, "metadata");
	spec = ymap_get(d, root, "spec");
	if (ynode_is_null(meta))
		ydiag(d, root, DIAG_ERROR, "metadata", "required field is missing");
	else
		ywalk_map(d, meta, "metadata", metadata_fields, &r);
	if (!ynode_is_null(meta) && ynode_is_null(ymap_get(d, meta, "name")))
		ydiag(d, meta, DIAG_ERROR, "metadata.name", "required field is missing");
	md->ns = r.ns;
	md->name = r.name;
	if (ynode_is_null(spec)) {
		ydiag(d, root, DIAG_ERROR, "spec", "required field is missing");
		return;
	}
	if (!r.name)
		r.name = "";
	if (yexpect_map(d, spec, "spec"))
		md->res = doc_add_kind(d, m, &r, spec);
}

/* Parse one document and record it in m->docs (policy isolation). */
static void doc_parse_recorded(struct ydoc *d, struct model *m, yaml_node_t *root)
{
	struct model_doc *md = arena_calloc(&m->arena, 1, sizeof(*md));
	size_t dropped = diag_dropped_errors(d->dl);

	if (!md)
		return;
	md->line = ynode_line(root);
	md->first_diag = d->dl->n;
	doc_parse(d, m, root, md);
	md->errors = diag_errors_since(d->dl, md->first_diag, dropped);
	*m->docs_tail = md;
	m->docs_tail = &md->next;
}

/* The document where the model ran out of room (or memory) is named. */
static void parse_report_oom(struct model *m, struct diag_list *dl, const char *file,
			     const yaml_node_t *root)
{
	if (m->oom_reported)
		return;
	m->oom_reported = true;
	if (m->arena.over_limit)
		diag_add(dl, DIAG_ERROR, file, ynode_line(root), ynode_col(root), "",
			 "policy too large: its model needs more than %lu MiB; stopped here",
			 MODEL_MAX_BYTES >> 20);
	else
		diag_add(dl, DIAG_ERROR, file, ynode_line(root), ynode_col(root), "",
			 "out of memory; stopped here");
}

/* ---- the document loop ---------------------------------------------------- */

/* Where a file is cut in two (see parse_buffer): a line that is exactly
 * "---" at byte off, line (0-based) of the file. */
struct parse_cut {
	size_t off, line;
};

/* Did the document ld just returned end where the cut starts, implicitly
 * (the next token is the cut's "---")? Then the rest of the file is
 * independent of what came before (see parse_buffer). */
static bool at_cut(const struct yload *ld, const struct parse_cut *cut)
{
	const yaml_mark_t *mk = &ld->doc.end_mark;

	return cut && ld->doc.end_implicit && mk->line == cut->line && mk->column == 0 &&
	       mk->index == cut->off;
}

/* Documents of ld into m until the stream ends, a problem stops it, or
 * (cut not NULL) a document ends at the cut (*stopped_at_cut). */
static enum yload_result parse_docs(struct ydoc *d, struct model *m, struct yload *ld,
				    size_t *ndocs, const struct parse_cut *cut,
				    bool *stopped_at_cut)
{
	enum yload_result r;
	yaml_node_t *root;

	while ((r = yload_next(ld, d->file, d->dl)) == YLOAD_DOC) {
		root = yaml_document_get_root_node(&ld->doc);
		d->doc = &ld->doc;
		m->visits.left += (unsigned long)(ld->doc.nodes.top - ld->doc.nodes.start);
		doc_parse_recorded(d, m, root);
		if (m->arena.oom)
			parse_report_oom(m, d->dl, d->file, root);
		(*ndocs)++;
		if (m->arena.oom || m->visits.spent)
			break;
		if (at_cut(ld, cut)) {
			*stopped_at_cut = true;
			break;
		}
	}
	return r;
}

/* What the whole file's parse ended with. */
static void parse_finish(struct model *m, const char *file, enum yload_result r, size_t ndocs,
			 struct diag_list *dl)
{
	if (r == YLOAD_NOMEM)
		m->arena.oom = true;
	/* Invalid YAML or over a limit (reported): what the file held keeps its
	 * last good version (isolate.c). */
	if (r != YLOAD_END)
		m->unreadable = true;
	if (ndocs == 0 && !diag_count_errors(dl))
		diag_add(dl, DIAG_NOTE, file, 0, 0, "", "no YAML documents");
}

/* ---- a file in two parts, on two threads ----------------------------------- */

static atomic_uint parse_nthreads = 1;
static atomic_ulong parse_parts_joined;

void parse_set_threads(unsigned int n)
{
	atomic_store(&parse_nthreads, n ? n : 1);
}

unsigned long parse_split_count(void)
{
	return atomic_load(&parse_parts_joined);
}

/* Files smaller than this are parsed whole: a thread costs more. */
#define PARSE_SPLIT_MIN (1u << 20)
/* The second part's visit budget starts this high, so that it is never
 * spent there; what it would have been after the first part is worked out
 * when the parts join. */
#define PART_VISITS (ULONG_MAX / 4)

/*
 * A cut near the middle of buf, at a line that is exactly "---": a
 * document marker at column 0 cannot be part of any scalar (YAML 1.2,
 * c-forbidden; libyaml ends plain and block scalars there and refuses it
 * in quoted ones and in flow collections), so what follows parses the same
 * on its own. The text before it must be ASCII without "\r": then libyaml's
 * line and character counts there are newline and byte counts, so the cut
 * is found in its marks (at_cut). false: no cut.
 */
static bool find_cut(const char *buf, size_t len, struct parse_cut *cut)
{
	const char *at = memmem(buf + len / 2, len - len / 2, "\n---\n", 5);
	size_t i;

	if (!at)
		return false;
	cut->off = (size_t)(at + 1 - buf);
	cut->line = 0;
	for (i = 0; i < cut->off; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 0x80 || c == '\r' || c == '\0')
			return false;
		cut->line += c == '\n';
	}
	return true;
}

/* The part after the cut, parsed into a model of its own. */
struct parse_part {
	const char *file, *buf;
	size_t len, line_base;
	struct model m;
	struct diag_list dl;
	enum yload_result r;
	size_t ndocs;
	unsigned long visits_low; /* lowest m.visits.left at a visit */
	bool failed;              /* out of memory before it began */
	pthread_t thread;
};

static void *parse_part_main(void *arg)
{
	struct parse_part *p = arg;
	struct hmap paths = { 0 };
	struct ydoc d = { .file = p->file, .dl = &p->dl, .a = &p->m.arena,
			  .visits = &p->m.visits, .visits_low = &p->visits_low, .paths = &paths };
	struct yload ld;

	p->m.visits.left = PART_VISITS;
	p->visits_low = ULONG_MAX;
	if (!yload_init(&ld, p->buf, p->len)) {
		p->failed = true;
		return NULL;
	}
	ld.line_base = p->line_base;
	p->r = parse_docs(&d, &p->m, &ld, &p->ndocs, NULL, NULL);
	yload_free(&ld);
	hmap_free(&paths);
	return NULL;
}

static bool part_start(struct parse_part *p, const struct model *m, const char *file,
		       const char *buf, size_t len, const struct parse_cut *cut,
		       const struct diag_list *dl)
{
	*p = (struct parse_part){ .file = file, .buf = buf + cut->off, .len = len - cut->off,
				  .line_base = cut->line };
	model_init(&p->m);
	p->m.arena.limit = m->arena.limit;
	p->dl.strict = dl->strict;
	return pthread_create(&p->thread, NULL, parse_part_main, p) == 0;
}

/*
 * Would the whole file, parsed on from the cut into m and dl, have given
 * what the part gave? Its YAML must have ended cleanly (an error there may
 * be one the cut made), and no limit shared with the first part may be
 * reached: the visit budget, the model's size, the diagnostics kept.
 * Otherwise the first part's parser goes on, as without a cut.
 */
static bool part_fits(const struct parse_part *p, const struct model *m,
		      const struct diag_list *dl)
{
	size_t i;

	if (p->failed || p->r != YLOAD_END || p->m.arena.oom || p->m.visits.spent)
		return false;
	/* Budget: m has left; the part dipped PART_VISITS - low below its
	 * start at worst, which one parse would have taken from m's. */
	if (p->visits_low < PART_VISITS && PART_VISITS - p->visits_low >= m->visits.left)
		return false;
	if (m->arena.limit && m->arena.allocated + p->m.arena.allocated > m->arena.limit)
		return false;
	for (i = 0; i <= DIAG_ERROR; i++) {
		if (p->dl.dropped[i])
			return false;
	}
	return dl->kept_errors + p->dl.kept_errors < DIAG_MAX_KEPT &&
	       (dl->n - dl->kept_errors) + (p->dl.n - p->dl.kept_errors) < DIAG_MAX_KEPT;
}

#define SPLICE(to, p, list)                              \
	do {                                             \
		if ((p)->m.list) {                       \
			*(to)->list##_tail = (p)->m.list; \
			(to)->list##_tail = (p)->m.list##_tail; \
		}                                        \
	} while (0)

/* The part's documents, resources, diagnostics and memory join m and dl. */
static void part_join(struct parse_part *p, struct model *m, struct diag_list *dl)
{
	size_t base = dl->n;
	struct model_doc *md;

	for (md = p->m.docs; md; md = md->next)
		md->first_diag += base;
	diag_append(dl, &p->dl);
	SPLICE(m, p, ses);
	SPLICE(m, p, wes);
	SPLICE(m, p, vss);
	SPLICE(m, p, drs);
	SPLICE(m, p, docs);
	m->visits.left = m->visits.left + p->m.visits.left - PART_VISITS;
	arena_adopt(&m->arena, &p->m.arena);
	model_init(&p->m);
	atomic_fetch_add(&parse_parts_joined, 1);
}

/* ---- parse_buffer ------------------------------------------------------- */

/*
 * With more than one thread allowed (parse_set_threads: the agent allows
 * two when a CPU is free) a large file is parsed in two parts at once: the
 * part after a cut (find_cut) on a thread of its own into a model of its
 * own, with its lines counted from the cut; the first part by the parser
 * of the whole file, which stops when a document ends at the cut. The two
 * then join (part_fits says when the result is exactly the whole file's);
 * else the whole file's parser goes on past the cut.
 */
bool parse_buffer(struct model *m, const char *file, const char *buf, size_t len,
		  struct diag_list *dl)
{
	struct hmap paths = { 0 };
	struct ydoc d = { .file = file, .dl = dl, .a = &m->arena, .visits = &m->visits,
			  .paths = &paths };
	struct parse_part part;
	struct parse_cut cut;
	bool has_part = false, stopped_at_cut = false;
	enum yload_result r;
	struct yload ld;
	size_t ndocs = 0;

	if (!yload_init(&ld, buf, len)) {
		m->arena.oom = true;
		return false;
	}
	if (atomic_load(&parse_nthreads) > 1 && len >= PARSE_SPLIT_MIN && find_cut(buf, len, &cut))
		has_part = part_start(&part, m, file, buf, len, &cut, dl);
	r = parse_docs(&d, m, &ld, &ndocs, has_part ? &cut : NULL, &stopped_at_cut);
	if (has_part) {
		pthread_join(part.thread, NULL);
		if (stopped_at_cut && part_fits(&part, m, dl)) {
			part_join(&part, m, dl);
			ndocs += part.ndocs;
			r = part.r;
		} else if (stopped_at_cut) {
			r = parse_docs(&d, m, &ld, &ndocs, NULL, NULL);
		}
		diag_free(&part.dl);
		model_free(&part.m);
	}
	yload_free(&ld);
	hmap_free(&paths);
	parse_finish(m, file, r, ndocs, dl);
	return !m->arena.oom;
}
