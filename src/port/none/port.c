/* SPDX-License-Identifier: MIT */
/*
 * port.c - the freestanding reference port.
 *
 * Shows what a kernel or unikernel adopting kmm must supply, and proves in
 * CI that the core builds and links with -ffreestanding: this file includes
 * only kmm headers and the compiler's own freestanding headers.
 *
 * It has no host memory, so it supports shadow mode only: kmm keeps all its
 * metadata (memmap, zones, page tables, VA trees) but page frames and
 * virtual addresses are never dereferenced.
 *
 *   metadata memory  a static arena (KMM_NONE_ARENA_BYTES), bump allocated.
 *                    Freed blocks go on a free list and are reused by a later
 *                    request of the same rounded size (boot/shutdown cycles
 *                    ask for the same sizes again); the most recent block is
 *                    simply un-bumped.  Nothing is ever coalesced: a real
 *                    port would plug in its kernel's allocator here.
 *   physical memory  KMM_MODE_SHADOW only (-EINVAL otherwise); the direct
 *                    map is the x86-64 PAGE_OFFSET.
 *   kernel VA        the x86-64 VMALLOC_START; map/unmap do nothing.
 *   locks            a test-and-set spin lock on a C11 atomic_flag.
 *   CPUs             one, CPU 0.
 *   time             a counter advancing 1 us per call.
 *   log              discarded, unless the adopter defines the weak hook
 *                    kmm_port_none_log_hook().
 *
 * A freestanding compiler may emit calls to memset, memcpy, memmove and
 * memcmp on its own, so this port defines them (under their real names).
 */
#include <stdatomic.h>

#include <kmm/mmzone.h>
#include <kmm/port.h>
#include <kmm/types.h>

#if UINTPTR_MAX > 0xffffffffu
#define NONE_DIRECT_MAP ((uintptr_t)0xffff888000000000ULL)	/* PAGE_OFFSET */
#define NONE_VMALLOC_START ((uintptr_t)0xffffc90000000000ULL)	/* VMALLOC_START */
#else
#define NONE_DIRECT_MAP ((uintptr_t)0xc0000000u)
#define NONE_VMALLOC_START ((uintptr_t)0xf0000000u)
#endif

#ifndef KMM_NONE_ARENA_BYTES
#define KMM_NONE_ARENA_BYTES (64u << 20)
#endif

/* ---- compiler support routines ------------------------------------------ */

/*
 * GCC may recognise the loops below as memset/memcpy and call the very
 * function being defined; keep it from doing so.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_LIBCALL_IDIOMS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LIBCALL_IDIOMS
#endif

void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

NO_LIBCALL_IDIOMS void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

NO_LIBCALL_IDIOMS void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

NO_LIBCALL_IDIOMS void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if ((uintptr_t)dp - (uintptr_t)sp >= n) {
		/* No harmful overlap: copy forwards. */
		while (n--)
			*dp++ = *sp++;
	} else {
		dp += n;
		sp += n;
		while (n--)
			*--dp = *--sp;
	}
	return d;
}

NO_LIBCALL_IDIOMS int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x < *y ? -1 : 1;
	}
	return 0;
}

/* ---- 4. locks (first: the arena uses one) -------------------------------- */

_Static_assert(sizeof(atomic_flag) <= sizeof(((kmm_port_lock_t *)0)->opaque),
	       "atomic_flag does not fit kmm_port_lock_t");
_Static_assert(_Alignof(atomic_flag) <= _Alignof(kmm_port_lock_t),
	       "atomic_flag is more aligned than kmm_port_lock_t");

static atomic_flag *port_flag(kmm_port_lock_t *l)
{
	return (atomic_flag *)(void *)l->opaque;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

void kmm_port_lock_init(kmm_port_lock_t *l)
{
	atomic_flag_clear_explicit(port_flag(l), memory_order_relaxed);
}

void kmm_port_lock_destroy(kmm_port_lock_t *l)
{
	(void)l;
}

void kmm_port_lock(kmm_port_lock_t *l)
{
	while (atomic_flag_test_and_set_explicit(port_flag(l),
						 memory_order_acquire))
		cpu_relax();
}

bool kmm_port_trylock(kmm_port_lock_t *l)
{
	return !atomic_flag_test_and_set_explicit(port_flag(l),
						  memory_order_acquire);
}

void kmm_port_unlock(kmm_port_lock_t *l)
{
	atomic_flag_clear_explicit(port_flag(l), memory_order_release);
}

/* ---- 1. metadata memory ------------------------------------------------ */

struct free_block {
	struct free_block *next;
	size_t len;
};

static _Alignas(4096) unsigned char arena[KMM_NONE_ARENA_BYTES];
static size_t arena_used;
static struct free_block *free_blocks;
static kmm_port_lock_t arena_lock;	/* all-zero: an unlocked flag */

static size_t meta_align(size_t size)
{
	return size >= KMM_PAGE_SIZE ? KMM_PAGE_SIZE : 64;
}

void *kmm_port_meta_alloc(size_t size)
{
	struct free_block **pp, *b;
	size_t align, len, start;
	void *p = NULL;

	if (size == 0 || size > KMM_NONE_ARENA_BYTES)
		return NULL;
	align = meta_align(size);
	len = (size + align - 1) & ~(align - 1);

	kmm_port_lock(&arena_lock);
	for (pp = &free_blocks; (b = *pp) != NULL; pp = &b->next) {
		if (b->len == len && ((uintptr_t)b & (align - 1)) == 0) {
			*pp = b->next;
			p = b;
			break;
		}
	}
	if (!p) {
		start = (arena_used + align - 1) & ~(align - 1);
		if (start <= KMM_NONE_ARENA_BYTES &&
		    len <= KMM_NONE_ARENA_BYTES - start) {
			p = arena + start;
			arena_used = start + len;
		}
	}
	kmm_port_unlock(&arena_lock);

	if (p)
		memset(p, 0, len);
	return p;
}

void kmm_port_meta_free(void *p, size_t size)
{
	struct free_block *b = p;
	size_t len;

	if (!p || size == 0)
		return;
	len = (size + meta_align(size) - 1) & ~(meta_align(size) - 1);

	kmm_port_lock(&arena_lock);
	if ((unsigned char *)p + len == arena + arena_used) {
		/* The most recent block: give the space back to the bump. */
		arena_used = (size_t)((unsigned char *)p - arena);
	} else {
		b->len = len;
		b->next = free_blocks;
		free_blocks = b;
	}
	kmm_port_unlock(&arena_lock);
}

/* ---- 2. physical memory ------------------------------------------------ */

int kmm_port_phys_init(unsigned nr_nodes, const uint64_t *node_start_pfn,
		       const uint64_t *node_pages, enum kmm_mode mode,
		       uintptr_t *direct_map)
{
	if (mode != KMM_MODE_SHADOW || nr_nodes < 1 ||
	    nr_nodes > KMM_MAX_NUMNODES || !node_start_pfn || !node_pages ||
	    !direct_map)
		return -KMM_EINVAL;
	*direct_map = NONE_DIRECT_MAP;
	return 0;
}

void kmm_port_phys_fini(void)
{
}

/* ---- 3. kernel virtual address space ----------------------------------- */

int kmm_port_va_reserve(size_t size, uintptr_t *base)
{
	if (!base || size == 0 || (size & (KMM_PAGE_SIZE - 1)))
		return -KMM_EINVAL;
	*base = NONE_VMALLOC_START;
	return 0;
}

void kmm_port_va_release(void)
{
}

int kmm_port_user_reserve(size_t size, uintptr_t *base)
{
	if (!base || size == 0 || (size & (KMM_PAGE_SIZE - 1)))
		return -KMM_EINVAL;
	*base = 0x0000100000000000UL;	/* shadow only: the same for every mm */
	return 0;
}

void kmm_port_user_release(uintptr_t base, size_t size)
{
	(void)base;
	(void)size;
}

int kmm_port_map(uintptr_t va, int nid, uint64_t pfn, size_t nr_pages,
		 unsigned prot)
{
	(void)va;
	(void)nid;
	(void)pfn;
	(void)nr_pages;
	(void)prot;
	return 0;
}

int kmm_port_unmap(uintptr_t va, size_t nr_pages)
{
	(void)va;
	(void)nr_pages;
	return 0;
}

/* ---- 5. CPUs ----------------------------------------------------------- */

unsigned kmm_port_cpu(void)
{
	return 0;
}

void kmm_port_bind_cpu(int cpu)
{
	(void)cpu;
}

unsigned kmm_port_nr_host_cpus(void)
{
	return 1;
}

/* ---- 6. time and log --------------------------------------------------- */

static atomic_ullong fake_clock;

uint64_t kmm_port_clock_ns(void)
{
	return (uint64_t)atomic_fetch_add_explicit(&fake_clock, 1000,
						   memory_order_relaxed) + 1000;
}

/* An adopter may define this to receive kmm's log lines. */
void kmm_port_none_log_hook(int level, const char *msg) __attribute__((weak));

void kmm_port_log(int level, const char *msg)
{
	if (kmm_port_none_log_hook)
		kmm_port_none_log_hook(level, msg);
}

/* Symbols: a freestanding kernel would consult its symbol table here. */
int kmm_port_symbolize(const void *addr, char *buf, size_t size)
{
	(void)addr;
	(void)buf;
	(void)size;
	return 0;
}

/* Spinlocks: one atomic word (single CPU here, so they never spin long). */
void kmm_port_spin_init(kmm_port_spinlock_t *l)
{
	__atomic_store_n((unsigned *)(void *)l->opaque, 0u, __ATOMIC_RELAXED);
}

void kmm_port_spin_destroy(kmm_port_spinlock_t *l)
{
	(void)l;
}

bool kmm_port_spin_trylock(kmm_port_spinlock_t *l)
{
	return !__atomic_exchange_n((unsigned *)(void *)l->opaque, 1u, __ATOMIC_ACQUIRE);
}

void kmm_port_spin_lock(kmm_port_spinlock_t *l)
{
	while (!kmm_port_spin_trylock(l))
		;
}

void kmm_port_spin_unlock(kmm_port_spinlock_t *l)
{
	__atomic_store_n((unsigned *)(void *)l->opaque, 0u, __ATOMIC_RELEASE);
}

/*
 * RCU on one CPU: a reader is whoever is inside kmm_port_rcu_read_lock();
 * callbacks wait in a list until no reader is left (the outermost unlock,
 * a synchronize or a barrier outside any reader).
 */
static unsigned rcu_nesting;
static struct kmm_rcu_head *rcu_pending;

static void rcu_run_pending(void)
{
	while (!rcu_nesting && rcu_pending) {
		struct kmm_rcu_head *h = rcu_pending;

		rcu_pending = h->opaque[0];
		h->func(h);
	}
}

void kmm_port_rcu_read_lock(void)
{
	rcu_nesting++;
}

void kmm_port_rcu_read_unlock(void)
{
	if (!--rcu_nesting)
		rcu_run_pending();
}

void kmm_port_synchronize_rcu(void)
{
	rcu_run_pending();
}

void kmm_port_call_rcu(struct kmm_rcu_head *head, void (*func)(struct kmm_rcu_head *head))
{
	head->func = func;
	head->opaque[0] = rcu_pending;
	rcu_pending = head;
	rcu_run_pending();
}

void kmm_port_rcu_barrier(void)
{
	rcu_run_pending();
}

/*
 * Deferred work on one CPU with no threads: the item runs at once.  The
 * core schedules only with no lock held, so this is what a worker that
 * got the CPU immediately would do.  An item scheduled again from inside
 * a running item is dropped (it would otherwise recurse for as long as
 * its reason persists, e.g. kvfree_rcu channels held by a reader); the
 * core's next call schedules it anew.
 */
static bool work_running;

void kmm_port_schedule_work(struct kmm_work *work, void (*func)(struct kmm_work *work),
			    uint64_t delay_ns)
{
	(void)delay_ns;
	if (work_running)
		return;
	work->func = func;
	work_running = true;
	func(work);
	work_running = false;
}

void kmm_port_cancel_work_sync(struct kmm_work *work)
{
	(void)work;
}

/* No host memory, so no first touch to catch. */
int kmm_port_demand_map(uintptr_t va, size_t nr_pages, unsigned prot)
{
	(void)va;
	(void)nr_pages;
	(void)prot;
	return 0;
}

/* No host memory: nothing can touch a page while it moves. */
int kmm_port_migrate_fence(uintptr_t va, size_t nr_pages, unsigned prot)
{
	(void)va;
	(void)nr_pages;
	(void)prot;
	return 0;
}
