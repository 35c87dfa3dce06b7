// SPDX-License-Identifier: Apache-2.0
/* Counters by source of reassigned endpoint slots (src_slots.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpfmesh/identity_abi.h>
#include "src_slots.h"

/* The slots given out, sorted (the counters step lists each once). */
struct new_slots {
	__u32 *v;
	size_t n;
};

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static bool of_new_slot(const void *key, void *ctx)
{
	const struct new_slots *s = ctx;
	struct src_key k;

	memcpy(&k, key, sizeof(k));
	return bsearch(&k.ep_slot, s->v, s->n, sizeof(*s->v), u32_cmp) != NULL;
}

int src_slots_forget_new(const struct map_ops *ops, const int fds[__APPLY_MAP_MAX],
			 const struct apply_plan *p)
{
	const struct map_step *st = NULL;
	struct new_slots s;
	size_t i;
	int err;

	if (fds[APPLY_MAP_SRC_COUNTERS] <= 0)
		return 0;
	for (i = 0; i < p->n_steps; i++)
		if (p->steps[i].map == APPLY_MAP_EP_COUNTERS && p->steps[i].kind == STEP_WRITE)
			st = &p->steps[i];
	if (!st || !st->n)
		return 0;
	s.n = st->n;
	s.v = malloc(s.n * sizeof(*s.v));
	if (!s.v)
		return -ENOMEM;
	memcpy(s.v, st->keys, s.n * sizeof(*s.v));
	qsort(s.v, s.n, sizeof(*s.v), u32_cmp);
	err = map_delete_where(ops, fds[APPLY_MAP_SRC_COUNTERS], sizeof(struct src_key),
			       of_new_slot, &s);
	free(s.v);
	return err;
}
