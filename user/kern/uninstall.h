/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_UNINSTALL_H
#define BPFMESH_UNINSTALL_H
/*
 * Removing a data plane that outlives its agent (`bpfmesh uninstall`):
 * every pin under the bpffs directory (links are detached first, so a
 * program goes even if some process still holds the link), the directory,
 * every program of ours (named bpfmesh_*) still attached to the cgroup, by
 * link or by a plain attachment, and our clsact filters on the interfaces
 * named (in this network namespace). Maps go with the last reference: the
 * pins and the programs that used them.
 */
#include <stdbool.h>

struct lb_uninstall_report {
	unsigned int pins;         /* pins removed */
	unsigned int links;        /* links detached (pinned or not) */
	unsigned int attachments;  /* plain cgroup attachments removed */
	unsigned int tc_filters;   /* clsact filters removed */
	bool dir_removed;
};

/* bpffs_dir and cgroup_dir may be NULL (skipped); interfaces "IF[,IF...]" or
 * NULL. Goes on past a failure, reports the first: 0 or negative errno. */
int lb_uninstall(const char *bpffs_dir, const char *cgroup_dir, const char *interfaces,
		 struct lb_uninstall_report *r);

/* Is a loaded program, by its kernel name, one of bpfmesh's? */
bool lb_prog_is_ours(const char *kernel_name);

#endif /* BPFMESH_UNINSTALL_H */
