// SPDX-License-Identifier: Apache-2.0
/* Read and parse a policy directory as the agent's start does
 * (policy_store_preread, user/agent/preread.c), RUNS times, each into a
 * fresh store; prints wall and CPU (user+sys) time of each. Built and run
 * by bench/parse.sh. Prints numbers, asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "policy/isolate.h"
#include "policy/parse.h"

static double wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 5, i;
	const char *dir = argc > 1 ? argv[1] : NULL;

	if (!dir || runs < 1) {
		fprintf(stderr, "usage: parsebench DIR [RUNS] [THREADS]\n");
		return 2;
	}
	parse_set_threads(argc > 3 ? (unsigned int)atoi(argv[3]) : 1);
	for (i = 0; i < runs; i++) {
		struct policy_store st = { 0 };
		double w = wall_ms(), c = cpu_ms();
		int err = policy_store_preread(&st, &dir, 1);

		printf("read+parse: wall %.1f ms, cpu %.1f ms%s\n", wall_ms() - w, cpu_ms() - c,
		       err ? " (failed)" : "");
		policy_store_free(&st);
	}
	return 0;
}
