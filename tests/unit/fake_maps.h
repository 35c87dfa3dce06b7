/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TEST_FAKE_MAPS_H
#define BPFMESH_TEST_FAKE_MAPS_H
/*
 * In-memory BPF maps behind a struct map_ops, for unit tests of code that
 * reads and writes maps (the applier). Hash-map semantics as the kernel
 * gives them: update creates or replaces, delete of a missing key is
 * -ENOENT, next_key of a missing key starts over. One element operation
 * (an update or a delete) can be made to fail, to test rollback: set
 * fail_at to its index, counted from 0 over all maps since fake_reset.
 * Include after <cmocka.h>.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "kern/map_ops.h"

#define FAKE_MAX_MAPS 16
#define FAKE_FD_BASE 100

struct fake_map {
	size_t key_size, val_size;
	size_t n, cap;
	unsigned char *elems; /* n elements of key then value, in insertion order */
};

struct fake_kernel {
	struct fake_map maps[FAKE_MAX_MAPS];
	int n_maps;
	long mutations; /* element updates and deletes so far */
	long fail_at;   /* index of the mutation that fails; -1: none */
	int fail_err;
	long waits;     /* wait_readers calls (grace periods) so far */
	long mutations_at_wait; /* mutations when wait_readers was last called */
	int wait_err;   /* what wait_readers returns */
};

/* The kernel the ops act on (map_ops carry no context, as bpf(2) has none). */
static struct fake_kernel *fk;

static int fake_map_create(struct fake_kernel *k, size_t key_size, size_t val_size)
{
	struct fake_map *m = &k->maps[k->n_maps];

	m->key_size = key_size;
	m->val_size = val_size;
	return FAKE_FD_BASE + k->n_maps++;
}

static struct fake_map *fake_map_of(int fd)
{
	assert_true(fd >= FAKE_FD_BASE && fd < FAKE_FD_BASE + fk->n_maps);
	return &fk->maps[fd - FAKE_FD_BASE];
}

static size_t fake_elem_size(const struct fake_map *m)
{
	return m->key_size + m->val_size;
}

static long fake_find(const struct fake_map *m, const void *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!memcmp(m->elems + i * fake_elem_size(m), key, m->key_size))
			return (long)i;
	return -1;
}

/* True when this mutation is the one set to fail. */
static bool fake_fails_now(void)
{
	return fk->mutations++ == fk->fail_at;
}

static int fake_update_one(struct fake_map *m, const void *key, const void *val)
{
	long i = fake_find(m, key);

	if (fake_fails_now())
		return fk->fail_err;
	if (i < 0) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->elems = realloc(m->elems, m->cap * fake_elem_size(m));
			assert_non_null(m->elems);
		}
		i = (long)m->n++;
		memcpy(m->elems + i * fake_elem_size(m), key, m->key_size);
	}
	memcpy(m->elems + i * fake_elem_size(m) + m->key_size, val, m->val_size);
	return 0;
}

static int fake_update_many(int fd, const void *keys, size_t key_size, const void *vals,
			    size_t val_size, size_t n, size_t *done)
{
	struct fake_map *m = fake_map_of(fd);
	int err;

	assert_int_equal(key_size, m->key_size);
	assert_int_equal(val_size, m->val_size);
	for (*done = 0; *done < n; (*done)++) {
		err = fake_update_one(m, (const char *)keys + *done * key_size,
				      (const char *)vals + *done * val_size);
		if (err)
			return err;
	}
	return 0;
}

static int fake_lookup(int fd, const void *key, void *val)
{
	struct fake_map *m = fake_map_of(fd);
	long i = fake_find(m, key);

	if (i < 0)
		return -ENOENT;
	memcpy(val, m->elems + i * fake_elem_size(m) + m->key_size, m->val_size);
	return 0;
}

static int fake_delete(int fd, const void *key)
{
	struct fake_map *m = fake_map_of(fd);
	long i = fake_find(m, key);
	size_t es = fake_elem_size(m);

	if (i < 0)
		return -ENOENT;
	if (fake_fails_now())
		return fk->fail_err;
	memmove(m->elems + i * es, m->elems + (i + 1) * es, (m->n - i - 1) * es);
	m->n--;
	return 0;
}

static int fake_next_key(int fd, const void *key, void *next)
{
	struct fake_map *m = fake_map_of(fd);
	long i = key ? fake_find(m, key) : -1;

	if ((size_t)(i + 1) >= m->n)
		return -ENOENT;
	memcpy(next, m->elems + (i + 1) * fake_elem_size(m), m->key_size);
	return 0;
}

/* The first word of an array element (a mutation, like an update). */
static int fake_store_u32(int fd, size_t val_size, __u32 index, __u32 value)
{
	struct fake_map *m = fake_map_of(fd);
	long i = fake_find(m, &index);

	assert_int_equal(val_size, m->val_size);
	if (i < 0)
		return -ENOENT; /* beyond an array's end */
	if (fake_fails_now())
		return fk->fail_err;
	memcpy(m->elems + i * fake_elem_size(m) + m->key_size, &value, sizeof(value));
	return 0;
}

static int fake_wait_readers(void)
{
	fk->waits++;
	fk->mutations_at_wait = fk->mutations;
	return fk->wait_err;
}

/* The map ops take one lock: marked concurrent (a copy), the applier runs
 * a plan's unordered steps on two threads (exec.c), as with the kernel. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

#define FAKE_LOCKED(call)                    \
	do {                                 \
		int err_;                    \
		pthread_mutex_lock(&fake_lock);   \
		err_ = (call);               \
		pthread_mutex_unlock(&fake_lock); \
		return err_;                 \
	} while (0)

static int fake_update_many_locked(int fd, const void *keys, size_t key_size, const void *vals,
				   size_t val_size, size_t n, size_t *done)
{
	FAKE_LOCKED(fake_update_many(fd, keys, key_size, vals, val_size, n, done));
}

static int fake_lookup_locked(int fd, const void *key, void *val)
{
	FAKE_LOCKED(fake_lookup(fd, key, val));
}

static int fake_delete_locked(int fd, const void *key)
{
	FAKE_LOCKED(fake_delete(fd, key));
}

static int fake_next_key_locked(int fd, const void *key, void *next)
{
	FAKE_LOCKED(fake_next_key(fd, key, next));
}

static int fake_store_u32_locked(int fd, size_t val_size, __u32 index, __u32 value)
{
	FAKE_LOCKED(fake_store_u32(fd, val_size, index, value));
}

static int fake_wait_readers_locked(void)
{
	FAKE_LOCKED(fake_wait_readers());
}

/* Each call under the lock; a test that wants the applier's two lanes
 * uses a copy with .concurrent set. */
static const struct map_ops fake_map_ops = {
	.update_many = fake_update_many_locked,
	.lookup = fake_lookup_locked,
	.delete = fake_delete_locked,
	.next_key = fake_next_key_locked,
	.store_u32 = fake_store_u32_locked,
	.wait_readers = fake_wait_readers_locked,
};

static void fake_reset_counters(struct fake_kernel *k, long fail_at)
{
	k->mutations = 0;
	k->fail_at = fail_at;
	k->fail_err = -ENOSPC;
}

static void fake_kernel_free(struct fake_kernel *k)
{
	int i;

	for (i = 0; i < k->n_maps; i++)
		free(k->maps[i].elems);
	memset(k, 0, sizeof(*k));
}

/* A copy of every map, to compare with later. */
static void fake_kernel_copy(struct fake_kernel *dst, const struct fake_kernel *src)
{
	int i;

	*dst = *src;
	for (i = 0; i < src->n_maps; i++) {
		size_t bytes = src->maps[i].cap * fake_elem_size(&src->maps[i]);

		dst->maps[i].elems = bytes ? malloc(bytes) : NULL;
		if (bytes)
			memcpy(dst->maps[i].elems, src->maps[i].elems, bytes);
	}
}

/* Same elements with the same values, in any order. */
static bool fake_map_equal(const struct fake_map *a, const struct fake_map *b)
{
	size_t i, es = fake_elem_size(a);

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		long j = fake_find(b, a->elems + i * es);

		if (j < 0 || memcmp(a->elems + i * es, b->elems + j * es, es))
			return false;
	}
	return true;
}

#endif /* BPFMESH_TEST_FAKE_MAPS_H */
