/* SPDX-License-Identifier: MIT */
/*
 * test_vmalloc.c - kernel virtual address space: vmalloc, vzalloc,
 * vmalloc_user, vmalloc_32, vmap, vmap_pfn, get_vm_area, alloc_vm_area,
 * vfree(_atomic), the lazy purge and its pools, kvmalloc and
 * /proc/vmallocinfo (include/kmm/vmalloc.h, src/core/vmalloc.c).
 *
 * Real mode proves every mapping with real loads and stores: bytes written
 * through a vmalloc address are read back through the direct map
 * (page_address(vmalloc_to_page(addr))) and the other way round; guard
 * pages and freed ranges are probed under a SIGSEGV handler that
 * siglongjmp()s back (every test runs in its own process).
 *
 * Refused calls must leave everything as it was: the tests compare a
 * snapshot (free pages after a drain, page-table pages, the vmalloc
 * statistics) before and after, and run kmm_vmalloc_validate(),
 * kmm_page_alloc_validate() and kmm_pgtable_validate() after each step.
 *
 * /proc/vmallocinfo names the caller as "symbol+0xoff/0xlen": this program
 * must be linked with -rdynamic (meson: export_dynamic: true), and the
 * callers it names are the non-static kt_vi_* functions below (static
 * functions are not in the dynamic symbol table).
 *
 * Seed of the randomized tests: KMM_TEST_SEED=<n>, else the clock; printed.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/objcache.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#include "kmm_test.h"

#define PG KMM_PAGE_SIZE
#define KIB (1UL << 10)
#define MIB (1UL << 20)
#define GIB (1UL << 30)

TestSuite(vmalloc, .fini = kt_fini, .timeout = 120);

/* ---- fault probes (tests/kmm_test.c) ------------------------------------- */

static bool readable(const void *p)
{
	return kt_probe_read(p, NULL);
}

static bool writable(void *p)
{
	return kt_probe_write(p, -1);
}

/* ---- snapshots and validation ------------------------------------------- */

static const char *first_log(void)
{
	const char *l = kt_log_find("validate");

	if (!l)
		l = kt_log_find("");
	return l ? l : "(no log line)";
}

static void check_valid(const char *what)
{
	int r = kmm_vmalloc_validate();

	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_vmalloc_validate() = %d after %s: %s", r, what, first_log());
	r = kmm_pgtable_validate(&kmm_init_mm, false, 0, 0);
	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_pgtable_validate() = %d after %s: %s", r, what, first_log());
	kt_assert_valid(what);
}

static long nr_tables(void)
{
	return atomic_load(&kmm_init_mm.pgtables_pages);
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kmm_nr_free_pages();
}

/* Pages the allocator holds plus page-table pages: constant while the
 * test allocates nothing else (tables, once made, stay). */
static uint64_t free_plus_tables(void)
{
	return free_now() + (uint64_t)nr_tables();
}

struct vsnap {
	uint64_t free;
	long tables;
	struct kmm_vmalloc_stats st;
};

static void vsnap_take(struct vsnap *s)
{
	memset(s, 0, sizeof(*s));
	s->free = free_now();
	s->tables = nr_tables();
	kmm_vmalloc_get_stats(&s->st);
}

static void vsnap_assert_same(const struct vsnap *a, const char *what)
{
	struct vsnap b;

	vsnap_take(&b);
	cr_assert_eq(b.free, a->free, "%s: free pages %llu -> %llu", what,
		     (unsigned long long)a->free, (unsigned long long)b.free);
	cr_assert_eq(b.tables, a->tables, "%s: page-table pages %ld -> %ld", what,
		     a->tables, b.tables);
#define SAME(f) cr_assert_eq(b.st.f, a->st.f, "%s: " #f " %lu -> %lu", what, a->st.f, b.st.f)
	SAME(nr_busy);
	SAME(nr_lazy);
	SAME(nr_lazy_pages);
	SAME(nr_pooled);
	SAME(nr_free_areas);
	SAME(nr_purges);
	SAME(nr_pool_hits);
	SAME(vmalloc_used_pages);
#undef SAME
	check_valid(what);
}

/* After everything was freed: purge, then every page is back. */
static void assert_no_page_leak(uint64_t free_plus_tables0, const char *what)
{
	kmm_vm_unmap_aliases();
	cr_assert_eq(free_plus_tables(), free_plus_tables0, "%s: %lld pages leaked", what,
		     (long long)free_plus_tables0 - (long long)free_plus_tables());
}

/* ---- byte patterns ------------------------------------------------------- */

static uint64_t word_of(uint64_t tag, unsigned long page, unsigned slot)
{
	return (tag * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)page << 20) ^ slot;
}

/* Three words per page: first, middle, last. */
static size_t slot_off(unsigned slot)
{
	return slot == 0 ? 0 : slot == 1 ? PG / 2 : PG - 8;
}

static void stamp(void *addr, unsigned long npages, uint64_t tag)
{
	for (unsigned long i = 0; i < npages; i++)
		for (unsigned s = 0; s < 3; s++)
			*(volatile uint64_t *)((char *)addr + i * PG + slot_off(s)) =
				word_of(tag, i, s);
}

/* The stamp, read through @addr and through the direct map. */
static bool stamp_ok(const void *addr, unsigned long npages, uint64_t tag,
		     char *why, size_t whylen)
{
	for (unsigned long i = 0; i < npages; i++) {
		const char *v = (const char *)addr + i * PG;
		struct kmm_page *pg = kmm_vmalloc_to_page(v);
		const char *d;

		if (!pg) {
			snprintf(why, whylen, "page %lu of %p has no page", i, addr);
			return false;
		}
		d = kmm_page_address(pg);
		for (unsigned s = 0; s < 3; s++) {
			uint64_t want = word_of(tag, i, s);

			if (*(const volatile uint64_t *)(v + slot_off(s)) != want ||
			    *(const volatile uint64_t *)(d + slot_off(s)) != want) {
				snprintf(why, whylen, "page %lu slot %u of %p: %#llx / %#llx, want %#llx",
					 i, s, addr,
					 (unsigned long long)*(const uint64_t *)(v + slot_off(s)),
					 (unsigned long long)*(const uint64_t *)(d + slot_off(s)),
					 (unsigned long long)want);
				return false;
			}
		}
	}
	return true;
}

static void assert_stamp(const void *addr, unsigned long npages, uint64_t tag)
{
	char why[256];

	cr_assert(stamp_ok(addr, npages, tag, why, sizeof(why)), "%s", why);
}

static bool all_zero(const void *addr, size_t len)
{
	const uint64_t *w = addr;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Write through the VA at several offsets and read through the direct
 * map of vmalloc_to_page(), and the other way round.
 */
static void assert_both_ways(void *addr, size_t size)
{
	const size_t offs[] = { 0, 1, 7, PG - 1, PG, PG + 123, size / 2, size - 8, size - 1 };
	unsigned char *a = addr;

	for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		size_t off = offs[k];
		struct kmm_page *pg;
		unsigned char *d;

		if (off >= size)
			continue;
		pg = kmm_vmalloc_to_page(a + off);
		cr_assert_not_null(pg, "no page behind %p+%zu", addr, off);
		cr_assert_eq(kmm_vmalloc_to_pfn(a + off), kmm_page_to_pfn(pg));
		d = (unsigned char *)kmm_page_address(pg) + (off & (PG - 1));
		a[off] = (unsigned char)(0x40 + k);
		cr_assert_eq(*d, (unsigned char)(0x40 + k), "VA write at +%zu not in the page", off);
		*d = (unsigned char)(0x80 + k);
		cr_assert_eq(a[off], (unsigned char)(0x80 + k), "page write at +%zu not at the VA", off);
	}
}

/* ---- callers named in /proc/vmallocinfo --------------------------------- */

/*
 * Non-static and never inlined or tail-called, so that the caller recorded
 * by kmm (__builtin_return_address(0) inside kmm) lies in them and dladdr()
 * finds their names.
 */
#define KT_CALLER __attribute__((noinline, used))
#define KT_NO_TAILCALL() __asm__ volatile("" ::: "memory")

KT_CALLER void *kt_vi_vmalloc(unsigned long size);
KT_CALLER void *kt_vi_vmalloc_user(unsigned long size);
KT_CALLER void *kt_vi_vmap(struct kmm_page **pages, unsigned n);
KT_CALLER struct kmm_vm_struct *kt_vi_alloc_vm_area(size_t size);
KT_CALLER void *kt_vi_vmalloc_big(unsigned long size);

KT_CALLER void *kt_vi_vmalloc(unsigned long size)
{
	void *p = kmm_vmalloc(size);

	KT_NO_TAILCALL();
	return p;
}

KT_CALLER void *kt_vi_vmalloc_user(unsigned long size)
{
	void *p = kmm_vmalloc_user(size);

	KT_NO_TAILCALL();
	return p;
}

KT_CALLER void *kt_vi_vmap(struct kmm_page **pages, unsigned n)
{
	void *p = kmm_vmap(pages, n, KMM_VM_MAP, KMM_PAGE_KERNEL);

	KT_NO_TAILCALL();
	return p;
}

KT_CALLER struct kmm_vm_struct *kt_vi_alloc_vm_area(size_t size)
{
	struct kmm_vm_struct *a = kmm_alloc_vm_area(size, NULL);

	KT_NO_TAILCALL();
	return a;
}

KT_CALLER void *kt_vi_vmalloc_big(unsigned long size)
{
	void *p = kmm_vmalloc(size);

	KT_NO_TAILCALL();
	return p;
}

/* ---- the vmalloc family ---------------------------------------------------- */

typedef void *(*valloc_fn)(unsigned long size);

static void *do_vmalloc(unsigned long s) { return kmm_vmalloc(s); }
static void *do_vzalloc(unsigned long s) { return kmm_vzalloc(s); }
static void *do_vmalloc_user(unsigned long s) { return kmm_vmalloc_user(s); }
static void *do_vmalloc_32(unsigned long s) { return kmm_vmalloc_32(s); }
static void *do_vmalloc_32_user(unsigned long s) { return kmm_vmalloc_32_user(s); }
static void *do___vmalloc(unsigned long s) { return kmm___vmalloc(s, KMM_GFP_KERNEL); }
static void *do___vmalloc_zero(unsigned long s)
{
	return kmm___vmalloc(s, KMM_GFP_KERNEL | KMM___GFP_ZERO);
}
static void *do_vmalloc_node0(unsigned long s) { return kmm_vmalloc_node(s, 0); }
static void *do_vzalloc_node0(unsigned long s) { return kmm_vzalloc_node(s, 0); }

static const struct variant {
	const char *name;
	valloc_fn fn;
	bool zeroed;
	bool user;
	bool dma32;
} variants[] = {
	{ "vmalloc", do_vmalloc, false, false, false },
	{ "vzalloc", do_vzalloc, true, false, false },
	{ "vmalloc_user", do_vmalloc_user, true, true, false },
	{ "vmalloc_32", do_vmalloc_32, false, false, true },
	{ "vmalloc_32_user", do_vmalloc_32_user, true, true, true },
	{ "__vmalloc", do___vmalloc, false, false, false },
	{ "__vmalloc(__GFP_ZERO)", do___vmalloc_zero, true, false, false },
	{ "vmalloc_node", do_vmalloc_node0, false, false, false },
	{ "vzalloc_node", do_vzalloc_node0, true, false, false },
};
#define NR_VARIANTS (sizeof(variants) / sizeof(variants[0]))

Test(vmalloc, every_variant_maps_real_pages)
{
	kt_boot("mem=64M nr_cpus=2");
	uint64_t base = free_plus_tables();
	void *ptrs[NR_VARIANTS];
	unsigned long used = 0;

	for (size_t v = 0; v < NR_VARIANTS; v++) {
		/* 5 pages and a bit: rounded up to 6. */
		unsigned long size = 5 * PG + 100 + v;
		struct kmm_vm_struct *vm;
		struct kmm_vmalloc_stats st;
		unsigned char *p = variants[v].fn(size);

		cr_assert_not_null(p, "%s failed", variants[v].name);
		ptrs[v] = p;
		cr_assert_eq((unsigned long)p & (PG - 1), 0, "%s: not page aligned", variants[v].name);
		cr_assert(kmm_is_vmalloc_addr(p));
		cr_assert_geq((unsigned long)p, kmm_machine.vmalloc_start);
		cr_assert_lt((unsigned long)p + 7 * PG, kmm_machine.vmalloc_end);
		vm = kmm_find_vm_area(p);
		cr_assert_not_null(vm, "%s: no vm_struct", variants[v].name);
		cr_assert_eq(vm->addr, (void *)p);
		cr_assert_eq(vm->nr_pages, 6, "%s: %u pages", variants[v].name, vm->nr_pages);
		cr_assert_eq(vm->size, 7 * PG, "%s: size %lu (6 pages + guard)", variants[v].name,
			     vm->size);
		cr_assert_eq(kmm_get_vm_area_size(vm), 6 * PG);
		cr_assert_eq(vm->requested_size, size);
		cr_assert(vm->flags & KMM_VM_ALLOC);
		cr_assert_not(vm->flags & KMM_VM_UNINITIALIZED);
		cr_assert_eq((vm->flags & KMM_VM_USERMAP) != 0, variants[v].user,
			     "%s: flags %#lx", variants[v].name, vm->flags);
		cr_assert_eq(kmm_find_vm_area(p + 6 * PG + 17), vm, "the guard page is the area's");
		for (unsigned i = 0; i < 6; i++) {
			struct kmm_page *pg = kmm_vmalloc_to_page(p + i * PG);

			cr_assert_eq(pg, vm->pages[i], "%s: page %u", variants[v].name, i);
			cr_assert(kmm_page_test(pg, KMM_PG_vmalloc));
			cr_assert_eq(kmm_page_ref_count(pg), 1);
			if (variants[v].dma32)
				cr_assert_lt(kmm_page_to_pfn(pg), 0x100000);
		}
		if (variants[v].zeroed)
			cr_assert(all_zero(p, 6 * PG), "%s: not zeroed", variants[v].name);
		/* The whole rounded size is usable; the guard page is not. */
		memset(p, (int)v + 1, 6 * PG);
		assert_both_ways(p, 6 * PG);
		cr_assert(readable(p + 6 * PG - 1));
		cr_assert_not(readable(p + 6 * PG), "%s: guard page mapped", variants[v].name);
		cr_assert_null(kmm_vmalloc_to_page(p + 6 * PG));
		cr_assert_eq(kmm_vmalloc_to_pfn(p + 6 * PG), 0);
		used += 6;
		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.vmalloc_used_pages, used);
		cr_assert_eq(st.nr_busy, v + 1);
		check_valid(variants[v].name);
	}
	/* Areas never overlap, guards included. */
	for (size_t i = 0; i < NR_VARIANTS; i++)
		for (size_t j = 0; j < NR_VARIANTS; j++)
			if (i != j)
				cr_assert((char *)ptrs[i] + 7 * PG <= (char *)ptrs[j] ||
					  (char *)ptrs[j] + 7 * PG <= (char *)ptrs[i]);
	for (size_t v = 0; v < NR_VARIANTS; v++) {
		struct kmm_vmalloc_stats st;

		kmm_vfree(ptrs[v]);
		kmm_vmalloc_get_stats(&st);
		used -= 6;
		cr_assert_eq(st.vmalloc_used_pages, used);
		cr_assert_null(kmm_find_vm_area(ptrs[v]));
	}
	check_valid("freed");
	assert_no_page_leak(base, "variants");
}

Test(vmalloc, sizes_round_up_to_pages)
{
	kt_boot("mem=64M nr_cpus=2");
	static const struct { unsigned long size, pages; } c[] = {
		{ 1, 1 }, { 100, 1 }, { PG - 1, 1 }, { PG, 1 }, { PG + 1, 2 },
		{ 3 * PG - 1, 3 }, { 64 * KIB, 16 }, { 64 * KIB + 1, 17 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		unsigned char *p = kmm_vmalloc(c[i].size);
		struct kmm_vm_struct *vm;

		cr_assert_not_null(p);
		vm = kmm_find_vm_area(p);
		cr_assert_eq(vm->nr_pages, c[i].pages, "size %lu", c[i].size);
		cr_assert_eq(vm->size, (c[i].pages + 1) * PG);
		p[c[i].pages * PG - 1] = 1;
		cr_assert_not(readable(p + c[i].pages * PG), "size %lu: guard mapped", c[i].size);
		kmm_vfree(p);
	}
	check_valid("rounding");
}

Test(vmalloc, zeroed_variants_zero_dirty_pages)
{
	/* init_on_alloc=0: plain vmalloc shows the dirt, proving the zeroing
	 * of the others is theirs. */
	kt_boot("mem=64M nr_cpus=2 init_on_alloc=0 init_on_free=0");
	struct kt_blocks b = { 0 };
	uint64_t base = free_plus_tables();
	void *pre = kmm_vmalloc(PG);	/* page tables for the area exist */

	cr_assert_not_null(pre);
	/* Dirty every free page (watermarks down to 0 so that the reserves
	 * are taken too), then give them all back. */
	{
		uint64_t min_kb = kmm_machine.min_free_kbytes;

		kt_set_min_free_kbytes(0);
		kt_fill(&b, KMM_GFP_KERNEL | KMM___GFP_HIGH, 10);
		cr_assert_gt(b.n, 0);
		cr_assert_lt(free_now(), 64, "memory was not exhausted");
		for (size_t i = 0; i < b.n; i++)
			kt_block_fill(b.v[i].page, b.v[i].order, 0xa5);
		kt_blocks_free_all(&b);
		kt_blocks_destroy(&b);
		kt_set_min_free_kbytes(min_kb);
	}

	{
		unsigned char *p = kmm_vmalloc(16 * PG);

		cr_assert_not_null(p);
		cr_assert_eq(p[0], 0xa5, "the pages were not dirty: the test proves nothing");
		cr_assert_eq(p[16 * PG - 1], 0xa5);
		kmm_vfree(p);
	}
	for (size_t v = 0; v < NR_VARIANTS; v++) {
		unsigned char *p;

		if (!variants[v].zeroed)
			continue;
		p = variants[v].fn(16 * PG + 5);
		cr_assert_not_null(p, "%s", variants[v].name);
		cr_assert(all_zero(p, 17 * PG), "%s returned dirty memory", variants[v].name);
		memset(p, 0xa5, 17 * PG);
		kmm_vfree(p);
	}
	kmm_vfree(pre);
	check_valid("zeroing");
	assert_no_page_leak(base, "zeroing");
}

Test(vmalloc, vmalloc_32_stays_below_4g, .timeout = 60)
{
	/* Above 4 GiB of memory, so that ZONE_NORMAL exists and the test
	 * can tell the zones apart. */
	kt_boot("mem=5G nr_cpus=2");
	unsigned char *n = kmm_vmalloc(32 * PG);
	unsigned char *d = kmm_vmalloc_32(32 * PG);
	unsigned char *du = kmm_vmalloc_32_user(32 * PG);

	cr_assert_not_null(n);
	cr_assert_not_null(d);
	cr_assert_not_null(du);
	cr_assert_geq(kmm_vmalloc_to_pfn(n), 0x100000, "plain vmalloc came from below 4G");
	for (unsigned i = 0; i < 32; i++) {
		cr_assert_lt(kmm_vmalloc_to_pfn(d + i * PG), 0x100000);
		cr_assert_lt(kmm_vmalloc_to_pfn(du + i * PG), 0x100000);
	}
	cr_assert(kmm_find_vm_area(du)->flags & KMM_VM_USERMAP);
	cr_assert(all_zero(du, 32 * PG));
	assert_both_ways(d, 32 * PG);
	kmm_vfree(n);
	kmm_vfree(d);
	kmm_vfree(du);
	check_valid("vmalloc_32");
}

Test(vmalloc, vmalloc_node_prefers_the_node)
{
	kt_boot("mem=128M numa=2 nr_cpus=2");
	for (int nid = 0; nid < 2; nid++) {
		unsigned char *p = kmm_vmalloc_node(8 * PG, nid);
		unsigned char *z = kmm_vzalloc_node(8 * PG, nid);

		cr_assert_not_null(p);
		cr_assert_not_null(z);
		cr_assert(all_zero(z, 8 * PG));
		for (unsigned i = 0; i < 8; i++) {
			cr_assert_eq(kmm_page_nid(kmm_vmalloc_to_page(p + i * PG)), nid);
			cr_assert_eq(kmm_page_nid(kmm_vmalloc_to_page(z + i * PG)), nid);
		}
		assert_both_ways(p, 8 * PG);
		kmm_vfree(p);
		kmm_vfree(z);
	}
	check_valid("vmalloc_node");
}

Test(vmalloc, refusals_change_nothing)
{
	kt_boot("mem=64M nr_cpus=2");
	struct vsnap s;
	void *keep = kmm_vmalloc(3 * PG);	/* something live to protect */

	cr_assert_not_null(keep);
	stamp(keep, 3, 77);
	vsnap_take(&s);

	kt_log_clear();
	cr_assert_null(kmm_vmalloc(0));
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "zero"), 1, "no warning for size 0");
	vsnap_assert_same(&s, "vmalloc(0)");
	cr_assert_null(kmm_vzalloc(0));
	cr_assert_null(kmm_vmalloc_user(0));
	cr_assert_null(kmm___vmalloc(0, KMM_GFP_KERNEL));
	vsnap_assert_same(&s, "zero-sized variants");

	kt_log_clear();
	cr_assert_null(kmm_vmalloc((kmm_machine.totalram_pages + 1) * PG));
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vmalloc error"), 1);
	cr_assert_not_null(kt_log_find("exceeds total pages"));
	vsnap_assert_same(&s, "more than total RAM");
	cr_assert_null(kmm_vmalloc(~0UL - 5));
	cr_assert_null(kmm_vmalloc(1UL << 62));
	vsnap_assert_same(&s, "absurd sizes");

	/* __GFP_NOWARN silences the allocation-failure warning. */
	kt_log_clear();
	cr_assert_null(kmm___vmalloc((kmm_machine.totalram_pages + 1) * PG,
				     KMM_GFP_KERNEL | KMM___GFP_NOWARN));
	cr_assert_eq(kt_log_count("vmalloc error"), 0);
	vsnap_assert_same(&s, "NOWARN");

	/* Alignment that is not a power of two. */
	static const unsigned long bad_align[] = { 0, 3, PG + 1, 3 * PG, 12345 };

	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		cr_assert_null(kmm___vmalloc_node_range(PG, bad_align[i], kmm_vmalloc_start(),
							kmm_vmalloc_end(), KMM_GFP_KERNEL,
							KMM_PAGE_KERNEL, 0, -1, NULL),
			       "align %#lx accepted", bad_align[i]);
		vsnap_assert_same(&s, "bad alignment");
	}
	/* A range outside the kernel VA space. */
	kt_log_clear();
	cr_assert_null(kmm___vmalloc_node_range(PG, 1, kmm_vmalloc_start() - GIB,
						kmm_vmalloc_start(), KMM_GFP_KERNEL,
						KMM_PAGE_KERNEL, 0, -1, NULL));
	cr_assert_null(kmm___vmalloc_node_range(PG, 1, kmm_vmalloc_start(),
						kmm_vmalloc_end() + GIB, KMM_GFP_KERNEL,
						KMM_PAGE_KERNEL, 0, -1, NULL));
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, ""), 1);
	vsnap_assert_same(&s, "range outside the VA space");

	assert_stamp(keep, 3, 77);
	kmm_vfree(keep);
	check_valid("end");
}

Test(vmalloc, out_of_memory_leaves_nothing)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kt_blocks b = { 0 };
	uint64_t base = free_plus_tables();
	void *pre = kmm_vmalloc(PG), *p;
	struct kmm_vmalloc_stats st0, st;

	cr_assert_not_null(pre);
	kmm_vmalloc_get_stats(&st0);
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	kt_log_clear();
	p = kmm_vmalloc(64 * KIB);
	cr_assert_null(p, "vmalloc succeeded with memory exhausted");
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vmalloc error"), 1);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.vmalloc_used_pages, st0.vmalloc_used_pages);
	cr_assert_eq(st.nr_busy, st0.nr_busy);
	check_valid("failed vmalloc");
	kt_blocks_free_all(&b);
	kt_blocks_destroy(&b);
	/* Memory is back: the same call works. */
	p = kmm_vmalloc(64 * KIB);
	cr_assert_not_null(p);
	kmm_vfree(p);
	kmm_vfree(pre);
	check_valid("end");
	assert_no_page_leak(base, "OOM");
}

/* ---- vfree ------------------------------------------------------------------ */

Test(vmalloc, bad_vfree_changes_nothing)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned char *p = kmm_vmalloc(4 * PG);
	unsigned char *q = kmm_vmalloc(2 * PG);
	int local = 0;
	void *heap = malloc(64);
	struct vsnap s;

	cr_assert_not_null(p);
	cr_assert_not_null(q);
	stamp(p, 4, 1);
	stamp(q, 2, 2);
	vsnap_take(&s);

	kt_log_clear();
	kmm_vfree(NULL);
	cr_assert_eq(kt_log_lines(), 0, "vfree(NULL) logged");
	vsnap_assert_same(&s, "vfree(NULL)");

	static const struct { int which; unsigned long off; const char *what; } bad[] = {
		{ 0, 0, "a stack address" },
		{ 1, 0, "a heap address" },
		{ 2, 0, "a direct-map address" },
		{ 3, PG, "the second page of an area" },
		{ 3, 1, "an unaligned address inside an area" },
		{ 3, 4 * PG, "the guard page of an area" },
		{ 3, 3 * PG + 100, "the middle of the last page" },
		{ 4, 0, "a free vmalloc address" },
		{ 5, 0, "the end of the vmalloc space" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const void *a;

		switch (bad[i].which) {
		case 0: a = &local; break;
		case 1: a = heap; break;
		case 2: a = kmm_page_address(kmm_vmalloc_to_page(p)); break;
		case 3: a = p + bad[i].off; break;
		case 4: a = (void *)(kmm_machine.vmalloc_end - 64 * PG); break;
		default: a = (void *)(kmm_machine.vmalloc_end - 1); break;
		}
		kt_log_clear();
		kmm_vfree(a);
		cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vfree"), 1,
			      "vfree of %s: no warning", bad[i].what);
		vsnap_assert_same(&s, bad[i].what);
		kt_log_clear();
		kmm_vunmap(a);
		cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, ""), 1,
			      "vunmap of %s: no warning", bad[i].what);
		vsnap_assert_same(&s, bad[i].what);
	}
	assert_stamp(p, 4, 1);
	assert_stamp(q, 2, 2);

	/* Double vfree. */
	kmm_vfree(q);
	vsnap_take(&s);
	kt_log_clear();
	kmm_vfree(q);
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "nonexistent vm area"), 1);
	vsnap_assert_same(&s, "double vfree");
	/* ... even after the purge, when the range is free space again. */
	kmm_vm_unmap_aliases();
	vsnap_take(&s);
	kt_log_clear();
	kmm_vfree(q);
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vfree"), 1);
	vsnap_assert_same(&s, "vfree after the purge");
	assert_stamp(p, 4, 1);
	kmm_vfree(p);
	free(heap);
	check_valid("end");
}

Test(vmalloc, vfree_is_lazy_until_unmap_aliases)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned char *p = kmm_vmalloc(3 * PG);
	struct kmm_vmalloc_stats st;
	unsigned long unmaps;

	cr_assert_not_null(p);
	stamp(p, 3, 5);
	unmaps = atomic_load(&kmm_init_mm.nr_host_unmaps);
	kmm_vfree(p);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.nr_lazy, 1);
	cr_assert_eq(st.nr_lazy_pages, 4, "3 pages + guard");
	cr_assert_eq(kmm__vmap_where((unsigned long)p, NULL), KMM_VMAP_WHERE_LAZY);
	/* The PTEs are gone, the host mapping lingers (a stale TLB entry). */
	cr_assert_null(kmm_vmalloc_to_page(p));
	cr_assert(readable(p), "freed area unmapped before the purge");
	cr_assert(readable(p + 3 * PG - 1));
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_unmaps), unmaps);
	check_valid("lazy");

	kmm_vm_unmap_aliases();
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_lazy, 0);
	cr_assert_eq(st.nr_lazy_pages, 0);
	cr_assert_gt(atomic_load(&kmm_init_mm.nr_host_unmaps), unmaps);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_not(readable(p + i * PG), "page %u mapped after vm_unmap_aliases", i);
	cr_assert_neq(kmm__vmap_where((unsigned long)p, NULL), KMM_VMAP_WHERE_LAZY);
	check_valid("purged");
}

Test(vmalloc, strict_mode_unmaps_at_once)
{
	kt_boot("mem=64M nr_cpus=2 kmm.mode=strict");
	unsigned char *p = kmm_vmalloc(3 * PG);
	struct kmm_page *pages[2];
	unsigned char *v;

	cr_assert_not_null(p);
	stamp(p, 3, 9);
	assert_stamp(p, 3, 9);
	kmm_vfree(p);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_not(readable(p + i * PG), "strict: page %u mapped after vfree", i);

	for (int i = 0; i < 2; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pages[i]);
	}
	v = kmm_vmap(pages, 2, KMM_VM_MAP, KMM_PAGE_KERNEL);
	cr_assert_not_null(v);
	v[PG] = 3;
	kmm_vunmap(v);
	cr_assert_not(readable(v));
	cr_assert_not(readable(v + PG));
	cr_assert_eq(((unsigned char *)kmm_page_address(pages[1]))[0], 3);
	for (int i = 0; i < 2; i++)
		kmm___free_pages(pages[i], 0);
	check_valid("strict");
}

/* ---- lazy purge and the pools ---------------------------------------------- */

#define AREA_PAGES 255	/* + guard = 256 pages: the largest pooled size */

Test(vmalloc, lazy_purge_fills_pools)
{
	kt_boot("mem=128M nr_cpus=2");
	struct kmm_vmalloc_stats st0, st;
	unsigned long addrs[70];
	unsigned long flushes;
	uint64_t base = free_plus_tables();
	int k;

	cr_assert_eq(kmm_bind_cpu(0), 0);
	kmm_vmalloc_get_stats(&st0);
	cr_assert_eq(st0.nr_vmap_nodes, 2);
	cr_assert_eq(st0.lazy_max_pages, 16384, "fls(2) * 32 MiB / 4 KiB");

	/* 64 areas of 256 pages: exactly lazy_max, not above: no purge. */
	for (k = 0; k < 64; k++) {
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p);
		addrs[k] = (unsigned long)p;
		stamp(p, 1, (uint64_t)k);
		kmm_vfree(p);
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, st0.nr_purges, "purged at or below lazy_max_pages");
	cr_assert_eq(st.nr_lazy_pages, 64 * 256);
	cr_assert_eq(st.nr_lazy, 64);
	cr_assert_eq(st.nr_pooled, 0);
	cr_assert(readable((void *)addrs[0]), "a lazy area was unmapped early");
	check_valid("64 lazy areas");

	/* The 65th crosses the limit: one automatic purge, one flush. */
	flushes = atomic_load(&kmm_init_mm.nr_flushes);
	{
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p);
		addrs[64] = (unsigned long)p;
		flushes = atomic_load(&kmm_init_mm.nr_flushes);
		kmm_vfree(p);
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, st0.nr_purges + 1, "no automatic purge above lazy_max_pages");
	cr_assert_eq(atomic_load(&kmm_init_mm.nr_flushes), flushes + 1,
		     "the purge must flush once for all areas");
	cr_assert_eq(st.nr_purged_areas, st0.nr_purged_areas + 65);
	cr_assert_eq(st.nr_lazy_pages, 0);
	cr_assert_eq(st.nr_lazy, 0);
	cr_assert_eq(st.nr_pooled, 65, "purged areas of <= 256 pages go to the pools");
	for (k = 0; k < 65; k++) {
		unsigned node = 99;

		cr_assert_eq(kmm__vmap_where(addrs[k], &node), KMM_VMAP_WHERE_POOL);
		cr_assert_eq(node, 0, "pooled in the node of CPU 0");
		cr_assert_not(readable((void *)addrs[k]), "purged area %d still mapped", k);
	}
	check_valid("purged into pools");

	/* A full-range request of the same size on CPU 0: a pool hit. */
	{
		unsigned char *p = kmm_vmalloc(AREA_PAGES * PG);
		bool known = false;

		cr_assert_not_null(p);
		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.nr_pool_hits, st0.nr_pool_hits + 1);
		cr_assert_eq(st.nr_pooled, 64);
		for (k = 0; k < 65; k++)
			known |= addrs[k] == (unsigned long)p;
		cr_assert(known, "the pool hit did not return a pooled area");
		memset(p, 1, AREA_PAGES * PG);
		assert_both_ways(p, AREA_PAGES * PG);
		cr_assert_not(readable(p + AREA_PAGES * PG));
		check_valid("pool hit");
		kmm_vfree(p);
	}
	/* Another size: not from the pools. */
	{
		void *p = kmm_vmalloc(100 * PG);

		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.nr_pool_hits, st0.nr_pool_hits + 1);
		kmm_vfree(p);
	}
	/* A restricted range never uses the pools. */
	{
		void *p = kmm___vmalloc_node_range(AREA_PAGES * PG, 1, kmm_vmalloc_start(),
						   kmm_vmalloc_end() - 64 * PG, KMM_GFP_KERNEL,
						   KMM_PAGE_KERNEL, 0, -1, NULL);

		cr_assert_not_null(p);
		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.nr_pool_hits, st0.nr_pool_hits + 1, "a restricted range hit a pool");
		kmm_vfree(p);
	}
	/* CPU 1's node has an empty pool. */
	cr_assert_eq(kmm_bind_cpu(1), 0);
	{
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p);
		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.nr_pool_hits, st0.nr_pool_hits + 1, "CPU 1 hit CPU 0's pool");
		kmm_vfree(p);
	}
	/* A purge decays the pools by about a quarter. */
	kmm_vmalloc_get_stats(&st0);
	kmm_vm_unmap_aliases();
	kmm_vmalloc_get_stats(&st);
	cr_assert_lt(st.nr_pooled, st0.nr_pooled, "the pools did not decay");
	cr_assert_geq(st.nr_pooled, st0.nr_pooled / 2);
	check_valid("decay");
	kmm_bind_cpu(-1);
	assert_no_page_leak(base, "lazy purge");
}

Test(vmalloc, auto_purge_off)
{
	kt_boot("mem=128M nr_cpus=2");
	struct kmm_vmalloc_stats st0, st;

	kmm_vmap_set_auto_purge(false);
	kmm_vmalloc_get_stats(&st0);
	for (int k = 0; k < 80; k++) {
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p);
		kmm_vfree(p);
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, st0.nr_purges, "purged with auto purge off");
	cr_assert_eq(st.nr_lazy_pages, 80 * 256);
	cr_assert_gt(st.nr_lazy_pages, st.lazy_max_pages);
	check_valid("80 lazy areas");
	kmm_vm_unmap_aliases();
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, st0.nr_purges + 1);
	cr_assert_eq(st.nr_lazy_pages, 0);
	kmm_vmap_set_auto_purge(true);
	check_valid("end");
}

Test(vmalloc, exhausted_va_purges_and_retries)
{
	/* 16 MiB of VA: 16 areas of 256 pages. */
	kt_boot("mem=64M nr_cpus=2 vmalloc=16M");
	struct kmm_vmalloc_stats st0, st;
	void *keep[16];
	int n = 0;

	kmm_vmalloc_get_stats(&st0);
	/* Free 15 areas lazily (well under lazy_max). */
	for (int k = 0; k < 15; k++) {
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p, "area %d", k);
		kmm_vfree(p);
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, st0.nr_purges);
	/* Now only lazily freed VA is left: allocation purges and retries. */
	for (int k = 0; k < 3; k++) {
		void *p = kmm_vmalloc(AREA_PAGES * PG);

		cr_assert_not_null(p, "allocation %d did not purge and retry", k);
		keep[n++] = p;
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_gt(st.nr_purges, st0.nr_purges);
	check_valid("purge and retry");
	/* Truly full: NULL with the kernel's warning, and nothing changed. */
	while (n < 16 && (keep[n] = kmm_vmalloc(AREA_PAGES * PG)))
		n++;
	cr_assert_lt(n, 16);
	{
		struct vsnap s;

		kmm_vm_unmap_aliases();
		vsnap_take(&s);
		kt_log_clear();
		cr_assert_null(kmm_vmalloc(AREA_PAGES * PG));
		cr_assert_not_null(kt_log_find("vmalloc_node_range for size"));
		/* The failed attempt purged (nothing) once more. */
		s.st.nr_purges++;
		vsnap_assert_same(&s, "VA exhausted");
	}
	while (n)
		kmm_vfree(keep[--n]);
	check_valid("end");
}

/* ---- vmap ------------------------------------------------------------------- */

/* @n order-0 pages that are not PFN-contiguous. */
static void scattered_pages(struct kmm_page **pages, unsigned n, struct kmm_page **spare)
{
	/* Take a 2n block and use every other page; the rest are the caller's
	 * to free afterwards (spare). */
	for (unsigned i = 0; i < n; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		spare[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pages[i]);
		cr_assert_not_null(spare[i]);
	}
	/* Reverse the order so that no two neighbours are contiguous. */
	for (unsigned i = 0; i < n / 2; i++) {
		struct kmm_page *t = pages[i];

		pages[i] = pages[n - 1 - i];
		pages[n - 1 - i] = t;
	}
}

Test(vmalloc, vmap_maps_scattered_pages)
{
	kt_boot("mem=64M nr_cpus=2");
	uint64_t base = free_plus_tables();
	struct kmm_page *pages[8], *spare[8];
	unsigned char *v;
	struct kmm_vm_struct *vm;
	uint64_t before;

	scattered_pages(pages, 8, spare);
	for (unsigned i = 0; i < 8; i++)
		memset(kmm_page_address(pages[i]), 0x10 + (int)i, PG);
	before = free_plus_tables();
	v = kmm_vmap(pages, 8, KMM_VM_MAP, KMM_PAGE_KERNEL);
	cr_assert_not_null(v);
	vm = kmm_find_vm_area(v);
	cr_assert_not_null(vm);
	cr_assert_eq(vm->flags & (KMM_VM_MAP | KMM_VM_ALLOC), KMM_VM_MAP);
	cr_assert_eq(vm->size, 9 * PG);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(kmm_vmalloc_to_page(v + i * PG), pages[i]);
		cr_assert_eq(v[i * PG + 5], 0x10 + i, "page %u: wrong contents", i);
	}
	assert_both_ways(v, 8 * PG);
	cr_assert_not(readable(v + 8 * PG), "vmap guard mapped");
	stamp(v, 8, 0xbeef);
	check_valid("vmap");

	kmm_vunmap(v);
	cr_assert_null(kmm_find_vm_area(v));
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(kmm_page_ref_count(pages[i]), 1, "vunmap dropped page %u", i);
		cr_assert_not(kmm_page_test(pages[i], KMM_PG_vmalloc));
		cr_assert_eq(*(uint64_t *)kmm_page_address(pages[i]), word_of(0xbeef, i, 0));
	}
	cr_assert_eq(free_plus_tables(), before, "vmap/vunmap allocated or freed pages");
	kmm_vm_unmap_aliases();
	cr_assert_not(readable(v));
	for (unsigned i = 0; i < 8; i++) {
		kmm___free_pages(pages[i], 0);
		kmm___free_pages(spare[i], 0);
	}
	check_valid("end");
	assert_no_page_leak(base, "vmap");
}

Test(vmalloc, vmap_aliases_pages_twice)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_page *pages[3];
	unsigned char *a, *b;

	for (int i = 0; i < 3; i++)
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 0);
	a = kmm_vmap(pages, 3, KMM_VM_MAP, KMM_PAGE_KERNEL);
	b = kmm_vmap(pages, 3, KMM_VM_MAP, KMM_PAGE_KERNEL_RO);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	a[PG + 77] = 0x42;
	cr_assert_eq(b[PG + 77], 0x42);
	cr_assert_not(writable(b + PG), "a PAGE_KERNEL_RO vmap is writable");
	cr_assert(writable(a + PG));
	kmm_vunmap(a);
	kmm_vunmap(b);
	for (int i = 0; i < 3; i++)
		kmm___free_pages(pages[i], 0);
	check_valid("aliases");
}

Test(vmalloc, vmap_put_pages_hands_pages_to_vfree)
{
	kt_boot("mem=64M nr_cpus=2");
	uint64_t base = free_plus_tables();
	static const unsigned counts[] = { 8, 600 };	/* small and vmalloc'ed arrays */

	for (size_t c = 0; c < 2; c++) {
		unsigned n = counts[c];
		struct kmm_page **arr = kmm_kvmalloc(n * sizeof(*arr), KMM_GFP_KERNEL);
		unsigned char *v;
		struct kmm_vm_struct *vm;

		cr_assert_not_null(arr);
		cr_assert_eq(kmm_is_vmalloc_addr(arr), n * sizeof(*arr) > PG);
		for (unsigned i = 0; i < n; i++) {
			arr[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
			cr_assert_not_null(arr[i]);
		}
		v = kmm_vmap(arr, n, KMM_VM_MAP | KMM_VM_MAP_PUT_PAGES, KMM_PAGE_KERNEL);
		cr_assert_not_null(v);
		vm = kmm_find_vm_area(v);
		cr_assert_eq(kmm_find_vm_area(v + (n - 1) * PG + 5), vm);
		cr_assert_eq(kmm_find_vm_area(v + n * PG), vm, "the guard page is the area's");
		cr_assert_eq(vm->pages, arr);
		cr_assert_eq(vm->nr_pages, n);
		stamp(v, n, 31 + c);
		assert_stamp(v, n, 31 + c);
		kmm_vfree(v);
		check_valid("vfree of VM_MAP_PUT_PAGES");
		assert_no_page_leak(base, "VM_MAP_PUT_PAGES");
	}
}

Test(vmalloc, vmap_refusals)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_page *pages[2];
	struct vsnap s;

	for (int i = 0; i < 2; i++)
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	vsnap_take(&s);
	kt_log_clear();
	cr_assert_null(kmm_vmap(pages, 2, KMM_VM_MAP | KMM_VM_NO_GUARD, KMM_PAGE_KERNEL));
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vmap"), 1);
	vsnap_assert_same(&s, "VM_NO_GUARD");
	cr_assert_null(kmm_vmap(pages, 2, KMM_VM_MAP | KMM_VM_FLUSH_RESET_PERMS, KMM_PAGE_KERNEL));
	vsnap_assert_same(&s, "VM_FLUSH_RESET_PERMS");
	cr_assert_null(kmm_vmap(pages, 0, KMM_VM_MAP, KMM_PAGE_KERNEL));
	cr_assert_null(kmm_vmap(NULL, 2, KMM_VM_MAP, KMM_PAGE_KERNEL));
	cr_assert_null(kmm_vmap(pages, (unsigned)kmm_machine.totalram_pages + 1, KMM_VM_MAP,
				KMM_PAGE_KERNEL));
	vsnap_assert_same(&s, "empty vmaps");

	for (int i = 0; i < 2; i++)
		kmm___free_pages(pages[i], 0);
}

Test(vmalloc, vmap_null_page_is_refused)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_page *pages[2];

	for (int i = 0; i < 2; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pages[i]);
	}
	/* A NULL page in the array: the kernel WARNs and fails with NULL;
	 * nothing stays mapped or busy (the VA may be freed lazily). */
	{
		struct kmm_page *holey[3] = { pages[0], NULL, pages[1] };
		struct kmm_vmalloc_stats st;
		uint64_t before = free_plus_tables();
		unsigned long maps = atomic_load(&kmm_init_mm.nr_host_maps);
		void *v;

		kt_log_clear();
		v = kmm_vmap(holey, 3, KMM_VM_MAP, KMM_PAGE_KERNEL);
		cr_assert_null(v, "vmap of an array with a NULL page succeeded");
		kmm_vmalloc_get_stats(&st);
		cr_assert_eq(st.nr_busy, 0);
		cr_assert_eq(atomic_load(&kmm_init_mm.nr_host_maps), maps,
			     "a refused vmap reached the host");
		check_valid("vmap with a NULL page");
		kmm_vm_unmap_aliases();
		cr_assert_eq(free_plus_tables(), before);
		cr_assert_eq(kmm_page_ref_count(pages[0]), 1);
		cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, ""), 1,
			      "vmap of a NULL page: no warning (the kernel WARNs)");
	}
	for (int i = 0; i < 2; i++)
		kmm___free_pages(pages[i], 0);
}

Test(vmalloc, vmap_pfn_maps_pfns)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_page *blk = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	unsigned long pfns[4];
	unsigned char *v;
	struct vsnap s;

	cr_assert_not_null(blk);
	for (int i = 0; i < 4; i++) {
		pfns[i] = kmm_page_to_pfn(blk) + 7 - 2 * (unsigned)i;	/* 7, 5, 3, 1 */
		memset(kmm_page_address(kmm_pfn_to_page(pfns[i])), 0x30 + i, PG);
	}
	v = kmm_vmap_pfn(pfns, 4, KMM_PAGE_KERNEL);
	cr_assert_not_null(v);
	cr_assert(kmm_find_vm_area(v)->flags & KMM_VM_IOREMAP);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(kmm_vmalloc_to_pfn(v + i * PG), pfns[i]);
		cr_assert_eq(v[i * PG + 9], 0x30 + i);
	}
	v[2 * PG] = 0xee;
	cr_assert_eq(*(unsigned char *)kmm_page_address(kmm_pfn_to_page(pfns[2])), 0xee);
	cr_assert_not(readable(v + 4 * PG));
	check_valid("vmap_pfn");

	/* A PFN outside memory is refused. */
	vsnap_take(&s);
	pfns[3] = kmm_machine.max_pfn + 1;
	kt_log_clear();
	cr_assert_null(kmm_vmap_pfn(pfns, 4, KMM_PAGE_KERNEL));
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "pfn"), 1);
	cr_assert_null(kmm_vmap_pfn(pfns, 0, KMM_PAGE_KERNEL));
	cr_assert_null(kmm_vmap_pfn(NULL, 4, KMM_PAGE_KERNEL));
	vsnap_assert_same(&s, "bad vmap_pfn");

	kmm_vunmap(v);
	kmm_vm_unmap_aliases();
	cr_assert_not(readable(v));
	kmm___free_pages(blk, 3);
	check_valid("end");
}

Test(vmalloc, vmalloc_to_page_outside)
{
	kt_boot("mem=64M nr_cpus=2");
	int local;
	unsigned char *p = kmm_vmalloc(PG);

	cr_assert_null(kmm_vmalloc_to_page(&local));
	cr_assert_eq(kmm_vmalloc_to_pfn(&local), 0);
	cr_assert_null(kmm_vmalloc_to_page((void *)kmm_machine.vmalloc_end));
	cr_assert_null(kmm_vmalloc_to_page((void *)(kmm_machine.vmalloc_end - PG)));
	cr_assert_not(kmm_is_vmalloc_addr(&local));
	cr_assert_not(kmm_is_vmalloc_addr((void *)kmm_machine.vmalloc_end));
	cr_assert(kmm_is_vmalloc_addr((void *)(kmm_machine.vmalloc_end - 1)));
	cr_assert(kmm_is_vmalloc_addr((void *)kmm_machine.vmalloc_start));
	cr_assert_not(kmm_is_vmalloc_addr((void *)(kmm_machine.vmalloc_start - 1)));
	cr_assert_not_null(kmm_vmalloc_to_page(p + PG - 1));
	kmm_vfree(p);
}

/* ---- vm_struct areas ---------------------------------------------------------- */

Test(vmalloc, get_vm_area_family)
{
	kt_boot("mem=64M nr_cpus=2");
	struct kmm_vm_struct *a, *b, *c;
	struct vsnap s;
	uint64_t free0 = free_now();

	a = kmm_get_vm_area(5000, KMM_VM_MAP);
	cr_assert_not_null(a);
	cr_assert_eq(a->size, 3 * PG, "2 pages + guard");
	cr_assert_eq(kmm_get_vm_area_size(a), 2 * PG);
	cr_assert_eq(a->flags, KMM_VM_MAP);
	cr_assert_eq(a->requested_size, 5000);
	cr_assert_eq((unsigned long)a->addr & (PG - 1), 0);
	cr_assert_eq(kmm_find_vm_area(a->addr), a);
	cr_assert_eq(kmm_find_vm_area((char *)a->addr + 2 * PG + 5), a);
	cr_assert_null(kmm_find_vm_area((char *)a->addr + 3 * PG));
	cr_assert_null(kmm_vmalloc_to_page(a->addr), "get_vm_area mapped something");
	cr_assert_not(readable(a->addr));
	cr_assert_eq(free_now(), free0, "get_vm_area allocated pages");
	cr_assert_not_null(a->caller);

	b = kmm_get_vm_area(3 * PG, KMM_VM_MAP | KMM_VM_NO_GUARD);
	cr_assert_not_null(b);
	cr_assert_eq(b->size, 3 * PG, "VM_NO_GUARD has no guard");
	cr_assert_eq(kmm_get_vm_area_size(b), 3 * PG);

	c = kmm_get_vm_area_caller(PG, KMM_VM_MAP, (void *)0x1234);
	cr_assert_not_null(c);
	cr_assert_eq(c->caller, (void *)0x1234);
	check_valid("three areas");

	/* __get_vm_area honours [start, end). */
	{
		unsigned long start = kmm_vmalloc_start() + 64 * MIB;
		unsigned long end = start + MIB;
		struct kmm_vm_struct *r[4];
		int n = 0;

		for (n = 0; n < 3; n++) {
			r[n] = kmm___get_vm_area(64 * PG, KMM_VM_MAP, start, end);
			cr_assert_not_null(r[n], "area %d", n);
			cr_assert_geq((unsigned long)r[n]->addr, start);
			cr_assert_leq((unsigned long)r[n]->addr + r[n]->size, end);
		}
		cr_assert_eq((unsigned long)r[0]->addr, start, "lowest fit first");
		cr_assert_eq((unsigned long)r[1]->addr, start + 65 * PG);
		/* A fourth does not fit (4 * 65 > 256 pages). */
		kt_log_clear();
		cr_assert_null(kmm___get_vm_area(64 * PG, KMM_VM_MAP, start, end));
		cr_assert_not_null(kt_log_find("vmalloc_node_range for size"));
		/* ... but a smaller one does. */
		r[3] = kmm___get_vm_area(60 * PG, KMM_VM_MAP, start, end);
		cr_assert_not_null(r[3]);
		cr_assert_eq((unsigned long)r[3]->addr, start + 195 * PG);
		check_valid("restricted range");
		for (n = 0; n < 4; n++)
			kmm_free_vm_area(r[n]);
	}
	/* Outside the VA space: NULL, nothing changed. */
	vsnap_take(&s);
	cr_assert_null(kmm___get_vm_area(PG, KMM_VM_MAP, kmm_vmalloc_start() - 16 * PG,
					 kmm_vmalloc_start() + 16 * PG));
	cr_assert_null(kmm___get_vm_area(PG, KMM_VM_MAP, kmm_vmalloc_end() - 16 * PG,
					 kmm_vmalloc_end() + 16 * PG));
	cr_assert_null(kmm___get_vm_area(PG, KMM_VM_MAP, 0x1000, 0x100000));
	cr_assert_null(kmm_get_vm_area(0, KMM_VM_MAP));
	cr_assert_null(kmm_get_vm_area(~0UL - 10, KMM_VM_MAP));
	vsnap_assert_same(&s, "areas refused");

	/* VM_IOREMAP: aligned to the size's power of two, clamped at
	 * 2^IOREMAP_MAX_ORDER.  Each case in a fresh 8 MiB window whose
	 * first free page is misaligned for every alignment > 1 page, so
	 * the address says exactly which alignment was used. */
	{
		static const struct { unsigned long pages, align; } io[] = {
			{ 1, PG }, { 2, 2 * PG }, { 3, 4 * PG }, { 5, 8 * PG },
			{ 100, 128 * PG }, { 128, 128 * PG },
			{ 129, 256 * PG }, { 1000, 1024 * PG },
			/* IOREMAP_MAX_ORDER is x86-64's PUD_SHIFT (1 GiB) */
		};
		unsigned long w0 = KMM_ALIGN_UP(kmm_vmalloc_start(), 16 * MIB) + 128 * MIB;

		for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
			unsigned long win = w0 + i * 16 * MIB;
			struct kmm_vm_struct *x, *y;

			x = kmm___get_vm_area(io[i].pages * PG, KMM_VM_IOREMAP, win + PG, win + 8 * MIB);
			cr_assert_not_null(x, "%lu pages", io[i].pages);
			cr_assert_eq((unsigned long)x->addr, KMM_ALIGN_UP(win + PG, io[i].align),
				     "%lu pages: at %#lx, want alignment %#lx", io[i].pages,
				     (unsigned long)x->addr - win, io[i].align);
			cr_assert_eq(x->size, (io[i].pages + 1) * PG);
			cr_assert(x->flags & KMM_VM_IOREMAP);
			/* Without VM_IOREMAP: no alignment. */
			y = kmm___get_vm_area(io[i].pages * PG, KMM_VM_MAP, win + 8 * MIB + PG,
					      win + 16 * MIB);
			cr_assert_not_null(y);
			cr_assert_eq((unsigned long)y->addr, win + 8 * MIB + PG);
			kmm_free_vm_area(x);
			kmm_free_vm_area(y);
		}
		/* Anywhere in the space, too. */
		{
			struct kmm_vm_struct *x = kmm_get_vm_area(3 * PG, KMM_VM_IOREMAP);

			cr_assert_not_null(x);
			cr_assert_eq((unsigned long)x->addr % (4 * PG), 0);
			kmm_free_vm_area(x);
		}
	}
	check_valid("ioremap areas");

	/* remove_vm_area: unlinks and returns the vm_struct, once. */
	{
		void *addr = a->addr;

		cr_assert_null(kmm_remove_vm_area((char *)addr + PG));
		cr_assert_null(kmm_remove_vm_area((char *)addr + 1));
		cr_assert_eq(kmm_find_vm_area(addr), a);
		cr_assert_eq(kmm_remove_vm_area(addr), a);
		cr_assert_null(kmm_find_vm_area(addr));
		cr_assert_null(kmm_remove_vm_area(addr));
		cr_assert_eq(kmm__vmap_where((unsigned long)addr, NULL), KMM_VMAP_WHERE_LAZY);
		check_valid("remove_vm_area");
	}
	kmm_free_vm_area(b);
	kmm_free_vm_area(c);
	kmm_free_vm_area(NULL);
	check_valid("end");
}

Test(vmalloc, alloc_vm_area_reserves_and_maps_nothing)
{
	kt_boot("mem=64M nr_cpus=2");
	kmm_pte_t *ptes[7];
	struct kmm_vm_struct *area;
	struct kmm_page *pg = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	unsigned long addr;
	uint64_t free0;
	long t0;

	cr_assert_not_null(pg);
	memset(kmm_page_address(pg), 0x6c, PG);
	free0 = free_now();
	t0 = nr_tables();
	for (int i = 0; i < 7; i++)
		ptes[i] = (kmm_pte_t *)(uintptr_t)0xdead;
	/* 5 pages and a byte: 6 PTE pointers, ptes[6] untouched. */
	area = kmm_alloc_vm_area(5 * PG + 1, ptes);
	cr_assert_not_null(area);
	addr = (unsigned long)area->addr;
	cr_assert(area->flags & KMM_VM_IOREMAP);
	cr_assert_eq(area->size, 7 * PG);
	cr_assert_eq(kmm_find_vm_area(area->addr), area);
	cr_assert_gt(nr_tables(), t0, "no page tables were allocated");
	cr_assert_eq(free_now() + (uint64_t)(nr_tables() - t0), free0,
		     "alloc_vm_area allocated more than page tables");
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(ptes[i], kmm_lookup_pte(&kmm_init_mm, addr + (unsigned long)i * PG),
			     "ptes[%d] is not the PTE of page %d", i, i);
		cr_assert(kmm_pte_none(kmm_ptep_get(ptes[i])), "alloc_vm_area mapped page %d", i);
		cr_assert_not(readable((char *)addr + i * PG));
		cr_assert_null(kmm_vmalloc_to_page((char *)addr + i * PG));
	}
	cr_assert_eq(ptes[6], (kmm_pte_t *)(uintptr_t)0xdead, "ptes[] overrun");
	check_valid("alloc_vm_area");

	/* The caller maps a page through the PTE it was given. */
	kmm_set_pte_at(&kmm_init_mm, addr + 2 * PG, ptes[2],
		       kmm_pfn_pte(kmm_page_to_pfn(pg), KMM_PAGE_KERNEL));
	cr_assert_not(readable((char *)addr + 2 * PG), "visible before flush_cache_vmap");
	cr_assert_eq(kmm_flush_cache_vmap(addr, addr + 6 * PG), 0);
	cr_assert(readable((char *)addr + 2 * PG));
	cr_assert_eq(((unsigned char *)addr)[2 * PG + 100], 0x6c);
	((unsigned char *)addr)[2 * PG] = 0x01;
	cr_assert_eq(*(unsigned char *)kmm_page_address(pg), 0x01);
	cr_assert_eq(kmm_vmalloc_to_page((char *)addr + 2 * PG), pg);
	cr_assert_not(readable((char *)addr + PG));
	cr_assert_not(readable((char *)addr + 3 * PG));
	cr_assert_eq(kmm_pgtable_validate(&kmm_init_mm, true, addr, addr + 6 * PG), 0);

	kmm_free_vm_area(area);
	cr_assert_null(kmm_find_vm_area((void *)addr));
	kmm_vm_unmap_aliases();
	cr_assert_not(readable((char *)addr + 2 * PG), "still mapped after free and purge");
	cr_assert_eq(kmm_page_ref_count(pg), 1, "free_vm_area touched the caller's page");
	cr_assert_eq(*(unsigned char *)kmm_page_address(pg), 0x01);
	check_valid("free_vm_area");

	/* Without a ptes array. */
	area = kmm_alloc_vm_area(3 * PG, NULL);
	cr_assert_not_null(area);
	for (int i = 0; i < 3; i++) {
		kmm_pte_t *pte = kmm_lookup_pte(&kmm_init_mm, (unsigned long)area->addr + i * PG);

		cr_assert_not_null(pte, "no page table for page %d", i);
		cr_assert(kmm_pte_none(kmm_ptep_get(pte)));
	}
	kmm_free_vm_area(area);

	/* Refusals. */
	{
		struct vsnap s;

		vsnap_take(&s);
		cr_assert_null(kmm_alloc_vm_area(0, ptes));
		cr_assert_null(kmm_alloc_vm_area(~0UL - 3, NULL));
		vsnap_assert_same(&s, "alloc_vm_area refusals");
	}
	kmm___free_pages(pg, 0);
	check_valid("end");
}

Test(vmalloc, alloc_vm_area_table_failure)
{
	kt_boot("mem=64M nr_cpus=2");
	kmm_pte_t *ptes[4];
	struct kmm_vmalloc_stats st0, st;
	uint64_t base = free_plus_tables();

	kmm_vmalloc_get_stats(&st0);
	/* The first PUD for this range cannot be had. */
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	cr_assert_null(kmm_alloc_vm_area(4 * PG, ptes));
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, st0.nr_busy);
	check_valid("alloc_vm_area failed");
	assert_no_page_leak(base, "alloc_vm_area failure");
}

/* ---- /proc/vmallocinfo ---------------------------------------------------- */

/* The line of the area starting at @addr (copied into @out), or false. */
static bool vi_line(const char *buf, unsigned long addr, char *out, size_t outlen)
{
	char key[32];
	const char *l;

	snprintf(key, sizeof(key), "0x%016lx-", addr);
	for (l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, key, strlen(key))) {
			const char *e = strchr(l, '\n');
			size_t n = e ? (size_t)(e - l) : strlen(l);

			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, l, n);
			out[n] = 0;
			return true;
		}
	}
	return false;
}

/*
 * The expected line for @vm with caller function @fn named @name, the
 * rest after the caller given by @tail: checks "symbol+0xoff/0xlen"
 * against the function's address and size.
 */
static void assert_vi_line(const char *buf, const struct kmm_vm_struct *vm,
			   const char *name, const void *fn, const char *tail)
{
	char line[512], head[128], want[512], sym[128];
	unsigned long off, len;
	int n;

	cr_assert(vi_line(buf, (unsigned long)vm->addr, line, sizeof(line)),
		  "no vmallocinfo line for %p:\n%s", vm->addr, buf);
	snprintf(head, sizeof(head), "0x%016lx-0x%016lx %7ld ", (unsigned long)vm->addr,
		 (unsigned long)vm->addr + vm->size, (long)vm->size);
	cr_assert(!strncmp(line, head, strlen(head)), "line '%s' does not start with '%s'",
		  line, head);
	n = sscanf(line + strlen(head), "%127[^+]+0x%lx/0x%lx", sym, &off, &len);
	cr_assert_eq(n, 3, "caller not as symbol+0xoff/0xlen in '%s' (linked without -rdynamic?)",
		     line);
	cr_assert_str_eq(sym, name, "caller '%s' in '%s'", sym, line);
	cr_assert_eq(off, (unsigned long)((const char *)vm->caller - (const char *)fn));
	cr_assert_gt(len, off);
	snprintf(want, sizeof(want), "%s%s+0x%lx/0x%lx%s", head, name, off, len, tail);
	cr_assert_str_eq(line, want);
}

Test(vmalloc, vmallocinfo_lines)
{
	kt_boot("mem=64M nr_cpus=2");
	static char buf[1 << 16];
	struct kmm_page *pages[2];
	void *v, *u, *vm_p, *big, *lazy, *spread[3];
	struct kmm_vm_struct *io;
	size_t n;
	char tail[128];

	v = kt_vi_vmalloc(3 * PG);
	u = kt_vi_vmalloc_user(PG + 1);
	for (int i = 0; i < 2; i++)
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	vm_p = kt_vi_vmap(pages, 2);
	io = kt_vi_alloc_vm_area(4 * PG);
	big = kt_vi_vmalloc_big(600 * PG);
	lazy = kt_vi_vmalloc(5 * PG);
	cr_assert(v && u && vm_p && io && big && lazy);
	/* Three 16-page areas 68 KiB apart: their starts fall in 64 KiB
	 * zones of both parities whatever the alignment of VMALLOC_START,
	 * so both vmap nodes have busy areas. */
	for (int i = 0; i < 3; i++) {
		spread[i] = kt_vi_vmalloc(16 * PG);
		cr_assert_not_null(spread[i]);
	}
	kmm_vfree(lazy);

	n = kmm_report_vmallocinfo(buf, sizeof(buf));
	cr_assert_lt(n, sizeof(buf));
	cr_assert_eq(strlen(buf), n);

	assert_vi_line(buf, kmm_find_vm_area(v), "kt_vi_vmalloc", (void *)kt_vi_vmalloc,
		       " pages=3 vmalloc N0=3");
	assert_vi_line(buf, kmm_find_vm_area(u), "kt_vi_vmalloc_user",
		       (void *)kt_vi_vmalloc_user, " pages=2 vmalloc user N0=2");
	assert_vi_line(buf, kmm_find_vm_area(vm_p), "kt_vi_vmap", (void *)kt_vi_vmap, " vmap");
	assert_vi_line(buf, io, "kt_vi_alloc_vm_area", (void *)kt_vi_alloc_vm_area, " ioremap");
	assert_vi_line(buf, kmm_find_vm_area(big), "kt_vi_vmalloc_big", (void *)kt_vi_vmalloc_big,
		       " pages=600 vmalloc vpages N0=600");
	/* The big area's page array is a vmalloc area of its own, charged to
	 * the same caller: 600 pointers = 2 pages. */
	{
		struct kmm_vm_struct *bvm = kmm_find_vm_area(big);
		struct kmm_vm_struct *arr = kmm_find_vm_area(bvm->pages_area);

		cr_assert_not_null(arr);
		cr_assert_eq(arr->caller, bvm->caller);
		cr_assert_eq((void *)bvm->pages, bvm->pages_area);
		assert_vi_line(buf, arr, "kt_vi_vmalloc_big", (void *)kt_vi_vmalloc_big,
			       " pages=2 vmalloc N0=2");
	}
	for (int i = 0; i < 3; i++)
		assert_vi_line(buf, kmm_find_vm_area(spread[i]), "kt_vi_vmalloc",
			       (void *)kt_vi_vmalloc, " pages=16 vmalloc N0=16");
	snprintf(tail, sizeof(tail), "0x%016lx-0x%016lx %7ld unpurged vm_area",
		 (unsigned long)lazy, (unsigned long)lazy + 6 * PG, (long)(6 * PG));
	cr_assert_not_null(strstr(buf, tail), "no unpurged line '%s' in:\n%s", tail, buf);

	/* Order: node 0's busy areas by address, node 1's, then the lazy. */
	{
		const char *l = buf;
		int lines = 0, last_node = -1, seen[2] = { 0, 0 };
		unsigned long last = 0;
		bool in_lazy = false;

		while (*l) {
			unsigned long s, e;
			long sz;
			const char *nl = strchr(l, '\n');

			cr_assert_not_null(nl, "unterminated line");
			cr_assert_eq(sscanf(l, "0x%lx-0x%lx %ld", &s, &e, &sz), 3);
			cr_assert_eq(e - s, (unsigned long)sz);
			if (strstr(l, "unpurged vm_area") && strstr(l, "unpurged vm_area") < nl) {
				in_lazy = true;
			} else {
				int node = (int)((s / (16 * PG)) % 2);

				cr_assert_not(in_lazy, "busy line after the unpurged ones");
				cr_assert_geq(node, last_node, "nodes out of order");
				if (node == last_node)
					cr_assert_gt(s, last, "addresses out of order in node %d", node);
				last_node = node;
				last = s;
				seen[node]++;
			}
			lines++;
			l = nl + 1;
		}
		cr_assert_eq(lines, 10, "10 lines expected:\n%s", buf);
		cr_assert(seen[0] && seen[1], "the areas should span both vmap nodes:\n%s", buf);
		cr_assert(in_lazy);
	}
	kmm_vfree(v);
	kmm_vfree(u);
	kmm_vunmap(vm_p);
	kmm_free_vm_area(io);
	kmm_vfree(big);
	for (int i = 0; i < 3; i++)
		kmm_vfree(spread[i]);
	for (int i = 0; i < 2; i++)
		kmm___free_pages(pages[i], 0);
	kmm_vm_unmap_aliases();
	n = kmm_report_vmallocinfo(buf, sizeof(buf));
	cr_assert_eq(n, 0, "areas left:\n%s", buf);
	check_valid("end");
}

/* Documented: "Return: as the other reports (bytes needed, snprintf
 * style)" -- the length of the whole report even when truncated. */
Test(vmalloc, vmallocinfo_truncation_returns_needed_length)
{
	kt_boot("mem=64M nr_cpus=2");
	static char buf[1 << 14];
	char small[40];
	void *p[4];
	size_t n, m;

	for (int i = 0; i < 4; i++) {
		p[i] = kmm_vmalloc((unsigned long)(i + 1) * PG);
		cr_assert_not_null(p[i]);
	}
	n = kmm_report_vmallocinfo(buf, sizeof(buf));
	cr_assert_gt(n, sizeof(small));
	cr_assert_eq(strlen(buf), n);
	m = kmm_report_vmallocinfo(small, sizeof(small));
	cr_assert_eq(strlen(small), sizeof(small) - 1,
		     "truncated output is not NUL-terminated at the end");
	cr_assert_eq(strncmp(small, buf, sizeof(small) - 1), 0);
	cr_assert_eq(m, n, "kmm_report_vmallocinfo() into %zu bytes returned %zu, not "
		     "the %zu bytes the report needs (snprintf semantics)", sizeof(small), m, n);
	/* A zero-sized buffer only measures. */
	cr_assert_eq(kmm_report_vmallocinfo(NULL, 0), n);
	for (int i = 0; i < 4; i++)
		kmm_vfree(p[i]);
}

/* ---- vfree_atomic --------------------------------------------------------- */

Test(vmalloc, vfree_atomic_defers)
{
	kt_boot("mem=64M nr_cpus=2");
	void *p = kmm_vmalloc(2 * PG), *q = kmm_vmalloc(PG), *r;
	struct kmm_vmalloc_stats st;

	cr_assert_not_null(p);
	cr_assert_not_null(q);
	kmm_vfree_atomic(p);
	kmm_vfree_atomic(q);
	cr_assert_not_null(kmm_find_vm_area(p), "vfree_atomic freed at once");
	cr_assert_not_null(kmm_find_vm_area(q));
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 2);
	cr_assert_eq(st.vmalloc_used_pages, 3);
	/* The next vmalloc-layer call drains the queue. */
	r = kmm_vmalloc(PG);
	cr_assert_not_null(r);
	cr_assert_null(kmm_find_vm_area(p), "deferred area not freed by the next vmalloc");
	cr_assert_null(kmm_find_vm_area(q));
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 1);
	cr_assert_eq(st.vmalloc_used_pages, 1);
	cr_assert_eq(st.nr_lazy, 2);
	check_valid("drained");

	/* vm_unmap_aliases drains too. */
	kmm_vfree_atomic(r);
	kmm_vm_unmap_aliases();
	cr_assert_null(kmm_find_vm_area(r));
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.nr_lazy, 0);
	cr_assert_eq(st.vmalloc_used_pages, 0);

	/* NULL and bad addresses behave as vfree. */
	kt_log_clear();
	kmm_vfree_atomic(NULL);
	cr_assert_eq(kt_log_lines(), 0);
	kmm_vfree_atomic(&st);
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vfree"), 1);
	check_valid("end");
}

/*
 * A double vfree_atomic() of a still-queued area must be refused with the
 * vfree warning ("Refuse rather than corrupt").  Run in a child with a
 * deadline: a queue that links the area to itself makes the drain loop
 * forever.
 */
Test(vmalloc, vfree_atomic_twice_is_refused, .timeout = 30)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned char *p = kmm_vmalloc(2 * PG), *q = kmm_vmalloc(PG);
	pid_t pid;
	int status = 0;
	double t0;

	cr_assert_not_null(p);
	cr_assert_not_null(q);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct kmm_vmalloc_stats st;

		alarm(5);
		kt_log_clear();
		kmm_vfree_atomic(p);
		kmm_vfree_atomic(p);	/* a double free: refuse, do not queue twice */
		kmm_vfree(q);		/* drains the queue */
		if (kmm_find_vm_area(p) || kmm_find_vm_area(q))
			_exit(2);
		if (kt_log_count_level(KMM_LOG_WARNING, "vfree") < 1)
			_exit(3);
		kmm_vmalloc_get_stats(&st);
		if (st.nr_busy || st.vmalloc_used_pages)
			_exit(4);
		if (kmm_vmalloc_validate())
			_exit(5);
		_exit(0);
	}
	t0 = kt_now();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (kt_now() - t0 > 3) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("a double vfree_atomic() hangs the next drain "
				       "(the queue links the area to itself)");
		}
		usleep(10000);
	}
	cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "double vfree_atomic: 2 = areas left, 3 = no warning, 4 = accounting, "
		     "5 = validate");
}

/*
 * vfree_atomic() of an address that is no area start (inside the area, or
 * its guard page) must be refused like vfree() -- a warning, the area and
 * its bytes untouched -- not queued by writing a link into the area.
 */
Test(vmalloc, vfree_atomic_inside_area_never_scribbles)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned char *p = kmm_vmalloc(3 * PG);
	void *r;

	cr_assert_not_null(p);
	stamp(p, 3, 0x77);
	kt_log_clear();
	kmm_vfree_atomic(p + PG);	/* page aligned, inside the area */
	r = kmm_vmalloc(PG);		/* drains any queue */
	cr_assert_not_null(r);
	cr_assert_not_null(kmm_find_vm_area(p));
	cr_assert_eq(kmm_find_vm_area(p)->addr, (void *)p, "the area was freed");
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vfree"), 1, "no warning");
	assert_stamp(p, 3, 0x77);
	check_valid("vfree_atomic inside an area");
	kmm_vfree(r);
	kmm_vfree(p);
	check_valid("end");
}

Test(vmalloc, vfree_atomic_guard_page_is_refused)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned char *p = kmm_vmalloc(3 * PG);
	int status = 0;
	pid_t pid;

	cr_assert_not_null(p);
	stamp(p, 3, 0x78);
	fflush(NULL);
	/* In a child: queueing through the unmapped guard page faults. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(5);
		kt_log_clear();
		kmm_vfree_atomic(p + 3 * PG);
		kmm_vm_unmap_aliases();		/* drains any queue */
		if (!kmm_find_vm_area(p))
			_exit(2);
		if (kt_log_count_level(KMM_LOG_WARNING, "vfree") < 1)
			_exit(3);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status), "vfree_atomic(guard page) killed the process (signal %d)",
		  WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "2 = the area was freed, 3 = no warning");
	assert_stamp(p, 3, 0x78);
	kmm_vfree(p);
	check_valid("end");
}

Test(vmalloc, vfree_atomic_shadow_frees_at_once)
{
	kt_boot("mem=64M nr_cpus=2 kmm.mode=shadow");
	void *p = kmm_vmalloc(4 * PG);
	struct kmm_vmalloc_stats st;

	cr_assert_not_null(p);
	cr_assert_eq((unsigned long)p, kmm_machine.vmalloc_start);
	kmm_vfree_atomic(p);
	cr_assert_null(kmm_find_vm_area(p));
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.nr_lazy, 1);
	cr_assert_eq(st.vmalloc_used_pages, 0);
	check_valid("shadow vfree_atomic");
}

/* ---- kvmalloc --------------------------------------------------------------- */

Test(vmalloc, kvmalloc_small_and_large)
{
	kt_boot("mem=64M nr_cpus=2");
	uint64_t base = free_plus_tables();
	unsigned char *s = kmm_kvmalloc(100, KMM_GFP_KERNEL);
	unsigned char *l = kmm_kvmalloc(3 * PG + 5, KMM_GFP_KERNEL);
	unsigned char *e = kmm_kvmalloc(PG, KMM_GFP_KERNEL);

	cr_assert_not_null(s);
	cr_assert_not_null(l);
	cr_assert_not_null(e);
	cr_assert_not(kmm_is_vmalloc_addr(s), "a small kvmalloc came from vmalloc");
	cr_assert_not(kmm_is_vmalloc_addr(e), "a one-page kvmalloc came from vmalloc");
	cr_assert(kmm_is_vmalloc_addr(l), "a large kvmalloc did not come from vmalloc");
	cr_assert(kmm_find_vm_area(l)->flags & KMM_VM_ALLOC);
	cr_assert_eq(kmm_find_vm_area(l)->nr_pages, 4);
	memset(s, 1, 100);
	memset(e, 3, PG);
	memset(l, 2, 3 * PG + 5);
	assert_both_ways(l, 3 * PG + 5);
	cr_assert_null(kmm_kvmalloc(0, KMM_GFP_KERNEL));
	kmm_kvfree(NULL);
	kmm_kvfree(s);
	kmm_kvfree(e);
	kmm_kvfree(l);
	cr_assert_null(kmm_find_vm_area(l));
	check_valid("kvfree");
	assert_no_page_leak(base, "kvmalloc");
}

Test(vmalloc, kvmalloc_shadow_is_addressable)
{
	kt_boot("mem=64M nr_cpus=2 kmm.mode=shadow");
	unsigned char *l = kmm_kvmalloc(5 * PG, KMM_GFP_KERNEL);

	cr_assert_not_null(l);
	cr_assert_not(kmm_is_vmalloc_addr(l));
	memset(l, 7, 5 * PG);
	cr_assert_eq(l[5 * PG - 1], 7);
	kmm_kvfree(l);
}

/* ---- torture ---------------------------------------------------------------- */

enum { K_VMALLOC, K_VZALLOC, K_VMAP, K_VMAP_PUT };

struct tobj {
	unsigned char *addr;
	unsigned long npages;
	uint64_t tag;
	int kind;
	struct kmm_page **pages;	/* K_VMAP: ours to free after vunmap */
};

#define T_MAX_LIVE 96

static void torture_free(struct tobj *o, const char *step)
{
	char why[256];

	if (!stamp_ok(o->addr, o->npages, o->tag, why, sizeof(why)))
		cr_assert_fail("%s: %s", step, why);
	switch (o->kind) {
	case K_VMAP:
		kmm_vunmap(o->addr);
		for (unsigned long i = 0; i < o->npages; i++) {
			if (kmm_page_ref_count(o->pages[i]) != 1)
				cr_assert_fail("%s: vunmap changed a page's refcount", step);
			kmm___free_pages(o->pages[i], 0);
		}
		free(o->pages);
		break;
	default:	/* vmalloc, vzalloc, vmap(VM_MAP_PUT_PAGES) */
		kmm_vfree(o->addr);
		break;
	}
	o->addr = NULL;
}

Test(vmalloc, torture, .timeout = 120)
{
	uint64_t seed = kt_seed("vmalloc.torture");
	uint64_t rs = seed;
	struct tobj live[T_MAX_LIVE];
	int nlive = 0;
	uint64_t base;
	unsigned long used0;
	struct kmm_vmalloc_stats st;
	char step[64];

	kt_boot("mem=128M nr_cpus=2");
	kmm_bind_cpu(0);
	base = free_plus_tables();
	kmm_vmalloc_get_stats(&st);
	used0 = st.vmalloc_used_pages;
	for (int i = 1; i <= 5000; i++) {
		unsigned r = (unsigned)(kt_rand(&rs) % 100);

		snprintf(step, sizeof(step), "seed %llu step %d", (unsigned long long)seed, i);
		if (kt_rand(&rs) % 8 == 0)
			kmm_bind_cpu((int)(kt_rand(&rs) % 2));
		if (r < 50 && nlive < T_MAX_LIVE) {
			struct tobj o = { 0 };
			int kind = (int)(kt_rand(&rs) % 4);

			o.npages = 1 + kt_rand(&rs) % 64;
			o.tag = seed ^ ((uint64_t)i << 32);
			o.kind = kind;
			if (kind == K_VMALLOC || kind == K_VZALLOC) {
				unsigned long size = o.npages * PG - kt_rand(&rs) % PG;

				o.addr = kind == K_VMALLOC ? kmm_vmalloc(size) : kmm_vzalloc(size);
				if (!o.addr)
					cr_assert_fail("%s: vmalloc(%lu) failed", step, size);
				if (kmm_find_vm_area(o.addr)->nr_pages != o.npages)
					cr_assert_fail("%s: size %lu not rounded to %lu pages", step,
						       size, o.npages);
				if (kind == K_VZALLOC && !all_zero(o.addr, o.npages * PG))
					cr_assert_fail("%s: vzalloc not zeroed", step);
			} else {
				struct kmm_page **pages;

				pages = kind == K_VMAP ? malloc(o.npages * sizeof(*pages))
						       : kmm_kvmalloc(o.npages * sizeof(*pages),
								      KMM_GFP_KERNEL);
				cr_assert_not_null(pages);
				memset(pages, 0, o.npages * sizeof(*pages));
				/* Mostly runs from the bulk allocator (few host
				 * maps), sometimes one by one (scattered). */
				if (kt_rand(&rs) % 4)
					kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, o.npages, pages);
				for (unsigned long k = 0; k < o.npages; k++) {
					if (!pages[k])
						pages[k] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
					cr_assert_not_null(pages[k]);
				}
				o.addr = kmm_vmap(pages, (unsigned)o.npages,
						  KMM_VM_MAP | (kind == K_VMAP_PUT ? KMM_VM_MAP_PUT_PAGES : 0),
						  KMM_PAGE_KERNEL);
				if (!o.addr)
					cr_assert_fail("%s: vmap failed", step);
				if (kind == K_VMAP)
					o.pages = pages;
			}
			stamp(o.addr, o.npages, o.tag);
			if (kt_rand(&rs) % 16 == 0 && readable(o.addr + o.npages * PG))
				cr_assert_fail("%s: guard page after %p mapped", step, o.addr);
			live[nlive++] = o;
		} else if (r < 95 && nlive) {
			int k = (int)(kt_rand(&rs) % (uint64_t)nlive);

			torture_free(&live[k], step);
			live[k] = live[--nlive];
		} else if (r < 97) {
			kmm_vm_unmap_aliases();
		} else if (nlive) {
			/* Check one area fully. */
			struct tobj *o = &live[kt_rand(&rs) % (uint64_t)nlive];

			assert_stamp(o->addr, o->npages, o->tag);
		}
		if (i % 50 == 0)
			check_valid(step);
	}
	while (nlive)
		torture_free(&live[--nlive], "final free");
	check_valid("torture end");
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.vmalloc_used_pages, used0);
	cr_assert_gt(st.nr_purges, 0, "the torture never purged");
	assert_no_page_leak(base, "torture");
	kmm_bind_cpu(-1);
}

/* ---- shadow-mode scale -------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
	unsigned long x = (unsigned long)(*(struct kmm_vm_struct *const *)a)->addr;
	unsigned long y = (unsigned long)(*(struct kmm_vm_struct *const *)b)->addr;

	return x < y ? -1 : x > y;
}

#define SCALE_N 100000

Test(vmalloc, shadow_100k_live_areas, .timeout = 120)
{
	kt_boot("mem=1G nr_cpus=2 kmm.mode=shadow vmalloc=32T");
	struct kmm_vm_struct **v = malloc(SCALE_N * sizeof(*v));
	struct kmm_vmalloc_stats st;
	double t0 = kt_now();

	cr_assert_not_null(v);
	cr_assert_eq(kmm_machine.vmalloc_end - kmm_machine.vmalloc_start, 32UL << 40);
	for (int i = 0; i < SCALE_N; i++) {
		v[i] = kmm_get_vm_area(PG, KMM_VM_MAP);
		if (!v[i])
			cr_assert_fail("area %d failed", i);
		/* Free every 8th at once: holes in the busy trees. */
		if (i % 8 == 7 && i > 8) {
			kmm_free_vm_area(v[i - 5]);
			v[i - 5] = kmm_get_vm_area(PG, KMM_VM_MAP);
			if (!v[i - 5])
				cr_assert_fail("re-allocation %d failed", i - 5);
		}
	}
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, SCALE_N);
	cr_assert_eq(kmm_vmalloc_validate(), 0, "%s", first_log());
	qsort(v, SCALE_N, sizeof(*v), cmp_ptr);
	for (int i = 0; i < SCALE_N; i++) {
		unsigned long a = (unsigned long)v[i]->addr;

		if (a < kmm_machine.vmalloc_start || a + 2 * PG > kmm_machine.vmalloc_end)
			cr_assert_fail("area %#lx outside the VA space", a);
		if (i && (unsigned long)v[i - 1]->addr + v[i - 1]->size > a)
			cr_assert_fail("areas %#lx and %#lx overlap", (unsigned long)v[i - 1]->addr, a);
		if (kmm_find_vm_area((void *)(a + PG)) != v[i])
			cr_assert_fail("find_vm_area(%#lx) is wrong", a + PG);
	}
	for (int i = 0; i < SCALE_N; i++)
		kmm_free_vm_area(v[i]);
	kmm_vm_unmap_aliases();
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.nr_lazy, 0);
	check_valid("100k areas freed");
	cr_log_info("100k shadow areas: %.2f s", kt_now() - t0);
	free(v);
}

/* ---- fault injection ------------------------------------------------------------ */

struct fi_result {
	int injected;	/* runs in which a fault was injected */
	int failed;	/* ... and vmalloc returned NULL */
};

/* One vmalloc(@size) with @attr armed as the caller set it up; checks the
 * outcome either way.  Returns true when a fault was injected. */
static bool fi_one(struct kmm_fault_attr *attr, unsigned long size, const char *what,
		   struct fi_result *res)
{
	uint64_t base = free_plus_tables();
	struct kmm_vmalloc_stats st0, st;
	unsigned long inj0 = atomic_load(&attr->injected);
	bool injected;
	void *p;

	kmm_vmalloc_get_stats(&st0);
	kt_log_clear();
	p = kmm_vmalloc(size);
	injected = atomic_load(&attr->injected) != inj0;
	kmm_fault_set_nth(attr, 0);
	kmm_fault_reset(attr);
	if (injected)
		res->injected++;
	if (p) {
		struct kmm_vm_struct *vm = kmm_find_vm_area(p);

		cr_assert_eq(vm->nr_pages, size / PG, "%s", what);
		memset(p, 0x5e, size);
		assert_both_ways(p, size);
		kmm_vfree(p);
		check_valid(what);
		assert_no_page_leak(base, what);
		return injected;
	}
	cr_assert(injected, "%s: vmalloc failed without an injected fault", what);
	res->failed++;
	cr_assert_geq(kt_log_count_level(KMM_LOG_WARNING, "vmalloc"), 1,
		      "%s: failed without a warning", what);
	check_valid(what);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, st0.nr_busy, "%s: busy area left", what);
	cr_assert_eq(st.vmalloc_used_pages, st0.vmalloc_used_pages,
		     "%s: vmalloc_used_pages %lu -> %lu (accounted pages never added)", what,
		     st0.vmalloc_used_pages, st.vmalloc_used_pages);
	assert_no_page_leak(base, what);
	return injected;
}

/*
 * Fail the Nth allocation at @attr during vmalloc(@size), N = 1, 2, ...
 * until N is beyond the calls the vmalloc makes.  Each failure must return
 * NULL, warn, and leave no page, no busy area and no accounting behind;
 * a fault the code recovers from must still give a correct area.
 */
static struct fi_result fail_every_step(struct kmm_fault_attr *attr, unsigned long size,
					const char *fresh_boot)
{
	struct fi_result res = { 0, 0 };

	for (int n = 1; n < 5000; n++) {
		char what[80];

		if (fresh_boot) {
			/* Each N on a new machine: nothing allocated by an
			 * earlier attempt (page tables) hides a fault point. */
			kt_shutdown();
			kt_boot(fresh_boot);
		}
		snprintf(what, sizeof(what), "%s nth=%d size %lu%s", attr->name, n, size,
			 fresh_boot ? " (fresh boot)" : "");
		kmm_fault_set_nth(attr, n);
		if (!fi_one(attr, size, what, &res))
			return res;
	}
	cr_assert_fail("%s: vmalloc(%lu) kept hitting faults", attr->name, size);
	return res;
}

/* The next @times eligible calls at @attr fail (kernel fault_attr rules). */
static struct fi_result fail_n_in_a_row(struct kmm_fault_attr *attr, unsigned long size,
					int max_times)
{
	struct fi_result res = { 0, 0 };

	for (int t = 1; t <= max_times; t++) {
		char spec[64], what[80];

		snprintf(spec, sizeof(spec), "1,100,0,%d", t);
		snprintf(what, sizeof(what), "%s times=%d size %lu", attr->name, t, size);
		cr_assert_eq(kmm_fault_setup(attr, spec, strlen(spec)), 0);
		fi_one(attr, size, what, &res);
	}
	return res;
}

#define FI_BOOT "mem=64M nr_cpus=2"

Test(vmalloc, fault_injection_page_alloc, .timeout = 60)
{
	struct fi_result r;

	/* From a fresh boot, so that the page tables are allocated under
	 * injection: a failed table fails the vmalloc. */
	kt_boot(FI_BOOT);
	r = fail_every_step(&kmm_fail_page_alloc, 64 * KIB, FI_BOOT);
	cr_assert_geq(r.injected, 4, "bulk pages + 3 tables: %d", r.injected);
	cr_assert_geq(r.failed, 3, "PUD, PMD and PTE table failures: %d", r.failed);
	/* Tables exist now.  A failed bulk call falls back to single pages
	 * (vm_area_alloc_pages()): one fault is survived ... */
	r = fail_every_step(&kmm_fail_page_alloc, 64 * KIB, NULL);
	cr_assert_geq(r.injected, 1);
	cr_assert_eq(r.failed, 0, "a failed bulk allocation was not retried page by page");
	/* ... two in a row are not. */
	r = fail_n_in_a_row(&kmm_fail_page_alloc, 64 * KIB, 20);
	cr_assert_eq(r.injected, 20);
	cr_assert_geq(r.failed, 19);
}

Test(vmalloc, fault_injection_page_alloc_big, .timeout = 60)
{
	struct fi_result r;

	/* 600 pages: the page array is itself vmalloc'ed (2 pages), with
	 * page tables of its own. */
	kt_boot(FI_BOOT);
	r = fail_every_step(&kmm_fail_page_alloc, 600 * PG, FI_BOOT);
	cr_assert_geq(r.failed, 3);
	r = fail_n_in_a_row(&kmm_fail_page_alloc, 600 * PG, 8);
	cr_assert_geq(r.failed, 7);
}

Test(vmalloc, fault_injection_objcache, .timeout = 60)
{
	struct fi_result r;

	kt_boot(FI_BOOT);
	/* The vm_struct and the vmap_area: each failure fails the call. */
	r = fail_every_step(&kmm_fail_objcache, 64 * KIB, FI_BOOT);
	cr_assert_geq(r.failed, 2, "vm_struct and vmap_area: %d failures", r.failed);
	cr_assert_eq(r.failed, r.injected);
	/* With a vmalloc'ed page array: two more objects. */
	r = fail_every_step(&kmm_fail_objcache, 600 * PG, FI_BOOT);
	cr_assert_geq(r.failed, 4);
	cr_assert_eq(r.failed, r.injected);
	kmm_fault_reset(&kmm_fail_objcache);
}

/* ---- threads ------------------------------------------------------------------ */

#define TH_N 4
#define TH_ITERS 300
#define TH_HELD 6

struct vworker {
	pthread_t th;
	int id;
	uint64_t seed;
	int errors;
	char msg[256];
	unsigned long allocs, frees;
};

/* A worker's first error (kmm_test.h). */
#define vfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

struct held {
	unsigned char *p;
	unsigned long n;
	uint64_t tag;
};

static void vworker_release(struct vworker *w, struct held *h)
{
	char why[256];

	if (!stamp_ok(h->p, h->n, h->tag, why, sizeof(why)))
		vfail(w, "thread %d: %s", w->id, why);
	if (h->tag & 1)
		kmm_vfree_atomic(h->p);
	else
		kmm_vfree(h->p);
	w->frees++;
}

static void *vworker_main(void *arg)
{
	struct vworker *w = arg;
	struct held held[TH_HELD];
	int nheld = 0;
	uint64_t rs = w->seed;

	if (kmm_bind_cpu(w->id % 2))
		vfail(w, "kmm_bind_cpu(%d) failed", w->id % 2);
	for (int i = 0; i < TH_ITERS; i++) {
		unsigned r = (unsigned)(kt_rand(&rs) % 100);

		if (r < 55 && nheld < TH_HELD) {
			struct held h;
			bool zero = kt_rand(&rs) % 3 == 0;

			h.n = 1 + kt_rand(&rs) % 16;
			h.tag = ((uint64_t)(w->id + 1) << 40) | ((uint64_t)i << 1) |
				(kt_rand(&rs) & 1);
			h.p = zero ? kmm_vzalloc(h.n * PG) : kmm_vmalloc(h.n * PG - 3);
			if (!h.p) {
				vfail(w, "thread %d: vmalloc of %lu pages failed", w->id, h.n);
				continue;
			}
			w->allocs++;
			if (zero && !all_zero(h.p, h.n * PG))
				vfail(w, "thread %d: vzalloc not zeroed", w->id);
			stamp(h.p, h.n, h.tag);
			held[nheld++] = h;
		} else if (r < 97 && nheld) {
			int k = (int)(kt_rand(&rs) % (uint64_t)nheld);

			vworker_release(w, &held[k]);
			held[k] = held[--nheld];
		} else {
			kmm_vm_unmap_aliases();
		}
	}
	while (nheld)
		vworker_release(w, &held[--nheld]);
	kmm_bind_cpu(-1);
	return NULL;
}

Test(vmalloc, threads_vmalloc_vfree, .timeout = 120)
{
	kt_boot("mem=128M nr_cpus=2");
	struct vworker w[TH_N];
	uint64_t seed = kt_seed("vmalloc.threads");
	uint64_t base = free_plus_tables();
	unsigned long allocs = 0, frees = 0;
	struct kmm_vmalloc_stats st;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < TH_N; i++) {
		w[i].id = i;
		w[i].seed = seed + (uint64_t)i * 7919;
		cr_assert_eq(pthread_create(&w[i].th, NULL, vworker_main, &w[i]), 0);
	}
	for (int i = 0; i < TH_N; i++)
		pthread_join(w[i].th, NULL);
	for (int i = 0; i < TH_N; i++) {
		cr_assert_eq(w[i].errors, 0, "%s (%d errors)", w[i].msg, w[i].errors);
		allocs += w[i].allocs;
		frees += w[i].frees;
	}
	cr_assert_eq(allocs, frees);
	cr_assert_gt(allocs, TH_N * 50UL);
	kmm_vm_unmap_aliases();		/* drains vfree_atomic too */
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_busy, 0);
	cr_assert_eq(st.vmalloc_used_pages, 0);
	check_valid("after the threads");
	assert_no_page_leak(base, "threads");
}

/* /proc/meminfo's VmallocUsed and PageTables, zoneinfo's page-table count. */
static unsigned long meminfo_kb(const char *key)
{
	static char buf[8192];
	const char *p;

	kmm_report_meminfo(buf, sizeof(buf));
	p = strstr(buf, key);
	cr_assert_not_null(p, "%s missing", key);
	return strtoul(p + strlen(key), NULL, 10);
}

Test(vmalloc, meminfo_counts_vmalloc_and_page_tables)
{
	kt_boot("mem=64M nr_cpus=2");
	unsigned long used0 = meminfo_kb("VmallocUsed:"), pt0 = meminfo_kb("PageTables:");
	void *p = kmm_vmalloc(10 * PG);

	cr_assert_not_null(p);
	cr_assert_eq(meminfo_kb("VmallocUsed:"), used0 + 40);
	/* The first vmalloc created PUD, PMD and PTE tables: 3 pages more. */
	cr_assert_eq(meminfo_kb("PageTables:"), pt0 + 3 * 4);
	cr_assert_eq(meminfo_kb("PageTables:"),
		     (unsigned long)atomic_load(&kmm_init_mm.pgtables_pages) * 4);
	kmm_vfree(p);
	cr_assert_eq(meminfo_kb("VmallocUsed:"), used0);
	check_valid("meminfo");
}
