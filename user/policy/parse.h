/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_PARSE_H
#define BPFMESH_POLICY_PARSE_H
/*
 * YAML -> model. parse_buffer() reads every document of one file; the kind
 * parsers check each field's type and value as Istio's admission would and
 * report what the data plane cannot enforce.
 */
#include <stddef.h>

#include "model.h"
#include "yaml_doc.h"

/* Parse every document of buf into m. Returns false only when m->arena ran
 * out of memory; YAML and schema problems go to dl. */
bool parse_buffer(struct model *m, const char *file, const char *buf, size_t len,
		  struct diag_list *dl);

/* Shared by the kind parsers. */
struct src ysrc(struct ydoc *d, const yaml_node_t *n, const char *path);
void parse_labels(struct ydoc *d, yaml_node_t *n, const char *path, struct labels *out,
		  bool selector);
/* A list of strings; returns the count (0 on type error), *src optional. */
size_t parse_str_list(struct ydoc *d, yaml_node_t *n, const char *path,
		      const char ***out, struct src **src);
void parse_endpoint(struct ydoc *d, yaml_node_t *n, const char *path, struct endpoint *ep);
void parse_noop(struct ydoc *d, yaml_node_t *n, const char *path, void *obj);

void parse_service_entry(struct ydoc *d, yaml_node_t *spec, const char *path,
			 struct service_entry *se);
void parse_workload_entry(struct ydoc *d, yaml_node_t *spec, const char *path,
			  struct workload_entry *we);
void parse_virtual_service(struct ydoc *d, yaml_node_t *spec, const char *path,
			   struct virtual_service *vs);
void parse_destination_rule(struct ydoc *d, yaml_node_t *spec, const char *path,
			    struct dest_rule *dr);
/* trafficPolicy: validated per Istio, reported unenforced, summarised. */
void parse_traffic_policy(struct ydoc *d, yaml_node_t *n, const char *path,
			  struct tp_summary *tp);

void parse_locality_lb(struct ydoc *d, yaml_node_t *n, const char *path, void *obj);

#endif /* BPFMESH_POLICY_PARSE_H */
