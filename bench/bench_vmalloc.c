/* SPDX-License-Identifier: MIT */
/*
 * bench_vmalloc.c - the vmalloc benchmark (issue 3).
 *
 * What is measured
 * ----------------
 * Part 1: the shapes of the kernel's test_vmalloc module, one thread (kmm
 * CPU 0, pinned to host CPU 0), on a real-mode machine (addresses are real
 * pointers, backed by memfd pages through kmm's page tables) against the
 * baseline mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE) + munmap() of
 * the same size, in the same run:
 *
 *   fix_size     vmalloc(1 page), vfree(), repeated.
 *   random_size  vmalloc(n pages), vfree(), n uniform in 1..100 from a
 *                seeded generator (kmm and the baseline get the same
 *                sequence of sizes).
 *   +touch       the same, writing one byte to every page between the
 *                allocation and the free.  mmap's MAP_POPULATE has faulted
 *                the pages in already; kmm's pages are memfd pages mapped
 *                MAP_SHARED without populating, so the host faults each one
 *                in through the new mapping on first touch (the faults/op
 *                column counts them).
 *   long_busy    a list of N 1-page areas is allocated and kept busy
 *                ("list alloc" row), fix_size pairs run on top of it
 *                ("pair" row), then the list is freed ("list free" row).
 *                The kernel's test keeps a long list busy the same way;
 *                here N is 100,000 where the host allows it: in real mode
 *                every busy 1-page area costs two host mappings (the page,
 *                and the PROT_NONE piece its guard page splits off the
 *                reservation), lazily freed areas keep theirs until the
 *                purge, and vm.max_map_count (65530 by default) bounds
 *                them all, so N is cut to fit and the header says so.  The
 *                baseline keeps a list of the same N mappings (the host
 *                merges adjacent anonymous mappings, so it needs few).
 * The same shapes run again on a shadow-mode machine (kmm's bookkeeping
 * alone, no host memory; kmm rows only, no touch variants).
 *
 * Part 2 (shadow mode, "kmm.mode=shadow mem=8G vmalloc=32T nr_cpus=2"):
 * the cost of one get_vm_area(1 page) + free_vm_area() with 1,000 and with
 * 1,000,000 live 1-page areas, and with 1,000,000 built of which every
 * other one was then freed (~500,000 live areas, ~500,000 free holes in
 * the free tree, after a purge with full pool decay).  Three variants:
 * full-range get_vm_area (the path of every vmalloc: the per-node pools
 * once they are populated), get_vm_area restricted to [VMALLOC_START,
 * VMALLOC_END - PAGE_SIZE] (never pooled: the augmented free tree alone),
 * and vmalloc(1 page) + vfree().
 *
 * Lazy freeing
 * ------------
 * vfree() only clears the PTEs; the host unmaps happen in batches when
 * lazily freed pages exceed lazy_max_pages (fls(nr_cpus) * 8192 pages).
 * Every kmm slice therefore ends with a timed kmm_vm_unmap_aliases(): the
 * slice starts and ends with nothing lazy, and its mean contains the host
 * unmaps of every area it freed (the purges it triggered itself, and the
 * final one, which is added to the slice's time but is no sample).  A
 * slice of pairs also runs on past its time budget until it has seen one
 * natural purge (not with --quick; at most 20 budgets), so that purges
 * show in the percentiles and max of every shape.  The purge table counts
 * the natural purges (seen through the purge tracepoint), the ops that
 * ran one, and their cost.
 *
 * How time is measured
 * --------------------
 * The clock is the TSC read as lfence; rdtsc; lfence (clock_gettime
 * CLOCK_MONOTONIC on other architectures), calibrated against
 * CLOCK_MONOTONIC at start, as in bench_page_alloc.c.  Unlike there,
 * every operation (an alloc+free pair, or one alloc / one free of a busy
 * list) is timed on its own: operations cost 0.1 us to 1 ms, so the clock
 * pair (its median cost, ~20 ns, is subtracted) is noise, and every purge
 * lands in the percentiles.  A measurement is split into slices (5; 3
 * with --quick) that alternate kmm and the baseline (kmm, mmap, kmm, ...);
 * the baseline slice repeats the kmm slice's number of operations with
 * the same sizes.  ns/op is the best slice's mean (the median slice's is
 * in the CSV), p50/p99/p99.9/max pool all slices.  A warm-up comes first:
 * kmm until two purges have run (metadata caches grown, pools populated;
 * --quick: a tenth of a slice), the baseline for as many ops (at most a
 * tenth of a measurement).
 *
 * Nothing here asserts a timing; the run fails only when the benchmark
 * cannot work (boot, an allocation fails, validation or the leak check
 * afterwards).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kmm/kmm.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#include "bench.h"
#include "bench_common.h"

#define REAL_BOOT "mem=1G"
#define SHADOW_BOOT "kmm.mode=shadow mem=8G vmalloc=32T nr_cpus=2"
#define SLICES 5
#define QUICK_SLICES 3
#define DEFAULT_SECONDS 0.5	/* kmm's time per measurement */
#define QUICK_SECONDS 0.03
#define DEFAULT_MAX_OPS 1000000UL	/* kmm ops per measurement */
#define QUICK_MAX_OPS 100000UL
#define MAX_OPS_LIMIT 20000000UL
#define RANDOM_MAX_PAGES 100
#define BUSY_WANT 100000UL	/* long_busy list length wanted */
#define QUICK_BUSY 2000UL
#define BUSY_MIN 1000UL
#define MAP_MARGIN 2048UL	/* host mappings kept spare */
#define SCALE_SMALL 1000UL
#define SCALE_BIG 1000000UL
#define SEED 0x9e3779b97f4a7c15ULL
#define NSERIES 6		/* sample buffers live at once */

enum impl { IMPL_KMM, IMPL_MMAP };

/* Part 2 variants. */
enum variant { V_POOL, V_TREE, V_VMALLOC, NR_VARIANTS };

static const char *const variant_names[NR_VARIANTS] = {
	"get_vm_area",		/* + free_vm_area, full range: pools */
	"get_vm_area tree",	/* restricted range: the free tree only */
	"vmalloc",		/* + vfree */
};

/* Part 2 layouts. */
enum layout { L_SMALL, L_BIG, L_FRAG, NR_LAYOUTS };

/* ---- host ----------------------------------------------------------------- */

static long read_long_file(const char *path, long dflt)
{
	FILE *f = fopen(path, "re");
	long v;

	if (!f)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* Host mappings of this process now (lines of /proc/self/maps). */
static long host_maps_now(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

/* ---- the purge tracepoint ------------------------------------------------- */

/* Written by the benchmark thread only (purges run in the thread that
 * crosses lazy_max_pages or calls vm_unmap_aliases). */
static struct {
	unsigned long purges, areas;
} tr;

static void on_purge(void *arg, unsigned long start, unsigned long end,
		     unsigned long npurged)
{
	(void)arg;
	(void)start;
	(void)end;
	tr.purges++;
	tr.areas += npurged;
}

/* ---- series of samples ------------------------------------------------------ */

/* The timings of one row while it is measured. */
struct series {
	uint32_t *s;		/* per-op ticks, all slices */
	size_t n, cap;
	uint64_t max;		/* also past cap */
	uint64_t sl_ticks, sl_ops;	/* this slice */
	double sl_ns[SLICES];	/* mean of each finished slice */
	unsigned nsl;
	uint64_t ticks, ops;	/* all slices */
	uint64_t faults;
	uint64_t host_maps, host_unmaps;
	/* natural purges: ops during which one ran */
	uint64_t purge_ops, purge_ticks, purge_max, purged_areas, purges;
	/* the purge at each kmm slice's end */
	uint64_t forced, forced_ticks, forced_max, forced_areas;
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

/* One op of @se ran @npurges natural purges of @areas areas. */
static inline void se_purge(struct series *se, uint64_t t, unsigned long npurges,
			    unsigned long areas)
{
	se->purge_ops++;
	se->purges += npurges;
	se->purge_ticks += t;
	if (t > se->purge_max)
		se->purge_max = t;
	se->purged_areas += areas;
}

static void se_slice_end(struct series *se)
{
	if (se->sl_ops && se->nsl < SLICES)
		se->sl_ns[se->nsl++] = bench_ticks_to_ns((double)se->sl_ticks) / (double)se->sl_ops;
	se->ticks += se->sl_ticks;
	se->ops += se->sl_ops;
	se->sl_ticks = se->sl_ops = 0;
}

/* A timed kmm_vm_unmap_aliases(), added to the slice's time. */
static void se_forced_purge(struct series *se)
{
	unsigned long a0 = tr.areas;
	uint64_t t0, t1, d;

	t0 = bench_tick();
	kmm_vm_unmap_aliases();
	t1 = bench_tick();
	d = bench_elapsed_ticks(t0, t1);
	se->sl_ticks += d;
	se->forced++;
	se->forced_ticks += d;
	if (d > se->forced_max)
		se->forced_max = d;
	se->forced_areas += tr.areas - a0;
}

/* ---- results ------------------------------------------------------------- */

struct row {
	char op[64];
	const char *mode;	/* "real", "strict", "shadow" */
	int part;		/* 1: shapes; 2: live-area scaling; 3: setup rows */
	enum impl impl;
	int base;		/* index of the baseline row, -1: none */
	double ns, ns_med;	/* best / median slice mean */
	double p50, p99, p999, max;
	uint64_t ops, samples;
	double faults_per_op, maps_per_op, unmaps_per_op;
	uint64_t purges, purge_ops, purged_areas;
	double purge_mean, purge_max, purge_share;
	uint64_t forced, forced_areas;
	double forced_mean, forced_max;
	double nonpurge_mean;	/* mean of the ops that ran no purge */
	int layout, variant;	/* part 2 */
};

struct vb {
	FILE *out;
	bool quick, csv;
	unsigned slices;
	double seconds;
	unsigned long max_ops;
	size_t cap;		/* samples per series */
	struct series se[NSERIES];
	uint32_t *tmp;		/* radix sort scratch, cap */
	void **list;		/* busy list / live areas */
	size_t list_cap;
	struct row *rows;
	size_t nrows, rows_cap;
	/* the machines */
	char real_line[512], shadow_line[512];
	char real_boot[256];
	const char *shadow_boot;
	unsigned long busy_real, busy_shadow;
	char busy_note[256];
	unsigned long lazy_max_real, lazy_max_shadow;
	bool ran_real, ran_shadow;
	bool part1_shadow;	/* --boot asked for a shadow machine */
	unsigned long scale_big;
	unsigned long min_purges;	/* natural purges per kmm pair slice */
	/* part 2 notes */
	char scale_note[NR_LAYOUTS][256];
	char layout_name[NR_LAYOUTS][32];
	int err;
};

static struct series *se_get(struct vb *b, int i)
{
	struct series *se = &b->se[i];
	uint32_t *s = se->s;

	memset(se, 0, sizeof(*se));
	se->s = s;
	se->cap = b->cap;
	return se;
}

/* A new zeroed row with no baseline; returns its index or -1. */
static int add_row(struct vb *b)
{
	struct row *r = bench_array_push((void **)&b->rows, &b->nrows,
					 &b->rows_cap, sizeof(b->rows[0]));

	if (!r)
		return -1;
	r->base = -1;
	return (int)(r - b->rows);
}

/* Fold a finished series into a new row; returns its index or -1. */
static int finish(struct vb *b, struct series *se, const char *op, int part,
		  enum impl impl)
{
	int i = add_row(b);
	struct row *r;
	double sl[SLICES];

	if (i < 0)
		return -1;
	r = &b->rows[i];
	snprintf(r->op, sizeof(r->op), "%s", op);
	r->mode = bench_kmm_mode_name();
	r->part = part;
	r->impl = impl;
	memcpy(sl, se->sl_ns, sizeof(sl));
	qsort(sl, se->nsl, sizeof(sl[0]), bench_cmp_double);
	r->ns = se->nsl ? sl[0] : 0;
	r->ns_med = se->nsl ? sl[se->nsl / 2] : 0;
	bench_radix_sort_u32(se->s, b->tmp, se->n);
	r->samples = se->n;
	r->p50 = bench_percentile_ns(se->s, se->n, 0.50);
	r->p99 = bench_percentile_ns(se->s, se->n, 0.99);
	r->p999 = bench_percentile_ns(se->s, se->n, 0.999);
	r->max = bench_ticks_to_ns((double)se->max);
	r->ops = se->ops;
	if (se->ops) {
		r->faults_per_op = (double)se->faults / (double)se->ops;
		r->maps_per_op = (double)se->host_maps / (double)se->ops;
		r->unmaps_per_op = (double)se->host_unmaps / (double)se->ops;
	}
	r->purges = se->purges;
	r->purge_ops = se->purge_ops;
	r->purged_areas = se->purged_areas;
	if (se->purge_ops)
		r->purge_mean = bench_ticks_to_ns((double)se->purge_ticks) / (double)se->purge_ops;
	r->purge_max = bench_ticks_to_ns((double)se->purge_max);
	if (se->ticks)
		r->purge_share = (double)(se->purge_ticks + se->forced_ticks) /
				 (double)se->ticks;
	r->forced = se->forced;
	r->forced_areas = se->forced_areas;
	if (se->forced)
		r->forced_mean = bench_ticks_to_ns((double)se->forced_ticks) / (double)se->forced;
	r->forced_max = bench_ticks_to_ns((double)se->forced_max);
	if (se->ops > se->purge_ops) {
		uint64_t t = se->ticks - se->forced_ticks - se->purge_ticks;

		r->nonpurge_mean = bench_ticks_to_ns((double)t) / (double)(se->ops - se->purge_ops);
	}
	return i;
}

/* ---- the operations ----------------------------------------------------- */

static inline uint64_t rng_next(uint64_t *x)
{
	/* xorshift64* */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

static inline __attribute__((always_inline)) void *op_alloc(enum impl impl,
							    size_t bytes)
{
	void *p;

	if (impl == IMPL_KMM) {
		p = kmm_vmalloc(bytes);
	} else {
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static inline __attribute__((always_inline)) void op_free(enum impl impl, void *p,
							  size_t bytes)
{
	if (impl == IMPL_KMM)
		kmm_vfree(p);
	else
		munmap(p, bytes);
}

static inline __attribute__((always_inline)) void op_touch(void *p, unsigned pages)
{
	volatile char *a = p;
	unsigned i;

	for (i = 0; i < pages; i++)
		a[(size_t)i * KMM_PAGE_SIZE] = (char)i;
}

struct counters {
	uint64_t faults, maps, unmaps;
};

static void counters_read(struct counters *c)
{
	c->faults = bench_thread_minflt();
	c->maps = atomic_load(&kmm_init_mm.nr_host_maps);
	c->unmaps = atomic_load(&kmm_init_mm.nr_host_unmaps);
}

static void counters_add(struct series *se, const struct counters *c0)
{
	struct counters c1;

	counters_read(&c1);
	se->faults += c1.faults - c0->faults;
	se->host_maps += c1.maps - c0->maps;
	se->host_unmaps += c1.unmaps - c0->unmaps;
}

/*
 * Alloc+free pairs: at most @max_ops, until @budget ticks have passed and
 * at least @min_purges natural purges have run (then at most 20 budgets).
 * Returns 0 or -1 (an allocation failed); *@done: pairs made.
 */
static inline __attribute__((always_inline)) int
pairs_loop(enum impl impl, struct series *se, bool random, bool touch,
	   unsigned long max_ops, uint64_t budget, unsigned long min_purges,
	   uint64_t seed, unsigned long *done)
{
	uint64_t rng = seed, start = bench_tick(), end = start + budget, t0, t1, d;
	uint64_t hard_end = budget < UINT64_MAX / 64 ? start + 20 * budget : end;
	unsigned long i, pstart = tr.purges;
	int ret = 0;

	for (i = 0; i < max_ops;) {
		unsigned pages = random ? 1 + (unsigned)(rng_next(&rng) % RANDOM_MAX_PAGES) : 1;
		size_t bytes = (size_t)pages * KMM_PAGE_SIZE;
		unsigned long p0 = tr.purges, a0 = tr.areas;
		void *p;

		t0 = bench_tick();
		p = op_alloc(impl, bytes);
		if (__builtin_expect(!p, 0)) {
			ret = -1;
			break;
		}
		if (touch)
			op_touch(p, pages);
		op_free(impl, p, bytes);
		t1 = bench_tick();
		d = bench_elapsed_ticks(t0, t1);
		se_add(se, d);
		if (tr.purges != p0)
			se_purge(se, d, tr.purges - p0, tr.areas - a0);
		i++;
		if (t1 >= end && (tr.purges - pstart >= min_purges || t1 >= hard_end))
			break;
	}
	*done = i;
	return ret;
}

static __attribute__((noinline)) int pairs_kmm(struct series *se, bool random,
					       bool touch, unsigned long max_ops,
					       uint64_t budget, unsigned long min_purges,
					       uint64_t seed, unsigned long *done)
{
	return pairs_loop(IMPL_KMM, se, random, touch, max_ops, budget, min_purges,
			  seed, done);
}

static __attribute__((noinline)) int pairs_mmap(struct series *se, bool random,
						bool touch, unsigned long max_ops,
						uint64_t budget, uint64_t seed,
						unsigned long *done)
{
	return pairs_loop(IMPL_MMAP, se, random, touch, max_ops, budget, 0, seed,
			  done);
}

/* kmm: budget and (full mode) one natural purge; mmap: @max_ops exactly. */
static int pairs(enum impl impl, struct series *se, bool random, bool touch,
		 unsigned long max_ops, uint64_t budget, unsigned long min_purges,
		 uint64_t seed, unsigned long *done)
{
	return impl == IMPL_KMM
		       ? pairs_kmm(se, random, touch, max_ops, budget, min_purges,
				   seed, done)
		       : pairs_mmap(se, random, touch, max_ops, UINT64_MAX / 4, seed,
				    done);
}

static uint64_t slice_budget(const struct vb *b)
{
	return bench_slice_budget_ticks(b->seconds, b->slices);
}

static int variant_loop(enum variant v, struct series *se, unsigned long max_ops,
			uint64_t budget);

/*
 * Warm up kmm (pairs of @random/@touch, or part 2 @variant when >= 0)
 * until two purges have run (the metadata caches have grown for a full
 * lazy list and the pools are populated) and a tenth of a slice's budget
 * has passed, or for at most WARM_MAX_S seconds.  *@done: ops made.
 */
#define WARM_CHUNK 256UL
#define WARM_MAX_S 1.0
static int warm_up(struct vb *b, enum impl impl, struct series *dummy, bool random,
		   bool touch, int variant, unsigned long *done)
{
	uint64_t start = bench_tick(), min = slice_budget(b) / 10;
	uint64_t max = (uint64_t)(WARM_MAX_S * 1e9 * bench_ticks_per_ns);
	unsigned long p0 = tr.purges, n, total = 0;
	unsigned long want = b->quick ? 0 : 2;	/* --quick: no time for it */
	int ret;

	do {
		if (variant >= 0) {
			ret = variant_loop((enum variant)variant, dummy, WARM_CHUNK, max);
			n = WARM_CHUNK;
		} else {
			ret = pairs(impl, dummy, random, touch, WARM_CHUNK, max, 0,
				    SEED + total, &n);
		}
		total += n;
		if (ret)
			break;
	} while ((tr.purges - p0 < want || bench_tick() - start < min) &&
		 bench_tick() - start < max);
	*done = total;
	return ret;
}

static void fail(struct vb *b, const char *what)
{
	fprintf(b->out, "bench: %s failed (%s mode)\n", what, bench_kmm_mode_name());
	b->err = -1;
}

/* ---- part 1: test_vmalloc shapes ----------------------------------------- */

static int measure_pairs(struct vb *b, const char *name, bool random, bool touch,
			 bool with_base)
{
	struct series *sk = se_get(b, 0), *sb = se_get(b, 1), *dummy = se_get(b, 2);
	uint64_t budget = slice_budget(b);
	unsigned long per = b->max_ops / b->slices, done, d2;
	struct counters c0;
	unsigned s;
	int rk, rb;

	dummy->cap = 0;
	/* Warm-up: pools, page tables, the per-CPU lists, metadata caches
	 * grown for a full lazy list; then nothing lazy. */
	if (warm_up(b, IMPL_KMM, dummy, random, touch, -1, &done))
		goto fail;
	kmm_vm_unmap_aliases();
	if (done > per / 10 + 1)
		done = per / 10 + 1;
	if (with_base && pairs(IMPL_MMAP, dummy, random, touch, done, 0, 0, SEED, &d2))
		goto fail;
	for (s = 0; s < b->slices; s++) {
		uint64_t seed = SEED + s + 1;

		counters_read(&c0);
		if (pairs(IMPL_KMM, sk, random, touch, per, budget, b->min_purges, seed,
			  &done))
			goto fail;
		se_forced_purge(sk);
		counters_add(sk, &c0);
		se_slice_end(sk);
		if (!with_base)
			continue;
		counters_read(&c0);
		if (pairs(IMPL_MMAP, sb, random, touch, done, 0, 0, seed, &d2))
			goto fail;
		counters_add(sb, &c0);
		se_slice_end(sb);
	}
	rk = finish(b, sk, name, 1, IMPL_KMM);
	if (rk < 0)
		return -1;
	if (with_base) {
		rb = finish(b, sb, name, 1, IMPL_MMAP);
		if (rb < 0)
			return -1;
		b->rows[rk].base = rb;
	}
	return 0;
fail:
	fail(b, name);
	kmm_vm_unmap_aliases();
	return -1;
}

/* One slice of long_busy for @impl: list alloc, pairs on top, list free. */
static int busy_slice(struct vb *b, enum impl impl, unsigned long n,
		      struct series *sa, struct series *sp, struct series *sf,
		      unsigned long *pairs_done, uint64_t seed)
{
	void **list = b->list;
	uint64_t t0, t1, d;
	struct counters c0;
	unsigned long i, got = 0;
	int ret = 0;

	counters_read(&c0);
	for (i = 0; i < n; i++) {
		unsigned long p0 = tr.purges, a0 = tr.areas;

		t0 = bench_tick();
		list[i] = op_alloc(impl, KMM_PAGE_SIZE);
		t1 = bench_tick();
		if (!list[i])
			break;
		d = bench_elapsed_ticks(t0, t1);
		se_add(sa, d);
		if (tr.purges != p0)
			se_purge(sa, d, tr.purges - p0, tr.areas - a0);
	}
	got = i;
	counters_add(sa, &c0);
	se_slice_end(sa);
	if (got < n) {
		ret = -1;
		goto free_list;
	}

	counters_read(&c0);
	if (impl == IMPL_KMM)
		ret = pairs(impl, sp, false, false, b->max_ops / b->slices,
			    slice_budget(b), b->min_purges, seed, pairs_done);
	else
		ret = pairs(impl, sp, false, false, *pairs_done, 0, 0, seed, &i);
	if (impl == IMPL_KMM)
		se_forced_purge(sp);
	counters_add(sp, &c0);
	se_slice_end(sp);

free_list:
	counters_read(&c0);
	for (i = 0; i < got; i++) {
		unsigned long p0 = tr.purges, a0 = tr.areas;

		t0 = bench_tick();
		op_free(impl, list[i], KMM_PAGE_SIZE);
		t1 = bench_tick();
		d = bench_elapsed_ticks(t0, t1);
		se_add(sf, d);
		if (tr.purges != p0)
			se_purge(sf, d, tr.purges - p0, tr.areas - a0);
	}
	if (impl == IMPL_KMM)
		se_forced_purge(sf);
	counters_add(sf, &c0);
	se_slice_end(sf);
	return ret;
}

static int measure_busy(struct vb *b, unsigned long n, bool with_base)
{
	struct series *ka = se_get(b, 0), *kp = se_get(b, 1), *kf = se_get(b, 2);
	struct series *ba = se_get(b, 3), *bp = se_get(b, 4), *bf = se_get(b, 5);
	char name[3][64];
	unsigned long done = 0;
	unsigned s;
	int r[6], i;

	if (n > b->list_cap)
		n = b->list_cap;
	snprintf(name[0], sizeof(name[0]), "long_busy %lu: list alloc", n);
	snprintf(name[1], sizeof(name[1]), "long_busy %lu: pair on it", n);
	snprintf(name[2], sizeof(name[2]), "long_busy %lu: list free", n);
	kmm_vm_unmap_aliases();
	for (s = 0; s < b->slices; s++) {
		if (busy_slice(b, IMPL_KMM, n, ka, kp, kf, &done, SEED + s + 1)) {
			fail(b, "long_busy (kmm)");
			return -1;
		}
		if (with_base &&
		    busy_slice(b, IMPL_MMAP, n, ba, bp, bf, &done, SEED + s + 1)) {
			fail(b, "long_busy (mmap)");
			return -1;
		}
	}
	for (i = 0; i < 3; i++) {
		r[i] = finish(b, &b->se[i], name[i], 1, IMPL_KMM);
		if (r[i] < 0)
			return -1;
	}
	if (!with_base)
		return 0;
	for (i = 0; i < 3; i++) {
		r[3 + i] = finish(b, &b->se[3 + i], name[i], 1, IMPL_MMAP);
		if (r[3 + i] < 0)
			return -1;
		b->rows[r[i]].base = r[3 + i];
	}
	return 0;
}

/*
 * How many 1-page areas the real-mode busy list may hold: two host
 * mappings each, plus lazy_max_pages for areas waiting for their purge
 * (a lazily freed 1-page area keeps its page mapped and its split), plus
 * what the process has and a margin, within vm.max_map_count.
 */
static unsigned long busy_fit(struct vb *b, unsigned long want, unsigned long lazy_max)
{
	long max_map = read_long_file("/proc/sys/vm/max_map_count", 65530);
	long now = host_maps_now();
	long room = max_map - (now > 0 ? now : 100) - (long)lazy_max - (long)MAP_MARGIN;
	unsigned long fit = room > 0 ? (unsigned long)room / 2 : 0;

	if (fit >= want) {
		snprintf(b->busy_note, sizeof(b->busy_note),
			 "long_busy list: %lu areas (vm.max_map_count %ld is enough)",
			 want, max_map);
		return want;
	}
	fit = fit / 1000 * 1000;
	if (fit < BUSY_MIN)
		fit = BUSY_MIN;
	snprintf(b->busy_note, sizeof(b->busy_note),
		 "long_busy list: %lu areas, not %lu: vm.max_map_count %ld, 2 host mappings per busy\n"
		 "        1-page area, %lu for lazy areas; the baseline keeps %lu mappings too",
		 fit, want, max_map, lazy_max, fit);
	return fit;
}

static int run_shapes(struct vb *b, bool shadow)
{
	unsigned long n;

	if (measure_pairs(b, "fix_size 1p", false, false, !shadow))
		return -1;
	if (!shadow && measure_pairs(b, "fix_size 1p +touch", false, true, true))
		return -1;
	if (measure_pairs(b, "random_size 1..100p", true, false, !shadow))
		return -1;
	if (!shadow && measure_pairs(b, "random_size 1..100p +touch", true, true, true))
		return -1;
	n = shadow ? b->busy_shadow : b->busy_real;
	return measure_busy(b, n, !shadow);
}

/* ---- part 2: one alloc+free among many live areas ----------------------- */

static inline __attribute__((always_inline)) int variant_pair(enum variant v)
{
	struct kmm_vm_struct *a;
	void *p;

	switch (v) {
	case V_POOL:
		a = kmm_get_vm_area(KMM_PAGE_SIZE, KMM_VM_MAP);
		if (!a)
			return -1;
		kmm_free_vm_area(a);
		return 0;
	case V_TREE:
		a = kmm___get_vm_area(KMM_PAGE_SIZE, KMM_VM_MAP, kmm_vmalloc_start(),
				      kmm_vmalloc_end() - KMM_PAGE_SIZE);
		if (!a)
			return -1;
		kmm_free_vm_area(a);
		return 0;
	default:
		p = kmm_vmalloc(KMM_PAGE_SIZE);
		if (!p)
			return -1;
		kmm_vfree(p);
		return 0;
	}
}

static int variant_loop(enum variant v, struct series *se, unsigned long max_ops,
			uint64_t budget)
{
	uint64_t end = bench_tick() + budget, t0, t1 = 0, d;
	unsigned long i;

	for (i = 0; i < max_ops; i++) {
		unsigned long p0 = tr.purges, a0 = tr.areas;

		t0 = bench_tick();
		if (variant_pair(v))
			return -1;
		t1 = bench_tick();
		d = bench_elapsed_ticks(t0, t1);
		se_add(se, d);
		if (tr.purges != p0)
			se_purge(se, d, tr.purges - p0, tr.areas - a0);
		if (t1 >= end)
			break;
	}
	return 0;
}

/* Free every live area of the list, then purge everything into the tree. */
static void scale_teardown(struct vb *b, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		if (b->list[i]) {
			kmm_free_vm_area(b->list[i]);
			b->list[i] = NULL;
		}
	kmm__purge_vmap_area_lazy(~0UL, 0, true);
}

/* "1K", "1M", "20K", or the number. */
static const char *fmt_count(char *buf, size_t len, unsigned long n)
{
	if (n >= 1000000 && n % 1000000 == 0)
		snprintf(buf, len, "%luM", n / 1000000);
	else if (n >= 1000 && n % 1000 == 0)
		snprintf(buf, len, "%luK", n / 1000);
	else
		snprintf(buf, len, "%lu", n);
	return buf;
}

static int measure_scale(struct vb *b, unsigned long n, enum layout lay)
{
	struct series *sb = se_get(b, 0), *sf = se_get(b, 1), *dummy = se_get(b, 2);
	struct series *sv[NR_VARIANTS];
	struct kmm_vmalloc_stats st;
	struct counters c0[NR_VARIANTS];
	char name[96], cnt[24], lname[32];
	uint64_t budget = slice_budget(b), t0, t1;
	unsigned long i, per = b->max_ops / b->slices;
	bool fragment = lay == L_FRAG;
	unsigned s;
	int v, r;

	if (n > b->list_cap)
		return -1;
	dummy->cap = 0;
	fmt_count(cnt, sizeof(cnt), n);
	snprintf(lname, sizeof(lname), fragment ? "%s half freed" : "%s live", cnt);
	memcpy(b->layout_name[lay], lname, sizeof(lname));
	/* Start from nothing lazy or pooled: one free tree. */
	kmm__purge_vmap_area_lazy(~0UL, 0, true);
	/* Build the layout. */
	for (i = 0; i < n; i++) {
		t0 = bench_tick();
		b->list[i] = kmm_get_vm_area(KMM_PAGE_SIZE, KMM_VM_MAP);
		t1 = bench_tick();
		if (!b->list[i]) {
			scale_teardown(b, i);
			fail(b, "get_vm_area (building the live areas)");
			return -1;
		}
		se_add(sb, bench_elapsed_ticks(t0, t1));
	}
	se_slice_end(sb);
	if (fragment) {
		for (i = 1; i < n; i += 2) {
			unsigned long p0 = tr.purges, a0 = tr.areas;
			uint64_t d;

			t0 = bench_tick();
			kmm_free_vm_area(b->list[i]);
			t1 = bench_tick();
			b->list[i] = NULL;
			d = bench_elapsed_ticks(t0, t1);
			se_add(sf, d);
			if (tr.purges != p0)
				se_purge(sf, d, tr.purges - p0, tr.areas - a0);
		}
		/* Everything lazy and pooled to the free tree: the holes. */
		{
			unsigned long a0 = tr.areas;

			t0 = bench_tick();
			kmm__purge_vmap_area_lazy(~0UL, 0, true);
			t1 = bench_tick();
			sf->forced++;
			sf->forced_max = bench_elapsed_ticks(t0, t1);
			sf->forced_areas = tr.areas - a0;
		}
		se_slice_end(sf);
	}
	kmm_vmalloc_get_stats(&st);
	snprintf(b->scale_note[lay], sizeof(b->scale_note[lay]),
		 "%-14s busy %lu, free-tree blocks %lu, pooled %lu, lazy %lu",
		 lname, st.nr_busy, st.nr_free_areas, st.nr_pooled,
		 st.nr_lazy);
	snprintf(name, sizeof(name), "build %s: get_vm_area%s", cnt,
		 fragment ? " (again)" : "");
	r = finish(b, sb, name, 3, IMPL_KMM);
	if (r < 0)
		return -1;
	b->rows[r].layout = lay;
	if (fragment) {
		snprintf(name, sizeof(name), "%s half freed: free every other", cnt);
		r = finish(b, sf, name, 3, IMPL_KMM);
		if (r < 0)
			return -1;
		b->rows[r].layout = lay;
	}

	for (v = 0; v < NR_VARIANTS; v++) {
		sv[v] = se_get(b, 3 + v);
		if (warm_up(b, IMPL_KMM, dummy, false, false, v, &i))
			goto fail;
		kmm_vm_unmap_aliases();
	}
	for (s = 0; s < b->slices; s++)
		for (v = 0; v < NR_VARIANTS; v++) {
			counters_read(&c0[v]);
			if (variant_loop((enum variant)v, sv[v], per, budget))
				goto fail;
			se_forced_purge(sv[v]);
			counters_add(sv[v], &c0[v]);
			se_slice_end(sv[v]);
		}
	for (v = 0; v < NR_VARIANTS; v++) {
		snprintf(name, sizeof(name), "%s: %s", lname, variant_names[v]);
		r = finish(b, sv[v], name, 2, IMPL_KMM);
		if (r < 0)
			return -1;
		b->rows[r].layout = lay;
		b->rows[r].variant = v;
	}
	scale_teardown(b, n);
	return 0;
fail:
	fail(b, "part 2 alloc+free");
	kmm_vm_unmap_aliases();
	scale_teardown(b, n);
	return -1;
}

/* ---- boot, check ------------------------------------------------------------ */

static const struct kmm_vmap_trace_ops trace_ops = {
	.purge_vmap_area_lazy = on_purge,
};

/*
 * After a machine's measurements: nothing left busy, lazy or leaked.  The
 * kernel page tables built for vmalloc space stay (as in the kernel): the
 * free pages must come back but for the table pages added meanwhile.
 */
static int check_machine(uint64_t free0, long pt0, char *line, size_t len)
{
	struct kmm_vmalloc_stats st;
	uint64_t free1;
	long pt1;
	bool leak;
	int err;

	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	free1 = kmm_nr_free_pages();
	pt1 = atomic_load(&kmm_init_mm.pgtables_pages);
	leak = (int64_t)(free0 - free1) != (int64_t)(pt1 - pt0);
	kmm_vmalloc_get_stats(&st);
	err = kmm_vmalloc_validate();
	snprintf(line, len,
		 "%s: vmalloc validate %s; busy %lu, lazy %lu, vmalloc pages %lu; free pages %llu -> %llu,\n"
		 "        page-table pages %ld -> %ld%s; purges %lu",
		 bench_kmm_mode_name(), err ? "FAILED" : "ok", st.nr_busy, st.nr_lazy,
		 st.vmalloc_used_pages, (unsigned long long)free0,
		 (unsigned long long)free1, pt0, pt1, leak ? " (LEAK)" : " (no leak)",
		 st.nr_purges);
	return err || leak || st.nr_busy || st.vmalloc_used_pages ? -1 : 0;
}

static void machine_line(char *buf, size_t len, const char *boot)
{
	struct kmm_vmalloc_stats st;

	kmm_vmalloc_get_stats(&st);
	snprintf(buf, len,
		 "boot \"%s\": mode %s, %u CPUs, %llu MiB, vmalloc %llu GiB; %lu vmap nodes, lazy_max_pages %lu",
		 boot, bench_kmm_mode_name(), kmm_machine.nr_cpus,
		 (unsigned long long)(kmm_machine.totalram_pages * KMM_PAGE_SIZE >> 20),
		 (unsigned long long)((kmm_machine.vmalloc_end - kmm_machine.vmalloc_start) >> 30),
		 st.nr_vmap_nodes, st.lazy_max_pages);
}

/* Run @fn on a machine booted with @boot (or on the one already booted). */
static int on_machine(struct vb *b, const char *boot, char *line, size_t llen,
		      char *check, size_t clen, int (*fn)(struct vb *, bool))
{
	bool booted_here;
	uint64_t free0;
	long pt0;
	int ret, c;

	if (bench_boot_unless_booted(b->out, boot, &booted_here))
		return -1;
	kmm_bind_cpu(0);
	machine_line(line, llen, booted_here ? boot : "(already booted)");
	fprintf(b->out, "kmm:    %s\n", line);
	fflush(b->out);
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	pt0 = atomic_load(&kmm_init_mm.pgtables_pages);
	kmm_vmap_set_trace(&trace_ops);
	ret = fn(b, kmm_machine.params.mode == KMM_MODE_SHADOW);
	kmm_vmap_set_trace(NULL);
	c = check_machine(free0, pt0, check, clen);
	if (c)
		ret = -1;
	if (booted_here)
		kmm_shutdown();
	return ret;
}

static int real_part(struct vb *b, bool shadow)
{
	struct kmm_vmalloc_stats st;

	kmm_vmalloc_get_stats(&st);
	b->lazy_max_real = st.lazy_max_pages;
	if (shadow) {
		snprintf(b->busy_note, sizeof(b->busy_note),
			 "long_busy list: %lu areas (shadow mode: no host mappings)",
			 b->busy_real);
	} else {
		b->busy_real = busy_fit(b, b->busy_real, st.lazy_max_pages);
	}
	fprintf(b->out, "        %s\n", b->busy_note);
	fflush(b->out);
	b->ran_real = true;
	b->part1_shadow = shadow;
	return run_shapes(b, shadow);
}

static int shadow_part(struct vb *b, bool shadow)
{
	struct kmm_vmalloc_stats st;
	int ret;

	if (!shadow) {
		fprintf(b->out, "bench: the shadow part needs a shadow-mode machine\n");
		return -1;
	}
	kmm_vmalloc_get_stats(&st);
	b->lazy_max_shadow = st.lazy_max_pages;
	b->ran_shadow = true;
	/* Part 1 ran on a shadow machine already (--boot): no need twice. */
	ret = b->part1_shadow ? 0 : run_shapes(b, true);
	if (!ret)
		ret = measure_scale(b, SCALE_SMALL, L_SMALL);
	if (!ret)
		ret = measure_scale(b, b->scale_big, L_BIG);
	if (!ret)
		ret = measure_scale(b, b->scale_big, L_FRAG);
	return ret;
}

/* ---- output --------------------------------------------------------------- */

static void print_shapes(struct vb *b)
{
	char a[16], c[16], d[16], e[16], f[16], g[16], rs[16];
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\n1. test_vmalloc shapes, 1 thread: kmm vmalloc()+vfree() against\n"
		   "   mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE)+munmap() of the same size\n");
	fprintf(o, "%-30s %-6s %8s %8s %8s %8s %8s %8s %8s %8s\n", "operation", "mode",
		"kmm", "mmap", "ratio", "kmm p50", "kmm p99", "p99.9", "max", "faults");
	fprintf(o, "%-30s %-6s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "", "ns/op",
		"ns/op", "base/kmm", "ns", "ns", "ns", "ns", "/op");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i], *base;

		if (r->part != 1 || r->impl != IMPL_KMM)
			continue;
		base = r->base >= 0 ? &b->rows[r->base] : NULL;
		if (base)
			snprintf(rs, sizeof(rs), "%8.2f", bench_ratio(base->ns, r->ns));
		else
			snprintf(rs, sizeof(rs), "%8s", "-");
		fprintf(o, "%-30s %-6s %s %s %s %s %s %s %s %8.2f\n", r->op, r->mode,
			bench_fmt_ns(a, r->ns), bench_fmt_ns(g, base ? base->ns : 0), rs,
			bench_fmt_ns(c, r->p50), bench_fmt_ns(d, r->p99), bench_fmt_ns(e, r->p999),
			bench_fmt_ns(f, r->max), r->faults_per_op);
	}
	fprintf(o, "faults: host page faults per op.  +touch writes a byte per page: kmm maps\n"
		   "memfd pages MAP_SHARED without populating, so the host faults every page in\n"
		   "on its first touch through a new mapping (kmm faults/op = pages/op); the\n"
		   "baseline's MAP_POPULATE faulted its pages in inside mmap() (counted there).\n"
		   "max: the worst op, a purge (see the purge table) or the host preempting us.\n");
}

/*
 * The headline rows of print_shapes() for kmm_bench_run()'s summary: every
 * part 1 kmm row that has its mmap baseline (the very ns/op figures of
 * that table).
 */
static void summarize(const struct vb *b)
{
	char op[80];
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 1 || r->impl != IMPL_KMM || r->base < 0)
			continue;
		if (strcmp(r->mode, "real"))
			snprintf(op, sizeof(op), "%s (%s)", r->op, r->mode);
		else
			snprintf(op, sizeof(op), "%s", r->op);
		bench_summary_add("vmalloc", op, r->ns, b->rows[r->base].ns, "ns/op",
				  "mmap(MAP_POPULATE)", BENCH_RATIO_BASE_OVER_KMM);
	}
}

static void print_baselines(struct vb *b)
{
	char a[16], c[16], d[16], e[16], f[16];
	FILE *o = b->out;
	bool any = false;
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 1 || r->impl != IMPL_MMAP)
			continue;
		if (!any)
			fprintf(o, "\nBaseline latencies, mmap(MAP_POPULATE)+munmap (same method; faults: host page\n"
				   "faults per op):\n%-30s %-6s %8s %8s %8s %8s %8s %8s\n",
				"operation", "mode", "ns/op", "p50", "p99", "p99.9", "max", "faults");
		any = true;
		fprintf(o, "%-30s %-6s %s %s %s %s %s %8.2f\n", r->op, r->mode,
			bench_fmt_ns(a, r->ns), bench_fmt_ns(c, r->p50), bench_fmt_ns(d, r->p99),
			bench_fmt_ns(e, r->p999), bench_fmt_ns(f, r->max), r->faults_per_op);
	}
}

static void print_purges(struct vb *b)
{
	char a[16], c[16], d[16], e[16];
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\nkmm lazy purges (lazy_max_pages: real %lu, shadow %lu). natural: purges run\n"
		   "inside a measured op (the vfree that crossed lazy_max_pages); areas/purge; that\n"
		   "op's mean and max; end: the kmm_vm_unmap_aliases() closing each slice (in the\n"
		   "mean, not a sample); share: both kinds' part of the total time; other ops: mean\n"
		   "of the ops that ran no purge; host map and unmap calls per op:\n",
		b->lazy_max_real, b->lazy_max_shadow);
	fprintf(o, "%-32s %-6s %8s %7s %7s %8s %8s %6s %8s %6s %8s %6s %6s\n",
		"operation", "mode", "ops", "natural", "areas/", "purge op", "purge op",
		"end", "end", "share", "other", "maps", "unmaps");
	fprintf(o, "%-32s %-6s %8s %7s %7s %8s %8s %6s %8s %6s %8s %6s %6s\n", "", "",
		"", "purges", "purge", "mean ns", "max ns", "purges", "mean ns", "",
		"ops ns", "/op", "/op");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->impl != IMPL_KMM || r->part == 3)
			continue;
		fprintf(o, "%-32.32s %-6s %8llu %7llu %7.0f %s %s %6llu %s %5.1f%% %s %6.2f %6.2f\n",
			r->op, r->mode, (unsigned long long)r->ops,
			(unsigned long long)r->purges,
			r->purges ? (double)r->purged_areas / (double)r->purges : 0.0,
			bench_fmt_ns(a, r->purge_mean), bench_fmt_ns(c, r->purge_max),
			(unsigned long long)r->forced, bench_fmt_ns(d, r->forced_mean),
			100 * r->purge_share, bench_fmt_ns(e, r->nonpurge_mean),
			r->maps_per_op, r->unmaps_per_op);
	}
}

static const struct row *find_scale(const struct vb *b, enum layout lay,
				    enum variant v)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part == 2 && r->layout == (int)lay && r->variant == (int)v)
			return r;
	}
	return NULL;
}

static void print_scale(struct vb *b)
{
	char a[16], c[16], d[16], e[16], f[16];
	FILE *o = b->out;
	size_t i;
	int v;

	if (!b->ran_shadow)
		return;
	fprintf(o, "\n2. One alloc+free of 1 page among many live 1-page areas (shadow mode, kmm\n"
		   "   only; each slice ends with a timed purge, in the mean).  get_vm_area: full\n"
		   "   range + free_vm_area (the per-node pools once populated); get_vm_area tree:\n"
		   "   restricted to [VMALLOC_START, VMALLOC_END - PAGE_SIZE], never pooled: the\n"
		   "   free tree alone; vmalloc: vmalloc(4096) + vfree().  Layouts, when measured:\n");
	for (i = 0; i < NR_LAYOUTS; i++)
		if (b->scale_note[i][0])
			fprintf(o, "   %s\n", b->scale_note[i]);
	fprintf(o, "%-32s %8s %8s %8s %8s %8s %7s %7s\n", "layout: alloc+free", "ns/op",
		"p50", "p99", "p99.9", "max", "purges", "faults");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 2)
			continue;
		fprintf(o, "%-32s %s %s %s %s %s %7llu %7.4f\n", r->op, bench_fmt_ns(a, r->ns),
			bench_fmt_ns(c, r->p50), bench_fmt_ns(d, r->p99), bench_fmt_ns(e, r->p999),
			bench_fmt_ns(f, r->max), (unsigned long long)(r->purges + r->forced),
			r->faults_per_op);
	}
	fprintf(o, "\nSetting the layouts up (per op; kmm):\n%-36s %8s %8s %8s %8s %8s\n",
		"operation", "ns/op", "p50", "p99", "p99.9", "max");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		if (r->part != 3)
			continue;
		fprintf(o, "%-36s %s %s %s %s %s\n", r->op, bench_fmt_ns(a, r->ns),
			bench_fmt_ns(c, r->p50), bench_fmt_ns(d, r->p99), bench_fmt_ns(e, r->p999),
			bench_fmt_ns(f, r->max));
		if (r->forced)
			fprintf(o, "%-36s %s ns (%llu lazy areas purged, every pool emptied\n"
				   "%-36s    into the free tree)\n",
				"  then a purge with full pool decay", bench_fmt_ns(a, r->forced_max),
				(unsigned long long)r->forced_areas, "");
	}
	fprintf(o, "\nGrowth from %s to %s (ns/op ratio; aim < 2x):\n",
		b->layout_name[L_SMALL], b->layout_name[L_BIG]);
	for (v = 0; v < NR_VARIANTS; v++) {
		const struct row *s1 = find_scale(b, L_SMALL, (enum variant)v);
		const struct row *s2 = find_scale(b, L_BIG, (enum variant)v);
		const struct row *s3 = find_scale(b, L_FRAG, (enum variant)v);

		if (!s1 || !s2 || !(s1->ns > 0) || !(s1->p50 > 0))
			continue;
		fprintf(o, "  %-17s x%.2f (p50 x%.2f, p99 x%.2f)", variant_names[v],
			s2->ns / s1->ns, s2->p50 / s1->p50, s2->p99 / s1->p99);
		if (s3)
			fprintf(o, "; %s x%.2f (p50 x%.2f, p99 x%.2f)",
				b->layout_name[L_FRAG], s3->ns / s1->ns, s3->p50 / s1->p50,
				s3->p99 / s1->p99);
		fprintf(o, "\n");
	}
}

static const struct row *find_row(const struct vb *b, const char *op, const char *mode,
				  enum impl impl)
{
	size_t i;

	for (i = 0; i < b->nrows; i++)
		if (b->rows[i].impl == impl && !strcmp(b->rows[i].op, op) &&
		    !strcmp(b->rows[i].mode, mode))
			return &b->rows[i];
	return NULL;
}

static void print_aims(struct vb *b)
{
	const struct row *f = find_row(b, "fix_size 1p", "real", IMPL_KMM);
	const struct row *r = find_row(b, "random_size 1..100p", "real", IMPL_KMM);
	const struct row *s1, *s2;
	FILE *o = b->out;

	fprintf(o, "\nAims (informational, never asserted):\n");
	if (f && f->base >= 0) {
		double x = bench_ratio(b->rows[f->base].ns, f->ns);

		fprintf(o, "  fix_size (1 page) >= 3x faster than mmap+MAP_POPULATE: %.2fx (%.0f vs %.0f ns): %s\n",
			x, f->ns, b->rows[f->base].ns, x >= 3 ? "met" : "missed");
	}
	if (r && r->base >= 0) {
		double x = bench_ratio(b->rows[r->base].ns, r->ns);

		fprintf(o, "  random_size (1..100 pages) >= 1.5x faster: %.2fx (%.0f vs %.0f ns): %s\n",
			x, r->ns, b->rows[r->base].ns, x >= 1.5 ? "met" : "missed");
	}
	s1 = find_scale(b, L_SMALL, V_POOL);
	s2 = find_scale(b, L_BIG, V_POOL);
	if (s1 && s2 && s1->ns > 0)
		fprintf(o, "  get_vm_area+free_vm_area with %s within 2x of %s: x%.2f (%.0f vs %.0f ns): %s\n",
			b->layout_name[L_BIG], b->layout_name[L_SMALL], s2->ns / s1->ns,
			s2->ns, s1->ns, s2->ns < 2 * s1->ns ? "met" : "missed");
}

static void print_csv(struct vb *b)
{
	FILE *o = b->out;
	size_t i;

	fprintf(o, "\npart,operation,mode,impl,ns_op,ns_op_median,p50,p99,p999,max,ops,samples,"
		   "faults_per_op,baseline_ns_op,ratio,natural_purges,purge_op_mean,purge_op_max,"
		   "end_purges,end_purge_mean,purge_share,host_maps_per_op,host_unmaps_per_op\n");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];
		const struct row *base = r->base >= 0 ? &b->rows[r->base] : NULL;

		fprintf(o, "%d,\"%s\",%s,%s,%.2f,%.2f,%.1f,%.1f,%.1f,%.1f,%llu,%llu,%.3f,",
			r->part, r->op, r->mode, r->impl == IMPL_KMM ? "kmm" : "mmap", r->ns,
			r->ns_med, r->p50, r->p99, r->p999, r->max,
			(unsigned long long)r->ops, (unsigned long long)r->samples,
			r->faults_per_op);
		if (base)
			fprintf(o, "%.2f,%.3f,", base->ns, bench_ratio(base->ns, r->ns));
		else
			fprintf(o, ",,");
		fprintf(o, "%llu,%.1f,%.1f,%llu,%.1f,%.4f,%.3f,%.3f\n",
			(unsigned long long)r->purges, r->purge_mean, r->purge_max,
			(unsigned long long)r->forced, r->forced_mean, r->purge_share,
			r->maps_per_op, r->unmaps_per_op);
	}
}

static void print_header(struct vb *b)
{
	FILE *o = b->out;

	fprintf(o, "kmm vmalloc benchmark (issue 3: test_vmalloc shapes, live-area scaling)%s\n",
		b->quick ? " -- quick mode: numbers are noisy" : "");
	/* The busy list's length depends on vm.max_map_count: say it. */
	bench_print_host_line(o);
	fprintf(o, "; vm.max_map_count %ld\n",
		read_long_file("/proc/sys/vm/max_map_count", -1));
	bench_print_clock_line(o);
	fprintf(o, "method: 1 thread (kmm CPU 0, host CPU 0); every op timed; per measurement\n"
		   "        %.3f s or %lu ops of kmm in %u slices%s,\n"
		   "        alternating with the baseline (which repeats each kmm slice's op\n"
		   "        count and sizes); each kmm slice ends with a timed\n"
		   "        kmm_vm_unmap_aliases() (nothing lazy is left unpaid); ns/op = best\n"
		   "        slice's mean; percentiles pool all slices; a warm-up comes first\n",
		b->seconds, b->max_ops, b->slices,
		b->min_purges ? "\n        (each running on to its first natural purge)" : "");
	fprintf(o, "ratio = baseline ns / kmm ns: > 1 means kmm is faster\n");
}

/* ---- the entry point -------------------------------------------------------- */

struct thread_arg {
	struct vb *b;
	int ret;
	char real_check[320], shadow_check[320];
	bool want_real, want_shadow;
};

static void *bench_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct vb *b = ta->b;
	int ret = 0;

	bench_pin_to_host_cpu(0);
	if (kmm_booted()) {
		/* A machine the caller booted: only the part of its mode. */
		bool shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;

		if (shadow)
			ret = on_machine(b, "", b->shadow_line, sizeof(b->shadow_line),
					 ta->shadow_check, sizeof(ta->shadow_check),
					 shadow_part);
		else
			ret = on_machine(b, "", b->real_line, sizeof(b->real_line),
					 ta->real_check, sizeof(ta->real_check), real_part);
		ta->ret = ret;
		return NULL;
	}
	if (ta->want_real)
		ret = on_machine(b, b->real_boot, b->real_line, sizeof(b->real_line),
				 ta->real_check, sizeof(ta->real_check), real_part);
	if (!ret && ta->want_shadow) {
		ret = on_machine(b, b->shadow_boot, b->shadow_line,
				 sizeof(b->shadow_line), ta->shadow_check,
				 sizeof(ta->shadow_check), shadow_part);
	}
	ta->ret = ret;
	return NULL;
}

static int alloc_buffers(struct vb *b)
{
	int i;

	for (i = 0; i < NSERIES; i++) {
		b->se[i].s = bench_mem(b->cap * sizeof(uint32_t));
		if (!b->se[i].s)
			return -1;
		b->se[i].cap = b->cap;
	}
	b->tmp = bench_mem(b->cap * sizeof(uint32_t));
	b->list = bench_mem(b->list_cap * sizeof(void *));
	return b->tmp && b->list ? 0 : -1;
}

static void free_buffers(struct vb *b)
{
	int i;

	for (i = 0; i < NSERIES; i++)
		if (b->se[i].s)
			munmap(b->se[i].s, b->cap * sizeof(uint32_t));
	if (b->tmp)
		munmap(b->tmp, b->cap * sizeof(uint32_t));
	if (b->list)
		munmap(b->list, b->list_cap * sizeof(void *));
	free(b->rows);
}

int kmm_bench_vmalloc(FILE *out, const struct kmm_bench_opts *opts)
{
	struct kmm_bench_opts dflt;
	struct thread_arg ta;
	struct bench_host_busy hb0, hb1;
	struct bench_host_others others;
	struct vb b;
	pthread_t tid;

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
	if (b.max_ops < 10UL * b.slices)
		b.max_ops = 10UL * b.slices;
	b.busy_real = opts->quick ? QUICK_BUSY : BUSY_WANT;
	b.busy_shadow = opts->quick ? 10 * QUICK_BUSY : BUSY_WANT;
	b.scale_big = SCALE_BIG;
	b.min_purges = opts->quick ? 0 : 1;
	snprintf(b.real_boot, sizeof(b.real_boot), "%s", opts->boot ? opts->boot : REAL_BOOT);
	b.shadow_boot = opts->shadow_boot ? opts->shadow_boot : SHADOW_BOOT;
	b.list_cap = b.scale_big > BUSY_WANT ? b.scale_big : BUSY_WANT;
	b.cap = (b.max_ops > b.list_cap ? b.max_ops : b.list_cap) + 1024;
	ta.b = &b;
	ta.want_real = true;
	ta.want_shadow = true;

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
	print_shapes(&b);
	summarize(&b);
	print_baselines(&b);
	print_purges(&b);
	print_scale(&b);
	print_aims(&b);
	fprintf(out, "\nkmm after the run:\n");
	if (ta.real_check[0])
		fprintf(out, "  %s\n", ta.real_check);
	if (ta.shadow_check[0])
		fprintf(out, "  %s\n", ta.shadow_check);
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
