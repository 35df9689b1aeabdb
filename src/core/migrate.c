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

/* Pages moved per mmap_lock hold (a run of consecutive user addresses). */
#define MIGRATE_RUN 128
#define TARGET_MAX_ORDER 7	/* targets in blocks of up to 128 pages */

/*
 * Targets for @n pages: with no @get_new, PFN-contiguous blocks as large
 * as can be had (split into order-0 pages), so the run's host mapping is
 * one call; else one @get_new call per page.  Return: how many.
 */
static unsigned alloc_targets(struct kmm_page **new, struct kmm_page **old, unsigned n,
			      kmm_new_page_t get_new, unsigned long private)
{
	unsigned got = 0, max_o = TARGET_MAX_ORDER;

	if (get_new) {
		for (; got < n; got++)
			if (!(new[got] = get_new(old[got], private)))
				break;
		return got;
	}
	while (got < n) {
		unsigned o = 31 - (unsigned)__builtin_clz(n - got);
		struct kmm_page *b = NULL;

		if (o > max_o)
			o = max_o;
		for (;; o--) {
			b = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN |
						    (o ? KMM___GFP_NORETRY : 0),
					    o);
			if (b || !o)
				break;
			max_o = o - 1;	/* don't ask for this order again */
		}
		if (!b)
			break;
		if (o)
			kmm_split_page(b, o);
		for (unsigned k = 0; k < (1u << o); k++)
			new[got++] = b + k;
	}
	return got;
}

static void free_targets(struct kmm_page **new, unsigned n, kmm_free_page_t put_new,
			 unsigned long private)
{
	for (unsigned i = 0; i < n; i++) {
		if (put_new)
			put_new(new[i], private);
		else
			kmm_put_page(new[i]);
	}
}

/*
 * @first and the pages after it on @from that map the next user
 * addresses of the same mm: migrate as many as hold only the mapping's and
 * the isolation's references.  Migrated pages leave @from.
 * Return: 0 with *@done pages migrated (or freed under us), -EAGAIN
 * (@first is pinned or the host refused for now), -ENOMEM (no target).
 */
static int migrate_run(struct kmm_list_head *from, struct kmm_page *first,
		       kmm_new_page_t get_new, kmm_free_page_t put_new, unsigned long private,
		       unsigned *done)
{
	struct kmm_page *old[MIGRATE_RUN], *new[MIGRATE_RUN];
	struct kmm_mm_struct *mm;
	struct kmm_list_head *l;
	unsigned long addr;
	unsigned n = 0, got;
	int ret;

	*done = 0;
	mm = kmm__anon_lock_owner(first, &addr);
	if (!mm) {
		/* Unmapped since isolation: only our reference is left. */
		kmm_list_del(&first->lru);
		kmm_page_clear(first, KMM_PG_isolated);
		kmm_put_page(first);
		*done = 1;
		return 0;
	}
	old[n++] = first;
	for (l = first->lru.next; l != from && n < MIGRATE_RUN; l = l->next) {
		struct kmm_page *q = kmm_container_of(l, struct kmm_page, lru);

		if (kmm_page_mapping(q) != mm || q->index != first->index + n)
			break;
		old[n++] = q;
	}
	n = kmm__anon_run_check_locked(mm, addr, old, n, 1);
	if (!n) {
		kmm__anon_unlock_owner(mm);
		return -KMM_EAGAIN;	/* pinned */
	}
	got = alloc_targets(new, old, n, get_new, private);
	if (!got) {
		kmm__anon_unlock_owner(mm);
		return -KMM_ENOMEM;
	}
	ret = kmm__anon_migrate_run_locked(mm, addr, old, new, got);
	kmm__anon_unlock_owner(mm);
	if (ret) {
		free_targets(new, got, put_new, private);
		return ret;
	}
	for (unsigned i = 0; i < got; i++) {
		kmm_list_del(&old[i]->lru);
		kmm_page_clear(old[i], KMM_PG_isolated);
		kmm_put_page(old[i]);	/* ours: the source is freed */
	}
	*done = got;
	return 0;
}

int kmm_migrate_pages(struct kmm_list_head *from, kmm_new_page_t get_new,
		      kmm_free_page_t put_new, unsigned long private,
		      enum kmm_migrate_mode mode, int reason, unsigned *nr_succeeded)
{
	struct kmm_list_head retry;
	unsigned done = 0;
	int pass, left = 0;

	(void)mode;
	(void)reason;
	if (nr_succeeded)
		*nr_succeeded = 0;
	if (!from)
		return -KMM_EINVAL;
	kmm_list_init(&retry);
	for (pass = 0; pass < NR_MAX_MIGRATE_PAGES_RETRY; pass++) {
		left = 0;
		while (!kmm_list_empty(from)) {
			struct kmm_page *page = kmm_list_first_entry(from, struct kmm_page, lru);
			unsigned d;
			int r = migrate_run(from, page, get_new, put_new, private, &d);

			if (r == 0) {
				done += d;
			} else if (r == -KMM_ENOMEM) {
				kmm_list_splice_tail(&retry, from);
				atomic_fetch_add(&pgmigrate_success, done);
				if (nr_succeeded)
					*nr_succeeded = done;
				return -KMM_ENOMEM;
			} else {
				kmm_list_del(&page->lru);
				kmm_list_add_tail(&page->lru, &retry);
				left++;
			}
		}
		kmm_list_splice_tail(&retry, from);
		if (!left)
			break;
	}
	atomic_fetch_add(&pgmigrate_success, done);
	atomic_fetch_add(&pgmigrate_fail, (unsigned long)left);
	if (nr_succeeded)
		*nr_succeeded = done;
	return left;
}
