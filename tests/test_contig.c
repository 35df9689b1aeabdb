/* SPDX-License-Identifier: MIT */
/*
 * test_contig.c - page isolation, page migration and contiguous allocation
 * (include/kmm/migrate.h; src/core/contig.c, src/core/migrate.c, the zone
 * side in src/core/page_alloc.c, the migration support in src/core/mm.c).
 *
 * What is proven:
 *   - kmm_start_isolate_page_range(): the free pages of whole pageblocks
 *     around the range move to the Isolate list (NR_FREE_PAGES drops by
 *     exactly those pages), no allocation returns them, kmm_test_pages_
 *     isolated() says so, pages freed into an isolated pageblock stay
 *     there; kmm_undo_isolate_page_range() gives back every page and
 *     merges the buddies (the buddyinfo and pagetypeinfo reports are the
 *     same as before); a free order-10 block straddling the range is split
 *     and merged back; refusals (already isolated, an unmovable page,
 *     bad ranges) change nothing, name the PFN and reason and count it;
 *   - kmm_isolate_movable_page() / kmm_migrate_pages() /
 *     kmm_putback_movable_pages(): user bytes move to a new page frame,
 *     the user address keeps reading and writing them (real loads and
 *     stores), the rmap and the mm follow, the old frame is freed; a
 *     pinned page stays put and comes back; a page unmapped meanwhile is
 *     a success; kernel pages are refused; targets from a callback;
 *   - kmm_alloc_contig_range() (both forms), kmm_free_contig_range(),
 *     kmm_alloc_contig_pages(): free and populated ranges, the user pages
 *     moved elsewhere with their bytes; pinned pages, CMA pageblocks, bad
 *     ranges and flags refused with nothing lost; __GFP_ZERO; shadow mode;
 *   - kmm_contig_last_error() is per thread;
 *   - a user thread storing into a page the main thread migrates again and
 *     again loses no store (real mode with user page faults).
 *
 * After each step kmm_page_alloc_validate() (and kmm_mm_validate() of the
 * mm in use) must pass; tests that free all they allocated check that the
 * free page count is back where it started (per-CPU lists drained).
 *
 * Machine: mem=64M is DMA [0, 4096) and DMA32 [4096, 16384); right after
 * boot DMA is four free order-10 blocks of each of its pageblock pairs,
 * and nothing but a GFP_DMA allocation goes there, so DMA ranges are
 * known to be free.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/page_alloc.h>
#include <kmm/stat.h>
#include <kmm/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define PB KMM_PAGEBLOCK_NR_PAGES
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define ANON_POP (KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE)
#define NOPFN (~0UL)

TestSuite(contig, .fini = kt_fini, .timeout = 120);

/* ---- helpers ----------------------------------------------------------------- */

static bool is_shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

static struct kmm_zone *zdma(void)
{
	return kt_zone(0, KMM_ZONE_DMA);
}

static struct kmm_zone *zdma32(void)
{
	return kt_zone(0, KMM_ZONE_DMA32);
}

/* Both validators (the mm's skipped for NULL). */
static void check(struct kmm_mm_struct *mm, const char *what)
{
	kt_assert_valid(what);
	if (mm) {
		int r = kmm_mm_validate(mm);

		if (r)
			kt_log_dump(what);
		cr_assert_eq(r, 0, "kmm_mm_validate() = %d after %s", r, what);
	}
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kmm_nr_free_pages();
}

static long zfree(struct kmm_zone *z)
{
	return kmm_zone_page_state(z, KMM_NR_FREE_PAGES);
}

/* Pageblocks of the machine that are isolated. */
static unsigned long nr_isolated_blocks(void)
{
	return kt_zone_blocks_mt(zdma(), KMM_MIGRATE_ISOLATE) +
	       kt_zone_blocks_mt(zdma32(), KMM_MIGRATE_ISOLATE);
}

static int pbmt(unsigned long pfn)
{
	return kmm_get_pfnblock_migratetype(pfn);
}

static struct kmm_page *P(unsigned long pfn)
{
	return kmm_pfn_to_page(pfn);
}

static int refc(unsigned long pfn)
{
	return kmm_page_ref_count(P(pfn));
}

/* Is @pfn free in the buddy allocator (inside some free block)? */
static bool pfn_free(unsigned long pfn)
{
	for (unsigned o = 0; o <= KMM_MAX_PAGE_ORDER; o++) {
		unsigned long head = pfn & ~((1UL << o) - 1);
		struct kmm_page *h = P(head);

		if (kmm_page_test(h, KMM_PG_buddy) && h->private >= o)
			return true;
	}
	return false;
}

/* A free block head of exactly @order at @pfn, on list @mt? */
static bool free_head(unsigned long pfn, unsigned order, int mt)
{
	struct kmm_page *p = P(pfn);

	return kmm_page_test(p, KMM_PG_buddy) && p->private == order && p->alloc_mt == mt;
}

/* Nothing isolated, no error or BUG logged so far. */
static void assert_clean(const char *what)
{
	kt_assert_quiet(what);
	cr_assert_eq(nr_isolated_blocks(), 0, "%s: a pageblock is left isolated", what);
	cr_assert_eq(kt_zone_free_mt(zdma(), KMM_MIGRATE_ISOLATE) +
			     kt_zone_free_mt(zdma32(), KMM_MIGRATE_ISOLATE),
		     0, "%s: pages left on the Isolate list", what);
}

static void snap(struct kt_snap *s)
{
	kmm_drain_all_pages(NULL);
	kt_snap_take(s);
}

static void assert_snap_same(const struct kt_snap *before, const char *what)
{
	struct kt_snap now;

	snap(&now);
	kt_snap_assert_same(before, &now, what);
}

static struct kmm_mm_struct *new_mm(void)
{
	struct kmm_mm_struct *mm = kmm_mm_create(0);

	if (!mm)
		kt_log_dump("kmm_mm_create");
	cr_assert_not_null(mm, "kmm_mm_create(0) failed");
	return mm;
}

static unsigned long do_mmap(struct kmm_mm_struct *mm, unsigned long npages, unsigned long flags)
{
	unsigned long a = kmm_vm_mmap(mm, 0, npages * PG, RW, flags, 0, NULL);

	if (KMM_IS_ERR_VALUE(a))
		kt_log_dump("kmm_vm_mmap");
	cr_assert_not(KMM_IS_ERR_VALUE(a), "kmm_vm_mmap(%lu pages) = %ld", npages, (long)a);
	return a;
}

/* The PFN mapped at @a, or NOPFN. */
static unsigned long upfn(struct kmm_mm_struct *mm, unsigned long a)
{
	unsigned long pfn = 0;

	if (kmm_follow_pfn(mm, a, &pfn))
		return NOPFN;
	return pfn;
}

static struct kmm_page *upage(struct kmm_mm_struct *mm, unsigned long a)
{
	unsigned long pfn = upfn(mm, a);

	cr_assert_neq(pfn, NOPFN, "nothing mapped at %#lx", a);
	return P(pfn);
}

/* The words of the user page at @a: keyed by the address, not the frame. */
static uint64_t uword(unsigned long a, unsigned w, unsigned gen)
{
	uint64_t x = (a + w * 8) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)gen << 40);

	x ^= x >> 29;
	return x * 0xBF58476D1CE4E5B9ULL;
}

#define UWORDS 8	/* words written per page, 512 bytes apart */

static void uwrite(unsigned long a, unsigned gen)
{
	if (is_shadow())
		return;
	for (unsigned w = 0; w < UWORDS; w++)
		*(volatile uint64_t *)(a + w * 512) = uword(a, w, gen);
}

/* Through the user address: -1 if all words are right, else the first bad one. */
static int ucheck(unsigned long a, unsigned gen)
{
	if (is_shadow())
		return -1;
	for (unsigned w = 0; w < UWORDS; w++)
		if (*(volatile uint64_t *)(a + w * 512) != uword(a, w, gen))
			return (int)w;
	return -1;
}

/* The same words, read from the direct map of the frame @pfn. */
static bool kcheck(unsigned long pfn, unsigned long a, unsigned gen)
{
	const char *k = kmm_page_address(P(pfn));

	if (is_shadow())
		return true;
	for (unsigned w = 0; w < UWORDS; w++)
		if (*(const volatile uint64_t *)(k + w * 512) != uword(a, w, gen))
			return false;
	return true;
}

static void assert_user_bytes(unsigned long a, unsigned long n, unsigned gen, const char *what)
{
	for (unsigned long i = 0; i < n; i++) {
		int w = ucheck(a + i * PG, gen);

		cr_assert_eq(w, -1, "%s: user page %lu (%#lx) word %d lost its bytes", what, i,
			     a + i * PG, w);
	}
}

/* Isolate @page for migration (must succeed). */
static void isolate_one(struct kmm_page *page, struct kmm_list_head *list)
{
	int r = kmm_isolate_movable_page(page, list);

	if (r)
		kt_log_dump("isolate_movable_page");
	cr_assert_eq(r, 0, "kmm_isolate_movable_page(pfn %#llx) = %d",
		     (unsigned long long)kmm_page_to_pfn(page), r);
}

static unsigned list_len(struct kmm_list_head *l)
{
	unsigned n = 0;

	for (struct kmm_list_head *p = l->next; p != l; p = p->next)
		n++;
	return n;
}

/*
 * Is every page of pageblock @pb free, on a per-CPU list, or a movable
 * (PG_lru) page? Then isolation may take it.
 */
static bool pb_movable(unsigned long pb)
{
	for (unsigned long pfn = pb; pfn < pb + PB; pfn++) {
		struct kmm_page *p = P(pfn);

		if (kmm_page_test(p, KMM_PG_lru) || kmm_page_test(p, KMM_PG_pcp) || pfn_free(pfn))
			continue;
		return false;
	}
	return true;
}

/*
 * Map @n pages at @a (already populated) to frames: find the first run of
 * @len consecutive PFNs that are all pages of this mapping and whose
 * pageblocks hold only free or movable pages, skipping @skip pages into
 * the first pageblock if possible.  Returns the first PFN or NOPFN.
 */
static unsigned long find_user_run(struct kmm_mm_struct *mm, unsigned long a, unsigned long n,
				   unsigned long len)
{
	uint64_t max = kmm_machine.max_pfn;
	unsigned char *mine = calloc(max, 1);
	unsigned long found = NOPFN;

	cr_assert_not_null(mine);
	for (unsigned long i = 0; i < n; i++) {
		unsigned long pfn = upfn(mm, a + i * PG);

		cr_assert_neq(pfn, NOPFN);
		mine[pfn] = 1;
	}
	for (unsigned long s = 0; s + len <= max && found == NOPFN; s++) {
		unsigned long k;
		bool ok = true;

		for (k = 0; k < len && mine[s + k]; k++)
			;
		if (k < len) {
			s += k;
			continue;
		}
		for (unsigned long pb = KMM_ALIGN_DOWN(s, PB); pb < s + len && ok; pb += PB)
			ok = pb_movable(pb);
		if (ok)
			found = s;
	}
	free(mine);
	return found;
}

static struct kmm_contig_error lasterr(void)
{
	return kmm_contig_last_error();
}

/* ---- page isolation ------------------------------------------------------------ */

/* Two pageblocks of a free order-10 block: off the free count, on Isolate, back. */
Test(contig, isolate_free_range)
{
	const unsigned long s = 2048, e = 3072;
	struct kt_snap s0;
	struct kt_blocks b = { 0 };
	uint64_t f0;
	long z0;
	int r;

	kt_boot("mem=64M");
	snap(&s0);
	f0 = free_now();
	z0 = zfree(zdma());
	cr_assert(free_head(s, 10, KMM_MIGRATE_MOVABLE), "precondition: [2048, 3072) is one free block");
	r = kmm_start_isolate_page_range(s, e, KMM_PB_ISOLATE_MODE_OTHER);
	cr_assert_eq(r, 0, "isolate = %d", r);
	check(NULL, "isolate");
	cr_assert_eq(zfree(zdma()), z0 - 1024, "zone NR_FREE_PAGES %ld, was %ld", zfree(zdma()), z0);
	cr_assert_eq(free_now(), f0 - 1024);
	cr_assert_eq(kt_zone_free_mt(zdma(), KMM_MIGRATE_ISOLATE), 1024);
	cr_assert_eq(pbmt(s), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(pbmt(s + PB), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(pbmt(s - PB), KMM_MIGRATE_MOVABLE, "the pageblock before is not isolated");
	cr_assert_eq(pbmt(e), KMM_MIGRATE_MOVABLE, "the pageblock after is not isolated");
	cr_assert_eq(nr_isolated_blocks(), 2);
	cr_assert_eq(kmm_test_pages_isolated(s, e, KMM_PB_ISOLATE_MODE_OTHER), 0);
	cr_assert_eq(kmm_test_pages_isolated(s + 5, s + 600, KMM_PB_ISOLATE_MODE_OTHER), 0);
	cr_assert_eq(kmm_test_pages_isolated(s - 1, e, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY,
		     "a page outside the isolated pageblocks");
	cr_assert_eq(kmm_test_pages_isolated(s, e + 1, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);

	/*
	 * No allocation hands out an isolated page: empty DMA completely
	 * (movable allocations, so no pageblock changes its type).
	 */
	kt_fill(&b, KMM_GFP_KERNEL | KMM_GFP_DMA | KMM___GFP_MOVABLE, KMM_MAX_PAGE_ORDER);
	cr_assert_gt(b.n, 0);
	for (size_t i = 0; i < b.n; i++) {
		unsigned long pfn = kmm_page_to_pfn(b.v[i].page);

		cr_assert(pfn + (1UL << b.v[i].order) <= s || pfn >= e,
			  "allocation of order %u at pfn %#lx is inside the isolated range",
			  b.v[i].order, pfn);
	}
	cr_assert_eq(kt_zone_free_mt(zdma(), KMM_MIGRATE_ISOLATE), 1024, "isolated pages untouched");
	check(NULL, "DMA emptied");
	{
		unsigned long last = kmm_page_to_pfn(b.v[b.n - 1].page);

		cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA | KMM___GFP_NOWARN, 0),
			       "DMA is empty but for the isolated pages (last got %#lx)", last);
	}
	kt_blocks_free_all(&b);
	kt_blocks_destroy(&b);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_test_pages_isolated(s, e, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(NULL, "DMA refilled");

	kmm_undo_isolate_page_range(s, e);
	check(NULL, "undo");
	kmm_drain_all_pages(NULL);
	cr_assert_eq(zfree(zdma()), z0);
	cr_assert_eq(free_now(), f0);
	cr_assert(free_head(s, 10, KMM_MIGRATE_MOVABLE), "undo merged the order-10 block back");
	cr_assert_eq(pbmt(s), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(pbmt(s + PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(kmm_test_pages_isolated(s, e, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	assert_snap_same(&s0, "isolate + undo");
	/* Undoing again changes nothing. */
	kmm_undo_isolate_page_range(s, e);
	assert_snap_same(&s0, "second undo");
	assert_clean("isolate_free_range");
}

/* A range starting and ending inside pageblocks isolates the whole pageblocks. */
Test(contig, isolate_unaligned_widens_to_pageblocks)
{
	const unsigned long s = 1024 + 3, e = 1024 + 700;
	struct kt_snap s0;
	long z0;

	kt_boot("mem=64M");
	snap(&s0);
	z0 = zfree(zdma());
	cr_assert_eq(kmm_start_isolate_page_range(s, e, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(NULL, "unaligned isolate");
	cr_assert_eq(pbmt(1024), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(pbmt(1024 + PB), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(pbmt(1024 - PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(pbmt(1024 + 2 * PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(nr_isolated_blocks(), 2);
	cr_assert_eq(zfree(zdma()), z0 - 2 * (long)PB);
	cr_assert_eq(kmm_test_pages_isolated(1024, 1024 + 2 * PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	kmm_undo_isolate_page_range(s, e);
	check(NULL, "unaligned undo");
	assert_snap_same(&s0, "unaligned isolate + undo");

	/* One page at the very end of a pageblock. */
	cr_assert_eq(kmm_start_isolate_page_range(3 * PB - 1, 3 * PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	cr_assert_eq(nr_isolated_blocks(), 1);
	cr_assert_eq(pbmt(2 * PB), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(zfree(zdma()), z0 - (long)PB);
	check(NULL, "one-page isolate");
	kmm_undo_isolate_page_range(3 * PB - 1, 3 * PB);
	check(NULL, "one-page undo");
	assert_snap_same(&s0, "one-page isolate + undo");
	assert_clean("unaligned");
}

/* One pageblock of a free order-10 block: the block is split, undo merges it. */
Test(contig, isolate_splits_straddling_block)
{
	struct kt_snap s0;
	long z0;

	kt_boot("mem=64M");
	snap(&s0);
	z0 = zfree(zdma());
	for (int half = 0; half < 2; half++) {
		unsigned long pb = 1024 + half * PB, other = 1024 + (1 - half) * PB;

		cr_assert(free_head(1024, 10, KMM_MIGRATE_MOVABLE));
		cr_assert_eq(kmm_start_isolate_page_range(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
		check(NULL, "isolate half an order-10 block");
		cr_assert(free_head(pb, 9, KMM_MIGRATE_ISOLATE), "half %d on the Isolate list", half);
		cr_assert(free_head(other, 9, KMM_MIGRATE_MOVABLE), "the other half stays Movable");
		cr_assert_eq(zfree(zdma()), z0 - (long)PB);
		cr_assert_eq(pbmt(pb), KMM_MIGRATE_ISOLATE);
		cr_assert_eq(pbmt(other), KMM_MIGRATE_MOVABLE);
		cr_assert_eq(kmm_test_pages_isolated(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
		kmm_undo_isolate_page_range(pb, pb + PB);
		check(NULL, "undo half");
		cr_assert(free_head(1024, 10, KMM_MIGRATE_MOVABLE), "merged back (half %d)", half);
		assert_snap_same(&s0, "half isolate + undo");
	}
	/* Three pageblocks over two order-10 blocks; undo in two steps. */
	cr_assert_eq(kmm_start_isolate_page_range(1024 + PB, 2048 + PB + 1, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(NULL, "isolate 3 pageblocks");
	cr_assert_eq(nr_isolated_blocks(), 3);
	cr_assert_eq(zfree(zdma()), z0 - 3 * (long)PB);
	cr_assert_eq(kt_zone_free_mt(zdma(), KMM_MIGRATE_ISOLATE), 3 * PB);
	cr_assert(free_head(1024, 9, KMM_MIGRATE_MOVABLE));
	cr_assert(free_head(1024 + PB, 9, KMM_MIGRATE_ISOLATE));
	cr_assert(free_head(2048, 10, KMM_MIGRATE_ISOLATE), "two isolated halves merge on the Isolate list");
	cr_assert_eq(kmm_test_pages_isolated(1024 + PB, 2048 + 2 * PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	kmm_undo_isolate_page_range(2048 + PB, 2048 + PB + 1);
	check(NULL, "undo 1 of 3");
	cr_assert(free_head(2048, 9, KMM_MIGRATE_ISOLATE));
	cr_assert(free_head(2048 + PB, 9, KMM_MIGRATE_MOVABLE));
	cr_assert_eq(zfree(zdma()), z0 - 2 * (long)PB);
	kmm_undo_isolate_page_range(1024 + PB, 2048 + PB);
	check(NULL, "undo 2 of 3");
	cr_assert(free_head(1024, 10, KMM_MIGRATE_MOVABLE));
	cr_assert(free_head(2048, 10, KMM_MIGRATE_MOVABLE));
	assert_snap_same(&s0, "3 pageblocks isolate + undo");
	assert_clean("straddling");
}

/* Already isolated: -EBUSY, and nothing of the new call is left. */
Test(contig, isolate_already_isolated_refused)
{
	struct kt_snap s1;
	unsigned long c0;
	int r;

	kt_boot("mem=64M");
	cr_assert_eq(kmm_start_isolate_page_range(2048, 2048 + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	snap(&s1);
	c0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_ISOLATED);
	r = kmm_start_isolate_page_range(2048 - 2 * PB, 2048 + 2 * PB, KMM_PB_ISOLATE_MODE_OTHER);
	cr_assert_eq(r, -KMM_EBUSY, "isolate over an isolated pageblock = %d", r);
	check(NULL, "refused isolate");
	assert_snap_same(&s1, "refused isolate");
	cr_assert_eq(nr_isolated_blocks(), 1, "only the first call's pageblock is isolated");
	cr_assert_eq(pbmt(2048 - 2 * PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(pbmt(2048 - PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(pbmt(2048 + PB), KMM_MIGRATE_MOVABLE);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_ISOLATED);
	cr_assert_eq(lasterr().pfn, 2048);
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_ISOLATED), c0 + 1);
	/* The same pageblock alone. */
	cr_assert_eq(kmm_start_isolate_page_range(2048, 2049, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	assert_snap_same(&s1, "refused isolate of the same pageblock");
	kmm_undo_isolate_page_range(2048, 2048 + PB);
	check(NULL, "undo");
	assert_clean("already isolated");
}

/* An unmovable page in the middle pageblock: refused, named, counted, nothing kept. */
static void unmovable_case(kmm_gfp_t gfp)
{
	struct kmm_page *k = kmm_alloc_pages(gfp, 0);
	unsigned long kp, pb, s, e, c0, expect;
	struct kt_snap s0;
	int r;

	cr_assert_not_null(k);
	kp = kmm_page_to_pfn(k);
	pb = KMM_ALIGN_DOWN(kp, PB);
	s = pb > kmm_page_zone(k)->zone_start_pfn ? pb - PB : pb;
	e = pb + 2 * PB <= kmm_zone_end_pfn(kmm_page_zone(k)) ? pb + 2 * PB : pb + PB;
	/*
	 * The scan names the first unmovable page from s on: ours, unless
	 * boot's own pages (page-table roots) come first in its pageblock.
	 */
	expect = kp;
	for (unsigned long pfn = s; pfn < kp; pfn++) {
		struct kmm_page *p = P(pfn);

		if (!(pfn_free(pfn) || kmm_page_test(p, KMM_PG_pcp) ||
		      kmm_page_test(p, KMM_PG_lru) || !kmm_page_ref_count(p))) {
			expect = pfn;
			cr_log_info("pfn %#lx, before ours (%#lx), is a kernel page too", pfn, kp);
			break;
		}
	}
	snap(&s0);
	c0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE);
	r = kmm_start_isolate_page_range(s, e, KMM_PB_ISOLATE_MODE_OTHER);
	cr_assert_eq(r, -KMM_EBUSY, "isolate around an unmovable page = %d", r);
	cr_assert_eq(lasterr().pfn, expect, "last error names pfn %#llx, the page is %#lx",
		     (unsigned long long)lasterr().pfn, expect);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(lasterr().refcount, kmm_page_ref_count(P(expect)));
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE), c0 + 1);
	check(NULL, "refused unmovable");
	assert_snap_same(&s0, "refused unmovable");
	cr_assert_eq(nr_isolated_blocks(), 0, "no pageblock left isolated");
	/* Only the page's own pageblock, and a range of just the page. */
	cr_assert_eq(kmm_start_isolate_page_range(kp, kp + 1, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	cr_assert_eq(lasterr().pfn, expect >= pb ? expect : kp);
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE), c0 + 2);
	assert_snap_same(&s0, "refused unmovable, one page");
	/* With the page gone the same range isolates. */
	kmm___free_pages(k, 0);
	kmm_drain_all_pages(NULL);
	r = kmm_start_isolate_page_range(s, e, KMM_PB_ISOLATE_MODE_OTHER);
	if (r == 0) {
		check(NULL, "isolate after the free");
		kmm_undo_isolate_page_range(s, e);
	} else {
		/* Something else of the kernel's lives there; it must not be ours. */
		cr_assert_neq(lasterr().pfn, kp, "the freed page still blocks isolation");
	}
	check(NULL, "unmovable done");
	assert_clean("unmovable");
}

Test(contig, isolate_unmovable_page_refused)
{
	kt_boot("mem=64M");
	unmovable_case(KMM_GFP_KERNEL);
}

Test(contig, isolate_unmovable_dma_page_refused)
{
	kt_boot("mem=64M");
	unmovable_case(KMM_GFP_KERNEL | KMM_GFP_DMA);
}

Test(contig, isolate_bad_ranges)
{
	struct kt_snap s0;
	const unsigned long max = kmm_machine.max_pfn ? kmm_machine.max_pfn : 16384;
	struct {
		unsigned long s, e;
		const char *what;
	} bad[] = {
		{ 100, 100, "empty" },
		{ 200, 100, "start > end" },
		{ max, max + 10, "past memory" },
		{ max - 10, max + 10, "partly past memory" },
		{ 4096 - 10, 4096 + 10, "across DMA and DMA32" },
		{ 0, max, "all of memory (two zones)" },
	};

	kt_boot("mem=64M");
	snap(&s0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = kmm_start_isolate_page_range(bad[i].s, bad[i].e, KMM_PB_ISOLATE_MODE_OTHER);

		cr_assert_eq(r, -KMM_EINVAL, "%s [%#lx, %#lx): %d", bad[i].what, bad[i].s, bad[i].e, r);
		cr_assert_eq(kmm_test_pages_isolated(bad[i].s, bad[i].e, KMM_PB_ISOLATE_MODE_OTHER),
			     -KMM_EBUSY, "%s: test_pages_isolated", bad[i].what);
		kmm_undo_isolate_page_range(bad[i].s, bad[i].e);
		check(NULL, bad[i].what);
		assert_snap_same(&s0, bad[i].what);
	}
	/* Whole zones are fine. */
	cr_assert_eq(kmm_start_isolate_page_range(0, 4096, KMM_PB_ISOLATE_MODE_OTHER), 0);
	cr_assert_eq(zfree(zdma()), 0);
	cr_assert_eq(kmm_test_pages_isolated(0, 4096, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(NULL, "all of DMA isolated");
	kmm_undo_isolate_page_range(0, 4096);
	check(NULL, "all of DMA back");
	assert_snap_same(&s0, "all of DMA");
	assert_clean("bad ranges");
}

/* Free pages on per-CPU lists are no obstacle: isolation drains them onto Isolate. */
Test(contig, isolate_drains_pcp_pages)
{
	struct kmm_page *pg[8];
	struct kt_snap s0;
	unsigned long pb;

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(0);
	/* A first round claims a DMA pageblock for Unmovable: the baseline. */
	for (int round = 0; round < 2; round++) {
		if (round) {
			for (int i = 0; i < 8; i++)
				kmm___free_pages(pg[i], 0);
			snap(&s0);
		}
		for (int i = 0; i < 8; i++) {
			pg[i] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, 0);
			cr_assert_not_null(pg[i]);
		}
	}
	pb = KMM_ALIGN_DOWN(kmm_page_to_pfn(pg[0]), PB);
	cr_assert_eq(kmm_start_isolate_page_range(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY,
		     "allocated kernel pages");
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	for (int i = 0; i < 8; i++)
		kmm___free_pages(pg[i], 0);
	cr_assert_gt(kt_pcp_total(), 0, "precondition: the freed pages sit on a per-CPU list");
	cr_assert(kmm_page_test(pg[0], KMM_PG_pcp));
	cr_assert_eq(kmm_start_isolate_page_range(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(NULL, "isolate over pcp pages");
	for (int i = 0; i < 8; i++)
		if (KMM_ALIGN_DOWN(kmm_page_to_pfn(pg[i]), PB) == pb)
			cr_assert_not(kmm_page_test(pg[i], KMM_PG_pcp), "page %d still on a pcp list", i);
	cr_assert_eq(kmm_test_pages_isolated(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), 0,
		     "the drained pages are on the Isolate list");
	kmm_undo_isolate_page_range(pb, pb + PB);
	kmm_bind_cpu(-1);
	check(NULL, "undo");
	assert_snap_same(&s0, "pcp pages");
	assert_clean("pcp pages");
}

/* An anonymous page is movable: its pageblock isolates; unmapped, it lands on Isolate. */
Test(contig, isolate_movable_pageblock_then_free_into_it)
{
	struct kmm_mm_struct *mm;
	unsigned long a, pfn, pb;
	uint64_t f0, fi;
	long zi;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, 1, ANON_POP);
	pfn = upfn(mm, a);
	cr_assert_neq(pfn, NOPFN);
	pb = KMM_ALIGN_DOWN(pfn, PB);
	if (!pb_movable(pb)) {
		cr_log_info("the anonymous page's pageblock holds kernel pages; test skipped");
		kmm_mm_destroy(mm);
		return;
	}
	cr_assert_eq(kmm_start_isolate_page_range(pfn, pfn + 1, KMM_PB_ISOLATE_MODE_OTHER), 0);
	check(mm, "isolate around an anonymous page");
	cr_assert_eq(pbmt(pfn), KMM_MIGRATE_ISOLATE);
	cr_assert_eq(kmm_test_pages_isolated(pfn, pfn + 1, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY,
		     "the mapped page is not free");
	fi = free_now();
	zi = zfree(kmm_page_zone(P(pfn)));
	cr_assert_eq(kmm_vm_munmap(mm, a, PG), 0);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(refc(pfn), 0);
	cr_assert_eq(zfree(kmm_page_zone(P(pfn))), zi, "a page freed into an isolated pageblock is not counted free");
	cr_assert_eq(free_now(), fi);
	cr_assert_eq(kmm_test_pages_isolated(pfn, pfn + 1, KMM_PB_ISOLATE_MODE_OTHER), 0,
		     "the freed page is on the Isolate list");
	check(mm, "freed into an isolated pageblock");
	kmm_undo_isolate_page_range(pfn, pfn + 1);
	check(mm, "undo");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "done");
	assert_clean("free into isolated");
}

/* CMA pageblocks: refused outside CMA mode, taken without a look in it. */
Test(contig, isolate_cma_pageblock_modes)
{
	struct kt_snap s0;
	unsigned long base;

	kt_boot("mem=64M cma=16M");
	cr_assert_eq(kmm_machine.nr_cma_areas, 1);
	base = kmm_machine.cma_reserved[0].base_pfn;
	cr_assert_eq(pbmt(base), KMM_MIGRATE_CMA);
	snap(&s0);
	cr_assert_eq(kmm_start_isolate_page_range(base, base + PB, KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(lasterr().pfn, base);
	assert_snap_same(&s0, "CMA refused");
	cr_assert_eq(kmm_start_isolate_page_range(base, base + PB, KMM_PB_ISOLATE_MODE_CMA_ALLOC), 0);
	cr_assert_eq(pbmt(base), KMM_MIGRATE_ISOLATE);
	check(NULL, "CMA isolated");
	kmm_undo_isolate_page_range(base, base + PB);
	cr_assert_eq(pbmt(base), KMM_MIGRATE_CMA, "the isolate bit kept the type");
	check(NULL, "CMA undo");
	assert_snap_same(&s0, "CMA isolate + undo");
	assert_clean("cma modes");
}

/* ---- migration ------------------------------------------------------------------- */

Test(contig, migrate_anon_pages)
{
	enum { N = 16 };
	struct kmm_mm_struct *mm;
	struct kmm_list_head list;
	unsigned long a, old[N], nw[N], s0, f0;
	unsigned n = 99;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, N, ANON_POP);
	for (unsigned i = 0; i < N; i++) {
		uwrite(a + i * PG, 1);
		old[i] = upfn(mm, a + i * PG);
		cr_assert(kcheck(old[i], a + i * PG, 1), "the direct map holds the user bytes");
	}
	check(mm, "populate");
	kmm_list_init(&list);
	for (unsigned i = 0; i < N; i++) {
		struct kmm_page *p = P(old[i]);

		isolate_one(p, &list);
		cr_assert(kmm_page_test(p, KMM_PG_isolated));
		cr_assert_not(kmm_page_test(p, KMM_PG_lru));
		cr_assert_eq(kmm_page_ref_count(p), 2, "the mapping's and the isolation's");
		cr_assert_eq(kmm_isolate_movable_page(p, &list), -KMM_EBUSY, "isolated twice");
	}
	cr_assert_eq(list_len(&list), N);
	check(mm, "isolated");
	s0 = kmm_pgmigrate_success();
	r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n);
	if (r)
		kt_log_dump("migrate_pages");
	cr_assert_eq(r, 0, "kmm_migrate_pages = %d", r);
	cr_assert_eq(n, N);
	cr_assert(kmm_list_empty(&list));
	cr_assert_eq(kmm_pgmigrate_success(), s0 + N);
	check(mm, "migrated");
	kmm_drain_all_pages(NULL);
	for (unsigned i = 0; i < N; i++) {
		unsigned long ua = a + i * PG;
		struct kmm_mm_struct *rmm = NULL;
		unsigned long raddr = 0;
		struct kmm_page *np;

		nw[i] = upfn(mm, ua);
		cr_assert_neq(nw[i], NOPFN);
		cr_assert_neq(nw[i], old[i], "page %u did not move", i);
		for (unsigned j = 0; j < N; j++)
			cr_assert_neq(nw[i], old[j], "page %u moved onto old frame %u", i, j);
		np = P(nw[i]);
		cr_assert(kmm_page_anon_rmap(np, &rmm, &raddr), "new page %u has no rmap", i);
		cr_assert_eq(rmm, mm);
		cr_assert_eq(raddr, ua);
		cr_assert(kmm_page_test(np, KMM_PG_lru), "the new page is movable again");
		cr_assert_not(kmm_page_test(np, KMM_PG_isolated));
		cr_assert_eq(kmm_page_ref_count(np), 1);
		cr_assert_eq(refc(old[i]), 0, "old frame %u not freed", i);
		cr_assert_not(kmm_page_test(P(old[i]), KMM_PG_anon));
		cr_assert(pfn_free(old[i]), "old frame %u is not in the buddy", i);
		cr_assert_eq(ucheck(ua, 1), -1, "user page %u lost its bytes", i);
		cr_assert(kcheck(nw[i], ua, 1), "new frame %u lacks the bytes", i);
	}
	/* Stores through the user address reach the new frame, not the old. */
	for (unsigned i = 0; i < N; i++)
		uwrite(a + i * PG, 2);
	for (unsigned i = 0; i < N; i++) {
		cr_assert(kcheck(nw[i], a + i * PG, 2), "store after migration missing in the new frame %u", i);
		if (!is_shadow())
			cr_assert_not(kcheck(old[i], a + i * PG, 2), "store after migration landed in the old frame %u", i);
	}
	check(mm, "written after migration");
	cr_assert_eq(kmm_vm_munmap(mm, a, N * PG), 0);
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0, "pages lost: %llu free, %lu before",
		     (unsigned long long)free_now(), f0);
	check(NULL, "migrate done");
	assert_clean("migrate");
}

/* A pinned page stays on the list (return 1) and putback restores it. */
Test(contig, migrate_pinned_page_left_and_putback)
{
	struct kmm_mm_struct *mm;
	struct kmm_list_head list;
	unsigned long a, p0, p1, f0, fl0;
	struct kmm_page *pin, *free_one;
	unsigned n = 99;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, 2, ANON_POP);
	uwrite(a, 1);
	uwrite(a + PG, 1);
	p0 = upfn(mm, a);
	p1 = upfn(mm, a + PG);
	pin = P(p0);
	free_one = P(p1);
	kmm_list_init(&list);
	isolate_one(pin, &list);
	isolate_one(free_one, &list);
	kmm_get_page(pin);	/* a pin: e.g. get_user_pages */
	fl0 = kmm_pgmigrate_fail();
	r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n);
	cr_assert_eq(r, 1, "one page not migrated: %d", r);
	cr_assert_eq(n, 1);
	cr_assert_eq(list_len(&list), 1);
	cr_assert_eq(kmm_list_first_entry(&list, struct kmm_page, lru), pin);
	cr_assert_eq(kmm_pgmigrate_fail(), fl0 + 1);
	cr_assert_eq(upfn(mm, a), p0, "the pinned page was not moved");
	cr_assert_neq(upfn(mm, a + PG), p1, "the other one was");
	cr_assert_eq(kmm_page_ref_count(pin), 3);
	check(mm, "pinned left");
	assert_user_bytes(a, 2, 1, "pinned");
	kmm_putback_movable_pages(&list);
	cr_assert(kmm_list_empty(&list));
	cr_assert(kmm_page_test(pin, KMM_PG_lru), "back on the LRU");
	cr_assert_not(kmm_page_test(pin, KMM_PG_isolated));
	cr_assert_eq(kmm_page_ref_count(pin), 2, "mapping + pin");
	check(mm, "putback");
	kmm_put_page(pin);
	cr_assert_eq(kmm_page_ref_count(pin), 1);
	/* Movable again: now it migrates. */
	isolate_one(pin, &list);
	cr_assert_eq(kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_neq(upfn(mm, a), p0);
	assert_user_bytes(a, 2, 1, "after unpin");
	check(mm, "unpinned migrated");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "pinned done");
	assert_clean("pinned");
}

/* A pinned page in the middle of a run of consecutive addresses: the others move. */
Test(contig, migrate_run_with_pinned_middle)
{
	enum { N = 9, PINNED = 4 };
	struct kmm_mm_struct *mm;
	struct kmm_list_head list;
	unsigned long a, old[N], f0;
	unsigned n = 99;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, N, ANON_POP);
	kmm_list_init(&list);
	for (unsigned i = 0; i < N; i++) {
		uwrite(a + i * PG, 6);
		old[i] = upfn(mm, a + i * PG);
		isolate_one(P(old[i]), &list);
	}
	kmm_get_page(P(old[PINNED]));
	r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n);
	cr_assert_eq(r, 1, "one page left: %d", r);
	cr_assert_eq(n, N - 1);
	cr_assert_eq(list_len(&list), 1);
	cr_assert_eq(kmm_list_first_entry(&list, struct kmm_page, lru), P(old[PINNED]));
	for (unsigned i = 0; i < N; i++) {
		if (i == PINNED)
			cr_assert_eq(upfn(mm, a + i * PG), old[i], "the pinned page moved");
		else
			cr_assert_neq(upfn(mm, a + i * PG), old[i], "page %u did not move", i);
		if (i != PINNED)
			cr_assert_eq(refc(old[i]), 0, "old frame %u not freed", i);
	}
	assert_user_bytes(a, N, 6, "run with a pinned middle");
	for (unsigned i = 0; i < N; i++)
		cr_assert(kcheck(upfn(mm, a + i * PG), a + i * PG, 6), "frame of page %u", i);
	check(mm, "run with a pinned middle");
	kmm_putback_movable_pages(&list);
	kmm_put_page(P(old[PINNED]));
	check(mm, "putback");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "run done");
	assert_clean("pinned middle");
}

/* Unmapped between isolation and migration: a success, and the page is freed. */
Test(contig, migrate_unmapped_meanwhile)
{
	struct kmm_mm_struct *mm;
	struct kmm_list_head list;
	unsigned long a, pfn, f0, s0;
	unsigned n = 99;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, 3, ANON_POP);
	pfn = upfn(mm, a + PG);
	kmm_list_init(&list);
	isolate_one(P(pfn), &list);
	cr_assert_eq(kmm_vm_munmap(mm, a + PG, PG), 0);
	cr_assert_eq(refc(pfn), 1, "only the isolation holds it");
	check(mm, "unmapped while isolated");
	s0 = kmm_pgmigrate_success();
	cr_assert_eq(kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert(kmm_list_empty(&list));
	cr_assert_eq(kmm_pgmigrate_success(), s0 + 1);
	cr_assert_eq(refc(pfn), 0, "freed");
	cr_assert_not(kmm_page_test(P(pfn), KMM_PG_isolated));
	check(mm, "migrated an unmapped page");
	/* putback of an unmapped isolated page frees it too. */
	pfn = upfn(mm, a);
	isolate_one(P(pfn), &list);
	cr_assert_eq(kmm_vm_munmap(mm, a, PG), 0);
	kmm_putback_movable_pages(&list);
	cr_assert_eq(refc(pfn), 0);
	cr_assert_not(kmm_page_test(P(pfn), KMM_PG_isolated));
	/* And mm teardown while a page is isolated. */
	pfn = upfn(mm, a + 2 * PG);
	isolate_one(P(pfn), &list);
	kmm_mm_destroy(mm);
	cr_assert_eq(refc(pfn), 1);
	cr_assert_eq(kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(refc(pfn), 0);
	cr_assert_eq(free_now(), f0);
	check(NULL, "unmapped done");
	assert_clean("unmapped");
}

Test(contig, isolate_refuses_non_anon_pages)
{
	struct kmm_list_head list;
	struct kmm_page *k;
	void *v;
	unsigned long f0;
	long t0;

	kt_boot("mem=64M");
	f0 = free_now();
	t0 = atomic_load(&kmm_init_mm.pgtables_pages);
	kmm_list_init(&list);
	k = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(k);
	cr_assert_eq(kmm_isolate_movable_page(k, &list), -KMM_EBUSY, "kernel page");
	cr_assert_eq(kmm_page_ref_count(k), 1);
	kmm___free_pages(k, 0);
	k = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 0);	/* movable, but nobody maps it */
	cr_assert_eq(kmm_isolate_movable_page(k, &list), -KMM_EBUSY, "unmapped movable page");
	kmm___free_pages(k, 0);
	v = kmm_vmalloc(4 * PG);
	cr_assert_not_null(v);
	if (!is_shadow())
		cr_assert_eq(kmm_isolate_movable_page(kmm_vmalloc_to_page(v), &list), -KMM_EBUSY,
			     "vmalloc page");
	kmm_vfree(v);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_isolate_movable_page(P(3000), &list), -KMM_EBUSY, "free page");
	cr_assert_eq(kmm_isolate_movable_page(NULL, &list), -KMM_EBUSY, "NULL page");
	cr_assert(kmm_list_empty(&list));
	cr_assert_eq(kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, NULL), 0,
		     "an empty list");
	cr_assert_eq(refc(3000), 0);
	kmm_vm_unmap_aliases();
	cr_assert_eq(free_now() + (uint64_t)(atomic_load(&kmm_init_mm.pgtables_pages) - t0), f0,
		     "pages lost (kernel page-table pages vmalloc keeps aside)");
	check(NULL, "non-anon");
	assert_clean("non-anon");
}

struct target_ctx {
	unsigned long calls, freed;
	bool fail_after_one;
	struct kmm_page *last;
};

static struct kmm_page *dma_target(struct kmm_page *src, unsigned long private)
{
	struct target_ctx *c = (struct target_ctx *)private;

	(void)src;
	if (c->fail_after_one && c->calls >= 1)
		return NULL;
	c->calls++;
	c->last = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, 0);
	return c->last;
}

static void dma_target_free(struct kmm_page *dst, unsigned long private)
{
	struct target_ctx *c = (struct target_ctx *)private;

	c->freed++;
	kmm___free_pages(dst, 0);
}

/* Targets from the caller's callback; NULL from it is -ENOMEM, the rest stays. */
Test(contig, migrate_custom_targets_and_enomem)
{
	struct kmm_mm_struct *mm;
	struct kmm_list_head list;
	struct target_ctx c = { 0 };
	unsigned long a, f0, p[3];
	unsigned n = 99;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, 3, ANON_POP);
	kmm_list_init(&list);
	for (int i = 0; i < 3; i++) {
		uwrite(a + i * PG, 7);
		p[i] = upfn(mm, a + i * PG);
		isolate_one(P(p[i]), &list);
	}
	c.fail_after_one = true;
	r = kmm_migrate_pages(&list, dma_target, dma_target_free, (unsigned long)&c,
			      KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n);
	cr_assert_eq(r, -KMM_ENOMEM, "target allocation failed: %d", r);
	cr_assert_eq(n, 1);
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(list_len(&list), 2, "the others stay on the list");
	cr_assert_eq(upfn(mm, a), kmm_page_to_pfn(c.last), "the first went to the callback's page");
	cr_assert_lt(kmm_page_to_pfn(c.last), 4096, "a DMA page");
	check(mm, "enomem");
	assert_user_bytes(a, 3, 7, "enomem");
	kmm_putback_movable_pages(&list);
	cr_assert_eq(upfn(mm, a + PG), p[1]);
	cr_assert_eq(upfn(mm, a + 2 * PG), p[2]);
	check(mm, "putback after enomem");
	/* All of them to DMA. */
	c = (struct target_ctx){ 0 };
	for (int i = 0; i < 3; i++)
		isolate_one(upage(mm, a + i * PG), &list);
	cr_assert_eq(kmm_migrate_pages(&list, dma_target, dma_target_free, (unsigned long)&c,
				       KMM_MIGRATE_ASYNC, KMM_MR_COMPACTION, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(c.calls, 3);
	cr_assert_eq(c.freed, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_lt(upfn(mm, a + i * PG), 4096);
	assert_user_bytes(a, 3, 7, "to DMA");
	check(mm, "to DMA");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "custom done");
	assert_clean("custom targets");
}

/* ---- alloc_contig_range ------------------------------------------------------------ */

Test(contig, acr_free_range_unaligned)
{
	const unsigned long s = 1024 + 3, e = s + 700;
	struct kt_snap s0;
	uint64_t f0;
	int r;

	kt_boot("mem=64M");
	snap(&s0);
	f0 = free_now();
	r = kmm_alloc_contig_range(s, e, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	cr_assert_eq(r, 0, "alloc_contig_range = %d", r);
	check(NULL, "acr");
	for (unsigned long pfn = s; pfn < e; pfn++) {
		struct kmm_page *p = P(pfn);

		cr_assert_eq(kmm_page_ref_count(p), 1, "pfn %#lx refcount %d", pfn, kmm_page_ref_count(p));
		cr_assert_eq(p->alloc_order, 0);
		cr_assert_not(kmm_page_test(p, KMM_PG_buddy) || kmm_page_test(p, KMM_PG_pcp));
		cr_assert_eq(atomic_load(&p->_mapcount), -1);
	}
	for (unsigned long pfn = 1024; pfn < s; pfn++)
		cr_assert(pfn_free(pfn), "pfn %#lx before the range is free", pfn);
	for (unsigned long pfn = e; pfn < 2048; pfn++)
		cr_assert(pfn_free(pfn), "pfn %#lx after the range is free", pfn);
	cr_assert_eq(free_now(), f0 - 700);
	cr_assert_eq(nr_isolated_blocks(), 0);
	cr_assert_eq(kt_zone_free_mt(zdma(), KMM_MIGRATE_ISOLATE), 0);
	/* The range again: every page is taken now. */
	cr_assert_eq(kmm_alloc_contig_range(s, s + 1, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL | KMM___GFP_NOWARN),
		     -KMM_EBUSY);
	check(NULL, "second acr refused");
	kmm_free_contig_range(s, e - s);
	check(NULL, "free_contig_range");
	cr_assert_eq(free_now(), f0);
	assert_snap_same(&s0, "acr + free");
	/* Whole aligned blocks and one page. */
	cr_assert_eq(kmm_alloc_contig_range(0, 4096, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	cr_assert_eq(zfree(zdma()), 0);
	check(NULL, "all of DMA");
	kmm_free_contig_range(0, 4096);
	cr_assert_eq(kmm_alloc_contig_range(4095, 4096, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	cr_assert_eq(refc(4095), 1);
	kmm_free_contig_range(4095, 1);
	check(NULL, "one page");
	assert_snap_same(&s0, "whole zone and one page");
	assert_clean("acr free");
}

/* The pages are order-0 allocations: each may be freed alone; a free page is refused. */
Test(contig, free_contig_range_pages)
{
	const unsigned long s = 3000, n = 40;
	struct kt_snap s0;
	unsigned long bad0;

	kt_boot("mem=64M");
	snap(&s0);
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL), 0);
	for (unsigned long pfn = s; pfn < s + n; pfn += 2)
		kmm___free_pages(P(pfn), 0);
	kmm_free_contig_range(s + 1, 1);
	check(NULL, "some freed one by one");
	for (unsigned long pfn = s + 3; pfn < s + n; pfn += 2)
		kmm___free_pages(P(pfn), 0);
	check(NULL, "all freed one by one");
	assert_snap_same(&s0, "freed one by one");
	assert_clean("free one by one");
	/* Freeing pages that are free: reported, skipped, nothing changes. */
	bad0 = kmm_stat_read(KMM_STAT_BAD_PAGE);
	kmm_free_contig_range(s, 4);
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), bad0 + 4);
	cr_assert(kt_log_count("Bad page state"));
	kmm_free_contig_range(kmm_machine.max_pfn - 1, 3);
	cr_assert(kt_log_count("past memory"), "a range past memory is reported");
	check(NULL, "bad frees");
	assert_snap_same(&s0, "bad frees");
}

/* Every page of the range a user page with bytes: moved out, bytes kept, frames ours. */
static void acr_populated(void)
{
	const unsigned long NU = 4000, LEN = 700;
	struct kmm_mm_struct *mm;
	unsigned long a, s, f0, mig0;
	int r;

	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, NU, ANON_POP);
	for (unsigned long i = 0; i < NU; i++)
		uwrite(a + i * PG, 3);
	check(mm, "populated");
	s = find_user_run(mm, a, NU, LEN);
	cr_assert_neq(s, NOPFN, "no run of %lu user frames", LEN);
	mig0 = kmm_pgmigrate_success();
	r = kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	if (r)
		kt_log_dump("acr populated");
	cr_assert_eq(r, 0, "alloc_contig_range over user pages = %d", r);
	check(mm, "acr over user pages");
	cr_assert_geq(kmm_pgmigrate_success(), mig0 + LEN, "every page of the range migrated");
	for (unsigned long pfn = s; pfn < s + LEN; pfn++) {
		struct kmm_page *p = P(pfn);

		cr_assert_eq(kmm_page_ref_count(p), 1, "pfn %#lx", pfn);
		cr_assert_not(kmm_page_test(p, KMM_PG_anon) || kmm_page_test(p, KMM_PG_lru) ||
			      kmm_page_test(p, KMM_PG_isolated), "pfn %#lx still a user page", pfn);
		cr_assert_eq(atomic_load(&p->_mapcount), -1);
	}
	for (unsigned long i = 0; i < NU; i++) {
		unsigned long pfn = upfn(mm, a + i * PG);
		struct kmm_mm_struct *rmm = NULL;
		unsigned long raddr = 0;

		cr_assert_neq(pfn, NOPFN, "user page %lu unmapped", i);
		cr_assert(pfn < s || pfn >= s + LEN, "user page %lu still mapped in the range (pfn %#lx)", i, pfn);
		cr_assert(kmm_page_anon_rmap(P(pfn), &rmm, &raddr));
		cr_assert_eq(rmm, mm);
		cr_assert_eq(raddr, a + i * PG);
		cr_assert(kcheck(pfn, a + i * PG, 3), "user page %lu: frame lacks its bytes", i);
	}
	assert_user_bytes(a, NU, 3, "acr populated");
	cr_assert_eq(nr_isolated_blocks(), 0);
	kmm_free_contig_range(s, LEN);
	check(mm, "freed range");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0, "pages lost");
	check(NULL, "acr populated done");
}

Test(contig, acr_populated_range)
{
	kt_boot("mem=64M");
	acr_populated();
	assert_clean("acr populated");
}

Test(contig, acr_populated_range_shadow)
{
	kt_boot("kmm.mode=shadow mem=64M");
	cr_assert(is_shadow());
	acr_populated();
	assert_clean("acr populated shadow");
}

Test(contig, acr_populated_range_strict)
{
	kt_boot("kmm.mode=strict mem=64M");
	acr_populated();
	assert_clean("acr populated strict");
}

/* No memory for migration targets: -ENOMEM, NOMEM, nothing lost. */
Test(contig, acr_no_memory_for_targets)
{
	const unsigned long NU = 3000, LEN = 512;
	struct kmm_mm_struct *mm;
	struct kt_blocks hog = { 0 };
	unsigned long a, s, f0, c0;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, NU, ANON_POP);
	for (unsigned long i = 0; i < NU; i++)
		uwrite(a + i * PG, 4);
	s = find_user_run(mm, a, NU, LEN);
	cr_assert_neq(s, NOPFN);
	kt_fill(&hog, KMM_GFP_HIGHUSER_MOVABLE, KMM_MAX_PAGE_ORDER);
	kmm_drain_all_pages(NULL);
	c0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_NOMEM);
	r = kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	cr_assert_eq(r, -KMM_ENOMEM, "acr with memory full = %d", r);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_NOMEM);
	cr_assert(lasterr().pfn >= s && lasterr().pfn < s + LEN, "pfn %#llx",
		  (unsigned long long)lasterr().pfn);
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_NOMEM), c0 + 1);
	cr_assert_eq(nr_isolated_blocks(), 0);
	check(mm, "acr enomem");
	assert_user_bytes(a, NU, 4, "enomem");
	for (unsigned long i = 0; i < NU; i++) {
		struct kmm_page *p = upage(mm, a + i * PG);

		cr_assert(kmm_page_test(p, KMM_PG_lru), "user page %lu left off the LRU", i);
		cr_assert_not(kmm_page_test(p, KMM_PG_isolated), "user page %lu left isolated", i);
		cr_assert_eq(kmm_page_ref_count(p), 1, "user page %lu", i);
	}
	kt_blocks_free_all(&hog);
	kt_blocks_destroy(&hog);
	/* With memory back the range is had. */
	cr_assert_eq(kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	assert_user_bytes(a, NU, 4, "after enomem");
	kmm_free_contig_range(s, LEN);
	check(mm, "after enomem");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "enomem done");
	cr_assert_eq(nr_isolated_blocks(), 0);
}

/* A pageblock that runs past the zone's (and memory's) end: refused, nothing read past it. */
Test(contig, partial_pageblock_at_memory_end)
{
	struct kt_snap s0;
	unsigned long end;
	int r;

	kt_boot("mem=65M");
	end = kmm_machine.max_pfn;
	cr_assert_eq(end % PB, 256, "precondition: memory ends inside a pageblock");
	snap(&s0);
	r = kmm_start_isolate_page_range(end - 100, end, KMM_PB_ISOLATE_MODE_OTHER);
	cr_assert_eq(r, -KMM_EBUSY, "isolate a pageblock across the zone end = %d", r);
	assert_snap_same(&s0, "partial pageblock isolate");
	cr_assert_eq(nr_isolated_blocks(), 0);
	r = kmm_alloc_contig_range(end - 100, end, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL | KMM___GFP_NOWARN);
	cr_assert_eq(r, -KMM_EBUSY, "acr across the zone end = %d", r);
	assert_snap_same(&s0, "partial pageblock acr");
	/* The whole pageblock before it is fine. */
	cr_assert_eq(kmm_alloc_contig_range(end - 256 - PB, end - 256, 0, KMM_GFP_KERNEL), 0);
	kmm_free_contig_range(end - 256 - PB, PB);
	check(NULL, "partial pageblock");
	assert_snap_same(&s0, "partial pageblock done");
}

/* A pinned user page in the range: -EBUSY, PINNED, named; nothing lost. */
Test(contig, acr_pinned_user_page_refused)
{
	const unsigned long NU = 3000, LEN = 600;
	struct kmm_mm_struct *mm;
	unsigned long a, s, f0, c0, pinpfn;
	struct kmm_page *pin;
	int r;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, NU, ANON_POP);
	for (unsigned long i = 0; i < NU; i++)
		uwrite(a + i * PG, 5);
	s = find_user_run(mm, a, NU, LEN);
	cr_assert_neq(s, NOPFN);
	pinpfn = s + LEN / 2;
	pin = P(pinpfn);
	kmm_get_page(pin);
	c0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_PINNED);
	r = kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	cr_assert_eq(r, -KMM_EBUSY, "acr with a pinned page = %d", r);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_PINNED, "reason %d", lasterr().reason);
	cr_assert_eq(lasterr().pfn, pinpfn, "named pfn %#llx, pinned %#lx",
		     (unsigned long long)lasterr().pfn, pinpfn);
	cr_assert_eq(lasterr().refcount, 2, "mapping + pin");
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_PINNED), c0 + 1);
	cr_assert(kt_log_count("alloc_contig_range"), "the failure is logged");
	cr_assert_eq(nr_isolated_blocks(), 0, "nothing stays isolated");
	cr_assert_eq(kmm_page_ref_count(pin), 2);
	cr_assert(kmm_page_test(pin, KMM_PG_lru), "the pinned page is back on the LRU");
	check(mm, "acr pinned refused");
	assert_user_bytes(a, NU, 5, "pinned refusal");
	for (unsigned long i = 0; i < NU; i++)
		cr_assert(kcheck(upfn(mm, a + i * PG), a + i * PG, 5));
	/* Quietly (__GFP_NOWARN) it logs nothing. */
	kt_log_clear();
	cr_assert_eq(kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE,
					    KMM_GFP_KERNEL | KMM___GFP_NOWARN), -KMM_EBUSY);
	cr_assert_eq(kt_log_count("alloc_contig_range"), 0, "%s", kt_log_find("alloc_contig_range"));
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_PINNED), c0 + 2);
	kmm_put_page(pin);
	/* Unpinned, the range is had. */
	cr_assert_eq(kmm_alloc_contig_range(s, s + LEN, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	assert_user_bytes(a, NU, 5, "after unpin");
	check(mm, "acr after unpin");
	kmm_free_contig_range(s, LEN);
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "pinned done");
	assert_clean("pinned acr");
}

/* An unmovable page: refused at isolation, named. */
Test(contig, acr_unmovable_page_refused)
{
	struct kmm_page *k;
	struct kt_snap s0;
	unsigned long kp;

	kt_boot("mem=64M");
	k = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, 0);
	kp = kmm_page_to_pfn(k);
	snap(&s0);
	cr_assert_eq(kmm_alloc_contig_range(kp > 10 ? kp - 10 : 0, kp + 10, KMM_ACR_FLAGS_NONE,
					    KMM_GFP_KERNEL), -KMM_EBUSY);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(lasterr().pfn, kp);
	check(NULL, "acr unmovable");
	assert_snap_same(&s0, "acr unmovable");
	kmm___free_pages(k, 0);
	assert_clean("acr unmovable");
}

Test(contig, acr_bad_arguments)
{
	struct kt_snap s0;
	const unsigned long max = 16384;
	int r;

	kt_boot("mem=64M");
	cr_assert_eq(kmm_machine.max_pfn, max);
	snap(&s0);
	cr_assert_eq(kmm_alloc_contig_range(100, 100, 0, KMM_GFP_KERNEL), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range(200, 100, 0, KMM_GFP_KERNEL), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range(max, max + 1, 0, KMM_GFP_KERNEL), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range(max - 5, max + 5, 0, KMM_GFP_KERNEL), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range(4090, 4100, 0, KMM_GFP_KERNEL), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range(1024, 1030, 0x2, KMM_GFP_KERNEL), -KMM_EINVAL, "bad flags");
	r = kmm_alloc_contig_range_mt(1024, 1030, KMM_MIGRATE_UNMOVABLE);
	cr_assert_eq(r, -KMM_EINVAL, "UNMOVABLE: %d", r);
	cr_assert_eq(kmm_alloc_contig_range_mt(1024, 1030, KMM_MIGRATE_RECLAIMABLE), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range_mt(1024, 1030, KMM_MIGRATE_HIGHATOMIC), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range_mt(1024, 1030, KMM_MIGRATE_ISOLATE), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range_mt(1024, 1030, 77), -KMM_EINVAL);
	cr_assert_eq(kmm_alloc_contig_range_mt(4090, 4100, KMM_MIGRATE_MOVABLE), -KMM_EINVAL);
	check(NULL, "refusals");
	assert_snap_same(&s0, "refusals");
	assert_clean("bad arguments");
	/* The good forms. */
	cr_assert_eq(kmm_alloc_contig_range_mt(1024, 1030, KMM_MIGRATE_MOVABLE), 0);
	for (unsigned long pfn = 1024; pfn < 1030; pfn++)
		cr_assert_eq(refc(pfn), 1);
	kmm_free_contig_range(1024, 6);
	check(NULL, "mt movable");
	assert_snap_same(&s0, "mt movable");
}

Test(contig, acr_gfp_zero)
{
	const unsigned long s = 2048 + 100, n = 300;
	char *k;

	kt_boot("mem=64M");
	k = kmm_page_address(P(s));
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL), 0);
	memset(k, 0xa5, n * PG);
	kmm_free_contig_range(s, n);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL), 0);
	cr_assert_eq((unsigned char)k[0], 0xa5, "precondition: without __GFP_ZERO the bytes stay");
	kmm_free_contig_range(s, n);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL | KMM___GFP_ZERO), 0);
	for (unsigned long i = 0; i < n; i++)
		cr_assert(kt_block_is_zero(P(s + i), 0), "page %lu not zeroed", i);
	kmm_free_contig_range(s, n);
	check(NULL, "gfp zero");
	assert_clean("gfp zero");
}

/* init_on_alloc=1 zeroes too. */
Test(contig, acr_init_on_alloc)
{
	const unsigned long s = 2048, n = 64;

	kt_boot("mem=64M init_on_alloc=1");
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL), 0);
	memset(kmm_page_address(P(s)), 0x5a, n * PG);
	kmm_free_contig_range(s, n);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL), 0);
	for (unsigned long i = 0; i < n; i++)
		cr_assert(kt_block_is_zero(P(s + i), 0), "page %lu not zeroed", i);
	kmm_free_contig_range(s, n);
	check(NULL, "init_on_alloc");
	assert_clean("init_on_alloc");
}

/* CMA pageblocks: not without KMM_ACR_FLAGS_CMA. */
Test(contig, acr_cma_pageblocks)
{
	struct kt_snap s0;
	unsigned long base, c0;
	long cma0;

	kt_boot("mem=64M cma=16M");
	base = kmm_machine.cma_reserved[0].base_pfn;
	snap(&s0);
	c0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(kmm_alloc_contig_range(base + 10, base + 100, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL),
		     -KMM_EBUSY);
	cr_assert_eq(lasterr().reason, KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE), c0 + 1);
	check(NULL, "cma refused");
	assert_snap_same(&s0, "cma refused");
	/* A range reaching into the CMA area from below, too. */
	cr_assert_eq(kmm_alloc_contig_range(base - 100, base + 100, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL),
		     -KMM_EBUSY);
	assert_snap_same(&s0, "cma border refused");
	cr_assert_eq(nr_isolated_blocks(), 0);
	/* With the flag (and with the 4.x form) it is had. */
	cma0 = kmm_zone_page_state(kmm_page_zone(P(base)), KMM_NR_FREE_CMA_PAGES);
	cr_assert_eq(kmm_alloc_contig_range(base + 10, base + 100, KMM_ACR_FLAGS_CMA, KMM_GFP_KERNEL), 0);
	cr_assert_eq(kmm_zone_page_state(kmm_page_zone(P(base)), KMM_NR_FREE_CMA_PAGES), cma0 - 90);
	check(NULL, "cma acr");
	cr_assert_eq(kmm_alloc_contig_range_mt(base + 1000, base + 1100, KMM_MIGRATE_CMA), 0);
	check(NULL, "cma acr mt");
	kmm_free_contig_range(base + 10, 90);
	kmm_free_contig_range(base + 1000, 100);
	check(NULL, "cma freed");
	assert_snap_same(&s0, "cma acr + free");
	assert_clean("cma acr");
}

/* kmm_alloc_contig_pages(): n pages aligned to the power of two <= n. */
Test(contig, alloc_contig_pages_aligned)
{
	static const unsigned long sizes[] = { 1, 3, 100, 512, 700, 1024, 1500, 3000 };
	struct kt_snap s0;

	kt_boot("mem=64M");
	snap(&s0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned long n = sizes[i], align = 1, pfn;
		struct kmm_page *p;

		while (align * 2 <= n && align < KMM_MAX_ORDER_NR_PAGES)
			align *= 2;
		p = kmm_alloc_contig_pages(n, KMM_GFP_KERNEL, -1, NULL);
		if (!p)
			kt_log_dump("alloc_contig_pages");
		cr_assert_not_null(p, "alloc_contig_pages(%lu) failed", n);
		pfn = kmm_page_to_pfn(p);
		cr_assert_eq(pfn % align, 0, "%lu pages at pfn %#lx, not aligned to %lu", n, pfn, align);
		for (unsigned long k = 0; k < n; k++)
			cr_assert_eq(refc(pfn + k), 1, "page %lu of %lu", k, n);
		cr_assert_eq(kmm_page_zone(p), kmm_page_zone(P(pfn + n - 1)));
		check(NULL, "alloc_contig_pages");
		kmm_free_contig_range(pfn, n);
		check(NULL, "free_contig_range");
		assert_snap_same(&s0, "alloc_contig_pages + free");
	}
	/* GFP_DMA: from DMA. */
	{
		struct kmm_page *p = kmm_alloc_contig_pages(256, KMM_GFP_KERNEL | KMM_GFP_DMA, -1, NULL);

		cr_assert_not_null(p);
		cr_assert_lt(kmm_page_to_pfn(p) + 256, 4097);
		kmm_free_contig_range(kmm_page_to_pfn(p), 256);
	}
	/* Too many, a nodemask, zero: NULL. */
	cr_assert_null(kmm_alloc_contig_pages(20000, KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1, NULL));
	cr_assert_null(kmm_alloc_contig_pages(0, KMM_GFP_KERNEL, -1, NULL));
	cr_assert_null(kmm_alloc_contig_pages(4, KMM_GFP_KERNEL, 5, NULL), "no node 5");
	check(NULL, "alloc_contig_pages refusals");
	assert_snap_same(&s0, "alloc_contig_pages all");
	assert_clean("alloc_contig_pages");
}

/* With memory full of user pages, kmm_alloc_contig_pages() migrates them away. */
Test(contig, alloc_contig_pages_moves_user_pages)
{
	const unsigned long NU = 9000;
	struct kmm_mm_struct *mm;
	unsigned long a, f0, pfn;
	struct kmm_page *p;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, NU, ANON_POP);
	for (unsigned long i = 0; i < NU; i++)
		uwrite(a + i * PG, 9);
	p = kmm_alloc_contig_pages(1024, KMM_GFP_HIGHUSER_MOVABLE & ~KMM___GFP_DMA32, -1, NULL);
	if (!p)
		kt_log_dump("alloc_contig_pages");
	cr_assert_not_null(p);
	pfn = kmm_page_to_pfn(p);
	cr_assert_eq(pfn % 1024, 0);
	check(mm, "contig pages over user memory");
	assert_user_bytes(a, NU, 9, "alloc_contig_pages over user pages");
	for (unsigned long i = 0; i < NU; i++) {
		unsigned long up = upfn(mm, a + i * PG);

		cr_assert(up < pfn || up >= pfn + 1024, "user page %lu in the allocation", i);
	}
	kmm_free_contig_range(pfn, 1024);
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "done");
	assert_clean("alloc_contig_pages over user");
}

/* ---- the last error is per thread ------------------------------------------------ */

struct err_thread {
	unsigned long pfn;
	int r;
	struct kmm_contig_error e;
};

static void *err_worker(void *arg)
{
	struct err_thread *t = arg;

	kmm_bind_cpu(0);
	t->r = kmm_start_isolate_page_range(t->pfn, t->pfn + 1, KMM_PB_ISOLATE_MODE_OTHER);
	t->e = kmm_contig_last_error();
	kmm_bind_cpu(-1);
	return NULL;
}

Test(contig, last_error_is_per_thread)
{
	struct kmm_page *k1, *k2;
	struct err_thread t;
	pthread_t th;

	kt_boot("mem=64M nr_cpus=2");
	k1 = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, 0);
	k2 = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_neq(KMM_ALIGN_DOWN(kmm_page_to_pfn(k1), PB), KMM_ALIGN_DOWN(kmm_page_to_pfn(k2), PB));
	kmm_bind_cpu(0);
	cr_assert_eq(kmm_start_isolate_page_range(kmm_page_to_pfn(k1), kmm_page_to_pfn(k1) + 1,
						  KMM_PB_ISOLATE_MODE_OTHER), -KMM_EBUSY);
	/* The thread moves to another CPU: its last error goes with it. */
	kmm_bind_cpu(1);
	cr_assert_eq(kmm_contig_last_error().pfn, kmm_page_to_pfn(k1),
		     "after a CPU change the last error names %#llx",
		     (unsigned long long)kmm_contig_last_error().pfn);
	/* Another thread's failure (on the CPU this one failed on) is its own. */
	t.pfn = kmm_page_to_pfn(k2);
	cr_assert_eq(pthread_create(&th, NULL, err_worker, &t), 0);
	pthread_join(th, NULL);
	cr_assert_eq(t.r, -KMM_EBUSY);
	cr_assert_eq(t.e.reason, KMM_CONTIG_FAIL_UNMOVABLE);
	cr_assert_eq(KMM_ALIGN_DOWN(t.e.pfn, PB), KMM_ALIGN_DOWN(kmm_page_to_pfn(k2), PB),
		     "the thread's own error names a page of its pageblock");
	kmm_bind_cpu(0);
	cr_assert_eq(kmm_contig_last_error().pfn, kmm_page_to_pfn(k1),
		     "another thread's failure replaced this thread's last error");
	kmm_bind_cpu(-1);
	kmm___free_pages(k1, 0);
	kmm___free_pages(k2, 0);
	check(NULL, "per thread");
}

/* ---- alloc_contig_range from several threads at once ------------------------------- */

struct acr_worker {
	int id;
	unsigned long base, ok, busy;
	int errors;
	char msg[256];
};

#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

static atomic_bool acr_stop;

static void *acr_worker_main(void *arg)
{
	struct acr_worker *w = arg;
	uint64_t rnd = 0x1234 + (uint64_t)w->id;

	kmm_bind_cpu(w->id % (int)kmm_machine.nr_cpus);
	for (int i = 0; i < 300 && !w->errors; i++) {
		/* Own range or the shared one [1024, 2048) of DMA. */
		bool shared = kt_rand(&rnd) % 3 == 0;
		unsigned long s = shared ? 1024 + kt_rand(&rnd) % 512 : w->base + kt_rand(&rnd) % 256;
		unsigned long n = 1 + kt_rand(&rnd) % 200;
		int r = kmm_alloc_contig_range(s, s + n, 0, KMM_GFP_KERNEL | KMM___GFP_NOWARN);

		if (r == 0) {
			for (unsigned long pfn = s; pfn < s + n; pfn++)
				if (kmm_page_ref_count(kmm_pfn_to_page(pfn)) != 1)
					wfail(w, "pfn %#lx refcount %d", pfn,
					      kmm_page_ref_count(kmm_pfn_to_page(pfn)));
			kmm_free_contig_range(s, n);
			w->ok++;
		} else if (r == -KMM_EBUSY && shared) {
			struct kmm_contig_error e = kmm_contig_last_error();

			if (e.reason != KMM_CONTIG_FAIL_ISOLATED && e.reason != KMM_CONTIG_FAIL_UNMOVABLE &&
			    e.reason != KMM_CONTIG_FAIL_RACE)
				wfail(w, "busy shared range, reason %d", e.reason);
			w->busy++;
		} else {
			wfail(w, "acr(%#lx, +%lu) own range = %d (reason %d pfn %#llx)", s, n, r,
			      kmm_contig_last_error().reason,
			      (unsigned long long)kmm_contig_last_error().pfn);
		}
	}
	kmm_bind_cpu(-1);
	return NULL;
}

static void *churn_main(void *arg)
{
	(void)arg;
	kmm_bind_cpu(0);
	while (!atomic_load(&acr_stop)) {
		struct kmm_page *p[16];

		for (int i = 0; i < 16; i++)
			p[i] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, i % 3);
		for (int i = 0; i < 16; i++)
			if (p[i])
				kmm___free_pages(p[i], i % 3);
	}
	kmm_bind_cpu(-1);
	return NULL;
}

Test(contig, acr_from_threads, .timeout = 240)
{
	enum { NW = 4 };
	struct acr_worker w[NW];
	pthread_t th[NW], churn;
	unsigned long ok = 0, busy = 0;
	uint64_t f0;

	kt_boot("mem=64M nr_cpus=4");
	f0 = free_now();
	atomic_store(&acr_stop, false);
	cr_assert_eq(pthread_create(&churn, NULL, churn_main, NULL), 0);
	for (int i = 0; i < NW; i++) {
		/* Own ranges: DMA pageblocks 2048.. (one each), so they never meet. */
		w[i] = (struct acr_worker){ .id = i, .base = 2048 + (unsigned long)i * PB };
		cr_assert_eq(pthread_create(&th[i], NULL, acr_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NW; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].errors, 0, "worker %d: %s", i, w[i].msg);
		ok += w[i].ok;
		busy += w[i].busy;
	}
	atomic_store(&acr_stop, true);
	pthread_join(churn, NULL);
	cr_log_info("%lu allocations, %lu busy", ok, busy);
	cr_assert_gt(ok, NW * 150);
	check(NULL, "threads");
	cr_assert_eq(free_now(), f0);
	cr_assert_eq(nr_isolated_blocks(), 0);
}

/* ---- a writer while the page migrates --------------------------------------------- */

struct writer {
	volatile uint64_t *p;
	atomic_bool stop, started;
	uint64_t last;
	unsigned long errors;
	uint64_t bad_seen, bad_expected;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t v = 0;

	atomic_store(&w->started, true);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		uint64_t seen = *w->p;

		if (seen != v && !w->errors++) {
			w->bad_seen = seen;
			w->bad_expected = v;
		}
		*w->p = ++v;
	}
	w->last = v;
	return NULL;
}

Test(contig, migrate_under_concurrent_stores, .timeout = 240)
{
	enum { ROUNDS = 2000 };
	struct kmm_mm_struct *mm;
	struct writer w = { 0 };
	pthread_t th;
	unsigned long a, f0, moves = 0;
	uint64_t fin;

	kt_boot("mem=64M");
	f0 = free_now();
	mm = new_mm();
	a = do_mmap(mm, 4, KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS);
	if (!(kmm_find_vma(mm, a)->vm_flags & KMM_VM_UFFD_MISSING)) {
		cr_log_info("no user page faults on this host (VM_UFFD_MISSING unset): skipped");
		kmm_mm_destroy(mm);
		return;
	}
	*(volatile uint64_t *)(a + PG + 64) = 0;	/* the first touch maps it */
	cr_assert_neq(upfn(mm, a + PG), NOPFN);
	check(mm, "touched");
	w.p = (volatile uint64_t *)(a + PG + 64);
	cr_assert_eq(pthread_create(&th, NULL, writer_main, &w), 0);
	while (!atomic_load(&w.started))
		sched_yield();
	for (int i = 0; i < ROUNDS; i++) {
		struct kmm_list_head list;
		unsigned long before = upfn(mm, a + PG);
		unsigned n = 0;
		int r;

		kmm_list_init(&list);
		if (kmm_isolate_movable_page(P(before), &list))
			continue;
		r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC, KMM_MR_SYSCALL, &n);
		if (r) {
			kmm_putback_movable_pages(&list);
			continue;
		}
		cr_assert_neq(upfn(mm, a + PG), before);
		moves++;
	}
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	cr_assert_eq(w.errors, 0, "%lu lost stores: read %llu after writing %llu", w.errors,
		     (unsigned long long)w.bad_seen, (unsigned long long)w.bad_expected);
	cr_assert_gt(moves, ROUNDS / 2, "only %lu of %d migrations", moves, ROUNDS);
	fin = *(volatile uint64_t *)(a + PG + 64);
	cr_assert_eq(fin, w.last, "the page holds %llu, the writer's last store was %llu",
		     (unsigned long long)fin, (unsigned long long)w.last);
	cr_assert_eq(*(uint64_t *)((char *)kmm_page_address(upage(mm, a + PG)) + 64), w.last,
		     "the frame holds the last store");
	cr_log_info("%lu migrations under %llu stores", moves, (unsigned long long)w.last);
	check(mm, "concurrent stores");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	check(NULL, "concurrent done");
	assert_clean("concurrent stores");
}
