// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "load_stamp.h"
#include "loader.h"

/* FNV-1a, 64 bits: not a defence against a forger (only root writes the
 * pins, and root could replace the programs anyway), a fingerprint of what
 * this binary embeds. */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static __u64 fnv(__u64 h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * FNV_PRIME;
	return h;
}

__u64 lb_stamp_elf_hash(const void *bytes, size_t sz)
{
	const char *v = libbpf_version_string();
	__u64 h = fnv(FNV_OFFSET, &sz, sizeof(sz));

	h = fnv(h, v, strlen(v));
	return fnv(h, bytes, sz);
}

int lb_stamp_maps_hash(struct bpf_object *obj, __u64 *hash)
{
	struct bpf_map *m;
	__u64 h = FNV_OFFSET;

	bpf_object__for_each_map(m, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		const char *name = bpf_map__name(m);

		if (!bpf_map__pin_path(m))
			continue; /* private (.rodata): the old programs keep theirs */
		if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len))
			return -errno;
		h = fnv(h, name, strlen(name) + 1);
		h = fnv(h, &info.id, sizeof(info.id));
		h = fnv(h, &info.max_entries, sizeof(info.max_entries));
	}
	*hash = h;
	return 0;
}

static int stamp_map(const char *bpffs_dir, bool create)
{
	char path[PATH_MAX];
	int fd, err = lb_pin_path(path, sizeof(path), bpffs_dir, LB_STAMP_PIN);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create)
		return fd >= 0 ? fd : -errno;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bpfmesh_stamps", sizeof(__u32),
			    sizeof(struct lb_stamp), LB_STAMP_SLOTS, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		close(fd);
		return err;
	}
	chmod(path, LB_PIN_MODE);
	return fd;
}

/* Is fd an array of our stamps (and not some other map under this name)? */
static bool stamp_layout(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
	       info.key_size == sizeof(__u32) && info.value_size == sizeof(struct lb_stamp) &&
	       info.max_entries == LB_STAMP_SLOTS;
}

int lb_stamp_read(const char *bpffs_dir, unsigned int slot, struct lb_stamp *s)
{
	int fd = stamp_map(bpffs_dir, false), err = 0;

	if (fd < 0)
		return fd;
	if (!stamp_layout(fd) || slot >= LB_STAMP_SLOTS)
		err = -EINVAL;
	else if (bpf_map_lookup_elem(fd, &slot, s))
		err = -errno;
	else if (!s->obj[0] || s->n_links > LB_STAMP_LINKS)
		err = -ENOENT;
	close(fd);
	return err;
}

int lb_stamp_write(const char *bpffs_dir, unsigned int slot, const struct lb_stamp *s)
{
	int fd = stamp_map(bpffs_dir, true), err = 0;

	if (fd < 0)
		return fd;
	if (!stamp_layout(fd) || slot >= LB_STAMP_SLOTS)
		err = -EINVAL;
	else if (bpf_map_update_elem(fd, &slot, s, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

void lb_stamp_remove(const char *bpffs_dir)
{
	char path[PATH_MAX];

	if (!lb_pin_path(path, sizeof(path), bpffs_dir, LB_STAMP_PIN))
		unlink(path);
}

int lb_stamp_link_prog(const char *link_path, __u32 *prog_id, __u64 *cgroup_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(link_path), err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	close(fd);
	if (err)
		return err;
	*prog_id = info.prog_id;
	*cgroup_id = info.type == BPF_LINK_TYPE_CGROUP ? info.cgroup.cgroup_id : 0;
	return 0;
}
