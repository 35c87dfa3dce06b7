// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "policy/par.h"

/* What one step changed: the first done elements; for a delete, what each
 * deleted key held (saved[i]: it existed and was deleted). */
struct step_undo {
	size_t done;
	void *saved_vals;
	unsigned char *saved;
};

static const char *elem(const void *base, size_t size, size_t i)
{
	return (const char *)base + i * size;
}

static int write_one(const struct map_ops *ops, int fd, const struct map_step *s,
		     const void *key, const void *val)
{
	size_t done;

	return ops->update_many(fd, key, s->key_size, val, s->val_size, 1, &done);
}

/* Delete each key, keeping its value first; a key already gone is skipped. */
static int run_delete(const struct map_ops *ops, int fd, const struct map_step *s,
		      struct step_undo *u)
{
	size_t i;
	int err;

	u->saved_vals = calloc(s->n + 1, s->val_size);
	u->saved = calloc(s->n + 1, 1);
	if (!u->saved_vals || !u->saved)
		return -ENOMEM;
	for (i = 0; i < s->n; i++, u->done++) {
		const void *key = elem(s->keys, s->key_size, i);
		void *val = (char *)u->saved_vals + i * s->val_size;

		err = ops->lookup(fd, key, val);
		if (err == -ENOENT)
			continue;
		if (!err)
			err = ops->delete(fd, key);
		if (err)
			return err;
		u->saved[i] = 1;
	}
	return 0;
}

/* The first word of each value, stored as one atomic word: the switch. */
static int run_publish(const struct map_ops *ops, int fd, const struct map_step *s,
		       const void *vals, struct step_undo *u)
{
	int err;

	for (; u->done < s->n; u->done++) {
		__u32 key, word;

		memcpy(&key, elem(s->keys, s->key_size, u->done), sizeof(key));
		memcpy(&word, elem(vals, s->val_size, u->done), sizeof(word));
		err = ops->store_u32(fd, s->val_size, key, word);
		if (err)
			return err;
	}
	return 0;
}

static int run_step(const struct map_ops *ops, int fd, const struct map_step *s,
		    struct step_undo *u)
{
	if (s->kind == STEP_DELETE)
		return run_delete(ops, fd, s, u);
	if (s->kind == STEP_PUBLISH)
		return run_publish(ops, fd, s, s->vals, u);
	return ops->update_many(fd, s->keys, s->key_size, s->vals, s->val_size, s->n, &u->done);
}

/* Put back the first u->done elements of step s. Returns the failures. */
static size_t undo_step(const struct map_ops *ops, int fd, const struct map_step *s,
			const struct step_undo *u)
{
	size_t i, failed = 0;

	if (s->kind == STEP_PUBLISH) {
		struct step_undo back = {};
		struct map_step first = *s;

		first.n = u->done; /* only those stored */
		return run_publish(ops, fd, &first, s->prev_vals, &back) ? first.n - back.done : 0;
	}
	/* Putting deleted keys back inserts: an element the deletes freed may
	 * be reused while a program still reads it (lb_abi.h "Atomic
	 * switch"), so let those programs finish first. */
	if (s->kind == STEP_DELETE && u->done && ops->wait_readers())
		return u->done;
	for (i = u->done; i-- > 0;) {
		const void *key = elem(s->keys, s->key_size, i);
		int err = 0;

		if (s->kind == STEP_DELETE) {
			if (u->saved[i])
				err = write_one(ops, fd, s, key, elem(u->saved_vals, s->val_size, i));
		} else if (s->prev_existed && s->prev_existed[i]) {
			err = write_one(ops, fd, s, key, elem(s->prev_vals, s->val_size, i));
		} else {
			err = ops->delete(fd, key);
			if (err == -ENOENT)
				err = 0;
		}
		failed += err != 0;
	}
	return failed;
}

/*
 * The unordered steps (plan.h) on two threads (policy/par.c): a cold start
 * writes ~250,000 elements there, each a syscall's worth of kernel work (a
 * hash insert ~1-1.5 us), on one CPU while the other idles. Taken longest
 * first by whichever thread is free, so the two end close together.
 */
struct unordered_run {
	const struct map_ops *ops;
	const int *fds;
	const struct apply_plan *p;
	struct step_undo *undo;
	size_t order[APPLY_MAX_STEPS]; /* step indexes, longest first */
	int err; /* the first failure; the other thread then stops at a step */
};

/* Estimated ns of kernel time to write step s (measured on 6.1 and 6.18:
 * a hash element ~1.5 us, an array element ~0.3 us and its copy). */
static size_t step_cost(const struct map_step *s)
{
	bool hash = s->map == APPLY_MAP_SERVICES || s->map == APPLY_MAP_ROUTES ||
		    s->map == APPLY_MAP_BACKENDS || s->map == APPLY_MAP_NAMES ||
		    s->map == APPLY_MAP_LB_TABLES;

	return s->n * (hash ? 1500 : 300 + s->val_size / 2);
}

static void run_unordered_step(void *ctx, size_t j)
{
	struct unordered_run *r = ctx;
	size_t i = r->order[j];
	int err, none = 0;

	if (__atomic_load_n(&r->err, __ATOMIC_ACQUIRE))
		return; /* not reached: its undo has done 0, a no-op */
	err = run_step(r->ops, r->fds[r->p->steps[i].map], &r->p->steps[i], &r->undo[i]);
	if (err)
		__atomic_compare_exchange_n(&r->err, &none, err, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
}

/* How many leading steps may run two at once: the unordered writes. */
static size_t unordered_steps(const struct map_ops *ops, const struct apply_plan *p)
{
	size_t n = 0;

	while (ops->concurrent && n < p->n_unordered && n < p->n_steps &&
	       p->steps[n].kind == STEP_WRITE)
		n++;
	return n > 1 ? n : 0;
}

/* Run the first n steps on two threads; 0 or the first failure. */
static int run_unordered(const struct map_ops *ops, const int *fds, const struct apply_plan *p,
			 size_t n, struct step_undo *undo)
{
	struct unordered_run r = { .ops = ops, .fds = fds, .p = p, .undo = undo };
	size_t i, j;

	for (i = 0; i < n; i++) { /* insertion sort by cost, longest first */
		for (j = i; j > 0 && step_cost(&p->steps[r.order[j - 1]]) < step_cost(&p->steps[i]); j--)
			r.order[j] = r.order[j - 1];
		r.order[j] = i;
	}
	par_for(n, par_threads(n, 2), run_unordered_step, &r);
	return r.err;
}

int apply_exec(const struct map_ops *ops, const int fds[__APPLY_MAP_MAX],
	       const struct apply_plan *p, size_t *undo_failures)
{
	struct step_undo undo[APPLY_MAX_STEPS] = {};
	size_t i, ran = unordered_steps(ops, p), failed = 0;
	int err = ran ? run_unordered(ops, fds, p, ran, undo) : 0;

	for (; ran < p->n_steps && !err; ran++)
		err = run_step(ops, fds[p->steps[ran].map], &p->steps[ran], &undo[ran]);
	for (i = ran; err && i-- > 0;)
		failed += undo_step(ops, fds[p->steps[i].map], &p->steps[i], &undo[i]);
	for (i = 0; i < p->n_steps; i++) {
		free(undo[i].saved_vals);
		free(undo[i].saved);
	}
	if (undo_failures)
		*undo_failures = failed;
	return err;
}
