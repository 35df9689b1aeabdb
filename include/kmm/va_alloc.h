/* SPDX-License-Identifier: MIT */
/*
 * kmm/va_alloc.h - the free kernel-VA allocator: Linux 6.18 mm/vmalloc.c's
 * free_vmap_area_root / free_vmap_area_list, as a reusable object.
 *
 * A struct kmm_va_space holds the FREE ranges of one address range
 * [start, end) as struct kmm_vmap_area objects, in an address-sorted
 * red-black tree augmented with the largest free block of every subtree,
 * and in a list in the same order.  Allocation takes the lowest address
 * the kernel's search would take (see src/core/va_alloc.c for the rule,
 * the four fit types and the diagrams); freeing merges with touching
 * neighbours.
 *
 * Locking: none inside.  The caller serialises every call on one space
 * with its own lock: in kmm that is the vmalloc layer's
 * free_vmap_area_lock.  The object cache given at init has its own
 * (leaf) lock and may be shared between spaces.
 *
 * Errors: bad arguments, double frees and overlaps are refused with
 * -EINVAL and one log line, leaving the space exactly as it was; running
 * out of address space or of metadata is -ENOMEM, also leaving it as it
 * was.
 */
#ifndef KMM_VA_ALLOC_H
#define KMM_VA_ALLOC_H

#include <kmm/objcache.h>
#include <kmm/rbtree.h>
#include <kmm/types.h>

struct kmm_vm_struct;

/*
 * One range of kernel VA.  In a kmm_va_space it is a free range and
 * @subtree_max_size is the largest va_end - va_start in its subtree of the
 * free tree; when the vmalloc layer hands it out as a busy area, @vm says
 * what it is used for.  Same layout and roles as the kernel's vmap_area.
 */
struct kmm_vmap_area {
	unsigned long va_start;
	unsigned long va_end;

	struct kmm_rb_node rb_node;	/* address-sorted tree */
	struct kmm_list_head list;	/* address-sorted list */

	union {
		unsigned long subtree_max_size;	/* in the free tree */
		struct kmm_vm_struct *vm;	/* busy: its vm_struct */
	};
	unsigned long flags;		/* the owner's (e.g. VMAP_RAM) */
};

static inline unsigned long kmm_va_size(const struct kmm_vmap_area *va)
{
	return va->va_end - va->va_start;
}

/* How an allocation was cut out of the free area that held it. */
enum kmm_va_fit_type {
	KMM_VA_NOTHING_FIT = 0,
	KMM_VA_FL_FIT,		/* full: the whole area */
	KMM_VA_LE_FIT,		/* left edge */
	KMM_VA_RE_FIT,		/* right edge */
	KMM_VA_NE_FIT,		/* no edge: the area splits in two */
	KMM_VA_NR_FIT_TYPES
};

struct kmm_va_space {
	struct kmm_rb_root root;	/* free areas by address, augmented */
	struct kmm_list_head list;	/* free areas by address */
	unsigned long start, end;	/* the managed range [start, end) */
	struct kmm_objcache *cache;	/* struct kmm_vmap_area objects */
	unsigned long nr_free_areas;
	/* Statistics. */
	unsigned long nr_fit[KMM_VA_NR_FIT_TYPES];	/* allocations by fit */
	enum kmm_va_fit_type last_fit;	/* fit of the last successful alloc */
};

/**
 * kmm_va_space_init - a space whose whole range [@start, @end) is free.
 * @start, @end: page aligned, @start < @end.
 * @cache: initialised with an object size of at least
 *   sizeof(struct kmm_vmap_area); every area object of the space comes
 *   from it and goes back to it.
 * Context: the space is not yet shared.
 * Return: 0, -EINVAL, or -ENOMEM (no object for the first area).
 */
int kmm_va_space_init(struct kmm_va_space *space, unsigned long start,
		      unsigned long end, struct kmm_objcache *cache);

/**
 * kmm_va_space_destroy - free every area object.  Busy ranges handed out
 * are simply forgotten.  Context: nothing else uses the space.
 */
void kmm_va_space_destroy(struct kmm_va_space *space);

/**
 * kmm_va_alloc - take [*@addr, *@addr + @size) out of the free space.
 * @size: bytes, a non-zero multiple of the page size.
 * @align: a power of two (any, 1 included).
 * @vstart, @vend: the result lies in [@vstart, @vend); @vstart < @vend,
 *   @vstart page aligned (either may lie outside the space).
 * @addr: out: the address, only written on success.
 *
 * The result is the one Linux 6.18's __alloc_vmap_area() would return for
 * the same free tree: the lowest free area found by its augmented search
 * for a block of @size (of @size + @align - 1 when @align > PAGE_SIZE,
 * unless [@vstart, @vend) is exactly @size long), at the lowest @align
 * boundary inside it at or above @vstart.  If that range would end beyond
 * @vend the call fails: the kernel does not look further either.
 *
 * Context: the caller's free_vmap_area_lock; may allocate one area object
 * (a no-edge split).  O(log n).
 * Return: 0; -EINVAL (bad size, align or window; nothing logged: these are
 * caller bugs the kernel BUG()s on, and fuzzers hit them on purpose);
 * -ENOMEM (no fit, or no object for a split).  On error nothing changed.
 */
int kmm_va_alloc(struct kmm_va_space *space, unsigned long size,
		 unsigned long align, unsigned long vstart, unsigned long vend,
		 unsigned long *addr);

/**
 * kmm_va_alloc_oracle - what kmm_va_alloc() would return, found by a linear
 * scan of the sorted list instead of the augmented descent.  Changes
 * nothing.  It uses the tree only for its shape (child links; never the
 * subtree_max_size values), because the kernel's result depends on the
 * shape: an area smaller than the search length is taken only if it is
 * the root or its subtree holds an area of at least the search length.
 * It cannot predict an object-allocation failure.
 * Context: as kmm_va_alloc().  O(n) typical, O(n log n) worst case.
 * Return: as kmm_va_alloc().
 */
int kmm_va_alloc_oracle(struct kmm_va_space *space, unsigned long size,
			unsigned long align, unsigned long vstart,
			unsigned long vend, unsigned long *addr);

/**
 * kmm_va_reserve - take exactly [@addr, @addr + @size) out of the free space
 * (the kernel's va_clip() on a known range, as used for boot-time areas).
 * Context: the caller's lock; may allocate one area object.
 * Return: 0; -EINVAL (zero, misaligned, wrapping or outside [start, end));
 * -EBUSY (not entirely free); -ENOMEM (no object for a split).
 */
int kmm_va_reserve(struct kmm_va_space *space, unsigned long addr,
		   unsigned long size);

/**
 * kmm_va_free - give [@addr, @addr + @size) back, merging with the free
 * neighbours it touches (the kernel's merge_or_add_vmap_area()).
 * Context: the caller's lock; allocates an area object when nothing
 * merges.
 * Return: 0; -EINVAL (size 0, not page aligned, wrapping, outside
 * [start, end), or overlapping a free area: a double free; logged once,
 * nothing changed); -ENOMEM (no object; nothing changed).
 */
int kmm_va_free(struct kmm_va_space *space, unsigned long addr,
		unsigned long size);

/**
 * kmm_va_free_area - like kmm_va_free() for the range of @va, an object of
 * the space's cache that the caller owns (a busy area being retired): on
 * success the space owns @va (inserted, or merged and freed); on -EINVAL
 * it is still the caller's and nothing changed.  Never -ENOMEM.
 */
int kmm_va_free_area(struct kmm_va_space *space, struct kmm_vmap_area *va);

/**
 * kmm_va_find_free - the free area containing @addr, or NULL.  O(log n).
 */
struct kmm_vmap_area *kmm_va_find_free(struct kmm_va_space *space,
				       unsigned long addr);

/**
 * kmm_va_largest_free - the largest free area's size (0 when none): the
 * root's subtree_max_size.  O(1).
 */
unsigned long kmm_va_largest_free(const struct kmm_va_space *space);

/**
 * kmm_va_validate - check everything: red-black properties and parent
 * links; every subtree_max_size equal to max(own size, children's) as
 * recomputed; the in-order tree equal to the list; areas non-empty, page
 * aligned, inside [start, end), sorted, non-overlapping and never
 * touching (touching free areas must have been merged); nr_free_areas.
 * Context: the caller's lock; reads only.  O(n).
 * Return: 0, or -EINVAL with a log line naming the offending area.
 */
int kmm_va_validate(struct kmm_va_space *space);

/* Iterate over the free areas in address order (the caller's lock held). */
#define kmm_va_for_each_free(va, space)					\
	for ((va) = kmm_list_entry((space)->list.next,			\
				   struct kmm_vmap_area, list);		\
	     &(va)->list != &(space)->list;				\
	     (va) = kmm_list_entry((va)->list.next,			\
				   struct kmm_vmap_area, list))

#endif /* KMM_VA_ALLOC_H */
