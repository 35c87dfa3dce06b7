// SPDX-License-Identifier: Apache-2.0
/* Locality priorities and effective weights (locality.h): pure. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locality.h"

/* ---- localities ---------------------------------------------------------- */

/* region/zone/subzone, as Istio splits them: the subzone keeps any further
 * '/'; a missing part is empty. */
struct loc_parts {
	const char *p[3];
	size_t len[3];
};

static void loc_split(const char *s, struct loc_parts *o)
{
	const char *slash;
	int i;

	s = s ? s : "";
	for (i = 0; i < 3; i++) {
		slash = i < 2 ? strchr(s, '/') : NULL;
		o->p[i] = s;
		o->len[i] = slash ? (size_t)(slash - s) : strlen(s);
		s = slash ? slash + 1 : s + o->len[i];
	}
}

static bool part_eq(const struct loc_parts *a, const struct loc_parts *b, int i)
{
	return a->len[i] == b->len[i] && !memcmp(a->p[i], b->p[i], a->len[i]);
}

static bool part_is(const struct loc_parts *a, int i, const char *s)
{
	return a->len[i] == strlen(s) && !memcmp(a->p[i], s, a->len[i]);
}

/* Istio's LocalityMatch: a rule part "*" matches anything; an empty zone or
 * subzone in the rule matches anything; the region must match or be "*". */
bool locality_match(const char *locality, const char *rule)
{
	struct loc_parts l, r;
	int i;

	loc_split(locality, &l);
	loc_split(rule, &r);
	if (!part_is(&r, 0, "*") && !part_eq(&l, &r, 0))
		return false;
	for (i = 1; i < 3; i++)
		if (r.len[i] && !part_is(&r, i, "*") && !part_eq(&l, &r, i))
			return false;
	return true;
}

const char *locality_label(const char *locality, const char *key, char *buf, size_t len)
{
	static const char *const keys[3] = { LOC_LABEL_REGION, LOC_LABEL_ZONE, LOC_LABEL_SUBZONE };
	struct loc_parts l;
	int i;

	loc_split(locality, &l);
	for (i = 0; i < 3; i++) {
		if (strcmp(key, keys[i]) != 0)
			continue;
		if (l.len[i] == 0)
			return NULL;
		snprintf(buf, len, "%.*s", (int)l.len[i], l.p[i]);
		return buf;
	}
	return NULL;
}

/* A topology label value is a DNS label or so; longer ones are cut. */
#define LOC_LABEL_MAX 256

/* ---- priorities (Istio's pilot) ------------------------------------------ */

/* Istio's LbPriority: 0 same region, zone and subzone; 1 same region and
 * zone; 2 same region; 3 another region. applyLocalityFailover: an endpoint
 * of another region is 4 when a failover rule's from is the caller's region
 * and the endpoint is not in its to (the first such rule decides). */
static __u32 failover_priority(const struct loc_setting *s, const struct loc_parts *caller,
			       const char *ep_locality)
{
	struct loc_parts e;
	struct loc_parts from, to;
	size_t i;

	loc_split(ep_locality, &e);
	if (part_eq(caller, &e, 0)) {
		if (!part_eq(caller, &e, 1))
			return 2;
		return part_eq(caller, &e, 2) ? 0 : 1;
	}
	for (i = 0; i < s->n_failover; i++) {
		loc_split(s->failover[i].from, &from);
		if (!part_eq(&from, caller, 0))
			continue;
		loc_split(s->failover[i].to, &to);
		return part_eq(&to, &e, 0) ? 3 : 4;
	}
	return 3;
}

static bool has_caller_labels(const struct loc_caller *c)
{
	return c->n_labels > 0 || (c->locality && c->locality[0]);
}

/* The caller's value of a failoverPriority key: the rule's "key=value"
 * value, else its label, else its topology label from its locality. */
static const char *caller_value(const struct loc_setting *s, const struct loc_caller *c,
				size_t k, char *buf, size_t len)
{
	size_t i;

	if (s->fp_override && s->fp_override[k])
		return s->fp_override[k];
	for (i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i].key, s->fp_keys[k]))
			return c->labels[i].val;
	return locality_label(c->locality, s->fp_keys[k], buf, len);
}

/* Istio's applyFailoverPriorityPerLocality: the labels are matched in order
 * and the first that the caller or the endpoint lacks, or whose values
 * differ, stops the match; n_fp - matched is the priority, so an endpoint
 * matching every label comes first. */
static __u32 fp_priority(const struct loc_setting *s, const char *const *caller_vals,
			 const struct loc_ep *e)
{
	size_t k;

	for (k = 0; k < s->n_fp; k++) {
		const char *ev = e->fp_values ? e->fp_values[k] : NULL;

		if (!caller_vals[k] || !ev || strcmp(caller_vals[k], ev) != 0)
			break;
	}
	return (__u32)(s->n_fp - k);
}

static int cmp_u32v(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Istio: "Priorities should be continuous": renumber 0..k-1 in order. */
static int compact(struct loc_out *out, size_t n, __u32 *n_levels)
{
	__u32 *v = calloc(n + 1, sizeof(*v)), *hit;
	size_t i, k = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		v[i] = out[i].priority;
	qsort(v, n, sizeof(*v), cmp_u32v);
	for (i = 0; i < n; i++)
		if (i == 0 || v[i] != v[k - 1])
			v[k++] = v[i];
	for (i = 0; i < n; i++) {
		hit = bsearch(&out[i].priority, v, k, sizeof(*v), cmp_u32v);
		out[i].priority = (__u32)(hit - v);
	}
	*n_levels = (__u32)k;
	free(v);
	return 0;
}

/*
 * Istio's ApplyLocalityLoadBalancer, failover branch: with failoverPriority
 * (and a caller that has labels), its priorities; with failoverPriority and
 * failover together, failoverPriority x 5 + the locality priority; else the
 * locality priority alone (failover rules or none). Compacted.
 */
static int assign_priorities(const struct loc_setting *s, const struct loc_caller *c,
			     const struct loc_ep *eps, size_t n, struct loc_out *out,
			     __u32 *n_levels)
{
	bool use_fp = s->n_fp > 0 && has_caller_labels(c);
	const char **vals = calloc(s->n_fp + 1, sizeof(*vals));
	char *bufs = calloc(s->n_fp + 1, LOC_LABEL_MAX);
	struct loc_parts caller;
	size_t i;
	int err;

	if (!vals || !bufs) {
		free(vals);
		free(bufs);
		return -ENOMEM;
	}
	loc_split(c->locality, &caller);
	for (i = 0; use_fp && i < s->n_fp; i++)
		vals[i] = caller_value(s, c, i, bufs + i * LOC_LABEL_MAX, LOC_LABEL_MAX);
	for (i = 0; i < n; i++) {
		__u32 p = use_fp ? fp_priority(s, vals, &eps[i]) : 0;

		if (s->n_fp == 0 || s->n_failover)
			p = p * 5 + failover_priority(s, &caller, eps[i].locality);
		out[i].priority = p;
	}
	err = compact(out, n, n_levels);
	free(vals);
	free(bufs);
	return err;
}

/* ---- groups: (priority, locality), Envoy's LocalityLbEndpoints ----------- */

struct group {
	__u32 priority;
	const char *locality;
	double weight;       /* the locality's load_balancing_weight */
	__u32 hosts, healthy;
	__u64 healthy_weight, all_weight;
	bool dropped;        /* distribute: a locality no rule lists */
};

struct calc {
	const struct loc_setting *s;
	const struct loc_ep *eps;
	size_t n;
	struct loc_out *out;
	size_t *gidx;        /* group of each endpoint */
	struct group *g;
	size_t n_groups;
};

static const char *loc_str(const char *s)
{
	return s ? s : "";
}

static int cmp_ep_group(const void *a, const void *b, void *ctx)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct calc *k = ctx;
	int c;

	if (k->out[x].priority != k->out[y].priority)
		return k->out[x].priority < k->out[y].priority ? -1 : 1;
	c = strcmp(loc_str(k->eps[x].locality), loc_str(k->eps[y].locality));
	return c ? c : (x < y ? -1 : 1);
}

/* Envoy sees one LocalityLbEndpoints per (priority, locality): Istio's
 * weight for it is the sum of its endpoints' weights. NONE mode: one pool. */
static int build_groups(struct calc *k)
{
	size_t *order = calloc(k->n + 1, sizeof(*order)), i, gi = 0;
	bool one_pool = k->s->mode == LOC_MODE_NONE;

	if (!order)
		return -ENOMEM;
	for (i = 0; i < k->n; i++)
		order[i] = i;
	qsort_r(order, k->n, sizeof(*order), cmp_ep_group, k);
	for (i = 0; i < k->n; i++) {
		const struct loc_ep *e = &k->eps[order[i]];
		const struct loc_ep *prev = i ? &k->eps[order[i - 1]] : NULL;
		struct group *g;

		if (i == 0 || (!one_pool && (k->out[order[i]].priority !=
					     k->out[order[i - 1]].priority ||
					     strcmp(loc_str(e->locality), loc_str(prev->locality)))))
			k->g[k->n_groups++] = (struct group){
				.priority = k->out[order[i]].priority, .locality = e->locality };
		gi = k->n_groups - 1;
		g = &k->g[gi];
		k->gidx[order[i]] = gi;
		g->hosts++;
		g->all_weight += e->weight;
		g->weight += e->weight;
		if (e->healthy) {
			g->healthy++;
			g->healthy_weight += e->weight;
		}
	}
	free(order);
	return 0;
}

/*
 * Istio's applyLocalityWeights: the first distribute rule whose from matches
 * the caller; each to entry's weight is shared by the localities it matches
 * in proportion to their own weights, rounded up (math.Ceil); localities no
 * entry matches lose their endpoints. No rule matches: weights unchanged.
 * Validation makes the to entries disjoint, so the order does not matter.
 */
static void apply_distribute(struct calc *k, const char *caller)
{
	const struct loc_distribute *d = NULL;
	size_t i, j, g;

	for (i = 0; i < k->s->n_distribute && !d; i++)
		if (locality_match(caller, loc_str(k->s->distribute[i].from)))
			d = &k->s->distribute[i];
	if (!d)
		return;
	for (g = 0; g < k->n_groups; g++)
		k->g[g].dropped = true;
	for (j = 0; j < d->n_to; j++) {
		__u64 total = 0;

		for (g = 0; g < k->n_groups; g++)
			if (k->g[g].dropped && locality_match(k->g[g].locality, d->to[j].locality))
				total += k->g[g].all_weight;
		for (g = 0; total && g < k->n_groups; g++) {
			struct group *gr = &k->g[g];
			__u64 num;

			if (!gr->dropped || !locality_match(gr->locality, d->to[j].locality))
				continue;
			num = gr->all_weight * d->to[j].weight;
			gr->weight = (double)((num + total - 1) / total); /* ceil */
			gr->dropped = false;
		}
	}
}

/* ---- loads (Envoy) ------------------------------------------------------- */

struct levels {
	__u32 n;
	__u64 *hosts, *healthy;
	__u32 *health, *load;
	bool *panic;
};

/*
 * Envoy's recalculatePerPriorityState with the default overprovisioning
 * factor: health(P) = min(100, 140 x healthy / total) (integer division);
 * normalized total availability = min(100, sum of health); each level
 * takes min(what is left, health x 100 / availability) in order, and what
 * rounding leaves goes to the first level with health.
 * recalculatePerPriorityPanic: a level is in panic when the availability is
 * below 100 and 100 x healthy / total < healthy_panic_threshold (Istio's
 * minHealthPercent); all in panic: load in proportion to total hosts
 * (recalculateLoadInTotalPanic), remainder to the first non-empty level.
 * Threshold 0 and nothing available: 100 to level 0, which has no healthy
 * host: no upstream.
 */
static void priority_loads(struct levels *lv, __u32 threshold, struct loc_result *res)
{
	__u64 total_hosts = 0, sum = 0;
	__u32 avail, left = 100, i;
	int first = -1;
	bool all_panic = true;

	if (threshold > 100)
		threshold = 100;
	for (i = 0; i < lv->n; i++) {
		__u64 h = lv->hosts[i] ? LOC_OVERPROVISIONING * lv->healthy[i] / lv->hosts[i] : 0;

		lv->health[i] = h > 100 ? 100 : (__u32)h;
		sum += lv->health[i];
		total_hosts += lv->hosts[i];
	}
	avail = sum > 100 ? 100 : (__u32)sum;
	if (threshold == 0 && avail == 0) {
		if (lv->n)
			lv->load[0] = 100;
		return;
	}
	for (i = 0; i < lv->n; i++) {
		lv->panic[i] = avail != 100 &&
			       100 * lv->healthy[i] < (__u64)threshold * lv->hosts[i];
		all_panic &= lv->panic[i];
	}
	if (all_panic) {
		res->total_panic = true;
		for (i = 0; i < lv->n; i++) {
			lv->load[i] = (__u32)(100 * lv->hosts[i] / total_hosts);
			left -= lv->load[i];
		}
		lv->load[0] += left; /* compacted: level 0 is not empty */
		return;
	}
	for (i = 0; i < lv->n; i++) {
		__u32 want = lv->health[i] * 100 / avail;

		if (first < 0 && lv->health[i] > 0)
			first = (int)i;
		lv->load[i] = want < left ? want : left;
		left -= lv->load[i];
	}
	if (left && first >= 0)
		lv->load[first] += left;
}

static void free_levels(struct levels *lv)
{
	free(lv->hosts);
	free(lv->healthy);
	free(lv->health);
	free(lv->load);
	free(lv->panic);
}

static int build_levels(const struct calc *k, __u32 n_levels, struct levels *lv)
{
	size_t g;

	lv->n = n_levels;
	lv->hosts = calloc(n_levels + 1, sizeof(*lv->hosts));
	lv->healthy = calloc(n_levels + 1, sizeof(*lv->healthy));
	lv->health = calloc(n_levels + 1, sizeof(*lv->health));
	lv->load = calloc(n_levels + 1, sizeof(*lv->load));
	lv->panic = calloc(n_levels + 1, sizeof(*lv->panic));
	if (!lv->hosts || !lv->healthy || !lv->health || !lv->load || !lv->panic)
		return -ENOMEM;
	for (g = 0; g < k->n_groups; g++) {
		if (k->g[g].dropped)
			continue;
		lv->hosts[k->g[g].priority] += k->g[g].hosts;
		lv->healthy[k->g[g].priority] += k->g[g].healthy;
	}
	return 0;
}

/* ---- shares -------------------------------------------------------------- */

/* Envoy's locality weighted load balancing: effective weight = locality
 * weight x min(1, 1.4 x healthy / total). */
static double group_effective(const struct group *g)
{
	double avail;

	if (g->dropped || g->hosts == 0)
		return 0;
	avail = (LOC_OVERPROVISIONING / 100.0) * g->healthy / g->hosts;
	return g->weight * (avail < 1.0 ? avail : 1.0);
}

/*
 * Each endpoint's share of the connections, in shares[]. A level with load
 * picks (Envoy's hostSourceToUse): in panic, among all its hosts by weight;
 * else a locality by effective weight (locality weighting is on whenever
 * Istio sets locality_weighted_lb_config: failover or distribute), then a
 * healthy host of it by weight; no locality with effective weight (or one
 * pool): the level's healthy hosts by weight. Returns how many (level,
 * pool) pairs carry load, so that one pool can keep plain weights.
 */
static size_t level_shares(const struct calc *k, const struct levels *lv, __u32 p,
			   double *shares, size_t *pools)
{
	double load = lv->load[p] / 100.0, eff_sum = 0, pool_w = 0;
	bool by_locality = k->s->mode != LOC_MODE_NONE && !lv->panic[p];
	size_t g, i, used = 0;

	if (lv->load[p] == 0)
		return 0;
	for (g = 0; by_locality && g < k->n_groups; g++)
		if (k->g[g].priority == p)
			eff_sum += group_effective(&k->g[g]);
	if (eff_sum > 0) {
		for (g = 0; g < k->n_groups; g++)
			used += k->g[g].priority == p && group_effective(&k->g[g]) > 0;
		for (i = 0; i < k->n; i++) {
			const struct group *gr = &k->g[k->gidx[i]];

			if (gr->priority != p || !k->eps[i].healthy || gr->healthy_weight == 0)
				continue;
			shares[i] = load * group_effective(gr) / eff_sum * k->eps[i].weight /
				    (double)gr->healthy_weight;
		}
		*pools += used;
		return used;
	}
	for (i = 0; i < k->n; i++) {
		const struct group *gr = &k->g[k->gidx[i]];

		if (gr->priority == p && !gr->dropped && (lv->panic[p] || k->eps[i].healthy))
			pool_w += k->eps[i].weight;
	}
	for (i = 0; pool_w > 0 && i < k->n; i++) {
		const struct group *gr = &k->g[k->gidx[i]];

		if (gr->priority == p && !gr->dropped && (lv->panic[p] || k->eps[i].healthy))
			shares[i] = load * k->eps[i].weight / pool_w;
	}
	*pools += pool_w > 0;
	return pool_w > 0;
}

/* Shares to integer weights: the endpoint weights themselves when one pool
 * takes everything (the shares are then exactly proportional to them),
 * else shares x LOC_WEIGHT_TOTAL rounded to nearest. */
static void shares_to_weights(const struct calc *k, const double *shares, bool one_pool)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		if (shares[i] <= 0)
			k->out[i].weight = 0;
		else if (one_pool)
			k->out[i].weight = k->eps[i].weight;
		else
			k->out[i].weight = (__u32)(shares[i] * LOC_WEIGHT_TOTAL + 0.5);
	}
}

int locality_compute(const struct loc_setting *s, const struct loc_caller *c,
		     const struct loc_ep *eps, size_t n, struct loc_out *out,
		     struct loc_result *res)
{
	struct calc k = { .s = s, .eps = eps, .n = n, .out = out };
	struct levels lv = { 0 };
	double *shares = NULL;
	size_t pools = 0, i;
	__u32 n_levels = n ? 1 : 0, p;
	int err = 0;

	memset(res, 0, sizeof(*res));
	memset(out, 0, n * sizeof(*out));
	if (n == 0)
		return 0;
	if (s->mode == LOC_MODE_FAILOVER)
		err = assign_priorities(s, c, eps, n, out, &n_levels);
	k.gidx = calloc(n, sizeof(*k.gidx));
	k.g = calloc(n, sizeof(*k.g));
	shares = calloc(n, sizeof(*shares));
	if (!err && (!k.gidx || !k.g || !shares))
		err = -ENOMEM;
	if (!err)
		err = build_groups(&k);
	if (!err && s->mode == LOC_MODE_DISTRIBUTE)
		apply_distribute(&k, c->locality);
	if (!err)
		err = build_levels(&k, n_levels, &lv);
	if (!err) {
		priority_loads(&lv, s->min_health_percent, res);
		for (p = 0; p < n_levels; p++)
			level_shares(&k, &lv, p, shares, &pools);
		res->as_weights = pools == 1;
		shares_to_weights(&k, shares, res->as_weights);
		res->n_priorities = n_levels;
		for (p = 0; p < n_levels && p < 8; p++)
			res->load[p] = lv.load[p];
		for (i = 0; i < n; i++)
			if (k.g[k.gidx[i]].dropped)
				out[i].weight = 0;
	}
	free_levels(&lv);
	free(k.gidx);
	free(k.g);
	free(shares);
	return err;
}
