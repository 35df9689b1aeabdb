/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c - bad input to every public function, one test per row of
 * docs/ERRORS.md (the table names each test).
 *
 * Every row boots a small machine, sets up what the bad call needs (an
 * area, a freed pointer, a VMA, ...), takes a snapshot, makes the bad
 * call, and then proves three things:
 *   - the return value is the one the table gives;
 *   - the log has a line at the table's level naming the problem (or,
 *     for rows whose answer is silent, no line at WARNING or above), and
 *     nothing more severe than that level;
 *   - every validator passes (page allocator, vmalloc, vm_map_ram blocks,
 *     kernel page tables, CMA, kvfree_rcu, the user mm when there is one)
 *     and nothing moved: free pages (buddy + per-CPU lists, plus kernel
 *     page-table pages, which kmm like the kernel keeps once made), the
 *     buddyinfo and pagetypeinfo reports when no table page was made,
 *     busy vmap areas, vm_map_ram block pages, CMA bitmap use, and the
 *     user mm's VMAs and RSS.
 * The last test reads docs/ERRORS.md (from $KMM_SOURCE_DIR, set by
 * tests/meson.build, else found from this file's path) and checks that
 * every test it names exists here and that every test here is named
 * there.
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define PB KMM_PAGEBLOCK_NR_PAGES
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define BOOT "mem=64M cma=8M nr_cpus=2"
#define QUIET 0		/* expect_log(): no line at WARNING or above */
#define WARN KMM_LOG_WARNING
#define ERR KMM_LOG_ERR
#define INFO KMM_LOG_INFO

TestSuite(errors, .fini = kt_fini, .timeout = 60);

/* ---- the snapshot every row compares against ------------------------------- */

struct state {
	uint64_t free;			/* buddy + per-CPU lists */
	long pgtables;			/* kmm_init_mm + the user mm's table pages */
	struct kt_snap snap;
	unsigned long busy;		/* busy vmap areas */
	unsigned long vb_used, vb_blocks;
	unsigned long cma_used[8];
	unsigned nr_cma;
	struct kmm_mm_struct *mm;	/* the row's user mm, or NULL */
	int map_count;
	long rss_file, rss_anon;
	unsigned long kv_queued;
};

static struct state before;
static struct kmm_mm_struct *row_mm;

static void state_take(struct state *s)
{
	struct kmm_vmalloc_stats vst;
	struct kmm_vmap_block_stats bst;
	struct kmm_kvfree_rcu_stats kst;

	memset(s, 0, sizeof(*s));
	s->free = kt_free_total();
	s->pgtables = atomic_load(&kmm_init_mm.pgtables_pages);
	kt_snap_take(&s->snap);
	kmm_vmalloc_get_stats(&vst);
	s->busy = vst.nr_busy;
	kmm_vmap_block_get_stats(&bst);
	s->vb_used = bst.used_pages;
	s->vb_blocks = bst.nr_blocks;
	s->nr_cma = kmm_cma_area_count();
	for (unsigned i = 0; i < s->nr_cma && i < 8; i++) {
		struct kmm_cma_stats cst;

		kmm_cma_get_stats(kmm_cma_area(i), &cst);
		s->cma_used[i] = cst.used;
	}
	s->mm = row_mm;
	if (row_mm) {
		s->pgtables += atomic_load(&row_mm->pgtables_pages);
		s->map_count = row_mm->map_count;
		s->rss_file = atomic_load(&row_mm->rss_file);
		s->rss_anon = atomic_load(&row_mm->rss_anon);
	}
	kmm_kvfree_rcu_get_stats(&kst);
	s->kv_queued = kst.nr_queued;
}

/* Start of the bad call: remember everything, forget the log. */
static void begin(void)
{
	state_take(&before);
	kt_log_clear();
}

/*
 * The log after the bad call: with QUIET nothing at WARNING or above;
 * else at least one line at @level containing @needle and nothing more
 * severe than @level.
 */
static void expect_log(int level, const char *needle)
{
	int worst = level == QUIET ? KMM_LOG_WARNING : level - 1;

	for (int l = 0; l <= worst; l++)
		if (kt_log_count_level(l, "")) {
			kt_log_dump("unexpected log line");
			cr_assert_fail("a log line at level %d (expected %s)", l,
				       level == QUIET ? "none at WARNING or above" : needle);
		}
	if (level != QUIET && kt_log_count_level(level, needle) < 1) {
		kt_log_dump("missing log line");
		cr_assert_fail("no line at level %d containing \"%s\"", level, needle);
	}
}

static void validators(const char *what)
{
	int r;

	kt_assert_valid(what);
#define V(call)                                                                 \
	do {                                                                    \
		r = (call);                                                     \
		if (r)                                                          \
			kt_log_dump(#call);                                     \
		cr_assert_eq(r, 0, "%s = %d after %s", #call, r, what);          \
	} while (0)
	V(kmm_vmalloc_validate());
	V(kmm__vmap_blocks_validate());
	V(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0));
	V(kmm_cma_validate());
	V(kmm_kvfree_rcu_validate());
	if (row_mm)
		V(kmm_mm_validate(row_mm));
#undef V
}

/* After the bad call: validators, then nothing moved. */
static void end(const char *what)
{
	struct state now;

	validators(what);
	state_take(&now);
	cr_assert_eq(now.free + (uint64_t)now.pgtables, before.free + (uint64_t)before.pgtables,
		     "%s: free %llu + tables %ld, before %llu + %ld", what,
		     (unsigned long long)now.free, now.pgtables,
		     (unsigned long long)before.free, before.pgtables);
	if (now.pgtables == before.pgtables)
		kt_snap_assert_same(&before.snap, &now.snap, what);
	cr_assert_eq(now.busy, before.busy, "%s: busy vmap areas %lu, before %lu", what,
		     now.busy, before.busy);
	cr_assert_eq(now.vb_used, before.vb_used, "%s: vmap block pages used %lu, before %lu",
		     what, now.vb_used, before.vb_used);
	cr_assert_eq(now.vb_blocks, before.vb_blocks, "%s: vmap blocks", what);
	cr_assert_eq(now.nr_cma, before.nr_cma, "%s: CMA areas %u, before %u", what,
		     now.nr_cma, before.nr_cma);
	for (unsigned i = 0; i < now.nr_cma && i < 8; i++)
		cr_assert_eq(now.cma_used[i], before.cma_used[i], "%s: CMA area %u used", what, i);
	cr_assert_eq(now.kv_queued, before.kv_queued, "%s: kvfree_rcu queued %lu, before %lu",
		     what, now.kv_queued, before.kv_queued);
	if (row_mm) {
		cr_assert_eq(now.map_count, before.map_count, "%s: VMAs", what);
		cr_assert_eq(now.rss_file, before.rss_file, "%s: file RSS", what);
		cr_assert_eq(now.rss_anon, before.rss_anon, "%s: anon RSS", what);
		kmm_mm_destroy(row_mm);
		row_mm = NULL;
	}
}

/* The usual row: boot, [setup], begin(), bad call, checks, end(). */
static void boot(void)
{
	kt_boot(BOOT);
	row_mm = NULL;
}

/* ---- helpers for the rows ---------------------------------------------------------- */

static struct kmm_page *page0(void)
{
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);

	cr_assert_not_null(p);
	return p;
}

static struct kmm_page **page_array(unsigned n)
{
	struct kmm_page **v = calloc(n, sizeof(*v));

	cr_assert_not_null(v);
	for (unsigned i = 0; i < n; i++)
		v[i] = page0();
	return v;
}

static void page_array_free(struct kmm_page **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i])
			kmm___free_pages(v[i], 0);
	free(v);
}

static int nothing_mmap(struct kmm_mmap_file *f, struct kmm_vm_area_struct *vma)
{
	(void)f;
	(void)vma;
	return 0;
}

static struct kmm_mmap_file nothing_file = { .mmap = nothing_mmap };

/* A user mm with one file VMA of @n pages that maps nothing. */
static struct kmm_vm_area_struct *make_vma(unsigned long n, unsigned long flags)
{
	unsigned long a;
	struct kmm_vm_area_struct *vma;

	row_mm = kmm_mm_create(0);
	cr_assert_not_null(row_mm);
	a = kmm_vm_mmap(row_mm, 0, n * PG, RW, flags, 0, &nothing_file);
	cr_assert(!KMM_IS_ERR_VALUE(a), "mmap = %ld", (long)a);
	vma = kmm_find_vma(row_mm, a);
	cr_assert_not_null(vma);
	cr_assert_eq(vma->vm_start, a);
	return vma;
}

static void mm_lock(void)
{
	kmm_port_lock(&row_mm->mmap_lock);
}

static void mm_unlock(void)
{
	kmm_port_unlock(&row_mm->mmap_lock);
}

static struct kmm_cma *cma0(void)
{
	struct kmm_cma *c = kmm_cma_area(0);

	cr_assert_not_null(c, "the boot line makes a CMA area");
	return c;
}

/* A zone-crossing PFN range: the last pageblock of DMA and the first of DMA32. */
static unsigned long dma_end(void)
{
	struct kmm_zone *z = kt_zone(0, KMM_ZONE_DMA);

	return (unsigned long)kmm_zone_end_pfn(z);
}

/* ================= page allocator ================================================= */

Test(errors, alloc_pages_order_too_big)
{
	struct kmm_page *p;

	boot();
	begin();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, KMM_MAX_PAGE_ORDER + 1);
	cr_assert_null(p);
	expect_log(WARN, "MAX_PAGE_ORDER");
	end("alloc_pages(order 11)");
}

Test(errors, alloc_pages_order_too_big_nowarn)
{
	boot();
	begin();
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 40));
	expect_log(QUIET, NULL);
	end("alloc_pages(order 40, __GFP_NOWARN)");
}

Test(errors, get_free_pages_order_too_big)
{
	boot();
	begin();
	cr_assert_eq(kmm___get_free_pages(KMM_GFP_KERNEL, KMM_MAX_PAGE_ORDER + 1), 0UL);
	expect_log(WARN, "MAX_PAGE_ORDER");
	end("__get_free_pages(order 11)");
}

Test(errors, free_pages_null_page)
{
	boot();
	begin();
	kmm___free_pages(NULL, 0);
	expect_log(ERR, "__free_pages(NULL)");
	end("__free_pages(NULL)");
}

Test(errors, free_pages_double_free_pcp)
{
	struct kmm_page *p;

	boot();
	p = page0();
	kmm___free_pages(p, 0);
	cr_assert(kmm_page_test(p, KMM_PG_pcp), "an order-0 free goes to the per-CPU list");
	begin();
	kmm___free_pages(p, 0);
	expect_log(ERR, "double free");
	end("double __free_pages (page on a per-CPU list)");
}

Test(errors, free_pages_double_free_buddy)
{
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 5);
	cr_assert_not_null(p);
	kmm___free_pages(p, 5);
	kmm_drain_all_pages(NULL);
	begin();
	kmm___free_pages(p, 5);
	expect_log(ERR, "Bad page state");
	/* A page inside the (merged) free block, not its head. */
	kmm___free_pages(p + 1, 0);
	expect_log(ERR, "Bad page state");
	end("double __free_pages (page back in the buddy lists)");
}

Test(errors, free_pages_wrong_order)
{
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(p);
	begin();
	kmm___free_pages(p, 0);
	expect_log(ERR, "allocated with order 2");
	kmm___free_pages(p, 3);
	expect_log(ERR, "freed with order 3");
	cr_assert_eq(kmm_page_ref_count(p), 1, "the block is still allocated");
	end("__free_pages with the wrong order");
	kmm___free_pages(p, 2);
}

Test(errors, free_pages_tail_page)
{
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 2);
	cr_assert_not_null(p);
	begin();
	kmm___free_pages(p + 1, 0);
	expect_log(ERR, "tail page");
	end("__free_pages of a tail page");
	kmm___free_pages(p, 2);
}

Test(errors, free_pages_foreign_page)
{
	struct kmm_page fake;

	boot();
	memset(&fake, 0, sizeof(fake));
	begin();
	kmm___free_pages(&fake, 0);
	expect_log(ERR, "not a page of this machine");
	end("__free_pages of a struct page outside the memmap");
}

Test(errors, free_pages_misaligned_page)
{
	struct kmm_page *p, *mid;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	cr_assert_not_null(p);
	mid = (struct kmm_page *)((char *)p + sizeof(*p) / 2);
	begin();
	kmm___free_pages(mid, 0);
	expect_log(ERR, "not a page of this machine");
	kmm_put_page(mid);
	kmm_get_page(mid);
	cr_assert_eq(kt_log_count_level(ERR, "not a page of this machine"), 3);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	end("__free_pages/put_page/get_page of a pointer into the middle of a struct page");
	kmm___free_pages(p, 1);
}

Test(errors, free_pages_foreign_addr)
{
	static char not_memory[2 * 4096] __attribute__((aligned(4096)));

	boot();
	begin();
	kmm_free_pages((unsigned long)not_memory, 0);
	expect_log(ERR, "not a page-aligned direct-map address");
	end("free_pages of an address outside the direct map");
}

Test(errors, free_pages_unaligned_addr)
{
	struct kmm_page *p;

	boot();
	p = page0();
	begin();
	kmm_free_pages((unsigned long)kmm_page_address(p) + 8, 0);
	expect_log(ERR, "not a page-aligned direct-map address");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	end("free_pages of an unaligned address");
	kmm___free_pages(p, 0);
}

Test(errors, free_pages_zero_addr)
{
	boot();
	begin();
	kmm_free_pages(0, 0);
	expect_log(QUIET, NULL);
	end("free_pages(0)");
}

Test(errors, split_page_compound)
{
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 3);
	cr_assert_not_null(p);
	begin();
	kmm_split_page(p, 3);
	expect_log(ERR, "split_page");
	cr_assert(kmm_page_test(p + 1, KMM_PG_tail), "still compound");
	end("split_page of a compound block");
	kmm___free_pages(p, 3);
}

Test(errors, split_page_foreign_page)
{
	struct kmm_page fake, *p;

	boot();
	memset(&fake, 0, sizeof(fake));
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	cr_assert_not_null(p);
	begin();
	kmm_split_page(NULL, 0);
	kmm_split_page(&fake, 0);
	kmm_split_page((struct kmm_page *)((char *)p + sizeof(*p) / 2), 0);
	expect_log(ERR, "split_page");
	cr_assert_eq(kt_log_count_level(ERR, "not a page of this machine"), 3);
	cr_assert_eq(kmm_page_ref_count(p + 1), 0, "not split");
	end("split_page of NULL / a foreign / a misaligned struct page");
	kmm___free_pages(p, 1);
}

Test(errors, split_page_wrong_order)
{
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(p);
	begin();
	kmm_split_page(p, 3);
	expect_log(ERR, "split_page");
	cr_assert_eq(kmm_page_ref_count(p + 1), 0, "not split");
	end("split_page with a larger order than allocated");
	kmm___free_pages(p, 2);
}

Test(errors, put_page_free_page)
{
	struct kmm_page *p;

	boot();
	p = page0();
	kmm_put_page(p);
	begin();
	kmm_put_page(p);
	expect_log(ERR, "Bad page state");
	end("put_page of a free page");
}

Test(errors, get_page_free_page)
{
	struct kmm_page *p;

	boot();
	p = page0();
	kmm___free_pages(p, 0);
	begin();
	kmm_get_page(p);
	expect_log(ERR, "get_page on a free page");
	cr_assert_eq(kmm_page_ref_count(p), 0);
	end("get_page of a free page");
}

/* ================= vmalloc ======================================================== */

Test(errors, vmalloc_zero_size)
{
	boot();
	begin();
	cr_assert_null(kmm_vmalloc(0));
	expect_log(WARN, "zero-sized");
	end("vmalloc(0)");
}

Test(errors, vmalloc_size_overflow)
{
	boot();
	begin();
	cr_assert_null(kmm_vmalloc(~0UL - 100));
	expect_log(WARN, "exceeds total pages");
	end("vmalloc(ULONG_MAX - 100)");
}

Test(errors, vmalloc_above_totalram)
{
	boot();
	begin();
	cr_assert_null(kmm_vzalloc((kmm_machine.totalram_pages + 1) * PG));
	expect_log(WARN, "exceeds total pages");
	end("vzalloc(totalram + 1 page)");
}

Test(errors, vmalloc_above_totalram_nowarn)
{
	boot();
	begin();
	cr_assert_null(kmm___vmalloc((kmm_machine.totalram_pages + 1) * PG,
				     KMM_GFP_KERNEL | KMM___GFP_NOWARN));
	expect_log(QUIET, NULL);
	end("__vmalloc(totalram + 1 page, __GFP_NOWARN)");
}

Test(errors, vmalloc_node_range_align_not_pow2)
{
	boot();
	begin();
	cr_assert_null(kmm___vmalloc_node_range(4 * PG, 3 * PG, kmm_vmalloc_start(),
						kmm_vmalloc_end(), KMM_GFP_KERNEL,
						KMM_PAGE_KERNEL, 0, -1, NULL));
	expect_log(WARN, "not a power of two");
	end("__vmalloc_node_range(align 3 pages)");
}

Test(errors, vmalloc_node_range_outside_va)
{
	boot();
	begin();
	cr_assert_null(kmm___vmalloc_node_range(4 * PG, PG, 0x10000, 0x100000, KMM_GFP_KERNEL,
						KMM_PAGE_KERNEL, 0, -1, NULL));
	expect_log(WARN, "outside the kernel VA space");
	end("__vmalloc_node_range outside VMALLOC_START..END");
}

Test(errors, vmalloc_node_range_empty_range)
{
	unsigned long s = kmm_vmalloc_start();

	boot();
	s = kmm_vmalloc_start() + (1UL << 20);
	begin();
	cr_assert_null(kmm___vmalloc_node_range(4 * PG, PG, s, s, KMM_GFP_KERNEL,
						KMM_PAGE_KERNEL, 0, -1, NULL));
	expect_log(WARN, "vmalloc error");
	end("__vmalloc_node_range with start == end");
}

Test(errors, vfree_null)
{
	boot();
	begin();
	kmm_vfree(NULL);
	expect_log(QUIET, NULL);
	end("vfree(NULL)");
}

Test(errors, vfree_not_vmalloc_addr)
{
	void *heap = malloc(64);

	boot();
	cr_assert_not_null(heap);
	begin();
	kmm_vfree(heap);
	expect_log(WARN, "not a vmalloc address");
	end("vfree of a heap pointer");
	free(heap);
}

Test(errors, vfree_double)
{
	void *p;

	boot();
	p = kmm_vmalloc(3 * PG);
	cr_assert_not_null(p);
	kmm_vfree(p);
	begin();
	kmm_vfree(p);
	expect_log(WARN, "nonexistent vm area");
	end("double vfree");
}

Test(errors, vfree_inside_area)
{
	char *p;

	boot();
	p = kmm_vmalloc(4 * PG);
	cr_assert_not_null(p);
	begin();
	kmm_vfree(p + PG);
	expect_log(WARN, "nonexistent vm area");
	cr_assert_not_null(kmm_find_vm_area(p), "the area is still there");
	end("vfree of an address inside an area");
	kmm_vfree(p);
}

Test(errors, vfree_unaligned)
{
	char *p;

	boot();
	p = kmm_vmalloc(2 * PG);
	cr_assert_not_null(p);
	begin();
	kmm_vfree(p + 8);
	expect_log(WARN, "not page aligned");
	cr_assert_geq(kt_log_count_level(WARN, "nonexistent vm area"), 1);
	cr_assert_not_null(kmm_find_vm_area(p));
	end("vfree of an unaligned address inside an area");
	kmm_vfree(p);
}

Test(errors, remove_vm_area_unaligned)
{
	struct kmm_vm_struct *vm;

	boot();
	vm = kmm_get_vm_area(2 * PG, KMM_VM_IOREMAP);
	cr_assert_not_null(vm);
	begin();
	cr_assert_null(kmm_remove_vm_area((char *)vm->addr + 1));
	expect_log(WARN, "not page aligned");
	cr_assert_null(kmm_remove_vm_area((char *)vm->addr + PG));
	cr_assert_eq(kt_log_count_level(WARN, ""), 1, "an aligned miss is silent");
	end("remove_vm_area of an unaligned address / not an area start");
	kmm_free_vm_area(vm);
}

Test(errors, vfree_vm_map_ram_addr)
{
	struct kmm_page **pages;
	void *m;

	boot();
	pages = page_array(80);
	m = kmm_vm_map_ram(pages, 80, -1);	/* above VMAP_MAX_ALLOC: its own area */
	cr_assert_not_null(m);
	begin();
	kmm_vfree(m);
	expect_log(WARN, "nonexistent vm area");
	end("vfree of a vm_map_ram address");
	kmm_vm_unmap_ram(m, 80);
	page_array_free(pages, 80);
}

Test(errors, vfree_atomic_double)
{
	void *p;

	boot();
	p = kmm_vmalloc(2 * PG);
	cr_assert_not_null(p);
	kmm_vfree_atomic(p);
	begin();
	kmm_vfree_atomic(p);
	expect_log(WARN, "nonexistent vm area");
	end("vfree_atomic twice before the deferred free");
	kmm_vm_unmap_aliases();	/* runs the queued free */
	cr_assert_null(kmm_find_vm_area(p));
}

Test(errors, vfree_atomic_not_vmalloc_addr)
{
	int local;

	boot();
	begin();
	kmm_vfree_atomic(&local);
	expect_log(WARN, "not a vmalloc address");
	end("vfree_atomic of a stack address");
}

Test(errors, vunmap_double)
{
	struct kmm_page **pages;
	void *v;

	boot();
	pages = page_array(2);
	v = kmm_vmap(pages, 2, KMM_VM_MAP, KMM_PAGE_KERNEL);
	cr_assert_not_null(v);
	kmm_vunmap(v);
	begin();
	kmm_vunmap(v);
	expect_log(WARN, "vunmap() nonexistent vm area");
	end("double vunmap");
	page_array_free(pages, 2);
}

Test(errors, vmap_zero_count)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(1);
	begin();
	cr_assert_null(kmm_vmap(pages, 0, KMM_VM_MAP, KMM_PAGE_KERNEL));
	expect_log(QUIET, NULL);
	end("vmap(count 0)");
	page_array_free(pages, 1);
}

Test(errors, vmap_count_above_totalram)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(1);
	begin();
	cr_assert_null(kmm_vmap(pages, (unsigned)kmm_machine.totalram_pages + 1, KMM_VM_MAP,
				KMM_PAGE_KERNEL));
	expect_log(QUIET, NULL);
	end("vmap(count > totalram)");
	page_array_free(pages, 1);
}

Test(errors, vmap_flags_no_guard)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(2);
	begin();
	cr_assert_null(kmm_vmap(pages, 2, KMM_VM_MAP | KMM_VM_NO_GUARD, KMM_PAGE_KERNEL));
	expect_log(WARN, "not allowed");
	cr_assert_null(kmm_vmap(pages, 2, KMM_VM_MAP | KMM_VM_FLUSH_RESET_PERMS,
				KMM_PAGE_KERNEL));
	expect_log(WARN, "not allowed");
	end("vmap with VM_NO_GUARD / VM_FLUSH_RESET_PERMS");
	page_array_free(pages, 2);
}

Test(errors, vmap_null_page)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(4);
	kmm___free_pages(pages[2], 0);
	pages[2] = NULL;
	begin();
	cr_assert_null(kmm_vmap(pages, 4, KMM_VM_MAP, KMM_PAGE_KERNEL));
	expect_log(WARN, "no page at index 2");
	for (int i = 0; i < 4; i++)
		if (pages[i])
			cr_assert_eq(kmm_page_ref_count(pages[i]), 1);
	end("vmap of an array with a NULL page");
	page_array_free(pages, 4);
}

Test(errors, vmap_foreign_page)
{
	struct kmm_page **pages, fake;

	boot();
	memset(&fake, 0, sizeof(fake));
	pages = page_array(3);
	kmm___free_pages(pages[1], 0);
	pages[1] = &fake;
	begin();
	cr_assert_null(kmm_vmap(pages, 3, KMM_VM_MAP, KMM_PAGE_KERNEL));
	expect_log(WARN, "is not a page of this machine");
	pages[1] = (struct kmm_page *)((char *)pages[0] + 4);
	cr_assert_null(kmm_vmap(pages, 3, KMM_VM_MAP, KMM_PAGE_KERNEL));
	cr_assert_eq(kt_log_count_level(WARN, "is not a page of this machine"), 2);
	end("vmap of an array with a foreign / misaligned struct page pointer");
	pages[1] = NULL;
	page_array_free(pages, 3);
}

Test(errors, vm_map_ram_foreign_page)
{
	struct kmm_page **pages, fake;
	void *keep;

	boot();
	memset(&fake, 0, sizeof(fake));
	pages = page_array(5);
	keep = kmm_vm_map_ram(pages + 4, 1, -1);	/* this CPU's block exists */
	cr_assert_not_null(keep);
	kmm___free_pages(pages[2], 0);
	pages[2] = &fake;
	begin();
	cr_assert_null(kmm_vm_map_ram(pages, 4, -1));
	expect_log(WARN, "is not a page of this machine");
	end("vm_map_ram of an array with a foreign struct page pointer");
	pages[2] = NULL;
	kmm_vm_unmap_ram(keep, 1);
	page_array_free(pages, 5);
}

Test(errors, vmap_pfn_past_memory)
{
	unsigned long pfns[2];

	boot();
	pfns[0] = 100;
	pfns[1] = kmm_machine.max_pfn + 5;
	begin();
	cr_assert_null(kmm_vmap_pfn(pfns, 2, KMM_PAGE_KERNEL));
	expect_log(WARN, "vmap_pfn: pfn");
	end("vmap_pfn of a PFN past memory");
}

Test(errors, vmap_pfn_null_array)
{
	boot();
	begin();
	cr_assert_null(kmm_vmap_pfn(NULL, 4, KMM_PAGE_KERNEL));
	expect_log(QUIET, NULL);
	end("vmap_pfn(pfns NULL)");
}

Test(errors, vmap_pfn_zero_count)
{
	unsigned long pfn = 100;

	boot();
	begin();
	cr_assert_null(kmm_vmap_pfn(&pfn, 0, KMM_PAGE_KERNEL));
	expect_log(QUIET, NULL);
	end("vmap_pfn(count 0)");
}

Test(errors, vmalloc_to_page_not_vmalloc)
{
	int local;
	struct kmm_page *p;

	boot();
	p = page0();
	begin();
	cr_assert_null(kmm_vmalloc_to_page(&local));
	cr_assert_null(kmm_vmalloc_to_page(kmm_page_address(p)));
	cr_assert_eq(kmm_vmalloc_to_pfn(&local), 0UL);
	cr_assert(!kmm_is_vmalloc_addr(&local));
	cr_assert(!kmm_is_vmalloc_addr(NULL));
	expect_log(QUIET, NULL);
	end("vmalloc_to_page/pfn of non-vmalloc addresses");
	kmm___free_pages(p, 0);
}

Test(errors, vmalloc_to_page_guard_page)
{
	char *v;

	boot();
	v = kmm_vmalloc(2 * PG);
	cr_assert_not_null(v);
	begin();
	cr_assert_null(kmm_vmalloc_to_page(v + 2 * PG));
	expect_log(QUIET, NULL);
	end("vmalloc_to_page of the guard page");
	kmm_vfree(v);
}

Test(errors, kvmalloc_zero_size)
{
	boot();
	begin();
	cr_assert_null(kmm_kvmalloc(0, KMM_GFP_KERNEL));
	expect_log(QUIET, NULL);
	end("kvmalloc(0)");
}

Test(errors, kvmalloc_above_int_max)
{
	boot();
	begin();
	cr_assert_null(kmm_kvmalloc(3UL << 30, KMM_GFP_KERNEL));
	expect_log(WARN, "kvmalloc");
	cr_assert_null(kmm_kvmalloc(~0UL, KMM_GFP_KERNEL | KMM___GFP_NOWARN));
	expect_log(WARN, "kvmalloc");	/* still only the one line */
	cr_assert_eq(kt_log_count_level(WARN, ""), 1);
	end("kvmalloc(3 GiB / ULONG_MAX)");
}

Test(errors, kvfree_double_vmalloc)
{
	void *p;

	boot();
	p = kmm_kvmalloc(5 * PG, KMM_GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert(kmm_is_vmalloc_addr(p));
	kmm_kvfree(p);
	begin();
	kmm_kvfree(p);
	expect_log(WARN, "nonexistent vm area");
	end("double kvfree of a vmalloc-backed block");
}

Test(errors, get_vm_area_zero_size)
{
	boot();
	begin();
	cr_assert_null(kmm_get_vm_area(0, KMM_VM_IOREMAP));
	expect_log(QUIET, NULL);
	end("get_vm_area(0)");
}

Test(errors, get_vm_area_size_overflow)
{
	boot();
	begin();
	cr_assert_null(kmm_get_vm_area(~0UL - 10, KMM_VM_IOREMAP));
	cr_assert_null(kmm_get_vm_area(~0UL - PG + 2, KMM_VM_NO_GUARD));
	expect_log(QUIET, NULL);
	end("get_vm_area(ULONG_MAX - 10)");
}

Test(errors, get_vm_area_too_big)
{
	boot();
	begin();
	cr_assert_null(kmm_get_vm_area(~0UL - PG + 1, KMM_VM_NO_GUARD));
	expect_log(WARN, "failed");
	end("get_vm_area(ULONG_MAX - 4095, VM_NO_GUARD)");
}

Test(errors, get_vm_area_outside_va)
{
	boot();
	begin();
	cr_assert_null(kmm___get_vm_area(4 * PG, KMM_VM_IOREMAP, 0x1000, 0x800000));
	expect_log(WARN, "outside the kernel VA space");
	end("__get_vm_area outside VMALLOC_START..END");
}

Test(errors, alloc_vm_area_zero_size)
{
	kmm_pte_t *ptes[1];

	boot();
	begin();
	cr_assert_null(kmm_alloc_vm_area(0, ptes));
	expect_log(QUIET, NULL);
	end("alloc_vm_area(0)");
}

Test(errors, free_vm_area_foreign)
{
	struct kmm_vm_struct fake;
	int local;

	boot();
	memset(&fake, 0, sizeof(fake));
	fake.addr = &local;
	fake.size = 2 * PG;
	begin();
	kmm_free_vm_area(&fake);
	expect_log(ERR, "not a live area");
	end("free_vm_area of a vm_struct that is no area");
}

Test(errors, free_vm_area_copy)
{
	struct kmm_vm_struct *vm, copy;

	boot();
	vm = kmm_get_vm_area(2 * PG, KMM_VM_IOREMAP);
	cr_assert_not_null(vm);
	copy = *vm;
	begin();
	kmm_free_vm_area(&copy);
	expect_log(ERR, "not a live area");
	cr_assert_eq(kmm_find_vm_area(vm->addr), vm, "the real area is still there");
	end("free_vm_area of a copy of a live area's vm_struct");
	kmm_free_vm_area(vm);
	cr_assert_null(kmm_find_vm_area(copy.addr));
}

Test(errors, free_vm_area_vmalloc_area)
{
	struct kmm_vm_struct *vm;
	char *p;

	boot();
	p = kmm_vmalloc(3 * PG);
	cr_assert_not_null(p);
	vm = kmm_find_vm_area(p);
	cr_assert_not_null(vm);
	begin();
	kmm_free_vm_area(vm);
	expect_log(WARN, "use vfree()");
	cr_assert_eq(kmm_find_vm_area(p), vm);
	p[0] = 1;	/* still mapped */
	end("free_vm_area of a vmalloc() area");
	kmm_vfree(p);
}

Test(errors, free_vm_area_null)
{
	boot();
	begin();
	kmm_free_vm_area(NULL);
	expect_log(QUIET, NULL);
	end("free_vm_area(NULL)");
}

/* ================= vm_map_ram ===================================================== */

Test(errors, vm_map_ram_zero_count)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(1);
	begin();
	cr_assert_null(kmm_vm_map_ram(pages, 0, -1));
	expect_log(WARN, "count 0");
	end("vm_map_ram(count 0)");
	page_array_free(pages, 1);
}

Test(errors, vm_map_ram_null_array)
{
	boot();
	begin();
	cr_assert_null(kmm_vm_map_ram(NULL, 4, -1));
	cr_assert_null(kmm_vm_map_ram_prot(NULL, 70, -1, KMM_PAGE_KERNEL));
	expect_log(QUIET, NULL);
	end("vm_map_ram(pages NULL)");
}

Test(errors, vm_map_ram_count_above_totalram)
{
	struct kmm_page **pages;

	boot();
	pages = page_array(1);
	begin();
	cr_assert_null(kmm_vm_map_ram(pages, (unsigned)kmm_machine.totalram_pages + 1, -1));
	expect_log(QUIET, NULL);
	end("vm_map_ram(count > totalram)");
	page_array_free(pages, 1);
}

Test(errors, vm_map_ram_null_page)
{
	struct kmm_page **pages;
	void *keep;

	boot();
	pages = page_array(9);
	keep = kmm_vm_map_ram(pages + 8, 1, -1);	/* this CPU's block exists */
	cr_assert_not_null(keep);
	kmm___free_pages(pages[5], 0);
	pages[5] = NULL;
	begin();
	cr_assert_null(kmm_vm_map_ram(pages, 8, -1));
	expect_log(WARN, "no page at index 5");
	end("vm_map_ram of an array with a NULL page");
	kmm_vm_unmap_ram(keep, 1);
	page_array_free(pages, 9);
}

Test(errors, vm_unmap_ram_wrong_count)
{
	struct kmm_page **pages;
	void *m;

	boot();
	pages = page_array(4);
	m = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_not_null(m);
	begin();
	kmm_vm_unmap_ram(m, 2);
	expect_log(WARN, "was mapped with 4 pages, not 2");
	cr_assert_eq(kmm_vmalloc_to_page(m), pages[0], "still mapped");
	end("vm_unmap_ram with a smaller count");
	kmm_vm_unmap_ram(m, 4);
	page_array_free(pages, 4);
}

Test(errors, vm_unmap_ram_wrong_count_large)
{
	struct kmm_page **pages;
	void *m;

	boot();
	pages = page_array(70);
	m = kmm_vm_map_ram(pages, 70, -1);
	cr_assert_not_null(m);
	begin();
	kmm_vm_unmap_ram(m, 65);
	expect_log(WARN, "no vm_map_ram() mapping of 65 pages");
	cr_assert_eq(kmm_vmalloc_to_page(m), pages[0], "still mapped");
	end("vm_unmap_ram of a 70-page mapping with count 65");
	kmm_vm_unmap_ram(m, 70);
	page_array_free(pages, 70);
}

Test(errors, vm_unmap_ram_not_vmalloc)
{
	struct kmm_page *p;

	boot();
	p = page0();
	begin();
	kmm_vm_unmap_ram(kmm_page_address(p), 1);
	expect_log(WARN, "bad address");
	end("vm_unmap_ram of a direct-map address");
	kmm___free_pages(p, 0);
}

Test(errors, vm_unmap_ram_unaligned)
{
	struct kmm_page **pages;
	char *m;

	boot();
	pages = page_array(2);
	m = kmm_vm_map_ram(pages, 2, -1);
	cr_assert_not_null(m);
	begin();
	kmm_vm_unmap_ram(m + 16, 2);
	expect_log(WARN, "bad address");
	end("vm_unmap_ram of an unaligned address");
	kmm_vm_unmap_ram(m, 2);
	page_array_free(pages, 2);
}

Test(errors, vm_unmap_ram_zero_count)
{
	struct kmm_page **pages;
	void *m;

	boot();
	pages = page_array(2);
	m = kmm_vm_map_ram(pages, 2, -1);
	cr_assert_not_null(m);
	begin();
	kmm_vm_unmap_ram(m, 0);
	expect_log(WARN, "bad address");
	end("vm_unmap_ram(count 0)");
	kmm_vm_unmap_ram(m, 2);
	page_array_free(pages, 2);
}

Test(errors, vm_unmap_ram_double)
{
	struct kmm_page **pages;
	void *m, *keep;

	boot();
	pages = page_array(3);
	keep = kmm_vm_map_ram(pages + 2, 1, -1);	/* keeps the block alive */
	m = kmm_vm_map_ram(pages, 2, -1);
	cr_assert_not_null(m);
	cr_assert_not_null(keep);
	kmm_vm_unmap_ram(m, 2);
	begin();
	kmm_vm_unmap_ram(m, 2);
	expect_log(WARN, "no vm_map_ram() mapping");
	end("double vm_unmap_ram");
	kmm_vm_unmap_ram(keep, 1);
	page_array_free(pages, 3);
}

Test(errors, vm_unmap_ram_vmalloc_area)
{
	void *v;

	boot();
	v = kmm_vmalloc(80 * PG);
	cr_assert_not_null(v);
	begin();
	kmm_vm_unmap_ram(v, 80);
	expect_log(WARN, "no vm_map_ram() mapping of 80 pages");
	kmm_vm_unmap_ram(v, 4);
	expect_log(WARN, "not in a vmap block");
	cr_assert_not_null(kmm_find_vm_area(v));
	end("vm_unmap_ram of a vmalloc area");
	kmm_vfree(v);
}

/* ================= user mms: mmap / munmap ======================================== */

Test(errors, mm_create_unaligned_size)
{
	boot();
	begin();
	cr_assert_null(kmm_mm_create(PG + 1));
	expect_log(WARN, "kmm_mm_create");
	end("kmm_mm_create(PAGE_SIZE + 1)");
}

Test(errors, mmap_init_mm)
{
	boot();
	begin();
	cr_assert_eq((long)kmm_vm_mmap(&kmm_init_mm, 0, PG, RW, KMM_MAP_PRIVATE, 0, NULL),
		     -KMM_EINVAL);
	cr_assert_eq(kmm_vm_munmap(&kmm_init_mm, kmm_vmalloc_start(), PG), -KMM_EINVAL);
	cr_assert_eq((long)kmm_vm_mmap(NULL, 0, PG, RW, KMM_MAP_PRIVATE, 0, NULL), -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("mmap/munmap on init_mm / NULL");
}

Test(errors, follow_pfn_unmapped)
{
	unsigned long a, pfn = 77;

	boot();
	row_mm = kmm_mm_create(0);
	cr_assert_not_null(row_mm);
	a = kmm_vm_mmap(row_mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &nothing_file);
	cr_assert(!KMM_IS_ERR_VALUE(a));
	begin();
	cr_assert_eq(kmm_follow_pfn(row_mm, a, &pfn), -KMM_EFAULT);
	cr_assert_eq(kmm_follow_pfn(row_mm, row_mm->mmap_base - PG, &pfn), -KMM_EFAULT);
	cr_assert_eq(pfn, 77UL, "*pfn untouched");
	expect_log(QUIET, NULL);
	end("follow_pfn of an unmapped address / one outside the mm");
}

Test(errors, mm_destroy_init_mm)
{
	boot();
	begin();
	kmm_mm_destroy(&kmm_init_mm);
	expect_log(WARN, "not a user mm");
	end("kmm_mm_destroy(&init_mm)");
}

static void mmap_row(unsigned long addr, unsigned long len, unsigned long prot,
		     unsigned long flags, unsigned long pgoff, struct kmm_mmap_file *file,
		     long want, const char *what)
{
	unsigned long r;

	boot();
	row_mm = kmm_mm_create(0);
	cr_assert_not_null(row_mm);
	begin();
	r = kmm_vm_mmap(row_mm, addr ? row_mm->mmap_base + addr : 0, len, prot, flags, pgoff,
			file);
	cr_assert_eq((long)r, want, "%s: %ld, want %ld", what, (long)r, want);
	expect_log(QUIET, NULL);
	end(what);
}

Test(errors, mmap_zero_len)
{
	mmap_row(0, 0, RW, KMM_MAP_PRIVATE, 0, NULL, -KMM_EINVAL, "mmap(len 0)");
}

Test(errors, mmap_len_overflow)
{
	mmap_row(0, ~0UL - 5, RW, KMM_MAP_PRIVATE, 0, NULL, -KMM_ENOMEM, "mmap(len ULONG_MAX - 5)");
}

Test(errors, mmap_fixed_unaligned)
{
	mmap_row(PG + 12, PG, RW, KMM_MAP_PRIVATE | KMM_MAP_FIXED, 0, NULL, -KMM_EINVAL,
		 "mmap(MAP_FIXED, unaligned address)");
}

Test(errors, mmap_fixed_outside_mm)
{
	mmap_row(64UL << 30, 4 * PG, RW, KMM_MAP_PRIVATE | KMM_MAP_FIXED, 0, NULL, -KMM_EINVAL,
		 "mmap(MAP_FIXED past the mm's end)");
}

Test(errors, mmap_no_type)
{
	mmap_row(0, PG, RW, 0, 0, NULL, -KMM_EINVAL, "mmap(neither MAP_SHARED nor MAP_PRIVATE)");
}

Test(errors, mmap_bad_prot)
{
	mmap_row(0, PG, RW | 0x40, KMM_MAP_PRIVATE, 0, NULL, -KMM_EINVAL, "mmap(prot 0x43)");
}

Test(errors, mmap_shared_anonymous)
{
	mmap_row(0, PG, RW, KMM_MAP_SHARED | KMM_MAP_ANONYMOUS, 0, NULL, -KMM_EINVAL,
		 "mmap(MAP_SHARED | MAP_ANONYMOUS)");
}

Test(errors, mmap_pgoff_overflow)
{
	mmap_row(0, 4 * PG, RW, KMM_MAP_SHARED, ~0UL - 1, &nothing_file, -KMM_EOVERFLOW,
		 "mmap(pgoff + pages wraps)");
}

Test(errors, mmap_file_without_mmap)
{
	static struct kmm_mmap_file no_method = { .mmap = NULL };

	mmap_row(0, PG, RW, KMM_MAP_SHARED, 0, &no_method, -KMM_ENODEV,
		 "mmap of a file without an mmap method");
}

static void munmap_row(unsigned long off, unsigned long len, const char *what)
{
	unsigned long a;
	int r;

	boot();
	row_mm = kmm_mm_create(0);
	cr_assert_not_null(row_mm);
	a = kmm_vm_mmap(row_mm, 0, 4 * PG, RW, KMM_MAP_PRIVATE | KMM_MAP_POPULATE, 0, NULL);
	cr_assert(!KMM_IS_ERR_VALUE(a));
	begin();
	r = kmm_vm_munmap(row_mm, a + off, len);
	cr_assert_eq(r, -KMM_EINVAL, "%s: %d", what, r);
	expect_log(QUIET, NULL);
	end(what);
}

Test(errors, munmap_unaligned)
{
	munmap_row(100, PG, "munmap of an unaligned start");
}

Test(errors, munmap_zero_len)
{
	munmap_row(0, 0, "munmap(len 0)");
}

Test(errors, munmap_outside_mm)
{
	munmap_row(128UL << 30, PG, "munmap past the mm's end");
}

Test(errors, munmap_len_overflow)
{
	munmap_row(0, ~0UL - PG, "munmap(len ULONG_MAX - PAGE_SIZE)");
}

/* ================= remap_vmalloc_range ============================================ */

static void remap_row(void *kaddr, unsigned long uoff, unsigned long pgoff, unsigned long size,
		      struct kmm_vm_area_struct *vma, int want, const char *what)
{
	int r;

	begin();
	mm_lock();
	r = kmm_remap_vmalloc_range_partial(vma, vma->vm_start + uoff, kaddr, pgoff, size);
	mm_unlock();
	cr_assert_eq(r, want, "%s: %d, want %d", what, r, want);
	expect_log(QUIET, NULL);
	end(what);
}

Test(errors, remap_vmalloc_not_usermap)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc(4 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 0, 0, 4 * PG, vma, -KMM_EINVAL, "remap of a vmalloc() (not VM_USERMAP) area");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_pgoff_overflow)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 0, (~0UL >> KMM_PAGE_SHIFT) + 2, PG, vma, -KMM_EINVAL,
		  "remap with pgoff << PAGE_SHIFT overflowing");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_past_area)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 0, 1, 4 * PG, vma, -KMM_EINVAL, "remap of pgoff 1 + 4 pages of a 4-page area");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_size_overflow)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 0, 2, ~0UL - PG, vma, -KMM_EINVAL, "remap with size + offset wrapping");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_not_vmalloc)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = page0();
	vma = make_vma(1, KMM_MAP_SHARED);
	remap_row(kmm_page_address(p), 0, 0, PG, vma, -KMM_EINVAL,
		  "remap of a direct-map address");
	kmm___free_pages(p, 0);
}

Test(errors, remap_vmalloc_unaligned_kaddr)
{
	struct kmm_vm_area_struct *vma;
	char *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	vma = make_vma(2, KMM_MAP_SHARED);
	remap_row(v + 64, 0, 0, PG, vma, -KMM_EINVAL, "remap of an unaligned kernel address");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_unaligned_uaddr)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 8, 0, PG, vma, -KMM_EINVAL, "remap at an unaligned user address");
	kmm_vfree(v);
}

Test(errors, remap_vmalloc_freed_area)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(4 * PG);
	kmm_vfree(v);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 0, 0, 4 * PG, vma, -KMM_EINVAL, "remap of a vfree()d area");
}

Test(errors, remap_vmalloc_outside_vma)
{
	struct kmm_vm_area_struct *vma;
	void *v;

	boot();
	v = kmm_vmalloc_user(8 * PG);
	vma = make_vma(4, KMM_MAP_SHARED);
	remap_row(v, 2 * PG, 0, 4 * PG, vma, -KMM_EFAULT, "remap of 4 pages at page 2 of a 4-page VMA");
	kmm_vfree(v);
}

/* ================= vm_insert_page(s), remap_pfn_range, vmf_insert_pfn ============== */

static void insert_row(struct kmm_vm_area_struct *vma, unsigned long off, struct kmm_page *page,
		       int want, const char *what)
{
	int r;

	int mc = atomic_load(&page->_mapcount), ref = kmm_page_ref_count(page);

	begin();
	mm_lock();
	r = kmm_vm_insert_page(vma, vma->vm_start + off, page);
	mm_unlock();
	cr_assert_eq(r, want, "%s: %d, want %d", what, r, want);
	expect_log(QUIET, NULL);
	cr_assert_eq(atomic_load(&page->_mapcount), mc, "%s: a map count was taken", what);
	cr_assert_eq(kmm_page_ref_count(page), ref, "%s: a reference was taken", what);
	end(what);
}

Test(errors, insert_page_outside_vma)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = page0();
	vma = make_vma(2, KMM_MAP_SHARED);
	insert_row(vma, 2 * PG, p, -KMM_EFAULT, "vm_insert_page at vm_end");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	kmm___free_pages(p, 0);
}

Test(errors, insert_page_free_page)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = page0();
	kmm___free_pages(p, 0);
	vma = make_vma(2, KMM_MAP_SHARED);
	insert_row(vma, 0, p, -KMM_EINVAL, "vm_insert_page of a free page");
}

Test(errors, insert_page_foreign_page)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page fake;

	boot();
	memset(&fake, 0, sizeof(fake));
	atomic_store(&fake._refcount, 1);
	vma = make_vma(2, KMM_MAP_SHARED);
	insert_row(vma, 0, &fake, -KMM_EINVAL, "vm_insert_page of a struct page outside the memmap");
}

Test(errors, insert_page_misaligned_page)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	cr_assert_not_null(p);
	vma = make_vma(2, KMM_MAP_SHARED);
	insert_row(vma, 0, (struct kmm_page *)((char *)p + sizeof(*p) / 2), -KMM_EINVAL,
		   "vm_insert_page of a pointer into the middle of a struct page");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	kmm___free_pages(p, 1);
}

Test(errors, insert_page_unaligned_addr)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = page0();
	vma = make_vma(2, KMM_MAP_SHARED);
	insert_row(vma, 100, p, -KMM_EINVAL, "vm_insert_page at an unaligned address");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	kmm___free_pages(p, 0);
}

Test(errors, insert_page_pfnmap_vma)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;

	boot();
	p = page0();
	vma = make_vma(2, KMM_MAP_SHARED);
	vma->vm_flags |= KMM_VM_PFNMAP | KMM_VM_IO;
	insert_row(vma, 0, p, -KMM_EINVAL, "vm_insert_page into a VM_PFNMAP VMA");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	kmm___free_pages(p, 0);
}

Test(errors, insert_page_already_mapped)
{
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p, *q;
	int r;

	boot();
	p = page0();
	q = page0();
	vma = make_vma(2, KMM_MAP_SHARED);
	mm_lock();
	r = kmm_vm_insert_page(vma, vma->vm_start, p);
	mm_unlock();
	cr_assert_eq(r, 0);
	insert_row(vma, 0, q, -KMM_EBUSY, "vm_insert_page where a page is mapped");
	cr_assert_eq(kmm_page_ref_count(q), 1);
	kmm___free_pages(q, 0);
	kmm_put_page(p);	/* the mm held the other reference: destroyed by end() */
}

Test(errors, insert_pages_null_array)
{
	struct kmm_vm_area_struct *vma;
	unsigned long num = 3;
	int r;

	boot();
	vma = make_vma(4, KMM_MAP_SHARED);
	begin();
	mm_lock();
	r = kmm_vm_insert_pages(vma, vma->vm_start, NULL, &num);
	mm_unlock();
	cr_assert_eq(r, -KMM_EINVAL);
	cr_assert_eq(num, 3UL, "nothing inserted");
	expect_log(QUIET, NULL);
	end("vm_insert_pages(pages NULL, 3)");
}

static void pfn_row(unsigned long n, unsigned long flags, unsigned long off, unsigned long pfn,
		    unsigned long size, int want, bool premap, int level, const char *needle,
		    const char *what)
{
	struct kmm_vm_area_struct *vma;
	int r;

	boot();
	vma = make_vma(n, flags);
	if (premap) {
		mm_lock();
		r = kmm_remap_pfn_range(vma, vma->vm_start, 200, PG, vma->vm_page_prot);
		mm_unlock();
		cr_assert_eq(r, 0);
	}
	begin();
	mm_lock();
	r = kmm_remap_pfn_range(vma, vma->vm_start + off, pfn, size, vma->vm_page_prot);
	mm_unlock();
	cr_assert_eq(r, want, "%s: %d, want %d", what, r, want);
	expect_log(level, needle);
	if (!premap) {
		unsigned long got;

		cr_assert_neq(kmm_follow_pfn(row_mm, vma->vm_start, &got), 0, "nothing mapped");
	}
	end(what);
}

Test(errors, remap_pfn_unaligned_addr)
{
	pfn_row(4, KMM_MAP_SHARED, 12, 100, PG, -KMM_EINVAL, false, WARN, "not page aligned",
		"remap_pfn_range at an unaligned address");
}

Test(errors, remap_pfn_zero_size)
{
	pfn_row(4, KMM_MAP_SHARED, 0, 100, 0, -KMM_EINVAL, false, QUIET, NULL,
		"remap_pfn_range(size 0)");
}

Test(errors, remap_pfn_past_memory)
{
	pfn_row(4, KMM_MAP_SHARED, 0, (64UL << 20) / PG - 2, 4 * PG, -KMM_EINVAL, false, QUIET, NULL,
		"remap_pfn_range of PFNs past memory");
}

Test(errors, remap_pfn_outside_vma)
{
	pfn_row(4, KMM_MAP_SHARED, 2 * PG, 100, 4 * PG, -KMM_EINVAL, false, QUIET, NULL,
		"remap_pfn_range past vm_end");
}

Test(errors, remap_pfn_partial_cow)
{
	pfn_row(4, KMM_MAP_PRIVATE, 0, 100, 2 * PG, -KMM_EINVAL, false, QUIET, NULL,
		"remap_pfn_range of half a private writable VMA");
}

Test(errors, remap_pfn_already_mapped)
{
	pfn_row(4, KMM_MAP_SHARED, 0, 300, 2 * PG, -KMM_EBUSY, true, QUIET, NULL,
		"remap_pfn_range over a mapped PFN");
}

Test(errors, vmf_insert_pfn_outside_vma)
{
	struct kmm_vm_area_struct *vma;
	unsigned r;

	boot();
	vma = make_vma(2, KMM_MAP_SHARED);
	vma->vm_flags |= KMM_VM_PFNMAP | KMM_VM_IO;
	begin();
	mm_lock();
	r = kmm_vmf_insert_pfn(vma, vma->vm_end, 100);
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS);
	r = kmm_vmf_insert_pfn(vma, vma->vm_start, kmm_machine.max_pfn);
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS);
	mm_unlock();
	expect_log(QUIET, NULL);
	end("vmf_insert_pfn outside the VMA / past memory");
}

Test(errors, vmf_insert_pfn_not_pfnmap)
{
	struct kmm_vm_area_struct *vma;
	unsigned r;

	boot();
	vma = make_vma(2, KMM_MAP_SHARED);
	begin();
	mm_lock();
	r = kmm_vmf_insert_pfn(vma, vma->vm_start, 100);
	mm_unlock();
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS);
	expect_log(QUIET, NULL);
	end("vmf_insert_pfn into a VMA of neither PFNMAP nor MIXEDMAP");
}

/* ================= kvfree_rcu ===================================================== */

Test(errors, kvfree_rcu_null)
{
	boot();
	begin();
	kmm_kvfree_call_rcu(NULL, NULL);
	kmm_kvfree_rcu_barrier();
	expect_log(QUIET, NULL);
	end("kvfree_rcu_mightsleep(NULL)");
	cr_assert_eq(before.kv_queued, 0UL);
}

Test(errors, kvfree_rcu_freed_vmalloc)
{
	void *p;

	boot();
	p = kmm_vmalloc(2 * PG);
	cr_assert_not_null(p);
	kmm_vfree(p);
	begin();
	kmm_kvfree_call_rcu(NULL, p);
	kmm_kvfree_rcu_barrier();
	expect_log(WARN, "nonexistent vm area");
	/* The queue took it (one object); the free after the grace period refused it. */
	before.kv_queued++;
	{
		struct kmm_kvfree_rcu_stats st;

		kmm_kvfree_rcu_get_stats(&st);
		cr_assert_eq(st.nr_freed, st.nr_queued, "the barrier ran the free");
	}
	end("kvfree_rcu of a vfree()d pointer");
}

/* ================= isolation and migration ========================================= */

Test(errors, isolate_movable_page_kernel_page)
{
	struct kmm_list_head list;
	struct kmm_page *p;

	boot();
	kmm_list_init(&list);
	p = page0();
	begin();
	cr_assert_eq(kmm_isolate_movable_page(p, &list), -KMM_EBUSY);
	cr_assert_eq(kmm_isolate_movable_page(NULL, &list), -KMM_EBUSY);
	cr_assert(kmm_list_empty(&list));
	cr_assert_eq(kmm_page_ref_count(p), 1);
	expect_log(QUIET, NULL);
	end("isolate_movable_page of a kernel page / NULL");
	kmm___free_pages(p, 0);
}

Test(errors, migrate_pages_null_list)
{
	unsigned done = 7;

	boot();
	begin();
	cr_assert_eq(kmm_migrate_pages(NULL, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &done),
		     -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("migrate_pages(NULL list)");
}

static unsigned long dma32_pfn(void)
{
	return dma_end() + 4 * PB;
}

Test(errors, pfnblock_migratetype_past_memory)
{
	boot();
	begin();
	cr_assert_eq(kmm_get_pfnblock_migratetype(kmm_machine.max_pfn), -KMM_EINVAL);
	cr_assert_eq(kmm_get_pfnblock_migratetype(~0ULL), -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("get_pfnblock_migratetype past memory");
}

Test(errors, isolate_empty_range)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	begin();
	cr_assert_eq(kmm_start_isolate_page_range(s, s, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EINVAL);
	cr_assert_eq(kmm_start_isolate_page_range(s + PB, s, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("start_isolate_page_range of an empty range");
}

Test(errors, isolate_past_memory)
{
	unsigned long m;

	boot();
	m = kmm_machine.max_pfn;
	begin();
	cr_assert_eq(kmm_start_isolate_page_range(m - PB, m + PB, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EINVAL);
	cr_assert_eq(kmm_start_isolate_page_range(m + PB, m + 2 * PB, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("start_isolate_page_range past memory");
}

Test(errors, isolate_across_zones)
{
	unsigned long e;

	boot();
	e = dma_end();
	begin();
	cr_assert_eq(kmm_start_isolate_page_range(e - PB, e + PB, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EINVAL);
	expect_log(QUIET, NULL);
	end("start_isolate_page_range across DMA/DMA32");
}

Test(errors, isolate_already_isolated)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	cr_assert_eq(kmm_start_isolate_page_range(s, s + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	begin();
	cr_assert_eq(kmm_start_isolate_page_range(s - PB, s + PB, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EBUSY);
	cr_assert_eq(kmm_contig_last_error().reason, KMM_CONTIG_FAIL_ISOLATED);
	cr_assert_eq(kmm_get_pfnblock_migratetype(s - PB) == KMM_MIGRATE_ISOLATE, false,
		     "the first pageblock was given back");
	expect_log(QUIET, NULL);
	end("start_isolate_page_range over an isolated pageblock");
	kmm_undo_isolate_page_range(s, s + PB);
}

Test(errors, isolate_unmovable_page)
{
	struct kmm_page *p;
	unsigned long pfn;

	boot();
	p = page0();
	pfn = (unsigned long)kmm_page_to_pfn(p);
	begin();
	cr_assert_eq(kmm_start_isolate_page_range(pfn, pfn + 1, KMM_PB_ISOLATE_MODE_OTHER),
		     -KMM_EBUSY);
	/* The first unmovable page of its pageblock is named: ours or a neighbour. */
	cr_assert_eq(kmm_contig_last_error().pfn / PB, (uint64_t)pfn / PB);
	cr_assert_eq(kmm_contig_last_error().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	expect_log(QUIET, NULL);
	end("start_isolate_page_range over an unmovable page");
	kmm___free_pages(p, 0);
}

Test(errors, test_pages_isolated_not_isolated)
{
	unsigned long s, e;

	boot();
	s = dma32_pfn();
	e = dma_end();
	begin();
	cr_assert_eq(kmm_test_pages_isolated(s, s + PB, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	cr_assert_eq(kmm_test_pages_isolated(e - 1, e + 1, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	cr_assert_eq(kmm_test_pages_isolated(kmm_machine.max_pfn, kmm_machine.max_pfn + 1,
					     KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	expect_log(QUIET, NULL);
	end("test_pages_isolated of a range not isolated / across zones / past memory");
}

Test(errors, undo_isolate_not_isolated)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	begin();
	kmm_undo_isolate_page_range(s, s + 2 * PB);
	kmm_undo_isolate_page_range(kmm_machine.max_pfn, kmm_machine.max_pfn + PB);
	expect_log(QUIET, NULL);
	end("undo_isolate_page_range of pageblocks not isolated");
}

/* ================= alloc_contig_range, free_contig_range, alloc_contig_pages ======= */

Test(errors, contig_range_empty)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	begin();
	cr_assert_eq(kmm_alloc_contig_range(s, s, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), -KMM_EINVAL);
	expect_log(WARN, "empty range, past memory or across zones");
	end("alloc_contig_range(start == end)");
}

Test(errors, contig_range_past_memory)
{
	unsigned long m;

	boot();
	m = kmm_machine.max_pfn;
	begin();
	cr_assert_eq(kmm_alloc_contig_range(m - 4, m + 4, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL),
		     -KMM_EINVAL);
	expect_log(WARN, "empty range, past memory or across zones");
	end("alloc_contig_range past memory");
}

Test(errors, contig_range_across_zones)
{
	unsigned long e;

	boot();
	e = dma_end();
	begin();
	cr_assert_eq(kmm_alloc_contig_range(e - 8, e + 8, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL),
		     -KMM_EINVAL);
	expect_log(WARN, "across zones");
	cr_assert_eq(kmm_alloc_contig_range(e - 8, e + 8, KMM_ACR_FLAGS_NONE,
					    KMM_GFP_KERNEL | KMM___GFP_NOWARN), -KMM_EINVAL);
	cr_assert_eq(kt_log_count_level(WARN, ""), 1, "__GFP_NOWARN: no second line");
	end("alloc_contig_range across DMA/DMA32");
}

Test(errors, contig_range_bad_flags)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	begin();
	cr_assert_eq(kmm_alloc_contig_range(s, s + 8, 0x80, KMM_GFP_KERNEL), -KMM_EINVAL);
	expect_log(WARN, "bad flags");
	end("alloc_contig_range(acr_flags 0x80)");
}

Test(errors, contig_range_mt_unmovable)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	begin();
	cr_assert_eq(kmm_alloc_contig_range_mt(s, s + 8, KMM_MIGRATE_UNMOVABLE), -KMM_EINVAL);
	expect_log(WARN, "neither MOVABLE nor CMA");
	end("alloc_contig_range(..., MIGRATE_UNMOVABLE)");
}

Test(errors, contig_range_unmovable_page)
{
	struct kmm_page *p;
	unsigned long pfn;

	boot();
	p = page0();
	pfn = (unsigned long)kmm_page_to_pfn(p);
	begin();
	cr_assert_eq(kmm_alloc_contig_range(pfn - (pfn % 8), pfn - (pfn % 8) + 8,
					    KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), -KMM_EBUSY);
	expect_log(INFO, "PFNs busy");
	cr_assert_eq(kmm_contig_last_error().pfn / PB, (uint64_t)pfn / PB);
	cr_assert_eq(kmm_contig_last_error().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	end("alloc_contig_range over an unmovable page");
	kmm___free_pages(p, 0);
}

Test(errors, free_contig_range_past_memory)
{
	unsigned long m;
	int r;

	boot();
	m = kmm_machine.max_pfn;
	/* The last 4 pages of memory (the CMA area's), allocated: the range runs 4 past them. */
	r = kmm_alloc_contig_range(m - 4, m, KMM_ACR_FLAGS_CMA, KMM_GFP_KERNEL);
	cr_assert_eq(r, 0);
	begin();
	kmm_free_contig_range(m - 4, 8);
	expect_log(ERR, "past memory");
	for (unsigned long i = m - 4; i < m; i++)
		cr_assert_eq(kmm_page_ref_count(kmm_pfn_to_page(i)), 1, "pfn %#lx freed", i);
	end("free_contig_range running past memory");
	kmm_free_contig_range(m - 4, 4);
}

Test(errors, free_contig_range_free_pages)
{
	unsigned long s;

	boot();
	s = dma32_pfn();
	cr_assert_eq(kmm_alloc_contig_range(s, s + 4, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	kmm_free_contig_range(s, 4);
	begin();
	kmm_free_contig_range(s, 4);
	expect_log(ERR, "Bad page state");
	end("free_contig_range of free pages (double free)");
}

Test(errors, alloc_contig_pages_zero)
{
	int nodemask;

	boot();
	begin();
	cr_assert_null(kmm_alloc_contig_pages(0, KMM_GFP_KERNEL, -1, NULL));
	cr_assert_null(kmm_alloc_contig_pages(4, KMM_GFP_KERNEL, -1, &nodemask));
	cr_assert_null(kmm_alloc_contig_pages(4, KMM_GFP_KERNEL, 9, NULL));
	expect_log(QUIET, NULL);
	end("alloc_contig_pages(0) / with a nodemask / node 9");
}

Test(errors, alloc_contig_pages_too_many)
{
	boot();
	begin();
	cr_assert_null(kmm_alloc_contig_pages(kmm_machine.max_pfn + 1, KMM_GFP_KERNEL, -1, NULL));
	expect_log(WARN, "alloc_contig_pages: no");
	end("alloc_contig_pages(more than memory)");
}

/* ================= CMA ============================================================ */

Test(errors, cma_alloc_zero_count)
{
	boot();
	begin();
	cr_assert_null(kmm_cma_alloc(cma0(), 0, 0, false));
	cr_assert_null(kmm_cma_alloc(NULL, 4, 0, false));
	expect_log(QUIET, NULL);
	end("cma_alloc(count 0 / cma NULL)");
}

Test(errors, cma_alloc_foreign_cma)
{
	char junk[256];

	boot();
	memset(junk, 0x5a, sizeof(junk));
	begin();
	cr_assert_null(kmm_cma_alloc((struct kmm_cma *)junk, 4, 0, false));
	cr_assert(!kmm_cma_release((struct kmm_cma *)junk, kmm_pfn_to_page(0), 1));
	/* Inside the table of areas, but not at an element. */
	cr_assert_null(kmm_cma_alloc((struct kmm_cma *)((char *)cma0() + 8), 4, 0, false));
	cr_assert(!kmm_cma_release((struct kmm_cma *)((char *)cma0() + 8), kmm_pfn_to_page(0), 1));
	expect_log(QUIET, NULL);
	end("cma_alloc/cma_release of a pointer that is no area");
}

Test(errors, cma_alloc_too_many)
{
	struct kmm_cma_stats st;

	boot();
	begin();
	cr_assert_null(kmm_cma_alloc(cma0(), kmm_cma_get_size(cma0()) / PG + 1, 0, false));
	expect_log(ERR, "alloc failed");
	kmm_cma_get_stats(cma0(), &st);
	cr_assert_eq(st.alloc_pages_fail, kmm_cma_get_size(cma0()) / PG + 1);
	end("cma_alloc(more pages than the area)");
}

Test(errors, cma_release_outside)
{
	struct kmm_page *p;

	boot();
	p = page0();
	begin();
	cr_assert(!kmm_cma_release(cma0(), p, 1));
	expect_log(WARN, "not inside the area");
	cr_assert(!kmm_cma_release(cma0(), NULL, 1));
	cr_assert_eq(kmm_page_ref_count(p), 1);
	end("cma_release of pages outside the area");
	kmm___free_pages(p, 0);
}

Test(errors, cma_release_past_end)
{
	struct kmm_page *p;
	unsigned long n;

	boot();
	n = kmm_cma_get_size(cma0()) / PG;
	p = kmm_cma_alloc(cma0(), 4, 0, false);
	cr_assert_not_null(p);
	begin();
	cr_assert(!kmm_cma_release(cma0(), p, n + 1));
	expect_log(WARN, "not inside the area");
	cr_assert(!kmm_cma_release(cma0(), p, 0));
	end("cma_release of a count running past the area / count 0");
	cr_assert(kmm_cma_release(cma0(), p, 4));
}

Test(errors, cma_release_not_allocated)
{
	struct kmm_page *p;

	boot();
	p = kmm_cma_alloc(cma0(), 4, 0, false);
	cr_assert_not_null(p);
	begin();
	cr_assert(!kmm_cma_release(cma0(), p + 4, 2));
	expect_log(WARN, "not allocated");
	cr_assert(!kmm_cma_release(cma0(), p, 8), "4 allocated, 8 released");
	end("cma_release of pages cma_alloc() did not hand out");
	cr_assert(kmm_cma_release(cma0(), p, 4));
}

Test(errors, cma_release_misaligned_page)
{
	struct kmm_page *p;

	boot();
	p = kmm_cma_alloc(cma0(), 4, 0, false);
	cr_assert_not_null(p);
	begin();
	cr_assert(!kmm_cma_release(cma0(), (struct kmm_page *)((char *)p + 8), 4));
	expect_log(WARN, "not a struct page");
	cr_assert_eq(kmm_page_ref_count(p), 1);
	end("cma_release of a pointer into the middle of a struct page");
	cr_assert(kmm_cma_release(cma0(), p, 4));
}

Test(errors, cma_release_double)
{
	struct kmm_page *p;

	boot();
	p = kmm_cma_alloc(cma0(), 4, 0, false);
	cr_assert_not_null(p);
	cr_assert(kmm_cma_release(cma0(), p, 4));
	begin();
	cr_assert(!kmm_cma_release(cma0(), p, 4));
	expect_log(WARN, "not allocated");
	end("double cma_release");
}

static void declare_row(uint64_t base, uint64_t size, uint64_t limit, uint64_t align,
			unsigned opb, bool fixed, int want, int level, const char *needle,
			const char *what)
{
	struct kmm_cma *c = (struct kmm_cma *)1;
	int r;

	boot();
	begin();
	r = kmm_cma_declare_contiguous(base, size, limit, align, opb, fixed, "bad", &c);
	cr_assert_eq(r, want, "%s: %d, want %d", what, r, want);
	expect_log(level, needle);
	end(what);
}

Test(errors, cma_declare_zero_size)
{
	declare_row(0, 0, 0, 0, 0, false, -KMM_EINVAL, QUIET, NULL, "cma_declare_contiguous(size 0)");
}

Test(errors, cma_declare_bad_alignment)
{
	declare_row(0, 4UL << 20, 0, 3UL << 20, 0, false, -KMM_EINVAL, QUIET, NULL,
		    "cma_declare_contiguous(alignment 3 MiB)");
}

Test(errors, cma_declare_unaligned_base)
{
	declare_row((32UL << 20) + PG, 4UL << 20, 0, 0, 0, true, -KMM_EINVAL, QUIET, NULL,
		    "cma_declare_contiguous(fixed base not pageblock aligned)");
}

Test(errors, cma_declare_above_limit)
{
	declare_row(32UL << 20, 4UL << 20, 34UL << 20, 0, 0, true, -KMM_EINVAL, QUIET, NULL,
		    "cma_declare_contiguous(base + size > limit)");
}

Test(errors, cma_declare_bad_order_per_bit)
{
	declare_row(0, 4UL << 20, 0, 0, 11, false, -KMM_EINVAL, QUIET, NULL,
		    "cma_declare_contiguous(order_per_bit 11 of a 1024-page area)");
}

Test(errors, cma_declare_past_memory)
{
	declare_row(62UL << 20, 4UL << 20, 0, 0, 0, true, -KMM_EINVAL, WARN,
		    "empty range, past memory or across zones",
		    "cma_declare_contiguous(fixed, running past memory)");
}

Test(errors, cma_init_reserved_unaligned)
{
	struct kmm_cma *c = NULL;

	boot();
	begin();
	cr_assert_eq(kmm_cma_init_reserved_mem(32UL << 20, (2UL << 20) + PG, 0, "bad", &c),
		     -KMM_EINVAL);
	expect_log(ERR, "pageblock aligned");
	cr_assert_null(c);
	end("cma_init_reserved_mem(size not pageblock aligned)");
}

Test(errors, cma_init_reserved_foreign)
{
	struct kmm_cma *c = NULL;

	boot();
	begin();
	/* Free buddy pages the caller never took. */
	cr_assert_eq(kmm_cma_init_reserved_mem(32UL << 20, 2UL << 20, 0, "bad", &c), -KMM_EINVAL);
	expect_log(ERR, "not memory the caller owns");
	cr_assert_null(c);
	end("cma_init_reserved_mem of memory the caller does not own");
}

/* ================= boot =========================================================== */

static void bad_boot(const char *cmdline, int want, const char *needle)
{
	int r;

	kt_log_start();
	r = kmm_boot(cmdline);
	cr_assert_eq(r, want, "kmm_boot(\"%s\") = %d, want %d", cmdline, r, want);
	cr_assert(!kmm_booted());
	expect_log(ERR, needle);
	/* Nothing was left behind: a good boot works and checks out. */
	kt_assert_no_leaks();
	boot();
	begin();
	end(cmdline);
}

Test(errors, boot_unknown_parameter)
{
	bad_boot("mem=64M no_such_param=1", -KMM_EINVAL, "no_such_param");
}

Test(errors, boot_malformed_size)
{
	bad_boot("mem=64Q", -KMM_EINVAL, "mem=64Q");
}

Test(errors, boot_mem_too_small)
{
	bad_boot("mem=1M", -KMM_EINVAL, "mem=1M");
}

Test(errors, boot_cma_too_big)
{
	bad_boot("mem=64M cma=128M", -KMM_EINVAL, "cma");
}

Test(errors, boot_already_booted)
{
	int r;

	boot();
	begin();
	r = kmm_boot(BOOT);
	cr_assert_eq(r, -KMM_EBUSY);
	cr_assert(kmm_booted());
	expect_log(ERR, "already booted");
	end("kmm_boot while booted");
}

Test(errors, bind_cpu_out_of_range)
{
	unsigned cpu;

	boot();
	cpu = kmm_smp_processor_id();
	begin();
	cr_assert_eq(kmm_bind_cpu((int)kmm_machine.nr_cpus), -KMM_EINVAL);
	cr_assert_eq(kmm_bind_cpu(-2), -KMM_EINVAL);
	cr_assert_eq(kmm_smp_processor_id(), cpu, "still the same CPU");
	expect_log(QUIET, NULL);
	end("kmm_bind_cpu(nr_cpus / -2)");
}

Test(errors, parse_size_garbage)
{
	uint64_t v = 42;

	boot();
	begin();
	cr_assert_eq(kmm_parse_size("12X", 3, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("", 0, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("99999999999999T", 15, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("M", 1, &v), -KMM_EINVAL);
	cr_assert_eq(v, 42ULL, "*out untouched");
	expect_log(QUIET, NULL);
	end("kmm_parse_size of garbage / overflow");
}

/* ================= the table and this file agree ===================================== */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* $KMM_SOURCE_DIR/@rel, else the source root found from __FILE__, else ./@rel. */
static char *source_file(const char *rel)
{
	char path[4096];
	const char *dir = getenv("KMM_SOURCE_DIR");
	const char *file = __FILE__, *cut = strstr(file, "tests/test_errors.c");
	char *s;

	if (dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, rel);
		return slurp(path);
	}
	if (cut) {
		snprintf(path, sizeof(path), "%.*s%s", (int)(cut - file), file, rel);
		if ((s = slurp(path)))
			return s;
	}
	return slurp(rel);
}

/* Table rows name their test as `name` in the last cell. */
Test(errors, doc_rows_have_tests)
{
	char *doc = source_file("docs/ERRORS.md"), *src = source_file("tests/test_errors.c");
	char *line, *save = NULL, needle[160];
	int rows = 0, tests = 0;
	const char *p;

	cr_assert_not_null(doc, "docs/ERRORS.md not found (set KMM_SOURCE_DIR)");
	cr_assert_not_null(src, "tests/test_errors.c not found (set KMM_SOURCE_DIR)");
	for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *last, *a, *b;
		size_t len = strlen(line);

		if (line[0] != '|' || len < 2)
			continue;
		while (len && (line[len - 1] == ' ' || line[len - 1] == '|'))
			line[--len] = 0;
		last = strrchr(line, '|');
		if (!last)
			continue;
		a = strchr(last, '`');
		b = a ? strchr(a + 1, '`') : NULL;
		if (!a || !b)
			continue;	/* the header and separator rows */
		*b = 0;
		snprintf(needle, sizeof(needle), "Test(errors, %s)", a + 1);
		cr_assert_not_null(strstr(src, needle), "docs/ERRORS.md names %s, which is no test",
				   a + 1);
		rows++;
	}
	free(doc);
	/* And every test here has a row (names are looked up in a fresh copy). */
	doc = source_file("docs/ERRORS.md");
	for (p = strstr(src, "\nTest(errors, "); p; p = strstr(p + 1, "\nTest(errors, ")) {
		const char *n = p + strlen("\nTest(errors, ");
		size_t l = strcspn(n, ")");

		snprintf(needle, sizeof(needle), "`%.*s`", (int)l, n);
		if (!strcmp(needle, "`doc_rows_have_tests`"))
			continue;
		cr_assert_not_null(strstr(doc, needle), "test %s has no row in docs/ERRORS.md",
				   needle);
		tests++;
	}
	cr_assert_geq(rows, tests, "%d rows, %d tests", rows, tests);
	cr_assert_gt(tests, 50);
	free(doc);
	free(src);
}
