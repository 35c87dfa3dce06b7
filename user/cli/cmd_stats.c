// SPDX-License-Identifier: Apache-2.0
/*
 * bpfmesh stats [SERVICE] [-j] [--bpffs DIR] [--interval SECONDS]: the
 * canary view. Per service, its subsets (clusters) one row each, side by
 * side in one table: connections per second, connections opened, failure
 * percentage, p50/p99 connect latency, ejected endpoints out of the total;
 * below each subset its endpoints (state, opened, failed, bytes).
 *
 * Reads only the pinned kernel maps (kern/health_read.h), so it works with
 * no agent running. The rate takes two readings --interval apart (default
 * 1 s; 0: cumulative counts only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpfmesh/hist.h>
#include "cli.h"
#include "kern/health_read.h"
#include "kern/node_read.h"
#include "stats_locality.h"

struct stats_opts {
	const char *bpffs;
	const char *service; /* NULL: every service */
	double interval_s;
};

/* One cluster slot with what its endpoints add up to. */
struct stats_cluster {
	struct health_cluster cl;
	struct cluster_hists hists;
	bool has_hists; /* the agent keeps histograms (--cluster-histograms) */
	char service[BPFMESH_NAME_LEN]; /* "host:port" */
	char subset[BPFMESH_NAME_LEN];  /* "-" for the host's default cluster */
	__u64 opened, opened_before, established, failed, closed;
	__u64 bytes_sent, bytes_received;
	__u32 first_ep, n_eps; /* endpoints of this cluster in stats.eps[] */
};

struct stats {
	struct health_maps hm;
	struct stats_cluster *cls;
	size_t n_cls;
	struct health_endpoint *eps;
	size_t n_eps;
	__u64 *opened_before; /* per endpoint slot, at the first reading */
	struct node_counters node; /* node-wide: same-node acceleration */
	__u64 now_ns;
	int loc_fd;              /* endpoint localities (stats_locality.h), < 0: none */
	struct loc_tally *tally; /* room for one subset's endpoints */
};

static void stats_help(void)
{
	if (cli.json) {
		puts("null");
		return;
	}
	printf("Usage: bpfmesh stats [SERVICE] [-j|-p] [--bpffs DIR] [--interval SECONDS]\n"
	       "\n"
	       "Per service, its subsets side by side: connections per second, opened,\n"
	       "failure %%, p50/p99 connect latency, ejected endpoints; each subset's\n"
	       "endpoints below. SERVICE is a host (reviews.default.svc.cluster.local),\n"
	       "its short name (reviews) or host:port. The rate is measured over\n"
	       "SECONDS (default 1; 0 shows cumulative counts only). Reads the kernel\n"
	       "maps under DIR (default " DEFAULT_BPFFS_DIR "); no agent needed.\n");
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static __u64 ep_failed(const struct ep_counters *c)
{
	return c->fail_refused + c->fail_timeout + c->fail_reset + c->fail_other;
}

/* "host/subset:port" -> service "host:port", subset "subset";
 * "host:port" -> "host:port", "-". */
static void split_cluster_name(struct stats_cluster *sc)
{
	char *name = sc->cl.name, *slash = strchr(name, '/'), *colon = strrchr(name, ':');

	if (!slash || !colon || colon < slash) {
		snprintf(sc->service, sizeof(sc->service), "%s", name);
		snprintf(sc->subset, sizeof(sc->subset), "-");
		return;
	}
	snprintf(sc->service, sizeof(sc->service), "%.*s%s", (int)(slash - name), name, colon);
	snprintf(sc->subset, sizeof(sc->subset), "%.*s", (int)(colon - slash - 1), slash + 1);
}

/* Does the service "host:port" match what the user asked for? */
static bool service_matches(const char *service, const char *want)
{
	size_t n = strlen(want);
	const char *colon = strrchr(service, ':');
	size_t host_len = colon ? (size_t)(colon - service) : strlen(service);

	if (!want[0] || !strcmp(service, want))
		return true;
	if (n == host_len && !strncmp(service, want, n))
		return true; /* the host */
	return n < host_len && !strncmp(service, want, n) && service[n] == '.'; /* short name */
}

static int collect_cluster(const struct health_cluster *cl, void *ctx)
{
	struct stats *st = ctx;
	struct stats_cluster *sc = &st->cls[st->n_cls++];

	memset(sc, 0, sizeof(*sc));
	sc->cl = *cl;
	sc->has_hists = !health_read_hists(&st->hm, cl->slot, &sc->hists);
	split_cluster_name(sc);
	return 0;
}

static int collect_endpoint(const struct health_endpoint *ep, void *ctx)
{
	struct stats *st = ctx;

	st->eps[st->n_eps++] = *ep;
	return 0;
}

static int note_opened(const struct health_endpoint *ep, void *ctx)
{
	struct stats *st = ctx;

	st->opened_before[ep->slot] = ep->c.opened;
	return 0;
}

static int ep_by_cluster(const void *a, const void *b)
{
	const struct health_endpoint *x = a, *y = b;

	if (x->h.cluster_slot != y->h.cluster_slot)
		return x->h.cluster_slot < y->h.cluster_slot ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int cluster_by_service(const void *a, const void *b)
{
	const struct stats_cluster *x = a, *y = b;
	int d = strcmp(x->service, y->service);

	return d ? d : strcmp(x->subset, y->subset);
}

/* Add each endpoint to its cluster; endpoints end up grouped by cluster.
 * Both arrays are in slot order (the walks go by slot). */
static void sum_endpoints(struct stats *st)
{
	size_t i, c = 0;

	qsort(st->eps, st->n_eps, sizeof(*st->eps), ep_by_cluster);
	for (i = 0; i < st->n_eps; i++) {
		const struct health_endpoint *ep = &st->eps[i];
		struct stats_cluster *sc;

		while (c < st->n_cls && st->cls[c].cl.slot < ep->h.cluster_slot)
			c++;
		if (c == st->n_cls || st->cls[c].cl.slot != ep->h.cluster_slot)
			continue; /* cluster slot not assigned: being retired */
		sc = &st->cls[c];
		if (!sc->n_eps)
			sc->first_ep = (__u32)i;
		sc->n_eps++;
		sc->opened += ep->c.opened;
		sc->opened_before += st->opened_before[ep->slot];
		sc->established += ep->c.established;
		sc->failed += ep_failed(&ep->c);
		sc->closed += ep->c.closed;
		sc->bytes_sent += ep->c.bytes_sent;
		sc->bytes_received += ep->c.bytes_received;
	}
	qsort(st->cls, st->n_cls, sizeof(*st->cls), cluster_by_service);
}

static int stats_read(struct stats *st, const struct stats_opts *o)
{
	int err;

	st->cls = calloc(st->hm.max_clusters, sizeof(*st->cls));
	st->eps = calloc(st->hm.max_endpoints, sizeof(*st->eps));
	st->opened_before = calloc(st->hm.max_endpoints, sizeof(*st->opened_before));
	st->tally = calloc(st->hm.max_endpoints, sizeof(*st->tally));
	if (!st->cls || !st->eps || !st->opened_before || !st->tally)
		return -ENOMEM;
	if (o->interval_s > 0) {
		struct timespec ts = { (time_t)o->interval_s,
				       (long)((o->interval_s - (double)(time_t)o->interval_s) * 1e9) };

		err = health_for_each_endpoint(&st->hm, note_opened, st);
		if (err)
			return err;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	st->now_ns = mono_ns();
	err = health_for_each_cluster(&st->hm, collect_cluster, st);
	if (!err)
		err = health_for_each_endpoint(&st->hm, collect_endpoint, st);
	if (!err)
		sum_endpoints(st);
	return err;
}

/* The node-wide counters; without them (no agent ever loaded the sockmap
 * object here) the stats are per service only. */
static void read_node(struct stats *st, const struct stats_opts *o)
{
	struct node_maps nm;

	if (node_open(&nm, o->bpffs))
		return;
	node_read(&nm, &st->node);
	node_close(&nm);
}

static double pct(__u64 part, __u64 whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Connect latency quantile in milliseconds (the histogram counts µs). */
static double connect_ms(const struct stats_cluster *sc, double q)
{
	return bpfmesh_hist_quantile(sc->hists.connect_us.buckets, q) / 1000.0;
}

/* The quantile for the table: "-" where the agent keeps no histograms. */
static void quantile_text(char *buf, size_t len, const struct stats_cluster *sc, double q)
{
	if (sc->has_hists)
		snprintf(buf, len, "%.3f", connect_ms(sc, q));
	else
		snprintf(buf, len, "-");
}

static double rate(const struct stats_cluster *sc, const struct stats_opts *o)
{
	/* A slot zeroed for a new owner between the readings counts from 0. */
	if (sc->opened < sc->opened_before)
		return (double)sc->opened / o->interval_s;
	return (double)(sc->opened - sc->opened_before) / o->interval_s;
}

/* Seconds of ejection left, 0 when in service. */
static double ejected_for_s(const struct ep_health *h, __u64 now_ns)
{
	if (!health_is_ejected(h, now_ns))
		return 0;
	if (h->ejected_until_ns == BPFMESH_EJECTING)
		return 0.001;
	return (double)(h->ejected_until_ns - now_ns) / 1e9;
}

/* ---- table ---- */

static void print_endpoints_plain(const struct stats *st, const struct stats_cluster *sc)
{
	__u32 i;

	for (i = 0; i < sc->n_eps; i++) {
		const struct health_endpoint *ep = &st->eps[sc->first_ep + i];
		double left = ejected_for_s(&ep->h, st->now_ns);
		char addr[40], state[32];

		health_endpoint_addr(&ep->h, addr, sizeof(addr));
		if (left > 0)
			snprintf(state, sizeof(state), "ejected %.1fs", left);
		else
			snprintf(state, sizeof(state), "ok");
		printf("    %-22s %-15s %10llu %8llu %12llu %12llu\n", addr, state,
		       (unsigned long long)ep->c.opened, (unsigned long long)ep_failed(&ep->c),
		       (unsigned long long)ep->c.bytes_sent,
		       (unsigned long long)ep->c.bytes_received);
	}
}

/* Same-node acceleration is node-wide, not per service: one line below the
 * services, once an agent ran with --sockmap here. */
static void print_sockmap_plain(const struct stats *st, const struct stats_opts *o)
{
	const __u64 *sm = st->node.sockmap;
	__u64 total = sm[BPFMESH_SM_REDIRECT_BYTES] + sm[BPFMESH_SM_TCP_BYTES];

	if (!st->node.have_sockmap || o->service)
		return;
	printf("\nsame-node acceleration: %llu socket ends accelerated, %llu bytes redirected "
	       "(%.1f%% of theirs), %llu fell back to TCP, %llu opted out\n",
	       (unsigned long long)sm[BPFMESH_SM_INSERTED],
	       (unsigned long long)sm[BPFMESH_SM_REDIRECT_BYTES],
	       pct(sm[BPFMESH_SM_REDIRECT_BYTES], total), (unsigned long long)sm[BPFMESH_SM_FELL_BACK],
	       (unsigned long long)sm[BPFMESH_SM_SKIP_OPTOUT]);
}

static void print_sockmap_json(const struct stats *st, struct json *j)
{
	unsigned int i;

	if (!st->node.have_sockmap)
		return;
	json_key(j, "sockmap");
	json_obj_begin(j);
	for (i = 0; i < __BPFMESH_SM_MAX; i++)
		json_kv_uint(j, sockmap_stat_name(i), st->node.sockmap[i]);
	json_obj_end(j);
}

static void print_plain(const struct stats *st, const struct stats_opts *o)
{
	const char *service = NULL;
	size_t c;

	for (c = 0; c < st->n_cls; c++) {
		const struct stats_cluster *sc = &st->cls[c];
		char cps[16], p50[24], p99[24];

		if (o->service && !service_matches(sc->service, o->service))
			continue;
		if (!service || strcmp(service, sc->service)) {
			service = sc->service;
			printf("%s%s\n", c ? "\n" : "", service);
			printf("  %-16s %8s %10s %6s %8s %8s %8s %10s\n", "SUBSET", "CONN/S",
			       "OPENED", "FAIL%", "P50 MS", "P99 MS", "EJECTED", "NO-HEALTHY");
		}
		if (o->interval_s > 0)
			snprintf(cps, sizeof(cps), "%.1f", rate(sc, o));
		else
			snprintf(cps, sizeof(cps), "-");
		quantile_text(p50, sizeof(p50), sc, 0.5);
		quantile_text(p99, sizeof(p99), sc, 0.99);
		printf("  %-16.16s %8s %10llu %6.1f %8s %8s %4llu/%-3u %10llu\n", sc->subset,
		       cps, (unsigned long long)sc->opened, pct(sc->failed, sc->opened), p50, p99,
		       (unsigned long long)sc->cl.st.ejected, sc->cl.cfg.total_endpoints,
		       (unsigned long long)sc->cl.st.no_healthy_upstream);
		if (sc->n_eps) {
			printf("    %-22s %-15s %10s %8s %12s %12s\n", "ENDPOINT", "STATE", "OPENED",
			       "FAILED", "BYTES OUT", "BYTES IN");
			print_endpoints_plain(st, sc);
			stats_locality_plain(st->tally,
					     stats_locality_tally(st->loc_fd, &st->eps[sc->first_ep],
								  sc->n_eps, st->tally),
					     sc->opened);
		}
	}
	print_sockmap_plain(st, o);
}

/* ---- JSON ---- */

static void print_endpoints_json(const struct stats *st, const struct stats_cluster *sc,
				 struct json *j)
{
	__u32 i;

	json_key(j, "endpoints");
	json_arr_begin(j);
	for (i = 0; i < sc->n_eps; i++) {
		const struct health_endpoint *ep = &st->eps[sc->first_ep + i];
		double left = ejected_for_s(&ep->h, st->now_ns);
		char addr[40];

		health_endpoint_addr(&ep->h, addr, sizeof(addr));
		json_obj_begin(j);
		json_kv_str(j, "address", addr);
		json_kv_uint(j, "slot", ep->slot);
		json_kv_str(j, "state", left > 0 ? "ejected" : "in_service");
		json_key(j, "ejected_for_s");
		json_double(j, left);
		json_kv_uint(j, "ejections", ep->h.ejections);
		json_kv_uint(j, "opened", ep->c.opened);
		json_kv_uint(j, "established", ep->c.established);
		json_kv_uint(j, "failed", ep_failed(&ep->c));
		json_kv_uint(j, "failed_refused", ep->c.fail_refused);
		json_kv_uint(j, "failed_timeout", ep->c.fail_timeout);
		json_kv_uint(j, "closed", ep->c.closed);
		json_kv_uint(j, "bytes_sent", ep->c.bytes_sent);
		json_kv_uint(j, "bytes_received", ep->c.bytes_received);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void print_subset_json(const struct stats *st, const struct stats_cluster *sc,
			      const struct stats_opts *o, struct json *j)
{
	json_obj_begin(j);
	json_kv_str(j, "subset", sc->subset);
	json_kv_uint(j, "cluster_slot", sc->cl.slot);
	json_key(j, "conn_per_s");
	if (o->interval_s > 0)
		json_double(j, rate(sc, o));
	else
		json_null(j);
	json_kv_uint(j, "opened", sc->opened);
	json_kv_uint(j, "established", sc->established);
	json_kv_uint(j, "failed", sc->failed);
	json_key(j, "failed_percent");
	json_double(j, pct(sc->failed, sc->opened));
	json_kv_uint(j, "closed", sc->closed);
	json_kv_uint(j, "no_healthy_upstream", sc->cl.st.no_healthy_upstream);
	if (sc->has_hists) { /* none without --cluster-histograms */
		json_key(j, "connect_p50_ms");
		json_double(j, connect_ms(sc, 0.5));
		json_key(j, "connect_p99_ms");
		json_double(j, connect_ms(sc, 0.99));
	}
	json_kv_uint(j, "ejected", sc->cl.st.ejected);
	json_kv_uint(j, "ejections", sc->cl.st.ejections);
	json_kv_uint(j, "endpoints_total", sc->cl.cfg.total_endpoints);
	json_kv_uint(j, "bytes_sent", sc->bytes_sent);
	json_kv_uint(j, "bytes_received", sc->bytes_received);
	print_endpoints_json(st, sc, j);
	stats_locality_json(st->tally, stats_locality_tally(st->loc_fd, &st->eps[sc->first_ep],
							    sc->n_eps, st->tally), j);
	json_obj_end(j);
}

static void print_json(const struct stats *st, const struct stats_opts *o)
{
	const char *service = NULL;
	struct json j;
	size_t c;

	json_init(&j, stdout, cli.pretty);
	json_obj_begin(&j);
	json_key(&j, "interval_s");
	json_double(&j, o->interval_s);
	json_key(&j, "services");
	json_arr_begin(&j);
	for (c = 0; c < st->n_cls; c++) {
		const struct stats_cluster *sc = &st->cls[c];

		if (o->service && !service_matches(sc->service, o->service))
			continue;
		if (!service || strcmp(service, sc->service)) {
			if (service) {
				json_arr_end(&j);
				json_obj_end(&j);
			}
			service = sc->service;
			json_obj_begin(&j);
			json_kv_str(&j, "service", service);
			json_key(&j, "subsets");
			json_arr_begin(&j);
		}
		print_subset_json(st, sc, o, &j);
	}
	if (service) {
		json_arr_end(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	print_sockmap_json(st, &j);
	json_obj_end(&j);
	json_finish(&j);
}

static int parse_stats_args(int argc, char **argv, struct stats_opts *o)
{
	const char *v;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		if (cli_output_option(argv[i]))
			continue;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "help")) {
			stats_help();
			return 1;
		} else if ((v = cli_option_value(argc, argv, &i, "--bpffs"))) {
			o->bpffs = v;
		} else if ((v = cli_option_value(argc, argv, &i, "--interval"))) {
			errno = 0;
			o->interval_s = strtod(v, &end);
			if (errno || end == v || *end || !(o->interval_s >= 0) ||
			    o->interval_s > 3600) {
				cli_error("--interval: '%s' is not a number of seconds from 0 to 3600",
					  v);
				return -1;
			}
		} else if (argv[i][0] == '-' || o->service) {
			cli_error("unknown or extra argument '%s'", argv[i]);
			return -1;
		} else {
			o->service = argv[i];
		}
	}
	return 0;
}

int do_stats(int argc, char **argv)
{
	struct stats_opts o = { .bpffs = DEFAULT_BPFFS_DIR, .interval_s = 1.0 };
	struct stats st = { .loc_fd = -1 };
	int err = parse_stats_args(argc, argv, &o);

	if (err)
		return err > 0 ? EXIT_OK : EXIT_USAGE;
	err = health_open(&st.hm, o.bpffs);
	if (err) {
		cli_error("cannot open the health maps in %s: %s (is an agent running with "
			  "--bpffs %s?)", o.bpffs, strerror(-err), o.bpffs);
		return EXIT_USAGE;
	}
	st.loc_fd = stats_locality_open(o.bpffs);
	err = stats_read(&st, &o);
	if (!err)
		read_node(&st, &o);
	if (err)
		cli_error("Failed to read the health maps: %s", strerror(-err));
	else if (cli.json)
		print_json(&st, &o);
	else
		print_plain(&st, &o);
	health_close(&st.hm);
	free(st.cls);
	free(st.eps);
	free(st.opened_before);
	free(st.tally);
	if (st.loc_fd >= 0)
		close(st.loc_fd);
	return err ? EXIT_REJECTED : EXIT_OK;
}
