#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# BPF map memory, map by map, at N services x 10 endpoints (the policy of
# the rest of the bench): starts the agent on it, waits until the pinned
# services map holds every service, and prints `bpfmesh maps memory` (each
# pinned map: type, allocation, max_entries, key/value size, memlock) and
# the total that `make bench` reports (connbench mapmem: the pinned maps
# plus those the attached programs use: .rodata, .bss). Prints numbers,
# asserts nothing. See docs/benchmarks.md, "mapmem".
#
# No traffic: the agent attaches to a cgroup this script creates (empty),
# pins under its own bpffs directory; both go on exit, on failure too.
# Needs root.
set -euo pipefail

usage() {
	cat >&2 <<'EOF'
Usage: bench/mapmem.sh [--services "N ..."] [--sizes bench|old|default]
                       [--features all|none] [-- AGENT_ARGS...]

  --services  the scales (default "10 1000 10000")
  --sizes     the agent's size options: bench (default) those make bench
              gives it for N services (bench/sizes.sh); old the rule of
              make bench before mapmem (at least 4,096 clusters and 65,536
              endpoint slots, default services); default none
  --features  all (default): what make bench runs the agent with, every
              feature design.md names: --sockmap, --locality, --metrics, the
              policy with locality and outlierDetection (gen-policy
              --all-features); none: the agent and policy without them
  AGENT_ARGS  more agent options, e.g. -- --max-endpoints 40000

Environment: BPFMESH=path to the bpfmesh binary that runs the agent (default
.output/bpfmesh; e.g. an older build to compare); the table is this tree's.
EOF
	exit 2
}

SCALES="10 1000 10000" SIZES=bench FEATURES=all
while [ $# -gt 0 ]; do
	case "$1" in
	--services) SCALES=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--features) FEATURES=$2; shift ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done
EXTRA=("$@")
# The agent options and policy of make bench (bench/run.sh agent_start,
# run_load_scale): the same maps, so the same memory. Without them the
# sockmap maps (2 SOCKHASHes and 2 pending LRU hashes) are not created.
case "$FEATURES" in
all) FEATURE_ARGS=(--sockmap --locality region1/zone1/sub1 --metrics 127.0.0.1:0)
     POLICY_ARGS=(--all-features) ;;
none) FEATURE_ARGS=() POLICY_ARGS=() ;;
*) usage ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BPFMESH=${BPFMESH:-$ROOT/.output/bpfmesh}
VIEW=$ROOT/.output/bpfmesh # `maps memory` reads pins: any agent's
CB=$ROOT/.output/bench/connbench
# parse, kill_wait, stop_agent, build_connbench
source "$ROOT/bench/lib.sh"
build_connbench

CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG=$CGROOT/bpfmesh-mapmem-$$
BPFFS=/sys/fs/bpf/bpfmesh-mapmem-$$
WORK=$(mktemp -d /tmp/bpfmesh-mapmem.XXXXXX)
AGENT_PID=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	stop_agent
	rmdir "$CG" 2>/dev/null
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$CG"

echo "bpfmesh BPF map memory ($(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg))"
for n in $SCALES; do
	rm -rf "$WORK/policies"
	mkdir "$WORK/policies"
	"$CB" gen-policy --services "$n" --endpoints 10 "${POLICY_ARGS[@]}" \
		--out "$WORK/policies" >/dev/null
	last=$((n - 1))
	case "$SIZES" in
	bench) read -ra args <<<"$("$ROOT/bench/sizes.sh" "$n")" ;;
	old) args=(--max-clusters $(( (n * 3 + 1024) > 4096 ? n * 3 + 1024 : 4096 ))
		   --max-endpoints $(( (n * 20 + 1024) > 65536 ? n * 20 + 1024 : 65536 ))) ;;
	default) args=() ;;
	*) usage ;;
	esac
	args+=("${FEATURE_ARGS[@]}" "${EXTRA[@]}")
	"$BPFMESH" agent --policies "$WORK/policies" --cgroup "$CG" --bpffs "$BPFFS" \
		--state-dir "$WORK/state" "${args[@]}" >/dev/null 2>"$WORK/agent.log" &
	AGENT_PID=$!
	if ! "$CB" mapwait --bpffs "$BPFFS" --vip 127.100.0.1:80 --weight 90 \
		--also "127.100.$((last / 250)).$((last % 250 + 1)):80" --timeout 120 \
		--interval-us 1000 >/dev/null; then
		echo "== $n services: the agent did not apply the policy; its log:" >&2
		tail -5 "$WORK/agent.log" >&2
		stop_agent
		continue
	fi
	echo
	echo "== $n services x 10 endpoints, agent ${args[*]:-(default sizes)}"
	# The map can hold the last service before the agent logs the apply:
	# no line yet is no reason to stop (set -e, pipefail).
	grep 'applied generation' "$WORK/agent.log" | tail -1 | sed 's/.*bpfmesh: /   /' || true
	"$VIEW" maps memory --bpffs "$BPFFS"
	total=$("$CB" mapmem "$BPFFS" "$CG" | sed -n 's/^total_memlock=//p')
	echo "total as make bench counts it (pinned + used by the attached programs):" \
		"$(awk -v b="$total" 'BEGIN { printf "%.2f MiB (%.2f MB, %d bytes)", b / 1048576, b / 1e6, b }')"
	stop_agent
done
