/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_KTEST_SOCKMAP_PAIR_H
#define BPFMESH_KTEST_SOCKMAP_PAIR_H
/*
 * Same-node acceleration tests (issue 13): a service whose one endpoint is
 * a listener of the test itself, and pairs of sockets connected through the
 * VIP from a child process inside the managed cgroup, so that both ends are
 * local, managed sockets. Each case runs the two ends in two threads and
 * compares a checksum of what one side sent with one of what the other
 * side received.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "ktest.h"

#define SM_VIP "127.100.13.1"
#define SM_EP "127.1.13.1"
#define SM_VIP_OFF "127.100.13.2" /* a service annotated bpfmesh.io/sockmap: "off" */
#define SM_EP_OFF "127.1.13.2"
#define SM_EP_PORT 8080
/* IPv6 (issue 15), inside the test's own network namespace: the
 * endpoints' fd00:: addresses go on its loopback (sm_add_ipv6). */
#define SM_VIP6 "fd00::13:100"
#define SM_EP6 "fd00::13:1"
#define SM_VIP6_OFF "fd00::13:200"
#define SM_EP6_OFF "fd00::13:2"
/* The IPv4 service reached from a dual-stack IPv6 socket, and an endpoint
 * listening on one (its accepted sockets are AF_INET6, mapped). */
#define SM_VIP_MAPPED "::ffff:" SM_VIP
#define SM_EP_MAPPED "::ffff:" SM_EP
#define SM_VIP_OFF_MAPPED "::ffff:" SM_VIP_OFF
#define SM_EP_OFF_MAPPED "::ffff:" SM_EP_OFF

/* Policy: ServiceEntry `name` at vip:80 -> ep:8080; sockmap_off adds the
 * annotation bpfmesh.io/sockmap: "off". Appends to buf. */
void sm_policy(char *buf, size_t len, const char *name, const char *vip, const char *ep,
	       bool sockmap_off);

/* The accelerated-or-not pair of one case. */
struct sm_pair {
	int cli, srv;
};

/* SM_EP6 and SM_EP6_OFF on the test namespace's loopback: true, or false
 * with the test skipped (no private namespace) or failed. */
bool sm_add_ipv6(void);

/* Listener on ep:SM_EP_PORT (reused for every pair of a child); an IPv6 or
 * IPv4-mapped ep makes an AF_INET6 socket. */
int sm_listen(const char *ep);
/* Connect to vip:80 (from an AF_INET6 socket when vip is IPv6 or mapped)
 * and accept the other end. 0 or negative errno. */
int sm_pair_open(int lfd, const char *vip, struct sm_pair *p);
void sm_pair_close(struct sm_pair *p);

/* Deterministic stream and its checksum (FNV-1a 64). */
void sm_fill(uint8_t *buf, size_t len, uint64_t seed);
uint64_t sm_fnv(uint64_t h, const void *buf, size_t len);
#define SM_FNV_INIT 1469598103934665603ULL

/* The sender's TCP: sequence space its peer acknowledged (tcpi_bytes_acked
 * less the SYN; a FIN, when acked, is one more). */
uint64_t sm_tcp_bytes_acked(int fd);

/* Run fn in a child inside the test cgroup; its exit status (0 = all
 * checks in the child passed) or a negative errno. */
int sm_run_child(struct ktest_env *e, int (*fn)(void *arg), void *arg);

/* Reading the agent's pinned maps from the parent. */
uint64_t sm_stat(struct ktest_env *e, unsigned int idx);       /* summed over CPUs */
int sm_sockhash_entries(struct ktest_env *e); /* both families, or negative errno */
/* The listener registry (sockmap_abi.h: managed listeners). */
int sm_listen_entries(struct ktest_env *e); /* entries, or negative errno */
/* ip:port's listener count (0: learned from an accepted end), or -1 when
 * it is not registered. ip: IPv4 or IPv6 text, "0.0.0.0" or "::" the any
 * address. */
int64_t sm_listen_count(struct ktest_env *e, const char *ip, int port);
/* Put ip:port in the registry as learned (0 listeners), or take it out
 * (count < 0). 0 or negative errno. */
int sm_listen_set(struct ktest_env *e, const char *ip, int port, int64_t count);
/* Entries of both pending maps, or negative errno. */
int sm_pending_entries(struct ktest_env *e);

/* Sum over all endpoint slots of bytes_sent and bytes_received. */
int sm_ep_bytes(struct ktest_env *e, uint64_t *sent, uint64_t *received);

/* A check inside the child: prints and counts a failure. */
extern int sm_failures;
#define SM_CHECK(cond, ...)                                                   \
	({ bool _ok = (cond);                                                  \
	   if (!_ok) { sm_failures++; printf("    child: FAIL %s:%d: ", __func__, __LINE__); \
		       printf(__VA_ARGS__); printf("\n"); }                      \
	   _ok; })

#endif
