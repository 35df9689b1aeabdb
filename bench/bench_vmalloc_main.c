/* SPDX-License-Identifier: MIT */
/*
 * bench_vmalloc - standalone driver of the vmalloc benchmark
 * (bench/bench_vmalloc.c); `kmm bench vmalloc` runs the same code.
 *
 *   build/bench/bench_vmalloc [--quick] [--csv] [--boot CMDLINE]
 *                             [--shadow-boot CMDLINE] [--iterations N]
 *                             [--seconds S]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	return kmm_bench_main_default("vmalloc", argc, argv);
}
