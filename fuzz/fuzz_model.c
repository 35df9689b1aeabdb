/* SPDX-License-Identifier: MIT */
/*
 * fuzz_model.c - a model-based libFuzzer target for kmm.
 *
 * The machine is booted once (LLVMFuzzerInitialize: "mem=64M cma=8M
 * nr_cpus=1" in real mode; KMM_FUZZ_BOOT overrides it, e.g. with
 * "kmm.mode=shadow ..." for metadata only).  Each input is decoded into at
 * most FZ_MAX_OPS operations, one opcode byte and a few argument bytes each
 * (a short input reads zeros past its end), over the whole API:
 *
 *   alloc_pages/__free_pages (orders 0..10, eight GFP kinds), vmalloc and
 *   its variants/vfree, vmap/vunmap and vm_map_ram/vm_unmap_ram of pages
 *   the model holds, alloc_vm_area/free_vm_area, kvmalloc/kvfree, a user
 *   mm with anonymous mmap/munmap (whole, head or tail) and
 *   remap_vmalloc_range() of vmalloc_user() areas, alloc_contig_range,
 *   alloc_contig_pages, free_contig_range, cma_alloc/cma_release,
 *   start/undo_isolate_page_range, rewrites through one alias checked
 *   through the others, drains and purges, and inputs the API documents
 *   as refused (zero and huge sizes, empty and out-of-memory ranges, a
 *   wrong free order, a foreign cma_release, a wrong vm_unmap_ram count,
 *   vfree of an address inside an area, unaligned munmap, shared
 *   anonymous mmap, remap of a non-VM_USERMAP area or past its end).
 *
 * The model (struct fz_obj) knows per live object its kind, its pages and
 * a tag per page; sampled words of every page hold pat(tag, page, word).
 * After every operation check_all() runs every validator (page allocator,
 * vmalloc and vmap blocks, CMA, the user mm, kvfree_rcu) and checks:
 *   - every live object's words through each address it has: direct map,
 *     vmalloc/vmap/vm_map_ram address, user address (and follow_pfn()),
 *     plus vmalloc_to_page() against the pages it was made of;
 *   - every PFN the model holds is allocated (refcount > 0, not free);
 *   - the kernel VA ranges of live areas are disjoint and inside vmalloc
 *     space, and find_vm_area() finds each vm_struct area;
 *   - exactly the pageblocks the model isolated are MIGRATE_ISOLATE;
 *   - CMA "used" equals the pages the model holds from cma_alloc();
 *   - no log line at error level (or containing "BUG") unless the
 *     operation is one the API documents to be reported.
 * Each operation's result is checked against what the model predicts
 * (e.g. alloc_contig_range over a held PFN or an isolated pageblock must
 * fail; a refused call changes no counter).  At the end of the input
 * everything is given back, the per-CPU lists drained and lazy areas
 * purged, and the free page count must equal the boot value less the
 * kernel page-table pages allocated meanwhile (which kmm, like Linux,
 * keeps).  Any disagreement prints what happened and abort()s.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined;
 * fuzz/replay.c is a main() that feeds files to LLVMFuzzerTestOneInput()
 * so the corpus replays in the normal (gcc) test suite.
 *
 * Environment: KMM_FUZZ_BOOT (the boot line), KMM_FUZZ_TRACE=1 (one line
 * per operation with the live objects by kind, for reading a reproducer).
 *
 * Context: single-threaded (the fuzzer's thread is CPU 0).
 */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_LSAN 1
#endif
#ifdef FZ_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include <kmm/kmm.h>
#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>

#define PG KMM_PAGE_SIZE
#define PB KMM_PAGEBLOCK_NR_PAGES
#define FZ_MAX_OPS 96
#define FZ_MAX_OBJ 96
#define FZ_MAX_PB 4096		/* pageblocks tracked: 8 GiB of memory */
#define FZ_DEFAULT_BOOT "mem=64M cma=8M nr_cpus=1"
#define NOWARN KMM___GFP_NOWARN
#define FZ_HELD_COUNTED 2	/* held, with a reference count of its own */
#define FZ_HELD_TAIL 1		/* held, a tail page of an alloc_pages() block */

/* The model's own loops need no coverage feedback (nor its cost); not
 * inlined, as the instrumentation follows the function code ends up in. */
#if defined(__clang__) && __clang_major__ >= 13
#define FZ_NOCOV __attribute__((no_sanitize("coverage"), noinline))
#else
#define FZ_NOCOV
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the model ------------------------------------------------------------- */

enum fz_kind {
	FZ_PAGES,	/* alloc_pages: page, order */
	FZ_VMALLOC,	/* vmalloc & co: addr, vm, nr */
	FZ_VMAP,	/* vmap of src's pages [off, off + nr) */
	FZ_VMRAM,	/* vm_map_ram of the same */
	FZ_VMAREA,	/* alloc_vm_area: vm, nr */
	FZ_KV,		/* kvmalloc: addr, size */
	FZ_CONTIG,	/* alloc_contig_range/pages: pfn, nr */
	FZ_CMA,		/* cma_alloc: pfn, nr */
	FZ_ANON,	/* anonymous user mapping: uaddr, nr */
	FZ_REMAP,	/* remap_vmalloc_range of src from page off: uaddr, nr */
	FZ_ISO,		/* isolated pfn range [pfn, pfn + nr) */
	FZ_NKINDS
};

static const char *const fz_kind_names[FZ_NKINDS] = {
	"pages", "vmalloc", "vmap", "vm_map_ram", "vm_area", "kvmalloc",
	"contig", "cma", "anon", "remap", "isolate",
};

struct fz_obj {
	bool live;
	enum fz_kind kind;
	unsigned id;		/* sequence number, for messages */
	uint64_t pfn;		/* first PFN (pages, contig, cma, iso) */
	unsigned order;		/* pages */
	unsigned long nr;	/* pages (bytes for kv) */
	void *addr;		/* kernel VA (vmalloc, vmap, vmram, vm_area, kv) */
	unsigned long uaddr;	/* user VA (anon, remap) */
	struct kmm_vm_struct *vm;
	bool usermap;		/* vmalloc: made VM_USERMAP */
	int src;		/* vmap, vmram, remap: the object aliased */
	unsigned long off;	/* ... from this page of it */
	int pins;		/* aliases of this object alive */
	uint64_t *tag;		/* per page (owners only) */
	kmm_pte_t **ptes;	/* vm_area */
	struct kmm_page **pages;	/* vmap/vmram: the array passed */
};

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static struct {
	bool booted;
	bool bytes;		/* real memory: byte checks on */
	bool trace;		/* KMM_FUZZ_TRACE set */
	uint64_t boot_free;
	long boot_pgtables;
	uint64_t max_pfn;
	struct kmm_cma *cma;
	struct kmm_mm_struct *mm;
	struct fz_obj obj[FZ_MAX_OBJ];
	unsigned next_id;
	uint64_t tagseq;
	uint8_t *held;		/* per PFN: 0, FZ_HELD_COUNTED or FZ_HELD_TAIL */
	bool pb_iso[FZ_MAX_PB];
	/* log capture */
	int errs;		/* error lines since the op started */
	int bugs;
	char last[4][256];
	unsigned nlast;
	const char *op;		/* the op being run, for messages */
	unsigned opno;
	unsigned long execs;
} fz;

static const unsigned fz_words[] = { 0, 1, 255, 511 };

FZ_NOCOV static uint64_t pat(uint64_t tag, unsigned long pg, unsigned w)
{
	uint64_t x = tag ^ (pg << 16) ^ w;

	x *= 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

static void fz_log(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= KMM_LOG_ERR)
		fz.errs++;
	if (strstr(msg, "BUG"))
		fz.bugs++;
	snprintf(fz.last[fz.nlast++ % 4], sizeof(fz.last[0]), "<%d> %s", level, msg);
}

__attribute__((noreturn, format(printf, 1, 2)))
static void fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_model: op %u (%s): ", fz.opno, fz.op ? fz.op : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (unsigned i = fz.nlast > 4 ? fz.nlast - 4 : 0; i < fz.nlast; i++)
		fprintf(stderr, "  log: %s\n", fz.last[i % 4]);
	abort();
}

#define FZ_CHECK(cond, ...)                 \
	do {                                \
		if (!(cond))                \
			fz_fail(__VA_ARGS__); \
	} while (0)

static unsigned in_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned in_u16(struct fz_in *in)
{
	unsigned lo = in_u8(in);

	return lo | in_u8(in) << 8;
}

/* ---- objects ------------------------------------------------------------- */

static struct fz_obj *obj_new(enum fz_kind kind)
{
	for (int i = 0; i < FZ_MAX_OBJ; i++) {
		struct fz_obj *o = &fz.obj[i];

		if (!o->live) {
			memset(o, 0, sizeof(*o));
			o->live = true;
			o->kind = kind;
			o->id = fz.next_id++;
			o->src = -1;
			return o;
		}
	}
	return NULL;
}

FZ_NOCOV static bool obj_room(void)
{
	for (int i = 0; i < FZ_MAX_OBJ; i++)
		if (!fz.obj[i].live)
			return true;
	return false;
}

static void obj_del(struct fz_obj *o)
{
	free(o->tag);
	free(o->ptes);
	free(o->pages);
	memset(o, 0, sizeof(*o));
}

/* The (@sel mod count)-th live object of @kind, optionally unpinned. */
FZ_NOCOV static struct fz_obj *obj_pick(enum fz_kind kind, unsigned sel, bool unpinned)
{
	int n = 0, idx[FZ_MAX_OBJ];

	for (int i = 0; i < FZ_MAX_OBJ; i++)
		if (fz.obj[i].live && fz.obj[i].kind == kind &&
		    (!unpinned || !fz.obj[i].pins))
			idx[n++] = i;
	return n ? &fz.obj[idx[sel % (unsigned)n]] : NULL;
}

static bool owns_pfns(const struct fz_obj *o)
{
	return o->kind == FZ_PAGES || o->kind == FZ_CONTIG || o->kind == FZ_CMA;
}

/* Pages of an object's byte owner (tag array length). */
static unsigned long obj_pages(const struct fz_obj *o)
{
	return o->kind == FZ_KV ? (o->nr + PG - 1) / PG : o->nr;
}

static uint64_t new_tag(void)
{
	return ++fz.tagseq * 0x2545F4914F6CDD1Dull;
}

/* Mark or clear [pfn, pfn + n) held; marking a held PFN is a double allocation. */
FZ_NOCOV static void hold(uint64_t pfn, unsigned long n, bool on, const char *who)
{
	for (unsigned long i = 0; i < n; i++) {
		FZ_CHECK(pfn + i < fz.max_pfn, "%s: pfn %#llx past memory", who,
			 (unsigned long long)(pfn + i));
		if (on)
			FZ_CHECK(!fz.held[pfn + i], "%s: pfn %#llx handed out twice", who,
				 (unsigned long long)(pfn + i));
		fz.held[pfn + i] = on ? FZ_HELD_COUNTED : 0;
	}
}

/* The tail pages of a block (compound: PG_tail; otherwise refcount 0) are
 * passed over by the isolation scan, as by the kernel's
 * has_unmovable_pages(): a pageblock holding only the tail of an order-10
 * block isolates; only later stages (test_pages_isolated) refuse it. */
static void hold_uncounted_tails(uint64_t head, unsigned long n)
{
	for (unsigned long i = 1; i < n; i++)
		fz.held[head + i] = FZ_HELD_TAIL;
}

/* A page the model holds that has its own reference in [s, e)? */
FZ_NOCOV static bool any_counted(uint64_t s, uint64_t e)
{
	for (uint64_t p = s; p < e && p < fz.max_pfn; p++)
		if (fz.held[p] == FZ_HELD_COUNTED)
			return true;
	return false;
}

FZ_NOCOV static bool any_held(uint64_t s, uint64_t e)
{
	for (uint64_t p = s; p < e && p < fz.max_pfn; p++)
		if (fz.held[p])
			return true;
	return false;
}

FZ_NOCOV static bool any_pb_iso(uint64_t s, uint64_t e)
{
	for (uint64_t b = s / PB; b < (e + PB - 1) / PB && b < FZ_MAX_PB; b++)
		if (fz.pb_iso[b])
			return true;
	return false;
}

/* ---- bytes --------------------------------------------------------------- */

FZ_NOCOV static void page_write(void *base, uint64_t tag, unsigned long pg)
{
	uint64_t *w = base;

	for (unsigned i = 0; i < KMM_ARRAY_SIZE(fz_words); i++)
		w[fz_words[i]] = pat(tag, pg, fz_words[i]);
}

FZ_NOCOV static void page_check(const void *base, uint64_t tag, unsigned long pg,
		       const struct fz_obj *o, const char *via)
{
	const uint64_t *w = base;

	for (unsigned i = 0; i < KMM_ARRAY_SIZE(fz_words); i++) {
		uint64_t want = pat(tag, pg, fz_words[i]);

		FZ_CHECK(w[fz_words[i]] == want,
			 "%s #%u: page %lu word %u via %s at %p is %#llx, model says %#llx",
			 fz_kind_names[o->kind], o->id, pg, fz_words[i], via, base,
			 (unsigned long long)w[fz_words[i]], (unsigned long long)want);
	}
}

FZ_NOCOV static bool zero_bytes(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* kvmalloc memory: every byte, from the tag of "page" 0. */
FZ_NOCOV static void kv_write(struct fz_obj *o)
{
	unsigned char *c = o->addr;

	for (unsigned long i = 0; i < o->nr; i++)
		c[i] = (unsigned char)(pat(o->tag[0], i / 8, 0) >> (i % 8 * 8));
}

FZ_NOCOV static void kv_check(const struct fz_obj *o)
{
	const unsigned char *c = o->addr;

	for (unsigned long i = 0; i < o->nr; i++)
		FZ_CHECK(c[i] == (unsigned char)(pat(o->tag[0], i / 8, 0) >> (i % 8 * 8)),
			 "kvmalloc #%u: byte %lu of %lu differs", o->id, i, o->nr);
}

/* The direct-map address of page @i of owner @o (NULL: none). */
static void *owner_dm(const struct fz_obj *o, unsigned long i)
{
	switch (o->kind) {
	case FZ_PAGES:
	case FZ_CONTIG:
	case FZ_CMA:
		return kmm_page_address(kmm_pfn_to_page(o->pfn + i));
	case FZ_VMALLOC:
		return kmm_page_address(o->vm->pages[i]);
	case FZ_ANON: {
		unsigned long pfn;

		if (kmm_follow_pfn(fz.mm, o->uaddr + i * PG, &pfn))
			return NULL;	/* not faulted in yet */
		return kmm_page_address(kmm_pfn_to_page(pfn));
	}
	default:
		return NULL;
	}
}

/* The page structure behind page @i of owner @o (NULL when not fixed). */
static struct kmm_page *owner_page(const struct fz_obj *o, unsigned long i)
{
	if (owns_pfns(o))
		return kmm_pfn_to_page(o->pfn + i);
	if (o->kind == FZ_VMALLOC)
		return o->vm->pages[i];
	return NULL;
}

/* The address the owner's user writes through. */
static void *owner_va(const struct fz_obj *o, unsigned long i)
{
	switch (o->kind) {
	case FZ_VMALLOC:
		return (char *)o->addr + i * PG;
	case FZ_ANON:
		return (void *)(o->uaddr + i * PG);
	default:
		return owner_dm(o, i);
	}
}

static void owner_fill(struct fz_obj *o)
{
	unsigned long n = obj_pages(o);

	o->tag = calloc(n ? n : 1, sizeof(*o->tag));
	if (!o->tag)
		abort();
	for (unsigned long i = 0; i < n; i++)
		o->tag[i] = new_tag();
	if (!fz.bytes)
		return;
	if (o->kind == FZ_KV) {
		kv_write(o);
		return;
	}
	for (unsigned long i = 0; i < n; i++)
		page_write(owner_va(o, i), o->tag[i], i);
}

/* Pages to look at: all when @full or few, else first, last and a stride. */
FZ_NOCOV static bool sample(unsigned long i, unsigned long n, bool full)
{
	return full || n <= 16 || i == 0 || i == n - 1 || i % (n / 8) == 0;
}

/* Check object @o through every address it has. */
FZ_NOCOV static void obj_check(const struct fz_obj *o, bool full)
{
	const struct fz_obj *src;

	if (!fz.bytes)
		return;
	switch (o->kind) {
	case FZ_PAGES:
	case FZ_CONTIG:
	case FZ_CMA:
	case FZ_VMALLOC:
	case FZ_ANON:
		for (unsigned long i = 0; i < o->nr; i++) {
			void *dm;

			if (!sample(i, o->nr, full))
				continue;
			page_check(owner_va(o, i), o->tag[i], i, o, "its address");
			if (o->kind == FZ_VMALLOC || o->kind == FZ_ANON) {
				dm = owner_dm(o, i);
				FZ_CHECK(o->kind == FZ_ANON || dm, "vmalloc #%u: no page %lu", o->id, i);
				if (dm)
					page_check(dm, o->tag[i], i, o, "the direct map");
			}
			if (o->kind == FZ_VMALLOC)
				FZ_CHECK(kmm_vmalloc_to_page((char *)o->addr + i * PG) == o->vm->pages[i],
					 "vmalloc #%u: vmalloc_to_page(page %lu) is not vm->pages[%lu]",
					 o->id, i, i);
		}
		break;
	case FZ_KV:
		kv_check(o);
		break;
	case FZ_VMAP:
	case FZ_VMRAM:
		src = &fz.obj[o->src];
		for (unsigned long i = 0; i < o->nr; i++) {
			if (!sample(i, o->nr, full))
				continue;
			page_check((char *)o->addr + i * PG, src->tag[o->off + i], o->off + i, src,
				   o->kind == FZ_VMAP ? "a vmap alias" : "a vm_map_ram alias");
			FZ_CHECK(kmm_vmalloc_to_page((char *)o->addr + i * PG) == o->pages[i],
				 "%s #%u: vmalloc_to_page(page %lu) is not the page mapped",
				 fz_kind_names[o->kind], o->id, i);
		}
		break;
	case FZ_REMAP:
		src = &fz.obj[o->src];
		for (unsigned long i = 0; i < o->nr; i++) {
			unsigned long pfn;

			if (!sample(i, o->nr, full))
				continue;
			page_check((void *)(o->uaddr + i * PG), src->tag[o->off + i], o->off + i,
				   src, "a remap_vmalloc_range user alias");
			FZ_CHECK(!kmm_follow_pfn(fz.mm, o->uaddr + i * PG, &pfn) &&
				 kmm_pfn_to_page(pfn) == src->vm->pages[o->off + i],
				 "remap #%u: user page %lu is not vmalloc #%u's page %lu", o->id, i,
				 src->id, o->off + i);
		}
		break;
	default:
		break;
	}
}

/* ---- whole-machine checks ----------------------------------------------- */

struct fz_range {
	unsigned long s, e;
	unsigned id;
};

static int range_cmp(const void *a, const void *b)
{
	const struct fz_range *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s;
}

FZ_NOCOV static long pgtable_pages(void)
{
	long n = 0;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++)
			n += atomic_load(&kmm_NODE_DATA((int)nid)->node_zones[zi].vm_stat[KMM_NR_PAGETABLE]);
	return n;
}

FZ_NOCOV static void check_va(void)
{
	struct fz_range r[FZ_MAX_OBJ];
	int n = 0;

	for (int i = 0; i < FZ_MAX_OBJ; i++) {
		struct fz_obj *o = &fz.obj[i];
		struct kmm_vm_struct *vm;
		unsigned long s, e;

		if (!o->live)
			continue;
		switch (o->kind) {
		case FZ_VMALLOC:
		case FZ_VMAP:
		case FZ_VMAREA:
			vm = kmm_find_vm_area(o->addr);
			FZ_CHECK(vm && vm->addr == o->addr, "%s #%u at %p: find_vm_area() finds %p",
				 fz_kind_names[o->kind], o->id, o->addr, vm ? vm->addr : NULL);
			FZ_CHECK(!o->vm || vm == o->vm, "%s #%u: another vm_struct",
				 fz_kind_names[o->kind], o->id);
			FZ_CHECK(kmm_get_vm_area_size(vm) >= o->nr * PG, "%s #%u: area of %lu bytes for %lu pages",
				 fz_kind_names[o->kind], o->id, kmm_get_vm_area_size(vm), o->nr);
			s = (unsigned long)vm->addr;
			e = s + vm->size;
			break;
		case FZ_VMRAM:
			s = (unsigned long)o->addr;
			e = s + o->nr * PG;
			FZ_CHECK(!kmm_find_vm_area(o->addr), "vm_map_ram #%u has a vm_struct", o->id);
			break;
		case FZ_KV:
			if (!kmm_is_vmalloc_addr(o->addr))
				continue;
			vm = kmm_find_vm_area(o->addr);
			FZ_CHECK(vm && vm->addr == o->addr, "kvmalloc #%u at %p: no area", o->id, o->addr);
			s = (unsigned long)vm->addr;
			e = s + vm->size;
			break;
		default:
			continue;
		}
		FZ_CHECK(s >= kmm_vmalloc_start() && e - 1 <= kmm_vmalloc_end() && s < e,
			 "%s #%u: [%#lx, %#lx) outside vmalloc space", fz_kind_names[o->kind], o->id, s, e);
		r[n++] = (struct fz_range){ s, e, o->id };
	}
	qsort(r, (size_t)n, sizeof(r[0]), range_cmp);
	for (int i = 1; i < n; i++)
		FZ_CHECK(r[i - 1].e <= r[i].s, "areas #%u [%#lx, %#lx) and #%u [%#lx, %#lx) overlap",
			 r[i - 1].id, r[i - 1].s, r[i - 1].e, r[i].id, r[i].s, r[i].e);
}

FZ_NOCOV static void check_all(bool full)
{
	int r;
	unsigned long cma_pages = 0;

	FZ_CHECK((r = kmm_page_alloc_validate()) == 0, "kmm_page_alloc_validate() = %d", r);
	FZ_CHECK((r = kmm_vmalloc_validate()) == 0, "kmm_vmalloc_validate() = %d", r);
	FZ_CHECK((r = kmm__vmap_blocks_validate()) == 0, "kmm__vmap_blocks_validate() = %d", r);
	FZ_CHECK((r = kmm_cma_validate()) == 0, "kmm_cma_validate() = %d", r);
	FZ_CHECK((r = kmm_kvfree_rcu_validate()) == 0, "kmm_kvfree_rcu_validate() = %d", r);
	if (fz.mm)
		FZ_CHECK((r = kmm_mm_validate(fz.mm)) == 0, "kmm_mm_validate() = %d", r);

	for (int i = 0; i < FZ_MAX_OBJ; i++) {
		struct fz_obj *o = &fz.obj[i];

		if (!o->live)
			continue;
		obj_check(o, full);
		if (o->kind == FZ_CMA)
			cma_pages += o->nr;
		if (owns_pfns(o) || o->kind == FZ_VMALLOC) {
			for (unsigned long p = 0; p < o->nr; p++) {
				struct kmm_page *pg = owner_page(o, p);

				if (!sample(p, o->nr, full))
					continue;
				/* a non-compound block's tail pages have no count */
				FZ_CHECK((o->kind == FZ_PAGES && p) || kmm_page_ref_count(pg) > 0,
					 "%s #%u: page %lu (pfn %#llx) has refcount %d", fz_kind_names[o->kind],
					 o->id, p, (unsigned long long)kmm_page_to_pfn(pg), kmm_page_ref_count(pg));
				FZ_CHECK(!kmm_page_test(pg, KMM_PG_buddy) && !kmm_page_test(pg, KMM_PG_pcp),
					 "%s #%u: page %lu (pfn %#llx) is free (ref %d)", fz_kind_names[o->kind],
					 o->id, p, (unsigned long long)kmm_page_to_pfn(pg), kmm_page_ref_count(pg));
			}
		}
	}
	check_va();
	for (uint64_t b = 0; b < fz.max_pfn / PB && b < FZ_MAX_PB; b++) {
		bool iso = kmm_get_pfnblock_migratetype(b * PB) == KMM_MIGRATE_ISOLATE;

		FZ_CHECK(iso == fz.pb_iso[b], "pageblock %llu (pfn %#llx) isolated %d, model says %d",
			 (unsigned long long)b, (unsigned long long)(b * PB), iso, fz.pb_iso[b]);
	}
	if (fz.cma) {
		struct kmm_cma_stats st;

		kmm_cma_get_stats(fz.cma, &st);
		if (st.order_per_bit == 0)
			FZ_CHECK(st.used == cma_pages, "cma used %lu, model holds %lu", st.used, cma_pages);
	}
	FZ_CHECK(!fz.bugs, "a BUG was logged");
}

/* ---- operations --------------------------------------------------------- */

static const kmm_gfp_t fz_gfps[8] = {
	KMM_GFP_KERNEL,
	KMM_GFP_KERNEL | KMM___GFP_ZERO,
	KMM_GFP_KERNEL | KMM___GFP_DMA32,
	KMM_GFP_KERNEL | KMM___GFP_DMA,
	KMM_GFP_HIGHUSER_MOVABLE,
	KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE,
	KMM_GFP_ATOMIC,
	KMM_GFP_KERNEL | KMM___GFP_COMP,
};

static void op_alloc_pages(struct fz_in *in)
{
	unsigned a = in_u8(in), b = in_u8(in);
	unsigned order = (a & 0x80) ? a % 11 : a % 4;
	kmm_gfp_t gfp = fz_gfps[b % 8] | NOWARN;
	struct kmm_page *page;
	struct fz_obj *o;

	if (!obj_room())
		return;
	page = kmm_alloc_pages(gfp, order);
	if (!page)
		return;
	o = obj_new(FZ_PAGES);
	o->pfn = kmm_page_to_pfn(page);
	o->order = order;
	o->nr = 1UL << order;
	FZ_CHECK(o->pfn % o->nr == 0, "order-%u block at pfn %#llx is misaligned", order,
		 (unsigned long long)o->pfn);
	FZ_CHECK(kmm_page_zonenum(page) <= (int)kmm_gfp_zone(gfp), "gfp %#x got zone %d",
		 gfp, kmm_page_zonenum(page));
	FZ_CHECK(kmm_page_ref_count(page) == 1, "new block refcount %d", kmm_page_ref_count(page));
	hold(o->pfn, o->nr, true, "alloc_pages");
	hold_uncounted_tails(o->pfn, o->nr);
	if (fz.bytes && (gfp & KMM___GFP_ZERO))
		for (unsigned long i = 0; i < o->nr; i++)
			FZ_CHECK(zero_bytes(owner_dm(o, i), PG), "__GFP_ZERO page %lu not zero", i);
	owner_fill(o);
}

static void free_owner(struct fz_obj *o)
{
	obj_check(o, true);
	switch (o->kind) {
	case FZ_PAGES:
		kmm___free_pages(kmm_pfn_to_page(o->pfn), o->order);
		hold(o->pfn, o->nr, false, "free");
		break;
	case FZ_CONTIG:
		kmm_free_contig_range(o->pfn, o->nr);
		hold(o->pfn, o->nr, false, "free_contig_range");
		break;
	case FZ_CMA: {
		bool ok = kmm_cma_release(fz.cma, kmm_pfn_to_page(o->pfn), o->nr);

		FZ_CHECK(ok, "cma_release(pfn %#llx, %lu) refused", (unsigned long long)o->pfn, o->nr);
		hold(o->pfn, o->nr, false, "cma_release");
		break;
	}
	case FZ_VMALLOC: {
		for (unsigned long i = 0; i < o->nr; i++)
			hold(kmm_page_to_pfn(o->vm->pages[i]), 1, false, "vfree");
		kmm_vfree(o->addr);
		FZ_CHECK(!kmm_find_vm_area(o->addr), "vfree(%p) left the area", o->addr);
		break;
	}
	case FZ_KV:
		kmm_kvfree(o->addr);
		break;
	default:
		fz_fail("free_owner of %s", fz_kind_names[o->kind]);
	}
	obj_del(o);
}

static void op_free(struct fz_in *in, enum fz_kind kind)
{
	struct fz_obj *o = obj_pick(kind, in_u8(in), true);

	if (o)
		free_owner(o);
}

static void op_vmalloc(struct fz_in *in)
{
	unsigned a = in_u8(in), b = in_u8(in), c = in_u16(in);
	unsigned long pages = (a & 0x80) ? 1 + a % 128 + (a & 0x40 ? 256 : 0) : 1 + a % 8;
	unsigned long size = pages * PG - (c % PG);
	bool zeroed = false, usermap = false;
	struct fz_obj *o;
	void *p;

	if (!obj_room())
		return;
	switch (b % 6) {
	case 0: p = kmm_vmalloc(size); break;
	case 1: p = kmm_vzalloc(size); zeroed = true; break;
	case 2: p = kmm_vmalloc_user(size); zeroed = usermap = true; break;
	case 3: p = kmm_vmalloc_32(size); break;
	case 4: p = kmm___vmalloc(size, KMM_GFP_KERNEL | KMM___GFP_ZERO | NOWARN); zeroed = true; break;
	default: p = kmm_vmalloc_node(size, 0); break;
	}
	if (!p)
		return;
	o = obj_new(FZ_VMALLOC);
	o->addr = p;
	o->usermap = usermap;
	o->vm = kmm_find_vm_area(p);
	FZ_CHECK(o->vm && o->vm->addr == p, "vmalloc(%lu) = %p has no vm_struct", size, p);
	FZ_CHECK(o->vm->nr_pages == pages, "vmalloc(%lu): %u pages, want %lu", size,
		 o->vm->nr_pages, pages);
	FZ_CHECK(!!(o->vm->flags & KMM_VM_USERMAP) == usermap, "vmalloc kind %u: VM_USERMAP %lu",
		 b % 6, o->vm->flags & KMM_VM_USERMAP);
	o->nr = pages;
	for (unsigned long i = 0; i < pages; i++) {
		FZ_CHECK(kmm_page_test(o->vm->pages[i], KMM_PG_vmalloc), "vmalloc page %lu not PG_vmalloc", i);
		if (b % 6 == 3)
			FZ_CHECK(kmm_page_zonenum(o->vm->pages[i]) <= KMM_ZONE_DMA32, "vmalloc_32 page in zone %d",
				 kmm_page_zonenum(o->vm->pages[i]));
		hold(kmm_page_to_pfn(o->vm->pages[i]), 1, true, "vmalloc");
	}
	if (fz.bytes && zeroed)
		FZ_CHECK(zero_bytes(p, pages * PG), "zeroed vmalloc(%lu) is not zero", size);
	owner_fill(o);
}

/* The page array for an alias of @src's pages [off, off + n). */
static struct kmm_page **alias_pages(struct fz_obj *src, unsigned long off, unsigned long n)
{
	struct kmm_page **v = malloc(n * sizeof(*v));

	if (!v)
		abort();
	for (unsigned long i = 0; i < n; i++)
		v[i] = owner_page(src, off + i);
	return v;
}

static void op_alias(struct fz_in *in, enum fz_kind kind)
{
	unsigned s = in_u8(in), a = in_u8(in), b = in_u8(in);
	struct fz_obj *src = obj_pick((s & 1) ? FZ_VMALLOC : FZ_PAGES, s >> 1, false), *o;
	unsigned long n, off;
	struct kmm_page **pages;
	void *p;

	if (!src)
		src = obj_pick(FZ_PAGES, s, false);
	if (!src || !obj_room())
		return;
	n = 1 + a % src->nr;
	off = b % (src->nr - n + 1);
	pages = alias_pages(src, off, n);
	if (kind == FZ_VMAP)
		p = kmm_vmap(pages, (unsigned)n, KMM_VM_MAP, KMM_PAGE_KERNEL);
	else
		p = kmm_vm_map_ram(pages, (unsigned)n, -1);
	if (!p) {
		free(pages);
		return;
	}
	o = obj_new(kind);
	o->addr = p;
	o->nr = n;
	o->off = off;
	o->src = (int)(src - fz.obj);
	o->pages = pages;
	if (kind == FZ_VMAP) {
		o->vm = kmm_find_vm_area(p);
		FZ_CHECK(o->vm && (o->vm->flags & KMM_VM_MAP), "vmap area without VM_MAP");
	}
	src->pins++;
	obj_check(o, true);
}

static void op_unalias(struct fz_in *in, enum fz_kind kind)
{
	struct fz_obj *o = obj_pick(kind, in_u8(in), true);

	if (!o)
		return;
	obj_check(o, true);
	if (kind == FZ_VMAP) {
		kmm_vunmap(o->addr);
		FZ_CHECK(!kmm_find_vm_area(o->addr), "vunmap(%p) left the area", o->addr);
	} else {
		kmm_vm_unmap_ram(o->addr, (unsigned)o->nr);
	}
	fz.obj[o->src].pins--;
	obj_del(o);
}

static void op_vm_area(struct fz_in *in)
{
	unsigned long n = 1 + in_u8(in) % 64;
	struct fz_obj *o;
	kmm_pte_t **ptes;
	struct kmm_vm_struct *vm;

	if (!obj_room())
		return;
	ptes = calloc(n, sizeof(*ptes));
	if (!ptes)
		abort();
	vm = kmm_alloc_vm_area(n * PG, ptes);
	if (!vm) {
		free(ptes);
		return;
	}
	o = obj_new(FZ_VMAREA);
	o->vm = vm;
	o->addr = vm->addr;
	o->nr = n;
	o->ptes = ptes;
	FZ_CHECK(vm->flags & KMM_VM_IOREMAP, "alloc_vm_area: flags %#lx", vm->flags);
	for (unsigned long i = 0; i < n; i++) {
		FZ_CHECK(ptes[i], "alloc_vm_area: no pte %lu", i);
		FZ_CHECK(kmm_pte_none(kmm_ptep_get(ptes[i])), "alloc_vm_area: pte %lu is set", i);
		FZ_CHECK(!kmm_vmalloc_to_page((char *)vm->addr + i * PG), "alloc_vm_area: page %lu mapped", i);
	}
}

static void op_free_vm_area(struct fz_in *in)
{
	struct fz_obj *o = obj_pick(FZ_VMAREA, in_u8(in), false);

	if (!o)
		return;
	for (unsigned long i = 0; i < o->nr; i++)
		FZ_CHECK(kmm_pte_none(kmm_ptep_get(o->ptes[i])), "vm_area #%u: pte %lu got set", o->id, i);
	kmm_free_vm_area(o->vm);
	FZ_CHECK(!kmm_find_vm_area(o->addr), "free_vm_area left the area");
	obj_del(o);
}

static void op_kvmalloc(struct fz_in *in)
{
	unsigned long size = 1 + in_u16(in) % (3 * PG);
	struct fz_obj *o;
	void *p;

	if (!obj_room())
		return;
	p = kmm_kvmalloc(size, KMM_GFP_KERNEL | NOWARN);
	if (!p)
		return;
	o = obj_new(FZ_KV);
	o->addr = p;
	o->nr = size;
	if (fz.bytes && size > PG)
		FZ_CHECK(kmm_is_vmalloc_addr(p), "kvmalloc(%lu) not from vmalloc", size);
	owner_fill(o);
}

static unsigned zone_of(uint64_t pfn)
{
	return (unsigned)kmm_page_zonenum(kmm_pfn_to_page(pfn)) |
	       (unsigned)kmm_page_nid(kmm_pfn_to_page(pfn)) << 4;
}

/* Model-held anonymous pages cannot be predicted; the rest of what is known. */
static void take_contig(uint64_t pfn, unsigned long n, enum fz_kind kind, bool zeroed,
			const char *who)
{
	struct fz_obj *o = obj_new(kind);

	o->pfn = pfn;
	o->nr = n;
	hold(pfn, n, true, who);
	for (unsigned long i = 0; i < n; i++) {
		struct kmm_page *pg = kmm_pfn_to_page(pfn + i);

		FZ_CHECK(kmm_page_ref_count(pg) == 1, "%s: pfn %#llx refcount %d", who,
			 (unsigned long long)(pfn + i), kmm_page_ref_count(pg));
		if (fz.bytes && zeroed)
			FZ_CHECK(zero_bytes(kmm_page_address(pg), PG), "%s: __GFP_ZERO pfn %#llx not zero",
				 who, (unsigned long long)(pfn + i));
	}
	owner_fill(o);
}

static void op_contig(struct fz_in *in)
{
	uint64_t start = in_u16(in) % fz.max_pfn;
	unsigned a = in_u16(in), b = in_u8(in);
	unsigned long n = (a & 0x8000) ? 1 + a % 2048 : 1 + a % 64;
	uint64_t end = start + n;
	bool zero = b & 2;
	unsigned flags = (b & 1) ? KMM_ACR_FLAGS_CMA : KMM_ACR_FLAGS_NONE;
	int r;

	if (!obj_room())
		return;
	r = kmm_alloc_contig_range(start, end, flags, KMM_GFP_KERNEL | NOWARN | (zero ? KMM___GFP_ZERO : 0));
	if (end > fz.max_pfn || zone_of(start) != zone_of(end - 1)) {
		FZ_CHECK(r == -KMM_EINVAL, "alloc_contig_range(%#llx, %#llx) across zones/past memory = %d",
			 (unsigned long long)start, (unsigned long long)end, r);
		return;
	}
	if (any_held(start, end) || any_pb_iso(KMM_ALIGN_DOWN(start, PB), end))
		FZ_CHECK(r != 0, "alloc_contig_range(%#llx, %#llx) took held or isolated pages",
			 (unsigned long long)start, (unsigned long long)end);
	FZ_CHECK(r == 0 || r == -KMM_EBUSY || r == -KMM_ENOMEM || r == -KMM_EINVAL,
		 "alloc_contig_range: %d", r);
	if (r == 0)
		take_contig(start, n, FZ_CONTIG, zero, "alloc_contig_range");
}

static void op_contig_pages(struct fz_in *in)
{
	unsigned a = in_u16(in);
	unsigned long n = 1 + a % 1024;
	struct kmm_page *pg;

	if (!obj_room())
		return;
	pg = kmm_alloc_contig_pages(n, KMM_GFP_KERNEL | NOWARN, -1, NULL);
	if (pg)
		take_contig(kmm_page_to_pfn(pg), n, FZ_CONTIG, false, "alloc_contig_pages");
}

static void op_cma_alloc(struct fz_in *in)
{
	unsigned a = in_u16(in), b = in_u8(in);
	unsigned long cnt;
	unsigned align = b % 12;
	struct kmm_cma_stats st;
	struct kmm_page *pg;
	uint64_t pfn;

	if (!fz.cma || !obj_room())
		return;
	kmm_cma_get_stats(fz.cma, &st);
	cnt = (a & 0x8000) ? 1 + a % st.count : 1 + a % 64;
	pg = kmm_cma_alloc(fz.cma, cnt, align, true);
	if (!pg)
		return;
	pfn = kmm_page_to_pfn(pg);
	FZ_CHECK(pfn >= st.base_pfn && pfn + cnt <= st.base_pfn + st.count,
		 "cma_alloc(%lu) = pfn %#llx outside the area", cnt, (unsigned long long)pfn);
	FZ_CHECK(pfn % (1UL << KMM_MIN(align, KMM_MAX_PAGE_ORDER)) == 0,
		 "cma_alloc(%lu, align %u) = pfn %#llx misaligned", cnt, align, (unsigned long long)pfn);
	take_contig(pfn, cnt, FZ_CMA, false, "cma_alloc");
}

static void op_isolate(struct fz_in *in)
{
	uint64_t start = in_u16(in) % fz.max_pfn;
	unsigned a = in_u16(in), b = in_u8(in);
	unsigned long n = 1 + a % 1536;
	uint64_t end = start + n, ws = KMM_ALIGN_DOWN(start, PB), we = KMM_ALIGN_UP(end, PB);
	enum kmm_pb_isolate_mode mode = b % 3;
	bool must_fail = false;
	const char *why = "";
	struct fz_obj *o;
	int r;

	if (!obj_room())
		return;
	if (end > fz.max_pfn || zone_of(start) != zone_of(end - 1)) {
		r = kmm_start_isolate_page_range(start, end, mode);
		FZ_CHECK(r == -KMM_EINVAL, "start_isolate_page_range(%#llx, %#llx) across zones/past memory = %d",
			 (unsigned long long)start, (unsigned long long)end, r);
		return;
	}
	if (any_pb_iso(ws, we)) {
		must_fail = true;
		why = "a pageblock is isolated already";
	}
	for (uint64_t pb = ws; pb < we; pb += PB) {
		int mt = kmm_get_pfnblock_migratetype(pb);
		bool scanned = !(mt == KMM_MIGRATE_CMA && mode == KMM_PB_ISOLATE_MODE_CMA_ALLOC);

		if (mt == KMM_MIGRATE_CMA && mode != KMM_PB_ISOLATE_MODE_CMA_ALLOC) {
			must_fail = true;
			why = "a CMA pageblock outside CMA mode";
		}
		if (scanned && any_counted(pb, pb + PB)) {
			must_fail = true;
			why = "the model holds a page there";
		}
	}
	r = kmm_start_isolate_page_range(start, end, mode);
	if (must_fail)
		FZ_CHECK(r == -KMM_EBUSY, "start_isolate_page_range(%#llx, %#llx, mode %d) = %d, model says -EBUSY: %s",
			 (unsigned long long)start, (unsigned long long)end, mode, r, why);
	FZ_CHECK(r == 0 || r == -KMM_EBUSY, "start_isolate_page_range: %d", r);
	if (r)
		return;
	o = obj_new(FZ_ISO);
	o->pfn = start;
	o->nr = n;
	for (uint64_t pb = ws; pb < we; pb += PB)
		fz.pb_iso[pb / PB] = true;
	/* A range with no page the model holds may still hold kmm's own
	 * (page tables); if it says "all free", none of ours may be there. */
	if (kmm_test_pages_isolated(start, end, mode) == 0)
		FZ_CHECK(!any_held(start, end), "test_pages_isolated says free over held pages");
}

static void undo_iso(struct fz_obj *o)
{
	uint64_t ws = KMM_ALIGN_DOWN(o->pfn, PB), we = KMM_ALIGN_UP(o->pfn + o->nr, PB);

	kmm_undo_isolate_page_range(o->pfn, o->pfn + o->nr);
	for (uint64_t pb = ws; pb < we; pb += PB)
		fz.pb_iso[pb / PB] = false;
	obj_del(o);
}

static bool ensure_mm(void)
{
	/* 256 MiB holds every mapping an input can make (96 x 64 pages);
	 * kmm_mm_validate() walks the whole range, 2 MiB at a time. */
	if (!fz.mm)
		fz.mm = kmm_mm_create(256UL << 20);
	return fz.mm != NULL;
}

static void op_mmap_anon(struct fz_in *in)
{
	unsigned a = in_u8(in), b = in_u8(in);
	unsigned long n = 1 + a % 64;
	unsigned long flags = KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | ((b & 1) ? KMM_MAP_POPULATE : 0);
	unsigned long u;
	struct fz_obj *o;

	if (!obj_room() || !ensure_mm())
		return;
	if (!fz.bytes)
		flags |= KMM_MAP_POPULATE;
	u = kmm_vm_mmap(fz.mm, 0, n * PG, KMM_PROT_READ | KMM_PROT_WRITE, flags, 0, NULL);
	if (KMM_IS_ERR_VALUE(u)) {
		FZ_CHECK(u == (unsigned long)-KMM_ENOMEM, "mmap anon %lu pages: %ld", n, (long)u);
		return;
	}
	o = obj_new(FZ_ANON);
	o->uaddr = u;
	o->nr = n;
	if (fz.bytes)
		for (unsigned long i = 0; i < n; i++)
			FZ_CHECK(zero_bytes((void *)(u + i * PG), PG), "anon page %lu not zero", i);
	owner_fill(o);
}

static void op_munmap(struct fz_in *in)
{
	unsigned s = in_u8(in), a = in_u8(in);
	struct fz_obj *o = obj_pick((s & 1) ? FZ_REMAP : FZ_ANON, s >> 1, true);
	unsigned long k;
	int r;

	if (!o)
		return;
	obj_check(o, true);
	k = 1 + a % o->nr;
	if (o->kind == FZ_ANON && k < o->nr && (a & 0x80)) {
		/* the head or the tail only: the VMA splits */
		bool head = a & 0x40;
		unsigned long at = head ? o->uaddr : o->uaddr + (o->nr - k) * PG;

		r = kmm_vm_munmap(fz.mm, at, k * PG);
		if (r == -KMM_ENOMEM)
			return;
		FZ_CHECK(r == 0, "munmap part: %d", r);
		if (head) {
			memmove(o->tag, o->tag + k, (o->nr - k) * sizeof(*o->tag));
			o->uaddr += k * PG;
		}
		o->nr -= k;
		/* pages stay where they were: page i of the rest keeps its words,
		 * which name its old index: rewrite with the new indexes */
		for (unsigned long i = 0; i < o->nr; i++) {
			o->tag[i] = new_tag();
			if (fz.bytes)
				page_write((void *)(o->uaddr + i * PG), o->tag[i], i);
		}
		return;
	}
	r = kmm_vm_munmap(fz.mm, o->uaddr, o->nr * PG);
	FZ_CHECK(r == 0, "munmap: %d", r);
	if (o->kind == FZ_REMAP)
		fz.obj[o->src].pins--;
	obj_del(o);
}

struct fz_file {
	struct kmm_mmap_file f;
	void *kaddr;
};

static int fz_file_mmap(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma)
{
	struct fz_file *ff = kmm_container_of(file, struct fz_file, f);

	return kmm_remap_vmalloc_range(vma, ff->kaddr, vma->vm_pgoff);
}

static void op_remap(struct fz_in *in)
{
	unsigned s = in_u8(in), a = in_u8(in), b = in_u8(in);
	struct fz_obj *src = obj_pick(FZ_VMALLOC, s, false), *o;
	struct fz_file ff = { { fz_file_mmap, NULL }, NULL };
	unsigned long n, off, u;

	if (!src || !obj_room() || !ensure_mm())
		return;
	n = 1 + a % src->nr;
	off = b % (src->nr - n + 1);
	if (b & 0x80)
		off = src->nr - n + 1 + b % 3;	/* past the end: refused */
	ff.kaddr = src->addr;
	u = kmm_vm_mmap(fz.mm, 0, n * PG, KMM_PROT_READ | KMM_PROT_WRITE, KMM_MAP_SHARED, off, &ff.f);
	if (!src->usermap || off + n > src->nr) {
		FZ_CHECK(u == (unsigned long)-KMM_EINVAL,
			 "remap_vmalloc_range of %s (pgoff %lu, %lu of %lu pages) = %ld, want -EINVAL",
			 src->usermap ? "too little" : "a non-VM_USERMAP area", off, n, src->nr, (long)u);
		return;
	}
	if (KMM_IS_ERR_VALUE(u)) {
		FZ_CHECK(u == (unsigned long)-KMM_ENOMEM, "remap_vmalloc_range: %ld", (long)u);
		return;
	}
	o = obj_new(FZ_REMAP);
	o->uaddr = u;
	o->nr = n;
	o->off = off;
	o->src = (int)(src - fz.obj);
	src->pins++;
	obj_check(o, true);
}

/* New words for one page of an owner, written through an alias when one
 * exists (vmap, vm_map_ram, user remap, direct map); check_all() then reads
 * them through every other address. */
static void op_rewrite(struct fz_in *in)
{
	unsigned s = in_u8(in), a = in_u8(in);
	struct fz_obj *o, *src;
	unsigned long pg;
	void *va;

	if (!fz.bytes)
		return;
	o = obj_pick((enum fz_kind)(s % FZ_NKINDS), s / FZ_NKINDS, false);
	if (!o || o->kind == FZ_VMAREA || o->kind == FZ_ISO)
		return;
	if (o->kind == FZ_KV) {
		o->tag[0] = new_tag();
		kv_write(o);
		return;
	}
	pg = a % o->nr;
	switch (o->kind) {
	case FZ_VMAP:
	case FZ_VMRAM:
		src = &fz.obj[o->src];
		va = (char *)o->addr + pg * PG;
		pg += o->off;
		break;
	case FZ_REMAP:
		src = &fz.obj[o->src];
		va = (void *)(o->uaddr + pg * PG);
		pg += o->off;
		break;
	case FZ_VMALLOC:
	case FZ_ANON:
		src = o;
		va = (a & 0x80) ? owner_dm(o, pg) : owner_va(o, pg);
		if (!va)
			va = owner_va(o, pg);
		break;
	default:
		src = o;
		va = owner_va(o, pg);
		break;
	}
	src->tag[pg] = new_tag();
	page_write(va, src->tag[pg], pg);
}

/* Documented refusals: each must leave every counter as it was. */
static void op_bad(struct fz_in *in)
{
	unsigned a = in_u8(in), b = in_u8(in);
	uint64_t before;
	struct fz_obj *o;
	struct kmm_page *pages[2];
	int r, bugs;

	if (a % 14 == 11 || a % 14 == 12)
		ensure_mm();	/* its table pages are not the refusal's */
	kmm_drain_all_pages(NULL);
	before = kmm_nr_free_pages();
	fz.errs = 0;
	switch (a % 14) {
	case 0:
		FZ_CHECK(!kmm_vmalloc(0), "vmalloc(0) succeeded");
		break;
	case 1:
		FZ_CHECK(!kmm_vmalloc((unsigned long)(b + 1) << 36), "huge vmalloc succeeded");
		break;
	case 2:
		FZ_CHECK(!kmm_alloc_pages(KMM_GFP_KERNEL | NOWARN, KMM_MAX_PAGE_ORDER + 1 + b % 4),
			 "alloc_pages above MAX_PAGE_ORDER succeeded");
		break;
	case 3:
		r = kmm_alloc_contig_range(b, b, KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL | NOWARN);
		FZ_CHECK(r == -KMM_EINVAL, "alloc_contig_range(start == end) = %d", r);
		r = kmm_alloc_contig_range(fz.max_pfn - 1 - b % 8, fz.max_pfn + 1 + b,
					   KMM_ACR_FLAGS_NONE, KMM_GFP_KERNEL | NOWARN);
		FZ_CHECK(r == -KMM_EINVAL, "alloc_contig_range past memory = %d", r);
		break;
	case 4:
		if (fz.cma)
			FZ_CHECK(!kmm_cma_alloc(fz.cma, 0, b % 10, true), "cma_alloc(0) succeeded");
		FZ_CHECK(!kmm_cma_alloc(NULL, 1, 0, true), "cma_alloc(NULL area) succeeded");
		break;
	case 5:
		FZ_CHECK(!kmm_alloc_vm_area(0, NULL), "alloc_vm_area(0) succeeded");
		break;
	case 6:
		r = kmm_start_isolate_page_range(b + 1, b + 1, KMM_PB_ISOLATE_MODE_OTHER);
		FZ_CHECK(r == -KMM_EINVAL, "isolate of an empty range = %d", r);
		r = kmm_start_isolate_page_range(fz.max_pfn, fz.max_pfn + 1 + b, KMM_PB_ISOLATE_MODE_OTHER);
		FZ_CHECK(r == -KMM_EINVAL, "isolate past memory = %d", r);
		break;
	case 7:	/* a wrong order: reported, nothing freed */
		o = obj_pick(FZ_PAGES, b, true);
		if (!o)
			break;
		bugs = fz.bugs;
		kmm___free_pages(kmm_pfn_to_page(o->pfn), o->order + 1 + b % 2);
		FZ_CHECK(fz.errs > 0, "free with a wrong order was not reported");
		fz.bugs = bugs;	/* the kernel's "BUG: Bad page state" report, asked for */
		FZ_CHECK(kmm_page_ref_count(kmm_pfn_to_page(o->pfn)) == 1, "wrong-order free changed the refcount");
		break;
	case 8:	/* cma_release of pages that are not the area's */
		o = obj_pick(FZ_PAGES, b, false);
		if (!o || !fz.cma)
			break;
		FZ_CHECK(!kmm_cma_release(fz.cma, kmm_pfn_to_page(o->pfn), o->nr),
			 "cma_release of foreign pages succeeded");
		break;
	case 9:	/* vm_unmap_ram with the wrong count: warned, nothing changes */
		o = obj_pick(FZ_VMRAM, b, false);
		if (!o)
			break;
		kmm_vm_unmap_ram(o->addr, (unsigned)o->nr + 1 + b % 64);
		break;
	case 10: /* vfree of an address inside an area, not its start */
		o = obj_pick(FZ_VMALLOC, b, false);
		if (!o || o->nr < 2)
			break;
		kmm_vfree((char *)o->addr + PG * (1 + b % (o->nr - 1)));
		kmm_vfree(NULL);
		break;
	case 11:
		if (!ensure_mm())
			break;
		r = kmm_vm_munmap(fz.mm, 4096 * 16 + 1 + b, PG);
		FZ_CHECK(r == -KMM_EINVAL, "munmap of an unaligned address = %d", r);
		o = obj_pick(FZ_ANON, b, false);
		if (o) {
			r = kmm_vm_munmap(fz.mm, o->uaddr, 0);
			FZ_CHECK(r == -KMM_EINVAL, "munmap of length 0 = %d", r);
		}
		break;
	case 12: {
		unsigned long u;

		if (!ensure_mm())
			break;
		u = kmm_vm_mmap(fz.mm, 0, PG * (1 + b % 4), KMM_PROT_READ | KMM_PROT_WRITE,
				KMM_MAP_SHARED | KMM_MAP_ANONYMOUS, 0, NULL);
		FZ_CHECK(u == (unsigned long)-KMM_EINVAL, "shared anonymous mmap = %ld", (long)u);
		u = kmm_vm_mmap(fz.mm, 0, 0, KMM_PROT_READ, KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS, 0, NULL);
		FZ_CHECK(u == (unsigned long)-KMM_EINVAL, "mmap of length 0 = %ld", (long)u);
		break;
	}
	default:
		FZ_CHECK(!kmm_vmap(pages, 0, KMM_VM_MAP, KMM_PAGE_KERNEL), "vmap of 0 pages succeeded");
		FZ_CHECK(!kmm_vm_map_ram(pages, 0, -1), "vm_map_ram of 0 pages succeeded");
		break;
	}
	(void)pages;
	kmm_drain_all_pages(NULL);
	FZ_CHECK(kmm_nr_free_pages() == before, "a refused call changed the free count: %llu -> %llu",
		 (unsigned long long)before, (unsigned long long)kmm_nr_free_pages());
	fz.errs = 0;	/* the reports asked for */
}

/* ---- the input ----------------------------------------------------------- */

/* KMM_FUZZ_TRACE=1: one line per op with the live objects by kind. */
FZ_NOCOV static void trace_op(void)
{
	unsigned n[FZ_NKINDS] = { 0 };

	for (int i = 0; i < FZ_MAX_OBJ; i++)
		if (fz.obj[i].live)
			n[fz.obj[i].kind]++;
	fprintf(stderr, "fuzz_model: op %2u %-26s", fz.opno, fz.op);
	for (int k = 0; k < FZ_NKINDS; k++)
		if (n[k])
			fprintf(stderr, " %s=%u", fz_kind_names[k], n[k]);
	fputc('\n', stderr);
}

static void reset(void)
{
	static const enum fz_kind order[] = {
		FZ_REMAP, FZ_ANON, FZ_VMAP, FZ_VMRAM, FZ_VMAREA, FZ_ISO,
		FZ_VMALLOC, FZ_KV, FZ_CMA, FZ_CONTIG, FZ_PAGES,
	};
	uint64_t now;
	long pt;

	fz.op = "reset";
	for (unsigned k = 0; k < KMM_ARRAY_SIZE(order); k++) {
		for (int i = 0; i < FZ_MAX_OBJ; i++) {
			struct fz_obj *o = &fz.obj[i];

			if (!o->live || o->kind != order[k])
				continue;
			switch (o->kind) {
			case FZ_REMAP:
			case FZ_ANON:
				obj_check(o, true);
				FZ_CHECK(kmm_vm_munmap(fz.mm, o->uaddr, o->nr * PG) == 0, "reset munmap");
				if (o->kind == FZ_REMAP)
					fz.obj[o->src].pins--;
				obj_del(o);
				break;
			case FZ_VMAP:
			case FZ_VMRAM:
				obj_check(o, true);
				if (o->kind == FZ_VMAP)
					kmm_vunmap(o->addr);
				else
					kmm_vm_unmap_ram(o->addr, (unsigned)o->nr);
				fz.obj[o->src].pins--;
				obj_del(o);
				break;
			case FZ_VMAREA:
				kmm_free_vm_area(o->vm);
				obj_del(o);
				break;
			case FZ_ISO:
				undo_iso(o);
				break;
			default:
				FZ_CHECK(!o->pins, "%s #%u still pinned at reset", fz_kind_names[o->kind], o->id);
				free_owner(o);
				break;
			}
		}
		if (order[k] == FZ_ANON && fz.mm) {
			FZ_CHECK(kmm_mm_validate(fz.mm) == 0, "mm invalid before destroy");
			kmm_mm_destroy(fz.mm);
			fz.mm = NULL;
		}
	}
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	check_all(true);
	FZ_CHECK(!any_held(0, fz.max_pfn), "the model still holds pages after the reset");
	now = kmm_nr_free_pages();
	pt = pgtable_pages();
	FZ_CHECK(now + (uint64_t)(pt - fz.boot_pgtables) == fz.boot_free,
		 "free pages %llu + %ld page-table pages kept since boot != %llu at boot",
		 (unsigned long long)now, pt - fz.boot_pgtables, (unsigned long long)fz.boot_free);
	/* The page tables kmm keeps become the new baseline. */
	fz.boot_free = now;
	fz.boot_pgtables = pt;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *boot = getenv("KMM_FUZZ_BOOT");
	int r;

	(void)argc;
	(void)argv;
	if (fz.booted)
		return 0;
	kmm_set_log_hook(fz_log, NULL);
	r = kmm_boot(boot && *boot ? boot : FZ_DEFAULT_BOOT);
	if (r) {
		fprintf(stderr, "fuzz_model: kmm_boot(\"%s\") = %d\n", boot ? boot : FZ_DEFAULT_BOOT, r);
		abort();
	}
	kmm_bind_cpu(0);
#ifdef FZ_LSAN
	/* The memmap is host mmap() memory, which LeakSanitizer does not
	 * scan; struct page fields (page-table twins in page->index) point
	 * at heap blocks that would otherwise look leaked. */
	__lsan_register_root_region(kmm_machine.mem_map,
				    kmm_machine.max_pfn * sizeof(struct kmm_page));
#endif
	fz.booted = true;
	fz.trace = getenv("KMM_FUZZ_TRACE") != NULL;
	fz.bytes = kmm_machine.params.mode != KMM_MODE_SHADOW;
	fz.max_pfn = kmm_machine.max_pfn;
	fz.held = calloc(fz.max_pfn, 1);
	if (!fz.held)
		abort();
	fz.cma = kmm_cma_area_count() ? kmm_cma_area(0) : NULL;
	kmm_drain_all_pages(NULL);
	fz.boot_free = kmm_nr_free_pages();
	fz.boot_pgtables = pgtable_pages();
	fz.op = "boot";
	check_all(true);
	FZ_CHECK(fz.errs == 0, "boot logged errors");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };

	if (!fz.booted)
		LLVMFuzzerInitialize(NULL, NULL);
	fz.execs++;
	for (fz.opno = 0; fz.opno < FZ_MAX_OPS && in.n; fz.opno++) {
		unsigned op = in_u8(&in) % 26;

		fz.errs = 0;
		switch (op) {
		case 0: case 1: fz.op = "alloc_pages"; op_alloc_pages(&in); break;
		case 2: fz.op = "__free_pages"; op_free(&in, FZ_PAGES); break;
		case 3: case 4: fz.op = "vmalloc"; op_vmalloc(&in); break;
		case 5: fz.op = "vfree"; op_free(&in, FZ_VMALLOC); break;
		case 6: fz.op = "vmap"; op_alias(&in, FZ_VMAP); break;
		case 7: fz.op = "vunmap"; op_unalias(&in, FZ_VMAP); break;
		case 8: fz.op = "vm_map_ram"; op_alias(&in, FZ_VMRAM); break;
		case 9: fz.op = "vm_unmap_ram"; op_unalias(&in, FZ_VMRAM); break;
		case 10: fz.op = "alloc_vm_area"; op_vm_area(&in); break;
		case 11: fz.op = "free_vm_area"; op_free_vm_area(&in); break;
		case 12: fz.op = "kvmalloc"; op_kvmalloc(&in); break;
		case 13: fz.op = "kvfree"; op_free(&in, FZ_KV); break;
		case 14: fz.op = "alloc_contig_range"; op_contig(&in); break;
		case 15: fz.op = "alloc_contig_pages"; op_contig_pages(&in); break;
		case 16: fz.op = "free_contig_range"; op_free(&in, FZ_CONTIG); break;
		case 17: fz.op = "cma_alloc"; op_cma_alloc(&in); break;
		case 18: fz.op = "cma_release"; op_free(&in, FZ_CMA); break;
		case 19: fz.op = "start_isolate_page_range"; op_isolate(&in); break;
		case 20: {
			struct fz_obj *o = obj_pick(FZ_ISO, in_u8(&in), false);

			fz.op = "undo_isolate_page_range";
			if (o)
				undo_iso(o);
			break;
		}
		case 21: fz.op = "mmap"; op_mmap_anon(&in); break;
		case 22: fz.op = "munmap"; op_munmap(&in); break;
		case 23: fz.op = "remap_vmalloc_range"; op_remap(&in); break;
		case 24: fz.op = "rewrite"; op_rewrite(&in); break;
		default:
			if (in_u8(&in) & 1) {
				fz.op = "refused input";
				op_bad(&in);
			} else {
				fz.op = "drain/purge";
				kmm_drain_all_pages(NULL);
				kmm_vm_unmap_aliases();
			}
			break;
		}
		FZ_CHECK(fz.errs == 0, "%d error line(s) logged", fz.errs);
		check_all(false);
		if (fz.trace)
			trace_op();
	}
	reset();
	return 0;
}
