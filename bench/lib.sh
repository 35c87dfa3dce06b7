# SPDX-License-Identifier: Apache-2.0
# Shell helpers the bench scripts share (sourced, not run). bpf_stats needs
# $CB (connbench) and $CG (the bench's cgroup) set by the caller.

# "k1=v1 k2=v2 ..." -> KV[k1]=v1 ... (bash builtins only: forks are slow on a
# loaded machine, and they would come between samples)
declare -A KV
parse() {
	local w
	KV=()
	for w in $1; do
		[[ $w == *=* ]] && KV[${w%%=*}]=${w#*=}
	done
	return 0
}
kv() { echo "${KV[$1]:-}"; }

build_connbench() { # $CB from bench/connbench.c, when missing or older than it
	mkdir -p "$(dirname "$CB")"
	if [ ! -x "$CB" ] || [ "$ROOT/bench/connbench.c" -nt "$CB" ]; then
		gcc -O2 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/bench/connbench.c" -o "$CB" -lpthread
	fi
}

kill_wait() { # pid [signal]: end one process we started, by pid
	local pid=$1 sig=${2:-TERM} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bpf_stats() { # -> "run_cnt run_time_ns" of connect4, then of sockops, on $CG
	local l c4="0 0" so="0 0"
	while read -r l; do
		parse "$l"
		case "$l" in
		hook=connect4*) c4="${KV[run_cnt]:-0} ${KV[run_time_ns]:-0}" ;;
		hook=sock_ops*) so="${KV[run_cnt]:-0} ${KV[run_time_ns]:-0}" ;;
		esac
	done < <("$CB" progstats "$CG")
	echo "$c4 $so"
}

# A single-service bench of its own (lb.sh, decide.sh), named by TAG:
# cgroup CG, netns NS (lo up, ports to reuse), bpffs dir BPFROOT, work dir
# WORK, BPF run-time stats held on (STATS_PID) and an echo server on
# 127.0.1.1-10:8080 in the netns (SERVER_PID). Needs CB and CGROOT; the
# caller traps EXIT into a cleanup that calls solo_bench_stop.
solo_bench_start() { # tag
	local tag=$1 i
	CG=$CGROOT/$tag-$$
	mkdir "$CG"
	NS=$tag-$$
	ip netns add "$NS"
	NS_CREATED=1
	ip -n "$NS" link set lo up
	ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
		net.ipv4.tcp_tw_reuse=1
	awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts ||
		mount -t bpf bpf /sys/fs/bpf
	BPFROOT=/sys/fs/bpf/$tag-$$
	mkdir -p "$BPFROOT"
	WORK=$(mktemp -d "/tmp/$tag.XXXXXX")
	"$CB" statshold >"$WORK/stats" 2>&1 &
	STATS_PID=$!
	sleep 0.2
	grep -q 'statshold=on' "$WORK/stats" ||
		{ echo "cannot enable BPF run-time stats" >&2; return 1; }
	"$CB" serve --netns "$NS" --addrs 127.0.1.1-10:8080 --threads 2 >"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	for i in $(seq 50); do grep -q ready "$WORK/server.log" && break; sleep 0.1; done
	grep -q ready "$WORK/server.log" || { cat "$WORK/server.log" >&2; return 1; }
}

# Everything solo_bench_start made, and the agent (AGENT_PID), gone.
solo_bench_stop() {
	local p
	kill_wait "$AGENT_PID"
	kill_wait "$SERVER_PID"
	kill_wait "$STATS_PID"
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		for p in $(seq 20); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
	fi
	[ "$NS_CREATED" = 1 ] && ip netns del "$NS" 2>/dev/null
	[ -n "$BPFROOT" ] && rm -rf "$BPFROOT"
	[ -n "$WORK" ] && rm -rf "$WORK"
}

# End the agent this script started (AGENT_PID) and take down what it left
# in force: SIGTERM leaves the data plane attached, so uninstall it from
# CG and BPFFS, then the pins. Needs BPFMESH.
stop_agent() {
	local i
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null || true
	for i in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=""
	"$BPFMESH" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1 || true
	rm -rf "$BPFFS"
}
