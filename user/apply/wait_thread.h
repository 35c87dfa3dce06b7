/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_WAIT_THREAD_H
#define BPFMESH_WAIT_THREAD_H
/*
 * A thread that waits for BPF readers (map_ops.wait_readers: one RCU grace
 * period, 3-14 ms) for the agent's loop, which keeps handling events in
 * the meantime and collects the result with wait_thread_done. Used for the
 * applier's periodic sweep (applier_sweep_begin/finish): a change that
 * came during that wait used to wait for it (11 ms in one traced run).
 */
#include <pthread.h>
#include <stdbool.h>

struct wait_thread {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int (*wait)(void);
	bool running;   /* the thread was started */
	bool requested; /* a wait asked for and not collected yet */
	bool done;      /* it returned result */
	bool stop;
	int result;
};

/* Start the thread that calls wait() on request. 0 or negative errno. */
int wait_thread_start(struct wait_thread *w, int (*wait)(void));

/* Ask for one wait, which begins after this returns. False when one is
 * already asked for (or the thread is not running). */
bool wait_thread_request(struct wait_thread *w);

/* True once the wait asked for has returned, its result in *result; the
 * next request may follow. Never blocks. */
bool wait_thread_done(struct wait_thread *w, int *result);

/* True between a request and the wait_thread_done that collects it. */
bool wait_thread_busy(struct wait_thread *w);

/* Let a wait in progress return, then end the thread. Idempotent. */
void wait_thread_stop(struct wait_thread *w);

#endif /* BPFMESH_WAIT_THREAD_H */
