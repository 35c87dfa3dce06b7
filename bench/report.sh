#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Turn one bench/run.sh results directory into summary.md and PNG charts
# (gnuplot). With --docs, also copy the charts into docs/ and replace the
# generated section of docs/benchmarks.md with the summary.
#
#   bench/report.sh [--docs] RESULTS_DIR
#
# Every number comes from the files run.sh wrote: samples.csv (one line
# per client sample), kern.csv (connect4 run_cnt/run_time_ns deltas per
# sample), ctl.csv (control-plane measurements), nosvc.csv (non-service
# connects, managed cgroup vs no agent), sockmap.csv (bench/sockmap.sh's
# samples), k8s.txt (k8s_scale --agent's output) and env.txt.
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
#   N|scale|pair             nosvc.csv: mean latency of client a ÷ client b, run at
#                            the same time (managed: a in the managed cgroup, b in
#                            the bare one; aa: both bare, the A/A control)
#   SM|kind|size|col         sockmap.csv: accelerated ÷ plain, paired by round
#                            (rr: col 5 p50, 7 p99; bulk: col 5 MB/s)
# Keys ending in _kb or _bytes get a _mb twin. Every line: KEY median min max n
# scatter (1.4826 x the median absolute deviation: the sd, robust).
mkdir -p "$RES/plot"
STATS=$RES/plot/stats.txt
M=$RES/mixed.csv N=$RES/nosvc.csv SM=$RES/sockmap.csv
[ -f "$M" ] || echo "scale,round,variant,mean_us,p50_us,p99_us,direct_mean_us,direct_p50_us,direct_p99_us,conns,errors" >"$M"
EXTRA=()
[ -f "$N" ] && EXTRA+=("$N")
[ -f "$SM" ] && EXTRA+=("$SM")
awk -F, -v S="$S" -v K="$K" -v C="$C" -v M="$M" -v N="$N" -v SM="$SM" '
	function add(k, x,   t) {
		if (x !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/)
			return
		V[k] = (k in V) ? V[k] " " x : x
		if (k ~ /_kb$/) { t = k; sub(/_kb$/, "_mb", t); add(t, x / 1024) }
		if (k ~ /_bytes$/) { t = k; sub(/_bytes$/, "_mb", t); add(t, x / 1048576) }
	}
	FILENAME == SM {
		# variant,rr,size,n,p50,p90,p99 | variant,bulk,size,secs,MB/s
		k = $2 "|" $3
		i = ++smn[$1 "|" k]
		smv[$1 "|" k "|" i "|5"] = $5
		smv[$1 "|" k "|" i "|7"] = $7
		smk[k] = 1
		next
	}
	FNR == 1 { next }
	FILENAME == N {
		if ($4 > 0 && $5 > 0) add("N|" $1 "|" $3 "|mean", $4 / $5)
		if (NF >= 10 && $6 > 0 && $7 > 0) add("N|" $1 "|" $3 "|p50", $6 / $7)
		next
	}
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
		# every weight change of the series, the first one too
		if ($2 ~ /^bpfmesh_(first|weight)_change_ms$/) add("C|" $1 "|bpfmesh_all_changes_ms", $4)
		m = split($5, kv, " ")
		for (i = 1; i <= m; i++)
			if ((p = index(kv[i], "=")) > 0)
				add("X|" $1 "|" $2 "|" substr(kv[i], 1, p - 1), substr(kv[i], p + 1))
	}
	END {
		for (k in smk) {
			n = smn["accel|" k] < smn["plain|" k] ? smn["accel|" k] : smn["plain|" k]
			for (i = 1; i <= n; i++)
				for (c = 5; c <= 7; c += 2)
					if (smv["plain|" k "|" i "|" c] > 0)
						add("SM|" k "|" c, smv["accel|" k "|" i "|" c] / smv["plain|" k "|" i "|" c])
		}
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
			print "E|" k, E[k], E[k], E[k], 1, 0
		for (k in V) {
			n = split(V[k], v, " ")
			for (i = 2; i <= n; i++) {
				t = v[i] + 0
				for (j = i - 1; j >= 1 && v[j] + 0 > t; j--)
					v[j + 1] = v[j]
				v[j + 1] = t
			}
			m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			# scatter: 1.4826 x the median absolute deviation, an sd
			# that one stalled sample (a 1 s SYN retry) does not blow up
			for (i = 1; i <= n; i++) dv[i] = (v[i] > m) ? v[i] - m : m - v[i]
			for (i = 2; i <= n; i++) {
				t = dv[i]
				for (j = i - 1; j >= 1 && dv[j] > t; j--)
					dv[j + 1] = dv[j]
				dv[j + 1] = t
			}
			sd = 1.4826 * ((n % 2) ? dv[(n + 1) / 2] : (dv[n / 2] + dv[n / 2 + 1]) / 2)
			print k, m, v[1], v[n], n, sd
		}
	}' "$S" "$K" "$C" "$M" "${EXTRA[@]}" >"$STATS"
declare -A ST
while read -r k rest; do ST[$k]=$rest; done <"$STATS"
st() { # key parts -> "median min max n sd", or "- - - 0 0"
	local IFS='|'
	local k="$*"
	echo "${ST[$k]:-- - - 0 0}"
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
	# design.md "Performance targets" and issue 16, each with design.md's
	# own threshold, judged only on figures of this run.
	NM="not measured in this run"
	med() { num "$1"; }
	r() { # printf format value, "-" stays
		awk -v f="$1" -v x="$2" 'BEGIN { if (x == "-" || x == "") print "n/a"; else printf f "\n", x }'
	}
	# The A/A control's error on a median of ratios: how far its own median
	# landed from 1, or the standard error of a median of that many rounds
	# with its scatter (1.2533 sd / sqrt(n), sd from the MAD), whichever is
	# larger.
	aa_err() { # "med min max n sd" of an A/A ratio -> error, or "-"
		set -- $1
		awk -v m="$1" -v n="$4" -v sd="${5:-0}" 'BEGIN {
			if (m == "-" || n + 0 < 2) { print "-"; exit }
			d = m - 1; if (d < 0) d = -d
			se = 1.2533 * sd / sqrt(n)
			printf "%.4f\n", (d > se) ? d : se }'
	}
	# A ratio against a ceiling: borderline when within the A/A error of
	# it (the method cannot tell), else met or missed.
	v_ratio() { # value ceiling err
		awk -v x="$1" -v l="$2" -v e="$3" 'BEGIN {
			if (x == "-" || x == "") { print "'"$NM"'"; exit }
			if (e != "-" && e != "") { d = x - l; if (d < 0) d = -d; if (d <= e) { print "borderline"; exit } }
			print x <= l ? "met" : "missed" }'
	}
	# Repeated figures against a ceiling (strictly under): met when every
	# repetition is under it, missed when the median is not, borderline
	# when the median is under and some repetition is not.
	v_reps() { # "med min max n" ceiling
		local l=$2
		set -- $1
		awk -v m="$1" -v hi="$3" -v l="$l" 'BEGIN {
			if (m == "-" || m == "") { print "'"$NM"'"; exit }
			if (hi + 0 < l) print "met"; else if (m + 0 >= l) print "missed"; else print "borderline" }'
	}
	# The same for a floor (at least): min instead of max.
	v_reps_floor() { # "med min max n" floor
		local l=$2
		set -- $1
		awk -v m="$1" -v lo="$2" -v l="$l" 'BEGIN {
			if (m == "-" || m == "") { print "'"$NM"'"; exit }
			if (lo + 0 >= l) print "met"; else if (m + 0 < l) print "missed"; else print "borderline" }'
	}
	worst() { # verdicts... -> missed > borderline > met > not measured
		local v w=""
		for v in "$@"; do
			case "$v" in
			missed) w=missed ;;
			borderline) [ "$w" = missed ] || w=borderline ;;
			met) [ -z "$w" ] || [ "$w" = "$NM" ] && w=met ;;
			*) [ -z "$w" ] && w=$v ;;
			esac
		done
		echo "${w:-$NM}"
	}
	both() { # two measures of one target: agree, or borderline
		if [ "$1" = "$2" ]; then echo "$1"
		elif [ "$1" = "$NM" ]; then echo "$2"
		elif [ "$2" = "$NM" ]; then echo "$1"
		else echo "borderline (the two measures disagree: $1, $2)"; fi
	}
	bold() { case "$1" in "$NM") echo "$1" ;; *) echo "**$1**" ;; esac; }
	pm() { awk -v e="$1" 'BEGIN { if (e == "-" || e == "") print "no A/A control"; else printf "±%.1f%%", e * 100 }'; }
	has_scale() { echo "$SCALES" | grep -qx "$1"; }

	# A ratio at every traffic scale against a ceiling, with the A/A
	# control's error at that scale; keys with @ for the scale.
	# -> MV (the worst scale's verdict), MT ("+x% at N (±e), ...").
	ratio_at_scales() { # key aa_key ceiling
		local n x e vs=()
		MT=""
		for n in $SCALES; do
			x=$(med "${ST[${1//@/$n}]:-- - - 0 0}")
			e=$(aa_err "${ST[${2//@/$n}]:-- - - 0 0}")
			vs+=("$(v_ratio "$x" "$3" "$e")")
			MT="$MT $(pct_over "$x") at $n ($(pm "$e")),"
		done
		MT=${MT%,}
		MV=$(worst "${vs[@]}")
	}

	# 1. VIP connect <= 3% over direct, every feature on: the interleaved
	# client (A/A: direct2 interleaved with direct) and the per-sample
	# conn/s cost (A/A: direct2's cost).
	ratio_at_scales "R|@|bpfmesh|4" "R|@|direct2|4" 1.03
	vip_i=$MT vi_v=$MV
	ratio_at_scales "P|@|bpfmesh|4|cost" "P|@|direct2|4|cost" 1.03
	vip_c=$MT
	vip_v=$(both "$vi_v" "$MV")

	# 2. Non-service connects from the managed cgroup within 1% of no agent:
	# interleaved mean latency and p50, each with its A/A error.
	ratio_at_scales "N|@|managed|mean" "N|@|aa|mean" 1.01
	ns_m=$MT nm_v=$MV
	ratio_at_scales "N|@|managed|p50" "N|@|aa|p50" 1.01
	ns_p=$MT
	ns_v=$(both "$nm_v" "$MV")

	# 3. Flat from 10 to 10,000 services: cost at 10,000 ÷ cost at 10, each
	# measure; the error is the two scales' A/A errors added.
	if has_scale 10 && has_scale 10000; then
		fl=() fl_m=""
		for m in "R|4|R|direct2|4" "P|4|cost|P|direct2|4|cost"; do
			if [ "${m%%|*}" = R ]; then a=$(med "$(st R 10 bpfmesh 4)") b=$(med "$(st R 10000 bpfmesh 4)")
				ea=$(aa_err "$(st R 10 direct2 4)") eb=$(aa_err "$(st R 10000 direct2 4)") what="interleaved"
			else a=$(med "$(st P 10 bpfmesh 4 cost)") b=$(med "$(st P 10000 bpfmesh 4 cost)")
				ea=$(aa_err "$(st P 10 direct2 4 cost)") eb=$(aa_err "$(st P 10000 direct2 4 cost)") what="conn/s cost"
			fi
			x=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.4f", b / a }')
			e=$(awk -v a="$ea" -v b="$eb" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.4f", a + b }')
			fl+=("$(v_ratio "$x" 1.05 "$e")")
			fl_m="$fl_m $what $(r %.3f "$x") ($(pm "$e")),"
		done
		flat_row="cost at 10,000 ÷ cost at 10 services:${fl_m%,}; bpfmesh p50 $(r %.0f "$(med "$(st S 10 bpfmesh 5)")") → $(r %.0f "$(med "$(st S 10000 bpfmesh 5)")") µs; iptables for scale: $(r %.3f "$(awk -v a="$(med "$(st R 10 iptables 4)")" -v b="$(med "$(st R 10000 iptables 4)")" 'BEGIN { if (a == "-" || b == "-") print "-"; else print b / a }')") interleaved"
		flat_v=$(both "${fl[0]}" "${fl[1]}")
	else
		flat_row="traffic at $(echo $SCALES | sed 's/ /, /g') services only (needs 10 and 10,000)"
		flat_v=$NM
	fi

	# 4-6. 10,000 services x 10 endpoints: cold start, weight change; map
	# memory at 1,000.
	if has_scale 10000 || [ "$(med "$(st C 10000 bpfmesh_start_to_map_ms)")" != - ]; then
		cs=$(st C 10000 bpfmesh_start_to_map_ms)
		cold_row="agent start → pinned map holds the first and the last service: $(fmt3 "%.0f" "$cs") ms over $(set -- $cs; echo "$4") cold starts (the agent's compile + apply: $(r %.0f "$(awk -v c="$(med "$(st C 10000 bpfmesh_compile_ms)")" -v a="$(med "$(st C 10000 bpfmesh_apply_ms)")" 'BEGIN { if (c == "-" || a == "-") print "-"; else print c + a }')") ms)"
		cold_v=$(v_reps "$cs" 1000)
		wc=$(st C 10000 bpfmesh_all_changes_ms)
		wc_row="rename of the edited file → map holds the new weights: first $(r %.1f "$(med "$(st C 10000 bpfmesh_first_change_ms)")") ms, all $(set -- $wc; echo "$4") changes $(fmt3 "%.1f" "$wc") ms"
		wc_v=$(v_reps "$wc" 10)
	else
		cold_row="not run at 10,000 services"; cold_v=$NM
		wc_row="not run at 10,000 services"; wc_v=$NM
	fi
	mem=$(med "$(st C 1000 bpfmesh_map_memlock_bytes)")
	if [ "$mem" != - ]; then
		mem_row="$(r %.1f "$(awk -v b="$mem" 'BEGIN { print b / 1e6 }')") MB ($(r %.1f "$(awk -v b="$mem" 'BEGIN { print b / 1048576 }')") MiB) memlock of every map the agent pinned or attached, its default map sizes"
		mem_v=$(awk -v b="$mem" 'BEGIN { print b < 23e6 ? "met" : "missed" }')
	else
		mem_row="not run at 1,000 services"; mem_v=$NM
	fi
	oth=""
	for n in $SCALES $(envv load_scales); do
		[ "$n" = 1000 ] && continue
		x=$(med "$(st C "$n" bpfmesh_map_memlock_mb)")
		[ "$x" != - ] && oth="$oth $(r %.1f "$x") MiB at $n;"
	done
	[ -n "$oth" ] && mem_row="$mem_row (others:${oth%;})"

	# 7. BPF time per connect decision (connect4 on a VIP hit), per sample.
	dec_list=() dec_row=""
	for n in $SCALES; do
		k=$(st K "$n" bpfmesh)
		dec_list+=("$(v_reps "$k" 500)")
		dec_row="$dec_row $(fmt3 %.0f "$k") ns at $n,"
	done
	dec_v=$(worst "${dec_list[@]}")

	# 8. sockmap: request/response p50 <= 0.75 x plain (each size), bulk >= 1.
	sm_row="" sm_list=()
	for sz in 1 1024 65536; do
		x=$(st SM rr "$sz" 5)
		[ "$(med "$x")" = - ] && continue
		sm_list+=("$(v_reps "$x" 0.75000001)")
		sm_row="$sm_row $sz B $(fmt3 %.2f "$x"),"
	done
	sm_v=$(worst "${sm_list[@]}")
	bk=$(st SM bulk 131072 5)
	[ "$(med "$bk")" = - ] && bk=$(awk '$1 ~ /^SM\|bulk\|/ && $1 ~ /\|5$/ { $1 = ""; print; exit }' "$STATS")
	bk_v=$(v_reps_floor "${bk:-- - - 0}" 1)
	if [ -z "$sm_row" ]; then sm_row=$NM; else sm_row="accelerated ÷ plain per round, p50 at${sm_row%,}"; fi
	if [ "$(med "${bk:-- - - 0}")" = - ]; then bk_row=$NM; else bk_row="accelerated ÷ plain per round: $(fmt3 %.2f "$bk")"; fi

	# 9-10. Kubernetes (k8s_scale --agent): cold start, endpoint changes.
	K8=$RES/k8s.txt
	k8n=$(envv k8s_services)
	k8c=$( [ ! -f "$K8" ] || sed -n 's/^k8s: agent started -> \([0-9]*\) Services listed and applied: \([0-9.]*\) ms, agent CPU \([0-9.]*\) ms.*/\1 \2 \3/p' "$K8" | head -1)
	k8e=$( [ ! -f "$K8" ] || sed -n 's/^k8s: one endpoint change, event -> pinned maps: min \([0-9.]*\) ms, median \([0-9.]*\) ms, \(p90 [0-9.]* ms, \)\{0,1\}max \([0-9.]*\) ms (\([0-9]*\) changes.*/\2 \1 \4 \5/p' "$K8" | head -1)
	if [ -n "$k8c" ] && [ "${k8c%% *}" = 10000 ]; then
		set -- $k8c
		k8c_row="agent started → $1 Services listed and applied: $2 ms (agent CPU $3 ms), one start"
		k8c_v=$(v_reps "$2 $2 $2 1" 1000)
	else
		k8c_row="$NM$( [ -z "$k8c" ] || echo " (at ${k8c%% *} Services: $(echo "$k8c" | cut -d' ' -f2) ms)")"; k8c_v=$NM
	fi
	if [ -n "$k8e" ] && [ "${k8n:-10000}" = 10000 ]; then
		set -- $k8e
		k8e_row="watch event → pinned maps: median $1 ms, min $2, max $3 ms over $4 changes"
		k8e_v=$(v_reps "$k8e" 10)
	else
		k8e_row="$NM$( [ -z "$k8e" ] || echo " (at $k8n Services: median $(echo "$k8e" | cut -d' ' -f1) ms, max $(echo "$k8e" | cut -d' ' -f3) ms)")"; k8e_v=$NM
	fi

	echo "### Where bpfmesh stands against its targets (this run)"
	echo
	echo "Every target of design.md's \"Performance targets\" and issue 16, with the design's threshold;"
	echo "every figure from this run (a target this run did not measure says so)."
	echo "**Borderline**: for a ratio, the figure is within the A/A control's error of the threshold"
	echo "(the error, ± below: the larger of how far the A/A control's median landed from 1 and the"
	echo "standard error of a median of that many rounds with the A/A scatter, 1.2533 × 1.4826 MAD ÷ √n;"
	echo "for the flatness ratio the"
	echo "two scales' errors added); for a repeated figure, the median meets the threshold and some"
	echo "repetition does not. A target judged by two measures is borderline when they disagree."
	echo
	echo "| Target (design.md) | Threshold | Measured (this run) | Verdict |"
	echo "|---|---|---|---|"
	echo "| VIP connect vs direct (loopback connect/request/close loop), every feature on: health counters, ejection, locality, sockmap | ≤ 3% over direct | interleaved with direct, mean latency$vip_i; conn/s cost per round$vip_c (± the A/A control's error) | $(bold "$vip_v") |"
	echo "| Non-service connections from a managed cgroup vs no agent | within 1% | a connect to the backends, sockets from the managed cgroup interleaved with sockets from a cgroup with nothing attached, per round: mean latency$ns_m; p50$ns_p | $(bold "$ns_v") |"
	echo "| That cost flat from 10 to 10,000 services | ratio < 1.05 | $flat_row | $(bold "$flat_v") |"
	echo "| 10,000 services × 10 endpoints: cold start | < 1 s | $cold_row | $(bold "$cold_v") |"
	echo "| 10,000 × 10: one canary weight change visible to the next connection | < 10 ms | $wc_row | $(bold "$wc_v") |"
	echo "| BPF map memory at 1,000 services | below Kmesh's 23 MB | $mem_row | $(bold "$mem_v") |"
	echo "| BPF time per connect decision (bpf_stats: connect4 on a VIP connect) | < 500 ns | per sample:${dec_row%,} | $(bold "$dec_v") |"
	echo "| Same-node traffic over sockmap: request/response p50 | ≥ 25% below plain loopback TCP (≤ 0.75×) | $sm_row$( [ -z "$(envv sockmap_cpus)" ] || echo "; CPUs $(envv sockmap_cpus)") | $(bold "$sm_v") |"
	echo "| Same-node traffic over sockmap: bulk throughput | not lower (≥ 1×) | $bk_row | $(bold "$bk_v") |"
	echo "| Issue 16: 10,000 Kubernetes Services listed and applied | < 1 s | $k8c_row | $(bold "$k8c_v") |"
	echo "| Issue 16: an endpoint change after the watch event (every one) | < 10 ms | $k8e_row | $(bold "$k8e_v") |"
	echo
	if [ -f "$RES/sockmap.txt" ]; then
		echo "### Same-node acceleration (bench/sockmap.sh, this run)"
		echo
		[ -z "$(envv sockmap_cpus)" ] || { echo "CPUs during this part: $(envv sockmap_cpus) (docs/benchmarks.md, \"Verdicts\")."; echo; }
		grep '^|' "$RES/sockmap.txt" || true
		echo
		grep -E '^(medians of|same-node acceleration)' "$RES/sockmap.txt" | sed 's/$/  /' || true
		echo
	fi
	if [ -f "$RES/k8s.txt" ]; then
		echo "### Kubernetes (k8s_scale --agent, this run)"
		echo
		echo '```'
		grep '^k8s:' "$RES/k8s.txt" || true
		echo '```'
		echo
	fi
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
     1.03 with lines dt 2 lc rgb "#888888" title "target 1.03"

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
plot for [v in "direct bpfmesh iptables"] "$D/scale-".v.".dat" using 1:5:6:7 with yerrorlines lw 2 title v, 1.03 with lines dt 2 lc rgb "#888888" title "target 1.03"
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
     0.01 with lines dt 2 lc rgb "#888888" title "10 ms", 1 with lines dt 3 lc rgb "#888888" title "1 s"
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
