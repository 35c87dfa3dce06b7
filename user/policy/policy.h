/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_H
#define BPFMESH_POLICY_H
/*
 * Istio policy front end: YAML files -> validated model -> compiled image.
 * Pure: no kernel, no global state; same input, same image bytes.
 */
#include <stddef.h>
#include "diag.h"
#include "image.h"

/* Files larger than this are refused with a diagnostic, not read. */
#define POLICY_MAX_FILE_BYTES (64u << 20)

/*
 * Compile every policy under paths: files, or directories whose *.yaml and
 * *.yml files are read in name order (not recursive; dotfiles skipped).
 * Diagnostics are appended to dl (dl->strict set by the caller).
 * Returns 0 with *img filled when no error was found (warnings allowed);
 * 1 when the policy has errors (*img left empty); 2 on I/O errors (a path
 * missing or unreadable; also reported in dl).
 */
int policy_compile_paths(const char *const *paths, size_t n_paths,
			 struct diag_list *dl, struct bpfmesh_image *img);

/* Same, from in-memory documents: names[i] is used in diagnostics. */
int policy_compile_buffers(const char *const *names, const char *const *bufs,
			   const size_t *lens, size_t n, struct diag_list *dl,
			   struct bpfmesh_image *img);

/* Both in one model: the files under paths, then the in-memory documents
 * (the agent's Kubernetes objects). Returns as policy_compile_paths. */
int policy_compile_sources(const char *const *paths, size_t n_paths,
			   const char *const *names, const char *const *bufs,
			   const size_t *lens, size_t n_bufs, struct diag_list *dl,
			   struct bpfmesh_image *img);

#endif /* BPFMESH_POLICY_H */
