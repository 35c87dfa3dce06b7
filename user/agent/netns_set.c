// SPDX-License-Identifier: Apache-2.0
/* See netns_set.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "netns_set.h"

/* nftw has no context argument: one refresh at a time (the agent's loop). */
static struct netns_set *walking;
static struct stat own_ns;

void netns_set_clear(struct netns_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		close(s->fd[i]);
	s->n = 0;
	s->dropped = 0;
}

static bool netns_set_has(const struct netns_set *s, const struct stat *st)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->ino[i] == st->st_ino && s->dev[i] == st->st_dev)
			return true;
	return false;
}

/* The namespace of pid, added unless already there (or ours). */
static void netns_set_add_pid(struct netns_set *s, long pid)
{
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
	if (stat(path, &st) || (st.st_ino == own_ns.st_ino && st.st_dev == own_ns.st_dev) ||
	    netns_set_has(s, &st))
		return;
	if (s->n == NETNS_SET_MAX) {
		s->dropped++;
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* the process is gone */
	s->fd[s->n] = fd;
	s->ino[s->n] = st.st_ino;
	s->dev[s->n++] = st.st_dev;
}

static int visit_cgroup(const char *dir, const struct stat *sb, int type, struct FTW *ftw)
{
	char path[PATH_MAX];
	long pid;
	FILE *f;

	if (type != FTW_D || (size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >=
	    sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0; /* removed meanwhile */
	while (fscanf(f, "%ld", &pid) == 1)
		netns_set_add_pid(walking, pid);
	fclose(f);
	return 0;
}

int netns_set_refresh(struct netns_set *s, const char *cgroup_dir)
{
	int err;

	netns_set_clear(s);
	if (stat("/proc/thread-self/ns/net", &own_ns))
		return -errno;
	walking = s;
	err = nftw(cgroup_dir, visit_cgroup, 16, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	return err ? -EIO : 0;
}
