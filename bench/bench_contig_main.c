/* SPDX-License-Identifier: MIT */
/*
 * bench_contig - standalone driver of the alloc_contig_range benchmark
 * (bench/bench_contig.c); `kmm bench contig` runs the same code.
 *
 *   build/bench/bench_contig [--quick] [--csv] [--boot CMDLINE]
 *                            [--iterations N]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	return kmm_bench_main_default("contig", argc, argv);
}
