/* SPDX-License-Identifier: MIT */
/*
 * cma.c - the Contiguous Memory Allocator, after Linux 6.18 mm/cma.c
 * (behaviour re-implemented, no code taken).
 *
 * An area is [base_pfn, base_pfn + count): MIGRATE_CMA pageblocks whose
 * free pages the buddy allocator lends to movable allocations.  Its
 * bitmap has one bit per 2^order_per_bit pages; a set bit means the pages
 * belong to a cma_alloc() caller.
 *
 * cma_alloc(count, align)
 *   bits  = count rounded up to whole bits; mask = the alignment in bits,
 *           offset so that the PFN (not the bit number) is aligned
 *   loop: under cma->lock find the first clear run of bits from `start`
 *         at that alignment, set it, drop the lock;
 *         under cma->alloc_mutex,
 *         alloc_contig_range(pfn, pfn + count, ACR_FLAGS_CMA):
 *           0      done;
 *           -EBUSY clear the run again, start past it, loop;
 *           other  clear the run, fail.
 *   Each loop's failure is logged at debug level; the final failure once.
 *
 * Two runs of one area may share a pageblock, and alloc_contig_range()
 * isolates whole pageblocks: run concurrently, the second would find the
 * pageblock "isolated by someone else" and skip past ranges that are in
 * fact free (failing outright in a small area).  So, as the kernel's
 * cma->alloc_mutex does, one alloc_contig_range() per area at a time.
 * (Areas are pageblock aligned, so different areas never share one.)
 *
 * Lock order
 * ----------
 *   cma->alloc_mutex (held across alloc_contig_range)
 *     mm_list_lock, mmap_lock, zone and pcp locks (contig.c)
 *   cma->lock (a spinlock; never held across alloc_contig_range)
 *     nothing
 */
#include <kmm/boot.h>
#include <kmm/cma.h>
#include <kmm/lib.h>
#include <kmm/migrate.h>
#include <kmm/page_alloc.h>

struct kmm_cma {
	uint64_t base_pfn;
	unsigned long count;		/* pages */
	unsigned order_per_bit;
	unsigned long nbits;
	unsigned long *bitmap;		/* cma->lock */
	unsigned long used;		/* pages marked; cma->lock */
	kmm_port_spinlock_t lock;	/* cma->lock */
	kmm_port_lock_t alloc_mutex;	/* one alloc_contig_range() at a time */
	char name[32];
	atomic_ulong alloc_pages_success, alloc_pages_fail, release_pages_success;
};

static struct kmm_cma areas[KMM_MAX_CMA_AREAS];
static unsigned nr_areas;
static kmm_port_lock_t areas_lock;	/* cma_mutex: adding an area */
static bool ready;

#define BPL (8 * sizeof(unsigned long))

static bool bit_test(const unsigned long *m, unsigned long i)
{
	return (m[i / BPL] >> (i % BPL)) & 1;
}

static void bits_set(unsigned long *m, unsigned long i, unsigned long n, bool v)
{
	for (; n; n--, i++) {
		if (v)
			m[i / BPL] |= 1UL << (i % BPL);
		else
			m[i / BPL] &= ~(1UL << (i % BPL));
	}
}

/* bitmap_find_next_zero_area_off(): first i >= start, (i + off) & mask == 0. */
static unsigned long find_zero_area(const unsigned long *m, unsigned long nbits,
				    unsigned long start, unsigned long n, unsigned long mask,
				    unsigned long off)
{
	unsigned long i = start, k;

	for (;;) {
		i = ((i + off + mask) & ~mask) - off;
		if (i + n > nbits || i + n < i)
			return nbits;
		for (k = 0; k < n && !bit_test(m, i + k); k++)
			;
		if (k == n)
			return i;
		i += k + 1;
	}
}

static int add_area(uint64_t base_pfn, unsigned long count, unsigned order_per_bit,
		    const char *name, struct kmm_cma **res)
{
	struct kmm_cma *c;
	unsigned long words;

	if (nr_areas >= KMM_MAX_CMA_AREAS)
		return -KMM_ENOSPC;
	c = &areas[nr_areas];
	kmm_memset(c, 0, sizeof(*c));
	c->base_pfn = base_pfn;
	c->count = count;
	c->order_per_bit = order_per_bit;
	c->nbits = count >> order_per_bit;
	words = (c->nbits + BPL - 1) / BPL;
	c->bitmap = kmm_port_meta_alloc(words * sizeof(unsigned long));
	if (!c->bitmap)
		return -KMM_ENOMEM;
	kmm_memset(c->bitmap, 0, words * sizeof(unsigned long));
	kmm_port_spin_init(&c->lock);
	kmm_port_lock_init(&c->alloc_mutex);
	if (name && *name)
		kmm_scnprintf(c->name, sizeof(c->name), "%s", name);
	else
		kmm_scnprintf(c->name, sizeof(c->name), "cma%u", nr_areas);
	nr_areas++;
	if (res)
		*res = c;
	return 0;
}

int kmm__cma_init(void)
{
	unsigned i;
	int ret;

	nr_areas = 0;
	kmm_port_lock_init(&areas_lock);
	ready = true;
	for (i = 0; i < kmm_machine.nr_cma_areas; i++) {
		const struct kmm_cma_reservation *r = &kmm_machine.cma_reserved[i];

		ret = add_area(r->base_pfn, (unsigned long)r->count, 0, r->name, NULL);
		if (ret) {
			kmm_pr_err("cma: no memory for the bitmap of area %s", r->name);
			kmm__cma_fini();
			return ret;
		}
	}
	return 0;
}

void kmm__cma_fini(void)
{
	unsigned i;

	if (!ready)
		return;
	for (i = 0; i < nr_areas; i++) {
		kmm_port_meta_free(areas[i].bitmap,
				   ((areas[i].nbits + BPL - 1) / BPL) * sizeof(unsigned long));
		kmm_port_spin_destroy(&areas[i].lock);
		kmm_port_lock_destroy(&areas[i].alloc_mutex);
	}
	nr_areas = 0;
	kmm_port_lock_destroy(&areas_lock);
	ready = false;
}

/* @cma is one of the areas (in bytes: cma - areas assumes an element). */
static bool is_area(const struct kmm_cma *cma)
{
	return cma >= areas && cma < areas + nr_areas &&
	       ((uintptr_t)cma - (uintptr_t)areas) % sizeof(*cma) == 0;
}

static bool valid_order_per_bit(uint64_t count, unsigned order_per_bit)
{
	return order_per_bit <= KMM_MAX_PAGE_ORDER && !(count & ((1ULL << order_per_bit) - 1));
}

int kmm_cma_init_reserved_mem(uint64_t base, uint64_t size, unsigned order_per_bit,
			      const char *name, struct kmm_cma **res_cma)
{
	uint64_t pb_bytes = KMM_PAGEBLOCK_NR_PAGES << KMM_PAGE_SHIFT;
	uint64_t start = base >> KMM_PAGE_SHIFT, count = size >> KMM_PAGE_SHIFT;
	int ret;

	if (!ready || !res_cma)
		return -KMM_EINVAL;
	if (!size || (base | size) & (pb_bytes - 1) || !valid_order_per_bit(count, order_per_bit)) {
		kmm_pr_err("cma: init_reserved_mem(%#llx, %#llx): base and size must be pageblock aligned, order_per_bit %u must divide it",
			   (unsigned long long)base, (unsigned long long)size, order_per_bit);
		return -KMM_EINVAL;
	}
	kmm_port_lock(&areas_lock);
	if (nr_areas >= KMM_MAX_CMA_AREAS) {
		kmm_port_unlock(&areas_lock);
		kmm_pr_err("cma: too many areas (%d)", KMM_MAX_CMA_AREAS);
		return -KMM_ENOSPC;
	}
	/* The bitmap first: once activated, the pages are no longer the caller's. */
	ret = add_area(start, (unsigned long)count, order_per_bit, name, res_cma);
	if (ret) {
		kmm_port_unlock(&areas_lock);
		kmm_pr_err("cma: no memory for the bitmap of %s", name ? name : "(unnamed)");
		return ret;
	}
	ret = kmm__cma_activate_range(start, count);
	if (ret) {
		struct kmm_cma *c = &areas[--nr_areas];

		kmm_port_meta_free(c->bitmap, ((c->nbits + BPL - 1) / BPL) * sizeof(unsigned long));
		kmm_port_spin_destroy(&c->lock);
		kmm_port_lock_destroy(&c->alloc_mutex);
		*res_cma = NULL;
		kmm_port_unlock(&areas_lock);
		kmm_pr_err("cma: init_reserved_mem(%#llx, %#llx): not memory the caller owns in one zone",
			   (unsigned long long)base, (unsigned long long)size);
		return ret;
	}
	kmm_port_unlock(&areas_lock);
	return 0;
}

int kmm_cma_declare_contiguous(uint64_t base, uint64_t size, uint64_t limit,
			       uint64_t alignment, unsigned order_per_bit, bool fixed,
			       const char *name, struct kmm_cma **res_cma)
{
	uint64_t pb_bytes = KMM_PAGEBLOCK_NR_PAGES << KMM_PAGE_SHIFT;
	uint64_t count, pfn, align_pages, hi;
	int ret;

	if (!ready || !res_cma || !size || (alignment & (alignment - 1)))
		return -KMM_EINVAL;
	if (alignment < pb_bytes)
		alignment = pb_bytes;
	size = KMM_ALIGN_UP(size, pb_bytes);
	count = size >> KMM_PAGE_SHIFT;
	if (!valid_order_per_bit(count, order_per_bit))
		return -KMM_EINVAL;
	if (fixed || base) {
		if (base & (alignment - 1))
			return -KMM_EINVAL;
		if (limit && base + size > limit)
			return -KMM_EINVAL;
		ret = kmm_alloc_contig_range(base >> KMM_PAGE_SHIFT, (base + size) >> KMM_PAGE_SHIFT,
					     KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL);
		if (ret)
			return ret;
		ret = kmm_cma_init_reserved_mem(base, size, order_per_bit, name, res_cma);
		if (ret)
			kmm_free_contig_range(base >> KMM_PAGE_SHIFT, count);
		return ret;
	}
	/* Highest fit below @limit, as memblock_alloc_range_nid() top-down. */
	align_pages = alignment >> KMM_PAGE_SHIFT;
	hi = kmm_machine.max_pfn;
	if (limit && (limit >> KMM_PAGE_SHIFT) < hi)
		hi = limit >> KMM_PAGE_SHIFT;
	if (hi < count)
		return -KMM_ENOMEM;
	for (pfn = KMM_ALIGN_DOWN(hi - count, align_pages);; pfn -= align_pages) {
		ret = kmm_alloc_contig_range(pfn, pfn + count, KMM_ACR_FLAGS_NONE,
					     KMM_GFP_KERNEL | KMM___GFP_NOWARN);
		if (!ret) {
			ret = kmm_cma_init_reserved_mem(pfn << KMM_PAGE_SHIFT, size, order_per_bit,
							name, res_cma);
			if (ret)
				kmm_free_contig_range(pfn, count);
			return ret;
		}
		if (pfn < align_pages)
			break;
	}
	kmm_pr_err("cma: failed to reserve %llu MiB", (unsigned long long)(size >> 20));
	return -KMM_ENOMEM;
}

struct kmm_page *kmm_cma_alloc(struct kmm_cma *cma, unsigned long count, unsigned align,
			       bool no_warn)
{
	unsigned long mask, off, bits, start = 0, bitno;
	int ret = -KMM_ENOMEM;

	if (!ready || !cma || !count || !is_area(cma))
		return NULL;
	if (align > KMM_MAX_PAGE_ORDER)
		align = KMM_MAX_PAGE_ORDER;
	/* cma_bitmap_aligned_mask() / _offset() / pages_to_bits() */
	mask = align <= cma->order_per_bit ? 0 : (1UL << (align - cma->order_per_bit)) - 1;
	off = (cma->base_pfn >> cma->order_per_bit) & mask;	/* (bitno + off) & mask == 0 */
	bits = (count + (1UL << cma->order_per_bit) - 1) >> cma->order_per_bit;
	if (bits > cma->nbits)
		goto fail;
	for (;;) {
		unsigned long pfn;

		kmm_port_spin_lock(&cma->lock);
		bitno = find_zero_area(cma->bitmap, cma->nbits, start, bits, mask, off);
		if (bitno >= cma->nbits) {
			kmm_port_spin_unlock(&cma->lock);
			break;
		}
		bits_set(cma->bitmap, bitno, bits, true);
		cma->used += bits << cma->order_per_bit;
		kmm_port_spin_unlock(&cma->lock);

		pfn = cma->base_pfn + (bitno << cma->order_per_bit);
		kmm_port_lock(&cma->alloc_mutex);
		ret = kmm_alloc_contig_range(pfn, pfn + count, KMM_ACR_FLAGS_CMA,
					     KMM_GFP_KERNEL | KMM___GFP_NOWARN);
		kmm_port_unlock(&cma->alloc_mutex);
		if (!ret) {
			atomic_fetch_add(&cma->alloc_pages_success, count);
			return kmm_pfn_to_page(pfn);
		}
		kmm_port_spin_lock(&cma->lock);
		bits_set(cma->bitmap, bitno, bits, false);
		cma->used -= bits << cma->order_per_bit;
		kmm_port_spin_unlock(&cma->lock);
		if (ret != -KMM_EBUSY)
			break;
		kmm_pr_debug("cma: %s: pfn %#lx+%lu is busy, trying past it", cma->name, pfn,
			     count);
		start = bitno + mask + 1;	/* past the busy run */
	}
fail:
	atomic_fetch_add(&cma->alloc_pages_fail, count);
	if (!no_warn) {
		struct kmm_cma_stats st;

		kmm_cma_get_stats(cma, &st);
		kmm_pr_err("cma: %s: alloc failed, req-size: %lu pages, ret: %d; total %lu, used %lu, largest free run %lu",
			   cma->name, count, ret, st.count, st.used, st.maxchunk);
	}
	return NULL;
}

bool kmm_cma_release(struct kmm_cma *cma, const struct kmm_page *pages, unsigned long count)
{
	uint64_t pfn;
	unsigned long bitno, bits, i;

	if (!ready || !cma || !pages || !is_area(cma))
		return false;
	if (pages < kmm_machine.mem_map || pages >= kmm_machine.mem_map + kmm_machine.max_pfn)
		return false;
	/* In bytes: page - mem_map assumes a whole number of struct pages. */
	if (((uintptr_t)pages - (uintptr_t)kmm_machine.mem_map) % sizeof(*pages)) {
		kmm_pr_warn("cma: %s: release of %p: not a struct page", cma->name, (const void *)pages);
		return false;
	}
	pfn = kmm_page_to_pfn(pages);
	if (pfn < cma->base_pfn || pfn + count > cma->base_pfn + cma->count || !count ||
	    ((pfn - cma->base_pfn) & ((1UL << cma->order_per_bit) - 1))) {
		kmm_pr_warn("cma: %s: release of pfn %#llx+%lu: not inside the area",
			    cma->name, (unsigned long long)pfn, count);
		return false;
	}
	bitno = (unsigned long)(pfn - cma->base_pfn) >> cma->order_per_bit;
	bits = (count + (1UL << cma->order_per_bit) - 1) >> cma->order_per_bit;
	kmm_port_spin_lock(&cma->lock);
	for (i = 0; i < bits; i++) {
		if (!bit_test(cma->bitmap, bitno + i)) {
			kmm_port_spin_unlock(&cma->lock);
			kmm_pr_warn("cma: %s: release of pfn %#llx+%lu: not allocated",
				    cma->name, (unsigned long long)pfn, count);
			return false;
		}
	}
	/*
	 * With order_per_bit > 0 a set bit covers pages that were never
	 * handed out (cma_alloc(3) takes 3 of a bit's 4): each page must
	 * be one cma_alloc() gave (an order-0 page with a reference), or
	 * free_contig_range() would free a free page.
	 */
	for (i = 0; i < count; i++) {
		const struct kmm_page *p = pages + i;

		if (kmm_page_ref_count(p) <= 0 ||
		    (kmm_page_flags(p) & ((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp)))) {
			kmm_port_spin_unlock(&cma->lock);
			kmm_pr_warn("cma: %s: release of pfn %#llx+%lu: pfn %#llx is not allocated",
				    cma->name, (unsigned long long)pfn, count,
				    (unsigned long long)(pfn + i));
			return false;
		}
	}
	kmm_port_spin_unlock(&cma->lock);
	kmm_free_contig_range((unsigned long)pfn, count);
	kmm_port_spin_lock(&cma->lock);
	bits_set(cma->bitmap, bitno, bits, false);
	cma->used -= bits << cma->order_per_bit;
	kmm_port_spin_unlock(&cma->lock);
	atomic_fetch_add(&cma->release_pages_success, count);
	return true;
}

void kmm_cma_get_stats(struct kmm_cma *cma, struct kmm_cma_stats *st)
{
	unsigned long i, run = 0, best = 0;

	kmm_memset(st, 0, sizeof(*st));
	if (!cma)
		return;
	kmm_port_spin_lock(&cma->lock);
	for (i = 0; i < cma->nbits; i++) {
		run = bit_test(cma->bitmap, i) ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	st->used = cma->used;
	kmm_port_spin_unlock(&cma->lock);
	st->base_pfn = cma->base_pfn;
	st->count = cma->count;
	st->maxchunk = best << cma->order_per_bit;
	st->order_per_bit = cma->order_per_bit;
	st->alloc_pages_success = atomic_load(&cma->alloc_pages_success);
	st->alloc_pages_fail = atomic_load(&cma->alloc_pages_fail);
	st->release_pages_success = atomic_load(&cma->release_pages_success);
}

const char *kmm_cma_get_name(const struct kmm_cma *cma)
{
	return cma ? cma->name : "";
}

uint64_t kmm_cma_get_base(const struct kmm_cma *cma)
{
	return cma ? cma->base_pfn << KMM_PAGE_SHIFT : 0;
}

unsigned long kmm_cma_get_size(const struct kmm_cma *cma)
{
	return cma ? cma->count << KMM_PAGE_SHIFT : 0;
}

int kmm_cma_bitmap_text(struct kmm_cma *cma, char *buf, size_t size)
{
	unsigned long words32, w;
	int n = 0;

	if (!buf || !size)
		return 0;
	buf[0] = 0;
	if (!cma)
		return 0;
	words32 = (cma->nbits + 31) / 32;
	kmm_port_spin_lock(&cma->lock);
	for (w = 0; w < words32; w++) {
		uint32_t v = 0;

		for (unsigned b = 0; b < 32 && w * 32 + b < cma->nbits; b++)
			v |= (uint32_t)bit_test(cma->bitmap, w * 32 + b) << b;
		n += kmm_scnprintf(buf + n, size - (size_t)n, "%s%u", w ? " " : "", v);
	}
	n += kmm_scnprintf(buf + n, size - (size_t)n, "\n");
	kmm_port_spin_unlock(&cma->lock);
	return n;
}

struct kmm_cma *kmm_cma_area(unsigned i)
{
	return ready && i < nr_areas ? &areas[i] : NULL;
}

unsigned kmm_cma_area_count(void)
{
	return ready ? nr_areas : 0;
}

int kmm_cma_validate(void)
{
	unsigned a;

	for (a = 0; a < kmm_cma_area_count(); a++) {
		struct kmm_cma *c = &areas[a];
		unsigned long marked = 0, i;
		uint64_t pfn;

		kmm_port_spin_lock(&c->lock);
		for (i = 0; i < c->nbits; i++) {
			if (!bit_test(c->bitmap, i))
				continue;
			marked++;
			/* Each marked bit starts with a page some caller holds. */
			pfn = c->base_pfn + (i << c->order_per_bit);
			if ((kmm_page_flags(kmm_pfn_to_page(pfn)) &
			     ((1ULL << KMM_PG_buddy) | (1ULL << KMM_PG_pcp))) ||
			    kmm_page_ref_count(kmm_pfn_to_page(pfn)) <= 0) {
				kmm_port_spin_unlock(&c->lock);
				kmm_pr_err("cma: %s: pfn %#llx marked allocated but free",
					   c->name, (unsigned long long)pfn);
				return -KMM_EINVAL;
			}
		}
		if (marked << c->order_per_bit != c->used) {
			kmm_port_spin_unlock(&c->lock);
			kmm_pr_err("cma: %s: %lu pages marked, used says %lu", c->name,
				   marked << c->order_per_bit, c->used);
			return -KMM_EINVAL;
		}
		kmm_port_spin_unlock(&c->lock);
		for (pfn = c->base_pfn; pfn < c->base_pfn + c->count; pfn++) {
			struct kmm_page *p = kmm_pfn_to_page(pfn);

			if (!kmm_page_test(p, KMM_PG_cma) ||
			    kmm_get_pfnblock_migratetype(pfn) == KMM_MIGRATE_UNMOVABLE ||
			    kmm_get_pfnblock_migratetype(pfn) == KMM_MIGRATE_MOVABLE ||
			    kmm_get_pfnblock_migratetype(pfn) == KMM_MIGRATE_RECLAIMABLE) {
				kmm_pr_err("cma: %s: pfn %#llx is not a CMA page", c->name,
					   (unsigned long long)pfn);
				return -KMM_EINVAL;
			}
		}
	}
	return 0;
}
