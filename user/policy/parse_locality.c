// SPDX-License-Identifier: Apache-2.0
/* trafficPolicy.loadBalancer.localityLbSetting: Istio's rules (weights in
 * 1..100 summing to 100 per rule, failover between distinct regions,
 * distribute and failover exclusive). Not yet enforced. */
#include <stdlib.h>
#include <string.h>

#include "parse_kinds.h"

struct loc_ctx {
	bool distribute, failover;
};

/* "region[/zone[/subzone]]", "*" allowed only as the last segment. */
static void loc_check(struct ydoc *d, yaml_node_t *n, const char *path, const char *s)
{
	const char *star = strchr(s, '*');

	if (s[0] == '\0' || s[0] == '/' || strstr(s, "//"))
		ydiag(d, n, DIAG_ERROR, path, "locality \"%s\" has an empty segment", s);
	else if (star && (star[1] != '\0' || (star != s && star[-1] != '/')))
		ydiag(d, n, DIAG_ERROR, path,
		      "locality \"%s\": wildcard '*' is allowed only as the last segment", s);
}

static void dist_from(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char *s;

	if (yget_str(d, n, path, &s))
		loc_check(d, n, path, s);
}

static void dist_to(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	yaml_node_pair_t *p, *start;
	char sub[YPATH_MAX];
	uint64_t total = 0;
	uint32_t w;
	bool *skip;

	if (!yexpect_map(d, n, path) || !(skip = ymap_dup_skips(d, n, path)))
		return;
	start = n->data.mapping.pairs.start;
	for (p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);
		const char *loc;

		if (!yvisit(d, n))
			break;
		if (skip[p - start] || !k || !v || k->type != YAML_SCALAR_NODE)
			continue;
		ypath_key(sub, path, (const char *)k->data.scalar.value);
		if (yget_str(d, k, sub, &loc))
			loc_check(d, k, sub, loc);
		if (!yget_uint_range(d, v, sub, 0, UINT32_MAX, &w))
			continue;
		if (w < 1 || w > 100)
			ydiag(d, v, DIAG_ERROR, sub, "locality weight %u must be in range 1..100", w);
		total += w;
	}
	free(skip);
	if (total != 100)
		ydiag(d, n, DIAG_ERROR, path, "total locality weight %llu != 100",
		      (unsigned long long)total);
}

static const struct yfield dist_fields[] = {
	{ "from", dist_from },
	{ "to", dist_to },
	{ NULL, NULL },
};

static void dist_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		      void *obj)
{
	ywalk_map(d, item, path, dist_fields, NULL);
}

struct fo_ctx {
	const char *from, *to;
};

static void fo_region(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct fo_ctx *c = obj;
	const char *s;

	if (!yget_str(d, n, path, &s))
		return;
	if (strchr(s, '/'))
		ydiag(d, n, DIAG_ERROR, path, "locality lb failover only specifies regions");
	else if (strchr(s, '*'))
		ydiag(d, n, DIAG_ERROR, path, "locality lb failover region must not contain '*'");
	if (strstr(path, ".from"))
		c->from = s;
	else
		c->to = s;
}

static const struct yfield fo_fields[] = {
	{ "from", fo_region },
	{ "to", fo_region },
	{ NULL, NULL },
};

static void fo_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		    void *obj)
{
	struct fo_ctx c = { 0 };

	ywalk_map(d, item, path, fo_fields, &c);
	if (c.from && c.to && strcmp(c.from, c.to) == 0)
		ydiag(d, item, DIAG_ERROR, path,
		      "locality lb failover settings must specify different regions");
}

static void loc_distribute(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct loc_ctx *)obj)->distribute = yseq_len(n) > 0;
	yseq_each(d, n, path, dist_item, NULL);
}

static void loc_failover(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	((struct loc_ctx *)obj)->failover = yseq_len(n) > 0;
	yseq_each(d, n, path, fo_item, NULL);
}

static void loc_priority(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
}

static void loc_enabled(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	bool b;

	yget_bool(d, n, path, &b);
}

static const struct yfield loc_fields[] = {
	{ "distribute", loc_distribute },
	{ "failover", loc_failover },
	{ "failoverPriority", loc_priority },
	{ "enabled", loc_enabled },
	{ NULL, NULL },
};

void parse_locality_lb(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct loc_ctx c = { 0 };

	ywalk_map(d, n, path, loc_fields, &c);
	if (c.distribute && c.failover)
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "can not simultaneously set 'distribute' and 'failover'");
}
