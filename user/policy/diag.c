// SPDX-License-Identifier: Apache-2.0
/* Collected compiler diagnostics (see diag.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static const char *const diag_level_names[] = {
	[DIAG_NOTE] = "note",
	[DIAG_WARNING] = "warning",
	[DIAG_UNENFORCED] = "unenforced",
	[DIAG_ERROR] = "error",
};

static char *diag_strdup(const char *s)
{
	return strdup(s ? s : "");
}

static bool diag_grow(struct diag_list *dl)
{
	size_t cap = dl->cap ? dl->cap * 2 : 16;
	struct diag *items;

	if (dl->n < dl->cap)
		return true;
	items = realloc(dl->items, cap * sizeof(*items));
	if (!items)
		return false;
	dl->items = items;
	dl->cap = cap;
	return true;
}

static bool diag_keep(const struct diag_list *dl, enum diag_level level, unsigned int line)
{
	size_t errors = dl->kept_errors;

	if (line == 0)
		return true;
	return level == DIAG_ERROR ? errors < DIAG_MAX_KEPT : dl->n - errors < DIAG_MAX_KEPT;
}

void diag_add(struct diag_list *dl, enum diag_level level, const char *file,
	      unsigned int line, unsigned int col, const char *field,
	      const char *fmt, ...)
{
	struct diag *d;
	char buf[1024];
	va_list ap;

	if (!dl)
		return;
	if (!diag_keep(dl, level, line) || !diag_grow(dl)) {
		dl->dropped[level]++; /* an error that could not be kept still rejects */
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d = &dl->items[dl->n];
	d->level = level;
	d->line = line;
	d->col = col;
	d->file = diag_strdup(file);
	d->field = diag_strdup(field);
	d->msg = diag_strdup(buf);
	if (!d->file || !d->field || !d->msg) {
		free(d->file);
		free(d->field);
		free(d->msg);
		dl->dropped[level]++;
		return;
	}
	dl->n++;
	dl->kept_errors += level == DIAG_ERROR;
}

size_t diag_dropped_errors(const struct diag_list *dl)
{
	return dl ? dl->dropped[DIAG_ERROR] + (dl->strict ? dl->dropped[DIAG_UNENFORCED] : 0) : 0;
}

size_t diag_errors_since(const struct diag_list *dl, size_t from, size_t dropped_before)
{
	size_t i, n;

	if (!dl)
		return 0;
	n = diag_dropped_errors(dl) - dropped_before;
	for (i = from; i < dl->n; i++) {
		if (diag_is_error(dl, &dl->items[i]))
			n++;
	}
	return n;
}

size_t diag_count_errors(const struct diag_list *dl)
{
	return diag_errors_since(dl, 0, 0);
}

bool diag_is_error(const struct diag_list *dl, const struct diag *d)
{
	return d->level == DIAG_ERROR || (dl->strict && d->level == DIAG_UNENFORCED);
}

void diag_append(struct diag_list *to, const struct diag_list *from)
{
	const struct diag *d;
	size_t i;

	for (i = 0; i < from->n; i++) {
		d = &from->items[i];
		diag_add(to, d->level, d->file, d->line, d->col, d->field, "%s", d->msg);
	}
	for (i = 0; i <= DIAG_ERROR; i++)
		to->dropped[i] += from->dropped[i];
}

static const char *diag_level_name(const struct diag_list *dl, enum diag_level l)
{
	if (l == DIAG_UNENFORCED && dl->strict)
		return "error (unenforced)";
	if ((unsigned int)l < sizeof(diag_level_names) / sizeof(diag_level_names[0]))
		return diag_level_names[l];
	return "?";
}

/* Compiler order: by file, line and column; equal places keep their order. */
static int cmp_diag_place(const void *a, const void *b)
{
	const struct diag *x = *(const struct diag *const *)a, *y = *(const struct diag *const *)b;
	int c = strcmp(x->file, y->file);

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void diag_print_one(const struct diag_list *dl, const struct diag *d, FILE *out)
{
	fputs(d->file[0] ? d->file : "<input>", out);
	if (d->line)
		fprintf(out, ":%u:%u", d->line, d->col);
	fprintf(out, ": %s: ", diag_level_name(dl, d->level));
	if (d->field[0])
		fprintf(out, "%s: ", d->field);
	fprintf(out, "%s\n", d->msg);
}

static void diag_print_dropped(const struct diag_list *dl, FILE *out)
{
	size_t i, n = 0;

	for (i = 0; i <= DIAG_ERROR; i++)
		n += dl->dropped[i];
	if (n)
		fprintf(out, "<input>: note: %zu more diagnostic(s) not shown (%zu error(s)); "
			"only the first %d of a kind are kept\n", n, dl->dropped[DIAG_ERROR], DIAG_MAX_KEPT);
}

void diag_print(const struct diag_list *dl, FILE *out)
{
	const struct diag **order;
	size_t i;

	if (!dl)
		return;
	order = calloc(dl->n ? dl->n : 1, sizeof(*order));
	if (!order) {
		for (i = 0; i < dl->n; i++)
			diag_print_one(dl, &dl->items[i], out);
	} else {
		for (i = 0; i < dl->n; i++)
			order[i] = &dl->items[i];
		qsort(order, dl->n, sizeof(*order), cmp_diag_place);
		for (i = 0; i < dl->n; i++)
			diag_print_one(dl, order[i], out);
		free(order);
	}
	diag_print_dropped(dl, out);
}

void diag_free(struct diag_list *dl)
{
	size_t i;

	if (!dl)
		return;
	for (i = 0; i < dl->n; i++) {
		free(dl->items[i].file);
		free(dl->items[i].field);
		free(dl->items[i].msg);
	}
	free(dl->items);
	dl->items = NULL;
	dl->n = dl->cap = dl->kept_errors = 0;
	memset(dl->dropped, 0, sizeof(dl->dropped));
}
