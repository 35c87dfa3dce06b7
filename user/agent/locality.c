// SPDX-License-Identifier: Apache-2.0
/*
 * Publishes each endpoint's locality and priority on this node into
 * bpfmesh_loc4_endpoints_v1 (include/bpfmesh/locality_abi.h) after every
 * apply, for `bpfmesh maps endpoints` and `bpfmesh stats`. The weights
 * themselves are in the backend sets; this is what the CLI cannot read back
 * from them. Only differences are written; display only, so a failed write
 * is logged and retried at the next apply, never blocks one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpfmesh/locality_abi.h>
#include "agent.h"
#include "kern/map_ops.h"

struct loc_pub {
	struct agent *ag;
	int fd;
	struct slot_index eps, cls;
	unsigned char *seen; /* per endpoint slot: has an entry this time */
	int failed;
};

static int put(struct loc_pub *p, __u32 slot, const struct ep_locality *v)
{
	struct agent *ag = p->ag;

	p->seen[slot] = 1;
	if (ag->loc_present[slot] && !memcmp(&ag->loc_cache[slot], v, sizeof(*v)))
		return 0;
	if (bpf_map_update_elem(p->fd, &slot, v, BPF_ANY))
		return -errno;
	ag->loc_cache[slot] = *v;
	ag->loc_present[slot] = 1;
	return 0;
}

/* One set: the priorities as the plan computed them, per endpoint slot. */
static int publish_set(struct loc_pub *p, const struct image_set *set)
{
	const struct applier *a = &p->ag->applier;
	struct slot_key ck = { .name = set->cluster };
	__u32 cl = slot_index_find(&p->cls, &ck), j;
	struct loc_result res;
	struct loc_out *out = calloc(set->n_slots + 1, sizeof(*out));
	bool *healthy = calloc(set->n_slots + 1, sizeof(*healthy));
	__u32 *slots = calloc(set->n_slots + 1, sizeof(*slots));
	int err = out && healthy && slots ? 0 : -ENOMEM;

	for (j = 0; !err && j < set->n_slots; j++) {
		struct slot_key k = { .cluster_slot = cl, .port = set->slots[j].port,
				      .family = set->family == AF_INET6 ? AF_INET6 : AF_INET };

		memcpy(k.addr, set->slots[j].addr, sizeof(k.addr));

		slots[j] = cl ? slot_index_find(&p->eps, &k) : 0;
		healthy[j] = !((set->cfg.flags & BPFMESH_CLUSTER_F_OUTLIER) &&
			       has_u32(a->ejected, a->n_ejected, slots[j]));
	}
	if (!err)
		err = plan_locality_weigh(set, &a->caller, healthy, out, &res);
	for (j = 0; !err && j < set->n_slots; j++) {
		const char *loc = set->meta ? set->meta[j].locality : NULL;
		struct ep_locality v = { .priority = out[j].priority };

		if (!slots[j] || slots[j] >= p->ag->loc_n || (!loc && !v.priority))
			continue;
		strncpy(v.locality, loc ? loc : "", sizeof(v.locality) - 1);
		err = put(p, slots[j], &v);
	}
	free(out);
	free(healthy);
	free(slots);
	return err;
}

/* First use: an earlier agent's entries count as present (with unknown
 * content), so those this version does not keep are deleted. */
/* A key of the kernel's map: remembered as present (map_for_each). */
static int mark_present(const void *key, const void *val, void *ctx)
{
	struct agent *ag = ctx;
	__u32 slot;

	(void)val;
	memcpy(&slot, key, sizeof(slot));
	if (slot < ag->loc_n)
		ag->loc_present[slot] = 1;
	return 0;
}

static int alloc_cache(struct agent *ag, int fd, __u32 n)
{
	__u32 key;

	if (ag->loc_cache)
		return 0;
	ag->loc_cache = calloc(n, sizeof(*ag->loc_cache));
	ag->loc_present = calloc(n, 1);
	ag->loc_n = n;
	if (!ag->loc_cache || !ag->loc_present)
		return -ENOMEM;
	map_for_each(&kern_map_ops, fd, sizeof(__u32), 0, mark_present, ag);
	for (key = 0; key < n; key++)
		ag->loc_cache[key].pad = ag->loc_present[key]; /* never what we write */
	return 0;
}

/* A node without locality or labels has no priorities: nothing to write,
 * only entries to delete (an earlier agent's). */
static bool node_has_locality(const struct agent *ag)
{
	const struct loc_caller *c = &ag->applier.caller;

	return (c->locality && c->locality[0]) || c->n_labels;
}

static bool nothing_to_publish(const struct agent *ag, int fd)
{
	__u32 key;

	return !node_has_locality(ag) && bpf_map_get_next_key(fd, NULL, &key) != 0;
}

void agent_locality_publish(struct agent *ag)
{
	const struct apply_slots *s = &ag->applier.state.slots;
	struct loc_pub p = { .ag = ag, .fd = lb_loader_map_fd(&ag->loader,
							      BPFMESH_MAP_EP_LOCALITY) };
	int err;
	size_t i;
	__u32 slot;

	if (p.fd < 0 || !ag->have_img || s->max_endpoints < 2 || nothing_to_publish(ag, p.fd))
		return;
	err = alloc_cache(ag, p.fd, s->max_endpoints);
	p.seen = calloc(s->max_endpoints, 1);
	if (!err && !p.seen)
		err = -ENOMEM;
	if (!err)
		err = slot_index_endpoints(s, &p.eps);
	if (!err)
		err = slot_index_clusters(s, &p.cls);
	for (i = 0; !err && node_has_locality(ag) && i < ag->img.n_sets; i++)
		err = publish_set(&p, &ag->img.sets[i]);
	for (slot = 1; !err && slot < ag->loc_n; slot++) {
		if (!ag->loc_present[slot] || p.seen[slot])
			continue;
		if (bpf_map_delete_elem(p.fd, &slot) && errno != ENOENT)
			err = -errno;
		else
			ag->loc_present[slot] = 0;
	}
	if (err)
		agent_log("Failed to publish endpoint localities: %d", err);
	slot_index_free(&p.eps);
	slot_index_free(&p.cls);
	free(p.seen);
}

void agent_locality_free(struct agent *ag)
{
	free(ag->loc_cache);
	free(ag->loc_present);
	ag->loc_cache = NULL;
	ag->loc_present = NULL;
	ag->loc_n = 0;
}
