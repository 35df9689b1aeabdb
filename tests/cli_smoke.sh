#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli_smoke.sh KMM - the kmm program's conventions: every command has
# --help (exit 0, a usage line on stdout), a bad option or argument is a
# usage error (exit 2, usage on stderr), a run that fails is exit 1, and
# the progress bar goes to stderr only, only when asked for or on a
# terminal, and only for steps longer than a second.
set -uo pipefail
kmm=$1
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

for c in run info replay bench map test-vmalloc; do
	out=$("$kmm" "$c" --help 2>/dev/null); rc=$?
	[[ $rc == 0 && $out == *usage:* ]] && ok "$c --help" || bad "$c --help: rc $rc"
	"$kmm" "$c" --no-such-option >/dev/null 2>/tmp/kmm-cli.$$; rc=$?
	[[ $rc == 2 ]] && grep -q "usage:" /tmp/kmm-cli.$$ && ok "$c bad option: 2" ||
		bad "$c bad option: rc $rc"
done
rm -f /tmp/kmm-cli.$$
"$kmm" >/dev/null 2>&1; [[ $? == 2 ]] && ok "no command: 2" || bad "no command"
"$kmm" no-such-command >/dev/null 2>&1; [[ $? == 2 ]] && ok "unknown command: 2" || bad "unknown command"
out=$("$kmm" --help)
grep -q "^  map " <<<"$out" && ok "kmm --help lists map" || bad "kmm --help lists map"
"$kmm" info no-such-report >/dev/null 2>&1; [[ $? == 2 ]] && ok "unknown report: 2" || bad "unknown report"
"$kmm" replay /no/such/trace >/dev/null 2>&1; [[ $? == 1 ]] && ok "missing trace: 1" || bad "missing trace"
"$kmm" run --no-map --boot "mem=1K" >/dev/null 2>&1; [[ $? == 1 ]] && ok "bad boot: 1" || bad "bad boot"
for r in buddyinfo pagetypeinfo zoneinfo meminfo cma; do
	out=$("$kmm" info --boot "mem=64M cma=8M" "$r")
	[[ -n $out ]] && ok "info $r" || bad "info $r"
done
out=$("$kmm" info --boot "mem=256M" --workload vmallocinfo 2>/dev/null)
grep -q " vmalloc " <<<"$out" && ok "info vmallocinfo" ||
	bad "info vmallocinfo"
out=$("$kmm" info --boot "mem=64M cma=8M" cma)
grep -q "^count: 2048$" <<<"$out" && ok "info cma: count" ||
	bad "info cma: count"

# Progress: a run of more than a second draws on stderr when forced, and
# the same run's stdout does not change; a short run draws nothing.
steps=6000000
err=$(KMM_PROGRESS=1 "$kmm" run --no-map --steps $steps --seed 2 --boot "mem=256M kmm.mode=shadow" 2>&1 >/dev/null)
[[ $err == *$'\r'workload*%* ]] && ok "progress bar on stderr" || bad "no progress bar: ${err:0:200}"
err=$(KMM_PROGRESS=0 "$kmm" run --no-map --steps $steps --seed 2 --boot "mem=256M kmm.mode=shadow" 2>&1 >/dev/null)
[[ $err != *$'\r'* ]] && ok "KMM_PROGRESS=0: none" || bad "KMM_PROGRESS=0 drew a bar"
err=$("$kmm" run --no-map --steps $steps --seed 2 --boot "mem=256M kmm.mode=shadow" 2>&1 >/dev/null </dev/null)
[[ $err != *$'\r'* ]] && ok "not a terminal: no bar" || bad "bar drawn on a pipe"
err=$(KMM_PROGRESS=1 "$kmm" run --no-map --steps 100 --seed 2 --boot "mem=64M" 2>&1 >/dev/null)
[[ $err != *$'\r'* ]] && ok "short run: no bar" || bad "short run drew a bar"
exit $fail
