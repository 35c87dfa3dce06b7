#!/usr/bin/env bash
# The README's test command runs this after building: unit tests (no root),
# then kernel tests (root). The last line is the summary CI reads.
set -u
cd "$(dirname "$0")/.."
unit_out=$(mktemp); kern_out=$(mktemp)
trap 'rm -f "$unit_out" "$kern_out"' EXIT

echo "== unit tests"
tests/run_unit.sh .output/unit/test_* | tee "$unit_out"
echo "== kernel tests ($(uname -r))"
.output/test_kern 2>&1 | tee "$kern_out"

read -r up uf < <(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$unit_out" | tail -1)
read -r kp kf ks < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p' "$kern_out" | tail -1)
if [ -z "${up:-}" ] || [ -z "${kp:-}" ]; then
	echo "test run incomplete: a suite did not print its summary"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$((up + kp)) passed, $((uf + kf)) failed, ${ks} skipped (unit $up/$((up + uf)), kernel $kp/$((kp + kf + ks)))"
[ $((uf + kf)) -eq 0 ]
