// SPDX-License-Identifier: Apache-2.0
/* Pinned maps grown at a restart with their state: map_grow.h says when and
 * how. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include <bpfmesh/lbpolicy_abi.h>
#include "loader.h"
#include "map_grow.h"
#include "rcu_wait.h"

/* What the kernel writes in the sized maps; any other is the agent's. */
static const struct {
	const char *name;
	enum map_grow_carry carry;
} kernel_written[] = {
	{ BPFMESH_MAP_EP_COUNTERS, GROW_ADD },   { BPFMESH_MAP_EP_HISTS, GROW_ADD },
	{ BPFMESH_MAP_CLUSTER_STATE, GROW_ADD }, { BPFMESH_MAP_LB_RR, GROW_ADD },
	{ BPFMESH_MAP_LB_ACTIVE, GROW_ADD },     { BPFMESH_MAP_CONNPOOL_OPEN, GROW_ADD },
	{ BPFMESH_MAP_CONNPOOL_CLOSED, GROW_ADD }, { BPFMESH_MAP_SRC_COUNTERS, GROW_ADD },
	{ BPFMESH_MAP_EP_HEALTH, GROW_OVERWRITE },
};

static enum map_grow_carry carry_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kernel_written) / sizeof(kernel_written[0]); i++)
		if (!strcmp(kernel_written[i].name, name))
			return kernel_written[i].carry;
	return GROW_COPY_ONLY;
}

static int grown_path(char *buf, size_t len, const char *bpffs_dir, const char *name)
{
	int err = lb_pin_path(buf, len, bpffs_dir, name);

	if (!err && strlen(buf) + sizeof(MAP_GROW_SUFFIX) > len)
		err = -ENAMETOOLONG;
	if (!err)
		strcat(buf, MAP_GROW_SUFFIX);
	return err;
}

int map_grow_set_aside(const char *bpffs_dir, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err = lb_pin_path(from, sizeof(from), bpffs_dir, name);

	if (!err)
		err = grown_path(to, sizeof(to), bpffs_dir, name);
	if (!err && rename(from, to))
		err = -errno;
	return err;
}

bool map_grow_is_set_aside(const char *pin)
{
	size_t n = strlen(pin), s = strlen(MAP_GROW_SUFFIX);

	return n > s && !strcmp(pin + n - s, MAP_GROW_SUFFIX);
}

static int key_cmp_size;

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, (size_t)key_cmp_size);
}

static bool is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* The new map mapped, for atomic adds (an mmapable array's values are laid
 * out by index, value_size apart). */
static int map_new(struct map_grow_one *m)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(m->new_fd, &info, &len))
		return -errno;
	m->mapped_len = ((size_t)info.max_entries * info.value_size + (size_t)page - 1) /
			(size_t)page * (size_t)page;
	p = mmap(NULL, m->mapped_len, PROT_READ | PROT_WRITE, MAP_SHARED, m->new_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->mapped = p;
	return 0;
}

static int open_one(struct map_grow_one *m, const struct lb_loader *l, const char *name)
{
	char path[PATH_MAX];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err, ncpu;

	snprintf(m->name, sizeof(m->name), "%s", name);
	m->carry = carry_of(name);
	m->new_fd = lb_loader_map_fd(l, name);
	err = m->new_fd < 0 ? m->new_fd : grown_path(path, sizeof(path), l->bpffs_dir, name);
	if (err)
		return err;
	m->old_fd = bpf_obj_get(path);
	if (m->old_fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(m->old_fd, &info, &len))
		return -errno;
	m->key_size = info.key_size;
	m->val_len = info.value_size;
	if (info.type == BPF_MAP_TYPE_ARRAY && (info.map_flags & BPF_F_MMAPABLE) &&
	    m->carry == GROW_ADD)
		err = map_new(m);
	if (err)
		return err;
	if (info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		ncpu = libbpf_num_possible_cpus();
		if (ncpu <= 0)
			return -EINVAL;
		m->val_len = (info.value_size + 7) / 8 * 8 * (__u32)ncpu;
	}
	return 0;
}

/* Step 1 for one map: every entry not zero copied; kept for step 3 when
 * the kernel writes it. */
static int copy_one(struct map_grow_one *m)
{
	void *key = calloc(1, m->key_size), *next = calloc(1, m->key_size);
	void *val = calloc(1, m->val_len), *grown;
	size_t cap = 0;
	bool first = true;
	int err = key && next && val ? 0 : -ENOMEM;

	while (!err && !bpf_map_get_next_key(m->old_fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, m->key_size);
		if (bpf_map_lookup_elem(m->old_fd, key, val))
			continue; /* deleted meanwhile (a hash) */
		if (is_zero(val, m->val_len))
			continue; /* what the new map holds already, or needs not */
		if (bpf_map_update_elem(m->new_fd, key, val, BPF_ANY)) {
			err = -errno;
			break;
		}
		if (m->carry == GROW_COPY_ONLY) {
			m->n++;
			continue;
		}
		if (m->n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(m->keys, cap * m->key_size);
			if (grown)
				m->keys = grown;
			grown = grown ? realloc(m->vals, cap * m->val_len) : NULL;
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			m->vals = grown;
		}
		memcpy((char *)m->keys + m->n * m->key_size, key, m->key_size);
		memcpy((char *)m->vals + m->n * m->val_len, val, m->val_len);
		m->n++;
	}
	free(key);
	free(next);
	free(val);
	return err;
}

int map_grow_begin(struct map_grow *g, const struct lb_loader *l)
{
	int i, err = 0;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < l->n_grown && i < MAP_GROW_MAX && !err; i++) {
		struct map_grow_one *m = &g->maps[g->n++];

		m->old_fd = m->new_fd = -1;
		err = open_one(m, l, l->grown[i]);
		if (!err)
			err = copy_one(m);
		g->copied += m->n;
	}
	return err;
}

/* The entry of key as step 1 saw it (sorted by then), or NULL: zero. */
static const void *then_of(const struct map_grow_one *m, const void *key)
{
	const char *k;

	key_cmp_size = (int)m->key_size;
	k = bsearch(key, m->keys, m->n, m->key_size, key_cmp);
	return k ? (const char *)m->vals + (size_t)(k - (const char *)m->keys) / m->key_size *
							m->val_len : NULL;
}

/* now - then of each 64-bit word into the new map's entry; false: none changed. */
static bool carry_words(const struct map_grow_one *m, const __u64 *now, const __u64 *then,
			__u64 *out)
{
	size_t w, n = m->val_len / sizeof(__u64);
	bool changed = false;

	for (w = 0; w < n; w++) {
		__u64 t = then ? then[w] : 0;

		if (now[w] == t)
			continue;
		changed = true;
		out[w] = m->carry == GROW_ADD ? out[w] + (now[w] - t) : now[w];
	}
	return changed;
}

/* now - then of each word of slot added atomically into the mapped map
 * (the new programs add there too); 1 when any word changed, else 0. */
static size_t add_mapped(const struct map_grow_one *m, __u32 slot, const __u64 *now,
			 const __u64 *then)
{
	size_t w, n = m->val_len / sizeof(__u64), at = (size_t)slot * n;
	bool changed = false;

	if ((at + n) * sizeof(__u64) > m->mapped_len)
		return 0;
	for (w = 0; w < n; w++) {
		__u64 t = then ? then[w] : 0;

		if (now[w] == t)
			continue;
		__atomic_fetch_add(&m->mapped[at + w], now[w] - t, __ATOMIC_RELAXED);
		changed = true;
	}
	return changed;
}

/* Step 3 for one map. The kept entries are sorted first (keys and values
 * together), so each old entry finds its step 1 self by binary search. */
static int carry_one(struct map_grow *g, struct map_grow_one *m)
{
	void *key = calloc(1, m->key_size), *next = calloc(1, m->key_size);
	__u64 *now = calloc(1, m->val_len), *out = calloc(1, m->val_len);
	size_t rec = m->key_size + m->val_len, i;
	char *pairs = m->n ? malloc(m->n * rec) : NULL;
	bool first = true;
	int err = key && next && now && out && (pairs || !m->n) ? 0 : -ENOMEM;

	for (i = 0; !err && i < m->n; i++) {
		memcpy(pairs + i * rec, (char *)m->keys + i * m->key_size, m->key_size);
		memcpy(pairs + i * rec + m->key_size, (char *)m->vals + i * m->val_len, m->val_len);
	}
	key_cmp_size = (int)m->key_size;
	if (!err && m->n)
		qsort(pairs, m->n, rec, key_cmp);
	for (i = 0; !err && i < m->n; i++) {
		memcpy((char *)m->keys + i * m->key_size, pairs + i * rec, m->key_size);
		memcpy((char *)m->vals + i * m->val_len, pairs + i * rec + m->key_size, m->val_len);
	}
	while (!err && !bpf_map_get_next_key(m->old_fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, m->key_size);
		if (bpf_map_lookup_elem(m->old_fd, key, now))
			continue;
		if (m->mapped) {
			g->carried += add_mapped(m, *(const __u32 *)key, now, then_of(m, key));
			continue;
		}
		if (bpf_map_lookup_elem(m->new_fd, key, out))
			memset(out, 0, m->val_len);
		if (!carry_words(m, now, then_of(m, key), out))
			continue;
		if (bpf_map_update_elem(m->new_fd, key, out, BPF_ANY))
			err = -errno;
		g->carried++;
	}
	free(pairs);
	free(key);
	free(next);
	free(now);
	free(out);
	return err;
}

_Static_assert(sizeof(struct ep_counters_elem) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct cluster_hists) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct cluster_state) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct ep_health) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct lb_active) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct connpool_open) % sizeof(__u64) == 0, "words");
_Static_assert(sizeof(struct connpool_closed) % sizeof(__u64) == 0, "words");

int map_grow_finish(struct map_grow *g)
{
	int i, err;

	if (!g->n)
		return 0;
	err = kern_wait_readers(); /* the old programs are done with the old maps */
	for (i = 0; !err && i < g->n; i++)
		if (g->maps[i].carry != GROW_COPY_ONLY)
			err = carry_one(g, &g->maps[i]);
	return err;
}

void map_grow_free(struct map_grow *g)
{
	int i;

	for (i = 0; i < g->n; i++) {
		if (g->maps[i].old_fd >= 0)
			close(g->maps[i].old_fd);
		if (g->maps[i].mapped)
			munmap(g->maps[i].mapped, g->maps[i].mapped_len);
		free(g->maps[i].keys);
		free(g->maps[i].vals);
	}
	memset(g, 0, sizeof(*g));
}

int map_grow_undo(const struct lb_loader *l)
{
	char pin[PATH_MAX], aside[PATH_MAX];
	int i, err = 0, e;

	for (i = 0; i < l->n_grown; i++) {
		e = lb_pin_path(pin, sizeof(pin), l->bpffs_dir, l->grown[i]);
		if (!e)
			e = grown_path(aside, sizeof(aside), l->bpffs_dir, l->grown[i]);
		if (!e && rename(aside, pin)) /* replaces the new pin */
			e = -errno;
		if (e && !err)
			err = e;
	}
	return err;
}
