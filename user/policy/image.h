/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_IMAGE_H
#define BPFMESH_IMAGE_H
/*
 * The compiled image: every key and value the kernel maps will hold for one
 * policy version, built with no kernel involved. Same input, same bytes:
 * services are sorted by key, sets and names are numbered in the order the
 * sorted services first use them.
 *
 * Set ids inside an image are image-local (index into sets[]), and so are
 * name ids (1..n_names, names[id - 1]); the applier maps them onto kernel
 * set ids and kernel name ids when it writes the image.
 */
#include <stdbool.h>
#include <stddef.h>
#include <bpfmesh/connpool_abi.h>
#include <bpfmesh/health_abi.h>
#include <bpfmesh/lb_abi.h>
#include <bpfmesh/lbpolicy_abi.h>
#include "locality.h"

struct image_service {
	struct svc_key key;
	struct svc_val val; /* dests[].set_id: index into image.sets */
	unsigned int src_line; /* where the service was declared, for messages */
	const char *src_file;
};

/* Istio's workload labels of one endpoint of a set (metrics/workload.h),
 * for the metrics: NULL means "unknown". Strings owned by the image. */
struct image_ep_meta {
	char *workload, *workload_ns, *app, *version;
	char *canonical_service, *canonical_revision;
	/* Locality (issue 11): "region/zone/subzone" (NULL: none), and the
	 * endpoint's value of each of its set's loc.fp_keys (NULL: absent). */
	char *locality;
	char **fp_values;
};

/* A cluster's localityLbSetting as it applies (Istio's mesh default and
 * the outlierDetection rule already decided; locality.h), strings owned by
 * the image. The agent turns it into priorities and effective weights for
 * its node (user/apply/plan_locality.c). */
struct image_locality {
	struct loc_setting s; /* arrays below; the plan sets min_health_percent */
	struct loc_failover *failover;
	char **fp_keys, **fp_override;
	struct loc_distribute *distribute;
};

/* An immutable group of endpoints one destination sends to: the endpoints
 * of one cluster (Envoy's word: host + subset + port). The applier gives
 * the cluster its slot and each endpoint its slot (slots[].slot is 0 here). */
struct image_set {
	__u32 n_slots;
	__u32 total_weight;
	__u8 family;               /* of every endpoint in it: AF_INET or AF_INET6 */
	struct backend_val *slots; /* n_slots entries, alias columns built */
	char cluster[BPFMESH_NAME_LEN]; /* "host/subset:port" or "host:port" (cut to fit) */
	struct cluster_cfg cfg; /* effective outlierDetection, name_id, total_endpoints */
	struct lb_policy lb;    /* effective loadBalancer (plan_lbpolicy.c completes it) */
	/* The set's lookup table (lbpolicy_abi.h), part of its identity:
	 * kind 0 none, else BPFMESH_LB_ROUND_ROBIN or BPFMESH_LB_MAGLEV; set by
	 * the applier (plan_lb_tables_spec), 0 in a compiled image. */
	__u32 table_kind, table_len;
	struct connpool_cfg pool; /* effective connectionPool.tcp */
	/* For the metrics' labels, owned by the image: the service host, its
	 * namespace, the subset (NULL: none), the service port, and one
	 * image_ep_meta per slot, in slot order (NULL when n_slots is 0). */
	char *host, *ns, *subset;
	__u32 port;
	struct image_ep_meta *meta;
	struct image_locality loc; /* loc.s.mode LOC_MODE_NONE: no locality */
	/* Lent by the image in force (an incremental compile, compile_incr.h):
	 * its pointers belong to that image, which frees them. */
	bool borrowed;
};

struct image_name {
	__u32 id; /* image-local: names[id - 1] */
	struct name_val val;
};

/* A workload identity (identity_abi.h): a WorkloadEntry with the
 * bpfmesh.io/cgroup annotation. Strings owned by the image. */
struct image_identity {
	__u32 id;     /* svc_key.identity, the identities map's value: 1..n in
		       * a compiled image, the stable ids once the agent gave
		       * them (user/agent/identity_ids.c) */
	char *cgroup; /* path under the cgroup2 mount, as annotated */
	char *name, *ns;
	/* Istio's source_* labels (metrics/workload.h); NULL: unknown. */
	char *workload, *app, *version, *canonical_service, *canonical_revision;
};

/*
 * What an incremental compile changed (compile_incr.h), for the applier's
 * plan of only that (user/apply/plan_incr.c). NULL in a full compile.
 */
struct image_delta {
	/* The image this one was spliced over, by its services array: the
	 * applier plans only the change when that is the image it wrote last. */
	const void *base_token;
	size_t base_n_services, base_n_sets, base_n_names;
	/* The services that came from the recompiled hosts, indexes into
	 * services[], ascending (their keys sorted). */
	size_t *changed;
	size_t n_changed;
	/* Per set: the set of the base image with the same cluster and the
	 * same content (lent, or recompiled identical), or -1. */
	long *base_set;
	/* Per set: the base set of the same cluster, its content changed or
	 * not (base_set), or -1 for a cluster the base image did not have. */
	long *base_cluster;
	/* Every set is a base set unchanged, one for one, and no name was
	 * added or lost: only routes can differ. */
	bool sets_same;
	/* Every set is a base set's cluster, one for one, some with new
	 * content, and no name was added or lost. */
	bool clusters_same;
	/* Spliced by the fast path (compile_incr.c): base's numbering kept. */
	bool fast;
};

struct bpfmesh_image {
	size_t n_services;
	struct image_service *services;
	size_t n_sets;
	struct image_set *sets;
	size_t n_names;
	struct image_name *names; /* in id order */
	char *strtab; /* owns the strings services[].src_file point to */
	size_t n_identities;
	struct image_identity *identities; /* in id order */
	struct image_delta *delta; /* owned; NULL: compiled in full */
};

void bpfmesh_image_free(struct bpfmesh_image *img);
void image_delta_free(struct image_delta *d);

/* Do two sets (of two images) hold the same endpoints, policies, labels
 * and locality, so that the applier writes them alike? Their name ids are
 * image-local and not compared; their cluster names are. */
bool image_set_same(const struct image_set *a, const struct image_set *b);

#endif /* BPFMESH_IMAGE_H */
