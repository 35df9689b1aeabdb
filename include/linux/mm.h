/* SPDX-License-Identifier: MIT */
/*
 * linux/mm.h - kmm compatibility header: page frames, references and the
 * direct map under the kernel's names.
 *
 * Includes <linux/gfp.h>, <linux/mmzone.h> and <linux/mm_types.h> as the
 * kernel's does; `struct page` is kmm's struct kmm_page (see
 * <linux/mm_types.h>), `struct vm_area_struct` is struct
 * kmm_vm_area_struct and `struct mm_struct` struct kmm_mm_struct
 * (struct-tag macros; KMM_NO_PAGE_ALIAS turns them off).  User mappings:
 * vm_insert_page(s), remap_pfn_range, vmf_insert_pfn, find_vma, the
 * VM_* flags and vm_fault_t codes (<kmm/mm.h>).
 */
#ifndef KMM_LINUX_MM_H
#define KMM_LINUX_MM_H

#include <kmm/mm.h>
#include <kmm/mmzone.h>
#include <kmm/page_alloc.h>
#include <linux/gfp.h>
#include <linux/mm_types.h>
#include <linux/mmzone.h>
#include <linux/pgtable.h>

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

/* ---- user mappings (<kmm/mm.h>) ---- */

#if !defined(KMM_NO_PAGE_ALIAS) && !defined(vm_area_struct)
#define vm_area_struct kmm_vm_area_struct
#endif

typedef unsigned int vm_fault_t;

#define VM_NONE KMM_VM_NONE
#define VM_READ KMM_VM_READ
#define VM_WRITE KMM_VM_WRITE
#define VM_EXEC KMM_VM_EXEC
#define VM_SHARED KMM_VM_SHARED
#define VM_MAYREAD KMM_VM_MAYREAD
#define VM_MAYWRITE KMM_VM_MAYWRITE
#define VM_MAYEXEC KMM_VM_MAYEXEC
#define VM_MAYSHARE KMM_VM_MAYSHARE
#define VM_PFNMAP KMM_VM_PFNMAP
#define VM_LOCKED KMM_VM_LOCKED
#define VM_IO KMM_VM_IO
#define VM_DONTEXPAND KMM_VM_DONTEXPAND
#define VM_ACCOUNT KMM_VM_ACCOUNT
#define VM_NORESERVE KMM_VM_NORESERVE
#define VM_DONTDUMP KMM_VM_DONTDUMP
#define VM_MIXEDMAP KMM_VM_MIXEDMAP

#define VM_FAULT_OOM KMM_VM_FAULT_OOM
#define VM_FAULT_SIGBUS KMM_VM_FAULT_SIGBUS
#define VM_FAULT_NOPAGE KMM_VM_FAULT_NOPAGE

#define find_vma kmm_find_vma
#define vm_insert_page kmm_vm_insert_page
#define vm_insert_pages kmm_vm_insert_pages
#define remap_pfn_range kmm_remap_pfn_range
#define vmf_insert_pfn kmm_vmf_insert_pfn
#define follow_pfn kmm_follow_pfn
#define IS_ERR_VALUE KMM_IS_ERR_VALUE

/* vm_flags_set()/vm_flags_clear() of 6.3+ (the caller holds mmap_lock). */
static inline void vm_flags_set(struct kmm_vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct kmm_vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags &= ~flags;
}

#endif /* KMM_LINUX_MM_H */
