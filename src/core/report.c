// SPDX-License-Identifier: MIT
/*
 * report.c - /proc/buddyinfo, /proc/pagetypeinfo, /proc/zoneinfo and
 * /proc/meminfo in the exact text formats of Linux 6.18 on x86-64, so that
 * scripts written for a real kernel read kmm's reports unchanged.
 *
 * The formats were taken from a 6.18 kernel's files (this project's
 * data/kernel-traces/ and a 6.18 host's /proc); kmm differs only where kmm
 * itself differs from that kernel:
 *   - kmm is a CONFIG_CMA=y kernel, so pagetypeinfo has a "CMA" row per zone
 *     and a "CMA" column in the block counts, and meminfo has CmaTotal and
 *     CmaFree (after FilePmdMapped, where the kernel prints them);
 *   - kmm has no ZONE_DEVICE, so zoneinfo has no "Device" zone and each
 *     "protection:" tuple has KMM_MAX_NR_ZONES (4) entries, not 5;
 *   - counters kmm does not keep (page cache, slab, swap, ...) print 0.
 *
 * Each report walks the nodes 0..nr_nodes-1 and their zones lowest first,
 * as the kernel's walk_zones_in_node() does:
 *   buddyinfo     populated zones (present_pages != 0) only;
 *   pagetypeinfo  per node that has memory: the header, free blocks per
 *                 order and migratetype, pageblocks per migratetype;
 *   zoneinfo      every zone; unpopulated ones in the short form (through
 *                 "protection:"), the "per-node stats" before the node's
 *                 first populated zone;
 *   meminfo       machine-wide sums.
 *
 * Locks: zone->lock (kmm_port_lock) is held only while a zone's free-area
 * counts, pageblock flags and watermarks are copied out, never while
 * formatting, and never together with a pcp->lock: zoneinfo takes each
 * pcp->lock on its own to copy count/high/batch (the allocator's lock order
 * is pcp->lock, then zone->lock).  Zone counters are atomics, read without
 * locks.  Unpopulated zones are never locked.
 *
 * Output: pieces are formatted into a small stack buffer (every piece is far
 * below REP_PIECE bytes) and appended to the caller's buffer; the length the
 * whole report needs is always counted, as snprintf does.
 */
#include <stdarg.h>

#include <kmm/lib.h>
#include <kmm/mmzone.h>
#include <kmm/page_alloc.h>
#include <kmm/report.h>
#include <kmm/vmalloc.h>

/* ---- output ------------------------------------------------------------ */

#define REP_PIECE 256

struct rep {
	char *buf;
	size_t size;
	size_t need;	/* bytes of the whole report so far */
};

static void rep_init(struct rep *r, char *buf, size_t size)
{
	r->buf = buf;
	r->size = size;
	r->need = 0;
	if (size)
		buf[0] = '\0';
}

static void rep_write(struct rep *r, const char *s, size_t n)
{
	if (r->size && r->need < r->size - 1) {
		size_t room = r->size - 1 - r->need;
		size_t c = n < room ? n : room;

		__builtin_memcpy(r->buf + r->need, s, c);
		r->buf[r->need + c] = '\0';
	}
	r->need += n;
}

static void rep_puts(struct rep *r, const char *s)
{
	rep_write(r, s, kmm_strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void rep_printf(struct rep *r, const char *fmt, ...)
{
	char tmp[REP_PIECE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kmm_vscnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	rep_write(r, tmp, (size_t)n);
}

static size_t rep_done(struct rep *r)
{
	return r->need;
}

/* ---- helpers ----------------------------------------------------------- */

static struct kmm_pglist_data *rep_node(unsigned nid)
{
	if (nid >= KMM_MAX_NUMNODES)
		return NULL;
	return kmm_machine.node_data[nid];
}

static unsigned rep_nr_nodes(void)
{
	return kmm_machine.nr_nodes < KMM_MAX_NUMNODES ? kmm_machine.nr_nodes
						       : KMM_MAX_NUMNODES;
}

/* node_state(N_MEMORY): the node has at least one populated zone. */
static bool node_has_memory(const struct kmm_pglist_data *pgdat)
{
	for (int z = 0; z < KMM_MAX_NR_ZONES; z++)
		if (kmm_zone_is_populated(&pgdat->node_zones[z]))
			return true;
	return false;
}

static const char *zone_name(int zidx)
{
	return kmm_zone_names[zidx];
}

static unsigned long zone_event(const struct kmm_zone *z,
				enum kmm_zone_event e)
{
	return kmm_zone_events(z, e);
}

/* global_zone_page_state(): the sum over every zone of every node. */
static unsigned long global_zone_state(enum kmm_zone_stat_item item)
{
	long sum = 0;

	for (unsigned nid = 0; nid < rep_nr_nodes(); nid++) {
		struct kmm_pglist_data *pgdat = rep_node(nid);

		if (!pgdat)
			continue;
		for (int z = 0; z < KMM_MAX_NR_ZONES; z++)
			sum += atomic_load_explicit(
				&pgdat->node_zones[z].vm_stat[item],
				memory_order_relaxed);
	}
	return sum < 0 ? 0 : (unsigned long)sum;
}

/* ---- /proc/buddyinfo --------------------------------------------------- */

size_t kmm_report_buddyinfo(char *buf, size_t size)
{
	struct rep r;

	rep_init(&r, buf, size);
	for (unsigned nid = 0; nid < rep_nr_nodes(); nid++) {
		struct kmm_pglist_data *pgdat = rep_node(nid);

		if (!pgdat)
			continue;
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &pgdat->node_zones[zi];
			unsigned long nr[KMM_NR_PAGE_ORDERS];

			if (!kmm_zone_is_populated(z))
				continue;
			kmm_port_lock(&z->lock);
			for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
				nr[o] = z->free_area[o].nr_free;
			kmm_port_unlock(&z->lock);

			rep_printf(&r, "Node %u, zone %8s ", nid, zone_name(zi));
			for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
				rep_printf(&r, "%6lu ", nr[o]);
			rep_puts(&r, "\n");
		}
	}
	return rep_done(&r);
}

/* ---- /proc/pagetypeinfo ------------------------------------------------ */

/* The kernel stops counting a free list at this many entries. */
#define PTI_FREECOUNT_MAX 100000UL

static void pagetypeinfo_free(struct rep *r, unsigned nid,
			      struct kmm_pglist_data *pgdat)
{
	rep_printf(r, "%-43s ", "Free pages count per migrate type at order");
	for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
		rep_printf(r, "%6d ", o);
	rep_puts(r, "\n");

	for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
		struct kmm_zone *z = &pgdat->node_zones[zi];
		unsigned long nr[KMM_MIGRATE_TYPES][KMM_NR_PAGE_ORDERS];

		if (!kmm_zone_is_populated(z))
			continue;
		kmm_port_lock(&z->lock);
		for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
			for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
				nr[mt][o] = z->free_area[o].nr_free_mt[mt];
		kmm_port_unlock(&z->lock);

		for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++) {
			rep_printf(r, "Node %4u, zone %8s, type %12s ", nid,
				   zone_name(zi), kmm_migratetype_names[mt]);
			for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
				if (nr[mt][o] >= PTI_FREECOUNT_MAX)
					rep_printf(r, ">%6lu ", PTI_FREECOUNT_MAX);
				else
					rep_printf(r, "%6lu ", nr[mt][o]);
			}
			rep_puts(r, "\n");
		}
	}
}

/*
 * Pageblocks of @z per migratetype, as the kernel counts them: starting at
 * zone_start_pfn in steps of a pageblock, each valid PFN whose page belongs
 * to this zone counts its pageblock's type; an isolated block counts as
 * Isolate.  Caller holds z->lock.
 */
static void count_pageblocks(const struct kmm_zone *z, int nid, int zi,
			     unsigned long count[KMM_MIGRATE_TYPES])
{
	uint64_t base = KMM_ALIGN_DOWN(z->zone_start_pfn,
				       (uint64_t)KMM_PAGEBLOCK_NR_PAGES);
	uint64_t end = kmm_zone_end_pfn(z);

	if (!z->pageblock_flags)
		return;
	for (uint64_t pfn = z->zone_start_pfn; pfn < end;
	     pfn += KMM_PAGEBLOCK_NR_PAGES) {
		uint8_t pb;
		int mt;

		if (!kmm_pfn_valid(pfn))
			continue;
		if (kmm_machine.mem_map) {
			const struct kmm_page *page = kmm_pfn_to_page(pfn);

			if (kmm_page_nid(page) != nid ||
			    kmm_page_zonenum(page) != zi)
				continue;
		}
		pb = z->pageblock_flags[(pfn - base) >> KMM_PAGEBLOCK_ORDER];
		mt = (pb & KMM_PB_ISOLATE) ? KMM_MIGRATE_ISOLATE
					   : (pb & KMM_PB_MIGRATETYPE_MASK);
		if (mt < KMM_MIGRATE_TYPES)
			count[mt]++;
	}
}

static void pagetypeinfo_blocks(struct rep *r, unsigned nid,
				struct kmm_pglist_data *pgdat)
{
	rep_printf(r, "\n%-23s", "Number of blocks type ");
	for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
		rep_printf(r, "%12s ", kmm_migratetype_names[mt]);
	rep_puts(r, "\n");

	for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
		struct kmm_zone *z = &pgdat->node_zones[zi];
		unsigned long count[KMM_MIGRATE_TYPES] = { 0 };

		if (!kmm_zone_is_populated(z))
			continue;
		kmm_port_lock(&z->lock);
		count_pageblocks(z, (int)nid, zi, count);
		kmm_port_unlock(&z->lock);

		rep_printf(r, "Node %u, zone %8s ", nid, zone_name(zi));
		for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
			rep_printf(r, "%12lu ", count[mt]);
		rep_puts(r, "\n");
	}
}

size_t kmm_report_pagetypeinfo(char *buf, size_t size)
{
	struct rep r;

	rep_init(&r, buf, size);
	for (unsigned nid = 0; nid < rep_nr_nodes(); nid++) {
		struct kmm_pglist_data *pgdat = rep_node(nid);

		if (!pgdat || !node_has_memory(pgdat))
			continue;
		rep_printf(&r, "Page block order: %d\n", KMM_PAGEBLOCK_ORDER);
		rep_printf(&r, "Pages per block:  %lu\n", KMM_PAGEBLOCK_NR_PAGES);
		rep_puts(&r, "\n");
		pagetypeinfo_free(&r, nid, pgdat);
		pagetypeinfo_blocks(&r, nid, pgdat);
		/* "Number of mixed blocks" needs CONFIG_PAGE_OWNER: omitted. */
	}
	return rep_done(&r);
}

/* ---- /proc/zoneinfo ---------------------------------------------------- */

/*
 * The per-node counters a 6.18 kernel prints (enum node_stat_item), in its
 * order.  kmm keeps none of them per node; the LRU sizes are the sums of
 * the node's zone counters (as in the kernel, where both are kept), the rest
 * are 0 until kmm grows the counter.
 */
enum node_item_src {
	NI_ZERO = 0,
	NI_ZONE_SUM,	/* sum of a zone stat item over the node's zones */
};

struct node_item {
	const char *name;
	enum node_item_src src;
	enum kmm_zone_stat_item zone_item;
};

static const struct node_item node_items[] = {
	{ "nr_inactive_anon", NI_ZONE_SUM, KMM_NR_ZONE_INACTIVE_ANON },
	{ "nr_active_anon", NI_ZONE_SUM, KMM_NR_ZONE_ACTIVE_ANON },
	{ "nr_inactive_file", NI_ZONE_SUM, KMM_NR_ZONE_INACTIVE_FILE },
	{ "nr_active_file", NI_ZONE_SUM, KMM_NR_ZONE_ACTIVE_FILE },
	{ "nr_unevictable", NI_ZONE_SUM, KMM_NR_ZONE_UNEVICTABLE },
	{ "nr_slab_reclaimable", NI_ZERO, 0 },
	{ "nr_slab_unreclaimable", NI_ZERO, 0 },
	{ "nr_isolated_anon", NI_ZERO, 0 },
	{ "nr_isolated_file", NI_ZERO, 0 },
	{ "workingset_nodes", NI_ZERO, 0 },
	{ "workingset_refault_anon", NI_ZERO, 0 },
	{ "workingset_refault_file", NI_ZERO, 0 },
	{ "workingset_activate_anon", NI_ZERO, 0 },
	{ "workingset_activate_file", NI_ZERO, 0 },
	{ "workingset_restore_anon", NI_ZERO, 0 },
	{ "workingset_restore_file", NI_ZERO, 0 },
	{ "workingset_nodereclaim", NI_ZERO, 0 },
	{ "nr_anon_pages", NI_ZERO, 0 },
	{ "nr_mapped", NI_ZERO, 0 },
	{ "nr_file_pages", NI_ZERO, 0 },
	{ "nr_dirty", NI_ZERO, 0 },
	{ "nr_writeback", NI_ZERO, 0 },
	{ "nr_shmem", NI_ZERO, 0 },
	{ "nr_shmem_hugepages", NI_ZERO, 0 },
	{ "nr_shmem_pmdmapped", NI_ZERO, 0 },
	{ "nr_file_hugepages", NI_ZERO, 0 },
	{ "nr_file_pmdmapped", NI_ZERO, 0 },
	{ "nr_anon_transparent_hugepages", NI_ZERO, 0 },
	{ "nr_vmscan_write", NI_ZERO, 0 },
	{ "nr_vmscan_immediate_reclaim", NI_ZERO, 0 },
	{ "nr_dirtied", NI_ZERO, 0 },
	{ "nr_written", NI_ZERO, 0 },
	{ "nr_throttled_written", NI_ZERO, 0 },
	{ "nr_kernel_misc_reclaimable", NI_ZERO, 0 },
	{ "nr_foll_pin_acquired", NI_ZERO, 0 },
	{ "nr_foll_pin_released", NI_ZERO, 0 },
	{ "nr_kernel_stack", NI_ZERO, 0 },
	{ "nr_page_table_pages", NI_ZONE_SUM, KMM_NR_PAGETABLE },
	{ "nr_sec_page_table_pages", NI_ZERO, 0 },
	{ "nr_iommu_pages", NI_ZERO, 0 },
	{ "nr_swapcached", NI_ZERO, 0 },
	{ "pgpromote_success", NI_ZERO, 0 },
	{ "pgpromote_candidate", NI_ZERO, 0 },
	{ "pgpromote_candidate_nrl", NI_ZERO, 0 },
	{ "pgdemote_kswapd", NI_ZERO, 0 },
	{ "pgdemote_direct", NI_ZERO, 0 },
	{ "pgdemote_khugepaged", NI_ZERO, 0 },
	{ "pgdemote_proactive", NI_ZERO, 0 },
	{ "nr_hugetlb", NI_ZERO, 0 },
	{ "nr_balloon_pages", NI_ZERO, 0 },
	{ "nr_kernel_file_pages", NI_ZERO, 0 },
};

static unsigned long node_item_value(const struct kmm_pglist_data *pgdat,
				     const struct node_item *it)
{
	long sum = 0;

	if (it->src != NI_ZONE_SUM)
		return 0;
	for (int z = 0; z < KMM_MAX_NR_ZONES; z++)
		sum += atomic_load_explicit(
			&pgdat->node_zones[z].vm_stat[it->zone_item],
			memory_order_relaxed);
	return sum < 0 ? 0 : (unsigned long)sum;
}

/*
 * NR_FREE_PAGES_BLOCKS (6.18): free pages sitting in buddy blocks of at
 * least pageblock order, i.e. whole free pageblocks.  Like NR_FREE_PAGES it
 * leaves out isolated free blocks.  kmm derives it from the free area.
 * Caller holds z->lock.
 */
static unsigned long zone_free_pages_blocks(const struct kmm_zone *z)
{
	unsigned long pages = 0;

	for (int o = KMM_PAGEBLOCK_ORDER; o < KMM_NR_PAGE_ORDERS; o++) {
		const struct kmm_free_area *fa = &z->free_area[o];
		unsigned long n = fa->nr_free;
		unsigned long iso = fa->nr_free_mt[KMM_MIGRATE_ISOLATE];

		n = n > iso ? n - iso : 0;
		pages += n << o;
	}
	return pages;
}

/* The zone stat items a 6.18 kernel prints, in its order. */
struct zone_item {
	const char *name;
	int item;	/* enum kmm_zone_stat_item, or ZI_* below */
};

#define ZI_FREE_PAGES_BLOCKS (-1)

static const struct zone_item zone_items[] = {
	{ "nr_free_pages", KMM_NR_FREE_PAGES },
	{ "nr_free_pages_blocks", ZI_FREE_PAGES_BLOCKS },
	{ "nr_zone_inactive_anon", KMM_NR_ZONE_INACTIVE_ANON },
	{ "nr_zone_active_anon", KMM_NR_ZONE_ACTIVE_ANON },
	{ "nr_zone_inactive_file", KMM_NR_ZONE_INACTIVE_FILE },
	{ "nr_zone_active_file", KMM_NR_ZONE_ACTIVE_FILE },
	{ "nr_zone_unevictable", KMM_NR_ZONE_UNEVICTABLE },
	{ "nr_zone_write_pending", KMM_NR_ZONE_WRITE_PENDING },
	{ "nr_mlock", KMM_NR_MLOCK },
	{ "nr_zspages", KMM_NR_ZSPAGES },
	{ "nr_free_cma", KMM_NR_FREE_CMA_PAGES },
};

static const struct {
	const char *name;
	enum kmm_zone_event ev;
} numa_items[] = {
	{ "numa_hit", KMM_NUMA_HIT },
	{ "numa_miss", KMM_NUMA_MISS },
	{ "numa_foreign", KMM_NUMA_FOREIGN },
	{ "numa_interleave", KMM_NUMA_INTERLEAVE },
	{ "numa_local", KMM_NUMA_LOCAL },
	{ "numa_other", KMM_NUMA_OTHER },
};

/* What zoneinfo copies out of a zone under zone->lock. */
struct zone_snap {
	unsigned long wmark[KMM_NR_WMARK];	/* with the boost, as printed */
	unsigned long boost;
	long lowmem_reserve[KMM_MAX_NR_ZONES];
	uint64_t spanned, present, managed, cma, start_pfn;
	unsigned long free_pages_blocks;
};

static void zone_snapshot(struct kmm_zone *z, bool populated,
			  struct zone_snap *s)
{
	if (populated)
		kmm_port_lock(&z->lock);
	for (int w = 0; w < KMM_NR_WMARK; w++)
		s->wmark[w] = kmm_wmark_pages(z, (enum kmm_zone_wmark)w);
	s->boost = z->watermark_boost;
	for (int i = 0; i < KMM_MAX_NR_ZONES; i++)
		s->lowmem_reserve[i] = z->lowmem_reserve[i];
	s->spanned = z->spanned_pages;
	s->present = z->present_pages;
	s->managed = z->managed_pages;
	s->cma = z->cma_pages;
	s->start_pfn = z->zone_start_pfn;
	s->free_pages_blocks = populated ? zone_free_pages_blocks(z) : 0;
	if (populated)
		kmm_port_unlock(&z->lock);
}

static void zoneinfo_pagesets(struct rep *r, struct kmm_zone *z)
{
	rep_puts(r, "\n  pagesets");
	for (unsigned cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
		int count = 0, high = 0, batch = 0, high_min = 0, high_max = 0;

		if (z->per_cpu_pageset) {
			struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];

			kmm_port_spin_lock(&pcp->lock);
			count = pcp->count;
			high = pcp->high;
			batch = pcp->batch;
			high_min = pcp->high_min;
			high_max = pcp->high_max;
			kmm_port_spin_unlock(&pcp->lock);
		}
		rep_printf(r, "\n    cpu: %u", cpu);
		rep_printf(r, "\n              count:    %d", count);
		rep_printf(r, "\n              high:     %d", high);
		rep_printf(r, "\n              batch:    %d", batch);
		rep_printf(r, "\n              high_min: %d", high_min);
		rep_printf(r, "\n              high_max: %d", high_max);
		/* kmm keeps one threshold per zone, the kernel one per CPU. */
		rep_printf(r, "\n  vm stats threshold: %d", z->stat_threshold);
	}
}

static void zoneinfo_zone(struct rep *r, unsigned nid,
			  struct kmm_pglist_data *pgdat, int zi,
			  bool first_populated)
{
	struct kmm_zone *z = &pgdat->node_zones[zi];
	bool populated = kmm_zone_is_populated(z);
	struct zone_snap s;

	zone_snapshot(z, populated, &s);

	rep_printf(r, "Node %u, zone %8s", nid, zone_name(zi));
	if (first_populated) {
		rep_puts(r, "\n  per-node stats");
		for (size_t i = 0; i < KMM_ARRAY_SIZE(node_items); i++)
			rep_printf(r, "\n      %-12s %lu", node_items[i].name,
				   node_item_value(pgdat, &node_items[i]));
	}
	rep_printf(r, "\n  pages free     %lu",
		   (unsigned long)kmm_zone_page_state(z, KMM_NR_FREE_PAGES));
	rep_printf(r, "\n        boost    %lu", s.boost);
	rep_printf(r, "\n        min      %lu", s.wmark[KMM_WMARK_MIN]);
	rep_printf(r, "\n        low      %lu", s.wmark[KMM_WMARK_LOW]);
	rep_printf(r, "\n        high     %lu", s.wmark[KMM_WMARK_HIGH]);
	rep_printf(r, "\n        promo    %lu", s.wmark[KMM_WMARK_PROMO]);
	rep_printf(r, "\n        spanned  %llu", (unsigned long long)s.spanned);
	rep_printf(r, "\n        present  %llu", (unsigned long long)s.present);
	rep_printf(r, "\n        managed  %llu", (unsigned long long)s.managed);
	rep_printf(r, "\n        cma      %llu", (unsigned long long)s.cma);
	rep_printf(r, "\n        protection: (%ld", s.lowmem_reserve[0]);
	for (int i = 1; i < KMM_MAX_NR_ZONES; i++)
		rep_printf(r, ", %ld", s.lowmem_reserve[i]);
	rep_puts(r, ")");

	if (!populated) {
		/* Nothing else is meaningful for an empty zone. */
		rep_puts(r, "\n");
		return;
	}

	for (size_t i = 0; i < KMM_ARRAY_SIZE(zone_items); i++) {
		unsigned long v;

		if (zone_items[i].item == ZI_FREE_PAGES_BLOCKS)
			v = s.free_pages_blocks;
		else
			v = (unsigned long)kmm_zone_page_state(
				z, (enum kmm_zone_stat_item)zone_items[i].item);
		rep_printf(r, "\n      %-12s %lu", zone_items[i].name, v);
	}
	for (size_t i = 0; i < KMM_ARRAY_SIZE(numa_items); i++)
		rep_printf(r, "\n      %-12s %lu", numa_items[i].name,
			   zone_event(z, numa_items[i].ev));

	zoneinfo_pagesets(r, z);

	/* kmm has no reclaim, so no node is ever marked unreclaimable. */
	rep_printf(r, "\n  node_unreclaimable:  %u", 0u);
	rep_printf(r, "\n  start_pfn:           %llu",
		   (unsigned long long)s.start_pfn);
	rep_puts(r, "\n");
}

size_t kmm_report_zoneinfo(char *buf, size_t size)
{
	struct rep r;

	rep_init(&r, buf, size);
	for (unsigned nid = 0; nid < rep_nr_nodes(); nid++) {
		struct kmm_pglist_data *pgdat = rep_node(nid);
		bool seen_populated = false;

		if (!pgdat)
			continue;
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			bool first = false;

			if (!seen_populated &&
			    kmm_zone_is_populated(&pgdat->node_zones[zi])) {
				first = true;
				seen_populated = true;
			}
			zoneinfo_zone(&r, nid, pgdat, zi, first);
		}
	}
	return rep_done(&r);
}

/* ---- /proc/meminfo ----------------------------------------------------- */

/* Page counts kmm does not keep yet print as 0. */
static unsigned long mi_zero(void)
{
	return 0;
}

static unsigned long mi_total(void)
{
	return (unsigned long)kmm_machine.totalram_pages;
}

static unsigned long mi_free(void)
{
	return global_zone_state(KMM_NR_FREE_PAGES);
}

/*
 * totalreserve_pages as calculate_totalreserve_pages() leaves it: for every
 * zone, its largest lowmem_reserve plus its high watermark, at most its
 * managed pages.  The kernel computes it when the watermarks are set (when
 * the boost is 0), so the boost is left out here.
 */
static unsigned long totalreserve_pages(void)
{
	unsigned long total = 0;

	for (unsigned nid = 0; nid < rep_nr_nodes(); nid++) {
		struct kmm_pglist_data *pgdat = rep_node(nid);

		if (!pgdat)
			continue;
		for (int i = 0; i < KMM_MAX_NR_ZONES; i++) {
			const struct kmm_zone *z = &pgdat->node_zones[i];
			long max = 0;
			unsigned long res;

			for (int j = i; j < KMM_MAX_NR_ZONES; j++)
				if (z->lowmem_reserve[j] > max)
					max = z->lowmem_reserve[j];
			res = (unsigned long)max + z->_watermark[KMM_WMARK_HIGH];
			if (res > z->managed_pages)
				res = (unsigned long)z->managed_pages;
			total += res;
		}
	}
	return total;
}

/*
 * si_mem_available(): free pages minus the reserves; kmm has no page cache
 * and no reclaimable kernel memory to add.
 */
static unsigned long mi_available(void)
{
	unsigned long free = mi_free();
	unsigned long reserve = totalreserve_pages();

	return free > reserve ? free - reserve : 0;
}

static unsigned long mi_active_anon(void)
{
	return global_zone_state(KMM_NR_ZONE_ACTIVE_ANON);
}

static unsigned long mi_inactive_anon(void)
{
	return global_zone_state(KMM_NR_ZONE_INACTIVE_ANON);
}

static unsigned long mi_active_file(void)
{
	return global_zone_state(KMM_NR_ZONE_ACTIVE_FILE);
}

static unsigned long mi_inactive_file(void)
{
	return global_zone_state(KMM_NR_ZONE_INACTIVE_FILE);
}

static unsigned long mi_active(void)
{
	return mi_active_anon() + mi_active_file();
}

static unsigned long mi_inactive(void)
{
	return mi_inactive_anon() + mi_inactive_file();
}

static unsigned long mi_unevictable(void)
{
	return global_zone_state(KMM_NR_ZONE_UNEVICTABLE);
}

static unsigned long mi_mlocked(void)
{
	return global_zone_state(KMM_NR_MLOCK);
}

/* vm_commit_limit() with overcommit_ratio 50, no hugetlb, no swap. */
static unsigned long mi_commit_limit(void)
{
	return (unsigned long)(kmm_machine.totalram_pages * 50 / 100);
}

static unsigned long mi_page_tables(void)
{
	return global_zone_state(KMM_NR_PAGETABLE);
}

/* vmalloc_nr_pages(): pages backing VM_ALLOC areas. */
static unsigned long mi_vmalloc_used(void)
{
	struct kmm_vmalloc_stats st;

	kmm_vmalloc_get_stats(&st);
	return st.vmalloc_used_pages;
}

static unsigned long mi_cma_total(void)
{
	return (unsigned long)kmm_machine.totalcma_pages;
}

static unsigned long mi_cma_free(void)
{
	return global_zone_state(KMM_NR_FREE_CMA_PAGES);
}

/* Every PFN is in the direct map, mapped with 4 KiB granularity. */
static unsigned long mi_directmap4k(void)
{
	return (unsigned long)kmm_machine.max_pfn;
}

/* Values already in kB (not pages). */
static unsigned long mi_kb_vmalloc_total(void)
{
	return (unsigned long)(kmm_machine.params.vmalloc_bytes >> 10);
}

static unsigned long mi_kb_hugepagesize(void)
{
	return 2048;	/* HPAGE_PMD_SIZE on x86-64 */
}

enum mi_unit {
	MI_PAGES,	/* a page count, printed in kB */
	MI_KB,		/* already in kB */
	MI_COUNT,	/* a plain count (HugePages_*), no unit */
};

struct mi_line {
	const char *label;
	enum mi_unit unit;
	unsigned long (*value)(void);
};

/*
 * The lines of a 6.18 x86-64 /proc/meminfo in its order, for a kernel with
 * CONFIG_CMA, CONFIG_ZSWAP, CONFIG_TRANSPARENT_HUGEPAGE and hugetlbfs, but
 * no CONFIG_MEMORY_FAILURE (HardwareCorrupted), no CONFIG_UNACCEPTED_MEMORY
 * (Unaccepted) and no gigantic direct map pages (DirectMap1G).  To report a
 * new counter, give its line a function.
 */
static const struct mi_line mi_lines[] = {
	{ "MemTotal:", MI_PAGES, mi_total },
	{ "MemFree:", MI_PAGES, mi_free },
	{ "MemAvailable:", MI_PAGES, mi_available },
	{ "Buffers:", MI_PAGES, mi_zero },
	{ "Cached:", MI_PAGES, mi_zero },
	{ "SwapCached:", MI_PAGES, mi_zero },
	{ "Active:", MI_PAGES, mi_active },
	{ "Inactive:", MI_PAGES, mi_inactive },
	{ "Active(anon):", MI_PAGES, mi_active_anon },
	{ "Inactive(anon):", MI_PAGES, mi_inactive_anon },
	{ "Active(file):", MI_PAGES, mi_active_file },
	{ "Inactive(file):", MI_PAGES, mi_inactive_file },
	{ "Unevictable:", MI_PAGES, mi_unevictable },
	{ "Mlocked:", MI_PAGES, mi_mlocked },
	{ "SwapTotal:", MI_PAGES, mi_zero },
	{ "SwapFree:", MI_PAGES, mi_zero },
	{ "Zswap:", MI_PAGES, mi_zero },
	{ "Zswapped:", MI_PAGES, mi_zero },
	{ "Dirty:", MI_PAGES, mi_zero },
	{ "Writeback:", MI_PAGES, mi_zero },
	{ "AnonPages:", MI_PAGES, mi_zero },
	{ "Mapped:", MI_PAGES, mi_zero },
	{ "Shmem:", MI_PAGES, mi_zero },
	{ "KReclaimable:", MI_PAGES, mi_zero },
	{ "Slab:", MI_PAGES, mi_zero },
	{ "SReclaimable:", MI_PAGES, mi_zero },
	{ "SUnreclaim:", MI_PAGES, mi_zero },
	{ "KernelStack:", MI_KB, mi_zero },
	{ "PageTables:", MI_PAGES, mi_page_tables },
	{ "SecPageTables:", MI_PAGES, mi_zero },
	{ "NFS_Unstable:", MI_PAGES, mi_zero },
	{ "Bounce:", MI_PAGES, mi_zero },
	{ "WritebackTmp:", MI_PAGES, mi_zero },
	{ "CommitLimit:", MI_PAGES, mi_commit_limit },
	{ "Committed_AS:", MI_PAGES, mi_zero },
	{ "VmallocTotal:", MI_KB, mi_kb_vmalloc_total },
	{ "VmallocUsed:", MI_PAGES, mi_vmalloc_used },
	{ "VmallocChunk:", MI_PAGES, mi_zero },	/* always 0 since 5.3 */
	{ "Percpu:", MI_PAGES, mi_zero },
	{ "AnonHugePages:", MI_PAGES, mi_zero },
	{ "ShmemHugePages:", MI_PAGES, mi_zero },
	{ "ShmemPmdMapped:", MI_PAGES, mi_zero },
	{ "FileHugePages:", MI_PAGES, mi_zero },
	{ "FilePmdMapped:", MI_PAGES, mi_zero },
	{ "CmaTotal:", MI_PAGES, mi_cma_total },
	{ "CmaFree:", MI_PAGES, mi_cma_free },
	{ "Balloon:", MI_PAGES, mi_zero },
	{ "HugePages_Total:", MI_COUNT, mi_zero },
	{ "HugePages_Free:", MI_COUNT, mi_zero },
	{ "HugePages_Rsvd:", MI_COUNT, mi_zero },
	{ "HugePages_Surp:", MI_COUNT, mi_zero },
	{ "Hugepagesize:", MI_KB, mi_kb_hugepagesize },
	{ "Hugetlb:", MI_KB, mi_zero },
	{ "DirectMap4k:", MI_PAGES, mi_directmap4k },
	{ "DirectMap2M:", MI_PAGES, mi_zero },
};

size_t kmm_report_meminfo(char *buf, size_t size)
{
	struct rep r;

	rep_init(&r, buf, size);
	for (size_t i = 0; i < KMM_ARRAY_SIZE(mi_lines); i++) {
		const struct mi_line *l = &mi_lines[i];
		unsigned long long v = l->value();

		/* The label is padded to 16 columns, the number to 8. */
		switch (l->unit) {
		case MI_PAGES:
			rep_printf(&r, "%-16s%8llu kB\n", l->label,
				   v << (KMM_PAGE_SHIFT - 10));
			break;
		case MI_KB:
			rep_printf(&r, "%-16s%8llu kB\n", l->label, v);
			break;
		case MI_COUNT:
			rep_printf(&r, "%-16s%8llu\n", l->label, v);
			break;
		}
	}
	return rep_done(&r);
}
