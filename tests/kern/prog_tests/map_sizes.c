// SPDX-License-Identifier: Apache-2.0
/* Map sizing (docs/benchmarks.md "mapmem"): every sized map is created at
 * the size its rule gives for the agent's options (user/kern/loader.c,
 * sized_maps), `bpfmesh maps memory` reports what the kernel charges for
 * them, a policy that outgrows the maps is refused naming the limit and
 * the option while the one in force keeps serving and counting, and a
 * restart with the option raised grows the maps with their state
 * (user/kern/map_grow.h). map_sizes_defaults: an agent without size
 * options, every feature on, creates the maps at the defaults
 * (docs/benchmarks.md "mapmem2"), histograms only when asked. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/identity_abi.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/sockmap_abi.h>
#include "fixtures.h"
#include "ktest.h"

#define SZ_VIP "127.100.81.1"
#define SZ_NET "127.1.81"
#define SERVICES 5
#define CLUSTERS 6
#define ENDPOINTS 7

#define GROWN_ENDPOINTS 16
#define BG_CONNS 3000 /* about the agent's restart on the host; longer on TCG */

static const char *const sz_eps[] = { SZ_NET ".1", SZ_NET ".2", SZ_NET ".3", SZ_NET ".4",
				      SZ_NET ".5", SZ_NET ".6", SZ_NET ".7" };

struct size_rule {
	const char *pin;
	__u32 max_entries;
	__u32 value_size; /* 0: not checked */
};

static const struct size_rule rules[] = {
	{ "bpfmesh_lb4_svc_ids_v1", SERVICES, 4 },
	{ "bpfmesh_lb4_svc_heads_v1", SERVICES + 1, 0 }, /* element 0 names no service */
	{ "bpfmesh_lb4_routes_v1", 2 * SERVICES, 0 },    /* each route and its next version */
	{ "bpfmesh_health4_cluster_cfg_v1", CLUSTERS, sizeof(struct cluster_cfg) },
	{ "bpfmesh_health4_clusters_v1", CLUSTERS, sizeof(struct cluster_state) },
	{ "bpfmesh_names_v1", 2 * CLUSTERS, 0 },          /* a host and a cluster each */
	{ "bpfmesh_lb4_policy_v1", CLUSTERS, 0 },
	{ "bpfmesh_lb4_rr_v1", CLUSTERS, 0 },
	{ "bpfmesh_connpool4_cfg_v1", CLUSTERS, 0 },
	{ "bpfmesh_connpool4_open_v1", CLUSTERS, 0 },
	{ "bpfmesh_health4_counters_v2", ENDPOINTS, sizeof(struct ep_counters_elem) },
	{ "bpfmesh_health4_endpoints_v2", ENDPOINTS, sizeof(struct ep_health) },
	{ "bpfmesh_lb4_backends_v1", 4 * ENDPOINTS, 0 },  /* sets and retired sets */
	{ "bpfmesh_lb4_active_v1", ENDPOINTS, 0 },
	{ "bpfmesh_loc4_endpoints_v1", ENDPOINTS, 0 },
	{ "bpfmesh_src_counters_v1", ENDPOINTS, sizeof(struct ep_counters) },
	{ "bpfmesh_identity_cache_v1", BPFMESH_ID_CACHE_SIZE, 0 },
};

static int pin_info(const struct ktest_env *env, const char *pin, struct bpf_map_info *info)
{
	char path[PATH_MAX + 64];
	__u32 len = sizeof(*info);
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", env->bpffs, pin);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return fd;
	memset(info, 0, sizeof(*info));
	err = bpf_obj_get_info_by_fd(fd, info, &len);
	close(fd);
	return err;
}

/* Connections opened on every endpoint slot below n_slots, from the pinned
 * counters. */
static long long opened_total(const struct ktest_env *env, __u32 n_slots)
{
	struct ep_counters_elem v;
	char path[PATH_MAX + 64];
	long long sum = 0;
	__u32 slot;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", env->bpffs, BPFMESH_MAP_EP_COUNTERS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	for (slot = 0; slot < n_slots; slot++)
		if (!bpf_map_lookup_elem(fd, &slot, &v))
			sum += (long long)v.c.opened;
	close(fd);
	return sum;
}

/* Connect latencies counted in the histograms of every cluster slot below
 * n_slots (one sample an established connection). */
static long long hist_connects(const struct ktest_env *env, __u32 n_slots)
{
	struct cluster_hists h;
	char path[PATH_MAX + 64];
	long long sum = 0;
	__u32 slot, i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", env->bpffs, BPFMESH_MAP_EP_HISTS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	for (slot = 0; slot < n_slots; slot++) {
		if (bpf_map_lookup_elem(fd, &slot, &h))
			continue;
		for (i = 0; i < BPFMESH_HIST_BUCKETS; i++)
			sum += (long long)h.connect_us.buckets[i];
	}
	close(fd);
	return sum;
}

/* The sizes of the rules whose max_entries scale with the endpoint slots,
 * at n endpoint slots instead of ENDPOINTS. */
static __u32 at_endpoints(const struct size_rule *r, __u32 n)
{
	if (!strcmp(r->pin, "bpfmesh_identity_cache_v1") || r->max_entries % ENDPOINTS ||
	    !strstr("bpfmesh_health4_counters_v2 bpfmesh_health4_endpoints_v2 "
		    "bpfmesh_lb4_backends_v1 bpfmesh_lb4_active_v1 bpfmesh_loc4_endpoints_v1 "
		    "bpfmesh_src_counters_v1", r->pin))
		return r->max_entries;
	return r->max_entries / ENDPOINTS * n;
}

/* The histograms map: one entry per cluster slot with
 * --cluster-histograms, else only slot 0 (health_abi.h). */
static void check_hists(const struct ktest_env *env, __u32 want)
{
	struct bpf_map_info info;

	if (!ASSERT_OK(pin_info(env, BPFMESH_MAP_EP_HISTS, &info), "histograms pinned"))
		return;
	ASSERT_EQ(info.max_entries, want, "histograms max_entries");
	ASSERT_EQ(info.value_size, sizeof(struct cluster_hists), "histograms value_size");
}

static void check_sizes(const struct ktest_env *env, __u32 n_endpoints)
{
	struct bpf_map_info info;
	char what[128];
	size_t i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		snprintf(what, sizeof(what), "%s pinned", rules[i].pin);
		if (!ASSERT_OK(pin_info(env, rules[i].pin, &info), what))
			continue;
		snprintf(what, sizeof(what), "%s max_entries", rules[i].pin);
		ASSERT_EQ(info.max_entries, at_endpoints(&rules[i], n_endpoints), what);
		if (rules[i].value_size) {
			snprintf(what, sizeof(what), "%s value_size", rules[i].pin);
			ASSERT_EQ(info.value_size, rules[i].value_size, what);
		}
	}
	/* The sweep's map exists where the sweep loads (6.5+): sized alike. */
	if (!pin_info(env, "bpfmesh_connpool4_closed_v1", &info))
		ASSERT_EQ(info.max_entries, CLUSTERS, "connpool closed max_entries");
}

/* `maps memory -j`: a row per map with its memlock, and their sum. */
static void check_memory_view(struct ktest_env *env)
{
	static char out[32768];
	const char *p;
	double total, sum = 0, one;
	int rows = 0;

	if (!ASSERT_EQ(env_run_cli(env, out, sizeof(out), "maps memory -j --bpffs %s",
				   env->bpffs), 0, "maps memory"))
		return;
	total = json_num_after(out, "{", "total_memlock");
	for (p = strstr(out, "\"pin\":"); p; p = strstr(p + 1, "\"pin\":")) {
		one = json_num_after(p, "\"pin\":", "memlock");
		ASSERT_TRUE(one >= 0, "every map has its memlock");
		sum += one;
		rows++;
	}
	ASSERT_TRUE(rows >= (int)(sizeof(rules) / sizeof(rules[0])), "a row per pinned map");
	ASSERT_TRUE(total > 0 && total == sum, "the total is the sum of the rows");
	ASSERT_NEAR(json_num_after(out, "\"pin\":\"bpfmesh_health4_counters_v2\"", "memlock"),
		    (double)ENDPOINTS * sizeof(struct ep_counters_elem), 8192.0,
		    "the counters' charge is their slots times their value");
}

/* The service of SZ_VIP on the first 2 of n_backends listening endpoints,
 * the agent started with args. */
static bool start_two_endpoints(struct ktest_env *env, struct backends *be, int n_backends,
				const char *const *args)
{
	char yaml[8192];

	fixture_one_cluster(yaml, sizeof(yaml), SZ_VIP, SZ_NET, 2, NULL, "loadBalancer",
			    "{simple: ROUND_ROBIN}");
	return ASSERT_OK(env_write_policy(env, "svc.yaml", yaml), "write policy") &&
	       ASSERT_OK(backends_start(be, sz_eps, n_backends, 8080), "backends") &&
	       ASSERT_OK(env_start_agent_args(env, NULL, args), "agent");
}

KTEST(map_sizes)
{
	static const char *const sizes[] = { "--max-services", "5", "--max-clusters", "6",
					     "--max-endpoints", "7", NULL };
	static const char *const grown[] = { "--max-services", "5", "--max-clusters", "6",
					     "--max-endpoints", "16", "--cluster-histograms",
					     NULL };
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	struct client bg;
	char yaml[8192];
	long long before, grown_total;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		return;
	if (!start_two_endpoints(&env, &be, 7, sizes))
		goto out;

	/* Sizes follow the options. */
	check_sizes(&env, ENDPOINTS);
	check_hists(&env, 1);
	check_memory_view(&env);

	/* A policy that outgrows them is refused; the one in force goes on. */
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 4, &cr), "client");
	ASSERT_EQ(cr.ok, 4, "served");
	before = opened_total(&env, ENDPOINTS);
	ASSERT_EQ(before, 4, "counted");
	/* 7 endpoints need 7 slots; 6 are usable (slot 0 is reserved). */
	fixture_one_cluster(yaml, sizeof(yaml), SZ_VIP, SZ_NET, 7, NULL, "loadBalancer",
			    "{simple: ROUND_ROBIN}");
	if (!ASSERT_OK(env_write_policy(&env, "svc.yaml", yaml), "grow the policy") ||
	    !ASSERT_OK(env_wait_log(&env, "raise the agent's --max-endpoints", 1, 30000),
		       "refused, naming the option"))
		goto out;
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 4, &cr), "client");
	ASSERT_EQ(cr.ok, 4, "the policy in force still serves");
	ASSERT_EQ(opened_total(&env, ENDPOINTS), before + 4, "its counters go on");
	check_sizes(&env, ENDPOINTS);

	/* Restarted with more endpoint slots: the maps grow, counts kept, and
	 * the grown policy applies. */
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stopped");
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 2, &cr), "client, no agent");
	ASSERT_EQ(cr.ok, 2, "served without an agent");
	ASSERT_EQ(opened_total(&env, ENDPOINTS), before + 6, "counted without an agent");
	/* Connections throughout the growth: every one served and counted
	 * once, by the earlier programs, carried, or by the new ones. */
	if (!ASSERT_OK(env_spawn_agent(&env, NULL, grown), "agent, raised") ||
	    !ASSERT_OK(client_start(&env, SZ_VIP, 80, BG_CONNS, &bg), "client during growth"))
		goto out;
	ASSERT_OK(env_wait_log(&env, "entries the earlier programs changed meanwhile", 1, 60000),
		  "grown, links switched");
	ASSERT_OK(client_wait(&bg, &cr), "client during growth");
	if (!ASSERT_EQ(cr.ok, BG_CONNS, "all served during the growth")) {
		static char diag[65536];

		env_run_cli(&env, diag, sizeof(diag), "maps stats -j --bpffs %s", env.bpffs);
		printf("  maps stats: %s\n", diag);
	}
	ASSERT_EQ(cr.refused, 0, "none refused during the growth");
	ASSERT_EQ(cr.last_errno, 0, "no error during the growth");
	ASSERT_EQ(env_count_log(&env, "maps grown to the size options: "), 1, "grown once");
	check_sizes(&env, GROWN_ENDPOINTS);
	check_hists(&env, CLUSTERS);
	/* Every count kept, exactly: the counting programs switch before the
	 * placing ones (loader.c, attach_all). */
	grown_total = opened_total(&env, GROWN_ENDPOINTS);
	if (!ASSERT_EQ(grown_total, before + 6 + BG_CONNS, "counts kept")) {
		static char diag[65536];

		env_run_cli(&env, diag, sizeof(diag), "maps stats -j --bpffs %s", env.bpffs);
		printf("  maps stats: %s\n", diag);
	}
	before = hist_connects(&env, CLUSTERS);
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 7, &cr), "client");
	ASSERT_EQ(cr.ok, 7, "the grown policy serves");
	ASSERT_EQ(hist_connects(&env, CLUSTERS), before + 7, "histograms count, once asked");
	for (int i = 0; i < 7; i++)
		ASSERT_EQ(cr.per_backend[i], 1, "round robin over the 7 endpoints");
	ASSERT_EQ(opened_total(&env, GROWN_ENDPOINTS), grown_total + 7, "counted on");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* Does `bpfmesh stats -j` give a connect p50 (from the histograms): 1 yes,
 * 0 no, -1 it gave no cluster's counts at all. */
static int stats_has_p50(struct ktest_env *env)
{
	static char out[16384];

	if (env_run_cli(env, out, sizeof(out), "stats -j --interval 0 --bpffs %s", env->bpffs) ||
	    !strstr(out, "\"opened\""))
		return -1;
	return strstr(out, "\"connect_p50_ms\"") != NULL;
}

/* What this kernel reports for the default maps (6.4+: a hash's buckets and
 * the elements it holds; before: max_entries times key and value). */
static void print_memory(struct ktest_env *env)
{
	static char out[32768];

	if (env_run_cli(env, out, sizeof(out), "maps memory -j --bpffs %s", env->bpffs))
		return;
	printf("  map_sizes_defaults: memlock total %.0f B, services %.0f B, routes %.0f B\n",
	       json_num_after(out, "{", "total_memlock"),
	       json_num_after(out, "\"pin\":\"bpfmesh_lb4_svc_ids_v1\"", "memlock"),
	       json_num_after(out, "\"pin\":\"bpfmesh_lb4_routes_v1\"", "memlock"));
}

/* Defaults: no size option, every feature on (--sockmap, --locality). */
KTEST(map_sizes_defaults)
{
	static const char *const features[] = { "--sockmap", "--locality", "r1/z1/s1", NULL };
	static const char *const hists[] = { "--sockmap", "--locality", "r1/z1/s1",
					     "--cluster-histograms", NULL };
	static const struct size_rule defaults[] = {
		{ "bpfmesh_lb4_svc_ids_v1", BPFMESH_DEFAULT_SERVICES, 4 },
		{ "bpfmesh_lb4_svc_heads_v1", BPFMESH_DEFAULT_SERVICES + 1, 0 },
		{ "bpfmesh_lb4_routes_v1", 2 * BPFMESH_DEFAULT_SERVICES, 0 },
		{ "bpfmesh_health4_cluster_cfg_v1", BPFMESH_MAX_CLUSTERS, 0 },
		{ "bpfmesh_health4_endpoints_v2", BPFMESH_MAX_EP_SLOTS, 0 },
		{ "bpfmesh_sockmap4_pending_v1", BPFMESH_SOCKMAP_MAX_PENDING, 0 },
		{ "bpfmesh_sockmap6_pending_v1", BPFMESH_SOCKMAP_MAX_PENDING, 0 },
		{ "bpfmesh_sockmap4_socks_v1", BPFMESH_SOCKMAP_MAX_SOCKS, 0 },
	};
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	struct bpf_map_info info;
	size_t i;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		return;
	if (!start_two_endpoints(&env, &be, 2, features))
		goto out;
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (!ASSERT_OK(pin_info(&env, defaults[i].pin, &info), defaults[i].pin))
			continue;
		ASSERT_EQ(info.max_entries, defaults[i].max_entries, defaults[i].pin);
	}
	/* The hashes that follow the policy take memory as they fill. */
	if (ASSERT_OK(pin_info(&env, "bpfmesh_lb4_svc_ids_v1", &info), "services pinned"))
		ASSERT_TRUE(info.map_flags & BPF_F_NO_PREALLOC, "services: not preallocated");
	check_hists(&env, 1);
	print_memory(&env);
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 4, &cr), "client");
	ASSERT_EQ(cr.ok, 4, "served without histograms");
	ASSERT_EQ(opened_total(&env, BPFMESH_MAX_EP_SLOTS), 4, "counted without histograms");
	ASSERT_EQ(stats_has_p50(&env), 0, "stats: no p50 without histograms");

	/* --cluster-histograms alone: a histogram for every cluster slot in
	 * force, the other maps as they were, their counts kept. */
	ASSERT_EQ(env_stop_agent(&env), 0, "agent stopped");
	if (!ASSERT_OK(env_start_agent_args(&env, NULL, hists), "agent, histograms"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "maps grown to the size options: "), 1, "grown once");
	check_hists(&env, BPFMESH_MAX_CLUSTERS);
	if (ASSERT_OK(pin_info(&env, "bpfmesh_lb4_svc_ids_v1", &info), "services pinned"))
		ASSERT_EQ(info.max_entries, BPFMESH_DEFAULT_SERVICES, "services not grown");
	ASSERT_OK(client_run(&env, SZ_VIP, 80, 3, &cr), "client");
	ASSERT_EQ(cr.ok, 3, "served with histograms");
	ASSERT_EQ(opened_total(&env, BPFMESH_MAX_EP_SLOTS), 7, "counts kept");
	ASSERT_EQ(hist_connects(&env, BPFMESH_MAX_CLUSTERS), 3, "each connection in a histogram");
	ASSERT_EQ(stats_has_p50(&env), 1, "stats: p50 with histograms");
out:
	backends_stop(&be);
	env_teardown(&env);
}
