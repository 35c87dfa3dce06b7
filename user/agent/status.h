/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_STATUS_H
#define BPFMESH_AGENT_STATUS_H
/*
 * The agent's status file, which `bpfmesh status` reads: written after
 * every reload, atomically (a temporary file renamed over it), mode 0600 in
 * a 0700 state directory, since it names every resource and file. Not in
 * bpffs: bpffs holds BPF objects only. One agent per bpffs directory, so
 * the file is named after it:
 *   /run/bpfmesh/status-sys-fs-bpf-bpfmesh   for --bpffs /sys/fs/bpf/bpfmesh
 *
 * Lines of tab-separated fields (tabs and newlines inside a field become
 * spaces):
 *   bpfmesh-status 1
 *   pid PID | generation N | applied_at_ms MS (0: never) | written_at_ms MS
 *   policies DIR | bpffs DIR
 *   resources APPLIED REJECTED
 *   feature NAME 0|1                     (user/kern/probe.h names)
 *   resource applied|rejected KIND NAMESPACE NAME FILE LINE LAST_GOOD DIAG
 */
#include <stddef.h>

#define DEFAULT_STATE_DIR "/run/bpfmesh"
#define STATUS_MAGIC "bpfmesh-status\t1"

/* STATE_DIR/status-<bpffs, '/' written '-'>. 0, or -ENAMETOOLONG. */
int status_path(char *buf, size_t len, const char *state_dir, const char *bpffs);

#endif /* BPFMESH_AGENT_STATUS_H */
