/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_EXEC_H
#define BPFMESH_APPLY_EXEC_H
/*
 * exec: perform a plan's steps in order through a struct map_ops. When a
 * step fails, what this plan changed is put back, newest first: written
 * keys get their previous value or are deleted, deleted keys are written
 * back with the value they held. The maps then hold what they held before.
 */
#include "kern/map_ops.h"
#include "plan.h"

/* 0, or the first failure's negative errno after rolling back. Undo
 * failures (the kernel refusing to put a value back) are counted in
 * *undo_failures when it is not NULL. */
int apply_exec(const struct map_ops *ops, const int fds[__APPLY_MAP_MAX],
	       const struct apply_plan *p, size_t *undo_failures);

#endif /* BPFMESH_APPLY_EXEC_H */
