/* SPDX-License-Identifier: MIT */
/*
 * test_user_fault.c - anonymous memory that is mapped at first touch: a
 * private anonymous kmm_vm_mmap() without MAP_POPULATE is demand-mapped
 * by the port (userfaultfd in the hosted port), and each first access is
 * a real page fault that kmm_handle_user_fault() resolves with a zeroed
 * movable page and its reverse map.  Also: forbidden accesses fault,
 * munmap takes untouched pages back too, a fault with no memory to be
 * had becomes a SIGSEGV, threads fault concurrently, shadow mode maps
 * nothing.  Faults are provoked with plain loads and stores (and the
 * kt_probe_* SIGSEGV probes where the access must fail).
 *
 * Where the host has no userfaultfd the mapping is populated at mmap();
 * the tests that need real faults skip then (they say so).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/fault.h>
#include <kmm/mm.h>

#define PG KMM_PAGE_SIZE

TestSuite(ufault, .fini = kt_fini, .timeout = 60);

static void check(struct kmm_mm_struct *mm, const char *what)
{
	int r = kmm_mm_validate(mm);

	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "kmm_mm_validate() = %d after %s", r, what);
}

/* Boot, make an mm and an anonymous mapping of @n pages with @prot. */
static struct kmm_mm_struct *anon(unsigned n, unsigned long prot, char **p)
{
	struct kmm_mm_struct *mm;
	unsigned long a;

	kt_boot("mem=64M nr_cpus=2");
	mm = kmm_mm_create(0);
	cr_assert_not_null(mm);
	a = kmm_vm_mmap(mm, 0, n * PG, prot, KMM_MAP_PRIVATE, 0, NULL);
	cr_assert(!KMM_IS_ERR_VALUE(a), "mmap: %ld", (long)a);
	*p = (char *)a;
	return mm;
}

static bool demand(struct kmm_mm_struct *mm, const char *p)
{
	return kmm_find_vma(mm, (unsigned long)p)->vm_flags & KMM_VM_UFFD_MISSING;
}

Test(ufault, first_touch_maps_a_zeroed_movable_page)
{
	struct kmm_mm_struct *mm;
	struct kmm_mm_struct *rm;
	struct kmm_page *page;
	unsigned long pfn, ra;
	char *p;

	mm = anon(16, KMM_PROT_READ | KMM_PROT_WRITE, &p);
	if (!demand(mm, p)) {
		cr_log_info("no userfaultfd on this host: populated at mmap, nothing to fault");
		kmm_mm_destroy(mm);
		return;
	}
	cr_assert_eq(atomic_load(&mm->rss_anon), 0, "nothing mapped before a touch");
	cr_assert_neq(kmm_follow_pfn(mm, (unsigned long)p + 5 * PG, &pfn), 0);
	p[5 * PG + 7] = 'x';	/* the fault */
	cr_assert_eq(atomic_load(&mm->rss_anon), 1);
	cr_assert_eq(atomic_load(&mm->nr_faults), 1);
	cr_assert_eq(kmm_follow_pfn(mm, (unsigned long)p + 5 * PG, &pfn), 0);
	page = kmm_pfn_to_page(pfn);
	cr_assert_eq(((char *)kmm_page_address(page))[7], 'x', "the direct map shows the store");
	cr_assert(kmm_page_anon_rmap(page, &rm, &ra));
	cr_assert(rm == mm && ra == (unsigned long)p + 5 * PG, "reverse map");
	cr_assert_eq(page->alloc_mt, KMM_MIGRATE_MOVABLE, "GFP_HIGHUSER_MOVABLE");
	for (unsigned i = 0; i < PG; i++)
		if (i != 7)
			cr_assert_eq(p[5 * PG + i], 0, "byte %u of a new page is not zero", i);
	cr_assert_eq(p[9 * PG], 0, "a read faults a zeroed page in");
	cr_assert_eq(atomic_load(&mm->rss_anon), 2);
	check(mm, "two faults");
	memset(p, 0xab, 16 * PG);
	cr_assert_eq(atomic_load(&mm->rss_anon), 16);
	cr_assert_eq(atomic_load(&mm->nr_faults), 16);
	check(mm, "every page touched");
	cr_assert_eq(kmm_vm_munmap(mm, (unsigned long)p, 16 * PG), 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	kmm_mm_destroy(mm);
	kmm_drain_all_pages(NULL);
	cr_assert_geq(kt_free_total() + KT_BOOT_SLACK, kt_boot_free, "pages leaked");
}

Test(ufault, forbidden_accesses_still_fault)
{
	struct kmm_mm_struct *mm;
	unsigned char c;
	char *p;

	mm = anon(4, KMM_PROT_READ, &p);
	if (!demand(mm, p)) {
		kmm_mm_destroy(mm);
		return;
	}
	cr_assert(!kt_probe_write(p, 1), "a store into a read-only mapping went through");
	cr_assert_eq(atomic_load(&mm->rss_anon), 0, "a refused store mapped nothing");
	cr_assert(kt_probe_read(p + PG, &c) && c == 0, "a load maps a zeroed page");
	cr_assert(!kt_probe_write(p + PG, 1), "the page is mapped read-only");
	check(mm, "read-only");
	kmm_mm_destroy(mm);
}

Test(ufault, munmap_takes_untouched_pages_back)
{
	struct kmm_mm_struct *mm;
	unsigned char c;
	char *p;

	mm = anon(8, KMM_PROT_READ | KMM_PROT_WRITE, &p);
	if (!demand(mm, p)) {
		kmm_mm_destroy(mm);
		return;
	}
	p[0] = 1;
	p[6 * PG] = 1;
	cr_assert_eq(kmm_vm_munmap(mm, (unsigned long)p + 2 * PG, 4 * PG), 0);
	cr_assert(!kt_probe_read(p + 3 * PG, &c), "an untouched unmapped page is reachable");
	cr_assert(!kt_probe_write(p + 4 * PG, 1), "an untouched unmapped page is writable");
	cr_assert_eq(atomic_load(&mm->rss_anon), 2, "a probe of an unmapped page mapped one");
	cr_assert(kt_probe_read(p + PG, &c) && c == 0, "the part left still faults in");
	cr_assert(kt_probe_read(p + 7 * PG, &c) && c == 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 4);
	check(mm, "partial munmap");
	cr_assert_eq(kmm_vm_munmap(mm, (unsigned long)p, 8 * PG), 0);
	cr_assert(!kt_probe_read(p, &c));
	cr_assert(!kt_probe_read(p + PG, &c));
	check(mm, "full munmap");
	kmm_mm_destroy(mm);
}

Test(ufault, no_memory_makes_the_access_fault)
{
	struct kmm_mm_struct *mm;
	char *p;

	mm = anon(4, KMM_PROT_READ | KMM_PROT_WRITE, &p);
	if (!demand(mm, p)) {
		kmm_mm_destroy(mm);
		return;
	}
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);	/* the fault's page */
	cr_assert(!kt_probe_write(p + PG, 1), "an access with no page to be had succeeded");
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	check(mm, "failed fault");
	p[2 * PG] = 5;	/* other pages still fault in */
	cr_assert_eq(atomic_load(&mm->rss_anon), 1);
	check(mm, "fault after a failed one");
	kmm_mm_destroy(mm);
	kmm_drain_all_pages(NULL);
	cr_assert_geq(kt_free_total() + KT_BOOT_SLACK, kt_boot_free);
}

Test(ufault, populate_maps_everything_at_once)
{
	struct kmm_mm_struct *mm;
	unsigned long a;

	kt_boot("mem=64M");
	mm = kmm_mm_create(0);
	a = kmm_vm_mmap(mm, 0, 8 * PG, KMM_PROT_READ | KMM_PROT_WRITE,
			KMM_MAP_PRIVATE | KMM_MAP_POPULATE, 0, NULL);
	cr_assert(!KMM_IS_ERR_VALUE(a));
	cr_assert_eq(atomic_load(&mm->rss_anon), 8);
	cr_assert_eq(kmm_find_vma(mm, a)->vm_flags & KMM_VM_UFFD_MISSING, 0);
	memset((void *)a, 3, 8 * PG);
	cr_assert_eq(atomic_load(&mm->nr_faults), 0, "a populated mapping faulted");
	check(mm, "populate");
	kmm_mm_destroy(mm);
}

Test(ufault, shadow_mode_maps_nothing)
{
	struct kmm_mm_struct *mm;
	unsigned long a;

	kt_boot("kmm.mode=shadow mem=64M");
	mm = kmm_mm_create(0);
	a = kmm_vm_mmap(mm, 0, 8 * PG, KMM_PROT_READ | KMM_PROT_WRITE, KMM_MAP_PRIVATE, 0,
			NULL);
	cr_assert(!KMM_IS_ERR_VALUE(a));
	cr_assert_eq(atomic_load(&mm->rss_anon), 0);
	cr_assert_eq(kmm_find_vma(mm, a)->vm_flags & KMM_VM_UFFD_MISSING, 0);
	cr_assert_eq(kmm_handle_user_fault(a, true), -KMM_EFAULT, "no demand VMA");
	check(mm, "shadow");
	kmm_mm_destroy(mm);
}

Test(ufault, a_fault_outside_every_mm_is_refused)
{
	static char not_kmm[2 * 4096];

	kt_boot("mem=64M");
	cr_assert_eq(kmm_handle_user_fault((uintptr_t)not_kmm, false), -KMM_EFAULT);
}

/* ---- threads ---------------------------------------------------------------- */

#define TH_N 4
#define TH_PAGES 64

struct toucher {
	pthread_t th;
	char *p;
	int id;
};

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;

	/* Everyone touches every page (the same faults race), then its own bytes. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < TH_PAGES; i++)
			t->p[i * PG + t->id * 8 + round] = (char)(t->id + 1);
	return NULL;
}

Test(ufault, threads_fault_the_same_pages_at_once, .timeout = 120)
{
	struct toucher t[TH_N];
	struct kmm_mm_struct *mm;
	char *p;

	mm = anon(TH_PAGES, KMM_PROT_READ | KMM_PROT_WRITE, &p);
	if (!demand(mm, p)) {
		kmm_mm_destroy(mm);
		return;
	}
	for (int i = 0; i < TH_N; i++) {
		t[i] = (struct toucher){ .p = p, .id = i };
		cr_assert_eq(pthread_create(&t[i].th, NULL, toucher_main, &t[i]), 0);
	}
	for (int i = 0; i < TH_N; i++)
		pthread_join(t[i].th, NULL);
	cr_assert_eq(atomic_load(&mm->rss_anon), TH_PAGES, "one page per address");
	for (int i = 0; i < TH_PAGES; i++)
		for (int id = 0; id < TH_N; id++)
			for (int round = 0; round < 3; round++)
				cr_assert_eq(p[i * PG + id * 8 + round], id + 1,
					     "page %d lost thread %d's store", i, id);
	check(mm, "threads");
	kmm_mm_destroy(mm);
}
