// SPDX-License-Identifier: Apache-2.0
/*
 * loadBalancer arithmetic (include/bpfmesh/lbpolicy.h, which the kernel
 * runs), the Maglev table builder (user/apply/maglev.c), the policy the
 * compiler gives a cluster (user/policy/lb_policy.c) and the tables the
 * applier decides for a set (user/apply/plan_lbpolicy.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <bpfmesh/lbpolicy.h>
#include "apply/maglev.h"
#include "apply/plan.h"
#include "policy/lb_policy.h"

static __u32 rng_next(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (__u32)(*s >> 11);
}

/* ---- ROUND_ROBIN ---- */

/* Any len consecutive counter values visit each turn once, from any start
 * (the node-wide counter is shared by every destination's history; a 64-bit
 * counter does not wrap in practice). */
static void test_rr_turn_visits_each_once(void **state)
{
	__u64 starts[] = { 0, 1, 5, 0xfffffffeULL, 0x123456789ULL, 1ULL << 62 };
	__u32 len, seen[64], s, k;

	for (len = 1; len <= 64; len++) {
		for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
			memset(seen, 0, sizeof(seen));
			for (k = 0; k < len; k++)
				seen[bpfmesh_lb_rr_turn(starts[s] + k, len)]++;
			for (k = 0; k < len; k++)
				assert_int_equal(seen[k], 1);
		}
	}
}

static void count_turns(const __u32 *seq, __u32 len, __u32 *counts, __u32 n)
{
	__u32 t;

	memset(counts, 0, n * sizeof(*counts));
	for (t = 0; t < len; t++) {
		assert_true(seq[t] < n);
		counts[seq[t]]++;
	}
}

/* A weight-w endpoint takes w turns of each rotation (weights reduced by
 * their gcd), turns interleaved: no endpoint takes two turns in a row
 * while another still has one left in the rotation. */
static void test_rr_sequence_exact_and_interleaved(void **state)
{
	static const __u32 w1[] = { 1, 2, 3 }, w2[] = { 20, 40, 60 }, w3[] = { 5, 1, 1, 1 };
	__u32 *seq = calloc(BPFMESH_LB_RR_MAX_SEQ, sizeof(*seq)), counts[4], len, again[8], t;
	int scaled;

	assert_non_null(seq);
	len = bpfmesh_lb_rr_build(w1, 3, seq, &scaled);
	assert_int_equal(len, 6);
	assert_false(scaled);
	count_turns(seq, len, counts, 3);
	assert_int_equal(counts[0], 1);
	assert_int_equal(counts[1], 2);
	assert_int_equal(counts[2], 3);
	for (t = 1; t < len; t++) /* {1,2,3}: smooth rotation, never twice in a row */
		assert_true(seq[t] != seq[t - 1] || seq[t] == 2);
	memcpy(again, seq, len * sizeof(*seq));

	len = bpfmesh_lb_rr_build(w2, 3, seq, &scaled); /* gcd 20: the same rotation */
	assert_int_equal(len, 6);
	assert_memory_equal(seq, again, 6 * sizeof(*seq));

	len = bpfmesh_lb_rr_build(w3, 4, seq, &scaled);
	assert_int_equal(len, 8);
	count_turns(seq, len, counts, 4);
	assert_int_equal(counts[0], 5);
	assert_int_equal(counts[3], 1);
	free(seq);
}

/* Sums past BPFMESH_LB_RR_MAX_SEQ are scaled to fit, each endpoint keeping
 * at least one turn and its share within one turn; bad input is 0. */
static void test_rr_sequence_scaled_and_bad_input(void **state)
{
	static const __u32 big[] = { 1000000, 3000000, 1 }, zero[] = { 1, 0 };
	__u32 *seq = calloc(BPFMESH_LB_RR_MAX_SEQ, sizeof(*seq)), counts[3], len;
	int scaled;

	assert_non_null(seq);
	len = bpfmesh_lb_rr_build(big, 3, seq, &scaled);
	assert_true(scaled);
	assert_true(len <= BPFMESH_LB_RR_MAX_SEQ);
	count_turns(seq, len, counts, 3);
	assert_true(counts[2] >= 1);
	assert_true(counts[1] >= 3 * counts[0] - 3 && counts[1] <= 3 * counts[0] + 3);
	assert_int_equal(bpfmesh_lb_rr_build(zero, 2, seq, &scaled), 0);
	assert_int_equal(bpfmesh_lb_rr_build(zero, 0, seq, &scaled), 0);
	free(seq);
}

/* ---- LEAST_REQUEST ---- */

/* Equal weights: fewer open wins, a tie keeps the first, negatives are 0.
 * Unequal: Envoy's weight / (open + 1), checked against exact fractions. */
static void test_lr_prefers(void **state)
{
	__u32 wa, wb;
	__s64 a, b;

	assert_true(bpfmesh_lb_lr_prefers(1, 5, 1, 4, 1));
	assert_false(bpfmesh_lb_lr_prefers(1, 4, 1, 4, 1));
	assert_false(bpfmesh_lb_lr_prefers(1, 0, 1, -3, 1));
	for (wa = 1; wa <= 6; wa++)
		for (wb = 1; wb <= 6; wb++)
			for (a = -1; a <= 12; a++)
				for (b = -1; b <= 12; b++) {
					__u64 ea = a > 0 ? a : 0, eb = b > 0 ? b : 0;
					int want = wb * (ea + 1) > wa * (eb + 1);

					assert_int_equal(bpfmesh_lb_lr_prefers(wa, a, wb, b, 0),
							 want);
				}
	/* No overflow at the extremes: 2^32 weight x 2^40 open fits 64 bits. */
	assert_true(bpfmesh_lb_lr_prefers(1, 1LL << 40, 0xffffffffu, 1LL << 40, 0));
}

/* bpfmesh_lb_lr_keeps keeps with probability 1/(open + 1): counted over
 * an even grid of random numbers. */
static void test_lr_keeps_one_in_open_plus_one(void **state)
{
	const __u64 step = 4099; /* prime stride over 2^32 */
	__s64 open;

	for (open = 0; open <= 9; open++) {
		__u64 rnd, kept = 0, n = 0;

		for (rnd = 0; rnd < (1ULL << 32); rnd += step, n++)
			kept += bpfmesh_lb_lr_keeps((__u32)rnd, open);
		assert_true(kept * (open + 1) >= n - (open + 1) && kept * (open + 1) <= n + (open + 1));
	}
	assert_true(bpfmesh_lb_lr_keeps(0, -5)); /* below 0 counts as 0: always kept */
}

/* The kernel's weighted least request (draws by weight, kept with
 * probability 1/(open + 1), else the best of BPFMESH_LB_LR_TRIES) against
 * Envoy's proportions w/(open + 1), simulated. */
static void test_lr_weighted_follows_envoy_share(void **state)
{
	static const __u32 w[] = { 1, 2, 3 };
	static const __s64 open[] = { 0, 1, 5 };
	double want[3], sum = 0, q = 0, miss = 1;
	__u64 s = 88172645463325252ULL, got[3] = {};
	const int n = 300000;
	int i, t, k;

	for (k = 0; k < 3; k++)
		sum += want[k] = (double)w[k] / (double)(open[k] + 1);
	for (i = 0; i < n; i++) {
		int best = -1;

		for (t = 0; t < BPFMESH_LB_LR_TRIES; t++) {
			__u32 r = bpfmesh_reduce(rng_next(&s), 6);
			int c = r < 1 ? 0 : r < 3 ? 1 : 2; /* drawn by weight */

			if (bpfmesh_lb_lr_keeps(rng_next(&s), open[c])) {
				best = c;
				break;
			}
			if (best < 0 || bpfmesh_lb_lr_prefers(w[best], open[best], w[c], open[c], 0))
				best = c;
		}
		got[best]++;
	}
	/* A draw is kept with probability q = sum (w/W) / (open + 1); the kept
	 * ones follow Envoy exactly, so the shares can differ from Envoy's only
	 * by what the fallback (no keep in BPFMESH_LB_LR_TRIES draws) moves. */
	for (k = 0; k < 3; k++)
		q += (double)w[k] / 6 / (double)(open[k] + 1);
	for (k = 0; k < BPFMESH_LB_LR_TRIES; k++)
		miss *= 1 - q;
	for (k = 0; k < 3; k++) {
		double d = (double)got[k] / n - want[k] / sum;

		printf("  weighted least request: endpoint w=%u open=%lld: %.3f (Envoy %.3f, "
		       "fallback share %.3f)\n", w[k], (long long)open[k], (double)got[k] / n,
		       want[k] / sum, miss);
		assert_true(d <= miss + 0.01 && -d <= miss + 0.01);
	}
}

/* ---- consistent hash key ---- */

static void test_hash_key_spaces_apart(void **state)
{
	__u32 a = htonl(0x7f020001), idx;
	__u64 s = 1;
	int i;

	assert_int_equal(bpfmesh_lb_hash_key(a, 77), (1ULL << 32) | a);
	assert_int_equal(bpfmesh_lb_hash_key(0, 77), 77);
	assert_true(bpfmesh_lb_hash_key(a, 0) != bpfmesh_lb_hash_key(0, a));
	assert_true(bpfmesh_lb_hash(1) != bpfmesh_lb_hash(2));
	for (i = 0; i < 100000; i++) {
		idx = bpfmesh_lb_table_index(bpfmesh_lb_hash(rng_next(&s)), 65537);
		assert_true(idx < 65537);
	}
}

/* ---- Maglev ---- */

static void maglev_eps(struct maglev_endpoint *eps, size_t n, const __u32 *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		eps[i] = (struct maglev_endpoint){ .addr = htonl(0x0a000000 | (__u32)(i + 1)),
						   .port = htons(8080),
						   .weight = w ? w[i] : 1 };
}

/* Worst relative gap between an endpoint's share of the table and its
 * share of the weight. */
static double maglev_worst_share_error(const struct maglev_endpoint *eps, size_t n, __u32 size)
{
	__u32 *table = calloc(size, sizeof(*table)), *cnt = calloc(n, sizeof(*cnt)), k;
	double worst = 0, total = 0;
	size_t i;

	assert_non_null(table);
	assert_non_null(cnt);
	assert_int_equal(maglev_build(eps, n, size, table), 0);
	for (k = 0; k < size; k++) {
		assert_true(table[k] < n);
		cnt[table[k]]++;
	}
	for (i = 0; i < n; i++)
		total += eps[i].weight;
	for (i = 0; i < n; i++) {
		double want = eps[i].weight / total, got = (double)cnt[i] / size;
		double err = (got > want ? got - want : want - got) / want;

		worst = err > worst ? err : worst;
	}
	free(table);
	free(cnt);
	return worst;
}

/* tableSize >= 100 x endpoints: each endpoint's share of the table is its
 * weight share within 1% (relative), equal weights or not, as long as the
 * lightest still has 100 entries of its own to be measured by. */
static void test_maglev_balance(void **state)
{
	static const struct { size_t n; __u32 size; bool weighted; } cases[] = {
		{ 3, 307, false }, { 10, 1009, false }, { 10, 65537, false },
		{ 100, 10007, false }, { 655, 65537, false },
		{ 4, 65537, true }, { 20, 65537, true },
	};
	struct maglev_endpoint eps[655];
	__u32 w[655];
	size_t c, i;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double worst;

		for (i = 0; i < cases[c].n; i++)
			w[i] = cases[c].weighted ? (__u32)(i % 4 + 1) : 1;
		maglev_eps(eps, cases[c].n, w);
		worst = maglev_worst_share_error(eps, cases[c].n, cases[c].size);
		printf("  maglev balance: %zu endpoints%s, table %u: worst share error %.3f%%\n",
		       cases[c].n, cases[c].weighted ? " (weights 1..4)" : "", cases[c].size,
		       100 * worst);
		assert_true(worst <= 0.01);
	}
}

/* Removing one of N endpoints: the entries that change, against the 1/N
 * that must (the removed endpoint's own). Maglev moves little more. */
static void test_maglev_disruption(void **state)
{
	static const size_t ns[] = { 5, 10, 50 };
	struct maglev_endpoint eps[50];
	const __u32 size = 65537;
	__u32 *before = calloc(size, sizeof(*before)), *after = calloc(size, sizeof(*after)), k;
	size_t c, gone;

	assert_non_null(before);
	assert_non_null(after);
	for (c = 0; c < sizeof(ns) / sizeof(ns[0]); c++) {
		size_t n = ns[c], changed = 0, own = 0;

		maglev_eps(eps, n, NULL);
		assert_int_equal(maglev_build(eps, n, size, before), 0);
		gone = n / 2;
		memmove(&eps[gone], &eps[gone + 1], (n - gone - 1) * sizeof(*eps));
		assert_int_equal(maglev_build(eps, n - 1, size, after), 0);
		for (k = 0; k < size; k++) {
			__u32 was = before[k] == gone ? (__u32)-1 :
				    before[k] > gone ? before[k] - 1 : before[k];

			own += before[k] == gone;
			changed += after[k] != was;
		}
		printf("  maglev disruption: 1 of %zu removed: %.2f%% of entries remapped "
		       "(%.2f%% were its own; 1/N = %.2f%%)\n", n, 100.0 * changed / size,
		       100.0 * own / size, 100.0 / n);
		/* At most 1/N plus half of it again. */
		assert_true((double)changed / size <= 1.5 / n);
	}
	free(before);
	free(after);
}

static void test_maglev_deterministic_and_bad_input(void **state)
{
	struct maglev_endpoint eps[7];
	__u32 a[1009], b[1009];

	maglev_eps(eps, 7, NULL);
	assert_int_equal(maglev_build(eps, 7, 1009, a), 0);
	assert_int_equal(maglev_build(eps, 7, 1009, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(maglev_build(eps, 7, 1000, a), -EINVAL); /* not prime */
	assert_int_equal(maglev_build(eps, 7, 5, a), -EINVAL);    /* fewer entries than eps */
	assert_int_equal(maglev_build(eps, 0, 1009, a), -EINVAL);
	eps[3].weight = 0;
	assert_int_equal(maglev_build(eps, 7, 1009, a), -EINVAL);
}

/* ---- the policy a cluster gets ---- */

static void test_policy_from_config(void **state)
{
	struct lb_config lc = { .algo = LB_ALGO_LEAST_REQUEST };
	struct lb_policy p;

	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_LEAST_REQUEST);
	lc.algo = LB_ALGO_ROUND_ROBIN;
	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_ROUND_ROBIN);
	lc.algo = LB_ALGO_PASSTHROUGH;
	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_PASSTHROUGH);
	lc = (struct lb_config){ .algo = LB_ALGO_MAGLEV, .hash_key = HASH_KEY_SOURCE_IP,
				 .maglev_table_size = 1009 };
	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_MAGLEV);
	assert_int_equal(p.table_size, 1009);
	assert_int_equal(p.flags, 0);
	lc = (struct lb_config){ .algo = LB_ALGO_RING_HASH, .hash_key = HASH_KEY_SOURCE_IP,
				 .ring_min_size = 1024 };
	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_MAGLEV);
	assert_int_equal(p.table_size, 1031); /* the smallest prime >= 1024 */
	assert_int_equal(p.flags, BPFMESH_LB_F_RING_HASH);
	/* An HTTP key: no key at connection level, Envoy then picks at random. */
	lc = (struct lb_config){ .algo = LB_ALGO_MAGLEV, .hash_key = HASH_KEY_HEADER,
				 .maglev_table_size = 1009 };
	lb_policy_from_config(&lc, &p);
	assert_int_equal(p.algo, BPFMESH_LB_RANDOM);
}

/* ---- the table a set gets ---- */

static struct image_set spec_set(__u32 algo, __u32 table_size, const __u32 *w, __u32 n)
{
	struct image_set s = { .n_slots = n };
	__u32 j;

	s.slots = calloc(n + 1, sizeof(*s.slots));
	assert_non_null(s.slots);
	for (j = 0; j < n; j++) {
		s.slots[j].weight = w[j];
		s.total_weight += w[j];
	}
	s.lb = (struct lb_policy){ .algo = algo, .table_size = table_size };
	return s;
}

static void test_tables_spec(void **state)
{
	static const __u32 eq[] = { 3, 3, 3 }, uneq[] = { 1, 2, 3 };
	struct apply_state cur = { .lb_on = true,
				   .slots = { .max_endpoints = 8, .max_clusters = 8 } };
	struct image_set sets[5];
	struct bpfmesh_image img = { .n_sets = 5, .sets = sets };
	size_t i;

	sets[0] = spec_set(BPFMESH_LB_ROUND_ROBIN, 0, uneq, 3); /* sequence of 6 */
	sets[1] = spec_set(BPFMESH_LB_ROUND_ROBIN, 0, eq, 3);   /* the set is the rotation */
	sets[2] = spec_set(BPFMESH_LB_MAGLEV, 1009, eq, 3);
	sets[3] = spec_set(BPFMESH_LB_MAGLEV, 2, eq, 3);        /* smaller than the set */
	sets[4] = spec_set(BPFMESH_LB_LEAST_REQUEST, 0, uneq, 3);
	assert_int_equal(plan_lb_tables_spec(&cur, &img), 0);
	assert_int_equal(sets[0].table_kind, BPFMESH_LB_ROUND_ROBIN);
	assert_int_equal(sets[0].table_len, 6);
	assert_int_equal(sets[1].table_kind, 0);
	assert_int_equal(sets[1].lb.flags, BPFMESH_LB_F_EQUAL_WEIGHTS);
	assert_int_equal(sets[2].table_kind, BPFMESH_LB_MAGLEV);
	assert_int_equal(sets[2].table_len, 1009);
	assert_int_equal(sets[3].table_kind, 0);
	assert_int_equal(sets[4].table_kind, 0);
	assert_int_equal(sets[4].lb.flags, 0);

	cur.lb_on = false; /* no maps: no tables */
	sets[0].table_kind = sets[0].table_len = 0;
	assert_int_equal(plan_lb_tables_spec(&cur, &img), 0);
	assert_int_equal(sets[0].table_kind, 0);
	for (i = 0; i < 5; i++)
		free(sets[i].slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rr_turn_visits_each_once),
		cmocka_unit_test(test_rr_sequence_exact_and_interleaved),
		cmocka_unit_test(test_rr_sequence_scaled_and_bad_input),
		cmocka_unit_test(test_lr_prefers),
		cmocka_unit_test(test_lr_keeps_one_in_open_plus_one),
		cmocka_unit_test(test_lr_weighted_follows_envoy_share),
		cmocka_unit_test(test_hash_key_spaces_apart),
		cmocka_unit_test(test_maglev_balance),
		cmocka_unit_test(test_maglev_disruption),
		cmocka_unit_test(test_maglev_deterministic_and_bad_input),
		cmocka_unit_test(test_policy_from_config),
		cmocka_unit_test(test_tables_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
