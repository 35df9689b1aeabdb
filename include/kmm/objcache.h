/* SPDX-License-Identifier: MIT */
/*
 * kmm/objcache.h - a small cache of fixed-size objects, the role the
 * kernel's kmem_cache plays for struct vmap_area (vmap_area_cachep).
 *
 * Objects are carved out of 64 KiB chunks taken from kmm_port_meta_alloc();
 * freed objects go on a LIFO freelist and are reused first.  Chunks are
 * only given back by kmm_objcache_destroy() (no shrinking: an allocation
 * never waits for the host once the cache has warmed up).
 *
 * Every object is 16-byte aligned and at least pointer sized; the size is
 * rounded up to a multiple of 16.  kmm_objcache_alloc() returns zeroed
 * objects.
 *
 * Fault injection: kmm_fail_objcache ("fail_objcache") is asked on every
 * kmm_objcache_alloc(), so a test can fail the Nth metadata allocation
 * (kmm_fault_set_nth(&kmm_fail_objcache, n)) and check the rollback.
 *
 * Locking: each cache has its own kmm_port_lock_t; alloc and free may be
 * called from any thread.  Never call them with the cache's lock held (it
 * is private).  init and destroy are not concurrent with anything else.
 */
#ifndef KMM_OBJCACHE_H
#define KMM_OBJCACHE_H

#include <kmm/fault.h>
#include <kmm/port.h>
#include <kmm/types.h>

/* Size of one chunk of backing memory. */
#define KMM_OBJCACHE_CHUNK_SIZE ((size_t)64 * 1024)
#define KMM_OBJCACHE_ALIGN ((size_t)16)

struct kmm_objcache_chunk;

struct kmm_objcache {
	kmm_port_lock_t lock;
	/* Set at init, read-only afterwards. */
	const char *name;
	size_t objsize;			/* rounded up to KMM_OBJCACHE_ALIGN */
	size_t objs_per_chunk;
	/* Under @lock. */
	struct kmm_objcache_chunk *chunks;	/* all chunks, newest first */
	void *freelist;			/* freed objects, LIFO */
	char *bump;			/* next never-used object in chunks[0] */
	size_t bump_left;		/* objects left at @bump */
	unsigned long nr_live;		/* objects handed out */
	unsigned long nr_chunks;
	unsigned long nr_allocs;	/* successful kmm_objcache_alloc() calls */
	unsigned long nr_frees;
	unsigned long nr_failed;	/* NULL returns (injected or host) */
	bool initialized;
};

/* Fault point consulted by every kmm_objcache_alloc(). */
extern struct kmm_fault_attr kmm_fail_objcache;

/**
 * kmm_objcache_init - set up an empty cache.
 * @name: for messages; must outlive the cache.
 * @objsize: bytes per object, 1 .. a chunk minus its header.
 * Context: not concurrent with other calls on @c.  Allocates nothing.
 * Return: 0 or -EINVAL.
 */
int kmm_objcache_init(struct kmm_objcache *c, const char *name, size_t objsize);

/**
 * kmm_objcache_alloc - a zeroed object.
 * Context: any thread; takes @c's lock; may call kmm_port_meta_alloc().
 * Return: the object, or NULL when kmm_fail_objcache fired or the host
 * refused a new chunk.
 */
void *kmm_objcache_alloc(struct kmm_objcache *c);

/**
 * kmm_objcache_free - give back an object from kmm_objcache_alloc(@c).
 * NULL is ignored.  Context: any thread; takes @c's lock.
 */
void kmm_objcache_free(struct kmm_objcache *c, void *obj);

/**
 * kmm_objcache_destroy - free every chunk.  Objects still live are freed
 * with their chunks (and logged, like the kernel's "objects remaining"
 * complaint).  Context: no other call on @c in flight.
 * Return: 0, or -EBUSY when objects were still live.
 */
int kmm_objcache_destroy(struct kmm_objcache *c);

/** kmm_objcache_nr_live - objects handed out and not freed. */
unsigned long kmm_objcache_nr_live(struct kmm_objcache *c);

/**
 * kmm_objcache_total_live - objects handed out and not freed, all caches
 * together (a leak check across a whole operation).
 * Context: any thread (an atomic read).
 */
long kmm_objcache_total_live(void);

/** kmm_objcache_total_chunks - chunks held by every cache together. */
long kmm_objcache_total_chunks(void);

/** kmm_objcache_nr_chunks - 64 KiB chunks held. */
unsigned long kmm_objcache_nr_chunks(struct kmm_objcache *c);

/**
 * kmm_objcache_validate - check the counters against the chunks and the
 * freelist (every free object inside a chunk, no cycle, live + free +
 * never-used == capacity).  Context: takes @c's lock.  O(free * chunks).
 * Return: 0 or -EINVAL (logged).
 */
int kmm_objcache_validate(struct kmm_objcache *c);

#endif /* KMM_OBJCACHE_H */
