/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SYSFS_H
#define BPFMESH_SYSFS_H
/* Where the kernel's filesystems are: cgroup2 and bpffs. */
#include <stdbool.h>
#include <stddef.h>

/* Mount point of cgroup2, read from /proc/mounts. 0, or -ENOENT. */
int cgroup2_root(char *buf, size_t len);

/* True when path lies on a bpf filesystem. */
bool path_on_bpffs(const char *path);

/* Make sure dir exists on a bpffs, mounting bpffs at /sys/fs/bpf when dir is
 * below it and nothing is mounted there yet. *created tells whether dir was
 * made by this call. 0 or negative errno. */
int bpffs_prepare_dir(const char *dir, bool *created);

#endif /* BPFMESH_SYSFS_H */
