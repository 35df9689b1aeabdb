/* SPDX-License-Identifier: MIT */
/*
 * replay_pages.c - the page-allocator half of `kmm replay`: apply a real
 * kernel's mm_page_alloc / mm_page_free / mm_page_free_batched events to
 * a shadow machine laid out like the captured one, and measure how often
 * kmm hands out the page the kernel did and how far its final free lists
 * are from the kernel's buddyinfo.after.
 *
 *   1. boot a shadow machine whose zones span the PFNs of zoneinfo.before
 *      (x86-64 boundaries: DMA below 16 MiB, DMA32 below 4 GiB), with the
 *      capture's CPU count;
 *   2. pre-scan the trace: a block whose first event is a free was
 *      allocated before tracing (held at its order, so its free frees
 *      exactly it); a page whose first event is an allocation was free;
 *   3. lay out the captured kernel's state: each CPU's per-CPU lists get
 *      zoneinfo's count of the first order-0 pages that CPU allocates, the
 *      first at the head, with zoneinfo's "high", and their pageblocks the
 *      type those allocations asked for; free blocks are chosen, order by
 *      order and type by type, to match buddyinfo.before and
 *      pagetypeinfo.before and to cover as many of the pages the trace
 *      allocates first as they can (the first used at the head of its
 *      list); the other pageblocks take the type of their first
 *      allocations within pagetypeinfo's counts; everything else is held
 *      as the kernel's memory, and what lies beyond the zone's managed
 *      count is taken out of managed (adjust_managed_page_count, as offline
 *      or ballooned memory); watermarks come from the zones' min;
 *      mm_page_free_batched repeats the mm_page_free of the same page
 *      (free_unref_folios() reports both) and is not applied twice;
 *      vmalloc's alloc_pages_bulk() has no events (see EV_VALLOC below);
 *   4. for each event on the CPU of its [00N] column: allocate with the
 *      event's gfp flags and order and compare the PFN; free what the
 *      kernel freed.  After a different PFN, by default (resync) kmm takes
 *      the kernel's block (off the buddy, off a per-CPU list after a
 *      drain, or from the pages held as allocated before tracing when the
 *      layout guessed wrong) and frees its own pick; --no-resync keeps
 *      kmm's pick and frees it when the kernel frees its page;
 *   5. compare each zone's free blocks per order with buddyinfo.after:
 *      the distance is the sum over orders of |kmm - kernel| blocks, and
 *      the same weighted by pages; the baseline is the distance of an
 *      allocator that did nothing (buddyinfo.before against .after).
 * Frees of pages kmm does not hold are counted, not fatal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <kmm/kmm.h>
#include <kmm/page_alloc.h>
#include <kmm/gfp.h>

#include "replay.h"
#include "progress.h"

#define NORD KMM_NR_PAGE_ORDERS
#define NTYPES 3		/* Unmovable, Movable, Reclaimable */
#define MAXZ 8

enum { EV_ALLOC, EV_FREE, EV_FREE_BATCHED, EV_VALLOC, EV_VFREE };

/*
 * vmalloc's pages come from alloc_pages_bulk(), which has no mm_page_alloc
 * event; vfree() frees them right after free_vmap_area_noflush with
 * mm_page_free.  So an alloc_vmap_area event is taken as the bulk
 * allocation of the pages that area's free later shows (learnt in the
 * pre-scan; for areas the trace never frees, size / PAGE_SIZE - 1 when the
 * freed areas of that size all had that many), and the frees after a
 * free_vmap_area_noflush on the same CPU free them.
 */

struct pev {
	uint64_t pfn;
	kmm_gfp_t gfp;
	uint8_t kind, order;
	int8_t mt;
	uint16_t cpu;
};

struct kzone {
	char name[16];
	int node;
	uint64_t start, spanned, present, managed;
	unsigned long wmin, wlow, whigh;
	long pcp_count[64], pcp_high[64];
	unsigned long buddy_before[NORD], buddy_after[NORD];
	bool have_after;
	unsigned long free_mt[NTYPES][NORD];	/* pagetypeinfo */
	bool have_types;
	unsigned long blocks[NTYPES];
	int kz;					/* kmm zone index, -1 */
	uint64_t rs, re;			/* managed region [rs, re) */
};

struct fblock {
	uint64_t pfn;
	uint32_t key;		/* 0: never used; else UINT32_MAX - first use */
	uint8_t order;
	int8_t zone;
};

struct amap {
	uint64_t *k, *v;	/* k: key + 1, 0 empty */
	size_t cap, n;
};

/* held[]: what the replay holds at each PFN. */
enum { H_NONE, H_REST, H_BEFORE, H_TRACE, H_BULK };

struct pstate {
	struct pev *ev;
	size_t nev, cap;
	unsigned long skipped;
	struct kzone z[MAXZ];
	int nz;
	unsigned ncpu;
	uint64_t end_pfn;
	/* per PFN */
	int8_t *hord;		/* order of the held block at its head, else -1 */
	uint8_t *hkind;
	uint8_t *first;		/* 0 none, 1 first event alloc, 2 first event free */
	uint32_t *first_idx;	/* event index of the first allocation */
	uint8_t *role;		/* layout: 0 rest, 1 free block, 2 pcp, 3 before */
	uint8_t *last_free;	/* the page's last event was a free */
	bool verbose;
	struct fblock *fb;	/* the free blocks the layout chose */
	size_t nfb;
	uint32_t *bulk_n;	/* per event: pages of an EV_VALLOC's bulk */
	/* live bulk pools: va -> pages (kmm's picks) */
	struct pool { uint64_t va; uint64_t *pfn; uint32_t n, next; } *pools;
	size_t npools;
	long pending[64];		/* the pool a CPU's vfree is freeing, -1 */
	uint32_t pending_left[64];
	struct amap alias;	/* kernel PFN -> kmm's block (pfn << 8 | order) */
	struct amap areas;	/* va -> index in pools */
};

struct pstats {
	unsigned long allocs, exact, different, failed_kmm, frees, frees_unknown,
		frees_split, frees_compound_inside, resynced, resync_drain,
		resync_pcp, bulk_areas, bulk_pages, bulk_exact, bulk_short, untraced_taken, batched_dup,
		resync_from_before, resync_failed, aliases;
	unsigned long order_allocs[NORD], order_exact[NORD];
	unsigned long where[4], other_zone;	/* different: kernel's PFN in kmm */
};

/* ---- input ------------------------------------------------------------- */

static struct kzone *zone_by_name(struct pstate *s, int node, const char *name,
				  bool create)
{
	int i;

	for (i = 0; i < s->nz; i++)
		if (s->z[i].node == node && !strcmp(s->z[i].name, name))
			return &s->z[i];
	if (!create || s->nz == MAXZ)
		return NULL;
	memset(&s->z[s->nz], 0, sizeof(s->z[0]));
	snprintf(s->z[s->nz].name, sizeof(s->z[0].name), "%s", name);
	s->z[s->nz].node = node;
	s->z[s->nz].kz = -1;
	return &s->z[s->nz++];
}

static int load_zoneinfo(struct pstate *s, const char *dir)
{
	gzFile f = replay_open_gz(dir, "zoneinfo.before.gz");
	char line[512], name[32];
	struct kzone *z = NULL;
	int node, cpu = -1;
	unsigned long v;

	if (!f)
		return -1;
	while (gzgets(f, line, sizeof(line))) {
		if (sscanf(line, "Node %d, zone %31s", &node, name) == 2) {
			z = zone_by_name(s, node, name, true);
			cpu = -1;
			continue;
		}
		if (!z)
			continue;
		if (sscanf(line, " spanned %lu", &v) == 1)
			z->spanned = v;
		else if (sscanf(line, " present %lu", &v) == 1)
			z->present = v;
		else if (sscanf(line, " managed %lu", &v) == 1)
			z->managed = v;
		else if (sscanf(line, " min %lu", &v) == 1)
			z->wmin = v;
		else if (sscanf(line, " low %lu", &v) == 1)
			z->wlow = v;
		else if (sscanf(line, " high %lu", &v) == 1)
			z->whigh = v;
		else if (sscanf(line, " start_pfn: %lu", &v) == 1)
			z->start = v;
		else if (sscanf(line, " cpu: %d", &cpu) == 1)
			;
		else if (cpu >= 0 && cpu < 64 && sscanf(line, " count: %lu", &v) == 1)
			z->pcp_count[cpu] = (long)v;
		else if (cpu >= 0 && cpu < 64 && sscanf(line, " high: %lu", &v) == 1)
			z->pcp_high[cpu] = (long)v;
	}
	gzclose(f);
	return s->nz ? 0 : -1;
}

static int load_buddyinfo(struct pstate *s, const char *dir, const char *file, bool after)
{
	gzFile f = replay_open_gz(dir, file);
	char line[512], name[32];
	int node, n = 0;

	if (!f)
		return -1;
	while (gzgets(f, line, sizeof(line))) {
		struct kzone *z;
		char *p;
		int o;

		if (sscanf(line, "Node %d, zone %31s", &node, name) != 2)
			continue;
		z = zone_by_name(s, node, name, false);
		if (!z)
			continue;
		p = strstr(line, name) + strlen(name);
		for (o = 0; o < NORD; o++) {
			unsigned long c = strtoul(p, &p, 10);

			if (after)
				z->buddy_after[o] = c;
			else
				z->buddy_before[o] = c;
		}
		if (after)
			z->have_after = true;
		n++;
	}
	gzclose(f);
	return n ? 0 : -1;
}

static int type_index(const char *t)
{
	if (!strcmp(t, "Unmovable"))
		return KMM_MIGRATE_UNMOVABLE;
	if (!strcmp(t, "Movable"))
		return KMM_MIGRATE_MOVABLE;
	if (!strcmp(t, "Reclaimable"))
		return KMM_MIGRATE_RECLAIMABLE;
	return -1;
}

static void load_pagetypeinfo(struct pstate *s, const char *dir)
{
	gzFile f = replay_open_gz(dir, "pagetypeinfo.before.gz");
	char line[512], name[32], type[32];
	int node, cols[8], ncols = 0;

	if (!f)
		return;
	while (gzgets(f, line, sizeof(line))) {
		struct kzone *z;
		char *p;
		int o, t;

		if (!strncmp(line, "Number of blocks type", 21)) {
			char *tok = strtok(line + 21, " \t\n");

			for (ncols = 0; tok && ncols < 8; tok = strtok(NULL, " \t\n"))
				cols[ncols++] = type_index(tok);
			continue;
		}
		if (sscanf(line, "Node %d, zone %31[^,], type %31s", &node, name, type) == 3) {
			z = zone_by_name(s, node, name, false);
			t = type_index(type);
			if (!z || t < 0)
				continue;
			p = strstr(line, type) + strlen(type);
			for (o = 0; o < NORD; o++)
				z->free_mt[t][o] = strtoul(p, &p, 10);
			z->have_types = true;
			continue;
		}
		if (ncols && sscanf(line, "Node %d, zone %31s", &node, name) == 2) {
			z = zone_by_name(s, node, name, false);
			if (!z)
				continue;
			p = strstr(line, name) + strlen(name);
			for (o = 0; o < ncols; o++) {
				unsigned long c = strtoul(p, &p, 10);

				if (cols[o] >= 0)
					z->blocks[cols[o]] = c;
			}
		}
	}
	gzclose(f);
}

static int add_event(struct pstate *s, const struct pev *e)
{
	if (s->nev == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 65536;
		struct pev *n = realloc(s->ev, nc * sizeof(*n));

		if (!n)
			return -1;
		s->ev = n;
		s->cap = nc;
	}
	s->ev[s->nev++] = *e;
	return 0;
}

static const char *field(const char *ev, const char *key)
{
	const char *p = strstr(ev, key);

	return p ? p + strlen(key) : NULL;
}

/* Parse the mm_page_* events of the trace; other lines are left alone. */
static int load_trace(struct pstate *s, const char *path)
{
	gzFile f = gzopen(path, "r");
	static char line[4096];

	if (!f)
		return -1;
	while (gzgets(f, line, sizeof(line))) {
		struct pev e = { 0 };
		const char *ev, *p;
		char *b;
		int cpu;

		ev = strstr(line, ": mm_page_");
		if (!ev && (ev = strstr(line, ": alloc_vmap_area:"))) {
			p = field(ev, "va_start: ");
			b = strchr(line, '[');
			if (!p || !b || sscanf(b + 1, "%d", &cpu) != 1 ||
			    !field(ev, "size=") || strstr(ev, "failed=1"))
				continue;
			e.kind = EV_VALLOC;
			e.cpu = (uint16_t)cpu;
			e.pfn = strtoull(p, NULL, 10);
			e.gfp = strtoull(field(ev, "size="), NULL, 10);
			if (add_event(s, &e))
				goto nomem;
			continue;
		}
		if (!ev && (ev = strstr(line, ": free_vmap_area_noflush:"))) {
			p = field(ev, "va_start=");
			b = strchr(line, '[');
			if (!p || !b || sscanf(b + 1, "%d", &cpu) != 1)
				continue;
			e.kind = EV_VFREE;
			e.cpu = (uint16_t)cpu;
			e.pfn = strtoull(p, NULL, 16);
			if (add_event(s, &e))
				goto nomem;
			continue;
		}
		if (!ev)
			continue;
		b = strchr(line, '[');
		if (!b || b > ev || sscanf(b + 1, "%d", &cpu) != 1) {
			s->skipped++;
			continue;
		}
		e.cpu = (uint16_t)cpu;
		ev += 2;
		if (!strncmp(ev, "mm_page_alloc:", 14))
			e.kind = EV_ALLOC;
		else if (!strncmp(ev, "mm_page_free_batched:", 21))
			e.kind = EV_FREE_BATCHED;
		else if (!strncmp(ev, "mm_page_free:", 13))
			e.kind = EV_FREE;
		else
			continue;	/* mm_page_alloc_zone_locked, pcpu_drain, ... */
		p = field(ev, "pfn=");
		if (!p) {
			s->skipped++;
			continue;
		}
		e.pfn = strtoull(p, NULL, 16);
		p = field(ev, "order=");
		e.order = p ? (uint8_t)atoi(p) : 0;
		if (e.order > KMM_MAX_PAGE_ORDER) {
			s->skipped++;
			continue;
		}
		if (e.kind == EV_ALLOC) {
			char g[512];
			size_t n;

			p = field(ev, "migratetype=");
			e.mt = p ? (int8_t)atoi(p) : 0;
			p = field(ev, "gfp_flags=");
			if (!p) {
				s->skipped++;
				continue;
			}
			n = strcspn(p, " \n");
			if (n >= sizeof(g))
				n = sizeof(g) - 1;
			memcpy(g, p, n);
			g[n] = 0;
			if (kmm_parse_gfp(g, &e.gfp)) {
				s->skipped++;
				continue;
			}
		}
		if (add_event(s, &e))
			goto nomem;
	}
	gzclose(f);
	return 0;
nomem:
	gzclose(f);
	return -1;
}

/* ---- PFN/VA maps (open addressing, linear probing) ---------------------- */

static size_t amap_slot(const struct amap *m, uint64_t k)
{
	size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);

	while (m->k[i] && m->k[i] != k + 1)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void amap_put(struct amap *m, uint64_t k, uint64_t v)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct amap o = *m;
		size_t j;

		m->cap = o.cap ? o.cap * 2 : 1024;
		m->k = calloc(m->cap, sizeof(*m->k));
		m->v = calloc(m->cap, sizeof(*m->v));
		if (!m->k || !m->v)
			abort();
		m->n = 0;
		for (j = 0; j < o.cap; j++)
			if (o.k[j])
				amap_put(m, o.k[j] - 1, o.v[j]);
		free(o.k);
		free(o.v);
	}
	i = amap_slot(m, k);
	if (!m->k[i])
		m->n++;
	m->k[i] = k + 1;
	m->v[i] = v;
}

static bool amap_take(struct amap *m, uint64_t k, uint64_t *v)
{
	size_t i, j;

	if (!m->cap)
		return false;
	i = amap_slot(m, k);
	if (!m->k[i])
		return false;
	*v = m->v[i];
	m->k[i] = 0;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->k[j]; j = (j + 1) & (m->cap - 1)) {
		uint64_t kk = m->k[j] - 1, vv = m->v[j];

		m->k[j] = 0;
		m->n--;
		amap_put(m, kk, vv);
	}
	return true;
}

static void amap_free(struct amap *m)
{
	free(m->k);
	free(m->v);
}

/* ---- holding blocks ------------------------------------------------------ */

static struct kmm_page *pg(uint64_t pfn)
{
	return kmm_pfn_to_page(pfn);
}

static void hold(struct pstate *s, uint64_t pfn, unsigned order, int kind)
{
	s->hord[pfn] = (int8_t)order;
	s->hkind[pfn] = (uint8_t)kind;
}

/* Take every free page of [pfn, pfn + 2^order) in the largest blocks. */
static void take_all(struct pstate *s, uint64_t pfn, unsigned order, int kind)
{
	int r;

	if (pfn >= s->end_pfn)
		return;
	r = kmm_take_block_off_buddy(pg(pfn), order);
	if (!r) {
		hold(s, pfn, order, kind);
		return;
	}
	if (!order)
		return;
	take_all(s, pfn, order - 1, kind);
	take_all(s, pfn + (1ULL << (order - 1)), order - 1, kind);
}

/* The held block covering @pfn: its head, or UINT64_MAX. */
static uint64_t held_head(const struct pstate *s, uint64_t pfn)
{
	unsigned o;

	for (o = 0; o <= KMM_MAX_PAGE_ORDER; o++) {
		uint64_t h = pfn & ~((1ULL << o) - 1);

		if (s->hord[h] >= (int)o)
			return h;
	}
	return UINT64_MAX;
}

/* Split a held non-compound block into order-0 held pages. */
static bool split_held(struct pstate *s, uint64_t h)
{
	unsigned o = (unsigned)s->hord[h];
	uint64_t i;

	if (!o)
		return true;
	if (kmm_page_test(pg(h), KMM_PG_head))
		return false;
	kmm_split_page(pg(h), o);
	for (i = 0; i < (1ULL << o); i++)
		hold(s, h + i, 0, s->hkind[h]);
	return true;
}

static void release(struct pstate *s, uint64_t h)
{
	kmm___free_pages(pg(h), (unsigned)s->hord[h]);
	s->hord[h] = -1;
	s->hkind[h] = H_NONE;
}

/* ---- laying out the kernel's state -------------------------------------- */

struct cand {
	uint64_t pfn;
	long score;
	uint32_t first;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

struct layout {
	int8_t *pbt;		/* pageblock type in the region, -1 unassigned */
	unsigned long nb[NTYPES];
	unsigned long short_blocks;
};

static bool usable(const struct pstate *s, const struct kzone *z, uint64_t p, unsigned o)
{
	uint64_t i, n = 1ULL << o;

	if (p < z->rs || p + n > z->re)
		return false;
	for (i = 0; i < n; i++)
		if (s->role[p + i] != 0 || s->hkind[p + i] == H_NONE ||
		    s->first[p + i] == 2)
			return false;
	return true;
}

static bool buddy_free(const struct pstate *s, uint64_t p, unsigned o)
{
	uint64_t b = p ^ (1ULL << o), i, n = 1ULL << o;

	if (o >= KMM_MAX_PAGE_ORDER)
		return false;
	for (i = 0; i < n; i++)
		if (s->role[b + i] != 1)
			return false;
	return true;
}

/* The first pageblock boundary at or below the region (pageblock indexes). */
static uint64_t pb_base(const struct kzone *z)
{
	return z->rs & ~((uint64_t)KMM_PAGEBLOCK_NR_PAGES - 1);
}

/* Can the pageblock(s) of block (p, o) be (or become) of type t? */
static bool type_fits(const struct kzone *z, struct layout *L, uint64_t p, unsigned o,
		      int t, bool assign)
{
	uint64_t first = (p - pb_base(z)) / KMM_PAGEBLOCK_NR_PAGES;
	uint64_t n = o >= KMM_PAGEBLOCK_ORDER ? 1ULL << (o - KMM_PAGEBLOCK_ORDER) : 1, i;
	unsigned long need = 0;

	for (i = 0; i < n; i++) {
		int cur = L->pbt[first + i];

		if (cur >= 0 && cur != t)
			return false;
		if (cur < 0)
			need++;
	}
	if (z->have_types && L->nb[t] + need > z->blocks[t])
		return false;
	if (assign)
		for (i = 0; i < n; i++)
			if (L->pbt[first + i] < 0) {
				L->pbt[first + i] = (int8_t)t;
				L->nb[t]++;
			}
	return true;
}

static void choose_free_blocks(struct pstate *s, struct kzone *z, struct layout *L)
{
	uint64_t span = z->re - z->rs;
	struct cand *c = malloc(sizeof(*c) * (span + 1));
	int o, t;

	if (!c)
		abort();
	for (o = KMM_MAX_PAGE_ORDER; o >= 0; o--) {
		for (t = 0; t < NTYPES; t++) {
			unsigned long want = z->have_types ? z->free_mt[t][o] :
					     (t == KMM_MIGRATE_MOVABLE ? z->buddy_before[o] : 0);
			uint64_t p, n = 1ULL << o, i;
			size_t nc = 0, k;

			if (!want)
				continue;
			for (p = KMM_ALIGN_UP(z->rs, n); p + n <= z->re; p += n) {
				long score = 0;
				uint32_t first = UINT32_MAX;

				if (!usable(s, z, p, (unsigned)o) || !type_fits(z, L, p, (unsigned)o, t, false))
					continue;
				for (i = 0; i < n; i++)
					if (s->first[p + i] == 1) {
						score += s->ev[s->first_idx[p + i]].mt == t ? 2 : 1;
						if (s->first_idx[p + i] < first)
							first = s->first_idx[p + i];
					}
				c[nc++] = (struct cand){ p, score, first };
			}
			qsort(c, nc, sizeof(*c), cand_cmp);
			for (k = 0; k < nc && want; k++) {
				p = c[k].pfn;
				if (!usable(s, z, p, (unsigned)o) || buddy_free(s, p, (unsigned)o) ||
				    !type_fits(z, L, p, (unsigned)o, t, true))
					continue;
				for (i = 0; i < n; i++)
					s->role[p + i] = 1;
				want--;
			}
			L->short_blocks += want;
		}
	}
	free(c);
}

/* Does the trace or the layout use any page of the pageblock at @p0? */
static bool pageblock_touched(const struct pstate *s, const struct kzone *z, uint64_t p0)
{
	uint64_t i;

	for (i = 0; i < KMM_PAGEBLOCK_NR_PAGES && p0 + i < z->re; i++)
		if (s->role[p0 + i] || s->first[p0 + i])
			return true;
	return false;
}

/*
 * Pageblocks no free block decided: first those the trace uses, by the
 * migratetype of their first allocations; then the untouched ones, lowest
 * first, fill what pagetypeinfo still counts (Unmovable first: memory the
 * kernel allocated long before tracing is mostly its own), and the rest
 * stay Movable, as boot left them, outside what the kernel managed.
 */
static void assign_pageblocks(struct pstate *s, struct kzone *z, struct layout *L)
{
	uint64_t nb = (z->re - pb_base(z) + KMM_PAGEBLOCK_NR_PAGES - 1) / KMM_PAGEBLOCK_NR_PAGES, b;

	for (b = 0; b < nb; b++) {
		unsigned long votes[NTYPES] = { 0 };
		uint64_t p0 = pb_base(z) + b * KMM_PAGEBLOCK_NR_PAGES, i;
		int t, best = -1;

		if (L->pbt[b] >= 0 || !pageblock_touched(s, z, p0))
			continue;
		for (i = 0; i < KMM_PAGEBLOCK_NR_PAGES && p0 + i < z->re; i++) {
			uint64_t p = p0 + i;

			if (s->first[p] == 1) {
				int mt = s->ev[s->first_idx[p]].mt;

				if (mt >= 0 && mt < NTYPES)
					votes[mt]++;
			}
		}
		for (t = 0; t < NTYPES; t++) {
			bool room = !z->have_types || L->nb[t] < z->blocks[t];

			if (room && (best < 0 || votes[t] > votes[best]))
				best = t;
		}
		if (best < 0)
			best = KMM_MIGRATE_MOVABLE;
		L->pbt[b] = (int8_t)best;
		L->nb[best]++;
	}
	for (b = 0; b < nb; b++) {
		static const int order[] = { KMM_MIGRATE_UNMOVABLE, KMM_MIGRATE_RECLAIMABLE,
					     KMM_MIGRATE_MOVABLE };
		unsigned k;

		if (L->pbt[b] >= 0)
			continue;
		if (!z->have_types) {
			L->pbt[b] = KMM_MIGRATE_MOVABLE;
			L->nb[KMM_MIGRATE_MOVABLE]++;
			continue;
		}
		for (k = 0; k < 3; k++)
			if (L->nb[order[k]] < z->blocks[order[k]]) {
				L->pbt[b] = (int8_t)order[k];
				L->nb[order[k]]++;
				break;
			}
	}
}

struct pcp_pick {
	uint64_t pfn;
	uint32_t first;
	uint8_t order;
};

static int fblock_cmp(const void *a, const void *b)
{
	const struct fblock *x = a, *y = b;

	/* key 0 (never used) first, then ascending key = latest use first */
	return x->key < y->key ? -1 : x->key > y->key;
}

static int pick_cmp_desc(const void *a, const void *b)
{
	const struct pcp_pick *x = a, *y = b;

	return x->first > y->first ? -1 : x->first < y->first;
}

struct layout_report {
	unsigned long pcp_wanted, pcp_laid, before_held, before_lost, rest_held,
		unmanaged, free_blocks_short, kmm_internal;
	long pb_delta;
};

static unsigned long zone_buddy(struct kmm_zone *kz, int o)
{
	return __atomic_load_n(&kz->free_area[o].nr_free, __ATOMIC_RELAXED);
}

static struct kmm_zone *kmm_zone_of(const struct kzone *z)
{
	return &kmm_machine.node_data[z->node]->node_zones[z->kz];
}

/* What kmm itself holds after boot: every free page is taken in the largest blocks, its pages marked as "free after boot" (hkind), and given back later. */
static void probe_free_memory(struct pstate *s)
{
	uint64_t pfn;

	/* 1. What kmm itself holds after boot: take everything, note, give back. */
	for (pfn = 0; pfn < s->end_pfn; pfn += 1ULL << KMM_MAX_PAGE_ORDER)
		take_all(s, pfn, KMM_MAX_PAGE_ORDER, H_REST);
	for (pfn = 0; pfn < s->end_pfn; pfn++)
		if (s->hord[pfn] >= 0) {
			unsigned o = (unsigned)s->hord[pfn];
			uint64_t j;

			for (j = 1; j < (1ULL << o); j++)
				s->hkind[pfn + j] = H_REST;	/* marks "was free" */
		}
	/* hkind != H_NONE now means "free after boot"; keep it as a mask. */
}

/* The pre-scan: the first event of each page, and how many pages each vmalloc area took with alloc_pages_bulk() (learnt from its vfree). */
static int prescan(struct pstate *s)
{
	size_t i;

	/* 2. The pre-scan: first event per page; vmalloc bulk allocations. */
	{
		uint8_t *last = calloc(s->end_pfn, 1);	/* 1 allocated, 2 freed */
		struct amap live = { 0 };		/* va -> EV_VALLOC index + 1 */
		long pend[64];				/* EV_VALLOC index, -1 none */
		struct { uint64_t size; unsigned long freed, whole; } sz[256];
		size_t nsz = 0, k;

		if (!last)
			return -ENOMEM;
		for (k = 0; k < 64; k++)
			pend[k] = -1;
		for (i = 0; i < s->nev; i++) {
			const struct pev *e = &s->ev[i];
			uint64_t n = 1ULL << e->order, j, v;
			unsigned c = e->cpu % 64;

			if (e->kind == EV_VALLOC) {
				amap_put(&live, e->pfn, i + 1);
				pend[c] = -1;
				continue;
			}
			if (e->kind == EV_VFREE) {
				pend[c] = amap_take(&live, e->pfn, &v) ? (long)(v - 1) : -1;
				if (pend[c] >= 0) {
					uint64_t size = s->ev[pend[c]].gfp;

					for (k = 0; k < nsz && sz[k].size != size; k++)
						;
					if (k == nsz && nsz < 256)
						sz[nsz++].size = size, sz[k].freed = sz[k].whole = 0;
					if (k < nsz)
						sz[k].freed++;
				}
				continue;
			}
			if (e->pfn + n > s->end_pfn)
				continue;
			/* free_unref_folios() reports each page twice: mm_page_free
			 * from free_pages_prepare(), then mm_page_free_batched. */
			if (e->kind == EV_FREE_BATCHED && last[e->pfn] == 2)
				continue;
			if (e->kind != EV_ALLOC && !e->order && pend[c] >= 0 && last[e->pfn] != 1) {
				/* A page of the area this CPU's vfree frees. */
				s->bulk_n[pend[c]]++;
				if (!s->first[e->pfn]) {
					s->first[e->pfn] = 1;	/* free at the start */
					s->first_idx[e->pfn] = (uint32_t)pend[c];
				}
				last[e->pfn] = 2;
				continue;
			}
			pend[c] = -1;
			for (j = 0; j < n; j++) {
				if (!s->first[e->pfn + j]) {
					s->first[e->pfn + j] = e->kind == EV_ALLOC ? 1 : 2;
					s->first_idx[e->pfn + j] = (uint32_t)i;
				}
				last[e->pfn + j] = e->kind == EV_ALLOC ? 1 : 2;
			}
		}
		/* Sizes whose freed areas all showed size / PAGE_SIZE - 1 pages. */
		for (i = 0; i < s->nev; i++)
			if (s->ev[i].kind == EV_VALLOC && s->bulk_n[i]) {
				for (k = 0; k < nsz && sz[k].size != s->ev[i].gfp; k++)
					;
				if (k < nsz && s->bulk_n[i] == s->ev[i].gfp / KMM_PAGE_SIZE - 1)
					sz[k].whole++;
			}
		for (k = 0; k < live.cap; k++) {
			size_t m;

			if (!live.k[k])
				continue;
			i = live.v[k] - 1;	/* allocated, never freed in the trace */
			for (m = 0; m < nsz && sz[m].size != s->ev[i].gfp; m++)
				;
			if (m < nsz && sz[m].freed && sz[m].whole == sz[m].freed)
				s->bulk_n[i] = (uint32_t)(s->ev[i].gfp / KMM_PAGE_SIZE - 1);
		}
		amap_free(&live);
		free(last);
	}
	return 0;
}

/* Per-CPU lists: the first order-0 pages each CPU allocates come off its lists. */
static void choose_pcp_pages(struct pstate *s, struct layout_report *rep)
{
	size_t i;
	int zi;

	/* 3a. Per-CPU lists first: the first order-0 pages each CPU allocates
	 * come off its lists (LIFO), up to zoneinfo's count. */
	for (zi = 0; zi < s->nz; zi++) {
		struct kzone *z = &s->z[zi];
		unsigned cpu;

		if (z->kz < 0)
			continue;
		for (cpu = 0; cpu < s->ncpu && cpu < 64; cpu++) {
			long want = z->pcp_count[cpu];

			rep->pcp_wanted += (unsigned long)want;
			for (i = 0; i < s->nev && want > 0; i++) {
				const struct pev *e = &s->ev[i];
				uint64_t n = 1ULL << e->order, j;
				bool ok = true;

				if (e->kind != EV_ALLOC || e->cpu != cpu || e->order ||
				    e->pfn < z->rs || e->pfn + n > z->re)
					continue;
				for (j = 0; j < n && ok; j++)
					ok = s->first_idx[e->pfn + j] == i && s->first[e->pfn + j] == 1 &&
					     s->role[e->pfn + j] == 0 && s->hkind[e->pfn + j] != H_NONE;
				if (!ok || (e->pfn & (n - 1)))
					continue;
				for (j = 0; j < n; j++)
					s->role[e->pfn + j] = 2;
				want -= (long)n;
			}
		}
	}
}

/* Free blocks and pageblock types, zone by zone, and the list of chosen blocks. */
static int choose_free_layout(struct pstate *s, struct layout_report *rep)
{
	int zi;

	/* 3. Choose free blocks and pageblock types, zone by zone. */
	for (zi = 0; zi < s->nz; zi++) {
		struct kzone *z = &s->z[zi];
		struct layout L = { 0 };
		uint64_t nb;

		if (z->kz < 0 || z->re <= z->rs)
			continue;
		nb = (z->re - pb_base(z) + KMM_PAGEBLOCK_NR_PAGES - 1) / KMM_PAGEBLOCK_NR_PAGES;
		L.pbt = malloc(nb);
		if (!L.pbt)
			return -ENOMEM;
		memset(L.pbt, -1, nb);
		/* A per-CPU page sits on the list of its pageblock's type, and
		 * the kernel took it for its first allocation's type. */
		for (uint64_t b = 0; b < nb; b++) {
			unsigned long votes[NTYPES] = { 0 };
			uint64_t p0 = pb_base(z) + b * KMM_PAGEBLOCK_NR_PAGES, j;
			int t, best = -1;

			for (j = 0; j < KMM_PAGEBLOCK_NR_PAGES && p0 + j < z->re; j++)
				if (s->role[p0 + j] == 2) {
					int mt = s->ev[s->first_idx[p0 + j]].mt;

					if (mt >= 0 && mt < NTYPES)
						votes[mt]++;
				}
			for (t = 0; t < NTYPES; t++)
				if (votes[t] && (!z->have_types || L.nb[t] < z->blocks[t]) &&
				    (best < 0 || votes[t] > votes[best]))
					best = t;
			if (best >= 0) {
				L.pbt[b] = (int8_t)best;
				L.nb[best]++;
			}
		}
		choose_free_blocks(s, z, &L);
		assign_pageblocks(s, z, &L);
		rep->free_blocks_short += L.short_blocks;
		/* Pageblock types now, while the zone is wholly free of roles. */
		for (uint64_t b = 0; b < nb; b++) {
			uint64_t p = pb_base(z) + b * KMM_PAGEBLOCK_NR_PAGES;

			if (p + KMM_PAGEBLOCK_NR_PAGES <= kmm_zone_end_pfn(kmm_zone_of(z)) &&
			    p >= kmm_zone_of(z)->zone_start_pfn && L.pbt[b] >= 0)
				kmm_set_pageblock_migratetype(p, L.pbt[b]);
		}
		for (int t = 0; t < NTYPES; t++)
			rep->pb_delta += labs((long)L.nb[t] - (long)z->blocks[t]);
		free(L.pbt);
	}

	/* The chosen free blocks, as (pfn, order). */
	s->fb = malloc(sizeof(*s->fb) * (s->end_pfn / 2 + 1));
	if (!s->fb)
		return -ENOMEM;
	for (zi = 0; zi < s->nz; zi++) {
		struct kzone *z = &s->z[zi];
		uint64_t p;

		if (z->kz < 0)
			continue;
		for (p = z->rs; p < z->re;) {
			uint32_t first = UINT32_MAX;
			unsigned o = 0;
			uint64_t q;

			if (s->role[p] != 1) {
				p++;
				continue;
			}
			/* The largest aligned all-free run at p: the layout never
			 * leaves two free buddies, so this is the chosen block. */
			while (o < KMM_MAX_PAGE_ORDER && !(p & ((2ULL << o) - 1))) {
				uint64_t n = 2ULL << o, j;
				bool all = p + n <= z->re;

				for (j = 0; j < n && all; j++)
					all = s->role[p + j] == 1;
				if (!all)
					break;
				o++;
			}
			for (q = p; q < p + (1ULL << o); q++)
				if (s->first[q] == 1 && s->first_idx[q] < first)
					first = s->first_idx[q];
			s->fb[s->nfb++] = (struct fblock){ p, first == UINT32_MAX ? 0 : UINT32_MAX - first,
							   (uint8_t)o, (int8_t)zi };
			p += 1ULL << o;
		}
	}
	return 0;
}

/* Blocks allocated before tracing: the first event of each is its free. */
static void mark_before_blocks(struct pstate *s)
{
	size_t i;

	/* 5. Blocks allocated before tracing (first event a free). */
	for (i = 0; i < s->nev; i++) {
		const struct pev *e = &s->ev[i];
		uint64_t n = 1ULL << e->order, j;
		bool ok = !(e->pfn & (n - 1)) && e->pfn + n <= s->end_pfn;

		if ((e->kind != EV_FREE && e->kind != EV_FREE_BATCHED) || !ok)
			continue;
		for (j = 0; j < n && ok; j++)
			ok = s->first[e->pfn + j] == 2 && s->first_idx[e->pfn + j] == i &&
			     s->role[e->pfn + j] == 0;
		if (!ok)
			continue;
		for (j = 0; j < n; j++)
			s->role[e->pfn + j] = 3;
	}
}

/* Give everything back, then take it again in the chosen shapes. */
static void retake_in_shape(struct pstate *s, struct layout_report *rep)
{
	uint64_t pfn;
	size_t i;

	/* 6. Give everything back, then take it again in the chosen shapes. */
	for (pfn = 0; pfn < s->end_pfn; pfn++)
		if (s->hord[pfn] >= 0)
			release(s, pfn);
	kmm_drain_all_pages(NULL);
	for (pfn = 0; pfn < s->end_pfn; pfn++)
		s->hkind[pfn] = H_NONE;
	for (i = 0; i < s->nev; i++) {
		const struct pev *e = &s->ev[i];

		if ((e->kind == EV_FREE || e->kind == EV_FREE_BATCHED) &&
		    e->pfn < s->end_pfn && s->role[e->pfn] == 3 &&
		    s->first_idx[e->pfn] == i) {
			if (!kmm_take_block_off_buddy(pg(e->pfn), e->order)) {
				hold(s, e->pfn, e->order, H_BEFORE);
				rep->before_held++;
			} else {
				rep->before_lost++;
			}
		}
	}
	/* Free blocks at their order, per-CPU pages at order 0. */
	for (i = 0; i < s->nfb; i++)
		if (!kmm_take_block_off_buddy(pg(s->fb[i].pfn), s->fb[i].order))
			hold(s, s->fb[i].pfn, s->fb[i].order, H_TRACE);
	for (pfn = 0; pfn < s->end_pfn; pfn++)
		if (s->role[pfn] == 2 && s->hord[pfn] < 0 &&
		    !kmm_take_block_off_buddy(pg(pfn), 0))
			hold(s, pfn, 0, H_TRACE);
	for (pfn = 0; pfn < s->end_pfn; pfn += 1ULL << KMM_MAX_PAGE_ORDER)
		take_all(s, pfn, KMM_MAX_PAGE_ORDER, H_REST);
	for (pfn = 0; pfn < s->end_pfn; pfn++)
		if (s->hord[pfn] >= 0 && s->hkind[pfn] == H_REST)
			rep->rest_held += 1UL << s->hord[pfn];
}

/* Managed pages and watermarks as the capture's. */
static void set_managed_and_wmarks(struct pstate *s, struct layout_report *rep)
{
	int zi;

	/* 7. Managed pages: only the region counts. */
	for (zi = 0; zi < s->nz; zi++) {
		struct kzone *z = &s->z[zi];
		struct kmm_zone *kz;
		long out;

		if (z->kz < 0)
			continue;
		kz = kmm_zone_of(z);
		out = (long)kz->managed_pages - (long)z->managed;
		if (out > 0 && !kmm_adjust_managed_page_count(pg(kz->zone_start_pfn), -out))
			rep->unmanaged += (unsigned long)out;
	}
	kmm_init_per_zone_wmark_min();
	{
		unsigned long pages_min = 0;

		for (zi = 0; zi < s->nz; zi++)
			if (s->z[zi].kz >= 0)
				pages_min += s->z[zi].wmin;
		if (pages_min)
			kmm_sysctl_min_free_kbytes(pages_min * (KMM_PAGE_SIZE >> 10));
	}
}

/* Free the chosen blocks and lay out the per-CPU lists. */
static int release_free_memory(struct pstate *s, struct layout_report *rep)
{
	size_t i;
	int zi;

	/* 8. Free the free blocks: never-used ones first, then by first use,
	 * latest first, so the first used ends at the head of its list. */
	qsort(s->fb, s->nfb, sizeof(*s->fb), fblock_cmp);
	for (i = 0; i < s->nfb; i++) {
		uint64_t p = s->fb[i].pfn;

		if (s->hord[p] != (int)s->fb[i].order)
			continue;
		release(s, p);
		if (s->fb[i].order <= KMM_PAGE_ALLOC_COSTLY_ORDER)
			kmm_drain_all_pages(kmm_zone_of(&s->z[s->fb[i].zone]));
	}
	for (zi = 0; zi < s->nz; zi++) {
		struct kzone *z = &s->z[zi];
		struct pcp_pick *pk;
		size_t np = 0, k;
		uint64_t p;

		if (z->kz < 0)
			continue;
		pk = malloc(sizeof(*pk) * (z->re - z->rs + 1));
		if (!pk)
			return -ENOMEM;
		/* 9. Per-CPU pages, on their CPU, last-used first. */
		np = 0;
		for (p = z->rs; p < z->re; p++)
			if (s->role[p] == 2 && s->hord[p] == 0)
				pk[np++] = (struct pcp_pick){ p, s->first_idx[p], 0 };
		qsort(pk, np, sizeof(*pk), pick_cmp_desc);
		for (unsigned cpu = 0; cpu < kmm_machine.nr_cpus && cpu < 64; cpu++)
			if (z->pcp_high[cpu])
				kmm_pcp_set_high(kmm_zone_of(z), cpu, (int)z->pcp_high[cpu]);
		for (k = 0; k < np; k++) {
			kmm_bind_cpu(s->ev[pk[k].first].cpu % (int)kmm_machine.nr_cpus);
			release(s, pk[k].pfn);
		}
		kmm_bind_cpu(-1);
		free(pk);
		for (unsigned cpu = 0; cpu < kmm_machine.nr_cpus; cpu++)
			rep->pcp_laid += (unsigned long)kmm_zone_of(z)->per_cpu_pageset[cpu].count;
	}
	return 0;
}

static int layout(struct pstate *s, struct layout_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	kmm_drain_all_pages(NULL);
	probe_free_memory(s);
	if (prescan(s))
		return -ENOMEM;
	choose_pcp_pages(s, rep);
	if (choose_free_layout(s, rep))
		return -ENOMEM;
	mark_before_blocks(s);
	retake_in_shape(s, rep);
	set_managed_and_wmarks(s, rep);
	if (release_free_memory(s, rep))
		return -ENOMEM;
	return 0;
}

/* ---- the replay ----------------------------------------------------------- */

static struct kmm_zone *zone_of_pfn(uint64_t pfn)
{
	return kmm_page_zone(pg(pfn));
}

/* Take the kernel's block (p, o) for the replay; kmm's own pick is still held. */
static bool claim(struct pstate *s, struct pstats *st, uint64_t p, unsigned o)
{
	uint64_t n = 1ULL << o, j;
	bool pcp = false, before = true;

	if (!kmm_take_block_off_buddy(pg(p), o))
		goto took;
	for (j = 0; j < n; j++) {
		struct kmm_page *x = pg(p + j);

		if (kmm_page_test(x, KMM_PG_pcp))
			pcp = true;
	}
	if (pcp) {
		unsigned po;

		/* Off the per-CPU list when it is one block there. */
		if (kmm_page_test(pg(p), KMM_PG_pcp) && !kmm_take_block_off_pcp(pg(p), &po)) {
			if (po == o) {
				st->resync_pcp++;
				goto took;
			}
			kmm___free_pages(pg(p), po);
		}
		kmm_drain_all_pages(zone_of_pfn(p));
		if (!kmm_take_block_off_buddy(pg(p), o)) {
			st->resync_drain++;
			goto took;
		}
	}
	/* Held as allocated before the trace (the layout's guess was wrong)? */
	for (j = 0; j < n && before; j++) {
		uint64_t h = held_head(s, p + j);

		before = h != UINT64_MAX && (s->hkind[h] == H_REST || s->hkind[h] == H_BEFORE) &&
			 !kmm_page_test(pg(h), KMM_PG_head);
	}
	if (!before)
		return false;
	for (j = 0; j < n; j++) {
		uint64_t h = held_head(s, p + j);

		split_held(s, h);
		s->hkind[p + j] = H_TRACE;
	}
	st->resync_from_before++;
	return true;	/* held as 2^o order-0 pages (hord 0 each) */
took:
	hold(s, p, o, H_TRACE);
	return true;
}

static void do_alloc(struct pstate *s, struct pstats *st, const struct pev *e, bool resync)
{
	struct kmm_page *page;
	uint64_t q;

	st->allocs++;
	st->order_allocs[e->order]++;
	if (e->pfn + (1ULL << e->order) <= s->end_pfn)
		memset(s->last_free + e->pfn, 0, 1ULL << e->order);
	page = kmm_alloc_pages(e->gfp | KMM___GFP_NOWARN, e->order);
	if (!page) {
		st->failed_kmm++;
		if (resync && e->pfn < s->end_pfn && claim(s, st, e->pfn, e->order))
			st->resynced++;
		return;
	}
	q = kmm_page_to_pfn(page);
	if (q == e->pfn) {
		st->exact++;
		st->order_exact[e->order]++;
		hold(s, q, e->order, H_TRACE);
		return;
	}
	st->different++;
	if (e->pfn < s->end_pfn) {
		struct kmm_page *kp = pg(e->pfn);

		uint64_t h = held_head(s, e->pfn);
		int k = h == UINT64_MAX ? H_NONE : s->hkind[h];

		st->where[kmm_page_test(kp, KMM_PG_pcp) ? 0 : k == H_NONE ? 1 :
			  k == H_TRACE || k == H_BULK ? 3 : 2]++;
		if (kmm_page_zone(kp) != kmm_page_zone(page))
			st->other_zone++;
	}
	if (s->verbose && st->different <= 40 && e->pfn < s->end_pfn) {
		struct kmm_page *kp = pg(e->pfn);
		char g[256];

		kmm_format_gfp(g, sizeof(g), e->gfp);
		printf("  different #%lu: cpu %u order %u mt %d %s: kernel %#" PRIx64 " (%s, pageblock %s), kmm %#" PRIx64 "\n",
		       st->different, e->cpu, e->order, e->mt, g, e->pfn,
		       kmm_page_test(kp, KMM_PG_pcp) ? "on a per-CPU list" :
		       kmm_page_test(kp, KMM_PG_buddy) ? "free in the buddy" :
		       s->hkind[e->pfn] == H_REST ? "held as kernel memory" :
		       s->hkind[e->pfn] == H_BEFORE ? "held as allocated before" :
		       s->hkind[e->pfn] == H_BULK ? "in a bulk area" :
		       s->hkind[e->pfn] == H_TRACE ? "held (trace)" : "inside a free block or held",
		       kmm_migratetype_names[kmm_get_pfnblock_migratetype(e->pfn)], q);
	}
	if (resync && e->pfn < s->end_pfn && claim(s, st, e->pfn, e->order)) {
		kmm___free_pages(page, e->order);
		st->resynced++;
		return;
	}
	if (resync)
		st->resync_failed++;
	amap_put(&s->alias, e->pfn, q << 8 | e->order);
	st->aliases++;
}

static void do_valloc(struct pstate *s, struct pstats *st, const struct pev *e, size_t idx)
{
	uint32_t k = s->bulk_n[idx], got, j;
	struct kmm_page **arr;
	struct pool *pl;

	if (!k)
		return;
	if (!(s->npools & (s->npools - 1)) || !s->pools) {
		struct pool *np = realloc(s->pools, sizeof(*np) * (s->npools ? s->npools * 2 : 64));

		if (!np)
			abort();
		s->pools = np;
	}
	arr = calloc(k, sizeof(*arr));
	pl = &s->pools[s->npools];
	pl->pfn = calloc(k, sizeof(*pl->pfn));
	if (!arr || !pl->pfn)
		abort();
	pl->va = e->pfn;
	got = (uint32_t)kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_HIGHMEM | KMM___GFP_NOWARN,
					     -1, k, arr);
	for (j = 0; j < got; j++) {
		pl->pfn[j] = kmm_page_to_pfn(arr[j]);
		hold(s, pl->pfn[j], 0, H_BULK);
	}
	pl->n = got;
	pl->next = 0;
	free(arr);
	st->bulk_areas++;
	st->bulk_pages += got;
	if (got < k)
		st->bulk_short += k - got;
	amap_put(&s->areas, e->pfn, s->npools++);
}

static void do_vfree(struct pstate *s, const struct pev *e)
{
	unsigned c = e->cpu % 64;
	uint64_t v;

	s->pending[c] = -1;
	s->pending_left[c] = 0;
	if (amap_take(&s->areas, e->pfn, &v)) {
		s->pending[c] = (long)v;
		s->pending_left[c] = s->pools[v].n;
	}
}

/* Take a page kmm holds free (buddy or per-CPU list) so it can be freed. */
static bool take_free_page(struct pstate *s, struct pstats *st, uint64_t p)
{
	if (s->hkind[p] != H_NONE || held_head(s, p) != UINT64_MAX)
		return false;
	if (!claim(s, st, p, 0))
		return false;
	return s->hord[p] == 0;
}

static void do_free(struct pstate *s, struct pstats *st, const struct pev *e, bool resync)
{
	uint64_t p = e->pfn, n = 1ULL << e->order, v, j, h;
	unsigned c = e->cpu % 64;

	if (e->kind == EV_FREE_BATCHED && p < s->end_pfn && s->last_free[p]) {
		st->batched_dup++;
		return;
	}
	if (p + n <= s->end_pfn)
		for (j = 0; j < n; j++)
			s->last_free[p + j] = 1;
	st->frees++;
	if (amap_take(&s->alias, p, &v)) {
		kmm___free_pages(pg(v >> 8), (unsigned)(v & 0xff));
		return;
	}
	if (p + n > s->end_pfn) {
		st->frees_unknown++;
		return;
	}
	if (s->pending[c] >= 0 && s->pending_left[c] && !e->order && s->hkind[p] != H_TRACE &&
	    s->hkind[p] != H_BEFORE) {
		struct pool *pl = &s->pools[s->pending[c]];

		if (!--s->pending_left[c])
			s->pending[c] = -1;
		if (s->hkind[p] == H_BULK && s->hord[p] == 0) {
			st->bulk_exact++;
			release(s, p);
			return;
		}
		/* kmm's bulk took another page: give back one of the area's. */
		while (pl->next < pl->n) {
			uint64_t q = pl->pfn[pl->next++];

			if (s->hkind[q] == H_BULK && s->hord[q] == 0) {
				release(s, q);
				break;
			}
		}
		if (resync && take_free_page(s, st, p))
			release(s, p);
		return;
	}
	if (s->hord[p] == (int)e->order && s->hkind[p] != H_NONE) {
		release(s, p);
		return;
	}
	h = held_head(s, p);
	if (h == UINT64_MAX) {
		bool any = false;

		/* The free spans several held blocks, or none. */
		for (j = 0; j < n; j++)
			if (s->hord[p + j] >= 0 && p + j + (1ULL << s->hord[p + j]) <= p + n) {
				uint64_t hj = p + j;

				j += (1ULL << s->hord[hj]) - 1;
				release(s, hj);
				any = true;
			}
		if (any) {
			st->frees_split++;
		} else {
			st->frees_unknown++;
			/* Allocated without an event (alloc_pages_bulk outside
			 * vmalloc): follow the kernel, whose free puts it at
			 * the head of this CPU's list. */
			if (resync && !e->order && take_free_page(s, st, p)) {
				st->untraced_taken++;
				release(s, p);
			}
		}
		return;
	}
	if (!split_held(s, h)) {
		st->frees_compound_inside++;
		return;
	}
	st->frees_split++;
	for (j = 0; j < n; j++)
		if (s->hord[p + j] == 0)
			release(s, p + j);
}

/* ---- reporting -------------------------------------------------------------- */

static void distance(const unsigned long *a, const unsigned long *b,
		     unsigned long *blocks, unsigned long *pages)
{
	int o;

	for (o = 0; o < NORD; o++) {
		unsigned long d = a[o] > b[o] ? a[o] - b[o] : b[o] - a[o];

		*blocks += d;
		*pages += d << o;
	}
}

static void print_buddy(const char *who, const struct kzone *z, const unsigned long *c)
{
	int o;

	printf("  %-6s Node %d, zone %8s", who, z->node, z->name);
	for (o = 0; o < NORD; o++)
		printf(" %6lu", c[o]);
	printf("\n");
}

/* The machine ends where the capture's last zone does. */
static int match_zones(struct pstate *s)
{
	int i;

	s->end_pfn = 0;
	for (i = 0; i < s->nz; i++) {
		struct kzone *z = &s->z[i];

		if (z->spanned && z->start + z->spanned > s->end_pfn)
			s->end_pfn = z->start + z->spanned;
	}
	return s->end_pfn ? 0 : -1;
}

static int bind_zones(struct pstate *s)
{
	int i, zi, matched = 0;

	for (i = 0; i < s->nz; i++) {
		struct kzone *z = &s->z[i];

		z->kz = -1;
		if (!z->spanned || !z->managed || z->node >= (int)kmm_machine.nr_nodes)
			continue;
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *kz = &kmm_machine.node_data[z->node]->node_zones[zi];

			if (!strcmp(kz->name, z->name) && kz->spanned_pages) {
				z->kz = zi;
				z->rs = KMM_MAX(z->start, kz->zone_start_pfn);
				z->re = KMM_MIN(z->start + z->spanned, kmm_zone_end_pfn(kz));
				matched++;
			}
		}
	}
	return matched;
}

static void print_layout(struct pstate *s)
{
	int i;

	for (i = 0; i < s->nz; i++) {
		struct kzone *z = &s->z[i];
		struct kmm_zone *kz;

		if (z->kz < 0)
			continue;
		kz = kmm_zone_of(z);
		printf("zone %-7s        kernel [%#" PRIx64 ", %#" PRIx64 ") managed %" PRIu64
		       "; kmm [%#" PRIx64 ", %#" PRIx64 ") managed %" PRIu64 " (PFNs %#" PRIx64 "-%#" PRIx64 ")\n",
		       z->name, z->start, z->start + z->spanned, z->managed,
		       kz->zone_start_pfn, kmm_zone_end_pfn(kz), kz->managed_pages, z->rs, z->re);
		printf("  watermarks           min/low/high kernel %lu/%lu/%lu, kmm %lu/%lu/%lu\n",
		       z->wmin, z->wlow, z->whigh, kz->_watermark[KMM_WMARK_MIN],
		       kz->_watermark[KMM_WMARK_LOW], kz->_watermark[KMM_WMARK_HIGH]);
	}
}

int kmm_replay_pages(const char *dir, const char *trace, const char *extra_boot,
		     bool resync, bool verbose)
{
	struct pstate s = { 0 };
	struct pstats st = { 0 };
	struct layout_report rep;
	unsigned long b0 = 0, p0 = 0, b1 = 0, p1 = 0, bb = 0, pb = 0, kfree = 0;
	char cmd[1200];
	struct timespec t0, t1;
	double secs;
	size_t i;
	int zi, ret = 1;

	s.verbose = verbose;
	s.ncpu = replay_read_nproc(dir);
	if (load_zoneinfo(&s, dir) || match_zones(&s)) {
		printf("page allocator         skipped: no zoneinfo.before.gz with zone spans in %s\n", dir);
		return -1;
	}
	if (load_buddyinfo(&s, dir, "buddyinfo.before", false)) {
		printf("page allocator         skipped: no buddyinfo.before in %s\n", dir);
		return -1;
	}
	load_buddyinfo(&s, dir, "buddyinfo.after", true);
	load_pagetypeinfo(&s, dir);
	if (load_trace(&s, trace)) {
		fprintf(stderr, "kmm replay: %s: cannot read the trace\n", trace);
		goto out;
	}
	for (i = 0; i < s.nev && s.ev[i].kind >= EV_VALLOC; i++)
		;
	if (i == s.nev) {
		printf("page allocator         skipped: no mm_page_* events in the trace\n");
		ret = -1;
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "kmm.mode=shadow mem=%" PRIu64 "K nr_cpus=%u %s",
		 s.end_pfn * (KMM_PAGE_SIZE >> 10), s.ncpu, extra_boot ? extra_boot : "");
	printf("machine                \"%s\"\n", cmd);
	if (kmm_boot(cmd)) {
		fprintf(stderr, "kmm replay: boot \"%s\" failed\n", cmd);
		goto out;
	}
	if (!bind_zones(&s)) {
		fprintf(stderr, "kmm replay: no zone of the capture matches kmm's\n");
		goto shut;
	}
	s.hord = malloc(s.end_pfn);
	s.hkind = calloc(s.end_pfn, 1);
	s.first = calloc(s.end_pfn, 1);
	s.first_idx = calloc(s.end_pfn, sizeof(*s.first_idx));
	s.role = calloc(s.end_pfn, 1);
	s.bulk_n = calloc(s.nev, sizeof(*s.bulk_n));
	s.last_free = calloc(s.end_pfn, 1);
	if (!s.hord || !s.hkind || !s.first || !s.first_idx || !s.role || !s.bulk_n || !s.last_free) {
		fprintf(stderr, "kmm replay: out of memory for %" PRIu64 " PFNs\n", s.end_pfn);
		goto shut;
	}
	memset(s.hord, -1, s.end_pfn);
	for (i = 0; i < 64; i++)
		s.pending[i] = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (layout(&s, &rep)) {
		fprintf(stderr, "kmm replay: out of memory laying out the capture\n");
		goto shut;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_layout(&s);
	for (zi = 0; zi < s.nz; zi++) {
		unsigned long c[NORD];
		struct kzone *z = &s.z[zi];

		if (z->kz < 0)
			continue;
		for (int o = 0; o < NORD; o++)
			c[o] = zone_buddy(kmm_zone_of(z), o);
		distance(c, z->buddy_before, &b0, &p0);
	}
	printf("initial state          laid out in %.2f s: free blocks as buddyinfo.before%s (distance %lu blocks,\n"
	       "                       %lu pages; %lu blocks could not be placed); pageblock types off by %ld;\n"
	       "                       per-CPU lists %lu pages (kernel %lu); %lu blocks held as allocated before\n"
	       "                       tracing (%lu could not be); %lu pages held as other kernel memory,\n"
	       "                       %lu of them out of managed\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       s.z[0].have_types ? " and pagetypeinfo.before" : "",
	       b0, p0, rep.free_blocks_short, rep.pb_delta, rep.pcp_laid, rep.pcp_wanted,
	       rep.before_held, rep.before_lost, rep.rest_held, rep.unmanaged);

	progress_start("replay", s.nev);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < s.nev; i++) {
		const struct pev *e = &s.ev[i];

		kmm_bind_cpu(e->cpu % (int)kmm_machine.nr_cpus);
		if (e->kind == EV_ALLOC)
			do_alloc(&s, &st, e, resync);
		else if (e->kind == EV_VALLOC)
			do_valloc(&s, &st, e, i);
		else if (e->kind == EV_VFREE)
			do_vfree(&s, e);
		else
			do_free(&s, &st, e, resync);
		if (!(i & 4095))
			progress_update(i);
	}
	kmm_bind_cpu(-1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	progress_done();
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	{
		unsigned long nk[5] = { 0 };

		for (i = 0; i < s.nev; i++)
			nk[s.ev[i].kind]++;
		printf("events                 %zu in %.3f s (%.0f events/s): %lu mm_page_alloc, %lu mm_page_free,\n"
		       "                       %lu mm_page_free_batched, %lu alloc_vmap_area, %lu free_vmap_area_noflush;\n"
		       "                       %lu lines skipped\n",
		       s.nev, secs, secs > 0 ? (double)s.nev / secs : 0.0, nk[EV_ALLOC], nk[EV_FREE],
		       nk[EV_FREE_BATCHED], nk[EV_VALLOC], nk[EV_VFREE], s.skipped);
		printf("vmalloc bulk pages     %lu areas took %lu pages with alloc_pages_bulk (no events;\n"
		       "                       learnt from their vfree); of the pages freed by vfree %lu were\n"
		       "                       the ones kmm's bulk allocation took; %lu short\n",
		       st.bulk_areas, st.bulk_pages, st.bulk_exact, st.bulk_short);
	}
	printf("allocations            %lu: exact %lu (%.2f%%), different %lu, failed in kmm only %lu\n",
	       st.allocs, st.exact, st.allocs ? 100.0 * (double)st.exact / (double)st.allocs : 0.0,
	       st.different, st.failed_kmm);
	printf("kernel's PFN was       on a per-CPU list in kmm %lu, free in the buddy %lu (inside a larger\n"
	       "                       block or not), held as memory allocated before tracing %lu, held\n"
	       "                       for an earlier allocation %lu; in another zone than kmm's pick %lu\n",
	       st.where[0], st.where[1], st.where[2], st.where[3], st.other_zone);
	printf("  by order            ");
	for (int o = 0; o < NORD; o++)
		if (st.order_allocs[o])
			printf(" %d:%lu/%lu", o, st.order_exact[o], st.order_allocs[o]);
	printf(" (exact/all)\n");
	if (resync)
		printf("resync                 on: %lu took the kernel's block (%lu off a per-CPU list, %lu after\n"
		       "                       a drain, %lu from memory laid out as allocated), %lu could not\n",
		       st.resynced, st.resync_pcp, st.resync_drain, st.resync_from_before, st.resync_failed);
	else
		printf("resync                 off: %lu allocations kept kmm's page\n", st.aliases);
	printf("batched frees          %lu mm_page_free_batched repeat an mm_page_free (free_unref_folios()\n"
	       "                       reports both), not applied twice\n", st.batched_dup);
	printf("frees                  %lu: %lu of pages kmm does not hold (allocated without an event:\n"
	       "                       %lu taken at their free by the resync, the rest skipped), %lu splitting\n"
	       "                       a held block, %lu inside a compound block (skipped)\n",
	       st.frees, st.frees_unknown, st.untraced_taken, st.frees_split, st.frees_compound_inside);

	printf("buddyinfo.after        kernel vs kmm (free blocks per order, 0..%d)\n", NORD - 1);
	for (zi = 0; zi < s.nz; zi++) {
		unsigned long c[NORD];
		struct kzone *z = &s.z[zi];

		if (z->kz < 0 || !z->have_after)
			continue;
		for (int o = 0; o < NORD; o++) {
			c[o] = zone_buddy(kmm_zone_of(z), o);
			kfree += z->buddy_after[o] << o;
		}
		print_buddy("kernel", z, z->buddy_after);
		print_buddy("kmm", z, c);
		distance(c, z->buddy_after, &b1, &p1);
		distance(z->buddy_before, z->buddy_after, &bb, &pb);
	}
	printf("distance               %lu blocks, %lu pages (%.2f%% of the kernel's %lu free pages);\n"
	       "                       an allocator that did nothing: %lu blocks, %lu pages; ratio %.2f\n",
	       b1, p1, kfree ? 100.0 * (double)p1 / (double)kfree : 0.0, kfree, bb, pb,
	       p1 ? (double)pb / (double)p1 : 0.0);
	ret = kmm_page_alloc_validate() ? 1 : 0;
	printf("validate               %s\n", ret ? "FAILED" : "ok");
shut:
	kmm_shutdown();
out:
	free(s.ev);
	free(s.hord);
	free(s.hkind);
	free(s.first);
	free(s.first_idx);
	free(s.role);
	free(s.last_free);
	free(s.fb);
	amap_free(&s.alias);
	amap_free(&s.areas);
	for (i = 0; i < s.npools; i++)
		free(s.pools[i].pfn);
	free(s.pools);
	free(s.bulk_n);
	return ret;
}
