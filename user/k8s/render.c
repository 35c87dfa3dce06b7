// SPDX-License-Identifier: Apache-2.0
/*
 * What the watch holds -> policy documents and this node's view. Pure: the
 * same objects give the same documents (sorted by key), so the compile
 * stays deterministic.
 *
 * Istio's own kinds are passed through as they came (JSON is YAML flow
 * syntax, so the policy parser reads them with its usual checks). A
 * Service becomes a ServiceEntry the way Istio's Kubernetes registry
 * converts it (pilot/pkg/serviceregistry/kube/conversion.go and the
 * EndpointSlice controller): host NAME.NS.svc.cluster.local, the cluster
 * IPs as addresses, resolution STATIC (client-side load balancing), its
 * ports with the protocol Istio infers, and the addresses of its
 * EndpointSlices as endpoints, labelled with their pod's labels and placed
 * in their node's locality.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "k8s/json_text.h"
#include "k8s/k8s.h"
#include "k8s/render_int.h"

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

struct json_object *k8s_jget(struct json_object *o, const char *key)
{
	return jget(o, key);
}

const char *k8s_jstr(struct json_object *o, const char *key)
{
	return jstr(o, key);
}

static const char *jstr_or(struct json_object *o, const char *key, const char *dflt)
{
	const char *s = jstr(o, key);

	return s ? s : dflt;
}

/* ---- documents ---------------------------------------------------------- */

void k8s_docs_free(struct k8s_docs *d)
{
	size_t i;

	/* The first d->borrowed belong to the rendering state (incr.c). */
	for (i = d->borrowed; i < d->n; i++) {
		free(d->names[i]);
		free(d->texts[i]);
	}
	free(d->names);
	free(d->texts);
	free(d->lens);
	free(d->prev);
	free(d->same);
	memset(d, 0, sizeof(*d));
}

/* Append text (len bytes, copied) as a document named "k8s:KIND/KEY". */
static int docs_add_text(struct k8s_docs *d, const char *kind, const char *key,
			 const char *text, size_t len)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		char **names = realloc(d->names, cap * sizeof(*names));
		char **texts = names ? realloc(d->texts, cap * sizeof(*texts)) : NULL;
		size_t *lens = texts ? realloc(d->lens, cap * sizeof(*lens)) : NULL;

		if (names)
			d->names = names;
		if (texts)
			d->texts = texts;
		if (!lens)
			return -ENOMEM;
		d->lens = lens;
		d->cap = cap;
	}
	if (asprintf(&d->names[d->n], "k8s:%s/%s", kind, key) < 0)
		return -ENOMEM;
	d->texts[d->n] = strndup(text, len);
	if (!d->texts[d->n]) {
		free(d->names[d->n]);
		return -ENOMEM;
	}
	d->lens[d->n] = len;
	d->n++;
	return 0;
}

/*
 * obj as JSON text. Istio objects are pretty-printed, so that a
 * diagnostic's line points at one field; the ServiceEntries made from
 * Services are written on one line (columns still place a diagnostic, and
 * the field path names it): at 10,000 Services x 10 endpoints that takes
 * render + compile from 1.2 s to 0.75 s. service_entry writes that one-line
 * form itself (json_text.h), without building the objects.
 */
const char *k8s_doc_text(struct json_object *obj, bool pretty)
{
	return json_object_to_json_string_ext(
		obj, (pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_SPACED) |
			     JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int docs_add(struct k8s_docs *d, const char *kind, const char *key,
		    struct json_object *obj, bool pretty)
{
	const char *text = k8s_doc_text(obj, pretty);

	return text ? docs_add_text(d, kind, key, text, strlen(text)) : -ENOMEM;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object in byte order; free() the array only. */
const char **k8s_sorted_keys(struct json_object *o, size_t *n)
{
	size_t len = o ? (size_t)json_object_object_length(o) : 0, i = 0;
	const char **keys = calloc(len ? len : 1, sizeof(*keys));

	*n = 0;
	if (!keys || !o)
		return keys;
	json_object_object_foreach(o, k, v) {
		(void)v;
		keys[i++] = k;
	}
	qsort(keys, i, sizeof(*keys), key_cmp);
	*n = i;
	return keys;
}

/* ---- Istio protocol of a Service port ----------------------------------- */

/* Istio's protocol names as the policy parser knows them. */
static const char *const istio_protocols[] = {
	"HTTP", "HTTP2", "GRPC", "GRPC-Web", "HTTPS", "TCP", "TLS",
	"MONGO", "REDIS", "MYSQL", NULL,
};

static const char *protocol_named(const char *s, size_t len)
{
	int i;

	for (i = 0; istio_protocols[i]; i++)
		if (strlen(istio_protocols[i]) == len && strncasecmp(istio_protocols[i], s, len) == 0)
			return istio_protocols[i];
	return NULL;
}

/*
 * Istio's kube.ConvertProtocol: UDP stays UDP; appProtocol wins when it
 * names a protocol (kubernetes.io/h2c is HTTP2, kubernetes.io/ws and wss
 * are HTTP and HTTPS); otherwise the port name's prefix up to the first
 * '-' ("http-web", "grpc"); "grpc-web" is a name of its own. What is none
 * of these is left unset, which Istio treats as TCP with protocol
 * sniffing and this data plane as TCP.
 */
static const char *service_port_protocol(struct json_object *port)
{
	const char *proto = jstr_or(port, "protocol", "TCP"), *app = jstr(port, "appProtocol");
	const char *name = jstr_or(port, "name", ""), *dash;

	if (strcmp(proto, "UDP") == 0)
		return "UDP";
	if (app) {
		if (strcmp(app, "kubernetes.io/h2c") == 0)
			return "HTTP2";
		if (strcmp(app, "kubernetes.io/ws") == 0)
			return "HTTP";
		if (strcmp(app, "kubernetes.io/wss") == 0)
			return "HTTPS";
		if (protocol_named(app, strlen(app)))
			return protocol_named(app, strlen(app));
	}
	if (strncasecmp(name, "grpc-web", 8) == 0 && (name[8] == '\0' || name[8] == '-'))
		return "GRPC-Web";
	dash = strchr(name, '-');
	return protocol_named(name, dash ? (size_t)(dash - name) : strlen(name));
}

/* A Service port without a name (allowed when it is the only one) gets
 * one, since ServiceEntry endpoints map ports by name. */
static void port_name(struct json_object *port, char *out, size_t len)
{
	const char *name = jstr(port, "name");

	if (name && name[0])
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "port-%d", json_object_get_int(jget(port, "port")));
}

/* ---- locality ----------------------------------------------------------- */

/* Istio's locality labels, current first, then the deprecated beta ones. */
static const char *node_label(struct json_object *labels, const char *cur, const char *old)
{
	const char *v = jstr(labels, cur);

	return v ? v : jstr(labels, old);
}

/*
 * region/zone/subzone from a node's labels (topology.kubernetes.io/region,
 * .../zone, topology.istio.io/subzone), with zone_override from an
 * EndpointSlice endpoint's zone. Empty segments at the end are dropped; a
 * locality without a region is not written (the policy form has no empty
 * segments), so false.
 */
static bool locality_of(struct json_object *node, const char *zone_override, char *out,
			size_t len)
{
	struct json_object *labels = jget(jget(node, "metadata"), "labels");
	const char *region = node_label(labels, "topology.kubernetes.io/region",
					"failure-domain.beta.kubernetes.io/region");
	const char *zone = zone_override ? zone_override
			 : node_label(labels, "topology.kubernetes.io/zone",
				      "failure-domain.beta.kubernetes.io/zone");
	const char *subzone = jstr(labels, "topology.istio.io/subzone");

	if (!region || !region[0])
		return false;
	if (zone && zone[0] && subzone && subzone[0])
		snprintf(out, len, "%s/%s/%s", region, zone, subzone);
	else if (zone && zone[0])
		snprintf(out, len, "%s/%s", region, zone);
	else
		snprintf(out, len, "%s", region);
	return true;
}

/* Istio's istio-locality pod label ("region.zone.subzone") overrides. */
static bool pod_locality(struct json_object *pod, char *out, size_t len)
{
	const char *v = jstr(jget(jget(pod, "metadata"), "labels"), "istio-locality");
	char *p;

	if (!v || !v[0])
		return false;
	snprintf(out, len, "%s", v);
	for (p = out; *p; p++)
		if (*p == '.')
			*p = '/';
	return true;
}

/* ---- Service + EndpointSlices -> ServiceEntry --------------------------- */

/* The ServiceEntry is written as text as it is made (json_text.h): the
 * bytes json-c would print for the same members in the same order. */
struct svc_ctx {
	const struct k8s_objects *o;
	struct json_object *deps;   /* NULL, or the pods and nodes looked up (cache) */
	struct json_object *svc;
	struct jtext *t;            /* the ServiceEntry, inside spec.endpoints */
	struct json_object *seen;   /* the endpoint addresses written (keys only) */
};

/*
 * Is this endpoint one new connections may go to? Istio's EndpointSlice
 * controller (endpointHealthStatus): ready unset or true is healthy;
 * serving-but-terminating is Terminating, which Envoy drains (no new
 * connections); anything else is unhealthy, which Envoy does not pick. A
 * Service with publishNotReadyAddresses has its endpoints marked ready by
 * Kubernetes itself, so the one rule covers it.
 */
static bool endpoint_takes_connections(struct json_object *ep)
{
	struct json_object *ready = jget(jget(ep, "conditions"), "ready");

	return !ready || json_object_get_boolean(ready);
}

struct port_num {
	char name[96];
	int num;
};

/* endpoints[].ports: Service port name -> the slice's port of that name,
 * the same for every endpoint of the slice, so written once per slice. A
 * name met again keeps its place and takes the later number (as a JSON
 * object's member set twice does). */
static char *endpoint_ports(struct svc_ctx *c, struct json_object *slice, size_t *len)
{
	struct json_object *sports = jget(jget(c->svc, "spec"), "ports");
	struct json_object *lports = jget(slice, "ports");
	size_t i, j, k, n = 0, cap = json_object_array_length(sports);
	struct port_num *v = calloc(cap ? cap : 1, sizeof(*v));
	struct jtext t = { 0 };
	char name[96];

	for (i = 0; v && i < cap; i++) {
		struct json_object *sp = json_object_array_get_idx(sports, i);
		const char *sname = jstr_or(sp, "name", "");

		for (j = 0; j < json_object_array_length(lports); j++) {
			struct json_object *lp = json_object_array_get_idx(lports, j);
			struct json_object *num = jget(lp, "port");

			if (strcmp(jstr_or(lp, "name", ""), sname) != 0 || !num)
				continue;
			port_name(sp, name, sizeof(name));
			for (k = 0; k < n && strcmp(v[k].name, name); k++)
				;
			if (k == n && n < cap)
				snprintf(v[n++].name, sizeof(v->name), "%s", name);
			if (k < n)
				v[k].num = json_object_get_int(num);
		}
	}
	if (!v)
		return NULL;
	jtext_open(&t, '{');
	for (k = 0; k < n; k++) {
		jtext_key(&t, v[k].name);
		jtext_int(&t, v[k].num);
	}
	jtext_close(&t, '}');
	free(v);
	return jtext_take(&t, len);
}

/* The cache entry will hold what key named in kind: obj, or NULL (none). */
static void dep_add(struct svc_ctx *c, enum k8s_kind kind, const char *key,
		    struct json_object *obj)
{
	if (!c->deps)
		return;
	json_object_array_add(c->deps, json_object_new_int(kind));
	json_object_array_add(c->deps, json_object_new_string(key));
	json_object_array_add(c->deps, json_object_get(obj));
}

static void endpoint_add(struct svc_ctx *c, const char *ports, size_t ports_len,
			 struct json_object *ep, const char *addr)
{
	struct json_object *ref = jget(ep, "targetRef"), *pod = NULL;
	struct json_object *labels, *node;
	const char *node_name = jstr(ep, "nodeName");
	char key[512], loc[256];

	jtext_item(c->t);
	jtext_open(c->t, '{');
	jtext_key(c->t, "address");
	jtext_str(c->t, addr);
	jtext_key(c->t, "ports");
	jtext_raw(c->t, ports, ports_len);
	if (ref && strcmp(jstr_or(ref, "kind", ""), "Pod") == 0) {
		snprintf(key, sizeof(key), "%s/%s", jstr_or(ref, "namespace", ""),
			 jstr_or(ref, "name", ""));
		pod = jget(c->o->by_kind[K8S_PODS], key);
		dep_add(c, K8S_PODS, key, pod);
	}
	/* Istio labels an endpoint with its pod's labels: subsets select on them. */
	labels = jget(jget(pod, "metadata"), "labels");
	if (labels && json_object_object_length(labels)) {
		jtext_key(c->t, "labels");
		jtext_json(c->t, labels);
	}
	node = node_name ? jget(c->o->by_kind[K8S_NODES], node_name) : NULL;
	if (node_name)
		dep_add(c, K8S_NODES, node_name, node);
	if (pod_locality(pod, loc, sizeof(loc)) || locality_of(node, jstr(ep, "zone"), loc, sizeof(loc))) {
		jtext_key(c->t, "locality");
		jtext_str(c->t, loc);
	}
	jtext_close(c->t, '}');
	json_object_object_add(c->seen, addr, NULL);
}

static void slice_endpoints(struct svc_ctx *c, struct json_object *slice)
{
	struct json_object *eps = jget(slice, "endpoints");
	char *ports = NULL;
	size_t i, ports_len = 0;

	/* IPv4 and IPv6 slices (a dual-stack Service has one of each family);
	 * FQDN slices are not read, as Istio does not read them either. */
	if (strcmp(jstr_or(slice, "addressType", ""), "IPv4") != 0 &&
	    strcmp(jstr_or(slice, "addressType", ""), "IPv6") != 0)
		return;
	for (i = 0; i < json_object_array_length(eps); i++) {
		struct json_object *ep = json_object_array_get_idx(eps, i);
		/* Consumers use the first address (EndpointSlice API). */
		struct json_object *addrs = jget(ep, "addresses");
		const char *addr = json_object_get_string(json_object_array_get_idx(addrs, 0));

		if (!addr || !endpoint_takes_connections(ep))
			continue;
		/* The same address in two slices (a pod moving between slices)
		 * is one endpoint: the first slice in key order keeps it. */
		if (json_object_object_get_ex(c->seen, addr, NULL))
			continue;
		if (!ports && !(ports = endpoint_ports(c, slice, &ports_len))) {
			c->t->oom = true;
			return;
		}
		endpoint_add(c, ports, ports_len, ep, addr);
	}
	free(ports);
}

static void service_ports(struct jtext *t, struct json_object *svc)
{
	struct json_object *ports = jget(jget(svc, "spec"), "ports");
	size_t i;
	char name[96];

	jtext_open(t, '[');
	for (i = 0; i < json_object_array_length(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		const char *proto = service_port_protocol(p);

		if (strcmp(jstr_or(p, "protocol", "TCP"), "SCTP") == 0)
			continue; /* not a protocol Istio or this data plane carries */
		port_name(p, name, sizeof(name));
		jtext_item(t);
		jtext_open(t, '{');
		jtext_key(t, "number");
		jtext_int(t, json_object_get_int(jget(p, "port")));
		jtext_key(t, "name");
		jtext_str(t, name);
		if (proto) {
			jtext_key(t, "protocol");
			jtext_str(t, proto);
		}
		jtext_close(t, '}');
	}
	jtext_close(t, ']');
}

/* The cluster IPs of both families: clusterIPs holds one per family of
 * ipFamilies (dual stack: two), clusterIP the first; an API server older
 * than dual stack sends clusterIP alone. Written as spec.addresses; false
 * (nothing written) when there is none. */
static bool service_addresses(struct jtext *t, struct json_object *spec)
{
	struct json_object *ips = jget(spec, "clusterIPs");
	const char *ip = jstr(spec, "clusterIP");
	size_t i, n = 0;

	for (i = 0; ips && i < json_object_array_length(ips); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(ips, i));

		n += s && strcmp(s, "None") != 0;
	}
	if (!ips && ip && strcmp(ip, "None") != 0)
		n = 1;
	if (!n)
		return false;
	jtext_key(t, "addresses");
	jtext_open(t, '[');
	if (!ips) {
		jtext_item(t);
		jtext_str(t, ip);
	}
	for (i = 0; ips && i < json_object_array_length(ips); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(ips, i));

		if (!s || strcmp(s, "None") == 0)
			continue;
		jtext_item(t);
		jtext_str(t, s);
	}
	jtext_close(t, ']');
	return true;
}

/*
 * Headless (clusterIP None): Istio's Kubernetes registry gives the
 * Service no address (0.0.0.0) and resolution Passthrough: no load
 * balancing, a connection goes to the pod address the client dialled
 * (pilot/pkg/serviceregistry/kube/conversion.go). Here that is a
 * ServiceEntry with resolution NONE and no address: nothing is
 * intercepted, and VirtualServices and DestinationRules naming the host
 * find it. An endpoint's `hostname` (a StatefulSet pod whose subdomain is
 * this Service) gives, in Istio, only a DNS name in the proxy's name
 * table, HOSTNAME.SERVICE.NS.svc.cluster.local -> the pod's address
 * (pkg/dns/server/name_table.go), for headless Services only; this data
 * plane has no DNS proxy, so it is listed in the entry's annotation
 * bpfmesh.io/pod-hostnames for operators and changes no decision.
 */
static bool service_is_headless(struct json_object *spec)
{
	return strcmp(jstr_or(spec, "clusterIP", ""), "None") == 0;
}

/* "HOSTNAME.SERVICE.NS.svc.cluster.local=ADDR,..." of the ready endpoints
 * with a hostname, in slice then endpoint order; NULL when none. */
static char *pod_hostnames(struct json_object *slices, const char *name, const char *ns)
{
	char *text = NULL;
	size_t len = 0, i, j;
	FILE *f = open_memstream(&text, &len);
	bool any = false;

	if (!f)
		return NULL;
	for (i = 0; slices && i < json_object_array_length(slices); i++) {
		struct json_object *eps = jget(json_object_array_get_idx(slices, i), "endpoints");

		for (j = 0; j < json_object_array_length(eps); j++) {
			struct json_object *ep = json_object_array_get_idx(eps, j);
			const char *host = jstr(ep, "hostname");
			const char *addr = json_object_get_string(
				json_object_array_get_idx(jget(ep, "addresses"), 0));

			if (!host || !addr || !endpoint_takes_connections(ep))
				continue;
			fprintf(f, "%s%s.%s.%s.svc.cluster.local=%s", any ? "," : "", host, name, ns,
				addr);
			any = true;
		}
	}
	fclose(f);
	if (!any) {
		free(text);
		text = NULL;
	}
	return text;
}

/* Slices by owning Service: "ns/service" -> [slice keys]. */
static struct json_object *slices_by_service(struct json_object *slices)
{
	struct json_object *idx = json_object_new_object();
	const char **keys;
	size_t n, i;
	char key[512];

	keys = k8s_sorted_keys(slices, &n);
	for (i = 0; keys && i < n; i++) {
		struct json_object *s = jget(slices, keys[i]), *meta = jget(s, "metadata"), *list;
		const char *svc = jstr(jget(meta, "labels"), SERVICE_NAME_LABEL);

		if (!svc)
			continue;
		snprintf(key, sizeof(key), "%s/%s", jstr_or(meta, "namespace", ""), svc);
		list = jget(idx, key);
		if (!list) {
			list = json_object_new_array();
			json_object_object_add(idx, key, list);
		}
		json_object_array_add(list, json_object_get(s));
	}
	free(keys);
	return idx;
}

/*
 * The ServiceEntry for one Service, or NULL for an ExternalName Service (a
 * DNS alias) or one without cluster IPs. Headless: service_is_headless.
 */
static int service_entry(const struct k8s_objects *o, struct json_object *svc,
			 struct json_object *slices, struct json_object *deps, char **text)
{
	struct json_object *meta = jget(svc, "metadata"), *spec = jget(svc, "spec");
	const char *name = jstr_or(meta, "name", ""), *ns = jstr_or(meta, "namespace", "default");
	bool headless = service_is_headless(spec);
	struct jtext t = { 0 };
	struct svc_ctx c = { .o = o, .svc = svc, .deps = deps, .t = &t };
	char host[600], *hostnames = NULL;
	size_t i;

	*text = NULL;
	if (strcmp(jstr_or(spec, "type", "ClusterIP"), "ExternalName") == 0 ||
	    (!jget(spec, "clusterIP") && !jget(spec, "clusterIPs")))
		return 0;
	/* Members in the order json-c printed them when this was an object. */
	jtext_open(&t, '{');
	jtext_key(&t, "apiVersion");
	jtext_str(&t, "networking.istio.io/v1");
	jtext_key(&t, "kind");
	jtext_str(&t, "ServiceEntry");
	jtext_key(&t, "metadata");
	jtext_open(&t, '{');
	jtext_key(&t, "name");
	jtext_str(&t, name);
	jtext_key(&t, "namespace");
	jtext_str(&t, ns);
	if (headless && (hostnames = pod_hostnames(slices, name, ns))) {
		jtext_key(&t, "annotations");
		jtext_open(&t, '{');
		jtext_key(&t, "bpfmesh.io/pod-hostnames");
		jtext_str(&t, hostnames);
		jtext_close(&t, '}');
		free(hostnames);
	}
	jtext_close(&t, '}');
	jtext_key(&t, "spec");
	jtext_open(&t, '{');
	if (!headless && !service_addresses(&t, spec)) {
		jtext_free(&t);
		return 0;
	}
	snprintf(host, sizeof(host), "%s.%s.svc.cluster.local", name, ns);
	jtext_key(&t, "hosts");
	jtext_open(&t, '[');
	jtext_item(&t);
	jtext_str(&t, host);
	jtext_close(&t, ']');
	jtext_key(&t, "ports");
	service_ports(&t, svc);
	jtext_key(&t, "location");
	jtext_str(&t, "MESH_INTERNAL");
	jtext_key(&t, "resolution");
	jtext_str(&t, headless ? "NONE" : "STATIC");
	if (!headless) {
		c.seen = json_object_new_object();
		if (!c.seen)
			t.oom = true;
		jtext_key(&t, "endpoints");
		jtext_open(&t, '[');
		for (i = 0; c.seen && slices && i < json_object_array_length(slices); i++)
			slice_endpoints(&c, json_object_array_get_idx(slices, i));
		jtext_close(&t, ']');
		json_object_put(c.seen);
	}
	jtext_close(&t, '}');
	jtext_close(&t, '}');
	*text = jtext_take(&t, NULL);
	return *text ? 0 : -ENOMEM;
}

/* ---- the cache of rendered Services (k8s_objects.cache) ----------------- */

enum { ENTRY_SVC, ENTRY_SLICES, ENTRY_DEPS, ENTRY_TEXT };

static struct json_object *at_idx(struct json_object *a, size_t i)
{
	return json_object_array_get_idx(a, i);
}

/* Was entry made from these very objects? Pointers compare: the cache
 * holds a reference to each, so none was freed and its address reused. */
static bool entry_holds(const struct k8s_objects *o, struct json_object *entry,
			struct json_object *svc, struct json_object *slices)
{
	struct json_object *old = at_idx(entry, ENTRY_SLICES), *deps = at_idx(entry, ENTRY_DEPS);
	size_t n = slices ? json_object_array_length(slices) : 0, i;

	if (at_idx(entry, ENTRY_SVC) != svc || json_object_array_length(old) != n)
		return false;
	for (i = 0; i < n; i++)
		if (at_idx(old, i) != at_idx(slices, i))
			return false;
	for (i = 0; i + 3 <= json_object_array_length(deps); i += 3) {
		int kind = json_object_get_int(at_idx(deps, i));

		if (jget(o->by_kind[kind], json_object_get_string(at_idx(deps, i + 1))) !=
		    at_idx(deps, i + 2))
			return false;
	}
	return true;
}

static struct json_object *entry_new(struct json_object *svc, struct json_object *slices,
				     struct json_object *deps, const char *text)
{
	struct json_object *e = json_object_new_array(), *sl = json_object_new_array();
	size_t i;

	for (i = 0; slices && i < json_object_array_length(slices); i++)
		json_object_array_add(sl, json_object_get(at_idx(slices, i)));
	json_object_array_add(e, json_object_get(svc));
	json_object_array_add(e, sl);
	json_object_array_add(e, deps);
	json_object_array_add(e, text ? json_object_new_string(text) : NULL);
	return e;
}

struct json_object *k8s_service_render(const struct k8s_objects *o, struct json_object *svc,
				      struct json_object *slices)
{
	struct json_object *deps = json_object_new_array(), *entry;
	char *t = NULL;

	if (!deps || service_entry(o, svc, slices, deps, &t)) {
		json_object_put(deps);
		return NULL;
	}
	entry = entry_new(svc, slices, deps, t);
	free(t);
	return entry;
}

struct json_object *k8s_entry_deps(struct json_object *entry)
{
	return at_idx(entry, ENTRY_DEPS);
}

struct json_object *k8s_entry_text(struct json_object *entry)
{
	return at_idx(entry, ENTRY_TEXT);
}

/* One Service's document, from the cache when it holds the same objects;
 * its cache entry goes into next (NULL: no cache). */
static int render_service(const struct k8s_objects *o, const char *key, struct json_object *svc,
			  struct json_object *slices, struct json_object *next,
			  struct k8s_docs *docs)
{
	struct json_object *old = o->cache && *o->cache ? jget(*o->cache, key) : NULL;
	struct json_object *entry, *text;
	int err = 0;

	if (old && entry_holds(o, old, svc, slices)) {
		text = at_idx(old, ENTRY_TEXT);
		if (text)
			err = docs_add_text(docs, "Service", key, json_object_get_string(text),
					    (size_t)json_object_get_string_len(text));
		json_object_object_add(next, key, json_object_get(old));
		return err;
	}
	entry = k8s_service_render(o, svc, slices);
	if (!entry)
		return -ENOMEM;
	text = at_idx(entry, ENTRY_TEXT);
	if (text)
		err = docs_add_text(docs, "Service", key, json_object_get_string(text),
				    (size_t)json_object_get_string_len(text));
	if (next)
		json_object_object_add(next, key, entry);
	else
		json_object_put(entry);
	return err;
}

static int render_services(const struct k8s_objects *o, struct k8s_docs *docs)
{
	struct json_object *svcs = o->by_kind[K8S_SERVICES];
	struct json_object *idx = slices_by_service(o->by_kind[K8S_ENDPOINTSLICES]);
	struct json_object *next = o->cache ? json_object_new_object() : NULL;
	const char **keys;
	size_t n, i;
	int err = 0;

	keys = k8s_sorted_keys(svcs, &n);
	if (!keys)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++)
		err = render_service(o, keys[i], jget(svcs, keys[i]), jget(idx, keys[i]), next,
				     docs);
	free(keys);
	json_object_put(idx);
	if (o->cache) {
		/* Services gone are dropped with the old cache; after an error
		 * nothing is kept (the next rendering makes everything). */
		json_object_put(*o->cache);
		*o->cache = err ? NULL : next;
		if (err)
			json_object_put(next);
	}
	return err;
}

/* Istio's kinds as they are: the parser validates them like files. */
static int render_istio(const struct k8s_objects *o, enum k8s_kind k, struct k8s_docs *docs)
{
	const char **keys;
	size_t n, i;
	int err = 0;

	keys = k8s_sorted_keys(o->by_kind[k], &n);
	if (!keys)
		return -ENOMEM;
	for (i = 0; !err && i < n; i++)
		err = docs_add(docs, k8s_kinds[k].kind, keys[i], jget(o->by_kind[k], keys[i]), true);
	free(keys);
	return err;
}

/* ---- this node ---------------------------------------------------------- */

void k8s_node_view_free(struct k8s_node_view *v)
{
	size_t i;

	for (i = 0; i < v->n_workloads; i++) {
		struct k8s_workload *w = &v->workloads[i];

		free(w->ns);
		free(w->name);
		free(w->service_account);
		free(w->uid);
		free(w->cgroup);
		free(w->labels);
		free(w->workload);
		free(w->ip);
		json_object_put(w->label_obj);
	}
	free(v->workloads);
	free(v->locality);
	free(v->labels);
	memset(v, 0, sizeof(*v));
}

/*
 * The pod's cgroup, as the kubelet names it: with the systemd driver
 * kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid, '-' as '_'>.slice,
 * with cgroupfs kubepods/<qos>/pod<uid>; Guaranteed pods sit directly
 * under kubepods. The first that exists under root wins; "" if none.
 */
static char *pod_cgroup(const char *root, struct json_object *pod)
{
	const char *uid = jstr_or(jget(pod, "metadata"), "uid", "");
	const char *qos = jstr_or(jget(pod, "status"), "qosClass", "BestEffort");
	char u[128], q[32], cand[2][512], full[4096];
	struct stat st;
	size_t i;

	snprintf(u, sizeof(u), "%s", uid);
	for (i = 0; u[i]; i++)
		if (u[i] == '-')
			u[i] = '_';
	for (i = 0; qos[i] && i < sizeof(q) - 1; i++)
		q[i] = (char)(qos[i] >= 'A' && qos[i] <= 'Z' ? qos[i] - 'A' + 'a' : qos[i]);
	q[i] = '\0';
	if (strcmp(q, "guaranteed") == 0) {
		snprintf(cand[0], sizeof(cand[0]), "kubepods.slice/kubepods-pod%s.slice", u);
		snprintf(cand[1], sizeof(cand[1]), "kubepods/pod%s", uid);
	} else {
		snprintf(cand[0], sizeof(cand[0]), "kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice",
			 q, q, u);
		snprintf(cand[1], sizeof(cand[1]), "kubepods/%s/pod%s", q, uid);
	}
	for (i = 0; root && i < 2; i++) {
		snprintf(full, sizeof(full), "%s/%s", root, cand[i]);
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode))
			return strdup(cand[i]);
	}
	return strdup("");
}

static char *labels_text(struct json_object *labels)
{
	const char **keys;
	size_t n, i, used = 0, cap = 1;
	char *out;

	keys = k8s_sorted_keys(labels, &n);
	for (i = 0; keys && i < n; i++)
		cap += strlen(keys[i]) + strlen(jstr_or(labels, keys[i], "")) + 2;
	out = malloc(cap);
	if (out)
		out[0] = '\0';
	for (i = 0; out && keys && i < n; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s=%s", i ? "," : "", keys[i],
					 jstr_or(labels, keys[i], ""));
	free(keys);
	return out;
}

/*
 * Istio's workload name (pkg/kube GetDeployMetaFromPod): the name of the
 * pod's controller (the ownerReference with controller: true); when that
 * is a ReplicaSet whose name ends in "-" + the pod's pod-template-hash
 * label, the name without that suffix (the Deployment that made the
 * ReplicaSet); when it is a Job whose name ends in "-" and 8 to 10 digits
 * (the schedule time a CronJob appends), the name without them (the
 * CronJob). A pod without a controller is its own workload.
 */
void k8s_pod_workload_name(struct json_object *pod, char *out, size_t len)
{
	struct json_object *meta = jget(pod, "metadata"), *owners = jget(meta, "ownerReferences");
	const char *hash = jstr(jget(meta, "labels"), "pod-template-hash");
	struct json_object *ctl = NULL;
	const char *name, *kind;
	size_t i, n, digits = 0;

	for (i = 0; owners && i < json_object_array_length(owners) && !ctl; i++) {
		struct json_object *ref = json_object_array_get_idx(owners, i);

		if (json_object_get_boolean(jget(ref, "controller")))
			ctl = ref;
	}
	name = jstr(ctl, "name");
	if (!name) {
		snprintf(out, len, "%s", jstr_or(meta, "name", ""));
		return;
	}
	kind = jstr_or(ctl, "kind", "");
	n = strlen(name);
	if (!strcmp(kind, "ReplicaSet") && hash && hash[0] && n > strlen(hash) + 1 &&
	    !strcmp(name + n - strlen(hash), hash) && name[n - strlen(hash) - 1] == '-') {
		n -= strlen(hash) + 1;
	} else if (!strcmp(kind, "Job")) {
		while (digits < n && name[n - 1 - digits] >= '0' && name[n - 1 - digits] <= '9')
			digits++;
		if (digits >= 8 && digits <= 10 && n > digits + 1 && name[n - digits - 1] == '-')
			n -= digits + 1;
	}
	snprintf(out, len, "%.*s", (int)n, name);
}

/*
 * Is the pod's workload running here, so that its cgroup holds its
 * processes? Running; or Pending with a container already started (an
 * init container still running, or a restart). Succeeded and Failed pods
 * are done: their cgroup is gone or about to be.
 */
static bool pod_running(struct json_object *pod)
{
	struct json_object *status = jget(pod, "status"), *cs;
	const char *phase = jstr_or(status, "phase", "");
	size_t i;

	if (!strcmp(phase, "Running"))
		return true;
	if (strcmp(phase, "Pending"))
		return false;
	for (int list = 0; list < 2; list++) {
		cs = jget(status, list ? "initContainerStatuses" : "containerStatuses");
		for (i = 0; cs && i < json_object_array_length(cs); i++)
			if (jget(jget(json_object_array_get_idx(cs, i), "state"), "running"))
				return true;
	}
	return false;
}

int k8s_render_node(const struct k8s_objects *o, const char *cgroup_root,
		    struct json_object *on_node, struct k8s_node_view *v)
{
	struct json_object *pods = o->by_kind[K8S_PODS];
	struct json_object *node = o->node_name ? jget(o->by_kind[K8S_NODES], o->node_name) : NULL;
	const char **keys;
	size_t n, i;
	char loc[256];

	memset(v, 0, sizeof(*v));
	if (locality_of(node, NULL, loc, sizeof(loc)))
		v->locality = strdup(loc);
	/* The node's labels are the client's labels failoverPriority matches
	 * (node.c): every pod on it shares this data plane. */
	if (node)
		v->labels = labels_text(jget(jget(node, "metadata"), "labels"));
	/* on_node: the keys of the pods on this node, when kept (incr.c). */
	keys = k8s_sorted_keys(on_node ? on_node : pods, &n);
	v->workloads = calloc(n ? n : 1, sizeof(*v->workloads));
	if (!keys || !v->workloads) {
		free(keys);
		return -ENOMEM;
	}
	for (i = 0; i < n && o->node_name; i++) {
		struct json_object *pod = jget(pods, keys[i]), *meta = jget(pod, "metadata");
		struct k8s_workload *w = &v->workloads[v->n_workloads];

		char workload[256];

		if (strcmp(jstr_or(jget(pod, "spec"), "nodeName", ""), o->node_name) != 0 ||
		    !pod_running(pod))
			continue;
		k8s_pod_workload_name(pod, workload, sizeof(workload));
		w->workload = strdup(workload);
		w->ip = strdup(jstr_or(jget(pod, "status"), "podIP", ""));
		w->label_obj = json_object_get(jget(meta, "labels"));
		w->ns = strdup(jstr_or(meta, "namespace", ""));
		w->name = strdup(jstr_or(meta, "name", ""));
		w->uid = strdup(jstr_or(meta, "uid", ""));
		w->service_account = strdup(jstr_or(jget(pod, "spec"), "serviceAccountName", "default"));
		w->labels = labels_text(jget(meta, "labels"));
		w->cgroup = pod_cgroup(cgroup_root, pod);
		v->n_workloads++;
	}
	free(keys);
	return 0;
}

int k8s_render_objects(const struct k8s_objects *o, const char *cgroup_root,
		       struct k8s_docs *docs, struct k8s_node_view *view)
{
	static const enum k8s_kind istio[] = {
		K8S_SERVICEENTRIES, K8S_WORKLOADENTRIES, K8S_DESTINATIONRULES, K8S_VIRTUALSERVICES,
	};
	size_t i;
	int err;

	err = render_services(o, docs);
	for (i = 0; !err && i < sizeof(istio) / sizeof(istio[0]); i++)
		err = render_istio(o, istio[i], docs);
	if (!err && view)
		err = k8s_render_node(o, cgroup_root, NULL, view);
	return err;
}

/* ---- this node's pods as workload identities ---------------------------- */

static struct json_object *jnew_str(const char *s)
{
	return json_object_new_string(s ? s : "");
}

/*
 * A pod's identity as a WorkloadEntry, the form the WorkloadEntries with
 * bpfmesh.io/cgroup have (issue 15), so that stable ids, source_* metric
 * labels and routes by source treat both alike. Its labels are the pod's,
 * plus service.istio.io/workload-name (Istio's label for a workload's
 * name, which the metrics read) when the pod does not set it.
 */
static struct json_object *pod_identity(const struct k8s_workload *w, const char *prefix)
{
	struct json_object *we = json_object_new_object(), *meta = json_object_new_object();
	struct json_object *ann = json_object_new_object(), *spec = json_object_new_object();
	struct json_object *labels = json_object_new_object();
	char cg[4096];

	if (w->label_obj) {
		json_object_object_foreach(w->label_obj, k, v)
			json_object_object_add(labels, k, json_object_get(v));
	}
	if (!jget(labels, "service.istio.io/workload-name") && w->workload && w->workload[0])
		json_object_object_add(labels, "service.istio.io/workload-name",
				       jnew_str(w->workload));
	snprintf(cg, sizeof(cg), "%s%s%s", prefix, prefix[0] ? "/" : "", w->cgroup);
	json_object_object_add(ann, "bpfmesh.io/cgroup", jnew_str(cg));
	json_object_object_add(ann, "bpfmesh.io/identity-only", jnew_str("true"));
	json_object_object_add(meta, "name", jnew_str(w->name));
	json_object_object_add(meta, "namespace", jnew_str(w->ns));
	json_object_object_add(meta, "annotations", ann);
	json_object_object_add(spec, "address", jnew_str(w->ip));
	json_object_object_add(spec, "labels", labels);
	json_object_object_add(spec, "serviceAccount", jnew_str(w->service_account));
	json_object_object_add(we, "apiVersion", jnew_str("networking.istio.io/v1"));
	json_object_object_add(we, "kind", jnew_str("WorkloadEntry"));
	json_object_object_add(we, "metadata", meta);
	json_object_object_add(we, "spec", spec);
	return we;
}

int k8s_pod_identity_docs(const struct k8s_node_view *v, const char *cgroup_prefix,
			  struct k8s_docs *docs)
{
	char key[512];
	size_t i;
	int err = 0;

	while (cgroup_prefix && *cgroup_prefix == '/')
		cgroup_prefix++;
	for (i = 0; !err && i < v->n_workloads; i++) {
		const struct k8s_workload *w = &v->workloads[i];
		struct json_object *we;

		/* Not on this kernel's cgroups: no identity to give. Without an
		 * address yet (a WorkloadEntry needs one; it is never dialled
		 * here): the next Pod update, which gives it, does. */
		if (!w->cgroup || !w->cgroup[0] || !w->ip || !w->ip[0])
			continue;
		we = pod_identity(w, cgroup_prefix ? cgroup_prefix : "");
		snprintf(key, sizeof(key), "%s/%s", w->ns, w->name);
		err = docs_add(docs, "Pod", key, we, true);
		json_object_put(we);
	}
	return err;
}
