// SPDX-License-Identifier: Apache-2.0
/* Reconcile: compile the policy directory and apply it; log what happened.
 * A policy with errors is reported and never applied. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent.h"
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

/* "file:line:col: error: ..." or "file: error (unenforced): ..." (diag.c). */
static bool is_error_line(const char *line)
{
	return strstr(line, ": error: ") || strstr(line, ": error (unenforced): ");
}

/* Log this reload's diagnostics, in diag_print's order and format, each a
 * log line; a warning, note or unenforced field logged by the previous
 * reload is counted, not repeated. The lines are kept for the next one. */
static void log_diagnostics(struct agent *ag, const struct diag_list *dl)
{
	struct agent_reported now = { 0 };
	size_t len = 0, repeated = 0, unused;
	char *line, *save = NULL;
	FILE *f = open_memstream(&now.text, &len);
	bool added;

	if (!f)
		return;
	diag_print(dl, f);
	fclose(f);
	for (line = strtok_r(now.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!is_error_line(line) && hmap_get_str(&ag->reported.lines, line, &unused))
			repeated++;
		else
			agent_log("%s", line);
		/* Out of memory: the line is simply logged again next time. */
		hmap_put_str(&now.lines, line, 0, &added);
	}
	if (repeated)
		agent_log("%zu %s logged before, not repeated", repeated,
			  repeated == 1 ? "diagnostic" : "diagnostics");
	agent_reported_free(&ag->reported);
	ag->reported = now;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

void agent_reload(struct agent *ag, const char *why)
{
	struct bpfmesh_image img = {};
	struct diag_list dl = { .strict = ag->strict };
	struct k8s_docs docs = { 0 };
	struct apply_stats st;
	struct timespec t0, t1;
	int rc, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ag->k8s && !agent_k8s_documents(ag, &docs))
		return; /* not listed yet: what is in force stays */
	rc = policy_compile_sources(&ag->policies, ag->policies ? 1 : 0,
				    (const char *const *)docs.names, (const char *const *)docs.texts,
				    docs.lens, docs.n, &dl, &img);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_diagnostics(ag, &dl);
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
	err = agent_sync_identities(ag, &img);
	if (err)
		agent_log("Failed to write workload identities: %d (%s)", err, strerror(-err));
	/* Kept: ejections rewrite its sets (health.c). */
	bpfmesh_image_free(&ag->img);
	ag->img = img;
	ag->have_img = true;
	ag->sets_stale = false;
	memset(&img, 0, sizeof(img));
		agent_log("applied generation %u: %zu %s, %zu %s in %.3f ms "
		  "(compile %.3f ms; %zu service writes, %zu sets written, %zu reused; %s)",
		  ag->applier.state.generation, st.counts.services,
		  st.counts.services == 1 ? "service" : "services", st.counts.endpoints,
		  st.counts.endpoints == 1 ? "endpoint" : "endpoints",
		  st.elapsed_ms, ms_between(&t0, &t1), st.counts.svc_writes,
		  st.counts.set_writes, st.counts.sets_reused, why);
out:
	k8s_docs_free(&docs);
	bpfmesh_image_free(&img);
	diag_free(&dl);
}
