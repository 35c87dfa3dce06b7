// SPDX-License-Identifier: Apache-2.0
/*
 * How long the kernel takes to create the endpoint counters map in each
 * candidate layout (docs/benchmarks.md, "counters"). Creation only: the
 * map is created, timed (wall and this process's CPU), and closed; the
 * kernel frees it later, off the clock.
 *
 *   cc -O2 -o counters_create bench/counters_create.c -lbpf
 *   sudo ./counters_create [ROUNDS] [SLOTS...]   (default 5, 65536 201024)
 *
 * Layouts: the per-CPU array of one 88-byte struct ep_counters per slot
 * (_v1), per-CPU arrays of blocks of K slots (key = slot / K), and a plain
 * array with one value per slot (88 bytes, and 128 bytes mmapable: the
 * _v2 layout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/bpf.h>

#define EP_COUNTERS_BYTES 88

struct layout {
	const char *name;
	enum bpf_map_type type;
	unsigned int slots_per_elem; /* K */
	unsigned int value_size;     /* per element */
	__u32 flags;
};

static const struct layout layouts[] = {
	{ "percpu, 1 slot (v1)", BPF_MAP_TYPE_PERCPU_ARRAY, 1, EP_COUNTERS_BYTES, 0 },
	{ "percpu blocks K=16", BPF_MAP_TYPE_PERCPU_ARRAY, 16, 16 * EP_COUNTERS_BYTES, 0 },
	{ "percpu blocks K=32", BPF_MAP_TYPE_PERCPU_ARRAY, 32, 32 * EP_COUNTERS_BYTES, 0 },
	{ "percpu blocks K=64", BPF_MAP_TYPE_PERCPU_ARRAY, 64, 64 * EP_COUNTERS_BYTES, 0 },
	{ "shared, 88 B", BPF_MAP_TYPE_ARRAY, 1, EP_COUNTERS_BYTES, 0 },
	{ "shared, 128 B mmapable (v2)", BPF_MAP_TYPE_ARRAY, 1, 128, BPF_F_MMAPABLE },
};

static double now_ms(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* One creation: wall and CPU milliseconds, or -1 on failure. */
static int create_once(const struct layout *l, unsigned int slots, double *wall, double *cpu)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = l->flags);
	unsigned int elems = (slots + l->slots_per_elem - 1) / l->slots_per_elem;
	double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
	int fd = bpf_map_create(l->type, "ctr_bench", 4, l->value_size, elems, &opts);

	*wall = now_ms(CLOCK_MONOTONIC) - w0;
	*cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const unsigned int default_slots[] = { 65536, 201024 };
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	unsigned int n_slots = argc > 2 ? (unsigned int)(argc - 2) : 2;
	unsigned int s, i;
	int r;

	if (rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: %s [ROUNDS 1..100] [SLOTS...]\n", argv[0]);
		return 2;
	}
	printf("%-30s %8s %22s %22s\n", "layout", "slots", "wall ms med (min-max)",
	       "cpu ms med (min-max)");
	for (s = 0; s < n_slots; s++) {
		unsigned int slots = argc > 2 ? (unsigned int)atoi(argv[2 + s]) : default_slots[s];

		for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
			double wall[100], cpu[100];

			/* Rounds of one layout are interleaved with nothing else
			 * on purpose: each is a cold creation of fresh memory. */
			for (r = 0; r < rounds; r++) {
				if (create_once(&layouts[i], slots, &wall[r], &cpu[r])) {
					perror("bpf_map_create");
					return 1;
				}
				usleep(50 * 1000); /* let the deferred free run */
			}
			qsort(wall, rounds, sizeof(wall[0]), cmp_double);
			qsort(cpu, rounds, sizeof(cpu[0]), cmp_double);
			printf("%-30s %8u %8.1f (%5.1f-%5.1f) %8.1f (%5.1f-%5.1f)\n",
			       layouts[i].name, slots, wall[rounds / 2], wall[0], wall[rounds - 1],
			       cpu[rounds / 2], cpu[0], cpu[rounds - 1]);
		}
	}
	return 0;
}
