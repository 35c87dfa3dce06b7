// SPDX-License-Identifier: Apache-2.0
/*
 * The bpfmesh binary as a user meets it, without a kernel: where help and
 * usage go and with what exit status, golden text and JSON of lint and
 * compile (tests/cli/golden/), text and JSON agreeing, every line within
 * 100 columns, every shipped example accepted by --strict.
 *
 * Runs .output/bpfmesh (or $BPFMESH_BIN) from the repository's top
 * directory. UPDATE_GOLDEN=1 rewrites the golden files from the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define GOLDEN_DIR "tests/cli/golden/"
#define MAX_OUT (256 * 1024)

struct run {
	int status;
	char out[MAX_OUT], err[MAX_OUT];
};

static struct run r; /* large: not on the stack */

static void slurp(int fd, char *buf)
{
	ssize_t n = pread(fd, buf, MAX_OUT - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run bpfmesh with args (a space-separated list, no quoting needed here). */
static struct run *run(const char *args)
{
	const char *bin = getenv("BPFMESH_BIN") ?: ".output/bpfmesh";
	char buf[1024], *argv[32], *save = NULL, *tok;
	char out_path[] = "/tmp/bpfmesh-cli-out-XXXXXX", err_path[] = "/tmp/bpfmesh-cli-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path), argc = 0, status;
	pid_t pid;

	assert_true(out_fd >= 0 && err_fd >= 0);
	unlink(out_path);
	unlink(err_path);
	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = (char *)bin;
	for (tok = strtok_r(buf, " ", &save); tok && argc < 31; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		execv(bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(out_fd, r.out);
	slurp(err_fd, r.err);
	return &r;
}

/* "file:12:7: warning: ..." and the like: one line each, as compilers print
 * them (editors jump to file:line:column), never wrapped. */
static bool is_diagnostic(const char *line, size_t len)
{
	static const char *const levels[] = { ": error", ": warning: ", ": unenforced: ",
					      ": note: " };
	char buf[1024];
	size_t i;

	snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strstr(buf, levels[i]))
			return true;
	return false;
}

/* The longest line of text but diagnostics, in characters (ASCII output). */
static size_t widest_line(const char *text)
{
	size_t widest = 0;

	while (*text) {
		size_t len = strcspn(text, "\n");

		if (len > widest && !is_diagnostic(text, len))
			widest = len;
		text += len + (text[len] == '\n');
	}
	return widest;
}

static void check_golden(const char *name, const char *actual)
{
	char path[256], expected[MAX_OUT];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
	if (getenv("UPDATE_GOLDEN")) {
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(actual, f);
		fclose(f);
		return;
	}
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s (UPDATE_GOLDEN=1 writes it)", path, strerror(errno));
	n = fread(expected, 1, sizeof(expected) - 1, f);
	expected[n] = '\0';
	fclose(f);
	if (strcmp(expected, actual))
		fail_msg("%s differs; got:\n%s", path, actual);
}

/* Asked-for help: stdout, exit 0, nothing on stderr, 80 columns. */
static void test_help_on_stdout(void **state)
{
	static const char *const asks[] = {
		"--help", "-h", "help", "help lint", "help maps", "help agent", "help version",
		"lint --help", "compile -h", "maps --help", "maps help", "maps services --help",
		"agent --help", "version --help", "help help", "status --help",
	};
	size_t i;

	for (i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		run(asks[i]);
		if (r.status != 0 || r.err[0] || strncmp(r.out, "Usage: bpfmesh", 14))
			fail_msg("bpfmesh %s: exit %d, stdout '%.40s', stderr '%.200s'", asks[i],
				 r.status, r.out, r.err);
		assert_in_range(widest_line(r.out), 1, 80);
	}
	run("help");
	assert_non_null(strstr(r.out, "  help     "));
	assert_non_null(strstr(r.out, "  version  "));
	run("agent --help");
	assert_non_null(strstr(r.out, "--policies POLICY_DIR"));
	assert_non_null(strstr(r.out, "--bpffs BPFFS_DIR"));
}

/* Help in JSON mode is null, as in bpftool. */
static void test_help_json_null(void **state)
{
	static const char *const asks[] = { "-j help", "-j --help", "lint -j --help",
					    "maps -j help", "-j agent --help", "-p version --help" };
	size_t i;

	for (i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		run(asks[i]);
		if (r.status != 0 || strcmp(r.out, "null\n"))
			fail_msg("bpfmesh %s: exit %d, stdout '%s'", asks[i], r.status, r.out);
	}
}

/* A mistake: the error and the usage on stderr, nothing on stdout, exit 2;
 * with -j the error is a JSON object on stdout. */
static void test_mistakes_usage_on_stderr(void **state)
{
	static const char *const mistakes[] = {
		"", "bogus", "--bogus", "lint", "compile", "lint --bogus x.yaml", "maps",
		"maps bogus", "maps services endpoints", "agent", "agent --bogus",
		"version extra", "help lint extra", "status --bogus",
	};
	size_t i;

	for (i = 0; i < sizeof(mistakes) / sizeof(mistakes[0]); i++) {
		run(mistakes[i]);
		if (r.status != 2 || r.out[0] || !strstr(r.err, "Error: ") ||
		    !strstr(r.err, "Usage: bpfmesh"))
			fail_msg("bpfmesh %s: exit %d, stdout '%.60s', stderr '%.300s'", mistakes[i],
				 r.status, r.out, r.err);
	}
	run("-j lint");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.out, "{\"error\":\"no policy file or directory given\"}\n");
}

/* bpfmesh status over a status file as the agent writes it (agent/status.h):
 * an empty field (a file's namespace) stays in its column. */
static void test_status_file(void **state)
{
	char dir[] = "/tmp/bpfmesh-cli-state-XXXXXX", path[128];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/status-sys-fs-bpf-t", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("bpfmesh-status\t1\npid\t7\ngeneration\t3\napplied_at_ms\t0\n"
	      "policies\t/p\nbpffs\t/sys/fs/bpf/t\nresources\t1\t2\nfeature\tbpf\t1\n"
	      "resource\tapplied\tServiceEntry\tdefault\ta\t/p/a.yaml\t1\t0\t\n"
	      "resource\trejected\tVirtualService\tdefault\tb\t/p/b.yaml\t9\t1\t"
	      "/p/b.yaml:12:15: spec.tcp[0].route[1].weight: weight -5 must be >= 0\n"
	      "resource\trejected\tFile\t\t/p/c.yaml\t/p/c.yaml\t0\t1\t/p/c.yaml:2:1: "
	      "invalid YAML\n", f);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "status --bpffs /sys/fs/bpf/t --state-dir %s", dir);
	run(path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "generation 3, last applied never (agent pid 7)\n"));
	assert_non_null(strstr(r.out, "resources: 1 applied, 2 rejected\n"));
	assert_non_null(strstr(r.out, "  VirtualService default/b  /p/b.yaml:9  last good version "
				      "in force\n    /p/b.yaml:12:15: spec.tcp[0]"));
	assert_non_null(strstr(r.out, "  file /p/c.yaml: its resources keep"));
	snprintf(path, sizeof(path), "-j status --bpffs /sys/fs/bpf/t --state-dir %s", dir);
	run(path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "{\"kind\":\"File\",\"namespace\":\"\",\"name\":"
				      "\"/p/c.yaml\",\"file\":\"/p/c.yaml\",\"line\":0,"));
	assert_non_null(strstr(r.out, "\"kernel_features\":{\"bpf\":true}"));
	snprintf(path, sizeof(path), "status --bpffs /sys/fs/bpf/none --state-dir %s", dir);
	run(path);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "Error: no agent status at "));
	snprintf(path, sizeof(path), "%s/status-sys-fs-bpf-t", dir);
	unlink(path);
	rmdir(dir);
}

static void test_version(void **state)
{
	run("version");
	assert_int_equal(r.status, 0);
	assert_int_equal(strncmp(r.out, "bpfmesh ", 8), 0);
	run("-j version");
	assert_int_equal(r.status, 0);
	assert_int_equal(strncmp(r.out, "{\"version\":\"", 12), 0);
	assert_non_null(strstr(r.out, "\"libbpf\":\""));
}

/* Output of a command in both modes against its golden files. */
static void golden_pair(const char *args, const char *name, int status)
{
	char jargs[512], file[128];

	run(args);
	assert_int_equal(r.status, status);
	assert_string_equal(r.err, "");
	assert_in_range(widest_line(r.out), 1, 100);
	snprintf(file, sizeof(file), "%s.txt", name);
	check_golden(file, r.out);
	snprintf(jargs, sizeof(jargs), "-p %s", args);
	run(jargs);
	assert_int_equal(r.status, status);
	snprintf(file, sizeof(file), "%s.json", name);
	check_golden(file, r.out);
}

static void test_golden_compile_examples(void **state)
{
	golden_pair("compile policies/examples", "compile-examples", 0);
}

static void test_golden_lint_clean(void **state)
{
	golden_pair("lint policies/examples/canary.yaml", "lint-canary", 0);
}

static void test_golden_warnings(void **state)
{
	golden_pair("compile tests/cli/unenforced.yaml", "compile-unenforced", 0);
	golden_pair("lint --strict tests/cli/unenforced.yaml", "lint-strict-unenforced", 1);
}

static const char *plural(unsigned long n, const char *many)
{
	return n == 1 ? "" : many;
}

/* The JSON's counts, written as the text's last line writes them, are that
 * line: the two say the same under the same names. */
static void test_text_and_json_agree(void **state)
{
	static const char *const cases[] = { "lint tests/cli/unenforced.yaml",
					     "lint --strict tests/cli/unenforced.yaml",
					     "lint policies/examples" };
	unsigned long files, res, err, warn, unenf;
	char result[16], strict[8], line[512], args[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(args, sizeof(args), "-j %s", cases[i]);
		run(args);
		if (sscanf(r.out, "{\"result\":\"%15[a-z]\",\"files\":%lu,\"resources\":%lu,"
			   "\"strict\":%7[a-z],\"errors\":%lu,\"warnings\":%lu,\"unenforced\":%lu,",
			   result, &files, &res, strict, &err, &warn, &unenf) != 7)
			fail_msg("unexpected JSON: %.300s", r.out);
		snprintf(line, sizeof(line), "checked %lu file%s, %lu resource%s%s: %lu error%s, "
			 "%lu warning%s, %lu unenforced field%s; %s\n", files, plural(files, "s"),
			 res, plural(res, "s"), strcmp(strict, "true") ? "" : " (strict)", err,
			 plural(err, "s"), warn, plural(warn, "s"), unenf, plural(unenf, "s"), result);
		run(cases[i]);
		if (!strstr(r.out, line))
			fail_msg("text lacks '%s':\n%s", line, r.out);
	}
}

/* Shipped examples pass the strictest check. */
static void test_examples_pass_strict(void **state)
{
	run("lint --strict policies/examples");
	if (r.status != 0)
		fail_msg("an example fails --strict:\n%s", r.out);
	assert_non_null(strstr(r.out, "0 errors, 0 warnings, 0 unenforced fields; accepted"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_on_stdout),
		cmocka_unit_test(test_help_json_null),
		cmocka_unit_test(test_mistakes_usage_on_stderr),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_status_file),
		cmocka_unit_test(test_golden_compile_examples),
		cmocka_unit_test(test_golden_lint_clean),
		cmocka_unit_test(test_golden_warnings),
		cmocka_unit_test(test_text_and_json_agree),
		cmocka_unit_test(test_examples_pass_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
