// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "node_read.h"
#include "lb_read.h"
#include "loader.h"
#include "map_ops.h"

int node_open(struct node_maps *nm, const char *bpffs_dir)
{
	nm->sockmap_fd = -1;
	nm->ncpu = libbpf_num_possible_cpus();
	if (nm->ncpu <= 0)
		return nm->ncpu ? nm->ncpu : -EINVAL;
	nm->verdicts_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_VERDICTS);
	if (nm->verdicts_fd < 0)
		return nm->verdicts_fd;
	nm->sockmap_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_SOCKMAP_STATS);
	if (nm->sockmap_fd < 0)
		nm->sockmap_fd = -1;
	return 0;
}

void node_close(struct node_maps *nm)
{
	if (nm->verdicts_fd >= 0)
		close(nm->verdicts_fd);
	if (nm->sockmap_fd >= 0)
		close(nm->sockmap_fd);
	nm->verdicts_fd = nm->sockmap_fd = -1;
}

int node_read(const struct node_maps *nm, struct node_counters *out)
{
	int err;

	*out = (struct node_counters){ 0 };
	err = lb_read_verdicts(&kern_map_ops, nm->verdicts_fd, nm->ncpu, out->verdicts);
	if (err || nm->sockmap_fd < 0)
		return err;
	out->have_sockmap = true;
	return map_sum_percpu_u64(&kern_map_ops, nm->sockmap_fd, nm->ncpu, out->sockmap,
				  __BPFMESH_SM_MAX);
}

static const char *const sockmap_stat_names[__BPFMESH_SM_MAX] = {
	[BPFMESH_SM_INSERTED] = "inserted",
	[BPFMESH_SM_INSERT_FAILED] = "insert_failed",
	[BPFMESH_SM_REDIRECT_MSGS] = "redirect_msgs",
	[BPFMESH_SM_REDIRECT_BYTES] = "redirect_bytes",
	[BPFMESH_SM_TCP_MSGS] = "tcp_msgs",
	[BPFMESH_SM_TCP_BYTES] = "tcp_bytes",
	[BPFMESH_SM_FELL_BACK] = "fell_back",
	[BPFMESH_SM_SKIP_OPTOUT] = "skipped_optout",
};

const char *sockmap_stat_name(enum bpfmesh_sockmap_stat s)
{
	return (unsigned)s < __BPFMESH_SM_MAX && sockmap_stat_names[s] ? sockmap_stat_names[s]
									: "unknown";
}
