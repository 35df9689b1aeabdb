/* SPDX-License-Identifier: MIT */
/*
 * kmm/snapshot.h - a read-only picture of physical memory and of the
 * vmalloc space, for tools that draw maps (`kmm map`) or check layouts.
 *
 * Physical memory is walked one zone at a time: a zone summary (its
 * counters and free-area counts, which /proc/buddyinfo prints), one record
 * per pageblock (type, isolation, pages free / on per-CPU lists /
 * allocated / reserved, free pages per buddy order) and, optionally, one
 * state byte per page.  Everything of one zone is copied in one hold of
 * its locks, so the records agree with each other and with the counters.
 *
 * The vmalloc space is walked as sorted ranges: busy areas (split into the
 * area and its guard page), lazily freed (unpurged) areas, purged areas
 * waiting in a vmap node's size-class pool, and free ranges.
 *
 * Both walks read metadata only (struct page, pageblock bytes, the vmap
 * lists), never the memory itself, so they work the same in shadow mode.
 * The caller provides every buffer; the walks allocate nothing.
 */
#ifndef KMM_SNAPSHOT_H
#define KMM_SNAPSHOT_H

#include <kmm/mmzone.h>
#include <kmm/types.h>

/* ---- physical memory ----------------------------------------------------- */

/* What a page is, in the per-page array: KMM_SNAP_PAGE_STATE(byte). */
enum kmm_snap_page_state {
	KMM_SNAP_PAGE_FREE = 0,		/* in a free buddy block (zone free list) */
	KMM_SNAP_PAGE_PCP,		/* free, on a per-CPU list */
	KMM_SNAP_PAGE_ALLOCATED,	/* part of an allocated block */
	KMM_SNAP_PAGE_RESERVED,		/* PG_reserved: never given to the buddy */
	KMM_SNAP_PAGE_UNKNOWN,		/* none of these (validation would fail) */
	KMM_SNAP_NR_PAGE_STATES
};

/* A page's state byte: the state in bits 0-3, for FREE and PCP pages the
 * order of the block it belongs to in bits 4-7. */
#define KMM_SNAP_PAGE_STATE(b) ((unsigned)(b) & 0xfu)
#define KMM_SNAP_PAGE_ORDER(b) ((unsigned)(b) >> 4)

/* One zone, as of the walk. */
struct kmm_snap_zone {
	int nid, zone;			/* node, enum kmm_zone_type */
	const char *name;		/* "DMA", "DMA32", "Normal", "Movable" */
	uint64_t start_pfn, end_pfn;	/* spanned [start, end) */
	uint64_t present_pages, managed_pages, cma_pages;
	unsigned long nr_pageblocks;	/* records kmm_snapshot_zone() needs */

	/* The zone's own counters (copied under zone->lock). */
	unsigned long nr_free_pages;	/* NR_FREE_PAGES (not Isolate, not pcp) */
	unsigned long nr_free_cma_pages; /* NR_FREE_CMA_PAGES */
	unsigned long nr_free[KMM_NR_PAGE_ORDERS];	/* free_area[o].nr_free */
	unsigned long nr_free_mt[KMM_NR_PAGE_ORDERS][KMM_MIGRATE_TYPES];
	unsigned long pcp_pages;	/* sum of every CPU's pcp->count */

	/* Counted by the walk over struct pages (independently of the
	 * counters above: a map that shows these shows what the memmap says). */
	unsigned long walk_free_blocks[KMM_NR_PAGE_ORDERS]; /* free block heads */
	unsigned long walk_free_pages;	/* pages in free blocks, Isolate included */
	unsigned long walk_isolated_free_pages; /* of them, in isolated pageblocks */
	unsigned long walk_pcp_pages, walk_allocated_pages, walk_reserved_pages,
		walk_unknown_pages;
};

/* One pageblock (the part of it inside the zone). */
struct kmm_snap_pageblock {
	uint64_t pfn;			/* first PFN, pageblock aligned */
	uint32_t nr_pages;		/* pages of it inside the zone */
	uint8_t migratetype;		/* KMM_MIGRATE_*; ISOLATE when isolated */
	uint8_t base_migratetype;	/* the type bits under the isolate bit */
	bool isolated;
	int8_t largest_free_order;	/* of a free block with pages here; -1 none */
	uint32_t nr_free;		/* pages in free buddy blocks */
	uint32_t nr_pcp;		/* free pages on per-CPU lists */
	uint32_t nr_allocated;
	uint32_t nr_reserved;
	uint32_t nr_unknown;
	uint32_t nr_free_blocks;	/* free blocks whose head is here */
	uint32_t free_pages_order[KMM_NR_PAGE_ORDERS]; /* free pages here, by block order */
};

/**
 * kmm_snapshot_zone - copy out one zone.
 * @nid, @zi: the node and the zone (enum kmm_zone_type).
 * @zs: out: the zone summary (always filled on success).
 * @pbs: out, may be NULL: up to @max_pbs pageblock records, lowest PFN first.
 * @pages: out, may be NULL: one state byte per page from @zs->start_pfn,
 *   up to @max_pages of them (pages past @max_pages are counted, not stored).
 *
 * An unpopulated zone gives a summary with no pageblocks.  The walk
 * follows struct pages as the allocator's validator does: a free block is
 * skipped by its order, an allocated block by the order it was allocated
 * with, a reserved page one at a time.
 *
 * Context: process context, machine booted; may sleep.  Takes every
 * pcp->lock of the zone in CPU order, then zone->lock (the allocator's
 * order: pcp->lock before zone->lock), and holds them for the whole walk,
 * O(zone pages); other CPUs' allocations in this zone wait meanwhile.
 * Must not be called with any zone or pcp lock held.
 * Return: the number of pageblock records the zone has (records beyond
 * @max_pbs are not written; call again with a larger buffer), or -EINVAL
 * (not booted, @nid or @zi out of range, @zs NULL).
 */
long kmm_snapshot_zone(int nid, int zi, struct kmm_snap_zone *zs,
		       struct kmm_snap_pageblock *pbs, size_t max_pbs,
		       uint8_t *pages, size_t max_pages);

/* ---- the vmalloc space --------------------------------------------------- */

enum kmm_snap_va_state {
	KMM_SNAP_VA_BUSY = 0,	/* allocated (vmalloc, vmap, vm_map_ram, ...) */
	KMM_SNAP_VA_GUARD,	/* the guard page at the end of a busy area */
	KMM_SNAP_VA_LAZY,	/* freed, not yet purged ("unpurged vm_area") */
	KMM_SNAP_VA_POOL,	/* purged, kept in a vmap node's size-class pool */
	KMM_SNAP_VA_FREE,	/* in the free tree */
	KMM_SNAP_NR_VA_STATES
};

/* One range of the vmalloc space. */
struct kmm_snap_va {
	unsigned long start, end;	/* [start, end), page aligned */
	enum kmm_snap_va_state state;
	unsigned node;			/* vmap node (busy, guard, lazy, pool) */
	/* Busy and guard ranges of an area with a vm_struct: */
	bool has_vm;
	unsigned long vm_flags;		/* KMM_VM_* */
	const void *caller;
	unsigned nr_pages;
	/* Busy ranges without one: the area's KMM_VMAP_RAM / KMM_VMAP_BLOCK. */
	unsigned long va_flags;
};

/* Names of the states ("busy", "guard", "lazy", "pool", "free"). */
extern const char *const kmm_snap_va_state_names[KMM_SNAP_NR_VA_STATES];
/* Names of the page states ("free", "pcp", "allocated", "reserved", "unknown"). */
extern const char *const kmm_snap_page_state_names[KMM_SNAP_NR_PAGE_STATES];

/**
 * kmm_snapshot_vmalloc - copy out every range of the vmalloc space, sorted
 * by address.  A busy area with a vm_struct and without VM_NO_GUARD gives
 * two ranges, the area and (state GUARD) its last page; vm_map_ram areas
 * and vmap blocks have no guard.  Together the ranges tile the space the
 * free tree manages (in shadow mode that is nearly the whole 64-bit space:
 * clip to [kmm_vmalloc_start(), kmm_vmalloc_end()] to draw it).
 * @out: up to @max records.
 *
 * Context: process context; may sleep.  Takes vmap_purge_lock for the whole
 * walk, then each vmap node's busy, lazy and pool lock and
 * free_vmap_area_lock one at a time (kmm__vmap_for_each_area()).  The
 * picture is exact while nobody allocates or frees vmalloc space; with
 * concurrent callers each range was in its state at some moment of the walk.
 * Must not be called with any vmalloc or zone lock held.
 * Return: the number of ranges (only @max are written, and they are sorted
 * only when all fitted: call again with a larger buffer), or -EINVAL (not
 * booted).
 */
long kmm_snapshot_vmalloc(struct kmm_snap_va *out, size_t max);

#endif /* KMM_SNAPSHOT_H */
