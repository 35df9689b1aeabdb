/* SPDX-License-Identifier: MIT */
/*
 * vmalloc.c - kernel virtual address space after Linux 6.18 mm/vmalloc.c
 * (behaviour re-implemented, no code taken).
 *
 * Structure
 * ---------
 *   free space   one kmm_va_space (augmented rbtree + list, va_alloc.c)
 *                under free_vmap_area_lock.  Real mode: the host
 *                reservation [VMALLOC_START, VMALLOC_END]; shadow mode: the
 *                whole address space [PAGE_SIZE, 2^64 - PAGE_SIZE), as the
 *                kernel's free tree starts out as [1, ULONG_MAX).
 *   vmap nodes   nr_vmap_nodes = clamp(nr_cpus, 1, 128).  A busy or lazy
 *                area lives in node (va_start / (16 pages)) % nr_vmap_nodes
 *                (busy) or in the node whose pool it came from (lazy); each
 *                node has a busy tree+list, a lazy tree+list, and 256 size
 *                class pools (1..256 pages) of purged areas.
 *
 * Life of an area
 * ---------------
 *   alloc_vmap_area: full-range requests (VMALLOC_START..VMALLOC_END) try
 *     the current CPU's node pool for their exact size first (the area
 *     must also be aligned; a misaligned head goes to the pool's tail);
 *     otherwise the lowest fit from the free tree.  The area remembers
 *     the node id of the pool it asked (flags bits 8+).  On failure: purge
 *     everything lazy with full pool decay, retry once, then warn and fail.
 *   vfree/vunmap: unlink from busy, clear PTEs (no flush: the host mapping
 *     lingers like a stale TLB entry), add to the lazy tree of its node;
 *     when lazy pages exceed lazy_max_pages = fls(ncpus) * 32 MiB/PAGE_SIZE
 *     the lazy areas are purged (in the kernel by a worker; here by the
 *     thread that crossed the limit, unless auto purge is off).
 *   purge: decay each pool by ~25% (all of it for a full decay) into the
 *     free tree, take every node's lazy list, flush the TLB once over the
 *     span [min start, max end), then return each area to its pool (when
 *     it came through a pool, is <= 256 pages and pools are populated this
 *     round) or to the free tree.
 *
 * Lock order (this file)
 * ----------
 *   vmap_purge_lock (mutex)
 *     vn->lazy.lock, vn->pool_lock, vn->busy.lock (never two at once)
 *     free_vmap_area_lock
 *       objcache locks, zone locks (page allocator), mm->host_lock (flush)
 * The flush (mm->host_lock) is never taken under a node or free lock.
 */
#include <kmm/boot.h>
#include <kmm/lib.h>
#include <kmm/objcache.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define VN_ID_SHIFT 8	/* BITS_PER_BYTE */

struct rb_list {
	struct kmm_rb_root root;
	struct kmm_list_head head;
	kmm_port_lock_t lock;
};

struct vmap_pool {
	struct kmm_list_head head;
	unsigned long len;
};

struct vmap_node {
	struct vmap_pool pool[KMM_MAX_VA_SIZE_PAGES];
	kmm_port_lock_t pool_lock;
	bool skip_populate;
	struct rb_list busy;
	struct rb_list lazy;
	struct kmm_list_head purge_list;
	unsigned long nr_purged;
};

static struct {
	bool initialized;
	struct kmm_va_space free;
	kmm_port_lock_t free_vmap_area_lock;
	kmm_port_lock_t vmap_purge_lock;
	struct kmm_objcache va_cache;
	struct kmm_objcache vm_cache;
	struct vmap_node *nodes;
	unsigned nr_nodes;
	atomic_long lazy_nr;
	unsigned long lazy_max;
	bool auto_purge;
	bool strict;
	bool shadow;
	atomic_ulong nr_purges, nr_purged_areas, nr_pool_hits;
	atomic_long vmalloc_used_pages;
	/* vfree_atomic() queue (a stack of addresses). */
	atomic_uintptr_t deferred;
	struct kmm_vmap_trace_ops trace;
} vs;

/* ---- small helpers ---------------------------------------------------- */

static inline unsigned long va_size(const struct kmm_vmap_area *va)
{
	return va->va_end - va->va_start;
}

static inline unsigned addr_to_node_id(unsigned long addr)
{
	return (unsigned)((addr / (KMM_VMAP_ZONE_PAGES * KMM_PAGE_SIZE)) % vs.nr_nodes);
}

static inline unsigned long encode_vn_id(unsigned id)
{
	return id < vs.nr_nodes ? (unsigned long)(id + 1) << VN_ID_SHIFT : 0;
}

static inline unsigned decode_vn_id(unsigned long flags)
{
	unsigned long id = (flags >> VN_ID_SHIFT);

	return id && id - 1 < vs.nr_nodes ? (unsigned)(id - 1) : vs.nr_nodes;
}

static inline struct vmap_pool *size_to_pool(struct vmap_node *vn,
					     unsigned long size)
{
	unsigned long idx = (size - 1) / KMM_PAGE_SIZE;

	return idx < KMM_MAX_VA_SIZE_PAGES ? &vn->pool[idx] : NULL;
}

bool kmm_is_vmalloc_addr(const void *x)
{
	unsigned long a = (unsigned long)x;

	return kmm_machine.booted && a >= kmm_vmalloc_start() &&
	       a <= kmm_vmalloc_end();
}

/* Insert @va into an address-sorted rb_list (lock held). */
static void rbl_insert(struct rb_list *l, struct kmm_vmap_area *va)
{
	struct kmm_rb_node **link = &l->root.rb_node, *parent = NULL;
	struct kmm_vmap_area *next_va = NULL;

	while (*link) {
		struct kmm_vmap_area *t = kmm_rb_entry(*link, struct kmm_vmap_area, rb_node);

		parent = *link;
		if (va->va_start < t->va_start) {
			next_va = t;
			link = &(*link)->rb_left;
		} else {
			link = &(*link)->rb_right;
		}
	}
	kmm_rb_link_node(&va->rb_node, parent, link);
	kmm_rb_insert_color(&va->rb_node, &l->root);
	if (next_va)
		kmm_list_add_tail(&va->list, &next_va->list);
	else
		kmm_list_add_tail(&va->list, &l->head);
}

static void rbl_unlink(struct rb_list *l, struct kmm_vmap_area *va)
{
	kmm_rb_erase(&va->rb_node, &l->root);
	kmm_rb_clear_node(&va->rb_node);
	kmm_list_del(&va->list);
}

/* The area containing @addr in @l, or NULL (lock held). */
static struct kmm_vmap_area *rbl_find(struct rb_list *l, unsigned long addr)
{
	struct kmm_rb_node *n = l->root.rb_node;

	while (n) {
		struct kmm_vmap_area *va = kmm_rb_entry(n, struct kmm_vmap_area, rb_node);

		if (addr < va->va_start)
			n = n->rb_left;
		else if (addr >= va->va_end)
			n = n->rb_right;
		else
			return va;
	}
	return NULL;
}

/* File a busy area in the node of its start address. */
static void busy_insert(struct kmm_vmap_area *va)
{
	struct vmap_node *vn = &vs.nodes[addr_to_node_id(va->va_start)];

	kmm_port_lock(&vn->busy.lock);
	rbl_insert(&vn->busy, va);
	kmm_port_unlock(&vn->busy.lock);
}

/*
 * An area object for exactly [@addr, @addr + @size), taken out of the free
 * space; NULL with *@err set when it is not free (or no object).
 */
static struct kmm_vmap_area *reserve_exact(unsigned long addr, unsigned long size,
					   int *err)
{
	struct kmm_vmap_area *va = kmm_objcache_alloc(&vs.va_cache);

	if (!va) {
		*err = -KMM_ENOMEM;
		return NULL;
	}
	kmm_port_lock(&vs.free_vmap_area_lock);
	*err = kmm_va_reserve(&vs.free, addr, size);
	kmm_port_unlock(&vs.free_vmap_area_lock);
	if (*err) {
		kmm_objcache_free(&vs.va_cache, va);
		return NULL;
	}
	va->va_start = addr;
	va->va_end = addr + size;
	va->vm = NULL;
	kmm_list_init(&va->list);
	return va;
}

/* The free tree takes back an area object (free_vmap_area_lock held). */
static void reclaim_one(struct kmm_vmap_area *va)
{
	kmm_list_init(&va->list);
	if (kmm_va_free_area(&vs.free, va))
		kmm_pr_err("vmalloc: BUG: area [%#lx, %#lx) overlaps free space; leaked",
			   va->va_start, va->va_end);
}

static void reclaim_list_global(struct kmm_list_head *head)
{
	kmm_port_lock(&vs.free_vmap_area_lock);
	while (!kmm_list_empty(head)) {
		struct kmm_vmap_area *va =
			kmm_list_first_entry(head, struct kmm_vmap_area, list);

		kmm_list_del(&va->list);
		reclaim_one(va);
	}
	kmm_port_unlock(&vs.free_vmap_area_lock);
}

/* ---- pools ------------------------------------------------------------- */

static struct kmm_vmap_area *node_pool_del_va(struct vmap_node *vn,
					      unsigned long size,
					      unsigned long align,
					      unsigned long vstart,
					      unsigned long vend)
{
	struct vmap_pool *vp = size_to_pool(vn, size);
	struct kmm_vmap_area *va = NULL;

	if (!vp || !__atomic_load_n(&vp->len, __ATOMIC_RELAXED))
		return NULL;
	kmm_port_lock(&vn->pool_lock);
	if (!kmm_list_empty(&vp->head)) {
		va = kmm_list_first_entry(&vp->head, struct kmm_vmap_area, list);
		if (KMM_IS_ALIGNED(va->va_start, align)) {
			if (va_size(va) != size || va->va_start < vstart ||
			    va->va_end > vend) {
				kmm_pr_warn("vmalloc: WARNING: pooled area [%#lx, %#lx) does not fit the request",
					    va->va_start, va->va_end);
				va = NULL;
			} else {
				kmm_list_del(&va->list);
				__atomic_store_n(&vp->len, vp->len - 1, __ATOMIC_RELAXED);
			}
		} else {
			/* Rotate it to the tail: the next request may fit it. */
			kmm_list_del(&va->list);
			kmm_list_add_tail(&va->list, &vp->head);
			va = NULL;
		}
	}
	kmm_port_unlock(&vn->pool_lock);
	return va;
}

static bool node_pool_add_va(struct vmap_node *vn, struct kmm_vmap_area *va)
{
	struct vmap_pool *vp = size_to_pool(vn, va_size(va));

	if (!vp)
		return false;
	kmm_port_lock(&vn->pool_lock);
	kmm_list_add(&va->list, &vp->head);
	__atomic_store_n(&vp->len, vp->len + 1, __ATOMIC_RELAXED);
	kmm_port_unlock(&vn->pool_lock);
	return true;
}

/* node_alloc(): only full-range requests use the pools. */
static struct kmm_vmap_area *node_alloc(unsigned long size, unsigned long align,
					unsigned long vstart, unsigned long vend,
					unsigned long *vn_id)
{
	struct kmm_vmap_area *va;
	unsigned id;

	*vn_id = 0;
	if (vstart != kmm_vmalloc_start() || vend != kmm_vmalloc_end() ||
	    vs.nr_nodes == 1)
		return NULL;
	id = kmm_smp_processor_id() % vs.nr_nodes;
	va = node_pool_del_va(&vs.nodes[id], size, align, vstart, vend);
	*vn_id = encode_vn_id(id);
	if (va)
		atomic_fetch_add(&vs.nr_pool_hits, 1);
	return va;
}

static void decay_va_pool_node(struct vmap_node *vn, bool full_decay)
{
	struct kmm_list_head decay;
	int i;

	kmm_list_init(&decay);
	for (i = 0; i < KMM_MAX_VA_SIZE_PAGES; i++) {
		struct kmm_list_head tmp;
		unsigned long len, n_decay;

		if (!__atomic_load_n(&vn->pool[i].len, __ATOMIC_RELAXED))
			continue;
		kmm_list_init(&tmp);
		kmm_port_lock(&vn->pool_lock);
		if (!kmm_list_empty(&vn->pool[i].head)) {
			tmp = vn->pool[i].head;	/* list_replace_init */
			tmp.next->prev = &tmp;
			tmp.prev->next = &tmp;
			kmm_list_init(&vn->pool[i].head);
		}
		len = n_decay = vn->pool[i].len;
		__atomic_store_n(&vn->pool[i].len, 0, __ATOMIC_RELAXED);
		kmm_port_unlock(&vn->pool_lock);

		if (!full_decay)
			n_decay >>= 2;
		len -= n_decay;
		while (n_decay-- && !kmm_list_empty(&tmp)) {
			struct kmm_vmap_area *va =
				kmm_list_first_entry(&tmp, struct kmm_vmap_area, list);

			kmm_list_del(&va->list);
			kmm_list_add_tail(&va->list, &decay);
		}
		if (!kmm_list_empty(&tmp)) {
			kmm_port_lock(&vn->pool_lock);
			/* Nobody refills pools during a purge: put the rest back. */
			while (!kmm_list_empty(&tmp)) {
				struct kmm_vmap_area *va = kmm_list_last_entry(
					&tmp, struct kmm_vmap_area, list);

				kmm_list_del(&va->list);
				kmm_list_add(&va->list, &vn->pool[i].head);
			}
			__atomic_store_n(&vn->pool[i].len, vn->pool[i].len + len,
					 __ATOMIC_RELAXED);
			kmm_port_unlock(&vn->pool_lock);
		}
	}
	reclaim_list_global(&decay);
}

/* ---- alloc / free of vmap areas ----------------------------------------- */

void kmm_vmap_set_trace(const struct kmm_vmap_trace_ops *ops)
{
	if (ops)
		vs.trace = *ops;
	else
		kmm_memset(&vs.trace, 0, sizeof(vs.trace));
}

void kmm_vmap_set_auto_purge(bool on)
{
	vs.auto_purge = on;
}

static void drain_vfree_deferred(void);
static bool purge_locked(unsigned long start, unsigned long end, bool full_pool_decay);

struct kmm_vmap_area *kmm__alloc_vmap_area(unsigned long size,
					   unsigned long align,
					   unsigned long vstart,
					   unsigned long vend, int node,
					   kmm_gfp_t gfp, unsigned long va_flags,
					   struct kmm_vm_struct *vm, int *err)
{
	struct kmm_vmap_area *va;
	unsigned long addr = 0, vn_id;
	bool have = false, purged = false;
	int ret;

	(void)node;
	if (!size || (size & ~KMM_PAGE_MASK) || !kmm_is_power_of_2(align) ||
	    vstart >= vend) {
		*err = -KMM_EINVAL;
		return NULL;
	}
	if (!vs.initialized) {
		*err = -KMM_EBUSY;
		return NULL;
	}
	va = node_alloc(size, align, vstart, vend, &vn_id);
	if (va) {
		addr = va->va_start;
		have = true;
	} else {
		va = kmm_objcache_alloc(&vs.va_cache);
		if (!va) {
			*err = -KMM_ENOMEM;
			return NULL;
		}
	}
retry:
	if (!have) {
		kmm_port_lock(&vs.free_vmap_area_lock);
		ret = kmm_va_alloc(&vs.free, size, align, vstart, vend, &addr);
		kmm_port_unlock(&vs.free_vmap_area_lock);
		have = ret == 0;
	}
	if (vs.trace.alloc_vmap_area)
		vs.trace.alloc_vmap_area(vs.trace.arg, have ? addr : (unsigned long)-KMM_ENOMEM,
					 size, align, vstart, vend, !have);
	if (!have) {
		if (!purged) {
			/* reclaim_and_purge_vmap_areas() */
			drain_vfree_deferred();
			kmm_port_lock(&vs.vmap_purge_lock);
			kmm__purge_fragmented_blocks_allcpus();
			purge_locked(~0UL, 0, true);
			kmm_port_unlock(&vs.vmap_purge_lock);
			purged = true;
			goto retry;
		}
		if (!(gfp & KMM___GFP_NOWARN))
			kmm_pr_warn("vmalloc_node_range for size %lu failed: Address range restricted to %#lx - %#lx",
				    size, vstart, vend);
		kmm_objcache_free(&vs.va_cache, va);
		*err = -KMM_EBUSY;
		return NULL;
	}
	va->va_start = addr;
	va->va_end = addr + size;
	va->vm = vm;
	va->flags = va_flags | vn_id;
	kmm_list_init(&va->list);
	if (vm) {
		vm->addr = (void *)va->va_start;
		vm->size = va_size(va);
	}
	busy_insert(va);
	*err = 0;
	return va;
}

struct kmm_vmap_area *kmm__find_vmap_area(unsigned long addr)
{
	unsigned i, j;

	if (!vs.initialized)
		return NULL;
	/* The area is filed under its start's node: walk nodes downwards. */
	i = j = addr_to_node_id(addr);
	do {
		struct vmap_node *vn = &vs.nodes[i];
		struct kmm_vmap_area *va;

		kmm_port_lock(&vn->busy.lock);
		va = rbl_find(&vn->busy, addr);
		kmm_port_unlock(&vn->busy.lock);
		if (va)
			return va;
	} while ((i = (i + vs.nr_nodes - 1) % vs.nr_nodes) != j);
	return NULL;
}

struct kmm_vmap_area *kmm__find_unlink_vmap_area(unsigned long addr)
{
	struct vmap_node *vn;
	struct kmm_vmap_area *va;

	if (!vs.initialized || !kmm_is_vmalloc_addr((void *)addr))
		return NULL;
	vn = &vs.nodes[addr_to_node_id(addr)];
	kmm_port_lock(&vn->busy.lock);
	va = rbl_find(&vn->busy, addr);
	if (va && va->va_start == addr)
		rbl_unlink(&vn->busy, va);
	else
		va = NULL;
	kmm_port_unlock(&vn->busy.lock);
	return va;
}


/*
 * drain_vmap_area_work: in the kernel a worker; here the thread that
 * crossed lazy_max_pages, unless a purge is running (which will take these
 * areas too, as a pending work item would) or it is the purger itself.
 */
static void purge_if_needed(unsigned long nr_lazy)
{
	if (nr_lazy <= vs.lazy_max || !vs.auto_purge)
		return;
	if (!kmm_port_trylock(&vs.vmap_purge_lock))
		return;
	drain_vfree_deferred();
	purge_locked(~0UL, 0, false);
	kmm_port_unlock(&vs.vmap_purge_lock);
}

void kmm__free_vmap_area_noflush(struct kmm_vmap_area *va)
{
	unsigned long va_start = va->va_start, nr_lazy;
	unsigned vn_id = decode_vn_id(va->flags);
	struct vmap_node *vn;

	nr_lazy = (unsigned long)atomic_fetch_add(&vs.lazy_nr,
						  (long)(va_size(va) >> KMM_PAGE_SHIFT)) +
		  (va_size(va) >> KMM_PAGE_SHIFT);
	vn = vn_id < vs.nr_nodes ? &vs.nodes[vn_id] : &vs.nodes[addr_to_node_id(va_start)];
	kmm_port_lock(&vn->lazy.lock);
	rbl_insert(&vn->lazy, va);
	kmm_port_unlock(&vn->lazy.lock);
	if (vs.trace.free_vmap_area_noflush)
		vs.trace.free_vmap_area_noflush(vs.trace.arg, va_start, nr_lazy,
						vs.lazy_max);
	purge_if_needed(nr_lazy);
}

void kmm__vunmap_range_noflush(unsigned long start, unsigned long end)
{
	unsigned long a;

	for (a = start; a < end; a += KMM_PAGE_SIZE) {
		kmm_pte_t *pte = kmm_lookup_pte(&kmm_init_mm, a);

		if (pte)
			kmm_pte_clear(&kmm_init_mm, a, pte);
	}
}

void kmm__free_unmap_vmap_area(struct kmm_vmap_area *va)
{
	kmm__vunmap_range_noflush(va->va_start, va->va_end);
	if (vs.strict)
		kmm_flush_tlb_kernel_range(va->va_start, va->va_end);
	kmm__free_vmap_area_noflush(va);
}

static void purge_vmap_node(struct vmap_node *vn, struct kmm_list_head *local)
{
	unsigned long nr_pages = 0;

	vn->nr_purged = 0;
	while (!kmm_list_empty(&vn->purge_list)) {
		struct kmm_vmap_area *va =
			kmm_list_first_entry(&vn->purge_list, struct kmm_vmap_area, list);
		unsigned vn_id = decode_vn_id(va->flags);

		kmm_list_del(&va->list);
		nr_pages += va_size(va) >> KMM_PAGE_SHIFT;
		vn->nr_purged++;
		if (vn_id < vs.nr_nodes && !vn->skip_populate && node_pool_add_va(vn, va))
			continue;
		kmm_list_add(&va->list, local);
	}
	atomic_fetch_sub(&vs.lazy_nr, (long)nr_pages);
}

bool kmm__purge_vmap_area_lazy(unsigned long start, unsigned long end,
			       bool full_pool_decay)
{
	bool ret;

	if (!vs.initialized)
		return false;
	drain_vfree_deferred();	/* before the lock: it may purge itself */
	kmm_port_lock(&vs.vmap_purge_lock);
	ret = purge_locked(start, end, full_pool_decay);
	kmm_port_unlock(&vs.vmap_purge_lock);
	return ret;
}

/* __purge_vmap_area_lazy(); the caller holds vmap_purge_lock. */
static bool purge_locked(unsigned long start, unsigned long end, bool full_pool_decay)
{
	unsigned long nr_purged = 0;
	struct kmm_list_head local;
	bool any = false;
	unsigned i;

	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];

		kmm_list_init(&vn->purge_list);
		vn->skip_populate = full_pool_decay;
		decay_va_pool_node(vn, full_pool_decay);
		kmm_port_lock(&vn->lazy.lock);
		if (kmm_list_empty(&vn->lazy.head)) {
			kmm_port_unlock(&vn->lazy.lock);
			continue;
		}
		vn->lazy.root.rb_node = NULL;
		vn->purge_list = vn->lazy.head;	/* list_replace_init */
		vn->purge_list.next->prev = &vn->purge_list;
		vn->purge_list.prev->next = &vn->purge_list;
		kmm_list_init(&vn->lazy.head);
		kmm_port_unlock(&vn->lazy.lock);
		start = KMM_MIN(start, kmm_list_first_entry(&vn->purge_list,
							    struct kmm_vmap_area,
							    list)->va_start);
		end = KMM_MAX(end, kmm_list_last_entry(&vn->purge_list,
						       struct kmm_vmap_area,
						       list)->va_end);
		any = true;
	}
	if (any) {
		kmm_flush_tlb_kernel_range(start, end);
		kmm_list_init(&local);
		for (i = 0; i < vs.nr_nodes; i++) {
			if (kmm_list_empty(&vs.nodes[i].purge_list))
				continue;
			purge_vmap_node(&vs.nodes[i], &local);
			nr_purged += vs.nodes[i].nr_purged;
		}
		reclaim_list_global(&local);
	}
	atomic_fetch_add(&vs.nr_purges, 1);
	atomic_fetch_add(&vs.nr_purged_areas, nr_purged);
	if (vs.trace.purge_vmap_area_lazy)
		vs.trace.purge_vmap_area_lazy(vs.trace.arg, start, end, nr_purged);
	return nr_purged > 0;
}

/*
 * _vm_unmap_aliases(): purge fragmented vmap blocks, collect the dirty
 * spans of the others, then purge the lazy areas with one flush over all of
 * it (or flush the blocks' span alone when nothing was lazy).
 */
void kmm_vm_unmap_aliases(void)
{
	unsigned long start = ~0UL, end = 0;
	bool flush;

	if (!vs.initialized)
		return;
	drain_vfree_deferred();
	kmm_port_lock(&vs.vmap_purge_lock);
	flush = kmm__vmap_blocks_collect_dirty(&start, &end);
	if (!purge_locked(start, end, false) && flush)
		kmm_flush_tlb_kernel_range(start, end);
	kmm_port_unlock(&vs.vmap_purge_lock);
}

/* ---- loading a kernel's state (replay) ----------------------------------- */

int kmm__vmap_load_area(unsigned long addr, unsigned long size, bool lazy,
			int vn_id)
{
	struct kmm_vmap_area *va;
	int ret;

	if (!vs.initialized)
		return -KMM_EBUSY;
	va = reserve_exact(addr, size, &ret);
	if (!va)
		return ret;
	va->flags = vn_id >= 0 ? encode_vn_id((unsigned)vn_id) : 0;
	if (lazy) {
		struct vmap_node *vn = vn_id >= 0 && (unsigned)vn_id < vs.nr_nodes
					       ? &vs.nodes[vn_id]
					       : &vs.nodes[addr_to_node_id(addr)];

		atomic_fetch_add(&vs.lazy_nr, (long)(size >> KMM_PAGE_SHIFT));
		kmm_port_lock(&vn->lazy.lock);
		rbl_insert(&vn->lazy, va);
		kmm_port_unlock(&vn->lazy.lock);
	} else {
		busy_insert(va);
	}
	return 0;
}

int kmm__vmap_load_pooled(unsigned long addr, unsigned long size, unsigned node)
{
	struct kmm_vmap_area *va;
	struct vmap_pool *vp;
	int ret;

	if (!vs.initialized || node >= vs.nr_nodes)
		return -KMM_EINVAL;
	vp = size_to_pool(&vs.nodes[node], size);
	if (!vp || !size || (size & ~KMM_PAGE_MASK))
		return -KMM_EINVAL;
	va = reserve_exact(addr, size, &ret);
	if (!va)
		return ret;
	va->flags = encode_vn_id(node);
	kmm_port_lock(&vs.nodes[node].pool_lock);
	kmm_list_add_tail(&va->list, &vp->head);
	__atomic_store_n(&vp->len, vp->len + 1, __ATOMIC_RELAXED);
	kmm_port_unlock(&vs.nodes[node].pool_lock);
	return 0;
}

/* Take the pooled area starting at @addr of @size out of any pool. */
static bool pool_take(unsigned long addr, unsigned long size)
{
	unsigned i;

	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];
		struct vmap_pool *vp = size_to_pool(vn, size);
		struct kmm_list_head *pos;

		if (!vp)
			return false;
		kmm_port_lock(&vn->pool_lock);
		kmm_list_for_each(pos, &vp->head) {
			struct kmm_vmap_area *va = kmm_list_entry(pos, struct kmm_vmap_area, list);

			if (va->va_start == addr && va_size(va) == size) {
				kmm_list_del(&va->list);
				vp->len--;
				kmm_port_unlock(&vn->pool_lock);
				kmm_objcache_free(&vs.va_cache, va);
				return true;
			}
		}
		kmm_port_unlock(&vn->pool_lock);
	}
	return false;
}

int kmm__vmap_relocate(unsigned long from, unsigned long to, bool to_pool)
{
	struct kmm_vmap_area *va = kmm__find_unlink_vmap_area(from), *old = NULL;
	unsigned vn_id;
	unsigned long size;
	int ret;

	if (!va)
		return -KMM_ENOENT;
	size = va_size(va);
	vn_id = decode_vn_id(va->flags);
	if (to_pool) {
		old = vn_id < vs.nr_nodes && size_to_pool(&vs.nodes[vn_id], size)
			      ? kmm_objcache_alloc(&vs.va_cache) : NULL;
		if (!old) {
			busy_insert(va);
			return -KMM_EINVAL;
		}
	}
	kmm_port_lock(&vs.free_vmap_area_lock);
	ret = kmm_va_reserve(&vs.free, to, size);
	kmm_port_unlock(&vs.free_vmap_area_lock);
	if (ret == -KMM_EBUSY && pool_take(to, size))
		ret = 0;
	if (ret) {
		if (old)
			kmm_objcache_free(&vs.va_cache, old);
		busy_insert(va);
		return -KMM_EBUSY;
	}
	if (old) {
		/* Undo the pop: the old range goes back to the head of its pool. */
		old->va_start = va->va_start;
		old->va_end = va->va_end;
		old->flags = va->flags;
		old->vm = NULL;
		node_pool_add_va(&vs.nodes[vn_id], old);
	} else {
		/* Our old range goes back to the free space. */
		kmm_port_lock(&vs.free_vmap_area_lock);
		ret = kmm_va_free(&vs.free, va->va_start, size);
		kmm_port_unlock(&vs.free_vmap_area_lock);
	}
	va->va_start = to;
	va->va_end = to + size;
	if (va->vm)
		va->vm->addr = (void *)to;
	busy_insert(va);
	return ret;
}

int kmm__vmap_pool_trim_above(unsigned long addr, unsigned long size, unsigned node)
{
	struct kmm_list_head drop;
	struct vmap_pool *vp;
	struct kmm_list_head *pos;
	bool found = false;
	int n = 0;

	if (!vs.initialized || node >= vs.nr_nodes)
		return -KMM_EINVAL;
	vp = size_to_pool(&vs.nodes[node], size);
	if (!vp)
		return -KMM_EINVAL;
	kmm_list_init(&drop);
	kmm_port_lock(&vs.nodes[node].pool_lock);
	kmm_list_for_each(pos, &vp->head)
		if (kmm_list_entry(pos, struct kmm_vmap_area, list)->va_start == addr) {
			found = true;
			break;
		}
	while (found && vp->head.next != pos) {
		struct kmm_vmap_area *va =
			kmm_list_first_entry(&vp->head, struct kmm_vmap_area, list);

		kmm_list_del(&va->list);
		kmm_list_add_tail(&va->list, &drop);
		__atomic_store_n(&vp->len, vp->len - 1, __ATOMIC_RELAXED);
		n++;
	}
	kmm_port_unlock(&vs.nodes[node].pool_lock);
	if (!found)
		return -KMM_ENOENT;
	reclaim_list_global(&drop);
	return n;
}

enum kmm_vmap_where kmm__vmap_where(unsigned long addr, unsigned *node)
{
	enum kmm_vmap_where w = KMM_VMAP_WHERE_NONE;
	unsigned i, k;

	if (!vs.initialized)
		return w;
	for (i = 0; i < vs.nr_nodes && w == KMM_VMAP_WHERE_NONE; i++) {
		struct vmap_node *vn = &vs.nodes[i];
		struct kmm_list_head *pos;

		kmm_port_lock(&vn->busy.lock);
		if (rbl_find(&vn->busy, addr))
			w = KMM_VMAP_WHERE_BUSY;
		kmm_port_unlock(&vn->busy.lock);
		kmm_port_lock(&vn->lazy.lock);
		if (w == KMM_VMAP_WHERE_NONE && rbl_find(&vn->lazy, addr))
			w = KMM_VMAP_WHERE_LAZY;
		kmm_port_unlock(&vn->lazy.lock);
		kmm_port_lock(&vn->pool_lock);
		for (k = 0; k < KMM_MAX_VA_SIZE_PAGES && w == KMM_VMAP_WHERE_NONE; k++)
			kmm_list_for_each(pos, &vn->pool[k].head) {
				struct kmm_vmap_area *va =
					kmm_list_entry(pos, struct kmm_vmap_area, list);

				if (addr >= va->va_start && addr < va->va_end) {
					w = KMM_VMAP_WHERE_POOL;
					if (node)
						*node = i;
					break;
				}
			}
		kmm_port_unlock(&vn->pool_lock);
	}
	if (w == KMM_VMAP_WHERE_NONE) {
		kmm_port_lock(&vs.free_vmap_area_lock);
		if (kmm_va_find_free(&vs.free, addr))
			w = KMM_VMAP_WHERE_FREE;
		kmm_port_unlock(&vs.free_vmap_area_lock);
	}
	return w;
}

void kmm__vmap_for_each_busy(void (*fn)(void *arg, const struct kmm_vmap_area *va),
			     void *arg)
{
	unsigned i;

	if (!vs.initialized)
		return;
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];
		struct kmm_list_head *pos;

		kmm_port_lock(&vn->busy.lock);
		kmm_list_for_each(pos, &vn->busy.head)
			fn(arg, kmm_list_entry(pos, struct kmm_vmap_area, list));
		kmm_port_unlock(&vn->busy.lock);
	}
}

void kmm__vmap_for_each_area(void (*fn)(void *arg, enum kmm_vmap_where where,
					unsigned node,
					const struct kmm_vmap_area *va),
			     void *arg)
{
	struct kmm_list_head *pos;
	struct kmm_vmap_area *va;
	unsigned i, k;

	if (!vs.initialized)
		return;
	kmm_port_lock(&vs.vmap_purge_lock);
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];

		kmm_port_lock(&vn->busy.lock);
		kmm_list_for_each(pos, &vn->busy.head)
			fn(arg, KMM_VMAP_WHERE_BUSY, i,
			   kmm_list_entry(pos, struct kmm_vmap_area, list));
		kmm_port_unlock(&vn->busy.lock);
		kmm_port_lock(&vn->lazy.lock);
		kmm_list_for_each(pos, &vn->lazy.head)
			fn(arg, KMM_VMAP_WHERE_LAZY, i,
			   kmm_list_entry(pos, struct kmm_vmap_area, list));
		kmm_port_unlock(&vn->lazy.lock);
		kmm_port_lock(&vn->pool_lock);
		for (k = 0; k < KMM_MAX_VA_SIZE_PAGES; k++)
			kmm_list_for_each(pos, &vn->pool[k].head)
				fn(arg, KMM_VMAP_WHERE_POOL, i,
				   kmm_list_entry(pos, struct kmm_vmap_area, list));
		kmm_port_unlock(&vn->pool_lock);
	}
	kmm_port_lock(&vs.free_vmap_area_lock);
	kmm_va_for_each_free(va, &vs.free)
		fn(arg, KMM_VMAP_WHERE_FREE, 0, va);
	kmm_port_unlock(&vs.free_vmap_area_lock);
	kmm_port_unlock(&vs.vmap_purge_lock);
}

/* ---- page table helpers -------------------------------------------------- */

struct map_ctx {
	struct kmm_page **pages;
	unsigned long *pfns;
	unsigned long i;
	kmm_pgprot_t prot;
	kmm_pte_t **ptes;
};

/* @p is an entry of the memmap (in bytes: p - mem_map assumes it is). */
static bool page_is_memmap_entry(const struct kmm_page *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)kmm_machine.mem_map;

	return p >= kmm_machine.mem_map && p < kmm_machine.mem_map + kmm_machine.max_pfn &&
	       off % sizeof(*p) == 0;
}

static int map_page_fn(kmm_pte_t *pte, unsigned long addr, void *data)
{
	struct map_ctx *c = data;
	uint64_t pfn;

	if (c->pages) {
		if (!c->pages[c->i]) {
			kmm_pr_warn("vmap: WARNING: no page at index %lu", c->i);
			return -KMM_ENOMEM;
		}
		if (!page_is_memmap_entry(c->pages[c->i])) {
			/* The kernel would map whatever PFN the pointer implies. */
			kmm_pr_warn("vmap: WARNING: page %p at index %lu is not a page of this machine",
				    (void *)c->pages[c->i], c->i);
			return -KMM_EINVAL;
		}
		pfn = kmm_page_to_pfn(c->pages[c->i]);
	} else {
		pfn = c->pfns[c->i];
	}
	if (!kmm_pte_none(kmm_ptep_get(pte))) {
		kmm_pr_err("vmalloc: BUG: pte for %#lx already in use", addr);
		return -KMM_EBUSY;
	}
	kmm_set_pte_at(&kmm_init_mm, addr, pte, kmm_pfn_pte(pfn, c->prot));
	c->i++;
	return 0;
}

int kmm__vmap_pages_range(unsigned long addr, unsigned long end,
			  kmm_pgprot_t prot, struct kmm_page **pages)
{
	struct map_ctx c = { .pages = pages, .prot = prot };
	int ret = kmm_apply_to_page_range(&kmm_init_mm, addr, end - addr,
					  map_page_fn, &c);

	if (!ret)
		ret = kmm_flush_cache_vmap(addr, end);
	if (ret)
		kmm__vunmap_range_noflush(addr, end);
	return ret;
}

/* ---- vm_struct areas ---------------------------------------------------- */

static struct kmm_vm_struct *get_vm_area_node(unsigned long size,
					      unsigned long align,
					      unsigned long flags,
					      unsigned long start,
					      unsigned long end, int node,
					      kmm_gfp_t gfp, const void *caller)
{
	struct kmm_vm_struct *area;
	struct kmm_vmap_area *va;
	unsigned long requested = size;
	int err;

	drain_vfree_deferred();
	size = KMM_ALIGN_UP(size, KMM_PAGE_SIZE);
	if (!size || size < requested || !kmm_machine.booted)
		return NULL;
	if (!vs.shadow && (start < kmm_vmalloc_start() || end > kmm_vmalloc_end())) {
		kmm_pr_warn("vmalloc: range %#lx-%#lx is outside the kernel VA space %#lx-%#lx",
			    start, end, kmm_vmalloc_start(), kmm_vmalloc_end());
		return NULL;
	}
	if (flags & KMM_VM_IOREMAP) {
		unsigned order = kmm_fls64(size - 1);

		align = 1UL << KMM_CLAMP(order, (unsigned)KMM_PAGE_SHIFT,
					 (unsigned)KMM_IOREMAP_MAX_ORDER);
	}
	area = kmm_objcache_alloc(&vs.vm_cache);
	if (!area)
		return NULL;
	if (!(flags & KMM_VM_NO_GUARD)) {
		if (size + KMM_PAGE_SIZE < size) {
			kmm_objcache_free(&vs.vm_cache, area);
			return NULL;
		}
		size += KMM_PAGE_SIZE;
	}
	area->flags = flags;
	area->caller = caller;
	area->requested_size = requested;
	va = kmm__alloc_vmap_area(size, align, start, end, node, gfp, 0, area, &err);
	if (!va) {
		kmm_objcache_free(&vs.vm_cache, area);
		return NULL;
	}
	return area;
}

struct kmm_vm_struct *kmm___get_vm_area_caller(unsigned long size,
					       unsigned long flags,
					       unsigned long start,
					       unsigned long end,
					       const void *caller)
{
	return get_vm_area_node(size, 1, flags, start, end, -1, KMM_GFP_KERNEL,
				caller);
}

struct kmm_vm_struct *kmm___get_vm_area(unsigned long size, unsigned long flags,
					unsigned long start, unsigned long end)
{
	return kmm___get_vm_area_caller(size, flags, start, end,
					__builtin_return_address(0));
}

struct kmm_vm_struct *kmm_get_vm_area_caller(unsigned long size,
					     unsigned long flags,
					     const void *caller)
{
	return get_vm_area_node(size, 1, flags, kmm_vmalloc_start(),
				kmm_vmalloc_end(), -1, KMM_GFP_KERNEL, caller);
}

struct kmm_vm_struct *kmm_get_vm_area(unsigned long size, unsigned long flags)
{
	return kmm_get_vm_area_caller(size, flags, __builtin_return_address(0));
}

struct kmm_vm_struct *kmm_find_vm_area(const void *addr)
{
	struct kmm_vmap_area *va = kmm__find_vmap_area((unsigned long)addr);

	return va ? va->vm : NULL;
}

struct kmm_vm_struct *kmm_remove_vm_area(const void *addr)
{
	struct kmm_vmap_area *va;
	struct kmm_vm_struct *vm;

	if ((unsigned long)addr & ~KMM_PAGE_MASK) {
		/* the kernel's WARN_ON_ONCE(!PAGE_ALIGNED(addr)) */
		kmm_pr_warn("remove_vm_area: WARNING: %p is not page aligned", addr);
		return NULL;
	}
	va = kmm__find_unlink_vmap_area((unsigned long)addr);
	if (!va)
		return NULL;
	if (!va->vm) {
		/* A vm_map_ram area: not ours to remove; put it back. */
		busy_insert(va);
		return NULL;
	}
	vm = va->vm;
	va->vm = NULL;
	kmm__free_unmap_vmap_area(va);
	return vm;
}

static int store_pte_fn(kmm_pte_t *pte, unsigned long addr, void *data)
{
	struct map_ctx *c = data;

	(void)addr;
	if (c->ptes)
		c->ptes[c->i] = pte;
	c->i++;
	return 0;
}

struct kmm_vm_struct *kmm_alloc_vm_area(size_t size, kmm_pte_t **ptes)
{
	struct kmm_vm_struct *area =
		kmm_get_vm_area_caller(size, KMM_VM_IOREMAP, __builtin_return_address(0));
	struct map_ctx c = { .ptes = ptes };

	if (!area)
		return NULL;
	if (kmm_apply_to_page_range(&kmm_init_mm, (unsigned long)area->addr,
				    KMM_ALIGN_UP(size, KMM_PAGE_SIZE), store_pte_fn, &c)) {
		kmm_free_vm_area(area);
		return NULL;
	}
	return area;
}

void kmm_free_vm_area(struct kmm_vm_struct *area)
{
	struct kmm_vm_struct *ret;

	if (!area)
		return;
	/*
	 * Look before removing: a copy of a live area's vm_struct (or any
	 * struct naming its address) must not take the real one away.
	 */
	if (kmm_find_vm_area(area->addr) != area) {
		kmm_pr_err("vmalloc: BUG: free_vm_area(%p): not a live area", area->addr);
		return;
	}
	if (area->flags & (KMM_VM_ALLOC | KMM_VM_MAP_PUT_PAGES)) {
		/* The kernel would free the VA and leak the pages and their array. */
		kmm_pr_warn("vmalloc: WARNING: free_vm_area(%p) of an area that owns its pages; use vfree()",
			    area->addr);
		return;
	}
	ret = kmm_remove_vm_area(area->addr);
	if (ret != area) {
		kmm_pr_err("vmalloc: BUG: free_vm_area(%p): not a live area", area->addr);
		return;
	}
	kmm_objcache_free(&vs.vm_cache, area);
}

/* ---- vmalloc ------------------------------------------------------------ */

static void warn_vmalloc(kmm_gfp_t gfp, const char *what, unsigned long size)
{
	if (!(gfp & KMM___GFP_NOWARN))
		kmm_pr_warn("vmalloc error: size %lu, %s, mode:%#x", size, what, gfp);
}

static void free_pages_array(struct kmm_vm_struct *vm)
{
	size_t bytes = (size_t)vm->nr_pages * sizeof(struct kmm_page *);

	/* Shadow mode: the array's area may exist without its buffer. */
	if (!vm->pages && !vm->pages_area)
		return;
	if (vm->pages_area) {
		if (vs.shadow)
			kmm_port_meta_free(vm->pages, bytes);	/* NULL is ignored */
		kmm_vfree(vm->pages_area);
	} else {
		kmm_port_meta_free(vm->pages, bytes);
	}
	vm->pages = NULL;
	vm->pages_area = NULL;
}

static unsigned long alloc_area_pages(kmm_gfp_t gfp, int node,
				      unsigned long nr, struct kmm_page **pages)
{
	unsigned long got = 0;

	/* Bulk in chunks of 100 (vm_area_alloc_pages()), then one by one. */
	while (got < nr) {
		unsigned long req = KMM_MIN(100UL, nr - got), n;

		n = kmm_alloc_pages_bulk(gfp & ~KMM___GFP_NOFAIL, node, req, pages + got);
		got += n - 0;
		if (n < req)
			break;
	}
	while (got < nr) {
		struct kmm_page *p = kmm_alloc_pages_node(node, gfp, 0);

		if (!p)
			break;
		pages[got++] = p;
	}
	return got;
}

/*
 * Real and strict mode map an area's pages in ascending PFN order: the
 * bulk allocator hands a LIFO per-CPU list out in falling order, and every
 * break in PFN order costs a separate host mapping.  The set of pages is
 * the kernel's; only which page backs which offset differs, which vmalloc
 * never promised.  Shadow mode keeps the allocator's order.  Shell sort:
 * the core has no libc.
 */
static void sort_pages_by_pfn(struct kmm_page **pages, unsigned long nr)
{
	unsigned long gap, i, j;

	for (gap = nr / 2; gap; gap /= 2)
		for (i = gap; i < nr; i++) {
			struct kmm_page *pg = pages[i];

			for (j = i; j >= gap && pages[j - gap] > pg; j -= gap)
				pages[j] = pages[j - gap];
			pages[j] = pg;
		}
}

void *kmm___vmalloc_node_range(unsigned long size, unsigned long align,
			       unsigned long start, unsigned long end,
			       kmm_gfp_t gfp, kmm_pgprot_t prot,
			       unsigned long vm_flags, int node,
			       const void *caller)
{
	struct kmm_vm_struct *area;
	unsigned long nr, real = size, got, i, addr;
	size_t array_size;
	kmm_gfp_t nested = (gfp & (KMM___GFP_RECLAIM | KMM___GFP_IO | KMM___GFP_FS |
				   KMM___GFP_NOWARN | KMM___GFP_HIGH)) | KMM___GFP_ZERO;

	if (!size) {
		kmm_pr_warn("vmalloc: WARNING: zero-sized allocation");
		return NULL;
	}
	if (!kmm_machine.booted)
		return NULL;
	if ((size >> KMM_PAGE_SHIFT) > kmm_machine.totalram_pages) {
		warn_vmalloc(gfp, "exceeds total pages", real);
		return NULL;
	}
	if (!kmm_is_power_of_2(align)) {
		kmm_pr_warn("vmalloc: WARNING: alignment %#lx is not a power of two", align);
		return NULL;
	}
	area = get_vm_area_node(size, align,
				KMM_VM_ALLOC | KMM_VM_UNINITIALIZED | vm_flags, start,
				end, node, gfp, caller);
	if (!area) {
		warn_vmalloc(gfp, "vm_struct allocation failed", real);
		return NULL;
	}
	addr = (unsigned long)area->addr;
	nr = kmm_get_vm_area_size(area) >> KMM_PAGE_SHIFT;
	array_size = nr * sizeof(struct kmm_page *);

	/* The pages array: vmalloc'ed itself when bigger than a page. */
	if (array_size > KMM_PAGE_SIZE) {
		area->pages_area = kmm___vmalloc_node_range(array_size, 1, kmm_vmalloc_start(),
							     kmm_vmalloc_end(), nested,
							     KMM_PAGE_KERNEL, 0, node,
							     area->caller);
		if (area->pages_area)
			area->pages = vs.shadow ? kmm_port_meta_alloc(array_size)
						: area->pages_area;
	} else {
		area->pages = kmm_port_meta_alloc(array_size);
	}
	if (!area->pages) {
		warn_vmalloc(gfp, "page array size is too large or not available", real);
		area->nr_pages = (unsigned)nr;
		free_pages_array(area);
		kmm_vfree(area->addr);
		return NULL;
	}
	area->nr_pages = (unsigned)nr;	/* array length, for freeing */
	if (!(gfp & (KMM___GFP_DMA | KMM___GFP_DMA32)))
		gfp |= KMM___GFP_HIGHMEM;
	got = alloc_area_pages(gfp | KMM___GFP_NOWARN, node, nr, area->pages);
	if (got < nr) {
		warn_vmalloc(gfp, "failed to allocate pages", real);
		for (i = 0; i < got; i++)
			kmm___free_pages(area->pages[i], 0);
		area->nr_pages = (unsigned)nr;
		free_pages_array(area);
		area->nr_pages = 0;
		kmm_vfree(area->addr);
		return NULL;
	}
	if (!vs.shadow)
		sort_pages_by_pfn(area->pages, nr);
	for (i = 0; i < nr; i++)
		kmm_page_set(area->pages[i], KMM_PG_vmalloc);
	if (kmm__vmap_pages_range(addr, addr + (nr << KMM_PAGE_SHIFT), prot, area->pages)) {
		warn_vmalloc(gfp, "failed to map pages", real);
		kmm_vfree(area->addr);
		return NULL;
	}
	atomic_fetch_add(&vs.vmalloc_used_pages, (long)nr);
	__atomic_and_fetch(&area->flags, ~(unsigned long)KMM_VM_UNINITIALIZED,
			   __ATOMIC_RELEASE);
	return area->addr;
}

void *kmm___vmalloc_node(unsigned long size, unsigned long align, kmm_gfp_t gfp,
			 int node, const void *caller)
{
	return kmm___vmalloc_node_range(size, align, kmm_vmalloc_start(),
					kmm_vmalloc_end(), gfp, KMM_PAGE_KERNEL, 0,
					node, caller);
}

#define CALLER __builtin_return_address(0)

void *kmm___vmalloc(unsigned long size, kmm_gfp_t gfp)
{
	return kmm___vmalloc_node(size, 1, gfp, -1, CALLER);
}

void *kmm_vmalloc(unsigned long size)
{
	return kmm___vmalloc_node(size, 1, KMM_GFP_KERNEL, -1, CALLER);
}

void *kmm_vzalloc(unsigned long size)
{
	return kmm___vmalloc_node(size, 1, KMM_GFP_KERNEL | KMM___GFP_ZERO, -1, CALLER);
}

void *kmm_vmalloc_node(unsigned long size, int node)
{
	return kmm___vmalloc_node(size, 1, KMM_GFP_KERNEL, node, CALLER);
}

void *kmm_vzalloc_node(unsigned long size, int node)
{
	return kmm___vmalloc_node(size, 1, KMM_GFP_KERNEL | KMM___GFP_ZERO, node, CALLER);
}

void *kmm_vmalloc_user(unsigned long size)
{
	return kmm___vmalloc_node_range(size, KMM_PAGE_SIZE /* SHMLBA */,
					kmm_vmalloc_start(), kmm_vmalloc_end(),
					KMM_GFP_KERNEL | KMM___GFP_ZERO, KMM_PAGE_KERNEL,
					KMM_VM_USERMAP, -1, CALLER);
}

void *kmm_vmalloc_32(unsigned long size)
{
	return kmm___vmalloc_node(size, 1, KMM_GFP_KERNEL | KMM_GFP_DMA32, -1, CALLER);
}

void *kmm_vmalloc_32_user(unsigned long size)
{
	return kmm___vmalloc_node_range(size, KMM_PAGE_SIZE, kmm_vmalloc_start(),
					kmm_vmalloc_end(),
					KMM_GFP_KERNEL | KMM_GFP_DMA32 | KMM___GFP_ZERO,
					KMM_PAGE_KERNEL, KMM_VM_USERMAP, -1, CALLER);
}

static void vfree_now(const void *addr)
{
	struct kmm_vm_struct *vm;
	unsigned i;

	vm = kmm_remove_vm_area(addr);
	if (!vm) {
		kmm_pr_warn("WARNING: Trying to vfree() nonexistent vm area (%p)", addr);
		return;
	}
	/* Counted only once mapped: failed vmallocs are freed uninitialised. */
	if ((vm->flags & KMM_VM_ALLOC) && !(vm->flags & KMM_VM_UNINITIALIZED))
		atomic_fetch_sub(&vs.vmalloc_used_pages, (long)vm->nr_pages);
	if (vm->flags & (KMM_VM_ALLOC | KMM_VM_MAP_PUT_PAGES)) {
		for (i = 0; i < vm->nr_pages; i++) {
			if (!vm->pages || !vm->pages[i])
				continue;
			kmm_page_clear(vm->pages[i], KMM_PG_vmalloc);
			kmm___free_pages(vm->pages[i], vm->page_order);
		}
		if (vm->flags & KMM_VM_MAP_PUT_PAGES) {
			/* The caller's array: kvfree() it as the kernel does. */
			kmm_kvfree(vm->pages);
			vm->pages = NULL;
		} else {
			free_pages_array(vm);
		}
	}
	kmm_objcache_free(&vs.vm_cache, vm);
}

void kmm_vfree(const void *addr)
{
	if (!addr)
		return;
	drain_vfree_deferred();
	if (!kmm_is_vmalloc_addr(addr)) {
		kmm_pr_warn("WARNING: vfree(%p): not a vmalloc address", addr);
		return;
	}
	vfree_now(addr);
}

/*
 * vfree_atomic(): push the address on a lock-free stack.  Real mode keeps
 * the link in the first word of the area being freed (it is still mapped
 * and ours until the deferred vfree); shadow mode cannot, so it frees now.
 */
void kmm_vfree_atomic(const void *addr)
{
	struct kmm_vm_struct *vm;
	uintptr_t head;

	if (!addr)
		return;
	vm = kmm_is_vmalloc_addr(addr) ? kmm_find_vm_area(addr) : NULL;
	if (vs.shadow || !vm || vm->addr != addr) {
		/* Not an area start (or shadow mode): vfree() says so, or frees. */
		kmm_vfree(addr);
		return;
	}
	if (__atomic_fetch_or(&vm->flags, KMM_VM_DEFERRED_FREE, __ATOMIC_ACQ_REL) &
	    KMM_VM_DEFERRED_FREE) {
		kmm_pr_warn("WARNING: Trying to vfree() nonexistent vm area (%p)", addr);
		return;
	}
	head = atomic_load(&vs.deferred);
	do {
		*(volatile uintptr_t *)addr = head;
	} while (!atomic_compare_exchange_weak(&vs.deferred, &head, (uintptr_t)addr));
}

static void drain_vfree_deferred(void)
{
	uintptr_t p;

	if (!atomic_load_explicit(&vs.deferred, memory_order_relaxed))
		return;
	p = atomic_exchange(&vs.deferred, 0);
	while (p) {
		uintptr_t next = *(volatile uintptr_t *)p;

		vfree_now((const void *)p);
		p = next;
	}
}

void *kmm_vmap(struct kmm_page **pages, unsigned int count, unsigned long flags,
	       kmm_pgprot_t prot)
{
	struct kmm_vm_struct *area;
	unsigned long size, addr;

	if (!count || !pages || count > kmm_machine.totalram_pages)
		return NULL;
	if (flags & (KMM_VM_FLUSH_RESET_PERMS | KMM_VM_NO_GUARD)) {
		kmm_pr_warn("vmap: WARNING: flags %#lx not allowed", flags);
		return NULL;
	}
	size = (unsigned long)count << KMM_PAGE_SHIFT;
	area = kmm_get_vm_area_caller(size, flags, CALLER);
	if (!area)
		return NULL;
	addr = (unsigned long)area->addr;
	prot.pgprot |= KMM__PAGE_NX;
	if (kmm__vmap_pages_range(addr, addr + size, prot, pages)) {
		kmm_vunmap(area->addr);
		return NULL;
	}
	if (flags & KMM_VM_MAP_PUT_PAGES) {
		area->pages = pages;
		area->nr_pages = count;
	}
	return area->addr;
}

void kmm_vm_struct_free(struct kmm_vm_struct *vm)
{
	if (vm)
		kmm_objcache_free(&vs.vm_cache, vm);
}

void kmm_vunmap(const void *addr)
{
	struct kmm_vm_struct *vm;

	if (!addr)
		return;
	drain_vfree_deferred();
	vm = kmm_remove_vm_area(addr);
	if (!vm) {
		kmm_pr_warn("WARNING: Trying to vunmap() nonexistent vm area (%p)", addr);
		return;
	}
	kmm_objcache_free(&vs.vm_cache, vm);
}

void *kmm_vmap_pfn(unsigned long *pfns, unsigned int count, kmm_pgprot_t prot)
{
	struct kmm_vm_struct *area;
	struct map_ctx c = { .pfns = pfns };
	unsigned long addr, size;
	unsigned i;

	if (!count || !pfns)
		return NULL;
	for (i = 0; i < count; i++)
		if (!vs.shadow && !kmm_pfn_valid(pfns[i])) {
			kmm_pr_warn("vmap_pfn: pfn %#lx is not memory this machine can map",
				    pfns[i]);
			return NULL;
		}
	size = (unsigned long)count * KMM_PAGE_SIZE;
	area = kmm_get_vm_area_caller(size, KMM_VM_IOREMAP, CALLER);
	if (!area)
		return NULL;
	addr = (unsigned long)area->addr;
	c.prot = (kmm_pgprot_t){ prot.pgprot | KMM__PAGE_SPECIAL | KMM__PAGE_NX };
	if (kmm_apply_to_page_range(&kmm_init_mm, addr, size, map_page_fn, &c) ||
	    kmm_flush_cache_vmap(addr, addr + size)) {
		kmm__vunmap_range_noflush(addr, addr + size);
		kmm_free_vm_area(area);
		return NULL;
	}
	return area->addr;
}

struct kmm_page *kmm_vmalloc_to_page(const void *addr)
{
	kmm_pte_t *ptep;
	kmm_pte_t pte;

	if (!kmm_is_vmalloc_addr(addr))
		return NULL;
	ptep = kmm_lookup_pte(&kmm_init_mm, (unsigned long)addr);
	if (!ptep)
		return NULL;
	pte = kmm_ptep_get(ptep);
	if (!kmm_pte_present(pte) || !kmm_pfn_valid(kmm_pte_pfn(pte)))
		return NULL;
	return kmm_pfn_to_page(kmm_pte_pfn(pte));
}

unsigned long kmm_vmalloc_to_pfn(const void *addr)
{
	struct kmm_page *p = kmm_vmalloc_to_page(addr);

	return p ? (unsigned long)kmm_page_to_pfn(p) : 0;
}

/* ---- kvmalloc ------------------------------------------------------------ */

/*
 * Small blocks come from metadata memory with a 16-byte header holding the
 * size (kmalloc's role); large ones from vmalloc in real mode.  Shadow
 * mode's vmalloc memory is not addressable, so there everything is
 * metadata.
 */
#define KV_HDR 16

void *kmm_kvmalloc(size_t size, kmm_gfp_t gfp)
{
	char *p;

	if (!size)
		return NULL;
	/* As the kernel: never more than INT_MAX, whatever the fallbacks could get. */
	if (size > 0x7fffffffUL) {
		if (!(gfp & KMM___GFP_NOWARN))
			kmm_pr_warn("kvmalloc: WARNING: size %zu is above INT_MAX", size);
		return NULL;
	}
	if (size > KMM_PAGE_SIZE && !vs.shadow && kmm_machine.booted) {
		void *v = kmm___vmalloc_node(size, 1, gfp, -1, CALLER);

		if (v || (gfp & KMM___GFP_NOWARN))
			return v;
	}
	p = kmm_port_meta_alloc(size + KV_HDR);
	if (!p)
		return NULL;
	*(size_t *)p = size;
	return p + KV_HDR;
}

void kmm_kvfree(const void *addr)
{
	char *p;

	if (!addr)
		return;
	if (kmm_is_vmalloc_addr(addr)) {
		kmm_vfree(addr);
		return;
	}
	p = (char *)addr - KV_HDR;
	kmm_port_meta_free(p, *(size_t *)p + KV_HDR);
}

/* ---- reports, stats, validation ----------------------------------------- */

static void seq_area_line(struct kmm_seq *m, const struct kmm_vmap_area *va)
{
	const struct kmm_vm_struct *v = va->vm;
	unsigned flags;

	if (!v) {
		if (va->flags & KMM_VMAP_RAM)
			kmm_seq_printf(m, "0x%016lx-0x%016lx %7ld vm_map_ram\n",
				       va->va_start, va->va_end, (long)va_size(va));
		return;
	}
	flags = (unsigned)__atomic_load_n(&v->flags, __ATOMIC_ACQUIRE);
	if (flags & KMM_VM_UNINITIALIZED)
		return;
	kmm_seq_printf(m, "0x%016lx-0x%016lx %7ld", (unsigned long)v->addr,
		       (unsigned long)v->addr + v->size, (long)v->size);
	if (v->caller) {
		char sym[160];

		if (kmm_port_symbolize(v->caller, sym, sizeof(sym)) > 0)
			kmm_seq_printf(m, " %s", sym);
		else
			kmm_seq_printf(m, " 0x%lx", (unsigned long)v->caller);
	}
	if (v->nr_pages)
		kmm_seq_printf(m, " pages=%u", v->nr_pages);
	if (v->phys_addr)
		kmm_seq_printf(m, " phys=0x%016llx", (unsigned long long)v->phys_addr);
	if (flags & KMM_VM_IOREMAP)
		kmm_seq_puts(m, " ioremap");
	if (flags & KMM_VM_SPARSE)
		kmm_seq_puts(m, " sparse");
	if (flags & KMM_VM_ALLOC)
		kmm_seq_puts(m, " vmalloc");
	if (flags & KMM_VM_MAP)
		kmm_seq_puts(m, " vmap");
	if (flags & KMM_VM_USERMAP)
		kmm_seq_puts(m, " user");
	if (flags & KMM_VM_DMA_COHERENT)
		kmm_seq_puts(m, " dma-coherent");
	if (v->pages_area && kmm_is_vmalloc_addr(v->pages_area))
		kmm_seq_puts(m, " vpages");
	if (v->pages && v->nr_pages) {
		unsigned counts[KMM_MAX_NUMNODES] = { 0 }, n;

		for (n = 0; n < v->nr_pages; n++)
			if (v->pages[n])
				counts[kmm_page_nid(v->pages[n])]++;
		for (n = 0; n < kmm_machine.nr_nodes; n++)
			if (counts[n])
				kmm_seq_printf(m, " N%u=%u", n, counts[n]);
	}
	kmm_seq_puts(m, "\n");
}

size_t kmm_report_vmallocinfo(char *buf, size_t size)
{
	struct kmm_seq m;
	struct kmm_list_head *pos;
	unsigned i;

	kmm_seq_init(&m, buf, size);
	if (!vs.initialized)
		return m.need;
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];

		kmm_port_lock(&vn->busy.lock);
		kmm_list_for_each(pos, &vn->busy.head)
			seq_area_line(&m, kmm_list_entry(pos, struct kmm_vmap_area, list));
		kmm_port_unlock(&vn->busy.lock);
	}
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];

		kmm_port_lock(&vn->lazy.lock);
		kmm_list_for_each(pos, &vn->lazy.head) {
			struct kmm_vmap_area *va = kmm_list_entry(pos, struct kmm_vmap_area, list);

			kmm_seq_printf(&m, "0x%016lx-0x%016lx %7ld unpurged vm_area\n",
				       va->va_start, va->va_end, (long)va_size(va));
		}
		kmm_port_unlock(&vn->lazy.lock);
	}
	return m.need;
}

void kmm_vmalloc_get_stats(struct kmm_vmalloc_stats *st)
{
	unsigned i, k;

	kmm_memset(st, 0, sizeof(*st));
	if (!vs.initialized)
		return;
	st->nr_vmap_nodes = vs.nr_nodes;
	st->lazy_max_pages = vs.lazy_max;
	st->nr_lazy_pages = (unsigned long)atomic_load(&vs.lazy_nr);
	st->nr_purges = atomic_load(&vs.nr_purges);
	st->nr_purged_areas = atomic_load(&vs.nr_purged_areas);
	st->nr_pool_hits = atomic_load(&vs.nr_pool_hits);
	st->vmalloc_used_pages = (unsigned long)atomic_load(&vs.vmalloc_used_pages);
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];
		struct kmm_list_head *pos;

		kmm_port_lock(&vn->busy.lock);
		kmm_list_for_each(pos, &vn->busy.head)
			st->nr_busy++;
		kmm_port_unlock(&vn->busy.lock);
		kmm_port_lock(&vn->lazy.lock);
		kmm_list_for_each(pos, &vn->lazy.head)
			st->nr_lazy++;
		kmm_port_unlock(&vn->lazy.lock);
		for (k = 0; k < KMM_MAX_VA_SIZE_PAGES; k++)
			st->nr_pooled += __atomic_load_n(&vn->pool[k].len, __ATOMIC_RELAXED);
	}
	kmm_port_lock(&vs.free_vmap_area_lock);
	st->nr_free_areas = vs.free.nr_free_areas;
	kmm_port_unlock(&vs.free_vmap_area_lock);
}

/* Validation: every range of the space is in exactly one place. */
struct span {
	unsigned long start, end;
	const char *where;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void sort_spans(struct span *s, size_t n)
{
	/* Shell sort: no libc in the core. */
	size_t gap, i, j;

	for (gap = n / 2; gap; gap /= 2)
		for (i = gap; i < n; i++) {
			struct span t = s[i];

			for (j = i; j >= gap && span_cmp(&s[j - gap], &t) > 0; j -= gap)
				s[j] = s[j - gap];
			s[j] = t;
		}
}

static int check_rbl(struct rb_list *l, const char *what, unsigned node,
		     bool busy, struct span *spans, size_t *n, size_t cap)
{
	struct kmm_list_head *pos;
	struct kmm_rb_node *rb = kmm_rb_first(&l->root);
	unsigned long prev_end = 0;

	kmm_list_for_each(pos, &l->head) {
		struct kmm_vmap_area *va = kmm_list_entry(pos, struct kmm_vmap_area, list);

		if (&va->rb_node != rb) {
			kmm_pr_err("validate: node %u %s: list and tree disagree at %#lx",
				   node, what, va->va_start);
			return -KMM_EINVAL;
		}
		rb = kmm_rb_next(rb);
		if (va->va_start >= va->va_end || va->va_start < prev_end ||
		    (va->va_start & ~KMM_PAGE_MASK) || (va->va_end & ~KMM_PAGE_MASK)) {
			kmm_pr_err("validate: node %u %s: bad or overlapping area [%#lx, %#lx)",
				   node, what, va->va_start, va->va_end);
			return -KMM_EINVAL;
		}
		if (busy && addr_to_node_id(va->va_start) != node) {
			kmm_pr_err("validate: busy area %#lx filed in node %u, belongs in %u",
				   va->va_start, node, addr_to_node_id(va->va_start));
			return -KMM_EINVAL;
		}
		if (busy && va->vm && ((unsigned long)va->vm->addr != va->va_start ||
				       va->vm->size != va_size(va))) {
			kmm_pr_err("validate: vm_struct of %#lx says %p+%lu", va->va_start,
				   va->vm->addr, va->vm->size);
			return -KMM_EINVAL;
		}
		prev_end = va->va_end;
		if (*n < cap)
			spans[*n] = (struct span){ va->va_start, va->va_end, what };
		(*n)++;
	}
	if (rb) {
		kmm_pr_err("validate: node %u %s: tree has more nodes than the list",
			   node, what);
		return -KMM_EINVAL;
	}
	return kmm_rb_validate(&l->root, NULL, NULL);
}

int kmm_vmalloc_validate(void)
{
	size_t cap = 0, n = 0, i;
	struct span *spans = NULL;
	unsigned long lazy_pages = 0, cursor;
	int ret = 0, tries;
	unsigned k, p;

	if (!vs.initialized)
		return 0;
	kmm_port_lock(&vs.vmap_purge_lock);
	for (tries = 0; tries < 2; tries++) {
		struct kmm_vmalloc_stats st;

		kmm_vmalloc_get_stats(&st);
		cap = st.nr_busy + st.nr_lazy + st.nr_pooled + st.nr_free_areas + 64;
		spans = kmm_port_meta_alloc(cap * sizeof(*spans));
		if (!spans) {
			kmm_port_unlock(&vs.vmap_purge_lock);
			return -KMM_ENOMEM;
		}
		n = 0;
		lazy_pages = 0;
		for (k = 0; k < vs.nr_nodes && !ret; k++) {
			struct vmap_node *vn = &vs.nodes[k];
			struct kmm_list_head *pos;

			kmm_port_lock(&vn->busy.lock);
			ret = check_rbl(&vn->busy, "busy", k, true, spans, &n, cap);
			kmm_port_unlock(&vn->busy.lock);
			if (ret)
				break;
			kmm_port_lock(&vn->lazy.lock);
			ret = check_rbl(&vn->lazy, "lazy", k, false, spans, &n, cap);
			kmm_list_for_each(pos, &vn->lazy.head)
				lazy_pages += va_size(kmm_list_entry(pos, struct kmm_vmap_area,
								     list)) >> KMM_PAGE_SHIFT;
			kmm_port_unlock(&vn->lazy.lock);
			if (ret)
				break;
			kmm_port_lock(&vn->pool_lock);
			for (p = 0; p < KMM_MAX_VA_SIZE_PAGES && !ret; p++) {
				unsigned long len = 0;

				kmm_list_for_each(pos, &vn->pool[p].head) {
					struct kmm_vmap_area *va =
						kmm_list_entry(pos, struct kmm_vmap_area, list);

					if (va_size(va) != (p + 1UL) * KMM_PAGE_SIZE) {
						kmm_pr_err("validate: node %u pool %u holds a %lu-byte area",
							   k, p + 1, va_size(va));
						ret = -KMM_EINVAL;
						break;
					}
					if (n < cap)
						spans[n] = (struct span){ va->va_start, va->va_end, "pool" };
					n++;
					len++;
				}
				if (!ret && len != vn->pool[p].len) {
					kmm_pr_err("validate: node %u pool %u: %lu areas, len %lu",
						   k, p + 1, len, vn->pool[p].len);
					ret = -KMM_EINVAL;
				}
			}
			kmm_port_unlock(&vn->pool_lock);
		}
		if (!ret) {
			struct kmm_vmap_area *va;

			kmm_port_lock(&vs.free_vmap_area_lock);
			ret = kmm_va_validate(&vs.free);
			kmm_va_for_each_free(va, &vs.free) {
				if (n < cap)
					spans[n] = (struct span){ va->va_start, va->va_end, "free" };
				n++;
			}
			kmm_port_unlock(&vs.free_vmap_area_lock);
		}
		if (ret || n <= cap)
			break;
		kmm_port_meta_free(spans, cap * sizeof(*spans));	/* grew: retry */
		spans = NULL;
	}
	if (!ret && lazy_pages != (unsigned long)atomic_load(&vs.lazy_nr)) {
		kmm_pr_err("validate: %lu lazy pages listed, vmap_lazy_nr %ld",
			   lazy_pages, atomic_load(&vs.lazy_nr));
		ret = -KMM_EINVAL;
	}
	if (!ret && spans) {
		sort_spans(spans, n);
		cursor = vs.free.start;
		for (i = 0; i < n && !ret; i++) {
			if (spans[i].start != cursor) {
				kmm_pr_err("validate: %s area [%#lx, %#lx) %s the previous end %#lx",
					   spans[i].where, spans[i].start, spans[i].end,
					   spans[i].start < cursor ? "overlaps" : "leaves a hole after",
					   cursor);
				ret = -KMM_EINVAL;
			}
			cursor = spans[i].end;
		}
		if (!ret && cursor != vs.free.end) {
			kmm_pr_err("validate: areas end at %#lx, the space at %#lx", cursor,
				   vs.free.end);
			ret = -KMM_EINVAL;
		}
	}
	if (spans)
		kmm_port_meta_free(spans, cap * sizeof(*spans));
	if (!ret)
		ret = kmm__vmap_blocks_validate();
	kmm_port_unlock(&vs.vmap_purge_lock);
	return ret;
}

/* ---- init / fini -------------------------------------------------------- */

static void rbl_init(struct rb_list *l)
{
	l->root = KMM_RB_ROOT;
	kmm_list_init(&l->head);
	kmm_port_lock_init(&l->lock);
}

int kmm__vmalloc_init(void)
{
	unsigned long start, end;
	unsigned i, k;
	int ret;

	kmm_memset(&vs, 0, sizeof(vs));
	vs.shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;
	vs.strict = kmm_machine.params.mode == KMM_MODE_STRICT;
	vs.auto_purge = true;
	vs.nr_nodes = KMM_CLAMP(kmm_machine.nr_cpus, 1u, 128u);
	vs.lazy_max = kmm_fls64(kmm_machine.nr_cpus) * ((32UL << 20) / KMM_PAGE_SIZE);
	kmm_port_lock_init(&vs.free_vmap_area_lock);
	kmm_port_lock_init(&vs.vmap_purge_lock);
	ret = kmm_objcache_init(&vs.va_cache, "vmap_area", sizeof(struct kmm_vmap_area));
	if (!ret)
		ret = kmm_objcache_init(&vs.vm_cache, "vm_struct", sizeof(struct kmm_vm_struct));
	if (ret)
		goto fail_locks;
	vs.nodes = kmm_port_meta_alloc(sizeof(struct vmap_node) * vs.nr_nodes);
	if (!vs.nodes) {
		ret = -KMM_ENOMEM;
		goto fail_caches;
	}
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];

		rbl_init(&vn->busy);
		rbl_init(&vn->lazy);
		kmm_port_lock_init(&vn->pool_lock);
		kmm_list_init(&vn->purge_list);
		for (k = 0; k < KMM_MAX_VA_SIZE_PAGES; k++)
			kmm_list_init(&vn->pool[k].head);
	}
	if (vs.shadow) {
		start = KMM_PAGE_SIZE;
		end = 0UL - KMM_PAGE_SIZE;
	} else {
		start = kmm_machine.vmalloc_start;
		end = kmm_machine.vmalloc_end;
	}
	ret = kmm_va_space_init(&vs.free, start, end, &vs.va_cache);
	if (ret)
		goto fail_nodes;
	ret = kmm__vmap_blocks_init(kmm_machine.nr_cpus);
	if (ret) {
		kmm_va_space_destroy(&vs.free);
		goto fail_nodes;
	}
	vs.initialized = true;
	return 0;

fail_nodes:
	for (i = 0; i < vs.nr_nodes; i++) {
		kmm_port_lock_destroy(&vs.nodes[i].busy.lock);
		kmm_port_lock_destroy(&vs.nodes[i].lazy.lock);
		kmm_port_lock_destroy(&vs.nodes[i].pool_lock);
	}
	kmm_port_meta_free(vs.nodes, sizeof(struct vmap_node) * vs.nr_nodes);
fail_caches:
	kmm_objcache_destroy(&vs.vm_cache);
	kmm_objcache_destroy(&vs.va_cache);
fail_locks:
	kmm_port_lock_destroy(&vs.free_vmap_area_lock);
	kmm_port_lock_destroy(&vs.vmap_purge_lock);
	return ret;
}

static void rbl_release(struct rb_list *l, bool busy)
{
	while (!kmm_list_empty(&l->head)) {
		struct kmm_vmap_area *va =
			kmm_list_first_entry(&l->head, struct kmm_vmap_area, list);

		kmm_list_del(&va->list);
		if (busy && va->vm) {
			struct kmm_vm_struct *vm = va->vm;
			size_t bytes = (size_t)vm->nr_pages * sizeof(struct kmm_page *);

			if (vm->flags & KMM_VM_MAP_PUT_PAGES) {
				if (!kmm_is_vmalloc_addr(vm->pages))
					kmm_kvfree(vm->pages);
			} else if (vm->pages && (!vm->pages_area || vs.shadow)) {
				kmm_port_meta_free(vm->pages, bytes);
			}
			kmm_objcache_free(&vs.vm_cache, vm);
		}
		kmm_objcache_free(&vs.va_cache, va);
	}
	l->root = KMM_RB_ROOT;
}

void kmm__vmalloc_fini(void)
{
	unsigned i;

	if (!vs.initialized)
		return;
	kmm__vmap_blocks_fini();
	vs.initialized = false;
	drain_vfree_deferred();
	/* Areas still allocated are forgotten; their objects go back. */
	for (i = 0; i < vs.nr_nodes; i++) {
		struct vmap_node *vn = &vs.nodes[i];
		unsigned k;

		rbl_release(&vn->busy, true);
		rbl_release(&vn->lazy, false);
		for (k = 0; k < KMM_MAX_VA_SIZE_PAGES; k++)
			while (!kmm_list_empty(&vn->pool[k].head)) {
				struct kmm_vmap_area *va = kmm_list_first_entry(
					&vn->pool[k].head, struct kmm_vmap_area, list);

				kmm_list_del(&va->list);
				kmm_objcache_free(&vs.va_cache, va);
			}
	}
	kmm_va_space_destroy(&vs.free);
	for (i = 0; i < vs.nr_nodes; i++) {
		kmm_port_lock_destroy(&vs.nodes[i].busy.lock);
		kmm_port_lock_destroy(&vs.nodes[i].lazy.lock);
		kmm_port_lock_destroy(&vs.nodes[i].pool_lock);
	}
	kmm_port_meta_free(vs.nodes, sizeof(struct vmap_node) * vs.nr_nodes);
	kmm_objcache_destroy(&vs.vm_cache);
	kmm_objcache_destroy(&vs.va_cache);
	kmm_port_lock_destroy(&vs.free_vmap_area_lock);
	kmm_port_lock_destroy(&vs.vmap_purge_lock);
}
