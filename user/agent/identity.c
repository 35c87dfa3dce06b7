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
#include <bpf/bpf.h>
#include <bpfmesh/identity_abi.h>

#include "agent.h"
#include "kern/sysfs.h"

static bool cg_wanted(const __u64 *ids, size_t n, __u64 id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Delete the entries whose cgroup is not in want[0..n). */
static void identities_prune(int fd, const __u64 *want, size_t n)
{
	__u64 key, next, *stale = NULL;
	size_t n_stale = 0, cap = 0, i;
	void *grown;
	int err = bpf_map_get_next_key(fd, NULL, &next);

	while (!err) {
		key = next;
		if (!cg_wanted(want, n, key)) {
			if (n_stale == cap) {
				cap = cap ? cap * 2 : 16;
				grown = realloc(stale, cap * sizeof(*stale));
				if (!grown)
					break;
				stale = grown;
			}
			stale[n_stale++] = key;
		}
		err = bpf_map_get_next_key(fd, &key, &next);
	}
	for (i = 0; i < n_stale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	free(stale);
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
out:
	free(want);
	return err;
}
