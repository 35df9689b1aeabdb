/* SPDX-License-Identifier: MIT */
/*
 * vmap_block.c - vm_map_ram()/vm_unmap_ram() with per-CPU vmap blocks,
 * after Linux 6.18 mm/vmalloc.c (behaviour re-implemented, no code taken).
 *
 * Small mappings (at most VMAP_MAX_ALLOC = 64 pages) are carved from
 * blocks of VMAP_BBMAP_BITS pages, each one vmap area with the VMAP_RAM |
 * VMAP_BLOCK flags and no guard page.  A CPU allocates only from the blocks
 * on its own free list, by bumping an offset by the request rounded up to a
 * power of two; freed space is never reused inside a block: it becomes
 * dirty (PTEs cleared, the TLB flush still owed, tracked as the span
 * [dirty_min, dirty_max)).  A block whose every page is dirty is freed (its
 * area lazily, like any vfree); a block whose pages are all free or dirty
 * but which is not full of dirt is "fragmented" and is purged when the VA
 * space runs short, or by vm_unmap_aliases() once fewer than
 * VMAP_PURGE_THRESHOLD pages remain free in it.  vm_unmap_aliases() also
 * flushes every block's dirty span.  Larger mappings are plain VMAP_RAM
 * areas from the VA allocator.
 *
 * Finding a block from an address: each CPU's queue also holds a table of
 * blocks (the kernel's xarray; an rbtree here) for the addresses that hash
 * to it, (addr / VMAP_BLOCK_SIZE) % nr_cpus, whoever allocated them.
 *
 * RCU: vb_alloc() walks its CPU's free list under rcu_read_lock() while
 * purges unlink blocks from it; a block's memory is returned only after a
 * grace period (kmm_port_call_rcu, like the kernel's kfree_rcu).
 *
 * Lock order (this file)
 * ----------
 *   vmap_purge_lock (vmalloc.c; _vm_unmap_aliases, reclaim)
 *     vbq->xa_lock (the address table of one queue)
 *       vb->lock
 *         vbq->lock (a free list's writers; the owner CPU's queue)
 *   vb_alloc(): rcu_read_lock -> vb->lock -> vbq->lock.
 *   Neither xa_lock nor a vb->lock is held across a call into the VA
 *   allocator or the page tables.
 */
#include <kmm/boot.h>
#include <kmm/lib.h>
#include <kmm/objcache.h>
#include <kmm/pgtable.h>
#include <kmm/vmalloc.h>

#define BITS ((unsigned long)KMM_VMAP_BBMAP_BITS)
#define LONGS (BITS / 64)

struct vmap_block {
	kmm_port_spinlock_t lock;		/* vb->lock */
	struct kmm_vmap_area *va;
	unsigned long free, dirty;		/* pages; read unlocked (relaxed) */
	unsigned long dirty_min, dirty_max;	/* not yet flushed: [min, max) */
	uint64_t used_map[LONGS];		/* pages handed out and not freed */
	unsigned char count[BITS];		/* at an allocation's first page: its count */
	struct kmm_list_head free_list;		/* RCU list of the owner CPU */
	struct kmm_list_head purge;
	struct kmm_rb_node xa_node;
	unsigned cpu;
	struct kmm_rcu_head rcu_head;
};

struct vmap_block_queue {
	_Alignas(64) kmm_port_spinlock_t lock;	/* vbq->lock */
	struct kmm_list_head free;
	kmm_port_spinlock_t xa_lock;
	struct kmm_rb_root vmap_blocks;		/* by va_start */
	unsigned long nr_blocks;
	/* vm_map_ram() calls on this CPU by path: per CPU, off shared lines */
	unsigned long nr_small, nr_large;
};

static struct {
	bool initialized;
	struct vmap_block_queue *queues;
	unsigned nr_cpus;
	struct kmm_objcache vb_cache;
	atomic_ulong nr_blocks_made, nr_blocks_freed, nr_blocks_purged;
} vbs;

/* ---- RCU lists: writers under vbq->lock, readers under rcu_read_lock --- */

static inline void list_add_tail_rcu(struct kmm_list_head *n, struct kmm_list_head *head)
{
	struct kmm_list_head *prev = head->prev;

	n->next = head;
	n->prev = prev;
	__atomic_store_n(&prev->next, n, __ATOMIC_RELEASE);	/* publish */
	head->prev = n;
}

static inline void list_del_rcu(struct kmm_list_head *e)
{
	e->next->prev = e->prev;
	__atomic_store_n(&e->prev->next, e->next, __ATOMIC_RELEASE);
	/* e->next stays valid for readers standing on e */
	e->prev = NULL;
}

static inline struct kmm_list_head *rcu_next(struct kmm_list_head *p)
{
	return __atomic_load_n(&p->next, __ATOMIC_ACQUIRE);
}

/* ---- helpers ----------------------------------------------------------- */

static inline unsigned long rd(const unsigned long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void wr(unsigned long *p, unsigned long v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline unsigned order_of(unsigned count)
{
	return count <= 1 ? 0 : kmm_fls64((uint64_t)count - 1);
}

static struct vmap_block_queue *addr_to_vbq(unsigned long addr)
{
	return &vbs.queues[(addr / KMM_VMAP_BLOCK_SIZE) % vbs.nr_cpus];
}

static struct vmap_block_queue *this_vbq(unsigned *cpu)
{
	*cpu = kmm_smp_processor_id() % vbs.nr_cpus;
	return &vbs.queues[*cpu];
}

static void bitmap_set_range(uint64_t *map, unsigned long start, unsigned long n)
{
	for (; n; n--, start++)
		map[start / 64] |= 1ULL << (start % 64);
}

static void bitmap_clear_range(uint64_t *map, unsigned long start, unsigned long n)
{
	for (; n; n--, start++)
		map[start / 64] &= ~(1ULL << (start % 64));
}

static bool bitmap_full_range(const uint64_t *map, unsigned long start, unsigned long n)
{
	for (; n; n--, start++)
		if (!(map[start / 64] & (1ULL << (start % 64))))
			return false;
	return true;
}

static unsigned long bitmap_weight_all(const uint64_t *map)
{
	unsigned long w = 0;
	unsigned i;

	for (i = 0; i < LONGS; i++)
		w += (unsigned long)__builtin_popcountll(map[i]);
	return w;
}

/* The address table ("xarray") of a queue: an rbtree by block start. */
static void xa_insert(struct vmap_block_queue *q, struct vmap_block *vb)
{
	struct kmm_rb_node **link = &q->vmap_blocks.rb_node, *parent = NULL;

	while (*link) {
		struct vmap_block *o = kmm_rb_entry(*link, struct vmap_block, xa_node);

		parent = *link;
		link = vb->va->va_start < o->va->va_start ? &(*link)->rb_left
							  : &(*link)->rb_right;
	}
	kmm_rb_link_node(&vb->xa_node, parent, link);
	kmm_rb_insert_color(&vb->xa_node, &q->vmap_blocks);
	q->nr_blocks++;
}

static struct vmap_block *xa_load(struct vmap_block_queue *q, unsigned long block_start)
{
	struct kmm_rb_node *n = q->vmap_blocks.rb_node;

	while (n) {
		struct vmap_block *vb = kmm_rb_entry(n, struct vmap_block, xa_node);

		if (block_start < vb->va->va_start)
			n = n->rb_left;
		else if (block_start > vb->va->va_start)
			n = n->rb_right;
		else
			return vb;
	}
	return NULL;
}

static struct vmap_block *find_block(unsigned long addr)
{
	struct vmap_block_queue *q = addr_to_vbq(addr);
	struct vmap_block *vb;

	kmm_port_spin_lock(&q->xa_lock);
	vb = xa_load(q, addr & ~(KMM_VMAP_BLOCK_SIZE - 1));
	kmm_port_spin_unlock(&q->xa_lock);
	return vb;
}

/* ---- blocks ------------------------------------------------------------- */

static void vb_free_rcu(struct kmm_rcu_head *head)
{
	struct vmap_block *vb = kmm_container_of(head, struct vmap_block, rcu_head);

	kmm_port_spin_destroy(&vb->lock);
	kmm_objcache_free(&vbs.vb_cache, vb);
}

/* Called with no lock of this file held. */
static void free_vmap_block(struct vmap_block *vb)
{
	struct vmap_block_queue *q = addr_to_vbq(vb->va->va_start);
	struct kmm_vmap_area *va;

	kmm_port_spin_lock(&q->xa_lock);
	kmm_rb_erase(&vb->xa_node, &q->vmap_blocks);
	q->nr_blocks--;
	kmm_port_spin_unlock(&q->xa_lock);
	va = kmm__find_unlink_vmap_area(vb->va->va_start);
	if (va != vb->va)
		kmm_pr_err("vmalloc: BUG: vmap block [%#lx, %#lx) not busy",
			   vb->va->va_start, vb->va->va_end);
	else
		kmm__free_vmap_area_noflush(va);	/* its PTEs are all clear */
	atomic_fetch_add(&vbs.nr_blocks_freed, 1);
	kmm_port_call_rcu(&vb->rcu_head, vb_free_rcu);
}

static void *new_vmap_block(unsigned order, unsigned count, kmm_gfp_t gfp, int node)
{
	struct vmap_block_queue *q;
	struct vmap_block *vb;
	struct kmm_vmap_area *va;
	unsigned cpu;
	int err = 0;

	vb = kmm_objcache_alloc(&vbs.vb_cache);
	if (!vb)
		return NULL;
	kmm_memset(vb, 0, sizeof(*vb));
	va = kmm__alloc_vmap_area(KMM_VMAP_BLOCK_SIZE, KMM_VMAP_BLOCK_SIZE,
				  kmm_vmalloc_start(), kmm_vmalloc_end(), node, gfp,
				  KMM_VMAP_RAM | KMM_VMAP_BLOCK, NULL, &err);
	if (!va) {
		kmm_objcache_free(&vbs.vb_cache, vb);
		return NULL;
	}
	kmm_port_spin_init(&vb->lock);
	vb->va = va;
	vb->free = BITS - (1UL << order);
	vb->dirty = 0;
	vb->dirty_min = BITS;
	vb->dirty_max = 0;
	bitmap_set_range(vb->used_map, 0, 1UL << order);
	vb->count[0] = (unsigned char)count;
	kmm_list_init(&vb->purge);

	q = addr_to_vbq(va->va_start);
	kmm_port_spin_lock(&q->xa_lock);
	xa_insert(q, vb);
	kmm_port_spin_unlock(&q->xa_lock);

	q = this_vbq(&cpu);
	vb->cpu = cpu;
	kmm_port_spin_lock(&q->lock);
	list_add_tail_rcu(&vb->free_list, &q->free);
	kmm_port_spin_unlock(&q->lock);
	atomic_fetch_add(&vbs.nr_blocks_made, 1);
	return (void *)va->va_start;
}

/*
 * Take @vb off its free list for purging when all its pages are free or
 * dirty (and not all dirty: then vb_free() frees it), if @force or fewer
 * than VMAP_PURGE_THRESHOLD pages are left.  Called with vb->lock held.
 */
static bool purge_fragmented_block(struct vmap_block *vb, struct kmm_list_head *purge_list,
				   bool force)
{
	struct vmap_block_queue *q = &vbs.queues[vb->cpu];

	if (vb->free + vb->dirty != BITS || vb->dirty == BITS)
		return false;
	if (!(force || vb->free < KMM_VMAP_PURGE_THRESHOLD))
		return false;
	wr(&vb->free, 0);		/* no more allocations from it */
	wr(&vb->dirty, BITS);		/* and never purged twice */
	vb->dirty_min = 0;
	vb->dirty_max = BITS;
	kmm_port_spin_lock(&q->lock);
	list_del_rcu(&vb->free_list);
	kmm_port_spin_unlock(&q->lock);
	kmm_list_add_tail(&vb->purge, purge_list);
	atomic_fetch_add(&vbs.nr_blocks_purged, 1);
	return true;
}

static void free_purged_blocks(struct kmm_list_head *purge_list)
{
	while (!kmm_list_empty(purge_list)) {
		struct vmap_block *vb =
			kmm_list_first_entry(purge_list, struct vmap_block, purge);

		kmm_list_del(&vb->purge);
		free_vmap_block(vb);
	}
}

static void purge_fragmented_blocks(unsigned cpu)
{
	struct vmap_block_queue *q = &vbs.queues[cpu];
	struct kmm_list_head purge, *pos;

	kmm_list_init(&purge);
	kmm_port_rcu_read_lock();
	for (pos = rcu_next(&q->free); pos != &q->free; pos = rcu_next(pos)) {
		struct vmap_block *vb = kmm_list_entry(pos, struct vmap_block, free_list);
		unsigned long free = rd(&vb->free), dirty = rd(&vb->dirty);

		if (free + dirty != BITS || dirty == BITS)
			continue;
		kmm_port_spin_lock(&vb->lock);
		purge_fragmented_block(vb, &purge, true);
		kmm_port_spin_unlock(&vb->lock);
	}
	kmm_port_rcu_read_unlock();
	free_purged_blocks(&purge);
}

void kmm__purge_fragmented_blocks_allcpus(void)
{
	unsigned cpu;

	if (!vbs.initialized)
		return;
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++)
		purge_fragmented_blocks(cpu);
}

static void *vb_alloc(unsigned count, kmm_gfp_t gfp, int node)
{
	unsigned order = order_of(count), cpu;
	struct vmap_block_queue *q;
	struct kmm_list_head *pos;
	void *vaddr = NULL;

	kmm_port_rcu_read_lock();
	q = this_vbq(&cpu);
	for (pos = rcu_next(&q->free); pos != &q->free; pos = rcu_next(pos)) {
		struct vmap_block *vb = kmm_list_entry(pos, struct vmap_block, free_list);
		unsigned long off;

		kmm_port_spin_lock(&vb->lock);
		if (vb->free < (1UL << order)) {
			kmm_port_spin_unlock(&vb->lock);
			continue;
		}
		off = BITS - vb->free;
		vaddr = (void *)(vb->va->va_start + (off << KMM_PAGE_SHIFT));
		wr(&vb->free, vb->free - (1UL << order));
		bitmap_set_range(vb->used_map, off, 1UL << order);
		vb->count[off] = (unsigned char)count;
		if (vb->free == 0) {
			kmm_port_spin_lock(&q->lock);
			list_del_rcu(&vb->free_list);
			kmm_port_spin_unlock(&q->lock);
		}
		kmm_port_spin_unlock(&vb->lock);
		break;
	}
	kmm_port_rcu_read_unlock();
	if (!vaddr)
		vaddr = new_vmap_block(order, count, gfp, node);
	return vaddr;
}

/* Return: 0, or -EINVAL (warned) when [addr, count) is no live allocation. */
static int vb_free(unsigned long addr, unsigned count)
{
	unsigned order = order_of(count);
	unsigned long offset = (addr & (KMM_VMAP_BLOCK_SIZE - 1)) >> KMM_PAGE_SHIFT;
	unsigned long size = (unsigned long)count << KMM_PAGE_SHIFT;
	struct vmap_block *vb;

	/*
	 * Under RCU from the lookup to vb->lock: a racing vb_free() of the
	 * block's last pages may free it meanwhile, and its memory must stay
	 * until we have looked (a bad call then finds no bits of its own).
	 */
	kmm_port_rcu_read_lock();
	vb = find_block(addr);
	if (!vb) {
		kmm_port_rcu_read_unlock();
		kmm_pr_warn("vm_unmap_ram: WARNING: %#lx is not in a vmap block", addr);
		return -KMM_EINVAL;
	}
	kmm_port_spin_lock(&vb->lock);
	if (offset + (1UL << order) > BITS || vb->count[offset] != count ||
	    !bitmap_full_range(vb->used_map, offset, 1UL << order)) {
		unsigned had = offset < BITS ? vb->count[offset] : 0;

		kmm_port_spin_unlock(&vb->lock);
		kmm_port_rcu_read_unlock();
		if (had)
			kmm_pr_warn("vm_unmap_ram: WARNING: %#lx was mapped with %u pages, not %u",
				    addr, had, count);
		else
			kmm_pr_warn("vm_unmap_ram: WARNING: %#lx is no vm_map_ram() mapping", addr);
		return -KMM_EINVAL;
	}
	bitmap_clear_range(vb->used_map, offset, 1UL << order);
	vb->count[offset] = 0;
	kmm_port_spin_unlock(&vb->lock);
	/* Our pages are not dirty yet, so nobody frees the block under us. */
	kmm_port_rcu_read_unlock();

	kmm__vunmap_range_noflush(addr, addr + size);
	/* As the kernel does under debug_pagealloc: kmm.mode=strict. */
	if (kmm_machine.params.mode == KMM_MODE_STRICT)
		kmm_flush_tlb_kernel_range(addr, addr + size);

	kmm_port_spin_lock(&vb->lock);
	/* The span whose TLB flush is still owed grows. */
	vb->dirty_min = KMM_MIN(vb->dirty_min, offset);
	vb->dirty_max = KMM_MAX(vb->dirty_max, offset + (1UL << order));
	wr(&vb->dirty, vb->dirty + (1UL << order));
	if (vb->dirty == BITS) {
		kmm_port_spin_unlock(&vb->lock);
		free_vmap_block(vb);
	} else {
		kmm_port_spin_unlock(&vb->lock);
	}
	return 0;
}

/* ---- the API ------------------------------------------------------------ */

void *kmm_vm_map_ram_prot(struct kmm_page **pages, unsigned int count, int node,
			  kmm_pgprot_t prot)
{
	unsigned long size = (unsigned long)count << KMM_PAGE_SHIFT, addr;
	void *mem;

	if (!vbs.initialized || !pages || count > kmm_machine.totalram_pages)
		return NULL;
	if (!count) {
		/* vb_alloc()'s WARN_ON(size == 0): get_order(0) is meaningless */
		kmm_pr_warn("vm_map_ram: WARNING: count 0");
		return NULL;
	}
	if (count <= KMM_VMAP_MAX_ALLOC) {
		mem = vb_alloc(count, KMM_GFP_KERNEL, node);
		if (!mem)
			return NULL;
		__atomic_fetch_add(&vbs.queues[kmm_smp_processor_id() % vbs.nr_cpus].nr_small, 1,
				   __ATOMIC_RELAXED);
	} else {
		int err = 0;
		struct kmm_vmap_area *va = kmm__alloc_vmap_area(size, KMM_PAGE_SIZE,
				kmm_vmalloc_start(), kmm_vmalloc_end(), node,
				KMM_GFP_KERNEL, KMM_VMAP_RAM, NULL, &err);

		if (!va)
			return NULL;
		mem = (void *)va->va_start;
		__atomic_fetch_add(&vbs.queues[kmm_smp_processor_id() % vbs.nr_cpus].nr_large, 1,
				   __ATOMIC_RELAXED);
	}
	addr = (unsigned long)mem;
	prot.pgprot |= KMM__PAGE_NX;
	if (kmm__vmap_pages_range(addr, addr + size, prot, pages) < 0) {
		kmm_vm_unmap_ram(mem, count);
		return NULL;
	}
	return mem;
}

void *kmm_vm_map_ram(struct kmm_page **pages, unsigned int count, int node)
{
	return kmm_vm_map_ram_prot(pages, count, node, KMM_PAGE_KERNEL);
}

void kmm_vm_unmap_ram(const void *mem, unsigned int count)
{
	unsigned long addr = (unsigned long)mem;
	struct kmm_vmap_area *va;

	if (!vbs.initialized)
		return;
	if (!addr || !count || addr < kmm_vmalloc_start() || addr > kmm_vmalloc_end() ||
	    (addr & ~KMM_PAGE_MASK)) {
		kmm_pr_warn("vm_unmap_ram: WARNING: bad address %p or count %u", mem, count);
		return;
	}
	if (count <= KMM_VMAP_MAX_ALLOC) {
		vb_free(addr, count);
		return;
	}
	va = kmm__find_vmap_area(addr);
	if (!va || va->va_start != addr || va->vm || !(va->flags & KMM_VMAP_RAM) ||
	    (va->flags & KMM_VMAP_BLOCK) ||
	    va->va_end - va->va_start != (unsigned long)count << KMM_PAGE_SHIFT) {
		kmm_pr_warn("vm_unmap_ram: WARNING: %p is no vm_map_ram() mapping of %u pages",
			    mem, count);
		return;
	}
	va = kmm__find_unlink_vmap_area(addr);
	if (va)
		kmm__free_unmap_vmap_area(va);
}

bool kmm__vmap_blocks_collect_dirty(unsigned long *start, unsigned long *end)
{
	struct kmm_list_head purge;
	bool flush = false;
	unsigned cpu;

	if (!vbs.initialized)
		return false;
	kmm_list_init(&purge);
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++) {
		struct vmap_block_queue *q = &vbs.queues[cpu];
		struct kmm_rb_node *n;

		kmm_port_spin_lock(&q->xa_lock);
		for (n = kmm_rb_first(&q->vmap_blocks); n; n = kmm_rb_next(n)) {
			struct vmap_block *vb = kmm_rb_entry(n, struct vmap_block, xa_node);

			kmm_port_spin_lock(&vb->lock);
			/* A fragmented block goes; otherwise flush its dirt. */
			if (!purge_fragmented_block(vb, &purge, false) && vb->dirty_max &&
			    vb->dirty != BITS) {
				unsigned long s = vb->va->va_start + (vb->dirty_min << KMM_PAGE_SHIFT);
				unsigned long e = vb->va->va_start + (vb->dirty_max << KMM_PAGE_SHIFT);

				*start = KMM_MIN(s, *start);
				*end = KMM_MAX(e, *end);
				vb->dirty_min = BITS;	/* not flushed again */
				vb->dirty_max = 0;
				flush = true;
			}
			kmm_port_spin_unlock(&vb->lock);
		}
		kmm_port_spin_unlock(&q->xa_lock);
	}
	free_purged_blocks(&purge);
	return flush;
}

void kmm_vmap_block_get_stats(struct kmm_vmap_block_stats *st)
{
	unsigned cpu;

	kmm_memset(st, 0, sizeof(*st));
	if (!vbs.initialized)
		return;
	st->bbmap_bits = BITS;
	st->nr_made = atomic_load(&vbs.nr_blocks_made);
	st->nr_freed = atomic_load(&vbs.nr_blocks_freed);
	st->nr_purged = atomic_load(&vbs.nr_blocks_purged);
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++) {
		struct vmap_block_queue *q = &vbs.queues[cpu];
		struct kmm_rb_node *n;

		st->nr_small += __atomic_load_n(&q->nr_small, __ATOMIC_RELAXED);
		st->nr_large += __atomic_load_n(&q->nr_large, __ATOMIC_RELAXED);
		kmm_port_spin_lock(&q->xa_lock);
		st->nr_blocks += q->nr_blocks;
		for (n = kmm_rb_first(&q->vmap_blocks); n; n = kmm_rb_next(n)) {
			struct vmap_block *vb = kmm_rb_entry(n, struct vmap_block, xa_node);

			kmm_port_spin_lock(&vb->lock);
			st->free_pages += vb->free;
			st->dirty_pages += vb->dirty;
			st->used_pages += bitmap_weight_all(vb->used_map);
			kmm_port_spin_unlock(&vb->lock);
		}
		kmm_port_spin_unlock(&q->xa_lock);
	}
}

/*
 * Every block: in the table of its address's queue, a busy VMAP_RAM |
 * VMAP_BLOCK area of VMAP_BLOCK_SIZE, aligned; used + free + dirty pages
 * add up; the bump offset (BITS - free) bounds every used page; every live
 * allocation has its count; a block is on its owner's free list exactly
 * when it has free pages.
 */
int kmm__vmap_blocks_validate(void)
{
	unsigned cpu;
	int bad = 0;

	if (!vbs.initialized)
		return 0;
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++) {
		struct vmap_block_queue *q = &vbs.queues[cpu];
		struct kmm_rb_node *n;
		unsigned long seen = 0;

		kmm_port_spin_lock(&q->xa_lock);
		for (n = kmm_rb_first(&q->vmap_blocks); n; n = kmm_rb_next(n)) {
			struct vmap_block *vb = kmm_rb_entry(n, struct vmap_block, xa_node);
			struct kmm_vmap_area *va = vb->va;
			unsigned long used, i, top;
			struct kmm_list_head *pos;
			bool listed = false;

			seen++;
			kmm_port_spin_lock(&vb->lock);
			used = bitmap_weight_all(vb->used_map);
			top = BITS - vb->free;
			if (addr_to_vbq(va->va_start) != q ||
			    va->va_end - va->va_start != KMM_VMAP_BLOCK_SIZE ||
			    (va->va_start & (KMM_VMAP_BLOCK_SIZE - 1)) ||
			    (va->flags & KMM_VMAP_FLAGS_MASK) != (KMM_VMAP_RAM | KMM_VMAP_BLOCK) ||
			    va->vm || kmm__find_vmap_area(va->va_start) != va) {
				kmm_pr_err("vmap_block: block %#lx: bad area or table", va->va_start);
				bad++;
			}
			if (vb->dirty != BITS && used + vb->dirty + vb->free > BITS) {
				kmm_pr_err("vmap_block: block %#lx: used %lu + dirty %lu + free %lu > %lu",
					   va->va_start, used, vb->dirty, vb->free, BITS);
				bad++;
			}
			for (i = top; vb->dirty != BITS && i < BITS; i++)
				if (vb->used_map[i / 64] & (1ULL << (i % 64))) {
					kmm_pr_err("vmap_block: block %#lx: page %lu used above the bump offset %lu",
						   va->va_start, i, top);
					bad++;
					break;
				}
			for (i = 0; i < BITS; i++)
				if (vb->count[i] &&
				    (vb->count[i] > KMM_VMAP_MAX_ALLOC ||
				     !bitmap_full_range(vb->used_map, i, 1UL << order_of(vb->count[i])))) {
					kmm_pr_err("vmap_block: block %#lx: allocation at %lu lost pages",
						   va->va_start, i);
					bad++;
					break;
				}
			if (vb->dirty_max && (vb->dirty_min >= vb->dirty_max || vb->dirty_max > BITS)) {
				kmm_pr_err("vmap_block: block %#lx: dirty span [%lu, %lu)",
					   va->va_start, vb->dirty_min, vb->dirty_max);
				bad++;
			}
			kmm_port_spin_lock(&vbs.queues[vb->cpu].lock);
			for (pos = vbs.queues[vb->cpu].free.next; pos != &vbs.queues[vb->cpu].free;
			     pos = pos->next)
				if (pos == &vb->free_list)
					listed = true;
			kmm_port_spin_unlock(&vbs.queues[vb->cpu].lock);
			if (listed != (vb->free != 0)) {
				kmm_pr_err("vmap_block: block %#lx: free %lu but %s the free list",
					   va->va_start, vb->free, listed ? "on" : "off");
				bad++;
			}
			kmm_port_spin_unlock(&vb->lock);
		}
		if (seen != q->nr_blocks) {
			kmm_pr_err("vmap_block: queue %u: %lu blocks in the table, count says %lu",
				   cpu, seen, q->nr_blocks);
			bad++;
		}
		kmm_port_spin_unlock(&q->xa_lock);
	}
	return bad ? -KMM_EINVAL : 0;
}

int kmm__vmap_blocks_init(unsigned nr_cpus)
{
	unsigned cpu;
	int ret;

	kmm_memset(&vbs, 0, sizeof(vbs));
	vbs.nr_cpus = nr_cpus ? nr_cpus : 1;
	vbs.queues = kmm_port_meta_alloc(sizeof(*vbs.queues) * vbs.nr_cpus);
	if (!vbs.queues)
		return -KMM_ENOMEM;
	ret = kmm_objcache_init(&vbs.vb_cache, "vmap_block", sizeof(struct vmap_block));
	if (ret) {
		kmm_port_meta_free(vbs.queues, sizeof(*vbs.queues) * vbs.nr_cpus);
		return ret;
	}
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++) {
		kmm_port_spin_init(&vbs.queues[cpu].lock);
		kmm_port_spin_init(&vbs.queues[cpu].xa_lock);
		kmm_list_init(&vbs.queues[cpu].free);
		vbs.queues[cpu].vmap_blocks.rb_node = NULL;
	}
	vbs.initialized = true;
	return 0;
}

/* At shutdown: blocks still there (mappings never unmapped) are dropped. */
void kmm__vmap_blocks_fini(void)
{
	unsigned cpu;

	if (!vbs.initialized)
		return;
	kmm_port_rcu_barrier();	/* blocks freed earlier, still in flight */
	for (cpu = 0; cpu < vbs.nr_cpus; cpu++) {
		struct vmap_block_queue *q = &vbs.queues[cpu];

		while (q->vmap_blocks.rb_node) {
			struct vmap_block *vb = kmm_rb_entry(q->vmap_blocks.rb_node,
							     struct vmap_block, xa_node);

			kmm_rb_erase(&vb->xa_node, &q->vmap_blocks);
			kmm_port_spin_destroy(&vb->lock);
			kmm_objcache_free(&vbs.vb_cache, vb);
		}
		kmm_port_spin_destroy(&q->lock);
		kmm_port_spin_destroy(&q->xa_lock);
	}
	kmm_objcache_destroy(&vbs.vb_cache);
	kmm_port_meta_free(vbs.queues, sizeof(*vbs.queues) * vbs.nr_cpus);
	vbs.initialized = false;
}
