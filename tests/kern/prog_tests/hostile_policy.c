// SPDX-License-Identifier: Apache-2.0
/* Hostile policy files (issue 8) dropped into the watched directory of a
 * running agent: a duplicate key that used to overflow the heap, an alias
 * bomb, nesting 100,000 deep, a FIFO that used to hang the agent. Each is
 * reported naming the file; the agent keeps serving its last good policy
 * and still applies the next good one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "fixtures.h"
#include "ktest.h"

#define N_CONNS 2000
#define VIP "127.100.20.1"

static const char *const eps[] = { "127.1.20.1", "127.1.20.2", "127.1.20.3" };

/* A list key twice in one mapping: the second copy used to be walked into
 * the first copy's array (heap overflow at 8f281d9). */
static const char dup_ports[] =
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: other}\nspec:\n  hosts: [other.example]\n"
	"  ports: [{number: 1, name: a}, {number: 2, name: b}, {number: 3, name: c}]\n"
	"  ports: [{number: 5, name: e}]\n";

/* labels: &L {1,000 keys} on one endpoint, *L on 2,000 more: 2,000,000
 * label pairs from 110 KB (aliases may add 1,000,000 visits per compile). */
static char *alias_bomb(void)
{
	size_t cap = 256 << 10, at = 0, i;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	at += (size_t)snprintf(s + at, cap - at,
			       "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			       "metadata: {name: bomb}\nspec:\n  hosts: [b.example]\n"
			       "  resolution: STATIC\n  ports: [{number: 81, name: p}]\n"
			       "  endpoints:\n  - {address: 10.1.1.1, labels: &L {");
	for (i = 0; i < 1000; i++)
		at += (size_t)snprintf(s + at, cap - at, "%sk%zu: v", i ? ", " : "", i);
	at += (size_t)snprintf(s + at, cap - at, "}}\n");
	for (i = 0; i < 2000; i++)
		at += (size_t)snprintf(s + at, cap - at, "  - {address: 10.2.%zu.%zu, labels: *L}\n",
				       i / 250, i % 250 + 1);
	return s;
}

static char *deep_nesting(void)
{
	size_t depth = 100000, i;
	char *s = malloc(2 * depth + 2);

	if (!s)
		return NULL;
	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth + i] = ']';
	}
	s[2 * depth] = '\n';
	s[2 * depth + 1] = '\0';
	return s;
}

/* The previous policy (everything to v1, backends 0 and 1) still decides. */
static void expect_v1_only(struct ktest_env *env, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, VIP, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, "every connection reached a backend");
	ASSERT_EQ(r.per_backend[2], 0, what);
}

/* Write one bad file, wait for the n-th rejection naming it, remove it. */
static bool reject_one(struct ktest_env *env, const char *name, const char *yaml,
		       const char *msg, int n)
{
	char needle[256], path[PATH_MAX + 64];
	bool ok;

	if (!ASSERT_OK(env_write_policy(env, name, yaml), "write bad policy"))
		return false;
	/* A liveness bound, not a timing check: the alias bomb alone takes
	 * about 1 s of CPU on the host and 10-15 s under QEMU/TCG. */
	ok = ASSERT_OK(env_wait_log(env, "policy rejected", n, 60000), "rejection logged");
	snprintf(needle, sizeof(needle), "%s:", name);
	ASSERT_TRUE(env_count_log(env, needle) > 0, "the diagnostic names the file");
	ASSERT_TRUE(env_count_log(env, msg) > 0, msg);
	ASSERT_EQ(env_count_log(env, "applied generation 2"), 0, "nothing new applied");
	snprintf(path, sizeof(path), "%s/%s", env->policies, name);
	unlink(path);
	return ok;
}

KTEST(hostile_policy_keeps_last_good)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192], fifo[PATH_MAX + 64];
	char *deep = deep_nesting(), *bomb = alias_bomb();
	struct client_result r;

	fifo[0] = '\0';
	fixture_canary(yaml, sizeof(yaml), VIP, "127.1.20", 100, 0);
	if (!ASSERT_TRUE(deep && bomb, "malloc") ||
	    !env_start_service(&env, &be, "canary.yaml", yaml, eps, 3))
		goto out;
	if (!reject_one(&env, "zz-dup.yaml", dup_ports, "duplicate key (first at line 6)", 1))
		goto out;
	expect_v1_only(&env, "last good policy after a duplicate key");
	if (!reject_one(&env, "zz-bomb.yaml", bomb, "policy too complex", 2))
		goto out;
	expect_v1_only(&env, "last good policy after an alias bomb");
	if (!reject_one(&env, "zz-deep.yaml", deep, "nesting deeper than 100 levels", 3))
		goto out;
	expect_v1_only(&env, "last good policy after deep nesting");

	/* A FIFO is reported and skipped, never opened: the agent does not
	 * hang on it and applies the next good policy beside it. */
	snprintf(fifo, sizeof(fifo), "%s/zz-fifo.yaml", env.policies);
	if (!ASSERT_OK(mkfifo(fifo, 0644), "mkfifo"))
		goto out;
	fixture_canary(yaml, sizeof(yaml), VIP, "127.1.20", 0, 100);
	ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "rewrite 0/100");
	if (!ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 10000), "generation 2"))
		goto out;
	ASSERT_TRUE(env_count_log(&env, "zz-fifo.yaml: warning: a FIFO, not a regular file; "
				       "skipped") > 0, "FIFO reported");
	if (!ASSERT_OK(client_run(&env, VIP, 80, N_CONNS, &r), "client"))
		goto out;
	ASSERT_EQ(r.per_backend[2], N_CONNS, "the next good policy applies");
out:
	if (fifo[0])
		unlink(fifo);
	free(deep);
	free(bomb);
	backends_stop(&be);
	env_teardown(&env);
}
