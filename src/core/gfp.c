// SPDX-License-Identifier: MIT
/*
 * gfp.c - names of zones and migratetypes, and GFP flag words as text.
 *
 * kmm_format_gfp() prints a flag word the way a 6.18 kernel's tracepoints
 * (show_gfp_flags(), e.g. "gfp_flags=" of mm_page_alloc) and %pGg do: walk
 * one table, best names first; a name is printed when every one of its bits
 * is still unconsumed, and then consumes them; names are joined by '|';
 * bits no name covers follow as one "0x<hex>".  The table is
 *
 *   1. the composite masks, most bits first:
 *      GFP_TRANSHUGE, GFP_TRANSHUGE_LIGHT, GFP_HIGHUSER_MOVABLE,
 *      GFP_HIGHUSER, GFP_USER, GFP_KERNEL_ACCOUNT, GFP_KERNEL, GFP_NOFS,
 *      GFP_ATOMIC, GFP_NOIO, GFP_NOWAIT, GFP_DMA, GFP_DMA32, __GFP_RECLAIM;
 *   2. every single __GFP_* bit in bit order (__GFP_DMA, __GFP_HIGHMEM,
 *      __GFP_DMA32, __GFP_MOVABLE, __GFP_RECLAIMABLE, __GFP_HIGH, ...,
 *      __GFP_NO_OBJ_EXT).
 *
 * That the single bits come in bit order (not in the older hand-written
 * order) is visible in the 6.18 traces in data/kernel-traces, e.g.
 * "GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|..." and
 * "__GFP_RECLAIMABLE|__GFP_IO|__GFP_NOWARN|...".  kmm behaves like a kernel
 * with every optional bit configured (__GFP_ZEROTAGS, __GFP_SKIP_ZERO,
 * __GFP_SKIP_KASAN, __GFP_NOLOCKDEP, __GFP_NO_OBJ_EXT are real bits), so
 * GFP_HIGHUSER_MOVABLE includes __GFP_SKIP_KASAN as in kmm/gfp.h.
 *
 * Zero: the tracepoints print "none" (show_gfp_flags() special-cases 0),
 * while %pGg prints nothing.  kmm_format_gfp() prints "none", so what it
 * writes for any value can be parsed back and matches the traces;
 * kmm_parse_gfp() accepts "none", "", "0" and "0x0" for zero.
 *
 * No locks; the tables are constant.
 */
#include <kmm/gfp.h>
#include <kmm/lib.h>

const char *const kmm_zone_names[KMM_MAX_NR_ZONES] = {
	[KMM_ZONE_DMA] = "DMA",
	[KMM_ZONE_DMA32] = "DMA32",
	[KMM_ZONE_NORMAL] = "Normal",
	[KMM_ZONE_MOVABLE] = "Movable",
};

const char *const kmm_migratetype_names[KMM_MIGRATE_TYPES] = {
	[KMM_MIGRATE_UNMOVABLE] = "Unmovable",
	[KMM_MIGRATE_MOVABLE] = "Movable",
	[KMM_MIGRATE_RECLAIMABLE] = "Reclaimable",
	[KMM_MIGRATE_HIGHATOMIC] = "HighAtomic",
	[KMM_MIGRATE_CMA] = "CMA",
	[KMM_MIGRATE_ISOLATE] = "Isolate",
};

struct gfp_name {
	kmm_gfp_t mask;
	const char *name;
};

#define GFP_NAME(m, n) { (m), (n) }

/* Printing order; see the top of the file. */
static const struct gfp_name gfp_names[] = {
	GFP_NAME(KMM_GFP_TRANSHUGE, "GFP_TRANSHUGE"),
	GFP_NAME(KMM_GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
	GFP_NAME(KMM_GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
	GFP_NAME(KMM_GFP_HIGHUSER, "GFP_HIGHUSER"),
	GFP_NAME(KMM_GFP_USER, "GFP_USER"),
	GFP_NAME(KMM_GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
	GFP_NAME(KMM_GFP_KERNEL, "GFP_KERNEL"),
	GFP_NAME(KMM_GFP_NOFS, "GFP_NOFS"),
	GFP_NAME(KMM_GFP_ATOMIC, "GFP_ATOMIC"),
	GFP_NAME(KMM_GFP_NOIO, "GFP_NOIO"),
	GFP_NAME(KMM_GFP_NOWAIT, "GFP_NOWAIT"),
	GFP_NAME(KMM_GFP_DMA, "GFP_DMA"),
	GFP_NAME(KMM_GFP_DMA32, "GFP_DMA32"),
	GFP_NAME(KMM___GFP_RECLAIM, "__GFP_RECLAIM"),
	/* single bits, in bit order */
	GFP_NAME(KMM___GFP_DMA, "__GFP_DMA"),
	GFP_NAME(KMM___GFP_HIGHMEM, "__GFP_HIGHMEM"),
	GFP_NAME(KMM___GFP_DMA32, "__GFP_DMA32"),
	GFP_NAME(KMM___GFP_MOVABLE, "__GFP_MOVABLE"),
	GFP_NAME(KMM___GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
	GFP_NAME(KMM___GFP_HIGH, "__GFP_HIGH"),
	GFP_NAME(KMM___GFP_IO, "__GFP_IO"),
	GFP_NAME(KMM___GFP_FS, "__GFP_FS"),
	GFP_NAME(KMM___GFP_ZERO, "__GFP_ZERO"),
	GFP_NAME(KMM___GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
	GFP_NAME(KMM___GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
	GFP_NAME(KMM___GFP_WRITE, "__GFP_WRITE"),
	GFP_NAME(KMM___GFP_NOWARN, "__GFP_NOWARN"),
	GFP_NAME(KMM___GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
	GFP_NAME(KMM___GFP_NOFAIL, "__GFP_NOFAIL"),
	GFP_NAME(KMM___GFP_NORETRY, "__GFP_NORETRY"),
	GFP_NAME(KMM___GFP_MEMALLOC, "__GFP_MEMALLOC"),
	GFP_NAME(KMM___GFP_COMP, "__GFP_COMP"),
	GFP_NAME(KMM___GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
	GFP_NAME(KMM___GFP_HARDWALL, "__GFP_HARDWALL"),
	GFP_NAME(KMM___GFP_THISNODE, "__GFP_THISNODE"),
	GFP_NAME(KMM___GFP_ACCOUNT, "__GFP_ACCOUNT"),
	GFP_NAME(KMM___GFP_ZEROTAGS, "__GFP_ZEROTAGS"),
	GFP_NAME(KMM___GFP_SKIP_ZERO, "__GFP_SKIP_ZERO"),
	GFP_NAME(KMM___GFP_SKIP_KASAN, "__GFP_SKIP_KASAN"),
	GFP_NAME(KMM___GFP_NOLOCKDEP, "__GFP_NOLOCKDEP"),
	GFP_NAME(KMM___GFP_NO_OBJ_EXT, "__GFP_NO_OBJ_EXT"),
};

/* Names only parsed, never printed (they never win in the table above). */
static const struct gfp_name gfp_parse_only[] = {
	GFP_NAME(0, "none"),
	GFP_NAME(KMM___GFP_UNUSED, "__GFP_UNUSED"),
};

int kmm_format_gfp(char *buf, size_t size, kmm_gfp_t gfp)
{
	int n = 0;
	bool first = true;

	if (size)
		buf[0] = '\0';
	if (gfp == 0)
		return kmm_scnprintf(buf, size, "none");

	for (size_t i = 0; i < KMM_ARRAY_SIZE(gfp_names) && gfp; i++) {
		kmm_gfp_t m = gfp_names[i].mask;

		if ((gfp & m) != m)
			continue;
		gfp &= ~m;
		n += kmm_scnprintf(buf + n, size - (size_t)n, "%s%s",
				   first ? "" : "|", gfp_names[i].name);
		first = false;
	}
	if (gfp)
		n += kmm_scnprintf(buf + n, size - (size_t)n, "%s%#x",
				   first ? "" : "|", gfp);
	return n;
}

static bool gfp_lookup(const struct gfp_name *tab, size_t nr, const char *s,
		       size_t len, kmm_gfp_t *mask)
{
	for (size_t i = 0; i < nr; i++) {
		if (kmm_strlen(tab[i].name) == len &&
		    kmm_strncmp(tab[i].name, s, len) == 0) {
			*mask = tab[i].mask;
			return true;
		}
	}
	return false;
}

int kmm_parse_gfp(const char *s, kmm_gfp_t *out)
{
	kmm_gfp_t gfp = 0;
	const char *p;

	if (!s || !out)
		return -KMM_EINVAL;
	if (*s == '\0') {
		*out = 0;	/* what %pGg prints for no flags */
		return 0;
	}

	p = s;
	for (;;) {
		const char *tok = p;
		size_t len;
		kmm_gfp_t m;
		uint64_t v;

		while (*p && *p != '|')
			p++;
		len = (size_t)(p - tok);
		if (len == 0)
			return -KMM_EINVAL;	/* "A||B", leading or trailing '|' */
		if (gfp_lookup(gfp_names, KMM_ARRAY_SIZE(gfp_names), tok, len,
			       &m) ||
		    gfp_lookup(gfp_parse_only, KMM_ARRAY_SIZE(gfp_parse_only),
			       tok, len, &m)) {
			gfp |= m;
		} else if (kmm_parse_u64(tok, len, &v) == 0 &&
			   v <= (kmm_gfp_t)~0u) {
			gfp |= (kmm_gfp_t)v;
		} else {
			return -KMM_EINVAL;
		}
		if (*p == '\0')
			break;
		p++;
	}
	*out = gfp;
	return 0;
}
