#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bpfmesh benchmarks: connection cost through a bpfmesh VIP, kube-proxy-shaped
# iptables rules and an HAProxy hop, against connecting to the backend
# directly, at 10 to 10,000 services; a non-service connect from the managed
# cgroup against one from a cgroup with nothing attached; control-plane cost;
# BPF map memory; per-decision kernel cost; then bench/sockmap.sh and the
# Kubernetes agent run (k8s_scale --agent) into the same results directory,
# so that report.sh judges every design.md target from this one run. Prints
# numbers and ratios, asserts nothing. See docs/benchmarks.md.
#
# Everything runs on loopback inside a network namespace and a cgroup this
# script creates, with its own bpffs directory; all of it is removed on exit,
# on failure too. Needs root.
set -euo pipefail
if [ -n "${BENCH_TRACE:-}" ]; then PS4='+ $EPOCHREALTIME '; set -x; fi

usage() {
	cat >&2 <<'EOF'
Usage: bench/run.sh [--quick] [--scales "10 10000"] [--load-scales "1000"]
                    [--rounds N] [--duration SECONDS] [--threads N]
                    [--variants "..."] [--out DIR] [--no-docs]

  --quick      smoke run: 10 and 100 services, 2 short rounds, sockmap and
               Kubernetes at a small size (about 2 minutes)
  --scales     numbers of services (x 10 endpoints) to install and measure
               traffic at (the first and the last judge the flatness target)
  --load-scales  numbers of services to start the agent with and read its
               BPF map memory, no traffic (design.md's memory target is at
               1,000; "" for none)
  --rounds     rounds per scale; each round measures every variant once,
               in a fresh random order
  --duration   measured seconds per sample (after a warm-up)
  --threads    concurrent client threads (default 2, one a core here)
  --variants   subset of "direct direct2 bpfmesh iptables haproxy"; direct2
               is direct again, an A/A control of the method's own error
               (default: all; the quick run leaves direct2 out)
  --out        results directory (default bench/results/<timestamp>)
  --no-docs    do not copy the table and charts into docs/

Environment: BPFMESH=path to the bpfmesh binary (default .output/bpfmesh),
BENCH_IPTABLES=iptables-legacy|iptables-nft (default: legacy when it works),
K8S_SCALE=path to k8s_scale (default .output/k8s_scale; `make bench` builds
it; missing: the Kubernetes figures are "not measured"), BENCH_NO_EXTRA=1
leaves bench/sockmap.sh and the Kubernetes run out.
EOF
	exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

QUICK=0
SCALES=""
LOAD_SCALES=unset
ROUNDS=""
DURATION=""
THREADS=2
OUT=""
DOCS=1
VARIANTS_OPT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--scales) SCALES=$2; shift ;;
	--load-scales) LOAD_SCALES=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--variants) VARIANTS_OPT=$2; shift ;;
	--out) OUT=$2; shift ;;
	--no-docs) DOCS=0 ;;
	-h | --help) usage ;;
	*) echo "unknown option $1" >&2; usage ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	: "${SCALES:=10 100}" "${ROUNDS:=2}" "${DURATION:=0.3}"
	WARMUP=0.1 WEIGHT_REPS=1 IPT_REPS=1 START_REPS=1 DOCS=0
	: "${VARIANTS_OPT:=direct bpfmesh iptables haproxy}"
	[ "$LOAD_SCALES" = unset ] && LOAD_SCALES=1000
else
	# Traffic at 10 and 10,000 (the flatness target's ends); 1,000 load-only
	# for the map memory target: 100 and 1,000 with traffic doubled the
	# run's time and judge nothing (--scales puts them back).
	: "${SCALES:=10 10000}" "${ROUNDS:=10}" "${DURATION:=1.0}"
	WARMUP=0.2 WEIGHT_REPS=3 IPT_REPS=2 START_REPS=3
	: "${VARIANTS_OPT:=direct direct2 bpfmesh iptables haproxy}"
	[ "$LOAD_SCALES" = unset ] && LOAD_SCALES=1000
fi
read -r -a VARIANTS <<<"$VARIANTS_OPT"
BPFMESH=${BPFMESH:-$ROOT/.output/bpfmesh}
CB=$ROOT/.output/bench/connbench
K8S_SCALE=${K8S_SCALE:-$ROOT/.output/k8s_scale}
# The node's locality for the measured service's locality-aware routing
# (connbench gen-policy --all-features writes endpoints around it).
BENCH_LOCALITY=region1/zone1/sub1

# parse, kv, kill_wait, bpf_stats
source "$ROOT/bench/lib.sh"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf '[bench %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (netns, cgroup, BPF)" >&2; exit 1; }

# --------------------------------------------------------------- packages
install_deps() {
	local need="" p
	for p in iptables haproxy gnuplot-nox iproute2 time gcc; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
	done
	if [ -n "$need" ]; then
		log "installing:$need"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
	fi
}

build_tool() {
	mkdir -p "$ROOT/.output/bench"
	if [ ! -x "$CB" ] || [ "$ROOT/bench/connbench.c" -nt "$CB" ] ||
		[ "$ROOT/include/bpfmesh/lb_abi.h" -nt "$CB" ]; then
		log "building $CB"
		gcc -O2 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/bench/connbench.c" \
			-o "$CB" -lpthread
	fi
}

install_deps
build_tool

# ---------------------------------------------------------------- state
STAMP=$(date +%Y%m%d-%H%M%S)
RES=${OUT:-$ROOT/bench/results/$STAMP$([ "$QUICK" = 1 ] && echo -quick || true)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)
NS=bpfmesh-bench-$$
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG=""
CG_BARE=""
BPFROOT=""
SERVER_PID="" HAPROXY_PID="" AGENT_PID="" STATS_PID="" CPULAT_PID=""
SYSCTL_STATS_OLD=""
NS_CREATED=0

cleanup() {
	local rc=$? p
	set +e
	trap - EXIT INT TERM
	kill_wait "$AGENT_PID"
	kill_wait "$HAPROXY_PID"
	kill_wait "$SERVER_PID"
	kill_wait "$STATS_PID"
	kill_wait "$CPULAT_PID"
	if [ -n "$SYSCTL_STATS_OLD" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$SYSCTL_STATS_OLD"
	fi
	# A stopped agent leaves its data plane in force: remove it.
	for p in "$BPFROOT"/*/; do
		[ -d "$p" ] && [ -n "$CG" ] && "$BPFMESH" uninstall --bpffs "${p%/}" --cgroup "$CG" >/dev/null
	done
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		# Only our clients ever join this cgroup: end any still there.
		for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		for p in $(seq 20); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
		[ -d "$CG" ] && warn "could not remove $CG"
	fi
	if [ -n "$CG_BARE" ] && [ -d "$CG_BARE" ]; then
		for p in $(cat "$CG_BARE/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		for p in $(seq 20); do rmdir "$CG_BARE" 2>/dev/null && break; sleep 0.1; done
		[ -d "$CG_BARE" ] && warn "could not remove $CG_BARE"
	fi
	[ "$NS_CREATED" = 1 ] && ip netns del "$NS" 2>/dev/null
	[ -n "$BPFROOT" ] && rm -rf "$BPFROOT"
	rm -f "$RES"/.tmp-* 2>/dev/null
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup
log "results in $RES"
[ -n "$CGROOT" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; exit 1; }
CG=$CGROOT/bpfmesh-bench-$$
mkdir "$CG"
# The no-agent baseline's cgroup: nothing is ever attached to it.
CG_BARE=$CGROOT/bpfmesh-bench-bare-$$
mkdir "$CG_BARE"

ip netns add "$NS"
NS_CREATED=1
ip -n "$NS" link set lo up
# Loopback load at tens of thousands of connections a second: a wide port
# range and TIME-WAIT reuse, in this netns only.
ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
	net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096

if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts; then
	log "mounting bpffs at /sys/fs/bpf"
	mount -t bpf bpf /sys/fs/bpf
fi
BPFROOT=/sys/fs/bpf/bpfmesh-bench-$$
mkdir -p "$BPFROOT"

# BPF run-time stats: on only while a stats sample runs (sample_stats), so
# that they cost nothing in the samples that judge the connect targets (each
# program run pays two clock reads and a per-CPU add with them on: measured
# +2-7% on a non-service connect). Held through a BPF_ENABLE_STATS fd for
# as long as connbench statshold runs (off again when it exits, however it
# exits); the kernel.bpf_stats_enabled sysctl, restored on exit, if that fails.
stats_on() {
	"$CB" statshold >"$RES/.tmp-stats" 2>&1 &
	STATS_PID=$!
	for _ in $(seq 50); do grep -q 'statshold=' "$RES/.tmp-stats" && break; sleep 0.02; done
	grep -q 'statshold=on' "$RES/.tmp-stats" && return 0
	kill_wait "$STATS_PID"
	STATS_PID=""
	[ -n "$SYSCTL_STATS_OLD" ] || SYSCTL_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1
}
stats_off() {
	kill_wait "$STATS_PID"
	STATS_PID=""
	if [ -n "$SYSCTL_STATS_OLD" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$SYSCTL_STATS_OLD"
	fi
}

# Echo backends 127.0.1.1-10:8080, shared by every variant.
"$CB" serve --netns "$NS" --addrs 127.0.1.1-10:8080 --threads 2 >"$RES/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 50); do grep -q ready "$RES/server.log" && break; sleep 0.1; done
grep -q ready "$RES/server.log" || { cat "$RES/server.log" >&2; exit 1; }

# HAProxy in TCP mode: the sidecar-hop stand-in.
HAPROXY_PORT=15001
{
	printf 'global\n    nbthread 2\n    maxconn 8000\n'
	printf 'defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n'
	printf 'listen sidecar\n    bind 127.0.0.1:%s\n    balance roundrobin\n' "$HAPROXY_PORT"
	for i in $(seq 10); do printf '    server b%d 127.0.1.%d:8080\n' "$i" "$i"; done
} >"$RES/haproxy.cfg"
ip netns exec "$NS" haproxy -db -f "$RES/haproxy.cfg" >"$RES/haproxy.log" 2>&1 &
HAPROXY_PID=$!
HAVE_HAPROXY=0
for i in $(seq 30); do
	kill -0 "$HAPROXY_PID" 2>/dev/null || break
	parse "$("$CB" client --netns "$NS" --targets "127.0.0.1:$HAPROXY_PORT" --threads 1 \
		--duration 0.05 --warmup 0 --label probe)"
	if [ "$(kv errors)" = 0 ] && [ "$(kv conns)" != 0 ]; then HAVE_HAPROXY=1; break; fi
	sleep 0.1
done
if [ "$HAVE_HAPROXY" = 0 ]; then
	warn "HAProxy did not start; the haproxy variant is skipped:"
	tail -3 "$RES/haproxy.log" >&2
fi

# iptables backend: kube-proxy's iptables mode as most clusters ran it
# (legacy); iptables-nft-restore --noflush is quadratic in the number of
# chains here (7 s at 1,000 services, minutes at 3,000).
IPT=${BENCH_IPTABLES:-}
if [ -z "$IPT" ]; then
	if ip netns exec "$NS" iptables-legacy -t nat -L -n >/dev/null 2>&1; then
		IPT=iptables-legacy
	else
		IPT=iptables-nft
		warn "iptables-legacy unusable; using iptables-nft (slow restores at 10k)"
	fi
fi
IPT_TIMEOUT=180
timed() { # cmd... -> runs it; prints "seconds maxrss_kb", or "failed"
	local t0 t1
	t0=$(date +%s%N)
	if /usr/bin/time -o "$RES/.tmp-time" -f '%M' "$@" >/dev/null 2>"$RES/.tmp-err"; then
		t1=$(date +%s%N)
		echo "$(( (t1 - t0) / 1000000 )) $(tail -1 "$RES/.tmp-time")" |
			awk '{ printf "%.3f %s\n", $1 / 1000, $2 }'
	else
		tail -3 "$RES/.tmp-err" >&2
		echo failed
	fi
}
ipt_restore() { # args for restore; stdin rules
	timed timeout "$IPT_TIMEOUT" ip netns exec "$NS" "$IPT-restore" -w "$@"
}

HAVE_BPFMESH=1
if [ ! -x "$BPFMESH" ]; then
	warn "$BPFMESH not built: the bpfmesh variant is skipped (make .output/bpfmesh)"
	HAVE_BPFMESH=0
fi

{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "kernel=$(uname -r)"
	echo "cpus=$(nproc)"
	echo "cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "iptables=$IPT ($($IPT -V 2>/dev/null))"
	echo "haproxy=$(haproxy -v 2>/dev/null | head -1)"
	echo "quick=$QUICK"
	echo "scales=$SCALES"
	echo "load_scales=$LOAD_SCALES"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "warmup=$WARMUP"
	echo "threads=$THREADS"
	echo "variants=${VARIANTS[*]}"
} >"$RES/env.txt"

echo "scale,round,variant,cps,p50_us,p90_us,p99_us,conns,errors,last_error" >"$RES/samples.csv"
echo "scale,round,variant,run_cnt,run_time_ns,sockops_run_cnt,sockops_run_time_ns,conns" >"$RES/kern.csv"
echo "scale,round,variant,mean_us,p50_us,p99_us,direct_mean_us,direct_p50_us,direct_p99_us,conns,errors" >"$RES/mixed.csv"
echo "scale,metric,rep,value,extra" >"$RES/ctl.csv"
echo "scale,round,pair,a_mean_us,b_mean_us,a_p50_us,b_p50_us,a_conns,b_conns,errors" >"$RES/nosvc.csv"

ctl() { echo "$1,$2,$3,$4,${5:-}" >>"$RES/ctl.csv"; }

# ---------------------------------------------------------------- bpfmesh
agent_start() { # scale rep -> sets AGENT_PID, AGENT_BPFFS, AGENT_LOG
	local n=$1 rep=$2 t0 w last
	AGENT_BPFFS=$BPFROOT/s$n
	AGENT_LOG=$RES/agent-$n-$rep.log
	mkdir -p "$AGENT_BPFFS"
	t0=$(date +%s%N)
	# Every feature design.md's connect target names on: connect4 +
	# sockops (health counting, ejection), same-node acceleration
	# (--sockmap), this node's locality (the measured service routes by
	# it, gen-policy --all-features) and the metrics endpoint (host
	# loopback, an ephemeral port). -v: the log keeps each reload's own
	# timing (read, choose, compile, plan, exec).
	# Map sizes: the agent's defaults up to 1,000 services (what a user
	# runs, and what the memory target is judged on); above, sized for n
	# services as an operator sizes a node for its policy (bench/sizes.sh,
	# also control.sh's and mapmem.sh's), or the policy would be refused.
	local sizes=()
	[ "$n" -gt 1000 ] && read -r -a sizes <<<"$("$ROOT/bench/sizes.sh" "$n")"
	"$BPFMESH" agent -v --policies "$RES/policies-$n" --cgroup "$CG" --bpffs "$AGENT_BPFFS" \
		"${sizes[@]}" --sockmap --locality "$BENCH_LOCALITY" \
		--metrics 127.0.0.1:0 2>"$AGENT_LOG" &
	AGENT_PID=$!
	last=$(( n - 1 ))
	w=$("$CB" mapwait --bpffs "$AGENT_BPFFS" --vip 127.100.0.1:80 --weight 90 \
		--also "127.100.$(( last / 250 )).$(( last % 250 + 1 )):80" \
		--since-ns "$t0" --timeout 120 --interval-us 200) || true
	parse "$w"
	if [ "$(kv ms)" = timeout ] || ! kill -0 "$AGENT_PID" 2>/dev/null; then
		warn "bpfmesh agent did not apply $n services: $w"
		tail -5 "$AGENT_LOG" >&2
		kill_wait "$AGENT_PID"
		AGENT_PID=""
		return 1
	fi
	ctl "$n" bpfmesh_start_to_map_ms "$rep" "$(kv ms)"
	ctl "$n" bpfmesh_agent_hwm_kb "$rep" "$(awk '/VmHWM/ { print $2 }' /proc/$AGENT_PID/status)"
	# "applied generation N: S services, E endpoints in X ms (compile Y ms; ..."
	sleep 0.1
	local line
	line=$(grep 'applied generation' "$AGENT_LOG" | tail -1)
	ctl "$n" bpfmesh_apply_ms "$rep" "$(sed -n 's/.* in \([0-9.]*\) ms (compile.*/\1/p' <<<"$line")"
	ctl "$n" bpfmesh_compile_ms "$rep" "$(sed -n 's/.*(compile \([0-9.]*\) ms.*/\1/p' <<<"$line")"
	return 0
}

agent_stop() {
	kill_wait "$AGENT_PID"
	AGENT_PID=""
	# SIGTERM leaves the data plane in force: the next scale starts clean.
	"$BPFMESH" uninstall --bpffs "$AGENT_BPFFS" --cgroup "$CG" >/dev/null
}

# Atomically replace the measured service's policy file with new weights and
# time it until the kernel map holds them. The first change of the series
# (the first since the agent started, after the traffic rounds: its heap
# given back, malloc_trim) is kept apart as bpfmesh_first_change_ms, so a
# median of the others does not hide it and it does not hide in them.
weight_change() { # scale weights pct rep first(1|0)
	local n=$1 wts=$2 pct=$3 rep=$4 m=bpfmesh_weight_change_ms r=bpfmesh_reapply_agent_ms
	local before w line i
	[ "$5" = 1 ] && m=bpfmesh_first_change_ms r=bpfmesh_first_reapply_agent_ms
	before=$(grep -c 'applied generation' "$AGENT_LOG" || true)
	"$CB" gen-policy --services "$n" --out "$RES/.tmp-measured.yaml" --measured-only \
		--all-features --weights "$wts"
	w=$("$CB" mapwait --bpffs "$AGENT_BPFFS" --vip 127.100.0.1:80 --weight "$pct" \
		--rename "$RES/.tmp-measured.yaml" "$RES/policies-$n/bench-measured.yaml" \
		--timeout 60 --interval-us 100) || true
	parse "$w"
	ctl "$n" "$m" "$rep" "$(kv ms)" \
		"to=$wts polls=$(kv polls) poll_us=$(kv poll_us) rename_ns=$(kv rename_ns)"
	for i in $(seq 100); do
		[ "$(grep -c 'applied generation' "$AGENT_LOG" || true)" -gt "$before" ] && break
		sleep 0.05
	done
	line=$(grep 'applied generation' "$AGENT_LOG" | tail -1)
	ctl "$n" "$r" "$rep" "$(sed -n 's/.* in \([0-9.]*\) ms (compile.*/\1/p' <<<"$line")" \
		"compile_ms=$(sed -n 's/.*(compile \([0-9.]*\) ms.*/\1/p' <<<"$line")"
}

# ---------------------------------------------------------------- health
# Services that eject their dead endpoint at the first failure, for the
# ejection timing: VIP 127.101.0.R:80 -> two live echo backends and
# 127.0.9.R:8080, where nothing listens (refused at once).
EJECT_REPS=5
gen_eject_policy() { # file
	local r
	for r in $(seq "$EJECT_REPS"); do
		printf '%s\n' \
			"apiVersion: networking.istio.io/v1" "kind: ServiceEntry" \
			"metadata: {name: eject-$r, namespace: bench}" "spec:" \
			"  hosts: [eject-$r.bench.svc.cluster.local]" "  addresses: [127.101.0.$r]" \
			"  ports: [{number: 80, name: tcp, protocol: TCP, targetPort: 8080}]" \
			"  resolution: STATIC" \
			"  endpoints: [{address: 127.0.1.1}, {address: 127.0.1.2}, {address: 127.0.9.$r}]" \
			"---" \
			"apiVersion: networking.istio.io/v1" "kind: DestinationRule" \
			"metadata: {name: eject-$r, namespace: bench}" "spec:" \
			"  host: eject-$r.bench.svc.cluster.local" "  trafficPolicy:" \
			"    outlierDetection: {consecutive5xxErrors: 1, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100}" \
			"---"
	done >"$1"
}

agent_cpu_ticks() { # utime + stime of the agent, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat"
}

# The agent's cost of a scrape (read every counter of every endpoint slot,
# render /metrics) at this scale and the CLI's `stats`; then the time from a
# failing connect to its ejection being effective and to the agent's log.
health_bench() { # scale
	local n=$1 port t t0 t1 c0 c1 i reps=20 bytes out tick fail_ms log_ms line tod cpu
	port=$(sed -n 's/.*bpfmesh: metrics at .*(port \([0-9]*\)).*/\1/p' "$AGENT_LOG" | tail -1)
	if [ -z "$port" ]; then
		warn "no metrics port in $AGENT_LOG"
		return 0
	fi
	tick=$(getconf CLK_TCK)
	bytes=$(curl -sf "http://127.0.0.1:$port/metrics" | wc -c)
	c0=$(agent_cpu_ticks)
	t0=$(date +%s%N)
	for i in $(seq "$reps"); do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; done
	t1=$(date +%s%N)
	c1=$(agent_cpu_ticks)
	cpu=$(awk -v d=$(( c1 - c0 )) -v t="$tick" -v r="$reps" 'BEGIN { printf "%.1f", d * 1000 / t / r }')
	ctl "$n" bpfmesh_scrape_agent_cpu_ms 1 "$cpu" "slots=$(( n * 10 + EJECT_REPS * 3 ))"
	ctl "$n" bpfmesh_scrape_wall_ms 1 "$(( (t1 - t0) / 1000000 / reps ))"
	ctl "$n" bpfmesh_scrape_bytes 1 "$bytes"
	t=$(timed "$BPFMESH" stats -j --interval 0 --bpffs "$AGENT_BPFFS")
	ctl "$n" bpfmesh_cli_stats_s 1 "${t% *}" "maxrss_kb=${t#* }"
	log "scrape: $(( (t1 - t0) / 1000000 / reps )) ms wall, $cpu ms agent CPU, $bytes bytes; stats -j: ${t% *} s"
	for i in $(seq "$EJECT_REPS"); do
		# A failed probe is reported, not the end of the run (set -e).
		out=$("$CB" ejectprobe --netns "$NS" --cgroup "$CG" --target "127.101.0.$i:80" \
			--after 50 2>&1) || out="$out (exit status $?)"
		parse "$out"
		if [ "$(kv ejectprobe)" != ok ]; then
			warn "ejectprobe $i: $out"
			continue
		fi
		fail_ms=$(kv fail_realtime_ms)
		# "HH:MM:SS.mmm bpfmesh: ejected 127.0.9.R:8080 of ..." (UTC)
		line=""
		for t in $(seq 100); do
			# No match yet is not an error (pipefail, set -e).
			line=$(grep "bpfmesh: ejected 127.0.9.$i:8080 " "$AGENT_LOG" | tail -1) || line=""
			[ -n "$line" ] && break
			sleep 0.02
		done
		log_ms=-
		if [ -n "$line" ]; then
			tod=${line%% *}
			log_ms=$(awk -v f="$fail_ms" -v tod="$tod" 'BEGIN {
				split(tod, a, ":"); day = int(f / 86400000) * 86400000
				printf "%.0f", day + (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 - f }')
		fi
		ctl "$n" bpfmesh_eject_next_connect_us "$i" "$(kv next_connect_us)" "refused_after=$(kv refused_after) of=$(kv of)"
		ctl "$n" bpfmesh_eject_refused_after "$i" "$(kv refused_after)"
		ctl "$n" bpfmesh_eject_to_log_ms "$i" "$log_ms"
		log "ejection $i: next connect $(kv next_connect_us) us later, $(kv refused_after) of $(kv of) later connects refused, agent log line +$log_ms ms"
	done
}

# ---------------------------------------------------------------- samples
targets_of() {
	case "$1" in
	direct | direct2) echo 127.0.1.1-10:8080 ;;
	bpfmesh) echo 127.100.0.1:80 ;;
	iptables) echo 127.200.0.1:80 ;;
	haproxy) echo "127.0.0.1:$HAPROXY_PORT" ;;
	esac
}

sample() { # scale round variant
	local n=$1 r=$2 v=$3 out
	out=$("$CB" client --netns "$NS" --cgroup "$CG" --targets "$(targets_of "$v")" \
		--threads "$THREADS" --duration "$DURATION" --warmup "$WARMUP" --label "$v")
	parse "$out"
	echo "$n,$r,$v,${KV[cps]},${KV[p50_us]},${KV[p90_us]},${KV[p99_us]},${KV[conns]},${KV[errors]},${KV[last_error]}" >>"$RES/samples.csv"
	printf '  %-6s round %d %-9s %7s conn/s  p50 %7s us  p99 %7s us  errors %s\n' \
		"$n" "$r" "$v" "${KV[cps]}" "${KV[p50_us]}" "${KV[p99_us]}" "${KV[errors]}"
}

# The same loop with BPF run-time stats on: connect4 and sockops ns per
# run (kern.csv) only; its rate is not a cost sample (the stats' own cost).
sample_stats() { # scale round variant
	local n=$1 r=$2 v=$3 out s0 s1
	stats_on
	s0=$(bpf_stats)
	out=$("$CB" client --netns "$NS" --cgroup "$CG" --targets "$(targets_of "$v")" \
		--threads "$THREADS" --duration "$DURATION" --warmup "$WARMUP" --label "$v")
	s1=$(bpf_stats)
	stats_off
	parse "$out"
	set -- $s0 $s1
	echo "$n,$r,$v,$(( $5 - $1 )),$(( $6 - $2 )),$(( $7 - $3 )),$(( $8 - $4 )),${KV[conns]}" >>"$RES/kern.csv"
	printf '  %-6s round %d %-9s connect4 %s ns a run (BPF stats on)\n' \
		"$n" "$r" "stats:$v" "$(( $5 > $1 ? ($6 - $2) / ($5 - $1) : 0 ))"
}

# An in-kernel variant against direct again, alternating connection by
# connection inside one client (random order each pair), so that both see
# the same moments of the machine's noise.
sample_mixed() { # scale round variant
	local n=$1 r=$2 v=$3 l dm dp50 dp99 vm vp50 vp99 conns=0 errors=0
	while read -r l; do
		parse "$l"
		conns=$(( conns + ${KV[conns]:-0} ))
		errors=$(( errors + ${KV[errors]:-0} ))
		if [ "${KV[label]}" = direct ]; then
			dm=${KV[mean_us]} dp50=${KV[p50_us]} dp99=${KV[p99_us]}
		else
			vm=${KV[mean_us]} vp50=${KV[p50_us]} vp99=${KV[p99_us]}
		fi
	done < <("$CB" client --netns "$NS" --cgroup "$CG" \
		--mix "direct=$(targets_of direct);$v=$(targets_of "$v")" \
		--threads "$THREADS" --duration "$DURATION" --warmup "$WARMUP")
	echo "$n,$r,$v,$vm,$vp50,$vp99,$dm,$dp50,$dp99,$conns,$errors" >>"$RES/mixed.csv"
	printf '  %-6s round %d %-9s mean %7s us vs direct %7s us (p50 %s vs %s)  errors %s\n' \
		"$n" "$r" "mix:$v" "$vm" "$dm" "$vp50" "$dp50" "$errors"
}

# A connect to no service (the direct backends) from the managed cgroup,
# where the agent's programs run and miss, against the same from a cgroup
# with nothing attached (no agent): design.md's "within 1% of no agent".
# The programs that run are those of the cgroup a socket was made in, so
# one client alternates the two connection by connection, in random order
# (the same moments of the machine's noise), its sockets made in each
# cgroup by a helper process (connbench --mix TARGETS@CGROUP). "aa" pairs
# two groups of sockets both from the bare cgroup: the method's own error.
sample_nosvc_pair() { # scale round pair(managed|aa)
	local n=$1 r=$2 pair=$3 l a=() b=() e=0 d
	d=$(targets_of direct)
	local second="managed=$d@$CG"
	[ "$pair" = aa ] && second="noagent2=$d@$CG_BARE"
	while read -r l; do
		parse "$l"
		e=$(( e + ${KV[errors]:-0} ))
		if [ "${KV[label]}" = noagent ]; then
			b=("${KV[mean_us]}" "${KV[p50_us]}" "${KV[conns]}")
		else
			a=("${KV[mean_us]}" "${KV[p50_us]}" "${KV[conns]}")
		fi
	done < <("$CB" client --netns "$NS" --cgroup "$CG_BARE" --mix "noagent=$d@$CG_BARE;$second" \
		--threads "$THREADS" --duration "$DURATION" --warmup "$WARMUP")
	[ "${#a[@]}" = 3 ] && [ "${#b[@]}" = 3 ] || { warn "nosvc $pair: no result"; return 0; }
	echo "$n,$r,$pair,${a[0]},${b[0]},${a[1]},${b[1]},${a[2]},${b[2]},$e" >>"$RES/nosvc.csv"
	printf '  %-6s round %d %-12s mean %7s us, p50 %7s us (%s) vs %7s, %7s us (no agent)  errors %s\n' \
		"$n" "$r" "nosvc:$pair" "${a[0]}" "${a[1]}" "$([ "$pair" = aa ] && echo "no agent" || echo managed)" "${b[0]}" "${b[1]}" "$e"
}

# ---------------------------------------------------------------- per scale
run_scale() {
	local n=$1 r v t rep c have_bpfmesh=0
	log "== $n services x 10 endpoints"
	rm -rf "$RES/policies-$n"
	mkdir -p "$RES/policies-$n"
	"$CB" gen-policy --services "$n" --endpoints 10 --all-features --out "$RES/policies-$n"
	gen_eject_policy "$RES/policies-$n/bench-eject.yaml"

	# iptables: replace the netns's nat table with this scale's rules.
	"$CB" gen-ipt --services "$n" --endpoints 10 --jump >"$RES/.tmp-ipt-full"
	t=$(ipt_restore <"$RES/.tmp-ipt-full")
	ctl "$n" iptables_initial_load_s 1 "${t% *}" "maxrss_kb=${t#* }"
	ctl "$n" iptables_rules 1 "$(grep -c '^-A' "$RES/.tmp-ipt-full")"
	log "iptables ($IPT) loaded $(grep -c '^-A' "$RES/.tmp-ipt-full") rules: $t (s, max RSS KB)"
	# kube-proxy keeps closed connections' conntrack entries for minutes;
	# at this connection rate they would fill the table, so expire them in
	# a second (this netns only; the table exists once nat is in use).
	ip netns exec "$NS" sh -c 'for f in time_wait close close_wait fin_wait last_ack; do
		echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_$f; done' 2>/dev/null || true

	if [ "$HAVE_BPFMESH" = 1 ]; then
		# Compile alone, for time and peak memory without the kernel.
		t=$(timed "$BPFMESH" compile -j "$RES/policies-$n")
		ctl "$n" bpfmesh_cli_compile_s 1 "${t% *}" "maxrss_kb=${t#* }"
		# Start the agent START_REPS times (a cold start each: new pins,
		# load, attach, compile, apply); the last one stays for the rest.
		for rep in $(seq "$START_REPS"); do
			have_bpfmesh=0
			agent_start "$n" "$rep" || break
			have_bpfmesh=1
			[ "$rep" -lt "$START_REPS" ] && agent_stop
		done
		if [ "$have_bpfmesh" = 1 ]; then
			log "bpfmesh agent: $(grep 'applied generation' "$AGENT_LOG" | tail -1 | sed 's/.*bpfmesh: //')"
			"$CB" mapmem "$AGENT_BPFFS" "$CG" >"$RES/mapmem-$n.txt"
			ctl "$n" bpfmesh_map_memlock_bytes 1 "$(sed -n 's/^total_memlock=//p' "$RES/mapmem-$n.txt")"
		fi
	fi

	# Data plane: every round measures every variant, in a fresh random
	# order, so that no variant always follows the same neighbour.
	for r in $(seq "$ROUNDS"); do
		# direct2+mix: the interleaved client's own A/A control.
		for v in $({ printf '%s\n' "${VARIANTS[@]}" |
			sed -n 's/^\(bpfmesh\|iptables\|direct2\)$/&\n&+mix/;p'
			echo pair:managed; echo pair:aa; echo stats:bpfmesh; echo stats:direct; } | shuf); do
			case "$v" in bpfmesh* | pair:managed | stats:*) [ "$have_bpfmesh" = 0 ] && continue ;; esac
			[ "$v" = haproxy ] && [ "$HAVE_HAPROXY" = 0 ] && continue
			case "$v" in
			pair:*) sample_nosvc_pair "$n" "$r" "${v#pair:}" ;;
			stats:*) sample_stats "$n" "$r" "${v#stats:}" ;;
			*+mix) sample_mixed "$n" "$r" "${v%+mix}" ;;
			*) sample "$n" "$r" "$v" ;;
			esac
		done
	done

	# Health: scrape and stats cost, ejection timing.
	[ "$have_bpfmesh" = 1 ] && health_bench "$n"

	# Control plane.
	if [ "$have_bpfmesh" = 1 ]; then
		t=$(timed "$BPFMESH" maps services -j --bpffs "$AGENT_BPFFS")
		ctl "$n" bpfmesh_cli_dump_s 1 "${t% *}" "maxrss_kb=${t#* }"
		for rep in $(seq "$WEIGHT_REPS"); do
			weight_change "$n" 75/25 75 "$rep" "$([ "$rep" = 1 ] && echo 1 || echo 0)"
			weight_change "$n" 90/10 90 "$rep" 0
		done
		log "bpfmesh weight change (ms): first $(awk -F, -v n="$n" '$1 == n && $2 == "bpfmesh_first_change_ms" { printf "%s", $4 }' "$RES/ctl.csv"), then $(awk -F, -v n="$n" '$1 == n && $2 == "bpfmesh_weight_change_ms" { printf "%s ", $4 }' "$RES/ctl.csv")"
		agent_stop
	fi
	for rep in $(seq "$IPT_REPS"); do
		# iptables-nft-restore --noflush is quadratic in chains: skip it
		# where it would take minutes (see BENCH_IPTABLES).
		if [ "$IPT" = iptables-nft ] && [ "$n" -gt 1000 ]; then
			ctl "$n" iptables_partial_sync_s "$rep" skipped
			ctl "$n" iptables_full_sync_s "$rep" skipped
			continue
		fi
		for c in 75 -1; do
			"$CB" gen-ipt --services "$n" --endpoints 10 --mode partial --canary "$c" >"$RES/.tmp-ipt-part"
			t=$(ipt_restore --noflush <"$RES/.tmp-ipt-part")
			ctl "$n" iptables_partial_sync_s "$rep" "${t% *}" "canary=$c maxrss_kb=${t#* }"
			"$CB" gen-ipt --services "$n" --endpoints 10 --mode full --canary "$c" >"$RES/.tmp-ipt-full"
			t=$(ipt_restore --noflush <"$RES/.tmp-ipt-full")
			ctl "$n" iptables_full_sync_s "$rep" "${t% *}" "canary=$c maxrss_kb=${t#* }"
		done
	done
	log "iptables-restore (s): partial $(awk -F, -v n="$n" '$1 == n && $2 == "iptables_partial_sync_s" { printf "%s ", $4 }' "$RES/ctl.csv")full $(awk -F, -v n="$n" '$1 == n && $2 == "iptables_full_sync_s" { printf "%s ", $4 }' "$RES/ctl.csv")"
}

# No traffic: the agent started with N services (the same policy and
# options as run_scale, its default map sizes up to 1,000), cold start and
# the BPF map memory of what it loaded, then stopped.
run_load_scale() { # scale
	local n=$1 rep
	log "== $n services x 10 endpoints, load only (cold start, map memory)"
	rm -rf "$RES/policies-$n"
	mkdir -p "$RES/policies-$n"
	"$CB" gen-policy --services "$n" --endpoints 10 --all-features --out "$RES/policies-$n"
	gen_eject_policy "$RES/policies-$n/bench-eject.yaml"
	for rep in $(seq "$START_REPS"); do
		agent_start "$n" "$rep" || return 0
		[ "$rep" -lt "$START_REPS" ] && agent_stop
	done
	"$CB" mapmem "$AGENT_BPFFS" "$CG" >"$RES/mapmem-$n.txt"
	ctl "$n" bpfmesh_map_memlock_bytes 1 "$(sed -n 's/^total_memlock=//p' "$RES/mapmem-$n.txt")"
	log "bpfmesh map memory at $n services: $(sed -n 's/^total_memlock=//p' "$RES/mapmem-$n.txt") bytes"
	agent_stop
}

# bench/sockmap.sh (same-node acceleration: its own namespace, cgroup and
# agent), its per-round samples kept here for the verdict. Its
# request/response loop is two threads waking each other: on this VM an
# idle vCPU's wake-up through the hypervisor (haltpoll) adds ~30 us to
# every round trip, plain and accelerated alike, and hides the data path
# (1 B p50 44.8 vs 41.0 us idle; 13.6 vs 8.0 us with the CPUs kept out of
# idle). So the CPUs are held out of idle states while it runs (PM QoS
# /dev/cpu_dma_latency 0, what tuned's latency-performance profile sets),
# released when connbench cpulathold ends; BENCH_IDLE_CPUS=1 leaves them.
run_sockmap() {
	log "== same-node acceleration (bench/sockmap.sh)"
	if [ -z "${BENCH_IDLE_CPUS:-}" ]; then
		"$CB" cpulathold >"$RES/.tmp-cpulat" 2>&1 &
		CPULAT_PID=$!
		sleep 0.2
		if grep -q 'cpulathold=on' "$RES/.tmp-cpulat"; then
			echo "sockmap_cpus=held out of idle (cpu_dma_latency 0)" >>"$RES/env.txt"
		else
			warn "cannot hold the CPUs out of idle: $(cat "$RES/.tmp-cpulat")"
			kill_wait "$CPULAT_PID"
			CPULAT_PID=""
		fi
	fi
	grep -q '^sockmap_cpus=' "$RES/env.txt" || echo "sockmap_cpus=idle states allowed" >>"$RES/env.txt"
	if ! SAMPLES_OUT=$RES/sockmap.csv BPFMESH=$BPFMESH "$ROOT/bench/sockmap.sh" \
		$([ "$QUICK" = 1 ] && echo --quick) >"$RES/sockmap.txt" 2>&1; then
		warn "bench/sockmap.sh failed:"
		tail -5 "$RES/sockmap.txt" >&2
		rm -f "$RES/sockmap.csv"
	fi
	kill_wait "$CPULAT_PID"
	CPULAT_PID=""
	cat "$RES/sockmap.txt"
}

# The agent against the recorded API server (k8s_scale --agent, its own
# cgroup and bpffs): 10,000 Services listed and applied, then endpoint
# changes timed from the watch event to the pinned maps.
run_k8s() {
	local n=10000 changes=30
	[ "$QUICK" = 1 ] && n=1000 changes=4
	if [ ! -x "$K8S_SCALE" ]; then
		warn "$K8S_SCALE not built (make .output/k8s_scale): Kubernetes figures not measured"
		return 0
	fi
	log "== Kubernetes: $n Services, $changes endpoint changes (k8s_scale --agent)"
	if ! K8S_SERVICES=$n K8S_CHANGES=$changes "$K8S_SCALE" --agent \
		>"$RES/k8s.txt" 2>&1; then
		warn "k8s_scale --agent failed"
	fi
	echo "k8s_services=$n" >>"$RES/env.txt"
	cat "$RES/k8s.txt"
}

T_START=$(date +%s)
for n in $SCALES; do
	run_scale "$n"
done
for n in $LOAD_SCALES; do
	[ "$HAVE_BPFMESH" = 1 ] && run_load_scale "$n"
done
if [ -z "${BENCH_NO_EXTRA:-}" ]; then
	run_sockmap
	run_k8s
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/env.txt"
echo "elapsed_s=$(( $(date +%s) - T_START ))" >>"$RES/env.txt"

# ---------------------------------------------------------------- report
"$ROOT/bench/report.sh" "$RES"
if [ "$DOCS" = 1 ]; then
	"$ROOT/bench/report.sh" --docs "$RES"
	log "table and charts copied into docs/"
fi
log "done in $(( $(date +%s) - T_START )) s; results in $RES"
