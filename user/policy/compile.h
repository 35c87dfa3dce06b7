/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_COMPILE_H
#define BPFMESH_POLICY_COMPILE_H
/*
 * Registry -> image. compile_image() resolves, for every service key, the
 * route in force and its weighted destinations; the helpers here number the
 * backend sets (first use over sorted keys) and collect the names.
 */
#include "image.h"
#include "registry.h"

/* A backend set being built: one (host, subset, port). */
struct cset {
	const struct reg_svc *svc;
	const struct dr_subset *subset; /* NULL: the whole service */
	__u8 family;                    /* its endpoints' (and VIPs') family */
	const char *name;               /* "host/subset:port" or "host:port" */
	__u32 name_id;                  /* its image-local name id */
};

struct cname {
	__u32 id, kind;
	const char *name;
};

struct cctx {
	struct registry *reg;
	struct diag_list *dl;
	struct arena *a;
	struct cset *sets;
	size_t n_sets, cap_sets;
	struct hmap set_index;  /* (svc, subset) -> index into sets, IPv4 */
	struct hmap set_index6; /* the same for IPv6 VIPs */
	struct cname *names;           /* in id order: names[i].id == i + 1 */
	size_t n_names, cap_names;
	struct hmap name_index;        /* name -> id */
	bool failed; /* out of memory */
	const struct workload_entry **callers; /* identity i + 1 is callers[i] */
	size_t n_callers;
};

/* Index of the set for (svc, subset) as seen from a VIP of family (the
 * endpoints of that family), creating it on first use; -1 on OOM. */
long cset_get(struct cctx *c, const struct reg_svc *svc, const struct dr_subset *subset,
	      const char *subset_name, __u8 family);
/* Build every set's slots into img->sets. Returns false on error (reported). */
bool cset_emit(struct cctx *c, struct bpfmesh_image *img);
void cset_free(struct cctx *c);

/* The image-local id of a name (1, 2, ... in first-use order), adding it
 * on first use; 0 on allocation failure (c->failed is set). */
__u32 cname_add(struct cctx *c, __u32 kind, const char *name);
/* Write img->names, in id order. */
bool cname_emit(struct cctx *c, struct bpfmesh_image *img);

/* img->strtab from the file names its services point to, which it then
 * points into (the image owns them). false: out of memory. */
bool compile_emit_strtab(struct bpfmesh_image *img);

/* The whole compile: keys, routes, sets, names. false: errors reported. */
bool compile_image(struct registry *reg, struct diag_list *dl, struct bpfmesh_image *img);
/* Does this port of the entry get service keys (its addresses x the port)?
 * The agent's VIP conflict rule uses it before compiling. */
bool compile_port_intercepted(const struct service_entry *se, const struct se_port *p);

#endif /* BPFMESH_POLICY_COMPILE_H */
