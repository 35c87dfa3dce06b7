// SPDX-License-Identifier: Apache-2.0
/* YAML documents -> model: the document loop and the dispatch by kind. The
 * field parsers the kinds share are in parse_common.c. */
#define _GNU_SOURCE /* timegm */
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

bool parse_buffer(struct model *m, const char *file, const char *buf, size_t len,
		  struct diag_list *dl)
{
	struct hmap paths = { 0 };
	struct ydoc d = { .file = file, .dl = dl, .a = &m->arena, .visits = &m->visits,
			  .paths = &paths };
	enum yload_result r;
	struct yload ld;
	yaml_node_t *root;
	size_t ndocs = 0;

	if (!yload_init(&ld, buf, len)) {
		m->arena.oom = true;
		return false;
	}
	while ((r = yload_next(&ld, file, dl)) == YLOAD_DOC) {
		root = yaml_document_get_root_node(&ld.doc);
		d.doc = &ld.doc;
		m->visits.left += (unsigned long)(ld.doc.nodes.top - ld.doc.nodes.start);
		doc_parse_recorded(&d, m, root);
		if (m->arena.oom)
			parse_report_oom(m, dl, file, root);
		ndocs++;
		if (m->arena.oom || m->visits.spent)
			break;
	}
	yload_free(&ld);
	hmap_free(&paths);
	if (r == YLOAD_NOMEM)
		m->arena.oom = true;
	/* Invalid YAML or over a limit (reported): what the file held keeps its
	 * last good version (isolate.c). */
	if (r != YLOAD_END)
		m->unreadable = true;
	if (ndocs == 0 && !diag_count_errors(dl))
		diag_add(dl, DIAG_NOTE, file, 0, 0, "", "no YAML documents");
	return !m->arena.oom;
}
