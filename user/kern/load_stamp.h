/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LOAD_STAMP_H
#define BPFMESH_LOAD_STAMP_H
/*
 * What the pinned links of an object run, recorded at attach time so that
 * the next agent can tell, without loading and verifying anything, that
 * they already run what it would load: the same object bytes (and libbpf,
 * which relocates them), against the same pinned maps, at the same sizes.
 * Then it adopts the links as they are (loader.c, "adopt without
 * verifying"); any difference and it loads and switches as before.
 *
 * The stamps live in one pinned array map of a versioned layout
 * (LB_STAMP_PIN), one element per object slot. A bpffs directory holds only
 * BPF objects, so a map is the pinned place; it is root-only like every pin
 * and goes with `bpfmesh uninstall`.
 */
#include <stddef.h>
#include <linux/types.h>

struct bpf_object;

#define LB_STAMP_PIN "bpfmesh_loader_stamps_v1"
#define LB_STAMP_SLOTS 8   /* object slots (enum lb_obj) the map has room for */
#define LB_STAMP_LINKS 12  /* cgroup links of one object */
#define LB_STAMP_NAME 32

struct lb_stamp_link {
	char pin[LB_STAMP_NAME]; /* link pin name under the bpffs dir */
	__u32 prog_id;           /* the program it ran when stamped */
};

struct lb_stamp {
	char obj[LB_STAMP_NAME]; /* object name (lb_objects[].name) */
	__u64 elf_hash;          /* lb_stamp_elf_hash() of the embedded object */
	__u64 maps_hash;         /* lb_stamp_maps_hash() of its pinned maps */
	__u32 n_links;
	__u32 reserved;
	struct lb_stamp_link links[LB_STAMP_LINKS];
};

/* A hash of an object's bytes and the libbpf version relocating them. */
__u64 lb_stamp_elf_hash(const void *bytes, size_t sz);

/* A hash of every pinned map of a loaded object: name, kernel id and size.
 * An id is never reused while the map lives, so an equal hash means the
 * same maps. 0 or negative errno. */
int lb_stamp_maps_hash(struct bpf_object *obj, __u64 *hash);

/* The stamp of object slot `slot`: 0, -ENOENT when none was written, or a
 * negative errno. */
int lb_stamp_read(const char *bpffs_dir, unsigned int slot, struct lb_stamp *s);

/* Write the stamp of `slot`, creating the pinned map (mode 0600) if needed. */
int lb_stamp_write(const char *bpffs_dir, unsigned int slot, const struct lb_stamp *s);

/* Forget every stamp (the pin goes): a clean stop. */
void lb_stamp_remove(const char *bpffs_dir);

/* The program id a pinned link runs and its cgroup's id (0 if another
 * kind of link). 0 or negative errno. */
int lb_stamp_link_prog(const char *link_path, __u32 *prog_id, __u64 *cgroup_id);

#endif /* BPFMESH_LOAD_STAMP_H */
