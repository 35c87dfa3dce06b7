/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_ATTACH_H
#define BPFMESH_TC_ATTACH_H
/*
 * Attaching a TC program to a network interface's ingress or egress: a tcx link where
 * the kernel has them (Linux 6.6+), pinned like the cgroup links so that it
 * outlives the agent and is re-adopted; a cls_bpf filter on the clsact qdisc
 * otherwise, at a fixed handle and priority, which the kernel keeps until
 * it is deleted and which a new agent replaces in place.
 */
#include <stdbool.h>

struct bpf_link;

/* Our cls_bpf filter's place on clsact ingress and egress. One fixed slot,
 * so that a restarted agent finds and replaces its predecessor's filter
 * (and `bpfmesh uninstall` finds it). */
#define TC_FILTER_HANDLE 0xb9e5
#define TC_FILTER_PRIO 0xb9e5

enum tc_mode {
	TC_MODE_TCX,    /* BPF_LINK_CREATE with BPF_TCX_INGRESS */
	TC_MODE_CLSACT, /* clsact qdisc + cls_bpf filter (bpf_tc_* API) */
};

/* One program on one interface. */
struct tc_attachment {
	enum tc_mode mode;
	int ifindex;
	bool egress;
	struct bpf_link *link; /* tcx */
	bool attached;         /* clsact: our filter is in place */
	bool created_qdisc;    /* clsact: this process created the qdisc */
};

/* Which mode this kernel supports for prog_fd (a SCHED_CLS program). The
 * environment variable BPFMESH_TC_ATTACH=tcx|clsact forces one (tests use
 * it to exercise the fallback on a new kernel). 0 or negative errno. */
int tc_probe_mode(int prog_fd, enum tc_mode *mode);

const char *tc_mode_name(enum tc_mode mode);

/* Attach prog_fd to ifindex's ingress (or egress), or switch an earlier
 * agent's attachment (pin for tcx, the filter for clsact) to prog_fd;
 * *adopted says which. 0 or negative errno (-EXDEV: the pin holds another
 * interface or direction). */
int tc_attach(struct tc_attachment *a, enum tc_mode mode, int prog_fd, int ifindex, bool egress,
	      const char *pin, bool *adopted);

/* Remove the attachment (and the pin, or the qdisc we created). */
void tc_detach(struct tc_attachment *a);

/* Release this process's handles; the attachment stays. */
void tc_close(struct tc_attachment *a);

/* The next name of an --interfaces list "IF[,IF...]" into name (at least
 * IF_NAMESIZE bytes), *cursor advanced past it: 1, 0 at the end, or
 * -EINVAL for an empty or too long name. */
int tc_iface_next(const char **cursor, char *name);

#endif /* BPFMESH_TC_ATTACH_H */
