// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "health_read.h"
#include "loader.h"

static unsigned int max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

int health_open(struct health_maps *hm, const char *bpffs_dir)
{
	static const char *const names[] = {
		BPFMESH_MAP_EP_COUNTERS, BPFMESH_MAP_EP_HEALTH, BPFMESH_MAP_EP_HISTS,
		BPFMESH_MAP_CLUSTER_CFG, BPFMESH_MAP_CLUSTER_STATE, BPFMESH_MAP_NAMES,
	};
	int *fds[] = { &hm->counters_fd, &hm->health_fd, &hm->hists_fd,
		       &hm->cfg_fd, &hm->state_fd, &hm->names_fd };
	unsigned int i;

	memset(hm, 0, sizeof(*hm));
	hm->ops = &kern_map_ops;
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		*fds[i] = -1;
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		*fds[i] = lb_pin_open(bpffs_dir, names[i]);
		if (*fds[i] < 0) {
			int err = *fds[i];

			health_close(hm);
			return err;
		}
	}
	hm->max_endpoints = max_entries(hm->health_fd);
	hm->max_clusters = max_entries(hm->cfg_fd);
	return 0;
}

void health_close(struct health_maps *hm)
{
	int *fds[] = { &hm->counters_fd, &hm->health_fd, &hm->hists_fd,
		       &hm->cfg_fd, &hm->state_fd, &hm->names_fd };
	unsigned int i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* One slot's counters (one value shared by all CPUs: health_abi.h). */
static int read_counters(const struct health_maps *hm, __u32 slot, struct ep_counters *out)
{
	struct ep_counters_elem e;
	int err = hm->ops->lookup(hm->counters_fd, &slot, &e);

	*out = err ? (struct ep_counters){ 0 } : e.c;
	return err;
}

int health_read_endpoint(const struct health_maps *hm, __u32 slot, struct health_endpoint *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->slot = slot;
	if (slot == 0 || slot >= hm->max_endpoints)
		return -ENOENT;
	err = hm->ops->lookup(hm->health_fd, &slot, &out->h);
	if (err)
		return err;
	if (out->h.cluster_slot == 0)
		return -ENOENT;
	return read_counters(hm, slot, &out->c);
}

int health_read_cluster(const struct health_maps *hm, __u32 slot, struct health_cluster *out)
{
	struct name_val nv;
	int err;

	memset(out, 0, sizeof(*out));
	out->slot = slot;
	if (slot == 0 || slot >= hm->max_clusters)
		return -ENOENT;
	err = hm->ops->lookup(hm->cfg_fd, &slot, &out->cfg);
	if (err)
		return err;
	if (out->cfg.name_id == 0)
		return -ENOENT;
	err = hm->ops->lookup(hm->state_fd, &slot, &out->st);
	if (err)
		return err;
	if (hm->ops->lookup(hm->names_fd, &out->cfg.name_id, &nv) == 0) {
		nv.name[BPFMESH_NAME_LEN - 1] = '\0';
		snprintf(out->name, sizeof(out->name), "%s", nv.name);
	} else {
		snprintf(out->name, sizeof(out->name), "#%08x", out->cfg.name_id);
	}
	return 0;
}

int health_read_hists(const struct health_maps *hm, __u32 slot, struct cluster_hists *out)
{
	if (slot == 0 || slot >= hm->max_clusters)
		return -ENOENT;
	return hm->ops->lookup(hm->hists_fd, &slot, out);
}

int health_for_each_endpoint(const struct health_maps *hm, health_endpoint_fn fn, void *ctx)
{
	struct health_endpoint ep;
	__u32 slot;
	int err;

	for (slot = 1; slot < hm->max_endpoints; slot++) {
		err = health_read_endpoint(hm, slot, &ep);
		if (err == -ENOENT)
			continue;
		if (!err)
			err = fn(&ep, ctx);
		if (err)
			return err;
	}
	return 0;
}

int health_for_each_cluster(const struct health_maps *hm, health_cluster_fn fn, void *ctx)
{
	struct health_cluster cl;
	__u32 slot;
	int err;

	for (slot = 1; slot < hm->max_clusters; slot++) {
		err = health_read_cluster(hm, slot, &cl);
		if (err == -ENOENT)
			continue;
		if (!err)
			err = fn(&cl, ctx);
		if (err)
			return err;
	}
	return 0;
}

void health_endpoint_addr(const struct ep_health *h, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	__be32 addr[4];
	int family = ep_health_get_addr(h, addr);

	inet_ntop(family, addr, ip, sizeof(ip));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, ntohs(h->port));
}

bool health_is_ejected(const struct ep_health *h, __u64 now_ns)
{
	return h->ejected_until_ns != 0 &&
	       (h->ejected_until_ns == BPFMESH_EJECTING || h->ejected_until_ns > now_ns);
}
