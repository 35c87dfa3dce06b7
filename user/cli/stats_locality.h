/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CLI_STATS_LOCALITY_H
#define BPFMESH_CLI_STATS_LOCALITY_H
/* `bpfmesh stats`: traffic per locality of a subset, the sum of its
 * endpoints' counters grouped by the locality the agent published for each
 * (include/bpfmesh/locality_abi.h). */
#include <stddef.h>
#include <bpfmesh/locality_abi.h>
#include "json.h"
#include "kern/health_read.h"

struct loc_tally {
	char locality[BPFMESH_LOCALITY_LEN];
	__u32 priority;      /* the lowest of its endpoints' */
	__u32 endpoints;
	__u64 opened, failed;
};

/* The pinned locality map under bpffs, or < 0 (an agent without it). */
int stats_locality_open(const char *bpffs);

/* Group eps[0..n) by locality into out (room for n); the number of groups,
 * 0 when none of them has a locality. */
size_t stats_locality_tally(int fd, const struct health_endpoint *eps, size_t n,
			    struct loc_tally *out);

/* Below a subset's row / as its "localities" array. */
void stats_locality_plain(const struct loc_tally *t, size_t n, __u64 subset_opened);
void stats_locality_json(const struct loc_tally *t, size_t n, struct json *j);

#endif /* BPFMESH_CLI_STATS_LOCALITY_H */
