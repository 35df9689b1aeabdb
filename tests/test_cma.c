/* SPDX-License-Identifier: MIT */
/*
 * test_cma.c - the Contiguous Memory Allocator (include/kmm/cma.h,
 * src/core/cma.c) on top of alloc_contig_range() (src/core/contig.c).
 *
 * What is proven:
 *   - the cma= boot area: one area "reserved" of the right size, every
 *     pageblock MIGRATE_CMA and every page PG_cma, CmaTotal/CmaFree in
 *     meminfo, an empty bitmap in the kernel's debugfs text format;
 *   - cma_alloc() of 1, 7, 512 and 4096 pages at alignment orders 0, 4, 9
 *     (and clamped ones): the PFN is aligned and inside the area, each page
 *     is an order-0 page with refcount 1 that holds what is written to it,
 *     the bitmap marks exactly those bits (compared with a first-fit model
 *     of the bitmap), used/maxchunk and the success/fail/release counters;
 *   - a full area refuses one more page (counted, logged unless no_warn);
 *   - movable allocations borrow CMA pages, unmovable ones never do; user
 *     pages in the area are migrated away by cma_alloc() of the whole area,
 *     every user address keeps its bytes;
 *   - retry past busy ranges (a pinned non-user page, a user page with an
 *     extra reference): the later range is returned and the failed tries
 *     leave no bit set;
 *   - runtime areas (cma_declare_contiguous(), anywhere or fixed, with
 *     order_per_bit 2; cma_init_reserved_mem() on pages the caller owns)
 *     and every refused argument, each leaving nothing changed;
 *   - cma_release() refusals (NULL, outside, not allocated, double
 *     release, misaligned): false, nothing freed, bitmap unchanged;
 *   - threads allocating from one pageblock at once never fail spuriously
 *     (alloc_contig_range() runs are serialized per area);
 *   - shadow mode; the <linux/cma.h> names.
 *
 * After each step kmm_page_alloc_validate() and kmm_cma_validate() must be
 * 0, and tests that give back all they took check that the free page count
 * (per-CPU lists drained) is back where it started.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>

#define PG KMM_PAGE_SIZE
#define MB (1ULL << 20)
#define PB KMM_PAGEBLOCK_NR_PAGES
#define RW (KMM_PROT_READ | KMM_PROT_WRITE)
#define ANON_POP (KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE)
#define BOOT64 "mem=64M cma=16M"
#define AREA_PAGES 4096UL

TestSuite(cma, .fini = kt_fini, .timeout = 120);

/* ---- helpers ----------------------------------------------------------------- */

static bool is_shadow(void)
{
	return kmm_machine.params.mode == KMM_MODE_SHADOW;
}

/* Both validators. */
static void check(const char *what)
{
	kt_assert_valid(what);
	kt_assert_validator(kmm_cma_validate(), "kmm_cma_validate()", what);
}

static uint64_t free_now(void)
{
	kmm_drain_all_pages(NULL);
	return kmm_nr_free_pages();
}

static void assert_free(uint64_t want, const char *what)
{
	uint64_t now = free_now();

	cr_assert_eq(now, want, "%s: %llu pages free, %llu expected", what,
		     (unsigned long long)now, (unsigned long long)want);
	check(what);
}

static struct kmm_cma *boot_area(const char *cmdline)
{
	struct kmm_cma *c;

	kt_boot(cmdline);
	cr_assert_eq(kmm_cma_area_count(), 1);
	c = kmm_cma_area(0);
	cr_assert_not_null(c);
	check("boot");
	return c;
}

static uint64_t base_pfn(struct kmm_cma *c)
{
	return kmm_cma_get_base(c) >> KMM_PAGE_SHIFT;
}

static unsigned long area_pages(struct kmm_cma *c)
{
	return kmm_cma_get_size(c) >> KMM_PAGE_SHIFT;
}

static bool in_area(struct kmm_cma *c, uint64_t pfn)
{
	return pfn >= base_pfn(c) && pfn < base_pfn(c) + area_pages(c);
}

static struct kmm_cma_stats stats(struct kmm_cma *c)
{
	struct kmm_cma_stats st;

	kmm_cma_get_stats(c, &st);
	return st;
}

/* Free CMA pages of every zone. */
static long free_cma(void)
{
	long n = 0;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int z = 0; z < KMM_MAX_NR_ZONES; z++)
			n += kmm_zone_page_state(&kmm_NODE_DATA(nid)->node_zones[z],
						 KMM_NR_FREE_CMA_PAGES);
	return n;
}

/* The kB value of meminfo line @key ("CmaTotal:"), as the kernel prints it. */
static long meminfo_kb(const char *mi, const char *key)
{
	const char *s = strstr(mi, key), *nl;
	char *end;
	long v;

	cr_assert_not_null(s, "no %s in meminfo", key);
	cr_assert(s == mi || s[-1] == '\n');
	nl = strchr(s, '\n');
	cr_assert_not_null(nl);
	cr_assert_eq(nl - s, 27, "%s line is %d wide", key, (int)(nl - s));	/* 16 + 8 + " kB" */
	v = strtol(s + strlen(key), &end, 10);
	cr_assert_eq(strncmp(end, " kB\n", 4), 0);
	return v;
}

/* Lines at WARNING or worse. */
static int loud_lines(void)
{
	int n = 0;

	for (int lvl = 0; lvl <= KMM_LOG_WARNING; lvl++)
		n += kt_log_count_level(lvl, "");
	return n;
}

/*
 * The bitmap as kmm_cma_bitmap_text() prints it, parsed into @bits
 * (nbits entries); the format (decimal 32-bit words, one space between,
 * a newline at the end) is checked on the way.
 */
static void bitmap_read(struct kmm_cma *c, bool *bits)
{
	struct kmm_cma_stats st = stats(c);
	unsigned long nbits = st.count >> st.order_per_bit, words = (nbits + 31) / 32;
	size_t size = words * 12 + 16;
	char *buf = malloc(size), *s, *end;
	int n;

	cr_assert_not_null(buf);
	n = kmm_cma_bitmap_text(c, buf, size);
	cr_assert_gt(n, 0);
	cr_assert_lt((size_t)n, size);
	cr_assert_eq(strlen(buf), (size_t)n);
	cr_assert_eq(buf[n - 1], '\n', "bitmap text does not end in a newline");
	s = buf;
	for (unsigned long w = 0; w < words; w++) {
		unsigned long v;

		cr_assert(*s >= '0' && *s <= '9', "word %lu: '%c' in \"%s\"", w, *s, buf);
		v = strtoul(s, &end, 10);
		cr_assert_leq(v, 0xffffffffUL);
		for (unsigned b = 0; b < 32 && w * 32 + b < nbits; b++)
			bits[w * 32 + b] = (v >> b) & 1;
		if (w * 32 + 32 > nbits)	/* bits past the end stay clear */
			cr_assert_eq(v >> (nbits - w * 32), 0);
		cr_assert_eq(*end, w + 1 < words ? ' ' : '\n', "word %lu ends in '%c'", w, *end);
		s = end + 1;
	}
	cr_assert_eq(*s, 0);
	free(buf);
}

/*
 * A model of an area's bitmap: bits set by the test's bookkeeping; the
 * area's bitmap text, used and maxchunk must agree with it.
 */
struct model {
	struct kmm_cma *c;
	unsigned long nbits;
	unsigned opb;
	bool *bit;
};

static void model_init(struct model *m, struct kmm_cma *c)
{
	struct kmm_cma_stats st = stats(c);

	m->c = c;
	m->opb = st.order_per_bit;
	m->nbits = st.count >> st.order_per_bit;
	m->bit = calloc(m->nbits, sizeof(bool));
	cr_assert_not_null(m->bit);
}

static void model_set(struct model *m, uint64_t pfn, unsigned long count, bool v)
{
	unsigned long first = (unsigned long)(pfn - base_pfn(m->c)) >> m->opb;
	unsigned long n = (count + (1UL << m->opb) - 1) >> m->opb;

	for (unsigned long i = first; i < first + n; i++) {
		cr_assert_lt(i, m->nbits);
		m->bit[i] = v;
	}
}

/* First-fit: the PFN cma_alloc(count, align) must return, or ~0. */
static uint64_t model_first_fit(const struct model *m, unsigned long count, unsigned align)
{
	unsigned long n = (count + (1UL << m->opb) - 1) >> m->opb;
	uint64_t base = base_pfn(m->c);

	if (align > KMM_MAX_PAGE_ORDER)
		align = KMM_MAX_PAGE_ORDER;
	for (unsigned long i = 0; i + n <= m->nbits; i++) {
		uint64_t pfn = base + ((uint64_t)i << m->opb);
		unsigned long k;

		if (pfn & ((1ULL << align) - 1))
			continue;
		for (k = 0; k < n && !m->bit[i + k]; k++)
			;
		if (k == n)
			return pfn;
	}
	return ~0ULL;
}

static void model_check(const struct model *m, const char *what)
{
	bool *got = calloc(m->nbits, sizeof(bool));
	unsigned long used = 0, run = 0, best = 0;
	struct kmm_cma_stats st = stats(m->c);

	cr_assert_not_null(got);
	bitmap_read(m->c, got);
	for (unsigned long i = 0; i < m->nbits; i++) {
		cr_assert_eq(got[i], m->bit[i], "%s: bit %lu is %d, expected %d", what, i, got[i],
			     m->bit[i]);
		used += m->bit[i];
		run = m->bit[i] ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	cr_assert_eq(st.used, used << m->opb, "%s: used %lu, expected %lu", what, st.used,
		     used << m->opb);
	cr_assert_eq(st.maxchunk, best << m->opb, "%s: maxchunk %lu, expected %lu", what,
		     st.maxchunk, best << m->opb);
	free(got);
	check(what);
}

static void model_free(struct model *m)
{
	free(m->bit);
	m->bit = NULL;
}

/* The pages cma_alloc() returned: aligned, inside, order-0, refcount 1. */
static void assert_got(struct kmm_cma *c, struct kmm_page *p, unsigned long count,
		       unsigned align, const char *what)
{
	uint64_t pfn;

	if (!p)
		kt_log_dump(what);
	cr_assert_not_null(p, "%s: cma_alloc failed", what);
	pfn = kmm_page_to_pfn(p);
	if (align > KMM_MAX_PAGE_ORDER)
		align = KMM_MAX_PAGE_ORDER;
	cr_assert_eq(pfn & ((1ULL << align) - 1), 0, "%s: pfn %#llx not aligned to order %u",
		     what, (unsigned long long)pfn, align);
	cr_assert(in_area(c, pfn) && in_area(c, pfn + count - 1),
		  "%s: pfn %#llx+%lu outside the area", what, (unsigned long long)pfn, count);
	for (unsigned long i = 0; i < count; i++) {
		cr_assert_eq(kmm_page_ref_count(p + i), 1, "%s: page %lu refcount %d", what, i,
			     kmm_page_ref_count(p + i));
		cr_assert_not(kmm_page_test(p + i, KMM_PG_buddy));
		cr_assert_not(kmm_page_test(p + i, KMM_PG_lru));
		cr_assert(kmm_page_test(p + i, KMM_PG_cma));
	}
}

static void write_pages(struct kmm_page *p, unsigned long count, uint64_t tag)
{
	for (unsigned long i = 0; i < count; i++)
		kt_pattern_write(p + i, 0, tag + i);
}

static void assert_pages(struct kmm_page *p, unsigned long count, uint64_t tag,
			 const char *what)
{
	for (unsigned long i = 0; i < count; i++)
		cr_assert(kt_pattern_ok(p + i, 0, tag + i), "%s: page %lu lost its bytes", what, i);
}

static struct kmm_mm_struct *new_mm(void)
{
	struct kmm_mm_struct *mm = kmm_mm_create(0);

	cr_assert_not_null(mm, "kmm_mm_create(0) failed");
	cr_assert_eq(kmm_mm_validate(mm), 0);
	return mm;
}

static unsigned long map_pop(struct kmm_mm_struct *mm, unsigned long len)
{
	unsigned long a = kmm_vm_mmap(mm, 0, len, RW, ANON_POP, 0, NULL);

	if (KMM_IS_ERR_VALUE(a))
		kt_log_dump("kmm_vm_mmap");
	cr_assert_not(KMM_IS_ERR_VALUE(a), "kmm_vm_mmap(%#lx) = %ld", len, (long)a);
	return a;
}

static uint64_t upfn(struct kmm_mm_struct *mm, unsigned long a)
{
	unsigned long pfn = 0;

	cr_assert_eq(kmm_follow_pfn(mm, a, &pfn), 0, "nothing mapped at %#lx", a);
	return pfn;
}

static uint64_t uword(unsigned long a, unsigned w)
{
	return (a * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)w << 48) ^ 0x5a5a;
}

static void user_write(unsigned long a)
{
	if (is_shadow())
		return;
	for (unsigned w = 0; w < PG / 8; w += 64)
		((volatile uint64_t *)a)[w] = uword(a, w);
	((volatile uint64_t *)a)[PG / 8 - 1] = uword(a, PG / 8 - 1);
}

static bool user_ok(unsigned long a)
{
	if (is_shadow())
		return true;
	for (unsigned w = 0; w < PG / 8; w += 64)
		if (((volatile uint64_t *)a)[w] != uword(a, w))
			return false;
	return ((volatile uint64_t *)a)[PG / 8 - 1] == uword(a, PG / 8 - 1);
}

/*
 * Movable order-0 filler pages until one comes from @c's area (that one
 * is freed again): afterwards new movable pages come from the area.
 * Returns the number of fillers kept in @b (none of them in the area).
 */
static size_t fill_movable_until_cma(struct kmm_cma *c, struct kt_blocks *b)
{
	for (;;) {
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, 0);

		cr_assert_not_null(p, "movable pages ran out before one came from the CMA area");
		if (in_area(c, kmm_page_to_pfn(p))) {
			kmm___free_pages(p, 0);
			return b->n;
		}
		kt_blocks_push(b, p, 0, 0);
	}
}

/* User pages of [a, a + n pages) in the area. */
static unsigned long user_in_area(struct kmm_cma *c, struct kmm_mm_struct *mm, unsigned long a,
				  unsigned long n)
{
	unsigned long k = 0;

	for (unsigned long i = 0; i < n; i++)
		k += in_area(c, upfn(mm, a + i * PG));
	return k;
}

/* ---- the boot area ----------------------------------------------------------- */

Test(cma, boot_area_reserved)
{
	struct kmm_cma *c = boot_area(BOOT64);
	struct kmm_cma_stats st = stats(c);
	uint64_t base = base_pfn(c);
	static char mi[8192];
	char *buf;
	int n;

	cr_assert_str_eq(kmm_cma_get_name(c), "reserved");
	cr_assert_eq(kmm_cma_get_size(c), 16 * MB);
	cr_assert_eq(area_pages(c), AREA_PAGES);
	cr_assert_eq(base % PB, 0, "base pfn %#llx not pageblock aligned",
		     (unsigned long long)base);
	cr_assert_leq(base + AREA_PAGES, kmm_machine.max_pfn);
	cr_assert_null(kmm_cma_area(1));
	cr_assert_eq(st.base_pfn, base);
	cr_assert_eq(st.count, AREA_PAGES);
	cr_assert_eq(st.used, 0);
	cr_assert_eq(st.maxchunk, AREA_PAGES);
	cr_assert_eq(st.order_per_bit, 0);
	cr_assert_eq(st.alloc_pages_success + st.alloc_pages_fail + st.release_pages_success, 0);

	/* Every pageblock of the area is CMA, none outside; pages PG_cma. */
	for (uint64_t pfn = 0; pfn < kmm_machine.max_pfn; pfn += PB) {
		bool inside = pfn >= base && pfn < base + AREA_PAGES;

		if (!kmm_pfn_valid(pfn))
			continue;
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn) == KMM_MIGRATE_CMA, inside,
			     "pageblock %#llx: migratetype %d", (unsigned long long)pfn,
			     kmm_get_pfnblock_migratetype(pfn));
	}
	for (uint64_t pfn = base; pfn < base + AREA_PAGES; pfn++)
		cr_assert(kmm_page_test(kmm_pfn_to_page(pfn), KMM_PG_cma));
	cr_assert_not(kmm_page_test(kmm_pfn_to_page(base - 1), KMM_PG_cma));
	cr_assert_eq(kmm_machine.totalcma_pages, AREA_PAGES);
	cr_assert_eq(free_cma(), (long)AREA_PAGES, "free CMA pages %ld", free_cma());

	/* meminfo */
	kmm_report_meminfo(mi, sizeof(mi));
	cr_assert_eq(meminfo_kb(mi, "CmaTotal:"), 16384, "%s", mi);
	cr_assert_eq(meminfo_kb(mi, "CmaFree:"), 16384, "%s", mi);

	/* The debugfs bitmap: 128 words of 0. */
	buf = malloc(1024);
	n = kmm_cma_bitmap_text(c, buf, 1024);
	cr_assert_eq(n, 128 * 2);
	for (int i = 0; i < 128; i++) {
		cr_assert_eq(buf[2 * i], '0');
		cr_assert_eq(buf[2 * i + 1], i < 127 ? ' ' : '\n');
	}
	/* Truncation as scnprintf: at most size - 1 bytes, NUL-terminated. */
	n = kmm_cma_bitmap_text(c, buf, 10);
	cr_assert_eq(n, 9);
	cr_assert_str_eq(buf, "0 0 0 0 0");
	cr_assert_eq(kmm_cma_bitmap_text(c, buf, 0), 0);
	free(buf);
	check("boot area");
}

Test(cma, boot_area_fixed_base_and_rounding)
{
	struct kmm_cma *c = boot_area("mem=64M cma=3M@32M");

	/* Rounded up to whole pageblocks, at the base asked for. */
	cr_assert_eq(kmm_cma_get_base(c), 32 * MB);
	cr_assert_eq(kmm_cma_get_size(c), 4 * MB);
	cr_assert_str_eq(kmm_cma_get_name(c), "reserved");
	for (uint64_t pfn = base_pfn(c); pfn < base_pfn(c) + area_pages(c); pfn += PB)
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_CMA);
	cr_assert_neq(kmm_get_pfnblock_migratetype(base_pfn(c) + area_pages(c)), KMM_MIGRATE_CMA);
	cr_assert_neq(kmm_get_pfnblock_migratetype(base_pfn(c) - 1), KMM_MIGRATE_CMA);
}

Test(cma, boot_without_cma_has_no_area)
{
	kt_boot("mem=64M");
	cr_assert_eq(kmm_cma_area_count(), 0);
	cr_assert_null(kmm_cma_area(0));
	cr_assert_null(kmm_cma_alloc(NULL, 1, 0, true));
	cr_assert_not(kmm_cma_release(NULL, kmm_pfn_to_page(0), 1));
	check("no area");
}

/* ---- cma_alloc / cma_release ----------------------------------------------------- */

Test(cma, alloc_sizes_and_alignments)
{
	static const unsigned long counts[] = { 1, 7, 512, 4096 };
	static const unsigned aligns[] = { 0, 4, 9 };
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now(), tag = 0x1000;
	unsigned long success = 0, released = 0;
	struct model m;

	model_init(&m, c);
	model_check(&m, "empty");
	for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
		for (size_t ai = 0; ai < sizeof(aligns) / sizeof(aligns[0]); ai++) {
			unsigned long count = counts[ci];
			unsigned align = aligns[ai];
			uint64_t want = model_first_fit(&m, count, align);
			struct kmm_page *p = kmm_cma_alloc(c, count, align, false);
			struct kmm_cma_stats st;
			char what[64];

			snprintf(what, sizeof(what), "cma_alloc(%lu, %u)", count, align);
			assert_got(c, p, count, align, what);
			cr_assert_eq(kmm_page_to_pfn(p), want, "%s: pfn %#llx, first fit %#llx",
				     what, (unsigned long long)kmm_page_to_pfn(p),
				     (unsigned long long)want);
			cr_assert_eq(free_now(), free0 - count, "%s: free pages", what);
			model_set(&m, kmm_page_to_pfn(p), count, true);
			model_check(&m, what);
			success += count;
			st = stats(c);
			cr_assert_eq(st.alloc_pages_success, success);
			cr_assert_eq(st.alloc_pages_fail, 0);

			write_pages(p, count, tag);
			assert_pages(p, count, tag, what);
			tag += count;

			cr_assert(kmm_cma_release(c, p, count), "%s: release", what);
			model_set(&m, kmm_page_to_pfn(p), count, false);
			model_check(&m, "release");
			released += count;
			st = stats(c);
			cr_assert_eq(st.release_pages_success, released);
			cr_assert_eq(st.alloc_pages_success, success);
			assert_free(free0, "release");
		}
	}
	cr_assert_eq(loud_lines(), 0, "%s", kt_log_find(""));
	model_free(&m);
}

Test(cma, alloc_first_fit_layout)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now(), base = base_pfn(c);
	struct { unsigned long count; unsigned align; uint64_t want; struct kmm_page *p; } a[] = {
		{ 1, 0, 0, NULL },		/* bit 0 */
		{ 7, 4, 16, NULL },		/* 16..22: the next 16-aligned free run */
		{ 512, 9, 512, NULL },	/* 512..1023 */
		{ 1, 0, 1, NULL },		/* the hole at 1 */
		{ 14, 0, 2, NULL },		/* 2..15 just fits */
		{ 1, 0, 23, NULL },		/* past the 7 */
		{ 16, 4, 32, NULL },
		{ 1, 10, 1024, NULL },	/* order 10 */
		{ 2, 30, 2048, NULL },	/* clamped to MAX_PAGE_ORDER */
		{ 1024, 10, 3072, NULL },
	};
	struct model m;
	uint64_t tag = 77;

	model_init(&m, c);
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "alloc #%zu (%lu, %u)", i, a[i].count, a[i].align);
		cr_assert_eq(model_first_fit(&m, a[i].count, a[i].align), base + a[i].want);
		a[i].p = kmm_cma_alloc(c, a[i].count, a[i].align, false);
		assert_got(c, a[i].p, a[i].count, a[i].align, what);
		cr_assert_eq(kmm_page_to_pfn(a[i].p), base + a[i].want, "%s: pfn offset %llu",
			     what, (unsigned long long)(kmm_page_to_pfn(a[i].p) - base));
		model_set(&m, kmm_page_to_pfn(a[i].p), a[i].count, true);
		model_check(&m, what);
		write_pages(a[i].p, a[i].count, tag + i * 10000);
	}
	/* The exact text of the first words: bits 0..22 set, 23 set, 32..47. */
	{
		char buf[64];

		kmm_cma_bitmap_text(c, buf, sizeof(buf));
		cr_assert_eq(strncmp(buf, "16777215 65535 0 ", 17), 0, "%s", buf);
	}
	/* Nothing of 1024 aligned pages is left; 1 page still is. */
	cr_assert_null(kmm_cma_alloc(c, 1024, 10, true));
	cr_assert_null(kmm_cma_alloc(c, 1100, 0, true));	/* largest hole: 1023 */
	cr_assert_eq(stats(c).maxchunk, 1023);
	cr_assert_eq(stats(c).alloc_pages_fail, 1024 + 1100);
	model_check(&m, "refused");

	/* Release every other one, contents intact until then. */
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i += 2) {
		assert_pages(a[i].p, a[i].count, tag + i * 10000, "before release");
		cr_assert(kmm_cma_release(c, a[i].p, a[i].count));
		model_set(&m, kmm_page_to_pfn(a[i].p), a[i].count, false);
		model_check(&m, "release even");
	}
	for (size_t i = 1; i < sizeof(a) / sizeof(a[0]); i += 2) {
		assert_pages(a[i].p, a[i].count, tag + i * 10000, "before release");
		cr_assert(kmm_cma_release(c, a[i].p, a[i].count));
		model_set(&m, kmm_page_to_pfn(a[i].p), a[i].count, false);
		model_check(&m, "release odd");
	}
	cr_assert_eq(stats(c).used, 0);
	cr_assert_eq(stats(c).maxchunk, AREA_PAGES);
	assert_free(free0, "all released");
	model_free(&m);
}

Test(cma, full_area_then_one_more_warns_unless_no_warn)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now();
	struct kmm_page *p, *q;
	struct model m;

	model_init(&m, c);
	p = kmm_cma_alloc(c, AREA_PAGES, 0, false);
	assert_got(c, p, AREA_PAGES, 0, "whole area");
	cr_assert_eq(kmm_page_to_pfn(p), base_pfn(c));
	model_set(&m, base_pfn(c), AREA_PAGES, true);
	model_check(&m, "whole area");
	cr_assert_eq(stats(c).maxchunk, 0);
	cr_assert_eq(free_cma(), 0);
	cr_assert_eq(free_now(), free0 - AREA_PAGES);

	/* One more, quietly: NULL, counted, nothing logged. */
	kt_log_clear();
	q = kmm_cma_alloc(c, 1, 0, true);
	cr_assert_null(q);
	cr_assert_eq(stats(c).alloc_pages_fail, 1);
	cr_assert_eq(kt_log_count("alloc failed"), 0);
	cr_assert_eq(loud_lines(), 0, "no_warn logged: %s", kt_log_find(""));
	model_check(&m, "one more, no_warn");

	/* One more, loudly: the kernel's "alloc failed, req-size" line. */
	kt_log_clear();
	q = kmm_cma_alloc(c, 3, 2, false);
	cr_assert_null(q);
	cr_assert_eq(stats(c).alloc_pages_fail, 4);
	cr_assert_eq(kt_log_count("alloc failed"), 1, "no failure message");
	cr_assert_not_null(kt_log_find("req-size: 3 pages"), "%s", kt_log_find("alloc failed"));
	cr_assert_not_null(strstr(kt_log_find("alloc failed"), "reserved"));
	model_check(&m, "one more, warn");

	/* More than the area, even when empty, fails (and is counted). */
	cr_assert(kmm_cma_release(c, p, AREA_PAGES));
	model_set(&m, base_pfn(c), AREA_PAGES, false);
	model_check(&m, "released");
	cr_assert_null(kmm_cma_alloc(c, AREA_PAGES + 1, 0, true));
	cr_assert_eq(stats(c).alloc_pages_fail, 4 + AREA_PAGES + 1);
	/* count 0 and NULL: NULL, not counted. */
	cr_assert_null(kmm_cma_alloc(c, 0, 0, false));
	cr_assert_null(kmm_cma_alloc(NULL, 1, 0, false));
	cr_assert_eq(stats(c).alloc_pages_fail, 4 + AREA_PAGES + 1);
	cr_assert_eq(stats(c).alloc_pages_success, AREA_PAGES);
	cr_assert_eq(stats(c).release_pages_success, AREA_PAGES);
	model_check(&m, "refused");
	assert_free(free0, "end");
	model_free(&m);
}

/* ---- sharing the area with movable allocations ------------------------------------- */

Test(cma, movable_pages_borrow_cma_unmovable_never)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now();
	struct kt_blocks k = { 0 }, mv = { 0 };
	unsigned long in_cma = 0;
	struct kmm_page *p;

	/* Every page GFP_KERNEL can get: none of them in the area. */
	cr_assert_gt(kt_fill(&k, KMM_GFP_KERNEL, KMM_MAX_PAGE_ORDER), 1000);
	for (size_t i = 0; i < k.n; i++) {
		uint64_t pfn = kmm_page_to_pfn(k.v[i].page);

		for (uint64_t j = 0; j < (1ULL << k.v[i].order); j++)
			cr_assert_not(in_area(c, pfn + j), "GFP_KERNEL page %#llx in the CMA area",
				      (unsigned long long)(pfn + j));
	}
	cr_assert_eq(free_cma(), (long)AREA_PAGES, "unmovable allocations took CMA pages");
	check("kernel fill");

	/* Movable pages still come, from the area. */
	for (int i = 0; i < 64; i++) {
		p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, 0);
		cr_assert_not_null(p, "no movable page with the CMA area free");
		cr_assert(in_area(c, kmm_page_to_pfn(p)), "movable page %#llx not from CMA",
			  (unsigned long long)kmm_page_to_pfn(p));
		kt_blocks_push(&mv, p, 0, 0);
	}
	check("movable from CMA");

	/* Held movable pages that are no user pages cannot be moved: refused. */
	cr_assert_null(kmm_cma_alloc(c, AREA_PAGES, 0, true));
	cr_assert_eq(stats(c).used, 0, "a failed cma_alloc left bits set");
	cr_assert_eq(stats(c).alloc_pages_fail, AREA_PAGES);
	check("refused over held pages");
	/* Freed (onto the per-CPU lists, not drained), the area can be had. */
	kt_blocks_free_all(&mv);
	cr_assert_gt(kt_pcp_total(), 0);
	p = kmm_cma_alloc(c, AREA_PAGES, 0, false);
	assert_got(c, p, AREA_PAGES, 0, "whole area after pcp frees");
	check("whole area after pcp frees");
	cr_assert(kmm_cma_release(c, p, AREA_PAGES));
	kt_blocks_free_all(&k);
	assert_free(free0, "kernel and movable freed");

	/* From a fresh state: movable fill reaches the area. */
	for (;;) {
		p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, 0);
		if (!p)
			break;
		kt_blocks_push(&mv, p, 0, 0);
		if (in_area(c, kmm_page_to_pfn(p)) && ++in_cma >= 16)
			break;
	}
	cr_assert_geq(in_cma, 16, "movable fill of %zu pages never reached the CMA area", mv.n);
	check("movable fill");
	kt_blocks_free_all(&mv);
	assert_free(free0, "movable freed");
	kt_blocks_destroy(&k);
	kt_blocks_destroy(&mv);
}

Test(cma, alloc_migrates_user_pages_away)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now();
	unsigned long n = 2048, len = n * PG, a, before, migrated0 = kmm_pgmigrate_success();
	struct kt_blocks fill = { 0 };
	struct kmm_mm_struct *mm = new_mm();
	uint64_t *old = calloc(n, sizeof(uint64_t));
	struct kmm_page *p;
	struct model m;

	cr_assert_not_null(old);
	model_init(&m, c);
	fill_movable_until_cma(c, &fill);
	check("filled");
	a = map_pop(mm, len);
	for (unsigned long i = 0; i < n; i++) {
		user_write(a + i * PG);
		old[i] = upfn(mm, a + i * PG);
	}
	before = user_in_area(c, mm, a, n);
	cr_assert_gt(before, n / 2, "only %lu of %lu user pages in the CMA area", before, n);
	cr_assert_eq(kmm_mm_validate(mm), 0);
	check("populated");
	/* Room for the migration targets. */
	kt_blocks_free_all(&fill);
	check("fill freed");

	p = kmm_cma_alloc(c, AREA_PAGES, 0, false);
	assert_got(c, p, AREA_PAGES, 0, "whole area over user pages");
	cr_assert_eq(kmm_page_to_pfn(p), base_pfn(c));
	model_set(&m, base_pfn(c), AREA_PAGES, true);
	model_check(&m, "whole area");
	cr_assert_geq(kmm_pgmigrate_success() - migrated0, before);
	cr_assert_eq(kmm_mm_validate(mm), 0);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t pfn = upfn(mm, a + i * PG);

		cr_assert_not(in_area(c, pfn), "user page %lu still at %#llx in the area", i,
			      (unsigned long long)pfn);
		if (!in_area(c, old[i]))
			cr_assert_eq(pfn, old[i], "user page %lu outside the area moved", i);
		cr_assert(user_ok(a + i * PG), "user page %lu lost its bytes", i);
	}
	/* The taken pages are the caller's: write them, users unchanged. */
	write_pages(p, AREA_PAGES, 999);
	assert_pages(p, AREA_PAGES, 999, "area");
	for (unsigned long i = 0; i < n; i++)
		cr_assert(user_ok(a + i * PG), "user page %lu changed by the area's writes", i);

	cr_assert(kmm_cma_release(c, p, AREA_PAGES));
	model_set(&m, base_pfn(c), AREA_PAGES, false);
	model_check(&m, "released");
	cr_assert_eq(kmm_vm_munmap(mm, a, len), 0);
	kmm_mm_destroy(mm);
	assert_free(free0, "mm destroyed");
	kt_blocks_destroy(&fill);
	model_free(&m);
	free(old);
}

/* ---- retry past busy ranges -------------------------------------------------------- */

/*
 * Take every movable order-0 page there is and keep only the one at @pfn:
 * a page that is allocated but not a user page, hence unmovable.
 */
static struct kmm_page *pin_pfn(uint64_t pfn)
{
	struct kt_blocks b = { 0 };
	struct kmm_page *keep = NULL;

	kt_fill(&b, KMM_GFP_HIGHUSER_MOVABLE, 0);
	for (size_t i = 0; i < b.n; i++) {
		if (kmm_page_to_pfn(b.v[i].page) == pfn) {
			keep = b.v[i].page;
			kt_blocks_take(&b, i);
			break;
		}
	}
	kt_blocks_free_all(&b);
	kt_blocks_destroy(&b);
	cr_assert_not_null(keep, "pfn %#llx was not handed out", (unsigned long long)pfn);
	return keep;
}

Test(cma, alloc_retries_past_a_pinned_page)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now(), base = base_pfn(c);
	unsigned long unmov0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE);
	struct kmm_page *pin, *big, *small, *tiny, *four;
	struct model m;

	model_init(&m, c);
	pin = pin_pfn(base + 3);
	check("pinned");
	cr_assert_eq(free_now(), free0 - 1);

	/* 512 at order 9 would first be [0, 512): busy, so [512, 1024). */
	kt_log_clear();
	big = kmm_cma_alloc(c, 512, 9, false);
	assert_got(c, big, 512, 9, "512 past the pin");
	cr_assert_eq(kmm_page_to_pfn(big), base + 512, "got offset %llu",
		     (unsigned long long)(kmm_page_to_pfn(big) - base));
	cr_assert_gt(kmm_contig_fail_count(KMM_CONTIG_FAIL_UNMOVABLE), unmov0,
		     "the first range did not fail");
	cr_assert_eq(kt_log_count("alloc failed"), 0, "a retry that succeeds is no failure");
	cr_assert_eq(kt_log_count_level(KMM_LOG_DEBUG, "is busy, trying past it"), 1);
	model_set(&m, base + 512, 512, true);
	model_check(&m, "512 past the pin");	/* nothing of [0, 512) is marked */
	cr_assert_eq(stats(c).alloc_pages_fail, 0);

	/* 8 at order 0: [0,8) .. [3,11) hold the pin; [4, 12) is had. */
	small = kmm_cma_alloc(c, 8, 0, false);
	assert_got(c, small, 8, 0, "8 past the pin");
	cr_assert_eq(kmm_page_to_pfn(small), base + 4, "got offset %llu",
		     (unsigned long long)(kmm_page_to_pfn(small) - base));
	model_set(&m, base + 4, 8, true);
	model_check(&m, "8 past the pin");

	/* 4 at order 2: [0,4) holds the pin, [4,12) is taken: [12, 16). */
	four = kmm_cma_alloc(c, 4, 2, false);
	assert_got(c, four, 4, 2, "4 past the pin");
	cr_assert_eq(kmm_page_to_pfn(four), base + 12, "got offset %llu",
		     (unsigned long long)(kmm_page_to_pfn(four) - base));
	model_set(&m, base + 12, 4, true);
	model_check(&m, "4 past the pin");
	cr_assert(kmm_cma_release(c, four, 4));
	model_set(&m, base + 12, 4, false);
	model_check(&m, "4 released");
	tiny = kmm_cma_alloc(c, 3, 0, true);		/* [0,3) is free of the pin */
	assert_got(c, tiny, 3, 0, "3 before the pin");
	cr_assert_eq(kmm_page_to_pfn(tiny), base);
	model_set(&m, base, 3, true);
	model_check(&m, "3 before the pin");

	/* Unpinned, the page's range can be had. */
	kmm___free_pages(pin, 0);
	check("unpinned");
	pin = kmm_cma_alloc(c, 1, 0, false);
	assert_got(c, pin, 1, 0, "the pin's page");
	cr_assert_eq(kmm_page_to_pfn(pin), base + 3);
	model_set(&m, base + 3, 1, true);
	model_check(&m, "the pin's page");

	cr_assert(kmm_cma_release(c, pin, 1));
	cr_assert(kmm_cma_release(c, tiny, 3));
	cr_assert(kmm_cma_release(c, small, 8));
	cr_assert(kmm_cma_release(c, big, 512));
	model_set(&m, base, 1024, false);
	model_check(&m, "all released");
	assert_free(free0, "all released");
	model_free(&m);
}

Test(cma, alloc_retries_past_a_pinned_user_page)
{
	struct kmm_cma *c = boot_area(BOOT64);
	uint64_t free0 = free_now(), base = base_pfn(c), pinned_pfn = ~0ULL;
	unsigned long n = 2048, len = n * PG, a, pinned_i = 0;
	unsigned long pinned0 = kmm_contig_fail_count(KMM_CONTIG_FAIL_PINNED);
	struct kt_blocks fill = { 0 };
	struct kmm_mm_struct *mm = new_mm();
	struct kmm_page *got[8] = { 0 }, *pinned;
	unsigned chunk, ngot = 0;
	struct model m;

	model_init(&m, c);
	fill_movable_until_cma(c, &fill);
	a = map_pop(mm, len);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t pfn = upfn(mm, a + i * PG);

		user_write(a + i * PG);
		if (in_area(c, pfn) && pfn < pinned_pfn) {
			pinned_pfn = pfn;
			pinned_i = i;
		}
	}
	kt_blocks_free_all(&fill);
	cr_assert_neq(pinned_pfn, ~0ULL, "no user page in the area");
	chunk = (unsigned)((pinned_pfn - base) / 512);
	cr_assert_lt(chunk, 7, "lowest user page in the last 512 of the area");
	pinned = kmm_pfn_to_page(pinned_pfn);
	kmm_get_page(pinned);	/* as get_user_pages() would */
	check("user page pinned");

	/* Chunks before the pin's come as they are (their users migrated). */
	for (unsigned i = 0; i < chunk; i++) {
		got[ngot] = kmm_cma_alloc(c, 512, 9, false);
		assert_got(c, got[ngot], 512, 9, "chunk before the pin");
		cr_assert_eq(kmm_page_to_pfn(got[ngot]), base + i * 512);
		model_set(&m, base + i * 512, 512, true);
		ngot++;
	}
	model_check(&m, "before the pin");
	/* The pin's chunk fails (pinned), the next one is had. */
	got[ngot] = kmm_cma_alloc(c, 512, 9, false);
	assert_got(c, got[ngot], 512, 9, "chunk past the pin");
	cr_assert_eq(kmm_page_to_pfn(got[ngot]), base + (chunk + 1) * 512, "got chunk %llu",
		     (unsigned long long)((kmm_page_to_pfn(got[ngot]) - base) / 512));
	cr_assert_gt(kmm_contig_fail_count(KMM_CONTIG_FAIL_PINNED), pinned0);
	model_set(&m, base + (chunk + 1) * 512, 512, true);
	ngot++;
	model_check(&m, "past the pin");
	/* The pinned page stayed where it was, with its bytes. */
	cr_assert_eq(upfn(mm, a + pinned_i * PG), pinned_pfn);
	cr_assert(user_ok(a + pinned_i * PG));
	cr_assert_eq(kmm_mm_validate(mm), 0);

	/* Unpinned, its chunk can be had: the user page moves. */
	kmm_put_page(pinned);
	got[ngot] = kmm_cma_alloc(c, 512, 9, false);
	assert_got(c, got[ngot], 512, 9, "the pin's chunk");
	cr_assert_eq(kmm_page_to_pfn(got[ngot]), base + chunk * 512);
	model_set(&m, base + chunk * 512, 512, true);
	ngot++;
	model_check(&m, "the pin's chunk");
	cr_assert_neq(upfn(mm, a + pinned_i * PG), pinned_pfn);
	for (unsigned long i = 0; i < n; i++)
		cr_assert(user_ok(a + i * PG), "user page %lu lost its bytes", i);
	cr_assert_eq(kmm_mm_validate(mm), 0);

	for (unsigned i = 0; i < ngot; i++) {
		cr_assert(kmm_cma_release(c, got[i], 512));
		model_set(&m, kmm_page_to_pfn(got[i]), 512, false);
		model_check(&m, "release");
	}
	kmm_mm_destroy(mm);
	assert_free(free0, "mm destroyed");
	kt_blocks_destroy(&fill);
	model_free(&m);
}

/* ---- runtime areas ------------------------------------------------------------------- */

Test(cma, declare_contiguous_order_per_bit)
{
	struct kmm_cma *boot = boot_area(BOOT64), *c = NULL;
	uint64_t free0 = free_now();
	long cma_free0 = free_cma();
	struct kmm_page *p, *q;
	struct model m;
	static char mi[8192];
	int r;

	r = kmm_cma_declare_contiguous(0, 8 * MB, 0, 0, 2, false, "test", &c);
	cr_assert_eq(r, 0, "declare = %d", r);
	cr_assert_not_null(c);
	cr_assert_neq(c, boot);
	cr_assert_eq(kmm_cma_area_count(), 2);
	cr_assert_eq(kmm_cma_area(1), c);
	cr_assert_str_eq(kmm_cma_get_name(c), "test");
	cr_assert_eq(area_pages(c), 2048);
	cr_assert_eq(stats(c).count, 2048);
	cr_assert_eq(stats(c).order_per_bit, 2);
	cr_assert_eq(stats(c).maxchunk, 2048);
	cr_assert_eq(base_pfn(c) % PB, 0);
	cr_assert(!in_area(boot, base_pfn(c)) && !in_area(boot, base_pfn(c) + 2047));
	for (uint64_t pfn = base_pfn(c); pfn < base_pfn(c) + 2048; pfn++) {
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_CMA);
		cr_assert(kmm_page_test(kmm_pfn_to_page(pfn), KMM_PG_cma));
	}
	/* The pages were free and are free (CMA) again. */
	cr_assert_eq(free_now(), free0);
	cr_assert_eq(free_cma(), cma_free0 + 2048);
	cr_assert_eq(kmm_machine.totalcma_pages, AREA_PAGES + 2048);
	kmm_report_meminfo(mi, sizeof(mi));
	cr_assert_eq(meminfo_kb(mi, "CmaTotal:"), 24576, "%s", mi);
	cr_assert_eq(meminfo_kb(mi, "CmaFree:"), 24576, "%s", mi);
	model_init(&m, c);
	cr_assert_eq(m.nbits, 512);
	model_check(&m, "declared");

	/* 3 pages use one bit of 4 pages. */
	p = kmm_cma_alloc(c, 3, 0, false);
	assert_got(c, p, 3, 2, "3 pages");	/* bit-aligned: order 2 */
	cr_assert_eq(kmm_page_to_pfn(p), base_pfn(c));
	cr_assert_eq(stats(c).used, 4);
	model_set(&m, kmm_page_to_pfn(p), 3, true);
	model_check(&m, "3 pages");
	cr_assert_eq(free_now(), free0 - 3, "the bit's 4th page stays free");
	/* 5 pages take two bits, the next ones. */
	q = kmm_cma_alloc(c, 5, 0, false);
	assert_got(c, q, 5, 2, "5 pages");
	cr_assert_eq(kmm_page_to_pfn(q), base_pfn(c) + 4);
	cr_assert_eq(stats(c).used, 12);
	model_set(&m, kmm_page_to_pfn(q), 5, true);
	model_check(&m, "5 pages");
	{
		char buf[16];

		kmm_cma_bitmap_text(c, buf, sizeof(buf));
		cr_assert_eq(strncmp(buf, "7 0 ", 4), 0, "%s", buf);
	}
	write_pages(p, 3, 1);
	write_pages(q, 5, 2);
	assert_pages(p, 3, 1, "3");
	assert_pages(q, 5, 2, "5");

	/* Order 4 is 4 bits here: the first free 16-aligned PFN is +16. */
	{
		struct kmm_page *r = kmm_cma_alloc(c, 4, 4, false);

		assert_got(c, r, 4, 4, "order 4 of order_per_bit 2");
		cr_assert_eq(kmm_page_to_pfn(r), base_pfn(c) + 16, "offset %llu",
			     (unsigned long long)(kmm_page_to_pfn(r) - base_pfn(c)));
		model_set(&m, kmm_page_to_pfn(r), 4, true);
		model_check(&m, "order 4");
		cr_assert(kmm_cma_release(c, r, 4));
		model_set(&m, kmm_page_to_pfn(r), 4, false);
		model_check(&m, "order 4 released");
	}

	/* More pages than were handed out (the rest of p's bit is free). */
	kmm_drain_all_pages(NULL);
	{
		struct kt_snap s0, s1;

		kt_snap_take(&s0);
		kt_log_clear();
		cr_assert_not(kmm_cma_release(c, p, 4), "release of a page never handed out");
		cr_assert_eq(kt_log_count("Bad page"), 0, "%s", kt_log_find("Bad page"));
		kmm_drain_all_pages(NULL);
		kt_snap_take(&s1);
		kt_snap_assert_same(&s0, &s1, "release of 4 for 3");
		model_check(&m, "release of 4 for 3");
		cr_assert_eq(kmm_page_ref_count(p), 1);
	}

	/* A release not on a bit boundary is refused. */
	cr_assert_not(kmm_cma_release(c, q + 1, 4));
	model_check(&m, "misaligned release");

	cr_assert(kmm_cma_release(c, p, 3));
	model_set(&m, kmm_page_to_pfn(p), 3, false);
	model_check(&m, "release 3");
	cr_assert(kmm_cma_release(c, q, 5));
	model_set(&m, kmm_page_to_pfn(q), 5, false);
	model_check(&m, "release 5");
	cr_assert_eq(stats(c).used, 0);
	cr_assert_eq(stats(c).alloc_pages_success, 12);
	cr_assert_eq(stats(c).release_pages_success, 12);
	/* The boot area was not touched. */
	cr_assert_eq(stats(boot).alloc_pages_success, 0);
	cr_assert_eq(stats(boot).used, 0);
	assert_free(free0, "released");
	model_free(&m);
}

Test(cma, declare_contiguous_fixed_base)
{
	struct kmm_cma *c = NULL, *d = NULL;
	uint64_t free0;
	struct kmm_page *p;
	struct model m;
	int r;

	kt_boot("mem=64M");
	free0 = free_now();
	/* 18 MiB: pfn 4608, a pageblock but not an order-10 boundary. */
	r = kmm_cma_declare_contiguous(18 * MB, 8 * MB, 0, 0, 0, true, NULL, &c);
	cr_assert_eq(r, 0, "declare = %d", r);
	cr_assert_eq(kmm_cma_get_base(c), 18 * MB);
	cr_assert_eq(kmm_cma_get_size(c), 8 * MB);
	cr_assert_str_eq(kmm_cma_get_name(c), "cma0");
	cr_assert_eq(kmm_cma_area_count(), 1);
	assert_free(free0, "declared");
	model_init(&m, c);

	/* Order 10 is the PFN's alignment, not the bit number's. */
	p = kmm_cma_alloc(c, 1, 10, false);
	assert_got(c, p, 1, 10, "order 10");
	cr_assert_eq(kmm_page_to_pfn(p), 5120, "pfn %#llx", (unsigned long long)kmm_page_to_pfn(p));
	model_set(&m, 5120, 1, true);
	model_check(&m, "order 10");
	cr_assert(kmm_cma_release(c, p, 1));
	model_set(&m, 5120, 1, false);
	model_check(&m, "released");

	/* A second one, fixed with a limit that fits, and base 0 + fixed is base 0. */
	r = kmm_cma_declare_contiguous(40 * MB, 2 * MB, 42 * MB, 2 * MB, 0, true, "second", &d);
	cr_assert_eq(r, 0, "declare = %d", r);
	cr_assert_eq(kmm_cma_get_base(d), 40 * MB);
	cr_assert_eq(kmm_cma_area_count(), 2);
	/* Over memory already in an area: busy. */
	{
		struct kmm_cma *e = NULL;
		struct kt_snap s0, s1;

		kmm_drain_all_pages(NULL);
		kt_snap_take(&s0);
		r = kmm_cma_declare_contiguous(20 * MB, 2 * MB, 0, 0, 0, true, "over", &e);
		cr_assert_eq(r, -KMM_EBUSY, "declare over an area = %d", r);
		cr_assert_null(e);
		kmm_drain_all_pages(NULL);
		kt_snap_take(&s1);
		kt_snap_assert_same(&s0, &s1, "declare over an area");
		cr_assert_eq(kmm_cma_area_count(), 2);
	}
	assert_free(free0, "two areas");
	model_free(&m);
}

Test(cma, declare_contiguous_refusals_change_nothing)
{
	struct kmm_cma *c;
	struct kt_snap s0, s1;
	struct {
		uint64_t base, size, limit, align;
		unsigned opb;
		bool fixed;
		int want;
		const char *what;
	} bad[] = {
		{ 0, 0, 0, 0, 0, false, -KMM_EINVAL, "size 0" },
		{ 0, 0, 0, 0, 0, true, -KMM_EINVAL, "size 0, fixed" },
		{ 0, 4 * MB, 0, 3 * MB, 0, false, -KMM_EINVAL, "alignment not a power of two" },
		{ 24 * MB, 4 * MB, 0, 6 * MB, 0, true, -KMM_EINVAL, "alignment not a power of two, fixed" },
		{ 1 * MB, 4 * MB, 0, 0, 0, true, -KMM_EINVAL, "fixed base not pageblock aligned" },
		{ 22 * MB, 4 * MB, 0, 8 * MB, 0, true, -KMM_EINVAL, "fixed base not aligned as asked" },
		{ 1ULL << 30, 4 * MB, 0, 0, 0, true, -KMM_EINVAL, "base past memory" },
		{ 62 * MB, 4 * MB, 0, 0, 0, true, -KMM_EINVAL, "range past memory" },
		{ 14 * MB, 4 * MB, 0, 0, 0, true, -KMM_EINVAL, "range across zones" },
		{ 24 * MB, 4 * MB, 26 * MB, 0, 0, true, -KMM_EINVAL, "range past the limit" },
		{ 0, 4 * MB, 0, 0, 11, false, -KMM_EINVAL, "order_per_bit past MAX_PAGE_ORDER" },
		{ 0, 2 * MB, 0, 0, 10, false, -KMM_EINVAL, "order_per_bit not dividing the size" },
		{ 0, 128 * MB, 0, 0, 0, false, -KMM_ENOMEM, "larger than memory" },
	};

	kt_boot(BOOT64);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		c = NULL;
		kmm_drain_all_pages(NULL);
		kt_snap_take(&s0);
		r = kmm_cma_declare_contiguous(bad[i].base, bad[i].size, bad[i].limit, bad[i].align,
					       bad[i].opb, bad[i].fixed, "bad", &c);
		cr_assert_eq(r, bad[i].want, "%s: %d, expected %d", bad[i].what, r, bad[i].want);
		cr_assert_null(c, "%s: an area came back", bad[i].what);
		cr_assert_eq(kmm_cma_area_count(), 1, "%s: area count", bad[i].what);
		kmm_drain_all_pages(NULL);
		kt_snap_take(&s1);
		kt_snap_assert_same(&s0, &s1, bad[i].what);
		check(bad[i].what);
	}
	/* No res_cma. */
	cr_assert_eq(kmm_cma_declare_contiguous(0, 4 * MB, 0, 0, 0, false, "x", NULL), -KMM_EINVAL);
	cr_assert_eq(kmm_cma_area_count(), 1);
	/* The limit is obeyed when placing anywhere. */
	c = NULL;
	cr_assert_eq(kmm_cma_declare_contiguous(0, 4 * MB, 30 * MB, 0, 0, false, "low", &c), 0);
	cr_assert_leq(kmm_cma_get_base(c) + kmm_cma_get_size(c), 30 * MB);
	cr_assert_eq(kmm_cma_get_base(c) % (2 * MB), 0);
	/* Alignment is obeyed when placing anywhere. */
	c = NULL;
	cr_assert_eq(kmm_cma_declare_contiguous(0, 2 * MB, 0, 8 * MB, 0, false, "al8", &c), 0);
	cr_assert_eq(kmm_cma_get_base(c) % (8 * MB), 0, "base %#llx",
		     (unsigned long long)kmm_cma_get_base(c));
	check("placed");
}

Test(cma, declare_contiguous_too_many_areas)
{
	struct kmm_cma *c;
	struct kt_snap s0, s1;
	uint64_t free0;

	kt_boot(BOOT64);
	free0 = free_now();
	for (unsigned i = 1; i < KMM_MAX_CMA_AREAS; i++) {
		c = NULL;
		cr_assert_eq(kmm_cma_declare_contiguous(0, 2 * MB, 0, 0, 0, false, NULL, &c), 0,
			     "area %u", i);
		cr_assert_eq(kmm_cma_area_count(), i + 1);
		cr_assert_eq(kmm_cma_area(i), c);
		check("area");
	}
	cr_assert_str_eq(kmm_cma_get_name(kmm_cma_area(3)), "cma3");
	assert_free(free0, "all areas");
	kt_snap_take(&s0);
	c = NULL;
	cr_assert_eq(kmm_cma_declare_contiguous(0, 2 * MB, 0, 0, 0, false, NULL, &c), -KMM_ENOSPC);
	cr_assert_null(c);
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s1);
	kt_snap_assert_same(&s0, &s1, "one too many");
	cr_assert_eq(kmm_cma_area_count(), KMM_MAX_CMA_AREAS);
	check("one too many");
	/* At a fixed base too: the range taken for it is given back. */
	c = NULL;
	cr_assert_eq(kmm_cma_declare_contiguous(2 * MB, 2 * MB, 0, 0, 0, true, NULL, &c),
		     -KMM_ENOSPC);
	cr_assert_null(c);
	cr_assert_neq(kmm_get_pfnblock_migratetype(512), KMM_MIGRATE_CMA);
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s1);
	kt_snap_assert_same(&s0, &s1, "one too many, fixed");
	/* And for init_reserved_mem: the caller keeps its pages. */
	cr_assert_eq(kmm_alloc_contig_range(1024, 1536, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL), 0);
	cr_assert_eq(kmm_cma_init_reserved_mem(4 * MB, 2 * MB, 0, NULL, &c), -KMM_ENOSPC);
	cr_assert_null(c);
	cr_assert_eq(free_now(), free0 - 512);
	cr_assert_neq(kmm_get_pfnblock_migratetype(1024), KMM_MIGRATE_CMA);
	kmm_free_contig_range(1024, 512);
	check("one too many, reserved");
	/* Every area works. */
	for (unsigned i = 0; i < KMM_MAX_CMA_AREAS; i++) {
		struct kmm_page *p = kmm_cma_alloc(kmm_cma_area(i), 512, 9, false);

		assert_got(kmm_cma_area(i), p, 512, 9, "each area");
		cr_assert(kmm_cma_release(kmm_cma_area(i), p, 512));
	}
	assert_free(free0, "each area");
}

Test(cma, init_reserved_mem)
{
	struct kmm_cma *c = NULL;
	struct kt_snap s0, s1;
	uint64_t free0, start = 24 * MB >> KMM_PAGE_SHIFT;
	long cma0;
	struct kmm_page *p;
	int r;

	kt_boot(BOOT64);
	free0 = free_now();
	cma0 = free_cma();

	/* Free pages are not the caller's. */
	kt_snap_take(&s0);
	r = kmm_cma_init_reserved_mem(24 * MB, 4 * MB, 0, "free", &c);
	cr_assert_eq(r, -KMM_EINVAL);
	cr_assert_null(c);
	/* Unaligned, zero size, no res_cma, bad order_per_bit. */
	cr_assert_eq(kmm_cma_init_reserved_mem(25 * MB, 4 * MB, 0, "u", &c), -KMM_EINVAL);
	cr_assert_eq(kmm_cma_init_reserved_mem(24 * MB, 3 * MB, 0, "u", &c), -KMM_EINVAL);
	cr_assert_eq(kmm_cma_init_reserved_mem(24 * MB, 0, 0, "u", &c), -KMM_EINVAL);
	cr_assert_eq(kmm_cma_init_reserved_mem(24 * MB, 4 * MB, 0, "u", NULL), -KMM_EINVAL);
	cr_assert_eq(kmm_cma_init_reserved_mem(24 * MB, 4 * MB, 11, "u", &c), -KMM_EINVAL);
	cr_assert_null(c);
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s1);
	kt_snap_assert_same(&s0, &s1, "init_reserved_mem on free pages");
	cr_assert_eq(kmm_cma_area_count(), 1);
	check("refused");

	/* Half owned: refused, the owned half stays the caller's. */
	r = kmm_alloc_contig_range(start, start + 512, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	cr_assert_eq(r, 0, "alloc_contig_range = %d", r);
	cr_assert_eq(free_now(), free0 - 512);
	r = kmm_cma_init_reserved_mem(24 * MB, 4 * MB, 0, "half", &c);
	cr_assert_eq(r, -KMM_EINVAL);
	cr_assert_null(c);
	cr_assert_eq(kmm_cma_area_count(), 1);
	cr_assert_eq(free_now(), free0 - 512);
	for (uint64_t pfn = start; pfn < start + 512; pfn++)
		cr_assert_eq(kmm_page_ref_count(kmm_pfn_to_page(pfn)), 1);
	cr_assert_neq(kmm_get_pfnblock_migratetype(start), KMM_MIGRATE_CMA);
	check("half owned");

	/* Owned: the pages become free CMA pages of a new area. */
	r = kmm_alloc_contig_range(start + 512, start + 1024, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
	cr_assert_eq(r, 0, "alloc_contig_range = %d", r);
	cr_assert_eq(free_now(), free0 - 1024);
	r = kmm_cma_init_reserved_mem(24 * MB, 4 * MB, 1, "owned", &c);
	cr_assert_eq(r, 0, "init_reserved_mem = %d", r);
	cr_assert_not_null(c);
	cr_assert_str_eq(kmm_cma_get_name(c), "owned");
	cr_assert_eq(kmm_cma_get_base(c), 24 * MB);
	cr_assert_eq(kmm_cma_area_count(), 2);
	cr_assert_eq(stats(c).order_per_bit, 1);
	cr_assert_eq(stats(c).maxchunk, 1024);
	for (uint64_t pfn = start; pfn < start + 1024; pfn++) {
		struct kmm_page *pg = kmm_pfn_to_page(pfn);

		cr_assert(kmm_page_test(pg, KMM_PG_cma));
		cr_assert_eq(kmm_get_pfnblock_migratetype(pfn), KMM_MIGRATE_CMA);
		cr_assert_eq(kmm_page_ref_count(pg), 0);
	}
	assert_free(free0, "activated");
	cr_assert_eq(free_cma(), cma0 + 1024);

	/* Usable. */
	p = kmm_cma_alloc(c, 1024, 9, false);
	assert_got(c, p, 1024, 9, "whole new area");
	cr_assert_eq(kmm_page_to_pfn(p), start);
	write_pages(p, 1024, 5);
	assert_pages(p, 1024, 5, "new area");
	cr_assert(kmm_cma_release(c, p, 1024));
	assert_free(free0, "new area released");
}

/* ---- cma_release refusals ---------------------------------------------------------- */

Test(cma, release_refusals_change_nothing)
{
	struct kmm_cma *c = boot_area(BOOT64), *d = NULL;
	uint64_t base = base_pfn(c);
	struct kmm_page *p, *q, *k, *other, *foreign;
	struct kt_snap s0, s1;
	struct model m;
	unsigned long rel0;

	cr_assert_eq(kmm_cma_declare_contiguous(0, 2 * MB, 0, 0, 0, false, "d", &d), 0);
	model_init(&m, c);
	p = kmm_cma_alloc(c, 8, 0, false);		/* [0, 8) */
	q = kmm_cma_alloc(c, 16, 4, false);		/* [16, 32) */
	assert_got(c, p, 8, 0, "p");
	assert_got(c, q, 16, 4, "q");
	cr_assert_eq(kmm_page_to_pfn(q), base + 16);
	other = kmm_cma_alloc(d, 4, 0, false);
	assert_got(d, other, 4, 0, "other");
	k = kmm_alloc_pages(KMM_GFP_KERNEL, 0);
	cr_assert_not_null(k);
	/* Allocated inside the area, but not by cma_alloc(): not in the bitmap. */
	cr_assert_eq(kmm_alloc_contig_range(base + 200, base + 201, KMM_ACR_FLAGS_CMA, KMM_GFP_KERNEL), 0);
	foreign = kmm_pfn_to_page(base + 200);
	model_set(&m, base, 8, true);
	model_set(&m, base + 16, 16, true);
	model_check(&m, "setup");
	rel0 = stats(c).release_pages_success;

	kmm_drain_all_pages(NULL);
	kt_snap_take(&s0);
	cr_assert_not(kmm_cma_release(NULL, p, 8), "NULL cma");
	cr_assert_not(kmm_cma_release(c, NULL, 8), "NULL pages");
	cr_assert_not(kmm_cma_release(c, p, 0), "count 0");
	cr_assert_not(kmm_cma_release(c, k, 1), "a kernel page outside the area");
	cr_assert_not(kmm_cma_release(c, other, 4), "another area's pages");
	cr_assert_not(kmm_cma_release(d, p, 8), "pages of c given to d");
	cr_assert_not(kmm_cma_release(c, kmm_pfn_to_page(base + AREA_PAGES - 2), 4),
		      "running past the end");
	cr_assert_not(kmm_cma_release(c, kmm_pfn_to_page(base - 1), 2), "starting before");
	cr_assert_not(kmm_cma_release(c, kmm_pfn_to_page(base + 8), 8), "never allocated");
	cr_assert_not(kmm_cma_release(c, p, 9), "one page past the allocation");
	cr_assert_not(kmm_cma_release(c, kmm_pfn_to_page(base + 4), 16), "spanning a hole");
	cr_assert_not(kmm_cma_release(c, kmm_pfn_to_page(base + 100), 1), "free page in the area");
	cr_assert_not(kmm_cma_release(c, foreign, 1), "a page of the area cma_alloc never gave");
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s1);
	kt_snap_assert_same(&s0, &s1, "refused releases");
	model_check(&m, "refused releases");
	cr_assert_eq(stats(c).release_pages_success, rel0);
	for (unsigned long i = 0; i < 8; i++)
		cr_assert_eq(kmm_page_ref_count(p + i), 1);
	cr_assert_eq(kmm_page_ref_count(k), 1);

	/* Release, then a double release. */
	cr_assert(kmm_cma_release(c, p, 8));
	model_set(&m, base, 8, false);
	model_check(&m, "released p");
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s0);
	kt_log_clear();
	cr_assert_not(kmm_cma_release(c, p, 8), "double release");
	cr_assert_eq(kt_log_count("BUG"), 0, "%s", kt_log_find("BUG"));
	kmm_drain_all_pages(NULL);
	kt_snap_take(&s1);
	kt_snap_assert_same(&s0, &s1, "double release");
	model_check(&m, "double release");
	cr_assert_eq(stats(c).release_pages_success, rel0 + 8);

	/* Part of an allocation may be released (the kernel allows it). */
	cr_assert(kmm_cma_release(c, q + 8, 8));
	model_set(&m, base + 24, 8, false);
	model_check(&m, "half of q");
	cr_assert(kmm_cma_release(c, q, 8));
	model_set(&m, base + 16, 8, false);
	model_check(&m, "rest of q");
	cr_assert(kmm_cma_release(d, other, 4));
	kmm___free_pages(k, 0);
	kmm___free_pages(foreign, 0);
	check("end");
	model_free(&m);
}

/* ---- threads --------------------------------------------------------------------------- */

#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

struct cma_worker {
	pthread_t th;
	int id, errors;
	struct kmm_cma *c;
	char msg[256];
};

static void *cma_worker_main(void *arg)
{
	struct cma_worker *w = arg;

	if (kmm_bind_cpu(w->id % (int)kmm_machine.nr_cpus))
		wfail(w, "kmm_bind_cpu(%d) failed", w->id % (int)kmm_machine.nr_cpus);
	for (int i = 0; i < 6000 && !w->errors; i++) {
		unsigned long count = 1 + (unsigned long)((i + w->id) % 3);
		struct kmm_page *p = kmm_cma_alloc(w->c, count, 0, true);
		uint64_t tag = ((uint64_t)w->id << 32) | (uint64_t)i;

		if (!p) {
			wfail(w, "thread %d round %d: cma_alloc(%lu) failed with at most 12 pages in use",
			      w->id, i, count);
			break;
		}
		write_pages(p, count, tag);
		for (unsigned long k = 0; k < count; k++)
			if (!kt_pattern_ok(p + k, 0, tag + k))
				wfail(w, "thread %d round %d: page %lu lost its bytes", w->id, i, k);
		if (!kmm_cma_release(w->c, p, count))
			wfail(w, "thread %d round %d: release refused", w->id, i);
	}
	return NULL;
}

/*
 * Threads allocating small runs of one pageblock at once: each run's
 * alloc_contig_range() isolates the whole pageblock, so unserialized
 * they would find it isolated by one another, skip free ranges and fail
 * in an area this small (the kernel serializes them: cma->alloc_mutex).
 */
Test(cma, concurrent_allocs_in_one_pageblock)
{
	struct cma_worker w[4];
	struct kmm_cma *c = NULL;
	uint64_t free0;

	kt_boot("mem=64M nr_cpus=4");
	free0 = free_now();
	cr_assert_eq(kmm_cma_declare_contiguous(0, 2 * MB, 0, 0, 0, false, "small", &c), 0);
	check("declared");
	for (int i = 0; i < 4; i++) {
		w[i] = (struct cma_worker){ .id = i, .c = c };
		cr_assert_eq(pthread_create(&w[i].th, NULL, cma_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_join(w[i].th, NULL), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(w[i].errors, 0, "%d errors, first: %s", w[i].errors, w[i].msg);
	cr_assert_eq(stats(c).alloc_pages_fail, 0);
	cr_assert_eq(stats(c).used, 0);
	cr_assert_eq(stats(c).alloc_pages_success, stats(c).release_pages_success);
	assert_free(free0, "threads done");
}

/* ---- shadow mode --------------------------------------------------------------------- */

Test(cma, shadow_mode)
{
	struct kmm_cma *c = boot_area("mem=64M cma=16M kmm.mode=shadow");
	uint64_t free0 = free_now(), base = base_pfn(c);
	struct kmm_page *p, *q, *pin;
	struct model m;

	cr_assert(is_shadow());
	cr_assert_str_eq(kmm_cma_get_name(c), "reserved");
	cr_assert_eq(area_pages(c), AREA_PAGES);
	model_init(&m, c);
	p = kmm_cma_alloc(c, 7, 4, false);
	assert_got(c, p, 7, 4, "shadow 7");
	cr_assert_eq(kmm_page_to_pfn(p), base);
	model_set(&m, base, 7, true);
	model_check(&m, "shadow 7");
	q = kmm_cma_alloc(c, AREA_PAGES - 16, 4, false);
	assert_got(c, q, AREA_PAGES - 16, 4, "shadow rest");
	cr_assert_eq(kmm_page_to_pfn(q), base + 16);
	model_set(&m, base + 16, AREA_PAGES - 16, true);
	model_check(&m, "shadow rest");
	cr_assert_null(kmm_cma_alloc(c, 16, 0, true));
	cr_assert(kmm_cma_release(c, p, 7));
	cr_assert_not(kmm_cma_release(c, p, 7));
	cr_assert(kmm_cma_release(c, q, AREA_PAGES - 16));
	model_set(&m, base, AREA_PAGES, false);
	model_check(&m, "shadow released");
	assert_free(free0, "shadow released");

	/* Retry past a pinned page works too. */
	pin = pin_pfn(base + 600);
	p = kmm_cma_alloc(c, 512, 9, false);
	assert_got(c, p, 512, 9, "shadow past the pin");
	cr_assert_eq(kmm_page_to_pfn(p), base);
	q = kmm_cma_alloc(c, 512, 9, false);
	assert_got(c, q, 512, 9, "shadow past the pin");
	cr_assert_eq(kmm_page_to_pfn(q), base + 1024);
	model_set(&m, base, 512, true);
	model_set(&m, base + 1024, 512, true);
	model_check(&m, "shadow past the pin");
	cr_assert(kmm_cma_release(c, p, 512));
	cr_assert(kmm_cma_release(c, q, 512));
	kmm___free_pages(pin, 0);
	model_set(&m, base, AREA_PAGES, false);
	model_check(&m, "shadow end");
	assert_free(free0, "shadow end");
	model_free(&m);
}

Test(cma, shadow_mode_user_pages)
{
	struct kmm_cma *c = boot_area("mem=64M cma=16M kmm.mode=shadow");
	uint64_t free0 = free_now();
	unsigned long n = 2048, a;
	struct kt_blocks fill = { 0 };
	struct kmm_mm_struct *mm = new_mm();
	struct kmm_page *p;

	fill_movable_until_cma(c, &fill);
	a = map_pop(mm, n * PG);
	cr_assert_gt(user_in_area(c, mm, a, n), n / 2);
	kt_blocks_free_all(&fill);
	p = kmm_cma_alloc(c, AREA_PAGES, 0, false);
	assert_got(c, p, AREA_PAGES, 0, "shadow whole area");
	cr_assert_eq(user_in_area(c, mm, a, n), 0);
	cr_assert_eq(kmm_mm_validate(mm), 0);
	check("shadow whole area");
	cr_assert(kmm_cma_release(c, p, AREA_PAGES));
	kmm_mm_destroy(mm);
	assert_free(free0, "shadow mm destroyed");
	kt_blocks_destroy(&fill);
}

/* ---- <linux/cma.h> ------------------------------------------------------------------- */

#include <linux/cma.h>	/* #define cma kmm_cma */

static void linux_names_body(void)
{
	struct cma *area = NULL;	/* struct kmm_cma */
	struct kmm_page *p;
	uint64_t free0;

	kt_boot("mem=64M");
	free0 = free_now();
	cr_assert_eq(cma_declare_contiguous(0, 4 * MB, 0, 0, 0, false, "linux", &area), 0);
	cr_assert_str_eq(cma_get_name(area), "linux");
	cr_assert_eq(cma_get_size(area), 4 * MB);
	cr_assert_eq(cma_get_base(area) % (2 * MB), 0);
	p = cma_alloc(area, 16, 4, false);
	cr_assert_not_null(p);
	cr_assert_eq(kmm_page_to_pfn(p) << KMM_PAGE_SHIFT, cma_get_base(area));
	cr_assert(cma_release(area, p, 16));
	cr_assert_not(cma_release(area, p, 16));
	assert_free(free0, "linux names");
	area = NULL;
	cr_assert_eq(cma_init_reserved_mem(0, 0, 0, "x", &area), -KMM_EINVAL);
	cr_assert_null(area);
}

#undef cma	/* the suite's name */

Test(cma, linux_names)
{
	linux_names_body();
}
