/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_REGISTRY_H
#define BPFMESH_POLICY_REGISTRY_H
/*
 * The service registry built from the model: every (host, port) that a
 * ServiceEntry declares, with its usable endpoints (ServiceEntry endpoints or
 * the WorkloadEntries its workloadSelector picks), and the lookups the
 * compiler and the cross-resource checks share: which VirtualService and
 * which DestinationRule subsets apply to a host.
 */
#include "model.h"

struct reg_ep {
	uint32_t addr;  /* IPv4, network order */
	uint16_t port;  /* target port, host order */
	uint32_t weight;
	const struct labels *labels;
};

/* One (host, port) of a ServiceEntry. */
struct reg_svc {
	const char *host;
	const struct service_entry *se;
	const struct se_port *port;
	struct reg_ep *eps;
	size_t n_eps;
	bool dns_only; /* resolved by DNS here: not intercepted */
};

struct registry {
	struct model *m;
	struct reg_svc *svcs;
	size_t n_svcs;
	struct diag_list *dl;
};

bool registry_build(struct registry *reg, struct model *m, struct diag_list *dl);

const struct reg_svc *registry_find(const struct registry *reg, const char *host,
				    uint32_t port);
bool registry_has_host(const struct registry *reg, const char *host);
size_t registry_host_ports(const struct registry *reg, const char *host,
			   const struct reg_svc **only);

/* The VirtualService in force for a service host (exact host beats the
 * longest wildcard; ties: first in input order), or NULL. */
struct virtual_service *registry_vs_for(const struct registry *reg, const char *host);
/* A subset of host defined by any DestinationRule (exact host first, then
 * the most specific wildcard; first definition wins), or NULL. */
const struct dr_subset *registry_subset(const struct registry *reg, const char *host,
					const char *name);
bool registry_ep_in_subset(const struct reg_ep *ep, const struct dr_subset *s);

#endif /* BPFMESH_POLICY_REGISTRY_H */
