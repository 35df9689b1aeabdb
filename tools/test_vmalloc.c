/* SPDX-License-Identifier: MIT */
/**
 * DOC: test_vmalloc.c - `kmm test-vmalloc`, the kernel's vmalloc test module
 *
 * A userspace port of the driver of Linux's lib/test_vmalloc.c (the
 * test_vmalloc.ko module that tools/testing/selftests/mm/test_vmalloc.sh
 * loads), run on a booted kmm machine instead of a kernel:
 *
 * - the module's parameters (nr_threads, sequential_test_order,
 *   test_repeat_count, test_loop_count, nr_pages, use_huge, run_test_mask)
 *   are given modprobe-style as key=value, with the module's defaults and
 *   clamping; seed=N is kmm's addition (the module draws from the kernel's
 *   entropy pool, kmm from a per-worker generator seeded from it);
 * - --mode performance|stress|smoke applies the parameter templates of
 *   test_vmalloc.sh, which key=value arguments override;
 * - nr_threads workers (pthreads, worker i running as CPU i modulo
 *   nr_cpus) each run the eleven test cases in their own order
 *   (sequential, or shuffled the module's way), all released together
 *   from one start barrier (the module's rwsem), timing each case's
 *   test_repeat_count repetitions;
 * - the results are printed as the module's "Summary:" and "All test took"
 *   lines, worker by worker; then every deferred free is flushed, the page
 *   allocator, vmalloc and kvfree_rcu are validated, and the free page
 *   count must be back at its boot value (plus the page-table pages of the
 *   vmalloc space and the pages kvfree_rcu keeps, which stay).
 *
 * What kmm does not have is said, not faked: pcpu_alloc_test is reported as
 * not supported (no per-CPU allocator), and use_huge=1 is accepted but
 * vmalloc_huge() is plain vmalloc() (no huge vmap mappings).  In shadow
 * mode the areas are not memory, so the tests write no bytes through them.
 *
 * Exit status: 0 success, 1 a test (other than the expected-to-fail
 * align_shift_alloc_test) or a check failed, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kmm/kmm.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/vmalloc.h>

#include "test_vmalloc.h"

#define TV_EXIT_USAGE 2
#define TV_NR_TESTS 11
#define TV_MAX_THREADS 65535		/* the module's USHRT_MAX */
#define TV_THREAD_ALIGN (16UL << 10)	/* x86-64 THREAD_SIZE */
#define TV_BUSY_LIST_LEN 15000
#define TV_PCPU_TEST 7
#define TV_ORDER_LINES 16		/* workers whose order the header lists */
#define TV_PROGRESS_AFTER_NS 1000000000ULL
#define TV_WORKER_STACK (256UL << 10)

/* A test case's verdict for one repetition. */
enum tv_verdict {
	TV_PASS = 0,
	TV_FAIL = -1,
	TV_UNSUPPORTED = 1,	/* counted neither passed nor failed */
};

/* The module's parameters, plus kmm's seed. */
struct tv_params {
	int nr_threads;
	bool sequential_test_order;
	int test_repeat_count;
	int test_loop_count;
	int nr_pages;
	bool use_huge;
	int run_test_mask;
	uint64_t seed;
	bool threads_per_cpu;	/* nr_threads=NUM_CPUS of the stress template */
};

struct tv_stat {
	int passed;
	int failed;
	unsigned long long usec;	/* average over the repetitions */
};

struct tv_worker {
	pthread_t tid;
	bool running;
	unsigned id;
	uint64_t rng;
	int order[TV_NR_TESTS];
	struct tv_stat data[TV_NR_TESTS];
	unsigned long start, stop;	/* cycles */
};

/* Set up before the workers start and only read by them. */
static struct tv_params tv;
static bool tv_shadow;

static pthread_rwlock_t tv_start_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t tv_done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tv_done_cond = PTHREAD_COND_INITIALIZER;
static unsigned tv_workers_done;	/* under tv_done_lock */
static atomic_uint tv_tests_done;

/* ---- helpers ----------------------------------------------------------- */

static uint64_t tv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* get_cycles(): the TSC on x86-64, else the monotonic clock in ns. */
static unsigned long tv_cycles(void)
{
#if defined(__x86_64__)
	return (unsigned long)__builtin_ia32_rdtsc();
#else
	return (unsigned long)tv_now_ns();
#endif
}

static uint64_t tv_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* xorshift64*: the worker's own generator. */
static uint32_t tv_rand32(struct tv_worker *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (uint32_t)((w->rng * 0x2545f4914f6cdd1dULL) >> 32);
}

/* get_random_u32_below(@ceil): uniform in [0, @ceil). */
static uint32_t tv_rand_below(struct tv_worker *w, uint32_t ceil)
{
	return (uint32_t)(((uint64_t)tv_rand32(w) * ceil) >> 32);
}

/* Write a byte through @p, unless the machine has no memory behind it. */
static void tv_touch(void *p, unsigned char v)
{
	if (!tv_shadow)
		*(volatile unsigned char *)p = v;
}

/* nr_pages as fix_size_alloc_test and vm_map_ram_test use it. */
static unsigned tv_nr_pages(void)
{
	return tv.nr_pages > 0 ? (unsigned)tv.nr_pages : 1;
}

/* __vmalloc_node() with GFP_KERNEL | __GFP_ZERO on node 0. */
static void *tv_vmalloc_aligned(unsigned long size, unsigned long align)
{
	return kmm___vmalloc_node(size, align, KMM_GFP_KERNEL | KMM___GFP_ZERO,
				  0, __builtin_return_address(0));
}

/*
 * vmalloc @pages pages (with vmalloc_huge() if @huge: kmm has no huge vmap
 * mappings, so that is __vmalloc(GFP_KERNEL)), write @v into the first
 * byte, vfree.
 */
static int tv_vmalloc_touch_free(unsigned long pages, unsigned char v, bool huge)
{
	unsigned long size = pages * KMM_PAGE_SIZE;
	void *p = huge ? kmm___vmalloc(size, KMM_GFP_KERNEL) : kmm_vmalloc(size);

	if (!p)
		return TV_FAIL;
	tv_touch(p, v);
	kmm_vfree(p);
	return TV_PASS;
}

/*
 * An array of pointers that the kernel's test keeps in a vmalloc'ed area.
 * In shadow mode that area is not memory: it is still allocated (the
 * address space looks the same) but the slots live on the host heap.
 */
struct tv_ptrs {
	void *area;
	void **slot;
	size_t n;
};

static int tv_ptrs_init(struct tv_ptrs *a, size_t n)
{
	a->n = n;
	a->area = kmm_vmalloc(n * sizeof(void *));
	if (!a->area)
		return -1;
	a->slot = tv_shadow ? malloc(n * sizeof(void *)) : a->area;
	if (!a->slot) {
		kmm_vfree(a->area);
		return -1;
	}
	memset(a->slot, 0, n * sizeof(void *));
	return 0;
}

/* vfree every area the slots hold. */
static void tv_ptrs_vfree_slots(struct tv_ptrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		kmm_vfree(a->slot[i]);
		a->slot[i] = NULL;
	}
}

static void tv_ptrs_destroy(struct tv_ptrs *a)
{
	tv_ptrs_vfree_slots(a);
	if (tv_shadow)
		free(a->slot);
	kmm_vfree(a->area);
}

/* ---- the test cases ---------------------------------------------------- */

static int fix_size_alloc_test(struct tv_worker *w)
{
	int i;

	(void)w;
	for (i = 0; i < tv.test_loop_count; i++)
		if (tv_vmalloc_touch_free(tv_nr_pages(), 1, tv.use_huge))
			return TV_FAIL;
	return TV_PASS;
}

/* full_fit_alloc_test's junk_length: fls(num_online_cpus()) * 32 MiB of pages. */
static size_t tv_full_fit_len(void)
{
	return (size_t)(32 - __builtin_clz(kmm_machine.nr_cpus)) *
	       ((32UL << 20) / KMM_PAGE_SIZE);
}

static int full_fit_alloc_test(struct tv_worker *w)
{
	size_t i, len = tv_full_fit_len();
	struct tv_ptrs ptr, junk;
	int rv = TV_FAIL, n;

	(void)w;
	if (tv_ptrs_init(&ptr, len))
		return TV_FAIL;
	if (tv_ptrs_init(&junk, len)) {
		tv_ptrs_destroy(&ptr);
		return TV_FAIL;
	}
	for (i = 0; i < len; i++) {
		ptr.slot[i] = kmm_vmalloc(KMM_PAGE_SIZE);
		junk.slot[i] = kmm_vmalloc(KMM_PAGE_SIZE);
		if (!ptr.slot[i] || !junk.slot[i])
			goto out;
	}
	tv_ptrs_vfree_slots(&junk);
	for (n = 0; n < tv.test_loop_count; n++)
		if (tv_vmalloc_touch_free(1, 1, false))
			goto out;
	rv = TV_PASS;
out:
	tv_ptrs_destroy(&ptr);
	tv_ptrs_destroy(&junk);
	return rv;
}

static int long_busy_list_alloc_test(struct tv_worker *w)
{
	struct tv_ptrs busy;
	void *p1, *p2;
	int rv = TV_FAIL, i;

	(void)w;
	if (tv_ptrs_init(&busy, TV_BUSY_LIST_LEN))
		return TV_FAIL;
	for (i = 0; i < TV_BUSY_LIST_LEN; i++)
		busy.slot[i] = kmm_vmalloc(KMM_PAGE_SIZE);
	for (i = 0; i < tv.test_loop_count; i++) {
		p1 = kmm_vmalloc(100 * KMM_PAGE_SIZE);
		if (!p1)
			goto out;
		p2 = kmm_vmalloc(KMM_PAGE_SIZE);
		if (!p2) {
			kmm_vfree(p1);
			goto out;
		}
		tv_touch(p1, 0);
		tv_touch(p2, 1);
		kmm_vfree(p1);
		kmm_vfree(p2);
	}
	rv = TV_PASS;
out:
	tv_ptrs_destroy(&busy);
	return rv;
}

static int random_size_alloc_test(struct tv_worker *w)
{
	int i;

	for (i = 0; i < tv.test_loop_count; i++)
		if (tv_vmalloc_touch_free(1 + tv_rand_below(w, 100), 'n', false))
			return TV_FAIL;
	return TV_PASS;
}

static int fix_align_alloc_test(struct tv_worker *w)
{
	void *p;
	int i;

	(void)w;
	for (i = 0; i < tv.test_loop_count; i++) {
		p = tv_vmalloc_aligned(5 * KMM_PAGE_SIZE, TV_THREAD_ALIGN << 1);
		if (!p)
			return TV_FAIL;
		kmm_vfree(p);
	}
	return TV_PASS;
}

static int random_size_align_alloc_test(struct tv_worker *w)
{
	unsigned rnd;
	void *p;
	int i;

	for (i = 0; i < tv.test_loop_count; i++) {
		rnd = tv_rand32(w) & 0xff;
		/* up to 1024 pages of alignment, up to 10 pages of size */
		p = tv_vmalloc_aligned(((rnd % 10) + 1) * KMM_PAGE_SIZE,
				       1UL << (rnd % 23));
		if (!p)
			return TV_FAIL;
		kmm_vfree(p);
	}
	return TV_PASS;
}

/* Expected to fail: no alignment up to 1 << 63 can be satisfied. */
static int align_shift_alloc_test(struct tv_worker *w)
{
	void *p;
	int i;

	(void)w;
	for (i = 0; i < (int)(sizeof(unsigned long) * CHAR_BIT); i++) {
		p = tv_vmalloc_aligned(KMM_PAGE_SIZE, 1UL << i);
		if (!p)
			return TV_FAIL;
		kmm_vfree(p);
	}
	return TV_PASS;
}

/* __alloc_percpu(): kmm has no per-CPU allocator. */
static int pcpu_alloc_test(struct tv_worker *w)
{
	(void)w;
	return TV_UNSUPPORTED;
}

/* struct test_kvfree_rcu: an rcu_head and a small payload. */
struct tv_kvfree_obj {
	struct kmm_rcu_head rcu;
	unsigned char array[20];
};

/* vmalloc one page, write it, hand it to kvfree_rcu, test_loop_count times. */
static int tv_kvfree_rcu_loop(bool with_head)
{
	struct tv_kvfree_obj *p;
	int i;

	for (i = 0; i < tv.test_loop_count; i++) {
		p = kmm_vmalloc(KMM_PAGE_SIZE);
		if (!p)
			return TV_FAIL;
		tv_touch(&p->array[0], 'a');
		kmm_kvfree_call_rcu(with_head ? &p->rcu : NULL, p);
	}
	return TV_PASS;
}

/* kvfree_rcu_mightsleep(p) */
static int kvfree_rcu_1_arg_vmalloc_test(struct tv_worker *w)
{
	(void)w;
	return tv_kvfree_rcu_loop(false);
}

/* kvfree_rcu(p, rcu) */
static int kvfree_rcu_2_arg_vmalloc_test(struct tv_worker *w)
{
	(void)w;
	return tv_kvfree_rcu_loop(true);
}

static int vm_map_ram_test(struct tv_worker *w)
{
	unsigned n = tv_nr_pages(), i;
	unsigned long got;
	struct kmm_page **pages;
	int rv = TV_FAIL, k;
	void *v;

	(void)w;
	pages = calloc(n, sizeof(*pages));
	if (!pages)
		return TV_FAIL;
	got = kmm_alloc_pages_bulk(KMM_GFP_KERNEL, -1, n, pages);
	if (got != n)
		goto out;
	for (k = 0; k < tv.test_loop_count; k++) {
		v = kmm_vm_map_ram(pages, n, -1);
		if (!v)
			goto out;
		tv_touch(v, 'a');
		kmm_vm_unmap_ram(v, n);
	}
	rv = TV_PASS;
out:
	for (i = 0; i < n; i++)
		if (pages[i])
			kmm___free_pages(pages[i], 0);
	free(pages);
	return rv;
}

/* In the module's order: bit i of run_test_mask selects tv_cases[i]. */
static const struct {
	const char *name;
	int (*fn)(struct tv_worker *w);
	bool xfail;	/* failures are expected and do not fail the run */
} tv_cases[TV_NR_TESTS] = {
	{ "fix_size_alloc_test", fix_size_alloc_test, false },
	{ "full_fit_alloc_test", full_fit_alloc_test, false },
	{ "long_busy_list_alloc_test", long_busy_list_alloc_test, false },
	{ "random_size_alloc_test", random_size_alloc_test, false },
	{ "fix_align_alloc_test", fix_align_alloc_test, false },
	{ "random_size_align_alloc_test", random_size_align_alloc_test, false },
	{ "align_shift_alloc_test", align_shift_alloc_test, true },
	{ "pcpu_alloc_test", pcpu_alloc_test, false },
	{ "kvfree_rcu_1_arg_vmalloc_test", kvfree_rcu_1_arg_vmalloc_test, false },
	{ "kvfree_rcu_2_arg_vmalloc_test", kvfree_rcu_2_arg_vmalloc_test, false },
	{ "vm_map_ram_test", vm_map_ram_test, false },
};

static bool tv_selected(int idx)
{
	return (tv.run_test_mask & (1 << idx)) != 0;
}

/* ---- the driver -------------------------------------------------------- */

/* The module's shuffle: for i from n-1 down to 1, swap with j below i. */
static void tv_prepare_order(struct tv_worker *w)
{
	int i, j, t;

	for (i = 0; i < TV_NR_TESTS; i++)
		w->order[i] = i;
	if (tv.sequential_test_order)
		return;
	for (i = TV_NR_TESTS - 1; i > 0; i--) {
		j = (int)tv_rand_below(w, (uint32_t)i);
		t = w->order[i];
		w->order[i] = w->order[j];
		w->order[j] = t;
	}
}

static void tv_run_case(struct tv_worker *w, int idx)
{
	struct tv_stat *st = &w->data[idx];
	uint64_t t0 = tv_now_ns();
	int j, ret;

	for (j = 0; j < tv.test_repeat_count; j++) {
		ret = tv_cases[idx].fn(w);
		if (ret == TV_PASS)
			st->passed++;
		else if (ret == TV_FAIL)
			st->failed++;
	}
	st->usec = (tv_now_ns() - t0) / 1000 / (unsigned)tv.test_repeat_count;
}

static void *tv_worker_main(void *arg)
{
	struct tv_worker *w = arg;
	int i;

	kmm_bind_cpu((int)(w->id % kmm_machine.nr_cpus));
	/* Block until every worker exists. */
	pthread_rwlock_rdlock(&tv_start_lock);
	w->start = tv_cycles();
	for (i = 0; i < TV_NR_TESTS; i++) {
		if (!tv_selected(w->order[i]))
			continue;
		tv_run_case(w, w->order[i]);
		atomic_fetch_add(&tv_tests_done, 1);
	}
	w->stop = tv_cycles();
	pthread_rwlock_unlock(&tv_start_lock);

	pthread_mutex_lock(&tv_done_lock);
	tv_workers_done++;
	pthread_cond_signal(&tv_done_cond);
	pthread_mutex_unlock(&tv_done_lock);
	return NULL;
}

static unsigned tv_nr_selected(void)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < TV_NR_TESTS; i++)
		n += tv_selected(i);
	return n;
}

/*
 * Wait for @nr workers; on a terminal, after the first second, show how
 * many of @total test cases are done on one redrawn stderr line.
 */
static void tv_wait_workers(unsigned nr, unsigned total)
{
	bool tty = isatty(STDERR_FILENO), drawn = false;
	uint64_t t0 = tv_now_ns();
	struct timespec ts;

	pthread_mutex_lock(&tv_done_lock);
	while (tv_workers_done < nr) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tv_done_cond, &tv_done_lock, &ts);
		if (tty && tv_now_ns() - t0 >= TV_PROGRESS_AFTER_NS) {
			fprintf(stderr, "\rtest-vmalloc: %u/%u tests done",
				atomic_load(&tv_tests_done), total);
			drawn = true;
		}
	}
	pthread_mutex_unlock(&tv_done_lock);
	if (drawn)
		fprintf(stderr, "\r\033[K");
}

/*
 * Start the workers behind the start barrier, release them together and
 * wait for them.  Return: 0, or -1 if a worker could not be started (the
 * others still run).
 */
static int tv_run_workers(struct tv_worker *workers, unsigned nr)
{
	pthread_attr_t attr;
	unsigned i, started = 0;
	int ret = 0, err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, TV_WORKER_STACK);
	pthread_rwlock_wrlock(&tv_start_lock);
	for (i = 0; i < nr; i++) {
		err = pthread_create(&workers[i].tid, &attr, tv_worker_main, &workers[i]);
		if (err) {
			fprintf(stderr, "kmm test-vmalloc: failed to start worker %u: %s\n",
				i, strerror(err));
			ret = -1;
			continue;
		}
		workers[i].running = true;
		started++;
	}
	pthread_attr_destroy(&attr);
	pthread_rwlock_unlock(&tv_start_lock);

	tv_wait_workers(started, started * tv_nr_selected());
	for (i = 0; i < nr; i++)
		if (workers[i].running)
			pthread_join(workers[i].tid, NULL);
	return ret;
}

/* The module's report, worker by worker.  Return: true if a test failed. */
static bool tv_print_summary(const struct tv_worker *workers, unsigned nr)
{
	const struct tv_stat *st;
	bool failed = false;
	unsigned i;
	int j;

	for (i = 0; i < nr; i++) {
		for (j = 0; j < TV_NR_TESTS; j++) {
			if (!tv_selected(j))
				continue;
			st = &workers[i].data[j];
			printf("Summary: %s passed: %d failed: %d repeat: %d loops: %d avg: %llu usec\n",
			       tv_cases[j].name, st->passed, st->failed,
			       tv.test_repeat_count, tv.test_loop_count, st->usec);
			if (st->failed && !tv_cases[j].xfail)
				failed = true;
		}
		printf("All test took worker%u=%lu cycles\n", i,
		       workers[i].stop - workers[i].start);
	}
	fflush(stdout);		/* the results come out even if a check crashes */
	return failed;
}

/* ---- parameters -------------------------------------------------------- */

enum tv_kind { TV_INT, TV_BOOL, TV_U64 };

static const struct {
	const char *name;
	enum tv_kind kind;
	size_t off;
} tv_keys[] = {
	{ "nr_threads", TV_INT, offsetof(struct tv_params, nr_threads) },
	{ "sequential_test_order", TV_BOOL, offsetof(struct tv_params, sequential_test_order) },
	{ "test_repeat_count", TV_INT, offsetof(struct tv_params, test_repeat_count) },
	{ "test_loop_count", TV_INT, offsetof(struct tv_params, test_loop_count) },
	{ "nr_pages", TV_INT, offsetof(struct tv_params, nr_pages) },
	{ "use_huge", TV_BOOL, offsetof(struct tv_params, use_huge) },
	{ "run_test_mask", TV_INT, offsetof(struct tv_params, run_test_mask) },
	{ "seed", TV_U64, offsetof(struct tv_params, seed) },
};

/* kstrtobool() for what modprobe users write: 1/0, y/n (a bare key is y). */
static int tv_parse_bool(const char *s, bool *out)
{
	if (!s || !strcmp(s, "1") || !strcmp(s, "y") || !strcmp(s, "Y")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "0") || !strcmp(s, "n") || !strcmp(s, "N")) {
		*out = false;
		return 0;
	}
	return -1;
}

/* kstrtoint(s, 0): decimal, 0x hexadecimal or 0 octal, in int's range. */
static int tv_parse_int(const char *s, int *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

static int tv_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

/* Apply one "key=value".  Return: 0, or -1 with a message on stderr. */
static int tv_set_param(struct tv_params *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *val = eq ? eq + 1 : NULL;
	char *field;
	size_t k;
	int ret;

	for (k = 0; k < sizeof(tv_keys) / sizeof(tv_keys[0]); k++)
		if (strlen(tv_keys[k].name) == len && !strncmp(arg, tv_keys[k].name, len))
			break;
	if (k == sizeof(tv_keys) / sizeof(tv_keys[0])) {
		fprintf(stderr, "kmm test-vmalloc: unknown parameter '%.*s'\n",
			(int)len, arg);
		return -1;
	}
	field = (char *)p + tv_keys[k].off;
	switch (tv_keys[k].kind) {
	case TV_BOOL:
		ret = tv_parse_bool(val, (bool *)field);
		break;
	case TV_INT:
		ret = tv_parse_int(val, (int *)field);
		break;
	default:
		ret = tv_parse_u64(val, (uint64_t *)field);
		break;
	}
	if (ret) {
		fprintf(stderr, "kmm test-vmalloc: bad value for %s: '%s'\n",
			tv_keys[k].name, val ? val : "");
		return -1;
	}
	if (tv_keys[k].off == offsetof(struct tv_params, nr_threads))
		p->threads_per_cpu = false;
	return 0;
}

/* The templates of tools/testing/selftests/mm/test_vmalloc.sh. */
static const struct {
	const char *name;
	const char *params[2];
	const char *what;
} tv_modes[] = {
	{ "performance", { "sequential_test_order=1", "test_repeat_count=3" },
	  "performance: every test case on one CPU, in sequential order, to measure how fast vmalloc is" },
	{ "stress", { "nr_threads=NUM_CPUS", "test_repeat_count=20" },
	  "stress: every test case run by NUM_CPUS workers at once to stress the vmalloc code; this takes a while" },
	{ "smoke", { "test_loop_count=10000", "test_repeat_count=10" },
	  "smoke: basic coverage only (see --mode performance and --mode stress for more)" },
};

static int tv_find_mode(const char *name)
{
	size_t m;

	for (m = 0; m < sizeof(tv_modes) / sizeof(tv_modes[0]); m++)
		if (!strcmp(name, tv_modes[m].name))
			return (int)m;
	return -1;
}

static void tv_apply_mode(struct tv_params *p, int m)
{
	size_t i;

	for (i = 0; i < sizeof(tv_modes[m].params) / sizeof(tv_modes[m].params[0]); i++) {
		if (!strcmp(tv_modes[m].params[i], "nr_threads=NUM_CPUS"))
			p->threads_per_cpu = true;	/* resolved after boot */
		else
			tv_set_param(p, tv_modes[m].params[i]);
	}
}

/* init_test_configuration(): the module's clamping, once the machine is up. */
static void tv_finish_params(struct tv_params *p)
{
	if (p->threads_per_cpu)
		p->nr_threads = (int)kmm_machine.nr_cpus;
	if (p->nr_threads < 1)
		p->nr_threads = 1;
	if (p->nr_threads > TV_MAX_THREADS)
		p->nr_threads = TV_MAX_THREADS;
	if (p->test_repeat_count <= 0)
		p->test_repeat_count = 1;
	if (p->test_loop_count <= 0)
		p->test_loop_count = 1;
}

static void tv_usage(FILE *f)
{
	fprintf(f,
		"usage: kmm test-vmalloc [--boot \"PARAMS\"] [--mode performance|stress|smoke]\n"
		"                        [key=value ...]\n"
		"\n"
		"The kernel's vmalloc test module (lib/test_vmalloc.c) on a kmm machine\n"
		"(default boot: mem=1G): nr_threads workers run the selected test cases,\n"
		"then the module's \"Summary:\" lines are printed and kmm is validated.\n"
		"Exit 0 when every test (but align_shift_alloc_test, which is expected\n"
		"to fail) and every check passed.\n"
		"\n"
		"  --boot PARAMS   kernel-style boot parameters (see kmm_boot(3))\n"
		"  --mode MODE     the templates of test_vmalloc.sh, before key=value:\n"
		"                  performance  sequential_test_order=1 test_repeat_count=3\n"
		"                  stress       nr_threads=NUM_CPUS test_repeat_count=20\n"
		"                  smoke        test_loop_count=10000 test_repeat_count=10\n"
		"\n"
		"Module parameters (modprobe-style key=value; bools 0/1/y/n):\n"
		"  nr_threads=N             workers, clamped to 1..65535 (default 0: 1)\n"
		"  sequential_test_order=B  run the cases in order, not shuffled (0)\n"
		"  test_repeat_count=N      repetitions of each case (1)\n"
		"  test_loop_count=N        iterations inside a case (1000000)\n"
		"  nr_pages=N               pages of fix_size_alloc_test and\n"
		"                           vm_map_ram_test (0: 1)\n"
		"  use_huge=B               vmalloc_huge() in fix_size_alloc_test; kmm has\n"
		"                           no huge vmap mappings, so it is plain vmalloc (0)\n"
		"  run_test_mask=N          bit i selects case i (default 2147483647: all)\n"
		"  seed=N                   kmm's addition: seed of the workers' random\n"
		"                           numbers (default: from the clock; printed)\n"
		"\n"
		"Cases: ");
	for (int i = 0; i < TV_NR_TESTS; i++)
		fprintf(f, "%s%d %s", i ? (i % 3 ? ", " : ",\n       ") : "", i,
			tv_cases[i].name);
	fprintf(f, ".\npcpu_alloc_test is reported as not supported (kmm has no per-CPU allocator).\n");
}

/* ---- the command ------------------------------------------------------- */

static const char *tv_mode_name(enum kmm_mode m)
{
	return m == KMM_MODE_SHADOW ? "shadow" : m == KMM_MODE_STRICT ? "strict" : "real";
}

static void tv_print_header(const char *boot, const struct tv_worker *workers)
{
	unsigned i;
	int j;

	printf("kmm: booted \"%s\": %u node(s), %u CPU(s), %" PRIu64 " MiB, mode %s, min_free_kbytes %" PRIu64 "\n",
	       boot, kmm_machine.nr_nodes, kmm_machine.nr_cpus, kmm_machine.max_pfn >> 8,
	       tv_mode_name(kmm_machine.params.mode), kmm_machine.min_free_kbytes);
	printf("test_vmalloc: nr_threads=%d sequential_test_order=%d test_repeat_count=%d test_loop_count=%d nr_pages=%d use_huge=%d run_test_mask=%d\n",
	       tv.nr_threads, tv.sequential_test_order, tv.test_repeat_count,
	       tv.test_loop_count, tv.nr_pages, tv.use_huge, tv.run_test_mask);
	printf("test_vmalloc: seed %" PRIu64 "\n", tv.seed);
	for (i = 0; i < (unsigned)tv.nr_threads && i < TV_ORDER_LINES; i++) {
		printf("test_vmalloc: worker%u order:", i);
		for (j = 0; j < TV_NR_TESTS; j++)
			printf(" %d", workers[i].order[j]);
		printf("\n");
	}
	if (i < (unsigned)tv.nr_threads)
		printf("test_vmalloc: (%u more workers)\n", (unsigned)tv.nr_threads - i);
	if (tv.use_huge)
		printf("test_vmalloc: use_huge: kmm has no huge vmap mappings, vmalloc_huge() is vmalloc()\n");
	if (tv_selected(TV_PCPU_TEST))
		printf("pcpu_alloc_test: not supported: kmm has no per-CPU allocator (__alloc_percpu)\n");
	fflush(stdout);
}

/*
 * In real and strict mode every vmalloc area costs the host two mappings
 * (its pages, and the piece of PROT_NONE reservation it splits off), and
 * the host caps them (vm.max_map_count): warn when the workers of
 * full_fit_alloc_test (2 * junk_length one-page areas, the freed half
 * still mapped until the lazy purge) or long_busy_list_alloc_test (15000)
 * could together need more at once.
 */
static void tv_warn_host_maps(void)
{
	unsigned long per = 0, limit = 0;
	FILE *f;

	if (tv_shadow)
		return;
	if (tv_selected(1))
		per = 2 * (2 * tv_full_fit_len() + 2);
	if (tv_selected(2) && per < 2 * (TV_BUSY_LIST_LEN + 3))
		per = 2 * (TV_BUSY_LIST_LEN + 3);
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (!f)
		return;
	if (fscanf(f, "%lu", &limit) != 1)
		limit = 0;
	fclose(f);
	if (limit && per * (unsigned long)tv.nr_threads > limit)
		fprintf(stderr, "kmm test-vmalloc: warning: %d worker(s) can need %lu host mappings at once, more than the host's vm.max_map_count (%lu): expect vmalloc failures (raise it with sysctl -w vm.max_map_count=N, use fewer workers or CPUs, or boot kmm.mode=shadow)\n",
			tv.nr_threads, per * (unsigned long)tv.nr_threads, limit);
}

/*
 * Flush what is deferred, validate, and compare the free pages with
 * @free_boot.  Return: true if a check failed.
 */
static bool tv_check_machine(uint64_t free_boot, uint64_t pt_boot)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} checks[] = {
		{ "kmm_vmalloc_validate", kmm_vmalloc_validate },
		{ "kmm_page_alloc_validate", kmm_page_alloc_validate },
		{ "kmm_kvfree_rcu_validate", kmm_kvfree_rcu_validate },
	};
	struct kmm_kvfree_rcu_stats rs;
	uint64_t free_end, pt_pages;
	bool bad = false;
	size_t i;

	kmm_kvfree_rcu_barrier();
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (checks[i].fn()) {
			fprintf(stderr, "kmm test-vmalloc: FAIL: %s\n", checks[i].name);
			bad = true;
		}
	}
	kmm_kvfree_rcu_get_stats(&rs);
	free_end = kmm_nr_free_pages();
	/* The vmalloc space's page tables stay, as does kvfree_rcu's page cache. */
	pt_pages = (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages) - pt_boot;
	if (free_end + pt_pages + rs.nr_bulk_pages != free_boot) {
		fprintf(stderr, "kmm test-vmalloc: FAIL: %" PRIu64 " free pages at boot, %" PRIu64 " at the end (+%" PRIu64 " page-table pages, +%lu kvfree_rcu pages)\n",
			free_boot, free_end, pt_pages, rs.nr_bulk_pages);
		bad = true;
	}
	printf("kvfree_rcu: %lu queued, %lu freed (%lu bulk, %lu head, %lu sync), %lu batches\n",
	       rs.nr_queued, rs.nr_freed, rs.nr_bulk, rs.nr_head, rs.nr_sync,
	       rs.nr_batches);
	printf("free pages: %" PRIu64 " at boot, %" PRIu64 " at the end (+%" PRIu64 " page-table pages, +%lu kvfree_rcu pages kept)\n",
	       free_boot, free_end, pt_pages, rs.nr_bulk_pages);
	return bad;
}

int kmm_test_vmalloc_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "boot", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *boot = "mem=1G";
	struct tv_worker *workers;
	uint64_t free_boot, pt_boot;
	int c, i, mode = -1, ret;
	bool fail;

	tv = (struct tv_params){
		.test_repeat_count = 1,
		.test_loop_count = 1000000,
		.run_test_mask = INT_MAX,
		.seed = tv_splitmix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)),
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': boot = optarg; break;
		case 'm':
			mode = tv_find_mode(optarg);
			if (mode < 0) {
				fprintf(stderr, "kmm test-vmalloc: unknown mode '%s'\n", optarg);
				tv_usage(stderr);
				return TV_EXIT_USAGE;
			}
			break;
		case 'h': tv_usage(stdout); return 0;
		default: tv_usage(stderr); return TV_EXIT_USAGE;
		}
	}
	if (mode >= 0)
		tv_apply_mode(&tv, mode);
	for (i = optind; i < argc; i++)
		if (tv_set_param(&tv, argv[i]))
			return TV_EXIT_USAGE;

	if (mode >= 0)
		printf("test_vmalloc: mode %s\n", tv_modes[mode].what);
	ret = kmm_boot(boot);
	if (ret) {
		fprintf(stderr, "kmm test-vmalloc: boot \"%s\" failed: %s\n", boot,
			strerror(-ret));
		return 1;
	}
	tv_shadow = kmm_machine.params.mode == KMM_MODE_SHADOW;
	tv_finish_params(&tv);
	workers = calloc((size_t)tv.nr_threads, sizeof(*workers));
	if (!workers) {
		fprintf(stderr, "kmm test-vmalloc: out of memory for %d workers\n",
			tv.nr_threads);
		kmm_shutdown();
		return 1;
	}
	for (i = 0; i < tv.nr_threads; i++) {
		workers[i].id = (unsigned)i;
		workers[i].rng = tv_splitmix(tv.seed + (uint64_t)i) | 1;
		tv_prepare_order(&workers[i]);
	}
	tv_print_header(boot, workers);
	tv_warn_host_maps();

	kmm_drain_all_pages(NULL);	/* boot's own allocations used a pcp list */
	free_boot = kmm_nr_free_pages();
	pt_boot = (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages);

	fail = tv_run_workers(workers, (unsigned)tv.nr_threads) != 0;
	fail |= tv_print_summary(workers, (unsigned)tv.nr_threads);
	fail |= tv_check_machine(free_boot, pt_boot);
	printf("result %s\n", fail ? "FAIL" : "OK");
	free(workers);
	kmm_shutdown();
	return fail ? 1 : 0;
}
