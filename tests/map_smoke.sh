#!/bin/sh
# SPDX-License-Identifier: MIT
# map_smoke.sh KMM - `kmm map` and `kmm run --map` on a small machine.
#
# Checks: both files are well-formed XML (xmllint, or python3's parser when
# xmllint is missing); the legend names every page state, every
# migratetype and every vmalloc state; there is hover text; the HTML's
# free-blocks-per-order table (counted by walking struct pages) equals the
# /proc/buddyinfo text kmm map embeds from the zones' counters at the same
# moment, and its free pages per zone equal that report's; usage errors
# exit 2 and an unwritable file exits 1; `kmm run --map` writes both files.
set -u
KMM=${1:?usage: map_smoke.sh KMM}
BOOT="mem=128M cma=16M nr_cpus=1"
SEED=5
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

xml_check() {
	if command -v xmllint >/dev/null 2>&1; then
		xmllint --noout "$1"
	elif command -v python3 >/dev/null 2>&1; then
		python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$1"
	else
		echo "neither xmllint nor python3 to check $1" >&2
		return 1
	fi
}

"$KMM" map --boot "$BOOT" --workload --seed $SEED --svg "$T/m.svg" --html "$T/m.html" \
	>"$T/map.out" 2>"$T/map.err" && ok "kmm map exit 0" || { bad "kmm map failed"; cat "$T/map.err"; }
for f in "$T/m.svg" "$T/m.html"; do
	if [ -s "$f" ] && xml_check "$f"; then ok "$(basename "$f") is well-formed XML"
	else bad "$(basename "$f") is not well-formed XML"; fi
done

# The legend: everything a cell or a range can be.
sed -n '/<g id="legend">/,/<\/g>/p' "$T/m.svg" >"$T/legend"
for word in Unmovable Movable Reclaimable HighAtomic CMA allocated "free, order 0 to 10" \
	"per-CPU (pcp)" reserved isolated busy "guard page" lazy pool free; do
	grep -q "$word" "$T/legend" || bad "legend lacks '$word'"
done
[ $fail = 0 ] && ok "legend names every state"

# Hover text: at least one <title> per pageblock (128 MiB: 64 pageblocks).
n=$(grep -o '<title>' "$T/m.svg" | wc -l)
[ "$n" -ge 64 ] && ok "$n hover texts" || bad "only $n <title> elements"
grep -q '<title>pfn 0x' "$T/m.svg" || bad "no pageblock hover text"
grep -q 'vmalloc' "$T/m.svg" || bad "no vmalloc hover text"
grep -q '> busy\| busy ' "$T/m.svg" || bad "no busy vmalloc range drawn"
grep -q ' guard' "$T/m.svg" || bad "no guard range drawn"

# Totals against the kernel-format report the same process took at the
# same moment (a second run could differ: deferred frees finish when they
# do), embedded in the HTML.
sed -n '/<pre id="proc-buddyinfo">/,/<\/pre>/p' "$T/m.html" |
	sed -e 's/<[^>]*>//g' | grep '^Node' | tr -s ' ' | sed 's/ $//' >"$T/buddy.ref"
grep '<tr class="buddy">' "$T/m.html" |
	sed -e 's/<tr class="buddy"><th>//' -e 's/<\/th>/ /' -e 's/<\/td><td>/ /g' \
	    -e 's/<[^>]*>//g' | tr -s ' ' | sed 's/ $//' >"$T/buddy.map"
if [ -s "$T/buddy.ref" ] && cmp -s "$T/buddy.ref" "$T/buddy.map"; then
	ok "free blocks per order equal buddyinfo ($(wc -l <"$T/buddy.ref") zones)"
else
	bad "free blocks per order differ from buddyinfo"; diff "$T/buddy.ref" "$T/buddy.map"
fi
# Free pages per zone (the totals table) = the buddyinfo blocks times 2^order.
awk '{ n = 0; for (o = 0; o < 11; o++) n += $(5 + o) * 2 ^ o; print $4, n }' \
	"$T/buddy.ref" >"$T/zfree.ref"
grep '<tr class="zone">' "$T/m.html" |
	sed -e 's/<\/td><td[^>]*>/ /g' -e 's/<[^>]*>//g' |
	awk '{ print $2, $6 }' >"$T/zfree.map"
if [ -s "$T/zfree.map" ] && cmp -s "$T/zfree.map" "$T/zfree.ref"; then
	ok "free pages per zone equal buddyinfo's"
else
	bad "free pages per zone differ from buddyinfo's"; paste "$T/zfree.map" "$T/zfree.ref"
fi

# Usage and errors.
"$KMM" map --boot "$BOOT" >/dev/null 2>&1; [ $? = 2 ] && ok "no output file: exit 2" || bad "no output file: not exit 2"
"$KMM" map --bogus --svg "$T/x.svg" >/dev/null 2>&1; [ $? = 2 ] && ok "bad option: exit 2" || bad "bad option: not exit 2"
"$KMM" map --seed x1 --svg "$T/x.svg" >/dev/null 2>&1; [ $? = 2 ] && ok "bad seed: exit 2" || bad "bad seed: not exit 2"
"$KMM" map --boot "$BOOT" --svg "$T/no/such/dir/x.svg" >/dev/null 2>&1; [ $? = 1 ] && ok "unwritable: exit 1" || bad "unwritable: not exit 1"
"$KMM" map --help | grep -q -- '--html' && ok "--help" || bad "--help"

# kmm run --map writes both pictures.
"$KMM" run --steps 2000 --seed 1 --boot "mem=128M cma=16M" --map "$T/run" >"$T/run.out" 2>&1 ||
	bad "kmm run --map failed"
if xml_check "$T/run.svg" && xml_check "$T/run.html" && grep -q 'map written' "$T/run.out"; then
	ok "kmm run --map wrote run.svg and run.html"
else
	bad "kmm run --map did not write its pictures"
fi

[ $fail = 0 ] && echo "map_smoke: all ok" || echo "map_smoke: FAILED"
exit $fail
