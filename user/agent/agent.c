// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh agent: load and attach the programs, compile the policy directory,
 * apply it, and re-apply whenever the directory changes or on SIGHUP.
 *
 * A policy with errors is logged and never applied: the last good version
 * stays in force. SIGTERM/SIGINT detach everything and remove the pins; if
 * the agent dies any other way, the pins keep the kernel deciding and the
 * next agent re-adopts them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include "apply/apply.h"
#include "cli/cli.h"
#include "kern/loader.h"
#include "kern/probe.h"
#include "kern/sysfs.h"
#include "policy/policy.h"

#define SWEEP_INTERVAL_MS 250

struct agent {
	const char *policies;
	const char *bpffs;
	char cgroup[PATH_MAX];
	bool strict;
	struct lb_loader loader;
	struct applier applier;
};

static void agent_help(void)
{
	fprintf(stderr,
		"Usage: bpfmesh agent --policies DIR [--cgroup CGROUP_DIR] [--bpffs DIR]\n"
		"                     [--strict] [-v]\n"
		"\n"
		"Runs in the foreground: loads and attaches the connect-time load balancer\n"
		"to CGROUP_DIR (default: the cgroup2 mount root), pins its maps under DIR\n"
		"(default " DEFAULT_BPFFS_DIR "), applies the policies in DIR and re-applies\n"
		"them when the directory changes or on SIGHUP. Logs to stderr.\n"
		"SIGTERM or SIGINT detach the programs, remove the pins and exit.\n");
}

static void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void agent_log(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld bpfmesh: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Compile and apply the policy directory. Never loses the version in force. */
static void agent_reload(struct agent *ag, const char *why)
{
	struct bpfmesh_image img = {};
	struct diag_list dl = { .strict = ag->strict };
	struct apply_stats st;
	struct timespec t0, t1;
	int rc, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = policy_compile_paths(&ag->policies, 1, &dl, &img);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag_print(&dl, stderr);
	if (rc != 0) {
		agent_log("policy rejected (%zu error(s), %s): generation %u stays in force",
			  diag_count_errors(&dl), why, ag->applier.state.generation);
		goto out;
	}
	err = applier_apply(&ag->applier, &img, &st);
	if (err) {
		agent_log("Failed to apply policy: %d (%s): generation %u stays in force", err,
			  strerror(-err), ag->applier.state.generation);
		goto out;
	}
	agent_log("applied generation %u: %zu services, %zu endpoints in %.3f ms "
		  "(compile %.3f ms; %zu service writes, %zu sets written, %zu reused; %s)",
		  ag->applier.state.generation, st.counts.services, st.counts.endpoints,
		  st.elapsed_ms, ms_between(&t0, &t1), st.counts.svc_writes,
		  st.counts.set_writes, st.counts.sets_reused, why);
out:
	bpfmesh_image_free(&img);
	diag_free(&dl);
}

static int parse_args(struct agent *ag, int argc, char **argv)
{
	const char *v;
	int i;

	for (i = 1; i < argc; i++) {
		if ((v = cli_option_value(argc, argv, &i, "--policies"))) {
			ag->policies = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--cgroup"))) {
			snprintf(ag->cgroup, sizeof(ag->cgroup), "%s", v);
		} else if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			ag->bpffs = v;
		} else if (!strcmp(argv[i], "--strict")) {
			ag->strict = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			agent_help();
			return 1;
		} else {
			cli_error("unknown or incomplete option '%s'", argv[i]);
			agent_help();
			return -1;
		}
	}
	if (!ag->policies) {
		cli_error("--policies DIR is required");
		agent_help();
		return -1;
	}
	if (!ag->cgroup[0] && cgroup2_root(ag->cgroup, sizeof(ag->cgroup))) {
		cli_error("no cgroup2 filesystem in /proc/mounts; pass --cgroup");
		return -1;
	}
	return 0;
}

/* Drain queued inotify events; true if any concerns a policy file. */
static bool drain_inotify(int fd)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ev = (struct inotify_event *)p;

			/* Skip editors' dotfiles, but not "..data": Kubernetes swaps
			 * that symlink to update a ConfigMap volume atomically. */
			if (!ev->len || ev->name[0] != '.' || !strcmp(ev->name, "..data"))
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}

static int agent_loop(struct agent *ag, int sig_fd, int ino_fd)
{
	struct pollfd pfd[2] = { { .fd = sig_fd, .events = POLLIN },
				 { .fd = ino_fd, .events = POLLIN } };

	for (;;) {
		int n = poll(pfd, ino_fd >= 0 ? 2 : 1, SWEEP_INTERVAL_MS);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					agent_reload(ag, "SIGHUP");
				} else {
					agent_log("%s: detaching", strsignal(si.ssi_signo));
					return 0;
				}
			}
		}
		if (n > 0 && ino_fd >= 0 && (pfd[1].revents & POLLIN) && drain_inotify(ino_fd))
			agent_reload(ag, "policy directory changed");
		applier_sweep(&ag->applier, 0);
	}
}

int do_agent(int argc, char **argv)
{
	struct agent ag = { .bpffs = DEFAULT_BPFFS_DIR };
	int sig_fd = -1, ino_fd = -1, err;
	sigset_t mask;

	err = parse_args(&ag, argc, argv);
	if (err)
		return err > 0 ? EXIT_OK : EXIT_USAGE;
	if (probe_check(stderr))
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
	ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino_fd < 0 || inotify_add_watch(ino_fd, ag.policies,
					    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
					    IN_DELETE | IN_CREATE | IN_ATTRIB) < 0) {
		agent_log("Failed to watch %s: %s", ag.policies, strerror(errno));
		err = -errno;
		goto cleanup;
	}

	err = lb_loader_open(&ag.loader, ag.bpffs, ag.cgroup);
	if (err)
		goto cleanup;
	err = applier_adopt(&ag.applier, &kern_map_ops,
			    lb_loader_map_fd(&ag.loader, BPFMESH_MAP_SERVICES),
			    lb_loader_map_fd(&ag.loader, BPFMESH_MAP_BACKENDS),
			    lb_loader_map_fd(&ag.loader, BPFMESH_MAP_NAMES));
	if (err) {
		agent_log("Failed to read pinned maps: %d", err);
		lb_loader_close(&ag.loader);
		goto cleanup;
	}
	agent_log("attached to %s, maps pinned in %s%s", ag.cgroup, ag.bpffs,
		  ag.loader.adopted ? " (re-adopted from an earlier agent)" : "");
	if (ag.loader.adopted)
		agent_log("generation %u in force, %zu services", ag.applier.state.generation,
			  ag.applier.state.n_svcs);
	agent_reload(&ag, "start");

	err = agent_loop(&ag, sig_fd, ino_fd);
	applier_sweep(&ag.applier, 1);
	applier_free(&ag.applier);
	lb_loader_detach(&ag.loader);
	agent_log("detached from %s, pins removed", ag.cgroup);
cleanup:
	if (ino_fd >= 0)
		close(ino_fd);
	close(sig_fd);
	return err ? EXIT_REJECTED : EXIT_OK;
}
