// SPDX-License-Identifier: Apache-2.0
/*
 * The table of bad policy files (issue 8). Each row runs the real
 * `bpfmesh lint` (or `compile -j`) on one hostile input, as a child process,
 * and asserts:
 *   - the exit status (1: policy rejected, 2: I/O; 0 for the rows that are
 *     not errors: an empty file, a FIFO skipped in a directory),
 *   - a diagnostic naming the file, at the line where there is one, with
 *     the expected message,
 *   - a time bound (wall clock; 5 s unless the row says otherwise),
 *   - the memory bound: peak RSS (getrusage of the child) at most
 *     BOUND_CONST_MIB + BOUND_PER_BYTE x the bytes read, whatever the input.
 *
 * Why that bound holds: the model of one compile is capped at 256 MiB
 * (MODEL_MAX_BYTES), libyaml holds one document at a time of at most
 * 500,000 nodes (~100 MiB, YDOC_MAX_NODES), at most 10,000 diagnostics of a
 * kind are stored, the image is capped by the kernel map sizes, and the file
 * itself is read whole (<= 64 MiB).
 *
 * Small files live in tests/bad-policies/; big and special ones (10 MB,
 * 100 MB, 100,000 documents, FIFO, symlink loop, unreadable) are made here
 * in a private temporary directory that is removed afterwards.
 * BPFMESH=path selects the binary (default .output/bpfmesh); run from the
 * repository root.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <linux/securebits.h>

#include "policy/policy.h"

#define BOUND_CONST_MIB 448ull
#define BOUND_PER_BYTE 2ull
#define LINE_ANY 0xffffffffu /* some line: the exact one depends on a budget */
#define LINE_GEN 0xfffffffeu /* the line the generator returns */
#define OUT_MAX (4u << 20)   /* output kept for matching */

struct bad_case {
	const char *name; /* file in tests/bad-policies, or made by make() */
	/* Writes the input at path; returns the expected line (or the row's). */
	unsigned int (*make)(const char *path);
	int rc;
	unsigned int line; /* 0: a diagnostic about the whole file */
	const char *msg;
	const char *diag_file; /* the diagnostic names path + this (a directory's file) */
	bool no_file;          /* the diagnostic is about the compile: "<input>: " */
	unsigned int max_ms;
	bool compile_json; /* `compile -j`: output must be valid UTF-8 */
	bool without_caps; /* the child has no capabilities (an unreadable file) */
	unsigned int as_limit_mib; /* RLIMIT_AS of the child, in MiB above what the
				    * binary needs for a tiny policy: allocations fail */
};

static char tmpdir[] = "/tmp/bpfmesh-bad.XXXXXX";

/* ---- generators -------------------------------------------------------- */

static FILE *create(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	return f;
}

#define SE_DOC                                                                      \
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                      \
	"metadata: {name: s%u}\nspec:\n  hosts: [s%u.example]\n"                         \
	"  addresses: [10.%u.%u.%u]\n  ports:\n  - number: %u\n    name: tcp\n"        \
	"  resolution: STATIC\n  endpoints:\n  - address: 10.200.%u.%u\n"               \
	"    labels: {version: v1}\n"
#define SE_DOC_LINES 14 /* lines of SE_DOC plus its "---" */

/* ~10 MB of ServiceEntries, the last one on port last_port; returns the
 * line of that port. */
static unsigned int make_big(const char *path, unsigned int last_port)
{
	FILE *f = create(path);
	unsigned int i, line = 1;
	long size = 0;

	for (i = 0; size < 10l << 20; i++, line += SE_DOC_LINES)
		size += fprintf(f, SE_DOC "---\n", i, i, (i >> 16) & 255, (i >> 8) & 255, i & 255,
				80u, (i >> 8) & 255, i & 255);
	fprintf(f, SE_DOC, i, i, 11u, 0u, 1u, last_port, 0u, 1u);
	fclose(f);
	return line + 7; /* "  - number: N" */
}

static unsigned int make_10mb(const char *path) { return make_big(path, 0); }
static unsigned int make_10mb_valid(const char *path) { return make_big(path, 80); }

/* 100 MB, sparse: refused by its size, never read. */
static unsigned int make_100mb(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100l << 20), 0);
	close(fd);
	return 0;
}

/* 100,000 WorkloadEntry documents; the last has a negative weight. */
static unsigned int make_100k_docs(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	for (i = 0; i < 100000; i++)
		fprintf(f, "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
			   "metadata: {name: w%u}\nspec: {address: 10.%u.%u.%u, weight: %d}\n---\n",
			i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i == 99999 ? -1 : 1);
	fclose(f);
	return 99999 * 5 + 4;
}

static void make_repeat(const char *path, const char *head, const char *unit, unsigned int n,
			const char *tail)
{
	FILE *f = create(path);
	unsigned int i;

	fputs(head, f);
	for (i = 0; i < n; i++)
		fputs(unit, f);
	fputs(tail, f);
	fclose(f);
}

/* open x 100,000, then mid, then close x 100,000, on line 1. */
static unsigned int make_nested(const char *path, const char *open, const char *mid,
				const char *close)
{
	FILE *f = create(path);
	unsigned int i;

	for (i = 0; i < 100000; i++)
		fputs(open, f);
	fputs(mid, f);
	for (i = 0; i < 100000; i++)
		fputs(close, f);
	fputc('\n', f);
	fclose(f);
	return 1;
}

static unsigned int make_deep_seq(const char *path) { return make_nested(path, "[", "", "]"); }
static unsigned int make_deep_map(const char *path) { return make_nested(path, "{a: ", "1", "}"); }

/* 150 levels of block mappings: the 101st level is on line 101. */
static unsigned int make_deep_block(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	for (i = 0; i < 150; i++)
		fprintf(f, "%*sk%u:\n", (int)i, "", i);
	fprintf(f, "%*sleaf: 1\n", 150, "");
	fclose(f);
	return 101;
}

/* labels: &L {1000 keys} on one endpoint, *L on 100,000 more (3.9 MB). */
static unsigned int make_alias_labels(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	fputs("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
	      "spec:\n  hosts: [a.example]\n  addresses: [10.9.0.1]\n"
	      "  ports: [{number: 80, name: http}]\n  resolution: STATIC\n  endpoints:\n"
	      "  - {address: 10.1.0.1, labels: &L {", f);
	for (i = 0; i < 1000; i++)
		fprintf(f, "%sk%u: v", i ? ", " : "", i);
	fputs("}}\n", f);
	for (i = 0; i < 100000; i++)
		fprintf(f, "  - {address: 10.2.%u.%u, labels: *L}\n", i / 250, i % 250 + 1);
	fclose(f);
	return LINE_ANY;
}

/* A route of 8 destinations repeated by alias, in 10 documents. */
static unsigned int make_alias_routes(const char *path)
{
	FILE *f = create(path);
	unsigned int d, i;

	for (d = 0; d < 10; d++) {
		fprintf(f, "%sapiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			   "metadata: {name: v%u}\nspec:\n  hosts: [h%u]\n  tcp:\n  - &R {route: [",
			d ? "---\n" : "", d, d);
		for (i = 0; i < 8; i++)
			fprintf(f, "%s{destination: {host: a%u}, weight: 1}", i ? ", " : "", i);
		fputs("]}\n", f);
		for (i = 0; i < 30000; i++)
			fputs("  - *R\n", f);
	}
	fclose(f);
	return LINE_ANY;
}

/* One document of 600,000 nodes (a list of numbers). */
static unsigned int make_many_nodes(const char *path)
{
	make_repeat(path, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			  "metadata: {name: s}\nspec:\n  exportTo: [", "1,", 600000, "1]\n");
	return LINE_ANY;
}

/* 60 documents of 150,000 one-letter hosts: past the model's 256 MiB (about
 * 34 bytes a host: its pointer, its source, "a"; the path is shared). */
static unsigned int make_model_cap(const char *path)
{
	FILE *f = create(path);
	unsigned int d, i;

	for (d = 0; d < 60; d++) {
		fprintf(f, "%sapiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: s%u}\nspec:\n  hosts: [a", d ? "---\n" : "", d);
		for (i = 1; i < 150000; i++)
			fputs(", a", f);
		fputs("]\n", f);
	}
	fclose(f);
	return LINE_ANY;
}

/* 70,000 subsets, the last named like the sixth (hashing, not pairs). */
static unsigned int make_subsets(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	fputs("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
	      "spec:\n  host: a.example\n  subsets:\n", f);
	for (i = 0; i < 70000; i++)
		fprintf(f, "  - {name: s%u, labels: {v: x%u}}\n", i, i);
	fputs("  - {name: s5, labels: {v: y}}\n", f);
	fclose(f);
	return 7 + 70000;
}

/* 80,000 ports; number 1 comes back on item 65,535. */
static unsigned int make_ports(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	fputs("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
	      "spec:\n  hosts: [a.example]\n  ports:\n", f);
	for (i = 0; i < 80000; i++)
		fprintf(f, "  - {number: %u, name: p%u}\n", i % 65535 + 1, i);
	fclose(f);
	return 7 + 65535;
}

/* 20,000 ServiceEntries selecting 20,000 WorkloadEntries one to one, the
 * last WorkloadEntry with a bad weight (8.7 s when every pair was compared). */
static unsigned int make_selectors(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	for (i = 0; i < 20000; i++)
		fprintf(f, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: s%u}\nspec:\n  hosts: [s%u.example]\n"
			   "  ports: [{number: 80, name: p}]\n"
			   "  workloadSelector: {labels: {app: a%u}}\n---\n", i, i, i);
	for (i = 0; i < 20000; i++)
		fprintf(f, "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
			   "metadata: {name: w%u}\nspec: {address: 10.%u.%u.1, weight: %d, "
			   "labels: {app: a%u}}\n%s", i, i >> 8, i & 255, i == 19999 ? -1 : 1, i,
			i == 19999 ? "" : "---\n");
	fclose(f);
	return 20000 * 8 + 19999 * 5 + 4;
}

/* Selectors {a: x, b: y} over WorkloadEntries that carry a: x or b: y,
 * never both: every selector's rarest label is shared by 5,000 and matches
 * none. 4,100 selectors pass the 20,000,000 comparisons allowed. */
static unsigned int make_selector_work(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	for (i = 0; i < 4100; i++)
		fprintf(f, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: s%u}\nspec:\n  hosts: [s%u.example]\n"
			   "  ports: [{number: 80, name: p}]\n"
			   "  workloadSelector: {labels: {a: x, b: y}}\n---\n", i, i);
	for (i = 0; i < 10000; i++)
		fprintf(f, "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
			   "metadata: {name: w%u}\nspec: {address: 10.%u.%u.1, labels: {%s}}\n---\n",
			i, i >> 8, i & 255, i % 2 ? "a: x" : "b: y");
	fclose(f);
	return LINE_ANY;
}

/* 10,000 endpoints and 40,000 subsets that match none (7 s of counting). */
static unsigned int make_subset_eps(const char *path)
{
	FILE *f = create(path);
	unsigned int i;

	fputs("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n"
	      "spec:\n  hosts: [a.example]\n  addresses: [10.1.1.1]\n"
	      "  ports: [{number: 80, name: p}]\n  resolution: STATIC\n  endpoints:\n", f);
	for (i = 0; i < 10000; i++)
		fprintf(f, "  - {address: 10.2.%u.%u, labels: {v: y%u}}\n", i >> 8, i & 255, i);
	fputs("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	      "metadata: {name: d}\nspec:\n  host: a.example\n  subsets:\n", f);
	for (i = 0; i < 40000; i++)
		fprintf(f, "  - {name: s%u, labels: {v: x%u}}\n", i, i);
	fclose(f);
	return 10 + 10000 + 1;
}

/* 15,000 services, each with a VirtualService on a wildcard host, and a
 * port-60,000 host: every lookup used to scan every wildcard (11.5 s) and
 * every port of the host (1.8 billion steps). The last route has a bad
 * weight. */
static unsigned int make_wildcards(const char *path)
{
	FILE *f = create(path);
	unsigned int i, line = 0;

	fputs("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: many}\n"
	      "spec:\n  hosts: [many.example]\n  ports:\n", f);
	for (i = 0; i < 60000; i++)
		fprintf(f, "  - {number: %u, name: p%u}\n", i + 1, i);
	line = 6 + 60000;
	for (i = 0; i < 15000; i++, line += 10)
		fprintf(f, "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: s%u}\nspec:\n  hosts: [h.s%u.example]\n"
			   "  addresses: [10.%u.%u.1]\n  ports: [{number: 80, name: p}]\n"
			   "  resolution: STATIC\n  endpoints: [{address: 10.200.%u.%u}]\n",
			i, i, i >> 8, i & 255, i >> 8, i & 255);
	for (i = 0; i < 15000; i++, line += 7)
		fprintf(f, "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			   "metadata: {name: v%u}\nspec:\n  hosts: [\"*.s%u.example\"]\n"
			   "  tcp: [{route: [{destination: {host: h.s%u.example}, weight: %d}]}]\n",
			i, i, i, i == 14999 ? -1 : 1);
	fclose(f);
	return line;
}

static unsigned int make_fifo(const char *path)
{
	assert_int_equal(mkfifo(path, 0644), 0);
	return 0;
}

static unsigned int make_symlink_loop(const char *path)
{
	char other[512];

	snprintf(other, sizeof(other), "%s.other", path);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(symlink(path, other), 0);
	return 0;
}

static unsigned int make_device(const char *path)
{
	assert_int_equal(symlink("/dev/zero", path), 0);
	return 0;
}

static unsigned int make_unreadable(const char *path)
{
	FILE *f = create(path);

	fputs("apiVersion: networking.istio.io/v1\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0), 0);
	return 0;
}

/* A directory holding a FIFO named x.yaml and a good file: the FIFO is
 * reported and skipped, the rest compiles. */
static unsigned int make_dir_with_fifo(const char *path)
{
	char p[512];
	FILE *f;

	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(p, sizeof(p), "%s/x.yaml", path);
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(p, sizeof(p), "%s/good.yaml", path);
	f = create(p);
	fprintf(f, SE_DOC, 1u, 1u, 9u, 9u, 9u, 80u, 9u, 9u);
	fclose(f);
	return 0;
}

/* A file named with the byte 0xff, holding a YAML error. */
static unsigned int make_name_not_utf8(const char *path)
{
	FILE *f = create(path);

	fputs("a: [\n", f);
	fclose(f);
	return 2;
}

/* ---- the table --------------------------------------------------------- */

#define ROW(file, rc_, line_, msg_) { .name = file, .rc = rc_, .line = line_, .msg = msg_ }
#define GEN(file, fn, rc_, line_, msg_, ms) \
	{ .name = file, .make = fn, .rc = rc_, .line = line_, .msg = msg_, .max_ms = ms }

static struct bad_case cases[] = {
	/* YAML syntax */
	ROW("syntax-unclosed-flow.yaml", 1, 5, "invalid YAML: did not find expected ',' or ']'"),
	ROW("syntax-bad-indent.yaml", 1, 5, "invalid YAML: did not find expected key"),
	ROW("syntax-tab-indent.yaml", 1, 4, "invalid YAML: found character that cannot start"),
	ROW("syntax-unclosed-quote.yaml", 1, 5, "invalid YAML: found unexpected end of stream"),
	ROW("syntax-undefined-alias.yaml", 1, 4, "invalid YAML: found undefined alias"),
	ROW("syntax-colon-in-value.yaml", 1, 5, "invalid YAML: mapping values are not allowed"),
	/* wrong types */
	ROW("type-hosts-string.yaml", 1, 5, "spec.hosts: expected a list, got a string"),
	ROW("type-port-number-string.yaml", 1, 6, "number: expected an integer, got a string"),
	ROW("type-weight-bool.yaml", 1, 9, "weight: expected an integer, got a boolean"),
	ROW("type-spec-list.yaml", 1, 4, "spec: expected a mapping, got a list"),
	ROW("type-labels-list.yaml", 1, 8, "labels: expected a mapping, got a list"),
	/* unknown enum values */
	ROW("enum-resolution.yaml", 1, 6, "spec.resolution: unknown value \"MAGIC\""),
	ROW("enum-load-balancer.yaml", 1, 7, "simple: unknown value \"FASTEST\""),
	ROW("enum-tls-mode.yaml", 1, 7, "tls.mode: unknown value \"SUPER_SECURE\""),
	/* integers out of range and overflowing */
	ROW("range-port-zero.yaml", 1, 6, "number: 0 is out of range 1..65535"),
	ROW("range-port-65536.yaml", 1, 6, "number: 65536 is out of range 1..65535"),
	ROW("range-weight-negative.yaml", 1, 9, "weight: weight -1 must be >= 0"),
	ROW("overflow-port.yaml", 1, 6, "integer 99999999999999999999999999 out of range"),
	ROW("overflow-weight-int64.yaml", 1, 9, "integer 9223372036854775808 out of range"),
	ROW("overflow-weight-sum.yaml", 1, 7, "total destination weight 6442450941 is too large"),
	ROW("overflow-duration.yaml", 1, 8, "invalid duration \"99999999999999999999h\""),
	/* duplicate keys at every level */
	ROW("dup-top-kind.yaml", 1, 3, "kind: duplicate key (first at line 2)"),
	ROW("dup-metadata-name.yaml", 1, 5, "metadata.name: duplicate key (first at line 4)"),
	ROW("dup-spec-hosts.yaml", 1, 6, "spec.hosts: duplicate key (first at line 5)"),
	ROW("dup-port-item.yaml", 1, 9, "spec.ports[0].number: duplicate key (first at line 7)"),
	ROW("dup-endpoint-address.yaml", 1, 8, "address: duplicate key (first at line 7)"),
	ROW("dup-endpoint-labels.yaml", 1, 8, "labels.version: duplicate key (first at line 8)"),
	ROW("dup-route-destination.yaml", 1, 9, "destination: duplicate key (first at line 8)"),
	ROW("dup-subset-name.yaml", 1, 8, "subsets[0].name: duplicate key (first at line 7)"),
	ROW("dup-traffic-policy.yaml", 1, 7, "trafficPolicy: duplicate key (first at line 6)"),
	ROW("dup-selector-label.yaml", 1, 7, "labels.app: duplicate key (first at line 7)"),
	ROW("dup-locality-to.yaml", 1, 11, "to.r/z/*: duplicate key (first at line 11)"),
	ROW("repro-bug1-dupkey-ports.yaml", 1, 5, "spec.ports: duplicate key (first at line 4)"),
	ROW("repro-bug1-dupkey-ports-read.yaml", 1, 5, "spec.ports: duplicate key"),
	ROW("repro-bug1-dupkey-route.yaml", 1, 6, "spec.tcp[0].route: duplicate key"),
	ROW("repro-bug1-dupkey-match.yaml", 1, 6, "spec.tcp[0].match: duplicate key"),
	ROW("repro-bug1-dupkey-addresses.yaml", 1, 5, "spec.addresses: duplicate key"),
	ROW("repro-bug1-dupkey-endpoints.yaml", 1, 5, "spec.endpoints: duplicate key"),
	ROW("repro-bug1-dupkey-subsets.yaml", 1, 5, "spec.subsets: duplicate key"),
	ROW("repro-bug1-dupkey-we-ports.yaml", 1, 5, "spec.ports: duplicate key"),
	/* a null where a route belongs */
	ROW("repro-bug6-null-route-path.yaml", 1, 60, "spec.tcp[0]: must not be null"),
	/* a host after a null item is reported at its own place, not the null's */
	ROW("null-host-item.yaml", 1, 5, "5:14: error: spec.hosts[1]: invalid host *"),
	/* encodings */
	ROW("encoding-not-utf8.yaml", 1, 1, "invalid YAML: invalid leading UTF-8 octet"),
	ROW("encoding-nul-byte.yaml", 1, 1, "invalid YAML: control characters are not allowed"),
	ROW("encoding-nul-escape.yaml", 1, 3, "metadata.name: string contains a NUL character"),
	/* empty files are not errors: a note names them (exit 0) */
	ROW("empty.yaml", 0, 0, "note: no YAML documents"),
	ROW("only-comment.yaml", 0, 0, "note: no YAML documents"),
	/* documents that are not what they should be */
	ROW("doc-scalar.yaml", 1, 1, "expected a mapping, got a string"),
	ROW("doc-list.yaml", 1, 1, "expected a mapping, got a list"),
	ROW("doc-no-kind.yaml", 1, 1, "kind: required field is missing"),
	ROW("doc-no-spec.yaml", 1, 1, "spec: required field is missing"),
	/* products that multiply input into memory */
	ROW("repro-bug3-amplify-addrs-ports.yaml", 1, 5,
	    "too many service keys: 2000 addresses x 2000 ports"),
	ROW("repro-bug3-amplify-hosts-ports-eps.yaml", 1, 5,
	    "too many services: 500 hosts x 500 ports"),
	/* aliases */
	ROW("alias-billion-laughs.yaml", 1, 5, "expected a string, got a list"),
	GEN("alias-labels.yaml", make_alias_labels, 1, LINE_ANY,
	    "policy too complex: YAML aliases expand to more than 1000000 extra nodes", 5000),
	GEN("alias-routes.yaml", make_alias_routes, 1, LINE_ANY,
	    "policy too complex: YAML aliases expand to more than 1000000 extra nodes", 5000),
	/* size, count, depth */
	GEN("big-10mb.yaml", make_10mb, 1, LINE_GEN, "number: 0 is out of range 1..65535", 5000),
	GEN("big-100mb.yaml", make_100mb, 1, 0,
	    "file is 104857600 bytes, more than the 67108864 bytes allowed; not read", 1000),
	GEN("docs-100000.yaml", make_100k_docs, 1, LINE_GEN, "spec.weight: -1 is out of range", 5000),
	GEN("deep-flow-seq.yaml", make_deep_seq, 1, 1, "nesting deeper than 100 levels", 1000),
	GEN("deep-flow-map.yaml", make_deep_map, 1, 1, "nesting deeper than 100 levels", 1000),
	GEN("deep-block.yaml", make_deep_block, 1, 101, "nesting deeper than 100 levels", 1000),
	GEN("many-nodes.yaml", make_many_nodes, 1, LINE_ANY,
	    "a document with more than 500000 nodes; file not read", 2000),
	GEN("model-cap.yaml", make_model_cap, 1, LINE_ANY,
	    "policy too large: its model needs more than 256 MiB; stopped here", 8000),
	GEN("subsets-70000.yaml", make_subsets, 1, LINE_GEN, "duplicate subset name s5 (line 12)", 3000),
	GEN("selectors-20000.yaml", make_selectors, 1, LINE_GEN, "spec.weight: -1 is out of range",
	    3000),
	GEN("selector-work.yaml", make_selector_work, 1, LINE_ANY,
	    "spec.workloadSelector: workload selectors too costly", 3000),
	GEN("subset-eps.yaml", make_subset_eps, 0, LINE_GEN,
	    "note: policy too large for the subset endpoint checks", 3000),
	GEN("wildcards-15000.yaml", make_wildcards, 1, LINE_GEN, "weight: weight -1 must be >= 0",
	    3000),
	GEN("ports-80000.yaml", make_ports, 1, LINE_GEN, "port number 1 is duplicated (line 7)", 3000),
	/* A failed allocation names the phase it happened in: RLIMIT_AS set
	 * above the address space the binary needs for a tiny policy (its
	 * shared libraries move that base, so it is measured: as_base_mib).
	 * Measured windows for the 10 MB file, above the base: +10..+40 MiB fails
	 * while parsing, +42..+90 while compiling, and it passes from +92. */
		{ .name = "oom-parse.yaml", .make = make_10mb_valid, .rc = 1, .line = LINE_ANY,
	  .msg = "error: out of memory; stopped here", .max_ms = 5000, .as_limit_mib = 24 },
	{ .name = "oom-compile.yaml", .make = make_10mb_valid, .rc = 1, .line = 0,
	  .msg = "error: out of memory while compiling", .max_ms = 5000, .as_limit_mib = 66,
	  .no_file = true },
	/* not regular files */
	GEN("fifo.yaml", make_fifo, 2, 0, "a FIFO, not a regular file; not read", 2000),
	GEN("symlink-loop.yaml", make_symlink_loop, 2, 0, "Too many levels of symbolic links",
	    2000),
	GEN("device.yaml", make_device, 2, 0, "a device, not a regular file; not read", 2000),
	{ .name = "unreadable.yaml", .make = make_unreadable, .rc = 2, .line = 0,
	  .msg = "cannot read: Permission denied", .max_ms = 2000, .without_caps = true },
	{ .name = "dir-with-fifo", .make = make_dir_with_fifo, .rc = 0, .line = 0,
	  .msg = "warning: a FIFO, not a regular file; skipped", .diag_file = "/x.yaml",
	  .max_ms = 2000 },
	{ .name = "bad\xff\xfe.yaml", .make = make_name_not_utf8, .rc = 1, .line = 2,
	  .msg = "bad\\ufffd\\ufffd.yaml\",\"line\":2", .max_ms = 2000, .compile_json = true },
};

/* ---- running one row --------------------------------------------------- */

struct run {
	char *out;
	size_t len;
	int status;
	long ms;      /* CPU time of the child (user + system): load does not move it */
	long wall_ms;
	long rss_kib;
};

/* Output of the last run: static, so that the parent's RSS (which a forked
 * child's peak RSS starts from) stays flat from row to row. */
static char out_buf[OUT_MAX + 1];

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static unsigned int as_base_mib; /* see as_base_measure() */

static void child_exec(const struct bad_case *c, const char *path, int out_fd);
static void run_bin(const struct bad_case *c, const char *path, unsigned int max_ms,
		    struct run *r);

/* The smallest RLIMIT_AS (MiB) under which the binary lints a one-service
 * policy: the base the as_limit_mib rows are set above. */
static void as_base_measure(void)
{
	static const char tiny[] =
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: a, namespace: d}\nspec:\n  hosts: [a.d.svc.cluster.local]\n"
		"  addresses: [127.100.0.1]\n  ports: [{number: 80, name: tcp, protocol: TCP}]\n"
		"  resolution: STATIC\n  endpoints: [{address: 127.0.0.2}]\n";
	struct bad_case c = { .name = "as-base" };
	unsigned int lo = 1, hi = 1024; /* lint fails at lo, passes at hi */
	char path[600];
	struct run r;
	FILE *f;

	if (as_base_mib)
		return;
	snprintf(path, sizeof(path), "%s/as-base.yaml", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(tiny, f);
	fclose(f);
	while (hi - lo > 1) {
		as_base_mib = 0;
		c.as_limit_mib = (lo + hi) / 2;
		run_bin(&c, path, 5000, &r);
		if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
			hi = c.as_limit_mib;
		else
			lo = c.as_limit_mib;
	}
	as_base_mib = hi;
	print_message("address space for a tiny policy: %u MiB\n", as_base_mib);
}

static void child_exec(const struct bad_case *c, const char *path, int out_fd)
{
	const char *bin = getenv("BPFMESH") ? getenv("BPFMESH") : ".output/bpfmesh";

	dup2(out_fd, 1);
	dup2(out_fd, 2);
	/* Root reads any file: the child gives up its capabilities (securebits
	 * NOROOT: exec grants uid 0 none), so the file's mode 000 holds, while
	 * it stays root to reach a binary under a private home directory. */
	if (c->without_caps && geteuid() == 0 &&
	    (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) ||
	     prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0)))
		_exit(126);
	if (c->as_limit_mib) {
		rlim_t mib = (rlim_t)as_base_mib + c->as_limit_mib;
		struct rlimit rl = { .rlim_cur = mib << 20, .rlim_max = mib << 20 };

		if (setrlimit(RLIMIT_AS, &rl))
			_exit(126);
	}
	if (c->compile_json)
		execl(bin, bin, "compile", "-j", path, (char *)NULL);
	else
		execl(bin, bin, "lint", path, (char *)NULL);
	_exit(127);
}

/* Run the binary on path; kill it (our own child) past twice the bound. */
static void run_bin(const struct bad_case *c, const char *path, unsigned int max_ms,
		    struct run *r)
{
	struct timespec t0;
	struct rusage ru;
	int pfd[2];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->out = out_buf;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_exec(c, path, pfd[1]);
	close(pfd[1]);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char buf[65536];
		ssize_t n;

		if (ms_since(&t0) > 10 * (long)max_ms) { /* hung: wall clock, generous */
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (r->len < OUT_MAX) {
			size_t k = (size_t)n < OUT_MAX - r->len ? (size_t)n : OUT_MAX - r->len;

			memcpy(r->out + r->len, buf, k);
			r->len += k;
		}
	}
	r->out[r->len] = '\0';
	close(pfd[0]);
	assert_int_equal(wait4(pid, &r->status, 0, &ru), pid);
	r->wall_ms = ms_since(&t0);
	r->ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	r->rss_kib = ru.ru_maxrss;
}

/* A line of out that starts with "path:" (and "line:" unless 0 or any) and
 * contains msg. */
static bool has_diag(const char *out, const char *path, unsigned int line, const char *msg)
{
	char prefix[1024];
	const char *l;

	if (line == 0)
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	else if (line == LINE_ANY)
		snprintf(prefix, sizeof(prefix), "%s:", path);
	else
		snprintf(prefix, sizeof(prefix), "%s:%u:", path, line);
	for (l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);
		char *one = strndup(l, n);
		bool ok = one && strncmp(one, prefix, strlen(prefix)) == 0 && strstr(one, msg);

		free(one);
		if (ok)
			return true;
	}
	return false;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;

		if (!k || i + k > n || (k == 2 && c < 0xc2))
			return false;
		while (--k)
			if ((s[++i] & 0xc0) != 0x80)
				return false;
		i++;
	}
	return true;
}

static unsigned long long input_bytes(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	return (unsigned long long)st.st_size < POLICY_MAX_FILE_BYTES ? (unsigned long long)st.st_size
								       : 0; /* not read */
}

static void run_case(void **state)
{
	const struct bad_case *c = *state;
	unsigned int max_ms = c->max_ms ? c->max_ms : 5000, line = c->line, made = 0;
	unsigned long long bound_kib;
	char path[600], diag_path[700];
	struct run r;
	bool found;

	if (c->make) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, c->name);
		made = c->make(path);
	} else {
		snprintf(path, sizeof(path), "tests/bad-policies/%s", c->name);
	}
	if (line == LINE_GEN)
		line = made;
	snprintf(diag_path, sizeof(diag_path), "%s%s", c->no_file ? "<input>" : path,
		 c->no_file ? "" : c->diag_file ? c->diag_file : "");
	if (c->as_limit_mib)
		as_base_measure();
	run_bin(c, path, max_ms, &r);
	bound_kib = (BOUND_CONST_MIB << 10) + BOUND_PER_BYTE * input_bytes(path) / 1024;
	found = c->compile_json ? strstr(r.out, c->msg) != NULL
				: has_diag(r.out, diag_path, line, c->msg);
	print_message("%-40s exit %d %6ld ms cpu %6ld ms wall %7.1f MiB (bound %llu MiB)\n",
		      c->name, WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, r.ms, r.wall_ms,
		      (double)r.rss_kib / 1024, bound_kib >> 10);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != c->rc || r.ms > (long)max_ms ||
	    (unsigned long long)r.rss_kib > bound_kib || !found) {
		fprintf(stderr, "%.*s\n", (int)(r.len < 4000 ? r.len : 4000), r.out);
		fail_msg("%s: exit %d (want %d), %ld ms (max %u), %ld KiB (max %llu), "
			 "diagnostic %s:%u \"%s\" %s", c->name,
			 WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, c->rc, r.ms, max_ms,
			 r.rss_kib, bound_kib, diag_path, line, c->msg, found ? "found" : "missing");
	}
	if (c->compile_json && !utf8_valid((const unsigned char *)r.out, r.len))
		fail_msg("%s: compile -j printed bytes that are not UTF-8: %s", c->name, r.out);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), i;
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	int failed;

	if (!tests || !mkdtemp(tmpdir) || chmod(tmpdir, 0755) != 0) {
		perror("test_bad_policies: setup");
		return 1;
	}
	for (i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = run_case,
						.initial_state = &cases[i] };
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	failed = _cmocka_run_group_tests("bad_policies", tests, n, NULL, NULL);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(tests);
	return failed;
}
