// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/sockmap_abi.h>
#include "sock_addr.skel.h"
#include "sockops.skel.h"
#include "sockmap.skel.h"
#include "loader.h"
#include "sysfs.h"

/* The objects, embedded in the binary by their skeletons. */
static const struct {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
} lb_objects[__LB_OBJ_MAX] = {
	[LB_OBJ_SOCK_ADDR] = { "sock_addr", sock_addr_bpf__elf_bytes },
	[LB_OBJ_SOCKOPS] = { "sockops", sockops_bpf__elf_bytes },
	[LB_OBJ_SOCKMAP] = { "sockmap", sockmap_bpf__elf_bytes },
};

const struct lb_program lb_programs[] = {
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_connect4", BPF_CGROUP_INET4_CONNECT, LB_TARGET_CGROUP,
	  "link_connect4" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_getpeername4", BPF_CGROUP_INET4_GETPEERNAME,
	  LB_TARGET_CGROUP, "link_getpeername4" },
	{ LB_OBJ_SOCKOPS, "bpfmesh_sockops", BPF_CGROUP_SOCK_OPS, LB_TARGET_CGROUP,
	  "link_sockops" },
	/* BPF_PROG_TYPE_SYSCALL has no attach type: 0 is what libbpf reports. */
	{ LB_OBJ_SOCKOPS, "bpfmesh_health_sweep", 0, LB_TARGET_NONE, NULL },
	/* Same-node acceleration (bpf/sockmap.bpf.c): a second sockops program
	 * on the cgroup, and the sk_msg program attached to the SOCKHASH. */
	{ LB_OBJ_SOCKMAP, "bpfmesh_sockmap_ops", BPF_CGROUP_SOCK_OPS, LB_TARGET_CGROUP,
	  "link_sockmap_ops" },
	{ LB_OBJ_SOCKMAP, "bpfmesh_sockmap_msg", BPF_SK_MSG_VERDICT, LB_TARGET_SOCKHASH,
	  BPFMESH_MAP_SOCKHASH },
};
const unsigned int lb_n_programs = sizeof(lb_programs) / sizeof(lb_programs[0]);
_Static_assert(sizeof(lb_programs) / sizeof(lb_programs[0]) <= LB_MAX_PROGRAMS,
	       "raise LB_MAX_PROGRAMS");

int lb_pin_path(char *buf, size_t len, const char *bpffs_dir, const char *map_name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", bpffs_dir, map_name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The program of a table row, checked against the row's attach type so that
 * a row naming the wrong function fails at start, not at the first connect. */
static int row_program(struct lb_loader *l, const struct lb_program *row,
		       struct bpf_program **prog)
{
	*prog = bpf_object__find_program_by_name(l->objs[row->obj], row->prog);
	if (!*prog)
		return -ENOENT;
	if ((int)bpf_program__expected_attach_type(*prog) != row->attach_type)
		return -EINVAL;
	return 0;
}

/* A pinned link must belong to the cgroup we are asked to attach to. */
static int link_check_cgroup(struct bpf_link *link, int cgroup_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct stat st;

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return -errno;
	if (fstat(cgroup_fd, &st))
		return -errno;
	if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != st.st_ino)
		return -EXDEV;
	return 0;
}

/* A fresh link from prog to the row's target. */
static struct bpf_link *attach_target(struct lb_loader *l, const struct lb_program *row,
				      struct bpf_program *prog)
{
	switch (row->target) {
	case LB_TARGET_CGROUP:
		return bpf_program__attach_cgroup(prog, l->cgroup_fd);
	case LB_TARGET_NONE:
	case LB_TARGET_SOCKHASH:
		break;
	}
	errno = EINVAL;
	return NULL;
}

/* The pinned link must hold the row's target: for a cgroup, ours. */
static int link_check_target(struct lb_loader *l, const struct lb_program *row,
			     struct bpf_link *link)
{
	switch (row->target) {
	case LB_TARGET_CGROUP:
		return link_check_cgroup(link, l->cgroup_fd);
	case LB_TARGET_NONE:
	case LB_TARGET_SOCKHASH:
		break;
	}
	return -EINVAL;
}

/* A program that lives in a map (sk_msg in the SOCKHASH). 6.1 has no link
 * for it: attaching replaces whatever an earlier agent attached, in place,
 * and the attachment lasts as long as the pinned map. */
static int attach_to_map(struct lb_loader *l, const struct lb_program *row,
			 struct bpf_program *prog)
{
	int map_fd = lb_loader_map_fd(l, row->pin);

	if (map_fd < 0)
		return map_fd;
	if (bpf_prog_attach(bpf_program__fd(prog), map_fd, row->attach_type, 0))
		return -errno;
	return 0;
}

/* Reuse a pinned link (switching it to the new program), or attach anew. */
static int attach_one(struct lb_loader *l, unsigned int i)
{
	const struct lb_program *row = &lb_programs[i];
	struct bpf_program *prog;
	char path[PATH_MAX];
	struct bpf_link *link;
	int err;

	err = row_program(l, row, &prog);
	if (err || row->target == LB_TARGET_NONE)
		return err;
	if (row->target == LB_TARGET_SOCKHASH)
		return attach_to_map(l, row, prog);
	err = lb_pin_path(path, sizeof(path), l->bpffs_dir, row->pin);
	if (err)
		return err;
	link = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
	if (link) {
		err = link_check_target(l, row, link);
		if (!err)
			err = bpf_link__update_program(link, prog);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
		l->adopted = true;
		l->links[i] = link;
		return 0;
	}
	link = attach_target(l, row, prog);
	if (!link)
		return -errno;
	err = bpf_link__pin(link, path);
	if (err) {
		bpf_link__destroy(link);
		return err;
	}
	l->links[i] = link;
	return 0;
}

/* The health arrays and the size each is given (struct lb_sizes). */
static const struct {
	const char *map;
	bool per_cluster;
} sized_maps[] = {
	{ BPFMESH_MAP_EP_COUNTERS, false },
	{ BPFMESH_MAP_EP_HEALTH, false },
	{ BPFMESH_MAP_EP_HISTS, true },
	{ BPFMESH_MAP_CLUSTER_CFG, true },
	{ BPFMESH_MAP_CLUSTER_STATE, true },
};

/* max_entries of the map pinned at path, or 0 when there is none. libbpf
 * refuses to reuse a pin whose max_entries differ from the object's, so a
 * pinned map is re-adopted at the size it was created with. */
static unsigned int pinned_max_entries(const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

/* Size the health arrays of obj: as pinned, else as asked. */
static int size_maps(struct lb_loader *l, struct bpf_object *obj)
{
	char path[PATH_MAX];
	unsigned int i, want, pinned;
	struct bpf_map *m;
	int err;

	for (i = 0; i < sizeof(sized_maps) / sizeof(sized_maps[0]); i++) {
		m = bpf_object__find_map_by_name(obj, sized_maps[i].map);
		if (!m)
			continue;
		err = lb_pin_path(path, sizeof(path), l->bpffs_dir, sized_maps[i].map);
		if (err)
			return err;
		want = sized_maps[i].per_cluster ? l->sizes.max_clusters : l->sizes.max_endpoints;
		pinned = pinned_max_entries(path);
		err = bpf_map__set_max_entries(m, pinned ? pinned : want);
		if (err)
			return err;
	}
	return 0;
}

/* The sizes in force: those of the pinned maps when re-adopted. */
static void read_sizes(struct lb_loader *l)
{
	int fd = lb_loader_map_fd(l, BPFMESH_MAP_EP_HEALTH);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.max_endpoints = info.max_entries;
	fd = lb_loader_map_fd(l, BPFMESH_MAP_CLUSTER_CFG);
	len = sizeof(info);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.max_clusters = info.max_entries;
}

/* Open and load every object; maps pinned by name are shared between them
 * and with an earlier agent through pin_root_path. */
static int load_objects(struct lb_loader *l)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = l->bpffs_dir);
	int i, err;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		const void *bytes;
		size_t sz;

		bytes = lb_objects[i].elf_bytes(&sz);
		opts.object_name = lb_objects[i].name;
		l->objs[i] = bpf_object__open_mem(bytes, sz, &opts);
		if (!l->objs[i]) {
			err = -errno;
			fprintf(stderr, "Failed to open BPF object %s: %d\n", lb_objects[i].name,
				err);
			return err;
		}
		err = size_maps(l, l->objs[i]);
		if (!err)
			err = bpf_object__load(l->objs[i]);
		if (err) {
			fprintf(stderr, "Failed to load BPF programs of %s: %d (%s)\n",
				lb_objects[i].name, err, strerror(-err));
			return err;
		}
	}
	read_sizes(l);
	return 0;
}

/* The node-wide acceleration switch, set before any program is attached
 * (and rewritten on every start: a restart may turn it on or off). */
static int write_sockmap_cfg(struct lb_loader *l, bool no_sockmap)
{
	struct sockmap_cfg cfg = { .disabled = no_sockmap };
	int fd = lb_loader_map_fd(l, BPFMESH_MAP_SOCKMAP_CFG);
	__u32 zero = 0;

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) ? -errno : 0;
}

int lb_loader_open(struct lb_loader *l, const char *bpffs_dir, const char *cgroup_dir,
		   const struct lb_sizes *sizes)
{
	unsigned int i;
	int err;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->sizes.max_endpoints = sizes && sizes->max_endpoints ? sizes->max_endpoints
							       : BPFMESH_MAX_EP_SLOTS;
	l->sizes.max_clusters = sizes && sizes->max_clusters ? sizes->max_clusters
							     : BPFMESH_MAX_CLUSTERS;
	if ((size_t)snprintf(l->bpffs_dir, sizeof(l->bpffs_dir), "%s", bpffs_dir) >=
	    sizeof(l->bpffs_dir))
		return -ENAMETOOLONG;

	err = bpffs_prepare_dir(l->bpffs_dir, &l->created_dir);
	if (err) {
		fprintf(stderr, "Failed to prepare bpffs directory %s: %s\n", bpffs_dir,
			strerror(-err));
		return err;
	}
	l->cgroup_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY);
	if (l->cgroup_fd < 0) {
		err = -errno;
		fprintf(stderr, "Failed to open cgroup %s: %s\n", cgroup_dir, strerror(errno));
		goto cleanup;
	}
	err = load_objects(l);
	if (!err)
		err = write_sockmap_cfg(l, sizes && sizes->no_sockmap);
	if (err)
		goto cleanup;
	for (i = 0; i < lb_n_programs; i++) {
		err = attach_one(l, i);
		if (err == -EXDEV) {
			fprintf(stderr, "Failed to attach: %s holds links of an agent attached to "
				"another cgroup\n", l->bpffs_dir);
			goto cleanup;
		}
		if (err) {
			fprintf(stderr, "Failed to attach %s to %s: %d (%s)\n",
				lb_programs[i].pin, cgroup_dir, err, strerror(-err));
			goto cleanup;
		}
	}
	return 0;

cleanup:
	if (l->adopted)
		lb_loader_close(l); /* never tear down what an earlier agent left running */
	else
		lb_loader_detach(l);
	return err;
}

void lb_loader_close(struct lb_loader *l)
{
	unsigned int i;

	for (i = 0; i < lb_n_programs; i++) {
		bpf_link__destroy(l->links[i]); /* pinned links stay attached */
		l->links[i] = NULL;
	}
	for (i = 0; i < __LB_OBJ_MAX; i++) {
		bpf_object__close(l->objs[i]);
		l->objs[i] = NULL;
	}
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
}

/* Every pin of obj. Objects share maps by pin name, so one may already be
 * gone (bpf_object__unpin_maps stops at the first such map). */
static void unpin_maps(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		if (bpf_map__pin_path(m))
			bpf_map__unpin(m, NULL);
}

static void detach_from_map(struct lb_loader *l, const struct lb_program *row)
{
	struct bpf_program *prog;
	int map_fd;

	if (row->target != LB_TARGET_SOCKHASH || !l->objs[row->obj] || row_program(l, row, &prog))
		return;
	map_fd = lb_loader_map_fd(l, row->pin);
	if (map_fd >= 0)
		bpf_prog_detach2(bpf_program__fd(prog), map_fd, row->attach_type);
}

void lb_loader_detach(struct lb_loader *l)
{
	unsigned int i;

	for (i = 0; i < lb_n_programs; i++) {
		if (l->links[i]) {
			bpf_link__unpin(l->links[i]);
			bpf_link__detach(l->links[i]);
		}
		detach_from_map(l, &lb_programs[i]);
	}
	for (i = 0; i < __LB_OBJ_MAX; i++)
		if (l->objs[i])
			unpin_maps(l->objs[i]);
	lb_loader_close(l);
	if (l->bpffs_dir[0])
		rmdir(l->bpffs_dir); /* fails, harmlessly, if someone else's pins remain */
}

struct bpf_program *lb_loader_program(const struct lb_loader *l, const char *prog)
{
	int i;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		struct bpf_program *p = l->objs[i] ?
			bpf_object__find_program_by_name(l->objs[i], prog) : NULL;

		if (p)
			return p;
	}
	return NULL;
}

int lb_loader_map_fd(const struct lb_loader *l, const char *map_name)
{
	int i;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		struct bpf_map *m = l->objs[i] ?
			bpf_object__find_map_by_name(l->objs[i], map_name) : NULL;

		if (m)
			return bpf_map__fd(m);
	}
	return -ENOENT;
}
