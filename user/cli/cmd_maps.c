// SPDX-License-Identifier: Apache-2.0
/* bpfmesh maps: what the kernel holds, read from a running agent's pins. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/identity_abi.h>
#include "cli.h"
#include "kern/health_read.h"
#include "kern/lb_read.h"
#include "kern/loader.h"
#include "kern/map_ops.h"
#include "kern/node_read.h"
#include "show.h"
#include "table.h"

static const char *bpffs_dir = DEFAULT_BPFFS_DIR;

static const char maps_usage[] =
	"Usage: bpfmesh maps { services | endpoints | stats | pool | identities |\n"
	"                      memory } [-j|-p] [--bpffs BPFFS_DIR]\n"
	"\n"
	"  services   per VIP:port: service, weighted destinations (WEIGHT as the policy\n"
	"             wrote it, SHARE of new connections), ENDPOINTS, GEN (generation)\n"
	"  endpoints  every endpoint of every destination, with its weight and share,\n"
	"             OPEN (connections open now: LEAST_REQUEST's measure) and LB (the\n"
	"             destination's loadBalancer; MAGLEV/size, RING/size)\n"
	"  stats      per destination and endpoint slot: connections, failures,\n"
	"             ejections, refusals (no healthy upstream); node verdicts.\n"
	"             `bpfmesh stats` shows the same counters as a canary view\n"
	"  pool       per destination: its connectionPool.tcp (MAXCONN, CONNECT timeout,\n"
	"             KEEPALIVE, DURATION, IDLE), connections OPEN against the limit now,\n"
	"             and connects refused by it (OVERFLOW, Istio UO)\n"
	"  identities workload identities: cgroup id -> identity (a WorkloadEntry\n"
	"             with bpfmesh.io/cgroup); a VIP's row \"<-idN\" is identity N's route\n"
	"  memory     every pinned map: type, ALLOC (prealloc: all MAX_ENTRIES charged at\n"
	"             creation; on insert: the hash buckets, then each element), sizes\n"
	"             and MEMLOCK (the kernel's charge), largest first, and the total\n"
	"\n"
	"Reads the maps a running agent pinned under BPFFS_DIR (default\n"
	DEFAULT_BPFFS_DIR "). Rows are grouped by VIP, then destination; a\n"
	"destination of the VIP's own service is shown as SUBSET:PORT, or (all):PORT\n"
	"for the whole service. -j gives the same rows as JSON, with full names.\n";

struct stats_rows {
	const struct health_maps *hm;
	struct json *j;   /* JSON output, or NULL for tables */
	struct table *t;  /* the table being filled */
	__u64 now_ns;
	size_t n;
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}


int open_pinned(const char *map_name)
{
	char path[PATH_MAX];
	int fd;

	if (lb_pin_path(path, sizeof(path), bpffs_dir, map_name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = -errno;

		cli_error("cannot open %s: %s (is an agent running with --bpffs %s?)", path,
			  strerror(errno), bpffs_dir);
		return err;
	}
	return fd;
}

struct kernel_view {
	int be_fd, names_fd;
	int lb_fd, open_fd; /* loadBalancer maps; < 0 when absent (an older agent) */
	int loc_fd;         /* endpoint localities; < 0: an agent without them */
	struct name_val name; /* last name looked up */
};

static int kernel_lb(void *ctx, const struct svc_dest *dest, struct lb_policy *out)
{
	struct kernel_view *kv = ctx;
	__u32 slot = dest->cluster_slot;

	if (slot == 0)
		return -ENOENT;
	return bpf_map_lookup_elem(kv->lb_fd, &slot, out) ? -errno : 0;
}

static int kernel_open(void *ctx, __u32 ep_slot, __s64 *out)
{
	struct kernel_view *kv = ctx;
	struct lb_active a;

	if (ep_slot == 0 || bpf_map_lookup_elem(kv->open_fd, &ep_slot, &a))
		return -ENOENT;
	*out = a.open;
	return 0;
}

static const char *kernel_name(void *ctx, __u32 id)
{
	struct kernel_view *kv = ctx;

	if (bpf_map_lookup_elem(kv->names_fd, &id, &kv->name))
		return NULL;
	kv->name.name[BPFMESH_NAME_LEN - 1] = '\0';
	return kv->name.name;
}

static int kernel_slot(void *ctx, __u32 set_id, __u32 slot, struct backend_val *out)
{
	struct kernel_view *kv = ctx;
	struct backend_key key = { .set_id = set_id, .slot = slot };

	return bpf_map_lookup_elem(kv->be_fd, &key, out) ? -errno : 0;
}

/* Every service from the pinned service maps, through the indirection
 * (lb_read.h), as parallel key and value arrays for the lb_view. 0, or
 * non-zero after reporting the error. */
static int read_pinned_services(struct svc_key **keys, struct svc_val **vals, size_t *n)
{
	struct svc_maps m = { .ids_fd = -1, .heads_fd = -1, .routes_fd = -1 };
	struct svc_entry *e = NULL;
	int err = -1;
	size_t i;

	m.ids_fd = open_pinned(BPFMESH_MAP_SVC_IDS);
	if (m.ids_fd >= 0)
		m.heads_fd = open_pinned(BPFMESH_MAP_SVC_HEADS);
	if (m.heads_fd >= 0)
		m.routes_fd = open_pinned(BPFMESH_MAP_ROUTES);
	if (m.routes_fd >= 0) {
		err = lb_read_services(&kern_map_ops, &m, &e, n);
		if (err)
			cli_error("cannot read %s", BPFMESH_MAP_SVC_IDS);
	}
	*keys = err ? NULL : calloc(*n + 1, sizeof(**keys));
	*vals = err ? NULL : calloc(*n + 1, sizeof(**vals));
	if (!err && (!*keys || !*vals)) {
		cli_error("out of memory");
		err = -ENOMEM;
	}
	for (i = 0; !err && i < *n; i++) {
		(*keys)[i] = e[i].key;
		(*vals)[i] = e[i].val;
	}
	free(e);
	if (m.ids_fd >= 0)
		close(m.ids_fd);
	if (m.heads_fd >= 0)
		close(m.heads_fd);
	if (m.routes_fd >= 0)
		close(m.routes_fd);
	return err;
}

static int kernel_locality(void *ctx, __u32 ep_slot, struct ep_locality *out)
{
	struct kernel_view *kv = ctx;

	if (kv->loc_fd < 0 || bpf_map_lookup_elem(kv->loc_fd, &ep_slot, out))
		return -ENOENT;
	out->locality[BPFMESH_LOCALITY_LEN - 1] = '\0';
	return 0;
}

static int show_lb(bool endpoints)
{
	struct kernel_view kv = { .be_fd = -1, .names_fd = -1, .lb_fd = -1, .open_fd = -1,
				   .loc_fd = -1 };
	struct svc_key *keys = NULL;
	struct svc_val *vals = NULL;
	int err = EXIT_USAGE;
	struct json j;
	size_t n = 0;

	/* Stop at the first missing pin: one error, one JSON document. */
	if (read_pinned_services(&keys, &vals, &n))
		goto out;
	kv.be_fd = open_pinned(BPFMESH_MAP_BACKENDS);
	if (kv.be_fd < 0)
		goto out;
	kv.names_fd = open_pinned(BPFMESH_MAP_NAMES);
	if (kv.names_fd < 0)
		goto out;
	struct lb_view view = { .n_services = n, .keys = keys, .vals = vals, .ctx = &kv,
				.name = kernel_name, .slot = kernel_slot,
				.locality = kernel_locality };
	kv.lb_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_LB_POLICY);
	kv.open_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_LB_ACTIVE);
	if (kv.lb_fd >= 0 && kv.open_fd >= 0) {
		view.lb = kernel_lb;
		view.open = kernel_open;
	}
	kv.loc_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_EP_LOCALITY);
	if (cli.json) {
		json_init(&j, stdout, cli.pretty);
		if (endpoints)
			show_endpoints(&view, &j);
		else
			show_services(&view, &j);
		json_finish(&j);
	} else {
		if (endpoints)
			show_endpoints(&view, NULL);
		else
			show_services(&view, NULL);
		show_totals(&view, stdout);
		printf(" in %s\n", bpffs_dir);
	}
	err = EXIT_OK;
out:
	free(keys);
	free(vals);
	if (kv.be_fd >= 0)
		close(kv.be_fd);
	if (kv.names_fd >= 0)
		close(kv.names_fd);
	if (kv.lb_fd >= 0)
		close(kv.lb_fd);
	if (kv.open_fd >= 0)
		close(kv.open_fd);
	if (kv.loc_fd >= 0)
		close(kv.loc_fd);
	return err;
}

static int do_services(int argc, char **argv) { return show_lb(false); }
static int do_endpoints(int argc, char **argv) { return show_lb(true); }

/* One endpoint slot: its cluster, address and what its connections did. */
static int stat_endpoint(const struct health_endpoint *ep, void *ctx)
{
	struct stats_rows *r = ctx;
	struct health_cluster cl;
	__u64 failed = ep->c.fail_refused + ep->c.fail_timeout + ep->c.fail_reset +
		       ep->c.fail_other;
	bool ejected = health_is_ejected(&ep->h, r->now_ns);
	char addr[40];

	health_read_cluster(r->hm, ep->h.cluster_slot, &cl);
	health_endpoint_addr(&ep->h, addr, sizeof(addr));
	r->n++;
	if (!r->j) {
		char slot[16], opened[24], established[24], nfailed[24], closed[24];

		snprintf(slot, sizeof(slot), "%u", ep->slot);
		snprintf(opened, sizeof(opened), "%llu", (unsigned long long)ep->c.opened);
		snprintf(established, sizeof(established), "%llu",
			 (unsigned long long)ep->c.established);
		snprintf(nfailed, sizeof(nfailed), "%llu", (unsigned long long)failed);
		snprintf(closed, sizeof(closed), "%llu", (unsigned long long)ep->c.closed);
		table_add(r->t, (const char *const[]){ cl.name, addr, slot, opened, established,
						       nfailed, closed,
						       ejected ? "ejected" : "-" });
		return 0;
	}
	json_obj_begin(r->j);
	json_kv_str(r->j, "destination", cl.name);
	json_kv_str(r->j, "endpoint", addr);
	json_kv_uint(r->j, "slot", ep->slot);
	json_kv_uint(r->j, "opened", ep->c.opened);
	json_kv_uint(r->j, "established", ep->c.established);
	json_kv_uint(r->j, "closed", ep->c.closed);
	json_kv_uint(r->j, "failed_refused", ep->c.fail_refused);
	json_kv_uint(r->j, "failed_timeout", ep->c.fail_timeout);
	json_kv_uint(r->j, "failed_reset", ep->c.fail_reset);
	json_kv_uint(r->j, "failed_other", ep->c.fail_other);
	json_kv_uint(r->j, "bytes_sent", ep->c.bytes_sent);
	json_kv_uint(r->j, "bytes_received", ep->c.bytes_received);
	json_kv_uint(r->j, "ejections", ep->h.ejections);
	json_kv_str(r->j, "state", ejected ? "ejected" : "in_service");
	json_obj_end(r->j);
	return 0;
}

/* One cluster slot: its refusals and ejections. */
static int stat_cluster(const struct health_cluster *cl, void *ctx)
{
	struct stats_rows *r = ctx;

	r->n++;
	if (!r->j) {
		char slot[16], total[16], ejected[24], ejections[24], refused[24];

		snprintf(slot, sizeof(slot), "%u", cl->slot);
		snprintf(total, sizeof(total), "%u", cl->cfg.total_endpoints);
		snprintf(ejected, sizeof(ejected), "%llu", (unsigned long long)cl->st.ejected);
		snprintf(ejections, sizeof(ejections), "%llu", (unsigned long long)cl->st.ejections);
		snprintf(refused, sizeof(refused), "%llu",
			 (unsigned long long)cl->st.no_healthy_upstream);
		table_add(r->t, (const char *const[]){ cl->name, slot, total, ejected, ejections,
						       refused });
		return 0;
	}
	json_obj_begin(r->j);
	json_kv_str(r->j, "destination", cl->name);
	json_kv_uint(r->j, "slot", cl->slot);
	json_kv_uint(r->j, "endpoints", cl->cfg.total_endpoints);
	json_kv_uint(r->j, "ejected", cl->st.ejected);
	json_kv_uint(r->j, "ejections", cl->st.ejections);
	json_kv_uint(r->j, "refused", cl->st.no_healthy_upstream);
	json_obj_end(r->j);
	return 0;
}

/* A two-column table of named node-wide counters. */
static void show_counter_table(const char *what, const char *unit, const __u64 *counts,
			       unsigned int n, const char *(*name)(unsigned int))
{
	const char *cols[] = { what, unit };
	char count[24];
	struct table t;
	__u32 i;

	table_init(&t, 2, cols);
	for (i = 0; i < n; i++) {
		snprintf(count, sizeof(count), "%llu", (unsigned long long)counts[i]);
		table_add(&t, (const char *const[]){ name(i), count });
	}
	table_print(&t);
}

static const char *verdict_name(unsigned int v)
{
	return lb_verdict_name(v);
}

static const char *sm_name(unsigned int s)
{
	return sockmap_stat_name(s);
}

static void json_counters(struct json *j, const char *key, const __u64 *counts, unsigned int n,
			  const char *(*name)(unsigned int))
{
	__u32 i;

	json_key(j, key);
	json_obj_begin(j);
	for (i = 0; i < n; i++)
		json_kv_uint(j, name(i), counts[i]);
	json_obj_end(j);
}

/* Connect verdicts, then same-node acceleration when its maps exist. */
static void show_node_counters(const struct node_maps *nm, struct json *j)
{
	struct node_counters nc;

	if (node_read(nm, &nc))
		return;
	if (j) {
		json_counters(j, "verdicts", nc.verdicts, __BPFMESH_V_MAX, verdict_name);
		if (nc.have_sockmap)
			json_counters(j, "sockmap", nc.sockmap, __BPFMESH_SM_MAX, sm_name);
		return;
	}
	show_counter_table("VERDICT", ">CONNECTIONS", nc.verdicts, __BPFMESH_V_MAX, verdict_name);
	if (!nc.have_sockmap)
		return;
	putchar('\n');
	show_counter_table("SOCKMAP", ">COUNT", nc.sockmap, __BPFMESH_SM_MAX, sm_name);
}

static int do_maps_stats(int argc, char **argv)
{
	static const char *const cluster_cols[] = { "DESTINATION", ">SLOT", ">ENDPOINTS",
						    ">EJECTED", ">EJECTIONS", ">REFUSED" };
	static const char *const endpoint_cols[] = { "DESTINATION", "ENDPOINT", ">SLOT",
						     ">OPENED", ">ESTABL", ">FAILED", ">CLOSED",
						     "STATE" };
	struct stats_rows rows = { .now_ns = mono_ns() };
	struct health_maps hm;
	struct node_maps nm;
	size_t n_clusters;
	int err;
	struct table t;
	struct json j;

	err = node_open(&nm, bpffs_dir);
	if (err) {
		cli_error("cannot open the maps in %s: %s (is an agent running with --bpffs %s?)",
			  bpffs_dir, strerror(-err), bpffs_dir);
		return EXIT_USAGE;
	}
	err = health_open(&hm, bpffs_dir);
	if (err) {
		cli_error("cannot open the health maps in %s: %s", bpffs_dir, strerror(-err));
		node_close(&nm);
		return EXIT_USAGE;
	}
	rows.hm = &hm;
	if (cli.json) {
		json_init(&j, stdout, cli.pretty);
		rows.j = &j;
		json_obj_begin(&j);
		json_key(&j, "destinations");
		json_arr_begin(&j);
	} else {
		table_init(&t, 6, cluster_cols);
		rows.t = &t;
	}
	health_for_each_cluster(&hm, stat_cluster, &rows);
	n_clusters = rows.n;
	if (rows.j) {
		json_arr_end(&j);
		json_key(&j, "endpoints");
		json_arr_begin(&j);
	} else {
		table_print(&t);
		putchar('\n');
		table_init(&t, 8, endpoint_cols);
	}
	health_for_each_endpoint(&hm, stat_endpoint, &rows);
	if (rows.j) {
		json_arr_end(&j);
		show_node_counters(&nm, &j);
		json_obj_end(&j);
		json_finish(&j);
	} else {
		table_print(&t);
		printf("%zu %s, %zu endpoint %s in %s\n\n", n_clusters,
		       cli_plural(n_clusters, "destination", "destinations"), rows.n - n_clusters,
		       cli_plural(rows.n - n_clusters, "slot", "slots"), bpffs_dir);
		show_node_counters(&nm, NULL);
	}
	health_close(&hm);
	node_close(&nm);
	return EXIT_OK;
}

static int do_maps_pool(int argc, char **argv) { return maps_show_pool(bpffs_dir); }
static int do_maps_memory(int argc, char **argv) { return maps_show_memory(bpffs_dir); }
struct identity_row {
	__u64 cgroup_id;
	struct identity_val v;
};

static int identity_row_cmp(const void *a, const void *b)
{
	const struct identity_row *x = a, *y = b;

	if (x->v.identity != y->v.identity)
		return x->v.identity < y->v.identity ? -1 : 1;
	return x->cgroup_id < y->cgroup_id ? -1 : x->cgroup_id > y->cgroup_id;
}

static void show_identities(const struct identity_row *rows, size_t n)
{
	static const char *const cols[] = { ">IDENTITY", "WORKLOAD", ">CGROUP_ID" };
	char id[16], cg[24];
	struct table t;
	struct json j;
	size_t i;

	if (cli.json) {
		json_init(&j, stdout, cli.pretty);
		json_arr_begin(&j);
		for (i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kv_uint(&j, "identity", rows[i].v.identity);
			json_kv_str(&j, "workload", rows[i].v.workload);
			json_kv_uint(&j, "cgroup_id", rows[i].cgroup_id);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_finish(&j);
		return;
	}
	table_init(&t, 3, cols);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%u", rows[i].v.identity);
		snprintf(cg, sizeof(cg), "%llu", (unsigned long long)rows[i].cgroup_id);
		table_add(&t, (const char *const[]){ id, rows[i].v.workload, cg });
	}
	table_print(&t);
	printf("%zu workload %s in %s\n", n, cli_plural(n, "cgroup", "cgroups"), bpffs_dir);
}

static int do_identities(int argc, char **argv)
{
	const size_t size = sizeof(__u64) + sizeof(struct identity_val);
	struct identity_row *rows;
	unsigned char *elems;
	int fd = open_pinned(BPFMESH_MAP_IDENTITIES);
	size_t i, n = 0;
	void *got;

	if (fd < 0)
		return EXIT_USAGE;
	/* Out of memory, the entries read so far are shown. */
	map_collect(&kern_map_ops, fd, sizeof(__u64), sizeof(struct identity_val), NULL, NULL,
		    &got, &n);
	close(fd);
	elems = got;
	rows = calloc(n + 1, sizeof(*rows));
	for (i = 0; rows && i < n; i++) {
		memcpy(&rows[i].cgroup_id, elems + i * size, sizeof(rows[i].cgroup_id));
		memcpy(&rows[i].v, elems + i * size + sizeof(__u64), sizeof(rows[i].v));
	}
	free(got);
	if (!rows)
		n = 0;
	if (n)
		qsort(rows, n, sizeof(*rows), identity_row_cmp);
	show_identities(rows, n);
	free(rows);
	return EXIT_OK;
}

static const struct cmd maps_cmds[] = {
	{ "services", do_services },
	{ "endpoints", do_endpoints },
	{ "stats", do_maps_stats },
	{ "pool", do_maps_pool },
	{ "identities", do_identities },
	{ "memory", do_maps_memory },
	{ NULL, NULL },
};

int do_maps(int argc, char **argv)
{
	char **rest = calloc(argc + 1, sizeof(*rest));
	int i, n = 0, rc;

	if (!rest)
		return EXIT_USAGE;
	for (i = 1; i < argc; i++) {
		const char *v;

		if (cli_output_option(argv[i]))
			continue;
		if (cli_is_help(argv[i])) {
			free(rest);
			return cli_help(maps_usage);
		} else if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			bpffs_dir = v;
		} else if (argv[i][0] == '-') {
			cli_error("unknown or incomplete option '%s'", argv[i]);
			free(rest);
			return cli_usage_error(maps_usage);
		} else {
			rest[n++] = argv[i];
		}
	}
	if (n > 1) {
		cli_error("one maps command at a time, not '%s' and '%s'", rest[0], rest[1]);
		free(rest);
		return cli_usage_error(maps_usage);
	}
	rc = cmd_dispatch(maps_cmds, n, rest, "maps command", maps_usage);
	free(rest);
	return rc;
}
