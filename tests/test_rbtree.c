/* SPDX-License-Identifier: MIT */
/*
 * test_rbtree.c - the intrusive red-black tree (kmm/rbtree.h).
 *
 *   shapes:     hand-worked insert/erase sequences give the textbook (and
 *               kernel) shapes and colours
 *   random:     100k keys, random insert/erase/reweight, validation every
 *               1000 steps, augmented maximum checked against brute force,
 *               in-order walk checked against the key bitmap
 *   validator:  corrupted trees are refused with -EINVAL and a log line
 *
 * Seed: KMM_TEST_SEED=<n> in the environment, else the clock; printed
 * (kt_seed()).
 */
#include <stdlib.h>
#include <string.h>

#include <kmm/lib.h>
#include <kmm/rbtree.h>

#include "kmm_test.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	return kt_rand(&rng_state);
}

static void quiet_setup(void)
{
	kt_log_start();
}

static void quiet_teardown(void)
{
	kt_log_stop();
	kt_log_clear();
}

/* The first captured line (for assertion messages). */
static const char *first_log(void)
{
	const char *l = kt_log_find("");

	return l ? l : "(no log line)";
}

/* A keyed node with an augmented "max weight in subtree". */
struct item {
	unsigned long key;
	unsigned long weight;
	unsigned long max_weight;	/* augmented */
	struct kmm_rb_node rb;
	bool in_tree;
};

static inline unsigned long item_weight(const struct item *it)
{
	return it->weight;
}

KMM_RB_DECLARE_AUGMENT_MAX(static, item_aug, struct item, rb, unsigned long,
			   max_weight, item_weight);

#define item_of(n) kmm_rb_entry(n, struct item, rb)

static int item_cmp(const struct kmm_rb_node *a, const struct kmm_rb_node *b)
{
	unsigned long x = item_of(a)->key, y = item_of(b)->key;

	return x < y ? -1 : x > y;
}

/* Plain (unaugmented) insert by key. */
static void insert_plain(struct kmm_rb_root *root, struct item *it)
{
	struct kmm_rb_node **link = &root->rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		link = it->key < item_of(parent)->key ? &parent->rb_left
						      : &parent->rb_right;
	}
	kmm_rb_link_node(&it->rb, parent, link);
	kmm_rb_insert_color(&it->rb, root);
	it->in_tree = true;
}

/* Augmented insert by key: follow the insertion contract. */
static void insert_aug(struct kmm_rb_root *root, struct item *it)
{
	struct kmm_rb_node **link = &root->rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		link = it->key < item_of(parent)->key ? &parent->rb_left
						      : &parent->rb_right;
	}
	it->max_weight = it->weight;
	kmm_rb_link_node(&it->rb, parent, link);
	if (parent)
		item_aug.propagate(parent, NULL);
	kmm_rb_insert_augmented(&it->rb, root, &item_aug);
	it->in_tree = true;
}

/* Brute force: recompute every subtree maximum; count mismatches. */
static unsigned long check_max(struct kmm_rb_node *n, unsigned long *bad)
{
	unsigned long m, l, r;

	if (!n)
		return 0;
	l = check_max(n->rb_left, bad);
	r = check_max(n->rb_right, bad);
	m = item_of(n)->weight;
	if (l > m)
		m = l;
	if (r > m)
		m = r;
	if (item_of(n)->max_weight != m)
		(*bad)++;
	return m;
}

/* Shape notation: "key+colour(left,right)", '-' for NULL. */
static void shape(const struct kmm_rb_node *n, char *buf, size_t sz)
{
	size_t len = strlen(buf);

	if (!n) {
		snprintf(buf + len, sz - len, "-");
		return;
	}
	snprintf(buf + len, sz - len, "%lu%c", item_of(n)->key,
		 kmm_rb_is_black(n) ? 'B' : 'R');
	if (!n->rb_left && !n->rb_right)
		return;
	len = strlen(buf);
	snprintf(buf + len, sz - len, "(");
	shape(n->rb_left, buf, sz);
	len = strlen(buf);
	snprintf(buf + len, sz - len, ",");
	shape(n->rb_right, buf, sz);
	len = strlen(buf);
	snprintf(buf + len, sz - len, ")");
}

static const char *shape_of(const struct kmm_rb_root *root)
{
	static char buf[4096];

	buf[0] = 0;
	shape(root->rb_node, buf, sizeof(buf));
	return buf;
}

TestSuite(rbtree, .init = quiet_setup, .fini = quiet_teardown);

/* ---- hand-worked shapes --------------------------------------------------- */

Test(rbtree, empty_tree)
{
	struct kmm_rb_root root = KMM_RB_ROOT;
	size_t n = 99;

	cr_assert_null(kmm_rb_first(&root));
	cr_assert_null(kmm_rb_last(&root));
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, &n), 0);
	cr_assert_eq(n, 0);
}

Test(rbtree, ascending_insert_shapes)
{
	struct kmm_rb_root root = KMM_RB_ROOT;
	struct item it[8];
	static const char *const expect[] = {
		"1B",
		"1B(-,2R)",
		"2B(1R,3R)",
		"2B(1B,3B(-,4R))",
		"2B(1B,4B(3R,5R))",
		"2B(1B,4R(3B,5B(-,6R)))",
		"2B(1B,4R(3B,6B(5R,7R)))",
	};

	memset(it, 0, sizeof(it));
	for (unsigned i = 0; i < KMM_ARRAY_SIZE(expect); i++) {
		it[i].key = i + 1;
		insert_plain(&root, &it[i]);
		cr_assert_str_eq(shape_of(&root), expect[i], "after inserting %u", i + 1);
		cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);
	}
}

Test(rbtree, erase_shapes)
{
	struct kmm_rb_root root = KMM_RB_ROOT;
	struct item it[6];

	memset(it, 0, sizeof(it));
	for (unsigned i = 0; i < 6; i++) {
		it[i].key = i + 1;
		insert_plain(&root, &it[i]);
	}
	cr_assert_str_eq(shape_of(&root), "2B(1B,4R(3B,5B(-,6R)))");

	/* Two children, successor (3) deeper than the right child: the
	 * deficit at 4's left is fixed by case 4 (far nephew 6 red). */
	kmm_rb_erase(&it[1].rb, &root);
	cr_assert_str_eq(shape_of(&root), "3B(1B,5R(4B,6B))");
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);

	/* Black leaf 6 whose sibling 4 is black with black children: case 2,
	 * and the red parent 5 absorbs the deficit. */
	kmm_rb_erase(&it[5].rb, &root);
	cr_assert_str_eq(shape_of(&root), "3B(1B,5B(4R,-))");
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);

	/* Black leaf 1, sibling 5 black with a red near child 4: case 3
	 * then case 4. */
	kmm_rb_erase(&it[0].rb, &root);
	cr_assert_str_eq(shape_of(&root), "4B(3B,5B)");
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);

	/* Root with two children, successor is the right child. */
	kmm_rb_erase(&it[3].rb, &root);
	cr_assert_str_eq(shape_of(&root), "5B(3R,-)");
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);

	kmm_rb_erase(&it[4].rb, &root);
	cr_assert_str_eq(shape_of(&root), "3B");
	kmm_rb_erase(&it[2].rb, &root);
	cr_assert_null(root.rb_node);
}

Test(rbtree, erase_red_sibling_case1)
{
	/* Keys 10,5,20,15,25,30: 20 red with black children 15, 25(-,30R).
	 * Erasing 5 (black leaf) sees a red sibling 20: case 1 first. */
	struct kmm_rb_root root = KMM_RB_ROOT;
	static const unsigned long keys[] = { 10, 5, 20, 15, 25, 30 };
	struct item it[6];

	memset(it, 0, sizeof(it));
	for (unsigned i = 0; i < 6; i++) {
		it[i].key = keys[i];
		insert_plain(&root, &it[i]);
	}
	cr_assert_str_eq(shape_of(&root), "10B(5B,20R(15B,25B(-,30R)))");
	kmm_rb_erase(&it[1].rb, &root);
	cr_assert_str_eq(shape_of(&root), "20B(10B(-,15R),25B(-,30R))");
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);
}

/* ---- randomised ----------------------------------------------------------- */

#define NKEYS 100000
#define NSTEPS 300000

Test(rbtree, random_100k_augmented, .timeout = 120)
{
	struct kmm_rb_root root = KMM_RB_ROOT;
	struct item *items = calloc(NKEYS, sizeof(*items));
	unsigned long live = 0, checks = 0;

	cr_assert_not_null(items);
	rng_state = kt_seed("rbtree.random_100k_augmented");
	for (unsigned long k = 0; k < NKEYS; k++) {
		/* Keys spaced out so neighbours have room; shuffled weights. */
		items[k].key = k * 3 + 7;
	}

	for (unsigned long step = 1; step <= NSTEPS; step++) {
		struct item *it = &items[rng() % NKEYS];
		unsigned r = (unsigned)(rng() % 100);

		if (!it->in_tree) {
			/* Bias towards growth in the first third. */
			if (r < 90 || step > NSTEPS / 3) {
				it->weight = rng() % 1000000;
				insert_aug(&root, it);
				live++;
			}
		} else if (r < 15) {
			/* Change the weight in place, then propagate. */
			it->weight = rng() % 1000000;
			item_aug.propagate(&it->rb, NULL);
		} else {
			kmm_rb_erase_augmented(&it->rb, &root, &item_aug);
			it->in_tree = false;
			live--;
		}

		if (step % 1000 == 0) {
			size_t n = 0;
			unsigned long bad = 0, brute = 0, seen = 0, prevkey = 0;
			struct kmm_rb_node *rb;

			cr_assert_eq(kmm_rb_validate(&root, item_cmp, &n), 0,
				     "step %lu: %s", step, first_log());
			cr_assert_eq(n, live, "step %lu: %zu nodes, %lu live", step, n, live);
			check_max(root.rb_node, &bad);
			cr_assert_eq(bad, 0, "step %lu: %lu wrong subtree maxima", step, bad);

			/* In-order walk == the bitmap, forwards... */
			rb = kmm_rb_first(&root);
			for (unsigned long k = 0; k < NKEYS; k++) {
				if (!items[k].in_tree)
					continue;
				cr_assert_eq(rb, &items[k].rb, "step %lu: walk differs at key %lu",
					     step, items[k].key);
				if (items[k].weight > brute)
					brute = items[k].weight;
				rb = kmm_rb_next(rb);
				seen++;
			}
			cr_assert_null(rb);
			cr_assert_eq(seen, live);
			/* ... and backwards. */
			rb = kmm_rb_last(&root);
			for (unsigned long k = NKEYS; k-- > 0;) {
				if (!items[k].in_tree)
					continue;
				cr_assert_eq(rb, &items[k].rb);
				if (prevkey)
					cr_assert_lt(items[k].key, prevkey);
				prevkey = items[k].key;
				rb = kmm_rb_prev(rb);
			}
			cr_assert_null(rb);
			cr_assert_eq(root.rb_node ? item_of(root.rb_node)->max_weight : 0,
				     brute, "step %lu: root max differs from brute force", step);
			checks++;
		}
	}
	fprintf(stderr, "rbtree.random_100k_augmented: %d steps, %lu validations, %lu live at the end\n",
		NSTEPS, checks, live);

	/* Drain through erase_augmented, validating now and then. */
	for (unsigned long k = 0; k < NKEYS; k++) {
		if (!items[k].in_tree)
			continue;
		kmm_rb_erase_augmented(&items[k].rb, &root, &item_aug);
		items[k].in_tree = false;
		if (--live % 5000 == 0) {
			unsigned long bad = 0;

			cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), 0);
			check_max(root.rb_node, &bad);
			cr_assert_eq(bad, 0);
		}
	}
	cr_assert_null(root.rb_node);
	free(items);
}

Test(rbtree, duplicates_and_height)
{
	/* 4096 equal keys inserted "to the right": still balanced. */
	struct kmm_rb_root root = KMM_RB_ROOT;
	static struct item it[4096];
	size_t n;
	unsigned depth = 0;
	struct kmm_rb_node *rb;

	for (unsigned i = 0; i < 4096; i++) {
		it[i].key = 42;
		insert_plain(&root, &it[i]);
	}
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, &n), 0);
	cr_assert_eq(n, 4096);
	/* Insertion order is kept among equal keys. */
	rb = kmm_rb_first(&root);
	for (unsigned i = 0; i < 4096; i++, rb = kmm_rb_next(rb))
		cr_assert_eq(rb, &it[i].rb);
	/* Height <= 2 log2(n + 1) = 24. */
	for (unsigned i = 0; i < 4096; i++) {
		unsigned d = 0;

		for (rb = &it[i].rb; rb; rb = kmm_rb_parent(rb))
			d++;
		if (d > depth)
			depth = d;
	}
	cr_assert_leq(depth, 24);
}

/* ---- the validator catches corruption ------------------------------------- */

static void build7(struct kmm_rb_root *root, struct item *it)
{
	memset(it, 0, 7 * sizeof(*it));
	*root = KMM_RB_ROOT;
	for (unsigned i = 0; i < 7; i++) {
		it[i].key = i + 1;
		insert_plain(root, &it[i]);
	}
	/* "2B(1B,4R(3B,6B(5R,7R)))" */
}

Test(rbtree, validator_catches_corruption)
{
	struct kmm_rb_root root;
	struct item it[7];
	uintptr_t saved;

	/* Red root. */
	build7(&root, it);
	root.rb_node->rb_parent_color &= ~(uintptr_t)KMM_RB_BLACK;
	kt_log_clear();
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("root"), "%s", first_log());

	/* Red node (4) with a red child: paint 6 red. */
	build7(&root, it);
	it[5].rb.rb_parent_color &= ~(uintptr_t)KMM_RB_BLACK;
	kt_log_clear();
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("red child"), "%s", first_log());

	/* Black heights differ: paint 5 black. */
	build7(&root, it);
	it[4].rb.rb_parent_color |= KMM_RB_BLACK;
	kt_log_clear();
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("black height"), "%s", first_log());

	/* Wrong parent pointer: 7 claims 4 as parent. */
	build7(&root, it);
	saved = it[6].rb.rb_parent_color;
	it[6].rb.rb_parent_color = (uintptr_t)&it[3].rb | (saved & KMM_RB_BLACK);
	kt_log_clear();
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("parent"), "%s", first_log());

	/* Order: keys 3 and 5 swapped. */
	build7(&root, it);
	it[2].key = 5;
	it[4].key = 3;
	kt_log_clear();
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
	cr_assert_eq(kt_log_lines(), 1);
	cr_assert(kt_log_find("order"), "%s", first_log());
	/* Without a comparison the shape alone is valid. */
	cr_assert_eq(kmm_rb_validate(&root, NULL, NULL), 0);

	/* A child pointing back up (a cycle) is caught by the parent check. */
	build7(&root, it);
	it[6].rb.rb_left = &it[3].rb;
	cr_assert_eq(kmm_rb_validate(&root, item_cmp, NULL), -KMM_EINVAL);
}
