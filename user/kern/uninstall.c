// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "tc_attach.h"
#include "uninstall.h"

bool lb_prog_is_ours(const char *kernel_name)
{
	return !strncmp(kernel_name, LB_PIN_PREFIX, strlen(LB_PIN_PREFIX));
}

static void note_error(int *first, int err)
{
	if (err && !*first)
		*first = err;
}

/* The kernel name of program id, or "" when it is gone. */
static void prog_name(__u32 id, char *name, size_t len)
{
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	name[0] = '\0';
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len))
		snprintf(name, len, "%s", info.name);
	close(fd);
}

/* Every pin of dir: a link is detached before its pin goes (a plain unlink
 * leaves it attached while any process holds it). */
static int remove_pins(const char *dir, struct lb_uninstall_report *r)
{
	char path[PATH_MAX];
	struct dirent *de;
	int fd, first = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		fd = bpf_obj_get(path);
		/* Only a link fd is accepted: a map or program fd is EINVAL. */
		if (fd >= 0 && bpf_link_detach(fd) == 0)
			r->links++;
		if (fd >= 0)
			close(fd);
		if (unlink(path))
			note_error(&first, -errno);
		else
			r->pins++;
	}
	closedir(d);
	if (rmdir(dir))
		note_error(&first, errno == ENOENT ? 0 : -errno);
	else
		r->dir_removed = true;
	return first;
}

/* Is link (by fd) a cgroup link of ours on the cgroup with inode cg_id? */
static bool our_cgroup_link(int fd, __u64 cg_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char name[BPF_OBJ_NAME_LEN];

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_CGROUP ||
	    info.cgroup.cgroup_id != cg_id)
		return false;
	prog_name(info.prog_id, name, sizeof(name));
	return lb_prog_is_ours(name);
}

/* Links still on the cgroup without a pin (an agent still running holds
 * them): found among all of the kernel's links by cgroup id, which is
 * global, so another cgroup's links are never touched. */
static int detach_cgroup_links(__u64 cg_id, struct lb_uninstall_report *r)
{
	__u32 id = 0;
	int fd, first = 0;

	while (!bpf_link_get_next_id(id, &id)) {
		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue; /* gone meanwhile */
		if (our_cgroup_link(fd, cg_id)) {
			if (bpf_link_detach(fd))
				note_error(&first, -errno);
			else
				r->links++;
		}
		close(fd);
	}
	return first;
}

/* Programs of ours attached without a link (bpf_prog_attach). */
static int detach_cgroup_progs(int cg_fd, struct lb_uninstall_report *r)
{
	static const enum bpf_attach_type types[] = {
		BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_SOCK_OPS,
		BPF_CGROUP_INET6_CONNECT, BPF_CGROUP_INET6_GETPEERNAME,
	};
	__u32 ids[64], count, i, t;
	char name[BPF_OBJ_NAME_LEN];
	int fd, first = 0;

	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		count = sizeof(ids) / sizeof(ids[0]);
		if (bpf_prog_query(cg_fd, types[t], 0, NULL, ids, &count))
			continue;
		for (i = 0; i < count; i++) {
			prog_name(ids[i], name, sizeof(name));
			if (!lb_prog_is_ours(name))
				continue;
			fd = bpf_prog_get_fd_by_id(ids[i]);
			if (fd < 0)
				continue;
			if (bpf_prog_detach2(fd, cg_fd, types[t]) == 0)
				r->attachments++;
			else if (errno != EINVAL && errno != ENOENT)
				note_error(&first, -errno); /* EINVAL: link-attached */
			close(fd);
		}
	}
	return first;
}

static int uninstall_cgroup(const char *cgroup_dir, struct lb_uninstall_report *r)
{
	int fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY), first = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		first = -errno;
		close(fd);
		return first;
	}
	note_error(&first, detach_cgroup_links(st.st_ino, r));
	note_error(&first, detach_cgroup_progs(fd, r));
	close(fd);
	return first;
}

/* Our clsact filter on one side of ifindex, if it is there and ours. The
 * qdisc stays: another tool may have filters on it. */
static int remove_tc_filter(int ifindex, enum bpf_tc_attach_point point,
			    struct lb_uninstall_report *r)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_FILTER_HANDLE, .priority = TC_FILTER_PRIO);
	char name[BPF_OBJ_NAME_LEN];
	int err;

	if (bpf_tc_query(&hook, &opts))
		return 0; /* no qdisc or no filter there */
	prog_name(opts.prog_id, name, sizeof(name));
	if (!lb_prog_is_ours(name))
		return 0;
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	err = bpf_tc_detach(&hook, &opts);
	if (!err)
		r->tc_filters++;
	return err;
}

static int uninstall_interfaces(const char *list, struct lb_uninstall_report *r)
{
	char name[IF_NAMESIZE];
	const char *p = list;
	int first = 0, ifindex, got;

	while ((got = tc_iface_next(&p, name)) > 0) {
		ifindex = (int)if_nametoindex(name);
		if (!ifindex) {
			note_error(&first, -ENODEV);
		} else {
			note_error(&first, remove_tc_filter(ifindex, BPF_TC_INGRESS, r));
			note_error(&first, remove_tc_filter(ifindex, BPF_TC_EGRESS, r));
		}
	}
	return got < 0 ? got : first;
}

int lb_uninstall(const char *bpffs_dir, const char *cgroup_dir, const char *interfaces,
		 struct lb_uninstall_report *r)
{
	int first = 0;

	memset(r, 0, sizeof(*r));
	/* Pins first: detaching the pinned links leaves the cgroup pass with
	 * only what an agent still running holds. */
	if (bpffs_dir)
		note_error(&first, remove_pins(bpffs_dir, r));
	if (cgroup_dir)
		note_error(&first, uninstall_cgroup(cgroup_dir, r));
	if (interfaces)
		note_error(&first, uninstall_interfaces(interfaces, r));
	return first;
}
