// SPDX-License-Identifier: Apache-2.0
/* ServiceEntry and WorkloadEntry specs -> model. */
#include <strings.h>
#include <string.h>

#include "check.h"
#include "parse_kinds.h"

/* ---- hosts, addresses -------------------------------------------------- */

/* A diagnostic at a parsed element's own place (file, line, column, path). */
#define HDIAG(d, at, lvl, fmt, ...) \
	diag_add((d)->dl, lvl, (at)->file, (at)->line, (at)->col, (at)->path, fmt, ##__VA_ARGS__)

static void se_hosts(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct service_entry *se = obj;
	const char *err;
	size_t i;

	se->n_hosts = parse_str_list(d, n, path, &se->hosts, &se->host_src);
	for (i = 0; i < se->n_hosts; i++) {
		const char *h = se->hosts[i];
		/* hosts[i] is not item i when null items were skipped: its own
		 * source place says where it is. */
		const struct src *at = &se->host_src[i];

		if (strcmp(h, "*") == 0)
			HDIAG(d, at, DIAG_ERROR, "invalid host *: a ServiceEntry must name its hosts");
		else if (check_parse_ipv4(h, NULL) || check_is_ipv6(h))
			continue;
		else if ((err = check_wildcard_domain(h)))
			HDIAG(d, at, DIAG_ERROR, "invalid host \"%s\": %s", h, err);
		else if (!strchr(h, '.'))
			HDIAG(d, at, DIAG_WARNING,
			      "short host \"%s\" is taken literally in a ServiceEntry, while "
			      "VirtualService and DestinationRule resolve it to %s.%s.svc.cluster.local",
			      h, h, se->r.ns);
	}
}

/* The address of a single-address CIDR (a.b.c.d/32, x::y/128), else false. */
static bool se_single_cidr(const char *a, bool v4, unsigned int plen, struct ip_addr *ip)
{
	char host[64];
	size_t len = strcspn(a, "/");

	if (plen != (v4 ? 32u : 128u) || len >= sizeof(host))
		return false;
	memcpy(host, a, len);
	host[len] = '\0';
	return check_parse_ip(host, ip);
}

static void se_address(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		       void *obj)
{
	struct service_entry *se = obj;
	struct ip_addr ip;
	unsigned int plen;
	const char *a;
	uint32_t be;
	bool v4;

	if (!yget_str(d, item, path, &a))
		return;
	if (check_parse_ip(a, &ip)) {
		se->addrs[se->n_addrs++] = (struct se_addr){ ip, ysrc(d, item, path) };
		return;
	}
	if (!check_parse_cidr(a, &v4, &be, &plen)) {
		ydiag(d, item, DIAG_ERROR, path, "\"%s\" is not a valid IP address or CIDR", a);
		return;
	}
	if (!se->has_cidr)
		se->cidr_src = ysrc(d, item, path);
	se->has_cidr = true;
	if (se_single_cidr(a, v4, plen, &ip))
		se->addrs[se->n_addrs++] = (struct se_addr){ ip, ysrc(d, item, path) };
	else
		ydiag(d, item, DIAG_UNENFORCED, path,
		      "CIDR %s: only single addresses (/32, /128) are supported yet; skipped", a);
}

static void se_addresses(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct service_entry *se = obj;
	size_t len = yseq_len(n);

	se->addrs = arena_calloc(d->a, len ? len : 1, sizeof(*se->addrs));
	if (se->addrs)
		yseq_each(d, n, path, se_address, se);
}

/* ---- ports ------------------------------------------------------------- */

struct proto_class {
	const char *name;
	enum port_class cls;
};

/* Istio's protocol names (case-insensitive, as protocol.Parse). */
static const struct proto_class protocols[] = {
	{ "HTTP", PORT_HTTP }, { "HTTP2", PORT_HTTP }, { "GRPC", PORT_HTTP },
	{ "GRPC-Web", PORT_HTTP }, { "HTTPS", PORT_TCP }, { "TCP", PORT_TCP },
	{ "TLS", PORT_TCP }, { "MONGO", PORT_TCP }, { "REDIS", PORT_TCP },
	{ "MYSQL", PORT_TCP }, { "UDP", PORT_UDP }, { NULL, PORT_TCP },
};

static void port_number(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct se_port *)obj)->number_given = true;
	yget_uint_range(d, n, path, 1, 65535, &((struct se_port *)obj)->number);
}

static void port_target(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_uint_range(d, n, path, 1, 65535, &((struct se_port *)obj)->target_port);
}

static void port_protocol(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct se_port *p = obj;
	const struct proto_class *pc;

	if (!yget_str(d, n, path, &p->protocol))
		return;
	for (pc = protocols; pc->name; pc++) {
		if (strcasecmp(pc->name, p->protocol) == 0) {
			p->cls = pc->cls;
			return;
		}
	}
	ydiag(d, n, DIAG_ERROR, path,
	      "unsupported protocol \"%s\" (HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, TCP, TLS, "
	      "MONGO, REDIS, MYSQL, UDP)", p->protocol);
	p->protocol = NULL;
}

static void port_name(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct se_port *p = obj;
	const char *err;

	p->name_given = true;
	if (!yget_str(d, n, path, &p->name))
		return;
	if ((err = check_dns1123_label(p->name)))
		ydiag(d, n, DIAG_ERROR, path, "invalid port name \"%s\": %s", p->name, err);
}

static const struct yfield port_fields[] = {
	{ "number", port_number },
	{ "protocol", port_protocol },
	{ "name", port_name },
	{ "targetPort", port_target },
	{ NULL, NULL },
};

static void se_port(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		    void *obj)
{
	struct service_entry *se = obj;
	struct se_port *p = &se->ports[se->n_ports++];

	p->src = ysrc(d, item, path);
	ywalk_map(d, item, path, port_fields, p);
}

static void se_ports(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct service_entry *se = obj;
	size_t len = yseq_len(n);

	se->ports = arena_calloc(d->a, len ? len : 1, sizeof(*se->ports));
	if (se->ports)
		yseq_each(d, n, path, se_port, se);
}

/* ---- the rest ---------------------------------------------------------- */

static void se_location(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const locs[] = { "MESH_EXTERNAL", "MESH_INTERNAL", NULL };
	int v;

	yget_enum(d, n, path, locs, &v); /* mTLS and metrics only: nothing to do at L4 */
}

static void se_resolution(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const res[] = { "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", NULL };
	struct service_entry *se = obj;
	int v;

	if (yget_enum(d, n, path, res, &v))
		se->resolution = (enum se_resolution)v;
	se->res_src = ysrc(d, n, path);
}

static void se_endpoint(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
			void *obj)
{
	struct service_entry *se = obj;

	parse_endpoint(d, item, path, &se->eps[se->n_eps++]);
}

static void se_endpoints(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct service_entry *se = obj;
	size_t len = yseq_len(n);

	se->eps = arena_calloc(d->a, len ? len : 1, sizeof(*se->eps));
	if (se->eps)
		yseq_each(d, n, path, se_endpoint, se);
}

static void sel_labels(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_labels(d, n, path, &((struct service_entry *)obj)->selector, true);
}

static const struct yfield selector_fields[] = {
	{ "labels", sel_labels },
	{ NULL, NULL },
};

static void se_selector(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct service_entry *se = obj;

	se->has_selector = true;
	ywalk_map(d, n, path, selector_fields, se);
}

static void se_export_to(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "visibility is not enforced: the node agent serves every namespace");
}

static void se_sans(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "TLS identity checks are not done at connection level");
}

static const struct yfield se_fields[] = {
	{ "hosts", se_hosts },
	{ "addresses", se_addresses },
	{ "ports", se_ports },
	{ "location", se_location },
	{ "resolution", se_resolution },
	{ "endpoints", se_endpoints },
	{ "workloadSelector", se_selector },
	{ "exportTo", se_export_to },
	{ "subjectAltNames", se_sans },
	{ NULL, NULL },
};

void parse_service_entry(struct ydoc *d, yaml_node_t *spec, const char *path,
			 struct service_entry *se)
{
	se->src = ysrc(d, spec, path);
	se->res_src = se->src;
	ywalk_map(d, spec, path, se_fields, se);
}

void parse_workload_entry(struct ydoc *d, yaml_node_t *spec, const char *path,
			  struct workload_entry *we)
{
	parse_endpoint(d, spec, path, &we->ep);
}
