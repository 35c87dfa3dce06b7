// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh agent: load and attach the programs, compile the policy directory,
 * apply it, and re-apply whenever the directory changes or on SIGHUP.
 *
 * A policy with errors is logged and never applied: the last good version
 * stays in force. However the agent stops (SIGTERM and SIGINT included:
 * that is what a rolling update sends), the pinned links, programs and maps
 * keep the kernel deciding, and the next agent re-adopts them;
 * `bpfmesh uninstall` removes them.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "cli/cli.h"
#include "counters_upgrade.h"
#include "kern/probe.h"
#include "kern/sysfs.h"
#include "maps_grow.h"
#include "preread.h"
#include "status.h"

#define SWEEP_INTERVAL_MS AGENT_TICK_MS
/* Events that never pause for SWEEP_INTERVAL_MS defer the sweep no longer. */
#define SWEEP_MAX_DEFER_MS 1000

#define AGENT_STR_(x) #x
#define AGENT_STR(x) AGENT_STR_(x)

static const char agent_usage[] =
	"Usage: bpfmesh agent [--policies POLICY_DIR] [--cgroup CGROUP_DIR]\n"
	"                     [--bpffs BPFFS_DIR] [--strict] [-v]\n"
	"                     [--interfaces IF[,IF...]] [--metrics ADDR:PORT]\n"
	"                     [--max-endpoints N] [--max-clusters N] [--max-services N]\n"
	"                     [--cluster-histograms]\n"
	"                     [--sockmap] [--allow-insecure-policy-dir]\n"
	"                     [--kubeconfig PATH | --in-cluster] [--node NAME]\n"
	"                     [--state-dir DIR]\n"
	"                     [--locality REGION/ZONE/SUBZONE]\n"
	"                     [--node-labels K=V[,K=V...]]\n"
	"\n"
	"Runs in the foreground: loads the connect-time load balancer, attaches it to\n"
	"CGROUP_DIR (default: the cgroup2 mount root, from /proc/mounts), pins its maps\n"
	"and links under BPFFS_DIR (default " DEFAULT_BPFFS_DIR "), applies the\n"
	"policies in POLICY_DIR (*.yaml, *.yml) and re-applies them when that directory\n"
	"changes or on SIGHUP. A resource with errors is logged and rejected alone:\n"
	"its last good version stays in force, every other resource applies.\n"
	"--strict rejects fields bpfmesh cannot enforce.\n"
	"\n"
	"--interfaces  also translate service traffic arriving on these interfaces\n"
	"              (TC ingress, with connection tracking)\n"
	"--metrics     serve Prometheus text at http://ADDR:PORT/metrics (Istio's TCP\n"
	"              metrics and bpfmesh's own), e.g. 127.0.0.1:15020 or [::]:15020;\n"
	"              off unless given; a port that cannot be bound stops the agent\n"
	"--max-endpoints, --max-clusters\n"
	"              size the health maps when they are created (default "
	AGENT_STR(BPFMESH_MAX_EP_SLOTS) " and\n"
	"              " AGENT_STR(BPFMESH_MAX_CLUSTERS) " slots: one per endpoint of each subset, one per\n"
	"              service port and subset)\n"
	"--max-services size the services map (default " AGENT_STR(BPFMESH_DEFAULT_SERVICES) " VIP:port entries,\n"
	"              up to " AGENT_STR(BPFMESH_MAX_SERVICES) ").\n"
	"              A policy larger than the maps is refused whole, naming the\n"
	"              option to raise. Pinned maps keep their size, unless one of\n"
	"              these options asks for more: then they grow at this start,\n"
	"              their state kept (never shrunk)\n"
	"--cluster-histograms\n"
	"              latency histograms per cluster (connect time, RTT, duration:\n"
	"              bpfmesh_*_seconds metrics, p50/p99 of `bpfmesh stats`), 2,256 B\n"
	"              a cluster slot (9 MiB at 4,096). Off by default, as Istio's TCP\n"
	"              metrics have none; given to a running node, the maps grow at\n"
	"              this start, their counts kept\n"
	"--allow-insecure-policy-dir\n"
	"              accept a POLICY_DIR (or a policy file in it) that a group or\n"
	"              other users may write, or another user owns (refused\n"
	"              otherwise: whoever writes the policy steers the node's traffic)\n"
	"--sockmap     same-node acceleration: bytes between a client and a local\n"
	"              endpoint go socket to socket (sk_msg), bypassing TCP/IP. Off by\n"
	"              default (--no-sockmap): the kernel's sockmap path loses data a\n"
	"              receiver reads with splice(), and a blocking read woken with no\n"
	"              data gets EAGAIN (docs/sockmap.md). Per service opt-out: the\n"
	"              ServiceEntry annotation bpfmesh.io/sockmap: \"off\"\n"
	"--state-dir   where the status file `bpfmesh status` reads is written\n"
	"              (default " DEFAULT_STATE_DIR ")\n"
	"--locality, --node-labels\n"
	"              this node's locality and labels for locality-aware routing\n"
	"              (localityLbSetting: priorities with outlierDetection, distribute,\n"
	"              failoverPriority); override the Node's (below); without\n"
	"              either no locality applies\n"

	"With --kubeconfig PATH or --in-cluster (service account credentials) it also\n"
	"lists and watches Services, EndpointSlices, Pods, Nodes and Istio's\n"
	"ServiceEntry, WorkloadEntry, DestinationRule and VirtualService, and compiles\n"
	"them with the files (a Service is a ServiceEntry with resolution STATIC).\n"
	"--node NAME (default $NODE_NAME) names this node: its topology labels give\n"
	"the locality, its labels the node labels, its pods the workloads. A lone\n"
	"change applies at once; changes within --k8s-debounce-ms (default 5) of the\n"
	"last reload's start join one. At least one of --policies and the\n"
	"Kubernetes options is required.\n"
	"\n"
	"Logs to stderr, one timestamped line per event. SIGTERM or SIGINT stop the\n"
	"agent and exit 0, leaving the data plane in force (pinned links, programs\n"
	"and maps): the next agent adopts it; `bpfmesh uninstall` removes it. See what\n"
	"the kernel holds with `bpfmesh maps services --bpffs BPFFS_DIR` and\n"
	"`bpfmesh stats`.\n";

/* A map size: 2 (slot 0 is reserved) to 16M slots. */
static int parse_size(const char *v, const char *opt, unsigned int *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n < 2 || n > (1ul << 24)) {
		cli_error("%s: '%s' is not a number of slots from 2 to 16777216", opt, v);
		return -1;
	}
	*out = (unsigned int)n;
	return 0;
}

static int parse_args(struct agent *ag, struct agent_k8s *k8s, int argc, char **argv)
{
	const char *v;
	int i, node;

	for (i = 1; i < argc; i++) {
		if ((node = agent_node_option(ag, argc, argv, &i))) {
			if (node < 0)
				return -1;
		} else if ((v = cli_option_value(argc, argv, &i, "--policies"))) {
			ag->policies = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--cgroup"))) {
			snprintf(ag->cgroup, sizeof(ag->cgroup), "%s", v);
		} else if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			ag->bpffs = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--interfaces"))) {
			ag->interfaces = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--max-endpoints"))) {
			if (parse_size(v, "--max-endpoints", &ag->sizes.max_endpoints))
				return -1;
		} else if ((v = cli_option_value(argc, argv, &i, "--max-clusters"))) {
			if (parse_size(v, "--max-clusters", &ag->sizes.max_clusters))
				return -1;
		} else if ((v = cli_option_value(argc, argv, &i, "--max-services"))) {
			if (parse_size(v, "--max-services", &ag->sizes.max_services))
				return -1;
		} else if (!strcmp(argv[i], "--allow-insecure-policy-dir")) {
			ag->allow_insecure_policy_dir = true;
		} else if ((v = cli_option_value(argc, argv, &i, "--state-dir"))) {
			ag->state_dir = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--metrics"))) {
			ag->metrics_addr = v;
		} else if (!strcmp(argv[i], "--sockmap")) {
			ag->sizes.no_sockmap = false;
		} else if (!strcmp(argv[i], "--no-sockmap")) {
			ag->sizes.no_sockmap = true;
		} else if (!strcmp(argv[i], "--cluster-histograms")) {
			ag->sizes.cluster_hists = true;
		} else if (agent_k8s_option(ag, k8s, argc, argv, &i)) {
			continue;
		} else if (!strcmp(argv[i], "--strict")) {
			ag->strict = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose = true;
		} else if (cli_is_help(argv[i])) {
			cli_help(agent_usage);
			return 1;
		} else {
			cli_error("unknown or incomplete option '%s'", argv[i]);
			cli_usage_error(agent_usage);
			return -1;
		}
	}
	if (!ag->policies && !ag->k8s) {
		cli_error("--policies POLICY_DIR or --kubeconfig PATH/--in-cluster is required");
		cli_usage_error(agent_usage);
		return -1;
	}
	if (!ag->cgroup[0] && cgroup2_root(ag->cgroup, sizeof(ag->cgroup))) {
		cli_error("no cgroup2 filesystem in /proc/mounts; pass --cgroup");
		return -1;
	}
	return 0;
}

static __u32 map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

int agent_add_source(struct agent *ag, int fd, const char *name,
		     int (*on_ready)(struct agent *ag, int fd))
{
	if (ag->n_sources == AGENT_MAX_SOURCES)
		return -ENOSPC;
	ag->sources[ag->n_sources++] = (struct agent_source){ .fd = fd, .name = name,
							      .on_ready = on_ready };
	return 0;
}

/* SIGHUP reloads; SIGTERM and SIGINT end the loop (the data plane stays). */
static int on_signal(struct agent *ag, int fd)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		agent_reload(ag, "SIGHUP");
		return 0;
	}
	agent_log("%s: stopping, the data plane stays in force", strsignal(si.ssi_signo));
	return 1;
}

static int on_policy_change(struct agent *ag, int fd)
{
	if (watch_drain(fd, ag->policies))
		agent_reload(ag, "policy directory changed");
	return 0;
}

static long long loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The sweep waits one RCU grace period (3-14 ms): on the sweep thread
 * (apply/wait_thread.h), while the loop goes on handling events; what was
 * retired when the wait began is deleted once it returns (a change that
 * came during a wait on the loop itself waited 11 ms). It starts when the
 * agent has been idle for SWEEP_INTERVAL_MS or after SWEEP_MAX_DEFER_MS
 * (an apply that must wait first still waits itself, applier_must_wait).
 * Without the thread, or for what a rollback or an earlier agent freed,
 * the wait is on the loop as before. */
static void sweep_when_idle(struct agent *ag, bool idle, long long *last_ms)
{
	long long now = loop_now_ms();
	int err;

	if (wait_thread_done(&ag->sweep_wait, &err)) {
		if (!err)
			applier_sweep_finish(&ag->applier, &ag->sweep_ticket);
		return;
	}
	if (wait_thread_busy(&ag->sweep_wait) ||
	    (!idle && now - *last_ms < SWEEP_MAX_DEFER_MS))
		return;
	*last_ms = now;
	if (applier_sweep_begin(&ag->applier, &ag->sweep_ticket) &&
	    wait_thread_request(&ag->sweep_wait))
		return;
	if (ag->applier.wait_pending || !ag->sweep_wait.running)
		applier_sweep(&ag->applier, false);
}

/* The connection sweep (0.07-1.9 ms at `make k8s-latency`) waits while an
 * event is already waiting: the loop handles that first (an endpoint
 * change came 2 ms after the last one's apply, during the sweep's first
 * run: +1.9 ms). Up to SWEEP_MAX_DEFER_MS, so a stream of events cannot
 * hold it off for ever. */
static void conn_sweep_unless_event(struct agent *ag, long long *deferred_ms)
{
	long long now = loop_now_ms();

	if (agent_events_pending(ag)) {
		if (!*deferred_ms)
			*deferred_ms = now;
		if (now - *deferred_ms < SWEEP_MAX_DEFER_MS)
			return;
	}
	*deferred_ms = 0;
	agent_conn_sweep_tick(ag);
}

/* A compile's scratch is free once its apply is done: give it back to the
 * system (glibc keeps freed memory otherwise: 40-50 MiB of RSS at 10,000
 * services), but only once the agent has been idle TRIM_QUIET_MS after its
 * last apply. A trim right after each apply made the next reload fault
 * every page of its arrays in again (a spliced reload took 19-37 ms after
 * a trim, 9-12 ms without): changes that come in a series reuse the heap,
 * and the memory goes back when the series ends.
 * What one change needs is kept even then: a heap with less than
 * TRIM_KEEP_FREE free is left as it is. Trimming it gave back ~7 MiB at
 * 10,000 services but made every change that came after a quiet spell (the
 * usual canary step) fault its copy's pages in again: 10-13 ms a change
 * instead of ~5.5 ms (docs/benchmarks.md, "All of it merged, 18:10"). */
#define TRIM_QUIET_MS 2000
#define TRIM_KEEP_FREE (64u << 20)

/* The same rule for glibc's own decisions, fixed at start: blocks below
 * 64 MiB come from the heap (not mmap) and the heap is not shrunk on free
 * below 256 MiB of free top; trim_when_quiet gives the memory back when a
 * series of changes ends. Left dynamic, glibc mmaps a large array until a
 * free raises its threshold and shrinks the heap when a change frees the
 * copy before, so pages are faulted in again and again. `make k8s-latency`
 * (10,000 Services, 30 changes), 10 runs alternated with the same code
 * without this, load 1.3-1.7: cold start median 917 -> 863 ms (lower in 9
 * of 10 pairs), agent CPU 1.40 -> 1.32 s, slowest change 6.6-10.4 ->
 * 6.4-9.6 ms, median change unchanged (4.4-5.0 / 4.3-5.6 ms); peak RSS
 * 448 -> 460 MiB. */
#define HEAP_MMAP_THRESHOLD (64 << 20)
#define HEAP_TRIM_THRESHOLD (256 << 20)

static void heap_keep_for_changes(void)
{
	mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD);
}

struct trim_state {
	unsigned int generation; /* the last generation seen applied */
	long long applied_ms;    /* when it was seen */
	bool pending;            /* applied since the last trim */
};

static void trim_when_quiet(struct agent *ag, bool idle, struct trim_state *t)
{
	long long now = loop_now_ms();

	if (ag->applier.state.generation != t->generation) {
		t->generation = ag->applier.state.generation;
		t->applied_ms = now;
		t->pending = true;
		return;
	}
	if (!idle || !t->pending || now - t->applied_ms < TRIM_QUIET_MS)
		return;
	t->pending = false;
	if (mallinfo2().fordblks < TRIM_KEEP_FREE)
		return;
	malloc_trim(0); /* it walks the heap: only when there was something to free */
}

/* Poll every source; when idle, retire backend sets past their grace. */
static int agent_loop(struct agent *ag)
{
	struct trim_state trim = { .generation = ag->applier.state.generation };
	struct pollfd pfd[AGENT_MAX_SOURCES];
	long long last_sweep_ms = loop_now_ms(), conn_sweep_deferred_ms = 0;
	int i, n, rc;

	for (i = 0; i < ag->n_sources; i++)
		pfd[i] = (struct pollfd){ .fd = ag->sources[i].fd, .events = POLLIN };
	for (;;) {
		int wait_ms = agent_idle_poll_ms(ag, SWEEP_INTERVAL_MS);

		n = poll(pfd, ag->n_sources, wait_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		agent_idle_run(ag, n == 0);
		if (n == 0 && wait_ms < SWEEP_INTERVAL_MS)
			continue; /* idle for idle.c's work only, not for the sweep */
		for (i = 0; n > 0 && i < ag->n_sources; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			rc = ag->sources[i].on_ready(ag, pfd[i].fd);
			if (rc)
				return rc < 0 ? rc : 0;
		}
		sweep_when_idle(ag, n == 0, &last_sweep_ms);
		agent_health_tick(ag);
		conn_sweep_unless_event(ag, &conn_sweep_deferred_ms);
		agent_metrics_tick(ag);
		trim_when_quiet(ag, n == 0, &trim);
	}
}

/* libbpf's messages in the agent's log format; debug ones only with -v. */
static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char buf[1024];

	if (level == LIBBPF_DEBUG && !cli.verbose)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, args);
	agent_log_lines(buf);
	return 0;
}

/* The kernel feature check, its explanation logged line by line. */
static int agent_probe(void)
{
	size_t len = 0;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);
	int err;

	if (!f)
		return probe_check(stderr);
	err = probe_check(f);
	fclose(f);
	agent_log_lines(text);
	free(text);
	return err;
}

/* Refuse a policy directory others may write (policy_perm.c). */
static int check_policy_perms(const struct agent *ag)
{
	char why[PATH_MAX + 128];

	if (!ag->policies || ag->allow_insecure_policy_dir ||
	    !policy_perm_check(ag->policies, why, sizeof(why)))
		return 0;
	cli_error("refusing the policy directory: %s. Make it writable by its owner only "
		  "(root or this agent's user), e.g. chmod go-w, or pass "
		  "--allow-insecure-policy-dir", why);
	return -1;
}

/* The sizes of the maps in use, which a policy must fit before it is
 * planned (apply/capacity.h). */
static void set_apply_limits(struct agent *ag)
{
	const struct lb_sizes *s = &ag->loader.sizes;

	ag->applier.limits = (struct apply_limits){
		.services = s->max_services,
		.backends = map_max_entries(lb_loader_map_fd(&ag->loader, BPFMESH_MAP_BACKENDS)),
		.names = map_max_entries(lb_loader_map_fd(&ag->loader, BPFMESH_MAP_NAMES)),
	};
}

/* Old-layout pins were found: the policy is in the new maps now (or it was
 * rejected, and the new maps are empty: the earlier agent's version cannot be
 * read, so there is nothing else to keep); switch the links, carry the
 * endpoint counters and what the earlier programs counted in grown maps,
 * and remove the old pins last (the counters' pin is what tells the next
 * agent there is still something to carry: kern/counters_migrate.h). */
static int finish_migration(struct agent *ag, struct counters_migration *counters,
			    struct map_grow *grow)
{
	int err = lb_loader_switch_links(&ag->loader);

	if (err) {
		agent_log("Failed to switch to the new map layout: %d (%s)", err, strerror(-err));
		return err;
	}
	agent_migrate_test_stop("switched");
	agent_counters_upgrade_finish(counters); /* before "migrated:" (tests wait for it) */
	agent_migrate_test_stop("carried");
	agent_maps_grow_finish(grow);
	lb_loader_remove_stale(&ag->loader);
	agent_migrate_test_stop("unlinked");
	agent_log("migrated: links switched to this agent's programs, %d old pins "
		  "removed", ag->loader.n_stale);
	return 0;
}

static void log_startup(const struct agent *ag)
{
	char text[256];

	lb_loader_startup_text(&ag->loader, text, sizeof(text));
	agent_log("start-up: objects loaded (maps, programs verified): %s", text);
}

int do_agent(int argc, char **argv)
{
	/* Same-node acceleration is opt-in (--sockmap): see agent_usage. */
	struct agent ag = { .bpffs = DEFAULT_BPFFS_DIR, .sweep_fd = -1,
			    .sizes = { .no_sockmap = true } };
	struct agent_k8s k8s = { .timer_fd = -1 };
	struct agent_preread preread;
	struct counters_migration counters = { .v1_fd = -1 };
	struct map_grow grow = { 0 };
	int sig_fd = -1, ino_fd = -1, err;
	sigset_t mask;

	heap_keep_for_changes();
	err = parse_args(&ag, &k8s, argc, argv);
	if (err) {
		agent_node_free(&ag.node);
		return err > 0 ? EXIT_OK : EXIT_USAGE;
	}
	if (check_policy_perms(&ag)) {
		agent_node_free(&ag.node);
		return EXIT_USAGE;
	}
	libbpf_set_print(libbpf_to_log);
	if (agent_probe())
		return EXIT_REJECTED;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0) {
		agent_log("Failed to create signalfd: %d", -errno);
		return EXIT_REJECTED;
	}
	agent_add_source(&ag, sig_fd, "signals", on_signal);
	if (ag.policies) {
		ino_fd = watch_open(ag.policies);
		if (ino_fd < 0) {
			err = ino_fd;
			agent_log("Failed to watch %s: %s", ag.policies, strerror(-err));
			goto cleanup;
		}
		agent_add_source(&ag, ino_fd, "policy directory", on_policy_change);
	}
	/* Before anything is loaded: bad credentials must not touch the pins
	 * an earlier agent left (a rolling update keeps them in force). */
	if (ag.k8s && agent_k8s_start(&ag)) {
		err = -EINVAL;
		goto cleanup;
	}
	err = agent_metrics_listen(&ag);
	if (err)
		goto cleanup;

	ag.store.strict = ag.strict; /* as agent_reload compiles */
	agent_preread_start(&preread, &ag.store, ag.policies);
	err = lb_loader_open(&ag.loader, ag.bpffs, ag.cgroup, ag.interfaces, &ag.sizes);
	agent_preread_join(&preread);
	if (err)
		goto cleanup;
	if (ag.loader.n_stale) {
		agent_counters_upgrade_begin(&ag, &counters);
		agent_migrate_test_stop("opened");
	}
	if (ag.loader.n_grown && agent_maps_grow_begin(&ag, &grow)) {
		lb_loader_close(&ag.loader);
		err = -EIO;
		goto cleanup;
	}
	struct svc_maps svc = { .ids_fd = lb_loader_map_fd(&ag.loader, BPFMESH_MAP_SVC_IDS),
				.heads_fd = lb_loader_map_fd(&ag.loader, BPFMESH_MAP_SVC_HEADS),
				.routes_fd = lb_loader_map_fd(&ag.loader, BPFMESH_MAP_ROUTES) };

	err = lb_svc_maps_sizes(&svc);
	if (!err)
		err = applier_adopt(&ag.applier, &kern_map_ops, &svc,
				    lb_loader_map_fd(&ag.loader, BPFMESH_MAP_BACKENDS),
				    lb_loader_map_fd(&ag.loader, BPFMESH_MAP_NAMES));
	if (!err)
		set_apply_limits(&ag);
	ag.applier.caller = ag.node.caller; /* applier_adopt starts it afresh */
	if (!err)
		err = agent_health_start(&ag);
	if (!err)
		err = agent_metrics_open_maps(&ag);
	if (err) {
		agent_log("Failed to read pinned maps: %d", err);
		agent_health_stop(&ag);
		applier_free(&ag.applier);
		lb_loader_close(&ag.loader);
		goto cleanup;
	}
	agent_log("%s %s, maps pinned in %s%s", ag.loader.n_stale ? "loaded for" : "attached to",
		  ag.cgroup, ag.bpffs,
		  ag.loader.adopted ? " (re-adopted from an earlier agent)" : "");
	if (ag.loader.progs_replaced || ag.loader.progs_kept)
		agent_log("pinned links: %u switched to this agent's programs, %u already "
			  "running them (%u by their stamp, not loaded; %u same tag and maps)",
			  ag.loader.progs_replaced, ag.loader.progs_kept, ag.loader.progs_adopted,
			  ag.loader.progs_kept - ag.loader.progs_adopted);
	if (ag.loader.n_stale)
		agent_log("%d pins of another map layout (first: %s): migrating, fresh maps "
			  "filled from policy before the links switch", ag.loader.n_stale,
			  ag.loader.stale[0]);
	log_startup(&ag);
	agent_conn_sweep_start(&ag);
	if (ag.loader.n_ifaces)
		agent_log("TC ingress on %d interface(s) by %s", ag.loader.n_ifaces,
			  tc_mode_name(ag.loader.tc_mode));
	if (ag.loader.adopted)
		agent_log("generation %u in force, %zu services", ag.applier.state.generation,
			  ag.applier.state.n_svcs);
	agent_reload(&ag, "start");
	malloc_trim(0); /* the first compile's, and the preread thread's arena */
	if (ag.loader.n_stale) {
		agent_migrate_test_stop("applied");
		err = finish_migration(&ag, &counters, &grow);
		if (err)
			goto stop;
	}

	if (wait_thread_start(&ag.sweep_wait, ag.applier.ops->wait_readers))
		agent_log("no sweep thread: the sweep waits for BPF readers on the loop");
	err = agent_loop(&ag);
stop:
	/* Sets still in their grace period stay: a connect may be reading one,
	 * and the next agent retires what no service names (apply.c, adopt).
	 * A wait on the thread is let finish; this sweep covers its ticket. */
	wait_thread_stop(&ag.sweep_wait);
	applier_sweep(&ag.applier, false);
	agent_conn_sweep_stop(&ag);
	agent_health_stop(&ag);
	applier_free(&ag.applier);
	agent_reported_free(&ag.reported);
	agent_status_remove(&ag);
	agent_policy_free(&ag);
	bpfmesh_image_free(&ag.img);
	agent_locality_free(&ag);
	agent_metrics_stop(&ag);
	/* Release our handles only: the pins keep the programs attached and
	 * deciding until the next agent adopts them or `bpfmesh uninstall`. */
	lb_loader_close(&ag.loader);
	agent_log("stopped; programs stay attached to %s, pins in %s", ag.cgroup, ag.bpffs);
cleanup:
	counters_migrate_free(&counters);
	map_grow_free(&grow);
	policy_store_free(&ag.store); /* the preread's, when the loader failed */
	agent_metrics_stop(&ag);
	agent_k8s_stop(&ag);
	if (ino_fd >= 0)
		close(ino_fd);
	close(sig_fd);
	agent_node_free(&ag.node);
	return err ? EXIT_REJECTED : EXIT_OK;
}
