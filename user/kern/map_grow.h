/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_MAP_GROW_H
#define BPFMESH_MAP_GROW_H
/*
 * Growing pinned maps at a restart, state kept (docs/benchmarks.md
 * "mapmem"). A map's size is fixed when it is created, and programs hold
 * the maps they were loaded with, so a bigger map is a new map and new
 * programs. An agent started with a size option larger than a pinned map
 * (--max-services, --max-clusters, --max-endpoints) grows it through the
 * migration path the loader already has for pins of another layout
 * (loader.c, find_stale_pins):
 *  0. the loader renames the outgrown pin to <pin>_grow before the objects
 *     load, so it creates the map anew at the asked size and loads programs
 *     on it; the renamed pin is stale, so nothing attaches yet and the
 *     earlier programs go on deciding and counting in the old maps;
 *  1. map_grow_begin(), once the maps are open and before the applier reads
 *     them back: every entry of each old map is copied into the new one, so
 *     the applier adopts the same services, sets and slot owners as a plain
 *     restart would, and the first apply only changes what the policy
 *     changed;
 *  2. the policy is applied, the links switch to the new programs, the
 *     _grow pins are removed (lb_loader_finish_migration);
 *  3. map_grow_finish(): after a grace period (no program still uses the
 *     old maps) what the kernel counted into them since step 1 is carried
 *     over: counts (connections, histograms, open connections, rotations,
 *     refusals) are added, field by field, as 64-bit words; kernel-written
 *     outlier state (ep_health) that changed is written over.
 * Connections are decided throughout, by the old programs until the switch
 * and the new ones after. The endpoint counters (an mmapable array) get
 * step 3's additions as atomic adds through mmap, exact while the new
 * programs count into them. Other maps are read and written whole: a kernel
 * add to the same element between that read and write is lost, one syscall
 * pair's window per element changed during the growth.
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct lb_loader;

#define MAP_GROW_SUFFIX "_grow" /* bpffs refuses names with a dot */
#define MAP_GROW_MAX 24

/* How what the old programs wrote after the copy is carried. */
enum map_grow_carry {
	GROW_COPY_ONLY, /* agent-written: the agent writes the new map itself */
	GROW_ADD,       /* kernel counts: the difference is added */
	GROW_OVERWRITE, /* kernel state: a changed word is written over */
};

struct map_grow_one {
	char name[64];       /* BPFMESH_MAP_* */
	int old_fd, new_fd;
	enum map_grow_carry carry;
	__u32 key_size, val_len; /* val_len: all CPUs' values of a per-CPU map */
	size_t n;            /* entries copied */
	void *keys, *vals;   /* those (GROW_ADD, GROW_OVERWRITE), for step 3 */
	__u64 *mapped;       /* the new map, mmapable arrays: step 3 adds atomically */
	size_t mapped_len;
};

struct map_grow {
	int n;
	struct map_grow_one maps[MAP_GROW_MAX];
	size_t copied, carried; /* entries copied (step 1), changed ones (step 3) */
};

/* Step 0, for the loader: rename the pin of map name (BPFMESH_MAP_*) aside.
 * 0 or negative errno. */
int map_grow_set_aside(const char *bpffs_dir, const char *name);
/* Is name (a pin's file name) one set aside? */
bool map_grow_is_set_aside(const char *pin);

/* Step 1: for every map the loader set aside (l->grown). 0 or negative
 * errno; g is filled as far as it went either way (map_grow_free). */
int map_grow_begin(struct map_grow *g, const struct lb_loader *l);
/* Step 3. 0 or negative errno. */
int map_grow_finish(struct map_grow *g);
void map_grow_free(struct map_grow *g);
/* Step 1 failed: the new pins of the maps set aside are removed and the old
 * ones put back, as they were before this agent started (nothing was
 * attached). 0 or the first negative errno. */
int map_grow_undo(const struct lb_loader *l);

#endif /* BPFMESH_MAP_GROW_H */
