/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_APPLY_H
#define BPFMESH_APPLY_H
/*
 * Writes compiled images into the kernel maps, one policy version at a time:
 * plan.c decides what to write (pure), exec.c writes it with rollback,
 * this file keeps the state between applies and adopts an earlier agent's.
 *
 * Why a connection never sees half of one version and half of another: the
 * kernel resolves a connect() from one route and the backend sets it names
 * (lb_abi.h "Atomic switch"). Routes and sets are immutable: a changed
 * route is written whole under a fresh route id, a changed set under a
 * fresh set id, before the service's head is switched to it by one 32-bit
 * store. What no head names any more is retired and deleted (or reused)
 * only after a grace period that the applier waits for in the kernel
 * (map_ops.wait_readers): every program that could have read it has
 * finished then. Sets also wait APPLY_GRACE_MS first, so that an endpoint
 * slot and its counters are not reassigned at once. A failed write rolls
 * back what this apply changed, so a policy that cannot be written leaves
 * the previous one in force.
 *
 * Only what changed is written: a weight change is one route insert and
 * one published word.
 */
#include <stdbool.h>
#include <stddef.h>
#include "capacity.h"
#include "kern/lb_read.h"
#include "kern/map_ops.h"
#include "plan.h"
#include "state.h"

#define APPLY_GRACE_MS 1000

/* The maps an applier writes, and what it believes they hold. */
struct applier {
	const struct map_ops *ops;
	int fds[__APPLY_MAP_MAX];
	struct apply_state state;
	__u32 *ejected;   /* endpoint slots ejected now, sorted (applier_set_ejected) */
	size_t n_ejected;
	bool ejected_changed; /* since the last apply: no incremental plan */
	__u64 caller_fp;      /* caller as the last apply saw it (0: none yet) */
	/* Elements may have been freed while programs read them (an earlier
	 * agent's work, a rolled-back apply): wait for readers before the next
	 * insert. */
	bool wait_pending;
	struct apply_limits limits; /* the maps' sizes, checked before each plan */
	struct loc_caller caller; /* this node (agent --locality, --node-labels) */
	/* The loader created every map just now (nothing was pinned): all
	 * slots are zero, so applier_adopt_slots reads none (a lookup each
	 * took 0.25 s at 200,000 endpoint slots). */
	bool maps_fresh;
	/* Entries of the histograms map (apply_slots.hist_clusters; 0: every
	 * cluster slot), read by applier_adopt_slots. */
	__u32 hist_clusters;
	unsigned long sweeps; /* waits for readers done by applier_sweep (sweep tickets) */
};

struct apply_stats {
	struct apply_counts counts; /* what was written, see plan.h */
	double elapsed_ms;
	double plan_ms; /* of elapsed_ms, deciding what to write (the rest writes it) */
	bool incremental;     /* only the changed services were planned (plan_incr.c) */
	const char *full_why; /* an incremental image planned in full: why */
};

/* Read what the maps already hold (left by an earlier agent) so that the
 * next apply writes only differences: services through svc (lb_read.h),
 * routes no head names are retired. ops is &kern_map_ops outside tests.
 * 0 or negative errno. */
int applier_adopt(struct applier *a, const struct map_ops *ops, const struct svc_maps *svc,
		  int be_fd, int names_fd);

/* Recover the slot owners from the health maps (after applier_adopt):
 * fds indexed by enum apply_map (the health ones), the maps' max_entries and
 * the possible CPUs. Slots named by the adopted sets are live, other
 * assigned ones retired now; ejected ones are noted. max_endpoints 0 turns
 * slot assignment off. 0 or negative errno. */
int applier_adopt_slots(struct applier *a, const int fds[__APPLY_MAP_MAX], __u32 max_endpoints,
			__u32 max_clusters, int ncpu);

/* Note an endpoint slot ejected (or back in service) for the next apply,
 * which leaves ejected endpoints out of their sets. 0 or -ENOMEM. */
int applier_set_ejected(struct applier *a, __u32 slot, bool ejected);

/* Write img as generation state.generation + 1 (unchanged when nothing
 * differs): plan, then exec. 0, or negative errno with the maps and the
 * state exactly as before. */
int applier_apply(struct applier *a, const struct bpfmesh_image *img, struct apply_stats *st);

/* Wait for readers once if anything waits for a grace period: then delete
 * the retired routes, free the retired service indexes, and delete retired
 * sets older than APPLY_GRACE_MS (all of them if force). What the kernel
 * fails to delete (or a failed wait) stays retired, to be tried again.
 * 0, or the wait's negative errno. */
int applier_sweep(struct applier *a, bool force);

/* A sweep whose wait for readers runs elsewhere (a thread: agent.c), so
 * that the loop handling events never blocks for the grace period (3-14
 * ms). What was retired when the ticket was taken is deleted at its
 * finish; what is retired after that waits for the next ticket, as its
 * readers may have started after the wait did. */
struct sweep_ticket {
	__u64 now_ms;        /* when taken: the sets due then */
	unsigned long sweeps; /* applier.sweeps then: another sweep since makes it stale */
	size_t n_routes;      /* the first n_routes retired routes */
	size_t n_indexes;     /* the first n_indexes retired service indexes */
};

/* Take a ticket for what is retired now: true when there is something to
 * delete after a wait. False also when elements an earlier agent or a
 * rollback freed wait (wait_pending): applier_sweep waits for those. */
bool applier_sweep_begin(struct applier *a, struct sweep_ticket *t);

/* After a wait for readers that began after applier_sweep_begin(t)
 * returned: delete what t covers (the plans only append to the retired
 * lists). Nothing when another sweep ran since (it covered t). */
void applier_sweep_finish(struct applier *a, const struct sweep_ticket *t);

/* True when the next apply must wait for readers before its first insert
 * (elements were freed since the last wait); applier_apply then sweeps
 * first. Otherwise what is retired can wait for an idle moment. */
bool applier_must_wait(const struct applier *a);

void applier_free(struct applier *a);

#endif /* BPFMESH_APPLY_H */
