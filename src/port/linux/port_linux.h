/* SPDX-License-Identifier: MIT */
/*
 * port_linux.h - hosted-port extras that are not part of the narrow
 * platform contract (kmm/port.h).  Only code that knows it runs on the
 * hosted Linux port (user mappings, tools, tests) includes this.
 *
 * The region registry
 * -------------------
 * kmm_port_map() and kmm_port_unmap() place host mappings with MAP_FIXED,
 * which silently replaces whatever was there.  To make that safe they only
 * ever touch address ranges kmm owns: the kernel VA reservation (registered
 * by kmm_port_va_reserve() itself) and regions registered here, e.g. the
 * PROT_NONE host reservation behind a user mm.  A map or unmap request that
 * does not lie wholly inside one registered region is refused with -EINVAL
 * and logged; nothing is mapped.
 *
 * Context: any thread; the registry is protected by a reader-writer lock
 * (map/unmap read it, register/unregister write it).
 */
#ifndef KMM_PORT_LINUX_H
#define KMM_PORT_LINUX_H

#include <stddef.h>
#include <stdint.h>

/**
 * kmm_port_linux_register_region - allow kmm_port_map()/kmm_port_unmap()
 * inside [@start, @start + @len).
 * @start, @len: page aligned, @len > 0; the caller owns the host range
 *   (typically a PROT_NONE reservation it made).
 * Return: 0; -EINVAL (unaligned, empty, wrapping, or overlapping a
 * registered region); -ENOMEM.
 */
int kmm_port_linux_register_region(uintptr_t start, size_t len);

/**
 * kmm_port_linux_unregister_region - forget the region that starts at
 * @start.  Host mappings inside it are left as they are (the owner unmaps
 * its reservation).  Unknown @start is logged and ignored.
 */
void kmm_port_linux_unregister_region(uintptr_t start);

/**
 * kmm_port_linux_node_memfd - the memfd holding node @nid's physical
 * memory (PFN n at offset n * PAGE_SIZE), sealed against shrinking and
 * growing.  Return: the descriptor (owned by kmm: do not close it), or -1
 * (shadow mode, no such node, not booted).
 */
int kmm_port_linux_node_memfd(unsigned nid);

/**
 * kmm_port_linux_meta_live - kmm_port_meta_alloc() blocks not yet given
 * back with kmm_port_meta_free() (a leak check for tests).
 * Context: any thread (an atomic read).
 */
long kmm_port_linux_meta_live(void);

/* ---- handing a user mapping to another process ------------------------- */

struct kmm_mm_struct;

/**
 * kmm_mm_share_send - hand [@addr, @addr + @len) of user mm @mm to the
 * process at the other end of the stream Unix-domain socket @sock: one
 * message carrying a file per node the range uses (SCM_RIGHTS), then the
 * list of runs (PFN-contiguous, same protection) the range maps; unmapped
 * pages are holes.  @len is rounded up to whole pages.
 *
 * Files: a node whose pages in the range are all mapped read-only is sent
 * as a read-only reopen of its memfd (O_RDONLY through /proc/self/fd): the
 * receiver can neither write it nor map it writable.  A node with a
 * writable page in the range is sent as the memfd itself, read-write (its
 * read-only runs, if any, still go through a read-only reopen).
 *
 * Pins: every page sent gets one more reference, never dropped while the
 * machine lives (kmm cannot see the receiver unmap it): the sender's
 * munmap or vfree drops only its own reference, so the page is never
 * freed or reused, and migration of it fails (alloc_contig_range() over
 * it returns -EBUSY, "pinned").  A page the range maps that nobody holds
 * (a raw remap_pfn_range() of a free frame) is refused with -EFAULT, and
 * nothing is pinned or sent.  Once sendmsg() has been tried the pins stay,
 * even if sending fails.
 *
 * What the receiver can reach: every page of every file sent (the node's
 * physical memory), not only the pages of the range, read-only or
 * read-write as above; it cannot resize the files (they are sealed).
 * docs/SECURITY.md has the details.  Send only to a process you would
 * give that memory.
 *
 * Context: takes @mm's mmap_lock (the walk, the reopens and the pins
 * happen under it).  Return: 0; -EINVAL (no user mm, unaligned @addr,
 * @len 0, a range outside the mm, shadow mode, not a SOCK_STREAM socket,
 * nothing mapped); -ENOMEM; -EFAULT (see above); -errno of the reopen, of
 * sendmsg() or send(); -EIO (a short header).
 */
int kmm_mm_share_send(int sock, struct kmm_mm_struct *mm, unsigned long addr,
		      unsigned long len);

/**
 * kmm_mm_share_recv - receive what kmm_mm_share_send() sent on @sock and
 * map it, in this process, at a new address of the same length: the
 * same pages, the same protections, holes PROT_NONE.  Read-only runs are
 * mapped from a read-only file, so they cannot be made writable
 * (mprotect() fails).  The files arrive close-on-exec and are closed once
 * the runs are mapped.  Needs no booted kmm (any process may call it).
 * Return: the address and *@len, or NULL with errno set (EPROTO for a
 * malformed or cut-short message, ENOMEM, or the errno of recvmsg() or
 * mmap()).
 * munmap(addr, *len) undoes it.
 */
void *kmm_mm_share_recv(int sock, size_t *len);

#endif /* KMM_PORT_LINUX_H */
