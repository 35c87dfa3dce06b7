/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_IDENTITY_IDS_H
#define BPFMESH_AGENT_IDENTITY_IDS_H
/* Stable workload identity ids: what to keep, give and free (identity_ids.c;
 * the rule is in include/bpfmesh/identity_abi.h). No kernel here. */
#include <stdbool.h>
#include <stddef.h>
#include <bpfmesh/identity_abi.h>
#include "policy/image.h"

/* One record of the ids map, as read. */
struct id_record {
	__u32 id;
	struct identity_rec rec;
	bool named; /* a workload of the image has it */
	bool dirty; /* changed: write it back */
};

struct id_plan {
	struct id_record *recs; /* in: the map's records; out: those kept */
	size_t n;
	__u32 *new_id;  /* out: per img->identities[i], its stable id */
	__u32 *freed;   /* out: ids whose records (and counters) go */
	size_t n_freed;
};

/* "namespace/name", the key of a record (cut to len). */
void identity_workload_name(char *buf, size_t len, const char *ns, const char *name);

/* Decide the ids of img's identities from p->recs (taken over) at time now
 * (CLOCK_REALTIME seconds), keeping at most max records. 0, -ENOMEM, or
 * -ENOSPC when max records are live. */
int identity_ids_plan(struct id_plan *p, const struct bpfmesh_image *img, long long now,
		      size_t max);
void identity_ids_plan_free(struct id_plan *p);

/* Give img's identities (and the services keyed by them) the planned ids. */
void identity_ids_remap(struct bpfmesh_image *img, const __u32 *new_id);

#endif /* BPFMESH_AGENT_IDENTITY_IDS_H */
