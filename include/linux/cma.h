/* SPDX-License-Identifier: MIT */
/*
 * linux/cma.h - kmm compatibility header: CMA under the kernel's names
 * (6.18 signatures; phys_addr_t is a uint64_t).  See <kmm/cma.h>.
 */
#ifndef KMM_LINUX_CMA_H
#define KMM_LINUX_CMA_H

#include <kmm/cma.h>

#define cma kmm_cma

static inline int cma_declare_contiguous(uint64_t base, uint64_t size, uint64_t limit,
					 uint64_t alignment, unsigned int order_per_bit,
					 bool fixed, const char *name, struct kmm_cma **res_cma)
{
	return kmm_cma_declare_contiguous(base, size, limit, alignment, order_per_bit, fixed,
					  name, res_cma);
}

static inline int cma_init_reserved_mem(uint64_t base, uint64_t size,
					unsigned int order_per_bit, const char *name,
					struct kmm_cma **res_cma)
{
	return kmm_cma_init_reserved_mem(base, size, order_per_bit, name, res_cma);
}

static inline struct kmm_page *cma_alloc(struct kmm_cma *cma, unsigned long count,
					 unsigned int align, bool no_warn)
{
	return kmm_cma_alloc(cma, count, align, no_warn);
}

static inline bool cma_release(struct kmm_cma *cma, const struct kmm_page *pages,
			       unsigned long count)
{
	return kmm_cma_release(cma, pages, count);
}

static inline const char *cma_get_name(const struct kmm_cma *cma)
{
	return kmm_cma_get_name(cma);
}

static inline uint64_t cma_get_base(const struct kmm_cma *cma)
{
	return kmm_cma_get_base(cma);
}

static inline unsigned long cma_get_size(const struct kmm_cma *cma)
{
	return kmm_cma_get_size(cma);
}

#endif /* KMM_LINUX_CMA_H */
