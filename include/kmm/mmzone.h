/* SPDX-License-Identifier: MIT */
/*
 * kmm/mmzone.h - struct page, zones, per-CPU page lists, nodes, the machine.
 *
 * Fields are grouped by who writes them and under which lock; see the lock
 * order at the top of src/core/page_alloc.c.
 */
#ifndef KMM_MMZONE_H
#define KMM_MMZONE_H

#include <stdatomic.h>

#include <kmm/gfp.h>
#include <kmm/port.h>
#include <kmm/types.h>

#define KMM_MAX_PAGE_ORDER 10
#define KMM_NR_PAGE_ORDERS (KMM_MAX_PAGE_ORDER + 1)
#define KMM_MAX_ORDER_NR_PAGES (1UL << KMM_MAX_PAGE_ORDER)
#define KMM_PAGEBLOCK_ORDER 9
#define KMM_PAGEBLOCK_NR_PAGES (1UL << KMM_PAGEBLOCK_ORDER)
#define KMM_PAGE_ALLOC_COSTLY_ORDER 3
#define KMM_MAX_NUMNODES 64
#define KMM_MAX_CPUS 256
#define KMM_PCP_BATCH_SCALE_MAX 5

/* Per-CPU lists: orders 0..3 for each pcp type, plus two for pageblock order. */
#define KMM_NR_LOWORDER_PCP_LISTS \
	(KMM_MIGRATE_PCPTYPES * (KMM_PAGE_ALLOC_COSTLY_ORDER + 1))
#define KMM_NR_PCP_THP 2
#define KMM_NR_PCP_LISTS (KMM_NR_LOWORDER_PCP_LISTS + KMM_NR_PCP_THP)

/* ---- struct page ------------------------------------------------------- */

/* page->flags bits (low 32 bits); node and zone live in the high bits. */
enum kmm_pageflags {
	KMM_PG_buddy = 0,	/* free, head of a block in a zone free list */
	KMM_PG_pcp,		/* free, on a per-CPU list (order in private) */
	KMM_PG_head,		/* head of a compound (__GFP_COMP) allocation */
	KMM_PG_tail,		/* tail of a compound allocation */
	KMM_PG_reserved,	/* never given to the buddy allocator */
	KMM_PG_lru,		/* in use by a movable allocation (migratable) */
	KMM_PG_cma,		/* belongs to a CMA area */
	KMM_PG_isolated,	/* taken by page isolation */
	KMM_PG_anon,		/* anonymous user page (rmap in mapping) */
	KMM_PG_vmalloc,		/* backs a vmalloc area */
	KMM_PG_pgtable,		/* page-table page */
	KMM_PG_locked,		/* migration in progress */
	KMM_PG_NR
};

#define KMM_PAGE_NID_SHIFT 56
#define KMM_PAGE_ZONE_SHIFT 52

/*
 * One per page frame.  64 bytes.
 *
 * Written under zone->lock while free (flags buddy bits, private = order,
 * lru on a free list) or under pcp->lock while on a per-CPU list; by the
 * owner while allocated.  _refcount and _mapcount are atomic.
 */
struct kmm_page {
	uint64_t flags;			/* KMM_PG_* | zone << 52 | nid << 56 */
	struct kmm_list_head lru;	/* free list, pcp list, or owner's list */
	atomic_int _refcount;		/* 0 when free */
	atomic_int _mapcount;		/* -1 when unmapped, as in the kernel */
	unsigned long private;		/* buddy/pcp order while free */
	void *mapping;			/* owner (anon rmap, vm_struct, ...) */
	unsigned long index;		/* offset in owner */
	uint8_t alloc_order;		/* order given at allocation (head) */
	uint8_t alloc_mt;		/* migratetype asked for (head) */
	uint16_t pad0;
	uint32_t pad1;
};

/*
 * page->flags has one writer at a time (the zone while the page is free,
 * its owner while allocated) but readers without locks: the buddy
 * allocator peeks at neighbours' flags.  So every access is a single-word
 * relaxed atomic, like the kernel's flag bitops on one word.
 */
static inline uint64_t kmm_page_flags(const struct kmm_page *p)
{
	return __atomic_load_n(&p->flags, __ATOMIC_RELAXED);
}
static inline void kmm_page_flags_set_all(struct kmm_page *p, uint64_t v)
{
	__atomic_store_n(&p->flags, v, __ATOMIC_RELAXED);
}
static inline bool kmm_page_test(const struct kmm_page *p, int bit)
{
	return (kmm_page_flags(p) >> bit) & 1;
}
static inline void kmm_page_set(struct kmm_page *p, int bit)
{
	kmm_page_flags_set_all(p, kmm_page_flags(p) | (1ULL << bit));
}
static inline void kmm_page_clear(struct kmm_page *p, int bit)
{
	kmm_page_flags_set_all(p, kmm_page_flags(p) & ~(1ULL << bit));
}
/*
 * page->mapping is read without locks by page isolation and migration
 * scanners (the kernel's READ_ONCE(page->mapping)): single-word atomics.
 */
static inline void *kmm_page_mapping(const struct kmm_page *p)
{
	return __atomic_load_n(&p->mapping, __ATOMIC_RELAXED);
}
static inline void kmm_page_set_mapping(struct kmm_page *p, void *m)
{
	__atomic_store_n(&p->mapping, m, __ATOMIC_RELAXED);
}
static inline int kmm_page_nid(const struct kmm_page *p)
{
	return (int)(kmm_page_flags(p) >> KMM_PAGE_NID_SHIFT);
}
static inline int kmm_page_zonenum(const struct kmm_page *p)
{
	return (int)((kmm_page_flags(p) >> KMM_PAGE_ZONE_SHIFT) & 0xf);
}

/* ---- zones ------------------------------------------------------------- */

struct kmm_free_area {
	struct kmm_list_head free_list[KMM_MIGRATE_TYPES];
	unsigned long nr_free;		/* blocks of this order, all types */
	unsigned long nr_free_mt[KMM_MIGRATE_TYPES]; /* blocks per type */
};

/* Event counters of a zone (numa_* and kmm's own). */
enum kmm_zone_event {
	KMM_NUMA_HIT = 0,
	KMM_NUMA_MISS,
	KMM_NUMA_FOREIGN,
	KMM_NUMA_INTERLEAVE,
	KMM_NUMA_LOCAL,
	KMM_NUMA_OTHER,
	KMM_ZEV_ALLOC,		/* successful allocations (any order) */
	KMM_ZEV_FREE,
	KMM_ZEV_ALLOC_FAIL,	/* watermark or free-list failures here */
	KMM_ZEV_STEAL,		/* fallback allocations from another type */
	KMM_ZEV_CLAIM,		/* whole pageblocks claimed by fallback */
	KMM_ZEV_PCP_REFILL,	/* rmqueue_bulk calls */
	KMM_ZEV_PCP_DRAIN,	/* free_pcppages_bulk calls */
	KMM_NR_ZONE_EVENTS
};

/* Per-CPU page lists of one zone (the kernel's struct per_cpu_pages). */
struct kmm_per_cpu_pages {
	kmm_port_spinlock_t lock;	/* pcp->lock; trylock on fast paths */
	int count;			/* pages on all lists */
	int high;			/* free to zone above this */
	int high_min;
	int high_max;
	int batch;			/* pages moved to/from the zone at once */
	uint8_t flags;			/* KMM_PCPF_* */
	uint8_t alloc_factor;		/* batch scale for repeated allocation */
	short free_count;		/* consecutive freed pages */
	struct kmm_list_head lists[KMM_NR_PCP_LISTS];
	/* This CPU's share of the zone's events (the kernel's per-CPU zone
	 * stats): written under @lock, summed by kmm_zone_events(). */
	unsigned long vm_events[KMM_NR_ZONE_EVENTS];
} __attribute__((aligned(64)));

#define KMM_PCPF_PREV_FREE_HIGH_ORDER 0x1
#define KMM_PCPF_FREE_HIGH_BATCH 0x2

enum kmm_zone_wmark {
	KMM_WMARK_MIN = 0,
	KMM_WMARK_LOW,
	KMM_WMARK_HIGH,
	KMM_WMARK_PROMO,
	KMM_NR_WMARK
};

/* Per-zone counters (a subset of the kernel's zone_stat_item). */
enum kmm_zone_stat_item {
	KMM_NR_FREE_PAGES = 0,
	KMM_NR_FREE_CMA_PAGES,
	KMM_NR_ZONE_INACTIVE_ANON,
	KMM_NR_ZONE_ACTIVE_ANON,
	KMM_NR_ZONE_INACTIVE_FILE,
	KMM_NR_ZONE_ACTIVE_FILE,
	KMM_NR_ZONE_UNEVICTABLE,
	KMM_NR_ZONE_WRITE_PENDING,
	KMM_NR_MLOCK,
	KMM_NR_ZSPAGES,
	KMM_NR_FREE_HIGHATOMIC,
	KMM_NR_PAGETABLE,		/* page-table pages in this zone */
	KMM_NR_ZONE_STAT_ITEMS
};

struct kmm_pglist_data;

struct kmm_zone {
	/* Read-mostly, set at boot. */
	struct kmm_pglist_data *zone_pgdat;
	enum kmm_zone_type type;
	const char *name;
	uint64_t zone_start_pfn;
	uint64_t spanned_pages;
	uint64_t present_pages;
	uint64_t managed_pages;		/* given to the buddy allocator */
	uint64_t cma_pages;		/* of managed, in CMA pageblocks */
	unsigned long _watermark[KMM_NR_WMARK];
	unsigned long watermark_boost;
	long lowmem_reserve[KMM_MAX_NR_ZONES];
	int pcp_batch;			/* zone_batchsize() */
	int pcp_high_min, pcp_high_max;
	int stat_threshold;
	unsigned long nr_reserved_highatomic;

	/* Pageblock flags: one byte per pageblock (see KMM_PB_*). zone->lock. */
	uint8_t *pageblock_flags;

	/* Per-CPU page lists, one per CPU. */
	struct kmm_per_cpu_pages *per_cpu_pageset;

	/* Free lists, under zone->lock. */
	kmm_port_lock_t lock;		/* zone->lock */
	struct kmm_free_area free_area[KMM_NR_PAGE_ORDERS];
	unsigned long flags;		/* KMM_ZONE_* */

	/* Counters: atomic so reports can read them without locks. */
	atomic_long vm_stat[KMM_NR_ZONE_STAT_ITEMS];
	atomic_ulong events[KMM_NR_ZONE_EVENTS];
};

#define KMM_ZONE_BELOW_HIGH 0x1

/* Pageblock flag byte. */
#define KMM_PB_MIGRATETYPE_MASK 0x7	/* enum kmm_migratetype (not ISOLATE) */
#define KMM_PB_ISOLATE 0x8		/* PB_migrate_isolate */
#define KMM_PB_SKIP 0x10		/* compaction skip hint */

/* A zonelist: the zones to try, best first. */
struct kmm_zonelist {
	struct kmm_zone *zones[KMM_MAX_NUMNODES * KMM_MAX_NR_ZONES + 1];
	int nr;
};

enum {
	KMM_ZONELIST_FALLBACK = 0,	/* this node, then the others */
	KMM_ZONELIST_NOFALLBACK = 1,	/* this node only (__GFP_THISNODE) */
	KMM_MAX_ZONELISTS
};

struct kmm_pglist_data {
	int node_id;
	uint64_t node_start_pfn;
	uint64_t node_spanned_pages;
	uint64_t node_present_pages;
	int nr_zones;			/* highest populated zone + 1 */
	struct kmm_zone node_zones[KMM_MAX_NR_ZONES];
	struct kmm_zonelist node_zonelists[KMM_MAX_ZONELISTS];
};

/* ---- the machine ------------------------------------------------------- */

#define KMM_MAX_CMA_AREAS 8

/* A CMA area reserved at boot (cma=) or declared later. */
struct kmm_cma_reservation {
	uint64_t base_pfn;
	uint64_t count;			/* pages */
	char name[32];
};

/* Everything kmm_boot() parsed; defaults filled in. */
struct kmm_boot_params {
	uint64_t mem_bytes;		/* mem= (default 1G) */
	unsigned numa_nodes;		/* numa= (default 1) */
	unsigned nr_cpus;		/* nr_cpus= (default: host CPUs) */
	uint64_t movablecore_bytes;	/* movablecore= */
	unsigned movablecore_percent;	/* movablecore=N% (0: use bytes) */
	uint64_t cma_bytes;		/* cma=SIZE */
	uint64_t cma_base;		/* cma=SIZE@BASE (~0: anywhere) */
	uint64_t vmalloc_bytes;		/* vmalloc= (default 32 GiB) */
	enum kmm_mode mode;		/* kmm.mode= */
	bool init_on_alloc;		/* init_on_alloc= */
	bool init_on_free;		/* init_on_free= */
	bool thp_enabled;		/* transparent_hugepage= (not never) */
	uint64_t seed;			/* kmm.seed= */
	bool have_seed;
	char fail_page_alloc[64];	/* fail_page_alloc=, applied after boot */
	long fail_page_alloc_nth;	/* fail_page_alloc.nth=, likewise */
};

struct kmm_machine {
	struct kmm_boot_params params;
	bool booted;
	unsigned nr_nodes;
	unsigned nr_cpus;
	uint64_t max_pfn;		/* one past the last PFN */
	uintptr_t direct_map;		/* address of PFN 0 */
	struct kmm_page *mem_map;	/* max_pfn entries */
	struct kmm_pglist_data *node_data[KMM_MAX_NUMNODES];
	uint64_t min_free_kbytes;
	unsigned nr_cma_areas;
	struct kmm_cma_reservation cma_reserved[KMM_MAX_CMA_AREAS];
	uint64_t totalram_pages;
	uint64_t totalcma_pages;
	uintptr_t vmalloc_start;	/* kernel VA space [start, end) */
	uintptr_t vmalloc_end;
};

/* The one machine; valid between kmm_boot() and kmm_shutdown(). */
extern struct kmm_machine kmm_machine;

static inline struct kmm_page *kmm_pfn_to_page(uint64_t pfn)
{
	return kmm_machine.mem_map + pfn;
}

static inline uint64_t kmm_page_to_pfn(const struct kmm_page *page)
{
	return (uint64_t)(page - kmm_machine.mem_map);
}

static inline bool kmm_pfn_valid(uint64_t pfn)
{
	return kmm_machine.booted && pfn < kmm_machine.max_pfn;
}

/** kmm_page_address - the page's address in the direct map. */
static inline void *kmm_page_address(const struct kmm_page *page)
{
	return (void *)(kmm_machine.direct_map +
			(kmm_page_to_pfn(page) << KMM_PAGE_SHIFT));
}

/**
 * kmm_virt_to_page - the page behind a direct-map address, or NULL when
 * @addr is not in the direct map.
 */
static inline struct kmm_page *kmm_virt_to_page(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	if (a < kmm_machine.direct_map ||
	    (a - kmm_machine.direct_map) >> KMM_PAGE_SHIFT >= kmm_machine.max_pfn)
		return NULL;
	return kmm_pfn_to_page((a - kmm_machine.direct_map) >> KMM_PAGE_SHIFT);
}

static inline struct kmm_pglist_data *kmm_NODE_DATA(int nid)
{
	return kmm_machine.node_data[nid];
}

static inline struct kmm_zone *kmm_page_zone(const struct kmm_page *page)
{
	return &kmm_machine.node_data[kmm_page_nid(page)]
			->node_zones[kmm_page_zonenum(page)];
}

static inline bool kmm_zone_is_populated(const struct kmm_zone *z)
{
	return z->present_pages != 0;
}

static inline bool kmm_zone_managed(const struct kmm_zone *z)
{
	return z->managed_pages != 0;
}

static inline uint64_t kmm_zone_end_pfn(const struct kmm_zone *z)
{
	return z->zone_start_pfn + z->spanned_pages;
}

static inline unsigned long kmm_wmark_pages(const struct kmm_zone *z,
					    enum kmm_zone_wmark w)
{
	return z->_watermark[w] + z->watermark_boost;
}

static inline long kmm_zone_page_state(const struct kmm_zone *z,
				       enum kmm_zone_stat_item i)
{
	long v = atomic_load_explicit(&z->vm_stat[i], memory_order_relaxed);
	return v < 0 ? 0 : v;
}

#endif /* KMM_MMZONE_H */
