/* SPDX-License-Identifier: MIT */
/*
 * bench_page_alloc - standalone driver of the page-allocator benchmark
 * (bench/bench_page_alloc.c); `kmm bench page_alloc` runs the same code.
 *
 *   build/bench/bench_page_alloc [--quick] [--csv] [--boot CMDLINE]
 *                                [--threads 1,2] [--iterations N] [--seconds S]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	return kmm_bench_main_default("page_alloc", argc, argv);
}
