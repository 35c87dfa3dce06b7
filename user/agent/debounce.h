/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_DEBOUNCE_H
#define BPFMESH_AGENT_DEBOUNCE_H
/* When a Kubernetes change reloads (debounce.c has the rule and why). Pure:
 * times in, a delay out; the agent (k8s.c) owns the timer. */
#include <stdint.h>

struct reload_debounce {
	uint64_t window_ns;   /* at most one reload starts per window */
	uint64_t started_ns;  /* CLOCK_MONOTONIC start of the last reload, 0: none yet */
};

/* An event changed what the watch holds at now_ns: 0 to reload at once,
 * or how long to wait (arm a timer; what else comes joins that reload). */
uint64_t reload_debounce_delay(const struct reload_debounce *d, uint64_t now_ns);

/* A reload starts at now_ns (it takes in every event before it). */
void reload_debounce_started(struct reload_debounce *d, uint64_t now_ns);

#endif
