// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
/* The endpoint counters continue across the upgrade from the per-CPU _v1
 * map to the shared _v2 one (issue 12, lifecycle; kern/counters_migrate.h):
 * a data plane is left as the previous release left it (its counters pinned
 * as a per-CPU bpfmesh_health4_counters_v1, made here with that layout and
 * known counts), the new agent starts, and the counts are in _v2, in the
 * metrics, and keep growing; the _v1 pin is gone, and uninstall leaves
 * neither name. A second test keeps counting into _v1 while an agent
 * migrates, as the earlier programs do until the links switch, and that
 * agent dies right after the switch: the next one carries every count. A
 * third kills the agent after each step of the migration
 * (BPFMESH_TEST_MIGRATE_STOP, agent/counters_upgrade.h), counts
 * connections through the new programs when the links had switched, and
 * lets the next agent finish: every count of _v1 and every new one is in
 * _v2 once, nothing lost, nothing twice. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include "fixtures.h"
#include "ktest.h"
#include "kern/loader.h"

#define VIP "127.100.60.1"
#define MAX_SLOTS 64 /* the slots looked at: the policy has three endpoints */

static const char *const eps[] = { "127.1.60.1", "127.1.60.2", "127.1.60.3" };
static const char *const metrics_args[] = { "--metrics", "127.0.0.1:0", NULL };

static bool pin_exists(const struct ktest_env *e, const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, name);
	return access(path, F_OK) == 0;
}

/* The endpoint slots the agent assigned (ep_health.cluster_slot != 0). */
static int assigned_slots(const struct ktest_env *e, __u32 *slots, int max)
{
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_EP_HEALTH), n = 0;
	struct ep_health h;
	__u32 s;

	if (fd < 0)
		return fd;
	for (s = 1; s < MAX_SLOTS && n < max; s++)
		if (!bpf_map_lookup_elem(fd, &s, &h) && h.cluster_slot)
			slots[n++] = s;
	close(fd);
	return n;
}

/* What the previous release's map holds for slot on cpu: distinct per
 * field, slot and CPU, and above 2^32 for the byte counts. */
static void v1_value(__u32 slot, int cpu, struct ep_counters *c)
{
	__u64 base = 1000 * (__u64)slot + 10 * (__u64)(cpu + 1);

	*c = (struct ep_counters){ .opened = base + 7, .established = base + 6,
				   .closed = base + 5, .fail_refused = 1, .fail_timeout = 2,
				   .fail_reset = 3, .fail_other = 4, .reset = 5, .aborted = 1,
				   .bytes_sent = (5ULL << 32) + base,
				   .bytes_received = (7ULL << 32) + base };
}

static void v1_sum(__u32 slot, int ncpu, struct ep_counters *sum)
{
	struct ep_counters c;
	size_t f;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for (cpu = 0; cpu < ncpu; cpu++) {
		v1_value(slot, cpu, &c);
		for (f = 0; f < sizeof(c) / sizeof(__u64); f++)
			((__u64 *)sum)[f] += ((__u64 *)&c)[f];
	}
}

/* Leave the bpffs dir as the previous release would: no _v2 pin (the
 * running programs keep their map), a per-CPU _v1 map of the same size
 * with known counts on the assigned slots. 0 or negative errno. */
static int pin_v1_counters(const struct ktest_env *e, const __u32 *slots, int n, int ncpu)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX + 64];
	struct ep_counters *per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_EP_COUNTERS), v1 = -1, err = 0, i, cpu;

	if (!per_cpu || fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -EIO;
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/%s", e->bpffs, BPFMESH_MAP_EP_COUNTERS);
	if (!err && unlink(path))
		err = -errno;
	if (!err)
		v1 = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "health4_counter", sizeof(__u32),
				    sizeof(struct ep_counters), info.max_entries, NULL);
	if (!err && v1 < 0)
		err = v1;
	for (i = 0; !err && i < n; i++) {
		for (cpu = 0; cpu < ncpu; cpu++)
			v1_value(slots[i], cpu, &per_cpu[cpu]);
		err = bpf_map_update_elem(v1, &slots[i], per_cpu, BPF_ANY);
	}
	snprintf(path, sizeof(path), "%s/%s", e->bpffs, BPFMESH_MAP_EP_COUNTERS_V1);
	if (!err)
		err = bpf_obj_pin(v1, path);
	if (v1 >= 0)
		close(v1);
	free(per_cpu);
	return err;
}

static int read_v2(const struct ktest_env *e, __u32 slot, struct ep_counters *out)
{
	int fd = lb_pin_open(e->bpffs, BPFMESH_MAP_EP_COUNTERS), err;
	struct ep_counters_elem v;

	if (fd < 0)
		return fd;
	err = bpf_map_lookup_elem(fd, &slot, &v) ? -errno : 0;
	*out = v.c;
	close(fd);
	return err;
}

static long long scrape_sum(struct ktest_env *e, const char *metric)
{
	static char text[1 << 18];
	int port = env_metrics_port(e);

	if (port <= 0 || env_get_metrics(port, text, sizeof(text)))
		return -1;
	return metrics_sum(text, metric, "destination_service=");
}

/* The previous release's data plane: the service applied by an agent now
 * stopped, its counters in a pinned _v1 with known counts on slots[0..3). */
static bool start_v1_data_plane(struct ktest_env *env, struct backends *be, __u32 *slots)
{
	char yaml[8192];

	fixture_canary(yaml, sizeof(yaml), VIP, "127.1.60", 50, 50);
	if (!env_start_service(env, be, "canary.yaml", yaml, eps, 3))
		return false;
	if (!ASSERT_EQ(assigned_slots(env, slots, 3), 3, "three endpoint slots assigned"))
		return false;
	ASSERT_OK(env_stop_agent(env), "agent stopped, data plane left in force");
	return ASSERT_OK(pin_v1_counters(env, slots, 3, libbpf_num_possible_cpus()),
			 "the _v1 layout pinned");
}

KTEST(counters_upgrade_from_percpu_v1)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	struct ep_counters want, got;
	__u64 opened = 0, received = 0;
	__u32 slots[3];
	int n = 3, i, ncpu = libbpf_num_possible_cpus();

	if (!start_v1_data_plane(&env, &be, slots))
		goto out;
	if (!ASSERT_OK(env_start_agent_args(&env, NULL, metrics_args), "new agent applies") ||
	    !ASSERT_OK(env_wait_log(&env, "migrated:", 1, 30000), "migration done"))
		goto out;
	ASSERT_EQ(env_count_log(&env, "endpoint counters: 3 slots moved from"), 1,
		  "agent logs the carry");
	ASSERT_TRUE(!pin_exists(&env, BPFMESH_MAP_EP_COUNTERS_V1), "_v1 pin removed");
	ASSERT_TRUE(pin_exists(&env, BPFMESH_MAP_EP_COUNTERS), "_v2 pinned");
	for (i = 0; i < n; i++) {
		v1_sum(slots[i], ncpu, &want);
		if (!ASSERT_OK(read_v2(&env, slots[i], &got), "read _v2"))
			goto out;
		ASSERT_OK(memcmp(&got, &want, sizeof(want)), "every counter carried, summed");
		/* Istio's opened: established or aborted, or a failed connect
		 * (user/metrics/prom.c, istio_row_vals). */
		opened += want.established + want.aborted + want.fail_refused + want.fail_timeout +
			  want.fail_reset + want.fail_other;
		received += want.bytes_sent; /* client to server: Istio's received bytes */
	}
	ASSERT_EQ(scrape_sum(&env, "istio_tcp_connections_opened_total"), (long long)opened,
		  "metrics: opened continues from _v1");
	ASSERT_EQ(scrape_sum(&env, "istio_tcp_received_bytes_total"), (long long)received,
		  "metrics: bytes continue from _v1");

	/* The new programs count on top. */
	if (!ASSERT_OK(client_run(&env, VIP, 80, 10, &cr), "client") ||
	    !ASSERT_EQ(cr.ok, 10, "connections"))
		goto out;
	ASSERT_EQ(scrape_sum(&env, "istio_tcp_connections_opened_total"), (long long)opened + 10,
		  "metrics: opened keeps growing");

	ASSERT_OK(env_stop_agent(&env), "agent stopped");
	ASSERT_EQ(env_uninstall(&env), 0, "uninstall");
	ASSERT_TRUE(!pin_exists(&env, BPFMESH_MAP_EP_COUNTERS_V1) &&
		    !pin_exists(&env, BPFMESH_MAP_EP_COUNTERS), "uninstall leaves neither name");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- counts made into _v1 while the agent migrates ---- */

/* Stands in for the earlier programs: adds to slot's opened (CPU 0) in _v1
 * until told to stop. */
struct v1_writer {
	int fd;
	__u32 slot;
	int ncpu;
	volatile bool stop;
	__u64 added; /* opened added, when it stopped */
	int err;
};

static void *v1_writer_run(void *arg)
{
	struct v1_writer *w = arg;
	struct ep_counters *per_cpu = calloc((size_t)w->ncpu, sizeof(*per_cpu));

	if (!per_cpu || bpf_map_lookup_elem(w->fd, &w->slot, per_cpu)) {
		w->err = -EIO;
		free(per_cpu);
		return NULL;
	}
	while (!w->stop && !w->err) {
		per_cpu[0].opened++;
		w->err = bpf_map_update_elem(w->fd, &w->slot, per_cpu, BPF_ANY);
		w->added += !w->err;
	}
	free(per_cpu);
	return NULL;
}

/* The number after `after` on the first log line holding it, or -1. */
static long long log_number(const struct ktest_env *e, const char *after)
{
	char line[1024];
	long long v = -1;
	FILE *f = fopen(e->log, "r");
	const char *at;

	while (f && v < 0 && fgets(line, sizeof(line), f))
		if ((at = strstr(line, after)))
			v = strtoll(at + strlen(after), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* The agent with BPFMESH_TEST_MIGRATE_STOP=step: killed after it. */
static bool agent_killed_after(struct ktest_env *env, const char *step)
{
	char stop[64], line[96];

	snprintf(stop, sizeof(stop), "BPFMESH_TEST_MIGRATE_STOP=%s", step);
	snprintf(line, sizeof(line), "killed after the migration step \"%s\"", step);
	if (!ASSERT_OK(env_spawn_agent(env, stop, NULL), "agent starts") ||
	    !ASSERT_OK(env_wait_log(env, line, 1, 30000), line))
		return false;
	return ASSERT_TRUE(env_stop_agent(env) < 0, "the agent died of its signal");
}

/* The sum of slots' opened in _v2, or -1. */
static long long v2_opened(const struct ktest_env *e, const __u32 *slots, int n)
{
	struct ep_counters got;
	long long sum = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (read_v2(e, slots[i], &got))
			return -1;
		sum += (long long)got.opened;
	}
	return sum;
}

KTEST(counters_upgrade_carries_counts_until_switch)
{
	struct ktest_env env;
	struct backends be = {};
	struct v1_writer w = { .ncpu = libbpf_num_possible_cpus() };
	struct ep_counters want;
	__u64 total = 0;
	long long moved;
	pthread_t t;
	__u32 slots[3];
	int i;

	if (!start_v1_data_plane(&env, &be, slots))
		goto out;
	w.fd = lb_pin_open(env.bpffs, BPFMESH_MAP_EP_COUNTERS_V1);
	w.slot = slots[0];
	if (!ASSERT_TRUE(w.fd >= 0, "open _v1") ||
	    !ASSERT_OK(pthread_create(&t, NULL, v1_writer_run, &w), "writer"))
		goto out;
	/* The earlier programs count until the switch; this agent dies right
	 * after it, before carrying anything. */
	agent_killed_after(&env, "switched");
	w.stop = true;
	pthread_join(t, NULL);
	close(w.fd);
	if (!ASSERT_OK(w.err, "writer counted into _v1"))
		goto out;
	ASSERT_OK(env_start_agent(&env, NULL), "the next agent applies");
	ASSERT_OK(env_wait_log(&env, "migrated:", 1, 30000), "migration done");
	for (i = 0; i < 3; i++) {
		v1_sum(slots[i], w.ncpu, &want);
		total += want.opened;
	}
	moved = log_number(&env, "slots moved from " BPFMESH_MAP_EP_COUNTERS_V1 " into "
				 BPFMESH_MAP_EP_COUNTERS " (");
	printf("counters_upgrade: %llu opened written into _v1 during the migration, %lld moved "
	       "after the switch\n", (unsigned long long)w.added, moved);
	ASSERT_TRUE(w.added > 0, "the writer counted during the migration");
	ASSERT_EQ(moved, (long long)(total + w.added), "the next agent moved all _v1 held");
	ASSERT_EQ(v2_opened(&env, slots, 3), (long long)(total + w.added),
		  "_v2 holds every count once");
	ASSERT_TRUE(!pin_exists(&env, BPFMESH_MAP_EP_COUNTERS_V1), "_v1 pin removed");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* ---- the agent killed between the steps of the migration ---- */

static const char *const steps[] = { "opened", "applied", "switched", "carried", "unlinked" };
#define N_CONNS 10

/* Killed after step (index k); connections through whatever programs the
 * links run; the next agent finishes. Every field of _v1 once in _v2, plus
 * the connections counted by this release's programs. */
static void crash_after(int k)
{
	struct ktest_env env;
	struct backends be = {};
	struct client_result cr;
	struct ep_counters want, got;
	bool switched = k >= 2; /* this release's programs count into _v2 */
	__u64 total = 0;
	__u32 slots[3];
	int i, ncpu = libbpf_num_possible_cpus();

	printf("counters_upgrade_crash: killed after \"%s\"\n", steps[k]);
	if (!start_v1_data_plane(&env, &be, slots) || !agent_killed_after(&env, steps[k]))
		goto out;
	/* Before the switch the earlier release's programs count, into a map
	 * the test left unpinned (in a real upgrade: _v1); not counted here. */
	if (switched && (!ASSERT_OK(client_run(&env, VIP, 80, N_CONNS, &cr), "client") ||
			 !ASSERT_EQ(cr.ok, N_CONNS, "connections")))
		goto out;
	if (!ASSERT_OK(env_start_agent(&env, NULL), "the next agent applies"))
		goto out;
	if (k < 4) /* the _v1 pin still there: the next agent migrates */
		ASSERT_OK(env_wait_log(&env, "migrated:", 1, 30000), "the next agent migrated");
	ASSERT_TRUE(!pin_exists(&env, BPFMESH_MAP_EP_COUNTERS_V1), "_v1 pin removed");
	for (i = 0; i < 3; i++) {
		v1_sum(slots[i], ncpu, &want);
		total += want.opened;
		if (!ASSERT_OK(read_v2(&env, slots[i], &got), "read _v2"))
			goto out;
		/* no connection fails: these are _v1's alone */
		ASSERT_EQ(got.fail_refused + got.fail_timeout + got.fail_reset + got.fail_other,
			  want.fail_refused + want.fail_timeout + want.fail_reset +
			  want.fail_other, "failures: _v1's, once");
		ASSERT_TRUE(got.bytes_sent >= want.bytes_sent &&
			    got.bytes_sent < 2 * want.bytes_sent, "bytes: _v1's, once");
	}
	ASSERT_EQ(v2_opened(&env, slots, 3), (long long)total + (switched ? N_CONNS : 0),
		  "opened: _v1's once, and every new connection");
out:
	backends_stop(&be);
	env_teardown(&env);
}

KTEST(counters_upgrade_crash)
{
	int k;

	for (k = 0; k < (int)(sizeof(steps) / sizeof(steps[0])); k++)
		crash_after(k);
}
