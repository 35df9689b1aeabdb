/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h - kmm's benchmarks, as a library.
 *
 * The same code runs as the standalone programs build/bench/bench_page_alloc,
 * build/bench/bench_vmalloc, build/bench/bench_vm_map_ram and
 * build/bench/bench_contig (bench/bench_*_main.c) and as the
 * `kmm bench [page_alloc|vmalloc|vm_map_ram|contig|all]` subcommand of the
 * command-line program, which links the static library kmmbench (bench/meson.build:
 * kmmbench_lib / kmmbench_dep).  bench/bench_main.c parses the options
 * and dispatches.
 *
 * Rules every benchmark here follows:
 *  - speed is measured against a baseline run in the same process, in the
 *    same run, and printed as a ratio; nothing here asserts a timing, and
 *    the exit status says only whether the benchmark itself worked;
 *  - averages come with percentile and worst-case latencies (p50, p99,
 *    p99.9, max) of individually timed operations;
 *  - each benchmark hands its headline kmm-vs-baseline pairs, the figures
 *    its own tables print, to the summary (bench_summary_add(),
 *    bench_common.h), which kmm_bench_run() prints after the benchmarks
 *    as one table, "==> summary <==".
 */
#ifndef KMM_BENCH_H
#define KMM_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#define KMM_BENCH_MAX_THREADS 16

struct kmm_bench_opts {
	/* Most operations per thread per measurement; 0: the default
	 * (4,000,000; 150,000 with @quick).  A measurement also stops when
	 * its time budget is spent.  vmalloc: kmm's operations per
	 * measurement (1,000,000; 100,000 with @quick).  vm_map_ram: pairs
	 * per part 1 measurement (1,000,000; 50,000 with @quick) and ops per
	 * thread per part 2 measurement (4,000,000; 150,000 with @quick);
	 * when set, both.  contig: repetitions of both parts (10 and 5; 5
	 * and 2 with @quick; at most 200). */
	unsigned long iterations;
	/* Time budget per measurement, seconds; 0: the default (0.25;
	 * 0.015 with @quick); the budget is split into interleaved slices
	 * (5; 3 with @quick).  A full run makes 16 measurements of 3
	 * implementations.  vmalloc: kmm's time per measurement (0.5;
	 * 0.03 with @quick), in 5 (3) slices.  vm_map_ram: vm_map_ram's time
	 * per part 1 measurement and each thread count's per part 2
	 * measurement (0.4; 0.02 with @quick), in 5 (3) slices. */
	double seconds;
	/* Thread counts to run, each a separate set of measurements; thread
	 * i is kmm CPU i (kmm_bind_cpu(i)) and is pinned to host CPU
	 * i % nproc.  nr_threads 0: {1, 2}.  vm_map_ram: its part 2, where
	 * 1 is always run first (the reference of the scaling). */
	unsigned threads[KMM_BENCH_MAX_THREADS];
	unsigned nr_threads;
	/* kmm_boot() command line; NULL: "mem=1G".  "nr_cpus=" is appended
	 * when missing and the host has fewer CPUs than the most threads
	 * (page_alloc).  vmalloc: the machine of its part 1.  vm_map_ram:
	 * its real-mode machine; NULL: "mem=1G nr_cpus=2".  contig: its
	 * machine; NULL: "mem=1G nr_cpus=1". */
	const char *boot;
	/* vmalloc: the shadow machine of its part 2; NULL:
	 * "kmm.mode=shadow mem=8G vmalloc=32T nr_cpus=2".  vm_map_ram: its
	 * shadow machine; NULL: "kmm.mode=shadow mem=1G nr_cpus=2". */
	const char *shadow_boot;
	/* CI smoke mode: tiny budgets, whole run well under 3 s. */
	bool quick;
	/* After the tables, print every row again as CSV. */
	bool csv;
};

/** kmm_bench_opts_init - fill @o with the defaults (all zero / false). */
void kmm_bench_opts_init(struct kmm_bench_opts *o);

/**
 * kmm_bench_parse_args - parse benchmark options into @o.
 * @argv: argv[0] is the program (or subcommand) name and is skipped.
 *   --quick  --csv  --boot STR  --shadow-boot STR  --threads 1,2
 *   --iterations N  --seconds S  --help
 * @err: where errors, and the usage after one, go; --help prints the
 *   usage to stdout.
 * Return: 0 to run; 1 when --help was printed (exit 0); -1 on a bad
 * option (usage printed to @err; exit 2).
 */
int kmm_bench_parse_args(struct kmm_bench_opts *o, int argc, char **argv,
			 FILE *err);

/**
 * kmm_bench_page_alloc - the page-allocator benchmark (issue 2).
 * @out: where the tables go.
 * @opts: NULL for the defaults.
 *
 * Boots kmm with @opts->boot (or uses the machine already booted, leaving
 * it booted), then measures, for order 0 and order 3 and each thread
 * count, kmm_alloc_pages()/kmm___free_pages() against glibc
 * malloc()/free() of the same size and against mmap()/munmap() of the
 * same size, in four patterns: pair (alloc then free at once), pair+touch
 * (one byte written per page; not in shadow mode), batch512 (512
 * allocations, then 512 frees) and batchN (N >= 2 * pcp->high_max pages,
 * so every round goes through rmqueue_bulk() refills and
 * free_pcppages_bulk() drains; kmm alone with @opts->quick).
 * Prints one table (ns/op, ratio baseline/kmm: > 1 means kmm is faster,
 * and kmm's p50/p99/p99.9/max), the baselines' latencies and page faults,
 * the multi-thread scaling, kmm's pcp refill/drain counts, the issue's
 * aims (informational), a validation of the allocator afterwards, and
 * with @opts->csv the table again as CSV.
 *
 * Context: one thread; no other kmm call in flight.
 * Return: 0; -1 when the benchmark could not run (boot failed, an
 * allocation failed, the allocator failed validation afterwards).
 */
int kmm_bench_page_alloc(FILE *out, const struct kmm_bench_opts *opts);

/**
 * kmm_bench_vmalloc - the vmalloc benchmark (issue 3).
 * @out: where the tables go.
 * @opts: NULL for the defaults (@opts->threads is not used: one thread).
 *
 * Part 1, on a machine booted with @opts->boot (default "mem=1G", real
 * mode): the kernel test_vmalloc module's shapes - fix_size (vmalloc of
 * one page, vfree), random_size (1..100 pages, seeded), both also with
 * one byte written per page ("+touch"), and long_busy (a list of 1-page
 * areas kept busy, as long as vm.max_map_count allows up to 100,000,
 * pairs on top, the list freed) - against mmap(MAP_PRIVATE |
 * MAP_ANONYMOUS | MAP_POPULATE) + munmap() of the same sizes, with
 * ratios, percentiles, host faults and the lazy purges seen.  Then, on a
 * shadow machine (@opts->shadow_boot, default "kmm.mode=shadow mem=8G
 * vmalloc=32T nr_cpus=2"): the same shapes for kmm alone, and part 2:
 * get_vm_area(1 page)+free_vm_area (pooled and tree paths) and
 * vmalloc+vfree with 1,000 and 1,000,000 live areas and with 1,000,000
 * built of which every other one was freed.  A machine already booted is
 * used as it is (part 1 if real, the shadow part if shadow) and left
 * booted; otherwise each machine is booted and shut down here.
 *
 * Context: no other kmm call in flight; runs its own thread.  Sets and
 * then clears the vmap trace ops (kmm_vmap_set_trace()).
 * Return: 0; -1 when the benchmark could not run (boot failed, an
 * allocation failed, validation or the leak check failed afterwards).
 */
int kmm_bench_vmalloc(FILE *out, const struct kmm_bench_opts *opts);

/**
 * kmm_bench_vm_map_ram - the vm_map_ram benchmark (issue 4).
 * @out: where the tables go.
 * @opts: NULL for the defaults.
 *
 * On a shadow machine (@opts->shadow_boot, default "kmm.mode=shadow
 * mem=1G nr_cpus=2"), then on a real-mode one (@opts->boot, default
 * "mem=1G nr_cpus=2"; nr_cpus= is raised to the most threads asked for):
 * part 1, one thread: vm_map_ram()+vm_unmap_ram() of the same 1, 4, 16
 * and 64 pages against vmap(VM_MAP, PAGE_KERNEL)+vunmap(), alternating
 * slices, each ending with a timed vm_unmap_aliases(); ratio = vmap ns /
 * vm_map_ram ns, with percentiles, the lazy purges and the vmap-block
 * counters (made, freed, purged); part 2: total throughput with 1 thread
 * and with each count of @opts->threads (default 2) of test_vmalloc's
 * fix_size (vmalloc(4096), write a byte, vfree) and vm_map_ram (map the
 * thread's page, write a byte, unmap) shapes, and the factor over one
 * thread.  A machine already booted is used as it is (its mode only) and
 * left booted.
 *
 * Context: no other kmm call in flight; runs its own threads.  Sets and
 * then clears the vmap trace ops (kmm_vmap_set_trace()).
 * Return: 0; -1 when the benchmark could not run (boot failed, a mapping
 * failed, validation or the leak check failed afterwards).
 */
int kmm_bench_vm_map_ram(FILE *out, const struct kmm_bench_opts *opts);

/**
 * kmm_bench_contig - the alloc_contig_range benchmark.
 * @out: where the tables go.
 * @opts: NULL for the defaults (@opts->threads, @opts->seconds and
 *   @opts->shadow_boot are not used: one thread, fixed repetitions).
 *
 * On a machine booted with @opts->boot (default "mem=1G nr_cpus=1", real
 * mode; a machine already booted is used as it is and left booted), one
 * thread, a range of 64 MiB (4 MiB with @opts->quick): (a)
 * kmm_alloc_contig_range() of a range with nothing allocated in it (the
 * highest one of the highest zone), then kmm_free_contig_range(), each
 * timed; (b) the same on a range whose every page is a populated
 * anonymous user page of a fresh mm (10 ranges' worth mapped, 16 with
 * @opts->quick, every page patterned, the range a window of the
 * mapping's PFNs): the call migrates them all; every page's contents are
 * checked afterwards.  Baseline: memcpy() of the range's size between two
 * pre-faulted buffers, sampled right before every timed call.  Prints ms
 * per MiB (median, best, max) and ms per call, x memcpy, the pages
 * migrated with kmm's host map calls and host faults per migrated page,
 * the aims ((a) < 0.01 ms/MiB, (b) within 3x of memcpy;
 * informational), a validation afterwards, and with @opts->csv the table
 * again as CSV.
 *
 * Context: no other kmm call in flight; runs its own thread.
 * Return: 0; -1 when the benchmark could not run (boot failed, no suitable
 * range, an allocation failed, a page lost its contents, validation or
 * the leak check failed afterwards).
 */
int kmm_bench_contig(FILE *out, const struct kmm_bench_opts *opts);

/**
 * kmm_bench_summary_reset - forget every row of the summary table
 * (bench_summary_add()); kmm_bench_run() calls it before the benchmarks.
 * Context: any thread; takes the summary's mutex.
 */
void kmm_bench_summary_reset(void);

/**
 * kmm_bench_summary_rows - the number of rows the summary holds now.
 * Context: any thread; takes the summary's mutex.
 * Return: 0 to BENCH_SUMMARY_MAX (bench_common.h).
 */
unsigned kmm_bench_summary_rows(void);

/**
 * kmm_bench_summary_print - print the summary table to @out: a line
 * "==> summary <==", a header, then one aligned row per headline
 * figure the benchmarks recorded, in the order recorded: benchmark,
 * operation, unit, kmm's figure, the baseline's name and figure, the
 * ratio and how it is formed ("base/kmm": > 1 means kmm is faster;
 * "kmm/base": > 1 means kmm is slower).  With @csv, the same rows again
 * as CSV (header "benchmark,operation,unit,kmm,baseline,baseline_value,
 * ratio,ratio_is").  Prints nothing when no row was recorded.
 * Context: any thread; takes the summary's mutex.
 */
void kmm_bench_summary_print(FILE *out, bool csv);

/**
 * kmm_bench_run - run the benchmark named @which ("page_alloc",
 * "vmalloc", "vm_map_ram", "contig"; NULL or "all": every one, in that
 * order) to @out, then the summary of their headline rows
 * (kmm_bench_summary_print(), as CSV too with @opts->csv).  With stdout
 * not a terminal, a progress bar (tools/progress.h: stderr, only when it
 * is a terminal, after a second) names the benchmark running.
 * Context: one thread; no other kmm call in flight.
 * Return: 0; -1 if one failed; -2 if @which names none.
 */
int kmm_bench_run(const char *which, FILE *out, const struct kmm_bench_opts *opts);

/**
 * kmm_bench_main_default - `PROG [NAME] [options]`: an optional first
 * word NAME (page_alloc, vmalloc, vm_map_ram, contig, all) picks the benchmark, else @dflt;
 * parse the options and kmm_bench_run() to stdout.
 * Return: the process exit status (0 ok, 1 failed, 2 usage).
 */
int kmm_bench_main_default(const char *dflt, int argc, char **argv);

/**
 * kmm_bench_main - kmm_bench_main_default("all", ...): `kmm bench`.
 * Return: the process exit status (0 ok, 1 failed, 2 usage).
 */
int kmm_bench_main(int argc, char **argv);

#endif /* KMM_BENCH_H */
