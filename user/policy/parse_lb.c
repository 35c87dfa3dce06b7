// SPDX-License-Identifier: Apache-2.0
/* trafficPolicy.loadBalancer, validated as Istio's validateLoadBalancer does
 * (plus protobuf's oneof rules) and kept in struct lb_spec for the kernel
 * side (bpf/lib/lb_algo.h). What the connection-level data plane cannot
 * honour (HTTP hash keys, warmup) is reported as unenforced, field by field. */
#include <string.h>

#include "check.h"
#include "hmap.h"
#include "parse_kinds.h"

/* Istio's limit on maglev.tableSize (Envoy's largest supported prime + 1). */
#define MAGLEV_TABLE_LIMIT 5000011ull

/* ---- consistentHash ---------------------------------------------------- */

struct ch_ctx {
	struct lb_spec *lb;
	int keys, algos;
	bool maglev_size;   /* the maglev block set tableSize */
	bool old_ring_size; /* the deprecated minimumRingSize is non-zero */
};

/* Istio copies Envoy's isPrime, which calls 1, 2 and 3 prime. */
static bool lb_envoy_is_prime(uint64_t v)
{
	return v == 1 || check_is_prime(v);
}

static void maglev_table(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;
	int64_t v;

	if (!yget_int(d, n, path, &v))
		return;
	c->maglev_size = true;
	if (v < 0)
		ydiag(d, n, DIAG_ERROR, path, "%lld: tableSize is unsigned", (long long)v);
	else if (v == 0)
		ydiag(d, n, DIAG_ERROR, path, "tableSize must be set for maglev");
	else if ((uint64_t)v >= MAGLEV_TABLE_LIMIT)
		ydiag(d, n, DIAG_ERROR, path, "tableSize must be less than %llu for maglev",
		      MAGLEV_TABLE_LIMIT);
	else if (!lb_envoy_is_prime((uint64_t)v))
		ydiag(d, n, DIAG_ERROR, path, "tableSize %lld must be a prime number for maglev",
		      (long long)v);
	else
		c->lb->maglev_table_size = (uint32_t)v;
}

static const struct yfield maglev_fields[] = {
	{ "tableSize", maglev_table },
	{ NULL, NULL },
};

/* A uint64 proto field. */
static void lb_uint64(struct ydoc *d, yaml_node_t *n, const char *path, uint64_t *out)
{
	int64_t v;

	if (!yget_int(d, n, path, &v))
		return;
	if (v < 0)
		ydiag(d, n, DIAG_ERROR, path, "%lld must not be negative", (long long)v);
	else
		*out = (uint64_t)v;
}

static void ring_min_size(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	lb_uint64(d, n, path, &((struct ch_ctx *)obj)->lb->ring_min_size);
}

static const struct yfield ring_fields[] = {
	{ "minimumRingSize", ring_min_size },
	{ NULL, NULL },
};

static void cookie_str(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s;

	yget_str(d, n, path, &s);
}

/* Istio: each attribute needs a name, and no name twice (a hash set:
 * linear in the list). */
struct cookie_attrs {
	struct hmap seen;
	bool oom;
};

static void attr_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		      void *obj)
{
	struct cookie_attrs *c = obj;
	yaml_node_t *name = ymap_get(d, item, "name");
	const char *s = "";
	char sub[YPATH_MAX];
	bool added;

	if (!yexpect_map(d, item, path) || c->oom)
		return;
	ypath_key(sub, path, "name");
	if (name && !yget_str(d, name, sub, &s))
		return;
	if (!s[0]) {
		ydiag(d, name ? name : item, DIAG_ERROR, sub, "cookie attribute name cannot be empty");
	} else if (!hmap_put_str(&c->seen, s, idx, &added)) {
		c->oom = true;
		ydiag(d, item, DIAG_ERROR, path, "out of memory while checking cookie attributes");
	} else if (!added) {
		ydiag(d, name, DIAG_ERROR, sub, "duplicate cookie attribute name: %s", s);
	}
}

static void cookie_attributes(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct cookie_attrs c = { .oom = false };

	yseq_each(d, n, path, attr_item, &c);
	hmap_free(&c.seen);
}

static void cookie_ttl(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	yget_duration(d, n, path, -1, &ns); /* Istio does not check it */
}

static void cookie_name(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yget_str(d, n, path, &((struct ch_ctx *)obj)->lb->hash_name);
}

static const struct yfield cookie_fields[] = {
	{ "name", cookie_name },
	{ "path", cookie_str },
	{ "ttl", cookie_ttl },
	{ "attributes", cookie_attributes },
	{ NULL, NULL },
};

static void ch_key(struct ch_ctx *c, enum lb_hash_key key)
{
	c->keys++;
	c->lb->hash_key = key;
}

/* An HTTP hash key: a connection carries none, and Envoy picks at random
 * when the key is absent, which is what the kernel does. */
static void ch_http_key(struct ydoc *d, yaml_node_t *n, const char *path, const char *what)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "%s is an HTTP key: at connection level endpoints are picked at random, as "
	      "Envoy does when the key is absent", what);
}

static void ch_header(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;

	ch_key(c, HASH_KEY_HEADER);
	yget_str(d, n, path, &c->lb->hash_name);
	ch_http_key(d, n, path, "httpHeaderName");
}

static void ch_query(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;

	ch_key(c, HASH_KEY_QUERY);
	yget_str(d, n, path, &c->lb->hash_name);
	ch_http_key(d, n, path, "httpQueryParameterName");
}

static void ch_source_ip(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;
	bool b;

	/* Written, it sets the oneof even when false (which hashes nothing). */
	ch_key(c, HASH_KEY_NONE);
	if (yget_bool(d, n, path, &b) && b)
		c->lb->hash_key = HASH_KEY_SOURCE_IP;
}

static void ch_cookie(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;

	ch_key(c, HASH_KEY_COOKIE);
	c->lb->hash_name = NULL;
	ywalk_map(d, n, path, cookie_fields, c);
	if (n->type == YAML_MAPPING_NODE && (!c->lb->hash_name || !c->lb->hash_name[0]))
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "name required for HttpCookie");
	ch_http_key(d, n, path, "httpCookie");
}

static void ch_maglev(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;

	c->algos++;
	c->lb->algo = HASH_ALGO_MAGLEV;
	c->maglev_size = false;
	ywalk_map(d, n, path, maglev_fields, c);
	if (!c->maglev_size && n->type == YAML_MAPPING_NODE)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "tableSize must be set for maglev");
}

static void ch_ring(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;

	c->algos++;
	c->lb->algo = HASH_ALGO_RING;
	ywalk_map(d, n, path, ring_fields, c);
	ydiag(d, ykey(d, n), DIAG_NOTE, path,
	      "ringHash is served by a Maglev table (the smallest prime at least "
	      "minimumRingSize entries): the same consistency, Maglev's balance");
}

/* The deprecated consistentHash.minimumRingSize: Istio warns on any non-zero
 * value and refuses it next to maglev or ringHash (checked in lb_hash). */
static void ch_old_ring_size(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx *c = obj;
	uint64_t v = 0;

	lb_uint64(d, n, path, &v);
	if (!v)
		return;
	ydiag(d, ykey(d, n), DIAG_WARNING, path,
	      "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash "
	      "configuration instead");
	c->old_ring_size = true;
	if (c->lb->algo == HASH_ALGO_UNSET)
		c->lb->ring_min_size = v;
}

static const struct yfield ch_fields[] = {
	{ "httpHeaderName", ch_header },
	{ "httpCookie", ch_cookie },
	{ "useSourceIp", ch_source_ip },
	{ "httpQueryParameterName", ch_query },
	{ "ringHash", ch_ring },
	{ "maglev", ch_maglev },
	{ "minimumRingSize", ch_old_ring_size },
	{ NULL, NULL },
};

static void lb_hash(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct ch_ctx c = { .lb = obj };

	c.lb->has_hash = true;
	ywalk_map(d, n, path, ch_fields, &c);
	if (n->type != YAML_MAPPING_NODE)
		return;
	/* The hash key and the algorithm are protobuf oneofs: two of either
	 * cannot be decoded. */
	if (c.keys > 1)
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "only one of httpHeaderName, httpCookie, useSourceIp or "
		      "httpQueryParameterName can be set (found %d)", c.keys);
	else if (c.keys == 0)
		ydiag(d, ykey(d, n), DIAG_WARNING, path,
		      "no hash key: Envoy hashes nothing and picks endpoints at random");
	if (c.algos > 1)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "only one of ringHash or maglev can be set");
	else if (c.algos && c.old_ring_size)
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "only one of MinimumRingSize or Maglev/Ringhash can be specified");
}

/* ---- warmup ------------------------------------------------------------ */

struct warmup_ctx {
	bool duration;
};

static void warmup_duration(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	((struct warmup_ctx *)obj)->duration = true;
	parse_ms_duration(d, n, path, &ns);
}

static void warmup_min_percent(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	double v;

	if (yget_double(d, n, path, &v) && v > 100)
		ydiag(d, n, DIAG_ERROR, path, "minimumPercent value should be less than or equal to 100");
}

static void warmup_aggression(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	double v;

	if (yget_double(d, n, path, &v) && !(v > 0))
		ydiag(d, n, DIAG_ERROR, path, "aggression should be greater than 0");
}

static const struct yfield warmup_fields[] = {
	{ "duration", warmup_duration },
	{ "minimumPercent", warmup_min_percent },
	{ "aggression", warmup_aggression },
	{ NULL, NULL },
};

static void lb_warmup(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct warmup_ctx c = { false };

	ywalk_map(d, n, path, warmup_fields, &c);
	if (n->type == YAML_MAPPING_NODE && !c.duration)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "duration is required");
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "warmup is not yet enforced");
}

/* warmupDurationSecs: a Duration Istio does not check. */
static void lb_warmup_secs(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	int64_t ns;

	yget_duration(d, n, path, -1, &ns);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path, "warmupDurationSecs is not yet enforced");
}

/* ---- loadBalancer ------------------------------------------------------ */

static void lb_simple(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	/* In the proto's order, so that the index is the enum value. */
	static const char *const v[] = { "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH",
					  "ROUND_ROBIN", "LEAST_REQUEST", NULL };
	struct lb_spec *lb = obj;
	int i;

	if (yget_enum(d, n, path, v, &i))
		lb->simple = (enum lb_simple)i;
	lb->has_simple = true;
}

static const struct yfield lb_fields[] = {
	{ "simple", lb_simple },
	{ "consistentHash", lb_hash },
	{ "localityLbSetting", parse_locality_lb },
	{ "warmupDurationSecs", lb_warmup_secs },
	{ "warmup", lb_warmup },
	{ NULL, NULL },
};

void parse_load_balancer(struct ydoc *d, yaml_node_t *n, const char *path, struct lb_spec *lb)
{
	memset(lb, 0, sizeof(*lb));
	lb->present = true;
	lb->src = ysrc(d, ykey(d, n), path);
	ywalk_map(d, n, path, lb_fields, lb);
	if (lb->has_simple && lb->has_hash)
		ydiag(d, ykey(d, n), DIAG_ERROR, path, "only one of simple or consistentHash can be set");
}
