/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_KTEST_FIXTURES_H
#define BPFMESH_KTEST_FIXTURES_H
/* Policies the kernel tests apply, generated for each test's own addresses. */
#include <stddef.h>

/* A canary: service "reviews" at vip:80, endpoints net.1 and net.2
 * (version v1) and net.3 (version v2) on port 8080, a DestinationRule with
 * subsets v1 and v2, and a VirtualService splitting w1/w2. net is e.g.
 * "127.1.3" and gives endpoints 127.1.3.1-3. */
void fixture_canary(char *buf, size_t len, const char *vip, const char *net, int w1, int w2);

/* Same service with one subset "v1" whose three endpoints weigh 1, 2 and 5. */
void fixture_weighted(char *buf, size_t len, const char *vip, const char *net);

/* Route 100% to subset "v3", which a DestinationRule defines but no endpoint has. */
void fixture_empty_subset(char *buf, size_t len, const char *vip, const char *net);

/* Service "reviews" at vip:80 with n endpoints net.1..net.n:8080 (version
 * v1; weights[i] each, or none when NULL), no VirtualService (the whole
 * service is one cluster), and a DestinationRule whose top-level
 * trafficPolicy holds `block: value` (value a YAML flow mapping). */
void fixture_one_cluster(char *buf, size_t len, const char *vip, const char *net, int n,
			 const int *weights, const char *block, const char *value);

#endif
