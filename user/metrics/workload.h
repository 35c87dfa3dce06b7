/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_METRICS_WORKLOAD_H
#define BPFMESH_METRICS_WORKLOAD_H
/*
 * Istio's workload labels of an endpoint, derived from the policy as Istio
 * derives them (pkg/kube/labels). Phase 2 calls it once per endpoint slot at
 * compile time and keeps the result beside the slot for every scrape.
 */
#include "metrics/snapshot.h"
#include "policy/model.h"

/*
 * we_name/we_ns: the WorkloadEntry's name and namespace, NULL for a
 * ServiceEntry endpoint. Pointers into labels and the arguments are kept.
 *  - workload: label service.istio.io/workload-name, else the WorkloadEntry name;
 *  - app, version: labels app and version;
 *  - canonical_service: service.istio.io/canonical-name, app.kubernetes.io/name,
 *    app, else the workload name;
 *  - canonical_revision: service.istio.io/canonical-revision,
 *    app.kubernetes.io/version, version, else "latest";
 * principal and cluster stay unknown (no mTLS identity, one cluster).
 */
void mx_workload_from_labels(struct mx_workload *w, const struct labels *labels,
			     const char *we_name, const char *we_ns);

#endif /* BPFMESH_METRICS_WORKLOAD_H */
