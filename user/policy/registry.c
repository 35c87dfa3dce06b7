// SPDX-License-Identifier: Apache-2.0
/* Service registry: ServiceEntries x ports -> endpoints (see registry.h). */
#include <string.h>

#include "check.h"
#include "registry.h"

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

static bool reg_add_ep(struct registry *reg, struct reg_svc *s, const struct endpoint *ep)
{
	struct reg_ep *e;
	uint32_t be;

	if (!ep->address || !check_parse_ipv4(ep->address, &be))
		return false; /* IPv6, unix://, DNS names: reported by validate */
	e = &s->eps[s->n_eps++];
	e->addr = be;
	e->port = reg_target_port(ep, s->port);
	e->weight = ep->weight ? ep->weight : 1;
	e->labels = &ep->labels;
	return true;
}

static size_t reg_count_candidates(const struct model *m, const struct service_entry *se)
{
	const struct workload_entry *we;
	size_t n = se->n_eps;

	if (!se->has_selector)
		return n;
	for (we = m->wes; we; we = we->next)
		n++;
	return n;
}

static void reg_fill_eps(struct registry *reg, struct reg_svc *s)
{
	const struct service_entry *se = s->se;
	const struct workload_entry *we;
	size_t i;

	for (i = 0; i < se->n_eps; i++)
		reg_add_ep(reg, s, &se->eps[i]);
	if (!se->has_selector)
		return;
	for (we = reg->m->wes; we; we = we->next) {
		if (strcmp(we->r.ns, se->r.ns) == 0 &&
		    model_labels_match(&se->selector, &we->ep.labels))
			reg_add_ep(reg, s, &we->ep);
	}
}

static bool reg_add_se(struct registry *reg, const struct service_entry *se, size_t *at)
{
	size_t h, p, cand = reg_count_candidates(reg->m, se);
	bool dns = se->resolution == RES_DNS || se->resolution == RES_DNS_ROUND_ROBIN;

	for (h = 0; h < se->n_hosts; h++) {
		for (p = 0; p < se->n_ports; p++) {
			struct reg_svc *s = &reg->svcs[(*at)++];

			s->host = se->hosts[h];
			s->se = se;
			s->port = &se->ports[p];
			s->eps = arena_calloc(&reg->m->arena, cand ? cand : 1, sizeof(*s->eps));
			if (!s->eps)
				return false;
			reg_fill_eps(reg, s);
			s->dns_only = dns && se->n_eps == 0 && !se->has_selector;
		}
	}
	return true;
}

bool registry_build(struct registry *reg, struct model *m, struct diag_list *dl)
{
	const struct service_entry *se;
	size_t n = 0, at = 0;

	memset(reg, 0, sizeof(*reg));
	reg->m = m;
	reg->dl = dl;
	for (se = m->ses; se; se = se->next)
		n += se->n_hosts * se->n_ports;
	reg->svcs = arena_calloc(&m->arena, n ? n : 1, sizeof(*reg->svcs));
	if (!reg->svcs)
		return false;
	for (se = m->ses; se; se = se->next) {
		if (!reg_add_se(reg, se, &at))
			return false;
	}
	reg->n_svcs = at;
	return true;
}

const struct reg_svc *registry_find(const struct registry *reg, const char *host,
				    uint32_t port)
{
	size_t i;

	for (i = 0; i < reg->n_svcs; i++) {
		if (reg->svcs[i].port->number == port && strcmp(reg->svcs[i].host, host) == 0)
			return &reg->svcs[i];
	}
	return NULL;
}

bool registry_has_host(const struct registry *reg, const char *host)
{
	return registry_host_ports(reg, host, NULL) > 0;
}

size_t registry_host_ports(const struct registry *reg, const char *host,
			   const struct reg_svc **only)
{
	size_t i, n = 0;

	for (i = 0; i < reg->n_svcs; i++) {
		if (strcmp(reg->svcs[i].host, host) != 0)
			continue;
		if (only && n == 0)
			*only = &reg->svcs[i];
		n++;
	}
	return n;
}

/* How specific a pattern's match of host is: exact beats any wildcard, a
 * longer wildcard beats a shorter one; 0 = no match. */
static size_t host_match_rank(const char *pattern, const char *host)
{
	if (strcmp(pattern, host) == 0)
		return (size_t)-1;
	if (!model_host_matches(pattern, host))
		return 0;
	return strlen(pattern);
}

struct virtual_service *registry_vs_for(const struct registry *reg, const char *host)
{
	struct virtual_service *vs, *best = NULL;
	size_t i, rank, best_rank = 0;

	for (vs = reg->m->vss; vs; vs = vs->next) {
		if (vs->gateways_only)
			continue;
		for (i = 0; i < vs->n_hosts; i++) {
			rank = host_match_rank(vs->hosts[i], host);
			if (rank > best_rank) {
				best = vs;
				best_rank = rank;
			}
		}
	}
	return best;
}

const struct dr_subset *registry_subset(const struct registry *reg, const char *host,
					const char *name)
{
	const struct dr_subset *best = NULL;
	const struct dest_rule *dr;
	size_t i, rank, best_rank = 0;

	for (dr = reg->m->drs; dr; dr = dr->next) {
		rank = dr->host ? host_match_rank(dr->host, host) : 0;
		if (rank <= best_rank)
			continue;
		for (i = 0; i < dr->n_subsets; i++) {
			if (strcmp(dr->subsets[i].name, name) == 0) {
				best = &dr->subsets[i];
				best_rank = rank;
				break;
			}
		}
	}
	return best;
}

bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s)
{
	return !s || model_labels_match(&s->labels, ep->labels);
}
