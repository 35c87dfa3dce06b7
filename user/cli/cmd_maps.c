// SPDX-License-Identifier: Apache-2.0
/* bpfmesh maps: what the kernel holds, read from a running agent's pins. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "kern/lb_read.h"
#include "kern/loader.h"
#include "kern/map_ops.h"
#include "show.h"
#include "table.h"

static const char *bpffs_dir = DEFAULT_BPFFS_DIR;

static const char maps_usage[] =
	"Usage: bpfmesh maps { services | endpoints | stats } [-j|-p] [--bpffs BPFFS_DIR]\n"
	"\n"
	"  services   per VIP:port: service, weighted destinations (WEIGHT as the policy\n"
	"             wrote it, SHARE of new connections), ENDPOINTS, GEN (generation)\n"
	"  endpoints  every endpoint of every destination, with its weight and share\n"
	"  stats      connections sent and refused per service, destination, endpoint;\n"
	"             then the node's verdict counters\n"
	"\n"
	"Reads the maps a running agent pinned under BPFFS_DIR (default\n"
	DEFAULT_BPFFS_DIR "). Rows are grouped by VIP, then destination; a\n"
	"destination of the VIP's own service is shown as SUBSET:PORT, or (all):PORT\n"
	"for the whole service. -j gives the same rows as JSON, with full names.\n";

static int open_pinned(const char *map_name)
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
	struct name_val name; /* last name looked up */
};

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

static int show_lb(bool endpoints)
{
	struct kernel_view kv = { .be_fd = -1, .names_fd = -1 };
	struct svc_key *keys = NULL;
	struct svc_val *vals = NULL;
	int svc_fd, err = EXIT_USAGE;
	struct json j;
	size_t n = 0;

	/* Stop at the first missing pin: one error, one JSON document. */
	svc_fd = open_pinned(BPFMESH_MAP_SERVICES);
	if (svc_fd < 0)
		goto out;
	kv.be_fd = open_pinned(BPFMESH_MAP_BACKENDS);
	if (kv.be_fd < 0)
		goto out;
	kv.names_fd = open_pinned(BPFMESH_MAP_NAMES);
	if (kv.names_fd < 0)
		goto out;
	if (lb_read_services(&kern_map_ops, svc_fd, &keys, &vals, &n)) {
		cli_error("cannot read %s", BPFMESH_MAP_SERVICES);
		goto out;
	}
	struct lb_view view = { .n_services = n, .keys = keys, .vals = vals, .ctx = &kv,
				.name = kernel_name, .slot = kernel_slot };
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
	if (svc_fd >= 0)
		close(svc_fd);
	if (kv.be_fd >= 0)
		close(kv.be_fd);
	if (kv.names_fd >= 0)
		close(kv.names_fd);
	return err;
}

static int do_services(int argc, char **argv) { return show_lb(false); }
static int do_endpoints(int argc, char **argv) { return show_lb(true); }

/* One counter row, with the names resolved, so that rows can be sorted the
 * way people read them: service address, destination, endpoint. */
struct stat_row {
	struct stats_key key;
	struct stats_val val;
	char *service, *dest;
};

struct stat_rows {
	struct kernel_view *kv;
	int svc_fd;
	struct stat_row *rows;
	size_t n, cap;
	int err;
};

static char *name_dup(struct kernel_view *kv, __u32 id)
{
	const char *n = kernel_name(kv, id);
	char buf[16];

	if (!n) {
		snprintf(buf, sizeof(buf), "#%08x", id);
		n = buf;
	}
	return strdup(n);
}

/* The service a VIP belongs to now; "-" when no service holds it any more. */
static char *service_of(struct stat_rows *r, const struct svc_key *key)
{
	struct svc_val val;

	if (bpf_map_lookup_elem(r->svc_fd, key, &val))
		return strdup("-");
	return name_dup(r->kv, val.service_id);
}

static int stat_collect(const struct stats_key *key, const struct stats_val *sum, void *ctx)
{
	struct stat_rows *r = ctx;
	struct stat_row *row;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct stat_row *grown = realloc(r->rows, cap * sizeof(*grown));

		if (!grown)
			return r->err = -ENOMEM;
		r->rows = grown;
		r->cap = cap;
	}
	row = &r->rows[r->n];
	*row = (struct stat_row){ .key = *key, .val = *sum, .service = service_of(r, &key->svc),
				  .dest = name_dup(r->kv, key->subset_id) };
	if (!row->service || !row->dest) {
		free(row->service);
		free(row->dest);
		return r->err = -ENOMEM;
	}
	r->n++;
	return 0;
}

static int cmp_u32(__u32 a, __u32 b)
{
	return a < b ? -1 : a > b;
}

/* Service address, destination name, then endpoint; the refused row of a
 * destination (no endpoint) comes after its endpoints. */
static int cmp_stat_row(const void *pa, const void *pb)
{
	const struct stat_row *a = pa, *b = pb;
	int c;

	if ((c = cmp_u32(ntohl(a->key.svc.addr[0]), ntohl(b->key.svc.addr[0]))) ||
	    (c = cmp_u32(ntohs(a->key.svc.port), ntohs(b->key.svc.port))) ||
	    (c = cmp_u32(a->key.svc.proto, b->key.svc.proto)) ||
	    (c = strcmp(a->dest, b->dest)) ||
	    (c = cmp_u32(!a->key.backend_port, !b->key.backend_port)) ||
	    (c = cmp_u32(ntohl(a->key.backend_addr[0]), ntohl(b->key.backend_addr[0]))))
		return c;
	return cmp_u32(ntohs(a->key.backend_port), ntohs(b->key.backend_port));
}

static void stat_row_json(const struct stat_row *row, struct json *j)
{
	char ep[64];

	json_obj_begin(j);
	json_svc_key(j, &row->key.svc);
	json_kv_str(j, "service", row->service);
	json_kv_str(j, "destination", row->dest);
	json_key(j, "endpoint");
	if (row->key.backend_port) {
		format_addr_port(ep, sizeof(ep), row->key.backend_addr, row->key.backend_port);
		json_str(j, ep);
	} else {
		json_null(j); /* refused: no endpoint was chosen */
	}
	json_kv_uint(j, "connects", row->val.connects);
	json_kv_uint(j, "refused", row->val.refused);
	json_obj_end(j);
}

/* VIP on a service's first row, DESTINATION on a destination's (as in
 * show_endpoints: the service's name is in JSON and `maps services`). */
static void stat_rows_table(const struct stat_row *rows, size_t n)
{
	static const char *const cols[] = { "VIP", "DESTINATION", "ENDPOINT", ">CONNECTS",
					    ">REFUSED" };
	char key[64], ep[64], shown[BPFMESH_NAME_LEN + 8], connects[24], refused[24];
	struct table t;
	size_t i;

	table_init(&t, 5, cols);
	for (i = 0; i < n; i++) {
		const struct stat_row *row = &rows[i];
		bool new_svc = !i || memcmp(&rows[i - 1].key.svc, &row->key.svc,
					    sizeof(row->key.svc));
		bool new_dest = new_svc || strcmp(rows[i - 1].dest, row->dest);

		format_svc_key(key, sizeof(key), &row->key.svc);
		if (row->key.backend_port)
			format_addr_port(ep, sizeof(ep), row->key.backend_addr,
					 row->key.backend_port);
		else
			snprintf(ep, sizeof(ep), "-");
		snprintf(connects, sizeof(connects), "%llu", (unsigned long long)row->val.connects);
		snprintf(refused, sizeof(refused), "%llu", (unsigned long long)row->val.refused);
		table_add(&t, (const char *const[]){
			new_svc ? key : "",
			new_dest ? short_destination(shown, sizeof(shown), row->service, row->dest)
				 : "",
			ep, connects, refused });
	}
	table_print(&t);
}

static void show_verdicts(const __u64 *counts, struct json *j)
{
	static const char *const cols[] = { "VERDICT", ">CONNECTIONS" };
	char count[24];
	struct table t;
	__u32 v;

	if (j) {
		json_key(j, "verdicts");
		json_obj_begin(j);
		for (v = 0; v < __BPFMESH_V_MAX; v++)
			json_kv_uint(j, lb_verdict_name(v), counts[v]);
		json_obj_end(j);
		return;
	}
	table_init(&t, 2, cols);
	for (v = 0; v < __BPFMESH_V_MAX; v++) {
		snprintf(count, sizeof(count), "%llu", (unsigned long long)counts[v]);
		table_add(&t, (const char *const[]){ lb_verdict_name(v), count });
	}
	table_print(&t);
}

static void stat_rows_free(struct stat_rows *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->rows[i].service);
		free(r->rows[i].dest);
	}
	free(r->rows);
}

static void stats_report(struct stat_rows *r, const __u64 *verdicts)
{
	struct json j;
	size_t i;

	if (!cli.json) {
		stat_rows_table(r->rows, r->n);
		printf("%zu %s in %s\n\n", r->n, cli_plural(r->n, "counter", "counters"),
		       bpffs_dir);
		show_verdicts(verdicts, NULL);
		return;
	}
	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_key(&j, "decisions");
	json_arr_begin(&j);
	for (i = 0; i < r->n; i++)
		stat_row_json(&r->rows[i], &j);
	json_arr_end(&j);
	show_verdicts(verdicts, &j);
	json_obj_end(&j);
	json_finish(&j);
}

static int do_stats(int argc, char **argv)
{
	struct kernel_view kv = { .be_fd = -1, .names_fd = -1 };
	int stats_fd = -1, verdict_fd = -1, ncpu = libbpf_num_possible_cpus();
	struct stat_rows rows = { .kv = &kv, .svc_fd = -1 };
	__u64 verdicts[__BPFMESH_V_MAX];
	int err = EXIT_USAGE;

	/* Stop at the first missing pin: one error, one JSON document. */
	if (ncpu <= 0 || (stats_fd = open_pinned(BPFMESH_MAP_STATS)) < 0 ||
	    (verdict_fd = open_pinned(BPFMESH_MAP_VERDICTS)) < 0 ||
	    (kv.names_fd = open_pinned(BPFMESH_MAP_NAMES)) < 0 ||
	    (rows.svc_fd = open_pinned(BPFMESH_MAP_SERVICES)) < 0)
		goto out;
	if (lb_read_stats(&kern_map_ops, stats_fd, ncpu, stat_collect, &rows) || rows.err ||
	    lb_read_verdicts(&kern_map_ops, verdict_fd, ncpu, verdicts)) {
		cli_error("cannot read the counters in %s", bpffs_dir);
		err = EXIT_REJECTED;
		goto out;
	}
	if (rows.n)
		qsort(rows.rows, rows.n, sizeof(*rows.rows), cmp_stat_row);
	stats_report(&rows, verdicts);
	err = EXIT_OK;
out:
	stat_rows_free(&rows);
	if (stats_fd >= 0)
		close(stats_fd);
	if (verdict_fd >= 0)
		close(verdict_fd);
	if (kv.names_fd >= 0)
		close(kv.names_fd);
	if (rows.svc_fd >= 0)
		close(rows.svc_fd);
	return err;
}

static const struct cmd maps_cmds[] = {
	{ "services", do_services },
	{ "endpoints", do_endpoints },
	{ "stats", do_stats },
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
