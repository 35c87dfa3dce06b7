/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_REGISTRY_H
#define BPFMESH_POLICY_REGISTRY_H
/*
 * The service registry built from the model: every (host, port) that a
 * ServiceEntry declares, with its usable endpoints (ServiceEntry endpoints or
 * the WorkloadEntries its workloadSelector picks), and the lookups the
 * compiler and the cross-resource checks share: which VirtualService and
 * which DestinationRule subsets apply to a host. Lookups by exact host are
 * hashed; only wildcard patterns are scanned.
 */
#include "hmap.h"
#include "model.h"

struct reg_ep {
	uint32_t addr;  /* IPv4, network order */
	uint16_t port;  /* target port, host order */
	uint32_t weight;
	const struct labels *labels;
	const struct resource *we; /* the WorkloadEntry, NULL for a ServiceEntry endpoint */
};

/* One (host, port) of a ServiceEntry. */
struct reg_svc {
	const char *host;
	const struct service_entry *se;
	const struct se_port *port;
	struct reg_ep *eps;
	size_t n_eps;
	bool dns_only;        /* resolved by DNS here: not intercepted */
	size_t next_same_host; /* index + 1 of the next port of this host; 0: last */
};

/* A DestinationRule in input order, chained with the others of its host. */
struct reg_dr {
	struct dest_rule *dr;
	size_t next_same_host; /* index + 1; 0: last */
};

struct reg_wild {
	size_t idx;          /* into vss[] or drs[] */
	const char *pattern; /* "*.suffix" or "*" */
};

struct registry {
	struct model *m;
	struct diag_list *dl;
	struct reg_svc *svcs;
	size_t n_svcs;
	struct hmap svc_by_host; /* host -> index of its first reg_svc */
	struct virtual_service **vss; /* mesh VirtualServices, input order */
	size_t n_vss;
	struct hmap vs_by_host;  /* host as written -> first VirtualService claiming it */
	struct reg_wild *vs_wild;
	size_t n_vs_wild;
	struct reg_dr *drs;
	size_t n_drs;
	struct hmap dr_by_host;  /* host as written -> first DestinationRule */
	struct reg_wild *dr_wild;
	size_t n_dr_wild;
};

bool registry_build(struct registry *reg, struct model *m, struct diag_list *dl);
void registry_free(struct registry *reg);

/* Ports of a host: first, then next (NULL at the end). */
const struct reg_svc *registry_first(const struct registry *reg, const char *host);
const struct reg_svc *registry_next(const struct registry *reg, const struct reg_svc *s);
const struct reg_svc *registry_find(const struct registry *reg, const char *host,
				    uint32_t port);
size_t registry_host_ports(const struct registry *reg, const char *host,
			   const struct reg_svc **only);
/* Does any service host match this (possibly wildcard) pattern? */
bool registry_pattern_used(const struct registry *reg, const char *pattern);

/* The VirtualService in force for a service host (exact host beats the
 * longest wildcard; ties: first in input order), or NULL. */
struct virtual_service *registry_vs_for(const struct registry *reg, const char *host);
/* The first VirtualService whose hosts contain exactly this string. */
const struct virtual_service *registry_vs_claim(const struct registry *reg, const char *host);
/* A subset of host defined by any DestinationRule (exact host first, then
 * the most specific wildcard; first definition wins), or NULL. */
const struct dr_subset *registry_subset(const struct registry *reg, const char *host,
					const char *name);
/* Index + 1 of the first DestinationRule whose host is exactly this string. */
size_t registry_dr_chain(const struct registry *reg, const char *host);
bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s);

#endif /* BPFMESH_POLICY_REGISTRY_H */
