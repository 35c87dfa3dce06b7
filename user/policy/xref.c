// SPDX-License-Identifier: Apache-2.0
/* Rules across resources (see validate.h): what Istio accepts one resource at
 * a time but would black-hole or silently ignore once they meet. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

#define XDIAG(dl, lvl, s, fmt, ...) \
	diag_add(dl, lvl, (s)->file, (s)->line, (s)->col, (s)->path, fmt, ##__VA_ARGS__)

/* Istio's API server accepts a resource whatever the others say (in a cluster
 * the service may arrive later, or be in another file), so what only another
 * resource can settle is a warning; --strict makes it an error. */
#define XREF_LEVEL(dl) ((dl)->strict ? DIAG_ERROR : DIAG_WARNING)

/* ---- VirtualService ---------------------------------------------------- */

static void xref_dest(struct registry *reg, const struct virtual_service *vs,
		      struct vs_dest *d, struct diag_list *dl)
{
	const char *host;

	if (!d->host || d->reported)
		return;
	host = model_resolve_host(&reg->m->arena, d->host, vs->r.ns);
	if (!host)
		return;
	if (!registry_first(reg, host)) {
		XDIAG(dl, XREF_LEVEL(dl), &d->src,
		      "host %s matches no service%s; its share of connections is refused", host,
		      strchr(host, '*') ? " (a destination must name one service)" : "");
		d->reported = true;
	} else if (d->has_port && !registry_find(reg, host, d->port)) {
		XDIAG(dl, XREF_LEVEL(dl), &d->src,
		      "service %s has no port %u; its share of connections is refused", host,
		      d->port);
		d->reported = true;
	} else if (d->subset && !registry_subset(reg, host, d->subset)) {
		XDIAG(dl, XREF_LEVEL(dl), &d->src,
		      "subset %s is not defined by any DestinationRule for %s: its traffic would "
		      "be black-holed", d->subset, host);
		d->reported = true;
	}
}

static void xref_routes(struct registry *reg, const struct virtual_service *vs,
			struct vs_route *routes, size_t n, struct diag_list *dl)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < routes[i].n_dests; j++)
			xref_dest(reg, vs, &routes[i].dests[j], dl);
	}
}

/* The first VirtualService claiming an exact host wins; later ones are ignored. */
static void xref_vs_hosts(struct registry *reg, const struct virtual_service *vs,
			  struct diag_list *dl)
{
	const struct virtual_service *o;
	size_t i, j;

	for (i = 0; i < vs->n_hosts; i++) {
		if (!registry_pattern_used(reg, vs->hosts[i]))
			XDIAG(dl, XREF_LEVEL(dl), &vs->host_src[i], "host %s matches no service",
			      vs->hosts[i]);
		o = registry_vs_claim(reg, vs->hosts[i]);
		if (!o || o == vs)
			continue;
		for (j = 0; j < o->n_hosts && strcmp(o->hosts[j], vs->hosts[i]) != 0; j++)
			;
		XDIAG(dl, DIAG_WARNING, &vs->host_src[i],
		      "host %s is also claimed by VirtualService %s/%s (%s:%u); the first one wins",
		      vs->hosts[i], o->r.ns, o->r.name, o->host_src[j].file, o->host_src[j].line);
	}
}

/* ---- DestinationRule --------------------------------------------------- */

/*
 * Counting each subset's endpoints costs subsets x endpoints (40,000 x 10,000
 * in 2 MB took 7 s), and a wildcard host scans every service. These checks
 * only warn, so past XREF_MAX_WORK they stop, with one note, and the compile
 * goes on: its own cost is bounded by the map-size limits.
 */
#define XREF_MAX_WORK 20000000ul

static bool xref_over_budget(struct registry *reg, unsigned long cost)
{
	reg->xref_work += cost;
	return reg->xref_work > XREF_MAX_WORK;
}

static size_t xref_count_svc_eps(const struct reg_svc *s, const struct dr_subset *sub)
{
	size_t j, n = 0;

	for (j = 0; j < s->n_eps; j++)
		n += registry_ep_in_subset(&s->eps[j], sub);
	return n;
}

/* Most endpoints a subset (NULL: all) selects on one port of the services a
 * DestinationRule host covers: the size of Envoy's cluster. */
static size_t xref_count_eps(struct registry *reg, const char *host,
			     const struct dr_subset *sub)
{
	const struct reg_svc *s;
	size_t i, n, best = 0;

	if (host[0] != '*') {
		for (s = registry_first(reg, host); s; s = registry_next(reg, s)) {
			xref_over_budget(reg, s->n_eps);
			n = xref_count_svc_eps(s, sub);
			best = n > best ? n : best;
		}
		return best;
	}
	xref_over_budget(reg, reg->n_svcs);
	for (i = 0; i < reg->n_svcs; i++) {
		if (!model_host_matches(host, reg->svcs[i].host))
			continue;
		n = xref_count_svc_eps(&reg->svcs[i], sub);
		best = n > best ? n : best;
	}
	return best;
}

/* Envoy ejects only while 100 * (ejected + 1) / total <= maxEjectionPercent. */
static void xref_outlier(const struct tp_summary *tp, size_t n_eps, const char *what,
			 struct diag_list *dl)
{
	uint32_t mep = tp->max_ejection_percent;

	if (!tp->has_outlier || n_eps == 0 || (uint64_t)n_eps * mep >= 100)
		return;
	XDIAG(dl, DIAG_WARNING, &tp->outlier_src,
	      "%s has %zu endpoint%s and maxEjectionPercent is %u: Envoy ejects only while "
	      "100*(ejected+1)/total <= maxEjectionPercent, so no endpoint is ever ejected "
	      "(needs maxEjectionPercent >= %zu)", what, n_eps, n_eps == 1 ? "" : "s", mep,
	      (100 + n_eps - 1) / n_eps);
}

/* An earlier DestinationRule for the same host already defines this subset. */
static bool xref_subset_seen(const struct registry *reg, const struct dest_rule *dr,
			     const struct dr_subset *s, struct diag_list *dl)
{
	const struct dr_subset *first;
	const struct dest_rule *o;
	size_t i;

	for (i = registry_dr_chain(reg, dr->host); i; i = reg->drs[i - 1].next_same_host) {
		o = reg->drs[i - 1].dr;
		if (o == dr)
			return false;
		first = s->name ? registry_dr_subset(&reg->drs[i - 1], s->name) : NULL;
		if (!first)
			continue;
		XDIAG(dl, DIAG_WARNING, &s->src,
		      "subset %s of %s is already defined by DestinationRule %s/%s (%s:%u); "
		      "the first definition wins", s->name, dr->host, o->r.ns, o->r.name,
		      first->src.file, first->src.line);
		return true;
	}
	return false;
}

static void xref_dr(struct registry *reg, const struct dest_rule *dr,
		    struct diag_list *dl)
{
	char what[512];
	size_t i, n;

	if (!dr->host)
		return;
	if (!registry_pattern_used(reg, dr->host)) {
		XDIAG(dl, XREF_LEVEL(dl), &dr->host_src, "host %s matches no service",
		      dr->host);
		return;
	}
	snprintf(what, sizeof(what), "%s", dr->host);
	xref_outlier(&dr->tp, xref_count_eps(reg, dr->host, NULL), what, dl);
	for (i = 0; i < dr->n_subsets; i++) {
		const struct dr_subset *s = &dr->subsets[i];

		if (reg->xref_work > XREF_MAX_WORK)
			return; /* noted once by xref_check */
		if (xref_subset_seen(reg, dr, s, dl))
			continue;
		n = xref_count_eps(reg, dr->host, s);
		if (n == 0)
			XDIAG(dl, XREF_LEVEL(dl), &s->src,
			      "subset %s matches no endpoint of %s: its connections will be refused",
			      s->name, dr->host);
		snprintf(what, sizeof(what), "subset %s of %s", s->name, dr->host);
		xref_outlier(s->tp.has_outlier ? &s->tp : &dr->tp, n, what, dl);
	}
}

void xref_check(struct registry *reg, struct diag_list *dl)
{
	struct virtual_service *vs;
	const struct dest_rule *dr;

	for (vs = reg->m->vss; vs; vs = vs->next) {
		if (vs->gateways_only)
			continue;
		xref_vs_hosts(reg, vs, dl);
		xref_routes(reg, vs, vs->http, vs->n_http, dl);
		xref_routes(reg, vs, vs->tcp, vs->n_tcp, dl);
	}
	for (dr = reg->m->drs; dr; dr = dr->next) {
		xref_dr(reg, dr, dl);
		if (reg->xref_work <= XREF_MAX_WORK)
			continue;
		XDIAG(dl, DIAG_NOTE, &dr->r.src,
		      "policy too large for the subset endpoint checks (more than %lu endpoint "
		      "checks): subsets from here on were not checked", XREF_MAX_WORK);
		break;
	}
}
