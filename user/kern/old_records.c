// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include "old_records.h"

#define OLD_RECORDS_VAR "sock_conn_old_records"

/* The maps that hold records of the releases before _v3. */
static bool is_old_record_map(const char *name)
{
	return !strcmp(name, BPFMESH_MAP_SOCK_CONN_V2) || !strcmp(name, BPFMESH_MAP_CONNPOOL_SOCKS) ||
	       !strcmp(name, BPFMESH_MAP_SOCK_SRC) || !strcmp(name, BPFMESH_MAP_CONNPOOL_LIFE);
}

/* The offset of var (size bytes) in the .rodata of obj, or -ENOENT. */
static long rodata_offset(struct bpf_object *obj, const char *var, size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT;
	int i;

	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, v->name_off), var) && vs->size == size)
			return vs->offset;
	}
	return -ENOENT;
}

/* Write var (a __u32 of .rodata) in obj before load; absent: nothing. */
static int set_rodata_u32(struct bpf_object *obj, const char *var, __u32 val)
{
	long off = rodata_offset(obj, var, sizeof(val));
	struct bpf_map *m, *rodata = NULL;
	const void *data = NULL;
	size_t sz = 0;
	char *copy;
	int err;

	bpf_object__for_each_map(m, obj)
		if (strstr(bpf_map__name(m), ".rodata"))
			rodata = m;
	if (rodata)
		data = bpf_map__initial_value(rodata, &sz);
	if (off < 0 || !data || (size_t)off + sizeof(val) > sz)
		return 0;
	copy = malloc(sz);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, sz);
	memcpy(copy + off, &val, sizeof(val));
	err = bpf_map__set_initial_value(rodata, copy, sz);
	free(copy);
	return err;
}

int old_records_setup(struct bpf_object *obj, const char *bpffs_dir)
{
	char path[PATH_MAX];
	struct bpf_map *m;
	__u32 present;
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bpffs_dir, BPFMESH_MAP_SOCK_CONN_V2) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	present = access(path, F_OK) == 0;
	err = set_rodata_u32(obj, OLD_RECORDS_VAR, present);
	if (err || present)
		return err;
	bpf_object__for_each_map(m, obj) {
		if (!is_old_record_map(bpf_map__name(m)))
			continue;
		/* Not created, not pinned: no stamp or unpin looks at it. */
		err = bpf_map__set_autocreate(m, false);
		if (!err)
			err = bpf_map__set_pin_path(m, NULL);
		if (err)
			return err;
	}
	return 0;
}
