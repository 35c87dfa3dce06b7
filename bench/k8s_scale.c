// SPDX-License-Identifier: Apache-2.0
/*
 * Cost of the Kubernetes path at scale (issue 16), no kernel: N Services
 * with E ready endpoints each, held as the watch holds them, rendered to
 * ServiceEntries and compiled to the image, the way every reload does.
 * Then the same objects as one list response each, served by the recorded
 * API server (tests/k8s/fakeapi.c) on 127.0.0.1: list (pages of 500) and
 * parse by the watch, until every kind is synced.
 * `make k8s-bench [K8S_SERVICES=10000] [K8S_ENDPOINTS=10]`. Prints times;
 * asserts nothing (tests do that).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <json-c/json.h>

#include <unistd.h>

#include "k8s/k8s.h"
#include "policy/policy.h"
#include "../tests/k8s/fakeapi.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct json_object *service(int i)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"metadata\": {\"name\": \"svc-%d\", \"namespace\": \"bench\"},"
		 " \"spec\": {\"clusterIP\": \"10.%d.%d.%d\", \"ports\": [{\"name\": \"tcp\", \"port\": 80}]}}",
		 i, 96 + i / 65536, (i / 256) % 256, i % 256);
	return json_tokener_parse(text);
}

static struct json_object *slice(int i, int n_eps, int skip)
{
	struct json_object *s = json_object_new_object(), *m = json_object_new_object();
	struct json_object *labels = json_object_new_object(), *eps = json_object_new_array();
	char name[64], addr[32];
	int e;

	snprintf(addr, sizeof(addr), "svc-%d", i);
	json_object_object_add(labels, "kubernetes.io/service-name", json_object_new_string(addr));
	snprintf(name, sizeof(name), "svc-%d-abc", i);
	json_object_object_add(m, "name", json_object_new_string(name));
	json_object_object_add(m, "namespace", json_object_new_string("bench"));
	json_object_object_add(m, "labels", labels);
	json_object_object_add(s, "metadata", m);
	json_object_object_add(s, "addressType", json_object_new_string("IPv4"));
	json_object_object_add(s, "ports", json_tokener_parse("[{\"name\": \"tcp\", \"port\": 8080}]"));
	for (e = 0; e < n_eps; e++) {
		struct json_object *ep = json_object_new_object(), *a = json_object_new_array();

		if (e == skip)
			continue;
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", 128 + (i * n_eps + e) / 65536,
			 ((i * n_eps + e) / 256) % 256, (i * n_eps + e) % 256);
		json_object_array_add(a, json_object_new_string(addr));
		json_object_object_add(ep, "addresses", a);
		json_object_object_add(ep, "conditions", json_tokener_parse("{\"ready\": true}"));
		json_object_array_add(eps, ep);
	}
	json_object_object_add(s, "endpoints", eps);
	return s;
}

static double reload(struct k8s_objects *o, size_t *n_svcs)
{
	struct k8s_docs d = { 0 };
	struct diag_list dl = { 0 };
	struct bpfmesh_image img;
	double t0 = now_ms(), t1, t2;
	int rc;

	if (k8s_render_objects(o, NULL, &d, NULL))
		exit(1);
	t1 = now_ms();
	rc = policy_compile_buffers((const char *const *)d.names, (const char *const *)d.texts,
				    d.lens, d.n, &dl, &img);
	t2 = now_ms();
	if (rc) {
		diag_print(&dl, stderr);
		exit(1);
	}
	*n_svcs = img.n_services;
	printf("  render %.0f ms, compile %.0f ms\n", t1 - t0, t2 - t1);
	bpfmesh_image_free(&img);
	diag_free(&dl);
	k8s_docs_free(&d);
	return t2 - t0;
}

/* Write the objects of kind k as a list response NAME.list.json in dir. */
static void write_list(const char *dir, const char *name, struct json_object *objs)
{
	struct json_object *list = json_object_new_object(), *items = json_object_new_array();
	char path[512];

	json_object_object_foreach(objs, k, v) {
		(void)k;
		json_object_array_add(items, json_object_get(v));
	}
	json_object_object_add(list, "metadata", json_tokener_parse("{\"resourceVersion\": \"1\"}"));
	json_object_object_add(list, "items", items);
	snprintf(path, sizeof(path), "%s/%s.list.json", dir, name);
	json_object_to_file_ext(path, list, JSON_C_TO_STRING_PLAIN);
	json_object_put(list);
}

static void list_from_server(struct k8s_objects *o)
{
	char dir[] = "/tmp/bpfmesh-k8s-bench-XXXXXX", path[600];
	static const char *const names[] = { "services", "endpointslices", "pods", "nodes" };
	struct k8s_watch_opts opts = { .page_limit = 500 };
	struct k8s_config c = { 0 };
	struct json_object *empty = json_object_new_object();
	struct k8s_watch *w;
	struct k8s_health h = { 0 };
	struct fakeapi *fa;
	uint16_t port;
	double t0;
	size_t i;

	if (!mkdtemp(dir))
		return;
	write_list(dir, "services", o->by_kind[K8S_SERVICES]);
	write_list(dir, "endpointslices", o->by_kind[K8S_ENDPOINTSLICES]);
	write_list(dir, "pods", empty);
	write_list(dir, "nodes", empty);
	json_object_put(empty);
	if (fakeapi_start(dir, NULL, &fa, &port))
		return;
	if (asprintf(&c.server, "http://127.0.0.1:%u", port) < 0)
		return;
	t0 = now_ms();
	if (k8s_watch_start(&c, &opts, &w))
		return;
	while (!h.synced && now_ms() - t0 < 60000) {
		usleep(1000);
		k8s_health(w, &h);
	}
	printf("k8s: listed from the API server (pages of 500, one page a response here): "
	       "%.0f ms%s\n", now_ms() - t0, h.synced ? "" : " (not synced after 60 s)");
	k8s_watch_stop(w);
	fakeapi_stop(fa);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.list.json", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	int n = getenv("K8S_SERVICES") ? atoi(getenv("K8S_SERVICES")) : 10000;
	int e = getenv("K8S_ENDPOINTS") ? atoi(getenv("K8S_ENDPOINTS")) : 10;
	struct k8s_objects o = { 0 };
	char key[64];
	size_t n_svcs;
	double t;
	int i;

	o.by_kind[K8S_SERVICES] = json_object_new_object();
	o.by_kind[K8S_ENDPOINTSLICES] = json_object_new_object();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "bench/svc-%d", i);
		json_object_object_add(o.by_kind[K8S_SERVICES], key, service(i));
		snprintf(key, sizeof(key), "bench/svc-%d-abc", i);
		json_object_object_add(o.by_kind[K8S_ENDPOINTSLICES], key, slice(i, e, -1));
	}
	printf("k8s: %d Services x %d endpoints, full reload (render + compile):\n", n, e);
	t = reload(&o, &n_svcs);
	printf("k8s: cold: %.0f ms for %zu service keys\n", t, n_svcs);
	/* one endpoint of one Service changes: the same full reload */
	json_object_object_add(o.by_kind[K8S_ENDPOINTSLICES], "bench/svc-0-abc", slice(0, e, 3));
	t = reload(&o, &n_svcs);
	printf("k8s: one endpoint changed: %.0f ms (the apply then writes one set)\n", t);
	list_from_server(&o);
	for (i = 0; i < K8S_N_KINDS; i++)
		json_object_put(o.by_kind[i]);
	return 0;
}
