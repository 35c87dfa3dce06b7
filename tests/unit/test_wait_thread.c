// SPDX-License-Identifier: Apache-2.0
/*
 * The sweep's wait thread (apply/wait_thread.h) with a wait the test holds
 * open: the loop's side never blocks, a wait begins only after its
 * request, one is in flight at a time, its result is collected once, and
 * stopping lets a wait in progress return first.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include "apply/wait_thread.h"

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int started, released, result = -EINTR;

/* The "grace period": returns once the test releases it. */
static int held_wait(void)
{
	int r;

	pthread_mutex_lock(&gate_mu);
	started++;
	pthread_cond_broadcast(&gate_cv);
	while (released < started)
		pthread_cond_wait(&gate_cv, &gate_mu);
	r = result;
	pthread_mutex_unlock(&gate_mu);
	return r;
}

static int waits_started(void)
{
	int n;

	pthread_mutex_lock(&gate_mu);
	n = started;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

static void await_started(int n)
{
	pthread_mutex_lock(&gate_mu);
	while (started < n)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
}

static void release_one(void)
{
	pthread_mutex_lock(&gate_mu);
	released++;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Poll as the agent's loop does (it never blocks on the thread). */
static int await_done(struct wait_thread *w)
{
	struct timespec pause = { .tv_nsec = 100000 };
	int r, i;

	for (i = 0; i < 50000; i++) {
		if (wait_thread_done(w, &r))
			return r;
		nanosleep(&pause, NULL);
	}
	fail_msg("the wait's result never came");
	return 0;
}

static void reset_gate(void)
{
	started = released = 0;
	result = -EINTR;
}

static void test_one_wait_per_request(void **state)
{
	struct wait_thread w;
	int r;

	reset_gate();
	assert_int_equal(wait_thread_start(&w, held_wait), 0);
	assert_false(wait_thread_busy(&w));
	assert_false(wait_thread_done(&w, &r)); /* nothing asked */
	assert_int_equal(waits_started(), 0);

	assert_true(wait_thread_request(&w));
	await_started(1);
	assert_true(wait_thread_busy(&w));
	assert_false(wait_thread_request(&w)); /* one in flight at a time */
	assert_false(wait_thread_done(&w, &r)); /* still waiting: not done */
	release_one();
	assert_int_equal(await_done(&w), -EINTR);
	assert_false(wait_thread_busy(&w));
	assert_false(wait_thread_done(&w, &r)); /* collected once */
	assert_int_equal(waits_started(), 1);

	result = 0;
	assert_true(wait_thread_request(&w)); /* the next one: a wait of its own */
	await_started(2);
	release_one();
	assert_int_equal(await_done(&w), 0);
	assert_int_equal(waits_started(), 2);
	wait_thread_stop(&w);
	assert_false(wait_thread_request(&w));
	wait_thread_stop(&w); /* idempotent */
}

/* Stop during a wait: it returns first, then the thread ends. */
static void test_stop_lets_the_wait_return(void **state)
{
	struct wait_thread w;

	reset_gate();
	assert_int_equal(wait_thread_start(&w, held_wait), 0);
	assert_true(wait_thread_request(&w));
	await_started(1);
	release_one(); /* stop joins: the wait must be able to return */
	wait_thread_stop(&w);
	assert_int_equal(waits_started(), 1);
	assert_false(wait_thread_busy(&w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_wait_per_request),
		cmocka_unit_test(test_stop_lets_the_wait_return),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
