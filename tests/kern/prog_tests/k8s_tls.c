// SPDX-License-Identifier: Apache-2.0
/*
 * TLS to the Kubernetes API server (issue 16): the agent against the
 * recorded API server (tests/k8s/fakeapi.c) over HTTPS, with a throwaway CA
 * and certificates made here by the openssl CLI. The fixtures are those of
 * k8s_discovery (tests/k8s/fixtures/kern): Service 127.100.16.1:80, its
 * ready endpoints 127.1.16.1 and .2, .3 not ready.
 *
 * k8s_tls_ca_data: the CA from the kubeconfig's certificate-authority-data
 *   and a bearer token: discovery works, the maps send connections to the
 *   ready endpoints. Restarted with a kubeconfig naming another CA, the
 *   agent refuses the server (the log names the server and the certificate
 *   check that failed) and the data plane keeps the last good state.
 * k8s_tls_client_cert: a server that requires a client certificate (kube-
 *   apiserver's x509 authentication) refuses the agent without one (401)
 *   and serves it with client-certificate-data/client-key-data.
 * k8s_tls_client_cert_files: the same server, the CA, certificate and key
 *   given as file paths: absolute; relative, resolved against the
 *   kubeconfig's directory as kubectl does (the kubeconfig in a conf/
 *   directory naming ../client.crt, which the agent's working directory
 *   does not hold); a missing key file (the agent refuses to start, naming
 *   the kubeconfig, its line, the field and the path; the data plane keeps
 *   the last good state); a key that is not the certificate's (the API
 *   server unreachable, the TLS error logged, the state kept).
 * k8s_tls_in_cluster: --in-cluster with the service account's token and
 *   ca.crt at their fixed path, put there in a mount namespace of the
 *   agent's own (a tmpfs on /run), KUBERNETES_SERVICE_HOST/PORT set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "ktest.h"
#include "../k8s/fakeapi.h"

#define FIXTURES "tests/k8s/fixtures/kern"
#define VIP "127.100.16.1"
#define N_CONNS 2000
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static const char *const eps[] = { "127.1.16.1", "127.1.16.2", "127.1.16.3" };

/* What openssl needs besides its arguments: no system openssl.cnf is
 * assumed (the 6.1 guest has none). */
static const char openssl_cnf[] =
	"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
	"[ca_ext]\nbasicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
	"[server_ext]\nbasicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n"
	"[client_ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
	"extendedKeyUsage = clientAuth\n";

/* A throwaway PKI in dir: ca.{crt,key} and other-ca.{crt,key}; server.crt
 * (SAN IP:127.0.0.1) signed by ca and server-other.crt by other-ca, both
 * for server.key; client.{crt,key} (CN system:node:node-a) signed by ca;
 * base64 of ca.crt, client.crt and client.key (*.b64) for kubeconfig data. */
static int make_pki(const char *dir)
{
	static const char script[] =
		"set -e; cd '%s'\n"
		"key='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
		"for ca in ca other-ca; do\n"
		"  openssl req -x509 -config tls.cnf -extensions ca_ext $key -keyout $ca.key"
		"   -out $ca.crt -days 2 -subj /CN=bpfmesh-test-$ca\n"
		"done\n"
		"openssl req -new -config tls.cnf $key -keyout server.key -out server.csr"
		" -subj /CN=fake-apiserver\n"
		"openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2"
		" -extfile tls.cnf -extensions server_ext -out server.crt\n"
		"openssl x509 -req -in server.csr -CA other-ca.crt -CAkey other-ca.key -set_serial 3"
		" -days 2 -extfile tls.cnf -extensions server_ext -out server-other.crt\n"
		"openssl req -new -config tls.cnf $key -keyout client.key -out client.csr"
		" -subj /O=system:nodes/CN=system:node:node-a\n"
		"openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 4 -days 2"
		" -extfile tls.cnf -extensions client_ext -out client.crt\n"
		"for f in ca.crt client.crt client.key; do openssl base64 -A -in $f -out $f.b64; done\n";
	char path[PATH_MAX], body[sizeof(script) + PATH_MAX], cmd[sizeof(body) + PATH_MAX + 32];
	int err;

	snprintf(path, sizeof(path), "%s/tls.cnf", dir);
	err = write_text_file(path, openssl_cnf);
	if (err)
		return err;
	snprintf(body, sizeof(body), script, dir);
	/* its output kept in openssl.log, printed when it fails */
	snprintf(cmd, sizeof(cmd), "( %s) >'%s/openssl.log' 2>&1 || { cat '%s/openssl.log'; "
		 "false; }", body, dir, dir);
	return system(cmd) == 0 ? 0 : -EIO;
}

/* dir/name's text (malloc'd), or NULL. */
static char *read_pki(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return read_text_file(path);
}

/* The test's PKI, its files as text, and the HTTPS fake API server. */
struct tls_case {
	char dir[64];
	char *ca, *server_key, *server_crt, *server_other_crt;
	struct fakeapi *fa;
	uint16_t port;
};

static void tls_case_free(struct tls_case *t)
{
	static const char *const files[] = {
		"tls.cnf", "openssl.log", "ca.crt", "ca.key", "other-ca.crt", "other-ca.key",
		"server.key", "server.csr", "server.crt", "server-other.crt", "client.key",
		"client.csr", "client.crt", "ca.crt.b64", "client.crt.b64", "client.key.b64",
		"kubeconfig", "endpoints-change", "token", "conf/kubeconfig", "conf", NULL };
	char path[PATH_MAX];
	int i;

	fakeapi_stop(t->fa);
	t->fa = NULL;
	free(t->ca);
	free(t->server_key);
	free(t->server_crt);
	free(t->server_other_crt);
	if (!t->dir[0])
		return;
	for (i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", t->dir, files[i]);
		if (unlink(path) && errno == EISDIR)
			rmdir(path);
	}
	rmdir(t->dir);
}

/* The PKI made, the server started with server.crt (client_ca: require
 * client certificates signed by ca). false: skipped or failed (reported). */
static bool tls_case_start(struct tls_case *t, bool client_ca)
{
	struct fakeapi_tls tls = { 0 };
	char probe[PATH_MAX];

	snprintf(t->dir, sizeof(t->dir), "/tmp/bpfmesh-tls-XXXXXX");
	if (!ASSERT_TRUE(mkdtemp(t->dir) != NULL, "PKI dir")) {
		t->dir[0] = '\0';
		return false;
	}
	snprintf(probe, sizeof(probe), "%s/services.list.json", FIXTURES);
	if (access(probe, R_OK)) {
		ktest_skip("fixtures not found (run from the repository root)");
		return false;
	}
	if (system("openssl version >/dev/null 2>&1")) {
		ktest_skip("no openssl CLI (Makefile DEB_PKGS installs it)");
		return false;
	}
	if (!ASSERT_OK(make_pki(t->dir), "throwaway CA and certificates (openssl)"))
		return false;
	t->ca = read_pki(t->dir, "ca.crt");
	t->server_key = read_pki(t->dir, "server.key");
	t->server_crt = read_pki(t->dir, "server.crt");
	t->server_other_crt = read_pki(t->dir, "server-other.crt");
	if (!ASSERT_TRUE(t->ca && t->server_key && t->server_crt && t->server_other_crt,
			 "PKI files"))
		return false;
	tls.cert = t->server_crt;
	tls.key = t->server_key;
	tls.client_ca = client_ca ? t->ca : NULL;
	return ASSERT_OK(fakeapi_start_tls(FIXTURES, t->dir, &tls, &t->fa, &t->port),
			 "HTTPS fake API server");
}

/* A kubeconfig at t->dir/name for https://127.0.0.1:PORT; cluster and user
 * are the inside of their flow mappings. Its path into kc. */
static int write_kubeconfig_at(const struct tls_case *t, const char *name, const char *cluster,
			       const char *user, char *kc, size_t len)
{
	char text[16384];

	snprintf(kc, len, "%s/%s", t->dir, name);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
		 "clusters:\n- name: fake\n  cluster: {server: 'https://127.0.0.1:%u', %s}\n"
		 "users:\n- name: agent\n  user: {%s}\n"
		 "contexts:\n- name: test\n  context: {cluster: fake, user: agent}\n",
		 t->port, cluster, user);
	return write_text_file(kc, text);
}

static int write_kubeconfig(const struct tls_case *t, const char *cluster, const char *user,
			    char *kc, size_t len)
{
	return write_kubeconfig_at(t, "kubeconfig", cluster, user, kc, len);
}

/* Connections to the Service's cluster IP reach its ready endpoints only. */
static void expect_ready_endpoints(struct ktest_env *env, const char *what)
{
	struct client_result r;

	if (!ASSERT_OK(client_run(env, VIP, 80, N_CONNS, &r), "client"))
		return;
	ASSERT_EQ(r.ok, N_CONNS, what);
	ASSERT_EQ(r.per_backend[2], 0, "no connection to the endpoint that is not ready");
	ASSERT_NEAR(r.per_backend[0], N_CONNS / 2.0, binomial_bound(N_CONNS, 0.5), what);
}

/* The agent's log line holding needle holds every one of want[]. */
static bool log_line_has(struct ktest_env *env, const char *needle, const char *const *want)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(env->log, "r");
	int i;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strstr(line, needle))
			continue;
		found = true;
		for (i = 0; want[i]; i++)
			if (!strstr(line, want[i])) {
				printf("  log line lacks \"%s\": %s", want[i], line);
				found = false;
			}
	}
	fclose(f);
	return found;
}

/* "key: FILE.b64's content" for a kubeconfig flow mapping. */
static int data_field(const struct tls_case *t, const char *key, const char *file, char *out,
		      size_t len)
{
	char *b64 = read_pki(t->dir, file);

	if (!b64)
		return -ENOENT;
	snprintf(out, len, "%s: %s", key, b64);
	free(b64);
	return 0;
}

KTEST(k8s_tls_ca_data)
{
	char kc[PATH_MAX], ca_data[4096], other[PATH_MAX + 64], server[64], log[1 << 14];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", NULL };
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct tls_case t = { 0 };
	int applied;

	if (!tls_case_start(&t, false) ||
	    !ASSERT_OK(data_field(&t, "certificate-authority-data", "ca.crt.b64", ca_data,
				  sizeof(ca_data)), "CA data") ||
	    !ASSERT_OK(write_kubeconfig(&t, ca_data, "token: tls-token-1", kc, sizeof(kc)),
		       "kubeconfig") ||
	    !ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies over HTTPS"))
		goto out;
	expect_ready_endpoints(&env, "cluster IP -> ready endpoints, discovered over HTTPS");
	fakeapi_requests(t.fa, log, sizeof(log));
	ASSERT_TRUE(strstr(log, "endpointslices?limit=500 auth=Bearer tls-token-1\n") != NULL,
		    "the slices listed with the token");

	/* The same server, a kubeconfig naming another CA: refused, the state kept. */
	applied = env_count_log(&env, "bpfmesh: applied generation");
	if (!ASSERT_EQ(env_stop_agent(&env), 0, "agent stops"))
		goto out;
	snprintf(other, sizeof(other), "certificate-authority: %s/other-ca.crt", t.dir);
	if (!ASSERT_OK(write_kubeconfig(&t, other, "token: tls-token-1", kc, sizeof(kc)),
		       "kubeconfig, wrong CA") ||
	    !ASSERT_OK(env_spawn_agent(&env, NULL, args), "agent restarts") ||
	    !ASSERT_OK(env_wait_log(&env, "Kubernetes API unreachable", 1, 30000),
		       "the TLS failure reported"))
		goto out;
	snprintf(server, sizeof(server), "https://127.0.0.1:%u", t.port);
	{
		const char *want[] = { server, "SSL certificate problem",
				       "unable to get local issuer certificate", NULL };

		ASSERT_TRUE(log_line_has(&env, "Kubernetes API unreachable", want),
			    "the error names the server and the failed certificate check");
	}
	{
		static char out[1 << 16];
		bool shown = false;
		int i, rc = -1;

		/* The status file is written when the agent is idle, at most
		 * ~1 s after it is due (agent/idle.c): slower under QEMU/TCG. */
		for (i = 0; i < 100 && !shown; i++) {
			if (i)
				usleep(100 * 1000);
			rc = env_run_cli(&env, out, sizeof(out), "status --bpffs %s --state-dir %s",
					 env.bpffs, env.state);
			shown = rc == 0 && strstr(out, "kubernetes API: UNREACHABLE since ") &&
				strstr(out, "unable to get local issuer certificate");
		}
		ASSERT_EQ(rc, 0, "bpfmesh status");
		ASSERT_TRUE(shown, "bpfmesh status shows the TLS failure");
	}
	expect_ready_endpoints(&env, "the last good state stays in force");
	ASSERT_EQ(env_count_log(&env, "bpfmesh: applied generation"), applied,
		  "nothing applied without the API server");
out:
	backends_stop(&be);
	env_teardown(&env);
	tls_case_free(&t);
}

KTEST(k8s_tls_client_cert)
{
	char kc[PATH_MAX], ca[PATH_MAX + 64], crt[4096], key[2048], user[6200], log[1 << 14];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", NULL };
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct tls_case t = { 0 };

	if (!tls_case_start(&t, true) || !ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends"))
		goto out;
	snprintf(ca, sizeof(ca), "certificate-authority: %s/ca.crt", t.dir);

	/* No client certificate: kube-apiserver's answer is 401. */
	if (!ASSERT_OK(write_kubeconfig(&t, ca, "", kc, sizeof(kc)), "kubeconfig") ||
	    !ASSERT_OK(env_spawn_agent(&env, NULL, args), "agent without a certificate") ||
	    !ASSERT_OK(env_wait_log(&env, "Kubernetes API unreachable", 1, 30000),
		       "refused without a client certificate"))
		goto out;
	{
		const char *want[] = { "HTTP 401", "Unauthorized", NULL };

		ASSERT_TRUE(log_line_has(&env, "Kubernetes API unreachable", want),
			    "the server's 401 in the log");
	}
	ASSERT_EQ(env_count_log(&env, "bpfmesh: applied generation"), 0, "nothing applied");
	env_stop_agent(&env);

	/* client-certificate-data and client-key-data */
	if (!ASSERT_OK(data_field(&t, "client-certificate-data", "client.crt.b64", crt,
				  sizeof(crt)), "client cert data") ||
	    !ASSERT_OK(data_field(&t, "client-key-data", "client.key.b64", key, sizeof(key)),
		       "client key data"))
		goto out;
	snprintf(user, sizeof(user), "%s, %s", crt, key);
	if (!ASSERT_OK(write_kubeconfig(&t, ca, user, kc, sizeof(kc)), "kubeconfig") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies with its certificate"))
		goto out;
	expect_ready_endpoints(&env, "cluster IP -> ready endpoints, client certificate auth");
	fakeapi_requests(t.fa, log, sizeof(log));
	ASSERT_TRUE(strstr(log, "endpointslices?limit=500 cert=") != NULL &&
		    strstr(log, "CN=system:node:node-a") != NULL,
		    "the list carried the client certificate signed by the CA");
out:
	backends_stop(&be);
	env_teardown(&env);
	tls_case_free(&t);
}

/* How many of the fake API server's requests listed the slices with a
 * client certificate the CA signed for node-a. */
static int cert_lists(struct tls_case *t)
{
	static char log[1 << 16];
	const char *at = log;
	int n = 0;

	fakeapi_requests(t->fa, log, sizeof(log));
	while ((at = strstr(at, "endpointslices?limit=500 cert="))) {
		const char *eol = strchr(at, '\n');
		const char *cn = strstr(at, "CN=system:node:node-a");

		n += cn && (!eol || cn < eol);
		at++;
	}
	return n;
}

/* conf/kubeconfig with the CA and client.crt named relative to conf/, and
 * key (a path relative to conf/) as the client key; its path into kc. */
static int write_relative_kubeconfig(const struct tls_case *t, const char *key, char *kc,
				     size_t len)
{
	char user[PATH_MAX];

	snprintf(user, sizeof(user), "client-certificate: ../client.crt, client-key: %s", key);
	return write_kubeconfig_at(t, "conf/kubeconfig", "certificate-authority: ../ca.crt", user,
				   kc, len);
}

/* The agent started with conf/kubeconfig naming key: its log shows needle. */
static bool agent_with_key_logs(const struct tls_case *t, struct ktest_env *env, const char *key,
				char *kc, size_t len, const char *const *args, const char *needle)
{
	return ASSERT_OK(write_relative_kubeconfig(t, key, kc, len), key) &&
	       ASSERT_OK(env_spawn_agent(env, NULL, args), "agent starts") &&
	       ASSERT_OK(env_wait_log(env, needle, 1, 30000), needle);
}

KTEST(k8s_tls_client_cert_files)
{
	char kc[PATH_MAX], cluster[PATH_MAX + 64], user[2 * PATH_MAX + 64], missing[PATH_MAX];
	const char *args[] = { "--kubeconfig", kc, "--node", "node-a", NULL };
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct tls_case t = { 0 };
	int lists, applied;

	if (!tls_case_start(&t, true) || !ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends"))
		goto out;

	/* Absolute paths. */
	snprintf(cluster, sizeof(cluster), "certificate-authority: %s/ca.crt", t.dir);
	snprintf(user, sizeof(user), "client-certificate: %s/client.crt, client-key: %s/client.key",
		 t.dir, t.dir);
	if (!ASSERT_OK(write_kubeconfig(&t, cluster, user, kc, sizeof(kc)), "kubeconfig") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies, absolute paths"))
		goto out;
	expect_ready_endpoints(&env, "cluster IP -> ready endpoints, certificate files");
	lists = cert_lists(&t);
	ASSERT_TRUE(lists >= 1, "the list carried the client certificate from its file");
	if (!ASSERT_EQ(env_stop_agent(&env), 0, "agent stops"))
		goto out;

	/* Relative paths: against the kubeconfig's directory (conf/), not the
	 * agent's working directory (the repository root). */
	snprintf(cluster, sizeof(cluster), "%s/conf", t.dir);
	if (!ASSERT_OK(mkdir(cluster, 0700) ? -errno : 0, "conf dir") ||
	    !ASSERT_OK(write_relative_kubeconfig(&t, "../client.key", kc, sizeof(kc)),
		       "kubeconfig, relative") ||
	    !ASSERT_TRUE(access("../client.crt", F_OK) != 0, "no ../client.crt from here") ||
	    !ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies, relative paths"))
		goto out;
	expect_ready_endpoints(&env, "cluster IP -> ready endpoints, relative certificate files");
	ASSERT_TRUE(cert_lists(&t) > lists, "the certificate found beside the kubeconfig");
	if (!ASSERT_EQ(env_stop_agent(&env), 0, "agent stops"))
		goto out;

	/* A key file that is not there: refused at the start, by name. */
	applied = env_count_log(&env, "bpfmesh: applied generation");
	snprintf(missing, sizeof(missing), "%s/conf/../missing.key", t.dir);
	if (!agent_with_key_logs(&t, &env, "../missing.key", kc, sizeof(kc), args,
				 "Failed to load Kubernetes credentials"))
		goto out;
	{
		/* the user mapping is on line 9 of write_kubeconfig_at's text */
		const char *want[] = { kc, "line 9: users[].user.client-key", missing,
				       "No such file or directory", NULL };

		ASSERT_TRUE(log_line_has(&env, "Failed to load Kubernetes credentials", want),
			    "the error names the kubeconfig, line, field and path");
	}
	ASSERT_TRUE(env_stop_agent(&env) > 0, "the agent exits with an error");
	expect_ready_endpoints(&env, "the last good state stays in force (missing key)");

	/* A key that is not the certificate's (the server's): TLS fails. */
	if (!agent_with_key_logs(&t, &env, "../server.key", kc, sizeof(kc), args,
				 "Kubernetes API unreachable"))
		goto out;
	{
		char server[64];
		const char *want[] = { server, "private key", NULL };

		snprintf(server, sizeof(server), "https://127.0.0.1:%u", t.port);
		ASSERT_TRUE(log_line_has(&env, "Kubernetes API unreachable", want),
			    "the error names the server and the key");
	}
	expect_ready_endpoints(&env, "the last good state stays in force (mismatched key)");
	ASSERT_EQ(env_count_log(&env, "bpfmesh: applied generation"), applied,
		  "nothing applied with bad credentials");
out:
	backends_stop(&be);
	env_teardown(&env);
	tls_case_free(&t);
}

/* In the agent's child: a mount namespace of its own where SA_DIR holds
 * the test's token and ca.crt (a tmpfs on /run, which /var/run names, so
 * nothing of the host's /run is written), and the service environment a
 * pod gets. */
struct in_cluster {
	const struct tls_case *t;
	char port[8];
};

static int in_cluster_child(void *arg)
{
	const struct in_cluster *ic = arg;
	char src[PATH_MAX];

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") ||
	    mkdir("/run/secrets", 0755) || mkdir("/run/secrets/kubernetes.io", 0755) ||
	    mkdir("/run/secrets/kubernetes.io/serviceaccount", 0755)) {
		perror("in-cluster mount namespace");
		return -1;
	}
	snprintf(src, sizeof(src), "%s/token", ic->t->dir);
	if (symlink(src, SA_DIR "/token")) {
		perror("service account token");
		return -1;
	}
	snprintf(src, sizeof(src), "%s/ca.crt", ic->t->dir);
	if (symlink(src, SA_DIR "/ca.crt")) {
		perror("service account ca.crt");
		return -1;
	}
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", ic->port, 1);
	return 0;
}

KTEST(k8s_tls_in_cluster)
{
	const char *args[] = { "--in-cluster", "--node", "node-a", NULL };
	char path[PATH_MAX], line[128], log[1 << 14];
	struct ktest_env env = { 0 };
	struct backends be = {};
	struct tls_case t = { 0 };
	struct in_cluster ic = { .t = &t };
	struct stat st;

	if (!tls_case_start(&t, false))
		goto out;
	/* A Debian host has /var/run -> /run; the 6.1 guest's initramfs has no
	 * /var: give it the same link (the guest is thrown away after). */
	if (lstat("/var/run", &st) && ((mkdir("/var", 0755) && errno != EEXIST) ||
				       symlink("/run", "/var/run"))) {
		ktest_skip("no /var/run to hold the service account files");
		goto out;
	}
	snprintf(ic.port, sizeof(ic.port), "%u", t.port);
	snprintf(path, sizeof(path), "%s/token", t.dir);
	if (!ASSERT_OK(write_text_file(path, "sa-token-in-cluster\n"), "service account token") ||
	    !ASSERT_OK(env_setup(&env), "setup") ||
	    !ASSERT_OK(backends_start(&be, eps, 3, 8080), "backends"))
		goto out;
	env.agent_child_setup = in_cluster_child;
	env.agent_child_arg = &ic;
	if (!ASSERT_OK(env_start_agent_args(&env, NULL, args), "agent applies in-cluster"))
		goto out;
	snprintf(line, sizeof(line), "Kubernetes API https://127.0.0.1:%u (in-cluster service "
		 "account)", t.port);
	ASSERT_EQ(env_count_log(&env, line), 1, "the service's address, the service account");
	expect_ready_endpoints(&env, "cluster IP -> ready endpoints, in-cluster credentials");
	fakeapi_requests(t.fa, log, sizeof(log));
	ASSERT_TRUE(strstr(log, "endpointslices?limit=500 auth=Bearer sa-token-in-cluster\n") !=
		    NULL, "the service account token, its newline trimmed");
out:
	backends_stop(&be);
	env_teardown(&env);
	tls_case_free(&t);
}
