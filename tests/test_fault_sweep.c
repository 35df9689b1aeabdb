/* SPDX-License-Identifier: MIT */
/*
 * test_fault_sweep.c - "fail the Nth internal allocation or host call"
 * over every public operation (issue 8).
 *
 * Each operation is run with the calling thread's any-point counter
 * (kmm_fault_set_nth_any(), the kernel's per-task fail-nth) armed at
 * N = 1, 2, ... until a run makes fewer than N calls at fault points,
 * i.e. succeeds with nothing injected.  After every run:
 *   - a failed run returned the operation's documented error (NULL,
 *     -ENOMEM, -EBUSY, ...), and only when a failure was injected;
 *   - a run that succeeded although a failure was injected (a fallback
 *     took over) is undone like any success;
 *   - every validator passes (page allocator, vmalloc, vmap blocks, CMA,
 *     kvfree_rcu, the live user mms and their page tables, the kernel
 *     page tables);
 *   - after draining the per-CPU lists, purging lazy and fragmented vmap
 *     areas: the free page count, the objcache objects live and the
 *     metadata blocks live are back at the baseline taken before the
 *     sweep (for the cold kernel-VA sweep, free pages plus page-table
 *     pages, as the kernel keeps its page tables);
 *   - nothing was logged at ERR or above and no BUG.
 * Each sweep must also have injected at least one failure at every fault
 * point kind it names (page allocation, objcache, metadata, flush host
 * map, other host call), so the test fails when a fault point disappears,
 * and must end before SWEEP_CAP runs.
 *
 * The same sweeps run in shadow mode (metadata only, no host calls), and
 * in a persistent mode where, once the counter has fired, every later call
 * of one kind fails too (so fallbacks and rollbacks that allocate are
 * failed as well).  Further tests: the counter is per thread and fires
 * once, the new fault points fail their callers cleanly, the leak
 * counters follow every cache, boot resets every fault point.
 *
 * The ASan build runs the same program; kt_fini() then checks for leaks
 * after every test (LeakSanitizer).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"
#include "port_linux.h"

#include <kmm/cma.h>
#include <kmm/fault.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/objcache.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define PB KMM_PAGEBLOCK_NR_PAGES
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define ANON (KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS)
#define ANON_POP (ANON | KMM_MAP_POPULATE)
#define BOOT "mem=128M nr_cpus=2"
#define BOOT_CMA "mem=128M nr_cpus=2 cma=8M"
#define SWEEP_CAP 10000

TestSuite(fault_sweep, .fini = kt_fini, .timeout = 600);

/* ---- fault point kinds ------------------------------------------------------- */

enum kind { K_PAGE, K_OBJ, K_META, K_HMAP, K_HCALL, NR_KINDS };

#define M_PAGE (1u << K_PAGE)
#define M_OBJ (1u << K_OBJ)
#define M_META (1u << K_META)
#define M_HMAP (1u << K_HMAP)
#define M_HCALL (1u << K_HCALL)

static struct kmm_fault_attr *const attrs[NR_KINDS] = {
	[K_PAGE] = &kmm_fail_page_alloc,
	[K_OBJ] = &kmm_fail_objcache,
	[K_META] = &kmm_fail_meta_alloc,
	[K_HMAP] = &kmm_fail_host_map,
	[K_HCALL] = &kmm_fail_host_call,
};

static void injected(unsigned long v[NR_KINDS])
{
	for (int k = 0; k < NR_KINDS; k++)
		v[k] = atomic_load(&attrs[k]->injected);
}

/* ---- the machine's state ---------------------------------------------------- */

#define MAX_MMS 4
static struct kmm_mm_struct *live_mms[MAX_MMS];

static void track_mm(struct kmm_mm_struct *mm)
{
	for (int i = 0; i < MAX_MMS; i++)
		if (!live_mms[i]) {
			live_mms[i] = mm;
			return;
		}
	cr_assert_fail("too many tracked mms");
}

static void untrack_mm(struct kmm_mm_struct *mm)
{
	for (int i = 0; i < MAX_MMS; i++)
		if (live_mms[i] == mm)
			live_mms[i] = NULL;
}

/* Every lazy thing given back: what a baseline can be compared with. */
static void settle(void)
{
	kmm_kvfree_rcu_barrier();
	kmm__purge_fragmented_blocks_allcpus();
	kmm_vm_unmap_aliases();
	kmm_port_rcu_barrier();		/* vmap blocks are freed after a grace period */
	kmm_drain_all_pages(NULL);
}

static void check_all(const char *what)
{
	int r;

	kt_assert_valid(what);
	r = kmm_vmalloc_validate();
	cr_assert_eq(r, 0, "%s: kmm_vmalloc_validate() = %d", what, r);
	r = kmm__vmap_blocks_validate();
	cr_assert_eq(r, 0, "%s: kmm__vmap_blocks_validate() = %d", what, r);
	r = kmm_cma_validate();
	cr_assert_eq(r, 0, "%s: kmm_cma_validate() = %d", what, r);
	r = kmm_kvfree_rcu_validate();
	cr_assert_eq(r, 0, "%s: kmm_kvfree_rcu_validate() = %d", what, r);
	r = kmm_pgtable_validate(&kmm_init_mm, false, 0, 0);
	cr_assert_eq(r, 0, "%s: kmm_pgtable_validate(init_mm) = %d", what, r);
	for (int i = 0; i < MAX_MMS; i++)
		if (live_mms[i]) {
			r = kmm_mm_validate(live_mms[i]);
			cr_assert_eq(r, 0, "%s: kmm_mm_validate() = %d", what, r);
		}
}

struct base {
	uint64_t pages;		/* free (+ page-table pages when cold) */
	long objs;
	long meta;
};

static uint64_t pgtable_pages(void)
{
	uint64_t n = 0;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++)
			n += (uint64_t)atomic_load(&kt_zone((int)nid, zi)->vm_stat[KMM_NR_PAGETABLE]);
	return n;
}

/* Kernel page-table pages hold no metadata in real mode until flushed (a twin each). */
static void base_take(struct base *b, bool cold)
{
	struct kmm_vmalloc_stats st;

	settle();
	b->pages = kt_free_total() + (cold ? pgtable_pages() : 0);
	kmm_vmalloc_get_stats(&st);
	/* Pooled areas and free-tree nodes are caches, not what a run holds. */
	b->objs = kmm_objcache_total_live() - (long)st.nr_pooled - (long)st.nr_free_areas;
	/* Objcache chunks are kept by their cache, as slabs are. */
	b->meta = kmm_port_linux_meta_live() - (long)kmm_objcache_total_chunks() -
		  (cold ? (long)pgtable_pages() : 0);
}

static void base_assert(const struct base *b, bool cold, const char *what, unsigned long n)
{
	struct base now;
	uint64_t pt;

	base_take(&now, cold);
	pt = pgtable_pages();
	if (getenv("SWEEP_DEBUG")) {
		struct kmm_vmap_block_stats bs;
		struct kmm_vmalloc_stats vs;

		kmm_vmap_block_get_stats(&bs);
		kmm_vmalloc_get_stats(&vs);
		fprintf(stderr, "%s: objs %ld meta %ld blocks %lu busy %lu lazy %lu pooled %lu free %lu\n",
			what, now.objs, now.meta, bs.nr_blocks, vs.nr_busy, vs.nr_lazy, vs.nr_pooled,
			vs.nr_free_areas);
	}
	cr_assert_eq(now.pages, b->pages, "%s, nth %lu: %lld pages lost", what, n,
		     (long long)(b->pages - now.pages));
	cr_assert_eq(now.objs, b->objs, "%s, nth %lu: %ld objcache objects leaked", what, n,
		     now.objs - b->objs);
	if (cold) {
		/* Each kept table page may hold one twin: at most that many more. */
		cr_assert_leq(now.meta, b->meta, "%s, nth %lu: %ld metadata blocks leaked", what,
			      n, now.meta - b->meta);
		cr_assert_geq(now.meta + (long)pt, b->meta - (long)pt,
			      "%s, nth %lu: metadata freed twice?", what, n);
	} else {
		cr_assert_eq(now.meta, b->meta, "%s, nth %lu: %ld metadata blocks leaked", what,
			     n, now.meta - b->meta);
	}
}

/* ---- the sweep -------------------------------------------------------------- */

struct op {
	const char *name;
	/* 0 on success, else the error (a negative errno; -ENOMEM for NULL). */
	int (*run)(void *arg, unsigned long n);
	/* Undo a success. */
	void (*undo)(void *arg);
	/* Errors a failed run may return, 0-terminated. */
	int errs[4];
	/* Fault point kinds that must have been injected. */
	unsigned need;
	/* Page tables may be created and kept (kernel VA). */
	bool cold;
	/* Called before the baseline and before every run (may be NULL):
	 * brings back what a run consumes (user pages in the range). */
	void (*prepare)(void *arg);
	/* An error-level message a failed run may log (the kernel's pr_err). */
	const char *err_msg;
	/* Every injected failure may be absorbed by a fallback. */
	bool all_fall_back;
	/* Most runs (0: SWEEP_CAP). */
	unsigned long cap;
	/* Extra check after every run (may be NULL). */
	void (*verify)(void *arg, const char *what);
};

/* kt_assert_quiet(), but a failed run may log @op->err_msg at ERR level. */
static void assert_quiet(const struct op *op, const char *what, bool failed)
{
	int bad = 0, allowed = 0;

	for (int lvl = 0; lvl <= KMM_LOG_ERR; lvl++) {
		bad += kt_log_count_level(lvl, "");
		if (op->err_msg && failed)
			allowed += kt_log_count_level(lvl, op->err_msg);
	}
	if (bad - allowed || kt_log_count("BUG"))
		kt_log_dump(what);
	cr_assert_eq(bad - allowed, 0, "%s: %d error lines (first: %s)", what, bad - allowed,
		     kt_log_find(""));
	cr_assert_eq(kt_log_count("BUG"), 0, "%s: %s", what, kt_log_find("BUG"));
}

static unsigned long op_cap(const struct op *op)
{
	return op->cap ? op->cap : SWEEP_CAP;
}

struct sweep_result {
	unsigned long runs, failures, fallbacks;
	unsigned long inj[NR_KINDS];
};

/*
 * Persistent mode (sweep_persist()): once the thread's counter has fired,
 * every later call at this attribute fails too (its own rule, "always",
 * takes over when the counter is spent), so the fallbacks and rollbacks
 * that allocate are failed as well.
 */
static struct kmm_fault_attr *persist_attr;

static void persist(bool on)
{
	const char *rule = on ? "1,100,0,-1" : "1,100,0,0";

	if (persist_attr)
		cr_assert_eq(kmm_fault_setup(persist_attr, rule, strlen(rule)), 0);
}

static struct sweep_result sweep(const struct op *op, void *arg)
{
	struct sweep_result res = { 0 };
	unsigned long inj0[NR_KINDS], inj1[NR_KINDS];
	struct base b;
	unsigned long n;
	bool done = false;

	if (op->prepare)
		op->prepare(arg);
	check_all(op->name);
	base_take(&b, op->cold);
	injected(inj0);
	kt_log_clear();
	for (n = 1; n <= op_cap(op) && !done; n++) {
		unsigned long before[NR_KINDS], after[NR_KINDS];
		const char *at = "nothing";
		char what[160];
		long left;
		int r;

		if (n > 1 && op->prepare) {
			op->prepare(arg);
			kt_log_clear();
		}
		injected(before);
		persist(true);
		kmm_fault_set_nth_any((long)n);
		r = op->run(arg, n);
		left = kmm_fault_get_nth_any();
		kmm_fault_set_nth_any(0);
		persist(false);
		injected(after);
		for (int k = 0; k < NR_KINDS; k++)
			if (after[k] != before[k])
				at = attrs[k]->name;
		res.runs++;
		snprintf(what, sizeof(what), "%s nth=%lu (%s)", op->name, n, at);
		if (getenv("SWEEP_DEBUG"))
			fprintf(stderr, "%s: %d\n", what, r);
		if (r == 0) {
			if (left == 0)
				res.fallbacks++;	/* injected, and a fallback coped */
			else
				done = true;
			if (op->verify)
				op->verify(arg, what);
			check_all(what);
			op->undo(arg);
		} else {
			bool known = false;

			if (left != 0)
				kt_log_dump(what);
			cr_assert_eq(left, 0, "%s: failed with %d, nothing injected", what, r);
			for (int i = 0; i < 4 && op->errs[i]; i++)
				known |= r == op->errs[i];
			cr_assert(known, "%s: failed with %d, not a documented error", what, r);
			res.failures++;
			if (op->verify)
				op->verify(arg, what);
		}
		check_all(what);
		base_assert(&b, op->cold, what, n);
		assert_quiet(op, what, r != 0);
		kt_log_clear();
	}
	cr_assert(done, "%s: still failing after %lu runs", op->name, op_cap(op));
	injected(inj1);
	for (int k = 0; k < NR_KINDS; k++) {
		res.inj[k] = inj1[k] - inj0[k];
		if ((op->need & (1u << k)) && !persist_attr)
			cr_assert_gt(res.inj[k], 0, "%s: no failure injected at %s in %lu runs",
				     op->name, attrs[k]->name, res.runs);
	}
	if (persist_attr)
		;	/* what fails depends on the kind; correctness is what counts */
	else if (!op->all_fall_back)
		cr_assert_gt(res.failures, 0, "%s: nothing ever failed", op->name);
	else
		cr_assert_gt(res.fallbacks, 0, "%s: nothing injected", op->name);
	fprintf(stderr, "sweep %-28s%s%-16s runs %5lu failed %5lu fallback %3lu | page %lu obj %lu meta %lu hmap %lu hcall %lu\n",
		op->name, persist_attr ? " + all at " : "", persist_attr ? persist_attr->name : "",
		res.runs, res.failures, res.fallbacks, res.inj[K_PAGE], res.inj[K_OBJ],
		res.inj[K_META], res.inj[K_HMAP], res.inj[K_HCALL]);
	return res;
}

/* Shadow mode: no memory behind the addresses, no host calls. */
static bool shadow;

static void boot(const char *cmdline)
{
	kt_boot(cmdline);
	shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;
	cr_assert(shadow || kmm_machine.params.mode == KMM_MODE_REAL);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	memset(live_mms, 0, sizeof(live_mms));
}

/* Warm up: run once without faults and undo (tables, blocks, caches). */
static void warm(const struct op *op, void *arg)
{
	int r = op->run(arg, 0);

	cr_assert_eq(r, 0, "%s: warm-up failed (%d)", op->name, r);
	op->undo(arg);
	settle();
}

static void sweep_warm(const struct op *op, void *arg)
{
	warm(op, arg);
	sweep(op, arg);
}

/* ---- vmalloc family --------------------------------------------------------- */

struct vm_arg {
	void *(*fn)(unsigned long size);
	unsigned long size;
	void *p;
	bool zero;
};

static int vm_run(void *arg, unsigned long n)
{
	struct vm_arg *a = arg;

	(void)n;
	a->p = a->fn(a->size);
	return a->p ? 0 : -KMM_ENOMEM;
}

static void vm_undo(void *arg)
{
	struct vm_arg *a = arg;

	kmm_vfree(a->p);
	a->p = NULL;
}

static void vm_verify(void *arg, const char *what)
{
	struct vm_arg *a = arg;
	volatile unsigned char *c = a->p;

	if (!c || shadow)
		return;
	for (unsigned long off = 0; off < a->size; off += PG) {
		if (a->zero)
			cr_assert_eq(c[off], 0, "%s: byte %lu not zeroed", what, off);
		c[off] = 0x5a;
		cr_assert_eq(c[off], 0x5a, "%s: byte %lu does not hold a write", what, off);
	}
}

static void vmalloc_case(void *(*fn)(unsigned long), const char *name, unsigned long pages,
			 bool zero, unsigned need)
{
	struct vm_arg a = { .fn = fn, .size = pages * PG, .zero = zero };
	struct op op = {
		.name = name, .run = vm_run, .undo = vm_undo, .errs = { -KMM_ENOMEM },
		.need = need, .verify = vm_verify,
	};

	sweep_warm(&op, &a);
}

Test(fault_sweep, vmalloc_sizes)
{
	boot(BOOT);
	vmalloc_case(kmm_vmalloc, "vmalloc 1 page", 1, false, M_PAGE | M_OBJ | M_HMAP);
	vmalloc_case(kmm_vmalloc, "vmalloc 7 pages", 7, false, M_PAGE | M_OBJ | M_HMAP);
	/* 600 pages: more than one PTE table (512), a page array of meta. */
	vmalloc_case(kmm_vmalloc, "vmalloc 600 pages", 600, false,
		     M_PAGE | M_OBJ | M_META | M_HMAP);
	vmalloc_case(kmm_vzalloc, "vzalloc 3 pages", 3, true, M_PAGE | M_OBJ | M_HMAP);
	vmalloc_case(kmm_vmalloc_user, "vmalloc_user 5 pages", 5, true,
		     M_PAGE | M_OBJ | M_HMAP);
}

/*
 * Cold: each run at fresh kernel VA (its own 8 MiB, from a 1 GiB boundary),
 * so the PTE table pages (and the PMD table, and their twins) are
 * allocated inside the runs and their failures swept too.  Tables made by
 * a run stay, as in the kernel.
 */
#define COLD_SLOT (8UL << 20)
struct cold_arg {
	unsigned long start, pages;
	void *p;
};

static int cold_run(void *arg, unsigned long n)
{
	struct cold_arg *a = arg;
	unsigned long s = a->start + n * COLD_SLOT;

	a->p = kmm___vmalloc_node_range(a->pages * PG, PG, s, s + COLD_SLOT, KMM_GFP_KERNEL,
					KMM_PAGE_KERNEL, 0, -1, __builtin_return_address(0));
	return a->p ? 0 : -KMM_ENOMEM;
}

static void cold_undo(void *arg)
{
	struct cold_arg *a = arg;

	kmm_vfree(a->p);
	a->p = NULL;
}

Test(fault_sweep, vmalloc_cold_page_tables)
{
	struct cold_arg a = { .pages = 520 };
	struct op op = {
		.name = "vmalloc cold 520 pages", .run = cold_run, .undo = cold_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_OBJ | M_META | M_HMAP, .cold = true,
	};
	struct sweep_result r;
	uint64_t pt0;

	boot(BOOT);
	a.start = KMM_ALIGN_UP(kmm_vmalloc_start(), 1UL << 30) + (1UL << 30);
	op.cap = (kmm_vmalloc_end() - a.start) / COLD_SLOT - 2;
	cr_assert_geq(op.cap, 1000, "vmalloc space for %lu runs", op.cap);
	pt0 = pgtable_pages();
	r = sweep(&op, &a);
	/* Table pages were asked for (and failed) inside runs: more runs than a warm one. */
	cr_assert_gt(pgtable_pages(), pt0);
	cr_assert_geq(r.inj[K_PAGE], 2, "the page array and a table page");
}

/* ---- vmap, vm_map_ram, alloc_vm_area ------------------------------------------ */

struct map_arg {
	struct kmm_page **pages;
	unsigned count;
	void *p;
	struct kmm_vm_struct *area;
	kmm_pte_t **ptes;
};

static void pages_get(struct map_arg *a, unsigned count)
{
	a->count = count;
	a->pages = calloc(count, sizeof(*a->pages));
	cr_assert_not_null(a->pages);
	for (unsigned i = 0; i < count; i++) {
		a->pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(a->pages[i]);
		if (!shadow)
			memset(kmm_page_address(a->pages[i]), (int)(i & 0xff), PG);
	}
}

static void pages_put(struct map_arg *a)
{
	for (unsigned i = 0; i < a->count; i++)
		kmm___free_pages(a->pages[i], 0);
	free(a->pages);
	a->pages = NULL;
}

static void map_verify(void *arg, const char *what)
{
	struct map_arg *a = arg;
	const volatile unsigned char *c = a->p;

	if (!c || shadow)
		return;
	for (unsigned i = 0; i < a->count; i++)
		cr_assert_eq(c[(size_t)i * PG + 7], (unsigned char)(i & 0xff),
			     "%s: page %u not mapped at its place", what, i);
}

static int vmap_run(void *arg, unsigned long n)
{
	struct map_arg *a = arg;

	(void)n;
	a->p = kmm_vmap(a->pages, a->count, KMM_VM_MAP, KMM_PAGE_KERNEL);
	return a->p ? 0 : -KMM_ENOMEM;
}

static void vmap_undo(void *arg)
{
	struct map_arg *a = arg;

	kmm_vunmap(a->p);
	a->p = NULL;
}

Test(fault_sweep, vmap)
{
	struct map_arg a = { 0 };
	struct op op = {
		.name = "vmap 9 pages", .run = vmap_run, .undo = vmap_undo,
		.errs = { -KMM_ENOMEM }, .need = M_OBJ | M_HMAP, .verify = map_verify,
	};

	boot(BOOT);
	pages_get(&a, 9);
	sweep_warm(&op, &a);
	pages_put(&a);
}

static int vmr_run(void *arg, unsigned long n)
{
	struct map_arg *a = arg;

	(void)n;
	a->p = kmm_vm_map_ram(a->pages, a->count, -1);
	return a->p ? 0 : -KMM_ENOMEM;
}

static void vmr_undo(void *arg)
{
	struct map_arg *a = arg;

	kmm_vm_unmap_ram(a->p, a->count);
	a->p = NULL;
}

Test(fault_sweep, vm_map_ram_small_and_large)
{
	struct map_arg a = { 0 };
	struct op small = {
		.name = "vm_map_ram 4 pages (block)", .run = vmr_run, .undo = vmr_undo,
		.errs = { -KMM_ENOMEM }, .need = M_OBJ | M_HMAP, .verify = map_verify,
	};
	struct op large = {
		.name = "vm_map_ram 300 pages", .run = vmr_run, .undo = vmr_undo,
		.errs = { -KMM_ENOMEM }, .need = M_OBJ | M_HMAP, .verify = map_verify,
	};

	boot(BOOT);
	pages_get(&a, 4);
	sweep_warm(&small, &a);
	pages_put(&a);
	pages_get(&a, 300);
	sweep_warm(&large, &a);
	pages_put(&a);
}

static int ava_run(void *arg, unsigned long n)
{
	struct map_arg *a = arg;

	(void)n;
	memset(a->ptes, 0, a->count * sizeof(*a->ptes));
	a->area = kmm_alloc_vm_area((size_t)a->count * PG, a->ptes);
	return a->area ? 0 : -KMM_ENOMEM;
}

static void ava_undo(void *arg)
{
	struct map_arg *a = arg;

	kmm_free_vm_area(a->area);
	a->area = NULL;
}

static void ava_verify(void *arg, const char *what)
{
	struct map_arg *a = arg;

	if (!a->area)
		return;
	for (unsigned i = 0; i < a->count; i++)
		cr_assert_not_null(a->ptes[i], "%s: no PTE pointer for page %u", what, i);
}

Test(fault_sweep, alloc_vm_area)
{
	struct map_arg a = { .count = 6 };
	struct op op = {
		.name = "alloc_vm_area 6 pages", .run = ava_run, .undo = ava_undo,
		.errs = { -KMM_ENOMEM }, .need = M_OBJ, .verify = ava_verify,
	};
	struct op cold = op;

	boot(BOOT);
	a.ptes = calloc(a.count, sizeof(*a.ptes));
	cr_assert_not_null(a.ptes);
	/* First cold (its tables come from the run), then warm. */
	cold.name = "alloc_vm_area 6 pages cold";
	cold.cold = true;
	cold.need = M_OBJ;
	sweep(&cold, &a);
	sweep_warm(&op, &a);
	free(a.ptes);
}

/* ---- user memory -------------------------------------------------------------- */

static unsigned long uword(unsigned long a)
{
	return a * 0x9E3779B97F4A7C15UL ^ 0x5bd1e995UL;
}

static void uwrite(unsigned long a, unsigned long pages)
{
	if (shadow)
		return;
	for (unsigned long i = 0; i < pages; i++)
		*(volatile unsigned long *)(a + i * PG + 64) = uword(a + i * PG);
}

static void ucheck(unsigned long a, unsigned long pages, const char *what)
{
	if (shadow)
		return;
	for (unsigned long i = 0; i < pages; i++)
		cr_assert_eq(*(volatile unsigned long *)(a + i * PG + 64), uword(a + i * PG),
			     "%s: user page %lu lost its bytes", what, i);
}

/* remap_vmalloc_range from a driver's mmap method. */
struct remap_arg {
	struct kmm_mm_struct *mm;
	struct kmm_mmap_file file;
	void *buf;
	unsigned long pages, ua;
};

static int remap_mmap(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma)
{
	struct remap_arg *a = file->private_data;

	return kmm_remap_vmalloc_range(vma, a->buf, vma->vm_pgoff);
}

/* The mm is created in the run, so its page tables are too. */
static int remap_run(void *arg, unsigned long n)
{
	struct remap_arg *a = arg;
	unsigned long r;

	(void)n;
	a->ua = 0;
	a->mm = kmm_mm_create(0);
	if (!a->mm)
		return -KMM_ENOMEM;
	track_mm(a->mm);
	r = kmm_vm_mmap(a->mm, 0, a->pages * PG, RW, KMM_MAP_SHARED, 0, &a->file);
	if (KMM_IS_ERR_VALUE(r)) {
		cr_assert_null(kmm_find_vma(a->mm, 0), "a failed mmap left a VMA");
		untrack_mm(a->mm);
		kmm_mm_destroy(a->mm);
		a->mm = NULL;
		return (int)(long)r;
	}
	a->ua = r;
	return 0;
}

static void remap_undo(void *arg)
{
	struct remap_arg *a = arg;

	cr_assert_eq(kmm_vm_munmap(a->mm, a->ua, a->pages * PG), 0);
	a->ua = 0;
	untrack_mm(a->mm);
	kmm_mm_destroy(a->mm);
	a->mm = NULL;
}

static void remap_verify(void *arg, const char *what)
{
	struct remap_arg *a = arg;

	if (!a->ua)
		return;
	for (unsigned long i = 0; i < a->pages; i++)
		cr_assert_eq(*(volatile unsigned char *)(a->ua + i * PG + 3),
			     (unsigned char)(i + 1), "%s: page %lu not the buffer's", what, i);
}

Test(fault_sweep, remap_vmalloc_range)
{
	struct remap_arg a = { .pages = 8 };
	struct op op = {
		.name = "remap_vmalloc_range 8 pages", .run = remap_run, .undo = remap_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_META | M_HMAP | M_HCALL,
		.verify = remap_verify,
	};

	boot(BOOT);
	a.file.mmap = remap_mmap;
	a.file.private_data = &a;
	a.buf = kmm_vmalloc_user(a.pages * PG);
	cr_assert_not_null(a.buf);
	for (unsigned long i = 0; i < a.pages; i++)
		((unsigned char *)a.buf)[i * PG + 3] = (unsigned char)(i + 1);
	sweep_warm(&op, &a);
	kmm_vfree(a.buf);
}

/* A whole user address space: create, mmap populated and on demand, split, destroy. */
struct anon_arg {
	struct kmm_mm_struct *mm;
	unsigned long pop, lazy;
};

static int anon_fail(struct anon_arg *a, long r)
{
	untrack_mm(a->mm);
	kmm_mm_destroy(a->mm);
	a->mm = NULL;
	return (int)r;
}

static int anon_run(void *arg, unsigned long n)
{
	struct anon_arg *a = arg;
	unsigned long r;
	int e;

	(void)n;
	a->mm = kmm_mm_create(0);
	if (!a->mm)
		return -KMM_ENOMEM;
	track_mm(a->mm);
	r = kmm_vm_mmap(a->mm, 0, 32 * PG, RW, ANON_POP, 0, NULL);
	if (KMM_IS_ERR_VALUE(r))
		return anon_fail(a, (long)r);
	a->pop = r;
	r = kmm_vm_mmap(a->mm, 0, 16 * PG, RW, ANON, 0, NULL);
	if (KMM_IS_ERR_VALUE(r))
		return anon_fail(a, (long)r);
	a->lazy = r;
	/* A hole in the middle of the populated one: a split. */
	e = kmm_vm_munmap(a->mm, a->pop + 8 * PG, 4 * PG);
	if (e)
		return anon_fail(a, e);
	return 0;
}

static void anon_undo(void *arg)
{
	struct anon_arg *a = arg;

	uwrite(a->pop, 8);
	ucheck(a->pop, 8, "anon");
	untrack_mm(a->mm);
	kmm_mm_destroy(a->mm);
	a->mm = NULL;
}

Test(fault_sweep, user_mm_mmap_munmap_populate)
{
	struct anon_arg a = { 0 };
	struct op op = {
		.name = "mm create/mmap/populate/munmap", .run = anon_run, .undo = anon_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_META | M_HMAP | M_HCALL,
	};

	boot(BOOT);
	sweep_warm(&op, &a);
}

/* migrate_pages of user pages. */
struct mig_arg {
	struct kmm_mm_struct *mm;
	unsigned long a, pages;
};

static int mig_run(void *arg, unsigned long n)
{
	struct mig_arg *m = arg;
	struct kmm_list_head list;
	unsigned done = 0;
	int r;

	(void)n;
	kmm_list_init(&list);
	for (unsigned long i = 0; i < m->pages; i++) {
		unsigned long pfn;

		cr_assert_eq(kmm_follow_pfn(m->mm, m->a + i * PG, &pfn), 0);
		cr_assert_eq(kmm_isolate_movable_page(kmm_pfn_to_page(pfn), &list), 0);
	}
	r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &done);
	if (!kmm_list_empty(&list))
		kmm_putback_movable_pages(&list);
	cr_assert(r <= 0 || r == (int)(m->pages - done), "migrate_pages = %d, %u done", r, done);
	return r > 0 ? -KMM_EAGAIN : r;
}

static void mig_undo(void *arg)
{
	(void)arg;
}

static void mig_verify(void *arg, const char *what)
{
	struct mig_arg *m = arg;

	ucheck(m->a, m->pages, what);
}

Test(fault_sweep, migrate_pages)
{
	struct mig_arg m = { .pages = 40 };
	struct op op = {
		.name = "migrate_pages 40 user pages", .run = mig_run, .undo = mig_undo,
		.errs = { -KMM_ENOMEM, -KMM_EAGAIN }, .need = M_PAGE | M_HMAP | M_HCALL,
		.verify = mig_verify,
	};

	boot(BOOT);
	m.mm = kmm_mm_create(0);
	cr_assert_not_null(m.mm);
	track_mm(m.mm);
	m.a = kmm_vm_mmap(m.mm, 0, m.pages * PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(m.a));
	uwrite(m.a, m.pages);
	sweep_warm(&op, &m);
	ucheck(m.a, m.pages, "after the sweep");
	untrack_mm(m.mm);
	kmm_mm_destroy(m.mm);
}

/* alloc_contig_range and cma_alloc over user pages. */
struct contig_arg {
	struct kmm_mm_struct *mm;
	unsigned long a, pages;
	unsigned long start, nr;	/* the PFN range */
	struct kmm_cma *cma;
	struct kmm_page *got;
};

static void contig_done(struct contig_arg *c);

/* Populate @pages user pages (a new mm; the old one destroyed) and write them. */
static void contig_user(struct contig_arg *c, unsigned long pages)
{
	if (c->mm)
		contig_done(c);
	c->pages = pages;
	c->mm = kmm_mm_create(0);
	cr_assert_not_null(c->mm);
	track_mm(c->mm);
	c->a = kmm_vm_mmap(c->mm, 0, pages * PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(c->a));
	uwrite(c->a, pages);
}

static void contig_done(struct contig_arg *c)
{
	ucheck(c->a, c->pages, "before the mm goes");
	untrack_mm(c->mm);
	kmm_mm_destroy(c->mm);
	c->mm = NULL;
	settle();
}

static void contig_verify(void *arg, const char *what)
{
	struct contig_arg *c = arg;

	ucheck(c->a, c->pages, what);
}

/* Count the user pages of @c mapped in [start, start + nr). */
static unsigned long user_in(struct contig_arg *c, unsigned long start, unsigned long nr)
{
	unsigned long k = 0;

	for (unsigned long i = 0; i < c->pages; i++) {
		unsigned long pfn;

		if (!kmm_follow_pfn(c->mm, c->a + i * PG, &pfn) && pfn >= start &&
		    pfn < start + nr)
			k++;
	}
	return k;
}

static int acr_run(void *arg, unsigned long n)
{
	struct contig_arg *c = arg;

	(void)n;
	return kmm_alloc_contig_range(c->start, c->start + c->nr, KMM_ACR_FLAGS_NONE,
				      KMM_GFP_KERNEL);
}

static void acr_undo(void *arg)
{
	struct contig_arg *c = arg;

	kmm_free_contig_range(c->start, c->nr);
}

/* Fresh user pages; the range: the pageblock holding most of them, all movable or free. */
static void acr_prepare(void *arg)
{
	struct contig_arg *c = arg;
	unsigned long best = 0, best_pb = 0;

	contig_user(c, 2048);
	for (unsigned long pb = 0; pb < kmm_machine.max_pfn; pb += PB) {
		unsigned long k = user_in(c, pb, PB);
		bool movable = true;

		for (unsigned long pfn = pb; pfn < pb + PB && movable && k > best; pfn++) {
			struct kmm_page *p = kmm_pfn_to_page(pfn);

			movable = kmm_page_test(p, KMM_PG_lru) || kmm_page_ref_count(p) == 0;
		}
		if (movable && k > best) {
			best = k;
			best_pb = pb;
		}
	}
	cr_assert_gt(best, PB / 2, "no pageblock is mostly user pages (%lu)", best);
	c->start = best_pb;
	c->nr = PB;
}

Test(fault_sweep, alloc_contig_range_over_user_pages)
{
	struct contig_arg c = { 0 };
	struct op op = {
		.name = "alloc_contig_range 1 pageblock", .run = acr_run, .undo = acr_undo,
		.errs = { -KMM_ENOMEM, -KMM_EBUSY }, .need = M_PAGE | M_HMAP | M_HCALL,
		.verify = contig_verify, .prepare = acr_prepare,
	};

	boot(BOOT);
	sweep(&op, &c);
	contig_done(&c);
}

static int cma_run(void *arg, unsigned long n)
{
	struct contig_arg *c = arg;

	(void)n;
	c->got = kmm_cma_alloc(c->cma, c->nr, 0, false);
	return c->got ? 0 : -KMM_ENOMEM;
}

static void cma_undo(void *arg)
{
	struct contig_arg *c = arg;

	cr_assert(kmm_cma_release(c->cma, c->got, c->nr));
	c->got = NULL;
}

/* Fresh user pages, most of them in the area. */
static void cma_prepare(void *arg)
{
	struct contig_arg *c = arg;
	struct kt_blocks fill = { 0 };
	uint64_t base = kmm_cma_get_base(c->cma) >> KMM_PAGE_SHIFT;

	if (c->mm)
		contig_done(c);
	/* Movable pages taken until they come from the area: the user pages land in it. */
	for (;;) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, 0);

		cr_assert_not_null(p, "movable pages ran out before one came from the CMA area");
		if (kmm_page_to_pfn(p) >= base && kmm_page_to_pfn(p) < base + c->nr) {
			kmm___free_pages(p, 0);
			break;
		}
		kt_blocks_push(&fill, p, 0, 0);
	}
	contig_user(c, 1024);
	kt_blocks_free_all(&fill);
	kt_blocks_destroy(&fill);
	cr_assert_gt(user_in(c, base, c->nr), 512, "user pages not in the area");
	settle();
}

Test(fault_sweep, cma_alloc_over_user_pages)
{
	struct contig_arg c = { 0 };
	struct op op = {
		.name = "cma_alloc whole area", .run = cma_run, .undo = cma_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_HMAP | M_HCALL,
		.verify = contig_verify, .prepare = cma_prepare,
		.err_msg = "cma: reserved: alloc failed, req-size: ",
	};

	boot(BOOT_CMA);
	cr_assert_eq(kmm_cma_area_count(), 1);
	c.cma = kmm_cma_area(0);
	c.nr = kmm_cma_get_size(c.cma) >> KMM_PAGE_SHIFT;
	sweep(&op, &c);
	contig_done(&c);
}

/* ---- the counter itself --------------------------------------------------------- */

Test(fault_sweep, nth_any_is_per_thread_and_fires_once)
{
	struct kmm_page *p;
	unsigned long inj0;

	boot(BOOT);
	inj0 = atomic_load(&kmm_fail_page_alloc.injected);
	kmm_fault_set_nth_any(2);
	cr_assert_eq(kmm_fault_get_nth_any(), 2);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p, "the first call passes");
	cr_assert_eq(kmm_fault_get_nth_any(), 1);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0), "the second fails");
	cr_assert_eq(kmm_fault_get_nth_any(), 0, "fired: disarmed");
	cr_assert_eq(atomic_load(&kmm_fail_page_alloc.injected), inj0 + 1);
	kmm___free_pages(p, 0);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p, "fires once");
	kmm___free_pages(p, 0);
	/* __GFP_NOFAIL never reaches a fault point: the counter is not used. */
	kmm_fault_set_nth_any(1);
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOFAIL, 0);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_fault_get_nth_any(), 1);
	kmm___free_pages(p, 0);
	/* The counter wins over the attribute's own settings. */
	cr_assert_eq(kmm_fault_setup(&kmm_fail_page_alloc, "1,100,0,-1", 10), 0);
	kmm_fault_set_nth_any(3);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p, "armed counter decides alone");
	kmm___free_pages(p, 0);
	kmm_fault_set_nth_any(0);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0));
	kmm_fault_reset(&kmm_fail_page_alloc);
	/* Negative: disarmed. */
	kmm_fault_set_nth_any(-5);
	cr_assert_eq(kmm_fault_get_nth_any(), 0);
	kt_assert_valid("nth_any");
}

struct other {
	struct kmm_page *p;
	long left;
};

static void *other_thread(void *arg)
{
	struct other *o = arg;

	kmm_bind_cpu(1);
	o->p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	o->left = kmm_fault_get_nth_any();
	return NULL;
}

Test(fault_sweep, nth_any_leaves_other_threads_alone)
{
	struct other o = { 0 };
	pthread_t t;

	boot(BOOT);
	kmm_fault_set_nth_any(1);
	cr_assert_eq(pthread_create(&t, NULL, other_thread, &o), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_not_null(o.p, "another thread's allocation is not failed");
	cr_assert_eq(o.left, 0, "another thread has its own (disarmed) counter");
	cr_assert_eq(kmm_fault_get_nth_any(), 1, "this thread's counter untouched");
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0));
	kmm___free_pages(o.p, 0);
	kt_assert_valid("threads");
}

/* Each new fault point fails its caller cleanly. */
Test(fault_sweep, meta_and_host_call_points)
{
	struct kmm_mm_struct *mm;
	unsigned long inj;
	long meta0;

	boot(BOOT);
	meta0 = kmm_port_linux_meta_live();
	inj = atomic_load(&kmm_fail_host_call.injected);
	kmm_fault_set_nth(&kmm_fail_host_call, 1);
	cr_assert_null(kmm_mm_create(0), "host reservation refused");
	cr_assert_eq(atomic_load(&kmm_fail_host_call.injected), inj + 1);
	cr_assert_eq(kmm_port_linux_meta_live(), meta0);
	inj = atomic_load(&kmm_fail_meta_alloc.injected);
	kmm_fault_set_nth(&kmm_fail_meta_alloc, 1);
	cr_assert_null(kmm_mm_create(0), "no mm struct");
	cr_assert_eq(atomic_load(&kmm_fail_meta_alloc.injected), inj + 1);
	cr_assert_eq(kmm_port_linux_meta_live(), meta0);
	mm = kmm_mm_create(0);
	cr_assert_not_null(mm);
	cr_assert_gt(kmm_port_linux_meta_live(), meta0);
	kmm_mm_destroy(mm);
	cr_assert_eq(kmm_port_linux_meta_live(), meta0);
	kt_assert_valid("meta/host");
	kt_assert_quiet("meta/host");
}

/* ---- shadow mode: metadata only ------------------------------------------------- */

/*
 * The same operations with no memory behind the addresses: table entries
 * live in metadata buffers (one more allocation per table page), and no
 * host call is made.
 */
Test(fault_sweep, shadow_mode)
{
	struct vm_arg v = { .fn = kmm_vmalloc, .size = 600 * PG };
	struct cold_arg cold = { .pages = 520 };
	struct map_arg m = { 0 }, ava = { .count = 6 };
	struct anon_arg an = { 0 };
	struct mig_arg mig = { .pages = 40 };
	struct contig_arg c = { 0 };
	struct op ops[] = {
		{ .name = "shadow vmalloc 600 pages", .run = vm_run, .undo = vm_undo,
		  .errs = { -KMM_ENOMEM }, .need = M_PAGE | M_OBJ | M_META },
		{ .name = "shadow vm_map_ram 4 pages", .run = vmr_run, .undo = vmr_undo,
		  .errs = { -KMM_ENOMEM }, .need = M_OBJ },
		{ .name = "shadow vmap 9 pages", .run = vmap_run, .undo = vmap_undo,
		  .errs = { -KMM_ENOMEM }, .need = M_OBJ },
		{ .name = "shadow alloc_vm_area", .run = ava_run, .undo = ava_undo,
		  .errs = { -KMM_ENOMEM }, .need = M_OBJ, .verify = ava_verify },
		{ .name = "shadow mm create/mmap/munmap", .run = anon_run, .undo = anon_undo,
		  .errs = { -KMM_ENOMEM }, .need = M_PAGE | M_META },
		{ .name = "shadow migrate_pages", .run = mig_run, .undo = mig_undo,
		  .errs = { -KMM_ENOMEM, -KMM_EAGAIN }, .need = M_PAGE, .all_fall_back = true },
		{ .name = "shadow alloc_contig_range", .run = acr_run, .undo = acr_undo,
		  .errs = { -KMM_ENOMEM, -KMM_EBUSY }, .need = M_PAGE, .prepare = acr_prepare,
		  .all_fall_back = true },
	};
	struct op cold_op = {
		.name = "shadow vmalloc cold 520 pages", .run = cold_run, .undo = cold_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_OBJ | M_META, .cold = true,
	};
	void *args[] = { &v, &m, &m, &ava, &an, &mig, &c };
	struct sweep_result r;

	boot("mem=128M nr_cpus=2 kmm.mode=shadow");
	cr_assert(shadow);
	cold.start = KMM_ALIGN_UP(kmm_vmalloc_start(), 1UL << 30) + (1UL << 30);
	cold_op.cap = (kmm_vmalloc_end() - cold.start) / COLD_SLOT - 2;
	r = sweep(&cold_op, &cold);
	cr_assert_eq(r.inj[K_HMAP] + r.inj[K_HCALL], 0, "shadow mode makes no host call");
	pages_get(&m, 4);
	ava.ptes = calloc(ava.count, sizeof(*ava.ptes));
	cr_assert_not_null(ava.ptes);
	mig.mm = kmm_mm_create(0);
	cr_assert_not_null(mig.mm);
	track_mm(mig.mm);
	mig.a = kmm_vm_mmap(mig.mm, 0, mig.pages * PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(mig.a));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (ops[i].prepare)
			r = sweep(&ops[i], args[i]);
		else {
			warm(&ops[i], args[i]);
			r = sweep(&ops[i], args[i]);
		}
		cr_assert_eq(r.inj[K_HMAP] + r.inj[K_HCALL], 0, "%s: a host call", ops[i].name);
	}
	contig_done(&c);
	untrack_mm(mig.mm);
	kmm_mm_destroy(mig.mm);
	free(ava.ptes);
	pages_put(&m);
}

/* ---- the leak counters and boot ------------------------------------------------ */

Test(fault_sweep, objcache_totals_follow_every_cache)
{
	struct kmm_objcache c;
	long live0, chunks0;
	void *a, *b;

	boot(BOOT);
	live0 = kmm_objcache_total_live();
	chunks0 = kmm_objcache_total_chunks();
	cr_assert_eq(kmm_objcache_init(&c, "sweep", 100), 0);
	a = kmm_objcache_alloc(&c);
	b = kmm_objcache_alloc(&c);
	cr_assert(a && b);
	cr_assert_eq(kmm_objcache_total_live(), live0 + 2);
	cr_assert_eq(kmm_objcache_total_chunks(), chunks0 + 1);
	kmm_objcache_free(&c, a);
	cr_assert_eq(kmm_objcache_total_live(), live0 + 1);
	/* An injected failure counts nothing. */
	kmm_fault_set_nth_any(1);
	cr_assert_null(kmm_objcache_alloc(&c));
	cr_assert_eq(kmm_objcache_total_live(), live0 + 1);
	/* Destroyed with an object live: both totals drop what the cache held. */
	cr_assert_eq(kmm_objcache_destroy(&c), -KMM_EBUSY);
	cr_assert_eq(kmm_objcache_total_live(), live0);
	cr_assert_eq(kmm_objcache_total_chunks(), chunks0);
	cr_assert_eq(kt_log_count_level(KMM_LOG_ERR, "1 objects remaining"), 1);
	kt_log_clear();
	(void)b;
}

Test(fault_sweep, boot_resets_every_fault_point)
{
	boot(BOOT);
	for (int k = 0; k < NR_KINDS; k++) {
		cr_assert_eq(kmm_fault_setup(attrs[k], "1,100,0,-1", 10), 0);
		kmm_fault_set_nth(attrs[k], 3);
	}
	kt_shutdown();
	boot(BOOT);
	for (int k = 0; k < NR_KINDS; k++) {
		cr_assert_eq(atomic_load(&attrs[k]->times), 0, "%s kept times", attrs[k]->name);
		cr_assert_eq(atomic_load(&attrs[k]->nth), 0, "%s kept nth", attrs[k]->name);
		cr_assert_not(kmm_fault_armed(attrs[k]), "%s still armed", attrs[k]->name);
	}
	/* And nothing fails. */
	struct kmm_mm_struct *mm = kmm_mm_create(0);
	void *p = kmm_vmalloc(3 * PG);

	cr_assert_not_null(mm);
	cr_assert_not_null(p);
	kmm_vfree(p);
	kmm_mm_destroy(mm);
	kt_assert_quiet("after boot");
}

/* ---- more of the API: kvmalloc, vmap_pfn, NUMA, driver mappings ---------------- */

struct kv_arg {
	size_t size;
	void *p;
};

static int kv_run(void *arg, unsigned long n)
{
	struct kv_arg *a = arg;

	(void)n;
	a->p = kmm_kvmalloc(a->size, KMM_GFP_KERNEL);
	if (a->p && !shadow)
		memset(a->p, 0x77, a->size);
	return a->p ? 0 : -KMM_ENOMEM;
}

static void kv_undo(void *arg)
{
	struct kv_arg *a = arg;

	kmm_kvfree(a->p);
	a->p = NULL;
}

Test(fault_sweep, kvmalloc_small_and_large)
{
	struct kv_arg small = { .size = 200 }, large = { .size = 3 * PG + 100 };
	struct op s = {
		.name = "kvmalloc 200 bytes", .run = kv_run, .undo = kv_undo,
		.errs = { -KMM_ENOMEM }, .need = M_META,
	};
	struct op l = {
		.name = "kvmalloc 3 pages + 100", .run = kv_run, .undo = kv_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_OBJ | M_META | M_HMAP,
		/* vmalloc first, metadata memory when it fails: one failure never shows. */
		.all_fall_back = true,
	};

	boot(BOOT);
	sweep_warm(&s, &small);
	sweep_warm(&l, &large);
}

struct pfn_arg {
	unsigned long pfns[5];
	struct kmm_page *pages[5];
	void *p;
};

static int vpfn_run(void *arg, unsigned long n)
{
	struct pfn_arg *a = arg;

	(void)n;
	a->p = kmm_vmap_pfn(a->pfns, 5, KMM_PAGE_KERNEL);
	return a->p ? 0 : -KMM_ENOMEM;
}

static void vpfn_undo(void *arg)
{
	struct pfn_arg *a = arg;

	cr_assert_eq(*(volatile unsigned char *)((char *)a->p + 4 * PG), 4);
	kmm_vunmap(a->p);
	a->p = NULL;
}

Test(fault_sweep, vmap_pfn)
{
	struct pfn_arg a;
	struct op op = {
		.name = "vmap_pfn 5 pages", .run = vpfn_run, .undo = vpfn_undo,
		.errs = { -KMM_ENOMEM }, .need = M_OBJ | M_HMAP,
	};

	boot(BOOT);
	for (int i = 0; i < 5; i++) {
		a.pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 0);
		cr_assert_not_null(a.pages[i]);
		a.pfns[i] = kmm_page_to_pfn(a.pages[i]);
		*(unsigned char *)kmm_page_address(a.pages[i]) = (unsigned char)i;
	}
	sweep_warm(&op, &a);
	for (int i = 0; i < 5; i++)
		kmm___free_pages(a.pages[i], 0);
}

static void *vmalloc_node1(unsigned long size)
{
	return kmm_vmalloc_node(size, 1);
}

Test(fault_sweep, vmalloc_numa_node)
{
	boot("mem=128M numa=2 nr_cpus=2");
	vmalloc_case(vmalloc_node1, "vmalloc_node(1) 9 pages", 9, false,
		     M_PAGE | M_OBJ | M_META | M_HMAP);
	vmalloc_case(kmm_vmalloc_32, "vmalloc_32 4 pages", 4, false,
		     M_PAGE | M_OBJ | M_META | M_HMAP);
}

/* A driver's mmap method inserting pages, or remapping PFNs, into a fresh mm. */
struct drv_arg {
	struct kmm_mm_struct *mm;
	struct kmm_mmap_file file;
	struct kmm_page *pages[6];
	bool pfnmap;
	unsigned long ua;
};

static int drv_mmap(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma)
{
	struct drv_arg *a = file->private_data;
	unsigned long num = 6;
	int r;

	if (a->pfnmap)
		return kmm_remap_pfn_range(vma, vma->vm_start, kmm_page_to_pfn(a->pages[0]),
					   6 * PG, vma->vm_page_prot);
	r = kmm_vm_insert_pages(vma, vma->vm_start, a->pages, &num);
	cr_assert(r ? num > 0 : num == 0, "vm_insert_pages: %d, %lu left", r, num);
	return r;
}

static int drv_run(void *arg, unsigned long n)
{
	struct drv_arg *a = arg;
	unsigned long r;

	(void)n;
	a->ua = 0;
	a->mm = kmm_mm_create(0);
	if (!a->mm)
		return -KMM_ENOMEM;
	track_mm(a->mm);
	r = kmm_vm_mmap(a->mm, 0, 6 * PG, RW, KMM_MAP_SHARED, 0, &a->file);
	if (KMM_IS_ERR_VALUE(r)) {
		untrack_mm(a->mm);
		kmm_mm_destroy(a->mm);
		a->mm = NULL;
		return (int)(long)r;
	}
	a->ua = r;
	return 0;
}

static void drv_undo(void *arg)
{
	struct drv_arg *a = arg;

	if (!shadow)
		for (int i = 0; i < 6; i++)
			cr_assert_eq(*(volatile unsigned char *)(a->ua + (unsigned long)i * PG + 1),
				     (unsigned char)(0x40 + i), "user page %d", i);
	untrack_mm(a->mm);
	kmm_mm_destroy(a->mm);
	a->mm = NULL;
	a->ua = 0;
}

static void drv_pages_check(struct drv_arg *a, const char *what)
{
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(kmm_page_ref_count(a->pages[i]), 1, "%s: page %d ref %d", what, i,
			     kmm_page_ref_count(a->pages[i]));
		cr_assert_eq(atomic_load(&a->pages[i]->_mapcount), -1, "%s: page %d mapped", what,
			     i);
	}
}

static void drv_verify(void *arg, const char *what)
{
	struct drv_arg *a = arg;

	if (!a->mm)	/* a failed run: every reference and map count given back */
		drv_pages_check(a, what);
}

Test(fault_sweep, vm_insert_pages_and_remap_pfn_range)
{
	struct drv_arg a = { 0 };
	struct op ins = {
		.name = "vm_insert_pages 6 pages", .run = drv_run, .undo = drv_undo,
		.errs = { -KMM_ENOMEM }, .need = M_PAGE | M_META | M_HMAP | M_HCALL,
		.verify = drv_verify,
	};
	struct op pfn = ins;
	struct kmm_page *block;

	boot(BOOT);
	a.file.mmap = drv_mmap;
	a.file.private_data = &a;
	/* Consecutive PFNs (remap_pfn_range maps a range), each its own page. */
	block = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 3);
	cr_assert_not_null(block);
	kmm_split_page(block, 3);
	for (int i = 0; i < 8; i++) {
		if (i < 6) {
			a.pages[i] = block + i;
			((unsigned char *)kmm_page_address(block + i))[1] = (unsigned char)(0x40 + i);
		} else {
			kmm___free_pages(block + i, 0);
		}
	}
	sweep_warm(&ins, &a);
	drv_pages_check(&a, "after vm_insert_pages");
	a.pfnmap = true;
	pfn.name = "remap_pfn_range 6 pages";
	sweep_warm(&pfn, &a);
	drv_pages_check(&a, "after remap_pfn_range");
	for (int i = 0; i < 6; i++)
		kmm___free_pages(a.pages[i], 0);
}

/* ---- persistent failures: the fallbacks and rollbacks failed too ------------------- */

/* @op swept once per fault point kind, every later call of that kind failing. */
static void sweep_persist(const struct op *op, void *arg, bool warm_up)
{
	for (int k = 0; k < NR_KINDS; k++) {
		if (shadow && (k == K_HMAP || k == K_HCALL))
			continue;
		if (warm_up)
			warm(op, arg);
		persist_attr = attrs[k];
		sweep(op, arg);
		persist_attr = NULL;
	}
}

Test(fault_sweep, persistent_vmalloc_family)
{
	struct vm_arg one = { .fn = kmm_vmalloc, .size = PG }, big = { .fn = kmm_vmalloc, .size = 600 * PG };
	struct kv_arg kv = { .size = 3 * PG + 100 };
	struct map_arg m = { 0 }, ava = { .count = 6 };
	struct op vm = { .name = "vmalloc 1 page", .run = vm_run, .undo = vm_undo,
			 .errs = { -KMM_ENOMEM }, .verify = vm_verify };
	struct op vm600 = { .name = "vmalloc 600 pages", .run = vm_run, .undo = vm_undo,
			    .errs = { -KMM_ENOMEM }, .verify = vm_verify };
	struct op kvop = { .name = "kvmalloc 3 pages + 100", .run = kv_run, .undo = kv_undo,
			   .errs = { -KMM_ENOMEM } };
	struct op vmapop = { .name = "vmap 9 pages", .run = vmap_run, .undo = vmap_undo,
			     .errs = { -KMM_ENOMEM }, .verify = map_verify };
	struct op vmr = { .name = "vm_map_ram 9 pages", .run = vmr_run, .undo = vmr_undo,
			  .errs = { -KMM_ENOMEM }, .verify = map_verify };
	struct op avaop = { .name = "alloc_vm_area 6 pages", .run = ava_run, .undo = ava_undo,
			    .errs = { -KMM_ENOMEM }, .verify = ava_verify };

	boot(BOOT);
	sweep_persist(&vm, &one, true);
	sweep_persist(&vm600, &big, true);
	sweep_persist(&kvop, &kv, true);
	pages_get(&m, 9);
	sweep_persist(&vmapop, &m, true);
	sweep_persist(&vmr, &m, true);
	pages_put(&m);
	pages_get(&m, 100);
	vmr.name = "vm_map_ram 100 pages";
	sweep_persist(&vmr, &m, true);
	pages_put(&m);
	ava.ptes = calloc(ava.count, sizeof(*ava.ptes));
	cr_assert_not_null(ava.ptes);
	sweep_persist(&avaop, &ava, true);
	free(ava.ptes);
}

Test(fault_sweep, persistent_user_memory)
{
	struct remap_arg rm = { .pages = 8 };
	struct anon_arg an = { 0 };
	struct drv_arg drv = { 0 };
	struct mig_arg mig = { .pages = 40 };
	struct contig_arg c = { 0 };
	struct op remap = { .name = "remap_vmalloc_range 8 pages", .run = remap_run,
			    .undo = remap_undo, .errs = { -KMM_ENOMEM }, .verify = remap_verify };
	/* A page whose host unmap failed is held (mm.c hold_page(), through
	 * page->lru: no memory needed) until the mm goes, even when every
	 * metadata allocation fails: nothing may be logged at ERR. */
	struct op anon = { .name = "mm create/mmap/populate/munmap", .run = anon_run,
			   .undo = anon_undo, .errs = { -KMM_ENOMEM } };
	struct op ins = { .name = "vm_insert_pages 6 pages", .run = drv_run, .undo = drv_undo,
			  .errs = { -KMM_ENOMEM }, .verify = drv_verify };
	struct op migop = { .name = "migrate_pages 40 user pages", .run = mig_run,
			    .undo = mig_undo, .errs = { -KMM_ENOMEM, -KMM_EAGAIN },
			    .verify = mig_verify };
	struct op acr = { .name = "alloc_contig_range 1 pageblock", .run = acr_run,
			  .undo = acr_undo, .errs = { -KMM_ENOMEM, -KMM_EBUSY },
			  .verify = contig_verify, .prepare = acr_prepare };
	struct kmm_page *block;

	boot(BOOT);
	rm.file.mmap = remap_mmap;
	rm.file.private_data = &rm;
	rm.buf = kmm_vmalloc_user(rm.pages * PG);
	cr_assert_not_null(rm.buf);
	for (unsigned long i = 0; i < rm.pages; i++)
		((unsigned char *)rm.buf)[i * PG + 3] = (unsigned char)(i + 1);
	sweep_persist(&remap, &rm, true);
	kmm_vfree(rm.buf);
	sweep_persist(&anon, &an, true);

	drv.file.mmap = drv_mmap;
	drv.file.private_data = &drv;
	block = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 3);
	cr_assert_not_null(block);
	kmm_split_page(block, 3);
	for (int i = 0; i < 8; i++) {
		if (i < 6) {
			drv.pages[i] = block + i;
			((unsigned char *)kmm_page_address(block + i))[1] = (unsigned char)(0x40 + i);
		} else {
			kmm___free_pages(block + i, 0);
		}
	}
	sweep_persist(&ins, &drv, true);
	drv.pfnmap = true;
	ins.name = "remap_pfn_range 6 pages";
	sweep_persist(&ins, &drv, true);
	drv_pages_check(&drv, "after the sweeps");
	for (int i = 0; i < 6; i++)
		kmm___free_pages(drv.pages[i], 0);

	mig.mm = kmm_mm_create(0);
	cr_assert_not_null(mig.mm);
	track_mm(mig.mm);
	mig.a = kmm_vm_mmap(mig.mm, 0, mig.pages * PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(mig.a));
	uwrite(mig.a, mig.pages);
	sweep_persist(&migop, &mig, true);
	ucheck(mig.a, mig.pages, "after the sweeps");
	untrack_mm(mig.mm);
	kmm_mm_destroy(mig.mm);

	sweep_persist(&acr, &c, false);
	contig_done(&c);
}
