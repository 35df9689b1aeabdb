/* SPDX-License-Identifier: MIT */
/*
 * bench_page_alloc.c - the page-allocator benchmark (issue 2).
 *
 * What is measured
 * ----------------
 * For order 0 and order 3, and for each thread count (default 1 and 2),
 * three implementations of "get 2^order pages, give them back" run in the
 * same process, interleaved, with the same loop:
 *
 *   kmm      kmm_alloc_pages(GFP_KERNEL, order) / kmm___free_pages()
 *   malloc   glibc malloc(4096 << order) / free()
 *   mmap     mmap(4096 << order, anonymous private) / munmap()
 *
 * in four patterns:
 *
 *   pair        alloc, then free at once: kmm's per-CPU-list hot path.
 *               Nothing touches the memory (a kernel caller of
 *               alloc_pages() gets a page it need not write; mmap then
 *               never faults either).
 *   pair+touch  the same, writing one byte to every page of the block:
 *               mmap must now fault a page in and zap it again; kmm's
 *               pages are already backed (the memfd), as physical memory
 *               is.  The fair comparison with mmap.  Not in shadow mode.
 *   batch512    512 allocations, then 512 frees, per round.  With kmm's
 *               (the kernel's) pcp->high of thousands of pages on a 1 GiB
 *               machine the 512 blocks stay on the per-CPU list once it has
 *               grown: this is still mostly the pcp path.
 *   batchN      the same with N blocks, N >= 2 * pcp->high_max pages: every
 *               round empties the per-CPU list through rmqueue_bulk()
 *               refills and overflows it through free_pcppages_bulk()
 *               drains, i.e. the buddy free lists under zone->lock.
 * Batch patterns report allocation and free as two rows, per call.  The
 * "kmm per-CPU list traffic" table shows the refills and drains seen.
 *
 * With several threads, thread i is kmm CPU i (kmm_bind_cpu(i)) and every
 * implementation's thread i is pinned to host CPU i % nproc; each thread
 * does its own operations; aggregate throughput is compared with one
 * thread's.
 *
 * How time is measured
 * --------------------
 * The clock is the TSC read as lfence; rdtsc; lfence (clock_gettime
 * CLOCK_MONOTONIC on other architectures), calibrated against
 * CLOCK_MONOTONIC at start.  The loop runs in batches of 64 operations
 * (pair patterns) or rounds of N allocations + N frees (batch patterns).
 * Three batches in four are timed as a whole (two clock reads per batch),
 * which gives the mean and the throughput; every fourth batch times each
 * operation on its own, and those samples (a quarter of all operations,
 * spread evenly over the run) give p50, p99, p99.9 and max.  The median
 * cost of a back-to-back pair of clock reads, measured at start, is
 * subtracted from every timing.
 *
 * The host is noisy (other processes, a VM's steal time), so each
 * measurement is split into slices (5; 3 with --quick) interleaved with
 * the baselines' slices (kmm, malloc, mmap, kmm, malloc, ...), each slice
 * after its own short warm-up (batchN: the first slice only, its rounds
 * are long and reach the buddy lists anyway).  ns/op is the mean of the
 * best slice (as timeit's "best of N": each slice is tens of
 * milliseconds, so it still averages over kmm's own refills, drains and
 * other slow paths; what it drops is a slice where the host preempted
 * us), the same rule for kmm and the baselines; the CSV has the median
 * slice's too.  The
 * percentiles pool the samples of all slices, disturbed or not.  Max is
 * the worst sampled operation and includes whatever the host did meanwhile
 * (interrupts, preemption, mmap's page faults).  Printed alongside: host
 * page faults per allocation, the threads' share of wall time on a CPU,
 * and the CPU time other processes used during the run.
 *
 * Nothing here asserts a timing: speed is reported as the ratio baseline
 * ns / kmm ns (> 1: kmm faster).  The run fails only when the benchmark
 * cannot work (boot, an allocation fails, validation afterwards).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <kmm/kmm.h>

#include "bench.h"
#include "bench_common.h"

#define PAIR_BATCH 64		/* operations per timed batch */
#define BULK 512		/* allocations per batch512 round */
#define SAMPLE_EVERY 4		/* one batch/round in 4 is timed per op */
#define SLICES 5		/* interleaved slices per measurement */
#define QUICK_SLICES 3		/* ... with --quick */
#define BIG_MAX_BYTES (256UL << 20)	/* batchN per thread at most */
#define DEFAULT_BOOT "mem=1G"
#define DEFAULT_ITERS 4000000UL
#define QUICK_ITERS 150000UL
#define DEFAULT_SECONDS 0.25
#define QUICK_SECONDS 0.015

enum impl { IMPL_KMM, IMPL_MALLOC, IMPL_MMAP, NR_IMPLS };
enum pattern { PAT_PAIR, PAT_TOUCH, PAT_BATCH, PAT_BIG, NR_PATTERNS };

static const char *const impl_names[NR_IMPLS] = { "kmm", "malloc", "mmap" };

/* ---- samples ------------------------------------------------------------ */

/* One series of timings of one implementation and thread. */
struct lat {
	uint64_t ticks, ops;	/* whole batches, this slice */
	uint64_t sticks, sops;	/* sampled ops, this slice */
	uint64_t seq;		/* batches so far, all slices: picks samples */
	uint64_t all_ops;	/* operations so far, all slices */
	uint64_t faults;	/* host minor faults so far ([0] only) */
	uint64_t cpu_ns, wall_ns;	/* thread CPU and wall time ([0] only) */
	uint32_t *s;		/* per-op samples (ticks), all slices */
	size_t n, cap;
};

static inline void lat_add(struct lat *l, uint64_t t)
{
	l->s[l->n++] = bench_sample_u32(t);
	l->sticks += t;
	l->sops++;
}

/* ---- the operations ----------------------------------------------------- */

/*
 * Forced inline with a constant @impl, so each benchmark loop is compiled
 * for one implementation and calls the allocator directly.  The empty asm
 * keeps the compiler from pairing malloc with free and deleting both.
 */
static inline __attribute__((always_inline)) void *op_alloc(enum impl impl,
							    unsigned order)
{
	size_t bytes = (size_t)KMM_PAGE_SIZE << order;
	void *p;

	switch (impl) {
	case IMPL_KMM:
		p = kmm_alloc_pages(KMM_GFP_KERNEL, order);
		break;
	case IMPL_MALLOC:
		p = malloc(bytes);
		break;
	default:
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
		break;
	}
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static inline __attribute__((always_inline)) void op_touch(enum impl impl,
							   void *p, unsigned order)
{
	volatile char *a = impl == IMPL_KMM ? kmm_page_address(p) : p;
	size_t i;

	for (i = 0; i < (1UL << order); i++)
		a[i * KMM_PAGE_SIZE] = (char)i;
}

static inline __attribute__((always_inline)) void op_free(enum impl impl,
							  void *p, unsigned order)
{
	switch (impl) {
	case IMPL_KMM:
		kmm___free_pages(p, order);
		break;
	case IMPL_MALLOC:
		free(p);
		break;
	default:
		munmap(p, (size_t)KMM_PAGE_SIZE << order);
		break;
	}
}

/* ---- threads ------------------------------------------------------------ */

/* One slice of one implementation: what the workers share. */
struct run {
	enum impl impl;
	enum pattern pat;
	unsigned order;
	unsigned nbulk;		/* blocks per round, batch patterns */
	uint64_t budget_ticks, warm_ticks;
	unsigned long max_ops, warm_ops;
	struct bench_cbar bar;
	bool abort;		/* a worker could not be started: skip */
};

struct worker {
	pthread_t tid;
	unsigned idx;
	struct run *run;
	struct lat *lat;	/* [2]: pair: [0]; batch: [0] alloc, [1] free */
	void **ptrs;		/* nbulk slots */
	int err;
};

/* ---- the loops ---------------------------------------------------------- */

static inline __attribute__((always_inline)) int
loop_pair(struct worker *w, enum impl impl, bool touch, bool warm)
{
	const struct run *r = w->run;
	unsigned order = r->order;
	uint64_t end = bench_tick() + (warm ? r->warm_ticks : r->budget_ticks);
	unsigned long max = warm ? r->warm_ops : r->max_ops, done;
	struct lat *l = &w->lat[0];
	uint64_t t0, t1 = 0;
	void *p;
	int i;

	for (done = 0; done < max; done += PAIR_BATCH) {
		if (!warm && l->seq++ % SAMPLE_EVERY == SAMPLE_EVERY - 1 &&
		    l->n + PAIR_BATCH <= l->cap) {
			for (i = 0; i < PAIR_BATCH; i++) {
				t0 = bench_tick();
				p = op_alloc(impl, order);
				if (__builtin_expect(!p, 0))
					return -1;
				if (touch)
					op_touch(impl, p, order);
				op_free(impl, p, order);
				t1 = bench_tick();
				lat_add(l, bench_elapsed_ticks(t0, t1));
			}
		} else {
			t0 = bench_tick();
			for (i = 0; i < PAIR_BATCH; i++) {
				p = op_alloc(impl, order);
				if (__builtin_expect(!p, 0))
					return -1;
				if (touch)
					op_touch(impl, p, order);
				op_free(impl, p, order);
			}
			t1 = bench_tick();
			if (!warm) {
				l->ticks += bench_elapsed_ticks(t0, t1);
				l->ops += PAIR_BATCH;
			}
		}
		if (t1 >= end)
			break;
	}
	return 0;
}

static inline __attribute__((always_inline)) int
loop_batch(struct worker *w, enum impl impl, bool warm)
{
	const struct run *r = w->run;
	unsigned order = r->order, n = r->nbulk, i;
	uint64_t end = bench_tick() + (warm ? r->warm_ticks : r->budget_ticks);
	unsigned long max = warm ? r->warm_ops : r->max_ops, done;
	struct lat *la = &w->lat[0], *lf = &w->lat[1];
	uint64_t t0, t1 = 0, t2 = 0;
	void **ptrs = w->ptrs;

	for (done = 0; done < max; done += n) {
		/* seq runs on over slices, so slices of one round (mmap,
		 * batchN) still take their turn at sampling. */
		if (!warm && la->seq++ % SAMPLE_EVERY == SAMPLE_EVERY - 1 &&
		    la->n + n <= la->cap) {
			for (i = 0; i < n; i++) {
				t0 = bench_tick();
				ptrs[i] = op_alloc(impl, order);
				t1 = bench_tick();
				lat_add(la, bench_elapsed_ticks(t0, t1));
				if (__builtin_expect(!ptrs[i], 0))
					goto fail;
			}
			for (i = 0; i < n; i++) {
				t0 = bench_tick();
				op_free(impl, ptrs[i], order);
				t1 = bench_tick();
				lat_add(lf, bench_elapsed_ticks(t0, t1));
			}
			t2 = t1;
		} else {
			t0 = bench_tick();
			for (i = 0; i < n; i++) {
				ptrs[i] = op_alloc(impl, order);
				if (__builtin_expect(!ptrs[i], 0))
					goto fail;
			}
			t1 = bench_tick();
			for (i = 0; i < n; i++)
				op_free(impl, ptrs[i], order);
			t2 = bench_tick();
			if (!warm) {
				la->ticks += bench_elapsed_ticks(t0, t1);
				la->ops += n;
				lf->ticks += t2 - t1;	/* t1 is shared */
				lf->ops += n;
			}
		}
		if (t2 >= end)
			break;
	}
	return 0;
fail:
	while (i-- > 0)
		op_free(impl, ptrs[i], order);
	return -1;
}

#define DEFINE_LOOPS(name, impl)                                          \
	static __attribute__((noinline)) int name(struct worker *w, bool warm) \
	{                                                                  \
		switch (w->run->pat) {                                     \
		case PAT_PAIR:                                             \
			return loop_pair(w, impl, false, warm);            \
		case PAT_TOUCH:                                            \
			return loop_pair(w, impl, true, warm);             \
		default:                                                   \
			return loop_batch(w, impl, warm);                  \
		}                                                          \
	}
DEFINE_LOOPS(loops_kmm, IMPL_KMM)
DEFINE_LOOPS(loops_malloc, IMPL_MALLOC)
DEFINE_LOOPS(loops_mmap, IMPL_MMAP)

static int run_loops(struct worker *w, bool warm)
{
	switch (w->run->impl) {
	case IMPL_KMM:
		return loops_kmm(w, warm);
	case IMPL_MALLOC:
		return loops_malloc(w, warm);
	default:
		return loops_mmap(w, warm);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t f0, c0, n0;

	bench_pin_to_host_cpu(w->idx % bench_host_cpus());
	if (kmm_bind_cpu((int)w->idx))
		w->err = -1;
	if (!w->err && !w->run->abort)
		w->err = run_loops(w, true);
	bench_cbar_wait(&w->run->bar);	/* warm-up done */
	bench_cbar_wait(&w->run->bar);	/* go */
	f0 = bench_thread_minflt();
	c0 = bench_thread_cpu_ns();
	n0 = bench_mono_ns();
	if (!w->err && !w->run->abort)
		w->err = run_loops(w, false);
	w->lat[0].wall_ns += bench_mono_ns() - n0;
	w->lat[0].cpu_ns += bench_thread_cpu_ns() - c0;
	w->lat[0].faults += bench_thread_minflt() - f0;
	return NULL;
}

/* ---- kmm state around a measurement -------------------------------------- */

struct kmm_ctrs {
	unsigned long refill, drain;
};

static void kmm_ctrs_read(struct kmm_ctrs *c)
{
	unsigned nid;
	int zi;

	memset(c, 0, sizeof(*c));
	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &kmm_machine.node_data[nid]->node_zones[zi];

			c->refill += atomic_load(&z->events[KMM_ZEV_PCP_REFILL]);
			c->drain += atomic_load(&z->events[KMM_ZEV_PCP_DRAIN]);
		}
	}
}

/* The zone GFP_KERNEL allocations of CPU 0 come from first. */
static struct kmm_zone *kernel_zone(void)
{
	struct kmm_pglist_data *pg = kmm_NODE_DATA(kmm_cpu_to_node(0));
	int zi;

	for (zi = KMM_ZONE_NORMAL; zi >= 0; zi--)
		if (pg->node_zones[zi].per_cpu_pageset &&
		    pg->node_zones[zi].managed_pages)
			return &pg->node_zones[zi];
	return NULL;
}

/* ---- one measurement ---------------------------------------------------- */

struct stats {
	double ns;		/* per op per thread: the best slice's mean */
	double mops;		/* aggregate throughput of that slice */
	double ns_med, mops_med;	/* the same of the median slice */
	double p50, p99, p999, max;	/* ns, all sampled ops */
	uint64_t samples;
};

struct result {
	unsigned order, threads, nbulk;
	enum pattern pat;
	int phase;		/* 0: pair / alloc; 1: free (batch) */
	enum impl impl;
	struct stats st;
	double refill_per_kop, drain_per_kop;	/* kmm, per round-op */
	double faults_per_op;	/* host page faults per allocation */
	double cpu_share;	/* thread CPU time / wall time, all threads */
};

struct bench {
	FILE *out;
	unsigned long max_ops;	/* per measurement, all slices */
	double seconds;		/* per measurement, all slices */
	unsigned slices;
	bool quick, shadow;
	unsigned nthreads_max;
	unsigned big_pages;	/* batchN size in pages */
	struct worker *workers;	/* nthreads_max */
	struct lat *lats;	/* [NR_IMPLS][nthreads_max][2] */
	uint32_t *merge, *tmp;	/* nthreads_max * cap each */
	size_t cap;		/* samples per lat */
	size_t ptrs_slots;	/* per worker */
	struct result *res;
	size_t nres, res_cap;
};

static struct lat *lat_of(struct bench *bn, enum impl impl, unsigned t)
{
	return &bn->lats[((size_t)impl * bn->nthreads_max + t) * 2];
}

static const char *pattern_name(char *buf, size_t len, enum pattern pat,
				unsigned nbulk)
{
	switch (pat) {
	case PAT_PAIR:
		return "pair";
	case PAT_TOUCH:
		return "pair+touch";
	default:
		snprintf(buf, len, "batch%u", nbulk);
		return buf;
	}
}

/* A new zeroed result row; NULL when out of memory. */
static struct result *add_result(struct bench *bn)
{
	return bench_array_push((void **)&bn->res, &bn->nres, &bn->res_cap,
				sizeof(bn->res[0]));
}

/* Run one slice of @impl on @nthreads threads. */
static int run_slice(struct bench *bn, enum impl impl, enum pattern pat,
		     unsigned order, unsigned nbulk, unsigned nthreads,
		     bool warm, struct kmm_ctrs *ctrs)
{
	struct run run = {
		.impl = impl,
		.pat = pat,
		.order = order,
		.nbulk = nbulk,
		.budget_ticks = bench_slice_budget_ticks(bn->seconds, bn->slices),
		.max_ops = bn->max_ops / bn->slices,
	};
	struct kmm_ctrs c0, c1;
	unsigned t;
	int err = 0;

	run.warm_ticks = run.budget_ticks / 10;
	run.warm_ops = warm ? run.max_ops / 10 : 0;
	bench_cbar_init(&run.bar, nthreads + 1);
	for (t = 0; t < nthreads; t++) {
		struct worker *w = &bn->workers[t];

		w->idx = t;
		w->run = &run;
		w->err = 0;
		w->lat = lat_of(bn, impl, t);
		if (pthread_create(&w->tid, NULL, worker_main, w)) {
			fprintf(bn->out, "bench: pthread_create failed\n");
			run.abort = true;
			nthreads = t;
			bench_cbar_set_parties(&run.bar, t + 1);
			break;
		}
	}
	bench_cbar_wait(&run.bar);
	kmm_ctrs_read(&c0);
	bench_cbar_wait(&run.bar);
	for (t = 0; t < nthreads; t++) {
		pthread_join(bn->workers[t].tid, NULL);
		if (bn->workers[t].err)
			err = -1;
	}
	kmm_ctrs_read(&c1);
	bench_cbar_destroy(&run.bar);
	ctrs->refill += c1.refill - c0.refill;
	ctrs->drain += c1.drain - c0.drain;
	if (run.abort)
		return -1;
	if (err) {
		char pb[24];

		fprintf(bn->out, "bench: %s %s order-%u %uT: allocation failed\n",
			impl_names[impl], pattern_name(pb, sizeof(pb), pat, nbulk),
			order, nthreads);
	}
	return err;
}

struct slice_stat {
	double ns, mops;
};

static int cmp_slice(const void *a, const void *b)
{
	double x = ((const struct slice_stat *)a)->ns;
	double y = ((const struct slice_stat *)b)->ns;

	return x < y ? -1 : x > y;
}

/* Fold this slice's whole-batch timings of every thread into @ss. */
static void slice_done(struct bench *bn, enum impl impl, unsigned nthreads,
		       int li, struct slice_stat *ss)
{
	double ticks = 0, ops = 0, mops = 0;
	unsigned t;

	for (t = 0; t < nthreads; t++) {
		struct lat *l = &lat_of(bn, impl, t)[li];
		/* A slice of only sampled rounds (slow mmap, batchN) falls
		 * back on the sampled timings. */
		uint64_t tk = l->ops ? l->ticks : l->sticks;
		uint64_t n = l->ops ? l->ops : l->sops;

		ticks += (double)tk;
		ops += (double)n;
		l->all_ops += l->ops + l->sops;
		if (tk)
			mops += (double)n * bench_ticks_per_ns * 1e3 / (double)tk;
		l->ticks = l->ops = l->sticks = l->sops = 0;
	}
	ss->ns = ops ? ticks / bench_ticks_per_ns / ops : 0;
	ss->mops = mops;
}

static void percentiles(struct bench *bn, enum impl impl, unsigned nthreads,
			int li, struct stats *st)
{
	size_t n = 0;
	unsigned t;

	for (t = 0; t < nthreads; t++) {
		struct lat *l = &lat_of(bn, impl, t)[li];

		memcpy(bn->merge + n, l->s, l->n * sizeof(*l->s));
		n += l->n;
	}
	bench_radix_sort_u32(bn->merge, bn->tmp, n);
	st->samples = n;
	st->p50 = bench_percentile_ns(bn->merge, n, 0.50);
	st->p99 = bench_percentile_ns(bn->merge, n, 0.99);
	st->p999 = bench_percentile_ns(bn->merge, n, 0.999);
	st->max = n ? (double)bn->merge[n - 1] / bench_ticks_per_ns : 0;
}

/*
 * --quick has no time for rounds of tens of thousands of mmap() calls or
 * page faults (malloc's heap trimmed and grown again): batchN runs kmm
 * alone there, as a smoke test of the refill and drain paths.
 */
static bool skip_impl(const struct bench *bn, enum impl impl, enum pattern pat)
{
	return bn->quick && impl != IMPL_KMM && pat == PAT_BIG;
}

/* Measure one (order, pattern, threads) for all implementations. */
static int measure(struct bench *bn, enum pattern pat, unsigned order,
		   unsigned nthreads)
{
	struct slice_stat ss[NR_IMPLS][2][SLICES];
	struct kmm_ctrs ctrs[NR_IMPLS];
	unsigned nbulk = pat == PAT_BIG ? bn->big_pages >> order : BULK;
	int nlat = pat >= PAT_BATCH ? 2 : 1, im, li;
	unsigned s, t;

	memset(ctrs, 0, sizeof(ctrs));
	for (im = 0; im < NR_IMPLS; im++)
		for (t = 0; t < nthreads; t++)
			for (li = 0; li < 2; li++)
				lat_of(bn, (enum impl)im, t)[li].n =
					lat_of(bn, (enum impl)im, t)[li].seq =
					lat_of(bn, (enum impl)im, t)[li].all_ops =
					lat_of(bn, (enum impl)im, t)[li].faults =
					lat_of(bn, (enum impl)im, t)[li].cpu_ns =
					lat_of(bn, (enum impl)im, t)[li].wall_ns = 0;
	for (s = 0; s < bn->slices; s++) {
		for (im = 0; im < NR_IMPLS; im++) {
			if (skip_impl(bn, (enum impl)im, pat))
				continue;
			/* A batchN round is long and goes to the buddy lists
			 * anyway: warm up before the first slice only. */
			if (run_slice(bn, (enum impl)im, pat, order, nbulk, nthreads,
				      pat != PAT_BIG || s == 0, &ctrs[im]))
				return -1;
			for (li = 0; li < nlat; li++)
				slice_done(bn, (enum impl)im, nthreads, li,
					   &ss[im][li][s]);
		}
	}
	for (im = 0; im < NR_IMPLS; im++) {
		if (skip_impl(bn, (enum impl)im, pat))
			continue;
		for (li = 0; li < nlat; li++) {
			struct result *r = add_result(bn);
			struct slice_stat *med;

			if (!r)
				return -1;
			r->order = order;
			r->threads = nthreads;
			r->nbulk = nbulk;
			r->pat = pat;
			r->phase = li;
			r->impl = (enum impl)im;
			qsort(ss[im][li], bn->slices, sizeof(ss[im][li][0]), cmp_slice);
			med = &ss[im][li][bn->slices / 2];
			r->st.ns = ss[im][li][0].ns;
			r->st.mops = ss[im][li][0].mops;
			r->st.ns_med = med->ns;
			r->st.mops_med = med->mops;
			percentiles(bn, (enum impl)im, nthreads, li, &r->st);
			{
				/* Per allocation, both phases of a round. */
				double ops = 0, faults = 0, cpu = 0, wall = 0;

				for (t = 0; t < nthreads; t++) {
					struct lat *l0 = &lat_of(bn, (enum impl)im, t)[0];

					ops += (double)l0->all_ops;
					faults += (double)l0->faults;
					cpu += (double)l0->cpu_ns;
					wall += (double)l0->wall_ns;
				}
				if (ops > 0)
					r->faults_per_op = faults / ops;
				if (wall > 0)
					r->cpu_share = cpu / wall;
				if (im == IMPL_KMM && ops > 0) {
					r->refill_per_kop = (double)ctrs[im].refill * 1e3 / ops;
					r->drain_per_kop = (double)ctrs[im].drain * 1e3 / ops;
				}
			}
		}
	}
	return 0;
}

/* ---- output --------------------------------------------------------------- */

static const struct result *find(const struct bench *bn, enum impl impl,
				 unsigned order, enum pattern pat, int phase,
				 unsigned threads)
{
	size_t i;

	for (i = 0; i < bn->nres; i++) {
		const struct result *r = &bn->res[i];

		if (r->impl == impl && r->order == order && r->pat == pat &&
		    r->phase == phase && r->threads == threads)
			return r;
	}
	return NULL;
}

static void op_name(char *buf, size_t len, const struct result *r)
{
	char pb[24];

	snprintf(buf, len, "order-%u %s%s", r->order,
		 pattern_name(pb, sizeof(pb), r->pat, r->nbulk),
		 r->pat >= PAT_BATCH ? (r->phase ? " free" : " alloc") : "");
}

static void base_name(char *buf, size_t len, enum impl impl, unsigned order)
{
	snprintf(buf, len, "%s(%lu)", impl_names[impl],
		 (unsigned long)KMM_PAGE_SIZE << order);
}

static void print_table(struct bench *bn)
{
	FILE *o = bn->out;
	char a[16], b[16], c[16], d[16], e[16], f[16], op[48], bname[24];
	size_t i;

	fprintf(o, "\n%-27s %2s %8s  %-13s %8s %8s %8s %8s %8s %8s\n",
		"operation", "T", "kmm", "baseline", "baseline", "ratio",
		"kmm p50", "kmm p99", "p99.9", "max");
	fprintf(o, "%-27s %2s %8s  %-13s %8s %8s %8s %8s %8s %8s\n", "", "",
		"ns/op", "", "ns/op", "base/kmm", "ns", "ns", "ns", "ns");
	for (i = 0; i < bn->nres; i++) {
		const struct result *k = &bn->res[i];
		int bi;

		if (k->impl != IMPL_KMM)
			continue;
		op_name(op, sizeof(op), k);
		if (!find(bn, IMPL_MALLOC, k->order, k->pat, k->phase, k->threads) &&
		    !find(bn, IMPL_MMAP, k->order, k->pat, k->phase, k->threads))
			fprintf(o, "%-27s %2u %s  %-13s %8s %8s %s %s %s %s\n", op,
				k->threads, bench_fmt_ns(a, k->st.ns), "(none)", "-", "-",
				bench_fmt_ns(c, k->st.p50), bench_fmt_ns(d, k->st.p99),
				bench_fmt_ns(e, k->st.p999), bench_fmt_ns(f, k->st.max));
		for (bi = IMPL_MALLOC; bi < NR_IMPLS; bi++) {
			const struct result *base = find(bn, (enum impl)bi, k->order,
							 k->pat, k->phase, k->threads);

			if (!base)
				continue;
			base_name(bname, sizeof(bname), (enum impl)bi, k->order);
			fprintf(o, "%-27s %2u %s  %-13s %s %8.2f %s %s %s %s\n", op,
				k->threads, bench_fmt_ns(a, k->st.ns), bname,
				bench_fmt_ns(b, base->st.ns), bench_ratio(base->st.ns, k->st.ns),
				bench_fmt_ns(c, k->st.p50), bench_fmt_ns(d, k->st.p99),
				bench_fmt_ns(e, k->st.p999), bench_fmt_ns(f, k->st.max));
		}
	}
}

/*
 * The headline rows of print_table() for kmm_bench_run()'s summary: the
 * pair and pair+touch patterns of both orders at the first thread count,
 * against each baseline (the very ns/op figures of the table).
 */
static void summarize(const struct bench *bn, unsigned threads)
{
	char op[64], opt[48], bname[24];
	size_t i;

	for (i = 0; i < bn->nres; i++) {
		const struct result *k = &bn->res[i];
		int bi;

		if (k->impl != IMPL_KMM || k->threads != threads ||
		    (k->pat != PAT_PAIR && k->pat != PAT_TOUCH))
			continue;
		op_name(opt, sizeof(opt), k);
		snprintf(op, sizeof(op), "%s, %uT", opt, threads);
		for (bi = IMPL_MALLOC; bi < NR_IMPLS; bi++) {
			const struct result *base = find(bn, (enum impl)bi, k->order,
							 k->pat, k->phase, k->threads);

			if (!base)
				continue;
			base_name(bname, sizeof(bname), (enum impl)bi, k->order);
			bench_summary_add("page_alloc", op, k->st.ns, base->st.ns, "ns/op",
					  bname, BENCH_RATIO_BASE_OVER_KMM);
		}
	}
}

static void print_baselines(struct bench *bn)
{
	FILE *o = bn->out;
	char a[16], c[16], d[16], e[16], f[16], op[48], bname[24];
	size_t i;

	fprintf(o, "\nBaseline latencies (same method; faults: host page faults per allocation):\n");
	fprintf(o, "%-27s %2s %-13s %8s %8s %8s %8s %8s %7s\n", "operation", "T",
		"baseline", "ns/op", "p50", "p99", "p99.9", "max", "faults");
	for (i = 0; i < bn->nres; i++) {
		const struct result *r = &bn->res[i];

		if (r->impl == IMPL_KMM)
			continue;
		op_name(op, sizeof(op), r);
		base_name(bname, sizeof(bname), r->impl, r->order);
		fprintf(o, "%-27s %2u %-13s %s %s %s %s %s %7.3f\n", op,
			r->threads, bname, bench_fmt_ns(a, r->st.ns), bench_fmt_ns(c, r->st.p50),
			bench_fmt_ns(d, r->st.p99), bench_fmt_ns(e, r->st.p999),
			bench_fmt_ns(f, r->st.max), r->faults_per_op);
	}
}

static void print_scaling(struct bench *bn)
{
	FILE *o = bn->out;
	bool header = false;
	char op[48];
	size_t i;

	for (i = 0; i < bn->nres; i++) {
		const struct result *k = &bn->res[i], *k1, *m, *m1, *p, *p1;

		if (k->impl != IMPL_KMM || k->threads == 1)
			continue;
		k1 = find(bn, IMPL_KMM, k->order, k->pat, k->phase, 1);
		m = find(bn, IMPL_MALLOC, k->order, k->pat, k->phase, k->threads);
		m1 = find(bn, IMPL_MALLOC, k->order, k->pat, k->phase, 1);
		p = find(bn, IMPL_MMAP, k->order, k->pat, k->phase, k->threads);
		p1 = find(bn, IMPL_MMAP, k->order, k->pat, k->phase, 1);
		if (!k1 || !m || !m1 || !p || !p1 || !k1->st.mops ||
		    !m1->st.mops || !p1->st.mops)
			continue;
		if (!header) {
			fprintf(o, "\nScaling: aggregate Mop/s of all threads, the factor over 1 thread, and\n"
				   "the share of wall time kmm's threads were on a CPU (below ~95%%: the host\n"
				   "ran something else; the threads overlapped less than they seem to):\n");
			fprintf(o, "%-27s %2s %10s %10s %10s %8s %8s %8s %6s\n",
				"operation", "T", "kmm Mop/s", "malloc", "mmap",
				"kmm x", "malloc x", "mmap x", "cpu%");
			header = true;
		}
		op_name(op, sizeof(op), k);
		fprintf(o, "%-27s %2u %10.2f %10.2f %10.3f %8.2f %8.2f %8.2f %5.0f%%\n",
			op, k->threads, k->st.mops, m->st.mops, p->st.mops,
			k->st.mops / k1->st.mops, m->st.mops / m1->st.mops,
			p->st.mops / p1->st.mops, k->cpu_share * 100);
	}
}

static void print_kmm_internals(struct bench *bn)
{
	FILE *o = bn->out;
	char op[48];
	size_t i;

	fprintf(o, "\nkmm per-CPU list traffic: rmqueue_bulk refills and free_pcppages_bulk drains\n"
		   "per 1000 allocations (with their frees); host page faults per allocation:\n");
	fprintf(o, "%-27s %2s %10s %10s %10s %7s\n", "operation", "T", "samples",
		"refills", "drains", "faults");
	for (i = 0; i < bn->nres; i++) {
		const struct result *r = &bn->res[i];
		char pb[24];

		if (r->impl != IMPL_KMM || r->phase)
			continue;
		snprintf(op, sizeof(op), "order-%u %s", r->order,
			 pattern_name(pb, sizeof(pb), r->pat, r->nbulk));
		fprintf(o, "%-27s %2u %10llu %10.2f %10.2f %7.3f\n", op,
			r->threads, (unsigned long long)r->st.samples,
			r->refill_per_kop, r->drain_per_kop, r->faults_per_op);
	}
}

static void print_csv(struct bench *bn)
{
	FILE *o = bn->out;
	char op[48], bname[24];
	size_t i;

	fprintf(o, "\noperation,threads,kmm_ns_op,baseline,baseline_ns_op,ratio,"
		   "kmm_p50,kmm_p99,kmm_p999,kmm_max,base_p50,base_p99,base_p999,"
		   "base_max,kmm_mops,base_mops,kmm_samples,base_samples,"
		   "kmm_ns_op_median,baseline_ns_op_median\n");
	for (i = 0; i < bn->nres; i++) {
		const struct result *k = &bn->res[i];
		int bi;

		if (k->impl != IMPL_KMM)
			continue;
		op_name(op, sizeof(op), k);
		if (!find(bn, IMPL_MALLOC, k->order, k->pat, k->phase, k->threads) &&
		    !find(bn, IMPL_MMAP, k->order, k->pat, k->phase, k->threads))
			fprintf(o, "%s,%u,%.2f,,,,%.1f,%.1f,%.1f,%.1f,,,,,%.3f,,%llu,,%.2f,\n",
				op, k->threads, k->st.ns, k->st.p50, k->st.p99,
				k->st.p999, k->st.max, k->st.mops,
				(unsigned long long)k->st.samples, k->st.ns_med);
		for (bi = IMPL_MALLOC; bi < NR_IMPLS; bi++) {
			const struct result *b = find(bn, (enum impl)bi, k->order,
						      k->pat, k->phase, k->threads);

			if (!b)
				continue;
			base_name(bname, sizeof(bname), (enum impl)bi, k->order);
			fprintf(o, "%s,%u,%.2f,%s,%.2f,%.3f,%.1f,%.1f,%.1f,%.1f,"
				   "%.1f,%.1f,%.1f,%.1f,%.3f,%.3f,%llu,%llu,%.2f,%.2f\n",
				op, k->threads, k->st.ns, bname, b->st.ns,
				bench_ratio(b->st.ns, k->st.ns), k->st.p50, k->st.p99,
				k->st.p999, k->st.max, b->st.p50, b->st.p99,
				b->st.p999, b->st.max, k->st.mops, b->st.mops,
				(unsigned long long)k->st.samples,
				(unsigned long long)b->st.samples, k->st.ns_med,
				b->st.ns_med);
		}
	}
}

static void print_aims(struct bench *bn)
{
	const struct result *k = find(bn, IMPL_KMM, 0, PAT_PAIR, 0, 1);
	const struct result *m = find(bn, IMPL_MALLOC, 0, PAT_PAIR, 0, 1);
	const struct result *p = find(bn, IMPL_MMAP, 0, PAT_PAIR, 0, 1);
	const struct result *kt = find(bn, IMPL_KMM, 0, PAT_TOUCH, 0, 1);
	const struct result *pt = find(bn, IMPL_MMAP, 0, PAT_TOUCH, 0, 1);
	const struct result *k2, *m2;
	FILE *o = bn->out;

	if (!k || !m || !p || !(k->st.ns > 0) || !(m->st.ns > 0))
		return;
	fprintf(o, "\nAims (informational, never asserted):\n");
	fprintf(o, "  per-CPU fast path (order-0 pair, 1 thread) within 2x of malloc(4096):\n"
		   "    mean %.1f ns vs %.1f ns = %.2fx malloc's time (median slices: %.2fx;\n"
		   "    p50 %.1f vs %.1f ns = %.2fx): %s\n",
		k->st.ns, m->st.ns, k->st.ns / m->st.ns,
		m->st.ns_med > 0 ? k->st.ns_med / m->st.ns_med : 0, k->st.p50,
		m->st.p50, m->st.p50 > 0 ? k->st.p50 / m->st.p50 : 0,
		k->st.ns <= 2 * m->st.ns ? "met" : "missed");
	fprintf(o, "  far ahead of mmap(4096): mmap/kmm = %.0fx untouched",
		bench_ratio(p->st.ns, k->st.ns));
	if (kt && pt)
		fprintf(o, ", %.0fx touched", bench_ratio(pt->st.ns, kt->st.ns));
	fprintf(o, "\n");
	k2 = find(bn, IMPL_KMM, 0, PAT_PAIR, 0, 2);
	m2 = find(bn, IMPL_MALLOC, 0, PAT_PAIR, 0, 2);
	if (k2 && m2 && k->st.mops > 0 && m->st.mops > 0)
		fprintf(o, "  2 threads, order-0 pair: aggregate throughput x%.2f of 1 thread (malloc x%.2f)\n",
			k2->st.mops / k->st.mops, m2->st.mops / m->st.mops);
}

static void print_header(struct bench *bn, const char *boot, const unsigned *thr,
			 unsigned nthr)
{
	struct kmm_zone *z = kernel_zone();
	FILE *o = bn->out;
	unsigned i;

	fprintf(o, "kmm page allocator benchmark (issue 2)%s\n",
		bn->quick ? " -- quick mode: numbers are noisy" : "");
	bench_print_host_line(o);
	fprintf(o, "\n");
	fprintf(o, "kmm:    boot \"%s\": mode %s, %u CPUs, %llu MiB; GFP_KERNEL\n",
		boot, bench_kmm_mode_name(), kmm_machine.nr_cpus,
		(unsigned long long)(kmm_machine.totalram_pages * KMM_PAGE_SIZE >> 20));
	if (z)
		fprintf(o, "        zone %s: pcp batch %d, high_min %d, high_max %d pages; batchN = %u pages\n",
			z->name, z->pcp_batch, z->pcp_high_min, z->pcp_high_max,
			bn->big_pages);
	bench_print_clock_line(o);
	fprintf(o, "method: per measurement %.3f s or %lu ops per thread, in %u interleaved\n"
		   "        slices (kmm, malloc, mmap, kmm, ...) each after a 10%% warm-up; 3 of 4\n"
		   "        batches (64 ops, or a round) timed whole -> ns/op and Mop/s of the\n"
		   "        best slice (the median slice's are in the CSV); every 4th batch\n"
		   "        timed per op -> p50/p99/p99.9/max of all slices and threads\n",
		bn->seconds, bn->max_ops, bn->slices);
	fprintf(o, "threads:");
	for (i = 0; i < nthr; i++)
		fprintf(o, " %u", thr[i]);
	fprintf(o, " (thread i = kmm CPU i, pinned to host CPU i %% %u)\n", bench_host_cpus());
	fprintf(o, "ratio = baseline ns / kmm ns: > 1 means kmm is faster\n");
}

/* ---- setup ---------------------------------------------------------------- */

/* batchN: at least twice the largest pcp->high_max, so every round goes
 * through refills and drains; bounded by BIG_MAX_BYTES per thread and by a
 * quarter of the machine over all threads. */
static unsigned big_batch_pages(unsigned nthreads_max)
{
	uint64_t want = 2, cap = BIG_MAX_BYTES / KMM_PAGE_SIZE, mem;
	unsigned nid, cpu;
	int zi;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &kmm_machine.node_data[nid]->node_zones[zi];

			if (!z->per_cpu_pageset)
				continue;
			for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
				if ((uint64_t)z->per_cpu_pageset[cpu].high_max * 2 > want)
					want = (uint64_t)z->per_cpu_pageset[cpu].high_max * 2;
		}
	want = 1ULL << (64 - __builtin_clzll(want - 1));	/* power of two */
	mem = kmm_machine.totalram_pages / 4 / nthreads_max;
	if (cap > mem)
		cap = mem;
	if (want > cap)
		want = cap;
	want &= ~((1ULL << 3) - 1);	/* a multiple of 8 (order 3) */
	return (unsigned)(want < 1024 ? 1024 : want);
}

static int bench_alloc_buffers(struct bench *bn)
{
	unsigned t;
	size_t i, nlats = (size_t)NR_IMPLS * bn->nthreads_max * 2;

	bn->workers = bench_mem(sizeof(struct worker) * bn->nthreads_max);
	bn->lats = bench_mem(sizeof(struct lat) * nlats);
	if (!bn->workers || !bn->lats)
		return -1;
	/* Every sampled batch up to max_ops, plus one sampled round. */
	bn->cap = bn->max_ops / SAMPLE_EVERY + bn->big_pages + 2 * BULK;
	for (i = 0; i < nlats; i++) {
		bn->lats[i].s = bench_mem(bn->cap * sizeof(uint32_t));
		if (!bn->lats[i].s)
			return -1;
		bn->lats[i].cap = bn->cap;
	}
	bn->ptrs_slots = bn->big_pages > BULK ? bn->big_pages : BULK;
	for (t = 0; t < bn->nthreads_max; t++) {
		bn->workers[t].ptrs = bench_mem(bn->ptrs_slots * sizeof(void *));
		if (!bn->workers[t].ptrs)
			return -1;
	}
	bn->merge = bench_mem(bn->cap * bn->nthreads_max * sizeof(uint32_t));
	bn->tmp = bench_mem(bn->cap * bn->nthreads_max * sizeof(uint32_t));
	return bn->merge && bn->tmp ? 0 : -1;
}

static void bench_free_buffers(struct bench *bn)
{
	size_t big = bn->cap * bn->nthreads_max * sizeof(uint32_t);
	size_t i, nlats = (size_t)NR_IMPLS * bn->nthreads_max * 2;
	unsigned t;

	if (bn->lats) {
		for (i = 0; i < nlats; i++)
			if (bn->lats[i].s)
				munmap(bn->lats[i].s, bn->cap * sizeof(uint32_t));
		munmap(bn->lats, sizeof(struct lat) * nlats);
	}
	if (bn->workers) {
		for (t = 0; t < bn->nthreads_max; t++)
			if (bn->workers[t].ptrs)
				munmap(bn->workers[t].ptrs,
				       bn->ptrs_slots * sizeof(void *));
		munmap(bn->workers, sizeof(struct worker) * bn->nthreads_max);
	}
	if (bn->merge)
		munmap(bn->merge, big);
	if (bn->tmp)
		munmap(bn->tmp, big);
	free(bn->res);
}

/* ---- the entry points ----------------------------------------------------- */

int kmm_bench_page_alloc(FILE *out, const struct kmm_bench_opts *opts)
{
	static const unsigned default_threads[] = { 1, 2 };
	static const unsigned orders[] = { 0, 3 };
	struct kmm_bench_opts dflt;
	struct bench bn;
	const unsigned *thr;
	unsigned nthr, i, oi, ti;
	char boot[512];
	bool booted_here = false;
	uint64_t free0 = 0, free1;
	struct bench_host_busy hb0, hb1;
	struct bench_host_others others;
	int ret = -1, p, err;

	if (!opts) {
		kmm_bench_opts_init(&dflt);
		opts = &dflt;
	}
	memset(&bn, 0, sizeof(bn));
	bn.out = out;
	bn.quick = opts->quick;
	bn.slices = opts->quick ? QUICK_SLICES : SLICES;
	bn.max_ops = opts->iterations ? opts->iterations
				      : opts->quick ? QUICK_ITERS : DEFAULT_ITERS;
	bn.seconds = opts->seconds > 0 ? opts->seconds
				       : opts->quick ? QUICK_SECONDS : DEFAULT_SECONDS;
	if (bn.max_ops < (unsigned long)bn.slices * BULK)
		bn.max_ops = (unsigned long)bn.slices * BULK;
	thr = opts->nr_threads ? opts->threads : default_threads;
	nthr = opts->nr_threads ? opts->nr_threads : 2;
	if (nthr > KMM_BENCH_MAX_THREADS)
		nthr = KMM_BENCH_MAX_THREADS;
	for (i = 0; i < nthr; i++) {
		if (thr[i] < 1 || thr[i] > KMM_BENCH_MAX_THREADS) {
			fprintf(out, "bench: thread count %u out of range 1..%d\n",
				thr[i], KMM_BENCH_MAX_THREADS);
			return -1;
		}
		if (thr[i] > bn.nthreads_max)
			bn.nthreads_max = thr[i];
	}

	snprintf(boot, sizeof(boot), "%s", opts->boot ? opts->boot : DEFAULT_BOOT);
	if (!strstr(boot, "nr_cpus=") && bn.nthreads_max > bench_host_cpus()) {
		size_t l = strlen(boot);

		snprintf(boot + l, sizeof(boot) - l, "%snr_cpus=%u", l ? " " : "",
			 bn.nthreads_max);
	}
	if (bench_boot_unless_booted(out, boot, &booted_here))
		return -1;
	if (!booted_here)
		snprintf(boot, sizeof(boot), "(already booted)");
	bn.shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;
	if (bn.nthreads_max > kmm_machine.nr_cpus) {
		fprintf(out, "bench: %u threads need nr_cpus >= %u (the machine has %u)\n",
			bn.nthreads_max, bn.nthreads_max, kmm_machine.nr_cpus);
		goto out;
	}
	bn.big_pages = big_batch_pages(bn.nthreads_max);
	if (bench_alloc_buffers(&bn)) {
		fprintf(out, "bench: out of memory for sample buffers\n");
		goto out;
	}
	bench_clock_calibrate(opts->quick);
	print_header(&bn, boot, thr, nthr);
	fflush(out);

	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	bench_host_busy_read(&hb0);
	for (oi = 0; oi < sizeof(orders) / sizeof(orders[0]); oi++)
		for (ti = 0; ti < nthr; ti++)
			for (p = 0; p < NR_PATTERNS; p++) {
				/* Shadow mode has no memory behind the pages. */
				if (p == PAT_TOUCH && bn.shadow)
					continue;
				if (measure(&bn, (enum pattern)p, orders[oi], thr[ti]))
					goto out;
			}

	bench_host_busy_read(&hb1);
	print_table(&bn);
	summarize(&bn, thr[0]);
	print_baselines(&bn);
	print_scaling(&bn);
	print_kmm_internals(&bn);
	print_aims(&bn);

	kmm_drain_all_pages(NULL);
	free1 = kmm_nr_free_pages();
	err = kmm_page_alloc_validate();
	fprintf(out, "\nkmm after the run: validate %s; free pages %llu -> %llu%s; slow-path allocations %lu, failures %lu\n",
		err ? "FAILED" : "ok", (unsigned long long)free0,
		(unsigned long long)free1, free0 == free1 ? " (no leak)" : " (LEAK)",
		kmm_stat_read(KMM_STAT_ALLOC_SLOWPATH),
		kmm_stat_read(KMM_STAT_ALLOC_FAIL));
	if (bench_host_others(&hb0, &hb1, &others))
		fprintf(out, "host: %.1f s measuring; other processes used %.1f CPU-seconds meanwhile (%.0f%% of %u CPUs)\n",
			others.wall_s, others.cpu_s, others.pct, bench_host_cpus());
	if (!err && free0 == free1)
		ret = 0;
	if (opts->csv)
		print_csv(&bn);
out:
	fflush(out);
	bench_free_buffers(&bn);
	if (booted_here)
		kmm_shutdown();
	return ret;
}
