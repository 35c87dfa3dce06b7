// SPDX-License-Identifier: Apache-2.0
/*
 * DestinationRule loadBalancer end to end, through the agent and a policy
 * file, with real connects from the test cgroup (bpf/lib/lb_algo.h):
 *  - ROUND_ROBIN: strict weighted rotation, exact counts in every window
 *    of one rotation;
 *  - LEAST_REQUEST: an endpoint holding many open connections gets clearly
 *    fewer new ones; `maps services` shows the policy and the open counts;
 *  - consistentHash useSourceIp + maglev: 200 bound source addresses keep
 *    their endpoint; removing one endpoint moves few of the others; unbound
 *    sockets keep one endpoint per caller cgroup;
 *  - PASSTHROUGH: the connection goes to the address asked for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "fixtures.h"
#include "ktest.h"

/* Weights 1, 2 and 3: every window of 6 consecutive connects gives exactly
 * 1, 2 and 3 (the rotation is one per destination across the node). */
KTEST(lb_round_robin_weighted_rotation)
{
	static const char *const eps[] = { "127.1.40.1", "127.1.40.2", "127.1.40.3" };
	static const int w[] = { 1, 2, 3 };
	struct backends be = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192];
	int win, i;

	fixture_one_cluster(yaml, sizeof(yaml), "127.100.40.1", "127.1.40", 3, w, "loadBalancer",
			    "{simple: ROUND_ROBIN}");
	if (!env_start_service(&env, &be, "rr.yaml", yaml, eps, 3))
		goto out;
	for (win = 0; win < 5; win++) {
		if (!ASSERT_OK(client_run(&env, "127.100.40.1", 80, 6, &r), "client"))
			goto out;
		for (i = 0; i < 3; i++)
			ASSERT_EQ(r.per_backend[i], w[i], "one rotation: each endpoint its weight");
	}
	if (!ASSERT_OK(client_run(&env, "127.100.40.1", 80, 600, &r), "client"))
		goto out;
	for (i = 0; i < 3; i++)
		ASSERT_EQ(r.per_backend[i], 100 * w[i], "100 rotations: exact counts");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* A child in the test cgroup that opens n connections to vip:80 and holds
 * them until told (a byte on hold->go), after reporting (a byte on ready). */
struct holder {
	pid_t pid;
	int ready, go;
};

static int holder_start(struct ktest_env *e, const char *vip, int n, struct holder *h)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int ready[2], go[2], i, opened = 0;
	char c = 0;

	if (inet_pton(AF_INET, vip, &sa.sin_addr) != 1 || pipe(ready))
		return -EINVAL;
	if (pipe(go)) {
		close(ready[0]);
		close(ready[1]);
		return -errno;
	}
	h->pid = fork();
	if (h->pid < 0)
		return -errno;
	if (h->pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (join_cgroup(e->cgroup))
			_exit(2);
		for (i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
				opened++;
		}
		c = (char)opened;
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(3);
		_exit(0); /* every held connection closes with the process */
	}
	close(ready[1]);
	close(go[0]);
	h->ready = ready[0];
	h->go = go[1];
	return read(h->ready, &c, 1) == 1 ? (unsigned char)c : -EIO;
}

static void holder_stop(struct holder *h)
{
	int status;

	if (h->pid <= 0)
		return;
	close(h->go);
	close(h->ready);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
}

#define LR_HELD 40
#define LR_NEW 160

/* LEAST_REQUEST, equal weights (Envoy's power of two choices): endpoint 1
 * holds 40 open connections, the other three none; each new connection
 * (closed at once) picks endpoint 1 only when both choices are it, 1/16,
 * against 1/4 for a plain random pick. */
KTEST(lb_least_request_avoids_loaded_endpoint)
{
	static const char *const eps[] = { "127.1.41.1", "127.1.41.2", "127.1.41.3",
					   "127.1.41.4" };
	struct holder h = {};
	struct backends be = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192], out[65536];
	int held;

	/* First endpoint 1 alone takes the held connections... */
	fixture_one_cluster(yaml, sizeof(yaml), "127.100.41.1", "127.1.41", 1, NULL, "loadBalancer",
			    "{simple: LEAST_REQUEST}");
	if (!env_start_service(&env, &be, "lr.yaml", yaml, eps, 4))
		goto out;
	held = holder_start(&env, "127.100.41.1", LR_HELD, &h);
	if (!ASSERT_EQ(held, LR_HELD, "held connections open"))
		goto out;
	/* ...then all four are in the cluster (endpoint 1 keeps its slot and
	 * its open count). */
	fixture_one_cluster(yaml, sizeof(yaml), "127.100.41.1", "127.1.41", 4, NULL, "loadBalancer",
			    "{simple: LEAST_REQUEST}");
	if (!ASSERT_OK(env_write_policy(&env, "lr.yaml", yaml), "four endpoints") ||
	    !ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2"))
		goto out;
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs), 0,
		  "maps services");
	ASSERT_TRUE(json_has_value(out, "lb", "\"LEAST_REQUEST\""), "policy shown");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints -j --bpffs %s", env.bpffs),
		  0, "maps endpoints");
	ASSERT_TRUE(json_has_value(out, "open", "40"), "endpoint 1's open connections shown");
	if (!ASSERT_OK(client_run(&env, "127.100.41.1", 80, LR_NEW, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, LR_NEW, "every connection reached a backend");
	printf("  least request: loaded endpoint got %d of %d new (random: %d)\n",
	       r.per_backend[0], LR_NEW, LR_NEW / 4);
	ASSERT_TRUE(r.per_backend[0] <= LR_NEW / 16 + binomial_bound(LR_NEW, 1.0 / 16),
		    "the loaded endpoint gets about 1/16, not 1/4");
	ASSERT_TRUE(r.per_backend[0] < LR_NEW / 4 - binomial_bound(LR_NEW, 0.25) + 10,
		    "clearly fewer than a random pick would give");
	holder_stop(&h);
	/* Every held connection closed: the count is back to zero. */
	usleep(200 * 1000);
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps endpoints -j --bpffs %s", env.bpffs),
		  0, "maps endpoints");
	ASSERT_TRUE(!json_has_value(out, "open", "40") && json_has_value(out, "open", "0"),
		    "open connections released on close");
out:
	holder_stop(&h);
	backends_stop(&be);
	env_teardown(&env);
}

#define MG_SOURCES 200
#define MG_REPEAT 3
#define MG_CGROUPS 16

/* MG_REPEAT connects to *vip, from *src bound before each (NULL: unbound):
 * the endpoint every one reached, -1 when it changed between connects, -2
 * when a connect failed. */
static int maglev_endpoint(const struct sockaddr_in *vip, const struct sockaddr_in *src)
{
	int k, res = -3;

	for (k = 0; k < MG_REPEAT; k++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		unsigned char id = 0xff;

		if (fd < 0 || (src && bind(fd, (const struct sockaddr *)src, sizeof(*src))) ||
		    connect(fd, (const struct sockaddr *)vip, sizeof(*vip)) || read(fd, &id, 1) != 1)
			res = -2;
		else if (res == -3)
			res = id;
		else if (res != id && res != -2)
			res = -1;
		if (fd >= 0)
			close(fd);
	}
	return res;
}

/* From a child in the test cgroup: for each source address 127.2.i/256.i%256
 * bound before connect, maglev_endpoint() of vip:80. */
static int maglev_map(struct ktest_env *e, const char *vip, int *which)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int pfd[2], status, s;
	pid_t pid;

	if (inet_pton(AF_INET, vip, &sa.sin_addr) != 1 || pipe(pfd))
		return -EINVAL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int res[MG_SOURCES];

		close(pfd[0]);
		if (join_cgroup(e->cgroup))
			_exit(2);
		for (s = 0; s < MG_SOURCES; s++) {
			struct sockaddr_in src = { .sin_family = AF_INET };

			src.sin_addr.s_addr = htonl(0x7f020000u | (unsigned)(s + 1));
			res[s] = maglev_endpoint(&sa, &src);
		}
		_exit(write(pfd[1], res, sizeof(res)) == sizeof(res) ? 0 : 3);
	}
	close(pfd[1]);
	s = read(pfd[0], which, sizeof(int) * MG_SOURCES) == sizeof(int) * MG_SOURCES ? 0 : -EIO;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return s;
}

/* maglev_endpoint() of vip:80 from unbound sockets of a child in cgroup
 * dir, or -4 when the child could not report. */
static int maglev_cgroup_endpoint(const char *dir, const char *vip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int pfd[2], status, res = -4;
	pid_t pid;

	if (inet_pton(AF_INET, vip, &sa.sin_addr) != 1 || pipe(pfd))
		return -4;
	pid = fork();
	if (pid < 0)
		return -4;
	if (pid == 0) {
		close(pfd[0]);
		if (join_cgroup(dir))
			_exit(2);
		res = maglev_endpoint(&sa, NULL);
		_exit(write(pfd[1], &res, sizeof(res)) == sizeof(res) ? 0 : 3);
	}
	close(pfd[1]);
	if (read(pfd[0], &res, sizeof(res)) != sizeof(res))
		res = -4;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return res;
}

/* Five endpoints, Maglev (tableSize 65537): each of 200 bound source
 * addresses lands on one endpoint every time; with endpoint 5 removed,
 * its sources move and the others mostly stay (Maglev's minimal
 * disruption; bound 5% of the others, measured figure printed). */
KTEST(lb_maglev_source_ip_sticky)
{
	static const char *const eps[] = { "127.1.42.1", "127.1.42.2", "127.1.42.3",
					   "127.1.42.4", "127.1.42.5" };
	int before[MG_SOURCES], after[MG_SOURCES], s, on_removed = 0, moved = 0, used[5] = {};
	struct backends be = {};
	struct ktest_env env;
	char yaml[8192], out[65536];
	const char *lb = "{consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}";

	fixture_one_cluster(yaml, sizeof(yaml), "127.100.42.1", "127.1.42", 5, NULL, "loadBalancer",
			    lb);
	if (!env_start_service(&env, &be, "maglev.yaml", yaml, eps, 5))
		goto out;
	if (!ASSERT_OK(maglev_map(&env, "127.100.42.1", before), "clients"))
		goto out;
	for (s = 0; s < MG_SOURCES; s++) {
		if (!ASSERT_TRUE(before[s] >= 0 && before[s] < 5, "same endpoint every connect"))
			goto out;
		used[before[s]]++;
	}
	for (s = 0; s < 5; s++)
		ASSERT_NEAR(used[s], MG_SOURCES / 5, binomial_bound(MG_SOURCES, 0.2),
			    "sources spread over the endpoints");
	ASSERT_EQ(env_run_cli(&env, out, sizeof(out), "maps services -j --bpffs %s", env.bpffs), 0,
		  "maps services");
	ASSERT_TRUE(json_has_value(out, "lb", "\"MAGLEV\""), "policy shown");
	ASSERT_TRUE(json_has_value(out, "table_size", "65537"), "table size shown");

	fixture_one_cluster(yaml, sizeof(yaml), "127.100.42.1", "127.1.42", 4, NULL, "loadBalancer",
			    lb);
	if (!ASSERT_OK(env_write_policy(&env, "maglev.yaml", yaml), "endpoint 5 removed") ||
	    !ASSERT_OK(env_wait_log(&env, "applied generation 2", 1, 5000), "generation 2") ||
	    !ASSERT_OK(maglev_map(&env, "127.100.42.1", after), "clients"))
		goto out;
	for (s = 0; s < MG_SOURCES; s++) {
		if (!ASSERT_TRUE(after[s] >= 0 && after[s] < 4, "same endpoint, never the removed"))
			goto out;
		if (before[s] == 4)
			on_removed++;
		else if (after[s] != before[s])
			moved++;
	}
	printf("  maglev: %d/%d sources moved with endpoint 5 removed (%d were on it, %d others "
	       "moved: %.1f%%)\n", on_removed + moved, MG_SOURCES, on_removed, moved,
	       100.0 * moved / (MG_SOURCES - on_removed));
	ASSERT_TRUE(moved * 20 <= MG_SOURCES - on_removed, "at most 5% of the others moved");
out:
	backends_stop(&be);
	env_teardown(&env);
}

/* consistentHash useSourceIp from unbound sockets: the key is the
 * caller's cgroup (lbpolicy.h bpfmesh_lb_hash_key), which connect4 reads
 * only for a policy that hashes (LB4_HASH_KEY_CALLER). Each of 16 child
 * cgroups keeps its endpoint, and they do not all share one (a key left
 * unresolved would send every caller to the same endpoint). */
KTEST(lb_maglev_unbound_keyed_by_cgroup)
{
	static const char *const eps[] = { "127.1.44.1", "127.1.44.2", "127.1.44.3",
					   "127.1.44.4", "127.1.44.5" };
	char yaml[8192], dirs[MG_CGROUPS][PATH_MAX + 16];
	int c, made = 0, used[5] = {}, distinct = 0;
	struct backends be = {};
	struct ktest_env env;
	const char *lb = "{consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}";

	fixture_one_cluster(yaml, sizeof(yaml), "127.100.44.1", "127.1.44", 5, NULL, "loadBalancer",
			    lb);
	if (!env_start_service(&env, &be, "maglev_cg.yaml", yaml, eps, 5))
		goto out;
	for (made = 0; made < MG_CGROUPS; made++) {
		snprintf(dirs[made], sizeof(dirs[made]), "%s/mg%d", env.cgroup, made);
		if (!ASSERT_OK(mkdir(dirs[made], 0755) ? -errno : 0, "child cgroup"))
			goto out;
	}
	for (c = 0; c < MG_CGROUPS; c++) {
		int id = maglev_cgroup_endpoint(dirs[c], "127.100.44.1");

		if (!ASSERT_TRUE(id >= 0 && id < 5, "same endpoint every connect of a cgroup"))
			goto out;
		distinct += used[id]++ == 0;
	}
	printf("  maglev by cgroup: %d cgroups on %d of 5 endpoints\n", MG_CGROUPS, distinct);
	ASSERT_TRUE(distinct >= 2, "cgroups spread over the endpoints");
out:
	while (made-- > 0)
		rmdir(dirs[made]);
	backends_stop(&be);
	env_teardown(&env);
}

/* PASSTHROUGH: the connect keeps the address the application asked for
 * (a listener on the VIP itself gets it), counted as passed through. */
KTEST(lb_passthrough_keeps_address)
{
	static const char *const vip[] = { "127.100.43.1" };
	struct backends be = {}, direct = {};
	struct ktest_env env;
	struct client_result r;
	char yaml[8192];

	fixture_one_cluster(yaml, sizeof(yaml), "127.100.43.1", "127.1.43", 1, NULL, "loadBalancer",
			    "{simple: PASSTHROUGH}");
	/* No listener on the endpoint: a connect sent there would be refused. */
	if (!env_start_service(&env, &be, "pt.yaml", yaml, NULL, 0) ||
	    !ASSERT_OK(backends_start(&direct, vip, 1, 80), "listener on the VIP"))
		goto out;
	if (!ASSERT_OK(client_run(&env, "127.100.43.1", 80, 20, &r), "client"))
		goto out;
	ASSERT_EQ(r.ok, 20, "every connect reached the address asked for");
	ASSERT_TRUE(strcmp(r.peer, "127.100.43.1:80") == 0, "peer is the VIP");
out:
	backends_stop(&direct);
	backends_stop(&be);
	env_teardown(&env);
}
