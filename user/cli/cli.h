/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_CLI_H
#define BPFMESH_CLI_H
/* Shared by the subcommands of the bpfmesh binary (bpftool's manner). */
#include <stdbool.h>
#include <stdio.h>
#include "json.h"

#define BPFMESH_VERSION "0.1.0"
#define DEFAULT_BPFFS_DIR "/sys/fs/bpf/bpfmesh"

/* Exit codes of lint/compile, and of every command on bad usage. */
enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2 };

struct cli {
	bool json;    /* -j */
	bool pretty;  /* -p, implies json */
	bool verbose; /* -v: libbpf debug output */
};
extern struct cli cli;

struct cmd {
	const char *name;
	int (*handler)(int argc, char **argv);
};

/* Run the command argv[0] names (an unambiguous prefix will do). No name,
 * or one that matches nothing, is a mistake: usage on stderr, EXIT_USAGE. */
int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, const char *object,
		 const char *usage);

/* -h, --help, or the word help: the user asks for help. */
bool cli_is_help(const char *arg);

/* Help the user asked for goes to stdout (so that `| less` works) and exits
 * 0, as GNU tools and kubectl do; in JSON mode it is `null`, as in bpftool.
 * Returns EXIT_OK. */
int cli_help(const char *text);

/* After a mistake (already reported with cli_error): the usage text on
 * stderr, whatever the output mode. Returns EXIT_USAGE. */
int cli_usage_error(const char *text);

/* "1 file", "2 files": counts in sentences read as English. */
const char *cli_plural(unsigned long long n, const char *one, const char *many);

/* "Error: ..." on stderr, or {"error": "..."} in JSON mode. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* -j/--json and -p/--pretty (which implies -j), the output options every
 * command accepts before or after its name: true when arg was one of them. */
bool cli_output_option(const char *arg);

/* True when arg is a long option (--name) or short option; value for
 * "--name VALUE" is taken from argv[*i + 1]. */
const char *cli_option_value(int argc, char **argv, int *i, const char *name);

int do_agent(int argc, char **argv);
int do_lint(int argc, char **argv);
int do_compile(int argc, char **argv);
int do_maps(int argc, char **argv);
/* bpfmesh maps pool (cmd_maps_pool.c): an exit code. */
int maps_show_pool(const char *bpffs_dir);
/* bpfmesh maps memory (cmd_maps_mem.c). */
int maps_show_memory(const char *bpffs_dir);
/* cmd_maps.c: the pin map_name of the maps' --bpffs dir, or negative errno
 * (reported). */
int open_pinned(const char *map_name);
int do_stats(int argc, char **argv);
int do_uninstall(int argc, char **argv);
int do_status(int argc, char **argv);

#endif /* BPFMESH_CLI_H */
