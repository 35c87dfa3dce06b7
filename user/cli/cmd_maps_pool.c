// SPDX-License-Identifier: Apache-2.0
/* bpfmesh maps pool: the connection pool of every cluster slot as the
 * kernel holds it (include/bpfmesh/connpool_abi.h): the effective
 * connectionPool.tcp, the connections open against the limit now, the
 * connects refused by it (cluster_state.overflow, Istio UO), and the
 * connections the sweep closed for maxConnectionDuration and idleTimeout
 * (struct connpool_closed; its map exists only where the kernel can close
 * connections from BPF, Linux 6.5+). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpfmesh/connpool_abi.h>
#include "cli.h"
#include "json.h"
#include "kern/health_read.h"
#include "kern/loader.h"
#include "table.h"

struct pool_rows {
	int cfg_fd, open_fd;
	int closed_fd;   /* -1: the sweep never loaded (not enforced) */
	struct json *j;  /* JSON output, or NULL for the table */
	struct table *t;
	size_t n;
};

#define NS_PER_MS 1000000ull

static void fmt_u(char *buf, size_t len, bool set, unsigned long long v, const char *unit)
{
	if (set)
		snprintf(buf, len, "%llu%s", v, unit);
	else
		snprintf(buf, len, "-");
}

/* A duration of whole ms in its largest whole unit: "1h", "90s", "250ms";
 * "-" when not set. */
static void fmt_ms(char *buf, size_t len, bool set, unsigned long long ms)
{
	static const struct {
		unsigned long long ms;
		const char *unit;
	} units[] = { { 3600000, "h" }, { 60000, "m" }, { 1000, "s" } };
	size_t i;

	for (i = 0; set && ms && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			fmt_u(buf, len, true, ms / units[i].ms, units[i].unit);
			return;
		}
	}
	fmt_u(buf, len, set, ms, "ms");
}

/* "11s/12s/3": time, interval, probes; "on" for the kernel's values. */
static void fmt_keepalive(char *buf, size_t len, const struct connpool_cfg *c)
{
	char t[16], i[16], p[16];

	if (!(c->flags & BPFMESH_CONNPOOL_F_KEEPALIVE)) {
		snprintf(buf, len, "-");
		return;
	}
	fmt_u(t, sizeof(t), c->keepalive_time_s, c->keepalive_time_s, "s");
	fmt_u(i, sizeof(i), c->keepalive_interval_s, c->keepalive_interval_s, "s");
	fmt_u(p, sizeof(p), c->keepalive_probes, c->keepalive_probes, "");
	snprintf(buf, len, "%s/%s/%s", t, i, p);
}

static void pool_row_table(struct pool_rows *r, const struct health_cluster *cl,
			   const struct connpool_cfg *c, __u64 open,
			   const struct connpool_closed *closed)
{
	char max[16], nopen[24], over[24], timeout[24], ka[64], dur[24], idle[24];
	char dur_closed[24], idle_closed[24];

	fmt_u(max, sizeof(max), c->flags & BPFMESH_CONNPOOL_F_LIMIT, c->max_connections, "");
	snprintf(nopen, sizeof(nopen), "%llu", (unsigned long long)open);
	snprintf(over, sizeof(over), "%llu", (unsigned long long)cl->st.overflow);
	fmt_ms(timeout, sizeof(timeout), c->connect_timeout_ms, c->connect_timeout_ms);
	fmt_keepalive(ka, sizeof(ka), c);
	fmt_ms(dur, sizeof(dur), c->flags & BPFMESH_CONNPOOL_F_DURATION,
	       c->max_duration_ns / NS_PER_MS);
	fmt_ms(idle, sizeof(idle), c->flags & BPFMESH_CONNPOOL_F_IDLE,
	       c->idle_timeout_ns / NS_PER_MS);
	fmt_u(dur_closed, sizeof(dur_closed), r->closed_fd >= 0, closed->max_duration, "");
	fmt_u(idle_closed, sizeof(idle_closed), r->closed_fd >= 0, closed->idle, "");
	table_add(r->t, (const char *const[]){ cl->name, max, nopen, over, timeout, ka, dur,
					       dur_closed, idle, idle_closed });
}

static void json_opt_uint(struct json *j, const char *key, bool set, unsigned long long v)
{
	json_key(j, key);
	if (set)
		json_uint(j, v);
	else
		json_null(j);
}

static void pool_row_json(const struct pool_rows *r, const struct health_cluster *cl,
			  const struct connpool_cfg *c, __u64 open,
			  const struct connpool_closed *closed)
{
	struct json *j = r->j;
	bool ka = c->flags & BPFMESH_CONNPOOL_F_KEEPALIVE;

	json_obj_begin(j);
	json_kv_str(j, "cluster", cl->name);
	json_kv_uint(j, "slot", cl->slot);
	json_opt_uint(j, "max_connections", c->flags & BPFMESH_CONNPOOL_F_LIMIT,
		      c->max_connections);
	json_kv_uint(j, "open", open);
	json_kv_uint(j, "overflow", cl->st.overflow);
	json_opt_uint(j, "connect_timeout_ms", c->connect_timeout_ms, c->connect_timeout_ms);
	json_key(j, "keepalive");
	json_bool(j, ka);
	json_opt_uint(j, "keepalive_time_s", ka && c->keepalive_time_s, c->keepalive_time_s);
	json_opt_uint(j, "keepalive_interval_s", ka && c->keepalive_interval_s,
		      c->keepalive_interval_s);
	json_opt_uint(j, "keepalive_probes", ka && c->keepalive_probes, c->keepalive_probes);
	json_opt_uint(j, "max_connection_duration_ms", c->flags & BPFMESH_CONNPOOL_F_DURATION,
		      c->max_duration_ns / NS_PER_MS);
	json_opt_uint(j, "idle_timeout_ms", c->flags & BPFMESH_CONNPOOL_F_IDLE,
		      c->idle_timeout_ns / NS_PER_MS);
	/* Envoy's upstream_cx_max_duration_reached and upstream_cx_idle_timeout;
	 * null where the kernel cannot close connections. */
	json_opt_uint(j, "cx_max_duration_reached", r->closed_fd >= 0, closed->max_duration);
	json_opt_uint(j, "idle_timeout", r->closed_fd >= 0, closed->idle);
	json_obj_end(j);
}

static int pool_row(const struct health_cluster *cl, void *ctx)
{
	struct pool_rows *r = ctx;
	struct connpool_cfg c = {};
	struct connpool_open o = {};
	struct connpool_closed closed = {};
	__u32 slot = cl->slot;

	if (bpf_map_lookup_elem(r->cfg_fd, &slot, &c))
		memset(&c, 0, sizeof(c));
	if (bpf_map_lookup_elem(r->open_fd, &slot, &o))
		memset(&o, 0, sizeof(o));
	if (r->closed_fd >= 0 && bpf_map_lookup_elem(r->closed_fd, &slot, &closed))
		memset(&closed, 0, sizeof(closed));
	r->n++;
	if (r->j)
		pool_row_json(r, cl, &c, o.open, &closed);
	else
		pool_row_table(r, cl, &c, o.open, &closed);
	return 0;
}

int maps_show_pool(const char *bpffs_dir)
{
	static const char *const cols[] = { "DESTINATION", ">MAXCONN", ">OPEN", ">OVERFLOW",
					    ">CONNECT", "KEEPALIVE", ">DURATION", ">CLOSED",
					    ">IDLE", ">CLOSED" };
	struct pool_rows r = { .cfg_fd = -1, .open_fd = -1, .closed_fd = -1 };
	int rc = EXIT_USAGE, err;
	struct health_maps hm;
	struct table t;
	struct json j;

	err = health_open(&hm, bpffs_dir);
	if (err) {
		cli_error("cannot open the health maps in %s: %s", bpffs_dir, strerror(-err));
		return EXIT_USAGE;
	}
	r.cfg_fd = open_pinned(BPFMESH_MAP_CONNPOOL_CFG);
	r.open_fd = r.cfg_fd < 0 ? -1 : open_pinned(BPFMESH_MAP_CONNPOOL_OPEN);
	if (r.open_fd < 0)
		goto out;
	/* Silent when absent: the sweep loads on Linux 6.5+ only. */
	r.closed_fd = lb_pin_open(bpffs_dir, BPFMESH_MAP_CONNPOOL_CLOSED);
	if (cli.json) {
		json_init(&j, stdout, cli.pretty);
		r.j = &j;
		json_arr_begin(&j);
	} else {
		table_init(&t, 10, cols);
		r.t = &t;
	}
	health_for_each_cluster(&hm, pool_row, &r);
	if (r.j) {
		json_arr_end(&j);
		json_finish(&j);
	} else {
		table_print(&t);
		printf("%zu %s; KEEPALIVE time/interval/probes (- : the kernel's)\n%s\n", r.n,
		       cli_plural(r.n, "destination", "destinations"),
		       r.closed_fd >= 0 ? "CLOSED: connections closed at the limit left of it" :
					  "DURATION and IDLE are not enforced on this kernel (closing "
					  "connections from BPF needs Linux 6.5+)");
	}
	rc = EXIT_OK;
out:
	if (r.closed_fd >= 0)
		close(r.closed_fd);
	if (r.open_fd >= 0)
		close(r.open_fd);
	if (r.cfg_fd >= 0)
		close(r.cfg_fd);
	health_close(&hm);
	return rc;
}
