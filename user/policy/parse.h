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

/* How many threads parse_buffer() may use for one large file (1, the
 * default, or 2): two when a CPU would otherwise idle (the agent's start,
 * user/agent/preread.c). Process-wide; the result does not depend on it. */
void parse_set_threads(unsigned int n);
/* Files parsed in two parts so far (tests check that a cut was taken). */
unsigned long parse_split_count(void);

#endif /* BPFMESH_POLICY_PARSE_H */
