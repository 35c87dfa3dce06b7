// SPDX-License-Identifier: Apache-2.0
/*
 * A real ICMPv6 Packet Too Big on the TC path (issue 15), end to end: the
 * node namespace routes between the client and the backends (tests/kern/
 * topo.h, IPv6 half) with the agent's TC programs on its two interfaces,
 * and the link to the backends has the IPv6 minimum MTU, 1280.
 *
 * The unmanaged client sends a 1400-byte UDP datagram to an IPv6 VIP with
 * path MTU discovery on (IPV6_PMTUDISC_DO). The node's ingress program
 * sends it to an endpoint; forwarding it onto the 1280 link, the node's
 * kernel drops it and raises a Packet Too Big (a router never fragments
 * IPv6, RFC 8200 section 5) quoting the datagram as it was after the DNAT:
 * to the endpoint. The egress program (icmp6_translate) turns the quote
 * back into what the client sent, to the VIP. The client's kernel matches
 * the quote to its socket, which is connected to the VIP: only then does
 * the error reach the socket (its error queue: ICMPv6 type 2, the MTU
 * 1280, from the node's address, which the router keeps), the path MTU to
 * the VIP drops to 1280 (IPV6_MTU), and the next large send fails with
 * EMSGSIZE. The control: with the egress program removed from the node's
 * client side, the same send to a second VIP draws the same error, quoted
 * untranslated (to the endpoint): no socket of the client's matches it, its
 * socket sees nothing and its path MTU stays 1500.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "ktest.h"
#include "topo.h"

#define VIP6 "fd00:19::53"
#define VIP6_B "fd00:19::54" /* the control's */
#define LINK_MTU 1280
#define DGRAM 1400 /* fits the client's 1500 link, not the 1280 one */

static const char *const eps6[] = { TOPO_BACKEND6_NET ":1", TOPO_BACKEND6_NET ":2" };

static int pmtu_policy(char *buf, size_t len, const char *name, const char *vip)
{
	return snprintf(buf, len,
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: %s, namespace: default}\n"
		 "spec:\n"
		 "  hosts: [%s.default.svc.cluster.local]\n"
		 "  addresses: ['%s']\n"
		 "  ports: [{number: 53, name: udp-dns, protocol: UDP, targetPort: 8053}]\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n"
		 "  - {address: '%s'}\n"
		 "  - {address: '%s'}\n", name, name, vip, eps6[0], eps6[1]);
}

/* A UDP socket in the client namespace connected to [VIP6]:53, path MTU
 * discovery on and ICMP errors queued. fd or negative errno. */
static int client_socket(const struct topo *t, const char *vip)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	int home = netns_switch(t->client_path), fd, on = 1, pmtu = IPV6_PMTUDISC_DO;

	if (home < 0)
		return home;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	netns_return(home);
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET6, vip, &sa.sin6_addr);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Packet Too Big messages the client namespace's kernel received
 * (Icmp6InPktTooBigs), whether a socket took them or not; -1 unknown. */
static long client_ptb_received(const struct topo *t)
{
	char cmd[160], line[256];
	long n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /proc/net/snmp6", t->client_ns);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "Icmp6InPktTooBigs %ld", &n) == 1)
			break;
	pclose(p);
	return n;
}

/* The ICMPv6 error queued on fd within timeout_ms: its extended error and
 * offender (the address that sent it). 0 or negative errno. */
static int queued_error(int fd, int timeout_ms, struct sock_extended_err *out, char *from,
			size_t from_len)
{
	char payload[2048], control[512];
	struct iovec iov = { payload, sizeof(payload) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct pollfd pfd = { .fd = fd, .events = 0 };
	struct cmsghdr *c;

	if (poll(&pfd, 1, timeout_ms) != 1 || !(pfd.revents & POLLERR))
		return -ETIMEDOUT;
	if (recvmsg(fd, &mh, MSG_ERRQUEUE) < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		struct sock_extended_err *ee;
		struct sockaddr_in6 *off;

		if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_RECVERR)
			continue;
		ee = (struct sock_extended_err *)CMSG_DATA(c);
		*out = *ee;
		off = (struct sockaddr_in6 *)SO_EE_OFFENDER(ee);
		if (!inet_ntop(AF_INET6, &off->sin6_addr, from, (socklen_t)from_len))
			from[0] = '\0';
		return 0;
	}
	return -ENOMSG;
}

KTEST(tc_ipv6_packet_too_big)
{
	static char payload[DGRAM];
	struct sock_extended_err ee = { 0 };
	struct ktest_env env = {};
	struct topo t = {};
	char yaml[2048], from[INET6_ADDRSTRLEN] = "", cmd[256];
	socklen_t len = sizeof(int);
	int fd = -1, mtu = 0, n;
	long ptb;

	if (!netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		return;
	}
	n = pmtu_policy(yaml, sizeof(yaml), "dns6", VIP6);
	snprintf(yaml + n, sizeof(yaml) - (size_t)n, "---\n");
	n += 4;
	pmtu_policy(yaml + n, sizeof(yaml) - (size_t)n, "dns6b", VIP6_B);
	if (!ASSERT_OK(topo_setup(&t, 2), "topology with IPv6") ||
	    !ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "dns6.yaml", yaml), "write policy"))
		goto out;
	/* The next link, both ends: the IPv6 minimum. */
	snprintf(cmd, sizeof(cmd), "ip link set bpfm-b mtu %d && ip -n %s link set eth0 mtu %d",
		 LINK_MTU, t.backend_ns, LINK_MTU);
	if (!ASSERT_OK(system(cmd), "1280 MTU on the link to the endpoints"))
		goto out;
	env.interfaces = TOPO_IFACES;
	/* clsact (as on 6.1, which has no tcx): the control removes the egress
	 * filter with tc. */
	if (!ASSERT_OK(env_start_agent(&env, "BPFMESH_TC_ATTACH=clsact"), "agent applies"))
		goto out;

	fd = client_socket(&t, VIP6);
	if (!ASSERT_TRUE(fd >= 0, "client socket to the IPv6 VIP"))
		goto out;
	getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len);
	ASSERT_EQ(mtu, 1500, "path MTU before: the client's own link");
	memset(payload, 'x', sizeof(payload));
	ptb = client_ptb_received(&t);
	if (!ASSERT_EQ(send(fd, payload, sizeof(payload), 0), DGRAM, "1400-byte datagram sent"))
		goto out;

	if (!ASSERT_OK(queued_error(fd, 3000, &ee, from, sizeof(from)),
		       "the node's Packet Too Big reached the socket connected to the VIP"))
		goto out;
	ASSERT_EQ(client_ptb_received(&t), ptb + 1, "one Packet Too Big came to the client");
	ASSERT_EQ(ee.ee_origin, SO_EE_ORIGIN_ICMP6, "an ICMPv6 error");
	ASSERT_EQ(ee.ee_type, 2, "Packet Too Big");
	ASSERT_EQ(ee.ee_errno, EMSGSIZE, "EMSGSIZE");
	ASSERT_EQ(ee.ee_info, LINK_MTU, "the MTU of the next link");
	ASSERT_TRUE(!strcmp(from, TOPO_NODE6_C), "sent by the router (the node), its address kept");
	printf("  tc_ipv6_packet_too_big: ICMPv6 type %u from %s, MTU %u\n", ee.ee_type, from,
	       ee.ee_info);

	len = sizeof(mtu);
	ASSERT_OK(getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len), "IPV6_MTU");
	ASSERT_EQ(mtu, LINK_MTU, "path MTU to the VIP dropped to the link's");
	ASSERT_EQ(send(fd, payload, sizeof(payload), 0), -1, "the same datagram again");
	ASSERT_EQ(errno, EMSGSIZE, "refused locally: larger than the path MTU");
	ASSERT_EQ(send(fd, payload, LINK_MTU - 40 - 8, 0), LINK_MTU - 40 - 8,
		  "a datagram that fits the path goes");
	close(fd);

	/* The control: no egress program on the client side. */
	if (!ASSERT_OK(system("tc filter del dev bpfm-c egress"), "egress program removed"))
		goto out;
	ptb = client_ptb_received(&t);
	fd = client_socket(&t, VIP6_B);
	if (!ASSERT_TRUE(fd >= 0, "client socket to the second VIP") ||
	    !ASSERT_EQ(send(fd, payload, sizeof(payload), 0), DGRAM, "1400 bytes, untranslated"))
		goto out;
	ASSERT_EQ(queued_error(fd, 1500, &ee, from, sizeof(from)), -ETIMEDOUT,
		  "untranslated, the Packet Too Big reaches no socket");
	ASSERT_EQ(client_ptb_received(&t), ptb + 1, "though it came to the client");
	len = sizeof(mtu);
	getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len);
	ASSERT_EQ(mtu, 1500, "untranslated, the path MTU to the VIP stays");
out:
	if (fd >= 0)
		close(fd);
	env_teardown(&env);
	topo_teardown(&t);
}
