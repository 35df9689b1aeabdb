/* SPDX-License-Identifier: MIT */
/*
 * stat.c - machine-wide event counters (see kmm/stat.h).
 * Locks: none; relaxed atomics.
 */
#include <stdatomic.h>

#include <kmm/stat.h>

const char *const kmm_stat_names[KMM_NR_STAT_ITEMS] = {
	[KMM_STAT_BAD_PAGE] = "bad_page",
	[KMM_STAT_ALLOC_FAIL] = "alloc_fail",
	[KMM_STAT_ALLOC_FAIL_ORDER] = "alloc_fail_order",
	[KMM_STAT_ALLOC_FAIL_INJECTED] = "alloc_fail_injected",
	[KMM_STAT_ALLOC_SLOWPATH] = "alloc_slowpath",
	[KMM_STAT_HIGHATOMIC_RESERVE] = "highatomic_reserve",
	[KMM_STAT_HIGHATOMIC_UNRESERVE] = "highatomic_unreserve",
};

static atomic_ulong stats[KMM_NR_STAT_ITEMS];

unsigned long kmm_stat_read(enum kmm_stat_item item)
{
	return atomic_load_explicit(&stats[item], memory_order_relaxed);
}

void kmm_stat_inc(enum kmm_stat_item item)
{
	atomic_fetch_add_explicit(&stats[item], 1, memory_order_relaxed);
}

void kmm__stat_reset(void)
{
	int i;

	for (i = 0; i < KMM_NR_STAT_ITEMS; i++)
		atomic_store(&stats[i], 0);
}
