/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_MODEL_H
#define BPFMESH_POLICY_MODEL_H
/*
 * The validated policy model: what the parser keeps from the Istio resources
 * (only what the compiler and the cross-resource checks need). All memory
 * lives in model.arena. Every element remembers where it came from (file,
 * line, column, field path) for diagnostics.
 */
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"

struct src {
	const char *file;
	const char *path; /* field path, e.g. "spec.http[0].route[1]" */
	unsigned int line, col;
};

struct label {
	const char *key, *val;
};

struct labels {
	struct label *v;
	size_t n;
};

struct port_name {
	const char *name;
	uint32_t port;
};

/* Meta shared by all kinds. */
struct resource {
	const char *kind, *name, *ns;
	struct src src; /* the document's start */
	bool sockmap_off; /* annotation bpfmesh.io/sockmap: "off" (issue 13) */
	bool has_created; /* metadata.creationTimestamp given */
	int64_t created;  /* its Unix time, seconds (conflicts: the older wins) */
	const char *cgroup; /* annotation bpfmesh.io/cgroup: a WorkloadEntry's
			     * cgroup under the cgroup2 mount (issue 15), or NULL */
	struct src cgroup_src;
	bool identity_only; /* annotation bpfmesh.io/identity-only: "true": a
			     * WorkloadEntry that names a workload identity and
			     * is an endpoint of nothing (a Pod of this node,
			     * user/k8s/render.c: its endpoints come from
			     * EndpointSlices) */
};

enum port_class {
	PORT_TCP,  /* TCP, TLS, HTTPS, MONGO, REDIS, MYSQL, unset: tcp routes */
	PORT_HTTP, /* HTTP, HTTP2, GRPC, GRPC-Web: http routes */
	PORT_UDP,  /* UDP: sendmsg/recvmsg and connect; tcp routes apply */
};

struct se_port {
	uint32_t number, target_port; /* target_port 0: unset */
	bool number_given, name_given; /* present, even if invalid (reported) */
	const char *name, *protocol;
	enum port_class cls;
	struct src src;
};

/* A ServiceEntry endpoint or a WorkloadEntry spec. */
struct endpoint {
	const char *address;
	struct port_name *ports;
	size_t n_ports;
	struct labels labels;
	const char *locality, *network;
	uint32_t weight; /* 0 (unset) means 1 */
	const char *service_account; /* NULL: unset */
	struct src src;
};

enum se_resolution { RES_NONE, RES_STATIC, RES_DNS, RES_DNS_ROUND_ROBIN };

/* An IP address as the kernel keys it (svc_key, backend_val): network
 * order, IPv4 in a[0] with the rest zero, IPv6 in a[0..3]. An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is kept as the IPv4 address it maps: the
 * kernel handles such a destination as IPv4 (issue 15). */
struct ip_addr {
	uint32_t a[4];
	uint8_t family; /* AF_INET or AF_INET6 */
};

struct se_addr {
	struct ip_addr ip; /* a VIP */
	struct src src;
};

struct service_entry {
	struct resource r;
	const char **hosts;
	struct src *host_src;
	size_t n_hosts;
	struct se_addr *addrs; /* usable VIPs (single addresses), IPv4 and IPv6 */
	size_t n_addrs;
	struct se_port *ports;
	size_t n_ports;
	struct endpoint *eps;
	size_t n_eps;
	bool has_selector;
	struct labels selector;
	enum se_resolution resolution;
	struct src res_src;
	bool has_cidr; /* a CIDR address was given (checked against resolution) */
	struct src cidr_src;
	struct src src; /* spec */
	struct service_entry *next;
};

struct workload_entry {
	struct resource r;
	struct endpoint ep;
	struct workload_entry *next;
};

/* One clause of a route's match list. */
struct vs_match {
	bool has_port;
	uint32_t port;
	bool never; /* holds a field we cannot enforce: treated as not matching */
	/* sourceLabels / sourceNamespace: the caller's workload identity must
	 * have these labels / this namespace (issue 15); a caller of no known
	 * identity matches neither. */
	bool has_source_labels;
	struct labels source_labels;
	const char *source_ns; /* NULL: unset */
};

struct vs_dest {
	const char *host, *subset; /* host as written; subset NULL if unset */
	bool has_port;
	uint32_t port;
	int64_t weight;
	bool has_weight;
	bool reported; /* an error about it was already reported */
	struct src src, weight_src;
};

enum route_kind { ROUTE_HTTP, ROUTE_TCP };

struct vs_route {
	enum route_kind kind;
	struct vs_match *matches;
	size_t n_matches;
	struct vs_dest *dests;
	size_t n_dests;
	bool no_dests_ok; /* redirect/directResponse/delegate: nothing to route here */
	bool has_route;   /* the route field was present */
	struct src src;
};

struct virtual_service {
	struct resource r;
	const char **hosts;     /* resolved (short names expanded) */
	struct src *host_src;
	size_t n_hosts;
	struct vs_route *http, *tcp;
	size_t n_http, n_tcp;
	bool gateways_only; /* gateways set without "mesh": not for mesh traffic */
	bool tls_present;   /* tls routes given (reported unenforced) */
	struct src src; /* spec */
	struct virtual_service *next;
};

/* One outlierDetection block as written, after Istio's validation. The
 * has_* flags keep "unset" apart from 0 where Istio's translation to Envoy
 * does (UInt32Value wrappers, durations); outlier_policy.c applies the
 * defaults. */
struct od_spec {
	bool present;
	bool has_5xx, has_gateway, has_local_origin, has_interval, has_base_ejection;
	uint32_t consecutive_5xx, consecutive_gateway, consecutive_local_origin;
	int32_t consecutive_errors; /* deprecated; Istio only warns about it */
	bool split_local_origin;    /* splitExternalLocalOriginErrors */
	int64_t interval_ns, base_ejection_ns;
	int32_t max_ejection_percent, min_health_percent; /* 0 when unset */
	struct src src; /* the outlierDetection key */
};

/* ---- loadBalancer and connectionPool, as written (traffic_policy.c
 * applies Istio's block replacement and the defaults) ---------------------- */

/* LoadBalancerSettings.SimpleLB, numbered as Istio's proto. */
enum lb_simple {
	LB_UNSPECIFIED, LB_LEAST_CONN, LB_RANDOM, LB_PASSTHROUGH, LB_ROUND_ROBIN,
	LB_LEAST_REQUEST,
};

enum lb_hash_key { HASH_KEY_NONE, HASH_KEY_HEADER, HASH_KEY_COOKIE, HASH_KEY_SOURCE_IP,
		   HASH_KEY_QUERY };
enum lb_hash_algo { HASH_ALGO_UNSET, HASH_ALGO_RING, HASH_ALGO_MAGLEV };

struct locality_weight {
	const char *locality;
	uint32_t weight; /* 1..100 */
};

struct locality_distribute {
	const char *from;
	struct locality_weight *to;
	size_t n_to;
};

struct locality_failover {
	const char *from, *to; /* regions */
};

/* localityLbSetting (validated; kept for the kernel side). */
struct locality_lb {
	bool present;
	bool has_enabled, enabled; /* unset: Istio's mesh default decides */
	struct locality_distribute *distribute;
	size_t n_distribute;
	struct locality_failover *failover;
	size_t n_failover;
	const char **failover_priority;
	size_t n_failover_priority;
	struct src src;
};

struct lb_spec {
	bool present;
	bool has_simple;
	enum lb_simple simple;    /* LB_UNSPECIFIED when unset */
	bool has_hash;            /* consistentHash given */
	enum lb_hash_key hash_key;
	const char *hash_name;    /* header, cookie or query parameter name */
	enum lb_hash_algo algo;
	uint32_t maglev_table_size;  /* 0: unset */
	uint64_t ring_min_size;      /* ringHash.minimumRingSize or the deprecated
				      * consistentHash.minimumRingSize; 0: unset */
	struct locality_lb locality;
	struct src src;
};

struct tcp_keepalive_spec {
	bool present;
	bool has_probes, has_time, has_interval;
	uint32_t probes;
	int64_t time_ns, interval_ns;
};

/* connectionPool.tcp (connectionPool.http is validated, not kept). */
struct cp_spec {
	bool present; /* a connectionPool block */
	bool has_tcp;
	bool has_max_connections, has_connect_timeout, has_max_duration, has_idle_timeout;
	int32_t max_connections;
	int64_t connect_timeout_ns, max_duration_ns, idle_timeout_ns;
	struct tcp_keepalive_spec keepalive;
	struct src src;
};

/* A portLevelSettings entry, reduced to what the data plane uses. */
struct tp_port {
	uint32_t port;
	struct od_spec od; /* od.present false: the entry sets no outlierDetection */
	struct lb_spec lb; /* likewise for loadBalancer and connectionPool */
	struct cp_spec cp;
};

/* What the lint needs from a trafficPolicy (the rest is validated, unenforced). */
struct tp_summary {
	bool present;
	bool has_outlier;
	uint32_t max_ejection_percent; /* default 10 */
	struct src outlier_src;
	struct od_spec od;      /* the policy's own outlierDetection */
	struct tp_port *ports;  /* portLevelSettings with a valid port, in order */
	size_t n_ports;
	struct lb_spec lb;      /* the policy's own loadBalancer */
	struct cp_spec cp;      /* and connectionPool */
};

struct dr_subset {
	const char *name;
	struct labels labels;
	struct tp_summary tp;
	struct src src;
};

struct dest_rule {
	struct resource r;
	const char *host; /* resolved */
	struct src host_src;
	struct dr_subset *subsets;
	size_t n_subsets;
	struct tp_summary tp;
	struct dest_rule *next;
};

/*
 * Node visits allowed in one compile, which bounds what YAML aliases can
 * expand into ("billion laughs"): every node of every document loaded adds
 * one, so a file without aliases never runs out, and aliases may revisit
 * MODEL_ALIAS_VISITS nodes more in the whole compile (not per document:
 * ten documents used to get ten budgets). Label pairs count like any node.
 */
#define MODEL_ALIAS_VISITS 1000000ul

/*
 * Bytes the model of one compile may take. With the nodes-per-document
 * limit (yaml_doc.h), this is what bounds memory for any input: a list of
 * three-byte hosts costs ~80 bytes of model each. A real policy of 10,000
 * services x 10 endpoints takes about 40 MiB.
 */
#define MODEL_MAX_BYTES (256ul << 20)

struct visit_budget {
	unsigned long left;
	bool spent; /* reported once; nothing more is walked */
};

/*
 * One YAML document as the parser met it, in input order, whatever became
 * of it: the agent validates and keeps policy per resource (isolate.h), so
 * it needs each document's identity and its own errors even when the
 * document made no resource (a missing spec) or names nothing.
 */
struct model_doc {
	const char *kind, *ns, *name; /* NULL when not given (or not readable) */
	unsigned int line;            /* where the document starts */
	struct resource *res;         /* NULL: the document made no resource */
	bool ours;                    /* an Istio traffic policy kind */
	size_t errors;                /* errors reported while parsing it */
	size_t first_diag;            /* dl->n when its parse began */
	struct model_doc *next;
};

struct model {
	struct arena arena;
	struct visit_budget visits;
	bool oom_reported; /* the arena's failure was reported where it happened */
	struct service_entry *ses, **ses_tail;
	struct workload_entry *wes, **wes_tail;
	struct virtual_service *vss, **vss_tail;
	struct dest_rule *drs, **drs_tail;
	struct model_doc *docs, **docs_tail;
	bool unreadable; /* a file of it was not YAML (or too deep, too complex):
			  * what was read before the problem is incomplete */
};

void model_init(struct model *m);
void model_free(struct model *m);

/* "checkout" in "production" -> "checkout.production.svc.cluster.local";
 * names with a dot and "*" are kept as they are. */
const char *model_resolve_host(struct arena *a, const char *host, const char *ns);
/* Does a VirtualService/DestinationRule host pattern match a service host? */
bool model_host_matches(const char *pattern, const char *host);
/* Do labels contain every key=value of sel? */
bool model_labels_match(const struct labels *sel, const struct labels *labels);

#endif /* BPFMESH_POLICY_MODEL_H */
