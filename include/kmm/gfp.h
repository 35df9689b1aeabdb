/* SPDX-License-Identifier: MIT */
/*
 * kmm/gfp.h - GFP flags, zone types and migratetypes.
 *
 * The bit order follows Linux 6.18's ___GFP_*_BIT enum (without the
 * debug-only bits), so flag words print as the kernel's.  Zone selection and
 * migratetype derivation are the kernel's gfp_zone()/gfp_migratetype().
 */
#ifndef KMM_GFP_H
#define KMM_GFP_H

#include <kmm/types.h>

typedef unsigned int kmm_gfp_t;

#define KMM___GFP_DMA		0x01u
#define KMM___GFP_HIGHMEM	0x02u
#define KMM___GFP_DMA32		0x04u
#define KMM___GFP_MOVABLE	0x08u
#define KMM___GFP_RECLAIMABLE	0x10u
#define KMM___GFP_HIGH		0x20u
#define KMM___GFP_IO		0x40u
#define KMM___GFP_FS		0x80u
#define KMM___GFP_ZERO		0x100u
#define KMM___GFP_UNUSED	0x200u
#define KMM___GFP_DIRECT_RECLAIM 0x400u
#define KMM___GFP_KSWAPD_RECLAIM 0x800u
#define KMM___GFP_WRITE		0x1000u
#define KMM___GFP_NOWARN	0x2000u
#define KMM___GFP_RETRY_MAYFAIL	0x4000u
#define KMM___GFP_NOFAIL	0x8000u
#define KMM___GFP_NORETRY	0x10000u
#define KMM___GFP_MEMALLOC	0x20000u
#define KMM___GFP_COMP		0x40000u
#define KMM___GFP_NOMEMALLOC	0x80000u
#define KMM___GFP_HARDWALL	0x100000u
#define KMM___GFP_THISNODE	0x200000u
#define KMM___GFP_ACCOUNT	0x400000u
#define KMM___GFP_ZEROTAGS	0x800000u
#define KMM___GFP_SKIP_ZERO	0x1000000u
#define KMM___GFP_SKIP_KASAN	0x2000000u
#define KMM___GFP_NOLOCKDEP	0x4000000u
#define KMM___GFP_NO_OBJ_EXT	0x8000000u
#define KMM___GFP_BITS		28

#define KMM___GFP_RECLAIM (KMM___GFP_DIRECT_RECLAIM | KMM___GFP_KSWAPD_RECLAIM)
#define KMM_GFP_ZONEMASK \
	(KMM___GFP_DMA | KMM___GFP_HIGHMEM | KMM___GFP_DMA32 | KMM___GFP_MOVABLE)
#define KMM_GFP_MOVABLE_MASK (KMM___GFP_RECLAIMABLE | KMM___GFP_MOVABLE)
#define KMM_GFP_MOVABLE_SHIFT 3

#define KMM_GFP_ATOMIC (KMM___GFP_HIGH | KMM___GFP_KSWAPD_RECLAIM)
#define KMM_GFP_KERNEL (KMM___GFP_RECLAIM | KMM___GFP_IO | KMM___GFP_FS)
#define KMM_GFP_KERNEL_ACCOUNT (KMM_GFP_KERNEL | KMM___GFP_ACCOUNT)
/* 6.18: GFP_NOWAIT implies __GFP_NOWARN. */
#define KMM_GFP_NOWAIT (KMM___GFP_KSWAPD_RECLAIM | KMM___GFP_NOWARN)
#define KMM_GFP_NOIO (KMM___GFP_RECLAIM)
#define KMM_GFP_NOFS (KMM___GFP_RECLAIM | KMM___GFP_IO)
#define KMM_GFP_USER \
	(KMM___GFP_RECLAIM | KMM___GFP_IO | KMM___GFP_FS | KMM___GFP_HARDWALL)
#define KMM_GFP_DMA KMM___GFP_DMA
#define KMM_GFP_DMA32 KMM___GFP_DMA32
#define KMM_GFP_HIGHUSER (KMM_GFP_USER | KMM___GFP_HIGHMEM)
#define KMM_GFP_HIGHUSER_MOVABLE \
	(KMM_GFP_HIGHUSER | KMM___GFP_MOVABLE | KMM___GFP_SKIP_KASAN)
/* Transparent huge pages: the light form neither reclaims nor compacts. */
#define KMM_GFP_TRANSHUGE_LIGHT \
	((KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_COMP | KMM___GFP_NOMEMALLOC | \
	  KMM___GFP_NOWARN) & ~KMM___GFP_RECLAIM)
#define KMM_GFP_TRANSHUGE (KMM_GFP_TRANSHUGE_LIGHT | KMM___GFP_DIRECT_RECLAIM)

/* Zones, lowest first, as on x86-64 (no ZONE_HIGHMEM, no ZONE_DEVICE). */
enum kmm_zone_type {
	KMM_ZONE_DMA = 0,	/* below 16 MiB */
	KMM_ZONE_DMA32 = 1,	/* below 4 GiB */
	KMM_ZONE_NORMAL = 2,	/* the rest */
	KMM_ZONE_MOVABLE = 3,	/* movablecore= */
	KMM_MAX_NR_ZONES = 4,
};

enum kmm_migratetype {
	KMM_MIGRATE_UNMOVABLE = 0,
	KMM_MIGRATE_MOVABLE = 1,
	KMM_MIGRATE_RECLAIMABLE = 2,
	KMM_MIGRATE_PCPTYPES = 3,	/* types with per-CPU lists */
	KMM_MIGRATE_HIGHATOMIC = 3,
	KMM_MIGRATE_CMA = 4,
	KMM_MIGRATE_ISOLATE = 5,	/* free-list type only; on a pageblock it is a separate bit */
	KMM_MIGRATE_TYPES = 6,
};

/* gfp_migratetype(): Unmovable, Movable or Reclaimable. */
static inline int kmm_gfp_migratetype(kmm_gfp_t gfp)
{
	return (int)((gfp & KMM_GFP_MOVABLE_MASK) >> KMM_GFP_MOVABLE_SHIFT);
}

/* gfp_zone(): the highest zone an allocation may use. */
static inline enum kmm_zone_type kmm_gfp_zone(kmm_gfp_t gfp)
{
	if (gfp & KMM___GFP_DMA)
		return KMM_ZONE_DMA;
	if (gfp & KMM___GFP_DMA32)
		return KMM_ZONE_DMA32;
	if ((gfp & (KMM___GFP_HIGHMEM | KMM___GFP_MOVABLE)) ==
	    (KMM___GFP_HIGHMEM | KMM___GFP_MOVABLE))
		return KMM_ZONE_MOVABLE;
	return KMM_ZONE_NORMAL;
}

extern const char *const kmm_zone_names[KMM_MAX_NR_ZONES];
extern const char *const kmm_migratetype_names[KMM_MIGRATE_TYPES];

/**
 * kmm_format_gfp - write @gfp as the kernel's tracepoints (show_gfp_flags)
 * and %pGg do: "GFP_KERNEL|__GFP_ZERO", unnamed bits as "|0x200".  Zero is
 * "none", as in the traces (%pGg would print nothing).
 * Return: characters written (like scnprintf).
 */
int kmm_format_gfp(char *buf, size_t size, kmm_gfp_t gfp);

/**
 * kmm_parse_gfp - parse a %pGg / trace string back into flags: names
 * joined by '|', each a GFP_* / __GFP_* name or a number (decimal or 0x);
 * "none" and "" are 0.
 * Return: 0 or -EINVAL for an unknown name or an empty element.
 */
int kmm_parse_gfp(const char *s, kmm_gfp_t *out);

#endif /* KMM_GFP_H */
