/* SPDX-License-Identifier: MIT */
/*
 * linux/vmalloc.h - kmm compatibility header: the kernel's vmalloc API
 * with its documented signatures, mapped onto kmm_ names.
 *
 * `struct vm_struct` is kmm's struct kmm_vm_struct (a struct-tag macro;
 * KMM_NO_PAGE_ALIAS turns it off).  VMALLOC_START/VMALLOC_END are the
 * booted machine's (the end is the last byte, as in the kernel).
 */
#ifndef KMM_LINUX_VMALLOC_H
#define KMM_LINUX_VMALLOC_H

#include <kmm/mm.h>
#include <kmm/vmalloc.h>
#include <linux/gfp.h>
#include <linux/mm_types.h>
#include <linux/pgtable.h>

#if !defined(KMM_NO_PAGE_ALIAS) && !defined(vm_struct)
#define vm_struct kmm_vm_struct
#endif

#define VM_IOREMAP KMM_VM_IOREMAP
#define VM_ALLOC KMM_VM_ALLOC
#define VM_MAP KMM_VM_MAP
#define VM_USERMAP KMM_VM_USERMAP
#define VM_DMA_COHERENT KMM_VM_DMA_COHERENT
#define VM_UNINITIALIZED KMM_VM_UNINITIALIZED
#define VM_NO_GUARD KMM_VM_NO_GUARD
#define VM_KASAN KMM_VM_KASAN
#define VM_FLUSH_RESET_PERMS KMM_VM_FLUSH_RESET_PERMS
#define VM_MAP_PUT_PAGES KMM_VM_MAP_PUT_PAGES
#define VM_ALLOW_HUGE_VMAP KMM_VM_ALLOW_HUGE_VMAP
#define VM_DEFER_KMEMLEAK KMM_VM_DEFER_KMEMLEAK
#define VM_SPARSE KMM_VM_SPARSE

#define VMALLOC_START (kmm_vmalloc_start())
#define VMALLOC_END (kmm_vmalloc_end())
#define IOREMAP_MAX_ORDER KMM_IOREMAP_MAX_ORDER

#define get_vm_area_size kmm_get_vm_area_size
#define is_vmalloc_addr kmm_is_vmalloc_addr

/* Linux 4.8: reserve VA, allocate its page tables, map nothing. */
static inline struct vm_struct *alloc_vm_area(size_t size, pte_t **ptes)
{
	return kmm_alloc_vm_area(size, ptes);
}
#define free_vm_area kmm_free_vm_area

#define get_vm_area kmm_get_vm_area
#define get_vm_area_caller kmm_get_vm_area_caller
#define __get_vm_area kmm___get_vm_area
#define __get_vm_area_caller kmm___get_vm_area_caller
#define find_vm_area kmm_find_vm_area
#define remove_vm_area kmm_remove_vm_area

#define vmalloc kmm_vmalloc
#define vzalloc kmm_vzalloc
#define vmalloc_node kmm_vmalloc_node
#define vzalloc_node kmm_vzalloc_node
#define vmalloc_user kmm_vmalloc_user
#define vmalloc_32 kmm_vmalloc_32
#define vmalloc_32_user kmm_vmalloc_32_user
#define __vmalloc kmm___vmalloc
#define __vmalloc_node kmm___vmalloc_node
#define __vmalloc_node_range kmm___vmalloc_node_range
#define vfree kmm_vfree
#define vfree_atomic kmm_vfree_atomic
#define vmap kmm_vmap
#define vunmap kmm_vunmap
#define vmap_pfn kmm_vmap_pfn
#define vmalloc_to_page kmm_vmalloc_to_page
#define vmalloc_to_pfn kmm_vmalloc_to_pfn
#define vm_unmap_aliases kmm_vm_unmap_aliases
/* The documented 4.8 form: vm_map_ram(pages, count, node, prot).  The
 * three-argument form of later kernels is kmm_vm_map_ram(). */
#define vm_map_ram kmm_vm_map_ram_prot
#define vm_unmap_ram kmm_vm_unmap_ram
#define VMAP_MAX_ALLOC KMM_VMAP_MAX_ALLOC
#define VMAP_BBMAP_BITS KMM_VMAP_BBMAP_BITS
#define VMAP_BLOCK_SIZE KMM_VMAP_BLOCK_SIZE
/* Mapping vmalloc memory to users (<kmm/mm.h>). */
#define remap_vmalloc_range kmm_remap_vmalloc_range
#define remap_vmalloc_range_partial kmm_remap_vmalloc_range_partial
#define kvmalloc kmm_kvmalloc
#define kvfree kmm_kvfree

#endif /* KMM_LINUX_VMALLOC_H */
