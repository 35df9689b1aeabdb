/* SPDX-License-Identifier: MIT */
/*
 * linux/mm_types.h - kmm compatibility header: the kernel's name for the
 * page frame descriptor.
 *
 * Kernel code says `struct page`; kmm's core calls it `struct kmm_page`
 * (prefixed so a userspace program can link kmm without name clashes).
 * This header makes the kernel spelling work with
 *
 *	#define page kmm_page
 *
 * so `struct page *` *is* `struct kmm_page *`: pointers pass to kmm_*
 * functions and back without casts, arrays of them (`struct page **`, as
 * vm_map_ram() takes) are the same type, and pointer arithmetic is the
 * memmap's.
 *
 * Trade-off, chosen over the alternatives (a distinct `struct page` that
 * wraps kmm_page and is cast at every call, which breaks `struct page **`
 * arrays under strict aliasing; or renaming the core's struct, which leaks
 * the kernel name into every program):
 *   - The macro renames *every* token `page` after this header, not only
 *     the struct tag.  Inside one translation unit that is harmless: a
 *     variable or parameter called `page` simply becomes `kmm_page`
 *     everywhere (tags and ordinary identifiers live in separate name
 *     spaces, so `struct kmm_page *kmm_page` is valid C).
 *   - It is visible across translation units only for names with linkage:
 *     a global function or variable named `page` defined in a file that
 *     includes this header is exported as `kmm_page`.  Do not name globals
 *     `page`.
 *   - kmm's own headers must not have a struct member or macro named
 *     `page` that is used after this header (the member would be renamed
 *     at the use but not at the declaration when the kmm header came
 *     first).  kmm headers use `pages`, `pg`, ... instead.
 *   - A debugger shows `struct kmm_page`.
 * Define KMM_NO_PAGE_ALIAS before including to get no macro; then use
 * `struct kmm_page` directly.
 */
#ifndef KMM_LINUX_MM_TYPES_H
#define KMM_LINUX_MM_TYPES_H

#include <kmm/mmzone.h>

#if !defined(KMM_NO_PAGE_ALIAS) && !defined(page)
#define page kmm_page
#endif

#endif /* KMM_LINUX_MM_TYPES_H */
