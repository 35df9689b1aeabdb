/* SPDX-License-Identifier: MIT */
/*
 * test_va_alloc.c - the free kernel-VA allocator (kmm/va_alloc.h) and the
 * object cache under it (kmm/objcache.h).
 *
 * Every allocation in the randomised tests is checked three ways: the
 * augmented descent (kmm_va_alloc), the linear-scan oracle
 * (kmm_va_alloc_oracle) and, written here independently, a model of the
 * kernel's own iterative find_vmap_lowest_match() walk (climb to the
 * parent, move vstart past it).  kmm_va_validate() runs after every step.
 *
 * Seed: KMM_TEST_SEED=<n> in the environment, else the clock; printed
 * (kt_seed()).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/objcache.h>
#include <kmm/va_alloc.h>

#include "kmm_test.h"

#define PG KMM_PAGE_SIZE
#define BASE 0x100000000UL
#define GIB (1UL << 30)
#define MIB (1UL << 20)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	return kt_rand(&rng_state);
}

/* The first captured log line, for assertion messages. */
static const char *first_log(void)
{
	const char *l = kt_log_find("");

	return l ? l : "(no log line)";
}

static struct kmm_objcache cache;
static struct kmm_va_space sp;

static void setup(void)
{
	kt_log_start();
	kmm_fault_reset(&kmm_fail_objcache);
	cr_assert_eq(kmm_objcache_init(&cache, "vmap_area",
				       sizeof(struct kmm_vmap_area)), 0);
}

static void teardown(void)
{
	if (sp.list.next)	/* the test initialised it */
		kmm_va_space_destroy(&sp);
	cr_expect_eq(kmm_objcache_nr_live(&cache), 0, "area objects leaked");
	cr_expect_eq(kmm_objcache_validate(&cache), 0, "%s", first_log());
	kmm_objcache_destroy(&cache);
	kmm_fault_reset(&kmm_fail_objcache);
	kt_log_stop();
	kt_log_clear();
}

TestSuite(va_alloc, .init = setup, .fini = teardown);

/* A copy of the free list, to prove that a refused call changed nothing. */
struct snap {
	unsigned long n;
	unsigned long (*r)[2];
	unsigned long largest;
};

static void snap_take(struct snap *s)
{
	struct kmm_vmap_area *va;
	unsigned long i = 0;

	s->n = sp.nr_free_areas;
	s->r = realloc(NULL, (s->n + 1) * sizeof(*s->r));
	kmm_va_for_each_free(va, &sp) {
		s->r[i][0] = va->va_start;
		s->r[i][1] = va->va_end;
		i++;
	}
	s->largest = kmm_va_largest_free(&sp);
}

static bool snap_same(const struct snap *s)
{
	struct kmm_vmap_area *va;
	unsigned long i = 0;

	if (sp.nr_free_areas != s->n || kmm_va_largest_free(&sp) != s->largest)
		return false;
	kmm_va_for_each_free(va, &sp) {
		if (i >= s->n || s->r[i][0] != va->va_start ||
		    s->r[i][1] != va->va_end)
			return false;
		i++;
	}
	return i == s->n;
}

static void snap_free(struct snap *s)
{
	free(s->r);
	s->r = NULL;
}

static void expect_valid(const char *when)
{
	int ret = kmm_va_validate(&sp);

	if (ret)
		kt_log_dump(when);
	cr_assert_eq(ret, 0, "kmm_va_validate() after %s: %s", when, first_log());
}

/* The free areas as "start-end" offsets from BASE in KiB, for messages
 * and shape assertions. */
static const char *areas(void)
{
	static char buf[8192];
	struct kmm_vmap_area *va;
	size_t len = 0;

	buf[0] = 0;
	kmm_va_for_each_free(va, &sp) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lu-%lu",
					len ? " " : "", (va->va_start - BASE) >> 10,
					(va->va_end - BASE) >> 10);
		if (len >= sizeof(buf))
			break;
	}
	return buf;
}

/*
 * An independent model of the kernel's find_vmap_lowest_match() +
 * __alloc_vmap_area(), written from its described behaviour: descend left
 * when the left subtree may hold "length" and vstart is below the node,
 * else test the node, else go right; when stuck climb the parents, testing
 * each, and re-enter a parent's right subtree (moving vstart past the
 * parent) when it may hold "length".
 */
static bool model_within(const struct kmm_vmap_area *va, unsigned long size,
			 unsigned long align, unsigned long vstart)
{
	unsigned long base = va->va_start > vstart ? va->va_start : vstart;
	unsigned long nva = (base + align - 1) & ~(align - 1);

	if (nva < base || nva + size < nva)
		return false;
	return nva + size <= va->va_end;
}

static unsigned long model_smax(const struct kmm_rb_node *n)
{
	return n ? kmm_rb_entry(n, struct kmm_vmap_area, rb_node)->subtree_max_size : 0;
}

static int model_alloc(unsigned long size, unsigned long align,
		       unsigned long vstart, unsigned long vend,
		       unsigned long *addr)
{
	const unsigned long orig_vstart = vstart;
	struct kmm_rb_node *node = sp.root.rb_node;
	struct kmm_vmap_area *va, *found = NULL;
	unsigned long length, base, nva;
	bool adjust;

	if (!size || size % PG || !align || (align & (align - 1)) || vstart >= vend ||
	    vstart % PG)
		return -KMM_EINVAL;
	adjust = !(align <= PG || vend - vstart == size);
	length = adjust ? size + align - 1 : size;
	if (length < size)
		return -KMM_ENOMEM;

	while (node && !found) {
		va = kmm_rb_entry(node, struct kmm_vmap_area, rb_node);
		if (model_smax(node->rb_left) >= length && vstart < va->va_start) {
			node = node->rb_left;
			continue;
		}
		if (model_within(va, size, align, vstart)) {
			found = va;
			break;
		}
		if (model_smax(node->rb_right) >= length) {
			node = node->rb_right;
			continue;
		}
		while ((node = kmm_rb_parent(node))) {
			va = kmm_rb_entry(node, struct kmm_vmap_area, rb_node);
			if (model_within(va, size, align, vstart)) {
				found = va;
				break;
			}
			if (model_smax(node->rb_right) >= length &&
			    vstart <= va->va_start) {
				vstart = va->va_start + 1;
				node = node->rb_right;
				break;
			}
		}
	}
	if (!found)
		return -KMM_ENOMEM;
	base = found->va_start > orig_vstart ? found->va_start : orig_vstart;
	nva = (base + align - 1) & ~(align - 1);
	if (nva + size > vend)
		return -KMM_ENOMEM;
	*addr = nva;
	return 0;
}

/* Allocate, checking the result against the oracle and the model. */
static int checked_alloc(unsigned long size, unsigned long align,
			 unsigned long vstart, unsigned long vend,
			 unsigned long *addr)
{
	unsigned long a_or = 0, a_mod = 0, a = 0;
	int r_or = kmm_va_alloc_oracle(&sp, size, align, vstart, vend, &a_or);
	int r_mod = model_alloc(size, align, vstart, vend, &a_mod);
	int r;

	cr_assert_eq(r_or, r_mod,
		     "oracle %d vs model %d: size %#lx align %#lx [%#lx, %#lx)",
		     r_or, r_mod, size, align, vstart, vend);
	if (!r_or)
		cr_assert_eq(a_or, a_mod, "oracle %#lx vs model %#lx: size %#lx align %#lx [%#lx, %#lx)",
			     a_or, a_mod, size, align, vstart, vend);
	r = kmm_va_alloc(&sp, size, align, vstart, vend, &a);
	cr_assert_eq(r, r_or, "alloc %d vs oracle %d: size %#lx align %#lx [%#lx, %#lx)",
		     r, r_or, size, align, vstart, vend);
	if (!r) {
		cr_assert_eq(a, a_or, "alloc %#lx vs oracle %#lx: size %#lx align %#lx [%#lx, %#lx)",
			     a, a_or, size, align, vstart, vend);
		cr_assert(a >= vstart && a + size <= vend && (a & (align - 1)) == 0);
		*addr = a;
	}
	return r;
}

/* ---- object cache ----------------------------------------------------------- */

Test(va_alloc, objcache_basics)
{
	struct kmm_objcache c;
	void *p[3000];
	unsigned long per_chunk;

	cr_assert_eq(kmm_objcache_init(&c, "t", 0), -KMM_EINVAL);
	cr_assert_eq(kmm_objcache_init(&c, "t", KMM_OBJCACHE_CHUNK_SIZE), -KMM_EINVAL);
	cr_assert_eq(kmm_objcache_init(&c, "t", 72), 0);
	cr_assert_eq(c.objsize, 80);
	per_chunk = c.objs_per_chunk;
	cr_assert_eq(per_chunk, (KMM_OBJCACHE_CHUNK_SIZE - 64) / 80);

	for (int i = 0; i < 3000; i++) {
		p[i] = kmm_objcache_alloc(&c);
		cr_assert_not_null(p[i]);
		cr_assert_eq((uintptr_t)p[i] % 16, 0);
		for (int b = 0; b < 80; b++)
			cr_assert_eq(((unsigned char *)p[i])[b], 0);
		memset(p[i], 0xa5, 80);
	}
	cr_assert_eq(kmm_objcache_nr_live(&c), 3000);
	cr_assert_eq(kmm_objcache_nr_chunks(&c), (3000 + per_chunk - 1) / per_chunk);
	cr_assert_eq(kmm_objcache_validate(&c), 0);

	/* LIFO reuse, zeroed again. */
	kmm_objcache_free(&c, p[10]);
	kmm_objcache_free(&c, p[20]);
	cr_assert_eq(kmm_objcache_alloc(&c), p[20]);
	cr_assert_eq(kmm_objcache_alloc(&c), p[10]);
	cr_assert_eq(((unsigned char *)p[10])[79], 0);
	kmm_objcache_free(&c, NULL);

	/* Fault point: the 2nd allocation from now fails. */
	kmm_fault_set_nth(&kmm_fail_objcache, 2);
	p[2999] = (kmm_objcache_free(&c, p[2999]), kmm_objcache_alloc(&c));
	cr_assert_not_null(p[2999]);
	cr_assert_null(kmm_objcache_alloc(&c));
	cr_assert_not_null(kmm_objcache_alloc(&c));	/* disarmed */
	cr_assert_eq(c.nr_failed, 1);
	cr_assert_eq(kmm_objcache_nr_live(&c), 3001);

	/* Destroy with live objects: freed anyway, reported. */
	kt_log_clear();
	cr_assert_eq(kmm_objcache_destroy(&c), -KMM_EBUSY);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("remaining"), "%s", first_log());
}

struct oc_thread_arg {
	struct kmm_objcache *c;
	unsigned id;
	unsigned long bad;
};

static void *oc_thread(void *p)
{
	struct oc_thread_arg *t = p;
	unsigned long *held[64] = { 0 };

	for (unsigned long i = 0; i < 100000; i++) {
		unsigned slot = (unsigned)((i * 2654435761u + t->id) % 64);

		if (held[slot]) {
			/* Nobody else wrote into our object. */
			if (held[slot][0] != (t->id << 24 | slot))
				t->bad++;
			kmm_objcache_free(t->c, held[slot]);
			held[slot] = NULL;
		} else {
			held[slot] = kmm_objcache_alloc(t->c);
			if (!held[slot] || held[slot][1] != 0)
				t->bad++;
			else
				held[slot][0] = t->id << 24 | slot;
		}
	}
	for (unsigned s = 0; s < 64; s++)
		kmm_objcache_free(t->c, held[s]);
	return NULL;
}

Test(va_alloc, objcache_threads, .timeout = 60)
{
	struct kmm_objcache c;
	struct oc_thread_arg args[4];
	pthread_t th[4];

	cr_assert_eq(kmm_objcache_init(&c, "threads", 24), 0);
	for (unsigned i = 0; i < 4; i++) {
		args[i] = (struct oc_thread_arg){ .c = &c, .id = i + 1 };
		cr_assert_eq(pthread_create(&th[i], NULL, oc_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(args[i].bad, 0, "thread %u saw %lu bad objects", i, args[i].bad);
	}
	cr_assert_eq(kmm_objcache_nr_live(&c), 0);
	cr_assert_eq(kmm_objcache_validate(&c), 0, "%s", first_log());
	cr_assert_eq(kmm_objcache_destroy(&c), 0);
}

/* ---- the four fit types -------------------------------------------------------- */

Test(va_alloc, fit_types)
{
	const unsigned long end = BASE + GIB;
	unsigned long a;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	expect_valid("init");
	cr_assert_eq(sp.nr_free_areas, 1);
	cr_assert_eq(kmm_va_largest_free(&sp), GIB);

	/* LE: the lowest page of the single area. */
	cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), 0);
	cr_assert_eq(a, BASE);
	cr_assert_eq(sp.last_fit, KMM_VA_LE_FIT);
	cr_assert_str_eq(areas(), "4-1048576");
	expect_valid("LE");

	/* RE: a window at the very top. */
	cr_assert_eq(checked_alloc(2 * PG, PG, end - 2 * PG, end, &a), 0);
	cr_assert_eq(a, end - 2 * PG);
	cr_assert_eq(sp.last_fit, KMM_VA_RE_FIT);
	cr_assert_str_eq(areas(), "4-1048568");
	expect_valid("RE");

	/* NE: vstart in the middle splits the area in two. */
	cr_assert_eq(checked_alloc(PG, PG, BASE + MIB, end, &a), 0);
	cr_assert_eq(a, BASE + MIB);
	cr_assert_eq(sp.last_fit, KMM_VA_NE_FIT);
	cr_assert_str_eq(areas(), "4-1024 1028-1048568");
	cr_assert_eq(sp.nr_free_areas, 2);
	expect_valid("NE");

	/* NE by alignment alone: 2M alignment inside [1028K, ...). */
	cr_assert_eq(checked_alloc(PG, 2 * MIB, BASE + MIB, end, &a), 0);
	cr_assert_eq(a, BASE + 2 * MIB);
	cr_assert_eq(sp.last_fit, KMM_VA_NE_FIT);
	cr_assert_str_eq(areas(), "4-1024 1028-2048 2052-1048568");
	expect_valid("NE align");

	/* FL: exactly the first area. */
	cr_assert_eq(checked_alloc(MIB - PG, PG, BASE, end, &a), 0);
	cr_assert_eq(a, BASE + PG);
	cr_assert_eq(sp.last_fit, KMM_VA_FL_FIT);
	cr_assert_str_eq(areas(), "1028-2048 2052-1048568");
	cr_assert_eq(sp.nr_free_areas, 2);
	expect_valid("FL");

	cr_assert_eq(sp.nr_fit[KMM_VA_LE_FIT], 1);
	cr_assert_eq(sp.nr_fit[KMM_VA_RE_FIT], 1);
	cr_assert_eq(sp.nr_fit[KMM_VA_NE_FIT], 2);
	cr_assert_eq(sp.nr_fit[KMM_VA_FL_FIT], 1);
	cr_assert_eq(kmm_objcache_nr_live(&cache), 2);
}

/* ---- merging on free ----------------------------------------------------------- */

Test(va_alloc, merge_on_free)
{
	const unsigned long end = BASE + 64 * PG;
	unsigned long a;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	/* Everything busy, in 1-page pieces. */
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), 0);
		cr_assert_eq(a, BASE + (unsigned long)i * PG);
	}
	cr_assert_eq(sp.nr_free_areas, 0);
	cr_assert_eq(kmm_va_largest_free(&sp), 0);
	cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), -KMM_ENOMEM);
	expect_valid("full");

	/* No neighbour: a new area. */
	cr_assert_eq(kmm_va_free(&sp, BASE + 10 * PG, PG), 0);
	cr_assert_str_eq(areas(), "40-44");
	/* Touches prev only: prev grows at its end. */
	cr_assert_eq(kmm_va_free(&sp, BASE + 11 * PG, PG), 0);
	cr_assert_str_eq(areas(), "40-48");
	cr_assert_eq(sp.nr_free_areas, 1);
	/* Touches next only: next grows down. */
	cr_assert_eq(kmm_va_free(&sp, BASE + 9 * PG, PG), 0);
	cr_assert_str_eq(areas(), "36-48");
	cr_assert_eq(sp.nr_free_areas, 1);
	expect_valid("prev/next");

	/* Both: three areas become one. */
	cr_assert_eq(kmm_va_free(&sp, BASE + 20 * PG, 2 * PG), 0);
	cr_assert_str_eq(areas(), "36-48 80-88");
	cr_assert_eq(kmm_va_free(&sp, BASE + 12 * PG, 8 * PG), 0);
	cr_assert_str_eq(areas(), "36-88");
	cr_assert_eq(sp.nr_free_areas, 1);
	cr_assert_eq(kmm_va_largest_free(&sp), 13 * PG);
	expect_valid("both");

	/* At the edges of the space. */
	cr_assert_eq(kmm_va_free(&sp, BASE, PG), 0);
	cr_assert_eq(kmm_va_free(&sp, end - PG, PG), 0);
	cr_assert_str_eq(areas(), "0-4 36-88 252-256");
	expect_valid("edges");

	/* Everything back: one area again, objects reclaimed. */
	for (int i = 1; i < 63; i++) {
		unsigned long p = BASE + (unsigned long)i * PG;

		if (!kmm_va_find_free(&sp, p))
			cr_assert_eq(kmm_va_free(&sp, p, PG), 0);
		expect_valid("refill");
	}
	cr_assert_str_eq(areas(), "0-256");
	cr_assert_eq(kmm_objcache_nr_live(&cache), 1);
}

Test(va_alloc, free_area_object)
{
	const unsigned long end = BASE + 64 * PG;
	struct kmm_vmap_area *va;
	unsigned long a;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(checked_alloc(8 * PG, PG, BASE, end, &a), 0);
	cr_assert_eq(checked_alloc(8 * PG, PG, BASE, end, &a), 0);
	cr_assert_eq(checked_alloc(8 * PG, PG, BASE, end, &a), 0);

	/* Not merged: the object itself is linked. */
	va = kmm_objcache_alloc(&cache);
	va->va_start = BASE + 8 * PG;
	va->va_end = BASE + 16 * PG;
	cr_assert_eq(kmm_va_free_area(&sp, va), 0);
	cr_assert_eq(kmm_va_find_free(&sp, BASE + 9 * PG), va);
	cr_assert_str_eq(areas(), "32-64 96-256");

	/* A double free through an object: refused, still the caller's. */
	va = kmm_objcache_alloc(&cache);
	va->va_start = BASE + 8 * PG;
	va->va_end = BASE + 9 * PG;
	cr_assert_eq(kmm_va_free_area(&sp, va), -KMM_EINVAL);
	kmm_objcache_free(&cache, va);

	/* Merged both ways: the object goes back to the cache. */
	va = kmm_objcache_alloc(&cache);
	va->va_start = BASE + 16 * PG;
	va->va_end = BASE + 24 * PG;
	cr_assert_eq(kmm_va_free_area(&sp, va), 0);
	cr_assert_str_eq(areas(), "32-256");
	cr_assert_eq(kmm_objcache_nr_live(&cache), 1);
	expect_valid("free_area");
}

Test(va_alloc, reserve)
{
	const unsigned long end = BASE + 64 * PG;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 4 * PG, 2 * PG), 0);
	cr_assert_eq(sp.last_fit, KMM_VA_NE_FIT);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 5 * PG, PG), -KMM_EBUSY);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 3 * PG, 2 * PG), -KMM_EBUSY);
	cr_assert_eq(kmm_va_reserve(&sp, BASE, 4 * PG), 0);
	cr_assert_eq(sp.last_fit, KMM_VA_FL_FIT);
	cr_assert_eq(kmm_va_reserve(&sp, end - PG, PG), 0);
	cr_assert_eq(sp.last_fit, KMM_VA_RE_FIT);
	cr_assert_eq(kmm_va_reserve(&sp, end, PG), -KMM_EINVAL);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 6 * PG, 0), -KMM_EINVAL);
	cr_assert_str_eq(areas(), "24-252");
	expect_valid("reserve");
}

/* ---- the kernel's rule, including its quirks ------------------------------------ */

Test(va_alloc, result_depends_on_tree_shape)
{
	/* Free A = [4K, 12K) and F = [64K, 128K); align 8K, size 4K:
	 * search length 12K - 1.  A fits (at 8K) but is shorter. */
	const unsigned long end = BASE + MIB;
	unsigned long a;

	/* Shape 1: F at the root, A its left child -> F wins. */
	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE, PG), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 12 * 1024, 52 * 1024), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 128 * 1024, MIB - 128 * 1024), 0);
	cr_assert_str_eq(areas(), "4-12 64-128");
	cr_assert_eq(kmm_rb_entry(sp.root.rb_node, struct kmm_vmap_area, rb_node)->va_start,
		     BASE + 64 * 1024);
	cr_assert_eq(checked_alloc(PG, 8192, BASE, end, &a), 0);
	cr_assert_eq(a, BASE + 64 * 1024, "got %#lx", a);
	kmm_va_space_destroy(&sp);

	/* Shape 2: A at the root, F its right child -> A wins. */
	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE, MIB), 0);
	cr_assert_eq(sp.nr_free_areas, 0);
	cr_assert_eq(kmm_va_free(&sp, BASE + PG, 2 * PG), 0);
	cr_assert_eq(kmm_va_free(&sp, BASE + 64 * 1024, 64 * 1024), 0);
	cr_assert_str_eq(areas(), "4-12 64-128");
	cr_assert_eq(checked_alloc(PG, 8192, BASE, end, &a), 0);
	cr_assert_eq(a, BASE + 8192, "got %#lx", a);
	expect_valid("shape 2");
}

Test(va_alloc, exact_window_is_not_adjusted)
{
	/* Small free areas, then X = [8M, 10M) as a leaf; nothing is
	 * 4M - 1 long.  align 2M, size 2M. */
	const unsigned long end = BASE + 64 * MIB, x = BASE + 8 * MIB;
	unsigned long a;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE, 64 * MIB), 0);
	cr_assert_eq(kmm_va_free(&sp, BASE + 4 * 1024, PG), 0);
	cr_assert_eq(kmm_va_free(&sp, BASE + 16 * 1024, PG), 0);
	cr_assert_eq(kmm_va_free(&sp, BASE + 32 * 1024, PG), 0);
	cr_assert_eq(kmm_va_free(&sp, x, 2 * MIB), 0);
	cr_assert_neq(sp.root.rb_node,
		      &kmm_va_find_free(&sp, x)->rb_node);

	/* A wider window searches for 4M - 1 and finds nothing, although X
	 * would fit: the kernel fails this too. */
	cr_assert_eq(checked_alloc(2 * MIB, 2 * MIB, x, x + 2 * MIB + PG, &a),
		     -KMM_ENOMEM);
	/* The window exactly size long is searched for size: X. */
	cr_assert_eq(checked_alloc(2 * MIB, 2 * MIB, x, x + 2 * MIB, &a), 0);
	cr_assert_eq(a, x);
	cr_assert_eq(sp.last_fit, KMM_VA_FL_FIT);
	expect_valid("exact window");
}

Test(va_alloc, vend_is_not_retried)
{
	/* The lowest match decides: if it ends past vend the call fails
	 * even when a later area would not matter (none can be lower). */
	const unsigned long end = BASE + 64 * PG;
	unsigned long a;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(checked_alloc(8 * PG, PG, BASE, BASE + 4 * PG, &a), -KMM_ENOMEM);
	cr_assert_eq(checked_alloc(4 * PG, PG, BASE, BASE + 4 * PG, &a), 0);
	cr_assert_eq(checked_alloc(PG, PG, BASE, BASE + 4 * PG, &a), -KMM_ENOMEM);
	cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), 0);
	cr_assert_eq(a, BASE + 4 * PG);
	/* Windows partly outside the space are fine. */
	cr_assert_eq(checked_alloc(PG, PG, 0, BASE + 6 * PG, &a), 0);
	cr_assert_eq(a, BASE + 5 * PG);
	cr_assert_eq(checked_alloc(PG, PG, end - PG, ~0UL, &a), 0);
	cr_assert_eq(a, end - PG);
	cr_assert_eq(checked_alloc(PG, PG, end, ~0UL, &a), -KMM_ENOMEM);
	expect_valid("vend");
}

/* ---- refusals --------------------------------------------------------------- */

Test(va_alloc, bad_input_changes_nothing)
{
	const unsigned long end = BASE + 64 * MIB;
	struct snap s;
	unsigned long a = 0x1234;

	cr_assert_eq(kmm_va_space_init(&sp, BASE + 1, end, &cache), -KMM_EINVAL);
	cr_assert_eq(kmm_va_space_init(&sp, end, BASE, &cache), -KMM_EINVAL);
	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	/* Some structure to protect. */
	cr_assert_eq(kmm_va_reserve(&sp, BASE + MIB, MIB), 0);
	cr_assert_eq(kmm_va_reserve(&sp, BASE + 4 * MIB, 3 * PG), 0);
	snap_take(&s);

	/* Allocation requests. */
	cr_assert_eq(kmm_va_alloc(&sp, 0, PG, BASE, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG + 1, PG, BASE, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG, 3 * PG, BASE, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG, 0, BASE, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG, PG, end, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG, PG, end, BASE, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, PG, 1, BASE + 100, end, &a), -KMM_EINVAL);
	cr_assert_eq(kmm_va_alloc(&sp, ~0UL & KMM_PAGE_MASK, 1UL << 63, BASE, end, &a),
		     -KMM_ENOMEM);
	cr_assert_eq(kmm_va_alloc(&sp, 128 * MIB, PG, BASE, ~0UL, &a), -KMM_ENOMEM);
	cr_assert_eq(a, 0x1234, "addr written on failure");
	cr_assert(snap_same(&s));
	cr_assert_eq(kmm_va_alloc_oracle(&sp, 0, PG, BASE, end, &a), -KMM_EINVAL);

	/* Frees: each refused with exactly one log line. */
	struct {
		unsigned long addr, size;
		const char *why;
	} bad[] = {
		{ BASE + 2 * MIB, 0, "empty" },
		{ BASE + MIB + 1, PG, "misaligned" },
		{ BASE + MIB, PG + 1, "misaligned" },
		{ BASE - PG, PG, "outside" },
		{ end, PG, "outside" },
		{ end - PG, 2 * PG, "outside" },
		{ ~0UL & KMM_PAGE_MASK, 2 * PG, "outside" },		/* wraps */
		{ BASE + 8 * MIB, PG, "overlaps" },			/* double free */
		{ BASE + MIB - PG, 2 * PG, "overlaps" },		/* overlap below */
		{ BASE + 2 * MIB - PG, 2 * PG, "overlaps" },		/* overlap above */
		{ BASE + MIB - PG, MIB + 2 * PG, "overlaps" },		/* covers a busy range */
		{ BASE, 64 * MIB, "overlaps" },				/* everything */
	};
	for (unsigned i = 0; i < KMM_ARRAY_SIZE(bad); i++) {
		kt_log_clear();
		cr_assert_eq(kmm_va_free(&sp, bad[i].addr, bad[i].size), -KMM_EINVAL,
			     "bad free #%u [%#lx + %#lx)", i, bad[i].addr, bad[i].size);
		cr_assert_eq(kt_log_lines(), 1, "bad free #%u logged %d lines", i,
			     kt_log_lines());
		cr_assert(kt_log_find(bad[i].why), "bad free #%u: %s", i, first_log());
		cr_assert(snap_same(&s), "bad free #%u changed the space: %s", i, areas());
		expect_valid("bad free");
	}
	snap_free(&s);
}

Test(va_alloc, exhaustion)
{
	const unsigned long end = BASE + GIB;
	unsigned long a, n = 0, pages = 0;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	while (checked_alloc(2 * MIB, 2 * MIB, BASE, end, &a) == 0)
		n++;
	cr_assert_eq(n, 512);
	cr_assert_eq(sp.nr_free_areas, 0);
	cr_assert_eq(kmm_va_largest_free(&sp), 0);
	cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), -KMM_ENOMEM);
	cr_assert_eq(checked_alloc(PG, 1, 0, ~0UL, &a), -KMM_ENOMEM);
	expect_valid("empty");

	/* Free every other 2M block, then exhaust by pages. */
	for (unsigned long i = 0; i < 512; i += 2)
		cr_assert_eq(kmm_va_free(&sp, BASE + i * 2 * MIB, 2 * MIB), 0);
	cr_assert_eq(sp.nr_free_areas, 256);
	cr_assert_eq(checked_alloc(4 * MIB, PG, BASE, end, &a), -KMM_ENOMEM);
	while (checked_alloc(3 * PG, PG, BASE, end, &a) == 0)
		pages += 3;
	/* 2M = 512 pages = 170 * 3 + 2: two pages left in each block. */
	cr_assert_eq(pages, 256 * 510);
	cr_assert_eq(kmm_va_largest_free(&sp), 2 * PG);
	while (checked_alloc(PG, PG, BASE, end, &a) == 0)
		pages++;
	cr_assert_eq(pages, 256 * 512);
	cr_assert_eq(sp.nr_free_areas, 0);
	expect_valid("exhausted");

	/* All back. */
	for (unsigned long i = 0; i < 512; i++)
		cr_assert_eq(kmm_va_free(&sp, BASE + i * 2 * MIB, 2 * MIB), 0);
	cr_assert_eq(sp.nr_free_areas, 1);
	cr_assert_eq(kmm_va_largest_free(&sp), GIB);
	expect_valid("refilled");
}

/* ---- fault injection: every object allocation can fail ------------------------ */

Test(va_alloc, objcache_failure_rolls_back)
{
	const unsigned long end = BASE + GIB;
	struct snap s;
	unsigned long a = 0;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	cr_assert_eq(checked_alloc(PG, PG, BASE, end, &a), 0);

	/* NE split without an object: -ENOMEM, nothing changed. */
	snap_take(&s);
	kmm_fault_set_nth(&kmm_fail_objcache, 1);
	cr_assert_eq(kmm_va_alloc(&sp, PG, PG, BASE + MIB, end, &a), -KMM_ENOMEM);
	cr_assert_eq(atomic_load(&kmm_fail_objcache.injected), 1);
	cr_assert(snap_same(&s), "%s", areas());
	expect_valid("NE failure");
	/* LE/RE/FL need no object: unaffected by an armed fault. */
	kmm_fault_set_nth(&kmm_fail_objcache, 1);
	cr_assert_eq(kmm_va_alloc(&sp, PG, PG, BASE, end, &a), 0);
	cr_assert_eq(a, BASE + PG);
	kmm_fault_set_nth(&kmm_fail_objcache, 0);
	snap_free(&s);

	/* Now it works. */
	cr_assert_eq(checked_alloc(PG, PG, BASE + MIB, end, &a), 0);
	cr_assert_eq(sp.last_fit, KMM_VA_NE_FIT);

	/* A free that merges with nothing needs an object too. */
	snap_take(&s);
	kmm_fault_set_nth(&kmm_fail_objcache, 1);
	cr_assert_eq(kmm_va_free(&sp, BASE, PG), -KMM_ENOMEM);
	cr_assert(snap_same(&s));
	expect_valid("free failure");
	/* A merging free needs none. */
	kmm_fault_set_nth(&kmm_fail_objcache, 1);
	cr_assert_eq(kmm_va_free(&sp, BASE + MIB, PG), 0);
	kmm_fault_set_nth(&kmm_fail_objcache, 0);
	snap_free(&s);
	expect_valid("after");

	/* init without an object. */
	kmm_va_space_destroy(&sp);
	kmm_fault_set_nth(&kmm_fail_objcache, 1);
	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), -KMM_ENOMEM);
	cr_assert_eq(sp.nr_free_areas, 0);
}

/* ---- randomised torture ----------------------------------------------------- */

struct busy {
	unsigned long addr, size;
};

static unsigned long rand_align(void)
{
	unsigned r = (unsigned)(rng() % 16);

	if (r == 0)
		return 1UL << (rng() % 12);		/* below a page */
	return 1UL << (12 + rng() % 10);		/* 4K .. 2M */
}

static void torture(const char *name, uint64_t salt, unsigned long steps,
		    bool faults)
{
	const unsigned long start = BASE, end = BASE + GIB;
	struct busy *busy = calloc(1 << 16, sizeof(*busy));
	unsigned long nbusy = 0, nalloc = 0, nfail = 0, nfree = 0, ninj = 0;
	unsigned long nwin = 0, nexact = 0;
	struct snap s = { 0 };

	cr_assert_not_null(busy);
	rng_state = kt_seed(name) + salt;
	cr_assert_eq(kmm_va_space_init(&sp, start, end, &cache), 0);

	for (unsigned long step = 0; step < steps; step++) {
		unsigned r = (unsigned)(rng() % 100);

		if (faults && rng() % 8 == 0)
			kmm_fault_set_nth(&kmm_fail_objcache, 1 + (long)(rng() % 3));

		if (r < 55 || nbusy == 0) {
			unsigned long size = (1 + rng() % 1000) * PG;
			unsigned long align = rand_align();
			unsigned long vstart = start, vend = end, a = 0;
			int ret;

			r = (unsigned)(rng() % 100);
			if (r < 40) {
				/* A random window, possibly past the space. */
				vstart = start - 16 * PG + (rng() % ((end - start) / PG)) * PG;
				vend = vstart + (1 + rng() % ((end - start) / PG)) * PG;
				nwin++;
			} else if (r < 50) {
				/* A window exactly size long, aligned or not. */
				vstart = start + (rng() % ((end - start) / PG)) * PG;
				if (rng() % 2)
					vstart = (vstart + align - 1) & ~(align - 1);
				vend = vstart + size;
				nexact++;
			}

			if (faults) {
				unsigned long ao = 0;
				int ro = kmm_va_alloc_oracle(&sp, size, align, vstart, vend, &ao);
				unsigned long inj = atomic_load(&kmm_fail_objcache.injected);

				snap_free(&s);
				snap_take(&s);
				ret = kmm_va_alloc(&sp, size, align, vstart, vend, &a);
				if (ret == -KMM_ENOMEM && ro == 0) {
					/* Injected: must have changed nothing. */
					cr_assert(snap_same(&s), "step %lu: failed alloc changed the space", step);
					cr_assert_eq(atomic_load(&kmm_fail_objcache.injected), inj + 1,
						     "step %lu: -ENOMEM without an injected failure", step);
					ninj++;
				} else {
					cr_assert_eq(ret, ro, "step %lu", step);
					if (!ret)
						cr_assert_eq(a, ao, "step %lu", step);
				}
			} else {
				ret = checked_alloc(size, align, vstart, vend, &a);
			}
			if (!ret) {
				cr_assert_lt(nbusy, 1 << 16);
				busy[nbusy].addr = a;
				busy[nbusy].size = size;
				nbusy++;
				nalloc++;
			} else {
				nfail++;
			}
		} else if (r < 95) {
			unsigned long i = rng() % nbusy;
			unsigned long sz = busy[i].size, part = sz;
			int ret;

			/* Sometimes give back only the head or the tail. */
			if (sz > PG && rng() % 8 == 0)
				part = (1 + rng() % (sz / PG - 1)) * PG;
			if (part != sz && rng() % 2) {
				ret = kmm_va_free(&sp, busy[i].addr + sz - part, part);
				if (!ret)
					busy[i].size -= part;
			} else {
				ret = kmm_va_free(&sp, busy[i].addr, part);
				if (!ret) {
					busy[i].addr += part;
					busy[i].size -= part;
				}
			}
			if (faults && ret == -KMM_ENOMEM) {
				ninj++;
			} else {
				cr_assert_eq(ret, 0, "step %lu: free [%#lx + %#lx): %s", step,
					     busy[i].addr, part, first_log());
				nfree++;
			}
			if (busy[i].size == 0)
				busy[i] = busy[--nbusy];
		} else {
			/* A double free or an overlap: refused, unchanged. */
			struct kmm_vmap_area *va = kmm_va_find_free(&sp,
				start + (rng() % ((end - start) / PG)) * PG);

			if (va) {
				unsigned long lo = va->va_start, hi = va->va_end;
				unsigned long from = lo - PG * (rng() % 3);
				unsigned long to = hi + PG * (rng() % 3);

				if (from < start)
					from = start;
				if (to > end)
					to = end;
				snap_free(&s);
				snap_take(&s);
				cr_assert_eq(kmm_va_free(&sp, from, to - from), -KMM_EINVAL);
				cr_assert(snap_same(&s), "step %lu: refused free changed the space", step);
			}
		}
		kmm_fault_set_nth(&kmm_fail_objcache, 0);

		if (kmm_va_validate(&sp)) {
			kt_log_dump("torture");
			cr_assert_fail("step %lu: kmm_va_validate() failed", step);
		}
	}

	/* Free everything: back to one area. */
	while (nbusy) {
		nbusy--;
		cr_assert_eq(kmm_va_free(&sp, busy[nbusy].addr, busy[nbusy].size), 0,
			     "%s", first_log());
	}
	expect_valid("drained");
	cr_assert_eq(sp.nr_free_areas, 1);
	cr_assert_eq(kmm_va_largest_free(&sp), end - start);
	fprintf(stderr, "%s: %lu steps: %lu allocs ok (FL %lu LE %lu RE %lu NE %lu), %lu failed, %lu frees, %lu injected; %lu random windows, %lu exact windows\n",
		name, steps, nalloc, sp.nr_fit[KMM_VA_FL_FIT], sp.nr_fit[KMM_VA_LE_FIT],
		sp.nr_fit[KMM_VA_RE_FIT], sp.nr_fit[KMM_VA_NE_FIT], nfail, nfree, ninj,
		nwin, nexact);
	if (!faults)
		for (int t = KMM_VA_FL_FIT; t < KMM_VA_NR_FIT_TYPES; t++)
			cr_assert_gt(sp.nr_fit[t], 0, "fit type %d never hit", t);
	snap_free(&s);
	free(busy);
}

Test(va_alloc, torture_seed_a, .timeout = 300)
{
	torture("va_alloc.torture_seed_a", 0, 30000, false);
}

Test(va_alloc, torture_seed_b, .timeout = 300)
{
	torture("va_alloc.torture_seed_b", 0x9e3779b97f4a7c15ULL, 30000, false);
}

Test(va_alloc, torture_with_faults, .timeout = 300)
{
	torture("va_alloc.torture_with_faults", 0x51ed270b27a6c3fULL, 20000, true);
}

/* ---- scale ---------------------------------------------------------------- */

static double now_ns(void)
{
	return kt_now() * 1e9;
}

/*
 * @n + 1 busy 1-page areas with a freed 1-page guard between each two: n
 * free fragments, then the free tail.  Then time alloc+free
 * pairs of three kinds.
 */
static void scale_run(unsigned long n, unsigned long iters, double out[4])
{
	const unsigned long end = BASE + 64 * GIB;
	unsigned long a, g;
	double t0, t1;

	cr_assert_eq(kmm_va_space_init(&sp, BASE, end, &cache), 0);
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		cr_assert_eq(kmm_va_alloc(&sp, PG, PG, BASE, end, &a), 0);
		cr_assert_eq(kmm_va_alloc(&sp, PG, PG, BASE, end, &g), 0);
	}
	/* One more busy page keeps the last guard apart from the tail. */
	cr_assert_eq(kmm_va_alloc(&sp, PG, PG, BASE, end, &a), 0);
	for (unsigned long i = 0; i < n; i++)
		cr_assert_eq(kmm_va_free(&sp, BASE + (2 * i + 1) * PG, PG), 0);
	t1 = now_ns();
	out[0] = (t1 - t0) / (double)(3 * n + 1);
	cr_assert_eq(sp.nr_free_areas, n + 1);

	/* 1 page: the lowest hole (FL fit), then back (a new free area). */
	t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		kmm_va_alloc(&sp, PG, PG, BASE, end, &a);
		kmm_va_free(&sp, a, PG);
	}
	out[1] = (now_ns() - t0) / (double)iters;
	cr_assert_eq(a, BASE + PG);

	/* 2 pages: no hole fits, the descent prunes down to the tail (LE
	 * fit), then back (merge with next). */
	t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		kmm_va_alloc(&sp, 2 * PG, PG, BASE, end, &a);
		kmm_va_free(&sp, a, 2 * PG);
	}
	out[2] = (now_ns() - t0) / (double)iters;
	cr_assert_eq(a, BASE + (2 * n + 1) * PG);

	/* 1 page at 2M alignment and a vstart far up: NE split, then a
	 * merge with both neighbours. */
	t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		kmm_va_alloc(&sp, PG, 2 * MIB, end - GIB, end, &a);
		kmm_va_free(&sp, a, PG);
	}
	out[3] = (now_ns() - t0) / (double)iters;
	cr_assert_eq(a, end - GIB);
	cr_assert_eq(sp.nr_free_areas, n + 1);
	expect_valid("scale");
	kmm_va_space_destroy(&sp);
}

Test(va_alloc, scale_1m_fragments, .timeout = 300)
{
	double small[4], big[4];
	unsigned long a;

	scale_run(1000, 200000, small);
	scale_run(1000000, 200000, big);
	fprintf(stderr,
		"va_alloc.scale: ns per op     build(alloc/free)  hole alloc+free  tail alloc+free  NE alloc+free\n"
		"va_alloc.scale:   1K live     %8.1f          %8.1f         %8.1f         %8.1f\n"
		"va_alloc.scale:   1M live     %8.1f          %8.1f         %8.1f         %8.1f\n",
		small[0], small[1], small[2], small[3], big[0], big[1], big[2], big[3]);

	/* The oracle agrees on the big tree too (one check, it is O(n)). */
	cr_assert_eq(kmm_va_space_init(&sp, BASE, BASE + 64 * GIB, &cache), 0);
	for (unsigned long i = 0; i < 100000; i++) {
		/* busy, hole, busy */
		cr_assert_eq(kmm_va_alloc(&sp, 3 * PG, PG, BASE, BASE + 64 * GIB, &a), 0);
		cr_assert_eq(kmm_va_free(&sp, a + PG, PG), 0);
	}
	cr_assert_eq(sp.nr_free_areas, 100001);
	cr_assert_eq(checked_alloc(2 * PG, 4 * PG, BASE + PG, BASE + 64 * GIB, &a), 0);
	cr_assert_eq(a, BASE + 300000 * PG);
	cr_assert_eq(checked_alloc(PG, PG, BASE + 3 * PG, BASE + 64 * GIB, &a), 0);
	cr_assert_eq(a, BASE + 4 * PG);
	/* 8-page alignment: search length 9 pages - 1, which only the tail
	 * has; but a 1-page hole at an 8-page boundary that lies on the path
	 * down to the tail is taken first, as the kernel would (the oracle
	 * and the model inside checked_alloc() agree on which). */
	cr_assert_eq(checked_alloc(PG, 8 * PG, BASE, BASE + 64 * GIB, &a), 0);
	cr_assert_eq(a % (8 * PG), 0);
	cr_assert(a < BASE + 300008 * PG, "got %#lx", a);
	fprintf(stderr, "va_alloc.scale: 1 page at 8-page alignment over 100k 1-page holes: hole at page %lu (the tail starts at page 300002)\n",
		(a - BASE) / PG);
	expect_valid("scale");
}
