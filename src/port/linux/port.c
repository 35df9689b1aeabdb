/* SPDX-License-Identifier: MIT */
/*
 * port.c - the hosted Linux port: real memory in userspace.
 *
 * Implements every hook of kmm/port.h on top of Linux system calls.
 *
 * Physical memory
 *   One memfd per NUMA node ("kmm-node<N>").  PFNs are machine-global and
 *   PFN n is byte n * PAGE_SIZE of its node's memfd, so a node's file is
 *   sparse below node_start_pfn.  Nothing is allocated from the host until
 *   a page is touched.
 *
 * The direct map
 *   One PROT_NONE, MAP_NORESERVE reservation of max_pfn pages for the whole
 *   machine; each node's range [start_pfn, end_pfn) is then mapped over it
 *   with MAP_FIXED | MAP_SHARED from its memfd, so PFN n lives at
 *   direct_map + n * PAGE_SIZE and holes between nodes stay inaccessible.
 *
 * Kernel VA and mappings
 *   kmm_port_va_reserve() makes another PROT_NONE reservation; the core's
 *   page tables decide what is mapped in it and call kmm_port_map() /
 *   kmm_port_unmap(), which place memfd pages with MAP_FIXED | MAP_SHARED
 *   or turn the range back into PROT_NONE reservation.  MAP_FIXED replaces
 *   silently, so both only act inside a registered region (see
 *   port_linux.h); anything else is refused, never scribbled over.
 *
 * Shadow mode
 *   No memfd, no host mappings: the direct map and kernel VA are the fake
 *   x86-64 addresses PAGE_OFFSET and VMALLOC_START, and map/unmap succeed
 *   without doing anything.
 *
 * Host limits
 *   Every distinct host mapping costs one entry of the process's
 *   vm.max_map_count (65530 by default).  When mmap() fails with ENOMEM the
 *   call returns -ENOMEM and the first such failure of a boot logs a
 *   message naming the sysctl.
 *
 * Locking
 *   phys_init/phys_fini and va_reserve/va_release run single-threaded at
 *   boot and shutdown (kmm_boot() context).  map/unmap may run on any
 *   thread: they read the boot-time state without locks and the region
 *   registry under a reader-writer lock, held across the mmap() call so a
 *   region cannot be unregistered (and its reservation released) while a
 *   MAP_FIXED lands in it.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <urcu-bp.h>
#include <urcu/call-rcu.h>

#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/mmzone.h>
#include <kmm/port.h>

#include "port_linux.h"

static void rcu_register_early(void);

#define PORT_PAGE_SIZE ((size_t)KMM_PAGE_SIZE)

/* x86-64 PAGE_OFFSET and VMALLOC_START (4-level paging, no KASLR). */
#define SHADOW_DIRECT_MAP ((uintptr_t)0xffff888000000000ULL)
#define SHADOW_VMALLOC_START ((uintptr_t)0xffffc90000000000ULL)

/* Metadata of at least this size comes straight from mmap(). */
#define META_MMAP_MIN ((size_t)64 * 1024)
#define META_ALIGN ((size_t)64)

/* Largest PFN we accept: keeps every byte offset inside off_t. */
#define PORT_MAX_PFN (((uint64_t)1 << 62) >> KMM_PAGE_SHIFT)

/* Route port messages through the core's logger (and its hook). */
#define port_err(...) kmm_printk(KMM_LOG_ERR, __VA_ARGS__)
#define port_warn(...) kmm_printk(KMM_LOG_WARNING, __VA_ARGS__)

/* ---- 1. metadata memory ------------------------------------------------ */

static size_t round_up_checked(size_t size, size_t align, bool *overflow)
{
	if (size > SIZE_MAX - (align - 1)) {
		*overflow = true;
		return 0;
	}
	*overflow = false;
	return (size + align - 1) & ~(align - 1);
}

/* Live metadata allocations (kmm_port_linux_meta_live()). */
static atomic_long meta_live;

long kmm_port_linux_meta_live(void)
{
	return atomic_load(&meta_live);
}

static void *meta_alloc_host(size_t size);

/*
 * Fault point kmm_fail_meta_alloc (kmm/fault.h): every call may be told
 * to fail, as the kernel's kmalloc() may; it then returns NULL without
 * asking the host.
 */
void *kmm_port_meta_alloc(size_t size)
{
	void *p;

	if (size == 0)
		return NULL;
	if (kmm_fault_armed(&kmm_fail_meta_alloc) &&
	    kmm_should_fail(&kmm_fail_meta_alloc, size))
		return NULL;
	p = meta_alloc_host(size);
	if (p)
		atomic_fetch_add(&meta_live, 1);
	return p;
}

static void *meta_alloc_host(size_t size)
{
	bool overflow;
	size_t align, len;
	void *p;

	if (size >= META_MMAP_MIN) {
		/* Page aligned, zero-filled and lazily backed by the host. */
		len = round_up_checked(size, PORT_PAGE_SIZE, &overflow);
		if (overflow)
			return NULL;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}

	align = size >= PORT_PAGE_SIZE ? PORT_PAGE_SIZE : META_ALIGN;
	len = round_up_checked(size, align, &overflow);
	if (overflow)
		return NULL;
	if (size <= 16)		/* malloc's own alignment is enough */
		return calloc(1, size);
	p = aligned_alloc(align, len);
	if (p)
		memset(p, 0, len);
	return p;
}

void kmm_port_meta_free(void *p, size_t size)
{
	bool overflow;
	size_t len;

	if (!p)
		return;
	atomic_fetch_sub(&meta_live, 1);
	if (size >= META_MMAP_MIN) {
		len = round_up_checked(size, PORT_PAGE_SIZE, &overflow);
		if (overflow || munmap(p, len) != 0)
			port_err("port: meta_free(%p, %zu): bad size or address",
				 p, size);
		return;
	}
	free(p);
}

/* ---- the region registry ----------------------------------------------- */

struct port_region {
	uintptr_t start;
	uintptr_t end;		/* exclusive */
};

static pthread_rwlock_t region_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct port_region *regions;	/* sorted by start, disjoint */
static size_t nr_regions;
static size_t regions_cap;

/* Index of the first region with start > @addr.  region_lock held. */
static size_t region_upper_bound(uintptr_t addr)
{
	size_t lo = 0, hi = nr_regions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (regions[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Is [@start, @start + @len) inside one region?  region_lock held. */
static bool region_covers_locked(uintptr_t start, size_t len)
{
	size_t i = region_upper_bound(start);

	if (i == 0)
		return false;
	i--;
	/* regions[i].start <= start by construction. */
	return start < regions[i].end && len <= regions[i].end - start;
}

int kmm_port_linux_register_region(uintptr_t start, size_t len)
{
	size_t i;

	if (len == 0 || (start | len) & (PORT_PAGE_SIZE - 1) ||
	    start + len < start) {
		port_err("port: register_region(%#lx, %#zx): empty, unaligned or wrapping",
			 (unsigned long)start, len);
		return -EINVAL;
	}

	pthread_rwlock_wrlock(&region_lock);
	i = region_upper_bound(start);
	if ((i > 0 && regions[i - 1].end > start) ||
	    (i < nr_regions && regions[i].start < start + len)) {
		pthread_rwlock_unlock(&region_lock);
		port_err("port: register_region(%#lx, %#zx): overlaps a registered region",
			 (unsigned long)start, len);
		return -EINVAL;
	}
	if (nr_regions == regions_cap) {
		size_t cap = regions_cap ? regions_cap * 2 : 16;
		struct port_region *n = realloc(regions, cap * sizeof(*n));

		if (!n) {
			pthread_rwlock_unlock(&region_lock);
			return -ENOMEM;
		}
		regions = n;
		regions_cap = cap;
	}
	memmove(&regions[i + 1], &regions[i],
		(nr_regions - i) * sizeof(*regions));
	regions[i].start = start;
	regions[i].end = start + len;
	nr_regions++;
	pthread_rwlock_unlock(&region_lock);
	return 0;
}

void kmm_port_linux_unregister_region(uintptr_t start)
{
	size_t i;

	pthread_rwlock_wrlock(&region_lock);
	i = region_upper_bound(start);
	if (i == 0 || regions[i - 1].start != start) {
		pthread_rwlock_unlock(&region_lock);
		port_warn("port: unregister_region(%#lx): no region starts there",
			  (unsigned long)start);
		return;
	}
	i--;
	memmove(&regions[i], &regions[i + 1],
		(nr_regions - i - 1) * sizeof(*regions));
	nr_regions--;
	if (nr_regions == 0) {
		free(regions);
		regions = NULL;
		regions_cap = 0;
	}
	pthread_rwlock_unlock(&region_lock);
}

/* ---- 2. physical memory ------------------------------------------------ */

static struct {
	bool inited;
	enum kmm_mode mode;
	unsigned nr_nodes;
	int memfd[KMM_MAX_NUMNODES];		/* -1: node has no pages */
	uint64_t start_pfn[KMM_MAX_NUMNODES];
	uint64_t end_pfn[KMM_MAX_NUMNODES];
	uintptr_t base;				/* direct map (real mode) */
	size_t len;
} phys;

int kmm_port_linux_node_memfd(unsigned nid)
{
	if (!phys.inited || nid >= phys.nr_nodes || phys.mode == KMM_MODE_SHADOW)
		return -1;
	return phys.memfd[nid];
}

/* Logged once per boot: the first host refusal that looks like the limit. */
static atomic_bool map_count_warned;

static long read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Log a host mmap() refusal; ENOMEM explains vm.max_map_count once. */
static void report_map_failure(const char *what, uintptr_t va, size_t len,
			       int err)
{
	if (err == ENOMEM) {
		if (!atomic_exchange(&map_count_warned, true))
			port_err("port: %s of %zu bytes at %#lx refused by the host (%s): "
				 "too many separate mappings? the host's vm.max_map_count "
				 "is %ld; raise it (sysctl -w vm.max_map_count=N) or map "
				 "fewer ranges",
				 what, len, (unsigned long)va, strerror(err),
				 read_max_map_count());
		return;
	}
	port_err("port: %s of %zu bytes at %#lx failed: %s", what, len,
		 (unsigned long)va, strerror(err));
}

static void phys_undo(void)
{
	unsigned i;

	if (phys.base)
		munmap((void *)phys.base, phys.len);
	for (i = 0; i < KMM_MAX_NUMNODES; i++) {
		if (phys.memfd[i] >= 0)
			close(phys.memfd[i]);
		phys.memfd[i] = -1;
	}
	phys.base = 0;
	phys.len = 0;
	phys.nr_nodes = 0;
	phys.inited = false;
}

static int phys_check_args(unsigned nr_nodes, const uint64_t *start,
			   const uint64_t *pages, enum kmm_mode mode,
			   const uintptr_t *direct_map, uint64_t *max_pfn)
{
	unsigned i, j;

	*max_pfn = 0;
	if (nr_nodes < 1 || nr_nodes > KMM_MAX_NUMNODES || !start || !pages ||
	    !direct_map) {
		port_err("port: phys_init: bad arguments (nr_nodes=%u)", nr_nodes);
		return -EINVAL;
	}
	if (mode != KMM_MODE_REAL && mode != KMM_MODE_STRICT &&
	    mode != KMM_MODE_SHADOW) {
		port_err("port: phys_init: unknown mode %d", (int)mode);
		return -EINVAL;
	}
	for (i = 0; i < nr_nodes; i++) {
		if (start[i] > PORT_MAX_PFN || pages[i] > PORT_MAX_PFN - start[i]) {
			port_err("port: phys_init: node %u range [%#llx, +%#llx) too large",
				 i, (unsigned long long)start[i],
				 (unsigned long long)pages[i]);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (!pages[i] || !pages[j])
				continue;
			if (start[i] < start[j] + pages[j] &&
			    start[j] < start[i] + pages[i]) {
				port_err("port: phys_init: nodes %u and %u overlap", j, i);
				return -EINVAL;
			}
		}
		if (start[i] + pages[i] > *max_pfn)
			*max_pfn = start[i] + pages[i];
	}
	if (*max_pfn == 0) {
		port_err("port: phys_init: no memory");
		return -EINVAL;
	}
	return 0;
}

int kmm_port_phys_init(unsigned nr_nodes, const uint64_t *node_start_pfn,
		       const uint64_t *node_pages, enum kmm_mode mode,
		       uintptr_t *direct_map)
{
	uint64_t max_pfn;
	unsigned i;
	void *base;
	int ret;

	if (phys.inited) {
		port_err("port: phys_init: physical memory already exists");
		return -EINVAL;
	}
	rcu_register_early();	/* the booting thread is a CPU too */
	ret = phys_check_args(nr_nodes, node_start_pfn, node_pages, mode,
			      direct_map, &max_pfn);
	if (ret)
		return ret;

	for (i = 0; i < KMM_MAX_NUMNODES; i++)
		phys.memfd[i] = -1;
	phys.mode = mode;
	phys.nr_nodes = nr_nodes;
	phys.base = 0;
	phys.len = 0;
	for (i = 0; i < nr_nodes; i++) {
		phys.start_pfn[i] = node_start_pfn[i];
		phys.end_pfn[i] = node_start_pfn[i] + node_pages[i];
	}
	atomic_store(&map_count_warned, false);

	if (mode == KMM_MODE_SHADOW) {
		phys.inited = true;
		*direct_map = SHADOW_DIRECT_MAP;
		return 0;
	}

	if (max_pfn > (uint64_t)(SIZE_MAX >> KMM_PAGE_SHIFT)) {
		port_err("port: phys_init: %llu pages do not fit the address space",
			 (unsigned long long)max_pfn);
		phys_undo();
		return -ENOMEM;
	}
	phys.len = (size_t)max_pfn << KMM_PAGE_SHIFT;
	base = mmap(NULL, phys.len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		port_err("port: phys_init: cannot reserve %zu bytes of address space for the direct map: %s",
			 phys.len, strerror(errno));
		phys.len = 0;
		phys_undo();
		return -ENOMEM;
	}
	phys.base = (uintptr_t)base;

	for (i = 0; i < nr_nodes; i++) {
		char name[32];
		size_t off, len;
		void *p;
		int fd;

		if (phys.start_pfn[i] == phys.end_pfn[i])
			continue;
		snprintf(name, sizeof(name), "kmm-node%u", i);
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0) {
			port_err("port: phys_init: memfd_create(%s): %s", name,
				 strerror(errno));
			goto fail;
		}
		phys.memfd[i] = fd;
		if (ftruncate(fd, (off_t)(phys.end_pfn[i] << KMM_PAGE_SHIFT)) != 0) {
			port_err("port: phys_init: sizing %s to %llu bytes: %s", name,
				 (unsigned long long)(phys.end_pfn[i] << KMM_PAGE_SHIFT),
				 strerror(errno));
			goto fail;
		}
		/*
		 * Physical memory never changes size: sealed, so that a process
		 * given the memfd (kmm_mm_share_send()) cannot truncate it under
		 * us (every mapping of the lost part would SIGBUS).
		 */
		if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
			port_err("port: phys_init: sealing %s: %s", name, strerror(errno));
			goto fail;
		}
		off = (size_t)phys.start_pfn[i] << KMM_PAGE_SHIFT;
		len = (size_t)(phys.end_pfn[i] - phys.start_pfn[i]) << KMM_PAGE_SHIFT;
		p = mmap((void *)(phys.base + off), len, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_SHARED, fd, (off_t)off);
		if (p == MAP_FAILED) {
			port_err("port: phys_init: mapping node %u (%zu bytes) into the direct map: %s",
				 i, len, strerror(errno));
			goto fail;
		}
	}

	phys.inited = true;
	*direct_map = phys.base;
	return 0;

fail:
	phys_undo();
	return -ENOMEM;
}

void kmm_port_phys_fini(void)
{
	if (!phys.inited)
		return;
	phys_undo();
}

/* ---- 3. kernel virtual address space ----------------------------------- */

static bool shadow_mode(void)
{
	return phys.inited && phys.mode == KMM_MODE_SHADOW;
}

static struct {
	bool reserved;
	bool host;		/* a real host reservation (not shadow) */
	uintptr_t base;
	size_t size;
} kva;

int kmm_port_va_reserve(size_t size, uintptr_t *base)
{
	void *p;
	int ret;

	if (!base || size == 0 || (size & (PORT_PAGE_SIZE - 1))) {
		port_err("port: va_reserve(%#zx): empty or unaligned", size);
		return -EINVAL;
	}
	if (kva.reserved) {
		port_err("port: va_reserve: kernel VA is already reserved");
		return -EINVAL;
	}

	if (shadow_mode()) {
		kva.reserved = true;
		kva.host = false;
		kva.base = SHADOW_VMALLOC_START;
		kva.size = size;
		*base = kva.base;
		return 0;
	}

	p = mmap(NULL, size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		port_err("port: va_reserve: cannot reserve %zu bytes of kernel VA: %s",
			 size, strerror(errno));
		return -ENOMEM;
	}
	ret = kmm_port_linux_register_region((uintptr_t)p, size);
	if (ret) {
		munmap(p, size);
		return -ENOMEM;
	}
	kva.reserved = true;
	kva.host = true;
	kva.base = (uintptr_t)p;
	kva.size = size;
	*base = kva.base;
	return 0;
}

void kmm_port_va_release(void)
{
	if (!kva.reserved)
		return;
	if (kva.host) {
		kmm_port_linux_unregister_region(kva.base);
		munmap((void *)kva.base, kva.size);
	}
	kva.reserved = false;
	kva.host = false;
	kva.base = 0;
	kva.size = 0;
}

#define SHADOW_USER_BASE 0x0000100000000000UL	/* 16 TiB: every shadow mm */

/*
 * Fault point kmm_fail_host_call (kmm/fault.h), asked before a host call
 * made after boot: true means "act as if the host said ENOMEM" (nothing
 * is called and nothing is logged; the caller reports as it would).
 */
static bool host_call_fails(size_t len)
{
	return kmm_fault_armed(&kmm_fail_host_call) &&
	       kmm_should_fail(&kmm_fail_host_call, len);
}

int kmm_port_user_reserve(size_t size, uintptr_t *base)
{
	void *p;

	if (!base || size == 0 || (size & (PORT_PAGE_SIZE - 1))) {
		port_err("port: user_reserve(%#zx): empty or unaligned", size);
		return -EINVAL;
	}
	if (shadow_mode()) {
		*base = SHADOW_USER_BASE;
		return 0;
	}
	if (host_call_fails(size))
		return -ENOMEM;
	p = mmap(NULL, size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		port_err("port: user_reserve: cannot reserve %zu bytes: %s", size,
			 strerror(errno));
		return -ENOMEM;
	}
	if (kmm_port_linux_register_region((uintptr_t)p, size)) {
		munmap(p, size);
		return -ENOMEM;
	}
	*base = (uintptr_t)p;
	return 0;
}

void kmm_port_user_release(uintptr_t base, size_t size)
{
	if (shadow_mode() || !base)
		return;
	kmm_port_linux_unregister_region(base);
	munmap((void *)base, size);
}

static int host_prot(unsigned prot)
{
	int p = PROT_NONE;

	if (prot & KMM_PORT_PROT_READ)
		p |= PROT_READ;
	if (prot & KMM_PORT_PROT_WRITE)
		p |= PROT_WRITE;
	if (prot & KMM_PORT_PROT_EXEC)
		p |= PROT_EXEC;
	return p;
}

/* Common checks of map/unmap; on success returns 0 with *@len set. */
static int check_range(const char *what, uintptr_t va, size_t nr_pages,
		       size_t *len)
{
	if (nr_pages > (SIZE_MAX >> KMM_PAGE_SHIFT) ||
	    (va & (PORT_PAGE_SIZE - 1))) {
		port_err("port: %s(%#lx, %zu pages): unaligned or too large",
			 what, (unsigned long)va, nr_pages);
		return -EINVAL;
	}
	*len = nr_pages << KMM_PAGE_SHIFT;
	if (va + *len < va) {
		port_err("port: %s(%#lx, %zu pages): wraps", what,
			 (unsigned long)va, nr_pages);
		return -EINVAL;
	}
	return 0;
}

int kmm_port_map(uintptr_t va, int nid, uint64_t pfn, size_t nr_pages,
		 unsigned prot)
{
	size_t len;
	void *p;
	int ret, err;

	if (shadow_mode() || nr_pages == 0)
		return 0;
	ret = check_range("map", va, nr_pages, &len);
	if (ret)
		return ret;
	if (!phys.inited || nid < 0 || (unsigned)nid >= phys.nr_nodes ||
	    phys.memfd[nid] < 0) {
		port_err("port: map(%#lx): no memory on node %d", (unsigned long)va,
			 nid);
		return -EINVAL;
	}
	if (pfn < phys.start_pfn[nid] || pfn > phys.end_pfn[nid] ||
	    nr_pages > phys.end_pfn[nid] - pfn) {
		port_err("port: map(%#lx): PFNs [%#llx, +%zu) are not all on node %d",
			 (unsigned long)va, (unsigned long long)pfn, nr_pages, nid);
		return -EINVAL;
	}

	pthread_rwlock_rdlock(&region_lock);
	if (!region_covers_locked(va, len)) {
		pthread_rwlock_unlock(&region_lock);
		port_err("port: map(%#lx, %zu pages): refused, not inside a kmm reservation",
			 (unsigned long)va, nr_pages);
		return -EINVAL;
	}
	/*
	 * MAP_POPULATE: a kernel's vmalloc()ed page never faults, so the host
	 * PTEs are made now rather than on first touch (a touch-fault costs
	 * more than populating; see BENCHMARKS.md, "+touch" rows).
	 */
	p = mmap((void *)va, len, host_prot(prot), MAP_FIXED | MAP_SHARED | MAP_POPULATE,
		 phys.memfd[nid], (off_t)(pfn << KMM_PAGE_SHIFT));
	err = errno;
	pthread_rwlock_unlock(&region_lock);
	if (p == MAP_FAILED) {
		report_map_failure("map", va, len, err);
		return err == EINVAL ? -EINVAL : -ENOMEM;
	}
	return 0;
}

int kmm_port_unmap(uintptr_t va, size_t nr_pages)
{
	size_t len;
	void *p;
	int ret, err;

	if (shadow_mode() || nr_pages == 0)
		return 0;
	ret = check_range("unmap", va, nr_pages, &len);
	if (ret)
		return ret;

	pthread_rwlock_rdlock(&region_lock);
	if (!region_covers_locked(va, len)) {
		pthread_rwlock_unlock(&region_lock);
		port_err("port: unmap(%#lx, %zu pages): refused, not inside a kmm reservation",
			 (unsigned long)va, nr_pages);
		return -EINVAL;
	}
	p = mmap((void *)va, len, PROT_NONE,
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	err = errno;
	pthread_rwlock_unlock(&region_lock);
	if (p == MAP_FAILED) {
		report_map_failure("unmap", va, len, err);
		return err == EINVAL ? -EINVAL : -ENOMEM;
	}
	return 0;
}

/* ---- 4. locks ---------------------------------------------------------- */

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(((kmm_port_lock_t *)0)->opaque),
	       "pthread_mutex_t does not fit kmm_port_lock_t");
_Static_assert(_Alignof(pthread_mutex_t) <= _Alignof(kmm_port_lock_t),
	       "pthread_mutex_t is more aligned than kmm_port_lock_t");

static pthread_mutex_t *port_mutex(kmm_port_lock_t *l)
{
	return (pthread_mutex_t *)(void *)l->opaque;
}

static _Noreturn void lock_fatal(const char *what, int err)
{
	/* A lock that does not work cannot be recovered from. */
	fprintf(stderr, "kmm: port: %s: %s\n", what, strerror(err));
	abort();
}

void kmm_port_lock_init(kmm_port_lock_t *l)
{
	pthread_mutexattr_t attr;
	int err;

	pthread_mutexattr_init(&attr);
#ifndef NDEBUG
	/* Debug builds: relocking or unlocking a lock not held is fatal, not a hang. */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
	err = pthread_mutex_init(port_mutex(l), &attr);
	pthread_mutexattr_destroy(&attr);
	if (err)
		lock_fatal("pthread_mutex_init", err);
}

void kmm_port_lock_destroy(kmm_port_lock_t *l)
{
	int err = pthread_mutex_destroy(port_mutex(l));

	if (err)
		port_warn("port: destroying a lock: %s", strerror(err));
}

void kmm_port_lock(kmm_port_lock_t *l)
{
	int err = pthread_mutex_lock(port_mutex(l));

	if (err)
		lock_fatal("pthread_mutex_lock", err);
}

bool kmm_port_trylock(kmm_port_lock_t *l)
{
	int err = pthread_mutex_trylock(port_mutex(l));

	if (err == 0)
		return true;
	if (err != EBUSY)
		lock_fatal("pthread_mutex_trylock", err);
	return false;
}

void kmm_port_unlock(kmm_port_lock_t *l)
{
	int err = pthread_mutex_unlock(port_mutex(l));

	if (err)
		lock_fatal("pthread_mutex_unlock", err);
}

/* ---- 5. CPUs ----------------------------------------------------------- */

static _Thread_local int bound_cpu = -1;

unsigned kmm_port_cpu(void)
{
	int cpu;

	if (bound_cpu >= 0)
		return (unsigned)bound_cpu;
	cpu = sched_getcpu();
	return cpu < 0 ? 0 : (unsigned)cpu;
}

void kmm_port_bind_cpu(int cpu)
{
	bound_cpu = cpu < 0 ? -1 : cpu;
	rcu_register_early();
}

unsigned kmm_port_nr_host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

/* ---- 6. time and log --------------------------------------------------- */

uint64_t kmm_port_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kmm_port_log(int level, const char *msg)
{
	static int debug = -1;	/* racy first read: every thread computes the same */

	if (level >= KMM_LOG_DEBUG) {
		if (__atomic_load_n(&debug, __ATOMIC_RELAXED) < 0) {
			const char *v = getenv("KMM_LOG_DEBUG");

			__atomic_store_n(&debug, v && *v && *v != '0', __ATOMIC_RELAXED);
		}
		if (!__atomic_load_n(&debug, __ATOMIC_RELAXED))
			return;
	}
	fprintf(stderr, "%s\n", msg);
}

/* ---- 7. symbols -------------------------------------------------------- */

/*
 * dladdr1() with RTLD_DL_SYMENT gives the symbol and its size, so callers
 * print as the kernel's %pS: "symbol+0xoff/0xlen".  Symbols of the main
 * program are visible when it is linked with -rdynamic (the kmm program
 * and the tests are).
 */
int kmm_port_symbolize(const void *addr, char *buf, size_t size)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	int n;

	if (!addr || !size)
		return 0;
	if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !info.dli_sname ||
	    !info.dli_saddr)
		return 0;
	n = snprintf(buf, size, "%s+0x%lx/0x%lx", info.dli_sname,
		     (unsigned long)((const char *)addr - (const char *)info.dli_saddr),
		     sym ? (unsigned long)sym->st_size : 0UL);
	return n < 0 ? 0 : (int)KMM_MIN((size_t)n, size - 1);
}

/* ---- spinlocks ---------------------------------------------------------- */

/*
 * One 32-bit word: 0 free, 1 held.  Acquire on take, release on drop (C11
 * atomics, which TSan understands).  lock() spins with a pause and yields
 * the host CPU every 64 tries: threads are CPUs here, but the host may
 * still preempt a holder.
 */
_Static_assert(sizeof(kmm_port_spinlock_t) >= sizeof(atomic_uint),
	       "kmm_port_spinlock_t too small");

static inline atomic_uint *spin_word(kmm_port_spinlock_t *l)
{
	return (atomic_uint *)(void *)l->opaque;
}

void kmm_port_spin_init(kmm_port_spinlock_t *l)
{
	atomic_init(spin_word(l), 0);
}

void kmm_port_spin_destroy(kmm_port_spinlock_t *l)
{
	if (atomic_load_explicit(spin_word(l), memory_order_relaxed))
		port_err("port: destroying a held spinlock %p", (void *)l);
}

bool kmm_port_spin_trylock(kmm_port_spinlock_t *l)
{
	atomic_uint *w = spin_word(l);

	return !atomic_load_explicit(w, memory_order_relaxed) &&
	       !atomic_exchange_explicit(w, 1, memory_order_acquire);
}

void kmm_port_spin_lock(kmm_port_spinlock_t *l)
{
	unsigned tries = 0;

	while (!kmm_port_spin_trylock(l)) {
		if (++tries % 64 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

void kmm_port_spin_unlock(kmm_port_spinlock_t *l)
{
	atomic_store_explicit(spin_word(l), 0, memory_order_release);
}

/* ---- 8. RCU -------------------------------------------------------------- */

/*
 * liburcu, bulletproof flavour: readers need no registration, which suits
 * threads that become CPUs whenever they first call kmm.
 *
 * ThreadSanitizer cannot see a grace period (it is made of membarrier()
 * and fences), so in TSan builds each read-side unlock releases, and each
 * grace period's end acquires, one sync object: "every reader that began
 * before the grace period has finished" then reads as happens-before.
 */
#if defined(__SANITIZE_THREAD__)
#define KMM_PORT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KMM_PORT_TSAN 1
#endif
#endif

#ifdef KMM_PORT_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char rcu_tsan_sync;
#define rcu_tsan_release() __tsan_release(&rcu_tsan_sync)
#define rcu_tsan_acquire() __tsan_acquire(&rcu_tsan_sync)
#else
#define rcu_tsan_release() do { } while (0)
#define rcu_tsan_acquire() do { } while (0)
#endif

_Static_assert(sizeof(struct rcu_head) <= sizeof(((struct kmm_rcu_head *)0)->opaque),
	       "liburcu's rcu_head does not fit kmm_rcu_head");

void kmm_port_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

/*
 * urcu-bp registers a thread at its first read lock and maps its registry
 * then; liburcu aborts when the host refuses that mapping (a process at
 * vm.max_map_count).  A thread that becomes a CPU (kmm_port_bind_cpu(),
 * the booting thread) registers at once, while mappings are still to be
 * had.
 */
static void rcu_register_early(void)
{
	static __thread bool registered;

	if (registered)
		return;
	urcu_bp_read_lock();
	urcu_bp_read_unlock();
	registered = true;
}

void kmm_port_rcu_read_unlock(void)
{
	rcu_tsan_release();
	urcu_bp_read_unlock();
}

void kmm_port_synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	rcu_tsan_acquire();
}

static void rcu_trampoline(struct rcu_head *rh)
{
	struct kmm_rcu_head *head = (struct kmm_rcu_head *)(void *)rh;

	rcu_tsan_acquire();
	head->func(head);
	rcu_tsan_release();	/* for kmm_port_rcu_barrier()'s caller */
}

void kmm_port_call_rcu(struct kmm_rcu_head *head, void (*func)(struct kmm_rcu_head *head))
{
	head->func = func;
	rcu_tsan_release();	/* what the caller did before, the callback sees */
	urcu_bp_call_rcu((struct rcu_head *)(void *)head->opaque, rcu_trampoline);
}

void kmm_port_rcu_barrier(void)
{
	urcu_bp_barrier();
	rcu_tsan_acquire();
}

/* ---- 9. deferred work ---------------------------------------------------- */

/*
 * One worker thread ("kmm-events", the kernel's system_unbound_wq) runs
 * due items in deadline order.  work_lock guards the queue and every
 * item's port state; it is never held while an item's function runs.
 * The thread starts at the first schedule and then waits for work for as
 * long as the process lives; a child of fork() starts its own.
 */
struct work_state {
	struct kmm_work *next;
	uint64_t deadline;
	uintptr_t pending;	/* on the queue */
	uintptr_t unused;
};
_Static_assert(sizeof(struct work_state) <= sizeof(((struct kmm_work *)0)->opaque),
	       "work_state does not fit kmm_work");

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond;	/* queue changed (CLOCK_MONOTONIC) */
static pthread_cond_t work_done;	/* an item finished running */
static pthread_once_t work_once = PTHREAD_ONCE_INIT;
static struct kmm_work *work_queue;	/* sorted by deadline */
static struct kmm_work *work_running;
static bool work_thread_started;

static struct work_state *ws(struct kmm_work *w)
{
	return (struct work_state *)(void *)w->opaque;
}

static void work_unlink_locked(struct kmm_work *w)
{
	struct kmm_work **pp = &work_queue;

	while (*pp != w)
		pp = &ws(*pp)->next;
	*pp = ws(w)->next;
	ws(w)->pending = 0;
}

static void work_insert_locked(struct kmm_work *w)
{
	struct kmm_work **pp = &work_queue;

	while (*pp && ws(*pp)->deadline <= ws(w)->deadline)
		pp = &ws(*pp)->next;
	ws(w)->next = *pp;
	*pp = w;
	ws(w)->pending = 1;
}

static void *work_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&work_lock);
	for (;;) {
		struct kmm_work *w = work_queue;
		uint64_t now = kmm_port_clock_ns();
		void (*fn)(struct kmm_work *work);

		if (!w) {
			pthread_cond_wait(&work_cond, &work_lock);
			continue;
		}
		if (ws(w)->deadline > now) {
			struct timespec ts = {
				.tv_sec = (time_t)(ws(w)->deadline / 1000000000u),
				.tv_nsec = (long)(ws(w)->deadline % 1000000000u),
			};

			pthread_cond_timedwait(&work_cond, &work_lock, &ts);
			continue;
		}
		work_unlink_locked(w);
		work_running = w;
		fn = w->func;	/* a concurrent schedule rewrites it under the lock */
		pthread_mutex_unlock(&work_lock);
		fn(w);
		pthread_mutex_lock(&work_lock);
		work_running = NULL;
		pthread_cond_broadcast(&work_done);
	}
	return NULL;
}

static void work_atfork_child(void)
{
	struct kmm_work *w, *next;

	/* The parent's worker did not come along; neither does its queue. */
	pthread_mutex_init(&work_lock, NULL);
	for (w = work_queue; w; w = next) {
		next = ws(w)->next;
		ws(w)->next = NULL;
		ws(w)->pending = 0;
	}
	work_queue = NULL;
	work_running = NULL;
	work_thread_started = false;
}

static void work_init_once(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&work_cond, &a);
	pthread_condattr_destroy(&a);
	pthread_cond_init(&work_done, NULL);
	pthread_atfork(NULL, NULL, work_atfork_child);
}

void kmm_port_schedule_work(struct kmm_work *work, void (*func)(struct kmm_work *work),
			    uint64_t delay_ns)
{
	uint64_t deadline = kmm_port_clock_ns() + delay_ns;

	pthread_once(&work_once, work_init_once);
	pthread_mutex_lock(&work_lock);
	if (!work_thread_started) {
		pthread_attr_t attr;
		pthread_t t;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, work_thread, NULL) == 0) {
			pthread_setname_np(t, "kmm-events");
			work_thread_started = true;
		}
		pthread_attr_destroy(&attr);
		if (!work_thread_started) {
			/* No thread to be had: run it here, as the reference port does. */
			pthread_mutex_unlock(&work_lock);
			kmm_port_log(KMM_LOG_WARNING,
				     "port: cannot start the kmm-events worker; running deferred work inline");
			func(work);
			return;
		}
	}
	work->func = func;
	if (ws(work)->pending) {
		if (deadline >= ws(work)->deadline) {
			pthread_mutex_unlock(&work_lock);
			return;
		}
		work_unlink_locked(work);
	}
	ws(work)->deadline = deadline;
	work_insert_locked(work);
	if (work_queue == work)
		pthread_cond_signal(&work_cond);
	pthread_mutex_unlock(&work_lock);
}

void kmm_port_cancel_work_sync(struct kmm_work *work)
{
	pthread_once(&work_once, work_init_once);
	pthread_mutex_lock(&work_lock);
	if (ws(work)->pending)
		work_unlink_locked(work);
	while (work_running == work)
		pthread_cond_wait(&work_done, &work_lock);
	pthread_mutex_unlock(&work_lock);
}

/* ---- 10. user page faults ------------------------------------------------ */

/*
 * userfaultfd in missing-page mode: a demand range is an anonymous private
 * mapping registered with one process-wide userfaultfd; a thread
 * ("kmm-uffd") reads each fault, asks the core to resolve it (which maps
 * the memfd page over the faulting one with MAP_FIXED, dropping that
 * page's registration) and wakes the faulting thread, which retries and
 * finds the page.  A fault the core refuses gets the page turned
 * PROT_NONE before the wake, so the retry faults for real (SIGSEGV).
 */
static struct {
	pthread_once_t once;
	int fd;			/* -1: none to be had */
	int err;		/* why not */
	bool minor;		/* UFFD_FEATURE_MINOR_SHMEM: migration fences */
} uffd = { .once = PTHREAD_ONCE_INIT, .fd = -1 };

static void *uffd_thread(void *arg)
{
	(void)arg;
	rcu_register_early();
	for (;;) {
		struct uffd_msg msg;
		struct uffdio_range range;
		ssize_t n = read(uffd.fd, &msg, sizeof(msg));
		uintptr_t addr;

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n != (ssize_t)sizeof(msg))
			return NULL;	/* closed */
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = (uintptr_t)msg.arg.pagefault.address & ~(uintptr_t)(PORT_PAGE_SIZE - 1);
		if (kmm_handle_user_fault(addr, msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE))
			kmm_port_unmap(addr, 1);
		range.start = addr;
		range.len = PORT_PAGE_SIZE;
		ioctl(uffd.fd, UFFDIO_WAKE, &range);
	}
}

static void uffd_init(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	pthread_attr_t attr;
	pthread_t t;
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0) {
		uffd.err = errno;
		return;
	}
#ifdef UFFD_FEATURE_MINOR_SHMEM
	/* Minor faults on shmem (5.13+) fence pages being migrated.  A
	 * feature the host lacks fails UFFDIO_API, which can be asked once
	 * per descriptor: then start over without it. */
	api.features = UFFD_FEATURE_MINOR_SHMEM;
	if (ioctl(fd, UFFDIO_API, &api) == 0) {
		uffd.minor = true;
	} else {
		close(fd);
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
		if (fd < 0) {
			uffd.err = errno;
			return;
		}
		api = (struct uffdio_api){ .api = UFFD_API };
	}
#endif
	if (!uffd.minor && ioctl(fd, UFFDIO_API, &api) != 0) {
		uffd.err = errno;
		close(fd);
		return;
	}
	uffd.fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, uffd_thread, NULL) != 0) {
		uffd.err = EAGAIN;
		uffd.fd = -1;
		close(fd);
	} else {
		pthread_setname_np(t, "kmm-uffd");
	}
	pthread_attr_destroy(&attr);
}

/*
 * What every userfaultfd-backed call does first: nothing in shadow mode or
 * for no pages (0), a checked range (its length in *@len), the userfaultfd
 * set up (-ENOSYS without one), and the kmm_fail_host_call fault point
 * (-ENOMEM).  Return: 1 to go on, else the call's return value.
 */
static int uffd_call_begin(const char *what, uintptr_t va, size_t nr_pages, size_t *len)
{
	int ret;

	if (shadow_mode() || nr_pages == 0)
		return 0;
	ret = check_range(what, va, nr_pages, len);
	if (ret)
		return ret;
	pthread_once(&uffd.once, uffd_init);
	if (uffd.fd < 0)
		return -ENOSYS;
	if (host_call_fails(*len))
		return -ENOMEM;
	return 1;
}

int kmm_port_demand_map(uintptr_t va, size_t nr_pages, unsigned prot)
{
	struct uffdio_register reg;
	size_t len;
	void *p;
	int ret, err = 0;

	ret = uffd_call_begin("demand_map", va, nr_pages, &len);
	if (ret <= 0)
		return ret;
	pthread_rwlock_rdlock(&region_lock);
	if (!region_covers_locked(va, len)) {
		pthread_rwlock_unlock(&region_lock);
		port_err("port: demand_map(%#lx, %zu pages): refused, not inside a kmm reservation",
			 (unsigned long)va, nr_pages);
		return -EINVAL;
	}
	p = mmap((void *)va, len, host_prot(prot),
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		err = errno;
	} else {
		reg = (struct uffdio_register){
			.range = { .start = va, .len = len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(uffd.fd, UFFDIO_REGISTER, &reg) != 0) {
			err = errno;
			mmap((void *)va, len, PROT_NONE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		}
	}
	pthread_rwlock_unlock(&region_lock);
	if (err) {
		report_map_failure("demand_map", va, len, err);
		return err == ENOMEM ? -ENOMEM : err == EPERM ? -ENOSYS : -EINVAL;
	}
	return 0;
}

int kmm_port_migrate_fence(uintptr_t va, size_t nr_pages, unsigned prot)
{
#ifdef UFFDIO_REGISTER_MODE_MINOR
	struct uffdio_register reg;
	size_t len;
	int ret;

	ret = uffd_call_begin("migrate_fence", va, nr_pages, &len);
	if (ret <= 0)
		return ret;
	if (uffd.minor) {
		reg = (struct uffdio_register){
			.range = { .start = va, .len = len },
			.mode = UFFDIO_REGISTER_MODE_MINOR,
		};
		/*
		 * Registered first, then the host PTEs go: until the next
		 * kmm_port_map() (a MAP_FIXED mapping, which drops the
		 * registration) every touch is a minor fault for kmm-uffd.
		 * A range that is not all memfd pages cannot be registered:
		 * fall back below.
		 */
		if (ioctl(uffd.fd, UFFDIO_REGISTER, &reg) == 0) {
			if (madvise((void *)va, len, MADV_DONTNEED) == 0)
				return 0;
			ret = errno;
			port_err("port: migrate_fence(%#lx, %zu pages): madvise: %s",
				 (unsigned long)va, nr_pages, strerror(ret));
			ioctl(uffd.fd, UFFDIO_UNREGISTER, &reg.range);
		}
	}
#endif
	return kmm_port_demand_map(va, nr_pages, prot);
}
