// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tc.skel.h"
#include "tc_fixture.h"
#include "apply/maglev.h"
#include <bpfmesh/lbpolicy.h>

/* Parse an IPv4 or IPv6 address into addr (IPv4 in word 0); its family. */
static __u8 addr_of(const char *s, __be32 addr[4])
{
	memset(addr, 0, 16);
	if (strchr(s, ':')) {
		inet_pton(AF_INET6, s, addr);
		return BPFMESH_AF_INET6;
	}
	inet_pton(AF_INET, s, addr);
	return BPFMESH_AF_INET;
}

static void svc_key_of(struct svc_key *k, const char *vip, __u16 port, __u8 proto)
{
	memset(k, 0, sizeof(*k));
	k->family = addr_of(vip, k->addr);
	k->port = htons(port);
	k->proto = proto;
}

/* A set of one endpoint, weight 1. */
static int write_set(struct tc_fixture *fx, __u32 set_id, const char *ep, __u16 port)
{
	struct backend_key k = { .set_id = set_id, .slot = 0 };
	struct backend_val v = { .port = htons(port), .alias = 0, .threshold = 1, .weight = 1 };

	addr_of(ep, v.addr);
	return bpf_map_update_elem(fx->backends_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* A fresh route for key, its head switched to it (a new key gets an index,
 * its head, then the key), as the agent writes them; nothing runs
 * concurrently here, so the head is written through bpf(2). */
static int publish_route(struct tc_fixture *fx, const struct svc_key *k, const struct svc_val *v)
{
	struct svc_head head = { .route_id = ++fx->next_route };
	__u32 index;
	bool fresh = bpf_map_lookup_elem(fx->svc_ids_fd, k, &index) != 0;

	if (fresh)
		index = ++fx->next_index;
	if (bpf_map_update_elem(fx->routes_fd, &head.route_id, v, BPF_NOEXIST) ||
	    bpf_map_update_elem(fx->svc_heads_fd, &index, &head, BPF_ANY) ||
	    (fresh && bpf_map_update_elem(fx->svc_ids_fd, k, &index, BPF_NOEXIST)))
		return -errno;
	return 0;
}

/* Destinations: (set, weight) pairs, n_slots 1 each (0 when set is 0). */
static int write_service(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
			 const __u32 *sets, const __u32 *weights, int n)
{
	struct svc_val v = { .service_id = 1, .generation = 1, .n_dests = (__u16)n };
	struct svc_key k;
	__u32 cum = 0;
	int i;

	svc_key_of(&k, vip, port, proto);
	for (i = 0; i < n; i++) {
		cum += weights[i];
		v.dests[i] = (struct svc_dest){ .set_id = sets[i], .n_slots = sets[i] ? 1 : 0,
						.set_weight = sets[i] ? 1 : 0, .cum_weight = cum,
						.subset_id = 10 + sets[i] };
	}
	v.total_weight = cum;
	return publish_route(fx, &k, &v);
}

static int write_policy(struct tc_fixture *fx)
{
	static const __u32 one = 1, set1 = 1, set2 = 2, none = 0;
	int err;

	err = write_set(fx, 1, "198.18.2.10", 8080);
	if (!err)
		err = write_set(fx, 2, "198.18.2.10", 5300);
	if (!err)
		err = write_service(fx, "198.19.0.1", 80, BPFMESH_PROTO_TCP, &set1, &one, 1);
	if (!err)
		err = write_service(fx, "198.19.0.1", 53, BPFMESH_PROTO_UDP, &set2, &one, 1);
	if (!err)
		err = write_service(fx, "198.19.0.2", 80, BPFMESH_PROTO_TCP, &none, &one, 1);
	if (!err)
		err = write_service(fx, "198.19.0.2", 53, BPFMESH_PROTO_UDP, &none, &one, 1);
	fx->next_set = 3;
	return err;
}

struct tc_bpf *tc_fixture_open(struct tc_fixture *fx, __u64 udp_idle_ns)
{
	static int seq;
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct tc_bpf *skel;
	int err;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->pin_dir, sizeof(fx->pin_dir), "/sys/fs/bpf/bpfmesh-tcfx-%d-%d", getpid(),
		 ++seq);
	if (mkdir(fx->pin_dir, 0700)) {
		fprintf(stderr, "tc fixture: mkdir %s: %s\n", fx->pin_dir, strerror(errno));
		return NULL;
	}
	opts.pin_root_path = fx->pin_dir;
	skel = tc_bpf__open_opts(&opts);
	if (!skel) {
		fprintf(stderr, "tc fixture: open: %d\n", -errno);
		rmdir(fx->pin_dir);
		return NULL;
	}
	if (udp_idle_ns)
		skel->rodata->ct_udp_idle_ns = udp_idle_ns;
	err = tc_bpf__load(skel);
	if (!err) {
		fx->svc_ids_fd = bpf_map__fd(skel->maps.bpfmesh_lb4_svc_ids);
		fx->svc_heads_fd = bpf_map__fd(skel->maps.bpfmesh_lb4_svc_heads);
		fx->routes_fd = bpf_map__fd(skel->maps.bpfmesh_lb4_routes);
		fx->backends_fd = bpf_map__fd(skel->maps.bpfmesh_lb4_backends);
		err = write_policy(fx);
		fx->skel = skel;
	}
	if (err) {
		fprintf(stderr, "tc fixture: load and fill: %d\n", err);
		tc_fixture_close(fx, skel);
		return NULL;
	}
	return skel;
}

void tc_fixture_close(struct tc_fixture *fx, struct tc_bpf *skel)
{
	if (skel) {
		bpf_object__unpin_maps(skel->obj, NULL);
		tc_bpf__destroy(skel);
	}
	rmdir(fx->pin_dir);
}

int tc_fixture_route(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto, __u32 w_old,
		     __u32 w_new)
{
	__u32 sets[2] = { 1, fx->next_set++ }, weights[2] = { w_old, w_new };
	int err = write_set(fx, sets[1], "198.18.2.11", 8080);

	return err ? err : write_service(fx, vip, port, proto, sets, weights, 2);
}

int tc_fixture_split(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
		     const char *ep_a, __u32 w_a, const char *ep_b, __u32 w_b)
{
	__u32 sets[2], weights[2] = { w_a, w_b };
	int err;

	sets[0] = fx->next_set++;
	sets[1] = fx->next_set++;
	err = write_set(fx, sets[0], ep_a, 8080);

	if (!err)
		err = write_set(fx, sets[1], ep_b, 8080);
	return err ? err : write_service(fx, vip, port, proto, sets, weights, 2);
}

int tc_fixture_replace_set(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
			   const char *ep)
{
	static const __u32 one = 1;
	__u32 set = fx->next_set++;
	int err = write_set(fx, set, ep, 8080);

	return err ? err : write_service(fx, vip, port, proto, &set, &one, 1);
}

__u64 tc_fixture_event(int events_fd, __u32 event)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u64 vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(events_fd, &event, vals))
		return 0;
	for (i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* The set's table of kind: header, then entries (set slots), as the agent
 * writes them (lbpolicy_abi.h). */
static int write_table(int fd, __u32 set_id, __u32 kind, const __u32 *slots, __u32 len)
{
	struct lbtab_key k = { .set_id = set_id, .idx = BPFMESH_LB_TABLE_HDR };
	struct lbtab_val v = { .slot = len, .kind = kind };
	__u32 i;

	for (i = 0; i < len; i++) {
		struct lbtab_key ek = { .set_id = set_id, .idx = i };
		struct lbtab_val ev = { .slot = slots[i] };

		if (bpf_map_update_elem(fd, &ek, &ev, BPF_ANY))
			return -errno;
	}
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* The table algo needs in set_id, if any: a Maglev table, or the weighted
 * round-robin sequence (equal weights need none). */
static int write_algo_table(struct tc_bpf *skel, __u32 set_id, const __u32 *w, __u32 n,
			    __u32 algo, __u32 table_size, bool equal)
{
	int fd = bpf_map__fd(skel->maps.bpfmesh_lb4_tables_v1), err = 0, scaled;
	struct maglev_endpoint eps[BPFMESH_MAX_SET_SLOTS];
	__u32 *table, len, i;

	if (algo != BPFMESH_LB_MAGLEV && (algo != BPFMESH_LB_ROUND_ROBIN || equal))
		return 0;
	table = calloc(algo == BPFMESH_LB_MAGLEV ? table_size : BPFMESH_LB_RR_MAX_SEQ,
		       sizeof(*table));
	if (!table)
		return -ENOMEM;
	if (algo == BPFMESH_LB_MAGLEV) {
		for (i = 0; i < n; i++) {
			eps[i] = (struct maglev_endpoint){ .port = htons(8080), .weight = w[i] };
			eps[i].addr = htonl(0xc6120400 + i + 1); /* 198.18.4.(i+1) */
		}
		err = maglev_build(eps, n, table_size, table);
		len = table_size;
	} else {
		len = bpfmesh_lb_rr_build(w, n, table, &scaled);
		err = len ? 0 : -EINVAL;
	}
	if (!err)
		err = write_table(fd, set_id, algo, table, len);
	free(table);
	return err;
}

void tc_fixture_cluster_ep(const char *vip, __u32 i, __be32 addr[4])
{
	memset(addr, 0, 16);
	if (addr_of(vip, addr) == BPFMESH_AF_INET6) {
		inet_pton(AF_INET6, "fd00:18:4::", addr);
		addr[3] = htonl(i + 1);
		return;
	}
	addr[0] = htonl(0xc6120400 + i + 1);
}

int tc_fixture_cluster(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
		       const __u32 *w, __u32 n, __u32 algo, __u32 table_size)
{
	struct tc_bpf *skel = fx->skel;
	struct backend_val slots[BPFMESH_MAX_SET_SLOTS] = {};
	struct lb_policy pol = { .algo = algo, .table_size = table_size };
	__u32 set = fx->next_set++, cluster = 1, total, i;
	struct svc_val v = { .service_id = 1, .generation = 1, .n_dests = 1 };
	struct svc_key k;
	bool equal = true;
	int err;

	if (n == 0 || n > BPFMESH_MAX_SET_SLOTS)
		return -EINVAL;
	total = bpfmesh_alias_build(slots, w, n);
	if (!total)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct backend_key bk = { .set_id = set, .slot = i };

		tc_fixture_cluster_ep(vip, i, slots[i].addr);
		slots[i].port = htons(8080);
		slots[i].weight = w[i];
		slots[i].slot = i + 1;
		equal = equal && w[i] == w[0];
		if (bpf_map_update_elem(fx->backends_fd, &bk, &slots[i], BPF_ANY))
			return -errno;
	}
	pol.flags = equal ? BPFMESH_LB_F_EQUAL_WEIGHTS : 0;
	err = write_algo_table(skel, set, w, n, algo, table_size, equal);
	if (!err && bpf_map_update_elem(bpf_map__fd(skel->maps.bpfmesh_lb4_policy_v1), &cluster,
					&pol, BPF_ANY))
		err = -errno;
	if (err)
		return err;
	svc_key_of(&k, vip, port, proto);
	v.dests[0] = (struct svc_dest){ .set_id = set, .n_slots = n, .set_weight = total,
					.cum_weight = 1, .subset_id = 10 + set,
					.cluster_slot = cluster };
	v.total_weight = 1;
	return publish_route(fx, &k, &v);
}
