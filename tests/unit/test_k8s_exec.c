// SPDX-License-Identifier: Apache-2.0
/*
 * kubeconfig exec credential plugins (user/k8s/exec.c), with a small shell
 * script as the plugin (tests/k8s/fixtures/exec/plugin.sh): its command
 * relative to the kubeconfig, args, env and KUBERNETES_EXEC_INFO; the
 * token kept until expirationTimestamp and fetched again after it; a 401
 * from the API server (the recorded server in tests/k8s/fixtures/exec)
 * makes the watch run the plugin again; a failing plugin and a wrong
 * apiVersion are reported by name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "k8s/k8s.h"
#include "../k8s/fakeapi.h"

#define FIX "tests/k8s/fixtures/exec"

struct plugin_dir {
	char dir[64];
	char kubeconfig[PATH_MAX];
};

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get_file(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

/* A directory holding a kubeconfig whose user runs ./plugin.sh (a link to
 * the fixture) with args and env, against server. */
static void plugin_dir_make(struct plugin_dir *p, const char *server)
{
	char text[2048], target[PATH_MAX], link[PATH_MAX];

	snprintf(p->dir, sizeof(p->dir), "/tmp/bpfmesh-exec-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	assert_non_null(realpath(FIX "/plugin.sh", target));
	snprintf(link, sizeof(link), "%s/plugin.sh", p->dir);
	assert_int_equal(symlink(target, link), 0);
	put_file(p->dir, "ttl", "3600");
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		 "clusters:\n- name: k\n  cluster: {server: '%s'}\n"
		 "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
		 "users:\n- name: u\n  user:\n    exec:\n"
		 "      apiVersion: client.authentication.k8s.io/v1\n"
		 "      command: ./plugin.sh\n"
		 "      args: [get-token, A]\n"
		 "      env:\n      - {name: PLUGIN_STATE, value: '%s'}\n"
		 "      interactiveMode: Never\n", server, p->dir);
	put_file(p->dir, "kubeconfig", text);
	snprintf(p->kubeconfig, sizeof(p->kubeconfig), "%s/kubeconfig", p->dir);
}

static void plugin_dir_remove(struct plugin_dir *p)
{
	static const char *const names[] = { "plugin.sh", "ttl", "kubeconfig", "runs", "args",
					     "info", "fail", "apiversion" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->dir, names[i]);
		unlink(path);
	}
	rmdir(p->dir);
}

static void test_exec_token_and_expiry(void **state)
{
	struct plugin_dir p;
	struct k8s_config c;
	char why[256] = "", buf[512];

	(void)state;
	plugin_dir_make(&p, "http://127.0.0.1:1");
	assert_int_equal(k8s_config_kubeconfig(&c, p.kubeconfig, why, sizeof(why)), 0);
	assert_non_null(c.exec);
	assert_null(c.token); /* nothing runs until a request needs it */
	assert_int_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_string_equal(c.token, "tok-1-A");
	assert_string_equal(get_file(p.dir, "args", buf, sizeof(buf)), "get-token A");
	assert_string_equal(get_file(p.dir, "info", buf, sizeof(buf)),
			    "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
			    "\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}");
	/* valid for an hour: kept */
	assert_int_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_string_equal(c.token, "tok-1-A");
	assert_int_equal(c.exec->runs, 1);
	/* a 401: run again */
	k8s_exec_expire(c.exec);
	assert_int_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_string_equal(c.token, "tok-2-A");
	/* a credential that expired (the plugin says so): run again each time */
	put_file(p.dir, "ttl", "-10");
	k8s_exec_expire(c.exec);
	assert_int_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_string_equal(c.token, "tok-3-A");
	assert_int_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_string_equal(c.token, "tok-4-A");
	/* failures, named */
	put_file(p.dir, "fail", "");
	assert_int_not_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "exec plugin ./plugin.sh exited with status 3"));
	unlink(strcat(strcpy(buf, p.dir), "/fail"));
	put_file(p.dir, "apiversion", "client.authentication.k8s.io/v1beta1");
	assert_int_not_equal(k8s_exec_refresh(&c, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "answered apiVersion client.authentication.k8s.io/v1beta1, "
				    "the kubeconfig asks for client.authentication.k8s.io/v1"));
	assert_string_equal(c.token, "tok-4-A"); /* the last good one stays */
	k8s_config_free(&c);
	plugin_dir_remove(&p);
}

/* Bad exec blocks in the kubeconfig are refused when it is loaded. */
static void test_exec_config_errors(void **state)
{
	static const struct {
		const char *exec, *why;
	} cases[] = {
		{ "{apiVersion: client.authentication.k8s.io/v1}", "exec.command: missing" },
		{ "{command: x, apiVersion: client.authentication.k8s.io/v1alpha1}",
		  "is not client.authentication.k8s.io/v1 or v1beta1" },
		{ "{command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Always}",
		  "needs a terminal" },
		{ "{command: x, apiVersion: client.authentication.k8s.io/v1, env: [{name: A}]}",
		  "exec.env: not a list of {name, value}" },
	};
	char dir[] = "/tmp/bpfmesh-execc-XXXXXX", path[PATH_MAX], text[1024], why[256];
	struct k8s_config c;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "current-context: c\nclusters:\n- name: k\n  cluster: {server: 'http://x'}\n"
			 "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
			 "users:\n- name: u\n  user:\n    exec: %s\n", cases[i].exec);
		put_file(dir, "kubeconfig", text);
		why[0] = '\0';
		assert_int_not_equal(k8s_config_kubeconfig(&c, path, why, sizeof(why)), 0);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, cases[i].why);
	}
	unlink(path);
	rmdir(dir);
}

/* The watch: the first Services watch is refused with 401; the plugin runs
 * again and the requests after it carry the new token. */
static void test_exec_rerun_on_401(void **state)
{
	struct k8s_watch_opts o = { .node_name = "node-a", .timeout_s = 30, .backoff_ms = 50 };
	struct k8s_watch *w = NULL;
	struct plugin_dir p;
	struct fakeapi *fa;
	struct k8s_config c;
	char server[64], why[256], reqs[8192];
	uint16_t port;
	int t;

	(void)state;
	assert_int_equal(fakeapi_start(FIX, NULL, &fa, &port), 0);
	snprintf(server, sizeof(server), "http://127.0.0.1:%u", port);
	plugin_dir_make(&p, server);
	assert_int_equal(k8s_config_kubeconfig(&c, p.kubeconfig, why, sizeof(why)), 0);
	assert_int_equal(k8s_watch_start(&c, &o, &w), 0);
	for (t = 0; t < 5000 && fakeapi_count(fa, "services?watch=1&allowWatchBookmarks=true&"
					     "resourceVersion=500&timeoutSeconds=30 auth=Bearer "
					     "tok-2-A") == 0; t += 10)
		usleep(10000);
	fakeapi_requests(fa, reqs, sizeof(reqs));
	if (fakeapi_count(fa, "services?watch=1&allowWatchBookmarks=true&resourceVersion=500&"
			      "timeoutSeconds=30 auth=Bearer tok-2-A") != 1)
		fail_msg("requests:\n%s", reqs);
	/* every list went out with the first token, the refused watch too */
	assert_true(fakeapi_count(fa, "limit=500 auth=Bearer tok-1-A") >= 4);
	assert_int_equal(fakeapi_count(fa, "services?watch=1&allowWatchBookmarks=true&"
					   "resourceVersion=500&timeoutSeconds=30 auth=Bearer tok-1-A"),
			 1);
	k8s_watch_stop(w);
	fakeapi_stop(fa);
	plugin_dir_remove(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_token_and_expiry),
		cmocka_unit_test(test_exec_config_errors),
		cmocka_unit_test(test_exec_rerun_on_401),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
