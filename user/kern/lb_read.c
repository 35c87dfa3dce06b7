// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lb_read.h"

struct svc_pair {
	struct svc_key key;
	struct svc_val val;
};

struct svc_pairs {
	struct svc_pair *p;
	size_t n, cap;
};

static int cmp_pair(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct svc_key));
}

static int collect_service(const void *key, const void *val, void *ctx)
{
	struct svc_pairs *ps = ctx;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct svc_pair *p = realloc(ps->p, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ps->p = p;
		ps->cap = cap;
	}
	memcpy(&ps->p[ps->n].key, key, sizeof(struct svc_key));
	memcpy(&ps->p[ps->n++].val, val, sizeof(struct svc_val));
	return 0;
}

int lb_read_services(const struct map_ops *ops, int fd, struct svc_key **keys,
		     struct svc_val **vals, size_t *n)
{
	struct svc_pairs ps = {};
	size_t i;
	int err;

	*n = 0;
	*keys = NULL;
	*vals = NULL;
	err = map_for_each(ops, fd, sizeof(struct svc_key), sizeof(struct svc_val),
			   collect_service, &ps);
	if (!err && ps.n)
		qsort(ps.p, ps.n, sizeof(*ps.p), cmp_pair);
	if (!err) {
		*keys = calloc(ps.n + 1, sizeof(**keys));
		*vals = calloc(ps.n + 1, sizeof(**vals));
		if (!*keys || !*vals)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < ps.n; i++) {
		(*keys)[i] = ps.p[i].key;
		(*vals)[i] = ps.p[i].val;
	}
	free(ps.p);
	if (err) {
		free(*keys);
		free(*vals);
		*keys = NULL;
		*vals = NULL;
		return err;
	}
	*n = ps.n;
	return 0;
}

int lb_read_verdicts(const struct map_ops *ops, int fd, int ncpu,
		     __u64 counts[__BPFMESH_V_MAX])
{
	return map_sum_percpu_u64(ops, fd, ncpu, counts, __BPFMESH_V_MAX);
}

static const char *const verdict_names[__BPFMESH_V_MAX] = {
	[BPFMESH_V_PASSTHROUGH] = "passthrough",
	[BPFMESH_V_REDIRECTED] = "redirected",
	[BPFMESH_V_NO_UPSTREAM] = "no_healthy_upstream",
	[BPFMESH_V_MISSING_SET] = "missing_backend_set",
	[BPFMESH_V_ALL_EJECTED] = "all_ejected",
	[BPFMESH_V_NO_SOCK_STORAGE] = "no_socket_storage",
};

const char *lb_verdict_name(enum bpfmesh_verdict v)
{
	return (unsigned)v < __BPFMESH_V_MAX && verdict_names[v] ? verdict_names[v] : "unknown";
}
