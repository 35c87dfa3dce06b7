#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/sizes.sh N: the agent's map size options for the bench's policy of N
# services x 10 endpoints (connbench gen-policy: a VIP:port per service, two
# subsets, so two clusters, and an endpoint slot per endpoint), as an
# operator would size a node for it: what the policy needs plus half again
# (slots of changed subsets wait out a grace period before reuse; a few
# more services may come), rounded up to a multiple of 1,024. Used by
# bench/run.sh, bench/control.sh and bench/mapmem.sh, so that they measure
# the same maps. Why sizes come from options: docs/benchmarks.md "mapmem".
set -eu
[ $# = 1 ] || { echo "usage: bench/sizes.sh SERVICES" >&2; exit 2; }
n=$1
up() { echo $(( ($1 * 3 / 2 + 1 + 1023) / 1024 * 1024 )); }
echo "--max-services $(up "$n") --max-clusters $(up $((n * 2))) --max-endpoints $(up $((n * 10)))"
