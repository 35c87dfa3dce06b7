// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/lbpolicy_abi.h>
#include <bpfmesh/locality_abi.h>
#include <bpfmesh/sockmap_abi.h>
#include <bpfmesh/tc_abi.h>
#include "old_records.h"
#include "sock_addr.skel.h"
#include "tc.skel.h"
#include "sockops.skel.h"
#include "sockmap.skel.h"
#include "conn_sweep.skel.h"
#include "connpool_probe.h"
#include "load_stamp.h"
#include "loader.h"
#include "map_grow.h"
#include "sysfs.h"

/* When an object is loaded. */
enum lb_load_when {
	LB_LOAD_ALWAYS,
	/* Only with --interfaces: its flow table is preallocated (LRU), and
	 * memory should follow use. */
	LB_LOAD_NETDEV,
	/* Only with --sockmap, or when an earlier agent left it attached (then
	 * it is re-adopted and switched off through its config map): its
	 * sockops program would otherwise run on every managed socket for
	 * nothing. */
	LB_LOAD_SOCKMAP,
	/* Only where the kernel has the bpf_sock_destroy kfunc (Linux 6.5+):
	 * the connection sweep (bpf/conn_sweep.bpf.c). Elsewhere it cannot
	 * load, and the other objects must not depend on it; should it fail
	 * to load all the same, the agent goes on without it. */
	LB_LOAD_SOCK_DESTROY,
};

/*
 * Verified in parallel. The verifier takes most of a cold start, nearly all
 * of it in four programs of sock_addr (6.18: connect4 185 ms, connect6
 * 531 ms, sendmsg4 240 ms, sendmsg6 329 ms; 6.1 under TCG about 6.5 s
 * together), and one bpf_object__load verifies its programs one after the
 * other. So the object is loaded three times: once for its maps (created and
 * pinned, no program), then twice at once, each instance with half of the
 * programs, reusing the maps by their pins. The halves are split by the
 * times above: the two connects (and the tiny getpeername programs) on the
 * calling thread, the sendmsg/recvmsg programs on a second one.
 * Since the endpoint choice became global functions (bpf/lib/lb.h,
 * docs/benchmarks.md "verify") the four verify in 25-30 ms each on 6.18
 * (about 250 ms each on 6.1 under TCG): loading the object once, on one
 * thread, measured no less CPU at a 10,000-service cold start (the parse
 * runs beside it either way), so the split stays.
 */
static const char *const sock_addr_second_thread[] = {
	"bpfmesh_sendmsg4", "bpfmesh_recvmsg4", "bpfmesh_sendmsg6", "bpfmesh_recvmsg6", NULL,
};

/* The objects, embedded in the binary by their skeletons. */
static const struct {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
	enum lb_load_when when;
	const char *const *second_thread; /* verified in parallel, or NULL */
} lb_objects[__LB_OBJ_MAX] = {
	[LB_OBJ_SOCK_ADDR] = { "sock_addr", sock_addr_bpf__elf_bytes, LB_LOAD_ALWAYS,
			       sock_addr_second_thread },
	[LB_OBJ_TC] = { "tc", tc_bpf__elf_bytes, LB_LOAD_NETDEV },
	[LB_OBJ_SOCKOPS] = { "sockops", sockops_bpf__elf_bytes, LB_LOAD_ALWAYS },
	[LB_OBJ_SOCKMAP] = { "sockmap", sockmap_bpf__elf_bytes, LB_LOAD_SOCKMAP },
	[LB_OBJ_CONN_SWEEP] = { "conn_sweep", conn_sweep_bpf__elf_bytes, LB_LOAD_SOCK_DESTROY },
};

const struct lb_program lb_programs[] = {
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_connect4", BPF_CGROUP_INET4_CONNECT, LB_TARGET_CGROUP,
	  "link_connect4" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_getpeername4", BPF_CGROUP_INET4_GETPEERNAME,
	  LB_TARGET_CGROUP, "link_getpeername4" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_connect6", BPF_CGROUP_INET6_CONNECT, LB_TARGET_CGROUP,
	  "link_connect6" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_getpeername6", BPF_CGROUP_INET6_GETPEERNAME,
	  LB_TARGET_CGROUP, "link_getpeername6" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_sendmsg4", BPF_CGROUP_UDP4_SENDMSG, LB_TARGET_CGROUP,
	  "link_sendmsg4" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_recvmsg4", BPF_CGROUP_UDP4_RECVMSG, LB_TARGET_CGROUP,
	  "link_recvmsg4" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_sendmsg6", BPF_CGROUP_UDP6_SENDMSG, LB_TARGET_CGROUP,
	  "link_sendmsg6" },
	{ LB_OBJ_SOCK_ADDR, "bpfmesh_recvmsg6", BPF_CGROUP_UDP6_RECVMSG, LB_TARGET_CGROUP,
	  "link_recvmsg6" },
	{ LB_OBJ_TC, "bpfmesh_tc_ingress", 0, LB_TARGET_NETDEV_INGRESS, "link_tc_ingress" },
	{ LB_OBJ_TC, "bpfmesh_tc_egress", 0, LB_TARGET_NETDEV_EGRESS, "link_tc_egress" },
	{ LB_OBJ_SOCKOPS, "bpfmesh_sockops", BPF_CGROUP_SOCK_OPS, LB_TARGET_CGROUP,
	  "link_sockops" },
	/* connectionPool: releases a counted socket that never sent its SYN. */
	{ LB_OBJ_SOCKOPS, "bpfmesh_sock_release", BPF_CGROUP_INET_SOCK_RELEASE,
	  LB_TARGET_CGROUP, "link_sock_release" },
	/* BPF_PROG_TYPE_SYSCALL has no attach type: 0 is what libbpf reports. */
	{ LB_OBJ_SOCKOPS, "bpfmesh_health_sweep", 0, LB_TARGET_NONE, NULL },
	/* Same-node acceleration (bpf/sockmap.bpf.c): a second sockops program
	 * on the cgroup, and the sk_msg program attached to the SOCKHASH of
	 * each family. */
	{ LB_OBJ_SOCKMAP, "bpfmesh_sockmap_ops", BPF_CGROUP_SOCK_OPS, LB_TARGET_CGROUP,
	  "link_sockmap_ops" },
	{ LB_OBJ_SOCKMAP, "bpfmesh_sockmap_msg", BPF_SK_MSG_VERDICT, LB_TARGET_SOCKHASH,
	  BPFMESH_MAP_SOCKHASH },
	{ LB_OBJ_SOCKMAP, "bpfmesh_sockmap_msg", BPF_SK_MSG_VERDICT, LB_TARGET_SOCKHASH,
	  BPFMESH_MAP_SOCKHASH6 },
	/* maxConnectionDuration, idleTimeout: an iter/tcp program the agent
	 * runs (user/agent/conn_sweep.c). */
	{ LB_OBJ_CONN_SWEEP, "bpfmesh_conn_sweep", BPF_TRACE_ITER, LB_TARGET_NONE, NULL },
};
const unsigned int lb_n_programs = sizeof(lb_programs) / sizeof(lb_programs[0]);
_Static_assert(sizeof(lb_programs) / sizeof(lb_programs[0]) <= LB_MAX_PROGRAMS,
	       "raise LB_MAX_PROGRAMS");

/*
 * Pinned map names carry the layout version of the map (key, value, type):
 * an agent adopts only pins whose layout it reads, and a pin of another
 * layout is found under another name, never misread. A map whose name
 * already ends in _v<N> pins under its name; any other map pins as
 * <name>_v<version>, its version from this table (1 when not listed). A
 * change to a map's key or value layout bumps its row (or its _v<N>).
 *
 * Pins of the previous release had no version on these maps (and one
 * services hash of whole routes, replaced by the three maps of the atomic
 * switch: lb_abi.h); an agent that finds them (or any bpfmesh_ pin that is not one of its own names) migrates:
 * see find_stale_pins().
 */
static const struct {
	const char *map;
	unsigned int version;
} map_layouts[] = {
	{ BPFMESH_MAP_SVC_IDS, 1 }, { BPFMESH_MAP_SVC_HEADS, 1 }, { BPFMESH_MAP_ROUTES, 1 },
	{ BPFMESH_MAP_BACKENDS, 1 }, { BPFMESH_MAP_VERDICTS, 1 },  { BPFMESH_MAP_NAMES, 1 },
	{ BPFMESH_MAP_CT4, 2 },      { BPFMESH_MAP_TC_EVENTS, 1 },
};

/* Does name end in _v<digits>? */
static bool has_layout_version(const char *name)
{
	const char *v = strrchr(name, '_');
	size_t digits;

	if (!v || v[1] != 'v')
		return false;
	digits = strspn(v + 2, "0123456789");
	return digits > 0 && v[2 + digits] == '\0';
}

static unsigned int layout_version(const char *map_name)
{
	unsigned int i;

	for (i = 0; i < sizeof(map_layouts) / sizeof(map_layouts[0]); i++)
		if (!strcmp(map_layouts[i].map, map_name))
			return map_layouts[i].version;
	return 1;
}

/* Map pins (bpfmesh_*) get their layout version; link pins keep their name. */
static int pin_name(char *buf, size_t len, const char *name)
{
	int n;

	if (strncmp(name, LB_PIN_PREFIX, strlen(LB_PIN_PREFIX)) || has_layout_version(name))
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%s_v%u", name, layout_version(name));
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int lb_pin_path(char *buf, size_t len, const char *bpffs_dir, const char *name)
{
	char pin[NAME_MAX + 1];
	int err = pin_name(pin, sizeof(pin), name);

	if (!err && (size_t)snprintf(buf, len, "%s/%s", bpffs_dir, pin) >= len)
		err = -ENAMETOOLONG;
	return err;
}

static bool is_netdev(const struct lb_program *row)
{
	return row->target == LB_TARGET_NETDEV_INGRESS || row->target == LB_TARGET_NETDEV_EGRESS;
}

/* A program of object obj by name: from the instance that loaded it when
 * the object was verified in parallel; else (not loaded: adopted unverified)
 * the object's own description of it. */
static struct bpf_program *object_program(const struct lb_loader *l, enum lb_obj obj,
					  const char *name)
{
	struct bpf_program *p, *found = NULL;
	int k;

	for (k = 0; k <= LB_LOAD_PARTS; k++) {
		struct bpf_object *o = k ? l->parts[obj][k - 1] : l->objs[obj];

		p = o ? bpf_object__find_program_by_name(o, name) : NULL;
		if (p && bpf_program__fd(p) >= 0)
			return p;
		if (p && !found)
			found = p;
	}
	return found;
}

/* The program of a table row, checked against the row's attach type so that
 * a row naming the wrong function fails at start, not at the first connect. */
static int row_program(struct lb_loader *l, const struct lb_program *row,
		       struct bpf_program **prog)
{
	*prog = object_program(l, row->obj, row->prog);
	if (!*prog)
		return -ENOENT;
	if (is_netdev(row))
		return bpf_program__type(*prog) == BPF_PROG_TYPE_SCHED_CLS ? 0 : -EINVAL;
	if ((int)bpf_program__expected_attach_type(*prog) != row->attach_type)
		return -EINVAL;
	return 0;
}

/* A pinned link must belong to the cgroup we are asked to attach to. */
static int link_check_cgroup(struct bpf_link *link, int cgroup_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct stat st;

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return -errno;
	if (fstat(cgroup_fd, &st))
		return -errno;
	if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != st.st_ino)
		return -EXDEV;
	return 0;
}

/* A fresh link from prog to the row's target. */
static struct bpf_link *attach_target(struct lb_loader *l, const struct lb_program *row,
				      struct bpf_program *prog)
{
	switch (row->target) {
	case LB_TARGET_CGROUP:
		return bpf_program__attach_cgroup(prog, l->cgroup_fd);
	case LB_TARGET_NETDEV_INGRESS:
	case LB_TARGET_NETDEV_EGRESS:
		break; /* attach_netdev() */
	case LB_TARGET_NONE:
	case LB_TARGET_SOCKHASH:
		break;
	}
	errno = EINVAL;
	return NULL;
}

/* The pinned link must hold the row's target: for a cgroup, ours. */
static int link_check_target(struct lb_loader *l, const struct lb_program *row,
			     struct bpf_link *link)
{
	switch (row->target) {
	case LB_TARGET_CGROUP:
		return link_check_cgroup(link, l->cgroup_fd);
	case LB_TARGET_NETDEV_INGRESS:
	case LB_TARGET_NETDEV_EGRESS:
		break; /* tc_attach() checks its own pins */
	case LB_TARGET_NONE:
	case LB_TARGET_SOCKHASH:
		break;
	}
	return -EINVAL;
}

/* A netdev row on each interface. */
static int attach_netdev(struct lb_loader *l, unsigned int i, struct bpf_program *prog)
{
	const struct lb_program *row = &lb_programs[i];
	char name[NAME_MAX], path[PATH_MAX];
	bool adopted;
	int j, err;

	for (j = 0; j < l->n_ifaces; j++) {
		snprintf(name, sizeof(name), "%s_%s", row->pin, l->ifname[j]);
		err = lb_pin_path(path, sizeof(path), l->bpffs_dir, name);
		if (!err)
			err = tc_attach(&l->tc[i][j], l->tc_mode, bpf_program__fd(prog),
					l->ifindex[j], row->target == LB_TARGET_NETDEV_EGRESS,
					path, &adopted);
		if (err) {
			fprintf(stderr, "Failed to attach %s to %s (%s): %d (%s)\n", row->prog,
				l->ifname[j], tc_mode_name(l->tc_mode), err, strerror(-err));
			return err;
		}
		l->adopted |= adopted;
	}
	return 0;
}

/* A program that lives in a map (sk_msg in the SOCKHASH). 6.1 has no link
 * for it: attaching replaces whatever an earlier agent attached, in place,
 * and the attachment lasts as long as the pinned map. */
static int attach_to_map(struct lb_loader *l, const struct lb_program *row,
			 struct bpf_program *prog)
{
	int map_fd = lb_loader_map_fd(l, row->pin);

	if (map_fd < 0)
		return map_fd;
	if (bpf_prog_attach(bpf_program__fd(prog), map_fd, row->attach_type, 0))
		return -errno;
	return 0;
}

#define PROG_MAX_MAPS 64

/* The kernel's view of a loaded program: its tag and the maps it uses. */
struct prog_identity {
	struct bpf_prog_info info;
	__u32 map_ids[PROG_MAX_MAPS];
};

static int prog_identity(int prog_fd, struct prog_identity *id)
{
	__u32 len = sizeof(id->info);

	memset(id, 0, sizeof(*id));
	id->info.nr_map_ids = PROG_MAX_MAPS;
	id->info.map_ids = (__u64)(unsigned long)id->map_ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &id->info, &len))
		return -errno;
	return id->info.nr_map_ids <= PROG_MAX_MAPS ? 0 : -E2BIG;
}

/* Two maps a program uses are the same when they are one map, or both are
 * read-only data of the same name and content (.rodata is a new map at each
 * load, frozen, so equal bytes mean equal constants). */
static bool same_map(__u32 a_id, __u32 b_id)
{
	struct bpf_map_info a = {}, b = {};
	__u32 len = sizeof(a), zero = 0;
	int a_fd, b_fd;
	bool same = false;
	char a_val[4096], b_val[4096];

	if (a_id == b_id)
		return true;
	a_fd = bpf_map_get_fd_by_id(a_id);
	b_fd = bpf_map_get_fd_by_id(b_id);
	if (a_fd >= 0 && b_fd >= 0 && !bpf_obj_get_info_by_fd(a_fd, &a, &len) &&
	    (len = sizeof(b), !bpf_obj_get_info_by_fd(b_fd, &b, &len)) &&
	    !strcmp(a.name, b.name) && strstr(a.name, ".rodata") && a.type == b.type &&
	    a.value_size == b.value_size && a.value_size <= sizeof(a_val) &&
	    !bpf_map_lookup_elem(a_fd, &zero, a_val) && !bpf_map_lookup_elem(b_fd, &zero, b_val))
		same = !memcmp(a_val, b_val, a.value_size);
	if (a_fd >= 0)
		close(a_fd);
	if (b_fd >= 0)
		close(b_fd);
	return same;
}

/*
 * "The program differs" is decided by the kernel's identity of the program a
 * pinned link runs against the one this agent loaded: the tag (a hash of the
 * instructions, with map references left out) and the maps it uses. Same
 * tag and same maps: the same decisions, the link is left as it is. Any
 * difference (another build, or new maps after a layout migration) and the
 * link is switched with one bpf_link_update.
 */
static bool link_runs_same_program(struct bpf_link *link, int prog_fd)
{
	struct bpf_link_info li = {};
	__u32 len = sizeof(li), i;
	struct prog_identity a, b;
	bool same;
	int fd;

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &len))
		return false;
	fd = bpf_prog_get_fd_by_id(li.prog_id);
	if (fd < 0)
		return false;
	same = !prog_identity(fd, &a) && !prog_identity(prog_fd, &b) &&
	       !memcmp(a.info.tag, b.info.tag, sizeof(a.info.tag)) &&
	       a.info.nr_map_ids == b.info.nr_map_ids;
	for (i = 0; same && i < a.info.nr_map_ids; i++)
		same = same_map(a.map_ids[i], b.map_ids[i]);
	close(fd);
	return same;
}

/* Switch an earlier agent's pinned link to prog, unless it runs the same. */
static int adopt_link(struct lb_loader *l, const struct lb_program *row, struct bpf_link *link,
		      struct bpf_program *prog)
{
	int err = link_check_target(l, row, link);

	if (err)
		return err;
	/* BPFMESH_REPLACE_PROGRAMS=1 switches even an equal program: the
	 * tests exercise the link update under load with it. */
	if (!getenv("BPFMESH_REPLACE_PROGRAMS") &&
	    link_runs_same_program(link, bpf_program__fd(prog))) {
		l->progs_kept++;
		return 0;
	}
	err = bpf_link__update_program(link, prog);
	if (!err)
		l->progs_replaced++;
	return err;
}

/* Reuse a pinned link (switching it to the new program), or attach anew. */
static int attach_one(struct lb_loader *l, unsigned int i)
{
	const struct lb_program *row = &lb_programs[i];
	struct bpf_program *prog;
	char path[PATH_MAX];
	struct bpf_link *link;
	int err;

	if (!l->objs[row->obj])
		return 0; /* not loaded: nothing to attach it to */
	err = row_program(l, row, &prog);
	if (err || row->target == LB_TARGET_NONE)
		return err;
	if (is_netdev(row))
		return attach_netdev(l, i, prog);
	if (row->target == LB_TARGET_SOCKHASH)
		return attach_to_map(l, row, prog);
	err = lb_pin_path(path, sizeof(path), l->bpffs_dir, row->pin);
	if (err)
		return err;
	link = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
	if (link && l->unverified[row->obj]) {
		/* Its stamp said it runs this agent's program (adopt_unverified) */
		err = link_check_target(l, row, link);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
		l->progs_kept++;
		l->progs_adopted++;
		l->adopted = true;
		l->links[i] = link;
		return 0;
	}
	if (link) {
		err = adopt_link(l, row, link, prog);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
		l->adopted = true;
		l->links[i] = link;
		return 0;
	}
	link = attach_target(l, row, prog);
	if (!link)
		return -errno;
	err = bpf_link__pin(link, path);
	if (err) {
		bpf_link__destroy(link);
		return err;
	}
	l->links[i] = link;
	return 0;
}

/* The maps sized from struct lb_sizes: max_entries = times x the endpoint
 * or cluster slots. Backend set entries are one per endpoint slot named by
 * a set, twice while a changed set and its retired predecessor coexist
 * (grace period): 4x leaves room for churn. Names are a host or a cluster
 * each, and every host has a cluster: 2x. A hash map's bucket array is
 * allocated at creation (16 B a bucket): sizing these from the slots keeps
 * a node's memory to its policy (the compile-time maxima cost 10.9 MB). */
/* PER_SERVICE_AND_ZERO: one more than the services, for an array whose
 * element 0 is never given out (the heads: a service index 0 names none). */
/* FIXED: times alone, a size of its own; listed so that a pin made at
 * another size (an earlier agent's) is re-adopted at it. */
/* PER_CLUSTER_IF_HISTS: per cluster with --cluster-histograms, else 1 (slot
 * 0 only, which no cluster has: no histograms, health_abi.h). */
enum size_base {
	PER_ENDPOINT,
	PER_CLUSTER,
	PER_CLUSTER_IF_HISTS,
	PER_SERVICE,
	PER_SERVICE_AND_ZERO,
	FIXED
};

/* max: a ceiling (0: none), the compile-time size of a map whose limit
 * predates its sizing. */
static const struct {
	const char *map;
	enum size_base base;
	unsigned int times;
	unsigned int max;
} sized_maps[] = {
	{ BPFMESH_MAP_EP_COUNTERS, PER_ENDPOINT, 1, 0 },
	{ BPFMESH_MAP_EP_HEALTH, PER_ENDPOINT, 1, 0 },
	{ BPFMESH_MAP_EP_HISTS, PER_CLUSTER_IF_HISTS, 1, 0 },
	{ BPFMESH_MAP_CLUSTER_CFG, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_CLUSTER_STATE, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_BACKENDS, PER_ENDPOINT, 4, 0 },
	{ BPFMESH_MAP_NAMES, PER_CLUSTER, 2, 0 },
	/* --max-services: one entry per service VIP:port; routes twice that,
	 * room for every service's next version while the old one waits out
	 * its grace period (lb_abi.h). */
	{ BPFMESH_MAP_SVC_IDS, PER_SERVICE, 1, 0 },
	{ BPFMESH_MAP_SVC_HEADS, PER_SERVICE_AND_ZERO, 1, 0 },
	{ BPFMESH_MAP_ROUTES, PER_SERVICE, 2, 0 },
	{ BPFMESH_MAP_LB_POLICY, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_LB_RR, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_LB_ACTIVE, PER_ENDPOINT, 1, 0 },
	{ BPFMESH_MAP_CONNPOOL_CFG, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_CONNPOOL_OPEN, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_CONNPOOL_CLOSED, PER_CLUSTER, 1, 0 },
	{ BPFMESH_MAP_EP_LOCALITY, PER_ENDPOINT, 1, 0 },
	/* (endpoint slot, source) pairs: a node's pairs are at most its slots
	 * times its identities; one per slot covers one caller identity per
	 * endpoint, and a pair that does not fit is counted as source unknown
	 * (bpfmesh_src_overflow_v1). Up to the fixed 65,536 it had. */
	{ BPFMESH_MAP_SRC_COUNTERS, PER_ENDPOINT, 1, BPFMESH_MAX_SRC_COUNTERS },
	/* 16,384 before 4,096 (identity_abi.h): an earlier pin keeps its size. */
	{ BPFMESH_MAP_IDENTITY_CACHE, FIXED, BPFMESH_ID_CACHE_SIZE, 0 },
	/* 65,536 before 8,192 (sockmap_abi.h): an earlier pin keeps its size. */
	{ "bpfmesh_sockmap4_pending_v1", FIXED, BPFMESH_SOCKMAP_MAX_PENDING, 0 },
	{ "bpfmesh_sockmap6_pending_v1", FIXED, BPFMESH_SOCKMAP_MAX_PENDING, 0 },
};

static unsigned int size_base(const struct lb_sizes *s, enum size_base base)
{
	switch (base) {
	case PER_ENDPOINT:
		return s->max_endpoints;
	case PER_CLUSTER:
		return s->max_clusters;
	case PER_CLUSTER_IF_HISTS:
		return s->cluster_hists ? s->max_clusters : 1;
	case PER_SERVICE:
		return s->max_services;
	case PER_SERVICE_AND_ZERO:
		return s->max_services + 1;
	case FIXED:
		return 1;
	}
	return 0;
}

/* max_entries of the map pinned at path, or 0 when there is none. libbpf
 * refuses to reuse a pin whose max_entries differ from the object's, so a
 * pinned map is re-adopted at the size it was created with. */
static unsigned int pinned_max_entries(const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

/* Was the size of base asked for (an agent option, not a default)? */
static unsigned int asked_size(const struct lb_sizes *asked, enum size_base base)
{
	if (!asked || base == FIXED)
		return 0;
	return size_base(asked, base);
}

/* max_entries row i of sized_maps asks for at sizes s (0: none asked). */
static unsigned int row_want(unsigned int i, const struct lb_sizes *s, bool asked_only)
{
	unsigned int want = sized_maps[i].times *
			    (asked_only ? asked_size(s, sized_maps[i].base)
					: size_base(s, sized_maps[i].base));

	return sized_maps[i].max && want > sized_maps[i].max ? sized_maps[i].max : want;
}

static unsigned int grown_min(const struct lb_loader *l, const char *map);

/* The cluster slots of the maps in force: as pinned (or set aside to grow),
 * at least as the option or the default asks. */
static unsigned int cluster_slots_in_force(const struct lb_loader *l)
{
	char path[PATH_MAX];
	unsigned int n = l->sizes.max_clusters, m;

	m = grown_min(l, BPFMESH_MAP_CLUSTER_CFG);
	n = m > n ? m : n;
	m = lb_pin_path(path, sizeof(path), l->bpffs_dir, BPFMESH_MAP_CLUSTER_CFG)
		    ? 0 : pinned_max_entries(path);
	return m > n ? m : n;
}

/* max_entries an agent option asks of row i (0: none). --cluster-histograms
 * alone asks for a histogram on every cluster slot in force. */
static unsigned int asked_want(const struct lb_loader *l, const struct lb_sizes *asked,
			       unsigned int i)
{
	if (sized_maps[i].base == PER_CLUSTER_IF_HISTS && asked && asked->cluster_hists &&
	    !asked->max_clusters)
		return cluster_slots_in_force(l);
	return row_want(i, asked, true);
}

/* Does a pinned map hold fewer entries than an agent option now asks? */
static int any_outgrown(const struct lb_loader *l, const struct lb_sizes *asked, bool *out)
{
	char path[PATH_MAX];
	unsigned int i, want, pinned;
	int err;

	*out = false;
	for (i = 0; i < sizeof(sized_maps) / sizeof(sized_maps[0]) && !*out; i++) {
		want = asked_want(l, asked, i);
		err = want ? lb_pin_path(path, sizeof(path), l->bpffs_dir, sized_maps[i].map) : 0;
		if (err)
			return err;
		pinned = want ? pinned_max_entries(path) : 0;
		*out = pinned && pinned < want;
	}
	return 0;
}

/*
 * Pins smaller than an agent option now asks are created anew at that
 * size, their state carried over (map_grow.h): a restart with a raised
 * --max-services, --max-clusters or --max-endpoints grows the maps without
 * an uninstall. Then every sized map is set aside and created anew, not only
 * the outgrown ones: the programs read them together (a route names a set
 * in the backends map), and until the links switch the earlier programs
 * must see only the earlier maps, as the new ones only the new (else a
 * route the agent writes for the new programs names a set the earlier ones
 * cannot find). A map is never shrunk (grown_min), and without its option a
 * pin keeps its size.
 */
static int set_aside_outgrown(struct lb_loader *l, const struct lb_sizes *asked)
{
	char path[PATH_MAX];
	unsigned int i, pinned;
	bool outgrown;
	int err = any_outgrown(l, asked, &outgrown);

	for (i = 0; !err && outgrown && i < sizeof(sized_maps) / sizeof(sized_maps[0]); i++) {
		if (sized_maps[i].base == FIXED)
			continue; /* not read with the others (the identity cache) */
		err = lb_pin_path(path, sizeof(path), l->bpffs_dir, sized_maps[i].map);
		pinned = err ? 0 : pinned_max_entries(path);
		if (!pinned)
			continue;
		if (l->n_grown == LB_MAX_GROWN)
			return -E2BIG;
		err = map_grow_set_aside(l->bpffs_dir, sized_maps[i].map);
		if (err) {
			fprintf(stderr, "Failed to set %s aside to grow it: %d\n", path, err);
			return err;
		}
		l->grown_min[l->n_grown] = pinned;
		snprintf(l->grown[l->n_grown++], sizeof(l->grown[0]), "%s", sized_maps[i].map);
	}
	return err;
}

/* The size a set-aside map had, or 0. */
static unsigned int grown_min(const struct lb_loader *l, const char *map)
{
	int i;

	for (i = 0; i < l->n_grown; i++)
		if (!strcmp(l->grown[i], map))
			return l->grown_min[i];
	return 0;
}

/* Size the maps of obj: as pinned, else as asked. */
static int size_maps(struct lb_loader *l, struct bpf_object *obj)
{
	char path[PATH_MAX];
	unsigned int i, want, pinned;
	struct bpf_map *m;
	int err;

	for (i = 0; i < sizeof(sized_maps) / sizeof(sized_maps[0]); i++) {
		m = bpf_object__find_map_by_name(obj, sized_maps[i].map);
		if (!m)
			continue;
		err = lb_pin_path(path, sizeof(path), l->bpffs_dir, sized_maps[i].map);
		if (err)
			return err;
		want = row_want(i, &l->sizes, false);
		if (sized_maps[i].base == PER_CLUSTER_IF_HISTS && l->sizes.cluster_hists)
			want = cluster_slots_in_force(l);
		if (want < grown_min(l, sized_maps[i].map))
			want = grown_min(l, sized_maps[i].map);
		pinned = pinned_max_entries(path);
		err = bpf_map__set_max_entries(m, pinned ? pinned : want);
		if (err)
			return err;
	}
	return 0;
}

/* The sizes in force: those of the pinned maps when re-adopted. */
static void read_sizes(struct lb_loader *l)
{
	int fd = lb_loader_map_fd(l, BPFMESH_MAP_EP_HEALTH);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.max_endpoints = info.max_entries;
	fd = lb_loader_map_fd(l, BPFMESH_MAP_CLUSTER_CFG);
	len = sizeof(info);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.max_clusters = info.max_entries;
	fd = lb_loader_map_fd(l, BPFMESH_MAP_SVC_IDS);
	len = sizeof(info);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.max_services = info.max_entries;
	fd = lb_loader_map_fd(l, BPFMESH_MAP_EP_HISTS);
	len = sizeof(info);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
		l->sizes.hist_clusters = info.max_entries;
}

/* Every map libbpf would pin by name is pinned under its versioned name. */
static int set_pin_paths(const struct lb_loader *l, struct bpf_object *obj)
{
	char path[PATH_MAX];
	struct bpf_map *m;
	int err;

	bpf_object__for_each_map(m, obj) {
		if (!bpf_map__pin_path(m))
			continue; /* not pinned (.rodata, .bss) */
		err = lb_pin_path(path, sizeof(path), l->bpffs_dir, bpf_map__name(m));
		if (!err)
			err = bpf_map__set_pin_path(m, path);
		if (err)
			return err;
	}
	return 0;
}

/* Is name the pin name of a map of obj? */
static bool object_pins(struct bpf_object *obj, const char *name)
{
	char mine[NAME_MAX + 1];
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		if (!pin_name(mine, sizeof(mine), bpf_map__name(m)) && !strcmp(mine, name))
			return true;
	return false;
}

/* Is name (an entry of the bpffs dir) a map pin of this agent's layouts,
 * in any of its objects, loaded or not? */
static bool is_current_pin(const struct lb_loader *l, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_object *obj;
	bool found = !strcmp(name, LB_STAMP_PIN);
	int i;

	for (i = 0; i < __LB_OBJ_MAX && !found; i++) {
		const void *bytes;
		size_t sz;

		if (l->objs[i]) {
			found = object_pins(l->objs[i], name);
			continue;
		}
		bytes = lb_objects[i].elf_bytes(&sz);
		opts.object_name = lb_objects[i].name;
		obj = bpf_object__open_mem(bytes, sz, &opts);
		if (!obj)
			continue;
		found = object_pins(obj, name);
		bpf_object__close(obj);
	}
	return found;
}

/*
 * Migration. A map pin (bpfmesh_*) that is none of this agent's names is
 * of another layout version (or an unversioned pin of the previous
 * release): its content cannot be read safely, so this agent does not read
 * it. Its own maps are created fresh, the policy is applied into them, and
 * only then are the pinned links switched to its programs (which use the
 * new maps): until that moment the earlier programs keep deciding from the
 * old maps, so no connect sees an empty map. The old pins are removed last
 * (lb_loader_finish_migration); the old maps go with the old programs.
 */
static int find_stale_pins(struct lb_loader *l)
{
	DIR *d = opendir(l->bpffs_dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, LB_PIN_PREFIX, strlen(LB_PIN_PREFIX)) ||
		    is_current_pin(l, de->d_name))
			continue;
		if (l->n_stale == LB_MAX_STALE) {
			closedir(d);
			return -E2BIG;
		}
		snprintf(l->stale[l->n_stale++], NAME_MAX + 1, "%s", de->d_name);
	}
	closedir(d);
	return 0;
}

/* Does a cgroup row of object obj have a pinned link (an earlier agent's)? */
static bool object_has_pinned_link(const struct lb_loader *l, enum lb_obj obj)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < lb_n_programs; i++) {
		if (lb_programs[i].obj != obj || lb_programs[i].target != LB_TARGET_CGROUP)
			continue;
		if (!lb_pin_path(path, sizeof(path), l->bpffs_dir, lb_programs[i].pin) &&
		    access(path, F_OK) == 0)
			return true;
	}
	return false;
}

static bool object_wanted(const struct lb_loader *l, enum lb_obj obj)
{
	switch (lb_objects[obj].when) {
	case LB_LOAD_ALWAYS:
		return true;
	case LB_LOAD_NETDEV:
		return l->n_ifaces > 0;
	case LB_LOAD_SOCKMAP:
		return !l->sizes.no_sockmap || object_has_pinned_link(l, obj);
	case LB_LOAD_SOCK_DESTROY:
		return connpool_kernel_has_sock_destroy();
	}
	return true;
}

static double mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Which programs an instance of an object loads. */
enum load_part {
	LOAD_ALL,
	LOAD_MAPS_ONLY,  /* the maps, created or reused, and no program */
	LOAD_FIRST,      /* verified in parallel: the calling thread's half */
	LOAD_SECOND,     /* and the second thread's */
	LOAD_UNLINKED,   /* adopted unverified: only what no cgroup link runs */
};

static bool on_list(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

/* Does a pinned cgroup link of obj run the program called name? */
static bool cgroup_linked(enum lb_obj obj, const char *name)
{
	unsigned int i;

	for (i = 0; i < lb_n_programs; i++)
		if (lb_programs[i].obj == obj && lb_programs[i].target == LB_TARGET_CGROUP &&
		    !strcmp(lb_programs[i].prog, name))
			return true;
	return false;
}

static bool part_loads(enum lb_obj obj, enum load_part part, const char *name)
{
	switch (part) {
	case LOAD_ALL:
		return true;
	case LOAD_MAPS_ONLY:
		return false;
	case LOAD_FIRST:
		return !on_list(lb_objects[obj].second_thread, name);
	case LOAD_SECOND:
		return on_list(lb_objects[obj].second_thread, name);
	case LOAD_UNLINKED:
		return !cgroup_linked(obj, name);
	}
	return true;
}

/* Open object i with its maps pinned (reused when there) and sized, and
 * only the programs of part to load. */
static int open_object(struct lb_loader *l, enum lb_obj i, enum load_part part,
		       struct bpf_object **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = l->bpffs_dir,
		    .object_name = lb_objects[i].name);
	struct bpf_program *prog;
	struct bpf_object *obj;
	const void *bytes;
	size_t sz;
	int err;

	bytes = lb_objects[i].elf_bytes(&sz);
	obj = bpf_object__open_mem(bytes, sz, &opts);
	if (!obj) {
		err = -errno;
		fprintf(stderr, "Failed to open BPF object %s: %d\n", lb_objects[i].name, err);
		return err;
	}
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, part_loads(i, part, bpf_program__name(prog)));
	err = set_pin_paths(l, obj);
	if (!err)
		err = old_records_setup(obj, l->bpffs_dir);
	if (!err)
		err = size_maps(l, obj);
	if (err) {
		bpf_object__close(obj);
		return err;
	}
	*out = obj;
	return 0;
}

static int open_and_load(struct lb_loader *l, enum lb_obj i, enum load_part part,
			 struct bpf_object **out)
{
	int err = open_object(l, i, part, out);

	return err ? err : bpf_object__load(*out);
}

/* The link pin of a table row holds the program its stamp recorded, on our
 * cgroup. */
static bool link_as_stamped(const struct lb_loader *l, const struct lb_program *row,
			    const struct lb_stamp *s, __u64 cgroup_id)
{
	char path[PATH_MAX];
	__u64 cg;
	__u32 id, k;

	for (k = 0; k < s->n_links; k++) {
		if (strncmp(s->links[k].pin, row->pin, sizeof(s->links[k].pin)))
			continue;
		return !lb_pin_path(path, sizeof(path), l->bpffs_dir, row->pin) &&
		       !lb_stamp_link_prog(path, &id, &cg) && id == s->links[k].prog_id &&
		       cg == cgroup_id;
	}
	return false;
}

/* Do the pinned links of object i run what this agent would load? Its
 * stamp names these very object bytes, and every cgroup link of the object
 * still runs the program the stamp recorded (an agent that switched a link
 * without stamping, e.g. an older release, makes the ids differ). The maps
 * are compared once they are open (adopt_unverified). */
static bool stamp_matches(const struct lb_loader *l, enum lb_obj i, struct lb_stamp *s)
{
	const void *bytes;
	size_t sz;
	struct stat st;
	unsigned int r, n = 0;

	/* BPFMESH_REPLACE_PROGRAMS=1 loads and switches even an equal program:
	 * the tests exercise the link update under load with it. */
	if (getenv("BPFMESH_REPLACE_PROGRAMS") || lb_stamp_read(l->bpffs_dir, i, s) ||
	    fstat(l->cgroup_fd, &st))
		return false;
	bytes = lb_objects[i].elf_bytes(&sz);
	if (strncmp(s->obj, lb_objects[i].name, sizeof(s->obj)) ||
	    s->elf_hash != lb_stamp_elf_hash(bytes, sz))
		return false;
	for (r = 0; r < lb_n_programs; r++) {
		if (lb_programs[r].obj != i || lb_programs[r].target != LB_TARGET_CGROUP)
			continue;
		if (!link_as_stamped(l, &lb_programs[r], s, st.st_ino))
			return false;
		n++;
	}
	return n > 0 && n == s->n_links;
}

/*
 * Adopt without verifying: when the stamp matches, the object is opened
 * with its cgroup-linked programs not loaded (what no link runs, a syscall
 * or iterator program the agent runs itself, is still loaded), its maps are
 * reused from their pins, and if they are the maps the stamp recorded the
 * links are kept as they are (attach_one). 1: adopted; 0: not, load as
 * usual; or a negative errno.
 */
static int adopt_unverified(struct lb_loader *l, enum lb_obj i)
{
	struct lb_stamp s;
	__u64 maps;
	int err;

	if (!stamp_matches(l, i, &s))
		return 0;
	err = open_and_load(l, i, LOAD_UNLINKED, &l->objs[i]);
	if (!err)
		err = lb_stamp_maps_hash(l->objs[i], &maps);
	if (!err && maps == s.maps_hash) {
		l->unverified[i] = true;
		return 1;
	}
	bpf_object__close(l->objs[i]);
	l->objs[i] = NULL;
	return err;
}

static void close_object(struct lb_loader *l, enum lb_obj i)
{
	int k;

	for (k = 0; k < LB_LOAD_PARTS; k++) {
		bpf_object__close(l->parts[i][k]);
		l->parts[i][k] = NULL;
	}
	bpf_object__close(l->objs[i]);
	l->objs[i] = NULL;
	l->unverified[i] = false;
}

struct part_load {
	struct bpf_object *obj;
	int err;
};

static void *load_part(void *arg)
{
	struct part_load *p = arg;

	p->err = bpf_object__load(p->obj);
	return NULL;
}

/* Is every map of obj shared between instances (pinned), or read-only
 * data? A writable private map (.bss, .data, an unpinned map) would be one
 * per instance, and programs loaded apart would not see each other's. A
 * map not created (old_records.c) is neither. */
static bool maps_shared(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		if (bpf_map__autocreate(m) && !bpf_map__pin_path(m) &&
		    !strstr(bpf_map__name(m), ".rodata") &&
		    !strstr(bpf_map__name(m), ".kconfig"))
			return false;
	return true;
}

/* Verified in parallel (sock_addr_second_thread): the maps first, then the
 * two halves of the programs at once. */
static int load_in_parallel(struct lb_loader *l, enum lb_obj i)
{
	struct part_load second = {};
	double t0 = mono_ms();
	pthread_t t;
	int err;

	err = open_object(l, i, LOAD_MAPS_ONLY, &l->objs[i]);
	if (!err && !maps_shared(l->objs[i])) {
		fprintf(stderr, "%s has private writable maps: verified on one thread\n",
			lb_objects[i].name);
		close_object(l, i);
		return open_and_load(l, i, LOAD_ALL, &l->objs[i]);
	}
	if (!err)
		err = bpf_object__load(l->objs[i]);
	l->maps_ms[i] = mono_ms() - t0;
	if (!err)
		err = open_object(l, i, LOAD_FIRST, &l->parts[i][0]);
	if (!err)
		err = open_object(l, i, LOAD_SECOND, &l->parts[i][1]);
	if (err)
		return err;
	second.obj = l->parts[i][1];
	if (pthread_create(&t, NULL, load_part, &second)) {
		second.err = bpf_object__load(second.obj); /* one after the other */
		return bpf_object__load(l->parts[i][0]) ?: second.err;
	}
	err = bpf_object__load(l->parts[i][0]);
	pthread_join(t, NULL);
	return err ?: second.err;
}

static int load_object(struct lb_loader *l, enum lb_obj i)
{
	int err = adopt_unverified(l, i);

	if (err)
		return err < 0 ? err : 0;
	if (lb_objects[i].second_thread)
		return load_in_parallel(l, i);
	return open_and_load(l, i, LOAD_ALL, &l->objs[i]);
}

/* Open and load every object wanted; maps pinned by name are shared between
 * them and with an earlier agent through pin_root_path. */
static int load_objects(struct lb_loader *l)
{
	int i, err;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		double t0 = mono_ms();

		if (!object_wanted(l, i))
			continue;
		err = load_object(l, i);
		l->load_ms[i] = mono_ms() - t0;
		if (err && lb_objects[i].when == LB_LOAD_SOCK_DESTROY) {
			fprintf(stderr, "Failed to load BPF programs of %s: %d (%s); going on "
				"without it\n", lb_objects[i].name, err, strerror(-err));
			close_object(l, i);
			continue;
		}
		if (err) {
			fprintf(stderr, "Failed to load BPF programs of %s: %d (%s)\n",
				lb_objects[i].name, err, strerror(-err));
			return err;
		}
	}
	read_sizes(l);
	return 0;
}

/* "IF[,IF...]" into names and indexes. */
static int parse_interfaces(struct lb_loader *l, const char *list)
{
	const char *p = list;
	int got = 0;

	while (l->n_ifaces < LB_MAX_IFACES &&
	       (got = tc_iface_next(&p, l->ifname[l->n_ifaces])) > 0) {
		l->ifindex[l->n_ifaces] = (int)if_nametoindex(l->ifname[l->n_ifaces]);
		if (!l->ifindex[l->n_ifaces]) {
			fprintf(stderr, "--interfaces: no interface '%s' in this network "
				"namespace\n", l->ifname[l->n_ifaces]);
			return -ENODEV;
		}
		l->n_ifaces++;
	}
	if (got < 0 || (p && *p)) {
		fprintf(stderr, "--interfaces: bad or too many names in '%s' (at most %d, "
			"each below %d characters)\n", list, LB_MAX_IFACES, IF_NAMESIZE);
		return -EINVAL;
	}
	return 0;
}

/* tcx or clsact, asked of the kernel with the program to attach. */
static int choose_tc_mode(struct lb_loader *l)
{
	struct bpf_program *prog;
	int err;

	if (!l->objs[LB_OBJ_TC])
		return 0;
	prog = bpf_object__find_program_by_name(l->objs[LB_OBJ_TC], "bpfmesh_tc_ingress");
	if (!prog)
		return -ENOENT;
	err = tc_probe_mode(bpf_program__fd(prog), &l->tc_mode);
	if (err)
		fprintf(stderr, "Failed to attach TC programs: tcx links asked for, kernel "
			"has none (needs Linux 6.6+)\n");
	return err;
}

/* The node-wide acceleration switch, set before any program is attached
 * (and rewritten on every start: a restart may turn it on or off). */
static int write_sockmap_cfg(struct lb_loader *l, bool no_sockmap)
{
	struct sockmap_cfg cfg = { .disabled = no_sockmap };
	int fd = lb_loader_map_fd(l, BPFMESH_MAP_SOCKMAP_CFG);
	__u32 zero = 0;

	if (!l->objs[LB_OBJ_SOCKMAP])
		return 0; /* not loaded: nothing is accelerated */
	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) ? -errno : 0;
}

static bool dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	while (d && !found && (de = readdir(d)))
		found = de->d_name[0] != '.';
	if (d)
		closedir(d);
	return found;
}

/* Only root reads or writes the pins: the maps decide where every
 * connection of the node goes. */
static void restrict_pins(const struct lb_loader *l)
{
	DIR *d = opendir(l->bpffs_dir);
	struct dirent *de;

	chmod(l->bpffs_dir, LB_DIR_MODE);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			fchmodat(dirfd(d), de->d_name, LB_PIN_MODE, 0);
	closedir(d);
}

/* The stamp of object i as attached now: what each cgroup link runs. */
static int stamp_of(const struct lb_loader *l, enum lb_obj i, struct lb_stamp *s)
{
	const void *bytes;
	unsigned int r;
	size_t sz;
	int err;

	memset(s, 0, sizeof(*s));
	snprintf(s->obj, sizeof(s->obj), "%s", lb_objects[i].name);
	bytes = lb_objects[i].elf_bytes(&sz);
	s->elf_hash = lb_stamp_elf_hash(bytes, sz);
	err = lb_stamp_maps_hash(l->objs[i], &s->maps_hash);
	for (r = 0; !err && r < lb_n_programs; r++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct lb_stamp_link *sl = &s->links[s->n_links];

		if (lb_programs[r].obj != i || lb_programs[r].target != LB_TARGET_CGROUP ||
		    !l->links[r])
			continue;
		if (s->n_links == LB_STAMP_LINKS)
			return -E2BIG;
		if (bpf_obj_get_info_by_fd(bpf_link__fd(l->links[r]), &info, &len))
			return -errno;
		snprintf(sl->pin, sizeof(sl->pin), "%s", lb_programs[r].pin);
		sl->prog_id = info.prog_id;
		s->n_links++;
	}
	return err;
}

/* Record what the links run, for the next agent (stamp_matches). Not
 * fatal: without a stamp the next agent loads and compares as before. */
static void record_stamps(const struct lb_loader *l)
{
	struct lb_stamp s;
	int i, err;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		if (!l->objs[i])
			continue;
		err = stamp_of(l, i, &s);
		if (!err)
			err = lb_stamp_write(l->bpffs_dir, i, &s);
		if (err)
			fprintf(stderr, "Failed to record what the links of %s run (the next "
				"start verifies them again): %d (%s)\n", lb_objects[i].name, err,
				strerror(-err));
	}
}

/* Does the row place connections (choose an endpoint slot) rather than
 * count them? */
static bool row_places(const struct lb_program *row)
{
	return row->obj == LB_OBJ_SOCK_ADDR || row->obj == LB_OBJ_TC;
}

/* The counting programs (sockops) are attached or switched before the
 * placing ones (connect4, TC): when the links move to programs on grown
 * maps (kern/map_grow.h), a connection placed by the new connect4 on a slot
 * only the new maps have must never be counted by the old sockops, which
 * cannot (the slot is past its map's end: the connection's counts were
 * lost, 1 in 3,000 in 2 of 24 growths under load); the other way round, the
 * new sockops counts an old placement in the new maps, which hold every old
 * slot. */
static int attach_all(struct lb_loader *l)
{
	unsigned int i, pass;
	int err;

	for (pass = 0; pass < 2 * lb_n_programs; pass++) {
		i = pass % lb_n_programs;
		if (row_places(&lb_programs[i]) != (pass >= lb_n_programs))
			continue;
		err = attach_one(l, i);
		if (err == -EXDEV) {
			fprintf(stderr, "Failed to attach: %s holds links of an agent attached to "
				"another cgroup\n", l->bpffs_dir);
			return err;
		}
		if (err) {
			fprintf(stderr, "Failed to attach %s: %d (%s)\n", lb_programs[i].pin, err,
				strerror(-err));
			return err;
		}
	}
	record_stamps(l);
	restrict_pins(l);
	return 0;
}

int lb_loader_switch_links(struct lb_loader *l)
{
	return attach_all(l);
}

void lb_loader_remove_stale(struct lb_loader *l)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < l->n_stale; i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", l->bpffs_dir, l->stale[i]) <
		    sizeof(path))
			unlink(path);
}

int lb_loader_finish_migration(struct lb_loader *l)
{
	int err = lb_loader_switch_links(l);

	if (!err)
		lb_loader_remove_stale(l);
	return err;
}

int lb_loader_open(struct lb_loader *l, const char *bpffs_dir, const char *cgroup_dir,
		   const char *interfaces, const struct lb_sizes *sizes)
{
	double t0;
	int err;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->sizes.max_endpoints = sizes && sizes->max_endpoints ? sizes->max_endpoints
							       : BPFMESH_MAX_EP_SLOTS;
	l->sizes.max_clusters = sizes && sizes->max_clusters ? sizes->max_clusters
							     : BPFMESH_MAX_CLUSTERS;
	l->sizes.max_services = sizes && sizes->max_services ? sizes->max_services
							     : BPFMESH_DEFAULT_SERVICES;
	if ((size_t)snprintf(l->bpffs_dir, sizeof(l->bpffs_dir), "%s", bpffs_dir) >=
	    sizeof(l->bpffs_dir))
		return -ENAMETOOLONG;
	l->sizes.no_sockmap = sizes && sizes->no_sockmap;
	l->sizes.cluster_hists = sizes && sizes->cluster_hists;
	err = parse_interfaces(l, interfaces);
	if (err)
		return err;

	err = bpffs_prepare_dir(l->bpffs_dir, &l->created_dir);
	if (err) {
		fprintf(stderr, "Failed to prepare bpffs directory %s: %s\n", bpffs_dir,
			strerror(-err));
		return err;
	}
	/* Pins already there are an earlier agent's: whatever fails from here,
	 * they stay in force. */
	l->adopted = !l->created_dir && dir_has_entries(l->bpffs_dir);
	l->cgroup_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY);
	if (l->cgroup_fd < 0) {
		err = -errno;
		fprintf(stderr, "Failed to open cgroup %s: %s\n", cgroup_dir, strerror(errno));
		goto cleanup;
	}
	err = set_aside_outgrown(l, sizes);
	if (!err)
		err = load_objects(l);
	if (!err)
		err = choose_tc_mode(l);
	if (!err)
		err = write_sockmap_cfg(l, sizes && sizes->no_sockmap);
	if (!err)
		err = find_stale_pins(l);
	if (err)
		goto cleanup;
	if (l->n_stale) {
		/* Migrating: attach once the new maps hold the policy. */
		l->adopted = true;
		return 0;
	}
	t0 = mono_ms();
	err = attach_all(l);
	l->attach_ms = mono_ms() - t0;
	if (err)
		goto cleanup;
	return 0;

cleanup:
	if (l->adopted)
		lb_loader_close(l); /* never tear down what an earlier agent left running */
	else
		lb_loader_detach(l);
	return err;
}

void lb_loader_close(struct lb_loader *l)
{
	unsigned int i;
	int j;

	for (i = 0; i < lb_n_programs; i++) {
		bpf_link__destroy(l->links[i]); /* pinned links stay attached */
		l->links[i] = NULL;
		for (j = 0; j < l->n_ifaces; j++)
			tc_close(&l->tc[i][j]); /* so do tcx pins and clsact filters */
	}
	for (i = 0; i < __LB_OBJ_MAX; i++)
		close_object(l, i);
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
}

/* Every pin of obj. Objects share maps by pin name, so one may already be
 * gone (bpf_object__unpin_maps stops at the first such map). */
static void unpin_maps(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		if (bpf_map__pin_path(m))
			bpf_map__unpin(m, NULL);
}

static void detach_from_map(struct lb_loader *l, const struct lb_program *row)
{
	struct bpf_program *prog;
	int map_fd;

	if (row->target != LB_TARGET_SOCKHASH || !l->objs[row->obj] || row_program(l, row, &prog))
		return;
	map_fd = lb_loader_map_fd(l, row->pin);
	if (map_fd >= 0)
		bpf_prog_detach2(bpf_program__fd(prog), map_fd, row->attach_type);
}

void lb_loader_detach(struct lb_loader *l)
{
	unsigned int i;
	int j;

	for (i = 0; i < lb_n_programs; i++) {
		if (l->links[i]) {
			bpf_link__unpin(l->links[i]);
			bpf_link__detach(l->links[i]);
		}
		for (j = 0; j < l->n_ifaces; j++)
			tc_detach(&l->tc[i][j]);
		detach_from_map(l, &lb_programs[i]);
	}
	for (i = 0; i < __LB_OBJ_MAX; i++)
		if (l->objs[i])
			unpin_maps(l->objs[i]);
	if (l->bpffs_dir[0])
		lb_stamp_remove(l->bpffs_dir);
	lb_loader_close(l);
	if (l->bpffs_dir[0])
		rmdir(l->bpffs_dir); /* fails, harmlessly, if someone else's pins remain */
}

void lb_loader_startup_text(const struct lb_loader *l, char *buf, size_t len)
{
	size_t at = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < __LB_OBJ_MAX; i++) {
		if (!l->objs[i] || at >= len)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s%s %.0f ms", at ? ", " : "",
				       lb_objects[i].name, l->load_ms[i]);
		if (at < len && l->unverified[i])
			at += (size_t)snprintf(buf + at, len - at, " (adopted, not verified)");
		else if (at < len && l->parts[i][0])
			at += (size_t)snprintf(buf + at, len - at,
					       " (maps %.0f ms, then verified on 2 threads)",
					       l->maps_ms[i]);
	}
	if (at < len)
		snprintf(buf + at, len - at, "; attached in %.0f ms", l->attach_ms);
}

struct bpf_program *lb_loader_program(const struct lb_loader *l, const char *prog)
{
	int i;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		struct bpf_program *p = l->objs[i] ? object_program(l, i, prog) : NULL;

		if (p)
			return p;
	}
	return NULL;
}

int lb_loader_map_fd(const struct lb_loader *l, const char *map_name)
{
	int i;

	for (i = 0; i < __LB_OBJ_MAX; i++) {
		struct bpf_map *m = l->objs[i] ?
			bpf_object__find_map_by_name(l->objs[i], map_name) : NULL;

		if (m)
			return bpf_map__fd(m);
	}
	return -ENOENT;
}

int lb_pin_open(const char *bpffs_dir, const char *map_name)
{
	char path[PATH_MAX];
	int fd;

	if (lb_pin_path(path, sizeof(path), bpffs_dir, map_name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}
