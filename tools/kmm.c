/* SPDX-License-Identifier: MIT */
/*
 * kmm.c - the kmm program: boots a machine and runs one subcommand.
 *
 *   kmm run     the main job: mixed workload, checked bytes, reports
 *   kmm info    one /proc report, optionally after the workload
 *   kmm bench   the benchmarks of bench/ (when built in)
 *   kmm test-vmalloc  the kernel's lib/test_vmalloc.c module (test_vmalloc.c)
 *   kmm map     SVG/HTML pictures of memory and the vmalloc space (map.c)
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kmm/kmm.h>
#include <kmm/vmalloc.h>

#include "replay.h"
#include "test_vmalloc.h"
#include <kmm/cma.h>

#include "workload.h"
#include "contig_phase.h"
#include "map.h"

#ifdef KMM_HAVE_BENCH
#include "bench.h"
#endif

#define EXIT_USAGE 2

static const char *boot_cmdline = "";

static void print_report(size_t (*fn)(char *, size_t))
{
	size_t need = fn(NULL, 0) + 1;
	char *buf = malloc(need);

	if (!buf)
		return;
	fn(buf, need);
	fputs(buf, stdout);
	free(buf);
}

static void print_report_head(size_t (*fn)(char *, size_t), int lines)
{
	size_t need = fn(NULL, 0) + 1;
	char *buf = malloc(need), *p;
	int n = 0;

	if (!buf)
		return;
	fn(buf, need);
	for (p = buf; *p && n < lines; p++) {
		putchar(*p);
		if (*p == '\n')
			n++;
	}
	if (*p)
		printf("...\n");
	free(buf);
}

static int do_boot(void)
{
	int ret = kmm_boot(boot_cmdline);

	if (ret) {
		fprintf(stderr, "kmm: boot \"%s\" failed: %s\n", boot_cmdline,
			strerror(-ret));
		return 1;
	}
	return 0;
}

/* ---- run --------------------------------------------------------------- */

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: kmm run [--boot \"PARAMS\"] [--steps N] [--threads N] [--seed N]\n"
		"               [--map PREFIX | --no-map]\n"
		"\n"
		"Boot a machine (default: mem=1G, one CPU per host CPU) and run the\n"
		"main job: every CPU allocates and frees pages of all orders and\n"
		"migratetypes in a kernel-like mix, stamping every page through the\n"
		"direct map and checking the stamps before each free.  Prints\n"
		"/proc/buddyinfo and /proc/pagetypeinfo before and after (with a\n"
		"quarter of the blocks still held), a summary, and validates every\n"
		"structure.  Exit 0 when all bytes and structures check out.\n"
		"\n"
		"  --boot PARAMS   kernel-style boot parameters (see kmm_boot(3))\n"
		"  --steps N       operations per CPU (default 200000)\n"
		"  --threads N     worker threads (default: one per CPU)\n"
		"  --seed N        workload seed (default: from the clock; printed)\n"
		"  --map PREFIX    write PREFIX.svg and PREFIX.html (kmm map) after the\n"
		"                  workload, while a quarter of its blocks are held\n"
		"                  (default: kmm-run.svg and kmm-run.html here)\n"
		"  --no-map        write no pictures\n");
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "boot", required_argument, NULL, 'b' },
		{ "steps", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'S' },
		{ "map", required_argument, NULL, 'm' },
		{ "no-map", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *map_prefix = "kmm-run";
	struct workload_opts wo = { .steps = 200000, .keep_percent = 25 };
	struct workload_result r;
	uint64_t free_boot, free_end, pt_boot, pt_pages;
	struct kmm_vmalloc_stats vst;
	struct contig_phase_result cr;
	int c, ret = 0;
	unsigned i;

	wo.seed = (uint64_t)time(NULL);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:s:t:S:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': boot_cmdline = optarg; break;
		case 'm': map_prefix = optarg; break;
		case 'M': map_prefix = NULL; break;
		case 's': wo.steps = strtoul(optarg, NULL, 0); break;
		case 't': wo.threads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'S': wo.seed = strtoull(optarg, NULL, 0); break;
		case 'h': run_usage(stdout); return 0;
		default: run_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		run_usage(stderr);
		return EXIT_USAGE;
	}
	if (!*boot_cmdline)
		boot_cmdline = "cma=64M";	/* the default machine, with a CMA area */
	if (do_boot())
		return 1;
	printf("kmm: booted \"%s\": %u node(s), %u CPU(s), %" PRIu64 " MiB, mode %s, min_free_kbytes %" PRIu64 "\n",
	       boot_cmdline, kmm_machine.nr_nodes, kmm_machine.nr_cpus,
	       kmm_machine.max_pfn >> 8,
	       kmm_machine.params.mode == KMM_MODE_SHADOW ? "shadow" :
	       kmm_machine.params.mode == KMM_MODE_STRICT ? "strict" : "real",
	       kmm_machine.min_free_kbytes);
	printf("kmm: workload seed %" PRIu64 ", %lu steps per CPU\n\n", wo.seed,
	       wo.steps);
	kmm_drain_all_pages(NULL);	/* boot's own allocations used a pcp list */
	free_boot = kmm_nr_free_pages();
	pt_boot = (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages);

	printf("==> /proc/buddyinfo (before) <==\n");
	print_report(kmm_report_buddyinfo);
	printf("\n==> /proc/pagetypeinfo (before) <==\n");
	print_report(kmm_report_pagetypeinfo);

	if (workload_run(&wo, &r)) {
		fprintf(stderr, "kmm: FAIL: %lu corrupted pages\n", r.corrupt_pages);
		ret = 1;
	}
	if (kmm_page_alloc_validate() || kmm_vmalloc_validate()) {
		fprintf(stderr, "kmm: FAIL: validation\n");
		ret = 1;
	}
	printf("\n==> /proc/vmallocinfo (after, %lu areas held; first lines) <==\n",
	       r.held_vareas);
	print_report_head(kmm_report_vmallocinfo, 8);
	printf("\n==> /proc/buddyinfo (after, %lu blocks held) <==\n", r.held_blocks);
	print_report(kmm_report_buddyinfo);
	printf("\n==> /proc/pagetypeinfo (after, %lu blocks held) <==\n", r.held_blocks);
	print_report(kmm_report_pagetypeinfo);
	if (map_prefix) {
		if (map_write(map_prefix))
			ret = 1;
		else
			printf("\n==> pictures <==\n%s.svg and %s.html (kmm map: pageblocks, pages, the vmalloc space)\n",
			       map_prefix, map_prefix);
	}

	if (workload_release(&r)) {
		fprintf(stderr, "kmm: FAIL: %lu corrupted pages on release\n",
			r.corrupt_pages);
		ret = 1;
	}
	/* User memory, remap_vmalloc_range, alloc_contig_range and CMA. */
	{
		struct contig_phase_opts co = { .rounds = 200, .seed = wo.seed };

		kmm_bind_cpu(0);
		if (contig_phase_run(&co, &cr)) {
			fprintf(stderr, "kmm: FAIL: user memory / contiguous allocation: %lu held pages changed, %lu user pages and %lu remapped words lost their bytes\n",
				cr.corrupt, cr.user_bad, cr.vmalloc_bad);
			ret = 1;
		}
		kmm_bind_cpu(-1);
	}
	kmm_vm_unmap_aliases();	/* lazily freed areas give back nothing, but purge */
	kmm_drain_all_pages(NULL);
	free_end = kmm_nr_free_pages();
	if (kmm_page_alloc_validate() || kmm_vmalloc_validate()) {
		fprintf(stderr, "kmm: FAIL: page allocator validation after release\n");
		ret = 1;
	}
	/* Page-table pages of the vmalloc space stay, as in the kernel. */
	pt_pages = (uint64_t)atomic_load(&kmm_init_mm.pgtables_pages) - pt_boot;
	if (free_end + pt_pages != free_boot) {
		fprintf(stderr, "kmm: FAIL: %" PRIu64 " free pages at boot, %" PRIu64 " at the end (+%" PRIu64 " page-table pages)\n",
			free_boot, free_end, pt_pages);
		ret = 1;
	}

	printf("\n==> summary <==\n");
	printf("allocations      %lu (%.0f/s), frees %lu, failures %lu\n", r.allocs,
	       r.seconds > 0 ? (double)(r.allocs + r.frees) / r.seconds : 0.0, r.frees,
	       r.fails);
	printf("by order        ");
	for (i = 0; i < 11; i++)
		printf(" %u:%lu", i, r.by_order[i]);
	printf("\nby migratetype   Unmovable:%lu Movable:%lu Reclaimable:%lu\n",
	       r.by_mt[0], r.by_mt[1], r.by_mt[2]);
	kmm_vmalloc_get_stats(&vst);
	printf("vmalloc          %lu areas allocated, %lu freed; %lu purges, %lu pool hits\n",
	       r.vallocs, r.vfrees, vst.nr_purges, vst.nr_pool_hits);
	printf("vm_map_ram       %lu bursts on %u CPUs, %lu pages mapped and checked\n",
	       r.vmaps, kmm_machine.nr_cpus, r.vmap_pages);
	printf("pages verified   %lu (corrupt: %lu)\n", r.verified_pages, r.corrupt_pages);
	printf("user memory      %lu anonymous pages and a remapped vmalloc_user() buffer checked; %lu pages migrated\n",
	       cr.user_pages, cr.migrated);
	printf("contiguous       alloc_contig_range %lu ok, %lu busy; cma_alloc %lu ok, %lu failed%s\n",
	       cr.contig_ok, cr.contig_busy, cr.cma_ok, cr.cma_fail,
	       kmm_cma_area_count() ? "" : " (no cma= area)");
	printf("free pages       %" PRIu64 " at boot, %" PRIu64 " after release and drain (+%" PRIu64 " page-table pages kept)\n",
	       free_boot, free_end, pt_pages);
	for (i = 0; i < KMM_NR_STAT_ITEMS; i++)
		printf("%-24s %lu\n", kmm_stat_names[i], kmm_stat_read(i));
	printf("elapsed          %.3f s\n", r.seconds);
	printf("result           %s\n", ret ? "FAIL" : "OK");
	kmm_shutdown();
	return ret;
}

/* ---- info -------------------------------------------------------------- */

/*
 * "cma": each area as the kernel's debugfs (/sys/kernel/debug/cma/NAME/:
 * base_pfn, count, used, maxchunk, order_per_bit) and sysfs
 * (/sys/kernel/mm/cma/NAME/alloc_pages_success, ...) show it, one
 * "file: value" line each.
 */
static size_t report_cma(char *buf, size_t size)
{
	size_t n = 0;
	unsigned i, nr = kmm_cma_area_count();

#define CMA_OUT(...) \
	do { \
		int w_ = snprintf(buf ? buf + n : NULL, buf && n < size ? size - n : 0, __VA_ARGS__); \
		if (w_ > 0) \
			n += (size_t)w_; \
	} while (0)
	if (!nr)
		CMA_OUT("no CMA areas (boot with cma=SIZE)\n");
	for (i = 0; i < nr; i++) {
		struct kmm_cma *cma = kmm_cma_area(i);
		struct kmm_cma_stats st;

		kmm_cma_get_stats(cma, &st);
		CMA_OUT("%s==> cma/%s <==\n", i ? "\n" : "", kmm_cma_get_name(cma));
		CMA_OUT("base_pfn: %#llx\ncount: %lu\nused: %lu\nmaxchunk: %lu\norder_per_bit: %u\n",
			(unsigned long long)st.base_pfn, st.count, st.used, st.maxchunk,
			st.order_per_bit);
		CMA_OUT("alloc_pages_success: %lu\nalloc_pages_fail: %lu\nrelease_pages_success: %lu\n",
			st.alloc_pages_success, st.alloc_pages_fail, st.release_pages_success);
	}
#undef CMA_OUT
	return n;
}

static const struct {
	const char *name, *path;
	size_t (*fn)(char *, size_t);
} reports[] = {
	{ "buddyinfo", "/proc/buddyinfo", kmm_report_buddyinfo },
	{ "pagetypeinfo", "/proc/pagetypeinfo", kmm_report_pagetypeinfo },
	{ "zoneinfo", "/proc/zoneinfo", kmm_report_zoneinfo },
	{ "meminfo", "/proc/meminfo", kmm_report_meminfo },
	{ "vmallocinfo", "/proc/vmallocinfo", kmm_report_vmallocinfo },
	{ "cma", "debugfs cma/ and sysfs mm/cma/", report_cma },
};

static void info_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kmm info [--boot \"PARAMS\"] [--workload] [--seed N] REPORT...\n\n"
		   "Boot a machine and print /proc reports in the kernel's formats.\n"
		   "With --workload, first run a short mixed workload and keep a\n"
		   "quarter of its blocks allocated.  REPORT is one of:");
	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++)
		fprintf(f, " %s", reports[i].name);
	fprintf(f, " (default: all)\n");
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "boot", required_argument, NULL, 'b' },
		{ "workload", no_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct workload_opts wo = { .steps = 20000, .keep_percent = 25, .seed = 1 };
	struct workload_result r;
	int c, wl = 0, ret = 0, i, first;
	size_t k;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:wS:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': boot_cmdline = optarg; break;
		case 'w': wl = 1; break;
		case 'S': wo.seed = strtoull(optarg, NULL, 0); break;
		case 'h': info_usage(stdout); return 0;
		default: info_usage(stderr); return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		for (k = 0; k < sizeof(reports) / sizeof(reports[0]); k++)
			if (!strcmp(argv[i], reports[k].name))
				break;
		if (k == sizeof(reports) / sizeof(reports[0])) {
			fprintf(stderr, "kmm info: unknown report '%s'\n", argv[i]);
			info_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (do_boot())
		return 1;
	if (wl && workload_run(&wo, &r))
		ret = 1;
	first = 1;
	for (k = 0; k < sizeof(reports) / sizeof(reports[0]); k++) {
		int want = optind == argc;

		for (i = optind; i < argc; i++)
			if (!strcmp(argv[i], reports[k].name))
				want = 1;
		if (!want)
			continue;
		if (optind != argc - 1) {
			printf("%s==> %s <==\n", first ? "" : "\n", reports[k].path);
			first = 0;
		}
		print_report(reports[k].fn);
	}
	if (wl && workload_release(&r))
		ret = 1;
	kmm_shutdown();
	return ret;
}

/* ---- bench ------------------------------------------------------------- */

static int cmd_bench(int argc, char **argv)
{
#ifdef KMM_HAVE_BENCH
	return kmm_bench_main(argc, argv);
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "kmm bench: this kmm was built without bench/\n");
	return 1;
#endif
}

/* ---- main -------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "run", cmd_run, "the main job: mixed workload, checked bytes, reports" },
	{ "info", cmd_info, "print /proc reports (buddyinfo ... vmallocinfo, cma)" },
	{ "replay", kmm_replay_main, "replay a kernel's ftrace capture (vmalloc and page events)" },
	{ "bench", cmd_bench, "run the benchmarks and print kmm vs baseline ratios" },
	{ "map", kmm_map_main, "draw memory and the vmalloc space as SVG/HTML (--svg, --html)" },
	{ "test-vmalloc", kmm_test_vmalloc_main, "the kernel's vmalloc test module (lib/test_vmalloc.c)" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kmm COMMAND [OPTIONS]   (kmm COMMAND --help for more)\n\n"
		   "kmm: the Linux kernel's memory-mapping subsystem in userspace, on\n"
		   "real memory.  Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "kmm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
