// SPDX-License-Identifier: Apache-2.0
/* Field parsers shared by the kind parsers (see parse_common.h). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hmap.h"
#include "parse_common.h"

/* path in the arena, once per file (d->paths). */
static const char *ysrc_path(struct ydoc *d, const char *path)
{
	size_t kept;
	bool added;
	char *p;

	if (d->paths && hmap_get_str(d->paths, path, &kept))
		return (const char *)kept;
	p = arena_strdup(d->a, path);
	if (p && d->paths && !hmap_put_str(d->paths, p, (size_t)p, &added))
		d->paths = NULL; /* out of memory: go on without sharing */
	return p;
}

struct src ysrc(struct ydoc *d, const yaml_node_t *n, const char *path)
{
	struct src s = {
		.file = d->file,
		.path = ysrc_path(d, path ? path : ""),
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
	yaml_node_pair_t *p, *start;
	size_t cap, i = 0;
	struct yskips skip;

	if (!yexpect_map(d, n, path))
		return;
	start = n->data.mapping.pairs.start;
	cap = (size_t)(n->data.mapping.pairs.top - start);
	out->v = arena_calloc(d->a, cap, sizeof(*out->v));
	if (!out->v || !ymap_dup_skips(d, n, path, &skip))
		return;
	for (p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);

		if (!yvisit(d, n)) /* a label is a node too: aliased label sets count */
			break;
		if (skip.v[p - start])
			continue;
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
	yskips_free(&skip);
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
	yaml_node_pair_t *p, *start;
	char sub[YPATH_MAX];
	const char *err;
	size_t cap;
	struct yskips skip;

	if (!yexpect_map(d, n, path))
		return;
	start = n->data.mapping.pairs.start;
	cap = (size_t)(n->data.mapping.pairs.top - start);
	ep->ports = arena_calloc(d->a, cap ? cap : 1, sizeof(*ep->ports));
	if (!ep->ports || !ymap_dup_skips(d, n, path, &skip))
		return;
	for (p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);
		struct port_name *pn = &ep->ports[ep->n_ports];

		if (!yvisit(d, n))
			break;
		if (skip.v[p - start] || !k || k->type != YAML_SCALAR_NODE || !v)
			continue;
		ypath_key(sub, path, (const char *)k->data.scalar.value);
		if (!yget_str(d, k, sub, &pn->name) ||
		    !yget_uint_range(d, v, sub, 1, 65535, &pn->port))
			continue;
		/* Istio's ValidatePortName: a DNS-1123 label. */
		if ((err = check_dns1123_label(pn->name))) {
			ydiag(d, k, DIAG_ERROR, sub, "invalid port name \"%s\": %s", pn->name, err);
			continue;
		}
		ep->n_ports++;
	}
	yskips_free(&skip);
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
		((struct endpoint *)obj)->service_account = s;
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

/* Istio's ValidateDuration: at least 1ms ("duration must be greater than
 * 1ms"), and whole milliseconds. */
bool parse_ms_duration(struct ydoc *d, yaml_node_t *n, const char *path, int64_t *out)
{
	if (!yget_duration(d, n, path, PARSE_MS, out))
		return false;
	if (*out % PARSE_MS) {
		ydiag(d, n, DIAG_ERROR, path, "only durations to ms precision are supported");
		return false;
	}
	return true;
}
