/* SPDX-License-Identifier: MIT */
/*
 * rbtree.c - red-black tree rebalancing (see kmm/rbtree.h).
 *
 * Invariants of a red-black tree (NULL children count as black leaves):
 *   1. every node is red or black; the root is black;
 *   2. a red node has no red child;
 *   3. every path from a node down to a NULL leaf crosses the same number
 *      of black nodes (its black height).
 * Hence the height is at most 2 * log2(n + 1).
 *
 * Insertion (new node red, linked by the caller):
 *   parent black            -> done
 *   parent red, uncle red   -> parent and uncle black, grandparent red,
 *                              continue from the grandparent
 *   parent red, uncle black -> if the node is an "inner" grandchild, rotate
 *                              it up over its parent first (now "outer");
 *                              then colour the parent black, the
 *                              grandparent red and rotate the grandparent
 *                              down towards the uncle.  Done.
 *
 * Erasure: a node with at most one child is replaced by that child; a node
 * with two children is replaced by its in-order successor (the leftmost
 * node of its right subtree), which takes its colour, and the successor's
 * old position is the one removed.  Removing a red node, or a black node
 * with a (necessarily red) child that can be painted black, keeps the
 * black heights.  Otherwise one path is a black short ("x", possibly
 * NULL) and we fix it, with w the sibling of x:
 *   case 1: w red          -> rotate the parent towards x, recolour, so the
 *                             new sibling is black; go on
 *   case 2: w black, both nephews black
 *                          -> paint w red: the deficit moves to the parent
 *                             (if the parent was red paint it black: done)
 *   case 3: w black, far nephew black, near nephew red
 *                          -> rotate w away from x: the far nephew is red
 *   case 4: w black, far nephew red
 *                          -> rotate the parent towards x, w takes the
 *                             parent's colour, parent and far nephew black.
 *                             Done.
 *
 * Augmented values are kept by calling the callbacks at each structural
 * change: rotate() at every rotation, copy() when the successor replaces
 * the erased node, propagate() along the path whose subtrees lost a node.
 */
#include <kmm/lib.h>
#include <kmm/rbtree.h>

/* ---- small helpers ------------------------------------------------------ */

static inline void rb_set_parent(struct kmm_rb_node *n, struct kmm_rb_node *p)
{
	n->rb_parent_color = (uintptr_t)p | (n->rb_parent_color & KMM_RB_BLACK);
}

static inline void rb_set_parent_color(struct kmm_rb_node *n,
				       struct kmm_rb_node *p, uintptr_t color)
{
	n->rb_parent_color = (uintptr_t)p | color;
}

static inline uintptr_t rb_color(const struct kmm_rb_node *n)
{
	return n->rb_parent_color & KMM_RB_BLACK;
}

static inline void rb_set_black(struct kmm_rb_node *n)
{
	n->rb_parent_color |= KMM_RB_BLACK;
}

static inline void rb_set_red(struct kmm_rb_node *n)
{
	n->rb_parent_color &= ~(uintptr_t)KMM_RB_BLACK;
}

static inline void rb_set_color(struct kmm_rb_node *n, uintptr_t color)
{
	n->rb_parent_color = (n->rb_parent_color & ~(uintptr_t)KMM_RB_BLACK) | color;
}

/* In @parent (or the root when @parent is NULL), make @new_node the child
 * that @old was. */
static inline void rb_replace_child(struct kmm_rb_node *old,
				    struct kmm_rb_node *new_node,
				    struct kmm_rb_node *parent,
				    struct kmm_rb_root *root)
{
	if (!parent)
		root->rb_node = new_node;
	else if (parent->rb_left == old)
		parent->rb_left = new_node;
	else
		parent->rb_right = new_node;
}

/*
 *      x                y
 *     / \              / \
 *    a   y     ->     x   c
 *       / \          / \
 *      b   c        a   b
 * Colours are left alone; the callers recolour.
 */
static void rb_rotate_left(struct kmm_rb_node *x, struct kmm_rb_root *root,
			   const struct kmm_rb_augment_callbacks *cb)
{
	struct kmm_rb_node *y = x->rb_right;
	struct kmm_rb_node *p = kmm_rb_parent(x);

	x->rb_right = y->rb_left;
	if (y->rb_left)
		rb_set_parent(y->rb_left, x);
	y->rb_left = x;
	rb_set_parent(y, p);
	rb_replace_child(x, y, p, root);
	rb_set_parent(x, y);
	if (cb)
		cb->rotate(x, y);
}

/* The mirror image of rb_rotate_left(). */
static void rb_rotate_right(struct kmm_rb_node *x, struct kmm_rb_root *root,
			    const struct kmm_rb_augment_callbacks *cb)
{
	struct kmm_rb_node *y = x->rb_left;
	struct kmm_rb_node *p = kmm_rb_parent(x);

	x->rb_left = y->rb_right;
	if (y->rb_right)
		rb_set_parent(y->rb_right, x);
	y->rb_right = x;
	rb_set_parent(y, p);
	rb_replace_child(x, y, p, root);
	rb_set_parent(x, y);
	if (cb)
		cb->rotate(x, y);
}

/* ---- insertion ---------------------------------------------------------- */

static void rb_insert_fixup(struct kmm_rb_node *node, struct kmm_rb_root *root,
			    const struct kmm_rb_augment_callbacks *cb)
{
	for (;;) {
		struct kmm_rb_node *parent = kmm_rb_parent(node);
		struct kmm_rb_node *gparent, *uncle;

		if (!parent) {
			rb_set_black(node);	/* the root */
			return;
		}
		if (kmm_rb_is_black(parent))
			return;
		/* A red parent is never the root, so the grandparent exists. */
		gparent = kmm_rb_parent(parent);

		if (parent == gparent->rb_left) {
			uncle = gparent->rb_right;
			if (kmm_rb_is_red(uncle)) {
				rb_set_black(parent);
				rb_set_black(uncle);
				rb_set_red(gparent);
				node = gparent;
				continue;
			}
			if (node == parent->rb_right) {
				rb_rotate_left(parent, root, cb);
				parent = node;	/* the old node is on top now */
			}
			rb_set_black(parent);
			rb_set_red(gparent);
			rb_rotate_right(gparent, root, cb);
			return;
		}

		uncle = gparent->rb_left;
		if (kmm_rb_is_red(uncle)) {
			rb_set_black(parent);
			rb_set_black(uncle);
			rb_set_red(gparent);
			node = gparent;
			continue;
		}
		if (node == parent->rb_left) {
			rb_rotate_right(parent, root, cb);
			parent = node;
		}
		rb_set_black(parent);
		rb_set_red(gparent);
		rb_rotate_left(gparent, root, cb);
		return;
	}
}

void kmm_rb_insert_color(struct kmm_rb_node *node, struct kmm_rb_root *root)
{
	rb_insert_fixup(node, root, NULL);
}

void kmm_rb_insert_augmented(struct kmm_rb_node *node, struct kmm_rb_root *root,
			     const struct kmm_rb_augment_callbacks *cb)
{
	rb_insert_fixup(node, root, cb);
}

/* ---- erasure ------------------------------------------------------------ */

/*
 * Repair a black deficit on the path through the child of @parent that
 * lost a black node.  That child is NULL when we start (the removed black
 * leaf's place); later it is an ancestor.
 */
static void rb_erase_fixup(struct kmm_rb_node *parent, struct kmm_rb_root *root,
			   const struct kmm_rb_augment_callbacks *cb)
{
	struct kmm_rb_node *x = NULL, *w;

	while (parent) {
		if (x == parent->rb_left) {
			w = parent->rb_right;	/* never NULL: it has a black to spare */
			if (kmm_rb_is_red(w)) {				/* case 1 */
				rb_set_black(w);
				rb_set_red(parent);
				rb_rotate_left(parent, root, cb);
				w = parent->rb_right;
			}
			if (kmm_rb_is_black(w->rb_left) &&
			    kmm_rb_is_black(w->rb_right)) {		/* case 2 */
				rb_set_red(w);
				x = parent;
				parent = kmm_rb_parent(x);
				if (kmm_rb_is_red(x)) {
					rb_set_black(x);
					return;
				}
				continue;
			}
			if (kmm_rb_is_black(w->rb_right)) {		/* case 3 */
				rb_set_black(w->rb_left);
				rb_set_red(w);
				rb_rotate_right(w, root, cb);
				w = parent->rb_right;
			}
			rb_set_color(w, rb_color(parent));		/* case 4 */
			rb_set_black(parent);
			rb_set_black(w->rb_right);
			rb_rotate_left(parent, root, cb);
			return;
		}

		w = parent->rb_left;
		if (kmm_rb_is_red(w)) {
			rb_set_black(w);
			rb_set_red(parent);
			rb_rotate_right(parent, root, cb);
			w = parent->rb_left;
		}
		if (kmm_rb_is_black(w->rb_left) && kmm_rb_is_black(w->rb_right)) {
			rb_set_red(w);
			x = parent;
			parent = kmm_rb_parent(x);
			if (kmm_rb_is_red(x)) {
				rb_set_black(x);
				return;
			}
			continue;
		}
		if (kmm_rb_is_black(w->rb_left)) {
			rb_set_black(w->rb_right);
			rb_set_red(w);
			rb_rotate_left(w, root, cb);
			w = parent->rb_left;
		}
		rb_set_color(w, rb_color(parent));
		rb_set_black(parent);
		rb_set_black(w->rb_left);
		rb_rotate_right(parent, root, cb);
		return;
	}
	/* The deficit reached the root: every path lost one, nothing to do. */
}

static void rb_erase_common(struct kmm_rb_node *z, struct kmm_rb_root *root,
			    const struct kmm_rb_augment_callbacks *cb)
{
	struct kmm_rb_node *parent = kmm_rb_parent(z);
	struct kmm_rb_node *fix_parent = NULL;	/* where a deficit starts */
	struct kmm_rb_node *child, *y, *x, *xparent;

	if (!z->rb_left || !z->rb_right) {
		child = z->rb_left ? z->rb_left : z->rb_right;
		rb_replace_child(z, child, parent, root);
		if (child) {
			/* z is black with one red child: paint it black. */
			rb_set_parent_color(child, parent, KMM_RB_BLACK);
		} else if (kmm_rb_is_black(z)) {
			fix_parent = parent;
		}
		if (cb && parent)
			cb->propagate(parent, NULL);
		if (fix_parent)
			rb_erase_fixup(fix_parent, root, cb);
		return;
	}

	/* Two children: the successor y (no left child) takes z's place. */
	y = z->rb_right;
	while (y->rb_left)
		y = y->rb_left;
	x = y->rb_right;
	if (y == z->rb_right) {
		xparent = y;
	} else {
		xparent = kmm_rb_parent(y);
		xparent->rb_left = x;
		if (x)
			rb_set_parent(x, xparent);
		y->rb_right = z->rb_right;
		rb_set_parent(z->rb_right, y);
	}
	y->rb_left = z->rb_left;
	rb_set_parent(z->rb_left, y);

	if (x) {
		/* y was black with a red right child: that child keeps the
		 * black count of y's old path. */
		rb_set_black(x);
	} else if (kmm_rb_is_black(y)) {
		fix_parent = xparent;
	}
	rb_set_parent_color(y, parent, rb_color(z));
	rb_replace_child(z, y, parent, root);

	if (cb) {
		/* y now spans z's old subtree (minus z): start from z's value. */
		cb->copy(z, y);
		if (xparent != y)
			cb->propagate(xparent, y);	/* these lost y */
		cb->propagate(y, NULL);			/* these lost z */
	}
	if (fix_parent)
		rb_erase_fixup(fix_parent, root, cb);
}

void kmm_rb_erase(struct kmm_rb_node *node, struct kmm_rb_root *root)
{
	rb_erase_common(node, root, NULL);
}

void kmm_rb_erase_augmented(struct kmm_rb_node *node, struct kmm_rb_root *root,
			    const struct kmm_rb_augment_callbacks *cb)
{
	rb_erase_common(node, root, cb);
}

/* ---- navigation --------------------------------------------------------- */

struct kmm_rb_node *kmm_rb_first(const struct kmm_rb_root *root)
{
	struct kmm_rb_node *n = root->rb_node;

	if (!n)
		return NULL;
	while (n->rb_left)
		n = n->rb_left;
	return n;
}

struct kmm_rb_node *kmm_rb_last(const struct kmm_rb_root *root)
{
	struct kmm_rb_node *n = root->rb_node;

	if (!n)
		return NULL;
	while (n->rb_right)
		n = n->rb_right;
	return n;
}

struct kmm_rb_node *kmm_rb_next(const struct kmm_rb_node *node)
{
	struct kmm_rb_node *p;

	if (node->rb_right) {
		node = node->rb_right;
		while (node->rb_left)
			node = node->rb_left;
		return (struct kmm_rb_node *)node;
	}
	/* Climb while we are a right child; the first "left turn" parent. */
	while ((p = kmm_rb_parent(node)) && node == p->rb_right)
		node = p;
	return p;
}

struct kmm_rb_node *kmm_rb_prev(const struct kmm_rb_node *node)
{
	struct kmm_rb_node *p;

	if (node->rb_left) {
		node = node->rb_left;
		while (node->rb_right)
			node = node->rb_right;
		return (struct kmm_rb_node *)node;
	}
	while ((p = kmm_rb_parent(node)) && node == p->rb_left)
		node = p;
	return p;
}

/* ---- validation --------------------------------------------------------- */

/* A red-black tree of at most 2^64 nodes is at most 128 levels deep. */
#define RB_MAX_DEPTH 128

struct rb_check {
	kmm_rb_cmp_fn cmp;
	const struct kmm_rb_node *prev;	/* in-order predecessor so far */
	size_t nr;
};

/* Return the black height of @n's subtree (NULL: 1), or -1 on an error. */
static int rb_check_subtree(const struct kmm_rb_node *n,
			    const struct kmm_rb_node *parent, unsigned depth,
			    struct rb_check *st)
{
	int lh, rh;

	if (!n)
		return 1;
	if (depth >= RB_MAX_DEPTH) {
		kmm_pr_err("rbtree: deeper than %u levels at node %p",
			   RB_MAX_DEPTH, (const void *)n);
		return -1;
	}
	if (kmm_rb_parent(n) != parent) {
		kmm_pr_err("rbtree: node %p has parent %p, expected %p",
			   (const void *)n, (void *)kmm_rb_parent(n),
			   (const void *)parent);
		return -1;
	}
	if (n->rb_parent_color & 2) {
		kmm_pr_err("rbtree: node %p has a stray bit set", (const void *)n);
		return -1;
	}
	if (kmm_rb_is_red(n) &&
	    (kmm_rb_is_red(n->rb_left) || kmm_rb_is_red(n->rb_right))) {
		kmm_pr_err("rbtree: red node %p has a red child", (const void *)n);
		return -1;
	}

	lh = rb_check_subtree(n->rb_left, n, depth + 1, st);
	if (lh < 0)
		return -1;

	if (st->cmp && st->prev && st->cmp(st->prev, n) > 0) {
		kmm_pr_err("rbtree: order violated: node %p sorts after its in-order successor %p",
			   (const void *)st->prev, (const void *)n);
		return -1;
	}
	st->prev = n;
	st->nr++;

	rh = rb_check_subtree(n->rb_right, n, depth + 1, st);
	if (rh < 0)
		return -1;
	if (lh != rh) {
		kmm_pr_err("rbtree: node %p: black height %d on the left, %d on the right",
			   (const void *)n, lh, rh);
		return -1;
	}
	return lh + (kmm_rb_is_black(n) ? 1 : 0);
}

int kmm_rb_validate(const struct kmm_rb_root *root, kmm_rb_cmp_fn cmp,
		    size_t *nr_nodes)
{
	struct rb_check st = { .cmp = cmp, .prev = NULL, .nr = 0 };

	if (nr_nodes)
		*nr_nodes = 0;
	if (root->rb_node && kmm_rb_is_red(root->rb_node)) {
		kmm_pr_err("rbtree: root %p is red", (const void *)root->rb_node);
		return -KMM_EINVAL;
	}
	if (rb_check_subtree(root->rb_node, NULL, 0, &st) < 0)
		return -KMM_EINVAL;
	if (nr_nodes)
		*nr_nodes = st.nr;
	return 0;
}
