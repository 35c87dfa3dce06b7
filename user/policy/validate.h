/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_VALIDATE_H
#define BPFMESH_POLICY_VALIDATE_H
/*
 * Checks beyond single fields. validate_model(): rules inside one resource
 * (required fields, duplicates, weights), as Istio's admission. xref_check():
 * rules across resources (routes to undefined subsets or hosts, selectors
 * matching nothing, outlier detection that can never eject).
 */
#include "model.h"
#include "registry.h"

void validate_model(struct model *m, struct diag_list *dl);
/* validate_model's checks for one resource (the agent's isolation). */
void validate_resource(const struct resource *r, struct diag_list *dl);
void xref_check(struct registry *reg, struct diag_list *dl);

#endif /* BPFMESH_POLICY_VALIDATE_H */
