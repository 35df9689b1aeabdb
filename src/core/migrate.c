/* SPDX-License-Identifier: MIT */
/*
 * migrate.c - page migration for movable pages, after Linux 6.18
 * mm/migrate.c (behaviour re-implemented, no code taken).
 *
 * What is movable
 * ---------------
 * In kmm the movable pages are mapped anonymous user pages: PG_anon with
 * the reverse map (page->mapping = the mm, page->index = the user page
 * number) and PG_lru while they are on the (modelled) LRU.  Every other
 * allocated page has no owner that could be told its new address, so
 * isolation and alloc_contig_range() treat it as unmovable, as the kernel
 * treats a page that is neither on the LRU nor __PageMovable.
 *
 * States of a page being migrated
 * -------------------------------
 *
 *    mapped, PG_lru            kmm_isolate_movable_page()   (mmap_lock)
 *          |   +1 reference, PG_lru -> PG_isolated, on the caller's list
 *          v
 *    isolated  ---- refcount != 2 (pinned) --> retried, up to 10 passes,
 *          |                                   then left on the list
 *          |  kmm_migrate_pages(), under the owner's mmap_lock:
 *          |    host page -> demand page (a toucher waits for mmap_lock)
 *          |    copy bytes, PTE -> target, flush (host maps the target)
 *          |    target gets the rmap, PG_anon, PG_lru
 *          v
 *    source unmapped: mapping reference and isolation reference dropped,
 *    so it is freed (into the Isolate list when its pageblock is isolated)
 *
 * A page unmapped while isolated (munmap, mm teardown) has lost its
 * mapping and PG_anon; kmm_migrate_pages() then just drops the isolation
 * reference, which frees it: "freed under us" counts as migrated.
 *
 * Lock order
 * ----------
 *   mm_list_lock (mm.c)
 *     mm->mmap_lock
 *       the page-table and host locks of a flush, the page allocator's
 *       (targets are allocated with mmap_lock held)
 */
#include <kmm/boot.h>
#include <kmm/lib.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/page_alloc.h>

#define NR_MAX_MIGRATE_PAGES_RETRY 10

static atomic_ulong pgmigrate_success, pgmigrate_fail;

unsigned long kmm_pgmigrate_success(void)
{
	return atomic_load_explicit(&pgmigrate_success, memory_order_relaxed);
}

unsigned long kmm_pgmigrate_fail(void)
{
	return atomic_load_explicit(&pgmigrate_fail, memory_order_relaxed);
}

void kmm__migrate_reset(void)
{
	atomic_store(&pgmigrate_success, 0);
	atomic_store(&pgmigrate_fail, 0);
}

int kmm_isolate_movable_page(struct kmm_page *page, struct kmm_list_head *list)
{
	struct kmm_mm_struct *mm;
	unsigned long addr;

	if (!page || !list || !kmm_page_test(page, KMM_PG_lru))
		return -KMM_EBUSY;
	mm = kmm__anon_lock_owner(page, &addr);
	if (!mm)
		return -KMM_EBUSY;
	if (!kmm_page_test(page, KMM_PG_lru) || kmm_page_test(page, KMM_PG_isolated)) {
		kmm__anon_unlock_owner(mm);
		return -KMM_EBUSY;
	}
	kmm_get_page(page);
	kmm_page_flags_set_all(page, (kmm_page_flags(page) & ~(1ULL << KMM_PG_lru)) |
				     (1ULL << KMM_PG_isolated));
	kmm_list_add_tail(&page->lru, list);
	kmm__anon_unlock_owner(mm);
	return 0;
}

/* Back on the LRU (if still mapped) and the isolation reference dropped. */
static void putback_one(struct kmm_page *page)
{
	struct kmm_mm_struct *mm;
	unsigned long addr;

	kmm_list_del(&page->lru);
	mm = kmm__anon_lock_owner(page, &addr);
	if (mm) {
		kmm_page_flags_set_all(page, (kmm_page_flags(page) & ~(1ULL << KMM_PG_isolated)) |
					     (1ULL << KMM_PG_lru));
		kmm__anon_unlock_owner(mm);
	}
	/* Unmapped meanwhile: no flag to restore, nobody else holds it. */
	kmm_put_page(page);
}

void kmm_putback_movable_pages(struct kmm_list_head *list)
{
	if (!list)
		return;
	while (!kmm_list_empty(list))
		putback_one(kmm_list_first_entry(list, struct kmm_page, lru));
}

static struct kmm_page *default_new(struct kmm_page *src, unsigned long private)
{
	(void)src;
	(void)private;
	return kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, 0);
}

/*
 * One page.  Return: 0 (migrated or freed under us), -EAGAIN (pinned, or
 * the host refused for now), -ENOMEM (no target).
 */
static int migrate_one(struct kmm_page *page, kmm_new_page_t get_new, kmm_free_page_t put_new,
		       unsigned long private)
{
	struct kmm_mm_struct *mm;
	struct kmm_page *new;
	unsigned long addr;
	int ret;

	mm = kmm__anon_lock_owner(page, &addr);
	if (!mm) {
		/* Unmapped since isolation: only our reference is left. */
		kmm_list_del(&page->lru);
		kmm_page_clear(page, KMM_PG_isolated);
		kmm_put_page(page);
		return 0;
	}
	if (kmm_page_ref_count(page) != 2) {	/* the mapping's and ours */
		kmm__anon_unlock_owner(mm);
		return -KMM_EAGAIN;
	}
	new = get_new(page, private);
	if (!new) {
		kmm__anon_unlock_owner(mm);
		return -KMM_ENOMEM;
	}
	ret = kmm__anon_migrate_locked(mm, addr, page, new, 1);
	kmm__anon_unlock_owner(mm);
	if (ret) {
		if (put_new)
			put_new(new, private);
		else
			kmm_put_page(new);
		return ret;
	}
	kmm_list_del(&page->lru);
	kmm_page_clear(page, KMM_PG_isolated);
	kmm_put_page(page);	/* ours: the source is freed */
	return 0;
}

int kmm_migrate_pages(struct kmm_list_head *from, kmm_new_page_t get_new,
		      kmm_free_page_t put_new, unsigned long private,
		      enum kmm_migrate_mode mode, int reason, unsigned *nr_succeeded)
{
	unsigned done = 0;
	int pass, left = 0;

	(void)mode;
	(void)reason;
	if (nr_succeeded)
		*nr_succeeded = 0;
	if (!from)
		return -KMM_EINVAL;
	if (!get_new)
		get_new = default_new;
	for (pass = 0; pass < NR_MAX_MIGRATE_PAGES_RETRY; pass++) {
		struct kmm_list_head *l = from->next, *next;

		left = 0;
		for (; l != from; l = next) {
			struct kmm_page *page = kmm_container_of(l, struct kmm_page, lru);
			int r;

			next = l->next;
			r = migrate_one(page, get_new, put_new, private);
			if (r == 0) {
				done++;
			} else if (r == -KMM_ENOMEM) {
				atomic_fetch_add(&pgmigrate_success, done);
				if (nr_succeeded)
					*nr_succeeded = done;
				return -KMM_ENOMEM;
			} else {
				left++;
			}
		}
		if (!left)
			break;
	}
	atomic_fetch_add(&pgmigrate_success, done);
	atomic_fetch_add(&pgmigrate_fail, (unsigned long)left);
	if (nr_succeeded)
		*nr_succeeded = done;
	return left;
}
