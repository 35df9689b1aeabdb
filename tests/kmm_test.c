/* SPDX-License-Identifier: MIT */
/*
 * kmm_test.c - helpers shared by the test programs (see kmm_test.h).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <signal.h>
#include "kmm_test.h"

/* ---- log capture --------------------------------------------------------- */

#define KT_LOG_MAX 200000

struct kt_line {
	int level;
	char *text;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kt_line *log_v;
static int log_n, log_cap, log_dropped;
static int log_verbose = -1;

static void kt_hook(int level, const char *msg, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&log_lock);
	if (log_verbose < 0) {
		const char *v = getenv("KMM_TEST_VERBOSE");

		log_verbose = v && *v && *v != '0';
	}
	if (log_verbose)
		fprintf(stderr, "[kmm log %d] %s\n", level, msg);
	if (log_n >= KT_LOG_MAX) {
		log_dropped++;
	} else {
		if (log_n == log_cap) {
			int cap = log_cap ? log_cap * 2 : 256;
			struct kt_line *v = realloc(log_v, (size_t)cap * sizeof(*v));

			if (!v) {
				log_dropped++;
				pthread_mutex_unlock(&log_lock);
				return;
			}
			log_v = v;
			log_cap = cap;
		}
		log_v[log_n].level = level;
		log_v[log_n].text = strdup(msg);
		if (log_v[log_n].text)
			log_n++;
		else
			log_dropped++;
	}
	pthread_mutex_unlock(&log_lock);
}

void kt_log_clear(void)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_n; i++)
		free(log_v[i].text);
	free(log_v);
	log_v = NULL;
	log_n = log_cap = log_dropped = 0;
	pthread_mutex_unlock(&log_lock);
}

void kt_log_start(void)
{
	kt_log_clear();
	kmm_set_log_hook(kt_hook, NULL);
}

void kt_log_stop(void)
{
	kmm_set_log_hook(NULL, NULL);
}

int kt_log_lines(void)
{
	int n;

	pthread_mutex_lock(&log_lock);
	n = log_n;
	pthread_mutex_unlock(&log_lock);
	return n;
}

int kt_log_count_level(int level, const char *needle)
{
	int n = 0;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_n; i++)
		if ((level < 0 || log_v[i].level == level) &&
		    strstr(log_v[i].text, needle))
			n++;
	pthread_mutex_unlock(&log_lock);
	return n;
}

int kt_log_count(const char *needle)
{
	return kt_log_count_level(-1, needle);
}

const char *kt_log_find(const char *needle)
{
	const char *r = NULL;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_n && !r; i++)
		if (strstr(log_v[i].text, needle))
			r = log_v[i].text;
	pthread_mutex_unlock(&log_lock);
	return r;
}

void kt_log_dump(const char *why)
{
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "---- kmm log (%s): %d lines, %d dropped ----\n", why,
		log_n, log_dropped);
	for (int i = 0; i < log_n && i < 200; i++)
		fprintf(stderr, "  [%d] %s\n", log_v[i].level, log_v[i].text);
	if (log_n > 200)
		fprintf(stderr, "  ... %d more\n", log_n - 200);
	pthread_mutex_unlock(&log_lock);
}

/* ---- boot ---------------------------------------------------------------- */

int kt_validate(void)
{
	if (KT_TSAN && kmm_machine.nr_cpus > 60)
		return 0;
	return kmm_page_alloc_validate();
}

uint64_t kt_boot_free;

void kt_boot(const char *cmdline)
{
	int ret;

	kt_log_start();
	ret = kmm_boot(cmdline);
	if (ret)
		kt_log_dump("boot failed");
	cr_assert_eq(ret, 0, "kmm_boot(\"%s\") = %d", cmdline ? cmdline : "(null)",
		     ret);
	cr_assert(kmm_booted());
	kt_assert_valid("boot");
	kmm_drain_all_pages(NULL);
	kt_boot_free = kt_free_total();
	cr_assert_eq(kt_pcp_total(), 0);
	cr_assert_leq(kt_boot_free, kmm_machine.totalram_pages);
	cr_assert_geq(kt_boot_free + KT_BOOT_SLACK, kmm_machine.totalram_pages,
		      "boot kept %llu of %llu pages",
		      (unsigned long long)(kmm_machine.totalram_pages - kt_boot_free),
		      (unsigned long long)kmm_machine.totalram_pages);
}

void kt_shutdown(void)
{
	kmm_shutdown();
	kt_log_stop();
}

/* LeakSanitizer's API, present only in sanitized builds. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void kt_assert_no_leaks(void)
{
	if (!__lsan_do_recoverable_leak_check || !__lsan_do_recoverable_leak_check())
		return;
	/* An assertion failing in .fini does not fail the test (Criterion
	 * has already recorded the body's result): crash instead. */
	fprintf(stderr, "LeakSanitizer found leaks (see above)\n");
	abort();
}

void kt_fini(void)
{
	kmm_bind_cpu(-1);
	kt_shutdown();
	kt_log_clear();
	/*
	 * Criterion reports a test's result before its worker exits, so a
	 * leak found at exit would not fail the test: look for leaks here,
	 * after shutdown, while a failure still counts.
	 */
	kt_assert_no_leaks();
}

/* ---- machine views ------------------------------------------------------- */

struct kmm_zone *kt_zone(int nid, int zi)
{
	return &kmm_NODE_DATA(nid)->node_zones[zi];
}

long kt_pcp_total(void)
{
	long sum = 0;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);

			if (!z->per_cpu_pageset)
				continue;
			for (unsigned c = 0; c < kmm_machine.nr_cpus; c++)
				sum += z->per_cpu_pageset[c].count;
		}
	return sum;
}

uint64_t kt_free_total(void)
{
	return kmm_nr_free_pages() + (uint64_t)kt_pcp_total();
}

unsigned long kt_zone_free_mt(const struct kmm_zone *z, int mt)
{
	unsigned long sum = 0;

	for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
		sum += z->free_area[o].nr_free_mt[mt] << o;
	return sum;
}

unsigned long kt_zone_blocks_mt(const struct kmm_zone *z, int mt)
{
	unsigned long n = 0;

	for (uint64_t pfn = z->zone_start_pfn; pfn < kmm_zone_end_pfn(z);
	     pfn += KMM_PAGEBLOCK_NR_PAGES)
		if (kmm_get_pfnblock_migratetype(pfn) == mt)
			n++;
	return n;
}

void kt_set_min_free_kbytes(uint64_t kb)
{
	kmm_machine.min_free_kbytes = kb;
	kmm__setup_per_zone_wmarks();
}

void kt_snap_take(struct kt_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->nr_free = kmm_nr_free_pages();
	s->pcp = kt_pcp_total();
	kmm_report_buddyinfo(s->buddyinfo, sizeof(s->buddyinfo));
	kmm_report_pagetypeinfo(s->pagetypeinfo, sizeof(s->pagetypeinfo));
}

void kt_snap_assert_same(const struct kt_snap *a, const struct kt_snap *b,
			 const char *what)
{
	cr_assert_eq(a->nr_free, b->nr_free,
		     "%s: nr_free_pages changed %llu -> %llu", what,
		     (unsigned long long)a->nr_free, (unsigned long long)b->nr_free);
	cr_assert_eq(a->pcp, b->pcp, "%s: per-CPU pages changed %ld -> %ld", what,
		     a->pcp, b->pcp);
	cr_assert_str_eq(a->buddyinfo, b->buddyinfo, "%s: buddyinfo changed", what);
	cr_assert_str_eq(a->pagetypeinfo, b->pagetypeinfo,
			 "%s: pagetypeinfo changed", what);
}

/* ---- allocation bookkeeping --------------------------------------------- */

void kt_blocks_push(struct kt_blocks *b, struct kmm_page *page, unsigned order,
		    uint64_t tag)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct kt_block *v = realloc(b->v, cap * sizeof(*v));

		cr_assert_not_null(v, "out of host memory");
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = (struct kt_block){ page, order, tag };
}

struct kt_block kt_blocks_take(struct kt_blocks *b, size_t i)
{
	struct kt_block r = b->v[i];

	b->v[i] = b->v[--b->n];
	return r;
}

void kt_blocks_free_all(struct kt_blocks *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct kt_block *k = &b->v[i];

		if (k->tag)
			cr_assert(kt_pattern_ok(k->page, k->order, k->tag),
				  "pfn %#llx order %u lost its pattern",
				  (unsigned long long)kmm_page_to_pfn(k->page),
				  k->order);
		kmm___free_pages(k->page, k->order);
	}
	b->n = 0;
}

void kt_blocks_destroy(struct kt_blocks *b)
{
	free(b->v);
	b->v = NULL;
	b->n = b->cap = 0;
}

uint64_t kt_fill(struct kt_blocks *b, kmm_gfp_t gfp, int max_order)
{
	uint64_t pages = 0;

	for (int o = max_order; o >= 0; o--) {
		struct kmm_page *p;

		while ((p = kmm_alloc_pages(gfp | KMM___GFP_NOWARN, (unsigned)o))) {
			kt_blocks_push(b, p, (unsigned)o, 0);
			pages += 1ULL << o;
		}
	}
	return pages;
}

/* ---- memory contents ----------------------------------------------------- */

static bool shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

static uint64_t pattern_word(uint64_t tag, uint64_t pfn, unsigned slot)
{
	return tag ^ (pfn * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)slot << 56);
}

/* Nine words per page: every 512 bytes and the last word. */
#define KT_SLOTS 9
static size_t slot_offset(unsigned slot)
{
	return slot < 8 ? slot * 512 : KMM_PAGE_SIZE - 8;
}

void kt_pattern_write(struct kmm_page *page, unsigned order, uint64_t tag)
{
	if (shadow())
		return;
	for (uint64_t i = 0; i < (1ULL << order); i++) {
		char *a = kmm_page_address(page + i);
		uint64_t pfn = kmm_page_to_pfn(page + i);

		for (unsigned s = 0; s < KT_SLOTS; s++)
			*(volatile uint64_t *)(a + slot_offset(s)) =
				pattern_word(tag, pfn, s);
	}
}

bool kt_pattern_ok(struct kmm_page *page, unsigned order, uint64_t tag)
{
	if (shadow())
		return true;
	for (uint64_t i = 0; i < (1ULL << order); i++) {
		char *a = kmm_page_address(page + i);
		uint64_t pfn = kmm_page_to_pfn(page + i);

		for (unsigned s = 0; s < KT_SLOTS; s++)
			if (*(volatile uint64_t *)(a + slot_offset(s)) !=
			    pattern_word(tag, pfn, s))
				return false;
	}
	return true;
}

bool kt_block_is_zero(struct kmm_page *page, unsigned order)
{
	const uint64_t *w = kmm_page_address(page);
	size_t n = (KMM_PAGE_SIZE << order) / sizeof(*w);

	for (size_t i = 0; i < n; i++)
		if (w[i])
			return false;
	return true;
}

void kt_block_fill(struct kmm_page *page, unsigned order, int byte)
{
	memset(kmm_page_address(page), byte, KMM_PAGE_SIZE << order);
}

/* ---- randomness ---------------------------------------------------------- */

double kt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t kt_seed(const char *test)
{
	const char *e = getenv("KMM_TEST_SEED");
	uint64_t seed;

	if (e && *e)
		seed = strtoull(e, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
	fprintf(stderr, "%s: seed %llu (rerun with KMM_TEST_SEED=%llu)\n", test,
		(unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

uint64_t kt_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* ---- fault probes --------------------------------------------------------- */

static sigjmp_buf probe_jb;
static volatile sig_atomic_t probing;
static void *volatile probe_addr;	/* the last probe fault's si_addr */
static volatile int probe_sig;

/* Outside a probe the signal is re-raised with the default action. */
static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (probing) {
		probe_addr = si->si_addr;
		probe_sig = sig;
		siglongjmp(probe_jb, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void probe_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = probe_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

void *kt_probe_fault_addr(void)
{
	return probe_addr;
}

int kt_probe_fault_sig(void)
{
	return probe_sig;
}

__attribute__((noinline)) bool kt_probe_read(const void *p, unsigned char *out)
{
	unsigned char v;

	probe_install();
	probe_addr = NULL;
	probe_sig = 0;
	if (sigsetjmp(probe_jb, 1)) {
		probing = 0;
		return false;
	}
	probing = 1;
	v = *(const volatile unsigned char *)p;
	probing = 0;
	if (out)
		*out = v;
	return true;
}

__attribute__((noinline)) bool kt_probe_write(void *p, int v)
{
	probe_install();
	probe_addr = NULL;
	probe_sig = 0;
	if (sigsetjmp(probe_jb, 1)) {
		probing = 0;
		return false;
	}
	probing = 1;
	*(volatile unsigned char *)p =
		v < 0 ? *(volatile unsigned char *)p : (unsigned char)v;
	probing = 0;
	return true;
}

void kt_worker_error(int *errors, char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	if ((*errors)++)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
}

void kt_assert_validator(int r, const char *name, const char *what)
{
	if (r)
		kt_log_dump(what);
	cr_assert_eq(r, 0, "%s = %d after %s", name, r, what);
}

void kt_assert_quiet(const char *what)
{
	int bad = 0;

	for (int lvl = 0; lvl <= KMM_LOG_ERR; lvl++)
		bad += kt_log_count_level(lvl, "");
	if (bad || kt_log_count("BUG"))
		kt_log_dump(what);
	cr_assert_eq(bad, 0, "%s: %d error lines (first: %s)", what, bad, kt_log_find(""));
	cr_assert_eq(kt_log_count("BUG"), 0, "%s: %s", what, kt_log_find("BUG"));
}
