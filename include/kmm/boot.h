/* SPDX-License-Identifier: MIT */
/*
 * kmm/boot.h - booting and shutting down the machine.
 */
#ifndef KMM_BOOT_H
#define KMM_BOOT_H

#include <kmm/mmzone.h>

/**
 * kmm_boot - build a machine from a kernel-style command line.
 * @cmdline: space-separated parameters, or NULL/"" for the defaults:
 *   mem=SIZE            memory (K/M/G/T suffixes; default 1G; 4M..64T)
 *   numa=N              nodes, memory split evenly (default 1)
 *   nr_cpus=N           CPUs (default: the host's, at most KMM_MAX_CPUS)
 *   movablecore=SIZE|N% ZONE_MOVABLE at the top of each node
 *   cma=SIZE[@BASE]     a CMA area (MIGRATE_CMA pageblocks)
 *   vmalloc=SIZE        kernel VA space (default 32G)
 *   kmm.mode=real|strict|shadow
 *   fail_page_alloc=<interval>,<probability>,<space>,<times>
 *   fail_page_alloc.nth=N   fail the Nth page allocation from now
 *   init_on_alloc=0|1, init_on_free=0|1
 *   kmm.seed=N          seed of kmm's pseudo-random numbers
 *   transparent_hugepage=always|madvise|never
 *                       with THP on (the default, as on Debian), min_free_kbytes
 *                       is raised to THP's recommendation as Linux does
 *
 * Repeatable: kmm_shutdown() then kmm_boot() again in the same process.
 * Context: one thread, no other kmm call in flight.
 * Return: 0; -EINVAL for an unknown or malformed parameter (logged, naming
 * it); -EBUSY when already booted; -ENOMEM when the host refuses memory.
 * On failure nothing is left allocated.
 */
int kmm_boot(const char *cmdline);

/**
 * kmm_shutdown - free every host resource of the machine.  Pages still
 * allocated are simply forgotten (their memory goes with the memfd).
 * Context: one thread, no other kmm call in flight.  Safe when not booted.
 */
void kmm_shutdown(void);

/** kmm_booted - true between a successful kmm_boot() and kmm_shutdown(). */
bool kmm_booted(void);

/**
 * kmm_smp_processor_id - the current CPU, 0..nr_cpus-1.
 * Context: any thread.
 */
unsigned kmm_smp_processor_id(void);

/**
 * kmm_cpu_to_node - the node of @cpu (taken modulo nr_cpus): CPUs are
 * spread evenly over nodes in contiguous runs.
 */
int kmm_cpu_to_node(unsigned cpu);

/** kmm_numa_node_id - node of the current CPU. */
int kmm_numa_node_id(void);

/**
 * kmm_bind_cpu - make the calling thread run as CPU @cpu (-1: follow the
 * host CPU).
 * Return: 0, or -EINVAL if @cpu < -1, @cpu >= KMM_MAX_CPUS, or (once
 * booted) @cpu >= nr_cpus.
 */
int kmm_bind_cpu(int cpu);

/**
 * kmm_parse_size - parse "SIZE" with optional K/M/G/T suffix (binary).
 * Return: 0 or -EINVAL (garbage, overflow).
 */
int kmm_parse_size(const char *s, size_t len, uint64_t *out);

/** kmm_random - the next value of kmm's xorshift generator (kmm.seed=). */
uint64_t kmm_random(void);

#endif /* KMM_BOOT_H */
