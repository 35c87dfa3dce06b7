// SPDX-License-Identifier: Apache-2.0
/* DestinationRule spec -> model: host, subsets (name + labels); traffic
 * policies are validated and summarised for the lint (parse_tp.c). */
#include <string.h>

#include "check.h"
#include "parse_kinds.h"

static void sub_name(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct dr_subset *s = obj;
	const char *err;

	if (!yget_str(d, n, path, &s->name))
		return;
	if ((err = check_dns1123_label(s->name)))
		ydiag(d, n, DIAG_ERROR, path, "invalid subset name \"%s\": %s", s->name, err);
}

static void sub_labels(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_labels(d, n, path, &((struct dr_subset *)obj)->labels, false);
}

static void sub_tp(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_traffic_policy(d, n, path, &((struct dr_subset *)obj)->tp);
}

static const struct yfield subset_fields[] = {
	{ "name", sub_name },
	{ "labels", sub_labels },
	{ "trafficPolicy", sub_tp },
	{ NULL, NULL },
};

static void dr_subset_item(struct ydoc *d, yaml_node_t *item, const char *path, size_t idx,
			   void *obj)
{
	struct dest_rule *dr = obj;
	struct dr_subset *s = &dr->subsets[dr->n_subsets];
	char sub[YPATH_MAX];

	s->src = ysrc(d, item, path);
	ywalk_map(d, item, path, subset_fields, s);
	if (item->type != YAML_MAPPING_NODE)
		return;
	ypath_key(sub, path, "name");
	if (!s->name || !s->name[0]) {
		ydiag(d, item, DIAG_ERROR, sub, "subset name is required");
		return;
	}
	dr->n_subsets++;
}

static void dr_subsets(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct dest_rule *dr = obj;
	size_t len = yseq_len(n);

	dr->subsets = arena_calloc(d->a, len ? len : 1, sizeof(*dr->subsets));
	if (dr->subsets)
		yseq_each(d, n, path, dr_subset_item, dr);
}

static void dr_host(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	struct dest_rule *dr = obj;
	const char *h, *err;

	if (!yget_str(d, n, path, &h))
		return;
	dr->host_src = ysrc(d, n, path);
	if (!check_parse_ipv4(h, NULL) && (err = check_wildcard_domain(h))) {
		ydiag(d, n, DIAG_ERROR, path, "invalid host \"%s\": %s", h, err);
		return;
	}
	dr->host = model_resolve_host(d->a, h, dr->r.ns);
}

static void dr_tp(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	parse_traffic_policy(d, n, path, &((struct dest_rule *)obj)->tp);
}

static void dr_export_to(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	const char **v;

	parse_str_list(d, n, path, &v, NULL);
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "visibility is not enforced: the node agent serves every namespace");
}

static void dr_selector(struct ydoc *d, yaml_node_t *n, const char *path, void *obj)
{
	ydiag(d, ykey(d, n), DIAG_UNENFORCED, path,
	      "per-client DestinationRules are not yet supported; applied to every client");
}

static const struct yfield dr_fields[] = {
	{ "host", dr_host },
	{ "trafficPolicy", dr_tp },
	{ "subsets", dr_subsets },
	{ "exportTo", dr_export_to },
	{ "workloadSelector", dr_selector },
	{ NULL, NULL },
};

void parse_destination_rule(struct ydoc *d, yaml_node_t *spec, const char *path,
			    struct dest_rule *dr)
{
	char sub[YPATH_MAX];

	ywalk_map(d, spec, path, dr_fields, dr);
	ypath_key(sub, path, "host");
	if (!dr->host && !ymap_get(d, spec, "host"))
		ydiag(d, spec, DIAG_ERROR, sub, "host is required");
}
