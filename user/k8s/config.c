// SPDX-License-Identifier: Apache-2.0
/*
 * Where the API server is: in-cluster service account credentials (what a
 * DaemonSet pod gets), or a kubeconfig file (what a developer has). Only
 * what libcurl needs is taken: server, CA, bearer token or client
 * certificate, or an exec plugin that gives one (exec.c). auth-provider
 * plugins (removed from kubectl in 1.26) are not supported (named in the
 * error).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s/k8s.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void k8s_config_free(struct k8s_config *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->source);
	k8s_exec_free(c->exec);
	memset(c, 0, sizeof(*c));
}

static int fail(char *why, size_t len, int err, const char *fmt, const char *arg)
{
	snprintf(why, len, fmt, arg);
	return err;
}

int k8s_config_in_cluster(struct k8s_config *c, const char *sa_dir, char *why, size_t why_len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[512];
	FILE *f;

	memset(c, 0, sizeof(*c));
	if (!sa_dir)
		sa_dir = SA_DIR;
	if (!host || !port)
		return fail(why, why_len, -ENOENT, "%s", "KUBERNETES_SERVICE_HOST/PORT are not set "
			    "(not in a pod; use --kubeconfig PATH)");
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	f = fopen(path, "r");
	if (!f)
		return fail(why, why_len, -errno, "cannot read %s", path);
	fclose(f);
	/* An IPv6 service host needs brackets in a URL. */
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0)
		c->server = NULL;
	c->token_file = strdup(path);
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	c->ca_file = strdup(path);
	c->source = strdup("in-cluster service account");
	if (!c->server || !c->token_file || !c->ca_file || !c->source) {
		k8s_config_free(c);
		return fail(why, why_len, -ENOMEM, "%s", "out of memory");
	}
	return 0;
}

/* ---- kubeconfig --------------------------------------------------------- */

struct kc {
	yaml_document_t doc;
	const char *dir; /* relative paths in a kubeconfig are relative to it */
};

static yaml_node_t *kc_get(struct kc *k, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);

		if (kn && kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, key) == 0)
			return yaml_document_get_node(&k->doc, p->value);
	}
	return NULL;
}

static const char *kc_str(struct kc *k, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = kc_get(k, map, key);

	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The `inner` mapping of the item of list `list` whose name is `name`
 * (clusters[].cluster, users[].user, contexts[].context). */
static yaml_node_t *kc_named(struct kc *k, const char *list, const char *inner, const char *name)
{
	yaml_node_t *seq = kc_get(k, yaml_document_get_root_node(&k->doc), list);
	yaml_node_item_t *it;

	if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(&k->doc, *it);
		const char *n = kc_str(k, item, "name");

		if (n && strcmp(n, name) == 0)
			return kc_get(k, item, inner);
	}
	return NULL;
}

static char *kc_path(struct kc *k, const char *p)
{
	char *out;

	if (!p)
		return NULL;
	if (p[0] == '/')
		return strdup(p);
	return asprintf(&out, "%s/%s", k->dir, p) < 0 ? NULL : out;
}

/* A file the kubeconfig names at map's field (certificate-authority,
 * client-certificate, client-key; where: "clusters[].cluster" or
 * "users[].user") into *out, NULL when there is none. A relative path is
 * relative to the kubeconfig's directory, as kubectl has it ("File and path
 * references in a kubeconfig file are relative to the location of the
 * kubeconfig file", Kubernetes docs, Organizing Cluster Access Using
 * kubeconfig Files: kc_path). The file is opened now, as client-go reads it
 * when it loads the config: one that cannot be read is an error at the
 * start naming the line, field and path, not a TLS failure later. */
static int kc_file(struct kc *k, yaml_node_t *map, const char *where, const char *field,
		   char **out, char *why, size_t why_len)
{
	yaml_node_t *n = kc_get(k, map, field);
	FILE *f;
	int err;

	*out = NULL;
	if (!n || n->type != YAML_SCALAR_NODE)
		return 0;
	*out = kc_path(k, (const char *)n->data.scalar.value);
	if (!*out)
		return fail(why, why_len, -ENOMEM, "%s", "out of memory");
	f = fopen(*out, "r");
	if (f) {
		fclose(f);
		return 0;
	}
	err = -errno;
	snprintf(why, why_len, "line %zu: %s.%s: cannot read %s: %s", n->start_mark.line + 1,
		 where, field, *out, strerror(-err));
	return err;
}

/* Standard base64 (RFC 4648) as kubeconfig *-data fields hold PEM. */
static char *b64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in), o = 0;
	unsigned int acc = 0, bits = 0;
	char *out = malloc(n * 3 / 4 + 4);
	const char *p;

	if (!out)
		return NULL;
	for (p = in; *p && *p != '='; p++) {
		const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *pos = strchr(alpha, *p);

		if (*p == '\n' || *p == '\r' || *p == ' ')
			continue;
		if (!pos) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)(pos - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int kc_take_data(struct kc *k, yaml_node_t *m, const char *key, char **data, size_t *len)
{
	const char *v = kc_str(k, m, key);

	if (!v)
		return 0;
	*data = b64_decode(v, len);
	return *data ? 0 : -EINVAL;
}

/* Append the scalar items of sequence node seq (strings, or with
 * env_style the "name"/"value" mappings as "NAME=VALUE") to *v. */
static int kc_list(struct kc *k, yaml_node_t *seq, bool env_style, char ***v, size_t *n)
{
	yaml_node_item_t *it;

	if (!seq)
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE)
		return -EINVAL;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(&k->doc, *it);
		char **more = realloc(*v, (*n + 1) * sizeof(**v)), *s = NULL;

		if (!more)
			return -ENOMEM;
		*v = more;
		if (env_style) {
			const char *name = kc_str(k, item, "name"), *value = kc_str(k, item, "value");

			if (!name || !value)
				return -EINVAL;
			if (asprintf(&s, "%s=%s", name, value) < 0)
				return -ENOMEM;
		} else {
			if (!item || item->type != YAML_SCALAR_NODE)
				return -EINVAL;
			if (!(s = strdup((const char *)item->data.scalar.value)))
				return -ENOMEM;
		}
		(*v)[(*n)++] = s;
	}
	return 0;
}

/* users[].user.exec (client.authentication.k8s.io ExecConfig). */
static int kc_exec(struct kc *k, yaml_node_t *m, struct k8s_config *c, char *why, size_t why_len)
{
	const char *cmd = kc_str(k, m, "command"), *av = kc_str(k, m, "apiVersion");
	const char *mode = kc_str(k, m, "interactiveMode");
	struct k8s_exec *e;

	if (!cmd || !cmd[0])
		return fail(why, why_len, -EINVAL, "%s", "users[].user.exec.command: missing");
	if (!av || (strcmp(av, "client.authentication.k8s.io/v1") != 0 &&
		    strcmp(av, "client.authentication.k8s.io/v1beta1") != 0))
		return fail(why, why_len, -EINVAL, "users[].user.exec.apiVersion: \"%s\" is not "
			    "client.authentication.k8s.io/v1 or v1beta1", av ? av : "");
	/* The agent has no terminal: a plugin that must ask cannot run. */
	if (mode && strcmp(mode, "Always") == 0)
		return fail(why, why_len, -EINVAL, "%s", "users[].user.exec.interactiveMode: Always "
			    "needs a terminal, which the agent does not have");
	c->exec = e = calloc(1, sizeof(*e));
	if (!e || !(e->command = strdup(cmd)) || !(e->api_version = strdup(av)) ||
	    !(e->dir = strdup(k->dir)))
		return fail(why, why_len, -ENOMEM, "%s", "out of memory");
	if (kc_list(k, kc_get(k, m, "args"), false, &e->args, &e->n_args))
		return fail(why, why_len, -EINVAL, "%s", "users[].user.exec.args: not a list of "
			    "strings");
	if (kc_list(k, kc_get(k, m, "env"), true, &e->env, &e->n_env))
		return fail(why, why_len, -EINVAL, "%s", "users[].user.exec.env: not a list of "
			    "{name, value}");
	return 0;
}

static int kc_fill(struct kc *k, struct k8s_config *c, char *why, size_t why_len)
{
	yaml_node_t *root = yaml_document_get_root_node(&k->doc);
	const char *ctx_name = kc_str(k, root, "current-context");
	yaml_node_t *ctx = kc_named(k, "contexts", "context", ctx_name), *cl, *user;
	const char *v;
	int err;

	if (!ctx)
		return fail(why, why_len, -EINVAL, "no context \"%s\" (current-context)",
			    ctx_name ? ctx_name : "");
	cl = kc_named(k, "clusters", "cluster", kc_str(k, ctx, "cluster"));
	if (!cl || !kc_str(k, cl, "server"))
		return fail(why, why_len, -EINVAL, "context \"%s\": no cluster with a server",
			    ctx_name);
	c->server = strdup(kc_str(k, cl, "server"));
	err = kc_file(k, cl, "clusters[].cluster", "certificate-authority", &c->ca_file, why,
		      why_len);
	if (err)
		return err;
	v = kc_str(k, cl, "insecure-skip-tls-verify");
	c->insecure = v && strcmp(v, "true") == 0;
	if (kc_take_data(k, cl, "certificate-authority-data", &c->ca_data, &c->ca_len))
		return fail(why, why_len, -EINVAL, "%s", "certificate-authority-data: not base64");
	user = kc_named(k, "users", "user", kc_str(k, ctx, "user"));
	if (!user)
		return 0; /* anonymous (a local test server) */
	if (kc_get(k, user, "auth-provider"))
		return fail(why, why_len, -ENOTSUP, "user \"%s\": auth-provider plugins are not "
			    "supported; use an exec plugin, a token or a client certificate",
			    kc_str(k, ctx, "user"));
	if (kc_get(k, user, "exec")) {
		err = kc_exec(k, kc_get(k, user, "exec"), c, why, why_len);
		if (err)
			return err;
	}
	if ((v = kc_str(k, user, "token")))
		c->token = strdup(v);
	c->token_file = kc_path(k, kc_str(k, user, "tokenFile"));
	err = kc_file(k, user, "users[].user", "client-certificate", &c->cert_file, why, why_len);
	if (!err)
		err = kc_file(k, user, "users[].user", "client-key", &c->key_file, why, why_len);
	if (err)
		return err;
	if (kc_take_data(k, user, "client-certificate-data", &c->cert_data, &c->cert_len) ||
	    kc_take_data(k, user, "client-key-data", &c->key_data, &c->key_len))
		return fail(why, why_len, -EINVAL, "%s", "client-*-data: not base64");
	return 0;
}

int k8s_config_kubeconfig(struct k8s_config *c, const char *path, char *why, size_t why_len)
{
	struct kc k = { 0 };
	yaml_parser_t parser;
	char *dir_copy;
	FILE *f;
	int err;

	memset(c, 0, sizeof(*c));
	f = fopen(path, "r");
	if (!f)
		return fail(why, why_len, -errno, "cannot open %s", path);
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return fail(why, why_len, -ENOMEM, "%s", "out of memory");
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &k.doc)) {
		snprintf(why, why_len, "%s:%zu: invalid YAML: %s", path, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	dir_copy = strdup(path);
	k.dir = dir_copy ? dirname(dir_copy) : ".";
	err = kc_fill(&k, c, why, why_len);
	if (!err && !(c->source = strdup(path)))
		err = fail(why, why_len, -ENOMEM, "%s", "out of memory");
	if (!err && !c->server)
		err = fail(why, why_len, -ENOMEM, "%s", "out of memory");
	free(dir_copy);
	yaml_document_delete(&k.doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (err)
		k8s_config_free(c);
	return err;
}
