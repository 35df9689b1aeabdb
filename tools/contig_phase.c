/* SPDX-License-Identifier: MIT */
/*
 * contig_phase.c - the user-memory and contiguous-allocation part of
 * `kmm run`: a user mm maps a vmalloc_user() buffer with
 * remap_vmalloc_range() and a quarter of free memory as populated
 * anonymous (movable) memory, every page stamped with its address; then
 * rounds of alloc_contig_range() of random pageblock-sized ranges and,
 * when the machine has a CMA area, cma_alloc() of random sizes, each
 * range stamped while held and checked when released.  At the end every
 * user page must still hold its stamp, the vmalloc buffer must read what
 * the user mapping wrote, and every validator must pass.
 */
#include <string.h>

#include <kmm/kmm.h>
#include <kmm/cma.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/vmalloc.h>

#include "contig_phase.h"
#include "workload.h"

#define HELD 8

struct range {
	unsigned long pfn, n;
	bool cma;
};


static uint64_t ustamp(unsigned long addr)
{
	return (addr * 0x9e3779b97f4a7c15ULL) ^ 0x6b6d6d;	/* "kmm" */
}

static bool real_mode(void)
{
	return kmm_machine.params.mode != KMM_MODE_SHADOW;
}

static void range_stamp(const struct range *r)
{
	for (unsigned long k = 0; real_mode() && k < r->n; k++)
		*(uint64_t *)kmm_page_address(kmm_pfn_to_page(r->pfn + k)) = ~(r->pfn + k);
}

static unsigned long range_release(const struct range *r, struct kmm_cma *cma)
{
	unsigned long bad = 0;

	for (unsigned long k = 0; real_mode() && k < r->n; k++)
		bad += *(uint64_t *)kmm_page_address(kmm_pfn_to_page(r->pfn + k)) != ~(r->pfn + k);
	if (r->cma)
		kmm_cma_release(cma, kmm_pfn_to_page(r->pfn), r->n);
	else
		kmm_free_contig_range(r->pfn, r->n);
	return bad;
}

/* A driver whose mmap method maps its vmalloc_user() buffer. */
static int drv_mmap(struct kmm_mmap_file *file, struct kmm_vm_area_struct *vma)
{
	return kmm_remap_vmalloc_range(vma, file->private_data, vma->vm_pgoff);
}

int contig_phase_run(const struct contig_phase_opts *o, struct contig_phase_result *res)
{
	struct kmm_cma *cma = kmm_cma_area(0);
	struct kmm_mmap_file drv = { .mmap = drv_mmap };
	struct kmm_mm_struct *mm;
	struct range held[HELD];
	unsigned nheld = 0;
	unsigned long ua, vu, upages, i, vbytes = 64 * KMM_PAGE_SIZE;
	uint64_t rng = o->seed | 1;
	char *vbuf;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	mm = kmm_mm_create(0);
	vbuf = kmm_vmalloc_user(vbytes);
	if (!mm || !vbuf) {
		kmm_vfree(vbuf);
		kmm_mm_destroy(mm);
		return -1;
	}
	/* remap_vmalloc_range(): the buffer at a user address too. */
	drv.private_data = vbuf;
	vu = kmm_vm_mmap(mm, 0, vbytes, KMM_PROT_READ | KMM_PROT_WRITE, KMM_MAP_SHARED, 0, &drv);
	if (KMM_IS_ERR_VALUE(vu)) {
		kmm_vfree(vbuf);
		kmm_mm_destroy(mm);
		return -1;
	}
	for (i = 0; real_mode() && i < vbytes / 8; i++)
		((uint64_t *)vu)[i] = ustamp(vu + i * 8);
	kmm_drain_all_pages(NULL);
	upages = (unsigned long)(kmm_nr_free_pages() / 4);
	ua = kmm_vm_mmap(mm, 0, upages * KMM_PAGE_SIZE, KMM_PROT_READ | KMM_PROT_WRITE,
			 KMM_MAP_PRIVATE | KMM_MAP_ANONYMOUS | KMM_MAP_POPULATE, 0, NULL);
	if (KMM_IS_ERR_VALUE(ua)) {
		kmm_vfree(vbuf);
		kmm_mm_destroy(mm);
		return -1;
	}
	res->user_pages = upages;
	for (i = 0; real_mode() && i < upages; i++)
		*(uint64_t *)(ua + i * KMM_PAGE_SIZE) = ustamp(ua + i * KMM_PAGE_SIZE);
	for (unsigned long round = 0; round < o->rounds; round++) {
		uint64_t r = tool_xs(&rng) % 100;

		if (nheld == HELD || (nheld && r < 40)) {
			unsigned j = (unsigned)(tool_xs(&rng) % nheld);

			res->corrupt += range_release(&held[j], cma);
			held[j] = held[--nheld];
			res->released++;
		} else if (r < 75 || !cma) {
			unsigned long n = KMM_PAGEBLOCK_NR_PAGES << (tool_xs(&rng) % 2);
			unsigned long start = KMM_ALIGN_DOWN(tool_xs(&rng) % (kmm_machine.max_pfn - n),
							     KMM_PAGEBLOCK_NR_PAGES);

			if (!kmm_alloc_contig_range(start, start + n, KMM_ACR_FLAGS_NONE,
						    KMM_GFP_KERNEL | KMM___GFP_NOWARN)) {
				held[nheld] = (struct range){ start, n, false };
				range_stamp(&held[nheld++]);
				res->contig_ok++;
			} else {
				res->contig_busy++;
			}
		} else {
			unsigned long n = 1 + tool_xs(&rng) % 1024;
			struct kmm_page *p = kmm_cma_alloc(cma, n, (unsigned)(tool_xs(&rng) % 10), true);

			if (p) {
				held[nheld] = (struct range){ kmm_page_to_pfn(p), n, true };
				range_stamp(&held[nheld++]);
				res->cma_ok++;
			} else {
				res->cma_fail++;
			}
		}
	}
	while (nheld) {
		res->corrupt += range_release(&held[--nheld], cma);
		res->released++;
	}
	for (i = 0; real_mode() && i < upages; i++)
		res->user_bad += *(uint64_t *)(ua + i * KMM_PAGE_SIZE) != ustamp(ua + i * KMM_PAGE_SIZE);
	for (i = 0; real_mode() && i < vbytes / 8; i++)
		res->vmalloc_bad += ((uint64_t *)vbuf)[i] != ustamp(vu + i * 8);
	res->migrated = kmm_pgmigrate_success();
	if (kmm_mm_validate(mm) || kmm_cma_validate())
		ret = -1;
	kmm_vm_munmap(mm, ua, upages * KMM_PAGE_SIZE);
	kmm_vm_munmap(mm, vu, vbytes);
	kmm_mm_destroy(mm);
	kmm_vfree(vbuf);
	if (res->corrupt || res->user_bad || res->vmalloc_bad)
		ret = -1;
	return ret;
}
