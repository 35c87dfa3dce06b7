/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_OUTLIER_H
#define BPFMESH_OUTLIER_H
/*
 * Outlier detection arithmetic with Envoy's semantics (Istio's
 * outlierDetection becomes Envoy's cluster OutlierDetection), compiled into
 * the BPF programs (bpf/lib/health.h) and into tests/unit/test_outlier.c.
 * Pure: every function takes the time and the state it needs as arguments,
 * so the tests drive it through exact sequences.
 *
 * At L4 a failure is a connect that did not complete: refused, timed out,
 * reset or otherwise failed before established (BPFMESH_END_FAIL_*). A
 * connect that completes is a success. A connection closed by the
 * application before the handshake, or reset after it, is neither: Envoy's
 * tcp_proxy reports only the connect outcome to the outlier detector.
 *
 * Phase 2: nothing to wire here; health.h calls these, and user/policy fills
 * struct cluster_cfg from which they read.
 */
#include "health_abi.h"

#include "inline.h"

#define BPFMESH_NSEC_PER_SEC 1000000000ULL
/* Envoy's default max_ejection_time (Istio does not expose the field). */
#define BPFMESH_DEFAULT_MAX_EJECTION_NS (300 * BPFMESH_NSEC_PER_SEC)

/* Which consecutive counters a connect failure feeds. */
enum bpfmesh_outlier_counter {
	BPFMESH_OD_5XX = 1 << 0,
	BPFMESH_OD_GATEWAY = 1 << 1,
	BPFMESH_OD_LOCAL_ORIGIN = 1 << 2,
};

/* Is this end of a connection an outlier failure (see above)? */
BPFMESH_INLINE int bpfmesh_outlier_is_failure(__u32 end)
{
	return end <= BPFMESH_END_FAIL_OTHER;
}

/* Linux errno values the sockops program reads from sk_err. */
#define BPFMESH_ECONNRESET 104
#define BPFMESH_ETIMEDOUT 110
#define BPFMESH_ECONNREFUSED 111

/*
 * How a connection ended, from whether its handshake completed and the
 * socket's pending error when it went to TCP_CLOSE. Before established:
 * ECONNREFUSED is an RST answering the SYN, ETIMEDOUT the SYN retries (or
 * TCP_USER_TIMEOUT) running out, no error at all the application closing
 * the socket first. After established: any error is a reset (the peer's RST,
 * or retransmissions timing out).
 */
BPFMESH_INLINE __u32 bpfmesh_conn_end(int established, int sk_err)
{
	if (established)
		return sk_err ? BPFMESH_END_RESET : BPFMESH_END_NORMAL;
	switch (sk_err) {
	case 0:
		return BPFMESH_END_ABORTED;
	case BPFMESH_ECONNREFUSED:
		return BPFMESH_END_FAIL_REFUSED;
	case BPFMESH_ETIMEDOUT:
		return BPFMESH_END_FAIL_TIMEOUT;
	case BPFMESH_ECONNRESET:
		return BPFMESH_END_FAIL_RESET;
	default:
		return BPFMESH_END_FAIL_OTHER;
	}
}

/*
 * Envoy rule: with splitExternalLocalOriginErrors false (the default) a
 * local-origin connect failure is mapped to an HTTP code (connect failure ->
 * 503, connect timeout -> 504), and both 503 and 504 are 5xx and gateway
 * errors, so it counts toward consecutive5xxErrors and
 * consecutiveGatewayErrors. With it true, it counts only toward
 * consecutiveLocalOriginFailures.
 */
BPFMESH_INLINE __u32 bpfmesh_outlier_failure_counters(__u32 cluster_flags)
{
	if (cluster_flags & BPFMESH_CLUSTER_F_SPLIT_LOCAL)
		return BPFMESH_OD_LOCAL_ORIGIN;
	return BPFMESH_OD_5XX | BPFMESH_OD_GATEWAY;
}

/*
 * Does the failure that brought a consecutive counter to `count` trip the
 * detector? Envoy rule: it trips when the counter reaches the threshold
 * (++count == threshold) and the counter is then reset, whether or not the
 * ejection was allowed; a success resets it. Tripping at every multiple of
 * the threshold is the same sequence without a reset, which lets concurrent
 * CPUs count with one fetch_add and never lose a failure to a racing reset.
 * A threshold of 0 is not enforced.
 */
BPFMESH_INLINE int bpfmesh_outlier_trips(__u64 count, __u32 threshold)
{
	return threshold != 0 && count != 0 && count % threshold == 0;
}

/*
 * May a cluster of `total` endpoints have `ejected_with_this` ejected (the
 * current ejections plus the one being decided)? Current Envoy rule:
 * eject only while 100 * (ejected + 1) / total <= maxEjectionPercent
 * (percent capped at 100), so with the default 10% and fewer than 10
 * endpoints nothing is ever ejected.
 */
BPFMESH_INLINE int bpfmesh_outlier_may_eject(__u64 ejected_with_this, __u32 total, __u32 max_pct)
{
	if (total == 0)
		return 0;
	if (max_pct > 100)
		max_pct = 100;
	return 100 * ejected_with_this <= (__u64)max_pct * total;
}

/*
 * Is the cluster in panic? Envoy rule (healthy_panic_threshold, which Istio
 * sets from minHealthPercent): when 100 * healthy / total is below the
 * threshold (capped at 100), ejections are ignored and every endpoint is
 * used. 0 never panics. An empty cluster counts as 0% healthy.
 */
BPFMESH_INLINE int bpfmesh_outlier_in_panic(__u32 total, __u64 ejected, __u32 min_health_pct)
{
	__u64 healthy;

	if (min_health_pct > 100)
		min_health_pct = 100;
	if (total == 0)
		return min_health_pct > 0;
	healthy = ejected >= total ? 0 : total - ejected;
	return 100 * healthy < (__u64)min_health_pct * total;
}

/* Envoy rule: max_ejection_time defaults to max(300 s, baseEjectionTime). */
BPFMESH_INLINE __u64 bpfmesh_outlier_max_ejection_ns(__u64 max_ejection_ns, __u64 base_ns)
{
	if (max_ejection_ns == 0)
		max_ejection_ns = BPFMESH_DEFAULT_MAX_EJECTION_NS;
	return max_ejection_ns > base_ns ? max_ejection_ns : base_ns;
}

/*
 * Envoy rule: the backoff multiplier (times ejected) decreases by one at
 * every interval the endpoint spends in service. Envoy does it on its
 * interval timer; here it is computed when needed, at the next ejection,
 * as one per whole interval since the return (Envoy's ticks are not aligned
 * to the return, so it may count one tick more within the same interval).
 */
BPFMESH_INLINE __u32 bpfmesh_outlier_decay(__u32 times, __u64 returned_at_ns, __u64 now_ns,
					   __u64 interval_ns)
{
	__u64 healthy_intervals;

	if (times == 0 || interval_ns == 0 || returned_at_ns == 0 || now_ns <= returned_at_ns)
		return times;
	healthy_intervals = (now_ns - returned_at_ns) / interval_ns;
	return healthy_intervals >= times ? 0 : times - (__u32)healthy_intervals;
}

/* Envoy rule: at an ejection the multiplier grows by one while
 * multiplier x base < max_ejection_time + base, so it stops growing once
 * the ejection time has reached the cap (and one healthy interval later is
 * still at the cap). */
BPFMESH_INLINE __u32 bpfmesh_outlier_backoff_next(__u32 times, __u64 base_ns, __u64 max_ns)
{
	/* times x base < max + base  <=>  (times - 1) x base < max, which
	 * cannot overflow when written as a division. */
	if (times == 0)
		return base_ns != 0 || max_ns != 0 ? 1 : 0;
	if (max_ns == 0)
		return times;
	if (times == 1 || base_ns <= (max_ns - 1) / (times - 1))
		return times + 1;
	return times;
}

/* Envoy rule: an ejection lasts min(base x multiplier, max_ejection_time). */
BPFMESH_INLINE __u64 bpfmesh_outlier_ejection_ns(__u32 times, __u64 base_ns, __u64 max_ns)
{
	if (times != 0 && base_ns > max_ns / times)
		return max_ns;
	return base_ns * times < max_ns ? base_ns * times : max_ns;
}

/* The outcome of deciding one ejection. */
struct bpfmesh_ejection {
	__u32 times_ejected; /* new backoff multiplier */
	__u32 pad;
	__u64 until_ns;      /* the endpoint returns at this time */
};

/*
 * An endpoint is being ejected at now_ns: decay the multiplier for the
 * healthy intervals since its last return, grow it, and compute the end.
 * The end is exact (the kernel returns the endpoint lazily at the first
 * pick at or after until_ns), where Envoy returns it at the first interval
 * tick after the ejection time has passed. until_ns is never 0 nor
 * BPFMESH_EJECTING.
 */
BPFMESH_INLINE struct bpfmesh_ejection bpfmesh_outlier_eject(const struct cluster_cfg *cfg,
							    __u32 times_ejected,
							    __u64 returned_at_ns, __u64 now_ns)
{
	__u64 max_ns = bpfmesh_outlier_max_ejection_ns(cfg->max_ejection_ns, cfg->base_ejection_ns);
	struct bpfmesh_ejection e = {};
	__u64 dur;

	e.times_ejected = bpfmesh_outlier_decay(times_ejected, returned_at_ns, now_ns,
						cfg->interval_ns);
	e.times_ejected = bpfmesh_outlier_backoff_next(e.times_ejected, cfg->base_ejection_ns,
						       max_ns);
	dur = bpfmesh_outlier_ejection_ns(e.times_ejected, cfg->base_ejection_ns, max_ns);
	e.until_ns = now_ns + dur;
	if (e.until_ns < now_ns || e.until_ns == BPFMESH_EJECTING)
		e.until_ns = BPFMESH_EJECTING - 1;
	if (e.until_ns == 0)
		e.until_ns = 1;
	return e;
}

/* Is an endpoint whose ejection ends at until_ns due back at now_ns? */
BPFMESH_INLINE int bpfmesh_outlier_is_due_back(__u64 until_ns, __u64 now_ns)
{
	return until_ns != 0 && until_ns != BPFMESH_EJECTING && now_ns >= until_ns;
}

#endif /* BPFMESH_OUTLIER_H */
