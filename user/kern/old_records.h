/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_KERN_OLD_RECORDS_H
#define BPFMESH_KERN_OLD_RECORDS_H
/* Connections placed by a release before sock_conn _v3 (bpf/lib/sock_conn.h
 * "Upgrades"): whether the programs look for their records. */
#include <bpf/libbpf.h>

/* Before obj is loaded: when bpffs_dir holds a _v2 record map (a release
 * before _v3 ran here), its programs adopt the records of those connections
 * (the rodata switch sock_conn_old_records), reusing the pinned maps;
 * otherwise they never look (the verifier drops that code) and the old
 * maps are neither created nor pinned. 0 or negative errno. */
int old_records_setup(struct bpf_object *obj, const char *bpffs_dir);

#endif
