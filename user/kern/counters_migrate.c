// SPDX-License-Identifier: Apache-2.0
/* Endpoint counters moved from the per-CPU _v1 map into the shared _v2
 * one on an upgrade: counters_migrate.h says when and why. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/counters_carry_abi.h>
#include "counters_carry.skel.h"
#include "counters_migrate.h"
#include "loader.h"
#include "rcu_wait.h"

#define N_FIELDS (sizeof(struct ep_counters) / sizeof(__u64))
#define BATCH 1024 /* _v1 slots read a syscall */

_Static_assert(sizeof(struct ep_counters) % sizeof(__u64) == 0, "ep_counters is all __u64");

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* The pin is the _v1 layout: a per-CPU array of struct ep_counters by slot. */
static bool is_v1_layout(const struct bpf_map_info *i)
{
	return i->type == BPF_MAP_TYPE_PERCPU_ARRAY && i->key_size == sizeof(__u32) &&
	       i->value_size == sizeof(struct ep_counters);
}

static bool is_v2_layout(const struct bpf_map_info *i)
{
	return i->type == BPF_MAP_TYPE_ARRAY && i->key_size == sizeof(__u32) &&
	       i->value_size == sizeof(struct ep_counters_elem) && (i->map_flags & BPF_F_MMAPABLE);
}

static bool any_count(const struct ep_counters *per_cpu, int ncpu, __u64 *opened)
{
	bool any = false;
	size_t f;
	int c;

	*opened = 0;
	for (c = 0; c < ncpu; c++) {
		*opened += per_cpu[c].opened;
		for (f = 0; f < N_FIELDS; f++)
			any |= ((const __u64 *)&per_cpu[c])[f] != 0;
	}
	return any;
}

/* The _v1 slots with counts (ascending) into a malloc'd *slots, and their
 * connections opened; the number of them or negative errno. */
static long v1_slots_with_counts(int v1_fd, __u32 **slots, __u64 *opened)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int ncpu = libbpf_num_possible_cpus();
	struct ep_counters *vals = ncpu > 0 ? calloc((size_t)BATCH * ncpu, sizeof(*vals)) : NULL;
	__u32 keys[BATCH], next = 0, count, i, *more;
	size_t n = 0, cap = 0;
	bool first = true, done = false;
	__u64 o;
	int err = vals ? 0 : -ENOMEM;

	*slots = NULL;
	*opened = 0;
	while (!done && !err) {
		count = BATCH;
		err = bpf_map_lookup_batch(v1_fd, first ? NULL : &next, &next, keys, vals, &count,
					   &opts);
		first = false;
		if (err == -ENOENT) { /* the last batch, maybe with entries */
			done = true;
			err = 0;
		}
		for (i = 0; !err && i < count; i++) {
			if (!any_count(&vals[(size_t)i * ncpu], ncpu, &o))
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				more = realloc(*slots, cap * sizeof(**slots));
				if (!more) {
					err = -ENOMEM;
					break;
				}
				*slots = more;
			}
			(*slots)[n++] = keys[i];
			*opened += o;
		}
	}
	free(vals);
	if (err) {
		free(*slots);
		*slots = NULL;
		return err;
	}
	return (long)n;
}

int counters_migrate_begin(struct counters_migration *m, const char *bpffs_dir, int v2_fd)
{
	struct bpf_map_info v1, v2;
	__u32 *slots;
	long n;
	int err;

	memset(m, 0, sizeof(*m));
	m->v2_fd = v2_fd;
	m->v1_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_EP_COUNTERS_V1);
	if (m->v1_fd < 0) {
		err = m->v1_fd;
		m->v1_fd = -1;
		return err == -ENOENT ? 0 : err;
	}
	err = map_info(m->v1_fd, &v1);
	if (!err)
		err = map_info(v2_fd, &v2);
	if (!err && (!is_v1_layout(&v1) || !is_v2_layout(&v2)))
		err = -EPROTO; /* never misread a map of another layout */
	n = err ? err : v1_slots_with_counts(m->v1_fd, &slots, &m->opened);
	if (n < 0) {
		counters_migrate_free(m);
		return (int)n;
	}
	free(slots);
	m->n_slots = (__u32)n;
	return 0;
}

/* The carrying program, on the two maps. NULL on failure (*err set). */
static struct counters_carry_bpf *carry_open(const struct counters_migration *m, int *err)
{
	struct counters_carry_bpf *skel = counters_carry_bpf__open();

	*err = skel ? 0 : -errno;
	if (!skel)
		return NULL;
	skel->rodata->n_cpus = (__u32)libbpf_num_possible_cpus();
	*err = bpf_map__reuse_fd(skel->maps.counters_v1, m->v1_fd);
	if (!*err)
		*err = bpf_map__reuse_fd(skel->maps.counters_v2, m->v2_fd);
	if (!*err)
		*err = counters_carry_bpf__load(skel);
	if (*err) {
		counters_carry_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Move one slot (one program run: all of it or nothing). */
static int carry_slot(struct counters_migration *m, int prog_fd, __u32 slot)
{
	struct counters_carry_args a = { .slot = slot };
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &a, .ctx_size_in = sizeof(a));
	int err = bpf_prog_test_run_opts(prog_fd, &run);

	if (err)
		return err;
	if (run.retval) {
		m->n_dropped++; /* beyond _v2: it stays in _v1, and goes with it */
		return 0;
	}
	m->n_carried++;
	m->carried_opened += a.carried.opened;
	return 0;
}

int counters_migrate_finish(struct counters_migration *m)
{
	struct counters_carry_bpf *skel;
	__u32 *slots = NULL;
	__u64 opened;
	long n, i;
	int err;

	if (m->v1_fd < 0)
		return 0;
	err = kern_wait_readers(); /* the old programs are done with _v1 */
	if (err)
		return err;
	skel = carry_open(m, &err);
	if (!skel)
		return err;
	/* Read again: _v1 counted until the switch, and an agent before this
	 * one may have moved some slots already (they read zero). */
	n = v1_slots_with_counts(m->v1_fd, &slots, &opened);
	err = n < 0 ? (int)n : 0;
	for (i = 0; !err && i < n; i++)
		err = carry_slot(m, bpf_program__fd(skel->progs.bpfmesh_counters_carry), slots[i]);
	free(slots);
	counters_carry_bpf__destroy(skel);
	return err;
}

void counters_migrate_free(struct counters_migration *m)
{
	if (m->v1_fd >= 0)
		close(m->v1_fd);
	memset(m, 0, sizeof(*m));
	m->v1_fd = -1;
	m->v2_fd = -1;
}
