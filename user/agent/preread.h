/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_AGENT_PREREAD_H
#define BPFMESH_AGENT_PREREAD_H
/*
 * At start, the policy files are read and parsed on a second thread while
 * the main one loads the BPF programs (the kernel verifies them in the
 * loading thread's time): the two took about the same time one after the
 * other. The first compile then finds the files read (isolate.h,
 * policy_store_preread).
 */
#include <pthread.h>
#include <stdbool.h>

#include "policy/isolate.h"

struct agent_preread {
	pthread_t thread;
	bool running;
	struct policy_store *store;
	const char *path;
	double ms;     /* how long the read and parse took */
	double cpu_ms; /* its thread's CPU time (a second parse thread's not in it) */
	int err;   /* policy_store_preread's */
};

/* Start reading path into store (nothing happens when path is NULL, or the
 * thread cannot start: the compile reads the files then). */
void agent_preread_start(struct agent_preread *p, struct policy_store *store, const char *path);
/* Wait for it; store is the caller's again. Logs the time at -v. */
void agent_preread_join(struct agent_preread *p);

#endif /* BPFMESH_AGENT_PREREAD_H */
