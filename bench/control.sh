#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Control-plane figures (issue 12) at N services x 10 endpoints: the agent's
# cold start (start until the pinned services map holds the first and the
# last service), a weight change (atomic rename of the edited policy file
# until the map holds the new weight), a one-endpoint change (the same, one
# v1 endpoint of the measured service removed and back, until its set holds
# that many), the agent's own per-phase timing of each (-v: read+parse,
# choose, compile incremental or full, plan, exec, the time after the maps)
# and its peak and current RSS. Prints numbers (median and range), asserts
# nothing.
#
# No traffic: the agent attaches to a cgroup this script creates (empty),
# pins under its own bpffs directory; both are removed on exit, on failure
# too. Needs root. See docs/benchmarks.md.
set -euo pipefail

usage() {
	cat >&2 <<'EOF'
Usage: bench/control.sh [--services N] [--changes N] [--starts N]

  --services  services x 10 endpoints in the policy (default 10000)
  --changes   weight changes timed, and as many endpoint changes
              (default 10: 90/10 <-> 75/25; 9 <-> 8 v1 endpoints)
  --starts    cold starts timed (default 3)

Environment: BPFMESH=path to the bpfmesh binary (default .output/bpfmesh).
EOF
	exit 2
}

N=10000 CHANGES=10 STARTS=3
while [ $# -gt 0 ]; do
	case "$1" in
	--services) N=$2; shift ;;
	--changes) CHANGES=$2; shift ;;
	--starts) STARTS=$2; shift ;;
	-h | --help) usage ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BPFMESH=${BPFMESH:-$ROOT/.output/bpfmesh}
CB=$ROOT/.output/bench/connbench
# parse, kill_wait, stop_agent, build_connbench
source "$ROOT/bench/lib.sh"
build_connbench

CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG=$CGROOT/bpfmesh-ctl-$$
BPFFS=/sys/fs/bpf/bpfmesh-ctl-$$
WORK=$(mktemp -d /tmp/bpfmesh-ctl.XXXXXX)
AGENT_PID="" WAIT_PID=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[ -z "$WAIT_PID" ] || kill -TERM "$WAIT_PID" 2>/dev/null
	stop_agent
	rmdir "$CG" 2>/dev/null
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/agent.log" "$KEEP_LOG"
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
# bash runs a trap only once the foreground command returns: the long
# waits below run in the background under `wait` (which a signal ends), so
# TERM/INT clean up at once.
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$CG"

# mapwait ARGS... -> MAPWAIT (its output line), interruptible (see the traps).
mapwait() {
	"$CB" mapwait "$@" >"$WORK/mapwait.out" &
	WAIT_PID=$!
	wait "$WAIT_PID" || true
	WAIT_PID=""
	MAPWAIT=$(cat "$WORK/mapwait.out")
}

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# "median M (min-max)" of the numbers in $1 (timeouts left out, counted).
summary() {
	local nums
	nums=$(tr ' ' '\n' <<<"$1" | grep -E '^[0-9.]+$' || true)
	[ -n "$nums" ] || { echo "no figure"; return; }
	echo "median $(median <<<"$nums") ($(sort -n <<<"$nums" | head -1)-$(sort -n <<<"$nums" | tail -1))$(
		t=$(tr ' ' '\n' <<<"$1" | grep -c timeout || true); [ "$t" = 0 ] || echo ", $t timeouts")"
}
# The agent's log lines of its last apply: what it wrote and its timing.
agent_lines() {
	grep 'applied generation' "$WORK/agent.log" | tail -1 | sed 's/.*bpfmesh: /  agent: /'
	grep 'timing:' "$WORK/agent.log" | tail -1 | sed 's/.*bpfmesh: /  agent /'
}

mkdir "$WORK/policies"
"$CB" gen-policy --services "$N" --endpoints 10 --out "$WORK/policies"
last=$((N - 1))
LAST_VIP="127.100.$((last / 250)).$((last % 250 + 1)):80"

# Map sizes for N services, as make bench's (bench/sizes.sh).
read -ra SIZES <<<"$("$ROOT/bench/sizes.sh" "$N")"

start_agent() { # -> START_MS: start until the map holds all
	local t0 w
	t0=$(date +%s%N)
	"$BPFMESH" agent -v --policies "$WORK/policies" --cgroup "$CG" --bpffs "$BPFFS" \
		--state-dir "$WORK/state" "${SIZES[@]}" \
		>/dev/null 2>"$WORK/agent.log" &
	AGENT_PID=$!
	mapwait --bpffs "$BPFFS" --vip 127.100.0.1:80 --weight 90 --also "$LAST_VIP" \
		--since-ns "$t0" --timeout 120 --interval-us 200
	START_MS=$(kv ms "$MAPWAIT")
}

echo "bpfmesh control plane, $N services x 10 endpoints ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
starts=""
for i in $(seq "$STARTS"); do
	start_agent
	starts="$starts $START_MS"
	[ "$i" -lt "$STARTS" ] && stop_agent
done
echo "cold start, start -> map holds all (ms):$starts; $(summary "$starts")"
agent_lines

changes=""
for i in $(seq "$CHANGES"); do
	if [ $((i % 2)) = 1 ]; then wts=75/25 pct=75; else wts=90/10 pct=90; fi
	"$CB" gen-policy --services "$N" --out "$WORK/measured.tmp" --measured-only --weights "$wts"
	mapwait --bpffs "$BPFFS" --vip 127.100.0.1:80 --weight "$pct" \
		--rename "$WORK/measured.tmp" "$WORK/policies/bench-measured.yaml" \
		--timeout 60 --interval-us 100
	changes="$changes $(kv ms "$MAPWAIT")"
	sleep 0.3 # the agent's log line after the map write
done
echo "weight change, rename -> map holds it (ms):$changes; $(summary "$changes")"
agent_lines
per_change() { # the agent's own time for each of the last $CHANGES applies
	grep 'timing:' "$WORK/agent.log" | tail -n "$CHANGES" |
		sed -n 's/.*read+parse \([0-9.]*\) ms.*choose \([0-9.]*\) ms, compile \([0-9.]*\) ms (\([a-z]*\).*plan \([0-9.]*\) ms (\([a-z]*\).*exec \([0-9.]*\) ms.*/\1 \2 \3 \4 \5 \6 \7/p' |
		awk '{ t[NR] = $1 + $2 + $3 + $5 + $7; pe[NR] = $5 + $7; inc += $4 == "incremental"
		       pinc += $6 == "incremental" }
		     END { printf "  agent, %d changes, %d compiled incrementally, %d planned incrementally; read+parse+choose+compile+plan+exec (ms):", NR, inc, pinc;
			   for (i = 1; i <= NR; i++) printf " %.1f", t[i]; printf "; plan+exec (ms):";
			   for (i = 1; i <= NR; i++) printf " %.2f", pe[i]; print "" }'
}
per_change

# One endpoint: v1 of the measured service loses its 9th endpoint, then gets
# it back (8 <-> 9 endpoints in the set its route draws first).
"$CB" gen-policy --services "$N" --out "$WORK/ep9.yaml" --measured-only --weights 90/10
awk '/- address: 127.0.1.9$/ { skip = 5 } skip > 0 { skip--; next } { print }' \
	"$WORK/ep9.yaml" >"$WORK/ep8.yaml"
eps=""
for i in $(seq "$CHANGES"); do
	if [ $((i % 2)) = 1 ]; then src=ep8 n=8; else src=ep9 n=9; fi
	cp "$WORK/$src.yaml" "$WORK/measured.tmp"
	w=$("$CB" mapwait --bpffs "$BPFFS" --vip 127.100.0.1:80 --weight 90 --slots "$n" \
		--rename "$WORK/measured.tmp" "$WORK/policies/bench-measured.yaml" \
		--timeout 60 --interval-us 100) || true
	eps="$eps $(kv ms "$w")"
	sleep 0.3
done
echo "one-endpoint change, rename -> map holds it (ms):$eps; $(summary "$eps")"
agent_lines
per_change
echo "agent memory: $(awk '/VmHWM|VmRSS/ { printf "%s %d MiB  ", $1, $2 / 1024 }' /proc/"$AGENT_PID"/status)"
