/* SPDX-License-Identifier: MIT */
/*
 * bench_vm_map_ram.c - the vm_map_ram benchmark (issue 4).
 *
 * What is measured
 * ----------------
 * Each part runs on a shadow-mode machine ("kmm.mode=shadow mem=1G
 * nr_cpus=2": kmm's bookkeeping alone, no host memory) and then on a
 * real-mode machine ("mem=1G nr_cpus=2": addresses are real pointers,
 * backed by memfd pages through kmm's page tables).
 *
 * Part 1, one thread (kmm CPU 0, pinned to host CPU 0): mapping the same
 * n pages (n = 1, 4, 16, 64; order-0 pages from kmm_alloc_pages(), taken
 * once up front) and unmapping them again, two ways, in the same run:
 *
 *   vm_map_ram   kmm_vm_map_ram(pages, n, NUMA_NO_NODE) +
 *                kmm_vm_unmap_ram(addr, n): the per-CPU vmap blocks.
 *   vmap         kmm_vmap(pages, n, VM_MAP, PAGE_KERNEL) + kmm_vunmap():
 *                a vm_struct and a vmap area of n pages + a guard page
 *                per call, freed lazily (the baseline).
 *
 * ratio = vmap ns / vm_map_ram ns (> 1: vm_map_ram is faster).  Nothing is
 * written through the mappings here.
 *
 * Part 2, threads: 1 thread against N threads (--threads N[,N...],
 * default 2; 1 always runs, as the reference):
 * thread i is kmm CPU i (kmm_bind_cpu(i)) and is pinned to host CPU
 * i % nproc, each doing its own operations, in the shapes of the kernel's
 * test_vmalloc module:
 *
 *   fix_size     vmalloc(1 page), write one byte, vfree()
 *                (fix_size_alloc_test).
 *   vm_map_ram   vm_map_ram() of the thread's own page (one page taken up
 *                front per thread), write one byte, vm_unmap_ram()
 *                (vm_map_ram_test with its default of one page).
 *
 * In shadow mode the addresses are not memory: the byte is not written.
 * Reported: total throughput of all threads (ops/s) and the factor over
 * one thread.
 *
 * Deferred work is paid
 * ---------------------
 * vm_unmap_ram() clears the PTEs only: the TLB flush (in real mode the
 * host unmap) of a block's dirty span is owed until vm_unmap_aliases() or
 * the block is freed (all its pages dirty: its area is then freed lazily
 * like any vunmap) or purged; vunmap() and vfree() free their area
 * lazily, purged when lazy_max_pages is crossed.  Every slice therefore
 * ends with a timed kmm_vm_unmap_aliases(), added to the slice's time, so
 * a slice starts and ends with nothing owed.  In part 1 the vm_map_ram
 * slice also runs on past its time budget until one natural purge has run
 * (not with --quick; at most 20 budgets), so purges are in its
 * percentiles.  The vmap-block counters (kmm_vmap_block_get_stats():
 * blocks made, freed when full of dirt, purged as fragmented) show which
 * path the calls took.
 *
 * How time is measured
 * --------------------
 * The clock of bench_common.h (TSC, calibrated, the clock pair's cost
 * subtracted).  Part 1 times every map+unmap pair on its own (they cost
 * 0.1 to 300 us); a measurement is 5 slices (3 with --quick) alternating
 * vm_map_ram and vmap, each vmap slice repeating the preceding vm_map_ram
 * slice's number of pairs; ns/op is the best slice's mean (the median
 * slice's is in the CSV), percentiles pool all slices; a warm-up comes
 * first.  Part 2 runs batches of 64 operations, three in four timed
 * whole and every fourth timed per operation (the percentiles), as in
 * bench_page_alloc.c; a slice's throughput is all threads' operations
 * over its span (first thread's start to last thread's end) plus the
 * closing kmm_vm_unmap_aliases(); slices of the thread counts alternate
 * (1, 2, 1, 2, ...), each after a short warm-up of its threads; the best
 * slice's throughput is reported (the median's in the CSV).
 *
 * Nothing here asserts a timing; the run fails only when the benchmark
 * cannot work (boot, a mapping fails, validation or the leak check
 * afterwards).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <kmm/kmm.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#include "bench.h"
#include "bench_common.h"

#define SHADOW_BOOT "kmm.mode=shadow mem=1G"
#define REAL_BOOT "mem=1G"
#define DEFAULT_NR_CPUS 2	/* nr_cpus= of the default machines, at least */
#define SLICES 5
#define QUICK_SLICES 3
#define DEFAULT_SECONDS 0.4	/* part 1: vm_map_ram's time per measurement; */
#define QUICK_SECONDS 0.02	/* part 2: each thread count's */
#define DEFAULT_MAX_OPS 1000000UL	/* part 1: pairs per measurement */
#define QUICK_MAX_OPS 50000UL
#define DEFAULT_MAX_OPS2 4000000UL	/* part 2: ops per thread per measurement */
#define QUICK_MAX_OPS2 150000UL
#define MAX_OPS_LIMIT 20000000UL
#define MAX_PAGES 64		/* VMAP_MAX_ALLOC: the largest block request */
#define BATCH 64		/* part 2: operations per timed batch */
#define SAMPLE_EVERY 4		/* part 2: one batch in 4 timed per op */
#define WARM_MAX_S 1.0

static const unsigned sizes[] = { 1, 4, 16, 64 };
#define NR_SIZES (sizeof(sizes) / sizeof(sizes[0]))

enum impl { IMPL_MAP_RAM, IMPL_VMAP };
enum shape { SH_FIX_SIZE, SH_MAP_RAM, NR_SHAPES };

static const char *const shape_names[NR_SHAPES] = { "fix_size", "vm_map_ram" };

/* ---- the purge tracepoint ------------------------------------------------- */

/* Purges run in whichever thread crosses lazy_max_pages: an atomic. */
static atomic_ulong tr_purges;

static void on_purge(void *arg, unsigned long start, unsigned long end,
		     unsigned long npurged)
{
	(void)arg;
	(void)start;
	(void)end;
	(void)npurged;
	atomic_fetch_add_explicit(&tr_purges, 1, memory_order_relaxed);
}

static const struct kmm_vmap_trace_ops trace_ops = {
	.purge_vmap_area_lazy = on_purge,
};

static inline unsigned long purges_now(void)
{
	return atomic_load_explicit(&tr_purges, memory_order_relaxed);
}

/* ---- counters around a slice ---------------------------------------------- */

struct counters {
	uint64_t maps, unmaps;
	unsigned long made, freed, purged, small, large;
};

static void counters_read(struct counters *c)
{
	struct kmm_vmap_block_stats st;

	kmm_vmap_block_get_stats(&st);
	c->maps = atomic_load(&kmm_init_mm.nr_host_maps);
	c->unmaps = atomic_load(&kmm_init_mm.nr_host_unmaps);
	c->made = st.nr_made;
	c->freed = st.nr_freed;
	c->purged = st.nr_purged;
	c->small = st.nr_small;
	c->large = st.nr_large;
}

/* @acc += now - @c0 */
static void counters_add(struct counters *acc, const struct counters *c0)
{
	struct counters c1;

	counters_read(&c1);
	acc->maps += c1.maps - c0->maps;
	acc->unmaps += c1.unmaps - c0->unmaps;
	acc->made += c1.made - c0->made;
	acc->freed += c1.freed - c0->freed;
	acc->purged += c1.purged - c0->purged;
	acc->small += c1.small - c0->small;
	acc->large += c1.large - c0->large;
}

/* ---- part 1 series ---------------------------------------------------------- */

struct series {
	uint32_t *s;		/* per-op ticks, all slices */
	size_t n, cap;
	uint64_t max;
	uint64_t sl_ticks, sl_ops;	/* this slice */
	double sl_ns[SLICES];
	unsigned nsl;
	uint64_t ticks, ops;	/* all slices */
	/* natural purges: ops during which one ran */
	uint64_t purge_ops, purge_ticks, purge_max, purges;
	/* the kmm_vm_unmap_aliases() closing each slice */
	uint64_t forced, forced_ticks, forced_max;
	struct counters ctr;
};

static inline void se_add(struct series *se, uint64_t t)
{
	if (se->n < se->cap)
		se->s[se->n++] = bench_sample_u32(t);
	if (t > se->max)
		se->max = t;
	se->sl_ticks += t;
	se->sl_ops++;
}

static void se_reset(struct series *se)
{
	uint32_t *s = se->s;
	size_t cap = se->cap;

	memset(se, 0, sizeof(*se));
	se->s = s;
	se->cap = cap;
}

static void se_slice_end(struct series *se)
{
	if (se->sl_ops && se->nsl < SLICES)
		se->sl_ns[se->nsl++] = bench_ticks_to_ns((double)se->sl_ticks) /
				       (double)se->sl_ops;
	se->ticks += se->sl_ticks;
	se->ops += se->sl_ops;
	se->sl_ticks = se->sl_ops = 0;
}

/* A timed kmm_vm_unmap_aliases(); returns its ticks. */
static uint64_t timed_unmap_aliases(void)
{
	uint64_t t0, t1;

	t0 = bench_tick();
	kmm_vm_unmap_aliases();
	t1 = bench_tick();
	return bench_elapsed_ticks(t0, t1);
}

static void se_forced_purge(struct series *se)
{
	uint64_t d = timed_unmap_aliases();

	se->sl_ticks += d;
	se->forced++;
	se->forced_ticks += d;
	if (d > se->forced_max)
		se->forced_max = d;
}

/* ---- results -------------------------------------------------------------- */

struct row {
	int part;		/* 1: map+unmap pairs; 2: threads */
	const char *mode;	/* "real", "strict", "shadow" */
	/* part 1 */
	enum impl impl;
	unsigned pages;
	int base;		/* index of the vmap row, -1: none */
	double ns, ns_med;	/* best / median slice mean */
	uint64_t purges, purge_ops, forced;
	double purge_mean, purge_max, forced_mean, forced_max, purge_share;
	/* part 2 */
	enum shape shape;
	unsigned threads;
	double ops_s, ops_s_med;	/* best / median slice, all threads */
	double cpu_share;	/* threads' CPU time / (threads x span) */
	double faults_per_op;	/* host page faults */
	/* both */
	double p50, p99, p999, max;
	uint64_t ops, samples;
	double maps_per_op, unmaps_per_op;
	struct counters ctr;
};

struct tsamp;
struct worker;

struct vb {
	FILE *out;
	bool quick, csv;
	unsigned slices;
	double seconds;
	unsigned long max_ops, max_ops2;	/* part 1, part 2 */
	size_t cap;		/* samples per part 1 series */
	struct series se[2];
	uint32_t *tmp;		/* radix scratch */
	size_t tmp_cap;
	/* part 2 */
	unsigned threads[KMM_BENCH_MAX_THREADS];	/* counts; [0] = 1 */
	unsigned nthr, nthreads_max;
	struct worker *workers;	/* nthreads_max */
	struct tsamp *samp;	/* [nthr][nthreads_max] */
	size_t wcap;		/* samples per thread per measurement */
	uint32_t *merge;	/* all threads' samples of one row */
	size_t merge_cap;
	/* the machines: [0] shadow, [1] real */
	char shadow_boot[256], real_boot[256];
	char line[2][512], check[2][400];
	struct row *rows;
	size_t nrows, rows_cap;
	int err;
};

static int add_row(struct vb *b)
{
	struct row *r = bench_array_push((void **)&b->rows, &b->nrows,
					 &b->rows_cap, sizeof(b->rows[0]));

	if (!r)
		return -1;
	r->base = -1;
	r->mode = bench_kmm_mode_name();
	return (int)(r - b->rows);
}

static void fail(struct vb *b, const char *what)
{
	fprintf(b->out, "bench: %s failed (%s mode)\n", what, bench_kmm_mode_name());
	b->err = -1;
}

static void sorted_stats(struct vb *b, uint32_t *s, size_t n, struct row *r)
{
	bench_radix_sort_u32(s, b->tmp, n);
	r->samples = n;
	r->p50 = bench_percentile_ns(s, n, 0.50);
	r->p99 = bench_percentile_ns(s, n, 0.99);
	r->p999 = bench_percentile_ns(s, n, 0.999);
}

/* Fold a finished part 1 series into a new row; its index or -1. */
static int finish(struct vb *b, struct series *se, enum impl impl, unsigned pages)
{
	int i = add_row(b);
	double sl[SLICES];
	struct row *r;

	if (i < 0)
		return -1;
	r = &b->rows[i];
	r->part = 1;
	r->impl = impl;
	r->pages = pages;
	memcpy(sl, se->sl_ns, sizeof(sl));
	qsort(sl, se->nsl, sizeof(sl[0]), bench_cmp_double);
	r->ns = se->nsl ? sl[0] : 0;
	r->ns_med = se->nsl ? sl[se->nsl / 2] : 0;
	sorted_stats(b, se->s, se->n, r);
	r->max = bench_ticks_to_ns((double)se->max);
	r->ops = se->ops;
	r->purges = se->purges;
	r->purge_ops = se->purge_ops;
	r->forced = se->forced;
	if (se->purge_ops)
		r->purge_mean = bench_ticks_to_ns((double)se->purge_ticks) / (double)se->purge_ops;
	r->purge_max = bench_ticks_to_ns((double)se->purge_max);
	if (se->forced)
		r->forced_mean = bench_ticks_to_ns((double)se->forced_ticks) / (double)se->forced;
	r->forced_max = bench_ticks_to_ns((double)se->forced_max);
	if (se->ticks)
		r->purge_share = (double)(se->purge_ticks + se->forced_ticks) / (double)se->ticks;
	r->ctr = se->ctr;
	if (se->ops) {
		r->maps_per_op = (double)se->ctr.maps / (double)se->ops;
		r->unmaps_per_op = (double)se->ctr.unmaps / (double)se->ops;
	}
	return i;
}

/* ---- part 1: the loops ------------------------------------------------------ */

/*
 * Map+unmap pairs of @n pages: at most @max_ops, until @budget ticks have
 * passed and at least @min_purges natural purges have run (then at most
 * 20 budgets).  Return: 0, or -1 when a mapping failed; *@done: pairs.
 */
static inline __attribute__((always_inline)) int
pairs_loop(enum impl impl, struct series *se, struct kmm_page **pages, unsigned n,
	   unsigned long max_ops, uint64_t budget, unsigned long min_purges,
	   unsigned long *done)
{
	uint64_t start = bench_tick(), end = start + budget, t0, t1, d;
	uint64_t hard_end = budget < UINT64_MAX / 64 ? start + 20 * budget : end;
	unsigned long i, pstart = purges_now();
	int ret = 0;

	for (i = 0; i < max_ops;) {
		unsigned long p0 = purges_now();
		void *p;

		t0 = bench_tick();
		if (impl == IMPL_MAP_RAM) {
			p = kmm_vm_map_ram(pages, n, -1);
			if (__builtin_expect(!p, 0)) {
				ret = -1;
				break;
			}
			kmm_vm_unmap_ram(p, n);
		} else {
			p = kmm_vmap(pages, n, KMM_VM_MAP, KMM_PAGE_KERNEL);
			if (__builtin_expect(!p, 0)) {
				ret = -1;
				break;
			}
			kmm_vunmap(p);
		}
		t1 = bench_tick();
		d = bench_elapsed_ticks(t0, t1);
		se_add(se, d);
		if (purges_now() != p0) {
			se->purge_ops++;
			se->purges += purges_now() - p0;
			se->purge_ticks += d;
			if (d > se->purge_max)
				se->purge_max = d;
		}
		i++;
		if (t1 >= end && (purges_now() - pstart >= min_purges || t1 >= hard_end))
			break;
	}
	*done = i;
	return ret;
}

static __attribute__((noinline)) int
pairs_map_ram(struct series *se, struct kmm_page **pages, unsigned n,
	      unsigned long max_ops, uint64_t budget, unsigned long min_purges,
	      unsigned long *done)
{
	return pairs_loop(IMPL_MAP_RAM, se, pages, n, max_ops, budget, min_purges, done);
}

static __attribute__((noinline)) int
pairs_vmap(struct series *se, struct kmm_page **pages, unsigned n,
	   unsigned long max_ops, uint64_t budget, unsigned long *done)
{
	return pairs_loop(IMPL_VMAP, se, pages, n, max_ops, budget, 0, done);
}

static uint64_t slice_budget(const struct vb *b)
{
	return bench_slice_budget_ticks(b->seconds, b->slices);
}

/*
 * One size: warm-up (vm_map_ram until two natural purges have run and a
 * tenth of a slice has passed, or WARM_MAX_S; vmap for as many pairs, at
 * most a tenth of a measurement), then slices alternating vm_map_ram and
 * vmap, each ending with a timed kmm_vm_unmap_aliases().
 */
static int measure_pairs(struct vb *b, struct kmm_page **pages, unsigned n)
{
	struct series *sr = &b->se[0], *sv = &b->se[1], dummy;
	uint64_t budget = slice_budget(b), wstart, wmax;
	unsigned long per = b->max_ops / b->slices, done, d2, total = 0, p0;
	unsigned long want = b->quick ? 0 : 2;
	struct counters c0;
	unsigned s;
	int ri, rv;

	se_reset(sr);
	se_reset(sv);
	memset(&dummy, 0, sizeof(dummy));	/* cap 0: no samples kept */
	wstart = bench_tick();
	wmax = (uint64_t)(WARM_MAX_S * 1e9 * bench_ticks_per_ns);
	p0 = purges_now();
	do {
		if (pairs_map_ram(&dummy, pages, n, 256, wmax, 0, &done))
			goto fail;
		total += done;
	} while ((purges_now() - p0 < want || bench_tick() - wstart < budget / 10) &&
		 bench_tick() - wstart < wmax);
	kmm_vm_unmap_aliases();
	if (total > per / 10 + 1)
		total = per / 10 + 1;
	if (pairs_vmap(&dummy, pages, n, total, UINT64_MAX / 4, &d2))
		goto fail;
	kmm_vm_unmap_aliases();

	for (s = 0; s < b->slices; s++) {
		counters_read(&c0);
		if (pairs_map_ram(sr, pages, n, per, budget, b->quick ? 0 : 1, &done))
			goto fail;
		se_forced_purge(sr);
		counters_add(&sr->ctr, &c0);
		se_slice_end(sr);

		counters_read(&c0);
		if (pairs_vmap(sv, pages, n, done, UINT64_MAX / 4, &d2))
			goto fail;
		se_forced_purge(sv);
		counters_add(&sv->ctr, &c0);
		se_slice_end(sv);
	}
	ri = finish(b, sr, IMPL_MAP_RAM, n);
	if (ri < 0)
		return -1;
	rv = finish(b, sv, IMPL_VMAP, n);
	if (rv < 0)
		return -1;
	b->rows[ri].base = rv;
	return 0;
fail:
	fail(b, n > 1 ? "vm_map_ram/vmap of n pages" : "vm_map_ram/vmap of 1 page");
	kmm_vm_unmap_aliases();
	return -1;
}

static int part1(struct vb *b)
{
	struct kmm_page *pages[MAX_PAGES];
	unsigned i;
	int ret = 0;

	/* Taken once, order 0 each, as the kernel test's alloc_pages_bulk(). */
	for (i = 0; i < MAX_PAGES; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		if (!pages[i]) {
			fail(b, "kmm_alloc_pages");
			while (i-- > 0)
				kmm___free_pages(pages[i], 0);
			return -1;
		}
	}
	for (i = 0; i < NR_SIZES && !ret; i++)
		ret = measure_pairs(b, pages, sizes[i]);
	kmm_vm_unmap_aliases();
	for (i = 0; i < MAX_PAGES; i++)
		kmm___free_pages(pages[i], 0);
	return ret;
}

/* ---- part 2: threads -------------------------------------------------------- */

/* One slice of one thread count: what the workers share. */
struct trun {
	enum shape shape;
	bool touch;		/* real memory: write the byte */
	uint64_t budget, warm;	/* ticks */
	unsigned long max_ops;	/* per thread */
	struct bench_cbar bar;
	bool abort;
};

/* The samples of one thread of one thread count, over its slices. */
struct tsamp {
	uint32_t *s;
	size_t n;
	uint64_t seq;		/* batches so far: picks the sampled ones */
};

struct worker {
	pthread_t tid;
	unsigned idx;
	struct trun *run;
	struct kmm_page *page[1];	/* vm_map_ram's page, taken up front */
	struct tsamp *ts;
	size_t cap;
	uint64_t t0, t1, ops, cpu_ns, faults;	/* this slice */
	int err;
};

static inline __attribute__((always_inline)) int
op_shape(struct worker *w, enum shape sh, bool touch)
{
	void *p;

	if (sh == SH_FIX_SIZE) {
		p = kmm_vmalloc(KMM_PAGE_SIZE);
		if (__builtin_expect(!p, 0))
			return -1;
		if (touch)
			*(volatile char *)p = 'a';
		kmm_vfree(p);
	} else {
		p = kmm_vm_map_ram(w->page, 1, -1);
		if (__builtin_expect(!p, 0))
			return -1;
		if (touch)
			*(volatile char *)p = 'a';
		kmm_vm_unmap_ram(p, 1);
	}
	return 0;
}

static inline __attribute__((always_inline)) int
thread_loop(struct worker *w, enum shape sh, bool touch, bool warm)
{
	const struct trun *r = w->run;
	uint64_t start = bench_tick(), end = start + (warm ? r->warm : r->budget);
	uint64_t t0, t1 = start;
	unsigned long max = r->max_ops, done = 0;
	struct tsamp *ts = w->ts;
	int i;

	while (done < max) {
		if (!warm && ts->seq++ % SAMPLE_EVERY == SAMPLE_EVERY - 1 &&
		    ts->n + BATCH <= w->cap) {
			for (i = 0; i < BATCH; i++) {
				t0 = bench_tick();
				if (op_shape(w, sh, touch))
					return -1;
				t1 = bench_tick();
				ts->s[ts->n++] = bench_sample_u32(bench_elapsed_ticks(t0, t1));
			}
		} else {
			for (i = 0; i < BATCH; i++)
				if (op_shape(w, sh, touch))
					return -1;
			t1 = bench_tick();
		}
		done += BATCH;
		if (t1 >= end)
			break;
	}
	if (!warm) {
		w->t0 = start;
		w->t1 = t1;
		w->ops = done;
	}
	return 0;
}

static __attribute__((noinline)) int loop_fix_size(struct worker *w, bool warm)
{
	return w->run->touch ? thread_loop(w, SH_FIX_SIZE, true, warm)
			     : thread_loop(w, SH_FIX_SIZE, false, warm);
}

static __attribute__((noinline)) int loop_map_ram(struct worker *w, bool warm)
{
	return w->run->touch ? thread_loop(w, SH_MAP_RAM, true, warm)
			     : thread_loop(w, SH_MAP_RAM, false, warm);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int (*loop)(struct worker *, bool) =
		w->run->shape == SH_FIX_SIZE ? loop_fix_size : loop_map_ram;
	uint64_t c0, f0;

	bench_pin_to_host_cpu(w->idx % bench_host_cpus());
	if (kmm_bind_cpu((int)w->idx))
		w->err = -1;
	if (!w->err && !w->run->abort)
		w->err = loop(w, true);
	bench_cbar_wait(&w->run->bar);	/* warmed up */
	bench_cbar_wait(&w->run->bar);	/* go: nothing owed */
	f0 = bench_thread_minflt();
	c0 = bench_thread_cpu_ns();
	if (!w->err && !w->run->abort)
		w->err = loop(w, false);
	w->cpu_ns = bench_thread_cpu_ns() - c0;
	w->faults = bench_thread_minflt() - f0;
	return NULL;
}

struct tslice {
	double ops_s;		/* all threads, over span + closing purge */
	double cpu_share;	/* threads' CPU time / (threads x span) */
};

/* Thread count index @ti's accumulators over the slices of a shape. */
struct tacc {
	struct tslice sl[SLICES];
	unsigned nsl;
	uint64_t ops, forced, forced_ticks, faults, span_ticks;
	unsigned long purges;
	struct counters ctr;
};

static struct tsamp *samp_of(struct vb *b, unsigned ti, unsigned t);

/* One slice of @shape on thread count index @ti. */
static int run_slice(struct vb *b, enum shape shape, unsigned ti, struct tacc *acc)
{
	unsigned nthreads = b->threads[ti], t;
	struct trun run = {
		.shape = shape,
		.touch = kmm_machine.params.mode != KMM_MODE_SHADOW,
		.budget = slice_budget(b),
		.max_ops = b->max_ops2 / b->slices,
	};
	uint64_t t0 = UINT64_MAX, t1 = 0, ops = 0, cpu = 0, faults = 0, forced;
	struct tslice *sl = &acc->sl[acc->nsl];
	unsigned long p0;
	struct counters c0;
	int err = 0;

	run.warm = run.budget / 10;
	bench_cbar_init(&run.bar, nthreads + 1);
	for (t = 0; t < nthreads; t++) {
		struct worker *w = &b->workers[t];

		w->idx = t;
		w->run = &run;
		w->err = 0;
		w->ts = samp_of(b, ti, t);
		w->cap = b->wcap;
		w->t0 = w->t1 = w->ops = w->cpu_ns = 0;
		if (pthread_create(&w->tid, NULL, worker_main, w)) {
			fprintf(b->out, "bench: pthread_create failed\n");
			run.abort = true;
			nthreads = t;
			bench_cbar_set_parties(&run.bar, t + 1);
			break;
		}
	}
	bench_cbar_wait(&run.bar);
	kmm_vm_unmap_aliases();		/* the warm-ups' debts */
	counters_read(&c0);
	p0 = purges_now();
	bench_cbar_wait(&run.bar);
	for (t = 0; t < nthreads; t++) {
		struct worker *w = &b->workers[t];

		pthread_join(w->tid, NULL);
		if (w->err)
			err = -1;
		if (w->t0 < t0)
			t0 = w->t0;
		if (w->t1 > t1)
			t1 = w->t1;
		ops += w->ops;
		cpu += w->cpu_ns;
		faults += w->faults;
	}
	acc->purges += purges_now() - p0;
	forced = timed_unmap_aliases();
	counters_add(&acc->ctr, &c0);
	bench_cbar_destroy(&run.bar);
	if (run.abort)
		return -1;
	if (err) {
		fprintf(b->out, "bench: %s with %u threads: a mapping failed (%s mode)\n",
			shape_names[shape], nthreads, bench_kmm_mode_name());
		b->err = -1;
		return -1;
	}
	acc->ops += ops;
	acc->faults += faults;
	acc->forced++;
	acc->forced_ticks += forced;
	if (t1 > t0 && acc->nsl < SLICES) {
		double span_ns = bench_ticks_to_ns((double)(t1 - t0));
		double wall_ns = bench_ticks_to_ns((double)(t1 - t0 + forced));

		acc->span_ticks += t1 - t0;
		sl->ops_s = (double)ops * 1e9 / wall_ns;
		sl->cpu_share = (double)cpu / (span_ns * nthreads);
		acc->nsl++;
	}
	return 0;
}

static int cmp_tslice(const void *a, const void *b)
{
	double x = ((const struct tslice *)a)->ops_s, y = ((const struct tslice *)b)->ops_s;

	return x > y ? -1 : x < y;	/* best (highest) first */
}

/* One shape: slices of every thread count, alternating (1, 2, 1, 2, ...). */
static int measure_threads(struct vb *b, enum shape shape)
{
	struct tacc acc[KMM_BENCH_MAX_THREADS];
	unsigned s, ti, t;

	memset(acc, 0, sizeof(acc));
	for (ti = 0; ti < b->nthr; ti++)
		for (t = 0; t < b->threads[ti]; t++) {
			samp_of(b, ti, t)->n = 0;
			samp_of(b, ti, t)->seq = 0;
		}
	for (s = 0; s < b->slices; s++)
		for (ti = 0; ti < b->nthr; ti++)
			if (run_slice(b, shape, ti, &acc[ti]))
				return -1;
	for (ti = 0; ti < b->nthr; ti++) {
		struct tacc *a = &acc[ti];
		int i = add_row(b);
		struct row *r;
		size_t n = 0;

		if (i < 0)
			return -1;
		r = &b->rows[i];
		r->part = 2;
		r->shape = shape;
		r->threads = b->threads[ti];
		qsort(a->sl, a->nsl, sizeof(a->sl[0]), cmp_tslice);
		if (a->nsl) {
			r->ops_s = a->sl[0].ops_s;
			r->cpu_share = a->sl[0].cpu_share;
			r->ops_s_med = a->sl[a->nsl / 2].ops_s;
		}
		for (t = 0; t < b->threads[ti]; t++) {
			struct tsamp *ts = samp_of(b, ti, t);

			memcpy(b->merge + n, ts->s, ts->n * sizeof(*ts->s));
			n += ts->n;
		}
		sorted_stats(b, b->merge, n, r);
		r->max = n ? bench_ticks_to_ns((double)b->merge[n - 1]) : 0;
		r->ops = a->ops;
		r->purges = a->purges;
		r->forced = a->forced;
		if (a->forced)
			r->forced_mean = bench_ticks_to_ns((double)a->forced_ticks) / (double)a->forced;
		r->ctr = a->ctr;
		if (a->ops) {
			r->maps_per_op = (double)a->ctr.maps / (double)a->ops;
			r->unmaps_per_op = (double)a->ctr.unmaps / (double)a->ops;
			r->faults_per_op = (double)a->faults / (double)a->ops;
		}
		if (a->span_ticks + a->forced_ticks)
			r->purge_share = (double)a->forced_ticks /
					 (double)(a->span_ticks + a->forced_ticks);
	}
	return 0;
}

static int part2(struct vb *b)
{
	unsigned t;
	int ret = 0, sh;

	for (t = 0; t < b->nthreads_max; t++) {
		b->workers[t].page[0] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		if (!b->workers[t].page[0]) {
			fail(b, "kmm_alloc_pages");
			ret = -1;
			break;
		}
	}
	for (sh = 0; sh < NR_SHAPES && !ret; sh++)
		ret = measure_threads(b, (enum shape)sh);
	kmm_vm_unmap_aliases();
	for (t = 0; t < b->nthreads_max; t++)
		if (b->workers[t].page[0]) {
			kmm___free_pages(b->workers[t].page[0], 0);
			b->workers[t].page[0] = NULL;
		}
	return ret;
}

/* ---- a machine -------------------------------------------------------------- */

/*
 * After a machine's measurements: nothing owed, busy or leaked.  Blocks
 * still holding free pages are purged first (everything in them is free
 * or dirty by now), so that every vmap area must be gone; the kernel page
 * tables built for vmalloc space stay, so the free pages must come back
 * but for the table pages added meanwhile.
 */
static int check_machine(uint64_t free0, long pt0, char *line, size_t len)
{
	struct kmm_vmap_block_stats bst;
	struct kmm_vmalloc_stats st;
	uint64_t free1;
	long pt1;
	bool leak;
	int err;

	kmm__purge_fragmented_blocks_allcpus();
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	free1 = kmm_nr_free_pages();
	pt1 = atomic_load(&kmm_init_mm.pgtables_pages);
	leak = (int64_t)(free0 - free1) != (int64_t)(pt1 - pt0);
	kmm_vmalloc_get_stats(&st);
	kmm_vmap_block_get_stats(&bst);
	err = kmm_vmalloc_validate();
	snprintf(line, len,
		 "%s: vmalloc validate %s; busy %lu, lazy %lu, vmap blocks %lu (made %lu, freed %lu,\n"
		 "        purged %lu); free pages %llu -> %llu, page-table pages %ld -> %ld%s",
		 bench_kmm_mode_name(), err ? "FAILED" : "ok", st.nr_busy, st.nr_lazy,
		 bst.nr_blocks, bst.nr_made, bst.nr_freed, bst.nr_purged,
		 (unsigned long long)free0, (unsigned long long)free1, pt0, pt1,
		 leak ? " (LEAK)" : " (no leak)");
	return err || leak || st.nr_busy || bst.nr_blocks ? -1 : 0;
}

static void machine_line(char *buf, size_t len, const char *boot)
{
	struct kmm_vmalloc_stats st;
	struct kmm_vmap_block_stats bst;

	kmm_vmalloc_get_stats(&st);
	kmm_vmap_block_get_stats(&bst);
	snprintf(buf, len,
		 "boot \"%s\": mode %s, %u CPUs, %llu MiB, vmalloc %llu GiB;\n"
		 "        lazy_max_pages %lu; vmap block %lu pages, VMAP_MAX_ALLOC %d",
		 boot, bench_kmm_mode_name(), kmm_machine.nr_cpus,
		 (unsigned long long)(kmm_machine.totalram_pages * KMM_PAGE_SIZE >> 20),
		 (unsigned long long)((kmm_machine.vmalloc_end - kmm_machine.vmalloc_start) >> 30),
		 st.lazy_max_pages, bst.bbmap_bits, KMM_VMAP_MAX_ALLOC);
}

/* Both parts on a machine booted with @boot (or on the one booted). */
static int on_machine(struct vb *b, const char *boot)
{
	bool booted_here;
	uint64_t free0;
	long pt0;
	int ret, c, m;

	if (bench_boot_unless_booted(b->out, boot, &booted_here))
		return -1;
	m = kmm_machine.params.mode == KMM_MODE_SHADOW ? 0 : 1;
	kmm_bind_cpu(0);
	machine_line(b->line[m], sizeof(b->line[m]), booted_here ? boot : "(already booted)");
	fprintf(b->out, "kmm:    %s\n", b->line[m]);
	fflush(b->out);
	if (b->nthreads_max > kmm_machine.nr_cpus) {
		fprintf(b->out, "bench: %u threads need nr_cpus >= %u (the machine has %u)\n",
			b->nthreads_max, b->nthreads_max, kmm_machine.nr_cpus);
		ret = -1;
		goto out;
	}
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	pt0 = atomic_load(&kmm_init_mm.pgtables_pages);
	kmm_vmap_set_trace(&trace_ops);
	ret = part1(b);
	if (!ret)
		ret = part2(b);
	kmm_vmap_set_trace(NULL);
	c = check_machine(free0, pt0, b->check[m], sizeof(b->check[m]));
	if (c)
		ret = -1;
out:
	if (booted_here)
		kmm_shutdown();
	return ret;
}

/* ---- output --------------------------------------------------------------- */

static void print_pairs(struct vb *b)
{
	char a[16], c[16], d[16], e[16], f[16], g[16], h[16], i2[16], j[16];
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\n1. vm_map_ram()+vm_unmap_ram() against vmap(VM_MAP, PAGE_KERNEL)+vunmap() of\n"
		   "   the same n pages, 1 thread; each slice ends with a timed vm_unmap_aliases()\n");
	fprintf(o, "%5s %-6s %8s %8s %8s | %8s %8s %8s %8s | %8s %8s %8s\n", "pages", "mode",
		"map_ram", "vmap", "ratio", "map_ram", "p99", "p99.9", "max", "vmap",
		"p99", "max");
	fprintf(o, "%5s %-6s %8s %8s %8s | %8s %8s %8s %8s | %8s %8s %8s\n", "", "",
		"ns/op", "ns/op", "vmap/mr", "p50 ns", "ns", "ns", "ns", "p50 ns", "ns", "ns");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i], *v;

		if (r->part != 1 || r->impl != IMPL_MAP_RAM || r->base < 0)
			continue;
		v = &b->rows[r->base];
		fprintf(o, "%5u %-6s %s %s %8.2f | %s %s %s %s | %s %s %s\n", r->pages, r->mode,
			bench_fmt_ns(a, r->ns), bench_fmt_ns(c, v->ns), bench_ratio(v->ns, r->ns),
			bench_fmt_ns(d, r->p50), bench_fmt_ns(e, r->p99), bench_fmt_ns(f, r->p999),
			bench_fmt_ns(g, r->max), bench_fmt_ns(h, v->p50), bench_fmt_ns(i2, v->p99),
			bench_fmt_ns(j, v->max));
	}
}

/*
 * The headline rows of print_pairs() for kmm_bench_run()'s summary: every
 * part 1 vm_map_ram row of each mode against its vmap row (the very ns/op
 * figures of that table; both are kmm's, vmap is the baseline).
 */
static void summarize(const struct vb *b)
{
	char op[64];
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 1 || r->impl != IMPL_MAP_RAM || r->base < 0)
			continue;
		snprintf(op, sizeof(op), "vm_map_ram %u page%s, %s", r->pages,
			 r->pages == 1 ? "" : "s", r->mode);
		bench_summary_add("vm_map_ram", op, r->ns, b->rows[r->base].ns, "ns/op",
				  "vmap+vunmap", BENCH_RATIO_BASE_OVER_KMM);
	}
}

static void print_paths(struct vb *b)
{
	char a[16], c[16];
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\nDeferred work and paths (part 1).  natural: lazy purges run inside a timed\n"
		   "pair, and those pairs' mean; end: the vm_unmap_aliases() closing each slice\n"
		   "(in the mean, not a sample); share: both kinds' part of the time; host maps\n"
		   "and unmaps per op (real mode); vmap blocks made, freed (full of dirt) and\n"
		   "purged (fragmented, by the closing vm_unmap_aliases()); small: vm_map_ram()\n"
		   "calls served by blocks:\n");
	fprintf(o, "%-10s %5s %-6s %8s %7s %8s %8s %6s %6s %6s %7s %7s %6s %8s\n",
		"operation", "pages", "mode", "ops", "natural", "purge op", "end", "share",
		"maps", "unmaps", "blocks", "blocks", "blocks", "small");
	fprintf(o, "%-10s %5s %-6s %8s %7s %8s %8s %6s %6s %6s %7s %7s %6s %8s\n",
		"", "", "", "", "purges", "mean ns", "mean ns", "", "/op", "/op", "made",
		"freed", "purged", "calls");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 1)
			continue;
		fprintf(o, "%-10s %5u %-6s %8llu %7llu %s %s %5.1f%% %6.2f %6.2f %7lu %7lu %6lu %8lu\n",
			r->impl == IMPL_MAP_RAM ? "vm_map_ram" : "vmap", r->pages, r->mode,
			(unsigned long long)r->ops, (unsigned long long)r->purges,
			bench_fmt_ns(a, r->purge_ops ? r->purge_mean : 0),
			bench_fmt_ns(c, r->forced_mean), 100 * r->purge_share, r->maps_per_op,
			r->unmaps_per_op, r->ctr.made, r->ctr.freed, r->ctr.purged, r->ctr.small);
	}
}

static const struct row *find_thr(const struct vb *b, const char *mode, enum shape sh,
				  unsigned threads)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part == 2 && r->shape == sh && r->threads == threads &&
		    !strcmp(r->mode, mode))
			return r;
	}
	return NULL;
}

/* bench_fmt_ns() at width 7. */
static const char *fmt7(char *buf, double v)
{
	if (!(v > 0))
		snprintf(buf, 16, "%7s", "-");
	else
		snprintf(buf, 16, v < 1000 ? "%7.1f" : "%7.0f", v);
	return buf;
}

static void print_threads(struct vb *b)
{
	char a[16], c[16], d[16], e[16], f[16];
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\n2. Threads (thread i = kmm CPU i, pinned to host CPU i %% %u): fix_size =\n"
		   "   vmalloc(4096), write a byte, vfree(); vm_map_ram = vm_map_ram() of the\n"
		   "   thread's page, write a byte, vm_unmap_ram() (shadow mode: no byte written).\n"
		   "   ops/s: all threads, best slice, over its span plus the closing\n"
		   "   vm_unmap_aliases(); ns/op per thread (the same); x1T: over the 1-thread\n"
		   "   row; cpu: threads' CPU time over threads x span (below ~95%%: threads\n"
		   "   slept on a lock, or the host ran something else); natural: lazy purges\n"
		   "   inside the spans; end: the closing vm_unmap_aliases() and its share of\n"
		   "   the time; maps, faults: host mmap calls and page faults per op\n",
		bench_host_cpus());
	fprintf(o, "%-10s %-6s %2s %9s %5s %7s %7s %7s %7s %8s %4s %5s %7s %5s %4s %6s\n", "shape",
		"mode", "T", "ops/s", "x1T", "ns/op", "p50", "p99", "p99.9", "max", "cpu",
		"natrl", "end", "end", "maps", "faults");
	fprintf(o, "%-10s %-6s %2s %9s %5s %7s %7s %7s %7s %8s %4s %5s %7s %5s %4s %6s\n", "",
		"", "", "", "", "/thread", "ns", "ns", "ns", "ns", "", "purgs", "mean us",
		"share", "/op", "/op");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];
		const struct row *one;
		char x[16];

		if (r->part != 2)
			continue;
		one = find_thr(b, r->mode, r->shape, 1);
		if (one && one != r && one->ops_s > 0)
			snprintf(x, sizeof(x), "%5.2f", r->ops_s / one->ops_s);
		else
			snprintf(x, sizeof(x), "%5s", "-");
		fprintf(o, "%-10s %-6s %2u %9.0f %s %s %s %s %s %s %3.0f%% %5llu %7.1f %4.0f%% %4.2f %6.2f\n",
			shape_names[r->shape], r->mode, r->threads, r->ops_s, x,
			fmt7(a, r->ops_s > 0 ? 1e9 * r->threads / r->ops_s : 0), fmt7(c, r->p50),
			fmt7(d, r->p99), fmt7(e, r->p999), bench_fmt_ns(f, r->max),
			100 * r->cpu_share, (unsigned long long)r->purges, r->forced_mean / 1e3,
			100 * r->purge_share, r->maps_per_op, r->faults_per_op);
	}
}

static void print_aims(struct vb *b)
{
	static const char *const modes[2] = { "shadow", "real" };
	static const double want[2] = { 5.0, 2.0 };
	FILE *o = b->out;
	unsigned m, k, sh;
	size_t i;

	fprintf(o, "\nAims (informational, never asserted):\n");
	for (m = 0; m < 2; m++)
		for (i = 0; i < b->nrows; i++) {
			const struct row *r = &b->rows[i], *v;
			double x;

			if (r->part != 1 || r->impl != IMPL_MAP_RAM || r->base < 0 ||
			    strcmp(r->mode, modes[m]))
				continue;
			v = &b->rows[r->base];
			x = bench_ratio(v->ns, r->ns);
			fprintf(o, "  %-6s %2u pages: vm_map_ram >= %.0fx faster than vmap: %.2fx (%.0f vs %.0f ns): %s\n",
				r->mode, r->pages, want[m], x, r->ns, v->ns,
				x >= want[m] ? "met" : "missed");
		}
	for (m = 0; m < 2; m++)
		for (sh = 0; sh < NR_SHAPES; sh++)
			for (k = 0; k < b->nthr; k++) {
				const struct row *one = find_thr(b, modes[m], (enum shape)sh, 1);
				const struct row *r = find_thr(b, modes[m], (enum shape)sh,
							       b->threads[k]);
				double x, aim;

				if (!one || !r || r == one || !(one->ops_s > 0))
					continue;
				x = r->ops_s / one->ops_s;
				/* 1.7x for 2 threads; 85% of linear beyond */
				aim = 0.85 * r->threads;
				fprintf(o, "  %-6s %-10s %u threads: throughput >= %.2fx of 1 thread: %.2fx (%.0f vs %.0f ops/s)%s: %s\n",
					modes[m], shape_names[sh], r->threads, aim, x, r->ops_s,
					one->ops_s,
					r->threads > bench_host_cpus() ? " [more threads than host CPUs]" : "",
					x >= aim ? "met" : "missed");
			}
}

static void print_csv(struct vb *b)
{
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\npart,operation,pages,threads,mode,ns_op,ns_op_median,ops_s,ops_s_median,"
		   "p50,p99,p999,max,ops,samples,baseline_ns_op,ratio,natural_purges,"
		   "purge_op_mean,purge_op_max,end_purges,end_purge_mean,purge_share,host_maps_per_op,"
		   "host_unmaps_per_op,blocks_made,blocks_freed,blocks_purged,small_calls,"
		   "large_calls,cpu_share,host_faults_per_op\n");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];
		const struct row *base = r->base >= 0 ? &b->rows[r->base] : NULL;
		const char *op = r->part == 2 ? shape_names[r->shape]
				 : r->impl == IMPL_MAP_RAM ? "vm_map_ram" : "vmap";

		fprintf(o, "%d,%s,%u,%u,%s,%.2f,%.2f,%.0f,%.0f,%.1f,%.1f,%.1f,%.1f,%llu,%llu,",
			r->part, op, r->part == 1 ? r->pages : 1, r->part == 2 ? r->threads : 1,
			r->mode, r->ns, r->ns_med, r->ops_s, r->ops_s_med, r->p50, r->p99,
			r->p999, r->max, (unsigned long long)r->ops,
			(unsigned long long)r->samples);
		if (base)
			fprintf(o, "%.2f,%.3f,", base->ns, bench_ratio(base->ns, r->ns));
		else
			fprintf(o, ",,");
		fprintf(o, "%llu,%.1f,%.1f,%llu,%.1f,%.4f,%.3f,%.3f,%lu,%lu,%lu,%lu,%lu,%.3f,%.3f\n",
			(unsigned long long)r->purges, r->purge_mean, r->purge_max,
			(unsigned long long)r->forced, r->forced_mean, r->purge_share,
			r->maps_per_op, r->unmaps_per_op, r->ctr.made, r->ctr.freed,
			r->ctr.purged, r->ctr.small, r->ctr.large, r->cpu_share,
			r->faults_per_op);
	}
}

static void print_header(struct vb *b)
{
	FILE *o = b->out;
	unsigned i;

	fprintf(o, "kmm vm_map_ram benchmark (issue 4: vm_map_ram vs vmap, thread scaling)%s\n",
		b->quick ? " -- quick mode: numbers are noisy" : "");
	bench_print_host_line(o);
	fprintf(o, "\n");
	bench_print_clock_line(o);
	fprintf(o, "method: 1. one thread (kmm CPU 0, host CPU 0), every pair timed; per size\n"
		   "        %.3f s or %lu pairs of vm_map_ram in %u slices%s,\n"
		   "        alternating with vmap (repeating each slice's pair count); every\n"
		   "        slice ends with a timed kmm_vm_unmap_aliases() (nothing owed is left\n"
		   "        unpaid); ns/op = best slice's mean; percentiles pool all slices\n"
		   "        2. per thread count %.3f s or %lu ops per thread in %u slices,\n"
		   "        the thread counts alternating; batches of %d ops, 1 in %d timed per\n"
		   "        op (percentiles); each slice ends with a timed kmm_vm_unmap_aliases()\n",
		b->seconds, b->max_ops, b->slices,
		b->quick ? "" : "\n        (each running on to its first natural purge)",
		b->seconds, b->max_ops2, b->slices, BATCH, SAMPLE_EVERY);
	fprintf(o, "threads:");
	for (i = 0; i < b->nthr; i++)
		fprintf(o, " %u", b->threads[i]);
	fprintf(o, " (thread i = kmm CPU i, pinned to host CPU i %% %u)\n", bench_host_cpus());
	fprintf(o, "ratio = vmap ns / vm_map_ram ns: > 1 means vm_map_ram is faster\n");
}

/* ---- the entry point -------------------------------------------------------- */

static struct tsamp *samp_of(struct vb *b, unsigned ti, unsigned t)
{
	return &b->samp[(size_t)ti * b->nthreads_max + t];
}

static int alloc_buffers(struct vb *b)
{
	size_t i, nsamp = (size_t)b->nthr * b->nthreads_max;
	unsigned ti, t;

	for (i = 0; i < 2; i++) {
		b->se[i].s = bench_mem(b->cap * sizeof(uint32_t));
		if (!b->se[i].s)
			return -1;
		b->se[i].cap = b->cap;
	}
	b->workers = bench_mem(sizeof(struct worker) * b->nthreads_max);
	b->samp = bench_mem(sizeof(struct tsamp) * nsamp);
	b->merge = bench_mem(b->merge_cap * sizeof(uint32_t));
	b->tmp = bench_mem(b->tmp_cap * sizeof(uint32_t));
	if (!b->workers || !b->samp || !b->merge || !b->tmp)
		return -1;
	for (ti = 0; ti < b->nthr; ti++)
		for (t = 0; t < b->threads[ti]; t++) {
			samp_of(b, ti, t)->s = bench_mem(b->wcap * sizeof(uint32_t));
			if (!samp_of(b, ti, t)->s)
				return -1;
		}
	return 0;
}

static void free_buffers(struct vb *b)
{
	size_t i, nsamp = (size_t)b->nthr * b->nthreads_max;

	for (i = 0; i < 2; i++)
		if (b->se[i].s)
			munmap(b->se[i].s, b->cap * sizeof(uint32_t));
	if (b->samp) {
		for (i = 0; i < nsamp; i++)
			if (b->samp[i].s)
				munmap(b->samp[i].s, b->wcap * sizeof(uint32_t));
		munmap(b->samp, sizeof(struct tsamp) * nsamp);
	}
	if (b->workers)
		munmap(b->workers, sizeof(struct worker) * b->nthreads_max);
	if (b->merge)
		munmap(b->merge, b->merge_cap * sizeof(uint32_t));
	if (b->tmp)
		munmap(b->tmp, b->tmp_cap * sizeof(uint32_t));
	free(b->rows);
}

/*
 * A default machine's command line: @base with nr_cpus= the most threads
 * (at least DEFAULT_NR_CPUS); a caller's (--boot, --shadow-boot) gets
 * nr_cpus= only when it has none and needs more CPUs than the host has.
 */
static void boot_line(char *buf, size_t len, const char *given, const char *base,
		      unsigned nthreads_max)
{
	unsigned cpus = nthreads_max > DEFAULT_NR_CPUS ? nthreads_max : DEFAULT_NR_CPUS;
	size_t l;

	if (!given) {
		snprintf(buf, len, "%s nr_cpus=%u", base, cpus);
		return;
	}
	snprintf(buf, len, "%s", given);
	l = strlen(buf);
	if (!strstr(buf, "nr_cpus=") && nthreads_max > bench_host_cpus())
		snprintf(buf + l, len - l, "%snr_cpus=%u", l ? " " : "", nthreads_max);
}

struct thread_arg {
	struct vb *b;
	int ret;
};

static void *bench_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct vb *b = ta->b;
	int ret;

	bench_pin_to_host_cpu(0);
	if (kmm_booted()) {
		/* A machine the caller booted: its mode only. */
		ta->ret = on_machine(b, "");
		return NULL;
	}
	ret = on_machine(b, b->shadow_boot);
	if (!ret)
		ret = on_machine(b, b->real_boot);
	ta->ret = ret;
	return NULL;
}

int kmm_bench_vm_map_ram(FILE *out, const struct kmm_bench_opts *opts)
{
	struct kmm_bench_opts dflt;
	struct thread_arg ta;
	struct bench_host_busy hb0, hb1;
	struct bench_host_others others;
	struct vb b;
	pthread_t tid;
	unsigned i, j;

	if (!opts) {
		kmm_bench_opts_init(&dflt);
		opts = &dflt;
	}
	memset(&b, 0, sizeof(b));
	memset(&ta, 0, sizeof(ta));
	b.out = out;
	b.quick = opts->quick;
	b.csv = opts->csv;
	b.slices = opts->quick ? QUICK_SLICES : SLICES;
	b.seconds = opts->seconds > 0 ? opts->seconds
				      : opts->quick ? QUICK_SECONDS : DEFAULT_SECONDS;
	b.max_ops = opts->iterations ? opts->iterations
				     : opts->quick ? QUICK_MAX_OPS : DEFAULT_MAX_OPS;
	if (b.max_ops > MAX_OPS_LIMIT)
		b.max_ops = MAX_OPS_LIMIT;
	if (b.max_ops < (unsigned long)BATCH * b.slices)
		b.max_ops = (unsigned long)BATCH * b.slices;
	b.max_ops2 = opts->iterations ? b.max_ops
				      : opts->quick ? QUICK_MAX_OPS2 : DEFAULT_MAX_OPS2;
	/* Thread counts: 1 (the reference of the scaling) and the others
	 * asked for, in the order given, without repeats. */
	b.threads[b.nthr++] = 1;
	for (i = 0; i < (opts->nr_threads ? opts->nr_threads : 1); i++) {
		unsigned n = opts->nr_threads ? opts->threads[i] : 2;

		if (n < 1 || n > KMM_BENCH_MAX_THREADS) {
			fprintf(out, "bench: thread count %u out of range 1..%d\n", n,
				KMM_BENCH_MAX_THREADS);
			return -1;
		}
		for (j = 0; j < b.nthr && b.threads[j] != n; j++)
			;
		if (j == b.nthr && b.nthr < KMM_BENCH_MAX_THREADS)
			b.threads[b.nthr++] = n;
	}
	for (i = 0; i < b.nthr; i++)
		if (b.threads[i] > b.nthreads_max)
			b.nthreads_max = b.threads[i];
	boot_line(b.shadow_boot, sizeof(b.shadow_boot), opts->shadow_boot, SHADOW_BOOT,
		  b.nthreads_max);
	boot_line(b.real_boot, sizeof(b.real_boot), opts->boot, REAL_BOOT, b.nthreads_max);
	b.cap = b.max_ops + 1024;
	/* Per thread: a quarter of max_ops (every 4th batch) over all slices. */
	b.wcap = b.max_ops2 / SAMPLE_EVERY + 2 * BATCH;
	b.merge_cap = b.wcap * b.nthreads_max;
	b.tmp_cap = b.merge_cap > b.cap ? b.merge_cap : b.cap;
	ta.b = &b;

	if (alloc_buffers(&b)) {
		fprintf(out, "bench: out of memory for sample buffers\n");
		free_buffers(&b);
		return -1;
	}
	bench_clock_calibrate(opts->quick);
	print_header(&b);
	fflush(out);
	bench_host_busy_read(&hb0);
	if (pthread_create(&tid, NULL, bench_thread, &ta)) {
		fprintf(out, "bench: pthread_create failed\n");
		free_buffers(&b);
		return -1;
	}
	pthread_join(tid, NULL);
	bench_host_busy_read(&hb1);
	print_pairs(&b);
	summarize(&b);
	print_paths(&b);
	print_threads(&b);
	print_aims(&b);
	fprintf(out, "\nkmm after the run:\n");
	for (i = 0; i < 2; i++)
		if (b.check[i][0])
			fprintf(out, "  %s\n", b.check[i]);
	if (bench_host_others(&hb0, &hb1, &others))
		fprintf(out, "host: %.1f s measuring (boots included); other processes used %.1f CPU-seconds\n"
			     "      meanwhile (%.0f%% of %u CPUs)\n",
			others.wall_s, others.cpu_s, others.pct, bench_host_cpus());
	if (b.csv)
		print_csv(&b);
	fflush(out);
	free_buffers(&b);
	return ta.ret || b.err ? -1 : 0;
}
