#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Same-node acceleration benchmark (issue 13): request/response latency
# (1 B, 1 KiB, 64 KiB each way) and bulk throughput between two local
# sockets connected through a bpfmesh VIP, accelerated (an agent started
# with --sockmap) against plain loopback TCP (the same agent, a service
# annotated bpfmesh.io/sockmap: "off"), in one run, rounds interleaved. Prints the
# medians over rounds and the ratios; asserts nothing. docs/benchmarks.md.
#
# Runs in a network namespace and a cgroup it creates, with its own bpffs
# directory; removes all of it on exit, on failure too. Needs root.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
RR_N=${RR_N:-20000}
case "${1:-}" in
--quick) ROUNDS=1 RR_N=2000 BULK_SECS=${BULK_SECS:-1} ;; # smoke run, a few seconds
"") ;;
*) echo "Usage: bench/sockmap.sh [--quick]   (env: ROUNDS RR_N BULK_SECS BULK_CHUNK SAMPLES_OUT)" >&2; exit 2 ;;
esac
BULK_SECS=${BULK_SECS:-2}
BULK_CHUNK=${BULK_CHUNK:-131072}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BPFMESH=${BPFMESH:-.output/bpfmesh}
TOOL=.output/sockmap_bench
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
ID=bpfmesh-smbench-$$
CG=$CG_ROOT/$ID
NS=$ID
BPFFS=/sys/fs/bpf/$ID
WORK=$(mktemp -d /tmp/$ID.XXXX)
AGENT_PID=

cleanup() {
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
	fi
	# The agent leaves the data plane in force when it stops: remove it.
	"$BPFMESH" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rmdir "$CG" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ -n "$CG_ROOT" ] || { echo "no cgroup2 mount" >&2; exit 1; }
[ -x "$BPFMESH" ] || { echo "build first: make" >&2; exit 1; }
mkdir -p "$(dirname "$TOOL")"
gcc -O2 -Wall -Wextra -Werror -o "$TOOL" bench/sockmap_bench.c -lpthread

service() { # name vip endpoint port annotation
	cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: $1
  namespace: default
$5
spec:
  hosts: [$1.default.svc.cluster.local]
  addresses: [$2]
  ports:
  - {number: 80, name: tcp, protocol: TCP, targetPort: $4}
  resolution: STATIC
  endpoints:
  - address: $3
YAML
}
mkdir "$WORK/policies" "$CG"
{
	service accel 127.100.113.1 127.1.113.1 8080 ""
	service plain 127.100.113.2 127.1.113.1 8081 \
		"  annotations: {bpfmesh.io/sockmap: \"off\"}"
} > "$WORK/policies/bench.yaml"
ip netns add "$NS"
ip -n "$NS" link set lo up
"$BPFMESH" agent --sockmap --policies "$WORK/policies" --cgroup "$CG" --bpffs "$BPFFS" \
	2> "$WORK/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do
	grep -q "applied generation" "$WORK/agent.log" && break
	sleep 0.1
done
grep -q "applied generation" "$WORK/agent.log" || { cat "$WORK/agent.log" >&2; exit 1; }

# One measurement, inside the namespace and the managed cgroup.
measure() { # variant mode size n|secs
	local vip=127.100.113.1 port=8080
	[ "$1" = plain ] && { vip=127.100.113.2; port=8081; }
	# Join the cgroup, then the namespace (nsenter: ip netns exec would
	# remount /sys and hide the cgroup).
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
		nsenter --net="/run/netns/$NS" "$TOOL" "$2" "$vip" "127.1.113.1:$port" "$3" "$4" |
		sed "s/^/$1,/"
}

echo "kernel $(uname -r), $(nproc) CPUs, $ROUNDS rounds, rr $RR_N each, bulk ${BULK_SECS}s x ${BULK_CHUNK} B writes"
for r in $(seq "$ROUNDS"); do
	order="accel plain"
	[ $((r % 2)) = 0 ] && order="plain accel"
	for v in $order; do
		for s in 1 1024 65536; do
			n=$RR_N
			[ "$s" = 65536 ] && n=$((RR_N / 4))
			measure "$v" rr "$s" "$n"
		done
		measure "$v" bulk "$BULK_CHUNK" "$BULK_SECS"
	done
done > "$WORK/samples.csv"
# bench/run.sh keeps the per-round samples for its verdict table.
[ -z "${SAMPLES_OUT:-}" ] || cp "$WORK/samples.csv" "$SAMPLES_OUT"

# Medians over rounds, then ratios accelerated / plain.
python3 - "$WORK/samples.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
def med(v, kind, size, col):
    xs = [float(r[col]) for r in rows if r[0] == v and r[1] == kind and r[2] == size]
    return statistics.median(xs), len(xs)
print("| measure | plain loopback TCP | accelerated (sockmap) | accelerated / plain |")
print("|---|---:|---:|---:|")
for size, label in (("1", "1 B"), ("1024", "1 KiB"), ("65536", "64 KiB")):
    for col, name in ((4, "p50"), (6, "p99")):
        p, _ = med("plain", "rr", size, col)
        a, _ = med("accel", "rr", size, col)
        print(f"| request/response {label} {name} (µs) | {p:.1f} | {a:.1f} | {a/p:.2f} |")
chunk = [r[2] for r in rows if r[1] == "bulk"][0]
p, n = med("plain", "bulk", chunk, 4)
a, _ = med("accel", "bulk", chunk, 4)
print(f"| bulk throughput, {int(chunk)//1024} KiB writes (MB/s) | {p:.0f} | {a:.0f} | {a/p:.2f} |")
print(f"\nmedians of {n} rounds")
PY
# Proof the accelerated runs took the redirect path: the kernel's counters.
"$BPFMESH" stats --interval 0 --bpffs "$BPFFS" | grep '^same-node acceleration' ||
	echo "same-node acceleration: no counters (bpfmesh stats failed)"
