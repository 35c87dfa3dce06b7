// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "lb_read.h"

struct svc_walk {
	const struct map_ops *ops;
	const struct svc_maps *m;
	struct svc_entry *e;
	size_t n, cap;
};

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct svc_key));
}

/* The route the head of index names now, into e. A route read while an
 * agent switches may be deleted between reading the head and the route
 * (user space reads outside RCU): then the head has moved on, read again. */
static int read_route(const struct svc_walk *w, __u32 index, struct svc_entry *e)
{
	struct svc_head head;
	int tries, err = 0;

	for (tries = 0; tries < 3; tries++) {
		err = w->ops->lookup(w->m->heads_fd, &index, &head);
		if (err)
			return err;
		e->route_id = head.route_id;
		if (!head.route_id)
			return 0;
		err = w->ops->lookup(w->m->routes_fd, &head.route_id, &e->val);
		if (err != -ENOENT)
			return err;
	}
	return err;
}

static int collect_service(const void *key, const void *val, void *ctx)
{
	struct svc_walk *w = ctx;
	struct svc_entry *e;
	int err;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;

		e = realloc(w->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->e = e;
		w->cap = cap;
	}
	e = &w->e[w->n];
	memset(e, 0, sizeof(*e));
	memcpy(&e->key, key, sizeof(e->key));
	memcpy(&e->index, val, sizeof(e->index));
	err = read_route(w, e->index, e);
	if (err == -ENOENT) { /* a route gone for good: shown as none */
		e->route_id = 0;
		memset(&e->val, 0, sizeof(e->val));
		err = 0;
	}
	w->n += !err;
	return err;
}

static int max_entries(int fd, __u32 *out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*out = info.max_entries;
	return 0;
}

int lb_svc_maps_sizes(struct svc_maps *m)
{
	int err = max_entries(m->heads_fd, &m->max_services);

	return err ? err : max_entries(m->routes_fd, &m->max_routes);
}

int lb_read_services(const struct map_ops *ops, const struct svc_maps *m, struct svc_entry **out,
		     size_t *n)
{
	struct svc_walk w = { .ops = ops, .m = m };
	int err;

	*n = 0;
	*out = NULL;
	err = map_for_each(ops, m->ids_fd, sizeof(struct svc_key), sizeof(__u32), collect_service,
			   &w);
	if (err) {
		free(w.e);
		return err;
	}
	if (w.n)
		qsort(w.e, w.n, sizeof(*w.e), cmp_entry);
	*out = w.e ? w.e : calloc(1, sizeof(*w.e));
	if (!*out)
		return -ENOMEM;
	*n = w.n;
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
