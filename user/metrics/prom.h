/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_METRICS_PROM_H
#define BPFMESH_METRICS_PROM_H
/*
 * Prometheus text exposition (format 0.0.4) of a snapshot: Istio's TCP
 * metrics with Istio's names, semantics and full standard label set
 * (reporter="source"), and bpfmesh's own outlier and latency metrics.
 *
 * Phase 2: the agent's scrape callback (server.h) fills a snapshot and calls
 * mx_render(); `bpfmesh stats` reads the same snapshot, not this text.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics/snapshot.h"

/* A growing text buffer (malloc'd; the server hands it to libmicrohttpd). */
struct mx_buf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed; the text is incomplete */
};

void mx_buf_printf(struct mx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mx_buf_free(struct mx_buf *b);

/* Append the exposition of s to out. Returns 0, -ENOMEM, or -EINVAL when an
 * endpoint names a cluster index out of range or a layout is not ascending. */
int mx_render(const struct mx_snapshot *s, struct mx_buf *out);

#endif /* BPFMESH_METRICS_PROM_H */
