/* SPDX-License-Identifier: MIT */
/*
 * kmm/kvfree_rcu.h - freeing kvmalloc()/vmalloc() memory after an RCU
 * grace period: the kernel's kvfree_rcu(ptr, rhf) and
 * kvfree_rcu_mightsleep(ptr) (Linux 6.18 mm/slab_common.c, the
 * kfree_rcu_cpu batching), and kvfree_rcu_barrier().
 *
 * Each CPU collects pointers in page-sized bulk blocks (KVFREE_BULK_MAX_ENTR
 * pointers each) and, when no block can be had, objects through the
 * struct kmm_rcu_head inside them.  A monitor (deferred work of the port,
 * KFREE_DRAIN_JIFFIES after the first object, at once when a block is full)
 * hands the CPU's collection to one of KFREE_N_BATCHES channels, which
 * call_rcu() frees after one grace period, everything in one go.
 *
 * Shadow mode: vmalloc memory is not addressable, so the object is never
 * written (its rcu_head is not used: see kmm_kvfree_call_rcu()).
 */
#ifndef KMM_KVFREE_RCU_H
#define KMM_KVFREE_RCU_H

#include <kmm/port.h>
#include <kmm/types.h>

#define KMM_KVFREE_BULK_MAX_ENTR 508	/* (PAGE_SIZE - 32-byte header) / 8 */
#define KMM_KFREE_N_BATCHES 2		/* channels in flight per CPU */
#define KMM_KFREE_DRAIN_NS 20000000ULL	/* KFREE_DRAIN_JIFFIES: HZ / 50 */
#define KMM_RCU_MIN_CACHED_OBJS 5	/* spare bulk pages kept per CPU */

/**
 * kmm_kvfree_call_rcu - free @ptr with kmm_kvfree() after a grace period
 * (the kernel's kvfree_call_rcu()).
 * @head: the struct kmm_rcu_head inside the object (the two-argument
 *   kvfree_rcu()), or NULL (kvfree_rcu_mightsleep()).
 * @ptr: the object: what kmm_kvmalloc(), kmm_vmalloc() or
 *   kmm___vmalloc_node() returned (not a pointer into it).  NULL is ignored.
 *
 * The pointer goes into the current CPU's bulk block; a new block comes
 * from the CPU's cache of spare pages.  With @head nothing is allocated
 * (the call never sleeps): when the cache is empty the object is linked
 * through @head and a refill of the cache is scheduled.  Without @head a
 * block page comes from the page allocator (GFP_KERNEL | __GFP_NORETRY);
 * when there is none the caller waits for a grace period and frees @ptr
 * itself, as the kernel's mightsleep fallback does.  Shadow mode never
 * writes the object (it is not memory): there a two-argument call that
 * finds no spare page takes a block, or failing that a small node for
 * the pointer, from metadata memory, which does not sleep either; only
 * when even that fails does it wait like the headless form.
 *
 * Context: with @head any context that may take a spinlock (krcp->lock);
 * without it process context that may sleep, outside rcu_read_lock().
 * Locks: the CPU's krcp->lock, the page allocator's.
 */
void kmm_kvfree_call_rcu(struct kmm_rcu_head *head, void *ptr);

/**
 * kmm_kvfree_rcu_barrier - wait until everything queued by
 * kmm_kvfree_call_rcu() before the call has been freed: every CPU's
 * collection is handed to a channel at once and the grace periods are
 * waited for.
 * Context: process context, may sleep; never inside rcu_read_lock() nor
 * from an RCU callback.
 */
void kmm_kvfree_rcu_barrier(void);

/* kvfree_rcu statistics, summed over CPUs (for tests and benchmarks). */
struct kmm_kvfree_rcu_stats {
	unsigned long nr_queued;	/* objects accepted since boot */
	unsigned long nr_freed;		/* objects freed after their grace period */
	unsigned long nr_pending;	/* on CPUs, not yet handed to a channel */
	unsigned long nr_in_flight;	/* in channels waiting for their grace period */
	unsigned long nr_bulk;		/* objects that went through bulk blocks */
	unsigned long nr_head;		/* ... through their rcu_head */
	unsigned long nr_sync;		/* freed inline after synchronize_rcu() */
	unsigned long nr_batches;	/* channels handed to call_rcu() */
	unsigned long nr_bulk_pages;	/* bulk pages live (in use and cached) */
	unsigned long nr_cached_pages;	/* of which spare, in the CPUs' caches */
};

/** kmm_kvfree_rcu_get_stats - fill @st.  Context: any; takes each krcp->lock. */
void kmm_kvfree_rcu_get_stats(struct kmm_kvfree_rcu_stats *st);

/**
 * kmm_kvfree_rcu_validate - every CPU's counters against its blocks and
 * head list, block fill levels, the page cache, the channels, and
 * queued = freed + pending + in flight.
 * Context: takes every krcp->lock in turn; exact only while no other
 * thread queues or frees (a channel may be between its CPU and the page
 * allocator).  Return: 0 or -EINVAL (logged).
 */
int kmm_kvfree_rcu_validate(void);

/* Boot-time setup and teardown (boot.c). */
int kmm__kvfree_rcu_init(unsigned nr_cpus);
void kmm__kvfree_rcu_fini(void);

#endif /* KMM_KVFREE_RCU_H */
