// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh status [-j] [--bpffs DIR] [--state-dir DIR]: what the agent
 * managing DIR last did with the policy: its generation, when it last
 * applied, the resources in force and the ones rejected with the first
 * reason of each (file:line:col: field: message), and the kernel features
 * it found. Reads the status file the agent writes (agent/status.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent/status.h"
#include "cli.h"

#define STATUS_MAX_FIELDS 10

static const char status_usage[] =
	"Usage: bpfmesh status [-j|-p] [--bpffs DIR] [--state-dir DIR]\n"
	"\n"
	"What the agent managing DIR (default " DEFAULT_BPFFS_DIR ") last did with\n"
	"the policy: generation in force, last apply time, resources applied and\n"
	"rejected (each with its first diagnostic), kernel features. Read from the\n"
	"status file the agent writes in its state directory (default\n"
	DEFAULT_STATE_DIR "). Exit status 1 when there is none.\n";

/* One line of the file split at tabs, in place. */
struct status_line {
	char *f[STATUS_MAX_FIELDS];
	int n;
};

/* Empty fields are kept (a namespace may be empty): strsep, not strtok. */
static void split_fields(char *line, struct status_line *l)
{
	char *tok;

	l->n = 0;
	line[strcspn(line, "\n")] = '\0';
	while ((tok = strsep(&line, "\t")) && l->n < STATUS_MAX_FIELDS)
		l->f[l->n++] = tok;
}

/* The file's lines, kept for the printers: one pass each. */
struct status_file {
	char **lines;
	size_t n;
};

static void status_free(struct status_file *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->lines[i]);
	free(s->lines);
}

static int status_read(const char *path, struct status_file *s)
{
	char *line = NULL, **v;
	size_t cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		v = realloc(s->lines, (s->n + 1) * sizeof(*v));
		if (!v)
			break;
		s->lines = v;
		line[strcspn(line, "\n")] = '\0';
		s->lines[s->n++] = line;
		line = NULL;
		cap = 0;
	}
	free(line);
	fclose(f);
	if (!s->n || strncmp(s->lines[0], STATUS_MAGIC, strlen(STATUS_MAGIC)))
		return -EBADMSG;
	return 0;
}

/* The line whose first field is key, or NULL. */
static const char *status_line_of(const struct status_file *s, const char *key)
{
	size_t i, kl = strlen(key);

	for (i = 1; i < s->n; i++) {
		if (!strncmp(s->lines[i], key, kl) && s->lines[i][kl] == '\t')
			return s->lines[i];
	}
	return NULL;
}

/* The fields of that line, split in buf. */
static struct status_line status_get(const struct status_file *s, const char *key, char *buf,
				     size_t len)
{
	const char *line = status_line_of(s, key);
	struct status_line l = { 0 };

	if (line) {
		snprintf(buf, len, "%s", line);
		split_fields(buf, &l);
	}
	return l;
}

/* The value of a one-value line: the rest of it, after the key. */
static const char *status_str(const struct status_file *s, const char *key)
{
	const char *line = status_line_of(s, key);

	return line ? line + strlen(key) + 1 : "";
}

static unsigned long long status_num(const struct status_file *s, const char *key)
{
	return strtoull(status_str(s, key), NULL, 10);
}

/* "2026-11-26 07:00:00.123 UTC", or "never" for 0. */
static void fmt_time(char *buf, size_t len, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "never");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03lld UTC", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/* Calls fn for each line whose first field is key, split into fields. */
static void for_each_line(const struct status_file *s, const char *key,
			  void (*fn)(struct status_line *l, void *ctx), void *ctx)
{
	size_t i, kl = strlen(key);
	struct status_line l;
	char *buf;

	for (i = 1; i < s->n; i++) {
		if (strncmp(s->lines[i], key, kl) || s->lines[i][kl] != '\t')
			continue;
		buf = strdup(s->lines[i]);
		if (!buf)
			return;
		split_fields(buf, &l);
		fn(&l, ctx);
		free(buf);
	}
}

/* Prints the resource lines of one state, or the feature lines:
 * resource STATE KIND NS NAME FILE LINE LAST_GOOD [DIAG] | feature NAME 0|1 */
struct line_printer {
	const char *state;
	struct json *j; /* NULL: plain text */
	int n;          /* features printed so far (plain) */
};

static void plain_resource(struct status_line *l, bool rejected)
{
	if (!strcmp(l->f[2], "File")) {
		printf("  file %s: its resources keep their last good versions\n", l->f[4]);
	} else {
		printf("  %s %s/%s  %s:%s", l->f[2], l->f[3], l->f[4], l->f[5], l->f[6]);
		if (rejected)
			printf("  %s", !strcmp(l->f[7], "1") ? "last good version in force"
							     : "not in force");
		putchar('\n');
	}
	if (rejected && l->n > 8)
		printf("    %s\n", l->f[8]);
}

static void json_resource(struct status_line *l, struct json *j);

static void print_resource(struct status_line *l, void *ctx)
{
	struct line_printer *p = ctx;

	if (l->n < 8 || strcmp(l->f[1], p->state))
		return;
	if (p->j)
		json_resource(l, p->j);
	else
		plain_resource(l, !strcmp(p->state, "rejected"));
}

static void print_feature(struct status_line *l, void *ctx)
{
	struct line_printer *p = ctx;
	bool have = l->n >= 3 && !strcmp(l->f[2], "1");

	if (l->n < 3)
		return;
	if (p->j) {
		json_key(p->j, l->f[1]);
		json_bool(p->j, have);
	} else {
		printf("%s %s %s", p->n++ % 6 ? "," : "\n ", l->f[1], have ? "yes" : "NO");
	}
}

/* kubernetes REACHABLE SYNCED OUTAGE_SINCE_MS [LAST_ERROR], when the agent
 * watches a cluster. */
static void k8s_plain(const struct status_file *s)
{
	struct status_line l;
	char buf[512], at[64];

	l = status_get(s, "kubernetes", buf, sizeof(buf));
	if (l.n < 4)
		return;
	if (strcmp(l.f[1], "1")) {
		fmt_time(at, sizeof(at), strtoll(l.f[3], NULL, 10));
		printf("kubernetes API: UNREACHABLE since %s (%s): the last good state stays in "
		       "force\n", at, l.n > 4 ? l.f[4] : "");
	} else {
		printf("kubernetes API: reachable, %s\n", strcmp(l.f[2], "1")
			       ? "waiting for the first list of every kind"
			       : "every kind listed");
	}
}

static void k8s_json(const struct status_file *s, struct json *j)
{
	struct status_line l;
	char buf[512];

	l = status_get(s, "kubernetes", buf, sizeof(buf));
	if (l.n < 4)
		return;
	json_key(j, "kubernetes");
	json_obj_begin(j);
	json_key(j, "reachable");
	json_bool(j, !strcmp(l.f[1], "1"));
	json_key(j, "synced");
	json_bool(j, !strcmp(l.f[2], "1"));
	json_kv_uint(j, "outage_since_ms", strtoull(l.f[3], NULL, 10));
	json_kv_str(j, "last_error", l.n > 4 ? l.f[4] : "");
	json_obj_end(j);
}

static void status_plain(const struct status_file *s)
{
	struct line_printer rejected = { .state = "rejected" }, applied = { .state = "applied" },
			    feat = { .n = 0 };
	struct status_line l;
	char at[64], buf[256];

	fmt_time(at, sizeof(at), (long long)status_num(s, "applied_at_ms"));
	printf("generation %llu, last applied %s (agent pid %llu)\n",
	       status_num(s, "generation"), at, status_num(s, "pid"));
	printf("policies %s, bpffs %s\n", status_str(s, "policies"), status_str(s, "bpffs"));
	k8s_plain(s);
	l = status_get(s, "resources", buf, sizeof(buf));
	printf("resources: %s applied, %s rejected\n", l.n > 1 ? l.f[1] : "0",
	       l.n > 2 ? l.f[2] : "0");
	if (l.n > 2 && strcmp(l.f[2], "0")) {
		printf("rejected:\n");
		for_each_line(s, "resource", print_resource, &rejected);
	}
	printf("applied:\n");
	for_each_line(s, "resource", print_resource, &applied);
	printf("kernel features:");
	for_each_line(s, "feature", print_feature, &feat);
	putchar('\n');
}

static void json_resource(struct status_line *l, struct json *j)
{
	bool rejected = !strcmp(l->f[1], "rejected");

	json_obj_begin(j);
	json_kv_str(j, "kind", l->f[2]);
	json_kv_str(j, "namespace", l->f[3]);
	json_kv_str(j, "name", l->f[4]);
	json_kv_str(j, "file", l->f[5]);
	json_kv_uint(j, "line", strtoull(l->f[6], NULL, 10));
	if (rejected) {
		json_key(j, "last_good_in_force");
		json_bool(j, !strcmp(l->f[7], "1"));
		json_kv_str(j, "diagnostic", l->n > 8 ? l->f[8] : "");
	}
	json_obj_end(j);
}

static void status_json(const struct status_file *s)
{
	struct json j;
	struct line_printer rejected = { .state = "rejected", .j = &j },
			    applied = { .state = "applied", .j = &j };
	struct status_line l;
	char buf[256];

	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_kv_uint(&j, "generation", status_num(s, "generation"));
	json_kv_uint(&j, "applied_at_ms", status_num(s, "applied_at_ms"));
	json_kv_uint(&j, "written_at_ms", status_num(s, "written_at_ms"));
	json_kv_uint(&j, "pid", status_num(s, "pid"));
	json_kv_str(&j, "policies", status_str(s, "policies"));
	json_kv_str(&j, "bpffs", status_str(s, "bpffs"));
	k8s_json(s, &j);
	l = status_get(s, "resources", buf, sizeof(buf));
	json_key(&j, "resources");
	json_obj_begin(&j);
	json_kv_uint(&j, "applied", l.n > 1 ? strtoull(l.f[1], NULL, 10) : 0);
	json_kv_uint(&j, "rejected", l.n > 2 ? strtoull(l.f[2], NULL, 10) : 0);
	json_obj_end(&j);
	json_key(&j, "rejected");
	json_arr_begin(&j);
	for_each_line(s, "resource", print_resource, &rejected);
	json_arr_end(&j);
	json_key(&j, "applied");
	json_arr_begin(&j);
	for_each_line(s, "resource", print_resource, &applied);
	json_arr_end(&j);
	json_key(&j, "kernel_features");
	json_obj_begin(&j);
	for_each_line(s, "feature", print_feature, &applied);
	json_obj_end(&j);
	json_obj_end(&j);
	json_finish(&j);
}

int do_status(int argc, char **argv)
{
	const char *bpffs = DEFAULT_BPFFS_DIR, *state_dir = DEFAULT_STATE_DIR, *v;
	struct status_file s = { 0 };
	char path[4096];
	int i, err;

	for (i = 1; i < argc; i++) {
		if (cli_output_option(argv[i]))
			continue;
		if (cli_is_help(argv[i]))
			return cli_help(status_usage);
		if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			bpffs = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--state-dir"))) {
			state_dir = v;
		} else {
			cli_error("unknown or incomplete option '%s'", argv[i]);
			return cli_usage_error(status_usage);
		}
	}
	if (status_path(path, sizeof(path), state_dir, bpffs)) {
		cli_error("path too long: %s", state_dir);
		return EXIT_USAGE;
	}
	err = status_read(path, &s);
	if (err) {
		cli_error("no agent status at %s: %s (is an agent running with --bpffs %s?)", path,
			  err == -EBADMSG ? "not a status file" : strerror(-err), bpffs);
		status_free(&s);
		return EXIT_REJECTED;
	}
	if (cli.json)
		status_json(&s);
	else
		status_plain(&s);
	status_free(&s);
	return EXIT_OK;
}
