// SPDX-License-Identifier: Apache-2.0
/* A Kubernetes API server made of recordings (see fakeapi.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "fakeapi.h"

#define MAX_KEYS 64

struct fakeapi {
	struct MHD_Daemon *d;
	char dir[512], triggers[512];
	bool client_certs; /* TLS with a client CA: requests must carry a certificate */
	atomic_bool stop;
	pthread_mutex_t lock;
	char *log;
	size_t log_len, log_cap;
	struct { char key[128]; int lists, watches; } counts[MAX_KEYS];
	int n_counts;
};

/* One streamed .jsonl response. */
struct stream {
	struct fakeapi *f;
	char *text;      /* the file */
	char *line;      /* next line to read */
	const char *out; /* pending output of the current line */
	size_t out_len;
	unsigned int slow_ms;
	double deadline; /* timeoutSeconds */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void log_request(struct fakeapi *f, const char *req)
{
	size_t n = strlen(req) + 1;

	pthread_mutex_lock(&f->lock);
	if (f->log_len + n + 1 > f->log_cap) {
		size_t cap = (f->log_cap + n + 1) * 2;
		char *p = realloc(f->log, cap);

		if (p) {
			f->log = p;
			f->log_cap = cap;
		}
	}
	if (f->log_len + n + 1 <= f->log_cap) {
		memcpy(f->log + f->log_len, req, n - 1);
		f->log[f->log_len + n - 1] = '\n';
		f->log_len += n;
		f->log[f->log_len] = '\0';
	}
	pthread_mutex_unlock(&f->lock);
}

/* The n-th list or watch of key (1-based). */
static int next_count(struct fakeapi *f, const char *key, bool watch)
{
	int i, n = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->n_counts && strcmp(f->counts[i].key, key); i++)
		;
	if (i == f->n_counts && i < MAX_KEYS)
		snprintf(f->counts[f->n_counts++].key, sizeof(f->counts[0].key), "%s", key);
	if (i < MAX_KEYS)
		n = watch ? ++f->counts[i].watches : ++f->counts[i].lists;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* "services", or "virtualservices.v1beta1" for Istio's group. */
static void resource_key(const char *url, char *key, size_t len)
{
	const char *res = strrchr(url, '/'), *istio = strstr(url, "/networking.istio.io/");

	res = res ? res + 1 : url;
	if (istio) {
		const char *ver = istio + strlen("/networking.istio.io/");
		const char *slash = strchr(ver, '/');

		snprintf(key, len, "%s.%.*s", res, (int)(slash ? slash - ver : 0), ver);
	} else {
		snprintf(key, len, "%s", res);
	}
}

struct query {
	char text[2048];
	size_t len;
	bool watch;
	int timeout_s;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *k,
				 const char *v)
{
	struct query *q = cls;

	q->len += (size_t)snprintf(q->text + q->len, sizeof(q->text) - q->len, "%s%s=%s",
				   q->len ? "&" : "", k, v ? v : "");
	if (q->len >= sizeof(q->text))
		q->len = sizeof(q->text) - 1;
	if (!strcmp(k, "watch") && v && (!strcmp(v, "1") || !strcmp(v, "true")))
		q->watch = true;
	if (!strcmp(k, "timeoutSeconds") && v)
		q->timeout_s = atoi(v);
	return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void sleep_ms(struct fakeapi *f, unsigned int ms)
{
	double end = now_s() + ms / 1000.0;

	while (!atomic_load(&f->stop) && now_s() < end)
		usleep(2000);
}

static void wait_trigger(struct stream *s, const char *name)
{
	char path[1200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", s->f->triggers, name);
	/* 0.2 ms: benches time what follows a trigger (bench/k8s_scale.c) */
	while (!atomic_load(&s->f->stop) && now_s() < s->deadline && stat(path, &st) != 0)
		usleep(200);
}

/* Advance over directives until a line to send; false at a stop. */
static ssize_t next_line(struct stream *s)
{
	for (;;) {
		char *line = s->line, *nl;

		if (atomic_load(&s->f->stop) || now_s() >= s->deadline)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!line || !*line) {
			usleep(10000); /* the end of the recording: open and silent */
			continue;
		}
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		s->line = nl ? nl + 1 : line + strlen(line);
		if (line[0] != '#') {
			if (!line[0])
				continue;
			if (nl)
				*nl = '\n'; /* send the newline too */
			s->out = line;
			s->out_len = nl ? (size_t)(nl - line) + 1 : strlen(line);
			return 0;
		}
		if (!strncmp(line, "#partial ", 9)) {
			s->out = line + 9; /* no newline: half an event */
			s->out_len = strlen(line + 9);
			return 0;
		}
		if (!strncmp(line, "#sleep ", 7))
			sleep_ms(s->f, (unsigned int)atoi(line + 7));
		else if (!strncmp(line, "#wait ", 6))
			wait_trigger(s, line + 6);
		else if (!strncmp(line, "#slow ", 6))
			s->slow_ms = (unsigned int)atoi(line + 6);
		else if (!strcmp(line, "#close"))
			return MHD_CONTENT_READER_END_OF_STREAM;
		else if (!strcmp(line, "#drop"))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	if (!s->out_len) {
		ssize_t r = next_line(s);

		if (r)
			return r;
	}
	n = s->out_len < max ? s->out_len : max;
	if (s->slow_ms) {
		if (n > 7)
			n = 7;
		sleep_ms(s->f, s->slow_ms);
	}
	memcpy(buf, s->out, n);
	s->out += n;
	s->out_len -= n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	free(s->text);
	free(s);
}

static enum MHD_Result serve_watch(struct fakeapi *f, struct MHD_Connection *c, char *text,
				   int timeout_s)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;

	if (!s) {
		free(text);
		return MHD_NO;
	}
	s->f = f;
	s->text = text;
	s->line = text;
	s->deadline = now_s() + (timeout_s > 0 ? timeout_s : 300);
	if (text && !strncmp(text, "#status ", 8)) {
		char *nl = strchr(text, '\n');

		status = (unsigned int)atoi(text + 8);
		ret = reply(c, status, nl ? nl + 1 : "");
		stream_free(s);
		return ret;
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_list(struct fakeapi *f, struct MHD_Connection *c, const char *key,
				  int n)
{
	char path[1200], *body;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;
	const char *b;

	snprintf(path, sizeof(path), "%s/%s.list.%d.json", f->dir, key, n);
	body = read_all(path);
	if (!body) {
		snprintf(path, sizeof(path), "%s/%s.list.json", f->dir, key);
		body = read_all(path);
	}
	if (!body)
		return reply(c, MHD_HTTP_NOT_FOUND,
			     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			     "\"message\":\"the server could not find the requested resource\","
			     "\"reason\":\"NotFound\",\"code\":404}");
	b = body;
	if (!strncmp(body, "#status ", 8)) {
		status = (unsigned int)atoi(body + 8);
		b = strchr(body, '\n') ? strchr(body, '\n') + 1 : "";
	}
	ret = reply(c, status, b);
	free(body);
	return ret;
}

/*
 * The client certificate of c's TLS session, verified against the client
 * CA: its subject as " cert=DN" into out; false when there is none or it
 * does not verify. libmicrohttpd only requests a certificate (GnuTLS
 * GNUTLS_CERT_REQUEST), so the check is here.
 */
static bool client_cert_dn(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
	const gnutls_datum_t *chain;
	gnutls_x509_crt_t crt;
	unsigned int status = 0, n = 0;
	char dn[256];
	size_t dn_len = sizeof(dn);
	bool ok;

	if (!session || gnutls_certificate_verify_peers2(session, &status) || status)
		return false;
	chain = gnutls_certificate_get_peers(session, &n);
	if (!chain || !n || gnutls_x509_crt_init(&crt))
		return false;
	ok = !gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) &&
	     !gnutls_x509_crt_get_dn(crt, dn, &dn_len);
	gnutls_x509_crt_deinit(crt);
	if (ok)
		snprintf(out, len, " cert=%s", dn);
	return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **ctx)
{
	struct fakeapi *f = cls;
	struct query q = { .len = 0 };
	char key[128], req[3000], path[1200];
	const char *auth;
	int n;

	if (!*ctx) { /* first call: headers only */
		*ctx = f;
		return MHD_YES;
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	n = snprintf(req, sizeof(req), "%s?%s%s%s", url, q.text, auth ? " auth=" : "",
		     auth ? auth : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		n = (int)sizeof(req) - 1;
	if (f->client_certs && !client_cert_dn(c, req + n, sizeof(req) - (size_t)n)) {
		log_request(f, req);
		return reply(c, MHD_HTTP_UNAUTHORIZED,
			     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			     "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
	}
	log_request(f, req);
	resource_key(url, key, sizeof(key));
	n = next_count(f, key, q.watch);
	if (!q.watch)
		return serve_list(f, c, key, n);
	snprintf(path, sizeof(path), "%s/%s.watch.%d.jsonl", f->dir, key, n);
	return serve_watch(f, c, read_all(path), q.timeout_s);
}

/* A listening socket on 127.0.0.1:port (0: ephemeral); -errno. */
static int listen_loopback(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 64)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

int fakeapi_start_tls(const char *fixture_dir, const char *trigger_dir,
		      const struct fakeapi_tls *tls, struct fakeapi **out, uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct fakeapi *f = calloc(1, sizeof(*f));
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	int fd;

	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "%s", fixture_dir);
	snprintf(f->triggers, sizeof(f->triggers), "%s", trigger_dir ? trigger_dir : fixture_dir);
	fd = listen_loopback(tls ? tls->port : 0);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&sin, &sl)) {
		int err = fd < 0 ? fd : -errno;

		if (fd >= 0)
			close(fd);
		free(f);
		return err;
	}
	if (!tls)
		f->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, f, MHD_OPTION_LISTEN_SOCKET,
					fd, MHD_OPTION_CONNECTION_TIMEOUT, 0u, MHD_OPTION_END);
	else if (!tls->client_ca)
		f->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle, f,
					MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
					0u, MHD_OPTION_HTTPS_MEM_CERT, tls->cert,
					MHD_OPTION_HTTPS_MEM_KEY, tls->key, MHD_OPTION_END);
	else
		f->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle, f,
					MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
					0u, MHD_OPTION_HTTPS_MEM_CERT, tls->cert,
					MHD_OPTION_HTTPS_MEM_KEY, tls->key,
					MHD_OPTION_HTTPS_MEM_TRUST, tls->client_ca, MHD_OPTION_END);
	f->client_certs = tls && tls->client_ca;
	if (!f->d) {
		close(fd);
		free(f);
		return -EIO;
	}
	*port = ntohs(sin.sin_port);
	*out = f;
	return 0;
}

int fakeapi_start(const char *fixture_dir, const char *trigger_dir, struct fakeapi **out,
		  uint16_t *port)
{
	return fakeapi_start_tls(fixture_dir, trigger_dir, NULL, out, port);
}

void fakeapi_stop(struct fakeapi *f)
{
	if (!f)
		return;
	atomic_store(&f->stop, true);
	MHD_stop_daemon(f->d);
	pthread_mutex_destroy(&f->lock);
	free(f->log);
	free(f);
}

void fakeapi_requests(struct fakeapi *f, char *buf, size_t len)
{
	pthread_mutex_lock(&f->lock);
	snprintf(buf, len, "%s", f->log ? f->log : "");
	pthread_mutex_unlock(&f->lock);
}

int fakeapi_count(struct fakeapi *f, const char *needle)
{
	const char *p;
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (p = f->log; p && (p = strstr(p, needle)); p++)
		n++;
	pthread_mutex_unlock(&f->lock);
	return n;
}
