/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_COMPILE_INCR_H
#define BPFMESH_POLICY_COMPILE_INCR_H
/*
 * The incremental compile's last step (issue 12): one image out of the
 * image in force (base) and an image compiled from the resources of the
 * affected hosts only (sub). The services of an affected host come from
 * sub, every other service from base; sets and names are then numbered
 * again in first-use order over the sorted services, exactly as
 * compile_image numbers them, so the result is byte for byte what a full
 * compile of the same resources gives (the unit test test_incremental
 * checks it after every random edit).
 *
 * Sets are not copied: base's are lent (image_set.borrowed, from_base[i]
 * names the base set), sub's are moved out of sub. When the recompiled
 * services keep their keys, hosts and clusters (a weight, endpoint or
 * policy change), the numbering cannot change: base is copied whole and
 * only those services and their sets are replaced (the fast path,
 * image_delta.fast), at the cost of a memcpy instead of a hash per entry. policy/isolate.c owns
 * the rules that decide which hosts are affected and when not to try.
 */
#include "hmap.h"
#include "image.h"

/*
 * Splice into *out. affected: the service hosts whose services come from
 * sub. *from_base (n_sets entries, the caller frees): the base set each
 * set of out borrows, or -1 for one moved from sub. Returns 0, 1 when the
 * two cannot be spliced faithfully (why says which; the caller compiles in
 * full), or -ENOMEM. sub keeps what was not moved; free it after.
 * out->delta says what changed, for the applier (image.h image_delta).
 */
int image_splice(const struct bpfmesh_image *base, struct bpfmesh_image *sub,
		 const struct hmap *affected, struct bpfmesh_image *out, long **from_base,
		 const char **why);

#endif /* BPFMESH_POLICY_COMPILE_INCR_H */
