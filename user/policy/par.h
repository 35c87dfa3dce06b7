/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_PAR_H
#define BPFMESH_POLICY_PAR_H

#include <stddef.h>

/* fn(ctx, i) for every i in [0, n), on up to `threads` threads (the caller's
 * among them) taking the next i in turn; returns when all are done. fn must
 * touch only what item i owns. One thread when a thread cannot start. */
void par_for(size_t n, unsigned int threads, void (*fn)(void *ctx, size_t i), void *ctx);

/* Threads worth using for n independent items of similar cost: 2 from 2
 * online CPUs and min_items items up, else 1. */
unsigned int par_threads(size_t n, size_t min_items);

#endif /* BPFMESH_POLICY_PAR_H */
