// SPDX-License-Identifier: Apache-2.0
/* The agent's thread for waits on BPF readers (wait_thread.h). */
#include <errno.h>
#include "wait_thread.h"

static void *wait_main(void *arg)
{
	struct wait_thread *w = arg;
	int result;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && (!w->requested || w->done))
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		result = w->wait(); /* the lock is not held: the loop polls meanwhile */
		pthread_mutex_lock(&w->mu);
		w->result = result;
		w->done = true;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int wait_thread_start(struct wait_thread *w, int (*wait)(void))
{
	int err;

	*w = (struct wait_thread){ .wait = wait };
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	err = pthread_create(&w->th, NULL, wait_main, w);
	if (err) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return -err;
	}
	w->running = true;
	return 0;
}

bool wait_thread_request(struct wait_thread *w)
{
	bool ok;

	if (!w->running)
		return false;
	pthread_mutex_lock(&w->mu);
	ok = !w->requested;
	if (ok) {
		w->requested = true;
		w->done = false;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return ok;
}

bool wait_thread_done(struct wait_thread *w, int *result)
{
	bool done;

	if (!w->running)
		return false;
	pthread_mutex_lock(&w->mu);
	done = w->requested && w->done;
	if (done) {
		*result = w->result;
		w->requested = false;
		w->done = false;
	}
	pthread_mutex_unlock(&w->mu);
	return done;
}

bool wait_thread_busy(struct wait_thread *w)
{
	bool busy;

	if (!w->running)
		return false;
	pthread_mutex_lock(&w->mu);
	busy = w->requested;
	pthread_mutex_unlock(&w->mu);
	return busy;
}

void wait_thread_stop(struct wait_thread *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->running = false;
}
