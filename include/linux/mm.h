/* SPDX-License-Identifier: MIT */
/*
 * linux/mm.h - kmm compatibility header: page frames, references and the
 * direct map under the kernel's names.
 *
 * Includes <linux/gfp.h>, <linux/mmzone.h> and <linux/mm_types.h> as the
 * kernel's does; `struct page` is kmm's struct kmm_page (see
 * <linux/mm_types.h>).
 */
#ifndef KMM_LINUX_MM_H
#define KMM_LINUX_MM_H

#include <kmm/mmzone.h>
#include <kmm/page_alloc.h>
#include <linux/gfp.h>
#include <linux/mm_types.h>
#include <linux/mmzone.h>

#ifndef PAGE_SHIFT
#define PAGE_SHIFT KMM_PAGE_SHIFT
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE KMM_PAGE_SIZE
#endif
#ifndef PAGE_MASK
#define PAGE_MASK KMM_PAGE_MASK
#endif
#ifndef PAGE_ALIGN
#define PAGE_ALIGN(addr) KMM_ALIGN_UP((addr), PAGE_SIZE)
#endif
#define PAGE_ALIGNED(addr) KMM_IS_ALIGNED((unsigned long)(addr), PAGE_SIZE)
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)
#define PFN_UP(x) (((x) + PAGE_SIZE - 1) >> PAGE_SHIFT)
#define PFN_DOWN(x) ((x) >> PAGE_SHIFT)
#define PFN_PHYS(x) ((uint64_t)(x) << PAGE_SHIFT)
#define PHYS_PFN(x) ((unsigned long)((x) >> PAGE_SHIFT))

static inline void *page_address(const struct kmm_page *pg)
{
	return kmm_page_address(pg);
}

/* NULL when @addr is not in the direct map (the kernel would not check). */
static inline struct kmm_page *virt_to_page(const void *addr)
{
	return kmm_virt_to_page(addr);
}

static inline struct kmm_page *pfn_to_page(unsigned long pfn)
{
	return kmm_pfn_to_page(pfn);
}

static inline unsigned long page_to_pfn(const struct kmm_page *pg)
{
	return (unsigned long)kmm_page_to_pfn(pg);
}

static inline bool pfn_valid(unsigned long pfn)
{
	return kmm_pfn_valid(pfn);
}

static inline void *lowmem_page_address(const struct kmm_page *pg)
{
	return kmm_page_address(pg);
}

#define virt_addr_valid(addr) (kmm_virt_to_page(addr) != NULL)

static inline void get_page(struct kmm_page *pg)
{
	kmm_get_page(pg);
}

static inline void put_page(struct kmm_page *pg)
{
	kmm_put_page(pg);
}

static inline int page_ref_count(const struct kmm_page *pg)
{
	return kmm_page_ref_count(pg);
}

static inline int page_count(const struct kmm_page *pg)
{
	return kmm_page_ref_count(pg);
}

static inline int page_to_nid(const struct kmm_page *pg)
{
	return kmm_page_nid(pg);
}

static inline int page_zonenum(const struct kmm_page *pg)
{
	return kmm_page_zonenum(pg);
}

static inline struct kmm_zone *page_zone(const struct kmm_page *pg)
{
	return kmm_page_zone(pg);
}

#endif /* KMM_LINUX_MM_H */
