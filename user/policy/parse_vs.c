// SPDX-License-Identifier: Apache-2.0
/* VirtualService spec -> model. Connection-level view: only match[].port
 * selects a route; request-level fields are reported, never dropped silently. */
#include <string.h>

#include "check.h"
#include "parse_kinds.h"

/* ---- destination ------------------------------------------------------- */

static void pport_number(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_dest *dst = obj;

	if (yget_uint_range(d, n, path, 1, 65535, &dst->port))
		dst->has_port = true;
}

static const struct yfield port_selector_fields[] = {
	{ "number", pport_number },
	{ NULL, NULL },
};

static void dest_host(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_dest *dst = obj;
	const char *err;

	if (!yget_str(d, n, path, &dst->host))
		return;
	if (strcmp(dst->host, "*") == 0)
		ydiag(d, n, DIAG_ERROR, path, "destination host must not be \"*\"");
	else if (!check_parse_ipv4(dst->host, NULL) && (err = check_wildcard_domain(dst->host)))
		ydiag(d, n, DIAG_ERROR, path, "invalid host \"%s\": %s", dst->host, err);
	else
		return;
	dst->host = NULL;
	dst->reported = true;
}

static void dest_subset(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_dest *dst = obj;

	yget_str(d, n, path, &dst->subset);
}

static void dest_port(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, port_selector_fields, obj);
}

static const struct yfield destination_fields[] = {
	{ "host", dest_host },
	{ "subset", dest_subset },
	{ "port", dest_port },
	{ NULL, NULL },
};

static void rd_destination(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_dest *dst = obj;
	char sub[YPATH_MAX];

	dst->src = ysrc(d, n, path);
	ywalk_map(d, n, path, destination_fields, dst);
	ypath_key(sub, path, "host");
	if (!dst->host && !dst->reported && n->type == YAML_MAPPING_NODE) {
		ydiag(d, n, DIAG_ERROR, sub, "destination host is required");
		dst->reported = true;
	}
}

static void rd_weight(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_dest *dst = obj;
	int64_t w;

	dst->weight_src = ysrc(d, n, path);
	if (!yget_int(d, n, path, &w))
		return;
	if (w < 0)
		ydiag(d, n, DIAG_ERROR, path, "weight %lld must be >= 0", (long long)w);
	else if (w > INT32_MAX)
		ydiag(d, n, DIAG_ERROR, path, "weight %lld is out of range (int32)", (long long)w);
	else {
		dst->weight = w;
		dst->has_weight = true;
	}
}

static void rd_request_only(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_REQUEST_ONLY);
}

static const struct yfield http_dest_fields[] = {
	{ "destination", rd_destination },
	{ "weight", rd_weight },
	{ "headers", rd_request_only },
	{ NULL, NULL },
};

static const struct yfield tcp_dest_fields[] = {
	{ "destination", rd_destination },
	{ "weight", rd_weight },
	{ NULL, NULL },
};

static void route_dest(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		       void *obj)
{
	struct vs_route *r = obj;
	struct vs_dest *dst = &r->dests[r->n_dests++];
	char sub[YPATH_MAX];

	dst->src = ysrc(d, item, path);
	ywalk_map(d, item, path, r->kind == ROUTE_HTTP ? http_dest_fields : tcp_dest_fields,
		  dst);
	ypath_key(sub, path, "destination");
	if (!dst->host && !dst->reported && item->type == YAML_MAPPING_NODE) {
		ydiag(d, item, DIAG_ERROR, sub, "destination is required");
		dst->reported = true;
	}
}

static void route_route(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_route *r = obj;
	size_t len = yseq_len(n);

	r->has_route = true;
	r->dests = arena_calloc(d->a, len ? len : 1, sizeof(*r->dests));
	if (r->dests)
		yseq_each(d, n, path, route_dest, r);
}

/* ---- match clauses ----------------------------------------------------- */

static void match_port(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_match *m = obj;

	if (yget_uint_range(d, n, path, 1, 65535, &m->port))
		m->has_port = true;
}

/* A field that cannot be enforced here: the clause never matches. */
static void match_never(struct ydoc *d, yaml_node_t *n, const char *path, void *obj,
			const char *why)
{
	struct vs_match *m = obj;

	m->never = true;
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "%s; this match clause is treated as not matching", why);
}

static void match_request(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	match_never(d, n, path, obj, "needs to see HTTP requests");
}

static void match_source_labels(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_match *m = obj;

	parse_labels(d, n, path, &m->source_labels, true);
	m->has_source_labels = true;
}

static void match_source_ns(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_match *m = obj;
	const char *s;

	if (yget_str(d, n, path, &s))
		m->source_ns = s;
}

static void match_not_yet(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	match_never(d, n, path, obj, "not yet implemented");
}

static const struct yfield http_match_fields[] = {
	{ "name", parse_noop },
	{ "statPrefix", parse_noop },
	{ "port", match_port },
	{ "uri", match_request },
	{ "scheme", match_request },
	{ "method", match_request },
	{ "authority", match_request },
	{ "headers", match_request },
	{ "queryParams", match_request },
	{ "ignoreUriCase", match_request },
	{ "withoutHeaders", match_request },
	{ "sourceLabels", match_source_labels },
	{ "sourceNamespace", match_source_ns },
	{ "gateways", match_not_yet },
	{ NULL, NULL },
};

static const struct yfield tcp_match_fields[] = {
	{ "port", match_port },
	{ "destinationSubnets", match_not_yet },
	{ "sourceLabels", match_source_labels },
	{ "sourceNamespace", match_source_ns },
	{ "sourceSubnet", match_not_yet },
	{ "gateways", match_not_yet },
	{ NULL, NULL },
};

static void route_match_item(struct ydoc *d, yaml_node_t *item, const char *path,
			     size_t idx, void *obj)
{
	struct vs_route *r = obj;
	struct vs_match *m = &r->matches[r->n_matches++];

	ywalk_map(d, item, path, r->kind == ROUTE_HTTP ? http_match_fields : tcp_match_fields,
		  m);
}

static void route_match(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct vs_route *r = obj;
	size_t len = yseq_len(n);

	r->matches = arena_calloc(d->a, len ? len : 1, sizeof(*r->matches));
	if (r->matches)
		yseq_each(d, n, path, route_match_item, r);
}

/* ---- request-only route fields: validated, then reported --------------- */

static void unenforced(struct ydoc *d, yaml_node_t *n, const char *path)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_REQUEST_ONLY);
}

static void route_timeout(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	if (yget_duration(d, n, path, 1000000, &ns))
		unenforced(d, n, path);
}

static void retries_attempts(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t v;

	if (yget_int(d, n, path, &v) && v < 0)
		ydiag(d, n, DIAG_ERROR, path, "attempts cannot be negative");
}

static void retries_per_try(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	yget_duration(d, n, path, 1000000, &ns);
}

static void retries_bool(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	bool b;

	yget_bool(d, n, path, &b);
}

static void retries_str(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s;

	yget_str(d, n, path, &s);
}

static const struct yfield retries_fields[] = {
	{ "attempts", retries_attempts },
	{ "perTryTimeout", retries_per_try },
	{ "retryOn", retries_str },
	{ "retryRemoteLocalities", retries_bool },
	{ NULL, NULL },
};

static void route_retries(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, retries_fields, NULL);
	unenforced(d, n, path);
}

static void percent_value(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	double v;

	if (yget_double(d, n, path, &v) && (v < 0 || v > 100))
		ydiag(d, n, DIAG_ERROR, path, "percentage %g is not in range 0..100", v);
}

static const struct yfield percent_fields[] = {
	{ "value", percent_value },
	{ NULL, NULL },
};

static void route_mirror_pct(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, percent_fields, NULL);
	unenforced(d, n, path);
}

static void route_request_only(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	unenforced(d, n, path);
}

static void route_no_dests(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct vs_route *)obj)->no_dests_ok = true;
	unenforced(d, n, path);
}

static const struct yfield http_route_fields[] = {
	{ "name", parse_noop },
	{ "match", route_match },
	{ "route", route_route },
	{ "timeout", route_timeout },
	{ "retries", route_retries },
	{ "mirrorPercentage", route_mirror_pct },
	{ "redirect", route_no_dests },
	{ "directResponse", route_no_dests },
	{ "delegate", route_no_dests },
	{ "fault", route_request_only },
	{ "mirror", route_request_only },
	{ "mirrors", route_request_only },
	{ "mirrorPercent", route_request_only },
	{ "rewrite", route_request_only },
	{ "headers", route_request_only },
	{ "corsPolicy", route_request_only },
	{ NULL, NULL },
};

static const struct yfield tcp_route_fields[] = {
	{ "match", route_match },
	{ "route", route_route },
	{ NULL, NULL },
};

/* The routes parsed so far: null items are reported and skipped, so that
 * the count is the number of items actually parsed, not the list length. */
struct route_list {
	struct vs_route *v;
	size_t n;
	enum route_kind kind;
};

static void vs_route_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
			  void *obj)
{
	struct route_list *l = obj;
	struct vs_route *r = &l->v[l->n++];

	r->kind = l->kind;
	r->src = ysrc(d, item, path);
	ywalk_map(d, item, path, r->kind == ROUTE_HTTP ? http_route_fields : tcp_route_fields,
		  r);
}

static struct vs_route *vs_routes(struct ydoc *d, yaml_node_t *n, const char *path,
				  enum route_kind kind, size_t *count)
{
	size_t len = yseq_len(n);
	struct route_list l = { .v = arena_calloc(d->a, len ? len : 1, sizeof(*l.v)),
				.kind = kind };

	if (!l.v)
		return NULL;
	if (yseq_each(d, n, path, vs_route_item, &l) < 0)
		return NULL;
	*count = l.n;
	return l.v;
}

/* ---- top level --------------------------------------------------------- */

static void vs_hosts(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct virtual_service *vs = obj;
	char sub[YPATH_MAX];
	const char *err;
	size_t i;

	vs->n_hosts = parse_str_list(d, n, path, &vs->hosts, &vs->host_src);
	for (i = 0; i < vs->n_hosts; i++) {
		const char *h = vs->hosts[i];

		ypath_idx(sub, path, i);
		if (strcmp(h, "*") == 0)
			diag_add(d->dl, DIAG_ERROR, d->file, vs->host_src[i].line,
				 vs->host_src[i].col, sub,
				 "wildcard host * is not allowed for virtual services bound to the mesh");
		else if (!check_parse_ipv4(h, NULL) && (err = check_wildcard_domain(h)))
			diag_add(d->dl, DIAG_ERROR, d->file, vs->host_src[i].line,
				 vs->host_src[i].col, sub, "invalid host \"%s\": %s", h, err);
		vs->hosts[i] = model_resolve_host(d->a, h, vs->r.ns);
	}
}

static void vs_gateways(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct virtual_service *vs = obj;
	bool mesh = false, other = false;
	const char **gw;
	size_t i, cnt;

	cnt = parse_str_list(d, n, path, &gw, NULL);
	for (i = 0; i < cnt; i++) {
		if (strcmp(gw[i], "mesh") == 0)
			mesh = true;
		else
			other = true;
	}
	if (other)
		ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "gateways are not handled; only mesh traffic is");
	if (cnt && !mesh) {
		vs->gateways_only = true;
		ydiag(d, ykey(d, n), DIAG_NOTE, path,
		      "\"mesh\" is not listed: this VirtualService does not apply to mesh traffic");
	}
}

static void vs_http(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct virtual_service *vs = obj;

	vs->http = vs_routes(d, n, path, ROUTE_HTTP, &vs->n_http);
}

static void vs_tcp(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct virtual_service *vs = obj;

	vs->tcp = vs_routes(d, n, path, ROUTE_TCP, &vs->n_tcp);
}

static void vs_tls(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct virtual_service *)obj)->tls_present = true;
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "tls routes match on SNI, which is not visible at connect time; ignored");
}

static void vs_export_to(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "visibility is not enforced: the node agent serves every namespace");
}

static const struct yfield vs_fields[] = {
	{ "hosts", vs_hosts },
	{ "gateways", vs_gateways },
	{ "http", vs_http },
	{ "tcp", vs_tcp },
	{ "tls", vs_tls },
	{ "exportTo", vs_export_to },
	{ NULL, NULL },
};

void parse_virtual_service(struct ydoc *d, yaml_node_t *spec, const char *path,
			   struct virtual_service *vs)
{
	vs->src = ysrc(d, spec, path);
	ywalk_map(d, spec, path, vs_fields, vs);
}
