/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_KTEST_TWO_SUBSETS_H
#define BPFMESH_KTEST_TWO_SUBSETS_H
/* One service with subsets v1 and v2 (ServiceEntry, DestinationRule,
 * VirtualService), as the isolation tests write it: the kernel test
 * (isolation.c) and the unit test (test_isolate.c) share it. Line 30
 * holds w1, line 32 w2. */
#include <stdio.h>

/* Service name at vip, endpoints e1 (v1) and e2 (v2), split w1/w2. */
static inline void fixture_two_subsets(char *buf, size_t len, const char *name, const char *vip,
				       const char *e1, const char *e2, int w1, int w2)
{
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: %s, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [%s.default.svc.cluster.local]\n"
		 "  addresses: [%s]\n"
		 "  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: %s, labels: {version: v1}}\n"
		 "  - {address: %s, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: %s, namespace: default}\n"
		 "spec:\n"
		 "  host: %s\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n"
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: VirtualService\n"
		 "metadata: {name: %s, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [%s]\n"
		 "  tcp:\n"
		 "  - route:\n"
		 "    - destination: {host: %s, subset: v1}\n"
		 "      weight: %d\n"
		 "    - destination: {host: %s, subset: v2}\n"
		 "      weight: %d\n",
		 name, name, vip, e1, e2, name, name, name, name, name, w1, name, w2);
}

#endif
