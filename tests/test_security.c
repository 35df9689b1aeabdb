/* SPDX-License-Identifier: MIT */
/*
 * test_security.c - what kmm promises a security reviewer (docs/SECURITY.md):
 *
 *   - guard pages fault: a load or store one byte past a vmalloc, vmap or
 *     alloc_vm_area area faults at exactly that address; vm_map_ram has no
 *     guard page (as in the kernel), so only unmapped VA after it faults
 *     (the power-of-two slack of a small one, free VA after a large one);
 *   - the lazy window: in real mode a vfree'd (vunmap'd, vm_unmap_ram'd)
 *     area stays readable, like a stale TLB entry, until the lazy purge
 *     (vm_unmap_aliases() or lazy_max_pages crossed); strict mode
 *     (kmm.mode=strict) unmaps at once; after the purge it faults;
 *   - an unmapped user mapping (anonymous, or remap_vmalloc_range) faults
 *     at its host address after kmm_vm_munmap();
 *   - init_on_alloc=1 / init_on_free=1 zero pages as the kernel does, for
 *     buddy pages, vmalloc pages, user anonymous pages, alloc_contig_range,
 *     free_contig_range, cma_alloc/cma_release and the frame a migrated
 *     page leaves behind; without them (and without __GFP_ZERO) the old
 *     owner's bytes are visible, which shows each check can fail;
 *     __GFP_SKIP_ZERO is ignored, as in a kernel without HW-tag KASAN;
 *   - kmm_mm_share_send(): a receiver that reads the raw message gets a
 *     read-only file for a read-only range (it cannot map it writable),
 *     the pages sent are pinned (the sender's munmap does not let them be
 *     reused or migrated), a raw PFN map of a free frame is refused with
 *     nothing pinned, and what it can reach is exactly what
 *     docs/SECURITY.md says: every page of the node file it was sent.
 *
 * Faults are caught by a SIGSEGV/SIGBUS handler that records si_addr and
 * siglongjmp()s back, so each test asserts the exact faulting address and
 * goes on.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#include "port_linux.h"

#define PG KMM_PAGE_SIZE
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define ANON_POP (KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE)

TestSuite(security, .fini = kt_fini, .timeout = 120);

/* ---- fault probes (tests/kmm_test.c) that give the faulting address ------ */

/*
 * Touch one byte at @p (store @v when @write, else load into *@out).
 * Return: NULL when the access did not fault, else the faulting address
 * the host reported.
 */
static void *touch(void *p, bool write, int v, unsigned char *out)
{
	bool ok = write ? kt_probe_write(p, v) : kt_probe_read(p, out);
	void *a = kt_probe_fault_addr();

	return ok ? NULL : a ? a : (void *)1;
}

/* Both a load and a store at @p fault, at exactly @p. */
static void assert_faults_at(void *p, const char *what)
{
	void *a = touch(p, false, 0, NULL);

	cr_assert_eq(a, p, "%s: a load at %p %s (fault address %p)", what, p,
		     a ? "faulted elsewhere" : "did not fault", a);
	cr_assert(kt_probe_fault_sig() == SIGSEGV || kt_probe_fault_sig() == SIGBUS);
	a = touch(p, true, 0x77, NULL);
	cr_assert_eq(a, p, "%s: a store at %p %s (fault address %p)", what, p,
		     a ? "faulted elsewhere" : "did not fault", a);
}

static void assert_accessible(void *p, const char *what)
{
	unsigned char v = 0;

	cr_assert_null(touch(p, false, 0, &v), "%s: a load at %p faulted", what, p);
	cr_assert_null(touch(p, true, v, NULL), "%s: a store at %p faulted", what, p);
}

/* ---- validators ---------------------------------------------------------- */

static void check(const char *what)
{
	int r = kmm_vmalloc_validate();

	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_vmalloc_validate() = %d after %s", r, what);
	r = kmm_pgtable_validate(&kmm_init_mm, false, 0, 0);
	cr_assert_eq(r, 0, "kmm_pgtable_validate() = %d after %s", r, what);
	kt_assert_valid(what);
	kt_assert_quiet(what);
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kmm_nr_free_pages();
}

static bool all_bytes(const void *p, size_t n, unsigned char b)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != b)
			return false;
	return true;
}

static struct kmm_page **alloc_page_array(unsigned n)
{
	struct kmm_page **pages = calloc(n, sizeof(*pages));

	cr_assert_not_null(pages);
	for (unsigned i = 0; i < n; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pages[i]);
		memset(kmm_page_address(pages[i]), 0x40 + (int)i, PG);
	}
	return pages;
}

static void free_page_array(struct kmm_page **pages, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kmm___free_pages(pages[i], 0);
	free(pages);
}

/* ---- (a) guard pages ------------------------------------------------------ */

Test(security, vmalloc_guard_page_faults_at_its_first_byte)
{
	static const unsigned sizes[] = { 1, 3, 16, 100 };

	kt_boot("mem=64M nr_cpus=1");
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned n = sizes[k];
		unsigned char *p = kmm_vmalloc(n * PG);
		struct kmm_vm_struct *vm;

		cr_assert_not_null(p);
		vm = kmm_find_vm_area(p);
		cr_assert_not_null(vm);
		cr_assert_eq(vm->size, (n + 1) * PG, "the area's size counts its guard page");
		memset(p, 0x5a, n * PG);
		assert_accessible(p + n * PG - 1, "last byte of the area");
		assert_faults_at(p + n * PG, "vmalloc guard page");
		assert_faults_at(p + n * PG + PG - 1, "vmalloc guard page, last byte");
		assert_faults_at(p - 1, "the byte before a vmalloc area");
		cr_assert(all_bytes(p, n * PG, 0x5a), "a faulting store changed the area");
		check("vmalloc guard");
		kmm_vfree(p);
	}
	kmm_vm_unmap_aliases();
	check("vfree");
}

Test(security, vmap_guard_page_faults)
{
	struct kmm_page **pages;
	unsigned char *p;

	kt_boot("mem=64M nr_cpus=1");
	pages = alloc_page_array(5);
	p = kmm_vmap(pages, 5, KMM_VM_MAP, KMM_PAGE_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(p[4 * PG], 0x44);
	assert_accessible(p + 5 * PG - 1, "vmap last byte");
	assert_faults_at(p + 5 * PG, "vmap guard page");
	check("vmap guard");
	kmm_vunmap(p);
	kmm_vm_unmap_aliases();
	assert_faults_at(p, "vunmap + purge");
	free_page_array(pages, 5);
	check("vunmap");
}

Test(security, vm_map_ram_large_has_no_guard_page)
{
	/* Above VMAP_MAX_ALLOC (64 pages) vm_map_ram() makes a VMAP_RAM area of
	 * exactly count pages, with no guard page, as the kernel does: the VA
	 * after it faults only while nothing else is mapped there. */
	struct kmm_page **pages;
	unsigned char *p, *q;
	unsigned n = 80;

	kt_boot("mem=64M nr_cpus=1");
	pages = alloc_page_array(2 * n);
	p = kmm_vm_map_ram(pages, n, -1);
	cr_assert_not_null(p);
	cr_assert_eq(p[(n - 1) * PG], (unsigned char)(0x40 + n - 1));
	assert_faults_at(p + n * PG, "the page after a vm_map_ram area");
	/* The next one may start right there: an overrun of p then lands in q. */
	q = kmm_vm_map_ram(pages + n, n, -1);
	cr_assert_not_null(q);
	if (q == p + n * PG)
		assert_accessible(p + n * PG, "no guard: the next vm_map_ram area");
	else
		assert_faults_at(p + n * PG, "the page after a vm_map_ram area");
	check("vm_map_ram");
	kmm_vm_unmap_ram(q, n);
	kmm_vm_unmap_ram(p, n);
	kmm_vm_unmap_aliases();
	assert_faults_at(p, "vm_unmap_ram + purge");
	assert_faults_at(q, "vm_unmap_ram + purge");
	free_page_array(pages, 2 * n);
	check("vm_unmap_ram");
}

Test(security, alloc_vm_area_maps_nothing_and_has_a_guard_page)
{
	kmm_pte_t *ptes[4];
	struct kmm_vm_struct *area;
	struct kmm_page *pg;
	unsigned char *a;

	kt_boot("mem=64M nr_cpus=1");
	area = kmm_alloc_vm_area(4 * PG, ptes);
	cr_assert_not_null(area);
	a = area->addr;
	for (int i = 0; i <= 4; i++)
		assert_faults_at(a + i * PG, "alloc_vm_area (nothing mapped)");
	pg = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_ZERO, 0);
	cr_assert_not_null(pg);
	kmm_set_pte_at(&kmm_init_mm, (unsigned long)a + 3 * PG, ptes[3],
		       kmm_pfn_pte(kmm_page_to_pfn(pg), KMM_PAGE_KERNEL));
	cr_assert_eq(kmm_flush_cache_vmap((unsigned long)a, (unsigned long)a + 4 * PG), 0);
	assert_accessible(a + 4 * PG - 1, "alloc_vm_area page mapped by the caller");
	assert_faults_at(a + 4 * PG, "alloc_vm_area guard page");
	assert_faults_at(a + 2 * PG, "alloc_vm_area page left unmapped");
	check("alloc_vm_area");
	kmm_free_vm_area(area);
	kmm_vm_unmap_aliases();
	assert_faults_at(a + 3 * PG, "free_vm_area + purge");
	cr_assert_eq(kmm_page_ref_count(pg), 1);
	kmm___free_pages(pg, 0);
	check("free_vm_area");
}

/* ---- (b) the lazy window ------------------------------------------------- */

/*
 * Real mode: vfree() clears the PTEs and frees the pages at once, but the
 * host mapping (the "TLB entry") lingers until the purge.  The window is
 * exactly [vfree, the next purge): vm_unmap_aliases(), or the vfree that
 * takes lazy pages past lazy_max_pages.
 */
Test(security, real_mode_vfree_is_readable_until_the_purge)
{
	struct kmm_vmalloc_stats st;
	unsigned char *p, v = 0;
	unsigned long purges;

	kt_boot("mem=64M nr_cpus=1");
	p = kmm_vmalloc(2 * PG);
	cr_assert_not_null(p);
	memset(p, 0xa5, 2 * PG);
	kmm_vmalloc_get_stats(&st);
	purges = st.nr_purges;
	kmm_vfree(p);
	cr_assert_null(kmm_find_vm_area(p));
	cr_assert_null(touch(p + PG, false, 0, &v), "real mode: the stale mapping is gone early");
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_purges, purges, "vfree purged");
	cr_assert_geq(st.nr_lazy_pages, 3, "the area (and its guard) is not lazy");
	kmm_vm_unmap_aliases();
	assert_faults_at(p, "vfree + vm_unmap_aliases");
	assert_faults_at(p + PG, "vfree + vm_unmap_aliases");
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_lazy_pages, 0);
	check("lazy window");
}

Test(security, real_mode_lazy_window_closes_at_lazy_max_pages)
{
	struct kmm_vmalloc_stats st;
	unsigned char *first;
	unsigned long n = 0;

	kt_boot("mem=256M nr_cpus=1");
	kmm_vmalloc_get_stats(&st);
	first = kmm_vmalloc(64 * PG);
	cr_assert_not_null(first);
	kmm_vfree(first);
	cr_assert_null(touch(first, false, 0, NULL));
	/* Free 64-page areas until a purge happens: at most lazy_max_pages. */
	for (;;) {
		unsigned char *p = kmm_vmalloc(64 * PG);

		cr_assert_not_null(p);
		kmm_vfree(p);
		n += 65;
		kmm_vmalloc_get_stats(&st);
		if (st.nr_purges)
			break;
		cr_assert_leq(n, st.lazy_max_pages + 65, "no purge after %lu lazy pages", n);
	}
	cr_assert_geq(n + 65, st.lazy_max_pages, "purged before lazy_max_pages");
	assert_faults_at(first, "lazy area after the automatic purge");
	check("auto purge");
}

Test(security, strict_mode_unmaps_at_once)
{
	struct kmm_page **pages;
	unsigned char *p, *v, *r;

	kt_boot("mem=64M nr_cpus=1 kmm.mode=strict");
	p = kmm_vmalloc(3 * PG);
	cr_assert_not_null(p);
	memset(p, 1, 3 * PG);
	kmm_vfree(p);
	for (int i = 0; i < 3; i++)
		assert_faults_at(p + i * PG, "strict vfree");
	pages = alloc_page_array(4);
	v = kmm_vmap(pages, 4, KMM_VM_MAP, KMM_PAGE_KERNEL);
	cr_assert_not_null(v);
	kmm_vunmap(v);
	assert_faults_at(v, "strict vunmap");
	r = kmm_vm_map_ram(pages, 4, -1);	/* the per-CPU block path */
	cr_assert_not_null(r);
	cr_assert_eq(r[3 * PG], 0x43);
	kmm_vm_unmap_ram(r, 4);
	assert_faults_at(r, "strict vm_unmap_ram");
	free_page_array(pages, 4);
	check("strict");
}

Test(security, real_mode_vm_unmap_ram_is_readable_until_unmap_aliases)
{
	struct kmm_page **pages;
	unsigned char *r;

	kt_boot("mem=64M nr_cpus=1");
	pages = alloc_page_array(4);
	r = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_not_null(r);
	kmm_vm_unmap_ram(r, 4);
	cr_assert_null(touch(r, false, 0, NULL), "the block's dirty span was flushed early");
	kmm_vm_unmap_aliases();
	assert_faults_at(r, "vm_unmap_ram + vm_unmap_aliases");
	free_page_array(pages, 4);
	check("vm_unmap_ram lazy");
}

/* With init_on_free=1 the window shows a scrubbed page, not the old data. */
Test(security, lazy_window_reads_zeroes_with_init_on_free)
{
	unsigned char *p, v = 0xff;

	kt_boot("mem=64M nr_cpus=1 init_on_free=1");
	p = kmm_vmalloc(PG);
	cr_assert_not_null(p);
	memset(p, 0xa5, PG);
	kmm_vfree(p);
	cr_assert_null(touch(p + 100, false, 0, &v));
	cr_assert_eq(v, 0, "the stale mapping still shows the freed bytes");
	kmm_vm_unmap_aliases();
	assert_faults_at(p, "purge");
	check("init_on_free window");
}

/* ---- (c) user mappings --------------------------------------------------- */

static struct kmm_mm_struct *new_mm(void)
{
	struct kmm_mm_struct *mm = kmm_mm_create(0);

	cr_assert_not_null(mm);
	return mm;
}

static void check_mm(struct kmm_mm_struct *mm, const char *what)
{
	int r = kmm_mm_validate(mm);

	cr_assert_eq(r, 0, "kmm_mm_validate() = %d after %s", r, what);
	check(what);
}

Test(security, munmapped_anonymous_mapping_faults)
{
	struct kmm_mm_struct *mm;
	uint64_t free0;

	kt_boot("mem=64M nr_cpus=1");
	free0 = free_now();
	mm = new_mm();
	for (int pop = 0; pop < 2; pop++) {
		unsigned long a = kmm_vm_mmap(mm, 0, 4 * PG, RW,
					      pop ? ANON_POP : KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS,
					      0, NULL);

		cr_assert_not(KMM_IS_ERR_VALUE(a));
		memset((void *)a, 0x3c, 4 * PG);	/* first touch faults the pages in */
		check_mm(mm, "mmap");
		cr_assert_eq(kmm_vm_munmap(mm, a + PG, PG), 0);
		assert_faults_at((void *)(a + PG), "munmap of one page");
		assert_accessible((void *)(a + 2 * PG), "its neighbour");
		cr_assert_eq(kmm_vm_munmap(mm, a, 4 * PG), 0);
		for (int i = 0; i < 4; i++)
			assert_faults_at((void *)(a + (unsigned long)i * PG), "munmap");
		check_mm(mm, "munmap");
	}
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), free0, "munmap + mm_destroy did not give the pages back");
	check("mm_destroy");
}

static void *ubuf;

static int remap_ubuf(struct kmm_mmap_file *f, struct kmm_vm_area_struct *vma)
{
	(void)f;
	return kmm_remap_vmalloc_range(vma, ubuf, vma->vm_pgoff);
}

Test(security, munmapped_remap_vmalloc_range_faults)
{
	struct kmm_mmap_file file = { .mmap = remap_ubuf };
	struct kmm_mm_struct *mm;
	unsigned long a;

	kt_boot("mem=64M nr_cpus=1");
	mm = new_mm();
	ubuf = kmm_vmalloc_user(4 * PG);
	cr_assert_not_null(ubuf);
	a = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &file);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	memset((void *)a, 0x6b, 4 * PG);
	cr_assert(all_bytes(ubuf, 4 * PG, 0x6b), "the user mapping is not the buffer");
	cr_assert_eq(kmm_vm_munmap(mm, a, 4 * PG), 0);
	for (int i = 0; i < 4; i++)
		assert_faults_at((void *)(a + (unsigned long)i * PG), "munmap of a remap");
	cr_assert(all_bytes(ubuf, 4 * PG, 0x6b), "munmap changed the buffer");
	check_mm(mm, "remap munmap");
	kmm_vfree(ubuf);
	kmm_mm_destroy(mm);
	check("remap done");
}

/* ---- (d) init_on_alloc / init_on_free ------------------------------------ */

/* Free a dirty order-0 page and take it back from the pcp list. */
static bool reuse_reads_zero(kmm_gfp_t gfp)
{
	/* Same migratetype, so the same pcp list. */
	struct kmm_page *p = kmm_alloc_pages(gfp & ~(KMM___GFP_ZERO | KMM___GFP_SKIP_ZERO), 0), *q;
	bool zero;

	cr_assert_not_null(p);
	memset(kmm_page_address(p), 0x5a, PG);
	kmm___free_pages(p, 0);
	q = kmm_alloc_pages(gfp, 0);
	cr_assert_eq(q, p, "the pcp list did not hand the same page back");
	zero = kt_block_is_zero(q, 0);
	kmm___free_pages(q, 0);
	return zero;
}

Test(security, without_init_on_alloc_old_bytes_are_visible)
{
	kt_boot("mem=64M nr_cpus=1");
	cr_assert_not(reuse_reads_zero(KMM_GFP_KERNEL),
		      "a reused page was zeroed although nothing asked for it");
	cr_assert(reuse_reads_zero(KMM_GFP_KERNEL | KMM___GFP_ZERO), "__GFP_ZERO did not zero");
	check("no init");
}

Test(security, init_on_alloc_zeroes_a_reused_page)
{
	kt_boot("mem=64M nr_cpus=1 init_on_alloc=1");
	cr_assert(reuse_reads_zero(KMM_GFP_KERNEL), "init_on_alloc=1: old bytes leaked");
	cr_assert(reuse_reads_zero(KMM_GFP_HIGHUSER_MOVABLE), "init_on_alloc=1: old bytes leaked");
	/* Only hardware tag-based KASAN honours __GFP_SKIP_ZERO in the kernel. */
	cr_assert(reuse_reads_zero(KMM_GFP_KERNEL | KMM___GFP_SKIP_ZERO),
		  "__GFP_SKIP_ZERO skipped init_on_alloc (kmm has no HW-tag KASAN)");
	check("init_on_alloc");
}

Test(security, init_on_free_zeroes_at_free_through_every_path)
{
	struct kmm_page *p[8];
	unsigned order;

	kt_boot("mem=64M nr_cpus=1 init_on_free=1");
	/* Orders the pcp lists take and one they do not. */
	for (order = 0; order <= 10; order += (order < 3 ? 1 : 7)) {
		struct kmm_page *b = kmm_alloc_pages(KMM_GFP_KERNEL, order);

		cr_assert_not_null(b);
		kt_block_fill(b, order, 0x77);
		kmm___free_pages(b, order);
		cr_assert(kt_block_is_zero(b, order), "init_on_free: order %u kept data", order);
	}
	/* A pcp bulk free (drain) on the way to the buddy keeps them zero. */
	for (int i = 0; i < 8; i++) {
		p[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(p[i]);
		kt_block_fill(p[i], 0, 0x78);
	}
	for (int i = 0; i < 8; i++)
		kmm___free_pages(p[i], 0);
	kmm_drain_all_pages(NULL);
	for (int i = 0; i < 8; i++)
		cr_assert(kt_block_is_zero(p[i], 0));
	/* Zero at free means __GFP_ZERO need not zero again, and is still right. */
	cr_assert(reuse_reads_zero(KMM_GFP_KERNEL | KMM___GFP_ZERO));
	cr_assert(reuse_reads_zero(KMM_GFP_KERNEL));
	/* A page with two references is zeroed when the last one goes. */
	p[0] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	kt_block_fill(p[0], 0, 0x79);
	kmm_get_page(p[0]);
	kmm_put_page(p[0]);
	cr_assert_not(kt_block_is_zero(p[0], 0), "zeroed while still held");
	kmm_put_page(p[0]);
	cr_assert(kt_block_is_zero(p[0], 0));
	check("init_on_free");
}

/* Dirty @n pages, free them, then vmalloc @n pages: how many are dirty. */
static unsigned vmalloc_dirty_pages(unsigned n, bool zeroed)
{
	struct kmm_page **pages = alloc_page_array(n);
	unsigned char *v;
	unsigned dirty = 0;

	for (unsigned i = 0; i < n; i++)
		kmm___free_pages(pages[i], 0);
	free(pages);
	v = zeroed ? kmm_vzalloc(n * PG) : kmm_vmalloc(n * PG);
	cr_assert_not_null(v);
	for (unsigned i = 0; i < n; i++)
		dirty += !all_bytes(v + i * PG, PG, 0);
	kmm_vfree(v);
	return dirty;
}

Test(security, vmalloc_pages_follow_init_on_alloc)
{
	kt_boot("mem=64M nr_cpus=1");
	cr_assert_gt(vmalloc_dirty_pages(32, false), 0,
		     "vmalloc() without init_on_alloc got only clean pages: the check cannot fail");
	cr_assert_eq(vmalloc_dirty_pages(32, true), 0, "vzalloc() returned old bytes");
	kt_shutdown();
	kt_boot("mem=64M nr_cpus=1 init_on_alloc=1");
	cr_assert_eq(vmalloc_dirty_pages(32, false), 0, "init_on_alloc=1: vmalloc() leaked");
	check("vmalloc init_on_alloc");
}

Test(security, vfree_zeroes_pages_with_init_on_free)
{
	struct kmm_page *pg[4];
	unsigned char *v;

	for (int on = 0; on < 2; on++) {
		kt_boot(on ? "mem=64M nr_cpus=1 init_on_free=1" : "mem=64M nr_cpus=1");
		v = kmm_vmalloc(4 * PG);
		cr_assert_not_null(v);
		memset(v, 0xc3, 4 * PG);
		for (int i = 0; i < 4; i++)
			pg[i] = kmm_vmalloc_to_page(v + i * PG);
		kmm_vfree(v);
		for (int i = 0; i < 4; i++)
			cr_assert_eq(kt_block_is_zero(pg[i], 0), on == 1,
				     "init_on_free=%d: page %d after vfree", on, i);
		check("vfree");
		kt_shutdown();
	}
}

Test(security, user_anonymous_pages_are_zero_and_scrubbed)
{
	for (int on = 0; on < 2; on++) {
		struct kmm_mm_struct *mm;
		unsigned long a, pfn = 0;
		struct kmm_page *page;

		kt_boot(on ? "mem=64M nr_cpus=1 init_on_free=1" : "mem=64M nr_cpus=1");
		/* A dirty page on the pcp list: the user page is always zeroed. */
		cr_assert_not(on ? false : reuse_reads_zero(KMM_GFP_HIGHUSER_MOVABLE));
		mm = new_mm();
		a = kmm_vm_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
		cr_assert_not(KMM_IS_ERR_VALUE(a));
		cr_assert(all_bytes((void *)a, PG, 0), "a new anonymous page is not zero");
		memset((void *)a, 0xe1, PG);
		cr_assert_eq(kmm_follow_pfn(mm, a, &pfn), 0);
		page = kmm_pfn_to_page(pfn);
		cr_assert_eq(kmm_vm_munmap(mm, a, PG), 0);
		cr_assert_eq(kt_block_is_zero(page, 0), on == 1,
			     "init_on_free=%d: the unmapped user page", on);
		check_mm(mm, "user scrub");
		kmm_mm_destroy(mm);
		kt_shutdown();
	}
}

/*
 * alloc_contig_range() over a user page: the page is migrated, its old
 * frame freed and handed to the caller.  Without init_on_* the caller sees
 * the user's bytes (the check can fail); with either it sees zeroes.
 */
static bool contig_over_user_page_is_zero(const char *cmdline)
{
	struct kmm_mm_struct *mm;
	unsigned long a, pfn = 0, npfn = 0;
	bool zero;

	kt_boot(cmdline);
	mm = new_mm();
	a = kmm_vm_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	memset((void *)a, 0x9d, PG);
	cr_assert_eq(kmm_follow_pfn(mm, a, &pfn), 0);
	cr_assert_eq(kmm_alloc_contig_range(pfn, pfn + 1, KMM_ACR_FLAGS_NONE,
					    KMM_GFP_KERNEL | KMM___GFP_NOWARN), 0);
	cr_assert_eq(kmm_follow_pfn(mm, a, &npfn), 0);
	cr_assert_neq(npfn, pfn, "the user page was not migrated");
	cr_assert(all_bytes((void *)a, PG, 0x9d), "migration lost the user's bytes");
	zero = kt_block_is_zero(kmm_pfn_to_page(pfn), 0);
	/* free_contig_range under init_on_free scrubs at once. */
	memset(kmm_page_address(kmm_pfn_to_page(pfn)), 0x11, PG);
	kmm_free_contig_range(pfn, 1);
	if (kmm_machine.params.init_on_free)
		cr_assert(kt_block_is_zero(kmm_pfn_to_page(pfn), 0),
			  "free_contig_range kept data under init_on_free");
	check_mm(mm, "contig over a user page");
	kmm_mm_destroy(mm);
	kt_shutdown();
	return zero;
}

Test(security, migrated_frame_handed_out_by_alloc_contig_range)
{
	cr_assert_not(contig_over_user_page_is_zero("mem=64M nr_cpus=1"),
		      "without init_on_*: the check cannot fail");
	cr_assert(contig_over_user_page_is_zero("mem=64M nr_cpus=1 init_on_alloc=1"),
		  "init_on_alloc=1: alloc_contig_range leaked the migrated page's bytes");
	cr_assert(contig_over_user_page_is_zero("mem=64M nr_cpus=1 init_on_free=1"),
		  "init_on_free=1: the migrated page's old frame kept its bytes");
}

/* cma_alloc, dirty, cma_release, cma_alloc again (first fit: same pages). */
static bool cma_reuse_is_zero(const char *cmdline, bool *zero_after_release)
{
	struct kmm_cma *c;
	struct kmm_page *p, *q;
	bool zero;

	kt_boot(cmdline);
	c = kmm_cma_area(0);
	cr_assert_not_null(c);
	p = kmm_cma_alloc(c, 16, 0, false);
	cr_assert_not_null(p);
	for (int i = 0; i < 16; i++)
		kt_block_fill(p + i, 0, 0x2e);
	cr_assert(kmm_cma_release(c, p, 16));
	*zero_after_release = true;
	for (int i = 0; i < 16; i++)
		*zero_after_release &= kt_block_is_zero(p + i, 0);
	q = kmm_cma_alloc(c, 16, 0, false);
	cr_assert_eq(q, p, "cma_alloc did not return the same pages");
	zero = true;
	for (int i = 0; i < 16; i++)
		zero &= kt_block_is_zero(q + i, 0);
	cr_assert(kmm_cma_release(c, q, 16));
	cr_assert_eq(kmm_cma_validate(), 0);
	check("cma reuse");
	kt_shutdown();
	return zero;
}

Test(security, cma_pages_follow_init_on_alloc_and_free)
{
	bool rel;

	cr_assert_not(cma_reuse_is_zero("mem=64M nr_cpus=1 cma=8M", &rel),
		      "without init_on_*: the check cannot fail");
	cr_assert_not(rel);
	cr_assert(cma_reuse_is_zero("mem=64M nr_cpus=1 cma=8M init_on_alloc=1", &rel),
		  "init_on_alloc=1: cma_alloc leaked");
	cr_assert_not(rel, "init_on_alloc alone zeroed at release");
	cr_assert(cma_reuse_is_zero("mem=64M nr_cpus=1 cma=8M init_on_free=1", &rel),
		  "init_on_free=1: cma_alloc leaked");
	cr_assert(rel, "init_on_free=1: cma_release kept the bytes");
}

/* Pages a runtime CMA area takes from its owner are scrubbed under init_on_free. */
Test(security, cma_init_reserved_mem_scrubs_the_owners_pages)
{
	struct kmm_page *blk, *p;
	struct kmm_cma *c = NULL;
	uint64_t base;

	kt_boot("mem=64M nr_cpus=1 init_on_free=1");
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, KMM_PAGEBLOCK_ORDER);
	cr_assert_not_null(blk);
	kmm_split_page(blk, KMM_PAGEBLOCK_ORDER);
	kt_block_fill(blk, KMM_PAGEBLOCK_ORDER, 0xd4);
	base = kmm_page_to_pfn(blk) << KMM_PAGE_SHIFT;
	cr_assert_eq(kmm_cma_init_reserved_mem(base, PG << KMM_PAGEBLOCK_ORDER, 0, "sec", &c), 0);
	cr_assert_not_null(c);
	cr_assert(kt_block_is_zero(blk, KMM_PAGEBLOCK_ORDER),
		  "init_on_free=1: the owner's bytes went onto the free lists");
	p = kmm_cma_alloc(c, 4, 0, false);
	cr_assert_not_null(p);
	cr_assert(kt_block_is_zero(p, 2));
	cr_assert(kmm_cma_release(c, p, 4));
	cr_assert_eq(kmm_cma_validate(), 0);
	check("cma_init_reserved_mem");
}

/* ---- (e) handing a mapping to another process ---------------------------- */

/* The wire format of src/port/linux/share.c, read by a hostile receiver. */
struct wire_hdr {
	uint64_t magic, len;
	uint32_t nr_runs, nr_fds;
};
struct wire_run {
	uint64_t offset, bytes, file_offset;
	uint32_t fd_index, prot;
};

enum {
	CH_OK = 0,
	CH_RECV = 10,	/* recvmsg / header */
	CH_ACCMODE,	/* a read-only range came with a writable file */
	CH_MAP_W,	/* a read-only file could be mapped writable */
	CH_MAP_R,	/* the range could not be mapped read-only */
	CH_BYTES,	/* the range's bytes are wrong */
	CH_REACH,	/* the documented reach (another page of the file) is not so */
	CH_MPROTECT,	/* mprotect(PROT_WRITE) on a read-only file mapping worked */
};

/* Child: receive raw, keep the fds, try what an attacker would try. */
static int hostile_receiver(int sock, uint64_t secret_off, unsigned char secret)
{
	int fds[16];
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct wire_hdr h;
	struct wire_run run;
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	unsigned nfd = 0;
	unsigned char *m;

	if (recvmsg(sock, &msg, MSG_WAITALL) != (ssize_t)sizeof(h))
		return CH_RECV;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_type == SCM_RIGHTS) {
			nfd = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
		}
	if (nfd != 1 || h.nr_fds != 1 || h.nr_runs != 1 ||
	    recv(sock, &run, sizeof(run), MSG_WAITALL) != (ssize_t)sizeof(run))
		return CH_RECV;
	if ((fcntl(fds[0], F_GETFL) & O_ACCMODE) != O_RDONLY || run.prot != PROT_READ)
		return CH_ACCMODE;
	m = mmap(NULL, run.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
		 (off_t)run.file_offset);
	if (m != MAP_FAILED || errno != EACCES)
		return CH_MAP_W;
	m = mmap(NULL, run.bytes, PROT_READ, MAP_SHARED, fds[0], (off_t)run.file_offset);
	if (m == MAP_FAILED)
		return CH_MAP_R;
	if (!all_bytes(m, run.bytes, 0x4d))
		return CH_BYTES;
	if (mprotect(m, run.bytes, PROT_READ | PROT_WRITE) == 0)
		return CH_MPROTECT;
	munmap(m, run.bytes);
	/* What docs/SECURITY.md says it can reach: any page of that file. */
	m = mmap(NULL, PG, PROT_READ, MAP_SHARED, fds[0], (off_t)secret_off);
	if (m == MAP_FAILED || m[0] != secret)
		return CH_REACH;
	return CH_OK;
}

Test(security, share_receiver_gets_a_read_only_file_and_what_it_can_reach)
{
	struct kmm_mmap_file file = { .mmap = remap_ubuf };
	struct kmm_mm_struct *mm;
	struct kmm_page *secret;
	unsigned long a;
	int sv[2], st = -1;
	pid_t pid;

	kt_boot("mem=64M nr_cpus=1");
	secret = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(secret);
	memset(kmm_page_address(secret), 0xee, PG);
	mm = new_mm();
	ubuf = kmm_vmalloc_user(2 * PG);
	cr_assert_not_null(ubuf);
	memset(ubuf, 0x4d, 2 * PG);
	a = kmm_vm_mmap(mm, 0, 2 * PG, KMM_PROT_READ, KMM_MAP_SHARED, 0, &file);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(hostile_receiver(sv[1], kmm_page_to_pfn(secret) * PG, 0xee));
	}
	close(sv[1]);
	/* One page only: vmalloc_user pages need not be PFN-contiguous. */
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, a, PG), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	close(sv[0]);
	cr_assert(WIFEXITED(st), "receiver died (status %#x)", st);
	cr_assert_eq(WEXITSTATUS(st), CH_OK, "hostile receiver: check %d failed", WEXITSTATUS(st));
	check_mm(mm, "share read-only");
	kmm_vm_munmap(mm, a, 2 * PG);
	kmm_vfree(ubuf);
	kmm_mm_destroy(mm);
	kmm___free_pages(secret, 0);
	check("share done");
}

/* Child: receive with the library, report the first byte, stay alive. */
static int pinned_receiver(int sock, int report)
{
	size_t len = 0;
	unsigned char *m = kmm_mm_share_recv(sock, &len);
	unsigned char c;

	if (!m)
		return 1;
	c = m[0];
	if (write(report, &c, 1) != 1)
		return 2;
	/* Wait until the parent has freed its side, then read again. */
	if (read(sock, &c, 1) != 1)
		return 3;
	c = m[0];
	if (write(report, &c, 1) != 1)
		return 4;
	return 0;
}

Test(security, shared_pages_stay_pinned_after_the_sender_unmaps)
{
	struct kmm_mm_struct *mm;
	unsigned long a, pfn = 0;
	struct kmm_page *page;
	int sv[2], pr[2], st = -1;
	unsigned char c = 0, go = 1;
	pid_t pid;

	kt_boot("mem=64M nr_cpus=1 init_on_free=1");
	mm = new_mm();
	a = kmm_vm_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	memset((void *)a, 0x61, PG);
	cr_assert_eq(kmm_follow_pfn(mm, a, &pfn), 0);
	page = kmm_pfn_to_page(pfn);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(pipe(pr), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		close(pr[0]);
		_exit(pinned_receiver(sv[1], pr[1]));
	}
	close(sv[1]);
	close(pr[1]);
	cr_assert_eq(kmm_page_ref_count(page), 1);
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, a, PG), 0);
	cr_assert_eq(kmm_page_ref_count(page), 2, "the page sent is not pinned");
	cr_assert_eq(read(pr[0], &c, 1), 1);
	cr_assert_eq(c, 0x61);
	/* The sender lets go; the page must not go back to the allocator. */
	cr_assert_eq(kmm_vm_munmap(mm, a, PG), 0);
	cr_assert_eq(kmm_page_ref_count(page), 1);
	cr_assert_not(kmm_page_test(page, KMM_PG_buddy) || kmm_page_test(page, KMM_PG_pcp),
		      "a page another process maps went back to the free lists");
	cr_assert_eq(kmm_alloc_contig_range(pfn, pfn + 1, KMM_ACR_FLAGS_NONE,
					    KMM_GFP_KERNEL | KMM___GFP_NOWARN),
		     -KMM_EBUSY, "the pinned page was handed to another owner");
	cr_assert_eq(write(sv[0], &go, 1), 1);
	cr_assert_eq(read(pr[0], &c, 1), 1);
	cr_assert_eq(c, 0x61, "the receiver's page was scrubbed or reused under it");
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver status %#x", st);
	close(sv[0]);
	close(pr[0]);
	check_mm(mm, "pinned share");
	kmm_mm_destroy(mm);
	check("pinned share done");
}

/* A range mapping a writable page sends the node file read-write. */
Test(security, share_of_a_writable_range_sends_a_writable_file)
{
	struct kmm_mm_struct *mm;
	unsigned long a;
	int sv[2], st = -1;
	pid_t pid;

	kt_boot("mem=64M nr_cpus=1");
	mm = new_mm();
	a = kmm_vm_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t len = 0;
		unsigned char *m = kmm_mm_share_recv(sv[1], &len);

		if (!m || len != PG)
			_exit(1);
		m[7] = 0x99;
		_exit(0);
	}
	close(sv[1]);
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, a, PG), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(((unsigned char *)a)[7], 0x99, "the receiver's store did not arrive");
	close(sv[0]);
	kmm_mm_destroy(mm);
	check("share rw");
}

/* A raw PFN map of a frame nobody holds is refused, and nothing is pinned. */
static unsigned long raw_pfn;

static int remap_raw(struct kmm_mmap_file *f, struct kmm_vm_area_struct *vma)
{
	(void)f;
	return kmm_remap_pfn_range(vma, vma->vm_start, raw_pfn, vma->vm_end - vma->vm_start,
				   vma->vm_page_prot);
}

Test(security, share_refuses_a_raw_map_of_a_free_frame)
{
	struct kmm_mmap_file file = { .mmap = remap_raw };
	struct kmm_mm_struct *mm;
	struct kmm_page *blk;
	unsigned long a;
	int sv[2], r;

	kt_boot("mem=64M nr_cpus=1");
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	cr_assert_not_null(blk);
	kmm_split_page(blk, 1);
	raw_pfn = kmm_page_to_pfn(blk);
	mm = new_mm();
	a = kmm_vm_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &file);
	cr_assert_not(KMM_IS_ERR_VALUE(a));
	/* The raw map holds no reference: the driver frees the second frame
	 * under it (a driver bug, but one the share must not export). */
	kmm___free_pages(blk + 1, 0);
	cr_assert_eq(kmm_page_ref_count(blk + 1), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r = kmm_mm_share_send(sv[0], mm, a, 2 * PG);
	cr_assert_eq(r, -EFAULT, "share_send of a free frame = %d", r);
	cr_assert_eq(kmm_page_ref_count(blk), 1, "a refused share left a pin behind");
	/* The held frame alone may go. */
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, a, PG), 0);
	cr_assert_eq(kmm_page_ref_count(blk), 2);
	close(sv[0]);
	close(sv[1]);
	kmm_mm_destroy(mm);
	check("share raw");
}

/* Below VMAP_MAX_ALLOC the request is rounded up to a power of two in a
 * per-CPU block: the slack faults, the next request starts after it. */
Test(security, vm_map_ram_small_slack_faults)
{
	struct kmm_page **pages;
	unsigned char *p, *q;

	kt_boot("mem=64M nr_cpus=1");
	pages = alloc_page_array(7);
	p = kmm_vm_map_ram(pages, 3, -1);
	cr_assert_not_null(p);
	q = kmm_vm_map_ram(pages + 3, 4, -1);
	cr_assert_not_null(q);
	assert_accessible(p + 3 * PG - 1, "the last mapped page");
	assert_faults_at(p + 3 * PG, "the rounding slack of a 3-page vm_map_ram");
	if (q == p + 4 * PG)	/* same block, next power-of-two slot: no gap */
		assert_accessible(q, "the next vm_map_ram right after the slack");
	cr_assert_eq(q[3 * PG], 0x46);
	check("vm_map_ram small");
	kmm_vm_unmap_ram(q, 4);
	kmm_vm_unmap_ram(p, 3);
	kmm_vm_unmap_aliases();
	assert_faults_at(p, "small vm_unmap_ram + purge");
	assert_faults_at(q, "small vm_unmap_ram + purge");
	free_page_array(pages, 7);
	check("vm_map_ram small done");
}
