/* SPDX-License-Identifier: MIT */
/*
 * kmm/types.h - basic types shared by the core, the port and users.
 *
 * Glossary (used throughout kmm):
 *   page frame  - 4 KiB of physical memory, named by its PFN.  In the hosted
 *                 port PFN n of node k is byte n * PAGE_SIZE of that node's
 *                 memfd.
 *   struct page - the metadata of one page frame (one per frame, in the
 *                 memmap).
 *   block       - 2^order contiguous page frames handled as one unit by the
 *                 buddy allocator; its first page is the head.
 *   pageblock   - 2^pageblock_order (512) frames sharing one migratetype.
 *
 * This header is freestanding: it only uses <stddef.h>, <stdint.h>,
 * <stdbool.h> and <stdatomic.h>.
 */
#ifndef KMM_TYPES_H
#define KMM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMM_PAGE_SHIFT 12
#define KMM_PAGE_SIZE (1UL << KMM_PAGE_SHIFT)
#define KMM_PAGE_MASK (~(KMM_PAGE_SIZE - 1))

/* Linux errno numbers: the core returns -KMM_Exxx, equal to -Exxx on Linux. */
#define KMM_EPERM 1
#define KMM_ENOENT 2
#define KMM_ENXIO 6
#define KMM_EAGAIN 11
#define KMM_ENOMEM 12
#define KMM_EFAULT 14
#define KMM_EBUSY 16
#define KMM_EEXIST 17
#define KMM_ENODEV 19
#define KMM_EINVAL 22
#define KMM_ENOSPC 28
#define KMM_ERANGE 34
#define KMM_ENOSYS 38
#define KMM_EOVERFLOW 75

#define KMM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KMM_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define KMM_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define KMM_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define KMM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KMM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define KMM_CLAMP(v, lo, hi) KMM_MIN(KMM_MAX(v, lo), hi)
#define kmm_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define kmm_likely(x) __builtin_expect(!!(x), 1)
#define kmm_unlikely(x) __builtin_expect(!!(x), 0)

/* Doubly linked circular list, the kernel's list_head. */
struct kmm_list_head {
	struct kmm_list_head *next, *prev;
};

#define KMM_LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void kmm_list_init(struct kmm_list_head *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool kmm_list_empty(const struct kmm_list_head *h)
{
	return h->next == h;
}

static inline void kmm__list_insert(struct kmm_list_head *n,
				    struct kmm_list_head *prev,
				    struct kmm_list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

/* Insert @n right after @h (stack order). */
static inline void kmm_list_add(struct kmm_list_head *n, struct kmm_list_head *h)
{
	kmm__list_insert(n, h, h->next);
}

/* Insert @n right before @h (queue order). */
static inline void kmm_list_add_tail(struct kmm_list_head *n,
				     struct kmm_list_head *h)
{
	kmm__list_insert(n, h->prev, h);
}

static inline void kmm_list_del(struct kmm_list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	e->next = e;
	e->prev = e;
}

/* Move every entry of @list to the tail of @head; @list ends empty. */
static inline void kmm_list_splice_tail(struct kmm_list_head *list, struct kmm_list_head *head)
{
	if (kmm_list_empty(list))
		return;
	list->next->prev = head->prev;
	head->prev->next = list->next;
	list->prev->next = head;
	head->prev = list->prev;
	kmm_list_init(list);
}

#define kmm_list_entry(ptr, type, member) kmm_container_of(ptr, type, member)
#define kmm_list_first_entry(h, type, member) \
	kmm_list_entry((h)->next, type, member)
#define kmm_list_last_entry(h, type, member) \
	kmm_list_entry((h)->prev, type, member)
#define kmm_list_for_each(pos, h) \
	for ((pos) = (h)->next; (pos) != (h); (pos) = (pos)->next)

static inline unsigned kmm_fls64(uint64_t x)
{
	return x ? 64 - (unsigned)__builtin_clzll(x) : 0;
}

static inline unsigned kmm_ilog2(uint64_t x)
{
	return kmm_fls64(x) - 1;
}

static inline bool kmm_is_power_of_2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static inline uint64_t kmm_rounddown_pow_of_two(uint64_t x)
{
	return x ? 1ULL << kmm_ilog2(x) : 0;
}

static inline uint64_t kmm_roundup_pow_of_two(uint64_t x)
{
	return x <= 1 ? 1 : 1ULL << kmm_fls64(x - 1);
}

#endif /* KMM_TYPES_H */
