// SPDX-License-Identifier: Apache-2.0
/*
 * This node as locality-aware routing sees it (issue 11): --locality
 * REGION/ZONE/SUBZONE and --node-labels K=V,... become the caller of
 * policy/locality.h, whose topology labels come from the locality. Without
 * either the node has no locality and no priorities apply (as Istio does
 * for a proxy without one).
 */
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "cli/cli.h"

/* region[/zone[/subzone]], no empty part (the policy's own rule). */
static bool locality_is_valid(const char *s)
{
	const char *z = strchr(s, '/'), *sz = z ? strchr(z + 1, '/') : NULL;

	return s[0] && s[0] != '/' && (!z || (z[1] && z[1] != '/')) && (!sz || sz[1]);
}

/* "k=v,k2=v2" into labels over a copy of the string; -1 on a bad item. */
static int parse_labels(struct agent_node *n, const char *v)
{
	char *save = NULL, *item;
	size_t cap = 1;
	const char *p;

	for (p = v; *p; p++)
		cap += *p == ',';
	free(n->labels_str);
	free(n->labels);
	n->labels_str = strdup(v);
	n->labels = calloc(cap, sizeof(*n->labels));
	n->caller.n_labels = 0;
	if (!n->labels_str || !n->labels)
		return -1;
	for (item = strtok_r(n->labels_str, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq || eq == item) {
			cli_error("--node-labels: '%s' is not KEY=VALUE", item);
			return -1;
		}
		*eq = '\0';
		n->labels[n->caller.n_labels++] = (struct loc_label){ item, eq + 1 };
	}
	n->caller.labels = n->labels;
	return 0;
}

int agent_node_option(struct agent *ag, int argc, char **argv, int *i)
{
	const char *v;

	if ((v = cli_option_value(argc, argv, i, "--locality"))) {
		if (!locality_is_valid(v)) {
			cli_error("--locality: '%s' is not REGION[/ZONE[/SUBZONE]] with no "
				  "empty part", v);
			return -1;
		}
		ag->node.caller.locality = v;
		return 1;
	}
	if ((v = cli_option_value(argc, argv, i, "--node-labels")))
		return parse_labels(&ag->node, v) ? -1 : 1;
	return 0;
}

void agent_node_free(struct agent_node *n)
{
	free(n->labels);
	free(n->labels_str);
	memset(n, 0, sizeof(*n));
}
