// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc_attach.h"

/* From the kernel's UAPI since 6.6; the build's headers may predate it. */
#define BPFMESH_TCX_INGRESS 46 /* enum bpf_attach_type BPF_TCX_INGRESS */
#define BPFMESH_TCX_EGRESS 47 /* enum bpf_attach_type BPF_TCX_EGRESS */
#define BPFMESH_LINK_TYPE_TCX 11 /* enum bpf_link_type BPF_LINK_TYPE_TCX */

const char *tc_mode_name(enum tc_mode mode)
{
	return mode == TC_MODE_TCX ? "tcx" : "clsact";
}

/* A tcx link to ifindex 0 fails with ENODEV where the kernel has tcx (it
 * got as far as looking the device up) and with EINVAL where it does not
 * know the attach type. Nothing is attached either way. */
int tc_probe_mode(int prog_fd, enum tc_mode *mode)
{
	const char *force = getenv("BPFMESH_TC_ATTACH");
	int fd;

	if (force && !strcmp(force, "clsact")) {
		*mode = TC_MODE_CLSACT;
		return 0;
	}
	fd = bpf_link_create(prog_fd, 0, BPFMESH_TCX_INGRESS, NULL);
	if (fd >= 0) {
		close(fd); /* cannot happen: no device 0 */
		*mode = TC_MODE_TCX;
		return 0;
	}
	if (fd == -ENODEV) {
		*mode = TC_MODE_TCX;
		return 0;
	}
	if (force && !strcmp(force, "tcx"))
		return -EOPNOTSUPP;
	*mode = TC_MODE_CLSACT;
	return 0;
}

static int tcx_attach_type(const struct tc_attachment *a)
{
	return a->egress ? BPFMESH_TCX_EGRESS : BPFMESH_TCX_INGRESS;
}

static enum bpf_tc_attach_point clsact_point(const struct tc_attachment *a)
{
	return a->egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

/* A pinned tcx link must be on our interface and direction. The link info
 * of a tcx link is { ifindex, attach_type } at the start of the union, the
 * same place and shape as the netns member in older UAPI headers. */
static int tcx_link_check(struct bpf_link *link, const struct tc_attachment *a)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return -errno;
	if (info.type != BPFMESH_LINK_TYPE_TCX || (int)info.netns.netns_ino != a->ifindex ||
	    (int)info.netns.attach_type != tcx_attach_type(a))
		return -EXDEV;
	return 0;
}

static int tcx_attach(struct tc_attachment *a, int prog_fd, const char *pin, bool *adopted)
{
	int fd, err;

	if (access(pin, F_OK) == 0) {
		a->link = bpf_link__open(pin);
		if (!a->link)
			return -errno;
		err = tcx_link_check(a->link, a);
		if (!err)
			err = bpf_link_update(bpf_link__fd(a->link), prog_fd, NULL);
		if (err) {
			bpf_link__destroy(a->link);
			a->link = NULL;
			return err;
		}
		*adopted = true;
		return 0;
	}
	/* libbpf 1.1 has no tcx attach call: create the link, pin it, and
	 * take the pinned link as a libbpf link. */
	fd = bpf_link_create(prog_fd, a->ifindex, tcx_attach_type(a), NULL);
	if (fd < 0)
		return fd;
	err = bpf_obj_pin(fd, pin) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	a->link = bpf_link__open(pin);
	if (!a->link) {
		err = -errno;
		unlink(pin);
		return err;
	}
	return 0;
}

static int clsact_attach(struct tc_attachment *a, int prog_fd, bool *adopted)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex, .attach_point = clsact_point(a));
	LIBBPF_OPTS(bpf_tc_opts, query, .handle = TC_FILTER_HANDLE, .priority = TC_FILTER_PRIO);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_FILTER_HANDLE, .priority = TC_FILTER_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	a->created_qdisc = !err;
	*adopted = !a->created_qdisc && bpf_tc_query(&hook, &query) == 0;
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		if (a->created_qdisc)
			bpf_tc_hook_destroy(&hook);
		a->created_qdisc = false;
		return err;
	}
	a->attached = true;
	return 0;
}

int tc_attach(struct tc_attachment *a, enum tc_mode mode, int prog_fd, int ifindex, bool egress,
	      const char *pin, bool *adopted)
{
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->ifindex = ifindex;
	a->egress = egress;
	*adopted = false;
	if (mode == TC_MODE_TCX)
		return tcx_attach(a, prog_fd, pin, adopted);
	return clsact_attach(a, prog_fd, adopted);
}

void tc_detach(struct tc_attachment *a)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex, .attach_point = clsact_point(a));
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_FILTER_HANDLE, .priority = TC_FILTER_PRIO);

	if (a->link) {
		bpf_link__unpin(a->link);
		bpf_link__detach(a->link);
	}
	if (a->attached)
		bpf_tc_detach(&hook, &opts);
	if (a->created_qdisc) {
		/* Destroying the hook removes the whole clsact qdisc: only ours. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	tc_close(a);
}

void tc_close(struct tc_attachment *a)
{
	bpf_link__destroy(a->link);
	a->link = NULL;
	a->attached = false;
	a->created_qdisc = false;
}

int tc_iface_next(const char **cursor, char *name)
{
	const char *p = *cursor, *end;
	size_t len;

	if (!p || !*p)
		return 0;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	len = (size_t)(end - p);
	if (len == 0 || len >= IF_NAMESIZE)
		return -EINVAL;
	memcpy(name, p, len);
	name[len] = '\0';
	*cursor = *end ? end + 1 : end;
	return 1;
}
