#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# replay_smoke.sh KMM SHARED_DIR - replay the 6.18 kernel's vmalloc capture
# and guard the fidelity measured so far: every event applied, validation
# ok, at least MIN_EXACT1 percent of allocations at the kernel's address in
# the cold pass and MIN_EXACT2 percent in the pass that starts from the
# learnt state, also among allocations that took no reconstructed area
# (68.46 %, 96.09 % and 95.03 % when this was written; the issue's goal is
# 95 %).  Skips (exit 77) when the shared data is not there.
set -euo pipefail
kmm=$1
trace=$2/data/kernel-traces/vmalloc-bpf-seed1
MIN_EXACT1=${MIN_EXACT1:-66}
MIN_EXACT2=${MIN_EXACT2:-95}

if [[ ! -d $trace ]]; then
	echo "replay_smoke: $trace not found, skipping"
	exit 77
fi
out=$("$kmm" replay "$trace")
echo "$out"
grep -q "^validate  *ok" <<<"$out" || { echo "replay_smoke: validation failed"; exit 1; }
[[ $(grep -c "^validate  *ok" <<<"$out") == 2 ]] || { echo "replay_smoke: a pass did not validate"; exit 1; }
grep -q "events  *7113 " <<<"$out" || { echo "replay_smoke: not every event was applied"; exit 1; }
at_least() {
	awk -v p="$1" -v m="$2" 'BEGIN { exit !(p >= m) }' ||
		{ echo "replay_smoke: $3 $1% < $2%"; exit 1; }
}
mapfile -t pcts < <(sed -n 's/^allocations .*exact [0-9]* (\([0-9.]*\)%).*/\1/p' <<<"$out")
[[ ${#pcts[@]} == 2 ]] || { echo "replay_smoke: expected two passes"; exit 1; }
at_least "${pcts[0]}" "$MIN_EXACT1" "cold pass: exact placement"
at_least "${pcts[1]}" "$MIN_EXACT2" "learnt pass: exact placement"
apart=$(sed -n '/did not:/{n;s/^ *exact [0-9]* (\([0-9.]*\)%).*/\1/p}' <<<"$out")
[[ -n $apart ]] || { echo "replay_smoke: no line for allocations apart from reconstructed areas"; exit 1; }
at_least "$apart" "$MIN_EXACT2" "learnt pass, no reconstructed area: exact placement"

# The page-allocator replay of the capture with mm_page_* events: the
# layout must reproduce buddyinfo.before exactly, every event is applied, at least MIN_PAGES_EXACT
# percent of allocations get the kernel's PFN (29.77 % when this was
# written) and, without resync, the final free lists are nearer
# buddyinfo.after than those of an allocator that did nothing.
MIN_PAGES_EXACT=${MIN_PAGES_EXACT:-25}
ptrace=$2/data/kernel-traces/pagealloc-bpf-seed2
if [[ -d $ptrace ]]; then
	out=$("$kmm" replay --pages-only "$ptrace")
	echo "$out"
	[[ $(grep -c "^validate  *ok" <<<"$out") == 2 ]] || { echo "replay_smoke: a page replay pass did not validate"; exit 1; }
	[[ $(grep -c "^events  *246206 " <<<"$out") == 2 ]] || { echo "replay_smoke: page replay did not apply every event"; exit 1; }
	while read -r d0; do
		[[ $d0 == 0 ]] || { echo "replay_smoke: initial layout is $d0 blocks from buddyinfo.before"; exit 1; }
	done < <(sed -n 's/.*(distance \([0-9]*\) blocks,.*/\1/p' <<<"$out")
	[[ $(grep -c "pageblock types off by 0;" <<<"$out") == 2 ]] ||
		{ echo "replay_smoke: pageblock types differ from pagetypeinfo.before"; exit 1; }
	pct=$(sed -n 's/^allocations .*exact [0-9]* (\([0-9.]*\)%).*/\1/p' <<<"$out" | head -1)
	at_least "$pct" "$MIN_PAGES_EXACT" "page replay: exact PFN"
	# kmm's own policy (no resync) must end nearer buddyinfo.after than an
	# allocator that did nothing (ratio 2.27 when this was written).
	ratio=$(sed -n '/no resync/,$s/.*pages; ratio \([0-9.]*\)$/\1/p' <<<"$out")
	at_least "$ratio" "${MIN_PAGES_RATIO:-1.5}" "page replay: do-nothing distance / kmm's distance"
fi
echo "replay_smoke: ok"
