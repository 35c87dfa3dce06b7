// SPDX-License-Identifier: Apache-2.0
/*
 * The stack the TC programs use, on this kernel: a BPF program and the
 * functions it calls share 512 bytes (MAX_BPF_STACK), and what a function
 * needs depends on the compiler's spills and on the verifier's own
 * accounting, so a version one kernel accepted has been refused by Linux
 * 6.1 (issue: tc.bpf.c near the limit there). Each program is loaded with
 * the verifier's statistics log (BPF_LOG_STATS), whose "stack depth A+B+.."
 * line gives every function's frame in the kernel's function order (that
 * of bpf_prog_info's func_info); the calls between them are read from the
 * translated instructions (a pseudo call's off is its target's relative
 * offset, JIT or not). The deepest chain is summed as the verifier checks
 * it (check_max_stack_depth: each frame rounded up to 32 bytes), printed,
 * and held to TC_STACK_BUDGET, well under 512, so that a change that eats
 * the headroom fails here, on both kernels, before it fails to load on one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "ktest.h"
#include "tc.skel.h"

#define TC_STACK_BUDGET 384 /* bytes of the 512 the programs may use */
#define MAX_FUNCS 64
#define LOG_LEN (1 << 16)

struct prog_stack {
	int n_funcs;
	__u32 depth[MAX_FUNCS];   /* the verifier's figure, per function */
	__u32 insn_off[MAX_FUNCS]; /* where each function starts */
	__u32 type_id[MAX_FUNCS];
	__u64 calls[MAX_FUNCS];   /* bit j of calls[i]: function i calls j */
};

/* "stack depth A+B+..." of the statistics log into s->depth; the count. */
static int parse_depths(const char *log, struct prog_stack *s)
{
	const char *p = strstr(log, "stack depth ");
	int n = 0;
	char *end;

	if (!p)
		return -ENOENT;
	p += strlen("stack depth ");
	while (n < MAX_FUNCS) {
		s->depth[n++] = strtoul(p, &end, 10);
		if (end == p)
			return -EINVAL;
		if (*end != '+')
			break;
		p = end + 1;
	}
	return n;
}

static int func_of(const struct prog_stack *s, __u32 insn)
{
	int i;

	for (i = s->n_funcs - 1; i > 0; i--)
		if (insn >= s->insn_off[i])
			return i;
	return 0;
}

/* The functions' starts and names (func_info) and who calls whom. */
static int read_call_graph(int prog_fd, struct prog_stack *s)
{
	struct bpf_func_info fi[MAX_FUNCS];
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), n_insns, i;
	struct bpf_insn *insns;
	int err;

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	if (info.nr_func_info > MAX_FUNCS || info.func_info_rec_size != sizeof(fi[0]))
		return -E2BIG;
	n_insns = info.xlated_prog_len / sizeof(*insns);
	insns = calloc(n_insns ? n_insns : 1, sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memset(&info, 0, sizeof(info));
	info.nr_func_info = s->n_funcs;
	info.func_info_rec_size = sizeof(fi[0]);
	info.func_info = (__u64)(unsigned long)fi;
	info.xlated_prog_len = n_insns * sizeof(*insns);
	info.xlated_prog_insns = (__u64)(unsigned long)insns;
	err = bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? -errno : 0;
	if (!err && (int)info.nr_func_info != s->n_funcs)
		err = -EPROTO; /* the log's functions are func_info's */
	for (i = 0; !err && i < (__u32)s->n_funcs; i++) {
		s->insn_off[i] = fi[i].insn_off;
		s->type_id[i] = fi[i].type_id;
	}
	for (i = 0; !err && i < n_insns; i++)
		if (insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src_reg == BPF_PSEUDO_CALL)
			s->calls[func_of(s, i)] |= 1ULL << func_of(s, i + insns[i].off + 1);
	free(insns);
	return err;
}

/* A frame as the verifier adds it up: rounded up to 32 bytes (Linux 6.1;
 * later kernels round a JITed program's frames up to 16 only:
 * round_up_stack_depth). */
static __u32 frame(__u32 depth, __u32 round)
{
	return ((depth ? depth : 1) + round - 1) / round * round;
}

/* The deepest chain from function f (the call graph has no cycles: the
 * verifier refuses recursion), its path into path[] (names' indexes). */
static __u32 deepest(const struct prog_stack *s, int f, __u32 round, int *path, int *len)
{
	int sub[MAX_FUNCS], best_path[MAX_FUNCS], sub_len, best_len = 0, j;
	__u32 best = 0, d;

	for (j = 0; j < s->n_funcs; j++) {
		if (!(s->calls[f] & (1ULL << j)) || j == f)
			continue;
		d = deepest(s, j, round, sub, &sub_len);
		if (d > best) {
			best = d;
			best_len = sub_len;
			memcpy(best_path, sub, sizeof(*sub) * sub_len);
		}
	}
	path[0] = f;
	memcpy(path + 1, best_path, sizeof(*path) * best_len);
	*len = best_len + 1;
	return frame(s->depth[f], round) + best;
}

static const char *func_name(const struct btf *btf, const struct prog_stack *s, int f)
{
	const struct btf_type *t = btf ? btf__type_by_id(btf, s->type_id[f]) : NULL;

	return t ? btf__name_by_offset(btf, t->name_off) : "?";
}

/* Loaded program prog (its statistics log in log): print its frames and
 * deepest chain; the chain's bytes, or negative errno. */
static long report(const struct bpf_object *obj, const struct bpf_program *prog, const char *log)
{
	struct prog_stack s = {};
	const struct btf *btf = bpf_object__btf(obj);
	int path[MAX_FUNCS], len, i, err;
	__u32 chain, chain16;

	s.n_funcs = parse_depths(log, &s);
	if (s.n_funcs < 0)
		return s.n_funcs;
	err = read_call_graph(bpf_program__fd(prog), &s);
	if (err)
		return err;
	chain16 = deepest(&s, 0, 16, path, &len);
	chain = deepest(&s, 0, 32, path, &len);
	printf("  tc_stack_depth: %-18s stack depth (verifier) ", bpf_program__name(prog));
	for (i = 0; i < s.n_funcs; i++)
		printf("%s%s %u", i ? ", " : "", func_name(btf, &s, i), s.depth[i]);
	printf("\n  tc_stack_depth: %-18s deepest chain %u bytes of 512 (frames rounded to 32 "
	       "as 6.1 counts; %u rounded to 16):", bpf_program__name(prog), chain, chain16);
	for (i = 0; i < len; i++)
		printf(" %s%s", i ? "-> " : "", func_name(btf, &s, path[i]));
	printf("\n");
	return chain;
}

KTEST(tc_stack_depth)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	static char log_in[LOG_LEN], log_eg[LOG_LEN];
	char pin_dir[64];
	struct tc_bpf *skel = NULL;
	long in, eg;

	/* maps pinned by name: in a directory of this run's own */
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/bpfmesh-tcstack-%d", getpid());
	if (!ASSERT_OK(mkdir(pin_dir, 0700) ? -errno : 0, "pin dir"))
		return;
	opts.pin_root_path = pin_dir;
	skel = tc_bpf__open_opts(&opts);
	if (!ASSERT_TRUE(skel != NULL, "open tc"))
		goto out;
	bpf_program__set_log_level(skel->progs.bpfmesh_tc_ingress, 4); /* BPF_LOG_STATS */
	bpf_program__set_log_buf(skel->progs.bpfmesh_tc_ingress, log_in, sizeof(log_in));
	bpf_program__set_log_level(skel->progs.bpfmesh_tc_egress, 4);
	bpf_program__set_log_buf(skel->progs.bpfmesh_tc_egress, log_eg, sizeof(log_eg));
	if (!ASSERT_OK(tc_bpf__load(skel), "tc programs load"))
		goto out;
	in = report(skel->obj, skel->progs.bpfmesh_tc_ingress, log_in);
	eg = report(skel->obj, skel->progs.bpfmesh_tc_egress, log_eg);
	if (!ASSERT_TRUE(in > 0 && eg > 0, "stack depths read"))
		goto out;
	ASSERT_TRUE(in <= TC_STACK_BUDGET, "ingress: the deepest chain within the budget");
	ASSERT_TRUE(eg <= TC_STACK_BUDGET, "egress: the deepest chain within the budget");
out:
	if (skel) {
		struct bpf_map *m;

		bpf_object__for_each_map(m, skel->obj)
			bpf_map__unpin(m, NULL);
	}
	tc_bpf__destroy(skel);
	rmdir(pin_dir);
}
