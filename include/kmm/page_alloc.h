/* SPDX-License-Identifier: MIT */
/*
 * kmm/page_alloc.h - the buddy page allocator (Linux's mm/page_alloc.c).
 *
 * All functions are safe to call from any thread (each thread is a CPU, see
 * kmm_port_cpu()).  None may be called before kmm_boot() or after
 * kmm_shutdown().
 */
#ifndef KMM_PAGE_ALLOC_H
#define KMM_PAGE_ALLOC_H

#include <kmm/mmzone.h>

/**
 * kmm_alloc_pages_node - allocate 2^@order contiguous page frames.
 * @nid: preferred node, or -1 for the current CPU's node.
 * @gfp: GFP flags: zone modifiers (__GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM |
 *   __GFP_MOVABLE), migratetype (__GFP_MOVABLE, __GFP_RECLAIMABLE),
 *   __GFP_HIGH / no __GFP_DIRECT_RECLAIM (deeper reserves), __GFP_ZERO,
 *   __GFP_COMP, __GFP_NOWARN, __GFP_THISNODE.
 * @order: 0..KMM_MAX_PAGE_ORDER.
 *
 * Walks the zonelist of @nid from the highest zone @gfp allows downwards,
 * checking the low watermark first and then the min watermark (reduced for
 * __GFP_HIGH and atomic requests), taking orders 0-3 and pageblock order
 * from the per-CPU lists and the rest from the zone free lists with the
 * kernel's migratetype fallback.  kmm has no reclaim: where the kernel would
 * reclaim (__GFP_DIRECT_RECLAIM), kmm gives back one HighAtomic reserve
 * block, drains every CPU's lists and retries once, then fails.
 *
 * Context: any thread; takes pcp->lock and zone->lock (host mutexes: may
 * block briefly, never waits for memory).
 * Return: the head page, with refcount 1, or NULL (with the kernel's
 * "page allocation failure" warning unless __GFP_NOWARN).  @order above
 * KMM_MAX_PAGE_ORDER returns NULL and warns (never with __GFP_NOWARN).
 */
struct kmm_page *kmm_alloc_pages_node(int nid, kmm_gfp_t gfp, unsigned order);

/** kmm_alloc_pages - kmm_alloc_pages_node() on the current CPU's node. */
struct kmm_page *kmm_alloc_pages(kmm_gfp_t gfp, unsigned order);

/**
 * kmm___free_pages - drop a reference to a block from kmm_alloc_pages().
 * @page: the head page.
 * @order: the order it was allocated with.
 *
 * When the last reference goes, the block returns to the per-CPU list or
 * the zone free lists (merging with free buddies).  A free page, a tail
 * page, a page never allocated, or an @order different from the
 * allocation's gets an error report naming the PFN and changes nothing.
 * Context: any thread; takes pcp->lock and/or zone->lock.
 */
void kmm___free_pages(struct kmm_page *page, unsigned order);

/**
 * kmm___get_free_pages - allocate and return the direct-map address.
 * Return: the address, or 0.
 */
unsigned long kmm___get_free_pages(kmm_gfp_t gfp, unsigned order);

/** kmm_get_zeroed_page - one zeroed page; Return: its address or 0. */
unsigned long kmm_get_zeroed_page(kmm_gfp_t gfp);

/**
 * kmm_free_pages - free by direct-map address (0 is ignored).  An address
 * outside the direct map is reported and ignored.
 */
void kmm_free_pages(unsigned long addr, unsigned order);

/**
 * kmm_alloc_pages_bulk - fill the NULL slots of @page_array with order-0
 * pages, taking them from the per-CPU list under one lock hold.
 * @nid: preferred node or -1.
 * Return: the number of populated slots (those already populated count).
 */
unsigned long kmm_alloc_pages_bulk(kmm_gfp_t gfp, int nid,
				   unsigned long nr_pages,
				   struct kmm_page **page_array);

/**
 * kmm_zone_events - event counter @e of @z: the zone's own plus every
 * CPU's share.  Context: any; lock-free, may be slightly stale.
 */
unsigned long kmm_zone_events(const struct kmm_zone *z, enum kmm_zone_event e);

/**
 * kmm_split_page - turn a non-compound block of 2^@order pages, allocated
 * with that order and holding one reference, into 2^@order order-0
 * pages, each with refcount 1 (the kernel's split_page()).  A compound,
 * shared or mis-ordered block gets the bad-page report and is left alone.
 */
void kmm_split_page(struct kmm_page *page, unsigned order);

/** kmm_get_page - take a reference to an allocated page. */
void kmm_get_page(struct kmm_page *page);

/**
 * kmm_put_page - drop a reference; the last one frees the block at the
 * order it was allocated with.
 */
void kmm_put_page(struct kmm_page *page);

static inline int kmm_page_ref_count(const struct kmm_page *page)
{
	return atomic_load_explicit(&page->_refcount, memory_order_relaxed);
}

/**
 * kmm_drain_all_pages - return every per-CPU list of @zone (or of all zones
 * when NULL) to the zone free lists.
 * Context: any thread; takes each pcp->lock then zone->lock.
 */
void kmm_drain_all_pages(struct kmm_zone *zone);

/**
 * kmm_take_block_off_buddy - take the 2^@order free pages starting at
 * @page (aligned to 2^@order) off the buddy allocator, as the caller's
 * non-compound order-@order allocation: refcount 1 on the head, freed
 * with kmm___free_pages(page, order) or split with kmm_split_page().  A
 * larger free block around the range is broken down and the rest stays
 * free; smaller free blocks inside it are all taken.  The kernel's
 * take_page_off_buddy() (memory_failure) does this for one page; kmm's
 * trace replay uses it to lay out a captured kernel's free memory.
 * Pages on per-CPU lists are not free in the buddy: drain first.
 * Context: any thread; takes zone->lock.
 * Return: 0; -EINVAL for a misaligned block, an order above
 * MAX_PAGE_ORDER or a range outside one zone; -EBUSY (nothing taken)
 * when any page of it is not free in the buddy or is isolated.
 */
int kmm_take_block_off_buddy(struct kmm_page *page, unsigned order);

/**
 * kmm_take_block_off_pcp - take the free block headed by @page off the
 * per-CPU list it sits on (any CPU's), as the caller's non-compound
 * allocation of that block's order, leaving every other list entry where
 * it is (a drain would empty them all).  For trace replay.
 * Context: any thread; takes each pcp->lock in turn.
 * Return: 0 and the order in *@order; -EBUSY when @page heads no block on
 * a per-CPU list; -EINVAL for a page outside the machine.
 */
int kmm_take_block_off_pcp(struct kmm_page *page, unsigned *order);

/**
 * kmm_take_page_off_buddy - the kernel's take_page_off_buddy(): take one
 * free page off the buddy allocator (refcount 1, order 0).
 * Context: any thread; takes zone->lock.
 * Return: true when @page was free in the buddy and is now the caller's.
 */
bool kmm_take_page_off_buddy(struct kmm_page *page);

/**
 * kmm_set_pageblock_migratetype - give the pageblock of @pfn the type
 * @mt (Unmovable, Movable or Reclaimable), moving the free pages it holds
 * to that type's lists, as the fallback path's block claim does; a free
 * block larger than a pageblock is retyped whole, with every pageblock it
 * covers (change_pageblock_range()).
 * CMA, HighAtomic and isolated pageblocks have their own owners and are
 * refused.  Context: any thread; takes zone->lock.
 * Return: the number of free pages moved; -EINVAL for a bad @mt or a PFN
 * outside every zone's pageblocks; -EBUSY for a CMA, HighAtomic or
 * isolated pageblock.
 */
long kmm_set_pageblock_migratetype(uint64_t pfn, int mt);

/**
 * kmm_adjust_managed_page_count - the kernel's adjust_managed_page_count():
 * add @count (negative to remove) to the managed pages of @page's zone and
 * to totalram, for pages the caller holds and gives to, or takes from,
 * the page allocator's reckoning (balloon drivers, memory offlining,
 * kmm's trace replay).  Watermarks are not recomputed: call
 * kmm_init_per_zone_wmark_min() as memory hotplug does.
 * Context: any thread; takes zone->lock.
 * Return: 0, or -EINVAL when the result would be negative or exceed
 * the zone's span (nothing changed).
 */
int kmm_adjust_managed_page_count(struct kmm_page *page, long count);

/**
 * kmm_init_per_zone_wmark_min - recompute min_free_kbytes from the managed
 * pages (with THP's recommendation when it is on), then every zone's
 * watermarks, lowmem_reserve and per-CPU batch/high: the kernel's
 * init_per_zone_wmark_min(), run after memory hotplug.
 * Context: any thread, not under a zone lock.
 */
void kmm_init_per_zone_wmark_min(void);

/**
 * kmm_sysctl_min_free_kbytes - write vm.min_free_kbytes: set it and
 * recompute every zone's watermarks (min_free_kbytes_sysctl_handler()).
 * Context: any thread, not under a zone lock.
 * Return: 0, or -EINVAL for 0 or a value above 64 GiB in kB (unchanged).
 */
int kmm_sysctl_min_free_kbytes(uint64_t kbytes);

/**
 * kmm_pcp_set_high - set CPU @cpu's current per-CPU list high mark in @z
 * (pcp->high, which the allocator moves between high_min and high_max as
 * it goes), clamped to that range: for replaying a captured kernel whose
 * zoneinfo shows each CPU's "high".
 * Context: any thread; takes that pcp->lock.
 * Return: the value set, or -EINVAL for a bad CPU or a zone without
 * per-CPU lists.
 */
int kmm_pcp_set_high(struct kmm_zone *z, unsigned cpu, int high);

/**
 * kmm_get_pfnblock_migratetype - the migratetype of the pageblock of @pfn.
 * Return: enum kmm_migratetype (MIGRATE_ISOLATE when the isolate bit is
 * set), or -EINVAL for a PFN outside the machine.
 */
int kmm_get_pfnblock_migratetype(uint64_t pfn);

/**
 * kmm_nr_free_pages - free pages of the machine (zone free lists only).
 */
uint64_t kmm_nr_free_pages(void);

/**
 * kmm_page_alloc_validate - check every zone: free lists agree with page
 * flags and orders, no two free buddies are left unmerged, per-order and
 * per-type counters and NR_FREE_PAGES agree with the lists, per-CPU counts
 * agree with their lists, pageblock bytes hold valid types.
 * Context: takes every pcp->lock and zone->lock; slow (walks the memmap).
 * Exact only while no other thread allocates or frees: a block between
 * its free list and its owner (prep_new_page / free_pages_prepare run
 * outside the locks, as in the kernel) looks like a lost page.
 * Return: 0, or -EINVAL after logging the first disagreement.
 */
int kmm_page_alloc_validate(void);

/*
 * Internal to the core: the zone side of page isolation, for
 * page_isolation.c.  *_locked: zone->lock held.  @pb_pfn is pageblock
 * aligned.
 *  isolate:   -EBUSY if already isolated, -EINVAL if the pageblock is not
 *             wholly in @z; else sets the isolate bit and moves its free
 *             blocks to the Isolate list (splitting a free block that
 *             covers more than this pageblock).
 *  unisolate: clears the bit and frees its Isolate blocks again, merging.
 *  test:      0 if every PFN of [start, end) is in a free block on the
 *             Isolate list, else -EBUSY with the first other PFN.
 *  take:      test, then turn [start, end) into order-0 allocated pages
 *             (refcount 1); parts of blocks outside stay isolated-free.
 */
bool kmm__pageblock_isolated(struct kmm_zone *z, uint64_t pfn);
int kmm__pageblock_mt(struct kmm_zone *z, uint64_t pfn);
int kmm__isolate_pageblock_locked(struct kmm_zone *z, uint64_t pb_pfn);
void kmm__unisolate_pageblock_locked(struct kmm_zone *z, uint64_t pb_pfn);
int kmm__test_pages_isolated_locked(struct kmm_zone *z, uint64_t start, uint64_t end,
				    uint64_t *bad_pfn);
int kmm__take_isolated_range_locked(struct kmm_zone *z, uint64_t start, uint64_t end,
				    uint64_t *bad_pfn);

/*
 * Internal (cma.c): turn [start, start + count), pageblock aligned, in one
 * zone, every page an order-0 allocation of the caller with refcount 1,
 * into free MIGRATE_CMA pageblocks with PG_cma.  0 or -EINVAL (nothing
 * changed).
 */
int kmm__cma_activate_range(uint64_t start, uint64_t count);

/*
 * Internal (page_alloc.c, contig.c): post_alloc_hook()'s zeroing decision
 * for a new block (init_on_alloc, init_on_free, __GFP_ZERO; never in
 * shadow mode), so contiguous ranges follow it too.
 */
bool kmm__want_init_on_alloc(kmm_gfp_t gfp);

/* Internal to the core (boot.c <-> page_alloc.c). */
int kmm__page_alloc_init(void);
void kmm__page_alloc_fini(void);
void kmm__free_boot_range(uint64_t start_pfn, uint64_t end_pfn);
void kmm__setup_per_zone_wmarks(void);

#endif /* KMM_PAGE_ALLOC_H */
