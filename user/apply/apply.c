// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "apply.h"

struct live_service {
	struct svc_key key;
	struct svc_val val; /* as in the kernel: kernel set ids, generation */
};

/* A backend set in the kernel, with its content so that an identical set in
 * the next version can reuse it instead of being written again. */
struct live_set {
	__u64 hash;
	__u32 id;
	__u32 n_slots;
	__u32 total_weight;
	struct backend_val *slots;
};

struct retired_set {
	__u32 id;
	__u32 n_slots;
	__u64 since_ms;
};

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static double elapsed_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Content hash of a set, a word at a time (backend_val is 32 bytes). */
static __u64 set_hash(const struct backend_val *slots, __u32 n, __u32 total)
{
	__u64 h = 0x9e3779b97f4a7c15ULL ^ n ^ ((__u64)total << 32), w;
	const unsigned char *p = (const unsigned char *)slots;
	size_t i, bytes = (size_t)n * sizeof(*slots);

	for (i = 0; i + sizeof(w) <= bytes; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static int cmp_svc_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct svc_key));
}

static int cmp_set_hash(const void *a, const void *b)
{
	const struct live_set *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Two values route identically when all but the generation match. */
static int svc_val_same(const struct svc_val *a, const struct svc_val *b)
{
	struct svc_val x = *a, y = *b;

	x.generation = y.generation = 0;
	return memcmp(&x, &y, sizeof(x)) == 0;
}

static struct live_set *find_set(struct live_set *sets, size_t n, const struct image_set *s,
				 __u64 hash)
{
	size_t lo = 0, hi = n;

	while (lo < hi) { /* first index with sets[i].hash >= hash */
		size_t mid = (lo + hi) / 2;

		if (sets[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && sets[lo].hash == hash; lo++) {
		if (sets[lo].n_slots == s->n_slots && sets[lo].total_weight == s->total_weight &&
		    !memcmp(sets[lo].slots, s->slots, (size_t)s->n_slots * sizeof(*s->slots)))
			return &sets[lo];
	}
	return NULL;
}

static void delete_set_slots(int be_fd, __u32 id, __u32 n_slots)
{
	struct backend_key key = { .set_id = id };

	for (key.slot = 0; key.slot < n_slots; key.slot++)
		bpf_map_delete_elem(be_fd, &key);
}

#define UPDATE_BATCH 4096

/* Write n elements, a batch a syscall where the kernel has batch updates
 * (5.6+), one by one where it has not. *done counts what was written. */
static int map_update_many(int fd, const void *keys, size_t key_size, const void *vals,
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

/* Slots of the sets this apply writes, gathered to be written in batches. */
struct slot_batch {
	struct backend_key *keys;
	struct backend_val *vals;
	size_t n;
};

static int slot_batch_fill(struct slot_batch *b, const struct bpfmesh_image *img,
			   const __u32 *ids, const unsigned char *is_new)
{
	size_t i, total = 0;
	__u32 j;

	for (i = 0; i < img->n_sets; i++)
		if (is_new[i])
			total += img->sets[i].n_slots;
	b->keys = calloc(total + 1, sizeof(*b->keys));
	b->vals = calloc(total + 1, sizeof(*b->vals));
	if (!b->keys || !b->vals)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		if (!is_new[i])
			continue;
		for (j = 0; j < img->sets[i].n_slots; j++, b->n++) {
			b->keys[b->n] = (struct backend_key){ .set_id = ids[i], .slot = j };
			b->vals[b->n] = img->sets[i].slots[j];
		}
	}
	return 0;
}

static int retire_set(struct applier *a, __u32 id, __u32 n_slots)
{
	struct retired_set *r = realloc(a->retired, (a->n_retired + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	a->retired = r;
	r[a->n_retired++] = (struct retired_set){ .id = id, .n_slots = n_slots,
						  .since_ms = now_ms() };
	return 0;
}

void applier_sweep(struct applier *a, int force)
{
	__u64 now = now_ms();
	size_t i, kept = 0;

	for (i = 0; i < a->n_retired; i++) {
		struct retired_set *r = &a->retired[i];

		if (force || now - r->since_ms >= APPLY_GRACE_MS)
			delete_set_slots(a->be_fd, r->id, r->n_slots);
		else
			a->retired[kept++] = *r;
	}
	a->n_retired = kept;
}

static void free_live_sets(struct live_set *sets, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(sets[i].slots);
	free(sets);
}

void applier_free(struct applier *a)
{
	free(a->svcs);
	free_live_sets(a->sets, a->n_sets);
	free(a->names);
	free(a->retired);
	memset(a, 0, sizeof(*a));
}

/* The working state of one apply: what it wrote, so it can be undone. */
struct apply_txn {
	__u32 *set_ids;             /* kernel id of each image set (0: empty set) */
	__u64 *set_hashes;          /* content hash of each image set */
	unsigned char *set_is_new;  /* written by this apply */
	struct live_service *svcs;  /* the new live services, sorted by key */
	struct live_service *undo;  /* previous values of replaced services */
	unsigned char *undo_existed;
	size_t n_undo;
};

static void txn_free(struct apply_txn *t)
{
	free(t->set_ids);
	free(t->set_hashes);
	free(t->set_is_new);
	free(t->svcs);
	free(t->undo);
	free(t->undo_existed);
}

/* Give each image set a kernel id: reuse an identical live set, else write. */
static int txn_write_sets(struct applier *a, const struct bpfmesh_image *img,
			  struct apply_txn *t, struct apply_stats *st)
{
	struct slot_batch b = {};
	size_t i, done;
	int err;

	for (i = 0; i < img->n_sets; i++) {
		const struct image_set *s = &img->sets[i];
		struct live_set *old;
		__u64 h;

		if (s->n_slots == 0)
			continue; /* nothing to write: the kernel refuses at once */
		h = t->set_hashes[i] = set_hash(s->slots, s->n_slots, s->total_weight);
		old = find_set(a->sets, a->n_sets, s, h);
		if (old) {
			t->set_ids[i] = old->id;
			st->sets_reused++;
			continue;
		}
		t->set_ids[i] = a->next_set_id++;
		if (a->next_set_id == 0)
			a->next_set_id = 1;
		t->set_is_new[i] = 1; /* undone whole on failure, written or not */
		st->set_writes++;
	}
	err = slot_batch_fill(&b, img, t->set_ids, t->set_is_new);
	if (!err)
		err = map_update_many(a->be_fd, b.keys, sizeof(*b.keys), b.vals, sizeof(*b.vals),
				      b.n, &done);
	free(b.keys);
	free(b.vals);
	return err;
}

static void txn_undo_sets(struct applier *a, const struct bpfmesh_image *img,
			  struct apply_txn *t)
{
	size_t i;

	for (i = 0; i < img->n_sets; i++)
		if (t->set_is_new[i])
			delete_set_slots(a->be_fd, t->set_ids[i], img->sets[i].n_slots);
}

static struct live_service *find_svc(struct live_service *svcs, size_t n,
				     const struct svc_key *key)
{
	return bsearch(key, svcs, n, sizeof(*svcs), cmp_svc_key);
}

/* Write every service whose decision changed, remembering how to undo it. */
static int txn_write_services(struct applier *a, const struct bpfmesh_image *img,
			      struct apply_txn *t, __u32 gen, struct apply_stats *st)
{
	struct svc_key *keys = calloc(img->n_services + 1, sizeof(*keys));
	struct svc_val *vals = calloc(img->n_services + 1, sizeof(*vals));
	size_t i, d, n = 0, done = 0;
	int err = -ENOMEM;

	if (!keys || !vals)
		goto out;
	for (i = 0; i < img->n_services; i++) {
		struct live_service *nv = &t->svcs[i], *old;

		nv->key = img->services[i].key;
		nv->val = img->services[i].val;
		for (d = 0; d < nv->val.n_dests && d < BPFMESH_MAX_DESTS; d++)
			nv->val.dests[d].set_id = t->set_ids[nv->val.dests[d].set_id];
		old = find_svc(a->svcs, a->n_svcs, &nv->key);
		if (old && svc_val_same(&old->val, &nv->val)) {
			nv->val.generation = old->val.generation;
			continue;
		}
		nv->val.generation = gen;
		t->undo[n] = old ? *old : *nv;
		t->undo_existed[n] = old != NULL;
		keys[n] = nv->key;
		vals[n++] = nv->val;
	}
	/* Each element is replaced atomically; the batch only saves syscalls. */
	err = map_update_many(a->svc_fd, keys, sizeof(*keys), vals, sizeof(*vals), n, &done);
	t->n_undo = done;
	st->svc_writes += done;
out:
	free(keys);
	free(vals);
	return err;
}

static void txn_undo_services(struct applier *a, struct apply_txn *t)
{
	size_t i;

	for (i = 0; i < t->n_undo; i++) {
		if (t->undo_existed[i])
			bpf_map_update_elem(a->svc_fd, &t->undo[i].key, &t->undo[i].val, BPF_ANY);
		else
			bpf_map_delete_elem(a->svc_fd, &t->undo[i].key);
	}
}

static int update_names(struct applier *a, const struct bpfmesh_image *img)
{
	__u32 *ids = calloc(img->n_names + 1, sizeof(*ids));
	__u32 *new_ids = calloc(img->n_names + 1, sizeof(*new_ids));
	struct name_val *new_vals = calloc(img->n_names + 1, sizeof(*new_vals));
	size_t i, n_new = 0, done;

	if (!ids || !new_ids || !new_vals) {
		free(ids);
		free(new_ids);
		free(new_vals);
		return -ENOMEM;
	}
	/* An id is a hash of its name, and the compiler rejects collisions: a
	 * name already in the map is already right. */
	for (i = 0; i < img->n_names; i++) {
		ids[i] = img->names[i].id;
		if (!bsearch(&ids[i], a->names, a->n_names, sizeof(*ids), cmp_u32)) {
			new_ids[n_new] = ids[i];
			new_vals[n_new++] = img->names[i].val;
		}
	}
	/* Names only serve the CLI: a failure here costs labels, not traffic. */
	map_update_many(a->names_fd, new_ids, sizeof(*new_ids), new_vals, sizeof(*new_vals),
			n_new, &done);
	free(new_ids);
	free(new_vals);
	qsort(ids, img->n_names, sizeof(*ids), cmp_u32);
	for (i = 0; i < a->n_names; i++)
		if (!bsearch(&a->names[i], ids, img->n_names, sizeof(*ids), cmp_u32))
			bpf_map_delete_elem(a->names_fd, &a->names[i]);
	free(a->names);
	a->names = ids;
	a->n_names = img->n_names;
	return 0;
}

/* After the switch: drop services that are gone, retire unnamed sets, and
 * keep the new content as the live state. */
static int txn_commit(struct applier *a, const struct bpfmesh_image *img, struct apply_txn *t,
		      struct apply_stats *st)
{
	struct live_set *sets;
	size_t i, n = 0;

	for (i = 0; i < a->n_svcs; i++) {
		if (!find_svc(t->svcs, img->n_services, &a->svcs[i].key)) {
			bpf_map_delete_elem(a->svc_fd, &a->svcs[i].key);
			st->svc_writes++;
		}
	}
	sets = calloc(img->n_sets + 1, sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	for (i = 0; i < img->n_sets; i++) {
		const struct image_set *s = &img->sets[i];
		size_t bytes = (size_t)s->n_slots * sizeof(*s->slots);

		if (s->n_slots == 0)
			continue;
		sets[n] = (struct live_set){ .hash = t->set_hashes[i],
					     .id = t->set_ids[i], .n_slots = s->n_slots,
					     .total_weight = s->total_weight };
		sets[n].slots = malloc(bytes);
		if (!sets[n].slots) {
			free_live_sets(sets, n);
			return -ENOMEM;
		}
		memcpy(sets[n].slots, s->slots, bytes);
		n++;
	}
	qsort(sets, n, sizeof(*sets), cmp_set_hash);
	for (i = 0; i < a->n_sets; i++) {
		struct image_set probe = { .n_slots = a->sets[i].n_slots,
					   .total_weight = a->sets[i].total_weight,
					   .slots = a->sets[i].slots };
		struct live_set *kept = find_set(sets, n, &probe, a->sets[i].hash);

		if (!kept || kept->id != a->sets[i].id)
			retire_set(a, a->sets[i].id, a->sets[i].n_slots);
	}
	free_live_sets(a->sets, a->n_sets);
	a->sets = sets;
	a->n_sets = n;
	free(a->svcs);
	a->svcs = t->svcs;
	a->n_svcs = img->n_services;
	t->svcs = NULL;
	return 0;
}

int applier_apply(struct applier *a, const struct bpfmesh_image *img, struct apply_stats *st)
{
	struct apply_txn t = {};
	struct timespec t0;
	__u32 gen = a->generation + 1;
	size_t i, n = img->n_services + 1;
	int err = -ENOMEM;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(st, 0, sizeof(*st));
	applier_sweep(a, 0);

	t.set_ids = calloc(img->n_sets + 1, sizeof(*t.set_ids));
	t.set_hashes = calloc(img->n_sets + 1, sizeof(*t.set_hashes));
	t.set_is_new = calloc(img->n_sets + 1, 1);
	t.svcs = calloc(n, sizeof(*t.svcs));
	t.undo = calloc(n, sizeof(*t.undo));
	t.undo_existed = calloc(n, 1);
	if (!t.set_ids || !t.set_hashes || !t.set_is_new || !t.svcs || !t.undo || !t.undo_existed)
		goto out;
	for (i = 1; i < img->n_services; i++) {
		if (cmp_svc_key(&img->services[i - 1].key, &img->services[i].key) >= 0) {
			err = -EINVAL; /* the compiler guarantees sorted, unique keys */
			goto out;
		}
	}

	err = txn_write_sets(a, img, &t, st);
	if (err)
		goto undo_sets;
	err = update_names(a, img);
	if (err)
		goto undo_sets;
	err = txn_write_services(a, img, &t, gen, st);
	if (err)
		goto undo_services;
	err = txn_commit(a, img, &t, st);
	if (err)
		goto out; /* the kernel holds the new version; only bookkeeping failed */

	if (st->svc_writes)
		a->generation = gen; /* a no-op apply is not a new version */
	st->services = img->n_services;
	for (i = 0; i < img->n_sets; i++)
		st->endpoints += img->sets[i].n_slots;
	st->elapsed_ms = elapsed_ms_since(&t0);
	goto out;

undo_services:
	txn_undo_services(a, &t);
undo_sets:
	txn_undo_sets(a, img, &t);
out:
	txn_free(&t);
	return err;
}

/* Read the content of set id (n_slots slots) from the kernel. */
static int adopt_set(struct applier *a, __u32 id, __u32 n_slots, __u32 total,
		     struct live_set *out)
{
	struct backend_key key = { .set_id = id };

	out->slots = calloc(n_slots, sizeof(*out->slots));
	if (!out->slots)
		return -ENOMEM;
	for (key.slot = 0; key.slot < n_slots; key.slot++)
		if (bpf_map_lookup_elem(a->be_fd, &key, &out->slots[key.slot]))
			return -errno;
	out->id = id;
	out->n_slots = n_slots;
	out->total_weight = total;
	out->hash = set_hash(out->slots, n_slots, total);
	return 0;
}

static int adopt_services(struct applier *a)
{
	struct svc_key key, next, *prev = NULL;
	size_t cap = 0;

	while (bpf_map_get_next_key(a->svc_fd, prev, &next) == 0) {
		if (a->n_svcs == cap) {
			struct live_service *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(a->svcs, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			a->svcs = p;
		}
		a->svcs[a->n_svcs].key = next;
		if (bpf_map_lookup_elem(a->svc_fd, &next, &a->svcs[a->n_svcs].val) == 0) {
			if (a->svcs[a->n_svcs].val.generation > a->generation)
				a->generation = a->svcs[a->n_svcs].val.generation;
			a->n_svcs++;
		}
		key = next;
		prev = &key;
	}
	qsort(a->svcs, a->n_svcs, sizeof(*a->svcs), cmp_svc_key);
	return 0;
}

/* Note slot of an orphaned set id, so the whole set is deleted later. */
static int retire_slot(struct applier *a, __u32 id, __u32 slot)
{
	size_t i;

	for (i = 0; i < a->n_retired; i++) {
		if (a->retired[i].id == id) {
			if (slot >= a->retired[i].n_slots)
				a->retired[i].n_slots = slot + 1;
			return 0;
		}
	}
	return retire_set(a, id, slot + 1);
}

/* Sets named by the adopted services become live; every other set id found
 * in the backends map is left over from an interrupted apply: retire it. */
static int adopt_sets(struct applier *a)
{
	struct backend_key key, next, *prev = NULL;
	__u32 *named = NULL;
	size_t n_named = 0, i, d;
	int err = 0;

	named = calloc(a->n_svcs * BPFMESH_MAX_DESTS + 1, sizeof(*named));
	a->sets = calloc(a->n_svcs * BPFMESH_MAX_DESTS + 1, sizeof(*a->sets));
	if (!named || !a->sets) {
		free(named);
		return -ENOMEM;
	}
	for (i = 0; i < a->n_svcs; i++) {
		const struct svc_val *v = &a->svcs[i].val;

		for (d = 0; d < v->n_dests && d < BPFMESH_MAX_DESTS; d++) {
			const struct svc_dest *sd = &v->dests[d];

			if (sd->n_slots == 0 ||
			    bsearch(&sd->set_id, named, n_named, sizeof(*named), cmp_u32))
				continue;
			err = adopt_set(a, sd->set_id, sd->n_slots, sd->set_weight,
					&a->sets[a->n_sets]);
			a->n_sets++; /* counted even on failure, so it is freed */
			if (err)
				goto out;
			named[n_named++] = sd->set_id;
			qsort(named, n_named, sizeof(*named), cmp_u32);
		}
	}
	qsort(a->sets, a->n_sets, sizeof(*a->sets), cmp_set_hash);
	while (bpf_map_get_next_key(a->be_fd, prev, &next) == 0) {
		if (next.set_id >= a->next_set_id)
			a->next_set_id = next.set_id + 1;
		if (!bsearch(&next.set_id, named, n_named, sizeof(*named), cmp_u32))
			err = retire_slot(a, next.set_id, next.slot);
		if (err)
			goto out;
		key = next;
		prev = &key;
	}
out:
	free(named);
	return err;
}

static int adopt_names(struct applier *a)
{
	__u32 key, next, *prev = NULL;
	size_t cap = 0;

	while (bpf_map_get_next_key(a->names_fd, prev, &next) == 0) {
		if (a->n_names == cap) {
			__u32 *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(a->names, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			a->names = p;
		}
		a->names[a->n_names++] = next;
		key = next;
		prev = &key;
	}
	qsort(a->names, a->n_names, sizeof(*a->names), cmp_u32);
	return 0;
}

int applier_adopt(struct applier *a, int svc_fd, int be_fd, int names_fd)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->svc_fd = svc_fd;
	a->be_fd = be_fd;
	a->names_fd = names_fd;
	a->next_set_id = 1;
	err = adopt_services(a);
	if (!err)
		err = adopt_sets(a);
	if (!err)
		err = adopt_names(a);
	if (err)
		applier_free(a);
	return err;
}
