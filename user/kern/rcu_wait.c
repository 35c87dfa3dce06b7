// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <bpf/bpf.h>
#include "rcu_wait.h"

static int outer_fd = -1, inner_fd = -1;
/* The agent waits from its sweep thread and from its loop (an apply that
 * must wait first): the maps are made once. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static int open_maps(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int fd;

	if (outer_fd >= 0)
		return 0;
	if (inner_fd < 0) {
		inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bpfmesh_rcu_in", sizeof(__u32),
					  sizeof(__u32), 1, NULL);
		if (inner_fd < 0)
			return -errno;
	}
	opts.inner_map_fd = inner_fd;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "bpfmesh_rcu_wait", sizeof(__u32),
			    sizeof(__u32), 1, &opts);
	if (fd < 0)
		return -errno;
	outer_fd = fd;
	return 0;
}

int kern_wait_readers(void)
{
	__u32 key = 0;
	int err;

	pthread_mutex_lock(&open_lock);
	err = open_maps();
	pthread_mutex_unlock(&open_lock);
	if (err)
		return err;
	/* Returns after synchronize_rcu(), see rcu_wait.h. */
	return bpf_map_update_elem(outer_fd, &key, &inner_fd, BPF_ANY) ? -errno : 0;
}
