/* SPDX-License-Identifier: MIT */
/*
 * test_page_hooks.c - the page allocator's calls for laying out a captured
 * kernel's state (kmm replay's page half): kmm_take_block_off_buddy(),
 * kmm_take_page_off_buddy(), kmm_take_block_off_pcp(),
 * kmm_set_pageblock_migratetype(), kmm_adjust_managed_page_count(),
 * kmm_init_per_zone_wmark_min(), kmm_sysctl_min_free_kbytes() and
 * kmm_pcp_set_high().  Bad input leaves everything as it was; each step
 * is followed by kmm_page_alloc_validate().
 */
#include "kmm_test.h"

#include <errno.h>

#include <kmm/page_alloc.h>

static void valid(const char *what)
{
	cr_assert_eq(kmm_page_alloc_validate(), 0, "page allocator invalid after %s", what);
}

static void boot(void)
{
	kt_boot("mem=64M nr_cpus=2");
	kmm_drain_all_pages(NULL);
}

TestSuite(page_hooks, .init = boot, .fini = kt_fini);

/* The first PFN of a free order-10 block in DMA32 (there is one after boot). */
static uint64_t free_max_block(void)
{
	struct kmm_zone *z = kt_zone(0, KMM_ZONE_DMA32);
	uint64_t pfn;

	for (pfn = kmm_zone_end_pfn(z) - 1024; pfn >= z->zone_start_pfn; pfn -= 1024) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);

		if (kmm_page_test(p, KMM_PG_buddy) && p->private == KMM_MAX_PAGE_ORDER)
			return pfn;
	}
	cr_assert_fail("no free order-10 block");
	return 0;
}

Test(page_hooks, take_block_breaks_down_the_buddy_and_frees_back)
{
	uint64_t base = free_max_block(), free0 = kmm_nr_free_pages();
	uint64_t pfn = base + 3 * 8;		/* an order-3 block inside it */
	struct kmm_page *p = kmm_pfn_to_page(pfn);
	struct kmm_zone *z = kmm_page_zone(p);
	unsigned long o10 = z->free_area[10].nr_free;
	int o;

	cr_assert_eq(kmm_take_block_off_buddy(p, 3), 0);
	valid("take");
	cr_assert_eq(kmm_nr_free_pages(), free0 - 8);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert_not(kmm_page_test(p, KMM_PG_buddy));
	/* The rest of the order-10 block stays free, one block per order. */
	cr_assert_eq(z->free_area[10].nr_free, o10 - 1);
	for (o = 3; o < 10; o++)
		cr_assert(z->free_area[o].nr_free >= 1, "no order-%d remainder", o);
	/* Taking it again, or a page inside it, is refused. */
	cr_assert_eq(kmm_take_block_off_buddy(p, 3), -EBUSY);
	cr_assert_not(kmm_take_page_off_buddy(kmm_pfn_to_page(pfn + 1)));
	valid("refusals");
	kmm___free_pages(p, 3);
	kmm_drain_all_pages(NULL);
	valid("free");
	cr_assert_eq(kmm_nr_free_pages(), free0);
	cr_assert_eq(z->free_area[10].nr_free, o10, "the block did not merge back");
}

Test(page_hooks, take_whole_free_block_then_split_and_free)
{
	uint64_t base = free_max_block(), free0 = kmm_nr_free_pages();
	struct kmm_page *p = kmm_pfn_to_page(base);
	struct kmm_zone *z = kmm_page_zone(p);
	unsigned long o10 = z->free_area[10].nr_free;

	/* The covering free block is the range itself: nothing is carved. */
	cr_assert_eq(kmm_take_block_off_buddy(p, 10), 0);
	valid("take whole");
	cr_assert_eq(kmm_nr_free_pages(), free0 - 1024);
	cr_assert_eq(z->free_area[10].nr_free, o10 - 1);
	/* A non-compound allocation: split_page works on it. */
	kmm_split_page(p, 10);
	for (int i = 0; i < 1024; i++)
		kmm___free_pages(kmm_pfn_to_page(base + (uint64_t)i), 0);
	kmm_drain_all_pages(NULL);
	valid("free split");
	cr_assert_eq(kmm_nr_free_pages(), free0);
	cr_assert_eq(z->free_area[10].nr_free, o10);
}

Test(page_hooks, take_block_rejects_bad_input_and_leaves_state)
{
	uint64_t base = free_max_block(), free0 = kmm_nr_free_pages();
	struct kmm_page *held = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	struct kmm_page pretend = { 0 };

	cr_assert_not_null(held);
	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	cr_assert_eq(kmm_take_block_off_buddy(kmm_pfn_to_page(base + 1), 1), -EINVAL, "misaligned");
	cr_assert_eq(kmm_take_block_off_buddy(kmm_pfn_to_page(base), 11), -EINVAL, "order");
	cr_assert_eq(kmm_take_block_off_buddy(&pretend, 0), -EINVAL, "foreign page");
	cr_assert_eq(kmm_take_block_off_buddy(held, 0), -EBUSY, "allocated page");
	cr_assert_eq(kmm_nr_free_pages(), free0);
	valid("refusals");
	kmm___free_pages(held, 0);
}

Test(page_hooks, take_block_off_pcp_leaves_the_other_entries)
{
	struct kmm_page *a, *b, *c;
	unsigned order = 99;
	long pcp0;

	kmm_bind_cpu(0);
	a = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	b = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	c = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert(a && b && c);
	kmm_drain_all_pages(NULL);
	kmm___free_pages(a, 0);
	kmm___free_pages(b, 0);
	kmm___free_pages(c, 0);	/* list: c, b, a */
	pcp0 = kt_pcp_total();
	cr_assert_eq(pcp0, 3);
	cr_assert_eq(kmm_take_block_off_buddy(b, 0), -EBUSY, "a per-CPU page is not in the buddy");
	cr_assert_eq(kmm_take_block_off_pcp(b, &order), 0);
	cr_assert_eq(order, 0);
	cr_assert_eq(kt_pcp_total(), 2);
	cr_assert_eq(kmm_page_ref_count(b), 1);
	valid("take off pcp");
	cr_assert_eq(kmm_take_block_off_pcp(b, &order), -EBUSY, "not on a list any more");
	/* The list still hands out c, then a (LIFO, b gone). */
	cr_assert_eq(kmm_alloc_pages(KMM_GFP_KERNEL, 0), c);
	cr_assert_eq(kmm_alloc_pages(KMM_GFP_KERNEL, 0), a);
	kmm___free_pages(a, 0);
	kmm___free_pages(b, 0);
	kmm___free_pages(c, 0);
	kmm_bind_cpu(-1);
	valid("end");
}

Test(page_hooks, set_pageblock_migratetype_moves_free_pages)
{
	uint64_t base = free_max_block();
	struct kmm_zone *z = kt_zone(0, KMM_ZONE_DMA32);
	unsigned long unmov = kt_zone_free_mt(z, KMM_MIGRATE_UNMOVABLE);
	long moved;

	cr_assert_eq(kmm_get_pfnblock_migratetype(base), KMM_MIGRATE_MOVABLE);
	/* Half of the order-10 block: the buddy is split on the way. */
	cr_assert_eq(kmm_take_block_off_buddy(kmm_pfn_to_page(base + 512), 9), 0);
	moved = kmm_set_pageblock_migratetype(base, KMM_MIGRATE_UNMOVABLE);
	cr_assert_eq(moved, 512);
	cr_assert_eq(kmm_get_pfnblock_migratetype(base), KMM_MIGRATE_UNMOVABLE);
	cr_assert_eq(kt_zone_free_mt(z, KMM_MIGRATE_UNMOVABLE), unmov + 512);
	valid("retype");
	cr_assert_eq(kmm_set_pageblock_migratetype(base, KMM_MIGRATE_CMA), -EINVAL);
	cr_assert_eq(kmm_set_pageblock_migratetype(base, 77), -EINVAL);
	cr_assert_eq(kmm_set_pageblock_migratetype(1ULL << 40, KMM_MIGRATE_MOVABLE), -EINVAL);
	cr_assert_eq(kmm_get_pfnblock_migratetype(base), KMM_MIGRATE_UNMOVABLE);
	cr_assert_eq(kmm_set_pageblock_migratetype(base, KMM_MIGRATE_MOVABLE), 512);
	kmm___free_pages(kmm_pfn_to_page(base + 512), 9);
	kmm_drain_all_pages(NULL);
	valid("back");
}

Test(page_hooks, set_pageblock_migratetype_retypes_a_whole_max_order_block)
{
	uint64_t base = free_max_block();

	/* Asked for the second pageblock: both go, with the whole block. */
	cr_assert_eq(kmm_set_pageblock_migratetype(base + 512, KMM_MIGRATE_RECLAIMABLE), 1024);
	cr_assert_eq(kmm_get_pfnblock_migratetype(base), KMM_MIGRATE_RECLAIMABLE);
	cr_assert_eq(kmm_get_pfnblock_migratetype(base + 512), KMM_MIGRATE_RECLAIMABLE);
	cr_assert_eq(kmm_pfn_to_page(base)->alloc_mt, KMM_MIGRATE_RECLAIMABLE, "not on the new list");
	valid("retype max-order block");
	cr_assert_eq(kmm_set_pageblock_migratetype(base, KMM_MIGRATE_MOVABLE), 1024);
	valid("back");
}

Test(page_hooks, managed_pages_and_watermarks)
{
	struct kmm_zone *z = kt_zone(0, KMM_ZONE_DMA32);
	uint64_t managed = z->managed_pages, total = kmm_machine.totalram_pages;
	unsigned long low = z->_watermark[KMM_WMARK_LOW];
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_DMA32, 10);

	cr_assert_not_null(p);
	cr_assert_eq(kmm_adjust_managed_page_count(p, -1024), 0);
	cr_assert_eq(z->managed_pages, managed - 1024);
	cr_assert_eq(kmm_machine.totalram_pages, total - 1024);
	cr_assert_eq(z->_watermark[KMM_WMARK_LOW], low, "adjusting alone recomputes nothing");
	kmm_init_per_zone_wmark_min();
	cr_assert_lt(z->_watermark[KMM_WMARK_LOW], low, "fewer managed pages, lower marks");
	cr_assert_eq(kmm_adjust_managed_page_count(p, -(long)z->managed_pages - 1), -EINVAL);
	cr_assert_eq(kmm_adjust_managed_page_count(p, (long)z->spanned_pages), -EINVAL);
	cr_assert_eq(z->managed_pages, managed - 1024, "refusals change nothing");
	cr_assert_eq(kmm_adjust_managed_page_count(p, 1024), 0);
	kmm_init_per_zone_wmark_min();
	cr_assert_eq(z->_watermark[KMM_WMARK_LOW], low);

	cr_assert_eq(kmm_sysctl_min_free_kbytes(0), -EINVAL);
	cr_assert_eq(kmm_sysctl_min_free_kbytes(1ULL << 40), -EINVAL);
	cr_assert_eq(z->_watermark[KMM_WMARK_LOW], low);
	cr_assert_eq(kmm_sysctl_min_free_kbytes(kmm_machine.min_free_kbytes * 2), 0);
	cr_assert_gt(z->_watermark[KMM_WMARK_LOW], low);
	kmm___free_pages(p, 10);
	valid("managed");
}

Test(page_hooks, pcp_set_high_clamps)
{
	struct kmm_zone *z = kt_zone(0, KMM_ZONE_DMA32);
	struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[1];

	cr_assert_eq(kmm_pcp_set_high(z, 1, pcp->high_max + 1000), pcp->high_max);
	cr_assert_eq(pcp->high, pcp->high_max);
	cr_assert_eq(kmm_pcp_set_high(z, 1, 0), pcp->high_min);
	cr_assert_eq(kmm_pcp_set_high(z, 7, 10), -EINVAL);
	cr_assert_eq(kmm_pcp_set_high(NULL, 0, 10), -EINVAL);
	valid("pcp high");
}
