// SPDX-License-Identifier: Apache-2.0
/* Registry -> image: service keys, the route in force for each, its weighted
 * destinations (see compile.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "compile.h"
#include "metrics/workload.h"

struct ckey {
	struct svc_key key;
	const struct reg_svc *svc;
	const struct se_addr *addr;
	bool first_addr; /* the service's first VIP: warnings once, not per VIP */
	const struct workload_entry *caller; /* key.identity's workload, NULL: any */
	bool by_source; /* some identity has a key of its own for this VIP */
};

/* ---- service keys ------------------------------------------------------ */

bool compile_port_intercepted(const struct service_entry *se, const struct se_port *p)
{
	/* A DNS-resolved entry without endpoints or selector is resolved by
	 * DNS here (reg_svc.dns_only): neither condition below holds for it.
	 * UDP ports are intercepted too (sendmsg/recvmsg, connected UDP). */
	(void)p;
	return se->n_eps > 0 || se->has_selector || se->resolution == RES_STATIC;
}

static bool svc_intercepted(const struct reg_svc *s)
{
	return !s->dns_only && compile_port_intercepted(s->se, s->port);
}

static struct ckey *ckeys_collect(const struct registry *reg, size_t *n_out)
{
	struct ckey *keys;
	size_t i, j, n = 0;

	for (i = 0; i < reg->n_svcs; i++) {
		const struct reg_svc *s = &reg->svcs[i];

		n += svc_intercepted(s) ? s->se->n_addrs : 0;
		/* One key per address x port: 2,000 x 2,000 fit in 91 KB of YAML.
		 * The services map holds BPFMESH_MAX_SERVICES; refuse more here,
		 * before allocating, and name the ServiceEntry that crossed it. */
		if (n > BPFMESH_MAX_SERVICES) {
			diag_add(reg->dl, DIAG_ERROR, s->se->src.file, s->se->src.line,
				 s->se->src.col, "spec.addresses",
				 "too many service keys: %zu addresses x %zu ports bring the "
				 "policy to more than %u (address, port) keys, what the kernel's "
				 "services map holds", s->se->n_addrs, s->se->n_ports,
				 BPFMESH_MAX_SERVICES);
			return NULL;
		}
	}
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys) {
		diag_add(reg->dl, DIAG_ERROR, "", 0, 0, "", "out of memory while compiling");
		return NULL;
	}
	n = 0;
	for (i = 0; i < reg->n_svcs; i++) {
		const struct reg_svc *s = &reg->svcs[i];

		if (!svc_intercepted(s))
			continue;
		for (j = 0; j < s->se->n_addrs; j++) {
			struct ckey *k = &keys[n++];

			memcpy(k->key.addr, s->se->addrs[j].ip.a, sizeof(k->key.addr));
			k->key.port = htons((uint16_t)s->port->number);
			/* UDP services are balanced by sendmsg and connect
			 * (bpf/sock_addr.bpf.c), and routed by tcp routes:
			 * Istio has no udp routes (they match by port). */
			k->key.proto = s->port->cls == PORT_UDP ? BPFMESH_PROTO_UDP
								: BPFMESH_PROTO_TCP;
			k->key.family = s->se->addrs[j].ip.family;
			k->svc = s;
			k->addr = &s->se->addrs[j];
			k->first_addr = j == 0;
		}
	}
	*n_out = n;
	return keys;
}

static int ckey_cmp(const void *a, const void *b)
{
	const struct ckey *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	if (c)
		return c;
	/* Same VIP:port: keep input order so the error names them in order. */
	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	return 0;
}

/* Two services on one VIP:port cannot be told apart at connect time. */
static bool ckeys_check_unique(struct cctx *c, const struct ckey *keys, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	bool ok = true;
	size_t i;

	for (i = 1; i < n; i++) {
		const struct ckey *a = &keys[i - 1], *b = &keys[i];

		if (memcmp(&a->key, &b->key, sizeof(a->key)) != 0)
			continue;
		inet_ntop(b->key.family, b->key.addr, ip, sizeof(ip));
		diag_add(c->dl, DIAG_ERROR, b->addr->src.file, b->addr->src.line,
			 b->addr->src.col, b->addr->src.path,
			 "%s:%u is claimed by both %s (%s:%u) and %s: connections to it "
			 "cannot be told apart", ip, b->svc->port->number, a->svc->host,
			 a->addr->src.file, a->addr->src.line, b->svc->host);
		ok = false;
	}
	return ok;
}

/* ---- routes ------------------------------------------------------------ */

/* Istio: sourceLabels holds when the caller's workload has every one of
 * the labels, sourceNamespace when it runs in that namespace; an unknown
 * caller (no identity) satisfies neither. */
static bool match_source_ok(const struct vs_match *m, const struct workload_entry *caller)
{
	if (!m->has_source_labels && !m->source_ns)
		return true;
	if (!caller)
		return false;
	if (m->source_ns && strcmp(m->source_ns, caller->r.ns ? caller->r.ns : "default"))
		return false;
	return !m->has_source_labels || model_labels_match(&m->source_labels, &caller->ep.labels);
}

static bool route_matches(const struct vs_route *r, uint32_t port,
			  const struct workload_entry *caller)
{
	size_t i;

	if (r->n_matches == 0)
		return true;
	for (i = 0; i < r->n_matches; i++) {
		const struct vs_match *m = &r->matches[i];

		if (!m->never && (!m->has_port || m->port == port) && match_source_ok(m, caller))
			return true;
	}
	return false;
}

static const struct vs_route *route_pick(struct cctx *c, const struct virtual_service *vs,
					 const struct ckey *k)
{
	const struct reg_svc *s = k->svc;
	bool http = s->port->cls == PORT_HTTP;
	const struct vs_route *routes = http ? vs->http : vs->tcp;
	size_t i, n = http ? vs->n_http : vs->n_tcp, other = http ? vs->n_tcp : vs->n_http;

	if (n == 0 && other && k->first_addr)
		diag_add(c->dl, DIAG_WARNING, vs->r.src.file, vs->src.line, vs->src.col,
			 http ? "spec.tcp" : "spec.http",
			 "%s routes do not apply to %s port %u of %s (protocol %s)",
			 http ? "tcp" : "http", http ? "HTTP" : "TCP", s->port->number, s->host,
			 s->port->protocol ? s->port->protocol : "unset, TCP");
	for (i = 0; i < n; i++) {
		if (routes[i].n_dests && route_matches(&routes[i], s->port->number, k->caller))
			return &routes[i];
	}
	return NULL;
}

static void __attribute__((format(printf, 3, 4)))
dest_error(struct cctx *c, struct vs_dest *d, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (d->reported)
		return;
	d->reported = true;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Another resource settles it, so Istio accepts the VirtualService: a
	 * warning (--strict: an error), as xref_check reports its kind. */
	diag_add(c->dl, c->dl->strict ? DIAG_ERROR : DIAG_WARNING, d->src.file, d->src.line,
		 d->src.col, d->src.path, "%s", buf);
}

/* Which (host, port) a destination names; NULL when it cannot be resolved. */
static const struct reg_svc *dest_service(struct cctx *c, const struct virtual_service *vs,
					  struct vs_dest *d, const struct reg_svc *from)
{
	const char *host = model_resolve_host(c->a, d->host, vs->r.ns);
	const struct reg_svc *only = NULL, *s;
	size_t nports;

	if (!host)
		return NULL;
	nports = registry_host_ports(c->reg, host, &only);
	if (nports == 0) {
		dest_error(c, d, "host %s matches no service", host);
		return NULL;
	}
	if (d->has_port) {
		s = registry_find(c->reg, host, d->port);
		if (!s)
			dest_error(c, d, "service %s has no port %u", host, d->port);
		return s;
	}
	if (strcmp(host, from->host) == 0)
		return from;
	if (nports == 1)
		return only;
	s = registry_find(c->reg, host, from->port->number);
	if (!s)
		dest_error(c, d, "service %s has several ports and none is %u: set "
			   "destination.port.number", host, from->port->number);
	return s;
}

static __u32 gcd32(__u32 a, __u32 b)
{
	while (b) {
		__u32 t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Fill one svc_dest; false on error. */
static bool dest_fill(struct cctx *c, const struct virtual_service *vs, struct vs_dest *d,
		      const struct ckey *k, struct svc_dest *out)
{
	const struct reg_svc *s = dest_service(c, vs, d, k->svc);
	const struct dr_subset *sub = NULL;
	long set;

	if (!s)
		return false;
	if (d->subset) {
		sub = registry_subset(c->reg, s->host, d->subset);
		if (!sub) {
			dest_error(c, d, "subset %s is not defined by any DestinationRule for "
				   "%s: its traffic would be black-holed", d->subset, s->host);
			return false;
		}
	}
	set = cset_get(c, s, sub, d->subset, k->key.family);
	if (set < 0)
		return false;
	out->set_id = (__u32)set;
	out->subset_id = c->sets[set].name_id;
	return true;
}

/* svc_val for a key: the route in force, or the whole service. */
static bool cval_build(struct cctx *c, const struct ckey *k, struct svc_val *v)
{
	struct virtual_service *vs = registry_vs_for(c->reg, k->svc->host);
	const struct vs_route *r = vs ? route_pick(c, vs, k) : NULL;
	__u32 w[BPFMESH_MAX_DESTS], g = 0;
	uint64_t cum = 0, lost = 0;
	size_t i, n = 0;
	bool ok = true;

	v->service_id = cname_add(c, BPFMESH_NAME_SERVICE, k->svc->host);
	if (k->svc->se->r.sockmap_off)
		v->flags |= BPFMESH_SVC_F_NO_SOCKMAP;
	if (k->by_source)
		v->flags |= BPFMESH_SVC_F_BY_SOURCE;
	if (!r) {
		long set = cset_get(c, k->svc, NULL, NULL, k->key.family);

		if (set < 0)
			return false;
		v->n_dests = 1;
		v->dests[0].set_id = (__u32)set;
		v->dests[0].subset_id = c->sets[set].name_id;
		v->dests[0].cum_weight = v->total_weight = 1;
		v->dests[0].route_weight = 100; /* Istio: a lone destination is 100 */
		return true;
	}
	if (r->n_dests > BPFMESH_MAX_DESTS)
		return false; /* reported by validate */
	for (i = 0; i < r->n_dests; i++) {
		struct vs_dest *d = &r->dests[i];
		__u32 wi = r->n_dests == 1 ? 1 : (__u32)d->weight;

		if (wi == 0 || !d->host)
			continue; /* unpickable: omitted */
		if (!dest_fill(c, vs, d, k, &v->dests[n])) {
			/* Reported (a warning unless --strict): like Envoy's
			 * missing cluster, its share is refused, so its weight
			 * stays in the total with no destination to draw. */
			ok = ok && !c->failed;
			lost += wi;
			g = gcd32(g, wi);
			continue;
		}
		/* Shown as written; Istio takes a lone destination's weight as 100. */
		v->dests[n].route_weight = r->n_dests == 1 ? 100 : wi;
		w[n++] = wi;
		g = gcd32(g, wi);
	}
	if (!ok || (n == 0 && lost == 0))
		return false;
	for (i = 0; i < n; i++) {
		cum += w[i] / g;
		v->dests[i].cum_weight = (__u32)cum;
	}
	cum += lost / g;
	if (cum > UINT32_MAX)
		return false; /* reported by validate */
	v->n_dests = (__u16)n;
	v->total_weight = (__u32)cum;
	return true;
}

/* ---- routes by caller identity (issue 15) ------------------------------ */

static int we_cmp(const void *a, const void *b)
{
	const struct workload_entry *x = *(const struct workload_entry *const *)a;
	const struct workload_entry *y = *(const struct workload_entry *const *)b;
	int c = strcmp(x->r.ns ? x->r.ns : "", y->r.ns ? y->r.ns : "");

	return c ? c : strcmp(x->r.name ? x->r.name : "", y->r.name ? y->r.name : "");
}

static bool cdup(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

/* The identity's source_* metric labels, derived as for an endpoint. */
static bool cidentity_labels(struct image_identity *id, const struct workload_entry *we)
{
	struct mx_workload w;

	mx_workload_from_labels(&w, &we->ep.labels, id->name, id->ns);
	return cdup(&id->workload, w.workload) && cdup(&id->app, w.app) &&
	       cdup(&id->version, w.version) &&
	       cdup(&id->canonical_service, w.canonical_service) &&
	       cdup(&id->canonical_revision, w.canonical_revision);
}

/* The WorkloadEntries with a cgroup: identities 1..n in (namespace, name)
 * order, into c->callers and img->identities. */
static bool cidentities_build(struct cctx *c, struct bpfmesh_image *img)
{
	const struct workload_entry *we;
	size_t n = 0, i;

	for (we = c->reg->m->wes; we; we = we->next)
		n += we->r.cgroup != NULL;
	if (n == 0)
		return true;
	c->callers = calloc(n, sizeof(*c->callers));
	img->identities = calloc(n, sizeof(*img->identities));
	if (!c->callers || !img->identities)
		goto oom;
	for (we = c->reg->m->wes; we; we = we->next)
		if (we->r.cgroup)
			c->callers[c->n_callers++] = we;
	qsort(c->callers, n, sizeof(*c->callers), we_cmp);
	for (i = 0; i < n; i++) {
		struct image_identity *id = &img->identities[img->n_identities++];

		id->id = (__u32)i + 1;
		id->cgroup = strdup(c->callers[i]->r.cgroup);
		id->name = strdup(c->callers[i]->r.name ? c->callers[i]->r.name : "");
		id->ns = strdup(c->callers[i]->r.ns ? c->callers[i]->r.ns : "default");
		if (!id->cgroup || !id->name || !id->ns || !cidentity_labels(id, c->callers[i]))
			goto oom;
	}
	return true;
oom:
	c->failed = true;
	return false;
}

static bool vs_has_source_match(const struct virtual_service *vs)
{
	const struct vs_route *sets[2] = { vs->http, vs->tcp };
	size_t n[2] = { vs->n_http, vs->n_tcp }, s, i, j;

	for (s = 0; s < 2; s++)
		for (i = 0; i < n[s]; i++)
			for (j = 0; j < sets[s][i].n_matches; j++)
				if (sets[s][i].matches[j].has_source_labels ||
				    sets[s][i].matches[j].source_ns)
					return true;
	return false;
}

/* A key (VIP, identity) for each caller whose route differs from the one
 * for any caller: the kernel looks it up first (bpf/lib/svc.h). */
static bool ckeys_by_source(struct cctx *c, struct bpfmesh_image *img, struct ckey **keys,
			    size_t *n)
{
	size_t i, j, n0 = *n, extra = 0;
	struct ckey *k;

	(void)img;
	for (i = 0; c->n_callers && i < n0; i++) {
		const struct virtual_service *vs = registry_vs_for(c->reg, (*keys)[i].svc->host);

		if (!vs || !vs_has_source_match(vs))
			continue;
		for (j = 0; j < c->n_callers; j++) {
			struct ckey probe = (*keys)[i];

			probe.caller = c->callers[j];
			probe.first_addr = false;
			if (route_pick(c, vs, &probe) == route_pick(c, vs, &(*keys)[i]))
				continue;
			if (*n + extra >= BPFMESH_MAX_SERVICES) {
				diag_add(c->dl, DIAG_ERROR, vs->r.src.file, vs->src.line,
					 vs->src.col, "spec", "routes by source need more than %u "
					 "(address, port, identity) keys, what the services map holds",
					 BPFMESH_MAX_SERVICES);
				return false;
			}
			k = realloc(*keys, (*n + extra + 1) * sizeof(*k));
			if (!k) {
				c->failed = true;
				return false;
			}
			*keys = k;
			probe.key.identity = (__u32)j + 1;
			(*keys)[*n + extra++] = probe;
			(*keys)[i].by_source = true;
		}
	}
	*n += extra;
	return true;
}

/* ---- image ------------------------------------------------------------- */

/* Copy the source file names into img->strtab so the image owns them. */
bool compile_emit_strtab(struct bpfmesh_image *img)
{
	struct hmap seen = { 0 };
	size_t i, len = 0, at = 0, off;
	bool added, ok = true;

	for (i = 0; i < img->n_services; i++)
		len += strlen(img->services[i].src_file) + 1;
	img->strtab = calloc(len ? len : 1, 1);
	if (!img->strtab)
		return false;
	for (i = 0; i < img->n_services && ok; i++) {
		const char *f = img->services[i].src_file;

		ok = hmap_put_str(&seen, f, at, &added);
		if (ok && added) {
			memcpy(img->strtab + at, f, strlen(f) + 1);
			at += strlen(f) + 1;
		}
		if (ok && hmap_get_str(&seen, f, &off))
			img->services[i].src_file = img->strtab + off;
	}
	hmap_free(&seen);
	return ok;
}

/* Destinations learn their set's size and weight once the sets are built. */
static void cdests_finish(struct bpfmesh_image *img)
{
	size_t i, j;

	for (i = 0; i < img->n_services; i++) {
		struct svc_val *v = &img->services[i].val;

		for (j = 0; j < v->n_dests; j++) {
			const struct image_set *set = &img->sets[v->dests[j].set_id];

			v->dests[j].n_slots = set->n_slots;
			v->dests[j].set_weight = set->total_weight;
		}
	}
}

static bool cservices_build(struct cctx *c, const struct ckey *keys, size_t n,
			    struct bpfmesh_image *img)
{
	bool ok = true;
	size_t i;

	img->services = calloc(n ? n : 1, sizeof(*img->services));
	if (!img->services) {
		c->failed = true; /* reported by compile_image */
		return false;
	}
	img->n_services = n;
	for (i = 0; i < n; i++) {
		struct image_service *s = &img->services[i];

		s->key = keys[i].key;
		s->src_file = keys[i].addr->src.file;
		s->src_line = keys[i].addr->src.line;
		if (!cval_build(c, &keys[i], &s->val))
			ok = false;
	}
	return ok;
}

bool compile_image(struct registry *reg, struct diag_list *dl, struct bpfmesh_image *img)
{
	struct cctx c = { .reg = reg, .dl = dl, .a = &reg->m->arena };
	struct ckey *keys;
	size_t n = 0;
	bool ok;

	memset(img, 0, sizeof(*img));
	keys = ckeys_collect(reg, &n);
	if (!keys)
		return false;
	qsort(keys, n, sizeof(*keys), ckey_cmp);
	ok = ckeys_check_unique(&c, keys, n);
	ok = ok && cidentities_build(&c, img) && ckeys_by_source(&c, img, &keys, &n);
	if (ok)
		qsort(keys, n, sizeof(*keys), ckey_cmp);
	/* Sized once for a key's usual share (a host, two subsets): growing
	 * rehashes every entry, ~10% of a 10,000-service compile. */
	if (ok && (!hmap_reserve(&c.name_index, 3 * n) || !hmap_reserve(&c.set_index, 2 * n)))
		c.failed = true; /* reported below */
	ok = ok && !c.failed && cservices_build(&c, keys, n, img);
	ok = ok && !c.failed && cset_emit(&c, img);
	if (ok)
		cdests_finish(img);
	ok = ok && cname_emit(&c, img) && compile_emit_strtab(img) && !c.failed;
	if (c.failed)
		diag_add(dl, DIAG_ERROR, "", 0, 0, "", "out of memory while compiling");
	free(keys);
	cset_free(&c);
	free(c.callers);
	if (!ok)
		bpfmesh_image_free(img);
	return ok;
}
