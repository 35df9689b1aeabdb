/* SPDX-License-Identifier: MIT */
/*
 * test_fault.c - fault injection of page allocations: the
 * fail_page_alloc= and fail_page_alloc.nth= boot parameters,
 * kmm_fault_set_nth(), probability, interval, space, times, min_order,
 * ignore_gfp_reclaim, __GFP_NOFAIL, counters, and refusals.
 */
#define _GNU_SOURCE

#include <string.h>

#include "kmm_test.h"

TestSuite(fault, .fini = kt_fini, .timeout = 120);

#define ATTR (&kmm_fail_page_alloc)

/* One order-0 allocation, freed at once: true when it succeeded. */
static bool try_alloc(kmm_gfp_t gfp, unsigned order)
{
	struct kmm_page *p = kmm_alloc_pages(gfp | KMM___GFP_NOWARN, order);

	if (!p)
		return false;
	kmm___free_pages(p, order);
	return true;
}

/* @n allocations; returns a string of 'S' (success) and 'F' (failure). */
static const char *pattern(int n, kmm_gfp_t gfp)
{
	static char buf[256];

	cr_assert_lt(n, (int)sizeof(buf));
	for (int i = 0; i < n; i++)
		buf[i] = try_alloc(gfp, 0) ? 'S' : 'F';
	buf[n] = '\0';
	return buf;
}

static void setup_ok(const char *s)
{
	cr_assert_eq(kmm_fault_setup(ATTR, s, strlen(s)), 0, "kmm_fault_setup(\"%s\")", s);
}

/* ---- boot parameters -------------------------------------------------------- */

/*
 * fail_page_alloc= arms injection for the machine's users: boot's own
 * allocations (page-table roots, ...) must neither fail nor use it up.
 */
Test(fault, boot_param_fails_exactly_the_next_n)
{
	int ret;

	kt_log_start();
	ret = kmm_boot("mem=64M fail_page_alloc=1,100,0,3");
	if (ret)
		kt_log_dump("boot with fail_page_alloc");
	cr_assert_eq(ret, 0, "kmm_boot with fail_page_alloc=1,100,0,3 failed (%d): "
			     "boot's own page allocation was failed by injection", ret);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 0,
		     "boot used up an injected failure");
	cr_assert_str_eq(pattern(6, KMM_GFP_KERNEL), "FFFSSS");
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 3);
	cr_assert_eq(atomic_load(&ATTR->injected), 3);
	kt_assert_valid("injected failures");
}

Test(fault, boot_param_nth)
{
	int ret;

	kt_log_start();
	ret = kmm_boot("mem=64M fail_page_alloc.nth=3");
	cr_assert_eq(ret, 0, "kmm_boot(fail_page_alloc.nth=3) = %d", ret);
	cr_assert_str_eq(pattern(6, KMM_GFP_KERNEL), "SSFSSS",
			 "the 3rd allocation after boot must fail");
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 1);
}

Test(fault, boot_param_nth_1_still_boots)
{
	int ret;

	kt_log_start();
	ret = kmm_boot("mem=64M fail_page_alloc.nth=1");
	if (ret)
		kt_log_dump("nth=1");
	cr_assert_eq(ret, 0, "kmm_boot(fail_page_alloc.nth=1) = %d", ret);
	cr_assert_str_eq(pattern(3, KMM_GFP_KERNEL), "FSS");
}

Test(fault, boot_param_parsed)
{
	kt_boot("mem=64M fail_page_alloc=7,35,4096,-1 fail_page_alloc=2,50,0,9");
	/* The last one wins, as with every parameter. */
	cr_assert_eq(ATTR->interval, 2);
	cr_assert_eq(ATTR->probability, 50);
	cr_assert_eq(atomic_load(&ATTR->space), 0);
	cr_assert_eq(atomic_load(&ATTR->times), 9);
}

Test(fault, shutdown_disarms)
{
	kt_boot("mem=64M");
	setup_ok("1,100,0,-1");
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 0));
	kt_shutdown();
	kt_boot("mem=64M");
	cr_assert_str_eq(pattern(5, KMM_GFP_KERNEL), "SSSSS");
	cr_assert_eq(atomic_load(&ATTR->times), 0);
	cr_assert_eq(atomic_load(&ATTR->nth), 0);
	cr_assert_eq(atomic_load(&ATTR->injected), 0);
}

/* ---- the decision -------------------------------------------------------------- */

Test(fault, times_limits_the_failures)
{
	struct kt_snap a, b;

	kt_boot("mem=64M");
	kt_snap_take(&a);
	setup_ok("1,100,0,3");
	cr_assert_str_eq(pattern(6, KMM_GFP_KERNEL), "FFFSSS");
	kmm_drain_all_pages(NULL);
	kt_snap_take(&b);
	kt_snap_assert_same(&a, &b, "injected failures");
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 3);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL), 3);
	cr_assert_eq(atomic_load(&ATTR->injected), 3);
	cr_assert_eq(atomic_load(&ATTR->times), 0);

	setup_ok("1,100,0,0");
	cr_assert_str_eq(pattern(4, KMM_GFP_KERNEL), "SSSS", "times=0 is off");
	setup_ok("1,100,0,-1");
	cr_assert_str_eq(pattern(8, KMM_GFP_KERNEL), "FFFFFFFF", "times=-1 is unlimited");
	kt_assert_valid("times");
}

Test(fault, set_nth_fails_exactly_the_nth)
{
	kt_boot("mem=64M");
	kmm_fault_set_nth(ATTR, 5);
	cr_assert_str_eq(pattern(12, KMM_GFP_KERNEL), "SSSSFSSSSSSS");
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 1);
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_str_eq(pattern(3, KMM_GFP_KERNEL), "FSS");
	/* 0 disarms. */
	kmm_fault_set_nth(ATTR, 2);
	kmm_fault_set_nth(ATTR, 0);
	cr_assert_str_eq(pattern(4, KMM_GFP_KERNEL), "SSSS");
	kmm_fault_set_nth(ATTR, -7);
	cr_assert_str_eq(pattern(4, KMM_GFP_KERNEL), "SSSS", "negative disarms");
	/* Any order, any flags count. */
	kmm_fault_set_nth(ATTR, 3);
	cr_assert(try_alloc(KMM_GFP_HIGHUSER_MOVABLE, 10));
	cr_assert(try_alloc(KMM_GFP_ATOMIC, 2));
	cr_assert_not(try_alloc(KMM_GFP_KERNEL | KMM_GFP_DMA, 5));
	cr_assert(try_alloc(KMM_GFP_KERNEL, 0));
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 3);
	kt_assert_valid("nth");
}

Test(fault, armed_nth_decides_alone)
{
	kt_boot("mem=64M");
	setup_ok("1,100,0,0");
	kmm_fault_set_nth(ATTR, 2);
	cr_assert_str_eq(pattern(4, KMM_GFP_KERNEL), "SFSS");
	/* While fail-nth is armed the other rules are not consulted (as the
	 * kernel's current->fail_nth); once it fired, they apply again. */
	setup_ok("1,100,0,-1");
	kmm_fault_set_nth(ATTR, 3);
	cr_assert_str_eq(pattern(5, KMM_GFP_KERNEL), "SSFFF");
}

Test(fault, interval)
{
	kt_boot("mem=64M");
	setup_ok("3,100,0,-1");
	cr_assert_str_eq(pattern(12, KMM_GFP_KERNEL), "SSFSSFSSFSSF");
	setup_ok("1,100,0,-1");
	cr_assert_str_eq(pattern(3, KMM_GFP_KERNEL), "FFF", "interval 1: every call");
	setup_ok("0,100,0,-1");
	cr_assert_str_eq(pattern(3, KMM_GFP_KERNEL), "FFF", "interval 0: every call");
	/* Interval and times together: every 2nd call, twice. */
	setup_ok("2,100,0,2");
	cr_assert_str_eq(pattern(8, KMM_GFP_KERNEL), "SFSFSSSS");
}

Test(fault, space_lets_bytes_through_first)
{
	kt_boot("mem=64M");
	/* 12 KiB of space: two 4 KiB allocations pass, the third fails. */
	setup_ok("1,100,12288,-1");
	cr_assert_str_eq(pattern(5, KMM_GFP_KERNEL), "SSFFF");
	/* An allocation as large as the space left fails. */
	setup_ok("1,100,8192,-1");
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 1));
	setup_ok("1,100,16384,-1");
	cr_assert(try_alloc(KMM_GFP_KERNEL, 1));
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 1));
}

Test(fault, probability_is_seeded)
{
	char first[201];
	int fails = 0;

	kt_boot("mem=64M kmm.seed=7");
	setup_ok("1,50,0,-1");
	strcpy(first, pattern(200, KMM_GFP_KERNEL));
	for (int i = 0; i < 200; i++)
		fails += first[i] == 'F';
	cr_assert(fails > 60 && fails < 140, "50%% gave %d of 200", fails);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), (unsigned long)fails);
	kt_shutdown();

	/* The same seed, the same failures. */
	kt_boot("mem=64M kmm.seed=7");
	setup_ok("1,50,0,-1");
	cr_assert_str_eq(pattern(200, KMM_GFP_KERNEL), first);
	kt_shutdown();

	kt_boot("mem=64M kmm.seed=7");
	setup_ok("1,0,0,-1");
	cr_assert_eq(strchr(pattern(200, KMM_GFP_KERNEL), 'F'), NULL, "0%% never fails");
	setup_ok("1,100,0,-1");
	cr_assert_eq(strchr(pattern(200, KMM_GFP_KERNEL), 'S'), NULL, "100%% always fails");
	setup_ok("1,10,0,-1");
	fails = 0;
	const char *p = pattern(200, KMM_GFP_KERNEL);
	for (int i = 0; i < 200; i++)
		fails += p[i] == 'F';
	cr_assert(fails > 2 && fails < 50, "10%% gave %d of 200", fails);
}

Test(fault, nofail_is_never_failed_by_injection)
{
	kt_boot("mem=64M");
	setup_ok("1,100,0,-1");
	for (int i = 0; i < 50; i++)
		cr_assert(try_alloc(KMM_GFP_KERNEL | KMM___GFP_NOFAIL, (unsigned)i % 4),
			  "__GFP_NOFAIL allocation %d failed", i);
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 0));
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 1);

	/* A __GFP_NOFAIL allocation does not use up fail-nth either. */
	kmm_fault_reset(ATTR);
	kmm_fault_set_nth(ATTR, 1);
	cr_assert(try_alloc(KMM_GFP_KERNEL | KMM___GFP_NOFAIL, 0));
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 0));
}

Test(fault, counters_and_messages)
{
	kt_boot("mem=64M");
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL, 2));
	/* As in the kernel, prepare_alloc_pages() fails before warn_alloc():
	 * an injected failure prints no "page allocation failure". */
	cr_assert_eq(kt_log_count("page allocation failure"), 0);
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 2));
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 2);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL), 2);
	cr_assert_eq(atomic_load(&ATTR->injected), 2);
	/* Nothing about FAULT_INJECTION unless verbose... */
	cr_assert_eq(kt_log_count("FAULT_INJECTION"), 0);
	ATTR->verbose = true;
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 0));
	/* ...then one line per injected failure, naming the fault point. */
	cr_assert_eq(kt_log_count("FAULT_INJECTION"), 1);
	cr_assert_eq(kt_log_count("fail_page_alloc"), 1);
	cr_assert(try_alloc(KMM_GFP_KERNEL, 0));
	cr_assert_eq(kt_log_count("FAULT_INJECTION"), 1);
	/* Real exhaustion still warns. */
	struct kt_blocks b = { 0 };
	kt_fill(&b, KMM_GFP_KERNEL, 10);
	cr_assert_null(kmm_alloc_pages(KMM_GFP_KERNEL, 0));
	cr_assert_eq(kt_log_count("page allocation failure"), 1);
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 3);
	kt_blocks_free_all(&b);
	kt_blocks_destroy(&b);
}

Test(fault, min_order)
{
	kt_boot("mem=64M");
	setup_ok("1,100,0,-1");
	ATTR->min_order = 2;
	cr_assert(try_alloc(KMM_GFP_KERNEL, 0));
	cr_assert(try_alloc(KMM_GFP_KERNEL, 1));
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 2));
	cr_assert_not(try_alloc(KMM_GFP_KERNEL, 10));
	cr_assert_eq(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 2);
}

Test(fault, ignore_gfp_reclaim)
{
	kt_boot("mem=64M");
	setup_ok("1,100,0,-1");
	ATTR->ignore_gfp_reclaim = true;
	cr_assert(try_alloc(KMM_GFP_KERNEL, 0), "GFP_KERNEL may reclaim: not failed");
	cr_assert_not(try_alloc(KMM_GFP_ATOMIC, 0));
	cr_assert_not(try_alloc(KMM_GFP_NOWAIT, 0));
}

Test(fault, bulk_allocation_with_injected_failure)
{
	struct kmm_page *arr[8] = { 0 };

	kt_boot("mem=64M");
	/* Like the kernel's alloc_pages_bulk(): a failed prepare_alloc_pages()
	 * allocates nothing; the single failure is not swallowed by a retry. */
	kmm_fault_set_nth(ATTR, 1);
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1, 8, arr), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_null(arr[i]);
	cr_assert_eq(kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, 8, arr), 8);
	for (int i = 0; i < 8; i++)
		kmm___free_pages(arr[i], 0);
	kt_assert_valid("bulk with faults");
}

Test(fault, injection_leaves_state_intact_under_load)
{
	struct kt_blocks b = { 0 };
	uint64_t seed = kt_seed("fault load"), rs = seed;

	kt_boot("mem=64M nr_cpus=2 kmm.seed=11");
	setup_ok("1,30,0,-1");
	for (int i = 0; i < 3000; i++) {
		unsigned o = (unsigned)(kt_rand(&rs) % 5);
		struct kmm_page *p;

		if (b.n && kt_rand(&rs) % 2) {
			struct kt_block k = kt_blocks_take(&b, kt_rand(&rs) % b.n);

			kmm___free_pages(k.page, k.order);
			continue;
		}
		p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, o);
		if (p)
			kt_blocks_push(&b, p, o, 0);
		if (i % 250 == 0)
			kt_assert_valid("fault load");
	}
	cr_assert_gt(kmm_stat_read(KMM_STAT_ALLOC_FAIL_INJECTED), 100);
	kt_blocks_free_all(&b);
	kt_assert_valid("fault load end");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kt_blocks_destroy(&b);
}

/* ---- setup and reset ----------------------------------------------------------- */

struct attr_copy {
	unsigned long probability, interval;
	long times, space, nth;
	unsigned long count;
};

static struct attr_copy copy_attr(void)
{
	return (struct attr_copy){
		ATTR->probability, ATTR->interval, atomic_load(&ATTR->times),
		atomic_load(&ATTR->space), atomic_load(&ATTR->nth), atomic_load(&ATTR->count),
	};
}

Test(fault, malformed_settings_are_refused)
{
	static const char *const bad[] = {
		"", "1", "1,2", "1,2,3", "1,2,3,4,5", "1,2,3,4,", ",1,2,3", "1,,2,3",
		"a,b,c,d", "1,101,0,1", "1,50,0,-2", "1,50,0,--1", "-1,50,0,1",
		"1,50,-4096,1", "1,50,0,1x", "1 ,50,0,1", "1,50,0,99999999999999999999",
	};

	kt_boot("mem=64M");
	setup_ok("4,20,100,5");
	struct attr_copy before = copy_attr();

	for (size_t i = 0; i < KMM_ARRAY_SIZE(bad); i++) {
		struct attr_copy now;

		cr_assert_eq(kmm_fault_setup(ATTR, bad[i], strlen(bad[i])), -KMM_EINVAL,
			     "\"%s\" accepted", bad[i]);
		now = copy_attr();
		cr_assert_arr_eq(&now, &before, sizeof(now), "\"%s\" changed the attribute", bad[i]);
	}
	/* Only @len bytes are read. */
	cr_assert_eq(kmm_fault_setup(ATTR, "1,100,0,7garbage", 9), 0);
	cr_assert_eq(atomic_load(&ATTR->times), 7);
}

Test(fault, malformed_boot_values_are_refused)
{
	static const char *const bad[] = {
		"fail_page_alloc=", "fail_page_alloc=1,2,3,4,5", "fail_page_alloc=1,,0,1",
		"fail_page_alloc=1,50,0,-2", "fail_page_alloc=-1,50,0,1",
		"fail_page_alloc=1,50,0,1,", "fail_page_alloc.nth=0", "fail_page_alloc.nth=-1",
		"fail_page_alloc.nth=x", "fail_page_alloc.nth=",
	};

	for (size_t i = 0; i < KMM_ARRAY_SIZE(bad); i++) {
		char cmd[128];
		int ret;

		snprintf(cmd, sizeof(cmd), "mem=64M %s", bad[i]);
		kt_log_start();
		ret = kmm_boot(cmd);
		if (ret == 0)
			kmm_shutdown();
		cr_assert_eq(ret, -KMM_EINVAL, "\"%s\" = %d", cmd, ret);
		cr_assert_not(kmm_booted());
		cr_assert_geq(kt_log_count_level(KMM_LOG_ERR, bad[i]), 1, "no error names \"%s\"",
			      bad[i]);
		cr_assert_eq(atomic_load(&ATTR->times), 0, "\"%s\" left injection armed", cmd);
		cr_assert_eq(atomic_load(&ATTR->nth), 0);
	}
	kt_boot("mem=64M");
	cr_assert_str_eq(pattern(4, KMM_GFP_KERNEL), "SSSS");
}

Test(fault, reset_clears_everything)
{
	kt_boot("mem=64M");
	setup_ok("3,40,4096,-1");
	ATTR->min_order = 1;
	ATTR->ignore_gfp_reclaim = true;
	ATTR->verbose = true;
	kmm_fault_set_nth(ATTR, 4);
	kmm_fault_reset(ATTR);
	cr_assert_eq(ATTR->probability, 0);
	cr_assert_eq(ATTR->interval, 0);
	cr_assert_eq(atomic_load(&ATTR->times), 0);
	cr_assert_eq(atomic_load(&ATTR->space), 0);
	cr_assert_eq(atomic_load(&ATTR->nth), 0);
	cr_assert_eq(atomic_load(&ATTR->count), 0);
	cr_assert_eq(atomic_load(&ATTR->injected), 0);
	cr_assert_eq(ATTR->min_order, 0);
	cr_assert_not(ATTR->ignore_gfp_reclaim);
	cr_assert_not(ATTR->verbose);
	cr_assert_str_eq(pattern(8, KMM_GFP_KERNEL), "SSSSSSSS");
}

/* kmm_should_fail() directly, on an attribute of our own. */
Test(fault, should_fail_on_a_private_attribute)
{
	struct kmm_fault_attr a;

	memset(&a, 0, sizeof(a));
	a.name = "test_attr";
	cr_assert_not(kmm_should_fail(&a, 1), "a zeroed attribute never fails");
	cr_assert_eq(kmm_fault_setup(&a, "2,100,0,-1", 10), 0);
	cr_assert_not(kmm_should_fail(&a, 1));
	cr_assert(kmm_should_fail(&a, 1));
	cr_assert_not(kmm_should_fail(&a, 1));
	cr_assert(kmm_should_fail(&a, 1));
	cr_assert_eq(atomic_load(&a.injected), 2);
	kmm_fault_reset(&a);
	kmm_fault_set_nth(&a, 2);
	cr_assert_not(kmm_should_fail(&a, 1));
	cr_assert(kmm_should_fail(&a, 1));
	cr_assert_not(kmm_should_fail(&a, 1));
	/* The global page-allocation attribute was not touched. */
	cr_assert_eq(atomic_load(&kmm_fail_page_alloc.injected), 0);
}
