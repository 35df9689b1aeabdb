/* SPDX-License-Identifier: MIT */
/*
 * linux/gfp.h - kmm compatibility header: GFP flags and the page allocator
 * under the kernel's names (Linux 6.18 signatures).
 *
 * Every function here is a static inline wrapper of a kmm_ function with
 * the same contract; see <kmm/page_alloc.h> for context and locking.
 */
#ifndef KMM_LINUX_GFP_H
#define KMM_LINUX_GFP_H

#include <kmm/gfp.h>
#include <kmm/page_alloc.h>
#include <linux/mm_types.h>
#include <linux/mmzone.h>

typedef kmm_gfp_t gfp_t;

#define __GFP_DMA KMM___GFP_DMA
#define __GFP_HIGHMEM KMM___GFP_HIGHMEM
#define __GFP_DMA32 KMM___GFP_DMA32
#define __GFP_MOVABLE KMM___GFP_MOVABLE
#define __GFP_RECLAIMABLE KMM___GFP_RECLAIMABLE
#define __GFP_HIGH KMM___GFP_HIGH
#define __GFP_IO KMM___GFP_IO
#define __GFP_FS KMM___GFP_FS
#define __GFP_ZERO KMM___GFP_ZERO
#define __GFP_DIRECT_RECLAIM KMM___GFP_DIRECT_RECLAIM
#define __GFP_KSWAPD_RECLAIM KMM___GFP_KSWAPD_RECLAIM
#define __GFP_RECLAIM KMM___GFP_RECLAIM
#define __GFP_WRITE KMM___GFP_WRITE
#define __GFP_NOWARN KMM___GFP_NOWARN
#define __GFP_RETRY_MAYFAIL KMM___GFP_RETRY_MAYFAIL
#define __GFP_NOFAIL KMM___GFP_NOFAIL
#define __GFP_NORETRY KMM___GFP_NORETRY
#define __GFP_MEMALLOC KMM___GFP_MEMALLOC
#define __GFP_COMP KMM___GFP_COMP
#define __GFP_NOMEMALLOC KMM___GFP_NOMEMALLOC
#define __GFP_HARDWALL KMM___GFP_HARDWALL
#define __GFP_THISNODE KMM___GFP_THISNODE
#define __GFP_ACCOUNT KMM___GFP_ACCOUNT
#define __GFP_ZEROTAGS KMM___GFP_ZEROTAGS
#define __GFP_SKIP_ZERO KMM___GFP_SKIP_ZERO
#define __GFP_SKIP_KASAN KMM___GFP_SKIP_KASAN
#define __GFP_NOLOCKDEP KMM___GFP_NOLOCKDEP
#define __GFP_NO_OBJ_EXT KMM___GFP_NO_OBJ_EXT
#define __GFP_BITS_SHIFT KMM___GFP_BITS
#define __GFP_BITS_MASK ((gfp_t)((1u << __GFP_BITS_SHIFT) - 1))

#define GFP_ZONEMASK KMM_GFP_ZONEMASK
#define GFP_MOVABLE_MASK KMM_GFP_MOVABLE_MASK
#define GFP_MOVABLE_SHIFT KMM_GFP_MOVABLE_SHIFT

#define GFP_ATOMIC KMM_GFP_ATOMIC
#define GFP_KERNEL KMM_GFP_KERNEL
#define GFP_KERNEL_ACCOUNT KMM_GFP_KERNEL_ACCOUNT
#define GFP_NOWAIT KMM_GFP_NOWAIT
#define GFP_NOIO KMM_GFP_NOIO
#define GFP_NOFS KMM_GFP_NOFS
#define GFP_USER KMM_GFP_USER
#define GFP_DMA KMM_GFP_DMA
#define GFP_DMA32 KMM_GFP_DMA32
#define GFP_HIGHUSER KMM_GFP_HIGHUSER
#define GFP_HIGHUSER_MOVABLE KMM_GFP_HIGHUSER_MOVABLE
#define GFP_TRANSHUGE_LIGHT KMM_GFP_TRANSHUGE_LIGHT
#define GFP_TRANSHUGE KMM_GFP_TRANSHUGE

#define NUMA_NO_NODE (-1)

static inline int gfp_migratetype(gfp_t gfp)
{
	return kmm_gfp_migratetype(gfp);
}

static inline enum kmm_zone_type gfp_zone(gfp_t gfp)
{
	return kmm_gfp_zone(gfp);
}

static inline bool gfpflags_allow_blocking(gfp_t gfp)
{
	return !!(gfp & __GFP_DIRECT_RECLAIM);
}

static inline struct kmm_page *alloc_pages(gfp_t gfp, unsigned int order)
{
	return kmm_alloc_pages(gfp, order);
}

static inline struct kmm_page *alloc_pages_node(int nid, gfp_t gfp,
						unsigned int order)
{
	return kmm_alloc_pages_node(nid, gfp, order);
}

static inline struct kmm_page *alloc_page(gfp_t gfp)
{
	return kmm_alloc_pages(gfp, 0);
}

static inline unsigned long __get_free_pages(gfp_t gfp, unsigned int order)
{
	return kmm___get_free_pages(gfp, order);
}

static inline unsigned long __get_free_page(gfp_t gfp)
{
	return kmm___get_free_pages(gfp, 0);
}

static inline unsigned long get_zeroed_page(gfp_t gfp)
{
	return kmm_get_zeroed_page(gfp);
}

static inline void __free_pages(struct kmm_page *pg, unsigned int order)
{
	kmm___free_pages(pg, order);
}

static inline void __free_page(struct kmm_page *pg)
{
	kmm___free_pages(pg, 0);
}

static inline void free_pages(unsigned long addr, unsigned int order)
{
	kmm_free_pages(addr, order);
}

static inline void free_page(unsigned long addr)
{
	kmm_free_pages(addr, 0);
}

/*
 * 6.18: alloc_pages_bulk(gfp, nr_pages, page_array) fills the NULL slots of
 * page_array and returns how many slots are populated.
 */
#define alloc_pages_bulk(gfp, nr_pages, page_array) \
	kmm_alloc_pages_bulk((gfp), NUMA_NO_NODE, (nr_pages), (page_array))
#define alloc_pages_bulk_node(gfp, nid, nr_pages, page_array) \
	kmm_alloc_pages_bulk((gfp), (nid), (nr_pages), (page_array))

/*
 * Contiguous allocation.  alloc_contig_range() has the documented 4.x
 * form (start, end, migratetype: MIGRATE_MOVABLE or MIGRATE_CMA); the
 * 6.16+ form (start, end, acr_flags, gfp) is kmm_alloc_contig_range().
 */
#include <kmm/migrate.h>

typedef unsigned int acr_flags_t;
#define ACR_FLAGS_NONE KMM_ACR_FLAGS_NONE
#define ACR_FLAGS_CMA KMM_ACR_FLAGS_CMA

static inline int alloc_contig_range(unsigned long start, unsigned long end,
				     unsigned migratetype)
{
	return kmm_alloc_contig_range_mt(start, end, migratetype);
}

static inline void free_contig_range(unsigned long pfn, unsigned long nr_pages)
{
	kmm_free_contig_range(pfn, nr_pages);
}

static inline struct kmm_page *alloc_contig_pages(unsigned long nr_pages, gfp_t gfp,
						  int nid, void *nodemask)
{
	return kmm_alloc_contig_pages(nr_pages, gfp, nid, nodemask);
}

#endif /* KMM_LINUX_GFP_H */
