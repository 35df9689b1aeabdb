/* SPDX-License-Identifier: MIT */
/*
 * kmm/cma.h - the Contiguous Memory Allocator (Linux's mm/cma.c).
 *
 * A CMA area is a pageblock-aligned PFN range of one zone whose pageblocks
 * are MIGRATE_CMA: the buddy allocator lends its free pages to movable
 * allocations only, and cma_alloc() takes them back by migrating those
 * away (alloc_contig_range() with ACR_FLAGS_CMA).  A bitmap, one bit per
 * 2^order_per_bit pages, records what cma_alloc() handed out.
 */
#ifndef KMM_CMA_H
#define KMM_CMA_H

#include <kmm/mmzone.h>

struct kmm_cma;

/**
 * kmm_cma_declare_contiguous - reserve a new CMA area of @size bytes.
 * @base: physical address, or 0 for anywhere below @limit (highest fit).
 * @size: bytes, a multiple of the pageblock size (2 MiB) after rounding
 *   up to it.
 * @limit: highest physical address + 1 the area may use (0: no limit).
 * @alignment: bytes, 0 or a power of two (at least a pageblock is used).
 * @order_per_bit: pages per bitmap bit = 2^order_per_bit.
 * @fixed: @base must be used as is.
 * @name: up to 31 characters ("cma%d" when NULL).
 * @res_cma: receives the area.
 *
 * The kernel reserves from memblock during early boot; kmm, after boot,
 * takes the range from the buddy allocator with alloc_contig_range() (so
 * movable pages there are migrated away) and then activates it as
 * cma_init_reserved_mem() does.  The end state is the same.
 * Context: any thread holding no mmap_lock.
 * Return: 0; -EINVAL for bad sizes, alignment or a range outside one zone;
 * -ENOSPC when KMM_MAX_CMA_AREAS exist; -EBUSY/-ENOMEM when the range
 * cannot be freed up.
 */
int kmm_cma_declare_contiguous(uint64_t base, uint64_t size, uint64_t limit,
			       uint64_t alignment, unsigned order_per_bit, bool fixed,
			       const char *name, struct kmm_cma **res_cma);

/**
 * kmm_cma_init_reserved_mem - make a CMA area of memory the caller owns.
 * @base, @size: physical address and bytes, pageblock aligned, one zone;
 *   every page must be allocated to the caller as an order-0 page
 *   (alloc_contig_range()): "reserved" memory in kmm's terms.
 * @order_per_bit, @name, @res_cma: as above.
 *
 * The pages become MIGRATE_CMA pageblocks with PG_cma and are freed to
 * the buddy allocator (cma_activate_area()).
 * Return: 0; -EINVAL for unaligned or foreign memory (nothing changes);
 * -ENOSPC for too many areas; -ENOMEM for the bitmap.
 */
int kmm_cma_init_reserved_mem(uint64_t base, uint64_t size, unsigned order_per_bit,
			      const char *name, struct kmm_cma **res_cma);

/**
 * kmm_cma_alloc - allocate @count contiguous pages from @cma.
 * @align: order of the alignment of the first PFN (clamped to
 *   MAX_PAGE_ORDER; and never finer than order_per_bit).
 * @no_warn: no failure message.
 *
 * Finds a clear run in the bitmap (under cma->lock), marks it, and calls
 * alloc_contig_range() on it without the lock (under the area's
 * alloc_mutex); on -EBUSY the run is given back and the search goes on
 * one alignment step past the run's start (the kernel's bitmap_no + mask
 * + 1), until the bitmap is exhausted.
 * Context: any thread holding no mmap_lock; may migrate user pages.
 * Return: the first page (each page an order-0 allocation with refcount
 * 1), or NULL (@count 0, @cma NULL, or no run could be had).
 */
struct kmm_page *kmm_cma_alloc(struct kmm_cma *cma, unsigned long count, unsigned align,
			       bool no_warn);

/**
 * kmm_cma_release - give back @count pages from @pages, which
 * kmm_cma_alloc() returned from @cma.
 * Return: true; false (and nothing freed) if the pages are not all inside
 * @cma, not all marked allocated in its bitmap, or not all allocated
 * pages (a double release).
 */
bool kmm_cma_release(struct kmm_cma *cma, const struct kmm_page *pages, unsigned long count);

/** struct kmm_cma_stats - one area's numbers (debugfs and sysfs of the kernel). */
struct kmm_cma_stats {
	uint64_t base_pfn;
	unsigned long count;		/* pages */
	unsigned long used;		/* pages marked in the bitmap */
	unsigned long maxchunk;		/* largest clear run, pages */
	unsigned order_per_bit;
	unsigned long alloc_pages_success;
	unsigned long alloc_pages_fail;
	unsigned long release_pages_success;
};

/** kmm_cma_get_stats - a consistent snapshot (takes cma->lock). */
void kmm_cma_get_stats(struct kmm_cma *cma, struct kmm_cma_stats *st);

/** kmm_cma_get_name - the area's name. */
const char *kmm_cma_get_name(const struct kmm_cma *cma);

/** kmm_cma_get_base / kmm_cma_get_size - first PFN's address, bytes. */
uint64_t kmm_cma_get_base(const struct kmm_cma *cma);
unsigned long kmm_cma_get_size(const struct kmm_cma *cma);

/**
 * kmm_cma_bitmap_text - the bitmap as the kernel's debugfs "bitmap" file
 * prints it: 32-bit words in decimal, separated by spaces, then a newline.
 * Return: bytes written (truncated to @size - 1), as scnprintf.
 */
int kmm_cma_bitmap_text(struct kmm_cma *cma, char *buf, size_t size);

/** kmm_cma_area - area @i (0..kmm_cma_area_count()-1), or NULL. */
struct kmm_cma *kmm_cma_area(unsigned i);
unsigned kmm_cma_area_count(void);

/**
 * kmm_cma_validate - every area: pages PG_cma in pageblocks of type CMA
 * (possibly isolated), the first page of every set bit allocated
 * (refcount > 0, not free), used agrees with the bitmap.
 * Return: 0 or -EINVAL (logged).
 */
int kmm_cma_validate(void);

/* Internal (boot.c). */
int kmm__cma_init(void);
void kmm__cma_fini(void);

#endif /* KMM_CMA_H */
