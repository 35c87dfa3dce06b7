// SPDX-License-Identifier: Apache-2.0
/* connectionPool.tcp in the kernel's terms (connpool_policy.h). */
#include <string.h>

#include "connpool_policy.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* TCP_USER_TIMEOUT takes an int of milliseconds: a longer connectTimeout
 * (Istio accepts any duration >= 1 ms) is cut to the longest it can hold,
 * 24.8 days, which no SYN retransmission reaches anyway. */
static __u32 timeout_ms(uint64_t ns)
{
	uint64_t ms = ns / NS_PER_MS;

	return ms > BPFMESH_CONNPOOL_MAX_TIMEOUT_MS ? BPFMESH_CONNPOOL_MAX_TIMEOUT_MS : (__u32)ms;
}

/* Istio's setKeepAliveSettings passes whole seconds (Duration.Seconds);
 * the kernel's TCP_KEEPIDLE / TCP_KEEPINTVL stop at 32767 s. */
static __u32 keepalive_s(uint64_t ns)
{
	uint64_t s = ns / NS_PER_S;

	return s > 32767 ? 32767 : (__u32)s;
}

void connpool_cfg_from(const struct conn_config *cc, struct connpool_cfg *out)
{
	memset(out, 0, sizeof(*out));
	/* Istio: maxConnections unset or 0 leaves Envoy's threshold at
	 * MaxUint32, which is no limit. */
	if (cc->max_connections != UINT32_MAX) {
		out->flags |= BPFMESH_CONNPOOL_F_LIMIT;
		out->max_connections = cc->max_connections;
	}
	out->connect_timeout_ms = timeout_ms(cc->connect_timeout_ns);
	if (cc->keepalive) {
		out->flags |= BPFMESH_CONNPOOL_F_KEEPALIVE;
		out->keepalive_time_s = keepalive_s(cc->keepalive_time_ns);
		out->keepalive_interval_s = keepalive_s(cc->keepalive_interval_ns);
		/* TCP_KEEPCNT stops at 127. */
		out->keepalive_probes = cc->keepalive_probes > 127 ? 127 : cc->keepalive_probes;
	}
	if (cc->max_duration_ns) {
		out->flags |= BPFMESH_CONNPOOL_F_DURATION;
		out->max_duration_ns = cc->max_duration_ns;
	}
	if (cc->idle_timeout_ns) {
		out->flags |= BPFMESH_CONNPOOL_F_IDLE;
		out->idle_timeout_ns = cc->idle_timeout_ns;
	}
}

void connpool_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
			struct connpool_cfg *out)
{
	struct conn_config cc;

	conn_effective(dr, subset, port, &cc);
	connpool_cfg_from(&cc, out);
}
