/* SPDX-License-Identifier: MIT */
/*
 * kmm/fault.h - fault injection, modelled on the kernel's fault_attr
 * (lib/fault-inject.c) and /proc/self/fail-nth.
 *
 * A fault point asks kmm_should_fail(attr, size) before it does its work.
 * While fail-nth is armed, exactly the Nth call from arming fails and no
 * other rule is consulted.  Otherwise a call fails when times != 0 (-1:
 * unlimited), @space bytes have already been let through, it is an
 * @interval-th call, and a @probability percent draw says so; each failure
 * uses up one of @times.  src/core/fault.c gives the exact order.
 *
 * kmm_fault_set_nth_any() is the per-thread counter over every fault point
 * (the kernel's per-task fail-nth); it is consulted first.
 *
 * Differences from Linux: kmm_fail_page_alloc starts with min_order 0 and
 * ignore_gfp_reclaim off (the kernel's defaults are 1 and on), so that
 * injection reaches the GFP_KERNEL order-0 allocations tests care about.
 * The boot parameter fail_page_alloc=<interval>,<probability>,<space>,<times>
 * sets kmm_fail_page_alloc exactly as the kernel's does.
 */
#ifndef KMM_FAULT_H
#define KMM_FAULT_H

#include <stdatomic.h>

#include <kmm/types.h>

struct kmm_fault_attr {
	const char *name;
	unsigned long probability;	/* percent, 0..100 */
	unsigned long interval;		/* 0/1: every call */
	atomic_long times;		/* -1: no limit; 0: off */
	atomic_long space;		/* bytes to let through first */
	atomic_ulong count;		/* calls seen */
	atomic_long nth;		/* >0: the nth call from now fails */
	unsigned long min_order;	/* page alloc: ignore smaller orders */
	bool ignore_gfp_reclaim;	/* page alloc: ignore sleeping allocs */
	bool verbose;			/* log each injected failure */
	atomic_ulong injected;		/* failures injected so far */
};

/*
 * Fault points; kmm_fail_objcache (every kmm_objcache_alloc()) is in
 * kmm/objcache.h.  docs/man/kmm_fault.3 lists what each one covers.
 */
extern struct kmm_fault_attr kmm_fail_page_alloc;
/*
 * Host mapping calls made by a flush (kmm_port_map / kmm_port_unmap of a
 * PTE run): an injected failure is -ENOMEM, as the host answers at
 * vm.max_map_count, and the call is not made.  Reset at boot.
 */
extern struct kmm_fault_attr kmm_fail_host_map;

/*
 * Metadata memory: every kmm_port_meta_alloc() of the hosted port
 * (kmalloc()'s role: page-table twins, VMAs, mms, small page arrays,
 * objcache chunks, CMA bitmaps, ...).  An injected failure returns NULL
 * without asking the host.  Reset at boot.
 */
extern struct kmm_fault_attr kmm_fail_meta_alloc;
/*
 * Host calls of the hosted port other than a flush's map/unmap (which are
 * kmm_fail_host_map): kmm_port_user_reserve(), kmm_port_demand_map(),
 * and kmm_port_migrate_fence() (real mode only).  An injected failure is
 * -ENOMEM and the call is not made.  Reset at boot.
 */
extern struct kmm_fault_attr kmm_fail_host_call;

/*
 * The calling thread's "fail the Nth call at any fault point" counter
 * (the kernel's per-task /proc/self/task/<tid>/fail-nth).  Only the
 * header's inline test reads it directly; use the functions below.
 */
extern _Thread_local long kmm__fail_nth_any;

/** kmm_fault_armed - cheap test: can @attr fail anything at all now? */
static inline bool kmm_fault_armed(struct kmm_fault_attr *attr)
{
	return kmm__fail_nth_any > 0 ||
	       atomic_load_explicit(&attr->times, memory_order_relaxed) != 0 ||
	       atomic_load_explicit(&attr->nth, memory_order_relaxed) > 0;
}

/**
 * kmm_should_fail - decide whether this call at @attr fails.
 * @size: bytes (for @space accounting).
 * Context: any thread; lock-free.
 */
bool kmm_should_fail(struct kmm_fault_attr *attr, size_t size);

/**
 * kmm_fault_setup - parse "<interval>,<probability>,<space>,<times>".
 * Return: 0 or -EINVAL (attr unchanged).
 */
int kmm_fault_setup(struct kmm_fault_attr *attr, const char *s, size_t len);

/** kmm_fault_set_nth - make the @nth call from now fail (0: disarm). */
void kmm_fault_set_nth(struct kmm_fault_attr *attr, long nth);

/**
 * kmm_fault_set_nth_any - make the calling thread's @nth call from now at
 * any fault point fail (0 or less: disarm).
 *
 * Like writing @nth to the kernel's /proc/self/task/<tid>/fail-nth: only
 * the calls this thread makes count, at every attribute (page allocation,
 * objcache, metadata, host map, host call), and while the counter is armed
 * it alone decides: each call decrements it, the one that brings it to 0
 * fails (once), every other call succeeds without consulting the
 * attribute's own settings.  The failure is counted in that attribute's
 * @injected.  Other threads are unaffected.
 * Context: any thread; no lock (the counter is thread-local).
 */
void kmm_fault_set_nth_any(long nth);

/**
 * kmm_fault_get_nth_any - the calling thread's counter: calls left until
 * the failure, or 0 when disarmed (nothing armed, or the failure fired).
 * Context: any thread.
 * Return: the counter, >= 0.
 */
long kmm_fault_get_nth_any(void);

/** kmm_fault_reset - disable @attr entirely and clear its counters. */
void kmm_fault_reset(struct kmm_fault_attr *attr);

#endif /* KMM_FAULT_H */
