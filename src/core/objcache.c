/* SPDX-License-Identifier: MIT */
/*
 * objcache.c - fixed-size object cache (see kmm/objcache.h).
 *
 * Layout of a chunk (KMM_OBJCACHE_CHUNK_SIZE bytes from the port):
 *
 *   +--------+-------+-------+-------+-- ... --+-------+-------+
 *   | header | obj 0 | obj 1 | obj 2 |         | obj n-1 | slack |
 *   +--------+-------+-------+-------+-- ... --+-------+-------+
 *     64 B     objsize each, n = (64 KiB - 64) / objsize
 *
 * Allocation order: the freelist (most recently freed first, so the
 * object is likely still in cache), then the bump pointer into the newest
 * chunk, then a new chunk.  A free object's first word links the freelist.
 *
 * Invariant (under the lock):
 *   nr_live + |freelist| + bump_left == nr_chunks * objs_per_chunk
 *
 * Lock: c->lock, a leaf lock (nothing is called with it held except
 * kmm_port_meta_alloc/free and the fault point).
 */
#include <kmm/lib.h>
#include <kmm/objcache.h>

struct kmm_objcache_chunk {
	struct kmm_objcache_chunk *next;
	unsigned long pad[7];		/* objects start 64 bytes in */
};

#define CHUNK_HDR sizeof(struct kmm_objcache_chunk)

_Static_assert(sizeof(struct kmm_objcache_chunk) == 64,
	       "objcache chunk header must stay one cache line");

struct kmm_fault_attr kmm_fail_objcache = {
	.name = "fail_objcache",
};

struct free_obj {
	struct free_obj *next;
};

/* Objects live and chunks held by every cache together (for leak checks). */
static atomic_long objcache_total_live, objcache_total_chunks;

long kmm_objcache_total_live(void)
{
	return atomic_load(&objcache_total_live);
}

long kmm_objcache_total_chunks(void)
{
	return atomic_load(&objcache_total_chunks);
}

int kmm_objcache_init(struct kmm_objcache *c, const char *name, size_t objsize)
{
	size_t sz;

	if (!c || objsize == 0 || objsize > KMM_OBJCACHE_CHUNK_SIZE - CHUNK_HDR)
		return -KMM_EINVAL;
	sz = KMM_ALIGN_UP(objsize, KMM_OBJCACHE_ALIGN);
	if (sz < sizeof(struct free_obj))
		sz = sizeof(struct free_obj);

	kmm_memset(c, 0, sizeof(*c));
	kmm_port_lock_init(&c->lock);
	c->name = name ? name : "objcache";
	c->objsize = sz;
	c->objs_per_chunk = (KMM_OBJCACHE_CHUNK_SIZE - CHUNK_HDR) / sz;
	c->initialized = true;
	return 0;
}

/* With c->lock held: make a fresh chunk the bump source.  false: no memory. */
static bool objcache_grow(struct kmm_objcache *c)
{
	struct kmm_objcache_chunk *ch = kmm_port_meta_alloc(KMM_OBJCACHE_CHUNK_SIZE);

	if (!ch)
		return false;
	ch->next = c->chunks;
	c->chunks = ch;
	c->nr_chunks++;
	atomic_fetch_add(&objcache_total_chunks, 1);
	/* Only called when the bump source is used up (bump_left == 0). */
	c->bump = (char *)ch + CHUNK_HDR;
	c->bump_left = c->objs_per_chunk;
	return true;
}

void *kmm_objcache_alloc(struct kmm_objcache *c)
{
	void *obj = NULL;

	if (kmm_should_fail(&kmm_fail_objcache, c->objsize)) {
		kmm_port_lock(&c->lock);
		c->nr_failed++;
		kmm_port_unlock(&c->lock);
		return NULL;
	}

	kmm_port_lock(&c->lock);
	if (c->freelist) {
		struct free_obj *f = c->freelist;

		c->freelist = f->next;
		obj = f;
	} else if (c->bump_left || objcache_grow(c)) {
		obj = c->bump;
		c->bump += c->objsize;
		c->bump_left--;
	}
	if (obj) {
		c->nr_live++;
		c->nr_allocs++;
		atomic_fetch_add(&objcache_total_live, 1);
	} else {
		c->nr_failed++;
	}
	kmm_port_unlock(&c->lock);

	if (obj)
		kmm_memset(obj, 0, c->objsize);
	return obj;
}

void kmm_objcache_free(struct kmm_objcache *c, void *obj)
{
	struct free_obj *f = obj;

	if (!obj)
		return;
	kmm_port_lock(&c->lock);
	if (kmm_unlikely(c->nr_live == 0)) {
		kmm_port_unlock(&c->lock);
		kmm_pr_err("objcache %s: free of %p with no live objects (double free?)",
			   c->name, obj);
		return;
	}
	f->next = c->freelist;
	c->freelist = f;
	c->nr_live--;
	c->nr_frees++;
	atomic_fetch_sub(&objcache_total_live, 1);
	kmm_port_unlock(&c->lock);
}

int kmm_objcache_destroy(struct kmm_objcache *c)
{
	struct kmm_objcache_chunk *ch, *next;
	int ret = 0;

	if (!c || !c->initialized)
		return 0;
	if (c->nr_live) {
		kmm_pr_err("objcache %s: destroyed with %lu objects remaining",
			   c->name, c->nr_live);
		ret = -KMM_EBUSY;
	}
	for (ch = c->chunks; ch; ch = next) {
		next = ch->next;
		kmm_port_meta_free(ch, KMM_OBJCACHE_CHUNK_SIZE);
	}
	kmm_port_lock_destroy(&c->lock);
	c->chunks = NULL;
	c->freelist = NULL;
	c->bump = NULL;
	c->bump_left = 0;
	atomic_fetch_sub(&objcache_total_live, (long)c->nr_live);
	atomic_fetch_sub(&objcache_total_chunks, (long)c->nr_chunks);
	c->nr_live = 0;
	c->nr_chunks = 0;
	c->initialized = false;
	return ret;
}

unsigned long kmm_objcache_nr_live(struct kmm_objcache *c)
{
	unsigned long n;

	kmm_port_lock(&c->lock);
	n = c->nr_live;
	kmm_port_unlock(&c->lock);
	return n;
}

unsigned long kmm_objcache_nr_chunks(struct kmm_objcache *c)
{
	unsigned long n;

	kmm_port_lock(&c->lock);
	n = c->nr_chunks;
	kmm_port_unlock(&c->lock);
	return n;
}

/* Is @p the start of an object slot of some chunk of @c? */
static bool objcache_owns(const struct kmm_objcache *c, const void *p)
{
	const struct kmm_objcache_chunk *ch;

	for (ch = c->chunks; ch; ch = ch->next) {
		const char *lo = (const char *)ch + CHUNK_HDR;
		const char *hi = lo + c->objs_per_chunk * c->objsize;
		const char *q = p;

		if (q >= lo && q < hi)
			return (size_t)(q - lo) % c->objsize == 0;
	}
	return false;
}

int kmm_objcache_validate(struct kmm_objcache *c)
{
	unsigned long capacity, nr_free = 0, nr_chunks = 0;
	const struct kmm_objcache_chunk *ch;
	const struct free_obj *f;
	int ret = 0;

	kmm_port_lock(&c->lock);
	for (ch = c->chunks; ch; ch = ch->next) {
		if (++nr_chunks > c->nr_chunks)
			break;
	}
	if (nr_chunks != c->nr_chunks) {
		kmm_pr_err("objcache %s: %lu chunks counted, %lu recorded",
			   c->name, nr_chunks, c->nr_chunks);
		ret = -KMM_EINVAL;
		goto out;
	}
	capacity = c->nr_chunks * c->objs_per_chunk;
	for (f = c->freelist; f; f = f->next) {
		if (++nr_free > capacity) {
			kmm_pr_err("objcache %s: freelist longer than the capacity (%lu): a cycle or a double free",
				   c->name, capacity);
			ret = -KMM_EINVAL;
			goto out;
		}
		if (!objcache_owns(c, f)) {
			kmm_pr_err("objcache %s: free object %p is not a slot of this cache",
				   c->name, (const void *)f);
			ret = -KMM_EINVAL;
			goto out;
		}
	}
	if (c->nr_live + nr_free + c->bump_left != capacity) {
		kmm_pr_err("objcache %s: live %lu + free %lu + unused %zu != capacity %lu",
			   c->name, c->nr_live, nr_free, c->bump_left, capacity);
		ret = -KMM_EINVAL;
	}
out:
	kmm_port_unlock(&c->lock);
	return ret;
}
