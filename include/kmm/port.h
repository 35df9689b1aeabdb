/* SPDX-License-Identifier: MIT */
/*
 * kmm/port.h - the narrow platform contract.
 *
 * Everything the freestanding core needs from its host goes through these
 * functions; the core contains no OS #ifdef.  Two ports exist:
 *   src/port/linux/  hosted: memfd-backed physical memory, mmap'ed direct
 *                    map and kernel VA, pthread locks, threads as CPUs;
 *   src/port/none/   freestanding reference: static arenas, no host memory
 *                    (shadow mode only), single CPU.
 *
 * A kernel adopting kmm implements the same 34 small functions.
 *
 * Groups:
 *   1. metadata memory        kmm_port_meta_alloc/free
 *   2. physical memory        kmm_port_phys_init/fini
 *   3. kernel VA + mappings   kmm_port_va_reserve/release, kmm_port_map,
 *                             kmm_port_unmap, kmm_port_user_reserve/release
 *   4. locks                  kmm_port_lock_*, kmm_port_spin_*
 *   5. CPUs                   kmm_port_cpu, kmm_port_bind_cpu,
 *                             kmm_port_nr_host_cpus
 *   6. time and log           kmm_port_clock_ns, kmm_port_log
 *   7. symbols                kmm_port_symbolize (vmallocinfo callers)
 *   8. RCU                    kmm_port_rcu_read_lock/unlock,
 *                             kmm_port_synchronize_rcu, kmm_port_call_rcu,
 *                             kmm_port_rcu_barrier
 *   9. deferred work          kmm_port_schedule_work,
 *                             kmm_port_cancel_work_sync
 *  10. user page faults       kmm_port_demand_map, kmm_port_migrate_fence
 *                             (and the core's
 *                             kmm_handle_user_fault, which the port calls)
 *
 * Failure injection of host calls (issue "reliability") is done by the core
 * around these hooks, not inside them.
 */
#ifndef KMM_PORT_H
#define KMM_PORT_H

#include <kmm/types.h>

/* How physical memory is backed. */
enum kmm_mode {
	KMM_MODE_REAL = 0,	/* memfd memory, host mappings follow PTEs, lazy unmap */
	KMM_MODE_STRICT = 1,	/* as REAL, but every unmap reaches the host at once */
	KMM_MODE_SHADOW = 2,	/* metadata only: no host memory at all */
};

/* ---- 1. metadata memory ------------------------------------------------ */

/**
 * kmm_port_meta_alloc - memory for kmm's own metadata (memmap, tables).
 * @size: bytes, > 0.
 * Context: any; may sleep in the hosted port.
 * Return: zero-filled memory aligned to 64 bytes (16 when @size is at most
 * 16; the page when @size is at least a page), or NULL.
 */
void *kmm_port_meta_alloc(size_t size);

/** kmm_port_meta_free - give back memory from kmm_port_meta_alloc(). */
void kmm_port_meta_free(void *p, size_t size);

/* ---- 2. physical memory ------------------------------------------------ */

/**
 * kmm_port_phys_init - create the physical memory of a machine.
 * @nr_nodes: NUMA nodes, 1..KMM_MAX_NUMNODES.
 * @node_start_pfn: first PFN of each node (PFNs are machine-global).
 * @node_pages: number of page frames of each node.
 * @mode: enum kmm_mode.
 * @direct_map: out: address of PFN 0 in the direct map; in shadow mode a
 *   fake, never dereferenced address (the x86-64 PAGE_OFFSET).
 *
 * The hosted port makes one memfd per node, where PFN n is file offset
 * n * PAGE_SIZE, and maps all nodes once, contiguously by PFN, at
 * *@direct_map.
 * Return: 0, -ENOMEM (host refused memory), -EINVAL.
 */
int kmm_port_phys_init(unsigned nr_nodes, const uint64_t *node_start_pfn,
		       const uint64_t *node_pages, enum kmm_mode mode,
		       uintptr_t *direct_map);

/** kmm_port_phys_fini - undo kmm_port_phys_init(); frees every host resource. */
void kmm_port_phys_fini(void);

/* ---- 3. kernel virtual address space ----------------------------------- */

/**
 * kmm_port_va_reserve - reserve @size bytes of address space for vmalloc.
 * @size: bytes, page aligned.
 * @base: out: start of the reservation.  Real/strict: a PROT_NONE host
 *   reservation whose addresses are real pointers.  Shadow: the x86-64
 *   VMALLOC_START, never dereferenced.
 * Return: 0 or -ENOMEM.
 */
int kmm_port_va_reserve(size_t size, uintptr_t *base);

/** kmm_port_va_release - release the reservation of kmm_port_va_reserve(). */
void kmm_port_va_release(void);

/**
 * kmm_port_user_reserve - reserve @size bytes of address space for one
 * user mm (kmm_mm_create()).
 * @size: bytes, page aligned, > 0.
 * @base: out: the start.  Real/strict: a PROT_NONE host reservation that
 *   kmm_port_map()/kmm_port_unmap() accept, so the mm's user addresses are
 *   real pointers.  Shadow: the same fake user address for every mm
 *   (separate address spaces), never dereferenced.  A kernel port gives
 *   each mm its own page-table root and returns its user base.
 * Return: 0, -EINVAL, -ENOMEM.
 * Context: may sleep.
 */
int kmm_port_user_reserve(size_t size, uintptr_t *base);

/** kmm_port_user_release - give back a kmm_port_user_reserve() range. */
void kmm_port_user_release(uintptr_t base, size_t size);

#define KMM_PORT_PROT_READ 0x1
#define KMM_PORT_PROT_WRITE 0x2
#define KMM_PORT_PROT_EXEC 0x4

/**
 * kmm_port_map - make [@va, @va + @nr_pages pages) show page frames
 * @pfn.. of node @nid with protection @prot.
 * @va must lie inside a reservation made by kmm (kernel VA or a user mm);
 * the hosted port uses mmap(MAP_FIXED | MAP_SHARED) of the node memfd, one
 * call per run of contiguous PFNs (the caller passes runs).
 * Return: 0, -ENOMEM when the host refuses (e.g. vm.max_map_count), or
 * -EINVAL for an address outside every kmm reservation.
 */
int kmm_port_map(uintptr_t va, int nid, uint64_t pfn, size_t nr_pages,
		 unsigned prot);

/**
 * kmm_port_unmap - return [@va, @va + @nr_pages pages) to the PROT_NONE
 * reservation: later accesses fault.
 * Return: 0, -ENOMEM or -EINVAL (as kmm_port_map()).
 */
int kmm_port_unmap(uintptr_t va, size_t nr_pages);

/* ---- 4. locks ---------------------------------------------------------- */

/*
 * A sleeping-or-spinning mutual exclusion lock; the hosted port uses a
 * pthread mutex.  Storage is opaque so the core stays freestanding.
 */
typedef struct {
	_Alignas(16) unsigned char opaque[64];
} kmm_port_lock_t;

void kmm_port_lock_init(kmm_port_lock_t *l);
void kmm_port_lock_destroy(kmm_port_lock_t *l);
void kmm_port_lock(kmm_port_lock_t *l);
/** kmm_port_trylock - Return: true if the lock was taken. */
bool kmm_port_trylock(kmm_port_lock_t *l);
void kmm_port_unlock(kmm_port_lock_t *l);

/*
 * A spinning lock for short, mostly uncontended sections (the kernel's
 * pcp->lock, taken with trylock on the fast paths).  The hosted port spins
 * with a pause and yields the host CPU after a while, so a preempted
 * holder costs a timeslice, never a livelock.
 */
typedef struct {
	_Alignas(4) unsigned char opaque[4];
} kmm_port_spinlock_t;

void kmm_port_spin_init(kmm_port_spinlock_t *l);
void kmm_port_spin_destroy(kmm_port_spinlock_t *l);
void kmm_port_spin_lock(kmm_port_spinlock_t *l);
/** kmm_port_spin_trylock - Return: true if the lock was taken. */
bool kmm_port_spin_trylock(kmm_port_spinlock_t *l);
void kmm_port_spin_unlock(kmm_port_spinlock_t *l);

/* ---- 5. CPUs ----------------------------------------------------------- */

/**
 * kmm_port_cpu - the CPU the calling thread runs on.
 * Hosted: the CPU bound by kmm_port_bind_cpu() for this thread, else the
 * host CPU from sched_getcpu().  The core reduces it modulo nr_cpus.
 */
unsigned kmm_port_cpu(void);

/**
 * kmm_port_bind_cpu - make the calling thread CPU @cpu (-1: follow the host).
 */
void kmm_port_bind_cpu(int cpu);

/** kmm_port_nr_host_cpus - CPUs the host offers (default for nr_cpus=). */
unsigned kmm_port_nr_host_cpus(void);

/* ---- 6. time and log --------------------------------------------------- */

/** kmm_port_clock_ns - a monotonic clock in nanoseconds. */
uint64_t kmm_port_clock_ns(void);

#define KMM_LOG_ERR 3
#define KMM_LOG_WARNING 4
#define KMM_LOG_INFO 6
#define KMM_LOG_DEBUG 7

/**
 * kmm_port_log - print one complete message line (no trailing newline in
 * @msg).  Hosted: to stderr, unless kmm_set_log_hook() redirected it.
 */
void kmm_port_log(int level, const char *msg);

/* ---- 7. symbols -------------------------------------------------------- */

/**
 * kmm_port_symbolize - write @addr as the kernel's %pS does,
 * "symbol+0xoff/0xlen", into @buf.
 * Context: any.  Return: characters written, or 0 when @addr cannot be
 * resolved (the caller then prints the raw address).
 */
int kmm_port_symbolize(const void *addr, char *buf, size_t size);

/* ---- 8. RCU ----------------------------------------------------------- */

/*
 * Read-copy-update, where the kernel uses it (today: the vmap block free
 * lists).  Hosted: liburcu's bulletproof flavour (urcu-bp), so any
 * thread may read without registering; callbacks run on liburcu's
 * call_rcu thread.  Freestanding reference: one CPU, callbacks run when
 * the outermost read-side section ends or at a grace period.
 */
struct kmm_rcu_head {
	void *opaque[2];	/* the port's own list linkage */
	void (*func)(struct kmm_rcu_head *head);
};

/** kmm_port_rcu_read_lock - enter a read-side critical section (nests). */
void kmm_port_rcu_read_lock(void);
/** kmm_port_rcu_read_unlock - leave it. */
void kmm_port_rcu_read_unlock(void);
/**
 * kmm_port_synchronize_rcu - wait until every read-side critical section
 * that began before the call has ended.
 * Context: may sleep; never inside a read-side critical section.
 */
void kmm_port_synchronize_rcu(void);
/**
 * kmm_port_call_rcu - run @func(@head) after a grace period.
 * Context: any, including inside a read-side critical section.
 */
void kmm_port_call_rcu(struct kmm_rcu_head *head, void (*func)(struct kmm_rcu_head *head));
/**
 * kmm_port_rcu_barrier - wait until every callback queued so far has run.
 * Context: may sleep; never inside a read-side critical section.
 */
void kmm_port_rcu_barrier(void);

/* ---- 9. deferred work --------------------------------------------------- */

/*
 * A delayed work item (the kernel's delayed_work on system_unbound_wq):
 * the core's background jobs, today kvfree_rcu()'s monitor and page-cache
 * refill.  Hosted: one worker thread, "kmm-events", started at the first
 * schedule, runs due items in deadline order.  Freestanding reference:
 * the item runs at once, inside kmm_port_schedule_work().
 */
struct kmm_work {
	void *opaque[4];	/* the port's own state (list, deadline, flags) */
	void (*func)(struct kmm_work *work);
};

/**
 * kmm_port_schedule_work - run @func(@work) once, on a worker, in
 * @delay_ns nanoseconds.  An item already pending keeps its place unless
 * the new deadline is earlier (then it moves there: the kernel's
 * mod_delayed_work when that shortens the wait); an item that is running
 * is queued again.
 * Context: any; the caller must hold no lock that @func takes (the
 * freestanding port calls @func right here).
 */
void kmm_port_schedule_work(struct kmm_work *work, void (*func)(struct kmm_work *work),
			    uint64_t delay_ns);

/**
 * kmm_port_cancel_work_sync - take @work off the queue if pending and wait
 * until a running @func(@work) has returned.  Afterwards @work is idle
 * and may be freed.  A never-scheduled zeroed @work is idle.
 * Context: may sleep; never from @func itself.
 */
void kmm_port_cancel_work_sync(struct kmm_work *work);

/* ---- 10. user page faults ------------------------------------------------ */

/**
 * kmm_port_demand_map - make the first access to each page of [@va, @va +
 * @nr_pages pages), inside a kmm_port_user_reserve() range, a page fault
 * that the core resolves: the port calls kmm_handle_user_fault() for the
 * page (from a thread of its own), and the access completes once that has
 * mapped the page with kmm_port_map(); when it fails, the port makes the
 * page inaccessible and the access faults as a bad one (SIGSEGV).
 * @prot: KMM_PORT_PROT_* the range allows; other accesses fault at once.
 * Hosted: userfaultfd (missing-page mode) over an anonymous mapping of the
 * range; kmm_port_unmap() ends it.  A kernel port: nothing (its own page
 * fault handler calls kmm_handle_user_fault()).
 * Return: 0; -ENOSYS when the host offers no such faults (no
 * userfaultfd, or not permitted); -EINVAL; -ENOMEM.
 * Context: may sleep.
 */
int kmm_port_demand_map(uintptr_t va, size_t nr_pages, unsigned prot);

/**
 * kmm_port_migrate_fence - until [@va, @va + @nr_pages pages) is next
 * mapped with kmm_port_map(), make every access to it a page fault that
 * goes to kmm_handle_user_fault() instead of reaching the page mapped
 * there now (the kernel's migration entries: the core copies the pages
 * meanwhile, holding the mm's mmap_lock, so the access waits and then
 * finds the new page).  Every page of the range is mapped when this is
 * called.
 * Hosted: the memfd mapping is registered with userfaultfd in minor-fault
 * mode and its host PTEs dropped (MADV_DONTNEED): no access can slip
 * between the fence and the copy.  Where the host has no minor faults on
 * shmem (before Linux 5.13), the range becomes a demand range
 * (kmm_port_demand_map()), which leaves a short window in which a store
 * lands in a page the copy no longer sees.  A kernel port: clear the
 * hardware PTEs and flush the TLB; its fault handler waits for mmap_lock.
 * Return: 0; -ENOSYS when the host offers no user faults at all (the
 * caller copies without a fence: the documented window); -EINVAL; -ENOMEM.
 * Context: may sleep.
 */
int kmm_port_migrate_fence(uintptr_t va, size_t nr_pages, unsigned prot);

/**
 * kmm_handle_user_fault - provided by the core, called by the port: resolve
 * a first access to @addr (a write when @write) in whichever user mm holds
 * it, as handle_mm_fault() does for an anonymous VMA.
 * Context: process context, may sleep; takes that mm's mmap_lock.
 * Return: 0 (mapped, or already mapped); -EFAULT (no VMA, or an access
 * its protection forbids); -ENOMEM.
 */
int kmm_handle_user_fault(uintptr_t addr, bool write);

#endif /* KMM_PORT_H */
