#!/usr/bin/env bash
# Run the cmocka unit binaries given as arguments: one line per program with
# its counts (and any failure or sanitizer report under it), then the totals.
# Output ends with "unit: N passed, N failed"; exit 1 if any failed.
set -u
passed=0 failed=0
for bin in "$@"; do
	out=$("$bin" 2>&1); rc=$?
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	printf '  %-16s %3d passed, %d failed\n' "$(basename "$bin")" "${p:-0}" "${f:-0}"
	echo "$out" | grep -E '^\[  FAILED  \] [^0-9]|^\[  ERROR   \]|^\[   LINE   \]|runtime error|AddressSanitizer' |
		sed 's/^/    /' || true
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "$bin: exited $rc"; echo "$out" | tail -20
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
