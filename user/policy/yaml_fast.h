/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_YAML_FAST_H
#define BPFMESH_POLICY_YAML_FAST_H
/*
 * The events of one YAML document in a small subset of YAML, made without
 * libyaml: block mappings and sequences, one-line plain and quoted scalars
 * without escapes, comments. That is how policy files are written (and
 * what bench/connbench and Kubernetes renderings give); libyaml's scanner
 * and its allocations per token were half of a cold start's parse.
 *
 * The events are exactly libyaml's for such a document, marks included
 * (only the start marks of nodes and the end mark of the document are
 * made as libyaml makes them; nothing reads the others). A document
 * outside the subset is left to libyaml (yaml_load.c), which then parses
 * from its "---" line on: a "---" line at column 0 ends whatever came
 * before (YAML's c-forbidden), so libyaml's parse from there is its parse
 * of the whole stream from there.
 */
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

/* Takes each event; < 0 to go on, else the scan ends with that value. */
typedef int (*yfast_emit)(void *ctx, yaml_event_t *ev);

#define YFAST_NOT (-2) /* not in the subset: nothing of it may be used */

/* Only '\n' and printable ASCII: libyaml's reader passes every such byte
 * (it checks characters a block ahead of its parse, so one bad byte
 * anywhere can stop the stream before a document that came first), and
 * its marks count bytes. Files with anything else are libyaml's alone. */
bool yfast_eligible(const char *buf, size_t len);

/*
 * The document at buf + *pos, at the start of a line (*line, 0-based):
 * the buffer's start or a "---" line. YFAST_NOT, or what emit returned
 * for an event (the document end's for a whole document: then *pos and
 * *line are at the next "---" line, or at len).
 */
int yfast_doc(const char *buf, size_t len, size_t *pos, size_t *line, yfast_emit emit,
	      void *ctx);

#endif /* BPFMESH_POLICY_YAML_FAST_H */
