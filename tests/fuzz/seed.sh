#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seed the fuzz corpus DIR from the example policies, the unit-test fixtures
# and the bad-policy table. Each seed gets the harness's flag byte first
# (0: not strict), see tests/fuzz/fuzz_policy.h.
set -eu
cd "$(dirname "$0")/../.."
out=${1:?usage: seed.sh CORPUS_DIR}
mkdir -p "$out"
find policies tests/unit/fixtures tests/bad-policies -type f \
	\( -name '*.yaml' -o -name '*.yml' \) -size -64k -print0 |
while IFS= read -r -d '' f; do
	name=seed-$(printf '%s' "$f" | tr '/' '_')
	[ -e "$out/$name" ] || { printf '\0'; cat "$f"; } > "$out/$name"
done
