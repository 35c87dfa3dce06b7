/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_NETNS_SET_H
#define BPFMESH_NETNS_SET_H
/*
 * The network namespaces that the processes of a cgroup subtree live in,
 * each held open by an fd: a socket iterator walks the namespace it was
 * created in, so the connection sweep (conn_sweep.c) creates one in each
 * (a pod's sockets are in the pod's namespace, not the agent's).
 */
#include <stddef.h>
#include <sys/types.h>

#define NETNS_SET_MAX 4096

struct netns_set {
	int fd[NETNS_SET_MAX]; /* open /proc/PID/ns/net, one per namespace */
	ino_t ino[NETNS_SET_MAX];
	dev_t dev[NETNS_SET_MAX];
	size_t n;
	size_t dropped; /* namespaces beyond NETNS_SET_MAX at the last refresh */
};

/* Replace the set with the namespaces of every process in cgroup_dir and
 * its descendants, leaving out the one this thread is in. 0 or negative
 * errno (the set is then empty). */
int netns_set_refresh(struct netns_set *s, const char *cgroup_dir);
void netns_set_clear(struct netns_set *s);

#endif /* BPFMESH_NETNS_SET_H */
