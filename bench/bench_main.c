/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c - `kmm bench [page_alloc|vmalloc|vm_map_ram|contig|all]
 * [options]`: the option parser and the dispatch shared by the kmm program
 * and the standalone drivers (bench_page_alloc, bench_vmalloc,
 * bench_vm_map_ram, bench_contig), the summary table printed after the
 * benchmarks (bench_common.c keeps its rows), and the progress bar.
 *
 * The progress bar (tools/progress.h, on stderr) is driven by a ticker
 * thread that alone calls progress_*(): kmm_bench_run() only publishes,
 * under the ticker's mutex, which benchmark runs; the ticker restarts the
 * bar with that name and redraws it four times a second.  It is not
 * started when the tables themselves go to a terminal (the bar would land
 * inside them); progress.c itself draws only on a terminal, after a
 * second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "../tools/progress.h"

static const struct {
	const char *name;
	int (*run)(FILE *out, const struct kmm_bench_opts *opts);
	const char *what;
} benches[] = {
	{ "page_alloc", kmm_bench_page_alloc,
	  "order-0/3 alloc+free vs malloc and mmap (issue 2), ~20-30 s" },
	{ "vmalloc", kmm_bench_vmalloc,
	  "test_vmalloc shapes vs mmap(MAP_POPULATE), live-area scaling (issue 3), ~20-40 s" },
	{ "vm_map_ram", kmm_bench_vm_map_ram,
	  "vm_map_ram vs vmap of 1-64 pages, 1 vs 2 threads scaling (issue 4), ~10-15 s" },
	{ "contig", kmm_bench_contig,
	  "alloc_contig_range of 64 MiB, free and all user pages (migrated), vs memcpy" },
};

#define NR_BENCHES (sizeof(benches) / sizeof(benches[0]))

void kmm_bench_opts_init(struct kmm_bench_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static void usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f,
		"usage: %s [page_alloc|vmalloc|vm_map_ram|contig|all] [--quick] [--csv]\n"
		"          [--boot CMDLINE] [--shadow-boot CMDLINE] [--threads N[,N...]]\n"
		"          [--iterations N] [--seconds S]\n"
		"Benchmarks, each against a baseline in the same run (default: all), then\n"
		"one summary table of their headline rows (\"==> summary <==\"):\n",
		prog);
	for (i = 0; i < NR_BENCHES; i++)
		fprintf(f, "  %-10s  %s\n", benches[i].name, benches[i].what);
	fprintf(f,
		"  --quick         tiny budgets (CI smoke test; numbers are noisy)\n"
		"  --csv           also print every row as CSV\n"
		"  --boot STR      kmm_boot() command line (default \"mem=1G\"; vmalloc:\n"
		"                  the machine of part 1; vm_map_ram: the real-mode machine,\n"
		"                  default \"mem=1G nr_cpus=2\"; contig: default\n"
		"                  \"mem=1G nr_cpus=1\"), e.g. --boot \"mem=1G kmm.mode=shadow\"\n"
		"  --shadow-boot STR  vmalloc: the shadow machine of part 2 (default\n"
		"                  \"kmm.mode=shadow mem=8G vmalloc=32T nr_cpus=2\"); vm_map_ram:\n"
		"                  its shadow machine (default \"kmm.mode=shadow mem=1G nr_cpus=2\")\n"
		"  --threads LIST  page_alloc: thread counts to run (default 1,2); vm_map_ram:\n"
		"                  its thread part (1 always runs too), e.g. --threads 2,4\n"
		"  --iterations N  most ops per thread per measurement (page_alloc default\n"
		"                  4000000; vmalloc: kmm ops, default 1000000; vm_map_ram:\n"
		"                  pairs, default 1000000, and ops per thread, default 4000000;\n"
		"                  contig: repetitions, default 10 and 5, at most 200)\n"
		"  --seconds S     time budget per measurement (page_alloc default 0.25;\n"
		"                  vmalloc: kmm's share, default 0.5; vm_map_ram: vm_map_ram's\n"
		"                  share, and each thread count's, default 0.4)\n");
}

/* "--name VALUE" or "--name=VALUE"; advances *i past a separate value. */
static const char *opt_value(const char *name, int argc, char **argv, int *i)
{
	size_t l = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, l))
		return NULL;
	if (a[l] == '=')
		return a + l + 1;
	if (a[l] || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int kmm_bench_parse_args(struct kmm_bench_opts *o, int argc, char **argv,
			 FILE *err)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : "bench";
	const char *v;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--csv")) {
			o->csv = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			/* Asked for: the usage is the output (stdout, exit 0). */
			usage(stdout, prog);
			return 1;
		} else if ((v = opt_value("--boot", argc, argv, &i))) {
			o->boot = v;
		} else if ((v = opt_value("--shadow-boot", argc, argv, &i))) {
			o->shadow_boot = v;
		} else if ((v = opt_value("--iterations", argc, argv, &i))) {
			errno = 0;
			o->iterations = strtoul(v, &end, 0);
			if (errno || *end || !o->iterations)
				goto bad;
		} else if ((v = opt_value("--seconds", argc, argv, &i))) {
			errno = 0;
			o->seconds = strtod(v, &end);
			if (errno || *end || !(o->seconds > 0) || o->seconds > 60)
				goto bad;
		} else if ((v = opt_value("--threads", argc, argv, &i))) {
			o->nr_threads = 0;
			while (*v) {
				unsigned long n;

				errno = 0;
				n = strtoul(v, &end, 10);
				if (errno || end == v || n < 1 ||
				    n > KMM_BENCH_MAX_THREADS ||
				    o->nr_threads == KMM_BENCH_MAX_THREADS ||
				    (*end && *end != ','))
					goto bad;
				o->threads[o->nr_threads++] = (unsigned)n;
				v = *end ? end + 1 : end;
			}
			if (!o->nr_threads)
				goto bad;
		} else {
			goto bad;
		}
		continue;
bad:
		fprintf(err, "%s: bad option or value: %s\n", prog, argv[i]);
		usage(err, prog);
		return -1;
	}
	return 0;
}

/* ---- the progress ticker --------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* on CLOCK_MONOTONIC; while running */
	pthread_t tid;
	const char *label;	/* the benchmark running; NULL: none yet */
	unsigned done, total;	/* benchmarks finished, selected */
	unsigned gen;		/* bumped by every ticker_set() */
	bool stop, running;
} ticker = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *ticker_thread(void *arg)
{
	unsigned seen = 0;

	(void)arg;
	pthread_mutex_lock(&ticker.lock);
	while (!ticker.stop) {
		struct timespec ts;

		if (ticker.gen != seen && ticker.label) {
			seen = ticker.gen;
			progress_done();
			progress_start(ticker.label, ticker.total);
		}
		if (ticker.label)
			progress_update(ticker.done);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 250000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ticker.wake, &ticker.lock, &ts);
	}
	progress_done();
	pthread_mutex_unlock(&ticker.lock);
	return NULL;
}

/* Start the ticker unless @out is a terminal (or it cannot start). */
static void ticker_start(FILE *out, unsigned total)
{
	int fd = fileno(out);
	pthread_condattr_t ca;

	ticker.label = NULL;
	ticker.done = 0;
	ticker.total = total;
	ticker.stop = false;
	ticker.running = false;
	if (fd >= 0 && isatty(fd))
		return;
	if (pthread_condattr_init(&ca))
		return;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&ticker.wake, &ca)) {
		pthread_condattr_destroy(&ca);
		return;
	}
	pthread_condattr_destroy(&ca);
	ticker.running = !pthread_create(&ticker.tid, NULL, ticker_thread, NULL);
	if (!ticker.running)
		pthread_cond_destroy(&ticker.wake);
}

static void ticker_set(const char *label, unsigned done)
{
	pthread_mutex_lock(&ticker.lock);
	ticker.label = label;
	ticker.done = done;
	ticker.gen++;
	pthread_cond_signal(&ticker.wake);
	pthread_mutex_unlock(&ticker.lock);
}

static void ticker_stop(void)
{
	if (!ticker.running)
		return;
	pthread_mutex_lock(&ticker.lock);
	ticker.stop = true;
	pthread_cond_signal(&ticker.wake);
	pthread_mutex_unlock(&ticker.lock);
	pthread_join(ticker.tid, NULL);
	pthread_cond_destroy(&ticker.wake);
	ticker.running = false;
}

/* ---- the run ------------------------------------------------------------------ */

int kmm_bench_run(const char *which, FILE *out, const struct kmm_bench_opts *opts)
{
	bool all = !which || !strcmp(which, "all");
	unsigned selected = 0;
	int ret = 0, ran = 0;
	size_t i;

	for (i = 0; i < NR_BENCHES; i++)
		if (all || !strcmp(which, benches[i].name))
			selected++;
	if (!selected) {
		fprintf(out, "bench: no benchmark named \"%s\" (page_alloc, vmalloc, vm_map_ram, contig, all)\n",
			which);
		return -2;
	}
	kmm_bench_summary_reset();
	ticker_start(out, selected);
	for (i = 0; i < NR_BENCHES; i++) {
		if (!all && strcmp(which, benches[i].name))
			continue;
		if (ticker.running)
			ticker_set(benches[i].name, (unsigned)ran);
		if (ran++)
			fprintf(out, "\n");
		if (benches[i].run(out, opts))
			ret = -1;
		fflush(out);
	}
	ticker_stop();
	kmm_bench_summary_print(out, opts && opts->csv);
	fflush(out);
	return ret;
}

int kmm_bench_main_default(const char *dflt, int argc, char **argv)
{
	struct kmm_bench_opts o;
	const char *which = dflt;
	int r;

	/* An optional first word names the benchmark. */
	if (argc > 1 && argv[1] && argv[1][0] != '-') {
		which = argv[1];
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	if (which && strcmp(which, "all")) {
		size_t i;

		for (i = 0; i < NR_BENCHES && strcmp(which, benches[i].name); i++)
			;
		if (i == NR_BENCHES) {
			fprintf(stderr, "%s: no benchmark named \"%s\"\n",
				argv[0] ? argv[0] : "bench", which);
			usage(stderr, argv[0] ? argv[0] : "bench");
			return 2;
		}
	}
	kmm_bench_opts_init(&o);
	r = kmm_bench_parse_args(&o, argc, argv, stderr);
	if (r > 0)
		return 0;
	if (r < 0)
		return 2;
	r = kmm_bench_run(which, stdout, &o);
	return r == -2 ? 2 : r ? 1 : 0;
}

int kmm_bench_main(int argc, char **argv)
{
	return kmm_bench_main_default("all", argc, argv);
}
