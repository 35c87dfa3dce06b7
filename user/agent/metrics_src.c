// SPDX-License-Identifier: Apache-2.0
/*
 * A scrape's counters by source (metrics_src.h). The source_* labels are
 * Istio's for a source reporter (istio/proxy istio_stats, ClientSidecar):
 * the calling workload's name, namespace, app, version and canonical
 * service/revision, derived from its WorkloadEntry's labels exactly as the
 * destination side is (metrics/workload.h, at compile time). source_principal
 * is the URI SAN of the local certificate of the upstream TLS connection,
 * and "unknown" without one: bpfmesh carries no mTLS, so it stays unknown
 * even when the WorkloadEntry names a serviceAccount. source_cluster stays
 * unknown (one cluster), as on the destination side.
 *
 * An id no workload of the policy in force has (retired, still counted;
 * identity_ids.c) is labelled from its record alone: the workload and its
 * namespace, every other label unknown, as a retired cluster is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "kern/map_ops.h"
#include "metrics_src.h"

static int key_cmp(const void *a, const void *b)
{
	const struct src_key *x = a, *y = b;

	if (x->ep_slot != y->ep_slot)
		return x->ep_slot < y->ep_slot ? -1 : 1;
	return x->identity < y->identity ? -1 : x->identity > y->identity;
}

static int identity_cmp(const void *key, const void *elem)
{
	__u32 id = *(const __u32 *)key;
	const struct image_identity *x = elem;

	return id < x->id ? -1 : id > x->id;
}

/* Every key of the map, sorted. */
static int src_keys(int fd, struct src_scrape *ss)
{
	void *keys;
	int err = map_collect_keys(&kern_map_ops, fd, sizeof(struct src_key), NULL, NULL, &keys,
				   &ss->n);

	ss->keys = keys;
	if (err)
		return err;
	qsort(ss->keys, ss->n, sizeof(*ss->keys), key_cmp);
	return 0;
}

/* The entry summed over CPUs; false when it went meanwhile. */
static bool src_sum(int fd, const struct src_key *k, struct ep_counters *per_cpu, int ncpu,
		    struct ep_counters *sum)
{
	const __u64 *v;
	__u64 *out = (__u64 *)sum;
	size_t f, n_fields = sizeof(*sum) / sizeof(__u64);
	int cpu;

	if (bpf_map_lookup_elem(fd, k, per_cpu))
		return false;
	memset(sum, 0, sizeof(*sum));
	for (cpu = 0; cpu < ncpu; cpu++) {
		v = (const __u64 *)&per_cpu[cpu];
		for (f = 0; f < n_fields; f++)
			out[f] += v[f];
	}
	return true;
}

/* The labels of identity id: the image's, else its record's name. */
static void src_labels(struct agent *ag, int ids_fd, __u32 id, char *name, struct mx_workload *w)
{
	const struct image_identity *im = NULL;
	struct identity_rec rec;
	char *slash;

	memset(w, 0, sizeof(*w));
	if (ag->have_img && ag->img.n_identities)
		im = bsearch(&id, ag->img.identities, ag->img.n_identities,
			     sizeof(*ag->img.identities), identity_cmp);
	if (im) {
		*w = (struct mx_workload){ .workload = im->workload, .ns = im->ns, .app = im->app,
					   .version = im->version,
					   .canonical_service = im->canonical_service,
					   .canonical_revision = im->canonical_revision };
		return;
	}
	if (ids_fd < 0 || bpf_map_lookup_elem(ids_fd, &id, &rec))
		return;
	memcpy(name, rec.workload, BPFMESH_IDENTITY_NAME_LEN);
	name[BPFMESH_IDENTITY_NAME_LEN - 1] = '\0';
	slash = strchr(name, '/');
	if (!slash)
		return;
	*slash = '\0';
	w->ns = name;
	w->workload = slash + 1;
}

/* bpfmesh_src_overflow_v1, summed over CPUs. */
static void src_overflow(struct src_scrape *ss, struct agent *ag, int ncpu)
{
	int fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_SRC_OVERFLOW);
	__u64 *v = calloc((size_t)ncpu, sizeof(*v));
	__u32 zero = 0;
	int cpu;

	if (fd >= 0 && v && !bpf_map_lookup_elem(fd, &zero, v)) {
		ss->have_overflow = true;
		for (cpu = 0; cpu < ncpu; cpu++)
			ss->overflow += v[cpu];
	}
	free(v);
}

int src_scrape_read(struct src_scrape *ss, struct agent *ag)
{
	int fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_SRC_COUNTERS);
	int ids_fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_IDENTITY_IDS);
	int ncpu = libbpf_num_possible_cpus();
	struct ep_counters *per_cpu, sum;
	size_t i, kept = 0;
	int err;

	memset(ss, 0, sizeof(*ss));
	if (fd < 0 || ncpu <= 0)
		return 0;
	src_overflow(ss, ag, ncpu);
	err = src_keys(fd, ss);
	if (err)
		return err;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	ss->srcs = calloc(ss->n + 1, sizeof(*ss->srcs));
	ss->names = calloc(ss->n + 1, sizeof(*ss->names));
	if (!per_cpu || !ss->srcs || !ss->names) {
		free(per_cpu);
		return -ENOMEM;
	}
	for (i = 0; i < ss->n; i++) {
		if (!src_sum(fd, &ss->keys[i], per_cpu, ncpu, &sum))
			continue;
		ss->keys[kept] = ss->keys[i];
		mx_copy_counters(&ss->srcs[kept].c, &sum);
		src_labels(ag, ids_fd, ss->keys[i].identity, ss->names[kept], &ss->srcs[kept].w);
		kept++;
	}
	ss->n = kept;
	free(per_cpu);
	return 0;
}

void src_scrape_attach(const struct src_scrape *ss, __u32 slot, struct mx_endpoint *e)
{
	size_t lo = 0, hi = ss->n, first;

	while (lo < hi) { /* the first key of slot */
		size_t mid = lo + (hi - lo) / 2;

		if (ss->keys[mid].ep_slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < ss->n && ss->keys[lo].ep_slot == slot)
		lo++;
	e->sources = lo > first ? &ss->srcs[first] : NULL;
	e->n_sources = lo - first;
}

void src_scrape_free(struct src_scrape *ss)
{
	free(ss->keys);
	free(ss->srcs);
	free(ss->names);
	memset(ss, 0, sizeof(*ss));
}
