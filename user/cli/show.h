/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_SHOW_H
#define BPFMESH_SHOW_H
/*
 * Printing of load-balancing state, the same whether it comes from a
 * compiled image (bpfmesh compile) or from the live maps (bpfmesh maps):
 * both are presented through a struct lb_view.
 */
#include <stddef.h>
#include <bpfmesh/lb_abi.h>
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
};

/* "127.100.0.1:80/TCP" */
void format_svc_key(char *buf, size_t len, const struct svc_key *key);
void format_addr_port(char *buf, size_t len, const __be32 *addr, __be16 port);

/* Table (j == NULL) or JSON array. Return the number of rows shown. */
size_t show_services(const struct lb_view *v, struct json *j);
size_t show_endpoints(const struct lb_view *v, struct json *j);

#endif /* BPFMESH_SHOW_H */
