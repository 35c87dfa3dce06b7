// SPDX-License-Identifier: Apache-2.0
/* The agent's log has one format, and a warning is logged once: not again at
 * every re-apply of the same policy. */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "fixtures.h"
#include "ktest.h"

static const char *const eps[] = { "127.1.13.1", "127.1.13.2", "127.1.13.3" };

/* A second service whose VirtualService has a uri match: unenforced. */
static const char ratings_yaml[] =
	"apiVersion: networking.istio.io/v1\n"
	"kind: ServiceEntry\n"
	"metadata: {name: ratings, namespace: default}\n"
	"spec:\n"
	"  hosts: [ratings.default.svc.cluster.local]\n"
	"  addresses: [127.100.13.2]\n"
	"  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n"
	"  resolution: STATIC\n"
	"  endpoints: [{address: 127.1.13.1}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: ratings, namespace: default}\n"
	"spec:\n"
	"  hosts: [ratings]\n"
	"  http:\n"
	"  - match: [{uri: {prefix: /beta}}]\n"
	"    route: [{destination: {host: ratings}}]\n"
	"  - route: [{destination: {host: ratings}}]\n";

/* Lines of the log that are not "HH:MM:SS.mmm bpfmesh: ...". */
static int lines_not_in_format(const char *path)
{
	char line[4096];
	regex_t re;
	int bad = 0;
	FILE *f = fopen(path, "r");

	if (!f || regcomp(&re, "^[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} bpfmesh: [^ ]",
			  REG_EXTENDED | REG_NOSUB)) {
		if (f)
			fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (regexec(&re, line, 0, NULL, 0)) {
			fprintf(stderr, "  not in the log format: %s", line);
			bad++;
		}
	}
	regfree(&re);
	fclose(f);
	return bad;
}

KTEST(agent_log_one_format_no_repeats)
{
	struct ktest_env env;
	struct backends be = {};
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), "127.100.13.1", "127.1.13", 90, 10);
	if (!ASSERT_OK(env_setup(&env), "env_setup") ||
	    !ASSERT_OK(env_write_policy(&env, "canary.yaml", yaml), "write canary") ||
	    !ASSERT_OK(env_write_policy(&env, "ratings.yaml", ratings_yaml), "write ratings") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent(&env, NULL), "agent applies"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "ratings.yaml:17:"), 1, "the unenforced uri is logged");
	/* Two re-applies of the same policy: the diagnostic is not logged again. */
	ASSERT_OK(env_signal_agent(&env, SIGHUP), "SIGHUP");
	ASSERT_OK(env_wait_log(&env, "applied generation", 2, 5000), "re-applied");
	ASSERT_OK(env_signal_agent(&env, SIGHUP), "SIGHUP");
	ASSERT_OK(env_wait_log(&env, "applied generation", 3, 5000), "re-applied again");
	ASSERT_EQ(env_count_log(&env, "ratings.yaml:17:"), 1, "not repeated at re-apply");
	ASSERT_EQ(env_count_log(&env, "2 diagnostics logged before, not repeated"), 2,
		  "each re-apply says what it left out (uri, subset v3)");
	ASSERT_EQ(env_stop_agent(&env), 0, "agent exits 0 on SIGTERM");
	ASSERT_EQ(lines_not_in_format(env.log), 0, "every log line timestamped and prefixed");
out:
	backends_stop(&be);
	env_teardown(&env);
}
