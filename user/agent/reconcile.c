// SPDX-License-Identifier: Apache-2.0
/* Reconcile: compile the policy directory and apply it; log what happened.
 * A resource with errors is rejected alone: its last good version stays in
 * force and every other resource applies (policy/isolate.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent.h"
#include "cli/cli.h"
#include "k8s/k8s.h"
#include "policy/policy.h"

void agent_log(const char *fmt, ...)
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

void agent_log_lines(const char *text)
{
	const char *line = text, *end;

	while (line && *line) {
		end = strchr(line, '\n');
		if (!strncmp(line, "bpfmesh: ", 9))
			line += 9;
		agent_log("%.*s", end ? (int)(end - line) : (int)strlen(line), line);
		line = end ? end + 1 : NULL;
	}
}

void agent_reported_free(struct agent_reported *r)
{
	hmap_free(&r->lines);
	free(r->text);
	*r = (struct agent_reported){ 0 };
}

/* Log the lines of text not logged last time (kept in *r for the next);
 * returns how many were left out as repeated. */
static size_t log_new_lines(struct agent_reported *r, char *text)
{
	struct agent_reported now = { .text = text };
	size_t repeated = 0, unused;
	char *line, *save = NULL;
	bool added;

	for (line = strtok_r(now.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (hmap_get_str(&r->lines, line, &unused))
			repeated++;
		else
			agent_log("%s", line);
		/* Out of memory: the line is simply logged again next time. */
		hmap_put_str(&now.lines, line, 0, &added);
	}
	agent_reported_free(r);
	*r = now;
	return repeated;
}

/* Log this reload's diagnostics, in diag_print's order and format, each a
 * log line; one logged by the previous reload is counted, not repeated:
 * an unchanged file's diagnostics, errors included, are logged once per
 * change, not at every reload. */
static void log_diagnostics(struct agent *ag, const struct diag_list *dl)
{
	size_t len = 0, repeated;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	diag_print(dl, f);
	fclose(f);
	repeated = log_new_lines(&ag->reported, text);
	if (repeated)
		agent_log("%zu %s logged before, not repeated", repeated,
			  repeated == 1 ? "diagnostic" : "diagnostics");
}

/* What became of a rejected resource, one line. */
static void print_rejection(FILE *f, const struct res_report *r)
{
	if (!strcmp(r->kind, "File"))
		fprintf(f, "rejected file %s: %s; the resources it held keep their last good "
			"versions\n", r->name, r->diag ? r->diag : "not read");
	else
		fprintf(f, "rejected %s %s/%s: %s; %s\n", r->kind, r->ns, r->name,
			r->diag ? r->diag : "invalid",
			r->last_good ? "its last good version stays in force"
				     : "not in force (no earlier good version)");
}

/* Each rejection once per change, and a summary when the set changed. */
static void log_rejections(struct agent *ag, const struct policy_report *rep, const char *why)
{
	size_t len = 0, i, before = ag->rejections.lines.n, repeated;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	for (i = 0; i < rep->n; i++) {
		if (rep->v[i].rejected)
			print_rejection(f, &rep->v[i]);
	}
	fclose(f);
	repeated = log_new_lines(&ag->rejections, text);
	if (rep->n_rejected && repeated != rep->n_rejected)
		agent_log("policy rejected in part (%s): %zu of %zu resources rejected; the "
			  "rest applies", why, rep->n_rejected, rep->n_rejected + rep->n_applied);
	else if (!rep->n_rejected && before)
		agent_log("no resource rejected any more (%s)", why);
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

void agent_policy_free(struct agent *ag)
{
	policy_store_free(&ag->store);
	policy_report_free(&ag->report);
	agent_reported_free(&ag->rejections);
	ag->have_report = false;
}

/* The report of this compile replaces the last one (metrics, status). */
static void keep_report(struct agent *ag, struct policy_report *rep)
{
	policy_report_free(&ag->report);
	ag->report = *rep;
	ag->have_report = true;
	memset(rep, 0, sizeof(*rep));
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -v: where the reload's time went, and whether its compile was
 * incremental (hosts recompiled) or full (why, and full compiles so far
 * although an image was kept: the fallbacks). */
static double ms_since_mono(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ms_between(t0, &t1);
}

static void log_timing(const struct policy_timing *t, const struct apply_stats *st,
		       double after_ms)
{
	char mode[160], plan[96];

	if (t->incremental)
		snprintf(mode, sizeof(mode), "incremental: %zu resources changed, %zu hosts "
			 "recompiled", t->changed, t->hosts);
	else
		snprintf(mode, sizeof(mode), "full%s%s", t->full_why ? ": " : "",
			 t->full_why ? t->full_why : "");
	snprintf(plan, sizeof(plan), "%s%s%s", st->incremental ? "incremental" : "full",
		 !st->incremental && st->full_why ? ": " : "",
		 !st->incremental && st->full_why ? st->full_why : "");
	agent_log("timing: read+parse %.3f ms (%zu of %zu files parsed, %zu documents hinted; "
		  "choice %s%s%s, %zu full since start), choose %.3f ms, compile %.3f ms (%s; "
		  "%zu fallbacks), plan %.3f ms (%s), exec %.3f ms; after the maps: %.3f ms "
		  "(identities, locality; the status file is written when idle)", t->parse_ms,
		  t->files_parsed, t->files, t->docs_hinted, t->choose_kept ? "kept" : "full",
		  t->choose_why ? ": " : "", t->choose_why ? t->choose_why : "",
		  t->choose_fallbacks, t->choose_ms, t->compile_ms, mode, t->fallbacks, st->plan_ms,
		  plan, st->elapsed_ms - st->plan_ms, after_ms);
}

void agent_reload(struct agent *ag, const char *why)
{
	struct bpfmesh_image img = {};
	struct diag_list dl = { .strict = ag->strict };
	struct policy_report rep = { 0 };
	struct k8s_docs docs = { 0 };
	struct apply_stats st;
	struct timespec t0, t1, t2;
	bool applied = false;
	int rc, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ag->k8s && !agent_k8s_documents(ag, &docs))
		return; /* not listed yet: what is in force stays */
	ag->store.strict = ag->strict;
	rc = policy_store_compile(&ag->store, &ag->policies, ag->policies ? 1 : 0,
				  (const char *const *)docs.names,
				  (const char *const *)docs.texts, docs.lens, docs.n, &dl, &img,
				  &rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_diagnostics(ag, &dl);
	if (rc != 0) {
		agent_log("policy rejected (%zu error(s), %s): generation %u stays in force",
			  diag_count_errors(&dl), why, ag->applier.state.generation);
		goto out;
	}
	log_rejections(ag, &rep, why);
	err = agent_identity_ids_assign(ag, &img);
	if (err) {
		agent_log("Failed to give workload identities their ids: %d (%s): generation %u "
			  "stays in force", err, strerror(-err), ag->applier.state.generation);
		goto out;
	}
	err = applier_apply(&ag->applier, &img, &st);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	if (err) {
		agent_log("Failed to apply policy: %d (%s): generation %u stays in force", err,
			  strerror(-err), ag->applier.state.generation);
		goto out;
	}
	/* The store compiles the next change over this image (isolate.h):
	 * it stays in ag->img, unchanged, until the next commit. */
	policy_store_commit_image(&ag->store, &img);
	agent_idle_changed(ag); /* the next reload's index, built at idle */
	if (!ag->store.timing.incremental)
		agent_prewarm_later(ag); /* the next changes' pages, at idle (prewarm.c) */
	keep_report(ag, &rep);
	ag->applied_at_ms = wall_ms();
	err = agent_sync_identities(ag, &img);
	if (err)
		agent_log("Failed to write workload identities: %d (%s)", err, strerror(-err));
	/* Kept: ejections rewrite its sets (health.c). */
	bpfmesh_image_free(&ag->img);
	ag->img = img;
	ag->have_img = true;
	ag->sets_stale = false;
	memset(&img, 0, sizeof(img));
	agent_locality_publish(ag);
	agent_log("applied generation %u: %zu %s, %zu %s in %.3f ms "
		  "(compile %.3f ms; %zu service writes, %zu sets written, %zu reused; %s)",
		  ag->applier.state.generation, st.counts.services,
		  st.counts.services == 1 ? "service" : "services", st.counts.endpoints,
		  st.counts.endpoints == 1 ? "endpoint" : "endpoints",
		  st.elapsed_ms, ms_between(&t0, &t1), st.counts.svc_writes,
		  st.counts.set_writes, st.counts.sets_reused, why);
	applied = true;
out:
	agent_status_changed(ag);
	if (applied && cli.verbose)
		log_timing(&ag->store.timing, &st, ms_since_mono(&t2));
	k8s_docs_free(&docs);
	bpfmesh_image_free(&img);
	policy_report_free(&rep);
	diag_free(&dl);
}
