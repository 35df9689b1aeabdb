/* SPDX-License-Identifier: MIT */
/*
 * kmm/vmalloc.h - kernel virtual address space: vmap areas, vm_struct,
 * vmalloc/vmap and friends (Linux 6.18 mm/vmalloc.c behaviour).
 *
 * Addresses returned are real pointers in real/strict mode (inside the
 * kernel VA reservation, backed by the machine's memfd pages through the
 * page tables of kmm_init_mm) and x86-64 kernel addresses, never to be
 * dereferenced, in shadow mode.
 *
 * VMALLOC_START is kmm_machine.vmalloc_start; VMALLOC_END, as in the
 * kernel, is the last byte: kmm_machine.vmalloc_end - 1.
 */
#ifndef KMM_VMALLOC_H
#define KMM_VMALLOC_H

#include <kmm/gfp.h>
#include <kmm/mmzone.h>
#include <kmm/pgtable.h>
#include <kmm/va_alloc.h>

/* vm_struct flags (the kernel's VM_*). */
#define KMM_VM_IOREMAP		0x00000001
#define KMM_VM_ALLOC		0x00000002
#define KMM_VM_MAP		0x00000004
#define KMM_VM_USERMAP		0x00000008
#define KMM_VM_DMA_COHERENT	0x00000010
#define KMM_VM_UNINITIALIZED	0x00000020
#define KMM_VM_NO_GUARD		0x00000040
#define KMM_VM_KASAN		0x00000080
#define KMM_VM_FLUSH_RESET_PERMS 0x00000100
#define KMM_VM_MAP_PUT_PAGES	0x00000200
#define KMM_VM_ALLOW_HUGE_VMAP	0x00000400
#define KMM_VM_DEFER_KMEMLEAK	0x00000800
#define KMM_VM_SPARSE		0x00001000
#define KMM_VM_DEFERRED_FREE	0x40000000	/* kmm: queued by vfree_atomic() */

/* vmap_area->flags (the kernel's VMAP_*); bits 8+ hold the vmap node id. */
#define KMM_VMAP_RAM		0x1
#define KMM_VMAP_BLOCK		0x2
#define KMM_VMAP_FLAGS_MASK	0x3

#define KMM_MAX_VA_SIZE_PAGES	256	/* largest pooled area, in pages */

/*
 * vm_map_ram() blocks (64-bit, 4 KiB pages).  VMAP_BBMAP_BITS is
 * clamp(VMALLOC_PAGES / roundup_pow_of_two(NR_CPUS) / 16, 2 * VMAP_MAX_ALLOC,
 * 1024) with the kernel's VMALLOC_SPACE of 128 GiB and CONFIG_NR_CPUS of
 * the distribution kernels (8192): 256 pages, a 1 MiB block.
 */
#define KMM_CONFIG_NR_CPUS	8192
#define KMM_VMAP_MAX_ALLOC	64	/* BITS_PER_LONG pages */
#define KMM_VMALLOC_SPACE_PAGES	((128UL << 30) >> 12)
#define KMM__VMAP_BBMAP_RAW	(KMM_VMALLOC_SPACE_PAGES / KMM_CONFIG_NR_CPUS / 16)
#define KMM_VMAP_BBMAP_BITS						\
	(KMM__VMAP_BBMAP_RAW > 1024 ? 1024 :				\
	 KMM__VMAP_BBMAP_RAW < 2 * KMM_VMAP_MAX_ALLOC ? 2 * KMM_VMAP_MAX_ALLOC : \
	 KMM__VMAP_BBMAP_RAW)
#define KMM_VMAP_BLOCK_SIZE	(KMM_VMAP_BBMAP_BITS * 4096UL)
#define KMM_VMAP_PURGE_THRESHOLD (KMM_VMAP_BBMAP_BITS / 8)
#define KMM_VMAP_ZONE_PAGES	16	/* addr_to_node_id() granularity */
#define KMM_IOREMAP_MAX_ORDER	30	/* x86-64: PUD_SHIFT (huge vmap) */

struct kmm_vm_struct {
	struct kmm_vm_struct *next;
	void *addr;
	unsigned long size;		/* includes the guard page */
	unsigned long flags;
	struct kmm_page **pages;	/* readable array (metadata in shadow) */
	void *pages_area;		/* where the kernel kept the array: a
					 * vmalloc address for big arrays */
	unsigned int page_order;
	unsigned int nr_pages;
	uint64_t phys_addr;
	const void *caller;
	unsigned long requested_size;
};

static inline unsigned long kmm_get_vm_area_size(const struct kmm_vm_struct *vm)
{
	return (vm->flags & KMM_VM_NO_GUARD) ? vm->size : vm->size - KMM_PAGE_SIZE;
}

static inline unsigned long kmm_vmalloc_start(void)
{
	return kmm_machine.vmalloc_start;
}

static inline unsigned long kmm_vmalloc_end(void)
{
	return kmm_machine.vmalloc_end - 1;
}

/**
 * kmm_is_vmalloc_addr - true when @x lies in [VMALLOC_START, VMALLOC_END].
 * Context: any.
 */
bool kmm_is_vmalloc_addr(const void *x);

/* ---- areas ------------------------------------------------------------- */

/**
 * kmm___get_vm_area_caller - reserve @size bytes (rounded up to pages, plus
 * a guard page unless VM_NO_GUARD) of kernel VA inside [@start, @end)
 * (the area ends at or below @end, as the kernel checks).
 * VM_IOREMAP areas are aligned to their size's power of two (at most
 * 2^IOREMAP_MAX_ORDER).  No page table is created, nothing is mapped.
 * Context: may sleep (takes mutexes, allocates).  Locks: free_vmap_area_lock,
 * a vmap node's busy lock.
 * Return: the area, or NULL (size 0, range outside the VA space, no space
 * left after purging lazily freed areas: the kernel's "vmalloc_node_range
 * for size %lu failed" warning).
 */
struct kmm_vm_struct *kmm___get_vm_area_caller(unsigned long size,
					       unsigned long flags,
					       unsigned long start,
					       unsigned long end,
					       const void *caller);
/** kmm___get_vm_area - kmm___get_vm_area_caller() with this caller. */
struct kmm_vm_struct *kmm___get_vm_area(unsigned long size, unsigned long flags,
					unsigned long start, unsigned long end);
/** kmm_get_vm_area - an area anywhere in [VMALLOC_START, VMALLOC_END]. */
struct kmm_vm_struct *kmm_get_vm_area(unsigned long size, unsigned long flags);
struct kmm_vm_struct *kmm_get_vm_area_caller(unsigned long size,
					     unsigned long flags,
					     const void *caller);

/**
 * kmm_find_vm_area - the vm_struct of the busy area containing @addr.
 * Context: any; takes vmap node busy locks.  Return: it or NULL.
 */
struct kmm_vm_struct *kmm_find_vm_area(const void *addr);

/**
 * kmm_remove_vm_area - unlink the area starting at @addr, clear its PTEs
 * and free its VA lazily (the host mapping lingers until the next purge,
 * or is removed at once in strict mode).  The vm_struct and the pages are
 * the caller's.
 * Return: the vm_struct, or NULL (not page aligned, outside the vmalloc
 * range, not an area start, or an area with no vm_struct such as a
 * vm_map_ram one).
 */
struct kmm_vm_struct *kmm_remove_vm_area(const void *addr);

/**
 * kmm_vm_struct_free - free a vm_struct that kmm_remove_vm_area() handed
 * back (the kernel's callers kfree() it).  NULL is ignored.
 */
void kmm_vm_struct_free(struct kmm_vm_struct *vm);

/**
 * kmm_alloc_vm_area - reserve kernel VA and allocate its page tables,
 * creating no mapping (the Linux 4.8 interface).
 * @size: bytes.
 * @ptes: NULL, or an array of DIV_ROUND_UP(size, PAGE_SIZE) entries,
 *   filled with a pointer to the PTE (in kmm_init_mm) of each page.
 * Context: may sleep.  Return: the area (VM_IOREMAP) or NULL.
 */
struct kmm_vm_struct *kmm_alloc_vm_area(size_t size, kmm_pte_t **ptes);

/** kmm_free_vm_area - free an area from kmm_alloc_vm_area(). */
void kmm_free_vm_area(struct kmm_vm_struct *area);

/* ---- vmalloc ----------------------------------------------------------- */

/**
 * kmm___vmalloc_node_range - the general vmalloc: reserve VA in
 * [@start, @end] aligned to @align, allocate size/PAGE_SIZE pages with
 * @gfp (plus __GFP_HIGHMEM unless DMA/DMA32 is asked), map them with
 * @prot and flush them to the host.
 * Return: the address or NULL (size 0 or above total RAM, no VA, no
 * memory, host refused a mapping: the kernel's "vmalloc error" warnings
 * unless __GFP_NOWARN).  Nothing is left allocated on failure.
 * Context: may sleep.
 */
void *kmm___vmalloc_node_range(unsigned long size, unsigned long align,
			       unsigned long start, unsigned long end,
			       kmm_gfp_t gfp, kmm_pgprot_t prot,
			       unsigned long vm_flags, int node,
			       const void *caller);
void *kmm___vmalloc_node(unsigned long size, unsigned long align,
			 kmm_gfp_t gfp, int node, const void *caller);
void *kmm___vmalloc(unsigned long size, kmm_gfp_t gfp);
void *kmm_vmalloc(unsigned long size);
void *kmm_vzalloc(unsigned long size);
void *kmm_vmalloc_node(unsigned long size, int node);
void *kmm_vzalloc_node(unsigned long size, int node);
/** kmm_vmalloc_user - zeroed, VM_USERMAP: may be given to remap_vmalloc_range. */
void *kmm_vmalloc_user(unsigned long size);
/** kmm_vmalloc_32 - pages from ZONE_DMA32 or below. */
void *kmm_vmalloc_32(unsigned long size);
void *kmm_vmalloc_32_user(unsigned long size);

/**
 * kmm_vfree - free a vmalloc()/vmap(VM_MAP_PUT_PAGES) area and its pages.
 * NULL is ignored; an address that is no area start gets the kernel's
 * "Trying to vfree() nonexistent vm area" warning and changes nothing.
 * Context: may sleep.
 */
void kmm_vfree(const void *addr);

/**
 * kmm_vfree_atomic - vfree() from a context that must not sleep: the area
 * is queued (in real mode on a list threaded through the freed memory
 * itself, as the kernel does) and freed by the next vmalloc, vfree,
 * vunmap, purge or vm_unmap_aliases().  It only takes the short vmap-node
 * locks to find the area; in shadow mode, and for an address that is not
 * an area start, it is a plain vfree() (which warns about the latter).
 */
void kmm_vfree_atomic(const void *addr);

/**
 * kmm_vmap - map @count pages at consecutive kernel VA.
 * @flags: VM_* flags for the area (VM_MAP usually; VM_MAP_PUT_PAGES hands
 *   the pages and the array to vfree()).  VM_NO_GUARD and
 *   VM_FLUSH_RESET_PERMS are refused.
 * Return: the address or NULL.  Context: may sleep.
 */
void *kmm_vmap(struct kmm_page **pages, unsigned int count, unsigned long flags,
	       kmm_pgprot_t prot);

/** kmm_vunmap - undo kmm_vmap() (pages untouched). NULL ignored. */
void kmm_vunmap(const void *addr);

/**
 * kmm_vmap_pfn - map raw PFNs (special PTEs, VM_IOREMAP area).
 * Return: the address or NULL.
 */
void *kmm_vmap_pfn(unsigned long *pfns, unsigned int count, kmm_pgprot_t prot);

/**
 * kmm_kvmalloc - kvmalloc(): @size bytes from metadata memory, or from
 * vmalloc when larger than a page (real mode).  Pair with kmm_kvfree().
 * Context: may sleep.  Return: the memory or NULL.
 */
void *kmm_kvmalloc(size_t size, kmm_gfp_t gfp);
/** kmm_kvfree - free kmm_kvmalloc() memory (NULL ignored). */
void kmm_kvfree(const void *addr);

/** kmm_vmalloc_to_page - the page mapped at vmalloc address @addr, or NULL. */
struct kmm_page *kmm_vmalloc_to_page(const void *addr);
/** kmm_vmalloc_to_pfn - its PFN (0 when none). */
unsigned long kmm_vmalloc_to_pfn(const void *addr);

/**
 * kmm_vm_unmap_aliases - purge every lazily freed area now: one flush over
 * their span, then their VA returns to the pools/free tree.  Afterwards no
 * stale host mapping of a freed area remains.
 * Context: may sleep; takes vmap_purge_lock.
 */
void kmm_vm_unmap_aliases(void);

/**
 * kmm_vm_map_ram_prot - map @count pages at consecutive kernel VA, fast:
 * the 4.8 vm_map_ram(pages, count, node, prot) (<linux/vmalloc.h>).
 * @node: the vmap node/NUMA node the metadata should come from (-1: any).
 * @prot: PAGE_KERNEL, PAGE_KERNEL_RO, ...; NX is always added.
 *
 * Up to VMAP_MAX_ALLOC (64) pages come from the calling CPU's vmap blocks
 * (the count rounded up to a power of two, no guard page); more are a
 * VMAP_RAM area of exactly @count pages.  Unmap with kmm_vm_unmap_ram() and
 * the same @count.  The mapping has no vm_struct: find_vm_area() does not
 * see it, vmallocinfo shows its area as "vm_map_ram".
 * Context: process context, may sleep; takes the block locks of this CPU.
 * Return: the address, or NULL (bad arguments, no VA space, a page-table
 * allocation failed).
 */
void *kmm_vm_map_ram_prot(struct kmm_page **pages, unsigned int count, int node,
			  kmm_pgprot_t prot);

/**
 * kmm_vm_map_ram - the three-argument form of later kernels (PAGE_KERNEL).
 * Context and return as kmm_vm_map_ram_prot().
 */
void *kmm_vm_map_ram(struct kmm_page **pages, unsigned int count, int node);

/**
 * kmm_vm_unmap_ram - unmap what kmm_vm_map_ram() returned.  The PTEs are
 * cleared at once; the TLB flush (the host unmap) is owed until
 * vm_unmap_aliases() or the block's purge.  An address that is no live
 * vm_map_ram() mapping, or a @count other than the one it was mapped with,
 * gets a warning and changes nothing.
 * Context: process context, may sleep.
 */
void kmm_vm_unmap_ram(const void *mem, unsigned int count);

/* vm_map_ram() block statistics (for tests and benchmarks). */
struct kmm_vmap_block_stats {
	unsigned long bbmap_bits;	/* pages per block */
	unsigned long nr_blocks;	/* live blocks */
	unsigned long free_pages, dirty_pages, used_pages;	/* over live blocks */
	unsigned long nr_made, nr_freed, nr_purged;	/* blocks, since boot */
	unsigned long nr_small, nr_large;	/* vm_map_ram() calls by path */
};
void kmm_vmap_block_get_stats(struct kmm_vmap_block_stats *st);

/* Internal (vmap_block.c <-> vmalloc.c). */
void kmm__purge_fragmented_blocks_allcpus(void);
bool kmm__vmap_blocks_collect_dirty(unsigned long *start, unsigned long *end);
int kmm__vmap_blocks_validate(void);
int kmm__vmap_blocks_init(unsigned nr_cpus);
void kmm__vmap_blocks_fini(void);

/* ---- observation -------------------------------------------------------- */

/**
 * kmm_report_vmallocinfo - /proc/vmallocinfo: each vmap node's busy areas
 * in address order, then every node's "unpurged vm_area" lines.
 * Return: as the other reports (bytes needed, snprintf style).
 */
size_t kmm_report_vmallocinfo(char *buf, size_t size);

/**
 * kmm_vmalloc_validate - the free tree (kmm_va_validate), every node's busy
 * and lazy trees (sorted, non-overlapping, in the right node), the pools
 * (sizes and alignment), the lazy page count, and that free + busy +
 * lazy + pooled areas tile the managed range exactly with no overlap.
 * Context: takes every vmalloc lock.  Return: 0 or -EINVAL (logged).
 */
int kmm_vmalloc_validate(void);

struct kmm_vmalloc_stats {
	unsigned long nr_vmap_nodes;
	unsigned long lazy_max_pages;
	unsigned long nr_lazy_pages;
	unsigned long nr_busy, nr_lazy, nr_pooled, nr_free_areas;
	unsigned long nr_purges, nr_purged_areas;
	unsigned long nr_pool_hits;
	unsigned long vmalloc_used_pages;	/* pages of VM_ALLOC areas */
};
void kmm_vmalloc_get_stats(struct kmm_vmalloc_stats *st);

/* Tracepoints, for replay and tests: called after the event. */
struct kmm_vmap_trace_ops {
	void (*alloc_vmap_area)(void *arg, unsigned long addr, unsigned long size,
				unsigned long align, unsigned long vstart,
				unsigned long vend, int failed);
	void (*free_vmap_area_noflush)(void *arg, unsigned long va_start,
				       unsigned long nr_lazy,
				       unsigned long nr_lazy_max);
	void (*purge_vmap_area_lazy)(void *arg, unsigned long start,
				     unsigned long end, unsigned long npurged);
	void *arg;
};
void kmm_vmap_set_trace(const struct kmm_vmap_trace_ops *ops);

/**
 * kmm_vmap_set_auto_purge - when false, crossing lazy_max_pages schedules
 * nothing (the replayer applies the trace's own purge events).
 */
void kmm_vmap_set_auto_purge(bool on);

/* ---- the vmap_area layer, for vm_map_ram and the replayer ------------ */

/**
 * kmm__alloc_vmap_area - the kernel's alloc_vmap_area(): from the current
 * CPU's vmap node pool for full-range requests, else the free tree;
 * purge-and-retry once on failure.
 * Return: the busy area (in its node's busy tree) or an ERR value
 * encoded as NULL with *@err set (-EINVAL, -EBUSY, -ENOMEM).
 */
struct kmm_vmap_area *kmm__alloc_vmap_area(unsigned long size,
					   unsigned long align,
					   unsigned long vstart,
					   unsigned long vend, int node,
					   kmm_gfp_t gfp, unsigned long va_flags,
					   struct kmm_vm_struct *vm, int *err);
/** kmm__find_vmap_area - the busy area containing @addr, or NULL. */
struct kmm_vmap_area *kmm__find_vmap_area(unsigned long addr);
/** kmm__find_unlink_vmap_area - unlink the busy area starting at @addr. */
struct kmm_vmap_area *kmm__find_unlink_vmap_area(unsigned long addr);
/** kmm__free_vmap_area_noflush - put an unlinked busy area on the lazy list. */
void kmm__free_vmap_area_noflush(struct kmm_vmap_area *va);
/** kmm__free_unmap_vmap_area - clear its PTEs, then free it lazily. */
void kmm__free_unmap_vmap_area(struct kmm_vmap_area *va);
/**
 * kmm__purge_vmap_area_lazy - the kernel's __purge_vmap_area_lazy():
 * flush [min(start, lazy), max(end, lazy)), decay the pools (fully with
 * @full_pool_decay), move purged areas to pools or the free tree.
 * Context: takes vmap_purge_lock.  Return: true if anything was purged.
 */
bool kmm__purge_vmap_area_lazy(unsigned long start, unsigned long end,
			       bool full_pool_decay);
/** kmm__vmap_pages_range - set PTEs for @pages over [addr, end) and flush. */
int kmm__vmap_pages_range(unsigned long addr, unsigned long end,
			  kmm_pgprot_t prot, struct kmm_page **pages);
/** kmm__vunmap_range_noflush - clear the PTEs of [start, end). */
void kmm__vunmap_range_noflush(unsigned long start, unsigned long end);

/**
 * kmm__vmap_load_area - take exactly [@addr, @addr + @size) out of the free
 * space and file it as a busy (or, with @lazy, lazily freed) area with no
 * vm_struct, remembering vmap node @vn_id (-1: none) as alloc_vmap_area()
 * would have.  For replaying a kernel's /proc/vmallocinfo.
 * Return: 0, -EINVAL, -EBUSY (not free), -ENOMEM.
 */
int kmm__vmap_load_area(unsigned long addr, unsigned long size, bool lazy,
			int vn_id);

/**
 * kmm__vmap_load_pooled - as kmm__vmap_load_area(), but into the tail of
 * vmap node @node's pool for its size (at most KMM_MAX_VA_SIZE_PAGES).
 * Return: 0, -EINVAL, -EBUSY, -ENOMEM.
 */
int kmm__vmap_load_pooled(unsigned long addr, unsigned long size, unsigned node);

/**
 * kmm__vmap_relocate - move the busy area starting at @from to @to (same
 * size), taking @to from the free space or from a node pool.  The old range
 * returns to the free space or, with @to_pool (the area was just popped from
 * its node's pool), to the head of that pool, so the pop is undone.  Only
 * the bookkeeping moves (PTEs and host mappings stay): for a shadow-mode
 * replayer that resynchronises after a different placement.
 * Return: 0, -ENOENT (no busy area at @from), -EBUSY (@to not available),
 * -EINVAL (@to_pool for an area of no pool).
 */
int kmm__vmap_relocate(unsigned long from, unsigned long to, bool to_pool);

/**
 * kmm__vmap_pool_trim_above - return every area ahead of the one starting
 * at @addr in vmap node @node's pool for @size to the free space, as a
 * decay would, so that area is the pool's head.  For a replayer whose
 * kernel popped an area that kmm holds deeper in the same pool.
 * Context: takes the node's pool_lock, then free_vmap_area_lock.
 * Return: the number of areas returned, -EINVAL, -ENOENT (@addr not there).
 */
int kmm__vmap_pool_trim_above(unsigned long addr, unsigned long size, unsigned node);

/* Where an address is in the vmap layer's bookkeeping. */
enum kmm_vmap_where {
	KMM_VMAP_WHERE_NONE = 0,	/* outside the managed space */
	KMM_VMAP_WHERE_FREE,
	KMM_VMAP_WHERE_BUSY,
	KMM_VMAP_WHERE_LAZY,
	KMM_VMAP_WHERE_POOL,
};

/**
 * kmm__vmap_where - classify @addr; for a pooled area also give its node.
 * Context: takes the vmalloc locks in turn; for diagnostics.
 */
enum kmm_vmap_where kmm__vmap_where(unsigned long addr, unsigned *node);

/** kmm__vmap_for_each_busy - call @fn for every busy area, node by node. */
void kmm__vmap_for_each_busy(void (*fn)(void *arg, const struct kmm_vmap_area *va),
			     void *arg);

/**
 * kmm__vmap_for_each_area - call @fn for every range the vmap layer knows,
 * busy, lazy, pooled and free (for include/kmm/snapshot.h).  @node is the
 * vmap node of a busy, lazy or pooled area (0 for free ranges).
 * Context: takes vmap_purge_lock for the whole walk (so no purge moves
 * areas between lists meanwhile), then each node's busy, lazy and pool
 * lock and free_vmap_area_lock in turn, one at a time; @fn runs with that
 * one held and must only copy (no vmalloc call, no page allocation).
 */
void kmm__vmap_for_each_area(void (*fn)(void *arg, enum kmm_vmap_where where,
					unsigned node,
					const struct kmm_vmap_area *va),
			     void *arg);

/* Boot-time setup and teardown (boot.c). */
int kmm__vmalloc_init(void);
void kmm__vmalloc_fini(void);

#endif /* KMM_VMALLOC_H */
