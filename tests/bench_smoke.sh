#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_smoke.sh KMM - `kmm bench --quick` and its summary table.
#
# Checks: `kmm bench --quick` (every benchmark) exits 0 and ends with one
# "==> summary <==" table, after every benchmark's own tables; the table
# has at least one row of each benchmark that ran (page_alloc, vmalloc,
# vm_map_ram, contig) and no other; its lines are aligned (all as long as
# the header); every ratio is a positive number and is the one its row's
# two figures give in the row's own convention (base/kmm or kmm/base;
# within the rounding of the printed figures); with KMM_PROGRESS=1 the
# progress bar names a benchmark on stderr and never reaches stdout.
# `kmm bench page_alloc --quick --csv`: a summary of page_alloc rows only,
# and the same rows again as CSV.  `kmm bench nosuch` exits 2 with no
# summary.  Nothing here checks a timing.
set -u
KMM=${1:?usage: bench_smoke.sh KMM}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# The summary table of output file $1 (header line first, up to the first
# blank line) into $2.
summary_of() {
	sed -n '/^==> summary <==$/,$p' "$1" |
		awk 'started && /^$/ { exit } /^benchmark  / { started = 1 } started' >"$2"
}

# Table $1: aligned, ratios positive and consistent.  Fields from the end
# (the operation has spaces, nothing after it does): ratio-is, ratio,
# baseline figure, baseline name, kmm figure, unit.
check_rows() {
	awk '
	NR == 1 { w = length($0); next }
	{
		if (length($0) != w) { print "misaligned: " $0; bad = 1 }
		dir = $NF; r = $(NF - 1); b = $(NF - 2); k = $(NF - 4)
		if (r !~ /^[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?$/ || !(r + 0 > 0)) {
			print "ratio not a positive number: " $0; bad = 1; next
		}
		if (!(k + 0 > 0) || !(b + 0 > 0)) { print "figure not positive: " $0; bad = 1; next }
		if (dir == "base/kmm") want = b / k
		else if (dir == "kmm/base") want = k / b
		else { print "unknown ratio convention: " $0; bad = 1; next }
		d = r - want; if (d < 0) d = -d
		if (d > 0.01 + 0.01 * want) { print "ratio " r " but figures give " want ": " $0; bad = 1 }
	}
	END { exit bad }' "$1"
}

# ---- every benchmark --------------------------------------------------------
KMM_PROGRESS=1 "$KMM" bench --quick >"$T/all.out" 2>"$T/all.err" &&
	ok "kmm bench --quick exit 0" || { bad "kmm bench --quick failed"; tail -20 "$T/all.out" "$T/all.err"; }
n=$(grep -c '^==> summary <==$' "$T/all.out")
[ "$n" = 1 ] && ok "one summary" || bad "$n summary headers"
# After every benchmark's tables: contig's own table comes before it.
last_contig=$(grep -n '^kmm after the run' "$T/all.out" | tail -1 | cut -d: -f1)
sum_line=$(grep -n '^==> summary <==$' "$T/all.out" | cut -d: -f1)
[ -n "$last_contig" ] && [ -n "$sum_line" ] && [ "$sum_line" -gt "$last_contig" ] &&
	ok "summary after the benchmarks" || bad "summary not after the benchmarks' tables"
summary_of "$T/all.out" "$T/all.sum"
rows=$(($(wc -l <"$T/all.sum") - 1))
[ "$rows" -ge 4 ] && ok "$rows summary rows" || { bad "only $rows summary rows"; cat "$T/all.sum"; }
for b in page_alloc vmalloc vm_map_ram contig; do
	c=$(awk -v b="$b" 'NR > 1 && $1 == b' "$T/all.sum" | wc -l)
	[ "$c" -ge 1 ] && ok "$b: $c rows" || bad "no summary row of $b"
done
others=$(awk 'NR > 1 && $1 != "page_alloc" && $1 != "vmalloc" && $1 != "vm_map_ram" && $1 != "contig"' "$T/all.sum")
[ -z "$others" ] && ok "no row of another benchmark" || bad "unexpected rows: $others"
check_rows "$T/all.sum" && ok "aligned; every ratio positive and from its row's figures" ||
	{ bad "summary rows"; cat "$T/all.sum"; }
if grep -q "$(printf '\r')" "$T/all.out"; then bad "progress bar on stdout"; else ok "no progress bar on stdout"; fi
grep -Eq '(page_alloc|vmalloc|vm_map_ram|contig) +\[' "$T/all.err" &&
	ok "progress bar on stderr names a benchmark" || bad "no progress bar on stderr (KMM_PROGRESS=1)"

# ---- one benchmark, with CSV ------------------------------------------------
"$KMM" bench page_alloc --quick --csv >"$T/pa.out" 2>"$T/pa.err" &&
	ok "kmm bench page_alloc --quick --csv exit 0" || { bad "page_alloc --csv failed"; tail -20 "$T/pa.err"; }
summary_of "$T/pa.out" "$T/pa.sum"
rows=$(($(wc -l <"$T/pa.sum") - 1))
nonpa=$(awk 'NR > 1 && $1 != "page_alloc"' "$T/pa.sum" | wc -l)
[ "$rows" -ge 1 ] && [ "$nonpa" = 0 ] && ok "page_alloc alone: $rows rows, all page_alloc" ||
	{ bad "page_alloc summary: $rows rows, $nonpa of others"; cat "$T/pa.sum"; }
check_rows "$T/pa.sum" || bad "page_alloc summary rows"
csv=$(sed -n '/^==> summary <==$/,$p' "$T/pa.out" |
	sed -n '/^benchmark,operation,unit,kmm,baseline,baseline_value,ratio,ratio_is$/,$p' |
	grep -c '^page_alloc,')
[ "$csv" = "$rows" ] && ok "CSV summary: $csv rows" || bad "CSV summary has $csv rows, the table $rows"

# ---- a bad name ---------------------------------------------------------------
"$KMM" bench nosuch >"$T/bad.out" 2>"$T/bad.err"
rc=$?
[ $rc = 2 ] && ok "kmm bench nosuch exits 2" || bad "kmm bench nosuch exited $rc"
grep -q '^==> summary <==$' "$T/bad.out" "$T/bad.err" && bad "summary printed for a bad name" ||
	ok "no summary for a bad name"

exit $fail
