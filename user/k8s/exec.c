// SPDX-License-Identifier: Apache-2.0
/*
 * kubeconfig exec credential plugins (users[].user.exec), the way
 * client-go runs them (client-go/plugin/pkg/client/auth/exec, and the
 * Kubernetes docs "client-go credential plugins"):
 *
 *  - the command runs with the kubeconfig's args, with the agent's
 *    environment plus the kubeconfig's env entries and KUBERNETES_EXEC_INFO
 *    (an ExecCredential whose spec says interactive: false: the agent has
 *    no terminal; a plugin whose interactiveMode is Always is refused);
 *    stdin is /dev/null, stderr is the agent's (the plugin's messages land
 *    in its log); a command with a '/' that is relative is relative to the
 *    kubeconfig's directory, one without is looked up in PATH;
 *  - it prints an ExecCredential of the same apiVersion
 *    (client.authentication.k8s.io/v1 or v1beta1) whose status holds a
 *    token, or a client certificate and key (PEM), and optionally
 *    expirationTimestamp (RFC 3339);
 *  - the credential is kept until that time, then the command runs again
 *    before the next request; a 401 from the API server also makes the
 *    next request run it again (the credential was revoked or rotated).
 *    A credential without expirationTimestamp is kept until a 401.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <json-c/json.h>

#include "k8s/k8s.h"

#define EXEC_MAX_OUTPUT (1u << 20)
#define EXEC_TIMEOUT_MS 30000

void k8s_exec_free(struct k8s_exec *e)
{
	size_t i;

	if (!e)
		return;
	free(e->command);
	free(e->api_version);
	free(e->dir);
	for (i = 0; i < e->n_args; i++)
		free(e->args[i]);
	free(e->args);
	for (i = 0; i < e->n_env; i++)
		free(e->env[i]);
	free(e->env);
	free(e);
}

void k8s_exec_expire(struct k8s_exec *e)
{
	if (e)
		e->have = false;
}

/* RFC 3339 ("2026-11-26T14:00:00Z", fractions and offsets allowed). */
static bool parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = 0;
	int hh, mm;

	if (!p)
		return false;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2) {
		off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	*out = timegm(&tm) - off;
	return true;
}

/* What the child needs, made before fork(): after it, in a process with
 * other threads, only async-signal-safe calls are allowed (no malloc). */
struct child_plan {
	char **argv, **envp;
	char *cmd, *info;
};

static void plan_free(struct child_plan *p)
{
	free(p->argv);
	free(p->envp);
	free(p->cmd);
	free(p->info);
}

static int plan_make(const struct k8s_exec *e, struct child_plan *p)
{
	size_t n_environ = 0, i, j = 0;

	memset(p, 0, sizeof(*p));
	while (environ[n_environ])
		n_environ++;
	p->argv = calloc(e->n_args + 2, sizeof(*p->argv));
	p->envp = calloc(n_environ + e->n_env + 2, sizeof(*p->envp));
	if (asprintf(&p->info, "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":"
			       "\"ExecCredential\",\"spec\":{\"interactive\":false}}",
		     e->api_version) < 0)
		p->info = NULL;
	/* Relative with a '/': relative to the kubeconfig (client-go). */
	if (strchr(e->command, '/') && e->command[0] != '/' && e->dir &&
	    asprintf(&p->cmd, "%s/%s", e->dir, e->command) < 0)
		p->cmd = NULL;
	if (!p->argv || !p->envp || !p->info ||
	    (strchr(e->command, '/') && e->command[0] != '/' && e->dir && !p->cmd)) {
		plan_free(p);
		return -ENOMEM;
	}
	p->argv[0] = p->cmd ? p->cmd : e->command;
	for (i = 0; i < e->n_args; i++)
		p->argv[i + 1] = e->args[i];
	/* The agent's environment, then the kubeconfig's entries over it. */
	for (i = 0; i < n_environ; i++) {
		size_t k, len = strcspn(environ[i], "=");
		bool replaced = !strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21);

		for (k = 0; k < e->n_env && !replaced; k++)
			replaced = !strncmp(environ[i], e->env[k], len + 1);
		if (!replaced)
			p->envp[j++] = environ[i];
	}
	for (i = 0; i < e->n_env; i++)
		p->envp[j++] = e->env[i];
	p->envp[j] = p->info;
	return 0;
}

/* The child: stdin /dev/null, stdout to out_fd, then the plugin. */
static void run_child(const struct child_plan *p, int out_fd)
{
	static const char msg[] = "bpfmesh: cannot run the kubeconfig exec plugin\n";
	int devnull = open("/dev/null", O_RDONLY);

	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0)
		_exit(127);
	execvpe(p->argv[0], p->argv, p->envp);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

/* Read fd to EOF (at most EXEC_MAX_OUTPUT bytes, EXEC_TIMEOUT_MS). */
static char *read_all(int fd, char *why, size_t why_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = EXEC_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
					  (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			snprintf(why, why_len, "no answer within %d s", EXEC_TIMEOUT_MS / 1000);
			break;
		}
		if (len + 1 >= cap) {
			char *more = cap >= EXEC_MAX_OUTPUT ? NULL : realloc(buf, cap * 2);

			if (!more) {
				snprintf(why, why_len, "more than %u bytes of output", EXEC_MAX_OUTPUT);
				break;
			}
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, why_len, "read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

static char *dup_field(struct json_object *status, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(status, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return strdup(json_object_get_string(v));
}

static void replace(char **dst, char *src)
{
	free(*dst);
	*dst = src;
}

/* The ExecCredential in text -> c's token or client certificate. */
static int take_credential(struct k8s_config *c, const char *text, char *why, size_t why_len)
{
	struct k8s_exec *e = c->exec;
	struct json_object *cred = json_tokener_parse(text), *v, *status;
	const char *av = NULL, *exp = NULL;
	char *token, *cert, *key;
	size_t cert_len = 0, key_len = 0;
	int err = -EINVAL;

	if (!cred || !json_object_object_get_ex(cred, "kind", &v) ||
	    strcmp(json_object_get_string(v), "ExecCredential") != 0) {
		snprintf(why, why_len, "its output is not an ExecCredential");
		goto out;
	}
	if (json_object_object_get_ex(cred, "apiVersion", &v))
		av = json_object_get_string(v);
	if (!av || strcmp(av, e->api_version) != 0) {
		snprintf(why, why_len, "it answered apiVersion %s, the kubeconfig asks for %s",
			 av ? av : "(none)", e->api_version);
		goto out;
	}
	if (!json_object_object_get_ex(cred, "status", &status)) {
		snprintf(why, why_len, "its ExecCredential has no status");
		goto out;
	}
	if (json_object_object_get_ex(status, "expirationTimestamp", &v))
		exp = json_object_get_string(v);
	if (exp && !parse_rfc3339(exp, &e->expires)) {
		snprintf(why, why_len, "status.expirationTimestamp \"%s\" is not RFC 3339", exp);
		goto out;
	}
	token = dup_field(status, "token", NULL);
	cert = dup_field(status, "clientCertificateData", &cert_len);
	key = dup_field(status, "clientKeyData", &key_len);
	if (!token && (!cert || !key)) {
		snprintf(why, why_len, "status has neither a token nor clientCertificateData and "
			 "clientKeyData");
		free(cert);
		free(key);
		goto out;
	}
	replace(&c->token, token);
	if (cert && key) {
		replace(&c->cert_data, cert);
		replace(&c->key_data, key);
		c->cert_len = cert_len;
		c->key_len = key_len;
	} else {
		free(cert);
		free(key);
	}
	e->expiring = exp != NULL;
	e->have = true;
	e->runs++;
	err = 0;
out:
	json_object_put(cred);
	return err;
}

int k8s_exec_refresh(struct k8s_config *c, char *why, size_t why_len)
{
	struct k8s_exec *e = c->exec;
	struct child_plan plan;
	char *out, sub[160] = "";
	int pipefd[2], status = 0, err;
	pid_t pid;

	if (!e || (e->have && (!e->expiring || time(NULL) < e->expires)))
		return 0;
	if (plan_make(e, &plan))
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC)) {
		err = -errno;
		plan_free(&plan);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		plan_free(&plan);
		return err;
	}
	if (pid == 0)
		run_child(&plan, pipefd[1]);
	plan_free(&plan);
	close(pipefd[1]);
	out = read_all(pipefd[0], sub, sizeof(sub));
	close(pipefd[0]);
	if (!out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!out) {
		snprintf(why, why_len, "exec plugin %s: %s", e->command, sub);
		return -EIO;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, why_len, "exec plugin %s exited with %s %d", e->command,
			 WIFEXITED(status) ? "status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		free(out);
		return -EIO;
	}
	err = take_credential(c, out, sub, sizeof(sub));
	free(out);
	if (err)
		snprintf(why, why_len, "exec plugin %s: %s", e->command, sub);
	return err;
}
