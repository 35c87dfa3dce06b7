// SPDX-License-Identifier: Apache-2.0
/* bpfmesh lint / bpfmesh compile: the policy front end, no kernel. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "show.h"
#include "policy/policy.h"

static void lint_help(void)
{
	fprintf(stderr,
		"Usage: bpfmesh lint [--strict] [-j] PATH...\n"
		"       bpfmesh compile [--strict] [-j] PATH...\n"
		"\n"
		"PATH := { FILE.yaml | DIRECTORY }  (a directory: its *.yaml and *.yml files)\n"
		"\n"
		"Validate Istio VirtualService, DestinationRule, ServiceEntry and WorkloadEntry\n"
		"resources as Istio's admission webhook would, plus cross-resource mistakes.\n"
		"Fields that a connection-level data plane cannot enforce are reported;\n"
		"--strict makes those errors. compile also prints what would be written to\n"
		"the kernel. Exit status: 0 accepted (warnings allowed), 1 rejected,\n"
		"2 usage or I/O error.\n");
}

static const char *const level_names[] = {
	[DIAG_NOTE] = "note", [DIAG_WARNING] = "warning",
	[DIAG_UNENFORCED] = "unenforced", [DIAG_ERROR] = "error",
};

static void diags_json(const struct diag_list *dl, struct json *j)
{
	size_t i;

	json_arr_begin(j);
	for (i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->items[i];
		bool err = d->level == DIAG_ERROR || (dl->strict && d->level == DIAG_UNENFORCED);

		json_obj_begin(j);
		json_kv_str(j, "level", err ? "error" : level_names[d->level]);
		json_kv_str(j, "file", d->file ? d->file : "");
		json_kv_uint(j, "line", d->line);
		json_kv_uint(j, "column", d->col);
		json_kv_str(j, "field", d->field ? d->field : "");
		json_kv_str(j, "message", d->msg ? d->msg : "");
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* Kept and dropped (over DIAG_MAX_KEPT) alike. */
static size_t count_level(const struct diag_list *dl, enum diag_level level)
{
	size_t i, n = dl->dropped[level];

	for (i = 0; i < dl->n; i++)
		n += dl->items[i].level == level;
	return n;
}

/* Options shared by lint and compile; the rest are paths. */
static int parse_args(int argc, char **argv, struct diag_list *dl, const char ***paths,
		      size_t *n_paths)
{
	int i;

	*paths = calloc(argc + 1, sizeof(**paths));
	*n_paths = 0;
	if (!*paths)
		return -1;
	for (i = 1; i < argc; i++) {
		if (cli_output_option(argv[i]))
			continue;
		if (!strcmp(argv[i], "--strict")) {
			dl->strict = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			lint_help();
			return 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_error("unknown option '%s'", argv[i]);
			return -1;
		} else {
			(*paths)[(*n_paths)++] = argv[i];
		}
	}
	if (*n_paths == 0) {
		cli_error("no policy file or directory given");
		return -1;
	}
	return 0;
}

struct image_ctx {
	const struct bpfmesh_image *img;
};

static const char *image_name(void *ctx, __u32 id)
{
	const struct bpfmesh_image *img = ((struct image_ctx *)ctx)->img;
	size_t lo = 0, hi = img->n_names;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (img->names[mid].id == id)
			return img->names[mid].val.name;
		if (img->names[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int image_slot(void *ctx, __u32 set_id, __u32 slot, struct backend_val *out)
{
	const struct bpfmesh_image *img = ((struct image_ctx *)ctx)->img;

	if (set_id >= img->n_sets || slot >= img->sets[set_id].n_slots)
		return -1;
	*out = img->sets[set_id].slots[slot];
	return 0;
}

/* Present an image through the same printers as the live maps. */
static int image_view(const struct bpfmesh_image *img, struct image_ctx *ictx,
		      struct lb_view *view)
{
	struct svc_key *keys = calloc(img->n_services + 1, sizeof(*keys));
	struct svc_val *vals = calloc(img->n_services + 1, sizeof(*vals));
	size_t i;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (i = 0; i < img->n_services; i++) {
		keys[i] = img->services[i].key;
		vals[i] = img->services[i].val;
	}
	ictx->img = img;
	*view = (struct lb_view){ .n_services = img->n_services, .keys = keys, .vals = vals,
				  .ctx = ictx, .name = image_name, .slot = image_slot };
	return 0;
}

static void report_json(const struct diag_list *dl, const struct lb_view *view)
{
	struct json j;

	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_kv_uint(&j, "errors", diag_count_errors(dl));
	json_kv_uint(&j, "warnings", count_level(dl, DIAG_WARNING) +
		     (dl->strict ? 0 : count_level(dl, DIAG_UNENFORCED)));
	json_key(&j, "diagnostics");
	diags_json(dl, &j);
	if (view) {
		json_key(&j, "services");
		show_services(view, &j);
		json_key(&j, "endpoints");
		show_endpoints(view, &j);
	}
	json_obj_end(&j);
	json_finish(&j);
}

static void report_plain(const struct diag_list *dl, const struct lb_view *view)
{
	diag_print(dl, stderr);
	if (view) {
		size_t n = show_services(view, NULL), e;

		printf("\n");
		e = show_endpoints(view, NULL);
		printf("Found %zu services, %zu endpoints\n", n, e);
	}
	fprintf(stderr, "%zu error(s), %zu warning(s), %zu unenforced field(s)%s\n",
		diag_count_errors(dl), count_level(dl, DIAG_WARNING),
		count_level(dl, DIAG_UNENFORCED), dl->strict ? " (strict)" : "");
}

static int run(int argc, char **argv, bool print_image)
{
	struct bpfmesh_image img = {};
	struct diag_list dl = {};
	struct image_ctx ictx;
	struct lb_view view = {};
	const char **paths;
	size_t n_paths;
	bool show;
	int err, rc;

	err = parse_args(argc, argv, &dl, &paths, &n_paths);
	if (err) {
		free(paths);
		return err > 0 ? EXIT_OK : EXIT_USAGE;
	}
	rc = policy_compile_paths(paths, n_paths, &dl, &img);
	show = print_image && rc == 0 && image_view(&img, &ictx, &view) == 0;
	if (cli.json)
		report_json(&dl, show ? &view : NULL);
	else
		report_plain(&dl, show ? &view : NULL);
	free((void *)view.keys);
	free((void *)view.vals);
	bpfmesh_image_free(&img);
	diag_free(&dl);
	free(paths);
	return rc == 0 ? EXIT_OK : rc == 1 ? EXIT_REJECTED : EXIT_USAGE;
}

int do_lint(int argc, char **argv)
{
	return run(argc, argv, false);
}

int do_compile(int argc, char **argv)
{
	return run(argc, argv, true);
}
