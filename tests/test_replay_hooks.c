/* SPDX-License-Identifier: MIT */
/*
 * test_replay_hooks.c - the vmap layer's hooks for `kmm replay`:
 * kmm__vmap_load_area(), kmm__vmap_load_pooled(), kmm__vmap_relocate()
 * (including undoing a pool pop) and kmm__vmap_pool_trim_above().  Each
 * step is followed by kmm_vmalloc_validate().
 */
#include "kmm_test.h"

#include <kmm/vmalloc.h>

#define PG 4096UL

static void check_valid(const char *what)
{
	cr_assert_eq(kmm_vmalloc_validate(), 0, "vmalloc invalid after %s", what);
}

static unsigned long base(void)
{
	return kmm_vmalloc_start() + (1UL << 30);
}

/* Three 5-page areas in CPU 0's pool, A at the head, then B, then C. */
static void load_three(unsigned long *a, unsigned long *b, unsigned long *c)
{
	*a = base();
	*b = base() + 0x10000;
	*c = base() + 0x20000;
	cr_assert_eq(kmm__vmap_load_pooled(*a, 5 * PG, 0), 0);
	cr_assert_eq(kmm__vmap_load_pooled(*b, 5 * PG, 0), 0);
	cr_assert_eq(kmm__vmap_load_pooled(*c, 5 * PG, 0), 0);
	check_valid("loading the pool");
}

static unsigned long pop_on_cpu0(void)
{
	struct kmm_vmap_area *va;
	int err = 0;

	kmm_bind_cpu(0);
	va = kmm__alloc_vmap_area(5 * PG, PG, kmm_vmalloc_start(), kmm_vmalloc_end(), -1,
				  KMM_GFP_KERNEL, 0, NULL, &err);
	cr_assert_not_null(va, "alloc_vmap_area failed: %d", err);
	return va->va_start;
}

static void boot(void)
{
	kt_boot("kmm.mode=shadow mem=64M nr_cpus=2");
	kmm_vmap_set_auto_purge(false);
}

TestSuite(replay_hooks, .init = boot, .fini = kt_fini);

Test(replay_hooks, pooled_areas_pop_in_list_order)
{
	unsigned long a, b, c, node = 0;
	unsigned n;

	load_three(&a, &b, &c);
	cr_assert_eq(pop_on_cpu0(), a);
	cr_assert_eq(pop_on_cpu0(), b);
	cr_assert_eq(kmm__vmap_where(c, &n), KMM_VMAP_WHERE_POOL);
	cr_assert_eq(n, node);
	check_valid("two pops");
}

Test(replay_hooks, relocate_to_pool_undoes_the_pop)
{
	unsigned long a, b, c;
	struct kmm_vmalloc_stats st;

	load_three(&a, &b, &c);
	cr_assert_eq(pop_on_cpu0(), a);
	/* The kernel took C: A goes back to the head, C leaves the pool. */
	cr_assert_eq(kmm__vmap_relocate(a, c, true), 0);
	check_valid("relocate with undo");
	cr_assert_eq(kmm__vmap_where(c, NULL), KMM_VMAP_WHERE_BUSY);
	cr_assert_eq(kmm__vmap_where(a, NULL), KMM_VMAP_WHERE_POOL);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_pooled, 2);
	cr_assert_eq(st.nr_busy, 1);
	cr_assert_eq(pop_on_cpu0(), a, "the undone pop is the head again");
	cr_assert_eq(pop_on_cpu0(), b);
	check_valid("pops after the undo");
}

Test(replay_hooks, relocate_without_pool_frees_the_old_range)
{
	unsigned long a, b, c;

	load_three(&a, &b, &c);
	cr_assert_eq(pop_on_cpu0(), a);
	cr_assert_eq(kmm__vmap_relocate(a, base() + 0x40000, false), 0);
	check_valid("relocate to free space");
	cr_assert_eq(kmm__vmap_where(a, NULL), KMM_VMAP_WHERE_FREE);
	cr_assert_eq(kmm__vmap_where(base() + 0x40000, NULL), KMM_VMAP_WHERE_BUSY);
}

Test(replay_hooks, relocate_refusals_change_nothing)
{
	unsigned long a, b, c, busy;
	struct kmm_vmalloc_stats st0, st;

	load_three(&a, &b, &c);
	busy = pop_on_cpu0();
	kmm_vmalloc_get_stats(&st0);
	cr_assert_eq(kmm__vmap_relocate(base() + 0x80000, base(), false), -KMM_ENOENT);
	/* B is pooled but C is not free: moving onto a busy area is refused. */
	cr_assert_eq(kmm__vmap_relocate(busy, busy, false), -KMM_EBUSY);
	/* An area of no pool cannot be undone into one. */
	cr_assert_eq(kmm__vmap_load_area(base() + 0x100000, 300 * PG, false, 0), 0);
	cr_assert_eq(kmm__vmap_relocate(base() + 0x100000, base() + 0x400000, true),
		     -KMM_EINVAL);
	check_valid("refused relocations");
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_pooled, st0.nr_pooled);
	cr_assert_eq(st.nr_busy, st0.nr_busy + 1);
	cr_assert_eq(kmm__vmap_where(busy, NULL), KMM_VMAP_WHERE_BUSY);
	cr_assert_eq(kmm__vmap_where(b, NULL), KMM_VMAP_WHERE_POOL);
}

Test(replay_hooks, trim_above_returns_the_head_to_free_space)
{
	unsigned long a, b, c;
	struct kmm_vmalloc_stats st;

	load_three(&a, &b, &c);
	cr_assert_eq(kmm__vmap_pool_trim_above(c, 5 * PG, 0), 2);
	check_valid("trim");
	cr_assert_eq(kmm__vmap_where(a, NULL), KMM_VMAP_WHERE_FREE);
	cr_assert_eq(kmm__vmap_where(b, NULL), KMM_VMAP_WHERE_FREE);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_pooled, 1);
	cr_assert_eq(pop_on_cpu0(), c, "C is the head now");
	/* Trimming at the head drops nothing; bad input changes nothing. */
	cr_assert_eq(kmm__vmap_load_pooled(a, 5 * PG, 0), 0);
	cr_assert_eq(kmm__vmap_pool_trim_above(a, 5 * PG, 0), 0);
	cr_assert_eq(kmm__vmap_pool_trim_above(b, 5 * PG, 0), -KMM_ENOENT);
	cr_assert_eq(kmm__vmap_pool_trim_above(a, 5 * PG, 7), -KMM_EINVAL);
	cr_assert_eq(kmm__vmap_pool_trim_above(a, 300 * PG, 0), -KMM_EINVAL);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_pooled, 1);
	check_valid("refused trims");
}

Test(replay_hooks, load_refuses_overlaps)
{
	struct kmm_vmalloc_stats st0, st;

	cr_assert_eq(kmm__vmap_load_area(base(), 4 * PG, true, 1), 0);
	kmm_vmalloc_get_stats(&st0);
	cr_assert_eq(kmm__vmap_load_area(base() + PG, 4 * PG, false, 0), -KMM_EBUSY);
	cr_assert_eq(kmm__vmap_load_pooled(base() + 2 * PG, 4 * PG, 0), -KMM_EBUSY);
	cr_assert_eq(kmm__vmap_load_pooled(base() + 0x100000, 4 * PG, 9), -KMM_EINVAL);
	cr_assert_eq(kmm__vmap_load_pooled(base() + 0x100000, 300 * PG, 0), -KMM_EINVAL);
	kmm_vmalloc_get_stats(&st);
	cr_assert_eq(st.nr_lazy, st0.nr_lazy);
	cr_assert_eq(st.nr_pooled, 0);
	cr_assert_eq(st.nr_busy, 0);
	check_valid("refused loads");
}
