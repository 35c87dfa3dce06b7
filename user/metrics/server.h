/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_METRICS_SERVER_H
#define BPFMESH_METRICS_SERVER_H
/*
 * `bpfmesh agent --metrics ADDR:PORT`: Prometheus text at GET /metrics on
 * libmicrohttpd; every other path is 404, other methods 405. Each scrape
 * calls the provider's fill() for a fresh snapshot, renders it (prom.h) and
 * calls release().
 *
 * Phase 2 (agent.c): parse --metrics, call mx_server_start() before the main
 * loop (a port that cannot be bound is an error at start), add
 * mx_server_fd() to the loop's poll set with POLLIN and call mx_server_run()
 * when it is readable and at least every mx_server_timeout_ms(); so fill()
 * runs on the agent's thread, between policy reloads, with no locking. Call
 * mx_server_stop() on exit. MX_SERVER_THREAD instead runs libmicrohttpd's own
 * thread (fill() then runs there; the tests use it).
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics/snapshot.h"

struct mx_provider {
	/* Fill *snap for one scrape; 0 or -errno (answered with 500). */
	int (*fill)(void *ctx, struct mx_snapshot *snap);
	/* Release what fill() allocated; may be NULL. */
	void (*release)(void *ctx, struct mx_snapshot *snap);
	/* /readyz: true when ready; else why (a line) into why. NULL: always. */
	bool (*ready)(void *ctx, char *why, size_t why_len);
	void *ctx;
};

enum mx_server_flags {
	MX_SERVER_THREAD = 1 << 0, /* libmicrohttpd polls in its own thread */
};

struct mx_server;

/* "127.0.0.1:9091", "0.0.0.0:9091", "[::1]:9091", "[::]:9091". Port 0 picks
 * an ephemeral port (see mx_server_port). Returns 0 or -EINVAL. */
int mx_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Bind and listen on listen_addr, then serve. Returns 0 or -errno: -EINVAL
 * for a malformed address, the bind()/listen() error (e.g. -EADDRINUSE,
 * -EACCES, -EADDRNOTAVAIL) as is. *err_what names the step that failed. */
int mx_server_start(const char *listen_addr, const struct mx_provider *p, unsigned int flags,
		    struct mx_server **out, const char **err_what);
uint16_t mx_server_port(const struct mx_server *s);
/* Without MX_SERVER_THREAD: the fd to poll for POLLIN, and the step to run. */
int mx_server_fd(const struct mx_server *s);
int mx_server_run(struct mx_server *s);
/* Longest wait before mx_server_run() is due (connection timeouts); -1: none. */
int mx_server_timeout_ms(struct mx_server *s);
/* Close the listening socket and every connection; accepts NULL. */
void mx_server_stop(struct mx_server *s);

#endif /* BPFMESH_METRICS_SERVER_H */
