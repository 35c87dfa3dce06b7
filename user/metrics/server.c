// SPDX-License-Identifier: Apache-2.0
/* The /metrics endpoint on libmicrohttpd (see server.h). We bind the socket
 * ourselves so that a port that cannot be bound fails at start with its real
 * errno; libmicrohttpd then owns it (MHD_OPTION_LISTEN_SOCKET) and closes it
 * in MHD_stop_daemon. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/prom.h"
#include "metrics/server.h"

#define MX_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct mx_server {
	struct MHD_Daemon *d;
	struct mx_provider p;
	uint16_t port;
};

static int mx_parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int mx_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	uint16_t port;
	size_t hlen;
	bool v6 = s[0] == '[';

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		colon = strstr(s, "]:");
		if (!colon)
			return -EINVAL;
		s++;
		hlen = (size_t)(colon - s);
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host) || mx_parse_port(colon + 1, &port))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static enum MHD_Result mx_reply(struct MHD_Connection *c, unsigned int status, char *body,
				size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* MUST_FREE: libmicrohttpd free()s body with the response. */
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result mx_reply_text(struct MHD_Connection *c, unsigned int status,
				     const char *msg)
{
	char *body = strdup(msg);

	return body ? mx_reply(c, status, body, strlen(body), "text/plain") : MHD_NO;
}

/* One scrape: a fresh snapshot, rendered, released. */
static enum MHD_Result mx_scrape(struct mx_server *s, struct MHD_Connection *c)
{
	struct mx_snapshot snap;
	struct mx_buf b = { 0 };
	char msg[64];
	int err;

	memset(&snap, 0, sizeof(snap));
	err = s->p.fill(s->p.ctx, &snap);
	if (!err) {
		err = mx_render(&snap, &b);
		if (s->p.release)
			s->p.release(s->p.ctx, &snap);
	}
	if (err) {
		mx_buf_free(&b);
		snprintf(msg, sizeof(msg), "Failed to collect metrics: %d\n", err);
		return mx_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	return mx_reply(c, MHD_HTTP_OK, b.p, b.len, MX_CONTENT_TYPE);
}

/* Readiness, for a DaemonSet's readinessProbe: 200 "ready" or 503 and why. */
static enum MHD_Result mx_ready(struct mx_server *s, struct MHD_Connection *c)
{
	char why[256] = "", msg[300];

	if (!s->p.ready || s->p.ready(s->p.ctx, why, sizeof(why)))
		return mx_reply_text(c, MHD_HTTP_OK, "ready\n");
	snprintf(msg, sizeof(msg), "not ready: %s\n", why);
	return mx_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
}

static enum MHD_Result mx_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **req_cls)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return mx_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed\n");
	if (!strcmp(url, "/metrics"))
		return mx_scrape(cls, c);
	if (!strcmp(url, "/readyz"))
		return mx_ready(cls, c);
	/* Liveness: answered from the agent's own loop (poll mode), so a hung
	 * agent does not answer. */
	if (!strcmp(url, "/healthz"))
		return mx_reply_text(c, MHD_HTTP_OK, "ok\n");
	return mx_reply_text(c, MHD_HTTP_NOT_FOUND,
			     "Not found; metrics are at /metrics, health at /healthz and /readyz\n");
}

static int mx_listen_socket(const struct sockaddr_storage *ss, socklen_t len,
			    const char **err_what)
{
	int fd, one = 1, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err_what = "create socket";
		return -errno;
	}
	/* Let a restarted agent rebind while old connections sit in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len)) {
		*err_what = "bind";
		goto fail;
	}
	if (listen(fd, 64)) {
		*err_what = "listen";
		goto fail;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static uint16_t mx_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int mx_server_start(const char *listen_addr, const struct mx_provider *p, unsigned int flags,
		    struct mx_server **out, const char **err_what)
{
	unsigned int mhd_flags = MHD_USE_EPOLL;
	struct sockaddr_storage ss;
	struct mx_server *s;
	const char *what;
	socklen_t len;
	int fd, err;

	if (!err_what)
		err_what = &what;
	*out = NULL;
	*err_what = "parse listen address (ADDR:PORT or [ADDR6]:PORT)";
	err = mx_parse_listen(listen_addr, &ss, &len);
	if (err)
		return err;
	fd = mx_listen_socket(&ss, len, err_what);
	if (fd < 0)
		return fd;
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		*err_what = "allocate server";
		return -ENOMEM;
	}
	s->p = *p;
	s->port = mx_bound_port(fd);
	if (flags & MX_SERVER_THREAD)
		mhd_flags |= MHD_USE_INTERNAL_POLLING_THREAD;
	if (ss.ss_family == AF_INET6)
		mhd_flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(mhd_flags, 0, NULL, NULL, mx_handle, s,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, 32u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!s->d) {
		/* Not closed here: libmicrohttpd may already have closed the
		 * socket it was given, and a second close could hit a reused fd. */
		free(s);
		*err_what = "start libmicrohttpd";
		return -EIO;
	}
	*out = s;
	return 0;
}

uint16_t mx_server_port(const struct mx_server *s)
{
	return s->port;
}

int mx_server_fd(const struct mx_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);

	return i ? i->epoll_fd : -1;
}

int mx_server_run(struct mx_server *s)
{
	return MHD_run(s->d) == MHD_YES ? 0 : -EIO;
}

int mx_server_timeout_ms(struct mx_server *s)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(s->d, &t) != MHD_YES)
		return -1;
	return t > 60000 ? 60000 : (int)t;
}

void mx_server_stop(struct mx_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
