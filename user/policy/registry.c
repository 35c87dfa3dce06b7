// SPDX-License-Identifier: Apache-2.0
/* Service registry: ServiceEntries x ports -> endpoints (see registry.h). */
#include <string.h>

#include "check.h"
#include "registry.h"

/* ---- services ---------------------------------------------------------- */

/* Target port of an endpoint for a service port: endpoint.ports[port.name],
 * else port.targetPort, else port.number. */
static uint16_t reg_target_port(const struct endpoint *ep, const struct se_port *p)
{
	size_t i;

	for (i = 0; p->name && i < ep->n_ports; i++) {
		if (strcmp(ep->ports[i].name, p->name) == 0)
			return (uint16_t)ep->ports[i].port;
	}
	return (uint16_t)(p->target_port ? p->target_port : p->number);
}

static void reg_add_ep(struct reg_svc *s, const struct endpoint *ep, const struct resource *we)
{
	struct reg_ep *e;
	uint32_t be;

	if (!ep->address || !check_parse_ipv4(ep->address, &be))
		return; /* IPv6, unix://, DNS names: reported by validate */
	e = &s->eps[s->n_eps++];
	e->addr = be;
	e->port = reg_target_port(ep, s->port);
	e->weight = ep->weight ? ep->weight : 1;
	e->labels = &ep->labels;
	e->we = we;
}

static void reg_fill_eps(struct registry *reg, struct reg_svc *s)
{
	const struct service_entry *se = s->se;
	const struct workload_entry *we;
	size_t i;

	for (i = 0; i < se->n_eps; i++)
		reg_add_ep(s, &se->eps[i], NULL);
	if (!se->has_selector)
		return;
	for (we = reg->m->wes; we; we = we->next) {
		if (strcmp(we->r.ns, se->r.ns) == 0 &&
		    model_labels_match(&se->selector, &we->ep.labels))
			reg_add_ep(s, &we->ep, &we->r);
	}
}

/* Chain svcs[i] after the other ports of its host. */
static bool reg_index_svc(struct registry *reg, size_t i)
{
	bool added;
	size_t first;

	if (!hmap_put_str(&reg->svc_by_host, reg->svcs[i].host, i, &added))
		return false;
	if (!added) {
		hmap_get_str(&reg->svc_by_host, reg->svcs[i].host, &first);
		for (; reg->svcs[first].next_same_host; first = reg->svcs[first].next_same_host - 1)
			;
		reg->svcs[first].next_same_host = i + 1;
	}
	return true;
}

static bool reg_add_se(struct registry *reg, const struct service_entry *se, size_t n_wes)
{
	size_t h, p, cand = se->n_eps + (se->has_selector ? n_wes : 0);
	bool dns = se->resolution == RES_DNS || se->resolution == RES_DNS_ROUND_ROBIN;

	for (h = 0; h < se->n_hosts; h++) {
		for (p = 0; p < se->n_ports; p++) {
			struct reg_svc *s = &reg->svcs[reg->n_svcs];

			s->host = se->hosts[h];
			s->se = se;
			s->port = &se->ports[p];
			s->eps = arena_calloc(&reg->m->arena, cand ? cand : 1, sizeof(*s->eps));
			if (!s->eps)
				return false;
			reg_fill_eps(reg, s);
			s->dns_only = dns && se->n_eps == 0 && !se->has_selector;
			if (!reg_index_svc(reg, reg->n_svcs++))
				return false;
		}
	}
	return true;
}

static bool reg_build_services(struct registry *reg)
{
	const struct service_entry *se;
	const struct workload_entry *we;
	size_t n = 0, n_wes = 0;

	for (we = reg->m->wes; we; we = we->next)
		n_wes++;
	for (se = reg->m->ses; se; se = se->next)
		n += se->n_hosts * se->n_ports;
	reg->svcs = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->svcs));
	if (!reg->svcs)
		return false;
	for (se = reg->m->ses; se; se = se->next) {
		if (!reg_add_se(reg, se, n_wes))
			return false;
	}
	return true;
}

/* ---- VirtualServices and DestinationRules ------------------------------ */

static bool reg_build_vss(struct registry *reg)
{
	struct virtual_service *vs;
	size_t n = 0, nh = 0, i;
	bool added;

	for (vs = reg->m->vss; vs; vs = vs->next) {
		n++;
		nh += vs->n_hosts;
	}
	reg->vss = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->vss));
	reg->vs_wild = arena_calloc(&reg->m->arena, nh ? nh : 1, sizeof(*reg->vs_wild));
	if (!reg->vss || !reg->vs_wild)
		return false;
	for (vs = reg->m->vss; vs; vs = vs->next) {
		if (vs->gateways_only)
			continue;
		for (i = 0; i < vs->n_hosts; i++) {
			if (!hmap_put_str(&reg->vs_by_host, vs->hosts[i], reg->n_vss, &added))
				return false;
			if (vs->hosts[i][0] == '*')
				reg->vs_wild[reg->n_vs_wild++] =
					(struct reg_wild){ reg->n_vss, vs->hosts[i] };
		}
		reg->vss[reg->n_vss++] = vs;
	}
	return true;
}

static bool reg_build_drs(struct registry *reg)
{
	struct dest_rule *dr;
	size_t n = 0, first;
	bool added;

	for (dr = reg->m->drs; dr; dr = dr->next)
		n++;
	reg->drs = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->drs));
	reg->dr_wild = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->dr_wild));
	if (!reg->drs || !reg->dr_wild)
		return false;
	for (dr = reg->m->drs; dr; dr = dr->next) {
		if (!dr->host)
			continue;
		reg->drs[reg->n_drs].dr = dr;
		if (!hmap_put_str(&reg->dr_by_host, dr->host, reg->n_drs, &added))
			return false;
		if (!added) {
			hmap_get_str(&reg->dr_by_host, dr->host, &first);
			for (; reg->drs[first].next_same_host; first = reg->drs[first].next_same_host - 1)
				;
			reg->drs[first].next_same_host = reg->n_drs + 1;
		}
		if (dr->host[0] == '*')
			reg->dr_wild[reg->n_dr_wild++] = (struct reg_wild){ reg->n_drs, dr->host };
		reg->n_drs++;
	}
	return true;
}

bool registry_build(struct registry *reg, struct model *m, struct diag_list *dl)
{
	memset(reg, 0, sizeof(*reg));
	reg->m = m;
	reg->dl = dl;
	return reg_build_services(reg) && reg_build_vss(reg) && reg_build_drs(reg);
}

void registry_free(struct registry *reg)
{
	hmap_free(&reg->svc_by_host);
	hmap_free(&reg->vs_by_host);
	hmap_free(&reg->dr_by_host);
}

/* ---- lookups ----------------------------------------------------------- */

const struct reg_svc *registry_first(const struct registry *reg, const char *host)
{
	size_t i;

	return hmap_get_str(&reg->svc_by_host, host, &i) ? &reg->svcs[i] : NULL;
}

const struct reg_svc *registry_next(const struct registry *reg, const struct reg_svc *s)
{
	return s->next_same_host ? &reg->svcs[s->next_same_host - 1] : NULL;
}

const struct reg_svc *registry_find(const struct registry *reg, const char *host,
				    uint32_t port)
{
	const struct reg_svc *s;

	for (s = registry_first(reg, host); s; s = registry_next(reg, s)) {
		if (s->port->number == port)
			return s;
	}
	return NULL;
}

size_t registry_host_ports(const struct registry *reg, const char *host,
			   const struct reg_svc **only)
{
	const struct reg_svc *s = registry_first(reg, host);
	size_t n = 0;

	if (only)
		*only = s;
	for (; s; s = registry_next(reg, s))
		n++;
	return n;
}

bool registry_pattern_used(const struct registry *reg, const char *pattern)
{
	size_t i;

	if (pattern[0] != '*')
		return registry_first(reg, pattern) != NULL;
	for (i = 0; i < reg->n_svcs; i++) {
		if (model_host_matches(pattern, reg->svcs[i].host))
			return true;
	}
	return false;
}

struct virtual_service *registry_vs_for(const struct registry *reg, const char *host)
{
	size_t i, best = 0, best_len = 0, len;

	if (hmap_get_str(&reg->vs_by_host, host, &i))
		return reg->vss[i];
	for (i = 0; i < reg->n_vs_wild; i++) {
		const struct reg_wild *w = &reg->vs_wild[i];

		len = strlen(w->pattern);
		if (len > best_len && model_host_matches(w->pattern, host)) {
			best = w->idx;
			best_len = len;
		}
	}
	return best_len ? reg->vss[best] : NULL;
}

const struct virtual_service *registry_vs_claim(const struct registry *reg, const char *host)
{
	size_t i;

	return hmap_get_str(&reg->vs_by_host, host, &i) ? reg->vss[i] : NULL;
}

size_t registry_dr_chain(const struct registry *reg, const char *host)
{
	size_t i;

	return hmap_get_str(&reg->dr_by_host, host, &i) ? i + 1 : 0;
}

static const struct dr_subset *dr_find_subset(const struct dest_rule *dr, const char *name)
{
	size_t i;

	for (i = 0; i < dr->n_subsets; i++) {
		if (strcmp(dr->subsets[i].name, name) == 0)
			return &dr->subsets[i];
	}
	return NULL;
}

const struct dr_subset *registry_subset(const struct registry *reg, const char *host,
					const char *name)
{
	const struct dr_subset *s, *best = NULL;
	size_t i, best_len = 0, len;

	for (i = registry_dr_chain(reg, host); i; i = reg->drs[i - 1].next_same_host) {
		s = dr_find_subset(reg->drs[i - 1].dr, name);
		if (s)
			return s;
	}
	for (i = 0; i < reg->n_dr_wild; i++) {
		const struct reg_wild *w = &reg->dr_wild[i];

		len = strlen(w->pattern);
		if (len <= best_len || !model_host_matches(w->pattern, host))
			continue;
		s = dr_find_subset(reg->drs[w->idx].dr, name);
		if (s) {
			best = s;
			best_len = len;
		}
	}
	return best;
}

bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s)
{
	return !s || model_labels_match(&s->labels, ep->labels);
}
