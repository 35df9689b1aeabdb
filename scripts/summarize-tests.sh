#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/summarize-tests.sh [--sanitizer] BUILD_DIR [MESON_TEST_STATUS]
#
# Reads BUILD_DIR/meson-logs/testlog.json (written by `meson test`) and
# prints exactly one line, "N passed, N failed", counting test CASES:
#   - a Criterion binary contributes the numbers of its
#     "Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C" line(s)
#     (Failing already includes Crashing), where a test Criterion reports
#     as "crashed during its setup or teardown" moves from passed to failed;
#   - a TAP test contributes its "ok" / "not ok" lines;
#   - any other test counts as one case.
# A binary that meson saw fail (exit status, timeout, crash before the
# synthesis, a leak report at exit) but whose cases all passed adds one
# failed case, so the line never hides a failure.  With --sanitizer, a
# test whose output contains a sanitizer report also counts as failed.
#
# Exit status: 1 if anything failed (or MESON_TEST_STATUS is non-zero),
# else 0.  Uses python3, which meson itself requires.
set -euo pipefail

sanitizer=0
if [ "${1:-}" = "--sanitizer" ]; then
	sanitizer=1
	shift
fi
build=${1:?usage: summarize-tests.sh [--sanitizer] BUILD_DIR [STATUS]}
status=${2:-0}

exec python3 - "$build/meson-logs/testlog.json" "$status" "$sanitizer" <<'EOF'
import json, os, re, sys

log, status, sanitizer = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
synth = re.compile(r"Synthesis: Tested: *(\d+) *\| *Passing: *(\d+) *\| "
                   r"*Failing: *(\d+) *\| *Crashing: *(\d+)")
teardown = re.compile(r"Warning! The test `[^`]*` crashed during its setup or teardown")
tap = re.compile(r"^(not ok|ok)\b(.*)$", re.M)
san = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                 r"WARNING: ThreadSanitizer|runtime error: |"
                 r"SUMMARY: (Address|Undefined|Leak|Thread)Sanitizer")
good = {"OK", "SKIP", "EXPECTEDFAIL"}

passed = failed = 0
if os.path.exists(log):
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                t = json.loads(line)
            except ValueError:
                continue
            out = ansi.sub("", (t.get("stdout") or "") + "\n" +
                           (t.get("stderr") or ""))
            result = t.get("result", "ERROR")
            p = fl = 0
            found = synth.findall(out)
            if found:
                for _tested, ps, fs, _crash in found:
                    p += int(ps)
                    fl += int(fs)
                # Criterion still counts these as passing (e.g. a leak
                # report when the test's worker exits): they failed.
                moved = min(p, len(teardown.findall(out)))
                p -= moved
                fl += moved
            elif t.get("protocol") == "tap" or ("TAP version" in out and tap.search(out)):
                for verdict, rest in tap.findall(out):
                    if "# SKIP" in rest.upper():
                        continue
                    if verdict == "ok":
                        p += 1
                    else:
                        fl += 1
            elif result == "OK":
                p = 1
            elif result != "SKIP":
                fl = 1
            if fl == 0 and result not in good:
                fl = 1
            if fl == 0 and sanitizer and san.search(out):
                fl = 1
            passed += p
            failed += fl

if status != 0 and failed == 0:
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
