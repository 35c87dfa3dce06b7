// SPDX-License-Identifier: Apache-2.0
/*
 * The README's "Try it yourself" walk-through, run as written: its shell
 * block is taken from README.md and run by bash (-e -u -o pipefail) in this
 * test's network namespace, with bpfmesh as `make install DESTDIR=<tmp>`
 * installs it first on PATH (so the installed binary, away from .output/,
 * is the one that loads its embedded BPF objects and attaches). The
 * walk-through makes its own cgroup (<cgroup2 root>/bpfmesh-try), pins under
 * /sys/fs/bpf/bpfmesh-try, works in /tmp/bpfmesh-try and removes all three;
 * the test removes them too if the script fails half-way, and refuses to
 * start when any of them exists already (it would not be ours to remove).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kern/sysfs.h"
#include "ktest.h"

#define TRY_DIR "/tmp/bpfmesh-try"
#define TRY_BPFFS "/sys/fs/bpf/bpfmesh-try"
#define SCRIPT_TIMEOUT_S 60

/* The first ```sh block after the try-it marker, into path. */
static int extract_walkthrough(const char *readme, const char *path)
{
	FILE *in = fopen(readme, "r"), *out;
	char line[1024];
	int state = 0; /* 0 before the marker, 1 before the block, 2 inside */
	int lines = 0;

	if (!in)
		return -errno;
	out = fopen(path, "w");
	if (!out) {
		fclose(in);
		return -errno;
	}
	while (state < 3 && fgets(line, sizeof(line), in)) {
		if (state == 0 && !strncmp(line, "<!-- try-it:", 12))
			state = 1;
		else if (state == 1 && !strcmp(line, "```sh\n"))
			state = 2;
		else if (state == 2 && !strcmp(line, "```\n"))
			state = 3;
		else if (state == 2 && ++lines)
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
	return state == 3 && lines > 0 ? 0 : -ENOENT;
}

static void try_cgroup(char *buf, size_t len)
{
	char root[PATH_MAX] = "";

	cgroup2_root(root, sizeof(root));
	snprintf(buf, len, "%s/bpfmesh-try", root);
}

/* Whatever a failed run left behind; processes first, their group killed. */
static void cleanup_walkthrough(pid_t pgid, const char *cg)
{
	if (pgid > 0)
		kill(-pgid, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (system("rm -rf " TRY_DIR " " TRY_BPFFS) != 0)
		fprintf(stderr, "  readme: could not remove %s or %s\n", TRY_DIR, TRY_BPFFS);
	rmdir(cg);
}

/* bash on the script, in its own process group, output to log; exit status
 * or -ETIMEDOUT. */
static int run_script(const char *script, const char *bindir, const char *log, pid_t *pgid)
{
	char path_env[PATH_MAX + 64];
	time_t deadline = time(NULL) + SCRIPT_TIMEOUT_S;
	int status, fd;
	pid_t pid;

	snprintf(path_env, sizeof(path_env), "%s:%s", bindir, getenv("PATH") ?: "/usr/bin:/bin");
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		setenv("PATH", path_env, 1);
		execlp("bash", "bash", "-euo", "pipefail", script, (char *)NULL);
		_exit(127);
	}
	*pgid = pid;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) > deadline)
			return -ETIMEDOUT;
		usleep(100 * 1000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Sum of the `uniq -c` counts of the backends' names in the output. */
static int answers(const char *out)
{
	const char *names[] = { " v1-a\n", " v1-b\n", " v2\n" };
	int total = 0, n;
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *p = strstr(out, names[i]), *q;

		if (!p)
			continue;
		for (q = p; q > out && q[-1] != '\n'; q--)
			;
		if (sscanf(q, "%d", &n) == 1)
			total += n;
	}
	return total;
}

/* `make install` into dest; 0 when the binary and the manual page are there. */
static int make_install(const char *dest)
{
	char cmd[PATH_MAX + 128], path[PATH_MAX + 64];

	/* A make of its own: not a sub-make of the `make test` that runs us. */
	snprintf(cmd, sizeof(cmd), "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s "
		 "--no-print-directory install PREFIX=/usr DESTDIR=%s >/dev/null", dest);
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/usr/share/man/man8/bpfmesh.8", dest);
	if (access(path, R_OK))
		return -errno;
	snprintf(path, sizeof(path), "%s/usr/bin/bpfmesh", dest);
	return access(path, X_OK) ? -errno : 0;
}

KTEST(readme_try_it_yourself)
{
	char cg[PATH_MAX], script[] = "/tmp/bpfmesh-readme-XXXXXX", log[64], out[65536];
	char dest[] = "/tmp/bpfmesh-install-XXXXXX", bindir[64], rm[96];
	struct stat st;
	pid_t pgid = 0;
	int fd, rc;
	FILE *f;
	size_t n;

	if (system("command -v python3 >/dev/null && command -v curl >/dev/null && "
		   "command -v make >/dev/null") != 0 || access("README.md", R_OK) ||
	    access("Makefile", R_OK)) {
		ktest_skip("needs python3, curl, make and the repository (README.md, Makefile)");
		return;
	}
	try_cgroup(cg, sizeof(cg));
	if (!ASSERT_TRUE(stat(TRY_DIR, &st) && stat(TRY_BPFFS, &st) && stat(cg, &st),
			 "no walk-through left over from an earlier run"))
		return;
	fd = mkstemp(script);
	if (!ASSERT_TRUE(fd >= 0, "script file"))
		return;
	close(fd);
	snprintf(log, sizeof(log), "%s.log", script);
	if (!ASSERT_OK(extract_walkthrough("README.md", script), "README has the walk-through") ||
	    !ASSERT_TRUE(mkdtemp(dest) != NULL, "install dir") ||
	    !ASSERT_OK(make_install(dest), "make install DESTDIR: binary and manual page"))
		goto out;
	snprintf(bindir, sizeof(bindir), "%s/usr/bin", dest);
	rc = run_script(script, bindir, log, &pgid);
	f = fopen(log, "r");
	n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	if (!ASSERT_EQ(rc, 0, "walk-through runs to the end"))
		fprintf(stderr, "%s\n", out);
	ASSERT_TRUE(strstr(out, "checked 1 file, 3 resources (strict): 0 errors") != NULL,
		    "lint --strict accepts the policy");
	ASSERT_EQ(answers(out), 20, "all 20 connections from the cgroup answered");
	ASSERT_TRUE(strstr(out, "refused outside the cgroup, as expected") != NULL,
		    "outside the cgroup the VIP is refused");
	ASSERT_TRUE(strstr(out, "v1:80            90") && strstr(out, "v1:80            50"),
		    "maps services shows 90, then 50 after the edit");
	ASSERT_TRUE(stat(TRY_DIR, &st) && stat(TRY_BPFFS, &st) && stat(cg, &st),
		    "the walk-through removed what it made");
	printf("  readme_try_it_yourself: %d connections answered from the cgroup\n", answers(out));
out:
	cleanup_walkthrough(pgid, cg);
	unlink(script);
	unlink(log);
	snprintf(rm, sizeof(rm), "rm -rf %s", dest);
	if (strcmp(dest + strlen(dest) - 6, "XXXXXX") && system(rm) != 0)
		fprintf(stderr, "  readme: could not remove %s\n", dest);
}
