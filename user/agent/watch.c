// SPDX-License-Identifier: Apache-2.0
/*
 * Watching the policy directory with inotify. A change applies at once,
 * with no settle delay (issue 12: a weight change in under 10 ms): a rename
 * into the directory (what editors, ConfigMap volumes and the bench do) is
 * atomic, and so is a close after writing. The one event that can come
 * while a file is half written is its creation (open with O_CREAT, the
 * write still to come): a new regular file with one link is left to the
 * close that follows it. A hard link or symlink created whole is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include "agent.h"

int watch_open(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_DELETE | IN_CREATE | IN_ATTRIB) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A regular file just created and maybe still being written. */
static bool being_written(const char *dir, const struct inotify_event *ev)
{
	char path[PATH_MAX];
	struct stat st;

	if (!(ev->mask & IN_CREATE) || (ev->mask & IN_ISDIR) || !dir)
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir, ev->name);
	return !lstat(path, &st) && S_ISREG(st.st_mode) && st.st_nlink == 1;
}

bool watch_drain(int fd, const char *dir)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			/* Skip editors' dotfiles, but not "..data": Kubernetes swaps
			 * that symlink to update a ConfigMap volume atomically. */
			if ((!ev->len || ev->name[0] != '.' || !strcmp(ev->name, "..data")) &&
			    !(ev->len && being_written(dir, ev)))
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}
