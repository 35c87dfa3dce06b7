// SPDX-License-Identifier: Apache-2.0
/* bpfmesh maps memory: every map pinned under the agent's bpffs directory
 * with its type, size and the memory the kernel charges for it (memlock in
 * /proc/self/fdinfo, what `bpftool map show` calls bytes_memlock), largest
 * first, and the total: the figure docs/benchmarks.md "mapmem" explains.
 * The fdinfo is read rather than bpf_map_info because memlock is only
 * there; a pin that is a link or a program has no map_type line and is
 * skipped. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "json.h"
#include "table.h"

struct map_mem {
	char pin[NAME_MAX + 1];
	unsigned int type, key_size, value_size, max_entries, flags;
	unsigned long long memlock;
};

/* The fdinfo of a map fd; false when fd is no map. */
static bool read_map_fdinfo(int fd, struct map_mem *m)
{
	char path[64], line[256];
	bool is_map = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		is_map |= sscanf(line, "map_type: %u", &m->type) == 1;
		sscanf(line, "key_size: %u", &m->key_size);
		sscanf(line, "value_size: %u", &m->value_size);
		sscanf(line, "max_entries: %u", &m->max_entries);
		sscanf(line, "map_flags: %x", &m->flags);
		sscanf(line, "memlock: %llu", &m->memlock);
	}
	fclose(f);
	return is_map;
}

static int by_memlock_desc(const void *a, const void *b)
{
	const struct map_mem *x = a, *y = b;

	if (x->memlock != y->memlock)
		return x->memlock < y->memlock ? 1 : -1;
	return strcmp(x->pin, y->pin);
}

/* The maps pinned directly under dir (the agent pins nothing deeper). */
static int collect_maps(const char *dir, struct map_mem **out, size_t *n)
{
	struct map_mem *v = NULL, *grown;
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct map_mem m = {};
		int fd;

		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!read_map_fdinfo(fd, &m)) {
			close(fd);
			continue;
		}
		close(fd);
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown)
				break; /* out of memory: what was read is shown */
			v = grown;
		}
		snprintf(m.pin, sizeof(m.pin), "%s", de->d_name);
		v[(*n)++] = m;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), by_memlock_desc);
	*out = v;
	return 0;
}

static const char *map_type_name(unsigned int type)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)type);

	return s ? s : "?";
}

/* How the kernel allocates the values: all at creation, or as they come. */
static const char *alloc_name(const struct map_mem *m)
{
	if (m->flags & BPF_F_MMAPABLE)
		return "prealloc,mmap";
	return m->flags & BPF_F_NO_PREALLOC ? "on insert" : "prealloc";
}

static void print_mem_json(const struct map_mem *v, size_t n, unsigned long long total)
{
	struct json j;
	size_t i;

	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_kv_uint(&j, "total_memlock", total);
	json_key(&j, "maps");
	json_arr_begin(&j);
	for (i = 0; i < n; i++) {
		json_obj_begin(&j);
		json_kv_str(&j, "pin", v[i].pin);
		json_kv_str(&j, "type", map_type_name(v[i].type));
		json_kv_str(&j, "alloc", alloc_name(&v[i]));
		json_kv_uint(&j, "max_entries", v[i].max_entries);
		json_kv_uint(&j, "key_size", v[i].key_size);
		json_kv_uint(&j, "value_size", v[i].value_size);
		json_kv_uint(&j, "memlock", v[i].memlock);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	json_finish(&j);
}

static void print_mem_table(const struct map_mem *v, size_t n, unsigned long long total,
			    const char *dir)
{
	static const char *const cols[] = { "MAP", "TYPE", "ALLOC", ">MAX_ENTRIES", ">KEY",
					    ">VALUE", ">MEMLOCK" };
	char max[16], key[16], val[16], mem[24];
	struct table t;
	size_t i;

	table_init(&t, 7, cols);
	for (i = 0; i < n; i++) {
		snprintf(max, sizeof(max), "%u", v[i].max_entries);
		snprintf(key, sizeof(key), "%u", v[i].key_size);
		snprintf(val, sizeof(val), "%u", v[i].value_size);
		snprintf(mem, sizeof(mem), "%.1f KiB", v[i].memlock / 1024.0);
		table_add(&t, (const char *const[]){ v[i].pin, map_type_name(v[i].type),
						     alloc_name(&v[i]), max, key, val, mem });
	}
	table_print(&t);
	printf("%zu %s pinned in %s: %.2f MiB (%llu bytes) memlock\n", n,
	       cli_plural(n, "map", "maps"), dir, total / 1048576.0, total);
}

int maps_show_memory(const char *bpffs_dir)
{
	unsigned long long total = 0;
	struct map_mem *v = NULL;
	size_t i, n;
	int err = collect_maps(bpffs_dir, &v, &n);

	if (err) {
		cli_error("Failed to read %s: %s", bpffs_dir, strerror(-err));
		return EXIT_USAGE;
	}
	for (i = 0; i < n; i++)
		total += v[i].memlock;
	if (cli.json)
		print_mem_json(v, n, total);
	else
		print_mem_table(v, n, total, bpffs_dir);
	free(v);
	return EXIT_OK;
}
