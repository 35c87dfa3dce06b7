// SPDX-License-Identifier: Apache-2.0
/* bpfmesh maps: what the kernel holds, read from a running agent's pins. */
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

static const char *bpffs_dir = DEFAULT_BPFFS_DIR;

static void maps_help(void)
{
	if (cli.json) {
		puts("null");
		return;
	}
	fprintf(stderr,
		"Usage: bpfmesh maps { services | endpoints | stats } [-j|-p] [--bpffs DIR]\n"
		"\n"
		"  services   VIP:port, service, generation, weighted destinations\n"
		"  endpoints  every endpoint of every destination, with its weight and share\n"
		"  stats      decisions per service, destination and endpoint; node verdicts\n"
		"\n"
		"DIR is the agent's bpffs directory (default " DEFAULT_BPFFS_DIR ").\n");
}

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
	size_t n = 0, rows;

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
		rows = endpoints ? show_endpoints(&view, &j) : show_services(&view, &j);
		json_finish(&j);
	} else {
		rows = endpoints ? show_endpoints(&view, NULL) : show_services(&view, NULL);
		printf("Found %zu entries\n", rows);
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

static void show_stat_row(struct kernel_view *kv, const struct stats_key *k,
			  const struct stats_val *v, struct json *j)
{
	char svc[64], ep[64];
	const char *dest = kernel_name(kv, k->subset_id);
	char idbuf[16];

	format_svc_key(svc, sizeof(svc), &k->svc);
	if (k->backend_port)
		format_addr_port(ep, sizeof(ep), k->backend_addr, k->backend_port);
	else
		snprintf(ep, sizeof(ep), "-");
	if (!dest) {
		snprintf(idbuf, sizeof(idbuf), "#%08x", k->subset_id);
		dest = idbuf;
	}
	if (!j) {
		printf("%-24s %-48s %-22s %10llu %10llu\n", svc, dest, ep,
		       (unsigned long long)v->connects, (unsigned long long)v->refused);
		return;
	}
	json_obj_begin(j);
	json_kv_str(j, "vip", svc);
	json_kv_str(j, "destination", dest);
	json_kv_str(j, "endpoint", ep);
	json_kv_uint(j, "connects", v->connects);
	json_kv_uint(j, "refused", v->refused);
	json_obj_end(j);
}

static void show_verdicts(int fd, int ncpu, struct json *j)
{
	__u64 counts[__BPFMESH_V_MAX];
	__u32 v;

	if (lb_read_verdicts(&kern_map_ops, fd, ncpu, counts))
		return;
	if (j) {
		json_key(j, "verdicts");
		json_obj_begin(j);
	} else {
		printf("\nNode verdicts:\n");
	}
	for (v = 0; v < __BPFMESH_V_MAX; v++) {
		if (j)
			json_kv_uint(j, lb_verdict_name(v), counts[v]);
		else
			printf("  %-22s %llu\n", lb_verdict_name(v), (unsigned long long)counts[v]);
	}
	if (j)
		json_obj_end(j);
}

struct stats_rows {
	struct kernel_view *kv;
	struct json *j;
	size_t n;
};

static int stat_row(const struct stats_key *key, const struct stats_val *sum, void *ctx)
{
	struct stats_rows *r = ctx;

	show_stat_row(r->kv, key, sum, r->j);
	r->n++;
	return 0;
}

static int do_stats(int argc, char **argv)
{
	struct kernel_view kv = { .be_fd = -1 };
	int stats_fd, verdict_fd, ncpu = libbpf_num_possible_cpus();
	struct json j;
	struct stats_rows rows = { .kv = &kv };

	stats_fd = open_pinned(BPFMESH_MAP_STATS);
	verdict_fd = stats_fd < 0 ? -1 : open_pinned(BPFMESH_MAP_VERDICTS);
	kv.names_fd = verdict_fd < 0 ? -1 : open_pinned(BPFMESH_MAP_NAMES);
	if (kv.names_fd < 0 || ncpu <= 0) {
		if (stats_fd >= 0)
			close(stats_fd);
		if (verdict_fd >= 0)
			close(verdict_fd);
		return EXIT_USAGE;
	}
	if (cli.json) {
		json_init(&j, stdout, cli.pretty);
		rows.j = &j;
		json_obj_begin(rows.j);
		json_key(rows.j, "decisions");
		json_arr_begin(rows.j);
	} else {
		printf("%-24s %-48s %-22s %10s %10s\n", "VIP", "DESTINATION", "ENDPOINT",
		       "CONNECTS", "REFUSED");
	}
	lb_read_stats(&kern_map_ops, stats_fd, ncpu, stat_row, &rows);
	if (rows.j) {
		json_arr_end(rows.j);
		show_verdicts(verdict_fd, ncpu, rows.j);
		json_obj_end(rows.j);
		json_finish(rows.j);
	} else {
		printf("Found %zu entries\n", rows.n);
		show_verdicts(verdict_fd, ncpu, NULL);
	}
	close(stats_fd);
	close(verdict_fd);
	close(kv.names_fd);
	return EXIT_OK;
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
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "help")) {
			maps_help();
			free(rest);
			return EXIT_OK;
		} else if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			bpffs_dir = v;
		} else if (argv[i][0] == '-') {
			cli_error("unknown option '%s'", argv[i]);
			free(rest);
			return EXIT_USAGE;
		} else {
			rest[n++] = argv[i];
		}
	}
	rc = cmd_dispatch(maps_cmds, n, rest, "maps command", maps_help);
	free(rest);
	return rc;
}
