// SPDX-License-Identifier: Apache-2.0
/*
 * Who may write the policy: whoever can write the policy directory or one of
 * its files decides where every connection of the node goes. The agent runs
 * as root, so it refuses a directory (or file) that a group or other users
 * may write, or that another user owns (its owner can chmod it at will).
 * A path on a read-only mount is written by nobody, whatever its mode (a
 * Kubernetes ConfigMap volume is mode 0777 but mounted read-only).
 * --allow-insecure-policy-dir turns the check off, for test setups.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "agent.h"

static bool on_readonly_mount(const char *path)
{
	struct statvfs vfs;

	return statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

/* 0, or -EPERM with why naming path, its mode and owner. */
static int path_check(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st))
		return 0; /* missing: the watch and the parser say so */
	if (on_readonly_mount(path))
		return 0;
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s is mode %04o: writable by %s", path,
			 (unsigned int)(st.st_mode & 07777),
			 (st.st_mode & S_IWOTH) ? "every user" : "its group");
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "%s (mode %04o) is owned by uid %u, neither root nor this agent",
			 path, (unsigned int)(st.st_mode & 07777), (unsigned int)st.st_uid);
		return -EPERM;
	}
	return 0;
}

static bool is_policy_file(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
				  (n > 4 && !strcmp(name + n - 4, ".yml")));
}

int policy_perm_check(const char *policies, char *why, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int err = path_check(policies, why, len);
	DIR *d;

	if (err)
		return err;
	d = opendir(policies);
	if (!d)
		return 0; /* a file, checked above */
	while (!err && (de = readdir(d)))
		if (is_policy_file(de->d_name) &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", policies, de->d_name) <
			    sizeof(path))
			err = path_check(path, why, len);
	closedir(d);
	return err;
}
