/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c - the read-only walks of include/kmm/snapshot.h.
 *
 * What is proven:
 *   - per zone, the walk agrees with the allocator: free pages outside
 *     isolated pageblocks == NR_FREE_PAGES, free blocks per order ==
 *     free_area[o].nr_free (buddyinfo), pcp pages == the pcp counts, and
 *     every pageblock record's pages add up; the per-page array agrees
 *     with the records; the machine-wide sum is kmm_nr_free_pages();
 *   - an allocated block shows as allocated page by page, and free again
 *     (free or pcp) after it is freed;
 *   - an isolated pageblock shows as Isolate (base type kept) with its
 *     free pages counted as isolated, and goes back after undo;
 *   - the pageblocks of the cma= area, and only they, show CMA;
 *   - vmalloc: a busy area followed by its guard page (with the caller and
 *     page count), vm_map_ram without a guard, a vfree'd but unpurged area
 *     as lazy, purged afterwards; the ranges are sorted and tile the space;
 *   - shadow mode (metadata only) gives the same agreement;
 *   - bad arguments are -EINVAL, a short buffer is never overrun and the
 *     full count is returned; and the validators stay clean throughout.
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/snapshot.h>

#define PG KMM_PAGE_SIZE
#define PB KMM_PAGEBLOCK_NR_PAGES

TestSuite(snapshot, .fini = kt_fini, .timeout = 120);

static void check(const char *what)
{
	kt_assert_valid(what);
	kt_assert_validator(kmm_vmalloc_validate(), "kmm_vmalloc_validate()", what);
	kt_assert_quiet(what);
}

/* One zone's snapshot, with buffers. */
struct zsnap {
	struct kmm_snap_zone zs;
	struct kmm_snap_pageblock *pbs;
	uint8_t *pages;
	long nr_pbs;
};

static void zsnap_take(struct zsnap *s, int nid, int zi)
{
	struct kmm_zone *z = kt_zone(nid, zi);
	size_t npg = z->spanned_pages, npb = npg / PB + 2;

	s->pbs = calloc(npb, sizeof(*s->pbs));
	s->pages = calloc(npg ? npg : 1, 1);
	cr_assert(s->pbs && s->pages);
	s->nr_pbs = kmm_snapshot_zone(nid, zi, &s->zs, s->pbs, npb, s->pages, npg);
	cr_assert_geq(s->nr_pbs, 0);
	cr_assert_leq((size_t)s->nr_pbs, npb);
}

static void zsnap_free(struct zsnap *s)
{
	free(s->pbs);
	free(s->pages);
}

/* The record of the pageblock holding @pfn. */
static struct kmm_snap_pageblock *zsnap_pb(struct zsnap *s, uint64_t pfn)
{
	for (long i = 0; i < s->nr_pbs; i++)
		if (pfn >= s->pbs[i].pfn && pfn < s->pbs[i].pfn + PB)
			return &s->pbs[i];
	cr_assert_fail("pfn %#llx in no pageblock record", (unsigned long long)pfn);
	return NULL;
}

/* Every invariant the walk promises, for one zone. */
static void zsnap_check(struct zsnap *s, const char *what)
{
	struct kmm_snap_zone *zs = &s->zs;
	unsigned long st[KMM_SNAP_NR_PAGE_STATES] = { 0 }, pb_free = 0, pb_pcp = 0,
		      pb_alloc = 0, pb_res = 0, pb_unk = 0, pb_blocks = 0,
		      pb_iso_free = 0;
	uint64_t pfn;

	cr_assert_eq(zs->walk_free_pages - zs->walk_isolated_free_pages, zs->nr_free_pages,
		     "%s: zone %s: walk %lu free (%lu isolated), NR_FREE_PAGES %lu", what,
		     zs->name, zs->walk_free_pages, zs->walk_isolated_free_pages,
		     zs->nr_free_pages);
	for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
		cr_assert_eq(zs->walk_free_blocks[o], zs->nr_free[o],
			     "%s: zone %s order %d: walk %lu blocks, nr_free %lu", what,
			     zs->name, o, zs->walk_free_blocks[o], zs->nr_free[o]);
	cr_assert_eq(zs->walk_pcp_pages, zs->pcp_pages, "%s: pcp", what);
	cr_assert_eq(zs->walk_unknown_pages, 0, "%s: unknown pages", what);
	cr_assert_eq(zs->walk_free_pages + zs->walk_pcp_pages + zs->walk_allocated_pages +
			     zs->walk_reserved_pages,
		     zs->end_pfn - zs->start_pfn, "%s: pages do not add up", what);
	cr_assert_eq((unsigned long)s->nr_pbs, zs->nr_pageblocks);

	for (long i = 0; i < s->nr_pbs; i++) {
		struct kmm_snap_pageblock *r = &s->pbs[i];
		unsigned long by_order = 0;
		int largest = -1;

		cr_assert_eq(r->pfn % PB, 0);
		cr_assert_eq(r->nr_free + r->nr_pcp + r->nr_allocated + r->nr_reserved +
				     r->nr_unknown,
			     r->nr_pages, "%s: pageblock %#llx does not add up", what,
			     (unsigned long long)r->pfn);
		for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
			by_order += r->free_pages_order[o];
			if (r->free_pages_order[o])
				largest = o;
		}
		cr_assert_eq(by_order, r->nr_free);
		cr_assert_eq(largest, r->largest_free_order);
		cr_assert_eq(r->isolated, r->migratetype == KMM_MIGRATE_ISOLATE);
		cr_assert_eq(r->migratetype,
			     kmm_get_pfnblock_migratetype(r->pfn > zs->start_pfn ? r->pfn
										  : zs->start_pfn));
		pb_free += r->nr_free;
		pb_pcp += r->nr_pcp;
		pb_alloc += r->nr_allocated;
		pb_res += r->nr_reserved;
		pb_unk += r->nr_unknown;
		pb_blocks += r->nr_free_blocks;
		if (r->isolated)
			pb_iso_free += r->nr_free;
	}
	cr_assert_eq(pb_free, zs->walk_free_pages);
	cr_assert_eq(pb_iso_free, zs->walk_isolated_free_pages);
	cr_assert_eq(pb_pcp, zs->walk_pcp_pages);
	cr_assert_eq(pb_alloc, zs->walk_allocated_pages);
	cr_assert_eq(pb_res, zs->walk_reserved_pages);
	cr_assert_eq(pb_unk, 0);
	{
		unsigned long heads = 0;

		for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
			heads += zs->walk_free_blocks[o];
		cr_assert_eq(pb_blocks, heads);
	}
	for (pfn = zs->start_pfn; pfn < zs->end_pfn; pfn++)
		st[KMM_SNAP_PAGE_STATE(s->pages[pfn - zs->start_pfn])]++;
	cr_assert_eq(st[KMM_SNAP_PAGE_FREE], zs->walk_free_pages);
	cr_assert_eq(st[KMM_SNAP_PAGE_PCP], zs->walk_pcp_pages);
	cr_assert_eq(st[KMM_SNAP_PAGE_ALLOCATED], zs->walk_allocated_pages);
	cr_assert_eq(st[KMM_SNAP_PAGE_RESERVED], zs->walk_reserved_pages);
}

/* Snapshot every zone; check each; the sum of free pages. */
static void check_all_zones(const char *what)
{
	unsigned long total = 0;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct zsnap s;

			zsnap_take(&s, (int)nid, zi);
			cr_assert_eq(s.zs.nr_free_pages,
				     (unsigned long)kmm_zone_page_state(kt_zone((int)nid, zi),
									KMM_NR_FREE_PAGES));
			if (kmm_zone_is_populated(kt_zone((int)nid, zi)))
				zsnap_check(&s, what);
			else
				cr_assert_eq(s.nr_pbs, 0);
			total += s.zs.nr_free_pages;
			zsnap_free(&s);
		}
	cr_assert_eq(total, kmm_nr_free_pages(), "%s: zones sum to %lu, machine %llu", what,
		     total, (unsigned long long)kmm_nr_free_pages());
}

/* The zone holding @pfn. */
static void pfn_zone(uint64_t pfn, int *nid, int *zi)
{
	struct kmm_page *p = kmm_pfn_to_page(pfn);

	*nid = kmm_page_nid(p);
	*zi = kmm_page_zonenum(p);
}

/* ---- physical memory ----------------------------------------------------------- */

Test(snapshot, counts_match_allocator)
{
	kt_boot("mem=128M numa=2 cma=16M");
	check_all_zones("boot");
	check("boot");
}

Test(snapshot, allocated_block_shows)
{
	struct kmm_page *p;
	uint64_t pfn;
	struct zsnap s;
	int nid, zi;

	kt_boot("mem=64M");
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 3);
	cr_assert_not_null(p);
	pfn = kmm_page_to_pfn(p);
	pfn_zone(pfn, &nid, &zi);
	zsnap_take(&s, nid, zi);
	zsnap_check(&s, "allocated");
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(KMM_SNAP_PAGE_STATE(s.pages[pfn + i - s.zs.start_pfn]),
			     KMM_SNAP_PAGE_ALLOCATED, "page %llu of the block",
			     (unsigned long long)i);
	cr_assert_geq(zsnap_pb(&s, pfn)->nr_allocated, 8);
	cr_assert_eq(zsnap_pb(&s, pfn)->migratetype, KMM_MIGRATE_UNMOVABLE);
	zsnap_free(&s);
	check("allocated");

	kmm___free_pages(p, 3);
	zsnap_take(&s, nid, zi);
	zsnap_check(&s, "freed");
	for (uint64_t i = 0; i < 8; i++) {
		unsigned b = s.pages[pfn + i - s.zs.start_pfn];

		cr_assert(KMM_SNAP_PAGE_STATE(b) == KMM_SNAP_PAGE_FREE ||
			  KMM_SNAP_PAGE_STATE(b) == KMM_SNAP_PAGE_PCP);
		cr_assert_geq(KMM_SNAP_PAGE_ORDER(b), 3, "freed page in an order-%u block",
			      KMM_SNAP_PAGE_ORDER(b));
	}
	zsnap_free(&s);
	kmm_drain_all_pages(NULL);
	check_all_zones("drained");
	check("freed");
}

Test(snapshot, isolated_pageblock_shows)
{
	struct kmm_page *p;
	uint64_t pfn, pb;
	struct zsnap s;
	int nid, zi;

	kt_boot("mem=64M");
	/* A movable pageblock: where a movable order-9 block comes from. */
	p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE, KMM_PAGEBLOCK_ORDER);
	cr_assert_not_null(p);
	pfn = kmm_page_to_pfn(p);
	kmm___free_pages(p, KMM_PAGEBLOCK_ORDER);
	kmm_drain_all_pages(NULL);
	pb = pfn & ~(PB - 1);
	pfn_zone(pb, &nid, &zi);

	cr_assert_eq(kmm_start_isolate_page_range(pb, pb + PB, KMM_PB_ISOLATE_MODE_OTHER), 0);
	zsnap_take(&s, nid, zi);
	zsnap_check(&s, "isolated");
	cr_assert(zsnap_pb(&s, pb)->isolated);
	cr_assert_eq(zsnap_pb(&s, pb)->migratetype, KMM_MIGRATE_ISOLATE);
	cr_assert_eq(zsnap_pb(&s, pb)->base_migratetype, KMM_MIGRATE_MOVABLE);
	cr_assert_eq(zsnap_pb(&s, pb)->nr_free, PB);
	cr_assert_geq(s.zs.walk_isolated_free_pages, PB);
	cr_assert_geq(s.zs.nr_free_mt[KMM_PAGEBLOCK_ORDER][KMM_MIGRATE_ISOLATE] +
			      s.zs.nr_free_mt[KMM_MAX_PAGE_ORDER][KMM_MIGRATE_ISOLATE],
		      1);
	zsnap_free(&s);
	check("isolated");

	kmm_undo_isolate_page_range(pb, pb + PB);
	zsnap_take(&s, nid, zi);
	zsnap_check(&s, "unisolated");
	cr_assert_not(zsnap_pb(&s, pb)->isolated);
	cr_assert_eq(zsnap_pb(&s, pb)->migratetype, KMM_MIGRATE_MOVABLE);
	cr_assert_eq(s.zs.walk_isolated_free_pages, 0);
	zsnap_free(&s);
	check("unisolated");
}

Test(snapshot, cma_pageblocks_show_cma)
{
	struct kmm_cma_stats st;
	unsigned long cma_pbs = 0;
	uint64_t base, end;

	kt_boot("mem=64M cma=8M");
	cr_assert_eq(kmm_cma_area_count(), 1);
	kmm_cma_get_stats(kmm_cma_area(0), &st);
	base = st.base_pfn;
	end = base + st.count;
	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct zsnap s;

			if (!kmm_zone_is_populated(kt_zone((int)nid, zi)))
				continue;
			zsnap_take(&s, (int)nid, zi);
			zsnap_check(&s, "cma");
			for (long i = 0; i < s.nr_pbs; i++) {
				bool in = s.pbs[i].pfn >= base && s.pbs[i].pfn < end;

				cr_assert_eq(s.pbs[i].migratetype == KMM_MIGRATE_CMA, in,
					     "pageblock %#llx: type %u, in the area %d",
					     (unsigned long long)s.pbs[i].pfn,
					     s.pbs[i].migratetype, in);
				cma_pbs += in;
			}
			zsnap_free(&s);
		}
	cr_assert_eq(cma_pbs, st.count / PB);
	check("cma");
}

Test(snapshot, bad_arguments)
{
	struct kmm_snap_zone zs;
	struct kmm_snap_pageblock pbs[3];
	struct kmm_snap_va va[2];
	uint8_t pages[16];
	long n;
	int zi;

	cr_assert_eq(kmm_snapshot_zone(0, 0, &zs, NULL, 0, NULL, 0), -KMM_EINVAL, "not booted");
	cr_assert_eq(kmm_snapshot_vmalloc(NULL, 0), -KMM_EINVAL, "not booted");
	kt_boot("mem=64M");
	cr_assert_eq(kmm_snapshot_zone(-1, 0, &zs, NULL, 0, NULL, 0), -KMM_EINVAL);
	cr_assert_eq(kmm_snapshot_zone(1, 0, &zs, NULL, 0, NULL, 0), -KMM_EINVAL);
	cr_assert_eq(kmm_snapshot_zone(0, KMM_MAX_NR_ZONES, &zs, NULL, 0, NULL, 0), -KMM_EINVAL);
	cr_assert_eq(kmm_snapshot_zone(0, -1, &zs, NULL, 0, NULL, 0), -KMM_EINVAL);
	cr_assert_eq(kmm_snapshot_zone(0, 0, NULL, NULL, 0, NULL, 0), -KMM_EINVAL);

	/* Short buffers: the full count back, nothing written past them. */
	for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++)
		if (kt_zone(0, zi)->spanned_pages > 2 * PB)
			break;
	cr_assert_lt(zi, KMM_MAX_NR_ZONES);
	memset(pbs, 0xa5, sizeof(pbs));
	memset(pages, 0xa5, sizeof(pages));
	n = kmm_snapshot_zone(0, zi, &zs, pbs, 2, pages, 8);
	cr_assert_eq(n, (long)zs.nr_pageblocks);
	cr_assert_gt(n, 2);
	cr_assert_eq(pbs[1].pfn, pbs[0].pfn + PB);
	for (size_t i = 0; i < sizeof(pbs[2]); i++)
		cr_assert_eq(((uint8_t *)&pbs[2])[i], 0xa5, "record 2 written");
	for (size_t i = 8; i < sizeof(pages); i++)
		cr_assert_eq(pages[i], 0xa5, "page byte %zu written", i);
	memset(va, 0xa5, sizeof(va));
	n = kmm_snapshot_vmalloc(va, 1);
	cr_assert_geq(n, 1);
	for (size_t i = 0; i < sizeof(va[1]); i++)
		cr_assert_eq(((uint8_t *)&va[1])[i], 0xa5, "range 1 written");
	cr_assert_eq(kmm_snapshot_vmalloc(NULL, 0), n, "a count-only call");
	check("bad arguments");
}

/* ---- the vmalloc space --------------------------------------------------------- */

struct vsnap {
	struct kmm_snap_va *v;
	long n;
};

static void vsnap_take(struct vsnap *s)
{
	long n = kmm_snapshot_vmalloc(NULL, 0);

	cr_assert_geq(n, 1);
	s->v = calloc((size_t)n + 16, sizeof(*s->v));
	s->n = kmm_snapshot_vmalloc(s->v, (size_t)n + 16);
	cr_assert_eq(s->n, n, "nothing changed between the calls");
	for (long i = 1; i < s->n; i++) {
		cr_assert_eq(s->v[i].start, s->v[i - 1].end, "range %ld [%#lx, %#lx) after %#lx",
			     i, s->v[i].start, s->v[i].end, s->v[i - 1].end);
		cr_assert_lt(s->v[i].start, s->v[i].end);
	}
	cr_assert_leq(s->v[0].start, kmm_vmalloc_start());
	cr_assert_geq(s->v[s->n - 1].end, kmm_vmalloc_end());
}

/* The range starting at @addr, or NULL. */
static struct kmm_snap_va *vsnap_at(struct vsnap *s, unsigned long addr)
{
	for (long i = 0; i < s->n; i++)
		if (s->v[i].start == addr)
			return &s->v[i];
	return NULL;
}

static void vmalloc_states(void)
{
	struct kmm_page *pages[4];
	struct kmm_snap_va *r, *g;
	struct vsnap s;
	unsigned long a, m;
	void *p, *q;

	kmm_vmap_set_auto_purge(false);
	p = kmm_vmalloc(3 * PG);
	cr_assert_not_null(p);
	a = (unsigned long)p;
	vsnap_take(&s);
	r = vsnap_at(&s, a);
	cr_assert_not_null(r);
	cr_assert_eq(r->state, KMM_SNAP_VA_BUSY);
	cr_assert_eq(r->end, a + 3 * PG);
	cr_assert(r->has_vm);
	cr_assert(r->vm_flags & KMM_VM_ALLOC);
	cr_assert_eq(r->nr_pages, 3);
	cr_assert_not_null(r->caller);
	g = vsnap_at(&s, a + 3 * PG);
	cr_assert_not_null(g);
	cr_assert_eq(g->state, KMM_SNAP_VA_GUARD);
	cr_assert_eq(g->end, a + 4 * PG);
	/* Every busy area with a vm_struct is followed by its guard. */
	for (long i = 0; i < s.n; i++)
		if (s.v[i].state == KMM_SNAP_VA_BUSY && s.v[i].has_vm &&
		    !(s.v[i].vm_flags & KMM_VM_NO_GUARD)) {
			cr_assert_lt(i + 1, s.n);
			cr_assert_eq(s.v[i + 1].state, KMM_SNAP_VA_GUARD);
			cr_assert_eq(s.v[i + 1].end - s.v[i + 1].start, PG);
		}
	free(s.v);
	check("vmalloc busy");

	/* vm_map_ram: no guard page. */
	for (int i = 0; i < 4; i++) {
		pages[i] = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
		cr_assert_not_null(pages[i]);
	}
	q = kmm_vm_map_ram(pages, 4, -1);
	cr_assert_not_null(q);
	vsnap_take(&s);
	for (long i = 0; i < s.n; i++)
		if (s.v[i].start <= (unsigned long)q && (unsigned long)q < s.v[i].end) {
			cr_assert_eq(s.v[i].state, KMM_SNAP_VA_BUSY);
			cr_assert_not(s.v[i].has_vm);
			cr_assert(s.v[i].va_flags & KMM_VMAP_RAM);
			cr_assert(i + 1 == s.n || s.v[i + 1].state != KMM_SNAP_VA_GUARD);
		}
	free(s.v);
	kmm_vm_unmap_ram(q, 4);
	for (int i = 0; i < 4; i++)
		kmm___free_pages(pages[i], 0);

	/* vfree'd, not purged: lazy over the whole area, guard included. */
	kmm_vfree(p);
	vsnap_take(&s);
	r = vsnap_at(&s, a);
	cr_assert_not_null(r);
	cr_assert_eq(r->state, KMM_SNAP_VA_LAZY, "state %d", r->state);
	cr_assert_eq(r->end, a + 4 * PG);
	free(s.v);
	check("vfree lazy");

	kmm_vm_unmap_aliases();
	vsnap_take(&s);
	for (long i = 0; i < s.n; i++) {
		cr_assert_neq(s.v[i].state, KMM_SNAP_VA_LAZY, "a lazy range after the purge");
		if (s.v[i].start <= a && a < s.v[i].end)
			cr_assert(s.v[i].state == KMM_SNAP_VA_FREE ||
				  s.v[i].state == KMM_SNAP_VA_POOL);
	}
	m = 0;
	for (long i = 0; i < s.n; i++)
		m += s.v[i].state == KMM_SNAP_VA_FREE;
	cr_assert_geq(m, 1);
	free(s.v);
	kmm_vmap_set_auto_purge(true);
	check("purged");
}

Test(snapshot, vmalloc_ranges)
{
	kt_boot("mem=64M");
	vmalloc_states();
}

/* ---- shadow mode ---------------------------------------------------------------- */

Test(snapshot, shadow_mode)
{
	struct kmm_page *p;
	struct zsnap s;
	uint64_t pfn;
	int nid, zi;

	kt_boot("mem=256M cma=16M kmm.mode=shadow");
	cr_assert_eq(kmm_machine.params.mode, KMM_MODE_SHADOW);
	check_all_zones("shadow boot");
	p = kmm_alloc_pages(KMM_GFP_KERNEL, 5);
	cr_assert_not_null(p);
	pfn = kmm_page_to_pfn(p);
	pfn_zone(pfn, &nid, &zi);
	zsnap_take(&s, nid, zi);
	zsnap_check(&s, "shadow alloc");
	cr_assert_eq(KMM_SNAP_PAGE_STATE(s.pages[pfn - s.zs.start_pfn]), KMM_SNAP_PAGE_ALLOCATED);
	zsnap_free(&s);
	kmm___free_pages(p, 5);
	vmalloc_states();
}
