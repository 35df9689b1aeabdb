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

#endif /* KMM_PORT_LINUX_H */
