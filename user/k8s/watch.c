// SPDX-License-Identifier: Apache-2.0
/*
 * List and watch, the Kubernetes API's way (API concepts, "Efficient
 * detection of changes"): a paginated list (limit/continue) gives a
 * collection and its resourceVersion; a watch from that resourceVersion
 * streams ADDED/MODIFIED/DELETED events, one JSON object a line, and
 * BOOKMARK events that only move the resourceVersion on
 * (allowWatchBookmarks). A watch that ends (server timeout, broken
 * connection) is resumed from the last resourceVersion seen; a 410 Gone (as
 * the HTTP status or as an ERROR event carrying a Status with code 410)
 * means that version was compacted away, and the kind is listed again. The
 * new list replaces the held objects in one step, so objects deleted while
 * the watch was broken disappear and nothing else moves.
 *
 * One thread runs every transfer on a curl multi handle (one list or watch
 * per kind in flight). Why a thread and not the agent's poll loop: a
 * compile of a large cluster takes hundreds of milliseconds, and a watch
 * stream must keep being read meanwhile (the server drops slow watchers).
 *
 * During an outage nothing held is dropped: the agent keeps compiling the
 * last good objects and the kernel keeps its last applied state; health
 * says since when and why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "k8s/k8s.h"
#include "k8s/render_int.h"

/* A list page or a watch line larger than this is refused: Kubernetes
 * stores no object over 1.5 MiB, and pages are limited to page_limit items. */
#define K8S_MAX_BODY (256u << 20)
#define K8S_MAX_LINE (16u << 20)
#define K8S_BACKOFF_MAX_MS 30000u
#define K8S_ABSENT_RETRY_MS 60000u /* a CRD not installed: look again later */

const struct k8s_kind_info k8s_kinds[K8S_N_KINDS] = {
	[K8S_NODES] = { "Node", "", { "v1" }, "nodes", true },
	[K8S_PODS] = { "Pod", "", { "v1" }, "pods", true },
	[K8S_SERVICES] = { "Service", "", { "v1" }, "services" },
	[K8S_ENDPOINTSLICES] = { "EndpointSlice", "discovery.k8s.io", { "v1" }, "endpointslices" },
	[K8S_SERVICEENTRIES] = { "ServiceEntry", "networking.istio.io",
				 { "v1", "v1beta1", "v1alpha3" }, "serviceentries", true },
	[K8S_WORKLOADENTRIES] = { "WorkloadEntry", "networking.istio.io",
				  { "v1", "v1beta1", "v1alpha3" }, "workloadentries", true },
	[K8S_DESTINATIONRULES] = { "DestinationRule", "networking.istio.io",
				   { "v1", "v1beta1", "v1alpha3" }, "destinationrules", true },
	[K8S_VIRTUALSERVICES] = { "VirtualService", "networking.istio.io",
				  { "v1", "v1beta1", "v1alpha3" }, "virtualservices", true },
};

enum phase { PH_LIST, PH_WATCH };

struct stream {
	struct k8s_watch *w;
	enum k8s_kind kind;
	int version;         /* index into k8s_kinds[kind].versions */
	enum phase phase;
	bool listed, failing;
	char rv[128];        /* last resourceVersion seen */
	char *cont;          /* list continue token */
	struct json_object *pending; /* the list being paged in */
	struct json_object *unheld;  /* first list: its items not yet in the store */
	CURL *easy;
	struct curl_slist *hdrs;
	char *buf;
	size_t len, cap;
	bool gone;           /* an ERROR event with code 410 arrived */
	bool stream_error;   /* another ERROR event, or a line that is not JSON */
	unsigned int events; /* events of the current watch connection */
	uint64_t started_ms, next_ms;
	unsigned int backoff_ms;
	char curl_error[CURL_ERROR_SIZE]; /* libcurl's detail of a failure (TLS: why) */
};

struct k8s_watch {
	pthread_mutex_t lock;
	struct json_object *store[K8S_N_KINDS]; /* under lock */
	struct k8s_health health;                /* under lock */
	uint64_t generation; /* under lock: +1 at every change of what the stores hold */
	struct k8s_incr *incr; /* under lock: what changed since the last rendering */
	bool rendered;         /* under lock: k8s_render was called */
	double prerender_ms;   /* under lock: prerender()'s time, 0 when none ran */
	int efd;
	atomic_bool stop;
	pthread_t thread;
	CURLM *multi;
	struct k8s_config cfg;
	struct k8s_watch_opts opts;
	char node_name[256];
	struct stream streams[K8S_N_KINDS];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void signal_change(struct k8s_watch *w)
{
	uint64_t one = 1;

	/* EAGAIN (counter saturated) means a wakeup is pending anyway. */
	ssize_t r = write(w->efd, &one, sizeof(one));

	(void)r;
}

/* ---- health ------------------------------------------------------------- */

static bool any_failing(const struct k8s_watch *w)
{
	int k;

	for (k = 0; k < K8S_N_KINDS; k++)
		if (w->streams[k].failing)
			return true;
	return false;
}

static bool all_listed(const struct k8s_watch *w)
{
	int k;

	for (k = 0; k < K8S_N_KINDS; k++)
		if (!w->streams[k].listed)
			return false;
	return true;
}

/* Record a failure of s (msg says what) and schedule its retry. */
static void stream_failed(struct stream *s, const char *msg)
{
	struct k8s_watch *w = s->w;
	struct k8s_health *h = &w->health;
	bool was = any_failing(w);

	s->failing = true;
	s->next_ms = mono_ms() + s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > K8S_BACKOFF_MAX_MS ? K8S_BACKOFF_MAX_MS
							       : s->backoff_ms * 2;
	pthread_mutex_lock(&w->lock);
	h->failures++;
	h->outage = true;
	if (!was)
		h->outage_since = time(NULL);
	snprintf(h->last_error, sizeof(h->last_error), "%ss: %s", k8s_kinds[s->kind].kind, msg);
	pthread_mutex_unlock(&w->lock);
	if (!was)
		signal_change(w);
}

static void stream_ok(struct stream *s)
{
	struct k8s_watch *w = s->w;

	s->backoff_ms = w->opts.backoff_ms;
	if (!s->failing)
		return;
	s->failing = false;
	if (any_failing(w))
		return;
	pthread_mutex_lock(&w->lock);
	w->health.outage = false;
	w->health.failures = 0;
	w->health.outage_since = 0;
	pthread_mutex_unlock(&w->lock);
	signal_change(w);
}

/* ---- objects ------------------------------------------------------------ */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* "namespace/name", or "name" for cluster-scoped kinds. */
static bool object_key(struct json_object *obj, char *key, size_t len)
{
	struct json_object *meta = jget(obj, "metadata");
	const char *name = jstr(meta, "name"), *ns = jstr(meta, "namespace");

	if (!name)
		return false;
	if (ns)
		snprintf(key, len, "%s/%s", ns, name);
	else
		snprintf(key, len, "%s", name);
	return true;
}

/* A pod's controller (ownerReferences, its kind and name): Istio's
 * workload name (render.c). NULL: none. */
static struct json_object *controller_trim(struct json_object *meta)
{
	struct json_object *owners = jget(meta, "ownerReferences"), *out, *ref = NULL;
	size_t i;

	for (i = 0; owners && i < json_object_array_length(owners) && !ref; i++)
		if (json_object_get_boolean(jget(json_object_array_get_idx(owners, i), "controller")))
			ref = json_object_array_get_idx(owners, i);
	if (!ref)
		return NULL;
	out = json_object_new_object();
	json_object_object_add(out, "kind", json_object_get(jget(ref, "kind")));
	json_object_object_add(out, "name", json_object_get(jget(ref, "name")));
	json_object_object_add(out, "controller", json_object_new_boolean(true));
	ref = json_object_new_array();
	json_object_array_add(ref, out);
	return ref;
}

/* Of a container status list, the running ones as {state: {running: {}}}
 * only: a Pending pod with one of them has started (render.c), and the
 * rest (restart counts, probes' readiness) changes without that mattering. */
static struct json_object *running_trim(struct json_object *list)
{
	struct json_object *out = json_object_new_array(), *state, *one;
	size_t i;

	for (i = 0; list && i < json_object_array_length(list); i++) {
		if (!jget(jget(json_object_array_get_idx(list, i), "state"), "running"))
			continue;
		state = json_object_new_object();
		json_object_object_add(state, "running", json_object_new_object());
		one = json_object_new_object();
		json_object_object_add(one, "state", state);
		json_object_array_add(out, one);
	}
	return out;
}

/* What is kept of a Pod: what identity and endpoint labels need. */
static struct json_object *pod_trim(struct json_object *pod)
{
	struct json_object *out = json_object_new_object(), *spec = json_object_new_object(),
			   *status = json_object_new_object(), *meta = jget(pod, "metadata"), *m, *ctl;
	static const char *const meta_keys[] = { "name", "namespace", "uid", "labels" };
	static const char *const spec_keys[] = { "nodeName", "serviceAccountName" };
	static const char *const status_keys[] = { "qosClass", "podIP", "phase" };
	static const char *const started_keys[] = { "containerStatuses",
						    "initContainerStatuses" };
	size_t i;

	m = json_object_new_object();
	for (i = 0; i < 4; i++)
		if (jget(meta, meta_keys[i]))
			json_object_object_add(m, meta_keys[i], json_object_get(jget(meta, meta_keys[i])));
	for (i = 0; i < 2; i++)
		if (jget(jget(pod, "spec"), spec_keys[i]))
			json_object_object_add(spec, spec_keys[i],
					       json_object_get(jget(jget(pod, "spec"), spec_keys[i])));
	for (i = 0; i < 3; i++)
		if (jget(jget(pod, "status"), status_keys[i]))
			json_object_object_add(status, status_keys[i],
					       json_object_get(jget(jget(pod, "status"), status_keys[i])));
	for (i = 0; i < 2; i++)
		if (jget(jget(pod, "status"), started_keys[i]))
			json_object_object_add(status, started_keys[i],
					       running_trim(jget(jget(pod, "status"), started_keys[i])));
	if ((ctl = controller_trim(meta)))
		json_object_object_add(m, "ownerReferences", ctl);
	json_object_object_add(out, "metadata", m);
	json_object_object_add(out, "spec", spec);
	json_object_object_add(out, "status", status);
	json_object_put(pod);
	return out;
}

/* What is kept of a Node: its name and labels (locality, this node's
 * labels). Nodes are written every few minutes for their status alone, and
 * those writes must not look like changes. */
static struct json_object *node_trim(struct json_object *node)
{
	struct json_object *out = json_object_new_object(), *m = json_object_new_object();
	struct json_object *meta = jget(node, "metadata");
	static const char *const meta_keys[] = { "name", "labels" };
	size_t i;

	for (i = 0; i < 2; i++)
		if (jget(meta, meta_keys[i]))
			json_object_object_add(m, meta_keys[i], json_object_get(jget(meta, meta_keys[i])));
	json_object_object_add(out, "metadata", m);
	json_object_put(node);
	return out;
}

/* Drop what no conversion reads and that can be large. The apiVersion and
 * kind are set: list items come without them. */
static struct json_object *object_trim(struct stream *s, struct json_object *obj)
{
	const struct k8s_kind_info *ki = &k8s_kinds[s->kind];
	struct json_object *meta, *ann;
	char av[96];

	if (s->kind == K8S_PODS)
		obj = pod_trim(obj);
	else if (s->kind == K8S_NODES)
		obj = node_trim(obj);
	meta = jget(obj, "metadata");
	if (meta) {
		/* What changes at every write whatever was written: without it, an
		 * update that changes nothing held compares equal (watch_event). */
		json_object_object_del(meta, "resourceVersion");
		json_object_object_del(meta, "managedFields");
		ann = jget(meta, "annotations");
		if (ann)
			json_object_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
	}
	snprintf(av, sizeof(av), "%s%s%s", ki->group, ki->group[0] ? "/" : "",
		 ki->versions[s->version]);
	json_object_object_add(obj, "apiVersion", json_object_new_string(av));
	json_object_object_add(obj, "kind", json_object_new_string(ki->kind));
	return obj;
}

static void set_rv(struct stream *s, struct json_object *obj)
{
	const char *rv = jstr(jget(obj, "metadata"), "resourceVersion");

	if (rv)
		snprintf(s->rv, sizeof(s->rv), "%s", rv);
}

/* One watch event line. false: stop this connection (410 or bad input). */
static bool watch_event(struct stream *s, char *line)
{
	struct k8s_watch *w = s->w;
	struct json_object *ev = json_tokener_parse(line), *obj;
	const char *type;
	char key[512];
	bool changed = false;

	if (!ev) {
		s->stream_error = true;
		return false;
	}
	type = jstr(ev, "type");
	obj = jget(ev, "object");
	if (!type || !obj) {
		json_object_put(ev);
		s->stream_error = true;
		return false;
	}
	if (strcmp(type, "ERROR") == 0) {
		struct json_object *code = jget(obj, "code");

		if (code && json_object_get_int(code) == 410)
			s->gone = true;
		else
			s->stream_error = true;
		json_object_put(ev);
		return false;
	}
	s->events++;
	set_rv(s, obj);
	if (strcmp(type, "BOOKMARK") != 0 && object_key(obj, key, sizeof(key))) {
		struct json_object *held, *trimmed = NULL;

		if (strcmp(type, "DELETED") != 0)
			trimmed = object_trim(s, json_object_get(obj));
		pthread_mutex_lock(&w->lock);
		held = jget(w->store[s->kind], key);
		/* What is held already (a status-only write, an ADDED after a
		 * resume that was in the list) changes nothing: no reload. */
		changed = trimmed ? !held || !json_object_equal(held, trimmed) : held != NULL;
		if (!trimmed)
			json_object_object_del(w->store[s->kind], key);
		else if (changed)
			json_object_object_add(w->store[s->kind], key, json_object_get(trimmed));
		if (changed)
			k8s_incr_note(w->incr, s->kind, key);
		w->generation += changed;
		w->health.events++;
		pthread_mutex_unlock(&w->lock);
		json_object_put(trimmed);
	}
	json_object_put(ev);
	if (changed)
		signal_change(w);
	return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct stream *s = arg;
	size_t n = size * nmemb;
	long code = 0;
	char *nl;

	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		if (cap > K8S_MAX_BODY || !(b = realloc(s->buf, cap)))
			return 0; /* aborts the transfer */
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (s->phase != PH_WATCH || code != 200)
		return n; /* a list, or an error Status: read whole at the end */
	stream_ok(s);
	while ((nl = memchr(s->buf, '\n', s->len))) {
		size_t used = (size_t)(nl - s->buf) + 1;

		*nl = '\0';
		if (nl > s->buf && !watch_event(s, s->buf))
			return 0;
		memmove(s->buf, s->buf + used, s->len - used);
		s->len -= used;
		s->buf[s->len] = '\0';
	}
	return s->len > K8S_MAX_LINE ? 0 : n;
}

/* ---- requests ----------------------------------------------------------- */

static char *read_token(const char *path)
{
	char buf[16384];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static void set_tls(CURL *e, const struct k8s_config *c)
{
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_data) {
		struct curl_blob b = { c->ca_data, c->ca_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_data) {
		struct curl_blob b = { c->cert_data, c->cert_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	}
	if (c->key_data) {
		struct curl_blob b = { c->key_data, c->key_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	}
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void stream_url(struct stream *s, char *url, size_t len)
{
	const struct k8s_kind_info *ki = &k8s_kinds[s->kind];
	struct k8s_watch *w = s->w;
	size_t n;

	if (ki->group[0])
		n = (size_t)snprintf(url, len, "%s/apis/%s/%s/%s?", w->cfg.server, ki->group,
				     ki->versions[s->version], ki->resource);
	else
		n = (size_t)snprintf(url, len, "%s/api/%s/%s?", w->cfg.server,
				     ki->versions[s->version], ki->resource);
	if (n >= len)
		return;
	if (s->phase == PH_LIST) {
		char *esc = s->cont ? curl_easy_escape(s->easy, s->cont, 0) : NULL;

		snprintf(url + n, len - n, "limit=%u%s%s", w->opts.page_limit,
			 esc ? "&continue=" : "", esc ? esc : "");
		curl_free(esc);
	} else {
		/* allowWatchBookmarks: the server moves our resourceVersion on
		 * even when nothing of ours changes, so a resume rarely gets 410. */
		snprintf(url + n, len - n,
			 "watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
			 s->rv, w->opts.timeout_s);
	}
}

static int stream_start(struct stream *s)
{
	struct k8s_watch *w = s->w;
	char url[4096], *token = NULL, *auth = NULL;

	s->easy = curl_easy_init();
	if (!s->easy)
		return -ENOMEM;
	s->len = 0;
	s->gone = s->stream_error = false;
	s->events = 0;
	s->started_ms = mono_ms();
	stream_url(s, url, sizeof(url));
	s->curl_error[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->curl_error);
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "bpfmesh-agent");
	curl_easy_setopt(s->easy, CURLOPT_ACCEPT_ENCODING, "");
	if (s->phase == PH_LIST) {
		curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 120L);
	} else {
		/* A watch idle past its own timeout plus a margin is dead (a
		 * partition that never reset the connection). */
		curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_TIME, (long)w->opts.timeout_s + 15);
	}
	set_tls(s->easy, &w->cfg);
	s->hdrs = curl_slist_append(NULL, "Accept: application/json");
	token = w->cfg.token_file ? read_token(w->cfg.token_file) : NULL;
	if (token || w->cfg.token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token ? token : w->cfg.token) > 0)
			s->hdrs = curl_slist_append(s->hdrs, auth);
		free(auth);
	}
	free(token);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
	return curl_multi_add_handle(w->multi, s->easy) == CURLM_OK ? 0 : -EIO;
}

static void stream_release(struct stream *s)
{
	if (s->easy) {
		curl_multi_remove_handle(s->w->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
}

static void list_restart(struct stream *s, uint64_t at)
{
	free(s->cont);
	s->cont = NULL;
	json_object_put(s->pending);
	s->pending = NULL;
	json_object_put(s->unheld);
	s->unheld = NULL;
	s->phase = PH_LIST;
	s->next_ms = at;
}

/* A Status body's message, for logs. */
static void status_message(struct stream *s, long code, CURLcode res, char *out, size_t len)
{
	struct json_object *st;
	const char *msg;

	if (res != CURLE_OK) {
		/* The server and libcurl's detail: a TLS failure says which check
		 * failed ("unable to get local issuer certificate"). */
		snprintf(out, len, "%s: %s%s%s%s", s->w->cfg.server, curl_easy_strerror(res),
			 s->curl_error[0] ? " (" : "", s->curl_error, s->curl_error[0] ? ")" : "");
		return;
	}
	st = s->len ? json_tokener_parse(s->buf) : NULL;
	msg = jstr(st, "message");
	snprintf(out, len, "HTTP %ld%s%s", code, msg ? ": " : "", msg ? msg : "");
	json_object_put(st);
}

/* A whole list page arrived: add its items; the last page replaces the store. */
static struct k8s_objects objects_held(struct k8s_watch *w)
{
	struct k8s_objects o = { .node_name = w->node_name };
	int k;

	for (k = 0; k < K8S_N_KINDS; k++)
		o.by_kind[k] = w->store[k];
	return o;
}

static double mono_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * Under the lock, once every kind is listed and before the agent's first
 * k8s_render: make every document here, on the watch thread, so that the
 * agent's first rendering finds them made. At start-up the agent is
 * meanwhile loading and verifying its programs (most of a second), so the
 * full rendering of a large cluster (a quarter of a second at 10,000
 * Services) is off the cold start's path. Nothing is lent yet, so nothing
 * the agent holds is replaced.
 */
static void prerender(struct k8s_watch *w)
{
	struct k8s_objects o;
	struct k8s_docs scratch = { 0 };
	double t0;

	if (w->rendered || !w->health.synced)
		return;
	o = objects_held(w);
	t0 = mono_ms_f();
	/* A failure leaves the state to make everything at the next rendering. */
	k8s_incr_render(w->incr, &o, &scratch);
	w->prerender_ms = mono_ms_f() - t0;
	k8s_docs_free(&scratch);
}

/* Note, for the next rendering, each key whose object differs between
 * what was held (old) and what a new list holds (now, NULL: nothing). */
static bool note_differences(struct k8s_watch *w, enum k8s_kind kind, struct json_object *old,
			     struct json_object *now)
{
	bool differ = false;

	if (now) {
		json_object_object_foreach(now, key, obj) {
			struct json_object *held = jget(old, key);

			if (held && json_object_equal(held, obj))
				continue;
			k8s_incr_note(w->incr, kind, key);
			differ = true;
		}
	}
	if (old) {
		json_object_object_foreach(old, key, obj) {
			(void)obj;
			if (jget(now, key))
				continue;
			k8s_incr_note(w->incr, kind, key);
			differ = true;
		}
	}
	return differ;
}

/*
 * A page of a kind's first list: its items are held at once, before the
 * last page, so that the agent renders and parses what came (k8s_render_early)
 * while the rest is listed. Nothing is applied before every kind is listed,
 * and the last page still replaces the store with the whole list (noting
 * whatever differs from what was held: a list that started again after a
 * failure). The lock is only tried: while the agent renders under it, the
 * items wait for the next page rather than stall the lists.
 */
static void hold_early(struct stream *s, const char *key, struct json_object *obj)
{
	/* Out of memory: the item waits for the last page. */
	if (!s->unheld && !(s->unheld = json_object_new_object()))
		return;
	json_object_object_add(s->unheld, key, json_object_get(obj));
}

static void hold_early_try(struct stream *s)
{
	struct k8s_watch *w = s->w;

	if (!s->unheld || pthread_mutex_trylock(&w->lock))
		return;
	json_object_object_foreach(s->unheld, key, obj) {
		json_object_object_add(w->store[s->kind], key, json_object_get(obj));
		k8s_incr_note(w->incr, s->kind, key);
	}
	pthread_mutex_unlock(&w->lock);
	json_object_put(s->unheld);
	s->unheld = NULL;
	signal_change(w);
}

static void list_page(struct stream *s)
{
	struct k8s_watch *w = s->w;
	struct json_object *body = json_tokener_parse(s->buf), *items, *old;
	const char *cont;
	char key[512];
	size_t i;

	items = jget(body, "items");
	if (!body || !json_object_is_type(items, json_type_array)) {
		json_object_put(body);
		stream_failed(s, "list response is not a Kubernetes list");
		list_restart(s, s->next_ms);
		return;
	}
	if (!s->pending)
		s->pending = json_object_new_object();
	for (i = 0; i < json_object_array_length(items); i++) {
		struct json_object *it = json_object_array_get_idx(items, i);

		struct json_object *obj;

		if (!object_key(it, key, sizeof(key)))
			continue;
		obj = object_trim(s, json_object_get(it));
		json_object_object_add(s->pending, key, obj);
		if (!s->listed)
			hold_early(s, key, obj);
	}
	cont = jstr(jget(body, "metadata"), "continue");
	stream_ok(s);
	if (cont && cont[0]) {
		free(s->cont);
		s->cont = strdup(cont);
		s->next_ms = 0;
		json_object_put(body);
		hold_early_try(s);
		return;
	}
	set_rv(s, body);
	json_object_put(body);
	pthread_mutex_lock(&w->lock);
	old = w->store[s->kind];
	w->store[s->kind] = s->pending;
	/* A relist that finds what is held (after a 410) changes nothing. */
	w->generation += note_differences(w, s->kind, old, s->pending) || !s->listed;
	s->listed = true;
	w->health.synced = all_listed(w);
	prerender(w);
	pthread_mutex_unlock(&w->lock);
	json_object_put(old);
	json_object_put(s->unheld); /* in the store now, noted as differences */
	s->unheld = NULL;
	s->pending = NULL;
	free(s->cont);
	s->cont = NULL;
	s->phase = PH_WATCH;
	s->next_ms = 0;
	signal_change(w);
}

/* The kind is not served (a CRD not installed), or, for an optional kind,
 * our service account may not list it (403: RBAC without the Istio or Pod
 * rules): it holds nothing, so the other kinds apply rather than wait for
 * it, and it is looked at again later. A 403 is reported in health. */
static void kind_absent(struct stream *s, bool forbidden)
{
	struct k8s_watch *w = s->w;
	struct json_object *old;

	s->version = 0;
	stream_ok(s);
	pthread_mutex_lock(&w->lock);
	old = w->store[s->kind];
	w->store[s->kind] = json_object_new_object();
	/* Looked at again every minute: still absent is no change. */
	w->generation += note_differences(w, s->kind, old, NULL) || !s->listed;
	s->listed = true;
	w->health.synced = all_listed(w);
	prerender(w);
	if (forbidden)
		w->health.forbidden |= 1u << s->kind;
	else
		w->health.forbidden &= ~(1u << s->kind);
	pthread_mutex_unlock(&w->lock);
	json_object_put(old);
	list_restart(s, mono_ms() + K8S_ABSENT_RETRY_MS);
	signal_change(w);
}

static void list_done(struct stream *s, long code, CURLcode res)
{
	char msg[K8S_ERROR_LEN];

	if (res == CURLE_OK && code == 200) {
		/* Read without the lock: this thread is its only writer. Not
		 * taken for nothing at every page (the agent may be rendering
		 * under it: k8s_render_early). */
		if (s->w->health.forbidden & (1u << s->kind)) {
			pthread_mutex_lock(&s->w->lock);
			s->w->health.forbidden &= ~(1u << s->kind);
			pthread_mutex_unlock(&s->w->lock);
		}
		list_page(s);
	} else if (res == CURLE_OK && code == 403 && k8s_kinds[s->kind].optional) {
		kind_absent(s, true);
	} else if (res == CURLE_OK && code == 404) {
		if (s->version + 1 < 3 && k8s_kinds[s->kind].versions[s->version + 1]) {
			s->version++;
			list_restart(s, 0);
		} else {
			kind_absent(s, false);
		}
	} else if (res == CURLE_OK && code == 410) {
		list_restart(s, 0); /* the continue token expired: from the start */
	} else {
		status_message(s, code, res, msg, sizeof(msg));
		stream_failed(s, msg);
		list_restart(s, s->next_ms);
	}
}

static void watch_done(struct stream *s, long code, CURLcode res)
{
	struct k8s_watch *w = s->w;
	char msg[K8S_ERROR_LEN];

	if (s->gone || (res == CURLE_OK && code == 410)) {
		/* Our resourceVersion is too old: list again (Kubernetes API
		 * concepts, "410 Gone responses"). */
		pthread_mutex_lock(&w->lock);
		w->health.relists++;
		pthread_mutex_unlock(&w->lock);
		stream_ok(s);
		list_restart(s, 0);
		return;
	}
	if (res == CURLE_OK && code == 200 && !s->stream_error) {
		/* The server ended the watch (timeoutSeconds) or closed it: resume
		 * from the last version; at once if it carried events or lasted,
		 * else after a backoff so a server that closes at once is not
		 * hammered. */
		pthread_mutex_lock(&w->lock);
		w->health.resumes++;
		pthread_mutex_unlock(&w->lock);
		s->next_ms = s->events || mono_ms() - s->started_ms > 1000
				     ? 0 : mono_ms() + s->backoff_ms;
		return;
	}
	if (s->stream_error)
		snprintf(msg, sizeof(msg), "watch stream carried an error or malformed event");
	else
		status_message(s, code, res, msg, sizeof(msg));
	stream_failed(s, msg);
	pthread_mutex_lock(&w->lock);
	w->health.resumes++;
	pthread_mutex_unlock(&w->lock);
	/* A broken connection (res != OK with events before it) is resumed
	 * from the last resourceVersion after the backoff, like any failure. */
}

static void on_done(struct stream *s, CURLcode res)
{
	long code = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	stream_release(s);
	/* Unauthorized: an exec plugin's credential was revoked or rotated
	 * before its expiry; the retry runs the plugin again (client-go). */
	if (res == CURLE_OK && code == 401)
		k8s_exec_expire(s->w->cfg.exec);
	if (s->phase == PH_LIST)
		list_done(s, code, res);
	else
		watch_done(s, code, res);
}

static void *watch_thread(void *arg)
{
	struct k8s_watch *w = arg;
	CURLMsg *msg;
	int running, left, k;

	while (!atomic_load(&w->stop)) {
		uint64_t now = mono_ms(), wait = 1000;

		for (k = 0; k < K8S_N_KINDS; k++) {
			struct stream *s = &w->streams[k];

			if (s->easy)
				continue;
			if (s->next_ms <= now) {
				char why[256];

				/* An exec plugin's credential, fresh (exec.c). */
				if (k8s_exec_refresh(&w->cfg, why, sizeof(why))) {
					stream_failed(s, why);
					continue;
				}
				if (stream_start(s)) {
					stream_release(s);
					stream_failed(s, "cannot start a request");
				}
			} else if (s->next_ms - now < wait) {
				wait = s->next_ms - now;
			}
		}
		curl_multi_poll(w->multi, NULL, 0, (int)wait, NULL);
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left))) {
			struct stream *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			if (s)
				on_done(s, msg->data.result);
		}
	}
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

int k8s_watch_start(struct k8s_config *c, const struct k8s_watch_opts *o,
		    struct k8s_watch **out)
{
	struct k8s_watch *w = calloc(1, sizeof(*w));
	int k, err;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	w->cfg = *c; /* taken over: the caller's copy is cleared */
	memset(c, 0, sizeof(*c));
	w->opts = *o;
	if (!w->opts.timeout_s)
		w->opts.timeout_s = 300;
	if (!w->opts.page_limit)
		w->opts.page_limit = 500;
	if (!w->opts.backoff_ms)
		w->opts.backoff_ms = 500;
	snprintf(w->node_name, sizeof(w->node_name), "%s", o->node_name ? o->node_name : "");
	w->opts.node_name = w->node_name;
	for (k = 0; k < K8S_N_KINDS; k++) {
		w->store[k] = json_object_new_object();
		w->streams[k] = (struct stream){ .w = w, .kind = (enum k8s_kind)k,
						 .backoff_ms = w->opts.backoff_ms };
	}
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->incr = k8s_incr_new();
	if (!w->incr) {
		err = -ENOMEM;
		goto fail;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	w->multi = curl_multi_init();
	if (w->efd < 0 || !w->multi) {
		err = w->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	err = -pthread_create(&w->thread, NULL, watch_thread, w);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	w->thread = 0;
	k8s_watch_stop(w);
	return err;
}

void k8s_watch_stop(struct k8s_watch *w)
{
	int k;

	if (!w)
		return;
	atomic_store(&w->stop, true);
	if (w->thread) {
		curl_multi_wakeup(w->multi);
		pthread_join(w->thread, NULL);
	}
	for (k = 0; k < K8S_N_KINDS; k++) {
		stream_release(&w->streams[k]);
		free(w->streams[k].buf);
		free(w->streams[k].cont);
		json_object_put(w->streams[k].pending);
		json_object_put(w->streams[k].unheld);
		json_object_put(w->store[k]);
	}
	k8s_incr_free(w->incr);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_global_cleanup();
	if (w->efd >= 0)
		close(w->efd);
	k8s_config_free(&w->cfg);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int k8s_event_fd(const struct k8s_watch *w)
{
	return w->efd;
}

uint64_t k8s_generation(struct k8s_watch *w)
{
	uint64_t g;

	pthread_mutex_lock(&w->lock);
	g = w->generation;
	pthread_mutex_unlock(&w->lock);
	return g;
}

uint64_t k8s_drain(struct k8s_watch *w)
{
	uint64_t v = 0;

	if (read(w->efd, &v, sizeof(v)) < 0)
		v = 0;
	return v;
}

void k8s_health(struct k8s_watch *w, struct k8s_health *h)
{
	pthread_mutex_lock(&w->lock);
	*h = w->health;
	pthread_mutex_unlock(&w->lock);
}

int k8s_render(struct k8s_watch *w, const char *cgroup_root, struct k8s_docs *docs,
	       struct k8s_node_view *view)
{
	struct k8s_objects o;
	int err;

	pthread_mutex_lock(&w->lock);
	o = objects_held(w);
	w->rendered = true;
	docs->generation = w->generation;
	err = k8s_incr_render(w->incr, &o, docs);
	if (!err && view)
		err = k8s_render_node(&o, cgroup_root, k8s_incr_pods_on_node(w->incr), view);
	pthread_mutex_unlock(&w->lock);
	return err;
}

int k8s_render_early(struct k8s_watch *w, size_t budget, struct k8s_docs *docs)
{
	struct k8s_objects o;
	int err;

	pthread_mutex_lock(&w->lock);
	o = objects_held(w);
	w->rendered = true; /* the agent renders from now on: no prerender() */
	docs->generation = w->generation;
	err = k8s_incr_render_early(w->incr, &o, budget, docs);
	pthread_mutex_unlock(&w->lock);
	return err;
}

void k8s_render_stats(struct k8s_watch *w, struct k8s_render_stats *st)
{
	pthread_mutex_lock(&w->lock);
	k8s_incr_stats(w->incr, st);
	st->prerender_ms = w->prerender_ms;
	pthread_mutex_unlock(&w->lock);
}
