/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_H
#define BPFMESH_AGENT_H
/*
 * The node agent: agent.c runs the main loop over a table of event sources
 * (signals, the policy watch; a ring buffer or a metrics listener become
 * one agent_add_source() each), watch.c watches the policy directory,
 * reconcile.c compiles and applies.
 */
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <linux/types.h>
#include "apply/apply.h"
#include "apply/wait_thread.h"
#include "kern/health_read.h"
#include "kern/loader.h"
#include "kern/node_read.h"
#include "kern/probe.h"
#include "policy/hmap.h"
#include "policy/isolate.h"
#include "debounce.h"
#include "policy/image.h"

#define AGENT_MAX_SOURCES 8
/* The main loop wakes at least this often (its poll timeout). */
#define AGENT_TICK_MS 250

struct agent;
struct ring_buffer;
struct mx_server;
struct scrape;

/* An fd the main loop polls for input; on_ready runs when it has some.
 * A negative return ends the loop with that error; 1 ends it cleanly. */
struct agent_source {
	int fd;
	const char *name;
	int (*on_ready)(struct agent *ag, int fd);
};

/* Diagnostics logged by the last reload: a warning already reported is not
 * repeated at every re-apply (errors are: they say why nothing applied).
 * text holds the lines; lines is a set of them, keys pointing into text. */
struct agent_reported {
	char *text;
	struct hmap lines;
};

/* The connection sweep (conn_sweep.c): maxConnectionDuration, idleTimeout. */
struct netns_set;
struct agent_conn_sweep {
	struct bpf_link *link; /* the iter/tcp program's; NULL: not enforced here */
	int home_ns;           /* the agent's network namespace */
	struct netns_set *netns; /* the managed processes' other namespaces */
	__u64 netns_at_ms;     /* last listing of them */
	unsigned int hz;       /* the kernel's CONFIG_HZ; 0: idleTimeout not enforced */
	__u64 last_ms;         /* start of the last run (CLOCK_MONOTONIC) */
	__u64 runs;
	__u64 last_run_ns;     /* how long the last walk took */
	int last_err;          /* logged once until it changes */
};

/* This node for locality-aware routing (node.c). */
struct agent_node {
	struct loc_caller caller; /* labels point into labels_str */
	struct loc_label *labels;
	char *labels_str;
	bool locality_cli, labels_cli; /* given on the command line: the Node's do not apply */
	char *locality_str;            /* the Node's locality, owned */
	char *cluster_labels;          /* the Node's labels as last taken ("k=v,..."), owned */
};

struct agent {
	const char *policies;
	const char *bpffs;
	const char *interfaces; /* --interfaces: TC ingress on these, or NULL */
	char cgroup[PATH_MAX];
	bool strict;
	bool allow_insecure_policy_dir; /* --allow-insecure-policy-dir */
	struct lb_sizes sizes; /* --max-endpoints, --max-clusters */
	struct lb_loader loader;
	struct applier applier;
	struct wait_thread sweep_wait;   /* the sweep's wait for readers, off the loop */
	struct sweep_ticket sweep_ticket; /* what it deletes once that wait returns */
	bool prewarm_pending;            /* pages for the next changes' copies (prewarm.c) */
	size_t prewarm_done;             /* bytes of them touched so far */
	struct agent_source sources[AGENT_MAX_SOURCES];
	int n_sources;
	struct agent_reported reported;
	struct policy_store store;     /* last good version of each resource (isolate.h) */
	struct policy_report report;   /* the last compile's outcome, per resource */
	bool have_report;
	struct agent_reported rejections; /* rejections logged: each once per change */
	const char *state_dir;         /* --state-dir: the status file (status.c) */
	int status_err;                /* the last failure to write it, logged once */
	bool status_dirty;             /* an apply awaits its status file (status.c) */
	long long status_dirty_ms;     /* since when (monotonic) */
	unsigned long status_seq;      /* agent_status_changed calls */
	FILE *status_file;             /* written in parts: the temporary file, or NULL */
	unsigned long status_file_seq; /* status_seq when it began (stale if not now) */
	size_t status_row;             /* the next of its resource rows */
	char status_final[PATH_MAX];   /* its name once whole */
	char status_tmp[PATH_MAX + 16];
	struct probe_result features;  /* for the status file, probed once */
	bool features_probed;
	bool prepare_pending;          /* the next reload's index to build at idle (idle.c) */
	long long applied_at_ms;       /* wall clock of the last apply, 0: none */
	struct bpfmesh_image img;   /* the version in force, re-applied on ejections */
	bool have_img;
	struct ring_buffer *events; /* health events (health.c) */
	int sweep_fd;               /* the sweep program, -1 if absent */
	__u64 last_sweep_ms;
	__u32 sweep_next_slot;      /* a sweep stopped for an event resumes here; 0: none */
	bool sets_stale;            /* an ejection or return awaits its set rewrite */
	const char *metrics_addr;   /* --metrics ADDR:PORT, NULL: off */
	struct mx_server *metrics;  /* metrics.c */
	struct health_maps metrics_maps; /* read by each scrape */
	bool metrics_maps_open;
	struct node_maps metrics_node;   /* verdicts and sockmap counters */
	bool metrics_node_open;
	struct scrape *metrics_scrape;   /* the scrape being served */
	__u64 overflow_logged_ms;   /* last "maxEjectionPercent reached" line */
	__u32 overflow_cluster;     /* its cluster slot */
	__u64 overflow_unlogged;    /* refused ejections since */
	struct agent_k8s *k8s; /* NULL without --kubeconfig/--in-cluster */
	struct agent_node node; /* --locality, --node-labels */
	struct agent_conn_sweep conn_sweep;
	struct ep_locality *loc_cache; /* what locality.c wrote, per endpoint slot */
	unsigned char *loc_present;
	__u32 loc_n;
};

/* prewarm.c: the pages the next changes' copies of the image take, after
 * a full compile: _later has the idle loop touch them in slices
 * (agent_prewarm_slice: true while some are left). */
void agent_prewarm_later(struct agent *ag);
bool agent_prewarm_slice(struct agent *ag);

/* 0, or -ENOSPC when the table is full. */
int agent_add_source(struct agent *ag, int fd, const char *name,
		     int (*on_ready)(struct agent *ag, int fd));

/* A timestamped line on stderr: "12:00:00.123 bpfmesh: ...". Everything the
 * agent writes once running goes through it, so the log has one format. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* identity.c: the image's workload identities into the kernel's map. */
int agent_sync_identities(struct agent *ag, const struct bpfmesh_image *img);
/* ... and, before the image is applied, their stable ids (identity_ids.h). */
int agent_identity_ids_assign(struct agent *ag, struct bpfmesh_image *img);

/* Log each line of text (a printer's output) with agent_log, without a
 * leading "bpfmesh: " the printer may have put there. */
void agent_log_lines(const char *text);

/* Free what agent_reload keeps between reloads. */
void agent_reported_free(struct agent_reported *r);
/* ... and the per-resource state (store, report, status file). */
void agent_policy_free(struct agent *ag);

/* idle.c: work between events, in slices that stop when one comes. An
 * apply calls agent_idle_changed; the loop waits at most
 * agent_idle_poll_ms(ag, its own timeout) and then calls agent_idle_run
 * (idle: the wait timed out, no event came). */
#define AGENT_IDLE_MS 5
void agent_idle_changed(struct agent *ag);
int agent_idle_poll_ms(const struct agent *ag, int idle_ms);
void agent_idle_run(struct agent *ag, bool idle);
/* An event waits on one of the agent's sources. */
bool agent_events_pending(const struct agent *ag);

/* status.c: write the status file `bpfmesh status` reads, atomically
 * (0600, in the state directory, 0700). 0 or negative errno. */
int agent_status_write(struct agent *ag);
/* Remove it (the agent stops). */
void agent_status_remove(struct agent *ag);
/* After an apply: the file is due, written once the agent is idle
 * (agent_status_flush), off the path of the next change. */
void agent_status_changed(struct agent *ag);
/* The event loop's poll timeout: short while the file is due. */
int agent_status_poll_ms(const struct agent *ag, int idle_ms);
/* Write the file if due and the loop was idle (poll timed out), stopping
 * when an event waits, to go on from there at the next idle (or start
 * over if a reload came); due for STATUS_MAX_DEFER_MS, a slice of it at
 * every turn of the loop. A failure is logged once. */
void agent_status_flush(struct agent *ag, bool idle);

/* Compile and apply the policy directory. Never loses the version in force. */
void agent_reload(struct agent *ag, const char *why);

/* 0 when the policy path (a directory and its .yaml and .yml files, or a
 * file) may be written only by its owner, root or this agent's user (or
 * sits on a read-only mount); else -EPERM with why naming the path and its
 * mode. */
int policy_perm_check(const char *policies, char *why, size_t len);

/* health.c: adopt the slots, poll the events ring buffer, run the sweep.
 * 0 or negative errno. */
int agent_health_start(struct agent *ag);
void agent_health_stop(struct agent *ag);
/* Between events: sweep each HEALTH_SWEEP_MS, rewrite sets after events. */
void agent_health_tick(struct agent *ag);

/* conn_sweep.c: attach the sweep where the kernel has it (else log once
 * that the two fields are not enforced here), run it when due, detach. */
int agent_conn_sweep_start(struct agent *ag);
void agent_conn_sweep_tick(struct agent *ag);
void agent_conn_sweep_stop(struct agent *ag);
/* One walk now (0 or negative errno), and the interval in force, in ms. */
int agent_conn_sweep_run(struct agent *ag);
__u64 agent_conn_sweep_interval_ms(const struct agent *ag);

/* metrics.c: bind --metrics (an error at start when it cannot) and serve
 * from the loop; open the pinned health maps once the loader pinned them.
 * Both 0 or negative errno; no-ops without --metrics. */
int agent_metrics_listen(struct agent *ag);
int agent_metrics_open_maps(struct agent *ag);
/* Serve what is due (libmicrohttpd timeouts); called from the loop. */
void agent_metrics_tick(struct agent *ag);
void agent_metrics_stop(struct agent *ag);

/* An inotify fd watching the policy directory (non-blocking), or -errno. */
int watch_open(const char *dir);

/* Drain queued events; true if any concerns a policy file (of dir) whose
 * content is complete: see watch.c. */
bool watch_drain(int fd, const char *dir);

/* node.c: --locality and --node-labels; 1 if argv[*i] was one of them, 0
 * if not, -1 on a bad value (reported). */
int agent_node_option(struct agent *ag, int argc, char **argv, int *i);
void agent_node_free(struct agent_node *n);
/* This node's Node object (Kubernetes): its topology locality and labels
 * where the command line gave none, into the applier's caller. NULL: the
 * Node has none (or is not known). Logs a change; 0 or -ENOMEM. */
int agent_node_from_cluster(struct agent *ag, const char *node, const char *locality,
			    const char *labels);

/* locality.c: after an apply, each endpoint's locality and priority into
 * the pinned map the CLI reads (errors logged, never fatal). */
struct ep_locality;
void agent_locality_publish(struct agent *ag);
void agent_locality_free(struct agent *ag);

/* ---- Kubernetes discovery (k8s.c) ---- */

struct k8s_watch;

/* The Kubernetes side of the agent: the watch thread's event fd wakes
 * the loop, a timer debounces, the reload renders what is held. */
struct agent_k8s {
	const char *kubeconfig; /* NULL: in-cluster */
	const char *node_name;
	unsigned int debounce_ms;
	unsigned int watch_timeout_s; /* 0: the watch's default */
	struct k8s_watch *watch;
	int timer_fd;
	bool timer_armed;
	struct reload_debounce debounce; /* when the next reload may start (debounce.c) */
	bool rendered;        /* a reload rendered the objects: rendered_gen is set */
	uint64_t rendered_gen; /* the k8s_generation it rendered */
	bool outage_logged, synced_logged;
	unsigned int forbidden_logged; /* k8s_health.forbidden last logged */
	char *view_summary; /* last logged node view, to log changes only */
};

/* Parse the agent's Kubernetes options; true if argv[*i] was one of them. */
bool agent_k8s_option(struct agent *ag, struct agent_k8s *k, int argc, char **argv, int *i);
/* Start the watch and add its sources to the loop. 0 or -errno (logged). */
int agent_k8s_start(struct agent *ag);
void agent_k8s_stop(struct agent *ag);
/* The documents to compile beside the files; false while the first list of
 * every kind is not in (nothing may be applied yet: it would drop what the
 * kernel holds from the cluster). */
struct k8s_docs;
bool agent_k8s_documents(struct agent *ag, struct k8s_docs *docs);

#endif /* BPFMESH_AGENT_H */
