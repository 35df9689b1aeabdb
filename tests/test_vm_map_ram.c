/* SPDX-License-Identifier: MIT */
/*
 * test_vm_map_ram.c - vm_map_ram()/vm_unmap_ram() and the per-CPU vmap
 * blocks behind them (include/kmm/vmalloc.h, src/core/vmap_block.c):
 * mappings proven with real loads and stores through the direct map, the
 * bump allocation inside a block, per-CPU blocks, freeing a block whose
 * every page was unmapped (lazily, through the vmap node pools, and past
 * lazy_max_pages), lazy unmapping and vm_unmap_aliases(), strict mode, the
 * purge of fragmented blocks (by vm_unmap_aliases() under
 * VMAP_PURGE_THRESHOLD, and by the VA allocator when the space runs out),
 * refused calls, failures inside vm_map_ram() (a NULL page, injected
 * page-table and metadata allocation failures), /proc/vmallocinfo, a
 * shadow-mode random walk and threads (this program is in meson suite
 * 'threads': `make tsan` runs all of it on tests/kt_lite.c, so only the
 * macros kt_lite.h provides are used).
 *
 * kmm_vmalloc_validate() (which includes the blocks' own check) runs after
 * each step.  Freed ranges are probed under a SIGSEGV handler
 * (kt_probe_read/kt_probe_write, tests/kmm_test.c).
 *
 * Seed of the randomized tests: KMM_TEST_SEED=<n>, else the clock; printed.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/fault.h>
#include <kmm/objcache.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

/*
 * The compat header, for one call through the 4.8 form
 * vm_map_ram(pages, count, node, prot).  It makes vm_map_ram, vmalloc,
 * vmap, page, zone, PAGE_SIZE, ... macros: no suite, test or identifier
 * below may be one of those names (Criterion expands its Test() arguments
 * before pasting them, so a suite called vm_map_ram would become
 * "kmm_vm_map_ram_prot").
 */
#include <linux/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define BITS ((unsigned long)KMM_VMAP_BBMAP_BITS)
#define BSZ KMM_VMAP_BLOCK_SIZE

TestSuite(vmram, .fini = kt_fini, .timeout = 60);

/* ---- helpers -------------------------------------------------------------- */

static void check_valid(const char *what)
{
	kt_assert_validator(kmm_vmalloc_validate(), "kmm_vmalloc_validate()", what);
	kt_assert_validator(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0),
			"kmm_pgtable_validate()", what);
}

static bool is_shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

/*
 * @n order-0 pages that are not PFN-consecutive in array order (every
 * other page of a run, backwards), so a mapping that used pages[0] + i
 * instead of pages[i] shows.  The pages stay allocated until shutdown.
 */
static struct kmm_page **pages_get(unsigned n)
{
	struct kmm_page **v = calloc(n, sizeof(*v));

	cr_assert_not_null(v);
	for (unsigned i = 0; i < n; i++) {
		struct kmm_page *a = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		struct kmm_page *b = kmm_alloc_pages(KMM_GFP_KERNEL, 0);

		cr_assert(a && b, "page allocation failed");
		v[n - 1 - i] = a;
		(void)b;	/* a hole between consecutive entries */
	}
	return v;
}

static uint64_t word_of(uint64_t tag, unsigned i, unsigned k)
{
	return (tag * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)i << 40) ^ ((uint64_t)k << 56) ^
	       0x5a5a5a5a5a5a5a5aULL;
}

/* Three words per page: first, middle, last. */
#define SLOTS 3
static size_t slot_off(unsigned k)
{
	return k == 0 ? 0 : k == 1 ? PG / 2 : PG - 8;
}

static void stamp_at(unsigned char *base, unsigned n, uint64_t tag)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < SLOTS; k++)
			*(volatile uint64_t *)(base + (size_t)i * PG + slot_off(k)) =
				word_of(tag, i, k);
}

static bool stamp_ok_at(const unsigned char *base, unsigned n, uint64_t tag)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < SLOTS; k++)
			if (*(const volatile uint64_t *)(base + (size_t)i * PG + slot_off(k)) !=
			    word_of(tag, i, k))
				return false;
	return true;
}

static void stamp_direct(struct kmm_page **pages, unsigned n, uint64_t tag)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < SLOTS; k++)
			*(volatile uint64_t *)((char *)kmm_page_address(pages[i]) + slot_off(k)) =
				word_of(tag, i, k);
}

static bool stamp_ok_direct(struct kmm_page **pages, unsigned n, uint64_t tag)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < SLOTS; k++)
			if (*(const volatile uint64_t *)((char *)kmm_page_address(pages[i]) +
							  slot_off(k)) != word_of(tag, i, k))
				return false;
	return true;
}

/*
 * @mem maps @pages[0..n): vmalloc_to_page() per page, and (real mode)
 * bytes written through @mem read back through the direct map and the
 * other way round.
 */
static void assert_maps(void *mem, struct kmm_page **pages, unsigned n, uint64_t tag)
{
	unsigned char *p = mem;

	cr_assert_not_null(mem);
	cr_assert_eq((unsigned long)mem & (PG - 1), 0, "%p not page aligned", mem);
	cr_assert(kmm_is_vmalloc_addr(mem));
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(kmm_vmalloc_to_page(p + (size_t)i * PG), pages[i],
			     "page %u of %u: vmalloc_to_page %p, mapped %p", i, n,
			     (void *)kmm_vmalloc_to_page(p + (size_t)i * PG), (void *)pages[i]);
	if (is_shadow())
		return;
	stamp_at(p, n, tag);
	cr_assert(stamp_ok_direct(pages, n, tag), "%u pages: bytes written at %p are not in "
		  "the pages' direct map", n, mem);
	stamp_direct(pages, n, tag + 1);
	cr_assert(stamp_ok_at(p, n, tag + 1), "%u pages: direct-map bytes not seen at %p", n,
		  mem);
}

static bool readable(const void *p)
{
	return kt_probe_read(p, NULL);
}

static unsigned long block_of(const void *p)
{
	return (unsigned long)p & ~(BSZ - 1);
}

static unsigned long pow2_up(unsigned n)
{
	unsigned long r = 1;

	while (r < n)
		r <<= 1;
	return r;
}

/* Map @counts on this CPU (one block), return the mappings. */
static void map_all(struct kmm_page **pages, const unsigned *counts, int n,
		    unsigned char **out)
{
	for (int i = 0; i < n; i++) {
		out[i] = kmm_vm_map_ram(pages, counts[i], -1);
		cr_assert_not_null(out[i]);
		if (i)
			cr_assert_eq(block_of(out[i]), block_of(out[0]), "map %d left the block", i);
	}
}

static void unmap_all(const unsigned *counts, int n, unsigned char **m)
{
	for (int i = 0; i < n; i++)
		kmm_vm_unmap_ram(m[i], counts[i]);
}

/* ---- 1. mappings, real mode ---------------------------------------------- */

Test(vmram, maps_pages_real_mode)
{
	static const unsigned counts[] = { 1, 3, 4, 16, 64, 100 };
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;

	kt_boot("mem=256M nr_cpus=2");
	pages = pages_get(100);
	cr_assert_gt(100, KMM_VMAP_MAX_ALLOC);
	for (unsigned c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned n = counts[c];
		unsigned char *mem;

		mem = kmm_vm_map_ram(pages, n, -1);
		cr_assert_not_null(mem, "vm_map_ram of %u pages failed", n);
		check_valid("vm_map_ram");
		assert_maps(mem, pages, n, 100 + c);
		if (n <= KMM_VMAP_MAX_ALLOC && n < pow2_up(n)) {
			/* The rounded-up tail of the slot maps nothing. */
			cr_assert_null(kmm_vmalloc_to_page(mem + (size_t)n * PG));
			cr_assert_not(readable(mem + (size_t)n * PG),
				      "the page after a %u-page mapping is readable", n);
		}
		kmm_vmap_block_get_stats(&st);
		cr_assert_eq(st.nr_small + st.nr_large, c + 1);
		cr_assert_eq(st.nr_large, n > KMM_VMAP_MAX_ALLOC ? 1UL : 0UL);
		kmm_vm_unmap_ram(mem, n);
		check_valid("vm_unmap_ram");
		for (unsigned i = 0; i < n; i++)
			cr_assert_null(kmm_vmalloc_to_page(mem + (size_t)i * PG),
				       "page %u of %u still in the page table after unmap", i, n);
	}
	cr_assert_eq(kt_log_count("WARNING"), 0);
	kmm_vm_unmap_aliases();
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, 0);
	check_valid("the end");
	free(pages);
}

/* Several live mappings at once keep their own pages. */
Test(vmram, live_mappings_do_not_overlap)
{
	enum { N = 12 };
	static const unsigned counts[N] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 64, 65, 90 };
	struct kmm_page **pages[N];
	unsigned char *mem[N];

	kt_boot("mem=256M nr_cpus=2");
	for (int i = 0; i < N; i++) {
		pages[i] = pages_get(counts[i]);
		mem[i] = kmm_vm_map_ram(pages[i], counts[i], -1);
		cr_assert_not_null(mem[i]);
		stamp_at(mem[i], counts[i], 1000 + (uint64_t)i);
	}
	check_valid("twelve mappings");
	for (int i = 0; i < N; i++) {
		cr_assert(stamp_ok_direct(pages[i], counts[i], 1000 + (uint64_t)i),
			  "mapping %d (%u pages) lost its bytes", i, counts[i]);
		for (int j = 0; j < N; j++) {
			unsigned long a = (unsigned long)mem[i], b = (unsigned long)mem[j];

			if (i != j)
				cr_assert(a + counts[i] * PG <= b || b + counts[j] * PG <= a,
					  "mappings %d and %d overlap", i, j);
		}
	}
	for (int i = N - 1; i >= 0; i--) {
		kmm_vm_unmap_ram(mem[i], counts[i]);
		check_valid("unmap");
	}
	cr_assert_eq(kt_log_count("WARNING"), 0);
	for (int i = 0; i < N; i++)
		free(pages[i]);
}

/* ---- 2. protections and the compat header --------------------------------- */

Test(vmram, page_kernel_ro_is_read_only)
{
	struct kmm_page **pages;
	unsigned char *ro, *rw, *big, v = 0;

	kt_boot("mem=256M nr_cpus=2");
	pages = pages_get(100);
	stamp_direct(pages, 100, 7);
	ro = kmm_vm_map_ram_prot(pages, 4, -1, KMM_PAGE_KERNEL_RO);
	cr_assert_not_null(ro);
	check_valid("RO map");
	cr_assert(stamp_ok_at(ro, 4, 7), "a read-only mapping reads the pages");
	cr_assert(kt_probe_read(ro + PG + 5, &v));
	cr_assert_not(kt_probe_write(ro, 0x11), "PAGE_KERNEL_RO mapping is writable");
	cr_assert_not(kt_probe_write(ro + 3 * PG + 17, 0x11));
	cr_assert(stamp_ok_direct(pages, 4, 7), "a refused write changed the page");

	rw = kmm_vm_map_ram_prot(pages, 4, -1, KMM_PAGE_KERNEL);
	cr_assert_not_null(rw);
	cr_assert(kt_probe_write(rw + 3 * PG + 17, 0x5c), "PAGE_KERNEL mapping not writable");
	cr_assert_eq(((unsigned char *)kmm_page_address(pages[3]))[17], 0x5c);
	cr_assert(kt_probe_read(ro + 3 * PG + 17, &v));
	cr_assert_eq(v, 0x5c, "the RO alias sees the write");

	/* The large path honours the protection too. */
	big = kmm_vm_map_ram_prot(pages, 100, -1, KMM_PAGE_KERNEL_RO);
	cr_assert_not_null(big);
	check_valid("large RO map");
	cr_assert(kt_probe_read(big + 99 * PG, NULL));
	cr_assert_not(kt_probe_write(big + 99 * PG, 1));
	cr_assert_not(kt_probe_write(big, 1));

	/* Whatever the protection, the mapping is no-execute. */
	{
		unsigned char *x = kmm_vm_map_ram_prot(pages, 2, -1, KMM_PAGE_KERNEL_EXEC);
		kmm_pte_t *pte;

		cr_assert_not_null(x);
		pte = kmm_lookup_pte(&kmm_init_mm, (unsigned long)x + PG);
		cr_assert_not_null(pte);
		cr_assert(kmm_ptep_get(pte).pte & KMM__PAGE_NX, "PAGE_KERNEL_EXEC mapped executable");
		cr_assert(kmm_ptep_get(pte).pte & KMM__PAGE_RW);
		pte = kmm_lookup_pte(&kmm_init_mm, (unsigned long)ro);
		cr_assert(kmm_ptep_get(pte).pte & KMM__PAGE_NX);
		cr_assert_not(kmm_ptep_get(pte).pte & KMM__PAGE_RW, "PAGE_KERNEL_RO PTE writable");
		kmm_vm_unmap_ram(x, 2);
	}

	kmm_vm_unmap_ram(big, 100);
	kmm_vm_unmap_ram(rw, 4);
	kmm_vm_unmap_ram(ro, 4);
	check_valid("unmaps");
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

Test(vmram, compat_header_four_argument_form)
{
	struct kmm_page **pages;
	unsigned char *mem;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(VMAP_MAX_ALLOC, 64);
	cr_assert_eq(VMAP_BBMAP_BITS, KMM_VMAP_BBMAP_BITS);
	cr_assert_eq(VMAP_BLOCK_SIZE, BSZ);
	pages = pages_get(5);
	stamp_direct(pages, 5, 99);
	mem = vm_map_ram(pages, 5, -1, PAGE_KERNEL_RO);
	cr_assert_not_null(mem);
	check_valid("vm_map_ram through <linux/vmalloc.h>");
	cr_assert_eq(vmalloc_to_page(mem + 4 * PG), pages[4]);
	cr_assert(stamp_ok_at(mem, 5, 99));
	cr_assert_not(kt_probe_write(mem + 2 * PG, 0), "PAGE_KERNEL_RO through the compat form");
	vm_unmap_ram(mem, 5);
	vm_unmap_aliases();
	check_valid("vm_unmap_ram through <linux/vmalloc.h>");
	cr_assert_not(readable(mem));
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

/* ---- 3. bump allocation ---------------------------------------------------- */

Test(vmram, bump_allocation_in_one_block)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *a, *b, *c, *d, *e, *f;
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(8);
	a = kmm_vm_map_ram(pages, 1, -1);
	cr_assert_not_null(a);
	blk = (unsigned long)a;
	cr_assert_eq(blk & (BSZ - 1), 0, "block start %#lx not %#lx-aligned", blk, BSZ);
	cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	b = kmm_vm_map_ram(pages, 1, -1);
	c = kmm_vm_map_ram(pages, 3, -1);	/* takes 4 pages */
	d = kmm_vm_map_ram(pages, 4, -1);
	check_valid("four maps");
	cr_assert_eq((unsigned long)b, blk + 1 * PG);
	cr_assert_eq((unsigned long)c, blk + 2 * PG);
	cr_assert_eq((unsigned long)d, blk + 6 * PG, "3 pages round up to 4: d at +6, not %#lx",
		     ((unsigned long)d - blk) / PG);
	assert_maps(c, pages, 3, 1);
	assert_maps(d, pages, 4, 2);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.used_pages, 10);
	cr_assert_eq(st.free_pages, BITS - 10);
	cr_assert_eq(st.dirty_pages, 0);

	/* Freed space is not reused: the next map bumps past it. */
	kmm_vm_unmap_ram(a, 1);
	check_valid("unmap of the first");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.dirty_pages, 1);
	cr_assert_eq(st.used_pages, 9);
	e = kmm_vm_map_ram(pages, 1, -1);
	cr_assert_eq((unsigned long)e, blk + 10 * PG, "the hole at +0 was reused");
	f = kmm_vm_map_ram(pages, 2, -1);
	cr_assert_eq((unsigned long)f, blk + 11 * PG);
	check_valid("maps after the unmap");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.free_pages, BITS - 13);
	assert_maps(f, pages, 2, 3);

	kmm_vm_unmap_ram(b, 1);
	kmm_vm_unmap_ram(c, 3);
	kmm_vm_unmap_ram(d, 4);
	kmm_vm_unmap_ram(e, 1);
	kmm_vm_unmap_ram(f, 2);
	check_valid("all unmapped");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, 0);
	cr_assert_eq(st.dirty_pages, 13);
	cr_assert_eq(st.nr_blocks, 1, "a block with free pages left is kept");
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

/* A block whose free pages cannot hold a request is skipped, not split. */
Test(vmram, request_larger_than_the_rest_takes_a_new_block)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *m[4], *x, *y;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	for (int i = 0; i < 3; i++)
		m[i] = kmm_vm_map_ram(pages, 64, -1);
	m[3] = kmm_vm_map_ram(pages, 33, -1);	/* 64 pages: the block is full */
	for (int i = 1; i < 4; i++)
		cr_assert_eq((unsigned long)m[i], (unsigned long)m[0] + (unsigned long)i * 64 * PG);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.free_pages, 0);
	x = kmm_vm_map_ram(pages, 1, -1);
	cr_assert_neq(block_of(x), block_of(m[0]));
	cr_assert_eq((unsigned long)x & (BSZ - 1), 0, "a fresh block starts at offset 0");
	/* 255 pages left in the new block: 64 fit after the first. */
	y = kmm_vm_map_ram(pages, 64, -1);
	cr_assert_eq((unsigned long)y, (unsigned long)x + PG);
	check_valid("two blocks");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 2);
	cr_assert_eq(st.nr_made, 2);
	cr_assert_eq(st.free_pages, BITS - 65);
	free(pages);
}

/* ---- 4. per-CPU blocks ----------------------------------------------------- */

Test(vmram, each_cpu_has_its_own_block)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *a0, *a1, *b0, *b1;

	kt_boot("mem=256M nr_cpus=2");
	pages = pages_get(4);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	a0 = kmm_vm_map_ram(pages, 2, -1);
	cr_assert_eq(kmm_bind_cpu(1), 0);
	b0 = kmm_vm_map_ram(pages, 2, -1);
	cr_assert(a0 && b0);
	cr_assert_neq(block_of(a0), block_of(b0), "CPUs 0 and 1 share a block");
	cr_assert_eq((unsigned long)b0 & (BSZ - 1), 0);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 2);
	cr_assert_eq(st.nr_made, 2);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	a1 = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_eq(kmm_bind_cpu(1), 0);
	b1 = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_eq((unsigned long)a1, (unsigned long)a0 + 2 * PG, "CPU 0 bumps its own block");
	cr_assert_eq((unsigned long)b1, (unsigned long)b0 + 2 * PG, "CPU 1 bumps its own block");
	check_valid("two CPUs");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 2);
	cr_assert_eq(st.used_pages, 12);

	/* Unmapping from the other CPU finds the block by its address. */
	kmm_vm_unmap_ram(a0, 2);
	kmm_vm_unmap_ram(a1, 4);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	kmm_vm_unmap_ram(b0, 2);
	kmm_vm_unmap_ram(b1, 4);
	check_valid("cross-CPU unmaps");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, 0);
	cr_assert_eq(st.dirty_pages, 12);
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

/* ---- 5. a fully used and fully unmapped block is freed -------------------- */

Test(vmram, block_freed_when_every_page_is_unmapped)
{
	enum { NMAP = KMM_VMAP_BBMAP_BITS / KMM_VMAP_MAX_ALLOC };
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *m[NMAP];
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(KMM_VMAP_MAX_ALLOC);
	for (int i = 0; i < NMAP; i++) {
		m[i] = kmm_vm_map_ram(pages, KMM_VMAP_MAX_ALLOC, -1);
		cr_assert_not_null(m[i]);
		stamp_at(m[i], KMM_VMAP_MAX_ALLOC, 50 + (uint64_t)i);
	}
	blk = (unsigned long)m[0];
	for (int i = 0; i < NMAP; i++)
		cr_assert_eq((unsigned long)m[i], blk + (unsigned long)i * KMM_VMAP_MAX_ALLOC * PG);
	check_valid("a full block");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.free_pages, 0);
	cr_assert_eq(st.used_pages, BITS);

	for (int i = 0; i < NMAP - 1; i++) {
		kmm_vm_unmap_ram(m[i], KMM_VMAP_MAX_ALLOC);
		check_valid("unmap");
		kmm_vmap_block_get_stats(&st);
		cr_assert_eq(st.nr_freed, 0, "block freed with a mapping left");
		cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	}
	kmm_vm_unmap_ram(m[NMAP - 1], KMM_VMAP_MAX_ALLOC);
	check_valid("the last unmap");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_freed, 1);
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_eq(st.nr_purged, 0, "freeing a full block is no purge");
	cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_LAZY,
		     "the block's area is freed lazily");
	cr_assert_eq(kmm__vmap_where(blk + BSZ - PG, NULL), KMM_VMAP_WHERE_LAZY);
	{
		static char info[16384];
		char want[96];

		kmm_report_vmallocinfo(info, sizeof(info));
		snprintf(want, sizeof(want), "0x%016lx-0x%016lx %7ld unpurged vm_area\n", blk,
			 blk + BSZ, (long)BSZ);
		cr_assert_not_null(strstr(info, want), "no \"%s\" in:\n%s", want, info);
		cr_assert_null(strstr(info, "vm_map_ram"), "%s", info);
	}
	/* Lazily: the host mapping lingers (the TLB flush is owed)... */
	cr_assert(readable(m[NMAP - 1]), "stale mapping gone before the purge");
	cr_assert(stamp_ok_at(m[NMAP - 1], 1, 50 + NMAP - 1));
	/* ...until vm_unmap_aliases() purges the area. */
	kmm_vm_unmap_aliases();
	check_valid("vm_unmap_aliases");
	cr_assert_neq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_LAZY);
	cr_assert_neq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	for (int i = 0; i < NMAP; i++)
		cr_assert_not(readable(m[i] + PG), "map %d readable after the purge", i);
	cr_assert_eq(kt_log_count("WARNING"), 0);
	cr_assert_eq(kt_log_count("BUG"), 0);
	free(pages);
}

/* A freed block's area goes to its vmap node's 256-page pool once purged,
 * and the next block of that CPU comes from there. */
Test(vmram, freed_block_area_is_reused_through_the_pool)
{
	enum { NMAP = KMM_VMAP_BBMAP_BITS / KMM_VMAP_MAX_ALLOC };
	struct kmm_vmalloc_stats vst0, vst;
	struct kmm_page **pages;
	unsigned char *m[NMAP], *x;
	unsigned long blk;
	unsigned node = 99;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(KMM_VMAP_MAX_ALLOC);
	for (int i = 0; i < NMAP; i++)
		m[i] = kmm_vm_map_ram(pages, KMM_VMAP_MAX_ALLOC, -1);
	blk = (unsigned long)m[0];
	for (int i = 0; i < NMAP; i++)
		kmm_vm_unmap_ram(m[i], KMM_VMAP_MAX_ALLOC);
	kmm_vm_unmap_aliases();
	check_valid("a freed block purged");
	cr_assert_eq(kmm__vmap_where(blk, &node), KMM_VMAP_WHERE_POOL,
		     "the purged block area is not pooled");
	cr_assert_eq(node, 0);
	kmm_vmalloc_get_stats(&vst0);
	x = kmm_vm_map_ram(pages, 1, -1);
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq((unsigned long)x, blk, "the new block did not come from the pool");
	cr_assert_eq(vst.nr_pool_hits, vst0.nr_pool_hits + 1);
	assert_maps(x, pages, 1, 1);
	check_valid("a block from the pool");
	free(pages);
}

/* A pooled 256-page area that is not 1 MiB aligned cannot be a block: it
 * is rotated to the pool's tail and the block comes from the free space. */
Test(vmram, misaligned_pooled_area_is_not_a_block)
{
	struct kmm_vmalloc_stats vst0, vst;
	struct kmm_page **pages;
	unsigned char *small, *v, *x;
	unsigned node = 99;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(2);
	small = kmm_vmalloc(PG);			/* 2 pages with its guard */
	v = kmm_vmalloc(255 * PG);			/* 256 pages, after it */
	cr_assert(small && v);
	cr_assert_neq((unsigned long)v & (BSZ - 1), 0, "the test needs a misaligned area");
	kmm_vfree(v);
	kmm_vm_unmap_aliases();
	cr_assert_eq(kmm__vmap_where((unsigned long)v, &node), KMM_VMAP_WHERE_POOL);
	kmm_vmalloc_get_stats(&vst0);
	x = kmm_vm_map_ram(pages, 2, -1);
	kmm_vmalloc_get_stats(&vst);
	cr_assert_not_null(x);
	cr_assert_eq((unsigned long)x & (BSZ - 1), 0, "a misaligned block");
	cr_assert_eq(vst.nr_pool_hits, vst0.nr_pool_hits);
	cr_assert_eq(kmm__vmap_where((unsigned long)v, NULL), KMM_VMAP_WHERE_POOL,
		     "the misaligned area left the pool");
	assert_maps(x, pages, 2, 1);
	check_valid("block beside a misaligned pooled area");
	kmm_vfree(small);
	free(pages);
}

/* Freeing blocks past lazy_max_pages purges in the unmapping thread. */
Test(vmram, freed_blocks_over_lazy_max_are_purged)
{
	enum { NMAP = KMM_VMAP_BBMAP_BITS / KMM_VMAP_MAX_ALLOC };
	struct kmm_vmalloc_stats vst0, vst;
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *first = NULL;
	unsigned long nblocks, k;

	kt_boot("mem=256M nr_cpus=1");
	pages = pages_get(KMM_VMAP_MAX_ALLOC);
	kmm_vmalloc_get_stats(&vst0);
	cr_assert_gt(vst0.lazy_max_pages, 0);
	nblocks = vst0.lazy_max_pages / BITS + 1;	/* the first over the limit */
	for (k = 1; k <= nblocks; k++) {
		unsigned char *m[NMAP];

		for (int i = 0; i < NMAP; i++)
			m[i] = kmm_vm_map_ram(pages, KMM_VMAP_MAX_ALLOC, -1);
		if (!first)
			first = m[0];
		for (int i = 0; i < NMAP; i++)
			kmm_vm_unmap_ram(m[i], KMM_VMAP_MAX_ALLOC);
		kmm_vmalloc_get_stats(&vst);
		if (k < nblocks) {
			cr_assert_eq(vst.nr_purges, vst0.nr_purges, "purged at block %lu of %lu", k,
				     nblocks);
			cr_assert_eq(vst.nr_lazy_pages, k * BITS);
		}
	}
	check_valid("blocks freed over lazy_max_pages");
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_purges, vst0.nr_purges + 1, "no purge past lazy_max_pages");
	cr_assert_eq(vst.nr_lazy_pages, 0);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_freed, nblocks);
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_not(readable(first), "the first block is still mapped after the purge");
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

/* A purge of fragmented blocks that pushes the lazy count over the limit
 * inside vm_unmap_aliases() (which holds vmap_purge_lock) neither deadlocks
 * nor leaves anything lazy. */
Test(vmram, aliases_purge_crossing_lazy_max_in_one_go)
{
	static const unsigned counts[] = { 64, 64, 64, 32, 1 };
	struct kmm_vmalloc_stats vst;
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *m[5], *v;

	kt_boot("mem=256M nr_cpus=1");
	pages = pages_get(64);
	kmm_vmalloc_get_stats(&vst);
	/* Lazy pages just under the limit: one block more crosses it. */
	v = kmm_vmalloc((vst.lazy_max_pages - BITS / 2) * PG);
	cr_assert_not_null(v);
	kmm_vfree(v);
	kmm_vmalloc_get_stats(&vst);
	cr_assert_leq(vst.nr_lazy_pages, vst.lazy_max_pages);
	cr_assert_gt(vst.nr_lazy_pages + BITS, vst.lazy_max_pages);
	map_all(pages, counts, 5, m);
	unmap_all(counts, 5, m);
	kmm_vm_unmap_aliases();
	check_valid("aliases over lazy_max_pages");
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_lazy_pages, 0);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 1);
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_not(readable(v) || readable(m[0]));
	free(pages);
}

/* ---- 6. lazy unmap and vm_unmap_aliases() ---------------------------------- */

Test(vmram, unmap_aliases_flushes_stale_mappings)
{
	struct kmm_vmap_block_stats st0, st;
	struct kmm_page **pa, **pb;
	unsigned char *a, *b, v = 0;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pa = pages_get(4);
	pb = pages_get(4);
	a = kmm_vm_map_ram(pa, 4, -1);
	b = kmm_vm_map_ram(pb, 4, -1);
	cr_assert_eq(block_of(a), block_of(b));
	stamp_at(a, 4, 11);
	stamp_at(b, 4, 22);
	kmm_vm_unmap_ram(a, 4);
	check_valid("unmap a");
	cr_assert_null(kmm_vmalloc_to_page(a), "the PTE is cleared at once");
	/* The host mapping (the TLB entry) may linger: in kmm it does. */
	cr_assert(kt_probe_read(a + 3 * PG, &v), "no stale mapping before vm_unmap_aliases()");
	kmm_vmap_block_get_stats(&st0);
	cr_assert_eq(st0.dirty_pages, 4);
	kmm_vm_unmap_aliases();
	check_valid("vm_unmap_aliases");
	for (unsigned i = 0; i < 4; i++)
		cr_assert_not(readable(a + i * PG), "page %u of the unmapped range still readable",
			      i);
	cr_assert(readable(b) && readable(b + 3 * PG), "the live neighbour was unmapped");
	cr_assert(stamp_ok_at(b, 4, 22), "the live neighbour lost its bytes");
	cr_assert(stamp_ok_direct(pb, 4, 22));
	assert_maps(b, pb, 4, 33);
	/* The block itself stays: only its dirty span was flushed. */
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.nr_purged, 0);
	cr_assert_eq(st.dirty_pages, 4);
	cr_assert_eq(kmm__vmap_where(block_of(b), NULL), KMM_VMAP_WHERE_BUSY);
	kmm_vm_unmap_ram(b, 4);
	check_valid("unmap b");
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pa);
	free(pb);
}

/* ---- 7. vm_unmap_aliases() and fragmented blocks --------------------------- */

struct trace_rec {
	unsigned long watch;		/* block start */
	int lazied;			/* free_vmap_area_noflush of it */
	int purged;			/* a purge whose span covered it */
};

static struct trace_rec trace_rec;

static void tr_free(void *arg, unsigned long va_start, unsigned long nr_lazy,
		    unsigned long nr_lazy_max)
{
	struct trace_rec *r = arg;

	(void)nr_lazy;
	(void)nr_lazy_max;
	if (va_start == r->watch)
		r->lazied++;
}

static void tr_purge(void *arg, unsigned long start, unsigned long end,
		     unsigned long npurged)
{
	struct trace_rec *r = arg;

	if (npurged && r->lazied && start <= r->watch && r->watch + BSZ <= end)
		r->purged++;
}

static void trace_watch(unsigned long blk)
{
	static const struct kmm_vmap_trace_ops ops = {
		.free_vmap_area_noflush = tr_free,
		.purge_vmap_area_lazy = tr_purge,
		.arg = &trace_rec,
	};

	memset(&trace_rec, 0, sizeof(trace_rec));
	trace_rec.watch = blk;
	kmm_vmap_set_trace(&ops);
}

Test(vmram, unmap_aliases_purges_a_fragmented_block_below_threshold)
{
	/* 64 * 3 + 32 + 1 = 225 pages: 31 < VMAP_PURGE_THRESHOLD left free. */
	static const unsigned counts[] = { 64, 64, 64, 32, 1 };
	enum { N = 5 };
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *m[N];
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(KMM_VMAP_PURGE_THRESHOLD, 32);
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	map_all(pages, counts, N, m);
	blk = block_of(m[0]);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.free_pages, KMM_VMAP_PURGE_THRESHOLD - 1);

	/* With a mapping left it is no fragmented block: nothing purged. */
	unmap_all(counts, N - 1, m);
	kmm_vm_unmap_aliases();
	check_valid("aliases with one mapping left");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 0);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	assert_maps(m[N - 1], pages, 1, 5);

	kmm_vm_unmap_ram(m[N - 1], 1);
	check_valid("every page unmapped");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1, "not all dirty: the block is not freed by the unmap");
	cr_assert_eq(st.nr_freed, 0);
	cr_assert_eq(st.dirty_pages, 225);
	cr_assert_eq(st.free_pages, 31);
	cr_assert(readable(m[N - 1]), "stale mapping gone before vm_unmap_aliases()");

	trace_watch(blk);
	kmm_vm_unmap_aliases();
	kmm_vmap_set_trace(NULL);
	check_valid("vm_unmap_aliases");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 1, "a fragmented block under the threshold is purged");
	cr_assert_eq(st.nr_freed, 1);
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_eq(trace_rec.lazied, 1, "the block's area went lazy");
	cr_assert_geq(trace_rec.purged, 1, "the lazy block area was purged (flushed)");
	cr_assert_neq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	cr_assert_neq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_LAZY);
	for (int i = 0; i < N; i++)
		cr_assert_not(readable(m[i]), "map %d readable after the purge", i);

	/* The next map makes a fresh block. */
	m[0] = kmm_vm_map_ram(pages, 1, -1);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_made, 2);
	cr_assert_eq(st.nr_blocks, 1);
	check_valid("a new block");
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

Test(vmram, unmap_aliases_keeps_a_block_at_the_threshold)
{
	/* 224 pages: exactly VMAP_PURGE_THRESHOLD (32) left, not fewer. */
	static const unsigned counts[] = { 64, 64, 64, 32 };
	enum { N = 4 };
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *m[N], *x;
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	map_all(pages, counts, N, m);
	blk = block_of(m[0]);
	unmap_all(counts, N, m);
	check_valid("unmapped");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.free_pages, KMM_VMAP_PURGE_THRESHOLD);
	cr_assert(readable(m[0]) && readable(m[3]));
	kmm_vm_unmap_aliases();
	check_valid("vm_unmap_aliases");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 0, "a block with 32 free pages was purged");
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_BUSY);
	/* Its dirty span was flushed all the same. */
	for (int i = 0; i < N; i++)
		cr_assert_not(readable(m[i] + PG), "dirty map %d not flushed", i);
	/* And it still serves requests from its bump offset. */
	x = kmm_vm_map_ram(pages, 32, -1);
	cr_assert_eq((unsigned long)x, blk + 224 * PG);
	assert_maps(x, pages, 32, 9);
	check_valid("map from the kept block");
	/* Now the block is all used or dirty: unmapping the rest frees it. */
	kmm_vm_unmap_ram(x, 32);
	check_valid("last unmap");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_eq(st.nr_freed, 1);
	cr_assert_eq(st.nr_purged, 0);
	cr_assert_eq(kmm__vmap_where(blk, NULL), KMM_VMAP_WHERE_LAZY);
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

Test(vmram, unmap_aliases_keeps_a_mostly_free_block)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *a, *b;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(4);
	a = kmm_vm_map_ram(pages, 4, -1);
	kmm_vm_unmap_ram(a, 4);
	kmm_vm_unmap_aliases();
	check_valid("aliases");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 0);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.free_pages, BITS - 4);
	cr_assert_not(readable(a), "the dirty span was not flushed");
	b = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_eq((unsigned long)b, (unsigned long)a + 4 * PG);
	assert_maps(b, pages, 4, 3);
	free(pages);
}

/* ---- 8. running out of VA purges fragmented blocks ------------------------ */

/*
 * Fill the whole vmalloc space with fragmented blocks (64 * 3 + 32 pages
 * mapped, then unmapped: 32 free pages, so vm_unmap_aliases() keeps them)
 * and plug what is left over around them.  Returns the number of blocks.
 *
 * One block per CPU: on one CPU the 32-page request of the second block
 * would go to the first block's 32 free pages (a CPU allocates from the
 * oldest of its blocks that has room), and no mix of power-of-two requests
 * can leave every block of one CPU with free pages that none of the
 * later requests fits in.
 */
static unsigned long fill_with_fragmented_blocks(struct kmm_page **pages, bool keep_one)
{
	static const unsigned counts[] = { 64, 64, 64, 32 };
	unsigned long start = kmm_vmalloc_start(), end = kmm_machine.vmalloc_end;
	unsigned long first = (start + BSZ - 1) & ~(BSZ - 1);
	/* Areas end at or below VMALLOC_END, the last byte (as the kernel
	 * checks): a block cannot take the space's last aligned slot. */
	unsigned long nslots = (((end - 1) & ~(BSZ - 1)) - first) / BSZ, n;
	struct kmm_vmap_block_stats st;
	struct kmm_vmalloc_stats vst;

	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_busy, 0, "vmalloc space not empty after boot");
	cr_assert_geq(nslots, 4);
	cr_assert_leq(nslots, kmm_machine.nr_cpus);
	for (n = 0; n < nslots; n++) {
		unsigned char *m[4];

		cr_assert_eq(kmm_bind_cpu((int)n), 0);
		map_all(pages, counts, 4, m);
		cr_assert_eq((unsigned long)m[0] & (BSZ - 1), 0);
		if (!(keep_one && n == 0))
			unmap_all(counts, 4, m);
	}
	cr_assert_eq(kmm_bind_cpu(0), 0);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, nslots, "%lu blocks for %lu slots, %lu purged, VA %#lx-%#lx",
		     st.nr_blocks, nslots, st.nr_purged, start, end);
	cr_assert_eq(st.nr_purged, 0);
	/* What is left: the unaligned head and tail.  Plug them. */
	if (first > start)
		cr_assert_eq(kmm__vmap_load_area(start, first - start, false, -1), 0);
	if (end > first + nslots * BSZ)
		cr_assert_eq(kmm__vmap_load_area(first + nslots * BSZ,
						 end - (first + nslots * BSZ), false, -1), 0);
	kmm_vm_unmap_aliases();
	check_valid("the space full of fragmented blocks");
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_free_areas, 0, "free VA left: %lu areas", vst.nr_free_areas);
	cr_assert_eq(vst.nr_pooled, 0);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, 0, "vm_unmap_aliases() purged blocks with 32 free pages");
	cr_assert_eq(st.nr_blocks, nslots);
	return nslots;
}

Test(vmram, vmalloc_reclaims_fragmented_blocks)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned long nslots;
	unsigned char *v;

	kt_boot("mem=64M vmalloc=16M nr_cpus=16");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	nslots = fill_with_fragmented_blocks(pages, false);
	kt_log_clear();
	v = kmm_vmalloc(4 * BSZ);
	cr_assert_not_null(v, "vmalloc did not purge the fragmented blocks");
	check_valid("vmalloc after the purge");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, nslots, "every fragmented block is force-purged");
	cr_assert_eq(st.nr_blocks, 0);
	cr_assert_eq(kt_log_count("failed"), 0, "the retry succeeded: no warning");
	cr_assert_eq(kmm_find_vm_area(v)->addr, v);
	memset(v, 0xa7, 4 * BSZ);
	cr_assert_eq(((unsigned char *)kmm_page_address(kmm_vmalloc_to_page(v + 3 * BSZ)))[9],
		     0xa7);
	kmm_vfree(v);
	check_valid("vfree");
	free(pages);
}

Test(vmram, new_block_reclaims_fragmented_blocks)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned long nslots;
	unsigned char *m;

	kt_boot("mem=64M vmalloc=16M nr_cpus=16");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	nslots = fill_with_fragmented_blocks(pages, false);
	kt_log_clear();
	/* 64 pages fit in no block (32 free in each): a new block is needed. */
	m = kmm_vm_map_ram(pages, 64, -1);
	cr_assert_not_null(m, "vm_map_ram did not purge the fragmented blocks");
	check_valid("vm_map_ram after the purge");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, nslots);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.nr_made, nslots + 1);
	cr_assert_eq((unsigned long)m & (BSZ - 1), 0);
	assert_maps(m, pages, 64, 4);
	cr_assert_eq(kt_log_count("failed"), 0);
	free(pages);
}

Test(vmram, blocks_in_use_are_not_reclaimed)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned long nslots;
	unsigned char *v;

	kt_boot("mem=64M vmalloc=16M nr_cpus=16");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(64);
	nslots = fill_with_fragmented_blocks(pages, true);	/* the first keeps its maps */
	kt_log_clear();
	/* All but one block go; the space they leave is enough for this. */
	v = kmm_vmalloc((nslots - 2) * BSZ);
	cr_assert_not_null(v);
	check_valid("vmalloc");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_purged, nslots - 1, "a block with live mappings was purged");
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.used_pages, 224);
	/* Nothing else to reclaim: the next request fails, with the warning. */
	cr_assert_null(kmm_vmalloc(2 * BSZ));
	cr_assert_geq(kt_log_count("failed"), 1);
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.used_pages, 224);
	check_valid("refused vmalloc");
	/* Less than an aligned 1 MiB is left: no new block, but 100 pages fit. */
	kt_log_clear();
	cr_assert_null(kmm_vm_map_ram(pages, 64, -1), "a block made in a full space");
	cr_assert_geq(kt_log_count("vmalloc_node_range for size 1048576 failed"), 1);
	{
		struct kmm_page **p100 = pages_get(100);
		unsigned char *big = kmm_vm_map_ram(p100, 100, -1);

		assert_maps(big, p100, 100, 77);
		kmm_vm_unmap_ram(big, 100);
		free(p100);
	}
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_blocks, 1);
	cr_assert_eq(st.used_pages, 224);
	check_valid("refused vm_map_ram");
	kmm_vfree(v);
	free(pages);
}

/* ---- 9. refused calls change nothing -------------------------------------- */

struct world {
	struct kmm_vmap_block_stats b;
	struct kmm_vmalloc_stats v;
	uint64_t free;
	char info[16384];
};

static void world_take(struct world *w)
{
	memset(w, 0, sizeof(*w));
	kmm_vmap_block_get_stats(&w->b);
	kmm_vmalloc_get_stats(&w->v);
	kmm_drain_all_pages(NULL);
	w->free = kmm_nr_free_pages();
	kmm_report_vmallocinfo(w->info, sizeof(w->info));
}

static void world_assert_same(const struct world *a, const char *what)
{
	struct world *b = malloc(sizeof(*b));

	cr_assert_not_null(b);
	world_take(b);
#define SAME_B(f) cr_assert_eq(b->b.f, a->b.f, "%s: blocks " #f " %lu -> %lu", what, a->b.f, b->b.f)
#define SAME_V(f) cr_assert_eq(b->v.f, a->v.f, "%s: vmalloc " #f " %lu -> %lu", what, a->v.f, b->v.f)
	SAME_B(nr_blocks);
	SAME_B(free_pages);
	SAME_B(dirty_pages);
	SAME_B(used_pages);
	SAME_B(nr_made);
	SAME_B(nr_freed);
	SAME_B(nr_purged);
	SAME_B(nr_small);
	SAME_B(nr_large);
	SAME_V(nr_busy);
	SAME_V(nr_lazy);
	SAME_V(nr_lazy_pages);
	SAME_V(nr_pooled);
	SAME_V(nr_free_areas);
	SAME_V(nr_purges);
#undef SAME_B
#undef SAME_V
	cr_assert_eq(b->free, a->free, "%s: free pages changed", what);
	cr_assert_str_eq(b->info, a->info, "%s: vmallocinfo changed", what);
	free(b);
}

static struct world *bad_world;

enum refused_op { OP_UNMAP_RAM, OP_VFREE, OP_VUNMAP };

/* @op on @mem must warn (@needle) and change nothing. */
static void refused(enum refused_op op, const void *mem, unsigned count, const char *needle,
		    const char *what)
{
	world_take(bad_world);
	kt_log_clear();
	if (op == OP_UNMAP_RAM)
		kmm_vm_unmap_ram(mem, count);
	else if (op == OP_VFREE)
		kmm_vfree(mem);
	else
		kmm_vunmap(mem);
	cr_assert_geq(kt_log_count(needle), 1, "%s: no \"%s\" warning", what, needle);
	world_assert_same(bad_world, what);
	check_valid(what);
}

/* vm_unmap_ram(@mem, @count) must warn and change nothing. */
static void refused_unmap(const void *mem, unsigned count, const char *what)
{
	refused(OP_UNMAP_RAM, mem, count, "vm_unmap_ram: WARNING", what);
}

Test(vmram, refused_unmaps_change_nothing)
{
	struct kmm_page **pages;
	unsigned char *a, *b, *c, *large, *large2, *v;
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	bad_world = malloc(sizeof(*bad_world));
	cr_assert_not_null(bad_world);
	pages = pages_get(128);
	a = kmm_vm_map_ram(pages, 3, -1);
	b = kmm_vm_map_ram(pages + 3, 1, -1);
	c = kmm_vm_map_ram(pages + 4, 2, -1);
	large = kmm_vm_map_ram(pages + 8, 100, -1);
	v = kmm_vmalloc(8 * PG);
	cr_assert(a && b && c && large && v);
	blk = block_of(a);
	cr_assert_eq((unsigned long)a, blk);
	stamp_at(a, 3, 1);
	stamp_at(b, 1, 2);
	stamp_at(large, 100, 3);
	check_valid("setup");

	refused_unmap(a, 4, "mapped 3, unmapped 4");
	refused_unmap(a, 2, "mapped 3, unmapped 2");
	refused_unmap(a, 1, "mapped 3, unmapped 1");
	refused_unmap(a + PG, 2, "the middle of a mapping");
	refused_unmap(a + 3 * PG, 1, "the rounded-up tail of a mapping");
	refused_unmap((void *)(blk + 100 * PG), 1, "never handed out");
	refused_unmap((void *)(blk + 128 * PG), 64, "never handed out, 64 pages");
	refused_unmap((void *)(blk + (BITS - 1) * PG), 2, "past the block's end");
	refused_unmap(NULL, 1, "NULL");
	refused_unmap(a, 0, "count 0");
	refused_unmap(a + 1, 3, "not page aligned");
	refused_unmap(a + PG - 1, 3, "not page aligned (end of a page)");
	refused_unmap((void *)0x10000, 1, "below the vmalloc space");
	refused_unmap((void *)(kmm_vmalloc_start() - PG), 1, "just below VMALLOC_START");
	refused_unmap((void *)kmm_machine.vmalloc_end, 1, "just past VMALLOC_END");
	refused_unmap(kmm_page_address(pages[0]), 1, "a direct-map address");
	refused_unmap(v, 8, "a vmalloc() address, small count");
	refused_unmap(v, 65, "a vmalloc() address, count 65");
	refused_unmap(v, 100, "a vmalloc() address, count 100");
	refused_unmap(large, 99, "large mapping, one page short");
	refused_unmap(large, 101, "large mapping, one page over");
	refused_unmap(large, 64, "large mapping, a block-sized count");
	refused_unmap(large + PG, 99, "large mapping, not its start");
	refused_unmap(a, 256, "a block's start with a large count");
	refused_unmap(a, 65, "a block's start with count 65");
	/* vm_map_ram() areas are not vfree()'s or vunmap()'s. */
	refused(OP_VFREE, large, 0, "nonexistent vm area", "vfree of a large vm_map_ram area");
	refused(OP_VFREE, a, 0, "nonexistent vm area", "vfree of a block mapping");
	refused(OP_VUNMAP, large, 0, "nonexistent vm area", "vunmap of a large vm_map_ram area");
	refused(OP_VUNMAP, a, 0, "nonexistent vm area", "vunmap of a block mapping");
	refused(OP_VUNMAP, b, 0, "nonexistent vm area", "vunmap inside a block");

	/* Double unmaps, small and large. */
	kmm_vm_unmap_ram(c, 2);
	check_valid("unmap c");
	refused_unmap(c, 2, "double unmap");
	large2 = kmm_vm_map_ram(pages, 70, -1);
	cr_assert_not_null(large2);
	kmm_vm_unmap_ram(large2, 70);
	check_valid("unmap large2");
	refused_unmap(large2, 70, "double unmap, large");

	/* Everything still mapped is intact. */
	assert_maps(a, pages, 3, 11);
	assert_maps(b, pages + 3, 1, 12);
	assert_maps(large, pages + 8, 100, 13);
	kmm_vm_unmap_ram(a, 3);
	kmm_vm_unmap_ram(b, 1);
	kmm_vm_unmap_ram(large, 100);
	kmm_vfree(v);
	check_valid("cleanup");
	free(bad_world);
	free(pages);
}

Test(vmram, refused_maps_return_null)
{
	struct kmm_page **pages;
	struct world *w = malloc(sizeof(*w));

	kt_boot("mem=64M nr_cpus=2");
	cr_assert_not_null(w);
	pages = pages_get(4);
	world_take(w);
	cr_assert_null(kmm_vm_map_ram(NULL, 4, -1));
	cr_assert_null(kmm_vm_map_ram(pages, 0, -1));
	cr_assert_null(kmm_vm_map_ram(NULL, 0, -1));
	cr_assert_null(kmm_vm_map_ram_prot(NULL, 1, -1, KMM_PAGE_KERNEL));
	/* More pages than RAM: refused before the array is read. */
	cr_assert_null(kmm_vm_map_ram(pages, (unsigned)kmm_machine.totalram_pages + 1, -1));
	cr_assert_null(kmm_vm_map_ram(pages, ~0u, -1));
	world_assert_same(w, "refused maps");
	check_valid("refused maps");
	free(w);
	free(pages);
}

/* ---- 10. /proc/vmallocinfo -------------------------------------------------- */

static int count_lines(const char *buf, const char *needle)
{
	int n = 0;

	for (const char *p = buf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(vmram, vmallocinfo_and_find_vm_area)
{
	static char info[65536];
	char want[128];
	struct kmm_page **pages;
	unsigned char *small, *large;
	unsigned long blk;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(100);
	small = kmm_vm_map_ram(pages, 1, -1);
	large = kmm_vm_map_ram(pages, 100, -1);
	cr_assert(small && large);
	blk = block_of(small);
	cr_assert_lt(kmm_report_vmallocinfo(info, sizeof(info)), sizeof(info));
	snprintf(want, sizeof(want), "0x%016lx-0x%016lx %7ld vm_map_ram\n", blk, blk + BSZ,
		 (long)BSZ);
	cr_assert_not_null(strstr(info, want), "no block line \"%s\" in:\n%s", want, info);
	snprintf(want, sizeof(want), "0x%016lx-0x%016lx %7ld vm_map_ram\n",
		 (unsigned long)large, (unsigned long)large + 409600, 409600L);
	cr_assert_not_null(strstr(info, want), "no large line \"%s\" in:\n%s", want, info);
	cr_assert_not_null(strstr(info, " 409600 vm_map_ram\n"));
	cr_assert_eq(count_lines(info, "vm_map_ram"), 2, "%s", info);

	/* No vm_struct: find_vm_area() does not see them. */
	cr_assert_null(kmm_find_vm_area(small));
	cr_assert_null(kmm_find_vm_area((void *)blk));
	cr_assert_null(kmm_find_vm_area((void *)(blk + BSZ - PG)));
	cr_assert_null(kmm_find_vm_area(large));
	cr_assert_null(kmm_find_vm_area(large + 99 * PG));
	/* remove_vm_area() is not for them either, and leaves them be. */
	cr_assert_null(kmm_remove_vm_area(large));
	cr_assert_null(kmm_remove_vm_area((void *)blk));
	check_valid("remove_vm_area refused");
	assert_maps(large, pages, 100, 1);
	assert_maps(small, pages, 1, 2);

	/* Unmapped, the large area is an unpurged one; the block stays. */
	kmm_vm_unmap_ram(large, 100);
	kmm_vm_unmap_ram(small, 1);
	kmm_report_vmallocinfo(info, sizeof(info));
	cr_assert_eq(count_lines(info, "vm_map_ram"), 1, "%s", info);
	snprintf(want, sizeof(want), "0x%016lx-0x%016lx %7ld unpurged vm_area\n",
		 (unsigned long)large, (unsigned long)large + 409600, 409600L);
	cr_assert_not_null(strstr(info, want), "no \"%s\" in:\n%s", want, info);
	kmm_vm_unmap_aliases();
	kmm_report_vmallocinfo(info, sizeof(info));
	cr_assert_null(strstr(info, "unpurged"), "%s", info);
	check_valid("the end");
	free(pages);
}

/* ---- strict mode, NULL pages, not booted --------------------------------- */

Test(vmram, strict_mode_unmaps_at_once)
{
	struct kmm_page **pages;
	unsigned char *a, *b, *big;

	kt_boot("kmm.mode=strict mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(100);
	a = kmm_vm_map_ram(pages, 4, -1);
	b = kmm_vm_map_ram(pages, 4, -1);
	big = kmm_vm_map_ram(pages, 100, -1);
	cr_assert_eq(block_of(a), block_of(b));
	assert_maps(a, pages, 4, 1);
	assert_maps(big, pages, 100, 2);
	kmm_vm_unmap_ram(a, 4);
	check_valid("unmap in strict mode");
	cr_assert_not(readable(a), "strict mode: a block mapping readable after its unmap");
	cr_assert_not(readable(a + 3 * PG));
	cr_assert(readable(b + 3 * PG), "strict mode: the neighbour went too");
	kmm_vm_unmap_ram(big, 100);
	check_valid("large unmap in strict mode");
	cr_assert_not(readable(big), "strict mode: a large mapping readable after its unmap");
	cr_assert_not(readable(big + 99 * PG));
	assert_maps(b, pages, 4, 3);
	kmm_vm_unmap_ram(b, 4);
	cr_assert_eq(kt_log_count("WARNING"), 0);
	free(pages);
}

Test(vmram, null_entry_in_pages_fails_the_map)
{
	struct kmm_vmap_block_stats st0, st;
	struct kmm_vmalloc_stats vst0, vst;
	struct kmm_page **pages;
	unsigned char *ok;

	kt_boot("mem=256M nr_cpus=2");
	cr_assert_eq(kmm_bind_cpu(0), 0);
	pages = pages_get(100);
	ok = kmm_vm_map_ram(pages, 1, -1);	/* the block exists */
	cr_assert_not_null(ok);
	kmm_vmap_block_get_stats(&st0);
	kmm_vmalloc_get_stats(&vst0);
	pages[2] = NULL;
	kt_log_clear();
	cr_assert_null(kmm_vm_map_ram(pages, 3, -1), "a NULL page was mapped");
	cr_assert_geq(kt_log_count("vmap: WARNING: no page at index 2"), 1);
	check_valid("small map with a NULL page");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, st0.used_pages, "the failed map left pages in use");
	cr_assert_eq(st.dirty_pages, st0.dirty_pages + 4, "its 4 pages are left dirty");
	cr_assert_eq(st.nr_blocks, 1);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_null(kmm_vmalloc_to_page((unsigned char *)ok + (1 + i) * PG));

	kt_log_clear();
	cr_assert_null(kmm_vm_map_ram(pages, 100, -1), "a NULL page was mapped (large)");
	cr_assert_geq(kt_log_count("no page at index 2"), 1);
	check_valid("large map with a NULL page");
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_busy, vst0.nr_busy, "the failed large map left a busy area");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, st0.used_pages);
	/* The next small map bumps past the dirty pages. */
	cr_assert_eq((unsigned long)kmm_vm_map_ram(pages + 3, 1, -1), (unsigned long)ok + 5 * PG);
	free(pages);
}

Test(vmram, outside_boot_nothing_happens)
{
	struct kmm_vmap_block_stats st;
	struct kmm_page **pages;
	unsigned char *a, *big;

	kt_boot("mem=64M nr_cpus=2");
	pages = pages_get(100);
	a = kmm_vm_map_ram(pages, 4, -1);
	big = kmm_vm_map_ram(pages, 100, -1);
	cr_assert(a && big);
	/* Shutdown drops the blocks still holding mappings, silently. */
	kt_log_clear();
	kmm_shutdown();
	cr_assert_eq(kt_log_count("WARNING"), 0, "%s", kt_log_find("WARNING"));
	cr_assert_eq(kt_log_count("BUG"), 0);
	cr_assert_eq(kt_log_count("vmap_block"), 0);
	cr_assert_not(kmm_booted());
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.bbmap_bits + st.nr_blocks + st.nr_made + st.nr_small + st.nr_large, 0);
	kt_log_clear();
	cr_assert_null(kmm_vm_map_ram(pages, 4, -1));
	kmm_vm_unmap_ram(a, 4);
	kmm_vm_unmap_ram(big, 100);
	kmm_vm_unmap_aliases();
	cr_assert_eq(kt_log_lines(), 0, "not booted, yet: %s", kt_log_find(""));
	free(pages);
	/* A second boot starts from nothing. */
	kt_boot("mem=64M nr_cpus=2");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.nr_made, 0);
	cr_assert_eq(st.bbmap_bits, BITS);
	pages = pages_get(4);
	a = kmm_vm_map_ram(pages, 4, -1);
	assert_maps(a, pages, 4, 1);
	check_valid("after a second boot");
	free(pages);
}

/* ---- 11. shadow mode: a random walk ---------------------------------------- */

struct live {
	unsigned long addr;
	unsigned count, first;	/* first: index into the page pool */
};

static unsigned long span_of(unsigned count)
{
	return (count <= KMM_VMAP_MAX_ALLOC ? pow2_up(count) : count) * PG;
}

Test(vmram, shadow_random_walk, .timeout = 120)
{
	enum { STEPS = 10000, MAXLIVE = 96, POOL = 160, MAXC = 80 };
	struct live live[MAXLIVE];
	struct kmm_vmap_block_stats st;
	struct kmm_vmalloc_stats vst0, vst;
	struct kmm_page **pool;
	unsigned long maps = 0, nlive = 0, expect_used = 0, aliases = 0;
	uint64_t seed = kt_seed("vmram.shadow_random_walk"), rs = seed;

	kt_boot("kmm.mode=shadow mem=64M nr_cpus=2");
	cr_assert(is_shadow());
	kmm_vmalloc_get_stats(&vst0);
	pool = pages_get(POOL);
	for (int step = 0; step < STEPS; step++) {
		unsigned r = (unsigned)(kt_rand(&rs) % 100);

		cr_assert_eq(kmm_bind_cpu((int)(kt_rand(&rs) % 2)), 0);
		if (nlive < MAXLIVE && (r < 52 || !nlive)) {
			struct live l;
			unsigned long a;

			l.count = 1 + (unsigned)(kt_rand(&rs) % MAXC);
			l.first = (unsigned)(kt_rand(&rs) % (POOL - l.count + 1));
			l.addr = (unsigned long)kmm_vm_map_ram(pool + l.first, l.count, -1);
			cr_assert_neq(l.addr, 0, "seed %llu step %d: vm_map_ram(%u) failed",
				      (unsigned long long)seed, step, l.count);
			a = l.addr;
			cr_assert(kmm_is_vmalloc_addr((void *)a));
			if (l.count <= KMM_VMAP_MAX_ALLOC) {
				cr_assert_eq(block_of((void *)a), block_of((void *)(a + span_of(l.count) - 1)),
					     "seed %llu step %d: a mapping crosses its block",
					     (unsigned long long)seed, step);
				expect_used += span_of(l.count) / PG;
			}
			for (unsigned long i = 0; i < nlive; i++)
				cr_assert(a + span_of(l.count) <= live[i].addr ||
					  live[i].addr + span_of(live[i].count) <= a,
					  "seed %llu step %d: [%#lx +%u) overlaps live [%#lx +%u)",
					  (unsigned long long)seed, step, a, l.count, live[i].addr,
					  live[i].count);
			for (unsigned i = 0; i < l.count; i++)
				cr_assert_eq(kmm_vmalloc_to_page((void *)(a + i * PG)), pool[l.first + i],
					     "seed %llu step %d: page %u of %u", (unsigned long long)seed,
					     step, i, l.count);
			live[nlive++] = l;
			maps++;
		} else if (r < 99) {
			unsigned long k = kt_rand(&rs) % nlive;
			struct live l = live[k];

			/* Still mapped as it was: nobody else wrote its PTEs. */
			cr_assert_eq(kmm_vmalloc_to_page((void *)(l.addr + (l.count - 1) * PG)),
				     pool[l.first + l.count - 1]);
			kmm_vm_unmap_ram((void *)l.addr, l.count);
			cr_assert_null(kmm_vmalloc_to_page((void *)l.addr));
			if (l.count <= KMM_VMAP_MAX_ALLOC)
				expect_used -= span_of(l.count) / PG;
			live[k] = live[--nlive];
		} else {
			kmm_vm_unmap_aliases();
			aliases++;
		}
		if (step % 100 == 99) {
			check_valid("a hundred random steps");
			kmm_vmap_block_get_stats(&st);
			cr_assert_eq(st.used_pages, expect_used, "seed %llu step %d",
				     (unsigned long long)seed, step);
			cr_assert_eq(st.nr_small + st.nr_large, maps);
			cr_assert_eq(st.used_pages + st.free_pages + st.dirty_pages,
				     st.nr_blocks * BITS, "seed %llu step %d: pages of the blocks",
				     (unsigned long long)seed, step);
		}
	}
	while (nlive) {
		nlive--;
		kmm_vm_unmap_ram((void *)live[nlive].addr, live[nlive].count);
	}
	kmm_bind_cpu(-1);
	check_valid("all unmapped");
	kmm_vm_unmap_aliases();
	check_valid("the end");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, 0);
	cr_assert_eq(st.free_pages + st.dirty_pages, st.nr_blocks * BITS);
	cr_assert_eq(st.nr_made, st.nr_blocks + st.nr_freed);
	/* What survives are blocks kept for their free pages (>= threshold). */
	cr_assert_geq(st.free_pages, st.nr_blocks * KMM_VMAP_PURGE_THRESHOLD);
	kmm_vmalloc_get_stats(&vst);
	cr_assert_eq(vst.nr_busy, vst0.nr_busy + st.nr_blocks, "areas left busy");
	cr_assert_eq(vst.nr_lazy, 0);
	cr_assert_eq(kt_log_count("WARNING"), 0);
	cr_assert_gt(st.nr_large, 0);
	cr_assert_gt(st.nr_freed + st.nr_purged, 0);
	fprintf(stderr, "vmram.shadow_random_walk: %lu maps, %lu aliases, blocks made %lu "
		"freed %lu purged %lu left %lu\n", maps, aliases, st.nr_made, st.nr_freed,
		st.nr_purged, st.nr_blocks);
	free(pool);
}

/* ---- 12. threads -------------------------------------------------------------- */

/*
 * TH_N threads, bound to CPU i % nr_cpus (two per CPU: a queue shared by
 * two threads), each keep up to TH_HELD mappings of random sizes (1..80:
 * both paths), write a stamp through each and verify it through the
 * direct map.  A quarter of the mappings are handed to whichever thread
 * takes them next from a shared exchange, which verifies and unmaps them:
 * unmaps from other CPUs race the owner CPU's allocations in the same
 * block.  Thread 0 also calls vm_unmap_aliases() every 64 steps.
 */
#define TH_N 8
#define TH_HELD 4
#define TH_MAXC 80
#define TH_ITERS (KT_TSAN ? 500 : 3000)	/* TSan: ~20x slower per map */
#define TH_XCHG 32

struct slot {
	unsigned char *mem;
	unsigned count;
	uint64_t tag;
	struct kmm_page **pages;	/* TH_MAXC pages of its own */
};

static struct {
	pthread_mutex_t lock;
	struct slot v[TH_XCHG];
	int n;
} xchg = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct worker {
	pthread_t th;
	int id;
	uint64_t seed;
	int errors;
	char msg[256];
	unsigned long maps, unmaps, handed, taken, aliases;
	struct slot slot[TH_HELD];
	uint64_t last_tag[TH_HELD];	/* what each slot's pages last held */
	unsigned last_count[TH_HELD];
};

/* A worker's first error (kmm_test.h). */
#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

/* Pages for a slot, from any thread (no Criterion assertion here). */
static struct kmm_page **th_pages(struct worker *w)
{
	struct kmm_page **v = calloc(TH_MAXC, sizeof(*v));

	if (!v) {
		wfail(w, "thread %d: out of host memory", w->id);
		return NULL;
	}
	for (int i = 0; i < TH_MAXC; i++) {
		v[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		if (!v[i]) {
			wfail(w, "thread %d: page allocation failed", w->id);
			while (i--)
				kmm___free_pages(v[i], 0);
			free(v);
			return NULL;
		}
	}
	return v;
}

/* Verify @s both ways and unmap it. */
static void slot_unmap(struct worker *w, struct slot *s, const char *how)
{
	if (!stamp_ok_at(s->mem, s->count, s->tag))
		wfail(w, "thread %d (%s): %u pages at %p lost their bytes (through the mapping)",
		      w->id, how, s->count, (void *)s->mem);
	if (!stamp_ok_direct(s->pages, s->count, s->tag))
		wfail(w, "thread %d (%s): %u pages at %p lost their bytes (direct map)", w->id,
		      how, s->count, (void *)s->mem);
	if (kmm_vmalloc_to_page(s->mem) != s->pages[0])
		wfail(w, "thread %d (%s): %p no longer maps its first page", w->id, how,
		      (void *)s->mem);
	kmm_vm_unmap_ram(s->mem, s->count);
	s->mem = NULL;
}

static void worker_unmap(struct worker *w, int k)
{
	struct slot *s = &w->slot[k];

	w->last_tag[k] = s->tag;
	w->last_count[k] = s->count;
	slot_unmap(w, s, "own");
	w->unmaps++;
}

/* Hand slot @k's mapping (and its pages) to the exchange. */
static bool worker_hand_over(struct worker *w, int k)
{
	struct kmm_page **fresh;
	bool done = false;

	pthread_mutex_lock(&xchg.lock);
	if (xchg.n < TH_XCHG) {
		xchg.v[xchg.n++] = w->slot[k];
		done = true;
	}
	pthread_mutex_unlock(&xchg.lock);
	if (!done)
		return false;
	w->handed++;
	w->last_count[k] = 0;
	w->slot[k].mem = NULL;
	fresh = th_pages(w);
	w->slot[k].pages = fresh;
	return true;
}

static void worker_take(struct worker *w)
{
	struct slot s;
	bool got = false;

	pthread_mutex_lock(&xchg.lock);
	if (xchg.n) {
		s = xchg.v[--xchg.n];
		got = true;
	}
	pthread_mutex_unlock(&xchg.lock);
	if (!got)
		return;
	slot_unmap(w, &s, "taken");
	for (int i = 0; i < TH_MAXC; i++)
		kmm___free_pages(s.pages[i], 0);
	free(s.pages);
	w->taken++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = w->seed;

	if (kmm_bind_cpu(w->id % (int)kmm_machine.nr_cpus))
		wfail(w, "kmm_bind_cpu(%d) failed", w->id % (int)kmm_machine.nr_cpus);
	for (int i = 0; i < TH_ITERS && !w->errors; i++) {
		int k = (int)(kt_rand(&rs) % TH_HELD);
		struct slot *s = &w->slot[k];

		if (w->id == 0 && i % 64 == 63) {
			kmm_vm_unmap_aliases();
			w->aliases++;
		}
		if (kt_rand(&rs) % 4 == 0)
			worker_take(w);
		if (s->mem) {
			if (kt_rand(&rs) % 4 == 0 && worker_hand_over(w, k))
				continue;
			worker_unmap(w, k);
			continue;
		}
		if (!s->pages)
			break;
		s->count = 1 + (unsigned)(kt_rand(&rs) % TH_MAXC);
		s->tag = ((uint64_t)(w->id + 1) << 48) | ((uint64_t)i << 8) | (uint64_t)k;
		s->mem = kmm_vm_map_ram(s->pages, s->count, -1);
		if (!s->mem) {
			wfail(w, "thread %d: vm_map_ram(%u) failed", w->id, s->count);
			continue;
		}
		w->maps++;
		if (kmm_vmalloc_to_page(s->mem + (size_t)(s->count - 1) * PG) !=
		    s->pages[s->count - 1])
			wfail(w, "thread %d: %p maps the wrong page", w->id, (void *)s->mem);
		stamp_at(s->mem, s->count, s->tag);
		if (!stamp_ok_direct(s->pages, s->count, s->tag))
			wfail(w, "thread %d: bytes written at %p not in the pages", w->id,
			      (void *)s->mem);
	}
	for (int k = 0; k < TH_HELD; k++)
		if (w->slot[k].mem)
			worker_unmap(w, k);
	kmm_bind_cpu(-1);
	return NULL;
}

Test(vmram, threads_map_write_unmap, .timeout = 240)
{
	static struct worker w[TH_N];
	struct kmm_vmap_block_stats st;
	uint64_t seed = kt_seed("vmram.threads");
	unsigned long maps = 0, unmaps = 0, handed = 0, taken = 0;
	double t0;

	kt_boot("mem=256M nr_cpus=4");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < TH_N; i++) {
		w[i].id = i;
		w[i].seed = seed + (uint64_t)i * 7919;
		for (int k = 0; k < TH_HELD; k++)
			w[i].slot[k].pages = pages_get(TH_MAXC);
	}
	t0 = kt_now();
	for (int i = 0; i < TH_N; i++)
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < TH_N; i++)
		pthread_join(w[i].th, NULL);
	/* What is left in the exchange, the main thread takes. */
	while (xchg.n) {
		static struct worker main_w;

		worker_take(&main_w);
		cr_assert_eq(main_w.errors, 0, "%s", main_w.msg);
		taken++;
	}
	for (int i = 0; i < TH_N; i++) {
		cr_assert_eq(w[i].errors, 0, "%s (%d errors, seed %llu)", w[i].msg, w[i].errors,
			     (unsigned long long)seed);
		maps += w[i].maps;
		unmaps += w[i].unmaps;
		handed += w[i].handed;
		taken += w[i].taken;
		/* The bytes each slot's pages last held are still there. */
		for (int k = 0; k < TH_HELD; k++)
			if (w[i].last_count[k])
				cr_assert(stamp_ok_direct(w[i].slot[k].pages, w[i].last_count[k],
							  w[i].last_tag[k]),
					  "thread %d slot %d: pages changed after the unmap", i, k);
	}
	cr_assert_eq(handed, taken);
	cr_assert_eq(maps, unmaps + taken);
	cr_assert_gt(maps, TH_N * (unsigned long)TH_ITERS / 4);
	cr_assert_gt(taken, maps / 20, "few handovers: %lu of %lu", taken, maps);
	cr_assert_gt(w[0].aliases, 0);
	cr_assert_eq(kt_log_count("WARNING"), 0, "%s", kt_log_find("WARNING"));
	cr_assert_eq(kt_log_count("BUG"), 0);
	kmm_vm_unmap_aliases();
	check_valid("after the threads");
	kmm_vmap_block_get_stats(&st);
	cr_assert_eq(st.used_pages, 0);
	cr_assert_eq(st.nr_small + st.nr_large, maps);
	cr_assert_eq(st.nr_made - st.nr_freed, st.nr_blocks);
	fprintf(stderr, "vmram.threads: %lu maps (%lu handed over) in %.2f s, blocks made %lu "
		"freed %lu purged %lu\n", maps, taken, kt_now() - t0, st.nr_made, st.nr_freed,
		st.nr_purged);
	for (int i = 0; i < TH_N; i++)
		for (int k = 0; k < TH_HELD; k++)
			free(w[i].slot[k].pages);
}

/* ---- failures inside vm_map_ram() ------------------------------------------ */

/*
 * Fail the Nth call at @attr (N = 1, 2, ...) during vm_map_ram(@count) on a
 * fresh machine (no page table of the vmalloc space yet), until a map goes
 * through without a fault.  A failed map returns NULL and leaves no page,
 * no used block page and no busy area but (at most) its block; a retry
 * works.  Returns the number of failed maps.
 */
static int fail_nth_during_map(struct kmm_fault_attr *attr, unsigned count)
{
	int failed = 0;

	for (long n = 1; n < 64; n++) {
		struct kmm_vmap_block_stats bst;
		struct kmm_vmalloc_stats vst0, vst;
		struct kmm_page **pages;
		unsigned long inj0;
		uint64_t base;
		unsigned char *mem;
		bool injected;

		kt_shutdown();
		kt_boot("mem=64M nr_cpus=2");
		pages = pages_get(count);
		kmm_drain_all_pages(NULL);
		base = kmm_nr_free_pages() + (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages);
		kmm_vmalloc_get_stats(&vst0);
		inj0 = atomic_load(&attr->injected);
		kmm_fault_set_nth(attr, n);
		mem = kmm_vm_map_ram(pages, count, -1);
		injected = atomic_load(&attr->injected) != inj0;
		kmm_fault_set_nth(attr, 0);
		kmm_fault_reset(attr);
		check_valid("vm_map_ram under fault injection");
		if (mem) {
			assert_maps(mem, pages, count, (uint64_t)n);
			kmm_vm_unmap_ram(mem, count);
			check_valid("unmap");
			free(pages);
			if (!injected) {
				fprintf(stderr, "vmram: %s, vm_map_ram(%u): %d of %ld faults failed the map\n",
					attr->name, count, failed, n - 1);
				return failed;
			}
			continue;
		}
		cr_assert(injected, "%s nth=%ld: vm_map_ram(%u) failed without a fault", attr->name,
			  n, count);
		failed++;
		kmm_vmap_block_get_stats(&bst);
		cr_assert_eq(bst.used_pages, 0, "%s nth=%ld: a failed map left used pages",
			     attr->name, n);
		kmm_vmalloc_get_stats(&vst);
		cr_assert_leq(vst.nr_busy, vst0.nr_busy + bst.nr_blocks,
			      "%s nth=%ld: a failed map left a busy area", attr->name, n);
		kmm_drain_all_pages(NULL);
		cr_assert_eq(kmm_nr_free_pages() + (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages),
			     base, "%s nth=%ld: pages leaked", attr->name, n);
		mem = kmm_vm_map_ram(pages, count, -1);
		cr_assert_not_null(mem, "%s nth=%ld: the retry failed", attr->name, n);
		assert_maps(mem, pages, count, (uint64_t)n);
		kmm_vm_unmap_ram(mem, count);
		check_valid("retry");
		free(pages);
	}
	cr_assert_fail("%s: vm_map_ram(%u) kept hitting faults", attr->name, count);
	return failed;
}

Test(vmram, page_table_allocation_failure)
{
	kt_boot("mem=64M nr_cpus=2");
	/* PUD, PMD and PTE tables: each can fail, for both paths. */
	cr_assert_geq(fail_nth_during_map(&kmm_fail_page_alloc, 4), 3);
	cr_assert_geq(fail_nth_during_map(&kmm_fail_page_alloc, 100), 3);
}

Test(vmram, metadata_allocation_failure)
{
	kt_boot("mem=64M nr_cpus=2");
	/* The vmap_block and its vmap_area; the large path's vmap_area. */
	cr_assert_geq(fail_nth_during_map(&kmm_fail_objcache, 4), 2);
	cr_assert_geq(fail_nth_during_map(&kmm_fail_objcache, 100), 1);
}
