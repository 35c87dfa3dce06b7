/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_UDP_FLOW_H
#define BPFMESH_UDP_FLOW_H
/*
 * A UDP socket's flow to its endpoint (issue 15): what stands in for a
 * connection in the endpoint slot's counters. sockops never runs for UDP,
 * so the sock_addr hooks count a flow opened and established (it has no
 * handshake) when they place a socket on an endpoint (connect4/6, or the
 * first sendmsg to the VIP), and it is
 * counted closed when the socket moves to another endpoint (its own left
 * the route, or was ejected) or is released (cgroup/sock_release). So
 * opened - closed is the number of live UDP sockets on the endpoint, as it
 * is the open connections for TCP.
 *
 * Health: Envoy's UDP proxy reports nothing to outlier detection (only the
 * HTTP router, TCP proxy, redis and thrift proxies do; Envoy docs,
 * arch_overview/upstream/outlier), and a UDP send has no handshake to
 * fail: a UDP flow is never an outlier failure or success here either.
 * An ICMP port unreachable on a connected UDP socket reaches only the
 * application (ECONNREFUSED at its next call), not these counters. A UDP
 * port's endpoint slots are its own (health_abi.h: a slot per service,
 * subset, port and endpoint), so they are never ejected; sock_addr.bpf.c
 * udp_sticks still checks the slot, so a socket would leave an ejected
 * endpoint at its next datagram, as Envoy's UDP proxy moves a session off
 * an unhealthy host, should anything come to eject one.
 */
#include "lib/health.h"
#include "lib/stats_src.h"
#include "lib/sock_conn.h"
#include <bpfmesh/lb_abi.h>

/* The flow of a UDP placement ends: counted closed on its endpoint once,
 * and on its (endpoint, source) counters when the caller is known. */
static __always_inline void udp_flow_end(struct sock_conn *c)
{
	struct ep_counters *cnt;

	if (!c || c->proto != BPFMESH_PROTO_UDP || !(c->flags & BPFMESH_CONN_F_PLACED) ||
	    (c->flags & BPFMESH_CONN_F_CLOSED))
		return;
	c->flags |= BPFMESH_CONN_F_CLOSED;
	cnt = health4_counters(c->ep_slot);
	if (cnt)
		health4_count(&cnt->closed);
	cnt = src_counters(c);
	if (cnt)
		health4_count(&cnt->closed);
}

/* cgroup/sock_release: the socket's UDP flow, if any, ends with it. */
static __always_inline void udp_flow_release(struct bpf_sock *sk)
{
	if (sk && sk->protocol == BPFMESH_PROTO_UDP)
		udp_flow_end(sock_conn_get(sk));
}

#endif /* BPFMESH_UDP_FLOW_H */
