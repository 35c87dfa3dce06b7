// SPDX-License-Identifier: Apache-2.0
/* DestinationRule trafficPolicy: validated as Istio's admission does
 * (validateTrafficPolicy and what it calls), then reported as not enforced
 * where the data plane does not enforce it yet (connectionPool.tcp is
 * enforced but for maxConnectionDuration and idleTimeout; .http is L7). loadBalancer (parse_lb.c),
 * connectionPool.tcp and outlierDetection, top level and per port, are kept
 * in struct tp_summary; traffic_policy.c and outlier_policy.c pick the
 * blocks in force for a cluster. */
#include <string.h>

#include "check.h"
#include "parse_kinds.h"

#define MS PARSE_MS

/* Generic leaf checkers. */
static void tp_bool(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	bool b;

	yget_bool(d, n, path, &b);
}

static void tp_str(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s;

	yget_str(d, n, path, &s);
}

static void tp_str_list(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
}

/* Walk a block that Istio requires to be non-empty. */
static void tp_block(struct ydoc *d, yaml_node_t *n, const char *path,
		     const struct yfield *fields, void *obj, const char *what)
{
	if (n->type == YAML_MAPPING_NODE && n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		ydiag(d, n, DIAG_ERROR, path, "%s must have at least one field", what);
	ywalk_map(d, n, path, fields, obj);
}

/* connectionPool.tcp is enforced by the kernel (include/bpfmesh/
 * connpool_abi.h) except these two, which need connections closed from
 * outside their process. */
static void tp_not_closed(struct ydoc *d, yaml_node_t *n, const char *path)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "enforced only where the kernel can close connections from BPF (Linux 6.5+: "
	      "bpf_sock_destroy); not enforced on older kernels such as 6.1");
}

/* ---- connectionPool ---------------------------------------------------- */

static void tp_ms_duration_only(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	parse_ms_duration(d, n, path, &ns);
}

/* An int32 proto field (protobuf rejects what does not fit). */
static bool tp_int32(struct ydoc *d, yaml_node_t *n, const char *path, int32_t *out)
{
	int64_t v;

	if (!yget_int(d, n, path, &v))
		return false;
	if (v < INT32_MIN || v > INT32_MAX) {
		ydiag(d, n, DIAG_ERROR, path, "%lld does not fit in int32", (long long)v);
		return false;
	}
	*out = (int32_t)v;
	return true;
}

/* Istio: "<what> must be non-negative" on an int32 count. */
static bool tp_nonneg_int32(struct ydoc *d, yaml_node_t *n, const char *path, int32_t *out)
{
	if (!tp_int32(d, n, path, out))
		return false;
	if (*out >= 0)
		return true;
	ydiag(d, n, DIAG_ERROR, path, "%d: must be non-negative", *out);
	return false;
}

static void tp_nonneg(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int32_t v;

	tp_nonneg_int32(d, n, path, &v);
}

static void ka_probes(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tcp_keepalive_spec *ka = obj;

	ka->has_probes = yget_uint_range(d, n, path, 0, UINT32_MAX, &ka->probes);
}

static void ka_time(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tcp_keepalive_spec *ka = obj;

	ka->has_time = parse_ms_duration(d, n, path, &ka->time_ns);
}

static void ka_interval(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tcp_keepalive_spec *ka = obj;

	ka->has_interval = parse_ms_duration(d, n, path, &ka->interval_ns);
}

static const struct yfield keepalive_fields[] = {
	{ "probes", ka_probes },
	{ "time", ka_time },
	{ "interval", ka_interval },
	{ NULL, NULL },
};

static void tcp_keepalive(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;

	cp->keepalive.present = true;
	ywalk_map(d, n, path, keepalive_fields, &cp->keepalive);
}

static void tcp_max_connections(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;

	cp->has_max_connections = tp_nonneg_int32(d, n, path, &cp->max_connections);
}

static void tcp_connect_timeout(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;

	cp->has_connect_timeout = parse_ms_duration(d, n, path, &cp->connect_timeout_ns);
}

static void tcp_max_duration(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;

	cp->has_max_duration = parse_ms_duration(d, n, path, &cp->max_duration_ns);
	if (cp->has_max_duration)
		tp_not_closed(d, n, path);
}

/* Istio skips the check when the value is 0 in whole milliseconds ("0s"
 * turns the timeout off), so a sub-millisecond value passes too and means
 * off as well. */
static void tcp_idle_timeout(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;
	int64_t ns;

	if (!yget_duration(d, n, path, -1, &ns))
		return;
	if (ns / MS == 0) {
		cp->idle_timeout_ns = 0;
		cp->has_idle_timeout = true;
		return;
	}
	cp->has_idle_timeout = parse_ms_duration(d, n, path, &cp->idle_timeout_ns);
	if (cp->has_idle_timeout)
		tp_not_closed(d, n, path);
}

static const struct yfield cp_tcp_fields[] = {
	{ "maxConnections", tcp_max_connections },
	{ "connectTimeout", tcp_connect_timeout },
	{ "tcpKeepalive", tcp_keepalive },
	{ "maxConnectionDuration", tcp_max_duration },
	{ "idleTimeout", tcp_idle_timeout },
	{ NULL, NULL },
};

struct cp_http_ctx {
	int h2_upgrade; /* -1 unset */
	bool use_client_protocol;
};

static void http_h2_upgrade(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const v[] = { "DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL };

	yget_enum(d, n, path, v, &((struct cp_http_ctx *)obj)->h2_upgrade);
}

static void http_client_protocol(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_bool(d, n, path, &((struct cp_http_ctx *)obj)->use_client_protocol);
}

static const struct yfield cp_http_fields[] = {
	{ "http1MaxPendingRequests", tp_nonneg },
	{ "http2MaxRequests", tp_nonneg },
	{ "maxRequestsPerConnection", tp_nonneg },
	{ "maxRetries", tp_nonneg },
	{ "idleTimeout", tp_ms_duration_only },
	{ "h2UpgradePolicy", http_h2_upgrade },
	{ "useClientProtocol", http_client_protocol },
	{ "maxConcurrentStreams", tp_nonneg },
	{ NULL, NULL },
};

static void cp_tcp(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_spec *cp = obj;

	cp->has_tcp = true;
	ywalk_map(d, n, path, cp_tcp_fields, cp);
}

static void cp_http(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cp_http_ctx c = { .h2_upgrade = -1 };

	ywalk_map(d, n, path, cp_http_fields, &c);
	if (c.h2_upgrade == 2 && c.use_client_protocol)
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "use client protocol must not be true when H2UpgradePolicy is UPGRADE");
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_REQUEST_ONLY);
}

static const struct yfield cp_fields[] = {
	{ "tcp", cp_tcp },
	{ "http", cp_http },
	{ NULL, NULL },
};

static void cp_parse(struct ydoc *d, yaml_node_t *n, const char *path, struct cp_spec *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->present = true;
	cp->src = ysrc(d, ykey(d, n), path);
	tp_block(d, n, path, cp_fields, cp, "connectionPool");
}

static void tp_connection_pool(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	cp_parse(d, n, path, &((struct tp_summary *)obj)->cp);
}

/* ---- outlierDetection -------------------------------------------------- */

/* Istio's validateOutlierDetection, field by field, keeping the values in an
 * od_spec (outlier_policy.c turns it into what Envoy enforces). */

static void od_uint32(struct ydoc *d, yaml_node_t *n, const char *path, uint32_t *out,
		      bool *has)
{
	if (yget_uint_range(d, n, path, 0, UINT32_MAX, out))
		*has = true;
}

static void od_5xx(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od_uint32(d, n, path, &od->consecutive_5xx, &od->has_5xx);
}

static void od_gateway(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od_uint32(d, n, path, &od->consecutive_gateway, &od->has_gateway);
}

static void od_local_origin(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od_uint32(d, n, path, &od->consecutive_local_origin, &od->has_local_origin);
}

static void od_split(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_bool(d, n, path, &((struct od_spec *)obj)->split_local_origin);
}

/* Istio's ValidatePercent on an int32 field. */
static void od_percent(struct ydoc *d, yaml_node_t *n, const char *path, int32_t *out)
{
	int32_t v;

	if (!tp_int32(d, n, path, &v))
		return;
	if (v < 0 || v > 100)
		ydiag(d, n, DIAG_ERROR, path, "percentage %d is not in range 0..100", v);
	else
		*out = v;
}

static void od_max_ejection(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	od_percent(d, n, path, &((struct od_spec *)obj)->max_ejection_percent);
}

static void od_min_health(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	od_percent(d, n, path, &((struct od_spec *)obj)->min_health_percent);
}

static void od_interval(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od->has_interval = parse_ms_duration(d, n, path, &od->interval_ns);
}

static void od_base_ejection(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od->has_base_ejection = parse_ms_duration(d, n, path, &od->base_ejection_ns);
}

/* Istio warns on any non-zero value and otherwise ignores the field: its
 * translation to Envoy (applyOutlierDetection) no longer reads it. */
static void od_deprecated(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	if (tp_int32(d, n, path, &od->consecutive_errors) && od->consecutive_errors != 0)
		ydiag(d, ykey(d, n), DIAG_WARNING, path,
		      "consecutiveErrors is deprecated and ignored; use consecutive5xxErrors or "
		      "consecutiveGatewayErrors");
}

static const struct yfield od_fields[] = {
	{ "consecutiveErrors", od_deprecated },
	{ "consecutiveGatewayErrors", od_gateway },
	{ "consecutive5xxErrors", od_5xx },
	{ "splitExternalLocalOriginErrors", od_split },
	{ "consecutiveLocalOriginFailures", od_local_origin },
	{ "interval", od_interval },
	{ "baseEjectionTime", od_base_ejection },
	{ "maxEjectionPercent", od_max_ejection },
	{ "minHealthPercent", od_min_health },
	{ NULL, NULL },
};

static void od_parse(struct ydoc *d, yaml_node_t *n, const char *path, struct od_spec *od)
{
	memset(od, 0, sizeof(*od));
	od->present = true;
	od->src = ysrc(d, ykey(d, n), path);
	ywalk_map(d, n, path, od_fields, od);
	/* Istio rejects only a positive count without the split: 0 means unset. */
	if (od->consecutive_local_origin > 0 && !od->split_local_origin) {
		yaml_node_t *v = ymap_get(d, n, "consecutiveLocalOriginFailures");
		char p[YPATH_MAX];

		ypath_key(p, path, "consecutiveLocalOriginFailures");
		ydiag(d, v ? v : ykey(d, n), DIAG_ERROR, p,
		      "consecutiveLocalOriginFailures requires splitExternalLocalOriginErrors: true");
	}
}

static void tp_outlier(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tp_summary *tp = obj;

	od_parse(d, n, path, &tp->od);
	tp->has_outlier = true;
	/* Istio passes maxEjectionPercent to Envoy only when > 0; Envoy's
	 * default is 10. */
	tp->max_ejection_percent = tp->od.max_ejection_percent > 0 ?
		(uint32_t)tp->od.max_ejection_percent : 10;
	tp->outlier_src = tp->od.src;
}

/* ---- tls --------------------------------------------------------------- */

struct tls_ctx {
	int mode; /* -1 unset */
	bool cert, key, ca, cred;
};

static void tls_mode(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const modes[] = { "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL };

	yget_enum(d, n, path, modes, &((struct tls_ctx *)obj)->mode);
}

#define TLS_FLAG(fn, field)                                                              \
	static void fn(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)     \
	{                                                                                \
		const char *s;                                                           \
		if (yget_str(d, n, path, &s) && s[0])                                    \
			((struct tls_ctx *)obj)->field = true;                          \
	}
TLS_FLAG(tls_cert, cert)
TLS_FLAG(tls_key, key)
TLS_FLAG(tls_ca, ca)
TLS_FLAG(tls_cred, cred)

static const struct yfield tls_fields[] = {
	{ "mode", tls_mode },
	{ "clientCertificate", tls_cert },
	{ "privateKey", tls_key },
	{ "caCertificates", tls_ca },
	{ "credentialName", tls_cred },
	{ "subjectAltNames", tp_str_list },
	{ "sni", tp_str },
	{ "insecureSkipVerify", tp_bool },
	{ "caCrl", tp_str },
	{ NULL, NULL },
};

static void tp_tls(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tls_ctx c = { .mode = -1 };

	ywalk_map(d, n, path, tls_fields, &c);
	if ((c.mode == 1 || c.mode == 2) && c.cred && (c.cert || c.key || c.ca))
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "cannot specify client certificates or CA certificate if credentialName is set");
	else if (c.mode == 2 && !c.cred && (!c.cert || !c.key))
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "client certificate and private key are required for MUTUAL tls");
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "upstream TLS is not originated by the data plane");
}

/* ---- loadBalancer (parse_lb.c) ----------------------------------------- */

static void tp_load_balancer(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_load_balancer(d, n, path, &((struct tp_summary *)obj)->lb);
}

/* ---- portLevelSettings ------------------------------------------------- */

struct pls_ctx {
	bool port;
	int blocks;
	struct tp_port entry;
};

static void pls_port_number(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct pls_ctx *c = obj;

	/* Istio checks only that the port is there; 0 matches no service port. */
	if (!yget_uint_range(d, n, path, 0, 65535, &c->entry.port))
		return;
	c->port = true;
	if (c->entry.port == 0)
		ydiag(d, n, DIAG_WARNING, path, "port 0 matches no service port: entry ignored");
}

static const struct yfield pls_port_fields[] = {
	{ "number", pls_port_number },
	{ NULL, NULL },
};

static void pls_port(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, pls_port_fields, obj);
}

static void pls_block(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct pls_ctx *c = obj;

	c->blocks++;
	if (strstr(path, ".loadBalancer"))
		parse_load_balancer(d, n, path, &c->entry.lb);
	else if (strstr(path, ".connectionPool"))
		cp_parse(d, n, path, &c->entry.cp);
	else if (strstr(path, ".outlierDetection"))
		od_parse(d, n, path, &c->entry.od);
	else
		tp_tls(d, n, path, NULL);
}

static const struct yfield pls_fields[] = {
	{ "port", pls_port },
	{ "loadBalancer", pls_block },
	{ "connectionPool", pls_block },
	{ "outlierDetection", pls_block },
	{ "tls", pls_block },
	{ NULL, NULL },
};

static void pls_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		     void *obj)
{
	struct tp_summary *tp = obj;
	struct pls_ctx c = { 0 };

	ywalk_map(d, item, path, pls_fields, &c);
	if (item->type != YAML_MAPPING_NODE)
		return;
	if (!c.port)
		ydiag(d, item, DIAG_ERROR, path, "portTrafficPolicy must have valid port");
	if (!c.blocks)
		ydiag(d, item, DIAG_ERROR, path, "port traffic policy must have at least one field");
	/* Kept even without blocks: a matching entry replaces all four blocks. */
	if (c.port && tp->ports)
		tp->ports[tp->n_ports++] = c.entry;
}

static void tp_port_level(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct tp_summary *tp = obj;
	size_t len = yseq_len(n);

	if (n->type == YAML_SEQUENCE_NODE && len)
		tp->ports = arena_calloc(d->a, len, sizeof(*tp->ports));
	yseq_each(d, n, path, pls_item, tp);
}

/* ---- tunnel, proxyProtocol (validateTunnelSettings, validateProxyProtocol) */

struct tp_walk {
	struct tp_summary *tp;
	bool tunnel, proxy_protocol;
};

static void tunnel_protocol(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s;

	if (yget_str(d, n, path, &s) && s[0] && strcmp(s, "CONNECT") && strcmp(s, "POST"))
		ydiag(d, n, DIAG_ERROR, path, "tunnel protocol must be \"CONNECT\" or \"POST\"");
}

static void tunnel_host(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s, *err;

	*(bool *)obj = true;
	if (!yget_str(d, n, path, &s) || check_parse_ipv4(s, NULL) || check_is_ipv6(s))
		return;
	if ((err = check_dns1123_subdomain(s)))
		ydiag(d, n, DIAG_ERROR, path,
		      "tunnel target host must be valid FQDN or IP address: %s", err);
}

static void tunnel_port(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	uint32_t port;

	yget_uint_range(d, n, path, 1, 65535, &port);
}

static const struct yfield tunnel_fields[] = {
	{ "protocol", tunnel_protocol },
	{ "targetHost", tunnel_host },
	{ "targetPort", tunnel_port },
	{ NULL, NULL },
};

static void tp_tunnel(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	bool host = false;
	char sub[YPATH_MAX];

	((struct tp_walk *)obj)->tunnel = true;
	ywalk_map(d, n, path, tunnel_fields, &host);
	ypath_key(sub, path, "targetHost");
	if (n->type == YAML_MAPPING_NODE && !host)
		ydiag(d, ykey(d, n), DIAG_ERROR, sub, "tunnel target host must be valid FQDN or IP "
		      "address: empty");
	if (n->type == YAML_MAPPING_NODE && !ymap_get(d, n, "targetPort"))
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "tunnel target port is invalid: port 0");
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_NOT_YET);
}

static void pp_version(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const v[] = { "V1", "V2", NULL };
	int i;

	yget_enum(d, n, path, v, &i);
}

static const struct yfield pp_fields[] = {
	{ "version", pp_version },
	{ NULL, NULL },
};

static void tp_proxy_protocol(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct tp_walk *)obj)->proxy_protocol = true;
	ywalk_map(d, n, path, pp_fields, NULL);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_NOT_YET);
}

#define TP_FIELD(fn)                                                                    \
	static void fn##_w(struct ydoc *d, yaml_node_t *n, const char *path, void *obj) \
	{                                                                               \
		fn(d, n, path, ((struct tp_walk *)obj)->tp);                            \
	}
TP_FIELD(tp_load_balancer)
TP_FIELD(tp_connection_pool)
TP_FIELD(tp_outlier)
TP_FIELD(tp_port_level)

static const struct yfield tp_fields[] = {
	{ "loadBalancer", tp_load_balancer_w },
	{ "connectionPool", tp_connection_pool_w },
	{ "outlierDetection", tp_outlier_w },
	{ "tls", tp_tls },
	{ "portLevelSettings", tp_port_level_w },
	{ "tunnel", tp_tunnel },
	{ "proxyProtocol", tp_proxy_protocol },
	{ NULL, NULL },
};

/* Istio warns (top level only: at port level its warnings are dropped)
 * that failover needs outlier detection to see an endpoint fail. */
static void tp_check_failover(struct ydoc *d, const struct tp_summary *tp)
{
	const struct locality_lb *l = &tp->lb.locality;

	if (l->present && (l->n_failover || l->n_failover_priority) && !tp->od.present)
		diag_add(d->dl, DIAG_WARNING, l->src.file, l->src.line, l->src.col, l->src.path,
			 "outlier detection policy must be provided for failover");
}

void parse_traffic_policy(struct ydoc *d, yaml_node_t *n, const char *path,
			  struct tp_summary *tp)
{
	struct tp_walk w = { .tp = tp };

	tp->present = true;
	if (n->type == YAML_MAPPING_NODE && n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		ydiag(d, n, DIAG_ERROR, path, "traffic policy must have at least one field");
	ywalk_map(d, n, path, tp_fields, &w);
	if (w.tunnel && w.proxy_protocol)
		ydiag(d, n, DIAG_ERROR, path, "tunnel and proxyProtocol must not be set together");
	tp_check_failover(d, tp);
}
