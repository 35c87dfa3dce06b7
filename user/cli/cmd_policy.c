// SPDX-License-Identifier: Apache-2.0
/* bpfmesh lint / bpfmesh compile: the policy front end, no kernel. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "show.h"
#include "policy/policy.h"

static const char lint_usage[] =
	"Usage: bpfmesh lint [--strict] [-j|-p] PATH...\n"
	"       bpfmesh compile [--strict] [-j|-p] PATH...\n"
	"\n"
	"PATH := { FILE.yaml | DIRECTORY }  (a directory: its *.yaml and *.yml files)\n"
	"\n"
	"Validate Istio VirtualService, DestinationRule, ServiceEntry and WorkloadEntry\n"
	"resources as Istio's admission webhook would, plus cross-resource mistakes.\n"
	"Diagnostics read file:line:column: level: field: message. Fields that a\n"
	"connection-level data plane cannot enforce are reported as unenforced;\n"
	"--strict makes them errors. compile also prints what would be written to the\n"
	"kernel: services (WEIGHT as the policy wrote it, SHARE the fraction of new\n"
	"connections) and endpoints. The last line says what was checked and the\n"
	"verdict. Everything goes to stdout; -j gives the same as one JSON object.\n"
	"\n"
	"Exit status: 0 accepted (warnings allowed), 1 rejected, 2 usage or I/O error.\n";

static const char *const level_names[] = {
	[DIAG_NOTE] = "note", [DIAG_WARNING] = "warning",
	[DIAG_UNENFORCED] = "unenforced", [DIAG_ERROR] = "error",
};

/* The order diag_print uses: file, line, column, then as reported. */
static int cmp_diag_place(const void *pa, const void *pb)
{
	const struct diag *a = *(const struct diag *const *)pa, *b = *(const struct diag *const *)pb;
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");

	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a < b ? -1 : a > b;
}

static void diag_json(const struct diag_list *dl, const struct diag *d, struct json *j)
{
	bool err = d->level == DIAG_ERROR || (dl->strict && d->level == DIAG_UNENFORCED);

	json_obj_begin(j);
	json_kv_str(j, "level", err ? "error" : level_names[d->level]);
	json_kv_str(j, "file", d->file ? d->file : "");
	json_kv_uint(j, "line", d->line);
	json_kv_uint(j, "column", d->col);
	json_kv_str(j, "field", d->field ? d->field : "");
	json_kv_str(j, "message", d->msg ? d->msg : "");
	json_key(j, "unenforced"); /* the text's "error (unenforced)" under --strict */
	json_bool(j, d->level == DIAG_UNENFORCED);
	json_obj_end(j);
}

/* In the text's order, so that the two read alike. */
static void diags_json(const struct diag_list *dl, struct json *j)
{
	const struct diag **order = calloc(dl->n + 1, sizeof(*order));
	size_t i;

	json_arr_begin(j);
	for (i = 0; order && i < dl->n; i++)
		order[i] = &dl->items[i];
	if (order && dl->n)
		qsort(order, dl->n, sizeof(*order), cmp_diag_place);
	for (i = 0; i < dl->n; i++)
		diag_json(dl, order ? order[i] : &dl->items[i], j);
	json_arr_end(j);
	free(order);
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
			cli_help(lint_usage);
			return 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_error("unknown option '%s'", argv[i]);
			cli_usage_error(lint_usage);
			return -1;
		} else {
			(*paths)[(*n_paths)++] = argv[i];
		}
	}
	if (*n_paths == 0) {
		cli_error("no policy file or directory given");
		cli_usage_error(lint_usage);
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

/* What was checked and what came of it, in both output modes. */
struct verdict {
	size_t files, resources, errors, warnings, unenforced;
	bool strict;
	const char *result; /* accepted, rejected, unreadable */
};

static struct verdict verdict_of(const struct diag_list *dl, int rc)
{
	return (struct verdict){
		.files = dl->files, .resources = dl->resources,
		.errors = diag_count_errors(dl), .warnings = count_level(dl, DIAG_WARNING),
		.unenforced = count_level(dl, DIAG_UNENFORCED), .strict = dl->strict,
		.result = rc == 0 ? "accepted" : rc == 1 ? "rejected" : "unreadable",
	};
}

static void report_json(const struct diag_list *dl, const struct verdict *v,
			const struct lb_view *view)
{
	struct json j;

	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_kv_str(&j, "result", v->result);
	json_kv_uint(&j, "files", v->files);
	json_kv_uint(&j, "resources", v->resources);
	json_key(&j, "strict");
	json_bool(&j, v->strict);
	json_kv_uint(&j, "errors", v->errors);
	json_kv_uint(&j, "warnings", v->warnings);
	json_kv_uint(&j, "unenforced", v->unenforced);
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

/* Diagnostics, the image (compile) with its totals, then "checked 3 files,
 * 7 resources: 0 errors, 1 warning, 1 unenforced field; accepted". */
static void report_plain(const struct diag_list *dl, const struct verdict *v,
			 const struct lb_view *view)
{
	diag_print(dl, stdout);
	if (view) {
		if (dl->n)
			printf("\n");
		show_services(view, NULL);
		printf("\n");
		show_endpoints(view, NULL);
		show_totals(view, stdout);
		printf("\n\n");
	}
	printf("checked %zu %s, %zu %s%s: %zu %s, %zu %s, %zu %s; %s", v->files,
	       cli_plural(v->files, "file", "files"), v->resources,
	       cli_plural(v->resources, "resource", "resources"),
	       v->strict ? " (strict)" : "", v->errors, cli_plural(v->errors, "error", "errors"),
	       v->warnings, cli_plural(v->warnings, "warning", "warnings"), v->unenforced,
	       cli_plural(v->unenforced, "unenforced field", "unenforced fields"), v->result);
	printf("\n");
}

static int run(int argc, char **argv, bool print_image)
{
	struct bpfmesh_image img = {};
	struct diag_list dl = {};
	struct image_ctx ictx;
	struct lb_view view = {};
	struct verdict verdict;
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
	verdict = verdict_of(&dl, rc);
	if (cli.json)
		report_json(&dl, &verdict, show ? &view : NULL);
	else
		report_plain(&dl, &verdict, show ? &view : NULL);
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
