// SPDX-License-Identifier: Apache-2.0
/*
 * The incremental compile (policy/isolate.h, compile_incr.h) gives, after
 * every edit, the image a full compile of the same inputs gives, byte for
 * byte (image_bytes.h).
 *
 * Two stores read one directory in lockstep: one commits with its image,
 * so its next compile may be incremental, and chooses by the last choice
 * where it can (isolate.c, choose_kept); the other commits without and
 * chooses in full every time (no_index), so it always compiles in full.
 * Both must make the same choices (last good versions, first sightings,
 * conflicts), give the same image and report the same diagnostics and
 * the same resources applied and rejected. A
 * seeded random sequence of edits runs: weights, subsets, destinations on
 * other services, endpoints added and removed, a resource rejected then
 * fixed, a VIP conflict appearing and disappearing, files deleted and
 * written again, a wildcard DestinationRule (a fallback), a VIP moved
 * from one ServiceEntry to another in one reload, a ServiceEntry made
 * invalid then valid again, a file renamed. The same runs
 * with the files handed over as in-memory documents, as the Kubernetes
 * source hands over its objects.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "apply/plan.h"
#include "image_bytes.h"
#include "policy/isolate.h"

#define N_SVC 12
#define MAX_DESTS 3
#define N_CALLERS 3 /* identity-only WorkloadEntries (bpfmesh.io/cgroup) */

struct dest {
	int svc;    /* destination service */
	int subset; /* 0: none, 1..3: v1..v3 */
	int weight;
};

struct svc_state {
	bool se, dr, vs;
	int vip;       /* index of the VIP it claims (its own: its index) */
	int n_eps;     /* 1..6, versions v1, v2, v3 in turn */
	bool dr_v3;    /* the DestinationRule defines v3 too */
	bool vs_bad;   /* written with a negative weight: rejected */
	bool se_bad;   /* written with port 0: rejected */
	bool se_moved; /* its file renamed: se-NN-moved.yaml */
	bool by_source; /* its VirtualService routes callers app: qa-0 to v2 */
	struct dest dests[MAX_DESTS];
	int n_dests;
};

struct world {
	char dir[64];
	struct svc_state s[N_SVC];
	bool wild_dr;
	bool caller[N_CALLERS]; /* caller-K.yaml written */
	unsigned int seed;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static void put(const struct world *w, const char *name, const char *text)
{
	char path[256], tmp[272];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", w->dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", w->dir, name);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0); /* as an editor or the bench does */
}

static void drop(const struct world *w, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", w->dir, name);
	unlink(path);
}

static void se_name(const struct world *w, int i, char *name, size_t len)
{
	snprintf(name, len, "se-%02d%s.yaml", i, w->s[i].se_moved ? "-moved" : "");
}

static void write_se(const struct world *w, int i)
{
	const struct svc_state *s = &w->s[i];
	char buf[2048], name[32];
	int n, e;

	se_name(w, i, name, sizeof(name));
	if (!s->se) {
		drop(w, name);
		return;
	}
	n = snprintf(buf, sizeof(buf),
		     "apiVersion: networking.istio.io/v1\n"
		     "kind: ServiceEntry\n"
		     "metadata: {name: s%d, namespace: default}\n"
		     "spec:\n"
		     "  hosts: [s%d.default.svc.cluster.local]\n"
		     "  addresses: [127.100.%d.1]\n"
		     "  ports: [{number: %d, name: tcp, protocol: TCP}]\n"
		     "  resolution: STATIC\n"
		     "  endpoints:\n", i, i, s->vip, s->se_bad ? 0 : 80);
	for (e = 0; e < s->n_eps; e++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      "  - {address: 127.1.%d.%d, labels: {version: v%d}, weight: %d}\n",
			      i, e + 1, e % 3 + 1, e + 1);
	put(w, name, buf);
}

static void write_dr(const struct world *w, int i)
{
	const struct svc_state *s = &w->s[i];
	char buf[1024], name[32];

	snprintf(name, sizeof(name), "dr-%02d.yaml", i);
	if (!s->dr) {
		drop(w, name);
		return;
	}
	snprintf(buf, sizeof(buf),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: DestinationRule\n"
		 "metadata: {name: s%d, namespace: default}\n"
		 "spec:\n"
		 "  host: s%d.default.svc.cluster.local\n"
		 "  subsets:\n"
		 "  - {name: v1, labels: {version: v1}}\n"
		 "  - {name: v2, labels: {version: v2}}\n"
		 "%s", i, i, s->dr_v3 ? "  - {name: v3, labels: {version: v3}}\n" : "");
	put(w, name, buf);
}

static void write_vs(const struct world *w, int i)
{
	const struct svc_state *s = &w->s[i];
	char buf[2048], name[32], sub[32];
	int n, d;

	snprintf(name, sizeof(name), "vs-%02d.yaml", i);
	if (!s->vs) {
		drop(w, name);
		return;
	}
	n = snprintf(buf, sizeof(buf),
		     "apiVersion: networking.istio.io/v1\n"
		     "kind: VirtualService\n"
		     "metadata: {name: s%d, namespace: default}\n"
		     "spec:\n"
		     "  hosts: [s%d]\n"
		     "  tcp:\n", i, i);
	if (s->by_source) /* a key of its own for each qa-0 caller */
		n += snprintf(buf + n, sizeof(buf) - n,
			      "  - match: [{sourceLabels: {app: qa-0}}]\n"
			      "    route: [{destination: {host: s%d, subset: v2}}]\n", i);
	n += snprintf(buf + n, sizeof(buf) - n, "  - route:\n");
	for (d = 0; d < s->n_dests; d++) {
		const struct dest *x = &s->dests[d];

		if (x->subset)
			snprintf(sub, sizeof(sub), ", subset: v%d", x->subset);
		else
			sub[0] = '\0';
		n += snprintf(buf + n, sizeof(buf) - n,
			      "    - destination: {host: s%d%s}\n"
			      "      weight: %d\n", x->svc, sub,
			      s->vs_bad && d == 0 ? -5 : x->weight);
	}
	put(w, name, buf);
}

/* A workload identity: a WorkloadEntry with a cgroup and nothing else. */
static void write_caller(const struct world *w, int k)
{
	char buf[512], name[32];

	snprintf(name, sizeof(name), "caller-%d.yaml", k);
	if (!w->caller[k]) {
		drop(w, name);
		return;
	}
	snprintf(buf, sizeof(buf),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: WorkloadEntry\n"
		 "metadata:\n  name: caller%d\n  namespace: default\n"
		 "  annotations: {bpfmesh.io/cgroup: /pods/caller%d}\n"
		 "spec: {address: 198.18.9.%d, labels: {app: qa-%d}}\n", k, k, k + 1, k % 2);
	put(w, name, buf);
}

static void write_wild(const struct world *w)
{
	if (!w->wild_dr) {
		drop(w, "wild.yaml");
		return;
	}
	put(w, "wild.yaml",
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: DestinationRule\n"
	    "metadata: {name: wild, namespace: default}\n"
	    "spec:\n"
	    "  host: \"*.default.svc.cluster.local\"\n"
	    "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n");
}

static int rnd(struct world *w, int n)
{
	return (int)(rand_r(&w->seed) % (unsigned int)n);
}

static void random_dests(struct world *w, int i)
{
	struct svc_state *s = &w->s[i];
	int d;

	s->n_dests = 1 + rnd(w, MAX_DESTS);
	for (d = 0; d < s->n_dests; d++)
		s->dests[d] = (struct dest){ .svc = rnd(w, 3) ? i : rnd(w, N_SVC),
					     .subset = rnd(w, 4), .weight = 1 + rnd(w, 99) };
}

/* One random edit, written to the directory; what it did, for messages. */
static const char *random_edit(struct world *w)
{
	int i = rnd(w, N_SVC), j = rnd(w, N_SVC);
	struct svc_state *s = &w->s[i];

	switch (rnd(w, 15)) {
	case 0: /* a weight */
		s->vs = true;
		s->vs_bad = false;
		s->dests[0].weight = 1 + rnd(w, 99);
		write_vs(w, i);
		return "weight";
	case 1: /* subsets, and destinations on other services */
		s->vs = true;
		s->vs_bad = false;
		random_dests(w, i);
		s->by_source = !s->by_source; /* no draw: the seeds' edits stay */
		write_vs(w, i);
		return "routes";
	case 2: /* endpoints added or removed */
		s->se = true;
		s->n_eps = 1 + rnd(w, 6);
		write_se(w, i);
		return "endpoints";
	case 3: /* rejected (its last good version stays), fixed by a later edit */
		if (!s->vs)
			return "nothing";
		s->vs_bad = true;
		write_vs(w, i);
		return "rejected";
	case 4: /* a VIP conflict appears (the older entry keeps the VIP) */
		s->se = true;
		s->vip = j;
		write_se(w, i);
		return "vip conflict";
	case 5: /* ... and disappears */
		s->se = true;
		s->vip = i;
		write_se(w, i);
		return "vip restored";
	case 6: /* a file deleted, or written again */
		switch (rnd(w, 3)) {
		case 0: s->se = !s->se; write_se(w, i); break;
		case 1: s->dr = !s->dr; write_dr(w, i); break;
		default: s->vs = !s->vs; s->vs_bad = false; write_vs(w, i); break;
		}
		return "file deleted or back";
	case 7: /* a subset defined or not */
		s->dr = true;
		s->dr_v3 = !s->dr_v3;
		write_dr(w, i);
		return "subset v3";
	case 8: /* a wildcard DestinationRule: its reach is every host */
		if (rnd(w, 4))
			return "nothing";
		w->wild_dr = !w->wild_dr;
		write_wild(w);
		return "wildcard";
	case 10: /* an identity comes or goes (compiled in full, counted) */
		if (i % 2) /* no draw: the seeds' edits stay */
			return "nothing";
		w->caller[i % N_CALLERS] = !w->caller[i % N_CALLERS];
		write_caller(w, i % N_CALLERS);
		return "identity";
	case 9: /* two edits in one reload */
		s->dests[0].weight = 1 + rnd(w, 99);
		s->vs = true;
		s->vs_bad = false;
		write_vs(w, i);
		w->s[j].n_eps = 1 + rnd(w, 6);
		w->s[j].se = true;
		write_se(w, j);
		return "two files";
	case 11: /* a VIP moved: i gives its own up, j takes it, one reload */
		if (i == j || !s->se || s->vip != i)
			return "nothing";
		s->vip = N_SVC + i; /* one nobody claims */
		write_se(w, i);
		w->s[j].se = true;
		w->s[j].vip = i;
		write_se(w, j);
		return "vip moved";
	case 12: /* a ServiceEntry rejected (last good stays), or fixed */
		s->se = true;
		s->se_bad = !s->se_bad;
		write_se(w, i);
		return s->se_bad ? "se rejected" : "se fixed";
	case 13: { /* a file renamed, its content the same */
		char from[256], to[256], name[32];

		if (!s->se)
			return "nothing";
		se_name(w, i, name, sizeof(name));
		snprintf(from, sizeof(from), "%s/%s", w->dir, name);
		s->se_moved = !s->se_moved;
		se_name(w, i, name, sizeof(name));
		snprintf(to, sizeof(to), "%s/%s", w->dir, name);
		assert_int_equal(rename(from, to), 0);
		return "renamed";
	}
	default: /* an unchanged file written again (a new inode) */
		if (s->se)
			write_se(w, i);
		return "rewritten";
	}
}

static void world_init(struct world *w, unsigned int seed)
{
	int i;

	memset(w, 0, sizeof(*w));
	w->seed = seed;
	strcpy(w->dir, "/tmp/bpfmesh-incr.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	for (i = 0; i < N_SVC; i++) {
		struct svc_state *s = &w->s[i];

		*s = (struct svc_state){ .se = true, .dr = true, .vs = i % 4 != 3, .vip = i,
					 .n_eps = 3, .by_source = i % 3 == 0 };
		s->n_dests = 2;
		s->dests[0] = (struct dest){ i, 1, 90 };
		s->dests[1] = (struct dest){ i % 5 ? i : (i + 1) % N_SVC, 2, 10 };
		write_se(w, i);
		write_dr(w, i);
		write_vs(w, i);
	}
	for (i = 0; i < N_CALLERS; i++) {
		w->caller[i] = true;
		write_caller(w, i);
	}
}

/* The Kubernetes source's hint (isolate.h, policy_docs_hint), made here
 * from the last documents by name and bytes, with what the source does
 * too: a document made again with the same bytes is not "same", documents
 * after the first n (this node's pods) have no hint, and a rendering no
 * compile read breaks the chain. */
struct hinter {
	struct docs *last;
	uint64_t seq;
	unsigned int rnd;
	size_t hinted, chained; /* documents found by the hint; compiles it applied to */
};

struct lockstep {
	struct policy_store incr, full;
	struct bpfmesh_image in_force; /* the incremental store's committed image */
	size_t incremental, fallbacks, compiles, kept;
	size_t fast; /* incremental images spliced by the fast path */
	size_t with_ids; /* incremental images with identities */
	size_t by_source; /* their keys of one caller identity */
	bool bufs; /* documents in memory (the Kubernetes source), not files */
	/* The applier's state (health and loadBalancer on) as the full plan
	 * of every full image leaves it; plans_incr: how many plans of the
	 * incremental images were incremental (plan_incr.c). */
	struct apply_state applied;
	__u64 now_ms;
	size_t plans_incr, plans_sets; /* ... of which with sets rewritten */
	struct hinter *hint; /* the incremental store gets hints */
	/* Not 0: after each commit, the agent's idle work in random slices
	 * (policy_store_prepare), left unfinished at random; prepared_part:
	 * how many times some of it was left for the next reload. */
	unsigned int prepare_rnd;
	size_t prepared_part;
};

/* The directory's files as in-memory documents, as the Kubernetes source
 * hands them over (one per object, named "k8s:..."), in name order. */
struct docs {
	char *names[4 * N_SVC + 4], *texts[4 * N_SVC + 4];
	size_t lens[4 * N_SVC + 4], n;
};

static int skip_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static void docs_read(struct docs *d, const char *dir)
{
	struct dirent **ents;
	char path[512];
	int n, i;
	FILE *f;

	memset(d, 0, sizeof(*d));
	n = scandir(dir, &ents, skip_dot, alphasort);
	assert_true(n >= 0 && (size_t)n <= sizeof(d->names) / sizeof(d->names[0]));
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_true(asprintf(&d->names[d->n], "k8s:%s", ents[i]->d_name) > 0);
		d->texts[d->n] = calloc(1, 4096);
		assert_non_null(d->texts[d->n]);
		d->lens[d->n] = fread(d->texts[d->n], 1, 4095, f);
		fclose(f);
		d->n++;
		free(ents[i]);
	}
	free(ents);
}

static void docs_free(struct docs *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->names[i]);
		free(d->texts[i]);
	}
}

/* bufs: read dir's files and hand them over as documents, not as a path. */
/* diags: the compile's diagnostics as diag_print prints them (malloc'd). */
/* The report as text, one resource a line. */
static void report_text(const struct policy_report *rep, FILE *f)
{
	size_t i;

	fprintf(f, "applied %zu rejected %zu\n", rep->n_applied, rep->n_rejected);
	for (i = 0; i < rep->n; i++) {
		const struct res_report *r = &rep->v[i];

		fprintf(f, "%s %s/%s %s:%u%s%s %s\n", r->kind, r->ns, r->name, r->file, r->line,
			r->rejected ? " rejected" : "", r->last_good ? " last-good" : "",
			r->diag ? r->diag : "");
	}
}

static long doc_index(const struct docs *d, const char *name)
{
	size_t i;

	for (i = 0; d && i < d->n; i++)
		if (!strcmp(d->names[i], name))
			return (long)i;
	return -1;
}

/* Hand st the hint for d; returns how many documents it describes by a
 * last index, when the store can use it (the chain holds), else 0. */
static size_t hint_give(struct hinter *h, struct policy_store *st, const struct docs *d,
			long *prev, bool *same)
{
	struct policy_docs_hint hint = { .prev = prev, .same = same };
	size_t i, found = 0;
	long j;

	hint.seq = ++h->seq;
	hint.prev_seq = h->seq - 1;
	if (h->seq > 2 && rand_r(&h->rnd) % 12 == 0)
		hint.prev_seq--; /* a rendering in between that no compile read */
	hint.n = d->n - (d->n ? rand_r(&h->rnd) % (d->n < 3 ? d->n + 1 : 3) : 0);
	for (i = 0; i < d->n; i++) {
		j = doc_index(h->last, d->names[i]);
		prev[i] = j;
		same[i] = j >= 0 && h->last->lens[j] == d->lens[i] &&
			  !memcmp(h->last->texts[j], d->texts[i], d->lens[i]) &&
			  rand_r(&h->rnd) % 5 != 0;
		found += i < hint.n && j >= 0;
	}
	policy_store_docs_hint(st, &hint);
	return h->last && hint.prev_seq == h->seq - 1 ? found : 0;
}

static int compile_one(struct policy_store *st, const char *dir, bool bufs, struct hinter *h,
		       struct bpfmesh_image *img, char **diags)
{
	const char *paths[] = { dir };
	struct diag_list dl = { 0 };
	struct policy_report rep;
	struct docs d = { 0 };
	long prev[4 * N_SVC + 4];
	bool same[4 * N_SVC + 4];
	size_t len = 0, want = 0;
	FILE *f;
	int rc;

	if (bufs)
		docs_read(&d, dir);
	if (h)
		want = hint_give(h, st, &d, prev, same);
	rc = policy_store_compile(st, bufs ? NULL : paths, bufs ? 0 : 1,
				  (const char *const *)d.names, (const char *const *)d.texts,
				  d.lens, d.n, &dl, img, &rep);
	if (h) {
		/* The hint was taken exactly when the chain held. */
		assert_int_equal(st->timing.docs_hinted, want);
		h->hinted += want;
		h->chained += want > 0;
		if (h->last)
			docs_free(h->last);
		else
			h->last = malloc(sizeof(*h->last));
		assert_non_null(h->last);
		*h->last = d; /* the next hint's last documents */
		d.n = 0;
	}
	docs_free(&d);
	f = open_memstream(diags, &len);
	assert_non_null(f);
	diag_print(&dl, f);
	report_text(&rep, f);
	fclose(f);
	policy_report_free(&rep);
	diag_free(&dl);
	return rc;
}

/* ---- the applier: an incremental plan writes what the full plan writes ---- */

static void plan_state_init(struct apply_state *s)
{
	memset(s, 0, sizeof(*s));
	s->next_set_id = 1;
	s->next_route_id = 1;
	s->lb_on = true;
	assert_int_equal(slots_init(&s->slots, 2048, 512, 2), 0);
}

#define SAME(a, b, n, what)                                                            \
	do {                                                                           \
		size_t n_ = (n);                                                       \
		if (n_ > 0 && memcmp((a), (b), n_))                                    \
			fail_msg("edit %d: %s differ between the plans", edit, what);  \
	} while (0)

static void steps_same(const struct apply_plan *x, const struct apply_plan *y, int edit)
{
	size_t i;

	if (x->n_steps != y->n_steps)
		fail_msg("edit %d: %zu steps incremental, %zu full", edit, x->n_steps, y->n_steps);
	for (i = 0; i < x->n_steps; i++) {
		const struct map_step *a = &x->steps[i], *b = &y->steps[i];

		if (a->kind != b->kind || a->map != b->map || a->n != b->n ||
		    a->key_size != b->key_size || a->val_size != b->val_size)
			fail_msg("edit %d: step %zu differs (map %d/%d, %zu/%zu elements)", edit,
				 i, a->map, b->map, a->n, b->n);
		SAME(a->keys, b->keys, a->n * a->key_size, "step keys");
		if (a->vals && b->vals)
			SAME(a->vals, b->vals, a->n * a->val_size, "step values");
		if (!a->prev_vals != !b->prev_vals || !a->prev_existed != !b->prev_existed)
			fail_msg("edit %d: step %zu rollback differs", edit, i);
		if (a->prev_vals)
			SAME(a->prev_vals, b->prev_vals, a->n * a->val_size, "rollback values");
		if (a->prev_existed)
			SAME(a->prev_existed, b->prev_existed, a->n, "rollback keys");
	}
}

/* The states alike in all the kernel holds and the next plan reads (a
 * slot's retired_ms means nothing while it is live: not compared then). */
static void states_same(const struct apply_state *a, const struct apply_state *b, int edit)
{
	__u32 i;

	if (a->generation != b->generation || a->next_route_id != b->next_route_id ||
	    a->next_set_id != b->next_set_id || a->n_svcs != b->n_svcs ||
	    a->n_sets != b->n_sets || a->n_names != b->n_names || a->n_retired != b->n_retired ||
	    a->n_retired_routes != b->n_retired_routes ||
	    a->n_retired_indexes != b->n_retired_indexes || a->n_placement != b->n_placement ||
	    a->n_endpoints != b->n_endpoints ||
	    a->route_ids_below_next != b->route_ids_below_next)
		fail_msg("edit %d: the states' counts differ", edit);
	SAME(a->svcs, b->svcs, a->n_svcs * sizeof(*a->svcs), "services");
	SAME(a->names, b->names, a->n_names * sizeof(*a->names), "names");
	SAME(a->retired, b->retired, a->n_retired * sizeof(*a->retired), "retired sets");
	SAME(a->retired_routes, b->retired_routes, a->n_retired_routes * sizeof(__u32),
	     "retired routes");
	SAME(a->retired_indexes, b->retired_indexes, a->n_retired_indexes * sizeof(__u32),
	     "retired indexes");
	SAME(a->placement, b->placement, a->n_placement * sizeof(*a->placement), "placements");
	for (i = 0; i < a->n_sets; i++) {
		const struct live_set *x = &a->sets[i], *y = &b->sets[i];

		if (x->hash != y->hash || x->id != y->id || x->n_slots != y->n_slots ||
		    x->total_weight != y->total_weight || x->table_kind != y->table_kind ||
		    x->table_len != y->table_len)
			fail_msg("edit %d: live set %u differs", edit, i);
		SAME(x->slots, y->slots, x->n_slots * sizeof(*x->slots), "set slots");
	}
	SAME(a->lb_policies, b->lb_policies, a->slots.max_clusters * sizeof(*a->lb_policies),
	     "loadBalancer policies");
	for (i = 0; i < a->slots.max_endpoints; i++) {
		struct ep_owner x = a->slots.eps[i], y = b->slots.eps[i];

		if (x.live)
			x.retired_ms = y.retired_ms;
		SAME(&x, &y, sizeof(x), "endpoint slot owners");
	}
	for (i = 0; i < a->slots.max_clusters; i++) {
		struct cl_owner x = a->slots.cls[i], y = b->slots.cls[i];

		if (x.live)
			x.retired_ms = y.retired_ms;
		SAME(&x, &y, sizeof(x), "cluster slot owners");
	}
}

/* Plan the incremental image a and the full image b over the state the
 * last apply left; both must write the same, and leave the same state.
 * The state then moves on as the full plan leaves it. */
static void plans_same(struct lockstep *ls, const struct bpfmesh_image *a,
		       const struct bpfmesh_image *b, int edit)
{
	struct plan_ejected ej = { 0 };
	struct apply_plan pa, pb;

	ls->now_ms += 300;
	assert_int_equal(apply_plan_build(&ls->applied, b, ls->now_ms, &ej, &pb), 0);
	assert_false(pb.incremental);
	/* The state is the plan of b, byte for byte the image a was spliced
	 * over: the agent would have written that one. */
	assert_int_equal(apply_plan_build(&ls->applied, a, ls->now_ms, &ej, &pa), 0);
	steps_same(&pa, &pb, edit);
	if (getenv("INCR_WHY") && !pa.incremental)
		fprintf(stderr, "plan in full: %s\n", pa.full_why);
	if (pa.incremental) {
		ls->plans_incr++;
		ls->plans_sets += pa.ic.n_removed > 0;
		plan_incr_commit(&ls->applied, &pa);
		/* The token names the image planned: a here, b in pb. */
		pb.next.img_token = a->services;
		states_same(&ls->applied, &pb.next, edit);
	}
	apply_state_free(&ls->applied);
	ls->applied = pb.next;
	ls->applied.img_token = a->services; /* a stays in force (in_force) */
	memset(&pb.next, 0, sizeof(pb.next));
	apply_plan_free(&pa);
	apply_plan_free(&pb);
}

/* What the agent does between two reloads when idle (user/agent/idle.c):
 * the host index in slices, stopped at random as an event would stop it. */
static void prepare_some(struct lockstep *ls)
{
	int calls = rand_r(&ls->prepare_rnd) % 4;
	bool more = true;

	while (calls-- > 0 && more)
		more = policy_store_prepare(&ls->incr, (size_t)(rand_r(&ls->prepare_rnd) % 40 + 1));
	ls->prepared_part += more && calls < 0;
}

/* Compile with both stores, compare, and commit as the agent does. */
static void step(struct lockstep *ls, const char *dir, int n, const char *what)
{
	struct bpfmesh_image a = { 0 }, b = { 0 };
	size_t la = 0, lb = 0;
	char *ba, *bb, *da, *db;
	int ra, rb;

	ra = compile_one(&ls->incr, dir, ls->bufs, ls->hint, &a, &da);
	rb = compile_one(&ls->full, dir, ls->bufs, NULL, &b, &db);
	if (ra != rb)
		fail_msg("edit %d (%s): incremental rc %d, full rc %d", n, what, ra, rb);
	/* The same diagnostics and reports too: the agent logs each once per
	 * change, and reports what is applied and rejected. */
	if (strcmp(da, db)) {
		fprintf(stderr, "--- incremental\n%s--- full\n%s", da, db);
		fail_msg("edit %d (%s, choice %s): diagnostics or reports differ", n, what,
			 ls->incr.timing.choose_kept ? "kept" : "full");
	}
	free(da);
	free(db);
	ls->compiles++;
	if (ra == 0) {
		ls->incremental += ls->incr.timing.incremental;
		ls->kept += ls->incr.timing.choose_kept;
		ls->fast += a.delta && a.delta->fast;
		ls->with_ids += ls->incr.timing.incremental && a.n_identities;
		for (size_t k = 0; k < a.n_services; k++)
			ls->by_source += ls->incr.timing.incremental && a.services[k].key.identity;
		ba = image_bytes(&a, &la);
		bb = image_bytes(&b, &lb);
		assert_non_null(ba);
		assert_non_null(bb);
		if (la != lb || memcmp(ba, bb, la))
			fail_msg("edit %d (%s, %s): images differ (%zu vs %zu bytes)", n, what,
				 ls->incr.timing.incremental ? "incremental" : "full", la, lb);
		free(ba);
		free(bb);
		plans_same(ls, &a, &b, n);
		policy_store_commit_image(&ls->incr, &a);
		bpfmesh_image_free(&ls->in_force);
		ls->in_force = a;
		policy_store_commit(&ls->full);
		if (ls->prepare_rnd)
			prepare_some(ls);
	} else {
		bpfmesh_image_free(&a);
	}
	bpfmesh_image_free(&b);
	ls->fallbacks = ls->incr.timing.fallbacks;
	if (getenv("INCR_WHY") && ls->incr.timing.full_why)
		fprintf(stderr, "why %s (changed %zu)\n", ls->incr.timing.full_why, ls->incr.timing.changed);
}

static void run_seed(unsigned int seed, int edits, bool bufs, struct hinter *hint)
{
	/* Even seeds: the host index is built in part at idle between
	 * reloads; odd ones: at its first use only. */
	struct lockstep ls = { .bufs = bufs, .full = { .no_index = true }, .hint = hint,
			       .prepare_rnd = seed % 2 ? 0 : seed };
	struct world w;
	const char *what;
	int n;

	plan_state_init(&ls.applied);
	world_init(&w, seed);
	step(&ls, w.dir, 0, "start");
	assert_false(ls.incr.timing.incremental); /* nothing in force yet */
	for (n = 1; n <= edits; n++) {
		what = random_edit(&w);
		step(&ls, w.dir, n, what);
	}
	print_message("seed %u%s: %zu compiles, %zu incremental, %zu fallbacks, %zu chosen "
		      "by the last choice, %zu plans incremental (%zu with sets), %zu splices fast, %zu with identities, %zu index builds left in part at idle\n",
		      seed, bufs ? " (documents)" : "", ls.compiles, ls.incremental, ls.fallbacks,
		      ls.kept, ls.plans_incr, ls.plans_sets, ls.fast, ls.with_ids,
		      ls.prepared_part);
	/* A reload after an index built in part finishes it (the same images
	 * as a full compile's, checked at every step). */
	if (ls.prepare_rnd)
		assert_true(ls.prepared_part * 10 > ls.compiles);
	/* Weight, destination and endpoint edits plan only what changed. */
	assert_true(ls.plans_incr * 2 > ls.compiles);
	assert_true(ls.plans_sets * 30 > ls.compiles);
	apply_state_free(&ls.applied);
	/* Most edits reach a few hosts: the incremental path must be taken,
	 * or this test compares a full compile with itself (only a change of
	 * the wildcard DestinationRule falls back here; INCR_WHY=1 says why). */
	assert_true(ls.incremental * 4 > ls.compiles * 3);
	/* Weight, endpoint and policy edits keep every key and cluster: the
	 * splice's fast path (compile_incr.c) takes them, so it is what most
	 * of these comparisons check. */
	assert_true(ls.fast * 2 > ls.compiles);
	/* Identities are in force all along (issue 16): they do not stop it. */
	assert_true(ls.with_ids * 2 > ls.compiles);
	assert_true(ls.by_source > ls.with_ids); /* routes by source among them */
	/* Most edits change clean resources only: the last choice is kept
	 * (conflicts, rejections and what they touch are chosen in full). */
	assert_true(ls.kept * 3 > ls.compiles);
	/* Every other choice after the first was a full one, counted. */
	assert_int_equal(ls.incr.timing.choose_fallbacks + ls.kept + 1, ls.compiles);
	policy_store_free(&ls.incr);
	bpfmesh_image_free(&ls.in_force);
	policy_store_free(&ls.full);
	nftw(w.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_random_edits(void **state)
{
	unsigned int seed;

	(void)state;
	for (seed = 1; seed <= 6; seed++)
		run_seed(seed, 120, false, NULL);
}

/* The same with the Kubernetes source's in-memory documents: an object
 * rendered again with the same bytes is no change. */
static void test_random_edits_documents(void **state)
{
	(void)state;
	run_seed(7, 120, true, NULL);
	run_seed(8, 120, true, NULL);
}

/* The same with the source's hint of what changed since the last
 * rendering (the store then finds documents by position, not by name):
 * the same choices, images, diagnostics and reports as a store without. */
static void test_random_edits_hinted(void **state)
{
	struct hinter h;
	unsigned int seed;

	(void)state;
	for (seed = 9; seed <= 11; seed++) {
		h = (struct hinter){ .rnd = seed };
		run_seed(seed, 120, true, &h);
		print_message("seed %u: %zu documents found by the hint in %zu compiles\n", seed,
			      h.hinted, h.chained);
		assert_true(h.chained > 90); /* most compiles took the hint */
		if (h.last)
			docs_free(h.last);
		free(h.last);
	}
}

/* A weight change recompiles only its host; the others' sets are lent
 * by the image in force, not copied. */
static void test_weight_change_reach(void **state)
{
	struct lockstep ls = { .full = { .no_index = true } };
	struct world w;
	size_t i, lent = 0;

	(void)state;
	plan_state_init(&ls.applied);
	world_init(&w, 99);
	/* Files changed less than 100 ms before a read are read again at the
	 * next (isolate.c, RACY_NS): let them settle, so only the edit counts. */
	usleep(150 * 1000);
	step(&ls, w.dir, 0, "start");
	w.s[0].dests[0].weight = 75;
	write_vs(&w, 0);
	step(&ls, w.dir, 1, "weight");
	assert_true(ls.incr.timing.incremental);
	assert_true(ls.incr.timing.choose_kept); /* nothing walked every resource */
	assert_int_equal(ls.incr.timing.changed, 1);
	assert_int_equal(ls.incr.timing.hosts, 1);
	assert_int_equal(ls.fast, 1);
	for (i = 0; i < ls.in_force.n_sets; i++)
		lent += !ls.in_force.sets[i].borrowed;
	assert_true(lent == ls.in_force.n_sets); /* committed: it owns them all */
	assert_int_equal(ls.plans_incr, 1); /* and the applier planned one service */
	apply_state_free(&ls.applied);
	policy_store_free(&ls.incr);
	bpfmesh_image_free(&ls.in_force);
	policy_store_free(&ls.full);
	nftw(w.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The host index built at idle (policy_store_prepare), in slices, once
 * the choice is in force: then the weight change takes it as it is. */
static void test_prepare_at_idle(void **state)
{
	struct lockstep ls = { .full = { .no_index = true } };
	struct world w;

	(void)state;
	plan_state_init(&ls.applied);
	world_init(&w, 98);
	usleep(150 * 1000); /* settled files: only the edit counts (RACY_NS) */
	/* Nothing in force: nothing to build. */
	assert_false(policy_store_prepare(&ls.incr, SIZE_MAX));
	step(&ls, w.dir, 0, "start");
	assert_true(policy_store_prepare(&ls.incr, 1)); /* one resource: more to do */
	assert_true(policy_store_prepare(&ls.incr, 2));
	assert_false(policy_store_prepare(&ls.incr, SIZE_MAX)); /* the rest */
	assert_false(policy_store_prepare(&ls.incr, SIZE_MAX)); /* built: nothing */
	w.s[0].dests[0].weight = 75;
	write_vs(&w, 0);
	step(&ls, w.dir, 1, "weight");
	assert_true(ls.incr.timing.choose_kept);
	assert_true(ls.incr.timing.incremental);
	assert_int_equal(ls.incr.timing.hosts, 1);
	/* Kept choice: the index was updated, not dropped. */
	assert_false(policy_store_prepare(&ls.incr, SIZE_MAX));
	/* Compiled but not applied: the choice is not in force, not built. */
	w.s[0].dests[0].weight = 60;
	write_vs(&w, 0);
	{
		struct bpfmesh_image img;
		char *diags;

		assert_int_equal(compile_one(&ls.incr, w.dir, false, NULL, &img, &diags), 0);
		free(diags);
		bpfmesh_image_free(&img);
	}
	assert_false(policy_store_prepare(&ls.incr, SIZE_MAX));
	apply_state_free(&ls.applied);
	policy_store_free(&ls.incr);
	bpfmesh_image_free(&ls.in_force);
	policy_store_free(&ls.full);
	nftw(w.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_edits),
		cmocka_unit_test(test_random_edits_documents),
		cmocka_unit_test(test_random_edits_hinted),
		cmocka_unit_test(test_weight_change_reach),
		cmocka_unit_test(test_prepare_at_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
