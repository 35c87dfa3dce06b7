#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's start -> apply -> reload -> reject -> reload -> stop cycle under
# valgrind memcheck: no error and no leak (definite, indirect or possible) is
# allowed. Runs as root: the agent attaches to a cgroup this script creates
# (never the machine's root cgroup) and pins under its own bpffs dir; no
# traffic is sent. Everything is removed on exit, on failure too.
# Usage: tests/valgrind/agent-cycle.sh [BPFMESH_BINARY]
set -eu
cd "$(dirname "$0")/../.."
bin=${1:-.output/bpfmesh}
[ "$(id -u)" -eq 0 ] || { echo "agent-cycle: needs root (BPF, cgroups)"; exit 1; }
command -v valgrind >/dev/null || { echo "agent-cycle: valgrind missing (make deps)"; exit 1; }

cg_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg_root" ] || { echo "agent-cycle: no cgroup2 mount"; exit 1; }
cg="$cg_root/bpfmesh-vg-$$"
bpffs="/sys/fs/bpf/bpfmesh-vg-$$"
work=$(mktemp -d /tmp/bpfmesh-vg.XXXXXX)
pol="$work/policies"
log="$work/agent.log"
agent=""

cleanup() {
	if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
		kill -KILL "$agent" 2>/dev/null || true
		wait "$agent" 2>/dev/null || true
	fi
	# A stopped agent leaves its data plane in force: remove it.
	"$bin" uninstall --bpffs "$bpffs" --cgroup "$cg" >/dev/null 2>&1 || true
	rm -rf "$bpffs" 2>/dev/null || true
	rmdir "$cg" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Wait until the log holds $1 at least $2 times (valgrind is slow: 60 s).
wait_log() {
	local i
	for i in $(seq 600); do
		[ "$(grep -c -- "$1" "$log" 2>/dev/null || true)" -ge "$2" ] && return 0
		kill -0 "$agent" 2>/dev/null || break
		sleep 0.1
	done
	echo "agent-cycle: timed out waiting for \"$1\" x$2"; tail -20 "$log"; exit 1
}

mkdir -p "$pol" "$cg"
cp policies/examples/canary.yaml "$pol/"

valgrind --tool=memcheck --suppressions=tests/valgrind/bpf.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
	--show-leak-kinds=definite,indirect,possible --error-exitcode=99 --num-callers=30 \
	"$bin" agent --policies "$pol" --cgroup "$cg" --bpffs "$bpffs" >"$log" 2>&1 &
agent=$!

count_log() { grep -c -- "$1" "$log" 2>/dev/null || true; }
full="4 services, 11 endpoints"

wait_log "applied generation 1" 1
# Reload: two more files (one event each; the second apply has them all).
cp policies/examples/multi-port.yaml policies/examples/weighted-endpoints.yaml "$pol/"
wait_log "$full" 1
# A hostile file (a duplicate list key; a heap overflow at 8f281d9): rejected.
cp tests/bad-policies/repro-bug1-dupkey-ports.yaml "$pol/zz-bad.yaml"
wait_log "policy rejected" 1
n=$(count_log "$full")
rm "$pol/zz-bad.yaml"
wait_log "$full" $((n + 1))
kill -HUP "$agent"
wait_log "$full" $((n + 2))
kill -TERM "$agent"
status=0
wait "$agent" || status=$?
agent=""

grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks" "$log" || true
if [ "$status" -ne 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
	echo "agent-cycle: FAIL (exit $status)"; cat "$log"; exit 1
fi
echo "agent-cycle: OK: start, applies, a rejection, SIGHUP, stop; no memcheck error, no leak"
