/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_TESTS_FAKEAPI_H
#define BPFMESH_TESTS_FAKEAPI_H
/*
 * A Kubernetes API server made of recordings, for tests (no cluster runs
 * here): libmicrohttpd on 127.0.0.1, one thread per connection, serving
 * files from a fixture directory (tests/k8s/fixtures/<scenario>/).
 *
 * A request for resource R (the last path segment; Istio kinds add
 * ".VERSION", e.g. "virtualservices.v1beta1") is the n-th list or the n-th
 * watch of R, counted from 1. It is answered with:
 *   list:  R.list.N.json, else R.list.json, else 404 with a Status body
 *   watch: R.watch.N.jsonl, else the stream stays open and silent until
 *          the request's timeoutSeconds (as a server with nothing to say)
 * A .jsonl file is sent line by line; lines starting with '#' direct:
 *   #status CODE   (first line) answer with CODE and the rest as body
 *   #sleep MS      pause
 *   #wait NAME     pause until the file NAME exists in the trigger dir
 *   #slow MS       send what follows in 7-byte pieces, MS apart
 *   #partial TEXT  send TEXT without a newline (half an event)
 *   #close         end the response cleanly (the server closed the watch)
 *   #drop          break the connection mid-stream
 * At the end of a file the stream stays open until timeoutSeconds.
 */
#include <stddef.h>
#include <stdint.h>

struct fakeapi;

/* 0 or -errno; *port is the ephemeral port on 127.0.0.1. */
int fakeapi_start(const char *fixture_dir, const char *trigger_dir, struct fakeapi **out,
		  uint16_t *port);
/* The same over HTTPS (GnuTLS): cert and key are the server's PEM; with
 * client_ca (PEM), a request without a client certificate that client_ca
 * signed is answered 401 as kube-apiserver answers an unauthenticated one,
 * and the certificate's subject is logged (" cert=DN"). port: 0 for an
 * ephemeral one, else that port (a server restarted in place). */
struct fakeapi_tls {
	const char *cert, *key, *client_ca;
	uint16_t port;
};
int fakeapi_start_tls(const char *fixture_dir, const char *trigger_dir,
		      const struct fakeapi_tls *tls, struct fakeapi **out, uint16_t *port);
void fakeapi_stop(struct fakeapi *f); /* accepts NULL */
/* Every request so far, "PATH?QUERY[ auth=AUTHORIZATION]\n" each, into
 * buf (truncated). */
void fakeapi_requests(struct fakeapi *f, char *buf, size_t len);
/* Requests whose "PATH?QUERY" contains needle. */
int fakeapi_count(struct fakeapi *f, const char *needle);

#endif
