// SPDX-License-Identifier: Apache-2.0
/* connectionPool.tcp in the kernel's terms: the compiled struct connpool_cfg
 * of every cluster (exact bytes, Istio's block replacement and defaults),
 * its limits, the diagnostics for what the kernel does not enforce, and the
 * plan step that writes it (plan_connpool.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "policy_test.h"
#include "apply/plan.h"
#include "policy/connpool_policy.h"

#define SE_HEAD                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: ServiceEntry\n"                                                     \
	"metadata: {name: ka, namespace: default}\n"                               \
	"spec:\n"                                                                  \
	"  hosts: [ka.default.svc.cluster.local]\n"                                \
	"  addresses: [10.0.0.1]\n"                                                \
	"  ports:\n"                                                               \
	"  - {number: 80, name: tcp-a, protocol: TCP}\n"                           \
	"  - {number: 82, name: tcp-c, protocol: TCP}\n"                           \
	"  resolution: STATIC\n"                                                   \
	"  endpoints:\n"                                                           \
	"  - {address: 10.1.0.1, labels: {version: v1}}\n"                         \
	"  - {address: 10.1.0.2, labels: {version: v2}}\n"                         \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: VirtualService\n"                                                   \
	"metadata: {name: ka, namespace: default}\n"                               \
	"spec:\n"                                                                  \
	"  hosts: [ka]\n"                                                          \
	"  tcp:\n"                                                                 \
	"  - route:\n"                                                             \
	"    - {destination: {host: ka, subset: v1}, weight: 50}\n"                \
	"    - {destination: {host: ka, subset: v2}, weight: 50}\n"                \
	"---\n"                                                                    \
	"apiVersion: networking.istio.io/v1\n"                                     \
	"kind: DestinationRule\n"                                                  \
	"metadata: {name: ka, namespace: default}\n"                               \
	"spec:\n"                                                                  \
	"  host: ka\n"

/* The compiled pool of the set named cluster. */
static const struct connpool_cfg *pool_of(const struct ptest *t, const char *cluster)
{
	size_t i;

	for (i = 0; i < t->img.n_sets; i++)
		if (!strcmp(t->img.sets[i].cluster, cluster))
			return &t->img.sets[i].pool;
	fail_msg("no set %s", cluster);
	return NULL;
}

static void assert_pool(const struct ptest *t, const char *cluster,
			const struct connpool_cfg *want)
{
	assert_memory_equal(pool_of(t, cluster), want, sizeof(*want));
}

#define HOUR_NS 3600000000000ull

/* Istio's defaults when no connectionPool applies: no limit, the mesh's
 * 10 s connectTimeout, no keepalive, Envoy's 1 h tcp idle timeout. */
static const struct connpool_cfg defaults = {
	.connect_timeout_ms = 10000,
	.flags = BPFMESH_CONNPOOL_F_IDLE,
	.idle_timeout_ns = HOUR_NS,
};

/* Top level, a subset's own block and a subset's port entry, each winning
 * where Istio says (MergeTrafficPolicy), to the byte. */
static void test_compiled_pool_per_cluster(void **state)
{
	struct connpool_cfg top = { .max_connections = 7,
				    .connect_timeout_ms = 250,
				    .keepalive_time_s = 11,
				    .keepalive_interval_s = 12,
				    .keepalive_probes = 3,
				    .flags = BPFMESH_CONNPOOL_F_LIMIT | BPFMESH_CONNPOOL_F_KEEPALIVE |
					     BPFMESH_CONNPOOL_F_IDLE,
				    .idle_timeout_ns = HOUR_NS };
	struct connpool_cfg sub = defaults, port = defaults;
	struct ptest t;

	ptest_compile(&t, SE_HEAD
		      "  trafficPolicy:\n"
		      "    connectionPool:\n"
		      "      tcp:\n"
		      "        maxConnections: 7\n"
		      "        connectTimeout: 250ms\n"
		      "        tcpKeepalive: {time: 11s, interval: 12s, probes: 3}\n"
		      "  subsets:\n"
		      "  - {name: v1, labels: {version: v1}}\n"
		      "  - name: v2\n"
		      "    labels: {version: v2}\n"
		      "    trafficPolicy:\n"
		      "      connectionPool: {tcp: {tcpKeepalive: {probes: 4}}}\n"
		      "      portLevelSettings:\n"
		      "      - port: {number: 82}\n"
		      "        connectionPool: {tcp: {maxConnections: 1, connectTimeout: 2s}}\n",
		      false);
	assert_int_equal(t.ret, 0);
	assert_pool(&t, "ka.default.svc.cluster.local/v1:80", &top);
	assert_pool(&t, "ka.default.svc.cluster.local/v1:82", &top);
	/* The subset's block replaces the top level's whole: no limit, the
	 * default timeout, keepalive with the kernel's time and interval. */
	sub.flags |= BPFMESH_CONNPOOL_F_KEEPALIVE;
	sub.keepalive_probes = 4;
	assert_pool(&t, "ka.default.svc.cluster.local/v2:80", &sub);
	/* Its port entry replaces both: no keepalive there. */
	port.flags |= BPFMESH_CONNPOOL_F_LIMIT;
	port.max_connections = 1;
	port.connect_timeout_ms = 2000;
	assert_pool(&t, "ka.default.svc.cluster.local/v2:82", &port);
	ptest_free(&t);
}

/* No DestinationRule block: Istio's defaults. */
static void test_defaults_without_block(void **state)
{
	struct connpool_cfg c;

	connpool_effective(NULL, NULL, 80, &c);
	assert_memory_equal(&c, &defaults, sizeof(c));
}

/* What the kernel cannot take is cut to what it can: TCP_USER_TIMEOUT is
 * an int of ms, keepalive times whole seconds up to 32767 (Istio passes
 * Duration.Seconds, so 500ms is 0: the kernel's), TCP_KEEPCNT up to 127;
 * maxConnections 0 is no limit (Istio), idleTimeout 0s is off. */
static void test_kernel_limits(void **state)
{
	struct conn_config cc = { .max_connections = UINT32_MAX,
				  .connect_timeout_ns = 30ull * 24 * HOUR_NS,
				  .keepalive = true,
				  .keepalive_probes = 500,
				  .keepalive_time_ns = 500000000ull,
				  .keepalive_interval_ns = 40000ull * 1000000000ull };
	struct connpool_cfg c;

	connpool_cfg_from(&cc, &c);
	assert_int_equal(c.flags, BPFMESH_CONNPOOL_F_KEEPALIVE);
	assert_int_equal(c.connect_timeout_ms, BPFMESH_CONNPOOL_MAX_TIMEOUT_MS);
	assert_int_equal(c.keepalive_time_s, 0);
	assert_int_equal(c.keepalive_interval_s, 32767);
	assert_int_equal(c.keepalive_probes, 127);
}

/* Istio: maxConnections 0 leaves Envoy's threshold at MaxUint32: no limit;
 * idleTimeout 0s turns the timeout off. */
static void test_zero_means_off(void **state)
{
	struct connpool_cfg want = defaults;
	struct ptest t;

	ptest_compile(&t, SE_HEAD "  trafficPolicy:\n"
		      "    connectionPool: {tcp: {maxConnections: 0, idleTimeout: 0s}}\n"
		      "  subsets: [{name: v1, labels: {version: v1}}]\n", false);
	assert_int_equal(t.ret, 0);
	want.flags = 0;
	want.idle_timeout_ns = 0;
	assert_pool(&t, "ka.default.svc.cluster.local/v1:80", &want);
	ptest_free(&t);
}

/* maxConnections, connectTimeout and tcpKeepalive are enforced on every
 * kernel; the two that need a connection closed from outside only on
 * Linux 6.5+, which the compiler cannot know (reported); .http never. */
static void test_unenforced_fields(void **state)
{
	struct ptest t;

	ptest_compile(&t, SE_HEAD
		      "  trafficPolicy:\n"
		      "    connectionPool:\n"
		      "      tcp:\n"
		      "        maxConnections: 7\n"
		      "        connectTimeout: 250ms\n"
		      "        tcpKeepalive: {time: 11s}\n"
		      "        maxConnectionDuration: 1h\n"
		      "        idleTimeout: 5m\n"
		      "      http: {maxRetries: 3}\n",
		      false);
	assert_int_equal(t.ret, 0);
	assert_diag(&t, DIAG_UNENFORCED, 36, 9,
		    "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration",
		    "not enforced on older kernels");
	assert_diag(&t, DIAG_UNENFORCED, 37, 9, "spec.trafficPolicy.connectionPool.tcp.idleTimeout",
		    "not enforced on older kernels");
	assert_diag(&t, DIAG_UNENFORCED, 38, 7, "spec.trafficPolicy.connectionPool.http",
		    "HTTP requests");
	assert_int_equal(ptest_count(&t, DIAG_UNENFORCED), 3);
	ptest_free(&t);

	ptest_compile(&t, SE_HEAD "  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 0s}}}\n",
		      false);
	assert_int_equal(ptest_count(&t, DIAG_UNENFORCED), 0); /* off: nothing to enforce */
	ptest_free(&t);
}

/* ---- plan_connpool ------------------------------------------------------ */

struct pool_world {
	struct bpfmesh_image img;
	struct image_set sets[2];
	__u32 cluster_slots[2];
	struct apply_state cur;
};

static void world_init(struct pool_world *w)
{
	memset(w, 0, sizeof(*w));
	w->img.sets = w->sets;
	w->img.n_sets = 2;
	w->cluster_slots[0] = 3;
	w->cluster_slots[1] = 1;
	connpool_effective(NULL, NULL, 80, &w->sets[0].pool);
	w->sets[1].pool = w->sets[0].pool;
	w->sets[1].pool.flags |= BPFMESH_CONNPOOL_F_LIMIT;
	w->sets[1].pool.max_connections = 5;
	assert_int_equal(slots_init(&w->cur.slots, 8, 4, 1), 0);
}

/* The plan as plan.c starts it: next holds a copy of the current slots. */
static void plan_pool(struct pool_world *w, struct apply_plan *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(slots_copy(&p->next.slots, &w->cur.slots), 0);
	assert_int_equal(plan_connpool(&w->img, w->cluster_slots, p), 0);
}

static void adopt_next(struct pool_world *w, struct apply_plan *p)
{
	slots_free(&w->cur.slots);
	assert_int_equal(slots_copy(&w->cur.slots, &p->next.slots), 0);
	apply_plan_free(p);
}

/* New configs are written with zeroes to roll back to; the same image
 * again writes nothing; a change writes that slot only, the old config
 * kept for rollback. */
static void test_plan_writes_changes_only(void **state)
{
	struct connpool_cfg old, zero = {};
	struct pool_world w;
	struct apply_plan p;
	const struct map_step *s;

	world_init(&w);
	plan_pool(&w, &p);
	assert_int_equal(p.n_steps, 1);
	s = &p.steps[0];
	assert_int_equal(s->map, APPLY_MAP_CONNPOOL_CFG);
	assert_int_equal(s->n, 2);
	assert_int_equal(((__u32 *)s->keys)[0], 3);
	assert_int_equal(((__u32 *)s->keys)[1], 1);
	assert_memory_equal((struct connpool_cfg *)s->vals + 1, &w.sets[1].pool, sizeof(zero));
	assert_memory_equal((struct connpool_cfg *)s->prev_vals + 1, &zero, sizeof(zero));
	assert_true(s->prev_existed[0] && s->prev_existed[1]); /* arrays: restore, never delete */
	assert_memory_equal(&p.next.slots.cls[1].pool, &w.sets[1].pool, sizeof(zero));
	adopt_next(&w, &p);

	plan_pool(&w, &p);
	assert_int_equal(p.n_steps, 0);
	apply_plan_free(&p);

	old = w.sets[1].pool;
	w.sets[1].pool.max_connections = 6;
	plan_pool(&w, &p);
	assert_int_equal(p.n_steps, 1);
	assert_int_equal(p.steps[0].n, 1);
	assert_int_equal(((__u32 *)p.steps[0].keys)[0], 1);
	assert_memory_equal(p.steps[0].prev_vals, &old, sizeof(old));
	assert_int_equal(((struct connpool_cfg *)p.steps[0].vals)->max_connections, 6);
	apply_plan_free(&p);
	slots_free(&w.cur.slots);
}

/* Health off (no cluster slots): no pool step at all. */
static void test_plan_without_slots(void **state)
{
	struct pool_world w;
	struct apply_plan p;

	world_init(&w);
	slots_free(&w.cur.slots);
	plan_pool(&w, &p);
	assert_int_equal(p.n_steps, 0);
	apply_plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiled_pool_per_cluster),
		cmocka_unit_test(test_defaults_without_block),
		cmocka_unit_test(test_kernel_limits),
		cmocka_unit_test(test_zero_means_off),
		cmocka_unit_test(test_unenforced_fields),
		cmocka_unit_test(test_plan_writes_changes_only),
		cmocka_unit_test(test_plan_without_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
