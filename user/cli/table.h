/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TABLE_H
#define BPFMESH_TABLE_H
/*
 * Tables for people: rows are collected, then printed with each column as
 * wide as its widest cell and two spaces between columns (kubectl's habit),
 * so that a table is as narrow as its content allows. Numbers align right.
 */
#include <stdbool.h>
#include <stddef.h>

#define TABLE_MAX_COLS 12

struct table {
	size_t n_cols;
	const char *headers[TABLE_MAX_COLS];
	bool right[TABLE_MAX_COLS]; /* right-aligned (numbers) */
	char **cells;               /* n_rows * n_cols, owned */
	size_t n_rows, cap_rows;
	bool oom;
};

/* Columns by header; a header starting with '>' is right-aligned (">WEIGHT"). */
void table_init(struct table *t, size_t n_cols, const char *const *headers);
/* One row of n_cols cells (copied; NULL is an empty cell). */
void table_add(struct table *t, const char *const *cells);
/* Print to stdout and free; a table with no rows prints only its header. */
void table_print(struct table *t);
void table_free(struct table *t);

#endif /* BPFMESH_TABLE_H */
