/* SPDX-License-Identifier: MIT */
/*
 * pgtable.c - 4-level page tables (pgd -> pud -> pmd -> pte, 512 entries
 * each, x86-64 index bits 47..39, 38..30, 29..21, 20..12) and the TLB model
 * that keeps the host's mappings following them.
 *
 * Table pages come from the page allocator (GFP_KERNEL | __GFP_ZERO,
 * PG_pgtable).  Their 4 KiB of entries are the page itself in real/strict
 * mode (through the direct map) and a metadata buffer in shadow mode;
 * page->mapping points at the entries either way.  Upper-level entries hold
 * the next table's PFN | PRESENT | RW | ACCESSED | DIRTY (| USER).
 *
 * Host view.  Each PTE table of a host-backed mm has a twin (page->index):
 * for every slot, the normalised PTE the host currently follows (0: the
 * host maps nothing there).  A flush walks [start, end) comparing PTEs with
 * the twin, cutting the differences into runs:
 *
 *     PTEs     | P:5 | P:6 | P:7 | --- | --- | P:9 |
 *     twin     |  0  |  0  |  0  | P:3 | P:4 | P:9 |
 *     runs     [ map 3 pages @pfn 5 ][ unmap 2  ]  (equal: no call)
 *
 * one kmm_port_map() per run of PFN-contiguous, same-node, same-protection
 * slots, one kmm_port_unmap() per run of cleared slots; then the twin of the
 * run is updated.  A failed host call leaves the twin as it was, so a later
 * flush retries.  The host never maps EXEC (kmm runs no code from there).
 *
 * Lock order (this file):
 *   mm->host_lock          (one flush at a time per mm; host calls)
 *     mm->page_table_lock  (populating upper-level entries)
 *       zone->lock         (via the page allocator)
 * PTE slots are read and written with relaxed atomics (READ_ONCE /
 * WRITE_ONCE): their owner writes them without a lock while a flush of an
 * overlapping range may read them.
 */
#include <kmm/boot.h>
#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>

struct kmm_mm_struct kmm_init_mm;

#define TABLE_BYTES (KMM_PTRS_PER_TABLE * sizeof(uint64_t))
#define UPPER_FLAGS \
	(KMM__PAGE_PRESENT | KMM__PAGE_RW | KMM__PAGE_ACCESSED | KMM__PAGE_DIRTY)

static inline unsigned level_shift(int level)
{
	return KMM_PAGE_SHIFT + 9u * (unsigned)(level - 1);
}

static inline unsigned tbl_index(unsigned long addr, int level)
{
	return (unsigned)((addr >> level_shift(level)) & (KMM_PTRS_PER_TABLE - 1));
}

static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t *table_of(uint64_t entry)
{
	return (uint64_t *)kmm_pfn_to_page((entry & KMM__PAGE_PFN_MASK) >>
					   KMM_PAGE_SHIFT)->mapping;
}

static bool shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

/* A zeroed table page; its entries at page->mapping. */
static struct kmm_page *alloc_table(struct kmm_mm_struct *mm)
{
	struct kmm_page *page = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 0);
	void *store;

	if (!page)
		return NULL;
	if (shadow()) {
		store = kmm_port_meta_alloc(TABLE_BYTES);
		if (!store) {
			kmm___free_pages(page, 0);
			return NULL;
		}
	} else {
		store = kmm_page_address(page);
	}
	kmm_page_set(page, KMM_PG_pgtable);
	page->mapping = store;
	page->index = 0;
	atomic_fetch_add(&mm->pgtables_pages, 1);
	atomic_fetch_add(&kmm_page_zone(page)->vm_stat[KMM_NR_PAGETABLE], 1);
	return page;
}

static void free_table(struct kmm_mm_struct *mm, struct kmm_page *page)
{
	if (page->index)
		kmm_port_meta_free((void *)page->index, TABLE_BYTES);
	if (shadow())
		kmm_port_meta_free(page->mapping, TABLE_BYTES);
	page->index = 0;
	page->mapping = NULL;
	kmm_page_clear(page, KMM_PG_pgtable);
	atomic_fetch_sub(&kmm_page_zone(page)->vm_stat[KMM_NR_PAGETABLE], 1);
	kmm___free_pages(page, 0);
	atomic_fetch_sub(&mm->pgtables_pages, 1);
}

/* The table below @table[idx]; allocate it when @create. NULL if absent/OOM. */
static uint64_t *next_table(struct kmm_mm_struct *mm, uint64_t *table,
			    unsigned idx, bool create, int *err)
{
	uint64_t e = ld(&table[idx]);
	struct kmm_page *page;

	if (e & KMM__PAGE_PRESENT)
		return table_of(e);
	if (!create)
		return NULL;
	page = alloc_table(mm);
	if (!page) {
		*err = -KMM_ENOMEM;
		return NULL;
	}
	kmm_port_lock(&mm->page_table_lock);
	e = ld(&table[idx]);
	if (e & KMM__PAGE_PRESENT) {
		/* Someone populated it meanwhile. */
		kmm_port_unlock(&mm->page_table_lock);
		free_table(mm, page);
		return table_of(e);
	}
	st(&table[idx], (kmm_page_to_pfn(page) << KMM_PAGE_SHIFT) | UPPER_FLAGS |
			(mm == &kmm_init_mm ? 0 : KMM__PAGE_USER));
	kmm_port_unlock(&mm->page_table_lock);
	return (uint64_t *)page->mapping;
}

/* The PTE table covering @addr (level 1 storage), or NULL. */
static uint64_t *pte_table(struct kmm_mm_struct *mm, unsigned long addr,
			   bool create, int *err)
{
	uint64_t *t = mm->pgd;
	int level;

	for (level = 4; level > 1 && t; level--)
		t = next_table(mm, t, tbl_index(addr, level), create, err);
	return t;
}

/* The table page holding the PTE table covering @addr (for its twin). */
static struct kmm_page *pte_table_page(struct kmm_mm_struct *mm, unsigned long addr)
{
	uint64_t *t = mm->pgd, e = 0;
	int level, err = 0;

	for (level = 4; level > 2 && t; level--)
		t = next_table(mm, t, tbl_index(addr, level), false, &err);
	if (!t)
		return NULL;
	e = ld(&t[tbl_index(addr, 2)]);
	if (!(e & KMM__PAGE_PRESENT))
		return NULL;
	return kmm_pfn_to_page((e & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT);
}

void kmm_set_pte_at(struct kmm_mm_struct *mm, unsigned long addr,
		    kmm_pte_t *ptep, kmm_pte_t pte)
{
	(void)mm;
	(void)addr;
	st(&ptep->pte, pte.pte);
}

void kmm_pte_clear(struct kmm_mm_struct *mm, unsigned long addr, kmm_pte_t *ptep)
{
	(void)mm;
	(void)addr;
	st(&ptep->pte, 0);
}

static bool range_ok(unsigned long addr, unsigned long size)
{
	return size && !(addr & ~KMM_PAGE_MASK) && !(size & ~KMM_PAGE_MASK) &&
	       addr + size > addr;
}

static int apply_range(struct kmm_mm_struct *mm, unsigned long addr,
		       unsigned long size, kmm_pte_fn_t fn, void *data,
		       bool create)
{
	unsigned long end = addr + size;
	int err = 0;

	if (!range_ok(addr, size))
		return -KMM_EINVAL;
	while (addr < end) {
		unsigned long next = (addr | ((1UL << KMM_PMD_SHIFT) - 1)) + 1;
		uint64_t *ptes = pte_table(mm, addr, create, &err);

		if (next > end || next == 0)
			next = end;
		if (!ptes) {
			if (err)
				return err;
			addr = next;
			continue;
		}
		for (; addr < next; addr += KMM_PAGE_SIZE) {
			kmm_pte_t *pte = (kmm_pte_t *)&ptes[tbl_index(addr, 1)];
			int ret;

			if (!create && kmm_pte_none(kmm_ptep_get(pte)))
				continue;
			ret = fn(pte, addr, data);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int kmm_apply_to_page_range(struct kmm_mm_struct *mm, unsigned long addr,
			    unsigned long size, kmm_pte_fn_t fn, void *data)
{
	return apply_range(mm, addr, size, fn, data, true);
}

int kmm_apply_to_existing_page_range(struct kmm_mm_struct *mm,
				     unsigned long addr, unsigned long size,
				     kmm_pte_fn_t fn, void *data)
{
	return apply_range(mm, addr, size, fn, data, false);
}

kmm_pte_t *kmm_lookup_pte(struct kmm_mm_struct *mm, unsigned long addr)
{
	int err = 0;
	uint64_t *ptes = mm->pgd ? pte_table(mm, addr, false, &err) : NULL;

	return ptes ? (kmm_pte_t *)&ptes[tbl_index(addr, 1)] : NULL;
}

/* ---- host sync ---------------------------------------------------------- */

/* What the host should show for a PTE: PFN, present, writable. */
static inline uint64_t host_key(uint64_t pte)
{
	if (!(pte & KMM__PAGE_PRESENT))
		return 0;
	return (pte & KMM__PAGE_PFN_MASK) | KMM__PAGE_PRESENT | (pte & KMM__PAGE_RW);
}

static inline unsigned host_prot(uint64_t key)
{
	return KMM_PORT_PROT_READ | ((key & KMM__PAGE_RW) ? KMM_PORT_PROT_WRITE : 0);
}

/* Walks slots in address order, caching the current PTE table and twin. */
struct cursor {
	struct kmm_mm_struct *mm;
	unsigned long table_va;		/* 2 MiB-aligned base of the cache */
	uint64_t *ptes;
	uint64_t *twin;
	bool valid;
	bool no_twin;			/* the table's twin could not be allocated */
	uint64_t scratch;		/* its stand-in slot: always 0 */
};

static int cursor_at(struct cursor *c, unsigned long va, uint64_t *want,
		     uint64_t **twin_slot)
{
	unsigned long base = va & ~((1UL << KMM_PMD_SHIFT) - 1);

	if (!c->valid || c->table_va != base) {
		struct kmm_page *tp = pte_table_page(c->mm, va);

		c->valid = true;
		c->table_va = base;
		c->ptes = tp ? (uint64_t *)tp->mapping : NULL;
		c->twin = NULL;
		c->no_twin = false;
		if (tp) {
			if (!tp->index) {
				void *t = kmm_port_meta_alloc(TABLE_BYTES);

				if (t)
					tp->index = (unsigned long)t;
				else
					c->no_twin = true;
			}
			c->twin = (uint64_t *)tp->index;
		}
	}
	if (!c->ptes) {
		*want = 0;
		*twin_slot = NULL;
		return 0;
	}
	*want = host_key(ld(&c->ptes[tbl_index(va, 1)]));
	if (c->no_twin) {
		/*
		 * A table without a twin was never given to the host (the
		 * twin comes first), so a cleared slot needs nothing: an
		 * unmap (a rollback, a munmap) needs no memory.  Only a
		 * present slot needs the twin to record it.
		 */
		if (*want)
			return -KMM_ENOMEM;
		c->scratch = 0;
		*twin_slot = &c->scratch;
		return 0;
	}
	*twin_slot = &c->twin[tbl_index(va, 1)];
	return 0;
}

static int emit_run(struct kmm_mm_struct *mm, unsigned long va, size_t n,
		    uint64_t key)
{
	int ret;

	if (kmm_fault_armed(&kmm_fail_host_map) && kmm_should_fail(&kmm_fail_host_map, 0))
		return -KMM_ENOMEM;

	if (key) {
		uint64_t pfn = (key & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT;

		if (pfn + n > kmm_machine.max_pfn)
			return -KMM_EINVAL;
		ret = kmm_port_map(va, kmm_page_nid(kmm_pfn_to_page(pfn)), pfn, n,
				   host_prot(key));
		atomic_fetch_add(&mm->nr_host_maps, 1);
	} else {
		ret = kmm_port_unmap(va, n);
		atomic_fetch_add(&mm->nr_host_unmaps, 1);
	}
	return ret;
}

/* Record a successful run in the twins. */
/*
 * Record a successful run in the twins: what was emitted (key + i pages
 * for a map, nothing for an unmap), never the PTE re-read now, which
 * another thread may have set meanwhile in a page the run only covered.
 */
static void commit_run(struct kmm_mm_struct *mm, unsigned long va, size_t n,
		       uint64_t key)
{
	struct cursor c = { .mm = mm };
	size_t i;

	for (i = 0; i < n; i++, va += KMM_PAGE_SIZE) {
		uint64_t want, *slot;

		if (cursor_at(&c, va, &want, &slot) == 0 && slot)
			*slot = key ? key + ((uint64_t)i << KMM_PAGE_SHIFT) : 0;
	}
}

/* Emit one run to the host and, if it took, record it; keep the first error. */
static void flush_run(struct kmm_mm_struct *mm, unsigned long va, size_t n,
		      uint64_t key, int *ret)
{
	int r = emit_run(mm, va, n, key);

	if (!r)
		commit_run(mm, va, n, key);
	else if (!*ret)
		*ret = r;
}

/* Can slot (@want) extend the run starting with @key0 at @va0, @n long? */
static bool extends(uint64_t key0, size_t n, uint64_t want)
{
	uint64_t pfn0, pfn;

	if (!key0)
		return !want;
	if (!want || host_prot(want) != host_prot(key0))
		return false;
	pfn0 = (key0 & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT;
	pfn = (want & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT;
	if (pfn != pfn0 + n || pfn >= kmm_machine.max_pfn)
		return false;
	return kmm_page_nid(kmm_pfn_to_page(pfn)) ==
	       kmm_page_nid(kmm_pfn_to_page(pfn0));
}

int kmm_flush_tlb_mm_range(struct kmm_mm_struct *mm, unsigned long start,
			   unsigned long end)
{
	struct cursor c = { .mm = mm };
	unsigned long va, run_va = 0;
	uint64_t run_key = 0;
	size_t run_n = 0, run_noop = 0;	/* run_noop: trailing no-op pages */
	int ret = 0;

	atomic_fetch_add(&mm->nr_flushes, 1);
	if (!mm->host_backed || !mm->pgd)
		return 0;
	start &= KMM_PAGE_MASK;
	end = KMM_ALIGN_UP(end, KMM_PAGE_SIZE);
	if (end <= start)
		return 0;
	kmm_port_lock(&mm->host_lock);
	for (va = start; va < end; va += KMM_PAGE_SIZE) {
		uint64_t want, *slot;

		if (cursor_at(&c, va, &want, &slot)) {
			ret = -KMM_ENOMEM;
			break;
		}
		if (!slot) {
			/* No PTE table: nothing was ever mapped here. */
			if (run_n) {
				flush_run(mm, run_va, run_n - run_noop, run_key, &ret);
				run_n = run_noop = 0;
			}
			va = (va | ((1UL << KMM_PMD_SHIFT) - 1)) + 1 - KMM_PAGE_SIZE;
			if (va + KMM_PAGE_SIZE == 0)
				break;
			continue;
		}
		if (!want && !*slot && run_n && !run_key) {
			/* Unmapped already (a guard page, free VA): an unmap
			 * run may cover it, so a purge unmaps in few calls. */
			run_n++;
			run_noop++;
			continue;
		}
		if (want == *slot || (run_n && !extends(run_key, run_n, want))) {
			if (run_n) {
				flush_run(mm, run_va, run_n - run_noop, run_key, &ret);
				run_n = 0;
			}
			run_noop = 0;
			if (want == *slot)
				continue;
		}
		if (!run_n) {
			run_va = va;
			run_key = want;
		}
		run_noop = 0;
		run_n++;
	}
	if (run_n)
		flush_run(mm, run_va, run_n - run_noop, run_key, &ret);
	kmm_port_unlock(&mm->host_lock);
	/* -ENOMEM is the host out of mappings, an allocation failure the
	 * caller reports (a warning); anything else is a bug. */
	if (ret == -KMM_ENOMEM)
		kmm_pr_warn("host mappings of [%#lx, %#lx) could not follow the page tables (%d)",
			    start, end, ret);
	else if (ret)
		kmm_pr_err("host mappings of [%#lx, %#lx) could not follow the page tables (%d)",
			   start, end, ret);
	return ret;
}

int kmm_flush_tlb_kernel_range(unsigned long start, unsigned long end)
{
	return kmm_flush_tlb_mm_range(&kmm_init_mm, start, end);
}

int kmm_flush_cache_vmap(unsigned long start, unsigned long end)
{
	return kmm_flush_tlb_mm_range(&kmm_init_mm, start, end);
}

uint64_t kmm_pgtable_host_lookup(struct kmm_mm_struct *mm, unsigned long addr)
{
	struct kmm_page *tp = mm->pgd ? pte_table_page(mm, addr) : NULL;

	if (!tp || !tp->index)
		return 0;
	return ((uint64_t *)tp->index)[tbl_index(addr, 1)];
}

/* ---- setup, teardown, validation ---------------------------------------- */

int kmm_mm_init(struct kmm_mm_struct *mm, const char *name, bool host_backed)
{
	struct kmm_page *page;

	kmm_memset(mm, 0, sizeof(*mm));
	mm->name = name;
	mm->host_backed = host_backed && !shadow();
	kmm_port_lock_init(&mm->page_table_lock);
	kmm_port_lock_init(&mm->host_lock);
	page = alloc_table(mm);
	if (!page) {
		kmm_port_lock_destroy(&mm->page_table_lock);
		kmm_port_lock_destroy(&mm->host_lock);
		return -KMM_ENOMEM;
	}
	mm->pgd_pfn = kmm_page_to_pfn(page);
	mm->pgd = (uint64_t *)page->mapping;
	return 0;
}

static void free_level(struct kmm_mm_struct *mm, uint64_t *t, int level)
{
	unsigned i;

	for (i = 0; i < KMM_PTRS_PER_TABLE; i++) {
		uint64_t e = ld(&t[i]);
		struct kmm_page *child;

		if (!(e & KMM__PAGE_PRESENT))
			continue;
		child = kmm_pfn_to_page((e & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT);
		if (level > 2)
			free_level(mm, (uint64_t *)child->mapping, level - 1);
		st(&t[i], 0);
		free_table(mm, child);
	}
}

void kmm_mm_free_pgtables(struct kmm_mm_struct *mm)
{
	if (!mm->pgd)
		return;
	free_level(mm, mm->pgd, 4);
	free_table(mm, kmm_pfn_to_page(mm->pgd_pfn));
	mm->pgd = NULL;
	kmm_port_lock_destroy(&mm->page_table_lock);
	kmm_port_lock_destroy(&mm->host_lock);
}

struct vstate {
	struct kmm_mm_struct *mm;
	long tables;
	bool synced;
	unsigned long start, end;
};

static int check_table_page(uint64_t e, const char *what, unsigned long va)
{
	uint64_t pfn = (e & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT;
	struct kmm_page *p;

	if (!kmm_pfn_valid(pfn)) {
		kmm_pr_err("validate: %s entry for %#lx points at pfn %#llx outside memory",
			   what, va, (unsigned long long)pfn);
		return -KMM_EINVAL;
	}
	p = kmm_pfn_to_page(pfn);
	if (!kmm_page_test(p, KMM_PG_pgtable) || kmm_page_ref_count(p) != 1 ||
	    !p->mapping) {
		kmm_pr_err("validate: %s entry for %#lx: pfn %#llx is not a live table page",
			   what, va, (unsigned long long)pfn);
		return -KMM_EINVAL;
	}
	return 0;
}

static int validate_level(struct vstate *s, uint64_t *t, int level,
			  unsigned long base, const uint64_t *twin)
{
	static const char *const names[] = { "", "pte", "pmd", "pud", "pgd" };
	unsigned i;
	int ret;

	for (i = 0; i < KMM_PTRS_PER_TABLE; i++) {
		unsigned long va = base + ((unsigned long)i << level_shift(level));
		uint64_t e = ld(&t[i]);

		if (level == 1) {
			uint64_t key = host_key(e);

			if ((e & KMM__PAGE_PRESENT) && !(e & KMM__PAGE_SPECIAL) &&
			    !kmm_pfn_valid(kmm_pte_pfn((kmm_pte_t){ e }))) {
				kmm_pr_err("validate: pte for %#lx maps pfn %#llx outside memory",
					   va, (unsigned long long)kmm_pte_pfn((kmm_pte_t){ e }));
				return -KMM_EINVAL;
			}
			if (!twin)
				continue;
			if (twin[i] && !(twin[i] & KMM__PAGE_PRESENT)) {
				kmm_pr_err("validate: host view of %#lx is corrupt (%#llx)", va,
					   (unsigned long long)twin[i]);
				return -KMM_EINVAL;
			}
			if (s->synced && va >= s->start && va < s->end && twin[i] != key) {
				kmm_pr_err("validate: %#lx: pte %#llx but the host maps %#llx after a flush",
					   va, (unsigned long long)e,
					   (unsigned long long)twin[i]);
				return -KMM_EINVAL;
			}
			continue;
		}
		if (!(e & KMM__PAGE_PRESENT)) {
			if (e) {
				kmm_pr_err("validate: non-present %s entry %#llx for %#lx",
					   names[level], (unsigned long long)e, va);
				return -KMM_EINVAL;
			}
			continue;
		}
		ret = check_table_page(e, names[level], va);
		if (ret)
			return ret;
		s->tables++;
		{
			struct kmm_page *child =
				kmm_pfn_to_page((e & KMM__PAGE_PFN_MASK) >> KMM_PAGE_SHIFT);

			ret = validate_level(s, (uint64_t *)child->mapping, level - 1, va,
					     level == 2 ? (const uint64_t *)child->index : NULL);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int kmm_pgtable_validate(struct kmm_mm_struct *mm, bool synced,
			 unsigned long start, unsigned long end)
{
	struct vstate s = { mm, 1, synced, start, end };
	int ret;

	if (!mm->pgd)
		return 0;
	if (check_table_page((mm->pgd_pfn << KMM_PAGE_SHIFT) | KMM__PAGE_PRESENT,
			     "pgd", 0))
		return -KMM_EINVAL;
	kmm_port_lock(&mm->host_lock);
	ret = validate_level(&s, mm->pgd, 4, 0, NULL);
	kmm_port_unlock(&mm->host_lock);
	if (ret)
		return ret;
	if (s.tables != atomic_load(&mm->pgtables_pages)) {
		kmm_pr_err("validate: %s: %ld table pages reachable, %ld counted",
			   mm->name ? mm->name : "mm", s.tables,
			   atomic_load(&mm->pgtables_pages));
		return -KMM_EINVAL;
	}
	return 0;
}
