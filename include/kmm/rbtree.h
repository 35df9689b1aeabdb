/* SPDX-License-Identifier: MIT */
/*
 * kmm/rbtree.h - an intrusive red-black tree, optionally augmented.
 *
 * The node lives inside the caller's structure (struct kmm_rb_node); the
 * tree never allocates.  Like the kernel's lib/rbtree.c the caller does the
 * search: it walks from the root to find the link (a NULL child pointer)
 * where the new node belongs, links it there with kmm_rb_link_node() and
 * then calls kmm_rb_insert_color() to rebalance.  Duplicate keys are the
 * caller's business (it decides which way to go on equality).
 *
 * Rebalancing is the textbook bottom-up algorithm (Cormen et al., ch. 13):
 * insertion recolours while the uncle is red and otherwise does one or two
 * rotations; erasure of a node with two children moves its in-order
 * successor into its place, and a black deficit is repaired with the four
 * sibling cases.  For the same sequence of operations this gives the same
 * tree shape and colours as the kernel's rbtree, which matters because
 * the vmalloc free-space search (kmm/va_alloc.h) returns results that
 * depend on the shape.
 *
 * Augmented trees keep a per-node value computed from the node and its
 * children (for example the largest free block in the subtree).  The
 * _augmented variants take struct kmm_rb_augment_callbacks:
 *   propagate(node, stop)  recompute the value of @node and of its
 *                          ancestors, stopping before @stop (NULL: go to the
 *                          root); it may stop early at the first node whose
 *                          value did not change;
 *   copy(old, new)         @new takes @old's place in the tree: copy the
 *                          value (the subtree is the same set of nodes);
 *   rotate(old, new)       a rotation made @new the parent of @old: @new
 *                          takes @old's value, @old's is recomputed.
 * KMM_RB_DECLARE_AUGMENT_MAX() generates all three for the common "maximum
 * over the subtree" value.
 *
 * Insertion contract for augmented trees: before kmm_rb_insert_augmented()
 * the new node's value must be computed (a leaf: its own value) and the
 * values of its ancestors updated (propagate from the parent), because
 * rotations only move values that are already right.
 *
 * Locking: none; the tree is protected by its owner's lock.
 * Cost: insert, erase O(log n); first/last/next/prev O(log n) worst case,
 * O(1) amortised over a full walk.
 */
#ifndef KMM_RBTREE_H
#define KMM_RBTREE_H

#include <kmm/types.h>

struct kmm_rb_node {
	uintptr_t rb_parent_color;	/* parent pointer | colour in bit 0 */
	struct kmm_rb_node *rb_left;
	struct kmm_rb_node *rb_right;
} __attribute__((aligned(sizeof(long))));

struct kmm_rb_root {
	struct kmm_rb_node *rb_node;
};

#define KMM_RB_ROOT ((struct kmm_rb_root){ NULL })

/* Colour bit: 0 red, 1 black.  A NULL child counts as black. */
#define KMM_RB_RED 0UL
#define KMM_RB_BLACK 1UL

#define kmm_rb_entry(ptr, type, member) kmm_container_of(ptr, type, member)
#define kmm_rb_entry_safe(ptr, type, member) \
	((ptr) ? kmm_rb_entry(ptr, type, member) : NULL)

static inline struct kmm_rb_node *kmm_rb_parent(const struct kmm_rb_node *n)
{
	return (struct kmm_rb_node *)(n->rb_parent_color & ~(uintptr_t)3);
}

static inline bool kmm_rb_is_black(const struct kmm_rb_node *n)
{
	return !n || (n->rb_parent_color & KMM_RB_BLACK);
}

static inline bool kmm_rb_is_red(const struct kmm_rb_node *n)
{
	return !kmm_rb_is_black(n);
}

static inline bool kmm_rb_empty_root(const struct kmm_rb_root *root)
{
	return root->rb_node == NULL;
}

/*
 * A node that is not in any tree points to itself; kmm_rb_clear_node()
 * marks it so and kmm_rb_empty_node() tests for it.
 */
static inline void kmm_rb_clear_node(struct kmm_rb_node *n)
{
	n->rb_parent_color = (uintptr_t)n;
}

static inline bool kmm_rb_empty_node(const struct kmm_rb_node *n)
{
	return n->rb_parent_color == (uintptr_t)n;
}

/**
 * kmm_rb_link_node - put @node, red and childless, at @link under @parent.
 * @link: &parent->rb_left, &parent->rb_right, or &root->rb_node (then
 *   @parent is NULL).  Follow with kmm_rb_insert_color() or
 *   kmm_rb_insert_augmented().
 */
static inline void kmm_rb_link_node(struct kmm_rb_node *node,
				    struct kmm_rb_node *parent,
				    struct kmm_rb_node **link)
{
	node->rb_parent_color = (uintptr_t)parent | KMM_RB_RED;
	node->rb_left = NULL;
	node->rb_right = NULL;
	*link = node;
}

struct kmm_rb_augment_callbacks {
	void (*propagate)(struct kmm_rb_node *node, struct kmm_rb_node *stop);
	void (*copy)(struct kmm_rb_node *old, struct kmm_rb_node *new_node);
	void (*rotate)(struct kmm_rb_node *old, struct kmm_rb_node *new_node);
};

/** kmm_rb_insert_color - rebalance after kmm_rb_link_node(). */
void kmm_rb_insert_color(struct kmm_rb_node *node, struct kmm_rb_root *root);

/** kmm_rb_erase - unlink @node (which must be in @root) and rebalance. */
void kmm_rb_erase(struct kmm_rb_node *node, struct kmm_rb_root *root);

/**
 * kmm_rb_insert_augmented - kmm_rb_insert_color() keeping augmented values
 * through the rotations.  See the insertion contract above.
 */
void kmm_rb_insert_augmented(struct kmm_rb_node *node, struct kmm_rb_root *root,
			     const struct kmm_rb_augment_callbacks *cb);

/**
 * kmm_rb_erase_augmented - kmm_rb_erase() keeping augmented values: every
 * node whose subtree lost @node is recomputed.  The tree must have been
 * consistent before the call (values of nodes whose own weight changed
 * must have been propagated, or @node must be one of them).
 */
void kmm_rb_erase_augmented(struct kmm_rb_node *node, struct kmm_rb_root *root,
			    const struct kmm_rb_augment_callbacks *cb);

/* In-order navigation; NULL at the ends or on an empty tree. */
struct kmm_rb_node *kmm_rb_first(const struct kmm_rb_root *root);
struct kmm_rb_node *kmm_rb_last(const struct kmm_rb_root *root);
struct kmm_rb_node *kmm_rb_next(const struct kmm_rb_node *node);
struct kmm_rb_node *kmm_rb_prev(const struct kmm_rb_node *node);

/**
 * kmm_rb_cmp_fn - order of two nodes for kmm_rb_validate(): negative when
 * @a sorts before @b, 0 when equal, positive when after.
 */
typedef int (*kmm_rb_cmp_fn)(const struct kmm_rb_node *a,
			     const struct kmm_rb_node *b);

/**
 * kmm_rb_validate - check a tree: parent pointers agree with child
 * pointers, the root is black, no red node has a red child, every path
 * from the root to a NULL leaf has the same number of black nodes, the
 * height is possible for a red-black tree, and (when @cmp is not NULL)
 * the in-order sequence never goes backwards (cmp(prev, next) <= 0).
 * @nr_nodes: out (may be NULL): the number of nodes.
 * Context: the caller's lock; reads only.
 * Return: 0, or -EINVAL after logging the first violation.
 */
int kmm_rb_validate(const struct kmm_rb_root *root, kmm_rb_cmp_fn cmp,
		    size_t *nr_nodes);

/**
 * KMM_RB_DECLARE_AUGMENT_MAX - generate callbacks for a "maximum over the
 * subtree" augmented value.
 * @attr:   storage class of the generated callbacks object (e.g. static)
 * @name:   name of the struct kmm_rb_augment_callbacks object; helpers get
 *          it as a prefix (@name##_compute, @name##_propagate, ...)
 * @type:   the structure that embeds the node
 * @field:  the struct kmm_rb_node member of @type
 * @vtype:  type of the augmented value
 * @aug:    member of @type holding the augmented value
 * @own:    function (const @type *) -> @vtype: the node's own weight
 *
 * Also generates
 *   bool @name##_compute(@type *n, bool stop_if_same): set n->@aug to the
 *     max of @own(n) and the children's values; returns true when
 *     @stop_if_same and the value was already right (nothing written).
 */
#define KMM_RB_DECLARE_AUGMENT_MAX(attr, name, type, field, vtype, aug, own)	\
static inline bool name##_compute(type *n, bool stop_if_same)			\
{										\
	vtype m = own(n);							\
	if (n->field.rb_left) {							\
		type *c_ = kmm_rb_entry(n->field.rb_left, type, field);		\
		if (c_->aug > m)						\
			m = c_->aug;						\
	}									\
	if (n->field.rb_right) {						\
		type *c_ = kmm_rb_entry(n->field.rb_right, type, field);	\
		if (c_->aug > m)						\
			m = c_->aug;						\
	}									\
	if (stop_if_same && n->aug == m)					\
		return true;							\
	n->aug = m;								\
	return false;								\
}										\
static void name##_propagate(struct kmm_rb_node *rb, struct kmm_rb_node *stop)	\
{										\
	for (; rb != stop; rb = kmm_rb_parent(rb))				\
		if (name##_compute(kmm_rb_entry(rb, type, field), true))	\
			break;							\
}										\
static void name##_copy(struct kmm_rb_node *o, struct kmm_rb_node *n)		\
{										\
	kmm_rb_entry(n, type, field)->aug = kmm_rb_entry(o, type, field)->aug;	\
}										\
static void name##_rotate(struct kmm_rb_node *o, struct kmm_rb_node *n)	\
{										\
	type *old_ = kmm_rb_entry(o, type, field);				\
	kmm_rb_entry(n, type, field)->aug = old_->aug;				\
	name##_compute(old_, false);						\
}										\
attr const struct kmm_rb_augment_callbacks name = {				\
	.propagate = name##_propagate,						\
	.copy = name##_copy,							\
	.rotate = name##_rotate,						\
}

#endif /* KMM_RBTREE_H */
