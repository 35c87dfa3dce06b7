// SPDX-License-Identifier: Apache-2.0
/* Policy files read and parsed while the programs load (see preread.h). */
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cli/cli.h"
#include "policy/parse.h"
#include "preread.h"

/* Threads for one large policy file. The programs are verified on two
 * threads meanwhile, but that is ~0.15 s of CPU since the pick became global
 * functions, while one parse thread of 17.6 MB is ~0.45 s: on 2 CPUs the
 * second parse thread finds a CPU once the maps are made and the programs
 * verified (cold start 925 vs 990-1256 ms median at 10,000 services,
 * docs/benchmarks.md, "All of it merged, 18:10"). */
static unsigned int preread_parse_threads(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
}

static double ms_between(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) * 1e3 + (double)(t1->tv_nsec - t0->tv_nsec) / 1e6;
}

static void *preread_main(void *arg)
{
	struct agent_preread *p = arg;
	struct timespec t0, t1, c0, c1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	parse_set_threads(preread_parse_threads());
	p->err = policy_store_preread(p->store, &p->path, 1);
	parse_set_threads(1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->ms = ms_between(&t0, &t1);
	p->cpu_ms = ms_between(&c0, &c1);
	return NULL;
}

void agent_preread_start(struct agent_preread *p, struct policy_store *store, const char *path)
{
	*p = (struct agent_preread){ .store = store, .path = path };
	if (path)
		p->running = pthread_create(&p->thread, NULL, preread_main, p) == 0;
}

void agent_preread_join(struct agent_preread *p)
{
	if (!p->running)
		return;
	pthread_join(p->thread, NULL);
	p->running = false;
	if (cli.verbose)
		agent_log("policy files read and parsed in %.3f ms (%.3f ms CPU) while the programs "
			  "loaded%s", p->ms, p->cpu_ms,
			  p->err ? " (failed: the compile reads them again)" : "");
}
