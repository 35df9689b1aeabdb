/* SPDX-License-Identifier: MIT */
/*
 * va_alloc.c - the free kernel-VA allocator (Linux 6.18 mm/vmalloc.c's
 * free_vmap_area_root / free_vmap_area_list; see kmm/va_alloc.h).
 *
 * Data
 *   Every free range is a struct kmm_vmap_area [va_start, va_end), kept
 *   twice: in a red-black tree ordered by address and in a list in the same
 *   order (the list gives O(1) neighbours for merging and a cheap scan for
 *   the oracle).  Each tree node carries subtree_max_size, the size of the
 *   largest free area in its subtree, so a whole subtree can be skipped
 *   when it cannot hold the request.
 *
 * Invariants (checked by kmm_va_validate())
 *   - areas are non-empty, page aligned, inside [start, end);
 *   - sorted, non-overlapping and never touching: a free neighbour that
 *     touches is always merged (so every gap between two areas is busy);
 *   - tree in-order == list order; red-black properties hold;
 *   - subtree_max_size == max(own size, children's subtree_max_size);
 *   - nr_free_areas == number of areas.
 *
 * Allocation: which free area (the kernel's find_vmap_lowest_match())
 *   The search length is
 *       length = size + align - 1   if align > PAGE_SIZE and the window
 *                                   [vstart, vend) is not exactly size long
 *       length = size               otherwise
 *   (an area of size + align - 1 bytes always holds an aligned fit, so the
 *   augmented values can prune with it; this is "adjust_search_size").
 *
 *   The walk is an in-order traversal that enters a child subtree only if
 *   its subtree_max_size >= length (the left one also only when vstart <
 *   the node's start), and stops at the first node that really fits:
 *       nva = ALIGN(max(va_start, vstart), align), nva + size <= va_end
 *   (the kernel's is_within_this_va()).  The node itself is tested for a
 *   real fit, not against length, so an area SMALLER than length can win,
 *   but only where the walk passes by it: the root, or a node whose subtree
 *   holds an area of at least length.  The answer therefore depends on the
 *   tree's shape, not only on the set of free areas; the rbtree rebalances
 *   exactly like the kernel's so that shapes, and answers, agree.  Example
 *   (align 8K, size 4K, length 12K-1): free areas A = [4K, 12K) (fits at
 *   8K, but smaller than length) and F = [64K, 128K).  With A at the root
 *   the answer is 8K; with F at the root and A its left child, 64K.
 *
 *   The kernel does this walk iteratively, climbing back to a parent and
 *   moving vstart past it to avoid re-entering a subtree; the in-order
 *   walk with parent pointers below visits the same nodes in the same
 *   order without re-entering, so it returns the same area.
 *
 *   Then, with nva as above, if nva + size > vend the allocation fails:
 *   the kernel does not try a higher area either.
 *
 * Allocation: cutting it out (the kernel's va_clip())
 *
 *   FL_FIT - the request is the whole free area: unlink and free it.
 *     |<--------- free VA --------->|
 *     |<--------- request --------->|
 *
 *   LE_FIT - the request starts at the area's start: move va_start up.
 *     |<--------- free VA --------->|
 *     |<- request ->|<--- stays --->|
 *
 *   RE_FIT - the request ends at the area's end: move va_end down.
 *     |<--------- free VA --------->|
 *     |<--- stays --->|<- request ->|
 *
 *   NE_FIT - neither edge: the area splits; the left part needs a new
 *   object (taken before anything changes, so -ENOMEM leaves the tree
 *   as it was).
 *     |<--------- free VA --------->|
 *     |<- new ->|<- request ->|<VA>|
 *
 *   In every case but FL the shrunk area's subtree_max_size is propagated
 *   towards the root; the NE left part is linked just before the area.
 *
 * Freeing (the kernel's merge_or_add_vmap_area())
 *   Find the insertion point (refusing any overlap, which the descent
 *   detects: an overlapping area always lies on the search path).  The
 *   in-order neighbours are then the list entries around that point.
 *     |<--- prev --->|<-- freed -->|<--- next --->|
 *   If next starts at the freed end it absorbs the range (va_start moves
 *   down).  If prev ends at the freed start it absorbs the range too; when
 *   both touch, next is unlinked first and prev extended over all three.
 *   Otherwise the range is linked as a new area.  Then subtree_max_size is
 *   propagated from the area that grew.
 *
 * Locking: none here; the caller holds free_vmap_area_lock.  The object
 *   cache's lock is a leaf taken inside.
 *
 * Cost: free and reserve O(log n).  alloc O(log n) in practice: the walk
 *   visits each node at most once and only enters subtrees that hold a
 *   block of the search length; the only subtrees it enters in vain are
 *   those straddling vstart (where large blocks may lie below it) or whose
 *   only large block is the one containing vstart.  validate O(n); the
 *   oracle O(n) typical.
 */
#include <kmm/lib.h>
#include <kmm/va_alloc.h>

#define va_entry(n) kmm_rb_entry(n, struct kmm_vmap_area, rb_node)

static inline unsigned long va_own_size(const struct kmm_vmap_area *va)
{
	return va->va_end - va->va_start;
}

KMM_RB_DECLARE_AUGMENT_MAX(static, va_aug_cb, struct kmm_vmap_area, rb_node,
			   unsigned long, subtree_max_size, va_own_size);

static inline unsigned long subtree_max(const struct kmm_rb_node *n)
{
	return n ? va_entry(n)->subtree_max_size : 0;
}

/* Recompute @va's subtree_max_size and its ancestors' after @va changed. */
static inline void va_propagate(struct kmm_vmap_area *va)
{
	va_aug_cb_propagate(&va->rb_node, NULL);
}

/* ---- tree and list primitives ------------------------------------------- */

/*
 * Where a free range [@start, @end) would be linked.  Return the link, with
 * *@parent set, or NULL with *@overlap set to a free area it overlaps.
 */
static struct kmm_rb_node **va_find_link(struct kmm_va_space *space,
					 unsigned long start, unsigned long end,
					 struct kmm_rb_node **parent,
					 struct kmm_vmap_area **overlap)
{
	struct kmm_rb_node **link = &space->root.rb_node;

	*parent = NULL;
	while (*link) {
		struct kmm_vmap_area *tmp = va_entry(*link);

		*parent = *link;
		if (end <= tmp->va_start) {
			link = &(*link)->rb_left;
		} else if (start >= tmp->va_end) {
			link = &(*link)->rb_right;
		} else {
			*overlap = tmp;
			return NULL;
		}
	}
	return link;
}

/* The list position just after the link (the in-order successor's entry,
 * or the list head). */
static struct kmm_list_head *va_next_at_link(struct kmm_va_space *space,
					     struct kmm_rb_node *parent,
					     struct kmm_rb_node **link)
{
	if (!parent)
		return &space->list;
	if (link == &parent->rb_right)
		return va_entry(parent)->list.next;
	return &va_entry(parent)->list;
}

/* Link @va (its range set) at @link under @parent, in tree and list. */
static void va_link(struct kmm_va_space *space, struct kmm_vmap_area *va,
		    struct kmm_rb_node *parent, struct kmm_rb_node **link)
{
	va->subtree_max_size = va_own_size(va);
	kmm_rb_link_node(&va->rb_node, parent, link);
	/* Rotations move correct values only: account for the leaf first. */
	if (parent)
		va_aug_cb_propagate(parent, NULL);
	kmm_rb_insert_augmented(&va->rb_node, &space->root, &va_aug_cb);
	kmm_list_add_tail(&va->list, va_next_at_link(space, parent, link));
	space->nr_free_areas++;
}

static void va_unlink(struct kmm_va_space *space, struct kmm_vmap_area *va)
{
	kmm_rb_erase_augmented(&va->rb_node, &space->root, &va_aug_cb);
	kmm_rb_clear_node(&va->rb_node);
	kmm_list_del(&va->list);
	space->nr_free_areas--;
}

/* ---- the search --------------------------------------------------------- */

/*
 * The kernel's is_within_this_va(): does [nva, nva + size) fit in @va, with
 * nva = ALIGN(max(va_start, vstart), align)?  Sets *@nva when it does.
 */
static bool va_fits(const struct kmm_vmap_area *va, unsigned long size,
		    unsigned long align, unsigned long vstart,
		    unsigned long *nva)
{
	unsigned long base = va->va_start > vstart ? va->va_start : vstart;
	unsigned long a = (base + (align - 1)) & ~(align - 1);

	if (a < base || a + size < a)	/* wrapped around */
		return false;
	if (a + size > va->va_end)
		return false;
	*nva = a;
	return true;
}

/* Validate a request and compute the search length.  0 or -errno. */
static int va_request(unsigned long size, unsigned long align,
		      unsigned long vstart, unsigned long vend,
		      unsigned long *length)
{
	/* A vstart inside a page would hand out (and leave behind) ranges
	 * that are not page aligned; the kernel's callers never pass one. */
	if (size == 0 || !KMM_IS_ALIGNED(size, KMM_PAGE_SIZE) ||
	    !kmm_is_power_of_2(align) || vstart >= vend ||
	    !KMM_IS_ALIGNED(vstart, KMM_PAGE_SIZE))
		return -KMM_EINVAL;
	if (align <= KMM_PAGE_SIZE || vend - vstart == size) {
		*length = size;
	} else {
		if (size + (align - 1) < size)
			return -KMM_ENOMEM;	/* no area can be that big */
		*length = size + (align - 1);
	}
	return 0;
}

/*
 * The lowest free area the kernel's walk would pick (see the top of the
 * file), or NULL.  In-order traversal of the subtrees whose maximum is at
 * least @length; each node is visited at most once.
 */
static struct kmm_vmap_area *va_find_lowest(struct kmm_va_space *space,
					    unsigned long size,
					    unsigned long align,
					    unsigned long vstart,
					    unsigned long length)
{
	struct kmm_rb_node *n = space->root.rb_node, *p;
	unsigned long nva;

	if (!n)
		return NULL;
	for (;;) {
		/* Descend from n: left while useful, else n, else right. */
		for (;;) {
			struct kmm_vmap_area *va = va_entry(n);

			if (subtree_max(n->rb_left) >= length &&
			    vstart < va->va_start) {
				n = n->rb_left;
				continue;
			}
			if (va_fits(va, size, align, vstart, &nva))
				return va;
			if (subtree_max(n->rb_right) >= length) {
				n = n->rb_right;
				continue;
			}
			break;
		}
		/*
		 * n's subtree is exhausted.  Climb to the nearest ancestor we
		 * reached from its left: it and its right subtree come next
		 * in address order.  Ancestors reached from the right are
		 * done already.
		 */
		for (;;) {
			bool from_left;

			p = kmm_rb_parent(n);
			if (!p)
				return NULL;
			from_left = p->rb_left == n;
			n = p;
			if (!from_left)
				continue;
			if (va_fits(va_entry(n), size, align, vstart, &nva))
				return va_entry(n);
			if (subtree_max(n->rb_right) >= length) {
				n = n->rb_right;
				break;
			}
		}
	}
}

static enum kmm_va_fit_type va_classify(const struct kmm_vmap_area *va,
					unsigned long nva, unsigned long size)
{
	if (nva < va->va_start || nva + size > va->va_end)
		return KMM_VA_NOTHING_FIT;
	if (nva == va->va_start)
		return nva + size == va->va_end ? KMM_VA_FL_FIT : KMM_VA_LE_FIT;
	if (nva + size == va->va_end)
		return KMM_VA_RE_FIT;
	return KMM_VA_NE_FIT;
}

/*
 * Cut [@nva, @nva + @size) out of free area @va (the kernel's va_clip()).
 * Return: the fit type, or KMM_VA_NOTHING_FIT with -ENOMEM in *@err when
 * the NE split had no object (nothing changed).
 */
static enum kmm_va_fit_type va_clip(struct kmm_va_space *space,
				    struct kmm_vmap_area *va, unsigned long nva,
				    unsigned long size, int *err)
{
	enum kmm_va_fit_type type = va_classify(va, nva, size);
	struct kmm_vmap_area *lva;
	struct kmm_rb_node *parent, **link;

	*err = 0;
	switch (type) {
	case KMM_VA_FL_FIT:
		va_unlink(space, va);
		kmm_objcache_free(space->cache, va);
		break;
	case KMM_VA_LE_FIT:
		va->va_start += size;
		va_propagate(va);
		break;
	case KMM_VA_RE_FIT:
		va->va_end = nva;
		va_propagate(va);
		break;
	case KMM_VA_NE_FIT:
		lva = kmm_objcache_alloc(space->cache);
		if (!lva) {
			*err = -KMM_ENOMEM;
			return KMM_VA_NOTHING_FIT;
		}
		lva->va_start = va->va_start;
		lva->va_end = nva;
		va->va_start = nva + size;
		va_propagate(va);
		/* lva is va's in-order predecessor: the rightmost node of
		 * va's left subtree, or va's left child. */
		parent = &va->rb_node;
		link = &parent->rb_left;
		while (*link) {
			parent = *link;
			link = &parent->rb_right;
		}
		va_link(space, lva, parent, link);
		break;
	default:
		*err = -KMM_EINVAL;	/* cannot happen: the caller checked */
		return KMM_VA_NOTHING_FIT;
	}
	space->nr_fit[type]++;
	space->last_fit = type;
	return type;
}

/* ---- public API --------------------------------------------------------- */

int kmm_va_space_init(struct kmm_va_space *space, unsigned long start,
		      unsigned long end, struct kmm_objcache *cache)
{
	struct kmm_vmap_area *va;

	if (!space || !cache || start >= end ||
	    !KMM_IS_ALIGNED(start, KMM_PAGE_SIZE) ||
	    !KMM_IS_ALIGNED(end, KMM_PAGE_SIZE) ||
	    cache->objsize < sizeof(struct kmm_vmap_area))
		return -KMM_EINVAL;

	kmm_memset(space, 0, sizeof(*space));
	space->root = KMM_RB_ROOT;
	kmm_list_init(&space->list);
	space->start = start;
	space->end = end;
	space->cache = cache;

	va = kmm_objcache_alloc(cache);
	if (!va)
		return -KMM_ENOMEM;
	va->va_start = start;
	va->va_end = end;
	va_link(space, va, NULL, &space->root.rb_node);
	return 0;
}

void kmm_va_space_destroy(struct kmm_va_space *space)
{
	struct kmm_list_head *pos = space->list.next, *next;

	while (pos != &space->list) {
		next = pos->next;
		kmm_objcache_free(space->cache,
				  kmm_list_entry(pos, struct kmm_vmap_area, list));
		pos = next;
	}
	kmm_list_init(&space->list);
	space->root = KMM_RB_ROOT;
	space->nr_free_areas = 0;
}

int kmm_va_alloc(struct kmm_va_space *space, unsigned long size,
		 unsigned long align, unsigned long vstart, unsigned long vend,
		 unsigned long *addr)
{
	struct kmm_vmap_area *va;
	unsigned long length, nva;
	int ret;

	ret = va_request(size, align, vstart, vend, &length);
	if (ret)
		return ret;
	va = va_find_lowest(space, size, align, vstart, length);
	if (!va)
		return -KMM_ENOMEM;
	if (!va_fits(va, size, align, vstart, &nva) || nva + size > vend)
		return -KMM_ENOMEM;	/* the "vend" restriction */
	if (va_clip(space, va, nva, size, &ret) == KMM_VA_NOTHING_FIT)
		return ret;
	*addr = nva;
	return 0;
}

/* Largest free area in @va's subtree, from the list (not the values). */
static unsigned long oracle_subtree_max(struct kmm_va_space *space,
					struct kmm_vmap_area *va)
{
	struct kmm_rb_node *lo = &va->rb_node, *hi = &va->rb_node;
	struct kmm_vmap_area *first, *last, *it;
	unsigned long m = 0;

	while (lo->rb_left)
		lo = lo->rb_left;
	while (hi->rb_right)
		hi = hi->rb_right;
	first = va_entry(lo);
	last = va_entry(hi);
	for (it = first;; it = kmm_list_entry(it->list.next,
					       struct kmm_vmap_area, list)) {
		if (va_own_size(it) > m)
			m = va_own_size(it);
		if (it == last || it->list.next == &space->list)
			break;
	}
	return m;
}

int kmm_va_alloc_oracle(struct kmm_va_space *space, unsigned long size,
			unsigned long align, unsigned long vstart,
			unsigned long vend, unsigned long *addr)
{
	struct kmm_vmap_area *va;
	unsigned long length, nva;
	int ret;

	ret = va_request(size, align, vstart, vend, &length);
	if (ret)
		return ret;
	kmm_va_for_each_free(va, space) {
		if (!va_fits(va, size, align, vstart, &nva))
			continue;
		if (va_own_size(va) >= length ||
		    &va->rb_node == space->root.rb_node ||
		    oracle_subtree_max(space, va) >= length) {
			if (nva + size > vend)
				return -KMM_ENOMEM;
			*addr = nva;
			return 0;
		}
	}
	return -KMM_ENOMEM;
}

/* Check a range given back or reserved.  0 or -EINVAL (logged). */
static int va_check_range(struct kmm_va_space *space, const char *what,
			  unsigned long addr, unsigned long size)
{
	if (size == 0 || !KMM_IS_ALIGNED(addr, KMM_PAGE_SIZE) ||
	    !KMM_IS_ALIGNED(size, KMM_PAGE_SIZE) || addr + size < addr ||
	    addr < space->start || addr + size > space->end) {
		kmm_pr_err("va_alloc: refusing to %s [%#lx, %#lx) (size %#lx): empty, misaligned or outside [%#lx, %#lx)",
			   what, addr, addr + size, size, space->start,
			   space->end);
		return -KMM_EINVAL;
	}
	return 0;
}

/*
 * Free [@start, @end), merging.  @va: an object to use if the range must
 * be linked on its own; NULL to allocate one then.  On success the space
 * owns @va.  On failure nothing changed and @va is still the caller's.
 */
static int va_merge_or_add(struct kmm_va_space *space, unsigned long start,
			   unsigned long end, struct kmm_vmap_area *va)
{
	struct kmm_vmap_area *overlap = NULL, *next = NULL, *prev = NULL;
	struct kmm_rb_node *parent, **link;
	struct kmm_list_head *pos;
	bool merge_next, merge_prev;

	link = va_find_link(space, start, end, &parent, &overlap);
	if (!link) {
		kmm_pr_err("va_alloc: refusing to free [%#lx, %#lx): overlaps free area [%#lx, %#lx) (double free?)",
			   start, end, overlap->va_start, overlap->va_end);
		return -KMM_EINVAL;
	}
	pos = va_next_at_link(space, parent, link);
	if (pos != &space->list)
		next = kmm_list_entry(pos, struct kmm_vmap_area, list);
	if (pos->prev != &space->list)
		prev = kmm_list_entry(pos->prev, struct kmm_vmap_area, list);
	merge_next = next && next->va_start == end;
	merge_prev = prev && prev->va_end == start;

	if (merge_next && merge_prev) {
		/*
		 * Unlink next before growing prev, as the kernel does (the
		 * shape after the erase must be the kernel's).  prev then
		 * covers prev + freed + next.
		 */
		unsigned long next_end = next->va_end;

		va_unlink(space, next);
		kmm_objcache_free(space->cache, next);
		prev->va_end = next_end;
		va_propagate(prev);
	} else if (merge_next) {
		next->va_start = start;
		va_propagate(next);
	} else if (merge_prev) {
		prev->va_end = end;
		va_propagate(prev);
	} else {
		if (!va) {
			va = kmm_objcache_alloc(space->cache);
			if (!va)
				return -KMM_ENOMEM;
		}
		va->va_start = start;
		va->va_end = end;
		va_link(space, va, parent, link);
		return 0;
	}
	if (va)
		kmm_objcache_free(space->cache, va);
	return 0;
}

int kmm_va_free(struct kmm_va_space *space, unsigned long addr,
		unsigned long size)
{
	if (va_check_range(space, "free", addr, size))
		return -KMM_EINVAL;
	return va_merge_or_add(space, addr, addr + size, NULL);
}

int kmm_va_free_area(struct kmm_va_space *space, struct kmm_vmap_area *va)
{
	unsigned long start = va->va_start, end = va->va_end;

	if (end < start || va_check_range(space, "free", start, end - start))
		return -KMM_EINVAL;
	return va_merge_or_add(space, start, end, va);
}

struct kmm_vmap_area *kmm_va_find_free(struct kmm_va_space *space,
				       unsigned long addr)
{
	struct kmm_rb_node *n = space->root.rb_node;

	while (n) {
		struct kmm_vmap_area *va = va_entry(n);

		if (addr < va->va_start)
			n = n->rb_left;
		else if (addr >= va->va_end)
			n = n->rb_right;
		else
			return va;
	}
	return NULL;
}

int kmm_va_reserve(struct kmm_va_space *space, unsigned long addr,
		   unsigned long size)
{
	struct kmm_vmap_area *va;
	int err;

	if (va_check_range(space, "reserve", addr, size))
		return -KMM_EINVAL;
	va = kmm_va_find_free(space, addr);
	if (!va || addr + size > va->va_end)
		return -KMM_EBUSY;
	if (va_clip(space, va, addr, size, &err) == KMM_VA_NOTHING_FIT)
		return err;
	return 0;
}

unsigned long kmm_va_largest_free(const struct kmm_va_space *space)
{
	return subtree_max(space->root.rb_node);
}

/* ---- validation --------------------------------------------------------- */

static int va_cmp(const struct kmm_rb_node *a, const struct kmm_rb_node *b)
{
	const struct kmm_vmap_area *x = va_entry(a), *y = va_entry(b);

	if (x->va_start < y->va_start)
		return -1;
	return x->va_start > y->va_start;
}

/* Recompute the maxima bottom-up; -1 (logged) on the first mismatch.  The
 * tree was validated first, so the depth is bounded. */
static long va_check_max(const struct kmm_rb_node *n, unsigned long *out)
{
	const struct kmm_vmap_area *va;
	unsigned long l = 0, r = 0, m;

	if (!n) {
		*out = 0;
		return 0;
	}
	if (va_check_max(n->rb_left, &l) || va_check_max(n->rb_right, &r))
		return -1;
	va = va_entry(n);
	m = KMM_MAX(va_own_size(va), KMM_MAX(l, r));
	if (va->subtree_max_size != m) {
		kmm_pr_err("va_alloc: free area [%#lx, %#lx): subtree_max_size %#lx, should be %#lx",
			   va->va_start, va->va_end, va->subtree_max_size, m);
		return -1;
	}
	*out = m;
	return 0;
}

int kmm_va_validate(struct kmm_va_space *space)
{
	const struct kmm_vmap_area *va, *prev = NULL;
	struct kmm_rb_node *rb;
	unsigned long count = 0, m;
	size_t nr_nodes;

	if (kmm_rb_validate(&space->root, va_cmp, &nr_nodes)) {
		kmm_pr_err("va_alloc: free tree of [%#lx, %#lx) is not a valid red-black tree",
			   space->start, space->end);
		return -KMM_EINVAL;
	}
	if (va_check_max(space->root.rb_node, &m))
		return -KMM_EINVAL;

	rb = kmm_rb_first(&space->root);
	kmm_va_for_each_free(va, space) {
		if (count++ > nr_nodes) {
			kmm_pr_err("va_alloc: free list longer than the tree (%zu areas)",
				   nr_nodes);
			return -KMM_EINVAL;
		}
		if (rb != &va->rb_node) {
			kmm_pr_err("va_alloc: free area [%#lx, %#lx) is on the list but not next in the tree",
				   va->va_start, va->va_end);
			return -KMM_EINVAL;
		}
		rb = kmm_rb_next(rb);
		if (va->va_start >= va->va_end ||
		    !KMM_IS_ALIGNED(va->va_start, KMM_PAGE_SIZE) ||
		    !KMM_IS_ALIGNED(va->va_end, KMM_PAGE_SIZE) ||
		    va->va_start < space->start || va->va_end > space->end) {
			kmm_pr_err("va_alloc: free area [%#lx, %#lx) is empty, misaligned or outside [%#lx, %#lx)",
				   va->va_start, va->va_end, space->start,
				   space->end);
			return -KMM_EINVAL;
		}
		if (prev && prev->va_end > va->va_start) {
			kmm_pr_err("va_alloc: free area [%#lx, %#lx) overlaps or precedes [%#lx, %#lx)",
				   va->va_start, va->va_end, prev->va_start,
				   prev->va_end);
			return -KMM_EINVAL;
		}
		if (prev && prev->va_end == va->va_start) {
			kmm_pr_err("va_alloc: free areas [%#lx, %#lx) and [%#lx, %#lx) touch but were not merged",
				   prev->va_start, prev->va_end, va->va_start,
				   va->va_end);
			return -KMM_EINVAL;
		}
		prev = va;
	}
	if (rb || count != nr_nodes) {
		kmm_pr_err("va_alloc: %lu areas on the list, %zu in the tree",
			   count, nr_nodes);
		return -KMM_EINVAL;
	}
	if (count != space->nr_free_areas) {
		kmm_pr_err("va_alloc: %lu free areas, nr_free_areas says %lu",
			   count, space->nr_free_areas);
		return -KMM_EINVAL;
	}
	return 0;
}
