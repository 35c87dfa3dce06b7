// SPDX-License-Identifier: Apache-2.0
/* Istio's workload labels from an endpoint's labels (see workload.h). */
#include <string.h>

#include "metrics/workload.h"

/* The value of the first of keys (NULL-terminated) that labels holds. */
static const char *mx_first_label(const struct labels *l, const char *const *keys)
{
	size_t i;

	for (; *keys; keys++) {
		for (i = 0; l && i < l->n; i++) {
			if (strcmp(l->v[i].key, *keys) == 0)
				return l->v[i].val;
		}
	}
	return NULL;
}

void mx_workload_from_labels(struct mx_workload *w, const struct labels *labels,
			     const char *we_name, const char *we_ns)
{
	static const char *const workload_keys[] = { "service.istio.io/workload-name", NULL };
	static const char *const app_keys[] = { "app", NULL };
	static const char *const version_keys[] = { "version", NULL };
	static const char *const name_keys[] = { "service.istio.io/canonical-name",
						 "app.kubernetes.io/name", "app", NULL };
	static const char *const rev_keys[] = { "service.istio.io/canonical-revision",
						"app.kubernetes.io/version", "version", NULL };

	memset(w, 0, sizeof(*w));
	w->workload = mx_first_label(labels, workload_keys);
	if (!w->workload)
		w->workload = we_name;
	w->ns = we_ns;
	w->app = mx_first_label(labels, app_keys);
	w->version = mx_first_label(labels, version_keys);
	w->canonical_service = mx_first_label(labels, name_keys);
	if (!w->canonical_service)
		w->canonical_service = w->workload;
	w->canonical_revision = mx_first_label(labels, rev_keys);
	if (!w->canonical_revision)
		w->canonical_revision = "latest";
}
