/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_ISOLATE_H
#define BPFMESH_POLICY_ISOLATE_H
/*
 * The agent's compile: one bad resource never blocks the others (issue 12).
 *
 * A resource is one YAML document, named by kind/namespace/name. Each is
 * validated alone (its fields, then validate_model's checks for it). One
 * that fails is rejected alone: its last good version, the one the last
 * applied image was compiled from, stays in force (nothing when it is new),
 * and every other resource applies. A file that cannot be read as YAML
 * (syntax, encoding, nesting, alias budget, size) rejects nothing by name:
 * the resources it held keep their last good versions. Cross-resource
 * findings (a destination host or subset not defined yet) are warnings,
 * never a rejection, even under --strict: another resource settles them.
 *
 * Conflicts resolve as Istio does, the older resource winning:
 *   - one kind/namespace/name defined twice: the older definition applies,
 *     the other is rejected;
 *   - two ServiceEntries claiming one VIP:port: the older applies; the
 *     newer falls back to its last good version if that one claims no
 *     taken VIP:port, and is rejected with nothing in force otherwise.
 * "Older" (isolate.c, age_cmp): metadata.creationTimestamp when both give
 * one and they differ; else the one this agent saw first (a (resource,
 * file) pair's first sighting, kept when the file is renamed; at start,
 * file name then document order);
 * then Istio's tie-breaks, name then namespace; then input order.
 *
 * The store keeps each file's parse between reloads, keyed by its (device,
 * inode, size, mtime, ctime): a reload re-reads and re-parses only the
 * files that changed.
 *
 * Incremental compile: when the caller commits with the image it applied
 * (policy_store_commit_image), the next compile recompiles only the
 * services of the hosts that the changed resources touch (the unit of
 * change is a resource, from a file or from Kubernetes alike; the unit of
 * recompile is a service host and the hosts whose routes send to it) and
 * splices them into that image (compile_incr.h). The result is byte for
 * byte what a full compile of the same resources, in input order (file
 * name, then document), gives. Where the reach of a change is not known
 * cheaply (isolate.c, incr_refuse) it compiles in full, and counts it.
 *
 * Neither the choice nor the reach walks every resource in force: the
 * store keeps the last choice with indexes per resource key, per VIP:port
 * claim and per host (isolate.c, choose_kept), updated from the files
 * that changed; a change it cannot settle that way (an invalid resource,
 * a duplicate, a VIP:port conflict) is chosen in full, and counted.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "image.h"

/* One resource (or one unreadable file) as the last compile left it. */
struct res_report {
	char *kind, *ns, *name; /* kind "File" for a file not read: name is its path */
	char *file;
	unsigned int line;
	bool rejected;
	bool last_good; /* rejected, and its last good version stays in force */
	char *diag;     /* rejected: the first reason, "file:line:col: field: message" */
	/* kind, ns, name and file point into the resource in force, alive
	 * until the next commit, when the agent replaces its report too: not
	 * copied, as every resource in force is reported at every compile. */
	bool borrowed;
};

struct policy_report {
	struct res_report *v; /* in force first (input order), then the rejected */
	size_t n, n_applied, n_rejected;
};

/* Where the last compile's time went, in milliseconds (agent -v logs it). */
struct policy_timing {
	double parse_ms, choose_ms, compile_ms; /* parse_ms: stat, read and parse */
	size_t files, files_parsed; /* files seen; of them, read and parsed again */
	size_t docs_hinted; /* in-memory documents found by the hint, not by name */
	bool incremental;       /* this compile spliced into the image in force */
	const char *full_why;   /* compiled in full although a base was kept: why */
	size_t changed, hosts;  /* resources changed; service hosts recompiled */
	size_t fallbacks;       /* full compiles with a base kept, since start */
	bool choose_kept;       /* the choice was the last one, changed files replaced */
	const char *choose_why; /* chosen in full although the last choice was kept: why */
	size_t choose_fallbacks; /* such full choices, since start */
	double reach_ms, splice_ms; /* of compile_ms, incremental: reach; splice */
};

struct pfile;
struct lg_entry;
struct choice_index;

/*
 * What the caller of a compile knows of its in-memory documents (the
 * Kubernetes rendering, user/k8s/incr.c): the store then reads only those
 * that changed instead of finding each by name and comparing its bytes.
 * The first n documents of the compile are described; the others are read
 * as without a hint. prev[i] is document i's index in the set numbered
 * prev_seq (-1: it was not in it); same[i] says its bytes are those it had
 * there. The store uses the hint only when the last compile read the set
 * prev_seq (its seq), so a rendering no compile read breaks the chain.
 */
struct policy_docs_hint {
	uint64_t seq, prev_seq; /* this set; the set prev[] refers to (0: none) */
	const long *prev;
	const bool *same;
	size_t n;
};

struct policy_store {
	bool strict; /* --strict: unenforced fields reject their resource */
	struct pfile **files; /* the last read of each file, in input order */
	size_t n_files;
	struct lg_entry *lg; /* last good: the versions the image in force came from */
	size_t n_lg;
	struct lg_entry *pending; /* the last compile's, until policy_store_commit */
	size_t n_pending;
	size_t cap_lg, cap_pending; /* the two arrays are swapped, not freed */
	bool have_pending;
	struct seen_map *seen; /* first sightings of (resource, file) */
	/* The last choice and its indexes (isolate.c, choose_kept): a reload
	 * costs what its changed files hold. */
	struct choice_index *ci;
	bool no_index; /* choose in full every time (tests compare with it) */
	struct policy_timing timing;
	/* The image in force (policy_store_commit_image), owned by the caller,
	 * and for the pending image the base set each of its sets borrows. */
	struct bpfmesh_image base;
	bool have_base;
	/* The cross-resource and compile diagnostics of the image in force
	 * and of the pending one: an incremental compile reports those of the
	 * resources it recompiled anew and the others' as they were, so a
	 * reload reports what a full compile would. */
	struct diag_list cdl, pending_cdl;
	long *pending_from_base;
	size_t n_pending_sets;
	/* In-memory documents (policy_store_docs_hint): the hint for the next
	 * compile, the set the last read took (0: unknown), and where its
	 * in-memory documents start in files. */
	struct policy_docs_hint hint;
	uint64_t docs_seq;
	size_t n_path_files;
};

/*
 * Compile what is in force now: the files under paths, then the in-memory
 * documents (names[i] in diagnostics). Diagnostics go to dl (every file's,
 * re-reported from the cache for unchanged files), the outcome per resource
 * to *rep. Returns 0 with *img filled; 1 when the resources that remain
 * still cannot be compiled together (e.g. more services than the maps
 * hold): nothing may be applied; 2 when a path cannot be listed.
 */
int policy_store_compile(struct policy_store *st, const char *const *paths, size_t n_paths,
			 const char *const *names, const char *const *bufs, const size_t *lens,
			 size_t n_bufs, struct diag_list *dl, struct bpfmesh_image *img,
			 struct policy_report *rep);

/* The hint for the next policy_store_compile's in-memory documents; its
 * arrays must live until that compile, which consumes it. */
void policy_store_docs_hint(struct policy_store *st, const struct policy_docs_hint *h);

/* Read and parse the files under paths into st's cache, compiling nothing
 * (the agent does it while the kernel verifies its programs): the next
 * policy_store_compile finds them read, unless they changed since. 0, 1 out
 * of memory, 2 a path cannot be listed. Not concurrent with a compile. */
int policy_store_preread(struct policy_store *st, const char *const *paths, size_t n_paths);
/* The same with in-memory documents beside the files (and the hint given
 * by policy_store_docs_hint, which it consumes): the agent parses the
 * Kubernetes documents rendered while the first lists page in. */
int policy_store_preread_docs(struct policy_store *st, const char *const *paths,
			      size_t n_paths, const char *const *names, const char *const *bufs,
			      const size_t *lens, size_t n_bufs);
/* Build, between reloads, what the next incremental one would build at its
 * start (the host index of the choice in force), `budget` resources at a
 * time (SIZE_MAX: all) so that a caller can stop when an event comes.
 * true: more to do; false: nothing (left) to do, or it could not be built
 * (the next reload then chooses in full, as when it cannot build it
 * itself). Not concurrent with a compile. */
bool policy_store_prepare(struct policy_store *st, size_t budget);
/* The last compiled image is in force: its versions become the last good.
 * The next compile is a full one. */
void policy_store_commit(struct policy_store *st);
/* The same, for img, the image the last compile gave: the caller keeps it,
 * unchanged, until it commits the next one or frees the store (then it may
 * free this one), and the next compile may be incremental over it. Sets it
 * lent to img become img's. */
void policy_store_commit_image(struct policy_store *st, struct bpfmesh_image *img);

void policy_store_free(struct policy_store *st);
void policy_report_free(struct policy_report *rep);

#endif /* BPFMESH_POLICY_ISOLATE_H */
