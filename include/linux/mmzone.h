/* SPDX-License-Identifier: MIT */
/*
 * linux/mmzone.h - kmm compatibility header: zones, nodes, migratetypes and
 * pageblocks under the kernel's names.
 *
 * `struct zone` and `struct pglist_data` (pg_data_t) are kmm's
 * `struct kmm_zone` / `struct kmm_pglist_data` through the same kind of
 * token macro as `struct page` (see <linux/mm_types.h> for the trade-off):
 * `zone`, `zone_type` and `pglist_data` are renamed to their kmm_ names in
 * every file that includes this header.  `enum migratetype` is not
 * provided (the name is too common as a variable); use int.
 * Define KMM_NO_PAGE_ALIAS to get none of these macros.
 */
#ifndef KMM_LINUX_MMZONE_H
#define KMM_LINUX_MMZONE_H

#include <kmm/mmzone.h>
#include <kmm/page_alloc.h>
#include <linux/mm_types.h>

#if !defined(KMM_NO_PAGE_ALIAS)
#ifndef zone
#define zone kmm_zone
#endif
#ifndef zone_type
#define zone_type kmm_zone_type
#endif
#ifndef pglist_data
#define pglist_data kmm_pglist_data
#endif
#endif
typedef struct kmm_pglist_data pg_data_t;

#define MAX_PAGE_ORDER KMM_MAX_PAGE_ORDER
#define NR_PAGE_ORDERS KMM_NR_PAGE_ORDERS
#define MAX_ORDER_NR_PAGES KMM_MAX_ORDER_NR_PAGES
#define PAGE_ALLOC_COSTLY_ORDER KMM_PAGE_ALLOC_COSTLY_ORDER
#define pageblock_order KMM_PAGEBLOCK_ORDER
#define pageblock_nr_pages KMM_PAGEBLOCK_NR_PAGES
#define MAX_NUMNODES KMM_MAX_NUMNODES

#define ZONE_DMA KMM_ZONE_DMA
#define ZONE_DMA32 KMM_ZONE_DMA32
#define ZONE_NORMAL KMM_ZONE_NORMAL
#define ZONE_MOVABLE KMM_ZONE_MOVABLE
#define MAX_NR_ZONES KMM_MAX_NR_ZONES

#define MIGRATE_UNMOVABLE KMM_MIGRATE_UNMOVABLE
#define MIGRATE_MOVABLE KMM_MIGRATE_MOVABLE
#define MIGRATE_RECLAIMABLE KMM_MIGRATE_RECLAIMABLE
#define MIGRATE_PCPTYPES KMM_MIGRATE_PCPTYPES
#define MIGRATE_HIGHATOMIC KMM_MIGRATE_HIGHATOMIC
#define MIGRATE_CMA KMM_MIGRATE_CMA
#define MIGRATE_ISOLATE KMM_MIGRATE_ISOLATE
#define MIGRATE_TYPES KMM_MIGRATE_TYPES

#define migratetype_names kmm_migratetype_names
#define zone_names kmm_zone_names

#define is_migrate_movable(mt) \
	((mt) == KMM_MIGRATE_MOVABLE || (mt) == KMM_MIGRATE_CMA)
#define is_migrate_cma(mt) ((mt) == KMM_MIGRATE_CMA)
#define is_migrate_isolate(mt) ((mt) == KMM_MIGRATE_ISOLATE)

#define NODE_DATA(nid) kmm_NODE_DATA(nid)
#define populated_zone(z) kmm_zone_is_populated(z)
#define managed_zone(z) kmm_zone_managed(z)
#define zone_end_pfn(z) kmm_zone_end_pfn(z)
#define zone_idx(z) ((int)((z) - (z)->zone_pgdat->node_zones))
#define zone_to_nid(z) ((z)->zone_pgdat->node_id)
#define zone_managed_pages(z) ((unsigned long)(z)->managed_pages)

#define get_pageblock_migratetype(pg) \
	kmm_get_pfnblock_migratetype(kmm_page_to_pfn(pg))

#endif /* KMM_LINUX_MMZONE_H */
