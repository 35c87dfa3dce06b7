// SPDX-License-Identifier: Apache-2.0
/* Rules inside one resource, as Istio's admission applies them (see validate.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpfmesh/lb_abi.h>

#include "check.h"
#include "hmap.h"
#include "validate.h"

#define VDIAG(dl, lvl, s, fmt, ...) \
	diag_add(dl, lvl, (s)->file, (s)->line, (s)->col, (s)->path, fmt, ##__VA_ARGS__)

/* ---- ServiceEntry ------------------------------------------------------ */

/*
 * The first element of a list with this key, or put it there: the duplicate
 * checks below hash instead of comparing pairs (100,000 subsets took 12 s).
 * Returns false when the map could not grow (reported once by the caller).
 */
static bool first_str(struct hmap *seen, const char *key, size_t idx, size_t *first)
{
	bool added;

	if (!hmap_put_str(seen, key, idx, &added))
		return false;
	hmap_get_str(seen, key, first);
	return true;
}

static bool first_num(struct hmap *seen, uint32_t num, size_t idx, size_t *first)
{
	const void *key = (const void *)(uintptr_t)num;

	if (hmap_get_ptr(seen, key, NULL, first))
		return true;
	*first = idx;
	return hmap_put_ptr(seen, key, NULL, idx);
}

static void oom(struct diag_list *dl, const struct src *s)
{
	VDIAG(dl, DIAG_ERROR, s, "out of memory while checking for duplicates");
}

static void se_check_ports(const struct service_entry *se, struct diag_list *dl)
{
	struct hmap numbers = { 0 }, names = { 0 };
	size_t i, first;

	if (se->n_ports == 0)
		diag_add(dl, DIAG_WARNING, se->src.file, se->src.line, se->src.col, "spec.ports",
			 "no ports: nothing to intercept");
	for (i = 0; i < se->n_ports; i++) {
		const struct se_port *p = &se->ports[i];

		if (!p->number_given)
			VDIAG(dl, DIAG_ERROR, &p->src, "port number is required (1..65535)");
		if (!p->name_given)
			VDIAG(dl, DIAG_ERROR, &p->src, "port name is required");
		if (p->number && !first_num(&numbers, p->number, i, &first)) {
			oom(dl, &p->src);
			break;
		}
		if (p->number && first != i)
			VDIAG(dl, DIAG_ERROR, &p->src, "port number %u is duplicated (line %u)",
			      p->number, se->ports[first].src.line);
		if (p->name && !first_str(&names, p->name, i, &first)) {
			oom(dl, &p->src);
			break;
		}
		if (p->name && first != i)
			VDIAG(dl, DIAG_ERROR, &p->src, "port name %s is duplicated (line %u)",
			      p->name, se->ports[first].src.line);
	}
	hmap_free(&numbers);
	hmap_free(&names);
}

/* An endpoint the data plane can use: an IPv4 or IPv6 address. */
static void ep_check_address(const struct endpoint *ep, bool dns, struct diag_list *dl)
{
	const char *a = ep->address;

	if (!a || !a[0] || check_parse_ipv4(a, NULL) || check_is_ipv6(a))
		return;
	if (strncmp(a, "unix://", 7) == 0)
		VDIAG(dl, DIAG_UNENFORCED, &ep->src,
		      "unix domain socket endpoint %s is not supported; skipped", a);
	else if (dns)
		VDIAG(dl, DIAG_UNENFORCED, &ep->src,
		      "endpoint %s needs DNS resolution, not supported at connection level; skipped",
		      a);
	else
		VDIAG(dl, DIAG_ERROR, &ep->src,
		      "endpoint address %s must be an IP address unless resolution is DNS", a);
}

static void se_check_resolution(const struct service_entry *se, struct diag_list *dl)
{
	bool dns = se->resolution == RES_DNS || se->resolution == RES_DNS_ROUND_ROBIN;
	size_t i;

	if (se->has_cidr && dns)
		VDIAG(dl, DIAG_ERROR, &se->cidr_src,
		      "CIDR addresses are allowed only for NONE/STATIC resolution types");
	for (i = 0; i < se->n_eps; i++)
		ep_check_address(&se->eps[i], dns, dl);
	if (dns && se->n_eps == 0 && !se->has_selector && se->n_addrs)
		VDIAG(dl, DIAG_UNENFORCED, &se->res_src,
		      "DNS resolution of the hosts is not supported at connection level; "
		      "the service is not intercepted");
	if (se->resolution == RES_STATIC && se->n_eps == 0 && !se->has_selector)
		VDIAG(dl, DIAG_WARNING, &se->res_src,
		      "STATIC resolution without endpoints: every connection is refused");
}

/* ValidateUnixAddress: "@abstract", or an absolute path to a file. */
static const char *unix_address_error(const char *path)
{
	if (!path[0])
		return "unix address must not be empty";
	if (path[0] == '@')
		return NULL;
	if (path[0] != '/' || path[strlen(path) - 1] == '/')
		return "is not an absolute path to a file";
	return NULL;
}

/* validateWorkloadEntry's unix-socket rules, for a WorkloadEntry and a
 * STATIC ServiceEntry's endpoints: a valid address and no ports. */
static void ep_check_unix(const struct endpoint *ep, struct diag_list *dl)
{
	const char *err;

	if (!ep->address || strncmp(ep->address, "unix://", 7) != 0)
		return;
	if ((err = unix_address_error(ep->address + 7)))
		VDIAG(dl, DIAG_ERROR, &ep->src, "%s %s", ep->address, err);
	if (ep->n_ports)
		VDIAG(dl, DIAG_ERROR, &ep->src, "unix endpoint %s must not include ports",
		      ep->address);
}

/* Every endpoint port must be named by a port of the service (a hash set of
 * the names: linear in ports + endpoint ports). */
static void se_check_ep_ports(const struct service_entry *se, struct diag_list *dl)
{
	struct hmap names = { 0 };
	size_t i, j, first;

	for (i = 0; i < se->n_ports; i++) {
		if (se->ports[i].name && !first_str(&names, se->ports[i].name, i, &first)) {
			oom(dl, &se->src);
			goto out;
		}
	}
	for (i = 0; i < se->n_eps; i++) {
		const struct endpoint *ep = &se->eps[i];

		for (j = 0; j < ep->n_ports; j++) {
			if (!hmap_get_str(&names, ep->ports[j].name, &first))
				VDIAG(dl, DIAG_ERROR, &ep->src, "endpoint port %s: %u is not defined by "
				      "the service entry", ep->ports[j].name, ep->ports[j].port);
		}
	}
out:
	hmap_free(&names);
}

static const char *const resolution_names[] = { "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN" };

/* ValidateServiceEntry's per-resolution rules. */
static void se_check_endpoints(const struct service_entry *se, struct diag_list *dl)
{
	const char *res = resolution_names[se->resolution];
	size_t i;

	if (se->has_selector && se->selector.n == 0)
		VDIAG(dl, DIAG_WARNING, &se->src, "service entry: workload selector specified without "
		      "labels, will be applied to all services in namespace");
	switch (se->resolution) {
	case RES_NONE:
		if (se->n_eps)
			VDIAG(dl, DIAG_ERROR, &se->eps[0].src,
			      "no endpoints should be provided for resolution type none");
		if (se->has_selector)
			VDIAG(dl, DIAG_WARNING, &se->res_src,
			      "workloadSelector should not be set when resolution mode is NONE");
		return;
	case RES_STATIC:
		for (i = 0; i < se->n_eps; i++)
			ep_check_unix(&se->eps[i], dl);
		for (i = 0; i < se->n_eps && se->n_ports != 1; i++) {
			if (se->eps[i].address && !strncmp(se->eps[i].address, "unix://", 7)) {
				VDIAG(dl, DIAG_ERROR, &se->eps[i].src,
				      "exactly 1 service port required for unix endpoints");
				break;
			}
		}
		break;
	case RES_DNS:
	case RES_DNS_ROUND_ROBIN:
		for (i = 0; i < se->n_hosts && se->n_eps == 0; i++) {
			if (!strchr(se->hosts[i], '*'))
				continue;
			VDIAG(dl, DIAG_ERROR, &se->host_src[i], "hosts must be FQDN or contain only "
			      "prefix wildcards if no endpoints are provided for resolution mode %s",
			      res);
			break;
		}
		if (se->resolution == RES_DNS_ROUND_ROBIN && se->n_eps > 1)
			VDIAG(dl, DIAG_ERROR, &se->eps[1].src,
			      "there must only be 0 or 1 endpoint for resolution mode %s", res);
		for (i = 0; i < se->n_eps; i++) {
			const char *a = se->eps[i].address;

			if (a && !strncmp(a, "unix://", 7))
				VDIAG(dl, DIAG_ERROR, &se->eps[i].src,
				      "endpoint address \"%s\" is not a valid FQDN or an IP address", a);
		}
		for (i = 0; i < se->n_ports && se->n_addrs + se->has_cidr > 0 && se->n_hosts > 1; i++) {
			if (se->ports[i].cls != PORT_TCP)
				continue;
			VDIAG(dl, DIAG_WARNING, &se->src, "service entry can not have more than one host "
			      "specified simultaneously with address and tcp port");
			break;
		}
		break;
	}
	se_check_ep_ports(se, dl);
}

static void se_check(const struct service_entry *se, struct diag_list *dl)
{
	if (se->n_hosts == 0)
		diag_add(dl, DIAG_ERROR, se->src.file, se->src.line, se->src.col, "spec.hosts",
			 "at least one host is required");
	se_check_ports(se, dl);
	if (se->has_selector && se->n_eps)
		diag_add(dl, DIAG_ERROR, se->src.file, se->src.line, se->src.col,
			 "spec.workloadSelector", "only one of workloadSelector or endpoints can be set");
	se_check_resolution(se, dl);
	se_check_endpoints(se, dl);
	if (se->n_addrs == 0 && se->n_hosts && se->n_ports)
		diag_add(dl, DIAG_NOTE, se->src.file, se->src.line, se->src.col, "spec.addresses",
			 "no address: no virtual IP to intercept for %s", se->hosts[0]);
}

/* ---- VirtualService ---------------------------------------------------- */

static void route_check_weights(const struct vs_route *r, struct diag_list *dl)
{
	unsigned long long sum = 0;
	size_t i;

	if (r->n_dests > BPFMESH_MAX_DESTS) {
		VDIAG(dl, DIAG_ERROR, &r->dests[BPFMESH_MAX_DESTS].src,
		      "a route has at most %d destinations (this one has %zu)", BPFMESH_MAX_DESTS,
		      r->n_dests);
		return;
	}
	if (r->n_dests < 2)
		return; /* one destination gets everything, whatever its weight */
	for (i = 0; i < r->n_dests; i++)
		sum += (unsigned long long)(r->dests[i].weight > 0 ? r->dests[i].weight : 0);
	if (sum == 0)
		VDIAG(dl, DIAG_ERROR, &r->src,
		      "total destination weight is 0: with several destinations, at least one "
		      "weight must be > 0");
	else if (sum > UINT32_MAX)
		VDIAG(dl, DIAG_ERROR, &r->src, "total destination weight %llu is too large", sum);
	else if (sum != 100)
		VDIAG(dl, DIAG_NOTE, &r->src,
		      "weights sum to %llu, not 100; each destination gets weight/%llu", sum, sum);
}

static void route_check(const struct vs_route *r, struct diag_list *dl)
{
	char path[256];

	snprintf(path, sizeof(path), "%s.route", r->src.path);
	if (r->n_dests == 0 && !r->no_dests_ok)
		diag_add(dl, DIAG_ERROR, r->src.file, r->src.line, r->src.col, path,
			 r->kind == ROUTE_HTTP ? "HTTP route or redirect is required"
					       : "TCP route is required");
	route_check_weights(r, dl);
}

static void vs_check(const struct virtual_service *vs, struct diag_list *dl)
{
	size_t i;

	if (vs->n_hosts == 0)
		diag_add(dl, DIAG_ERROR, vs->src.file, vs->src.line, vs->src.col, "spec.hosts",
			 "at least one host is required");
	if (vs->n_http == 0 && vs->n_tcp == 0 && !vs->tls_present)
		diag_add(dl, DIAG_ERROR, vs->src.file, vs->src.line, vs->src.col, "spec",
			 "http, tcp or tls must be provided in virtual service");
	for (i = 0; i < vs->n_http; i++)
		route_check(&vs->http[i], dl);
	for (i = 0; i < vs->n_tcp; i++)
		route_check(&vs->tcp[i], dl);
}

/* ---- DestinationRule --------------------------------------------------- */

static void dr_check(const struct dest_rule *dr, struct diag_list *dl)
{
	struct hmap names = { 0 };
	size_t i, first;

	for (i = 0; i < dr->n_subsets; i++) {
		const struct dr_subset *s = &dr->subsets[i];

		if (!s->name)
			continue;
		if (!first_str(&names, s->name, i, &first)) {
			oom(dl, &s->src);
			break;
		}
		if (first != i)
			VDIAG(dl, DIAG_ERROR, &s->src, "duplicate subset name %s (line %u)", s->name,
			      dr->subsets[first].src.line);
	}
	hmap_free(&names);
}

static void we_check(const struct workload_entry *we, struct diag_list *dl)
{
	ep_check_address(&we->ep, true, dl);
	ep_check_unix(&we->ep, dl);
}

void validate_model(struct model *m, struct diag_list *dl)
{
	const struct service_entry *se;
	const struct workload_entry *we;
	const struct virtual_service *vs;
	const struct dest_rule *dr;

	for (se = m->ses; se; se = se->next)
		se_check(se, dl);
	for (we = m->wes; we; we = we->next)
		we_check(we, dl);
	for (vs = m->vss; vs; vs = vs->next)
		vs_check(vs, dl);
	for (dr = m->drs; dr; dr = dr->next)
		dr_check(dr, dl);
}

/* Every kind struct starts with its struct resource (model.h). */
void validate_resource(const struct resource *r, struct diag_list *dl)
{
	if (!strcmp(r->kind, "ServiceEntry"))
		se_check((const struct service_entry *)r, dl);
	else if (!strcmp(r->kind, "WorkloadEntry"))
		we_check((const struct workload_entry *)r, dl);
	else if (!strcmp(r->kind, "VirtualService"))
		vs_check((const struct virtual_service *)r, dl);
	else
		dr_check((const struct dest_rule *)r, dl);
}
