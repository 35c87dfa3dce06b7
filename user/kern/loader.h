/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_LOADER_H
#define BPFMESH_LOADER_H
/*
 * Loads the BPF objects (one per hook family, bpf/<family>.bpf.c), pins
 * their maps and links under a bpffs directory and attaches every program
 * of the table in loader.c to its target. A directory that already holds
 * pins from an earlier agent is re-adopted: the maps are reused as they are
 * and the pinned links are switched to the new programs in place, so no
 * connect() ever runs without a program. When the links already run this
 * agent's own programs (kern/load_stamp.h), they are not even loaded: the
 * links are kept and the verifier does not run.
 *
 * Adding a hook is one row of lb_programs[] (and one of lb_objects[] for a
 * new bpf/<family>.bpf.c).
 *
 * A netdev row is attached once per interface of --interfaces (none: not
 * attached), by tcx link or clsact filter as the kernel allows
 * (kern/tc_attach.h); its pin name gets the interface's name appended.
 */
#include <limits.h>
#include <stdbool.h>
#include <net/if.h>
#include "tc_attach.h"

struct bpf_object;
struct bpf_link;

/* The BPF objects, one per bpf/<family>.bpf.c. */
enum lb_obj {
	LB_OBJ_SOCK_ADDR,
	LB_OBJ_TC,
	LB_OBJ_SOCKOPS,
	LB_OBJ_SOCKMAP,
	LB_OBJ_CONN_SWEEP, /* only where the kernel has bpf_sock_destroy */
	__LB_OBJ_MAX,
};

/* Where a program attaches. */
enum lb_target {
	LB_TARGET_CGROUP,         /* the agent's --cgroup */
	LB_TARGET_NETDEV_INGRESS, /* ingress of each of the agent's --interfaces */
	LB_TARGET_NETDEV_EGRESS,  /* egress of each of them */
	LB_TARGET_NONE,           /* loaded, not attached: run by the agent (test_run,
				   * or an iterator it creates) */
	LB_TARGET_SOCKHASH,       /* the pinned SOCKHASH named by pin (no link on 6.1) */
};

/* One row of the program table. */
struct lb_program {
	enum lb_obj obj;
	const char *prog;    /* function name in the object */
	int attach_type;     /* enum bpf_attach_type the section must give (cgroup rows) */
	enum lb_target target;
	const char *pin;     /* name of the pinned link under the bpffs dir; for
			      * LB_TARGET_SOCKHASH the map the program lives in */
};

extern const struct lb_program lb_programs[];
extern const unsigned int lb_n_programs;

#define LB_MAX_PROGRAMS 24
#define LB_MAX_IFACES 16
#define LB_LOAD_PARTS 2 /* instances of an object verified in parallel */

/* Sizes of the health arrays for maps this agent creates (a pinned map is
 * re-adopted at the size it was created with). 0: the compiled default. */
struct lb_sizes {
	unsigned int max_endpoints; /* endpoint slots, slot 0 reserved */
	unsigned int max_clusters;  /* cluster slots, slot 0 reserved */
	unsigned int max_services;  /* entries of the services map (--max-services) */
	bool cluster_hists;         /* --cluster-histograms: one per cluster slot */
	unsigned int hist_clusters; /* read back: entries of the histograms map */
	bool no_sockmap;            /* agent --no-sockmap: written before attaching */
};

/* Map pins start with this; link pins do not. */
#define LB_PIN_PREFIX "bpfmesh_"
/* The bpffs directory and every pin in it: root only. */
#define LB_DIR_MODE 0700
#define LB_PIN_MODE 0600
#define LB_MAX_STALE 64
#define LB_MAX_GROWN 24 /* sized maps (loader.c, sized_maps) */

struct lb_loader {
	struct lb_sizes sizes; /* what the maps in use hold, once open */
	struct bpf_object *objs[__LB_OBJ_MAX];
	struct bpf_link *links[LB_MAX_PROGRAMS]; /* indexed like lb_programs */
	/* netdev rows: [row][interface] */
	struct tc_attachment tc[LB_MAX_PROGRAMS][LB_MAX_IFACES];
	int n_ifaces;
	int ifindex[LB_MAX_IFACES];
	char ifname[LB_MAX_IFACES][IF_NAMESIZE];
	enum tc_mode tc_mode;
	int cgroup_fd;
	bool created_dir;
	bool adopted; /* pins from an earlier agent were found and reused */
	/* Programs verified on a second thread: another instance of the
	 * object, sharing its maps by pin (loader.c, "verified in parallel"). */
	struct bpf_object *parts[__LB_OBJ_MAX][LB_LOAD_PARTS];
	/* Objects whose linked programs were adopted from the pinned links
	 * without loading them: the stamp said they are this agent's own
	 * (load_stamp.h). */
	bool unverified[__LB_OBJ_MAX];
	/* Pinned links found running another program (replaced by a link
	 * update) or the same one (left alone): see link_runs_same_program().
	 * progs_adopted of the kept ones were not even loaded (unverified). */
	unsigned int progs_replaced, progs_kept, progs_adopted;
	/* Map pins of another layout version (or unversioned, from the previous
	 * release): nothing is attached until lb_loader_finish_migration(). */
	int n_stale;
	char stale[LB_MAX_STALE][NAME_MAX + 1];
	/* Of those, pins set aside to grow (user/kern/map_grow.h): a size
	 * option asked for more than the pinned map holds. By map name. */
	int n_grown;
	char grown[LB_MAX_GROWN][64];
	unsigned int grown_min[LB_MAX_GROWN]; /* their size then: none shrinks */
	/* Start-up time (the agent logs it): each object's load (its maps
	 * created or reused, its programs verified), and the attach. */
	double load_ms[__LB_OBJ_MAX], attach_ms;
	double maps_ms[__LB_OBJ_MAX]; /* of load_ms, the maps (verified in parallel) */
	char bpffs_dir[PATH_MAX];
};

/* 0 or negative errno; on failure everything made so far is undone.
 * interfaces: "IF[,IF...]" for the netdev rows, or NULL; sizes may be NULL
 * (defaults). */
int lb_loader_open(struct lb_loader *l, const char *bpffs_dir, const char *cgroup_dir,
		   const char *interfaces, const struct lb_sizes *sizes);

/* After lb_loader_open found pins of another layout (n_stale > 0) and the
 * policy was applied into the new maps: switch the pinned links to this
 * agent's programs (or attach them) and remove the old pins. 0 or negative
 * errno. */
int lb_loader_finish_migration(struct lb_loader *l);
/* Its two steps, for an agent that carries state between them (the
 * endpoint counters, kern/counters_migrate.h): the links, then the pins. */
int lb_loader_switch_links(struct lb_loader *l);
void lb_loader_remove_stale(struct lb_loader *l);

/* The loaded program of a table row by function name, or NULL. */
/* "sock_addr 812 ms, sockops 25 ms; attached in 3 ms": where the start went. */
void lb_loader_startup_text(const struct lb_loader *l, char *buf, size_t len);
struct bpf_program *lb_loader_program(const struct lb_loader *l, const char *prog);

/* Detach the programs and remove every pin and the directory (clean stop). */
void lb_loader_detach(struct lb_loader *l);

/* Release this process's handles only; pins keep programs attached. */
void lb_loader_close(struct lb_loader *l);

/* fd of a map by name (BPFMESH_MAP_*), whichever object defines it; or -ENOENT. */
int lb_loader_map_fd(const struct lb_loader *l, const char *map_name);

/* Path of a pinned object (map or link) of an agent using bpffs_dir; a map
 * (bpfmesh_*) gets its layout version, e.g. bpfmesh_lb4_svc_ids_v1. */
int lb_pin_path(char *buf, size_t len, const char *bpffs_dir, const char *map_name);
/* An fd of the map pinned as map_name under bpffs_dir, or a negative errno. */
int lb_pin_open(const char *bpffs_dir, const char *map_name);

#endif /* BPFMESH_LOADER_H */
