/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - read-only walks of physical memory and of the vmalloc space
 * (include/kmm/snapshot.h), for maps and layout checks.
 *
 * Physical memory
 * ---------------
 * kmm_snapshot_zone() copies a zone's counters and walks its struct pages
 * from zone_start_pfn to the zone end the way kmm_page_alloc_validate()
 * does: a page with PG_buddy heads a free block of 2^private pages, one
 * with PG_pcp a per-CPU block of 2^private pages, a PG_reserved page is one
 * page, a page with a reference that is not a compound tail heads an
 * allocated block of 2^alloc_order pages; anything else is one "unknown"
 * page (the validator would reject it).  Each block's pages are added to
 * the pageblock records they fall in (an order-10 block covers two
 * pageblocks), so a record's free + pcp + allocated + reserved + unknown
 * is its nr_pages.  A pageblock's type is its flag byte: the isolate bit
 * wins (type ISOLATE, base type kept), as pagetypeinfo counts it.
 *
 * Invariants the walk exposes (tests/test_snapshot.c checks them):
 *   - walk_free_pages - walk_isolated_free_pages == NR_FREE_PAGES (free
 *     blocks in isolated pageblocks are on the Isolate list, which
 *     NR_FREE_PAGES leaves out);
 *   - walk_free_blocks[o] == free_area[o].nr_free (what buddyinfo prints);
 *   - walk_pcp_pages == the sum of pcp->count.
 *
 * The vmalloc space
 * -----------------
 * kmm_snapshot_vmalloc() collects the ranges kmm__vmap_for_each_area()
 * reports (busy, lazy, pooled, free), splits each guarded busy area into
 * the area and its guard page, and sorts the result by address (a Shell
 * sort: the core has no libc).
 *
 * Lock order
 * ----------
 *   zone walk:    every pcp->lock of the zone, CPU order
 *                   zone->lock
 *                 (the validator's order; one zone at a time)
 *   vmalloc walk: vmap_purge_lock
 *                   one of: a node's busy, lazy or pool lock,
 *                           free_vmap_area_lock
 * The two walks never nest.  Neither allocates: every buffer is the
 * caller's, so nothing is taken under these locks but the copy.
 */
#include <kmm/lib.h>
#include <kmm/page_alloc.h>
#include <kmm/snapshot.h>
#include <kmm/vmalloc.h>

const char *const kmm_snap_va_state_names[KMM_SNAP_NR_VA_STATES] = {
	[KMM_SNAP_VA_BUSY] = "busy",
	[KMM_SNAP_VA_GUARD] = "guard",
	[KMM_SNAP_VA_LAZY] = "lazy",
	[KMM_SNAP_VA_POOL] = "pool",
	[KMM_SNAP_VA_FREE] = "free",
};

const char *const kmm_snap_page_state_names[KMM_SNAP_NR_PAGE_STATES] = {
	[KMM_SNAP_PAGE_FREE] = "free",
	[KMM_SNAP_PAGE_PCP] = "pcp",
	[KMM_SNAP_PAGE_ALLOCATED] = "allocated",
	[KMM_SNAP_PAGE_RESERVED] = "reserved",
	[KMM_SNAP_PAGE_UNKNOWN] = "unknown",
};

/* ---- physical memory ----------------------------------------------------- */

struct zone_walk {
	struct kmm_zone *z;
	struct kmm_snap_zone *zs;
	struct kmm_snap_pageblock *pbs;
	size_t max_pbs;
	uint8_t *pages;
	size_t max_pages;
	uint64_t pb_base;	/* zone start rounded down to a pageblock */
};

/*
 * Account pages [pfn, pfn + n) as @state (@order for free and pcp blocks)
 * in the page array and the pageblock records they touch.
 */
static void walk_account(struct zone_walk *w, uint64_t pfn, uint64_t n,
			 unsigned state, unsigned order)
{
	uint64_t end = pfn + n, p = pfn;

	if (w->pages) {
		uint8_t b = (uint8_t)(state | (order << 4));
		uint64_t i;

		for (i = pfn; i < end; i++) {
			uint64_t idx = i - w->zs->start_pfn;

			if (idx >= w->max_pages)
				break;
			w->pages[idx] = b;
		}
	}
	while (p < end) {
		uint64_t pbi = (p - w->pb_base) >> KMM_PAGEBLOCK_ORDER;
		uint64_t pb_end = w->pb_base + ((pbi + 1) << KMM_PAGEBLOCK_ORDER);
		uint64_t c = (end < pb_end ? end : pb_end) - p;
		struct kmm_snap_pageblock *r;

		if (pbi >= w->max_pbs || !w->pbs) {
			p += c;
			continue;
		}
		r = &w->pbs[pbi];
		switch (state) {
		case KMM_SNAP_PAGE_FREE:
			r->nr_free += (uint32_t)c;
			r->free_pages_order[order] += (uint32_t)c;
			if ((int)order > r->largest_free_order)
				r->largest_free_order = (int8_t)order;
			if (p == pfn)
				r->nr_free_blocks++;
			break;
		case KMM_SNAP_PAGE_PCP:
			r->nr_pcp += (uint32_t)c;
			break;
		case KMM_SNAP_PAGE_ALLOCATED:
			r->nr_allocated += (uint32_t)c;
			break;
		case KMM_SNAP_PAGE_RESERVED:
			r->nr_reserved += (uint32_t)c;
			break;
		default:
			r->nr_unknown += (uint32_t)c;
			break;
		}
		p += c;
	}
}

/* The type of the pageblock holding @pfn.  zone->lock held. */
static void pageblock_type(const struct zone_walk *w, uint64_t pfn,
			   struct kmm_snap_pageblock *r)
{
	uint8_t b = __atomic_load_n(
		&w->z->pageblock_flags[(pfn - w->pb_base) >> KMM_PAGEBLOCK_ORDER],
		__ATOMIC_RELAXED);

	r->base_migratetype = b & KMM_PB_MIGRATETYPE_MASK;
	r->isolated = (b & KMM_PB_ISOLATE) != 0;
	r->migratetype = r->isolated ? KMM_MIGRATE_ISOLATE : r->base_migratetype;
}

/* Walk the zone's struct pages.  Every lock of the zone held. */
static void walk_zone_pages(struct zone_walk *w)
{
	struct kmm_snap_zone *zs = w->zs;
	uint64_t pfn = zs->start_pfn, end = zs->end_pfn;

	while (pfn < end) {
		const struct kmm_page *p = kmm_pfn_to_page(pfn);
		uint64_t n = 1;
		unsigned state, order = 0;

		if (kmm_page_test(p, KMM_PG_buddy)) {
			order = (unsigned)p->private;
			state = KMM_SNAP_PAGE_FREE;
		} else if (kmm_page_test(p, KMM_PG_pcp)) {
			order = (unsigned)p->private;
			state = KMM_SNAP_PAGE_PCP;
		} else if (kmm_page_test(p, KMM_PG_reserved)) {
			state = KMM_SNAP_PAGE_RESERVED;
		} else if (kmm_page_ref_count(p) > 0 && !kmm_page_test(p, KMM_PG_tail)) {
			order = p->alloc_order;
			state = KMM_SNAP_PAGE_ALLOCATED;
		} else {
			state = KMM_SNAP_PAGE_UNKNOWN;
		}
		if (order > KMM_MAX_PAGE_ORDER) {	/* corrupt: one page */
			order = 0;
			state = KMM_SNAP_PAGE_UNKNOWN;
		}
		if (state != KMM_SNAP_PAGE_UNKNOWN && state != KMM_SNAP_PAGE_RESERVED)
			n = 1ULL << order;
		if (pfn + n > end)
			n = end - pfn;
		/* The page array keeps orders of free and pcp blocks only. */
		walk_account(w, pfn, n, state,
			     state == KMM_SNAP_PAGE_ALLOCATED ? 0 : order);
		switch (state) {
		case KMM_SNAP_PAGE_FREE: {
			struct kmm_snap_pageblock t;

			zs->walk_free_blocks[(unsigned)p->private]++;
			zs->walk_free_pages += n;
			pageblock_type(w, pfn, &t);
			if (t.isolated)
				zs->walk_isolated_free_pages += n;
			break;
		}
		case KMM_SNAP_PAGE_PCP:
			zs->walk_pcp_pages += n;
			break;
		case KMM_SNAP_PAGE_ALLOCATED:
			zs->walk_allocated_pages += n;
			break;
		case KMM_SNAP_PAGE_RESERVED:
			zs->walk_reserved_pages += n;
			break;
		default:
			zs->walk_unknown_pages += n;
			break;
		}
		pfn += n;
	}
}

long kmm_snapshot_zone(int nid, int zi, struct kmm_snap_zone *zs,
		       struct kmm_snap_pageblock *pbs, size_t max_pbs,
		       uint8_t *pages, size_t max_pages)
{
	struct zone_walk w;
	struct kmm_zone *z;
	uint64_t nr_pbs, i;
	unsigned cpu;
	int o, mt;

	if (!kmm_machine.booted || !zs || nid < 0 ||
	    (unsigned)nid >= kmm_machine.nr_nodes || nid >= KMM_MAX_NUMNODES ||
	    zi < 0 || zi >= KMM_MAX_NR_ZONES || !kmm_machine.node_data[nid])
		return -KMM_EINVAL;
	z = &kmm_machine.node_data[nid]->node_zones[zi];
	kmm_memset(zs, 0, sizeof(*zs));
	zs->nid = nid;
	zs->zone = zi;
	zs->name = kmm_zone_names[zi];
	zs->start_pfn = z->zone_start_pfn;
	zs->end_pfn = kmm_zone_end_pfn(z);
	zs->present_pages = z->present_pages;
	zs->managed_pages = z->managed_pages;
	zs->cma_pages = z->cma_pages;
	if (!kmm_zone_is_populated(z) || !z->pageblock_flags || !z->spanned_pages)
		return 0;

	w.z = z;
	w.zs = zs;
	w.pbs = pbs;
	w.max_pbs = pbs ? max_pbs : 0;
	w.pages = pages;
	w.max_pages = pages ? max_pages : 0;
	w.pb_base = KMM_ALIGN_DOWN(z->zone_start_pfn, (uint64_t)KMM_PAGEBLOCK_NR_PAGES);
	nr_pbs = (zs->end_pfn - w.pb_base + KMM_PAGEBLOCK_NR_PAGES - 1) >>
		 KMM_PAGEBLOCK_ORDER;
	zs->nr_pageblocks = (unsigned long)nr_pbs;

	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
		kmm_port_spin_lock(&z->per_cpu_pageset[cpu].lock);
	kmm_port_lock(&z->lock);

	zs->nr_free_pages = (unsigned long)kmm_zone_page_state(z, KMM_NR_FREE_PAGES);
	zs->nr_free_cma_pages =
		(unsigned long)kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES);
	for (o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
		zs->nr_free[o] = z->free_area[o].nr_free;
		for (mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
			zs->nr_free_mt[o][mt] = z->free_area[o].nr_free_mt[mt];
	}
	for (cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
		zs->pcp_pages += (unsigned long)z->per_cpu_pageset[cpu].count;

	for (i = 0; i < nr_pbs && i < w.max_pbs; i++) {
		struct kmm_snap_pageblock *r = &pbs[i];
		uint64_t s = w.pb_base + (i << KMM_PAGEBLOCK_ORDER);
		uint64_t e = s + KMM_PAGEBLOCK_NR_PAGES;

		kmm_memset(r, 0, sizeof(*r));
		r->pfn = s;
		if (s < zs->start_pfn)
			s = zs->start_pfn;
		if (e > zs->end_pfn)
			e = zs->end_pfn;
		r->nr_pages = (uint32_t)(e - s);
		r->largest_free_order = -1;
		pageblock_type(&w, r->pfn, r);
	}
	walk_zone_pages(&w);

	kmm_port_unlock(&z->lock);
	for (cpu = kmm_machine.nr_cpus; cpu-- > 0;)
		kmm_port_spin_unlock(&z->per_cpu_pageset[cpu].lock);
	return (long)nr_pbs;
}

/* ---- the vmalloc space --------------------------------------------------- */

struct va_walk {
	struct kmm_snap_va *out;
	size_t max, n;
};

static void va_put(struct va_walk *w, const struct kmm_snap_va *r)
{
	if (w->n < w->max)
		w->out[w->n] = *r;
	w->n++;
}

/* kmm__vmap_for_each_area() callback: one list lock held; copy only. */
static void va_collect(void *arg, enum kmm_vmap_where where, unsigned node,
		       const struct kmm_vmap_area *va)
{
	struct va_walk *w = arg;
	struct kmm_snap_va r;

	kmm_memset(&r, 0, sizeof(r));
	r.start = va->va_start;
	r.end = va->va_end;
	r.node = node;
	switch (where) {
	case KMM_VMAP_WHERE_BUSY: {
		const struct kmm_vm_struct *vm = va->vm;

		r.state = KMM_SNAP_VA_BUSY;
		if (!vm) {
			r.va_flags = va->flags & KMM_VMAP_FLAGS_MASK;
			va_put(w, &r);
			return;
		}
		r.has_vm = true;
		r.vm_flags = __atomic_load_n(&vm->flags, __ATOMIC_ACQUIRE);
		r.caller = vm->caller;
		r.nr_pages = vm->nr_pages;
		if (!(r.vm_flags & KMM_VM_NO_GUARD) && r.end - r.start > KMM_PAGE_SIZE) {
			r.end -= KMM_PAGE_SIZE;
			va_put(w, &r);
			r.start = r.end;
			r.end = va->va_end;
			r.state = KMM_SNAP_VA_GUARD;
		}
		va_put(w, &r);
		return;
	}
	case KMM_VMAP_WHERE_LAZY:
		r.state = KMM_SNAP_VA_LAZY;
		break;
	case KMM_VMAP_WHERE_POOL:
		r.state = KMM_SNAP_VA_POOL;
		break;
	default:
		r.state = KMM_SNAP_VA_FREE;
		break;
	}
	va_put(w, &r);
}

static void sort_va(struct kmm_snap_va *v, size_t n)
{
	size_t gap, i, j;

	for (gap = n / 2; gap; gap /= 2)
		for (i = gap; i < n; i++) {
			struct kmm_snap_va t = v[i];

			for (j = i; j >= gap && v[j - gap].start > t.start; j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
}

long kmm_snapshot_vmalloc(struct kmm_snap_va *out, size_t max)
{
	struct va_walk w = { .out = out, .max = out ? max : 0, .n = 0 };

	if (!kmm_machine.booted)
		return -KMM_EINVAL;
	kmm__vmap_for_each_area(va_collect, &w);
	if (w.n <= w.max)
		sort_va(out, w.n);
	return (long)w.n;
}
