// SPDX-License-Identifier: Apache-2.0
/* Splicing a partial compile into the image in force (see compile_incr.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "compile.h"
#include "compile_incr.h"

static int cmp_service_key(const void *key, const void *svc)
{
	return memcmp(key, &((const struct image_service *)svc)->key, sizeof(struct svc_key));
}

struct splice {
	const struct bpfmesh_image *base;
	struct bpfmesh_image *sub, *out;
	long *from_base;
	struct hmap names;   /* name text -> id (keys: out->names[].val.name) */
	struct hmap sets;    /* cluster name (in base's or sub's names) -> index into out->sets */
	long *base_idx, *sub_idx; /* index in out of each set of base, of sub; -1: none yet */
	size_t *changed;     /* out services from sub (image_delta.changed) */
	size_t n_changed;
	const char *why;
};

/* A name as the image holds it, or NULL when it may have been cut to fit
 * the names map (two long names could then look alike: not spliced). */
static const char *image_name_text(const struct bpfmesh_image *img, __u32 id)
{
	const char *s;

	if (id == 0 || id > img->n_names)
		return NULL;
	s = img->names[id - 1].val.name;
	return strnlen(s, BPFMESH_NAME_LEN) < BPFMESH_NAME_LEN - 1 ? s : NULL;
}

/* The id of a name in out, adding it at first use as cname_add does. */
static __u32 splice_name(struct splice *sp, const struct image_name *from)
{
	struct image_name *n = &sp->out->names[sp->out->n_names];
	size_t id;
	bool added;

	if (hmap_get_str(&sp->names, from->val.name, &id))
		return (__u32)id;
	*n = *from;
	n->id = (__u32)++sp->out->n_names;
	if (!hmap_put_str(&sp->names, n->val.name, n->id, &added))
		return 0;
	return n->id;
}

/* The index in out of set_id of src, moving or lending it at first use;
 * -1 when it cannot be spliced (sp->why) or on ENOMEM. A set is known by
 * its cluster name (names are unique per set: "|ipv6" tells a dual-stack
 * service's IPv6 set apart), the key pointing into src's names. */
static long splice_set(struct splice *sp, const struct bpfmesh_image *src, __u32 set_id)
{
	long *seen = src == sp->base ? &sp->base_idx[set_id] : &sp->sub_idx[set_id];
	const struct image_set *from = &src->sets[set_id];
	struct bpfmesh_image *out = sp->out;
	const char *name;
	struct image_set *to;
	size_t idx;
	bool added;

	if (*seen >= 0)
		return *seen;
	name = image_name_text(src, from->cfg.name_id);
	if (!name) {
		sp->why = "a cluster name too long to compare";
		return -1;
	}
	if (hmap_get_str(&sp->sets, name, &idx)) {
		/* The same cluster in base and sub: the same content, as its
		 * host is either unchanged or affected (then base's service
		 * naming it is affected too and not spliced). */
		if (out->sets[idx].family != from->family) {
			sp->why = "one cluster name for two sets";
			return -1;
		}
		return *seen = (long)idx;
	}
	idx = out->n_sets++;
	if (!hmap_put_str(&sp->sets, name, idx, &added))
		return -1;
	to = &out->sets[idx];
	*to = *from;
	to->cfg.name_id = splice_name(sp, &src->names[from->cfg.name_id - 1]);
	if (!to->cfg.name_id)
		return -1;
	if (src == sp->base) {
		to->borrowed = true;
		sp->from_base[idx] = set_id;
	} else {
		/* Moved: sub no longer frees what it held (its name stays). */
		memset(&sp->sub->sets[set_id], 0, sizeof(sp->sub->sets[set_id]));
		sp->from_base[idx] = -1;
	}
	return *seen = (long)idx;
}

/* Copy one service of src into out, its ids renumbered: the service's name
 * first, then each destination's set and its name, the order of cval_build. */
static bool splice_service(struct splice *sp, const struct bpfmesh_image *src,
			   const struct image_service *s)
{
	struct image_service *to = &sp->out->services[sp->out->n_services++];
	__u16 j;
	long set;

	*to = *s;
	if (!image_name_text(src, s->val.service_id)) {
		sp->why = "a service name too long to compare";
		return false;
	}
	to->val.service_id = splice_name(sp, &src->names[s->val.service_id - 1]);
	if (!to->val.service_id)
		return false;
	for (j = 0; j < s->val.n_dests; j++) {
		set = splice_set(sp, src, s->val.dests[j].set_id);
		if (set < 0)
			return false;
		to->val.dests[j].set_id = (__u32)set;
		to->val.dests[j].subset_id = sp->out->sets[set].cfg.name_id;
	}
	return true;
}

/* Does this service of img come from an affected host? */
static bool host_affected(const struct bpfmesh_image *img, const struct image_service *s,
			  const struct hmap *affected)
{
	const char *host = image_name_text(img, s->val.service_id);
	size_t unused;

	return host && hmap_get_str(affected, host, &unused);
}

/* Merge base's unaffected and sub's affected services in key order. */
static bool splice_services(struct splice *sp, const struct hmap *affected)
{
	const struct bpfmesh_image *base = sp->base, *sub = sp->sub;
	size_t i = 0, j = 0;
	int c;

	for (;;) {
		while (i < base->n_services && host_affected(base, &base->services[i], affected))
			i++;
		while (j < sub->n_services && !host_affected(sub, &sub->services[j], affected))
			j++;
		if (i == base->n_services && j == sub->n_services)
			return true;
		if (i == base->n_services)
			c = 1;
		else if (j == sub->n_services)
			c = -1;
		else
			c = memcmp(&base->services[i].key, &sub->services[j].key,
				   sizeof(base->services[i].key));
		if (c == 0) {
			/* One VIP:port for an affected and an unaffected host: a
			 * full compile reports the conflict. */
			sp->why = "a service key claimed twice";
			return false;
		}
		if (c > 0)
			sp->changed[sp->n_changed++] = sp->out->n_services;
		if (!(c < 0 ? splice_service(sp, base, &base->services[i++])
			    : splice_service(sp, sub, &sub->services[j++])))
			return false;
	}
}

/*
 * The fast path (issue 12): when every recompiled service keeps its key,
 * its host and, destination by destination, its clusters, the first-use
 * numbering of names and sets over the sorted services is base's: out is
 * base copied (memcpy, no hash per entry), the recompiled services and
 * the sets they name replaced in place. A weight change, an endpoint
 * added or removed in a cluster, a policy field change take it; anything
 * else (a service or cluster added or gone, a VIP moved) the full splice.
 */
struct fast {
	const struct bpfmesh_image *base;
	struct bpfmesh_image *sub;
	unsigned char *host_hit; /* per base name id: an affected host */
	size_t *base_svc, *sub_svc; /* the affected services, paired */
	size_t n_svc;
	long *sub_to_base, *base_to_sub; /* set pairing */
	size_t strtab_len; /* of base's strtab */
};

/* Mark in f->host_hit the base name id of every affected host, found
 * through the recompiled services' keys; a host none of them names is
 * looked for in base's names (rare: an affected host that lost its
 * services). False: not for the fast path. */
static bool fast_hosts(struct fast *f, const struct hmap *affected)
{
	const struct bpfmesh_image *base = f->base, *sub = f->sub;
	size_t i, found = 0, k;

	for (i = 0; i < sub->n_services; i++) {
		const struct image_service *s = &sub->services[i], *old;
		const char *host;

		if (!host_affected(sub, s, affected))
			continue;
		f->sub_svc[f->n_svc++] = i;
		old = base->n_services ? bsearch(&s->key, base->services, base->n_services,
						 sizeof(*old), cmp_service_key) : NULL;
		host = image_name_text(sub, s->val.service_id);
		if (!old || !image_name_text(base, old->val.service_id) ||
		    strcmp(host, base->names[old->val.service_id - 1].val.name))
			return false; /* a new key, or a key now of another host */
		found += !f->host_hit[old->val.service_id];
		f->host_hit[old->val.service_id] = 1;
	}
	if (found == affected->n)
		return true;
	for (k = 0; k < affected->cap; k++) {
		const char *host = affected->v[k].k1;

		if (!affected->v[k].hash)
			continue;
		for (i = 0; i < base->n_names; i++)
			if (!strcmp(base->names[i].val.name, host))
				break;
		if (i < base->n_names && !f->host_hit[i + 1] &&
		    base->names[i].val.kind == BPFMESH_NAME_SERVICE)
			return false; /* base has services of it, sub none */
	}
	return true;
}

/* Pair sub's set of one destination with base's: same cluster, family. */
static bool fast_pair_set(struct fast *f, __u32 sub_set, __u32 base_set)
{
	const struct image_set *a = &f->sub->sets[sub_set], *b = &f->base->sets[base_set];
	const char *an = image_name_text(f->sub, a->cfg.name_id);
	const char *bn = image_name_text(f->base, b->cfg.name_id);

	if (!an || !bn || strcmp(an, bn) || a->family != b->family)
		return false;
	if (f->sub_to_base[sub_set] < 0 && f->base_to_sub[base_set] < 0) {
		f->sub_to_base[sub_set] = base_set;
		f->base_to_sub[base_set] = sub_set;
	}
	return f->sub_to_base[sub_set] == (long)base_set &&
	       f->base_to_sub[base_set] == (long)sub_set;
}

/* Base's affected services, paired in key order with sub's: the same
 * keys, the same declaring file, the same clusters in the same order. */
static bool fast_pair(struct fast *f)
{
	const struct bpfmesh_image *base = f->base, *sub = f->sub;
	const char *end = NULL;
	size_t i, n = 0;
	__u16 j;

	for (i = 0; i < base->n_services; i++) {
		const struct image_service *b = &base->services[i], *s;

		if (!end || b->src_file > end)
			end = b->src_file;
		if (!f->host_hit[b->val.service_id]) {
			/* A host cut to fit may be an affected one: not here. */
			if (!image_name_text(base, b->val.service_id))
				return false;
			continue;
		}
		if (n == f->n_svc)
			return false;
		s = &sub->services[f->sub_svc[n]];
		f->base_svc[n++] = i;
		if (memcmp(&s->key, &b->key, sizeof(s->key)) || s->val.n_dests != b->val.n_dests ||
		    strcmp(s->src_file, b->src_file))
			return false;
		for (j = 0; j < s->val.n_dests; j++)
			if (!fast_pair_set(f, s->val.dests[j].set_id, b->val.dests[j].set_id))
				return false;
	}
	f->strtab_len = end ? (size_t)(end - base->strtab) + strlen(end) + 1 : 0;
	return n == f->n_svc;
}

/* Fault in the pages of an array not yet in memory, a run at a time,
 * before it is written: the copy's first splice after a start, or after
 * the agent gave its freed memory back (malloc_trim), met a page fault
 * every 4 KiB (5,500 at 10,000 services, 10-14 ms); one madvise a run
 * does the same work without a trap per page. Pages already in memory
 * (a series of changes reuses the heap) are left alone: populating them
 * again costs as much as the copy (1.4 ms for 16 MiB), asking mincore
 * 15 us. Best effort: a kernel without MADV_POPULATE_WRITE (5.14) faults
 * them one by one as before. */
static void prefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *in;
	uintptr_t a, b;
	size_t n, i, run;

	if (page <= 0 || len < 16 * (size_t)page)
		return;
	a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	b = ((uintptr_t)p + len) & ~((uintptr_t)page - 1);
	n = (b - a) / (size_t)page;
	in = malloc(n);
	if (in && !mincore((void *)a, b - a, in)) {
		for (i = 0; i < n; i += run) {
			for (run = 0; i + run < n && !(in[i + run] & 1); run++)
				;
			if (run)
				madvise((void *)(a + i * (size_t)page), run * (size_t)page,
					MADV_POPULATE_WRITE);
			else
				run = 1;
		}
	}
	free(in);
#else
	(void)p;
	(void)len;
#endif
}

/* out: base copied, the paired services and sets put in place. */
static bool fast_build(struct fast *f, struct splice *sp)
{
	const struct bpfmesh_image *base = f->base;
	struct bpfmesh_image *sub = f->sub, *out = sp->out;
	size_t i;
	__u16 j;

	out->services = malloc((base->n_services + 1) * sizeof(*out->services));
	out->sets = malloc((base->n_sets + 1) * sizeof(*out->sets));
	out->names = malloc((base->n_names + 1) * sizeof(*out->names));
	out->strtab = malloc(f->strtab_len + 1);
	sp->from_base = malloc((base->n_sets + 1) * sizeof(*sp->from_base));
	sp->changed = malloc((f->n_svc + 1) * sizeof(*sp->changed));
	if (!out->services || !out->sets || !out->names || !out->strtab || !sp->from_base ||
	    !sp->changed)
		return false;
	prefault(out->services, base->n_services * sizeof(*out->services));
	prefault(out->sets, base->n_sets * sizeof(*out->sets));
	prefault(out->names, base->n_names * sizeof(*out->names));
	out->n_services = base->n_services;
	out->n_sets = base->n_sets;
	out->n_names = base->n_names;
	memcpy(out->services, base->services, base->n_services * sizeof(*out->services));
	memcpy(out->sets, base->sets, base->n_sets * sizeof(*out->sets));
	memcpy(out->names, base->names, base->n_names * sizeof(*out->names));
	memcpy(out->strtab, base->strtab, f->strtab_len);
	for (i = 0; i < base->n_services; i++)
		out->services[i].src_file = out->strtab + (base->services[i].src_file - base->strtab);
	for (i = 0; i < base->n_sets; i++) {
		out->sets[i].borrowed = true;
		sp->from_base[i] = (long)i;
	}
	for (i = 0; i < f->n_svc; i++) {
		struct image_service *to = &out->services[f->base_svc[i]];
		const char *file = to->src_file;

		*to = sub->services[f->sub_svc[i]];
		to->src_file = file;
		to->val.service_id = base->services[f->base_svc[i]].val.service_id;
		for (j = 0; j < to->val.n_dests; j++) {
			__u32 set = (__u32)f->sub_to_base[to->val.dests[j].set_id];

			to->val.dests[j].set_id = set;
			to->val.dests[j].subset_id = base->sets[set].cfg.name_id;
		}
		sp->changed[sp->n_changed++] = f->base_svc[i];
	}
	for (i = 0; i < sub->n_sets; i++) {
		long b = f->sub_to_base[i];

		if (b < 0)
			continue;
		out->sets[b] = sub->sets[i];
		out->sets[b].cfg.name_id = base->sets[b].cfg.name_id;
		out->sets[b].borrowed = false;
		sp->from_base[b] = -1;
		/* Moved: sub no longer frees what it held. */
		memset(&sub->sets[i], 0, sizeof(sub->sets[i]));
	}
	return true;
}

/* 1: spliced by the fast path; 0: not for it (nothing moved); -1: ENOMEM. */
static int splice_fast(struct splice *sp, const struct hmap *affected)
{
	struct fast f = { .base = sp->base, .sub = sp->sub };
	size_t n_sub = sp->sub->n_sets + 1, n_base = sp->base->n_sets + 1;
	int ret = -1;

	f.host_hit = calloc(sp->base->n_names + 1, 1);
	f.sub_svc = malloc((sp->sub->n_services + 1) * sizeof(*f.sub_svc));
	f.base_svc = malloc((sp->sub->n_services + 1) * sizeof(*f.base_svc));
	f.sub_to_base = malloc(n_sub * sizeof(*f.sub_to_base));
	f.base_to_sub = malloc(n_base * sizeof(*f.base_to_sub));
	if (f.host_hit && f.sub_svc && f.base_svc && f.sub_to_base && f.base_to_sub) {
		memset(f.sub_to_base, 0xff, n_sub * sizeof(*f.sub_to_base));
		memset(f.base_to_sub, 0xff, n_base * sizeof(*f.base_to_sub));
		ret = 0;
		if (sp->base->strtab && fast_hosts(&f, affected) && fast_pair(&f))
			ret = fast_build(&f, sp) ? 1 : -1;
	}
	free(f.host_hit);
	free(f.sub_svc);
	free(f.base_svc);
	free(f.sub_to_base);
	free(f.base_to_sub);
	return ret;
}

static bool splice_alloc(struct splice *sp)
{
	const struct bpfmesh_image *base = sp->base, *sub = sp->sub;
	struct bpfmesh_image *out = sp->out;
	size_t sets = base->n_sets + sub->n_sets + 1;

	out->services = calloc(base->n_services + sub->n_services + 1, sizeof(*out->services));
	out->sets = calloc(sets, sizeof(*out->sets));
	out->names = calloc(base->n_names + sub->n_names + 1, sizeof(*out->names));
	sp->from_base = calloc(sets, sizeof(*sp->from_base));
	sp->base_idx = malloc((base->n_sets + 1) * sizeof(*sp->base_idx));
	sp->sub_idx = malloc((sub->n_sets + 1) * sizeof(*sp->sub_idx));
	sp->changed = malloc((sub->n_services + 1) * sizeof(*sp->changed));
	if (!out->services || !out->sets || !out->names || !sp->from_base ||
	    !sp->base_idx || !sp->sub_idx || !sp->changed)
		return false;
	memset(sp->base_idx, 0xff, (base->n_sets + 1) * sizeof(*sp->base_idx));
	memset(sp->sub_idx, 0xff, (sub->n_sets + 1) * sizeof(*sp->sub_idx));
	return true;
}

/* The base set of the same cluster as a set recompiled from sub: one of
 * the sets the base service of the same key named (a weight or endpoint
 * change recompiles its host's sets under the same names). -1: none. */
static long base_twin(const struct bpfmesh_image *base, const struct image_service *s,
		      const struct image_set *set)
{
	const struct image_service *old;
	__u16 d;

	old = base->n_services ? bsearch(&s->key, base->services, base->n_services,
					 sizeof(*old), cmp_service_key) : NULL;
	for (d = 0; old && d < old->val.n_dests; d++) {
		const struct image_set *b = &base->sets[old->val.dests[d].set_id];

		if (!strncmp(b->cluster, set->cluster, sizeof(b->cluster)) &&
		    b->family == set->family)
			return (long)old->val.dests[d].set_id;
	}
	return -1;
}

/* What changed, for the applier (image.h image_delta): O(changed) but for
 * the one pass over the sets that says whether all are the base's. */
static struct image_delta *splice_delta(struct splice *sp)
{
	const struct bpfmesh_image *base = sp->base, *out = sp->out;
	struct image_delta *d = calloc(1, sizeof(*d));
	size_t i, k;
	__u16 j;

	if (!d)
		return NULL;
	d->base_token = base->services;
	d->base_n_services = base->n_services;
	d->base_n_sets = base->n_sets;
	d->base_n_names = base->n_names;
	d->changed = sp->changed;
	d->n_changed = sp->n_changed;
	sp->changed = NULL;
	d->base_set = malloc((out->n_sets + 1) * sizeof(*d->base_set));
	d->base_cluster = malloc((out->n_sets + 1) * sizeof(*d->base_cluster));
	if (!d->base_set || !d->base_cluster) {
		image_delta_free(d);
		return NULL;
	}
	memcpy(d->base_set, sp->from_base, out->n_sets * sizeof(*d->base_set));
	memcpy(d->base_cluster, sp->from_base, out->n_sets * sizeof(*d->base_cluster));
	for (k = 0; k < d->n_changed; k++) {
		const struct image_service *s = &out->services[d->changed[k]];

		for (j = 0; j < s->val.n_dests; j++) {
			__u32 set = s->val.dests[j].set_id;
			long twin;

			if (d->base_cluster[set] >= 0)
				continue;
			twin = base_twin(base, s, &out->sets[set]);
			d->base_cluster[set] = twin;
			if (twin >= 0 && image_set_same(&base->sets[twin], &out->sets[set]))
				d->base_set[set] = twin;
		}
	}
	d->clusters_same = out->n_sets == base->n_sets && out->n_names == base->n_names;
	for (i = 0; d->clusters_same && i < out->n_sets; i++)
		d->clusters_same = d->base_cluster[i] >= 0;
	d->sets_same = d->clusters_same;
	for (i = 0; d->sets_same && i < out->n_sets; i++)
		d->sets_same = d->base_set[i] >= 0;
	return d;
}

static bool text_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Does sub hold base's identities, numbered alike? The sub-compile sees
 * every WorkloadEntry (isolate.c gathers them all) and numbers them 1..n
 * as a full compile does; a change of one is refused before (isolate.c
 * incr_touch). Base's ids differ from 1..n once the agent gave them
 * stable ids (user/agent/identity_ids.c) that are not those: its keys by
 * source name those ids, so it is not spliced (the agent gives the ids
 * again to the image of a full compile). */
static bool identities_same(const struct bpfmesh_image *base, const struct bpfmesh_image *sub)
{
	size_t i;

	if (base->n_identities != sub->n_identities)
		return false;
	for (i = 0; i < base->n_identities; i++) {
		const struct image_identity *a = &base->identities[i], *b = &sub->identities[i];

		if (a->id != i + 1 || b->id != i + 1 || !text_same(a->cgroup, b->cgroup) ||
		    !text_same(a->name, b->name) || !text_same(a->ns, b->ns) ||
		    !text_same(a->workload, b->workload) || !text_same(a->app, b->app) ||
		    !text_same(a->version, b->version) ||
		    !text_same(a->canonical_service, b->canonical_service) ||
		    !text_same(a->canonical_revision, b->canonical_revision))
			return false;
	}
	return true;
}

int image_splice(const struct bpfmesh_image *base, struct bpfmesh_image *sub,
		 const struct hmap *affected, struct bpfmesh_image *out, long **from_base,
		 const char **why)
{
	struct splice sp = { .base = base, .sub = sub, .out = out };
	int ret = -ENOMEM, fast;
	bool ok;

	memset(out, 0, sizeof(*out));
	*from_base = NULL;
	*why = NULL;
	/* Identities unchanged: the routes by source of the services not
	 * recompiled are base's, and still right (issue 16). */
	if (!identities_same(base, sub)) {
		*why = "workload identities changed or given other ids";
		return 1;
	}
	fast = splice_fast(&sp, affected);
	if (fast == 0)
		ok = splice_alloc(&sp) && splice_services(&sp, affected) &&
		     compile_emit_strtab(out);
	else
		ok = fast > 0;
	if (ok && (out->delta = splice_delta(&sp))) {
		out->delta->fast = fast > 0;
		/* sub's identities are base's (identities_same): moved. */
		out->identities = sub->identities;
		out->n_identities = sub->n_identities;
		sub->identities = NULL;
		sub->n_identities = 0;
		*from_base = sp.from_base;
		sp.from_base = NULL;
		ret = 0;
	} else if (sp.why) {
		*why = sp.why;
		ret = 1;
	}
	free(sp.from_base);
	free(sp.base_idx);
	free(sp.sub_idx);
	free(sp.changed);
	hmap_free(&sp.names);
	hmap_free(&sp.sets);
	if (ret) {
		/* Sets moved out of sub are lost to it: only a successful splice
		 * may move them, so undo by freeing out whole. */
		bpfmesh_image_free(out);
	}
	return ret;
}
