// SPDX-License-Identifier: Apache-2.0
/* Entry points: files or buffers -> model -> checks -> image (see policy.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "files.h"
#include "parse.h"
#include "policy.h"
#include "validate.h"

static size_t model_count_resources(const struct model *m)
{
	const struct service_entry *se;
	const struct workload_entry *we;
	const struct virtual_service *vs;
	const struct dest_rule *dr;
	size_t n = 0;

	for (se = m->ses; se; se = se->next, n++);
	for (we = m->wes; we; we = we->next, n++);
	for (vs = m->vss; vs; vs = vs->next, n++);
	for (dr = m->drs; dr; dr = dr->next, n++);
	return n;
}

int policy_compile_model(struct model *m, struct diag_list *dl, struct bpfmesh_image *img)
{
	struct registry reg;
	int ret = 1;

	if (!registry_build(&reg, m, dl)) {
		registry_free(&reg);
		return 1;
	}
	xref_check(&reg, dl);
	if (!diag_count_errors(dl) && !m->arena.oom) {
		if (compile_image(&reg, dl, img) && !diag_count_errors(dl))
			ret = 0;
		else
			bpfmesh_image_free(img);
	}
	registry_free(&reg);
	return ret;
}

/* After parsing: checks, then the image, only if nothing is wrong. */
static int policy_finish(struct model *m, struct diag_list *dl, struct bpfmesh_image *img)
{
	int ret = 1;

	dl->resources += model_count_resources(m);
	if (m->arena.oom)
		goto out;
	validate_model(m, dl);
	ret = policy_compile_model(m, dl, img);
out:
	/* A rejection always says why: the only silent failures left are
	 * allocations (hash maps, libyaml), so name them. */
	if (m->oom_reported)
		; /* named where it happened */
	else if (m->arena.over_limit)
		diag_add(dl, DIAG_ERROR, "", 0, 0, "",
			 "policy too large: its model needs more than %lu MiB", MODEL_MAX_BYTES >> 20);
	else if (m->arena.oom || (ret != 0 && !diag_count_errors(dl)))
		diag_add(dl, DIAG_ERROR, "", 0, 0, "", "out of memory");
	model_free(m);
	return ret;
}

static void policy_parse_one(struct model *m, const char *name, const char *buf, size_t len,
			     struct diag_list *dl)
{
	if (len > POLICY_MAX_FILE_BYTES) {
		diag_add(dl, DIAG_ERROR, name, 0, 0, "",
			 "file is %zu bytes, more than the %u bytes allowed; not read", len,
			 POLICY_MAX_FILE_BYTES);
		return;
	}
	parse_buffer(m, name, buf, len, dl);
}

int policy_compile_buffers(const char *const *names, const char *const *bufs,
			   const size_t *lens, size_t n, struct diag_list *dl,
			   struct bpfmesh_image *img)
{
	struct model m;
	size_t i;

	memset(img, 0, sizeof(*img));
	model_init(&m);
	for (i = 0; i < n && !m.arena.oom; i++)
		policy_parse_one(&m, names[i], bufs[i], lens[i], dl);
	dl->files += n;
	return policy_finish(&m, dl, img);
}

/* ---- files ------------------------------------------------------------- */

static bool files_add(struct file_list *fl, char *name)
{
	if (!name)
		return false;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 16;
		char **v = realloc(fl->names, cap * sizeof(*v));

		if (!v) {
			free(name);
			return false;
		}
		fl->names = v;
		fl->cap = cap;
	}
	fl->names[fl->n++] = name;
	return true;
}

void policy_files_free(struct file_list *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		free(fl->names[i]);
	free(fl->names);
}

static bool is_policy_file(const char *name)
{
	size_t l = strlen(name);

	if (name[0] == '.')
		return false;
	return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) ||
	       (l > 4 && strcmp(name + l - 4, ".yml") == 0);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISDIR(mode))
		return "a directory";
	return "not a regular file";
}

/* *.yaml and *.yml of a directory, in name order (byte order, not locale). */
static int files_from_dir(struct file_list *fl, const char *dir, struct diag_list *dl)
{
	size_t first = fl->n;
	struct stat st;
	struct dirent *de;
	DIR *d = opendir(dir);
	char *p;

	if (!d) {
		diag_add(dl, DIAG_ERROR, dir, 0, 0, "", "cannot open directory: %s", strerror(errno));
		return 2;
	}
	while ((de = readdir(d))) {
		if (!is_policy_file(de->d_name))
			continue;
		if (asprintf(&p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			closedir(d);
			return 2;
		}
		/* A FIFO, device or socket named *.yaml is reported and skipped
		 * (never opened); symlinks to files are followed, as Kubernetes
		 * mounts ConfigMaps through them. */
		if (stat(p, &st) == 0 && !S_ISREG(st.st_mode)) {
			diag_add(dl, DIAG_WARNING, p, 0, 0, "", "%s, not a regular file; skipped",
				 file_kind(st.st_mode));
			free(p);
			continue;
		}
		if (!files_add(fl, p)) {
			closedir(d);
			return 2;
		}
	}
	closedir(d);
	if (fl->n > first)
		qsort(fl->names + first, fl->n - first, sizeof(*fl->names), name_cmp);
	return 0;
}

/*
 * Only regular files are read: a FIFO would block the agent forever and a
 * device could stream without end. The type is checked before the open,
 * and again on the descriptor (opened non-blocking, so a FIFO swapped in
 * between cannot block) in case the name changed in between.
 */
int policy_read_file(const char *path, char **buf, size_t *len, struct diag_list *dl)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd;

	*buf = NULL;
	*len = 0;
	if (stat(path, &st) != 0) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "", "cannot read: %s", strerror(errno));
		return 2;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "", "%s, not a regular file; not read",
			 file_kind(st.st_mode));
		return 2;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "", "cannot read: %s",
			 fd < 0 ? strerror(errno) : "not a regular file any more");
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if ((unsigned long long)st.st_size > POLICY_MAX_FILE_BYTES) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "",
			 "file is %lld bytes, more than the %u bytes allowed; not read",
			 (long long)st.st_size, POLICY_MAX_FILE_BYTES);
		close(fd);
		return 1;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "", "out of memory reading %lld bytes",
			 (long long)st.st_size);
		close(fd);
		return 2;
	}
	/* One byte more than the size: a file that grew is refused, not cut. */
	while (got <= (size_t)st.st_size &&
	       (r = read(fd, *buf + got, (size_t)st.st_size + 1 - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		got += (size_t)r;
	}
	if (r < 0 || got > (size_t)st.st_size) {
		diag_add(dl, DIAG_ERROR, path, 0, 0, "", "cannot read: %s",
			 r < 0 ? strerror(errno) : "file grew while being read");
		close(fd);
		free(*buf);
		*buf = NULL;
		return 2;
	}
	close(fd);
	*len = got;
	return 0;
}

int policy_files_collect(struct file_list *fl, const char *const *paths, size_t n,
			 struct diag_list *dl)
{
	struct stat st;
	int ret = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (stat(paths[i], &st) != 0) {
			diag_add(dl, DIAG_ERROR, paths[i], 0, 0, "", "cannot open: %s",
				 strerror(errno));
			ret = 2;
		} else if (S_ISDIR(st.st_mode)) {
			if (files_from_dir(fl, paths[i], dl))
				ret = 2;
		} else if (!files_add(fl, strdup(paths[i]))) {
			ret = 2;
		}
	}
	return ret;
}

int policy_compile_paths(const char *const *paths, size_t n_paths,
			 struct diag_list *dl, struct bpfmesh_image *img)
{
	return policy_compile_sources(paths, n_paths, NULL, NULL, NULL, 0, dl, img);
}

int policy_compile_sources(const char *const *paths, size_t n_paths,
			   const char *const *names, const char *const *bufs,
			   const size_t *lens, size_t n_bufs, struct diag_list *dl,
			   struct bpfmesh_image *img)
{
	struct file_list fl = { 0 };
	int ret, io = 0, r;
	struct model m;
	size_t i, len;
	char *buf;

	memset(img, 0, sizeof(*img));
	model_init(&m);
	io = policy_files_collect(&fl, paths, n_paths, dl);
	dl->files += fl.n;
	for (i = 0; i < fl.n && !m.arena.oom; i++) {
		r = policy_read_file(fl.names[i], &buf, &len, dl);
		if (r == 2)
			io = 2;
		if (buf)
			parse_buffer(&m, fl.names[i], buf, len, dl);
		free(buf);
	}
	/* In-memory documents (the Kubernetes API's objects) after the files,
	 * under the same limits. */
	for (i = 0; i < n_bufs && !m.arena.oom; i++)
		policy_parse_one(&m, names[i], bufs[i], lens[i], dl);
	if (io) {
		model_free(&m);
		policy_files_free(&fl);
		return io;
	}
	ret = policy_finish(&m, dl, img);
	policy_files_free(&fl);
	return ret;
}
