/* SPDX-License-Identifier: MIT */
/*
 * test_pgtable.c - the 4-level page tables and the TLB model
 * (include/kmm/pgtable.h, src/core/pgtable.c).
 *
 * The real-mode tests work inside the kernel VA reservation
 * ([kmm_machine.vmalloc_start, vmalloc_end)) without the vmalloc layer:
 * they set PTEs by hand and prove with real loads and stores that the host
 * follows the tables exactly when told to (kmm_flush_cache_vmap() /
 * kmm_flush_tlb_kernel_range()), and not before.  An access that must
 * fault is probed under a SIGSEGV handler that siglongjmp()s back
 * (Criterion and kt_lite run every test in its own process).
 *
 * After every step: kmm_pgtable_validate(&kmm_init_mm, ...) and
 * kmm_page_alloc_validate(); page-table pages are counted through
 * mm->pgtables_pages and must all come back when an mm is torn down.
 */
#define _GNU_SOURCE

#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>

#include "kmm_test.h"

#define PG KMM_PAGE_SIZE
#define MIB (1UL << 20)
#define GIB (1UL << 30)
#define PMD_SIZE (1UL << KMM_PMD_SHIFT)

TestSuite(pgtable, .fini = kt_fini, .timeout = 60);

/* ---- fault probes (tests/kmm_test.c) ------------------------------------- */

static bool probe_read(const void *p, unsigned char *out)
{
	return kt_probe_read(p, out);
}

static bool probe_write(void *p, unsigned char v)
{
	return kt_probe_write(p, v);
}

/* ---- helpers ------------------------------------------------------------- */

static const char *first_log(void)
{
	const char *l = kt_log_find("validate");

	if (!l)
		l = kt_log_find("");
	return l ? l : "(no log line)";
}

static void assert_valid(const char *what)
{
	int r = kmm_pgtable_validate(&kmm_init_mm, false, 0, 0);

	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_pgtable_validate() = %d after %s: %s", r, what,
		     first_log());
	kt_assert_valid(what);
}

static void assert_synced(unsigned long start, unsigned long end, const char *what)
{
	int r = kmm_pgtable_validate(&kmm_init_mm, true, start, end);

	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_pgtable_validate(synced) = %d after %s: %s", r, what,
		     first_log());
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kmm_nr_free_pages();
}

static long nr_tables(void)
{
	return atomic_load(&kmm_init_mm.pgtables_pages);
}

/* A 1 GiB-aligned address inside the kernel VA reservation with at least
 * 2 GiB of reservation after it. */
static unsigned long kva_base(void)
{
	unsigned long g = KMM_ALIGN_UP(kmm_machine.vmalloc_start, GIB);

	cr_assert_leq(g + 2 * GIB, kmm_machine.vmalloc_end,
		      "the kernel VA reservation is too small for this test");
	return g;
}

/* Callbacks. */
struct walk {
	unsigned long calls;
	unsigned long first, last;	/* addresses seen */
	unsigned long stop_at;		/* return stop_ret at this call (1-based) */
	int stop_ret;
	struct kmm_mm_struct *mm;
	bool ptep_ok;			/* every ptep == kmm_lookup_pte(addr) */
	bool ordered;			/* addresses consecutive */
	kmm_pte_t **ptes;		/* collect slot pointers */
};

static int walk_fn(kmm_pte_t *pte, unsigned long addr, void *data)
{
	struct walk *w = data;

	if (w->calls == 0) {
		w->first = addr;
		w->ptep_ok = true;
		w->ordered = true;
	} else if (addr != w->last + PG) {
		w->ordered = false;
	}
	if (w->mm && kmm_lookup_pte(w->mm, addr) != pte)
		w->ptep_ok = false;
	if (w->ptes)
		w->ptes[w->calls] = pte;
	w->last = addr;
	w->calls++;
	if (w->stop_at && w->calls == w->stop_at)
		return w->stop_ret;
	return 0;
}

static int never_fn(kmm_pte_t *pte, unsigned long addr, void *data)
{
	(void)pte;
	(void)addr;
	(*(unsigned long *)data)++;
	return 0;
}

/*
 * Make slots non-empty without mapping anything: a non-present PTE with
 * only the accessed bit.  The existing-range walk, like the kernel's,
 * visits only slots that are not pte_none().
 */
static int mark_fn(kmm_pte_t *pte, unsigned long addr, void *data)
{
	(void)data;
	kmm_set_pte_at(&kmm_init_mm, addr, pte, (kmm_pte_t){ KMM__PAGE_ACCESSED });
	return 0;
}

/* Slot pointers of [addr, addr + n pages) in init_mm, creating tables. */
static void get_ptes(unsigned long addr, unsigned long n, kmm_pte_t **out)
{
	struct walk w = { .mm = &kmm_init_mm, .ptes = out };

	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, addr, n * PG, walk_fn, &w), 0);
	cr_assert_eq(w.calls, n);
}

static uint64_t host_key(kmm_pte_t pte)
{
	if (!kmm_pte_present(pte))
		return 0;
	return (pte.pte & KMM__PAGE_PFN_MASK) | KMM__PAGE_PRESENT | (pte.pte & KMM__PAGE_RW);
}

/* Fill a page with a byte pattern derived from @seed. */
static void page_stamp(struct kmm_page *p, unsigned seed)
{
	unsigned char *a = kmm_page_address(p);

	for (size_t i = 0; i < PG; i++)
		a[i] = (unsigned char)(seed * 131 + i * 7);
}

static bool bytes_match(const unsigned char *a, unsigned seed)
{
	for (size_t i = 0; i < PG; i += 97)
		if (a[i] != (unsigned char)(seed * 131 + i * 7))
			return false;
	return a[PG - 1] == (unsigned char)(seed * 131 + (PG - 1) * 7);
}

/* ---- PTE encoding --------------------------------------------------------- */

Test(pgtable, pte_encoding_round_trips)
{
	static const uint64_t pfns[] = { 0, 1, 0x1234, 0xfffff, 0x100000,
					 (1ULL << 40) - 1 };
	const kmm_pgprot_t prots[] = { KMM_PAGE_KERNEL, KMM_PAGE_KERNEL_RO,
				       KMM_PAGE_KERNEL_EXEC, KMM_PAGE_SHARED,
				       KMM_PAGE_READONLY };

	for (size_t i = 0; i < sizeof(pfns) / sizeof(pfns[0]); i++)
		for (size_t j = 0; j < sizeof(prots) / sizeof(prots[0]); j++) {
			kmm_pte_t pte = kmm_pfn_pte(pfns[i], prots[j]);

			cr_assert_eq(kmm_pte_pfn(pte), pfns[i]);
			cr_assert(kmm_pte_present(pte));
			cr_assert_not(kmm_pte_none(pte));
			cr_assert_eq(kmm_pte_pgprot(pte).pgprot, prots[j].pgprot,
				     "pfn %#llx prot %#llx: flags %#llx",
				     (unsigned long long)pfns[i],
				     (unsigned long long)prots[j].pgprot,
				     (unsigned long long)kmm_pte_pgprot(pte).pgprot);
			cr_assert_eq(kmm_pte_write(pte),
				     (prots[j].pgprot & KMM__PAGE_RW) != 0);
		}
	cr_assert(kmm_pte_write(kmm_pfn_pte(5, KMM_PAGE_KERNEL)));
	cr_assert_not(kmm_pte_write(kmm_pfn_pte(5, KMM_PAGE_KERNEL_RO)));
	/* EXEC clears NX, the others set it. */
	cr_assert_not(kmm_pfn_pte(5, KMM_PAGE_KERNEL_EXEC).pte & KMM__PAGE_NX);
	cr_assert(kmm_pfn_pte(5, KMM_PAGE_KERNEL).pte & KMM__PAGE_NX);

	/* PAGE_NONE: present to kmm (PROTNONE, as x86's pte_present()), not
	 * to the hardware (no _PAGE_PRESENT: the host maps nothing), not none. */
	kmm_pte_t pn = kmm_pfn_pte(7, KMM_PAGE_NONE);

	cr_assert(kmm_pte_present(pn));
	cr_assert_not(pn.pte & KMM__PAGE_PRESENT);
	cr_assert_not(kmm_pte_none(pn));
	cr_assert_eq(kmm_pte_pfn(pn), 7);

	kmm_pte_t zero = { 0 };

	cr_assert(kmm_pte_none(zero));
	cr_assert_not(kmm_pte_present(zero));
	cr_assert_eq(kmm_pte_pfn(zero), 0);

	/* Reading and writing a slot. */
	kmm_pte_t slot = { 0 };

	cr_assert(kmm_pte_none(kmm_ptep_get(&slot)));
	slot = kmm_pfn_pte(42, KMM_PAGE_KERNEL);
	cr_assert_eq(kmm_pte_pfn(kmm_ptep_get(&slot)), 42);
}

/* ---- kmm_apply_to_page_range ---------------------------------------------- */

Test(pgtable, apply_creates_tables)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base();
	uint64_t free0 = free_now();
	long t0 = nr_tables();
	struct walk w = { .mm = &kmm_init_mm };

	cr_assert_eq(t0, 1, "a fresh init_mm has only its PGD (%ld tables)", t0);
	cr_assert_null(kmm_lookup_pte(&kmm_init_mm, g));

	/* 4 pages inside one 2 MiB region: 1 PUD + 1 PMD + 1 PTE table. */
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g + 16 * PG, 4 * PG, walk_fn, &w), 0);
	cr_assert_eq(w.calls, 4);
	cr_assert_eq(w.first, g + 16 * PG);
	cr_assert_eq(w.last, g + 19 * PG);
	cr_assert(w.ordered);
	cr_assert(w.ptep_ok, "the slots passed are not kmm_lookup_pte()'s");
	cr_assert_eq(nr_tables(), t0 + 3);
	cr_assert_eq(free_now() + 3, free0, "table pages come from the page allocator");
	assert_valid("first apply");

	/* The whole 2 MiB region now has a table; nothing else does. */
	cr_assert_not_null(kmm_lookup_pte(&kmm_init_mm, g));
	cr_assert_not_null(kmm_lookup_pte(&kmm_init_mm, g + PMD_SIZE - PG));
	cr_assert_null(kmm_lookup_pte(&kmm_init_mm, g + PMD_SIZE));
	cr_assert(kmm_pte_none(kmm_ptep_get(kmm_lookup_pte(&kmm_init_mm, g + 16 * PG))));

	/* Again over the same range: nothing new. */
	memset(&w, 0, sizeof(w));
	w.mm = &kmm_init_mm;
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, PMD_SIZE, walk_fn, &w), 0);
	cr_assert_eq(w.calls, 512);
	cr_assert(w.ordered && w.ptep_ok);
	cr_assert_eq(nr_tables(), t0 + 3);

	/* Crossing a 2 MiB boundary in the same GiB: 2 new PTE tables. */
	unsigned long x = g + 4 * PMD_SIZE;

	memset(&w, 0, sizeof(w));
	w.mm = &kmm_init_mm;
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, x - 2 * PG, 4 * PG, walk_fn, &w), 0);
	cr_assert_eq(w.calls, 4);
	cr_assert(w.ordered && w.ptep_ok);
	cr_assert_eq(nr_tables(), t0 + 5);
	cr_assert_neq(kmm_virt_to_page(kmm_lookup_pte(&kmm_init_mm, x - PG)),
		      kmm_virt_to_page(kmm_lookup_pte(&kmm_init_mm, x)), "two different tables");
	assert_valid("crossing 2 MiB");

	/* Crossing a 1 GiB boundary: a PMD and a PTE table on the far side, a
	 * PTE table on the near one (PUD shared unless the GiB starts a new
	 * 512 GiB slot). */
	unsigned long y = g + GIB;
	long before = nr_tables();
	long want = 3 + (((y >> KMM_PGDIR_SHIFT) != (g >> KMM_PGDIR_SHIFT)) ? 1 : 0);

	memset(&w, 0, sizeof(w));
	w.mm = &kmm_init_mm;
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, y - PG, 2 * PG, walk_fn, &w), 0);
	cr_assert_eq(w.calls, 2);
	cr_assert_eq(nr_tables(), before + want);
	assert_valid("crossing 1 GiB");
	cr_assert_eq(free_now() + (uint64_t)(nr_tables() - t0), free0);

	/* Tables stay until the mm goes: shutdown frees them (checked by the
	 * second-mm test and by LSan here). */
}

Test(pgtable, apply_existing_skips_absent_tables)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base();
	struct walk w = { .mm = &kmm_init_mm };
	unsigned long n = 0;
	long t0;

	/* Nothing at all yet: no call, no table. */
	t0 = nr_tables();
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g, 8 * PMD_SIZE,
						      never_fn, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(nr_tables(), t0);

	/* One table, for the second 2 MiB region, every slot marked. */
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g + PMD_SIZE + 5 * PG, PG,
					     never_fn, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g + PMD_SIZE, PMD_SIZE,
					     mark_fn, NULL), 0);
	t0 = nr_tables();

	/* An existing walk over 4 regions visits only that table's 512 slots. */
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g, 4 * PMD_SIZE,
						      walk_fn, &w), 0);
	cr_assert_eq(w.calls, 512);
	cr_assert_eq(w.first, g + PMD_SIZE);
	cr_assert_eq(w.last, g + 2 * PMD_SIZE - PG);
	cr_assert(w.ordered && w.ptep_ok);
	cr_assert_eq(nr_tables(), t0, "an existing walk allocated tables");

	/* Partial overlap at both ends. */
	memset(&w, 0, sizeof(w));
	w.mm = &kmm_init_mm;
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g + PMD_SIZE - 3 * PG,
						      6 * PG, walk_fn, &w), 0);
	cr_assert_eq(w.calls, 3);
	cr_assert_eq(w.first, g + PMD_SIZE);
	/* Another GiB: no PMD there, skipped whole. */
	n = 0;
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g + GIB, GIB, never_fn, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(nr_tables(), t0);
	assert_valid("existing walks");
}

Test(pgtable, apply_bad_ranges)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base();
	static const struct {
		unsigned long off;	/* from g, or absolute when abs */
		unsigned long size;
		bool abs;
		const char *what;
	} bad[] = {
		{ 0, 0, false, "size 0" },
		{ 1, PG, false, "unaligned address" },
		{ PG / 2, PG, false, "half-page address" },
		{ 0, PG + 1, false, "unaligned size" },
		{ 0, 100, false, "sub-page size" },
		{ 0UL - 2 * PG, 4 * PG, true, "wrapping range" },
		{ 0UL - PG, PG, true, "range ending at 2^64" },
		{ PG, ~0UL & ~(PG - 1), false, "huge wrapping size" },
	};
	uint64_t free0 = free_now();
	long t0 = nr_tables();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long a = bad[i].abs ? bad[i].off : g + bad[i].off;
		unsigned long n = 0;

		cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, a, bad[i].size, never_fn, &n),
			     -KMM_EINVAL, "%s", bad[i].what);
		cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, a, bad[i].size,
							      never_fn, &n),
			     -KMM_EINVAL, "%s (existing)", bad[i].what);
		cr_assert_eq(n, 0, "%s: fn was called", bad[i].what);
		cr_assert_eq(nr_tables(), t0, "%s: tables allocated", bad[i].what);
		cr_assert_eq(free_now(), free0, "%s: pages changed", bad[i].what);
		assert_valid(bad[i].what);
	}
	/* The last page below 2^64 minus one more is fine (no wrap). */
	{
		unsigned long n = 0;

		cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, 0UL - 2 * PG, PG,
							      never_fn, &n), 0);
		cr_assert_eq(n, 0);
	}
}

Test(pgtable, apply_fn_error_stops_the_walk)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base();
	struct walk w = { .mm = &kmm_init_mm, .stop_at = 7, .stop_ret = -KMM_EBUSY };

	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 64 * PG, walk_fn, &w),
		     -KMM_EBUSY);
	cr_assert_eq(w.calls, 7);
	cr_assert_eq(w.last, g + 6 * PG);

	/* Across a table boundary, a positive value, on the existing walk. */
	memset(&w, 0, sizeof(w));
	w.mm = &kmm_init_mm;
	w.stop_at = 600;
	w.stop_ret = 12345;
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 4 * PMD_SIZE, walk_fn, &w), 12345);
	cr_assert_eq(w.calls, 600);
	cr_assert_eq(w.last, g + 599 * PG);
	/* The walk stopped in the second table: the third was never made. */
	cr_assert_null(kmm_lookup_pte(&kmm_init_mm, g + 2 * PMD_SIZE));

	/* Empty slots are skipped by the existing walk; marked ones visited. */
	memset(&w, 0, sizeof(w));
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g + PMD_SIZE, PMD_SIZE,
						      walk_fn, &w), 0);
	cr_assert_eq(w.calls, 0);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g + PMD_SIZE, 10 * PG,
					     mark_fn, NULL), 0);
	memset(&w, 0, sizeof(w));
	w.stop_at = 3;
	w.stop_ret = -KMM_EFAULT;
	cr_assert_eq(kmm_apply_to_existing_page_range(&kmm_init_mm, g + PMD_SIZE, PMD_SIZE,
						      walk_fn, &w), -KMM_EFAULT);
	cr_assert_eq(w.calls, 3);
	assert_valid("stopped walks");
}

Test(pgtable, apply_table_allocation_failure)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base();
	uint64_t free0 = free_now();
	long t0 = nr_tables();
	unsigned long n = 0;

	/* The first table (the PUD) cannot be had. */
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 4 * PG, never_fn, &n),
		     -KMM_ENOMEM);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(nr_tables(), t0);
	cr_assert_eq(free_now(), free0);
	assert_valid("PUD allocation failed");

	/* The PUD is made, the PMD fails: the PUD stays (documented). */
	kmm_fault_set_nth(&kmm_fail_page_alloc, 2);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 4 * PG, never_fn, &n),
		     -KMM_ENOMEM);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(nr_tables(), t0 + 1);
	cr_assert_eq(free_now() + 1, free0);
	assert_valid("PMD allocation failed");

	/* The PTE table fails. */
	kmm_fault_set_nth(&kmm_fail_page_alloc, 2);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 4 * PG, never_fn, &n),
		     -KMM_ENOMEM);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(nr_tables(), t0 + 2);
	assert_valid("PTE table allocation failed");

	/* Mid-walk: the first 2 MiB is walked, the second table fails. */
	kmm_fault_set_nth(&kmm_fail_page_alloc, 2);
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 2 * PMD_SIZE, never_fn, &n),
		     -KMM_ENOMEM);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(n, 512, "the walk stops at the failed table");
	cr_assert_eq(nr_tables(), t0 + 3);
	assert_valid("second PTE table failed");

	/* Without injection it completes. */
	n = 0;
	cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, g, 2 * PMD_SIZE, never_fn, &n), 0);
	cr_assert_eq(n, 1024);
	cr_assert_eq(nr_tables(), t0 + 4);
	cr_assert_eq(free_now() + 4, free0);
	assert_valid("retry");
}

/* ---- real mode: the host follows the tables ------------------------------- */

Test(pgtable, real_mode_mappings_follow_flushes)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base() + 8 * PMD_SIZE;
	struct kmm_page *pg[4], *other;
	kmm_pte_t *ptes[4];
	unsigned char *va = (unsigned char *)g;
	unsigned long maps0, unmaps0;

	cr_assert(kmm_init_mm.host_backed);
	for (int i = 0; i < 4; i++) {
		pg[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pg[i]);
		page_stamp(pg[i], (unsigned)i + 1);
	}
	other = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(other);
	page_stamp(other, 99);

	get_ptes(g, 4, ptes);
	for (int i = 0; i < 4; i++) {
		cr_assert(kmm_pte_none(kmm_ptep_get(ptes[i])));
		cr_assert(!probe_read(va + i * PG, NULL), "unmapped VA readable");
	}
	for (int i = 0; i < 4; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(pg[i]), KMM_PAGE_KERNEL));
	/* Set but not flushed: the host does not map yet. */
	for (int i = 0; i < 4; i++) {
		cr_assert(!probe_read(va + i * PG, NULL), "page %d visible before the flush", i);
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + i * PG), 0);
	}
	assert_valid("PTEs set");

	maps0 = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_cache_vmap(g, g + 4 * PG), 0);
	cr_assert_gt(atomic_load(&kmm_init_mm.nr_host_maps), maps0);
	assert_synced(g, g + 4 * PG, "flush_cache_vmap");
	for (int i = 0; i < 4; i++) {
		cr_assert(probe_read(va + i * PG, NULL), "page %d not visible after the flush", i);
		cr_assert(bytes_match(va + i * PG, (unsigned)i + 1), "page %d: wrong bytes", i);
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + i * PG),
			     host_key(kmm_ptep_get(ptes[i])));
	}
	/* Writes through the VA land in the page, and the other way round. */
	va[PG + 10] = 0x5a;
	cr_assert_eq(((unsigned char *)kmm_page_address(pg[1]))[10], 0x5a);
	((unsigned char *)kmm_page_address(pg[2]))[PG - 1] = 0xc3;
	cr_assert_eq(va[3 * PG - 1], 0xc3);
	page_stamp(pg[1], 2);
	page_stamp(pg[2], 3);

	/* A flush with nothing changed makes no host call. */
	maps0 = atomic_load(&kmm_init_mm.nr_host_maps);
	unmaps0 = atomic_load(&kmm_init_mm.nr_host_unmaps);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 4 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps), maps0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps), unmaps0);

	/* Clear page 0: the stale translation lingers until the TLB flush. */
	kmm_pte_clear(&kmm_init_mm, g, ptes[0]);
	cr_assert(kmm_pte_none(kmm_ptep_get(ptes[0])));
	cr_assert(probe_read(va, NULL), "cleared PTE unmapped before any flush");
	cr_assert(bytes_match(va, 1));
	cr_assert_neq(kmm_pgtable_host_lookup(&kmm_init_mm, g), 0);
	assert_valid("PTE cleared, not flushed");
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps), unmaps0 + 1);
	cr_assert(!probe_read(va, NULL), "cleared PTE still mapped after the flush");
	cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g), 0);
	cr_assert(probe_read(va + PG, NULL), "the neighbour went too");
	assert_synced(g, g + 4 * PG, "TLB flush");

	/* Read-only: reads work, writes fault. */
	kmm_set_pte_at(&kmm_init_mm, g, ptes[0],
		       kmm_pfn_pte(kmm_page_to_pfn(pg[0]), KMM_PAGE_KERNEL_RO));
	cr_assert_eq(kmm_flush_cache_vmap(g, g + PG), 0);
	cr_assert(probe_read(va, NULL));
	cr_assert(bytes_match(va, 1));
	cr_assert(!probe_write(va, 0x11), "write to a read-only PTE succeeded");
	cr_assert(bytes_match(kmm_page_address(pg[0]), 1));
	cr_assert(probe_write(va + PG, 0x22), "writable neighbour refused a write");
	page_stamp(pg[1], 2);
	cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g),
		     (kmm_page_to_pfn(pg[0]) << KMM_PAGE_SHIFT) | KMM__PAGE_PRESENT);
	/* Back to writable: a protection change alone is followed. */
	kmm_set_pte_at(&kmm_init_mm, g, ptes[0],
		       kmm_pfn_pte(kmm_page_to_pfn(pg[0]), KMM_PAGE_KERNEL));
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + PG), 0);
	cr_assert(probe_write(va, 0x01), "write refused after RO -> RW");
	page_stamp(pg[0], 1);

	/* Point page 3's PTE at another page: stale until the flush. */
	kmm_set_pte_at(&kmm_init_mm, g + 3 * PG, ptes[3],
		       kmm_pfn_pte(kmm_page_to_pfn(other), KMM_PAGE_KERNEL));
	cr_assert(bytes_match(va + 3 * PG, 4), "remapped before the flush");
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 4 * PG), 0);
	cr_assert(bytes_match(va + 3 * PG, 99), "the VA does not show the new page");
	va[3 * PG + 5] = 0x77;
	cr_assert_eq(((unsigned char *)kmm_page_address(other))[5], 0x77);
	cr_assert(bytes_match(kmm_page_address(pg[3]), 4), "the old page was written");
	assert_synced(g, g + 4 * PG, "remap");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + i * PG),
			     host_key(kmm_ptep_get(ptes[i])));

	/* Tear down: clear, flush, everything faults, pages intact. */
	for (int i = 0; i < 4; i++)
		kmm_pte_clear(&kmm_init_mm, g + i * PG, ptes[i]);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 4 * PG), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert(!probe_read(va + i * PG, NULL));
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + i * PG), 0);
	}
	assert_synced(g, g + 4 * PG, "teardown");
	for (int i = 1; i < 3; i++)
		cr_assert(bytes_match(kmm_page_address(pg[i]), (unsigned)i + 1));
	for (int i = 0; i < 4; i++)
		kmm___free_pages(pg[i], 0);
	kmm___free_pages(other, 0);
	assert_valid("end");
}

Test(pgtable, host_map_calls_per_contiguous_run)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base() + 16 * PMD_SIZE;
	struct kmm_page *blk8 = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	struct kmm_page *blk16 = kmm_alloc_pages(KMM_GFP_KERNEL, 4);
	kmm_pte_t *ptes[8];
	unsigned long maps, unmaps;

	cr_assert_not_null(blk8);
	cr_assert_not_null(blk16);
	for (int i = 0; i < 8; i++)
		page_stamp(blk8 + i, 10u + (unsigned)i);
	for (int i = 0; i < 16; i++)
		page_stamp(blk16 + i, 30u + (unsigned)i);
	get_ptes(g, 8, ptes);

	/* 8 PFN-contiguous pages: one host map. */
	for (int i = 0; i < 8; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(blk8) + (unsigned)i, KMM_PAGE_KERNEL));
	maps = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_cache_vmap(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps) - maps, 1);
	for (int i = 0; i < 8; i++)
		cr_assert(bytes_match((unsigned char *)g + i * PG, 10u + (unsigned)i));
	assert_synced(g, g + 8 * PG, "contiguous map");

	/* Cleared as a run: one host unmap. */
	for (int i = 0; i < 8; i++)
		kmm_pte_clear(&kmm_init_mm, g + i * PG, ptes[i]);
	unmaps = atomic_load(&kmm_init_mm.nr_host_unmaps);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps) - unmaps, 1);

	/* 8 scattered PFNs (every other page of a block): 8 host maps. */
	for (int i = 0; i < 8; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(blk16) + 2u * (unsigned)i,
					   KMM_PAGE_KERNEL));
	maps = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_cache_vmap(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps) - maps, 8);
	for (int i = 0; i < 8; i++) {
		cr_assert(bytes_match((unsigned char *)g + i * PG, 30u + 2u * (unsigned)i),
			  "slot %d", i);
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + i * PG),
			     host_key(kmm_ptep_get(ptes[i])));
	}
	assert_synced(g, g + 8 * PG, "scattered map");

	/* Descending PFNs are not a run either. */
	for (int i = 0; i < 8; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(blk8) + 7u - (unsigned)i,
					   KMM_PAGE_KERNEL));
	maps = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps) - maps, 8);
	cr_assert(bytes_match((unsigned char *)g, 17));

	/* Contiguous PFNs, protection changing in the middle: two runs. */
	for (int i = 0; i < 8; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(blk8) + (unsigned)i,
					   i < 4 ? KMM_PAGE_KERNEL : KMM_PAGE_KERNEL_RO));
	maps = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps) - maps, 2);
	cr_assert(probe_write((unsigned char *)g + 3 * PG, 13));
	cr_assert(!probe_write((unsigned char *)g + 4 * PG, 14));
	page_stamp(blk8 + 3, 13);

	/* Only the changed slot is remapped. */
	kmm_set_pte_at(&kmm_init_mm, g + 5 * PG, ptes[5],
		       kmm_pfn_pte(kmm_page_to_pfn(blk16), KMM_PAGE_KERNEL));
	maps = atomic_load(&kmm_init_mm.nr_host_maps);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 8 * PG), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps) - maps, 1);
	cr_assert(bytes_match((unsigned char *)g + 5 * PG, 30));
	assert_synced(g, g + 8 * PG, "single change");

	for (int i = 0; i < 8; i++)
		kmm_pte_clear(&kmm_init_mm, g + i * PG, ptes[i]);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 8 * PG), 0);
	for (int i = 0; i < 8; i++)
		cr_assert(!probe_read((unsigned char *)g + i * PG, NULL));
	kmm___free_pages(blk8, 3);
	kmm___free_pages(blk16, 4);
	assert_valid("end");
}

Test(pgtable, validate_detects_corruption)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long g = kva_base() + 24 * PMD_SIZE;
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	kmm_pte_t *ptes[2];
	struct kmm_page *tp;
	uint64_t *twin, saved;
	long cnt;

	cr_assert_not_null(p);
	page_stamp(p, 7);
	page_stamp(p + 1, 8);
	get_ptes(g, 2, ptes);
	for (int i = 0; i < 2; i++)
		kmm_set_pte_at(&kmm_init_mm, g + i * PG, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(p) + (unsigned)i, KMM_PAGE_KERNEL));
	cr_assert_eq(kmm_flush_cache_vmap(g, g + 2 * PG), 0);
	assert_synced(g, g + 2 * PG, "flush");

	/* The twin of the PTE table: page->index of the table page, which in
	 * real mode is the page behind the slots' direct-map address. */
	tp = kmm_virt_to_page(ptes[0]);
	cr_assert_not_null(tp, "PTE slots are not in the direct map");
	cr_assert(kmm_page_test(tp, KMM_PG_pgtable));
	twin = (uint64_t *)tp->index;
	cr_assert_not_null(twin, "no host view after a flush");
	cr_assert_eq(twin[(g >> KMM_PAGE_SHIFT) & 511], host_key(kmm_ptep_get(ptes[0])));

	/* A twin entry that claims another PFN: synced validation fails, the
	 * unsynced one (a twin may lag) passes. */
	saved = twin[(g >> KMM_PAGE_SHIFT) & 511];
	twin[(g >> KMM_PAGE_SHIFT) & 511] = saved + PG;
	kt_log_clear();
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, true, g, g + 2 * PG), -KMM_EINVAL);
	cr_assert_not_null(kt_log_find("validate"), "no log line for the corruption");
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), 0);
	/* ... and outside the synced window it is not looked at. */
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, true, g + PG, g + 2 * PG), 0);

	/* A twin entry that is not a present PTE: always corrupt. */
	twin[(g >> KMM_PAGE_SHIFT) & 511] = 0x1000;
	kt_log_clear();
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
	cr_assert_not_null(kt_log_find("validate"));
	twin[(g >> KMM_PAGE_SHIFT) & 511] = saved;
	assert_synced(g, g + 2 * PG, "twin restored");
	assert_valid("twin restored");

	/* A PTE changed without a flush is exactly a stale twin. */
	kmm_set_pte_at(&kmm_init_mm, g + PG, ptes[1],
		       kmm_pfn_pte(kmm_page_to_pfn(p), KMM_PAGE_KERNEL));
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, true, g, g + 2 * PG), -KMM_EINVAL);
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), 0);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 2 * PG), 0);
	assert_synced(g, g + 2 * PG, "re-synced");

	/* The table-page counter. */
	cnt = atomic_fetch_add(&kmm_init_mm.pgtables_pages, 1);
	kt_log_clear();
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
	cr_assert_not_null(kt_log_find("table pages"));
	atomic_store(&kmm_init_mm.pgtables_pages, cnt - 1);
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
	atomic_store(&kmm_init_mm.pgtables_pages, cnt);
	assert_valid("counter restored");

	/* A PTE pointing outside memory is reported, and never given to the
	 * host: the flush refuses it and the twin stays as it was. */
	{
		kmm_pte_t old = kmm_ptep_get(ptes[1]);
		unsigned long maps = atomic_load(&kmm_init_mm.nr_host_maps);

		kmm_set_pte_at(&kmm_init_mm, g + PG, ptes[1],
			       kmm_pfn_pte(kmm_machine.max_pfn + 5, KMM_PAGE_KERNEL));
		kt_log_clear();
		cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
		cr_assert_not_null(kt_log_find("outside memory"));
		cr_assert_neq(kmm_flush_tlb_kernel_range(g, g + 2 * PG), 0);
		cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps), maps);
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, g + PG), host_key(old));
		cr_assert(bytes_match((unsigned char *)g + PG, 7),
			  "the old mapping did not survive the refused flush");
		kmm_set_pte_at(&kmm_init_mm, g + PG, ptes[1], old);
		assert_valid("bad PFN removed");
		assert_synced(g, g + 2 * PG, "bad PFN removed");
	}

	/* A bogus upper-level entry (not present, not zero) in an unused
	 * PGD slot. */
	{
		unsigned idx = 0;

		while (idx < 512 && kmm_init_mm.pgd[idx])
			idx++;
		cr_assert_lt(idx, 512);
		kmm_init_mm.pgd[idx] = 0x2000;
		kt_log_clear();
		cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
		cr_assert_not_null(kt_log_find("non-present"));
		/* Present, but pointing at a page that is no table. */
		kmm_init_mm.pgd[idx] = (kmm_page_to_pfn(p) << KMM_PAGE_SHIFT) | KMM__PAGE_PRESENT;
		cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0), -KMM_EINVAL);
		kmm_init_mm.pgd[idx] = 0;
		assert_valid("PGD entry restored");
	}

	for (int i = 0; i < 2; i++)
		kmm_pte_clear(&kmm_init_mm, g + i * PG, ptes[i]);
	cr_assert_eq(kmm_flush_tlb_kernel_range(g, g + 2 * PG), 0);
	kmm___free_pages(p, 1);
	assert_valid("end");
}

/* ---- shadow mode ------------------------------------------------------------ */

Test(pgtable, shadow_mode_tables_without_host)
{
	kt_boot("mem=64M nr_cpus=2 kmm.mode=shadow");
	unsigned long v = kmm_machine.vmalloc_start;
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	kmm_pte_t *ptes[8];
	uint64_t free0;
	long t0 = nr_tables();

	cr_assert_eq(v, 0xffffc90000000000UL);
	cr_assert_not(kmm_init_mm.host_backed);
	cr_assert_not_null(p);
	free0 = free_now();
	get_ptes(v + 2 * PMD_SIZE - 4 * PG, 8, ptes);
	cr_assert_eq(nr_tables(), t0 + 4, "1 PUD + 1 PMD + 2 PTE tables");
	cr_assert_eq(free_now() + 4, free0, "table pages are counted as pages");
	for (int i = 0; i < 8; i++) {
		unsigned long a = v + 2 * PMD_SIZE - 4 * PG + (unsigned long)i * PG;

		cr_assert_eq(kmm_lookup_pte(&kmm_init_mm, a), ptes[i]);
		/* Shadow tables are metadata, never in the (fake) direct map. */
		cr_assert_null(kmm_virt_to_page(ptes[i]));
		kmm_set_pte_at(&kmm_init_mm, a, ptes[i],
			       kmm_pfn_pte(kmm_page_to_pfn(p) + (unsigned)(i % 4),
					   KMM_PAGE_KERNEL));
	}
	cr_assert_eq(kmm_flush_cache_vmap(v, v + 4 * PMD_SIZE), 0);
	cr_assert_eq(kmm_flush_tlb_kernel_range(v, v + 4 * PMD_SIZE), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps), 0);
	for (int i = 0; i < 8; i++) {
		unsigned long a = v + 2 * PMD_SIZE - 4 * PG + (unsigned long)i * PG;
		kmm_pte_t pte = kmm_ptep_get(kmm_lookup_pte(&kmm_init_mm, a));

		cr_assert(kmm_pte_present(pte));
		cr_assert_eq(kmm_pte_pfn(pte), kmm_page_to_pfn(p) + (unsigned)(i % 4));
		cr_assert_eq(kmm_pgtable_host_lookup(&kmm_init_mm, a), 0);
	}
	assert_valid("shadow PTEs set");
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, true, v, v + 4 * PMD_SIZE), 0);

	/* Upper half addresses with other PGD slots work too. */
	{
		unsigned long n = 0;
		unsigned long hi = 0xffffffffff000000UL;

		cr_assert_eq(kmm_apply_to_page_range(&kmm_init_mm, hi, 4 * PG, never_fn, &n), 0);
		cr_assert_eq(n, 4);
		cr_assert_not_null(kmm_lookup_pte(&kmm_init_mm, hi + 3 * PG));
		cr_assert_null(kmm_lookup_pte(&kmm_init_mm, hi - PMD_SIZE));
		assert_valid("top of the address space");
	}

	for (int i = 0; i < 8; i++)
		kmm_pte_clear(&kmm_init_mm, v + 2 * PMD_SIZE - 4 * PG + (unsigned long)i * PG, ptes[i]);
	cr_assert_eq(kmm_flush_tlb_kernel_range(v, v + 4 * PMD_SIZE), 0);
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps), 0);
	kmm___free_pages(p, 2);
	assert_valid("end");
}

/* ---- other address spaces --------------------------------------------------- */

Test(pgtable, second_mm_frees_every_table)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_mm_struct mm;
	static const unsigned long addrs[] = {
		0x400000UL, 0x401000UL, 0x600000UL - 0x1000UL, 0x7fffffffe000UL,
		0x40000000UL - 0x1000UL, 0x8000000000UL, 0x123456789000UL,
	};
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	uint64_t free0;
	long k0 = nr_tables();

	cr_assert_not_null(p);
	free0 = free_now();
	cr_assert_eq(kmm_mm_init(&mm, "test-mm", false), 0);
	cr_assert_not(mm.host_backed);
	cr_assert_eq(atomic_load(&mm.pgtables_pages), 1);
	cr_assert_eq(free_now() + 1, free0);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct walk w = { .mm = &mm };
		kmm_pte_t *pte;

		cr_assert_eq(kmm_apply_to_page_range(&mm, addrs[i], 2 * PG, walk_fn, &w), 0);
		cr_assert_eq(w.calls, 2);
		cr_assert(w.ptep_ok);
		pte = kmm_lookup_pte(&mm, addrs[i]);
		cr_assert_not_null(pte);
		kmm_set_pte_at(&mm, addrs[i], pte,
			       kmm_pfn_pte(kmm_page_to_pfn(p), KMM_PAGE_SHARED));
		/* init_mm is a different tree. */
		cr_assert_null(kmm_lookup_pte(&kmm_init_mm, addrs[i]));
	}
	cr_assert_eq(nr_tables(), k0, "the second mm's tables were counted in init_mm");
	cr_assert_gt(atomic_load(&mm.pgtables_pages), 8);
	cr_assert_eq(kmm_pgtable_validate(&mm, false, 0, 0), 0);
	cr_assert_eq(free_now() + (uint64_t)atomic_load(&mm.pgtables_pages), free0);
	/* User page tables: upper entries carry _PAGE_USER, init_mm's not. */
	cr_assert(mm.pgd[(0x400000UL >> KMM_PGDIR_SHIFT) & 511] & KMM__PAGE_USER);
	/* Flushing a non-host-backed mm makes no host call. */
	cr_assert_eq(kmm_flush_tlb_mm_range(&mm, 0x400000UL, 0x402000UL), 0);
	cr_assert_eq(atomic_load(&mm.nr_host_maps), 0);

	kmm_mm_free_pgtables(&mm);
	cr_assert_eq(atomic_load(&mm.pgtables_pages), 0);
	cr_assert_null(mm.pgd);
	cr_assert_eq(free_now(), free0, "page-table pages leaked");
	kmm___free_pages(p, 0);
	assert_valid("end");
}

Test(pgtable, mm_init_failure_and_reuse)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_mm_struct mm;
	uint64_t free0 = free_now();

	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	cr_assert_eq(kmm_mm_init(&mm, "doomed", false), -KMM_ENOMEM);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_null(mm.pgd);
	cr_assert_eq(free_now(), free0);
	kmm_mm_free_pgtables(&mm);	/* nothing to free: harmless */
	cr_assert_eq(free_now(), free0);

	/* Several rounds of init / populate / free return every page. */
	for (int round = 0; round < 3; round++) {
		unsigned long n = 0;

		cr_assert_eq(kmm_mm_init(&mm, "round", false), 0);
		cr_assert_eq(kmm_apply_to_page_range(&mm, 0x10000000UL * (unsigned)(round + 1),
						     4 * PMD_SIZE, never_fn, &n), 0);
		cr_assert_eq(n, 4 * 512);
		/* A table allocation failing half way leaves a valid mm. */
		kmm_fault_set_nth(&kmm_fail_page_alloc, 2);
		cr_assert_eq(kmm_apply_to_page_range(&mm, 0x7f0000000000UL, PG, never_fn, &n),
			     -KMM_ENOMEM);
		kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
		cr_assert_eq(kmm_pgtable_validate(&mm, false, 0, 0), 0);
		kmm_mm_free_pgtables(&mm);
		cr_assert_eq(free_now(), free0, "round %d leaked", round);
	}
	assert_valid("end");
}

Test(pgtable, host_backed_mm_never_maps_outside_reservations)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_mm_struct mm;
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	/* A host page of ours that kmm does not own: it must stay untouched. */
	static unsigned char mine[2 * 4096] __attribute__((aligned(4096)));
	unsigned long a = (unsigned long)mine;
	kmm_pte_t *pte;

	cr_assert_not_null(p);
	page_stamp(p, 5);
	memset(mine, 0xab, sizeof(mine));
	cr_assert_eq(kmm_mm_init(&mm, "user", true), 0);
	cr_assert(mm.host_backed);
	{
		unsigned long n = 0;

		cr_assert_eq(kmm_apply_to_page_range(&mm, a, PG, never_fn, &n), 0);
	}
	pte = kmm_lookup_pte(&mm, a);
	cr_assert_not_null(pte);
	kmm_set_pte_at(&mm, a, pte, kmm_pfn_pte(kmm_page_to_pfn(p), KMM_PAGE_SHARED));
	kt_log_clear();
	cr_assert_neq(kmm_flush_tlb_mm_range(&mm, a, a + PG), 0,
		      "a host mapping over memory kmm does not own was accepted");
	cr_assert_not_null(kt_log_find("reservation"), "no message for the refusal");
	cr_assert_eq(mine[0], 0xab, "the host page was replaced");
	cr_assert_eq(mine[PG - 1], 0xab);
	cr_assert_eq(kmm_pgtable_host_lookup(&mm, a), 0, "the twin records a failed map");
	cr_assert_eq(kmm_pgtable_validate(&mm, false, 0, 0), 0);
	kmm_pte_clear(&mm, a, pte);
	kmm_mm_free_pgtables(&mm);
	kmm___free_pages(p, 0);
	assert_valid("end");
}
