// SPDX-License-Identifier: Apache-2.0
/* Workload identities into the kernel (include/bpfmesh/identity_abi.h):
 * each WorkloadEntry's bpfmesh.io/cgroup path resolved to its cgroup id
 * (the directory's inode number on cgroup2, what
 * bpf_get_current_ancestor_cgroup_id returns), cgroup id -> identity id
 * written, entries of cgroups no longer named deleted. Runs after each
 * apply; a path that does not exist is logged and given no identity. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpfmesh/identity_abi.h>

#include "agent.h"
#include "identity_ids.h"
#include "kern/map_ops.h"
#include "kern/sysfs.h"

struct u64_set {
	const __u64 *v;
	size_t n;
};

static bool cg_unwanted(const void *key, void *ctx)
{
	const struct u64_set *want = ctx;
	__u64 cg;
	size_t i;

	memcpy(&cg, key, sizeof(cg));
	for (i = 0; i < want->n; i++)
		if (want->v[i] == cg)
			return false;
	return true;
}

/* Delete the entries whose cgroup is not in want[0..n). */
static void identities_prune(int fd, const __u64 *want, size_t n)
{
	struct u64_set set = { want, n };

	map_delete_where(&kern_map_ops, fd, sizeof(__u64), cg_unwanted, &set);
}

/* The cgroup id of path (under root), or 0 (logged). */
static __u64 cgroup_id_of(const char *root, const struct image_identity *id)
{
	char path[PATH_MAX * 2];
	struct stat st;
	const char *rel = id->cgroup;

	while (*rel == '/')
		rel++;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		agent_log("WorkloadEntry %s/%s: cgroup %s: %s; its processes have no identity",
			  id->ns, id->name, path, errno ? strerror(errno) : "not a directory");
		return 0;
	}
	return (__u64)st.st_ino;
}

/* How many cgroups are named (0: connect resolves nothing), and a new
 * generation, which invalidates the kernel's cache of resolutions. Written
 * after the identities map, so a cached resolution is never newer than it. */
static int identity_state_write(struct agent *ag, size_t n_cgroups)
{
	int fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_IDENTITY_STATE);
	struct identity_state st = { 0 };
	__u32 zero = 0;

	if (fd < 0)
		return fd;
	bpf_map_lookup_elem(fd, &zero, &st);
	st.n_cgroups = (__u32)n_cgroups;
	st.gen++;
	return bpf_map_update_elem(fd, &zero, &st, BPF_ANY) ? -errno : 0;
}

int agent_sync_identities(struct agent *ag, const struct bpfmesh_image *img)
{
	int fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_IDENTITIES);
	char root[PATH_MAX];
	__u64 *want;
	size_t i, n = 0;
	int err = 0;

	if (fd < 0)
		return fd;
	want = calloc(img->n_identities + 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	if (img->n_identities && (err = cgroup2_root(root, sizeof(root))))
		goto out;
	for (i = 0; i < img->n_identities; i++) {
		struct identity_val v = { .identity = img->identities[i].id };
		__u64 cg = cgroup_id_of(root, &img->identities[i]);

		snprintf(v.workload, sizeof(v.workload), "%.60s/%.58s", img->identities[i].ns,
			 img->identities[i].name);
		if (!cg)
			continue;
		if (bpf_map_update_elem(fd, &cg, &v, BPF_ANY)) {
			err = -errno;
			goto out;
		}
		want[n++] = cg;
	}
	identities_prune(fd, want, n);
	err = identity_state_write(ag, n);
out:
	free(want);
	return err;
}

/* ---- stable ids (identity_ids.c) ---------------------------------------- */

static int ids_read(int fd, struct id_plan *p)
{
	const size_t size = sizeof(__u32) + sizeof(struct identity_rec);
	unsigned char *elems;
	size_t i, n;
	void *got;
	int err = map_collect(&kern_map_ops, fd, sizeof(__u32), sizeof(struct identity_rec), NULL,
			      NULL, &got, &n);

	elems = got;
	p->recs = err ? NULL : calloc(n + 1, sizeof(*p->recs));
	if (!err && !p->recs)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		struct id_record *r = &p->recs[p->n++];

		memcpy(&r->id, elems + i * size, sizeof(r->id));
		memcpy(&r->rec, elems + i * size + sizeof(r->id), sizeof(r->rec));
		r->rec.workload[sizeof(r->rec.workload) - 1] = '\0';
	}
	free(got);
	return err;
}

struct u32_set {
	const __u32 *v;
	size_t n;
};

static bool src_of_freed_id(const void *key, void *ctx)
{
	const struct u32_set *freed = ctx;
	struct src_key k;
	size_t i;

	memcpy(&k, key, sizeof(k));
	for (i = 0; i < freed->n; i++)
		if (freed->v[i] == k.identity)
			return true;
	return false;
}

/* Delete the counters by source of the freed ids: their counts show as
 * source unknown from now on. */
static void src_counters_forget(int fd, const __u32 *ids, size_t n)
{
	struct u32_set freed = { ids, n };

	if (fd >= 0 && n)
		map_delete_where(&kern_map_ops, fd, sizeof(struct src_key), src_of_freed_id,
				 &freed);
}

static int ids_write(int fd, const struct id_plan *p, const struct bpfmesh_image *img)
{
	struct identity_rec rec;
	size_t i;

	for (i = 0; i < p->n_freed; i++)
		bpf_map_delete_elem(fd, &p->freed[i]);
	for (i = 0; i < p->n; i++) {
		if (p->recs[i].dirty && bpf_map_update_elem(fd, &p->recs[i].id, &p->recs[i].rec,
							    BPF_ANY))
			return -errno;
	}
	/* Every named workload: new ones, and retired ones that came back. */
	for (i = 0; i < img->n_identities; i++) {
		memset(&rec, 0, sizeof(rec));
		identity_workload_name(rec.workload, sizeof(rec.workload), img->identities[i].ns,
				       img->identities[i].name);
		if (bpf_map_update_elem(fd, &p->new_id[i], &rec, BPF_ANY))
			return -errno;
	}
	return 0;
}

int agent_identity_ids_assign(struct agent *ag, struct bpfmesh_image *img)
{
	int fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_IDENTITY_IDS);
	struct id_plan p = { 0 };
	int err;

	if (fd < 0)
		return 0; /* no ids map loaded: the compiler's ids stand */
	err = ids_read(fd, &p);
	if (!err)
		err = identity_ids_plan(&p, img, (long long)time(NULL), BPFMESH_MAX_IDENTITY_IDS);
	if (!err)
		err = ids_write(fd, &p, img);
	if (!err) {
		src_counters_forget(lb_loader_map_fd(&ag->loader, BPFMESH_MAP_SRC_COUNTERS),
				    p.freed, p.n_freed);
		identity_ids_remap(img, p.new_id);
	}
	identity_ids_plan_free(&p);
	return err;
}
