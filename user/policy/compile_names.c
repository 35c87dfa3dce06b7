// SPDX-License-Identifier: Apache-2.0
/* The names map: id -> service host or "host/subset:port", sorted by id,
 * deduplicated; two different names with one id is an error (counters would
 * be attributed to the wrong name). */
#include <stdlib.h>
#include <string.h>

#include "compile.h"

void cname_add(struct cctx *c, __u32 kind, const char *name)
{
	struct cname *n;

	if (c->n_names == c->cap_names) {
		size_t cap = c->cap_names ? c->cap_names * 2 : 32;

		n = realloc(c->names, cap * sizeof(*n));
		if (!n) {
			c->failed = true;
			return;
		}
		c->names = n;
		c->cap_names = cap;
	}
	c->names[c->n_names++] = (struct cname){ bpfmesh_name_id(name), kind, name };
}

static int cname_cmp(const void *a, const void *b)
{
	const struct cname *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return strcmp(x->name, y->name);
}

bool cname_emit(struct cctx *c, struct bpfmesh_image *img)
{
	size_t i, n = 0;
	bool ok = true;

	if (c->n_names)
		qsort(c->names, c->n_names, sizeof(*c->names), cname_cmp);
	img->names = calloc(c->n_names ? c->n_names : 1, sizeof(*img->names));
	if (!img->names) {
		c->failed = true;
		return false;
	}
	for (i = 0; i < c->n_names; i++) {
		const struct cname *cn = &c->names[i];

		if (n && img->names[n - 1].id == cn->id) {
			if (strcmp(c->names[i - 1].name, cn->name) != 0) {
				diag_add(c->dl, DIAG_ERROR, "", 0, 0, "",
					 "name id collision: \"%s\" and \"%s\" both hash to %#x; "
					 "rename one of them", c->names[i - 1].name, cn->name, cn->id);
				ok = false;
			}
			continue;
		}
		img->names[n].id = cn->id;
		img->names[n].val.kind = cn->kind;
		/* Longer names are cut: the id is computed over the full name. */
		strncpy(img->names[n].val.name, cn->name, BPFMESH_NAME_LEN - 1);
		n++;
	}
	img->n_names = n;
	return ok;
}
