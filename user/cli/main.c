// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh: one binary, subcommands in the manner of bpftool and ip.
 *   bpfmesh [OPTIONS] { agent | lint | compile | maps | help } ...
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "cli.h"

static void usage(void)
{
	if (cli.json) {
		fputs("null\n", stdout);
		return;
	}
	fprintf(stderr,
		"Usage: bpfmesh [OPTIONS] COMMAND [ARGS]\n"
		"       bpfmesh COMMAND --help\n"
		"\n"
		"COMMAND := { agent | lint | compile | maps | stats | version | help }\n"
		"  agent    run the node agent: compile policies, load, attach, watch\n"
		"  lint     check Istio policy files, as Istio would (exit 0 ok, 1 rejected)\n"
		"  compile  check and print what would be written to the kernel\n"
		"  maps     show what the kernel holds: services, endpoints, stats\n"
		"  stats    the canary view: per service, subsets side by side, endpoints\n"
		"\n"
		"OPTIONS := { -j|--json | -p|--pretty | -v|--verbose }\n");
}

static int do_help(int argc, char **argv)
{
	usage();
	return EXIT_OK;
}

static int do_version(int argc, char **argv)
{
	if (cli.json)
		printf("{\"version\":\"%s\"}\n", BPFMESH_VERSION);
	else
		printf("bpfmesh %s (libbpf %s)\n", BPFMESH_VERSION, libbpf_version_string());
	return EXIT_OK;
}

static const struct cmd top_cmds[] = {
	{ "agent", do_agent },     { "lint", do_lint }, { "compile", do_compile },
	{ "maps", do_maps },       { "stats", do_stats },     { "version", do_version },
	{ "help", do_help },
	{ NULL, NULL },
};

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
			usage();
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			return do_version(0, NULL);
		} else {
			cli_error("unknown option '%s'", argv[i]);
			usage();
			return EXIT_USAGE;
		}
	}
	libbpf_set_print(libbpf_print);
	return cmd_dispatch(top_cmds, argc - i, argv + i, "command", usage);
}
