#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Per-connect kernel cost of each loadBalancer algorithm (bpf/lib/lb_algo.h):
# one service of 10 endpoints whose DestinationRule asks for RANDOM,
# ROUND_ROBIN, LEAST_REQUEST (equal weights: P2C; weights 1..10: weighted),
# ROUND_ROBIN with weights 1..10 (a sequence table) and Maglev; a loopback
# connect/close loop against its VIP; connect4 and sockops run time per run
# from BPF run-time stats. Prints numbers, asserts nothing.
#
# Loopback inside a network namespace and a cgroup this script creates, with
# its own bpffs directory; everything is removed on exit, on failure too.
# Needs root.
set -euo pipefail

usage() {
	cat >&2 <<'EOF'
Usage: bench/lb.sh [--quick] [--rounds N] [--duration SECONDS]

  --quick      1 round of 0.5 s per algorithm
  --rounds     rounds (each measures every algorithm once, in order; default 3)
  --duration   measured seconds per sample (default 2)
EOF
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=3
DURATION=2
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) ROUNDS=1 DURATION=0.5 ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	-h | --help) usage ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "bench/lb.sh: needs root (netns, cgroup, BPF)" >&2; exit 1; }

BPFMESH=${BPFMESH:-$ROOT/.output/bpfmesh}
CB=$ROOT/.output/bench/connbench
# parse, kv, kill_wait, bpf_stats
source "$ROOT/bench/lib.sh"
build_connbench

log() { printf '[bench-lb %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG="" NS="" BPFROOT="" WORK="" SERVER_PID="" AGENT_PID="" STATS_PID="" NS_CREATED=0

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	solo_bench_stop
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

solo_bench_start bpfmesh-benchlb || exit 1

policy() { # lb weighted -> the policy file's text
	local lb=$1 weighted=$2 i
	printf 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n'
	printf 'metadata: {name: bench, namespace: default}\n'
	printf 'spec:\n  hosts: [bench.default.svc.cluster.local]\n  addresses: [127.100.0.1]\n'
	printf '  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n'
	printf '  resolution: STATIC\n  endpoints:\n'
	for i in $(seq 10); do
		printf '  - address: 127.0.1.%d\n' "$i"
		[ "$weighted" = 1 ] && printf '    weight: %d\n' "$i"
	done
	printf -- '---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n'
	printf 'metadata: {name: bench, namespace: default}\n'
	printf 'spec:\n  host: bench.default.svc.cluster.local\n'
	printf '  trafficPolicy:\n    loadBalancer: %s\n' "$lb"
}

VARIANTS=(
	"random|{simple: RANDOM}|0"
	"round_robin|{simple: ROUND_ROBIN}|0"
	"round_robin_w|{simple: ROUND_ROBIN}|1"
	"least_request|{simple: LEAST_REQUEST}|0"
	"least_request_w|{simple: LEAST_REQUEST}|1"
	"maglev|{consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}|0"
)

measure() { # name lb weighted round
	local name=$1 lb=$2 weighted=$3 round=$4 s0 s1 out i
	mkdir -p "$WORK/p-$name" "$BPFROOT/$name"
	policy "$lb" "$weighted" >"$WORK/p-$name/bench.yaml"
	"$BPFMESH" agent --policies "$WORK/p-$name" --cgroup "$CG" --bpffs "$BPFROOT/$name" \
		2>"$WORK/agent-$name.log" &
	AGENT_PID=$!
	for i in $(seq 100); do grep -q 'applied generation 1' "$WORK/agent-$name.log" && break; sleep 0.1; done
	grep -q 'applied generation 1' "$WORK/agent-$name.log" ||
		{ tail -5 "$WORK/agent-$name.log" >&2; exit 1; }
	s0=$(bpf_stats)
	out=$("$CB" client --netns "$NS" --cgroup "$CG" --targets 127.100.0.1:80 --threads 2 \
		--duration "$DURATION" --warmup 0.2 --label "$name")
	s1=$(bpf_stats)
	parse "$out"
	set -- $s0 $s1
	awk -v n="$name" -v r="$round" -v c4n=$(( $5 - $1 )) -v c4t=$(( $6 - $2 )) \
		-v son=$(( $7 - $3 )) -v sot=$(( $8 - $4 )) -v cps="${KV[cps]}" -v err="${KV[errors]}" \
		'BEGIN { printf "  round %d %-16s connect4 %6.0f ns/run  sockops %5.0f ns/run  %s conn/s  errors %s\n",
			r, n, c4n ? c4t / c4n : 0, son ? sot / son : 0, cps, err }'
	if [ "$round" = 1 ]; then # what the tables map holds for this policy
		bpftool -j map show pinned "$BPFROOT/$name/bpfmesh_lb4_tables_v1" 2>/dev/null |
			awk -v n="$name" 'match($0, /"bytes_memlock":[0-9]+/) {
				printf "  %-16s tables map: %.1f MB memlock\n", n,
					substr($0, RSTART + 16, RLENGTH - 16) / 1e6 }' || true
	fi
	kill_wait "$AGENT_PID"
	AGENT_PID=""
	# The next agent attaches afresh: this one's pins go with its directory.
	"$BPFMESH" uninstall --bpffs "$BPFROOT/$name" --cgroup "$CG" >/dev/null 2>&1 || true
	rm -rf "${BPFROOT:?}/$name"
}

log "kernel $(uname -r), $(nproc) CPUs; $ROUNDS rounds of ${DURATION}s; 10 endpoints"
for r in $(seq "$ROUNDS"); do
	for v in "${VARIANTS[@]}"; do
		IFS='|' read -r name lb weighted <<<"$v"
		measure "$name" "$lb" "$weighted" "$r"
	done
done
