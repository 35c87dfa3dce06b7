#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# BPF time of one connect decision, with every feature of a cluster on:
# health counters, outlier ejection, locality, sockmap, connection limits
# (and connect timeout, keepalive). Per round and per agent binary given
# (old/new alternated inside each round, so both see the same machine):
#
#   hit    connect/request/close loop to a VIP; connect4 ns per run
#   miss   the same loop to the endpoints directly; connect4 ns per run
#          (a lookup that finds no service)
#   mix    VIP and direct alternated connection by connection in one
#          client (random order each pair): VIP vs direct latency
#   nosvc  the direct loop from sockets made in the managed cgroup and in
#          a bare one (nothing attached), alternated the same way:
#          non-service connects against no agent
#
# and the sockops programs' ns per connection (every program on the hook,
# summed: calls per connection and ns per call each). Medians over rounds
# at the end. Prints numbers, asserts nothing.
#
# Loopback inside a network namespace and a cgroup this script creates, its
# own bpffs directory; BPF run-time stats held on through BPF_ENABLE_STATS
# (connbench statshold: an fd, so a crash cannot leave the sysctl on and
# another user's setting is left alone). Everything is removed on exit,
# on failure too. Needs root.
set -euo pipefail

usage() {
	cat >&2 <<'EOF'
Usage: bench/decide.sh [--rounds N] [--duration SECONDS] [--services N]
                       [--threads N] [--no-stats] [LABEL=BPFMESH_BINARY ...]

  --rounds     rounds (each measures every binary once, in the order given; default 3)
  --duration   measured seconds per sample (default 2)
  --services   services in the policy (default 10; the measured one is the first)
  --threads    client threads (default 2)
  --no-stats   BPF run-time stats off (their clock reads cost every program
               run): latencies only, the ns columns read 0
  LABEL=PATH   agent binaries to alternate (default: new=.output/bpfmesh)
EOF
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=3
DURATION=2
SERVICES=10
THREADS=2
STATS=1
BINS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--services) SERVICES=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--no-stats) STATS=0 ;;
	-h | --help) usage ;;
	*=*) BINS+=("$1") ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done
[ ${#BINS[@]} -gt 0 ] || BINS=("new=$ROOT/.output/bpfmesh")
[ "$(id -u)" = 0 ] || { echo "bench/decide.sh: needs root (netns, cgroup, BPF)" >&2; exit 1; }

CB=$ROOT/.output/bench/connbench
# parse, kv, kill_wait
source "$ROOT/bench/lib.sh"
build_connbench

log() { printf '[bench-decide %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG="" NS="" BPFROOT="" WORK="" SERVER_PID="" AGENT_PID="" STATS_PID="" NS_CREATED=0 BPFFS=""
CG_BARE="" # nothing attached: the non-service connects' "no agent" side
AGENT_BIN=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	kill_wait "$AGENT_PID"
	[ -n "$BPFFS" ] && [ -n "$AGENT_BIN" ] &&
		"$AGENT_BIN" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1
	solo_bench_stop
	[ -n "$CG_BARE" ] && rmdir "$CG_BARE" 2>/dev/null
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

solo_bench_start bpfmesh-decide || exit 1
if [ "$STATS" = 0 ]; then # its fd closed: the kernel stops counting
	kill_wait "$STATS_PID"
	STATS_PID=""
fi
CG_BARE=$CG-bare
mkdir "$CG_BARE"

# One service: 10 endpoints over two localities (this node's first), and a
# DestinationRule with every per-cluster feature: connection limit, connect
# timeout, keepalive, outlier detection, locality failover. Limits far
# above what the loop opens: nothing is refused or ejected, all is counted.
service() { # index vip
	local s=$1 vip=$2 i
	printf -- '---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n'
	printf 'metadata: {name: svc-%d, namespace: bench}\n' "$s"
	printf 'spec:\n  hosts: [svc-%d.bench.svc.cluster.local]\n  addresses: [%s]\n' "$s" "$vip"
	printf '  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]\n'
	printf '  resolution: STATIC\n  endpoints:\n'
	for i in $(seq 10); do
		printf '  - {address: 127.0.1.%d, locality: %s}\n' "$i" \
			"$([ "$i" -le 7 ] && echo r1/z1/s1 || echo r1/z2/s1)"
	done
	printf -- '---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n'
	printf 'metadata: {name: svc-%d, namespace: bench}\n' "$s"
	printf 'spec:\n  host: svc-%d.bench.svc.cluster.local\n  trafficPolicy:\n' "$s"
	printf '    connectionPool:\n      tcp: {maxConnections: 1000000, connectTimeout: 5s,'
	printf ' tcpKeepalive: {time: 600s, interval: 60s, probes: 5}}\n'
	printf '    outlierDetection: {consecutive5xxErrors: 5, interval: 10s,'
	printf ' baseEjectionTime: 30s, maxEjectionPercent: 50}\n'
	printf '    loadBalancer: {simple: RANDOM, localityLbSetting: {enabled: true}}\n'
}

mkdir -p "$WORK/policies"
for s in $(seq 0 $(( SERVICES - 1 ))); do
	service "$s" "127.100.$(( s / 250 )).$(( s % 250 + 1 ))"
done >"$WORK/policies/bench.yaml"
chmod 700 "$WORK/policies"

VIP=127.100.0.1:80
DIRECT=127.0.1.1-10:8080

# "run_cnt run_time_ns" of connect4, then of every sock_ops program summed,
# then "name:cnt:ns,..." of each sock_ops program.
stats() {
	local l c4="0 0" so_cnt=0 so_ns=0 each=""
	while read -r l; do
		parse "$l"
		case "$l" in
		hook=connect4*) c4="${KV[run_cnt]:-0} ${KV[run_time_ns]:-0}" ;;
		hook=sock_ops*)
			so_cnt=$(( so_cnt + ${KV[run_cnt]:-0} ))
			so_ns=$(( so_ns + ${KV[run_time_ns]:-0} ))
			each+="${KV[name]}:${KV[run_cnt]:-0}:${KV[run_time_ns]:-0},"
			;;
		esac
	done < <("$CB" progstats "$CG")
	echo "$c4 $so_cnt $so_ns $each"
}

agent_start() { # label binary
	local label=$1 i
	AGENT_BIN=$2
	BPFFS=$BPFROOT/$label
	mkdir -p "$BPFFS"
	"$AGENT_BIN" agent --policies "$WORK/policies" --cgroup "$CG" --bpffs "$BPFFS" \
		--sockmap --locality r1/z1/s1 --allow-insecure-policy-dir \
		2>"$WORK/agent-$label.log" &
	AGENT_PID=$!
	for i in $(seq 300); do grep -q 'applied generation 1' "$WORK/agent-$label.log" && break; sleep 0.1; done
	grep -q 'applied generation 1' "$WORK/agent-$label.log" ||
		{ tail -5 "$WORK/agent-$label.log" >&2; exit 1; }
}

agent_stop() {
	kill_wait "$AGENT_PID"
	AGENT_PID=""
	# The next agent attaches afresh: this one's pins go with its directory.
	"$AGENT_BIN" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1 || true
	rm -rf "${BPFFS:?}"
	BPFFS=""
}

echo "round,label,sample,conns,errors,cps,mean_us,p50_us,c4_cnt,c4_ns,so_cnt,so_ns,each" >"$WORK/samples.csv"

# One loop of kind hit (VIP) or miss (direct): connect4 ns per run, sockops
# calls and ns per connection.
sample() { # round label kind targets
	local r=$1 label=$2 kind=$3 targets=$4 s0 s1 out
	s0=$(stats)
	out=$("$CB" client --netns "$NS" --cgroup "$CG" --targets "$targets" --threads "$THREADS" \
		--duration "$DURATION" --warmup 0.2 --label "$kind")
	s1=$(stats)
	parse "$out"
	set -- $s0 $s1
	local c4n=$(( $6 - $1 )) c4t=$(( $7 - $2 )) son=$(( $8 - $3 )) sot=$(( $9 - $4 )) each
	each=$(awk -v a="$5" -v b="${10}" -v c="$c4n" 'BEGIN {
		n = split(a, x, ","); split(b, y, ",")
		for (i = 1; i < n; i++) { split(x[i], p, ":"); split(y[i], q, ":")
			k = q[2] - p[2]; printf "%s %.1fx%.0fns ", p[1], c ? k / c : 0, k ? (q[3] - p[3]) / k : 0 } }')
	echo "$r,$label,$kind,${KV[conns]},${KV[errors]},${KV[cps]},${KV[mean_us]},${KV[p50_us]},$c4n,$c4t,$son,$sot,$each" \
		>>"$WORK/samples.csv"
	awk -v r="$r" -v l="$label" -v k="$kind" -v c4n="$c4n" -v c4t="$c4t" -v son="$son" \
		-v sot="$sot" -v cps="${KV[cps]}" -v err="${KV[errors]}" -v each="$each" 'BEGIN {
		printf "  round %d %-6s %-4s connect4 %5.0f ns/run  sockops %5.0f ns/conn (%.1f calls: %s) %6s conn/s errors %s\n",
			r, l, k, c4n ? c4t / c4n : 0, c4n ? sot / c4n : 0, c4n ? son / c4n : 0, each, cps, err }'
}

# VIP and direct alternated connection by connection.
sample_mix() { # round label
	local r=$1 label=$2 l vm dm vp dp
	while read -r l; do
		parse "$l"
		if [ "${KV[label]}" = direct ]; then dm=${KV[mean_us]} dp=${KV[p50_us]}; else vm=${KV[mean_us]} vp=${KV[p50_us]}; fi
	done < <("$CB" client --netns "$NS" --cgroup "$CG" --mix "direct=$DIRECT;vip=$VIP" \
		--threads "$THREADS" --duration "$DURATION" --warmup 0.2)
	echo "$r,$label,mix,,,,$vm,$vp,,,,,direct_mean=$dm direct_p50=$dp" >>"$WORK/samples.csv"
	awk -v r="$r" -v l="$label" -v vm="$vm" -v dm="$dm" -v vp="$vp" -v dp="$dp" 'BEGIN {
		printf "  round %d %-6s mix  VIP mean %s us vs direct %s us (%+.1f%%), p50 %s vs %s (%+.1f%%)\n",
			r, l, vm, dm, (vm / dm - 1) * 100, vp, dp, (vp / dp - 1) * 100 }'
}

# Non-service connects (the direct loop) from sockets made in the managed
# cgroup and in a bare one, alternated connection by connection by one
# client (docs/benchmarks.md "Non-service connects"; BPF run-time stats are
# on, as for every sample here).
sample_nosvc() { # round label
	local r=$1 label=$2 l mm mp bm bp
	while read -r l; do
		parse "$l"
		if [ "${KV[label]}" = noagent ]; then bm=${KV[mean_us]} bp=${KV[p50_us]}; else mm=${KV[mean_us]} mp=${KV[p50_us]}; fi
	done < <("$CB" client --netns "$NS" --cgroup "$CG_BARE" \
		--mix "noagent=$DIRECT@$CG_BARE;managed=$DIRECT@$CG" \
		--threads "$THREADS" --duration "$DURATION" --warmup 0.2)
	echo "$r,$label,nosvc,,,,$mm,$mp,,,,,noagent_mean=$bm noagent_p50=$bp" >>"$WORK/samples.csv"
	awk -v r="$r" -v l="$label" -v mm="$mm" -v bm="$bm" -v mp="$mp" -v bp="$bp" 'BEGIN {
		printf "  round %d %-6s nosvc managed mean %s us vs no agent %s us (%+.1f%%), p50 %s vs %s (%+.1f%%)\n",
			r, l, mm, bm, (mm / bm - 1) * 100, mp, bp, (mp / bp - 1) * 100 }'
}

log "kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds of ${DURATION}s; $SERVICES services"
for r in $(seq "$ROUNDS"); do
	for b in "${BINS[@]}"; do
		agent_start "${b%%=*}" "${b#*=}"
		sample "$r" "${b%%=*}" hit "$VIP"
		sample "$r" "${b%%=*}" miss "$DIRECT"
		sample_mix "$r" "${b%%=*}"
		sample_nosvc "$r" "${b%%=*}"
		agent_stop
	done
done
log "load $(cut -d' ' -f1-3 /proc/loadavg)"

# Medians over rounds, per binary.
for b in "${BINS[@]}"; do
	awk -F, -v l="${b%%=*}" '
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	$2 == l && $3 == "hit" && $9 > 0 { h[++nh] = $10 / $9; s[++ns] = $12 / $9; sc[++nc] = $11 / $9 }
	$2 == l && $3 == "miss" && $9 > 0 { m[++nm] = $10 / $9; d[++nd] = $12 / $9 }
	$2 == l && $3 == "mix" { split($13, x, /[= ]/); v[++nv] = ($7 / x[2] - 1) * 100 }
	$2 == l && $3 == "nosvc" { split($13, x, /[= ]/); nm_[++nn] = ($7 / x[2] - 1) * 100; np[nn] = ($8 / x[4] - 1) * 100 }
	END { printf "median %-6s connect4 hit %.0f ns, miss %.0f ns; sockops %.0f ns per VIP connection (%.1f calls), %.0f per direct; VIP vs direct %+.1f%%; non-service vs no agent mean %+.1f%%, p50 %+.1f%% (%d rounds)\n",
		l, med(h, nh), med(m, nm), med(s, ns), med(sc, nc), med(d, nd), med(v, nv), med(nm_, nn), med(np, nn), nv }' "$WORK/samples.csv"
done
