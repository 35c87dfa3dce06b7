// SPDX-License-Identifier: Apache-2.0
/*
 * What the verifier spends on the programs that choose endpoints, on this
 * kernel (the figures go to docs/benchmarks.md "verify" and docs/lb.md;
 * the check is that each program passes the verifier):
 *  - sock_addr (the bulk of a cold start, issue 12): every program loads
 *    on its own; its verified_insns (bpf_prog_info, Linux 5.16+) and the
 *    wall time of its load are printed. The maps are created first, by a
 *    load with no program, so a program's time is its verification (and
 *    JIT) alone.
 *  - tc: both programs load with every algorithm (the 6.1 verifier's
 *    complexity limit is what this guards).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ktest.h"
#include "sock_addr.skel.h"
#include "tc.skel.h"
#include "tc_fixture.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Instructions the verifier processed for prog, 0 when the kernel does not say. */
static __u32 prog_verified_insns(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.verified_insns;
}

/* The sock_addr object with only the program named only (NULL: none), its
 * maps pinned under pin_dir; loaded, or NULL. */
static struct sock_addr_bpf *load_only(const char *pin_dir, const char *only, double *ms)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct sock_addr_bpf *skel;
	struct bpf_program *prog;
	double t0;

	opts.pin_root_path = pin_dir;
	skel = sock_addr_bpf__open_opts(&opts);
	if (!skel)
		return NULL;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, only && !strcmp(bpf_program__name(prog), only));
	t0 = now_ms();
	if (sock_addr_bpf__load(skel)) {
		sock_addr_bpf__destroy(skel);
		return NULL;
	}
	*ms = now_ms() - t0;
	return skel;
}

KTEST(sock_addr_verifier_stats)
{
	struct ktest_env env;
	struct sock_addr_bpf *maps, *one;
	struct bpf_program *prog;
	__u32 insns, total_insns = 0;
	double ms, total_ms = 0;

	if (!ASSERT_OK(env_setup(&env), "env_setup"))
		goto out;
	if (!ASSERT_OK(mkdir(env.bpffs, 0700) ? -errno : 0, "mkdir bpffs dir"))
		goto out;
	maps = load_only(env.bpffs, NULL, &ms);
	if (!ASSERT_TRUE(maps != NULL, "create and pin the maps"))
		goto out;
	printf("  sock_addr_verifier_stats: maps %.1f ms\n", ms);
	bpf_object__for_each_program(prog, maps->obj) {
		const char *name = bpf_program__name(prog);

		one = load_only(env.bpffs, name, &ms);
		if (!ASSERT_TRUE(one != NULL, name))
			continue;
		insns = prog_verified_insns(bpf_object__find_program_by_name(one->obj, name));
		printf("  sock_addr_verifier_stats: %-22s verified_insns %7u  load %7.1f ms\n",
		       name, insns, ms);
		total_insns += insns;
		total_ms += ms;
		sock_addr_bpf__destroy(one);
	}
	printf("  sock_addr_verifier_stats: %-22s verified_insns %7u  load %7.1f ms\n", "total",
	       total_insns, total_ms);
	sock_addr_bpf__destroy(maps);
out:
	env_teardown(&env);
}

KTEST(tc_verifier_stats)
{
	struct tc_fixture fx;
	struct tc_bpf *skel = tc_fixture_open(&fx, 0);

	if (!ASSERT_TRUE(skel != NULL, "tc programs load"))
		return;
	printf("  tc_verifier_stats: verified_insns ingress %u, egress %u; xlated insns "
	       "ingress %zu\n", prog_verified_insns(skel->progs.bpfmesh_tc_ingress),
	       prog_verified_insns(skel->progs.bpfmesh_tc_egress),
	       bpf_program__insn_cnt(skel->progs.bpfmesh_tc_ingress));
	tc_fixture_close(&fx, skel);
}
