/* SPDX-License-Identifier: MIT */
/*
 * kmm/pgtable.h - 4-level x86-64 style page tables and the TLB model.
 *
 * Page tables are the truth: a PTE holds a PFN and protection bits.  The
 * host follows them only when told to, exactly where a kernel would have
 * to flush a TLB:
 *   kmm_flush_tlb_kernel_range() / kmm_flush_tlb_mm_range()  after PTEs
 *        were cleared or changed (until then the old translation lingers,
 *        like a stale TLB entry: the host mapping still works);
 *   kmm_flush_cache_vmap()  after new PTEs were set in empty slots (x86
 *        needs no flush there; kmm needs this call to create the host
 *        mapping).
 * Each PTE table has a twin recording what the host maps now; a flush
 * compares the two and issues one host map per run of contiguous PFNs with
 * equal protection, and one unmap per run of cleared entries.
 */
#ifndef KMM_PGTABLE_H
#define KMM_PGTABLE_H

#include <stdatomic.h>

#include <kmm/mmzone.h>
#include <kmm/port.h>
#include <kmm/rbtree.h>

typedef struct { uint64_t pte; } kmm_pte_t;
typedef struct { uint64_t pgprot; } kmm_pgprot_t;

#define KMM__PAGE_PRESENT	(1ULL << 0)
#define KMM__PAGE_RW		(1ULL << 1)
#define KMM__PAGE_USER		(1ULL << 2)
#define KMM__PAGE_PWT		(1ULL << 3)
#define KMM__PAGE_PCD		(1ULL << 4)
#define KMM__PAGE_ACCESSED	(1ULL << 5)
#define KMM__PAGE_DIRTY		(1ULL << 6)
#define KMM__PAGE_PSE		(1ULL << 7)
#define KMM__PAGE_GLOBAL	(1ULL << 8)
#define KMM__PAGE_SPECIAL	(1ULL << 9)	/* software: pfnmap, no struct page use */
/*
 * x86's _PAGE_PROTNONE: a user PTE of a PROT_NONE mapping keeps its page
 * (map count, reference) but is not present to the hardware (the host
 * maps nothing there); the global bit is free in user PTEs.
 */
#define KMM__PAGE_PROTNONE	KMM__PAGE_GLOBAL
#define KMM__PAGE_NX		(1ULL << 63)
#define KMM__PAGE_PFN_MASK	0x000ffffffffff000ULL
#define KMM__PAGE_FLAGS_MASK	(~KMM__PAGE_PFN_MASK)

#define KMM__PAGE_KERNEL_BASE \
	(KMM__PAGE_PRESENT | KMM__PAGE_ACCESSED | KMM__PAGE_GLOBAL | KMM__PAGE_NX)
#define KMM_PAGE_KERNEL \
	((kmm_pgprot_t){ KMM__PAGE_KERNEL_BASE | KMM__PAGE_RW | KMM__PAGE_DIRTY })
#define KMM_PAGE_KERNEL_RO ((kmm_pgprot_t){ KMM__PAGE_KERNEL_BASE })
#define KMM_PAGE_KERNEL_EXEC \
	((kmm_pgprot_t){ (KMM__PAGE_KERNEL_BASE | KMM__PAGE_RW | KMM__PAGE_DIRTY) & \
			 ~KMM__PAGE_NX })
#define KMM_PAGE_NONE ((kmm_pgprot_t){ KMM__PAGE_PROTNONE | KMM__PAGE_ACCESSED })
#define KMM_PAGE_SHARED                                                      \
	((kmm_pgprot_t){ KMM__PAGE_PRESENT | KMM__PAGE_RW | KMM__PAGE_USER | \
			 KMM__PAGE_ACCESSED | KMM__PAGE_NX })
#define KMM_PAGE_READONLY                                                     \
	((kmm_pgprot_t){ KMM__PAGE_PRESENT | KMM__PAGE_USER | KMM__PAGE_ACCESSED | \
			 KMM__PAGE_NX })

#define KMM_PTRS_PER_TABLE 512
#define KMM_PMD_SHIFT 21
#define KMM_PUD_SHIFT 30
#define KMM_PGDIR_SHIFT 39

/* An address space's page tables. */
struct kmm_mm_struct {
	uint64_t pgd_pfn;		/* top-level table page */
	uint64_t *pgd;			/* its storage */
	kmm_port_lock_t page_table_lock;	/* populating upper levels */
	kmm_port_lock_t host_lock;	/* host mappings and their twins */
	atomic_long pgtables_pages;	/* table pages in use */
	atomic_ulong nr_host_maps;	/* host map calls made */
	atomic_ulong nr_host_unmaps;	/* host unmap calls made */
	atomic_ulong nr_flushes;
	bool host_backed;		/* real/strict mode: keep the host in sync */
	const char *name;
	/* User mms (kmm_mm_create(), <kmm/mm.h>); unused in init_mm. */
	bool user;
	kmm_port_lock_t mmap_lock;	/* the VMA set (the kernel's rwsem) */
	struct kmm_rb_root mm_rb;	/* VMAs by vm_start */
	int map_count;			/* VMAs */
	unsigned long mmap_base;	/* first user address */
	unsigned long task_size;	/* first address past the mm */
	atomic_long rss_file;		/* MM_FILEPAGES: mapped kernel/file pages */
	atomic_long rss_anon;		/* MM_ANONPAGES */
	struct kmm_list_head mm_list;	/* on the list of user mms (faults) */
	atomic_ulong nr_faults;		/* first-touch faults resolved */
	/* Pages whose host unmap failed: the host may still map them, so they
	 * keep a reference until the mm (its whole host range) goes, linked
	 * through page->lru (an unmapped page has no other owner list), so
	 * holding one needs no memory.  Under mmap_lock. */
	struct kmm_list_head zap_held;
	unsigned long nr_zap_held;
};

/* The kernel's address space (vmalloc space lives here). */
extern struct kmm_mm_struct kmm_init_mm;

static inline kmm_pte_t kmm_pfn_pte(uint64_t pfn, kmm_pgprot_t prot)
{
	return (kmm_pte_t){ (pfn << KMM_PAGE_SHIFT) | prot.pgprot };
}
static inline uint64_t kmm_pte_pfn(kmm_pte_t pte)
{
	return (pte.pte & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT;
}
/* pte_present(): mapped, to the hardware or PROT_NONE (as on x86). */
static inline bool kmm_pte_present(kmm_pte_t pte)
{
	return pte.pte & (KMM__PAGE_PRESENT | KMM__PAGE_PROTNONE);
}
static inline bool kmm_pte_none(kmm_pte_t pte)
{
	return pte.pte == 0;
}
static inline bool kmm_pte_write(kmm_pte_t pte)
{
	return pte.pte & KMM__PAGE_RW;
}
static inline kmm_pgprot_t kmm_pte_pgprot(kmm_pte_t pte)
{
	return (kmm_pgprot_t){ pte.pte & KMM__PAGE_FLAGS_MASK };
}

/** kmm_ptep_get - read a PTE (READ_ONCE). Context: any. */
static inline kmm_pte_t kmm_ptep_get(kmm_pte_t *ptep)
{
	return (kmm_pte_t){ __atomic_load_n(&ptep->pte, __ATOMIC_RELAXED) };
}

/**
 * kmm_set_pte_at - write a PTE (WRITE_ONCE).  The host follows at the next
 * kmm_flush_cache_vmap() or TLB flush covering @addr.
 * Context: the caller owns @addr's range.
 */
void kmm_set_pte_at(struct kmm_mm_struct *mm, unsigned long addr,
		    kmm_pte_t *ptep, kmm_pte_t pte);

/** kmm_pte_clear - clear a PTE; the host mapping lingers until a flush. */
void kmm_pte_clear(struct kmm_mm_struct *mm, unsigned long addr, kmm_pte_t *ptep);

typedef int (*kmm_pte_fn_t)(kmm_pte_t *pte, unsigned long addr, void *data);

/**
 * kmm_apply_to_page_range - call @fn for the PTE slot of every page of
 * [@addr, @addr + @size), allocating missing tables (GFP_KERNEL pages).
 * Return: 0, -EINVAL (unaligned, zero-sized or wrapping range), -ENOMEM
 * (table allocation failed; tables made so far stay), or @fn's non-zero
 * return, which stops the walk.
 * Context: may allocate; takes mm->page_table_lock to populate tables.
 */
int kmm_apply_to_page_range(struct kmm_mm_struct *mm, unsigned long addr,
			    unsigned long size, kmm_pte_fn_t fn, void *data);

/**
 * kmm_apply_to_existing_page_range - as above, but creates no table and,
 * like the kernel's, calls @fn only for slots that are not pte_none().
 */
int kmm_apply_to_existing_page_range(struct kmm_mm_struct *mm,
				     unsigned long addr, unsigned long size,
				     kmm_pte_fn_t fn, void *data);

/**
 * kmm_lookup_pte - the PTE slot of @addr, or NULL when its table is absent.
 * Context: any; no allocation.
 */
kmm_pte_t *kmm_lookup_pte(struct kmm_mm_struct *mm, unsigned long addr);

/**
 * kmm_flush_tlb_kernel_range - make the host's mappings of [@start, @end)
 * in init_mm follow the PTEs (unmap cleared ones, remap changed ones).
 * Return: 0, -ENOMEM when the host refused a mapping, or -EINVAL when the
 * port refused the range or a PTE names a PFN beyond memory (logged; the
 * twin records what really happened, so a later flush retries).
 */
int kmm_flush_tlb_kernel_range(unsigned long start, unsigned long end);

/** kmm_flush_tlb_mm_range - the same for any address space. */
int kmm_flush_tlb_mm_range(struct kmm_mm_struct *mm, unsigned long start,
			   unsigned long end);

/**
 * kmm_flush_cache_vmap - make new PTEs of [@start, @end) visible to the
 * host (the hook where x86 does nothing and kmm maps).
 * Return: as kmm_flush_tlb_kernel_range().
 */
int kmm_flush_cache_vmap(unsigned long start, unsigned long end);

/** kmm_mm_init - an empty address space (one PGD page). 0 or -ENOMEM. */
int kmm_mm_init(struct kmm_mm_struct *mm, const char *name, bool host_backed);

/**
 * kmm_mm_free_pgtables - free every table page of @mm (the caller has
 * already unmapped everything it mapped).
 */
void kmm_mm_free_pgtables(struct kmm_mm_struct *mm);

/**
 * kmm_pgtable_validate - walk @mm's tables: every table page is an
 * allocated PG_pgtable page, upper entries point at such pages, leaf PFNs
 * are valid, pgtables_pages matches the walk, and (host-backed mms) every
 * host-view twin entry is either empty or a present PTE value the host was
 * given.  With @synced, also require twin == PTE for [@start, @end) (a
 * range just flushed).
 * Return: 0 or -EINVAL (logged).
 */
int kmm_pgtable_validate(struct kmm_mm_struct *mm, bool synced,
			 unsigned long start, unsigned long end);

/**
 * kmm_pgtable_host_lookup - what the host maps at @addr according to the
 * twin: 0 when nothing, else the normalised PTE the host follows (PFN,
 * PRESENT and RW bits only).
 */
uint64_t kmm_pgtable_host_lookup(struct kmm_mm_struct *mm, unsigned long addr);

#endif /* KMM_PGTABLE_H */
