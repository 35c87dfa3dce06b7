/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_FILES_H
#define BPFMESH_POLICY_FILES_H
/*
 * The policy front end's file handling (policy.c), shared with the agent's
 * per-resource compile (isolate.c): which files a path names, and reading
 * one safely. Inside user/policy only.
 */
#include <stddef.h>

#include "diag.h"
#include "image.h"
#include "model.h"

struct file_list {
	char **names;
	size_t n, cap;
};

/* The files under paths (directories: *.yaml and *.yml in name order).
 * 0, or 2 when a path is missing or unreadable (reported in dl). */
int policy_files_collect(struct file_list *fl, const char *const *paths, size_t n,
			 struct diag_list *dl);
void policy_files_free(struct file_list *fl);

/* A regular file, whole, into a malloc'd *buf (NULL on failure). 0; 1 when
 * it is too big; 2 when it cannot be read. Reported in dl. */
int policy_read_file(const char *path, char **buf, size_t *len, struct diag_list *dl);

/* Registry, cross-resource checks and the image of a validated model.
 * 0 with *img filled, 1 when there are errors (in dl). */
int policy_compile_model(struct model *m, struct diag_list *dl, struct bpfmesh_image *img);

#endif /* BPFMESH_POLICY_FILES_H */
