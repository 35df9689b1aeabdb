/* SPDX-License-Identifier: MIT */
/*
 * kmm/stat.h - machine-wide event counters, one list (reset at boot).
 *
 * Per-zone counters live in struct kmm_zone (vm_stat, events); these are the
 * ones that belong to no zone: errors refused, fallbacks taken, failures by
 * reason.
 */
#ifndef KMM_STAT_H
#define KMM_STAT_H

#include <kmm/types.h>

enum kmm_stat_item {
	KMM_STAT_BAD_PAGE,		/* frees refused: bad page state */
	KMM_STAT_ALLOC_FAIL,		/* page allocations that returned NULL */
	KMM_STAT_ALLOC_FAIL_ORDER,	/* ... because order > MAX_PAGE_ORDER */
	KMM_STAT_ALLOC_FAIL_INJECTED,	/* ... because fail_page_alloc fired */
	KMM_STAT_ALLOC_SLOWPATH,	/* allocations that entered the slow path */
	KMM_STAT_HIGHATOMIC_RESERVE,	/* pageblocks reserved as HighAtomic */
	KMM_STAT_HIGHATOMIC_UNRESERVE,	/* pageblocks given back */
	KMM_NR_STAT_ITEMS
};

extern const char *const kmm_stat_names[KMM_NR_STAT_ITEMS];

/** kmm_stat_read - current value of counter @item. Context: any. */
unsigned long kmm_stat_read(enum kmm_stat_item item);

/* Internal: bump a counter. */
void kmm_stat_inc(enum kmm_stat_item item);
void kmm__stat_reset(void);

#endif /* KMM_STAT_H */
