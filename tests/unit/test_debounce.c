// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes reload debounce (user/agent/debounce.c) driven the way
 * the agent's loop drives it: events come at given times, a reload takes
 * a given time during which the loop sees nothing, a held event arms a
 * timer. What is asserted is behaviour: a lone change reloads at once, a
 * burst is fewer reloads than events, and every event is in a reload that
 * started after it (the final state is applied).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/debounce.h"

#define MS 1000000ull
#define MAX_EVENTS 256

struct sim {
	struct reload_debounce d;
	uint64_t reload_ns;     /* how long one reload keeps the loop busy */
	uint64_t starts[MAX_EVENTS];
	int n_reloads;
	uint64_t taken_at[MAX_EVENTS]; /* per event: start of the reload that took it in */
};

static void reload(struct sim *s, uint64_t at, const uint64_t *ev, int n_ev)
{
	int i;

	reload_debounce_started(&s->d, at);
	s->starts[s->n_reloads++] = at;
	for (i = 0; i < n_ev; i++)
		if (ev[i] <= at && !s->taken_at[i])
			s->taken_at[i] = at;
}

/* The agent's loop over events ev[0..n) (sorted): k8s.c's on_k8s_event and
 * on_k8s_debounce, with the loop busy while a reload runs. */
static void run(struct sim *s, const uint64_t *ev, int n)
{
	uint64_t free_at = 0, timer = 0;
	int i = 0;

	while (i < n || timer) {
		uint64_t next_ev = i < n ? (ev[i] > free_at ? ev[i] : free_at) : UINT64_MAX;
		uint64_t fire = timer ? (timer > free_at ? timer : free_at) : UINT64_MAX;

		if (fire <= next_ev) {
			timer = 0;
			if (!s->taken_at[i - 1]) { /* the watch changed since the last reload */
				reload(s, fire, ev, n);
				free_at = fire + s->reload_ns;
			}
			continue;
		}
		/* The loop sees every event that came while it was busy at once. */
		while (i < n && ev[i] <= next_ev)
			i++;
		if (timer || s->taken_at[i - 1])
			continue;
		uint64_t wait = reload_debounce_delay(&s->d, next_ev);

		if (wait) {
			timer = next_ev + wait;
		} else {
			reload(s, next_ev, ev, n);
			free_at = next_ev + s->reload_ns;
		}
	}
}

static void assert_all_taken(const struct sim *s, const uint64_t *ev, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		assert_true(s->taken_at[i] != 0);
		assert_true(s->taken_at[i] >= ev[i]);
	}
}

/* After a quiet spell, a change reloads the moment it is seen. */
static void test_lone_event_not_held(void **state)
{
	struct sim s = { .d = { .window_ns = 5 * MS }, .reload_ns = 7 * MS };
	uint64_t ev[] = { 1000 * MS, 2000 * MS };

	(void)state;
	run(&s, ev, 2);
	assert_int_equal(s.n_reloads, 2);
	assert_true(s.starts[0] == ev[0]);
	assert_true(s.starts[1] == ev[1]);
	assert_all_taken(&s, ev, 2);
}

/* Changes one after another, each 2 ms after the last reload ended (the
 * bench's pace): with reloads longer than the window none is held. */
static void test_next_change_after_long_reload_not_held(void **state)
{
	struct sim s = { .d = { .window_ns = 5 * MS }, .reload_ns = 7 * MS };
	uint64_t ev[10];
	int i;

	(void)state;
	for (i = 0; i < 10; i++)
		ev[i] = 100 * MS + (uint64_t)i * 9 * MS; /* 7 ms reload + 2 ms */
	run(&s, ev, 10);
	assert_int_equal(s.n_reloads, 10);
	for (i = 0; i < 10; i++)
		assert_true(s.taken_at[i] == ev[i]);
}

/* Short reloads: a change right after one waits at most the window's rest. */
static void test_short_reloads_rate_limited(void **state)
{
	struct sim s = { .d = { .window_ns = 5 * MS }, .reload_ns = MS / 2 };
	uint64_t ev[] = { 100 * MS, 101 * MS };

	(void)state;
	run(&s, ev, 2);
	assert_int_equal(s.n_reloads, 2);
	assert_true(s.starts[1] == 105 * MS); /* one window after the first start */
	assert_all_taken(&s, ev, 2);
}

/* A burst of 200 events 0.1 ms apart: far fewer reloads, none starting
 * within a window of the last, and the last event applied. */
static void test_burst_coalesced(void **state)
{
	uint64_t reload_ns[] = { MS / 2, 7 * MS }, ev[200];
	int r, i;

	(void)state;
	for (i = 0; i < 200; i++)
		ev[i] = 100 * MS + (uint64_t)i * MS / 10;
	for (r = 0; r < 2; r++) {
		struct sim s = { .d = { .window_ns = 5 * MS }, .reload_ns = reload_ns[r] };

		run(&s, ev, 200);
		/* 20 ms of events: one reload per window (or per reload) and the
		 * first at once. */
		assert_true(s.n_reloads >= 2);
		assert_true(s.n_reloads <= 6);
		for (i = 1; i < s.n_reloads; i++)
			assert_true(s.starts[i] - s.starts[i - 1] >= 5 * MS);
		assert_true(s.starts[0] == ev[0]);
		assert_all_taken(&s, ev, 200);
	}
}

/* --k8s-debounce-ms 0 (BPFMESH_K8S_NO_DEBOUNCE): every change at once. */
static void test_no_window_never_holds(void **state)
{
	struct reload_debounce d = { .window_ns = 0 };

	(void)state;
	assert_true(reload_debounce_delay(&d, 5 * MS) == 0);
	reload_debounce_started(&d, 5 * MS);
	assert_true(reload_debounce_delay(&d, 5 * MS) == 0);
}

/* The first event ever reloads at once, whatever the clock reads. */
static void test_first_event_at_once(void **state)
{
	struct reload_debounce d = { .window_ns = 5 * MS };

	(void)state;
	assert_true(reload_debounce_delay(&d, 1) == 0);
	reload_debounce_started(&d, 0); /* a start at 0 still counts */
	assert_true(reload_debounce_delay(&d, 1) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lone_event_not_held),
		cmocka_unit_test(test_next_change_after_long_reload_not_held),
		cmocka_unit_test(test_short_reloads_rate_limited),
		cmocka_unit_test(test_burst_coalesced),
		cmocka_unit_test(test_no_window_never_holds),
		cmocka_unit_test(test_first_event_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
