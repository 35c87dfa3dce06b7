/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets made in another cgroup, for connbench client --mix
 * LABEL=TARGETS@CGROUP (included by connbench.c, which provides die() and
 * enter_cgroup()).
 *
 * The cgroup BPF programs that run on a TCP connection (cgroup/connect4,
 * sockops, sk_msg through a sockmap) are those of the cgroup the socket
 * was created in (the kernel stamps it at socket(), sk_cgrp_data), not
 * those of the process that connects it. So one client thread can
 * alternate, connection by connection, a socket from a cgroup with the
 * agent's programs and one from a cgroup with nothing attached: a child
 * process per cgroup makes sockets there and hands them over a
 * SOCK_SEQPACKET socketpair (SCM_RIGHTS), and the client connects them
 * from its own thread, both variants at the same moments of the machine's
 * noise.
 */
#ifndef BPFMESH_BENCH_SOCKFACTORY_H
#define BPFMESH_BENCH_SOCKFACTORY_H

#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

struct sock_factory {
	int fd;    /* our end of the socketpair; -1: none */
	pid_t pid; /* the child making the sockets */
};

/* One socket to the client: 0, or -errno. */
static int factory_send_one(int chan)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 's';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return -errno;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s, sizeof(int));
	/* Too many sockets in flight (ETOOMANYREFS, bounded by the open file
	 * limit): the client is behind; wait for it. */
	while (sendmsg(chan, &msg, MSG_NOSIGNAL) < 0) {
		if (errno != ETOOMANYREFS && errno != EINTR) {
			err = -errno;
			break;
		}
		usleep(100);
	}
	close(s); /* the one in flight keeps the socket */
	return err;
}

/* Fork a child that joins CGROUP and makes sockets there until the client
 * closes its end (or dies: PR_SET_PDEATHSIG). Call after entering the
 * network namespace: a socket belongs to its creator's. */
static void factory_start(struct sock_factory *f, const char *cgroup)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair: %s", strerror(errno));
	f->pid = fork();
	if (f->pid < 0)
		die("fork: %s", strerror(errno));
	if (f->pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		enter_cgroup(cgroup);
		while (!factory_send_one(sv[1]))
			;
		_exit(0);
	}
	close(sv[1]);
	f->fd = sv[0];
}

/* The next socket the child made: an fd, or -errno. Safe from several
 * threads (one message, one socket). */
static int factory_socket(struct sock_factory *f)
{
	char ctl[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl),
	};
	struct cmsghdr *cm;
	ssize_t r;
	int s;

	do
		r = recvmsg(f->fd, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r < 0 ? -errno : -EPIPE;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&s, CMSG_DATA(cm), sizeof(int));
	return s;
}

static void factory_stop(struct sock_factory *f)
{
	if (f->fd < 0)
		return;
	close(f->fd); /* the child's next send fails: it exits */
	f->fd = -1;
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

#endif /* BPFMESH_BENCH_SOCKFACTORY_H */
