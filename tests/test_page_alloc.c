/* SPDX-License-Identifier: MIT */
/*
 * test_page_alloc.c - the buddy allocator: orders, migratetypes, zones,
 * per-CPU lists, merging, fallback and stealing, watermarks and reserves,
 * zeroing on real memory, refcounts, refusals of bad frees, a seeded
 * torture loop, and the validator's own sensitivity.
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

TestSuite(page_alloc, .fini = kt_fini, .timeout = 120);

static const struct {
	const char *name;
	kmm_gfp_t gfp;
	int mt;
} mts[] = {
	{ "Unmovable", KMM_GFP_KERNEL, KMM_MIGRATE_UNMOVABLE },
	{ "Movable", KMM_GFP_HIGHUSER_MOVABLE, KMM_MIGRATE_MOVABLE },
	{ "Reclaimable", KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE, KMM_MIGRATE_RECLAIMABLE },
};

static uint64_t pfn_of(struct kmm_page *p)
{
	return kmm_page_to_pfn(p);
}

/* ---- every order, every migratetype ----------------------------------------- */

Test(page_alloc, every_order_and_migratetype)
{
	kt_boot("mem=64M nr_cpus=2");
	for (size_t m = 0; m < KMM_ARRAY_SIZE(mts); m++) {
		for (unsigned o = 0; o <= KMM_MAX_PAGE_ORDER; o++) {
			uint64_t before = kt_free_total(), pfn;
			struct kmm_page *p = kmm_alloc_pages(mts[m].gfp, o);

			cr_assert_not_null(p, "%s order %u", mts[m].name, o);
			pfn = pfn_of(p);
			cr_assert(KMM_IS_ALIGNED(pfn, 1ULL << o), "pfn %#llx order %u misaligned",
				  (unsigned long long)pfn, o);
			cr_assert_eq(kmm_page_ref_count(p), 1);
			cr_assert_eq(p->alloc_order, o);
			cr_assert_eq(p->alloc_mt, mts[m].mt);
			for (uint64_t i = 0; i < (1ULL << o); i++) {
				cr_assert_not(kmm_page_test(p + i, KMM_PG_buddy));
				cr_assert_not(kmm_page_test(p + i, KMM_PG_pcp));
				cr_assert_not(kmm_page_test(p + i, KMM_PG_head));
				cr_assert_not(kmm_page_test(p + i, KMM_PG_tail));
			}
			/* A plentiful machine: the block's pageblocks are (or were
			 * claimed to be) of the type asked for. */
			for (uint64_t b = pfn; b < pfn + (1ULL << o); b += KMM_PAGEBLOCK_NR_PAGES)
				cr_assert_eq(kmm_get_pfnblock_migratetype(b), mts[m].mt,
					     "%s order %u: pageblock %#llx is %s", mts[m].name, o,
					     (unsigned long long)b,
					     kmm_migratetype_names[kmm_get_pfnblock_migratetype(b)]);
			cr_assert_eq(kt_free_total(), before - (1ULL << o));
			kt_assert_valid("allocation");
			kt_pattern_write(p, o, 0xC0FFEE00 + o);
			cr_assert(kt_pattern_ok(p, o, 0xC0FFEE00 + o));
			kmm___free_pages(p, o);
			cr_assert_eq(kt_free_total(), before);
			kt_assert_valid("free");
		}
	}
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), 0);
	cr_assert_eq(kt_log_count_level(KMM_LOG_ERR, ""), 0);
}

Test(page_alloc, gfp_dma_stays_below_16m)
{
	struct kt_blocks b = { 0 };

	kt_boot("mem=64M");
	for (unsigned o = 0; o <= KMM_MAX_PAGE_ORDER; o++) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, o);

		cr_assert_not_null(p, "order %u", o);
		cr_assert_leq(pfn_of(p) + (1ULL << o), 4096);
		cr_assert_eq(kmm_page_zonenum(p), KMM_ZONE_DMA);
		kmm___free_pages(p, o);
	}
	/* Empty the DMA zone: never a page above 16 MiB. */
	kt_fill(&b, KMM_GFP_KERNEL | KMM_GFP_DMA, 10);
	cr_assert_gt(b.n, 0);
	for (size_t i = 0; i < b.n; i++)
		cr_assert_lt(pfn_of(b.v[i].page), 4096);
	cr_assert_gt(kmm_zone_page_state(kt_zone(0, KMM_ZONE_DMA32), KMM_NR_FREE_PAGES), 12000);
	kt_blocks_free_all(&b);
	kt_assert_valid("DMA fill");
	kt_blocks_destroy(&b);
}

Test(page_alloc, gfp_dma32_stays_below_4g)
{
	kt_boot("mem=8G kmm.mode=shadow");
	for (int i = 0; i < 3000; i++) {
		unsigned o = (unsigned)i % 4;
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA32, o);
		struct kmm_page *q = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		struct kmm_page *d = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA, 0);

		cr_assert_not_null(p);
		cr_assert_not_null(q);
		cr_assert_not_null(d);
		cr_assert_lt(pfn_of(p) + (1ULL << o), 0x100000 + 1);
		cr_assert_eq(kmm_page_zonenum(p), KMM_ZONE_DMA32);
		cr_assert_geq(pfn_of(q), 0x100000, "GFP_KERNEL prefers ZONE_NORMAL");
		cr_assert_lt(pfn_of(d), 0x1000);
		kmm___free_pages(p, o);
		kmm___free_pages(q, o);
		kmm___free_pages(d, 0);
	}
	kt_assert_valid("zone modifiers");
}

Test(page_alloc, pfnblock_migratetype_out_of_range)
{
	kt_boot("mem=64M");
	cr_assert_eq(kmm_get_pfnblock_migratetype(kmm_machine.max_pfn), -KMM_EINVAL);
	cr_assert_eq(kmm_get_pfnblock_migratetype(~0ULL), -KMM_EINVAL);
	cr_assert_geq(kmm_get_pfnblock_migratetype(kmm_machine.max_pfn - 1), 0);
}

Test(page_alloc, numa_statistics)
{
	struct kmm_page *p;
	struct kmm_zone *z0, *z1;
	unsigned long hit0, local0, other1, miss1, foreign0;

	kt_boot("mem=256M numa=2 nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	z0 = kt_zone(0, KMM_ZONE_DMA32);
	z1 = kt_zone(1, KMM_ZONE_DMA32);
	hit0 = kmm_zone_events(z0, KMM_NUMA_HIT);
	local0 = kmm_zone_events(z0, KMM_NUMA_LOCAL);
	/* Local node, local CPU: a hit and local. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 4);
	cr_assert_eq(kmm_page_zone(p), z0);
	cr_assert_eq(kmm_zone_events(z0, KMM_NUMA_HIT), hit0 + 1);
	cr_assert_eq(kmm_zone_events(z0, KMM_NUMA_LOCAL), local0 + 1);
	kmm___free_pages(p, 4);
	/* Node 1 asked for from CPU 0 (node 0): a hit for node 1, but other. */
	other1 = kmm_zone_events(z1, KMM_NUMA_OTHER);
	p = kmm_alloc_pages_node(1, KMM_GFP_KERNEL, 4);
	cr_assert_eq(kmm_page_zone(p), z1);
	cr_assert_eq(kmm_zone_events(z1, KMM_NUMA_OTHER), other1 + 1);
	kmm___free_pages(p, 4);
	/* An out-of-range node means the local one. */
	p = kmm_alloc_pages_node(7, KMM_GFP_KERNEL, 4);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_nid(p), 0);
	kmm___free_pages(p, 4);
	/* A miss: node 0 preferred but full (min_free_kbytes makes the fill
	 * of node 0 leave little), allocation lands on node 1. */
	struct kt_blocks b = { 0 };
	kt_fill(&b, KMM_GFP_KERNEL | KMM___GFP_THISNODE, 10);
	miss1 = kmm_zone_events(z1, KMM_NUMA_MISS);
	foreign0 = kmm_zone_events(z0, KMM_NUMA_FOREIGN);
	p = kmm_alloc_pages_node(0, KMM_GFP_KERNEL, 4);
	cr_assert_eq(kmm_page_nid(p), 1);
	cr_assert_eq(kmm_zone_events(z1, KMM_NUMA_MISS), miss1 + 1);
	cr_assert_eq(kmm_zone_events(z0, KMM_NUMA_FOREIGN), foreign0 + 1);
	kmm___free_pages(p, 4);
	kt_blocks_free_all(&b);
	kt_assert_valid("numa statistics");
	kt_blocks_destroy(&b);
}

/* ---- order limits ------------------------------------------------------------ */

Test(page_alloc, order_above_max_fails_and_warns)
{
	struct kt_snap a, b;

	kt_boot("mem=64M");
	kt_snap_take(&a);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL, KMM_MAX_PAGE_ORDER + 1));
	cr_assert_eq(kt_log_count_level(KMM_LOG_WARNING, "MAX_PAGE_ORDER"), 1);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_ORDER), 1);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL), 1);
	kt_snap_take(&b);
	kt_snap_assert_same(&a, &b, "order 11");

	/* __GFP_NOWARN: the same refusal, silently. */
	kt_log_clear();
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 11));
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 64));
	cr_assert_null(kmm_alloc_pages(KMM_GFP_ATOMIC | KMM___GFP_NOWARN, ~0u));
	cr_assert_eq(kt_log_lines(), 0);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_ORDER), 4);
	/* Even __GFP_NOFAIL cannot make order 11 exist. */
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOFAIL, 11));
	kt_snap_take(&b);
	kt_snap_assert_same(&a, &b, "orders above the maximum");
	kt_assert_valid("order refusals");
}

/* ---- compound pages ---------------------------------------------------------- */

Test(page_alloc, compound_pages)
{
	uint64_t before;
	struct kmm_page *p, *q;

	kt_boot("mem=64M");
	before = kt_free_total();
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 3);
	cr_assert_not_null(p);
	cr_assert(kmm_page_test(p, KMM_PG_head));
	cr_assert_not(kmm_page_test(p, KMM_PG_tail));
	for (int i = 1; i < 8; i++) {
		cr_assert(kmm_page_test(p + i, KMM_PG_tail));
		cr_assert_not(kmm_page_test(p + i, KMM_PG_head));
		cr_assert_eq(p[i].private, pfn_of(p), "tail %d points at its head", i);
	}
	/* References through a tail go to the head. */
	kmm_get_page(p + 5);
	cr_assert_eq(kmm_page_ref_count(p), 2);
	cr_assert_eq(kmm_page_ref_count(p + 5), 0);
	kmm_put_page(p + 7);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert_eq(kt_free_total(), before - 8);
	/* The last put through a tail frees the whole compound page. */
	kmm_put_page(p + 3);
	cr_assert_eq(kt_free_total(), before);
	for (int i = 1; i < 8; i++)
		cr_assert_not(kmm_page_test(p + i, KMM_PG_tail), "tail flag left on %d", i);
	kt_assert_valid("compound put_page");

	/* __free_pages() of the head frees it too. */
	q = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 10);
	cr_assert_not_null(q);
	cr_assert(kmm_page_test(q + 1023, KMM_PG_tail));
	kmm___free_pages(q, 10);
	cr_assert_not(kmm_page_test(q, KMM_PG_head));
	cr_assert_not(kmm_page_test(q + 1023, KMM_PG_tail));
	cr_assert_eq(kt_free_total(), before);

	/* Without __GFP_COMP: no head, no tails. */
	q = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	cr_assert_not(kmm_page_test(q, KMM_PG_head));
	cr_assert_not(kmm_page_test(q + 1, KMM_PG_tail));
	kmm___free_pages(q, 3);
	/* Order 0 with __GFP_COMP is a plain page. */
	q = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 0);
	cr_assert_not(kmm_page_test(q, KMM_PG_head));
	kmm___free_pages(q, 0);
	kt_assert_valid("compound");
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), 0);
}

/* ---- merging ----------------------------------------------------------------- */

Test(page_alloc, free_everything_merges_back_to_boot_state)
{
	uint64_t seed = kt_seed("merge"), rs = seed;
	struct kt_blocks b = { 0 };
	struct kt_snap boot, now;
	static const kmm_gfp_t gfps[] = {
		KMM_GFP_KERNEL, KMM_GFP_HIGHUSER_MOVABLE,
		KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE, KMM_GFP_KERNEL | KMM_GFP_DMA,
		KMM_GFP_KERNEL | KMM___GFP_COMP,
	};

	kt_boot("mem=64M nr_cpus=2");
	kt_snap_take(&boot);
	for (int round = 0; round < 3; round++) {
		/* Fill most of memory with a random mix... */
		while (kt_free_total() > kt_boot_free / 8) {
			unsigned o = (unsigned)(kt_rand(&rs) % 11);
			kmm_gfp_t g = gfps[kt_rand(&rs) % KMM_ARRAY_SIZE(gfps)];
			struct kmm_page *p;

			if (o > 6 && kt_rand(&rs) % 3)
				o = (unsigned)(kt_rand(&rs) % 4);
			cr_assert_eq(kmm_bind_cpu((int)(kt_rand(&rs) % 2)), 0);
			p = kmm_alloc_pages(g | KMM___GFP_NOWARN, o);
			if (!p)
				break;
			kt_blocks_push(&b, p, o, 0);
		}
		/* ...then free it in random order. */
		while (b.n) {
			struct kt_block k = kt_blocks_take(&b, kt_rand(&rs) % b.n);

			cr_assert_eq(kmm_bind_cpu((int)(kt_rand(&rs) % 2)), 0);
			kmm___free_pages(k.page, k.order);
		}
		kt_assert_valid("free all");
		cr_assert_eq(kt_free_total(), kt_boot_free, "seed %llu", (unsigned long long)seed);
		kmm_drain_all_pages(NULL);
		cr_assert_eq(kt_pcp_total(), 0);
		kt_snap_take(&now);
		cr_assert_eq(now.nr_free, boot.nr_free);
		cr_assert_str_eq(now.buddyinfo, boot.buddyinfo,
				 "round %d (seed %llu): buddies did not merge back:\n%s\nboot:\n%s",
				 round, (unsigned long long)seed, now.buddyinfo, boot.buddyinfo);
	}
	kt_blocks_destroy(&b);
}

Test(page_alloc, buddy_of_freed_block_merges)
{
	struct kmm_page *a, *p;
	struct kmm_zone *z;
	uint64_t pfn;

	kt_boot("mem=64M");
	/* An order-10 block split into two order-9 halves by two allocations
	 * that bypass the pcp (order 9 is a pcp order, so drain first). */
	a = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 10);
	cr_assert_not_null(a);
	pfn = pfn_of(a);
	z = kmm_page_zone(a);
	kmm___free_pages(a, 10);
	kt_assert_valid("order-10 round trip");
	p = kmm_pfn_to_page(pfn);
	cr_assert(kmm_page_test(p, KMM_PG_buddy));
	cr_assert_eq(p->private, 10, "a freed order-10 block is one free block");
	(void)z;
}

/* ---- per-CPU lists ----------------------------------------------------------- */

Test(page_alloc, freed_page_sits_on_this_cpus_pcp_list)
{
	struct kmm_page *p, *q;
	struct kmm_zone *z;
	unsigned long refills;
	uint64_t nr_free;

	/* 1 GiB: pcp high (low watermark / CPUs) is far above 512 pages. */
	kt_boot("mem=1G nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(1), 0);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	z = kmm_page_zone(p);
	cr_assert_gt(z->per_cpu_pageset[1].high_min, 2048);
	/* The allocation refilled CPU 1's list with a batch. */
	cr_assert_geq(z->events[KMM_ZEV_PCP_REFILL], 1);
	cr_assert_eq(z->per_cpu_pageset[0].count, 0);
	int count1 = z->per_cpu_pageset[1].count;

	nr_free = kmm_nr_free_pages();
	kmm___free_pages(p, 0);
	cr_assert(kmm_page_test(p, KMM_PG_pcp));
	cr_assert_not(kmm_page_test(p, KMM_PG_buddy));
	cr_assert_eq(p->private, 0);
	cr_assert_eq(z->per_cpu_pageset[1].count, count1 + 1);
	cr_assert_gt(z->per_cpu_pageset[1].count, 0);
	cr_assert_eq(z->per_cpu_pageset[0].count, 0);
	cr_assert_eq(kmm_nr_free_pages(), nr_free, "a pcp page is not in the zone's free count");
	kt_assert_valid("page on pcp");

	/* Hot page: the next allocation on this CPU gets it back. */
	refills = z->events[KMM_ZEV_PCP_REFILL];
	q = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_eq(q, p, "LIFO per-CPU list");
	cr_assert_eq(z->events[KMM_ZEV_PCP_REFILL], refills);
	kmm___free_pages(q, 0);

	/* Orders 1-3 and pageblock order use the pcp; order 4 does not. */
	for (unsigned o = 1; o <= 10; o++) {
		struct kmm_page *r = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		int c = z->per_cpu_pageset[1].count;

		cr_assert_not_null(r);
		kmm___free_pages(r, o);
		if (o <= 3 || o == KMM_PAGEBLOCK_ORDER) {
			cr_assert(kmm_page_test(r, KMM_PG_pcp), "order %u on the pcp", o);
			cr_assert_eq(z->per_cpu_pageset[1].count, c + (1 << o));
		} else {
			cr_assert_not(kmm_page_test(r, KMM_PG_pcp), "order %u bypasses the pcp", o);
			cr_assert_eq(z->per_cpu_pageset[1].count, c);
		}
	}
	kt_assert_valid("pcp orders");

	/* Draining returns everything to the zone. */
	long pcp = kt_pcp_total();
	nr_free = kmm_nr_free_pages();
	kmm_drain_all_pages(z);
	cr_assert_eq(z->per_cpu_pageset[1].count, 0);
	cr_assert_not(kmm_page_test(p, KMM_PG_pcp));
	cr_assert_eq(kmm_nr_free_pages(), nr_free + (uint64_t)pcp);
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	kt_assert_valid("drain");
}

Test(page_alloc, pcp_stays_below_high)
{
	struct kt_blocks b = { 0 };
	struct kmm_per_cpu_pages *pcp;
	struct kmm_zone *z;
	unsigned long drains;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	z = kt_zone(0, KMM_ZONE_DMA32);
	pcp = &z->per_cpu_pageset[0];
	for (int i = 0; i < 6000; i++) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);

		cr_assert_not_null(p);
		kt_blocks_push(&b, p, 0, 0);
	}
	drains = z->events[KMM_ZEV_PCP_DRAIN];
	for (size_t i = 0; i < b.n; i++) {
		kmm___free_pages(b.v[i].page, 0);
		cr_assert_leq(pcp->high_min, pcp->high_max);
		cr_assert_leq(pcp->count, pcp->high_max,
			      "pcp count %d above high_max %d", pcp->count, pcp->high_max);
		cr_assert_lt(pcp->count, pcp->high > 0 ? pcp->high + 1 : 1,
			     "pcp count %d at or above high %d", pcp->count, pcp->high);
	}
	cr_assert_gt(z->events[KMM_ZEV_PCP_DRAIN], drains, "freeing 6000 pages drained the pcp");
	cr_assert_gt(pcp->count, 0);
	b.n = 0;
	kt_assert_valid("pcp high");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
}

/* zone_batchsize() and zone_highsize() of the kernel. */
static int expect_batch(uint64_t managed)
{
	uint64_t batch = managed >> 10;

	if (batch > 256)
		batch = 256;
	batch /= 4;
	if (batch < 1)
		batch = 1;
	batch = kmm_rounddown_pow_of_two(batch + batch / 2) - 1;
	return batch < 1 ? 1 : (int)batch;
}

static int expect_high(const struct kmm_zone *z, int batch, int fraction)
{
	uint64_t total = fraction ? z->managed_pages / (uint64_t)fraction
				  : kmm_wmark_pages(z, KMM_WMARK_LOW);
	unsigned cpus = 0;

	for (unsigned c = 0; c < kmm_machine.nr_cpus; c++)
		cpus += kmm_cpu_to_node(c) == z->zone_pgdat->node_id;
	if (!cpus)
		cpus = kmm_machine.nr_cpus;
	uint64_t high = total / cpus;

	return (int)(high > (uint64_t)batch << 2 ? high : (uint64_t)batch << 2);
}

static void check_pcp_formulas(void)
{
	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);
			int batch, hmin, hmax;

			if (!kmm_zone_is_populated(z))
				continue;
			batch = expect_batch(z->managed_pages);
			hmin = expect_high(z, batch, 0);
			hmax = expect_high(z, batch, 8);
			cr_assert_eq(z->pcp_batch, batch, "node %u %s batch %d, want %d", nid,
				     z->name, z->pcp_batch, batch);
			cr_assert_eq(z->pcp_high_min, hmin, "node %u %s high_min %d, want %d",
				     nid, z->name, z->pcp_high_min, hmin);
			cr_assert_eq(z->pcp_high_max, hmax, "node %u %s high_max %d, want %d",
				     nid, z->name, z->pcp_high_max, hmax);
			for (unsigned c = 0; c < kmm_machine.nr_cpus; c++) {
				struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[c];

				cr_assert_eq(pcp->batch, batch);
				cr_assert_eq(pcp->high_min, hmin);
				cr_assert_eq(pcp->high_max, hmax);
			}
		}
}

Test(page_alloc, pcp_batch_and_high_follow_kernel_formulas)
{
	kt_boot("mem=1G nr_cpus=2");
	check_pcp_formulas();
	/* The numbers a 1 GiB x86-64 kernel prints in /proc/zoneinfo. */
	cr_assert_eq(kt_zone(0, KMM_ZONE_DMA32)->pcp_batch, 63);
	cr_assert_eq(kt_zone(0, KMM_ZONE_DMA)->pcp_batch, 1);
	cr_assert_eq(kt_zone(0, KMM_ZONE_DMA32)->pcp_high_max, 258048 / 8 / 2);
	kt_shutdown();

	kt_boot("mem=256M numa=2 nr_cpus=4");
	check_pcp_formulas();
	kt_shutdown();

	kt_boot("mem=16G kmm.mode=shadow nr_cpus=8 movablecore=2G");
	check_pcp_formulas();
	/* Large zones cap the batch at 63 (256 / 4 -> 64 - 1). */
	cr_assert_eq(kt_zone(0, KMM_ZONE_NORMAL)->pcp_batch, 63);

	/* Changing min_free_kbytes recomputes high_min from the low mark. */
	kt_set_min_free_kbytes(kmm_machine.min_free_kbytes * 2);
	check_pcp_formulas();
}

/* ---- fallback and stealing --------------------------------------------------- */

Test(page_alloc, exhausting_unmovable_claims_more_pageblocks)
{
	struct kt_blocks b = { 0 };
	struct kmm_zone *z;
	unsigned long u0, claims0, total_blocks;
	char *pti = malloc(16384);

	kt_boot("mem=64M nr_cpus=1");
	z = kt_zone(0, KMM_ZONE_DMA32);
	total_blocks = z->spanned_pages / KMM_PAGEBLOCK_NR_PAGES;
	u0 = kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE);
	claims0 = z->events[KMM_ZEV_CLAIM];

	/*
	 * Allocate unmovable pages until one allocation has to claim a new
	 * pageblock: that happens only once the Unmovable free lists (boot's
	 * own claim included) run dry while refilling the empty per-CPU list,
	 * i.e. with less than one (scaled-up) refill batch left.
	 */
	unsigned long u1 = u0, claims1 = claims0, free_before = 0;
	int pcp_before = 0;
	uint64_t first_free = kt_zone_free_mt(z, KMM_MIGRATE_UNMOVABLE);
	struct kmm_page *p = NULL;

	while (z->events[KMM_ZEV_CLAIM] == claims1) {
		pcp_before = z->per_cpu_pageset[0].count;
		free_before = kt_zone_free_mt(z, KMM_MIGRATE_UNMOVABLE);
		u1 = kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE);
		p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(p);
		cr_assert_eq(kmm_page_zone(p), z, "pfn %#llx after %zu pages",
			     (unsigned long long)pfn_of(p), b.n);
		kt_blocks_push(&b, p, 0, 0);
		if (b.n > 20000)
			cr_assert_fail("never claimed a pageblock");
	}
	cr_assert_eq(pcp_before, 0, "claimed while the per-CPU list had pages");
	cr_assert_lt(free_before, (unsigned long)z->pcp_batch << KMM_PCP_BATCH_SCALE_MAX,
		     "claimed while %lu Unmovable pages were free", free_before);
	cr_assert_geq(b.n + free_before, first_free, "claimed with %llu Unmovable pages still free",
		      (unsigned long long)(first_free - b.n));
	cr_assert_gt(kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE), u1,
		     "Unmovable pageblocks %lu -> %lu", u1,
		     kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE));
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(p)), KMM_MIGRATE_UNMOVABLE);
	/* And again: the next exhaustion claims the next pageblock. */
	claims1 = z->events[KMM_ZEV_CLAIM];
	u1 = kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE);
	for (int i = 0; i < 2048; i++) {
		p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(p);
		kt_blocks_push(&b, p, 0, 0);
	}
	cr_assert_gt(z->events[KMM_ZEV_CLAIM], claims1);
	/* At most 1024 + a batch of them fit in what was already claimed. */
	cr_assert_geq(kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE), u1 + 2,
		      "2048 more pages need at least 2 more pageblocks");
	cr_assert_geq(claims1, claims0);
	cr_assert_geq(u1, u0);
	/* Each claim turned pageblocks over, the total is the same. */
	cr_assert_eq(kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE) +
		     kt_zone_blocks_mt(z, KMM_MIGRATE_MOVABLE) +
		     kt_zone_blocks_mt(z, KMM_MIGRATE_RECLAIMABLE), total_blocks);
	/* Every unmovable page lies in an Unmovable pageblock: claims, not
	 * steals, while whole free pageblocks are plentiful. */
	for (size_t i = 0; i < b.n; i++)
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(b.v[i].page)),
			     KMM_MIGRATE_UNMOVABLE);
	kt_assert_valid("claiming");

	/* /proc/pagetypeinfo tells the same story. */
	kmm_report_pagetypeinfo(pti, 16384);
	char want[256];
	snprintf(want, sizeof(want), "Node 0, zone    DMA32 %12lu %12lu %12lu ",
		 kt_zone_blocks_mt(z, KMM_MIGRATE_UNMOVABLE),
		 kt_zone_blocks_mt(z, KMM_MIGRATE_MOVABLE),
		 kt_zone_blocks_mt(z, KMM_MIGRATE_RECLAIMABLE));
	cr_assert_not_null(strstr(pti, want), "pagetypeinfo lacks \"%s\":\n%s", want, pti);

	kt_blocks_free_all(&b);
	kt_assert_valid("free after claiming");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
	free(pti);
}

/*
 * Fallback order: with @want's own lists empty and one free order-9 block
 * of each of @first and @second in the zone, @want takes @first's block,
 * then @second's (claiming each pageblock).
 */
static void fallback_case(int want, int first, int second)
{
	kmm_gfp_t g[KMM_MIGRATE_PCPTYPES] = {
		[KMM_MIGRATE_UNMOVABLE] = KMM_GFP_KERNEL,
		[KMM_MIGRATE_MOVABLE] = KMM_GFP_HIGHUSER_MOVABLE,
		[KMM_MIGRATE_RECLAIMABLE] = KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE,
	};
	struct kt_blocks b = { 0 };
	struct kmm_page *a1, *a2, *b1, *b2, *p, *q;
	struct kmm_zone *z;

	kt_boot("mem=64M nr_cpus=1");
	/* vm.min_free_kbytes=0: the fill can take (almost) everything. */
	kt_set_min_free_kbytes(0);
	z = kt_zone(0, KMM_ZONE_DMA32);
	a1 = kmm_alloc_pages(g[first], 9);
	a2 = kmm_alloc_pages(g[first], 9);
	b1 = kmm_alloc_pages(g[second], 9);
	b2 = kmm_alloc_pages(g[second], 9);
	cr_assert(a1 && a2 && b1 && b2);
	cr_assert_eq(kmm_page_zone(a1), z);
	cr_assert_eq(kmm_page_zone(b1), z);
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(a1)), first);
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(b1)), second);

	/* Take everything else as @want. */
	kt_fill(&b, g[want], 10);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_zone_page_state(z, KMM_NR_FREE_PAGES), 0,
		     "DMA32 still has %ld free pages",
		     kmm_zone_page_state(z, KMM_NR_FREE_PAGES));

	/* One free pageblock of each fallback type. */
	kmm___free_pages(a1, 9);
	kmm___free_pages(b1, 9);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kt_zone_free_mt(z, want), 0);
	cr_assert_eq(kt_zone_free_mt(z, first), 512);
	cr_assert_eq(kt_zone_free_mt(z, second), 512);
	kt_assert_valid("fallback setup");

	p = kmm_alloc_pages(g[want], 9);
	q = kmm_alloc_pages(g[want], 9);
	cr_assert_eq(p, a1, "%s fell back to pfn %#llx, not to the %s block at %#llx",
		     kmm_migratetype_names[want], p ? (unsigned long long)pfn_of(p) : 0ULL,
		     kmm_migratetype_names[first], (unsigned long long)pfn_of(a1));
	cr_assert_eq(q, b1, "%s's second fallback should be %s",
		     kmm_migratetype_names[want], kmm_migratetype_names[second]);
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(p)), want, "claimed the pageblock");
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(q)), want);
	kt_assert_valid("fallback");

	kmm___free_pages(p, 9);
	kmm___free_pages(q, 9);
	kmm___free_pages(a2, 9);
	kmm___free_pages(b2, 9);
	kt_blocks_free_all(&b);
	kt_assert_valid("fallback free");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
}

Test(page_alloc, fallback_unmovable_reclaimable_then_movable)
{
	fallback_case(KMM_MIGRATE_UNMOVABLE, KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_MOVABLE);
}

Test(page_alloc, fallback_movable_reclaimable_then_unmovable)
{
	fallback_case(KMM_MIGRATE_MOVABLE, KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_UNMOVABLE);
}

Test(page_alloc, fallback_reclaimable_unmovable_then_movable)
{
	fallback_case(KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_UNMOVABLE, KMM_MIGRATE_MOVABLE);
}

Test(page_alloc, movable_uses_cma_before_stealing)
{
	struct kt_blocks b = { 0 };
	struct kmm_page *u1, *u2, *p;
	struct kmm_zone *z;
	const struct kmm_cma_reservation *r;

	kt_boot("mem=64M nr_cpus=1 cma=2M");
	kt_set_min_free_kbytes(0);
	r = &kmm_machine.cma_reserved[0];
	z = kmm_page_zone(kmm_pfn_to_page(r->base_pfn));
	u1 = kmm_alloc_pages(KMM_GFP_KERNEL, 9);
	u2 = kmm_alloc_pages(KMM_GFP_KERNEL, 9);
	cr_assert(u1 && u2);
	/* Fill with unmovable (never CMA), then free one Unmovable block. */
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_zone_page_state(z, KMM_NR_FREE_PAGES), 512, "only CMA is left");
	kmm___free_pages(u1, 9);
	kmm_drain_all_pages(NULL);
	/* A movable request takes the CMA block before the Unmovable one
	 * (CMA is more than half of the free memory here as well). */
	p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 9);
	cr_assert_not_null(p);
	cr_assert_eq(pfn_of(p), r->base_pfn);
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(p)), KMM_MIGRATE_CMA);
	kmm___free_pages(p, 9);
	kmm___free_pages(u2, 9);
	kt_blocks_free_all(&b);
	kt_assert_valid("cma before stealing");
	kt_blocks_destroy(&b);
}

/* ---- exhaustion, watermarks, reserves ---------------------------------------- */

Test(page_alloc, exhaustion_returns_null_and_warns_once)
{
	struct kt_blocks b = { 0 };
	struct kt_snap a, s;
	const char *line;

	kt_boot("mem=64M");
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	cr_assert_gt(b.n, 0);
	cr_assert_eq(kt_log_count("page allocation failure"), 0, "__GFP_NOWARN was given");
	kt_snap_take(&a);
	unsigned long fails = kmm_stat_read(KMM_STAT_ALLOC_FAIL);

	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL, 0));
	cr_assert_eq(kt_log_count_level(KMM_LOG_WARNING, "page allocation failure"), 1);
	line = kt_log_find("page allocation failure");
	cr_assert_not_null(strstr(line, "order:0"), "%s", line);
	cr_assert_not_null(strstr(line, "mode:0xcc0(GFP_KERNEL)"), "%s", line);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL), fails + 1);

	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL, 3));
	cr_assert_eq(kt_log_count("page allocation failure: order:3"), 1);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0));
	cr_assert_null(kmm_alloc_pages(KMM_GFP_NOWAIT, 0));	/* NOWAIT implies NOWARN */
	cr_assert_eq(kt_log_count("page allocation failure"), 2);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL), fails + 4);
	kt_snap_take(&s);
	kt_snap_assert_same(&a, &s, "failed allocations");
	kt_assert_valid("exhaustion");

	kt_blocks_free_all(&b);
	kt_assert_valid("free after exhaustion");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	/* Memory is usable again. */
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 10);
	cr_assert_not_null(p);
	kmm___free_pages(p, 10);
	kt_blocks_destroy(&b);
}

static void check_wmark_order(void)
{
	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);
			unsigned long min = kmm_wmark_pages(z, KMM_WMARK_MIN);
			unsigned long low = kmm_wmark_pages(z, KMM_WMARK_LOW);
			unsigned long high = kmm_wmark_pages(z, KMM_WMARK_HIGH);
			unsigned long promo = kmm_wmark_pages(z, KMM_WMARK_PROMO);

			if (!kmm_zone_is_populated(z))
				continue;
			cr_assert_lt(min, low, "%s: min %lu low %lu", z->name, min, low);
			cr_assert_lt(low, high);
			cr_assert_lt(high, promo);
			cr_assert_eq(low - min, high - low);
			cr_assert_eq(high - low, promo - high);
			/* The step is max(min/4, managed * 10 / 10000). */
			unsigned long step = KMM_MAX(z->_watermark[KMM_WMARK_MIN] / 4,
						     (unsigned long)(z->managed_pages * 10 / 10000));
			if (zi != KMM_ZONE_MOVABLE)
				cr_assert_eq(low - min, step, "%s step %lu want %lu", z->name,
					     low - min, step);
		}
}

Test(page_alloc, watermarks_and_atomic_reserves, .timeout = 180)
{
	struct kt_blocks b = { 0 }, atomic = { 0 };
	struct kmm_zone *dma32;
	uint64_t pages_min, sum_min = 0;
	int nzones = 0;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	check_wmark_order();
	/* min_free_kbytes is split over the zones by managed pages. */
	pages_min = kmm_machine.min_free_kbytes / 4;
	for (int zi = 0; zi < KMM_ZONE_MOVABLE; zi++)
		if (kmm_zone_is_populated(kt_zone(0, zi))) {
			sum_min += kt_zone(0, zi)->_watermark[KMM_WMARK_MIN];
			nzones++;
		}
	cr_assert_leq(sum_min, pages_min);
	cr_assert_geq(sum_min + (uint64_t)nzones, pages_min);

	dma32 = kt_zone(0, KMM_ZONE_DMA32);
	unsigned long min = kmm_wmark_pages(dma32, KMM_WMARK_MIN);

	/* GFP_KERNEL stops at the min watermark... */
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0));
	long free_after_kernel = kmm_zone_page_state(dma32, KMM_NR_FREE_PAGES);
	cr_assert_leq(free_after_kernel, (long)min + 1, "free %ld, min %lu",
		      free_after_kernel, min);
	cr_assert_geq(free_after_kernel, (long)min - dma32->pcp_batch - 1);

	/* ...GFP_ATOMIC digs below it (__GFP_HIGH and no direct reclaim)... */
	kt_fill(&atomic, KMM_GFP_ATOMIC, 0);
	cr_assert_geq(atomic.n, 10, "GFP_ATOMIC got only %zu pages below min", atomic.n);
	long free_after_atomic = kmm_zone_page_state(dma32, KMM_NR_FREE_PAGES);
	cr_assert_lt(free_after_atomic, (long)min);
	/* ...but not to zero: 3/8 of min stays (min - min/2 - min/8). */
	cr_assert_gt(free_after_atomic, 0);
	cr_assert_leq(free_after_atomic, (long)(min - min / 2 - (min - min / 2) / 4) + 1);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0));

	/* __GFP_NOFAIL still gets a page: kmm digs into the last reserves. */
	struct kmm_page *nf = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOFAIL, 0);
	cr_assert_not_null(nf);
	kmm___free_pages(nf, 0);

	kt_blocks_free_all(&atomic);
	kt_blocks_free_all(&b);
	kt_assert_valid("watermarks");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
	kt_blocks_destroy(&atomic);
}

Test(page_alloc, lowmem_reserve_matches_kernel_formula)
{
	static const int ratio[KMM_MAX_NR_ZONES] = { 256, 256, 32, 0 };
	struct kmm_pglist_data *pg;

	kt_boot("mem=8G kmm.mode=shadow movablecore=1G");
	pg = kmm_NODE_DATA(0);
	for (int i = 0; i < KMM_MAX_NR_ZONES; i++) {
		struct kmm_zone *z = &pg->node_zones[i];
		uint64_t sum = 0;

		cr_assert_eq(z->lowmem_reserve[i], 0);
		for (int j = i + 1; j < KMM_MAX_NR_ZONES; j++) {
			sum += pg->node_zones[j].managed_pages;
			long want = ratio[i] ? (long)(sum / (uint64_t)ratio[i]) : 0;

			cr_assert_eq(z->lowmem_reserve[j], want, "%s lowmem_reserve[%s] %ld, want %ld",
				     z->name, kmm_zone_names[j], z->lowmem_reserve[j], want);
		}
	}
	/* The well-known values. */
	cr_assert_eq(pg->node_zones[KMM_ZONE_DMA].lowmem_reserve[KMM_ZONE_DMA32],
		     (long)(pg->node_zones[KMM_ZONE_DMA32].managed_pages / 256));
	cr_assert_eq(pg->node_zones[KMM_ZONE_NORMAL].lowmem_reserve[KMM_ZONE_MOVABLE],
		     262144 / 32);
	cr_assert_eq(pg->node_zones[KMM_ZONE_MOVABLE].lowmem_reserve[KMM_ZONE_MOVABLE], 0);
}

Test(page_alloc, lowmem_reserve_protects_dma_from_gfp_kernel)
{
	struct kt_blocks b = { 0 }, dma = { 0 };
	struct kmm_zone *zdma;
	long reserve;

	kt_boot("mem=64M nr_cpus=1");
	zdma = kt_zone(0, KMM_ZONE_DMA);
	reserve = zdma->lowmem_reserve[KMM_ZONE_NORMAL];
	cr_assert_eq(reserve, (long)(kt_zone(0, KMM_ZONE_DMA32)->managed_pages / 256));
	cr_assert_gt(reserve, 10);
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	long left = kmm_zone_page_state(zdma, KMM_NR_FREE_PAGES);
	unsigned long min = kmm_wmark_pages(zdma, KMM_WMARK_MIN);

	/* GFP_KERNEL (highest zone Normal) leaves min + lowmem_reserve. */
	cr_assert_geq(left + zdma->pcp_batch, (long)min + reserve,
		      "DMA free %ld, min %lu, reserve %ld", left, min, reserve);
	/* A GFP_DMA allocation has no higher zone to protect DMA from. */
	kt_fill(&dma, KMM_GFP_KERNEL | KMM_GFP_DMA, 0);
	cr_assert_geq((long)dma.n, reserve - zdma->pcp_batch - 1, "GFP_DMA got %zu of reserve %ld",
		      dma.n, reserve);
	kt_blocks_free_all(&dma);
	kt_blocks_free_all(&b);
	kt_assert_valid("lowmem reserve");
	kt_blocks_destroy(&b);
	kt_blocks_destroy(&dma);
}

Test(page_alloc, high_order_atomic_reserves_a_pageblock)
{
	struct kt_blocks b = { 0 };
	struct kmm_page *p, *q;
	struct kmm_zone *z;

	kt_boot("mem=64M nr_cpus=1");
	/* On a plentiful machine the fast path serves GFP_ATOMIC: no reserve. */
	p = kmm_alloc_pages(KMM_GFP_ATOMIC, 2);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_stat_read(KMM_STAT_HIGHATOMIC_RESERVE), 0);
	kmm___free_pages(p, 2);

	/* Below the low watermark a high-order atomic allocation goes through
	 * the slow path (ALLOC_HIGHATOMIC) and reserves its pageblock. */
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	p = kmm_alloc_pages(KMM_GFP_ATOMIC, 2);
	cr_assert_not_null(p);
	z = kmm_page_zone(p);
	cr_assert_eq(kmm_stat_read(KMM_STAT_HIGHATOMIC_RESERVE), 1);
	cr_assert_eq(kmm_get_pfnblock_migratetype(pfn_of(p)), KMM_MIGRATE_HIGHATOMIC);
	cr_assert_eq(z->nr_reserved_highatomic, KMM_PAGEBLOCK_NR_PAGES);
	kt_assert_valid("highatomic reserve");
	/* The reserve is capped at 1% of the zone, rounded up to a pageblock:
	 * a second request does not reserve another block. */
	q = kmm_alloc_pages(KMM_GFP_ATOMIC | KMM___GFP_NOWARN, 1);
	cr_assert_eq(kmm_stat_read(KMM_STAT_HIGHATOMIC_RESERVE), 1);
	cr_assert_eq(z->nr_reserved_highatomic, KMM_PAGEBLOCK_NR_PAGES);
	if (q)
		kmm___free_pages(q, 1);
	kmm___free_pages(p, 2);
	kt_assert_valid("highatomic free");
	/* GFP_KERNEL does not count the reserve's free pages as usable. */
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 2));
	kt_blocks_free_all(&b);
	kt_assert_valid("highatomic end");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
}

/* ---- real memory --------------------------------------------------------------- */

Test(page_alloc, gfp_zero_zeroes_a_dirty_page)
{
	struct kmm_page *p, *q;

	kt_boot("mem=64M nr_cpus=1");
	for (unsigned o = 0; o <= 3; o++) {
		p = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_not_null(p);
		kt_block_fill(p, o, 0xA5);
		kmm___free_pages(p, o);
		/* Without __GFP_ZERO the same (hot) block comes back dirty... */
		q = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_eq(q, p, "order %u: the per-CPU list is LIFO", o);
		cr_assert_not(kt_block_is_zero(q, o), "pages are not zeroed unasked");
		cr_assert_eq(((unsigned char *)kmm_page_address(q))[100], 0xA5);
		kmm___free_pages(q, o);
		/* ...with it, zeroed. */
		q = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, o);
		cr_assert_eq(q, p);
		cr_assert(kt_block_is_zero(q, o), "order %u: __GFP_ZERO left data", o);
		kmm___free_pages(q, o);
	}
	kt_assert_valid("zeroing");
}

Test(page_alloc, gfp_zero_max_order)
{
	struct kt_blocks b = { 0 };

	kt_boot("mem=64M nr_cpus=1");
	/* Dirty every max-order block there is; any block handed out next
	 * is one of them. */
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	for (size_t i = 0; i < b.n; i++)
		if (b.v[i].order == 10)
			kt_block_fill(b.v[i].page, 10, 0x5A);
	kt_blocks_free_all(&b);
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_ZERO, 10);
	cr_assert_not_null(p);
	cr_assert(kt_block_is_zero(p, 10));
	kmm___free_pages(p, 10);
	p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 10);
	cr_assert_not_null(p);
	kmm___free_pages(p, 10);
	kt_blocks_destroy(&b);
}

Test(page_alloc, get_zeroed_page)
{
	unsigned long a, z;

	kt_boot("mem=64M nr_cpus=1");
	a = kmm___get_free_pages(KMM_GFP_KERNEL, 0);
	cr_assert_neq(a, 0);
	memset((void *)a, 0xEE, KMM_PAGE_SIZE);
	kmm_free_pages(a, 0);
	z = kmm_get_zeroed_page(KMM_GFP_KERNEL);
	cr_assert_eq(z, a, "the hot page came back");
	for (size_t i = 0; i < KMM_PAGE_SIZE; i++)
		cr_assert_eq(((unsigned char *)z)[i], 0, "byte %zu", i);
	kmm_free_pages(z, 0);
	kt_assert_valid("get_zeroed_page");
}

Test(page_alloc, init_on_free_zeroes_freed_pages)
{
	struct kmm_page *p;

	/* Default: freed memory keeps its contents (the test can see it). */
	kt_boot("mem=64M nr_cpus=1");
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	kt_block_fill(p, 3, 0x77);
	kmm___free_pages(p, 3);
	cr_assert_eq(((unsigned char *)kmm_page_address(p))[5000], 0x77);
	kt_shutdown();

	kt_boot("mem=64M nr_cpus=1 init_on_free=1");
	for (unsigned o = 0; o <= 10; o += 5) {
		p = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_not_null(p);
		kt_block_fill(p, o, 0x77);
		kmm___free_pages(p, o);
		/* Still mapped in the direct map: read it while it is free. */
		cr_assert(kt_block_is_zero(p, o), "init_on_free=1 left data at order %u", o);
	}
	kt_assert_valid("init_on_free");
}

Test(page_alloc, init_on_alloc_zeroes_new_pages)
{
	struct kmm_page *p, *q;

	kt_boot("mem=64M nr_cpus=1 init_on_alloc=1");
	for (unsigned o = 0; o <= 3; o++) {
		p = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_not_null(p);
		cr_assert(kt_block_is_zero(p, o));
		kt_block_fill(p, o, 0x33);
		kmm___free_pages(p, o);
		cr_assert_eq(((unsigned char *)kmm_page_address(p))[7], 0x33,
			     "init_on_free is off: the free page keeps its data");
		q = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_eq(q, p);
		cr_assert(kt_block_is_zero(q, o), "init_on_alloc=1 left data at order %u", o);
		kmm___free_pages(q, o);
	}
}

Test(page_alloc, shadow_mode_needs_no_host_memory)
{
	struct kt_blocks b = { 0 };

	/* Zeroing would touch the fake direct map and crash: it must not. */
	kt_boot("mem=256M kmm.mode=shadow init_on_alloc=1 init_on_free=1");
	cr_assert_eq(kmm_machine.direct_map, (uintptr_t)0xffff888000000000ULL);
	for (unsigned o = 0; o <= 10; o++) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, o);

		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)kmm_page_address(p),
			     0xffff888000000000ULL + (pfn_of(p) << KMM_PAGE_SHIFT));
		cr_assert_eq(kmm_virt_to_page(kmm_page_address(p)), p);
		kt_blocks_push(&b, p, o, 0);
	}
	cr_assert_neq(kmm_get_zeroed_page(KMM_GFP_KERNEL), 0);
	kt_fill(&b, KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_ZERO, 10);
	kt_blocks_free_all(&b);
	kt_assert_valid("shadow");
	kt_blocks_destroy(&b);
}

/* ---- refusals of bad frees ------------------------------------------------------ */

struct bad_ctx {
	struct kt_snap before;
	unsigned long bad;
	int err_lines;
};

static void bad_begin(struct bad_ctx *c)
{
	kt_snap_take(&c->before);
	c->bad = kmm_stat_read(KMM_STAT_BAD_PAGE);
	c->err_lines = kt_log_count_level(KMM_LOG_ERR, "");
}

/* Exactly one error line (containing @needle), one BAD_PAGE count, and
 * nothing else changed. */
static void bad_end(struct bad_ctx *c, const char *needle, const char *what)
{
	struct kt_snap now;

	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), c->bad + 1,
		     "%s: KMM_STAT_BAD_PAGE %lu -> %lu", what, c->bad,
		     kmm_stat_read(KMM_STAT_BAD_PAGE));
	cr_assert_eq(kt_log_count_level(KMM_LOG_ERR, ""), c->err_lines + 1,
		     "%s: reported %d times", what,
		     kt_log_count_level(KMM_LOG_ERR, "") - c->err_lines);
	if (needle && !kt_log_count(needle))
		kt_log_dump(what);
	if (needle)
		cr_assert_geq(kt_log_count(needle), 1, "%s: no report containing \"%s\"", what,
			      needle);
	kt_snap_take(&now);
	kt_snap_assert_same(&c->before, &now, what);
	kt_assert_valid(what);
}

static const char *pfn_tag(struct kmm_page *p)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "pfn:%05llx", (unsigned long long)pfn_of(p));
	return buf;
}

Test(page_alloc, double_free_is_refused)
{
	struct bad_ctx c;
	struct kmm_page *p;

	kt_boot("mem=64M nr_cpus=1");
	for (unsigned o = 0; o <= 10; o++) {
		p = kmm_alloc_pages(KMM_GFP_KERNEL, o);
		cr_assert_not_null(p);
		kmm___free_pages(p, o);
		/* The block is on a pcp list or a free list now. */
		bad_begin(&c);
		kmm___free_pages(p, o);
		bad_end(&c, pfn_tag(p), "double free");
		cr_assert_geq(kt_log_count("Bad page state"), 1);
	}
	/* After a drain the page is merged inside a larger free block. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	kmm___free_pages(p, 0);
	kmm_drain_all_pages(NULL);
	bad_begin(&c);
	kmm___free_pages(p, 0);
	bad_end(&c, pfn_tag(p), "double free after drain");
	/* put_page() of a freed page is a double free too. */
	bad_begin(&c);
	kmm_put_page(p);
	bad_end(&c, pfn_tag(p), "put_page after free");
	cr_assert_eq(kmm_page_ref_count(p), 0);
}

Test(page_alloc, freeing_never_allocated_pages_is_refused)
{
	struct bad_ctx c;
	struct kmm_page *head, *inner;
	struct kmm_zone *z;

	kt_boot("mem=64M");
	z = kt_zone(0, KMM_ZONE_DMA32);
	head = kmm_list_first_entry(&z->free_area[10].free_list[KMM_MIGRATE_MOVABLE],
				    struct kmm_page, lru);
	cr_assert(kmm_page_test(head, KMM_PG_buddy));
	inner = head + 123;
	bad_begin(&c);
	kmm___free_pages(head, 10);
	bad_end(&c, pfn_tag(head), "free of a free block head");
	bad_begin(&c);
	kmm___free_pages(inner, 0);
	bad_end(&c, pfn_tag(inner), "free of a page inside a free block");
	bad_begin(&c);
	kmm_free_pages((unsigned long)kmm_page_address(inner), 0);
	bad_end(&c, pfn_tag(inner), "free_pages of a free page");
}

Test(page_alloc, wrong_order_is_refused)
{
	struct bad_ctx c;
	struct kmm_page *p;

	kt_boot("mem=64M");
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(p);
	kt_pattern_write(p, 2, 42);
	bad_begin(&c);
	kmm___free_pages(p, 1);
	bad_end(&c, "freed with order 1, allocated with order 2", "smaller order");
	cr_assert_geq(kt_log_count(pfn_tag(p)), 1);
	bad_begin(&c);
	kmm___free_pages(p, 3);
	bad_end(&c, "freed with order 3, allocated with order 2", "larger order");
	/* The block is intact and still ours. */
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert(kt_pattern_ok(p, 2, 42));
	kmm___free_pages(p, 2);
	kt_assert_valid("right order");
	cr_assert_eq(kt_free_total(), kt_boot_free);
}

Test(page_alloc, freeing_a_tail_page_is_refused)
{
	struct bad_ctx c;
	struct kmm_page *p, *q;

	kt_boot("mem=64M");
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 2);
	cr_assert_not_null(p);
	bad_begin(&c);
	kmm___free_pages(p + 1, 0);
	bad_end(&c, "tail", "free of a compound tail");
	cr_assert_geq(kt_log_count(pfn_tag(p + 1)), 1);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert(kmm_page_test(p + 1, KMM_PG_tail));

	/* Inside a non-compound block: page 2 is nobody's head. */
	q = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	bad_begin(&c);
	kmm___free_pages(q + 2, 0);
	bad_end(&c, pfn_tag(q + 2), "free of a page inside an allocated block");
	bad_begin(&c);
	kmm___free_pages(q + 2, 1);
	bad_end(&c, pfn_tag(q + 2), "free of a sub-block");

	kmm___free_pages(p, 2);
	kmm___free_pages(q, 2);
	kt_assert_valid("after tail refusals");
	cr_assert_eq(kt_free_total(), kt_boot_free);
}

Test(page_alloc, free_pages_of_bad_addresses)
{
	struct bad_ctx c;
	unsigned long a;
	int local = 0;

	kt_boot("mem=64M");
	/* 0 is ignored silently, as free_pages(0) in the kernel. */
	bad_begin(&c);
	kmm_free_pages(0, 0);
	kmm_free_pages(0, 5);
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), c.bad);
	cr_assert_eq(kt_log_lines(), c.err_lines);

	bad_begin(&c);
	kmm_free_pages((unsigned long)&local, 0);
	bad_end(&c, "direct-map", "free_pages of a stack address");
	bad_begin(&c);
	kmm_free_pages(kmm_machine.direct_map + (kmm_machine.max_pfn << KMM_PAGE_SHIFT), 0);
	bad_end(&c, "direct-map", "free_pages past the direct map");

	a = kmm___get_free_pages(KMM_GFP_KERNEL, 1);
	cr_assert_neq(a, 0);
	bad_begin(&c);
	kmm_free_pages(a + 8, 1);
	bad_end(&c, "direct-map", "free_pages of an unaligned address");
	kmm_free_pages(a, 1);
	cr_assert_eq(kt_free_total(), kt_boot_free);

	/* A struct page that is not in the memmap. */
	struct kmm_page fake;
	memset(&fake, 0, sizeof(fake));
	bad_begin(&c);
	kmm___free_pages(&fake, 0);
	bad_end(&c, "not a page of this machine", "free of a foreign struct page");
	bad_begin(&c);
	kmm_put_page(&fake);
	bad_end(&c, "not a page of this machine", "put of a foreign struct page");
	bad_begin(&c);
	kmm___free_pages(NULL, 0);
	bad_end(&c, "NULL", "free of NULL");
}

Test(page_alloc, get_page_on_a_free_page_is_refused)
{
	struct bad_ctx c;
	struct kmm_page *p;

	kt_boot("mem=64M nr_cpus=1");
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	kmm___free_pages(p, 0);
	bad_begin(&c);
	kmm_get_page(p);
	bad_end(&c, pfn_tag(p), "get_page of a free page");
	cr_assert_eq(kmm_page_ref_count(p), 0, "no reference was taken");
}

/* ---- references ------------------------------------------------------------------ */

Test(page_alloc, refcount_frees_at_last_put)
{
	struct kmm_page *p;
	uint64_t before;

	kt_boot("mem=64M nr_cpus=1");
	before = kt_free_total();
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	kmm_get_page(p);
	kmm_get_page(p);
	cr_assert_eq(kmm_page_ref_count(p), 3);
	kmm_put_page(p);
	kmm___free_pages(p, 0);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert_not(kmm_page_test(p, KMM_PG_pcp), "still referenced, not free");
	cr_assert_eq(kt_free_total(), before - 1);
	kt_assert_valid("referenced page");
	kmm_put_page(p);
	cr_assert_eq(kmm_page_ref_count(p), 0);
	cr_assert(kmm_page_test(p, KMM_PG_pcp));
	cr_assert_eq(kt_free_total(), before);

	/* put_page frees a higher-order block at its allocation order. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 4);
	kmm_put_page(p);
	cr_assert_eq(kt_free_total(), before);
	kt_assert_valid("put of order 4");
}

Test(page_alloc, free_pages_of_shared_non_compound_block)
{
	struct kmm_page *p;
	uint64_t before;

	kt_boot("mem=64M nr_cpus=1");
	before = kt_free_total();
	/* __free_pages() of a non-compound block someone else holds: all but
	 * the head go now, the head at its last reference. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	kmm_get_page(p);
	kmm___free_pages(p, 2);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert_eq(kt_free_total(), before - 1);
	kt_assert_valid("tail pages freed");
	kmm_put_page(p);
	cr_assert_eq(kt_free_total(), before);
	kt_assert_valid("head freed");

	/* A compound block stays whole while referenced. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_COMP, 2);
	kmm_get_page(p + 3);
	kmm___free_pages(p, 2);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	cr_assert_eq(kt_free_total(), before - 4);
	kmm_put_page(p + 2);
	cr_assert_eq(kt_free_total(), before);
	kt_assert_valid("compound freed");
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), 0);
}

Test(page_alloc, get_free_pages_round_trip)
{
	unsigned long a;
	struct kmm_page *p;

	kt_boot("mem=64M");
	for (unsigned o = 0; o <= 10; o++) {
		a = kmm___get_free_pages(KMM_GFP_KERNEL, o);
		cr_assert_neq(a, 0);
		cr_assert(KMM_IS_ALIGNED(a, KMM_PAGE_SIZE));
		p = kmm_virt_to_page((void *)a);
		cr_assert_not_null(p);
		cr_assert_eq(kmm_page_address(p), (void *)a);
		cr_assert_eq(p->alloc_order, o);
		memset((void *)a, 0x11, KMM_PAGE_SIZE << o);
		cr_assert_eq(((unsigned char *)a)[(KMM_PAGE_SIZE << o) - 1], 0x11);
		kmm_free_pages(a, o);
	}
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_assert_valid("__get_free_pages");
	cr_assert_null(kmm_virt_to_page((void *)(kmm_machine.direct_map - 1)));
}

Test(page_alloc, get_free_pages_ignores_highmem)
{
	kt_boot("mem=256M movablecore=64M");
	/* __get_free_pages() returns direct-map addresses of lowmem: with
	 * __GFP_HIGHMEM dropped, never a ZONE_MOVABLE page. */
	for (int i = 0; i < 200; i++) {
		unsigned long a = kmm___get_free_pages(KMM_GFP_HIGHUSER_MOVABLE, 0);
		struct kmm_page *p = kmm_virt_to_page((void *)a);

		cr_assert_not_null(p);
		cr_assert_neq(kmm_page_zonenum(p), KMM_ZONE_MOVABLE);
		kmm_free_pages(a, 0);
	}
}

/* ---- bulk ------------------------------------------------------------------------ */

Test(page_alloc, alloc_pages_bulk_fills_only_null_slots)
{
	struct kmm_page *arr[32] = { 0 }, *a, *b, *c;
	uint64_t before;

	kt_boot("mem=64M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(1), 0);
	before = kt_free_total();
	a = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	b = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	c = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	arr[0] = a;
	arr[5] = b;
	arr[31] = c;
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, 32, arr), 32);
	cr_assert_eq(arr[0], a);
	cr_assert_eq(arr[5], b);
	cr_assert_eq(arr[31], c);
	for (int i = 0; i < 32; i++) {
		cr_assert_not_null(arr[i], "slot %d", i);
		cr_assert_eq(kmm_page_ref_count(arr[i]), 1);
		cr_assert_eq(arr[i]->alloc_order, 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(arr[i], arr[j], "slots %d and %d share a page", i, j);
		kt_pattern_write(arr[i], 0, (uint64_t)i + 1);
	}
	cr_assert_eq(kt_free_total(), before - 32);
	kt_assert_valid("bulk");
	for (int i = 0; i < 32; i++)
		cr_assert(kt_pattern_ok(arr[i], 0, (uint64_t)i + 1));

	/* A full array: nothing to do. */
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, 32, arr), 32);
	cr_assert_eq(kt_free_total(), before - 32);
	/* One hole: filled by the single-page path. */
	kmm___free_pages(arr[7], 0);
	arr[7] = NULL;
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, 32, arr), 32);
	cr_assert_not_null(arr[7]);
	/* __GFP_ZERO is honoured. */
	struct kmm_page *z[8] = { 0 };
	kt_block_fill(arr[3], 0, 0x99);
	kmm___free_pages(arr[3], 0);
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_ZERO, -1, 8, z), 8);
	for (int i = 0; i < 8; i++)
		cr_assert(kt_block_is_zero(z[i], 0));
	arr[3] = NULL;
	for (int i = 0; i < 32; i++)
		if (arr[i])
			kmm___free_pages(arr[i], 0);
	for (int i = 0; i < 8; i++)
		kmm___free_pages(z[i], 0);
	kt_assert_valid("bulk free");
	cr_assert_eq(kt_free_total(), before);
}

Test(page_alloc, alloc_pages_bulk_when_memory_runs_out)
{
	struct kt_blocks b = { 0 };
	struct kmm_page **arr = calloc(20000, sizeof(*arr));
	unsigned long n;

	kt_boot("mem=64M nr_cpus=1");
	n = kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1, 20000, arr);
	cr_assert_gt(n, 0);
	cr_assert_lt(n, 16384);
	for (unsigned long i = 0; i < n; i++)
		cr_assert_not_null(arr[i]);
	for (unsigned long i = n; i < 20000; i++)
		cr_assert_null(arr[i], "slot %lu filled beyond the count %lu", i, n);
	kt_assert_valid("bulk exhaustion");
	for (unsigned long i = 0; i < n; i++)
		kmm___free_pages(arr[i], 0);
	cr_assert_eq(kt_free_total(), kt_boot_free);
	free(arr);
	kt_blocks_destroy(&b);
}

/* ---- torture ---------------------------------------------------------------------- */

Test(page_alloc, randomized_torture, .timeout = 240)
{
	static const kmm_gfp_t gfps[] = {
		KMM_GFP_KERNEL,
		KMM_GFP_KERNEL | KMM___GFP_ZERO,
		KMM_GFP_HIGHUSER_MOVABLE,
		KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_ZERO,
		KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE,
		KMM_GFP_KERNEL | KMM___GFP_COMP,
		KMM_GFP_ATOMIC,
		KMM_GFP_NOWAIT,
		KMM_GFP_KERNEL | KMM_GFP_DMA,
		KMM_GFP_KERNEL | KMM_GFP_DMA32,
		KMM_GFP_TRANSHUGE_LIGHT,
	};
	uint64_t seed = kt_seed("torture"), rs = seed, allocated = 0, total;
	struct kt_blocks b = { 0 };
	const int steps = 20000;

	kt_boot("mem=64M nr_cpus=3 cma=4M");
	total = kt_boot_free;
	for (int step = 1; step <= steps; step++) {
		uint64_t r = kt_rand(&rs) % 100;

		cr_assert_eq(kmm_bind_cpu((int)(kt_rand(&rs) % 3)), 0);
		if (r < 55 || b.n == 0) {
			kmm_gfp_t g = gfps[kt_rand(&rs) % KMM_ARRAY_SIZE(gfps)];
			unsigned o = (unsigned)(kt_rand(&rs) % 100);
			struct kmm_page *p;

			o = o < 70 ? o % 4 : o < 90 ? 4 + o % 5 : 9 + o % 2;
			p = kmm_alloc_pages(g | KMM___GFP_NOWARN, o);
			if (!p)
				continue;
			cr_assert_eq(kmm_page_ref_count(p), 1, "seed %llu step %d",
				     (unsigned long long)seed, step);
			if (g & KMM___GFP_ZERO)
				cr_assert(kt_block_is_zero(p, o), "seed %llu step %d: not zeroed",
					  (unsigned long long)seed, step);
			if (g & KMM_GFP_DMA)
				cr_assert_lt(pfn_of(p), 4096);
			kt_pattern_write(p, o, (uint64_t)step);
			kt_blocks_push(&b, p, o, (uint64_t)step);
			allocated += 1ULL << o;
		} else if (r < 95) {
			struct kt_block k = kt_blocks_take(&b, kt_rand(&rs) % b.n);

			cr_assert(kt_pattern_ok(k.page, k.order, k.tag),
				  "seed %llu step %d: block pfn %#llx order %u (allocated at step %llu) was overwritten",
				  (unsigned long long)seed, step,
				  (unsigned long long)pfn_of(k.page), k.order,
				  (unsigned long long)k.tag);
			if (kt_rand(&rs) % 4 == 0)
				kmm_put_page(k.page);
			else
				kmm___free_pages(k.page, k.order);
			allocated -= 1ULL << k.order;
		} else if (r < 97) {
			/* An extra reference, dropped right away. */
			struct kt_block *k = &b.v[kt_rand(&rs) % b.n];

			kmm_get_page(k->page);
			cr_assert_eq(kmm_page_ref_count(k->page), 2);
			kmm_put_page(k->page);
		} else if (r < 98) {
			kmm_drain_all_pages(NULL);
		} else {
			struct kmm_page *arr[16] = { 0 };
			unsigned long n = kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1,
							       1 + kt_rand(&rs) % 16, arr);

			for (unsigned long i = 0; i < n; i++) {
				kt_pattern_write(arr[i], 0, (uint64_t)step);
				kt_blocks_push(&b, arr[i], 0, (uint64_t)step);
				allocated++;
			}
		}
		if (step % 100 == 0) {
			int v = kmm_page_alloc_validate();

			if (v)
				kt_log_dump("torture");
			cr_assert_eq(v, 0, "seed %llu: validate failed at step %d",
				     (unsigned long long)seed, step);
			cr_assert_eq(kt_free_total() + allocated, total,
				     "seed %llu step %d: %llu free + %llu allocated != %llu",
				     (unsigned long long)seed, step,
				     (unsigned long long)kt_free_total(),
				     (unsigned long long)allocated, (unsigned long long)total);
		}
	}
	kt_blocks_free_all(&b);
	kmm_drain_all_pages(NULL);
	kt_assert_valid("torture end");
	cr_assert_eq(kmm_nr_free_pages(), total, "seed %llu", (unsigned long long)seed);
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), 0);
	kt_blocks_destroy(&b);
}

/* ---- the validator itself ------------------------------------------------------- */

static void expect_invalid(const char *what)
{
	int before = kt_log_count("validate:");

	cr_assert_eq(kmm_page_alloc_validate(), -KMM_EINVAL, "validator missed: %s", what);
	cr_assert_gt(kt_log_count("validate:"), before, "no validate: line for %s", what);
}

Test(page_alloc, validator_catches_corruption)
{
	struct kmm_zone *z;
	struct kmm_page *head, *half, *p;
	struct kmm_free_area *a9, *a10;
	const int MOV = KMM_MIGRATE_MOVABLE;

	kt_boot("mem=64M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	z = kt_zone(0, KMM_ZONE_DMA32);
	a9 = &z->free_area[9];
	a10 = &z->free_area[10];
	head = kmm_list_first_entry(&a10->free_list[MOV], struct kmm_page, lru);

	/* 1. a free block's order */
	head->private = 9;
	expect_invalid("free block order");
	head->private = 10;
	kt_assert_valid("restored order");

	/* 2. nr_free */
	a10->nr_free++;
	expect_invalid("nr_free");
	a10->nr_free--;
	/* 3. nr_free_mt */
	a10->nr_free_mt[MOV]--;
	expect_invalid("nr_free_mt");
	a10->nr_free_mt[MOV]++;
	/* 4. NR_FREE_PAGES */
	atomic_fetch_add(&z->vm_stat[KMM_NR_FREE_PAGES], 1);
	expect_invalid("NR_FREE_PAGES");
	atomic_fetch_sub(&z->vm_stat[KMM_NR_FREE_PAGES], 1);
	/* 5. PG_buddy */
	kmm_page_clear(head, KMM_PG_buddy);
	expect_invalid("PG_buddy");
	kmm_page_set(head, KMM_PG_buddy);
	/* 6. a pageblock type byte */
	uint8_t *pb = &z->pageblock_flags[(kmm_page_to_pfn(head) -
					   KMM_ALIGN_DOWN(z->zone_start_pfn, KMM_PAGEBLOCK_NR_PAGES)) >>
					  KMM_PAGEBLOCK_ORDER];
	uint8_t saved = *pb;
	*pb = 7;
	expect_invalid("pageblock byte");
	*pb = KMM_MIGRATE_UNMOVABLE;
	expect_invalid("free list type vs pageblock type");
	*pb = saved;
	kt_assert_valid("restored counters");

	/* 7. two free buddies left unmerged: split the order-10 block by hand. */
	half = head + 512;
	kmm_list_del(&head->lru);
	a10->nr_free--;
	a10->nr_free_mt[MOV]--;
	head->private = 9;
	kmm_list_add(&head->lru, &a9->free_list[MOV]);
	half->private = 9;
	half->alloc_mt = MOV;
	kmm_page_set(half, KMM_PG_buddy);
	kmm_list_add(&half->lru, &a9->free_list[MOV]);
	a9->nr_free += 2;
	a9->nr_free_mt[MOV] += 2;
	expect_invalid("unmerged buddies");
	cr_assert_geq(kt_log_count("unmerged"), 1);
	kmm_list_del(&half->lru);
	kmm_page_clear(half, KMM_PG_buddy);
	half->private = 0;
	kmm_list_del(&head->lru);
	a9->nr_free -= 2;
	a9->nr_free_mt[MOV] -= 2;
	head->private = 10;
	kmm_list_add(&head->lru, &a10->free_list[MOV]);
	a10->nr_free++;
	a10->nr_free_mt[MOV]++;
	kt_assert_valid("restored split");

	/* 8. a pcp count */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	kmm___free_pages(p, 0);
	struct kmm_zone *pz = kmm_page_zone(p);
	pz->per_cpu_pageset[0].count++;
	expect_invalid("pcp count");
	pz->per_cpu_pageset[0].count--;
	/* 9. a pcp page's flag */
	kmm_page_clear(p, KMM_PG_pcp);
	expect_invalid("PG_pcp");
	kmm_page_set(p, KMM_PG_pcp);
	kt_assert_valid("restored pcp");

	/* 10. an allocated page that lost its reference (leaked) */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	atomic_store(&p->_refcount, 0);
	expect_invalid("allocated page with refcount 0");
	atomic_store(&p->_refcount, 1);
	/* 11. a free flag inside an allocated block */
	kmm_page_set(p + 2, KMM_PG_buddy);
	expect_invalid("PG_buddy inside an allocated block");
	kmm_page_clear(p + 2, KMM_PG_buddy);
	kt_assert_valid("restored allocated block");
	kmm___free_pages(p, 3);
	kt_assert_valid("end");
}
