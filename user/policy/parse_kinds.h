/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_PARSE_KINDS_H
#define BPFMESH_POLICY_PARSE_KINDS_H
/*
 * The kind parsers, one file each (parse_se.c, parse_vs.c, parse_dr.c with
 * parse_tp.c and parse_locality.c), called by the document loop in parse.c.
 * Each fills its model struct from a spec mapping.
 */
#include "parse_common.h"

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

/* loadBalancer (parse_lb.c) into *lb; localityLbSetting (parse_locality.c)
 * into the struct lb_spec obj points to. */
void parse_load_balancer(struct ydoc *d, yaml_node_t *n, const char *path, struct lb_spec *lb);
void parse_locality_lb(struct ydoc *d, yaml_node_t *n, const char *path, void *obj);

#endif /* BPFMESH_POLICY_PARSE_KINDS_H */
