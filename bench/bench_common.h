/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_common.h - what the benchmarks (bench_page_alloc.c,
 * bench_vmalloc.c) share: the calibrated clock, the sample buffers and
 * their percentiles, the host's description and load, and the number
 * formats of the tables.
 *
 * Internal to the kmmbench library; the public interface is bench.h.
 * Every benchmark measures the same way so that their tables can be read
 * side by side: one clock, calibrated once per run, with the cost of a
 * back-to-back pair of reads subtracted from every timing; nearest-rank
 * percentiles of per-operation samples kept as 32-bit tick counts.
 */
#ifndef KMM_BENCH_COMMON_H
#define KMM_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <time.h>

/* ---- the clock ------------------------------------------------------------ */

/*
 * The TSC, fenced on both sides so that the operations timed can neither
 * start before the first read nor finish after the second; elsewhere
 * CLOCK_MONOTONIC.  Forced inline: a call would add its own cost, and
 * variance, to every sample.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_CLOCK_NAME "rdtsc (lfence; rdtsc; lfence)"
static inline __attribute__((always_inline)) uint64_t bench_tick(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return t;
}
#else
#define BENCH_CLOCK_NAME "clock_gettime(CLOCK_MONOTONIC)"
static inline __attribute__((always_inline)) uint64_t bench_tick(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
#endif

/* Set by bench_clock_calibrate(); 1.0 and 0 until then. */
extern double bench_ticks_per_ns;
extern uint64_t bench_tick_overhead;	/* of one back-to-back bench_tick() pair */

/**
 * bench_clock_calibrate - measure bench_tick()'s rate against
 * CLOCK_MONOTONIC (over 5 ms with @quick, else 20 ms) and the median cost
 * of a back-to-back pair of reads.  Call once, before any measurement.
 */
void bench_clock_calibrate(bool quick);

/* Ticks from @t0 to @t1 less the clock pair's own cost (never below 0). */
static inline uint64_t bench_elapsed_ticks(uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;

	return d > bench_tick_overhead ? d - bench_tick_overhead : 0;
}

double bench_ticks_to_ns(double ticks);

/* The tick budget of one of @slices slices of a @seconds measurement. */
uint64_t bench_slice_budget_ticks(double seconds, unsigned slices);

/* CLOCK_MONOTONIC in ns: wall time, independent of the calibration. */
uint64_t bench_mono_ns(void);

/* The "clock:" line of a benchmark's header. */
void bench_print_clock_line(FILE *o);

/* ---- samples -------------------------------------------------------------- */

/* A sample as stored: 32 bits of ticks, saturated (a 4 s op is off the
 * scale of every table anyway, and half the size doubles what fits). */
static inline uint32_t bench_sample_u32(uint64_t ticks)
{
	return ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

/*
 * bench_mem - memory the benchmark itself needs (sample buffers and the
 * like), from mmap, pre-faulted: never from malloc, whose heap and
 * thresholds the malloc baseline would then inherit, and never faulting
 * inside a measurement.  Release with munmap() of the same size.
 * Return: the memory, or NULL.
 */
void *bench_mem(size_t bytes);

/* Sort @n samples in place (LSD radix, O(n): millions of samples per
 * row); @tmp is scratch of @n entries. */
void bench_radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n);

/* Nearest-rank @p percentile (0..1) of @n sorted samples, in ns; 0 for none. */
double bench_percentile_ns(const uint32_t *sorted, size_t n, double p);

/*
 * bench_array_push - append one zeroed element of @elem bytes to the
 * malloc'ed array *@base of *@n used and *@cap allocated elements,
 * doubling it (from 64) when full.  For result rows, which are few and
 * made between measurements, not in them.
 * Return: the new element, or NULL when out of memory (*@base unchanged).
 */
void *bench_array_push(void **base, size_t *n, size_t *cap, size_t elem);

/* ---- the host and the machine --------------------------------------------- */

/* Online host CPUs (at least 1). */
unsigned bench_host_cpus(void);

/* Host page faults (minor + major) of the calling thread so far. */
uint64_t bench_thread_minflt(void);

/* Pin the calling thread to host CPU @cpu (best effort: failure is only
 * noisier numbers). */
void bench_pin_to_host_cpu(unsigned cpu);

/*
 * The "host:   N CPUs (nproc), MODEL, Linux R, glibc V; load average L"
 * line of a benchmark's header, without its newline: a benchmark may add
 * host facts of its own.
 */
void bench_print_host_line(FILE *o);

/* "real", "strict" or "shadow": the booted kmm machine's mode. */
const char *bench_kmm_mode_name(void);

/*
 * bench_boot_unless_booted - boot kmm with @boot unless a machine is
 * booted already (the caller's, used as it is and left booted).
 * *@booted_here: whether this call booted it (the caller shuts it down).
 * Return: 0, or -1 with the error printed to @out.
 */
int bench_boot_unless_booted(FILE *out, const char *boot, bool *booted_here);

/*
 * How busy the host was: CPU seconds all processes used (/proc/stat) minus
 * ours (getrusage), against the run's wall time: a shared machine makes
 * every number noisier, multi-thread ones most.  Read once before and once
 * after the measurements.
 */
struct bench_host_busy {
	double busy_s, self_s, wall_s;
};

void bench_host_busy_read(struct bench_host_busy *h);

/* What other processes used between @h0 and @h1. */
struct bench_host_others {
	double wall_s;		/* seconds from @h0 to @h1 */
	double cpu_s;		/* CPU-seconds others used (0 if none) */
	double pct;		/* of all host CPUs over wall_s */
};

/* Return: false when no wall time passed (nothing to report). */
bool bench_host_others(const struct bench_host_busy *h0,
		       const struct bench_host_busy *h1,
		       struct bench_host_others *others);

/* ---- output ----------------------------------------------------------------- */

/* Width-8 number in @buf (16 bytes): one decimal below 1000; "-" for none. */
const char *bench_fmt_ns(char *buf, double v);

/* baseline / kmm (> 1: kmm faster); 0 when either is missing. */
double bench_ratio(double base, double kmm);


/*
 * A blocking barrier whose party count can be lowered (when a thread could
 * not be started): pthread_barrier_t cannot, and a spinning one would steal
 * a CPU from the workers on a small machine.
 */
struct bench_cbar {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned n, count, gen;
};
void bench_cbar_init(struct bench_cbar *b, unsigned n);
void bench_cbar_destroy(struct bench_cbar *b);
void bench_cbar_wait(struct bench_cbar *b);
void bench_cbar_set_parties(struct bench_cbar *b, unsigned n);

/* The calling thread's CPU time, in ns (0 when the clock fails). */
uint64_t bench_thread_cpu_ns(void);

/* qsort() comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* ---- the summary ------------------------------------------------------------ */

/*
 * Each benchmark's ratio convention, as its own table prints it: the
 * summary recomputes the ratio from the two figures handed to it, so its
 * ratios are those of the detailed tables of the same run.
 */
enum bench_ratio_dir {
	/* baseline / kmm of a time: > 1 means kmm is faster (page_alloc,
	 * vmalloc, vm_map_ram) */
	BENCH_RATIO_BASE_OVER_KMM,
	/* kmm / baseline of a time: > 1 means kmm is slower (contig's
	 * "x memcpy") */
	BENCH_RATIO_KMM_OVER_BASE,
};

#define BENCH_SUMMARY_MAX 64	/* rows one run can hold */

/**
 * bench_summary_add - record one headline row of the summary table that
 * kmm_bench_run() prints after the benchmarks (kmm_bench_summary_print()).
 * @bench: the benchmark ("page_alloc", ...).
 * @op: the operation, as the benchmark's own table names it.
 * @kmm: kmm's figure, measured in this run.
 * @base: the baseline's figure, measured in the same run.
 * @unit: the unit of both figures ("ns/op", "ms/MiB").
 * @base_name: what the baseline is ("malloc(4096)", "memcpy").
 * @dir: how the ratio is formed (the benchmark's own convention).
 *
 * The strings are copied (truncated to the table's widths).
 * Context: any thread; takes the summary's mutex.
 * Return: 0; -EINVAL (nothing recorded) when a figure is not a positive
 * finite number or a string is missing; -ENOSPC when BENCH_SUMMARY_MAX
 * rows are recorded already.
 */
int bench_summary_add(const char *bench, const char *op, double kmm, double base,
		      const char *unit, const char *base_name,
		      enum bench_ratio_dir dir);

#endif /* KMM_BENCH_COMMON_H */
