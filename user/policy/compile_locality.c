// SPDX-License-Identifier: Apache-2.0
/*
 * A cluster's localityLbSetting as it applies, into image_set.loc, and each
 * endpoint's locality and failoverPriority label values into its meta
 * (image.h). Which branch applies is Istio's (pilot's
 * GetLocalityLbSetting and ApplyLocalityLoadBalancer):
 *  - the DestinationRule's setting, else the mesh's default, which is
 *    enabled with no rules; enabled: false turns everything off;
 *  - distribute, if given, applies with or without outlierDetection;
 *  - otherwise failover (its rules, failoverPriority, or the default
 *    priorities by locality) applies only with outlierDetection: without
 *    it Envoy would never see an endpoint fail (lint warns).
 * The node's locality is not known here: the agent applies it
 * (user/apply/plan_locality.c).
 */
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "compile_locality.h"
#include "outlier_policy.h"
#include "traffic_policy.h"

static enum loc_mode cluster_mode(const struct locality_lb *l, bool outlier)
{
	if (l && l->has_enabled && !l->enabled)
		return LOC_MODE_NONE;
	if (l && l->n_distribute)
		return LOC_MODE_DISTRIBUTE;
	return outlier ? LOC_MODE_FAILOVER : LOC_MODE_NONE;
}

/* NULL stays NULL; false when a copy fails. */
static bool dup_str(char **dst, const char *src, size_t len)
{
	*dst = src ? strndup(src, len) : NULL;
	return !src || *dst;
}

static bool copy_failover(struct image_locality *il, const struct locality_lb *l)
{
	size_t i;
	bool ok = true;

	il->failover = calloc(l->n_failover + 1, sizeof(*il->failover));
	if (!il->failover)
		return false;
	for (i = 0; i < l->n_failover; i++) {
		const char *from = l->failover[i].from ? l->failover[i].from : "";
		const char *to = l->failover[i].to ? l->failover[i].to : "";

		il->failover[i].from = strdup(from);
		il->failover[i].to = strdup(to);
		ok &= il->failover[i].from && il->failover[i].to;
	}
	il->s.failover = il->failover;
	il->s.n_failover = l->n_failover;
	return ok;
}

/* Istio's priorityLabelOverrides: "key=value" gives the caller's value. */
static bool copy_failover_priority(struct image_locality *il, const struct locality_lb *l)
{
	size_t i, n = l->n_failover_priority;
	bool ok = true;

	il->fp_keys = calloc(n + 1, sizeof(*il->fp_keys));
	il->fp_override = calloc(n + 1, sizeof(*il->fp_override));
	if (!il->fp_keys || !il->fp_override)
		return false;
	for (i = 0; i < n; i++) {
		const char *kv = l->failover_priority[i], *eq = strchr(kv, '=');
		bool split = eq && !strchr(eq + 1, '=');

		ok &= dup_str(&il->fp_keys[i], kv, split ? (size_t)(eq - kv) : strlen(kv));
		ok &= dup_str(&il->fp_override[i], split ? eq + 1 : NULL, split ? strlen(eq + 1) : 0);
	}
	il->s.fp_keys = (const char *const *)il->fp_keys;
	il->s.fp_override = (const char *const *)il->fp_override;
	il->s.n_fp = n;
	return ok;
}

static bool copy_distribute(struct image_locality *il, const struct locality_lb *l)
{
	size_t i, j;
	bool ok = true;

	il->distribute = calloc(l->n_distribute + 1, sizeof(*il->distribute));
	if (!il->distribute)
		return false;
	il->s.distribute = il->distribute;
	il->s.n_distribute = l->n_distribute;
	for (i = 0; i < l->n_distribute && ok; i++) {
		const struct locality_distribute *d = &l->distribute[i];
		struct loc_weight *to = calloc(d->n_to + 1, sizeof(*to));

		il->distribute[i].from = strdup(d->from ? d->from : "");
		il->distribute[i].to = to;
		ok = to && il->distribute[i].from;
		for (j = 0; ok && j < d->n_to; j++) {
			to[j].locality = strdup(d->to[j].locality);
			to[j].weight = d->to[j].weight;
			ok = to[j].locality != NULL;
			il->distribute[i].n_to = j + 1;
		}
	}
	return ok;
}

bool cset_locality(const struct cctx *c, const struct cset *s, struct image_set *out)
{
	const struct dest_rule *dr = registry_dr_for(c->reg, s->svc->host, s->subset);
	const char *subset = s->subset ? s->subset->name : NULL;
	struct outlier_config oc;
	struct lb_config lb;
	const struct locality_lb *l;

	outlier_effective(dr, subset, s->svc->port->number, &oc);
	lb_effective(dr, subset, s->svc->port->number, &lb);
	l = lb.locality;
	memset(&out->loc, 0, sizeof(out->loc));
	out->loc.s.mode = cluster_mode(l, oc.enabled);
	if (out->loc.s.mode == LOC_MODE_DISTRIBUTE)
		return copy_distribute(&out->loc, l);
	if (out->loc.s.mode == LOC_MODE_FAILOVER && l)
		return copy_failover(&out->loc, l) && copy_failover_priority(&out->loc, l);
	return true;
}

/* The endpoint's value of a label: its own, else (pilot augments endpoint
 * labels with them) the topology label from its locality. */
static const char *ep_label(const struct reg_ep *ep, const char *key, char *buf, size_t len)
{
	size_t i;

	for (i = 0; ep->labels && i < ep->labels->n; i++)
		if (!strcmp(ep->labels->v[i].key, key))
			return ep->labels->v[i].val;
	return locality_label(ep->locality, key, buf, len);
}

bool cset_ep_locality(const struct image_set *set, const struct reg_ep *ep,
		      struct image_ep_meta *m)
{
	size_t k, n = set->loc.s.n_fp;
	char buf[256];
	bool ok;

	ok = dup_str(&m->locality, ep->locality, ep->locality ? strlen(ep->locality) : 0);
	if (!ok || n == 0)
		return ok;
	m->fp_values = calloc(n, sizeof(*m->fp_values));
	if (!m->fp_values)
		return false;
	for (k = 0; k < n; k++) {
		const char *v = ep_label(ep, set->loc.s.fp_keys[k], buf, sizeof(buf));

		ok &= dup_str(&m->fp_values[k], v, v ? strlen(v) : 0);
	}
	return ok;
}

void image_locality_free(struct image_locality *il)
{
	size_t i, j;

	for (i = 0; il->failover && i < il->s.n_failover; i++) {
		free((char *)il->failover[i].from);
		free((char *)il->failover[i].to);
	}
	for (i = 0; il->fp_keys && i < il->s.n_fp; i++) {
		free(il->fp_keys[i]);
		free(il->fp_override[i]);
	}
	for (i = 0; il->distribute && i < il->s.n_distribute; i++) {
		free((char *)il->distribute[i].from);
		for (j = 0; j < il->distribute[i].n_to; j++)
			free((char *)il->distribute[i].to[j].locality);
		free((struct loc_weight *)il->distribute[i].to);
	}
	free(il->failover);
	free(il->fp_keys);
	free(il->fp_override);
	free(il->distribute);
	memset(il, 0, sizeof(*il));
}
