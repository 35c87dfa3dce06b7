/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_PARSE_H
#define BPFMESH_POLICY_PARSE_H
/*
 * YAML -> model. parse_buffer() reads every document of one file; the kind
 * parsers (parse_kinds.h) check each field's type and value as Istio's
 * admission would and report what the data plane cannot enforce.
 */
#include <stddef.h>

#include "model.h"
#include "yaml_doc.h"

/* Parse every document of buf into m. Returns false only when m->arena ran
 * out of memory; YAML and schema problems go to dl. */
bool parse_buffer(struct model *m, const char *file, const char *buf, size_t len,
		  struct diag_list *dl);

#endif /* BPFMESH_POLICY_PARSE_H */
