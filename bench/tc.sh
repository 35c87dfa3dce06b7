#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bpfmesh TC path benchmarks (docs/benchmarks.md, "TC packet path"):
#  1. per-packet cost of the TC program, measured by the kernel with
#     BPF_PROG_TEST_RUN (bench/tcbench.c): first packet of a flow (and per
#     loadBalancer algorithm), established flow both ways, and a packet that
#     is no service's;
#  2. connection rate from an unmanaged client namespace through a node
#     namespace running the agent with --interfaces: to the VIP (TC path,
#     translated) against straight to the backends through the same node,
#     connection by connection interleaved (connbench --mix), and the same
#     direct traffic with no program attached.
# Prints numbers, asserts nothing. Everything runs inside namespaces, a
# cgroup and a bpffs directory this script creates (addresses in
# 198.18.0.0/15), all removed on exit, on failure too. Needs root.
set -euo pipefail

usage() {
	cat >&2 <<'USAGE'
Usage: bench/tc.sh [--quick] [--rounds N] [--duration SECONDS] [--out DIR]

  --quick     one short round (< 30 s)
  --rounds    connection-rate rounds (default 5)
  --duration  measured seconds per round (default 2)
  --out       results directory (default bench/results/tc-<timestamp>)
USAGE
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=5 DURATION=2 RUNS=60000 OUT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) ROUNDS=1 DURATION=0.5 RUNS=10000 ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "bench/tc.sh: needs root (netns, cgroup, BPF)" >&2; exit 1; }

BPFMESH=${BPFMESH:-$ROOT/.output/bpfmesh}
CB=$ROOT/.output/bench/connbench
TB=$ROOT/.output/bench/tcbench
RES=${OUT:-$ROOT/bench/results/tc-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RES"
log() { printf '[tc-bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

NS_C=bpfmesh-tcb-$$-client NS_N=bpfmesh-tcb-$$-node NS_B=bpfmesh-tcb-$$-backend
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG=$CGROOT/bpfmesh-tcb-$$
BPFFS=/sys/fs/bpf/bpfmesh-tcb-$$
POL=$(mktemp -d)
SERVER_PID="" AGENT_PID=""

kill_wait() { # pid: end one process we started, by pid
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	kill_wait "$AGENT_PID"
	kill_wait "$SERVER_PID"
	# The agent leaves the data plane in force when it stops: remove it.
	[ -x "$BPFMESH" ] && "$BPFMESH" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1
	for ns in "$NS_C" "$NS_N" "$NS_B"; do ip netns del "$ns" 2>/dev/null; done
	rmdir "$CG" 2>/dev/null
	rm -rf "$BPFFS" "$POL"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() {
	mkdir -p "$ROOT/.output/bench"
	make -s --no-print-directory .output/tc.skel.h
	gcc -O2 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/bench/connbench.c" -o "$CB" \
		-lpthread
	gcc -O2 -Wall -Wextra -Werror -Iinclude -Iinclude/bpfmesh -Iuser -I.output -Itests/kern \
		bench/tcbench.c tests/kern/tc_fixture.c tests/kern/pkt_build.c \
		user/apply/maglev.c user/policy/check.c -lbpf -lelf -lz -o "$TB"
}

# Same shape as tests/kern/topo.h, with the node in a namespace of its own.
topology() {
	local n="ip -n $NS_N"
	ip netns add "$NS_C"; ip netns add "$NS_N"; ip netns add "$NS_B"
	$n link add bpfm-c type veth peer name eth0 netns "$NS_C"
	$n link add bpfm-b type veth peer name eth0 netns "$NS_B"
	$n addr add 198.18.1.1/24 dev bpfm-c; $n link set bpfm-c up
	$n addr add 198.18.2.254/24 dev bpfm-b; $n link set bpfm-b up; $n link set lo up
	# shellcheck disable=SC2016 # $f is the inner shell's
	ip netns exec "$NS_N" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward
		for f in all default bpfm-c bpfm-b; do
			echo 0 >/proc/sys/net/ipv4/conf/$f/rp_filter; done'
	ip -n "$NS_C" link set lo up; ip -n "$NS_C" link set eth0 up
	ip -n "$NS_C" addr add 198.18.1.2/24 dev eth0
	ip -n "$NS_C" route add default via 198.18.1.1
	# As bench/run.sh: without these the client runs out of ports to
	# TIME_WAIT within a few rounds and measures that instead.
	ip netns exec "$NS_C" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
		net.ipv4.tcp_tw_reuse=1
	ip netns exec "$NS_B" sysctl -q -w net.core.somaxconn=4096
	ip -n "$NS_B" link set lo up; ip -n "$NS_B" link set eth0 up
	for i in 1 2 3; do ip -n "$NS_B" addr add 198.18.2.$i/24 dev eth0; done
	ip -n "$NS_B" route add default via 198.18.2.254
}

policy() {
	cat >"$POL/tc.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [198.19.0.1]
  ports:
  - {number: 80, name: tcp-web, protocol: TCP, targetPort: 8080}
  resolution: STATIC
  endpoints:
  - {address: 198.18.2.1, labels: {version: v1}}
  - {address: 198.18.2.2, labels: {version: v1}}
  - {address: 198.18.2.3, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  tcp:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
YAML
}

client() { # label targets-or-mix...
	"$CB" client --netns "$NS_C" --threads 2 --duration "$DURATION" --warmup 0.3 "$@"
}

build
log "per-packet cost (BPF_PROG_TEST_RUN, $RUNS runs a case)"
"$TB" "$RUNS" | tee "$RES/tc-packet.txt"

topology
policy
"$CB" serve --netns "$NS_B" --addrs 198.18.2.1-3:8080 --threads 2 &
SERVER_PID=$!
sleep 0.5
log "connection rate, no program attached (direct to the backends)"
for _ in $(seq "$ROUNDS"); do client --targets 198.18.2.1-3:8080 --label direct-noprog; done |
	tee "$RES/tc-conn-noprog.txt"

mkdir -p "$CG"
nsenter --net=/run/netns/"$NS_N" "$BPFMESH" agent --policies "$POL" --cgroup "$CG" \
	--bpffs "$BPFFS" --interfaces bpfm-c,bpfm-b 2>"$RES/agent.log" &
AGENT_PID=$!
for i in $(seq 100); do grep -q 'applied generation' "$RES/agent.log" && break; sleep 0.1; done
grep -q 'applied generation' "$RES/agent.log" || { cat "$RES/agent.log"; exit 1; }
log "$(grep -o 'TC ingress.*' "$RES/agent.log")"
log "connection rate, interleaved: TC path (VIP) vs direct through the same node"
for _ in $(seq "$ROUNDS"); do
	client --mix "tc=198.19.0.1:80;direct=198.18.2.1-3:8080"
done | tee "$RES/tc-conn-mix.txt"
log "results in $RES"
