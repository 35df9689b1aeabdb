/* SPDX-License-Identifier: MIT */
/*
 * bench_common.c - the helpers every benchmark shares (bench_common.h):
 * clock calibration, sample sorting and percentiles, host facts and load,
 * table number formats, and the summary table of headline rows.
 *
 * The summary: a fixed array of BENCH_SUMMARY_MAX rows under one mutex,
 * filled by each benchmark as it prints its own tables (the very figures
 * those tables print, so every ratio of the summary is one of the same
 * run), printed and reset by kmm_bench_run().  The ratio is computed here
 * from the two figures, in the direction the row says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <kmm/kmm.h>

#include "bench_common.h"

/* ---- the clock ------------------------------------------------------------ */

double bench_ticks_per_ns = 1.0;
uint64_t bench_tick_overhead;

uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_clock_calibrate(bool quick)
{
	uint64_t wait = quick ? 5000000ULL : 20000000ULL, n0, n1, t0, t1;
	/* Static: 32 KiB is a lot of stack for a benchmark's small threads. */
	static uint64_t d[4096];
	size_t i;

	n0 = bench_mono_ns();
	t0 = bench_tick();
	do
		n1 = bench_mono_ns();
	while (n1 - n0 < wait);
	t1 = bench_tick();
	bench_ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
	if (!(bench_ticks_per_ns > 0))
		bench_ticks_per_ns = 1.0;
	/* The median, not the mean: an interrupt between two reads must not
	 * inflate what is subtracted from every timing. */
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		uint64_t a = bench_tick(), b = bench_tick();

		d[i] = b - a;
	}
	qsort(d, sizeof(d) / sizeof(d[0]), sizeof(d[0]), cmp_u64);
	bench_tick_overhead = d[sizeof(d) / sizeof(d[0]) / 2];
}

double bench_ticks_to_ns(double ticks)
{
	return ticks / bench_ticks_per_ns;
}

uint64_t bench_slice_budget_ticks(double seconds, unsigned slices)
{
	return (uint64_t)(seconds / slices * 1e9 * bench_ticks_per_ns);
}

void bench_print_clock_line(FILE *o)
{
	fprintf(o, "clock:  %s, %.3f ticks/ns, clock-pair overhead %.1f ns (subtracted)\n",
		BENCH_CLOCK_NAME, bench_ticks_per_ns,
		bench_ticks_to_ns((double)bench_tick_overhead));
}

/* ---- samples -------------------------------------------------------------- */

void *bench_mem(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void bench_radix_sort_u32(uint32_t *a, uint32_t *tmp, size_t n)
{
	unsigned shift;

	for (shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 }, i;

		for (i = 0; i < n; i++)
			count[((a[i] >> shift) & 0xff) + 1]++;
		for (i = 1; i < 257; i++)
			count[i] += count[i - 1];
		for (i = 0; i < n; i++)
			tmp[count[(a[i] >> shift) & 0xff]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
}

double bench_percentile_ns(const uint32_t *sorted, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	/* Rounded up, with a margin for p * n landing just above a whole
	 * number in floating point (0.99 * 1000 = 990.0000000000001). */
	k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return bench_ticks_to_ns((double)sorted[k - 1]);
}

void *bench_array_push(void **base, size_t *n, size_t *cap, size_t elem)
{
	char *slot;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		void *grown = realloc(*base, nc * elem);

		if (!grown)
			return NULL;
		*base = grown;
		*cap = nc;
	}
	slot = (char *)*base + *n * elem;
	memset(slot, 0, elem);
	(*n)++;
	return slot;
}

/* ---- the host and the machine --------------------------------------------- */

unsigned bench_host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

uint64_t bench_thread_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

void bench_pin_to_host_cpu(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* The first "model name" of /proc/cpuinfo into @model, if there is one. */
static void host_cpu_model(char *model, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			c++;
			while (*c == ' ')
				c++;
			c[strcspn(c, "\n")] = 0;
			snprintf(model, len, "%s", c);
			break;
		}
	}
	fclose(f);
}

void bench_print_host_line(FILE *o)
{
	char model[128] = "unknown", load[64];
	struct utsname u;
	FILE *f;

	host_cpu_model(model, sizeof(model));
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	f = fopen("/proc/loadavg", "r");
	if (!f || !fgets(load, sizeof(load), f))
		snprintf(load, sizeof(load), "?");
	load[strcspn(load, " \n")] = 0;	/* the 1-minute figure */
	if (f)
		fclose(f);
	fprintf(o, "host:   %u CPUs (nproc), %s, Linux %s, glibc %s; load average %s",
		bench_host_cpus(), model, u.release, gnu_get_libc_version(), load);
}

const char *bench_kmm_mode_name(void)
{
	switch (kmm_machine.params.mode) {
	case KMM_MODE_SHADOW:
		return "shadow";
	case KMM_MODE_STRICT:
		return "strict";
	default:
		return "real";
	}
}

int bench_boot_unless_booted(FILE *out, const char *boot, bool *booted_here)
{
	int err;

	*booted_here = false;
	if (kmm_booted())
		return 0;
	err = kmm_boot(boot);
	if (err) {
		fprintf(out, "bench: kmm_boot(\"%s\") failed: %d\n", boot, err);
		return -1;
	}
	*booted_here = true;
	return 0;
}

void bench_host_busy_read(struct bench_host_busy *h)
{
	unsigned long long v[8] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");

	memset(h, 0, sizeof(*h));
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8 &&
		    hz > 0)
			/* user nice system [idle] [iowait] irq softirq steal */
			h->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
				    (double)hz;
		fclose(f);
	}
	if (!getrusage(RUSAGE_SELF, &ru))
		h->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
			    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	h->wall_s = (double)bench_mono_ns() * 1e-9;
}

bool bench_host_others(const struct bench_host_busy *h0,
		       const struct bench_host_busy *h1,
		       struct bench_host_others *others)
{
	double cpu;

	if (!(h1->wall_s > h0->wall_s))
		return false;
	cpu = (h1->busy_s - h0->busy_s) - (h1->self_s - h0->self_s);
	others->wall_s = h1->wall_s - h0->wall_s;
	/* Ticks of /proc/stat against our exact rusage: a quiet host can
	 * come out slightly negative. */
	others->cpu_s = cpu > 0 ? cpu : 0.0;
	others->pct = cpu > 0 ? 100 * cpu / others->wall_s / bench_host_cpus() : 0.0;
	return true;
}

/* ---- output ----------------------------------------------------------------- */

const char *bench_fmt_ns(char *buf, double v)
{
	if (!(v > 0))
		snprintf(buf, 16, "%8s", "-");
	else
		snprintf(buf, 16, v < 1000 ? "%8.1f" : "%8.0f", v);
	return buf;
}

double bench_ratio(double base, double kmm)
{
	return kmm > 0 && base > 0 ? base / kmm : 0;
}

void bench_cbar_init(struct bench_cbar *b, unsigned n)
{
	pthread_mutex_init(&b->m, NULL);
	pthread_cond_init(&b->c, NULL);
	b->n = n;
	b->count = b->gen = 0;
}

void bench_cbar_destroy(struct bench_cbar *b)
{
	pthread_cond_destroy(&b->c);
	pthread_mutex_destroy(&b->m);
}

static void cbar_release_locked(struct bench_cbar *b)
{
	b->count = 0;
	b->gen++;
	pthread_cond_broadcast(&b->c);
}

void bench_cbar_wait(struct bench_cbar *b)
{
	unsigned g;

	pthread_mutex_lock(&b->m);
	g = b->gen;
	if (++b->count >= b->n)
		cbar_release_locked(b);
	else
		while (g == b->gen)
			pthread_cond_wait(&b->c, &b->m);
	pthread_mutex_unlock(&b->m);
}

void bench_cbar_set_parties(struct bench_cbar *b, unsigned n)
{
	pthread_mutex_lock(&b->m);
	b->n = n;
	if (b->count && b->count >= n)
		cbar_release_locked(b);
	pthread_mutex_unlock(&b->m);
}

uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- the summary ------------------------------------------------------------ */

struct summary_row {
	char bench[16], op[64], unit[12], base_name[24];
	double kmm, base;
	enum bench_ratio_dir dir;
};

static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct summary_row rows[BENCH_SUMMARY_MAX];
} summary = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool summary_figure_ok(double v)
{
	return isfinite(v) && v > 0;
}

int bench_summary_add(const char *bench, const char *op, double kmm, double base,
		      const char *unit, const char *base_name,
		      enum bench_ratio_dir dir)
{
	struct summary_row *r;
	int ret = 0;

	if (!bench || !op || !unit || !base_name || !summary_figure_ok(kmm) ||
	    !summary_figure_ok(base) ||
	    (dir != BENCH_RATIO_BASE_OVER_KMM && dir != BENCH_RATIO_KMM_OVER_BASE))
		return -EINVAL;
	pthread_mutex_lock(&summary.lock);
	if (summary.n == BENCH_SUMMARY_MAX) {
		ret = -ENOSPC;
	} else {
		r = &summary.rows[summary.n++];
		snprintf(r->bench, sizeof(r->bench), "%s", bench);
		snprintf(r->op, sizeof(r->op), "%s", op);
		snprintf(r->unit, sizeof(r->unit), "%s", unit);
		snprintf(r->base_name, sizeof(r->base_name), "%s", base_name);
		r->kmm = kmm;
		r->base = base;
		r->dir = dir;
	}
	pthread_mutex_unlock(&summary.lock);
	return ret;
}

void kmm_bench_summary_reset(void)
{
	pthread_mutex_lock(&summary.lock);
	summary.n = 0;
	pthread_mutex_unlock(&summary.lock);
}

unsigned kmm_bench_summary_rows(void)
{
	unsigned n;

	pthread_mutex_lock(&summary.lock);
	n = summary.n;
	pthread_mutex_unlock(&summary.lock);
	return n;
}

static double summary_ratio(const struct summary_row *r)
{
	return r->dir == BENCH_RATIO_KMM_OVER_BASE ? r->kmm / r->base : r->base / r->kmm;
}

static const char *summary_dir_name(enum bench_ratio_dir dir)
{
	return dir == BENCH_RATIO_KMM_OVER_BASE ? "kmm/base" : "base/kmm";
}

/* A figure as the summary prints it: 4 significant digits or so, never
 * an exponent above 0.001 (ns/op from 10 to 10^7, ms/MiB from 10^-3 to 10). */
static void summary_fmt(char *buf, size_t len, double v)
{
	snprintf(buf, len, v >= 1000 ? "%.0f" : v >= 100 ? "%.1f" : v >= 1 ? "%.2f" :
			   v >= 0.001 ? "%.4f" : "%.2g", v);
}

/* A ratio: two decimals, or two significant digits below 0.01 (a free
 * range's alloc_contig_range is a small fraction of memcpy's time). */
static void summary_fmt_ratio(char *buf, size_t len, double v)
{
	snprintf(buf, len, v >= 0.01 ? "%.2f" : "%.2g", v);
}

static int summary_width(int w, const char *s)
{
	int l = (int)strlen(s);

	return l > w ? l : w;
}

void kmm_bench_summary_print(FILE *out, bool csv)
{
	static const char *const head[] = { "benchmark", "operation", "unit", "kmm",
					     "baseline", "base", "ratio", "ratio is" };
	int w[8], c;
	char k[32], b[32], x[32];
	unsigned i;

	pthread_mutex_lock(&summary.lock);
	if (!summary.n)
		goto unlock;
	for (c = 0; c < 8; c++)
		w[c] = (int)strlen(head[c]);
	for (i = 0; i < summary.n; i++) {
		const struct summary_row *r = &summary.rows[i];

		summary_fmt(k, sizeof(k), r->kmm);
		summary_fmt(b, sizeof(b), r->base);
		summary_fmt_ratio(x, sizeof(x), summary_ratio(r));
		w[0] = summary_width(w[0], r->bench);
		w[1] = summary_width(w[1], r->op);
		w[2] = summary_width(w[2], r->unit);
		w[3] = summary_width(w[3], k);
		w[4] = summary_width(w[4], r->base_name);
		w[5] = summary_width(w[5], b);
		w[6] = summary_width(w[6], x);
		w[7] = summary_width(w[7], summary_dir_name(r->dir));
	}
	fprintf(out, "\n==> summary <==\n"
		     "Every figure below is one of the tables above, both figures of a row from\n"
		     "the same run; ratio is base/kmm (> 1: kmm is faster) or kmm/base (> 1: kmm\n"
		     "is slower), each benchmark's own convention.\n");
	fprintf(out, "%-*s  %-*s  %-*s  %*s  %-*s  %*s  %*s  %-*s\n", w[0], head[0], w[1],
		head[1], w[2], head[2], w[3], head[3], w[4], head[4], w[5], head[5], w[6],
		head[6], w[7], head[7]);
	for (i = 0; i < summary.n; i++) {
		const struct summary_row *r = &summary.rows[i];

		summary_fmt(k, sizeof(k), r->kmm);
		summary_fmt(b, sizeof(b), r->base);
		summary_fmt_ratio(x, sizeof(x), summary_ratio(r));
		fprintf(out, "%-*s  %-*s  %-*s  %*s  %-*s  %*s  %*s  %-*s\n", w[0], r->bench,
			w[1], r->op, w[2], r->unit, w[3], k, w[4], r->base_name, w[5], b,
			w[6], x, w[7], summary_dir_name(r->dir));
	}
	if (csv) {
		fprintf(out, "\nbenchmark,operation,unit,kmm,baseline,baseline_value,ratio,ratio_is\n");
		for (i = 0; i < summary.n; i++) {
			const struct summary_row *r = &summary.rows[i];

			fprintf(out, "%s,\"%s\",%s,%.6g,\"%s\",%.6g,%.6g,%s\n", r->bench, r->op,
				r->unit, r->kmm, r->base_name, r->base, summary_ratio(r),
				summary_dir_name(r->dir));
		}
	}
unlock:
	pthread_mutex_unlock(&summary.lock);
}
