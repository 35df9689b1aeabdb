/* SPDX-License-Identifier: MIT */
/* contig_phase.h - user memory and contiguous allocation in `kmm run`. */
#ifndef KMM_TOOLS_CONTIG_PHASE_H
#define KMM_TOOLS_CONTIG_PHASE_H

#include <stdint.h>

struct contig_phase_opts {
	unsigned long rounds;
	uint64_t seed;
};

struct contig_phase_result {
	unsigned long user_pages;		/* populated anonymous pages */
	unsigned long contig_ok, contig_busy;	/* alloc_contig_range calls */
	unsigned long cma_ok, cma_fail;		/* cma_alloc calls */
	unsigned long released;
	unsigned long migrated;			/* pages moved (pgmigrate_success) */
	unsigned long corrupt;			/* held pages that changed */
	unsigned long user_bad;			/* user pages that lost their bytes */
	unsigned long vmalloc_bad;		/* words the remapped buffer lost */
};

/*
 * On the booted machine, from one thread: 0, or -1 when a byte or a
 * validator did not check out (or no memory for the mm).
 */
int contig_phase_run(const struct contig_phase_opts *o, struct contig_phase_result *r);

#endif
