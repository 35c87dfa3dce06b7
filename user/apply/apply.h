/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_H
#define BPFMESH_APPLY_H
/*
 * Writes compiled images into the kernel maps, one policy version at a time.
 *
 * Why a connection never sees half of one version and half of another: the
 * kernel resolves a connect() from one svc_val and the backend sets it names
 * (lb_abi.h). Sets are immutable: a set whose content changes is written
 * whole under a fresh id before the svc_val that names it is replaced, and
 * that replacement is one map update. Sets no longer named are retired and
 * deleted only after APPLY_GRACE_MS, long after any program that read the old
 * svc_val has finished. A failed write rolls back what this apply changed, so
 * a policy that cannot be written leaves the previous one in force.
 *
 * Only what changed is written: a weight change is one svc_val update.
 */
#include <stddef.h>
#include <stdint.h>
#include "policy/image.h"

#define APPLY_GRACE_MS 1000

struct live_set;
struct live_service;
struct retired_set;

struct applier {
	int svc_fd, be_fd, names_fd;
	__u32 generation;  /* of the last successful apply */
	__u32 next_set_id; /* 0 is never used: it means "no set" */
	struct live_service *svcs; /* what the services map holds, sorted by key */
	size_t n_svcs;
	struct live_set *sets; /* sets named by svcs, sorted by content hash */
	size_t n_sets;
	__u32 *names; /* ids in the names map, sorted */
	size_t n_names;
	struct retired_set *retired;
	size_t n_retired;
};

struct apply_stats {
	size_t services;   /* in the new version */
	size_t endpoints;  /* backend slots in the new version */
	size_t svc_writes; /* service values written or deleted */
	size_t set_writes; /* sets written fresh */
	size_t sets_reused;
	double elapsed_ms;
};

/* Read what the maps already hold (left by an earlier agent) so that the
 * next apply writes only differences. 0 or negative errno. */
int applier_adopt(struct applier *a, int svc_fd, int be_fd, int names_fd);

/* Write img as generation a->generation + 1 (unchanged when nothing differs).
 * 0, or negative errno with the previous version still in force. */
int applier_apply(struct applier *a, const struct bpfmesh_image *img, struct apply_stats *st);

/* Delete retired sets older than the grace period (all of them if force). */
void applier_sweep(struct applier *a, int force);

void applier_free(struct applier *a);

#endif /* BPFMESH_APPLY_H */
