#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_vmalloc_harness.sh KMM [stress] - TAP checks of `kmm test-vmalloc`
# (tools/test_vmalloc.c), the port of the kernel's test_vmalloc module.
#
#   (default)  every case on two workers with the exact Summary lines,
#              the mask, the --mode templates and their overrides, the
#              module's clamping, usage errors, shadow mode, seeded test
#              order, kvfree_rcu really used, a failing case failing the
#              run, and the progress line on a terminal only.
#   stress     8 workers on 8 CPUs at once (suite 'threads', also run
#              under ThreadSanitizer): in real mode every case whose areas
#              fit the host's vm.max_map_count for 8 workers (mask 1849:
#              all but full_fit, long_busy_list, align_shift and pcpu),
#              and in shadow mode, which makes no host mappings, every
#              case but the expected failure and the unsupported one
#              (mask 1855).
#
# The machines are small and the loops short: each mode takes a few
# seconds in a normal build.
set -uo pipefail

kmm=${1:?usage: test_vmalloc_harness.sh KMM [stress]}
sub=${2:-basic}
names=(fix_size_alloc_test full_fit_alloc_test long_busy_list_alloc_test
	random_size_alloc_test fix_align_alloc_test random_size_align_alloc_test
	align_shift_alloc_test pcpu_alloc_test kvfree_rcu_1_arg_vmalloc_test
	kvfree_rcu_2_arg_vmalloc_test vm_map_ram_test)
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
n=0 out= rc=0

# run ARGS...: kmm test-vmalloc ARGS; stdout in $out, stderr in $errf,
# exit status in $rc.  A sanitizer's report is passed on to stderr, where
# the test log keeps it.
run() {
	out=$("$kmm" test-vmalloc "$@" 2>"$errf")
	rc=$?
	if grep -q "Sanitizer\|runtime error: " "$errf"; then
		cat "$errf" >&2
	fi
}

# check DESCRIPTION COMMAND...: one TAP line; on failure the last run's
# output follows as diagnostics.
check() {
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $d"
	else
		echo "not ok $n - $d"
		sed 's/^/# /' <<<"$out" | head -60
		sed 's/^/# stderr: /' "$errf" | head -20
	fi
}

count() { grep -c -- "$1" <<<"$out"; }
has() { grep -q -- "$1" <<<"$out"; }
rc_is() { [[ $rc == "$1" ]]; }

# workers_are N: exactly N "All test took" lines, worker0..worker<N-1>.
workers_are() {
	local i
	[[ $(count '^All test took worker') == "$1" ]] || return 1
	for ((i = 0; i < $1; i++)); do
		has "^All test took worker$i=[0-9]* cycles$" || return 1
	done
}

# summaries NAME... -- COUNT VERDICT: each NAME has COUNT Summary lines,
# all with VERDICT ("passed: P failed: F repeat: R loops: L").
summaries() {
	local names=() nm
	while [[ $1 != -- ]]; do
		names+=("$1")
		shift
	done
	for nm in "${names[@]}"; do
		[[ $(count "^Summary: $nm passed: ") == "$2" ]] || return 1
		[[ $(count "^Summary: $nm $3 avg: [0-9]* usec$") == "$2" ]] || return 1
	done
}

# The Summary lines name only the cases in @1 (a run_test_mask).
only_mask() {
	local i
	for i in "${!names[@]}"; do
		if (($1 & (1 << i))); then
			has "^Summary: ${names[i]} " || return 1
		else
			! has "^Summary: ${names[i]} " || return 1
		fi
	done
}

order_of() { sed -n "s/^test_vmalloc: worker$1 order: //p" <<<"$out"; }

basic() {
	local all_but=(fix_size_alloc_test full_fit_alloc_test long_busy_list_alloc_test
		random_size_alloc_test fix_align_alloc_test random_size_align_alloc_test
		kvfree_rcu_1_arg_vmalloc_test kvfree_rcu_2_arg_vmalloc_test vm_map_ram_test)
	local o1 o2 seq

	# Every vmalloc area costs the host two mappings, and the default
	# vm.max_map_count (65530) holds one worker of full_fit_alloc_test only
	# on one CPU (2 * 2 * 8192 areas; 2 * 2 * 16384 on two CPUs), and
	# long_busy_list_alloc_test (2 * 15000) for one worker with room to
	# spare.  So: every case on one worker in real mode; the cases that
	# fit on two workers in real mode; every case on two workers in shadow
	# mode, which makes no host mappings.
	run --boot "mem=512M nr_cpus=1" run_test_mask=2047 nr_threads=1 \
		test_loop_count=50 test_repeat_count=2 seed=5
	check "all cases, real mode: exit 0, result OK" eval 'rc_is 0 && has "^result OK$"'
	check "all cases: one 'All test took worker' line" workers_are 1
	check "all cases: every case but align_shift and pcpu passed 2 of 2" \
		summaries "${all_but[@]}" -- 1 "passed: 2 failed: 0 repeat: 2 loops: 50"
	check "align_shift_alloc_test fails as expected without failing the run" \
		summaries align_shift_alloc_test -- 1 "passed: 0 failed: 2 repeat: 2 loops: 50"
	check "pcpu_alloc_test: not supported, neither passed nor failed" eval \
		'summaries pcpu_alloc_test -- 1 "passed: 0 failed: 0 repeat: 2 loops: 50" &&
		 [[ $(count "^pcpu_alloc_test: not supported: kmm has no per-CPU allocator") == 1 ]]'
	check "Summary lines in mask order, then the worker's cycles line" eval \
		'[[ $(grep -E "^(Summary|All test)" <<<"$out" |
		      sed -E "s/^Summary: ([a-z0-9_]+) .*/\1/; s/^All test took worker0=.*/END0/" |
		      tr "\n" " ") == "${names[*]} END0 " ]]'
	check "validation: the free page count is back (plus kept page tables)" eval \
		'has "^free pages: [0-9]* at boot, [0-9]* at the end (+[0-9]* page-table pages, +[0-9]* kvfree_rcu pages kept)$"'

	run --boot "mem=512M nr_cpus=2" run_test_mask=2041 nr_threads=2 \
		test_loop_count=50 test_repeat_count=2 seed=6
	check "2 workers, real mode, all but full_fit and long_busy_list: exit 0" eval \
		'rc_is 0 && has "^result OK$" && workers_are 2 && only_mask 2041'
	check "2 workers, real mode: each case twice, verdicts as expected" eval \
		'summaries "${all_but[@]:0:1}" "${all_but[@]:3}" -- 2 "passed: 2 failed: 0 repeat: 2 loops: 50" &&
		 summaries align_shift_alloc_test -- 2 "passed: 0 failed: 2 repeat: 2 loops: 50" &&
		 summaries pcpu_alloc_test -- 2 "passed: 0 failed: 0 repeat: 2 loops: 50"'

	run --boot "kmm.mode=shadow mem=512M nr_cpus=2" run_test_mask=2047 nr_threads=2 \
		test_loop_count=50 test_repeat_count=2 seed=4
	check "shadow mode, all cases, 2 workers: exit 0, 2 worker lines" eval \
		'rc_is 0 && has "^result OK$" && has "mode shadow" && workers_are 2'
	check "shadow mode: all 11 cases twice, verdicts as expected" eval \
		'summaries "${all_but[@]}" -- 2 "passed: 2 failed: 0 repeat: 2 loops: 50" &&
		 summaries align_shift_alloc_test -- 2 "passed: 0 failed: 2 repeat: 2 loops: 50" &&
		 summaries pcpu_alloc_test -- 2 "passed: 0 failed: 0 repeat: 2 loops: 50"'

	if [[ $(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0) -lt 65540 ]]; then
		run --boot "mem=512M nr_cpus=2" run_test_mask=2 test_loop_count=1
		check "full_fit on 2 CPUs over vm.max_map_count: warned up front" \
			grep -q "warning: 1 worker(s) can need 65540 host mappings at once, more than the host's vm.max_map_count" "$errf"
	else
		n=$((n + 1))
		echo "ok $n - host-mapping warning # SKIP vm.max_map_count is large here"
	fi

	run --boot "mem=256M" run_test_mask=1 test_loop_count=10 seed=1
	check "run_test_mask=1: only fix_size_alloc_test" eval \
		'rc_is 0 && only_mask 1 && [[ $(count "^Summary: ") == 1 ]]'
	run --boot "mem=256M" run_test_mask=0x600 test_loop_count=10 seed=1
	check "run_test_mask=0x600: kvfree_rcu_2_arg and vm_map_ram only" eval 'rc_is 0 && only_mask 1536'

	run --boot "mem=256M" --mode smoke test_loop_count=20 run_test_mask=1
	check "--mode smoke, test_loop_count=20 overrides: repeat: 10 loops: 20" eval \
		'rc_is 0 && has "^test_vmalloc: mode smoke: " &&
		 summaries fix_size_alloc_test -- 1 "passed: 10 failed: 0 repeat: 10 loops: 20"'
	run --boot "mem=256M" --mode performance run_test_mask=1 test_loop_count=5 seed=3
	check "--mode performance: sequential order, repeat: 3, one worker" eval \
		'rc_is 0 && has "^test_vmalloc: mode performance: " && workers_are 1 &&
		 [[ $(order_of 0) == "0 1 2 3 4 5 6 7 8 9 10" ]] &&
		 summaries fix_size_alloc_test -- 1 "passed: 3 failed: 0 repeat: 3 loops: 5"'
	run --boot "mem=256M nr_cpus=2" --mode stress run_test_mask=1 test_loop_count=5
	check "--mode stress on 2 CPUs: 2 workers, repeat: 20" eval \
		'rc_is 0 && has "^test_vmalloc: mode stress: " && workers_are 2 &&
		 summaries fix_size_alloc_test -- 2 "passed: 20 failed: 0 repeat: 20 loops: 5"'
	run --boot "mem=256M nr_cpus=2" --mode stress nr_threads=3 run_test_mask=1 test_loop_count=5
	check "--mode stress with nr_threads=3: the key overrides NUM_CPUS" eval 'rc_is 0 && workers_are 3'

	run --boot "mem=256M" nr_threads=0 test_repeat_count=0 test_loop_count=-5 run_test_mask=1
	check "the module's clamping: nr_threads 0->1, counts <=0 -> 1" eval \
		'rc_is 0 && has "^test_vmalloc: nr_threads=1 sequential_test_order=0 test_repeat_count=1 test_loop_count=1 " &&
		 summaries fix_size_alloc_test -- 1 "passed: 1 failed: 0 repeat: 1 loops: 1"'

	run bogus_key=1
	check "unknown key: exit 2 with a message" eval 'rc_is 2 && grep -q "unknown parameter .bogus_key." "$errf"'
	run test_loop_count=12abc
	check "non-numeric value: exit 2" eval 'rc_is 2 && grep -q "bad value for test_loop_count" "$errf"'
	run use_huge=maybe
	check "bad bool: exit 2" eval 'rc_is 2 && grep -q "bad value for use_huge" "$errf"'
	run --mode fast
	check "unknown --mode: exit 2" rc_is 2
	run --help
	check "--help: exit 0, usage on stdout naming use_huge and seed" eval \
		'rc_is 0 && has "^usage: kmm test-vmalloc" && has "use_huge=B" && has "seed=N"'

	run --boot "mem=256M" use_huge=y nr_pages=3 run_test_mask=0x401 test_loop_count=20 seed=2
	check "use_huge=y and nr_pages=3: accepted, noted, fix_size and vm_map_ram pass" eval \
		'rc_is 0 && has "use_huge=1" && has "vmalloc_huge() is vmalloc()" &&
		 summaries fix_size_alloc_test vm_map_ram_test -- 1 "passed: 1 failed: 0 repeat: 1 loops: 20"'

	run --boot "mem=256M" run_test_mask=0x300 test_loop_count=100 seed=2
	check "kvfree_rcu cases queue every object and all are freed" eval \
		'rc_is 0 && has "^kvfree_rcu: 200 queued, 200 freed "'

	run --boot "mem=256M fail_page_alloc=1,100,0,-1" run_test_mask=1 test_loop_count=5 seed=2
	check "a failing case fails the run: exit 1, result FAIL" eval \
		'rc_is 1 && has "^result FAIL$" && summaries fix_size_alloc_test -- 1 "passed: 0 failed: 1 repeat: 1 loops: 5"'

	run --boot "mem=256M" run_test_mask=0 test_loop_count=1 nr_threads=3 seed=7
	o1=$(order_of 0)$(order_of 1)$(order_of 2)
	run --boot "mem=256M" run_test_mask=0 test_loop_count=1 nr_threads=3 seed=7
	o2=$(order_of 0)$(order_of 1)$(order_of 2)
	check "seed=7: the same shuffled orders twice" eval '[[ -n $o1 && $o1 == "$o2" ]]'
	check "seed=7: shuffled orders differ between workers and from sequential" eval \
		'[[ $(order_of 0) != "0 1 2 3 4 5 6 7 8 9 10" && $(order_of 0) != $(order_of 1) ]] &&
		 [[ $(order_of 0 | tr " " "\n" | sort -n | tr "\n" " ") == "0 1 2 3 4 5 6 7 8 9 10 " ]]'
	run --boot "mem=256M" run_test_mask=0 test_loop_count=1 nr_threads=2 sequential_test_order=1 seed=7
	seq=$(order_of 0)/$(order_of 1)
	check "sequential_test_order=1: every worker in order 0..10" eval \
		'[[ $seq == "0 1 2 3 4 5 6 7 8 9 10/0 1 2 3 4 5 6 7 8 9 10" ]]'

	run --boot "mem=256M" run_test_mask=1 test_loop_count=10
	check "stderr not a terminal: no progress line" eval '! grep -q "tests done" "$errf"'
	if command -v script >/dev/null && script -qec true /dev/null >/dev/null 2>&1; then
		out=$(script -qec "\"$kmm\" test-vmalloc --boot mem=256M run_test_mask=8 test_loop_count=4000 test_repeat_count=8 seed=1 >/dev/null" /dev/null </dev/null)
		rc=$?
		check "stderr a terminal, run over a second: progress line on it" eval \
			'rc_is 0 && grep -q "test-vmalloc: [0-9]*/1 tests done" <<<"$out"'
	else
		n=$((n + 1))
		echo "ok $n - progress line on a terminal # SKIP no script(1)"
	fi
}

stress() {
	run --boot "mem=512M nr_cpus=8" nr_threads=8 run_test_mask=1849 \
		test_loop_count=20 test_repeat_count=2 seed=11
	check "real mode, 8 workers on 8 CPUs, mask 1849: exit 0" eval 'rc_is 0 && has "^result OK$"'
	check "real mode: 8 workers, every case passed 2 of 2" eval \
		'workers_are 8 && only_mask 1849 &&
		 summaries fix_size_alloc_test random_size_alloc_test fix_align_alloc_test \
			random_size_align_alloc_test kvfree_rcu_1_arg_vmalloc_test \
			kvfree_rcu_2_arg_vmalloc_test vm_map_ram_test -- 8 "passed: 2 failed: 0 repeat: 2 loops: 20"'
	# full_fit_alloc_test holds 2 * 4 * 8192 pages per worker on 8 CPUs.
	run --boot "kmm.mode=shadow mem=4G nr_cpus=8" nr_threads=8 run_test_mask=1855 \
		test_loop_count=20 test_repeat_count=1 seed=12
	check "shadow mode, 8 workers on 8 CPUs, mask 1855: exit 0" eval 'rc_is 0 && has "^result OK$"'
	check "shadow mode: 8 workers, every case passed" eval \
		'workers_are 8 && only_mask 1855 &&
		 summaries fix_size_alloc_test full_fit_alloc_test long_busy_list_alloc_test \
			random_size_alloc_test fix_align_alloc_test random_size_align_alloc_test \
			kvfree_rcu_1_arg_vmalloc_test kvfree_rcu_2_arg_vmalloc_test \
			vm_map_ram_test -- 8 "passed: 1 failed: 0 repeat: 1 loops: 20"'
}

echo "TAP version 13"
case $sub in
basic) basic ;;
stress) stress ;;
*) echo "test_vmalloc_harness.sh: unknown mode '$sub'" >&2; exit 2 ;;
esac
echo "1..$n"
