// SPDX-License-Identifier: Apache-2.0
/*
 * What the agent does between events (issue 12: every weight change under
 * 10 ms, the first one too): the host index the next incremental reload
 * would otherwise build at its start (20 ms at 10,000 services), then the
 * status file (20-25 ms at 10,000 services). Each runs in slices, and
 * between two slices the agent looks at its sources: an event waiting
 * (a policy file renamed, a health event, a scrape) is handled first, and
 * the work resumes at the next idle. Before, the status file was written
 * in one go 5 ms after an apply, and a change that came in those 20 ms
 * waited for it (bench/run.sh, whose changes come 30-50 ms apart: 10-13 ms
 * a change where the agent's own work was 3 ms).
 * The index starts at once, not after AGENT_IDLE_MS of quiet: a slice
 * stops for an event anyway, and after a full compile (the Kubernetes cold
 * start) the first change came 1-3 ms after the apply, before any quiet,
 * and built the index itself (choose 5.9 ms instead of 0.2). The status
 * file still waits for quiet: an event stops it and it starts over, so
 * written between the changes of a stream it would be work thrown away.
 */
#include <poll.h>
#include "agent.h"

/* Resources indexed between two looks at the sources: about 0.7 ms. */
#define PREPARE_SLICE 1024

bool agent_events_pending(const struct agent *ag)
{
	struct pollfd pfd[AGENT_MAX_SOURCES];
	int i;

	for (i = 0; i < ag->n_sources; i++)
		pfd[i] = (struct pollfd){ .fd = ag->sources[i].fd, .events = POLLIN };
	return poll(pfd, ag->n_sources, 0) > 0;
}

void agent_idle_changed(struct agent *ag)
{
	ag->prepare_pending = true;
}

int agent_idle_poll_ms(const struct agent *ag, int idle_ms)
{
	int ms = agent_status_poll_ms(ag, idle_ms);

	return ag->prepare_pending || ag->prewarm_pending ? 0 : ms;
}

void agent_idle_run(struct agent *ag, bool idle)
{
	/* The poll did not wait when the index was pending: not quiet yet. */
	bool quiet = idle && !ag->prepare_pending && !ag->prewarm_pending;

	while (ag->prepare_pending) {
		if (agent_events_pending(ag))
			return; /* the event first; the rest after it */
		ag->prepare_pending = policy_store_prepare(&ag->store, PREPARE_SLICE);
	}
	/* After the index: the first change needs the index, the second the
	 * pages (prewarm.c). */
	while (ag->prewarm_pending) {
		if (agent_events_pending(ag))
			return;
		agent_prewarm_slice(ag);
	}
	agent_status_flush(ag, quiet);
}
