// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "map_ops.h"
#include "rcu_wait.h"

#define UPDATE_BATCH 4096

/* A batch a syscall where the kernel has batch updates (5.6+), one by one
 * where it has not. */
static int kern_update_many(int fd, const void *keys, size_t key_size, const void *vals,
			    size_t val_size, size_t n, size_t *done)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	const char *k = keys, *v = vals;

	*done = 0;
	while (*done < n) {
		__u32 count = n - *done > UPDATE_BATCH ? UPDATE_BATCH : (__u32)(n - *done);
		int err = bpf_map_update_batch(fd, k + *done * key_size, v + *done * val_size,
					       &count, &opts);

		if (!err) {
			*done += count;
			continue;
		}
		if (count) { /* a real failure part-way through the batch */
			*done += count;
			return err;
		}
		if (bpf_map_update_elem(fd, k + *done * key_size, v + *done * val_size, BPF_ANY))
			return -errno;
		(*done)++;
	}
	return 0;
}

static int kern_lookup(int fd, const void *key, void *val)
{
	return bpf_map_lookup_elem(fd, key, val) ? -errno : 0;
}

static int kern_delete(int fd, const void *key)
{
	return bpf_map_delete_elem(fd, key) ? -errno : 0;
}

static int kern_next_key(int fd, const void *key, void *next)
{
	return bpf_map_get_next_key(fd, key, next) ? -errno : 0;
}

/* mmap only the page that holds the element: a switch touches one word. */
static int kern_store_u32(int fd, size_t val_size, __u32 index, __u32 value)
{
	long page = sysconf(_SC_PAGESIZE);
	/* The kernel spaces the elements of an mmap-able array 8-byte aligned. */
	size_t stride = (val_size + 7) & ~(size_t)7;
	off_t off = (off_t)index * (off_t)stride;
	off_t base = off - off % page;
	void *map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);

	if (map == MAP_FAILED)
		return -errno;
	__atomic_store_n((__u32 *)((char *)map + (off - base)), value, __ATOMIC_RELEASE);
	munmap(map, (size_t)page);
	return 0;
}

const struct map_ops kern_map_ops = {
	.update_many = kern_update_many,
	.lookup = kern_lookup,
	.delete = kern_delete,
	.next_key = kern_next_key,
	.store_u32 = kern_store_u32,
	.wait_readers = kern_wait_readers,
	.concurrent = true, /* bpf(2) on different maps */
};

int map_for_each(const struct map_ops *ops, int fd, size_t key_size, size_t val_size,
		 map_each_fn fn, void *ctx)
{
	/* Two key buffers: the kernel reads key while writing next. */
	char *keys = calloc(2, key_size), *val = val_size ? malloc(val_size) : NULL;
	char *key = keys, *next = keys + key_size;
	const void *prev = NULL;
	int err;

	if (!keys || (val_size && !val)) {
		err = -ENOMEM;
		goto out;
	}
	while ((err = ops->next_key(fd, prev, next)) == 0) {
		if (val_size) {
			err = ops->lookup(fd, next, val);
			if (err == -ENOENT)
				goto advance; /* deleted meanwhile */
			if (err)
				goto out;
		}
		err = fn(next, val, ctx);
		if (err)
			goto out;
advance:
		memcpy(key, next, key_size);
		prev = key;
	}
	if (err == -ENOENT)
		err = 0;
out:
	free(keys);
	free(val);
	return err;
}

/* map_collect's walk. */
struct collector {
	char *elems;
	size_t key_size, val_size, n, cap;
	map_key_pred want;
	void *ctx;
};

static int collect_elem(const void *key, const void *val, void *ctx)
{
	struct collector *c = ctx;
	size_t size = c->key_size + c->val_size;
	void *grown;

	if (c->want && !c->want(key, c->ctx))
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		grown = realloc(c->elems, c->cap * size);
		if (!grown)
			return -ENOMEM;
		c->elems = grown;
	}
	memcpy(c->elems + c->n * size, key, c->key_size);
	if (c->val_size)
		memcpy(c->elems + c->n * size + c->key_size, val, c->val_size);
	c->n++;
	return 0;
}

int map_collect(const struct map_ops *ops, int fd, size_t key_size, size_t val_size,
		map_key_pred want, void *ctx, void **elems, size_t *n)
{
	struct collector c = { .key_size = key_size, .val_size = val_size, .want = want,
			       .ctx = ctx };
	int err = map_for_each(ops, fd, key_size, val_size, collect_elem, &c);

	*elems = c.elems;
	*n = c.n;
	return err;
}

int map_collect_keys(const struct map_ops *ops, int fd, size_t key_size, map_key_pred want,
		     void *ctx, void **keys, size_t *n)
{
	return map_collect(ops, fd, key_size, 0, want, ctx, keys, n);
}

int map_delete_where(const struct map_ops *ops, int fd, size_t key_size, map_key_pred drop,
		     void *ctx)
{
	void *stale;
	size_t n, i;
	int err = map_collect_keys(ops, fd, key_size, drop, ctx, &stale, &n);

	for (i = 0; i < n; i++) {
		int del = ops->delete(fd, (char *)stale + i * key_size);

		if (del && del != -ENOENT && !err)
			err = del;
	}
	free(stale);
	return err;
}

int map_sum_percpu_u64(const struct map_ops *ops, int fd, int ncpu, __u64 *counts,
		       unsigned int n)
{
	__u64 *per = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per));
	__u32 i;
	int c;

	if (!per)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		counts[i] = 0;
		if (ops->lookup(fd, &i, per))
			continue;
		for (c = 0; c < ncpu; c++)
			counts[i] += per[c];
	}
	free(per);
	return 0;
}
