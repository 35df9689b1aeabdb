/* SPDX-License-Identifier: MIT */
/* workload.h - the mixed workload behind `kmm run` and `kmm info --workload`. */
#ifndef KMM_TOOLS_WORKLOAD_H
#define KMM_TOOLS_WORKLOAD_H

#include <stdint.h>
#include <stdio.h>

/* xorshift64: the tools' cheap, seeded randomness (state must not be 0). */
static inline uint64_t tool_xs(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

struct workload_opts {
	unsigned threads;	/* 0: one per CPU */
	unsigned long steps;	/* per thread */
	uint64_t seed;
	int keep_percent;	/* live blocks kept at the end (for reports) */
	int verbose;
};

struct workload_result {
	unsigned long allocs, frees, fails, verified_pages, corrupt_pages;
	unsigned long by_order[11];
	unsigned long by_mt[3];
	unsigned long held_blocks;	/* still live after the run */
	unsigned long vallocs, vfrees;	/* vmalloc/vzalloc and vfree calls */
	unsigned long vmaps, vmap_pages;	/* vm_map_ram bursts, pages mapped */
	unsigned long held_vareas;
	double seconds;
};

/* Run the page-allocator workload on the booted machine. 0 or -1. */
int workload_run(const struct workload_opts *o, struct workload_result *r);

/* Verify and free the blocks workload_run() kept live. 0 or -1. */
int workload_release(struct workload_result *r);

#endif
