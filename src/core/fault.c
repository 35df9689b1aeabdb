/* SPDX-License-Identifier: MIT */
/*
 * fault.c - fault injection (the kernel's lib/fault-inject.c behaviour,
 * written anew) plus a per-attribute "fail the Nth call" counter in the
 * spirit of /proc/self/fail-nth.
 *
 * Decision order for one call, as the kernel's should_fail_ex():
 *   0. the calling thread's any-point counter (kmm_fault_set_nth_any(),
 *      the kernel's per-task fail-nth) armed: decrement; the call that
 *      brings it to zero fails, every other call succeeds.
 *   1. the attribute's fail-nth armed: decrement; the call that brings it to zero fails,
 *      every other call succeeds (nothing else is consulted).
 *   2. times == 0: never fail.
 *   3. space > 0: subtract @size; fail only once space is used up.
 *   4. interval > 1: only every interval-th call may fail.
 *   5. probability percent (100: always).
 *   6. failing consumes one of @times (unless -1).
 *
 * Locks: none; counters are atomics (the any-point counter is
 * thread-local) so any thread may hit a fault point.
 */
#include <kmm/boot.h>
#include <kmm/fault.h>
#include <kmm/lib.h>

struct kmm_fault_attr kmm_fail_page_alloc = {
	.name = "fail_page_alloc",
	.ignore_gfp_reclaim = false,
	.min_order = 0,
};

struct kmm_fault_attr kmm_fail_host_map = {
	.name = "fail_host_map",
};

struct kmm_fault_attr kmm_fail_meta_alloc = {
	.name = "fail_meta_alloc",
};

struct kmm_fault_attr kmm_fail_host_call = {
	.name = "fail_host_call",
};

/* Per thread, like the kernel's current->fail_nth. */
_Thread_local long kmm__fail_nth_any;

void kmm_fault_set_nth_any(long nth)
{
	kmm__fail_nth_any = nth > 0 ? nth : 0;
}

long kmm_fault_get_nth_any(void)
{
	return kmm__fail_nth_any;
}

static bool fault_nth_hit(struct kmm_fault_attr *attr)
{
	long n = atomic_load(&attr->nth);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&attr->nth, &n, n - 1))
			return n == 1;
	}
	return false;
}

static void fault_report(struct kmm_fault_attr *attr)
{
	atomic_fetch_add(&attr->injected, 1);
	if (attr->verbose)
		kmm_pr_info("FAULT_INJECTION: forcing a failure at %s",
			    attr->name ? attr->name : "?");
}

bool kmm_should_fail(struct kmm_fault_attr *attr, size_t size)
{
	long times;

	if (kmm__fail_nth_any > 0) {
		/* The thread's counter over every fault point decides alone. */
		if (--kmm__fail_nth_any)
			return false;
		fault_report(attr);
		return true;
	}
	if (atomic_load_explicit(&attr->nth, memory_order_relaxed) > 0) {
		/* While armed, the counter alone decides (as current->fail_nth). */
		if (fault_nth_hit(attr)) {
			fault_report(attr);
			return true;
		}
		return false;
	}
	times = atomic_load_explicit(&attr->times, memory_order_relaxed);
	if (times == 0)
		return false;

	if (atomic_load_explicit(&attr->space, memory_order_relaxed) > 0) {
		long left = atomic_fetch_sub(&attr->space, (long)size) - (long)size;
		if (left > 0)
			return false;
	}

	if (attr->interval > 1) {
		unsigned long c = atomic_fetch_add(&attr->count, 1) + 1;
		if (c % attr->interval)
			return false;
	}

	if (attr->probability < 100 &&
	    attr->probability <= kmm_random() % 100)
		return false;

	if (times > 0) {
		/* Consume one; another thread may have used the last. */
		long t = atomic_load(&attr->times);
		do {
			if (t == 0)
				return false;
			if (t < 0)
				break;
		} while (!atomic_compare_exchange_weak(&attr->times, &t, t - 1));
	}
	fault_report(attr);
	return true;
}

static int next_field(const char **p, const char *end, uint64_t *v, bool allow_neg,
		      bool *neg)
{
	const char *s = *p, *e = s;

	if (neg)
		*neg = false;
	if (allow_neg && e < end && *e == '-') {
		*neg = true;
		s++;
		e++;
	}
	while (e < end && *e != ',')
		e++;
	if (kmm_parse_u64(s, (size_t)(e - s), v))
		return -KMM_EINVAL;
	*p = e < end ? e + 1 : e;
	return 0;
}

int kmm_fault_setup(struct kmm_fault_attr *attr, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	uint64_t interval, prob, space, times;
	bool neg;

	/* Exactly four comma-separated fields, like the kernel's setup_fault_attr(). */
	if (next_field(&p, end, &interval, false, NULL) ||
	    next_field(&p, end, &prob, false, NULL) ||
	    next_field(&p, end, &space, false, NULL) ||
	    next_field(&p, end, &times, true, &neg) || p != end ||
	    (p > s && p[-1] == ','))
		return -KMM_EINVAL;
	if (prob > 100 || (neg && times != 1))
		return -KMM_EINVAL;

	attr->interval = interval;
	attr->probability = prob;
	atomic_store(&attr->space, (long)space);
	atomic_store(&attr->times, neg ? -1L : (long)times);
	atomic_store(&attr->count, 0);
	return 0;
}

void kmm_fault_set_nth(struct kmm_fault_attr *attr, long nth)
{
	atomic_store(&attr->nth, nth > 0 ? nth : 0);
}

void kmm_fault_reset(struct kmm_fault_attr *attr)
{
	attr->probability = 0;
	attr->interval = 0;
	atomic_store(&attr->times, 0);
	atomic_store(&attr->space, 0);
	atomic_store(&attr->count, 0);
	atomic_store(&attr->nth, 0);
	atomic_store(&attr->injected, 0);
	attr->min_order = 0;
	attr->ignore_gfp_reclaim = false;
	attr->verbose = false;
}
