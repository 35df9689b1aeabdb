/* SPDX-License-Identifier: MIT */
/*
 * test_mm.c - user address spaces (include/kmm/mm.h, src/core/mm.c): an
 * mm with its own page tables and VMAs, the model of mmap()/munmap(), and
 * the kernel's ways of putting kernel pages into a user mapping:
 * remap_vmalloc_range(_partial)(), vm_insert_page(s)(), remap_pfn_range()
 * and vmf_insert_pfn().
 *
 * What is proven, with real loads and stores in real mode (a user address
 * and a vmalloc or direct-map address of one page are one page of memory):
 *   - kmm_mm_create()/kmm_mm_destroy(): NULL before boot and for bad
 *     sizes, destroy(NULL), no page kept;
 *   - a driver's mmap method mapping a vmalloc_user() buffer: bytes both
 *     ways, the VMA's flags, each page's map count and reference, munmap
 *     faulting the range and leaving the buffer alone;
 *   - every documented check of kmm_remap_vmalloc_range_partial(), each
 *     with its errno and nothing mapped, counted or changed afterwards,
 *     including the part-way -EBUSY and -ENOMEM rollbacks;
 *   - a failing mmap method (its errno, no VMA, nothing mapped);
 *   - kmm_vm_insert_page(s)(), kmm_remap_pfn_range(), kmm_vmf_insert_pfn();
 *   - anonymous memory (zeroed movable pages with their reverse map,
 *     MAP_POPULATE or nothing, shared refused, splits by munmap);
 *   - MAP_FIXED, hints, refused arguments;
 *   - sharing with a forked child (the host mappings are MAP_SHARED memfd
 *     pages, so they survive fork());
 *   - kmm_mm_destroy() of a full mm;
 *   - shadow mode (bookkeeping only, never a dereference);
 *   - threads, each with its own mm, sharing one vmalloc_user() buffer
 *     (this program is in meson suite 'threads': `make tsan` runs it on
 *     tests/kt_lite.c, so only the macros kt_lite.h provides are used).
 *
 * After each step kmm_mm_validate(), kmm_vmalloc_validate() and
 * kmm_pgtable_validate(&kmm_init_mm) must be 0; tests that free all they
 * allocated check that every page came back (kernel page-table pages that
 * vmalloc keeps in init_mm aside).  Refused calls must log nothing at
 * KMM_LOG_ERR or above and no "BUG".
 *
 * Seed of the randomized tests: KMM_TEST_SEED=<n>, else the clock; printed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmm_test.h"

#include <kmm/fault.h>
#include <kmm/mm.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define PG KMM_PAGE_SIZE
#define PMD_SIZE (1UL << KMM_PMD_SHIFT)
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define ANON_POP (KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE)
#define MB (1UL << 20)
#define GB (1UL << 30)

TestSuite(mm, .fini = kt_fini, .timeout = 60);

/* ---- helpers ----------------------------------------------------------------- */

static long init_tables0;	/* kmm_init_mm.pgtables_pages right after boot */

static void boot(const char *cmdline)
{
	kt_boot(cmdline);
	init_tables0 = atomic_load(&kmm_init_mm.pgtables_pages);
}

static bool is_shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

/* The three validators (the first skipped for a NULL @mm). */
static void check_valid(struct kmm_mm_struct *mm, const char *what)
{
	if (mm)
		kt_assert_validator(kmm_mm_validate(mm), "kmm_mm_validate()", what);
	kt_assert_validator(kmm_vmalloc_validate(), "kmm_vmalloc_validate()", what);
	kt_assert_validator(kmm_pgtable_validate(&kmm_init_mm, false, 0, 0),
			"kmm_pgtable_validate(init_mm)", what);
}

/* Nothing at KMM_LOG_ERR or above, no "BUG" so far. */
static void assert_quiet(const char *what)
{
	kt_assert_quiet(what);
}

/*
 * Every page is back: lazily freed VA purged, per-CPU lists drained, and
 * the free count equals the boot's but for the table pages init_mm gained
 * (vmalloc keeps kernel page tables, as the kernel does).
 */
static void assert_all_back(const char *what)
{
	long extra;

	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	extra = atomic_load(&kmm_init_mm.pgtables_pages) - init_tables0;
	cr_assert_geq(extra, 0);
	cr_assert_eq(kt_free_total() + (uint64_t)extra, kt_boot_free,
		     "%s: %llu free + %ld kernel table pages, %llu at boot", what,
		     (unsigned long long)kt_free_total(), extra,
		     (unsigned long long)kt_boot_free);
	kt_assert_valid(what);
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kt_free_total();
}

static struct kmm_mm_struct *new_mm(unsigned long size)
{
	struct kmm_mm_struct *mm = kmm_mm_create(size);

	if (!mm)
		kt_log_dump("kmm_mm_create");
	cr_assert_not_null(mm, "kmm_mm_create(%#lx) failed", size);
	check_valid(mm, "kmm_mm_create");
	return mm;
}

static unsigned char *U(unsigned long a)
{
	return (unsigned char *)a;
}

static bool err_value(unsigned long a)
{
	return KMM_IS_ERR_VALUE(a);
}

/* mmap that must succeed. */
static unsigned long do_mmap(struct kmm_mm_struct *mm, unsigned long addr, unsigned long len,
			     unsigned long prot, unsigned long flags, unsigned long pgoff,
			     struct kmm_mmap_file *file)
{
	unsigned long a = kmm_vm_mmap(mm, addr, len, prot, flags, pgoff, file);

	if (err_value(a))
		kt_log_dump("kmm_vm_mmap");
	cr_assert_not(err_value(a), "kmm_vm_mmap(%#lx, %#lx, prot %#lx, flags %#lx) = %ld", addr,
		      len, prot, flags, (long)a);
	cr_assert_eq(a & (PG - 1), 0, "%#lx not page aligned", a);
	cr_assert_geq(a, mm->mmap_base);
	cr_assert_leq(a + KMM_ALIGN_UP(len, PG), mm->task_size);
	return a;
}

static void do_munmap(struct kmm_mm_struct *mm, unsigned long a, unsigned long len)
{
	int r = kmm_vm_munmap(mm, a, len);

	cr_assert_eq(r, 0, "kmm_vm_munmap(%#lx, %#lx) = %d", a, len, r);
}

/* The PFN mapped at @a, or ~0UL. */
static unsigned long upfn(struct kmm_mm_struct *mm, unsigned long a)
{
	unsigned long pfn = 0;

	if (kmm_follow_pfn(mm, a, &pfn))
		return ~0UL;
	return pfn;
}

static bool umapped(struct kmm_mm_struct *mm, unsigned long a)
{
	return upfn(mm, a) != ~0UL;
}

static struct kmm_page *upage(struct kmm_mm_struct *mm, unsigned long a)
{
	unsigned long pfn = upfn(mm, a);

	cr_assert_neq(pfn, ~0UL, "nothing mapped at %#lx", a);
	cr_assert_lt(pfn, kmm_machine.max_pfn);
	return kmm_pfn_to_page(pfn);
}

/* Nothing mapped in [a, a + n pages), by the PTEs and (real mode) the host. */
static void assert_unmapped(struct kmm_mm_struct *mm, unsigned long a, unsigned long n,
			    const char *what)
{
	for (unsigned long i = 0; i < n; i++) {
		cr_assert_not(umapped(mm, a + i * PG), "%s: page %lu (%#lx) is mapped", what, i,
			      a + i * PG);
		if (!is_shadow())
			cr_assert_not(kt_probe_read(U(a + i * PG), NULL),
				      "%s: page %lu (%#lx) can be read", what, i, a + i * PG);
	}
}

static int refc(const struct kmm_page *p)
{
	return atomic_load(&((struct kmm_page *)p)->_refcount);
}

static int mapc(const struct kmm_page *p)
{
	return atomic_load(&((struct kmm_page *)p)->_mapcount);
}

/* Reference and map counts of a vmalloc area's pages. */
#define MAXP 64
struct counts {
	unsigned n;
	struct kmm_page *page[MAXP];
	int ref[MAXP], map[MAXP];
};

static void counts_take(struct counts *c, const void *kaddr, unsigned n)
{
	cr_assert_leq(n, MAXP);
	c->n = n;
	for (unsigned i = 0; i < n; i++) {
		c->page[i] = kmm_vmalloc_to_page((const char *)kaddr + (size_t)i * PG);
		cr_assert_not_null(c->page[i], "no page %u at %p", i, kaddr);
		c->ref[i] = refc(c->page[i]);
		c->map[i] = mapc(c->page[i]);
	}
}

/* Each page's counts are @before's plus @dref/@dmap. */
static void counts_assert(const struct counts *before, int dref, int dmap, const char *what)
{
	for (unsigned i = 0; i < before->n; i++) {
		cr_assert_eq(refc(before->page[i]), before->ref[i] + dref,
			     "%s: page %u refcount %d, expected %d", what, i, refc(before->page[i]),
			     before->ref[i] + dref);
		cr_assert_eq(mapc(before->page[i]), before->map[i] + dmap,
			     "%s: page %u mapcount %d, expected %d", what, i, mapc(before->page[i]),
			     before->map[i] + dmap);
	}
}

/* ---- contents ---------------------------------------------------------------- */

static uint64_t word_of(uint64_t tag, unsigned long page, unsigned long w)
{
	uint64_t x = tag * 0x9E3779B97F4A7C15ULL + (page << 32) + w;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	return x ^ (x >> 29);
}

/* Fill @n whole pages at @p with a pattern that differs per page and word. */
static void fill(void *p, unsigned long n, uint64_t tag)
{
	volatile uint64_t *w = p;

	for (unsigned long i = 0; i < n; i++)
		for (unsigned long k = 0; k < PG / 8; k++)
			w[i * (PG / 8) + k] = word_of(tag, i, k);
}

/* The first page that lacks the pattern, or -1. */
static long first_bad(const void *p, unsigned long n, uint64_t tag)
{
	const volatile uint64_t *w = p;

	for (unsigned long i = 0; i < n; i++)
		for (unsigned long k = 0; k < PG / 8; k++)
			if (w[i * (PG / 8) + k] != word_of(tag, i, k))
				return (long)i;
	return -1;
}

static bool all_zero(const void *p, unsigned long n)
{
	const volatile uint64_t *w = p;

	for (unsigned long k = 0; k < n * (PG / 8); k++)
		if (w[k])
			return false;
	return true;
}

/* Pattern through @a, read through @b, and the other way round. */
static void assert_alias(void *a, void *b, unsigned long n, uint64_t tag, const char *what)
{
	long bad;

	fill(a, n, tag);
	bad = first_bad(b, n, tag);
	cr_assert_eq(bad, -1, "%s: page %ld written at %p not seen at %p", what, bad, a, b);
	cr_assert_eq(memcmp(a, b, n * PG), 0, "%s: %p and %p differ", what, a, b);
	fill(b, n, tag ^ 0xfeedULL);
	bad = first_bad(a, n, tag ^ 0xfeedULL);
	cr_assert_eq(bad, -1, "%s: page %ld written at %p not seen at %p", what, bad, b, a);
	cr_assert_eq(memcmp(a, b, n * PG), 0, "%s: %p and %p differ", what, a, b);
}

/* ---- drivers ----------------------------------------------------------------- */

enum drv_mode {
	DRV_NOTHING,		/* map nothing, succeed */
	DRV_REMAP,		/* remap_vmalloc_range(vma, buf, vm_pgoff) */
	DRV_REMAP_THEN_FAIL,	/* remap, then return d->ret */
	DRV_FAIL,		/* map nothing, return d->ret */
	DRV_PFNMAP,		/* set VM_PFNMAP | VM_IO (a fault-handler driver) */
	DRV_REMAP_PFN,		/* remap_pfn_range() of d->pfn over the VMA */
	DRV_INSERT,		/* vm_insert_page() of d->page at vm_start */
};

struct drv {
	struct kmm_mmap_file file;
	enum drv_mode mode;
	void *buf;
	unsigned long pfn;
	struct kmm_page *page;
	int ret;		/* what DRV_*FAIL return */
	atomic_int calls;
	int last;		/* what the method returned last */
	/* What the method saw (single-threaded tests). */
	unsigned long seen_start, seen_end, seen_flags, seen_pgoff;
	struct kmm_mm_struct *seen_mm;
	struct kmm_mmap_file *seen_file;
	bool seen_empty;	/* nothing mapped in the new VMA */
};

static int drv_mmap(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma)
{
	struct drv *d = file->private_data;
	int r = 0;

	if (atomic_fetch_add(&d->calls, 1) == 0 || d->mode != DRV_REMAP) {
		/* Not in the threads test's hot path: it only remaps. */
		d->seen_start = vma->vm_start;
		d->seen_end = vma->vm_end;
		d->seen_flags = vma->vm_flags;
		d->seen_pgoff = vma->vm_pgoff;
		d->seen_mm = vma->vm_mm;
		d->seen_file = vma->vm_file;
		d->seen_empty = true;
		for (unsigned long a = vma->vm_start; a < vma->vm_end; a += PG) {
			unsigned long pfn;

			if (kmm_follow_pfn(vma->vm_mm, a, &pfn) == 0)
				d->seen_empty = false;
		}
	}
	switch (d->mode) {
	case DRV_NOTHING:
		break;
	case DRV_REMAP:
		r = kmm_remap_vmalloc_range(vma, d->buf, vma->vm_pgoff);
		break;
	case DRV_REMAP_THEN_FAIL:
		r = kmm_remap_vmalloc_range(vma, d->buf, vma->vm_pgoff);
		if (!r)
			r = d->ret;
		break;
	case DRV_FAIL:
		r = d->ret;
		break;
	case DRV_PFNMAP:
		vma->vm_flags |= KMM_VM_PFNMAP | KMM_VM_IO;
		break;
	case DRV_REMAP_PFN:
		r = kmm_remap_pfn_range(vma, vma->vm_start, d->pfn, vma->vm_end - vma->vm_start,
					vma->vm_page_prot);
		break;
	case DRV_INSERT:
		r = kmm_vm_insert_page(vma, vma->vm_start, d->page);
		break;
	}
	if (d->mode != DRV_REMAP)
		d->last = r;
	return r;
}

static void drv_init(struct drv *d, enum drv_mode mode, void *buf)
{
	memset(d, 0, sizeof(*d));
	d->file.mmap = drv_mmap;
	d->file.private_data = d;
	d->mode = mode;
	d->buf = buf;
}

static void *vuser(unsigned long n)
{
	void *p = kmm_vmalloc_user(n * PG);

	cr_assert_not_null(p, "vmalloc_user(%lu pages)", n);
	return p;
}

/* The caller of the mapping calls outside a driver method holds mmap_lock. */
static void mm_lock(struct kmm_mm_struct *mm)
{
	kmm_port_lock(&mm->mmap_lock);
}

static void mm_unlock(struct kmm_mm_struct *mm)
{
	kmm_port_unlock(&mm->mmap_lock);
}

static int remap_partial(struct kmm_vm_area_struct *vma, unsigned long uaddr, void *kaddr,
			 unsigned long pgoff, unsigned long size)
{
	int r;

	mm_lock(vma->vm_mm);
	r = kmm_remap_vmalloc_range_partial(vma, uaddr, kaddr, pgoff, size);
	mm_unlock(vma->vm_mm);
	return r;
}

static int insert_page(struct kmm_vm_area_struct *vma, unsigned long addr, struct kmm_page *p)
{
	int r;

	mm_lock(vma->vm_mm);
	r = kmm_vm_insert_page(vma, addr, p);
	mm_unlock(vma->vm_mm);
	return r;
}

static int insert_pages(struct kmm_vm_area_struct *vma, unsigned long addr,
			struct kmm_page **pages, unsigned long *num)
{
	int r;

	mm_lock(vma->vm_mm);
	r = kmm_vm_insert_pages(vma, addr, pages, num);
	mm_unlock(vma->vm_mm);
	return r;
}

static int remap_pfn(struct kmm_vm_area_struct *vma, unsigned long addr, unsigned long pfn,
		     unsigned long size)
{
	int r;

	mm_lock(vma->vm_mm);
	r = kmm_remap_pfn_range(vma, addr, pfn, size, vma->vm_page_prot);
	mm_unlock(vma->vm_mm);
	return r;
}

static unsigned insert_pfn(struct kmm_vm_area_struct *vma, unsigned long addr,
			   unsigned long pfn)
{
	unsigned r;

	mm_lock(vma->vm_mm);
	r = kmm_vmf_insert_pfn(vma, addr, pfn);
	mm_unlock(vma->vm_mm);
	return r;
}

static struct kmm_vm_area_struct *vma_at(struct kmm_mm_struct *mm, unsigned long a,
					 unsigned long start, unsigned long end)
{
	struct kmm_vm_area_struct *vma = kmm_find_vma(mm, a);

	cr_assert_not_null(vma, "no VMA at %#lx", a);
	cr_assert_eq(vma->vm_start, start, "VMA at %#lx starts at %#lx, expected %#lx", a,
		     vma->vm_start, start);
	cr_assert_eq(vma->vm_end, end, "VMA at %#lx ends at %#lx, expected %#lx", a,
		     vma->vm_end, end);
	cr_assert_eq(vma->vm_mm, mm);
	return vma;
}

/* An empty driver VMA of @n pages (anywhere, or MAP_FIXED at @at). */
static unsigned long null_vma(struct kmm_mm_struct *mm, struct drv *d, unsigned long at,
			      unsigned long n, unsigned long flags)
{
	drv_init(d, DRV_NOTHING, NULL);
	return do_mmap(mm, at, n * PG, RW, flags | (at ? KMM_MAP_FIXED : 0), 0, &d->file);
}

static struct kmm_page *alloc_page(void)
{
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 0);

	cr_assert_not_null(p);
	return p;
}

/* ---- 1. create and destroy ----------------------------------------------------- */

Test(mm, create_before_boot_is_null)
{
	kt_log_start();
	cr_assert_null(kmm_mm_create(0), "kmm_mm_create before boot");
	cr_assert_null(kmm_mm_create(GB));
	kmm_mm_destroy(NULL);
	assert_quiet("before boot");
	kt_log_stop();
	boot("mem=64M");
	kt_shutdown();
	kt_log_start();
	cr_assert_null(kmm_mm_create(GB), "kmm_mm_create after shutdown");
	kt_log_stop();
}

Test(mm, create_bad_sizes)
{
	struct kmm_mm_struct *mm;

	boot("mem=64M");
	cr_assert_null(kmm_mm_create(PG + 1), "unaligned size");
	cr_assert_null(kmm_mm_create(GB - 1), "unaligned size");
	cr_assert_null(kmm_mm_create(1), "unaligned size");
	cr_assert_null(kmm_mm_create(-PG), "no host can reserve 2^64 - 4096 bytes");
	cr_assert_null(kmm_mm_create(1UL << 50), "no host can reserve 1 PiB");
	kmm_mm_destroy(NULL);
	check_valid(NULL, "refused creates");
	assert_quiet("refused creates");
	/* Still works afterwards. */
	mm = new_mm(GB);
	kmm_mm_destroy(mm);
	assert_all_back("create after refusals");
}

Test(mm, create_destroy_leaks_nothing)
{
	struct kmm_mm_struct *mm[4];
	uint64_t f0;

	boot("mem=64M");
	f0 = free_now();
	mm[0] = new_mm(0);
	cr_assert_eq(mm[0]->task_size - mm[0]->mmap_base, 64 * GB, "size 0 is 64 GiB");
	cr_assert(mm[0]->user);
	cr_assert_eq(mm[0]->map_count, 0);
	cr_assert_eq(mm[0]->mmap_base & (PG - 1), 0);
	cr_assert_null(kmm_find_vma(mm[0], mm[0]->mmap_base), "a new mm has no VMA");
	cr_assert_lt(free_now(), f0, "the mm's page-table root is a page");
	mm[1] = new_mm(GB);
	cr_assert_eq(mm[1]->task_size - mm[1]->mmap_base, GB);
	mm[2] = new_mm(16 * MB);
	mm[3] = new_mm(PG * 16);
	cr_assert_eq(mm[3]->task_size - mm[3]->mmap_base, 16 * PG);
	if (!is_shadow()) {
		/* Separate reservations, none of them memory yet. */
		for (int i = 0; i < 4; i++) {
			cr_assert_not(kt_probe_read(U(mm[i]->mmap_base), NULL));
			for (int j = 0; j < i; j++)
				cr_assert(mm[i]->task_size <= mm[j]->mmap_base ||
					  mm[j]->task_size <= mm[i]->mmap_base,
					  "mm %d and %d overlap", i, j);
		}
	}
	for (int i = 0; i < 4; i++)
		kmm_mm_destroy(mm[i]);
	kmm_mm_destroy(NULL);
	cr_assert_eq(free_now(), f0, "create + destroy kept pages");
	/* Many in a row. */
	for (int i = 0; i < 50; i++)
		kmm_mm_destroy(new_mm(GB));
	cr_assert_eq(free_now(), f0);
	assert_all_back("create/destroy");
	assert_quiet("create/destroy");
}

/* ---- 2. a driver mmap of a vmalloc_user() buffer ------------------------------- */

Test(mm, remap_vmalloc_user_both_ways)
{
	enum { N = 8 };
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long ua;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(N);
	counts_take(&c0, buf, N);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(c0.map[i], -1, "an unmapped vmalloc page has _mapcount -1");
		cr_assert_geq(c0.ref[i], 1);
	}
	cr_assert(all_zero(buf, N), "vmalloc_user memory is zeroed");
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq(atomic_load(&d.calls), 1, "the driver's mmap method ran once");
	cr_assert_eq(d.seen_start, ua);
	cr_assert_eq(d.seen_end, ua + N * PG);
	cr_assert(d.seen_empty, "the method got a VMA with nothing mapped");
	check_valid(mm, "driver mmap");

	vma = vma_at(mm, ua, ua, ua + N * PG);
	cr_assert_eq(vma->vm_file, &d.file);
	cr_assert_eq(vma->vm_pgoff, 0);
	cr_assert_eq(vma->vm_flags & (KMM_VM_MIXEDMAP | KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP),
		     KMM_VM_MIXEDMAP | KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP,
		     "vm_flags %#lx", vma->vm_flags);
	cr_assert_eq(vma->vm_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED),
		     KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED, "vm_flags %#lx", vma->vm_flags);
	cr_assert_eq(vma->vm_flags & KMM_VM_PFNMAP, 0);
	cr_assert_eq(mm->map_count, 1);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(upfn(mm, ua + i * PG), kmm_page_to_pfn(c0.page[i]),
			     "user page %u maps PFN %#lx, the buffer's page is %#llx", i,
			     upfn(mm, ua + i * PG), (unsigned long long)kmm_page_to_pfn(c0.page[i]));
	counts_assert(&c0, +1, +1, "mapped once");
	cr_assert_eq(atomic_load(&mm->rss_file), N, "MM_FILEPAGES");
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);

	/* Real memory, both ways. */
	assert_alias(U(ua), buf, N, 0x1234, "user -> vmalloc");
	assert_alias(buf, U(ua), N, 0x4321, "vmalloc -> user");
	/* And a byte per page. */
	for (unsigned i = 0; i < N; i++) {
		U(ua)[i * PG + 17] = (unsigned char)(0xa0 + i);
		cr_assert_eq(buf[i * PG + 17], 0xa0 + i);
	}
	fill(U(ua), N, 77);
	check_valid(mm, "after the stores");

	do_munmap(mm, ua, N * PG);
	cr_assert_null(kmm_find_vma(mm, ua));
	cr_assert_eq(mm->map_count, 0);
	assert_unmapped(mm, ua, N, "after munmap");
	cr_assert_eq(first_bad(buf, N, 77), -1, "munmap changed the vmalloc area");
	counts_assert(&c0, 0, 0, "after munmap");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(kmm_vmalloc_to_page(buf + i * PG), c0.page[i]);
	check_valid(mm, "munmap");

	/* Mapped twice in one mm: two references, two map counts per page. */
	{
		unsigned long u1 = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
		unsigned long u2 = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);

		cr_assert_neq(u1, u2);
		counts_assert(&c0, +2, +2, "mapped twice");
		assert_alias(U(u1), U(u2), N, 99, "two user mappings");
		cr_assert_eq(first_bad(buf, N, 99 ^ 0xfeedULL), -1);
		check_valid(mm, "mapped twice");
		do_munmap(mm, u1, N * PG);
		counts_assert(&c0, +1, +1, "one unmapped");
		cr_assert_eq(first_bad(U(u2), N, 99 ^ 0xfeedULL), -1);
		do_munmap(mm, u2, N * PG);
		counts_assert(&c0, 0, 0, "both unmapped");
	}
	kmm_vfree(buf);
	kmm_mm_destroy(mm);
	assert_all_back("remap + vfree");
	assert_quiet("remap");
}

Test(mm, remap_read_only_mapping_is_read_only)
{
	struct kmm_mm_struct *mm;
	struct drv d;
	unsigned char *buf, v = 0;
	unsigned long ua;

	boot("mem=64M");
	if (is_shadow())
		cr_skip_test("real mode only");
	mm = new_mm(GB);
	buf = vuser(2);
	buf[5] = 0x5a;
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, 2 * PG, KMM_PROT_READ, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq(kmm_find_vma(mm, ua)->vm_flags & KMM_VM_WRITE, 0);
	cr_assert(kt_probe_read(U(ua) + 5, &v));
	cr_assert_eq(v, 0x5a);
	cr_assert_not(kt_probe_write(U(ua) + 5, 1), "a PROT_READ mapping took a store");
	cr_assert_eq(buf[5], 0x5a);
	check_valid(mm, "read-only remap");
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("read-only remap");
}

Test(mm, remap_from_pgoff_and_exact_fit)
{
	enum { N = 6 };
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long ua;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(N);
	counts_take(&c0, buf, N);
	drv_init(&d, DRV_REMAP, buf);
	/* Pages 2..5 of the area: exactly its end. */
	ua = do_mmap(mm, 0, (N - 2) * PG, RW, KMM_MAP_SHARED, 2, &d.file);
	cr_assert_eq(kmm_find_vma(mm, ua)->vm_pgoff, 2);
	cr_assert_eq(d.seen_pgoff, 2, "the method sees vm_pgoff");
	for (unsigned i = 0; i < N - 2; i++)
		cr_assert_eq(upfn(mm, ua + i * PG), kmm_page_to_pfn(c0.page[i + 2]),
			     "user page %u is not area page %u", i, i + 2);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(refc(c0.page[i]), c0.ref[i] + (i >= 2), "page %u", i);
		cr_assert_eq(mapc(c0.page[i]), c0.map[i] + (i >= 2), "page %u", i);
	}
	if (!is_shadow())
		assert_alias(U(ua), buf + 2 * PG, N - 2, 5, "from pgoff 2");
	check_valid(mm, "pgoff 2");
	do_munmap(mm, ua, (N - 2) * PG);
	counts_assert(&c0, 0, 0, "pgoff munmap");
	/* The whole area exactly. */
	ua = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	counts_assert(&c0, +1, +1, "exact fit");
	do_munmap(mm, ua, N * PG);
	/* Rounding: a length one byte over N - 1 pages is N pages. */
	ua = do_mmap(mm, 0, (N - 1) * PG + 1, RW, KMM_MAP_SHARED, 0, &d.file);
	vma_at(mm, ua, ua, ua + N * PG);
	counts_assert(&c0, +1, +1, "rounded length");
	do_munmap(mm, ua, N * PG);
	counts_assert(&c0, 0, 0, "after all");
	check_valid(mm, "exact fit");
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("pgoff");
}

/* An area of N pages cannot cover N + 1 pages, although its size has a guard page. */
Test(mm, remap_guard_page_excluded)
{
	enum { N = 4 };
	struct kmm_mm_struct *mm;
	struct kmm_vm_struct *vm;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long r;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(N);
	vm = kmm_find_vm_area(buf);
	cr_assert_not_null(vm);
	cr_assert_eq(vm->size, (N + 1) * PG, "the area has its guard page");
	cr_assert(vm->flags & KMM_VM_USERMAP);
	counts_take(&c0, buf, N);
	drv_init(&d, DRV_REMAP, buf);
	kt_log_clear();
	r = kmm_vm_mmap(mm, 0, (N + 1) * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq((long)r, -KMM_EINVAL, "N + 1 pages from an area of N: %ld", (long)r);
	cr_assert_eq(atomic_load(&d.calls), 1);
	r = kmm_vm_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 1, &d.file);
	cr_assert_eq((long)r, -KMM_EINVAL, "N pages from page 1 of an area of N: %ld", (long)r);
	r = kmm_vm_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, N, &d.file);
	cr_assert_eq((long)r, -KMM_EINVAL, "the guard page itself: %ld", (long)r);
	cr_assert_eq(mm->map_count, 0, "a failed mmap leaves no VMA");
	cr_assert_null(kmm_find_vma(mm, mm->mmap_base));
	counts_assert(&c0, 0, 0, "refused remaps");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	check_valid(mm, "refused remaps");
	assert_quiet("refused remaps");
	/* Page N - 1 alone still fits. */
	r = do_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, N - 1, &d.file);
	cr_assert_eq(upfn(mm, r), kmm_page_to_pfn(c0.page[N - 1]));
	kmm_mm_destroy(mm);
	counts_assert(&c0, 0, 0, "destroyed");
	kmm_vfree(buf);
	assert_all_back("guard");
}

/* ---- 3. every check of remap_vmalloc_range_partial ------------------------------- */

struct partial_env {
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	unsigned long ua, npages;	/* the VMA */
	unsigned char *buf;		/* vmalloc_user, BUFP pages */
	struct counts c0;
	unsigned long flags0;
	struct drv d;
};

#define BUFP 8

static void partial_setup(struct partial_env *e, unsigned long vma_pages)
{
	e->mm = new_mm(GB);
	e->buf = vuser(BUFP);
	counts_take(&e->c0, e->buf, BUFP);
	e->npages = vma_pages;
	e->ua = null_vma(e->mm, &e->d, 0, vma_pages, KMM_MAP_SHARED);
	e->vma = vma_at(e->mm, e->ua, e->ua, e->ua + vma_pages * PG);
	e->flags0 = e->vma->vm_flags;
	cr_assert_eq(e->flags0 & (KMM_VM_MIXEDMAP | KMM_VM_PFNMAP), 0,
		     "an empty driver VMA is plain: %#lx", e->flags0);
}

/* A refused call: @r is -@err and nothing changed. */
static void partial_refused(struct partial_env *e, int r, int err, const char *what)
{
	cr_assert_eq(r, -err, "%s: returned %d, expected %d", what, r, -err);
	assert_unmapped(e->mm, e->ua, e->npages, what);
	counts_assert(&e->c0, 0, 0, what);
	cr_assert_eq(e->vma->vm_flags, e->flags0, "%s: vm_flags %#lx, were %#lx", what,
		     e->vma->vm_flags, e->flags0);
	cr_assert_eq(atomic_load(&e->mm->rss_file), 0, "%s", what);
	cr_assert_eq(e->mm->map_count, 1, "%s", what);
	vma_at(e->mm, e->ua, e->ua, e->ua + e->npages * PG);
	check_valid(e->mm, what);
}

static void partial_teardown(struct partial_env *e)
{
	kmm_mm_destroy(e->mm);
	counts_assert(&e->c0, 0, 0, "destroyed");
	kmm_vfree(e->buf);
	assert_all_back("partial");
	assert_quiet("refused partial remaps");
}

Test(mm, remap_partial_argument_checks)
{
	struct partial_env e;
	void *kbuf, *gone, *heap, *past;
	struct kmm_vm_struct *vm;
	int r;

	boot("mem=64M");
	partial_setup(&e, 4);

	/* pgoff << PAGE_SHIFT overflows. */
	r = remap_partial(e.vma, e.ua, e.buf, 1UL << (64 - KMM_PAGE_SHIFT), PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff << PAGE_SHIFT overflows");
	r = remap_partial(e.vma, e.ua, e.buf, ~0UL, PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff ~0");
	/* Unaligned user address. */
	r = remap_partial(e.vma, e.ua + 1, e.buf, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "unaligned uaddr");
	r = remap_partial(e.vma, e.ua + PG / 2, e.buf, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "uaddr in mid-page");
	/* Unaligned kernel address. */
	r = remap_partial(e.vma, e.ua, e.buf + 8, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "unaligned kaddr");
	/* Not a vmalloc area: host memory. */
	heap = aligned_alloc(PG, PG);
	cr_assert_not_null(heap);
	r = remap_partial(e.vma, e.ua, heap, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "malloc'ed kaddr");
	free(heap);
	/* Not a vmalloc area: the direct map. */
	{
		struct kmm_page *p = alloc_page();

		r = remap_partial(e.vma, e.ua, kmm_page_address(p), 0, PG);
		partial_refused(&e, r, KMM_EINVAL, "direct-map kaddr");
		kmm___free_pages(p, 0);
	}
	/* Just past the last area (the guard page's end). */
	vm = kmm_find_vm_area(e.buf);
	cr_assert_not_null(vm);
	past = (char *)vm->addr + vm->size;
	cr_assert_null(kmm_find_vm_area(past), "precondition: nothing busy at %p", past);
	r = remap_partial(e.vma, e.ua, past, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "kaddr just past an area");
	/* A freed area. */
	gone = kmm_vmalloc_user(2 * PG);
	cr_assert_not_null(gone);
	kmm_vfree(gone);
	cr_assert_null(kmm_find_vm_area(gone));
	r = remap_partial(e.vma, e.ua, gone, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "a freed area");
	/* An area without VM_USERMAP. */
	kbuf = kmm_vmalloc(4 * PG);
	cr_assert_not_null(kbuf);
	cr_assert_eq(kmm_find_vm_area(kbuf)->flags & (KMM_VM_USERMAP | KMM_VM_DMA_COHERENT), 0);
	r = remap_partial(e.vma, e.ua, kbuf, 0, PG);
	partial_refused(&e, r, KMM_EINVAL, "vmalloc() area (no VM_USERMAP)");
	r = remap_partial(e.vma, e.ua, kbuf, 0, 4 * PG);
	partial_refused(&e, r, KMM_EINVAL, "vmalloc() area, whole");
	/* pgoff + size past the area (BUFP pages, the guard excluded). */
	r = remap_partial(e.vma, e.ua, e.buf, BUFP, PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff at the guard page");
	r = remap_partial(e.vma, e.ua, e.buf, BUFP - 1, 2 * PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff + size one page past");
	r = remap_partial(e.vma, e.ua, e.buf, BUFP - 3, 4 * PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff + size one page past (4 pages)");
	r = remap_partial(e.vma, e.ua, e.buf, BUFP + 100, PG);
	partial_refused(&e, r, KMM_EINVAL, "pgoff far past");
	/* size + (pgoff << PAGE_SHIFT) overflows. */
	r = remap_partial(e.vma, e.ua, e.buf, ~0UL >> KMM_PAGE_SHIFT, 2 * PG);
	partial_refused(&e, r, KMM_EINVAL, "size + offset overflows");
	r = remap_partial(e.vma, e.ua, e.buf, 1, -PG);
	partial_refused(&e, r, KMM_EINVAL, "size ~0 - 4095 from pgoff 1");
	/* Not inside the VMA: -EFAULT (the area is big enough). */
	r = remap_partial(e.vma, e.ua, e.buf, 0, 5 * PG);
	partial_refused(&e, r, KMM_EFAULT, "one page past the VMA's end");
	r = remap_partial(e.vma, e.ua + 3 * PG, e.buf, 0, 2 * PG);
	partial_refused(&e, r, KMM_EFAULT, "straddling the VMA's end");
	r = remap_partial(e.vma, e.ua - PG, e.buf, 0, 2 * PG);
	partial_refused(&e, r, KMM_EFAULT, "straddling the VMA's start");
	r = remap_partial(e.vma, e.ua + 4 * PG, e.buf, 0, PG);
	partial_refused(&e, r, KMM_EFAULT, "at the VMA's end");

	/* Exactly the VMA, from the area's end: fine. */
	r = remap_partial(e.vma, e.ua, e.buf, BUFP - 4, 4 * PG);
	cr_assert_eq(r, 0, "the last 4 pages of the area: %d", r);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(upfn(e.mm, e.ua + i * PG), kmm_page_to_pfn(e.c0.page[BUFP - 4 + i]));
	cr_assert_eq(e.vma->vm_flags & (KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP | KMM_VM_MIXEDMAP),
		     KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP | KMM_VM_MIXEDMAP);
	check_valid(e.mm, "exact remap");
	do_munmap(e.mm, e.ua, 4 * PG);
	kmm_vfree(kbuf);
	partial_teardown(&e);
}

/* A sub-range of the VMA from a sub-range of the area maps exactly that. */
Test(mm, remap_partial_subrange)
{
	struct partial_env e;
	int r;

	boot("mem=64M");
	partial_setup(&e, 8);
	/* Area pages 2, 3, 4 at VMA pages 3, 4, 5; size rounded up to pages. */
	r = remap_partial(e.vma, e.ua + 3 * PG, e.buf, 2, 2 * PG + 1);
	cr_assert_eq(r, 0, "partial remap: %d", r);
	for (unsigned i = 0; i < 8; i++) {
		if (i >= 3 && i <= 5)
			cr_assert_eq(upfn(e.mm, e.ua + i * PG), kmm_page_to_pfn(e.c0.page[i - 1]),
				     "VMA page %u", i);
		else
			cr_assert_not(umapped(e.mm, e.ua + i * PG), "VMA page %u is mapped", i);
	}
	for (unsigned i = 0; i < BUFP; i++) {
		int d = (i >= 2 && i <= 4);

		cr_assert_eq(mapc(e.c0.page[i]), e.c0.map[i] + d, "area page %u", i);
		cr_assert_eq(refc(e.c0.page[i]), e.c0.ref[i] + d, "area page %u", i);
	}
	cr_assert_eq(atomic_load(&e.mm->rss_file), 3);
	cr_assert_eq(e.vma->vm_flags & (KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP),
		     KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP);
	if (!is_shadow()) {
		assert_alias(U(e.ua + 3 * PG), e.buf + 2 * PG, 3, 31, "sub-range");
		cr_assert_not(kt_probe_read(U(e.ua + 2 * PG), NULL));
		cr_assert_not(kt_probe_read(U(e.ua + 6 * PG), NULL));
	}
	check_valid(e.mm, "sub-range");
	/* The same again: busy. */
	r = remap_partial(e.vma, e.ua + 3 * PG, e.buf, 2, 3 * PG);
	cr_assert_eq(r, -KMM_EBUSY, "remapping a mapped range: %d", r);
	cr_assert_eq(atomic_load(&e.mm->rss_file), 3);
	/* munmap of part of it splits the VMA and drops exactly those pages. */
	do_munmap(e.mm, e.ua + 4 * PG, PG);
	cr_assert_eq(mapc(e.c0.page[3]), e.c0.map[3]);
	cr_assert_eq(mapc(e.c0.page[2]), e.c0.map[2] + 1);
	cr_assert_eq(mapc(e.c0.page[4]), e.c0.map[4] + 1);
	vma_at(e.mm, e.ua, e.ua, e.ua + 4 * PG);
	vma_at(e.mm, e.ua + 4 * PG, e.ua + 5 * PG, e.ua + 8 * PG);
	cr_assert_eq(e.mm->map_count, 2);
	check_valid(e.mm, "split");
	do_munmap(e.mm, e.ua, 8 * PG);
	cr_assert_eq(e.mm->map_count, 0);
	counts_assert(&e.c0, 0, 0, "all unmapped");
	kmm_mm_destroy(e.mm);
	kmm_vfree(e.buf);
	assert_all_back("subrange");
}

/* "any address inside a busy area with a vm_struct is found": kaddr need not be its start. */
Test(mm, remap_partial_kaddr_inside_area)
{
	struct partial_env e;
	int r;

	boot("mem=64M");
	partial_setup(&e, 2);
	r = remap_partial(e.vma, e.ua, e.buf + 3 * PG, 0, PG);
	cr_assert_eq(r, 0, "kaddr = page 3 of the area: %d", r);
	cr_assert_eq(upfn(e.mm, e.ua), kmm_page_to_pfn(e.c0.page[3]),
		     "the page at kaddr is mapped (kaddr + pgoff pages, as the kernel)");
	cr_assert_not(umapped(e.mm, e.ua + PG));
	check_valid(e.mm, "kaddr inside");
	do_munmap(e.mm, e.ua, 2 * PG);
	kmm_mm_destroy(e.mm);
	counts_assert(&e.c0, 0, 0, "destroyed");
	kmm_vfree(e.buf);
	assert_all_back("kaddr inside");
}

/* -EBUSY part-way: nothing this call mapped remains. */
Test(mm, remap_partial_ebusy_unmaps_own)
{
	struct partial_env e;
	struct kmm_page *x;
	int r, xref, xmap;

	boot("mem=64M");
	partial_setup(&e, 6);
	x = alloc_page();
	if (!is_shadow())
		memset(kmm_page_address(x), 0x3c, PG);
	r = insert_page(e.vma, e.ua + 3 * PG, x);
	cr_assert_eq(r, 0, "insert at page 3: %d", r);
	xref = refc(x);
	xmap = mapc(x);
	cr_assert_eq(xmap, 0);
	e.flags0 = e.vma->vm_flags;
	cr_assert(e.flags0 & KMM_VM_MIXEDMAP);
	cr_assert_eq(atomic_load(&e.mm->rss_file), 1);
	check_valid(e.mm, "insert");

	r = remap_partial(e.vma, e.ua, e.buf, 0, 6 * PG);
	cr_assert_eq(r, -KMM_EBUSY, "remap over a mapped page: %d", r);
	for (unsigned i = 0; i < 6; i++)
		if (i != 3)
			cr_assert_not(umapped(e.mm, e.ua + i * PG),
				      "page %u stayed mapped after -EBUSY", i);
	cr_assert_eq(upfn(e.mm, e.ua + 3 * PG), kmm_page_to_pfn(x), "page 3 lost its page");
	cr_assert_eq(refc(x), xref);
	cr_assert_eq(mapc(x), xmap);
	counts_assert(&e.c0, 0, 0, "-EBUSY");
	cr_assert_eq(atomic_load(&e.mm->rss_file), 1);
	if (!is_shadow()) {
		for (unsigned i = 0; i < 6; i++)
			if (i != 3)
				cr_assert_not(kt_probe_read(U(e.ua + i * PG), NULL), "page %u", i);
		cr_assert_eq(U(e.ua + 3 * PG)[100], 0x3c);
	}
	check_valid(e.mm, "-EBUSY");
	/* Around it, it works. */
	cr_assert_eq(remap_partial(e.vma, e.ua, e.buf, 0, 3 * PG), 0);
	cr_assert_eq(remap_partial(e.vma, e.ua + 4 * PG, e.buf, 4, 2 * PG), 0);
	cr_assert_eq(atomic_load(&e.mm->rss_file), 6);
	check_valid(e.mm, "around");
	do_munmap(e.mm, e.ua, 6 * PG);
	cr_assert_eq(refc(x), xref - 1);
	cr_assert_eq(mapc(x), -1);
	kmm___free_pages(x, 0);
	partial_teardown(&e);
}

/* -ENOMEM part-way (a page-table page could not be had): nothing this call mapped remains. */
Test(mm, remap_partial_enomem_unmaps_own)
{
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv d;
	struct kmm_vm_area_struct *vma;
	unsigned char *buf;
	unsigned long b, ua;
	int r;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(4);
	counts_take(&c0, buf, 4);
	/* A 2 MiB boundary inside the mm: [b - 2 pages, b + 2 pages) needs two PTE tables. */
	b = KMM_ALIGN_UP(mm->mmap_base + 8 * PG, PMD_SIZE);
	cr_assert_lt(b + 8 * PG, mm->task_size);
	/* The first table exists (an anonymous page below). */
	do_mmap(mm, b - 4 * PG, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	ua = null_vma(mm, &d, b - 2 * PG, 4, KMM_MAP_SHARED);
	cr_assert_eq(ua, b - 2 * PG);
	vma = vma_at(mm, ua, ua, ua + 4 * PG);
	check_valid(mm, "setup");

	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	r = remap_partial(vma, ua, buf, 0, 4 * PG);
	kmm_fault_reset(&kmm_fail_page_alloc);
	cr_assert_eq(r, -KMM_ENOMEM, "remap with no table page: %d", r);
	assert_unmapped(mm, ua, 4, "-ENOMEM");
	counts_assert(&c0, 0, 0, "-ENOMEM");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	check_valid(mm, "-ENOMEM");
	/* Now it works. */
	r = remap_partial(vma, ua, buf, 0, 4 * PG);
	cr_assert_eq(r, 0, "retry: %d", r);
	counts_assert(&c0, +1, +1, "retry");
	if (!is_shadow())
		assert_alias(U(ua), buf, 4, 8, "across a table boundary");
	check_valid(mm, "retry");
	kmm_mm_destroy(mm);
	counts_assert(&c0, 0, 0, "destroyed");
	kmm_vfree(buf);
	assert_all_back("-ENOMEM");
}

/* ---- 4. a failing mmap method ------------------------------------------------------ */

Test(mm, mmap_method_errors_propagate)
{
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv d;
	unsigned char *buf, *kbuf;
	unsigned long r;
	uint64_t f0;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(4);
	kbuf = kmm_vmalloc(4 * PG);
	cr_assert_not_null(kbuf);
	counts_take(&c0, buf, 4);
	f0 = free_now();

	/* The method says -EIO. */
	drv_init(&d, DRV_FAIL, NULL);
	d.ret = -5;	/* EIO */
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert(err_value(r));
	cr_assert_eq((long)r, -5, "mmap returned %ld, the method -EIO", (long)r);
	cr_assert_eq(atomic_load(&d.calls), 1);
	cr_assert_eq(mm->map_count, 0);
	cr_assert_null(kmm_find_vma(mm, mm->mmap_base), "a VMA survived a failed mmap");
	assert_unmapped(mm, d.seen_start, 4, "-EIO");
	check_valid(mm, "method -EIO");

	/* remap_vmalloc_range() refuses a vmalloc() area: its -EINVAL comes back. */
	drv_init(&d, DRV_REMAP, kbuf);
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq((long)r, -KMM_EINVAL, "mmap returned %ld", (long)r);
	cr_assert_eq(mm->map_count, 0);
	cr_assert_null(kmm_find_vma(mm, mm->mmap_base));
	check_valid(mm, "remap refused");

	/* The method maps everything, then fails: the VMA is torn down, the pages unmapped. */
	drv_init(&d, DRV_REMAP_THEN_FAIL, buf);
	d.ret = -5;
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq((long)r, -5, "mmap returned %ld", (long)r);
	cr_assert_eq(d.last, -5);
	cr_assert_eq(mm->map_count, 0);
	cr_assert_null(kmm_find_vma(mm, mm->mmap_base));
	assert_unmapped(mm, d.seen_start, 4, "remap then -EIO");
	counts_assert(&c0, 0, 0, "remap then -EIO");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	check_valid(mm, "remap then -EIO");

	/* Other errnos too, and with MAP_FIXED over nothing. */
	drv_init(&d, DRV_FAIL, NULL);
	d.ret = -KMM_ENODEV;
	r = kmm_vm_mmap(mm, mm->mmap_base + 16 * PG, 2 * PG, RW,
			KMM_MAP_SHARED | KMM_MAP_FIXED, 0, &d.file);
	cr_assert_eq((long)r, -KMM_ENODEV);
	cr_assert_eq(mm->map_count, 0);

	/* Nothing kept: tables may stay in the mm, but no page went anywhere else. */
	counts_assert(&c0, 0, 0, "after all");
	cr_assert_leq((int64_t)(f0 - free_now()), 8, "failed mmaps kept %lld pages",
		      (long long)(f0 - free_now()));
	check_valid(mm, "failed mmaps");
	assert_quiet("failed mmaps");
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	kmm_vfree(kbuf);
	assert_all_back("failed mmaps");
}

Test(mm, mmap_method_sees_the_new_vma)
{
	struct kmm_mm_struct *mm;
	struct drv d;
	unsigned long ua;

	boot("mem=64M");
	mm = new_mm(GB);
	drv_init(&d, DRV_NOTHING, NULL);
	ua = do_mmap(mm, 0, 3 * PG, RW, KMM_MAP_SHARED, 7, &d.file);
	cr_assert_eq(atomic_load(&d.calls), 1);
	cr_assert_eq(d.seen_start, ua);
	cr_assert_eq(d.seen_end, ua + 3 * PG);
	cr_assert_eq(d.seen_pgoff, 7);
	cr_assert_eq(d.seen_mm, mm);
	cr_assert_eq(d.seen_file, &d.file);
	cr_assert(d.seen_empty);
	cr_assert_eq(d.seen_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED),
		     KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED, "%#lx", d.seen_flags);
	cr_assert_eq(d.seen_flags & KMM_VM_EXEC, 0);
	/* A VMA the method mapped nothing in: no page, accesses fault. */
	assert_unmapped(mm, ua, 3, "empty driver VMA");
	drv_init(&d, DRV_NOTHING, NULL);
	ua = do_mmap(mm, 0, PG, KMM_PROT_READ, KMM_MAP_PRIVATE, 0, &d.file);
	cr_assert_eq(d.seen_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED), KMM_VM_READ,
		     "a private read-only VMA: %#lx", d.seen_flags);
	check_valid(mm, "plain VMAs");
	kmm_mm_destroy(mm);
	assert_all_back("plain VMAs");
}

/* ---- 5. vm_insert_page(s) -------------------------------------------------------- */

Test(mm, insert_page_checks)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p, *freed, *anon, *table;
	struct drv d, dp;
	unsigned long ua, aa, pa;
	unsigned long fl0;
	int r, ref0;

	boot("mem=64M");
	mm = new_mm(GB);
	ua = null_vma(mm, &d, 0, 4, KMM_MAP_SHARED);
	vma = vma_at(mm, ua, ua, ua + 4 * PG);
	fl0 = vma->vm_flags;
	p = alloc_page();
	ref0 = refc(p);
	cr_assert_eq(mapc(p), -1);

	/* Outside the VMA. */
	r = insert_page(vma, ua + 4 * PG, p);
	cr_assert_eq(r, -KMM_EFAULT, "at vm_end: %d", r);
	r = insert_page(vma, ua - PG, p);
	cr_assert_eq(r, -KMM_EFAULT, "below vm_start: %d", r);
	r = insert_page(vma, ua + 100 * PG, p);
	cr_assert_eq(r, -KMM_EFAULT, "far above: %d", r);
	/* Unaligned. */
	r = insert_page(vma, ua + 1, p);
	cr_assert_eq(r, -KMM_EINVAL, "unaligned: %d", r);
	/* A free page. */
	freed = alloc_page();
	kmm___free_pages(freed, 0);
	cr_assert_eq(refc(freed), 0);
	r = insert_page(vma, ua, freed);
	cr_assert_eq(r, -KMM_EINVAL, "a free page: %d", r);
	cr_assert_eq(refc(freed), 0, "a refused free page got a reference");
	/* An anonymous page. */
	aa = do_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
	anon = upage(mm, aa);
	cr_assert(kmm_page_test(anon, KMM_PG_anon));
	r = insert_page(vma, ua, anon);
	cr_assert_eq(r, -KMM_EINVAL, "an anonymous page: %d", r);
	cr_assert_eq(mapc(anon), 0);
	cr_assert_eq(refc(anon), 1);
	/* A page-table page (the mm's own root). */
	table = kmm_pfn_to_page(mm->pgd_pfn);
	cr_assert(kmm_page_test(table, KMM_PG_pgtable));
	ref0 = refc(table);
	r = insert_page(vma, ua, table);
	cr_assert_eq(r, -KMM_EINVAL, "a page-table page: %d", r);
	cr_assert_eq(refc(table), ref0);
	ref0 = refc(p);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_not(umapped(mm, ua + i * PG), "a refused insert mapped page %u", i);
	/* (The kernel marks VM_MIXEDMAP before it checks the page: not asserted.) */
	(void)fl0;
	cr_assert_eq(refc(p), ref0);
	cr_assert_eq(mapc(p), -1);
	check_valid(mm, "refused inserts");

	/* A VM_PFNMAP VMA. */
	drv_init(&dp, DRV_PFNMAP, NULL);
	pa = do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &dp.file);
	r = insert_page(kmm_find_vma(mm, pa), pa, p);
	cr_assert_eq(r, -KMM_EINVAL, "into a VM_PFNMAP VMA: %d", r);
	cr_assert_not(umapped(mm, pa));

	/* Twice at one address: -EBUSY. */
	r = insert_page(vma, ua + PG, p);
	cr_assert_eq(r, 0, "insert: %d", r);
	cr_assert(vma->vm_flags & KMM_VM_MIXEDMAP, "insert marks VM_MIXEDMAP");
	cr_assert_eq(refc(p), ref0 + 1);
	cr_assert_eq(mapc(p), 0);
	r = insert_page(vma, ua + PG, p);
	cr_assert_eq(r, -KMM_EBUSY, "twice: %d", r);
	{
		struct kmm_page *q = alloc_page();

		r = insert_page(vma, ua + PG, q);
		cr_assert_eq(r, -KMM_EBUSY, "another page over it: %d", r);
		cr_assert_eq(refc(q), 1);
		cr_assert_eq(mapc(q), -1);
		kmm___free_pages(q, 0);
	}
	cr_assert_eq(refc(p), ref0 + 1);
	cr_assert_eq(mapc(p), 0);
	cr_assert_eq(upfn(mm, ua + PG), kmm_page_to_pfn(p));
	cr_assert_eq(atomic_load(&mm->rss_file), 1);
	check_valid(mm, "-EBUSY");
	assert_quiet("refused inserts");

	kmm_mm_destroy(mm);
	cr_assert_eq(refc(p), ref0);
	cr_assert_eq(mapc(p), -1);
	kmm___free_pages(p, 0);
	assert_all_back("insert checks");
}

Test(mm, insert_page_maps_real_bytes)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p[3];
	struct drv d;
	unsigned long ua;

	boot("mem=64M");
	mm = new_mm(GB);
	ua = null_vma(mm, &d, 0, 3, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	for (int i = 0; i < 3; i++) {
		p[i] = alloc_page();
		cr_assert_eq(insert_page(vma, ua + (unsigned long)(2 - i) * PG, p[i]), 0);
		cr_assert_eq(refc(p[i]), 2);
		cr_assert_eq(mapc(p[i]), 0);
		cr_assert_eq(upfn(mm, ua + (unsigned long)(2 - i) * PG), kmm_page_to_pfn(p[i]));
	}
	cr_assert_eq(atomic_load(&mm->rss_file), 3);
	if (!is_shadow())
		for (int i = 0; i < 3; i++)
			assert_alias(kmm_page_address(p[i]), U(ua + (unsigned long)(2 - i) * PG), 1,
				     100 + (uint64_t)i, "inserted page");
	check_valid(mm, "inserted");
	/* The same page at a second user address too. */
	{
		unsigned long u2 = null_vma(mm, &d, 0, 1, KMM_MAP_SHARED);

		cr_assert_eq(insert_page(kmm_find_vma(mm, u2), u2, p[0]), 0);
		cr_assert_eq(refc(p[0]), 3);
		cr_assert_eq(mapc(p[0]), 1);
		if (!is_shadow())
			assert_alias(U(u2), U(ua + 2 * PG), 1, 200, "two user addresses");
		do_munmap(mm, u2, PG);
		cr_assert_eq(refc(p[0]), 2);
		cr_assert_eq(mapc(p[0]), 0);
	}
	/* Through a driver method, the usual way. */
	{
		struct drv di;
		unsigned long u3;

		drv_init(&di, DRV_INSERT, NULL);
		di.page = p[1];
		u3 = do_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, 0, &di.file);
		cr_assert_eq(di.last, 0);
		cr_assert_eq(upfn(mm, u3), kmm_page_to_pfn(p[1]));
		cr_assert(kmm_find_vma(mm, u3)->vm_flags & KMM_VM_MIXEDMAP);
		do_munmap(mm, u3, PG);
	}
	do_munmap(mm, ua, 3 * PG);
	assert_unmapped(mm, ua, 3, "munmap of inserted pages");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(refc(p[i]), 1);
		cr_assert_eq(mapc(p[i]), -1);
		if (!is_shadow())
			cr_assert_eq(first_bad(kmm_page_address(p[i]), 1,
					       i == 0 ? 200 ^ 0xfeedULL : (100 + (uint64_t)i) ^ 0xfeedULL),
				     -1, "munmap changed page %d", i);
		kmm___free_pages(p[i], 0);
	}
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	check_valid(mm, "after munmap");
	kmm_mm_destroy(mm);
	assert_all_back("insert");
}

Test(mm, insert_pages_num)
{
	enum { N = 6 };
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p[N], *x;
	struct drv d;
	unsigned long ua, num;
	int r;

	boot("mem=64M");
	mm = new_mm(GB);
	for (int i = 0; i < N; i++)
		p[i] = alloc_page();
	x = alloc_page();

	/* All of them. */
	ua = null_vma(mm, &d, 0, N, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	num = N;
	r = insert_pages(vma, ua, p, &num);
	cr_assert_eq(r, 0, "insert_pages: %d", r);
	cr_assert_eq(num, 0, "*num = %lu after success", num);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(upfn(mm, ua + (unsigned long)i * PG), kmm_page_to_pfn(p[i]));
		cr_assert_eq(refc(p[i]), 2);
		cr_assert_eq(mapc(p[i]), 0);
	}
	cr_assert(vma->vm_flags & KMM_VM_MIXEDMAP);
	if (!is_shadow())
		for (int i = 0; i < N; i++)
			assert_alias(U(ua + (unsigned long)i * PG), kmm_page_address(p[i]), 1,
				     (uint64_t)i, "insert_pages");
	check_valid(mm, "insert_pages");
	do_munmap(mm, ua, N * PG);

	/* Page 2's address is taken: pages 0-1 go in and stay, *num counts the rest. */
	ua = null_vma(mm, &d, 0, N, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	cr_assert_eq(insert_page(vma, ua + 2 * PG, x), 0);
	num = N;
	r = insert_pages(vma, ua, p, &num);
	cr_assert_eq(r, -KMM_EBUSY, "insert_pages over a mapped page: %d", r);
	cr_assert_eq(num, N - 2, "*num = %lu, pages 2..5 were not inserted", num);
	cr_assert_eq(upfn(mm, ua), kmm_page_to_pfn(p[0]));
	cr_assert_eq(upfn(mm, ua + PG), kmm_page_to_pfn(p[1]));
	cr_assert_eq(upfn(mm, ua + 2 * PG), kmm_page_to_pfn(x));
	for (int i = 3; i < N; i++)
		cr_assert_not(umapped(mm, ua + (unsigned long)i * PG), "page %d", i);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(refc(p[i]), i < 2 ? 2 : 1, "page %d", i);
		cr_assert_eq(mapc(p[i]), i < 2 ? 0 : -1, "page %d", i);
	}
	cr_assert_eq(atomic_load(&mm->rss_file), 3);
	check_valid(mm, "insert_pages -EBUSY");
	/* The rest, from where it stopped, but for the taken slot. */
	num = N - 3;
	r = insert_pages(vma, ua + 3 * PG, p + 3, &num);
	cr_assert_eq(r, 0);
	cr_assert_eq(num, 0);
	do_munmap(mm, ua, N * PG);

	/* More pages than the VMA has room for: whatever went in is a prefix, *num the rest. */
	ua = null_vma(mm, &d, 0, 4, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	num = N;
	r = insert_pages(vma, ua, p, &num);
	cr_assert_eq(r, -KMM_EFAULT, "insert_pages past vm_end: %d", r);
	cr_assert_geq(num, 2);
	cr_assert_leq(num, N);
	for (unsigned long i = 0; i < 4; i++)
		cr_assert_eq(umapped(mm, ua + i * PG), i < N - num,
			     "page %lu mapped = %d with *num = %lu", i, umapped(mm, ua + i * PG),
			     num);
	for (unsigned long i = 0; i < N; i++)
		cr_assert_eq(mapc(p[i]), i < N - num ? 0 : -1);
	check_valid(mm, "insert_pages -EFAULT");
	do_munmap(mm, ua, 4 * PG);

	for (int i = 0; i < N; i++) {
		cr_assert_eq(refc(p[i]), 1);
		cr_assert_eq(mapc(p[i]), -1);
		kmm___free_pages(p[i], 0);
	}
	check_valid(mm, "insert_pages");
	kmm_mm_destroy(mm);
	cr_assert_eq(refc(x), 1);
	kmm___free_pages(x, 0);
	assert_all_back("insert_pages");
	assert_quiet("insert_pages");
}

/* ---- 6. remap_pfn_range, vmf_insert_pfn --------------------------------------------- */

Test(mm, remap_pfn_range_maps_raw_pfns)
{
	enum { N = 4 };
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *blk;
	struct drv d;
	unsigned long ua, pfn;
	int r, ref0[N];

	boot("mem=64M");
	mm = new_mm(GB);
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, 2);	/* 4 consecutive PFNs */
	cr_assert_not_null(blk);
	pfn = kmm_page_to_pfn(blk);
	for (unsigned i = 0; i < N; i++)
		ref0[i] = refc(blk + i);
	ua = null_vma(mm, &d, 0, N, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	r = remap_pfn(vma, ua, pfn, N * PG);
	cr_assert_eq(r, 0, "remap_pfn_range: %d", r);
	cr_assert_eq(vma->vm_flags & (KMM_VM_IO | KMM_VM_PFNMAP | KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP),
		     KMM_VM_IO | KMM_VM_PFNMAP | KMM_VM_DONTEXPAND | KMM_VM_DONTDUMP,
		     "vm_flags %#lx", vma->vm_flags);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(upfn(mm, ua + i * PG), pfn + i, "page %u", i);
		cr_assert_eq(refc(blk + i), ref0[i], "no reference taken (page %u)", i);
		cr_assert_eq(mapc(blk + i), -1, "no map count (page %u)", i);
	}
	cr_assert_eq(atomic_load(&mm->rss_file), 0, "special PTEs are not RSS");
	if (!is_shadow()) {
		fill(kmm_page_address(blk), N, 0xabc);
		cr_assert_eq(first_bad(U(ua), N, 0xabc), -1, "direct-map bytes not at the user address");
		fill(U(ua), N, 0xcba);
		cr_assert_eq(first_bad(kmm_page_address(blk), N, 0xcba), -1);
	}
	check_valid(mm, "remap_pfn_range");
	/* Over a mapped range: -EBUSY, and the range is unmapped. */
	r = remap_pfn(vma, ua, pfn, PG);
	cr_assert_eq(r, -KMM_EBUSY, "remap_pfn_range over a mapping: %d", r);
	check_valid(mm, "remap_pfn_range -EBUSY");
	do_munmap(mm, ua, N * PG);
	assert_unmapped(mm, ua, N, "pfn munmap");
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(refc(blk + i), ref0[i]);
		cr_assert_eq(mapc(blk + i), -1);
	}
	if (!is_shadow())
		cr_assert_eq(first_bad(kmm_page_address(blk), N, 0xcba), -1);
	/* Through a driver method, the usual way; a sub-range PFN of the middle. */
	drv_init(&d, DRV_REMAP_PFN, NULL);
	d.pfn = pfn + 1;
	ua = do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq(d.last, 0);
	cr_assert_eq(upfn(mm, ua), pfn + 1);
	cr_assert_eq(upfn(mm, ua + PG), pfn + 2);
	if (!is_shadow())
		cr_assert_eq(memcmp(U(ua), (char *)kmm_page_address(blk) + PG, 2 * PG), 0);
	check_valid(mm, "driver remap_pfn_range");
	kmm_mm_destroy(mm);
	cr_assert_eq(refc(blk), 1);
	kmm___free_pages(blk, 2);
	assert_all_back("remap_pfn_range");
}

Test(mm, remap_pfn_range_checks)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p;
	struct drv d;
	unsigned long ua, pfn, fl0;
	int r;

	boot("mem=64M");
	mm = new_mm(GB);
	p = alloc_page();
	pfn = kmm_page_to_pfn(p);
	ua = null_vma(mm, &d, 0, 4, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	fl0 = vma->vm_flags;
#define REFUSED(expr, err, what)                                                          \
	do {                                                                               \
		r = (expr);                                                                \
		cr_assert_eq(r, -(err), "%s: %d", what, r);                                \
		for (unsigned i_ = 0; i_ < 4; i_++)                                       \
			cr_assert_not(umapped(mm, ua + i_ * PG), "%s: page %u mapped", what, i_); \
		cr_assert_eq(refc(p), 1, "%s", what);                                      \
		cr_assert_eq(mapc(p), -1, "%s", what);                                     \
		check_valid(mm, what);                                                     \
	} while (0)
	REFUSED(remap_pfn(vma, ua + 1, pfn, PG), KMM_EINVAL, "unaligned addr");
	REFUSED(remap_pfn(vma, ua, pfn, 0), KMM_EINVAL, "empty range");
	REFUSED(remap_pfn(vma, ua + 3 * PG, pfn, 2 * PG), KMM_EINVAL, "past vm_end");
	REFUSED(remap_pfn(vma, ua - PG, pfn, 2 * PG), KMM_EINVAL, "below vm_start");
	REFUSED(remap_pfn(vma, ua + 4 * PG, pfn, PG), KMM_EINVAL, "at vm_end");
	REFUSED(remap_pfn(vma, ua, kmm_machine.max_pfn, PG), KMM_EINVAL, "PFN max_pfn");
	REFUSED(remap_pfn(vma, ua, kmm_machine.max_pfn - 1, 2 * PG), KMM_EINVAL,
		"PFNs across max_pfn");
	REFUSED(remap_pfn(vma, ua, kmm_machine.max_pfn + 1000, PG), KMM_EINVAL, "PFN far past");
	REFUSED(remap_pfn(vma, ua, ~0UL >> KMM_PAGE_SHIFT, PG), KMM_EINVAL, "PFN ~0");
	(void)fl0;
	/* A VM_MIXEDMAP VMA. */
	{
		struct drv dm;
		unsigned long ma = null_vma(mm, &dm, 0, 2, KMM_MAP_SHARED);
		struct kmm_vm_area_struct *mv = kmm_find_vma(mm, ma);
		struct kmm_page *q = alloc_page();

		cr_assert_eq(insert_page(mv, ma, q), 0);
		r = remap_pfn(mv, ma + PG, pfn, PG);
		cr_assert_eq(r, -KMM_EINVAL, "remap_pfn_range into a VM_MIXEDMAP VMA: %d", r);
		cr_assert_not(umapped(mm, ma + PG));
		cr_assert_eq(upfn(mm, ma), kmm_page_to_pfn(q));
		do_munmap(mm, ma, 2 * PG);
		kmm___free_pages(q, 0);
	}
	/* The last PFN of memory is fine. */
	r = remap_pfn(vma, ua, kmm_machine.max_pfn - 1, PG);
	cr_assert_eq(r, 0, "the last PFN: %d", r);
	cr_assert_eq(upfn(mm, ua), kmm_machine.max_pfn - 1);
	check_valid(mm, "last PFN");
	assert_quiet("refused remap_pfn_range");
	kmm_mm_destroy(mm);
	kmm___free_pages(p, 0);
	assert_all_back("remap_pfn_range checks");
#undef REFUSED
}

Test(mm, remap_pfn_range_cow_mapping)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *blk;
	struct drv d;
	unsigned long ua, pfn;
	int r;

	boot("mem=64M");
	mm = new_mm(GB);
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(blk);
	pfn = kmm_page_to_pfn(blk);
	/* MAP_PRIVATE, writable: a COW mapping. */
	ua = null_vma(mm, &d, 0, 4, KMM_MAP_PRIVATE);
	vma = kmm_find_vma(mm, ua);
	cr_assert_eq(vma->vm_flags & KMM_VM_SHARED, 0);
	cr_assert(vma->vm_flags & KMM_VM_MAYWRITE, "a private writable VMA may write");
	r = remap_pfn(vma, ua, pfn, 2 * PG);
	cr_assert_eq(r, -KMM_EINVAL, "partial remap of a COW mapping (head): %d", r);
	r = remap_pfn(vma, ua + PG, pfn, 3 * PG);
	cr_assert_eq(r, -KMM_EINVAL, "partial remap of a COW mapping (tail): %d", r);
	assert_unmapped(mm, ua, 4, "partial COW remap");
	cr_assert_eq(vma->vm_pgoff, 0);
	check_valid(mm, "partial COW remap");
	r = remap_pfn(vma, ua, pfn, 4 * PG);
	cr_assert_eq(r, 0, "whole remap of a COW mapping: %d", r);
	cr_assert_eq(vma->vm_pgoff, pfn, "vm_pgoff %#lx, expected the PFN %#lx", vma->vm_pgoff, pfn);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(upfn(mm, ua + i * PG), pfn + i);
	if (!is_shadow()) {
		fill(kmm_page_address(blk), 4, 55);
		cr_assert_eq(first_bad(U(ua), 4, 55), -1);
	}
	check_valid(mm, "COW remap");
	do_munmap(mm, ua, 4 * PG);
	assert_unmapped(mm, ua, 4, "COW munmap");
	/* A shared mapping may be remapped in part, and keeps its pgoff. */
	ua = null_vma(mm, &d, 0, 4, KMM_MAP_SHARED);
	vma = kmm_find_vma(mm, ua);
	cr_assert_eq(remap_pfn(vma, ua + PG, pfn, 2 * PG), 0);
	cr_assert_eq(vma->vm_pgoff, 0);
	cr_assert_not(umapped(mm, ua));
	cr_assert_eq(upfn(mm, ua + PG), pfn);
	cr_assert_not(umapped(mm, ua + 3 * PG));
	check_valid(mm, "shared partial remap");
	kmm_mm_destroy(mm);
	cr_assert_eq(refc(blk), 1);
	kmm___free_pages(blk, 2);
	assert_all_back("COW remap");
}

Test(mm, vmf_insert_pfn_results)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma, *plain;
	struct kmm_page *p, *q;
	struct drv d, dn;
	unsigned long ua, na;
	unsigned r;

	boot("mem=64M");
	mm = new_mm(GB);
	p = alloc_page();
	q = alloc_page();
	drv_init(&d, DRV_PFNMAP, NULL);
	ua = do_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	vma = kmm_find_vma(mm, ua);
	cr_assert(vma->vm_flags & KMM_VM_PFNMAP);
	assert_unmapped(mm, ua, 4, "a fault-handler driver's VMA");
	na = null_vma(mm, &dn, 0, 2, KMM_MAP_SHARED);
	plain = kmm_find_vma(mm, na);

	r = insert_pfn(vma, ua + 4 * PG, kmm_page_to_pfn(p));
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS, "outside the VMA: %#x", r);
	r = insert_pfn(vma, ua - PG, kmm_page_to_pfn(p));
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS, "below the VMA: %#x", r);
	r = insert_pfn(plain, na, kmm_page_to_pfn(p));
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS, "a plain VMA: %#x", r);
	cr_assert_not(umapped(mm, na));
	r = insert_pfn(vma, ua, kmm_machine.max_pfn);
	cr_assert_eq(r, KMM_VM_FAULT_SIGBUS, "a PFN past memory: %#x", r);
	assert_unmapped(mm, ua, 4, "refused vmf_insert_pfn");
	check_valid(mm, "refused vmf_insert_pfn");

	r = insert_pfn(vma, ua + 2 * PG, kmm_page_to_pfn(p));
	cr_assert_eq(r, KMM_VM_FAULT_NOPAGE, "vmf_insert_pfn: %#x", r);
	cr_assert_eq(upfn(mm, ua + 2 * PG), kmm_page_to_pfn(p));
	cr_assert_eq(refc(p), 1, "no reference for a PFN");
	cr_assert_eq(mapc(p), -1, "no map count for a PFN");
	if (!is_shadow()) {
		memset(kmm_page_address(p), 0x77, PG);
		cr_assert_eq(U(ua + 2 * PG)[PG - 1], 0x77);
		U(ua + 2 * PG)[0] = 0x11;
		cr_assert_eq(((unsigned char *)kmm_page_address(p))[0], 0x11);
	}
	/* Already mapped: NOPAGE, and the first PFN stays. */
	r = insert_pfn(vma, ua + 2 * PG, kmm_page_to_pfn(q));
	cr_assert_eq(r, KMM_VM_FAULT_NOPAGE, "already mapped: %#x", r);
	cr_assert_eq(upfn(mm, ua + 2 * PG), kmm_page_to_pfn(p), "a second insert replaced the PFN");
	cr_assert_eq(refc(q), 1);
	check_valid(mm, "vmf_insert_pfn");
	/* A VM_MIXEDMAP VMA takes PFNs too. */
	cr_assert_eq(insert_page(plain, na, q), 0);
	r = insert_pfn(plain, na + PG, kmm_page_to_pfn(p));
	cr_assert_eq(r, KMM_VM_FAULT_NOPAGE, "into a VM_MIXEDMAP VMA: %#x", r);
	cr_assert_eq(upfn(mm, na + PG), kmm_page_to_pfn(p));
	cr_assert_eq(refc(p), 1);
	check_valid(mm, "mixed map");
	do_munmap(mm, ua, 4 * PG);
	assert_unmapped(mm, ua, 4, "munmap after vmf_insert_pfn");
	do_munmap(mm, na, 2 * PG);
	cr_assert_eq(refc(p), 1);
	cr_assert_eq(mapc(p), -1);
	cr_assert_eq(refc(q), 1);
	cr_assert_eq(mapc(q), -1);
	assert_quiet("vmf_insert_pfn");
	kmm_mm_destroy(mm);
	kmm___free_pages(p, 0);
	kmm___free_pages(q, 0);
	assert_all_back("vmf_insert_pfn");
}

/* ---- 7. anonymous memory ------------------------------------------------------------- */

Test(mm, anon_populate)
{
	enum { N = 24 };
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *pg[N];
	unsigned long a;
	uint64_t f0, fb;

	boot("mem=64M");
	fb = free_now();
	mm = new_mm(GB);
	f0 = free_now();
	if (!is_shadow()) {
		/*
		 * Dirty the pages the allocator will hand out next (movable
		 * ones, freed last, reused first), so zeroing is proven.
		 */
		struct kmm_page *dirty[N];

		for (unsigned i = 0; i < N; i++) {
			dirty[i] = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, 0);
			cr_assert_not_null(dirty[i]);
			memset(kmm_page_address(dirty[i]), 0xa5, PG);
		}
		for (unsigned i = 0; i < N; i++)
			kmm___free_pages(dirty[N - 1 - i], 0);
	}
	a = do_mmap(mm, 0, N * PG, RW, ANON_POP, 0, NULL);
	vma = vma_at(mm, a, a, a + N * PG);
	cr_assert_null(vma->vm_file);
	cr_assert_eq(vma->vm_flags & (KMM_VM_READ | KMM_VM_WRITE | KMM_VM_SHARED),
		     KMM_VM_READ | KMM_VM_WRITE);
	cr_assert_eq(vma->vm_flags & (KMM_VM_PFNMAP | KMM_VM_MIXEDMAP | KMM_VM_IO), 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), N, "MM_ANONPAGES");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	cr_assert_geq(f0 - free_now(), N, "populated pages come from the allocator");
	for (unsigned i = 0; i < N; i++) {
		struct kmm_mm_struct *rmm = NULL;
		unsigned long raddr = 0;

		pg[i] = upage(mm, a + i * PG);
		for (unsigned j = 0; j < i; j++)
			cr_assert_neq(pg[i], pg[j], "pages %u and %u are one", i, j);
		cr_assert(kmm_page_test(pg[i], KMM_PG_anon), "page %u is not PG_anon", i);
		cr_assert_eq(pg[i]->alloc_mt, KMM_MIGRATE_MOVABLE,
			     "page %u allocated as migratetype %u", i, pg[i]->alloc_mt);
		cr_assert(kmm_get_pfnblock_migratetype(kmm_page_to_pfn(pg[i])) >= 0);
		cr_assert_eq(refc(pg[i]), 1, "page %u", i);
		cr_assert_eq(mapc(pg[i]), 0, "page %u", i);
		cr_assert(kmm_page_anon_rmap(pg[i], &rmm, &raddr), "page %u has no rmap", i);
		cr_assert_eq(rmm, mm);
		cr_assert_eq(raddr, a + i * PG, "page %u: rmap address %#lx, mapped at %#lx", i,
			     raddr, a + i * PG);
		if (!is_shadow())
			cr_assert(kt_block_is_zero(pg[i], 0), "page %u is not zeroed", i);
	}
	if (!is_shadow()) {
		cr_assert(all_zero(U(a), N), "fresh anonymous memory is zero");
		fill(U(a), N, 42);
		cr_assert_eq(first_bad(U(a), N, 42), -1);
		for (unsigned i = 0; i < N; i++) {
			/* fill() numbers pages from the start of the range: page i's first word. */
			cr_assert_eq(*(uint64_t *)kmm_page_address(pg[i]), word_of(42, i, 0),
				     "page %u: direct map does not hold the user bytes", i);
		}
	}
	check_valid(mm, "populate");
	/* A kernel page is not anonymous. */
	{
		struct kmm_page *k = alloc_page();
		struct kmm_mm_struct *rmm = NULL;
		unsigned long raddr = 0;

		cr_assert_not(kmm_page_anon_rmap(k, &rmm, &raddr));
		kmm___free_pages(k, 0);
	}
	do_munmap(mm, a, N * PG);
	assert_unmapped(mm, a, N, "anon munmap");
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(refc(pg[i]), 0, "page %u not freed by munmap", i);
	check_valid(mm, "anon munmap");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), fb, "anonymous pages or tables kept");
	assert_all_back("anon");
}

/* The page's words: the first as the user wrote it; not a coincidence of the pattern. */
Test(mm, anon_populate_large_and_across_tables)
{
	struct kmm_mm_struct *mm;
	unsigned long a, n = 1100;	/* across at least two PTE tables */
	uint64_t f0;

	boot("mem=64M");
	f0 = free_now();
	mm = new_mm(GB);
	a = do_mmap(mm, 0, n * PG, RW, ANON_POP, 0, NULL);
	cr_assert_eq(atomic_load(&mm->rss_anon), (long)n);
	for (unsigned long i = 0; i < n; i += 97)
		cr_assert(kmm_page_anon_rmap(upage(mm, a + i * PG), &(struct kmm_mm_struct *){ 0 },
					     &(unsigned long){ 0 }));
	if (!is_shadow()) {
		for (unsigned long i = 0; i < n; i++)
			*(volatile uint64_t *)(a + i * PG + 8 * (i % 512)) = word_of(9, i, 0);
		for (unsigned long i = 0; i < n; i++)
			cr_assert_eq(*(uint64_t *)((char *)kmm_page_address(upage(mm, a + i * PG)) +
						   8 * (i % 512)),
				     word_of(9, i, 0), "page %lu", i);
	}
	check_valid(mm, "large populate");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f0);
	assert_all_back("large anon");
}

Test(mm, anon_without_populate_maps_at_first_touch)
{
	struct kmm_mm_struct *mm;
	unsigned long a;
	uint64_t f0, fb;
	bool demand;

	boot("mem=64M");
	fb = free_now();
	mm = new_mm(GB);
	f0 = free_now();
	a = do_mmap(mm, 0, 8 * PG, RW, KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS, 0, NULL);
	vma_at(mm, a, a, a + 8 * PG);
	demand = kmm_find_vma(mm, a)->vm_flags & KMM_VM_UFFD_MISSING;
	if (demand || is_shadow()) {
		/* PTEs only: a probing load would itself be the first touch. */
		for (unsigned long i = 0; i < 8; i++)
			cr_assert_not(umapped(mm, a + i * PG), "page %lu mapped untouched", i);
		cr_assert_eq(atomic_load(&mm->rss_anon), 0);
		cr_assert_eq(free_now(), f0, "no page before the first touch");
	} else {
		/* No userfaultfd on this host: populated at mmap (documented). */
		cr_log_info("no userfaultfd: populated at mmap");
		cr_assert_eq(atomic_load(&mm->rss_anon), 8);
	}
	check_valid(mm, "untouched");
	if (demand) {
		*(volatile char *)U(a + 3 * PG) = 'q';	/* the fault */
		cr_assert_eq(atomic_load(&mm->rss_anon), 1, "one page for one touch");
		cr_assert_leq(free_now(), f0 - 1, "the page (and any table page) came from the buddy");
		cr_assert(kmm_page_test(upage(mm, a + 3 * PG), KMM_PG_anon));
		cr_assert_eq(((char *)kmm_page_address(upage(mm, a + 3 * PG)))[0], 'q',
			     "the direct map shows the store");
		check_valid(mm, "touched once");
	}
	/* file NULL implies MAP_ANONYMOUS. */
	a = do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_PRIVATE | KMM_MAP_POPULATE, 0, NULL);
	cr_assert(kmm_page_test(upage(mm, a), KMM_PG_anon), "NULL file: anonymous");
	cr_assert_eq(kmm_find_vma(mm, a)->vm_flags & KMM_VM_UFFD_MISSING, 0,
		     "populated: no demand faults");
	check_valid(mm, "implied MAP_ANONYMOUS");
	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), fb);
	assert_all_back("unpopulated");
}

Test(mm, anon_shared_refused)
{
	struct kmm_mm_struct *mm;
	unsigned long r;

	boot("mem=64M");
	mm = new_mm(GB);
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED | KMM_MAP_ANONYMOUS, 0, NULL);
	cr_assert_eq((long)r, -KMM_EINVAL, "MAP_SHARED | MAP_ANONYMOUS: %ld", (long)r);
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE, 0,
			NULL);
	cr_assert_eq((long)r, -KMM_EINVAL, "shared anonymous, populated: %ld", (long)r);
	r = kmm_vm_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, NULL);
	cr_assert_eq((long)r, -KMM_EINVAL, "MAP_SHARED with no file: %ld", (long)r);
	cr_assert_eq(mm->map_count, 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	check_valid(mm, "shared anonymous");
	assert_quiet("shared anonymous");
	kmm_mm_destroy(mm);
	assert_all_back("shared anonymous");
}

Test(mm, anon_munmap_middle_splits)
{
	enum { N = 16 };
	struct kmm_mm_struct *mm;
	struct kmm_page *pg[N];
	unsigned long a;
	uint64_t f0;

	boot("mem=64M");
	mm = new_mm(GB);
	a = do_mmap(mm, 0, N * PG, RW, ANON_POP, 0, NULL);
	for (unsigned i = 0; i < N; i++)
		pg[i] = upage(mm, a + i * PG);
	if (!is_shadow())
		fill(U(a), N, 3);
	cr_assert_eq(mm->map_count, 1);
	f0 = free_now();

	do_munmap(mm, a + 5 * PG, 4 * PG);
	cr_assert_eq(free_now(), f0 + 4, "munmap of 4 pages freed %lld",
		     (long long)(free_now() - f0));
	cr_assert_eq(mm->map_count, 2, "the middle's munmap splits the VMA");
	vma_at(mm, a, a, a + 5 * PG);
	vma_at(mm, a + 5 * PG, a + 9 * PG, a + N * PG);
	cr_assert_eq(kmm_find_vma(mm, a + 6 * PG)->vm_start, a + 9 * PG,
		     "find_vma of the hole is the VMA after it");
	assert_unmapped(mm, a + 5 * PG, 4, "the middle");
	for (unsigned i = 0; i < N; i++) {
		if (i >= 5 && i < 9) {
			cr_assert_eq(refc(pg[i]), 0, "page %u not freed", i);
			continue;
		}
		cr_assert_eq(upage(mm, a + i * PG), pg[i], "page %u changed", i);
		cr_assert_eq(refc(pg[i]), 1);
		cr_assert_eq(mapc(pg[i]), 0);
		{
			struct kmm_mm_struct *rmm;
			unsigned long raddr;

			cr_assert(kmm_page_anon_rmap(pg[i], &rmm, &raddr));
			cr_assert_eq(raddr, a + i * PG);
		}
	}
	cr_assert_eq(atomic_load(&mm->rss_anon), N - 4);
	if (!is_shadow()) {
		cr_assert_eq(first_bad(U(a), 5, 3), -1);
		/* Pages 9.. hold the pattern of pages 9.. */
		for (unsigned i = 9; i < N; i++)
			cr_assert_eq(*(uint64_t *)U(a + i * PG), word_of(3, i, 0), "page %u", i);
	}
	check_valid(mm, "middle munmap");

	/* Head of the second, tail of the first. */
	f0 = free_now();
	do_munmap(mm, a + 4 * PG, PG);
	vma_at(mm, a, a, a + 4 * PG);
	do_munmap(mm, a + 9 * PG, PG);
	vma_at(mm, a + 10 * PG, a + 10 * PG, a + N * PG);
	cr_assert_eq(free_now(), f0 + 2);
	cr_assert_eq(mm->map_count, 2);
	check_valid(mm, "head and tail");
	/* A range spanning both VMAs and the hole between them. */
	f0 = free_now();
	do_munmap(mm, a + 2 * PG, 10 * PG);
	cr_assert_eq(free_now(), f0 + 4, "pages 2, 3, 10, 11");
	vma_at(mm, a, a, a + 2 * PG);
	vma_at(mm, a + 2 * PG, a + 12 * PG, a + N * PG);
	cr_assert_eq(mm->map_count, 2);
	cr_assert_eq(atomic_load(&mm->rss_anon), 6);
	check_valid(mm, "spanning munmap");
	/* A hole. */
	cr_assert_eq(kmm_vm_munmap(mm, a + 5 * PG, 3 * PG), 0, "munmap of a hole");
	cr_assert_eq(mm->map_count, 2);
	kmm_mm_destroy(mm);
	assert_all_back("splits");
}

/* ---- 8. MAP_FIXED, hints, refused arguments ------------------------------------------ */

Test(mm, map_fixed_replaces)
{
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long a, r;
	struct kmm_page *old[8];
	uint64_t f;

	boot("mem=64M");
	mm = new_mm(GB);
	a = do_mmap(mm, mm->mmap_base + 64 * PG, 8 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(a, mm->mmap_base + 64 * PG);
	for (unsigned i = 0; i < 8; i++)
		old[i] = upage(mm, a + i * PG);
	if (!is_shadow())
		fill(U(a), 8, 11);
	/*
	 * Anonymous over anonymous: the old pages are freed, two new ones
	 * taken (the allocator may hand the freed pages right back, so the
	 * free count tells, not the pages' identity).
	 */
	f = free_now();
	r = do_mmap(mm, a + 2 * PG, 2 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(r, a + 2 * PG, "MAP_FIXED at %#lx returned %#lx", a + 2 * PG, r);
	cr_assert_eq(free_now(), f, "2 pages replaced by 2: %lld pages more free",
		     (long long)(free_now() - f));
	for (unsigned i = 2; i < 4; i++) {
		struct kmm_page *np = upage(mm, a + i * PG);
		struct kmm_mm_struct *rmm = NULL;
		unsigned long raddr = 0;

		cr_assert(refc(old[i]) == 0 || old[i] == upage(mm, a + 2 * PG) ||
			  old[i] == upage(mm, a + 3 * PG), "old page %u neither freed nor reused", i);
		cr_assert_eq(refc(np), 1);
		cr_assert_eq(mapc(np), 0);
		cr_assert(kmm_page_anon_rmap(np, &rmm, &raddr));
		cr_assert_eq(rmm, mm);
		cr_assert_eq(raddr, a + i * PG);
	}
	cr_assert_eq(upage(mm, a + 4 * PG), old[4]);
	cr_assert_eq(atomic_load(&mm->rss_anon), 8);
	if (!is_shadow()) {
		cr_assert(all_zero(U(a + 2 * PG), 2), "the new mapping is fresh memory");
		cr_assert_eq(first_bad(U(a), 2, 11), -1);
		for (unsigned i = 4; i < 8; i++)
			cr_assert_eq(*(uint64_t *)U(a + i * PG), word_of(11, i, 0), "page %u", i);
	}
	check_valid(mm, "MAP_FIXED anon over anon");

	/* A driver mapping over anonymous memory, and back. */
	buf = vuser(2);
	counts_take(&c0, buf, 2);
	drv_init(&d, DRV_REMAP, buf);
	f = free_now();
	r = do_mmap(mm, a + 5 * PG, 2 * PG, RW, KMM_MAP_SHARED | KMM_MAP_FIXED, 0, &d.file);
	cr_assert_eq(r, a + 5 * PG);
	cr_assert_eq(refc(old[5]), 0, "the replaced page was not freed");
	cr_assert_eq(refc(old[6]), 0, "the replaced page was not freed");
	cr_assert_eq(free_now(), f + 2);
	cr_assert_eq(upfn(mm, r), kmm_page_to_pfn(c0.page[0]));
	cr_assert(kmm_find_vma(mm, r)->vm_file == &d.file);
	counts_assert(&c0, +1, +1, "driver over anon");
	cr_assert_eq(atomic_load(&mm->rss_anon), 6);
	cr_assert_eq(atomic_load(&mm->rss_file), 2);
	check_valid(mm, "MAP_FIXED driver over anon");
	f = free_now();
	r = do_mmap(mm, a + 4 * PG, 4 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(r, a + 4 * PG);
	cr_assert_eq(free_now(), f - 2, "4 new pages, 2 anonymous ones freed");
	counts_assert(&c0, 0, 0, "anon over the driver mapping");
	if (!is_shadow()) {
		cr_assert(all_zero(U(a + 4 * PG), 4));
		cr_assert_eq(first_bad(U(a), 2, 11), -1);
	}
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 8);
	cr_assert_null(kmm_find_vma(mm, a + 4 * PG)->vm_file);
	check_valid(mm, "MAP_FIXED anon over driver");
	/* Into a hole, exactly. */
	r = do_mmap(mm, a + 64 * PG, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(r, a + 64 * PG);
	kmm_mm_destroy(mm);
	counts_assert(&c0, 0, 0, "destroyed");
	kmm_vfree(buf);
	assert_all_back("MAP_FIXED");
}

Test(mm, hint_honoured_when_free)
{
	struct kmm_mm_struct *mm;
	unsigned long h, a, b;

	boot("mem=64M");
	mm = new_mm(GB);
	h = mm->mmap_base + 100 * MB;
	a = do_mmap(mm, h, 4 * PG, RW, ANON_POP, 0, NULL);
	cr_assert_eq(a, h, "a free hint %#lx gave %#lx", h, a);
	/* A taken hint: somewhere else, not over it. */
	b = do_mmap(mm, h + PG, 4 * PG, RW, ANON_POP, 0, NULL);
	cr_assert(b + 4 * PG <= h || b >= h + 4 * PG, "%#lx overlaps the mapping at %#lx", b, h);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(kmm_find_vma(mm, h + i * PG)->vm_start, h);
	/* Unaligned hints are only hints. */
	b = do_mmap(mm, h + 50 * PG + 123, PG, RW, ANON_POP, 0, NULL);
	cr_assert_eq(b & (PG - 1), 0);
	check_valid(mm, "hints");
	kmm_mm_destroy(mm);
	assert_all_back("hints");
}

Test(mm, mmap_refuses_bad_arguments)
{
	struct kmm_mm_struct *mm;
	struct drv d;
	unsigned long a, r, end;
	uint64_t f0;

	boot("mem=64M");
	mm = new_mm(16 * MB);
	end = mm->task_size;
	a = do_mmap(mm, 0, 4 * PG, RW, ANON_POP, 0, NULL);
	if (!is_shadow())
		fill(U(a), 4, 6);
	drv_init(&d, DRV_NOTHING, NULL);
	f0 = free_now();
#define BAD(expr, what)                                                                  \
	do {                                                                              \
		r = (expr);                                                               \
		cr_assert_eq((long)r, -KMM_EINVAL, "%s: %ld", what, (long)r);             \
		cr_assert_eq(mm->map_count, 1, "%s", what);                               \
		vma_at(mm, a, a, a + 4 * PG);                                             \
		cr_assert_eq(atomic_load(&mm->rss_anon), 4, "%s", what);                  \
		check_valid(mm, what);                                                    \
	} while (0)
	BAD(kmm_vm_mmap(mm, 0, 0, RW, ANON_POP, 0, NULL), "len 0");
	BAD(kmm_vm_mmap(mm, 0, 0, RW, KMM_MAP_SHARED, 0, &d.file), "len 0, driver");
	BAD(kmm_vm_mmap(mm, a + 1, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "unaligned MAP_FIXED");
	BAD(kmm_vm_mmap(mm, a + PG / 2, PG, RW, KMM_MAP_SHARED | KMM_MAP_FIXED, 0, &d.file),
	    "unaligned MAP_FIXED, driver");
	BAD(kmm_vm_mmap(mm, 0, PG, RW, KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE, 0, NULL),
	    "neither MAP_SHARED nor MAP_PRIVATE");
	BAD(kmm_vm_mmap(mm, 0, PG, RW, 0, 0, &d.file), "no type, driver");
	BAD(kmm_vm_mmap(mm, end, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "MAP_FIXED at the mm's end");
	BAD(kmm_vm_mmap(mm, end - PG, 2 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "MAP_FIXED across the mm's end");
	BAD(kmm_vm_mmap(mm, mm->mmap_base - PG, 2 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "MAP_FIXED across the mm's start");
	BAD(kmm_vm_mmap(mm, end + 64 * MB, PG, RW, KMM_MAP_SHARED | KMM_MAP_FIXED, 0, &d.file),
	    "MAP_FIXED far outside, driver");
	BAD(kmm_vm_mmap(mm, -PG, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "MAP_FIXED at the top of the address space");
	BAD(kmm_vm_mmap(mm, -PG, 2 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL),
	    "MAP_FIXED wrapping");
#undef BAD
	/* Lengths that cannot be: an error either way (-EINVAL or -ENOMEM), nothing changed. */
	r = kmm_vm_mmap(mm, 0, -1UL, RW, ANON_POP, 0, NULL);
	cr_assert(r == (unsigned long)-KMM_EINVAL || r == (unsigned long)-KMM_ENOMEM,
		  "len ~0: %ld", (long)r);
	r = kmm_vm_mmap(mm, 0, -PG, RW, ANON_POP, 0, NULL);
	cr_assert(r == (unsigned long)-KMM_EINVAL || r == (unsigned long)-KMM_ENOMEM,
		  "len 2^64 - 4096: %ld", (long)r);
	r = kmm_vm_mmap(mm, 0, 32 * MB, RW, ANON_POP, 0, NULL);
	cr_assert(r == (unsigned long)-KMM_EINVAL || r == (unsigned long)-KMM_ENOMEM,
		  "len above the mm's size: %ld", (long)r);
	cr_assert_eq(atomic_load(&d.calls), 0, "the driver's method ran for a refused mmap");
	cr_assert_eq(mm->map_count, 1);
	cr_assert_eq(free_now(), f0, "a refused mmap took pages");
	if (!is_shadow())
		cr_assert_eq(first_bad(U(a), 4, 6), -1, "the mapping's bytes changed");
	check_valid(mm, "refused mmaps");
	assert_quiet("refused mmaps");
	kmm_mm_destroy(mm);
	assert_all_back("refused mmaps");
}

Test(mm, mmap_no_room)
{
	struct kmm_mm_struct *mm;
	unsigned long a, r;
	uint64_t f0;

	boot("mem=64M");
	mm = new_mm(16 * MB);
	a = do_mmap(mm, mm->mmap_base, 12 * MB, KMM_PROT_READ,
		    KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(a, mm->mmap_base);
	f0 = free_now();
	r = kmm_vm_mmap(mm, 0, 8 * MB, RW, ANON_POP, 0, NULL);
	cr_assert_eq((long)r, -KMM_ENOMEM, "no room for 8 MiB in 4 MiB: %ld", (long)r);
	cr_assert_eq(mm->map_count, 1);
	cr_assert_eq(free_now(), f0);
	/* What fits still goes. */
	r = do_mmap(mm, 0, 4 * MB, RW, KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS, 0, NULL);
	cr_assert(r + 4 * MB <= a || r >= a + 12 * MB);
	r = kmm_vm_mmap(mm, 0, PG, RW, ANON_POP, 0, NULL);
	cr_assert_eq((long)r, -KMM_ENOMEM, "a full mm: %ld", (long)r);
	check_valid(mm, "no room");
	kmm_mm_destroy(mm);
	assert_all_back("no room");
}

Test(mm, munmap_refuses_bad_arguments)
{
	struct kmm_mm_struct *mm;
	unsigned long a;
	int r;

	boot("mem=64M");
	mm = new_mm(16 * MB);
	a = do_mmap(mm, mm->mmap_base + 64 * PG, 4 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
#define BADU(expr, what)                                                     \
	do {                                                                  \
		r = (expr);                                                   \
		cr_assert_eq(r, -KMM_EINVAL, "%s: %d", what, r);              \
		vma_at(mm, a, a, a + 4 * PG);                                 \
		cr_assert_eq(atomic_load(&mm->rss_anon), 4, "%s", what);      \
		check_valid(mm, what);                                        \
	} while (0)
	BADU(kmm_vm_munmap(mm, a + 1, PG), "unaligned start");
	BADU(kmm_vm_munmap(mm, a + PG / 2, 2 * PG), "unaligned start (mid-page)");
	BADU(kmm_vm_munmap(mm, a, 0), "len 0");
	BADU(kmm_vm_munmap(mm, mm->task_size, PG), "at the mm's end");
	BADU(kmm_vm_munmap(mm, mm->task_size - PG, 2 * PG), "across the mm's end");
	BADU(kmm_vm_munmap(mm, a, -PG), "len wrapping");
	BADU(kmm_vm_munmap(mm, -PG, PG), "at the top of the address space");
#undef BADU
	/* A hole is not an error; an unaligned length is rounded up. */
	cr_assert_eq(kmm_vm_munmap(mm, a + 8 * PG, 4 * PG), 0, "a hole");
	cr_assert_eq(kmm_vm_munmap(mm, a + 3 * PG, 1), 0, "one byte: a page");
	vma_at(mm, a, a, a + 3 * PG);
	cr_assert_eq(atomic_load(&mm->rss_anon), 3);
	check_valid(mm, "munmap args");
	assert_quiet("refused munmaps");
	kmm_mm_destroy(mm);
	assert_all_back("munmap args");
}

Test(mm, find_vma_semantics)
{
	struct kmm_mm_struct *mm;
	unsigned long base, a, b;

	boot("mem=64M");
	mm = new_mm(GB);
	base = mm->mmap_base;
	a = do_mmap(mm, base + 16 * PG, 4 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	b = do_mmap(mm, base + 32 * PG, 2 * PG, KMM_PROT_READ,
		    KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_FIXED, 0, NULL);
	cr_assert_eq(a, base + 16 * PG);
	cr_assert_eq(b, base + 32 * PG);
	cr_assert_eq(kmm_find_vma(mm, base)->vm_start, a, "below the first: the first");
	cr_assert_eq(kmm_find_vma(mm, a)->vm_start, a);
	cr_assert_eq(kmm_find_vma(mm, a + 4 * PG - 1)->vm_start, a, "its last byte");
	cr_assert_eq(kmm_find_vma(mm, a + 4 * PG)->vm_start, b, "its end: the next");
	cr_assert_eq(kmm_find_vma(mm, b + PG + 17)->vm_start, b);
	cr_assert_null(kmm_find_vma(mm, b + 2 * PG), "past the last");
	cr_assert_null(kmm_find_vma(mm, mm->task_size));
	cr_assert_eq(mm->map_count, 2);
	check_valid(mm, "find_vma");
	kmm_mm_destroy(mm);
	assert_all_back("find_vma");
}

/* ---- 9. sharing with a forked child --------------------------------------------------- */

/* The child runs plain stores and loads only, and _exit()s. */
Test(mm, fork_child_writes_parent_reads)
{
	enum { N = 4 };
	struct kmm_mm_struct *mm;
	struct drv d;
	unsigned char *buf;
	unsigned long ua;
	int status;
	pid_t pid;

	boot("mem=64M");
	if (is_shadow())
		cr_skip_test("real mode only");
	mm = new_mm(GB);
	buf = vuser(N);
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		volatile uint64_t *w = (volatile uint64_t *)ua;

		for (unsigned long k = 0; k < N * PG / 8; k++)
			w[k] = word_of(0xc41d, k / (PG / 8), k % (PG / 8));
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	cr_assert_eq(first_bad(buf, N, 0xc41d), -1, "the child's stores are not in the vmalloc area");
	cr_assert_eq(first_bad(U(ua), N, 0xc41d), -1);
	check_valid(mm, "after the child");
	do_munmap(mm, ua, N * PG);
	cr_assert_eq(first_bad(buf, N, 0xc41d), -1);
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("fork");
}

Test(mm, fork_parent_writes_child_reads)
{
	enum { N = 4 };
	struct kmm_mm_struct *mm;
	struct drv d;
	unsigned char *buf;
	unsigned long ua;
	int status;
	pid_t pid;

	boot("mem=64M");
	if (is_shadow())
		cr_skip_test("real mode only");
	mm = new_mm(GB);
	buf = vuser(N);
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	fill(buf, N, 0x9a7e);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		const volatile uint64_t *w = (const volatile uint64_t *)ua;
		int bad = 0;

		for (unsigned long k = 0; k < N * PG / 8; k++)
			if (w[k] != word_of(0x9a7e, k / (PG / 8), k % (PG / 8)))
				bad = 1;
		/* And answer through the mapping: the last word of each page. */
		for (unsigned long i = 0; i < N; i++)
			((volatile uint64_t *)ua)[(i + 1) * (PG / 8) - 1] = 0xc0ffee00 + i;
		_exit(bad ? 3 : 0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child status %#x", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "the child did not see the parent's vmalloc stores");
	for (unsigned long i = 0; i < N; i++)
		cr_assert_eq(((uint64_t *)buf)[(i + 1) * (PG / 8) - 1], 0xc0ffee00 + i, "page %lu", i);
	check_valid(mm, "after the child");
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("fork reverse");
}

/* ---- 10. teardown --------------------------------------------------------------------- */

Test(mm, destroy_frees_everything)
{
	enum { N = 8 };
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv dv, dp, dn;
	struct kmm_page *blk, *x;
	unsigned char *buf;
	unsigned long va, pa, aa, na;
	uint64_t f_before_mm, f_mapped;

	boot("mem=64M");
	buf = vuser(N);
	counts_take(&c0, buf, N);
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, 2);
	cr_assert_not_null(blk);
	x = alloc_page();
	f_before_mm = free_now();

	mm = new_mm(GB);
	drv_init(&dv, DRV_REMAP, buf);
	va = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &dv.file);
	drv_init(&dp, DRV_REMAP_PFN, NULL);
	dp.pfn = kmm_page_to_pfn(blk);
	pa = do_mmap(mm, 0, 4 * PG, RW, KMM_MAP_SHARED, 0, &dp.file);
	cr_assert_eq(dp.last, 0);
	aa = do_mmap(mm, 0, 300 * PG, RW, ANON_POP, 0, NULL);
	(void)do_mmap(mm, mm->mmap_base + 512 * MB, 3 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	na = null_vma(mm, &dn, 0, 2, KMM_MAP_SHARED);
	cr_assert_eq(insert_page(kmm_find_vma(mm, na), na + PG, x), 0);
	(void)do_mmap(mm, 0, 5 * PG, RW, KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS, 0, NULL);
	cr_assert_eq(mm->map_count, 6);
	counts_assert(&c0, +1, +1, "remapped");
	cr_assert_eq(refc(x), 2);
	cr_assert_eq(atomic_load(&mm->rss_anon), 303);
	cr_assert_eq(atomic_load(&mm->rss_file), N + 1);
	if (!is_shadow()) {
		assert_alias(U(va), buf, N, 1, "before destroy");
		fill(U(aa), 300, 2);
		cr_assert_eq(memcmp(U(pa), kmm_page_address(blk), 4 * PG), 0);
	}
	check_valid(mm, "a full mm");
	f_mapped = free_now();
	cr_assert_geq(f_before_mm - f_mapped, 303, "anonymous pages and tables");

	kmm_mm_destroy(mm);
	cr_assert_eq(free_now(), f_before_mm,
		     "destroy gave back %lld of %lld pages (anonymous + tables)",
		     (long long)(free_now() - f_mapped), (long long)(f_before_mm - f_mapped));
	counts_assert(&c0, 0, 0, "destroyed");
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(kmm_vmalloc_to_page(buf + i * PG), c0.page[i]);
	if (!is_shadow())
		cr_assert_eq(first_bad(buf, N, 1 ^ 0xfeedULL), -1, "destroy changed the vmalloc area");
	cr_assert_eq(refc(blk), 1);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(mapc(blk + i), -1);
	cr_assert_eq(refc(x), 1);
	cr_assert_eq(mapc(x), -1);
	check_valid(NULL, "destroyed");
	kmm_vfree(buf);
	kmm___free_pages(blk, 2);
	kmm___free_pages(x, 0);
	assert_all_back("destroy");
	assert_quiet("destroy");
}

/* ---- 11. shadow mode -------------------------------------------------------------------- */

Test(mm, shadow_mode_bookkeeping)
{
	struct kmm_mm_struct *mm, *mm2;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long a, ua, ua2;
	struct kmm_mm_struct *rmm;
	unsigned long raddr;
	uint64_t f0;

	boot("kmm.mode=shadow mem=64M");
	cr_assert(is_shadow());
	f0 = free_now();
	mm = new_mm(0);
	mm2 = new_mm(GB);
	a = do_mmap(mm, 0, 16 * PG, RW, ANON_POP, 0, NULL);
	for (unsigned i = 0; i < 16; i++) {
		struct kmm_page *p = upage(mm, a + i * PG);

		cr_assert(kmm_page_anon_rmap(p, &rmm, &raddr));
		cr_assert_eq(rmm, mm);
		cr_assert_eq(raddr, a + i * PG);
		cr_assert_eq(p->alloc_mt, KMM_MIGRATE_MOVABLE);
	}
	cr_assert_eq(atomic_load(&mm->rss_anon), 16);
	check_valid(mm, "shadow populate");

	buf = vuser(6);
	counts_take(&c0, buf, 6);
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, 6 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	ua2 = do_mmap(mm2, 0, 6 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	for (unsigned i = 0; i < 6; i++) {
		cr_assert_eq(upfn(mm, ua + i * PG), kmm_page_to_pfn(c0.page[i]));
		cr_assert_eq(upfn(mm2, ua2 + i * PG), kmm_page_to_pfn(c0.page[i]));
	}
	counts_assert(&c0, +2, +2, "shadow remap in two mms");
	cr_assert(kmm_find_vma(mm, ua)->vm_flags & KMM_VM_MIXEDMAP);
	check_valid(mm, "shadow remap");
	check_valid(mm2, "shadow remap");
	/* The refusals hold in shadow mode too. */
	cr_assert_eq((long)kmm_vm_mmap(mm, 0, 7 * PG, RW, KMM_MAP_SHARED, 0, &d.file), -KMM_EINVAL);
	cr_assert_eq((long)kmm_vm_mmap(mm, 0, PG, RW, KMM_MAP_SHARED | KMM_MAP_ANONYMOUS, 0, NULL),
		     -KMM_EINVAL);
	/* A split and partial unmaps. */
	do_munmap(mm, a + 4 * PG, 4 * PG);
	cr_assert_eq(atomic_load(&mm->rss_anon), 12);
	vma_at(mm, a, a, a + 4 * PG);
	do_munmap(mm, ua + 2 * PG, 2 * PG);
	cr_assert_eq(mapc(c0.page[2]), c0.map[2] + 1);
	cr_assert_eq(mapc(c0.page[1]), c0.map[1] + 2);
	check_valid(mm, "shadow munmap");
	do_munmap(mm, ua, 6 * PG);
	do_munmap(mm, a, 16 * PG);
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	cr_assert_eq(mm->map_count, 0);
	counts_assert(&c0, +1, +1, "mm2 still maps it");
	check_valid(mm, "shadow all unmapped");
	/* pfn remap. */
	{
		struct kmm_page *p = alloc_page();
		struct drv dp;
		unsigned long pa;

		drv_init(&dp, DRV_REMAP_PFN, NULL);
		dp.pfn = kmm_page_to_pfn(p);
		pa = do_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, 0, &dp.file);
		cr_assert_eq(upfn(mm, pa), kmm_page_to_pfn(p));
		check_valid(mm, "shadow pfn");
		kmm_mm_destroy(mm);
		kmm___free_pages(p, 0);
	}
	kmm_mm_destroy(mm2);
	counts_assert(&c0, 0, 0, "shadow destroyed");
	kmm_vfree(buf);
	check_valid(NULL, "shadow");
	assert_all_back("shadow");
	(void)f0;
	assert_quiet("shadow");
}

/* ---- strict mode, protections, the validator ------------------------------------------- */

/* Strict mode: every unmap reaches the host at once; the same proofs hold. */
Test(mm, strict_mode_remap_and_anon)
{
	enum { N = 4 };
	struct kmm_mm_struct *mm;
	struct counts c0;
	struct drv d;
	unsigned char *buf;
	unsigned long ua, a;

	boot("kmm.mode=strict mem=64M");
	cr_assert_eq(kmm_machine.params.mode, KMM_MODE_STRICT);
	mm = new_mm(GB);
	buf = vuser(N);
	counts_take(&c0, buf, N);
	drv_init(&d, DRV_REMAP, buf);
	ua = do_mmap(mm, 0, N * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	assert_alias(U(ua), buf, N, 0x57, "strict: user <-> vmalloc");
	counts_assert(&c0, +1, +1, "strict remap");
	a = do_mmap(mm, 0, 3 * PG, RW, ANON_POP, 0, NULL);
	cr_assert(all_zero(U(a), 3));
	fill(U(a), 3, 0x58);
	check_valid(mm, "strict");
	do_munmap(mm, ua, N * PG);
	do_munmap(mm, a, 3 * PG);
	assert_unmapped(mm, ua, N, "strict munmap (remap)");
	assert_unmapped(mm, a, 3, "strict munmap (anon)");
	cr_assert_eq(first_bad(buf, N, 0x57 ^ 0xfeedULL), -1);
	counts_assert(&c0, 0, 0, "strict munmap");
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("strict");
}

/* mmap's prot reaches the PTEs: a PROT_READ populated mapping is zero and takes no store. */
Test(mm, anon_read_only_populate)
{
	struct kmm_mm_struct *mm;
	unsigned long a;
	unsigned char v = 1;

	boot("mem=64M");
	if (is_shadow())
		cr_skip_test("real mode only");
	mm = new_mm(GB);
	a = do_mmap(mm, 0, 2 * PG, KMM_PROT_READ, ANON_POP, 0, NULL);
	cr_assert_eq(kmm_find_vma(mm, a)->vm_flags & KMM_VM_WRITE, 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 2);
	cr_assert(kt_probe_read(U(a + PG + 5), &v));
	cr_assert_eq(v, 0);
	cr_assert_not(kt_probe_write(U(a), 1), "a PROT_READ anonymous page took a store");
	check_valid(mm, "read-only anon");
	kmm_mm_destroy(mm);
	assert_all_back("read-only anon");
}

/* A file whose mmap method is NULL is refused without a VMA. */
Test(mm, mmap_file_without_method_refused)
{
	struct kmm_mm_struct *mm;
	struct kmm_mmap_file f = { .mmap = NULL };
	unsigned long r;

	boot("mem=64M");
	mm = new_mm(GB);
	r = kmm_vm_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, 0, &f);
	cr_assert(err_value(r), "a file with no mmap method: %#lx", r);
	cr_assert_eq(mm->map_count, 0);
	check_valid(mm, "no method");
	kmm_mm_destroy(mm);
	assert_all_back("no method");
}

/* kmm_mm_validate() catches what it promises to check, logged, and passes once restored. */
static void expect_invalid(struct kmm_mm_struct *mm, const char *what)
{
	int r;

	kt_log_clear();
	r = kmm_mm_validate(mm);
	cr_assert_eq(r, -KMM_EINVAL, "kmm_mm_validate() = %d with %s", r, what);
	cr_assert_geq(kt_log_lines(), 1, "%s: kmm_mm_validate() logged nothing", what);
	kt_log_clear();
}

Test(mm, validate_catches_corruption)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *va, *vv, *vp;
	struct kmm_page *ap, *vpg;
	struct drv d, dp;
	unsigned char *buf;
	struct kmm_page *blk;
	unsigned long a, u1, u2, pa, save;
	int save_i;

	boot("mem=64M");
	mm = new_mm(GB);
	a = do_mmap(mm, 0, 4 * PG, RW, ANON_POP, 0, NULL);
	va = kmm_find_vma(mm, a);
	ap = upage(mm, a + PG);
	buf = vuser(2);
	vpg = kmm_vmalloc_to_page(buf);
	drv_init(&d, DRV_REMAP, buf);
	u1 = do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	u2 = do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	vv = kmm_find_vma(mm, u1);
	blk = alloc_page();
	drv_init(&dp, DRV_REMAP_PFN, NULL);
	dp.pfn = kmm_page_to_pfn(blk);
	pa = do_mmap(mm, 0, PG, RW, KMM_MAP_SHARED, 0, &dp.file);
	vp = kmm_find_vma(mm, pa);
	cr_assert_eq(mapc(vpg), 1, "mapped twice");
	check_valid(mm, "setup");

	atomic_fetch_add(&mm->rss_anon, 1);
	expect_invalid(mm, "MM_ANONPAGES one too many");
	atomic_fetch_sub(&mm->rss_anon, 1);
	atomic_fetch_sub(&mm->rss_file, 1);
	expect_invalid(mm, "MM_FILEPAGES one short");
	atomic_fetch_add(&mm->rss_file, 1);
	check_valid(mm, "RSS restored");

	save = ap->index;
	ap->index++;
	expect_invalid(mm, "an anonymous page's rmap pointing elsewhere");
	ap->index = save;
	save_i = mapc(ap);
	atomic_store(&ap->_mapcount, -1);
	expect_invalid(mm, "a mapped anonymous page with _mapcount -1");
	atomic_store(&ap->_mapcount, save_i);
	check_valid(mm, "rmap restored");

	va->vm_end += 1;
	expect_invalid(mm, "an unaligned vm_end");
	va->vm_end -= 1;
	mm->map_count++;
	expect_invalid(mm, "map_count one too many");
	mm->map_count--;
	vp->vm_flags &= ~KMM_VM_PFNMAP;
	expect_invalid(mm, "a special PTE in a VMA of neither PFNMAP nor MIXEDMAP");
	vp->vm_flags |= KMM_VM_PFNMAP;
	check_valid(mm, "VMAs restored");

	(void)vv;
	(void)u2;
	(void)vpg;
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	kmm___free_pages(blk, 0);
	assert_all_back("validate");
}

/* "every mapped page allocated with a map count and a reference per mapping at least" */
Test(mm, validate_counts_per_mapping)
{
	struct kmm_mm_struct *mm;
	struct kmm_page *vpg;
	struct drv d;
	unsigned char *buf;
	int save_i, r1, r2;

	boot("mem=64M");
	mm = new_mm(GB);
	buf = vuser(2);
	vpg = kmm_vmalloc_to_page(buf);
	drv_init(&d, DRV_REMAP, buf);
	do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	do_mmap(mm, 0, 2 * PG, RW, KMM_MAP_SHARED, 0, &d.file);
	cr_assert_eq(mapc(vpg), 1, "mapped twice");
	cr_assert_eq(refc(vpg), 3);
	check_valid(mm, "setup");
	/* Two mappings of one page; both cases are tried whatever the first gives. */
	save_i = mapc(vpg);
	atomic_store(&vpg->_mapcount, 0);
	r1 = kmm_mm_validate(mm);
	atomic_store(&vpg->_mapcount, save_i);
	save_i = refc(vpg);
	atomic_store(&vpg->_refcount, 1);
	r2 = kmm_mm_validate(mm);
	atomic_store(&vpg->_refcount, save_i);
	kt_log_clear();
	check_valid(mm, "counts restored");
	cr_expect_eq(r1, -KMM_EINVAL,
		     "kmm_mm_validate() = %d with a page mapped twice and _mapcount 0", r1);
	cr_expect_eq(r2, -KMM_EINVAL,
		     "kmm_mm_validate() = %d with a page mapped twice and _refcount 1", r2);
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
	assert_all_back("validate per mapping");
}

/*
 * No page-table page to be had (kmm_fail_page_alloc, fail-nth): each call
 * fails with its documented answer and leaves nothing mapped or counted.
 * Each target lies in a fresh 2 MiB region, so its first step is a table.
 */
Test(mm, table_alloc_failures)
{
	struct kmm_mm_struct *mm;
	struct kmm_vm_area_struct *vma;
	struct kmm_page *p, *blk;
	struct drv d, dp;
	unsigned long base, ua, r, pa;
	uint64_t f0;
	int e;
	unsigned v;

	boot("mem=64M");
	mm = new_mm(GB);
	base = KMM_ALIGN_UP(mm->mmap_base, PMD_SIZE);
	p = alloc_page();
	blk = kmm_alloc_pages(KMM_GFP_KERNEL, 1);
	cr_assert_not_null(blk);

	/* vm_insert_page: -ENOMEM, no reference kept. */
	ua = null_vma(mm, &d, base + 4 * PMD_SIZE, 2, KMM_MAP_SHARED);
	vma = vma_at(mm, ua, ua, ua + 2 * PG);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	e = insert_page(vma, ua, p);
	kmm_fault_reset(&kmm_fail_page_alloc);
	cr_assert_eq(e, -KMM_ENOMEM, "vm_insert_page with no table page: %d", e);
	cr_assert_eq(refc(p), 1);
	cr_assert_eq(mapc(p), -1);
	assert_unmapped(mm, ua, 2, "insert -ENOMEM");
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	check_valid(mm, "insert -ENOMEM");

	/* remap_pfn_range: -ENOMEM, the range unmapped. */
	ua = null_vma(mm, &d, base + 8 * PMD_SIZE, 2, KMM_MAP_SHARED);
	vma = vma_at(mm, ua, ua, ua + 2 * PG);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	e = remap_pfn(vma, ua, kmm_page_to_pfn(blk), 2 * PG);
	kmm_fault_reset(&kmm_fail_page_alloc);
	cr_assert_eq(e, -KMM_ENOMEM, "remap_pfn_range with no table page: %d", e);
	assert_unmapped(mm, ua, 2, "remap_pfn_range -ENOMEM");
	check_valid(mm, "remap_pfn_range -ENOMEM");

	/* vmf_insert_pfn: VM_FAULT_OOM. */
	drv_init(&dp, DRV_PFNMAP, NULL);
	pa = do_mmap(mm, base + 12 * PMD_SIZE, PG, RW, KMM_MAP_SHARED | KMM_MAP_FIXED, 0, &dp.file);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);
	v = insert_pfn(kmm_find_vma(mm, pa), pa, kmm_page_to_pfn(blk));
	kmm_fault_reset(&kmm_fail_page_alloc);
	cr_assert_eq(v, KMM_VM_FAULT_OOM, "vmf_insert_pfn with no table page: %#x", v);
	assert_unmapped(mm, pa, 1, "vmf_insert_pfn OOM");
	check_valid(mm, "vmf_insert_pfn OOM");

	/* MAP_POPULATE running out part-way: -ENOMEM, no VMA, every page it took back. */
	do_mmap(mm, base + 16 * PMD_SIZE, PG, RW, ANON_POP | KMM_MAP_FIXED, 0, NULL);
	f0 = free_now();
	kmm_fault_set_nth(&kmm_fail_page_alloc, 4);
	r = kmm_vm_mmap(mm, base + 16 * PMD_SIZE + 8 * PG, 8 * PG, RW, ANON_POP | KMM_MAP_FIXED, 0,
			NULL);
	kmm_fault_reset(&kmm_fail_page_alloc);
	cr_assert_eq((long)r, -KMM_ENOMEM, "MAP_POPULATE out of memory: %ld", (long)r);
	cr_assert_eq(free_now(), f0, "a failed populate kept %lld pages",
		     (long long)(f0 - free_now()));
	{
		struct kmm_vm_area_struct *left = kmm_find_vma(mm, base + 16 * PMD_SIZE + 8 * PG);

		cr_assert(!left || left->vm_start >= base + 16 * PMD_SIZE + 16 * PG,
			  "a VMA survived a failed populate");
	}
	cr_assert_eq(mm->map_count, 4);
	assert_unmapped(mm, base + 16 * PMD_SIZE + 8 * PG, 8, "populate -ENOMEM");
	cr_assert_eq(atomic_load(&mm->rss_anon), 1);
	check_valid(mm, "populate -ENOMEM");

	/* All of them work once memory is back. */
	ua = base + 4 * PMD_SIZE;
	cr_assert_eq(insert_page(kmm_find_vma(mm, ua), ua, p), 0);
	ua = base + 8 * PMD_SIZE;
	cr_assert_eq(remap_pfn(kmm_find_vma(mm, ua), ua, kmm_page_to_pfn(blk), 2 * PG), 0);
	cr_assert_eq(insert_pfn(kmm_find_vma(mm, pa), pa, kmm_page_to_pfn(blk)),
		     KMM_VM_FAULT_NOPAGE);
	check_valid(mm, "after the failures");
	kmm_mm_destroy(mm);
	cr_assert_eq(refc(p), 1);
	kmm___free_pages(p, 0);
	kmm___free_pages(blk, 1);
	assert_all_back("table failures");
}

/* ---- 12. threads ----------------------------------------------------------------------- */

#define TH_N 4
#define TH_ROUNDS 200
#define TH_SHARED_PER 2	/* pages of the shared buffer each thread writes */

struct worker {
	pthread_t th;
	int id;
	uint64_t seed;
	int errors;
	char msg[256];
	struct drv *drv;
	unsigned char *shared;
	unsigned long maps, remaps;
};

#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = w->seed;
	bool shadow = is_shadow();
	struct kmm_mm_struct *mm;
	unsigned long sp = TH_N * TH_SHARED_PER;

	if (kmm_bind_cpu(w->id % (int)kmm_machine.nr_cpus))
		wfail(w, "kmm_bind_cpu(%d) failed", w->id % (int)kmm_machine.nr_cpus);
	mm = kmm_mm_create(GB);
	if (!mm) {
		wfail(w, "thread %d: kmm_mm_create failed", w->id);
		return NULL;
	}
	for (int i = 0; i < TH_ROUNDS && !w->errors; i++) {
		unsigned long n = 1 + kt_rand(&rs) % 8;
		uint64_t tag = ((uint64_t)(w->id + 1) << 40) | (uint64_t)i;
		unsigned long a, u, pfn;
		unsigned char *mine;

		a = kmm_vm_mmap(mm, 0, n * PG, RW, ANON_POP, 0, NULL);
		if (KMM_IS_ERR_VALUE(a)) {
			wfail(w, "thread %d round %d: anonymous mmap = %ld", w->id, i, (long)a);
			break;
		}
		w->maps++;
		for (unsigned long k = 0; k < n; k++) {
			struct kmm_mm_struct *rmm = NULL;
			unsigned long raddr = 0;

			if (kmm_follow_pfn(mm, a + k * PG, &pfn)) {
				wfail(w, "thread %d: page %lu of %#lx not mapped", w->id, k, a);
				continue;
			}
			if (!kmm_page_anon_rmap(kmm_pfn_to_page(pfn), &rmm, &raddr) || rmm != mm ||
			    raddr != a + k * PG)
				wfail(w, "thread %d: page %lu of %#lx: wrong rmap", w->id, k, a);
		}
		if (!shadow) {
			if (!all_zero(U(a), n))
				wfail(w, "thread %d round %d: anonymous memory not zero", w->id, i);
			fill(U(a), n, tag);
			if (first_bad(U(a), n, tag) != -1)
				wfail(w, "thread %d round %d: anonymous bytes lost", w->id, i);
			if (kmm_follow_pfn(mm, a, &pfn) == 0 &&
			    first_bad(kmm_page_address(kmm_pfn_to_page(pfn)), 1, tag) != -1)
				wfail(w, "thread %d round %d: direct map disagrees", w->id, i);
		}
		if (kmm_vm_munmap(mm, a, n * PG))
			wfail(w, "thread %d: munmap failed", w->id);

		u = kmm_vm_mmap(mm, 0, sp * PG, RW, KMM_MAP_SHARED, 0, &w->drv->file);
		if (KMM_IS_ERR_VALUE(u)) {
			wfail(w, "thread %d round %d: driver mmap = %ld", w->id, i, (long)u);
			break;
		}
		w->remaps++;
		for (unsigned long k = 0; k < sp; k++)
			if (kmm_follow_pfn(mm, u + k * PG, &pfn) ||
			    pfn != kmm_vmalloc_to_pfn(w->shared + k * PG))
				wfail(w, "thread %d: shared page %lu not mapped right", w->id, k);
		if (!shadow) {
			mine = U(u) + (size_t)w->id * TH_SHARED_PER * PG;
			fill(mine, TH_SHARED_PER, tag);
			if (first_bad(w->shared + (size_t)w->id * TH_SHARED_PER * PG, TH_SHARED_PER,
				      tag) != -1)
				wfail(w, "thread %d round %d: user stores not in the shared buffer",
				      w->id, i);
		}
		if (kmm_vm_munmap(mm, u, sp * PG))
			wfail(w, "thread %d: munmap of the shared mapping failed", w->id);
		if (i % 50 == 49 && kmm_mm_validate(mm))
			wfail(w, "thread %d round %d: kmm_mm_validate failed", w->id, i);
	}
	if (kmm_mm_validate(mm))
		wfail(w, "thread %d: kmm_mm_validate failed at the end", w->id);
	if (mm->map_count != 0)
		wfail(w, "thread %d: %d VMAs left", w->id, mm->map_count);
	kmm_mm_destroy(mm);
	kmm_bind_cpu(-1);
	return NULL;
}

Test(mm, threads_own_mms_shared_buffer, .timeout = 240)
{
	static struct worker w[TH_N];
	struct counts c0;
	struct drv d;
	unsigned char *shared;
	uint64_t seed = kt_seed("mm.threads");
	double t0;

	boot("mem=128M nr_cpus=4");
	shared = vuser(TH_N * TH_SHARED_PER);
	counts_take(&c0, shared, TH_N * TH_SHARED_PER);
	drv_init(&d, DRV_REMAP, shared);
	memset(w, 0, sizeof(w));
	t0 = kt_now();
	for (int i = 0; i < TH_N; i++) {
		w[i].id = i;
		w[i].seed = seed + (uint64_t)i * 7919;
		w[i].drv = &d;
		w[i].shared = shared;
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < TH_N; i++)
		pthread_join(w[i].th, NULL);
	for (int i = 0; i < TH_N; i++) {
		cr_assert_eq(w[i].errors, 0, "%s (%d errors, seed %llu)", w[i].msg, w[i].errors,
			     (unsigned long long)seed);
		cr_assert_eq(w[i].maps, TH_ROUNDS);
		cr_assert_eq(w[i].remaps, TH_ROUNDS);
	}
	cr_assert_eq(atomic_load(&d.calls), TH_N * TH_ROUNDS);
	fprintf(stderr, "mm.threads: %d threads x %d rounds in %.2f s\n", TH_N, TH_ROUNDS,
		kt_now() - t0);
	counts_assert(&c0, 0, 0, "after the threads");
	cr_assert_eq(kt_log_count("WARNING"), 0, "%s", kt_log_find("WARNING"));
	assert_quiet("threads");
	check_valid(NULL, "after the threads");
	kmm_vfree(shared);
	assert_all_back("threads");
}

/* PROT_NONE mappings keep their pages (x86's PROTNONE PTEs) and give them back. */
Test(mm, prot_none_keeps_and_returns_pages)
{
	struct kmm_mm_struct *mm;
	struct kmm_page *p;
	struct drv d;
	unsigned long ua, a;

	boot("mem=64M");
	mm = new_mm(GB);
	drv_init(&d, DRV_NOTHING, NULL);
	ua = do_mmap(mm, 0, 2 * PG, KMM_PROT_NONE, KMM_MAP_SHARED, 0, &d.file);
	p = alloc_page();
	cr_assert_eq(insert_page(kmm_find_vma(mm, ua), ua, p), 0);
	cr_assert_eq(refc(p), 2);
	cr_assert_eq(mapc(p), 0);
	cr_assert_eq(upfn(mm, ua), kmm_page_to_pfn(p), "the PTE keeps the page");
	if (!is_shadow())
		cr_assert_not(kt_probe_read(U(ua), NULL), "a PROT_NONE page cannot be read");
	check_valid(mm, "PROT_NONE insert");
	do_munmap(mm, ua, 2 * PG);
	cr_assert_eq(refc(p), 1, "munmap gave the reference back");
	cr_assert_eq(mapc(p), -1);
	cr_assert_eq(atomic_load(&mm->rss_file), 0);
	kmm___free_pages(p, 0);
	/* Anonymous PROT_NONE with MAP_POPULATE maps nothing (as __mm_populate). */
	a = do_mmap(mm, 0, 4 * PG, KMM_PROT_NONE, ANON_POP, 0, NULL);
	for (int i = 0; i < 4; i++)
		cr_assert_not(umapped(mm, a + (unsigned long)i * PG));
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	check_valid(mm, "PROT_NONE anonymous");
	kmm_mm_destroy(mm);
	assert_all_back("PROT_NONE");
}

/*
 * The host refuses an unmap (fail_host_map, as at vm.max_map_count): the
 * range is gone from kmm but its pages stay allocated while the host may
 * still map them, and come back when the mm's host range is released.
 */
Test(mm, failed_host_unmap_holds_pages_until_destroy)
{
	enum { N = 8 };
	struct kmm_mm_struct *mm;
	struct kmm_page *pg[N];
	unsigned long a;
	uint64_t f0;
	int r;

	boot("mem=64M");
	mm = new_mm(GB);
	f0 = free_now();
	a = do_mmap(mm, 0, N * PG, RW, ANON_POP, 0, NULL);
	for (int i = 0; i < N; i++)
		pg[i] = upage(mm, a + (unsigned long)i * PG);
	kmm_fault_set_nth(&kmm_fail_host_map, 1);
	r = kmm_vm_munmap(mm, a, N * PG);
	kmm_fault_set_nth(&kmm_fail_host_map, 0);
	if (is_shadow()) {
		cr_assert_eq(r, 0, "shadow mode makes no host call");
	} else {
		cr_assert_eq(r, -KMM_ENOMEM, "the host unmap failed: %d", r);
		cr_assert_eq(atomic_load(&mm->rss_anon), 0, "gone from kmm");
		for (int i = 0; i < N; i++) {
			cr_assert_eq(refc(pg[i]), 1, "page %d held for the host mapping", i);
			cr_assert_eq(mapc(pg[i]), -1);
		}
		cr_assert_eq(mm->nr_zap_held, N);
		cr_assert_lt(free_now(), f0, "the held pages are not free");
		check_valid(mm, "after the failed unmap");
	}
	kmm_mm_destroy(mm);
	assert_all_back("held pages");
}
