// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel feature probe. probe_kernel() asks the running kernel, one feature at
 * a time, with the smallest possible request (libbpf's probes, a two
 * instruction program, a link with no target), and keeps nothing it creates.
 * probe_explain() turns the result into sentences a node operator can act on.
 */
#include <errno.h>
#include <mntent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "probe.h"

/* One feature: its name for BPFMESH_PROBE_HIDE, the feature it cannot be
 * probed (or used) without, and what its absence means. */
struct probe_desc {
	const char *name;
	int needs; /* enum probe_feature, or -1 */
	const char *missing;
};

static const struct probe_desc probe_descs[PROBE__NR] = {
	[PROBE_BPF_SYSCALL] = {
		"bpf", -1,
		"the bpf() system call is not usable: no BPF program can be loaded",
	},
	[PROBE_BPFFS] = {
		"bpffs", -1,
		"kernel lacks the BPF file system (bpffs): maps and links cannot be "
		"pinned, so the kernel cannot keep deciding while the agent restarts",
	},
	[PROBE_BTF_VMLINUX] = {
		"btf", -1,
		"kernel lacks BTF type information at /sys/kernel/btf/vmlinux (needs "
		"Linux 5.4+ built with CONFIG_DEBUG_INFO_BTF): the BPF programs cannot "
		"be adapted (CO-RE) to this kernel's structure layouts",
	},
	[PROBE_CGROUP2] = {
		"cgroup2", -1,
		"no cgroup v2 file system is mounted (none listed in /proc/mounts): the "
		"programs attach to a cgroup2 directory; mount one, e.g. "
		"'mount -t cgroup2 none /sys/fs/cgroup'",
	},
	[PROBE_PROG_SOCK_ADDR] = {
		"sock_addr", PROBE_BPF_SYSCALL,
		"kernel lacks cgroup sock_addr programs (BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "
		"needs Linux 4.17+): connections cannot be steered when they are made",
	},
	[PROBE_ATTACH_CONNECT4] = {
		"connect4", PROBE_PROG_SOCK_ADDR,
		"kernel lacks the cgroup connect4 hook (BPF_CGROUP_INET4_CONNECT, needs "
		"Linux 4.17+): no backend can be chosen when an IPv4 connection is made",
	},
	[PROBE_ATTACH_GETPEERNAME4] = {
		"getpeername4", PROBE_PROG_SOCK_ADDR,
		"kernel lacks the cgroup getpeername4 hook (BPF_CGROUP_INET4_GETPEERNAME, "
		"needs Linux 5.8+): getpeername() would show applications the backend's "
		"address instead of the service's",
	},
	[PROBE_LINK_CGROUP] = {
		"cgroup_link", PROBE_ATTACH_CONNECT4,
		"kernel lacks BPF links for cgroups (bpf_link_create, needs Linux 5.7+): "
		"the programs' attachments cannot be pinned, so they would not outlive "
		"the agent nor be re-adopted by the next one",
	},
	[PROBE_MAP_SK_STORAGE] = {
		"sk_storage", PROBE_BPF_SYSCALL,
		"kernel lacks socket-local storage maps (BPF_MAP_TYPE_SK_STORAGE, needs "
		"Linux 5.2+): the service address a socket connected to cannot be kept "
		"for getpeername()",
	},
	[PROBE_MAP_PERCPU_HASH] = {
		"percpu_hash", PROBE_BPF_SYSCALL,
		"kernel lacks per-CPU hash maps (BPF_MAP_TYPE_PERCPU_HASH, needs Linux "
		"4.6+): per-backend connection counters cannot be kept",
	},
	[PROBE_MAP_PERCPU_ARRAY] = {
		"percpu_array", PROBE_BPF_SYSCALL,
		"kernel lacks per-CPU array maps (BPF_MAP_TYPE_PERCPU_ARRAY, needs Linux "
		"4.6+): verdict counters cannot be kept",
	},
	[PROBE_HELPER_PRANDOM] = {
		"get_prandom_u32", PROBE_PROG_SOCK_ADDR,
		"kernel lacks bpf_get_prandom_u32() for cgroup sock_addr programs: "
		"weighted splits and random load balancing cannot be done",
	},
	[PROBE_HELPER_SK_STORAGE_GET] = {
		"sk_storage_get", PROBE_PROG_SOCK_ADDR,
		"kernel lacks bpf_sk_storage_get() for cgroup sock_addr programs: the "
		"service address a socket connected to cannot be kept for getpeername()",
	},
	[PROBE_HELPER_SET_RETVAL] = {
		"set_retval", PROBE_ATTACH_CONNECT4,
		"kernel lacks bpf_set_retval() for cgroup sock_addr programs (needs "
		"Linux 5.18+): connections to an empty subset cannot be refused with "
		"ECONNREFUSED",
	},
};

const char *probe_feature_name(enum probe_feature f)
{
	if ((unsigned int)f >= PROBE__NR)
		return NULL;
	return probe_descs[f].name;
}

int probe_feature_by_name(const char *name)
{
	int f;

	for (f = 0; f < PROBE__NR; f++)
		if (!strcmp(name, probe_descs[f].name))
			return f;
	return -ENOENT;
}

int probe_hide(struct probe_result *r, const char *list, FILE *log)
{
	char name[32];
	int unknown = 0;
	size_t n;

	while (list && *list) {
		n = strcspn(list, ", \t");
		if (n && n < sizeof(name)) {
			int f;

			memcpy(name, list, n);
			name[n] = '\0';
			f = probe_feature_by_name(name);
			if (f >= 0) {
				r->have[f] = false;
				r->hidden[f] = true;
			} else {
				unknown++;
				if (log)
					fprintf(log, "bpfmesh: " PROBE_HIDE_ENV ": unknown feature '%s'\n",
						name);
			}
		} else if (n) {
			unknown++;
			if (log)
				fprintf(log, "bpfmesh: " PROBE_HIDE_ENV ": unknown feature '%.*s'\n",
					(int)n, list);
		}
		list += n;
		list += strspn(list, ", \t");
	}
	return unknown;
}

/* --- gathering ------------------------------------------------------------ */

/* Does /proc/filesystems list fstype? */
static bool fs_known(const char *fstype)
{
	char line[128];
	bool found = false;
	FILE *f;

	f = fopen("/proc/filesystems", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '\t');

		name = name ? name + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		found = !strcmp(name, fstype);
	}
	fclose(f);
	return found;
}

/* Is a file system of type fstype mounted? */
static bool fs_mounted(const char *fstype)
{
	struct mntent ent;
	char buf[4096];
	bool found = false;
	FILE *f;

	f = setmntent("/proc/mounts", "re");
	if (!f)
		return false;
	while (!found && getmntent_r(f, &ent, buf, sizeof(buf)))
		found = !strcmp(ent.mnt_type, fstype);
	endmntent(f);
	return found;
}

/* 0 when bpf() works for us, else the negative errno it fails with. */
static int bpf_usable(void)
{
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, sizeof(__u32), sizeof(__u32), 1, NULL);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Load "return 1" as a cgroup sock_addr program for one attach type.
 * Returns the program fd or a negative errno. */
static int sock_addr_prog_load(enum bpf_attach_type type)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type);

	return bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL, "Apache-2.0", insns,
			     sizeof(insns) / sizeof(insns[0]), &opts);
}

static bool sock_addr_attach_ok(enum bpf_attach_type type)
{
	int fd = sock_addr_prog_load(type);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A cgroup link is created without attaching anything: target fd -1 is
 * rejected with EBADF by kernels that know BPF_LINK_CREATE for cgroups
 * (5.7+, which look the cgroup up only after checking the command and the
 * program), and with EINVAL by older ones. */
static bool cgroup_link_ok(void)
{
	int prog_fd, link_fd;
	bool ok;

	prog_fd = sock_addr_prog_load(BPF_CGROUP_INET4_CONNECT);
	if (prog_fd < 0)
		return false;
	link_fd = bpf_link_create(prog_fd, -1, BPF_CGROUP_INET4_CONNECT, NULL);
	if (link_fd >= 0) {
		close(link_fd);
		ok = true;
	} else {
		ok = link_fd == -EBADF;
	}
	close(prog_fd);
	return ok;
}

static bool map_ok(enum bpf_map_type type)
{
	return libbpf_probe_bpf_map_type(type, NULL) == 1;
}

/* Is helper id known to cgroup sock_addr programs attached at connect4?
 * libbpf 1.1's libbpf_probe_bpf_helper() cannot say: it looks for "invalid
 * func" and "unknown func" in the verifier log, but since Linux 6.x the
 * verifier says "program of this type cannot use helper", which libbpf 1.1
 * takes for "supported". The helper is called with whatever the registers
 * hold: a complaint about its arguments still means it is known. */
static bool sock_addr_helper_ok(enum bpf_func_id id)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = id },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = BPF_CGROUP_INET4_CONNECT,
		    .log_buf = log,
		    .log_size = sizeof(log),
		    .log_level = 1);
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL, "Apache-2.0", insns,
			   sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	return !strstr(log, "invalid func ") && !strstr(log, "unknown func ") &&
	       !strstr(log, "cannot use helper");
}

static void probe_gather(struct probe_result *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->have[PROBE_BPFFS] = fs_known("bpf");
	r->have[PROBE_BTF_VMLINUX] = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	r->have[PROBE_CGROUP2] = fs_mounted("cgroup2");

	err = bpf_usable();
	r->bpf_errno = -err;
	r->have[PROBE_BPF_SYSCALL] = !err;
	if (err)
		return;

	r->have[PROBE_MAP_SK_STORAGE] = map_ok(BPF_MAP_TYPE_SK_STORAGE);
	r->have[PROBE_MAP_PERCPU_HASH] = map_ok(BPF_MAP_TYPE_PERCPU_HASH);
	r->have[PROBE_MAP_PERCPU_ARRAY] = map_ok(BPF_MAP_TYPE_PERCPU_ARRAY);

	r->have[PROBE_PROG_SOCK_ADDR] =
		libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) == 1;
	if (!r->have[PROBE_PROG_SOCK_ADDR])
		return;
	r->have[PROBE_ATTACH_CONNECT4] = sock_addr_attach_ok(BPF_CGROUP_INET4_CONNECT);
	r->have[PROBE_ATTACH_GETPEERNAME4] = sock_addr_attach_ok(BPF_CGROUP_INET4_GETPEERNAME);
	r->have[PROBE_HELPER_PRANDOM] = sock_addr_helper_ok(BPF_FUNC_get_prandom_u32);
	r->have[PROBE_HELPER_SK_STORAGE_GET] = sock_addr_helper_ok(BPF_FUNC_sk_storage_get);
	if (!r->have[PROBE_ATTACH_CONNECT4])
		return;
	r->have[PROBE_LINK_CGROUP] = cgroup_link_ok();
	r->have[PROBE_HELPER_SET_RETVAL] = sock_addr_helper_ok(BPF_FUNC_set_retval);
}

int probe_kernel(struct probe_result *r)
{
	probe_gather(r);
	probe_hide(r, getenv(PROBE_HIDE_ENV), NULL);
	return 0;
}

/* --- deciding ------------------------------------------------------------- */

struct outbuf {
	char *buf;
	size_t len;
	size_t off; /* bytes wanted so far, may exceed len */
};

static void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->off < o->len ? o->buf + o->off : NULL,
		      o->off < o->len ? o->len - o->off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off += (size_t)n;
}

/* Every feature f needs (directly or not) is present. */
static bool probe_prereqs_ok(const struct probe_result *r, int f)
{
	int p;

	for (p = probe_descs[f].needs; p >= 0; p = probe_descs[p].needs)
		if (!r->have[p])
			return false;
	return true;
}

static void explain_bpf(const struct probe_result *r, struct outbuf *o)
{
	switch (r->bpf_errno) {
	case ENOSYS:
		out_printf(o, "kernel has no bpf() system call (needs CONFIG_BPF_SYSCALL): "
			   "no BPF program can be loaded");
		break;
	case EPERM:
	case EACCES:
		out_printf(o, "the bpf() system call is not permitted (%s): run the agent as "
			   "root, or with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN",
			   strerror(r->bpf_errno));
		break;
	case 0:
		out_printf(o, "%s", probe_descs[PROBE_BPF_SYSCALL].missing);
		break;
	default:
		out_printf(o, "the bpf() system call fails (%s): no BPF program can be loaded",
			   strerror(r->bpf_errno));
		break;
	}
}

int probe_explain(const struct probe_result *r, char *buf, size_t len)
{
	struct outbuf o = { .buf = buf, .len = len };
	int f, missing = 0;

	if (buf && len)
		buf[0] = '\0';
	for (f = 0; f < PROBE__NR; f++) {
		if (r->have[f] || !probe_prereqs_ok(r, f))
			continue;
		if (f == PROBE_BPF_SYSCALL)
			explain_bpf(r, &o);
		else
			out_printf(&o, "%s", probe_descs[f].missing);
		if (r->hidden[f])
			out_printf(&o, " [hidden by " PROBE_HIDE_ENV "]");
		out_printf(&o, "\n");
		missing++;
	}
	/* Truncated: end on a complete line marker rather than mid-word. */
	if (buf && len > 4 && o.off >= len)
		memcpy(buf + len - 5, "...\n", 5);
	return missing;
}

int probe_check(FILE *log)
{
	struct probe_result r;
	struct utsname uts;
	char buf[4096], *line, *save = NULL;
	int missing;

	probe_gather(&r);
	probe_hide(&r, getenv(PROBE_HIDE_ENV), log);
	missing = probe_explain(&r, buf, sizeof(buf));
	if (!missing)
		return 0;
	if (!log)
		return -ENOTSUP;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(log, "bpfmesh: %s\n", line);
	if (uname(&uts))
		strcpy(uts.release, "?");
	fprintf(log, "bpfmesh: Linux %s lacks %d kernel feature%s that bpfmesh needs; not starting\n",
		uts.release, missing, missing == 1 ? "" : "s");
	fflush(log);
	return -ENOTSUP;
}
