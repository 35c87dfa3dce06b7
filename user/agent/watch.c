// SPDX-License-Identifier: Apache-2.0
/* Watching the policy directory with inotify. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
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

bool watch_drain(int fd)
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
			if (!ev->len || ev->name[0] != '.' || !strcmp(ev->name, "..data"))
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}
