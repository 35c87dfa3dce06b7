// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes reload debounce: leading edge, and the window counts from
 * the START of the last reload. An event finds either
 *  - no reload started within the last window: it reloads at once (a lone
 *    change waits for nothing), or
 *  - one started less than a window ago: it waits for the rest of that
 *    window, and whatever else comes by then joins the same reload.
 * So at most one reload starts per window (5 ms by default: 200 a second)
 * however fast events come, and no event waits longer than the window for
 * its reload to start once the agent is free. A reload renders what the
 * watch holds as it starts, so it takes in every event before it: events
 * that come while a reload runs are one reload after it, never one each.
 *
 * Why the start and not the end (as before, docs/benchmarks.md
 * "k8schange"): at 10,000 Services a reload takes 5-8 ms, longer than the
 * window. Counted from its end, a change that came 0-5 ms after the last
 * reload (a rollout's next endpoint, a canary's next step) waited out the
 * rest: 1-4 ms held on top of its own reload, 12-20 ms in all where the
 * agent's work was 6-8. Counted from the start, it waits only when reloads
 * are short (small clusters), and then at most window - reload.
 * Istio's PILOT_DEBOUNCE_AFTER (100 ms of quiet before a push) is a
 * trailing debounce: every change would wait that long, so it is not
 * followed here; the bound it exists for (pushes per second) is the window.
 */
#include "debounce.h"

uint64_t reload_debounce_delay(const struct reload_debounce *d, uint64_t now_ns)
{
	uint64_t since = now_ns - d->started_ns;

	if (!d->started_ns || now_ns < d->started_ns || since >= d->window_ns)
		return 0;
	return d->window_ns - since;
}

void reload_debounce_started(struct reload_debounce *d, uint64_t now_ns)
{
	d->started_ns = now_ns ? now_ns : 1; /* 0 means none */
}
