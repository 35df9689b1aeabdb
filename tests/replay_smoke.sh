#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# replay_smoke.sh KMM SHARED_DIR - replay the 6.18 kernel's vmalloc capture
# and guard the fidelity measured so far: every event applied, validation
# ok, and at least MIN_EXACT percent of allocations at the kernel's address
# in both passes (65.28 % and 70.85 % when this was written; the issue's
# goal is 95 %).  Skips (exit 77) when the shared data is not there.
set -euo pipefail
kmm=$1
trace=$2/data/kernel-traces/vmalloc-bpf-seed1
MIN_EXACT=${MIN_EXACT:-64}

if [[ ! -d $trace ]]; then
	echo "replay_smoke: $trace not found, skipping"
	exit 77
fi
out=$("$kmm" replay "$trace")
echo "$out"
grep -q "^validate  *ok" <<<"$out" || { echo "replay_smoke: validation failed"; exit 1; }
[[ $(grep -c "^validate  *ok" <<<"$out") == 2 ]] || { echo "replay_smoke: a pass did not validate"; exit 1; }
grep -q "events  *7113 " <<<"$out" || { echo "replay_smoke: not every event was applied"; exit 1; }
while read -r pct; do
	if ! awk -v p="$pct" -v m="$MIN_EXACT" 'BEGIN { exit !(p >= m) }'; then
		echo "replay_smoke: exact placement $pct% < $MIN_EXACT%"
		exit 1
	fi
done < <(sed -n 's/^allocations .*exact [0-9]* (\([0-9.]*\)%).*/\1/p' <<<"$out")
echo "replay_smoke: ok"
