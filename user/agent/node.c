// SPDX-License-Identifier: Apache-2.0
/*
 * This node as locality-aware routing sees it (issue 11): --locality
 * REGION/ZONE/SUBZONE and --node-labels K=V,... become the caller of
 * policy/locality.h, whose topology labels come from the locality. Without
 * either the node has no locality and no priorities apply (as Istio does
 * for a proxy without one).
 *
 * With Kubernetes discovery (issue 16) the Node object supplies both where
 * the command line does not: its topology labels give the locality (as
 * Istio's proxy takes it from its node's topology.kubernetes.io/region,
 * /zone and topology.istio.io/subzone), its labels the labels
 * failoverPriority matches. The agent serves every pod on its node, so the
 * node's labels are the client's. A change of the Node's labels applies at
 * the next reload, which its watch event starts. A flag given on the
 * command line always wins: it is how an operator pins a node.
 */
#include <errno.h>
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

/* "k=v,k2=v2" into labels over a copy of the string: 0, -ENOMEM, or
 * -EINVAL with *bad naming the item that is not KEY=VALUE. */
static int parse_labels(struct agent_node *n, const char *v, const char **bad)
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
	n->caller.labels = n->labels;
	if (!n->labels_str || !n->labels)
		return -ENOMEM;
	for (item = strtok_r(n->labels_str, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq || eq == item) {
			*bad = item;
			return -EINVAL;
		}
		*eq = '\0';
		n->labels[n->caller.n_labels++] = (struct loc_label){ item, eq + 1 };
	}
	return 0;
}

int agent_node_option(struct agent *ag, int argc, char **argv, int *i)
{
	const char *v, *bad = "";

	if ((v = cli_option_value(argc, argv, i, "--locality"))) {
		if (!locality_is_valid(v)) {
			cli_error("--locality: '%s' is not REGION[/ZONE[/SUBZONE]] with no "
				  "empty part", v);
			return -1;
		}
		ag->node.caller.locality = v;
		ag->node.locality_cli = true;
		return 1;
	}
	if ((v = cli_option_value(argc, argv, i, "--node-labels"))) {
		ag->node.labels_cli = true;
		if (!parse_labels(&ag->node, v, &bad))
			return 1;
		cli_error("--node-labels: '%s' is not KEY=VALUE", bad);
		return -1;
	}
	return 0;
}

/* *cur := a copy of v (NULL stays NULL); true when it changed. */
static bool take_string(char **cur, const char *v, int *err)
{
	char *copy;

	if ((!*cur && !v) || (*cur && v && !strcmp(*cur, v)))
		return false;
	copy = v ? strdup(v) : NULL;
	if (v && !copy) {
		*err = -ENOMEM;
		return false;
	}
	free(*cur);
	*cur = copy;
	return true;
}

int agent_node_from_cluster(struct agent *ag, const char *node, const char *locality,
			    const char *labels)
{
	struct agent_node *n = &ag->node;
	const char *bad = "";
	int err = 0;

	if (!n->locality_cli && take_string(&n->locality_str, locality, &err)) {
		n->caller.locality = n->locality_str;
		agent_log("node %s: locality %s (from its topology labels)", node,
			  locality ? locality : "(none: no region label)");
	}
	if (!n->labels_cli && take_string(&n->cluster_labels, labels, &err)) {
		err = parse_labels(n, labels ? labels : "", &bad);
		if (err == -EINVAL)
			agent_log("node %s: label '%s' is not KEY=VALUE: labels not used", node, bad);
		if (err) {
			n->caller.n_labels = 0;
			free(n->cluster_labels);
			n->cluster_labels = NULL; /* tried again at the next reload */
		} else {
			agent_log("node %s: %zu labels for failoverPriority", node,
				  n->caller.n_labels);
		}
	}
	ag->applier.caller = n->caller;
	return err == -ENOMEM ? err : 0;
}

void agent_node_free(struct agent_node *n)
{
	free(n->labels);
	free(n->labels_str);
	free(n->locality_str);
	free(n->cluster_labels);
	memset(n, 0, sizeof(*n));
}
