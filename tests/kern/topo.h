/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TOPO_H
#define BPFMESH_TOPO_H
/*
 * A three-namespace topology for the TC path, all in 198.18.0.0/15:
 *
 *   client netns          node (the test's netns)          backend netns
 *   eth0 198.18.1.2 -- veth -- bpfm-c 198.18.1.1
 *                              bpfm-b 198.18.2.254 -- veth -- eth0 198.18.2.1..n
 *
 * and the same in IPv6, in fd00::/8 (no duplicate address detection: the
 * addresses are usable at once):
 *   eth0 fd00:18:1::2 -- veth -- bpfm-c fd00:18:1::1
 *                                bpfm-b fd00:18:2::fe -- veth -- eth0 fd00:18:2::1..n
 *
 * The node forwards between the two (the TC programs go on bpfm-c and
 * bpfm-b); the client routes everything to the node, the backends too.
 * Nothing is addressed outside the test's namespaces.
 */
#include <limits.h>
#include <stdbool.h>

#define TOPO_IFACES "bpfm-c,bpfm-b"
#define TOPO_CLIENT "198.18.1.2"
#define TOPO_CLIENT6 "fd00:18:1::2"
#define TOPO_NODE6_C "fd00:18:1::1"   /* the node on the client's link */
#define TOPO_BACKEND6_NET "fd00:18:2:" /* backend i is fd00:18:2::i */

struct topo {
	char client_ns[64];
	char backend_ns[64];
	char client_path[PATH_MAX];
	char backend_path[PATH_MAX];
	bool created;
};

/* Create it with n_backends backend addresses 198.18.2.1..n and
 * fd00:18:2::1..n. 0 or -1 (the failing command is printed). */
int topo_setup(struct topo *t, int n_backends);
void topo_teardown(struct topo *t);

#endif /* BPFMESH_TOPO_H */
