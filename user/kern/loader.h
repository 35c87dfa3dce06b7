/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LOADER_H
#define BPFMESH_LOADER_H
/*
 * Loads the sock_addr programs, pins their maps and links under a bpffs
 * directory and attaches them to one cgroup. A directory that already holds
 * pins from an earlier agent is re-adopted: the maps are reused as they are
 * and the pinned links are switched to the new programs in place, so no
 * connect() ever runs without a program.
 */
#include <limits.h>
#include <stdbool.h>

struct sock_addr_bpf;
struct bpf_link;

enum lb_link {
	LB_LINK_CONNECT4,
	LB_LINK_GETPEERNAME4,
	__LB_LINK_MAX,
};

struct lb_loader {
	struct sock_addr_bpf *skel;
	struct bpf_link *links[__LB_LINK_MAX];
	int cgroup_fd;
	bool created_dir;
	bool adopted; /* pins from an earlier agent were found and reused */
	char bpffs_dir[PATH_MAX];
};

/* 0 or negative errno; on failure everything made so far is undone. */
int lb_loader_open(struct lb_loader *l, const char *bpffs_dir, const char *cgroup_dir);

/* Detach the programs and remove every pin and the directory (clean stop). */
void lb_loader_detach(struct lb_loader *l);

/* Release this process's handles only; pins keep programs attached. */
void lb_loader_close(struct lb_loader *l);

int lb_loader_services_fd(const struct lb_loader *l);
int lb_loader_backends_fd(const struct lb_loader *l);
int lb_loader_names_fd(const struct lb_loader *l);

/* Path of a pinned object (map or link) of an agent using bpffs_dir. */
int lb_pin_path(char *buf, size_t len, const char *bpffs_dir, const char *map_name);

#endif /* BPFMESH_LOADER_H */
