// SPDX-License-Identifier: Apache-2.0
/* What every subcommand shares: global options, dispatch, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

struct cli cli;

void cli_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cli.json) {
		struct json j;

		json_init(&j, stdout, cli.pretty);
		json_obj_begin(&j);
		json_kv_str(&j, "error", buf);
		json_obj_end(&j);
		json_finish(&j);
	} else {
		fprintf(stderr, "Error: %s\n", buf);
	}
}

bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

int cli_help(const char *text)
{
	fputs(cli.json ? "null\n" : text, stdout);
	return EXIT_OK;
}

int cli_usage_error(const char *text)
{
	fputs(text, stderr);
	return EXIT_USAGE;
}

const char *cli_plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, const char *object,
		 const char *usage)
{
	const struct cmd *match = NULL;
	size_t len;
	int i;

	if (argc < 1) {
		cli_error("no %s given", object);
		return cli_usage_error(usage);
	}
	len = strlen(argv[0]);
	for (i = 0; cmds[i].name; i++) {
		if (strcmp(cmds[i].name, argv[0]) == 0) {
			match = &cmds[i];
			break;
		}
		if (strncmp(cmds[i].name, argv[0], len) == 0) {
			if (match) {
				cli_error("'%s' is ambiguous for %s", argv[0], object);
				return cli_usage_error(usage);
			}
			match = &cmds[i];
		}
	}
	if (!match) {
		cli_error("unknown %s '%s'", object, argv[0]);
		return cli_usage_error(usage);
	}
	return match->handler(argc, argv);
}

bool cli_output_option(const char *arg)
{
	if (!strcmp(arg, "-j") || !strcmp(arg, "--json")) {
		cli.json = true;
		return true;
	}
	if (!strcmp(arg, "-p") || !strcmp(arg, "--pretty")) {
		cli.json = cli.pretty = true;
		return true;
	}
	return false;
}

const char *cli_option_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0' || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}
