/* SPDX-License-Identifier: MIT */
/*
 * map.c - `kmm map`: physical memory and the vmalloc space as pictures.
 *
 * What is drawn (from include/kmm/snapshot.h, one zone at a time, then the
 * vmalloc space):
 *
 * Physical memory, one section per populated zone, one cell per pageblock
 * (512 pages), left to right and top to bottom in PFN order:
 *   - page mode (up to PAGE_MODE_MAX_PBS pageblocks, i.e. 4 GiB): a cell is
 *     the pageblock's 512 pages as a 32 x 16 grid, one square per page
 *     (2 px per page up to 512 MiB, 1 px above; a 1 GiB machine is a
 *     32 x 16 grid of cells, about 1100 x 300 px).  Allocated pages are
 *     the pageblock's migratetype colour, dark; free pages the same hue,
 *     light, lighter the smaller their buddy block (order 0 lightest,
 *     order 10 darkest of the free shades); pages on per-CPU lists yellow;
 *     reserved pages dark grey.  CMA pageblocks have their own hue; an
 *     isolated pageblock has grey free pages and a dashed black outline.
 *   - block mode (bigger machines): one 8 x 8 px cell per group of
 *     pageblocks (as many as keep the picture under BLOCK_MODE_MAX_CELLS
 *     cells), coloured by the group's most common type, lighter the more
 *     of it is free.
 *   Each cell has hover text (<title>): PFN range, migratetype, pages
 *   free / on pcp lists / allocated / reserved, the largest free order.
 *
 * The vmalloc space [VMALLOC_START, VMALLOC_END] (32 GiB by default, and a
 * few MiB of it in use), as two strips:
 *   - overview: linear in address, STRIP_W pixels for the whole space;
 *     each pixel takes the most telling state of the ranges in it
 *     (busy > lazy > pool > guard > free), so every area is visible at
 *     least 1 px wide where it lies;
 *   - detail: every range in address order as its own segment, width
 *     2 + 2 * log2(pages) px (a guard page 2 px, a 4-page area 6 px, the
 *     32 GiB free tail 48 px): a log scale, so small areas next to huge
 *     free ranges stay readable; rows wrap, each starts with its address.
 *   Busy areas name their caller, flags and page count in the hover text.
 *
 * The HTML page holds the same SVG inline, a table of totals per zone
 * (the counts the walk found, and the free blocks per order that
 * /proc/buddyinfo prints) and the vmalloc totals.  No script, no external
 * resource; both files are well-formed XML (XHTML for the page).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kmm/kmm.h>
#include <kmm/snapshot.h>
#include <kmm/vmalloc.h>

#include "map.h"
#include "workload.h"

#define EXIT_USAGE 2

#define PAGE_MODE_MAX_PBS 2048		/* 4 GiB of pageblocks */
#define BLOCK_MODE_MAX_CELLS 16384
#define PB_COLS 32			/* pages per cell row (32 x 16 = 512) */
#define PB_ROWS 16
#define STRIP_W 1280			/* vmalloc strips, px */
#define MARGIN 16
#define LABEL_W 150			/* address labels of the detail strip */
#define SEG_H 18
#define MAX_SEGMENTS 8000		/* detail strip: ranges drawn */

/* ---- snapshot ------------------------------------------------------------- */

struct map_zone {
	struct kmm_snap_zone zs;
	struct kmm_snap_pageblock *pbs;
	long nr_pbs;
	uint8_t *pages;		/* page mode only */
};

struct map_data {
	struct map_zone *zones;
	unsigned nr_zones;
	unsigned long total_pbs;
	bool page_mode;
	struct kmm_snap_va *va;
	long nr_va;
	char *proc_buddyinfo;	/* kmm_report_buddyinfo() right after the zone walks */
};

static void map_data_free(struct map_data *d)
{
	for (unsigned i = 0; i < d->nr_zones; i++) {
		free(d->zones[i].pbs);
		free(d->zones[i].pages);
	}
	free(d->zones);
	free(d->va);
	free(d->proc_buddyinfo);
	memset(d, 0, sizeof(*d));
}

static int map_collect(struct map_data *d)
{
	unsigned nid;
	int zi;

	memset(d, 0, sizeof(*d));
	d->zones = calloc((size_t)kmm_machine.nr_nodes * KMM_MAX_NR_ZONES, sizeof(*d->zones));
	if (!d->zones)
		return -1;
	for (nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &kmm_NODE_DATA((int)nid)->node_zones[zi];

			if (kmm_zone_is_populated(z))
				d->total_pbs += (z->spanned_pages + 2 * KMM_PAGEBLOCK_NR_PAGES - 1) /
						KMM_PAGEBLOCK_NR_PAGES;
		}
	d->page_mode = d->total_pbs <= PAGE_MODE_MAX_PBS;
	for (nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = &kmm_NODE_DATA((int)nid)->node_zones[zi];
			struct map_zone *mz = &d->zones[d->nr_zones];
			size_t npb, npg;
			long n;

			if (!kmm_zone_is_populated(z))
				continue;
			npb = z->spanned_pages / KMM_PAGEBLOCK_NR_PAGES + 2;
			npg = d->page_mode ? z->spanned_pages : 0;
			mz->pbs = calloc(npb, sizeof(*mz->pbs));
			mz->pages = npg ? calloc(npg, 1) : NULL;
			if (!mz->pbs || (npg && !mz->pages))
				return -1;
			n = kmm_snapshot_zone((int)nid, zi, &mz->zs, mz->pbs, npb, mz->pages, npg);
			if (n < 0 || (size_t)n > npb)
				return -1;
			mz->nr_pbs = n;
			d->nr_zones++;
		}
	/* The kernel-format report of the same moment, printed beside the
	 * table counted from struct pages (they must agree). */
	{
		size_t need = kmm_report_buddyinfo(NULL, 0) + 1;

		d->proc_buddyinfo = malloc(need);
		if (!d->proc_buddyinfo)
			return -1;
		kmm_report_buddyinfo(d->proc_buddyinfo, need);
	}
	for (int tries = 0; tries < 4; tries++) {
		long n = kmm_snapshot_vmalloc(NULL, 0), got;

		if (n < 0)
			return -1;
		free(d->va);
		d->va = calloc((size_t)n + 64, sizeof(*d->va));
		if (!d->va)
			return -1;
		got = kmm_snapshot_vmalloc(d->va, (size_t)n + 64);
		if (got >= 0 && got <= n + 64) {
			d->nr_va = got;
			return 0;
		}
	}
	return -1;
}

/* ---- colours ---------------------------------------------------------------- */

/* Hue per migratetype (Isolate: grey). */
static const int mt_hue[KMM_MIGRATE_TYPES] = {
	[KMM_MIGRATE_UNMOVABLE] = 0,
	[KMM_MIGRATE_MOVABLE] = 125,
	[KMM_MIGRATE_RECLAIMABLE] = 210,
	[KMM_MIGRATE_HIGHATOMIC] = 280,
	[KMM_MIGRATE_CMA] = 32,
	[KMM_MIGRATE_ISOLATE] = 0,
};

#define COLOR_PCP "#f1dd38"
#define COLOR_RESERVED "#3a3a3a"
#define COLOR_UNKNOWN "#ff00ff"

static const char *const va_color[KMM_SNAP_NR_VA_STATES] = {
	[KMM_SNAP_VA_BUSY] = "#1f4e9c",
	[KMM_SNAP_VA_GUARD] = "#111111",
	[KMM_SNAP_VA_LAZY] = "#f08c00",
	[KMM_SNAP_VA_POOL] = "#9b59b6",
	[KMM_SNAP_VA_FREE] = "#dcdcdc",
};

static const char *const va_legend[KMM_SNAP_NR_VA_STATES] = {
	[KMM_SNAP_VA_BUSY] = "busy (vmalloc, vmap, vm_map_ram)",
	[KMM_SNAP_VA_GUARD] = "guard page",
	[KMM_SNAP_VA_LAZY] = "lazy (freed, unpurged)",
	[KMM_SNAP_VA_POOL] = "pool (purged, in a vmap node pool)",
	[KMM_SNAP_VA_FREE] = "free",
};

/* No libm in the program: the few helpers hsl() needs. */
static double dabs(double v)
{
	return v < 0 ? -v : v;
}

static int to_byte(double v)
{
	int b = (int)(v * 255 + 0.5);

	return b < 0 ? 0 : b > 255 ? 255 : b;
}

/* floor(log2(v)) for v >= 1. */
static int ilog2ul(unsigned long v)
{
	return v ? 63 - __builtin_clzl(v) : 0;
}

/* #rrggbb of hue @h (degrees, 0..360), saturation and lightness 0..1. */
static void hsl(char out[8], double h, double s, double l)
{
	double c = (1 - dabs(2 * l - 1)) * s, hp = h / 60;
	double hm = hp - 2 * (int)(hp / 2);	/* hp mod 2 */
	double x = c * (1 - dabs(hm - 1)), m = l - c / 2, r = 0, g = 0, b = 0;

	if (hp < 1) { r = c; g = x; }
	else if (hp < 2) { r = x; g = c; }
	else if (hp < 3) { g = c; b = x; }
	else if (hp < 4) { g = x; b = c; }
	else if (hp < 5) { r = x; b = c; }
	else { r = c; b = x; }
	snprintf(out, 8, "#%02x%02x%02x", to_byte(r + m), to_byte(g + m), to_byte(b + m));
}

static double mt_sat(int mt)
{
	return mt == KMM_MIGRATE_ISOLATE ? 0.0 : 0.62;
}

/* A free page of a block of @order in a pageblock of type @mt. */
static void color_free(char out[8], int mt, unsigned order)
{
	hsl(out, mt_hue[mt], mt_sat(mt), 0.62 + 0.03 * order);
}

static void color_allocated(char out[8], int mt)
{
	hsl(out, mt_hue[mt], mt == KMM_MIGRATE_ISOLATE ? 0.0 : 0.72, 0.33);
}

/* The colour of a page with state byte @b in a pageblock of type @mt. */
static void page_color(char out[8], uint8_t b, int mt)
{
	switch (KMM_SNAP_PAGE_STATE(b)) {
	case KMM_SNAP_PAGE_FREE:
		color_free(out, mt, KMM_SNAP_PAGE_ORDER(b));
		break;
	case KMM_SNAP_PAGE_PCP:
		snprintf(out, 8, "%s", COLOR_PCP);
		break;
	case KMM_SNAP_PAGE_ALLOCATED:
		color_allocated(out, mt);
		break;
	case KMM_SNAP_PAGE_RESERVED:
		snprintf(out, 8, "%s", COLOR_RESERVED);
		break;
	default:
		snprintf(out, 8, "%s", COLOR_UNKNOWN);
		break;
	}
}

/* ---- XML helpers -------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\n')
				fputc(*s, f);
			break;
		}
	}
}

static void human_bytes(char *buf, size_t size, unsigned long long bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(unsigned long long)v)
		snprintf(buf, size, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, size, "%.1f %s", v, unit[u]);
}

/* ---- physical memory ------------------------------------------------------------ */

struct layout {
	int y;			/* next free row, px */
	int width;		/* widest thing drawn, px */
};

static void pb_title(FILE *f, const struct map_zone *mz, const struct kmm_snap_pageblock *r)
{
	uint64_t s = r->pfn < mz->zs.start_pfn ? mz->zs.start_pfn : r->pfn;

	fprintf(f, "<title>pfn %#" PRIx64 "-%#" PRIx64 " (node %d %s)\n%s%s%s\n"
		   "%u free, %u on pcp lists, %u allocated, %u reserved",
		s, s + r->nr_pages - 1, mz->zs.nid, mz->zs.name,
		kmm_migratetype_names[r->migratetype == KMM_MIGRATE_ISOLATE ? r->base_migratetype
									     : r->migratetype],
		r->isolated ? " (isolated)" : "",
		r->base_migratetype == KMM_MIGRATE_CMA ? " [CMA]" : "",
		r->nr_free, r->nr_pcp, r->nr_allocated, r->nr_reserved);
	if (r->largest_free_order >= 0)
		fprintf(f, "\nlargest free block: order %d (%u free blocks start here)",
			r->largest_free_order, r->nr_free_blocks);
	else
		fputs("\nno free block", f);
	fputs("</title>", f);
}

/* One pageblock in page mode at (x, y), @s px per page. */
static void draw_pb_pages(FILE *f, const struct map_zone *mz, const struct kmm_snap_pageblock *r,
			  int x, int y, int s)
{
	int mt = r->migratetype;

	fprintf(f, "<g class=\"pb\">");
	pb_title(f, mz, r);
	for (int row = 0; row < PB_ROWS; row++) {
		int col = 0;

		while (col < PB_COLS) {
			uint64_t pfn = r->pfn + (uint64_t)row * PB_COLS + (uint64_t)col;
			char c[8], c2[8];
			int run = 1;

			if (pfn < mz->zs.start_pfn || pfn >= mz->zs.end_pfn) {
				col++;
				continue;
			}
			page_color(c, mz->pages[pfn - mz->zs.start_pfn], mt);
			while (col + run < PB_COLS && pfn + (uint64_t)run < mz->zs.end_pfn) {
				page_color(c2, mz->pages[pfn + (uint64_t)run - mz->zs.start_pfn], mt);
				if (strcmp(c, c2))
					break;
				run++;
			}
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>",
				x + col * s, y + row * s, run * s, s, c);
			col += run;
		}
	}
	if (r->isolated)
		fprintf(f, "<rect x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" fill=\"none\" "
			   "stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"3,2\"/>",
			x, y, PB_COLS * s - 1, PB_ROWS * s - 1);
	fputs("</g>\n", f);
}

/* Block mode: @n pageblock records from @r as one cell. */
static void draw_pb_group(FILE *f, const struct map_zone *mz, const struct kmm_snap_pageblock *r,
			  long n, int x, int y, int cell)
{
	unsigned long pages = 0, fr = 0, pcp = 0, al = 0, res = 0, by_mt[KMM_MIGRATE_TYPES] = { 0 };
	int best = 0, largest = -1;
	char c[8];

	for (long i = 0; i < n; i++) {
		pages += r[i].nr_pages;
		fr += r[i].nr_free;
		pcp += r[i].nr_pcp;
		al += r[i].nr_allocated;
		res += r[i].nr_reserved;
		by_mt[r[i].migratetype]++;
		if (r[i].largest_free_order > largest)
			largest = r[i].largest_free_order;
	}
	for (int mt = 1; mt < KMM_MIGRATE_TYPES; mt++)
		if (by_mt[mt] > by_mt[best])
			best = mt;
	if (by_mt[KMM_MIGRATE_ISOLATE])
		best = KMM_MIGRATE_ISOLATE;
	if (res == pages)
		snprintf(c, sizeof(c), "%s", COLOR_RESERVED);
	else
		hsl(c, mt_hue[best], mt_sat(best),
		    0.33 + 0.58 * (pages ? (double)fr / (double)pages : 0));
	fprintf(f, "<g class=\"pb\"><title>pfn %#" PRIx64 "-%#" PRIx64 " (node %d %s, %ld pageblocks)\n"
		   "mostly %s\n%lu free, %lu on pcp lists, %lu allocated, %lu reserved\n",
		r[0].pfn, r[n - 1].pfn + KMM_PAGEBLOCK_NR_PAGES - 1, mz->zs.nid, mz->zs.name, n,
		kmm_migratetype_names[best], fr, pcp, al, res);
	if (largest >= 0)
		fprintf(f, "largest free block: order %d", largest);
	else
		fputs("no free block", f);
	fprintf(f, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>",
		x, y, cell, cell, c);
	if (by_mt[KMM_MIGRATE_ISOLATE])
		fprintf(f, "<rect x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" fill=\"none\" "
			   "stroke=\"#000\" stroke-dasharray=\"2,1\"/>", x, y, cell - 1, cell - 1);
	fputs("</g>\n", f);
}

static void draw_physical(FILE *f, const struct map_data *d, struct layout *L)
{
	int s = d->total_pbs <= 256 ? 2 : 1;
	int cw = PB_COLS * s, ch = PB_ROWS * s, gap = 2, cols = d->total_pbs <= 256 ? 16 : 32;
	long group = 1;
	int cell = 8;

	if (!d->page_mode) {
		group = (long)((d->total_pbs + BLOCK_MODE_MAX_CELLS - 1) / BLOCK_MODE_MAX_CELLS);
		cw = ch = cell;
		gap = 1;
		cols = 128;
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"h\">Physical memory: ", MARGIN, L->y + 14);
	if (d->page_mode)
		fprintf(f, "one cell per pageblock (%lu pages), one %dx%d px square per page",
			KMM_PAGEBLOCK_NR_PAGES, s, s);
	else
		fprintf(f, "one cell per %ld pageblock%s (%ld MiB), shade = free fraction", group,
			group > 1 ? "s" : "", group * 2);
	fputs("</text>\n", f);
	L->y += 24;
	for (unsigned zi = 0; zi < d->nr_zones; zi++) {
		const struct map_zone *mz = &d->zones[zi];
		char sz[32];
		long cells = (mz->nr_pbs + group - 1) / group;

		human_bytes(sz, sizeof(sz), (mz->zs.end_pfn - mz->zs.start_pfn) << KMM_PAGE_SHIFT);
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"z\">Node %d, zone %s: pfn %#" PRIx64
			   "-%#" PRIx64 " (%s), %lu free pages, %lu pageblocks</text>\n",
			MARGIN, L->y + 11, mz->zs.nid, mz->zs.name, mz->zs.start_pfn,
			mz->zs.end_pfn - 1, sz, mz->zs.nr_free_pages, (unsigned long)mz->nr_pbs);
		L->y += 16;
		for (long c = 0; c < cells; c++) {
			int x = MARGIN + (int)(c % cols) * (cw + gap);
			int y = L->y + (int)(c / cols) * (ch + gap);
			long first = c * group, n = mz->nr_pbs - first < group ? mz->nr_pbs - first : group;

			if (d->page_mode)
				draw_pb_pages(f, mz, &mz->pbs[first], x, y, s);
			else
				draw_pb_group(f, mz, &mz->pbs[first], n, x, y, cell);
			if (x + cw > L->width)
				L->width = x + cw;
		}
		L->y += (int)((cells + cols - 1) / cols) * (ch + gap) + 10;
	}
}

/* ---- the vmalloc space ------------------------------------------------------------ */

static int va_prio(enum kmm_snap_va_state s)
{
	switch (s) {
	case KMM_SNAP_VA_BUSY: return 4;
	case KMM_SNAP_VA_LAZY: return 3;
	case KMM_SNAP_VA_POOL: return 2;
	case KMM_SNAP_VA_GUARD: return 1;
	default: return 0;
	}
}

static void va_clip(const struct kmm_snap_va *r, unsigned long lo, unsigned long hi,
		    unsigned long *s, unsigned long *e)
{
	*s = r->start < lo ? lo : r->start;
	*e = r->end > hi ? hi : r->end;
}

static void va_title(FILE *f, const struct kmm_snap_va *r, unsigned long s, unsigned long e)
{
	char sz[32];

	human_bytes(sz, sizeof(sz), e - s);
	fprintf(f, "<title>%#lx-%#lx %s %s", s, e, sz, kmm_snap_va_state_names[r->state]);
	if (r->state == KMM_SNAP_VA_BUSY || r->state == KMM_SNAP_VA_GUARD) {
		if (r->has_vm) {
			if (r->caller) {
				char sym[160];

				if (kmm_port_symbolize(r->caller, sym, sizeof(sym)) > 0) {
					fputs(" ", f);
					xml_text(f, sym);
				} else {
					fprintf(f, " %p", r->caller);
				}
			}
			if (r->nr_pages)
				fprintf(f, " pages=%u", r->nr_pages);
			if (r->vm_flags & KMM_VM_ALLOC)
				fputs(" vmalloc", f);
			if (r->vm_flags & KMM_VM_MAP)
				fputs(" vmap", f);
			if (r->vm_flags & KMM_VM_USERMAP)
				fputs(" user", f);
			if (r->vm_flags & KMM_VM_IOREMAP)
				fputs(" ioremap", f);
		} else if (r->va_flags & KMM_VMAP_BLOCK) {
			fputs(" vm_map_ram block", f);
		} else if (r->va_flags & KMM_VMAP_RAM) {
			fputs(" vm_map_ram", f);
		}
	}
	if (r->state != KMM_SNAP_VA_FREE)
		fprintf(f, " (vmap node %u)", r->node);
	fputs("</title>", f);
}

/*
 * The overview's piecewise-linear scale: the free space below the lowest
 * and above the highest used range gets EDGE_W px each, the used span
 * [u0, u1) the rest, linearly.
 */
#define EDGE_W 90

struct va_scale {
	unsigned long lo, hi, u0, u1;
	int x0, x1;		/* used span drawn over [x0, x1) */
};

static int va_x(const struct va_scale *sc, unsigned long a)
{
	if (a < sc->u0)
		return (int)((long double)(a - sc->lo) * sc->x0 / (long double)(sc->u0 - sc->lo));
	if (a >= sc->u1)
		return sc->x1 + (int)((long double)(a - sc->u1) * (STRIP_W - sc->x1) /
				      (long double)(sc->hi - sc->u1));
	return sc->x0 + (int)((long double)(a - sc->u0) * (sc->x1 - sc->x0) /
			      (long double)(sc->u1 - sc->u0));
}

/* The address at pixel @x (inverse of va_x, rounded down). */
static unsigned long va_addr(const struct va_scale *sc, int x)
{
	if (x < sc->x0)
		return sc->lo + (unsigned long)((long double)(sc->u0 - sc->lo) * x / sc->x0);
	if (x >= sc->x1)
		return x >= STRIP_W ? sc->hi :
		       sc->u1 + (unsigned long)((long double)(sc->hi - sc->u1) * (x - sc->x1) /
						(STRIP_W - sc->x1));
	return sc->u0 + (unsigned long)((long double)(sc->u1 - sc->u0) * (x - sc->x0) /
					(sc->x1 - sc->x0));
}

static void draw_vmalloc(FILE *f, const struct map_data *d, struct layout *L)
{
	unsigned long lo = kmm_vmalloc_start(), hi = kmm_vmalloc_end() + 1;
	int px[STRIP_W], x, row_x, drawn = 0;
	struct va_scale sc;
	long n_in = 0, i;
	char sz[32], sz2[32], sz3[32];

	if (hi <= lo)
		return;
	sc.lo = lo;
	sc.hi = hi;
	sc.u0 = hi;
	sc.u1 = lo;
	for (i = 0; i < d->nr_va; i++) {
		const struct kmm_snap_va *r = &d->va[i];
		unsigned long s, e;

		if (r->end <= lo || r->start >= hi || r->state == KMM_SNAP_VA_FREE)
			continue;
		va_clip(r, lo, hi, &s, &e);
		if (s < sc.u0)
			sc.u0 = s;
		if (e > sc.u1)
			sc.u1 = e;
	}
	if (sc.u0 >= sc.u1) {	/* nothing used: all linear */
		sc.u0 = lo;
		sc.u1 = hi;
	}
	sc.x0 = sc.u0 > lo ? EDGE_W : 0;
	sc.x1 = sc.u1 < hi ? STRIP_W - EDGE_W : STRIP_W;
	human_bytes(sz, sizeof(sz), hi - lo);
	human_bytes(sz2, sizeof(sz2), sc.u1 - sc.u0);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"h\">vmalloc space %#lx-%#lx (%s): "
		   "overview, linear over the %s from the first to the last area in use</text>\n",
		MARGIN, L->y + 14, lo, hi - 1, sz, sz2);
	L->y += 22;
	human_bytes(sz, sizeof(sz), sc.u0 - lo);
	human_bytes(sz3, sizeof(sz3), hi - sc.u1);
	if (sc.x0)
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%s free</text>\n", MARGIN,
			L->y + 11, sz);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%#lx-%#lx (%s), linear</text>\n",
		MARGIN + sc.x0 + 4, L->y + 11, sc.u0, sc.u1 - 1, sz2);
	if (sc.x1 < STRIP_W)
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%s free</text>\n",
			MARGIN + sc.x1 + 4, L->y + 11, sz3);
	L->y += 15;

	/* Per pixel, the most telling state; -1 = nothing yet. */
	for (x = 0; x < STRIP_W; x++)
		px[x] = -1;
	for (i = 0; i < d->nr_va; i++) {
		const struct kmm_snap_va *r = &d->va[i];
		unsigned long s, e;
		int x0, x1;

		if (r->end <= lo || r->start >= hi)
			continue;
		va_clip(r, lo, hi, &s, &e);
		x0 = va_x(&sc, s);
		x1 = va_x(&sc, e - 1);
		if (x1 >= STRIP_W)
			x1 = STRIP_W - 1;
		for (x = x0; x <= x1; x++)
			if (px[x] < 0 || va_prio(r->state) > va_prio((enum kmm_snap_va_state)px[x]))
				px[x] = r->state;
		n_in++;
	}
	for (x = 0; x < STRIP_W;) {
		int st = px[x] < 0 ? KMM_SNAP_VA_FREE : px[x], run = 1;
		unsigned long a0, a1;

		while (x + run < STRIP_W && (px[x + run] < 0 ? KMM_SNAP_VA_FREE : px[x + run]) == st &&
		       x + run != sc.x0 && x + run != sc.x1)
			run++;
		a0 = va_addr(&sc, x);
		a1 = va_addr(&sc, x + run);
		human_bytes(sz, sizeof(sz), a1 - a0);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
			   "<title>%#lx-%#lx (%s): %s%s</title></rect>\n",
			MARGIN + x, L->y, run, SEG_H, va_color[st], a0, a1, sz,
			st == KMM_SNAP_VA_FREE ? "" : "contains ", kmm_snap_va_state_names[st]);
		x += run;
	}
	/* Where the scale changes. */
	if (sc.x0)
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\" "
			   "stroke-dasharray=\"2,2\"/>\n", MARGIN + sc.x0, L->y - 4,
			MARGIN + sc.x0, L->y + SEG_H + 4);
	if (sc.x1 < STRIP_W)
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\" "
			   "stroke-dasharray=\"2,2\"/>\n", MARGIN + sc.x1, L->y - 4,
			MARGIN + sc.x1, L->y + SEG_H + 4);
	if (MARGIN + STRIP_W > L->width)
		L->width = MARGIN + STRIP_W;
	L->y += SEG_H + 14;

	/* Detail: one segment per range, log-scaled width, wrapped rows. */
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"h\">every range in address order, "
		   "width 2 + 2 log2(pages) px (%ld ranges)</text>\n", MARGIN, L->y + 14, n_in);
	L->y += 22;
	row_x = STRIP_W;	/* force a new row */
	for (i = 0; i < d->nr_va && drawn < MAX_SEGMENTS; i++) {
		const struct kmm_snap_va *r = &d->va[i];
		unsigned long s, e, pages;
		int w;

		if (r->end <= lo || r->start >= hi)
			continue;
		va_clip(r, lo, hi, &s, &e);
		pages = (e - s) >> KMM_PAGE_SHIFT;
		w = 2 + 2 * ilog2ul(pages ? pages : 1);
		if (row_x + w > STRIP_W - LABEL_W) {
			if (row_x != STRIP_W)
				L->y += SEG_H + 4;
			row_x = 0;
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%#lx</text>\n", MARGIN,
				L->y + 13, s);
		}
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
			   "stroke=\"#fff\" stroke-width=\"0.5\">",
			MARGIN + LABEL_W + row_x, L->y, w, SEG_H, va_color[r->state]);
		va_title(f, r, s, e);
		fputs("</rect>\n", f);
		row_x += w;
		drawn++;
	}
	L->y += SEG_H + 6;
	if (drawn < n_in) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">(%ld more ranges not drawn)</text>\n",
			MARGIN, L->y + 12, n_in - drawn);
		L->y += 18;
	}
	L->y += 8;
}

/* ---- legend ------------------------------------------------------------------------ */

static void legend_swatch(FILE *f, int x, int y, const char *color, const char *label,
			  bool dashed)
{
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"%s/>"
		   "<text x=\"%d\" y=\"%d\">", x, y, color,
		dashed ? " stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"3,2\"" : "",
		x + 19, y + 11);
	xml_text(f, label);
	fputs("</text>\n", f);
}

static void draw_legend(FILE *f, struct layout *L)
{
	static const int types[] = { KMM_MIGRATE_UNMOVABLE, KMM_MIGRATE_MOVABLE,
				     KMM_MIGRATE_RECLAIMABLE, KMM_MIGRATE_HIGHATOMIC,
				     KMM_MIGRATE_CMA };
	int y = L->y, x;
	char c[8], label[64];

	fprintf(f, "<g id=\"legend\">\n<text x=\"%d\" y=\"%d\" class=\"h\">Legend</text>\n",
		MARGIN, y + 14);
	y += 22;
	/* One row per migratetype: allocated, then free by order 0..10. */
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		int mt = types[t];

		color_allocated(c, mt);
		snprintf(label, sizeof(label), "%s%s: allocated", kmm_migratetype_names[mt],
			 mt == KMM_MIGRATE_CMA ? " (CMA pageblocks)" : "");
		legend_swatch(f, MARGIN, y, c, label, false);
		x = MARGIN + 280;
		fprintf(f, "<text x=\"%d\" y=\"%d\">free, order 0 to 10:</text>\n", x, y + 11);
		x += 130;
		for (unsigned o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
			color_free(c, mt, o);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\">"
				   "<title>free, %s, block of order %u</title></rect>",
				x + (int)o * 16, y, c, kmm_migratetype_names[mt], o);
		}
		fputs("\n", f);
		y += 18;
	}
	x = MARGIN;
	color_free(c, KMM_MIGRATE_ISOLATE, 4);
	legend_swatch(f, x, y, c, "isolated pageblock (free pages grey, dashed outline)", true);
	y += 18;
	legend_swatch(f, x, y, COLOR_PCP, "free, on a per-CPU (pcp) list", false);
	legend_swatch(f, x + 280, y, COLOR_RESERVED, "reserved", false);
	legend_swatch(f, x + 420, y, COLOR_UNKNOWN, "unknown (invalid)", false);
	y += 24;
	for (int s = 0; s < KMM_SNAP_NR_VA_STATES; s++)
		legend_swatch(f, MARGIN + (s % 3) * 280, y + (s / 3) * 18, va_color[s],
			      va_legend[s], false);
	y += 2 * 18 + 6;
	fputs("</g>\n", f);
	L->y = y;
	if (MARGIN + 840 > L->width)
		L->width = MARGIN + 840;
}

/* ---- the SVG ----------------------------------------------------------------------- */

static const char svg_style[] =
	"text{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;font-size:12px;fill:#222}"
	"text.h{font-size:14px;font-weight:bold}"
	"text.z{font-size:12px;font-weight:bold;fill:#444}"
	"text.a{font-family:DejaVu Sans Mono,monospace;font-size:11px}"
	"g.pb:hover rect,rect:hover{opacity:0.75}";

/* The whole SVG into @f.  @standalone: with the XML declaration. */
static int write_svg(FILE *f, const struct map_data *d, const char *note, bool standalone)
{
	struct layout L = { .y = MARGIN, .width = 0 };
	char *body = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&body, &len);

	if (!m)
		return -1;
	fprintf(m, "<text x=\"%d\" y=\"%d\" class=\"h\" style=\"font-size:17px\">kmm map", MARGIN,
		L.y + 16);
	if (note && *note) {
		fputs(": ", m);
		xml_text(m, note);
	}
	fputs("</text>\n", m);
	L.y += 30;
	draw_legend(m, &L);
	L.y += 6;
	draw_physical(m, d, &L);
	L.y += 6;
	draw_vmalloc(m, d, &L);
	if (fclose(m)) {
		free(body);
		return -1;
	}
	L.width += MARGIN;
	if (standalone)
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		   "height=\"%d\" viewBox=\"0 0 %d %d\">\n<style>%s</style>\n"
		   "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
		L.width, L.y, L.width, L.y, svg_style, L.width, L.y);
	fwrite(body, 1, len, f);
	fputs("</svg>\n", f);
	free(body);
	return ferror(f) ? -1 : 0;
}

/* ---- the HTML page ------------------------------------------------------------------- */

static void write_totals(FILE *f, const struct map_data *d)
{
	unsigned long va_n[KMM_SNAP_NR_VA_STATES] = { 0 }, va_b[KMM_SNAP_NR_VA_STATES] = { 0 };
	unsigned long lo = kmm_vmalloc_start(), hi = kmm_vmalloc_end() + 1;

	fputs("<h2>Totals per zone (pages)</h2>\n<table id=\"totals\">\n<tr><th>node</th>"
	      "<th>zone</th><th>spanned</th><th>present</th><th>managed</th>"
	      "<th>free (NR_FREE_PAGES)</th><th>free, isolated</th><th>pcp</th>"
	      "<th>allocated</th><th>reserved</th><th>CMA</th>", f);
	for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
		fprintf(f, "<th>%s pageblocks</th>", kmm_migratetype_names[mt]);
	fputs("</tr>\n", f);
	for (unsigned i = 0; i < d->nr_zones; i++) {
		const struct map_zone *mz = &d->zones[i];
		unsigned long by_mt[KMM_MIGRATE_TYPES] = { 0 };

		for (long k = 0; k < mz->nr_pbs; k++)
			by_mt[mz->pbs[k].migratetype]++;
		fprintf(f, "<tr class=\"zone\"><td>%d</td><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64
			   "</td><td>%" PRIu64 "</td><td class=\"free\">%lu</td><td>%lu</td><td>%lu</td>"
			   "<td>%lu</td><td>%lu</td><td>%" PRIu64 "</td>",
			mz->zs.nid, mz->zs.name, mz->zs.end_pfn - mz->zs.start_pfn,
			mz->zs.present_pages, mz->zs.managed_pages,
			mz->zs.walk_free_pages - mz->zs.walk_isolated_free_pages,
			mz->zs.walk_isolated_free_pages, mz->zs.walk_pcp_pages,
			mz->zs.walk_allocated_pages, mz->zs.walk_reserved_pages, mz->zs.cma_pages);
		for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++)
			fprintf(f, "<td>%lu</td>", by_mt[mt]);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<p>Counted by walking every struct page of the zone "
	      "(kmm_snapshot_zone()); \"free\" leaves out free pages of isolated pageblocks, "
	      "as NR_FREE_PAGES does.</p>\n", f);

	fputs("<h2>Free blocks per order (as /proc/buddyinfo)</h2>\n<table id=\"buddyinfo\">\n"
	      "<tr><th>zone</th>", f);
	for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
		fprintf(f, "<th>%d</th>", o);
	fputs("</tr>\n", f);
	for (unsigned i = 0; i < d->nr_zones; i++) {
		const struct map_zone *mz = &d->zones[i];

		fprintf(f, "<tr class=\"buddy\"><th>Node %d, zone %s</th>", mz->zs.nid, mz->zs.name);
		for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
			fprintf(f, "<td>%lu</td>", mz->zs.walk_free_blocks[o]);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<p>Counted from struct pages; the same machine's /proc/buddyinfo "
	      "(kmm_report_buddyinfo(), from the zones' counters) at the same moment:</p>\n"
	      "<pre id=\"proc-buddyinfo\">", f);
	fputs(d->proc_buddyinfo, f);	/* digits, spaces, names: nothing to escape */
	fputs("</pre>\n", f);

	for (long i = 0; i < d->nr_va; i++) {
		const struct kmm_snap_va *r = &d->va[i];
		unsigned long s, e;

		if (r->end <= lo || r->start >= hi)
			continue;
		va_clip(r, lo, hi, &s, &e);
		va_n[r->state]++;
		va_b[r->state] += e - s;
	}
	fputs("<h2>vmalloc space</h2>\n<table id=\"vmalloc\">\n<tr><th>state</th><th>ranges</th>"
	      "<th>bytes</th></tr>\n", f);
	for (int s = 0; s < KMM_SNAP_NR_VA_STATES; s++) {
		char sz[32];

		human_bytes(sz, sizeof(sz), va_b[s]);
		fprintf(f, "<tr class=\"va\"><td>%s</td><td>%lu</td><td>%lu (%s)</td></tr>\n",
			kmm_snap_va_state_names[s], va_n[s], va_b[s], sz);
	}
	fputs("</table>\n", f);
}

static int write_html(FILE *f, const struct map_data *d, const char *note)
{
	fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\"/>\n<title>kmm map</title>\n<style>"
	      "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:8px;color:#222}"
	      "table{border-collapse:collapse;margin:4px 0 12px 0;font-size:12px}"
	      "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
	      "th{background:#eee}h2{font-size:15px;margin:12px 0 4px 0}"
	      "p{font-size:12px;margin:2px 0}"
	      "</style>\n</head>\n<body>\n", f);
	if (write_svg(f, d, note, false))
		return -1;
	write_totals(f, d);
	fputs("<p>Hover over a cell or a range for details.  Generated by <code>kmm map</code>.</p>\n"
	      "</body>\n</html>\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---- entry points ---------------------------------------------------------------------- */

static int write_file(const char *path, const struct map_data *d, const char *note, bool html)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f) {
		fprintf(stderr, "kmm map: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = html ? write_html(f, d, note) : write_svg(f, d, note, true);
	if (fclose(f) || r) {
		fprintf(stderr, "kmm map: writing %s failed\n", path);
		return -1;
	}
	return 0;
}

int map_write_files(const char *svg_path, const char *html_path, const char *note)
{
	struct map_data d;
	int ret = 0;

	if (!kmm_machine.booted) {
		fprintf(stderr, "kmm map: no machine booted\n");
		return -1;
	}
	if (map_collect(&d)) {
		fprintf(stderr, "kmm map: out of memory for the snapshot\n");
		map_data_free(&d);
		return -1;
	}
	if (svg_path && write_file(svg_path, &d, note, false))
		ret = -1;
	if (html_path && write_file(html_path, &d, note, true))
		ret = -1;
	map_data_free(&d);
	return ret;
}

int map_write(const char *prefix)
{
	size_t n = strlen(prefix) + 6;
	char *svg = malloc(n), *html = malloc(n);
	char note[160];
	int ret;

	if (!svg || !html) {
		free(svg);
		free(html);
		return -1;
	}
	snprintf(svg, n, "%s.svg", prefix);
	snprintf(html, n, "%s.html", prefix);
	snprintf(note, sizeof(note), "%" PRIu64 " MiB, %u node(s), %u CPU(s)",
		 kmm_machine.max_pfn >> (20 - KMM_PAGE_SHIFT), kmm_machine.nr_nodes,
		 kmm_machine.nr_cpus);
	ret = map_write_files(svg, html, note);
	if (!ret)
		printf("kmm: map written to %s and %s\n", svg, html);
	free(svg);
	free(html);
	return ret;
}

static void map_usage(FILE *f)
{
	fprintf(f,
		"usage: kmm map [--boot \"PARAMS\"] [--workload] [--steps N] [--seed N]\n"
		"               [--svg FILE] [--html FILE]\n"
		"\n"
		"Boot a machine, optionally run the short mixed workload of `kmm info\n"
		"--workload` (a quarter of its blocks stay allocated), and draw physical\n"
		"memory (one cell per pageblock, pages coloured by state and migratetype,\n"
		"free pages shaded by buddy order; CMA and isolated pageblocks distinct)\n"
		"and the vmalloc space (busy, guard, lazy, pool and free ranges) with a\n"
		"legend and hover text.  At least one of --svg and --html is needed.\n"
		"\n"
		"  --boot PARAMS   kernel-style boot parameters (see kmm_boot(3))\n"
		"  --workload      run the workload first\n"
		"  --steps N       workload operations per CPU (default 20000)\n"
		"  --seed N        workload seed (default 1)\n"
		"  --svg FILE      write the picture as SVG\n"
		"  --html FILE     write an XHTML page: the SVG inline and tables of totals\n");
}

int kmm_map_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "boot", required_argument, NULL, 'b' },
		{ "workload", no_argument, NULL, 'w' },
		{ "steps", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "svg", required_argument, NULL, 'v' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct workload_opts wo = { .steps = 20000, .keep_percent = 25, .seed = 1 };
	struct workload_result r;
	const char *boot = "", *svg = NULL, *html = NULL;
	char note[400], *end;
	int c, wl = 0, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:ws:S:v:H:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': boot = optarg; break;
		case 'w': wl = 1; break;
		case 's':
			wo.steps = strtoul(optarg, &end, 0);
			if (!*optarg || *end) {
				fprintf(stderr, "kmm map: bad --steps '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			wo.seed = strtoull(optarg, &end, 0);
			if (!*optarg || *end) {
				fprintf(stderr, "kmm map: bad --seed '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v': svg = optarg; break;
		case 'H': html = optarg; break;
		case 'h': map_usage(stdout); return 0;
		default: map_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (!svg && !html)) {
		map_usage(stderr);
		return EXIT_USAGE;
	}
	c = kmm_boot(boot);
	if (c) {
		fprintf(stderr, "kmm map: boot \"%s\" failed: %s\n", boot, strerror(-c));
		return 1;
	}
	if (wl && workload_run(&wo, &r))
		ret = 1;
	if (wl)
		snprintf(note, sizeof(note), "boot \"%s\", workload seed %" PRIu64 ", %lu steps", boot,
			 wo.seed, wo.steps);
	else
		snprintf(note, sizeof(note), "boot \"%s\", just booted", boot);
	if (map_write_files(svg, html, note))
		ret = 1;
	if (wl && workload_release(&r))
		ret = 1;
	kmm_shutdown();
	return ret;
}
