/* SPDX-License-Identifier: MIT */
/*
 * page_alloc.c - the buddy page allocator, after Linux 6.18 mm/page_alloc.c
 * (behaviour re-implemented, no code taken).
 *
 * Algorithm
 * ---------
 * Each zone keeps free blocks of 2^order pages (order 0..10) on one list per
 * (order, migratetype).  Freeing merges a block with its buddy
 * (pfn ^ (1 << order)) while the buddy is a free block of the same order in
 * the same zone; at pageblock order and above only mergeable types
 * (Unmovable, Movable, Reclaimable) merge across pageblocks, and the
 * buddy's pageblock takes the freed block's type.  Allocation takes the
 * smallest block of the wanted type and splits it (expand), putting the
 * halves back.  When the wanted type has nothing, __rmqueue() falls back:
 *
 *     wanted        fallbacks, in order
 *     Unmovable     Reclaimable, Movable
 *     Movable       Reclaimable, Unmovable
 *     Reclaimable   Unmovable, Movable
 *     CMA, HighAtomic, Isolate: never fall back (and are never stolen)
 *
 *   1. Movable requests first use CMA when more than half of the zone's
 *      free memory is CMA (balancing), else only after their own type.
 *   2. "claim": from the largest fallback block down, try to take over the
 *      whole pageblock: always for blocks >= pageblock order; for smaller
 *      ones when order >= pageblock_order/2 or the request is not Movable,
 *      and half the pageblock is free or already compatible.
 *   3. "steal": the smallest fallback block, without claiming the
 *      pageblock (not with ALLOC_NOFRAGMENT).
 *
 * Orders 0..3 and pageblock order go through per-CPU lists (pcp) in front of
 * the zone: refilled with rmqueue_bulk() batches (scaled up while a CPU keeps
 * allocating), drained with free_pcppages_bulk() once pcp->count reaches
 * pcp->high (high adapts between high_min and high_max).
 *
 * Watermarks min/low/high/promo per zone come from min_free_kbytes (the
 * larger of int_sqrt(lowmem_kB * 16) and THP's recommended value, as on a
 * kernel with THP enabled), split by managed pages; lowmem_reserve protects
 * lower zones from allocations that could use higher ones.  The fast path
 * checks the low watermark (ALLOC_NOFRAGMENT when the preferred zone is
 * Normal above a populated DMA32), the slow path the min watermark with
 * __GFP_HIGH/atomic reductions.  kmm has no reclaim, compaction or kswapd:
 * where the kernel would reclaim, kmm unreserves HighAtomic blocks, drains
 * all per-CPU lists, retries once, then fails.
 *
 * Invariants (checked by kmm_page_alloc_validate())
 * ----------
 *  - A free block is on exactly one free list, its head has PG_buddy,
 *    private = order and alloc_mt = the list's type; every pageblock it
 *    covers has that type (or the isolate bit, for the Isolate list).
 *  - No two free buddies that could merge are left unmerged.
 *  - A page on a pcp list has PG_pcp and private = order.
 *  - Every PFN of a zone is in exactly one of: a free block, a pcp block, an
 *    allocated block (head refcount > 0), a reserved page.
 *  - NR_FREE_PAGES = pages on all lists but Isolate; NR_FREE_CMA_PAGES =
 *    pages on CMA lists; nr_free counts agree with list lengths.
 *
 * Lock order
 * ----------
 *   pcp->lock        (trylock on the allocation/free fast paths)
 *     zone->lock
 * Never two zone->locks at once; never pcp->lock under zone->lock.  Only the
 * validator holds several pcp->locks (of one zone, in CPU order).
 */
#include <kmm/boot.h>
#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/page_alloc.h>
#include <kmm/stat.h>

/* alloc_flags, as mm/internal.h */
#define ALLOC_WMARK_MIN KMM_WMARK_MIN
#define ALLOC_WMARK_LOW KMM_WMARK_LOW
#define ALLOC_WMARK_HIGH KMM_WMARK_HIGH
#define ALLOC_NO_WATERMARKS 0x04
#define ALLOC_WMARK_MASK (ALLOC_NO_WATERMARKS - 1)
#define ALLOC_OOM 0x08
#define ALLOC_NON_BLOCK 0x10
#define ALLOC_MIN_RESERVE 0x20
#define ALLOC_CPUSET 0x40
#define ALLOC_CMA 0x80
#define ALLOC_NOFRAGMENT 0x100
#define ALLOC_HIGHATOMIC 0x200
#define ALLOC_KSWAPD 0x800
#define ALLOC_RESERVES \
	(ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM)

/* fpi_t */
#define FPI_NONE 0
#define FPI_TO_TAIL 0x2

#define SWAP_CLUSTER_MAX 32
#define WATERMARK_SCALE_FACTOR 10
#define MIN_PERCPU_PAGELIST_HIGH_FRACTION 8

static const int fallbacks[KMM_MIGRATE_PCPTYPES][KMM_MIGRATE_PCPTYPES - 1] = {
	[KMM_MIGRATE_UNMOVABLE] = { KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_MOVABLE },
	[KMM_MIGRATE_MOVABLE] = { KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_UNMOVABLE },
	[KMM_MIGRATE_RECLAIMABLE] = { KMM_MIGRATE_UNMOVABLE, KMM_MIGRATE_MOVABLE },
};

/* lowmem_reserve_ratio, per zone (DMA, DMA32, Normal, Movable). */
static const int lowmem_reserve_ratio[KMM_MAX_NR_ZONES] = { 256, 256, 32, 0 };

enum rmqueue_mode { RMQUEUE_NORMAL, RMQUEUE_CMA, RMQUEUE_CLAIM, RMQUEUE_STEAL };

struct alloc_context {
	struct kmm_zonelist *zonelist;
	struct kmm_zone *preferred_zone;
	enum kmm_zone_type highest_zoneidx;
	int migratetype;
	int preferred_nid;
	unsigned cpu;		/* looked up once per call */
	int local_nid;		/* the node of @cpu */
};

/* ---- small helpers ------------------------------------------------------ */

static inline bool migratetype_is_mergeable(int mt)
{
	return mt < KMM_MIGRATE_PCPTYPES;
}

static inline bool pcp_allowed_order(unsigned order)
{
	return order <= KMM_PAGE_ALLOC_COSTLY_ORDER || order == KMM_PAGEBLOCK_ORDER;
}

static inline int order_to_pindex(int mt, unsigned order)
{
	if (order > KMM_PAGE_ALLOC_COSTLY_ORDER)
		return KMM_NR_LOWORDER_PCP_LISTS + (mt == KMM_MIGRATE_MOVABLE);
	return (int)(KMM_MIGRATE_PCPTYPES * order) + mt;
}

static inline unsigned pindex_to_order(int pindex)
{
	if (pindex >= KMM_NR_LOWORDER_PCP_LISTS)
		return KMM_PAGEBLOCK_ORDER;
	return (unsigned)(pindex / KMM_MIGRATE_PCPTYPES);
}

static inline bool zone_spans_pfn(const struct kmm_zone *z, uint64_t pfn)
{
	return pfn >= z->zone_start_pfn && pfn < kmm_zone_end_pfn(z);
}

static inline uint8_t *pb_byte(struct kmm_zone *z, uint64_t pfn)
{
	uint64_t base = KMM_ALIGN_DOWN(z->zone_start_pfn, KMM_PAGEBLOCK_NR_PAGES);

	return &z->pageblock_flags[(pfn - base) >> KMM_PAGEBLOCK_ORDER];
}

/*
 * Pageblock bytes are written under zone->lock but read without it on the
 * free path (the kernel's get_pfnblock_migratetype()): relaxed atomics.
 */
static inline int get_pfnblock_mt(struct kmm_zone *z, uint64_t pfn)
{
	uint8_t b = __atomic_load_n(pb_byte(z, pfn), __ATOMIC_RELAXED);

	if (b & KMM_PB_ISOLATE)
		return KMM_MIGRATE_ISOLATE;
	return b & KMM_PB_MIGRATETYPE_MASK;
}

static inline void set_pfnblock_mt(struct kmm_zone *z, uint64_t pfn, int mt)
{
	uint8_t *b = pb_byte(z, pfn);

	__atomic_store_n(b, (uint8_t)((__atomic_load_n(b, __ATOMIC_RELAXED) &
				       ~KMM_PB_MIGRATETYPE_MASK) | (unsigned)mt),
			 __ATOMIC_RELAXED);
}

int kmm_get_pfnblock_migratetype(uint64_t pfn)
{
	struct kmm_page *page;

	if (!kmm_pfn_valid(pfn))
		return -KMM_EINVAL;
	page = kmm_pfn_to_page(pfn);
	return get_pfnblock_mt(kmm_page_zone(page), pfn);
}

static void change_pageblock_range(struct kmm_zone *z, uint64_t pfn,
				   unsigned order, int mt)
{
	uint64_t n = 1ULL << order, i;

	for (i = 0; i < n; i += KMM_PAGEBLOCK_NR_PAGES)
		set_pfnblock_mt(z, pfn + i, mt);
}

static inline void zone_stat_add(struct kmm_zone *z, enum kmm_zone_stat_item i,
				 long v)
{
	atomic_fetch_add_explicit(&z->vm_stat[i], v, memory_order_relaxed);
}

static inline void zone_event(struct kmm_zone *z, enum kmm_zone_event e,
			      unsigned long n)
{
	atomic_fetch_add_explicit(&z->events[e], n, memory_order_relaxed);
}

/* A per-CPU event: pcp->lock held, so a plain (relaxed) add suffices. */
static inline void pcp_event(struct kmm_per_cpu_pages *pcp,
			     enum kmm_zone_event e, unsigned long n)
{
	__atomic_store_n(&pcp->vm_events[e],
			 __atomic_load_n(&pcp->vm_events[e], __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

unsigned long kmm_zone_events(const struct kmm_zone *z, enum kmm_zone_event e)
{
	unsigned long sum = atomic_load_explicit(&z->events[e], memory_order_relaxed);
	unsigned cpu;

	if (z->per_cpu_pageset)
		for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
			sum += __atomic_load_n(&z->per_cpu_pageset[cpu].vm_events[e],
					       __ATOMIC_RELAXED);
	return sum;
}

static void account_freepages(struct kmm_zone *z, long nr, int mt)
{
	if (mt == KMM_MIGRATE_ISOLATE)
		return;
	zone_stat_add(z, KMM_NR_FREE_PAGES, nr);
	if (mt == KMM_MIGRATE_CMA)
		zone_stat_add(z, KMM_NR_FREE_CMA_PAGES, nr);
	else if (mt == KMM_MIGRATE_HIGHATOMIC)
		zone_stat_add(z, KMM_NR_FREE_HIGHATOMIC, nr);
}

/* ---- free lists (zone->lock held) -------------------------------------- */

/*
 * Free-area counters are written under zone->lock but read locklessly by
 * the watermark check and reports (the kernel's READ_ONCE/WRITE_ONCE).
 */
static inline void ctr_add(unsigned long *c, unsigned long v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v,
			 __ATOMIC_RELAXED);
}

static inline unsigned long zone_flags(const struct kmm_zone *z)
{
	return __atomic_load_n(&z->flags, __ATOMIC_RELAXED);
}

static void __add_to_free_list(struct kmm_page *page, struct kmm_zone *z,
			       unsigned order, int mt, bool tail)
{
	struct kmm_free_area *area = &z->free_area[order];

	if (tail)
		kmm_list_add_tail(&page->lru, &area->free_list[mt]);
	else
		kmm_list_add(&page->lru, &area->free_list[mt]);
	ctr_add(&area->nr_free, 1);
	ctr_add(&area->nr_free_mt[mt], 1);
	page->private = order;
	page->alloc_mt = (uint8_t)mt;
	kmm_page_set(page, KMM_PG_buddy);
}

static void __del_from_free_list(struct kmm_page *page, struct kmm_zone *z,
				 unsigned order, int mt)
{
	struct kmm_free_area *area = &z->free_area[order];

	kmm_list_del(&page->lru);
	ctr_add(&area->nr_free, -1UL);
	ctr_add(&area->nr_free_mt[mt], -1UL);
	kmm_page_clear(page, KMM_PG_buddy);
	page->private = 0;
}

static void move_to_free_list(struct kmm_page *page, struct kmm_zone *z,
			      unsigned order, int old_mt, int new_mt)
{
	struct kmm_free_area *area = &z->free_area[order];

	kmm_list_del(&page->lru);
	kmm_list_add_tail(&page->lru, &area->free_list[new_mt]);
	ctr_add(&area->nr_free_mt[old_mt], -1UL);
	ctr_add(&area->nr_free_mt[new_mt], 1);
	page->alloc_mt = (uint8_t)new_mt;
	account_freepages(z, -(1L << order), old_mt);
	account_freepages(z, 1L << order, new_mt);
}

static inline struct kmm_page *get_page_from_free_area(struct kmm_free_area *a,
							int mt)
{
	if (kmm_list_empty(&a->free_list[mt]))
		return NULL;
	return kmm_list_first_entry(&a->free_list[mt], struct kmm_page, lru);
}

/* Is @buddy_pfn the head of a free block of @order in @z? */
static inline struct kmm_page *find_free_buddy(struct kmm_zone *z,
					       uint64_t buddy_pfn, unsigned order)
{
	struct kmm_page *buddy;

	if (!zone_spans_pfn(z, buddy_pfn))
		return NULL;
	buddy = kmm_pfn_to_page(buddy_pfn);
	if (!kmm_page_test(buddy, KMM_PG_buddy) || buddy->private != order)
		return NULL;
	return buddy;
}

/* buddy_merge_likely(): would the block one order up merge on a free? */
static bool buddy_merge_likely(struct kmm_zone *z, uint64_t pfn, unsigned order)
{
	uint64_t higher;

	if (order >= KMM_MAX_PAGE_ORDER - 1)
		return false;
	higher = pfn & ~((1ULL << (order + 1)) - 1);
	return find_free_buddy(z, higher ^ (1ULL << (order + 1)), order + 1) != NULL;
}

/* __free_one_page(): merge and insert.  zone->lock held. */
static void __free_one_page(struct kmm_page *page, uint64_t pfn,
			    struct kmm_zone *z, unsigned order, int mt, int fpi)
{
	bool to_tail;

	account_freepages(z, 1L << order, mt);
	while (order < KMM_MAX_PAGE_ORDER) {
		uint64_t buddy_pfn = pfn ^ (1ULL << order);
		struct kmm_page *buddy = find_free_buddy(z, buddy_pfn, order);
		int buddy_mt;

		if (!buddy)
			break;
		buddy_mt = buddy->alloc_mt;
		if (order >= KMM_PAGEBLOCK_ORDER && buddy_mt != mt &&
		    (!migratetype_is_mergeable(mt) ||
		     !migratetype_is_mergeable(buddy_mt)))
			break;
		__del_from_free_list(buddy, z, order, buddy_mt);
		if (buddy_mt != mt) {
			/* The buddy joins our type: move its pages' accounting
			 * and its pageblocks, so expand() puts halves right. */
			account_freepages(z, -(1L << order), buddy_mt);
			account_freepages(z, 1L << order, mt);
			if (order >= KMM_PAGEBLOCK_ORDER)
				change_pageblock_range(z, buddy_pfn, order, mt);
		}
		pfn &= buddy_pfn;
		page = kmm_pfn_to_page(pfn);
		order++;
	}
	if (fpi & FPI_TO_TAIL)
		to_tail = true;
	else
		to_tail = buddy_merge_likely(z, pfn, order);
	__add_to_free_list(page, z, order, mt, to_tail);
	zone_event(z, KMM_ZEV_FREE, 1);
}

/* split_large_buddy() + __free_one_page(): zone->lock held. */
static void free_block_locked(struct kmm_zone *z, struct kmm_page *page,
			      uint64_t pfn, unsigned order, int fpi)
{
	uint64_t end = pfn + (1ULL << order);
	unsigned o = KMM_MIN(order, (unsigned)KMM_PAGEBLOCK_ORDER);

	do {
		int mt = get_pfnblock_mt(z, pfn);

		__free_one_page(page, pfn, z, o, mt, fpi);
		pfn += 1ULL << o;
		page = kmm_pfn_to_page(pfn);
	} while (pfn < end);
}

static void free_one_page(struct kmm_zone *z, struct kmm_page *page,
			  uint64_t pfn, unsigned order, int fpi)
{
	kmm_port_lock(&z->lock);
	free_block_locked(z, page, pfn, order, fpi);
	kmm_port_unlock(&z->lock);
}

/* expand(): put the upper halves of a split block back.  Returns pages added. */
static unsigned long expand(struct kmm_zone *z, struct kmm_page *page,
			    unsigned low, unsigned high, int mt)
{
	unsigned long size = 1UL << high, added = 0;

	while (high > low) {
		high--;
		size >>= 1;
		__add_to_free_list(&page[size], z, high, mt, false);
		added += size;
	}
	return added;
}

static void page_del_and_expand(struct kmm_zone *z, struct kmm_page *page,
				unsigned low, unsigned high, int mt)
{
	long nr = 1L << high;

	__del_from_free_list(page, z, high, mt);
	nr -= (long)expand(z, page, low, high, mt);
	account_freepages(z, -nr, mt);
}

static struct kmm_page *__rmqueue_smallest(struct kmm_zone *z, unsigned order,
					   int mt)
{
	unsigned o;

	for (o = order; o < KMM_NR_PAGE_ORDERS; o++) {
		struct kmm_page *page = get_page_from_free_area(&z->free_area[o], mt);

		if (!page)
			continue;
		page_del_and_expand(z, page, order, o, mt);
		return page;
	}
	return NULL;
}

/* should_try_claim_block() */
static bool should_try_claim_block(unsigned order, int start_mt)
{
	if (order >= KMM_PAGEBLOCK_ORDER)
		return true;
	if (order >= KMM_PAGEBLOCK_ORDER / 2)
		return true;
	return start_mt == KMM_MIGRATE_RECLAIMABLE ||
	       start_mt == KMM_MIGRATE_UNMOVABLE;
}

/* find_suitable_fallback(): a fallback type with blocks of @order, -1 none,
 * -2 when claiming and @order is too small to ever claim. */
static int find_suitable_fallback(struct kmm_free_area *a, unsigned order,
				  int mt, bool claimable)
{
	int i;

	if (claimable && !should_try_claim_block(order, mt))
		return -2;
	if (!a->nr_free)
		return -1;
	for (i = 0; i < KMM_MIGRATE_PCPTYPES - 1; i++) {
		int f = fallbacks[mt][i];

		if (!kmm_list_empty(&a->free_list[f]))
			return f;
	}
	return -1;
}

/*
 * prep_move_freepages_block(): the pageblock of @page must lie wholly in the
 * zone; count its free and movable (PG_lru) pages.
 */
static bool prep_move_freepages_block(struct kmm_zone *z, struct kmm_page *page,
				      uint64_t *start_pfn, unsigned long *nfree,
				      unsigned long *nmovable)
{
	uint64_t pfn = kmm_page_to_pfn(page);
	uint64_t start = KMM_ALIGN_DOWN(pfn, KMM_PAGEBLOCK_NR_PAGES);
	uint64_t end = start + KMM_PAGEBLOCK_NR_PAGES;

	*start_pfn = start;
	*nfree = *nmovable = 0;
	if (!zone_spans_pfn(z, start) || !zone_spans_pfn(z, end - 1))
		return false;
	for (pfn = start; pfn < end;) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);

		if (kmm_page_test(p, KMM_PG_buddy)) {
			*nfree += 1UL << p->private;
			pfn += 1ULL << p->private;
			continue;
		}
		if (kmm_page_test(p, KMM_PG_lru))
			(*nmovable)++;
		pfn++;
	}
	return true;
}

/* __move_freepages_block(): move the block's free pages between lists. */
static unsigned long __move_freepages_block(struct kmm_zone *z, uint64_t start,
					    int new_mt)
{
	uint64_t pfn, end = start + KMM_PAGEBLOCK_NR_PAGES;
	unsigned long moved = 0;

	for (pfn = start; pfn < end;) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		unsigned order;

		if (!kmm_page_test(p, KMM_PG_buddy)) {
			pfn++;
			continue;
		}
		order = (unsigned)p->private;
		/* Each block leaves the list it is on (alloc_mt), whatever the
		 * pageblock's type was thought to be. */
		move_to_free_list(p, z, order, p->alloc_mt, new_mt);
		pfn += 1ULL << order;
		moved += 1UL << order;
	}
	return moved;
}

/* move_freepages_block(): -1 if the block is not wholly in the zone. */
static long move_freepages_block(struct kmm_zone *z, struct kmm_page *page,
				 int new_mt)
{
	uint64_t start;
	unsigned long nfree, nmov;
	long moved;

	if (!prep_move_freepages_block(z, page, &start, &nfree, &nmov))
		return -1;
	moved = (long)__move_freepages_block(z, start, new_mt);
	set_pfnblock_mt(z, start, new_mt);
	return moved;
}

static struct kmm_page *try_to_claim_block(struct kmm_zone *z,
					   struct kmm_page *page,
					   unsigned current_order,
					   unsigned order, int start_mt,
					   int block_mt)
{
	unsigned long nfree, nmovable, alike;
	uint64_t start;

	if (current_order >= KMM_PAGEBLOCK_ORDER) {
		unsigned long added;

		__del_from_free_list(page, z, current_order, block_mt);
		account_freepages(z, -(1L << current_order), block_mt);
		change_pageblock_range(z, kmm_page_to_pfn(page), current_order,
				       start_mt);
		added = expand(z, page, order, current_order, start_mt);
		account_freepages(z, (long)added, start_mt);
		zone_event(z, KMM_ZEV_CLAIM, 1);
		return page;
	}
	/* kmm has no kswapd, so no watermark boost here. */
	if (!prep_move_freepages_block(z, page, &start, &nfree, &nmovable))
		return NULL;
	if (start_mt == KMM_MIGRATE_MOVABLE)
		alike = nmovable;
	else if (block_mt == KMM_MIGRATE_MOVABLE)
		alike = KMM_PAGEBLOCK_NR_PAGES - (nfree + nmovable);
	else
		alike = 0;
	if (nfree + alike >= (1UL << (KMM_PAGEBLOCK_ORDER - 1))) {
		__move_freepages_block(z, start, start_mt);
		set_pfnblock_mt(z, start, start_mt);
		zone_event(z, KMM_ZEV_CLAIM, 1);
		return __rmqueue_smallest(z, order, start_mt);
	}
	return NULL;
}

static struct kmm_page *__rmqueue_claim(struct kmm_zone *z, unsigned order,
					int start_mt, unsigned alloc_flags)
{
	unsigned min_order = order;
	int o;

	if (alloc_flags & ALLOC_NOFRAGMENT)
		min_order = KMM_PAGEBLOCK_ORDER;
	for (o = KMM_MAX_PAGE_ORDER; o >= (int)min_order; o--) {
		struct kmm_free_area *a = &z->free_area[o];
		int f = find_suitable_fallback(a, (unsigned)o, start_mt, true);
		struct kmm_page *page;

		if (f == -1)
			continue;
		if (f == -2)
			break;
		page = get_page_from_free_area(a, f);
		page = try_to_claim_block(z, page, (unsigned)o, order, start_mt, f);
		if (page)
			return page;
	}
	return NULL;
}

static struct kmm_page *__rmqueue_steal(struct kmm_zone *z, unsigned order,
					int start_mt)
{
	unsigned o;

	for (o = order; o < KMM_NR_PAGE_ORDERS; o++) {
		struct kmm_free_area *a = &z->free_area[o];
		int f = find_suitable_fallback(a, o, start_mt, false);
		struct kmm_page *page;

		if (f == -1)
			continue;
		page = get_page_from_free_area(a, f);
		page_del_and_expand(z, page, order, o, f);
		zone_event(z, KMM_ZEV_STEAL, 1);
		return page;
	}
	return NULL;
}

/* __rmqueue(): zone->lock held.  @mode carries state across a batch. */
static struct kmm_page *__rmqueue(struct kmm_zone *z, unsigned order, int mt,
				  unsigned alloc_flags, enum rmqueue_mode *mode)
{
	struct kmm_page *page;

	if ((alloc_flags & ALLOC_CMA) &&
	    kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES) >
		    kmm_zone_page_state(z, KMM_NR_FREE_PAGES) / 2) {
		page = __rmqueue_smallest(z, order, KMM_MIGRATE_CMA);
		if (page)
			return page;
	}
	switch (*mode) {
	case RMQUEUE_NORMAL:
		page = __rmqueue_smallest(z, order, mt);
		if (page)
			return page;
		/* fallthrough */
	case RMQUEUE_CMA:
		if (alloc_flags & ALLOC_CMA) {
			page = __rmqueue_smallest(z, order, KMM_MIGRATE_CMA);
			if (page) {
				*mode = RMQUEUE_CMA;
				return page;
			}
		}
		/* fallthrough */
	case RMQUEUE_CLAIM:
		page = __rmqueue_claim(z, order, mt, alloc_flags);
		if (page) {
			*mode = RMQUEUE_NORMAL;
			return page;
		}
		/* fallthrough */
	case RMQUEUE_STEAL:
		if (!(alloc_flags & ALLOC_NOFRAGMENT)) {
			page = __rmqueue_steal(z, order, mt);
			if (page) {
				*mode = RMQUEUE_STEAL;
				return page;
			}
		}
	}
	return NULL;
}

/* ---- per-CPU lists ------------------------------------------------------ */

static inline struct kmm_per_cpu_pages *cpu_pcp(struct kmm_zone *z, unsigned cpu)
{
	return &z->per_cpu_pageset[cpu];
}

/* rmqueue_bulk(): take @count blocks of @order for a pcp list. */
static int rmqueue_bulk(struct kmm_zone *z, unsigned order, int count,
			struct kmm_list_head *list, int mt, unsigned alloc_flags)
{
	enum rmqueue_mode mode = RMQUEUE_NORMAL;
	int i;

	kmm_port_lock(&z->lock);
	for (i = 0; i < count; i++) {
		struct kmm_page *page = __rmqueue(z, order, mt, alloc_flags, &mode);

		if (!page)
			break;
		page->private = order;
		kmm_page_set(page, KMM_PG_pcp);
		kmm_list_add_tail(&page->lru, list);
	}
	zone_event(z, KMM_ZEV_PCP_REFILL, 1);
	kmm_port_unlock(&z->lock);
	return i;
}

/* free_pcppages_bulk(): return @count pages to the zone, round-robin over
 * the lists starting with @pindex, oldest first.  pcp->lock held. */
static void free_pcppages_bulk(struct kmm_zone *z, int count,
			       struct kmm_per_cpu_pages *pcp, int pindex)
{
	count = KMM_MIN(pcp->count, count);
	if (count <= 0)
		return;
	pindex = pindex - 1;
	kmm_port_lock(&z->lock);
	while (count > 0) {
		struct kmm_list_head *list;
		unsigned order;

		do {
			if (++pindex > KMM_NR_PCP_LISTS - 1)
				pindex = 0;
			list = &pcp->lists[pindex];
		} while (kmm_list_empty(list));
		order = pindex_to_order(pindex);
		do {
			struct kmm_page *page =
				kmm_list_last_entry(list, struct kmm_page, lru);
			uint64_t pfn = kmm_page_to_pfn(page);

			kmm_list_del(&page->lru);
			kmm_page_clear(page, KMM_PG_pcp);
			page->private = 0;
			count -= 1 << order;
			pcp->count -= 1 << order;
			__free_one_page(page, pfn, z, order, get_pfnblock_mt(z, pfn),
					FPI_NONE);
		} while (count > 0 && !kmm_list_empty(list));
	}
	kmm_port_unlock(&z->lock);
	zone_event(z, KMM_ZEV_PCP_DRAIN, 1);
}

/* nr_pcp_alloc(): how many blocks to move into an empty pcp list. */
static int nr_pcp_alloc(struct kmm_per_cpu_pages *pcp, struct kmm_zone *z,
			unsigned order)
{
	int base_batch = pcp->batch, high_min = pcp->high_min,
	    high_max = pcp->high_max, high, batch, max_nr_alloc;

	high = pcp->high = KMM_CLAMP(pcp->high, high_min, high_max);
	if (high < base_batch)
		return 1;
	batch = order ? base_batch : base_batch << pcp->alloc_factor;
	if (high_min != high_max && !(zone_flags(z) & KMM_ZONE_BELOW_HIGH))
		high = pcp->high = KMM_MIN(high + batch, high_max);
	if (!order) {
		max_nr_alloc = KMM_MAX(high - pcp->count - base_batch, base_batch);
		if (batch <= max_nr_alloc &&
		    pcp->alloc_factor < KMM_PCP_BATCH_SCALE_MAX)
			pcp->alloc_factor++;
		batch = KMM_MIN(batch, max_nr_alloc);
	}
	if (batch > 1)
		batch = KMM_MAX(batch >> order, 2);
	return batch;
}

/* nr_pcp_high(): the effective high mark, adapting pcp->high. */
static int nr_pcp_high(struct kmm_per_cpu_pages *pcp, struct kmm_zone *z,
		       int batch, bool free_high)
{
	int high_min = pcp->high_min, high_max = pcp->high_max, high;

	high = pcp->high = KMM_CLAMP(pcp->high, high_min, high_max);
	if (!high)
		return 0;
	if (free_high) {
		pcp->high = KMM_MAX(high - (batch << KMM_PCP_BATCH_SCALE_MAX),
				    high_min);
		return 0;
	}
	if (high_min == high_max)
		return high;
	if (zone_flags(z) & KMM_ZONE_BELOW_HIGH) {
		int fc = KMM_MAX((int)pcp->free_count, batch);

		pcp->high = KMM_MAX(high - fc, high_min);
		return KMM_MIN(batch << 2, pcp->high);
	}
	if (pcp->count >= high) {
		int need = pcp->free_count + batch;

		if (pcp->high < need)
			pcp->high = KMM_CLAMP(need, high_min, high_max);
	}
	return high;
}

static int nr_pcp_free(struct kmm_per_cpu_pages *pcp, int batch, int high,
		       bool free_high)
{
	if (free_high)
		return KMM_MIN(pcp->count, batch << KMM_PCP_BATCH_SCALE_MAX);
	if (high < batch)
		return 1;
	return KMM_CLAMP((int)pcp->free_count, batch, KMM_MAX(high - batch, batch));
}

static bool __zone_watermark_ok(struct kmm_zone *z, unsigned order,
				unsigned long mark, int highest_zoneidx,
				unsigned alloc_flags, long free_pages);

static bool zone_watermark_ok(struct kmm_zone *z, unsigned order,
			      unsigned long mark, int highest_zoneidx,
			      unsigned alloc_flags)
{
	return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags,
				   kmm_zone_page_state(z, KMM_NR_FREE_PAGES));
}

/* free_unref_page_commit(): pcp->lock held. */
static void free_to_pcp(struct kmm_zone *z, struct kmm_per_cpu_pages *pcp,
			struct kmm_page *page, int mt, unsigned order)
{
	int pindex = order_to_pindex(mt, order), batch = pcp->batch, high;
	bool free_high = false;

	pcp->alloc_factor >>= 1;
	page->private = order;
	kmm_page_set(page, KMM_PG_pcp);
	kmm_list_add(&page->lru, &pcp->lists[pindex]);
	pcp->count += 1 << order;
	if (order && order <= KMM_PAGE_ALLOC_COSTLY_ORDER) {
		free_high = pcp->free_count >= batch + pcp->high_min / 2 &&
			    (pcp->flags & KMM_PCPF_PREV_FREE_HIGH_ORDER) &&
			    (!(pcp->flags & KMM_PCPF_FREE_HIGH_BATCH) ||
			     pcp->count >= batch);
		pcp->flags |= KMM_PCPF_PREV_FREE_HIGH_ORDER;
	} else {
		pcp->flags &= (uint8_t)~KMM_PCPF_PREV_FREE_HIGH_ORDER;
	}
	if (pcp->free_count < (batch << KMM_PCP_BATCH_SCALE_MAX))
		pcp->free_count = (short)(pcp->free_count + (1 << order));
	high = nr_pcp_high(pcp, z, batch, free_high);
	if (pcp->count >= high) {
		free_pcppages_bulk(z, nr_pcp_free(pcp, batch, high, free_high),
				   pcp, pindex);
		if ((zone_flags(z) & KMM_ZONE_BELOW_HIGH) &&
		    zone_watermark_ok(z, 0, kmm_wmark_pages(z, KMM_WMARK_HIGH),
				      KMM_ZONE_MOVABLE, 0))
			__atomic_and_fetch(&z->flags, ~KMM_ZONE_BELOW_HIGH,
					   __ATOMIC_RELAXED);
	}
}

/* __rmqueue_pcplist(): pcp->lock held. */
static struct kmm_page *__rmqueue_pcplist(struct kmm_zone *z, unsigned order,
					  int mt, unsigned alloc_flags,
					  struct kmm_per_cpu_pages *pcp,
					  struct kmm_list_head *list)
{
	struct kmm_page *page;

	if (kmm_list_empty(list)) {
		int batch = nr_pcp_alloc(pcp, z, order);
		int got = rmqueue_bulk(z, order, batch, list, mt, alloc_flags);

		pcp->count += got << order;
		if (kmm_list_empty(list))
			return NULL;
	}
	page = kmm_list_first_entry(list, struct kmm_page, lru);
	kmm_list_del(&page->lru);
	kmm_page_clear(page, KMM_PG_pcp);
	page->private = 0;
	pcp->count -= 1 << order;
	return page;
}

/* ---- allocation --------------------------------------------------------- */

/*
 * zone_statistics(): with @pcp (its lock held) the counts go to this CPU's
 * share, else to the zone's atomics.  NUMA_FOREIGN belongs to another zone:
 * always atomic (it only happens on multi-node machines).
 */
static void zone_statistics(struct kmm_zone *preferred, struct kmm_zone *z,
			    struct kmm_per_cpu_pages *pcp, int local_nid,
			    unsigned long nr)
{
	int nid = z->zone_pgdat->node_id;
	enum kmm_zone_event hit = KMM_NUMA_HIT;

	if (nid != preferred->zone_pgdat->node_id) {
		hit = KMM_NUMA_MISS;
		zone_event(preferred, KMM_NUMA_FOREIGN, nr);
	}
	if (pcp) {
		pcp_event(pcp, hit, nr);
		pcp_event(pcp, nid == local_nid ? KMM_NUMA_LOCAL : KMM_NUMA_OTHER, nr);
		pcp_event(pcp, KMM_ZEV_ALLOC, 1);
	} else {
		zone_event(z, hit, nr);
		zone_event(z, nid == local_nid ? KMM_NUMA_LOCAL : KMM_NUMA_OTHER, nr);
		zone_event(z, KMM_ZEV_ALLOC, 1);
	}
}

static struct kmm_page *rmqueue_pcplist(const struct alloc_context *ac,
					struct kmm_zone *z, unsigned order,
					int mt, unsigned alloc_flags)
{
	struct kmm_per_cpu_pages *pcp = cpu_pcp(z, ac->cpu);
	struct kmm_page *page;

	if (!kmm_port_spin_trylock(&pcp->lock))
		return NULL;
	pcp->free_count >>= 1;
	page = __rmqueue_pcplist(z, order, mt, alloc_flags, pcp,
				 &pcp->lists[order_to_pindex(mt, order)]);
	if (page)
		zone_statistics(ac->preferred_zone, z, pcp, ac->local_nid, 1);
	kmm_port_spin_unlock(&pcp->lock);
	return page;
}

static struct kmm_page *rmqueue_buddy(const struct alloc_context *ac,
				      struct kmm_zone *z, unsigned order,
				      unsigned alloc_flags, int mt)
{
	struct kmm_zone *preferred = ac->preferred_zone;
	struct kmm_page *page = NULL;

	kmm_port_lock(&z->lock);
	if (alloc_flags & ALLOC_HIGHATOMIC)
		page = __rmqueue_smallest(z, order, KMM_MIGRATE_HIGHATOMIC);
	if (!page) {
		enum rmqueue_mode mode = RMQUEUE_NORMAL;

		page = __rmqueue(z, order, mt, alloc_flags, &mode);
		if (!page && (alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK)))
			page = __rmqueue_smallest(z, order, KMM_MIGRATE_HIGHATOMIC);
	}
	kmm_port_unlock(&z->lock);
	if (page)
		zone_statistics(preferred, z, NULL, ac->local_nid, 1);
	return page;
}

static struct kmm_page *rmqueue(const struct alloc_context *ac, struct kmm_zone *z,
				unsigned order, unsigned alloc_flags, int mt)
{
	struct kmm_page *page;

	if (pcp_allowed_order(order)) {
		page = rmqueue_pcplist(ac, z, order, mt, alloc_flags);
		if (page)
			return page;
	}
	return rmqueue_buddy(ac, z, order, alloc_flags, mt);
}

static long zone_watermark_unusable_free(struct kmm_zone *z, unsigned order,
					 unsigned alloc_flags)
{
	long unusable = (1L << order) - 1;

	if (!(alloc_flags & ALLOC_RESERVES))
		unusable += kmm_zone_page_state(z, KMM_NR_FREE_HIGHATOMIC);
	if (!(alloc_flags & ALLOC_CMA))
		unusable += kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES);
	return unusable;
}

static bool __zone_watermark_ok(struct kmm_zone *z, unsigned order,
				unsigned long mark, int highest_zoneidx,
				unsigned alloc_flags, long free_pages)
{
	long min = (long)mark;
	unsigned o;

	free_pages -= zone_watermark_unusable_free(z, order, alloc_flags);
	if (alloc_flags & ALLOC_RESERVES) {
		if (alloc_flags & ALLOC_MIN_RESERVE) {
			min -= min / 2;
			if (alloc_flags & ALLOC_NON_BLOCK)
				min -= min / 4;
		}
		if (alloc_flags & ALLOC_OOM)
			min -= min / 2;
	}
	if (free_pages <= min + z->lowmem_reserve[highest_zoneidx])
		return false;
	if (!order)
		return true;
	for (o = order; o < KMM_NR_PAGE_ORDERS; o++) {
		struct kmm_free_area *a = &z->free_area[o];
		int mt;

		if (!__atomic_load_n(&a->nr_free, __ATOMIC_RELAXED))
			continue;
		for (mt = 0; mt < KMM_MIGRATE_PCPTYPES; mt++)
			if (__atomic_load_n(&a->nr_free_mt[mt], __ATOMIC_RELAXED))
				return true;
		if ((alloc_flags & ALLOC_CMA) &&
		    __atomic_load_n(&a->nr_free_mt[KMM_MIGRATE_CMA], __ATOMIC_RELAXED))
			return true;
		if ((alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) &&
		    __atomic_load_n(&a->nr_free_mt[KMM_MIGRATE_HIGHATOMIC],
				    __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/* reserve_highatomic_pageblock() */
static void reserve_highatomic_pageblock(struct kmm_page *page, unsigned order,
					 struct kmm_zone *z)
{
	unsigned long max_managed = KMM_ALIGN_UP(z->managed_pages / 100,
						 KMM_PAGEBLOCK_NR_PAGES);
	uint64_t pfn = kmm_page_to_pfn(page);
	int mt;

	if (__atomic_load_n(&z->nr_reserved_highatomic, __ATOMIC_RELAXED) >= max_managed)
		return;
	kmm_port_lock(&z->lock);
	if (z->nr_reserved_highatomic >= max_managed)
		goto out;
	mt = get_pfnblock_mt(z, pfn);
	if (!migratetype_is_mergeable(mt))
		goto out;
	if (order < KMM_PAGEBLOCK_ORDER) {
		if (move_freepages_block(z, page, KMM_MIGRATE_HIGHATOMIC) < 0)
			goto out;
		ctr_add(&z->nr_reserved_highatomic, KMM_PAGEBLOCK_NR_PAGES);
	} else {
		change_pageblock_range(z, pfn, order, KMM_MIGRATE_HIGHATOMIC);
		ctr_add(&z->nr_reserved_highatomic, 1UL << order);
	}
	kmm_stat_inc(KMM_STAT_HIGHATOMIC_RESERVE);
out:
	kmm_port_unlock(&z->lock);
}

/* unreserve_highatomic_pageblock(): give one reserved block back. */
static bool unreserve_highatomic_pageblock(const struct alloc_context *ac,
					   bool force)
{
	int i;

	for (i = 0; i < ac->zonelist->nr; i++) {
		struct kmm_zone *z = ac->zonelist->zones[i];
		unsigned o;

		if (z->type > ac->highest_zoneidx)
			continue;
		if (!force && __atomic_load_n(&z->nr_reserved_highatomic,
					      __ATOMIC_RELAXED) <= KMM_PAGEBLOCK_NR_PAGES)
			continue;
		kmm_port_lock(&z->lock);
		for (o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
			struct kmm_page *page = get_page_from_free_area(
				&z->free_area[o], KMM_MIGRATE_HIGHATOMIC);
			unsigned long size;
			long ret;

			if (!page)
				continue;
			size = KMM_MAX(KMM_PAGEBLOCK_NR_PAGES, 1UL << o);
			size = KMM_MIN(size, z->nr_reserved_highatomic);
			ctr_add(&z->nr_reserved_highatomic, -size);
			if (o < KMM_PAGEBLOCK_ORDER) {
				ret = move_freepages_block(z, page, ac->migratetype);
			} else {
				move_to_free_list(page, z, o, KMM_MIGRATE_HIGHATOMIC,
						  ac->migratetype);
				change_pageblock_range(z, kmm_page_to_pfn(page), o,
						       ac->migratetype);
				ret = 1;
			}
			if (ret > 0) {
				kmm_port_unlock(&z->lock);
				kmm_stat_inc(KMM_STAT_HIGHATOMIC_UNRESERVE);
				return true;
			}
		}
		kmm_port_unlock(&z->lock);
	}
	return false;
}

/*
 * post_alloc_hook()'s init decision: zero a new block when init_on_alloc=1
 * or the caller asked (__GFP_ZERO), unless init_on_free=1 already zeroed
 * every free page (then zeroing again would only cost time: every way into
 * the free lists, free_pages_prepare() and kmm__cma_activate_range(),
 * zeroes under init_on_free, and boot memory is a fresh memfd).
 * __GFP_SKIP_ZERO changes nothing here: in the kernel it only takes effect
 * with hardware tag-based KASAN (should_skip_init()), which kmm has not.
 * contig.c makes the same decision for alloc_contig_range().
 */
bool kmm__want_init_on_alloc(kmm_gfp_t gfp)
{
	if (kmm_machine.params.mode == KMM_MODE_SHADOW || kmm_machine.params.init_on_free)
		return false;
	return kmm_machine.params.init_on_alloc || (gfp & KMM___GFP_ZERO);
}

static void prep_new_page(struct kmm_page *page, unsigned order, kmm_gfp_t gfp,
			  int mt)
{
	bool zero = kmm__want_init_on_alloc(gfp);

	kmm_page_flags_set_all(page, kmm_page_flags(page) &
				     ~((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp)));
	page->private = 0;
	kmm_page_set_mapping(page, NULL);
	page->index = 0;
	page->alloc_order = (uint8_t)order;
	page->alloc_mt = (uint8_t)mt;
	atomic_store_explicit(&page->_refcount, 1, memory_order_relaxed);
	if ((gfp & KMM___GFP_COMP) && order) {
		uint64_t i, n = 1ULL << order, head = kmm_page_to_pfn(page);

		kmm_page_set(page, KMM_PG_head);
		for (i = 1; i < n; i++) {
			kmm_page_set(&page[i], KMM_PG_tail);
			page[i].private = head;
		}
	}
	if (zero)
		kmm_memset(kmm_page_address(page), 0, KMM_PAGE_SIZE << order);
}

/* alloc_flags_nofragment(): avoid fragmenting Normal while DMA32 exists. */
static unsigned alloc_flags_nofragment(struct kmm_zone *z)
{
	if (z->type != KMM_ZONE_NORMAL)
		return 0;
	if (!kmm_zone_managed(&z->zone_pgdat->node_zones[KMM_ZONE_DMA32]))
		return 0;
	return ALLOC_NOFRAGMENT;
}

static unsigned gfp_to_alloc_flags_cma(kmm_gfp_t gfp, unsigned alloc_flags)
{
	if (kmm_gfp_migratetype(gfp) == KMM_MIGRATE_MOVABLE)
		alloc_flags |= ALLOC_CMA;
	return alloc_flags;
}

static struct kmm_page *get_page_from_freelist(kmm_gfp_t gfp, unsigned order,
					       unsigned alloc_flags,
					       const struct alloc_context *ac)
{
	bool no_fallback;
	int i;

retry:
	no_fallback = alloc_flags & ALLOC_NOFRAGMENT;
	for (i = 0; i < ac->zonelist->nr; i++) {
		struct kmm_zone *z = ac->zonelist->zones[i];
		unsigned long mark;
		struct kmm_page *page;

		if (z->type > ac->highest_zoneidx)
			continue;
		if (no_fallback && kmm_machine.nr_nodes > 1 && z != ac->preferred_zone &&
		    z->zone_pgdat->node_id != ac->preferred_zone->zone_pgdat->node_id) {
			alloc_flags &= ~ALLOC_NOFRAGMENT;
			goto retry;
		}
		if (!(__atomic_load_n(&z->flags, __ATOMIC_RELAXED) & KMM_ZONE_BELOW_HIGH)) {
			mark = kmm_wmark_pages(z, KMM_WMARK_HIGH);
			if (zone_watermark_ok(z, order, mark, (int)ac->highest_zoneidx,
					      alloc_flags))
				goto try_this_zone;
			__atomic_or_fetch(&z->flags, KMM_ZONE_BELOW_HIGH,
					  __ATOMIC_RELAXED);
		}
		mark = kmm_wmark_pages(z, (enum kmm_zone_wmark)(alloc_flags &
								 ALLOC_WMARK_MASK));
		if (!zone_watermark_ok(z, order, mark, (int)ac->highest_zoneidx,
				       alloc_flags)) {
			zone_event(z, KMM_ZEV_ALLOC_FAIL, 1);
			continue;
		}
try_this_zone:
		page = rmqueue(ac, z, order, alloc_flags, ac->migratetype);
		if (page) {
			prep_new_page(page, order, gfp, ac->migratetype);
			if (alloc_flags & ALLOC_HIGHATOMIC)
				reserve_highatomic_pageblock(page, order, z);
			return page;
		}
		zone_event(z, KMM_ZEV_ALLOC_FAIL, 1);
	}
	if (no_fallback) {
		alloc_flags &= ~ALLOC_NOFRAGMENT;
		goto retry;
	}
	return NULL;
}

static unsigned gfp_to_alloc_flags(kmm_gfp_t gfp, unsigned order)
{
	unsigned f = ALLOC_WMARK_MIN | ALLOC_CPUSET;

	if (gfp & KMM___GFP_HIGH)
		f |= ALLOC_MIN_RESERVE;
	if (gfp & KMM___GFP_KSWAPD_RECLAIM)
		f |= ALLOC_KSWAPD;
	if (!(gfp & KMM___GFP_DIRECT_RECLAIM)) {
		if (!(gfp & KMM___GFP_NOMEMALLOC))
			f |= ALLOC_NON_BLOCK;
		if (order > 0 && (f & ALLOC_MIN_RESERVE))
			f |= ALLOC_HIGHATOMIC;
	}
	return gfp_to_alloc_flags_cma(gfp, f);
}

static void warn_alloc(kmm_gfp_t gfp, unsigned order, int nid)
{
	char flags[256];

	if (gfp & KMM___GFP_NOWARN)
		return;
	kmm_format_gfp(flags, sizeof(flags), gfp);
	kmm_pr_warn("page allocation failure: order:%u, mode:%#x(%s), nodemask=(null), node:%d",
		    order, gfp, flags, nid);
}

static bool prepare_alloc_pages(kmm_gfp_t gfp, unsigned order, int nid,
				struct alloc_context *ac)
{
	struct kmm_pglist_data *pg = kmm_NODE_DATA(nid);
	int i;

	ac->highest_zoneidx = kmm_gfp_zone(gfp);
	ac->zonelist = &pg->node_zonelists[(gfp & KMM___GFP_THISNODE)
						   ? KMM_ZONELIST_NOFALLBACK
						   : KMM_ZONELIST_FALLBACK];
	ac->migratetype = kmm_gfp_migratetype(gfp);
	if (ac->migratetype >= KMM_MIGRATE_PCPTYPES)
		ac->migratetype = KMM_MIGRATE_UNMOVABLE;	/* both bits: kernel BUGs */
	ac->preferred_nid = nid;
	ac->cpu = kmm_smp_processor_id();
	ac->local_nid = kmm_cpu_to_node(ac->cpu);
	ac->preferred_zone = NULL;
	for (i = 0; i < ac->zonelist->nr; i++) {
		if (ac->zonelist->zones[i]->type <= ac->highest_zoneidx) {
			ac->preferred_zone = ac->zonelist->zones[i];
			break;
		}
	}
	if (!ac->preferred_zone)
		return false;
	if (kmm_fault_armed(&kmm_fail_page_alloc) &&
	    order >= kmm_fail_page_alloc.min_order && !(gfp & KMM___GFP_NOFAIL) &&
	    !(kmm_fail_page_alloc.ignore_gfp_reclaim &&
	      (gfp & KMM___GFP_DIRECT_RECLAIM)) &&
	    kmm_should_fail(&kmm_fail_page_alloc, KMM_PAGE_SIZE << order)) {
		kmm_stat_inc(KMM_STAT_ALLOC_FAIL_INJECTED);
		return false;
	}
	return true;
}

static struct kmm_page *alloc_pages_slowpath(kmm_gfp_t gfp, unsigned order,
					     const struct alloc_context *ac)
{
	unsigned alloc_flags = gfp_to_alloc_flags(gfp, order);
	struct kmm_page *page;

	kmm_stat_inc(KMM_STAT_ALLOC_SLOWPATH);
	page = get_page_from_freelist(gfp, order, alloc_flags, ac);
	if (page)
		return page;
	if (gfp & KMM___GFP_DIRECT_RECLAIM) {
		/* Where the kernel reclaims: free reserves and pcp pages, retry. */
		unreserve_highatomic_pageblock(ac, false);
		kmm_drain_all_pages(NULL);
		page = get_page_from_freelist(gfp, order, alloc_flags, ac);
		if (page)
			return page;
	}
	if (gfp & KMM___GFP_NOFAIL) {
		/* The kernel would loop forever; kmm digs into the reserves once. */
		page = get_page_from_freelist(gfp, order,
					      alloc_flags | ALLOC_MIN_RESERVE |
						      ALLOC_NON_BLOCK | ALLOC_OOM,
					      ac);
		if (page)
			return page;
		kmm_pr_err("__GFP_NOFAIL allocation of order %u failed: the machine is out of memory",
			   order);
	}
	return NULL;
}

struct kmm_page *kmm_alloc_pages_node(int nid, kmm_gfp_t gfp, unsigned order)
{
	struct alloc_context ac;
	struct kmm_page *page;
	unsigned alloc_flags;

	if (order > KMM_MAX_PAGE_ORDER) {
		if (!(gfp & KMM___GFP_NOWARN))
			kmm_pr_warn("WARNING: page allocation of order %u > MAX_PAGE_ORDER (%d)",
				    order, KMM_MAX_PAGE_ORDER);
		kmm_stat_inc(KMM_STAT_ALLOC_FAIL_ORDER);
		kmm_stat_inc(KMM_STAT_ALLOC_FAIL);
		return NULL;
	}
	if (nid < 0 || nid >= (int)kmm_machine.nr_nodes)
		nid = kmm_machine.nr_nodes > 1 ? kmm_numa_node_id() : 0;
	if (!prepare_alloc_pages(gfp, order, nid, &ac)) {
		kmm_stat_inc(KMM_STAT_ALLOC_FAIL);
		return NULL;
	}
	alloc_flags = ALLOC_WMARK_LOW | alloc_flags_nofragment(ac.preferred_zone);
	alloc_flags = gfp_to_alloc_flags_cma(gfp, alloc_flags);
	page = get_page_from_freelist(gfp, order, alloc_flags, &ac);
	if (!page)
		page = alloc_pages_slowpath(gfp, order, &ac);
	if (!page) {
		kmm_stat_inc(KMM_STAT_ALLOC_FAIL);
		warn_alloc(gfp, order, nid);
	}
	return page;
}

struct kmm_page *kmm_alloc_pages(kmm_gfp_t gfp, unsigned order)
{
	return kmm_alloc_pages_node(-1, gfp, order);
}

unsigned long kmm___get_free_pages(kmm_gfp_t gfp, unsigned order)
{
	struct kmm_page *page = kmm_alloc_pages(gfp & ~KMM___GFP_HIGHMEM, order);

	return page ? (unsigned long)kmm_page_address(page) : 0;
}

unsigned long kmm_get_zeroed_page(kmm_gfp_t gfp)
{
	return kmm___get_free_pages(gfp | KMM___GFP_ZERO, 0);
}

unsigned long kmm_alloc_pages_bulk(kmm_gfp_t gfp, int nid, unsigned long nr_pages,
				   struct kmm_page **page_array)
{
	struct alloc_context ac;
	struct kmm_per_cpu_pages *pcp;
	struct kmm_zone *z = NULL;
	unsigned long nr_populated = 0, nr_account = 0;
	unsigned alloc_flags;
	struct kmm_page *page;
	int i;

	while (nr_populated < nr_pages && page_array[nr_populated])
		nr_populated++;
	if (nr_populated == nr_pages)
		return nr_populated;
	if (nr_pages - nr_populated == 1)
		goto failed;
	if (nid < 0 || nid >= (int)kmm_machine.nr_nodes)
		nid = kmm_numa_node_id();
	if (!prepare_alloc_pages(gfp, 0, nid, &ac))
		return nr_populated;	/* as the kernel: no single-page retry */
	alloc_flags = ALLOC_WMARK_LOW | alloc_flags_nofragment(ac.preferred_zone);
	alloc_flags = gfp_to_alloc_flags_cma(gfp, alloc_flags);
	for (i = 0; i < ac.zonelist->nr; i++) {
		struct kmm_zone *c = ac.zonelist->zones[i];

		if (c->type > ac.highest_zoneidx)
			continue;
		if (c->zone_pgdat->node_id != ac.preferred_zone->zone_pgdat->node_id &&
		    (alloc_flags & ALLOC_NOFRAGMENT))
			break;
		if (zone_watermark_ok(c, 0, kmm_wmark_pages(c, KMM_WMARK_LOW),
				      (int)ac.highest_zoneidx, alloc_flags)) {
			z = c;
			break;
		}
	}
	if (!z)
		goto failed;
	pcp = cpu_pcp(z, ac.cpu);
	if (!kmm_port_spin_trylock(&pcp->lock))
		goto failed;
	while (nr_populated < nr_pages) {
		if (page_array[nr_populated]) {
			nr_populated++;
			continue;
		}
		page = __rmqueue_pcplist(z, 0, ac.migratetype, alloc_flags, pcp,
					 &pcp->lists[order_to_pindex(ac.migratetype, 0)]);
		if (!page) {
			if (!nr_account) {
				kmm_port_spin_unlock(&pcp->lock);
				goto failed;
			}
			break;
		}
		nr_account++;
		prep_new_page(page, 0, gfp, ac.migratetype);
		page_array[nr_populated++] = page;
	}
	if (nr_account)
		zone_statistics(ac.preferred_zone, z, pcp, ac.local_nid, nr_account);
	kmm_port_spin_unlock(&pcp->lock);
	return nr_populated;
failed:
	page = kmm_alloc_pages_node(nid, gfp, 0);
	if (page)
		page_array[nr_populated++] = page;
	return nr_populated;
}

/* ---- page isolation, zone side (the range logic is page_isolation.c) --- */

/*
 * A free block of order > pageblock order covers several pageblocks; before
 * one of them changes its isolation, split it into pageblock-sized blocks,
 * each on the list of its own pageblock (the kernel's split_large_buddy()
 * in move_freepages_block_isolate()).  zone->lock held.
 */
static void split_buddy_over_pageblock(struct kmm_zone *z, uint64_t pb_pfn)
{
	unsigned order;

	for (order = KMM_PAGEBLOCK_ORDER + 1; order <= KMM_MAX_PAGE_ORDER; order++) {
		uint64_t head = pb_pfn & ~((1ULL << order) - 1), pfn;
		struct kmm_page *hp;
		int mt;

		if (!zone_spans_pfn(z, head))
			continue;
		hp = kmm_pfn_to_page(head);
		if (!kmm_page_test(hp, KMM_PG_buddy) || hp->private != order)
			continue;
		mt = hp->alloc_mt;
		__del_from_free_list(hp, z, order, mt);
		account_freepages(z, -(1L << order), mt);
		for (pfn = head; pfn < head + (1ULL << order); pfn += KMM_PAGEBLOCK_NR_PAGES) {
			int pmt = get_pfnblock_mt(z, pfn);

			__add_to_free_list(kmm_pfn_to_page(pfn), z, KMM_PAGEBLOCK_ORDER, pmt, true);
			account_freepages(z, (long)KMM_PAGEBLOCK_NR_PAGES, pmt);
		}
		return;
	}
}

bool kmm__pageblock_isolated(struct kmm_zone *z, uint64_t pfn)
{
	return __atomic_load_n(pb_byte(z, pfn), __ATOMIC_RELAXED) & KMM_PB_ISOLATE;
}

int kmm__pageblock_mt(struct kmm_zone *z, uint64_t pfn)
{
	return __atomic_load_n(pb_byte(z, pfn), __ATOMIC_RELAXED) & KMM_PB_MIGRATETYPE_MASK;
}

int kmm__isolate_pageblock_locked(struct kmm_zone *z, uint64_t pb_pfn)
{
	uint8_t *b = pb_byte(z, pb_pfn);
	uint64_t pfn, end = pb_pfn + KMM_PAGEBLOCK_NR_PAGES;

	if (*b & KMM_PB_ISOLATE)
		return -KMM_EBUSY;
	if (!zone_spans_pfn(z, pb_pfn) || !zone_spans_pfn(z, end - 1))
		return -KMM_EINVAL;
	split_buddy_over_pageblock(z, pb_pfn);
	__atomic_store_n(b, (uint8_t)(*b | KMM_PB_ISOLATE), __ATOMIC_RELAXED);
	/*
	 * Each block leaves its list and is freed again onto the Isolate
	 * list, so it merges with an Isolate buddy: a free pageblock next to
	 * an isolated one (the other half of a split order-10 block) joins
	 * it, as it would have if it had been freed there.  Blocks of this
	 * pageblock further on that the merge takes along are accounted by
	 * __free_one_page().
	 */
	for (pfn = pb_pfn; pfn < end;) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		unsigned order;
		int mt;

		if (!kmm_page_test(p, KMM_PG_buddy)) {
			pfn++;
			continue;
		}
		order = (unsigned)p->private;
		mt = p->alloc_mt;
		__del_from_free_list(p, z, order, mt);
		account_freepages(z, -(1L << order), mt);
		__free_one_page(p, pfn, z, order, KMM_MIGRATE_ISOLATE, FPI_NONE);
		pfn += 1ULL << order;
	}
	return 0;
}

void kmm__unisolate_pageblock_locked(struct kmm_zone *z, uint64_t pb_pfn)
{
	uint8_t *b = pb_byte(z, pb_pfn);
	uint64_t pfn, end = pb_pfn + KMM_PAGEBLOCK_NR_PAGES;
	int mt;

	if (!(*b & KMM_PB_ISOLATE))
		return;
	/* Two isolated neighbours' free blocks may have merged to one of
	 * order 10: split it, both halves still Isolate, before this half
	 * leaves. */
	split_buddy_over_pageblock(z, pb_pfn);
	__atomic_store_n(b, (uint8_t)(*b & ~KMM_PB_ISOLATE), __ATOMIC_RELAXED);
	mt = *b & KMM_PB_MIGRATETYPE_MASK;
	/*
	 * Each block leaves the Isolate list and is freed again with the
	 * pageblock's type, so it merges with its buddies (including ones
	 * still on the Isolate list further on, which the merge takes along
	 * and accounts): the kernel's __putback_isolated_page().
	 */
	for (pfn = pb_pfn; pfn < end;) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		unsigned order;

		if (!kmm_page_test(p, KMM_PG_buddy) || p->alloc_mt != KMM_MIGRATE_ISOLATE) {
			pfn++;
			continue;
		}
		order = (unsigned)p->private;
		__del_from_free_list(p, z, order, KMM_MIGRATE_ISOLATE);
		__free_one_page(p, pfn, z, order, mt, FPI_NONE);
		pfn += 1ULL << order;
	}
}

/* The free block covering @pfn (its head), or NULL.  zone->lock held. */
static struct kmm_page *free_block_covering(struct kmm_zone *z, uint64_t pfn, unsigned *orderp)
{
	unsigned o;

	for (o = 0; o <= KMM_MAX_PAGE_ORDER; o++) {
		uint64_t head = pfn & ~((1ULL << o) - 1);
		struct kmm_page *hp;

		if (!zone_spans_pfn(z, head))
			break;
		hp = kmm_pfn_to_page(head);
		if (kmm_page_test(hp, KMM_PG_buddy) && hp->private >= o) {
			*orderp = (unsigned)hp->private;
			return hp;
		}
	}
	return NULL;
}

int kmm__test_pages_isolated_locked(struct kmm_zone *z, uint64_t start, uint64_t end,
				    uint64_t *bad_pfn)
{
	uint64_t pfn = start;

	while (pfn < end) {
		unsigned order;
		struct kmm_page *hp;

		if (!zone_spans_pfn(z, pfn) || !kmm__pageblock_isolated(z, pfn))
			goto busy;
		hp = free_block_covering(z, pfn, &order);
		if (!hp || hp->alloc_mt != KMM_MIGRATE_ISOLATE)
			goto busy;
		pfn = kmm_page_to_pfn(hp) + (1ULL << order);
	}
	return 0;
busy:
	if (bad_pfn)
		*bad_pfn = pfn;
	return -KMM_EBUSY;
}

/* Free [a, b) as the largest aligned blocks on the Isolate list. */
static void add_isolated_pieces(struct kmm_zone *z, uint64_t a, uint64_t b)
{
	while (a < b) {
		unsigned o = a ? KMM_MIN((unsigned)__builtin_ctzll(a), (unsigned)KMM_MAX_PAGE_ORDER)
			       : KMM_MAX_PAGE_ORDER;

		while (a + (1ULL << o) > b)
			o--;
		__add_to_free_list(kmm_pfn_to_page(a), z, o, KMM_MIGRATE_ISOLATE, false);
		a += 1ULL << o;
	}
}

int kmm__take_isolated_range_locked(struct kmm_zone *z, uint64_t start, uint64_t end,
				    uint64_t *bad_pfn)
{
	uint64_t pfn;
	int ret = kmm__test_pages_isolated_locked(z, start, end, bad_pfn);

	if (ret)
		return ret;
	for (pfn = start; pfn < end;) {
		unsigned order;
		struct kmm_page *hp = free_block_covering(z, pfn, &order);
		uint64_t bs = kmm_page_to_pfn(hp), be = bs + (1ULL << order), q;

		__del_from_free_list(hp, z, order, KMM_MIGRATE_ISOLATE);
		add_isolated_pieces(z, bs, start > bs ? start : bs);
		add_isolated_pieces(z, end < be ? end : be, be);
		for (q = KMM_MAX(bs, start); q < KMM_MIN(be, end); q++) {
			struct kmm_page *p = kmm_pfn_to_page(q);

			/* As an order-0 allocation of the pageblock's own type. */
			kmm_page_flags_set_all(p, kmm_page_flags(p) &
						  ~((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp)));
			p->private = 0;
			kmm_page_set_mapping(p, NULL);
			p->index = 0;
			p->alloc_order = 0;
			p->alloc_mt = (uint8_t)kmm__pageblock_mt(z, q);
			atomic_store_explicit(&p->_mapcount, -1, memory_order_relaxed);
			atomic_store_explicit(&p->_refcount, 1, memory_order_relaxed);
		}
		zone_event(z, KMM_ZEV_ALLOC, 1);
		pfn = be;
	}
	return 0;
}

int kmm__cma_activate_range(uint64_t start, uint64_t count)
{
	struct kmm_zone *z;
	uint64_t pfn, k;

	if (!count || (start | count) & (KMM_PAGEBLOCK_NR_PAGES - 1) ||
	    !kmm_pfn_valid(start) || !kmm_pfn_valid(start + count - 1))
		return -KMM_EINVAL;
	z = kmm_page_zone(kmm_pfn_to_page(start));
	if (!zone_spans_pfn(z, start) || !zone_spans_pfn(z, start + count - 1))
		return -KMM_EINVAL;
	for (pfn = start; pfn < start + count; pfn++) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);

		if (kmm_page_ref_count(p) != 1 || p->alloc_order != 0 ||
		    (kmm_page_flags(p) & ((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp) |
					  (1ULL << KMM_PG_reserved) | (1ULL << KMM_PG_lru) |
					  (1ULL << KMM_PG_anon) | (1ULL << KMM_PG_head) |
					  (1ULL << KMM_PG_tail) | (1ULL << KMM_PG_cma))) ||
		    atomic_load_explicit(&p->_mapcount, memory_order_relaxed) != -1)
			return -KMM_EINVAL;
	}
	/* cma_activate_area(): whole pageblocks, straight to the zone.  The
	 * pages were the caller's: under init_on_free they are zeroed as the
	 * kernel's __free_pages() of each pageblock would (the free lists
	 * hold only zeroed pages then, and allocation does not zero again). */
	for (pfn = start; pfn < start + count; pfn += KMM_PAGEBLOCK_NR_PAGES) {
		struct kmm_page *page = kmm_pfn_to_page(pfn);

		if (kmm_machine.params.init_on_free && kmm_machine.params.mode != KMM_MODE_SHADOW)
			kmm_memset(kmm_page_address(page), 0,
				   KMM_PAGE_SIZE << KMM_PAGEBLOCK_ORDER);

		for (k = 0; k < KMM_PAGEBLOCK_NR_PAGES; k++) {
			struct kmm_page *p = &page[k];

			atomic_store_explicit(&p->_refcount, 0, memory_order_relaxed);
			p->alloc_mt = 0;
			kmm_page_set(p, KMM_PG_cma);
		}
		kmm_port_lock(&z->lock);
		set_pfnblock_mt(z, pfn, KMM_MIGRATE_CMA);
		__free_one_page(page, pfn, z, KMM_PAGEBLOCK_ORDER, KMM_MIGRATE_CMA, FPI_NONE);
		kmm_port_unlock(&z->lock);
	}
	__atomic_fetch_add(&z->cma_pages, count, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kmm_machine.totalcma_pages, count, __ATOMIC_RELAXED);
	return 0;
}

/* ---- freeing ------------------------------------------------------------ */

static void bad_page(struct kmm_page *page, const char *reason)
{
	kmm_stat_inc(KMM_STAT_BAD_PAGE);
	kmm_pr_err("BUG: Bad page state: pfn:%05llx flags:%#llx refcount:%d mapcount:%d order:%u: %s",
		   (unsigned long long)kmm_page_to_pfn(page),
		   (unsigned long long)(kmm_page_flags(page) & 0xffffffffULL),
		   kmm_page_ref_count(page),
		   atomic_load_explicit(&page->_mapcount, memory_order_relaxed),
		   page->alloc_order, reason);
}

static bool page_in_memmap(const struct kmm_page *page)
{
	return kmm_machine.booted && page >= kmm_machine.mem_map &&
	       page < kmm_machine.mem_map + kmm_machine.max_pfn &&
	       /* a pointer into the middle of a struct page is no page */
	       ((uintptr_t)page - (uintptr_t)kmm_machine.mem_map) % sizeof(*page) == 0;
}

/* free_pages_prepare(): undo prep_new_page(); false if the page is bad. */
static bool free_pages_prepare(struct kmm_page *page, unsigned order)
{
	if (atomic_load_explicit(&page->_mapcount, memory_order_relaxed) != -1) {
		bad_page(page, "nonzero mapcount");
		return false;
	}
	if (kmm_page_test(page, KMM_PG_head)) {
		uint64_t i, n = 1ULL << order;

		for (i = 1; i < n; i++) {
			kmm_page_clear(&page[i], KMM_PG_tail);
			page[i].private = 0;
		}
	}
	kmm_page_flags_set_all(page, kmm_page_flags(page) &
				     ~((1ULL << KMM_PG_head) | (1ULL << KMM_PG_lru) |
				       (1ULL << KMM_PG_anon) | (1ULL << KMM_PG_vmalloc) |
				       (1ULL << KMM_PG_pgtable) | (1ULL << KMM_PG_locked) |
				       (1ULL << KMM_PG_isolated)));
	kmm_page_set_mapping(page, NULL);
	page->index = 0;
	page->alloc_order = 0;
	if (kmm_machine.params.init_on_free && kmm_machine.params.mode != KMM_MODE_SHADOW)
		kmm_memset(kmm_page_address(page), 0, KMM_PAGE_SIZE << order);
	return true;
}

/* free_frozen_pages(): the block's last reference is gone. */
static void free_frozen_pages(struct kmm_page *page, unsigned order)
{
	struct kmm_zone *z = kmm_page_zone(page);
	uint64_t pfn = kmm_page_to_pfn(page);
	struct kmm_per_cpu_pages *pcp;
	int mt;

	if (!free_pages_prepare(page, order))
		return;
	if (!pcp_allowed_order(order)) {
		free_one_page(z, page, pfn, order, FPI_NONE);
		return;
	}
	mt = get_pfnblock_mt(z, pfn);
	if (mt >= KMM_MIGRATE_PCPTYPES) {
		if (mt == KMM_MIGRATE_ISOLATE) {
			free_one_page(z, page, pfn, order, FPI_NONE);
			return;
		}
		mt = KMM_MIGRATE_MOVABLE;	/* CMA and HighAtomic ride Movable */
	}
	pcp = cpu_pcp(z, kmm_smp_processor_id());
	if (!kmm_port_spin_trylock(&pcp->lock)) {
		free_one_page(z, page, pfn, order, FPI_NONE);
		return;
	}
	free_to_pcp(z, pcp, page, mt, order);
	kmm_port_spin_unlock(&pcp->lock);
}

/* Drop one reference of an allocated head; check state first. */
static void put_block(struct kmm_page *page, unsigned order, bool order_known)
{
	int old;

	if (!page_in_memmap(page)) {
		kmm_stat_inc(KMM_STAT_BAD_PAGE);
		kmm_pr_err("BUG: freeing %p: not a page of this machine", (void *)page);
		return;
	}
	if (kmm_page_test(page, KMM_PG_tail)) {
		bad_page(page, "freeing a tail page");
		return;
	}
	if (kmm_page_test(page, KMM_PG_buddy) || kmm_page_test(page, KMM_PG_pcp)) {
		bad_page(page, "freeing a free page (double free)");
		return;
	}
	if (kmm_page_test(page, KMM_PG_reserved)) {
		bad_page(page, "freeing a reserved page");
		return;
	}
	if (order_known && order != page->alloc_order) {
		char why[96];

		kmm_scnprintf(why, sizeof(why),
			      "freed with order %u, allocated with order %u", order,
			      page->alloc_order);
		bad_page(page, why);
		return;
	}
	order = page->alloc_order;
	old = atomic_load_explicit(&page->_refcount, memory_order_relaxed);
	do {
		if (old <= 0) {
			bad_page(page, "freeing a page with refcount 0 (double free?)");
			return;
		}
	} while (!atomic_compare_exchange_weak(&page->_refcount, &old, old - 1));
	if (old == 1) {
		free_frozen_pages(page, order);
	} else if (order_known && !kmm_page_test(page, KMM_PG_head) && order) {
		/*
		 * __free_pages() of a non-compound block someone else still
		 * holds a reference to: free all but the head page now; the
		 * head goes when its last reference does.
		 */
		page->alloc_order = 0;
		while (order-- > 0) {
			struct kmm_page *p = page + (1UL << order);

			p->alloc_order = (uint8_t)order;
			free_frozen_pages(p, order);
		}
	}
}

void kmm___free_pages(struct kmm_page *page, unsigned order)
{
	if (!page) {
		kmm_stat_inc(KMM_STAT_BAD_PAGE);
		kmm_pr_err("BUG: __free_pages(NULL)");
		return;
	}
	put_block(page, order, true);
}

void kmm_free_pages(unsigned long addr, unsigned order)
{
	struct kmm_page *page;

	if (!addr)
		return;
	page = kmm_virt_to_page((const void *)addr);
	if (!page || (addr & ~KMM_PAGE_MASK)) {
		kmm_stat_inc(KMM_STAT_BAD_PAGE);
		kmm_pr_err("BUG: free_pages(%#lx): not a page-aligned direct-map address",
			   addr);
		return;
	}
	put_block(page, order, true);
}

void kmm_split_page(struct kmm_page *page, unsigned order)
{
	uint64_t i, n = 1ULL << order;

	if (!page_in_memmap(page)) {
		/* bad_page() would read through it */
		kmm_stat_inc(KMM_STAT_BAD_PAGE);
		kmm_pr_err("BUG: split_page(%p): not a page of this machine", (void *)page);
		return;
	}
	if (kmm_page_test(page, KMM_PG_head) ||
	    kmm_page_ref_count(page) != 1 || page->alloc_order != order) {
		bad_page(page, "split_page of a compound, shared or mis-ordered block");
		return;
	}
	for (i = 0; i < n; i++) {
		page[i].alloc_order = 0;
		page[i].alloc_mt = page->alloc_mt;
		atomic_store_explicit(&page[i]._refcount, 1, memory_order_relaxed);
	}
}

static struct kmm_page *compound_head(struct kmm_page *page)
{
	if (kmm_page_test(page, KMM_PG_tail))
		return kmm_pfn_to_page(page->private);
	return page;
}

void kmm_get_page(struct kmm_page *page)
{
	int old;

	if (!page_in_memmap(page)) {
		kmm_pr_err("BUG: get_page(%p): not a page of this machine", (void *)page);
		return;
	}
	page = compound_head(page);
	old = atomic_load_explicit(&page->_refcount, memory_order_relaxed);
	do {
		if (old <= 0) {
			bad_page(page, "get_page on a free page");
			return;
		}
	} while (!atomic_compare_exchange_weak(&page->_refcount, &old, old + 1));
}

void kmm_put_page(struct kmm_page *page)
{
	if (!page_in_memmap(page)) {
		kmm_stat_inc(KMM_STAT_BAD_PAGE);
		kmm_pr_err("BUG: put_page(%p): not a page of this machine", (void *)page);
		return;
	}
	put_block(compound_head(page), 0, false);
}

void kmm_drain_all_pages(struct kmm_zone *zone)
{
	unsigned nid, cpu;
	int zi;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &kmm_machine.node_data[nid]->node_zones[zi];

			if ((zone && z != zone) || !z->per_cpu_pageset)
				continue;
			for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
				struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];

				kmm_port_spin_lock(&pcp->lock);
				free_pcppages_bulk(z, pcp->count, pcp, 0);
				kmm_port_spin_unlock(&pcp->lock);
			}
		}
	}
}

uint64_t kmm_nr_free_pages(void)
{
	uint64_t sum = 0;
	unsigned nid;
	int zi;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++)
			sum += (uint64_t)kmm_zone_page_state(
				&kmm_machine.node_data[nid]->node_zones[zi],
				KMM_NR_FREE_PAGES);
	return sum;
}

/* ---- boot-time setup --------------------------------------------------- */

#define for_each_zone(z, nid, zi)                                          \
	for ((nid) = 0; (nid) < kmm_machine.nr_nodes; (nid)++)             \
		for ((zi) = 0; (zi) < KMM_MAX_NR_ZONES; (zi)++)            \
			if (((z) = &kmm_machine.node_data[nid]->node_zones[zi]), 1)

/* nr_free_buffer_pages(): managed pages above the high mark, zones <= Normal. */
static uint64_t nr_free_buffer_pages(void)
{
	struct kmm_zone *z;
	unsigned nid;
	int zi;
	uint64_t sum = 0;

	for_each_zone(z, nid, zi) {
		unsigned long high = kmm_wmark_pages(z, KMM_WMARK_HIGH);

		if (zi > KMM_ZONE_NORMAL)
			continue;
		if (z->managed_pages > high)
			sum += z->managed_pages - high;
	}
	return sum;
}

static void setup_per_zone_lowmem_reserve(void)
{
	unsigned nid;
	int i, j;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		struct kmm_pglist_data *pg = kmm_machine.node_data[nid];

		for (i = 0; i < KMM_MAX_NR_ZONES; i++) {
			struct kmm_zone *z = &pg->node_zones[i];
			bool clear = !lowmem_reserve_ratio[i] || !kmm_zone_managed(z);
			uint64_t managed = 0;

			z->lowmem_reserve[i] = 0;
			for (j = i + 1; j < KMM_MAX_NR_ZONES; j++) {
				managed += pg->node_zones[j].managed_pages;
				z->lowmem_reserve[j] =
					clear ? 0 : (long)(managed / (uint64_t)lowmem_reserve_ratio[i]);
			}
		}
	}
}

static int zone_batchsize(const struct kmm_zone *z)
{
	uint64_t batch = KMM_MIN(z->managed_pages >> 10, 256ULL);

	batch /= 4;
	if (batch < 1)
		batch = 1;
	batch = kmm_rounddown_pow_of_two(batch + batch / 2) - 1;
	return (int)batch;
}

static int zone_highsize(const struct kmm_zone *z, int batch, int fraction)
{
	uint64_t total = fraction ? z->managed_pages / (uint64_t)fraction
				  : kmm_wmark_pages(z, KMM_WMARK_LOW);
	unsigned cpus = 0, cpu;
	uint64_t high;

	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
		if (kmm_cpu_to_node(cpu) == z->zone_pgdat->node_id)
			cpus++;
	if (!cpus)
		cpus = kmm_machine.nr_cpus;
	high = total / cpus;
	return (int)KMM_MAX(high, (uint64_t)batch << 2);
}

static void zone_pcp_update(struct kmm_zone *z)
{
	unsigned cpu;

	z->pcp_batch = KMM_MAX(1, zone_batchsize(z));
	z->pcp_high_min = zone_highsize(z, z->pcp_batch, 0);
	z->pcp_high_max = zone_highsize(z, z->pcp_batch,
					MIN_PERCPU_PAGELIST_HIGH_FRACTION);
	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
		struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];

		kmm_port_spin_lock(&pcp->lock);
		pcp->batch = z->pcp_batch;
		pcp->high_min = z->pcp_high_min;
		pcp->high_max = z->pcp_high_max;
		kmm_port_spin_unlock(&pcp->lock);
	}
}

/* calculate_normal_threshold() */
static int stat_threshold(const struct kmm_zone *z)
{
	uint64_t mem = z->managed_pages >> (27 - KMM_PAGE_SHIFT);
	int t = 2 * (int)kmm_fls64(kmm_machine.nr_cpus) * (1 + (int)kmm_fls64(mem));

	return KMM_MIN(125, t);
}

void kmm__setup_per_zone_wmarks(void)
{
	uint64_t pages_min = kmm_machine.min_free_kbytes >> (KMM_PAGE_SHIFT - 10);
	uint64_t lowmem = 0;
	struct kmm_zone *z;
	unsigned nid;
	int zi;

	for_each_zone(z, nid, zi)
		if (zi != KMM_ZONE_MOVABLE)
			lowmem += z->managed_pages;
	for_each_zone(z, nid, zi) {
		uint64_t tmp = lowmem ? pages_min * z->managed_pages / lowmem : 0;

		kmm_port_lock(&z->lock);
		if (zi == KMM_ZONE_MOVABLE) {
			uint64_t m = z->managed_pages / 1024;

			z->_watermark[KMM_WMARK_MIN] =
				(unsigned long)KMM_CLAMP(m, (uint64_t)SWAP_CLUSTER_MAX, 128ULL);
		} else {
			z->_watermark[KMM_WMARK_MIN] = (unsigned long)tmp;
		}
		tmp = KMM_MAX(tmp >> 2,
			      z->managed_pages * WATERMARK_SCALE_FACTOR / 10000);
		z->watermark_boost = 0;
		z->_watermark[KMM_WMARK_LOW] = z->_watermark[KMM_WMARK_MIN] + tmp;
		z->_watermark[KMM_WMARK_HIGH] = z->_watermark[KMM_WMARK_LOW] + tmp;
		z->_watermark[KMM_WMARK_PROMO] = z->_watermark[KMM_WMARK_HIGH] + tmp;
		kmm_port_unlock(&z->lock);
	}
	for_each_zone(z, nid, zi)
		if (z->per_cpu_pageset)
			zone_pcp_update(z);
}

/*
 * min_free_kbytes: int_sqrt(lowmem_kbytes * 16) in [128, 262144], then
 * THP's set_recommended_min_free_kbytes() when THP is enabled.
 */
static void init_min_free_kbytes(void)
{
	uint64_t lowmem_kb = nr_free_buffer_pages() * (KMM_PAGE_SIZE >> 10);
	uint64_t v = kmm_isqrt(lowmem_kb * 16);
	struct kmm_zone *z;
	unsigned nid;
	int zi;

	kmm_machine.min_free_kbytes = KMM_CLAMP(v, 128ULL, 262144ULL);
	kmm__setup_per_zone_wmarks();
	setup_per_zone_lowmem_reserve();
	if (kmm_machine.params.thp_enabled) {
		uint64_t nr_zones = 0, rec;

		for_each_zone(z, nid, zi)
			if (kmm_zone_is_populated(z) && zi <= KMM_ZONE_NORMAL)
				nr_zones++;
		rec = KMM_PAGEBLOCK_NR_PAGES * nr_zones * 2;
		rec += KMM_PAGEBLOCK_NR_PAGES * nr_zones * KMM_MIGRATE_PCPTYPES *
		       KMM_MIGRATE_PCPTYPES;
		rec = KMM_MIN(rec, nr_free_buffer_pages() / 20);
		rec <<= KMM_PAGE_SHIFT - 10;
		if (rec > kmm_machine.min_free_kbytes) {
			kmm_machine.min_free_kbytes = rec;
			kmm__setup_per_zone_wmarks();
		}
	}
}

/* ---- taking free blocks off the buddy, managed pages, sysctls ----------- */

/*
 * Break the free block (head @hp, order @ho, on list @mt) down to the
 * aligned order-@order block at @pfn inside it: each halving puts the
 * half without @pfn back on the free list (the kernel's
 * break_down_buddy_pages()); the block at @pfn leaves the lists.
 * zone->lock held.
 */
static void carve_free_block(struct kmm_zone *z, struct kmm_page *hp,
			     unsigned ho, uint64_t pfn, unsigned order, int mt)
{
	uint64_t head = kmm_page_to_pfn(hp);

	__del_from_free_list(hp, z, ho, mt);
	account_freepages(z, -(1L << ho), mt);
	while (ho > order) {
		uint64_t half = 1ULL << --ho;
		uint64_t other = (pfn - head) < half ? head + half : head;

		__add_to_free_list(kmm_pfn_to_page(other), z, ho, mt, false);
		account_freepages(z, (long)half, mt);
		if (other == head)
			head += half;
	}
}

int kmm_take_block_off_buddy(struct kmm_page *page, unsigned order)
{
	struct kmm_zone *z;
	uint64_t start, end, pfn;
	unsigned o;

	if (!page_in_memmap(page) || order > KMM_MAX_PAGE_ORDER)
		return -KMM_EINVAL;
	start = kmm_page_to_pfn(page);
	end = start + (1ULL << order);
	z = kmm_page_zone(page);
	if (start & ((1ULL << order) - 1) || !zone_spans_pfn(z, end - 1))
		return -KMM_EINVAL;

	kmm_port_lock(&z->lock);
	/* Every page must be in a free buddy block, none isolated. */
	for (pfn = start; pfn < end;) {
		struct kmm_page *hp = free_block_covering(z, pfn, &o);

		if (!hp || hp->alloc_mt == KMM_MIGRATE_ISOLATE ||
		    kmm__pageblock_isolated(z, pfn)) {
			kmm_port_unlock(&z->lock);
			return -KMM_EBUSY;
		}
		pfn = kmm_page_to_pfn(hp) + (1ULL << o);
	}
	for (pfn = start; pfn < end;) {
		struct kmm_page *hp = free_block_covering(z, pfn, &o);
		int mt = hp->alloc_mt;

		if (kmm_page_to_pfn(hp) < start || o > order) {
			carve_free_block(z, hp, o, start, order, mt);
			break;	/* one block held the whole range */
		}
		__del_from_free_list(hp, z, o, mt);
		account_freepages(z, -(1L << o), mt);
		pfn += 1ULL << o;
	}
	prep_new_page(page, order, KMM___GFP_SKIP_ZERO, get_pfnblock_mt(z, start));
	kmm_port_unlock(&z->lock);
	return 0;
}

int kmm_take_block_off_pcp(struct kmm_page *page, unsigned *order)
{
	struct kmm_zone *z;
	unsigned cpu;

	if (!page_in_memmap(page))
		return -KMM_EINVAL;
	z = kmm_page_zone(page);
	if (!z->per_cpu_pageset)
		return -KMM_EBUSY;
	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
		struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];
		int i;

		kmm_port_spin_lock(&pcp->lock);
		for (i = 0; i < KMM_NR_PCP_LISTS && kmm_page_test(page, KMM_PG_pcp); i++) {
			struct kmm_list_head *pos;

			kmm_list_for_each(pos, &pcp->lists[i]) {
				unsigned o;

				if (pos != &page->lru)
					continue;
				o = (unsigned)page->private;
				kmm_list_del(&page->lru);
				pcp->count -= 1 << o;
				prep_new_page(page, o, KMM___GFP_SKIP_ZERO,
					      get_pfnblock_mt(z, kmm_page_to_pfn(page)));
				kmm_port_spin_unlock(&pcp->lock);
				*order = o;
				return 0;
			}
		}
		kmm_port_spin_unlock(&pcp->lock);
	}
	return -KMM_EBUSY;
}

bool kmm_take_page_off_buddy(struct kmm_page *page)
{
	return kmm_take_block_off_buddy(page, 0) == 0;
}

long kmm_set_pageblock_migratetype(uint64_t pfn, int mt)
{
	struct kmm_zone *z;
	struct kmm_page *page;
	int old;
	long moved;

	if (mt != KMM_MIGRATE_UNMOVABLE && mt != KMM_MIGRATE_MOVABLE &&
	    mt != KMM_MIGRATE_RECLAIMABLE)
		return -KMM_EINVAL;
	if (!kmm_pfn_valid(pfn))
		return -KMM_EINVAL;
	page = kmm_pfn_to_page(pfn);
	z = kmm_page_zone(page);
	kmm_port_lock(&z->lock);
	old = get_pfnblock_mt(z, pfn);
	if (old == KMM_MIGRATE_CMA || old == KMM_MIGRATE_HIGHATOMIC ||
	    kmm__pageblock_isolated(z, pfn)) {
		kmm_port_unlock(&z->lock);
		return -KMM_EBUSY;
	}
	{
		/* A free block larger than a pageblock (order 10) is retyped
		 * whole, every pageblock of it, as change_pageblock_range()
		 * does for the kernel's block claims: else it would sit on one
		 * type's list across pageblocks of two types. */
		uint64_t pb = KMM_ALIGN_DOWN(pfn, KMM_PAGEBLOCK_NR_PAGES), p;
		unsigned o;
		struct kmm_page *hp = free_block_covering(z, pb, &o);

		if (hp && o > KMM_PAGEBLOCK_ORDER) {
			uint64_t head = kmm_page_to_pfn(hp), end = head + (1ULL << o);

			for (p = head; p < end; p += KMM_PAGEBLOCK_NR_PAGES) {
				int t = get_pfnblock_mt(z, p);

				if (t == KMM_MIGRATE_CMA || t == KMM_MIGRATE_HIGHATOMIC ||
				    kmm__pageblock_isolated(z, p)) {
					kmm_port_unlock(&z->lock);
					return -KMM_EBUSY;
				}
			}
			move_to_free_list(hp, z, o, hp->alloc_mt, mt);
			for (p = head; p < end; p += KMM_PAGEBLOCK_NR_PAGES)
				set_pfnblock_mt(z, p, mt);
			kmm_port_unlock(&z->lock);
			return 1L << o;
		}
	}
	moved = move_freepages_block(z, page, mt);
	kmm_port_unlock(&z->lock);
	return moved < 0 ? -KMM_EINVAL : moved;
}

int kmm_adjust_managed_page_count(struct kmm_page *page, long count)
{
	struct kmm_zone *z;
	long long m;

	if (!page_in_memmap(page))
		return -KMM_EINVAL;
	z = kmm_page_zone(page);
	kmm_port_lock(&z->lock);
	m = (long long)z->managed_pages + count;
	if (m < 0 || (uint64_t)m > z->spanned_pages) {
		kmm_port_unlock(&z->lock);
		return -KMM_EINVAL;
	}
	__atomic_store_n(&z->managed_pages, (uint64_t)m, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kmm_machine.totalram_pages, (uint64_t)count, __ATOMIC_RELAXED);
	kmm_port_unlock(&z->lock);
	return 0;
}

int kmm_pcp_set_high(struct kmm_zone *z, unsigned cpu, int high)
{
	struct kmm_per_cpu_pages *pcp;

	if (!z || !z->per_cpu_pageset || cpu >= kmm_machine.nr_cpus)
		return -KMM_EINVAL;
	pcp = &z->per_cpu_pageset[cpu];
	kmm_port_spin_lock(&pcp->lock);
	pcp->high = KMM_CLAMP(high, pcp->high_min, pcp->high_max);
	high = pcp->high;
	kmm_port_spin_unlock(&pcp->lock);
	return high;
}

void kmm_init_per_zone_wmark_min(void)
{
	init_min_free_kbytes();
}

int kmm_sysctl_min_free_kbytes(uint64_t kbytes)
{
	if (!kbytes || kbytes > (64ULL << 20))
		return -KMM_EINVAL;
	kmm_machine.min_free_kbytes = kbytes;
	kmm__setup_per_zone_wmarks();
	return 0;
}

static void build_zonelists(void)
{
	unsigned nid, k;
	int zi;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		struct kmm_pglist_data *pg = kmm_machine.node_data[nid];
		struct kmm_zonelist *fb = &pg->node_zonelists[KMM_ZONELIST_FALLBACK];
		struct kmm_zonelist *nf = &pg->node_zonelists[KMM_ZONELIST_NOFALLBACK];

		fb->nr = nf->nr = 0;
		for (k = 0; k < kmm_machine.nr_nodes; k++) {
			struct kmm_pglist_data *o =
				kmm_machine.node_data[(nid + k) % kmm_machine.nr_nodes];

			for (zi = KMM_MAX_NR_ZONES - 1; zi >= 0; zi--) {
				if (!kmm_zone_is_populated(&o->node_zones[zi]))
					continue;
				fb->zones[fb->nr++] = &o->node_zones[zi];
				if (!k)
					nf->zones[nf->nr++] = &o->node_zones[zi];
			}
		}
		fb->zones[fb->nr] = NULL;
		nf->zones[nf->nr] = NULL;
	}
}

static size_t pb_count(const struct kmm_zone *z)
{
	uint64_t base = KMM_ALIGN_DOWN(z->zone_start_pfn, KMM_PAGEBLOCK_NR_PAGES);
	uint64_t end = KMM_ALIGN_UP(kmm_zone_end_pfn(z), KMM_PAGEBLOCK_NR_PAGES);

	return (size_t)((end - base) >> KMM_PAGEBLOCK_ORDER);
}

void kmm__free_boot_range(uint64_t start, uint64_t end)
{
	/* __free_pages_memory(): largest aligned blocks, to the tail. */
	while (start < end) {
		unsigned order = KMM_MIN((unsigned)KMM_MAX_PAGE_ORDER,
					 start ? (unsigned)__builtin_ctzll(start)
					       : (unsigned)KMM_MAX_PAGE_ORDER);
		struct kmm_page *page;
		struct kmm_zone *z;
		uint64_t i;

		while (start + (1ULL << order) > end)
			order--;
		page = kmm_pfn_to_page(start);
		z = kmm_page_zone(page);
		for (i = 0; i < (1ULL << order); i++)
			kmm_page_clear(&page[i], KMM_PG_reserved);
		kmm_port_lock(&z->lock);
		free_block_locked(z, page, start, order, FPI_TO_TAIL);
		kmm_port_unlock(&z->lock);
		start += 1ULL << order;
	}
}

static bool pfn_in_cma(uint64_t pfn)
{
	unsigned i;

	for (i = 0; i < kmm_machine.nr_cma_areas; i++) {
		const struct kmm_cma_reservation *r = &kmm_machine.cma_reserved[i];

		if (pfn >= r->base_pfn && pfn < r->base_pfn + r->count)
			return true;
	}
	return false;
}

int kmm__page_alloc_init(void)
{
	struct kmm_zone *z;
	unsigned nid, cpu, i;
	int zi, mt;
	unsigned o;

	for_each_zone(z, nid, zi) {
		kmm_port_lock_init(&z->lock);
		for (o = 0; o < KMM_NR_PAGE_ORDERS; o++)
			for (mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
				kmm_list_init(&z->free_area[o].free_list[mt]);
		if (!kmm_zone_is_populated(z))
			continue;
		z->pageblock_flags = kmm_port_meta_alloc(pb_count(z));
		z->per_cpu_pageset = kmm_port_meta_alloc(
			sizeof(struct kmm_per_cpu_pages) * kmm_machine.nr_cpus);
		if (!z->pageblock_flags || !z->per_cpu_pageset) {
			kmm_pr_err("boot: out of metadata memory for zone %s", z->name);
			kmm__page_alloc_fini();
			return -KMM_ENOMEM;
		}
		kmm_memset(z->pageblock_flags, KMM_MIGRATE_MOVABLE, pb_count(z));
		for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
			struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];

			kmm_port_spin_init(&pcp->lock);
			for (i = 0; i < KMM_NR_PCP_LISTS; i++)
				kmm_list_init(&pcp->lists[i]);
			pcp->batch = 1;	/* boot pageset until zone_pcp_update() */
		}
		z->stat_threshold = stat_threshold(z);
	}
	build_zonelists();

	/* memblock_free_all(): everything but CMA, in address order. */
	for_each_zone(z, nid, zi) {
		uint64_t pfn = z->zone_start_pfn, end = kmm_zone_end_pfn(z);

		while (pfn < end) {
			uint64_t run = pfn;

			while (run < end && !pfn_in_cma(run))
				run++;
			if (run > pfn)
				kmm__free_boot_range(pfn, run);
			while (run < end && pfn_in_cma(run))
				run++;
			pfn = run;
		}
	}
	/* cma_activate_area(): MIGRATE_CMA pageblocks, freed to the buddy. */
	for (i = 0; i < kmm_machine.nr_cma_areas; i++) {
		const struct kmm_cma_reservation *r = &kmm_machine.cma_reserved[i];
		uint64_t pfn;

		z = kmm_page_zone(kmm_pfn_to_page(r->base_pfn));
		for (pfn = r->base_pfn; pfn < r->base_pfn + r->count;
		     pfn += KMM_PAGEBLOCK_NR_PAGES) {
			struct kmm_page *page = kmm_pfn_to_page(pfn);
			uint64_t k;

			set_pfnblock_mt(z, pfn, KMM_MIGRATE_CMA);
			for (k = 0; k < KMM_PAGEBLOCK_NR_PAGES; k++) {
				kmm_page_clear(&page[k], KMM_PG_reserved);
				kmm_page_set(&page[k], KMM_PG_cma);
			}
			kmm_port_lock(&z->lock);
			__free_one_page(page, pfn, z, KMM_PAGEBLOCK_ORDER,
					KMM_MIGRATE_CMA, FPI_NONE);
			kmm_port_unlock(&z->lock);
		}
		z->cma_pages += r->count;
		kmm_machine.totalcma_pages += r->count;
	}
	for_each_zone(z, nid, zi)
		kmm_machine.totalram_pages += z->managed_pages;
	init_min_free_kbytes();
	return 0;
}

void kmm__page_alloc_fini(void)
{
	struct kmm_zone *z;
	unsigned nid, cpu;
	int zi;

	for_each_zone(z, nid, zi) {
		if (z->per_cpu_pageset) {
			for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
				kmm_port_spin_destroy(&z->per_cpu_pageset[cpu].lock);
			kmm_port_meta_free(z->per_cpu_pageset,
					   sizeof(struct kmm_per_cpu_pages) *
						   kmm_machine.nr_cpus);
			z->per_cpu_pageset = NULL;
		}
		if (z->pageblock_flags) {
			kmm_port_meta_free(z->pageblock_flags, pb_count(z));
			z->pageblock_flags = NULL;
		}
		kmm_port_lock_destroy(&z->lock);
	}
}

/* ---- validation --------------------------------------------------------- */

static const char *mt_name(int mt)
{
	return mt >= 0 && mt < KMM_MIGRATE_TYPES ? kmm_migratetype_names[mt] : "(bad type)";
}

#define VFAIL(...)                                   \
	do {                                         \
		kmm_pr_err("validate: " __VA_ARGS__); \
		ret = -KMM_EINVAL;                   \
		goto out;                            \
	} while (0)

static int validate_zone(struct kmm_zone *z)
{
	uint64_t start = z->zone_start_pfn, end = kmm_zone_end_pfn(z), pfn;
	long free_pages = 0, free_cma = 0, free_ha = 0, buddy_blocks = 0;
	long listed_blocks = 0;
	unsigned o, cpu;
	int mt, ret = 0;

	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
		kmm_port_spin_lock(&z->per_cpu_pageset[cpu].lock);
	kmm_port_lock(&z->lock);

	/* 1. free lists */
	for (o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
		struct kmm_free_area *a = &z->free_area[o];
		unsigned long total = 0;

		for (mt = 0; mt < KMM_MIGRATE_TYPES; mt++) {
			struct kmm_list_head *pos;
			unsigned long n = 0;

			kmm_list_for_each(pos, &a->free_list[mt]) {
				struct kmm_page *p = kmm_list_entry(pos, struct kmm_page, lru);
				uint64_t pp = kmm_page_to_pfn(p), b;

				if (!page_in_memmap(p))
					VFAIL("zone %s: foreign entry on free list o%u/%d",
					      z->name, o, mt);
				if (!kmm_page_test(p, KMM_PG_buddy) || p->private != o ||
				    p->alloc_mt != mt)
					VFAIL("zone %s: pfn %#llx on free list o%u/%d has buddy=%d order=%lu mt=%u",
					      z->name, (unsigned long long)pp, o, mt,
					      kmm_page_test(p, KMM_PG_buddy), p->private,
					      p->alloc_mt);
				if (pp & ((1ULL << o) - 1) || pp < start ||
				    pp + (1ULL << o) > end)
					VFAIL("zone %s: free block pfn %#llx order %u misaligned or outside the zone",
					      z->name, (unsigned long long)pp, o);
				for (b = pp; b < pp + (1ULL << o); b += KMM_PAGEBLOCK_NR_PAGES) {
					int bmt = get_pfnblock_mt(z, b);

					if (bmt != mt)
						VFAIL("zone %s: free block pfn %#llx order %u on %s list, pageblock is %s",
						      z->name, (unsigned long long)pp, o,
						      mt_name(mt), mt_name(bmt));
				}
				if (mt != KMM_MIGRATE_ISOLATE)
					free_pages += 1L << o;
				if (mt == KMM_MIGRATE_CMA)
					free_cma += 1L << o;
				if (mt == KMM_MIGRATE_HIGHATOMIC)
					free_ha += 1L << o;
				n++;
			}
			if (n != a->nr_free_mt[mt])
				VFAIL("zone %s: order %u %s: %lu on list, counter %lu",
				      z->name, o, mt_name(mt), n,
				      a->nr_free_mt[mt]);
			total += n;
		}
		if (total != a->nr_free)
			VFAIL("zone %s: order %u: %lu blocks listed, nr_free %lu",
			      z->name, o, total, a->nr_free);
		listed_blocks += (long)total;
	}
	if (free_pages != kmm_zone_page_state(z, KMM_NR_FREE_PAGES) ||
	    free_cma != kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES) ||
	    free_ha != kmm_zone_page_state(z, KMM_NR_FREE_HIGHATOMIC))
		VFAIL("zone %s: counters free=%ld cma=%ld highatomic=%ld, lists say %ld/%ld/%ld",
		      z->name, kmm_zone_page_state(z, KMM_NR_FREE_PAGES),
		      kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES),
		      kmm_zone_page_state(z, KMM_NR_FREE_HIGHATOMIC), free_pages,
		      free_cma, free_ha);

	/* 2. pcp lists */
	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
		struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];
		long count = 0;
		int i;

		for (i = 0; i < KMM_NR_PCP_LISTS; i++) {
			struct kmm_list_head *pos;

			kmm_list_for_each(pos, &pcp->lists[i]) {
				struct kmm_page *p = kmm_list_entry(pos, struct kmm_page, lru);

				if (!page_in_memmap(p) || kmm_page_zone(p) != z ||
				    !kmm_page_test(p, KMM_PG_pcp) ||
				    p->private != pindex_to_order(i))
					VFAIL("zone %s cpu %u: bad page on pcp list %d",
					      z->name, cpu, i);
				count += 1L << pindex_to_order(i);
			}
		}
		if (count != pcp->count)
			VFAIL("zone %s cpu %u: pcp count %d, lists hold %ld",
			      z->name, cpu, pcp->count, count);
	}

	/* 3. pageblock bytes */
	for (pfn = KMM_ALIGN_DOWN(start, KMM_PAGEBLOCK_NR_PAGES); pfn < end;
	     pfn += KMM_PAGEBLOCK_NR_PAGES)
		if ((*pb_byte(z, pfn) & KMM_PB_MIGRATETYPE_MASK) >= KMM_MIGRATE_ISOLATE)
			VFAIL("zone %s: pageblock %#llx has bad type byte %#x", z->name,
			      (unsigned long long)pfn, *pb_byte(z, pfn));

	/* 4. every PFN accounted exactly once; buddies merged */
	for (pfn = start; pfn < end;) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		uint64_t n;

		if (kmm_page_test(p, KMM_PG_buddy)) {
			unsigned bo = (unsigned)p->private;
			uint64_t bp = pfn ^ (1ULL << bo);
			struct kmm_page *b;

			buddy_blocks++;
			if (bo < KMM_MAX_PAGE_ORDER && (b = find_free_buddy(z, bp, bo)) &&
			    (bo < KMM_PAGEBLOCK_ORDER || b->alloc_mt == p->alloc_mt ||
			     (migratetype_is_mergeable(b->alloc_mt) &&
			      migratetype_is_mergeable(p->alloc_mt))))
				VFAIL("zone %s: free buddies %#llx and %#llx of order %u left unmerged",
				      z->name, (unsigned long long)pfn,
				      (unsigned long long)bp, bo);
			n = 1ULL << bo;
		} else if (kmm_page_test(p, KMM_PG_pcp)) {
			n = 1ULL << p->private;
		} else if (kmm_page_test(p, KMM_PG_reserved)) {
			n = 1;
		} else if (kmm_page_ref_count(p) > 0 && !kmm_page_test(p, KMM_PG_tail)) {
			n = 1ULL << p->alloc_order;
		} else {
			VFAIL("zone %s: pfn %#llx is neither free, on a pcp list, reserved nor allocated (refcount %d flags %#llx)",
			      z->name, (unsigned long long)pfn, kmm_page_ref_count(p),
			      (unsigned long long)kmm_page_flags(p));
		}
		if (pfn + n > end)
			VFAIL("zone %s: block at %#llx runs past the zone end",
			      z->name, (unsigned long long)pfn);
		{
			uint64_t k;

			for (k = 1; k < n; k++) {
				struct kmm_page *t = &p[k];

				if (kmm_page_test(t, KMM_PG_buddy) || kmm_page_test(t, KMM_PG_pcp))
					VFAIL("zone %s: pfn %#llx is free inside the block at %#llx",
					      z->name, (unsigned long long)(pfn + k),
					      (unsigned long long)pfn);
			}
		}
		pfn += n;
	}
	if (buddy_blocks != listed_blocks)
		VFAIL("zone %s: %ld free blocks in the memmap, %ld on lists", z->name,
		      buddy_blocks, listed_blocks);
out:
	kmm_port_unlock(&z->lock);
	for (cpu = kmm_machine.nr_cpus; cpu-- > 0;)
		kmm_port_spin_unlock(&z->per_cpu_pageset[cpu].lock);
	return ret;
}

int kmm_page_alloc_validate(void)
{
	struct kmm_zone *z;
	unsigned nid;
	int zi, ret;

	if (!kmm_machine.booted)
		return 0;
	for_each_zone(z, nid, zi) {
		if (!kmm_zone_is_populated(z))
			continue;
		ret = validate_zone(z);
		if (ret)
			return ret;
	}
	return 0;
}
