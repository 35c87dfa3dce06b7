// SPDX-License-Identifier: Apache-2.0
/* trafficPolicy.loadBalancer.localityLbSetting, validated as Istio's
 * ValidateLocalityLbSetting does and kept in struct locality_lb; enforced
 * by compile_locality.c and locality.c (issue 11). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "parse_kinds.h"

/* Istio reports the first bad locality of a list and stops. */
struct loc_list {
	const char **v;
	struct src *src;
	size_t n;
};

#define HDIAG(d, at, fmt, ...) \
	diag_add((d)->dl, DIAG_ERROR, (at)->file, (at)->line, (at)->col, (at)->path, fmt, \
		 ##__VA_ARGS__)

/* One locality split as getLocalityParam does: region[/zone[/subzone]], in at
 * most three parts (the subzone keeps any further '/'). */
struct loc_parts {
	const char *r, *z, *sz;
	int rl, zl;
};

/* The level (0 region, 1 zone, 2 subzone), or -1 when a part is empty. */
static int loc_split(const char *s, struct loc_parts *p)
{
	const char *z = strchr(s, '/'), *sz = z ? strchr(z + 1, '/') : NULL;
	size_t rl = z ? (size_t)(z - s) : strlen(s);
	size_t zl = z ? (sz ? (size_t)(sz - z - 1) : strlen(z + 1)) : 0;

	if (rl == 0 || rl > INT_MAX || (z && (zl == 0 || zl > INT_MAX)) || (sz && !sz[1]))
		return -1;
	*p = (struct loc_parts){ s, z ? z + 1 : "", sz ? sz + 1 : "", (int)rl, (int)zl };
	return sz ? 2 : z ? 1 : 0;
}

enum loc_key { LOC_REGION, LOC_ZONE, LOC_SUBZONE };

/* Is the key of this level of p (with zone and subzone as given: NULL
 * takes p's) in m? add: put it there. *oom on allocation failure. */
static bool loc_seen(struct arena *a, struct hmap *m, bool add, bool *oom,
		     enum loc_key level, const struct loc_parts *p, const char *z,
		     const char *sz)
{
	int zl = z ? (int)strlen(z) : p->zl;
	char *key;
	bool added;
	size_t v;

	z = z ? z : p->z;
	sz = sz ? sz : p->sz;
	if (level == LOC_REGION)
		key = arena_printf(a, "R:%.*s", p->rl, p->r);
	else if (level == LOC_ZONE)
		key = arena_printf(a, "Z:%.*s/%.*s", p->rl, p->r, zl, z);
	else
		key = arena_printf(a, "S:%.*s/%.*s/%s", p->rl, p->r, zl, z, sz);
	if (!key || !hmap_get_str(m, key, &v)) {
		if (add && (!key || !hmap_put_str(m, key, 0, &added)))
			*oom = true;
		return false;
	}
	return true;
}

/*
 * Istio's validateLocalities: a locality is refused when an earlier one of
 * the list already covers it or it falls into an earlier one's region or
 * zone as Istio's region -> zone -> subzone map records them (region "r"
 * claims every zone of r, "r/z" every subzone of r/z, "*" everything).
 * Order matters, as in Istio. One hash set of "R:r", "Z:r/z", "S:r/z/s"
 * keys keeps this linear.
 */
static const char *loc_overlap(struct ydoc *d, struct hmap *m, const char *s, bool *oom)
{
	static const struct loc_parts any = { "*", "", "", 1, 0 };
	const char *star = strchr(s, '*');
	struct arena *a = d->a;
	struct loc_parts p;
	int level;

	if (star && (strchr(star + 1, '*') || star[1] != '\0'))
		return "wildcard '*' number can not exceed 1 and must be in the end";
	if (loc_seen(a, m, false, oom, LOC_REGION, &any, NULL, NULL))
		return "overlap with previous specified ones";
	level = loc_split(s, &p);
	if (level < 0)
		return "must not contain empty region/zone/subzone info";
	if (level == 0) {
		if (loc_seen(a, m, true, oom, LOC_REGION, &p, NULL, NULL))
			return "overlap with previous specified ones";
		loc_seen(a, m, true, oom, LOC_ZONE, &p, "*", NULL);
		return NULL;
	}
	if (loc_seen(a, m, true, oom, LOC_REGION, &p, NULL, NULL) &&
	    loc_seen(a, m, false, oom, LOC_ZONE, &p, "*", NULL))
		return "overlap with previous specified ones";
	if (level == 1) {
		if (loc_seen(a, m, true, oom, LOC_ZONE, &p, NULL, NULL))
			return "overlap with previous specified ones";
		loc_seen(a, m, true, oom, LOC_SUBZONE, &p, NULL, "*");
		return NULL;
	}
	if (loc_seen(a, m, true, oom, LOC_ZONE, &p, NULL, NULL) &&
	    loc_seen(a, m, false, oom, LOC_SUBZONE, &p, NULL, "*"))
		return "overlap with previous specified ones";
	if (loc_seen(a, m, true, oom, LOC_SUBZONE, &p, NULL, NULL))
		return "overlap with previous specified ones";
	return NULL;
}

static void loc_check_list(struct ydoc *d, const struct loc_list *l)
{
	struct hmap m = { 0 };
	const char *err = NULL;
	bool oom = false;
	size_t i;

	for (i = 0; i < l->n && !err && !oom; i++)
		err = loc_overlap(d, &m, l->v[i], &oom);
	hmap_free(&m);
	if (oom)
		HDIAG(d, &l->src[i - 1], "out of memory while checking localities");
	else if (err)
		HDIAG(d, &l->src[i - 1], "locality %s %s", l->v[i - 1], err);
}

/* ---- distribute -------------------------------------------------------- */

struct dist_ctx {
	struct locality_distribute *dist;
	struct loc_list *from; /* every rule's from, checked together */
};

static void dist_from(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct dist_ctx *c = obj;

	if (!yget_str(d, n, path, &c->dist->from))
		return;
	c->from->src[c->from->n] = ysrc(d, n, path);
	c->from->v[c->from->n++] = c->dist->from;
}

/* Istio stops at the first weight out of 1..100, then checks the sum. */
static void dist_to(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_distribute *dist = ((struct dist_ctx *)obj)->dist;
	yaml_node_pair_t *p, *start;
	struct loc_list to = { 0 };
	char sub[YPATH_MAX];
	uint64_t total = 0;
	size_t cap;
	struct yskips skip;

	if (!yexpect_map(d, n, path))
		return;
	start = n->data.mapping.pairs.start;
	cap = (size_t)(n->data.mapping.pairs.top - start);
	dist->to = arena_calloc(d->a, cap ? cap : 1, sizeof(*dist->to));
	to.v = arena_calloc(d->a, cap ? cap : 1, sizeof(*to.v));
	to.src = arena_calloc(d->a, cap ? cap : 1, sizeof(*to.src));
	if (!dist->to || !to.v || !to.src || !ymap_dup_skips(d, n, path, &skip))
		return;
	for (p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);
		struct locality_weight *lw = &dist->to[dist->n_to];

		if (!yvisit(d, n))
			break;
		if (skip.v[p - start] || !k || !v || k->type != YAML_SCALAR_NODE)
			continue;
		ypath_key(sub, path, (const char *)k->data.scalar.value);
		if (!yget_str(d, k, sub, &lw->locality) ||
		    !yget_uint_range(d, v, sub, 0, UINT32_MAX, &lw->weight))
			continue;
		if (lw->weight < 1 || lw->weight > 100) {
			ydiag(d, v, DIAG_ERROR, sub, "locality weight must be in range [1, 100]");
			yskips_free(&skip);
			return;
		}
		to.src[to.n] = ysrc(d, k, sub);
		to.v[to.n++] = lw->locality;
		total += lw->weight;
		dist->n_to++;
	}
	yskips_free(&skip);
	if (total != 100) {
		ydiag(d, n, DIAG_ERROR, path, "total locality weight %llu != 100",
		      (unsigned long long)total);
		return;
	}
	loc_check_list(d, &to);
}

static const struct yfield dist_fields[] = {
	{ "from", dist_from },
	{ "to", dist_to },
	{ NULL, NULL },
};

/* The walk of one localityLbSetting: the model and, as Istio checks them
 * together, every distribute rule's from. */
struct loc_walk {
	struct locality_lb *lb;
	struct loc_list from;
};

static void dist_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		      void *obj)
{
	struct loc_walk *w = obj;
	struct dist_ctx c = { &w->lb->distribute[w->lb->n_distribute++], &w->from };

	ywalk_map(d, item, path, dist_fields, &c);
	/* Istio checks an unset from as "", which is an empty region. */
	if (item->type == YAML_MAPPING_NODE && !c.dist->from) {
		w->from.src[w->from.n] = ysrc(d, item, path);
		w->from.v[w->from.n++] = "";
	}
}

static void loc_distribute(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct loc_walk *w = obj;
	size_t len = yseq_len(n);

	if (n->type == YAML_SEQUENCE_NODE && len) {
		w->lb->distribute = arena_calloc(d->a, len, sizeof(*w->lb->distribute));
		w->from.v = arena_calloc(d->a, len, sizeof(*w->from.v));
		w->from.src = arena_calloc(d->a, len, sizeof(*w->from.src));
		if (!w->lb->distribute || !w->from.v || !w->from.src)
			return;
	}
	yseq_each(d, n, path, dist_item, w);
	loc_check_list(d, &w->from);
}

/* ---- failover ---------------------------------------------------------- */

static void fo_region(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_failover *fo = obj;
	const char *s;

	if (!yget_str(d, n, path, &s))
		return;
	if (strchr(s, '/'))
		ydiag(d, n, DIAG_ERROR, path, "locality lb failover only specify region");
	else if (strchr(s, '*'))
		ydiag(d, n, DIAG_ERROR, path,
		      "locality lb failover region should not contain '*' wildcard");
	if (strstr(path, ".from"))
		fo->from = s;
	else
		fo->to = s;
}

static const struct yfield fo_fields[] = {
	{ "from", fo_region },
	{ "to", fo_region },
	{ NULL, NULL },
};

static void fo_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
		    void *obj)
{
	struct locality_lb *lb = ((struct loc_walk *)obj)->lb;
	struct locality_failover *fo = &lb->failover[lb->n_failover++];

	ywalk_map(d, item, path, fo_fields, fo);
	/* Istio compares the strings as given: two unset regions are equal. */
	if (item->type == YAML_MAPPING_NODE &&
	    strcmp(fo->from ? fo->from : "", fo->to ? fo->to : "") == 0)
		ydiag(d, item, DIAG_ERROR, path,
		      "locality lb failover settings must specify different regions");
}

static void loc_failover(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_lb *lb = ((struct loc_walk *)obj)->lb;
	size_t len = yseq_len(n);

	if (n->type == YAML_SEQUENCE_NODE && len &&
	    !(lb->failover = arena_calloc(d->a, len, sizeof(*lb->failover))))
		return;
	yseq_each(d, n, path, fo_item, obj);
}

static void loc_priority(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_lb *lb = ((struct loc_walk *)obj)->lb;

	lb->n_failover_priority = parse_str_list(d, n, path, &lb->failover_priority, NULL);
}

static void loc_enabled(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_lb *lb = ((struct loc_walk *)obj)->lb;

	lb->has_enabled = yget_bool(d, n, path, &lb->enabled);
}

static const struct yfield loc_fields[] = {
	{ "distribute", loc_distribute },
	{ "failover", loc_failover },
	{ "failoverPriority", loc_priority },
	{ "enabled", loc_enabled },
	{ NULL, NULL },
};

/* Istio: failover orders regions itself, so failoverPriority may not name
 * the topology labels with it. */
static void loc_check_priority(struct ydoc *d, yaml_node_t *n, const char *path,
			       const struct locality_lb *lb)
{
	static const char *const topology[] = {
		"topology.kubernetes.io/region", "topology.kubernetes.io/zone",
		"topology.istio.io/subzone", NULL,
	};
	size_t i, j;

	for (i = 0; lb->n_failover && i < lb->n_failover_priority; i++) {
		for (j = 0; topology[j]; j++) {
			if (strcmp(lb->failover_priority[i], topology[j]) != 0)
				continue;
			ydiag(d, ykey(d, n), DIAG_ERROR, path,
			      "can not simultaneously set 'failover' and topology label '%s' in "
			      "'failover_priority'", topology[j]);
			return;
		}
	}
}

void parse_locality_lb(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct locality_lb *lb = &((struct lb_spec *)obj)->locality;
	struct loc_walk w = { lb, { 0 } };

	memset(lb, 0, sizeof(*lb));
	lb->present = true;
	lb->src = ysrc(d, ykey(d, n), path);
	ywalk_map(d, n, path, loc_fields, &w);
	if (lb->n_distribute && lb->n_failover)
		ydiag(d, ykey(d, n), DIAG_ERROR, path,
		      "can not simultaneously specify 'distribute' and 'failover'");
	else
		loc_check_priority(d, n, path, lb);
}
