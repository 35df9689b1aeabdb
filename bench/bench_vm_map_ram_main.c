/* SPDX-License-Identifier: MIT */
/*
 * bench_vm_map_ram - standalone driver of the vm_map_ram benchmark
 * (bench/bench_vm_map_ram.c); `kmm bench vm_map_ram` runs the same code.
 *
 *   build/bench/bench_vm_map_ram [--quick] [--csv] [--boot CMDLINE]
 *                                [--shadow-boot CMDLINE] [--threads 2]
 *                                [--iterations N] [--seconds S]
 */
#include "bench.h"

int main(int argc, char **argv)
{
	return kmm_bench_main_default("vm_map_ram", argc, argv);
}
