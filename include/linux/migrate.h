/* SPDX-License-Identifier: MIT */
/*
 * linux/migrate.h - kmm compatibility header: page migration under the
 * kernel's names.  kmm migrates pages, not folios: new_folio_t and
 * free_folio_t take and return struct page.  See <kmm/migrate.h>.
 */
#ifndef KMM_LINUX_MIGRATE_H
#define KMM_LINUX_MIGRATE_H

#include <kmm/migrate.h>

#define MIGRATE_ASYNC KMM_MIGRATE_ASYNC
#define MIGRATE_SYNC_LIGHT KMM_MIGRATE_SYNC_LIGHT
#define MIGRATE_SYNC KMM_MIGRATE_SYNC
#define MR_COMPACTION KMM_MR_COMPACTION
#define MR_CONTIG_RANGE KMM_MR_CONTIG_RANGE
#define MR_SYSCALL KMM_MR_SYSCALL
#define migrate_mode kmm_migrate_mode

typedef kmm_new_page_t new_folio_t;
typedef kmm_free_page_t free_folio_t;

static inline int migrate_pages(struct kmm_list_head *from, new_folio_t get_new,
				free_folio_t put_new, unsigned long private,
				enum kmm_migrate_mode mode, int reason, unsigned int *ret_succeeded)
{
	return kmm_migrate_pages(from, get_new, put_new, private, mode, reason, ret_succeeded);
}

static inline void putback_movable_pages(struct kmm_list_head *l)
{
	kmm_putback_movable_pages(l);
}

#endif /* KMM_LINUX_MIGRATE_H */
