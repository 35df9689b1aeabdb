/* SPDX-License-Identifier: MIT */
/*
 * linux/pgtable.h - kmm compatibility header: page-table entries, init_mm,
 * apply_to_page_range() and TLB flushing under the kernel's names.
 *
 * `struct mm_struct` is kmm's struct kmm_mm_struct (a macro, like
 * `struct page` in <linux/mm_types.h>; define KMM_NO_PAGE_ALIAS to turn the
 * struct-tag aliases off).
 */
#ifndef KMM_LINUX_PGTABLE_H
#define KMM_LINUX_PGTABLE_H

#include <kmm/pgtable.h>
#include <linux/mm_types.h>

typedef kmm_pte_t pte_t;
typedef kmm_pgprot_t pgprot_t;
typedef kmm_pte_fn_t pte_fn_t;

#if !defined(KMM_NO_PAGE_ALIAS) && !defined(mm_struct)
#define mm_struct kmm_mm_struct
#endif

#define init_mm kmm_init_mm

#define PAGE_KERNEL KMM_PAGE_KERNEL
#define PAGE_KERNEL_RO KMM_PAGE_KERNEL_RO
#define PAGE_KERNEL_EXEC KMM_PAGE_KERNEL_EXEC
#define PAGE_NONE KMM_PAGE_NONE
#define PAGE_SHARED KMM_PAGE_SHARED
#define PAGE_READONLY KMM_PAGE_READONLY
#define _PAGE_PRESENT KMM__PAGE_PRESENT
#define _PAGE_RW KMM__PAGE_RW
#define _PAGE_USER KMM__PAGE_USER
#define _PAGE_NX KMM__PAGE_NX
#define pgprot_val(p) ((p).pgprot)
#define __pgprot(v) ((kmm_pgprot_t){ (v) })
#define pte_val(p) ((p).pte)
#define __pte(v) ((kmm_pte_t){ (v) })

#define pfn_pte kmm_pfn_pte
#define pte_pfn kmm_pte_pfn
#define pte_present kmm_pte_present
#define pte_none kmm_pte_none
#define pte_write kmm_pte_write
#define ptep_get kmm_ptep_get
#define set_pte_at kmm_set_pte_at
#define pte_clear kmm_pte_clear
#define apply_to_page_range kmm_apply_to_page_range
#define apply_to_existing_page_range kmm_apply_to_existing_page_range
#define flush_tlb_kernel_range(start, end) \
	((void)kmm_flush_tlb_kernel_range((start), (end)))
#define flush_cache_vmap(start, end) ((void)kmm_flush_cache_vmap((start), (end)))

#endif /* KMM_LINUX_PGTABLE_H */
