/* SPDX-License-Identifier: MIT */
/*
 * kmm/migrate.h - page isolation, page migration and contiguous allocation
 * (Linux's mm/page_isolation.c, mm/migrate.c and alloc_contig_range() in
 * mm/page_alloc.c).
 *
 * All functions need a booted machine and may be called from any thread.
 */
#ifndef KMM_MIGRATE_H
#define KMM_MIGRATE_H

#include <kmm/mmzone.h>

/* enum pb_isolate_mode */
enum kmm_pb_isolate_mode {
	KMM_PB_ISOLATE_MODE_MEM_OFFLINE,
	KMM_PB_ISOLATE_MODE_CMA_ALLOC,	/* MIGRATE_CMA pageblocks are movable */
	KMM_PB_ISOLATE_MODE_OTHER,
};

/* acr_flags_t of alloc_contig_range() (6.16+). */
#define KMM_ACR_FLAGS_NONE 0
#define KMM_ACR_FLAGS_CMA 0x1

/* enum migrate_mode / migrate_reason (the subset kmm uses). */
enum kmm_migrate_mode { KMM_MIGRATE_ASYNC, KMM_MIGRATE_SYNC_LIGHT, KMM_MIGRATE_SYNC };
enum kmm_migrate_reason { KMM_MR_COMPACTION, KMM_MR_CONTIG_RANGE, KMM_MR_SYSCALL };

/* Why a contiguous allocation failed (counted in kmm_contig_fail_reasons). */
enum kmm_contig_fail {
	KMM_CONTIG_FAIL_UNMOVABLE,	/* an unmovable or reserved page */
	KMM_CONTIG_FAIL_PINNED,		/* a movable page with extra references */
	KMM_CONTIG_FAIL_ISOLATED,	/* a pageblock isolated by someone else */
	KMM_CONTIG_FAIL_NOMEM,		/* no memory for migration targets */
	KMM_CONTIG_FAIL_RACE,		/* a page came back busy after migration */
	KMM_NR_CONTIG_FAIL
};

/**
 * struct kmm_contig_error - why the last failing call of this thread failed.
 * @pfn: the PFN that blocked it (~0 when none).
 * @reason: enum kmm_contig_fail.
 * @refcount: the page's reference count when it was looked at.
 */
struct kmm_contig_error {
	uint64_t pfn;
	int reason;
	int refcount;
};

/**
 * kmm_start_isolate_page_range - isolate the pageblocks covering
 * [@start_pfn, @end_pfn).
 * @mode: KMM_PB_ISOLATE_MODE_CMA_ALLOC lets MIGRATE_CMA pageblocks be
 *   isolated without a look at their pages; otherwise every pageblock is
 *   scanned and one holding a reserved page or an allocated page that is
 *   not movable (not PG_lru) refuses (a CMA pageblock refuses too, as for
 *   memory offlining).
 *
 * The range is widened to pageblocks (need not be aligned) and must lie in
 * one zone.  Each pageblock gets the isolate bit (its migratetype is kept)
 * and its free blocks move to the MIGRATE_ISOLATE list, where no allocation
 * finds them; a free block larger than a pageblock that straddles the range
 * is split first.  Pages freed later into an isolated pageblock go to the
 * Isolate list too.  Per-CPU lists are drained.
 *
 * Context: any thread; takes zone->lock, then pcp->locks.
 * Return: 0; -EINVAL for an empty range, one past memory or across zones;
 * -EBUSY if a pageblock is already isolated or holds an unmovable page
 * (logged with the PFN and why, see kmm_contig_last_error()).  On failure
 * nothing stays isolated.
 */
int kmm_start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
				 enum kmm_pb_isolate_mode mode);

/**
 * kmm_undo_isolate_page_range - clear the isolate bit of the pageblocks
 * covering [@start_pfn, @end_pfn) and give their free pages back to the
 * pageblocks' own free lists (merged with their buddies).  Pageblocks that
 * are not isolated are left alone.
 * Context: any thread; takes zone->lock.
 */
void kmm_undo_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn);

/**
 * kmm_test_pages_isolated - is every page of [@start_pfn, @end_pfn) free
 * on the Isolate list?
 * Context: any thread; takes zone->lock.
 * Return: 0 if so; -EBUSY otherwise (also for a range across zones or
 * outside memory).
 */
int kmm_test_pages_isolated(unsigned long start_pfn, unsigned long end_pfn,
			    enum kmm_pb_isolate_mode mode);

/* new_folio_t / free_folio_t for kmm_migrate_pages(). */
typedef struct kmm_page *(*kmm_new_page_t)(struct kmm_page *src, unsigned long private);
typedef void (*kmm_free_page_t)(struct kmm_page *dst, unsigned long private);

/**
 * kmm_isolate_movable_page - take @page off the (modelled) LRU for
 * migration and add it to @list (through page->lru).
 *
 * Only mapped anonymous user pages are movable in kmm.  The page gets a
 * reference, loses PG_lru and gains PG_isolated, under its mm's mmap_lock.
 * Context: any thread; takes mm_list_lock and the owner's mmap_lock.
 * Return: 0, or -EBUSY if the page is not a mapped anonymous page or is
 * already isolated.
 */
int kmm_isolate_movable_page(struct kmm_page *page, struct kmm_list_head *list);

/**
 * kmm_putback_movable_pages - return every page on @list (left there by
 * kmm_migrate_pages()) to the LRU and drop the isolation reference.
 * Context: any thread; takes each owner's mmap_lock.
 */
void kmm_putback_movable_pages(struct kmm_list_head *list);

/**
 * kmm_migrate_pages - move the contents and mappings of isolated pages.
 * @from: pages from kmm_isolate_movable_page().
 * @get_new: allocates the target for a page (returning NULL: no memory);
 *   NULL picks kmm's own: GFP_HIGHUSER_MOVABLE blocks of up to 128
 *   PFN-contiguous pages, split, so a run maps with one host call.
 * @put_new: frees a target that was not used (may be NULL: kmm_put_page).
 * @private: passed to both.
 * @mode, @reason: accepted and ignored: kmm migrates synchronously always.
 * @nr_succeeded: if not NULL, the number of pages migrated.
 *
 * For each page: under its mm's mmap_lock, check that only the mapping and
 * the isolation hold references; allocate a target; copy the bytes; make
 * the PTE (and the host mapping, in real mode) point at the target, whose
 * rmap now names the same (mm, address); free the source.  A page with
 * extra references (pinned) is retried, 10 passes in all, then left on
 * @from; a page that was unmapped meanwhile is simply freed (a success).
 *
 * Context: any thread; takes mm_list_lock, mmap_lock, the page allocator's
 * locks.  Must not be called with an mmap_lock held.
 * Return: the number of pages left on @from (not migrated); -ENOMEM when
 * a target could not be allocated or the host refused the demand pages
 * for lack of memory (the rest stay on @from); -EINVAL for a NULL @from.
 */
int kmm_migrate_pages(struct kmm_list_head *from, kmm_new_page_t get_new,
		      kmm_free_page_t put_new, unsigned long private,
		      enum kmm_migrate_mode mode, int reason, unsigned *nr_succeeded);

/**
 * kmm_alloc_contig_range - allocate exactly the page frames [@start, @end).
 * @start, @end: PFNs; need not be aligned; in one zone.
 * @acr_flags: KMM_ACR_FLAGS_CMA for a CMA area's pages (pageblocks may be
 *   MIGRATE_CMA), else KMM_ACR_FLAGS_NONE (pageblocks must hold only free
 *   or movable pages).
 * @gfp: GFP_KERNEL-like; __GFP_ZERO zeroes the pages; __GFP_NOWARN quiets
 *   the failure message.
 *
 * Isolates the pageblocks around the range, drains per-CPU lists,
 * migrates every movable page in the range elsewhere (5 tries), checks
 * that the whole range is free and isolated, takes it, and undoes the
 * isolation.  On success each page is an order-0 allocation with
 * refcount 1 (free each, or all with kmm_free_contig_range()).
 *
 * Context: any thread that holds no mmap_lock; may migrate user pages.
 * Return: 0; -EINVAL for start >= end, a range past memory or across
 * zones, or bad flags; -EBUSY when a page could not be freed up (the
 * message names the PFN and why); -ENOMEM when migration targets ran out.
 * On failure nothing stays isolated and no page is lost.
 */
int kmm_alloc_contig_range(unsigned long start, unsigned long end, unsigned acr_flags,
			   kmm_gfp_t gfp);

/**
 * kmm_alloc_contig_range_mt - the 4.x form, alloc_contig_range(start, end,
 * migratetype): @migratetype must be MIGRATE_MOVABLE or MIGRATE_CMA
 * (else -EINVAL); GFP_KERNEL.
 */
int kmm_alloc_contig_range_mt(unsigned long start, unsigned long end, unsigned migratetype);

/**
 * kmm_free_contig_range - free @nr_pages order-0 pages from @pfn on.
 * Each page is freed as __free_page() would (a page that is not allocated
 * gets the bad-page report and is skipped).
 */
void kmm_free_contig_range(unsigned long pfn, unsigned long nr_pages);

/**
 * kmm_alloc_contig_pages - find and allocate @nr_pages contiguous frames.
 * @gfp: zone modifiers choose the highest zone; __GFP_NOWARN, __GFP_ZERO.
 * @nid: node, or -1 for the current CPU's.
 * @nodemask: must be NULL (kmm has no node masks yet): anything else
 *   returns NULL.
 *
 * Scans each allowed zone (highest first) for a range aligned to the
 * largest power of two not above @nr_pages (at most MAX_ORDER_NR_PAGES)
 * whose pages all look free or
 * movable, and tries kmm_alloc_contig_range() on each candidate.
 * Context: as kmm_alloc_contig_range().
 * Return: the first page, or NULL.
 */
struct kmm_page *kmm_alloc_contig_pages(unsigned long nr_pages, kmm_gfp_t gfp, int nid,
					void *nodemask);

/**
 * kmm_contig_last_error - why this thread's last failed isolation or
 * contiguous allocation failed.  Context: any; thread-local.
 */
struct kmm_contig_error kmm_contig_last_error(void);

/** kmm_contig_fail_count - failures for @reason since boot. */
unsigned long kmm_contig_fail_count(enum kmm_contig_fail reason);

/** Names of enum kmm_contig_fail ("unmovable", "pinned", ...). */
extern const char *const kmm_contig_fail_names[KMM_NR_CONTIG_FAIL];

/** Migration counters since boot: pages migrated and pages that failed. */
unsigned long kmm_pgmigrate_success(void);
unsigned long kmm_pgmigrate_fail(void);

/* Internal: boot.c resets the counters. */
void kmm__migrate_reset(void);
void kmm__contig_reset(void);

#endif /* KMM_MIGRATE_H */
