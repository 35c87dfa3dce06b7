/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_MAP_OPS_H
#define BPFMESH_MAP_OPS_H
/*
 * The map operations user space performs, behind a table so that the
 * applier and the map readers run unchanged against the kernel
 * (kern_map_ops) or against the unit tests' in-memory maps. Every function
 * returns 0 or a negative errno, as libbpf does.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct map_ops {
	/* Write n elements (BPF_ANY); *done counts those written, also on
	 * failure, so a caller can undo exactly what was written. */
	int (*update_many)(int fd, const void *keys, size_t key_size, const void *vals,
			   size_t val_size, size_t n, size_t *done);
	int (*lookup)(int fd, const void *key, void *val);
	int (*delete)(int fd, const void *key);
	/* The key after key (the first when key is NULL); -ENOENT at the end. */
	int (*next_key)(int fd, const void *key, void *next);
	/* Store value into the first 32 bits of element index of an mmap-able
	 * array as one aligned store: readers see the old word or the new,
	 * never a mix (an update through bpf(2) copies with memcpy, which
	 * gives no such promise). val_size is the array's value size. */
	int (*store_u32)(int fd, size_t val_size, __u32 index, __u32 value);
	/* Return once every BPF program that was running when it was called
	 * has finished (an RCU grace period): what such a program read may be
	 * freed or reused afterwards. */
	int (*wait_readers)(void);
	/* The functions may be called from two threads at once, on different
	 * maps (exec.c runs a plan's unordered steps on two). */
	bool concurrent;
};

/* The real thing: bpf(2), batched where the kernel has batch updates. */
extern const struct map_ops kern_map_ops;

/* Called for each element; a non-zero return stops the walk and is returned. */
typedef int (*map_each_fn)(const void *key, const void *val, void *ctx);

/*
 * Walk every element of the map: keys of key_size bytes, values of val_size
 * bytes (0: keys only, nothing looked up; per-CPU maps pass the size of all
 * CPUs' values). An element deleted between finding its key and reading its
 * value is skipped. 0, fn's non-zero return, or a negative errno.
 */
int map_for_each(const struct map_ops *ops, int fd, size_t key_size, size_t val_size,
		 map_each_fn fn, void *ctx);

/* Which keys a walk keeps (map_collect_keys, map_delete_where). */
typedef bool (*map_key_pred)(const void *key, void *ctx);

/*
 * The elements of the map whose key want(key, ctx) holds (want NULL: all),
 * in walk order, each its key then its value (val_size bytes, 0: keys
 * only), packed: *elems (n of them; free() it) is set also on failure, to
 * what was collected. 0 or a negative errno.
 */
int map_collect(const struct map_ops *ops, int fd, size_t key_size, size_t val_size,
		map_key_pred want, void *ctx, void **elems, size_t *n);
/* map_collect of the keys alone. */
int map_collect_keys(const struct map_ops *ops, int fd, size_t key_size, map_key_pred want,
		     void *ctx, void **keys, size_t *n);

/*
 * Delete every element whose key drop(key, ctx) holds. The keys are
 * collected first: deleting during a get_next_key walk can send the walk
 * back to the start of a hash map. What a failed walk did collect is
 * deleted all the same. 0 or the first negative errno (gone meanwhile
 * counts as deleted).
 */
int map_delete_where(const struct map_ops *ops, int fd, size_t key_size, map_key_pred drop,
		     void *ctx);

/*
 * counts[i] = element i of a per-CPU array of u64, summed over ncpu CPUs,
 * for i < n; an element that cannot be read counts 0. 0 or -ENOMEM.
 */
int map_sum_percpu_u64(const struct map_ops *ops, int fd, int ncpu, __u64 *counts,
		       unsigned int n);

#endif /* BPFMESH_MAP_OPS_H */
