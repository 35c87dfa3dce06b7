/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TC_FIXTURE_H
#define BPFMESH_TC_FIXTURE_H
/*
 * The TC program loaded on its own for BPF_PROG_TEST_RUN (tests and
 * bench), its maps pinned under a directory of its own and filled with a
 * small policy written directly, in the layouts of lb_abi.h:
 *
 *   198.19.0.1:80/tcp -> set 1: 198.18.2.10:8080
 *   198.19.0.1:53/udp -> set 2: 198.18.2.10:5300
 *   198.19.0.2:80/tcp and :53/udp -> a destination with no endpoint
 */
#include <linux/types.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/tc_abi.h>

struct tc_bpf;

struct tc_fixture {
	char pin_dir[128];
	int svc_ids_fd, svc_heads_fd, routes_fd; /* the service maps (lb_abi.h) */
	int backends_fd;
	__u32 next_set;
	__u32 next_index, next_route;
	struct tc_bpf *skel;
};

/* Open, load and fill; udp_idle_ns 0 keeps the program's default. NULL on
 * failure (reported on stderr, nothing left behind). */
struct tc_bpf *tc_fixture_open(struct tc_fixture *fx, __u64 udp_idle_ns);
void tc_fixture_close(struct tc_fixture *fx, struct tc_bpf *skel);

/* Route vip:port with weight w_old to set 1 (the first endpoint) and w_new
 * to a new set holding 198.18.2.11. 0 or negative errno. */
int tc_fixture_route(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto, __u32 w_old,
		     __u32 w_new);

/* Route vip:port to two destinations, new sets of one endpoint each
 * (ep_a:8080 weight w_a, ep_b:8080 weight w_b). 0 or negative errno. */
int tc_fixture_split(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
		     const char *ep_a, __u32 w_a, const char *ep_b, __u32 w_b);

/* Route all of vip:port to a new set holding endpoint ep (port 8080). */
int tc_fixture_replace_set(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
			   const char *ep);

/* Route all of vip:port to one cluster (cluster slot 1) of n endpoints
 * 198.18.4.1..n:8080 (fd00:18:4::1..n for an IPv6 vip; addresses may be
 * either family throughout), weights w, endpoint slots 1..n, in a new set, with
 * loadBalancer algo (enum bpfmesh_lb_algo) and, for MAGLEV, a table of
 * table_size entries (prime) built by the agent's builder; a weighted
 * ROUND_ROBIN gets its sequence table as the agent writes it. 0 or
 * negative errno. */
int tc_fixture_cluster(struct tc_fixture *fx, const char *vip, __u16 port, __u8 proto,
		       const __u32 *w, __u32 n, __u32 algo, __u32 table_size);

/* Address of endpoint i (0-based) of tc_fixture_cluster's cluster for vip:
 * 198.18.4.(i+1), or fd00:18:4::(i+1) for an IPv6 vip. */
void tc_fixture_cluster_ep(const char *vip, __u32 i, __be32 addr[4]);

/* The sum over CPUs of one bpfmesh_tc4_events counter. */
__u64 tc_fixture_event(int events_fd, __u32 event);

#endif /* BPFMESH_TC_FIXTURE_H */
