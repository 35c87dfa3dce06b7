// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh uninstall [--bpffs DIR] [--cgroup DIR] [--interfaces IF[,IF...]]:
 * remove the data plane an agent leaves in force when it stops
 * (kern/uninstall.h). Run it after stopping the agent: a running agent
 * would pin and attach again at its next start only, but would no longer
 * decide anything meanwhile.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "kern/sysfs.h"
#include "kern/uninstall.h"

static const char uninstall_usage[] =
	"Usage: bpfmesh uninstall [--bpffs BPFFS_DIR] [--cgroup CGROUP_DIR]\n"
	"                         [--interfaces IF[,IF...]] [-j|-p]\n"
	"\n"
	"Removes what `bpfmesh agent` leaves in force when it stops (SIGTERM keeps\n"
	"the data plane deciding): every pin under BPFFS_DIR (default\n"
	DEFAULT_BPFFS_DIR ") and the directory, detaching each pinned link first;\n"
	"every bpfmesh program still attached to CGROUP_DIR (default: the cgroup2\n"
	"mount root, as for the agent), by link or not; bpfmesh's clsact filter on\n"
	"each of the --interfaces. Maps are freed with the last pin and program\n"
	"that hold them. Stop the agent first. Exit 0 when everything found was\n"
	"removed (nothing found is not an error), 1 otherwise.\n";

static void print_report(const struct lb_uninstall_report *r, const char *bpffs)
{
	if (cli.json) {
		struct json j;

		json_init(&j, stdout, cli.pretty);
		json_obj_begin(&j);
		json_kv_uint(&j, "pins", r->pins);
		json_kv_uint(&j, "links", r->links);
		json_kv_uint(&j, "attachments", r->attachments);
		json_kv_uint(&j, "tc_filters", r->tc_filters);
		json_key(&j, "dir_removed");
		json_bool(&j, r->dir_removed);
		json_obj_end(&j);
		json_finish(&j);
		return;
	}
	printf("removed %u pins, detached %u links, %u cgroup attachments, %u tc filters; "
	       "%s %s\n", r->pins, r->links, r->attachments, r->tc_filters, bpffs,
	       r->dir_removed ? "removed" : "absent");
}

int do_uninstall(int argc, char **argv)
{
	const char *bpffs = DEFAULT_BPFFS_DIR, *interfaces = NULL, *v;
	struct lb_uninstall_report r;
	char cgroup[PATH_MAX] = "";
	int i, err;

	for (i = 1; i < argc; i++) {
		if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			bpffs = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--cgroup"))) {
			snprintf(cgroup, sizeof(cgroup), "%s", v);
		} else if ((v = cli_option_value(argc, argv, &i, "--interfaces"))) {
			interfaces = v;
		} else if (cli_output_option(argv[i])) {
			continue;
		} else if (cli_is_help(argv[i])) {
			return cli_help(uninstall_usage);
		} else {
			cli_error("unknown or incomplete option '%s'", argv[i]);
			return cli_usage_error(uninstall_usage);
		}
	}
	if (!cgroup[0] && cgroup2_root(cgroup, sizeof(cgroup))) {
		cli_error("no cgroup2 filesystem in /proc/mounts; pass --cgroup");
		return EXIT_USAGE;
	}
	err = lb_uninstall(bpffs, cgroup, interfaces, &r);
	print_report(&r, bpffs);
	if (err) {
		cli_error("uninstall: %s (what could be removed was)", strerror(-err));
		return EXIT_REJECTED;
	}
	return EXIT_OK;
}
