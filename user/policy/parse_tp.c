// SPDX-License-Identifier: Apache-2.0
/* DestinationRule trafficPolicy: validated as Istio's admission does, then
 * reported as not enforced (this slice routes, it does not yet balance,
 * limit or eject). The lint keeps what it needs in struct tp_summary, and
 * outlierDetection (top level and per port) is kept whole for
 * outlier_policy.c. */
#include <string.h>

#include "check.h"
#include "parse_kinds.h"

#define MS 1000000LL

/* Generic leaf checkers. */
static void tp_nonneg(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t v;

	if (yget_int(d, n, path, &v) && (v < 0 || v > INT32_MAX))
		ydiag(d, n, DIAG_ERROR, path, "%lld must be in range 0..%d", (long long)v, INT32_MAX);
}

static void tp_uint32(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	uint32_t v;

	yget_uint_range(d, n, path, 0, UINT32_MAX, &v);
}

static void tp_duration(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	yget_duration(d, n, path, MS, &ns);
}

static void tp_duration_any(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	yget_duration(d, n, path, -1, &ns);
}

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

/* Walk a block that Istio requires to be non-empty, then report it. */
static void tp_block(struct ydoc *d, yaml_node_t *n, const char *path,
		     const struct yfield *fields, void *obj, const char *what)
{
	if (n->type == YAML_MAPPING_NODE && n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		ydiag(d, n, DIAG_ERROR, path, "%s must have at least one field", what);
	ywalk_map(d, n, path, fields, obj);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "%s is not yet enforced", what);
}

/* ---- connectionPool ---------------------------------------------------- */

static const struct yfield keepalive_fields[] = {
	{ "probes", tp_uint32 },
	{ "time", tp_duration },
	{ "interval", tp_duration },
	{ NULL, NULL },
};

static void cp_keepalive(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, keepalive_fields, NULL);
}

static const struct yfield cp_tcp_fields[] = {
	{ "maxConnections", tp_nonneg },
	{ "connectTimeout", tp_duration },
	{ "tcpKeepalive", cp_keepalive },
	{ "maxConnectionDuration", tp_duration },
	{ "idleTimeout", tp_duration_any },
	{ NULL, NULL },
};

static void cp_h2_upgrade(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const v[] = { "DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL };
	int i;

	yget_enum(d, n, path, v, &i);
}

static const struct yfield cp_http_fields[] = {
	{ "http1MaxPendingRequests", tp_nonneg },
	{ "http2MaxRequests", tp_nonneg },
	{ "maxRequestsPerConnection", tp_nonneg },
	{ "maxRetries", tp_nonneg },
	{ "idleTimeout", tp_duration_any },
	{ "h2UpgradePolicy", cp_h2_upgrade },
	{ "useClientProtocol", tp_bool },
	{ "maxConcurrentStreams", tp_nonneg },
	{ NULL, NULL },
};

static void cp_tcp(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, cp_tcp_fields, NULL);
}

static void cp_http(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ywalk_map(d, n, path, cp_http_fields, NULL);
}

static const struct yfield cp_fields[] = {
	{ "tcp", cp_tcp },
	{ "http", cp_http },
	{ NULL, NULL },
};

static void tp_connection_pool(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	tp_block(d, n, path, cp_fields, NULL, "connectionPool");
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

/* An int32 proto field (protobuf rejects what does not fit). */
static bool od_int32(struct ydoc *d, yaml_node_t *n, const char *path, int32_t *out)
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

/* Istio's ValidatePercent on an int32 field. */
static void od_percent(struct ydoc *d, yaml_node_t *n, const char *path, int32_t *out)
{
	int32_t v;

	if (!od_int32(d, n, path, &v))
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

/* Istio's ValidateDuration: at least 1ms, and whole milliseconds. */
static bool od_duration(struct ydoc *d, yaml_node_t *n, const char *path, int64_t *out)
{
	if (!yget_duration(d, n, path, MS, out))
		return false;
	if (*out % MS) {
		ydiag(d, n, DIAG_ERROR, path, "only durations to ms precision are supported");
		return false;
	}
	return true;
}

static void od_interval(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od->has_interval = od_duration(d, n, path, &od->interval_ns);
}

static void od_base_ejection(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	od->has_base_ejection = od_duration(d, n, path, &od->base_ejection_ns);
}

/* Istio warns on any non-zero value and otherwise ignores the field: its
 * translation to Envoy (applyOutlierDetection) no longer reads it. */
static void od_deprecated(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct od_spec *od = obj;

	if (od_int32(d, n, path, &od->consecutive_errors) && od->consecutive_errors != 0)
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

/* ---- loadBalancer ------------------------------------------------------ */

static void ch_maglev_table(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t v;

	if (!yget_int(d, n, path, &v))
		return;
	if (v <= 0 || v > UINT32_MAX || !check_is_prime((uint64_t)v))
		ydiag(d, n, DIAG_ERROR, path, "tableSize %lld must be a prime number", (long long)v);
}

static const struct yfield maglev_fields[] = {
	{ "tableSize", ch_maglev_table },
	{ NULL, NULL },
};

static const struct yfield ring_fields[] = {
	{ "minimumRingSize", tp_uint32 },
	{ NULL, NULL },
};

static const struct yfield cookie_fields[] = {
	{ "name", tp_str },
	{ "path", tp_str },
	{ "ttl", tp_duration_any },
	{ "attributes", parse_noop },
	{ NULL, NULL },
};

struct ch_ctx {
	int keys, algos;
};

static void ch_key(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct ch_ctx *)obj)->keys++;
	if (n->type == YAML_MAPPING_NODE) {
		if (!ymap_get(d, n, "name"))
			ydiag(d, n, DIAG_ERROR, path, "name required for httpCookie");
		ywalk_map(d, n, path, cookie_fields, NULL);
	} else if (strstr(path, "useSourceIp")) {
		tp_bool(d, n, path, NULL);
	} else {
		tp_str(d, n, path, NULL);
	}
}

static void ch_maglev(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct ch_ctx *)obj)->algos++;
	ywalk_map(d, n, path, maglev_fields, NULL);
}

static void ch_ring(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct ch_ctx *)obj)->algos++;
	ywalk_map(d, n, path, ring_fields, NULL);
}

static const struct yfield ch_fields[] = {
	{ "httpHeaderName", ch_key },
	{ "httpCookie", ch_key },
	{ "useSourceIp", ch_key },
	{ "httpQueryParameterName", ch_key },
	{ "ringHash", ch_ring },
	{ "maglev", ch_maglev },
	{ "minimumRingSize", tp_uint32 },
	{ NULL, NULL },
};

struct lb_ctx {
	bool simple, hash;
};

static void lb_simple(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	static const char *const v[] = { "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH",
					  "ROUND_ROBIN", "LEAST_REQUEST", NULL };
	int i;

	((struct lb_ctx *)obj)->simple = true;
	yget_enum(d, n, path, v, &i);
}

static void lb_hash(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx c = { 0 };

	((struct lb_ctx *)obj)->hash = true;
	ywalk_map(d, n, path, ch_fields, &c);
	if (c.keys != 1 && n->type == YAML_MAPPING_NODE)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "exactly one hash key must be set (found %d)",
		      c.keys);
	if (c.algos > 1)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "only one of ringHash or maglev can be set");
}



static const struct yfield lb_fields[] = {
	{ "simple", lb_simple },
	{ "consistentHash", lb_hash },
	{ "localityLbSetting", parse_locality_lb },
	{ "warmupDurationSecs", tp_duration },
	{ "warmup", parse_noop },
	{ NULL, NULL },
};

static void tp_load_balancer(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct lb_ctx c = { 0 };

	ywalk_map(d, n, path, lb_fields, &c);
	if (c.simple && c.hash)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "only one of simple or consistentHash can be set");
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "loadBalancer is not yet enforced");
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

	if (yget_uint_range(d, n, path, 1, 65535, &c->entry.port))
		c->port = true;
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
		tp_load_balancer(d, n, path, NULL);
	else if (strstr(path, ".connectionPool"))
		tp_connection_pool(d, n, path, NULL);
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

static void tp_not_yet(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, Y_NOT_YET);
}

static const struct yfield tp_fields[] = {
	{ "loadBalancer", tp_load_balancer },
	{ "connectionPool", tp_connection_pool },
	{ "outlierDetection", tp_outlier },
	{ "tls", tp_tls },
	{ "portLevelSettings", tp_port_level },
	{ "tunnel", tp_not_yet },
	{ "proxyProtocol", tp_not_yet },
	{ NULL, NULL },
};

void parse_traffic_policy(struct ydoc *d, yaml_node_t *n, const char *path,
			  struct tp_summary *tp)
{
	tp->present = true;
	if (n->type == YAML_MAPPING_NODE && n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		ydiag(d, n, DIAG_ERROR, path, "traffic policy must have at least one field");
	ywalk_map(d, n, path, tp_fields, tp);
}
