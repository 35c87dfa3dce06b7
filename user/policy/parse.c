// SPDX-License-Identifier: Apache-2.0
/* YAML documents -> model: document dispatch and shared field parsers. */
#include <string.h>

#include "check.h"
#include "parse.h"

struct src ysrc(struct ydoc *d, const yaml_node_t *n, const char *path)
{
	struct src s = {
		.file = d->file,
		.path = arena_strdup(d->a, path ? path : ""),
		.line = ynode_line(n),
		.col = ynode_col(n),
	};
	return s;
}

void parse_noop(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
}

/* ---- labels ------------------------------------------------------------ */

static void parse_label_pair(struct ydoc *d, yaml_node_t *k, yaml_node_t *v,
			     const char *path, struct label *out, bool selector)
{
	char sub[YPATH_MAX];
	const char *err;

	ypath_key(sub, path, (const char *)k->data.scalar.value);
	if (!yget_str(d, k, sub, &out->key))
		return;
	if (ynode_is_null(v))
		out->val = "";
	else if (!yget_str(d, v, sub, &out->val))
		return;
	if (selector && (strchr(out->key, '*') || strchr(out->val, '*')))
		ydiag(d, k, DIAG_ERROR, sub, "wildcard is not supported in selector");
	else if ((err = check_label_key(out->key)))
		ydiag(d, k, DIAG_ERROR, sub, "invalid label key \"%s\": %s", out->key, err);
	else if ((err = check_label_value(out->val)))
		ydiag(d, v, DIAG_ERROR, sub, "invalid label value \"%s\": %s", out->val, err);
}

void parse_labels(struct ydoc *d, yaml_node_t *n, const char *path, struct labels *out,
		  bool selector)
{
	yaml_node_pair_t *p;
	size_t cap, i = 0;

	if (!yexpect_map(d, n, path))
		return;
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out->v = arena_calloc(d->a, cap, sizeof(*out->v));
	if (!out->v)
		return;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);

		if (!k || k->type != YAML_SCALAR_NODE) {
			ydiag(d, k, DIAG_ERROR, path, "label key must be a string");
			continue;
		}
		out->v[i] = (struct label){ 0 };
		parse_label_pair(d, k, v, path, &out->v[i], selector);
		if (out->v[i].key && out->v[i].val)
			i++;
	}
	out->n = i;
}

/* ---- string lists ------------------------------------------------------ */

struct str_list {
	const char **v;
	struct src *src;
	size_t n;
};

static void str_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		     void *obj)
{
	struct str_list *l = obj;

	if (!yget_str(d, item, path, &l->v[l->n]))
		return;
	l->src[l->n] = ysrc(d, item, path);
	l->n++;
}

size_t parse_str_list(struct ydoc *d, yaml_node_t *n, const char *path,
		      const char ***out, struct src **src)
{
	struct str_list l = { 0 };
	size_t len = yseq_len(n);

	if (n && n->type == YAML_SEQUENCE_NODE) {
		l.v = arena_calloc(d->a, len ? len : 1, sizeof(*l.v));
		l.src = arena_calloc(d->a, len ? len : 1, sizeof(*l.src));
		if (!l.v || !l.src)
			return 0;
	}
	if (yseq_each(d, n, path, str_item, &l) < 0)
		return 0;
	*out = l.v;
	if (src)
		*src = l.src;
	return l.n;
}

/* ---- endpoints (ServiceEntry.endpoints[], WorkloadEntry.spec) ---------- */

static void ep_address(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct endpoint *ep = obj;
	const char *a;

	if (!yget_str(d, n, path, &a))
		return;
	ep->address = a;
	if (strncmp(a, "unix://", 7) == 0 || check_parse_ipv4(a, NULL) || check_is_ipv6(a))
		return;
	if (strchr(a, '*'))
		ydiag(d, n, DIAG_ERROR, path, "address \"%s\" must not contain a wildcard", a);
	else if (check_dns1123_subdomain(a))
		ydiag(d, n, DIAG_ERROR, path, "\"%s\" is neither an IP address nor a DNS name: %s",
		      a, check_dns1123_subdomain(a));
}

static void ep_ports(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct endpoint *ep = obj;
	yaml_node_pair_t *p;
	char sub[YPATH_MAX];
	size_t cap;

	if (!yexpect_map(d, n, path))
		return;
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	ep->ports = arena_calloc(d->a, cap ? cap : 1, sizeof(*ep->ports));
	if (!ep->ports)
		return;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);
		struct port_name *pn = &ep->ports[ep->n_ports];

		if (!k || k->type != YAML_SCALAR_NODE || !v)
			continue;
		ypath_key(sub, path, (const char *)k->data.scalar.value);
		if (!yget_str(d, k, sub, &pn->name) ||
		    !yget_uint_range(d, v, sub, 1, 65535, &pn->port))
			continue;
		if (pn->name[0] == '\0') {
			ydiag(d, k, DIAG_ERROR, sub, "port name must not be empty");
			continue;
		}
		ep->n_ports++;
	}
}

static void ep_labels(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_labels(d, n, path, &((struct endpoint *)obj)->labels, false);
}

static void ep_locality(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct endpoint *ep = obj;
	const char *s, *p;
	int parts = 1;

	if (!yget_str(d, n, path, &s))
		return;
	ep->locality = s;
	for (p = s; *p; p++)
		parts += *p == '/';
	if (parts > 3)
		ydiag(d, n, DIAG_ERROR, path, "locality \"%s\" must use region/zone/subzone form", s);
	else if (s[0] == '/' || strstr(s, "//") || (s[0] && s[strlen(s) - 1] == '/'))
		ydiag(d, n, DIAG_ERROR, path, "locality \"%s\" must not contain empty segments", s);
}

static void ep_network(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_str(d, n, path, &((struct endpoint *)obj)->network);
}

static void ep_weight(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_uint_range(d, n, path, 0, UINT32_MAX, &((struct endpoint *)obj)->weight);
}

static void ep_service_account(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s, *err;

	if (!yget_str(d, n, path, &s))
		return;
	if ((err = check_dns1123_subdomain(s)))
		ydiag(d, n, DIAG_ERROR, path, "serviceAccount \"%s\" is invalid: %s", s, err);
	else
		ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "workload identity is not used at connection level");
}

static const struct yfield endpoint_fields[] = {
	{ "address", ep_address },
	{ "ports", ep_ports },
	{ "labels", ep_labels },
	{ "locality", ep_locality },
	{ "network", ep_network },
	{ "weight", ep_weight },
	{ "serviceAccount", ep_service_account },
	{ NULL, NULL },
};

void parse_endpoint(struct ydoc *d, yaml_node_t *n, const char *path, struct endpoint *ep)
{
	char sub[YPATH_MAX];

	ep->src = ysrc(d, n, path);
	ywalk_map(d, n, path, endpoint_fields, ep);
	if (ep->address && ep->address[0])
		return;
	ypath_key(sub, path, "address");
	if (ep->network)
		ydiag(d, ykey(d, n), DIAG_UNENFORCED, sub,
		      "endpoints reached through a network gateway are not yet supported; skipped");
	else
		ydiag(d, n, DIAG_ERROR, sub, "address must be set");
}

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

static void meta_map(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yexpect_map(d, n, path); /* labels, annotations: no effect on routing */
}

/* Annotations have no effect on routing, except bpfmesh.io/sockmap: "off"
 * (same-node acceleration not used for the resource's services). */
static void meta_annotations(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct resource *r = obj;
	yaml_node_t *v;
	const char *s;
	char vpath[YPATH_MAX];

	if (!yexpect_map(d, n, path))
		return;
	v = ymap_get(d, n, "bpfmesh.io/sockmap");
	ypath_key(vpath, path, "bpfmesh.io/sockmap");
	if (!v || ynode_is_null(v) || !yget_str(d, v, vpath, &s))
		return;
	if (!strcmp(s, "off"))
		r->sockmap_off = true;
	else if (strcmp(s, "on"))
		ydiag(d, v, DIAG_ERROR, vpath, "\"%s\": must be \"on\" or \"off\"", s);
}

static const struct yfield metadata_fields[] = {
	{ "name", meta_name },
	{ "namespace", meta_namespace },
	{ "labels", meta_map },
	{ "annotations", meta_annotations },
	{ "generateName", parse_noop }, { "uid", parse_noop },
	{ "resourceVersion", parse_noop }, { "generation", parse_noop },
	{ "creationTimestamp", parse_noop }, { "deletionTimestamp", parse_noop },
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

static void doc_add_kind(struct ydoc *d, struct model *m, const struct resource *r,
			 yaml_node_t *spec)
{
	if (strcmp(r->kind, "ServiceEntry") == 0) {
		struct service_entry *se = doc_new(m, sizeof(*se), r);

		if (!se)
			return;
		parse_service_entry(d, spec, "spec", se);
		*m->ses_tail = se;
		m->ses_tail = &se->next;
	} else if (strcmp(r->kind, "WorkloadEntry") == 0) {
		struct workload_entry *we = doc_new(m, sizeof(*we), r);

		if (!we)
			return;
		parse_workload_entry(d, spec, "spec", we);
		*m->wes_tail = we;
		m->wes_tail = &we->next;
	} else if (strcmp(r->kind, "VirtualService") == 0) {
		struct virtual_service *vs = doc_new(m, sizeof(*vs), r);

		if (!vs)
			return;
		parse_virtual_service(d, spec, "spec", vs);
		*m->vss_tail = vs;
		m->vss_tail = &vs->next;
	} else {
		struct dest_rule *dr = doc_new(m, sizeof(*dr), r);

		if (!dr)
			return;
		parse_destination_rule(d, spec, "spec", dr);
		*m->drs_tail = dr;
		m->drs_tail = &dr->next;
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

static void doc_parse(struct ydoc *d, struct model *m, yaml_node_t *root)
{
	struct resource r = { .ns = "default" };
	yaml_node_t *meta, *spec;

	if (ynode_is_null(root)) {
		ydiag(d, root, DIAG_NOTE, "", "empty document; skipped");
		return;
	}
	if (!yexpect_map(d, root, "") || !doc_is_ours(d, root, &r))
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
	if (ynode_is_null(spec)) {
		ydiag(d, root, DIAG_ERROR, "spec", "required field is missing");
		return;
	}
	if (!r.name)
		r.name = "";
	if (yexpect_map(d, spec, "spec"))
		doc_add_kind(d, m, &r, spec);
}

static void parse_yaml_error(struct diag_list *dl, const char *file, yaml_parser_t *p)
{
	const yaml_mark_t *mk = p->problem ? &p->problem_mark : &p->mark;

	if (p->error == YAML_MEMORY_ERROR) {
		diag_add(dl, DIAG_ERROR, file, 0, 0, "", "out of memory while reading YAML");
		return;
	}
	if (p->context)
		diag_add(dl, DIAG_ERROR, file, (unsigned int)mk->line + 1,
			 (unsigned int)mk->column + 1, "", "invalid YAML: %s %s",
			 p->problem ? p->problem : "syntax error", p->context);
	else
		diag_add(dl, DIAG_ERROR, file, (unsigned int)mk->line + 1,
			 (unsigned int)mk->column + 1, "", "invalid YAML: %s",
			 p->problem ? p->problem : "syntax error");
}

bool parse_buffer(struct model *m, const char *file, const char *buf, size_t len,
		  struct diag_list *dl)
{
	struct ydoc d = { .file = file, .dl = dl, .a = &m->arena };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	size_t ndocs = 0;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			parse_yaml_error(dl, file, &parser);
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		d.doc = &doc;
		d.visits = 0;
		d.too_complex = false;
		doc_parse(&d, m, root);
		yaml_document_delete(&doc);
		ndocs++;
		if (m->arena.oom)
			break;
	}
	yaml_parser_delete(&parser);
	if (ndocs == 0 && !diag_count_errors(dl))
		diag_add(dl, DIAG_NOTE, file, 0, 0, "", "no YAML documents");
	return !m->arena.oom;
}
