// SPDX-License-Identifier: Apache-2.0
/*
 * deploy/ (issue 16) without a cluster: `kubectl kustomize deploy/` must
 * render it (when a kubectl is installed; `kubectl apply --dry-run=client`
 * needs a server for its OpenAPI schema, so it is not used), and a
 * structure check runs on what was rendered (or on the files without
 * kubectl): RBAC is list/watch on exactly the kinds the agent watches
 * (k8s_kinds, the watch's own table), the DaemonSet is not privileged and
 * adds exactly CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, every volume,
 * variable and ConfigMap key it names exists.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <yaml.h>

#include "k8s/k8s.h"

#define MAX_DOCS 16

struct docs {
	yaml_document_t d[MAX_DOCS];
	int n;
};

static void docs_load(struct docs *ds, const char *text, size_t len)
{
	yaml_parser_t p;

	assert_true(yaml_parser_initialize(&p));
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (ds->n < MAX_DOCS) {
		if (!yaml_parser_load(&p, &ds->d[ds->n]))
			fail_msg("invalid YAML: %s at line %zu", p.problem, p.problem_mark.line + 1);
		if (!yaml_document_get_root_node(&ds->d[ds->n])) {
			yaml_document_delete(&ds->d[ds->n]);
			break;
		}
		ds->n++;
	}
	yaml_parser_delete(&p);
}

static char *slurp(FILE *f, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	for (;;) {
		size_t n;

		if (*len + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + *len, 1, 4096, f);
		if (!n)
			break;
		*len += n;
	}
	buf[*len] = '\0';
	return buf;
}

/* "a.b.0.c" under n; NULL when absent. */
static yaml_node_t *get(yaml_document_t *d, yaml_node_t *n, const char *path)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && n; tok = strtok_r(NULL, ".", &save)) {
		if (n->type == YAML_SEQUENCE_NODE) {
			long i = atol(tok);
			yaml_node_item_t *it = n->data.sequence.items.start + i;

			n = it < n->data.sequence.items.top ? yaml_document_get_node(d, *it) : NULL;
		} else if (n->type == YAML_MAPPING_NODE) {
			yaml_node_pair_t *p;
			yaml_node_t *found = NULL;

			for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
				yaml_node_t *k = yaml_document_get_node(d, p->key);

				if (k->type == YAML_SCALAR_NODE &&
				    strcmp((char *)k->data.scalar.value, tok) == 0)
					found = yaml_document_get_node(d, p->value);
			}
			n = found;
		} else {
			n = NULL;
		}
	}
	return n;
}

static const char *str(yaml_document_t *d, yaml_node_t *n, const char *path)
{
	n = get(d, n, path);
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static size_t seq_len(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
		       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		       : 0;
}

/* The document of this kind (and name, if given). */
static yaml_node_t *find(struct docs *ds, const char *kind, const char *name, yaml_document_t **d)
{
	int i;

	for (i = 0; i < ds->n; i++) {
		yaml_node_t *root = yaml_document_get_root_node(&ds->d[i]);
		const char *k = str(&ds->d[i], root, "kind"), *nm = str(&ds->d[i], root, "metadata.name");

		if (k && !strcmp(k, kind) && (!name || (nm && !strcmp(nm, name)))) {
			*d = &ds->d[i];
			return root;
		}
	}
	fail_msg("no %s %s in deploy/", kind, name ? name : "");
	return NULL;
}

/* A sequence of scalars as one "a,b,c" string. */
static void seq_text(yaml_document_t *d, yaml_node_t *n, char *out, size_t len)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < seq_len(n); i++) {
		char idx[24];

		snprintf(idx, sizeof(idx), "%zu", i);
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "",
					 str(d, n, idx) ? str(d, n, idx) : "?");
	}
}

/* deploy/ as kustomize renders it, or its files when there is no kubectl. */
static void load_deploy(struct docs *ds)
{
	static const char *const files[] = { "deploy/rbac.yaml", "deploy/configmap.yaml",
					     "deploy/daemonset.yaml" };
	size_t len, i;
	char *text;
	FILE *f;

	memset(ds, 0, sizeof(*ds));
	if (system("command -v kubectl >/dev/null 2>&1") == 0) {
		f = popen("kubectl kustomize deploy/ 2>&1", "r");
		assert_non_null(f);
		text = slurp(f, &len);
		if (pclose(f) != 0)
			fail_msg("kubectl kustomize deploy/ failed:\n%s", text);
		docs_load(ds, text, len);
		free(text);
		assert_int_equal(ds->n, 6);
		return;
	}
	fprintf(stderr, "  no kubectl: checking deploy/*.yaml as written\n");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		f = fopen(files[i], "r");
		assert_non_null(f);
		text = slurp(f, &len);
		fclose(f);
		docs_load(ds, text, len);
		free(text);
	}
	assert_int_equal(ds->n, 6);
}

static void docs_free(struct docs *ds)
{
	int i;

	for (i = 0; i < ds->n; i++)
		yaml_document_delete(&ds->d[i]);
}

/* Read-only, on exactly what the watch lists and watches. */
static void test_rbac_exactly_what_is_watched(void **state)
{
	struct docs ds;
	yaml_document_t *d;
	yaml_node_t *role, *rules;
	bool covered[K8S_N_KINDS] = { false };
	size_t r, i;
	int k;

	load_deploy(&ds);
	role = find(&ds, "ClusterRole", "bpfmesh", &d);
	rules = get(d, role, "rules");
	assert_true(seq_len(rules) > 0);
	for (r = 0; r < seq_len(rules); r++) {
		char idx[32], verbs[128], groups[256];
		yaml_node_t *rule;

		snprintf(idx, sizeof(idx), "%zu", r);
		rule = get(d, rules, idx);
		seq_text(d, get(d, rule, "verbs"), verbs, sizeof(verbs));
		assert_string_equal(verbs, "list,watch");
		seq_text(d, get(d, rule, "apiGroups"), groups, sizeof(groups));
		for (i = 0; i < seq_len(get(d, rule, "resources")); i++) {
			const char *res;

			snprintf(idx, sizeof(idx), "resources.%zu", i);
			res = str(d, rule, idx);
			for (k = 0; k < K8S_N_KINDS; k++)
				if (!strcmp(k8s_kinds[k].resource, res) &&
				    !strcmp(k8s_kinds[k].group, groups))
					break;
			if (k == K8S_N_KINDS)
				fail_msg("RBAC grants %s/%s, which the agent does not watch", groups, res);
			covered[k] = true;
		}
	}
	for (k = 0; k < K8S_N_KINDS; k++)
		if (!covered[k])
			fail_msg("the agent watches %s but RBAC does not grant it", k8s_kinds[k].resource);
	/* the binding names the DaemonSet's service account */
	role = find(&ds, "ClusterRoleBinding", "bpfmesh", &d);
	assert_string_equal(str(d, role, "subjects.0.name"), "bpfmesh");
	assert_string_equal(str(d, role, "subjects.0.namespace"), "kube-system");
	assert_string_equal(str(d, role, "roleRef.name"), "bpfmesh");
	find(&ds, "ServiceAccount", "bpfmesh", &d);
	docs_free(&ds);
}

static void test_daemonset_least_privilege(void **state)
{
	struct docs ds;
	yaml_document_t *d, *cd;
	yaml_node_t *ds_root, *pod, *c, *sc, *cm;
	char text[512], idx[64];
	size_t i, j;

	load_deploy(&ds);
	ds_root = find(&ds, "DaemonSet", "bpfmesh", &d);
	pod = get(d, ds_root, "spec.template.spec");
	c = get(d, pod, "containers.0");
	assert_non_null(c);
	assert_string_equal(str(d, pod, "serviceAccountName"), "bpfmesh");
	assert_string_equal(str(d, pod, "hostPID"), "false");
	sc = get(d, c, "securityContext");
	assert_string_equal(str(d, sc, "privileged"), "false");
	seq_text(d, get(d, sc, "capabilities.add"), text, sizeof(text));
	assert_string_equal(text, "BPF,PERFMON,NET_ADMIN");
	seq_text(d, get(d, sc, "capabilities.drop"), text, sizeof(text));
	assert_string_equal(text, "ALL");
	/* probes on the agent's own endpoints, on the port --metrics serves */
	assert_string_equal(str(d, c, "readinessProbe.httpGet.path"), "/readyz");
	assert_string_equal(str(d, c, "readinessProbe.httpGet.port"), "15020");
	assert_string_equal(str(d, c, "livenessProbe.httpGet.path"), "/healthz");
	seq_text(d, get(d, c, "args"), text, sizeof(text));
	assert_non_null(strstr(text, "--metrics,0.0.0.0:15020"));
	assert_non_null(get(d, c, "resources.requests.cpu"));
	assert_non_null(get(d, c, "resources.requests.memory"));
	/* discovery on, this node named from the downward API */
	seq_text(d, get(d, c, "args"), text, sizeof(text));
	assert_non_null(strstr(text, "agent,--in-cluster,--node,$(NODE_NAME)"));
	assert_string_equal(str(d, c, "env.0.name"), "NODE_NAME");
	assert_string_equal(str(d, c, "env.0.valueFrom.fieldRef.fieldPath"), "spec.nodeName");
	/* every $(VAR) in args is defined; every ConfigMap key exists */
	cm = find(&ds, "ConfigMap", "bpfmesh-agent", &cd);
	for (i = 0; i < seq_len(get(d, c, "args")); i++) {
		const char *a;
		bool defined = false;

		snprintf(idx, sizeof(idx), "args.%zu", i);
		a = str(d, c, idx);
		if (strncmp(a, "$(", 2))
			continue;
		for (j = 0; j < seq_len(get(d, c, "env")); j++) {
			char name[128], key[128];
			const char *n, *ref;

			snprintf(name, sizeof(name), "env.%zu.name", j);
			n = str(d, c, name);
			if (strlen(n) + 3 != strlen(a) || strncmp(a + 2, n, strlen(n)))
				continue;
			defined = true;
			snprintf(key, sizeof(key), "env.%zu.valueFrom.configMapKeyRef.key", j);
			ref = str(d, c, key);
			if (ref) {
				snprintf(key, sizeof(key), "data.%s", ref);
				if (!str(cd, cm, key))
					fail_msg("ConfigMap bpfmesh-agent has no key %s", ref);
			}
		}
		if (!defined)
			fail_msg("argument %s is not defined in env", a);
	}
	/* volumes: the host's bpffs and cgroup2 and the policies, all mounted */
	assert_int_equal(seq_len(get(d, pod, "volumes")), 3);
	assert_string_equal(str(d, pod, "volumes.0.hostPath.path"), "/sys/fs/bpf");
	assert_string_equal(str(d, pod, "volumes.1.hostPath.path"), "/sys/fs/cgroup");
	assert_string_equal(str(d, pod, "volumes.2.configMap.name"), "bpfmesh-policies");
	find(&ds, "ConfigMap", "bpfmesh-policies", &cd);
	for (i = 0; i < seq_len(get(d, c, "volumeMounts")); i++) {
		snprintf(idx, sizeof(idx), "volumeMounts.%zu.name", i);
		snprintf(text, sizeof(text), "volumes.%zu.name", i);
		assert_string_equal(str(d, c, idx), str(d, pod, text));
	}
	/* Bidirectional propagation needs a privileged container */
	assert_string_equal(str(d, c, "volumeMounts.0.mountPropagation"), "HostToContainer");
	assert_string_equal(str(d, c, "volumeMounts.1.readOnly"), "true");
	docs_free(&ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbac_exactly_what_is_watched),
		cmocka_unit_test(test_daemonset_least_privilege),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
