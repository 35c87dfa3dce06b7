/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_K8S_H
#define BPFMESH_K8S_H
/*
 * Kubernetes discovery (issue 16). config.c finds the API server and the
 * credentials (in-cluster service account, or a kubeconfig file); watch.c
 * lists and watches every kind below on one thread with libcurl's multi
 * interface and keeps the last good copy of each object; render.c turns
 * what is held into policy documents (Istio objects as they are, every
 * Service as a ServiceEntry with resolution STATIC, as Istio does) that go
 * through the same parser, checks and compiler as the files; incr.c makes
 * again only what changed objects feed; exec.c runs kubeconfig exec
 * credential plugins.
 *
 * Threads: the watch thread owns the HTTP transfers and writes the stores
 * under k8s->lock; it makes k8s_event_fd() readable after every change.
 * The agent's thread reads the stores (k8s_render*) under the same lock.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Where the API server is and how to authenticate to it. */
struct k8s_config {
	char *server;        /* https://10.96.0.1:443 */
	char *ca_file;       /* CA bundle (PEM file) */
	char *ca_data;       /* CA bundle (PEM text); one of the two, or none */
	size_t ca_len;
	char *token;         /* bearer token */
	char *token_file;    /* re-read before each request: bound tokens rotate */
	char *cert_file, *key_file; /* client certificate */
	char *cert_data, *key_data;
	size_t cert_len, key_len;
	bool insecure;       /* insecure-skip-tls-verify */
	char *source;        /* "in-cluster" or the kubeconfig path, for messages */
	struct k8s_exec *exec; /* users[].user.exec: fills token or cert (exec.c) */
};

/* A kubeconfig exec credential plugin (exec.c has the rules). */
struct k8s_exec {
	char *command, *api_version;
	char **args;
	size_t n_args;
	char **env;          /* "NAME=VALUE" */
	size_t n_env;
	char *dir;           /* the kubeconfig's directory */
	/* the credential in force (in k8s_config's token or cert/key) */
	bool have, expiring;
	time_t expires;      /* CLOCK_REALTIME, when expiring */
	unsigned int runs;   /* times the plugin gave a credential */
};
/* Run the plugin when there is no credential or it expired: 0 (c's token
 * or client certificate is fresh), or -errno with *why naming what failed.
 * No plugin: 0. */
int k8s_exec_refresh(struct k8s_config *c, char *why, size_t why_len);
/* The API server answered 401: the next k8s_exec_refresh runs the plugin. */
void k8s_exec_expire(struct k8s_exec *e);
void k8s_exec_free(struct k8s_exec *e);

/* In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account files
 * under sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * 0, or -errno with *why naming what is missing. */
int k8s_config_in_cluster(struct k8s_config *c, const char *sa_dir, char *why, size_t why_len);
/* A kubeconfig file: its current-context's cluster and user. */
int k8s_config_kubeconfig(struct k8s_config *c, const char *path, char *why, size_t why_len);
void k8s_config_free(struct k8s_config *c);

/* The kinds watched, in the order they are listed. */
enum k8s_kind {
	K8S_NODES,
	K8S_PODS,
	K8S_SERVICES,
	K8S_ENDPOINTSLICES,
	K8S_SERVICEENTRIES,
	K8S_WORKLOADENTRIES,
	K8S_DESTINATIONRULES,
	K8S_VIRTUALSERVICES,
	K8S_N_KINDS,
};

struct k8s_kind_info {
	const char *kind;     /* "Service" */
	const char *group;    /* "" (core), "discovery.k8s.io", "networking.istio.io" */
	const char *versions[3]; /* tried in order; a 404 moves to the next */
	const char *resource; /* "services" */
	bool optional; /* a 403 lists it as empty (below); else the watch waits */
};
extern const struct k8s_kind_info k8s_kinds[K8S_N_KINDS];

/* Health of the connection to the API server, for logs and status. */
#define K8S_ERROR_LEN 384 /* "Kind: server: error (libcurl's detail)" */
struct k8s_health {
	bool synced;            /* every kind listed once since start */
	bool outage;            /* the last request of some kind failed */
	unsigned int failures;  /* consecutive failed requests */
	time_t outage_since;    /* CLOCK_REALTIME seconds; 0 when up */
	char last_error[K8S_ERROR_LEN];
	uint64_t events, relists, resumes; /* counters since start */
	unsigned int forbidden; /* bit (1 << enum k8s_kind): optional kinds the API
				 * server refused with 403, held as empty */
};

struct k8s_watch;

struct k8s_watch_opts {
	const char *node_name;   /* this node (pods on it: workload identity) */
	unsigned int timeout_s;  /* watch timeoutSeconds; 0: 300 */
	unsigned int page_limit; /* list page size; 0: 500 */
	unsigned int backoff_ms; /* first retry after a failure; 0: 500 (doubles to 30 s) */
};

/* Start the watch thread; 0 or -errno. The config is taken over (*c cleared). */
int k8s_watch_start(struct k8s_config *c, const struct k8s_watch_opts *o,
		    struct k8s_watch **out);
void k8s_watch_stop(struct k8s_watch *w); /* accepts NULL */
/* Readable (eventfd) after a change of objects or of health. */
int k8s_event_fd(const struct k8s_watch *w);
/* Clear the event fd; returns the signals since the last drain. */
uint64_t k8s_drain(struct k8s_watch *w);
/* +1 at every change of the objects held (not of health): equal to a
 * rendering's k8s_docs.generation, nothing changed since it. */
uint64_t k8s_generation(struct k8s_watch *w);
void k8s_health(struct k8s_watch *w, struct k8s_health *h);

/* ---- what is held, rendered as policy documents (render.c) ------------- */

struct k8s_docs {
	char **names; /* "k8s:Service/ns/name": the source name diagnostics print */
	char **texts; /* JSON, which is YAML flow syntax: the policy parser reads it */
	size_t *lens;
	size_t n, cap;
	/* The first `borrowed` names and texts are the watch's rendering
	 * (k8s_render), not copies: valid until the next k8s_render or
	 * k8s_watch_stop. k8s_docs_free frees only the others. */
	size_t borrowed;
	uint64_t generation; /* k8s_render: the k8s_generation rendered */
	/* Of the borrowed ones: each one's index in the rendering numbered
	 * prev_seq (-1: not in it), and whether its text is the same as there.
	 * seq numbers this rendering (isolate.h, policy_docs_hint). */
	long *prev;
	bool *same;
	uint64_t seq, prev_seq;
};
void k8s_docs_free(struct k8s_docs *d);

/* What the last k8s_render made again (the others were lent as they were). */
struct k8s_render_stats {
	bool full;       /* everything: the first rendering, or after a failure */
	size_t services; /* Services rendered again */
	size_t objects;  /* Istio objects rendered again */
	size_t docs;     /* documents handed over */
	size_t deferred; /* early renderings: Services without a slice yet, put aside */
	bool more;       /* early renderings: Services with a slice left for the next */
	double ms;       /* the documents' part of k8s_render */
	double prerender_ms; /* everything, made on the watch thread as the first
			      * lists completed (watch.c prerender); 0: not done */
};
void k8s_render_stats(struct k8s_watch *w, struct k8s_render_stats *st);

/* This node's locality and the workloads running on it (from Node and Pods). */
struct k8s_workload {
	char *ns, *name, *service_account, *uid;
	char *cgroup; /* path under the cgroup2 root, "" when not found */
	char *labels; /* "k=v,k=v" in key order */
	char *workload; /* Istio's workload name (k8s_pod_workload_name) */
	char *ip;       /* status.podIP, "" before the sandbox has one */
	struct json_object *label_obj; /* the pod's labels (a reference), or NULL */
};
struct k8s_node_view {
	char *locality; /* region/zone/subzone, NULL if the node has no labels */
	char *labels;   /* the Node's labels, "k=v,k=v" in key order; NULL: no Node */
	struct k8s_workload *workloads;
	size_t n_workloads;
};
void k8s_node_view_free(struct k8s_node_view *v);

/* Everything the watch holds: the documents to compile (appended to docs)
 * and this node's view (cgroup_root: where pod cgroups are looked for). */
int k8s_render(struct k8s_watch *w, const char *cgroup_root, struct k8s_docs *docs,
	       struct k8s_node_view *view);
/* Before every kind is listed (k8s_health.synced false): the documents of
 * what the first lists brought so far, lent like k8s_render's, for the
 * caller to parse while the rest comes (nothing may be applied from them).
 * Services without a slice yet are left out until one comes or the first
 * k8s_render, whose documents are then those a rendering of every list
 * would give. At most budget Services are made (the watch's lock is held
 * meanwhile; k8s_render_stats.more: call again). 0 or -ENOMEM. */
int k8s_render_early(struct k8s_watch *w, size_t budget, struct k8s_docs *docs);

/*
 * Istio's workload name of a pod: its controller's name, a ReplicaSet's
 * with its pod-template-hash stripped (the Deployment), a Job's with a
 * CronJob's schedule suffix stripped; the pod's own name without a
 * controller. Into out (len bytes).
 */
struct json_object;
void k8s_pod_workload_name(struct json_object *pod, char *out, size_t len);

/* Each workload of v whose cgroup was found as a WorkloadEntry document
 * ("k8s:Pod/NS/NAME") that names its identity and is an endpoint of
 * nothing (annotation bpfmesh.io/identity-only). cgroup_prefix: the
 * cgroup_root given to k8s_render, as a path under the cgroup2 mount
 * ("" when it is the mount). 0 or -ENOMEM. */
int k8s_pod_identity_docs(const struct k8s_node_view *v, const char *cgroup_prefix,
			  struct k8s_docs *docs);

/* ---- pure conversion (render.c), unit-tested on recorded objects ------- */

struct json_object;

/* Objects by kind: a JSON object whose values are the objects (keyed by
 * namespace/name), as the watch holds them. NULL: none of that kind. */
struct k8s_objects {
	struct json_object *by_kind[K8S_N_KINDS];
	const char *node_name;
	/* Optional (NULL: none): what the last rendering made of each Service,
	 * replaced by this one's. A Service whose objects (itself, its slices,
	 * the pods and nodes its endpoints named) are the very ones it was made
	 * from is not made again: the watch keeps an object it is sent again
	 * unchanged, and replaces one that changed. */
	struct json_object **cache;
};

int k8s_render_objects(const struct k8s_objects *o, const char *cgroup_root,
		       struct k8s_docs *docs, struct k8s_node_view *view);

#endif /* BPFMESH_K8S_H */
