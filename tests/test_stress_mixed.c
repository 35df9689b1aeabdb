/* SPDX-License-Identifier: MIT */
/*
 * test_stress_mixed.c - every operation at once (suite 'threads': the TSan
 * build runs it).  KMM_STRESS_THREADS threads (default 8), each bound to
 * its own CPU of the machine, run a seeded random mix of
 *
 *   alloc_pages/__free_pages        orders 0..3, every migratetype
 *   vmalloc/vfree/vfree_atomic      1..16 pages; some freed by kvfree_rcu
 *   vmap/vunmap                     1..8 pages the thread owns
 *   vm_map_ram/vm_unmap_ram         1..8 pages (per-CPU blocks) or 80 (VMAP_RAM)
 *   alloc_vm_area/free_vm_area      nothing mapped, every PTE none
 *   kvfree_rcu                      both forms, of vmalloc'ed objects
 *   user mm mmap/touch/munmap       each thread its own mm, populated or
 *                                   faulted in at first touch
 *   alloc_contig_pages/free_contig_range, cma_alloc/cma_release
 *
 * Each object is filled with a pattern of its owner's tag through the
 * address its owner uses, and checked before it is freed (user pages are
 * checked after other threads' contiguous allocations migrated them).
 * The run is cut into rounds; between rounds (threads joined) every
 * validator runs.  At the end every thread frees what it holds and the
 * free page count must be back where it was, less only the kernel
 * page-table pages and kvfree_rcu's cached bulk pages the run created.
 *
 * Scale (the soak is `make soak`):
 *   KMM_STRESS_THREADS=N   threads, also the machine's nr_cpus (default 8)
 *   KMM_STRESS_STEPS=N     steps per thread per round (default 1500, 100
 *                          under TSan)
 *   KMM_STRESS_ROUNDS=N    rounds (default 3, 2 under TSan)
 *   KMM_STRESS_SECONDS=S   run rounds until S seconds have passed instead
 *   KMM_TEST_SEED=N        the seed (printed)
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define MAX_HELD 24
#define MAP_RAM_LARGE 80

TestSuite(stress_mixed, .fini = kt_fini, .timeout = 86400);	/* a soak runs as long as asked */

enum kind {
	K_PAGES,
	K_VMALLOC,
	K_VMAP,
	K_MAP_RAM,
	K_USER,
	K_CONTIG,
	K_CMA,
	NR_HELD_KINDS,
	K_VM_AREA = NR_HELD_KINDS,	/* allocated and freed in one step */
	NR_KINDS,
};

static const char *const kind_names[NR_KINDS] = {
	"pages", "vmalloc", "vmap", "vm_map_ram", "user", "contig", "cma", "vm_area",
};

struct obj {
	enum kind kind;
	uint64_t tag;
	unsigned n;		/* pages (or order for K_PAGES) */
	void *addr;		/* the owner's address of the bytes */
	struct kmm_page *page;	/* K_PAGES, K_CONTIG, K_CMA */
	struct kmm_page **pages;	/* K_VMAP, K_MAP_RAM */
};

struct worker {
	pthread_t th;
	int id, cpu;
	uint64_t rs;
	long steps;
	bool last;		/* the final round: free everything */
	struct kmm_mm_struct *mm;
	struct kmm_cma *cma;
	struct obj held[MAX_HELD];
	int nheld;
	/* results */
	int errors;
	char msg[256];
	unsigned long done[NR_KINDS], failed[NR_KINDS], rcu_freed, verified;
};

#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

/* ---- patterns ----------------------------------------------------------- */

static uint64_t word_of(uint64_t tag, size_t i)
{
	return (tag ^ (i * 0x9e3779b97f4a7c15ULL)) | 1;
}

static void fill(void *p, size_t bytes, uint64_t tag)
{
	uint64_t *w = p;

	for (size_t i = 0; i < bytes / 8; i++)
		w[i] = word_of(tag, i);
}

/* Index of the first wrong word, or -1. */
static long first_bad(const void *p, size_t bytes, uint64_t tag)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < bytes / 8; i++)
		if (w[i] != word_of(tag, i))
			return (long)i;
	return -1;
}

static long stress_user_access(void *p, size_t bytes, uint64_t tag, bool write);

static void verify(struct worker *w, const struct obj *o, const void *p, size_t bytes,
		   const char *via)
{
	long bad = o->kind == K_USER ? stress_user_access((void *)p, bytes, o->tag, false)
				     : first_bad(p, bytes, o->tag);

	w->verified += bytes / PG;
	if (bad >= 0)
		wfail(w, "thread %d: %s object (tag %#llx, %u) word %ld wrong through %s: %#llx",
		      w->id, kind_names[o->kind], (unsigned long long)o->tag, o->n, bad, via,
		      (unsigned long long)((const uint64_t *)p)[bad]);
}

/*
 * Every load and store through a user address goes through here: a page
 * another thread is migrating (alloc_contig_range, cma_alloc) is fenced by
 * a userfaultfd minor-fault registration, and the access waits in the host
 * kernel until the migrating thread has mmap()ed the new page and the
 * kmm-uffd thread has woken it.  TSan sees that mmap() as a write of the
 * range and cannot see the wake, so tests/tsan.supp names this function
 * (as it names test_user_fault.c's writer_main); the bytes checked here
 * are what proves no store is lost.
 */
static __attribute__((noinline)) long stress_user_access(void *p, size_t bytes, uint64_t tag,
							 bool write)
{
	if (write) {
		fill(p, bytes, tag);
		return -1;
	}
	return first_bad(p, bytes, tag);
}

/* ---- one step of each kind ------------------------------------------------ */

static unsigned rnd(struct worker *w, unsigned n)
{
	return (unsigned)(kt_rand(&w->rs) % n);
}

static const kmm_gfp_t page_gfps[] = {
	KMM_GFP_KERNEL,
	KMM_GFP_HIGHUSER_MOVABLE,
	KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE,
	KMM_GFP_KERNEL | KMM___GFP_ZERO,
	KMM_GFP_KERNEL | KMM___GFP_COMP,
};

static struct kmm_page **own_pages(struct worker *w, unsigned n)
{
	struct kmm_page **pages = calloc(n, sizeof(*pages));
	unsigned i;

	if (!pages)
		return NULL;
	for (i = 0; i < n; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0);
		if (!pages[i])
			break;
	}
	if (i == n)
		return pages;
	while (i--)
		kmm___free_pages(pages[i], 0);
	free(pages);
	(void)w;
	return NULL;
}

static void put_pages(struct kmm_page **pages, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kmm___free_pages(pages[i], 0);
	free(pages);
}

/* Check a vmap/vm_map_ram mapping against its pages' direct map. */
static void verify_pages(struct worker *w, const struct obj *o)
{
	for (unsigned i = 0; i < o->n; i++) {
		const uint64_t *d = kmm_page_address(o->pages[i]);

		if (memcmp(d, (const char *)o->addr + (size_t)i * PG, PG))
			wfail(w, "thread %d: %s page %u differs from its direct map", w->id,
			      kind_names[o->kind], i);
	}
	verify(w, o, o->addr, (size_t)o->n * PG, "the mapping");
}

static bool make(struct worker *w, struct obj *o)
{
	unsigned i;

	o->tag = kt_rand(&w->rs) | 1;
	switch (o->kind) {
	case K_PAGES: {
		kmm_gfp_t gfp = page_gfps[rnd(w, 5)] | KMM___GFP_NOWARN;

		o->n = rnd(w, 4);
		o->page = kmm_alloc_pages(gfp, o->n);
		if (!o->page)
			return false;
		if ((gfp & KMM___GFP_ZERO) && !kt_block_is_zero(o->page, o->n))
			wfail(w, "thread %d: __GFP_ZERO page not zero", w->id);
		kt_pattern_write(o->page, o->n, o->tag);
		return true;
	}
	case K_VMALLOC:
		o->n = 1 + rnd(w, 16);
		o->addr = kmm___vmalloc(o->n * PG, KMM_GFP_KERNEL | KMM___GFP_NOWARN);
		if (!o->addr)
			return false;
		fill(o->addr, o->n * PG, o->tag);
		return true;
	case K_VMAP:
	case K_MAP_RAM:
		o->n = o->kind == K_MAP_RAM && !rnd(w, 6) ? MAP_RAM_LARGE : 1 + rnd(w, 8);
		o->pages = own_pages(w, o->n);
		if (!o->pages)
			return false;
		o->addr = o->kind == K_VMAP ? kmm_vmap(o->pages, o->n, KMM_VM_MAP, KMM_PAGE_KERNEL)
					    : kmm_vm_map_ram(o->pages, o->n, -1);
		if (!o->addr) {
			put_pages(o->pages, o->n);
			return false;
		}
		fill(o->addr, o->n * PG, o->tag);
		return true;
	case K_USER: {
		unsigned long flags = KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS;
		unsigned long a;

		if (rnd(w, 2))
			flags |= KMM_MAP_POPULATE;
		o->n = 1 + rnd(w, 8);
		a = kmm_vm_mmap(w->mm, 0, o->n * PG, RW, flags, 0, NULL);
		if (KMM_IS_ERR_VALUE(a))
			return false;
		o->addr = (void *)a;
		/* first touch faults in the rest */
		stress_user_access(o->addr, o->n * PG, o->tag, true);
		return true;
	}
	case K_CONTIG:
		o->n = 1 + rnd(w, 32);
		o->page = kmm_alloc_contig_pages(o->n, KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1, NULL);
		if (!o->page)
			return false;
		fill(kmm_page_address(o->page), o->n * PG, o->tag);
		return true;
	case K_CMA:
		if (!w->cma)
			return false;
		o->n = 1 + rnd(w, 32);
		o->page = kmm_cma_alloc(w->cma, o->n, rnd(w, 5), true);
		if (!o->page)
			return false;
		for (i = 0; i < o->n; i++)
			if (kmm_page_ref_count(o->page + i) != 1)
				wfail(w, "thread %d: cma page %u refcount %d", w->id, i,
				      kmm_page_ref_count(o->page + i));
		fill(kmm_page_address(o->page), o->n * PG, o->tag);
		return true;
	default:
		return false;
	}
}

struct rcu_obj {
	struct kmm_rcu_head rh;
	uint64_t tag;
};

static void destroy(struct worker *w, struct obj *o)
{
	switch (o->kind) {
	case K_PAGES:
		if (!kt_pattern_ok(o->page, o->n, o->tag))
			wfail(w, "thread %d: pfn %#llx order %u overwritten", w->id,
			      (unsigned long long)kmm_page_to_pfn(o->page), o->n);
		w->verified += 1u << o->n;
		kmm___free_pages(o->page, o->n);
		break;
	case K_VMALLOC: {
		unsigned how = rnd(w, 4);

		verify(w, o, o->addr, o->n * PG, "vmalloc");
		if (how == 0) {
			kmm_vfree_atomic(o->addr);
		} else if (how == 1) {
			struct rcu_obj *r = o->addr;

			kmm_kvfree_call_rcu(&r->rh, r);
			w->rcu_freed++;
		} else if (how == 2) {
			kmm_kvfree_call_rcu(NULL, o->addr);
			w->rcu_freed++;
		} else {
			kmm_vfree(o->addr);
		}
		break;
	}
	case K_VMAP:
	case K_MAP_RAM:
		verify_pages(w, o);
		if (o->kind == K_VMAP)
			kmm_vunmap(o->addr);
		else
			kmm_vm_unmap_ram(o->addr, o->n);
		put_pages(o->pages, o->n);
		break;
	case K_USER: {
		int r;

		verify(w, o, o->addr, o->n * PG, "the user mapping");
		r = kmm_vm_munmap(w->mm, (unsigned long)o->addr, o->n * PG);
		if (r)
			wfail(w, "thread %d: munmap = %d", w->id, r);
		break;
	}
	case K_CONTIG:
		verify(w, o, kmm_page_address(o->page), o->n * PG, "the direct map");
		kmm_free_contig_range(kmm_page_to_pfn(o->page), o->n);
		break;
	case K_CMA:
		verify(w, o, kmm_page_address(o->page), o->n * PG, "the direct map");
		if (!kmm_cma_release(w->cma, o->page, o->n))
			wfail(w, "thread %d: cma_release refused its own pages", w->id);
		break;
	default:
		break;
	}
}

static void vm_area_step(struct worker *w)
{
	unsigned n = 1 + rnd(w, 8);
	kmm_pte_t *ptes[8];
	struct kmm_vm_struct *a = kmm_alloc_vm_area(n * PG, ptes);

	if (!a) {
		w->failed[K_VM_AREA]++;
		return;
	}
	for (unsigned i = 0; i < n; i++)
		if (!kmm_pte_none(kmm_ptep_get(ptes[i])))
			wfail(w, "thread %d: alloc_vm_area page %u mapped", w->id, i);
	kmm_free_vm_area(a);
	w->done[K_VM_AREA]++;
}

/* Kinds weighted: pages and vmalloc most, contiguous ones least. */
static enum kind pick(struct worker *w)
{
	static const enum kind table[] = {
		K_PAGES, K_PAGES, K_PAGES, K_VMALLOC, K_VMALLOC, K_VMALLOC, K_VMAP,
		K_MAP_RAM, K_MAP_RAM, K_USER, K_USER, K_CONTIG, K_CMA, K_VM_AREA,
	};

	return table[rnd(w, sizeof(table) / sizeof(table[0]))];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (kmm_bind_cpu(w->cpu))
		wfail(w, "kmm_bind_cpu(%d) failed", w->cpu);
	for (long s = 0; s < w->steps && !w->errors; s++) {
		enum kind k = pick(w);

		if (k == K_VM_AREA) {
			vm_area_step(w);
			continue;
		}
		if (w->nheld == MAX_HELD || (w->nheld && rnd(w, 2))) {
			int i = (int)rnd(w, (unsigned)w->nheld);

			destroy(w, &w->held[i]);
			w->held[i] = w->held[--w->nheld];
			continue;
		}
		w->held[w->nheld] = (struct obj){ .kind = k };
		if (make(w, &w->held[w->nheld])) {
			w->done[k]++;
			w->nheld++;
		} else {
			w->failed[k]++;
		}
	}
	if (w->last)
		while (w->nheld) {
			destroy(w, &w->held[w->nheld - 1]);
			w->nheld--;
		}
	kmm_bind_cpu(-1);
	return NULL;
}

/* ---- the run -------------------------------------------------------------- */

static long env_long(const char *name, long def)
{
	const char *s = getenv(name);

	return s && *s ? strtol(s, NULL, 10) : def;
}

static void validate_all(struct worker *w, int n, const char *what)
{
	char name[64];

	/* Errors of the round first, then a log the validators' lines fit in
	 * (contiguous allocations log every busy pageblock at debug level). */
	kt_assert_quiet(what);
	kt_log_clear();
	/* Quiesce: kvfree_rcu frees on the RCU and deferred-work threads,
	 * which would run under the validators. */
	kmm_kvfree_rcu_barrier();
	kt_assert_valid(what);
	kt_assert_validator(kmm_vmalloc_validate(), "kmm_vmalloc_validate()", what);
	kt_assert_validator(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0),
			    "kmm_pgtable_validate()", what);
	kt_assert_validator(kmm_cma_validate(), "kmm_cma_validate()", what);
	kt_assert_validator(kmm__vmap_blocks_validate(), "kmm__vmap_blocks_validate()", what);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "kmm_mm_validate(thread %d)", i);
		kt_assert_validator(kmm_mm_validate(w[i].mm), name, what);
	}
}

Test(stress_mixed, every_operation_on_every_cpu)
{
	long nthreads = env_long("KMM_STRESS_THREADS", 8);
	long steps = env_long("KMM_STRESS_STEPS", KT_TSAN ? 100 : 1500);
	long rounds = env_long("KMM_STRESS_ROUNDS", KT_TSAN ? 2 : 3);
	double seconds = (double)env_long("KMM_STRESS_SECONDS", 0);
	uint64_t seed = kt_seed("stress_mixed");
	struct kmm_kvfree_rcu_stats ks;
	unsigned long total[NR_KINDS] = { 0 }, failed[NR_KINDS] = { 0 }, verified = 0;
	long t0_tables;
	uint64_t free0, free_end;
	struct worker *w;
	char boot[128];
	double t0;
	long round = 0;

	cr_assert(nthreads >= 1 && nthreads <= 64, "KMM_STRESS_THREADS=%ld", nthreads);
	cr_assert(steps >= 1, "KMM_STRESS_STEPS=%ld", steps);
	snprintf(boot, sizeof(boot), "mem=256M cma=32M nr_cpus=%ld", nthreads);
	kt_boot(boot);
	cr_assert_eq(kmm_cma_area_count(), 1);
	w = calloc((size_t)nthreads, sizeof(*w));
	cr_assert_not_null(w);
	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	t0_tables = atomic_load(&kmm_init_mm.pgtables_pages);
	for (long i = 0; i < nthreads; i++) {
		w[i].id = (int)i;
		w[i].cpu = (int)i;
		w[i].rs = seed + (uint64_t)i * 0x1000193;
		w[i].cma = kmm_cma_area(0);
		w[i].mm = kmm_mm_create(0);
		cr_assert_not_null(w[i].mm);
	}
	t0 = kt_now();
	for (;;) {
		bool last = seconds > 0 ? kt_now() - t0 >= seconds : round + 1 >= rounds;
		char what[64];

		for (long i = 0; i < nthreads; i++) {
			w[i].steps = steps;
			w[i].last = last;
			cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
		}
		for (long i = 0; i < nthreads; i++)
			pthread_join(w[i].th, NULL);
		for (long i = 0; i < nthreads; i++)
			cr_assert_eq(w[i].errors, 0, "round %ld: %d error(s); first: %s", round,
				     w[i].errors, w[i].msg);
		snprintf(what, sizeof(what), "round %ld", round);
		validate_all(w, (int)nthreads, what);
		round++;
		if (last)
			break;
	}
	kmm_kvfree_rcu_barrier();
	kmm_vm_unmap_aliases();
	cr_assert_eq(kmm_kvfree_rcu_validate(), 0);
	kmm_kvfree_rcu_get_stats(&ks);
	cr_assert_eq(ks.nr_pending + ks.nr_in_flight, 0, "kvfree_rcu objects left after the barrier");
	for (long i = 0; i < nthreads; i++) {
		cr_assert_eq(w[i].nheld, 0);
		kmm_mm_destroy(w[i].mm);
		w[i].mm = NULL;
		for (int k = 0; k < NR_KINDS; k++) {
			total[k] += w[i].done[k];
			failed[k] += w[i].failed[k];
		}
		verified += w[i].verified;
	}
	kmm_drain_all_pages(NULL);
	free_end = kmm_nr_free_pages();
	fprintf(stderr, "stress_mixed: seed %llu, %ld threads, %ld rounds of %ld steps, %.1f s, "
			"%lu pages verified, %lu pages migrated\n",
		(unsigned long long)seed, nthreads, round, steps, kt_now() - t0, verified,
		kmm_pgmigrate_success());
	for (int k = 0; k < NR_KINDS; k++)
		fprintf(stderr, "  %-10s %8lu done %6lu failed\n", kind_names[k], total[k], failed[k]);
	for (int k = 0; k < NR_KINDS; k++)
		cr_assert_gt(total[k], 0, "no %s operation succeeded", kind_names[k]);
	cr_assert_eq(free_end + (uint64_t)(atomic_load(&kmm_init_mm.pgtables_pages) - t0_tables) +
			     ks.nr_bulk_pages,
		     free0,
		     "pages lost: %llu free at the start, %llu at the end, %ld new table pages, "
		     "%lu kvfree_rcu bulk pages",
		     (unsigned long long)free0, (unsigned long long)free_end,
		     atomic_load(&kmm_init_mm.pgtables_pages) - t0_tables, ks.nr_bulk_pages);
	validate_all(w, 0, "the end");
	kt_assert_quiet("stress_mixed");
	free(w);
}
