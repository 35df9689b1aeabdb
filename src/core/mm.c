/* SPDX-License-Identifier: MIT */
/*
 * mm.c - user address spaces: VMAs, the model of mmap()/munmap(), and
 * mapping kernel pages to users (remap_vmalloc_range, vm_insert_page,
 * remap_pfn_range, vmf_insert_pfn), after Linux 6.18 mm/mmap.c,
 * mm/vma.c, mm/memory.c and mm/vmalloc.c (behaviour re-implemented, no
 * code taken).
 *
 * An mm
 * -----
 *   struct kmm_mm_struct (pgtable.h) is the kernel's mm_struct: page tables
 *   (pgd, the host twin of each PTE table), and for a user mm its VMAs in
 *   an rbtree by vm_start (the kernel's maple tree) under mmap_lock, the
 *   address range [mmap_base, task_size) and the RSS counters.  In real
 *   and strict mode the range is a PROT_NONE host reservation
 *   (kmm_port_user_reserve), so a PTE set and flushed here is a host
 *   mapping of the same memfd page that the direct map and any vmalloc
 *   address show.
 *
 * Placement: a free hint is taken as is; otherwise the highest gap that
 *   fits below task_size (x86-64's top-down mmap layout).
 *
 * PTEs and pages
 *   kernel page (vm_insert_page, remap_vmalloc_range): a normal PTE with
 *     vma->vm_page_prot; the page gets a reference and a map count;
 *     MM_FILEPAGES counts it; the VMA becomes VM_MIXEDMAP.
 *   raw PFN (remap_pfn_range, vmf_insert_pfn): a special PTE, no
 *     reference, no map count, not counted; the VMA is VM_PFNMAP.
 *   anonymous page (MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE): a zeroed
 *     GFP_HIGHUSER_MOVABLE page owned by the mapping: PG_anon, its reverse
 *     map in page->mapping (the mm) and page->index (the user page
 *     number), map count 0, one reference; MM_ANONPAGES counts it.
 *
 * Unmapping (zap)
 *   PTEs are cleared a PTE table (2 MiB) at a time; the pages of that
 *   chunk are held until the chunk's TLB flush (the host unmap) is done,
 *   and only then lose their map count and reference: no host mapping of
 *   a page outlives the page, as tlb_gather_mmu guarantees in a kernel.
 *
 * Lock order (this file)
 * ----------
 *   mm->mmap_lock
 *     vmalloc's locks (find_vm_area), mm->host_lock (a flush),
 *     mm->page_table_lock (table allocation), the page allocator's
 *   A driver's mmap method runs with mmap_lock held, as f_op->mmap does.
 */
#include <kmm/boot.h>
#include <kmm/lib.h>
#include <kmm/mm.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define MM_DEFAULT_SIZE (64UL << 30)
#define MM_MAX_SIZE (1UL << 46)		/* 64 TiB: half the x86-64 user space */
#define ZAP_CHUNK (1UL << KMM_PMD_SHIFT)

static inline unsigned long page_align(unsigned long x)
{
	return (x + KMM_PAGE_SIZE - 1) & KMM_PAGE_MASK;
}

static bool is_cow_mapping(unsigned long flags)
{
	return (flags & (KMM_VM_SHARED | KMM_VM_MAYWRITE)) == KMM_VM_MAYWRITE;
}

/* ---- the VMA tree ------------------------------------------------------- */

static struct kmm_vm_area_struct *rb_vma(struct kmm_rb_node *n)
{
	return n ? kmm_rb_entry(n, struct kmm_vm_area_struct, vm_rb) : NULL;
}

static void vma_link(struct kmm_mm_struct *mm, struct kmm_vm_area_struct *vma)
{
	struct kmm_rb_node **link = &mm->mm_rb.rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		link = vma->vm_start < rb_vma(parent)->vm_start ? &parent->rb_left :
								   &parent->rb_right;
	}
	kmm_rb_link_node(&vma->vm_rb, parent, link);
	kmm_rb_insert_color(&vma->vm_rb, &mm->mm_rb);
	mm->map_count++;
}

static void vma_unlink(struct kmm_mm_struct *mm, struct kmm_vm_area_struct *vma)
{
	kmm_rb_erase(&vma->vm_rb, &mm->mm_rb);
	mm->map_count--;
}

struct kmm_vm_area_struct *kmm_find_vma(struct kmm_mm_struct *mm, unsigned long addr)
{
	struct kmm_rb_node *n;
	struct kmm_vm_area_struct *best = NULL;

	if (!mm || !mm->user)
		return NULL;
	for (n = mm->mm_rb.rb_node; n;) {
		struct kmm_vm_area_struct *v = rb_vma(n);

		if (v->vm_end > addr) {
			best = v;
			if (v->vm_start <= addr)
				break;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best;
}

static struct kmm_vm_area_struct *vma_alloc(void)
{
	return kmm_port_meta_alloc(sizeof(struct kmm_vm_area_struct));
}

static void vma_free(struct kmm_vm_area_struct *vma)
{
	if (vma)
		kmm_port_meta_free(vma, sizeof(*vma));
}

/* ---- protections -------------------------------------------------------- */

/* The x86-64 protection_map: private writable mappings are copy-on-write. */
static kmm_pgprot_t vm_get_page_prot(unsigned long flags)
{
	uint64_t p;

	if (!(flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_EXEC)))
		return KMM_PAGE_NONE;
	if ((flags & KMM_VM_SHARED) && (flags & KMM_VM_WRITE))
		p = KMM_PAGE_SHARED.pgprot;
	else
		p = KMM_PAGE_READONLY.pgprot;
	if (flags & KMM_VM_EXEC)
		p &= ~KMM__PAGE_NX;
	return (kmm_pgprot_t){ p };
}

/* ---- zap ------------------------------------------------------------------ */

struct zap {
	struct kmm_mm_struct *mm;
	unsigned n;
	struct kmm_page *pages[KMM_PTRS_PER_TABLE];
};

static int zap_pte(kmm_pte_t *ptep, unsigned long addr, void *data)
{
	struct zap *z = data;
	kmm_pte_t pte = kmm_ptep_get(ptep);

	kmm_pte_clear(z->mm, addr, ptep);
	if (kmm_pte_present(pte) && !(pte.pte & KMM__PAGE_SPECIAL))
		z->pages[z->n++] = kmm_pfn_to_page(kmm_pte_pfn(pte));
	return 0;
}

/*
 * The host refused to unmap @page's last mapping: keep the page (with the
 * mapping's reference) until the mm's host range is released, so no host
 * mapping outlives it.  Without memory to remember it, it is freed and
 * that is logged.  mmap_lock held.
 */
static void hold_page(struct kmm_mm_struct *mm, struct kmm_page *page)
{
	kmm_list_add_tail(&page->lru, &mm->zap_held);
	mm->nr_zap_held++;
}

/* Drop what one mapping of @page held; @host_gone: its host unmap took. */
static void release_page_host(struct kmm_mm_struct *mm, struct kmm_page *page, bool host_gone)
{
	if (kmm_page_test(page, KMM_PG_anon)) {
		kmm_page_flags_set_all(page, kmm_page_flags(page) &
					     ~((1ULL << KMM_PG_anon) | (1ULL << KMM_PG_lru)));
		kmm_page_set_mapping(page, NULL);
		page->index = 0;
		atomic_fetch_sub(&mm->rss_anon, 1);
	} else {
		atomic_fetch_sub(&mm->rss_file, 1);
	}
	atomic_fetch_sub(&page->_mapcount, 1);
	if (host_gone)
		kmm_put_page(page);
	else
		hold_page(mm, page);
}

/*
 * Unmap [start, end) of @mm: clear the PTEs of one PTE table's span, flush
 * it to the host, then release its pages.  Return: 0, or the first flush
 * error (the PTEs are gone all the same; the twin remembers what the host
 * still maps, so a later flush retries).
 */
static int zap_range(struct kmm_mm_struct *mm, unsigned long start, unsigned long end)
{
	struct zap *z = kmm_port_meta_alloc(sizeof(*z));
	int ret = 0, r;

	while (start < end) {
		unsigned long next = (start | (ZAP_CHUNK - 1)) + 1;
		unsigned i;

		if (next > end || next == 0)
			next = end;
		if (!z) {
			/* No batch: one page at a time, each flushed first. */
			struct zap one = { .mm = mm };

			for (; start < next; start += KMM_PAGE_SIZE) {
				kmm_pte_t *ptep = kmm_lookup_pte(mm, start);

				one.n = 0;
				if (!ptep || kmm_pte_none(kmm_ptep_get(ptep)))
					continue;
				zap_pte(ptep, start, &one);
				r = kmm_flush_tlb_mm_range(mm, start, start + KMM_PAGE_SIZE);
				ret = ret ? ret : r;
				if (one.n)
					release_page_host(mm, one.pages[0], !r);
			}
			continue;
		}
		z->mm = mm;
		z->n = 0;
		kmm_apply_to_existing_page_range(mm, start, next - start, zap_pte, z);
		r = kmm_flush_tlb_mm_range(mm, start, next);
		ret = ret ? ret : r;
		for (i = 0; i < z->n; i++)
			release_page_host(mm, z->pages[i], !r);
		start = next;
	}
	if (z)
		kmm_port_meta_free(z, sizeof(*z));
	return ret;
}

/* ---- the user mms, for page faults ------------------------------------------ */

/*
 * A port's fault thread knows only an address: kmm_handle_user_fault()
 * finds its mm here (in real mode every user mm has its own host range).
 * mm_list_lock is taken before an mm's mmap_lock; an mm leaves the list
 * before it is torn down.
 */
static struct {
	bool ready;
	kmm_port_lock_t lock;		/* mm_list_lock */
	struct kmm_list_head list;
} mms;

void kmm__user_mms_init(void)
{
	kmm_port_lock_init(&mms.lock);
	kmm_list_init(&mms.list);
	mms.ready = true;
}

void kmm__user_mms_fini(void)
{
	if (!mms.ready)
		return;
	if (!kmm_list_empty(&mms.list))
		kmm_pr_warn("mm: shutdown with user mms still alive; they are forgotten");
	mms.ready = false;
	kmm_port_lock_destroy(&mms.lock);
}

/* ---- mm lifetime ------------------------------------------------------------ */

struct kmm_mm_struct *kmm_mm_create(unsigned long size)
{
	struct kmm_mm_struct *mm;
	uintptr_t base;

	if (!kmm_machine.booted || !mms.ready)
		return NULL;
	if (!size)
		size = MM_DEFAULT_SIZE;
	if ((size & ~KMM_PAGE_MASK) || size > MM_MAX_SIZE) {
		kmm_pr_warn("mm: kmm_mm_create(%#lx): size not page aligned or above %#lx",
			    size, MM_MAX_SIZE);
		return NULL;
	}
	mm = kmm_port_meta_alloc(sizeof(*mm));
	if (!mm)
		return NULL;
	if (kmm_mm_init(mm, "user", true)) {
		kmm_port_meta_free(mm, sizeof(*mm));
		return NULL;
	}
	if (kmm_port_user_reserve(size, &base)) {
		kmm_mm_free_pgtables(mm);
		kmm_port_meta_free(mm, sizeof(*mm));
		return NULL;
	}
	mm->user = true;
	kmm_list_init(&mm->zap_held);
	kmm_port_lock_init(&mm->mmap_lock);
	mm->mm_rb = KMM_RB_ROOT;
	mm->mmap_base = base;
	mm->task_size = base + size;
	kmm_port_lock(&mms.lock);
	kmm_list_add_tail(&mm->mm_list, &mms.list);
	kmm_port_unlock(&mms.lock);
	return mm;
}

void kmm_mm_destroy(struct kmm_mm_struct *mm)
{
	struct kmm_rb_node *n;

	if (!mm)
		return;
	if (!mm->user) {
		kmm_pr_warn("mm: kmm_mm_destroy(%s): not a user mm; ignored", mm->name);
		return;
	}
	kmm_port_lock(&mms.lock);
	kmm_list_del(&mm->mm_list);	/* no new fault finds it */
	kmm_port_unlock(&mms.lock);
	kmm_port_lock(&mm->mmap_lock);
	while ((n = kmm_rb_first(&mm->mm_rb))) {
		struct kmm_vm_area_struct *vma = rb_vma(n);

		zap_range(mm, vma->vm_start, vma->vm_end);
		vma_unlink(mm, vma);
		vma_free(vma);
	}
	kmm_port_unlock(&mm->mmap_lock);
	kmm_port_lock_destroy(&mm->mmap_lock);
	kmm_mm_free_pgtables(mm);
	kmm_port_user_release(mm->mmap_base, mm->task_size - mm->mmap_base);
	/* The host range is gone: pages a failed unmap kept can go too. */
	while (!kmm_list_empty(&mm->zap_held)) {
		struct kmm_page *page = kmm_list_entry(mm->zap_held.next, struct kmm_page, lru);

		kmm_list_del(&page->lru);
		mm->nr_zap_held--;
		kmm_put_page(page);
	}
	kmm_port_meta_free(mm, sizeof(*mm));
}

/* ---- munmap ----------------------------------------------------------------- */

/* Split @vma at @addr: @vma keeps [vm_start, addr), @new gets the rest. */
static void vma_split(struct kmm_mm_struct *mm, struct kmm_vm_area_struct *vma,
		      struct kmm_vm_area_struct *new, unsigned long addr)
{
	*new = *vma;
	kmm_rb_clear_node(&new->vm_rb);
	new->vm_start = addr;
	new->vm_pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> KMM_PAGE_SHIFT);
	vma->vm_end = addr;
	vma_link(mm, new);
}

static int do_munmap_locked(struct kmm_mm_struct *mm, unsigned long start,
			    unsigned long end)
{
	struct kmm_vm_area_struct *vma = kmm_find_vma(mm, start), *spare[2] = { NULL, NULL };
	int need = 0, ret = 0;

	if (!vma || vma->vm_start >= end)
		return 0;	/* a hole */
	if (vma->vm_start < start)
		need++;
	{
		struct kmm_vm_area_struct *last = kmm_find_vma(mm, end - 1);

		if (last && last->vm_start < end && last->vm_end > end)
			need++;
	}
	for (int i = 0; i < need; i++) {
		spare[i] = vma_alloc();
		if (!spare[i]) {
			vma_free(spare[0]);
			return -KMM_ENOMEM;	/* nothing changed */
		}
	}
	if (vma->vm_start < start) {
		vma_split(mm, vma, spare[--need], start);
		vma = kmm_find_vma(mm, start);
	}
	while (vma && vma->vm_start < end) {
		struct kmm_vm_area_struct *next;
		int r;

		if (vma->vm_end > end)
			vma_split(mm, vma, spare[--need], end);
		next = rb_vma(kmm_rb_next(&vma->vm_rb));
		r = zap_range(mm, vma->vm_start, vma->vm_end);
		ret = ret ? ret : r;
		if (vma->vm_flags & KMM_VM_UFFD_MISSING) {
			/* Pages never touched are still the port's demand mapping. */
			r = kmm_port_unmap(vma->vm_start,
					   (vma->vm_end - vma->vm_start) >> KMM_PAGE_SHIFT);
			ret = ret ? ret : r;
		}
		vma_unlink(mm, vma);
		vma_free(vma);
		vma = next;
	}
	return ret;
}

/* [start, start + len) is page aligned, non-empty and inside @mm. */
static bool user_range_ok(struct kmm_mm_struct *mm, unsigned long start, unsigned long len)
{
	return len && !(start & ~KMM_PAGE_MASK) && start >= mm->mmap_base &&
	       start + len > start && start + len <= mm->task_size;
}

int kmm_vm_munmap(struct kmm_mm_struct *mm, unsigned long start, unsigned long len)
{
	int ret;

	if (!mm || !mm->user)
		return -KMM_EINVAL;
	len = page_align(len);
	if (!user_range_ok(mm, start, len))
		return -KMM_EINVAL;
	kmm_port_lock(&mm->mmap_lock);
	ret = do_munmap_locked(mm, start, start + len);
	kmm_port_unlock(&mm->mmap_lock);
	return ret == -KMM_ENOMEM ? ret : 0;	/* a host refusal is logged, not returned */
}

/* ---- inserting PTEs ------------------------------------------------------------ */

struct set_one {
	kmm_pte_t pte;
	struct kmm_mm_struct *mm;
	bool busy;
};

static int set_one_pte(kmm_pte_t *ptep, unsigned long addr, void *data)
{
	struct set_one *s = data;

	if (!kmm_pte_none(kmm_ptep_get(ptep))) {
		s->busy = true;
		return -KMM_EBUSY;
	}
	kmm_set_pte_at(s->mm, addr, ptep, s->pte);
	return 0;
}

/* Set one PTE (tables allocated as needed) unless one is there. */
static int install_pte(struct kmm_mm_struct *mm, unsigned long addr, kmm_pte_t pte)
{
	struct set_one s = { .pte = pte, .mm = mm };

	return kmm_apply_to_page_range(mm, addr, KMM_PAGE_SIZE, set_one_pte, &s);
}

static bool page_ok(const struct kmm_page *page)
{
	/* In bytes: page - mem_map would assume a whole number of struct pages. */
	return page && page >= kmm_machine.mem_map &&
	       page < kmm_machine.mem_map + kmm_machine.max_pfn &&
	       ((uintptr_t)page - (uintptr_t)kmm_machine.mem_map) % sizeof(*page) == 0;
}

/* vm_insert_page() without the flush. */
static int insert_page_noflush(struct kmm_vm_area_struct *vma, unsigned long addr,
			       struct kmm_page *page)
{
	struct kmm_mm_struct *mm = vma->vm_mm;
	int ret;

	if (addr < vma->vm_start || addr >= vma->vm_end)
		return -KMM_EFAULT;
	if ((addr & ~KMM_PAGE_MASK) || !page_ok(page) || kmm_page_ref_count(page) <= 0 ||
	    kmm_page_test(page, KMM_PG_anon) || kmm_page_test(page, KMM_PG_pgtable) ||
	    (vma->vm_flags & KMM_VM_PFNMAP))
		return -KMM_EINVAL;
	vma->vm_flags |= KMM_VM_MIXEDMAP;
	kmm_get_page(page);
	ret = install_pte(mm, addr, kmm_pfn_pte(kmm_page_to_pfn(page), vma->vm_page_prot));
	if (ret) {
		kmm_put_page(page);
		return ret;
	}
	atomic_fetch_add(&page->_mapcount, 1);
	atomic_fetch_add(&mm->rss_file, 1);
	return 0;
}

int kmm_vm_insert_page(struct kmm_vm_area_struct *vma, unsigned long addr,
		       struct kmm_page *page)
{
	int ret;

	if (!vma || !vma->vm_mm)
		return -KMM_EINVAL;
	ret = insert_page_noflush(vma, addr, page);
	if (ret)
		return ret;
	ret = kmm_flush_tlb_mm_range(vma->vm_mm, addr, addr + KMM_PAGE_SIZE);
	if (ret) {
		zap_range(vma->vm_mm, addr, addr + KMM_PAGE_SIZE);
		return ret;
	}
	return 0;
}

int kmm_vm_insert_pages(struct kmm_vm_area_struct *vma, unsigned long addr,
			struct kmm_page **pages, unsigned long *num)
{
	unsigned long i, n;
	int ret = 0, r;

	if (!vma || !vma->vm_mm || !num || (*num && !pages))
		return -KMM_EINVAL;
	n = *num;
	for (i = 0; i < n; i++) {
		ret = insert_page_noflush(vma, addr + i * KMM_PAGE_SIZE, pages[i]);
		if (ret)
			break;
	}
	*num = n - i;
	if (i) {
		r = kmm_flush_tlb_mm_range(vma->vm_mm, addr, addr + i * KMM_PAGE_SIZE);
		if (r) {
			zap_range(vma->vm_mm, addr, addr + i * KMM_PAGE_SIZE);
			*num = n;
			return r;
		}
	}
	return ret;
}

/* ---- remap_vmalloc_range ----------------------------------------------------- */

int kmm_remap_vmalloc_range_partial(struct kmm_vm_area_struct *vma,
				    unsigned long uaddr, void *kaddr,
				    unsigned long pgoff, unsigned long size)
{
	struct kmm_vm_struct *area;
	unsigned long off, rel, end_index, i, n;
	int ret;

	if (!vma || !vma->vm_mm)
		return -KMM_EINVAL;
	if (pgoff > (~0UL >> KMM_PAGE_SHIFT))
		return -KMM_EINVAL;	/* check_shl_overflow */
	off = pgoff << KMM_PAGE_SHIFT;
	if (size > ~0UL - KMM_PAGE_SIZE + 1)
		return -KMM_EINVAL;
	size = page_align(size);
	if ((uaddr & ~KMM_PAGE_MASK) || ((unsigned long)kaddr & ~KMM_PAGE_MASK))
		return -KMM_EINVAL;
	area = kmm_find_vm_area(kaddr);
	if (!area)
		return -KMM_EINVAL;
	if (!(area->flags & (KMM_VM_USERMAP | KMM_VM_DMA_COHERENT)))
		return -KMM_EINVAL;
	rel = (unsigned long)kaddr - (unsigned long)area->addr;
	if (__builtin_add_overflow(size, off, &end_index) ||
	    __builtin_add_overflow(end_index, rel, &end_index) ||
	    end_index > kmm_get_vm_area_size(area))
		return -KMM_EINVAL;
	if (uaddr < vma->vm_start || uaddr > vma->vm_end || size > vma->vm_end - uaddr)
		return -KMM_EFAULT;
	n = size >> KMM_PAGE_SHIFT;
	for (i = 0; i < n; i++) {
		const char *k = (const char *)kaddr + off + i * KMM_PAGE_SIZE;

		ret = insert_page_noflush(vma, uaddr + i * KMM_PAGE_SIZE,
					  kmm_vmalloc_to_page(k));
		if (ret)
			break;
	}
	if (i == n)
		ret = kmm_flush_tlb_mm_range(vma->vm_mm, uaddr, uaddr + size);
	if (ret) {
		/* Nothing half-mapped: take back what this call put there. */
		zap_range(vma->vm_mm, uaddr, uaddr + i * KMM_PAGE_SIZE);
		return ret;
	}
	vma->vm_flags |= KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP;
	return 0;
}

int kmm_remap_vmalloc_range(struct kmm_vm_area_struct *vma, void *addr,
			    unsigned long pgoff)
{
	if (!vma)
		return -KMM_EINVAL;
	return kmm_remap_vmalloc_range_partial(vma, vma->vm_start, addr, pgoff,
					       vma->vm_end - vma->vm_start);
}

/* ---- raw PFNs ------------------------------------------------------------------- */

struct pfn_fill {
	struct kmm_mm_struct *mm;
	unsigned long pfn;
	kmm_pgprot_t prot;
};

static int pfn_fill_pte(kmm_pte_t *ptep, unsigned long addr, void *data)
{
	struct pfn_fill *f = data;

	if (!kmm_pte_none(kmm_ptep_get(ptep)))
		return -KMM_EBUSY;
	kmm_set_pte_at(f->mm, addr, ptep,
		       (kmm_pte_t){ kmm_pfn_pte(f->pfn++, f->prot).pte | KMM__PAGE_SPECIAL });
	return 0;
}

static bool pfns_in_memory(unsigned long pfn, unsigned long nr)
{
	return pfn + nr >= pfn && pfn + nr <= kmm_machine.max_pfn;
}

int kmm_remap_pfn_range(struct kmm_vm_area_struct *vma, unsigned long addr,
			unsigned long pfn, unsigned long size, kmm_pgprot_t prot)
{
	struct pfn_fill f;
	unsigned long end;
	int ret;

	if (vma && (addr & ~KMM_PAGE_MASK)) {
		/* remap_pfn_range_internal()'s WARN_ON_ONCE(!PAGE_ALIGNED(addr)) */
		kmm_pr_warn("remap_pfn_range: WARNING: address %#lx is not page aligned", addr);
		return -KMM_EINVAL;
	}
	if (!vma || !vma->vm_mm || !size || size > ~0UL - KMM_PAGE_SIZE + 1)
		return -KMM_EINVAL;
	size = page_align(size);
	end = addr + size;
	if (end < addr || addr < vma->vm_start || end > vma->vm_end ||
	    (vma->vm_flags & KMM_VM_MIXEDMAP) ||
	    !pfns_in_memory(pfn, size >> KMM_PAGE_SHIFT))
		return -KMM_EINVAL;
	if (is_cow_mapping(vma->vm_flags)) {
		if (addr != vma->vm_start || end != vma->vm_end)
			return -KMM_EINVAL;
		vma->vm_pgoff = pfn;
	}
	vma->vm_flags |= KMM_VM_IO | KMM_VM_PFNMAP | KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP;
	f = (struct pfn_fill){ .mm = vma->vm_mm, .pfn = pfn, .prot = prot };
	ret = kmm_apply_to_page_range(vma->vm_mm, addr, size, pfn_fill_pte, &f);
	if (!ret)
		ret = kmm_flush_tlb_mm_range(vma->vm_mm, addr, end);
	if (ret)
		zap_range(vma->vm_mm, addr, end);	/* as the kernel: the whole range */
	return ret;
}

unsigned kmm_vmf_insert_pfn(struct kmm_vm_area_struct *vma, unsigned long addr,
			    unsigned long pfn)
{
	struct set_one s;
	int ret;

	if (!vma || !vma->vm_mm || !(vma->vm_flags & (KMM_VM_PFNMAP | KMM_VM_MIXEDMAP)) ||
	    addr < vma->vm_start || addr >= vma->vm_end || !pfns_in_memory(pfn, 1))
		return KMM_VM_FAULT_SIGBUS;
	addr &= KMM_PAGE_MASK;
	s = (struct set_one){ .mm = vma->vm_mm };
	s.pte.pte = kmm_pfn_pte(pfn, vma->vm_page_prot).pte | KMM__PAGE_SPECIAL;
	ret = kmm_apply_to_page_range(vma->vm_mm, addr, KMM_PAGE_SIZE, set_one_pte, &s);
	if (s.busy)
		return KMM_VM_FAULT_NOPAGE;	/* someone mapped it first */
	if (ret)
		return KMM_VM_FAULT_OOM;
	if (kmm_flush_tlb_mm_range(vma->vm_mm, addr, addr + KMM_PAGE_SIZE)) {
		zap_range(vma->vm_mm, addr, addr + KMM_PAGE_SIZE);
		return KMM_VM_FAULT_OOM;
	}
	return KMM_VM_FAULT_NOPAGE;
}

/* ---- anonymous memory ----------------------------------------------------------- */

/* The PTE protection of an anonymous page: exclusive, so writable if allowed. */
static kmm_pgprot_t anon_prot(const struct kmm_vm_area_struct *vma)
{
	kmm_pgprot_t prot = vma->vm_page_prot;

	if (vma->vm_flags & KMM_VM_WRITE)
		prot.pgprot |= KMM__PAGE_RW | KMM__PAGE_DIRTY;
	return prot;
}

/* A zeroed movable page at @addr of @vma, with its reverse map (no flush). */
static int anon_map_page(struct kmm_vm_area_struct *vma, unsigned long addr)
{
	struct kmm_mm_struct *mm = vma->vm_mm;
	struct kmm_page *page = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_ZERO, 0);
	int ret;

	if (!page)
		return -KMM_ENOMEM;
	ret = install_pte(mm, addr, kmm_pfn_pte(kmm_page_to_pfn(page), anon_prot(vma)));
	if (ret) {
		kmm___free_pages(page, 0);
		return ret;
	}
	kmm_page_set_mapping(page, mm);
	page->index = addr >> KMM_PAGE_SHIFT;
	/* PG_lru: on the (modelled) LRU, so isolation and migration may move it. */
	kmm_page_flags_set_all(page, kmm_page_flags(page) | (1ULL << KMM_PG_anon) |
				     (1ULL << KMM_PG_lru));
	atomic_store(&page->_mapcount, 0);
	atomic_fetch_add(&mm->rss_anon, 1);
	return 0;
}

/* Populate [vm_start, vm_end) of a private anonymous VMA. */
static int populate_anon(struct kmm_vm_area_struct *vma)
{
	unsigned long addr;
	int ret = 0;

	/* __mm_populate() skips mappings nothing may access. */
	if (!(vma->vm_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_EXEC)))
		return 0;

	for (addr = vma->vm_start; addr < vma->vm_end && !ret; addr += KMM_PAGE_SIZE)
		ret = anon_map_page(vma, addr);
	if (!ret)
		ret = kmm_flush_tlb_mm_range(vma->vm_mm, vma->vm_start, vma->vm_end);
	return ret;
}

static unsigned vma_port_prot(unsigned long flags)
{
	return ((flags & KMM_VM_READ) ? KMM_PORT_PROT_READ : 0) |
	       ((flags & KMM_VM_WRITE) ? KMM_PORT_PROT_READ | KMM_PORT_PROT_WRITE : 0) |
	       ((flags & KMM_VM_EXEC) ? KMM_PORT_PROT_READ | KMM_PORT_PROT_EXEC : 0);
}

/*
 * An anonymous VMA without MAP_POPULATE: its first touches fault into
 * kmm_handle_user_fault() (real mode), or, where the host cannot do that,
 * it is populated now.
 */
static int setup_anon_demand(struct kmm_vm_area_struct *vma)
{
	static bool warned;
	int ret;

	if (!vma->vm_mm->host_backed ||
	    !(vma->vm_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_EXEC)))
		return 0;	/* shadow mode, or PROT_NONE: nothing can touch it */
	ret = kmm_port_demand_map(vma->vm_start, (vma->vm_end - vma->vm_start) >> KMM_PAGE_SHIFT,
				  vma_port_prot(vma->vm_flags));
	if (!ret) {
		vma->vm_flags |= KMM_VM_UFFD_MISSING;
		return 0;
	}
	if (ret != -KMM_ENOSYS)
		return ret;
	if (!warned) {
		warned = true;
		kmm_pr_info("mm: the host offers no user page faults (userfaultfd); anonymous mappings are populated at mmap()");
	}
	return populate_anon(vma);
}

int kmm_handle_user_fault(uintptr_t addr, bool write)
{
	struct kmm_mm_struct *mm = NULL, *it;
	struct kmm_vm_area_struct *vma;
	kmm_pte_t *ptep;
	int ret;

	if (!mms.ready)
		return -KMM_EFAULT;
	addr &= KMM_PAGE_MASK;
	kmm_port_lock(&mms.lock);
	for (struct kmm_list_head *l = mms.list.next; l != &mms.list; l = l->next) {
		it = kmm_container_of(l, struct kmm_mm_struct, mm_list);
		if (addr >= it->mmap_base && addr < it->task_size) {
			mm = it;
			kmm_port_lock(&mm->mmap_lock);
			break;
		}
	}
	kmm_port_unlock(&mms.lock);
	if (!mm)
		return -KMM_EFAULT;
	vma = kmm_find_vma(mm, addr);
	if (!vma || vma->vm_start > addr || vma->vm_file ||
	    (write && !(vma->vm_flags & KMM_VM_WRITE))) {
		ret = -KMM_EFAULT;
		goto out;
	}
	ptep = kmm_lookup_pte(mm, addr);
	if (ptep && !kmm_pte_none(kmm_ptep_get(ptep))) {
		/*
		 * Another thread's fault got there first, or the page was
		 * migrating (its host page was a demand page while the
		 * migration held mmap_lock: the kernel's migration entry
		 * wait).  Make sure the host shows the PTE, then retry.
		 */
		ret = kmm_flush_tlb_mm_range(mm, addr, addr + KMM_PAGE_SIZE);
		goto out;
	}
	if (!(vma->vm_flags & KMM_VM_UFFD_MISSING)) {
		ret = -KMM_EFAULT;
		goto out;
	}
	ret = anon_map_page(vma, addr);
	if (!ret) {
		ret = kmm_flush_tlb_mm_range(mm, addr, addr + KMM_PAGE_SIZE);
		if (ret)
			zap_range(mm, addr, addr + KMM_PAGE_SIZE);
		else
			atomic_fetch_add(&mm->nr_faults, 1);
	}
out:
	kmm_port_unlock(&mm->mmap_lock);
	return ret;
}

/* ---- migration support (for migrate.c) ------------------------------------ */

/*
 * The mm that maps anonymous @page, with its mmap_lock held, and the user
 * address; NULL if the page is no longer (or never was) a mapped anonymous
 * page.  The mm is looked up in the list of live user mms under
 * mm_list_lock before it is touched, so a racing kmm_mm_destroy() either
 * has not started (and then waits for mmap_lock) or the mm is not found.
 */
struct kmm_mm_struct *kmm__anon_lock_owner(struct kmm_page *page, unsigned long *addrp)
{
	struct kmm_mm_struct *want = kmm_page_mapping(page), *mm = NULL;
	unsigned long addr;
	kmm_pte_t *ptep;

	if (!want || !kmm_page_test(page, KMM_PG_anon) || !mms.ready)
		return NULL;
	kmm_port_lock(&mms.lock);
	for (struct kmm_list_head *l = mms.list.next; l != &mms.list; l = l->next) {
		if (kmm_container_of(l, struct kmm_mm_struct, mm_list) == want) {
			mm = want;
			kmm_port_lock(&mm->mmap_lock);
			break;
		}
	}
	kmm_port_unlock(&mms.lock);
	if (!mm)
		return NULL;
	/* Under mmap_lock the rmap is stable: recheck it against the PTE. */
	addr = page->index << KMM_PAGE_SHIFT;
	ptep = kmm_lookup_pte(mm, addr);
	if (!kmm_page_test(page, KMM_PG_anon) || kmm_page_mapping(page) != mm || !ptep ||
	    !kmm_pte_present(kmm_ptep_get(ptep)) ||
	    kmm_pte_pfn(kmm_ptep_get(ptep)) != kmm_page_to_pfn(page)) {
		kmm_port_unlock(&mm->mmap_lock);
		return NULL;
	}
	*addrp = addr;
	return mm;
}

void kmm__anon_unlock_owner(struct kmm_mm_struct *mm)
{
	kmm_port_unlock(&mm->mmap_lock);
}

/*
 * How many of @old[0..@n) are mapped, in this order, at @addr, @addr +
 * PAGE_SIZE, ... of one anonymous VMA of @mm, each held by its mapping
 * and @extra_refs more references only.  Context: mmap_lock held.
 */
unsigned kmm__anon_run_check_locked(struct kmm_mm_struct *mm, unsigned long addr,
				    struct kmm_page **old, unsigned n, int extra_refs)
{
	struct kmm_vm_area_struct *vma = kmm_find_vma(mm, addr);
	unsigned i;

	if (!vma || vma->vm_start > addr || vma->vm_file)
		return 0;
	if (n > (vma->vm_end - addr) >> KMM_PAGE_SHIFT)
		n = (unsigned)((vma->vm_end - addr) >> KMM_PAGE_SHIFT);
	for (i = 0; i < n; i++) {
		unsigned long a = addr + ((unsigned long)i << KMM_PAGE_SHIFT);
		kmm_pte_t *ptep = kmm_lookup_pte(mm, a);

		if (!ptep || !kmm_pte_present(kmm_ptep_get(ptep)) ||
		    kmm_pte_pfn(kmm_ptep_get(ptep)) != kmm_page_to_pfn(old[i]) ||
		    !kmm_page_test(old[i], KMM_PG_anon) || kmm_page_mapping(old[i]) != mm ||
		    old[i]->index != a >> KMM_PAGE_SHIFT ||
		    kmm_page_ref_count(old[i]) != 1 + extra_refs)
			break;
	}
	return i;
}

/*
 * Move the mappings of @old[0..@n), at @addr onwards (checked with
 * kmm__anon_run_check_locked()), to @new[0..@n) (fresh order-0 pages with
 * one reference each, which the mappings take over): copy the bytes,
 * rewrite the PTEs, flush the run to the host once, drop the old pages'
 * mapping references.
 *
 * In real mode the run is first fenced (kmm_port_migrate_fence(), one
 * call for the run): a thread touching one of its pages meanwhile faults
 * into kmm_handle_user_fault(), which waits for mmap_lock, so no store can
 * land in an old page after its copy (the kernel's migration entry).
 * Where the host has no minor faults on shmem, the fence is a demand
 * range, set up in two steps with a short window between them; where it
 * has no user faults at all there is no fence: in both cases a store
 * racing with the copy can be lost (the documented window).  Targets that are contiguous
 * in PFN order are mapped by one host call.
 *
 * Context: mmap_lock held (kmm__anon_lock_owner()).
 * Return: 0, or -EAGAIN / -ENOMEM if the host refused the demand pages
 * (nothing changed).
 */
int kmm__anon_migrate_run_locked(struct kmm_mm_struct *mm, unsigned long addr,
				 struct kmm_page **old, struct kmm_page **new, unsigned n)
{
	struct kmm_vm_area_struct *vma = kmm_find_vma(mm, addr);
	bool real = mm->host_backed && kmm_machine.params.mode != KMM_MODE_SHADOW;
	unsigned long end = addr + ((unsigned long)n << KMM_PAGE_SHIFT);
	unsigned i;
	int r;

	if (real) {
		r = kmm_port_migrate_fence(addr, n, vma_port_prot(vma->vm_flags));
		if (r && r != -KMM_ENOSYS)
			return r == -KMM_ENOMEM ? -KMM_ENOMEM : -KMM_EAGAIN;
	}
	for (i = 0; i < n; i++) {
		unsigned long a = addr + ((unsigned long)i << KMM_PAGE_SHIFT);
		kmm_pte_t *ptep = kmm_lookup_pte(mm, a);
		kmm_pte_t pte = kmm_ptep_get(ptep);

		if (real)
			kmm_memcpy(kmm_page_address(new[i]), kmm_page_address(old[i]),
				   KMM_PAGE_SIZE);
		kmm_page_set_mapping(new[i], mm);
		new[i]->index = a >> KMM_PAGE_SHIFT;
		kmm_page_flags_set_all(new[i], kmm_page_flags(new[i]) | (1ULL << KMM_PG_anon) |
					       (1ULL << KMM_PG_lru));
		atomic_store(&new[i]->_mapcount, 0);
		kmm_set_pte_at(mm, a, ptep,
			       kmm_pfn_pte(kmm_page_to_pfn(new[i]), kmm_pte_pgprot(pte)));
	}
	r = kmm_flush_tlb_mm_range(mm, addr, end);
	if (r)	/* the PTEs are the truth; the next fault there retries the flush */
		kmm_pr_warn("mm: migration of [%#lx, %#lx): host map failed (%d); retried at the next touch",
			    addr, end, r);
	for (i = 0; i < n; i++) {
		kmm_page_flags_set_all(old[i], kmm_page_flags(old[i]) &
					       ~((1ULL << KMM_PG_anon) | (1ULL << KMM_PG_lru)));
		kmm_page_set_mapping(old[i], NULL);
		old[i]->index = 0;
		atomic_store(&old[i]->_mapcount, -1);
		kmm_put_page(old[i]);	/* the mapping's reference */
	}
	return 0;
}

bool kmm_page_anon_rmap(const struct kmm_page *page, struct kmm_mm_struct **mm,
			unsigned long *addr)
{
	if (!page || !kmm_page_test(page, KMM_PG_anon))
		return false;
	if (mm)
		*mm = kmm_page_mapping(page);
	if (addr)
		*addr = page->index << KMM_PAGE_SHIFT;
	return true;
}

/* ---- mmap ------------------------------------------------------------------------ */

/* The highest free gap of @len below task_size, or 0. */
static unsigned long unmapped_area_topdown(struct kmm_mm_struct *mm, unsigned long len)
{
	unsigned long high = mm->task_size;
	struct kmm_rb_node *n;

	for (n = kmm_rb_last(&mm->mm_rb); ; n = kmm_rb_prev(n)) {
		struct kmm_vm_area_struct *v = rb_vma(n);
		unsigned long low = v ? v->vm_end : mm->mmap_base;

		if (high - low >= len)
			return high - len;
		if (!v)
			return 0;
		high = v->vm_start;
	}
}

static bool range_free(struct kmm_mm_struct *mm, unsigned long addr, unsigned long len)
{
	struct kmm_vm_area_struct *v = kmm_find_vma(mm, addr);

	return !v || v->vm_start >= addr + len;
}

unsigned long kmm_vm_mmap(struct kmm_mm_struct *mm, unsigned long addr,
			  unsigned long len, unsigned long prot,
			  unsigned long flags, unsigned long pgoff,
			  struct kmm_mmap_file *file)
{
	unsigned long type = flags & (KMM_MAP_SHARED | KMM_MAP_PRIVATE);
	struct kmm_vm_area_struct *vma;
	unsigned long vm_flags;
	int ret;

	if (!mm || !mm->user || !len ||
	    (prot & ~(unsigned long)(KMM_PROT_READ | KMM_PROT_WRITE | KMM_PROT_EXEC)) ||
	    (type != KMM_MAP_SHARED && type != KMM_MAP_PRIVATE))
		return (unsigned long)-KMM_EINVAL;
	if (!file)
		flags |= KMM_MAP_ANONYMOUS;
	else if (flags & KMM_MAP_ANONYMOUS)
		return (unsigned long)-KMM_EINVAL;
	if ((flags & KMM_MAP_ANONYMOUS) && type == KMM_MAP_SHARED)
		return (unsigned long)-KMM_EINVAL;	/* no shmem in kmm */
	if (file && !file->mmap)
		return (unsigned long)-KMM_ENODEV;
	if (len > mm->task_size - mm->mmap_base)
		return (unsigned long)-KMM_ENOMEM;
	len = page_align(len);
	if (file && pgoff + (len >> KMM_PAGE_SHIFT) < pgoff)
		return (unsigned long)-KMM_EOVERFLOW;
	if ((flags & KMM_MAP_FIXED) && !user_range_ok(mm, addr, len))
		return (unsigned long)-KMM_EINVAL;

	vm_flags = KMM_VM_MAYREAD | KMM_VM_MAYWRITE | KMM_VM_MAYEXEC;
	if (prot & KMM_PROT_READ)
		vm_flags |= KMM_VM_READ;
	if (prot & KMM_PROT_WRITE)
		vm_flags |= KMM_VM_WRITE;
	if (prot & KMM_PROT_EXEC)
		vm_flags |= KMM_VM_EXEC;
	if (type == KMM_MAP_SHARED)
		vm_flags |= KMM_VM_SHARED | KMM_VM_MAYSHARE;
	else if (flags & KMM_MAP_ANONYMOUS)
		vm_flags |= KMM_VM_ACCOUNT;

	vma = vma_alloc();
	if (!vma)
		return (unsigned long)-KMM_ENOMEM;
	kmm_port_lock(&mm->mmap_lock);
	if (flags & KMM_MAP_FIXED) {
		ret = do_munmap_locked(mm, addr, addr + len);
		if (ret == -KMM_ENOMEM)
			goto fail;
	} else if (addr && !(addr & ~KMM_PAGE_MASK) && user_range_ok(mm, addr, len) &&
		   range_free(mm, addr, len)) {
		/* the hint is free: take it */
	} else {
		addr = unmapped_area_topdown(mm, len);
		if (!addr) {
			ret = -KMM_ENOMEM;
			goto fail;
		}
	}
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_flags = vm_flags;
	vma->vm_pgoff = file ? pgoff : addr >> KMM_PAGE_SHIFT;
	vma->vm_page_prot = vm_get_page_prot(vm_flags);
	vma->vm_mm = mm;
	vma->vm_file = file;
	if (file) {
		ret = file->mmap(file, vma);
		if (ret) {
			/* The kernel unmaps what the method mapped before failing. */
			zap_range(mm, vma->vm_start, vma->vm_end);
			goto fail;
		}
	}
	vma_link(mm, vma);
	if (flags & KMM_MAP_ANONYMOUS) {
		ret = (flags & KMM_MAP_POPULATE) ? populate_anon(vma) : setup_anon_demand(vma);
		if (ret) {
			do_munmap_locked(mm, vma->vm_start, vma->vm_end);
			vma = NULL;	/* freed with its range */
			goto fail;
		}
	}
	kmm_port_unlock(&mm->mmap_lock);
	return addr;

fail:
	kmm_port_unlock(&mm->mmap_lock);
	vma_free(vma);
	return (unsigned long)(long)ret;
}

/* ---- lookups and validation --------------------------------------------------------- */

int kmm_follow_pfn(struct kmm_mm_struct *mm, unsigned long addr, unsigned long *pfn)
{
	kmm_pte_t *ptep;
	kmm_pte_t pte;

	if (!mm)
		return -KMM_EFAULT;
	ptep = kmm_lookup_pte(mm, addr & KMM_PAGE_MASK);
	if (!ptep)
		return -KMM_EFAULT;
	pte = kmm_ptep_get(ptep);
	if (!kmm_pte_present(pte))
		return -KMM_EFAULT;
	if (pfn)
		*pfn = kmm_pte_pfn(pte);
	return 0;
}

struct mm_check {
	struct kmm_mm_struct *mm;
	long file, anon;
	unsigned long *pfns;	/* second pass: every mapped page's PFN */
	size_t nr_pfns, cap;
};

static int check_pte(kmm_pte_t *ptep, unsigned long addr, void *data)
{
	struct mm_check *c = data;
	kmm_pte_t pte = kmm_ptep_get(ptep);
	struct kmm_vm_area_struct *v = kmm_find_vma(c->mm, addr);
	unsigned long pfn = kmm_pte_pfn(pte);
	struct kmm_page *page;

	if (!v || v->vm_start > addr) {
		kmm_pr_err("mm: PTE %#llx at %#lx lies in no VMA",
			   (unsigned long long)pte.pte, addr);
		return -KMM_EINVAL;
	}
	if (!kmm_pte_present(pte) || !kmm_pfn_valid(pfn)) {
		kmm_pr_err("mm: PTE %#llx at %#lx: not present or PFN outside memory",
			   (unsigned long long)pte.pte, addr);
		return -KMM_EINVAL;
	}
	if (pte.pte & KMM__PAGE_SPECIAL) {
		if (!(v->vm_flags & (KMM_VM_PFNMAP | KMM_VM_MIXEDMAP))) {
			kmm_pr_err("mm: special PTE at %#lx in a VMA of neither PFNMAP nor MIXEDMAP",
				   addr);
			return -KMM_EINVAL;
		}
		return 0;
	}
	page = kmm_pfn_to_page(pfn);
	if (kmm_page_ref_count(page) <= 0 || atomic_load(&page->_mapcount) < 0) {
		kmm_pr_err("mm: page %#lx mapped at %#lx has refcount %d, mapcount %d",
			   pfn, addr, kmm_page_ref_count(page), atomic_load(&page->_mapcount));
		return -KMM_EINVAL;
	}
	if (kmm_page_test(page, KMM_PG_anon)) {
		if (kmm_page_mapping(page) != c->mm || page->index != addr >> KMM_PAGE_SHIFT) {
			kmm_pr_err("mm: anonymous page %#lx at %#lx: rmap says %p:%#lx",
				   pfn, addr, page->mapping, page->index << KMM_PAGE_SHIFT);
			return -KMM_EINVAL;
		}
		c->anon++;
	} else {
		if (!(v->vm_flags & KMM_VM_MIXEDMAP)) {
			kmm_pr_err("mm: kernel page %#lx at %#lx in a VMA without VM_MIXEDMAP",
				   pfn, addr);
			return -KMM_EINVAL;
		}
		c->file++;
	}
	if (c->pfns && c->nr_pfns < c->cap)
		c->pfns[c->nr_pfns++] = pfn;
	return 0;
}

/*
 * Each page mapped k times in this mm needs a map count of at least k - 1
 * (it starts at -1) and k references (other mms and the owner may add
 * more).
 */
static int check_map_counts(struct mm_check *c)
{
	size_t i, j;

	kmm_sort_ulong(c->pfns, c->nr_pfns);
	for (i = 0; i < c->nr_pfns; i = j) {
		struct kmm_page *page = kmm_pfn_to_page(c->pfns[i]);
		long k;

		for (j = i + 1; j < c->nr_pfns && c->pfns[j] == c->pfns[i]; j++)
			;
		k = (long)(j - i);
		if (atomic_load(&page->_mapcount) + 1 < k || kmm_page_ref_count(page) < k) {
			kmm_pr_err("mm: page %#lx mapped %ld times here, mapcount %d, refcount %d",
				   c->pfns[i], k, atomic_load(&page->_mapcount),
				   kmm_page_ref_count(page));
			return -KMM_EINVAL;
		}
	}
	return 0;
}

static int vma_cmp(const struct kmm_rb_node *a, const struct kmm_rb_node *b)
{
	unsigned long x = rb_vma((struct kmm_rb_node *)a)->vm_start;
	unsigned long y = rb_vma((struct kmm_rb_node *)b)->vm_start;

	return x < y ? -1 : x > y;
}

static int validate_vmas(struct kmm_mm_struct *mm)
{
	unsigned long prev_end = mm->mmap_base;
	struct kmm_rb_node *n;
	size_t nodes = 0;
	int ret;

	if (kmm_rb_validate(&mm->mm_rb, vma_cmp, &nodes))
		return -KMM_EINVAL;
	if (nodes != (size_t)mm->map_count) {
		kmm_pr_err("mm: %zu VMAs in the tree, map_count %d", nodes, mm->map_count);
		return -KMM_EINVAL;
	}
	for (n = kmm_rb_first(&mm->mm_rb); n; n = kmm_rb_next(n)) {
		struct kmm_vm_area_struct *v = rb_vma(n);

		if (v->vm_mm != mm || v->vm_start >= v->vm_end ||
		    ((v->vm_start | v->vm_end) & ~KMM_PAGE_MASK) ||
		    v->vm_start < prev_end || v->vm_end > mm->task_size ||
		    ((v->vm_flags & KMM_VM_PFNMAP) && (v->vm_flags & KMM_VM_MIXEDMAP))) {
			kmm_pr_err("mm: bad VMA [%#lx, %#lx) flags %#lx after %#lx",
				   v->vm_start, v->vm_end, v->vm_flags, prev_end);
			return -KMM_EINVAL;
		}
		ret = kmm_pgtable_validate(mm, true, v->vm_start, v->vm_end);
		if (ret)
			return ret;
		prev_end = v->vm_end;
	}
	return 0;
}

int kmm_mm_validate(struct kmm_mm_struct *mm)
{
	struct mm_check c = { .mm = mm };
	int ret;

	if (!mm || !mm->user)
		return -KMM_EINVAL;
	kmm_port_lock(&mm->mmap_lock);
	ret = validate_vmas(mm);
	if (!ret)
		ret = kmm_pgtable_validate(mm, false, 0, 0);
	if (!ret)
		ret = kmm_apply_to_existing_page_range(mm, mm->mmap_base,
						       mm->task_size - mm->mmap_base,
						       check_pte, &c);
	if (!ret && (c.file != atomic_load(&mm->rss_file) ||
		     c.anon != atomic_load(&mm->rss_anon))) {
		kmm_pr_err("mm: %ld file and %ld anonymous pages mapped, RSS says %ld and %ld",
			   c.file, c.anon, atomic_load(&mm->rss_file),
			   atomic_load(&mm->rss_anon));
		ret = -KMM_EINVAL;
	}
	if (!ret && c.file + c.anon > 0) {
		c.cap = (size_t)(c.file + c.anon);
		c.pfns = kmm_port_meta_alloc(c.cap * sizeof(*c.pfns));
		if (c.pfns) {	/* without memory for it, the count check is skipped */
			c.file = c.anon = 0;
			ret = kmm_apply_to_existing_page_range(mm, mm->mmap_base,
							       mm->task_size - mm->mmap_base,
							       check_pte, &c);
			if (!ret)
				ret = check_map_counts(&c);
			kmm_port_meta_free(c.pfns, c.cap * sizeof(*c.pfns));
		}
	}
	kmm_port_unlock(&mm->mmap_lock);
	return ret;
}
