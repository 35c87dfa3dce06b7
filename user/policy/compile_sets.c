// SPDX-License-Identifier: Apache-2.0
/* Backend sets: endpoints of (host, subset, port), sorted, with alias columns
 * built by bpfmesh_alias_build (select.h), so the kernel's pick is exact. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <bpfmesh/select.h>

#include "compile.h"
#include "compile_locality.h"
#include "metrics/workload.h"
#include "lb_policy.h"
#include "connpool_policy.h"
#include "outlier_policy.h"

/* Istio's effective outlierDetection for the cluster, in the kernel's terms
 * (the conversion outlier_policy.h describes). */
static void cset_cluster_cfg(struct cctx *c, const struct cset *s, struct image_set *out)
{
	const struct dest_rule *dr = registry_dr_for(c->reg, s->svc->host, s->subset);
	struct cluster_cfg *cfg = &out->cfg;
	struct outlier_config oc;
	struct lb_config lc;

	lb_effective(dr, s->subset ? s->subset->name : NULL, s->svc->port->number, &lc);
	lb_policy_from_config(&lc, &out->lb);
	outlier_effective(dr, s->subset ? s->subset->name : NULL, s->svc->port->number, &oc);
	memset(cfg, 0, sizeof(*cfg));
	strncpy(out->cluster, s->name, BPFMESH_NAME_LEN - 1);
	cfg->name_id = s->name_id; /* image-local, as every id of the image */
	cfg->total_endpoints = out->n_slots;
	connpool_effective(dr, s->subset ? s->subset->name : NULL, s->svc->port->number,
			   &out->pool);
	if (!oc.enabled)
		return;
	cfg->flags = BPFMESH_CLUSTER_F_OUTLIER |
		     (oc.split_local_origin ? BPFMESH_CLUSTER_F_SPLIT_LOCAL : 0);
	cfg->consecutive_5xx = oc.consecutive_5xx;
	cfg->consecutive_gateway = oc.consecutive_gateway;
	cfg->consecutive_local_origin = oc.consecutive_local_origin;
	cfg->interval_ns = oc.interval_ns;
	cfg->base_ejection_ns = oc.base_ejection_ns;
	cfg->max_ejection_ns = 0; /* Envoy's default: max(300 s, base); Istio has no field */
	cfg->max_ejection_percent = oc.max_ejection_percent;
	cfg->min_health_percent = oc.min_health_percent;
}

static bool se_has_vip_family(const struct service_entry *se, __u8 family)
{
	size_t i;

	for (i = 0; i < se->n_addrs; i++)
		if (se->addrs[i].ip.family == family)
			return true;
	return false;
}

/* "host/subset:port" or "host:port"; a dual-stack service's IPv6 set gets
 * "|ipv6" after it: each family has its own set (a VIP of one family
 * reaches the endpoints of that family), and each set is a cluster with a
 * name of its own (one cluster slot per name, health_abi.h). */
static const char *cset_name(struct cctx *c, const struct reg_svc *svc, const char *subset_name,
			     __u8 family)
{
	const char *v6 = family == AF_INET6 && se_has_vip_family(svc->se, AF_INET) ? "|ipv6" : "";

	if (subset_name)
		return arena_printf(c->a, "%s/%s:%u%s", svc->host, subset_name,
				    svc->port->number, v6);
	return arena_printf(c->a, "%s:%u%s", svc->host, svc->port->number, v6);
}

long cset_get(struct cctx *c, const struct reg_svc *svc, const struct dr_subset *subset,
	      const char *subset_name, __u8 family)
{
	struct hmap *index = family == AF_INET6 ? &c->set_index6 : &c->set_index;
	struct cset *s;
	size_t i;

	if (hmap_get_ptr(index, svc, subset, &i))
		return (long)i;
	if (!hmap_put_ptr(index, svc, subset, c->n_sets)) {
		c->failed = true;
		return -1;
	}
	if (c->n_sets == c->cap_sets) {
		size_t cap = c->cap_sets ? c->cap_sets * 2 : 16;

		s = realloc(c->sets, cap * sizeof(*s));
		if (!s) {
			c->failed = true;
			return -1;
		}
		c->sets = s;
		c->cap_sets = cap;
	}
	s = &c->sets[c->n_sets];
	s->svc = svc;
	s->subset = subset;
	s->family = family;
	s->name = cset_name(c, svc, subset ? subset_name : NULL, family);
	if (!s->name) {
		c->failed = true;
		return -1;
	}
	s->name_id = cname_add(c, BPFMESH_NAME_SUBSET, s->name);
	return (long)c->n_sets++;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct reg_ep *x = *(const struct reg_ep *const *)a;
	const struct reg_ep *y = *(const struct reg_ep *const *)b;
	int c = memcmp(x->ip.a, y->ip.a, sizeof(x->ip.a)); /* network order: numeric */

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

/* NULL stays NULL ("unknown"); false when a copy fails. */
static bool dup_or_null(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

/* Istio's workload labels of each endpoint (metrics/workload.h), in slot
 * order, and the cluster's own labels, for the agent's metrics. */
static bool cset_labels(const struct cset *s, const struct reg_ep *const *eps, size_t n,
			struct image_set *out)
{
	bool ok = true;
	size_t i;

	ok &= dup_or_null(&out->host, s->svc->host);
	ok &= dup_or_null(&out->ns, s->svc->se->r.ns);
	ok &= dup_or_null(&out->subset, s->subset ? s->subset->name : NULL);
	out->port = s->svc->port->number;
	if (n == 0)
		return ok;
	out->meta = calloc(n, sizeof(*out->meta));
	if (!out->meta)
		return false;
	for (i = 0; i < n; i++) {
		const struct resource *we = eps[i]->we;
		struct image_ep_meta *m = &out->meta[i];
		struct mx_workload w;

		mx_workload_from_labels(&w, eps[i]->labels, we ? we->name : NULL,
					we ? we->ns : NULL);
		ok &= dup_or_null(&m->workload, w.workload);
		ok &= dup_or_null(&m->workload_ns, w.ns);
		ok &= dup_or_null(&m->app, w.app);
		ok &= dup_or_null(&m->version, w.version);
		ok &= dup_or_null(&m->canonical_service, w.canonical_service);
		ok &= dup_or_null(&m->canonical_revision, w.canonical_revision);
		ok &= cset_ep_locality(out, eps[i], m);
	}
	return ok;
}

static bool cset_build(struct cctx *c, const struct cset *s, struct image_set *out)
{
	const struct reg_svc *svc = s->svc;
	const struct reg_ep **eps;
	__u32 *weights = NULL;
	uint64_t total = 0;
	size_t i, n = 0;

	eps = calloc(svc->n_eps ? svc->n_eps : 1, sizeof(*eps));
	if (!eps)
		return false;
	for (i = 0; i < svc->n_eps; i++) {
		if (svc->eps[i].ip.family == s->family &&
		    registry_ep_in_subset(&svc->eps[i], s->subset)) {
			eps[n++] = &svc->eps[i];
			total += svc->eps[i].weight;
		}
	}
	if (n > BPFMESH_MAX_SET_SLOTS || total > UINT32_MAX) {
		diag_add(c->dl, DIAG_ERROR, svc->se->r.src.file, svc->port->src.line,
			 svc->port->src.col, svc->port->src.path,
			 "%s: %zu endpoints with total weight %llu exceed a backend set "
			 "(at most %u endpoints, total weight below 2^32)", s->name, n,
			 (unsigned long long)total, BPFMESH_MAX_SET_SLOTS);
		free(eps);
		return false;
	}
	qsort(eps, n, sizeof(*eps), ep_cmp);
	out->n_slots = (__u32)n;
	out->family = s->family;
	if (!cset_labels(s, eps, n, out))
		goto oom;
	if (n == 0) {
		free(eps);
		return true;
	}
	out->slots = calloc(n, sizeof(*out->slots));
	weights = calloc(n, sizeof(*weights));
	if (!out->slots || !weights)
		goto oom;
	for (i = 0; i < n; i++) {
		memcpy(out->slots[i].addr, eps[i]->ip.a, sizeof(out->slots[i].addr));
		out->slots[i].port = htons(eps[i]->port);
		out->slots[i].weight = eps[i]->weight;
		weights[i] = eps[i]->weight;
	}
	out->total_weight = bpfmesh_alias_build(out->slots, weights, (__u32)n);
	if (out->total_weight == 0)
		goto oom;
	free(weights);
	free(eps);
	return true;
oom:
	c->failed = true;
	free(weights);
	free(eps);
	return false;
}

bool cset_emit(struct cctx *c, struct bpfmesh_image *img)
{
	size_t i;

	img->sets = calloc(c->n_sets ? c->n_sets : 1, sizeof(*img->sets));
	if (!img->sets) {
		c->failed = true;
		return false;
	}
	img->n_sets = c->n_sets;
	for (i = 0; i < c->n_sets; i++) {
		/* The locality setting first: the endpoints' labels it names are
		 * copied with them (cset_labels). */
		if (!cset_locality(c, &c->sets[i], &img->sets[i])) {
			c->failed = true;
			return false;
		}
		if (!cset_build(c, &c->sets[i], &img->sets[i]))
			return false;
		cset_cluster_cfg(c, &c->sets[i], &img->sets[i]);
	}
	return true;
}

void cset_free(struct cctx *c)
{
	free(c->sets);
	free(c->names);
	hmap_free(&c->set_index);
	hmap_free(&c->set_index6);
	hmap_free(&c->name_index);
	c->sets = NULL;
	c->names = NULL;
	c->n_sets = c->cap_sets = c->n_names = c->cap_names = 0;
}
