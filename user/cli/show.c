// SPDX-License-Identifier: Apache-2.0
/* Services and endpoints, from an image or the live maps (see show.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "show.h"
#include "table.h"

void format_addr_port(char *buf, size_t len, const __be32 *addr, __be16 port)
{
	format_addr_port_family(buf, len, BPFMESH_AF_INET, addr, port);
}

/* IPv6 in brackets, as in a URL (RFC 3986): [fd00::1]:8080. */
void format_addr_port_family(char *buf, size_t len, __u8 family, const __be32 *addr,
			     __be16 port)
{
	char ip[INET6_ADDRSTRLEN];
	int af = family == BPFMESH_AF_INET6 ? AF_INET6 : AF_INET;

	inet_ntop(af, addr, ip, sizeof(ip));
	snprintf(buf, len, af == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, ntohs(port));
}

static const char *family_name(const struct svc_key *key)
{
	return key->family == BPFMESH_AF_INET6 ? "IPv6" : "IPv4";
}

static const char *proto_name(const struct svc_key *key)
{
	return key->proto == BPFMESH_PROTO_UDP ? "UDP" : "TCP";
}

void format_svc_key(char *buf, size_t len, const struct svc_key *key)
{
	char ap[INET6_ADDRSTRLEN + 16];

	format_addr_port_family(ap, sizeof(ap), key->family, key->addr, key->port);
	if (key->identity) /* the route for callers of one workload identity */
		snprintf(buf, len, "%s/%s<-id%u", ap, proto_name(key), key->identity);
	else
		snprintf(buf, len, "%s/%s", ap, proto_name(key));
}

void json_svc_key(struct json *j, const struct svc_key *key)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(key->family == BPFMESH_AF_INET6 ? AF_INET6 : AF_INET, key->addr, ip, sizeof(ip));
	json_kv_str(j, "vip", ip);
	json_kv_uint(j, "port", ntohs(key->port));
	json_kv_str(j, "protocol", proto_name(key));
	json_kv_str(j, "family", family_name(key));
	if (key->identity)
		json_kv_uint(j, "source_identity", key->identity);
}

/* Destination names are "host/subset:port" or, for the whole service,
 * "host:port" (user/policy/compile_sets.c). */
const char *short_destination(char *buf, size_t len, const char *service, const char *dest)
{
	size_t n = strlen(service);

	if (strncmp(dest, service, n) != 0)
		snprintf(buf, len, "%s", dest);
	else if (dest[n] == '/')
		snprintf(buf, len, "%s", dest + n + 1);
	else if (dest[n] == ':')
		snprintf(buf, len, "(all)%s", dest + n);
	else
		snprintf(buf, len, "%s", dest);
	return buf;
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

static __u32 reduced_weight(const struct svc_val *val, unsigned int d)
{
	return val->dests[d].cum_weight - (d ? val->dests[d - 1].cum_weight : 0);
}

/* The policy's own number when the value carries it; the share is the
 * reduced weight over the total, the same fraction. */
static __u32 dest_weight(const struct svc_val *val, unsigned int d)
{
	return val->dests[d].route_weight ? val->dests[d].route_weight : reduced_weight(val, d);
}

static double dest_share(const struct svc_val *val, unsigned int d)
{
	return val->total_weight ? (double)reduced_weight(val, d) / val->total_weight : 0;
}

static unsigned int n_dests(const struct svc_val *val)
{
	return val->n_dests < BPFMESH_MAX_DESTS ? val->n_dests : BPFMESH_MAX_DESTS;
}

const char *lb_algo_name(__u32 algo)
{
	static const char *const names[__BPFMESH_LB_MAX] = {
		[BPFMESH_LB_RANDOM] = "RANDOM",
		[BPFMESH_LB_ROUND_ROBIN] = "ROUND_ROBIN",
		[BPFMESH_LB_LEAST_REQUEST] = "LEAST_REQUEST",
		[BPFMESH_LB_PASSTHROUGH] = "PASSTHROUGH",
		[BPFMESH_LB_MAGLEV] = "MAGLEV",
	};

	return algo < __BPFMESH_LB_MAX ? names[algo] : "?";
}

/* The destination's policy as a table cell ("" when the view has none):
 * MAGLEV with its table size, RING_HASH when asked as ringHash. */
static const char *lb_cell(const struct lb_view *v, const struct svc_dest *dest, char *buf,
			   size_t len)
{
	struct lb_policy pol;

	buf[0] = '\0';
	if (!v->lb || v->lb(v->ctx, dest, &pol))
		return buf;
	if (pol.algo == BPFMESH_LB_MAGLEV)
		snprintf(buf, len, "%s/%u", pol.flags & BPFMESH_LB_F_RING_HASH ? "RING" : "MAGLEV",
			 pol.table_size);
	else
		snprintf(buf, len, "%s", lb_algo_name(pol.algo));
	return buf;
}

static void json_dest_lb(const struct lb_view *v, const struct svc_dest *dest, struct json *j)
{
	struct lb_policy pol;

	if (!v->lb || v->lb(v->ctx, dest, &pol))
		return;
	json_kv_str(j, "lb", lb_algo_name(pol.algo));
	if (pol.algo != BPFMESH_LB_MAGLEV)
		return;
	json_kv_uint(j, "table_size", pol.table_size);
	json_kv_str(j, "hash", pol.flags & BPFMESH_LB_F_RING_HASH ? "ringHash" : "maglev");
}

static void show_service_json(const struct lb_view *v, size_t i, struct json *j)
{
	const struct svc_val *val = &v->vals[i];
	char nb[BPFMESH_NAME_LEN];
	unsigned int d;

	json_obj_begin(j);
	json_svc_key(j, &v->keys[i]);
	json_kv_str(j, "service", name_or_id(v, val->service_id, nb, sizeof(nb)));
	json_kv_uint(j, "generation", val->generation);
	json_key(j, "destinations");
	json_arr_begin(j);
	for (d = 0; d < n_dests(val); d++) {
		json_obj_begin(j);
		json_kv_str(j, "destination",
			    name_or_id(v, val->dests[d].subset_id, nb, sizeof(nb)));
		json_kv_uint(j, "weight", dest_weight(val, d));
		json_key(j, "share");
		json_double(j, dest_share(val, d));
		json_kv_uint(j, "set", val->dests[d].set_id);
		json_kv_uint(j, "endpoints", val->dests[d].n_slots);
		json_dest_lb(v, &val->dests[d], j);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

/* Rows of one service; VIP, SERVICE and GEN only on its first row. */
static void add_service_rows(const struct lb_view *v, size_t i, struct table *t)
{
	const struct svc_val *val = &v->vals[i];
	char key[INET6_ADDRSTRLEN + 24], svc[BPFMESH_NAME_LEN], dest[BPFMESH_NAME_LEN], shown[BPFMESH_NAME_LEN + 8];
	char gen[16], weight[16], share[16], eps[16];
	unsigned int d;

	format_svc_key(key, sizeof(key), &v->keys[i]);
	name_or_id(v, val->service_id, svc, sizeof(svc));
	snprintf(gen, sizeof(gen), "%u", val->generation);
	for (d = 0; d < n_dests(val); d++) {
		name_or_id(v, val->dests[d].subset_id, dest, sizeof(dest));
		snprintf(weight, sizeof(weight), "%u", dest_weight(val, d));
		snprintf(share, sizeof(share), "%.1f%%", 100 * dest_share(val, d));
		snprintf(eps, sizeof(eps), "%u", val->dests[d].n_slots);
		table_add(t, (const char *const[]){
			d ? "" : key, d ? "" : svc,
			short_destination(shown, sizeof(shown), svc, dest),
			weight, share, eps, d ? "" : gen });
	}
}

size_t show_services(const struct lb_view *v, struct json *j)
{
	static const char *const cols[] = { "VIP", "SERVICE", "DESTINATION", ">WEIGHT",
					    ">SHARE", ">ENDPOINTS", ">GEN" };
	struct table t;
	size_t i;

	if (j) {
		json_arr_begin(j);
		for (i = 0; i < v->n_services; i++)
			show_service_json(v, i, j);
		json_arr_end(j);
		return v->n_services;
	}
	table_init(&t, 7, cols);
	for (i = 0; i < v->n_services; i++)
		add_service_rows(v, i, &t);
	table_print(&t);
	return v->n_services;
}

/* One destination's endpoints as the kernel holds them, with what each
 * really receives: its effective weight, read back from the alias columns
 * (slot j keeps threshold_j of its column and gives the rest to alias_j,
 * so endpoint i gets n x w_i of n x set_weight; select.h), which the agent
 * writes from the locality arithmetic (policy/locality.h) and the
 * ejections. */
struct dest_rows {
	struct backend_val *b;
	__u64 *eff_n;    /* n x effective weight */
	struct ep_locality *loc;
	bool *have_loc;
	__u32 n;
};

static void dest_rows_free(struct dest_rows *r)
{
	free(r->b);
	free(r->eff_n);
	free(r->loc);
	free(r->have_loc);
	memset(r, 0, sizeof(*r));
}

static int dest_rows_read(const struct lb_view *v, const struct svc_dest *dest,
			  struct dest_rows *r)
{
	__u32 s, n = dest->n_slots, got = 0;

	memset(r, 0, sizeof(*r));
	r->b = calloc(n + 1, sizeof(*r->b));
	r->eff_n = calloc(n + 1, sizeof(*r->eff_n));
	r->loc = calloc(n + 1, sizeof(*r->loc));
	r->have_loc = calloc(n + 1, sizeof(*r->have_loc));
	if (!r->b || !r->eff_n || !r->loc || !r->have_loc)
		return -1;
	for (s = 0; s < n; s++) {
		if (v->slot(v->ctx, dest->set_id, s, &r->b[got]))
			continue;
		r->have_loc[got] = v->locality && r->b[got].slot &&
				   !v->locality(v->ctx, r->b[got].slot, &r->loc[got]);
		got++;
	}
	r->n = got;
	for (s = 0; got == n && s < n; s++) {
		__u32 thr = r->b[s].threshold < dest->set_weight ? r->b[s].threshold
								 : dest->set_weight;

		r->eff_n[s] += thr;
		if (r->b[s].alias < n)
			r->eff_n[r->b[s].alias] += dest->set_weight - thr;
	}
	return 0;
}

static double row_share(const struct dest_rows *r, __u32 s, const struct svc_dest *dest)
{
	return r->n && dest->set_weight ? (double)r->eff_n[s] / ((double)r->n * dest->set_weight)
					: 0;
}

static void show_endpoint_json(const struct lb_view *v, size_t i, unsigned int d,
			       const struct dest_rows *r, __u32 s, struct json *j)
{
	const struct svc_dest *dest = &v->vals[i].dests[d];
	const struct backend_val *b = &r->b[s];
	char ep[64], nb[BPFMESH_NAME_LEN];
	__s64 open;

	format_addr_port_family(ep, sizeof(ep), v->keys[i].family, b->addr, b->port);
	json_obj_begin(j);
	json_svc_key(j, &v->keys[i]);
	json_kv_str(j, "service", name_or_id(v, v->vals[i].service_id, nb, sizeof(nb)));
	json_kv_str(j, "destination", name_or_id(v, dest->subset_id, nb, sizeof(nb)));
	json_kv_uint(j, "set", dest->set_id);
	json_kv_str(j, "endpoint", ep);
	json_kv_uint(j, "weight", b->weight);
	if (v->locality) /* live maps: what this node's agent made of it */
		json_kv_uint(j, "effective_weight", r->n ? r->eff_n[s] / r->n : 0);
	json_key(j, "share");
	json_double(j, row_share(r, s, dest));
	if (v->open && !v->open(v->ctx, b->slot, &open))
		json_kv_uint(j, "open", open > 0 ? (unsigned long long)open : 0);
	if (r->have_loc[s]) {
		json_kv_str(j, "locality", r->loc[s].locality);
		json_kv_uint(j, "priority", r->loc[s].priority);
	}
	json_obj_end(j);
}

/* The optional columns of `maps endpoints`. */
struct endpoint_cols {
	bool open; /* OPEN and LB: the loadBalancer maps are there */
	bool loc;  /* EFFECTIVE, LOCALITY, PRIO: some endpoint has a locality */
};

/* Table rows: VIP on a service's first row, DESTINATION on a destination's
 * first row, so that the groups read down the page. The service's name is
 * left to `maps services` (and JSON): with it the table would pass 100
 * columns for ordinary Kubernetes names. With localities known, the
 * effective weight, the locality and the priority follow. */

static void add_endpoint_row(const struct lb_view *v, size_t i, unsigned int d,
			     const struct dest_rows *r, __u32 s, const struct endpoint_cols *with,
			     struct table *t)
{
	const struct svc_dest *dest = &v->vals[i].dests[d];
	const struct backend_val *b = &r->b[s];
	char key[INET6_ADDRSTRLEN + 24], svc[BPFMESH_NAME_LEN], dn[BPFMESH_NAME_LEN], shown[BPFMESH_NAME_LEN + 8];
	char ep[64], weight[16], share[16], open[24] = "", lb[32] = "", eff[16], prio[16];
	const char *cells[10];
	int n = 0;
	bool first_of_svc = d == 0 && s == 0;
	__s64 n_open;

	format_svc_key(key, sizeof(key), &v->keys[i]);
	name_or_id(v, v->vals[i].service_id, svc, sizeof(svc));
	name_or_id(v, dest->subset_id, dn, sizeof(dn));
	format_addr_port_family(ep, sizeof(ep), v->keys[i].family, b->addr, b->port);
	snprintf(weight, sizeof(weight), "%u", b->weight);
	snprintf(share, sizeof(share), "%.1f%%", 100.0 * row_share(r, s, dest));
	cells[n++] = first_of_svc ? key : "";
	cells[n++] = s == 0 ? short_destination(shown, sizeof(shown), svc, dn) : "";
	cells[n++] = ep;
	cells[n++] = weight;
	cells[n++] = share;
	if (with->open) {
		if (s == 0)
			lb_cell(v, dest, lb, sizeof(lb));
		if (!v->open(v->ctx, b->slot, &n_open))
			snprintf(open, sizeof(open), "%lld", n_open > 0 ? (long long)n_open : 0LL);
		cells[n++] = open;
		cells[n++] = lb;
	}
	if (with->loc) {
		snprintf(eff, sizeof(eff), "%llu",
			 (unsigned long long)(r->n ? r->eff_n[s] / r->n : 0));
		snprintf(prio, sizeof(prio), "%u", r->have_loc[s] ? r->loc[s].priority : 0);
		cells[n++] = eff;
		cells[n++] = r->have_loc[s] ? r->loc[s].locality : "-";
		cells[n++] = prio;
	}
	table_add(t, cells);
}
/* Does any endpoint have a locality entry? Then the table shows them. */
static bool view_has_localities(const struct lb_view *v)
{
	struct ep_locality l;
	size_t i;
	unsigned int d;
	__u32 s;

	for (i = 0; v->locality && i < v->n_services; i++)
		for (d = 0; d < n_dests(&v->vals[i]); d++)
			for (s = 0; s < v->vals[i].dests[d].n_slots; s++) {
				struct backend_val b;

				if (!v->slot(v->ctx, v->vals[i].dests[d].set_id, s, &b) && b.slot &&
				    !v->locality(v->ctx, b.slot, &l))
					return true;
			}
	return false;
}

/* VIP .. SHARE, then the optional columns. */
static void endpoint_table_init(struct table *t, const struct endpoint_cols *with)
{
	const char *cols[10] = { "VIP", "DESTINATION", "ENDPOINT", ">WEIGHT", ">SHARE" };
	size_t n = 5;

	if (with->open) { /* OPEN and LB from the live maps */
		cols[n++] = ">OPEN";
		cols[n++] = "LB";
	}
	if (with->loc) {
		cols[n++] = ">EFFECTIVE";
		cols[n++] = "LOCALITY";
		cols[n++] = ">PRIO";
	}
	table_init(t, n, cols);
}

size_t show_endpoints(const struct lb_view *v, struct json *j)
{
	struct endpoint_cols with = { .open = !j && v->open, .loc = !j && view_has_localities(v) };
	size_t i, rows = 0;
	struct dest_rows r;
	struct table t;
	unsigned int d;
	__u32 s;

	if (j)
		json_arr_begin(j);
	else
		endpoint_table_init(&t, &with);
	for (i = 0; i < v->n_services; i++) {
		const struct svc_val *val = &v->vals[i];

		for (d = 0; d < n_dests(val); d++) {
			if (dest_rows_read(v, &val->dests[d], &r) == 0) {
				for (s = 0; s < r.n; s++, rows++) {
					if (j)
						show_endpoint_json(v, i, d, &r, s, j);
					else
						add_endpoint_row(v, i, d, &r, s, &with, &t);
				}
			}
			dest_rows_free(&r);
		}
	}
	if (j)
		json_arr_end(j);
	else
		table_print(&t);
	return rows;
}

void show_totals(const struct lb_view *v, FILE *out)
{
	size_t i, dests = 0, eps = 0, v6 = 0;
	unsigned int d;

	for (i = 0; i < v->n_services; i++) {
		v6 += v->keys[i].family == BPFMESH_AF_INET6;
		dests += n_dests(&v->vals[i]);
		for (d = 0; d < n_dests(&v->vals[i]); d++)
			eps += v->vals[i].dests[d].n_slots;
	}
	fprintf(out, "%zu %s", v->n_services, cli_plural(v->n_services, "service", "services"));
	if (v6) /* per family, once there is IPv6 */
		fprintf(out, " (%zu IPv4, %zu IPv6)", v->n_services - v6, v6);
	fprintf(out, ", %zu %s, %zu %s", dests,
		cli_plural(dests, "destination", "destinations"), eps,
		cli_plural(eps, "endpoint", "endpoints"));
}
