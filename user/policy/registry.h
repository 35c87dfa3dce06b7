/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_REGISTRY_H
#define BPFMESH_POLICY_REGISTRY_H
/*
 * The service registry built from the model: every (host, port) that a
 * ServiceEntry declares, with its usable endpoints (ServiceEntry endpoints or
 * the WorkloadEntries its workloadSelector picks), and the lookups the
 * compiler and the cross-resource checks share: which VirtualService and
 * which DestinationRule subsets apply to a host. Every lookup is hashed:
 * a wildcard lookup tries the patterns that could match a host ("*.b.c",
 * "*.c", "*" for a.b.c), not every pattern of the policy.
 */
#include <bpfmesh/lb_abi.h>

#include "hmap.h"
#include "model.h"

/*
 * Limits on what multiplies input into memory, so that a few kilobytes of
 * YAML cannot ask for gigabytes: no more (host, port) pairs than the
 * services map holds, no more endpoint slots (host x port x endpoint) than
 * the backends map holds. Each is far above a real mesh node's policy.
 */
#define POLICY_MAX_HOST_PORTS BPFMESH_MAX_SERVICES
#define POLICY_MAX_ENDPOINT_SLOTS BPFMESH_MAX_BACKENDS

struct reg_ep {
	struct ip_addr ip; /* IPv4 or IPv6 (model.h) */
	uint16_t port;  /* target port, host order */
	uint32_t weight;
	const struct labels *labels;
	const struct resource *we; /* the WorkloadEntry, NULL for a ServiceEntry endpoint */
	const char *locality;      /* "region/zone/subzone", NULL: none */
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
	size_t last_same_host; /* on the host's first port only: index + 1 of its last */
};

/* A DestinationRule in input order, chained with the others of its host. */
struct reg_dr {
	struct dest_rule *dr;
	size_t next_same_host; /* index + 1; 0: last */
	size_t last_same_host; /* on the host's first DestinationRule: index + 1 of its last */
	struct hmap subset_by_name; /* name -> index of its first definition */
};

struct registry {
	struct model *m;
	struct diag_list *dl;
	struct reg_svc *svcs;
	size_t n_svcs;
	struct hmap svc_by_host; /* host -> index of its first reg_svc */
	struct hmap svc_by_wild; /* "*.suffix" matching some service host -> 0 */
	struct virtual_service **vss; /* mesh VirtualServices, input order */
	size_t n_vss;
	struct hmap vs_by_host;  /* host as written -> first VirtualService claiming it */
	struct reg_dr *drs;
	size_t n_drs;
	struct hmap dr_by_host;  /* host as written -> first DestinationRule */
	unsigned long xref_work; /* endpoint and host checks done by xref_check */
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
/* The DestinationRule governing a cluster of host: the one defining subset
 * (the first DestinationRule of host when subset is NULL), looked up in the
 * order registry_subset() uses. NULL: none. */
const struct dest_rule *registry_dr_for(const struct registry *reg, const char *host,
					const struct dr_subset *subset);
/* Index + 1 of the first DestinationRule whose host is exactly this string. */
size_t registry_dr_chain(const struct registry *reg, const char *host);
/* The first subset of this DestinationRule with this name, or NULL. */
const struct dr_subset *registry_dr_subset(const struct reg_dr *rd, const char *name);
bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s);

#endif /* BPFMESH_POLICY_REGISTRY_H */
