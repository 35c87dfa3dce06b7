// SPDX-License-Identifier: Apache-2.0
/* The trafficPolicy blocks in force for a cluster and their defaults (see
 * traffic_policy.h). The rules are Istio's (pilot: MergeTrafficPolicy,
 * GetPortLevelTrafficPolicy, applyLoadBalancer, ApplyRingHashLoadBalancer,
 * applyConnectionPool) and Envoy's defaults. */
#include <string.h>

#include "traffic_policy.h"

/* GetPortLevelTrafficPolicy: the first portLevelSettings entry whose number
 * is the service port. */
static const struct tp_port *tp_port_entry(const struct tp_summary *tp, uint32_t port)
{
	size_t i;

	for (i = 0; port && i < tp->n_ports; i++) {
		if (tp->ports[i].port == port)
			return &tp->ports[i];
	}
	return NULL;
}

#define TP_BLOCK(spec) ((spec).present ? &(spec) : NULL)

/* The blocks one trafficPolicy sets at a port; true when a port entry
 * decided them (then all of them, set or not). */
static bool tp_blocks_at(const struct tp_summary *tp, uint32_t port, struct tp_blocks *b)
{
	const struct tp_port *pl = tp_port_entry(tp, port);

	if (pl) {
		*b = (struct tp_blocks){ TP_BLOCK(pl->lb), TP_BLOCK(pl->cp), TP_BLOCK(pl->od) };
		return true;
	}
	*b = (struct tp_blocks){ TP_BLOCK(tp->lb), TP_BLOCK(tp->cp), TP_BLOCK(tp->od) };
	return false;
}

static const struct dr_subset *tp_find_subset(const struct dest_rule *dr, const char *name)
{
	size_t i;

	for (i = 0; name && i < dr->n_subsets; i++) {
		if (dr->subsets[i].name && strcmp(dr->subsets[i].name, name) == 0)
			return &dr->subsets[i];
	}
	return NULL;
}

void traffic_policy_blocks(const struct dest_rule *dr, const char *subset, uint32_t port,
			   struct tp_blocks *out)
{
	const struct dr_subset *s;
	struct tp_blocks sub;

	memset(out, 0, sizeof(*out));
	if (!dr)
		return;
	if (dr->tp.present)
		tp_blocks_at(&dr->tp, port, out);
	s = tp_find_subset(dr, subset);
	if (!s || !s->tp.present)
		return;
	/* MergeTrafficPolicy: a matching subset port entry replaces every
	 * block; otherwise each block the subset sets replaces the top
	 * level's. */
	if (tp_blocks_at(&s->tp, port, &sub)) {
		*out = sub;
		return;
	}
	if (sub.lb)
		out->lb = sub.lb;
	if (sub.cp)
		out->cp = sub.cp;
	if (sub.od)
		out->od = sub.od;
}

/* ---- loadBalancer ------------------------------------------------------ */

/* applyLoadBalancer: simple wins when given (LEAST_CONN is LEAST_REQUEST,
 * unset is Istio's default LEAST_REQUEST), then consistentHash replaces it
 * (the API allows only one of the two). */
static enum lb_algo lb_simple_algo(enum lb_simple s)
{
	switch (s) {
	case LB_RANDOM:
		return LB_ALGO_RANDOM;
	case LB_ROUND_ROBIN:
		return LB_ALGO_ROUND_ROBIN;
	case LB_PASSTHROUGH:
		return LB_ALGO_PASSTHROUGH;
	default:
		return LB_ALGO_LEAST_REQUEST;
	}
}

void lb_from_spec(const struct lb_spec *lb, struct lb_config *out)
{
	memset(out, 0, sizeof(*out));
	out->algo = LB_ALGO_LEAST_REQUEST;
	if (!lb || !lb->present)
		return;
	out->src = &lb->src;
	out->locality = lb->locality.present ? &lb->locality : NULL;
	out->algo = lb_simple_algo(lb->simple);
	if (!lb->has_hash)
		return;
	out->hash_key = lb->hash_key;
	out->hash_name = lb->hash_name;
	/* ApplyRingHashLoadBalancer: maglev if asked, else a ring (Envoy's
	 * defaults where the size is 0, which Istio leaves unset). */
	if (lb->algo == HASH_ALGO_MAGLEV) {
		out->algo = LB_ALGO_MAGLEV;
		out->maglev_table_size = lb->maglev_table_size ? lb->maglev_table_size :
			TP_DEFAULT_MAGLEV_TABLE;
	} else {
		out->algo = LB_ALGO_RING_HASH;
		out->ring_min_size = lb->ring_min_size ? lb->ring_min_size :
			TP_DEFAULT_RING_MIN_SIZE;
	}
}

void lb_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		  struct lb_config *out)
{
	struct tp_blocks b;

	traffic_policy_blocks(dr, subset, port, &b);
	lb_from_spec(b.lb, out);
}

/* ---- connectionPool.tcp ------------------------------------------------ */

/* applyConnectionPool: maxConnections only when > 0 (else Istio's default
 * threshold, MaxUint32); connectTimeout when given (else the mesh's);
 * idleTimeout "0s" turns the timeout off. */
void conn_from_spec(const struct cp_spec *cp, struct conn_config *out)
{
	memset(out, 0, sizeof(*out));
	out->max_connections = UINT32_MAX;
	out->connect_timeout_ns = TP_DEFAULT_CONNECT_TIMEOUT;
	out->idle_timeout_ns = TP_DEFAULT_TCP_IDLE_TIMEOUT;
	if (!cp || !cp->present)
		return;
	out->src = &cp->src;
	if (cp->has_max_connections && cp->max_connections > 0)
		out->max_connections = (uint32_t)cp->max_connections;
	if (cp->has_connect_timeout)
		out->connect_timeout_ns = (uint64_t)cp->connect_timeout_ns;
	if (cp->has_max_duration)
		out->max_duration_ns = (uint64_t)cp->max_duration_ns;
	if (cp->has_idle_timeout)
		out->idle_timeout_ns = (uint64_t)cp->idle_timeout_ns;
	out->keepalive = cp->keepalive.present;
	out->keepalive_probes = cp->keepalive.has_probes ? cp->keepalive.probes : 0;
	out->keepalive_time_ns = cp->keepalive.has_time ? (uint64_t)cp->keepalive.time_ns : 0;
	out->keepalive_interval_ns = cp->keepalive.has_interval ?
		(uint64_t)cp->keepalive.interval_ns : 0;
}

void conn_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		    struct conn_config *out)
{
	struct tp_blocks b;

	traffic_policy_blocks(dr, subset, port, &b);
	conn_from_spec(b.cp, out);
}
