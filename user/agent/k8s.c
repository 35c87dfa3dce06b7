// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's Kubernetes discovery: options, the watch (user/k8s/) as two
 * sources of the main loop, and the documents each reload compiles beside
 * the policy files.
 *
 * Debounce, leading edge first (the rule and why: debounce.c): an event
 * that finds no reload started within the last debounce_ms (default 5 ms)
 * reloads at once, so a lone endpoint change waits for nothing. An event
 * within debounce_ms of the last reload's start arms a one-shot timer for
 * the rest of that window; whatever else arrives before it fires joins
 * that one reload. A relist of thousands of objects is one event anyway (the
 * watch swaps the whole kind in one step). No reload at all when what the
 * watch holds is what the last reload rendered (k8s_generation): a health
 * change, a write that changed nothing held (a Node's status), or events a
 * reload already took in before it rendered.
 *
 * The apply path is the files' one: render -> compile -> plan the
 * difference -> write it. The rendering makes again only the documents the
 * changed objects feed and lends the rest as they were (user/k8s/incr.c:
 * about 0.5 ms for one endpoint change at 10,000 Services); what follows
 * still reads every document's bytes and plans over the whole model
 * (issue 12).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include "agent.h"
#include "cli/cli.h"
#include "k8s/k8s.h"
#include "kern/sysfs.h"

#define K8S_DEBOUNCE_MS 5

bool agent_k8s_option(struct agent *ag, struct agent_k8s *k, int argc, char **argv, int *i)
{
	const char *v;

	if ((v = cli_option_value(argc, argv, i, "--kubeconfig"))) {
		k->kubeconfig = v;
	} else if (!strcmp(argv[*i], "--in-cluster")) {
		k->kubeconfig = NULL;
	} else if ((v = cli_option_value(argc, argv, i, "--node"))) {
		k->node_name = v;
	} else if ((v = cli_option_value(argc, argv, i, "--k8s-debounce-ms"))) {
		k->debounce_ms = (unsigned int)strtoul(v, NULL, 10);
		return true; /* tuning only: does not by itself turn discovery on */
	} else if ((v = cli_option_value(argc, argv, i, "--k8s-watch-timeout"))) {
		k->watch_timeout_s = (unsigned int)strtoul(v, NULL, 10);
		return true;
	} else {
		return false;
	}
	ag->k8s = k;
	return true;
}

/* Once per change: which optional kinds RBAC keeps us from listing. */
static void log_forbidden(struct agent_k8s *k, unsigned int forbidden)
{
	char kinds[256] = "";
	size_t used = 0;
	int i;

	if (forbidden == k->forbidden_logged)
		return;
	k->forbidden_logged = forbidden;
	if (!forbidden) {
		agent_log("Kubernetes API: every kind can be listed again");
		return;
	}
	for (i = 0; i < K8S_N_KINDS; i++)
		if (forbidden & (1u << i) && used < sizeof(kinds))
			used += (size_t)snprintf(kinds + used, sizeof(kinds) - used, "%s%s",
						 used ? ", " : "", k8s_kinds[i].kind);
	agent_log("Kubernetes API forbids listing %s (HTTP 403): held as empty, the other kinds "
		  "apply; grant list/watch in the agent's ClusterRole (deploy/rbac.yaml). "
		  "Retried every minute.", kinds);
}

/* Log a change of the API server's health; true if it went down or up. */
static bool log_health(struct agent *ag, struct agent_k8s *k)
{
	struct k8s_health h;
	bool changed;

	k8s_health(k->watch, &h);
	if (h.outage && !k->outage_logged)
		agent_log("Kubernetes API unreachable (%s): keeping the last good state, "
			  "generation %u stays in force", h.last_error, ag->applier.state.generation);
	else if (!h.outage && k->outage_logged)
		agent_log("Kubernetes API reachable again (%llu relists, %llu watch resumes so far)",
			  (unsigned long long)h.relists, (unsigned long long)h.resumes);
	changed = h.outage != k->outage_logged;
	k->outage_logged = h.outage;
	log_forbidden(k, h.forbidden);
	return changed;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Has what the watch holds changed since the last rendering? */
static bool k8s_changed(struct agent_k8s *k)
{
	return !k->rendered || k8s_generation(k->watch) != k->rendered_gen;
}

static void k8s_reload(struct agent *ag)
{
	reload_debounce_started(&ag->k8s->debounce, mono_ns());
	agent_reload(ag, "kubernetes");
}

/* The debounce rule is at the top of this file. */
static int on_k8s_event(struct agent *ag, int fd)
{
	struct agent_k8s *k = ag->k8s;
	struct itimerspec its = { 0 };
	uint64_t wait;

	k8s_drain(k->watch);
	/* `bpfmesh status` says so at once: no reload comes with it. */
	if (log_health(ag, k) && agent_status_write(ag))
		agent_log("Failed to write the status file");
	if (k->timer_armed || !k8s_changed(k))
		return 0;
	wait = reload_debounce_delay(&k->debounce, mono_ns());
	if (!wait) {
		if (cli.verbose)
			agent_log("kubernetes: objects changed: reloading now");
		k8s_reload(ag);
		return 0;
	}
	if (cli.verbose)
		agent_log("kubernetes: objects changed %.3f ms after the last reload started: "
			  "reload in %.3f ms with whatever else comes",
			  (double)(k->debounce.window_ns - wait) / 1e6, (double)wait / 1e6);
	its.it_value.tv_sec = (time_t)(wait / 1000000000u);
	its.it_value.tv_nsec = (long)(wait % 1000000000u);
	if (timerfd_settime(k->timer_fd, 0, &its, NULL) == 0)
		k->timer_armed = true;
	else
		k8s_reload(ag);
	return 0;
}

static int on_k8s_debounce(struct agent *ag, int fd)
{
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return 0;
	ag->k8s->timer_armed = false;
	if (k8s_changed(ag->k8s))
		k8s_reload(ag);
	return 0;
}

static int load_config(struct agent_k8s *k, struct k8s_config *c)
{
	char why[512] = "";
	int err;

	if (k->kubeconfig)
		err = k8s_config_kubeconfig(c, k->kubeconfig, why, sizeof(why));
	else
		err = k8s_config_in_cluster(c, NULL, why, sizeof(why));
	if (err)
		agent_log("Failed to load Kubernetes credentials (%s): %s",
			  k->kubeconfig ? k->kubeconfig : "in-cluster", why);
	return err;
}

int agent_k8s_start(struct agent *ag)
{
	struct agent_k8s *k = ag->k8s;
	struct k8s_watch_opts o = { .timeout_s = k->watch_timeout_s };
	struct k8s_config c;
	int err;

	k->timer_fd = -1;
	if (!k->node_name)
		k->node_name = getenv("NODE_NAME"); /* the DaemonSet's downward API */
	if (!k->node_name)
		agent_log("no --node and no NODE_NAME: this node's locality and workloads "
			  "are not known");
	o.node_name = k->node_name;
	if (k->debounce_ms == 0 && !getenv("BPFMESH_K8S_NO_DEBOUNCE"))
		k->debounce_ms = K8S_DEBOUNCE_MS;
	k->debounce = (struct reload_debounce){ .window_ns = (uint64_t)k->debounce_ms * 1000000u };
	err = load_config(k, &c);
	if (err)
		return err;
	agent_log("Kubernetes API %s (%s), node %s", c.server, c.source,
		  k->node_name ? k->node_name : "(unknown)");
	k->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (k->timer_fd < 0) {
		err = -errno;
		k8s_config_free(&c);
		agent_log("Failed to create timerfd: %d", err);
		return err;
	}
	err = k8s_watch_start(&c, &o, &k->watch);
	k8s_config_free(&c);
	if (err) {
		agent_log("Failed to start the Kubernetes watch: %d", err);
		return err;
	}
	err = agent_add_source(ag, k8s_event_fd(k->watch), "kubernetes", on_k8s_event);
	if (!err)
		err = agent_add_source(ag, k->timer_fd, "kubernetes debounce", on_k8s_debounce);
	return err;
}

void agent_k8s_stop(struct agent *ag)
{
	struct agent_k8s *k = ag->k8s;

	if (!k)
		return;
	k8s_watch_stop(k->watch);
	k->watch = NULL;
	if (k->timer_fd >= 0)
		close(k->timer_fd);
	k->timer_fd = -1;
	free(k->view_summary);
	k->view_summary = NULL;
}

/* Log this node's locality and workloads when they change. */
static void log_view(struct agent_k8s *k, const struct k8s_node_view *v)
{
	size_t i, found = 0;
	char *s = NULL;

	for (i = 0; i < v->n_workloads; i++)
		found += v->workloads[i].cgroup[0] != '\0';
	if (asprintf(&s, "node %s: locality %s, %zu pods on this node (%zu with their cgroup found)",
		     k->node_name ? k->node_name : "(unknown)", v->locality ? v->locality : "(none)",
		     v->n_workloads, found) < 0)
		return;
	if (k->view_summary && strcmp(k->view_summary, s) == 0) {
		free(s);
		return;
	}
	agent_log("%s", s);
	for (i = 0; i < v->n_workloads && cli.verbose; i++)
		agent_log("  workload %s/%s sa=%s cgroup=%s labels=%s", v->workloads[i].ns,
			  v->workloads[i].name, v->workloads[i].service_account,
			  v->workloads[i].cgroup[0] ? v->workloads[i].cgroup : "(not found)",
			  v->workloads[i].labels ? v->workloads[i].labels : "");
	free(k->view_summary);
	k->view_summary = s;
}

/* This node's pods as workload identities (k8s_pod_identity_docs): their
 * cgroups were found under ag->cgroup, the identities name them under the
 * cgroup2 mount. */
static int pod_identities(struct agent *ag, const struct k8s_node_view *v,
			  struct k8s_docs *docs)
{
	char mount[PATH_MAX];
	size_t len;

	if (cgroup2_root(mount, sizeof(mount)))
		return 0; /* no cgroup2: no identities at all (identity.c says so) */
	len = strlen(mount);
	if (strncmp(ag->cgroup, mount, len) || (ag->cgroup[len] && ag->cgroup[len] != '/')) {
		agent_log("cgroup %s is not under the cgroup2 mount %s: this node's pods get no "
			  "identity", ag->cgroup, mount);
		return 0;
	}
	return k8s_pod_identity_docs(v, ag->cgroup + len, docs);
}

/* The store reads only the documents that changed since the last set it
 * read (k8s_docs.prev and .same, policy_docs_hint). */
static void docs_hint(struct agent *ag, const struct k8s_docs *docs)
{
	if (docs->prev && docs->seq)
		policy_store_docs_hint(&ag->store, &(struct policy_docs_hint){
			.seq = docs->seq, .prev_seq = docs->prev_seq, .prev = docs->prev,
			.same = docs->same, .n = docs->borrowed });
}

/*
 * Cold start, while the first lists page in: render the Services whose
 * Service and a slice came, and parse them into the store, on this thread,
 * which has nothing else to do until every kind is listed (the watch
 * thread is busy with the lists). Nothing is chosen, compiled or applied:
 * generation 0 stays in force. The first reload then renders and parses
 * only what came since (k8s_render_early has the rule that makes its
 * documents the same as a rendering of every list). A batch at a time:
 * the watch's lock is held while one renders, and the watch needs it to
 * hold the next page.
 */
#define K8S_EARLY_BATCH 1000

static bool k8s_early_batch(struct agent *ag)
{
	struct agent_k8s *k = ag->k8s;
	struct k8s_docs docs = { 0 };
	struct k8s_render_stats rs;
	struct timespec t0, t1;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (k8s_render_early(k->watch, K8S_EARLY_BATCH, &docs)) {
		k8s_docs_free(&docs);
		return false; /* the first reload renders everything */
	}
	k8s_render_stats(k->watch, &rs);
	docs_hint(ag, &docs);
	ag->store.strict = ag->strict; /* as agent_reload compiles */
	err = policy_store_preread_docs(&ag->store, &ag->policies, ag->policies ? 1 : 0,
					(const char *const *)docs.names,
					(const char *const *)docs.texts, docs.lens, docs.n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cli.verbose)
		agent_log("kubernetes: early render %.3f ms (%zu Services made, %zu without a "
			  "slice yet%s), %zu documents read%s in %.3f ms", rs.ms, rs.services,
			  rs.deferred, rs.more ? ", more to make" : "", docs.n,
			  err ? " (failed: read at the first reload)" : "",
			  (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				  (double)(t1.tv_nsec - t0.tv_nsec) / 1e6 - rs.ms);
	k8s_docs_free(&docs);
	return rs.more && !err;
}

static void k8s_early(struct agent *ag)
{
	while (k8s_early_batch(ag))
		;
}

bool agent_k8s_documents(struct agent *ag, struct k8s_docs *docs)
{
	struct agent_k8s *k = ag->k8s;
	struct k8s_node_view view = { 0 };
	struct k8s_health h;

	k8s_health(k->watch, &h);
	if (!h.synced) {
		if (!k->synced_logged)
			agent_log("waiting for the first list of every Kubernetes kind; "
				  "generation %u stays in force", ag->applier.state.generation);
		k->synced_logged = true;
		k8s_early(ag);
		return false;
	}
	if (k8s_render(k->watch, ag->cgroup, docs, &view)) {
		agent_log("Failed to render the Kubernetes objects: out of memory");
		k8s_docs_free(docs);
		k8s_node_view_free(&view);
		return false;
	}
	if (pod_identities(ag, &view, docs)) {
		agent_log("Failed to render this node's pods as identities: out of memory");
		k8s_docs_free(docs);
		k8s_node_view_free(&view);
		return false;
	}
	k->rendered = true;
	k->rendered_gen = docs->generation;
	if (cli.verbose) {
		struct k8s_render_stats rs;

		k8s_render_stats(k->watch, &rs);
		agent_log("kubernetes: render %.3f ms (%s: %zu Services and %zu Istio objects made "
			  "again, %zu documents handed over; %s %.3f ms)", rs.ms,
			  rs.full ? "everything" : "what changed", rs.services, rs.objects, rs.docs,
			  rs.prerender_ms ? "everything was made on the watch thread as the first "
			  "lists completed in" : "the rest was made while the first lists paged in "
			  "(early render above), prerender", rs.prerender_ms);
	}
	log_view(k, &view);
	if (k->node_name && agent_node_from_cluster(ag, k->node_name, view.locality, view.labels))
		agent_log("Failed to take node %s's locality and labels: out of memory",
			  k->node_name);
	k8s_node_view_free(&view);
	docs_hint(ag, docs); /* the compile that follows reads only what changed */
	return true;
}
