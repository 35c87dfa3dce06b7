// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include "sysfs.h"

#define BPFFS_DEFAULT_MOUNT "/sys/fs/bpf"

int cgroup2_root(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0) {
			if ((size_t)snprintf(buf, len, "%s", m->mnt_dir) >= len)
				err = -ENAMETOOLONG;
			else
				err = 0;
			break;
		}
	}
	endmntent(f);
	return err;
}

bool path_on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int bpffs_prepare_dir(const char *dir, bool *created)
{
	size_t root_len = strlen(BPFFS_DEFAULT_MOUNT);

	*created = false;
	if (strncmp(dir, BPFFS_DEFAULT_MOUNT, root_len) == 0 &&
	    (dir[root_len] == '/' || dir[root_len] == '\0') &&
	    !path_on_bpffs(BPFFS_DEFAULT_MOUNT)) {
		if (mkdir(BPFFS_DEFAULT_MOUNT, 0700) && errno != EEXIST)
			return -errno;
		if (mount("bpf", BPFFS_DEFAULT_MOUNT, "bpf", 0, "mode=0700"))
			return -errno;
	}
	if (mkdir(dir, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	return path_on_bpffs(dir) ? 0 : -ENOTDIR;
}
