// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh: one binary, subcommands in the manner of bpftool and ip.
 *   bpfmesh [OPTIONS] { agent | lint | compile | maps | stats | uninstall | version |
 *                       help } ...
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "cli.h"

static const char top_usage[] =
	"Usage: bpfmesh [OPTIONS] COMMAND [ARGS]\n"
	"       bpfmesh help [COMMAND]\n"
	"       bpfmesh COMMAND --help\n"
	"\n"
	"COMMAND := { agent | lint | compile | maps | stats | status | uninstall |\n"
	"             version | help }\n"
	"  agent    run the node agent: compile policies, load, attach, watch\n"
	"  lint     check Istio policy files, as Istio would (exit 0 ok, 1 rejected)\n"
	"  compile  check and print what would be written to the kernel\n"
	"  maps     show what the kernel holds: services, endpoints, stats, pool\n"
	"  stats    the canary view: per service, subsets side by side, endpoints\n"
	"  status   the agent's policy: generation, applied and rejected resources\n"
	"  uninstall\n"
	"           remove the data plane a stopped agent left in force\n"
	"  version  print the version of bpfmesh and of the libbpf it uses\n"
	"  help     print this help, or a command's help\n"
	"\n"
	"OPTIONS := { -j|--json | -p|--pretty | -v|--verbose | -h|--help | -V|--version }\n"
	"  -j  JSON output (help prints null)   -p  pretty JSON, implies -j\n"
	"  -v  libbpf debug messages            -V  the same as `version`\n"
	"\n"
	"Exit status: 0 success, 1 policy rejected or operation failed,\n"
	"             2 usage or I/O error.\n";

static const char version_usage[] =
	"Usage: bpfmesh version [-j|-p]\n"
	"\n"
	"Print the version of bpfmesh and of the libbpf it was built with.\n";

static int do_help(int argc, char **argv);

static int do_version(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (cli_output_option(argv[i]))
			continue;
		if (cli_is_help(argv[i]))
			return cli_help(version_usage);
		cli_error("version takes no argument, not '%s'", argv[i]);
		return cli_usage_error(version_usage);
	}
	if (cli.json) {
		struct json j;

		json_init(&j, stdout, cli.pretty);
		json_obj_begin(&j);
		json_kv_str(&j, "version", BPFMESH_VERSION);
		json_kv_str(&j, "libbpf", libbpf_version_string());
		json_obj_end(&j);
		json_finish(&j);
	} else {
		printf("bpfmesh %s (libbpf %s)\n", BPFMESH_VERSION, libbpf_version_string());
	}
	return EXIT_OK;
}

static const struct cmd top_cmds[] = {
	{ "agent", do_agent },     { "lint", do_lint }, { "compile", do_compile },
	{ "maps", do_maps },       { "stats", do_stats },     { "status", do_status },
	{ "uninstall", do_uninstall }, { "version", do_version },
	{ "help", do_help },
	{ NULL, NULL },
};

/* `bpfmesh help COMMAND` is `bpfmesh COMMAND --help`. */
static int do_help(int argc, char **argv)
{
	char *sub[] = { argc > 1 ? argv[1] : NULL, "--help", NULL };

	if (argc < 2 || (argc == 2 && cli_is_help(argv[1])))
		return cli_help(top_usage);
	if (argc > 2) {
		cli_error("help takes one command name");
		return cli_usage_error(top_usage);
	}
	return cmd_dispatch(top_cmds, 2, sub, "command", top_usage);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !cli.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (cli_output_option(argv[i]))
			continue;
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			return cli_help(top_usage);
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			return do_version(0, NULL);
		} else {
			cli_error("unknown option '%s'", argv[i]);
			return cli_usage_error(top_usage);
		}
	}
	libbpf_set_print(libbpf_print);
	return cmd_dispatch(top_cmds, argc - i, argv + i, "command", top_usage);
}
