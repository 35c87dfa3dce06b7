// SPDX-License-Identifier: Apache-2.0
/* Column-sized tables (see table.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

void table_init(struct table *t, size_t n_cols, const char *const *headers)
{
	size_t c;

	*t = (struct table){ .n_cols = n_cols < TABLE_MAX_COLS ? n_cols : TABLE_MAX_COLS };
	for (c = 0; c < t->n_cols; c++) {
		t->right[c] = headers[c][0] == '>';
		t->headers[c] = headers[c] + t->right[c];
	}
}

void table_add(struct table *t, const char *const *cells)
{
	size_t c, at;

	if (t->oom)
		return;
	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
		char **grown = realloc(t->cells, cap * t->n_cols * sizeof(*grown));

		if (!grown) {
			t->oom = true;
			return;
		}
		t->cells = grown;
		t->cap_rows = cap;
	}
	at = t->n_rows * t->n_cols;
	for (c = 0; c < t->n_cols; c++) {
		t->cells[at + c] = strdup(cells[c] ? cells[c] : "");
		t->oom |= !t->cells[at + c];
	}
	t->n_rows++;
}

/* Empty cells at the end of a row print nothing: no trailing blanks. */
static void print_row(const struct table *t, const char *const *cells, const int *width)
{
	size_t c, last = 0;

	for (c = 0; c < t->n_cols; c++)
		if (cells[c] && cells[c][0])
			last = c;
	for (c = 0; c <= last; c++) {
		const char *cell = cells[c] ? cells[c] : "";

		if (t->right[c])
			printf("%*s", width[c], cell);
		else
			printf("%-*s", c == last ? 0 : width[c], cell);
		fputs(c == last ? "\n" : "  ", stdout);
	}
}

void table_print(struct table *t)
{
	int width[TABLE_MAX_COLS] = { 0 };
	size_t r, c;

	for (c = 0; c < t->n_cols; c++)
		width[c] = (int)strlen(t->headers[c]);
	for (r = 0; r < t->n_rows; r++) {
		for (c = 0; c < t->n_cols; c++) {
			const char *cell = t->cells[r * t->n_cols + c];
			int len = cell ? (int)strlen(cell) : 0;

			if (len > width[c])
				width[c] = len;
		}
	}
	print_row(t, t->headers, width);
	for (r = 0; r < t->n_rows; r++)
		print_row(t, (const char *const *)&t->cells[r * t->n_cols], width);
	if (t->oom)
		fputs("(out of memory: rows missing)\n", stdout);
	table_free(t);
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_rows = t->cap_rows = 0;
}
