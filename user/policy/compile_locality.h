/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_COMPILE_LOCALITY_H
#define BPFMESH_POLICY_COMPILE_LOCALITY_H
/* localityLbSetting into the image (compile_locality.c). */
#include <stdbool.h>
#include "image.h"

struct cctx;
struct cset;
struct reg_ep;

/* out->loc for the cluster, before its endpoints. false on OOM. */
bool cset_locality(const struct cctx *c, const struct cset *s, struct image_set *out);
/* m->locality and m->fp_values of one endpoint of set. false on OOM. */
bool cset_ep_locality(const struct image_set *set, const struct reg_ep *ep,
		      struct image_ep_meta *m);
void image_locality_free(struct image_locality *il);

#endif /* BPFMESH_POLICY_COMPILE_LOCALITY_H */
