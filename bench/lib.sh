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
