/* SPDX-License-Identifier: MIT */
/* kmm/kmm.h - everything of kmm's public API. */
#ifndef KMM_KMM_H
#define KMM_KMM_H

#include <kmm/types.h>
#include <kmm/port.h>
#include <kmm/gfp.h>
#include <kmm/mmzone.h>
#include <kmm/boot.h>
#include <kmm/page_alloc.h>
#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/report.h>
#include <kmm/stat.h>
#include <kmm/objcache.h>
#include <kmm/rbtree.h>
#include <kmm/va_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>
#include <kmm/kvfree_rcu.h>

#endif
