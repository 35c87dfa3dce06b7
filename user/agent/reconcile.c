// SPDX-License-Identifier: Apache-2.0
/* Reconcile: compile the policy directory and apply it; log what happened.
 * A policy with errors is reported and never applied. */
#include <stdarg.h>
#include <stdio.h>
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
	k8s_docs_free(&docs);
	bpfmesh_image_free(&img);
	diag_free(&dl);
}
