// SPDX-License-Identifier: Apache-2.0
/* Service registry: ServiceEntries x ports -> endpoints (see registry.h). */
#include <stdint.h>
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
	struct ip_addr ip;

	if (!ep->address || !check_parse_ip(ep->address, &ip))
		return; /* unix://, DNS names: reported by validate */
	e = &s->eps[s->n_eps++];
	e->ip = ip;
	e->port = reg_target_port(ep, s->port);
	e->weight = ep->weight ? ep->weight : 1;
	e->labels = &ep->labels;
	e->we = we;
	e->locality = ep->locality;
}

/* The WorkloadEntries a ServiceEntry's selector picks, in input order. */
struct se_wes {
	const struct workload_entry **v;
	size_t n;
};

static void reg_fill_eps(struct reg_svc *s, const struct se_wes *wes)
{
	const struct service_entry *se = s->se;
	size_t i;

	for (i = 0; i < se->n_eps; i++)
		reg_add_ep(s, &se->eps[i], NULL);
	for (i = 0; i < wes->n; i++)
		reg_add_ep(s, &wes->v[i]->ep, &wes->v[i]->r);
}

/* Chain svcs[i] after the other ports of its host. */
static bool reg_index_svc(struct registry *reg, size_t i)
{
	bool added;
	size_t first;

	if (!hmap_put_str(&reg->svc_by_host, reg->svcs[i].host, i, &added))
		return false;
	/* Append through the first port's tail: walking the chain made a host
	 * of 60,000 ports cost 1.8 billion steps. */
	hmap_get_str(&reg->svc_by_host, reg->svcs[i].host, &first);
	if (!added)
		reg->svcs[reg->svcs[first].last_same_host - 1].next_same_host = i + 1;
	reg->svcs[first].last_same_host = i + 1;
	return true;
}

/*
 * WorkloadEntries by namespace and label ("ns\x1fkey=value"; "ns\x1f" for
 * all of a namespace), each chain in input order. A selector walks the
 * chain of its rarest label instead of every WorkloadEntry of the cluster:
 * 20,000 selectors x 20,000 WorkloadEntries took 8.7 s scanning all pairs.
 * The label matches tried are counted: a crafted policy where every
 * selector's rarest label is common still stops, with an error.
 */
#define REG_MAX_SELECTOR_WORK 20000000ul

struct we_ent {
	const struct workload_entry *we;
	size_t next; /* index + 1; 0: last */
};

struct we_chain {
	size_t first, last, n; /* first/last: index + 1 into ents */
};

struct we_index {
	struct hmap by_key; /* key -> index into chains */
	struct we_chain *chains;
	struct we_ent *ents;
	size_t n_chains, n_ents;
	unsigned long work;
};

static const char *we_key(struct arena *a, const char *ns, const struct label *l)
{
	return l ? arena_printf(a, "%s\x1f%s=%s", ns, l->key, l->val)
		 : arena_printf(a, "%s\x1f", ns);
}

static bool we_index_add(struct we_index *idx, const char *key,
			 const struct workload_entry *we)
{
	struct we_chain *c;
	size_t ci;
	bool added;

	if (!key || !hmap_put_str(&idx->by_key, key, idx->n_chains, &added))
		return false;
	if (added)
		idx->chains[idx->n_chains++] = (struct we_chain){ 0 };
	hmap_get_str(&idx->by_key, key, &ci);
	c = &idx->chains[ci];
	idx->ents[idx->n_ents] = (struct we_ent){ we, 0 };
	if (c->last)
		idx->ents[c->last - 1].next = idx->n_ents + 1;
	else
		c->first = idx->n_ents + 1;
	c->last = ++idx->n_ents;
	c->n++;
	return true;
}

static bool we_index_build(struct we_index *idx, struct registry *reg)
{
	struct arena *a = &reg->m->arena;
	const struct workload_entry *we;
	size_t n = 0, i;

	for (we = reg->m->wes; we; we = we->next)
		n += we->ep.labels.n + 1;
	idx->chains = arena_calloc(a, n ? n : 1, sizeof(*idx->chains));
	idx->ents = arena_calloc(a, n ? n : 1, sizeof(*idx->ents));
	if (!idx->chains || !idx->ents)
		return false;
	for (we = reg->m->wes; we; we = we->next) {
		if (we->r.identity_only)
			continue; /* an identity, not an endpoint of any selector */
		if (!we_index_add(idx, we_key(a, we->r.ns, NULL), we))
			return false;
		for (i = 0; i < we->ep.labels.n; i++) {
			if (!we_index_add(idx, we_key(a, we->r.ns, &we->ep.labels.v[i]), we))
				return false;
		}
	}
	return true;
}

/* The shortest chain that holds every match of se's selector; NULL: none. */
static const struct we_chain *we_index_rarest(struct we_index *idx, struct arena *a,
					      const struct service_entry *se)
{
	const struct we_chain *best = NULL;
	size_t i, ci;

	if (se->selector.n == 0)
		return hmap_get_str(&idx->by_key, we_key(a, se->r.ns, NULL), &ci)
			       ? &idx->chains[ci] : NULL;
	for (i = 0; i < se->selector.n; i++) {
		const char *key = we_key(a, se->r.ns, &se->selector.v[i]);

		if (!key || !hmap_get_str(&idx->by_key, key, &ci))
			return NULL; /* nobody carries this label: no match */
		if (!best || idx->chains[ci].n < best->n)
			best = &idx->chains[ci];
	}
	return best;
}

/* The WorkloadEntries of se's namespace that its selector picks. */
static bool reg_select_wes(struct registry *reg, struct we_index *idx,
			   const struct service_entry *se, struct se_wes *out)
{
	const struct we_chain *c = we_index_rarest(idx, &reg->m->arena, se);
	size_t e;

	*out = (struct se_wes){ 0 };
	if (!se->has_selector || !c)
		return !reg->m->arena.oom;
	out->v = arena_calloc(&reg->m->arena, c->n, sizeof(*out->v));
	if (!out->v)
		return false;
	idx->work += c->n;
	if (idx->work > REG_MAX_SELECTOR_WORK) {
		diag_add(reg->dl, DIAG_ERROR, se->src.file, se->src.line, se->src.col,
			 "spec.workloadSelector", "workload selectors too costly: more than %lu "
			 "WorkloadEntries to compare against them; give selectors a label "
			 "few WorkloadEntries share", REG_MAX_SELECTOR_WORK);
		return false;
	}
	for (e = c->first; e; e = idx->ents[e - 1].next) {
		const struct workload_entry *we = idx->ents[e - 1].we;

		if (model_labels_match(&se->selector, &we->ep.labels))
			out->v[out->n++] = we;
	}
	return true;
}

static bool reg_add_se(struct registry *reg, const struct service_entry *se,
		       const struct se_wes *wes)
{
	bool dns = se->resolution == RES_DNS || se->resolution == RES_DNS_ROUND_ROBIN;
	size_t h, p, cand = se->n_eps + wes->n;

	for (h = 0; h < se->n_hosts; h++) {
		for (p = 0; p < se->n_ports; p++) {
			struct reg_svc *s = &reg->svcs[reg->n_svcs];

			s->host = se->hosts[h];
			s->se = se;
			s->port = &se->ports[p];
			s->eps = arena_calloc(&reg->m->arena, cand ? cand : 1, sizeof(*s->eps));
			if (!s->eps)
				return false;
			reg_fill_eps(s, wes);
			s->dns_only = dns && se->n_eps == 0 && !se->has_selector;
			if (!reg_index_svc(reg, reg->n_svcs++))
				return false;
		}
	}
	return true;
}

/* a * b, saturating at SIZE_MAX: the products below come from input sizes. */
static size_t mul_sat(size_t a, size_t b)
{
	return a && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}

/*
 * Every (host, port) of a ServiceEntry gets its own endpoint array, so a
 * small file can ask for hosts x ports x endpoints slots (500 x 500 x 500
 * in 33 KB). Both products are capped before anything is allocated, at what
 * the kernel maps could ever hold, and the ServiceEntry that crosses a limit
 * is named.
 */
static bool reg_check_limits(struct registry *reg, const struct service_entry *se,
			     size_t cand, size_t *host_ports, size_t *slots)
{
	size_t hp = mul_sat(se->n_hosts, se->n_ports), sl = mul_sat(hp, cand);

	*host_ports = hp > SIZE_MAX - *host_ports ? SIZE_MAX : *host_ports + hp;
	*slots = sl > SIZE_MAX - *slots ? SIZE_MAX : *slots + sl;
	if (*host_ports > POLICY_MAX_HOST_PORTS) {
		diag_add(reg->dl, DIAG_ERROR, se->src.file, se->src.line, se->src.col, "spec",
			 "too many services: %zu hosts x %zu ports here bring the policy to %zu "
			 "(host, port) pairs; the limit is %u", se->n_hosts, se->n_ports,
			 *host_ports, POLICY_MAX_HOST_PORTS);
		return false;
	}
	if (*slots > POLICY_MAX_ENDPOINT_SLOTS) {
		diag_add(reg->dl, DIAG_ERROR, se->src.file, se->src.line, se->src.col, "spec",
			 "too many endpoints: %zu hosts x %zu ports x %zu endpoints here bring "
			 "the policy to %zu endpoint slots; the limit is %u", se->n_hosts,
			 se->n_ports, cand, *slots, POLICY_MAX_ENDPOINT_SLOTS);
		return false;
	}
	return true;
}

/*
 * model_host_matches: "*.c" matches a.b.c and b.c's subdomains, "*" matches
 * everything. The suffixes a pattern can name for a host, most specific
 * first: ".b.c", then ".c" (never the whole host: "*.a.b.c" does not match
 * a.b.c). Start with at = host; NULL at the end.
 */
static const char *host_next_suffix(const char *at)
{
	return at[0] ? strchr(at + 1, '.') : NULL;
}

/* "*" + suffix in buf; false when it does not fit (no valid host is that long). */
static bool wild_key(char *buf, size_t size, const char *suffix)
{
	return (size_t)snprintf(buf, size, "*%s", suffix) < size;
}

#define WILD_KEY_MAX 1024

/* Every "*.suffix" that matches host, for registry_pattern_used. */
static bool reg_index_wild(struct registry *reg, const char *host)
{
	const char *sfx, *key;
	bool added;

	for (sfx = host_next_suffix(host); sfx; sfx = host_next_suffix(sfx)) {
		key = arena_printf(&reg->m->arena, "*%s", sfx);
		if (!key || !hmap_put_str(&reg->svc_by_wild, key, 0, &added))
			return false;
	}
	return true;
}

static bool reg_build_services(struct registry *reg)
{
	struct we_index idx = { 0 };
	const struct service_entry *se;
	size_t n = 0, slots = 0, n_se = 0, i;
	struct se_wes *wes;
	bool ok;

	for (se = reg->m->ses; se; se = se->next)
		n_se++;
	wes = arena_calloc(&reg->m->arena, n_se ? n_se : 1, sizeof(*wes));
	ok = wes && we_index_build(&idx, reg);
	for (se = reg->m->ses, i = 0; se && ok; se = se->next, i++) {
		ok = reg_select_wes(reg, &idx, se, &wes[i]) &&
		     reg_check_limits(reg, se, se->n_eps + wes[i].n, &n, &slots);
	}
	hmap_free(&idx.by_key);
	if (!ok)
		return false;
	reg->svcs = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->svcs));
	if (!reg->svcs)
		return false;
	for (se = reg->m->ses, i = 0; se; se = se->next, i++) {
		if (!reg_add_se(reg, se, &wes[i]))
			return false;
	}
	for (i = 0; i < reg->n_svcs; i++) {
		if (!reg_index_wild(reg, reg->svcs[i].host))
			return false;
	}
	return true;
}

/* ---- VirtualServices and DestinationRules ------------------------------ */

static bool reg_build_vss(struct registry *reg)
{
	struct virtual_service *vs;
	size_t n = 0, i;
	bool added;

	for (vs = reg->m->vss; vs; vs = vs->next)
		n++;
	reg->vss = arena_calloc(&reg->m->arena, n ? n : 1, sizeof(*reg->vss));
	if (!reg->vss)
		return false;
	for (vs = reg->m->vss; vs; vs = vs->next) {
		if (vs->gateways_only)
			continue;
		for (i = 0; i < vs->n_hosts; i++) {
			if (!hmap_put_str(&reg->vs_by_host, vs->hosts[i], reg->n_vss, &added))
				return false;
		}
		reg->vss[reg->n_vss++] = vs;
	}
	return true;
}

/* Subsets by name, so that each destination's lookup is O(1): 5,000 routes
 * x 8 destinations over 40,000 subsets took 10 s scanning the list. */
static bool reg_index_subsets(struct reg_dr *rd)
{
	const struct dest_rule *dr = rd->dr;
	bool added;
	size_t i;

	for (i = 0; i < dr->n_subsets; i++) {
		if (dr->subsets[i].name &&
		    !hmap_put_str(&rd->subset_by_name, dr->subsets[i].name, i, &added))
			return false;
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
	if (!reg->drs)
		return false;
	for (dr = reg->m->drs; dr; dr = dr->next) {
		if (!dr->host)
			continue;
		reg->drs[reg->n_drs].dr = dr;
		if (!reg_index_subsets(&reg->drs[reg->n_drs]) ||
		    !hmap_put_str(&reg->dr_by_host, dr->host, reg->n_drs, &added)) {
			hmap_free(&reg->drs[reg->n_drs].subset_by_name); /* not counted yet */
			return false;
		}
		hmap_get_str(&reg->dr_by_host, dr->host, &first);
		if (!added)
			reg->drs[reg->drs[first].last_same_host - 1].next_same_host = reg->n_drs + 1;
		reg->drs[first].last_same_host = reg->n_drs + 1;
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
	size_t i;

	for (i = 0; reg->drs && i < reg->n_drs; i++)
		hmap_free(&reg->drs[i].subset_by_name);
	hmap_free(&reg->svc_by_host);
	hmap_free(&reg->svc_by_wild);
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

	if (registry_first(reg, pattern))
		return true;
	if (pattern[0] != '*')
		return false;
	if (strcmp(pattern, "*") == 0)
		return reg->n_svcs > 0;
	return hmap_get_str(&reg->svc_by_wild, pattern, &i);
}

/* Exact host first, then the most specific wildcard; ties: input order. */
struct virtual_service *registry_vs_for(const struct registry *reg, const char *host)
{
	char key[WILD_KEY_MAX];
	const char *sfx;
	size_t i;

	if (hmap_get_str(&reg->vs_by_host, host, &i))
		return reg->vss[i];
	for (sfx = host_next_suffix(host); sfx; sfx = host_next_suffix(sfx)) {
		if (wild_key(key, sizeof(key), sfx) && hmap_get_str(&reg->vs_by_host, key, &i))
			return reg->vss[i];
	}
	return hmap_get_str(&reg->vs_by_host, "*", &i) ? reg->vss[i] : NULL;
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

const struct dr_subset *registry_dr_subset(const struct reg_dr *rd, const char *name)
{
	size_t i;

	return hmap_get_str(&rd->subset_by_name, name, &i) ? &rd->dr->subsets[i] : NULL;
}

/* The first DestinationRule for exactly this host string defining name. */
static const struct dr_subset *reg_chain_subset(const struct registry *reg, const char *host,
						const char *name)
{
	const struct dr_subset *s;
	size_t i;

	for (i = registry_dr_chain(reg, host); i; i = reg->drs[i - 1].next_same_host) {
		s = registry_dr_subset(&reg->drs[i - 1], name);
		if (s)
			return s;
	}
	return NULL;
}

const struct dr_subset *registry_subset(const struct registry *reg, const char *host,
					const char *name)
{
	const struct dr_subset *s = reg_chain_subset(reg, host, name);
	char key[WILD_KEY_MAX];
	const char *sfx;

	for (sfx = host_next_suffix(host); !s && sfx; sfx = host_next_suffix(sfx)) {
		if (wild_key(key, sizeof(key), sfx))
			s = reg_chain_subset(reg, key, name);
	}
	return s ? s : reg_chain_subset(reg, "*", name);
}

/* The DestinationRule for exactly this host string that defines subset (any
 * for NULL), or NULL. */
static const struct dest_rule *reg_chain_dr(const struct registry *reg, const char *host,
					    const struct dr_subset *subset)
{
	const struct dest_rule *dr;
	size_t i, j;

	for (i = registry_dr_chain(reg, host); i; i = reg->drs[i - 1].next_same_host) {
		dr = reg->drs[i - 1].dr;
		if (!subset)
			return dr;
		for (j = 0; j < dr->n_subsets; j++)
			if (&dr->subsets[j] == subset)
				return dr;
	}
	return NULL;
}

const struct dest_rule *registry_dr_for(const struct registry *reg, const char *host,
					const struct dr_subset *subset)
{
	const struct dest_rule *dr = reg_chain_dr(reg, host, subset);
	char key[WILD_KEY_MAX];
	const char *sfx;

	for (sfx = host_next_suffix(host); !dr && sfx; sfx = host_next_suffix(sfx)) {
		if (wild_key(key, sizeof(key), sfx))
			dr = reg_chain_dr(reg, key, subset);
	}
	return dr ? dr : reg_chain_dr(reg, "*", subset);
}

bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s)
{
	return !s || model_labels_match(&s->labels, ep->labels);
}
