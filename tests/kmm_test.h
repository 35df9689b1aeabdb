/* SPDX-License-Identifier: MIT */
/*
 * kmm_test.h - helpers shared by the Criterion test programs.
 *
 * Every test boots its own machine (Criterion runs each test in its own
 * process, so nothing leaks between tests) and captures kmm's log lines
 * through kmm_set_log_hook() so it can assert on warnings and errors.
 *
 * Test programs are Criterion programs; in ThreadSanitizer builds, where
 * Criterion cannot start, they are built against kt_lite.h/kt_lite.c
 * instead (same macros, same model, same output).  kt_fini() checks for
 * leaks after every test in LeakSanitizer builds.
 *
 * Environment:
 *   KMM_TEST_SEED=N     seed of the randomized tests (default: the clock);
 *                       every randomized test prints the seed it used.
 *   KMM_TEST_VERBOSE=1  also echo captured kmm log lines to stderr.
 */
#ifndef KMM_TEST_H
#define KMM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Criterion, or the stand-in runner of ThreadSanitizer builds. */
#ifdef KT_NO_CRITERION
#include "kt_lite.h"
#else
#include <criterion/criterion.h>
#endif

#include <kmm/kmm.h>

/* ---- log capture --------------------------------------------------------- */

/* Install the capturing hook and forget earlier lines. */
void kt_log_start(void);
/* Back to the port's stderr logger. Lines captured so far stay readable. */
void kt_log_stop(void);
void kt_log_clear(void);
/* Number of captured lines. */
int kt_log_lines(void);
/* Lines containing @needle (any level). */
int kt_log_count(const char *needle);
/* Lines at @level containing @needle. */
int kt_log_count_level(int level, const char *needle);
/* The first line containing @needle, or NULL. The pointer stays valid until
 * the next kt_log_clear(). */
const char *kt_log_find(const char *needle);
/* Print every captured line to stderr (for a failing test's context). */
void kt_log_dump(const char *why);
/* Assert nothing at KMM_LOG_ERR or above and no "BUG" was logged so far
 * (the log is dumped first when something was). */
void kt_assert_quiet(const char *what);
/* Assert that validator @name returned 0 (@r) after @what (kt_assert_valid
 * below is the page allocator's); on failure the
 * captured log is dumped first, so the validator's message is seen. */
void kt_assert_validator(int r, const char *name, const char *what);

/* ---- boot ---------------------------------------------------------------- */

/*
 * Start capturing, boot @cmdline, assert success and a valid allocator,
 * drain the per-CPU lists (boot itself may allocate a few pages, e.g. the
 * kernel page-table root, through them) and record kt_boot_free.
 */
void kt_boot(const char *cmdline);
/* kt_free_total() right after kt_boot(): the baseline every test that
 * frees all it allocated must return to. */
extern uint64_t kt_boot_free;
/* Pages boot itself may keep (page-table roots and the like). */
#define KT_BOOT_SLACK 64
/* kmm_shutdown() and stop capturing; safe when not booted. */
void kt_shutdown(void);
/* Criterion fixtures: .fini = kt_fini (shuts down, then checks for leaks
 * in sanitized builds). */
void kt_fini(void);
/* In ASan/LSan builds: abort the test when anything leaked so far. */
void kt_assert_no_leaks(void);

/* ---- machine views ------------------------------------------------------- */

struct kmm_zone *kt_zone(int nid, int zi);
/* Pages on every per-CPU list of the machine. */
long kt_pcp_total(void);
/* kmm_nr_free_pages() + kt_pcp_total(): every page the allocator holds. */
uint64_t kt_free_total(void);
/* Sum of nr_free_mt[mt] << order over a zone. */
unsigned long kt_zone_free_mt(const struct kmm_zone *z, int mt);
/* Pageblocks of @z whose type is @mt (via kmm_get_pfnblock_migratetype). */
unsigned long kt_zone_blocks_mt(const struct kmm_zone *z, int mt);
/* Set vm.min_free_kbytes and recompute watermarks and pcp limits. */
void kt_set_min_free_kbytes(uint64_t kb);

/*
 * A snapshot of everything a refused operation must leave alone: free
 * counts, per-CPU counts, the buddyinfo and pagetypeinfo reports.
 */
struct kt_snap {
	uint64_t nr_free;
	long pcp;
	char buddyinfo[4096];
	char pagetypeinfo[16384];
};
void kt_snap_take(struct kt_snap *s);
/* Assert @now equals @before (reports which part differs). */
void kt_snap_assert_same(const struct kt_snap *before, const struct kt_snap *now,
			 const char *what);

/* ---- allocation bookkeeping --------------------------------------------- */

struct kt_block {
	struct kmm_page *page;
	unsigned order;
	uint64_t tag;
};

struct kt_blocks {
	struct kt_block *v;
	size_t n, cap;
};

void kt_blocks_push(struct kt_blocks *b, struct kmm_page *page, unsigned order,
		    uint64_t tag);
/* Remove entry @i (swap with the last); returns it. */
struct kt_block kt_blocks_take(struct kt_blocks *b, size_t i);
/* Free every block (checking its pattern when it has a tag) and empty @b. */
void kt_blocks_free_all(struct kt_blocks *b);
void kt_blocks_destroy(struct kt_blocks *b);

/*
 * Allocate with @gfp | __GFP_NOWARN, orders @max_order down to 0, each until
 * it fails, appending to @b.  Returns pages allocated.
 */
uint64_t kt_fill(struct kt_blocks *b, kmm_gfp_t gfp, int max_order);

/* ---- memory contents ----------------------------------------------------- */

/* Write a pattern derived from @tag into every page of the block. */
/*
 * Fault probes: touch one byte, catching SIGSEGV/SIGBUS with a
 * siglongjmp.  false when the access faults.  Main thread only.
 */
bool kt_probe_read(const void *p, unsigned char *out);
/* Write @v at @p (v < 0: write back the byte already there). */
bool kt_probe_write(void *p, int v);
/* After a probe that faulted: the address the host reported (si_addr)
 * and the signal (SIGSEGV or SIGBUS); NULL and 0 after one that did not. */
void *kt_probe_fault_addr(void);
int kt_probe_fault_sig(void);

/*
 * A worker thread's first error, for the main thread to assert on (the
 * test framework asserts only there): counts every error in *@errors and
 * formats the first into @msg.  Test files wrap it per worker type:
 *   #define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)
 */
void kt_worker_error(int *errors, char *msg, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void kt_pattern_write(struct kmm_page *page, unsigned order, uint64_t tag);
/* True when the block still holds the pattern of @tag. */
bool kt_pattern_ok(struct kmm_page *page, unsigned order, uint64_t tag);
/* True when every byte of the block is 0. */
bool kt_block_is_zero(struct kmm_page *page, unsigned order);
/* Fill the whole block with @byte. */
void kt_block_fill(struct kmm_page *page, unsigned order, int byte);

/* ---- randomness ---------------------------------------------------------- */

/* The test seed (KMM_TEST_SEED or the clock), printed once. */
uint64_t kt_seed(const char *test);
/* splitmix64 step. */
uint64_t kt_rand(uint64_t *state);

/* Monotonic seconds. */
double kt_now(void);

/* ---- assertions ---------------------------------------------------------- */

/* Built with ThreadSanitizer? */
#if defined(__SANITIZE_THREAD__)
#define KT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KT_TSAN 1
#endif
#endif
#ifndef KT_TSAN
#define KT_TSAN 0
#endif

/*
 * kmm_page_alloc_validate(), except under TSan on machines of more than
 * 60 CPUs: the validator holds every pcp->lock of a zone at once, more
 * than TSan's deadlock detector can track (64 locks per thread).
 */
int kt_validate(void);

#define kt_assert_valid(what)                                                 \
	do {                                                                  \
		int kt_v_ = kt_validate();                                    \
		if (kt_v_)                                                    \
			kt_log_dump("validate failed");                       \
		cr_assert_eq(kt_v_, 0, "kmm_page_alloc_validate() = %d after %s", \
			     kt_v_, (what));                                  \
	} while (0)

#endif /* KMM_TEST_H */
