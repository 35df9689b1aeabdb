/* SPDX-License-Identifier: MIT */
/*
 * contig.c - page isolation of PFN ranges and contiguous allocation, after
 * Linux 6.18 mm/page_isolation.c and alloc_contig_range() /
 * alloc_contig_pages() in mm/page_alloc.c (behaviour re-implemented, no
 * code taken).
 *
 * alloc_contig_range(start, end)
 * ------------------------------
 *
 *   pageblocks:  |  P0   |  P1   |  P2   |  P3   |
 *   range:           [start ............ end)
 *
 *   1. isolate P0..P3 (whole pageblocks around the range): each must be
 *      free or movable pages only (CMA pageblocks pass unseen in CMA
 *      mode); its free blocks move to the Isolate list, a free block that
 *      covers more than one pageblock is split first;
 *   2. drain every CPU's lists, so their pages of P0..P3 land there too;
 *   3. migrate every movable page of [start, end) away (up to 5 rounds
 *      of isolate-from-LRU + migrate_pages; pinned pages make it fail);
 *   4. drain again and test that every PFN of [start, end) is free on the
 *      Isolate list; take exactly those pages as order-0 allocations (the
 *      parts of free blocks outside the range stay on the Isolate list);
 *   5. undo the isolation of P0..P3: the rest of their free pages merge
 *      back into their pageblocks' own lists.
 *
 * A failure at any step undoes the isolation; pages taken are never lost
 * because nothing is taken before step 4 succeeds as a whole.  Each
 * failure records the PFN that blocked it and why (per thread, see
 * kmm_contig_last_error()) and counts the reason.
 *
 * Lock order
 * ----------
 *   mm_list_lock, mm->mmap_lock (migration, step 3)
 *     pcp->lock (drain)
 *       zone->lock (steps 1, 4, 5; never held across migration)
 */
#include <kmm/boot.h>
#include <kmm/lib.h>
#include <kmm/migrate.h>
#include <kmm/page_alloc.h>

#define CONTIG_MIGRATE_TRIES 5

const char *const kmm_contig_fail_names[KMM_NR_CONTIG_FAIL] = {
	[KMM_CONTIG_FAIL_UNMOVABLE] = "unmovable",
	[KMM_CONTIG_FAIL_PINNED] = "pinned",
	[KMM_CONTIG_FAIL_ISOLATED] = "isolated",
	[KMM_CONTIG_FAIL_NOMEM] = "nomem",
	[KMM_CONTIG_FAIL_RACE] = "busy-after-migration",
};

static atomic_ulong fail_count[KMM_NR_CONTIG_FAIL];

/*
 * The last error is the calling thread's: hosted, a thread may change CPUs
 * between a failure and the question (and other threads fail on the CPU it
 * left), so a per-CPU slot would answer for someone else.  Each record
 * carries the boot it belongs to; one from an earlier boot reads as none.
 * A freestanding build (no thread-local storage assumed) keeps one slot
 * per CPU.
 */
struct last_error {
	unsigned long boot;
	struct kmm_contig_error e;
};
static atomic_ulong boot_gen;
#if __STDC_HOSTED__
static _Thread_local struct last_error last_error;
#define LAST_ERROR (&last_error)
#else
static struct last_error last_error[KMM_MAX_CPUS];
#define LAST_ERROR (&last_error[kmm_smp_processor_id() % KMM_MAX_CPUS])
#endif

unsigned long kmm_contig_fail_count(enum kmm_contig_fail reason)
{
	if ((unsigned)reason >= KMM_NR_CONTIG_FAIL)
		return 0;
	return atomic_load_explicit(&fail_count[reason], memory_order_relaxed);
}

struct kmm_contig_error kmm_contig_last_error(void)
{
	const struct last_error *l = LAST_ERROR;

	if (l->boot != atomic_load_explicit(&boot_gen, memory_order_relaxed))
		return (struct kmm_contig_error){ .pfn = ~0ULL, .reason = -1 };
	return l->e;
}

void kmm__contig_reset(void)
{
	for (int i = 0; i < KMM_NR_CONTIG_FAIL; i++)
		atomic_store(&fail_count[i], 0);
	atomic_fetch_add(&boot_gen, 1);	/* every thread's last error is forgotten */
}

static void set_error(uint64_t pfn, enum kmm_contig_fail reason, int refcount)
{
	struct last_error *l = LAST_ERROR;

	l->e = (struct kmm_contig_error){ .pfn = pfn, .reason = reason, .refcount = refcount };
	l->boot = atomic_load_explicit(&boot_gen, memory_order_relaxed);
	atomic_fetch_add_explicit(&fail_count[reason], 1, memory_order_relaxed);
}

/* The zone holding all of [start, end), or NULL. */
static struct kmm_zone *range_zone(unsigned long start, unsigned long end)
{
	struct kmm_zone *z;

	if (!kmm_machine.booted || start >= end || !kmm_pfn_valid(start) ||
	    !kmm_pfn_valid(end - 1))
		return NULL;
	z = kmm_page_zone(kmm_pfn_to_page(start));
	if (z != kmm_page_zone(kmm_pfn_to_page(end - 1)) || start < z->zone_start_pfn ||
	    end > kmm_zone_end_pfn(z))
		return NULL;
	return z;
}

/*
 * has_unmovable_pages(): the first PFN of pageblock @pb that stops its
 * isolation, or ~0.  zone->lock held (no page leaves the buddy meanwhile).
 */
static uint64_t unmovable_pfn(struct kmm_zone *z, uint64_t pb, enum kmm_pb_isolate_mode mode,
			      int *refp)
{
	uint64_t pfn, end = pb + KMM_PAGEBLOCK_NR_PAGES;

	if (kmm__pageblock_mt(z, pb) == KMM_MIGRATE_CMA) {
		if (mode == KMM_PB_ISOLATE_MODE_CMA_ALLOC)
			return ~0ULL;
		*refp = -1;
		return pb;	/* CMA memory only goes to cma_alloc() */
	}
	for (pfn = pb; pfn < end; pfn++) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		uint64_t f = kmm_page_flags(p);
		int ref;

		if (f & (1ULL << KMM_PG_reserved)) {
			*refp = kmm_page_ref_count(p);
			return pfn;
		}
		if (f & (1ULL << KMM_PG_buddy)) {
			pfn += (1ULL << p->private) - 1;
			continue;
		}
		if (f & ((1ULL << KMM_PG_lru) | (1ULL << KMM_PG_isolated) | (1ULL << KMM_PG_tail)))
			continue;
		ref = kmm_page_ref_count(p);
		if (ref == 0)
			continue;	/* on a per-CPU list, or being freed */
		*refp = ref;
		return pfn;
	}
	return ~0ULL;
}

static void undo_pageblocks(struct kmm_zone *z, uint64_t from, uint64_t to)
{
	uint64_t pb;

	kmm_port_lock(&z->lock);
	for (pb = from; pb < to; pb += KMM_PAGEBLOCK_NR_PAGES)
		kmm__unisolate_pageblock_locked(z, pb);
	kmm_port_unlock(&z->lock);
}

int kmm_start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
				 enum kmm_pb_isolate_mode mode)
{
	struct kmm_zone *z = range_zone(start_pfn, end_pfn);
	uint64_t first, last, pb;
	int ret = 0;

	if (!z)
		return -KMM_EINVAL;
	first = KMM_ALIGN_DOWN(start_pfn, KMM_PAGEBLOCK_NR_PAGES);
	last = KMM_ALIGN_UP(end_pfn, KMM_PAGEBLOCK_NR_PAGES);
	kmm_port_lock(&z->lock);
	for (pb = first; pb < last; pb += KMM_PAGEBLOCK_NR_PAGES) {
		int ref = 0;
		uint64_t bad;

		if (kmm__pageblock_isolated(z, pb)) {
			kmm_pr_debug("page isolation: pageblock at pfn %#llx is isolated by someone else",
				    (unsigned long long)pb);
			set_error(pb, KMM_CONTIG_FAIL_ISOLATED, 0);
			ret = -KMM_EBUSY;
			break;
		}
		if (pb < z->zone_start_pfn || pb + KMM_PAGEBLOCK_NR_PAGES > kmm_zone_end_pfn(z)) {
			/* Not scanned: its pages past the zone may be past memory. */
			kmm_pr_debug("page isolation: pageblock at pfn %#llx is not wholly in zone %s",
				    (unsigned long long)pb, z->name);
			set_error(pb, KMM_CONTIG_FAIL_UNMOVABLE, 0);
			ret = -KMM_EBUSY;
			break;
		}
		bad = unmovable_pfn(z, pb, mode, &ref);
		if (bad != ~0ULL) {
			kmm_pr_debug("page isolation: pfn %#llx is unmovable (%s, refcount %d, flags %#llx)",
				    (unsigned long long)bad,
				    ref < 0 ? "CMA pageblock outside CMA allocation"
				    : kmm_page_test(kmm_pfn_to_page(bad), KMM_PG_reserved) ? "reserved"
				    : "allocated, not movable",
				    ref, (unsigned long long)(kmm_page_flags(kmm_pfn_to_page(bad)) &
							       0xffffffffULL));
			set_error(bad, KMM_CONTIG_FAIL_UNMOVABLE, ref);
			ret = -KMM_EBUSY;
			break;
		}
		ret = kmm__isolate_pageblock_locked(z, pb);
		if (ret) {	/* -EINVAL: the pageblock spans the zone's edge */
			kmm_pr_debug("page isolation: pageblock at pfn %#llx is not wholly in zone %s",
				    (unsigned long long)pb, z->name);
			set_error(pb, KMM_CONTIG_FAIL_UNMOVABLE, 0);
			ret = -KMM_EBUSY;
			break;
		}
	}
	kmm_port_unlock(&z->lock);
	if (ret) {
		undo_pageblocks(z, first, pb);
		return ret;
	}
	kmm_drain_all_pages(z);
	return 0;
}

void kmm_undo_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn)
{
	struct kmm_zone *z = range_zone(start_pfn, end_pfn);

	if (!z)
		return;
	undo_pageblocks(z, KMM_ALIGN_DOWN(start_pfn, KMM_PAGEBLOCK_NR_PAGES),
			KMM_ALIGN_UP(end_pfn, KMM_PAGEBLOCK_NR_PAGES));
}

int kmm_test_pages_isolated(unsigned long start_pfn, unsigned long end_pfn,
			    enum kmm_pb_isolate_mode mode)
{
	struct kmm_zone *z = range_zone(start_pfn, end_pfn);
	int ret;

	(void)mode;
	if (!z)
		return -KMM_EBUSY;
	kmm_port_lock(&z->lock);
	ret = kmm__test_pages_isolated_locked(z, start_pfn, end_pfn, NULL);
	kmm_port_unlock(&z->lock);
	return ret;
}

/* Isolate the movable pages of [start, end) from the LRU onto @list. */
static unsigned long collect_movable(unsigned long start, unsigned long end,
				     struct kmm_list_head *list)
{
	unsigned long pfn, n = 0;

	for (pfn = start; pfn < end; pfn++) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);

		if (kmm_page_test(p, KMM_PG_lru) && kmm_isolate_movable_page(p, list) == 0)
			n++;
	}
	return n;
}

/*
 * Order @list by user address (then mm): the range's pages are in PFN
 * order, which after a while has little to do with address order, and
 * migration moves runs of consecutive addresses at once (one demand map,
 * one host map per run).  Without memory for the keys, the list stays.
 */
static void sort_by_address(struct kmm_list_head *list, unsigned long n)
{
	struct kmm_page **pages;
	unsigned long *keys, i = 0, cnt;
	struct kmm_list_head *l;

	if (n < 2 || n >= (1UL << 24))
		return;
	pages = kmm_port_meta_alloc(n * sizeof(*pages));
	keys = kmm_port_meta_alloc(n * sizeof(*keys));
	if (pages && keys) {
		for (l = list->next; l != list && i < n; l = l->next, i++) {
			pages[i] = kmm_container_of(l, struct kmm_page, lru);
			keys[i] = (pages[i]->index << 24) | i;
		}
		cnt = i;
		kmm_sort_ulong(keys, cnt);
		kmm_list_init(list);
		for (i = 0; i < cnt; i++)
			kmm_list_add_tail(&pages[keys[i] & ((1UL << 24) - 1)]->lru, list);
	}
	if (pages)
		kmm_port_meta_free(pages, n * sizeof(*pages));
	if (keys)
		kmm_port_meta_free(keys, n * sizeof(*keys));
}

/* __alloc_contig_migrate_range(): 0, -EBUSY (pinned), -ENOMEM. */
static int migrate_range(unsigned long start, unsigned long end)
{
	struct kmm_list_head list;
	int tries, r = 0;

	kmm_list_init(&list);
	for (tries = 0; tries < CONTIG_MIGRATE_TRIES; tries++) {
		unsigned long n = collect_movable(start, end, &list);

		if (!n)
			return 0;
		sort_by_address(&list, n);
		r = kmm_migrate_pages(&list, NULL, NULL, 0, KMM_MIGRATE_SYNC,
				      KMM_MR_CONTIG_RANGE, NULL);
		if (r == 0)
			continue;	/* maybe more appeared: look again */
		if (!kmm_list_empty(&list)) {
			struct kmm_page *p = kmm_list_first_entry(&list, struct kmm_page, lru);

			set_error(kmm_page_to_pfn(p),
				  r == -KMM_ENOMEM ? KMM_CONTIG_FAIL_NOMEM : KMM_CONTIG_FAIL_PINNED,
				  kmm_page_ref_count(p) - 1);
		}
		kmm_putback_movable_pages(&list);
		return r == -KMM_ENOMEM ? -KMM_ENOMEM : -KMM_EBUSY;
	}
	return 0;
}


int kmm_alloc_contig_range(unsigned long start, unsigned long end, unsigned acr_flags,
			   kmm_gfp_t gfp)
{
	struct kmm_zone *z = range_zone(start, end);
	enum kmm_pb_isolate_mode mode = (acr_flags & KMM_ACR_FLAGS_CMA)
						? KMM_PB_ISOLATE_MODE_CMA_ALLOC
						: KMM_PB_ISOLATE_MODE_OTHER;
	uint64_t bad = ~0ULL;
	int ret;

	if (!z || (acr_flags & ~KMM_ACR_FLAGS_CMA)) {
		if (!(gfp & KMM___GFP_NOWARN))
			kmm_pr_warn("alloc_contig_range(%#lx, %#lx): %s", start, end,
				    !z ? "empty range, past memory or across zones" : "bad flags");
		return -KMM_EINVAL;
	}
	ret = kmm_start_isolate_page_range(start, end, mode);
	if (ret)
		goto fail;
	ret = migrate_range(start, end);
	if (ret)
		goto undo;
	kmm_drain_all_pages(z);	/* targets freed to pcp lists meanwhile are not ours, but
				 * pages of the range freed to them are */
	kmm_port_lock(&z->lock);
	ret = kmm__take_isolated_range_locked(z, start, end, &bad);
	kmm_port_unlock(&z->lock);
	if (ret) {
		struct kmm_page *p = kmm_pfn_to_page(bad);

		set_error(bad, kmm_page_test(p, KMM_PG_lru) || kmm_page_test(p, KMM_PG_isolated)
				       ? KMM_CONTIG_FAIL_RACE : KMM_CONTIG_FAIL_UNMOVABLE,
			  kmm_page_ref_count(p));
	}
undo:
	kmm_undo_isolate_page_range(start, end);
	if (ret)
		goto fail;
	if (kmm__want_init_on_alloc(gfp))	/* post_alloc_hook() of each page */
		kmm_memset(kmm_page_address(kmm_pfn_to_page(start)), 0,
			   (end - start) << KMM_PAGE_SHIFT);
	return 0;
fail:
	if (!(gfp & KMM___GFP_NOWARN)) {
		struct kmm_contig_error e = kmm_contig_last_error();

		kmm_pr_info("alloc_contig_range: [mem %#llx-%#llx] PFNs busy: pfn %#llx %s (refcount %d), ret %d",
			    (unsigned long long)start << KMM_PAGE_SHIFT,
			    ((unsigned long long)end << KMM_PAGE_SHIFT) - 1,
			    (unsigned long long)e.pfn,
			    e.reason >= 0 && e.reason < KMM_NR_CONTIG_FAIL ? kmm_contig_fail_names[e.reason]
									   : "?",
			    e.refcount, ret);
	}
	return ret;
}

int kmm_alloc_contig_range_mt(unsigned long start, unsigned long end, unsigned migratetype)
{
	if (migratetype != KMM_MIGRATE_MOVABLE && migratetype != KMM_MIGRATE_CMA) {
		kmm_pr_warn("alloc_contig_range(%#lx, %#lx): migratetype %u is neither MOVABLE nor CMA",
			    start, end, migratetype);
		return -KMM_EINVAL;
	}
	return kmm_alloc_contig_range(start, end,
				      migratetype == KMM_MIGRATE_CMA ? KMM_ACR_FLAGS_CMA
								     : KMM_ACR_FLAGS_NONE,
				      KMM_GFP_KERNEL);
}

void kmm_free_contig_range(unsigned long pfn, unsigned long nr_pages)
{
	unsigned long i;

	/* The whole range first: a range running past memory frees nothing. */
	if (nr_pages && (pfn + nr_pages < pfn || !kmm_pfn_valid(pfn + nr_pages - 1))) {
		kmm_pr_err("BUG: free_contig_range(%#lx, %lu): past memory", pfn, nr_pages);
		return;
	}
	for (i = 0; i < nr_pages; i++)
		kmm___free_pages(kmm_pfn_to_page(pfn + i), 0);
}

/* pfn_range_valid_contig(): might [start, start + n) be had? */
static bool range_looks_free(struct kmm_zone *z, uint64_t start, uint64_t n)
{
	uint64_t pfn;

	if (start < z->zone_start_pfn || start + n > kmm_zone_end_pfn(z))
		return false;
	for (pfn = start; pfn < start + n; pfn++) {
		struct kmm_page *p = kmm_pfn_to_page(pfn);
		uint64_t f = kmm_page_flags(p);

		if (f & (1ULL << KMM_PG_reserved))
			return false;
		if (f & ((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp) | (1ULL << KMM_PG_lru)))
			continue;
		if (kmm_page_ref_count(p))
			return false;
	}
	for (pfn = KMM_ALIGN_DOWN(start, KMM_PAGEBLOCK_NR_PAGES); pfn < start + n;
	     pfn += KMM_PAGEBLOCK_NR_PAGES)
		if (kmm__pageblock_mt(z, pfn) == KMM_MIGRATE_CMA ||
		    kmm__pageblock_isolated(z, pfn))
			return false;
	return true;
}

struct kmm_page *kmm_alloc_contig_pages(unsigned long nr_pages, kmm_gfp_t gfp, int nid,
					void *nodemask)
{
	unsigned long align;
	int zi;

	if (!kmm_machine.booted || !nr_pages || nodemask)
		return NULL;
	if (nid < 0)
		nid = kmm_numa_node_id();
	if ((unsigned)nid >= kmm_machine.nr_nodes)
		return NULL;
	align = 1UL << (63 - __builtin_clzl(nr_pages));
	if (align > KMM_MAX_ORDER_NR_PAGES)
		align = KMM_MAX_ORDER_NR_PAGES;
	for (zi = kmm_gfp_zone(gfp); zi >= 0; zi--) {
		struct kmm_zone *z = &kmm_NODE_DATA(nid)->node_zones[zi];
		uint64_t pfn;

		if (!kmm_zone_managed(z))
			continue;
		for (pfn = KMM_ALIGN_UP(z->zone_start_pfn, align);
		     pfn + nr_pages <= kmm_zone_end_pfn(z); pfn += align) {
			if (!range_looks_free(z, pfn, nr_pages))
				continue;
			if (!kmm_alloc_contig_range(pfn, pfn + nr_pages, KMM_ACR_FLAGS_NONE,
						    gfp | KMM___GFP_NOWARN))
				return kmm_pfn_to_page(pfn);
		}
	}
	if (!(gfp & KMM___GFP_NOWARN))
		kmm_pr_warn("alloc_contig_pages: no %lu contiguous pages on node %d", nr_pages, nid);
	return NULL;
}
