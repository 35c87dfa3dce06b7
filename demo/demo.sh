#!/usr/bin/env bash
# The canary demo: three loopback backends (two v1, one v2), the agent on
# policies/examples/canary.yaml attached to a demo cgroup, a few thousand
# connections to the VIP from inside that cgroup, the split seen next to the
# policy's weights, what the kernel holds, then everything removed.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-5000}
POLICY=policies/examples/canary.yaml
BIN=.output/bpfmesh
TOOL=.output/demo-loopback
VIP=127.100.0.1 PORT=80

gcc -O2 -Wall -Wextra -Werror demo/loopback.c -o "$TOOL"

cg_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg_root" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG="$cg_root/bpfmesh-demo-$$"
BPFFS="/sys/fs/bpf/bpfmesh-demo-$$"
POLDIR=$(mktemp -d /tmp/bpfmesh-demo-XXXXXX)
LOG="$POLDIR.log"
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# The agent leaves the data plane in force when it stops: remove it.
	"$BIN" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null
	rmdir "$CG" 2>/dev/null
	rm -rf "$POLDIR" "$LOG"
}
trap cleanup EXIT

mkdir "$CG"
cp "$POLICY" "$POLDIR/"

echo "== backends: 127.0.1.1:8080 v1-a, 127.0.1.2:8080 v1-b, 127.0.1.3:8080 v2"
"$TOOL" serve 127.0.1.1 8080 v1-a & pids+=($!)
"$TOOL" serve 127.0.1.2 8080 v1-b & pids+=($!)
"$TOOL" serve 127.0.1.3 8080 v2 & pids+=($!)

echo "== agent on $POLICY, attached to $CG"
"$BIN" agent --policies "$POLDIR" --cgroup "$CG" --bpffs "$BPFFS" 2>"$LOG" & agent=$!
pids+=("$agent")
for _ in $(seq 200); do grep -q "applied generation" "$LOG" && break; sleep 0.05; done
cat "$LOG"
grep -q "applied generation" "$LOG" || { echo "agent did not apply the policy" >&2; exit 1; }

echo "== $N connections to $VIP:$PORT from inside the demo cgroup"
out=$(bash -c "echo \$\$ > '$CG/cgroup.procs'; exec '$TOOL' connect $VIP $PORT $N")
v1a=$(awk '$1 == "v1-a" { print $2 }' <<<"$out"); v1a=${v1a:-0}
v1b=$(awk '$1 == "v1-b" { print $2 }' <<<"$out"); v1b=${v1b:-0}
v2=$(awk '$1 == "v2" { print $2 }' <<<"$out"); v2=${v2:-0}
# The policy column comes from the compiler: each destination's share.
shares=$("$BIN" compile -j "$POLDIR" | grep -o '"share":[0-9.e-]*' | cut -d: -f2)
p1=$(sed -n 1p <<<"$shares") p2=$(sed -n 2p <<<"$shares")
awk -v a="$v1a" -v b="$v1b" -v c="$v2" -v n="$N" -v p1="$p1" -v p2="$p2" 'BEGIN {
	printf "  %-8s %8s %8s %8s\n", "subset", "conns", "seen", "policy"
	printf "  %-8s %8d %7.1f%% %7.1f%%\n", "v1", a + b, 100 * (a + b) / n, 100 * p1
	printf "  %-8s %8d %7.1f%% %7.1f%%\n", "v2", c, 100 * c / n, 100 * p2
	printf "  inside v1: v1-a %d, v1-b %d (even split expected)\n", a, b
}'
if grep -q '^failed' <<<"$out"; then echo "  $(grep '^failed' <<<"$out") connections failed"; fi

echo "== bpfmesh maps services"
"$BIN" maps services --bpffs "$BPFFS"
echo "== bpfmesh maps endpoints"
"$BIN" maps endpoints --bpffs "$BPFFS"
echo "== bpfmesh maps stats"
"$BIN" maps stats --bpffs "$BPFFS"

kill -TERM "$agent"; wait "$agent" || true
tail -1 "$LOG"
echo "== bpfmesh uninstall (SIGTERM left the data plane deciding)"
"$BIN" uninstall --bpffs "$BPFFS" --cgroup "$CG"
echo "== done: demo cgroup and backends are removed on exit"
