#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Turn one bench/run.sh results directory into summary.md and PNG charts
# (gnuplot). With --docs, also copy the charts into docs/ and replace the
# generated section of docs/benchmarks.md with the summary.
#
#   bench/report.sh [--docs] RESULTS_DIR
#
# Every number comes from the CSV files run.sh wrote: samples.csv (one line
# per client sample), kern.csv (connect4 run_cnt/run_time_ns deltas per
# sample), ctl.csv (control-plane measurements) and env.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCS=0
if [ "${1:-}" = --docs ]; then DOCS=1; shift; fi
RES=${1:?usage: bench/report.sh [--docs] RESULTS_DIR}
RES=$(cd "$RES" && pwd)
S=$RES/samples.csv K=$RES/kern.csv C=$RES/ctl.csv

# ------------------------------------------------------------- statistics
# One awk pass over the CSV files: for every series, "KEY median min max n".
#   S|scale|variant|column   samples.csv column (4 cps, 5 p50, 7 p99, 9 errors)
#   P|scale|variant|column|cost|over  per-round ratio to direct, paired
#                            (cost = direct/variant, over = variant/direct)
#   PA|variant|column|cost   the same, every round of every scale pooled
#   K|scale|variant          connect4 ns per call, per sample
#   C|scale|metric           ctl.csv values; X|scale|metric|key: key=value extras
#   E|scale|variant          failed connections, summed
#   M|scale|variant|column   mixed.csv (variant and direct interleaved connection by
#                            connection in one client): 4 mean, 5 p50, 6 p99
#   R|scale|variant|column   the same, ÷ direct's from the same client
# Keys ending in _kb or _bytes get a _mb twin.
mkdir -p "$RES/plot"
STATS=$RES/plot/stats.txt
M=$RES/mixed.csv
[ -f "$M" ] || echo "scale,round,variant,mean_us,p50_us,p99_us,direct_mean_us,direct_p50_us,direct_p99_us,conns,errors" >"$M"
awk -F, -v S="$S" -v K="$K" -v C="$C" -v M="$M" '
	function add(k, x,   t) {
		if (x !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/)
			return
		V[k] = (k in V) ? V[k] " " x : x
		if (k ~ /_kb$/) { t = k; sub(/_kb$/, "_mb", t); add(t, x / 1024) }
		if (k ~ /_bytes$/) { t = k; sub(/_bytes$/, "_mb", t); add(t, x / 1048576) }
	}
	FNR == 1 { next }
	FILENAME == S {
		for (c = 4; c <= 9; c++) add("S|" $1 "|" $3 "|" c, $c)
		for (c = 4; c <= 7; c++) val[$1 "|" $2 "|" $3 "|" c] = $c
		E[$1 "|" $3] += $9
		next
	}
	FILENAME == K {
		if ($4 > 0) add("K|" $1 "|" $3, $5 / $4)
		# sockops ns per call, calls and BPF ns (connect4 + sockops) per
		# connection: connect4 runs once for every connect.
		if (NF >= 7 && $6 > 0) add("KS|" $1 "|" $3, $7 / $6)
		if (NF >= 7 && $4 > 0) { add("KN|" $1 "|" $3, $6 / $4); add("KC|" $1 "|" $3, ($5 + $7) / $4) }
		next
	}
	FILENAME == M {
		for (c = 4; c <= 6; c++) {
			add("M|" $1 "|" $3 "|" c, $c)
			if ($c > 0 && $(c + 3) > 0)
				add("R|" $1 "|" $3 "|" c, $c / $(c + 3))
		}
		next
	}
	FILENAME == C {
		add("C|" $1 "|" $2, $4)
		m = split($5, kv, " ")
		for (i = 1; i <= m; i++)
			if ((p = index(kv[i], "=")) > 0)
				add("X|" $1 "|" $2 "|" substr(kv[i], 1, p - 1), substr(kv[i], p + 1))
	}
	END {
		for (key in val) {
			split(key, a, "|")
			if (a[3] == "direct")
				continue
			dk = a[1] "|" a[2] "|direct|" a[4]
			if (!(dk in val))
				continue
			d = val[dk] + 0; x = val[key] + 0
			if (d > 0 && x > 0) {
				add("P|" a[1] "|" a[3] "|" a[4] "|cost", d / x)
				add("PA|" a[3] "|" a[4] "|cost", d / x)
				add("P|" a[1] "|" a[3] "|" a[4] "|over", x / d)
			}
		}
		for (k in E)
			print "E|" k, E[k], E[k], E[k], 1
		for (k in V) {
			n = split(V[k], v, " ")
			for (i = 2; i <= n; i++) {
				t = v[i] + 0
				for (j = i - 1; j >= 1 && v[j] + 0 > t; j--)
					v[j + 1] = v[j]
				v[j + 1] = t
			}
			m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			print k, m, v[1], v[n], n
		}
	}' "$S" "$K" "$C" "$M" >"$STATS"
declare -A ST
while read -r k rest; do ST[$k]=$rest; done <"$STATS"
st() { # key parts -> "median min max n", or "- - - 0"
	local IFS='|'
	local k="$*"
	echo "${ST[$k]:-- - - 0}"
}

# formatting: "median (min–max)" with a printf format
fmt3() { # fmt "med min max n"
	local f=$1
	set -- $2
	if [ "${4:-0}" = 0 ]; then echo "n/a"; return; fi
	if [ "$4" = 1 ]; then printf "$f" "$1"; return; fi
	printf "$f ($f–$f)" "$1" "$2" "$3"
}
fmt1() { # fmt "med ..."
	local f=$1
	set -- $2
	if [ "${4:-0}" = 0 ]; then echo "n/a"; else printf "$f" "$1"; fi
}
num() { set -- $1; echo "$1"; }
pct_over() { awk -v x="$1" 'BEGIN { if (x == "-" || x == "") print "n/a"; else printf "%+.1f%%", (x - 1) * 100 }'; }

SCALES=$(awk -F, 'NR > 1 && !seen[$1]++ { print $1 }' "$S")
FIRST=$(echo "$SCALES" | head -1)
LAST=$(echo "$SCALES" | tail -1)
VARIANTS="direct direct2 bpfmesh iptables haproxy"
have() { [ -n "${ST[S|$1|$2|4]:-}" ]; }
envv() { sed -n "s/^$1=//p" "$RES/env.txt" | head -1; }

# ------------------------------------------------------------- summary.md
OUTMD=$RES/summary.md
{
	echo "Run of $(envv date) (git $(envv git)) on $(envv cpus) CPUs ($(envv cpu)), kernel $(envv kernel);"
	echo "load average $(envv loadavg_start) at start, $(envv loadavg_end) at the end; $(envv elapsed_s) s."
	[ "$(envv quick)" = 1 ] && echo "**Quick (smoke) run: few, short samples; do not quote these numbers.**"
	echo "Settings: $(envv rounds) rounds of $(envv duration) s samples (after $(envv warmup) s warm-up), $(envv threads) client threads;"
	echo "iptables: $(envv iptables); $(envv haproxy | sed 's/ - https.*//')."
	echo
	echo "### Connection cost ($FIRST services installed)"
	echo
	echo "Connect, send 64 bytes, read the echo, close; $(envv threads) client threads."
	echo "Median over rounds (min–max). *Cost* is direct conn/s ÷ variant conn/s, paired within each round:"
	echo "1.05 means a connection costs 5% more than connecting to the backend directly."
	echo
	echo "*Interleaved* comes from another client per round that alternates the variant and direct connection by"
	echo "connection, in random order (the same moments of machine noise for both): mean latency ÷ direct's."
	echo
	echo "| Variant | conn/s | p50 µs | p99 µs | cost vs direct | p50 vs direct | interleaved: mean vs direct | errors |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for v in $VARIANTS; do
		if ! have "$FIRST" "$v"; then
			[ "$v" = direct2 ] || echo "| $v | not run | | | | | | |"
			continue
		fi
		cps=$(st S "$FIRST" "$v" 4)
		p50=$(st S "$FIRST" "$v" 5)
		p99=$(st S "$FIRST" "$v" 7)
		cost=$(st P "$FIRST" "$v" 4 cost)
		p50r=$(st P "$FIRST" "$v" 5 over)
		err=$(num "$(st E "$FIRST" "$v")")
		if [ "$v" = direct ]; then
			echo "| $v | $(fmt3 %.0f "$cps") | $(fmt3 %.0f "$p50") | $(fmt3 %.0f "$p99") | 1 (reference) | 1 (reference) | 1 (reference) | $err |"
			continue
		fi
		echo "| $v | $(fmt3 %.0f "$cps") | $(fmt3 %.0f "$p50") | $(fmt3 %.0f "$p99") | $(fmt3 %.3f "$cost") | $(fmt3 %.3f "$p50r") | $(fmt3 %.3f "$(st R "$FIRST" "$v" 4)") | $err |"
	done
	echo
	echo "### Scale: cost vs direct with N services × 10 endpoints installed"
	echo
	echo "Cost vs direct (conn/s, paired per round) and interleaved mean latency vs direct, median (min–max) over"
	echo "rounds; the measured service is the last one in KUBE-SERVICES."
	echo
	echo "| Services | direct conn/s | bpfmesh | iptables | haproxy | interleaved bpfmesh | interleaved iptables | bpfmesh p50 µs | iptables p50 µs | direct p50 µs |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $SCALES; do
		row="| $n | $(fmt1 %.0f "$(st S "$n" direct 4)")"
		for v in bpfmesh iptables haproxy; do
			row="$row | $(fmt3 %.3f "$(st P "$n" "$v" 4 cost)")"
		done
		for v in bpfmesh iptables; do
			row="$row | $(fmt3 %.3f "$(st R "$n" "$v" 4)")"
		done
		for v in bpfmesh iptables direct; do
			row="$row | $(fmt1 %.0f "$(st S "$n" "$v" 5)")"
		done
		echo "$row |"
	done
	echo
	echo "### Per-decision kernel cost (cgroup/connect4, BPF run-time stats)"
	echo
	echo "run_time_ns ÷ run_cnt of the connect4 program over each sample; median (min–max) over samples."
	echo "A VIP connect is a hit (lookup, weighted pick, rewrite, counters); a direct connect is a miss."
	echo
	echo "| Services | ns per VIP connect (hit) | ns per other connect (miss) |"
	echo "|---:|---:|---:|"
	for n in $SCALES; do
		echo "| $n | $(fmt3 %.0f "$(st K "$n" bpfmesh)") | $(fmt3 %.0f "$(st K "$n" direct)") |"
	done
	echo
	echo "BPF time per connection with health on: (connect4 + sockops run_time_ns) ÷ connect4 run_cnt"
	echo "(one connect4 run a connection). sockops runs several times a connection (SYN sent,"
	echo "established, state changes, close); a direct connect was not placed, so sockops returns early."
	echo
	echo "| Services | VIP: BPF ns per connection | VIP: sockops calls, ns each | direct: BPF ns per connection | direct: sockops calls, ns each |"
	echo "|---:|---:|---:|---:|---:|"
	for n in $SCALES; do
		echo "| $n | $(fmt3 %.0f "$(st KC "$n" bpfmesh)") | $(fmt1 %.1f "$(st KN "$n" bpfmesh)"), $(fmt1 %.0f "$(st KS "$n" bpfmesh)") | $(fmt3 %.0f "$(st KC "$n" direct)") | $(fmt1 %.1f "$(st KN "$n" direct)"), $(fmt1 %.0f "$(st KS "$n" direct)") |"
	done
	echo
	echo "### Health: metrics, stats, ejection"
	echo
	echo "*scrape*: the agent's CPU time (utime + stime from /proc, over 20 scrapes) and wall time per"
	echo "GET /metrics, which reads every counter of every endpoint and cluster slot from the pinned maps"
	echo "and renders the text; *stats*: bpfmesh stats -j --interval 0, wall time. *ejection*: a VIP"
	echo "with a dead endpoint that ejects at the first failure (5 services, one probe each): the next"
	echo "connect after the refused one ends that many µs later and no later connect (of 50) is refused;"
	echo "the agent's log line follows that many ms after the failed connect returned (ms resolution)."
	echo
	echo "| Services (endpoint slots) | scrape: agent CPU | scrape: wall | /metrics size | stats -j | next connect after the failure | later connects refused | agent log line after |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $SCALES; do
		echo "| $n ($(( n * 10 + 15 ))) | $(fmt1 "%.1f ms" "$(st C "$n" bpfmesh_scrape_agent_cpu_ms)") | $(fmt1 "%.0f ms" "$(st C "$n" bpfmesh_scrape_wall_ms)") | $(fmt1 "%.1f MiB" "$(st C "$n" bpfmesh_scrape_mb)") | $(fmt1 "%.3f s" "$(st C "$n" bpfmesh_cli_stats_s)") | $(fmt3 "%.0f µs" "$(st C "$n" bpfmesh_eject_next_connect_us)") | $(fmt3 "%.0f" "$(st C "$n" bpfmesh_eject_refused_after)") | $(fmt3 "%.0f ms" "$(st C "$n" bpfmesh_eject_to_log_ms)") |"
	done
	echo
	echo "### Control plane"
	echo
	echo "bpfmesh: *start → map* is wall clock from starting the agent until the pinned services map holds the"
	echo "measured and the last service (load, attach, compile, apply); *agent* is what the agent logs for"
	echo "compile + apply; *weight change* is from the atomic rename of the edited policy file (90/10 ↔ 75/25)"
	echo "until the map holds the new weights, polled every 100 µs with one map lookup (cost per poll in"
	echo "ctl.csv), with the agent's own compile + apply for that change in brackets. iptables: iptables-restore wall time; *partial* = KUBE-SERVICES + the changed KUBE-SVC chain"
	echo "(kube-proxy ≥ 1.27), *full* = every chain (kube-proxy's full sync). Medians (min–max)."
	echo
	echo "| Services | bpfmesh compile (CLI) | bpfmesh start → map | agent compile + apply | agent peak RSS | weight change | BPF map memory | iptables rules | iptables initial load | partial sync | full sync |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $SCALES; do
		comp=$(fmt1 "%.2f s" "$(st C "$n" bpfmesh_cli_compile_s)")
		cr=$(fmt1 "%.0f" "$(st X "$n" bpfmesh_cli_compile_s maxrss_mb)")
		start=$(fmt1 "%.0f ms" "$(st C "$n" bpfmesh_start_to_map_ms)")
		ac=$(st C "$n" bpfmesh_compile_ms)
		aa=$(st C "$n" bpfmesh_apply_ms)
		agent="n/a"
		[ "$(num "$ac")" != - ] && agent=$(printf "%.0f + %.0f ms" "$(num "$ac")" "$(num "$aa")")
		hwm=$(fmt1 "%.0f MiB" "$(st C "$n" bpfmesh_agent_hwm_mb)")
		wc=$(fmt3 "%.1f" "$(st C "$n" bpfmesh_weight_change_ms)")
		[ "$wc" != n/a ] && wc="$wc ms ($(fmt1 %.0f "$(st X "$n" bpfmesh_reapply_agent_ms compile_ms)") + $(fmt1 %.0f "$(st C "$n" bpfmesh_reapply_agent_ms)") ms)"
		# The series' first change, apart (bench/run.sh weight_change).
		[ "$(num "$(st C "$n" bpfmesh_first_change_ms)")" != - ] &&
			wc="$wc; first $(fmt1 %.1f "$(st C "$n" bpfmesh_first_change_ms)") ms ($(fmt1 %.0f "$(st X "$n" bpfmesh_first_reapply_agent_ms compile_ms)") + $(fmt1 %.0f "$(st C "$n" bpfmesh_first_reapply_agent_ms)") ms)"
		mem=$(fmt1 "%.1f MiB" "$(st C "$n" bpfmesh_map_memlock_mb)")
		rules=$(fmt1 %.0f "$(st C "$n" iptables_rules)")
		il=$(fmt1 "%.2f s" "$(st C "$n" iptables_initial_load_s)")
		ilr=$(fmt1 "%.0f" "$(st X "$n" iptables_initial_load_s maxrss_mb)")
		ps=$(fmt3 "%.2f" "$(st C "$n" iptables_partial_sync_s)")
		fs=$(fmt3 "%.2f" "$(st C "$n" iptables_full_sync_s)")
		echo "| $n | $comp, ${cr} MiB | $start | $agent | $hwm | $wc | $mem | $rules | $il, ${ilr} MiB | $ps s | $fs s |"
	done
	echo
	echo "Reading the map back through the CLI (\`bpfmesh maps services -j\`, a full dump) takes"
	for n in $SCALES; do printf ' %s s at %s services;' "$(fmt1 %.3f "$(st C "$n" bpfmesh_cli_dump_s)")" "$n"; done
	echo " the benchmark polls the pinned map directly instead (≈$(fmt1 %.1f "$(st X "$LAST" bpfmesh_weight_change_ms poll_us)") µs a poll)."
	echo
	# ---------------------------------------------------------- targets
	cost_first=$(num "$(st P "$FIRST" bpfmesh 4 cost)")
	cost_last=$(num "$(st P "$LAST" bpfmesh 4 cost)")
	icost_first=$(num "$(st P "$FIRST" iptables 4 cost)")
	icost_last=$(num "$(st P "$LAST" iptables 4 cost)")
	flat=$(awk -v a="$cost_first" -v b="$cost_last" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.3f", b / a }')
	iflat=$(awk -v a="$icost_first" -v b="$icost_last" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.3f", b / a }')
	mix_first=$(num "$(st R "$FIRST" bpfmesh 4)")
	mix_last=$(num "$(st R "$LAST" bpfmesh 4)")
	mflat=$(awk -v a="$mix_first" -v b="$mix_last" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.3f", b / a }')
	p50_first=$(num "$(st S "$FIRST" bpfmesh 5)")
	p50_last=$(num "$(st S "$LAST" bpfmesh 5)")
	start_last=$(num "$(st C "$LAST" bpfmesh_start_to_map_ms)")
	agent_last=$(awk -v c="$(num "$(st C "$LAST" bpfmesh_compile_ms)")" -v a="$(num "$(st C "$LAST" bpfmesh_apply_ms)")" 'BEGIN { if (c == "-" || a == "-") print "-"; else printf "%.0f", c + a }')
	wc_last=$(num "$(st C "$LAST" bpfmesh_weight_change_ms)")
	wc_first=$(num "$(st C "$FIRST" bpfmesh_weight_change_ms)")
	# The first change of each series, apart (runs before it mixed it in).
	fc_first=$(num "$(st C "$FIRST" bpfmesh_first_change_ms)")
	fc_last=$(num "$(st C "$LAST" bpfmesh_first_change_ms)")
	worse() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || a == "") print b; else if (b == "-" || b == "" || a + 0 > b + 0) print a; else print b }'; }
	r() { # printf format value, "-" stays
		awk -v f="$1" -v x="$2" 'BEGIN { if (x == "-" || x == "") print "n/a"; else printf f "\n", x }'
	}
	verdict() { # value op limit
		awk -v x="$1" -v l="$3" -v op="$2" 'BEGIN {
			if (x == "-" || x == "") { print "not measured"; exit }
			ok = (op == "<=") ? (x <= l) : (x < l)
			print ok ? "**met**" : "**missed**" }'
	}
	verdict2() { # a b limit: both must be under the limit; they may disagree
		awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN {
			if (a == "-" || a == "" || b == "-" || b == "") { print "not measured"; exit }
			if (a <= l && b <= l) print "**met**"
			else if (a > l && b > l) print "**missed**"
			else print "**borderline** (the two measures disagree)" }'
	}
	mix_worst=$(for n in $SCALES; do num "$(st R "$n" bpfmesh 4)"; done |
		awk '$1 != "-" { if (!n++ || $1 > m) m = $1 } END { if (n) print m; else print "-" }')
	pooled=$(num "$(st PA bpfmesh 4 cost)")
	aa=$(num "$(st PA direct2 4 cost)")
	aa_note=""
	[ "$aa" != - ] && aa_note="; A/A control (direct vs a second direct): $(pct_over "$aa")"
	echo "### Where bpfmesh stands against its targets (this run)"
	echo
	echo "| Target | Measured | Verdict |"
	echo "|---|---|---|"
	echo "| Connect through a VIP within 5% of direct | interleaved mean latency vs direct: $(pct_over "$mix_first") at $FIRST services, $(pct_over "$mix_last") at $LAST, worst scale $(pct_over "$mix_worst"); conn/s cost, all rounds pooled: $(pct_over "$pooled")$aa_note | $(verdict2 "$mix_worst" "$pooled" 1.05) |"
	if [ "$LAST" = "$FIRST" ]; then
		echo "| Flat from 10 to 10,000 services (ratio < 1.1) | one scale only | not measured |"
	elif [ "$LAST" -lt 10000 ]; then
		echo "| Flat from 10 to 10,000 services (ratio < 1.1) | only up to $LAST services in this run: interleaved $mflat, conn/s cost $flat | not measured |"
	else
		echo "| Flat from 10 to 10,000 services (ratio < 1.1) | $LAST vs $FIRST services: interleaved ratio $mflat, conn/s cost ratio $flat (p50 $(r %.0f "$p50_first") → $(r %.0f "$p50_last") µs); iptables: $iflat (p50 $(r %.0f "$(num "$(st S "$FIRST" iptables 5)")") → $(r %.0f "$(num "$(st S "$LAST" iptables 5)")") µs) | $(verdict2 "$mflat" "$flat" 1.1) |"
	fi
	if [ "$LAST" -ge 10000 ]; then
		echo "| 10,000 × 10 compiled and applied < 2 s | agent start → map holds all: median $(r %.0f "$start_last") ms ($(fmt3 %.0f "$(st C "$LAST" bpfmesh_start_to_map_ms)") ms over cold starts; the agent's compile + apply: $agent_last ms) | $(verdict "$start_last" "<" 2000) |"
	else
		echo "| 10,000 × 10 compiled and applied < 2 s | not run at 10,000 ($LAST: start → map $(r %.0f "$start_last") ms) | not measured |"
	fi
	echo "| A weight change applied < 10 ms | first change $(r %.1f "$fc_first") ms, then median $(r %.1f "$wc_first") ms at $FIRST services; first $(r %.1f "$fc_last") ms, then $(r %.1f "$wc_last") ms at $LAST (agent at $LAST: compile $(fmt1 %.0f "$(st X "$LAST" bpfmesh_reapply_agent_ms compile_ms)") ms + apply $(fmt1 %.0f "$(st C "$LAST" bpfmesh_reapply_agent_ms)") ms; first: $(fmt1 %.0f "$(st X "$LAST" bpfmesh_first_reapply_agent_ms compile_ms)") + $(fmt1 %.0f "$(st C "$LAST" bpfmesh_first_reapply_agent_ms)") ms) | $(verdict "$(worse "$fc_first" "$wc_first")" "<" 10) at $FIRST, $(verdict "$(worse "$fc_last" "$wc_last")" "<" 10) at $LAST |"
} >"$OUTMD"

# ------------------------------------------------------------- charts
if command -v gnuplot >/dev/null; then
	D=$RES/plot
	mkdir -p "$D"
	: >"$D/connect.dat"
	three() { set -- $1; if [ "$1" = - ]; then echo "NaN NaN NaN"; else echo "$1 $2 $3"; fi; }
	for v in $VARIANTS; do
		have "$FIRST" "$v" || continue
		if [ "$v" = direct ]; then
			echo "$v 1 1 1 1 1 1" >>"$D/connect.dat"
		else
			echo "$v $(three "$(st P "$FIRST" "$v" 4 cost)") $(three "$(st R "$FIRST" "$v" 4)")" >>"$D/connect.dat"
		fi
	done
	for v in $VARIANTS; do
		: >"$D/scale-$v.dat"
		for n in $SCALES; do
			have "$n" "$v" || continue
			p50=$(three "$(st S "$n" "$v" 5)")
			if [ "$v" = direct ]; then c="1 1 1"; else c=$(three "$(st R "$n" "$v" 4)"); fi
			echo "$n $p50 $c" >>"$D/scale-$v.dat"
		done
	done
	: >"$D/control.dat"
	for n in $SCALES; do
		s() { local m; m=$(num "$(st C "$n" "$1")"); [ "$m" = - ] && echo NaN || echo "$m"; }
		echo "$n $(s bpfmesh_start_to_map_ms) $(s bpfmesh_weight_change_ms) $(s iptables_initial_load_s) $(s iptables_partial_sync_s) $(s iptables_full_sync_s)" >>"$D/control.dat"
	done
	gnuplot 2>"$D/gnuplot.log" <<EOF
set terminal pngcairo size 900,520 font ",11"
set output "$RES/bench-connect.png"
set title "Cost of a connection vs direct, $FIRST services installed (connect + 64 B echo + close)"
set datafile missing "NaN"
set style data histograms
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.6 border -1
set ylabel "x direct (median, min–max over rounds)"
set yrange [0:*]
set grid ytics
set key top left
plot "$D/connect.dat" using 2:3:4:xtic(1) lc rgb "#3070b0" title "per-sample: direct conn/s ÷ variant conn/s", \
     "" using 5:6:7 lc rgb "#30a070" title "interleaved with direct: mean latency ÷ direct's", \
     1.05 with lines dt 2 lc rgb "#888888" title "1.05"

set terminal pngcairo size 1200,520 font ",11"
set output "$RES/bench-scale.png"
set multiplot layout 1,2 title "Cost with N services x 10 endpoints installed (measured service last in iptables order)"
set style data linespoints
set logscale x
set xlabel "services installed"
set grid
set key top left
set title "p50 latency per connection (median, min–max)"
set ylabel "µs"
set yrange [0:*]
plot for [v in "direct bpfmesh iptables haproxy"] "$D/scale-".v.".dat" using 1:2:3:4 with yerrorlines lw 2 title v
set title "interleaved with direct: mean latency ÷ direct's"
set ylabel "× direct"
set yrange [0.9:*]
set datafile missing "NaN"
plot for [v in "direct bpfmesh iptables"] "$D/scale-".v.".dat" using 1:5:6:7 with yerrorlines lw 2 title v, 1.05 with lines dt 2 lc rgb "#888888" title "target 1.05"
unset multiplot

set terminal pngcairo size 900,520 font ",11"
set output "$RES/bench-control.png"
set title "Control plane: time to install and change policy"
set logscale xy
set xlabel "services installed (x 10 endpoints)"
set ylabel "seconds"
set yrange [*:*]
set grid
set key top left
set datafile missing "NaN"
plot "$D/control.dat" using 1:(\$2/1000) with linespoints lw 2 title "bpfmesh agent start -> map", \
     "" using 1:(\$3/1000) with linespoints lw 2 title "bpfmesh weight change -> map", \
     "" using 1:4 with linespoints lw 2 title "iptables-restore initial load", \
     "" using 1:5 with linespoints lw 2 title "iptables-restore partial sync", \
     "" using 1:6 with linespoints lw 2 title "iptables-restore full sync", \
     0.01 with lines dt 2 lc rgb "#888888" title "10 ms", 2 with lines dt 3 lc rgb "#888888" title "2 s"
EOF
fi

cat "$OUTMD"

# ------------------------------------------------------------- docs/
if [ "$DOCS" = 1 ]; then
	MD=$ROOT/docs/benchmarks.md
	for p in connect scale control; do
		[ -f "$RES/bench-$p.png" ] && cp "$RES/bench-$p.png" "$ROOT/docs/bench-$p.png"
	done
	if [ -f "$MD" ] && grep -q '<!-- bench:results:begin -->' "$MD"; then
		awk -v f="$OUTMD" '
			/<!-- bench:results:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
			/<!-- bench:results:end -->/ { skip = 0 }
			!skip { print }' "$MD" >"$MD.tmp" && mv "$MD.tmp" "$MD"
	else
		echo "report.sh: $MD has no <!-- bench:results:begin/end --> markers; not updated" >&2
	fi
fi
