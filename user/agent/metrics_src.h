/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_METRICS_SRC_H
#define BPFMESH_AGENT_METRICS_SRC_H
/* The counters by source (include/bpfmesh/identity_abi.h) for a scrape:
 * read before the endpoint totals (so the unknown rest is never below 0),
 * labelled from the image's identities, handed to each endpoint. */
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include "metrics/snapshot.h"

struct agent;

struct src_scrape {
	struct src_key *keys;     /* sorted by (ep_slot, identity) */
	struct mx_source *srcs;   /* per keys[] */
	char (*names)[BPFMESH_IDENTITY_NAME_LEN]; /* per keys[]: a retired id's */
	size_t n;
	bool have_overflow;
	uint64_t overflow; /* connections counted as unknown: the map was full */
};

/* A kernel ep_counters as the snapshot holds it (metrics.c). */
void mx_copy_counters(struct mx_counters *m, const struct ep_counters *c);

/* 0 (nothing read when the map is absent) or -ENOMEM. */
int src_scrape_read(struct src_scrape *ss, struct agent *ag);
/* e->sources: the entries of endpoint slot. */
void src_scrape_attach(const struct src_scrape *ss, __u32 slot, struct mx_endpoint *e);
void src_scrape_free(struct src_scrape *ss);

#endif /* BPFMESH_AGENT_METRICS_SRC_H */
