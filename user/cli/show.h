/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SHOW_H
#define BPFMESH_SHOW_H
/*
 * Printing of load-balancing state, the same whether it comes from a
 * compiled image (bpfmesh compile) or from the live maps (bpfmesh maps):
 * both are presented through a struct lb_view.
 *
 * Text and JSON say the same things under the same names: a table column
 * is its JSON field upper-cased (GEN is generation). A service address is
 * "vip", "port", "protocol" in JSON and 127.100.0.1:80/TCP in a table; an
 * endpoint is "127.0.1.1:8080" in both. Tables fit 100 columns for the
 * usual names: a destination of the row's own service is shown without the
 * service's host ("v1:80", "(all):5432" for the whole service); JSON always
 * gives the full name.
 */
#include <stddef.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/lbpolicy_abi.h>
#include <bpfmesh/locality_abi.h>
#include "json.h"

struct lb_view {
	size_t n_services;
	const struct svc_key *keys; /* sorted by key */
	const struct svc_val *vals;
	void *ctx;
	/* Name of an id, or NULL when unknown. */
	const char *(*name)(void *ctx, __u32 id);
	/* Fetch one slot of a set: 0, or negative errno. */
	int (*slot)(void *ctx, __u32 set_id, __u32 slot, struct backend_val *out);
	/* Optional (NULL: not shown; set both or neither). A destination's
	 * loadBalancer policy ("lb", "table_size" and "hash" in the services'
	 * JSON; LB on a destination's first endpoint row), and an endpoint
	 * slot's open connections (OPEN, "open"): 0, or negative errno. */
	int (*lb)(void *ctx, const struct svc_dest *dest, struct lb_policy *out);
	int (*open)(void *ctx, __u32 ep_slot, __s64 *out);
	/* An endpoint slot's locality on this node (live maps only; NULL:
	 * none known): 0, or negative errno when it has none. */
	int (*locality)(void *ctx, __u32 ep_slot, struct ep_locality *out);
};

/* "ROUND_ROBIN", "LEAST_REQUEST", ... for enum bpfmesh_lb_algo. */
const char *lb_algo_name(__u32 algo);

/* "127.100.0.1:80/TCP" */
void format_svc_key(char *buf, size_t len, const struct svc_key *key);
void format_addr_port(char *buf, size_t len, const __be32 *addr, __be16 port);
/* The same for either family: "[fd00::1]:8080" for IPv6. */
void format_addr_port_family(char *buf, size_t len, __u8 family, const __be32 *addr,
			     __be16 port);
/* "vip": "127.100.0.1", "port": 80, "protocol": "TCP" into the open object. */
void json_svc_key(struct json *j, const struct svc_key *key);
/* A destination as a table shows it beside its service (see above). */
const char *short_destination(char *buf, size_t len, const char *service, const char *dest);

/* Table (j == NULL) or JSON array. Return the number of rows shown. */
size_t show_services(const struct lb_view *v, struct json *j);
size_t show_endpoints(const struct lb_view *v, struct json *j);

/* "1 service, 2 destinations, 3 endpoints" for what v holds. */
void show_totals(const struct lb_view *v, FILE *out);

#endif /* BPFMESH_SHOW_H */
