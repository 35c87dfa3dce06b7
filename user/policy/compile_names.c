// SPDX-License-Identifier: Apache-2.0
/* The names of an image: service hosts and "host/subset:port", numbered in
 * first-use order over the sorted services, so the same policy gives the
 * same ids. The ids are image-local: the applier gives each name its kernel
 * id (allocated, stable while the name is in use) and writes the names map;
 * nothing here can collide. */
#include <stdlib.h>
#include <string.h>

#include "compile.h"

__u32 cname_add(struct cctx *c, __u32 kind, const char *name)
{
	struct cname *n;
	size_t id;
	bool added;

	if (hmap_get_str(&c->name_index, name, &id))
		return (__u32)id;
	if (c->n_names == c->cap_names) {
		size_t cap = c->cap_names ? c->cap_names * 2 : 32;

		n = realloc(c->names, cap * sizeof(*n));
		if (!n) {
			c->failed = true;
			return 0;
		}
		c->names = n;
		c->cap_names = cap;
	}
	id = c->n_names + 1;
	if (!hmap_put_str(&c->name_index, name, id, &added)) {
		c->failed = true;
		return 0;
	}
	c->names[c->n_names++] = (struct cname){ (__u32)id, kind, name };
	return (__u32)id;
}

bool cname_emit(struct cctx *c, struct bpfmesh_image *img)
{
	size_t i;

	img->names = calloc(c->n_names ? c->n_names : 1, sizeof(*img->names));
	if (!img->names) {
		c->failed = true;
		return false;
	}
	for (i = 0; i < c->n_names; i++) {
		img->names[i].id = c->names[i].id;
		img->names[i].val.kind = c->names[i].kind;
		/* Longer names are cut to fit the names map. */
		strncpy(img->names[i].val.name, c->names[i].name, BPFMESH_NAME_LEN - 1);
	}
	img->n_names = c->n_names;
	return true;
}
