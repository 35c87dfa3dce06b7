// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include "fixtures.h"

/* A DestinationRule for "reviews" up to its subsets or trafficPolicy. */
#define DESTINATION_RULE_HEAD                                                        \
	"---\n"                                                                      \
	"apiVersion: networking.istio.io/v1\n"                                       \
	"kind: DestinationRule\n"                                                    \
	"metadata:\n  name: reviews\n  namespace: default\n"                         \
	"spec:\n"                                                                    \
	"  host: reviews\n"

/* The ServiceEntry "reviews" at vip:80 -> 8080 up to its endpoint list. */
static int service_entry_head(char *buf, size_t len, const char *vip)
{
	return snprintf(buf, len,
		"apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\n"
		"metadata:\n  name: reviews\n  namespace: default\n"
		"spec:\n"
		"  hosts: [reviews.default.svc.cluster.local]\n"
		"  addresses: [%s]\n"
		"  ports:\n  - number: 80\n    name: tcp-web\n    protocol: TCP\n    targetPort: 8080\n"
		"  resolution: STATIC\n"
		"  endpoints:\n", vip);
}

static int service_entry(char *buf, size_t len, const char *vip, const char *net,
			 const char *w)
{
	int at = service_entry_head(buf, len, vip);

	if (at < 0 || (size_t)at >= len)
		return at;
	return at + snprintf(buf + at, len - at,
		"  - address: %s.1\n    labels: {version: v1}%s%s\n"
		"  - address: %s.2\n    labels: {version: v1}%s%s\n"
		"  - address: %s.3\n    labels: {version: %s}%s%s\n"
		DESTINATION_RULE_HEAD
		"  subsets:\n"
		"  - name: v1\n    labels: {version: v1}\n"
		"  - name: v2\n    labels: {version: v2}\n"
		"  - name: v3\n    labels: {version: v3}\n"
		"---\n",
		net, w ? "\n    weight: 1" : "", "", net, w ? "\n    weight: 2" : "", "",
		net, w ? "v1" : "v2", w ? "\n    weight: 5" : "", "");
}

static void virtual_service(char *buf, size_t len, int w1, int w2, const char *only)
{
	if (only) {
		snprintf(buf, len,
			 "apiVersion: networking.istio.io/v1beta1\n"
			 "kind: VirtualService\n"
			 "metadata:\n  name: reviews\n  namespace: default\n"
			 "spec:\n  hosts: [reviews]\n  tcp:\n  - route:\n"
			 "    - destination: {host: reviews, subset: %s}\n", only);
		return;
	}
	snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1beta1\n"
		 "kind: VirtualService\n"
		 "metadata:\n  name: reviews\n  namespace: default\n"
		 "spec:\n  hosts: [reviews]\n  tcp:\n  - route:\n"
		 "    - destination: {host: reviews, subset: v1}\n      weight: %d\n"
		 "    - destination: {host: reviews, subset: v2}\n      weight: %d\n",
		 w1, w2);
}

void fixture_canary(char *buf, size_t len, const char *vip, const char *net, int w1, int w2)
{
	int n = service_entry(buf, len, vip, net, NULL);

	if (n > 0 && (size_t)n < len)
		virtual_service(buf + n, len - n, w1, w2, NULL);
}

void fixture_weighted(char *buf, size_t len, const char *vip, const char *net)
{
	int n = service_entry(buf, len, vip, net, "weighted");

	if (n > 0 && (size_t)n < len)
		virtual_service(buf + n, len - n, 0, 0, "v1");
}

void fixture_empty_subset(char *buf, size_t len, const char *vip, const char *net)
{
	int n = service_entry(buf, len, vip, net, NULL);

	if (n > 0 && (size_t)n < len)
		virtual_service(buf + n, len - n, 0, 0, "v3");
}

void fixture_one_cluster(char *buf, size_t len, const char *vip, const char *net, int n,
			 const int *weights, const char *block, const char *value)
{
	int i, at = service_entry_head(buf, len, vip);

	for (i = 1; i <= n && at > 0 && (size_t)at < len; i++) {
		at += snprintf(buf + at, len - at, "  - address: %s.%d\n    labels: {version: v1}\n",
			       net, i);
		if (weights && at > 0 && (size_t)at < len)
			at += snprintf(buf + at, len - at, "    weight: %d\n", weights[i - 1]);
	}
	if (at > 0 && (size_t)at < len)
		snprintf(buf + at, len - at,
			 DESTINATION_RULE_HEAD
			 "  trafficPolicy:\n"
			 "    %s: %s\n", block, value);
}
