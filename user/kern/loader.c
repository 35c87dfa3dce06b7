// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "sock_addr.skel.h"
#include "loader.h"
#include "sysfs.h"

static const char *const link_pin_names[__LB_LINK_MAX] = {
	[LB_LINK_CONNECT4] = "link_connect4",
	[LB_LINK_GETPEERNAME4] = "link_getpeername4",
};

int lb_pin_path(char *buf, size_t len, const char *bpffs_dir, const char *map_name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", bpffs_dir, map_name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static struct bpf_program *link_program(struct lb_loader *l, enum lb_link which)
{
	return which == LB_LINK_CONNECT4 ? l->skel->progs.bpfmesh_connect4
					 : l->skel->progs.bpfmesh_getpeername4;
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

/* Reuse a pinned link (switching it to the new program), or attach anew. */
static int attach_one(struct lb_loader *l, enum lb_link which)
{
	struct bpf_program *prog = link_program(l, which);
	char path[PATH_MAX];
	struct bpf_link *link;
	int err;

	err = lb_pin_path(path, sizeof(path), l->bpffs_dir, link_pin_names[which]);
	if (err)
		return err;
	link = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
	if (link) {
		err = link_check_cgroup(link, l->cgroup_fd);
		if (!err)
			err = bpf_link__update_program(link, prog);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
		l->adopted = true;
		l->links[which] = link;
		return 0;
	}
	link = bpf_program__attach_cgroup(prog, l->cgroup_fd);
	if (!link)
		return -errno;
	err = bpf_link__pin(link, path);
	if (err) {
		bpf_link__destroy(link);
		return err;
	}
	l->links[which] = link;
	return 0;
}

int lb_loader_open(struct lb_loader *l, const char *bpffs_dir, const char *cgroup_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	int err, i;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
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
	opts.pin_root_path = l->bpffs_dir;
	l->skel = sock_addr_bpf__open_opts(&opts);
	if (!l->skel) {
		err = -errno;
		fprintf(stderr, "Failed to open BPF object: %d\n", err);
		goto cleanup;
	}
	err = sock_addr_bpf__load(l->skel);
	if (err) {
		fprintf(stderr, "Failed to load BPF programs: %d (%s)\n", err, strerror(-err));
		goto cleanup;
	}
	for (i = 0; i < __LB_LINK_MAX; i++) {
		err = attach_one(l, i);
		if (err == -EXDEV) {
			fprintf(stderr, "Failed to attach: %s holds links of an agent attached to "
				"another cgroup\n", l->bpffs_dir);
			goto cleanup;
		}
		if (err) {
			fprintf(stderr, "Failed to attach %s to %s: %d (%s)\n",
				link_pin_names[i], cgroup_dir, err, strerror(-err));
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
	int i;

	for (i = 0; i < __LB_LINK_MAX; i++) {
		bpf_link__destroy(l->links[i]); /* pinned links stay attached */
		l->links[i] = NULL;
	}
	sock_addr_bpf__destroy(l->skel);
	l->skel = NULL;
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
}

void lb_loader_detach(struct lb_loader *l)
{
	int i;

	for (i = 0; i < __LB_LINK_MAX; i++) {
		if (l->links[i]) {
			bpf_link__unpin(l->links[i]);
			bpf_link__detach(l->links[i]);
		}
	}
	if (l->skel)
		bpf_object__unpin_maps(l->skel->obj, NULL);
	lb_loader_close(l);
	if (l->bpffs_dir[0])
		rmdir(l->bpffs_dir); /* fails, harmlessly, if someone else's pins remain */
}

int lb_loader_services_fd(const struct lb_loader *l)
{
	return bpf_map__fd(l->skel->maps.bpfmesh_lb4_services);
}

int lb_loader_backends_fd(const struct lb_loader *l)
{
	return bpf_map__fd(l->skel->maps.bpfmesh_lb4_backends);
}

int lb_loader_names_fd(const struct lb_loader *l)
{
	return bpf_map__fd(l->skel->maps.bpfmesh_names);
}
