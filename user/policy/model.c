// SPDX-License-Identifier: Apache-2.0
/* Model lifetime and host/label matching (see model.h). */
#include <string.h>

#include "model.h"

void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->ses_tail = &m->ses;
	m->wes_tail = &m->wes;
	m->vss_tail = &m->vss;
	m->drs_tail = &m->drs;
	m->docs_tail = &m->docs;
	m->visits.left = MODEL_ALIAS_VISITS;
	m->arena.limit = MODEL_MAX_BYTES;
}

void model_free(struct model *m)
{
	arena_free(&m->arena);
	model_init(m);
}

const char *model_resolve_host(struct arena *a, const char *host, const char *ns)
{
	if (strchr(host, '.') || strcmp(host, "*") == 0 || host[0] == '\0')
		return host;
	return arena_printf(a, "%s.%s.svc.cluster.local", host, ns);
}

bool model_host_matches(const char *pattern, const char *host)
{
	size_t pl, hl;

	if (strcmp(pattern, "*") == 0 || strcmp(pattern, host) == 0)
		return true;
	if (strncmp(pattern, "*.", 2) != 0)
		return false;
	pl = strlen(pattern) - 1; /* ".suffix" */
	hl = strlen(host);
	return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
}

bool model_labels_match(const struct labels *sel, const struct labels *labels)
{
	size_t i, j;

	for (i = 0; i < sel->n; i++) {
		for (j = 0; j < labels->n; j++) {
			if (strcmp(sel->v[i].key, labels->v[j].key) == 0)
				break;
		}
		if (j == labels->n || strcmp(sel->v[i].val, labels->v[j].val) != 0)
			return false;
	}
	return true;
}
