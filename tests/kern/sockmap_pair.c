// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/sockmap_abi.h>
#include "sockmap_pair.h"

int sm_failures;

void sm_policy(char *buf, size_t len, const char *name, const char *vip, const char *ep,
	       bool sockmap_off)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used,
		 "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata:\n  name: %s\n  namespace: default\n%s"
		 "spec:\n"
		 "  hosts: [%s.default.svc.cluster.local]\n"
		 "  addresses: ['%s']\n"
		 "  ports:\n  - number: 80\n    name: tcp\n    protocol: TCP\n    targetPort: %d\n"
		 "  resolution: STATIC\n"
		 "  endpoints:\n  - address: '%s'\n",
		 name, sockmap_off ? "  annotations:\n    bpfmesh.io/sockmap: \"off\"\n" : "",
		 name, vip,
		 SM_EP_PORT, ep);
}

bool sm_add_ipv6(void)
{
	static const char *const eps[] = { SM_EP6, SM_EP6_OFF };

	if (!netns_only_loopback()) {
		ktest_skip("no private network namespace for fd00:: addresses");
		return false;
	}
	return ASSERT_OK(lo_add_ipv6(eps, 2), "fd00:: addresses on lo");
}

/* ip (IPv4, IPv6 or IPv4-mapped: the socket's family follows) and port. */
static socklen_t sm_addr(struct sockaddr_storage *sa, const char *ip, int port)
{
	return sockaddr_parse(ip, port, sa);
}

int sm_listen(const char *ep)
{
	struct sockaddr_storage sa;
	socklen_t len = sm_addr(&sa, ep, SM_EP_PORT);
	int one = 1, fd;

	if (!len)
		return -EINVAL;
	fd = socket(sa.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int sm_pair_open(int lfd, const char *vip, struct sm_pair *p)
{
	struct sockaddr_storage sa;
	socklen_t len = sm_addr(&sa, vip, 80);

	p->srv = -1;
	p->cli = len ? socket(sa.ss_family, SOCK_STREAM, 0) : -1;
	if (p->cli < 0)
		return len ? -errno : -EINVAL;
	if (connect(p->cli, (struct sockaddr *)&sa, len))
		goto fail;
	p->srv = accept(lfd, NULL, NULL);
	if (p->srv < 0)
		goto fail;
	return 0;
fail:
	close(p->cli);
	p->cli = -1;
	return -errno;
}

void sm_pair_close(struct sm_pair *p)
{
	if (p->cli >= 0)
		close(p->cli);
	if (p->srv >= 0)
		close(p->srv);
	p->cli = p->srv = -1;
}

void sm_fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

uint64_t sm_fnv(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

uint64_t sm_tcp_bytes_acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return UINT64_MAX;
	return ti.tcpi_bytes_acked ? ti.tcpi_bytes_acked - 1 : 0;
}

int sm_run_child(struct ktest_env *e, int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (join_cgroup(e->cgroup))
			_exit(120);
		_exit(fn(arg) ? 1 : (sm_failures ? 2 : 0));
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int sm_map(struct ktest_env *e, const char *name)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", e->bpffs, name);
	return bpf_obj_get(path);
}

static int sm_ncpu(void)
{
	return libbpf_num_possible_cpus();
}

uint64_t sm_stat(struct ktest_env *e, unsigned int idx)
{
	int fd = sm_map(e, BPFMESH_MAP_SOCKMAP_STATS), n = sm_ncpu(), i;
	uint64_t v[1024], sum = 0;

	if (fd < 0 || n <= 0 || n > 1024)
		return UINT64_MAX;
	if (bpf_map_lookup_elem(fd, &idx, v))
		sum = UINT64_MAX;
	else
		for (i = 0; i < n; i++)
			sum += v[i];
	close(fd);
	return sum;
}

/* Keys in the pinned map name (at most 64 bytes each), or negative errno. */
static int sm_map_entries(struct ktest_env *e, const char *name)
{
	unsigned char k[64], next[64];
	int fd = sm_map(e, name), n = 0;
	void *prev = NULL;

	if (fd < 0)
		return -errno;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		memcpy(k, next, sizeof(k));
		prev = k;
	}
	close(fd);
	return n;
}

/* Entries of the IPv4 and the IPv6 map of a pair, or negative errno. */
static int sm_family_entries(struct ktest_env *e, const char *map4, const char *map6)
{
	int n4 = sm_map_entries(e, map4), n6;

	if (n4 < 0)
		return n4;
	n6 = sm_map_entries(e, map6);
	return n6 < 0 ? n6 : n4 + n6;
}

int sm_sockhash_entries(struct ktest_env *e)
{
	return sm_family_entries(e, BPFMESH_MAP_SOCKHASH, BPFMESH_MAP_SOCKHASH6);
}

int sm_pending_entries(struct ktest_env *e)
{
	return sm_family_entries(e, BPFMESH_MAP_SOCKMAP_PENDING, BPFMESH_MAP_SOCKMAP6_PENDING);
}

int sm_listen_entries(struct ktest_env *e)
{
	return sm_map_entries(e, BPFMESH_MAP_SOCKMAP_LISTEN);
}

/* The registry's key of ip:port: IPv4 kept IPv4-mapped. */
static int sm_listen_key(const char *ip, int port, struct sockmap_listen_key *k)
{
	memset(k, 0, sizeof(*k));
	k->port = (__u32)port;
	if (inet_pton(AF_INET, ip, &k->ip6[3]) == 1) {
		k->ip6[2] = htonl(0xffff);
		return 0;
	}
	return inet_pton(AF_INET6, ip, k->ip6) == 1 ? 0 : -EINVAL;
}

int64_t sm_listen_count(struct ktest_env *e, const char *ip, int port)
{
	struct sockmap_listen_key k;
	int fd = sm_map(e, BPFMESH_MAP_SOCKMAP_LISTEN);
	__u64 v;
	int64_t n = -1;

	if (fd < 0 || sm_listen_key(ip, port, &k)) {
		if (fd >= 0)
			close(fd);
		return -2;
	}
	if (!bpf_map_lookup_elem(fd, &k, &v))
		n = (int64_t)v;
	close(fd);
	return n;
}

int sm_listen_set(struct ktest_env *e, const char *ip, int port, int64_t count)
{
	struct sockmap_listen_key k;
	int fd = sm_map(e, BPFMESH_MAP_SOCKMAP_LISTEN), err;
	__u64 v = count < 0 ? 0 : (__u64)count;

	if (fd < 0)
		return -errno;
	err = sm_listen_key(ip, port, &k);
	if (!err)
		err = count < 0 ? bpf_map_delete_elem(fd, &k) : bpf_map_update_elem(fd, &k, &v, 0);
	close(fd);
	return err;
}

int sm_ep_bytes(struct ktest_env *e, uint64_t *sent, uint64_t *received)
{
	int fd = sm_map(e, BPFMESH_MAP_EP_COUNTERS);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), slot;
	struct ep_counters_elem v;

	*sent = *received = 0;
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return -ENOMEM;
	}
	for (slot = 1; slot < info.max_entries && slot < 64; slot++) {
		if (bpf_map_lookup_elem(fd, &slot, &v))
			continue;
		*sent += v.c.bytes_sent;
		*received += v.c.bytes_received;
	}
	close(fd);
	return 0;
}
