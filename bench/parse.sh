#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Policy read+parse at a cold start (docs/benchmarks.md, "parse"): the
# directory connbench writes for N services x 10 endpoints, read and parsed
# as the agent's start does, RUNS times; wall and CPU time of each. THREADS
# 2 allows the two-part parse of a large file (user/policy/parse.h). No
# root, no kernel. Prints numbers, asserts nothing.
set -euo pipefail
N=${1:-10000} RUNS=${2:-5} THREADS=${3:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/.output/bench
make -C "$ROOT" --no-print-directory .output/bpfmesh >/dev/null
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -Werror -Wno-unused-parameter -I"$ROOT/include" -I"$ROOT/user" \
	-I"$ROOT/.output" "$ROOT/bench/parsebench.c" \
	$(ls "$ROOT"/.output/obj/user/*/*.o | grep -v cli/main.o) \
	-lbpf -lelf -lz -lyaml -lpthread -lmicrohttpd -lcurl -ljson-c -o "$OUT/parsebench"
if [ ! -x "$OUT/connbench" ] || [ "$ROOT/bench/connbench.c" -nt "$OUT/connbench" ]; then
	gcc -O2 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/bench/connbench.c" \
		-o "$OUT/connbench" -lpthread
fi
WORK=$(mktemp -d /tmp/bpfmesh-parse.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$OUT/connbench" gen-policy --services "$N" --endpoints 10 --out "$WORK" >/dev/null
echo "policy read+parse, $N services x 10 endpoints ($(du -sh "$WORK" | cut -f1)), $THREADS" \
	"thread(s) ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$OUT/parsebench" "$WORK" "$RUNS" "$THREADS"
