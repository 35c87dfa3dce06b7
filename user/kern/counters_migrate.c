// SPDX-License-Identifier: Apache-2.0
/* Endpoint counters carried from the per-CPU _v1 map into the shared _v2
 * one on an upgrade: counters_migrate.h says when and why. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
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

static void sum_cpus(const struct ep_counters *per_cpu, int ncpu, struct ep_counters *sum)
{
	__u64 *s = (__u64 *)sum;
	size_t f;
	int c;

	memset(sum, 0, sizeof(*sum));
	for (c = 0; c < ncpu; c++)
		for (f = 0; f < N_FIELDS; f++)
			s[f] += ((const __u64 *)&per_cpu[c])[f];
}

static bool is_zero(const struct ep_counters *c)
{
	static const struct ep_counters zero;

	return !memcmp(c, &zero, sizeof(zero));
}

typedef int (*slot_fn)(struct counters_migration *m, __u32 slot, const struct ep_counters *sum);

/* Every _v1 slot, summed over CPUs, to fn: read in batches. */
static int for_each_v1_slot(struct counters_migration *m, slot_fn fn)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ep_counters *vals = calloc((size_t)BATCH * m->ncpu, sizeof(*vals));
	__u32 keys[BATCH], next = 0, count, i;
	struct ep_counters sum;
	bool first = true, done = false;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	while (!done && !err) {
		count = BATCH;
		err = bpf_map_lookup_batch(m->v1_fd, first ? NULL : &next, &next, keys, vals,
					   &count, &opts);
		first = false;
		if (err == -ENOENT) { /* the last batch, maybe with entries */
			done = true;
			err = 0;
		}
		for (i = 0; !err && i < count; i++) {
			sum_cpus(&vals[(size_t)i * m->ncpu], m->ncpu, &sum);
			err = fn(m, keys[i], &sum);
		}
	}
	free(vals);
	return err;
}

/* Step 1 for one slot: its sum into _v2 (zero too: what an interrupted
 * earlier migration wrote is replaced), remembered when not zero. */
static int copy_slot(struct counters_migration *m, __u32 slot, const struct ep_counters *sum)
{
	if (slot >= m->n_slots) {
		m->n_dropped += !is_zero(sum);
		return 0;
	}
	m->v2[slot].c = *sum;
	if (is_zero(sum))
		return 0;
	m->carried_opened += sum->opened;
	m->base_slot[m->n_carried] = slot;
	m->base[m->n_carried++] = *sum;
	return 0;
}

/* Step 2 for one slot: what it counted since step 1, added atomically. */
static int add_delta(struct counters_migration *m, __u32 slot, const struct ep_counters *sum)
{
	static const struct ep_counters zero;
	const struct ep_counters *base = &zero;
	__u32 lo = 0, hi = m->n_carried;
	__u64 *dst;
	size_t f;

	if (slot >= m->n_slots)
		return 0;
	while (lo < hi) { /* base_slot is ascending: batches come in key order */
		__u32 mid = lo + (hi - lo) / 2;

		if (m->base_slot[mid] < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n_carried && m->base_slot[lo] == slot)
		base = &m->base[lo];
	dst = (__u64 *)&m->v2[slot].c;
	for (f = 0; f < N_FIELDS; f++) {
		__u64 now = ((const __u64 *)sum)[f], then = ((const __u64 *)base)[f];

		if (now > then)
			__atomic_fetch_add(&dst[f], now - then, __ATOMIC_RELAXED);
	}
	if (sum->opened > base->opened)
		m->delta_opened += sum->opened - base->opened;
	return 0;
}

static int map_v2(struct counters_migration *m, int v2_fd, const struct bpf_map_info *v2)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)v2->max_entries * v2->value_size;
	void *p;

	m->v2_len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, m->v2_len, PROT_READ | PROT_WRITE, MAP_SHARED, v2_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->v2 = p;
	return 0;
}

int counters_migrate_begin(struct counters_migration *m, const char *bpffs_dir, int v2_fd)
{
	struct bpf_map_info v1, v2;
	int err;

	memset(m, 0, sizeof(*m));
	m->v1_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_EP_COUNTERS_V1);
	if (m->v1_fd < 0) {
		err = m->v1_fd;
		m->v1_fd = -1;
		return err == -ENOENT ? 0 : err;
	}
	m->ncpu = libbpf_num_possible_cpus();
	err = m->ncpu > 0 ? 0 : -EINVAL;
	if (!err)
		err = map_info(m->v1_fd, &v1);
	if (!err)
		err = map_info(v2_fd, &v2);
	if (!err && (!is_v1_layout(&v1) || !is_v2_layout(&v2)))
		err = -EPROTO; /* never misread a map of another layout */
	if (!err)
		err = map_v2(m, v2_fd, &v2);
	if (!err) {
		m->n_slots = v1.max_entries < v2.max_entries ? v1.max_entries : v2.max_entries;
		m->base_slot = calloc(m->n_slots ? m->n_slots : 1, sizeof(*m->base_slot));
		m->base = calloc(m->n_slots ? m->n_slots : 1, sizeof(*m->base));
		err = m->base_slot && m->base ? 0 : -ENOMEM;
	}
	if (!err)
		err = for_each_v1_slot(m, copy_slot);
	if (err)
		counters_migrate_free(m);
	return err;
}

int counters_migrate_finish(struct counters_migration *m)
{
	int err;

	if (m->v1_fd < 0)
		return 0;
	err = kern_wait_readers(); /* the old programs are done with _v1 */
	if (!err)
		err = for_each_v1_slot(m, add_delta);
	return err;
}

void counters_migrate_free(struct counters_migration *m)
{
	if (m->v2)
		munmap(m->v2, m->v2_len);
	if (m->v1_fd >= 0)
		close(m->v1_fd);
	free(m->base_slot);
	free(m->base);
	memset(m, 0, sizeof(*m));
	m->v1_fd = -1;
}
