/* SPDX-License-Identifier: MIT */
/*
 * kvfree_rcu.c - kvfree_rcu(ptr, rhf) and kvfree_rcu_mightsleep(ptr):
 * free kvmalloc()/vmalloc() memory after an RCU grace period, batched per
 * CPU after Linux 6.18's kfree_rcu_cpu (mm/slab_common.c; behaviour
 * re-implemented, no code taken).
 *
 * Per CPU (struct kfree_rcu_cpu, "krcp")
 * --------------------------------------
 *   bulk     a chain of page-sized blocks of object pointers; the first is
 *            being filled, the others are full (KVFREE_BULK_MAX_ENTR each).
 *   head     objects linked through the struct kmm_rcu_head inside them,
 *            for two-argument calls when no block could be had.
 *   cache    up to RCU_MIN_CACHED_OBJS spare block pages.
 *   krw[]    KFREE_N_BATCHES channels: a detached collection waiting for
 *            its grace period.
 *
 *   queue ─┬─ bulk block has room ─────────────── store the pointer
 *          ├─ cache has a page ─────────────────── new block, store
 *          ├─ may allocate (headless, or shadow) ─ page allocator, store
 *          ├─ has a head (two-argument) ────────── link through the head
 *          └─ neither ───────────────────────────── synchronize_rcu(); kvfree()
 *
 *   The monitor (deferred work of the port) runs KFREE_DRAIN_JIFFIES after
 *   an object arrives on an empty CPU, or after one jiffy once a whole
 *   block's worth is waiting.  It moves everything the CPU holds into a
 *   free channel and hands the channel to call_rcu(); with every channel
 *   in flight it tries again later.  After the grace period the channel's
 *   callback kvfree()s every object, keeps emptied block pages in the
 *   cache (the rest go back to the page allocator) and frees the channel.
 *   A two-argument call that found the cache empty schedules a refill of
 *   it (fill_page_cache_func), since it does not allocate itself.
 *
 * Block pages are page-allocator pages reached through the direct map, as
 * the kernel's; in shadow mode, where the direct map is not memory, they
 * are metadata memory, and an object is never written (its rcu_head is
 * not used).
 *
 * Differences from Linux: no shrinker; kvfree_rcu_barrier() gives the
 * cached block pages back instead.  One bulk channel for kvmalloc and
 * vmalloc pointers alike (kmm_kvfree() tells them apart), where the
 * kernel keeps one per kind for kfree_bulk().  The two-argument call does
 * not poll for an already elapsed grace period (the kernel's gp_snap
 * shortcut); everything waits for the channel's own.
 *
 * Lock order (this file)
 * ----------
 *   krcp->lock is a leaf: no other lock is taken under it and nothing is
 *   allocated, freed or scheduled while it is held.  Objects are kvfree()d
 *   (vmalloc and page-allocator locks) with no krcp->lock held.
 */
#include <kmm/boot.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/lib.h>
#include <kmm/page_alloc.h>
#include <kmm/vmalloc.h>

#define DRAIN_SOON_NS 1000000ULL	/* one jiffy at HZ=1000 */

/* One page: 32-byte header, then the pointers. */
struct kvfree_bulk {
	struct kvfree_bulk *next;
	unsigned long nr_records;
	struct kmm_page *page;		/* the page it lives in; NULL: metadata */
	unsigned long cpu;		/* the CPU whose lists it may be on */
	void *records[KMM_KVFREE_BULK_MAX_ENTR];
};
_Static_assert(sizeof(struct kvfree_bulk) == KMM_PAGE_SIZE,
	       "a bulk block is one page");

struct kfree_rcu_cpu;

/* A channel (the kernel's kfree_rcu_cpu_work). */
struct kfree_rcu_batch {
	struct kmm_rcu_head rcu;
	struct kfree_rcu_cpu *krcp;
	struct kvfree_bulk *bulk;
	struct kmm_rcu_head *head;
	unsigned long count;
	bool busy;			/* handed to call_rcu(), not yet freed */
};

struct kfree_rcu_cpu {
	_Alignas(64) kmm_port_spinlock_t lock;	/* krcp->lock */
	struct kvfree_bulk *bulk;
	struct kmm_rcu_head *head;
	unsigned long count;			/* objects in bulk + head */
	struct kvfree_bulk *cache;
	unsigned nr_cache;
	struct kfree_rcu_batch krw[KMM_KFREE_N_BATCHES];
	struct kmm_work monitor_work;
	struct kmm_work page_cache_work;
	unsigned cpu;
	/* statistics, under lock */
	unsigned long nr_queued, nr_freed, nr_bulk, nr_head, nr_sync, nr_batches;
};

static struct {
	bool initialized;
	bool shadow;
	unsigned nr_cpus;
	struct kfree_rcu_cpu *cpus;
	atomic_ulong nr_bulk_pages;
} ks;

/* ---- block pages ------------------------------------------------------- */

static struct kvfree_bulk *bulk_page_alloc(kmm_gfp_t gfp, unsigned cpu)
{
	struct kvfree_bulk *b;
	struct kmm_page *page = NULL;

	if (ks.shadow) {
		b = kmm_port_meta_alloc(sizeof(*b));
	} else {
		page = kmm_alloc_pages(gfp | KMM___GFP_NOWARN, 0);
		b = page ? kmm_page_address(page) : NULL;
	}
	if (!b)
		return NULL;
	b->next = NULL;
	b->nr_records = 0;
	b->page = page;
	b->cpu = cpu;
	atomic_fetch_add_explicit(&ks.nr_bulk_pages, 1, memory_order_relaxed);
	return b;
}

static void bulk_pages_free(struct kvfree_bulk *b)
{
	while (b) {
		struct kvfree_bulk *next = b->next;

		atomic_fetch_sub_explicit(&ks.nr_bulk_pages, 1, memory_order_relaxed);
		if (b->page)
			kmm___free_pages(b->page, 0);
		else
			kmm_port_meta_free(b, sizeof(*b));
		b = next;
	}
}

/* A spare page from the cache, or NULL.  Called with krcp->lock held. */
static struct kvfree_bulk *cache_get_locked(struct kfree_rcu_cpu *krcp)
{
	struct kvfree_bulk *b = krcp->cache;

	if (b) {
		krcp->cache = b->next;
		krcp->nr_cache--;
		b->next = NULL;
		b->nr_records = 0;
	}
	return b;
}

/* Keep @b as a spare if there is room; else return it to the caller. */
static struct kvfree_bulk *cache_put_locked(struct kfree_rcu_cpu *krcp,
					    struct kvfree_bulk *b)
{
	if (krcp->nr_cache >= KMM_RCU_MIN_CACHED_OBJS)
		return b;
	b->next = krcp->cache;
	krcp->cache = b;
	krcp->nr_cache++;
	return NULL;
}

/* ---- queueing ------------------------------------------------------------ */

/* Store @ptr in the current block if it has room.  krcp->lock held. */
static bool bulk_add_locked(struct kfree_rcu_cpu *krcp, void *ptr)
{
	struct kvfree_bulk *b = krcp->bulk;

	if (!b || b->nr_records == KMM_KVFREE_BULK_MAX_ENTR) {
		b = cache_get_locked(krcp);
		if (!b)
			return false;
		b->next = krcp->bulk;
		krcp->bulk = b;
	}
	b->records[b->nr_records++] = ptr;
	krcp->nr_bulk++;
	return true;
}

/* Install a freshly allocated block and store @ptr in it. */
static void bulk_add_new_locked(struct kfree_rcu_cpu *krcp, struct kvfree_bulk *b,
				void *ptr)
{
	b->next = krcp->bulk;
	krcp->bulk = b;
	b->records[b->nr_records++] = ptr;
	krcp->nr_bulk++;
}

static void kfree_rcu_monitor(struct kmm_work *work);
static void fill_page_cache_func(struct kmm_work *work);

static void schedule_monitor(struct kfree_rcu_cpu *krcp, unsigned long count)
{
	kmm_port_schedule_work(&krcp->monitor_work, kfree_rcu_monitor,
			       count >= KMM_KVFREE_BULK_MAX_ENTR ? DRAIN_SOON_NS :
			       KMM_KFREE_DRAIN_NS);
}

/* A head allocated on the side (shadow mode), freed with its object. */
static void side_head_marker(struct kmm_rcu_head *head)
{
	(void)head;
}

/*
 * Shadow mode's two-argument call: a spare page, else a block or a side
 * head from metadata memory (which does not sleep), else the wait.
 */
static void kvfree_call_rcu_shadow(struct kfree_rcu_cpu *krcp, void *ptr)
{
	struct kvfree_bulk *fresh = NULL;
	struct kmm_rcu_head *side = NULL;
	unsigned long count;
	bool queued;

	kmm_port_spin_lock(&krcp->lock);
	queued = bulk_add_locked(krcp, ptr);
	kmm_port_spin_unlock(&krcp->lock);
	if (!queued) {
		fresh = bulk_page_alloc(KMM_GFP_NOWAIT, krcp->cpu);
		if (!fresh)
			side = kmm_port_meta_alloc(sizeof(*side));
	}
	kmm_port_spin_lock(&krcp->lock);
	if (!queued && fresh) {
		bulk_add_new_locked(krcp, fresh, ptr);
		queued = true;
	} else if (!queued && side) {
		side->opaque[0] = krcp->head;
		side->opaque[1] = ptr;
		side->func = side_head_marker;
		krcp->head = side;
		krcp->nr_head++;
		queued = true;
	}
	krcp->nr_queued++;
	if (queued) {
		krcp->count++;
	} else {
		krcp->nr_sync++;
		krcp->nr_freed++;
	}
	count = krcp->count;
	kmm_port_spin_unlock(&krcp->lock);
	if (!queued) {
		kmm_port_synchronize_rcu();
		kmm_kvfree(ptr);
		return;
	}
	schedule_monitor(krcp, count);
}

void kmm_kvfree_call_rcu(struct kmm_rcu_head *head, void *ptr)
{
	struct kfree_rcu_cpu *krcp;
	struct kvfree_bulk *fresh = NULL;
	bool queued, refill = false;
	unsigned long count;
	unsigned cpu;

	if (!ptr)
		return;
	if (!ks.initialized) {
		kmm_pr_warn("kvfree_rcu: %p freed before boot or after shutdown; ignored", ptr);
		return;
	}
	cpu = kmm_smp_processor_id();
	krcp = &ks.cpus[cpu];
	if (ks.shadow && head) {
		/* The object is not memory: never write it; nor sleep. */
		kvfree_call_rcu_shadow(krcp, ptr);
		return;
	}

	kmm_port_spin_lock(&krcp->lock);
	queued = bulk_add_locked(krcp, ptr);
	if (!queued && head) {
		/* Cannot allocate here: link the object itself, refill later. */
		head->opaque[0] = krcp->head;
		head->opaque[1] = ptr;
		krcp->head = head;
		krcp->nr_head++;
		queued = refill = true;
	}
	if (!queued) {
		/* Headless (or shadow): allocate a block with the lock dropped. */
		kmm_port_spin_unlock(&krcp->lock);
		fresh = bulk_page_alloc(KMM_GFP_KERNEL | KMM___GFP_NORETRY, cpu);
		kmm_port_spin_lock(&krcp->lock);
		queued = bulk_add_locked(krcp, ptr);	/* another thread may have made room */
		if (!queued && fresh) {
			bulk_add_new_locked(krcp, fresh, ptr);
			fresh = NULL;
			queued = true;
		}
	}
	if (queued) {
		krcp->count++;
		krcp->nr_queued++;
	} else {
		krcp->nr_queued++;
		krcp->nr_sync++;
		krcp->nr_freed++;
	}
	count = krcp->count;
	kmm_port_spin_unlock(&krcp->lock);

	if (fresh)
		bulk_pages_free(fresh);
	if (!queued) {
		/* The kernel's last resort for a headless object. */
		kmm_port_synchronize_rcu();
		kmm_kvfree(ptr);
		return;
	}
	if (refill)
		kmm_port_schedule_work(&krcp->page_cache_work, fill_page_cache_func, 0);
	schedule_monitor(krcp, count);
}

/* ---- draining ---------------------------------------------------------- */

/* Free everything of one channel (after its grace period). */
static void kfree_rcu_work(struct kmm_rcu_head *rcu)
{
	struct kfree_rcu_batch *ch = kmm_container_of(rcu, struct kfree_rcu_batch, rcu);
	struct kfree_rcu_cpu *krcp = ch->krcp;
	struct kvfree_bulk *b, *next, *spare = NULL;
	struct kmm_rcu_head *h = ch->head;
	unsigned long i, n = ch->count;

	for (b = ch->bulk; b; b = b->next)
		for (i = 0; i < b->nr_records; i++)
			kmm_kvfree(b->records[i]);
	while (h) {
		/* The head lives in the object (or on the side): read it first. */
		struct kmm_rcu_head *hn = h->opaque[0];
		bool side = h->func == side_head_marker;

		kmm_kvfree(h->opaque[1]);
		if (side)
			kmm_port_meta_free(h, sizeof(*h));
		h = hn;
	}

	kmm_port_spin_lock(&krcp->lock);
	for (b = ch->bulk; b; b = next) {
		next = b->next;
		b = cache_put_locked(krcp, b);
		if (b) {
			b->next = spare;
			spare = b;
		}
	}
	ch->bulk = NULL;
	ch->head = NULL;
	ch->count = 0;
	ch->busy = false;
	krcp->nr_freed += n;
	n = krcp->count;
	kmm_port_spin_unlock(&krcp->lock);
	bulk_pages_free(spare);
	if (n)
		schedule_monitor(krcp, n);	/* what waited for a channel */
}

/*
 * Move the CPU's collection into a free channel.  Return: the channel to
 * hand to call_rcu() (after dropping the lock), or NULL when there is
 * nothing to move or every channel is in flight (*@all_busy).
 */
static struct kfree_rcu_batch *detach_locked(struct kfree_rcu_cpu *krcp, bool *all_busy)
{
	unsigned i;

	*all_busy = false;
	if (!krcp->count)
		return NULL;
	for (i = 0; i < KMM_KFREE_N_BATCHES; i++) {
		struct kfree_rcu_batch *ch = &krcp->krw[i];

		if (ch->busy)
			continue;
		ch->bulk = krcp->bulk;
		ch->head = krcp->head;
		ch->count = krcp->count;
		ch->busy = true;
		krcp->bulk = NULL;
		krcp->head = NULL;
		krcp->count = 0;
		krcp->nr_batches++;
		return ch;
	}
	*all_busy = true;
	return NULL;
}

/* The monitor: offload what the CPU holds, or try again later. */
static void kfree_rcu_monitor(struct kmm_work *work)
{
	struct kfree_rcu_cpu *krcp = kmm_container_of(work, struct kfree_rcu_cpu, monitor_work);
	struct kfree_rcu_batch *ch;
	bool all_busy;

	kmm_port_spin_lock(&krcp->lock);
	ch = detach_locked(krcp, &all_busy);
	kmm_port_spin_unlock(&krcp->lock);
	if (ch)
		kmm_port_call_rcu(&ch->rcu, kfree_rcu_work);
	else if (all_busy)
		kmm_port_schedule_work(&krcp->monitor_work, kfree_rcu_monitor,
				       KMM_KFREE_DRAIN_NS);
}

/* Refill the CPU's page cache (two-argument calls do not allocate). */
static void fill_page_cache_func(struct kmm_work *work)
{
	struct kfree_rcu_cpu *krcp =
		kmm_container_of(work, struct kfree_rcu_cpu, page_cache_work);
	unsigned i;

	for (i = 0; i < KMM_RCU_MIN_CACHED_OBJS; i++) {
		struct kvfree_bulk *b = bulk_page_alloc(
			KMM_GFP_KERNEL | KMM___GFP_NORETRY, krcp->cpu);

		if (!b)
			break;
		kmm_port_spin_lock(&krcp->lock);
		b = cache_put_locked(krcp, b);
		kmm_port_spin_unlock(&krcp->lock);
		if (b) {
			bulk_pages_free(b);
			break;
		}
	}
}

void kmm_kvfree_rcu_barrier(void)
{
	unsigned c;

	if (!ks.initialized)
		return;
	for (c = 0; c < ks.nr_cpus; c++) {
		struct kfree_rcu_cpu *krcp = &ks.cpus[c];
		struct kvfree_bulk *spare;
		unsigned long pending;

		kmm_port_cancel_work_sync(&krcp->page_cache_work);
		for (;;) {
			struct kfree_rcu_batch *ch;
			bool all_busy;

			kmm_port_spin_lock(&krcp->lock);
			ch = detach_locked(krcp, &all_busy);
			kmm_port_spin_unlock(&krcp->lock);
			if (ch)
				kmm_port_call_rcu(&ch->rcu, kfree_rcu_work);
			else if (all_busy)
				kmm_port_rcu_barrier();	/* a channel comes free */
			else
				break;
		}
		/* A running monitor has issued its call_rcu() once this returns. */
		kmm_port_cancel_work_sync(&krcp->monitor_work);
		kmm_port_rcu_barrier();
		kmm_port_spin_lock(&krcp->lock);
		pending = krcp->count;	/* queued meanwhile: its monitor was cancelled */
		kmm_port_spin_unlock(&krcp->lock);
		if (pending)
			schedule_monitor(krcp, pending);
		/* No shrinker here: the spare pages go back now. */
		kmm_port_spin_lock(&krcp->lock);
		spare = krcp->cache;
		krcp->cache = NULL;
		krcp->nr_cache = 0;
		kmm_port_spin_unlock(&krcp->lock);
		bulk_pages_free(spare);
	}
}

/* ---- observation ------------------------------------------------------- */

void kmm_kvfree_rcu_get_stats(struct kmm_kvfree_rcu_stats *st)
{
	unsigned c, i;

	kmm_memset(st, 0, sizeof(*st));
	if (!ks.initialized)
		return;
	for (c = 0; c < ks.nr_cpus; c++) {
		struct kfree_rcu_cpu *krcp = &ks.cpus[c];

		kmm_port_spin_lock(&krcp->lock);
		st->nr_queued += krcp->nr_queued;
		st->nr_freed += krcp->nr_freed;
		st->nr_pending += krcp->count;
		for (i = 0; i < KMM_KFREE_N_BATCHES; i++)
			if (krcp->krw[i].busy)
				st->nr_in_flight += krcp->krw[i].count;
		st->nr_bulk += krcp->nr_bulk;
		st->nr_head += krcp->nr_head;
		st->nr_sync += krcp->nr_sync;
		st->nr_batches += krcp->nr_batches;
		st->nr_cached_pages += krcp->nr_cache;
		kmm_port_spin_unlock(&krcp->lock);
	}
	st->nr_bulk_pages = atomic_load_explicit(&ks.nr_bulk_pages, memory_order_relaxed);
}

/* Objects in a bulk chain and a head list; -1 when a block is malformed. */
static long collection_count(const struct kvfree_bulk *b, const struct kmm_rcu_head *h,
			     unsigned cpu, unsigned long *blocks)
{
	long n = 0;
	bool first = true;

	for (; b; b = b->next, first = false) {
		if (b->nr_records == 0 || b->nr_records > KMM_KVFREE_BULK_MAX_ENTR ||
		    (!first && b->nr_records != KMM_KVFREE_BULK_MAX_ENTR) || b->cpu != cpu)
			return -1;
		n += (long)b->nr_records;
		(*blocks)++;
	}
	for (; h; h = h->opaque[0])
		n++;
	return n;
}

static int validate_cpu(struct kfree_rcu_cpu *krcp, unsigned long *blocks)
{
	const struct kvfree_bulk *b;
	unsigned i, nc = 0;
	long n;

	n = collection_count(krcp->bulk, krcp->head, krcp->cpu, blocks);
	if (n < 0 || (unsigned long)n != krcp->count) {
		kmm_pr_err("kvfree_rcu: CPU %u holds %ld objects, counts %lu",
			   krcp->cpu, n, krcp->count);
		return -KMM_EINVAL;
	}
	for (b = krcp->cache; b; b = b->next) {
		if (b->cpu != krcp->cpu) {
			kmm_pr_err("kvfree_rcu: CPU %u caches a page of CPU %lu", krcp->cpu, b->cpu);
			return -KMM_EINVAL;
		}
		nc++;
	}
	*blocks += nc;
	if (nc != krcp->nr_cache || nc > KMM_RCU_MIN_CACHED_OBJS) {
		kmm_pr_err("kvfree_rcu: CPU %u caches %u pages, counts %u (at most %d)",
			   krcp->cpu, nc, krcp->nr_cache, KMM_RCU_MIN_CACHED_OBJS);
		return -KMM_EINVAL;
	}
	for (i = 0; i < KMM_KFREE_N_BATCHES; i++) {
		struct kfree_rcu_batch *ch = &krcp->krw[i];

		if (!ch->busy) {
			if (ch->bulk || ch->head || ch->count) {
				kmm_pr_err("kvfree_rcu: CPU %u channel %u is idle but not empty",
					   krcp->cpu, i);
				return -KMM_EINVAL;
			}
			continue;
		}
		n = collection_count(ch->bulk, ch->head, krcp->cpu, blocks);
		if (n <= 0 || (unsigned long)n != ch->count) {
			kmm_pr_err("kvfree_rcu: CPU %u channel %u holds %ld objects, counts %lu",
				   krcp->cpu, i, n, ch->count);
			return -KMM_EINVAL;
		}
	}
	if (krcp->nr_bulk + krcp->nr_head + krcp->nr_sync != krcp->nr_queued) {
		kmm_pr_err("kvfree_rcu: CPU %u queued %lu = bulk %lu + head %lu + sync %lu?",
			   krcp->cpu, krcp->nr_queued, krcp->nr_bulk, krcp->nr_head,
			   krcp->nr_sync);
		return -KMM_EINVAL;
	}
	return 0;
}

int kmm_kvfree_rcu_validate(void)
{
	struct kmm_kvfree_rcu_stats st;
	unsigned long blocks = 0, live;
	unsigned c;
	int ret = 0;

	if (!ks.initialized)
		return 0;
	for (c = 0; c < ks.nr_cpus && !ret; c++) {
		struct kfree_rcu_cpu *krcp = &ks.cpus[c];

		kmm_port_spin_lock(&krcp->lock);
		ret = validate_cpu(krcp, &blocks);
		kmm_port_spin_unlock(&krcp->lock);
	}
	if (ret)
		return ret;
	kmm_kvfree_rcu_get_stats(&st);
	if (st.nr_queued != st.nr_freed + st.nr_pending + st.nr_in_flight) {
		kmm_pr_err("kvfree_rcu: queued %lu != freed %lu + pending %lu + in flight %lu",
			   st.nr_queued, st.nr_freed, st.nr_pending, st.nr_in_flight);
		return -KMM_EINVAL;
	}
	/* Pages of a channel being freed are in neither place for a moment. */
	live = st.nr_bulk_pages;
	if (blocks > live) {
		kmm_pr_err("kvfree_rcu: %lu block pages reachable, %lu live", blocks, live);
		return -KMM_EINVAL;
	}
	return 0;
}

/* ---- boot ------------------------------------------------------------------- */

int kmm__kvfree_rcu_init(unsigned nr_cpus)
{
	unsigned c, i;

	ks.cpus = kmm_port_meta_alloc(sizeof(*ks.cpus) * nr_cpus);
	if (!ks.cpus)
		return -KMM_ENOMEM;
	ks.nr_cpus = nr_cpus;
	ks.shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;
	atomic_store(&ks.nr_bulk_pages, 0);
	for (c = 0; c < nr_cpus; c++) {
		struct kfree_rcu_cpu *krcp = &ks.cpus[c];

		kmm_port_spin_init(&krcp->lock);
		krcp->cpu = c;
		for (i = 0; i < KMM_KFREE_N_BATCHES; i++)
			krcp->krw[i].krcp = krcp;
	}
	ks.initialized = true;
	return 0;
}

void kmm__kvfree_rcu_fini(void)
{
	unsigned c;

	if (!ks.initialized)
		return;
	kmm_kvfree_rcu_barrier();
	ks.initialized = false;
	/* Nothing may still wait on the worker for memory about to go. */
	for (c = 0; c < ks.nr_cpus; c++) {
		kmm_port_cancel_work_sync(&ks.cpus[c].monitor_work);
		kmm_port_cancel_work_sync(&ks.cpus[c].page_cache_work);
		kmm_port_spin_destroy(&ks.cpus[c].lock);
	}
	kmm_port_meta_free(ks.cpus, sizeof(*ks.cpus) * ks.nr_cpus);
	ks.cpus = NULL;
	ks.nr_cpus = 0;
}
