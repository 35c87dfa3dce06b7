// SPDX-License-Identifier: Apache-2.0
/*
 * `bpfmesh agent --metrics ADDR:PORT`: the metrics server (metrics/server.h)
 * in the agent's loop, and the snapshot each scrape renders.
 *
 * A scrape reads every assigned slot from the pinned health maps (counters
 * summed over CPUs, cluster state and histograms: kern/health_read.h) and
 * labels it from the compiled policy in force (the image's per-set host,
 * namespace, subset, port and per-endpoint Istio workload labels). The
 * counters live in the pinned maps, not in the agent, so they keep growing
 * across agent restarts. A slot the policy in force no longer names (retired,
 * or before the first apply) keeps its counters and is labelled from its
 * kernel name alone: the cluster name as destination_service, the workload
 * labels unknown. The applier keeps a retired cluster's name in the names
 * map until its slot is reused (apply/plan.c), so its series stay labelled.
 *
 * The server runs in poll mode: fill() runs on the agent's thread between
 * reloads, so the image cannot change under it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/hist.h>
#include "agent.h"
#include "kern/health_read.h"
#include "kern/lb_read.h"
#include "k8s/k8s.h"
#include "kern/node_read.h"
#include "metrics/server.h"
#include "metrics_src.h"

/* Histogram bounds: the kernel's bucket i holds whole units below
 * bpfmesh_hist_lower(i + 1) (snapshot.h); every 4th bound (the powers of
 * two) is exported, which keeps it cumulative with 23 `le` per histogram. */
static uint64_t hist_le[BPFMESH_HIST_BUCKETS - 1];
static uint8_t hist_emit[BPFMESH_HIST_BUCKETS - 1];

static void hist_layout_init(struct mx_snapshot *snap)
{
	static const uint32_t unit_us[MX_HIST_KINDS] = { 1, 1, 1000 };
	size_t i, n = BPFMESH_HIST_BUCKETS - 1;
	int k;

	for (i = 0; i < n; i++) {
		hist_le[i] = bpfmesh_hist_lower((__u32)i + 1);
		hist_emit[i] = (i + 1) % BPFMESH_HIST_SUB == 0;
	}
	for (k = 0; k < MX_HIST_KINDS; k++)
		snap->layout[k] = (struct mx_hist_layout){ hist_le, n, unit_us[k], hist_emit };
}

/* The current image's sets by cluster name, for labels. */
struct set_ref {
	const char *name;
	const struct image_set *set;
};

/* What one scrape allocated; released after rendering. */
struct scrape {
	struct mx_cluster *cls;
	struct cluster_hists *hists; /* per cls[] */
	char (*cl_names)[BPFMESH_NAME_LEN];
	const struct image_set **cl_sets; /* per cls[], NULL: not in the image */
	__u32 *cl_index;                  /* cluster slot -> index + 1 into cls[] */
	bool *cl_hist_given;              /* per cls[]: histograms on an endpoint */
	struct mx_endpoint *eps;
	char (*ep_addrs)[24];
	size_t n_cls, n_eps;
	struct set_ref *refs;
	size_t n_refs;
	struct health_maps *hm;
	int closed_fd;                   /* connpool_closed; -1: no sweep here */
	struct node_counters node;       /* node-wide counters, and their families */
	const char *verdict_labels[__BPFMESH_V_MAX];
	uint64_t verdicts[__BPFMESH_V_MAX], sm_socks[4], sm_msgs[2], sm_bytes[2];
	const char *k8s_kinds[K8S_N_KINDS];
	uint64_t k8s_forbidden[K8S_N_KINDS], k8s_up, k8s_synced, k8s_events, k8s_relists,
		k8s_resumes;
	struct mx_node_family fams[11];
	struct mx_policy_rejected *rejected;
	struct src_scrape src; /* counters by source, read before the endpoints */
};

static int set_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct set_ref *)a)->name, ((const struct set_ref *)b)->name);
}

static const struct image_set *scrape_find_set(const struct scrape *sc, const char *name)
{
	struct set_ref key = { .name = name }, *r;

	r = bsearch(&key, sc->refs, sc->n_refs, sizeof(key), set_ref_cmp);
	return r ? r->set : NULL;
}

/* The endpoint's index in its set: slots are sorted by address (bytes in
 * network order), then port in host order (compile_sets.c ep_cmp). -1: not
 * there. */
static long find_slot(const struct image_set *set, const struct ep_health *h)
{
	__u32 lo = 0, hi = set->n_slots;
	__u16 p = ntohs(h->port);
	__be32 addr[4];

	if (ep_health_get_addr(h, addr) != (set->family == AF_INET6 ? AF_INET6 : AF_INET))
		return -1;
	while (lo < hi) {
		__u32 mid = lo + (hi - lo) / 2;
		__u16 mp = ntohs(set->slots[mid].port);
		int c = memcmp(set->slots[mid].addr, addr, sizeof(addr));

		if (c == 0 && mp == p)
			return mid;
		if (c < 0 || (c == 0 && mp < p))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Connections the sweep closed on the cluster (conn_sweep.bpf.c). */
static void add_cluster_closes(const struct scrape *sc, __u32 slot, struct mx_cluster *cl)
{
	struct connpool_closed n = {};

	if (sc->closed_fd >= 0 && bpf_map_lookup_elem(sc->closed_fd, &slot, &n))
		memset(&n, 0, sizeof(n));
	cl->cx_max_duration_reached = n.max_duration;
	cl->idle_timeout = n.idle;
}

static int add_cluster(const struct health_cluster *hc, void *ctx)
{
	struct scrape *sc = ctx;
	size_t i = sc->n_cls++;
	const struct image_set *set;
	struct mx_cluster *cl = &sc->cls[i];

	snprintf(sc->cl_names[i], BPFMESH_NAME_LEN, "%s", hc->name);
	set = scrape_find_set(sc, sc->cl_names[i]);
	sc->cl_sets[i] = set;
	sc->cl_index[hc->slot] = (__u32)i + 1;
	if (set) {
		/* Istio's ServiceEntry registry names the service by its host. */
		*cl = (struct mx_cluster){ .host = set->host, .name = set->host, .ns = set->ns,
					   .subset = set->subset, .port = set->port };
	} else {
		*cl = (struct mx_cluster){ .host = sc->cl_names[i], .name = sc->cl_names[i] };
	}
	cl->ejections_total = hc->st.ejections;
	cl->ejected = hc->st.ejected;
	cl->overflow = hc->st.overflow;
	cl->no_healthy = hc->st.no_healthy_upstream;
	add_cluster_closes(sc, hc->slot, cl);
	/* A slot the histograms map does not hold (the agent runs without
	 * --cluster-histograms): no histogram, rather than an empty one. */
	if (health_read_hists(sc->hm, hc->slot, &sc->hists[i]))
		sc->cl_hist_given[i] = cl->no_hists = true;
	return 0;
}

void mx_copy_counters(struct mx_counters *m, const struct ep_counters *c)
{
	m->opened = c->opened;
	m->established = c->established;
	m->closed = c->closed;
	m->failed[MX_FAIL_REFUSED] = c->fail_refused;
	m->failed[MX_FAIL_TIMEOUT] = c->fail_timeout;
	m->failed[MX_FAIL_RESET] = c->fail_reset;
	m->failed[MX_FAIL_OTHER] = c->fail_other;
	m->reset = c->reset;
	m->aborted = c->aborted;
	m->request_bytes = c->bytes_sent;
	m->response_bytes = c->bytes_received;
}

static void endpoint_labels(struct mx_workload *w, const struct image_set *set, long idx)
{
	const struct image_ep_meta *m;

	memset(w, 0, sizeof(*w));
	if (!set || idx < 0 || !set->meta)
		return;
	m = &set->meta[idx];
	*w = (struct mx_workload){ .workload = m->workload, .ns = m->workload_ns,
				   .app = m->app, .version = m->version,
				   .canonical_service = m->canonical_service,
				   .canonical_revision = m->canonical_revision };
}

static int add_endpoint(const struct health_endpoint *he, void *ctx)
{
	struct scrape *sc = ctx;
	struct mx_endpoint *e = &sc->eps[sc->n_eps];
	__u32 ci = he->h.cluster_slot < sc->hm->max_clusters ? sc->cl_index[he->h.cluster_slot] : 0;
	const struct image_set *set;
	int k;

	if (!ci)
		return 0; /* its cluster slot is not assigned (being retired): skip */
	set = sc->cl_sets[ci - 1];
	health_endpoint_addr(&he->h, sc->ep_addrs[sc->n_eps], sizeof(sc->ep_addrs[0]));
	e->cluster = ci - 1;
	e->address = sc->ep_addrs[sc->n_eps];
	endpoint_labels(&e->dst, set, set ? find_slot(set, &he->h) : -1);
	mx_copy_counters(&e->c, &he->c);
	src_scrape_attach(&sc->src, he->slot, e);
	/* Histograms are per cluster: hang them on its first endpoint (the
	 * writer sums a cluster's endpoints). */
	if (!sc->cl_hist_given[ci - 1]) {
		const struct hist *h[MX_HIST_KINDS] = { &sc->hists[ci - 1].connect_us,
							&sc->hists[ci - 1].rtt_us,
							&sc->hists[ci - 1].duration_ms };

		sc->cl_hist_given[ci - 1] = true;
		for (k = 0; k < MX_HIST_KINDS; k++)
			e->hist[k] = (struct mx_hist){ (const uint64_t *)h[k]->buckets, h[k]->sum };
	}
	sc->n_eps++;
	return 0;
}

static void scrape_free(struct scrape *sc)
{
	free(sc->cls);
	free(sc->hists);
	free(sc->cl_names);
	free(sc->cl_sets);
	free(sc->cl_index);
	free(sc->cl_hist_given);
	free(sc->eps);
	free(sc->ep_addrs);
	free(sc->refs);
	free(sc->rejected);
	src_scrape_free(&sc->src);
	free(sc);
}

static int scrape_alloc(struct scrape *sc, const struct health_maps *hm, size_t n_sets)
{
	size_t nc = hm->max_clusters, ne = hm->max_endpoints;

	sc->cls = calloc(nc, sizeof(*sc->cls));
	sc->hists = calloc(nc, sizeof(*sc->hists));
	sc->cl_names = calloc(nc, sizeof(*sc->cl_names));
	sc->cl_sets = calloc(nc, sizeof(*sc->cl_sets));
	sc->cl_index = calloc(nc, sizeof(*sc->cl_index));
	sc->cl_hist_given = calloc(nc, sizeof(*sc->cl_hist_given));
	sc->eps = calloc(ne, sizeof(*sc->eps));
	sc->ep_addrs = calloc(ne, sizeof(*sc->ep_addrs));
	sc->refs = calloc(n_sets + 1, sizeof(*sc->refs));
	if (!sc->cls || !sc->hists || !sc->cl_names || !sc->cl_sets || !sc->cl_index ||
	    !sc->cl_hist_given || !sc->eps || !sc->ep_addrs || !sc->refs)
		return -ENOMEM;
	return 0;
}

static void index_sets(struct scrape *sc, const struct agent *ag)
{
	size_t i;

	for (i = 0; ag->have_img && i < ag->img.n_sets; i++)
		sc->refs[sc->n_refs++] = (struct set_ref){ ag->img.sets[i].cluster,
							   &ag->img.sets[i] };
	qsort(sc->refs, sc->n_refs, sizeof(*sc->refs), set_ref_cmp);
}

static const char *const sm_sock_events[4] = { "inserted", "insert_failed", "fell_back",
						  "skipped_optout" };
static const char *const sm_paths[2] = { "redirect", "tcp" };

/* Same-node acceleration, once its maps exist (an agent ran with --sockmap). */
static struct mx_node_family *sockmap_families(struct scrape *sc, struct mx_node_family *f)
{
	const __u64 *sm = sc->node.sockmap;

	memcpy(sc->sm_socks, (uint64_t[]){ sm[BPFMESH_SM_INSERTED], sm[BPFMESH_SM_INSERT_FAILED],
					   sm[BPFMESH_SM_FELL_BACK], sm[BPFMESH_SM_SKIP_OPTOUT] },
	       sizeof(sc->sm_socks));
	memcpy(sc->sm_msgs, (uint64_t[]){ sm[BPFMESH_SM_REDIRECT_MSGS], sm[BPFMESH_SM_TCP_MSGS] },
	       sizeof(sc->sm_msgs));
	memcpy(sc->sm_bytes, (uint64_t[]){ sm[BPFMESH_SM_REDIRECT_BYTES], sm[BPFMESH_SM_TCP_BYTES] },
	       sizeof(sc->sm_bytes));
	*f++ = (struct mx_node_family){ "bpfmesh_sockmap_sockets_total",
		"Same-node acceleration: connection ends put in the sockhash, refused, switched "
		"back to TCP for good, or left out by an opt-out.", "counter", "event", sm_sock_events,
		sc->sm_socks, 4 };
	*f++ = (struct mx_node_family){ "bpfmesh_sockmap_messages_total",
		"sendmsg calls of accelerated ends, redirected to the peer socket or left to TCP.",
		"counter", "path", sm_paths, sc->sm_msgs, 2 };
	*f++ = (struct mx_node_family){ "bpfmesh_sockmap_bytes_total",
		"Bytes sent by accelerated ends, redirected to the peer socket or left to TCP.",
		"counter", "path", sm_paths, sc->sm_bytes, 2 };
	return f;
}

/* The connection to the Kubernetes API (--kubeconfig/--in-cluster): while it
 * is down, or a kind is forbidden, the data plane keeps its last good state
 * and these say so. */
static struct mx_node_family *k8s_families(struct scrape *sc, struct k8s_watch *w,
					   struct mx_node_family *f)
{
	struct k8s_health h;
	int i;

	k8s_health(w, &h);
	sc->k8s_up = !h.outage;
	sc->k8s_synced = h.synced;
	sc->k8s_events = h.events;
	sc->k8s_relists = h.relists;
	sc->k8s_resumes = h.resumes;
	for (i = 0; i < K8S_N_KINDS; i++) {
		sc->k8s_kinds[i] = k8s_kinds[i].kind;
		sc->k8s_forbidden[i] = !!(h.forbidden & (1u << i));
	}
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_api_up", "1 while the last request of "
		"every watched kind succeeded; 0 during an API server outage (the last good "
		"state stays in force).", "gauge", NULL, NULL, &sc->k8s_up, 1 };
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_synced", "1 once every watched kind "
		"was listed; policy from Kubernetes applies from then on.", "gauge", NULL, NULL,
		&sc->k8s_synced, 1 };
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_kind_forbidden", "1 for a kind the API "
		"server refuses to list (HTTP 403): held as empty.", "gauge", "kind", sc->k8s_kinds,
		sc->k8s_forbidden, K8S_N_KINDS };
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_watch_events_total",
		"Watch events received.", "counter", NULL, NULL, &sc->k8s_events, 1 };
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_relists_total",
		"Lists again after 410 Gone (resourceVersion too old).", "counter", NULL, NULL,
		&sc->k8s_relists, 1 };
	*f++ = (struct mx_node_family){ "bpfmesh_k8s_watch_resumes_total",
		"Watches resumed from the last resourceVersion after they ended or broke.",
		"counter", NULL, NULL, &sc->k8s_resumes, 1 };
	return f;
}

/* The node-wide families: connect verdicts, then what else this node has. */
static size_t node_families(struct scrape *sc, const struct agent *ag, bool have_node)
{
	struct mx_node_family *f = sc->fams;
	__u32 v;

	if (have_node) {
		for (v = 0; v < __BPFMESH_V_MAX; v++) {
			sc->verdict_labels[v] = lb_verdict_name(v);
			sc->verdicts[v] = sc->node.verdicts[v];
		}
		*f++ = (struct mx_node_family){ "bpfmesh_connect_decisions_total",
			"Connects from managed cgroups, by what connect-time selection decided.",
			"counter", "decision", sc->verdict_labels, sc->verdicts, __BPFMESH_V_MAX };
		if (sc->node.have_sockmap)
			f = sockmap_families(sc, f);
	}
	if (sc->src.have_overflow)
		*f++ = (struct mx_node_family){ "bpfmesh_source_overflow_total",
			"Connections of a known caller counted as source unknown because the "
			"counters by source were full.", "counter", NULL, NULL, &sc->src.overflow, 1 };
	if (ag->k8s && ag->k8s->watch)
		f = k8s_families(sc, ag->k8s->watch, f);
	return (size_t)(f - sc->fams);
}

/* The last compile's rejected resources (the report the agent keeps). */
static int fill_policy(struct scrape *sc, const struct agent *ag, struct mx_snapshot *snap)
{
	const struct policy_report *rep = &ag->report;
	size_t i, n = 0;

	if (!ag->have_report)
		return 0;
	sc->rejected = calloc(rep->n_rejected + 1, sizeof(*sc->rejected));
	if (!sc->rejected)
		return -ENOMEM;
	for (i = 0; i < rep->n; i++) {
		if (rep->v[i].rejected)
			sc->rejected[n++] = (struct mx_policy_rejected){ rep->v[i].kind,
									 rep->v[i].ns,
									 rep->v[i].name };
	}
	snap->have_policy = true;
	snap->policy_applied = rep->n_applied;
	snap->rejected = sc->rejected;
	snap->n_rejected = n;
	return 0;
}

static int metrics_fill(void *ctx, struct mx_snapshot *snap)
{
	struct agent *ag = ctx;
	struct scrape *sc;
	int err;

	memset(snap, 0, sizeof(*snap));
	if (!ag->metrics_maps_open)
		return -EAGAIN;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->hm = &ag->metrics_maps;
	sc->closed_fd = lb_loader_map_fd(&ag->loader, BPFMESH_MAP_CONNPOOL_CLOSED);
	snap->have_conn_closes = sc->closed_fd >= 0;
	err = scrape_alloc(sc, sc->hm, ag->have_img ? ag->img.n_sets : 0);
	if (err)
		goto fail;
	index_sets(sc, ag);
	err = src_scrape_read(&sc->src, ag);
	if (!err)
		err = health_for_each_cluster(sc->hm, add_cluster, sc);
	if (!err)
		err = health_for_each_endpoint(sc->hm, add_endpoint, sc);
	if (err)
		goto fail;
	err = fill_policy(sc, ag, snap);
	if (err)
		goto fail;
	hist_layout_init(snap);
	snap->clusters = sc->cls;
	snap->n_clusters = sc->n_cls;
	snap->endpoints = sc->eps;
	snap->n_endpoints = sc->n_eps;
	snap->node = sc->fams;
	snap->n_node = node_families(sc, ag, ag->metrics_node_open &&
					     !node_read(&ag->metrics_node, &sc->node));
	ag->metrics_scrape = sc;
	return 0;
fail:
	agent_log("Failed to read the health maps for a scrape: %d", err);
	scrape_free(sc);
	return err;
}

static void metrics_release(void *ctx, struct mx_snapshot *snap)
{
	struct agent *ag = ctx;

	if (ag->metrics_scrape)
		scrape_free(ag->metrics_scrape);
	ag->metrics_scrape = NULL;
	memset(snap, 0, sizeof(*snap));
}

/* Ready once this agent applied a policy version (its own, or the one it
 * adopted and found unchanged) and, with discovery, every kind was listed:
 * a rolling update moves to the next node only then. */
static bool agent_ready(void *ctx, char *why, size_t why_len)
{
	struct agent *ag = ctx;
	struct k8s_health h;

	if (!ag->have_img) {
		snprintf(why, why_len, "no policy applied yet");
		return false;
	}
	if (ag->k8s && ag->k8s->watch) {
		k8s_health(ag->k8s->watch, &h);
		if (!h.synced) {
			snprintf(why, why_len, "waiting for the first list of every Kubernetes kind");
			return false;
		}
	}
	return true;
}

static int on_metrics_ready(struct agent *ag, int fd)
{
	(void)fd;
	agent_metrics_tick(ag);
	return 0;
}

int agent_metrics_listen(struct agent *ag)
{
	const struct mx_provider p = { metrics_fill, metrics_release, agent_ready, ag };
	const char *what = "";
	int err;

	if (!ag->metrics_addr)
		return 0;
	err = mx_server_start(ag->metrics_addr, &p, 0, &ag->metrics, &what);
	if (err) {
		agent_log("Failed to serve metrics on %s: %s: %s", ag->metrics_addr, what,
			  strerror(-err));
		return err;
	}
	agent_log("metrics at http://%s/metrics (port %u)", ag->metrics_addr,
		  mx_server_port(ag->metrics));
	return agent_add_source(ag, mx_server_fd(ag->metrics), "metrics", on_metrics_ready);
}

int agent_metrics_open_maps(struct agent *ag)
{
	int err;

	if (!ag->metrics)
		return 0;
	err = health_open(&ag->metrics_maps, ag->bpffs);
	if (err)
		return err;
	ag->metrics_maps_open = true;
	ag->metrics_node_open = !node_open(&ag->metrics_node, ag->bpffs);
	return 0;
}

void agent_metrics_tick(struct agent *ag)
{
	if (ag->metrics && mx_server_run(ag->metrics))
		agent_log("Failed to serve a metrics request");
}

void agent_metrics_stop(struct agent *ag)
{
	mx_server_stop(ag->metrics);
	ag->metrics = NULL;
	if (ag->metrics_maps_open)
		health_close(&ag->metrics_maps);
	if (ag->metrics_node_open)
		node_close(&ag->metrics_node);
	ag->metrics_maps_open = ag->metrics_node_open = false;
}
