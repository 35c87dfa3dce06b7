// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ktest.h"
#include "topo.h"

/* Run a shell command built from fmt; 0 or -1, printing what failed. */
static int sys(bool quiet, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(quiet ? strcat(cmd, " >/dev/null 2>&1") : cmd);
	if (rc != 0 && !quiet)
		fprintf(stderr, "topo: '%s' failed: %d\n", cmd, rc);
	return rc == 0 ? 0 : -1;
}

/* Node-side settings: forward, and no reverse-path filter, since a reply
 * leaves with the VIP as its source, an address the node has no route to. */
static int node_sysctls(void)
{
	static const char *const files[] = {
		"/proc/sys/net/ipv4/ip_forward",
		"/proc/sys/net/ipv4/conf/all/rp_filter",
		"/proc/sys/net/ipv4/conf/default/rp_filter",
		"/proc/sys/net/ipv4/conf/bpfm-c/rp_filter",
		"/proc/sys/net/ipv4/conf/bpfm-b/rp_filter",
		"/proc/sys/net/ipv6/conf/all/forwarding",
	};
	unsigned int i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (write_text_file(files[i], i == 0 || strstr(files[i], "forwarding") ? "1\n" : "0\n"))
			return -1;
	return 0;
}

/* No duplicate address detection on the four veth ends (set before they
 * go up): their link-local and fd00:: addresses work at once. */
static int no_dad(const struct topo *t)
{
	static const char *const ns_dad = "ip netns exec %s sh -c "
		"'echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad'";

	if (write_text_file("/proc/sys/net/ipv6/conf/bpfm-c/accept_dad", "0\n") ||
	    write_text_file("/proc/sys/net/ipv6/conf/bpfm-b/accept_dad", "0\n"))
		return -1;
	return sys(false, ns_dad, t->client_ns) || sys(false, ns_dad, t->backend_ns) ? -1 : 0;
}

/* The IPv6 half (topo.h), after the IPv4 one brought the links up. */
static int topo_ipv6(const struct topo *t, int n_backends)
{
	const char *c = t->client_ns, *b = t->backend_ns;
	int i;

	if (sys(false, "ip -6 addr add " TOPO_NODE6_C "/64 dev bpfm-c nodad && "
		"ip -6 addr add " TOPO_BACKEND6_NET ":fe/64 dev bpfm-b nodad") ||
	    sys(false, "ip -n %s -6 addr add " TOPO_CLIENT6 "/64 dev eth0 nodad && "
		"ip -n %s -6 route add default via " TOPO_NODE6_C, c, c) ||
	    sys(false, "ip -n %s -6 route add default via " TOPO_BACKEND6_NET ":fe dev eth0 onlink",
		    b))
		return -1;
	for (i = 1; i <= n_backends; i++)
		if (sys(false, "ip -n %s -6 addr add " TOPO_BACKEND6_NET ":%x/64 dev eth0 nodad",
			b, i))
			return -1;
	return 0;
}

int topo_setup(struct topo *t, int n_backends)
{
	const char *c = t->client_ns, *b = t->backend_ns;
	int i;

	memset(t, 0, sizeof(*t));
	snprintf(t->client_ns, sizeof(t->client_ns), "bpfmesh-%d-client", getpid());
	snprintf(t->backend_ns, sizeof(t->backend_ns), "bpfmesh-%d-backend", getpid());
	snprintf(t->client_path, sizeof(t->client_path), "/run/netns/%s", c);
	snprintf(t->backend_path, sizeof(t->backend_path), "/run/netns/%s", b);
	t->created = true;
	if (sys(false, "ip netns add %s && ip netns add %s", c, b) ||
	    sys(false, "ip link add bpfm-c type veth peer name eth0 netns %s", c) ||
	    sys(false, "ip link add bpfm-b type veth peer name eth0 netns %s", b) || no_dad(t) ||
	    sys(false, "ip addr add 198.18.1.1/24 dev bpfm-c && ip link set bpfm-c up") ||
	    sys(false, "ip addr add 198.18.2.254/24 dev bpfm-b && ip link set bpfm-b up") ||
	    sys(false, "ip -n %s link set lo up && ip -n %s addr add %s/24 dev eth0 && "
		"ip -n %s link set eth0 up && ip -n %s route add default via 198.18.1.1",
		c, c, TOPO_CLIENT, c, c) ||
	    sys(false, "ip -n %s link set lo up && ip -n %s link set eth0 up && "
		"ip -n %s route add default via 198.18.2.254 dev eth0 onlink", b, b, b))
		return -1;
	for (i = 1; i <= n_backends; i++)
		if (sys(false, "ip -n %s addr add 198.18.2.%d/24 dev eth0", b, i))
			return -1;
	if (topo_ipv6(t, n_backends))
		return -1;
	if (node_sysctls()) {
		fprintf(stderr, "topo: node sysctls failed\n");
		return -1;
	}
	return 0;
}

void topo_teardown(struct topo *t)
{
	if (!t->created)
		return;
	sys(true, "ip link del bpfm-c");
	sys(true, "ip link del bpfm-b");
	sys(true, "ip netns del %s", t->client_ns);
	sys(true, "ip netns del %s", t->backend_ns);
	t->created = false;
}
