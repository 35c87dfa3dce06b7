// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "show.h"

void format_addr_port(char *buf, size_t len, const __be32 *addr, __be16 port)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(port));
}

void format_svc_key(char *buf, size_t len, const struct svc_key *key)
{
	char ap[64];

	format_addr_port(ap, sizeof(ap), key->addr, key->port);
	snprintf(buf, len, "%s/%s", ap, key->proto == BPFMESH_PROTO_UDP ? "UDP" : "TCP");
}

/* Copied into buf: a view may return the same storage for every name. */
static const char *name_or_id(const struct lb_view *v, __u32 id, char *buf, size_t len)
{
	const char *n = v->name(v->ctx, id);

	if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "#%08x", id);
	return buf;
}

static __u32 dest_weight(const struct svc_val *val, unsigned int d)
{
	return val->dests[d].cum_weight - (d ? val->dests[d - 1].cum_weight : 0);
}

static void show_service_json(const struct lb_view *v, size_t i, struct json *j)
{
	const struct svc_key *k = &v->keys[i];
	const struct svc_val *val = &v->vals[i];
	char ip[INET_ADDRSTRLEN], nb[BPFMESH_NAME_LEN];
	unsigned int d;

	inet_ntop(AF_INET, k->addr, ip, sizeof(ip));
	json_obj_begin(j);
	json_kv_str(j, "service", name_or_id(v, val->service_id, nb, sizeof(nb)));
	json_kv_str(j, "vip", ip);
	json_kv_uint(j, "port", ntohs(k->port));
	json_kv_str(j, "protocol", k->proto == BPFMESH_PROTO_UDP ? "UDP" : "TCP");
	json_kv_uint(j, "generation", val->generation);
	json_key(j, "destinations");
	json_arr_begin(j);
	for (d = 0; d < val->n_dests && d < BPFMESH_MAX_DESTS; d++) {
		json_obj_begin(j);
		json_kv_str(j, "destination",
			    name_or_id(v, val->dests[d].subset_id, nb, sizeof(nb)));
		json_kv_uint(j, "weight", dest_weight(val, d));
		json_key(j, "share");
		json_double(j, val->total_weight ? (double)dest_weight(val, d) / val->total_weight : 0);
		json_kv_uint(j, "set", val->dests[d].set_id);
		json_kv_uint(j, "endpoints", val->dests[d].n_slots);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

static void show_service_plain(const struct lb_view *v, size_t i)
{
	const struct svc_val *val = &v->vals[i];
	char key[64], nb[BPFMESH_NAME_LEN], nb2[BPFMESH_NAME_LEN];
	unsigned int d;

	format_svc_key(key, sizeof(key), &v->keys[i]);
	for (d = 0; d < val->n_dests && d < BPFMESH_MAX_DESTS; d++) {
		double share = val->total_weight ?
			100.0 * dest_weight(val, d) / val->total_weight : 0;

		printf("%-24s %-40s %5u  %-48s %6u %6.1f%% %5u\n", d ? "" : key,
		       d ? "" : name_or_id(v, val->service_id, nb, sizeof(nb)),
		       val->generation, name_or_id(v, val->dests[d].subset_id, nb2, sizeof(nb2)),
		       dest_weight(val, d), share, val->dests[d].n_slots);
	}
}

size_t show_services(const struct lb_view *v, struct json *j)
{
	size_t i;

	if (j) {
		json_arr_begin(j);
		for (i = 0; i < v->n_services; i++)
			show_service_json(v, i, j);
		json_arr_end(j);
		return v->n_services;
	}
	printf("%-24s %-40s %5s  %-48s %6s %7s %5s\n", "VIP", "SERVICE", "GEN", "DESTINATION",
	       "WEIGHT", "SHARE", "EPS");
	for (i = 0; i < v->n_services; i++)
		show_service_plain(v, i);
	return v->n_services;
}

/* One endpoint row; share is the endpoint's part of its destination. */
static void show_endpoint_row(const struct lb_view *v, size_t i, unsigned int d,
			      const struct backend_val *b, struct json *j)
{
	const struct svc_dest *dest = &v->vals[i].dests[d];
	double share = dest->set_weight ? (double)b->weight / dest->set_weight : 0;
	char key[64], ep[64], nb[BPFMESH_NAME_LEN];

	format_svc_key(key, sizeof(key), &v->keys[i]);
	format_addr_port(ep, sizeof(ep), b->addr, b->port);
	if (!j) {
		printf("%-24s %-48s %-22s %6u %6.1f%%\n", key,
		       name_or_id(v, dest->subset_id, nb, sizeof(nb)), ep, b->weight, 100 * share);
		return;
	}
	json_obj_begin(j);
	json_kv_str(j, "vip", key);
	json_kv_str(j, "destination", name_or_id(v, dest->subset_id, nb, sizeof(nb)));
	json_kv_uint(j, "set", dest->set_id);
	json_kv_str(j, "endpoint", ep);
	json_kv_uint(j, "weight", b->weight);
	json_key(j, "share");
	json_double(j, share);
	json_obj_end(j);
}

size_t show_endpoints(const struct lb_view *v, struct json *j)
{
	size_t i, rows = 0;
	unsigned int d, s;

	if (j)
		json_arr_begin(j);
	else
		printf("%-24s %-48s %-22s %6s %7s\n", "VIP", "DESTINATION", "ENDPOINT", "WEIGHT",
		       "SHARE");
	for (i = 0; i < v->n_services; i++) {
		const struct svc_val *val = &v->vals[i];

		for (d = 0; d < val->n_dests && d < BPFMESH_MAX_DESTS; d++) {
			for (s = 0; s < val->dests[d].n_slots; s++) {
				struct backend_val b;

				if (v->slot(v->ctx, val->dests[d].set_id, s, &b))
					continue;
				show_endpoint_row(v, i, d, &b, j);
				rows++;
			}
		}
	}
	if (j)
		json_arr_end(j);
	return rows;
}
