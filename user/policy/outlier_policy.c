// SPDX-License-Identifier: Apache-2.0
/* Effective outlier detection of a cluster (see outlier_policy.h). The rules
 * are Istio's (applyOutlierDetection) and Envoy's defaults; which block
 * applies is traffic_policy_blocks()'s (traffic_policy.c). */
#include <string.h>

#include "outlier_policy.h"
#include "traffic_policy.h"

/* Istio passes a UInt32Value count through and enforces it (enforcing_* =
 * 100) only when > 0; an explicit 0 turns the detector off (enforcing_* = 0).
 * Unset leaves Envoy's default, given here as dflt (0 for the gateway
 * detector, whose enforcing default is 0). */
static uint32_t outlier_threshold(bool has, uint32_t v, uint32_t dflt)
{
	return has ? v : dflt;
}

void outlier_from_spec(const struct od_spec *od, struct outlier_config *out)
{
	memset(out, 0, sizeof(*out));
	if (!od || !od->present)
		return;
	out->enabled = true;
	out->src = &od->src;
	out->consecutive_5xx =
		outlier_threshold(od->has_5xx, od->consecutive_5xx, OUTLIER_DEFAULT_CONSECUTIVE);
	out->consecutive_gateway = outlier_threshold(od->has_gateway, od->consecutive_gateway, 0);
	/* With the split, Istio sets consecutive_local_origin_failure only when
	 * > 0; otherwise Envoy's default applies: 5, enforced at 100%. */
	out->split_local_origin = od->split_local_origin;
	if (od->split_local_origin)
		out->consecutive_local_origin = od->consecutive_local_origin > 0 ?
			od->consecutive_local_origin : OUTLIER_DEFAULT_CONSECUTIVE;
	out->interval_ns = od->has_interval ? (uint64_t)od->interval_ns :
		OUTLIER_DEFAULT_INTERVAL_NS;
	out->base_ejection_ns = od->has_base_ejection ? (uint64_t)od->base_ejection_ns :
		OUTLIER_DEFAULT_BASE_EJECTION_NS;
	/* Istio sets max_ejection_percent only when > 0 (0 cannot be told from
	 * unset), so 0 means Envoy's default 10. */
	out->max_ejection_percent = od->max_ejection_percent > 0 ?
		(uint32_t)od->max_ejection_percent : OUTLIER_DEFAULT_MAX_EJECTION_PERCENT;
	/* Istio always sets healthy_panic_threshold to minHealthPercent (0 when
	 * unset, which disables Envoy's default panic at 50%). */
	out->min_health_percent = (uint32_t)od->min_health_percent;
}

void outlier_effective(const struct dest_rule *dr, const char *subset, uint32_t port,
		       struct outlier_config *out)
{
	struct tp_blocks b;

	traffic_policy_blocks(dr, subset, port, &b);
	outlier_from_spec(b.od, out);
}
