// SPDX-License-Identifier: Apache-2.0
/* A small parallel loop: independent parses (isolate.c), the map writes
 * nothing publishes yet (apply/exec.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "par.h"

#define PAR_MAX_THREADS 4

struct par_run {
	atomic_size_t next;
	size_t n;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
};

static void *par_worker(void *arg)
{
	struct par_run *r = arg;
	size_t i;

	while ((i = atomic_fetch_add(&r->next, 1)) < r->n)
		r->fn(r->ctx, i);
	return NULL;
}

void par_for(size_t n, unsigned int threads, void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct par_run r = { .n = n, .fn = fn, .ctx = ctx };
	pthread_t tid[PAR_MAX_THREADS];
	unsigned int t, started = 0;

	atomic_init(&r.next, 0);
	if (threads > PAR_MAX_THREADS)
		threads = PAR_MAX_THREADS;
	for (t = 1; t < threads && n > 1; t++)
		if (pthread_create(&tid[started], NULL, par_worker, &r) == 0)
			started++;
	par_worker(&r);
	for (t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
}

unsigned int par_threads(size_t n, size_t min_items)
{
	return n >= min_items && sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
}
