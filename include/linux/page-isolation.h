/* SPDX-License-Identifier: MIT */
/*
 * linux/page-isolation.h - kmm compatibility header: page isolation under
 * the kernel's names (6.18 signatures).  See <kmm/migrate.h>.
 */
#ifndef KMM_LINUX_PAGE_ISOLATION_H
#define KMM_LINUX_PAGE_ISOLATION_H

#include <kmm/migrate.h>

#define PB_ISOLATE_MODE_MEM_OFFLINE KMM_PB_ISOLATE_MODE_MEM_OFFLINE
#define PB_ISOLATE_MODE_CMA_ALLOC KMM_PB_ISOLATE_MODE_CMA_ALLOC
#define PB_ISOLATE_MODE_OTHER KMM_PB_ISOLATE_MODE_OTHER
#define pb_isolate_mode kmm_pb_isolate_mode

static inline int start_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn,
					   enum kmm_pb_isolate_mode mode)
{
	return kmm_start_isolate_page_range(start_pfn, end_pfn, mode);
}

static inline void undo_isolate_page_range(unsigned long start_pfn, unsigned long end_pfn)
{
	kmm_undo_isolate_page_range(start_pfn, end_pfn);
}

static inline int test_pages_isolated(unsigned long start_pfn, unsigned long end_pfn,
				      enum kmm_pb_isolate_mode mode)
{
	return kmm_test_pages_isolated(start_pfn, end_pfn, mode);
}

#endif /* KMM_LINUX_PAGE_ISOLATION_H */
