/* SPDX-License-Identifier: MIT */
/*
 * test_boot.c - kmm_boot()/kmm_shutdown(): the command line, the machine
 * layout (nodes, zones, CMA, ZONE_MOVABLE), refusals and repeatability.
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmm_test.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define PFN_16M (16 * MiB >> KMM_PAGE_SHIFT)	/* 0x1000 */
#define PFN_4G (4 * GiB >> KMM_PAGE_SHIFT)	/* 0x100000 */

TestSuite(boot, .fini = kt_fini, .timeout = 120);

static void expect_zone(int nid, int zi, uint64_t start, uint64_t pages)
{
	struct kmm_zone *z = kt_zone(nid, zi);

	cr_assert_eq(z->zone_start_pfn, start, "node %d zone %s starts at %#llx, want %#llx",
		     nid, kmm_zone_names[zi], (unsigned long long)z->zone_start_pfn,
		     (unsigned long long)start);
	cr_assert_eq(z->spanned_pages, pages, "node %d zone %s spans %llu, want %llu",
		     nid, kmm_zone_names[zi], (unsigned long long)z->spanned_pages,
		     (unsigned long long)pages);
	cr_assert_eq(z->present_pages, pages);
	cr_assert_eq(z->managed_pages, pages);
}

static void expect_empty_zone(int nid, int zi)
{
	cr_assert_not(kmm_zone_is_populated(kt_zone(nid, zi)),
		      "node %d zone %s should be empty", nid, kmm_zone_names[zi]);
}

/* The page is in the given zone of node 0 (by flags and by range). */
static int page_zone_type(struct kmm_page *p)
{
	return kmm_page_zonenum(p);
}

/* ---- defaults ------------------------------------------------------------ */

Test(boot, defaults)
{
	unsigned host = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	kt_boot(NULL);
	cr_assert_eq(kmm_machine.max_pfn, 262144);
	cr_assert_eq(kmm_machine.totalram_pages, 262144);
	cr_assert_eq(kmm_machine.nr_nodes, 1);
	cr_assert_eq(kmm_machine.nr_cpus, host < 1 ? 1 : host > KMM_MAX_CPUS ? KMM_MAX_CPUS : host);
	cr_assert_eq(kmm_machine.params.mem_bytes, 1 * GiB);
	cr_assert_eq(kmm_machine.params.vmalloc_bytes, 32 * GiB);
	cr_assert_eq(kmm_machine.params.mode, KMM_MODE_REAL);
	cr_assert_not(kmm_machine.params.init_on_alloc);
	cr_assert_not(kmm_machine.params.init_on_free);
	cr_assert_eq(kmm_machine.nr_cma_areas, 0);
	expect_zone(0, KMM_ZONE_DMA, 0, 4096);
	expect_zone(0, KMM_ZONE_DMA32, 4096, 262144 - 4096);
	expect_empty_zone(0, KMM_ZONE_NORMAL);
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
	cr_assert_eq(kmm_NODE_DATA(0)->nr_zones, 2);
	cr_assert_eq(kmm_NODE_DATA(0)->node_start_pfn, 0);
	cr_assert_eq(kmm_NODE_DATA(0)->node_spanned_pages, 262144);
	/* Everything is handed to the buddy allocator at boot (but the few
	 * pages boot allocates itself, see kt_boot()). */
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	cr_assert_eq(kt_pcp_total(), 0);
	/* Pageblocks start Movable, as memmap_init() leaves them; boot's own
	 * unmovable allocations may have claimed one max-order block. */
	unsigned long movable = 0, pbs = 0;
	for (uint64_t pfn = 0; pfn < kmm_machine.max_pfn; pfn += KMM_PAGEBLOCK_NR_PAGES) {
		int mt = kmm_get_pfnblock_migratetype(pfn);

		cr_assert(mt == KMM_MIGRATE_MOVABLE || mt == KMM_MIGRATE_UNMOVABLE);
		movable += mt == KMM_MIGRATE_MOVABLE;
		pbs++;
	}
	cr_assert_eq(pbs, 512);
	cr_assert_geq(movable, pbs - 2);
	/* A CONFIG_TRANSPARENT_HUGEPAGE kernel on 1 GiB with two zones:
	 * set_recommended_min_free_kbytes() gives 45056 kB. */
	cr_assert_eq(kmm_machine.min_free_kbytes, 45056,
		     "min_free_kbytes %llu", (unsigned long long)kmm_machine.min_free_kbytes);
	/* Nothing was logged as an error. */
	cr_assert_eq(kt_log_count_level(KMM_LOG_ERR, ""), 0);
}

Test(boot, empty_cmdline_is_default)
{
	kt_boot("   ");
	cr_assert_eq(kmm_machine.max_pfn, 262144);
	cr_assert_eq(kmm_machine.nr_nodes, 1);
}

Test(boot, whitespace_separates_parameters)
{
	kt_boot(" \tmem=64M\t\tnr_cpus=2\n numa=1  ");
	cr_assert_eq(kmm_machine.max_pfn, 16384);
	cr_assert_eq(kmm_machine.nr_cpus, 2);
}

Test(boot, thp_never_uses_sqrt_min_free_kbytes)
{
	/* Without THP, min_free_kbytes = int_sqrt(lowmem_kbytes * 16):
	 * sqrt(1048576 * 16) = 4096 kB for 1 GiB. */
	kt_boot("transparent_hugepage=never");
	cr_assert_not(kmm_machine.params.thp_enabled);
	cr_assert_eq(kmm_machine.min_free_kbytes, 4096,
		     "min_free_kbytes %llu", (unsigned long long)kmm_machine.min_free_kbytes);
}

/* ---- mem= ------------------------------------------------------------------ */

Test(boot, mem_suffixes)
{
	static const struct {
		const char *cmd;
		uint64_t pages;
	} cases[] = {
		{ "mem=64M", 16384 },
		{ "mem=64m", 16384 },
		{ "mem=65536K", 16384 },
		{ "mem=65536k", 16384 },
		{ "mem=67108864", 16384 },
		{ "mem=0x4000000", 16384 },
		{ "mem=67110000", 16384 },	/* rounded down to pages */
		{ "mem=96M", 24576 },
		{ "mem=1G", 262144 },
		{ "mem=1g", 262144 },
		{ "mem=2G kmm.mode=shadow", 524288 },
		{ "mem=1T kmm.mode=shadow mem=128M", 32768 },	/* the last one wins */
	};

	for (size_t i = 0; i < KMM_ARRAY_SIZE(cases); i++) {
		kt_boot(cases[i].cmd);
		cr_assert_eq(kmm_machine.max_pfn, cases[i].pages, "%s: %llu pages, want %llu",
			     cases[i].cmd, (unsigned long long)kmm_machine.max_pfn,
			     (unsigned long long)cases[i].pages);
		cr_assert_eq(kmm_machine.totalram_pages, cases[i].pages);
		cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
		kt_shutdown();
	}
}

Test(boot, parse_size)
{
	uint64_t v;

	cr_assert_eq(kmm_parse_size("4k", 2, &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(kmm_parse_size("3M", 2, &v), 0);
	cr_assert_eq(v, 3 * MiB);
	cr_assert_eq(kmm_parse_size("2G", 2, &v), 0);
	cr_assert_eq(v, 2 * GiB);
	cr_assert_eq(kmm_parse_size("1T", 2, &v), 0);
	cr_assert_eq(v, 1ULL << 40);
	cr_assert_eq(kmm_parse_size("0x10", 4, &v), 0);
	cr_assert_eq(v, 16);
	/* Only the first @len bytes count. */
	cr_assert_eq(kmm_parse_size("12Mjunk", 3, &v), 0);
	cr_assert_eq(v, 12 * MiB);

	v = 77;
	cr_assert_eq(kmm_parse_size("", 0, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("K", 1, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("12X", 3, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("-1", 2, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("1.5G", 4, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("99999999999T", 12, &v), -KMM_EINVAL);
	cr_assert_eq(kmm_parse_size("99999999999999999999", 20, &v), -KMM_EINVAL);
	cr_assert_eq(v, 77, "a refused size must not be stored");
}

/* boot.h: "mem=SIZE ... 4M..64T". */
Test(boot, mem_range_limits)
{
	static const char *const bad[] = { "mem=4095K", "mem=3M", "mem=1", "mem=65537G" };

	for (size_t i = 0; i < KMM_ARRAY_SIZE(bad); i++) {
		int ret;

		kt_log_start();
		ret = kmm_boot(bad[i]);
		if (ret == 0)
			kmm_shutdown();
		cr_assert_eq(ret, -KMM_EINVAL, "%s boots (ret %d)", bad[i], ret);
		cr_assert_gt(kt_log_count(bad[i]), 0);
		cr_assert_not(kmm_booted());
	}
	/* The smallest machine: one DMA zone of 4 MiB, which works. */
	kt_boot("mem=4M");
	cr_assert_eq(kmm_machine.max_pfn, 1024);
	expect_zone(0, KMM_ZONE_DMA, 0, 1024);
	expect_empty_zone(0, KMM_ZONE_DMA32);
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	kmm___free_pages(p, 0);
	kt_assert_valid("4M machine");
	kt_shutdown();
	kt_boot("mem=32M");
	cr_assert_eq(kmm_machine.max_pfn, 8192);
}

Test(boot, mem_8g_shadow_has_normal_zone_at_4g)
{
	struct kmm_page *p;

	kt_boot("mem=8G kmm.mode=shadow");
	cr_assert_eq(kmm_machine.max_pfn, 2 * PFN_4G);
	expect_zone(0, KMM_ZONE_DMA, 0, PFN_16M);
	expect_zone(0, KMM_ZONE_DMA32, PFN_16M, PFN_4G - PFN_16M);
	expect_zone(0, KMM_ZONE_NORMAL, PFN_4G, PFN_4G);
	cr_assert_eq(kt_zone(0, KMM_ZONE_NORMAL)->zone_start_pfn, 0x100000);
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
	cr_assert_eq(kmm_NODE_DATA(0)->nr_zones, 3);
	/* The fake x86-64 direct map. */
	cr_assert_eq(kmm_machine.direct_map, (uintptr_t)0xffff888000000000ULL);

	/* GFP_KERNEL prefers Normal, GFP_DMA32 stays below 4 GiB. */
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	cr_assert_eq(page_zone_type(p), KMM_ZONE_NORMAL);
	cr_assert_geq(kmm_page_to_pfn(p), 0x100000);
	kmm___free_pages(p, 0);
	p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM_GFP_DMA32, 3);
	cr_assert_not_null(p);
	cr_assert_eq(page_zone_type(p), KMM_ZONE_DMA32);
	cr_assert_lt(kmm_page_to_pfn(p), 0x100000);
	kmm___free_pages(p, 3);
	kt_assert_valid("8G shadow allocations");
}

Test(boot, mem_64g_shadow_boots_and_allocates_fast, .timeout = 240)
{
	double t0 = kt_now(), t_boot, t_alloc;
	struct kt_blocks b = { 0 };

	kt_boot("mem=64G kmm.mode=shadow");
	t_boot = kt_now() - t0;
	cr_assert_eq(kmm_machine.max_pfn, 64 * GiB >> KMM_PAGE_SHIFT);
	cr_assert_eq(kmm_machine.totalram_pages, 64 * GiB >> KMM_PAGE_SHIFT);
	expect_zone(0, KMM_ZONE_NORMAL, PFN_4G, (60 * GiB) >> KMM_PAGE_SHIFT);

	t0 = kt_now();
	/* 1 GiB in max-order blocks and 4096 single pages, no host memory. */
	for (int i = 0; i < 256; i++) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 10);

		cr_assert_not_null(p);
		kt_blocks_push(&b, p, 10, 0);
	}
	for (int i = 0; i < 4096; i++) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 0);

		cr_assert_not_null(p);
		kt_blocks_push(&b, p, 0, 0);
	}
	cr_assert_eq(kt_free_total(), kt_boot_free - 256 * 1024 - 4096);
	kt_blocks_free_all(&b);
	t_alloc = kt_now() - t0;
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	fprintf(stderr, "mem=64G shadow: boot %.2f s, 260k-page alloc/free %.3f s\n",
		t_boot, t_alloc);
	/* Generous bounds (sanitizers slow both down several times). */
	cr_assert_lt(t_boot, 120.0);
	cr_assert_lt(t_alloc, 10.0);
	kt_blocks_destroy(&b);
}

/* ---- numa= ------------------------------------------------------------------ */

Test(boot, numa2_splits_memory_evenly)
{
	struct kmm_pglist_data *n0, *n1;
	struct kmm_zonelist *zl;

	kt_boot("mem=256M numa=2 nr_cpus=2");
	cr_assert_eq(kmm_machine.nr_nodes, 2);
	n0 = kmm_NODE_DATA(0);
	n1 = kmm_NODE_DATA(1);
	cr_assert_eq(n0->node_start_pfn, 0);
	cr_assert_eq(n0->node_spanned_pages, 32768);
	cr_assert_eq(n1->node_start_pfn, 32768);
	cr_assert_eq(n1->node_spanned_pages, 32768);
	expect_zone(0, KMM_ZONE_DMA, 0, 4096);
	expect_zone(0, KMM_ZONE_DMA32, 4096, 32768 - 4096);
	expect_empty_zone(1, KMM_ZONE_DMA);
	expect_zone(1, KMM_ZONE_DMA32, 32768, 32768);
	/* CPUs spread in runs. */
	cr_assert_eq(kmm_cpu_to_node(0), 0);
	cr_assert_eq(kmm_cpu_to_node(1), 1);

	/* Zonelists: own node highest zone first, then the other node. */
	zl = &n0->node_zonelists[KMM_ZONELIST_FALLBACK];
	cr_assert_eq(zl->nr, 3);
	cr_assert_eq(zl->zones[0], kt_zone(0, KMM_ZONE_DMA32));
	cr_assert_eq(zl->zones[1], kt_zone(0, KMM_ZONE_DMA));
	cr_assert_eq(zl->zones[2], kt_zone(1, KMM_ZONE_DMA32));
	zl = &n0->node_zonelists[KMM_ZONELIST_NOFALLBACK];
	cr_assert_eq(zl->nr, 2);
	zl = &n1->node_zonelists[KMM_ZONELIST_FALLBACK];
	cr_assert_eq(zl->nr, 3);
	cr_assert_eq(zl->zones[0], kt_zone(1, KMM_ZONE_DMA32));
	cr_assert_eq(zl->zones[1], kt_zone(0, KMM_ZONE_DMA32));
	cr_assert_eq(zl->zones[2], kt_zone(0, KMM_ZONE_DMA));
}

Test(boot, numa_remainder_goes_to_last_node)
{
	/* 100M = 25600 pages: 12288 (MAX_ORDER aligned) + 13312. */
	kt_boot("mem=100M numa=2");
	cr_assert_eq(kmm_NODE_DATA(0)->node_spanned_pages, 12288);
	cr_assert_eq(kmm_NODE_DATA(1)->node_start_pfn, 12288);
	cr_assert_eq(kmm_NODE_DATA(1)->node_spanned_pages, 13312);
	cr_assert_eq(kmm_machine.totalram_pages, 25600);
}

Test(boot, numa_thisnode_fails_instead_of_falling_back)
{
	struct kt_blocks b = { 0 };
	struct kmm_page *p;
	unsigned long miss_before;
	uint64_t got;

	kt_boot("mem=256M numa=2 nr_cpus=2");
	/* Run as CPU 0, on node 0: nid -1 then means node 0 too. */
	cr_assert_eq(kmm_bind_cpu(0), 0);
	/* Preferred node 0, __GFP_THISNODE: everything comes from node 0. */
	got = kt_fill(&b, KMM_GFP_KERNEL | KMM___GFP_THISNODE, 10);
	cr_assert_gt(got, 32768 * 9 / 10, "only %llu pages from node 0",
		     (unsigned long long)got);
	cr_assert_leq(got, 32768);
	for (size_t i = 0; i < b.n; i++)
		cr_assert_eq(kmm_page_nid(b.v[i].page), 0,
			     "__GFP_THISNODE page from node %d",
			     kmm_page_nid(b.v[i].page));

	/* Node 0 is exhausted: __GFP_THISNODE fails (and warns)... */
	kt_log_clear();
	p = kmm_alloc_pages_node(0, KMM_GFP_KERNEL | KMM___GFP_THISNODE, 0);
	cr_assert_null(p);
	cr_assert_eq(kt_log_count("page allocation failure"), 1);
	cr_assert_eq(kt_log_count("__GFP_THISNODE"), 1, "the warning names the flags");

	/* ...while the plain zonelist falls back to node 1, counted as a miss. */
	miss_before = kmm_zone_events(kt_zone(1, KMM_ZONE_DMA32), KMM_NUMA_MISS);
	p = kmm_alloc_pages_node(0, KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_nid(p), 1);
	cr_assert_eq(kmm_zone_events(kt_zone(1, KMM_ZONE_DMA32), KMM_NUMA_MISS), miss_before + 1);
	cr_assert_geq(kmm_zone_events(kt_zone(0, KMM_ZONE_DMA32), KMM_NUMA_FOREIGN), 1);
	kmm___free_pages(p, 0);

	/* Node 1 on its own is untouched by the node-0 fill. */
	p = kmm_alloc_pages_node(1, KMM_GFP_KERNEL | KMM___GFP_THISNODE, 10);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_nid(p), 1);
	kmm___free_pages(p, 10);

	kt_blocks_free_all(&b);
	kmm_drain_all_pages(NULL);
	kt_assert_valid("numa fill and free");
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	kt_blocks_destroy(&b);
}

Test(boot, numa_local_cpu_node)
{
	struct kmm_page *p;

	kt_boot("mem=256M numa=2 nr_cpus=4");
	cr_assert_eq(kmm_cpu_to_node(0), 0);
	cr_assert_eq(kmm_cpu_to_node(1), 0);
	cr_assert_eq(kmm_cpu_to_node(2), 1);
	cr_assert_eq(kmm_cpu_to_node(3), 1);
	cr_assert_eq(kmm_bind_cpu(3), 0);
	cr_assert_eq(kmm_numa_node_id(), 1);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_nid(p), 1, "nid -1 means the current CPU's node");
	kmm___free_pages(p, 0);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_eq(kmm_page_nid(p), 0);
	kmm___free_pages(p, 0);
	kt_assert_valid("local node allocations");
}

/* ---- nr_cpus= --------------------------------------------------------------- */

Test(boot, nr_cpus)
{
	kt_boot("mem=64M nr_cpus=3");
	cr_assert_eq(kmm_machine.nr_cpus, 3);
	cr_assert_eq(kmm_bind_cpu(2), 0);
	cr_assert_eq(kmm_smp_processor_id(), 2);
	cr_assert_eq(kmm_bind_cpu(3), -KMM_EINVAL);
	cr_assert_eq(kmm_smp_processor_id(), 2, "a refused bind changes nothing");
	cr_assert_eq(kmm_bind_cpu(-2), -KMM_EINVAL);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	cr_assert_eq(kmm_smp_processor_id(), 0);
	cr_assert_eq(kmm_bind_cpu(-1), 0);
	cr_assert_lt(kmm_smp_processor_id(), 3);
	/* One pcp set per CPU: the pcp of CPU 2 is usable. */
	cr_assert_eq(kmm_bind_cpu(2), 0);
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	kmm___free_pages(p, 0);
	cr_assert_gt(kt_zone(0, kmm_page_zonenum(p))->per_cpu_pageset[2].count, 0);
	kt_assert_valid("nr_cpus=3");
}

Test(boot, nr_cpus_1_and_max)
{
	kt_boot("mem=64M nr_cpus=1");
	cr_assert_eq(kmm_machine.nr_cpus, 1);
	cr_assert_eq(kmm_bind_cpu(1), -KMM_EINVAL);
	kt_shutdown();
	kt_boot("mem=64M nr_cpus=256");
	cr_assert_eq(kmm_machine.nr_cpus, 256);
	cr_assert_eq(kmm_bind_cpu(255), 0);
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(p);
	kmm___free_pages(p, 0);
	kt_assert_valid("nr_cpus=256");
}

/* ---- movablecore= ----------------------------------------------------------- */

static void check_movable_layout(void)
{
	/* 64M of 256M: ZONE_MOVABLE is the top 16384 pages of DMA32. */
	expect_zone(0, KMM_ZONE_DMA, 0, 4096);
	expect_zone(0, KMM_ZONE_DMA32, 4096, 49152 - 4096);
	expect_zone(0, KMM_ZONE_MOVABLE, 49152, 16384);
	cr_assert_eq(kmm_NODE_DATA(0)->nr_zones, 4);
	cr_assert_eq(kmm_machine.totalram_pages, 65536);
}

Test(boot, movablecore_size)
{
	kt_boot("mem=256M movablecore=64M");
	check_movable_layout();
	cr_assert_eq(kmm_machine.params.movablecore_bytes, 64 * MiB);
}

Test(boot, movablecore_percent)
{
	kt_boot("mem=256M movablecore=25%");
	check_movable_layout();
	cr_assert_eq(kmm_machine.params.movablecore_percent, 25);
}

Test(boot, movablecore_is_max_order_aligned)
{
	/* 10M = 2560 pages: the zone start is rounded up to 1024 pages. */
	kt_boot("mem=256M movablecore=10M");
	struct kmm_zone *m = kt_zone(0, KMM_ZONE_MOVABLE);

	cr_assert(KMM_IS_ALIGNED(m->zone_start_pfn, KMM_MAX_ORDER_NR_PAGES));
	cr_assert_eq(kmm_zone_end_pfn(m), 65536);
	cr_assert_eq(m->spanned_pages, 2048);
	cr_assert_eq(kmm_zone_end_pfn(kt_zone(0, KMM_ZONE_DMA32)), m->zone_start_pfn);
}

Test(boot, movablecore_zero_means_none)
{
	kt_boot("mem=256M movablecore=0");
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
	kt_shutdown();
	kt_boot("mem=256M movablecore=0%");
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
}

Test(boot, movablecore_all_of_memory_means_none)
{
	/* Linux: kernelcore would be 0, so there is no ZONE_MOVABLE at all. */
	kt_boot("mem=256M movablecore=100%");
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
	cr_assert_eq(kt_zone(0, KMM_ZONE_DMA32)->present_pages, 65536 - 4096);
	kt_shutdown();
	kt_boot("mem=256M movablecore=1G");
	expect_empty_zone(0, KMM_ZONE_MOVABLE);
}

Test(boot, movable_zone_only_for_movable_allocations, .timeout = 120)
{
	struct kt_blocks kern = { 0 }, mov = { 0 };
	struct kmm_page *p;

	kt_boot("mem=256M movablecore=64M");
	/* A movable user allocation prefers ZONE_MOVABLE. */
	p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 0);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_zonenum(p), KMM_ZONE_MOVABLE);
	kmm___free_pages(p, 0);

	/* GFP_KERNEL (and movable GFP_KERNEL, without __GFP_HIGHMEM) never
	 * gets a ZONE_MOVABLE page, even when everything else is gone. */
	kt_fill(&kern, KMM_GFP_KERNEL | KMM___GFP_MOVABLE, 10);
	kt_fill(&kern, KMM_GFP_KERNEL, 10);
	for (size_t i = 0; i < kern.n; i++)
		cr_assert_neq(kmm_page_zonenum(kern.v[i].page), KMM_ZONE_MOVABLE,
			      "GFP_KERNEL got pfn %#llx of ZONE_MOVABLE",
			      (unsigned long long)kmm_page_to_pfn(kern.v[i].page));
	cr_assert_gt(kmm_zone_page_state(kt_zone(0, KMM_ZONE_MOVABLE), KMM_NR_FREE_PAGES),
		     16000);

	/* GFP_HIGHUSER_MOVABLE still has the movable zone. */
	kt_fill(&mov, KMM_GFP_HIGHUSER_MOVABLE, 10);
	cr_assert_gt(mov.n, 0);
	uint64_t in_movable = 0;
	for (size_t i = 0; i < mov.n; i++)
		if (kmm_page_zonenum(mov.v[i].page) == KMM_ZONE_MOVABLE)
			in_movable += 1ULL << mov.v[i].order;
	cr_assert_gt(in_movable, 15000);

	kt_blocks_free_all(&kern);
	kt_blocks_free_all(&mov);
	kmm_drain_all_pages(NULL);
	kt_assert_valid("movable zone fill");
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	kt_blocks_destroy(&kern);
	kt_blocks_destroy(&mov);
}

Test(boot, movablecore_with_normal_zone)
{
	/* 8G: the highest zone is Normal; ZONE_MOVABLE comes out of it. */
	kt_boot("mem=8G kmm.mode=shadow movablecore=1G");
	expect_zone(0, KMM_ZONE_NORMAL, PFN_4G, PFN_4G - 262144);
	expect_zone(0, KMM_ZONE_MOVABLE, 2 * PFN_4G - 262144, 262144);
	expect_zone(0, KMM_ZONE_DMA32, PFN_16M, PFN_4G - PFN_16M);
}

/* ---- cma= ------------------------------------------------------------------- */

static bool pfn_in(uint64_t pfn, uint64_t base, uint64_t count)
{
	return pfn >= base && pfn < base + count;
}

Test(boot, cma_size_placed_at_top)
{
	const struct kmm_cma_reservation *r;

	kt_boot("mem=256M cma=16M");
	cr_assert_eq(kmm_machine.nr_cma_areas, 1);
	r = &kmm_machine.cma_reserved[0];
	cr_assert_eq(r->count, 4096);
	cr_assert(KMM_IS_ALIGNED(r->base_pfn, KMM_PAGEBLOCK_NR_PAGES));
	cr_assert_eq(r->base_pfn, 65536 - 4096);
	for (uint64_t pfn = 0; pfn < 65536; pfn += KMM_PAGEBLOCK_NR_PAGES) {
		int mt = kmm_get_pfnblock_migratetype(pfn);

		if (pfn_in(pfn, r->base_pfn, r->count))
			cr_assert_eq(mt, KMM_MIGRATE_CMA, "pfn %#llx", (unsigned long long)pfn);
		else
			cr_assert_neq(mt, KMM_MIGRATE_CMA, "pfn %#llx", (unsigned long long)pfn);
	}
	cr_assert(kmm_page_test(kmm_pfn_to_page(r->base_pfn), KMM_PG_cma));
	cr_assert_not(kmm_page_test(kmm_pfn_to_page(r->base_pfn - 1), KMM_PG_cma));
	cr_assert_eq(kt_zone(0, KMM_ZONE_DMA32)->cma_pages, 4096);
	cr_assert_eq(kmm_machine.totalcma_pages, 4096);
	cr_assert_eq(kmm_zone_page_state(kt_zone(0, KMM_ZONE_DMA32), KMM_NR_FREE_CMA_PAGES),
		     4096);
	/* CMA pages are free memory too. */
	cr_assert_eq(kmm_nr_free_pages(), kt_boot_free);
	cr_assert_eq(kt_zone_free_mt(kt_zone(0, KMM_ZONE_DMA32), KMM_MIGRATE_CMA), 4096);
}

Test(boot, cma_size_at_base)
{
	const struct kmm_cma_reservation *r;

	kt_boot("mem=256M cma=16M@64M");
	r = &kmm_machine.cma_reserved[0];
	cr_assert_eq(r->base_pfn, 16384);
	cr_assert_eq(r->count, 4096);
	cr_assert_neq(kmm_get_pfnblock_migratetype(16384 - 1), KMM_MIGRATE_CMA);
	cr_assert_eq(kmm_get_pfnblock_migratetype(16384), KMM_MIGRATE_CMA);
	cr_assert_eq(kmm_get_pfnblock_migratetype(16384 + 4095), KMM_MIGRATE_CMA);
	cr_assert_neq(kmm_get_pfnblock_migratetype(16384 + 4096), KMM_MIGRATE_CMA);
	kt_shutdown();

	/* A size below a pageblock is rounded up to one (2 MiB). */
	kt_boot("mem=256M cma=1M@32M");
	r = &kmm_machine.cma_reserved[0];
	cr_assert_eq(r->base_pfn, 8192);
	cr_assert_eq(r->count, KMM_PAGEBLOCK_NR_PAGES);
	cr_assert_eq(kmm_get_pfnblock_migratetype(8192), KMM_MIGRATE_CMA);
	cr_assert_neq(kmm_get_pfnblock_migratetype(8192 + 512), KMM_MIGRATE_CMA);
}

Test(boot, cma_only_for_movable_allocations, .timeout = 120)
{
	struct kt_blocks kern = { 0 }, mov = { 0 };
	const struct kmm_cma_reservation *r;
	uint64_t cma_got = 0;

	kt_boot("mem=256M cma=32M");
	r = &kmm_machine.cma_reserved[0];
	/* Unmovable and reclaimable allocations never get a CMA page. */
	kt_fill(&kern, KMM_GFP_KERNEL, 10);
	kt_fill(&kern, KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE, 10);
	kt_fill(&kern, KMM_GFP_ATOMIC, 10);
	for (size_t i = 0; i < kern.n; i++) {
		struct kmm_page *p = kern.v[i].page;
		uint64_t pfn = kmm_page_to_pfn(p);

		cr_assert_not(pfn_in(pfn, r->base_pfn, r->count) ||
			      pfn_in(pfn + (1ULL << kern.v[i].order) - 1, r->base_pfn, r->count),
			      "unmovable allocation got CMA pfn %#llx", (unsigned long long)pfn);
		cr_assert_not(kmm_page_test(p, KMM_PG_cma));
	}
	cr_assert_eq(kmm_zone_page_state(kt_zone(0, KMM_ZONE_DMA32), KMM_NR_FREE_CMA_PAGES),
		     8192, "the CMA area is untouched");
	for (uint64_t pfn = r->base_pfn; pfn < r->base_pfn + r->count;
	     pfn += KMM_PAGEBLOCK_NR_PAGES)
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_CMA,
			     "CMA pageblocks are never stolen");

	/* Movable allocations may use it. */
	kt_fill(&mov, KMM_GFP_HIGHUSER_MOVABLE, 10);
	for (size_t i = 0; i < mov.n; i++)
		if (pfn_in(kmm_page_to_pfn(mov.v[i].page), r->base_pfn, r->count))
			cma_got += 1ULL << mov.v[i].order;
	/* All of it but what the min watermark keeps back. */
	cr_assert_geq(cma_got, 8192 - kmm_wmark_pages(kt_zone(0, KMM_ZONE_DMA32), KMM_WMARK_MIN),
		      "movable allocations got only %llu CMA pages",
		      (unsigned long long)cma_got);

	kt_blocks_free_all(&kern);
	kt_blocks_free_all(&mov);
	kmm_drain_all_pages(NULL);
	kt_assert_valid("cma fill");
	cr_assert_eq(kmm_zone_page_state(kt_zone(0, KMM_ZONE_DMA32), KMM_NR_FREE_CMA_PAGES),
		     8192);
	for (uint64_t pfn = r->base_pfn; pfn < r->base_pfn + r->count;
	     pfn += KMM_PAGEBLOCK_NR_PAGES)
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_CMA);
	kt_blocks_destroy(&kern);
	kt_blocks_destroy(&mov);
}

/* ---- vmalloc=, kmm.mode=, init_on_*, kmm.seed= ------------------------------ */

Test(boot, vmalloc_param)
{
	kt_boot("mem=64M vmalloc=128M");
	cr_assert_eq(kmm_machine.params.vmalloc_bytes, 128 * MiB);
	kt_shutdown();
	kt_boot("mem=64M vmalloc=1T");
	cr_assert_eq(kmm_machine.params.vmalloc_bytes, 1ULL << 40);
	kt_shutdown();
	kt_boot("mem=64M vmalloc=16M");
	cr_assert_eq(kmm_machine.params.vmalloc_bytes, 16 * MiB);
}

Test(boot, modes)
{
	static const struct {
		const char *cmd;
		enum kmm_mode mode;
	} cases[] = {
		{ "mem=64M kmm.mode=real", KMM_MODE_REAL },
		{ "mem=64M kmm.mode=strict", KMM_MODE_STRICT },
		{ "mem=64M kmm.mode=shadow", KMM_MODE_SHADOW },
	};

	for (size_t i = 0; i < KMM_ARRAY_SIZE(cases); i++) {
		struct kmm_page *p;

		kt_boot(cases[i].cmd);
		cr_assert_eq(kmm_machine.params.mode, cases[i].mode, "%s", cases[i].cmd);
		p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 1);
		cr_assert_not_null(p);
		if (cases[i].mode == KMM_MODE_SHADOW) {
			cr_assert_eq(kmm_machine.direct_map, (uintptr_t)0xffff888000000000ULL);
		} else {
			/* Real memory: the direct map is readable and writable. */
			cr_assert(kt_block_is_zero(p, 1));
			kt_pattern_write(p, 1, 0x1234);
			cr_assert(kt_pattern_ok(p, 1, 0x1234));
		}
		kmm___free_pages(p, 1);
		kt_assert_valid(cases[i].cmd);
		kt_shutdown();
	}
}

Test(boot, init_on_params)
{
	kt_boot("mem=64M init_on_alloc=1 init_on_free=0");
	cr_assert(kmm_machine.params.init_on_alloc);
	cr_assert_not(kmm_machine.params.init_on_free);
	kt_shutdown();
	kt_boot("mem=64M init_on_alloc=0 init_on_free=1");
	cr_assert_not(kmm_machine.params.init_on_alloc);
	cr_assert(kmm_machine.params.init_on_free);
}

Test(boot, seed_makes_random_repeatable)
{
	uint64_t a[8], b[8], c[8];

	kt_boot("mem=64M kmm.seed=42");
	cr_assert(kmm_machine.params.have_seed);
	cr_assert_eq(kmm_machine.params.seed, 42);
	for (int i = 0; i < 8; i++)
		a[i] = kmm_random();
	kt_shutdown();
	kt_boot("mem=64M kmm.seed=42");
	for (int i = 0; i < 8; i++)
		b[i] = kmm_random();
	kt_shutdown();
	kt_boot("mem=64M kmm.seed=43");
	for (int i = 0; i < 8; i++)
		c[i] = kmm_random();
	cr_assert_arr_eq(a, b, sizeof(a), "the same seed gives the same sequence");
	cr_assert(memcmp(a, c, sizeof(a)) != 0, "another seed, another sequence");
	for (int i = 1; i < 8; i++)
		cr_assert_neq(a[i], a[i - 1]);
}

/* ---- refusals --------------------------------------------------------------- */

/*
 * Each bad command line: -EINVAL, an error line naming the parameter,
 * nothing booted; then a good boot still works.
 */
static void expect_einval(const char *cmdline, const char *named)
{
	int ret;

	kt_log_start();
	ret = kmm_boot(cmdline);
	if (ret == 0)
		kmm_shutdown();
	if (ret != -KMM_EINVAL || !kt_log_count_level(KMM_LOG_ERR, named))
		kt_log_dump(cmdline);
	cr_assert_eq(ret, -KMM_EINVAL, "kmm_boot(\"%s\") = %d, want -EINVAL", cmdline, ret);
	cr_assert_not(kmm_booted(), "\"%s\" left the machine booted", cmdline);
	cr_assert_eq(kmm_machine.mem_map, NULL);
	cr_assert_eq(kmm_machine.max_pfn, 0);
	cr_assert_geq(kt_log_count_level(KMM_LOG_ERR, named), 1,
		      "no error line names '%s'", named);
}

Test(boot, malformed_parameters_are_refused)
{
	static const char *const bad[][2] = {
		/* { command line, text the error line must contain } */
		{ "bogus=1", "bogus=1" },
		{ "mem=64M bogus", "bogus" },
		{ "mem", "mem" },
		{ "mem=", "mem=" },
		{ "mem=abc", "mem=abc" },
		{ "mem=64X", "mem=64X" },
		{ "mem=-64M", "mem=-64M" },
		{ "mem=1M", "mem=1M" },
		{ "mem=0", "mem=0" },
		{ "mem=128T", "mem=128T" },
		{ "mem=99999999999999999999", "mem=99999999999999999999" },
		{ "mem=64M numa=0", "numa=0" },
		{ "numa=65", "numa=65" },
		{ "numa=two", "numa=two" },
		{ "mem=32M numa=64", "numa=64" },
		{ "nr_cpus=0", "nr_cpus=0" },
		{ "nr_cpus=257", "nr_cpus=257" },
		{ "nr_cpus=", "nr_cpus=" },
		{ "movablecore=101%", "movablecore=101%" },
		{ "movablecore=x%", "movablecore=x%" },
		{ "movablecore=abc", "movablecore=abc" },
		{ "cma=0", "cma=0" },
		{ "cma=abc", "cma=abc" },
		{ "cma=16M@", "cma=16M@" },
		{ "cma=16M@xyz", "cma=16M@xyz" },
		{ "mem=256M cma=5000", "cma=" },
		{ "mem=256M cma=16M@1M", "cma=" },		/* not pageblock aligned */
		{ "mem=256M cma=16M@1G", "cma=" },		/* outside memory */
		{ "mem=256M cma=16M@8M", "cma=" },		/* straddles DMA/DMA32 */
		{ "mem=256M cma=300M", "cma=" },		/* larger than any zone */
		{ "vmalloc=8M", "vmalloc=8M" },
		{ "vmalloc=64T", "vmalloc=64T" },
		{ "vmalloc=lots", "vmalloc=lots" },
		{ "kmm.mode=fast", "kmm.mode=fast" },
		{ "kmm.mode=", "kmm.mode=" },
		{ "kmm.mode=REAL", "kmm.mode=REAL" },
		{ "fail_page_alloc=1,2,3", "fail_page_alloc=1,2,3" },
		{ "fail_page_alloc=1,101,0,1", "fail_page_alloc=1,101,0,1" },
		{ "fail_page_alloc.nth=0", "fail_page_alloc.nth=0" },
		{ "init_on_alloc=2", "init_on_alloc=2" },
		{ "init_on_free=yes", "init_on_free=yes" },
		{ "transparent_hugepage=sometimes", "transparent_hugepage=sometimes" },
		{ "kmm.seed=0x", "kmm.seed=0x" },
		{ "=1", "=1" },
		{ "mem=64M mem=64M mem=zz", "mem=zz" },
	};

	for (size_t i = 0; i < KMM_ARRAY_SIZE(bad); i++)
		expect_einval(bad[i][0], bad[i][1]);

	/* A good boot after all those refusals. */
	kt_boot("mem=64M");
	cr_assert_eq(kmm_machine.max_pfn, 16384);
	cr_assert_eq(kmm_machine.totalram_pages, 16384);
}

Test(boot, failed_boot_leaves_no_fault_injection_armed)
{
	/* A fault setting parsed before a bad parameter must not survive. */
	expect_einval("mem=64M fail_page_alloc=1,100,0,-1 bogus=1", "bogus=1");
	expect_einval("mem=64M fail_page_alloc.nth=1 bogus=1", "bogus=1");
	kt_boot("mem=64M");
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);

	cr_assert_not_null(p, "fault injection leaked from a refused boot");
	kmm___free_pages(p, 0);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 0);
}

Test(boot, double_boot_is_busy)
{
	int ret;

	kt_boot("mem=64M");
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(p);
	kt_log_clear();
	ret = kmm_boot("mem=128M");
	cr_assert_eq(ret, -KMM_EBUSY);
	cr_assert_eq(kt_log_count_level(KMM_LOG_ERR, "already booted"), 1);
	/* The running machine is untouched. */
	cr_assert(kmm_booted());
	cr_assert_eq(kmm_machine.max_pfn, 16384);
	cr_assert_eq(kmm_page_ref_count(p), 1);
	kt_assert_valid("refused second boot");
	kmm___free_pages(p, 2);
	kt_assert_valid("free after refused boot");
}

Test(boot, shutdown_when_not_booted_is_harmless)
{
	kt_log_start();
	cr_assert_not(kmm_booted());
	kmm_shutdown();
	kmm_shutdown();
	cr_assert_not(kmm_booted());
	cr_assert_eq(kmm_page_alloc_validate(), 0);
	cr_assert_eq(kt_log_lines(), 0, "shutdown of nothing logged something");
	kt_boot("mem=64M");
	kt_shutdown();
	cr_assert_not(kmm_booted());
	kmm_shutdown();
	cr_assert_not(kmm_booted());
	cr_assert_eq(kmm_machine.mem_map, NULL);
	kt_boot("mem=64M");
	cr_assert_eq(kmm_machine.totalram_pages, 16384);
}

Test(boot, fifty_boot_shutdown_cycles, .timeout = 240)
{
	static const char *const cmds[] = {
		"mem=64M",
		"mem=64M numa=2 nr_cpus=2",
		"mem=128M cma=8M",
		"mem=128M movablecore=32M",
		"mem=8G kmm.mode=shadow",
		"mem=64M kmm.mode=strict init_on_free=1",
		"mem=96M numa=3 nr_cpus=5 cma=4M",
	};

	for (int i = 0; i < 50; i++) {
		const char *cmd = cmds[i % KMM_ARRAY_SIZE(cmds)];
		uint64_t pages;

		kt_boot(cmd);
		pages = kmm_machine.totalram_pages;
		cr_assert_leq(pages - kt_boot_free, KT_BOOT_SLACK, "cycle %d (%s)", i, cmd);
		/* Leave some pages allocated: shutdown forgets them. */
		for (unsigned o = 0; o <= 10; o += 2) {
			struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, o);

			cr_assert_not_null(p, "cycle %d order %u", i, o);
			kt_pattern_write(p, o, (uint64_t)i + 1);
			cr_assert(kt_pattern_ok(p, o, (uint64_t)i + 1));
		}
		kt_shutdown();
		cr_assert_not(kmm_booted());
	}
}

/* Host limits are errors, not crashes. */
Test(boot, host_refusing_memory_is_enomem)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = -1, ret;

	if (f) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = -1;
		fclose(f);
	}
	/* With overcommit_memory=1 the host would promise 1 TiB of memmap
	 * and kill us later; only the heuristic or strict modes refuse. */
	if (mode != 0 && mode != 2)
		cr_skip_test("vm.overcommit_memory=%d would not refuse", mode);
	if (sysconf(_SC_PHYS_PAGES) > (long)((512ULL << 30) / (uint64_t)sysconf(_SC_PAGESIZE)))
		cr_skip_test("host too large to refuse 1 TiB");
	kt_log_start();
	/* 64 TiB of shadow memory needs a 1 TiB memmap. */
	ret = kmm_boot("mem=64T kmm.mode=shadow");
	if (ret == 0)
		kmm_shutdown();
	cr_assert_eq(ret, -KMM_ENOMEM, "ret %d", ret);
	cr_assert_not(kmm_booted());
	cr_assert_gt(kt_log_count_level(KMM_LOG_ERR, "memmap"), 0);
	kt_boot("mem=64M");
}
