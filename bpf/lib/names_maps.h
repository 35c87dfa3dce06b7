/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_NAMES_MAPS_H
#define BPFMESH_NAMES_MAPS_H
/* Names of the ids the maps use (services, subsets), for the CLI. */
#include "lib/common.h"

/* id -> name, written by the agent for the CLI; never read by programs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BPFMESH_MAX_NAMES);
	__type(key, __u32);
	__type(value, struct name_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfmesh_names SEC(".maps");

#endif /* BPFMESH_NAMES_MAPS_H */
