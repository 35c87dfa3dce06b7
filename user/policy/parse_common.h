/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_PARSE_COMMON_H
#define BPFMESH_POLICY_PARSE_COMMON_H
/*
 * Field parsers shared by the kind parsers: source places, labels, string
 * lists, endpoints (ServiceEntry endpoints and WorkloadEntry specs). They
 * depend on yaml_doc and the model only, so that the kind parsers and the
 * document loop (parse.c) that calls them form no cycle.
 */
#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "yaml_doc.h"

struct src ysrc(struct ydoc *d, const yaml_node_t *n, const char *path);
void parse_labels(struct ydoc *d, yaml_node_t *n, const char *path, struct labels *out,
		  bool selector);
/* A list of strings; returns the count (0 on type error), *src optional. */
size_t parse_str_list(struct ydoc *d, yaml_node_t *n, const char *path,
		      const char ***out, struct src **src);
void parse_endpoint(struct ydoc *d, yaml_node_t *n, const char *path, struct endpoint *ep);
/* A Duration as Istio's ValidateDuration accepts it (>= 1ms, whole ms). */
#define PARSE_MS 1000000LL
bool parse_ms_duration(struct ydoc *d, yaml_node_t *n, const char *path, int64_t *out);
void parse_noop(struct ydoc *d, yaml_node_t *n, const char *path, void *obj);

#endif /* BPFMESH_POLICY_PARSE_COMMON_H */
