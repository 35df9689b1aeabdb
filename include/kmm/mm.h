/* SPDX-License-Identifier: MIT */
/*
 * kmm/mm.h - user address spaces: an mm with its own page tables and
 * VMAs, the model of mmap()/munmap(), and the kernel's ways of putting
 * kernel pages into a user mapping: remap_vmalloc_range(),
 * vm_insert_page(s), remap_pfn_range(), vmf_insert_pfn() (Linux 6.18
 * mm/memory.c, mm/vmalloc.c, mm/mmap.c behaviour).
 *
 * In real and strict mode a user mm is a PROT_NONE host reservation; its
 * PTEs drive host mappings of the machine's memfd pages exactly as kernel
 * VA does, so a VMA's addresses are usable pointers and a page mapped at
 * a user address and at a vmalloc address is one page of memory.  In
 * shadow mode the addresses are not memory.
 *
 * Glossary: "mm" is struct kmm_mm_struct (init_mm is one too, with no
 * VMAs); a VMA is struct kmm_vm_area_struct, [vm_start, vm_end) of one mm.
 */
#ifndef KMM_MM_H
#define KMM_MM_H

#include <kmm/pgtable.h>
#include <kmm/rbtree.h>

/* vm_flags (the kernel's VM_* of <linux/mm.h>). */
#define KMM_VM_NONE		0x00000000UL
#define KMM_VM_READ		0x00000001UL
#define KMM_VM_WRITE		0x00000002UL
#define KMM_VM_EXEC		0x00000004UL
#define KMM_VM_SHARED		0x00000008UL
#define KMM_VM_MAYREAD		0x00000010UL
#define KMM_VM_MAYWRITE		0x00000020UL
#define KMM_VM_MAYEXEC		0x00000040UL
#define KMM_VM_MAYSHARE		0x00000080UL
#define KMM_VM_UFFD_MISSING	0x00000200UL	/* first touches fault into kmm */
#define KMM_VM_PFNMAP		0x00000400UL
#define KMM_VM_LOCKED		0x00002000UL
#define KMM_VM_IO		0x00004000UL
#define KMM_VM_DONTEXPAND	0x00040000UL
#define KMM_VM_ACCOUNT		0x00100000UL
#define KMM_VM_NORESERVE	0x00200000UL
#define KMM_VM_DONTDUMP		0x04000000UL
#define KMM_VM_MIXEDMAP		0x10000000UL

/* mmap() prot and flags (the host's values). */
#define KMM_PROT_NONE		0x0
#define KMM_PROT_READ		0x1
#define KMM_PROT_WRITE		0x2
#define KMM_PROT_EXEC		0x4
#define KMM_MAP_SHARED		0x01
#define KMM_MAP_PRIVATE		0x02
#define KMM_MAP_FIXED		0x10
#define KMM_MAP_ANONYMOUS	0x20
#define KMM_MAP_POPULATE	0x8000

/* vmf_insert_pfn() results (vm_fault_t). */
#define KMM_VM_FAULT_OOM	0x000001
#define KMM_VM_FAULT_SIGBUS	0x000002
#define KMM_VM_FAULT_NOPAGE	0x000100

struct kmm_vm_area_struct;

/*
 * What a driver's file gives mmap(): its f_op->mmap.  Called with the new
 * VMA (flags, prot, pgoff filled in, nothing mapped); it maps what it
 * wants (remap_vmalloc_range(), vm_insert_page(), remap_pfn_range()) and
 * returns 0 or a negative errno, in which case the VMA is torn down and
 * kmm_vm_mmap() fails with that errno.
 */
struct kmm_mmap_file {
	int (*mmap)(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma);
	void *private_data;
};

struct kmm_vm_area_struct {
	unsigned long vm_start;		/* first byte */
	unsigned long vm_end;		/* first byte after */
	unsigned long vm_flags;
	unsigned long vm_pgoff;		/* offset in the file, in pages */
	kmm_pgprot_t vm_page_prot;	/* PTE protection of its pages */
	struct kmm_mm_struct *vm_mm;
	struct kmm_mmap_file *vm_file;	/* NULL: anonymous */
	void *vm_private_data;
	struct kmm_rb_node vm_rb;	/* in vm_mm->mm_rb, by vm_start */
};

/**
 * kmm_mm_create - a new, empty user address space of @size bytes
 * (page aligned; 0 means 64 GiB): its own page tables and, in real and
 * strict mode, a PROT_NONE host reservation its VMAs will live in.
 * Context: process context, may sleep.
 * Return: the mm, or NULL (not booted, bad size, no memory, the host
 * refused the reservation).
 */
struct kmm_mm_struct *kmm_mm_create(unsigned long size);

/**
 * kmm_mm_destroy - unmap every VMA (each page's reference and map count
 * dropped, anonymous pages freed), free every table page and the host
 * reservation.  NULL is ignored.
 * Context: process context; nobody else uses @mm.
 */
void kmm_mm_destroy(struct kmm_mm_struct *mm);

/**
 * kmm_vm_mmap - the model of mmap(2) in @mm.
 * @addr: a hint (0: anywhere), or with MAP_FIXED the exact page-aligned
 *   address (whatever is mapped there is unmapped first).
 * @len: bytes, rounded up to pages.
 * @prot: PROT_READ | PROT_WRITE | PROT_EXEC, or PROT_NONE.
 * @flags: MAP_SHARED or MAP_PRIVATE, optionally MAP_FIXED, MAP_ANONYMOUS,
 *   MAP_POPULATE.
 * @pgoff: offset in @file, in pages (ignored for anonymous mappings).
 * @file: a driver's mmap method, or NULL for anonymous memory (then
 *   MAP_ANONYMOUS is implied).
 *
 * Anonymous private mappings get zeroed GFP_HIGHUSER_MOVABLE pages, each
 * with a reverse map to (@mm, address): all at once with MAP_POPULATE,
 * else one at first touch (real and strict mode: a real page fault,
 * caught by the port, see kmm_handle_user_fault(); the VMA is marked
 * VM_UFFD_MISSING).  Where the host offers no such faults (no
 * userfaultfd) the mapping is populated at once and that is logged once.
 * Shadow mode maps nothing without MAP_POPULATE (nothing can touch it).
 * Anonymous shared mappings are refused (-EINVAL: no shmem).
 * Context: process context, may sleep; takes mm->mmap_lock.
 * Return: the address, or a negative errno cast to unsigned long
 * (-EINVAL: bad flags, length, alignment or range; -ENOMEM: no room, no
 * memory, the host refused; -ENODEV: @file has no mmap method;
 * -EOVERFLOW: @pgoff + the length in pages wraps; or what @file->mmap
 * returned).  Test with
 * KMM_IS_ERR_VALUE().
 */
unsigned long kmm_vm_mmap(struct kmm_mm_struct *mm, unsigned long addr,
			  unsigned long len, unsigned long prot,
			  unsigned long flags, unsigned long pgoff,
			  struct kmm_mmap_file *file);

/**
 * kmm_vm_munmap - the model of munmap(2): unmap [@start, @start + @len)
 * (rounded up to pages), splitting VMAs that straddle either end.  PTEs
 * are cleared, each page's map count and reference dropped (anonymous
 * pages are freed), and the host unmaps before the call returns (the TLB
 * flush): the range faults afterwards.  Unmapping a hole is not an error.
 * Context: process context, may sleep; takes mm->mmap_lock.
 * Return: 0, -EINVAL (unaligned @start, zero @len, range outside the mm),
 * -ENOMEM (a split needed a VMA and none could be had: nothing changed;
 * or the host refused to unmap: the range is unmapped in kmm, and its
 * pages stay allocated until kmm_mm_destroy() because the host may still
 * map them).
 */
int kmm_vm_munmap(struct kmm_mm_struct *mm, unsigned long start, unsigned long len);

/**
 * kmm_find_vma - the first VMA of @mm that ends above @addr, or NULL.
 * Context: the caller holds mm->mmap_lock, or no one else changes @mm.
 */
struct kmm_vm_area_struct *kmm_find_vma(struct kmm_mm_struct *mm, unsigned long addr);

/**
 * kmm_vm_insert_page - map one page (a kernel page, refcount >= 1, not
 * anonymous and not a page-table page) at user address @addr of @vma with
 * vma->vm_page_prot; takes a reference and a map count; marks the VMA
 * VM_MIXEDMAP.  The host maps it before the call returns.
 * Context: from a driver's mmap method or with mm->mmap_lock held.
 * Return: 0; -EFAULT (@addr outside @vma); -EINVAL (free, anonymous or
 * table page; a VM_PFNMAP VMA; unaligned @addr); -EBUSY (a page is already
 * mapped there); -ENOMEM (no table page; the host refused).
 */
int kmm_vm_insert_page(struct kmm_vm_area_struct *vma, unsigned long addr,
		       struct kmm_page *page);

/**
 * kmm_vm_insert_pages - kmm_vm_insert_page() for *@num pages at
 * consecutive addresses from @addr.  On return *@num is the number of
 * pages NOT inserted (0 on success); those inserted stay mapped, as in
 * the kernel.
 * Return: 0 or the first error (as kmm_vm_insert_page()).
 */
int kmm_vm_insert_pages(struct kmm_vm_area_struct *vma, unsigned long addr,
			struct kmm_page **pages, unsigned long *num);

/**
 * kmm_remap_vmalloc_range_partial - map @size bytes of the vmalloc area
 * at @kaddr, from page @pgoff of it, at user address @uaddr of @vma, page
 * by page with kmm_vm_insert_page(); then marks the VMA VM_DONTEXPAND |
 * VM_DONTDUMP.
 * Checks, each -EINVAL: @pgoff << PAGE_SHIFT overflows; @uaddr or @kaddr
 * not page aligned; no vmalloc area contains @kaddr (any address inside
 * a busy area with a vm_struct is found, as find_vm_area() does);
 * the area was not made with VM_USERMAP (vmalloc_user()) or
 * VM_DMA_COHERENT; @pgoff pages + @size (page aligned) overflow or exceed
 * the area (measured from the area's start, without its guard page).
 * -EFAULT when [@uaddr, @uaddr + @size) is not inside @vma (the kernel's
 * vm_insert_page() answer; checked before anything is mapped).
 * Unlike the kernel, a failure part-way (-EBUSY, -ENOMEM) unmaps what
 * this call mapped, so nothing is left half-mapped.
 * Context: as kmm_vm_insert_page().  Return: 0 or a negative errno.
 */
int kmm_remap_vmalloc_range_partial(struct kmm_vm_area_struct *vma,
				    unsigned long uaddr, void *kaddr,
				    unsigned long pgoff, unsigned long size);

/**
 * kmm_remap_vmalloc_range - map the whole @vma from page @pgoff of the
 * vmalloc area @addr (kmm_remap_vmalloc_range_partial() over
 * [vm_start, vm_end)).  Return: 0 or a negative errno.
 */
int kmm_remap_vmalloc_range(struct kmm_vm_area_struct *vma, void *addr,
			    unsigned long pgoff);

/**
 * kmm_remap_pfn_range - map PFNs @pfn.. at [@addr, @addr + @size) of @vma
 * with @prot as special PTEs (no reference, no map count: "raw" memory);
 * marks the VMA VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP.  A
 * private writable (COW) mapping must be remapped whole, and then its
 * vm_pgoff becomes @pfn, as in the kernel.  The PFNs must lie in the
 * machine's memory (the host has nothing else to show).
 * Return: 0; -EINVAL (unaligned or empty range, outside @vma, a partial
 * COW remap, PFNs past memory, a VM_MIXEDMAP VMA); -EBUSY (something is
 * mapped there already); -ENOMEM.  On failure the range is unmapped.
 * Context: as kmm_vm_insert_page().
 */
int kmm_remap_pfn_range(struct kmm_vm_area_struct *vma, unsigned long addr,
			unsigned long pfn, unsigned long size, kmm_pgprot_t prot);

/**
 * kmm_vmf_insert_pfn - map one PFN at @addr of a VM_PFNMAP (or
 * VM_MIXEDMAP) VMA with vma->vm_page_prot, as a fault handler does.
 * Return: KMM_VM_FAULT_NOPAGE (mapped, or something already was);
 * KMM_VM_FAULT_SIGBUS (@addr outside @vma, a VMA of neither kind, a PFN
 * past memory); KMM_VM_FAULT_OOM.
 */
unsigned kmm_vmf_insert_pfn(struct kmm_vm_area_struct *vma, unsigned long addr,
			    unsigned long pfn);

/**
 * kmm_follow_pfn - the PFN mapped at user address @addr of @mm.
 * Return: 0 and *@pfn, or -EFAULT (nothing mapped).
 */
int kmm_follow_pfn(struct kmm_mm_struct *mm, unsigned long addr, unsigned long *pfn);

/**
 * kmm_page_anon_rmap - the (mm, address) an anonymous page is mapped at.
 * Return: true and *@mm, *@addr; false for a page that is not anonymous.
 */
bool kmm_page_anon_rmap(const struct kmm_page *page, struct kmm_mm_struct **mm,
			unsigned long *addr);

/**
 * kmm_mm_validate - @mm's VMAs (sorted, disjoint, aligned, inside the mm,
 * map_count), its page tables (kmm_pgtable_validate(), host twin in sync
 * with the PTEs), every present PTE inside a VMA, special PTEs only in
 * VM_PFNMAP/VM_MIXEDMAP VMAs, every mapped page allocated with a map
 * count and a reference per mapping at least, every anonymous page's
 * reverse map pointing back at its PTE, and the RSS counters.
 * Context: takes mm->mmap_lock.  Return: 0 or -EINVAL (logged).
 */
int kmm_mm_validate(struct kmm_mm_struct *mm);

/* Boot-time setup and teardown of the list of user mms (boot.c). */
void kmm__user_mms_init(void);
void kmm__user_mms_fini(void);

/* The address of a negative errno returned as unsigned long. */
#define KMM_IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

/* Internal to the core (mm.c <-> migrate.c); see mm.c. */
struct kmm_mm_struct *kmm__anon_lock_owner(struct kmm_page *page, unsigned long *addrp);
void kmm__anon_unlock_owner(struct kmm_mm_struct *mm);
unsigned kmm__anon_run_check_locked(struct kmm_mm_struct *mm, unsigned long addr,
				    struct kmm_page **old, unsigned n, int extra_refs);
int kmm__anon_migrate_run_locked(struct kmm_mm_struct *mm, unsigned long addr,
				 struct kmm_page **old, struct kmm_page **new, unsigned n);

#endif /* KMM_MM_H */
