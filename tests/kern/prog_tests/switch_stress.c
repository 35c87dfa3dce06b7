// SPDX-License-Identifier: Apache-2.0
/*
 * The atomic switch under stress (include/bpfmesh/lb_abi.h "Atomic
 * switch"). Two writer threads, one pinned to each CPU, switch a service
 * each between versions as fast as they can, by the agent's own protocol:
 * a version inserted under a fresh route id, the head switched by one
 * mmap'ed 32-bit store (kern_map_ops.store_u32), the old routes deleted
 * only after a grace period waited for in the kernel (kern_wait_readers).
 * Meanwhile a reader on each CPU runs progs/route_probe.bpf.c by
 * BPF_PROG_TEST_RUN, which looks both services up exactly as connect4 does
 * and checks every route it reads is one version whole
 * (progs/route_version.h). Not one may be mixed or missing.
 *
 * The checker can fail: it flags a route with one word of another version,
 * and, in legacy mode, the layout bpfmesh had before (a svc_val hash
 * replaced in place), whose torn reads the test counts and reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/lb_abi.h>
#include "ktest.h"
#include "kern/map_ops.h"
#include "kern/rcu_wait.h"
#include "progs/route_version.h"
#include "route_probe.skel.h"

#define N_WRITERS 2
#define RETIRE_BATCH 64 /* old routes deleted per grace period */

struct stress {
	struct route_probe_bpf *skel;
	char pin_dir[128];
	int ids_fd, heads_fd, routes_fd, legacy_fd;
	atomic_bool stop;
	int ncpu;
};

struct writer {
	struct stress *s;
	int n;            /* 0 or 1: its service, its CPU, its generations */
	long switches;
	int err;
};

static void route_version(__u32 g, struct svc_val *v)
{
	__u32 *w = (__u32 *)v, k;

	for (k = 0; k < ROUTE_WORDS; k++)
		w[k] = k == ROUTE_GEN_WORD ? g : route_word(g, k);
}

static void probe_key(struct svc_key *k, int n)
{
	memset(k, 0, sizeof(*k));
	k->addr[0] = htonl(0x7f640f01 + n); /* 127.100.15.1, .2: never connected to */
	k->port = htons(80);
	k->proto = BPFMESH_PROTO_TCP;
	k->family = BPFMESH_AF_INET;
}

static void pin_to_cpu(const struct stress *s, int n)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(n % s->ncpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Generations and route ids of writer n never meet the other's. */
static __u32 gen_of(int n, long i)
{
	return ((__u32)(n + 1) << 28) + (__u32)i;
}

/* Version 0 of writer n's service: route, head, then key. */
static int install(struct stress *s, int n)
{
	struct svc_head head = { .route_id = gen_of(n, 0) };
	__u32 index = (__u32)n + 1;
	struct svc_key key;
	struct svc_val v;

	probe_key(&key, n);
	route_version(gen_of(n, 0), &v);
	if (bpf_map_update_elem(s->routes_fd, &head.route_id, &v, BPF_NOEXIST) ||
	    bpf_map_update_elem(s->heads_fd, &index, &head, BPF_ANY) ||
	    bpf_map_update_elem(s->ids_fd, &key, &index, BPF_NOEXIST) ||
	    bpf_map_update_elem(s->legacy_fd, &key, &v, BPF_ANY))
		return -errno;
	return 0;
}

/* One grace period, then the routes retired before it are deleted. */
static int reclaim(struct stress *s, __u32 *retired, int *n_retired)
{
	int i, err = kern_wait_readers();

	for (i = 0; !err && i < *n_retired; i++)
		if (bpf_map_delete_elem(s->routes_fd, &retired[i]))
			err = -errno;
	*n_retired = 0;
	return err;
}

/* The agent's switch, over and over: route id = generation. */
static void *write_new_layout(void *arg)
{
	struct writer *w = arg;
	struct stress *s = w->s;
	__u32 retired[RETIRE_BATCH], index = (__u32)w->n + 1, old = gen_of(w->n, 0);
	int n_retired = 0;
	struct svc_val v;
	long i;

	pin_to_cpu(s, w->n);
	for (i = 1; !atomic_load(&s->stop) && !w->err; i++) {
		__u32 id = gen_of(w->n, i);

		route_version(id, &v);
		if (bpf_map_update_elem(s->routes_fd, &id, &v, BPF_NOEXIST)) {
			w->err = -errno;
			break;
		}
		w->err = kern_map_ops.store_u32(s->heads_fd, sizeof(struct svc_head), index, id);
		retired[n_retired++] = old;
		old = id;
		if (!w->err && n_retired == RETIRE_BATCH)
			w->err = reclaim(s, retired, &n_retired);
		w->switches++;
	}
	if (!w->err)
		w->err = reclaim(s, retired, &n_retired);
	return NULL;
}

/* The old way: every switch replaces the svc_val element. */
static void *write_legacy(void *arg)
{
	struct writer *w = arg;
	struct stress *s = w->s;
	struct svc_key key;
	struct svc_val v;
	long i;

	pin_to_cpu(s, w->n);
	probe_key(&key, w->n);
	for (i = 1; !atomic_load(&s->stop); i++, w->switches++) {
		route_version(gen_of(w->n, i), &v);
		if (bpf_map_update_elem(s->legacy_fd, &key, &v, BPF_ANY)) {
			w->err = -errno;
			break;
		}
	}
	return NULL;
}

struct reader {
	struct stress *s;
	int n;
	long runs;
	int err;
};

static int probe_run(int prog_fd, int repeat)
{
	char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = repeat);

	return bpf_prog_test_run_opts(prog_fd, &opts) ? -errno : 0;
}

static void *read_routes(void *arg)
{
	struct reader *r = arg;
	int fd = bpf_program__fd(r->s->skel->progs.route_probe);

	pin_to_cpu(r->s, r->n);
	while (!atomic_load(&r->s->stop) && !r->err) {
		r->err = probe_run(fd, 200);
		r->runs++;
	}
	return NULL;
}

static void counters_reset(struct stress *s)
{
	s->skel->bss->reads = 0;
	s->skel->bss->torn = 0;
	s->skel->bss->absent = 0;
}

static long switches_so_far(const struct writer *w)
{
	long n = 0;
	int i;

	for (i = 0; i < N_WRITERS; i++)
		n += __atomic_load_n(&w[i].switches, __ATOMIC_RELAXED);
	return n;
}

/* Writers and readers on every CPU for ms milliseconds, and on until the
 * writers made min_switches (a slow machine, QEMU/TCG), up to 10 x ms. */
static int run_stress(struct stress *s, void *(*writer_fn)(void *), int ms, long min_switches,
		      long *switches)
{
	struct writer w[N_WRITERS] = {};
	struct reader r[N_WRITERS] = {};
	pthread_t wt[N_WRITERS], rt[N_WRITERS];
	int i, err = 0;

	atomic_store(&s->stop, false);
	counters_reset(s);
	for (i = 0; i < N_WRITERS; i++) {
		w[i] = (struct writer){ .s = s, .n = i };
		r[i] = (struct reader){ .s = s, .n = i };
		pthread_create(&rt[i], NULL, read_routes, &r[i]);
		pthread_create(&wt[i], NULL, writer_fn, &w[i]);
	}
	usleep(ms * 1000);
	for (i = 0; i < 9 * ms / 100 && switches_so_far(w) < min_switches; i++)
		usleep(100 * 1000);
	atomic_store(&s->stop, true);
	*switches = 0;
	for (i = 0; i < N_WRITERS; i++) {
		pthread_join(wt[i], NULL);
		pthread_join(rt[i], NULL);
		*switches += w[i].switches;
		if (!err)
			err = w[i].err ? w[i].err : r[i].err;
	}
	return err;
}

static int stress_open(struct stress *s)
{
	static int seq;
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct svc_key keys[2];

	memset(s, 0, sizeof(*s));
	s->ncpu = libbpf_num_possible_cpus();
	snprintf(s->pin_dir, sizeof(s->pin_dir), "/sys/fs/bpf/bpfmesh-stress-%d-%d", getpid(),
		 ++seq);
	if (mkdir(s->pin_dir, 0700))
		return -errno;
	opts.pin_root_path = s->pin_dir;
	s->skel = route_probe_bpf__open_opts(&opts);
	if (!s->skel)
		return -errno;
	probe_key(&keys[0], 0);
	probe_key(&keys[1], 1);
	memcpy((void *)s->skel->rodata->probe_keys, keys, sizeof(keys));
	if (route_probe_bpf__load(s->skel))
		return -errno;
	s->ids_fd = bpf_map__fd(s->skel->maps.bpfmesh_lb4_svc_ids);
	s->heads_fd = bpf_map__fd(s->skel->maps.bpfmesh_lb4_svc_heads);
	s->routes_fd = bpf_map__fd(s->skel->maps.bpfmesh_lb4_routes);
	s->legacy_fd = bpf_map__fd(s->skel->maps.legacy_services);
	return install(s, 0) ? -EIO : install(s, 1);
}

static void stress_close(struct stress *s)
{
	if (s->skel) {
		bpf_object__unpin_maps(s->skel->obj, NULL);
		route_probe_bpf__destroy(s->skel);
	}
	rmdir(s->pin_dir);
}

/* The checker flags a route one word of which is another version's. */
KTEST(switch_checker_flags_mixed_route)
{
	struct stress s;
	struct svc_val v;
	__u32 id = gen_of(0, 0);

	if (!ASSERT_OK(stress_open(&s), "load probe"))
		goto out;
	counters_reset(&s);
	ASSERT_OK(probe_run(bpf_program__fd(s.skel->progs.route_probe), 1), "probe");
	ASSERT_EQ(s.skel->bss->reads, 2, "both services read");
	ASSERT_EQ(s.skel->bss->torn, 0, "two whole versions");
	/* Version 0 with the fifth destination's set id of version 1. */
	route_version(id, &v);
	v.dests[4].set_id = route_word(gen_of(0, 1), offsetof(struct svc_val, dests[4].set_id) / 4);
	ASSERT_OK(bpf_map_update_elem(s.routes_fd, &id, &v, BPF_EXIST), "write a mixed route");
	counters_reset(&s);
	ASSERT_OK(probe_run(bpf_program__fd(s.skel->progs.route_probe), 1), "probe");
	ASSERT_EQ(s.skel->bss->torn, 1, "the mixed route is flagged, the other is not");
	ASSERT_EQ(s.skel->bss->absent, 0, "nothing missing");
out:
	stress_close(&s);
}

KTEST(switch_under_stress_reads_whole_routes)
{
	long switches = 0;
	struct stress s;
	__u64 reads, torn, absent;

	if (!ASSERT_OK(stress_open(&s), "load probe"))
		goto out;
	if (!ASSERT_OK(run_stress(&s, write_new_layout, 2000, 2000, &switches), "stress"))
		goto out;
	reads = s.skel->bss->reads;
	torn = s.skel->bss->torn;
	absent = s.skel->bss->absent;
	ASSERT_TRUE(switches > 1000, "writers switched continuously");
	ASSERT_TRUE(reads > 10000, "readers read continuously");
	ASSERT_EQ(torn, 0, "every route read is one version whole");
	ASSERT_EQ(absent, 0, "a service never disappears while switched");
	printf("  switch_under_stress: %ld switches, %llu route reads on %d CPUs, %llu mixed, "
	       "%llu missing\n", switches, (unsigned long long)reads, s.ncpu,
	       (unsigned long long)torn, (unsigned long long)absent);

	/* The old layout under the same load: replaced in place. */
	s.skel->bss->legacy_mode = 1;
	if (!ASSERT_OK(run_stress(&s, write_legacy, 1000, 0, &switches), "legacy stress"))
		goto out;
	printf("  switch_under_stress: old layout (svc_val hash replaced in place): %ld switches, "
	       "%llu reads, %llu mixed\n", switches, (unsigned long long)s.skel->bss->reads,
	       (unsigned long long)s.skel->bss->torn);
out:
	stress_close(&s);
}
