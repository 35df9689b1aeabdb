/* SPDX-License-Identifier: MIT */
/*
 * test_contig_stress.c - nothing lost: memory full of movable user pages
 * whose contents carry checksums, then randomised alloc_contig_range() /
 * cma_alloc() / release cycles (1,000,000 by default; KMM_STRESS_CYCLES
 * overrides, the sanitizer builds run fewer).  Checked as it goes:
 *  - every user page still holds its own bytes (words keyed by its address
 *    and its write generation, plus a checksum), at every full check and
 *    whenever the page is rewritten;
 *  - every page a cycle got holds the tag written into it until it is
 *    released (migration never writes into pages it handed out);
 *  - the page allocator, CMA and mm validators pass at every full check
 *    (every KMM_STRESS_CHECK_EVERY cycles, default 4096, and at the end);
 *  - at the end, with everything released and the mm destroyed, the free
 *    page count is back where it started and nothing is isolated.
 * The seed is printed (KMM_TEST_SEED replays a run).
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>

#define PG KMM_PAGE_SIZE
#define NR_USER 3200		/* of 8192 pages */
#define MAX_HELD 24
#define WORDS 8			/* checked words per page, 512 bytes apart */

TestSuite(contig_stress, .fini = kt_fini, .timeout = 1800);

static bool is_shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

struct held {
	unsigned long pfn, count;
	uint64_t tag;
	bool cma;
};

struct st {
	struct kmm_mm_struct *mm;
	unsigned long ua;
	uint32_t gen[NR_USER];
	struct held held[MAX_HELD];
	unsigned nheld;
	struct kmm_cma *cma;
	unsigned long ok_contig, busy_contig, inval_contig, ok_cma, fail_cma, released, rewrites;
};

static uint64_t word(unsigned long addr, uint32_t gen, unsigned w)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)gen << 32) ^ w;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ULL;
}

static void user_write(struct st *s, unsigned i)
{
	uint64_t *p = (uint64_t *)(s->ua + i * PG), sum = 0;

	for (unsigned w = 0; w < WORDS; w++) {
		p[w * 64] = word(s->ua + i * PG, s->gen[i], w);
		sum += p[w * 64];
	}
	p[PG / 8 - 1] = sum;
}

static bool user_ok(struct st *s, unsigned i)
{
	const uint64_t *p = (const uint64_t *)(s->ua + i * PG);
	uint64_t sum = 0;

	for (unsigned w = 0; w < WORDS; w++) {
		if (p[w * 64] != word(s->ua + i * PG, s->gen[i], w))
			return false;
		sum += p[w * 64];
	}
	return p[PG / 8 - 1] == sum;
}

static void held_fill(const struct held *h)
{
	if (is_shadow())
		return;
	for (unsigned long k = 0; k < h->count; k++) {
		uint64_t *p = kmm_page_address(kmm_pfn_to_page(h->pfn + k));

		p[0] = h->tag + k;
		p[PG / 8 - 1] = ~(h->tag + k);
	}
}

static bool held_ok(const struct held *h)
{
	if (is_shadow())
		return true;
	for (unsigned long k = 0; k < h->count; k++) {
		const uint64_t *p = kmm_page_address(kmm_pfn_to_page(h->pfn + k));

		if (p[0] != h->tag + k || p[PG / 8 - 1] != ~(h->tag + k))
			return false;
		if (kmm_page_ref_count(kmm_pfn_to_page(h->pfn + k)) != 1)
			return false;
	}
	return true;
}

static void release(struct st *s, unsigned j)
{
	struct held h = s->held[j];

	cr_assert(held_ok(&h), "pages [%#lx, +%lu) lost their tag while held", h.pfn, h.count);
	if (h.cma)
		cr_assert(kmm_cma_release(s->cma, kmm_pfn_to_page(h.pfn), h.count));
	else
		kmm_free_contig_range(h.pfn, h.count);
	s->held[j] = s->held[--s->nheld];
	s->released++;
}

static void push(struct st *s, unsigned long pfn, unsigned long count, bool cma, uint64_t *rng)
{
	struct held *h;

	if (s->nheld == MAX_HELD)
		release(s, (unsigned)(kt_rand(rng) % s->nheld));
	h = &s->held[s->nheld++];
	*h = (struct held){ .pfn = pfn, .count = count, .tag = kt_rand(rng), .cma = cma };
	held_fill(h);
}

static void full_check(struct st *s, unsigned long cycle)
{
	int r;

	if (!is_shadow())
		for (unsigned i = 0; i < NR_USER; i++)
			cr_assert(user_ok(s, i), "cycle %lu: user page %u (%#lx) lost its bytes",
				  cycle, i, s->ua + i * PG);
	for (unsigned j = 0; j < s->nheld; j++)
		cr_assert(held_ok(&s->held[j]), "cycle %lu: held range %u changed", cycle, j);
	r = kt_validate();
	if (r)
		kt_log_dump("page allocator");
	cr_assert_eq(r, 0, "cycle %lu: kmm_page_alloc_validate", cycle);
	cr_assert_eq(kmm_cma_validate(), 0, "cycle %lu: kmm_cma_validate", cycle);
	r = kmm_mm_validate(s->mm);
	if (r)
		kt_log_dump("mm");
	cr_assert_eq(r, 0, "cycle %lu: kmm_mm_validate", cycle);
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

static void run(const char *cmdline, unsigned long cycles)
{
	static struct st s;
	unsigned long every = env_ul("KMM_STRESS_CHECK_EVERY", 4096), c;
	uint64_t rng = kt_seed("contig_stress"), free0;
	double t0;

	memset(&s, 0, sizeof(s));
	kt_boot(cmdline);
	kt_log_stop();		/* a million -EBUSY notes would fill the capture */
	kmm_drain_all_pages(NULL);
	free0 = kmm_nr_free_pages();
	s.cma = kmm_cma_area(0);
	cr_assert_not_null(s.cma);
	s.mm = kmm_mm_create(0);
	cr_assert_not_null(s.mm);
	s.ua = kmm_vm_mmap(s.mm, 0, NR_USER * PG, KMM_PROT_READ | KMM_PROT_WRITE,
			   KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE, 0, NULL);
	cr_assert(!KMM_IS_ERR_VALUE(s.ua), "populate %d pages: %ld", NR_USER, (long)s.ua);
	if (!is_shadow())
		for (unsigned i = 0; i < NR_USER; i++)
			user_write(&s, i);
	full_check(&s, 0);
	t0 = kt_now();
	for (c = 1; c <= cycles; c++) {
		unsigned op = (unsigned)(kt_rand(&rng) % 100);

		if (op < 45) {
			/* A range of 1..64 pages anywhere in one zone (or, 1 in 16,
			 * across a zone edge or past memory: -EINVAL). */
			unsigned long n = 1 + kt_rand(&rng) % 64, start;
			int r;

			start = kt_rand(&rng) % (kmm_machine.max_pfn - (kt_rand(&rng) % 16 ? n : 0));
			r = kmm_alloc_contig_range(start, start + n, KMM_ACR_FLAGS_NONE,
						   KMM_GFP_KERNEL | KMM___GFP_NOWARN);
			if (r == 0) {
				s.ok_contig++;
				push(&s, start, n, false, &rng);
			} else if (r == -KMM_EINVAL) {
				s.inval_contig++;
			} else {
				cr_assert(r == -KMM_EBUSY || r == -KMM_ENOMEM,
					  "cycle %lu: alloc_contig_range(%#lx, %lu) = %d", c, start, n, r);
				s.busy_contig++;
			}
		} else if (op < 70) {
			unsigned long n = 1 + kt_rand(&rng) % 128;
			struct kmm_page *p = kmm_cma_alloc(s.cma, n, (unsigned)(kt_rand(&rng) % 4), true);

			if (p) {
				s.ok_cma++;
				push(&s, kmm_page_to_pfn(p), n, true, &rng);
			} else {
				s.fail_cma++;
			}
		} else if (op < 95) {
			if (s.nheld)
				release(&s, (unsigned)(kt_rand(&rng) % s.nheld));
		} else if (!is_shadow()) {
			unsigned i = (unsigned)(kt_rand(&rng) % NR_USER);

			cr_assert(user_ok(&s, i), "cycle %lu: user page %u lost its bytes", c, i);
			s.gen[i]++;
			user_write(&s, i);
			s.rewrites++;
		}
		if (c % every == 0)
			full_check(&s, c);
	}
	full_check(&s, cycles);
	cr_log_info("contig_stress: %lu cycles in %.1f s: contig %lu ok, %lu busy, %lu invalid; cma %lu ok, %lu failed; %lu released, %lu rewrites; %lu pages migrated",
		    cycles, kt_now() - t0, s.ok_contig, s.busy_contig, s.inval_contig, s.ok_cma,
		    s.fail_cma, s.released, s.rewrites, kmm_pgmigrate_success());
	cr_assert_gt(s.ok_contig, 0);
	cr_assert_gt(s.ok_cma, 0);
	cr_assert(cycles < 1000 || kmm_pgmigrate_success() > 0, "the cycles migrated user pages");
	while (s.nheld)
		release(&s, 0);
	kmm_mm_destroy(s.mm);
	kmm_drain_all_pages(NULL);
	cr_assert_eq(kmm_nr_free_pages(), free0, "every page came back");
	for (unsigned long pfn = 0; pfn < kmm_machine.max_pfn; pfn += KMM_PAGEBLOCK_NR_PAGES)
		cr_assert_neq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_ISOLATE,
			      "pageblock %#lx left isolated", pfn);
	kt_assert_valid("the end");
}

Test(contig_stress, million_cycles_nothing_lost)
{
	run("mem=32M cma=8M nr_cpus=1", env_ul("KMM_STRESS_CYCLES", 1000000));
}

Test(contig_stress, shadow_mode)
{
	run("mem=32M cma=8M nr_cpus=1 kmm.mode=shadow",
	    env_ul("KMM_STRESS_CYCLES", 1000000) / 10);
}
